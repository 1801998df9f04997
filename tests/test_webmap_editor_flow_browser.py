"""The grid editor's flow in a real browser: editing goes on after a save; one-click fixes.

A save keeps the editor open on the version it made (the rules panel shows that
version's check, the grid painted into stays chosen), so a further edit saves as the
next version without reopening. A finding with an obvious mend (a building cut between
two grids) offers it on its line — "放入 A（n 户）/ 放入 B（m 户）", figures from the
preview — and a click makes it an ordinary, undoable edit. Chromium against waitress,
as in :mod:`tests.test_webmap_editor_browser`; screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil

import pytest

from planner.plan_edit import PlanEditor
from planner.plan_versions import current_version
from planner.store import Store
from planner.topology.checks import KINDS, check
from tests.test_plan_edit import _border_block
from tests.test_webmap_browser import CHROMIUM, Page, _click_at, _serve
from tests.test_webmap_editor_browser import _start_on, _view
from tests.walkthrough_steps import _cut, _frames

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


@pytest.fixture
def server(nanjing_path, tmp_path):
    """A server of a private copy of the demo store: (running server, store path)."""
    path = tmp_path / "flow.gpkg"
    shutil.copyfile(nanjing_path, path)
    running = _serve(path)
    yield running, path
    running.stop()


def _save(page: Page) -> int:
    """Save the session; the version the page says it saved, once the editor shows that
    version's check with no edit (ready to edit again)."""
    page.page.evaluate("() => { document.getElementById('status').textContent = ''; }")
    page.page.click("#editor-save")
    page.page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('已保存为方案版本')",
        timeout=60_000,
    )
    version = int(re.search(r"方案版本 (\d+)", page.page.inner_text("#status")).group(1))
    page.page.wait_for_selector(
        f"#editor-check-head[data-base='{version}'][data-edits='0']", timeout=60_000
    )
    page.wait()
    return version


def _paint(page: Page, point, grid: str) -> None:
    """Click ``point`` (a block) with ``grid`` chosen; wait for its row in the panel."""
    page.page.evaluate("() => { delete document.body.dataset.previewMs; }")
    _click_at(page, point.x, point.y)
    page.page.wait_for_function("() => document.body.dataset.previewMs", timeout=60_000)
    page.page.locator(f"tr[data-grid='{grid}'] td.hh").wait_for(timeout=60_000)


def test_after_a_save_the_editor_stays_open_and_the_next_edit_saves_as_the_next_version(
    browser, server
):
    running, path = server
    store = Store(path)
    block, home, neighbour, households = _border_block(store)
    version = current_version(store)
    grids = store.read("grids").set_index("grid_code")
    geometry = store.read("blocks").set_index("block_id").geometry[block]
    inside = geometry.representative_point()
    near = grids.geometry[neighbour].intersection(geometry.buffer(0.0008)).representative_point()
    page = Page(browser, running.url)
    page.open("/")
    _view(page, geometry, zoom=16)
    _start_on(page, neighbour, near)
    _paint(page, inside, neighbour)

    assert _save(page) == version + 1
    # Still editing, on the saved version: no edits, its check listed, the grid kept.
    assert page.page.evaluate("() => document.body.classList.contains('editing')")
    assert page.page.inner_text("#editor-toggle") == "结束编辑"
    assert neighbour in page.page.inner_text("#editor-hint")
    assert page.page.locator("#editor-save").is_disabled()
    assert page.page.locator("#editor-undo").is_disabled()
    assert "0 步" in page.page.inner_text("#editor-status")
    # The panel lists the saved plan's own check.
    report = check(Store(path)).to_json()
    defects = sum(not f.get("flagged") for kind in KINDS for f in report[kind])
    head = page.page.locator("#editor-check-head")
    assert int(head.get_attribute("data-defects")) == defects
    page.shot("editor_saved_goes_on")

    # The next edit is made on the saved version and saves as the next one.
    page.page.click("#editor-regrid")
    home_point = grids.geometry[home].intersection(geometry.buffer(0.0008)).difference(geometry)
    pick = home_point.representative_point()
    _click_at(page, pick.x, pick.y)
    page.page.wait_for_function(
        f"() => document.getElementById('editor-hint').textContent.includes('{home}')"
    )
    _paint(page, inside, home)
    row = page.page.inner_text(f"tr[data-grid='{home}'] td.hh")
    assert f"{int(grids.loc[home, 'households']):,}" in row
    assert _save(page) == version + 2
    saved = Store(path)
    assert saved.metadata["plan_version"] == version + 2
    after = saved.read("grids").set_index("grid_code")["households"]
    assert after[home] == grids.loc[home, "households"]
    assert after[neighbour] == grids.loc[neighbour, "households"]
    assert households > 0
    page.page.wait_for_selector(f"#versions-list li[data-version='{version + 2}']")
    page.check_clean()
    page.close()


def test_a_cut_buildings_one_click_fix_clears_the_finding(browser, server):
    running, path = server
    grids, blocks, buildings = _frames(Store(path))
    cut = _cut(grids, blocks, buildings, set())
    assert cut is not None, "no outline can be drawn through exactly one building"
    code, building, edit = cut
    editor = PlanEditor(Store(path))
    editor.save(editor.version, [edit], message="a building cut")
    found = check(Store(path)).frames["split_buildings"]
    assert building in set(found["ref"].astype(str))

    page = Page(browser, running.url)
    page.open("/")
    page.page.click("#editor-toggle")
    item = page.page.locator(
        f"#editor-finding-list li.finding[data-kind='split_buildings'][data-ref='{building}']"
    )
    item.wait_for(timeout=60_000)
    item.click()  # zoom to it; its choices are previewed
    page.page.wait_for_function("() => document.body.dataset.finding")
    options = item.locator("button.finding-fix")
    assert options.count() >= 2  # one per grid the building lies in
    selector = f"#editor-finding-list li.finding[data-ref='{building}'] button.finding-fix"
    page.page.wait_for_function(
        f"""() => Array.from(document.querySelectorAll("{selector}"))
          .every((b) => /放入 \\S+（[\\d,]+ 户）/.test(b.innerText))""",
        timeout=60_000,
    )
    labels = page.page.evaluate(
        f"""() => Array.from(document.querySelectorAll("{selector}")).map(
          (b) => [b.dataset.grid, b.innerText, b.classList.contains('out')])"""
    )
    concerned = set(found.loc[found["ref"].astype(str) == building, "grids"].iloc[0])
    assert {g for g, _, _ in labels} == concerned
    chosen = next((g for g, _, out in labels if not out), labels[0][0])
    expected = int(
        re.search(r"（([\d,]+) 户）", dict((g, t) for g, t, _ in labels)[chosen])
        .group(1)
        .replace(",", "")
    )
    page.shot("editor_one_click_offered")

    page.page.evaluate("() => { delete document.body.dataset.previewMs; }")
    page.page.click(f"{selector}[data-grid='{chosen}']")
    page.page.wait_for_function("() => document.body.dataset.previewMs", timeout=60_000)
    page.page.wait_for_selector("#editor-check-head[data-edits='1']", timeout=60_000)
    # An ordinary edit of the session: counted, the grid's households as offered, the
    # finding gone from the edited plan's check.
    assert "1 步" in page.page.inner_text("#editor-status")
    row = page.page.inner_text(f"tr[data-grid='{chosen}'] td.hh")
    assert int(re.sub(r"[^\d]", "", row.split()[0])) == expected
    assert item.count() == 0
    page.shot("editor_one_click_applied")

    # Undone like any other edit: the finding is back.
    page.page.click("#editor-undo")
    item.wait_for(timeout=60_000)
    page.page.click("#editor-redo")
    page.page.wait_for_selector("#editor-check-head[data-edits='1']", timeout=60_000)
    assert item.count() == 0
    version = _save(page)
    after = check(Store(path)).frames["split_buildings"]
    assert building not in set(after["ref"].astype(str))
    assert Store(path).metadata["plan_version"] == version
    page.check_clean()
    page.close()
