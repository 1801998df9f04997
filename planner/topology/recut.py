"""Fix proposals: the topology repairs, then a local re-cut of grids they push out of range.

A grid the repairs push (further) out of the household range — say, a whole
missing grid merged into one neighbour — is re-cut with the grids sharing its
border, along roads, walls and building rows, by the grid engine
(:func:`planner.blocks.build_faces`, :func:`planner.grids.plan_grids`); grids
outside that region are not touched and grids of it keep their codes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.blocks import build_faces
from planner.errors import PlannerError
from planner.geometry import blank, majority, overlay_pairs, polygonal_parts
from planner.grids import GridCut, grid_frame, pinned_labels, plan_grids
from planner.settings import settings
from planner.topology.checks import Findings, check_plan
from planner.topology.fixes import (
    FixPlan,
    follow_grids,
    off_range,
    pushed_out_of_range,
    repair_plan,
)
from planner.topology.plan import RULES, GridPlan, Thresholds

__all__ = ["plan_fixes"]


def plan_fixes(
    plan: GridPlan,
    findings: Findings | None = None,
    *,
    rule: str | None = None,
    thresholds: Thresholds | None = None,
    rebalance: bool = True,
    time_limit: float | None = None,
) -> FixPlan:
    """Compute the repairs of ``plan`` (see :func:`planner.topology.propose_fixes`).

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
        neighbours (see :func:`planner.topology.propose_fixes`).
    time_limit
        Seconds for the partition of that re-cut.

    Returns
    -------
    FixPlan
    """
    rule = settings.topology.fix_rule if rule is None else rule
    time_limit = settings.grid.partition_time_limit if time_limit is None else time_limit
    if rule not in RULES:
        msg = f"unknown fix rule {rule!r}; choose from {', '.join(RULES)}"
        raise PlannerError(msg)
    t = thresholds or Thresholds()
    findings = findings or check_plan(plan, thresholds=t)
    first = repair_plan(plan, findings, rule, t)
    pushed = pushed_out_of_range(first, t) if rebalance else []
    if not pushed or first.buildings.empty:
        return first
    try:
        return _recut_pushed(first, pushed, findings, rule, t, time_limit)
    except (PlannerError, shapely.errors.GEOSException) as error:
        # The repairs stand on their own; a region that cannot be cut into blocks is
        # left as the repairs made it, and said so.
        first.unresolved.append(f"grids {', '.join(pushed)} could not be re-cut: {error}")
        return first


def _recut_pushed(
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
    can). Where that leaves a grid out of range for no physical reason, the region
    is widened ring by ring, up to the whole plan, and cut again. The region's edge areas are
    never split (each binds the blocks it overlaps) and those held to a grid stay
    in it. Grids outside the region are not touched; grids of the region that
    survive keep their codes, a grid split off gets the next free code. A final
    pass of the topology repairs makes the new grids meet the untouched ones exactly.
    """
    plan = first.plan
    crs = plan.crs
    grids = first.grids.reset_index(drop=True)
    region = _region(grids, pushed)
    cut, face_label = _cut_region(first, region, t, time_limit)
    codes = grids["grid_code"].astype(str).to_numpy()
    left = _mendable(cut, t, region, codes, pushed)
    ring = region
    while left > 0:
        # The ring of neighbours could not absorb it: one ring wider, up to the whole
        # plan (what `planner rebalance` would do), keeping the cut that leaves least.
        wider = _region(grids, list(codes[ring]))
        if len(wider) <= len(ring):
            break
        ring = wider
        cut_w, label_w = _cut_region(first, wider, t, time_limit)
        left_w = _mendable(cut_w, t, wider, codes, pushed)
        if left_w < left:
            region, cut, face_label, left = wider, cut_w, label_w, left_w
    recut = _recut_grids(grids, region, cut, face_label, crs)
    rest = grids.drop(index=region)
    combined = gpd.GeoDataFrame(
        pd.concat([rest, recut], ignore_index=True), geometry="geometry", crs=crs
    )
    middle = replace(
        plan,
        grids=combined,
        edge_areas=follow_grids(first.edge_areas, combined)
        if len(first.edge_areas)
        else first.edge_areas,
    )
    second = repair_plan(middle, check_plan(middle, thresholds=t), rule, t)
    return _combine(first, second, region, pushed, findings, t)


def _mendable(
    cut: GridCut, t: Thresholds, region: np.ndarray, codes: np.ndarray, pushed: list[str]
) -> float:
    """Households out of range, for no physical reason, in the grids of a cut that carry
    on the pushed grids (by their starting label) or are new."""
    off = off_range(cut.result.households, t)
    physical = np.array([r is not None and r.reason.physical for r in cut.reasons], dtype=bool)
    labels = cut.result.labels if cut.result.labels is not None else np.arange(len(off))
    known = (labels >= 0) & (labels < len(region))
    mine = ~known | np.isin(codes[region[np.where(known, labels, 0)]], pushed)
    return float(off[mine & ~physical].sum()) if len(off) else 0.0


def _region(grids: gpd.GeoDataFrame, pushed: list[str]) -> np.ndarray:
    """Indices of the pushed grids and of the grids sharing at least a metre of border."""
    codes = grids["grid_code"].astype(str).to_numpy()
    geoms = grids.geometry.to_numpy()
    hit = np.flatnonzero(np.isin(codes, pushed))
    q, j = shapely.STRtree(geoms).query(geoms[hit], predicate="intersects")
    border = shapely.length(
        shapely.intersection(shapely.boundary(geoms[hit[q]]), shapely.boundary(geoms[j]))
    )
    return np.unique(np.concatenate([hit, j[border >= 1.0]]))


def _cut_region(
    first: FixPlan, region: np.ndarray, t: Thresholds, time_limit: float
) -> tuple[GridCut, np.ndarray]:
    """Cut the region into blocks and grids, starting from the grids it holds.

    Returns the cut, and the region grid (position in ``region``) holding most of
    each face.
    """
    plan = first.plan
    crs = plan.crs
    grids = first.grids.reset_index(drop=True)
    codes = grids["grid_code"].astype(str).to_numpy()
    geoms = grids.geometry.to_numpy()
    area = shapely.coverage_union_all(geoms[region])
    buildings = first.buildings
    mine = buildings[buildings["grid_code"].isin(codes[region]).to_numpy()]

    def near(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
        if frame is None or frame.empty:
            return gpd.GeoDataFrame(geometry=[], crs=crs)
        return frame.iloc[shapely.STRtree(frame.geometry.to_numpy()).query(area)]

    # The region's edge areas (as the repairs left them, each wholly in its grid) bind
    # the units they overlap, so the re-cut cannot split one again; those held to a
    # grid by hand or by agreement stay in it.
    edges = near(first.edge_areas)
    faces = build_faces(
        gpd.GeoDataFrame(geometry=[area], crs=crs),
        mine,
        near(plan.roads),
        near(plan.barriers),
        near(plan.compounds),
        edge_areas=edges,
    )
    pairs = overlay_pairs(faces.geometry, geoms[region])
    face_label = majority(pairs, len(faces.geometry))
    cut = plan_grids(
        faces,
        min_households=t.min_households,
        max_households=t.max_households,
        initial_faces=face_label,
        pinned=pinned_labels(edges, pd.Series(codes[region])) if len(edges) else None,
        time_limit=time_limit,
    )
    return cut, face_label


def _recut_grids(
    grids: gpd.GeoDataFrame, region: np.ndarray, cut: GridCut, face_label: np.ndarray, crs: Any
) -> gpd.GeoDataFrame:
    """The new grids of the region, with codes: a surviving grid keeps its own, a grid
    split off takes the next free code after the grid most of its faces came from.

    A grid the re-cut leaves out of range for a physical reason (one building above
    the maximum, an isolated part) carries that reason as its ``flag``.
    """
    new = grid_frame(cut, crs)
    codes = grids["grid_code"].astype(str).to_numpy()
    labels = cut.result.labels if cut.result.labels is not None else np.arange(len(new))
    # Where each new grid came from: the region grid holding most of its faces.
    grid_of_face = cut.result.assignment[cut.units.face_unit]
    origin = (
        pd.DataFrame({"g": grid_of_face, "o": face_label, "a": cut.faces.area})
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
        why = cut.reasons[g]
        row["flag"] = why.text() if why is not None and why.reason.physical else None
        row["geometry"] = new.geometry.iloc[g]
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _next_code(code: str, used: set[str]) -> str:
    """The next free code after ``code`` in its zone (``...NNN``), or ``code-2``, ``code-3``…"""
    head, tail = code.rstrip("0123456789"), code[len(code.rstrip("0123456789")) :]
    if not head and len(code) > 3:
        # An all-digit hierarchical code: the zone, then the grid's three digits.
        head, tail = code[:-3], code[-3:]
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
    new_codes = final["grid_code"].astype(str).to_numpy()
    original = findings.households
    added = sorted(set(new_codes) - set(original.index))
    removed = sorted(set(original.index) - set(new_codes))
    recut = _recut_proposals(first, second, old, final, pushed, added, t)
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
        if off_range(np.array([n]), t)[0] > 0 and blank(flags.reindex([code]))[0]:
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


def _recut_proposals(
    first: FixPlan,
    second: FixPlan,
    old: gpd.GeoDataFrame,
    final: gpd.GeoDataFrame,
    pushed: list[str],
    added: list[str],
    t: Thresholds,
) -> gpd.GeoDataFrame:
    """Proposals of kind ``rebalance``: pieces of the region changing grid, with the
    households in them."""
    old_codes = old["grid_code"].astype(str).to_numpy()
    new_codes = final["grid_code"].astype(str).to_numpy()
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
        piece = polygonal_parts(
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
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*first.proposals.columns]),
        geometry="geometry",
        crs=first.plan.crs,
    )
