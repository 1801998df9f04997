"""The web map in a real browser (Debian's Chromium driven by Playwright) against waitress.

Every page must load with no console error and no request to any host but the local
server. Screenshots are saved under ``artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner import accounts
from planner.store import Store
from planner_web import create_app
from planner_web.server import start_background

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


#: The account the browser tests log in with (an admin: every layer, every button).
ADMIN = ("admin", "test-password-1")


def _serve(path: Path):
    if accounts.get_user(path, ADMIN[0]) is None:
        accounts.add_user(path, ADMIN[0], "admin", ADMIN[1])
    app = create_app({"STORE": str(path)})
    running = start_background(app)
    return running


@pytest.fixture(scope="module")
def demo_server(nanjing_path, tmp_path_factory):
    """The demo store as `make demo` serves it (a copy)."""
    path = tmp_path_factory.mktemp("browser") / "demo.gpkg"
    shutil.copyfile(nanjing_path, path)
    running = _serve(path)
    yield running, Store(path)
    running.stop()


@pytest.fixture(scope="module")
def rich_server(nanjing_path, tmp_path_factory):
    """The demo store plus stations, coverage, edge areas and isochrones where it lacks them."""
    path = tmp_path_factory.mktemp("browser-rich") / "rich.gpkg"
    shutil.copyfile(nanjing_path, path)
    _enrich(Store(path))
    running = _serve(path)
    yield running, Store(path)
    running.stop()


def _enrich(store: Store) -> None:
    """Test data for the styles the demo may not have yet (straight-line coverage, not walking)."""
    frames = {}
    metric = store.metric_crs
    stations = store.read("stations")
    if stations.empty:
        sites = store.read("candidate_sites").iloc[[0, 20, 40]]
        stations = gpd.GeoDataFrame(
            {
                "station_id": ["E1", "P1", "P2"],
                "name": ["新街口党群服务站", "拟建站一", "拟建站二"],
                "status": ["existing", "proposed", "proposed"],
                "scenario": [None, "test", "test"],
            },
            geometry=sites.geometry.to_numpy(),
            crs=sites.crs,
        )
        frames["stations"] = stations
    buildings = store.read("buildings")
    if buildings["walk_m"].isna().all():
        points = stations.to_crs(metric).geometry.to_numpy()
        centres = buildings.to_crs(metric).geometry.centroid.to_numpy()
        distance = np.stack([shapely.distance(centres, p) for p in points])
        buildings["station_id"] = stations["station_id"].to_numpy()[distance.argmin(axis=0)]
        buildings["walk_m"] = distance.min(axis=0)
        buildings["covered"] = buildings["walk_m"] <= 400
        frames["buildings"] = buildings
    if not store.has("edge_areas"):
        compounds = store.read_metric("compounds").iloc[:2]
        strips = compounds.geometry.buffer(12).difference(compounds.geometry)
        frames["edge_areas"] = gpd.GeoDataFrame(
            {"edge_id": ["EA1", "EA2"], "kind": ["border", "strip"], "disputed": [False, True]},
            geometry=strips.to_numpy(),
            crs=metric,
        )
    if not store.has("isochrones"):
        existing = stations.to_crs(metric).iloc[:1]
        frames["isochrones"] = gpd.GeoDataFrame(
            {"station_id": existing["station_id"], "minutes": [15.0], "meters": [400.0]},
            geometry=existing.geometry.buffer(400).to_numpy(),
            crs=metric,
        )
    if frames:
        store.write_many(frames)


class Page:
    """A browser page that records every request, failure and console error."""

    def __init__(
        self, browser, base_url: str, *, width: int = 1440, height: int = 900, log_in: bool = True
    ):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.base_url = base_url
        if log_in:
            # The session cookie lands in the page's context, as the login form would set it.
            answer = self.page.request.post(
                base_url.rstrip("/") + "/api/login",
                data={"username": ADMIN[0], "password": ADMIN[1]},
            )
            assert answer.ok, answer.text()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", self._failed)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _failed(self, request) -> None:
        # The map aborts its own stale viewport requests when the view moves on: not an error.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"failed: {request.url} ({request.failure})")

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url.rstrip("/") + path)
        self.wait()

    def wait(self) -> None:
        self.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=30_000)

    def drawn(self) -> dict[str, int]:
        return self.page.evaluate(
            """() => {
              const out = {};
              const s = window.plannerMap.state;
              for (const name of Object.keys(s)) out[name] = s[name].group.getLayers().length;
              return out;
            }"""
        )

    def check_clean(self) -> None:
        assert self.errors == []
        hosts = {urlsplit(u).hostname for u in self.requests if not u.startswith("data:")}
        assert hosts == {"127.0.0.1"}, hosts

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.page.close()


VISIBLE = (
    "() => Object.keys(window.plannerMap.state).filter(n => window.plannerMap.state[n].visible)"
)


def _click_at(page: Page, lon: float, lat: float) -> None:
    xy = page.page.evaluate(
        f"""() => {{
          const m = window.plannerMap.map;
          const p = m.latLngToContainerPoint([{lat}, {lon}]);
          const r = m.getContainer().getBoundingClientRect();
          return [p.x + r.left, p.y + r.top];
        }}"""
    )
    page.page.mouse.click(*xy)


def drag_vertex_towards(page: Page, target, px: float = 30.0) -> None:
    """Drag the vertex marker (Geoman's) nearest ``target`` (a lon/lat point) ``px``
    pixels towards it: far enough for a sizeable change of the outline."""
    start, end = page.page.evaluate(
        f"""() => {{
          const m = window.plannerMap.map;
          const r = m.getContainer().getBoundingClientRect();
          const p = m.latLngToContainerPoint([{target.y}, {target.x}]);
          const to = [p.x + r.left, p.y + r.top];
          let best = null, dist = Infinity;
          document.querySelectorAll(".marker-icon:not(.marker-icon-middle)").forEach((el) => {{
            const b = el.getBoundingClientRect();
            const c = [b.left + b.width / 2, b.top + b.height / 2];
            const d = Math.hypot(c[0] - to[0], c[1] - to[1]);
            if (d < dist) {{ dist = d; best = c; }}
          }});
          const d = Math.hypot(to[0] - best[0], to[1] - best[1]) / {px};
          return [best, [best[0] + (to[0] - best[0]) / d, best[1] + (to[1] - best[1]) / d]];
        }}"""
    )
    page.page.mouse.move(*start)
    page.page.mouse.down()
    page.page.mouse.move(*end, steps=12)
    page.page.mouse.up()


def show(page: Page, *names: str) -> None:
    """Tick the layers ``names`` in the layer list and wait until they are drawn."""
    for name in names:
        box = page.page.locator(f"input[data-layer='{name}']")
        if not box.is_checked():
            page.page.evaluate("() => { document.body.dataset.ready = '0'; }")
            box.check()
            page.page.evaluate("() => window.plannerMap.refresh && window.plannerMap.refresh()")
            page.wait()


def test_map_page_draws_every_demo_layer_with_no_outside_request(browser, demo_server):
    running, store = demo_server
    page = Page(browser, running.url)
    page.open("/")
    drawn = page.drawn()
    catalog = page.page.evaluate(
        "() => Object.fromEntries(Object.entries(window.plannerMap.catalog)"
        ".map(([k, v]) => [k, v.count]))"
    )
    # A clear first view (the roads are the base map: no tiles by default); every other
    # layer, findings included, is one click away.
    first_view = {"community", "grids", "roads", "buildings", "stations"}
    visible = set(page.page.evaluate(VISIBLE))
    assert visible == first_view & set(catalog), visible
    for name in visible:
        if catalog[name]:
            assert drawn[name] > 0, (name, drawn)
    zoomed_only = {"blocks", "walk_edges", "walk_nodes"}
    others = [n for n in catalog if catalog[n] and n not in visible | zoomed_only]
    show(page, *others)
    drawn = page.drawn()
    for name in others:
        assert drawn[name] > 0, (name, drawn)
    assert drawn["buildings"] <= store.count("buildings")
    panel = page.page.inner_text("#panel")
    assert store.name in panel and "图层" in panel and "图例" in panel
    assert f"{store.summary()['households']['total']:,}" in panel
    if store.has("grids"):
        labels = page.page.locator(".grid-label").count()
        assert labels == store.count("grids")
    # Buildings were fetched by viewport (bbox + zoom), gzipped.
    assert any("/api/layers/buildings/features?" in u and "bbox=" in u for u in page.requests)
    page.shot("map_zh")
    page.check_clean()
    page.close()


def test_zoom_in_reloads_by_bbox_and_popup_shows_chinese_fields(browser, demo_server):
    running, store = demo_server
    page = Page(browser, running.url)
    page.open("/")
    building = store.read("buildings").sort_values("households").iloc[-1]
    point = building.geometry.representative_point()
    before = len(page.requests)
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          window.plannerMap.map.setView([{point.y}, {point.x}], 18, {{ animate: false }});
        }}"""
    )
    page.wait()
    fetched = [u for u in page.requests[before:] if "/api/layers/buildings/features" in u]
    assert fetched and "zoom=18" in fetched[-1] and "bbox=" in fetched[-1]
    _click_at(page, point.x, point.y)
    popup = page.page.locator(".leaflet-popup-content")
    # Buildings are drawn with a few fields: the pop-up says 加载中… until the rest arrives.
    popup.locator("h3").wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "楼栋" in text and "户数" in text and str(building["building_id"]) in text
    # Coded values are shown by their Chinese names (户数来源: 台账 or 估算).
    assert "台账" in text or "估算" in text
    page.page.wait_for_timeout(400)  # let the pop-up finish fading in before the screenshot
    page.shot("map_zoom_popup")
    page.check_clean()
    page.close()


def test_stations_coverage_and_edge_areas_are_styled(browser, rich_server):
    running, store = rich_server
    page = Page(browser, running.url)
    page.open("/")
    show(page, "edge_areas", "isochrones")
    stations = store.read("stations")
    icons = page.page.locator(".leaflet-marker-pane .station-icon")
    assert icons.count() == len(stations)
    proposed = page.page.locator(".leaflet-marker-pane .station-icon.proposed").count()
    assert proposed == int((stations["status"] == "proposed").sum())
    legend = page.page.inner_text("#legend")
    assert "15分钟步行未覆盖" in legend and "边缘地带" in legend
    assert "现有" in legend and "拟建" in legend
    assert page.page.locator("svg pattern#hatch-edge").count() == 1
    hatched = page.page.locator("svg path[fill='url(#hatch-edge)']").count()
    assert hatched >= 1
    buildings = store.read("buildings")
    beyond = (buildings["households"] > 0) & ~buildings["covered"]
    summary = page.page.inner_text("#summary")
    assert f"{int(buildings.loc[beyond, 'households'].sum()):,}\n15分钟未覆盖户数" in summary
    assert f"{int(beyond.sum()):,}\n15分钟未覆盖楼栋" in summary
    page.shot("map_coverage")
    page.check_clean()
    page.close()


def test_english_page_and_search_by_grid_code(browser, demo_server):
    running, store = demo_server
    page = Page(browser, running.url)
    page.open("/?lang=en")
    assert page.page.locator("html").get_attribute("lang") == "en"
    assert "Layers" in page.page.inner_text("#panel")
    layer, key = ("grids", "grid_code") if store.has("grids") else ("buildings", "building_id")
    code = str(store.read(layer)[key].iloc[0])
    page.page.fill("#search-input", code)
    page.page.click("#search button")
    popup = page.page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    assert code in popup.inner_text()
    page.wait()
    page.shot("map_en_search")
    page.check_clean()
    page.close()


def test_api_docs_page_renders_offline(browser, demo_server):
    running, _ = demo_server
    page = Page(browser, running.url)
    page.page.goto(running.url + "api/docs")
    page.page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.page.locator(".opblock").count() >= 15
    page.shot("api_docs")
    page.check_clean()
    page.close()


def test_phone_sized_viewport(browser, demo_server):
    running, _ = demo_server
    page = Page(browser, running.url, width=390, height=844)
    page.open("/")
    assert page.drawn()["buildings"] > 0
    page.shot("map_phone")
    page.check_clean()
    page.close()


def test_login_page_in_chinese_then_the_map(browser, demo_server):
    running, _ = demo_server
    page = Page(browser, running.url, log_in=False)
    page.page.goto(running.url)
    page.page.wait_for_selector("#login-form")
    assert "/login" in page.page.url
    assert "登录" in page.page.inner_text("main")
    page.page.fill("#username", ADMIN[0])
    page.page.fill("#password", "wrong-password")
    page.page.click("#login-form button")
    page.page.wait_for_selector("#login-error:not([hidden])")
    assert "错误" in page.page.inner_text("#login-error")
    page.shot("login")
    page.page.fill("#password", ADMIN[1])
    page.page.click("#login-form button")
    page.wait()
    assert page.drawn()["buildings"] > 0
    assert ADMIN[0] in page.page.inner_text("#user-name")
    # The failed attempt is the only error: a 401 the page explains.
    page.errors = [e for e in page.errors if "401" not in e]
    page.check_clean()
    page.close()


def test_one_time_url_logs_in_once(browser, demo_server):
    running, store = demo_server
    token = accounts.make_login_token(store)
    page = Page(browser, running.url, log_in=False)
    page.open(f"/?token={token}")
    assert "token=" not in page.page.url  # dropped from the address bar and history
    assert page.drawn()["grids"] > 0
    assert page.page.locator("#analysis button").count() > 0  # admin: the analysis buttons
    page.check_clean()
    page.close()
    again = Page(browser, running.url, log_in=False)
    again.page.goto(f"{running.url}?token={token}")
    again.page.wait_for_selector("#login-form")
    assert "expired" in again.page.url
    again.close()


def test_paint_a_block_into_a_neighbour_undo_and_save(browser, demo_server):
    """The grid editor: pick a grid, click a neighbour's block, both counts change; undo;
    redo; save as a new plan version, which the store then holds."""
    from tests.test_plan_edit import _border_block

    running, store = demo_server
    store = Store(store.path)
    block_id, home, neighbour, households = _border_block(store)
    grids = store.read("grids").set_index("grid_code")
    block = store.read("blocks").set_index("block_id").loc[block_id]
    inside = block.geometry.representative_point()
    # A point of the neighbour near the block, so both are in view.
    near = grids.geometry[neighbour].intersection(block.geometry.buffer(0.0008))
    target = near.representative_point()
    page = Page(browser, running.url)
    page.open("/")
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          window.plannerMap.map.setView([{inside.y}, {inside.x}], 16, {{ animate: false }});
        }}"""
    )
    page.wait()
    page.page.click("#editor-toggle")
    page.page.wait_for_selector("#editor-hint")
    _click_at(page, target.x, target.y)
    page.page.wait_for_function(
        f"() => document.getElementById('editor-hint').textContent.includes('{neighbour}')"
    )
    assert page.errors == []
    _click_at(page, inside.x, inside.y)
    row = page.page.locator(f"tr[data-grid='{neighbour}'] td.hh")
    row.wait_for(timeout=60_000)
    expected = int(grids.loc[neighbour, "households"] + households)
    assert f"{expected:,}" in row.inner_text()
    home_row = page.page.locator(f"tr[data-grid='{home}'] td.hh")
    assert f"{int(grids.loc[home, 'households'] - households):,}" in home_row.inner_text()
    preview_ms = int(page.page.evaluate("() => document.body.dataset.previewMs"))
    print(f"live update in the browser: {preview_ms} ms")
    page.shot("editor_paint")

    page.page.click("#editor-undo")
    page.page.wait_for_function("() => !document.querySelector('tr[data-grid]')")
    page.page.click("#editor-redo")
    row.wait_for(timeout=60_000)
    print(
        f"live update after redo: {page.page.evaluate('() => document.body.dataset.previewMs')} ms"
    )
    version = store.metadata.get("plan_version")
    page.page.click("#editor-save")
    page.page.wait_for_selector("#status:not([hidden])")
    page.wait()
    saved = Store(store.path)
    assert saved.metadata["plan_version"] == version + 1
    after = saved.read("grids").set_index("grid_code")["households"]
    assert after[neighbour] == expected
    page.check_clean()
    page.close()


def test_a_building_inside_an_edge_area_opens_its_own_popup(browser, demo_server):
    running, store = demo_server
    store = Store(store.path)
    edges = store.read("edge_areas")
    buildings = store.read("buildings")
    points = buildings.geometry.representative_point()
    inside = points.within(edges.geometry.union_all()) & (buildings["households"] > 0)
    if not inside.any():
        pytest.skip("no building with households inside an edge area in this store")
    point = points[inside].iloc[0]
    page = Page(browser, running.url)
    page.open("/")
    show(page, "edge_areas")
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          window.plannerMap.map.setView([{point.y}, {point.x}], 18, {{ animate: false }});
        }}"""
    )
    page.wait()
    _click_at(page, point.x, point.y)
    popup = page.page.locator(".leaflet-popup-content h3")
    popup.wait_for(timeout=10_000)
    assert popup.inner_text().startswith("楼栋")
    page.check_clean()
    page.close()
