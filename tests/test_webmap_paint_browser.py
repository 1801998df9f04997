"""Paint mode's brush and lasso, and rebalance from the page, in a real browser.

Each test works on its own copy of the demo store through the page only (Chromium against
waitress, as in :mod:`tests.test_webmap_browser`); screenshots go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import pytest
import shapely

from planner import plan_versions
from planner.store import Store
from tests.test_plan_edit import _border_block
from tests.test_webmap_browser import CHROMIUM, Page
from tests.test_webmap_editor_browser import _PREVIEW_MS, _edits, _save, _start_on, _view
from tests.test_webmap_jobs import merged_grids

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


def _screen(page: Page, lon: float, lat: float) -> list[float]:
    """The page coordinates of a point of the map."""
    return page.page.evaluate(
        f"""() => {{
          const m = window.plannerMap.map;
          const p = m.latLngToContainerPoint([{lat}, {lon}]);
          const r = m.getContainer().getBoundingClientRect();
          return [p.x + r.left, p.y + r.top];
        }}"""
    )


def _centre(page: Page) -> list[float]:
    return page.page.evaluate(
        "() => { const c = window.plannerMap.map.getCenter(); return [c.lng, c.lat]; }"
    )


def _previews(page: Page) -> list[dict]:
    """The bodies of every preview request the page sent, in order."""
    bodies = []
    page.page.on(
        "request",
        lambda r: (
            bodies.append(json.loads(r.post_data)) if r.url.endswith("/api/plan/preview") else None
        ),
    )
    return bodies


def _stroke(page: Page, points: list[tuple[float, float]]) -> int:
    """Press, drag through ``points`` (lon/lat) and release; the units the page showed hit
    just before the release."""
    xy = [_screen(page, x, y) for x, y in points]
    page.page.mouse.move(*xy[0])
    page.page.mouse.down()
    for p in xy[1:]:
        page.page.mouse.move(*p, steps=8)
    shown = int(page.page.evaluate("() => document.body.dataset.strokeUnits || 0"))
    page.page.mouse.up()
    return shown


def _households(page: Page, code: str) -> int:
    text = page.page.inner_text(f"tr[data-grid='{code}'] td.hh")
    return int(re.sub(r"\D", "", text))


def _expected(store: Store, units: list[str], to: str) -> dict[str, int]:
    """Households of the grids an assign of ``units`` to ``to`` touches, from the blocks."""
    blocks = store.read("blocks").set_index("block_id")
    grids = store.read("grids").set_index("grid_code")["households"]
    moved = blocks.loc[units]
    moved = moved[moved["grid_code"] != to]
    out = {to: int(grids[to] + moved["households"].sum())}
    for code, households in moved.groupby("grid_code")["households"].sum().items():
        out[str(code)] = int(grids[code] - households)
    return out


def _brush_line(store: Store) -> tuple[str, str, shapely.LineString, list[str], list[str]]:
    """A stroke from a grid into its neighbour across several of the neighbour's blocks:
    (the grid painted into, the neighbour, the line in lon/lat, the blocks it surely crosses,
    the blocks it may touch)."""
    metric = store.metric_crs
    block, home, neighbour, _ = _border_block(store)
    grids = store.read_metric("grids").set_index("grid_code")
    blocks = store.read_metric("blocks")
    inside = blocks.set_index("block_id").geometry[block].representative_point()
    start = grids.geometry[neighbour].intersection(inside.buffer(80)).representative_point()
    dx, dy = inside.x - start.x, inside.y - start.y
    norm = math.hypot(dx, dy)
    # Inside the plan, across any grid: the expected figures come from the blocks hit.
    planned = grids.geometry.union_all().buffer(-2)
    for metres in (200, 160, 120, 90, 60, 40):
        end = shapely.Point(inside.x + dx / norm * metres, inside.y + dy / norm * metres)
        line = shapely.LineString([start, inside, end])
        if not line.within(planned):
            continue
        crossed = blocks[blocks.intersection(line).length > 8]
        of_home = crossed[crossed["grid_code"] == home]
        if len(of_home) >= 3:
            touched = blocks[blocks.intersects(line.buffer(3))]["block_id"]
            lonlat = shapely.LineString(_lonlat(line, metric))
            return (
                neighbour,
                home,
                lonlat,
                sorted(map(str, crossed["block_id"])),
                sorted(map(str, touched)),
            )
    pytest.skip("no straight stroke across three blocks of one grid from its neighbour")


def _lonlat(line: shapely.LineString, metric) -> list[tuple[float, float]]:
    """The points of a line in the metric CRS, in lon/lat."""
    return list(gpd.GeoSeries([line], crs=metric).to_crs(4326).iloc[0].coords)


def test_brush_across_a_neighbours_blocks_then_undo(browser, server):
    running, path = server
    store = Store(path)
    target, other, line, crossed, touched = _brush_line(store)
    grids = store.read("grids").set_index("grid_code")
    page = Page(browser, running.url)
    sent = _previews(page)
    page.open("/")
    _view(page, line, zoom=17)
    start = shapely.Point(line.coords[0])
    _start_on(page, target, start)
    page.page.click("#editor-brush")
    assert page.page.get_attribute("#editor-brush", "aria-pressed") == "true"
    page.page.wait_for_function("() => Number(document.body.dataset.paintUnits) > 0")
    centre = _centre(page)

    shown = _stroke(page, list(line.coords))
    assert shown >= 3  # the blocks were shown while dragging
    page.page.wait_for_selector(f"tr[data-grid='{other}']", timeout=60_000)
    print(f"brush preview in the browser: {page.page.evaluate(_PREVIEW_MS)} ms")
    assert _centre(page) == centre  # the map did not pan under the brush
    assert _edits(page) == 1  # one stroke, one edit
    edits = sent[-1]["edits"]
    assert len(edits) == 1 and edits[0]["op"] == "assign" and edits[0]["to"] == target
    units = edits[0]["units"]
    assert set(crossed) <= set(units) <= set(touched), (crossed, units, touched)
    expected = _expected(store, units, target)
    assert expected[other] < int(grids.loc[other, "households"])
    for code, households in expected.items():
        assert _households(page, code) == households, code
    page.shot("editor_brush")

    page.page.click("#editor-undo")
    page.page.wait_for_function("() => !document.querySelector('tr[data-grid]')")
    assert _edits(page) == 0  # the whole stroke was one undo step
    page.page.click("#editor-redo")
    page.page.wait_for_selector(f"tr[data-grid='{other}']", timeout=60_000)
    for code, households in expected.items():
        assert _households(page, code) == households, code
    # Back to plain paint: the map pans again.
    page.page.click("#editor-brush")
    assert page.page.evaluate("() => window.plannerMap.map.dragging.enabled()")
    page.check_clean()
    page.close()


def test_lasso_a_few_blocks_into_a_grid_undo_and_save(browser, server):
    running, path = server
    store = Store(path)
    metric = store.metric_crs
    target, other, line, crossed, _ = _brush_line(store)
    blocks = store.read_metric("blocks")
    # A loop around the blocks the stroke crosses: every block wholly inside must be taken
    # (its inner point is inside whichever way it is found), none wholly outside may be.
    chosen = blocks[blocks["block_id"].astype(str).isin(crossed)]
    loop = chosen.geometry.union_all().convex_hull.buffer(8, quad_segs=2)
    surely = blocks[blocks.within(loop)]["block_id"].astype(str)
    maybe = blocks[blocks.intersects(loop)]["block_id"].astype(str)
    assert len(surely) >= 3
    ring = _lonlat(loop.exterior, metric)
    page = Page(browser, running.url)
    sent = _previews(page)
    page.open("/")
    _view(page, line, zoom=17)
    _start_on(page, target, shapely.Point(line.coords[0]))
    page.page.click("#editor-lasso")
    page.page.wait_for_function("() => Number(document.body.dataset.paintUnits) > 0")
    centre = _centre(page)
    shown = _stroke(page, ring)
    assert shown >= len(surely)
    page.page.wait_for_selector("tr[data-grid]", timeout=60_000)
    assert _centre(page) == centre
    assert _edits(page) == 1
    edits = sent[-1]["edits"]
    assert len(edits) == 1 and edits[0]["op"] == "assign" and edits[0]["to"] == target
    units = edits[0]["units"]
    assert set(surely) <= set(units) <= set(maybe), (surely, units, maybe)
    expected = _expected(store, units, target)
    assert len(expected) >= 2  # blocks came from another grid
    for code, households in expected.items():
        assert _households(page, code) == households, code
    page.shot("editor_lasso")
    page.page.click("#editor-undo")
    page.page.wait_for_function("() => !document.querySelector('tr[data-grid]')")
    page.page.click("#editor-redo")
    page.page.wait_for_selector("tr[data-grid]", timeout=60_000)
    _save(page)
    saved = Store(path).read("grids").set_index("grid_code")["households"]
    for code, households in expected.items():
        assert saved[code] == households, code
    page.check_clean()
    page.close()


def test_rebalance_from_the_page_and_accept_it(browser, server):
    running, path = server
    merged_grids(path)  # one grid far over the range: something to rebalance
    base = plan_versions.current_version(Store(path))
    page = Page(browser, running.url)
    page.open("/")
    button = page.page.locator("#analysis button[data-step='rebalance_step']")
    assert button.inner_text() == "重新平衡网格"
    button.click()
    page.page.wait_for_selector("#job-decide:not([hidden])", timeout=600_000)
    job = page.page.inner_text("#job")
    assert job.startswith("重新平衡网格") and "待确认" in job, job
    figures = page.page.inner_text("#job-figures")
    for words in ("网格", "超出范围", "拓扑问题", "与当前方案相比", "调整户数"):
        assert words in figures, figures
    assert plan_versions.current_version(Store(path)) == base  # nothing saved yet
    page.page.locator("#job-decide").scroll_into_view_if_needed()
    page.shot("jobs_rebalance_proposed")
    page.page.click("#job-accept")
    page.page.wait_for_function(
        "() => document.getElementById('job').textContent.includes('已接受')", timeout=120_000
    )
    assert plan_versions.current_version(Store(path)) == base + 1
    page.page.wait_for_function(
        f"() => document.querySelector('#versions-list li').dataset.version === '{base + 1}'",
        timeout=30_000,
    )
    text = page.page.inner_text("#versions-list li")
    assert "当前" in text and "rebalance" in text, text
    page.wait()
    page.check_clean()
    page.close()


_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_analysis_steps_are_named_in_the_page_language(browser, server):
    running, _ = server
    page = Page(browser, running.url)
    page.open("/")
    page.page.wait_for_selector("#analysis button[data-step]")
    labels = page.page.locator("#analysis button[data-step]").all_inner_texts()
    assert len(labels) == 5  # four steps and "all"
    for label in labels:
        assert _CJK.search(label) and not re.search(r"[A-Za-z]", label), labels
    page.open("/?lang=en")
    page.page.wait_for_selector("#analysis button[data-step]")
    english = page.page.locator("#analysis button[data-step]").all_inner_texts()
    assert "Rebalance the grids" in english and "Generate grids" in english
    for label in english:
        assert not _CJK.search(label), english
    page.open("/?lang=zh")
    page.check_clean()
    page.close()
