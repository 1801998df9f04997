"""Topology checks of a grid layer (网格拓扑检查) and their automatic fixes.

A grid plan must be seamless (无缝): grids do not overlap, leave no gap inside the
community, are each one piece, do not reach outside the community, never cut a
building, and every building and edge area (边缘地带) belongs to exactly one grid.
:func:`check` finds what breaks these rules in ANY grid layer (generated, imported
or hand-drawn); :func:`propose_fixes` computes repairs and :func:`apply_fixes`
writes them in one all-or-nothing write, recorded in the change log.

The checks are vectorised: one ``shapely.coverage_invalid_edges`` pass answers
"no overlap" for the whole layer and narrows any overlap search (and the full
overlay of the union) to the grids with bad edges; STRtree queries pair grids
with buildings and edge areas; the boundary share is measured once per shared
straight edge with numpy; no loop runs over pairs of grids.

The fixes work on the *arrangement* of the plan: every grid outline, the
community outline and the outlines of the buildings and edge areas concerned
are noded together and polygonised into faces, each face labelled with the grids
covering it. Relabelling faces (a gap to a neighbour, an overlap to one of its
grids, a cut building wholly to the grid holding most of it, an orphan piece to
its neighbour) and dissolving them per grid gives a plan that is an exact
coverage by construction. A grid the repairs push out of the household range
(say, a whole missing grid merged into one neighbour) is then re-cut with its
neighbours along roads, walls and building rows by the grid engine
(:mod:`planner.blocks`, :func:`planner.grids.plan_grids`), other grids keeping
their codes; :func:`apply_fixes` writes grids, their 四维测评 figures,
buildings, blocks and zones together, so every layer agrees.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from planner import config
from planner.assess import assess
from planner.crs import STORAGE_CRS
from planner.errors import PlannerError
from planner.progress import Progress, no_progress

if TYPE_CHECKING:
    from planner.store import Store

#: The kinds of finding, in report order (the JSON keys of ``planner check --json``).
KINDS = (
    "overlaps",
    "gaps",
    "multipart",
    "slivers",
    "outside_community",
    "split_buildings",
    "unassigned_buildings",
    "unassigned_edge_areas",
    "households_out_of_range",
)

#: Chinese names of the kinds (CLI table, findings layer).
KIND_ZH = {
    "overlaps": "网格重叠",
    "gaps": "网格空隙",
    "multipart": "网格不连续",
    "slivers": "碎片",
    "outside_community": "超出社区边界",
    "split_buildings": "楼栋被切分",
    "unassigned_buildings": "楼栋未入格",
    "unassigned_edge_areas": "边缘地带未入格或多格",
    "households_out_of_range": "户数超出范围",
}

#: Fix rules: give a piece to the neighbour sharing the longest border, or to the
#: neighbour with the fewest households.
RULES = ("longest_border", "fewer_households")

#: Snapping grid (metres) of the fix arrangement: removes near-coincident edges.
GRID_SIZE = 0.01

_FINDING_COLUMNS = ["kind", "grids", "size", "unit", "ref", "detail", "flagged"]


@dataclass(frozen=True)
class Thresholds:
    """Tolerances and limits of the checks (defaults from :mod:`planner.config`).

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

    area_tolerance_m2: float = config.TOPOLOGY_AREA_TOLERANCE_M2
    width_tolerance_m: float = config.TOPOLOGY_WIDTH_TOLERANCE_M
    sliver_area_m2: float = config.SLIVER_AREA_M2
    sliver_width_m: float = config.SLIVER_WIDTH_M
    split_min_m2: float = config.SPLIT_BUILDING_MIN_M2
    split_min_share: float = config.SPLIT_BUILDING_MIN_SHARE
    edge_min_m2: float = config.EDGE_SPLIT_MIN_M2
    edge_min_share: float = config.EDGE_SPLIT_MIN_SHARE
    feature_tolerance_m: float = config.FEATURE_TOLERANCE_M
    feature_segment_m: float = config.FEATURE_SEGMENT_M
    min_households: int = config.GRID_MIN_HOUSEHOLDS
    max_households: int = config.GRID_MAX_HOUSEHOLDS

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                msg = f"{f.name} must not be negative, got {getattr(self, f.name)}"
                raise PlannerError(msg)
        if self.min_households > self.max_households:
            msg = f"min_households {self.min_households} is above max {self.max_households}"
            raise PlannerError(msg)


# -- input -----------------------------------------------------------------------------


@dataclass
class Plan:
    """A grid plan and what it is checked against, all in one metric CRS.

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


def _blank(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def load_plan(
    store: Store,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    features: tuple[str, ...] = ("roads", "barriers", "compounds"),
) -> Plan:
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
    Plan
    """
    from planner import schema

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
    others = None
    blank = _blank(grids["scenario"])
    if scenario is not None:
        chosen = (grids["scenario"] == scenario).to_numpy()
        if not chosen.any():
            found = sorted({str(s) for s in grids["scenario"].dropna()})
            msg = f"no grids of scenario {scenario!r} in {layer!r}; found: {found or 'none'}"
            raise PlannerError(msg)
    elif blank.any():
        chosen = blank
    else:
        names = grids["scenario"].unique()
        if len(names) > 1:
            msg = f"{layer!r} holds several plans ({', '.join(map(str, names))}); give --scenario"
            raise PlannerError(msg)
        chosen = np.ones(len(grids), dtype=bool)
    if not chosen.all():
        others = grids[~chosen]
        grids = grids[chosen]
    grids = grids.reset_index(drop=True)
    _validate_grids(grids, layer)
    community = None
    if store.has("community") and store.count("community"):
        comm = store.read_metric("community").geometry.to_numpy()
        community = shapely.make_valid(shapely.union_all(comm))
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
    return Plan(
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
    )


def _validate_grids(grids: gpd.GeoDataFrame, layer: str) -> None:
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
    if _blank(codes).any():
        msg = f"{layer}: some grids have no grid_code"
        raise PlannerError(msg)
    if codes.duplicated().any():
        dup = ", ".join(sorted(set(codes[codes.duplicated()].astype(str)))[:5])
        msg = f"{layer}: grid_code values are not unique: {dup}"
        raise PlannerError(msg)


# -- findings ----------------------------------------------------------------------------


@dataclass
class Findings:
    """What a check found: one frame per kind, boundary shares per grid, totals.

    Attributes
    ----------
    frames
        Kind → GeoDataFrame (metric CRS) with ``grids`` (list of codes), ``size``,
        ``unit``, ``ref`` (building or edge id), ``detail``, ``flagged`` and the
        location as geometry.
    boundary
        Per grid: ``grid_code``, ``boundary_m`` (inside the community),
        ``on_features_m`` and ``share`` (``boundary_on_features``).
    households
        Households per grid recomputed from the buildings (majority of footprint).
    coverage_valid
        ``shapely.coverage_is_valid`` of the grids (no overlap, edges matched).
    crs, layer, scenario
        Where the grids came from.
    """

    frames: dict[str, gpd.GeoDataFrame]
    boundary: pd.DataFrame
    households: pd.Series
    coverage_valid: bool
    crs: Any
    layer: str = "grids"
    scenario: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def defects(self) -> int:
        """Findings that make the check fail (flagged households excepted)."""
        return int(sum((~f["flagged"]).sum() for f in self.frames.values()))

    @property
    def clean(self) -> bool:
        """True when no finding fails the check (exit status 0)."""
        return self.defects == 0

    def counts(self) -> dict[str, int]:
        """Number of findings per kind."""
        return {kind: len(self.frames[kind]) for kind in KINDS}

    def totals(self) -> dict[str, Any]:
        """Counts per kind, defects, flagged, and the boundary-on-features totals."""
        length = float(self.boundary["boundary_m"].sum())
        on = float(self.boundary["on_features_m"].sum())
        flagged = int(sum(f["flagged"].sum() for f in self.frames.values()))
        return {
            **self.counts(),
            "findings": int(sum(self.counts().values())),
            "defects": self.defects,
            "flagged": flagged,
            "grids": int(len(self.boundary)),
            "coverage_valid": bool(self.coverage_valid),
            "boundary_m": round(length, 1),
            "on_features_m": round(on, 1),
            "boundary_on_features": round(on / length, 4) if length else 1.0,
        }

    def to_frame(self) -> gpd.GeoDataFrame:
        """All findings as one frame for the ``findings`` layer (storage CRS)."""
        parts = [f for f in self.frames.values() if len(f)]
        if not parts:
            frame = gpd.GeoDataFrame(
                {c: [] for c in _FINDING_COLUMNS}, geometry=[], crs=self.crs
            ).to_crs(STORAGE_CRS)
        else:
            frame = pd.concat(parts, ignore_index=True).to_crs(STORAGE_CRS)
        frame = frame.assign(
            grids=frame["grids"].map(lambda g: ",".join(g)),
            layer=self.layer,
            scenario=self.scenario,
            kind_zh=frame["kind"].map(KIND_ZH),
        )
        frame["geometry"] = _polygonal(frame.geometry.to_numpy())
        return frame

    def to_json(self, *, geometry: bool = True) -> dict[str, Any]:
        """The report of ``planner check --json``: one list per kind, shares, totals."""
        out: dict[str, Any] = {
            "layer": self.layer,
            "scenario": self.scenario,
            "clean": self.clean,
            "exit_status": 0 if self.clean else 1,
        }
        for kind in KINDS:
            out[kind] = _records(self.frames[kind], geometry=geometry)
        out["boundary_on_features"] = [
            {
                "grid": str(r.grid_code),
                "boundary_m": round(float(r.boundary_m), 1),
                "on_features_m": round(float(r.on_features_m), 1),
                "share": round(float(r.share), 4),
            }
            for r in self.boundary.itertuples()
        ]
        out["totals"] = self.totals()
        out["notes"] = list(self.notes)
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per finding for a text table (kind, grids, size, where, detail)."""
        rows = []
        for kind in KINDS:
            for rec in _records(self.frames[kind], geometry=False):
                rows.append({"kind": kind, "kind_zh": KIND_ZH[kind], **rec})
        return rows


def _records(frame: gpd.GeoDataFrame, *, geometry: bool) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    lonlat = frame.to_crs(STORAGE_CRS).geometry.to_numpy()
    points = shapely.point_on_surface(lonlat)
    records = []
    for i, row in enumerate(frame.itertuples(index=False)):
        rec: dict[str, Any] = {
            "grids": list(row.grids),
            "size": round(float(row.size), 2),
            "unit": row.unit,
            "point": [
                round(float(shapely.get_x(points[i])), 7),
                round(float(shapely.get_y(points[i])), 7),
            ],
            "detail": row.detail,
        }
        if row.ref is not None:
            rec["ref"] = row.ref
        if row.flagged:
            rec["flagged"] = True
        if geometry:
            rec["geometry"] = json.loads(shapely.to_geojson(_rounded(lonlat[i])))
        records.append(rec)
    return records


def _rounded(geom: shapely.Geometry) -> shapely.Geometry:
    # 1e-7 degrees is about 1 cm: enough to show where, and keeps the JSON short.
    out = shapely.set_precision(geom, 1e-7)
    return geom if shapely.is_empty(out) else out


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry (collections from overlays drop their lines)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    mixed = shapely.get_type_id(geoms) == 7
    for i in np.flatnonzero(mixed):
        parts = shapely.get_parts(geoms[i])
        polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
        geoms[i] = shapely.union_all(polys) if len(polys) else shapely.buffer(geoms[i], 0.5e-5)
    return geoms


def _noise(geoms: np.ndarray, t: Thresholds) -> np.ndarray:
    """True for pieces too small or too narrow on average to be real (rounding slivers)."""
    area = shapely.area(geoms)
    width = 2 * area / np.maximum(shapely.length(geoms), 1e-12)
    return (area < t.area_tolerance_m2) | (width < t.width_tolerance_m)


def _frame(rows: dict[str, list], kind: str, crs: Any) -> gpd.GeoDataFrame:
    n = len(rows["geometry"])
    data = {
        "kind": [kind] * n,
        "grids": rows.get("grids", [[]] * n),
        "size": np.asarray(rows.get("size", [0.0] * n), dtype=float),
        "unit": rows.get("unit", ["m2"] * n),
        "ref": rows.get("ref", [None] * n),
        "detail": rows.get("detail", [""] * n),
        "flagged": np.asarray(rows.get("flagged", [False] * n), dtype=bool),
    }
    return gpd.GeoDataFrame(data, geometry=list(rows["geometry"]), crs=crs)


def _empty(kind: str, crs: Any) -> gpd.GeoDataFrame:
    return _frame({"geometry": []}, kind, crs)


# -- the checks --------------------------------------------------------------------------


def overlay_pairs(
    geoms: np.ndarray, targets: np.ndarray, tree: shapely.STRtree | None = None
) -> pd.DataFrame:
    """Area of every intersecting (geometry, target) pair, without needless overlays.

    Pairs where the geometry lies wholly in the target take the geometry's area;
    only the others are intersected.

    Returns
    -------
    pandas.DataFrame
        Columns ``i`` (index into ``geoms``), ``j`` (into ``targets``), ``area``;
        pairs with zero area dropped.
    """
    tree = tree or shapely.STRtree(targets)
    if len(geoms) == 0 or len(targets) == 0:
        return pd.DataFrame({"i": [], "j": [], "area": []}).astype({"i": int, "j": int})
    i, j = tree.query(geoms, predicate="intersects")
    area = shapely.area(geoms)[i]
    whole = shapely.covered_by(geoms[i], targets[j])
    part = ~whole
    area[part] = shapely.area(shapely.intersection(geoms[i[part]], targets[j[part]]))
    keep = area > 0
    return pd.DataFrame({"i": i[keep], "j": j[keep], "area": area[keep]})


def _majority(pairs: pd.DataFrame, n: int) -> np.ndarray:
    """Index of the target holding most of each geometry (-1 if none)."""
    out = np.full(n, -1)
    if len(pairs):
        best = pairs.sort_values(["i", "area"], kind="stable").groupby("i").last()
        out[best.index.to_numpy()] = best["j"].to_numpy()
    return out


def check_plan(
    plan: Plan, *, thresholds: Thresholds | None = None, progress: Callable = no_progress
) -> Findings:
    """Check a grid plan; see :func:`check` for what is checked.

    Parameters
    ----------
    plan
        The grids and their context, from :func:`load_plan`.
    thresholds
        Tolerances; defaults from :mod:`planner.config`.
    progress
        Called with the name of each step.

    Returns
    -------
    Findings
    """
    t = thresholds or Thresholds()
    crs = plan.crs
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    codes = grids["grid_code"].astype(str).to_numpy()
    tree = shapely.STRtree(geoms)
    frames: dict[str, gpd.GeoDataFrame] = {}
    notes: list[str] = []

    progress("overlaps")
    # One pass over the coverage: a grid with no invalid edge neither overlaps another
    # nor leaves an unmatched edge, so "valid" is "no grid has invalid edges".
    bad = np.zeros(len(geoms), dtype=bool)
    if len(geoms):
        bad = ~shapely.is_empty(shapely.coverage_invalid_edges(geoms))
    valid = not bad.any()
    frames["overlaps"] = _overlaps(geoms, codes, tree, bad, t, crs)

    progress("gaps")
    union = _union(geoms, bad)
    if plan.community is None:
        notes.append("no community boundary: gaps are holes between grids only")
        area = shapely.union_all([shapely.Polygon(r) for r in _exteriors(union)])
    else:
        area = plan.community
    frames["gaps"] = _gaps(area, union, codes, tree, t, crs)

    progress("pieces")
    frames["multipart"], frames["slivers"] = _pieces(geoms, codes, t, crs)
    frames["outside_community"] = _outside(geoms, codes, plan.community, t, crs)

    progress("buildings")
    households = pd.Series(
        grids["households"].to_numpy(dtype=float), index=codes, name="households"
    )
    b = plan.buildings
    if b.empty:
        frames["split_buildings"] = _empty("split_buildings", crs)
        frames["unassigned_buildings"] = _empty("unassigned_buildings", crs)
        notes.append("no buildings: households taken from the grid layer")
    else:
        bgeoms = b.geometry.to_numpy()
        pairs = overlay_pairs(bgeoms, geoms, tree)
        major = _majority(pairs, len(b))
        hh = np.bincount(
            major[major >= 0], weights=b["households"].to_numpy()[major >= 0], minlength=len(geoms)
        )
        households = pd.Series(hh, index=codes, name="households")
        frames["split_buildings"] = _split(b, pairs, codes, t, crs)
        frames["unassigned_buildings"] = _unassigned_buildings(b, major, plan.community, crs)

    progress("edge areas")
    frames["unassigned_edge_areas"] = _edge_findings(plan.edge_areas, geoms, codes, tree, t, crs)

    progress("households")
    frames["households_out_of_range"] = _households(grids, households, codes, t, crs)

    progress("boundaries")
    boundary = boundary_on_features(geoms, codes, plan.features, plan.community, t)
    return Findings(
        frames={k: frames[k] for k in KINDS},
        boundary=boundary,
        households=households.astype(int),
        coverage_valid=valid,
        crs=crs,
        layer=plan.layer,
        scenario=plan.scenario,
        notes=notes,
    )


def _exteriors(geom: shapely.Geometry) -> list:
    return [shapely.get_exterior_ring(p) for p in shapely.get_parts(geom)]


def _union(geoms: np.ndarray, bad: np.ndarray) -> shapely.Geometry:
    """Union of the grids: the exact coverage union of the grids with matched edges,
    and a full overlay only for the few with invalid edges."""
    if len(geoms) == 0:
        return shapely.Polygon()
    try:
        union = shapely.coverage_union_all(geoms[~bad])
    except shapely.errors.GEOSException:  # not a coverage after all: overlay everything
        return shapely.union_all(geoms)
    if bad.any():
        union = shapely.union(union, shapely.union_all(geoms[bad]))
    return union


def _overlaps(geoms, codes, tree, bad, t, crs) -> gpd.GeoDataFrame:
    if not bad.any() or len(geoms) < 2:
        return _empty("overlaps", crs)
    # Any overlapping pair has at least one member with invalid edges (a polygon inside
    # another has its own edges flagged; duplicates flag both), so search from those.
    bad = np.flatnonzero(bad)
    q, j = tree.query(geoms[bad], predicate="intersects")
    i = bad[q]
    a, b = np.minimum(i, j), np.maximum(i, j)
    pairs = np.unique(np.stack([a, b], axis=1)[a != b], axis=0)
    if len(pairs) == 0:
        return _empty("overlaps", crs)
    inter = _polygonal(shapely.intersection(geoms[pairs[:, 0]], geoms[pairs[:, 1]]))
    rows: dict[str, list] = {"grids": [], "size": [], "geometry": [], "detail": []}
    parts, owner = shapely.get_parts(inter, return_index=True)
    areas = shapely.area(parts)
    noise = _noise(parts, t)
    for p, k, area, skip in zip(parts, owner, areas, noise, strict=True):
        if skip:
            continue
        ga, gb = codes[pairs[k, 0]], codes[pairs[k, 1]]
        rows["grids"].append([ga, gb])
        rows["size"].append(area)
        rows["geometry"].append(p)
        rows["detail"].append(f"网格 {ga} 与 {gb} 重叠 {area:.0f} 平方米")
    return _frame(rows, "overlaps", crs)


def _gaps(area, union, codes, tree, t, crs) -> gpd.GeoDataFrame:
    gap = _polygonal(np.array([shapely.difference(area, union)]))[0]
    parts = shapely.get_parts(gap)
    parts = parts[~_noise(parts, t)]
    if len(parts) == 0:
        return _empty("gaps", crs)
    q, j = tree.query(shapely.buffer(parts, 0.05), predicate="intersects")
    neighbours = [sorted(codes[j[q == k]].tolist()) for k in range(len(parts))]
    areas = shapely.area(parts)
    details = [
        f"社区内 {a:.0f} 平方米不属于任何网格" + (f"（相邻 {', '.join(n)}）" if n else "")
        for a, n in zip(areas, neighbours, strict=True)
    ]
    rows = {"grids": neighbours, "size": areas, "geometry": parts, "detail": details}
    return _frame(rows, "gaps", crs)


def _thin(geoms: np.ndarray, width: float) -> np.ndarray:
    """True where a polygon is nowhere wider than ``width`` (vanishes when shrunk)."""
    if width <= 0 or len(geoms) == 0:
        return np.zeros(len(geoms), dtype=bool)
    return shapely.is_empty(shapely.buffer(geoms, -width / 2, quad_segs=2))


def _pieces(geoms, codes, t, crs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    parts, owner = shapely.get_parts(geoms, return_index=True)
    areas = shapely.area(parts)
    table = pd.DataFrame({"owner": owner, "area": areas})
    largest = table.groupby("owner")["area"].transform("max").to_numpy() == areas
    count = np.bincount(owner, minlength=len(geoms))
    # exactly one "largest" per grid even on ties
    first = ~pd.Series(owner).where(largest).duplicated(keep="first").to_numpy() & largest
    minor = ~first
    multi = np.flatnonzero(count > 1)
    rows: dict[str, list] = {"grids": [], "size": [], "unit": [], "geometry": [], "detail": []}
    for g in multi:
        sel = (owner == g) & minor
        rest = shapely.union_all(parts[sel])
        rows["grids"].append([codes[g]])
        rows["size"].append(int(count[g]))
        rows["unit"].append("parts")
        rows["geometry"].append(rest)
        rows["detail"].append(
            f"网格 {codes[g]} 分为 {count[g]} 块，较小的 {areas[sel].sum():.0f} 平方米与主体不相连"
        )
    multipart = _frame(rows, "multipart", crs)
    tiny = areas < t.sliver_area_m2
    thin = np.zeros(len(parts), dtype=bool)
    # Only pieces whose mean width (2A/P) is small can be thin everywhere: spares most buffers.
    maybe = ~tiny & (2 * areas / np.maximum(shapely.length(parts), 1e-9) < 2 * t.sliver_width_m)
    thin[maybe] = _thin(parts[maybe], t.sliver_width_m)
    sliver = np.flatnonzero(tiny | thin)
    why = np.where(
        tiny[sliver],
        [f"面积 {a:.1f} 平方米，小于 {t.sliver_area_m2:g}" for a in areas[sliver]],
        f"宽度处处小于 {t.sliver_width_m:g} 米",
    )
    slivers = _frame(
        {
            "grids": [[codes[owner[k]]] for k in sliver],
            "size": areas[sliver],
            "geometry": parts[sliver],
            "detail": [
                f"网格 {codes[owner[k]]} 的碎片：{w}" for k, w in zip(sliver, why, strict=True)
            ],
        },
        "slivers",
        crs,
    )
    return multipart, slivers


def _outside(geoms, codes, community, t, crs) -> gpd.GeoDataFrame:
    if community is None or len(geoms) == 0:
        return _empty("outside_community", crs)
    shapely.prepare(community)
    out = np.flatnonzero(~shapely.covered_by(geoms, community))
    pieces = _polygonal(shapely.difference(geoms[out], community))
    pieces = [_real_parts(p, t) for p in pieces]
    areas = shapely.area(pieces)
    keep = areas > 0
    out, pieces, areas = out[keep], np.asarray(pieces, dtype=object)[keep], areas[keep]
    rows = {
        "grids": [[codes[g]] for g in out],
        "size": areas,
        "geometry": pieces,
        "detail": [
            f"网格 {codes[g]} 有 {a:.0f} 平方米在社区边界外"
            for g, a in zip(out, areas, strict=True)
        ],
    }
    return _frame(rows, "outside_community", crs)


def _real_parts(geom: shapely.Geometry, t: Thresholds) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    parts = parts[~_noise(parts, t)]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def _split(b, pairs, codes, t, crs) -> gpd.GeoDataFrame:
    if pairs.empty:
        return _empty("split_buildings", crs)
    footprint = shapely.area(b.geometry.to_numpy())
    pairs = pairs.assign(share=pairs["area"] / footprint[pairs["i"]])
    counted = pairs[(pairs["area"] >= t.split_min_m2) & (pairs["share"] >= t.split_min_share)]
    n = counted.groupby("i").size()
    cut = n[n > 1].index.to_numpy()
    if len(cut) == 0:
        return _empty("split_buildings", crs)
    sub = pairs[pairs["i"].isin(cut)].sort_values(["i", "area"], ascending=[True, False])
    grouped = sub.groupby("i")
    names = grouped["j"].apply(lambda j: [codes[x] for x in j])
    minority = grouped["area"].apply(lambda a: float(a.iloc[1:].sum()))
    ids = b["building_id"].astype(str).to_numpy()
    rows = {
        "grids": names.loc[cut].tolist(),
        "size": minority.loc[cut].to_numpy(),
        "ref": ids[cut].tolist(),
        "geometry": b.geometry.to_numpy()[cut],
        "detail": [
            f"网格边界穿过楼栋 {ids[k]}：{minority[k]:.1f} 平方米在 {', '.join(names[k][1:])}"
            for k in cut
        ],
    }
    return _frame(rows, "split_buildings", crs)


def _unassigned_buildings(b, major, community, crs) -> gpd.GeoDataFrame:
    bgeoms = b.geometry.to_numpy()
    none = major < 0
    if community is not None:
        shapely.prepare(community)
        none &= shapely.intersects(bgeoms, community)
    idx = np.flatnonzero(none)
    ids = b["building_id"].astype(str).to_numpy()
    hh = b["households"].to_numpy()
    rows = {
        "grids": [[] for _ in idx],
        "size": hh[idx],
        "unit": ["households"] * len(idx),
        "ref": ids[idx].tolist(),
        "geometry": bgeoms[idx],
        "detail": [f"楼栋 {ids[k]}（{hh[k]} 户）不在任何网格内" for k in idx],
    }
    return _frame(rows, "unassigned_buildings", crs)


def _edge_findings(edges, geoms, codes, tree, t, crs) -> gpd.GeoDataFrame:
    if edges.empty:
        return _empty("unassigned_edge_areas", crs)
    from planner.edges import touching

    egeoms = edges.geometry.to_numpy()
    pairs = overlay_pairs(egeoms, geoms, tree)
    index = {c: k for k, c in enumerate(codes)}
    assigned = edges["grid_code"].map(lambda c: index.get(str(c), -1) if c else -1).to_numpy()
    area = shapely.area(egeoms)
    pairs = pairs.assign(
        mine=pairs["j"].to_numpy() == assigned[pairs["i"].to_numpy()],
        share=pairs["area"] / np.maximum(area[pairs["i"]], 1e-9),
    )
    foreign = pairs[~pairs["mine"]]
    counted = foreign[(foreign["area"] >= t.edge_min_m2) & (foreign["share"] >= t.edge_min_share)]
    spans = counted.groupby("i")["area"].sum()
    real = pairs[pairs["area"] >= t.area_tolerance_m2]
    lying = real.groupby("i")["j"].apply(lambda j: sorted(codes[x] for x in j))
    ids = edges["edge_id"].astype(str).to_numpy()
    disputed = edges["disputed"].to_numpy(dtype=bool)
    settled = ~_blank(edges["agreement_text"])
    rows: dict[str, list] = {"grids": [], "size": [], "ref": [], "geometry": [], "detail": []}
    for k in range(len(edges)):
        inside = lying.get(k, [])
        code = edges["grid_code"].iloc[k]
        if assigned[k] < 0:
            if disputed[k] and not settled[k]:
                why = "有争议，尚未协商确定归属"
            elif code:
                why = f"所属网格 {code} 不存在"
            else:
                why = "未指派网格"
            size = area[k]
        elif k in spans.index:
            why = f"属于 {code}，但有 {spans[k]:.0f} 平方米落在其他网格"
            if not touching(egeoms[k : k + 1], geoms[assigned[k] : assigned[k] + 1])[0]:
                why += f"；网格 {code} 与其不相邻，并入会使网格不连续，请改派相邻网格"
            size = float(spans[k])
        else:
            continue
        rows["grids"].append(inside)
        rows["size"].append(size)
        rows["ref"].append(ids[k])
        rows["geometry"].append(egeoms[k])
        rows["detail"].append(f"边缘地带 {ids[k]}：{why}")
    return _frame(rows, "unassigned_edge_areas", crs)


def _households(grids, households, codes, t, crs) -> gpd.GeoDataFrame:
    hh = households.to_numpy()
    out = np.flatnonzero((hh < t.min_households) | (hh > t.max_households))
    flags = grids["flag"].to_numpy()
    flagged = ~_blank(grids["flag"])
    details = []
    for g in out:
        side = "少于" if hh[g] < t.min_households else "多于"
        limit = t.min_households if hh[g] < t.min_households else t.max_households
        text = f"网格 {codes[g]} 有 {hh[g]:.0f} 户，{side} {limit}"
        details.append(text + (f"（已标注：{flags[g]}）" if flagged[g] else ""))
    rows = {
        "grids": [[codes[g]] for g in out],
        "size": hh[out],
        "unit": ["households"] * len(out),
        "geometry": grids.geometry.to_numpy()[out],
        "detail": details,
        "flagged": flagged[out],
    }
    return _frame(rows, "households_out_of_range", crs)


def boundary_on_features(
    geoms: np.ndarray,
    codes: np.ndarray,
    features: np.ndarray,
    community: shapely.Geometry | None,
    thresholds: Thresholds | None = None,
) -> pd.DataFrame:
    """Share of each grid's boundary that follows a physical feature.

    Boundaries are cut into segments of at most ``feature_segment_m``; a segment
    follows a feature when its midpoint lies within ``feature_tolerance_m`` of a
    road, wall, water line, railway or compound outline. The community's own
    outline (within 0.5 m) is left out: it is given, not drawn.

    The measure is computed per straight boundary edge, each edge shared by two
    grids once: an edge with no feature within the tolerance follows nothing; an
    edge whose two ends lie within the tolerance of one straight piece of a
    feature follows it all along (distance to a segment is convex along another
    segment); only the remaining edges are cut into their segments, whose
    midpoints are measured in bulk with numpy.

    Returns
    -------
    pandas.DataFrame
        ``grid_code``, ``boundary_m``, ``on_features_m``, ``share`` (1.0 when a grid
        has no boundary inside the community).
    """
    t = thresholds or Thresholds()
    n = len(geoms)
    step = max(t.feature_segment_m, 0.1)
    polygons, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    start, end, ring = _ring_segments(rings)
    grid = owner[ring_polygon[ring]]
    # A boundary between two grids is measured twice: measure each edge once.
    swap = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    lo = np.where(swap[:, None], end, start)
    hi = np.where(swap[:, None], start, end)
    key = np.ascontiguousarray(np.round(np.hstack([lo, hi]), 3))
    _, first, back = np.unique(
        key.view(np.dtype((np.void, 32))).ravel(), return_index=True, return_inverse=True
    )
    back = back.ravel()
    a, b = lo[first], hi[first]
    length = np.hypot(*(b - a).T)
    pieces = np.maximum(np.ceil(length / step), 1).astype(np.int64)
    edges = shapely.linestrings(np.stack([a, b], axis=1))
    comm = np.empty(0, dtype=object) if community is None else np.array([community])
    c_state, c_sub = _near_share(a, b, edges, pieces, shapely.boundary(comm), 0.5)
    f_state, f_sub = _near_share(a, b, edges, pieces, features, t.feature_tolerance_m)
    # Per edge: share of its segments inside the community, and inside and on a feature.
    inner = np.where(c_state == 0, 1.0, 0.0)
    on = np.where((c_state == 0) & (f_state == 1), 1.0, 0.0)
    mixed = np.flatnonzero((c_state == 2) | (f_state == 2))
    if len(mixed):
        k = pieces[mixed]
        near_c = c_sub(mixed, k)
        near_f = f_sub(mixed, k)
        which = np.repeat(np.arange(len(mixed)), k)
        inner[mixed] = np.bincount(which, weights=~near_c, minlength=len(mixed)) / k
        on[mixed] = np.bincount(which, weights=~near_c & near_f, minlength=len(mixed)) / k
    total = np.bincount(grid, weights=(length * inner)[back], minlength=n)
    follow = np.bincount(grid, weights=(length * on)[back], minlength=n)
    share = np.divide(follow, total, out=np.ones(n), where=total > 0)
    return pd.DataFrame(
        {"grid_code": codes, "boundary_m": total, "on_features_m": follow, "share": share}
    )


def _ring_segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and line index of every straight piece of ``lines`` (zero-length dropped)."""
    coords, line = shapely.get_coordinates(lines, return_index=True)
    same = line[1:] == line[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    keep = (start != end).any(axis=1)
    return start[keep], end[keep], line[:-1][same][keep]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + count)`` for each pair."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(counts) - counts), counts)
    return np.arange(total) + shift


def _target_segments(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight pieces of lines (polygon outlines, points as zero-length pieces)."""
    targets = np.asarray(targets, dtype=object)
    if len(targets):
        targets = targets[~shapely.is_missing(targets) & ~shapely.is_empty(targets)]
    if len(targets) == 0:
        return np.empty((0, 2)), np.empty((0, 2))
    parts = shapely.get_parts(targets)
    polygonal = shapely.get_dimensions(parts) == 2
    if polygonal.any():
        parts = np.concatenate([parts[~polygonal], shapely.get_rings(parts[polygonal])])
    ta, tb, _ = _ring_segments(parts)
    single = shapely.get_num_coordinates(parts) == 1
    if single.any():
        points = shapely.get_coordinates(parts[single])
        ta, tb = np.vstack([ta, points]), np.vstack([tb, points])
    return ta, tb


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each point ``p`` to the segment ``a``-``b`` (row-wise)."""
    ab = b - a
    ap = p - a
    denom = np.einsum("ij,ij->i", ab, ab)
    along = np.divide(np.einsum("ij,ij->i", ap, ab), denom, out=np.zeros(len(p)), where=denom > 0)
    along = np.clip(along, 0.0, 1.0)
    return np.hypot(*(ap - along[:, None] * ab).T)


def _near_share(
    a: np.ndarray,
    b: np.ndarray,
    edges: np.ndarray,
    pieces: np.ndarray,
    targets: np.ndarray,
    distance: float,
) -> tuple[np.ndarray, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Which segments of straight edges ``a``-``b`` have their midpoint near ``targets``.

    Edge ``u`` is cut into ``pieces[u]`` equal segments (as ``shapely.segmentize``
    cuts it). Returns a state per edge (0 no segment near, 1 all near, 2 some may
    be) and a function giving, for chosen edges, one flag per segment.
    """
    m = len(a)
    ta, tb = _target_segments(targets)
    if len(ta) == 0 or m == 0:
        return np.zeros(m, dtype=np.int8), lambda u, k: np.zeros(int(k.sum()), dtype=bool)
    tree = shapely.STRtree(shapely.linestrings(np.stack([ta, tb], axis=1)))
    e, j = tree.query(edges, predicate="dwithin", distance=distance)
    both = (_point_segment_distance(a[e], ta[j], tb[j]) <= distance) & (
        _point_segment_distance(b[e], ta[j], tb[j]) <= distance
    )
    state = np.zeros(m, dtype=np.int8)
    state[e] = 2
    state[e[both]] = 1

    def segments(chosen: np.ndarray, k: np.ndarray) -> np.ndarray:
        offset = np.concatenate([[0], np.cumsum(k)])
        near = np.zeros(int(offset[-1]), dtype=bool)
        where = np.full(m, -1)
        where[chosen] = np.arange(len(chosen))
        # an edge wholly near here may still be measured for the other targets
        full = where[state == 1]
        full = full[full >= 0]
        near[_ranges(offset[full], k[full])] = True
        pick = (where[e] >= 0) & (state[e] == 2)
        pe, pj = where[e[pick]], j[pick]
        count = k[pe]
        rep = np.repeat(np.arange(len(pe)), count)
        nth = _ranges(np.zeros(len(pe), dtype=np.int64), count)
        edge = chosen[pe[rep]]
        frac = ((nth + 0.5) / count[rep])[:, None]
        mid = a[edge] + (b[edge] - a[edge]) * frac
        hit = _point_segment_distance(mid, ta[pj[rep]], tb[pj[rep]]) <= distance
        near[offset[pe[rep]][hit] + nth[hit]] = True
        return near

    return state, segments


def check(
    store: Store,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    thresholds: Thresholds | None = None,
    progress: Progress = no_progress,
) -> Findings:
    """Check a grid layer of ``store`` for every topology rule.

    Finds overlaps between grids (m²); gaps inside the community not in any grid;
    grids in several pieces; slivers (pieces tiny or thin everywhere); grids
    reaching outside the community; buildings cut by a grid boundary; buildings in
    no grid; edge areas in no grid or in more than one; households outside the
    range; and, per grid, the share of boundary on physical features.

    A grid whose households are out of range but which carries a ``flag`` (the
    reason the grid engine or the planner gave, e.g. one tower above 500
    households) is reported with ``flagged`` true and does not fail the check.
    The boundary shares are measurements, not findings.

    Parameters
    ----------
    store
        The store.
    layer
        ``grids`` (default) or ``scenario_grids``.
    scenario
        Plan within the layer; None = the current one.
    thresholds
        Tolerances; defaults from :mod:`planner.config`.
    progress
        Called with the name of each step.

    Returns
    -------
    Findings
    """
    return check_plan(
        load_plan(store, layer=layer, scenario=scenario), thresholds=thresholds, progress=progress
    )


def save_findings(store: Store, findings: Findings) -> int:
    """Write ``findings`` to the store's ``findings`` layer (other layers' findings kept)."""
    store.write("findings", _merged_findings(store, findings))
    return sum(findings.counts().values())


def _same(values: pd.Series, scenario: str | None) -> pd.Series:
    if scenario is None:
        return values.isna() | (values.astype(str).str.strip() == "")
    return values == scenario


# -- fixes -------------------------------------------------------------------------------


@dataclass
class FixPlan:
    """Repairs of a grid plan, proposed by :func:`propose_fixes`.

    Attributes
    ----------
    proposals
        One row per repair (metric CRS): ``kind`` (gap, overlap, building,
        edge_area, orphan, sliver, outside_community, rebalance), ``to_grid``,
        ``from_grids``, ``area_m2``, ``households`` moved, ``ref``, ``reason``,
        geometry of the piece.
    grids
        The repaired grids (metric CRS), 四维测评 figures and staffing recomputed.
    buildings
        The buildings with ``grid_code`` set from the repaired grids.
    edge_areas
        The edge areas, assigned and following their grids.
    per_grid
        ``grid_code``, ``households_before``, ``households_after``, ``change``.
    removed
        Grids left without any area (merged slivers, duplicates).
    added
        Grids made by re-cutting grids a repair pushed out of the household range.
    unresolved
        What could not be repaired automatically, in words.
    """

    plan: Plan
    proposals: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    edge_areas: gpd.GeoDataFrame
    per_grid: pd.DataFrame
    removed: list[str]
    unresolved: list[str]
    rule: str
    rounding: int = 0
    added: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing to repair."""
        return self.proposals.empty and not self.removed and not self.rounding

    def to_json(self) -> dict[str, Any]:
        """The proposals with the households moved per grid."""
        moves = []
        if len(self.proposals):
            points = shapely.point_on_surface(self.proposals.to_crs(STORAGE_CRS).geometry)
            for i, row in enumerate(self.proposals.itertuples(index=False)):
                moves.append(
                    {
                        "kind": row.kind,
                        "to_grid": row.to_grid if isinstance(row.to_grid, str) else None,
                        "from_grids": list(row.from_grids),
                        "area_m2": round(float(row.area_m2), 1),
                        "households": int(row.households),
                        "ref": row.ref if isinstance(row.ref, str) else None,
                        "reason": row.reason,
                        "point": [
                            round(float(shapely.get_x(points.iloc[i])), 7),
                            round(float(shapely.get_y(points.iloc[i])), 7),
                        ],
                    }
                )
        changed = self.per_grid[self.per_grid["change"] != 0]
        return {
            "rule": self.rule,
            "proposals": moves,
            "households_moved": [
                {
                    "grid": str(r.grid_code),
                    "before": int(r.households_before),
                    "after": int(r.households_after),
                    "change": int(r.change),
                }
                for r in changed.itertuples()
            ],
            "removed_grids": list(self.removed),
            "added_grids": list(self.added),
            "unresolved": list(self.unresolved),
            "rounding_pieces": int(self.rounding),
        }


class _Arrangement:
    """Faces of the noded plan with their grid labels and shared edge lengths."""

    def __init__(self, lines: np.ndarray, community: shapely.Geometry | None) -> None:
        # Snap-rounded noding: every vertex on a 1 cm grid and none within half a cell of
        # another edge, so faces stay valid when projected to lon/lat and back.
        lines = shapely.set_precision(lines[~shapely.is_empty(lines)], GRID_SIZE)
        noded = shapely.union_all(lines, grid_size=GRID_SIZE)
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        faces = faces[shapely.area(faces) > 0]
        self.inside = np.ones(len(faces), dtype=bool)
        self.points = shapely.point_on_surface(faces)
        if community is not None:
            shapely.prepare(community)
            self.inside = shapely.intersects(self.points, community)
        self.faces = faces
        self.area = shapely.area(faces)
        self.u, self.v, self.w = _shared_edges(faces)

    def within(self, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(face, polygon) pairs where the face lies in the polygon."""
        if len(polygons) == 0:
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        tree = shapely.STRtree(polygons)
        return tree.query(self.points, predicate="within")

    def components(self, key: np.ndarray) -> np.ndarray:
        """Connected pieces of faces sharing the same ``key`` (faces with key -1 alone)."""
        n = len(self.faces)
        same = (key[self.u] == key[self.v]) & (key[self.u] >= 0)
        graph = sparse.coo_matrix((np.ones(same.sum()), (self.u[same], self.v[same])), (n, n))
        return csgraph.connected_components(graph, directed=False)[1]

    def borders(self, piece: np.ndarray, label: np.ndarray) -> pd.DataFrame:
        """Length each piece shares with each grid label around it (``piece``, ``grid``, ``m``)."""
        u = np.concatenate([self.u, self.v])
        v = np.concatenate([self.v, self.u])
        w = np.concatenate([self.w, self.w])
        keep = (piece[u] >= 0) & (label[v] >= 0) & (piece[u] != piece[v])
        frame = pd.DataFrame({"piece": piece[u[keep]], "grid": label[v[keep]], "m": w[keep]})
        return frame.groupby(["piece", "grid"], as_index=False)["m"].sum()


def _shared_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of faces sharing boundary segments, with the shared length.

    Faces come from one noding, so a shared boundary is made of identical segments:
    matching normalised segment end points finds neighbours without any overlay.
    """
    rings, owner = shapely.get_rings(faces, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    face = owner[ring[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    key = np.round(np.hstack([lo, hi]), 4)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    length = np.hypot(*(hi - lo).T)
    frame = pd.DataFrame({"seg": inverse.ravel(), "face": face, "m": length})
    frame = frame.drop_duplicates(["seg", "face"])
    paired = frame.merge(frame, on="seg")
    paired = paired[paired["face_x"] < paired["face_y"]]
    summed = paired.groupby(["face_x", "face_y"], as_index=False)["m_x"].sum()
    return (
        summed["face_x"].to_numpy(),
        summed["face_y"].to_numpy(),
        summed["m_x"].to_numpy(),
    )


def _choose(
    borders: pd.DataFrame, households: np.ndarray, rule: str, allowed: pd.DataFrame | None = None
) -> pd.Series:
    """The grid each piece goes to: longest shared border, or fewest households."""
    if allowed is not None:
        borders = borders.merge(allowed, on=["piece", "grid"])
    if borders.empty:
        return pd.Series(dtype=int)
    borders = borders.assign(hh=households[borders["grid"].to_numpy()])
    if rule == "fewer_households":
        order = borders.sort_values(["piece", "hh", "m"], ascending=[True, True, False])
    else:
        order = borders.sort_values(["piece", "m", "hh"], ascending=[True, False, True])
    return order.groupby("piece")["grid"].first()


def plan_fixes(
    plan: Plan,
    findings: Findings | None = None,
    *,
    rule: str = config.FIX_RULE,
    thresholds: Thresholds | None = None,
    rebalance: bool = True,
    time_limit: float = config.PARTITION_TIME_LIMIT,
) -> FixPlan:
    """Compute the repairs of ``plan`` (see :func:`propose_fixes`).

    Parameters
    ----------
    plan, findings
        The plan and its check (checked here if not given).
    rule
        ``longest_border`` or ``fewer_households``.
    thresholds
        Tolerances and the household range.
    rebalance
        Re-cut the grids the repairs push out of the household range, with their
        neighbours (see :func:`propose_fixes`).
    time_limit
        Seconds for the partition of that re-cut.

    Returns
    -------
    FixPlan
    """
    if rule not in RULES:
        msg = f"unknown fix rule {rule!r}; choose from {', '.join(RULES)}"
        raise PlannerError(msg)
    t = thresholds or Thresholds()
    findings = findings or check_plan(plan, thresholds=t)
    first = _fix_geometry(plan, findings, rule, t)
    pushed = _pushed(first, t) if rebalance else []
    if not pushed or first.buildings.empty:
        return first
    try:
        return _rebalance_pushed(first, pushed, findings, rule, t, time_limit)
    except (PlannerError, shapely.errors.GEOSException) as error:
        # The repairs stand on their own; a region that cannot be cut into blocks is
        # left as the repairs made it, and said so.
        first.unresolved.append(f"grids {', '.join(pushed)} could not be re-cut: {error}")
        return first


def _off_range(households: np.ndarray, t: Thresholds) -> np.ndarray:
    """Households below the minimum or above the maximum (0 inside the range)."""
    households = np.asarray(households, dtype=float)
    return np.maximum(np.maximum(t.min_households - households, households - t.max_households), 0)


def _pushed(fixes: FixPlan, t: Thresholds) -> list[str]:
    """Grids the repairs themselves moved (further) out of the household range."""
    pg = fixes.per_grid
    worse = _off_range(pg["households_after"], t) > _off_range(pg["households_before"], t)
    present = pg["grid_code"].isin(set(fixes.grids["grid_code"].astype(str)))
    return pg.loc[worse & (pg["change"] != 0) & present, "grid_code"].astype(str).tolist()


def _fix_geometry(plan: Plan, findings: Findings, rule: str, t: Thresholds) -> FixPlan:
    """The topology repairs proper: relabel the faces of the noded plan (steps 1-6)."""
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    codes = grids["grid_code"].astype(str).to_numpy()
    index = {c: k for k, c in enumerate(codes)}
    ng = len(grids)
    households = findings.households.reindex(codes).fillna(0).to_numpy(dtype=float)
    b = plan.buildings
    edges = plan.edge_areas.copy()
    bgeoms = b.geometry.to_numpy() if len(b) else np.empty(0, dtype=object)
    unresolved: list[str] = []

    # Edge areas with no grid yet are assigned first, by the same neighbour rule.
    if len(edges):
        from planner.edges import assign_edge_areas

        edges = assign_edge_areas(edges, grids, rule=rule, households=households)
    egeoms = edges.geometry.to_numpy() if len(edges) else np.empty(0, dtype=object)
    target = (
        edges["grid_code"].map(lambda c: index.get(str(c), -1) if c else -1).to_numpy()
        if len(edges)
        else np.empty(0, dtype=int)
    )

    # Node only the outlines that matter: buildings and edge areas not wholly in one grid.
    pairs_b = overlay_pairs(bgeoms, geoms) if len(bgeoms) else pd.DataFrame()
    loose_b = np.ones(len(bgeoms), dtype=bool)
    if len(pairs_b):
        whole = pairs_b.assign(
            full=np.isclose(pairs_b["area"], shapely.area(bgeoms)[pairs_b["i"]], rtol=1e-9)
        )
        single = whole.groupby("i").agg(n=("j", "size"), full=("full", "all"))
        ok = single.index[(single["n"] == 1) & single["full"]].to_numpy()
        loose_b[ok] = False
    pinned_e = target >= 0
    # Step 4 moves an edge area wholly to its grid, which would cut a building standing
    # across its outline (a station half on a rail yard): node those too, so step 5
    # keeps each whole in the grid then holding most of it.
    if pinned_e.any() and len(bgeoms):
        loose_b[_across_moved_edges(bgeoms, egeoms, target, geoms)] = True
    cluster = _footprint_clusters(bgeoms)
    loose_b = np.isin(cluster, cluster[loose_b])
    lines = [
        shapely.boundary(geoms),
        shapely.boundary(bgeoms[loose_b]),
        shapely.boundary(egeoms[pinned_e]),
    ]
    if plan.community is not None:
        lines.append(np.array([shapely.boundary(plan.community)]))
    arr = _Arrangement(np.concatenate(lines), plan.community)
    nf = len(arr.faces)

    # 1. Which grids cover each face.
    f_idx, g_idx = arr.within(geoms)
    cover = np.bincount(f_idx, minlength=nf)
    label = np.full(nf, -1)
    single = cover[f_idx] == 1
    label[f_idx[single]] = g_idx[single]
    label[~arr.inside] = -2  # outside the community: dropped
    moves: list[dict[str, Any]] = []

    # 2. Overlaps: each piece (same set of grids) goes to one of its grids.
    multi = (cover >= 2) & arr.inside
    if multi.any():
        sets = pd.Series(g_idx, index=f_idx).groupby(level=0).apply(lambda s: tuple(sorted(s)))
        key = np.full(nf, -1)
        set_ids = pd.factorize(sets)[0]
        key[sets.index.to_numpy()] = set_ids
        key[~multi] = -1
        comp = arr.components(key)
        piece = np.where(multi, comp, -1)
        sole = label.copy()
        sole[sole < 0] = -1
        borders = arr.borders(piece, sole)
        members = {p: sets.loc[np.flatnonzero(piece == p)[0]] for p in np.unique(piece[piece >= 0])}
        allowed = pd.DataFrame(
            [(p, g) for p, gs in members.items() for g in gs], columns=["piece", "grid"]
        )
        borders = allowed.merge(borders, on=["piece", "grid"], how="left").fillna({"m": 0.0})
        owned = np.bincount(label[label >= 0], minlength=ng)
        chosen = _choose(borders, households, rule)
        for p, gs in members.items():
            # A grid with nothing of its own keeps the overlap, so no grid vanishes silently.
            bare = [g for g in gs if owned[g] == 0]
            to = bare[0] if bare else int(chosen[p])
            faces = np.flatnonzero(piece == p)
            label[faces] = to
            moves.append(
                _move("overlap", faces, to, [g for g in gs if g != to], _why(rule, "overlap"))
            )

    # 3. Gaps: each piece of uncovered faces goes to a neighbour.
    gap = label == -1
    if gap.any():
        piece = np.where(gap, arr.components(np.where(gap, 0, -1)), -1)
        chosen = _choose(arr.borders(piece, label), households, rule)
        for p in np.unique(piece[piece >= 0]):
            faces = np.flatnonzero(piece == p)
            if p not in chosen.index:
                unresolved.append(f"gap of {arr.area[faces].sum():.0f} m² has no grid next to it")
                continue
            label[faces] = chosen[p]
            moves.append(_move("gap", faces, int(chosen[p]), [], _why(rule, "gap")))

    # 4. Edge areas go wholly to their grid, if they touch it: joining an area to a grid
    # it does not touch would leave the grid in two pieces. A manual assignment of that
    # kind stays a finding for the planner; an automatic one follows the grids.
    if pinned_e.any():
        from planner.edges import touching

        k = np.flatnonzero(pinned_e)
        apart = k[~touching(egeoms[k], geoms[target[k]])]
        pinned_e[apart] = False
        manual_e = (edges["assigned_by"] == "manual").to_numpy()
        for e in apart[manual_e[apart]]:
            unresolved.append(
                f"edge area {edges['edge_id'].iloc[e]} is assigned by hand to grid "
                f"{codes[target[e]]}, which it does not touch; settle it to a grid next to it"
            )
    pinned = np.zeros(nf, dtype=bool)
    if pinned_e.any():
        fe, ek = arr.within(egeoms[pinned_e])
        ek = np.flatnonzero(pinned_e)[ek]
        keep = label[fe] >= -1
        fe, ek = fe[keep], ek[keep]
        manual = (edges["assigned_by"] == "manual").to_numpy()
        for e in np.unique(ek):
            faces = fe[ek == e]
            to = int(target[e])
            away = sorted({int(x) for x in label[faces] if x >= 0 and x != to})
            if away:
                moves.append(
                    _move(
                        "edge_area",
                        faces[label[faces] != to],
                        to,
                        away,
                        f"边缘地带 {edges['edge_id'].iloc[e]} 整体归入所属网格 {codes[to]}",
                        ref=str(edges["edge_id"].iloc[e]),
                    )
                )
            label[faces] = to
            if manual[e]:
                pinned[faces] = True

    # 5. Cut buildings go wholly to the grid holding most of them; overlapping
    # footprints move together, or one would cut the other.
    if loose_b.any():
        fb, bk = arr.within(bgeoms[loose_b])
        bk = np.flatnonzero(loose_b)[bk]
        keep = label[fb] >= 0
        fb, bk = fb[keep], bk[keep]
        unit = cluster[bk]
        ids = b["building_id"].astype(str).to_numpy()
        frame = pd.DataFrame({"f": fb, "u": unit}).drop_duplicates("f")
        for u, sub in frame.groupby("u"):
            faces_u = sub["f"].to_numpy()
            current = label[faces_u]
            if len(np.unique(current)) <= 1:
                continue
            by_grid = pd.Series(arr.area[faces_u]).groupby(current).sum()
            to = int(by_grid.idxmax())
            names = ", ".join(ids[np.flatnonzero(cluster == u)][:3])
            moves.append(
                _move(
                    "building",
                    faces_u[current != to],
                    to,
                    sorted({int(x) for x in current if x != to}),
                    f"楼栋 {names} 整体归入占其面积最多的网格 {codes[to]}，边界绕开楼栋",
                    ref=names,
                )
            )
            label[faces_u] = to

    # 6. Orphan pieces and slivers join the neighbour (repeat: a merge can free another).
    for _ in range(3):
        changed = _merge_pieces(arr, label, pinned, households, rule, t, codes, moves)
        if not changed:
            break

    return _finish(plan, findings, arr, label, moves, edges, households, unresolved, rule, t)


def _across_moved_edges(
    bgeoms: np.ndarray, egeoms: np.ndarray, target: np.ndarray, geoms: np.ndarray
) -> np.ndarray:
    """Buildings crossing the outline of an edge area that lies partly outside its grid."""
    pinned = np.flatnonzero(target >= 0)
    pairs = overlay_pairs(egeoms[pinned], geoms)
    moving = pinned[np.unique(pairs["i"][pairs["j"] != target[pinned][pairs["i"]]])]
    if len(moving) == 0:
        return np.empty(0, dtype=int)
    tree = shapely.STRtree(bgeoms)
    return np.unique(tree.query(shapely.boundary(egeoms[moving]), predicate="crosses")[1])


def _footprint_clusters(geoms: np.ndarray, min_m2: float = 0.05) -> np.ndarray:
    """Cluster label of each footprint: overlapping footprints share one."""
    n = len(geoms)
    if n == 0:
        return np.empty(0, dtype=int)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i):
        real = shapely.area(shapely.intersection(geoms[i], geoms[j])) >= min_m2
        i, j = i[real], j[real]
    graph = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def _why(rule: str, what: str) -> str:
    base = {"overlap": "重叠部分", "gap": "空隙", "orphan": "飞地", "sliver": "碎片"}[what]
    if rule == "fewer_households":
        return f"{base}并入户数较少的相邻网格"
    return f"{base}并入共边最长的相邻网格"


def _move(kind, faces, to, from_, reason, ref=None) -> dict[str, Any]:
    return {
        "kind": kind,
        "faces": np.asarray(faces),
        "to": to,
        "from": from_,
        "reason": reason,
        "ref": ref,
    }


def _merge_pieces(arr, label, pinned, households, rule, t, codes, moves) -> bool:
    valid = label >= 0
    comp = arr.components(np.where(valid, label, -1))
    comp = np.where(valid, comp, -1)
    frame = pd.DataFrame({"c": comp[valid], "g": label[valid], "a": arr.area[valid]})
    per = frame.groupby("c").agg(g=("g", "first"), a=("a", "sum"))
    per["main"] = per["a"] == per.groupby("g")["a"].transform("max")
    per["main"] &= ~per.duplicated(["g", "main"]) | ~per["main"]
    # Slivers: tiny pieces, or pieces thin everywhere (checked on their dissolved shape).
    small = per.index[per["a"] < t.sliver_area_m2]
    candidates = per.index[(per["a"] >= t.sliver_area_m2)]
    thin = pd.Series(False, index=per.index)
    if len(candidates):
        geo = gpd.GeoDataFrame({"c": comp[valid]}, geometry=arr.faces[valid])
        geo = geo[geo["c"].isin(candidates)].dissolve("c", method="coverage")
        width = 2 * shapely.area(geo.geometry) / np.maximum(shapely.length(geo.geometry), 1e-9)
        maybe = geo.index[width < 2 * t.sliver_width_m]
        if len(maybe):
            thin.loc[maybe] = _thin(geo.geometry.loc[maybe].to_numpy(), t.sliver_width_m)
    per["sliver"] = False
    per.loc[small, "sliver"] = True
    per.loc[thin[thin].index, "sliver"] = True
    has_pin = pd.Series(pinned[valid]).groupby(comp[valid]).any()
    move = per[(~per["main"] | per["sliver"]) & ~has_pin.reindex(per.index, fill_value=False)]
    if move.empty:
        return False
    piece = np.where(np.isin(comp, move.index.to_numpy()), comp, -1)
    borders = arr.borders(piece, label)
    borders = borders[borders["grid"] != per["g"].reindex(borders["piece"]).to_numpy()]
    chosen = _choose(borders, households, rule)
    changed = False
    for c, row in move.iterrows():
        if c not in chosen.index:
            continue
        faces = np.flatnonzero(comp == c)
        kind = "sliver" if row["sliver"] else "orphan"
        moves.append(_move(kind, faces, int(chosen[c]), [int(row["g"])], _why(rule, kind)))
        label[faces] = int(chosen[c])
        changed = True
    return changed


def _finish(plan, findings, arr, label, moves, edges, households, unresolved, rule, t) -> FixPlan:
    grids = plan.grids
    codes = grids["grid_code"].astype(str).to_numpy()
    crs = plan.crs
    valid = label >= 0
    faces = gpd.GeoDataFrame({"g": label[valid]}, geometry=arr.faces[valid], crs=crs)
    shapes = faces.dissolve("g", method="coverage").geometry
    kept = shapes.index.to_numpy()
    removed = [codes[g] for g in range(len(grids)) if g not in set(kept.tolist())]
    new = grids.iloc[kept].copy()
    new["geometry"] = shapes.to_numpy()
    new = new.reset_index(drop=True)

    # Outside pieces dropped by the clip.
    dropped = np.flatnonzero(label == -2)
    if len(dropped):
        f_idx, g_idx = arr.within(grids.geometry.to_numpy())
        out = np.isin(f_idx, dropped)
        for g in np.unique(g_idx[out]):
            fs = f_idx[out & (g_idx == g)]
            if arr.area[fs].sum() >= t.area_tolerance_m2:
                moves.append(_move("outside_community", fs, -1, [int(g)], "超出社区边界的部分裁去"))

    buildings = plan.buildings.copy()
    new["area_m2"] = shapely.area(new.geometry.to_numpy())
    if len(buildings):
        pairs = overlay_pairs(buildings.geometry.to_numpy(), new.geometry.to_numpy())
        major = _majority(pairs, len(buildings))
        buildings["grid_code"] = np.where(
            major >= 0, new["grid_code"].to_numpy()[np.maximum(major, 0)], None
        )
        new = assess(new, buildings)
    before = findings.households.reindex(codes).fillna(0).astype(int)
    after = pd.Series(new["households"].to_numpy(), index=new["grid_code"].astype(str))
    per_grid = pd.DataFrame({"grid_code": codes, "households_before": before.to_numpy()})
    per_grid["households_after"] = after.reindex(codes).fillna(0).astype(int).to_numpy()
    per_grid["change"] = per_grid["households_after"] - per_grid["households_before"]

    if len(edges):
        edges = _follow(edges, new, plan.crs)

    rows = []
    reps = buildings.geometry.representative_point().to_numpy() if len(buildings) else []
    btree = shapely.STRtree(reps) if len(buildings) else None
    bhh = buildings["households"].to_numpy() if len(buildings) else np.empty(0)
    rounding = 0
    for m in moves:
        if len(m["faces"]) == 0:
            continue
        geom = shapely.coverage_union_all(arr.faces[m["faces"]])
        if m["kind"] in ("gap", "overlap", "outside_community", "building", "edge_area"):
            # tiny, or long and a few millimetres wide (a snapped outline)
            if arr.area[m["faces"]].sum() < t.area_tolerance_m2 or _noise(np.array([geom]), t)[0]:
                rounding += 1  # applied, but coordinate rounding is not worth a line each
                continue
        hh = 0
        if btree is not None:
            hit = btree.query(geom, predicate="contains")
            hh = int(bhh[hit].sum())
        rows.append(
            {
                "kind": m["kind"],
                "to_grid": codes[m["to"]] if m["to"] >= 0 else None,
                "from_grids": [codes[g] for g in m["from"]],
                "area_m2": float(arr.area[m["faces"]].sum()),
                "households": hh,
                "ref": m["ref"],
                "reason": m["reason"],
                "geometry": geom,
            }
        )
    columns = ["kind", "to_grid", "from_grids", "area_m2", "households", "ref", "reason"]
    proposals = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*columns, "geometry"]), geometry="geometry", crs=crs
    )
    return FixPlan(
        plan=plan,
        proposals=proposals,
        grids=new,
        buildings=buildings,
        edge_areas=edges,
        per_grid=per_grid,
        removed=removed,
        unresolved=unresolved,
        rule=rule,
        rounding=rounding,
    )


def _follow(edges: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Auto-assigned edge areas take the grid now holding most of them."""
    edges = edges.copy()
    pairs = overlay_pairs(edges.geometry.to_numpy(), grids.geometry.to_numpy())
    major = _majority(pairs, len(edges))
    codes = grids["grid_code"].astype(str).to_numpy()
    auto = (edges["assigned_by"] != "manual").to_numpy() & (major >= 0)
    now = np.where(major >= 0, codes[np.maximum(major, 0)], None)
    moved = auto & (edges["grid_code"].to_numpy() != now)
    if moved.any():
        edges.loc[moved, "reason"] = [f"自动：随修复并入网格 {c}" for c in now[moved]]
        edges.loc[moved, "grid_code"] = now[moved]
    return edges


#: Words in the grid engine's reasons for a grid that no re-cut can bring into range.
_PHYSICAL_REASONS = ("cannot be split", "isolated")


def _rebalance_pushed(
    first: FixPlan,
    pushed: list[str],
    findings: Findings,
    rule: str,
    t: Thresholds,
    time_limit: float,
) -> FixPlan:
    """Re-cut the grids the repairs pushed out of range, with their neighbours, locally.

    The pushed grids and the grids sharing a border with them form a region; the
    region is cut into blocks along roads, walls, compounds, lanes and building
    cells (:func:`planner.blocks.build_faces`) and re-partitioned from the grids
    it holds (:func:`planner.grids.plan_grids`, which moves as few households as it
    can). Grids outside the region are not touched; grids of the region that
    survive keep their codes, a grid split off gets the next free code. A final
    pass of the topology repairs makes the new grids meet the untouched ones exactly.
    """
    from planner.blocks import build_faces
    from planner.grids import grid_frame, plan_grids

    plan = first.plan
    crs = plan.crs
    grids = first.grids.reset_index(drop=True)
    codes = grids["grid_code"].astype(str).to_numpy()
    geoms = grids.geometry.to_numpy()
    hit = np.flatnonzero(np.isin(codes, pushed))
    q, j = shapely.STRtree(geoms).query(geoms[hit], predicate="intersects")
    border = shapely.length(
        shapely.intersection(shapely.boundary(geoms[hit[q]]), shapely.boundary(geoms[j]))
    )
    region = np.unique(np.concatenate([hit, j[border >= 1.0]]))
    area = shapely.coverage_union_all(geoms[region])
    buildings = first.buildings
    mine = buildings[buildings["grid_code"].isin(codes[region]).to_numpy()]

    def near(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
        if frame is None or frame.empty:
            return gpd.GeoDataFrame(geometry=[], crs=crs)
        return frame.iloc[shapely.STRtree(frame.geometry.to_numpy()).query(area)]

    faces = build_faces(
        gpd.GeoDataFrame(geometry=[area], crs=crs),
        mine,
        near(plan.roads),
        near(plan.barriers),
        near(plan.compounds),
    )
    pairs = overlay_pairs(faces.geometry, geoms[region])
    face_label = _majority(pairs, len(faces.geometry))
    cut = plan_grids(
        faces,
        min_households=t.min_households,
        max_households=t.max_households,
        initial_faces=face_label,
        time_limit=time_limit,
    )
    new = grid_frame(cut, crs)
    labels = cut.result.labels if cut.result.labels is not None else np.arange(len(new))
    # Where each new grid came from: the region grid holding most of its faces.
    grid_of_face = cut.result.assignment[cut.units.face_unit]
    origin = (
        pd.DataFrame({"g": grid_of_face, "o": face_label, "a": faces.area})
        .query("o >= 0")
        .groupby(["g", "o"], as_index=False)["a"]
        .sum()
        .sort_values(["g", "a"], ascending=[True, False])
        .drop_duplicates("g")
        .set_index("g")["o"]
    )
    used = set(codes)
    kept: set[int] = set()
    rows = []
    for g, label in enumerate(labels):
        if 0 <= label < len(region) and int(label) not in kept:
            kept.add(int(label))
            row = grids.iloc[region[label]].copy()
        else:
            row = grids.iloc[region[int(origin.get(g, 0))]].copy()
            row["grid_code"] = _next_code(str(row["grid_code"]), used)
            row["name"] = f"{row['grid_code']}(新)"
            used.add(row["grid_code"])
        reason = cut.reasons[g]
        physical = isinstance(reason, str) and any(w in reason for w in _PHYSICAL_REASONS)
        row["flag"] = reason if physical else None
        row["geometry"] = new.geometry.iloc[g]
        rows.append(row)
    recut = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    rest = grids.drop(index=region)
    combined = gpd.GeoDataFrame(
        pd.concat([rest, recut], ignore_index=True), geometry="geometry", crs=crs
    )
    middle = replace(
        plan,
        grids=combined,
        edge_areas=_follow(first.edge_areas, combined, crs)
        if len(first.edge_areas)
        else first.edge_areas,
    )
    second = _fix_geometry(middle, check_plan(middle, thresholds=t), rule, t)
    return _combine(first, second, region, pushed, findings, t)


def _next_code(code: str, used: set[str]) -> str:
    """The next free code after ``code`` in its zone (``...NNN``), or ``code-2``, ``code-3``…"""
    head, tail = code.rstrip("0123456789"), code[len(code.rstrip("0123456789")) :]
    width = max(len(tail), 3)
    number = 1
    while True:
        candidate = f"{head}{number:0{width}d}" if tail else f"{code}-{number + 1}"
        if candidate not in used:
            return candidate
        number += 1


def _combine(
    first: FixPlan,
    second: FixPlan,
    region: np.ndarray,
    pushed: list[str],
    findings: Findings,
    t: Thresholds,
) -> FixPlan:
    """One plan of repairs from the topology pass, the local re-cut and the final pass."""
    crs = first.plan.crs
    old = first.grids.reset_index(drop=True).iloc[region]
    final = second.grids.reset_index(drop=True)
    old_codes = old["grid_code"].astype(str).to_numpy()
    new_codes = final["grid_code"].astype(str).to_numpy()
    original = findings.households
    added = sorted(set(new_codes) - set(original.index))
    removed = sorted(set(original.index) - set(new_codes))
    # Re-cut moves: pieces of the region changing grid, with the households in them.
    pairs = overlay_pairs(old.geometry.to_numpy(), final.geometry.to_numpy())
    pairs = pairs[
        (old_codes[pairs["i"]] != new_codes[pairs["j"]]) & (pairs["area"] >= t.area_tolerance_m2)
    ]
    b_from = first.buildings["grid_code"].astype(object).to_numpy()
    b_to = second.buildings["grid_code"].astype(object).to_numpy()
    hh = first.buildings["households"].to_numpy(dtype=float)
    moved = pd.DataFrame({"from": b_from, "to": b_to, "hh": hh})
    moved = moved[moved["from"] != moved["to"]].groupby(["from", "to"])["hh"].sum()
    names = ", ".join(pushed)
    rows = []
    for i, j, a in zip(pairs["i"], pairs["j"], pairs["area"], strict=True):
        src, dst = old_codes[i], new_codes[j]
        piece = _polygonal(
            np.array([shapely.intersection(old.geometry.iloc[i], final.geometry.iloc[j])])
        )[0]
        why = (
            f"修复后网格 {names} 户数超出 {t.min_households}-{t.max_households}，"
            "与相邻网格沿道路、围墙、楼栋局部重新划分"
        )
        if dst in added:
            why += f"，新增网格 {dst}"
        rows.append(
            {
                "kind": "rebalance",
                "to_grid": dst,
                "from_grids": [src],
                "area_m2": float(a),
                "households": int(round(moved.get((src, dst), 0))),
                "ref": None,
                "reason": why,
                "geometry": piece,
            }
        )
    recut = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*first.proposals.columns]), geometry="geometry", crs=crs
    )
    proposals = pd.concat(
        [p for p in (first.proposals, recut, second.proposals) if len(p)] or [first.proposals],
        ignore_index=True,
    )
    codes = [*original.index.astype(str), *added]
    after = pd.Series(final["households"].to_numpy(), index=new_codes)
    per_grid = pd.DataFrame(
        {
            "grid_code": codes,
            "households_before": original.reindex(codes).fillna(0).astype(int).to_numpy(),
            "households_after": after.reindex(codes).fillna(0).astype(int).to_numpy(),
        }
    )
    per_grid["change"] = per_grid["households_after"] - per_grid["households_before"]
    unresolved = [*first.unresolved, *second.unresolved]
    hh_after = after.reindex(pushed).dropna()
    flags = final.set_index("grid_code")["flag"]
    for code, n in hh_after.items():
        if _off_range(np.array([n]), t)[0] > 0 and _blank(flags.reindex([code]))[0]:
            unresolved.append(
                f"grid {code} still has {int(n)} households after re-cutting it with its "
                "neighbours; run `planner rebalance` to rebalance the whole plan"
            )
    return FixPlan(
        plan=first.plan,
        proposals=gpd.GeoDataFrame(proposals, geometry="geometry", crs=crs),
        grids=second.grids,
        buildings=second.buildings,
        edge_areas=second.edge_areas,
        per_grid=per_grid,
        removed=removed,
        unresolved=unresolved,
        rule=first.rule,
        rounding=first.rounding + second.rounding,
        added=added,
    )


def propose_fixes(
    store: Store,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    rule: str = config.FIX_RULE,
    thresholds: Thresholds | None = None,
) -> FixPlan:
    """Propose repairs for the findings of a grid layer, without writing anything.

    Gaps go to the neighbour sharing the longest border (``rule="longest_border"``)
    or to the neighbour with the fewest households (``"fewer_households"``);
    overlaps go to one of their grids by the same rule; a cut building goes
    wholly to the grid holding most of it (the boundary moves around it); edge
    areas go wholly to their grid (unassigned ones are assigned first, by the
    rule; one assigned to a grid it does not touch is left where it lies and
    reported); orphan pieces of a grid and slivers join the neighbour by the rule;
    parts outside the community are clipped. Households, the 四维测评 figures and
    staffing are recomputed. A grid these repairs push (further) out of the
    household range is re-cut together with the grids sharing its border, moving
    as few households as possible (proposals of kind ``rebalance``); grids out of
    range only because of one building too large to split get that reason as
    their ``flag``.

    Returns
    -------
    FixPlan
    """
    t = thresholds or Thresholds()
    plan = load_plan(store, layer=layer, scenario=scenario)
    return plan_fixes(plan, check_plan(plan, thresholds=t), rule=rule, thresholds=t)


def apply_fixes(
    store: Store,
    fixes: FixPlan | None = None,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    rule: str = config.FIX_RULE,
    thresholds: Thresholds | None = None,
) -> tuple[FixPlan, Findings]:
    """Apply repairs in one all-or-nothing write and record each in the change log.

    Writes the repaired grids (with their 四维测评 figures and staffing), and for
    the current plan (layer ``grids``) ``buildings.grid_code``, ``blocks.grid_code``
    (the grid holding most of each block) and the zones (households, grids and
    outline per zone), the edge areas and the findings of a re-check, so every
    layer agrees; one change-log entry per repair says what moved, where to, and why.

    Returns
    -------
    (FixPlan, Findings)
        What was applied, and the check of the result.
    """
    t = thresholds or Thresholds()
    fixes = fixes or propose_fixes(store, layer=layer, scenario=scenario, rule=rule, thresholds=t)
    plan = fixes.plan
    after = replace(plan, grids=fixes.grids, buildings=fixes.buildings, edge_areas=fixes.edge_areas)
    findings = check_plan(after, thresholds=t)
    if fixes.empty:
        return fixes, findings
    log = [
        {
            "layer": plan.layer,
            "action": f"fix {row.kind}",
            "detail": {
                "to_grid": row.to_grid if isinstance(row.to_grid, str) else None,
                "from_grids": list(row.from_grids),
                "area_m2": round(float(row.area_m2), 1),
                "households": int(row.households),
                "ref": row.ref if isinstance(row.ref, str) else None,
                "rule": fixes.rule,
            },
            "reason": row.reason,
        }
        for row in fixes.proposals.itertuples(index=False)
    ]
    log += [
        {
            "layer": plan.layer,
            "action": "remove grid",
            "detail": {"grid_code": code},
            "reason": "网格全部并入相邻网格（碎片或重复）",
        }
        for code in fixes.removed
    ]
    log += [
        {
            "layer": plan.layer,
            "action": "add grid",
            "detail": {"grid_code": code},
            "reason": "修复后户数超出范围的网格与相邻网格局部重新划分，拆出新网格",
        }
        for code in fixes.added
    ]
    grids = fixes.grids.to_crs(STORAGE_CRS)
    grids["geometry"] = _valid_lonlat(grids.geometry.to_numpy())
    if plan.others is not None and len(plan.others):
        grids = pd.concat([plan.others.to_crs(STORAGE_CRS), grids], ignore_index=True)
    frames: dict[str, Any] = {plan.layer: gpd.GeoDataFrame(grids, crs=STORAGE_CRS)}
    if plan.layer == "grids" and len(fixes.buildings):
        frames["buildings"] = fixes.buildings
        log.append(
            {
                "layer": "buildings",
                "action": "set grid_code",
                "detail": {"rule": "majority"},
                "reason": "网格修复后重算楼栋所属网格",
            }
        )
    if plan.layer == "grids":
        blocks = _blocks_following(store, fixes.grids)
        if blocks is not None:
            frames["blocks"] = blocks
            log.append(
                {
                    "layer": "blocks",
                    "action": "set grid_code",
                    "detail": {"rule": "majority"},
                    "reason": "网格修复后重算地块所属网格",
                }
            )
        zones = _zones_following(store, plan.grids, fixes.grids)
        if zones is not None:
            frames["zones"] = zones
            log.append(
                {
                    "layer": "zones",
                    "action": "update",
                    "detail": {"zones": int(len(zones))},
                    "reason": "网格修复后重算片区户数、网格数和范围",
                }
            )
    if len(fixes.edge_areas):
        frames["edge_areas"] = fixes.edge_areas
    frames["findings"] = _merged_findings(store, findings)
    store.write_many(frames, log=log)
    return fixes, findings


def _blocks_following(store: Store, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """The ``blocks`` layer with each block's grid: the grid holding most of it."""
    if not store.has("blocks") or store.count("blocks") == 0:
        return None
    blocks = store.read_metric("blocks")
    pairs = overlay_pairs(blocks.geometry.to_numpy(), grids.geometry.to_numpy())
    major = _majority(pairs, len(blocks))
    codes = grids["grid_code"].astype(str).to_numpy()
    blocks["grid_code"] = np.where(major >= 0, codes[np.maximum(major, 0)], None)
    return blocks


def _zones_following(
    store: Store, before: gpd.GeoDataFrame, grids: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """Zones (片区) recomputed from their grids; zones no grid names are kept as they are.

    A zone whose grids all went away is dropped; a zone code grids carry but the
    layer lacks is added.
    """
    named = set(before["zone_code"].dropna().astype(str)) | set(
        grids["zone_code"].dropna().astype(str)
    )
    named = {z for z in named if z.strip()}
    if not named:
        return None
    zones = store.read_metric("zones")
    known = zones["zone_code"].astype(str)
    rows = []
    mine = grids["zone_code"].fillna("").astype(str).isin(named).to_numpy()
    for code, part in grids[mine].groupby("zone_code"):
        old = zones[known == str(code)]
        digits = str(code)[-2:]
        name = old["name"].iloc[0] if len(old) else None
        rows.append(
            {
                "zone_code": str(code),
                "name": name or (f"第{int(digits)}片区" if digits.isdigit() else str(code)),
                "households": int(part["households"].sum()),
                "grids": int(len(part)),
                "geometry": shapely.coverage_union_all(part.geometry.to_numpy()),
            }
        )
    kept = zones[~known.isin(named).to_numpy()]
    fresh = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["zone_code", "name", "households", "grids", "geometry"]),
        geometry="geometry",
        crs=grids.crs,
    )
    out = pd.concat([kept.to_crs(grids.crs), fresh], ignore_index=True) if len(kept) else fresh
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=grids.crs).to_crs(STORAGE_CRS)
    out = out.sort_values("zone_code").reset_index(drop=True)
    out["geometry"] = _valid_lonlat(out.geometry.to_numpy())
    return out


def _valid_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Repair the rare polygon that projection to lon/lat made self-touching."""
    geoms = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = _polygonal(shapely.make_valid(geoms[bad]))
    return geoms


def _merged_findings(store: Store, findings: Findings) -> gpd.GeoDataFrame:
    frame = findings.to_frame()
    old = store.read("findings")
    if len(old) and "layer" in old:
        keep = ~((old["layer"] == findings.layer) & _same(old["scenario"], findings.scenario))
        old = old[keep.to_numpy()]
        if len(old):
            if not isinstance(old, gpd.GeoDataFrame) or old.crs is None:
                old = gpd.GeoDataFrame(old, geometry="geometry", crs=STORAGE_CRS)
            frame = pd.concat([old.to_crs(STORAGE_CRS), frame], ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS)


def check_and_fix(
    store: Store, *, progress: Progress = no_progress, rule: str = config.FIX_RULE
) -> dict[str, Any]:
    """Demo step: detect and assign edge areas, check the grids, fix, check again.

    Without grids only the edge areas are detected. The findings of the last
    check are written to the ``findings`` layer.

    Returns
    -------
    dict
        ``edge_areas`` (counts), ``before`` and ``after`` (totals of the checks),
        ``fixes`` (number applied), ``households_moved``, ``clean``.
    """
    from planner.edges import update_edge_areas

    has_grids = store.has("grids") and store.count("grids") > 0
    progress("edge areas")
    report: dict[str, Any] = {"edge_areas": update_edge_areas(store, assign=has_grids, rule=rule)}
    if not has_grids:
        report["note"] = "no grids: edge areas detected, check skipped"
        return report
    progress("check")
    before = check(store)
    report["before"] = before.totals()
    after = before
    report["fixes"] = 0
    if not before.clean:
        progress("fix")
        fixes, after = apply_fixes(store, rule=rule)
        moved = fixes.to_json()
        report["fixes"] = len(moved["proposals"])
        report["households_moved"] = moved["households_moved"]
        report["unresolved"] = moved["unresolved"]
    else:
        save_findings(store, before)
    report["after"] = after.totals()
    report["clean"] = after.clean
    return report
