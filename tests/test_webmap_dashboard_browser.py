"""The officials' dashboard in a real browser: coverage existing vs scenario, tables, comparison,
downloads.

Chromium against waitress, as in :mod:`tests.test_webmap_browser`, logged in as an official
(the role the dashboard is for). Figures on the page are checked against the engine's
(:mod:`planner.dashboard`); downloads are opened with the tools made for them (openpyxl,
pdftoppm, pyogrio). Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import zipfile

import openpyxl
import pyogrio
import pytest
import shapely

from planner import accounts, dashboard
from planner.plan_edit import PlanEditor
from planner.plan_versions import current_version
from planner.siting import site_stations
from planner.store import Store
from planner_web import create_app
from planner_web.server import start_background
from tests.test_plan_edit import _border_block
from tests.test_webmap_browser import CHROMIUM, SHOTS, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]

#: The official the tests log in as.
OFFICIAL = ("official", "test-password-1")


def _serve(path):
    if accounts.get_user(path, OFFICIAL[0]) is None:
        accounts.add_user(path, OFFICIAL[0], "official", OFFICIAL[1])
    return start_background(create_app({"STORE": str(path)}))


@pytest.fixture(scope="module")
def server(nanjing_path, tmp_path_factory):
    """A server of a copy of the demo store (the tests here only read it)."""
    path = tmp_path_factory.mktemp("dash-browser") / "dash.gpkg"
    shutil.copyfile(nanjing_path, path)
    running = _serve(path)
    yield running, path
    running.stop()


class OfficialPage(Page):
    """A page logged in as an official, with downloads accepted."""

    def __init__(self, browser, base_url: str, **kwargs):
        super().__init__(browser, base_url, log_in=False, **kwargs)
        answer = self.page.request.post(
            base_url.rstrip("/") + "/api/login",
            data={"username": OFFICIAL[0], "password": OFFICIAL[1]},
        )
        assert answer.ok, answer.text()


def _open(browser, running) -> tuple[OfficialPage, float]:
    """The dashboard loaded (figures, map, bands): the page and the seconds it took."""
    page = OfficialPage(browser, running.url)
    start = time.perf_counter()
    page.page.goto(running.url.rstrip("/") + "/dashboard")
    page.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=180_000)
    return page, time.perf_counter() - start


def _headline(page: Page) -> dict[str, tuple[float, float, float]]:
    """Measure → (existing, scenario, difference) as the page's table holds them."""
    return page.page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#headline tr[data-measure]')]
             .map(tr => [tr.dataset.measure, ['a', 'b', 'diff'].map(
               c => Number(tr.querySelector('td.' + c).dataset.value))]))"""
    )


def _bands(page: Page) -> dict[str, int]:
    return page.page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#bands tr[data-band]')]
             .map(tr => [tr.dataset.band, Number(tr.children[1].dataset.value)]))"""
    )


def test_existing_only_and_scenario_coverage_agree_with_the_engine(browser, server):
    running, path = server
    page, seconds = _open(browser, running)
    store = Store(path)
    existing = dashboard.coverage_view(store, existing_only=True)
    scenario = dashboard.coverage_view(store)
    head = _headline(page)
    a, b, diff = head["households_covered"]
    assert a == existing["households_covered"]
    assert b == scenario["households_covered"]
    assert a != b and diff == b - a  # the demo maps no existing station: the scenario differs
    assert head["buildings_uncovered"][:2] == [
        existing["buildings_uncovered"],
        scenario["buildings_uncovered"],
    ]
    assert head["coverage_share"][1] == pytest.approx(scenario["coverage_share"])
    # The map shows the scenario first: its bands, its stations.
    assert page.page.evaluate("() => document.body.dataset.showing") == scenario["key"]
    assert _bands(page) == {band["label"]: band["households"] for band in scenario["bands"]}
    rows = page.page.locator("#stations-table tbody tr").count()
    assert rows == len(scenario["stations"])
    page.shot("dashboard_zh")
    # Switched to the existing stations only: every household is beyond reach, in red.
    page.page.check("#cover-existing")
    page.page.wait_for_function("() => document.body.dataset.showing === 'existing'")
    assert _bands(page) == {band["label"]: band["households"] for band in existing["bands"]}
    beyond = _bands(page)["beyond"] + _bands(page)["unreachable"]
    assert beyond == existing["households_uncovered"]
    assert page.page.locator("#stations-table tbody tr").count() == len(existing["stations"])
    listed = page.page.locator("#uncovered li[data-building]").count()
    assert listed == min(50, len(existing["uncovered"]))
    page.shot("dashboard_existing_only")
    # The charts are drawn: one bar per grid, and the MCLP curve once computed.
    assert page.page.locator("#chart-grids rect.bar").count() == len(store.read("grids"))
    page.page.wait_for_selector("body[data-curve='1']", state="attached", timeout=180_000)
    first = page.page.locator("#chart-curve circle.dot").first
    assert first.get_attribute("data-covered") == str(existing["households_covered"])
    print(f"dashboard first load (figures, map and bands): {seconds:.1f} s")
    page.check_clean()
    page.close()


def test_any_scenario_can_be_compared_with_the_existing_stations(browser, nanjing_path, tmp_path):
    path = tmp_path / "scenarios.gpkg"
    shutil.copyfile(nanjing_path, path)
    first = Store(path).metadata["latest_scenario"]
    site_stations(Store(path), model="mclp", p=3, scenario="mclp3")
    running = _serve(path)
    try:
        page, _ = _open(browser, running)
        store = Store(path)
        options = page.page.eval_on_selector_all(
            "#stations-select option", "os => os.map(o => o.value)"
        )
        assert set(options) == {first, "mclp3"}
        mclp = dashboard.coverage_view(store, scenario="mclp3")
        assert _headline(page)["households_covered"][1] == mclp["households_covered"]
        assert _headline(page)["stations_counted"][1] == mclp["stations_counted"]
        page.page.select_option("#stations-select", first)
        page.page.wait_for_function(
            f"() => document.body.dataset.ready === '1' && "
            f"document.body.dataset.showing === '{first}'"
        )
        other = dashboard.coverage_view(store, scenario=first)
        head = _headline(page)
        assert head["households_covered"][1] == other["households_covered"]
        assert head["households_covered"][1] != mclp["households_covered"]
        assert _bands(page) == {band["label"]: band["households"] for band in other["bands"]}
        page.check_clean()
        page.close()
    finally:
        running.stop()


def test_tables_sort_and_a_row_zooms_the_map(browser, server):
    running, path = server
    page, _ = _open(browser, running)
    table = page.page.locator("#grids-table")
    households = "() => [...document.querySelectorAll('#grids-table tbody tr')].map(tr => Number(tr.children[3].textContent.replace(/,/g, '')))"  # noqa: E501
    header = table.locator("th", has_text="户数").first
    header.click()
    values = page.page.evaluate(households)
    assert values == sorted(values, reverse=True)  # figures sort largest first
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    values = page.page.evaluate(households)
    assert values == sorted(values)
    grids = Store(path).read("grids").set_index("grid_code")
    first = table.locator("tbody tr").first
    code = first.get_attribute("data-key")
    zoom_before = page.page.evaluate("() => window.plannerDashboard.map.getZoom()")
    first.click()
    view = page.page.evaluate(
        """() => { const m = window.plannerDashboard.map; const b = m.getBounds();
                   return {zoom: m.getZoom(), box: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]}; }"""  # noqa: E501
    )
    assert view["zoom"] > zoom_before
    shown = shapely.box(*view["box"])
    assert shown.contains(grids.geometry[code].centroid)
    assert shown.area < 0.5 * shapely.box(*grids.total_bounds).area
    page.shot("dashboard_grid_zoomed")
    # A zone row zooms too, and a station row.
    page.page.locator("#zones-table tbody tr").first.click()
    page.page.locator("#stations-table th").first.click()  # names sort alphabetically
    page.page.locator("#stations-table tbody tr").first.click()
    assert page.page.evaluate("() => window.plannerDashboard.map.getZoom()") >= 16
    page.check_clean()
    page.close()


def test_comparison_shows_the_difference_after_a_plan_edit(browser, nanjing_path, tmp_path):
    path = tmp_path / "edited.gpkg"
    shutil.copyfile(nanjing_path, path)
    store = Store(path)
    block, home, neighbour, households = _border_block(store)
    before = current_version(store)
    PlanEditor(store).save(before, [{"op": "assign", "units": [block], "to": neighbour}])
    running = _serve(path)
    try:
        page, _ = _open(browser, running)
        page.page.wait_for_selector("body[data-compared='1']", state="attached", timeout=180_000)
        moved = int(page.page.get_attribute("#compare-moved", "data-moved"))
        assert moved >= households > 0
        changed = page.page.evaluate(
            "() => [...document.querySelectorAll('#compare li[data-grid]')].map(li => li.dataset.grid)"  # noqa: E501
        )
        assert {home, neighbour} <= set(changed)
        engine = dashboard.compare_plans(Store(path), before, before + 1)
        assert moved == engine["households_moved"]
        # A changed grid zooms the map.
        page.page.locator(f"#compare li[data-grid='{home}']").click()
        assert page.page.evaluate("() => window.plannerDashboard.map.getZoom()") > 15
        page.shot("dashboard_compare")
        page.check_clean()
        page.close()
    finally:
        running.stop()


def _download(page: Page, name: str, folder) -> object:
    with page.page.expect_download(timeout=600_000) as info:
        page.page.click(f"a[data-download='{name}']")
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return target


def test_downloads_open_in_their_tools(browser, server, tmp_path):
    running, path = server
    page, _ = _open(browser, running)
    book = openpyxl.load_workbook(_download(page, "xlsx", tmp_path))
    assert book.sheetnames[:3] == ["网格", "片区", "服务站"]
    assert book["网格"].max_row == Store(path).count("grids") + 1
    grids = pyogrio.read_dataframe(_download(page, "grids-geojson", tmp_path))
    assert len(grids) == Store(path).count("grids") and "grid_code" in grids
    packed = _download(page, "buildings-shp", tmp_path)
    names = zipfile.ZipFile(packed).namelist()
    assert {"buildings.shp", "buildings.dbf", "buildings.fields.csv"} <= set(names)
    shp = pyogrio.read_dataframe(f"/vsizip/{packed}/buildings.shp")
    assert len(shp) == Store(path).count("buildings")
    page.check_clean()
    page.close()


@pytest.mark.slow
def test_the_atlas_download_renders(browser, server, tmp_path):
    running, path = server
    page, _ = _open(browser, running)
    pdf = _download(page, "pdf", tmp_path)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if not shutil.which("pdftoppm"):
        pytest.skip("pdftoppm absent (poppler-utils)")
    out = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", str(pdf), str(out)], check=True
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 5_000 for p in pages)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pages[0], SHOTS / "dashboard_atlas_page1.png")
    page.check_clean()
    page.close()
