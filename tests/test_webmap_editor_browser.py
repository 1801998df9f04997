"""The grid editor's tools in a real browser: split, merge, lock, households, versions, roles.

Each test edits its own copy of the demo store through the page only (Chromium against
waitress, as in :mod:`tests.test_webmap_browser`); screenshots go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from planner import accounts
from planner.plan_edit import PlanEditor
from planner.store import Store
from tests.test_plan_edit import _border_block, _split_case
from tests.test_webmap_browser import ADMIN, CHROMIUM, Page, _click_at, drag_vertex_towards

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


@pytest.fixture
def server(editable_server):
    """The demo store served from a private copy: (running server, store path)."""
    return editable_server


def _view(page: Page, geometry, zoom: float = 17) -> None:
    """Centre the map on ``geometry`` (lon/lat) at ``zoom`` and wait for the layers."""
    c = geometry.centroid
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          window.plannerMap.map.setView([{c.y}, {c.x}], {zoom}, {{ animate: false }});
        }}"""
    )
    page.wait()


def _start_on(page: Page, code: str, point) -> None:
    """Start editing and pick grid ``code`` by clicking ``point`` (inside it)."""
    page.page.click("#editor-toggle")
    page.page.wait_for_selector("#editor-hint")
    _click_at(page, point.x, point.y)
    page.page.wait_for_function(
        f"() => document.getElementById('editor-hint').textContent.includes('{code}')"
    )


_PREVIEW_MS = "() => document.body.dataset.previewMs"


def _save(page: Page) -> None:
    """Save the session and wait until the page says so and has drawn the new plan."""
    page.page.click("#editor-save")
    page.page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('已保存为方案版本')",
        timeout=60_000,
    )
    page.wait()


def _edits(page: Page) -> int:
    return page.page.evaluate(
        "() => Number((document.querySelector('#editor-status').innerText.match(/\\d+(?= 步)/)"
        " || [-1])[0])"
    )


def _refusals_only(page: Page) -> None:
    """Drop the console's note of the one refused preview (a 422 the page explains)."""
    refused = [e for e in page.errors if "422" in e]
    assert len(refused) == 1, page.errors
    page.errors = [e for e in page.errors if "422" not in e]


def test_split_a_grid_along_a_road_and_see_two_grids(browser, server):
    running, path = server
    code, coords, pick = _split_case(path)
    before = Store(path).count("grids")
    page = Page(browser, running.url)
    page.open("/")
    _view(page, shapely.LineString(coords), zoom=16.5)
    _start_on(page, code, pick)

    # A line straight through a building is refused, naming the building.
    buildings = Store(path).read("buildings")
    grid = Store(path).read("grids").set_index("grid_code").geometry[code]
    inside = buildings[buildings.within(grid)]
    big = inside.loc[inside.to_crs(Store(path).metric_crs).area.idxmax()]
    centre = big.geometry.centroid
    page.page.click("#editor-split")
    for x, y in ([centre.x - 0.0004, centre.y], [centre.x + 0.0004, centre.y]):
        _click_at(page, x, y)
    page.page.click("#editor-split")
    error = page.page.locator("#editor-error")
    error.wait_for(timeout=60_000)
    # The refusal names a building the line runs through (the first one it meets).
    line = shapely.LineString([(centre.x - 0.0004, centre.y), (centre.x + 0.0004, centre.y)])
    crossed = buildings[buildings.crosses(line) | buildings.contains(line)]["building_id"]
    assert any(str(b) in error.inner_text() for b in crossed), error.inner_text()
    assert str(big["building_id"]) in set(crossed.astype(str))
    assert _edits(page) == 0  # the refused edit is not on the stack

    page.page.click("#editor-split")
    for x, y in coords:
        _click_at(page, x, y)
    assert f"{len(coords)}" in page.page.inner_text("#editor-hint")
    page.page.click("#editor-split")
    page.page.wait_for_function("() => document.querySelectorAll('tr[data-grid]').length == 2")
    print(f"split preview in the browser: {page.page.evaluate(_PREVIEW_MS)} ms")
    rows = page.page.locator("tr[data-grid]")
    codes = {rows.nth(i).get_attribute("data-grid") for i in range(2)}
    assert code in codes
    page.shot("editor_split")
    _save(page)
    grids = Store(path).read("grids")
    assert Store(path).count("grids") == before + 1
    assert codes <= set(grids["grid_code"])
    _refusals_only(page)
    page.check_clean()
    page.close()


def test_move_a_grid_vertex_by_hand_and_see_the_check(browser, server):
    """Vertex editing (Geoman): drag a corner of a grid into its neighbour, finish, and
    the preview shows both grids touched; the save records a reshape."""
    running, path = server
    block, home, neighbour, _ = _border_block(Store(path))
    grids = Store(path).read("grids").set_index("grid_code")
    # well inside the other grid, so the corner dragged there makes a sizeable overlap
    target = grids.geometry[home].representative_point()
    page = Page(browser, running.url)
    page.open("/")
    _view(page, grids.geometry[neighbour], zoom=17)
    _start_on(page, neighbour, grids.geometry[neighbour].representative_point())
    page.page.click("#editor-reshape")
    page.page.wait_for_selector(".marker-icon:not(.marker-icon-middle)")
    # Drawn without taking the neighbour's land first (the vertex nearest that point,
    # dragged 30 px towards it): the check flags the overlap.
    page.page.uncheck("#editor-reshape-take")
    drag_vertex_towards(page, target)
    page.page.click("#editor-reshape")
    page.page.wait_for_function(
        "() => (document.getElementById('editor-findings') || {}).textContent?.includes('重叠')",
        timeout=60_000,
    )
    print(f"overlap preview in the browser: {page.page.evaluate(_PREVIEW_MS)} ms")
    page.shot("editor_reshape_overlap")
    page.page.click("#editor-undo")
    page.page.check("#editor-reshape-take")
    page.page.click("#editor-reshape")
    page.page.wait_for_selector(".marker-icon:not(.marker-icon-middle)")
    drag_vertex_towards(page, target)
    page.page.click("#editor-reshape")
    page.page.wait_for_function(
        "() => document.querySelectorAll('tr[data-grid]').length >= 2", timeout=60_000
    )
    print(f"reshape preview in the browser: {page.page.evaluate(_PREVIEW_MS)} ms")
    rows = page.page.locator("tr[data-grid]")
    codes = {rows.nth(i).get_attribute("data-grid") for i in range(rows.count())}
    assert {neighbour, home} <= codes
    page.shot("editor_reshape")
    _save(page)
    log = Store(path).read("change_log")
    assert "edit reshape" in set(log["action"])
    after = Store(path).read("grids").set_index("grid_code")
    metric = Store(path).metric_crs
    gained = gpd.GeoSeries(
        [after.geometry[neighbour].difference(grids.geometry[neighbour])], crs=4326
    ).to_crs(metric)
    assert gained.area.iloc[0] > 20  # the corner moved, not only rounded
    page.check_clean()
    page.close()


def test_merge_two_grids(browser, server):
    running, path = server
    block, home, neighbour, _ = _border_block(Store(path))
    grids = Store(path).read("grids").set_index("grid_code")
    page = Page(browser, running.url)
    page.open("/")
    _view(page, Store(path).read("blocks").set_index("block_id").geometry[block], zoom=16)
    _start_on(page, home, grids.geometry[home].representative_point())
    page.page.click("#editor-merge")
    page.page.wait_for_function(
        "() => document.getElementById('editor-hint').textContent.includes('并入')"
    )
    _click_at(page, *grids.geometry[neighbour].representative_point().coords[0])
    row = page.page.locator(f"tr[data-grid='{home}'] td.hh")
    row.wait_for(timeout=60_000)
    total = int(grids.loc[home, "households"] + grids.loc[neighbour, "households"])
    assert f"{total:,}" in row.inner_text()
    print(f"merge preview in the browser: {page.page.evaluate(_PREVIEW_MS)} ms")
    assert neighbour in page.page.inner_text("#editor-status")  # listed as removed
    page.shot("editor_merge")
    _save(page)
    after = Store(path).read("grids")
    assert neighbour not in set(after["grid_code"])
    page.check_clean()
    page.close()


def test_a_locked_grid_refuses_a_paint_edit(browser, server):
    running, path = server
    block, home, neighbour, _ = _border_block(Store(path))
    grids = Store(path).read("grids").set_index("grid_code")
    geometry = Store(path).read("blocks").set_index("block_id").geometry[block]
    page = Page(browser, running.url)
    page.open("/")
    _view(page, geometry, zoom=16)
    _start_on(page, home, grids.geometry[home].representative_point())
    page.page.click("#editor-lock")
    page.page.wait_for_function(
        "() => document.getElementById('editor-lock').textContent == '解锁网格'"
    )
    page.page.wait_for_selector("#editor-findings")
    near = grids.geometry[neighbour].intersection(geometry.buffer(0.0008)).representative_point()
    page.page.click("#editor-regrid")
    _click_at(page, near.x, near.y)
    page.page.wait_for_function(
        f"() => document.getElementById('editor-hint').textContent.includes('{neighbour}')"
    )
    inside = geometry.representative_point()
    _click_at(page, inside.x, inside.y)
    error = page.page.locator("#editor-error")
    error.wait_for(timeout=60_000)
    assert home in error.inner_text() and "locked" in error.inner_text()
    assert _edits(page) == 1  # the lock stays, the paint edit is taken off
    page.shot("editor_locked")
    _refusals_only(page)
    page.check_clean()
    page.close()


def test_households_in_the_popup_saved_then_found_after_reload(browser, server):
    running, path = server
    buildings = Store(path).read("buildings")
    row = buildings[buildings["households"] > 0].sort_values("footprint_m2").iloc[-1]
    point = row.geometry.representative_point()
    building = str(row["building_id"])
    page = Page(browser, running.url)
    page.open("/")
    _view(page, point, zoom=18)
    _click_at(page, point.x, point.y)
    form = page.page.locator(f"form.hh-form[data-building='{building}']")
    form.wait_for(timeout=10_000)
    form.locator("input[name=value]").fill("123")
    form.locator("input[name=reason]").fill("入户核实")
    form.locator("button[type=submit]").click()
    page.page.wait_for_selector("#editor-findings", timeout=60_000)
    assert _edits(page) == 1
    _save(page)
    saved = Store(path).read("buildings").set_index("building_id").loc[building]
    assert saved["households"] == 123 and saved["households_source"] == "manual"

    page.open("/")
    _view(page, point, zoom=18)
    _click_at(page, point.x, point.y)
    popup = page.page.locator(".leaflet-popup-content")
    popup.locator("form.hh-form").wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "123" in text and "人工" in text
    # Raw values are named: the nearest station by name (not "lscp:…"), OSM's "yes".
    assert "lscp:" not in text
    if row["building_type"] == "yes":
        assert "未注明" in text
    assert popup.locator("button.hh-clear").count() == 1  # a manual figure can be cleared
    page.shot("editor_households")
    page.check_clean()
    page.close()


def test_rename_a_grid_in_its_popup_while_editing(browser, server):
    running, path = server
    store = Store(path)
    grids = store.read("grids").set_index("grid_code")
    code = str(grids["households"].idxmax())
    # A point of the grid clear of buildings, so the click opens the grid's own pop-up.
    near = store.read_metric("buildings").buffer(20).to_crs(4326).union_all()
    point = grids.geometry[code].difference(near).representative_point()
    page = Page(browser, running.url)
    page.open("/")
    _view(page, point, zoom=17)
    page.page.click("#editor-toggle")
    page.page.wait_for_selector("#editor-hint")
    page.page.click("#editor-inspect")
    _click_at(page, point.x, point.y)
    form = page.page.locator(f"form.rename-form[data-grid='{code}']")
    form.wait_for(timeout=10_000)
    form.locator("input[name=name]").fill("新街口第一网格")
    form.locator("button[type=submit]").click()
    page.page.wait_for_selector("#editor-findings", timeout=60_000)
    assert _edits(page) == 1
    _save(page)
    assert Store(path).read("grids").set_index("grid_code").loc[code, "name"] == "新街口第一网格"
    page.check_clean()
    page.close()


def test_versions_panel_lists_the_saved_version_and_rolls_back(browser, server):
    running, path = server
    block, home, neighbour, _ = _border_block(Store(path))
    editor = PlanEditor(Store(path))
    base = editor.version
    # The plan at the base version (the editor goes on with the version it saves).
    base_grids = editor.context.grids
    saved = editor.save(base, [{"op": "assign", "units": [block], "to": neighbour}])["version"]
    page = Page(browser, running.url)
    page.open("/")
    page.page.wait_for_selector(f"#versions-list li[data-version='{saved}']")
    item = page.page.locator(f"#versions-list li[data-version='{saved}']")
    assert "当前" in item.inner_text()
    older = page.page.locator(f"#versions-list li[data-version='{base}']")
    older.locator("button[data-diff]").click()
    page.page.wait_for_selector("#versions-diff h3")
    diff = page.page.inner_text("#versions-diff")
    assert home in diff and neighbour in diff
    older.locator("button[data-rollback]").click()
    page.page.wait_for_selector(f"#versions-list li[data-version='{saved + 1}']")
    assert "当前" in page.page.inner_text(f"#versions-list li[data-version='{saved + 1}']")
    page.wait()
    store = Store(path)
    assert store.metadata["plan_version"] == saved + 1
    grids = store.read("grids")
    assert set(grids.loc[grids["grid_code"] == home, "households"]) == set(
        base_grids.set_index("grid_code").loc[[home], "households"]
    )
    page.page.locator(f"#versions-list li[data-version='{saved + 1}'] button[data-publish]").click()
    page.page.wait_for_function(
        f"() => document.querySelector(\"#versions-list li[data-version='{saved + 1}']\")"
        ".innerText.includes('已发布')"
    )
    assert Store(path).metadata["published_plan"] == saved + 1
    page.shot("editor_versions")
    page.check_clean()
    page.close()


def test_a_viewer_sees_no_edit_controls_and_the_api_refuses(browser, server):
    running, path = server
    accounts.add_user(path, "viewer", "viewer", ADMIN[1])
    page = Page(browser, running.url, log_in=False)
    answer = page.page.request.post(
        running.url + "api/login", data={"username": "viewer", "password": ADMIN[1]}
    )
    assert answer.ok
    page.open("/")
    assert page.page.locator("#editor-box").is_hidden()
    page.page.wait_for_selector("#versions-list li[data-version]")
    assert page.page.locator("#versions-list button[data-rollback]").count() == 0
    assert page.page.locator("#versions-list button[data-publish]").count() == 0
    buildings = Store(path).read("buildings")
    point = buildings.geometry.iloc[0].representative_point()
    _view(page, point, zoom=18)
    _click_at(page, point.x, point.y)
    page.page.wait_for_timeout(500)
    assert page.page.locator("form.edit-form").count() == 0
    token = page.page.evaluate(
        "() => JSON.parse(document.getElementById('page-config').textContent).csrf_token"
    )
    edits = {"base_version": 1, "edits": [{"op": "lock", "grid": "x"}]}
    for url, body in (("api/plan/save", edits), ("api/plan/rollback", {"version": 1})):
        refused = page.page.request.post(  # the page's own session, as its scripts would
            running.url + url, data=body, headers={"X-CSRF-Token": token}
        )
        assert refused.status == 403, (url, refused.status)
    page.shot("editor_viewer")
    page.check_clean()
    page.close()
