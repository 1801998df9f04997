"""The one commit path of the plan: new grids in, every dependent layer updated, one write.

Every change of the plan — ``planner grids``, ``planner rebalance --apply``, the
topology fixes, a rollback, the web jobs and the editor — ends in
:func:`commit_plan`. Given the new ``grids`` layer it brings along, in the same
all-or-nothing write (and the same plan version):

- buildings' ``grid_code`` (the grid holding most of each footprint),
- blocks' ``grid_code`` (the grid holding most of each block),
- the grids' 四维测评 figures and staffing (:func:`planner.assess.assess`),
- the zones (片区: households, grid count and outline per zone),
- the edge areas (边缘地带): automatic assignments follow the new grids, manual
  and settled ones are kept; their building and household counts are refreshed.

Coverage per grid needs nothing stored: it is read from the buildings'
``covered`` and ``grid_code``, which this keeps current.

Only rows that changed are written where a layer already exists (a one-grid edit
rewrites a few rows, not the layer), and the write is refused with
:class:`~planner.errors.ConflictError` if any layer this store object read has
changed since (no lost update).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.assess import ASSESS_FIELDS, assess
from planner.crs import STORAGE_CRS
from planner.edge_areas import _count as count_edge_areas
from planner.edge_areas import assign_edge_areas
from planner.geometry import blank, majority, overlay_pairs
from planner.progress import Progress, no_progress
from planner.settings import settings

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from planner.store import Store

__all__ = [
    "commit_plan",
    "current_rows",
    "holder_codes",
    "reassign_edge_areas",
    "zones_from_grids",
]

#: Changed rows are written as rows while they are at most this share of a layer;
#: beyond it the layer is replaced whole (cheaper, and one base in the plan history).
ROWS_SHARE = 0.5


def current_rows(grids: pd.DataFrame) -> np.ndarray:
    """True for the grids of the current plan (no ``scenario``)."""
    if "scenario" not in grids:
        return np.ones(len(grids), dtype=bool)
    return blank(grids["scenario"])


def zones_from_grids(
    grids: gpd.GeoDataFrame, old: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Zones (片区) from the current grids: households, grid count and outline per zone.

    A zone keeps its name from ``old`` where it had one; a zone no grid names is dropped.
    """
    names = {}
    if old is not None and len(old):
        names = {
            str(c): n
            for c, n in zip(old["zone_code"], old["name"], strict=True)
            if isinstance(n, str) and n.strip()
        }
    rows = []
    current = grids[current_rows(grids) & ~blank(grids["zone_code"])]
    for code, part in current.groupby(current["zone_code"].astype(str), sort=True):
        digits = code[-2:]
        rows.append(
            {
                "zone_code": code,
                "name": names.get(code) or (f"第{int(digits)}片区" if digits.isdigit() else code),
                "households": int(pd.to_numeric(part["households"]).fillna(0).sum()),
                "grids": int(len(part)),
                "geometry": _union(part.geometry.to_numpy()),
            }
        )
    frame = pd.DataFrame(rows, columns=["zone_code", "name", "households", "grids", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=grids.crs)


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Outline of grids: the fast coverage union, or a full union where the grids
    (hand-edited) do not form an exact coverage."""
    try:
        outline = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        # Grids not noded alike (a repair cut one of them, a split put new vertices on a
        # border its neighbour lacks) make GEOS refuse; only the full union takes them.
        return shapely.union_all(geoms)
    return outline if shapely.is_valid(outline) else shapely.union_all(geoms)


def commit_plan(
    store: Store,
    grids: gpd.GeoDataFrame,
    *,
    log: Iterable[Mapping[str, Any]],
    buildings: gpd.GeoDataFrame | None = None,
    blocks: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    edge_areas: gpd.GeoDataFrame | None = None,
    also: Mapping[str, pd.DataFrame] | None = None,
    metadata: Mapping[str, Any] | None = None,
    reassess: bool = True,
    code_buildings: bool | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Write a new plan with everything that follows from it, in one write.

    Parameters
    ----------
    store
        The store; the layers it read before (e.g. the grids edited) are checked for
        changes by others at the write.
    grids
        The whole new ``grids`` layer (current plan and scenario rows), any CRS.
    log
        Change-log entries of the change itself; entries for the dependents are added.
    buildings, blocks
        The layers with their ``grid_code`` already set (``planner grids`` knows them
        from its cut); None: each takes the grid holding most of it.
    code_buildings
        Give the ``buildings`` passed the grid holding most of each (new figures from an
        edit, on a plan whose grids also moved); by default only when none are passed.
    zones
        The zones; None: recomputed from the grids (:func:`zones_from_grids`).
    edge_areas
        The edge areas; None: the store's, automatic assignments re-made for the new
        grids (manual and settled ones kept).
    also
        Other layers to replace in the same write (findings, scenario layers...).
    metadata
        Metadata keys to update in the same write.
    reassess
        Recompute the grids' 四维测评 figures and staffing from the buildings.
    progress
        Callback told of each stage.

    Returns
    -------
    dict
        ``plan_version``, and per dependent layer the rows that changed:
        ``buildings_changed``, ``blocks_changed``, ``edge_areas_reassigned``, ``zones``.
    """
    # Layers are written in the CRS they were read or given in (no round trip through
    # the metric CRS, which would move vertices); measuring uses metric copies.
    metric = store.metric_crs
    grids = gpd.GeoDataFrame(grids).reset_index(drop=True)
    current = current_rows(grids)
    plan = grids[current].to_crs(metric)
    entries = [dict(e) for e in log]
    report: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    stored: dict[str, pd.DataFrame] = {}  # layers as read, to find the rows that changed

    progress("buildings and blocks follow the grids")
    if code_buildings is None:
        code_buildings = buildings is None
    if buildings is None:
        buildings = store.read("buildings")
        stored["buildings"] = buildings.copy()
    if code_buildings and len(buildings):
        buildings = buildings.copy()
        buildings["grid_code"] = holder_codes(buildings.to_crs(metric).geometry.to_numpy(), plan)
    frames["buildings"] = buildings
    if blocks is None and store.has("blocks"):
        blocks = store.read("blocks")
        stored["blocks"] = blocks.copy()
        if len(blocks):
            blocks["grid_code"] = holder_codes(blocks.to_crs(metric).geometry.to_numpy(), plan)
    if blocks is not None:
        frames["blocks"] = blocks

    if reassess and len(plan):
        progress("assess grids")
        assessed = assess(plan, buildings)
        for field in ASSESS_FIELDS:
            grids.loc[current, field] = assessed[field].to_numpy()
    frames["grids"] = grids
    if zones is None:
        stored["zones"] = store.read("zones")
        zones = zones_from_grids(grids, stored["zones"])
    frames["zones"] = zones

    progress("edge areas follow the grids")
    if edge_areas is None and store.has("edge_areas"):
        edge_areas = store.read("edge_areas")
        stored["edge_areas"] = edge_areas.copy()
        if len(edge_areas):
            edge_areas, report["edge_areas_reassigned"] = reassign_edge_areas(edge_areas, plan)
    if edge_areas is not None:
        counted = count_edge_areas(edge_areas.to_crs(metric), buildings.to_crs(metric))
        edge_areas = edge_areas.copy()
        for field in ("buildings", "households", "area_m2"):
            edge_areas[field] = counted[field].to_numpy()
        frames["edge_areas"] = edge_areas

    progress("write the plan")
    replace, rows, deleted = {}, {}, {}
    for name, frame in frames.items():
        delta = _delta(store, name, frame, stored.get(name))
        if delta is None:
            replace[name] = frame
            report[f"{name}_changed"] = int(len(frame))
        else:
            changed, gone = delta
            if len(changed):
                rows[name] = changed
            if gone:
                deleted[name] = gone
            report[f"{name}_changed"] = int(len(changed) + len(gone))
    entries += _dependent_log(report)
    store.write_many(
        {**replace, **(also or {})}, rows=rows, deleted=deleted, log=entries, metadata=metadata
    )
    report["plan_version"] = int(store.metadata.get("plan_version", 0))
    report["zones"] = int(len(frames["zones"]))
    return report


def holder_codes(geoms: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Code of the grid holding most of each geometry (None: outside every grid)."""
    codes = grids["grid_code"].astype(str).to_numpy()
    if not len(codes):
        return np.full(len(geoms), None, dtype=object)
    major = majority(overlay_pairs(geoms, grids.geometry.to_numpy()), len(geoms))
    return np.where(major >= 0, codes[np.maximum(major, 0)], None)


def reassign_edge_areas(
    edges: gpd.GeoDataFrame, grids: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, int]:
    """Automatic assignments re-made for new grids (metric); manual and settled ones kept.

    An automatic edge area still lying in its grid keeps it; the others are assigned
    afresh by the fix rule (:func:`planner.edge_areas.assign_edge_areas`). A commit does
    this when it is given no edge areas; the editor's preview does it too, so the live
    rules see what the save will write. Returns the edge areas and how many changed.
    """
    edges = schema.conform("edge_areas", edges)
    measured = edges.to_crs(grids.crs)
    geoms = measured.geometry.to_numpy()
    keep = (edges["assigned_by"].astype(str) == "manual").to_numpy() | ~blank(edges["agreement_by"])
    within = 1 - settings.topology.edge_min_share
    holder = np.full(len(edges), None, dtype=object)
    if len(grids):
        pairs = overlay_pairs(geoms, grids.geometry.to_numpy())
        share = pairs["area"].to_numpy() / np.maximum(shapely.area(geoms)[pairs["i"]], 1e-9)
        whole = pairs[share >= within]
        holder[whole["i"].to_numpy()] = grids["grid_code"].astype(str).to_numpy()[whole["j"]]
    old = edges["grid_code"].astype(object).where(~blank(edges["grid_code"]), None).to_numpy()
    measured.loc[~keep & (holder != old), "grid_code"] = None
    measured = assign_edge_areas(measured, grids)
    for field in ("grid_code", "assigned_by", "reason"):
        edges[field] = np.where(keep, edges[field].to_numpy(), measured[field].to_numpy())
    after = edges["grid_code"].astype(object).where(~blank(edges["grid_code"]), None).to_numpy()
    return edges, int((after != old).sum())


def _delta(
    store: Store, name: str, frame: pd.DataFrame, old: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, list[str]] | None:
    """Rows of ``frame`` that differ from the store's layer (``old`` if already read), and
    keys it no longer has.

    None when the layer is better replaced whole: the store lacks it, or most rows changed.
    """
    spec = schema.get_layer(name)
    key = spec.key
    if key is None or frame.empty or not store.has(name) or store.count(name) == 0:
        return None
    new = schema.conform(name, gpd.GeoDataFrame(frame).to_crs(STORAGE_CRS))
    if new[key].duplicated().any():
        return None
    old = store.read(name) if old is None else old.to_crs(STORAGE_CRS)
    old = old[~old[key].duplicated(keep="last")]
    old = old.set_index(old[key].astype(str), drop=False)
    keys = new[key].astype(str)
    known = keys.isin(old.index).to_numpy()
    same = np.zeros(len(new), dtype=bool)
    if known.any():
        before = old.loc[keys[known]].reset_index(drop=True)
        after = new[known].reset_index(drop=True)
        types = {f.name: f.type for f in spec.fields}
        # Exact: a neighbour kept with vertices a hair off the new shared border would
        # break the coverage (a projection round trip moves them by ~1e-12 degrees).
        equal = shapely.equals_exact(
            after.geometry.to_numpy(), before.geometry.to_numpy(), tolerance=0
        )
        for column in types:
            equal &= _equal(after[column], before[column], types[column])
        same[known] = equal
    changed = new[~same]
    gone = sorted(set(old.index) - set(keys))
    if len(changed) + len(gone) > ROWS_SHARE * max(len(old), 1):
        return None
    return changed, gone


def _equal(a: pd.Series, b: pd.Series, kind: str) -> np.ndarray:
    """Element-wise equality of two columns of one schema type, missing equal to missing."""
    if kind in ("float", "int"):
        x = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float)
        # Figures measured again on the same shapes differ in the last bits only.
        return np.isclose(x, y, rtol=1e-7, atol=1e-9, equal_nan=True)
    missing_a, missing_b = a.isna().to_numpy(), b.isna().to_numpy()
    text = a.astype(str).to_numpy() == b.astype(str).to_numpy()
    return (missing_a & missing_b) | (~missing_a & ~missing_b & text)


def _dependent_log(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Change-log entries for the dependents that changed."""
    reasons = {
        "buildings": "网格变更后重算楼栋所属网格",
        "blocks": "网格变更后重算地块所属网格",
        "zones": "网格变更后重算片区户数、网格数和范围",
        "edge_areas": "网格变更后自动指派的边缘地带随网格调整（手工指派、已协商的保留）",
    }
    entries = []
    for layer, reason in reasons.items():
        changed = int(report.get(f"{layer}_changed", 0))
        if changed:
            detail: dict[str, Any] = {"rows": changed}
            if layer == "edge_areas":
                detail["reassigned"] = int(report.get("edge_areas_reassigned", 0))
            entries.append(
                {"layer": layer, "action": "follow grids", "detail": detail, "reason": reason}
            )
    return entries
