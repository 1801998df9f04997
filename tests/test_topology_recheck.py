"""The editor's live rules: checking an edited plan only where it changed gives the
same findings as checking it all."""

from __future__ import annotations

import json

import pytest
import shapely

from planner.plan_edit import PlanEditor
from planner.store import Store
from planner.topology.checks import KINDS, check_plan
from planner.topology.recheck import recheck


def _digest(findings) -> dict:
    out = findings.to_json(geometry=False)
    # A gap's area may differ by the rounding slivers along the community outline
    # beyond the grids next to the change: compared within 0.01 % apart.
    out["gap_m2"] = sorted(r.pop("size") for r in out["gaps"])
    for r in out["gaps"]:
        del r["detail"], r["point"]
    for kind in KINDS:
        out[kind] = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in out[kind])
    out["boundary_on_features"] = sorted(out["boundary_on_features"], key=lambda r: r["grid"])
    out["households"] = findings.households.sort_index().to_dict()
    return out


def _same_as_full_check(editor: PlanEditor, edits: list[dict]) -> dict:
    edited, before, after = editor.edited_plan(edits)
    _, base = editor.context.checked()
    quick = recheck(before, after, base, edited.touched | set(edited.removed))
    full = check_plan(after)
    quick_digest, full_digest = _digest(quick), _digest(full)
    assert quick_digest.pop("gap_m2") == pytest.approx(full_digest.pop("gap_m2"), rel=1e-4)
    assert quick_digest == full_digest
    assert quick.coverage_valid == full.coverage_valid
    return full_digest


def _neighbours(editor: PlanEditor) -> tuple[str, str, list[str]]:
    """The grid with most households, a grid touching it, and the first one's blocks."""
    grids = editor.context.grids.set_index("grid_code")
    code = str(grids["households"].idxmax())
    others = grids.drop(index=code)
    touching = others.index[shapely.intersects(others.geometry.to_numpy(), grids.geometry[code])]
    blocks = editor.context.blocks
    mine = blocks[blocks["grid_code"] == code].sort_values("households")
    return code, str(touching[0]), mine["block_id"].astype(str).tolist()


def test_recheck_equals_the_full_check_for_each_kind_of_edit(nanjing_store):
    editor = PlanEditor(nanjing_store)
    code, other, blocks = _neighbours(editor)
    buildings = editor.context.plan.buildings
    building = str(buildings.loc[buildings["grid_code"] == code, "building_id"].iloc[0])
    cases = [
        [{"op": "assign", "units": blocks[:3], "to": other}],
        [{"op": "merge", "grids": [code, other]}],
        [{"op": "delete", "grid": code}],
        [{"op": "create", "units": blocks[-2:]}],
        [{"op": "households", "building": building, "value": 900, "reason": "核实"}],
        [{"op": "delete", "grid": other}, {"op": "assign", "units": blocks[:2], "to": code}],
    ]
    counts = [_same_as_full_check(editor, edits)["totals"] for edits in cases]
    # The cases do change the findings: the deletion leaves a gap or loose buildings,
    # the household figure pushes the grid out of range.
    assert counts[2]["gaps"] + counts[2]["unassigned_buildings"] > 0
    assert counts[4]["households_out_of_range"] >= 1


def test_recheck_on_a_plan_with_findings_fills_and_keeps_them(nanjing_store):
    """A plan saved with a gap: painting some of it back, the rest of the gap stays."""
    editor = PlanEditor(nanjing_store)
    code, other, blocks = _neighbours(editor)
    editor.save(editor.version, [{"op": "delete", "grid": code}])
    editor = PlanEditor(Store(nanjing_store.path))
    assert not editor.context.checked()[1].clean
    full = _same_as_full_check(editor, [{"op": "assign", "units": blocks[:2], "to": other}])
    assert full["totals"]["defects"] > 0
    _same_as_full_check(editor, [{"op": "merge", "grids": [other, _far(editor, code, other)]}])


def _far(editor: PlanEditor, *not_these: str) -> str:
    grids = editor.context.grids
    return str(grids.loc[~grids["grid_code"].isin(not_these), "grid_code"].iloc[-1])


@pytest.mark.parametrize("edit", [{"op": "rename", "name": "新名"}, {"op": "lock"}])
def test_recheck_with_nothing_reshaped_is_the_plan_check(nanjing_store, edit):
    editor = PlanEditor(nanjing_store)
    code = str(editor.context.grids["grid_code"].iloc[0])
    _same_as_full_check(editor, [dict(edit, grid=code)])
