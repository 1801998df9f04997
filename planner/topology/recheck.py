"""Checking an edited plan again only where it changed: the editor's live rules.

An edit in the editor moves a few blocks between two or three grids. Checking the
whole plan again after each one costs as much as the first check; :func:`recheck`
keeps the findings of the plan before the edits for everything the edits cannot
have changed, and checks again only the grids that changed (and, for overlaps and
gaps, the grids next to them), the buildings and edge areas on them. The result is
the check of the edited plan (the tests compare it with :func:`check_plan`).
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.geometry import majority, overlay_pairs
from planner.topology.boundary import boundary_on_features
from planner.topology.checks import (
    KINDS,
    Findings,
    _edge_findings,
    _gaps,
    _households,
    _outside,
    _overlaps,
    _pieces,
    _split,
    _unassigned_buildings,
    _union,
)
from planner.topology.plan import GridPlan, Thresholds

__all__ = ["recheck"]

#: Grids this close (m) to a changed one are checked again for overlaps and gaps.
_NEAR_M = 1.0


def recheck(
    before: GridPlan,
    after: GridPlan,
    base: Findings,
    touched: Iterable[str],
    *,
    thresholds: Thresholds | None = None,
) -> Findings:
    """The check of ``after``, from ``base`` (the check of ``before``) and the changes.

    Parameters
    ----------
    before, after
        The plan before and after the edits (one metric CRS, the same buildings in
        the same order, households possibly changed).
    base
        ``check_plan(before)`` with the same thresholds.
    touched
        Codes of the grids the edits reshaped, created or removed; grids holding a
        building whose households changed are added here.
    thresholds
        Tolerances; ``Thresholds()`` if None.

    Returns
    -------
    Findings
        As :func:`planner.topology.checks.check_plan` would return for ``after``
        (rows of a kind may come in another order).
    """
    t = thresholds or Thresholds()
    crs = after.crs
    grids = after.grids.reset_index(drop=True)
    geoms = grids.geometry.to_numpy()
    codes = grids["grid_code"].astype(str).to_numpy()
    tree = shapely.STRtree(geoms)
    old_codes = before.grids["grid_code"].astype(str).to_numpy()
    old_geoms = before.grids.geometry.to_numpy()
    b = after.buildings
    bgeoms = b.geometry.to_numpy()

    changed = set(touched)
    moved_households = _households_changed(before.buildings, b)
    if moved_households.any():
        pairs = overlay_pairs(bgeoms[moved_households], geoms, tree)
        held = majority(pairs, int(moved_households.sum()))
        changed |= set(codes[held[held >= 0]].tolist())
    gone = changed - set(codes.tolist())
    mine = np.isin(codes, list(changed))
    zone = shapely.union_all(
        np.concatenate([old_geoms[np.isin(old_codes, list(changed))], geoms[mine]])
    )
    frames: dict[str, gpd.GeoDataFrame] = {}

    # Overlaps and gaps: the changed grids with every grid next to them, and the gaps
    # of the plan before that the changes reach (an edit may fill or widen them).
    old_gaps = base.frames["gaps"]
    gaps_reached = shapely.dwithin(old_gaps.geometry.to_numpy(), zone, _NEAR_M)
    reach = shapely.union_all([zone, *old_gaps.geometry.to_numpy()[gaps_reached]])
    region = np.zeros(len(geoms), dtype=bool)
    region[tree.query(reach, predicate="dwithin", distance=_NEAR_M)] = True
    region |= mine
    # A grid near the changes that was invalid may be so against a grid further off:
    # bring those in too, so every near grid is checked against all its neighbours.
    checked = set(codes[region].tolist())  # each checked against all its neighbours
    was_invalid = region & np.isin(codes, base.invalid_grids) & ~mine
    if was_invalid.any():
        region[tree.query(geoms[was_invalid], predicate="dwithin", distance=_NEAR_M)[1]] = True
    near, near_codes = geoms[region], codes[region]
    near_tree = shapely.STRtree(near)
    bad = np.zeros(len(near), dtype=bool)
    if len(near):
        bad = ~shapely.is_empty(shapely.coverage_invalid_edges(near))
    overlaps = _overlaps(near, near_codes, near_tree, bad, t, crs)
    ours = np.array([bool(changed & set(g)) for g in overlaps["grids"]], dtype=bool)
    frames["overlaps"] = overlaps[ours]
    area = (
        reach
        if after.community is None
        else shapely.intersection(shapely.buffer(reach, _NEAR_M), after.community)
    )
    frames["gaps"] = _gaps(area, _union(near, bad), near_codes, near_tree, t, crs)
    # Per grid: the changed ones only.
    frames["multipart"], frames["slivers"] = _pieces(geoms[mine], codes[mine], t, crs)
    frames["outside_community"] = _outside(geoms[mine], codes[mine], after.community, t, crs)

    # Buildings on the changed grids (before or after): their grid may have changed.
    households = base.households.reindex(codes).fillna(0).astype(float)
    on = np.zeros(len(b), dtype=bool)
    if len(b):
        on[shapely.STRtree(bgeoms).query(zone, predicate="intersects")] = True
        on |= moved_households
        sub = b[on]
        pairs = overlay_pairs(bgeoms[on], geoms, tree)
        major = majority(pairs, len(sub))
        # Households per grid: the plan before's, with these buildings moved from the
        # grid that held them to the grid holding them now.
        old = before.buildings[on]
        old_major = majority(overlay_pairs(bgeoms[on], old_geoms), len(old))
        gained = pd.Series(sub["households"].to_numpy(dtype=float)[major >= 0])
        gained = gained.groupby(codes[major[major >= 0]]).sum()
        lost = pd.Series(old["households"].to_numpy(dtype=float)[old_major >= 0])
        lost = lost.groupby(old_codes[old_major[old_major >= 0]]).sum()
        delta = gained.sub(lost, fill_value=0).reindex(codes).fillna(0)
        households = households + delta.to_numpy()
        frames["split_buildings"] = _split(sub, pairs, codes, t, crs)
        frames["unassigned_buildings"] = _unassigned_buildings(sub, major, after.community, crs)
    else:
        frames["split_buildings"] = _split(b, pd.DataFrame(), codes, t, crs)
        frames["unassigned_buildings"] = _unassigned_buildings(
            b, np.empty(0, dtype=int), after.community, crs
        )
    building_ids = set(b["building_id"].astype(str).to_numpy()[on].tolist())

    # Edge areas on the changed grids, assigned to one, or assigned anew.
    edges = after.edge_areas
    edge_ids: set[str] = set()
    if len(edges):
        egeoms = edges.geometry.to_numpy()
        ids = edges["edge_id"].astype(str).to_numpy()
        assigned = edges["grid_code"].astype(object).where(edges["grid_code"].notna(), None)
        old = before.edge_areas
        old_assigned = pd.Series(
            old["grid_code"].astype(object).to_numpy(), index=old["edge_id"].astype(str)
        )
        again = (
            shapely.intersects(egeoms, zone)
            | assigned.astype(str).isin(changed | gone).to_numpy()
            | (old_assigned.reindex(ids).astype(str).to_numpy() != assigned.astype(str).to_numpy())
        )
        frames["unassigned_edge_areas"] = _edge_findings(edges[again], geoms, codes, tree, t, crs)
        edge_ids = set(ids[again].tolist())
    else:
        frames["unassigned_edge_areas"] = _edge_findings(edges, geoms, codes, tree, t, crs)

    # Out of range: the changed grids and those whose households changed.
    counted = mine | (households.to_numpy() != base.households.reindex(codes).to_numpy())
    changed_hh = set(codes[counted].tolist()) | changed
    frames["households_out_of_range"] = _households(
        grids[counted], households[counted], codes[counted], t, crs
    )
    # every community's outline is given, not drawn (as check_plan measures it)
    outline = after.community if after.outlines is None else after.outlines
    boundary = boundary_on_features(geoms[mine], codes[mine], after.features, outline, t)

    # What the changes could not reach stands as the plan before had it.
    for kind in KINDS:
        kept = base.frames[kind]
        if len(kept):
            again = changed_hh if kind == "households_out_of_range" else changed
            keep = ~kept["grids"].map(lambda g, again=again: bool(again & set(g))).to_numpy()
            if kind == "gaps":
                keep &= ~gaps_reached
            elif kind in ("split_buildings", "unassigned_buildings"):
                keep &= ~kept["ref"].astype(str).isin(building_ids).to_numpy()
            elif kind == "unassigned_edge_areas":
                keep &= ~kept["ref"].astype(str).isin(edge_ids).to_numpy()
            frames[kind] = _concat(kept[keep], frames[kind], crs)
    kept_boundary = base.boundary[~base.boundary["grid_code"].astype(str).isin(changed)]
    boundary = pd.concat([kept_boundary, boundary], ignore_index=True)
    order = pd.Series(np.arange(len(codes)), index=codes)
    boundary = boundary.iloc[np.argsort(order.reindex(boundary["grid_code"].astype(str)))]
    invalid = [c for c in base.invalid_grids if c not in checked and c not in gone]
    invalid += [c for c in near_codes[bad].tolist() if c in checked]
    return Findings(
        frames={k: frames[k] for k in KINDS},
        boundary=boundary.reset_index(drop=True),
        households=households.astype(int).rename("households"),
        coverage_valid=not invalid,
        crs=crs,
        layer=after.layer,
        scenario=after.scenario,
        notes=list(base.notes),
        invalid_grids=invalid,
    )


def _households_changed(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> np.ndarray:
    """Buildings (rows of ``after``) whose households differ from ``before``'s."""
    if len(before) != len(after) or not len(after):
        return np.zeros(len(after), dtype=bool)
    old = pd.to_numeric(before["households"], errors="coerce").fillna(0).to_numpy()
    new = pd.to_numeric(after["households"], errors="coerce").fillna(0).to_numpy()
    return old != new


def _concat(kept: gpd.GeoDataFrame, fresh: gpd.GeoDataFrame, crs: object) -> gpd.GeoDataFrame:
    if not len(kept):
        return fresh
    if not len(fresh):
        return kept.reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat([kept, fresh], ignore_index=True), crs=crs)
