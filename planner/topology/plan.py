"""A grid plan to check: its thresholds, and loading and validating it from a store."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely

from planner import schema
from planner.errors import PlannerError
from planner.geometry import blank
from planner.settings import settings

if TYPE_CHECKING:
    from planner.store import Store

__all__ = ["RULES", "GridPlan", "Thresholds", "load_plan"]

#: Fix rules: give a piece to the neighbour sharing the longest border, or to the
#: neighbour with the fewest households.
RULES = ("longest_border", "fewer_households")


@dataclass(frozen=True)
class Thresholds:
    """Tolerances and limits of the checks, for one run.

    Each field left out is read from ``planner.settings.settings`` when the object is
    made: the tolerances from ``settings.topology``, the household range from
    ``settings.grid``. It stays frozen so that one check or fix run sees one set of
    thresholds throughout.

    Attributes
    ----------
    area_tolerance_m2, width_tolerance_m
        Overlaps, gaps and outside pieces smaller than this, or on average narrower
        (2·area/perimeter), are drawing noise or coordinate rounding, not findings.
    sliver_area_m2
        A grid piece smaller than this is a sliver (碎片).
    sliver_width_m
        A grid piece nowhere wider than this is a sliver.
    split_min_m2, split_min_share
        A building is cut when a second grid holds at least this area and share of it.
    edge_min_m2, edge_min_share
        An edge area lies in more than one grid when another grid holds this much of it.
    feature_tolerance_m
        A boundary segment within this distance of a road, wall, water or railway
        follows a physical feature.
    feature_segment_m
        Boundaries are measured in segments of at most this length.
    min_households, max_households
        The household range of a grid (常住户 300-500).
    """

    area_tolerance_m2: float = field(default_factory=lambda: settings.topology.area_tolerance_m2)
    width_tolerance_m: float = field(default_factory=lambda: settings.topology.width_tolerance_m)
    sliver_area_m2: float = field(default_factory=lambda: settings.topology.sliver_area_m2)
    sliver_width_m: float = field(default_factory=lambda: settings.topology.sliver_width_m)
    split_min_m2: float = field(default_factory=lambda: settings.topology.split_min_m2)
    split_min_share: float = field(default_factory=lambda: settings.topology.split_min_share)
    edge_min_m2: float = field(default_factory=lambda: settings.topology.edge_min_m2)
    edge_min_share: float = field(default_factory=lambda: settings.topology.edge_min_share)
    feature_tolerance_m: float = field(
        default_factory=lambda: settings.topology.feature_tolerance_m
    )
    feature_segment_m: float = field(default_factory=lambda: settings.topology.feature_segment_m)
    min_households: int = field(default_factory=lambda: settings.grid.min_households)
    max_households: int = field(default_factory=lambda: settings.grid.max_households)

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                msg = f"{f.name} must not be negative, got {getattr(self, f.name)}"
                raise PlannerError(msg)
        if self.min_households > self.max_households:
            msg = f"min_households {self.min_households} is above max {self.max_households}"
            raise PlannerError(msg)


@dataclass
class GridPlan:
    """A grid plan as a layer holds it, and what it is checked against, in one metric CRS.

    Attributes
    ----------
    grids
        The grids (``grid_code`` unique), with their other attributes.
    community
        The community boundary, or None if the store has none.
    buildings, edge_areas
        The layers (possibly empty).
    features
        Lines of roads, walls, water, railways and compound outlines.
    crs
        The metric CRS.
    layer, scenario
        Where the grids came from.
    others
        Rows of the layer belonging to other scenarios (kept as they are on write).
    roads, barriers, compounds
        The feature layers themselves (None: not loaded), for re-cutting grids that a
        fix pushes out of the household range along physical features.
    outlines
        With several communities: each community's polygon (a multipolygon), whose
        outlines are given, not drawn, like the whole area's (None: ``community``).
    """

    grids: gpd.GeoDataFrame
    community: shapely.Geometry | None
    buildings: gpd.GeoDataFrame
    edge_areas: gpd.GeoDataFrame
    features: np.ndarray
    crs: Any
    layer: str = "grids"
    scenario: str | None = None
    others: gpd.GeoDataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    barriers: gpd.GeoDataFrame | None = None
    compounds: gpd.GeoDataFrame | None = None
    outlines: shapely.Geometry | None = None


def load_plan(
    store: Store,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    features: tuple[str, ...] = ("roads", "barriers", "compounds"),
) -> GridPlan:
    """Read a grid layer and its context from ``store``, refusing what cannot be checked.

    Parameters
    ----------
    store
        The store.
    layer
        A polygon layer with ``grid_code`` (``grids`` or ``scenario_grids``).
    scenario
        Which plan of the layer; None = the current one (rows without a scenario, or
        the only scenario there is).
    features
        Layers whose lines count as physical features (compound outlines: their walls).

    Returns
    -------
    GridPlan
    """
    if layer not in schema.LAYERS:
        msg = f"unknown layer {layer!r}; grid layers: grids, scenario_grids"
        raise PlannerError(msg)
    if schema.LAYERS[layer].fields != schema.LAYERS["grids"].fields:
        msg = f"layer {layer!r} is not a grid layer (no grid_code); use grids or scenario_grids"
        raise PlannerError(msg)
    if not store.has(layer) or store.count(layer) == 0:
        msg = f"the store has no {layer!r} yet; run `planner grids` or import them"
        raise PlannerError(msg, source=str(store.path))
    crs = store.metric_crs
    grids = store.read(layer)
    chosen = _chosen_plan(grids, layer, scenario)
    others = None
    if not chosen.all():
        others = grids[~chosen]
        grids = grids[chosen]
    grids = grids.reset_index(drop=True)
    _validate_grids(grids, layer)
    community, outlines = None, None
    if store.has("community") and store.count("community"):
        comm = store.read_metric("community").geometry.to_numpy()
        community = shapely.make_valid(shapely.union_all(comm))
        if len(comm) > 1:
            outlines = shapely.multipolygons(shapely.get_parts(comm))
    lines = []
    layers = {}
    for name in ("roads", "barriers", "compounds", *features):
        if name in layers:
            continue
        frame = layers[name] = store.read_metric(name)
        if frame.empty or name not in features:
            continue
        geoms = frame.geometry.to_numpy()
        if frame.geom_type.isin(["Polygon", "MultiPolygon"]).any():
            geoms = shapely.boundary(geoms)
        lines.append(geoms)
    return GridPlan(
        grids=grids.to_crs(crs),
        community=community,
        buildings=store.read_metric("buildings"),
        edge_areas=store.read_metric("edge_areas"),
        features=np.concatenate(lines) if lines else np.empty(0, dtype=object),
        crs=crs,
        layer=layer,
        scenario=scenario,
        others=others,
        roads=layers["roads"],
        barriers=layers["barriers"],
        compounds=layers["compounds"],
        outlines=outlines,
    )


def _chosen_plan(grids: gpd.GeoDataFrame, layer: str, scenario: str | None) -> np.ndarray:
    """Rows of the plan asked for: ``scenario``, else those without one, else the only one."""
    if scenario is not None:
        chosen = (grids["scenario"] == scenario).to_numpy()
        if not chosen.any():
            found = sorted({str(s) for s in grids["scenario"].dropna()})
            msg = f"no grids of scenario {scenario!r} in {layer!r}; found: {found or 'none'}"
            raise PlannerError(msg)
        return chosen
    unnamed = blank(grids["scenario"])
    if unnamed.any():
        return unnamed
    names = grids["scenario"].unique()
    if len(names) > 1:
        msg = f"{layer!r} holds several plans ({', '.join(map(str, names))}); give `scenario`"
        raise PlannerError(msg)
    return np.ones(len(grids), dtype=bool)


def _validate_grids(grids: gpd.GeoDataFrame, layer: str) -> None:
    """Refuse grids without geometry, with broken or non-polygon geometry, or bad codes."""
    geoms = grids.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    bad = np.flatnonzero(missing)
    if len(bad):
        msg = f"{layer}: grid {grids['grid_code'].iloc[bad[0]]!r} has no geometry"
        raise PlannerError(msg)
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        reason = shapely.is_valid_reason(geoms[invalid[0]])
        codes = ", ".join(map(str, grids["grid_code"].iloc[invalid[:3]]))
        msg = f"{layer}: broken geometry in {len(invalid)} grid(s) ({codes}): {reason}"
        raise PlannerError(msg)
    types = set(shapely.get_type_id(geoms).tolist())
    if not types <= {3, 6}:
        msg = f"{layer}: grids must be polygons"
        raise PlannerError(msg)
    codes = grids["grid_code"]
    if blank(codes).any():
        msg = f"{layer}: some grids have no grid_code"
        raise PlannerError(msg)
    if codes.duplicated().any():
        dup = ", ".join(sorted(set(codes[codes.duplicated()].astype(str)))[:5])
        msg = f"{layer}: grid_code values are not unique: {dup}"
        raise PlannerError(msg)
