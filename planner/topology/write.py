"""Writing repairs to the store: proposals, the one all-or-nothing apply, the findings layer.

:func:`apply_fixes` writes the repaired grids with everything that depends on
them — buildings' grids, blocks' grids, zones, edge areas, the findings of a
re-check — in one write, one change-log entry per repair. :func:`check_and_fix`
is the demo's topology step; :func:`propose_check_and_fix` computes what it would
write as a :class:`~planner.plan_versions.PlanProposal`, writing nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.crs import STORAGE_CRS
from planner.edge_areas import refreshed_edge_areas, update_edge_areas
from planner.geometry import blank, polygonal_parts
from planner.plan_commit import commit_plan
from planner.plan_versions import PlanProposal, current_version
from planner.progress import Progress, no_progress
from planner.settings import settings
from planner.topology.checks import Findings, check, check_plan
from planner.topology.fixes import FixPlan, move_fields
from planner.topology.plan import Thresholds, load_plan
from planner.topology.recut import plan_fixes

if TYPE_CHECKING:
    from planner.store import Store

__all__ = [
    "apply_fixes",
    "check_and_fix",
    "propose_check_and_fix",
    "propose_fixes",
    "save_findings",
]


def save_findings(store: Store, findings: Findings) -> int:
    """Write ``findings`` to the store's ``findings`` layer (other layers' findings kept)."""
    store.write("findings", _merged_findings(store, findings))
    return sum(findings.counts().values())


def propose_fixes(
    store: Store,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    rule: str | None = None,
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
    rule = settings.topology.fix_rule if rule is None else rule
    t = thresholds or Thresholds()
    plan = load_plan(store, layer=layer, scenario=scenario)
    return plan_fixes(plan, check_plan(plan, thresholds=t), rule=rule, thresholds=t)


def apply_fixes(
    store: Store,
    fixes: FixPlan | None = None,
    *,
    layer: str = "grids",
    scenario: str | None = None,
    rule: str | None = None,
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
    rule = settings.topology.fix_rule if rule is None else rule
    t = thresholds or Thresholds()
    fixes = fixes or propose_fixes(store, layer=layer, scenario=scenario, rule=rule, thresholds=t)
    plan = fixes.plan
    after = replace(plan, grids=fixes.grids, buildings=fixes.buildings, edge_areas=fixes.edge_areas)
    findings = check_plan(after, thresholds=t)
    if fixes.empty:
        return fixes, findings
    log = _fix_log(fixes)
    grids = fixes.grids.to_crs(STORAGE_CRS)
    grids["geometry"] = _valid_lonlat(grids.geometry.to_numpy())
    if plan.others is not None and len(plan.others):
        grids = pd.concat([plan.others.to_crs(STORAGE_CRS), grids], ignore_index=True)
    grids = gpd.GeoDataFrame(grids, crs=STORAGE_CRS)
    edge_areas = fixes.edge_areas if len(fixes.edge_areas) else None
    also = {"findings": _merged_findings(store, findings)}
    if plan.layer == "grids":
        # Figures and staffing come with the fixer's grids; the rest follows them.
        commit_plan(
            store,
            grids,
            log=log,
            buildings=fixes.buildings if len(fixes.buildings) else None,
            edge_areas=edge_areas,
            also=also,
            reassess=False,
        )
    else:
        frames: dict[str, Any] = {plan.layer: grids, **also}
        if edge_areas is not None:
            frames["edge_areas"] = edge_areas
        store.write_many(frames, log=log)
    return fixes, findings


def _fix_log(fixes: FixPlan) -> list[dict[str, Any]]:
    """One change-log entry per repair, removed grid and added grid."""
    layer = fixes.plan.layer
    log = [
        {
            "layer": layer,
            "action": f"fix {row.kind}",
            "detail": {**move_fields(row), "rule": fixes.rule},
            "reason": row.reason,
        }
        for row in fixes.proposals.itertuples(index=False)
    ]
    log += [
        {
            "layer": layer,
            "action": "remove grid",
            "detail": {"grid_code": code},
            "reason": "网格全部并入相邻网格（碎片或重复）",
        }
        for code in fixes.removed
    ]
    log += [
        {
            "layer": layer,
            "action": "add grid",
            "detail": {"grid_code": code},
            "reason": "修复后户数超出范围的网格与相邻网格局部重新划分，拆出新网格",
        }
        for code in fixes.added
    ]
    return log


def _valid_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Repair the rare polygon that projection to lon/lat made self-touching."""
    geoms = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = polygonal_parts(shapely.make_valid(geoms[bad]))
    return geoms


def _merged_findings(store: Store, findings: Findings) -> gpd.GeoDataFrame:
    """The ``findings`` layer with this plan's findings replaced by ``findings``."""
    frame = findings.to_frame()
    old = store.read("findings")
    if len(old) and "layer" in old:
        same = old["layer"] == findings.layer
        if findings.scenario is None:
            same &= blank(old["scenario"])
        else:
            same &= old["scenario"] == findings.scenario
        keep = ~same
        old = old[keep.to_numpy()]
        if len(old):
            if not isinstance(old, gpd.GeoDataFrame) or old.crs is None:
                old = gpd.GeoDataFrame(old, geometry="geometry", crs=STORAGE_CRS)
            frame = pd.concat([old.to_crs(STORAGE_CRS), frame], ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS)


def check_and_fix(
    store: Store, *, progress: Progress = no_progress, rule: str | None = None
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
    rule = settings.topology.fix_rule if rule is None else rule
    has_grids = store.has("grids") and store.count("grids") > 0
    progress("edge areas")
    grids = load_plan(store).grids if has_grids else None
    report: dict[str, Any] = {
        "edge_areas": update_edge_areas(store, assign=has_grids, grids=grids, rule=rule)
    }
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


def propose_check_and_fix(
    store: Store, *, progress: Progress = no_progress, rule: str | None = None
) -> PlanProposal | None:
    """What :func:`check_and_fix` would write, as a proposed plan; nothing is written.

    Edge areas detected and assigned, the plan checked and repaired, the repaired plan
    checked again — all in memory. The proposal's ``report`` is :func:`check_and_fix`'s.

    Returns
    -------
    PlanProposal or None
        None when the store has no grids (only edge areas would be detected: run
        :func:`check_and_fix`).
    """
    rule = settings.topology.fix_rule if rule is None else rule
    if not store.has("grids") or store.count("grids") == 0:
        return None
    t = Thresholds()
    base_version = current_version(store)
    plan = load_plan(store)
    progress("edge areas")
    edges, edge_report, log = refreshed_edge_areas(store, grids=plan.grids, rule=rule)
    plan = replace(plan, edge_areas=edges.to_crs(plan.crs))
    progress("check")
    before = check_plan(plan, thresholds=t)
    report: dict[str, Any] = {"edge_areas": edge_report, "before": before.totals(), "fixes": 0}
    after, grids, buildings = before, plan.grids, None
    if not before.clean:
        progress("fix")
        fixes = plan_fixes(plan, before, rule=rule, thresholds=t)
        repaired = replace(
            plan, grids=fixes.grids, buildings=fixes.buildings, edge_areas=fixes.edge_areas
        )
        after = check_plan(repaired, thresholds=t)
        moved = fixes.to_json()
        report["fixes"] = len(moved["proposals"])
        report["households_moved"] = moved["households_moved"]
        report["unresolved"] = moved["unresolved"]
        if not fixes.empty:
            log += _fix_log(fixes)
            grids = fixes.grids
            buildings = fixes.buildings if len(fixes.buildings) else None
            if len(fixes.edge_areas):
                edges = fixes.edge_areas
    report["after"] = after.totals()
    report["clean"] = after.clean
    grids = grids.to_crs(STORAGE_CRS)
    grids["geometry"] = _valid_lonlat(grids.geometry.to_numpy())
    if plan.others is not None and len(plan.others):
        grids = pd.concat([plan.others.to_crs(STORAGE_CRS), grids], ignore_index=True)
    return PlanProposal(
        analysis="check_and_fix",
        store=store,
        base_version=base_version,
        grids=gpd.GeoDataFrame(grids, crs=STORAGE_CRS),
        commit={
            "buildings": buildings,
            "edge_areas": edges,
            "also": {"findings": _merged_findings(store, after)},
            "reassess": False,
        },
        log=log,
        report=report,
    )
