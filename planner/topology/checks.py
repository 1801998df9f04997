"""The nine topology checks of a grid plan and their :class:`Findings`.

A grid plan must be seamless (无缝): grids do not overlap, leave no gap inside the
community, are each one piece, do not reach outside the community, never cut a
building, and every building and edge area (边缘地带) belongs to exactly one grid.

The checks are vectorised: one ``shapely.coverage_invalid_edges`` pass answers
"no overlap" for the whole layer and narrows any overlap search (and the full
overlay of the union) to the grids with bad edges; STRtree queries pair grids
with buildings and edge areas; no loop runs over pairs of grids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.crs import STORAGE_CRS
from planner.edge_areas import touching
from planner.geometry import blank, majority, overlay_pairs, polygonal_parts
from planner.progress import Progress, no_progress
from planner.reasons import translate
from planner.topology.boundary import boundary_on_features
from planner.topology.plan import GridPlan, Thresholds, load_plan

if TYPE_CHECKING:
    from planner.store import Store

__all__ = ["KINDS", "KIND_ZH", "Findings", "check", "check_plan"]

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

_FINDING_COLUMNS = ["kind", "grids", "size", "unit", "ref", "detail", "flagged"]


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
    invalid_grids
        Codes of the grids with invalid coverage edges (none when ``coverage_valid``).
    """

    frames: dict[str, gpd.GeoDataFrame]
    boundary: pd.DataFrame
    households: pd.Series
    coverage_valid: bool
    crs: Any
    layer: str = "grids"
    scenario: str | None = None
    notes: list[str] = field(default_factory=list)
    invalid_grids: list[str] = field(default_factory=list)

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
        frame["geometry"] = polygonal_parts(frame.geometry.to_numpy())
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


def is_noise(geoms: np.ndarray, t: Thresholds) -> np.ndarray:
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


# -- the checks ---------------------------------------------------------------------


def check_plan(
    plan: GridPlan, *, thresholds: Thresholds | None = None, progress: Progress = no_progress
) -> Findings:
    """Check a grid plan; see :func:`check` for what is checked.

    Parameters
    ----------
    plan
        The grids and their context, from :func:`load_plan`.
    thresholds
        Tolerances; ``Thresholds()`` (from ``planner.settings.settings``) if None.
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
        major = majority(pairs, len(b))
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
    # Every community's outline is given, not drawn: the borders between communities too.
    outline = plan.community if plan.outlines is None else plan.outlines
    boundary = boundary_on_features(geoms, codes, plan.features, outline, t)
    return Findings(
        frames={k: frames[k] for k in KINDS},
        boundary=boundary,
        households=households.astype(int),
        coverage_valid=valid,
        crs=crs,
        layer=plan.layer,
        scenario=plan.scenario,
        notes=notes,
        invalid_grids=codes[bad].tolist(),
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


def _overlaps(
    geoms: np.ndarray,
    codes: np.ndarray,
    tree: shapely.STRtree,
    bad: np.ndarray,
    t: Thresholds,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Overlaps between grids, searched from the grids with invalid coverage edges."""
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
    inter = polygonal_parts(shapely.intersection(geoms[pairs[:, 0]], geoms[pairs[:, 1]]))
    rows: dict[str, list] = {"grids": [], "size": [], "geometry": [], "detail": []}
    parts, owner = shapely.get_parts(inter, return_index=True)
    areas = shapely.area(parts)
    noise = is_noise(parts, t)
    for p, k, area, skip in zip(parts, owner, areas, noise, strict=True):
        if skip:
            continue
        ga, gb = codes[pairs[k, 0]], codes[pairs[k, 1]]
        rows["grids"].append([ga, gb])
        rows["size"].append(area)
        rows["geometry"].append(p)
        rows["detail"].append(f"网格 {ga} 与 {gb} 重叠 {area:.0f} 平方米")
    return _frame(rows, "overlaps", crs)


def _gaps(
    area: shapely.Geometry,
    union: shapely.Geometry,
    codes: np.ndarray,
    tree: shapely.STRtree,
    t: Thresholds,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Pieces of ``area`` (the community) in no grid, with the grids around each."""
    gap = polygonal_parts(np.array([shapely.difference(area, union)]))[0]
    parts = shapely.get_parts(gap)
    parts = parts[~is_noise(parts, t)]
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


def is_thin(geoms: np.ndarray, width: float) -> np.ndarray:
    """True where a polygon is nowhere wider than ``width`` (vanishes when shrunk)."""
    if width <= 0 or len(geoms) == 0:
        return np.zeros(len(geoms), dtype=bool)
    return shapely.is_empty(shapely.buffer(geoms, -width / 2, quad_segs=2))


def _pieces(
    geoms: np.ndarray, codes: np.ndarray, t: Thresholds, crs: Any
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grids in several pieces (multipart), and pieces tiny or thin everywhere (slivers)."""
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
    thin[maybe] = is_thin(parts[maybe], t.sliver_width_m)
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


def _outside(
    geoms: np.ndarray,
    codes: np.ndarray,
    community: shapely.Geometry | None,
    t: Thresholds,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Parts of grids outside the community boundary."""
    if community is None or len(geoms) == 0:
        return _empty("outside_community", crs)
    shapely.prepare(community)
    out = np.flatnonzero(~shapely.covered_by(geoms, community))
    pieces = polygonal_parts(shapely.difference(geoms[out], community))
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
    parts = parts[~is_noise(parts, t)]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def _split(
    b: gpd.GeoDataFrame, pairs: pd.DataFrame, codes: np.ndarray, t: Thresholds, crs: Any
) -> gpd.GeoDataFrame:
    """Buildings a grid boundary cuts: a second grid holds enough of them."""
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


def _unassigned_buildings(
    b: gpd.GeoDataFrame, major: np.ndarray, community: shapely.Geometry | None, crs: Any
) -> gpd.GeoDataFrame:
    """Buildings of the community in no grid."""
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


def _edge_findings(
    edges: gpd.GeoDataFrame,
    geoms: np.ndarray,
    codes: np.ndarray,
    tree: shapely.STRtree,
    t: Thresholds,
    crs: Any,
) -> gpd.GeoDataFrame:
    """Edge areas in no grid, in a grid that does not exist, or spread over several."""
    if edges.empty:
        return _empty("unassigned_edge_areas", crs)
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
    settled = ~blank(edges["agreement_text"])
    # NaN and None alike: no grid named (a NaN would read "所属网格 nan 不存在").
    unset = np.asarray(blank(edges["grid_code"]), dtype=bool)
    rows: dict[str, list] = {"grids": [], "size": [], "ref": [], "geometry": [], "detail": []}
    for k in range(len(edges)):
        inside = lying.get(k, [])
        code = edges["grid_code"].iloc[k]
        if assigned[k] < 0:
            if disputed[k] and not settled[k]:
                why = "有争议，尚未协商确定归属"
            elif not unset[k]:
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


def _households(
    grids: gpd.GeoDataFrame, households: pd.Series, codes: np.ndarray, t: Thresholds, crs: Any
) -> gpd.GeoDataFrame:
    """Grids outside the household range (flagged when the grid carries a reason)."""
    hh = households.to_numpy()
    out = np.flatnonzero((hh < t.min_households) | (hh > t.max_households))
    flags = grids["flag"].to_numpy()
    flagged = ~blank(grids["flag"])
    details = []
    for g in out:
        side = "少于" if hh[g] < t.min_households else "多于"
        limit = t.min_households if hh[g] < t.min_households else t.max_households
        text = f"网格 {codes[g]} 有 {hh[g]:.0f} 户，{side} {limit}"
        details.append(
            text + (f"（已标注：{translate(str(flags[g]), 'zh')}）" if flagged[g] else "")
        )
    rows = {
        "grids": [[codes[g]] for g in out],
        "size": hh[out],
        "unit": ["households"] * len(out),
        "geometry": grids.geometry.to_numpy()[out],
        "detail": details,
        "flagged": flagged[out],
    }
    return _frame(rows, "households_out_of_range", crs)


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
        Tolerances; ``Thresholds()`` (from ``planner.settings.settings``) if None.
    progress
        Called with the name of each step.

    Returns
    -------
    Findings
    """
    return check_plan(
        load_plan(store, layer=layer, scenario=scenario), thresholds=thresholds, progress=progress
    )
