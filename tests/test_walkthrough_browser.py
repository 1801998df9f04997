"""The issue's scripted walk: five grids broken, mended on the page only (Chromium).

The same walk as ``benchmarks/walkthrough.py`` (the steps live in
:mod:`tests.walkthrough_steps`): two grids pushed out of the household range, a gap and
a building cut saved through the engine, an overlap drawn on the page by dragging a
vertex; then the planner reads the rules panel, zooms to each finding and mends it with
the page's tools, saving as it goes. The end state is checked through the API: the
plan's check has no problem, every grid is in range or flagged with a reason that holds,
and the store's latest saved version is that plan. Screenshots go to
``artifacts/screenshots/walkthrough/``.
"""

from __future__ import annotations

import shutil

import pytest
import shapely
from shapely.geometry import shape

from planner.plan_commit import current_rows
from planner.plan_edit import PlanEditor
from planner.store import Store
from planner.topology.checks import check
from tests.test_webmap_browser import CHROMIUM, SHOTS, Page, _serve
from tests.walkthrough_steps import (
    HI,
    LO,
    Walk,
    break_plan,
    end_state,
    flag_is_true,
    mend,
    overlap_by_hand,
    step_table,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def broken_path(nanjing_path, tmp_path):
    """A copy of the demo store with four grids broken: (path, breaks)."""
    path = tmp_path / "walk.gpkg"
    shutil.copyfile(nanjing_path, path)
    return path, break_plan(path)


@pytest.fixture
def broken(broken_path):
    """The broken store, served: (server, path, breaks)."""
    path, breaks = broken_path
    running = _serve(path)
    yield running, path, breaks
    running.stop()


def test_painting_the_gap_over_mends_its_edge_area_in_the_preview_as_the_save_does(broken_path):
    """An edge area left in no grid by the gap follows the grid painted over it in the
    live check, as the save's reassignment makes it (before, only the save cleared it)."""
    path, breaks = broken_path
    assert check(Store(path)).counts()["unassigned_edge_areas"] >= 1
    edits = [{"op": "assign", "units": [breaks.gap_block], "to": breaks.gap}]
    editor = PlanEditor(Store(path))
    preview = editor.preview(edits)
    editor.save(breaks.version, edits)
    saved = check(Store(path)).counts()
    assert preview["counts"] == saved
    assert saved["gaps"] == 0 and saved["unassigned_edge_areas"] == 0


def test_painting_a_cut_block_back_leaves_no_crumb_of_the_drawn_outline(broken_path):
    """The block holding the cut building goes whole to the grid whose outline cut it,
    then to the other grid: no 0 m² sliver (nor second piece) of the hand-drawn outline
    stays behind in the first."""
    path, breaks = broken_path
    cut = check(Store(path)).frames["split_buildings"]
    grids = next(
        g for g, ref in zip(cut["grids"], cut["ref"], strict=True) if ref == breaks.cut_building
    )
    other = next(g for g in grids if g != breaks.cut_grid)
    buildings = Store(path).read("buildings").set_index("building_id")
    block = str(buildings.loc[breaks.cut_building, "block_id"])
    editor = PlanEditor(Store(path))
    editor.save(breaks.version, [{"op": "assign", "units": [block], "to": breaks.cut_grid}])
    preview = PlanEditor(Store(path)).preview([{"op": "assign", "units": [block], "to": other}])
    assert preview["counts"]["split_buildings"] == 0
    assert preview["counts"]["slivers"] == 0 and preview["counts"]["multipart"] == 0


def test_the_preview_of_no_edits_is_the_plans_own_check(broken_path, login):
    """What the rules panel lists on opening: ``"edits": []`` gives the plan's check."""
    from planner_web import create_app

    path, breaks = broken_path
    client = create_app({"STORE": str(path)}).test_client()
    login(client, path, role="planner")
    answer = client.post("/api/plan/preview", json={"base_version": breaks.version, "edits": []})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = answer.get_json()
    assert report["grids"] == {} and report["clean"] is False
    expected = check(Store(path))
    assert report["counts"] == expected.counts()
    assert report["counts"]["gaps"] >= 1 and report["counts"]["split_buildings"] >= 1
    cut = {f.get("ref") for f in report["findings"]["split_buildings"]}
    assert breaks.cut_building in cut
    out = {f["grids"][0] for f in report["findings"]["households_out_of_range"]}
    assert {breaks.over, breaks.under} <= out


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
)
def test_a_planner_mends_five_broken_grids_on_the_page(browser, broken):
    running, path, breaks = broken
    page = Page(browser, running.url)
    page.open("/")
    walk = Walk(page, SHOTS / "walkthrough")
    overlap_by_hand(page, walk, breaks.overlap, breaks.overlap_neighbour)
    # The overlap is saved: the plan now holds all five breaks.
    assert check(Store(path)).counts()["overlaps"] >= 1
    defects, items = mend(page, walk)
    print(step_table(walk))
    assert walk.unmended == []
    assert defects == 0 and all(i["flagged"] for i in items)

    # The end state through the API: the check is clean, grids in range or truly flagged.
    report = page.page.request.post(
        running.url + "api/plan/preview",
        data={"base_version": 0, "edits": []},
        headers={"X-CSRF-Token": _token(page)},
    ).json()
    assert report["clean"] is True, report["counts"]
    state = end_state(running.url, page.page.request)
    buildings = Store(path).read("buildings")
    for grid in state["out_of_range"]:
        geometry = shape(
            page.page.request.get(
                running.url + f"api/layers/grids/features/{grid['grid_code']}"
            ).json()["geometry"]
        )
        assert flag_is_true(grid["flag"] or "", geometry, grid["households"], buildings), grid
    # The store's latest saved version is the plan the API gave.
    store = Store(path)
    assert store.metadata["plan_version"] == state["plan"]["version"] > breaks.version
    grids = store.read("grids")
    saved = grids[current_rows(grids)].set_index("grid_code")["households"]
    assert {g["grid_code"]: g["households"] for g in state["plan"]["grids"]} == saved.to_dict()
    assert all(
        LO <= h <= HI
        for c, h in saved.items()
        if c not in {g["grid_code"] for g in state["out_of_range"]}
    )
    assert check(store).clean
    # The grids broken by hand are whole again: one piece each, no building cut.
    assert shapely.union_all(grids[current_rows(grids)].geometry.to_numpy()).is_valid
    page.check_clean()
    page.close()


def _token(page: Page) -> str:
    return page.page.evaluate(
        "() => JSON.parse(document.getElementById('page-config').textContent).csrf_token"
    )
