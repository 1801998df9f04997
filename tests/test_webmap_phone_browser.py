"""The phone view (/m) and the map page at phone width, in a real browser (390×844, touch).

Chromium (Debian's, through Playwright) against waitress, as in
:mod:`tests.test_webmap_browser`: a field worker's phone with a set position finds the
nearest station on foot, sees the walk drawn and timed as `planner coverage` timed it,
calls grid staff with one tap, reloads the last area without a connection, and logs out
leaving nothing behind. Every answer a viewer receives is read for household or
special-group figures below the grid. First-load bytes and the time to the first map
are printed (``-s`` shows them); screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import json
import shutil
from urllib.parse import urlsplit

import pytest
import shapely

from planner import accounts
from planner.accounts import SPECIAL_GROUP_FIELDS
from planner.cli import run
from planner.settings import settings
from planner.store import Store
from tests.test_webmap_browser import CHROMIUM, SHOTS, _serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]

VIEWER = ("field", "test-password-1")
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
#: Answers that are map data (the viewport's features) or a nearest-station answer: not
#: counted in the first load's weight.
MAP_DATA = ("/api/layers/", "/api/nearby")
#: Fields that count households or people below the grid: never sent to a viewer.
FINE_HOUSEHOLDS = {"households", "households_served", "households_source"}


@pytest.fixture(scope="module")
def phone_server(nanjing_path, tmp_path_factory):
    """The demo store with `planner coverage` run on it and a viewer (field staff) account."""
    path = tmp_path_factory.mktemp("phone") / "phone.gpkg"
    shutil.copyfile(nanjing_path, path)
    assert run(["coverage", str(path)]) == 0
    accounts.add_user(path, VIEWER[0], "viewer", VIEWER[1])
    running = _serve(path)
    yield running, Store(path)
    running.stop()


def _target(store: Store) -> dict:
    """A building with a walk, a grid with staff and a building leader: where the phone is."""
    buildings = store.read("buildings")
    staff = store.read("staff")
    leaders = staff[staff["role"] == "building_leader"]
    chosen = buildings[
        buildings["building_id"].isin(leaders["building_id"]) & buildings["walk_m"].notna()
    ]
    row = chosen.sort_values("walk_m").iloc[len(chosen) // 2]
    at = shapely.point_on_surface(row.geometry)
    grids = store.read("grids").set_index("grid_code")
    return {
        "lon": at.x,
        "lat": at.y,
        "building_id": row["building_id"],
        "station_id": row["station_id"],
        "walk_m": float(row["walk_m"]),
        "grid_code": row["grid_code"],
        "grid_households": int(grids.loc[row["grid_code"], "households"]),
        "leader": leaders[leaders["building_id"] == row["building_id"]]["name"].iat[0],
    }


class Phone:
    """A phone-sized, touch browser context logged in as ``user``, recording every answer."""

    def __init__(self, browser, base_url: str, *, user=VIEWER, where=None, insecure=False):
        options = dict(PHONE)
        if where is not None:
            options["geolocation"] = {"latitude": where["lat"], "longitude": where["lon"]}
            options["permissions"] = ["geolocation"]
        self.context = browser.new_context(**options)
        self.base_url = base_url.rstrip("/")
        if user is not None:
            answer = self.context.request.post(
                self.base_url + "/api/login", data={"username": user[0], "password": user[1]}
            )
            assert answer.ok, answer.text()
        self.page = self.context.new_page()
        if insecure:
            # What a phone on a plain-HTTP address sees: no secure context.
            self.page.add_init_script(
                "Object.defineProperty(window, 'isSecureContext', { get: () => false })"
            )
        self.finished: list = []
        self.bodies: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.page.on("requestfinished", lambda r: self.finished.append(r))
        self.page.on("response", self._answer)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _answer(self, response) -> None:
        kind = response.headers.get("content-type", "")
        if response.status == 200 and ("json" in kind or "html" in kind):
            try:
                self.bodies.append((response.url, response.text()))
            except Exception:  # noqa: BLE001  a body gone with a navigation
                pass

    def open(self, path: str = "/m") -> None:
        self.page.goto(self.base_url + path)
        self.wait()

    def wait(self) -> None:
        self.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)

    def drawn(self) -> dict[str, int]:
        return self.page.evaluate("() => window.plannerPhone.drawn()")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def transferred(self, *, skip=MAP_DATA) -> tuple[int, int]:
        """Bytes on the wire (headers and encoded bodies) and requests, less map data."""
        total = count = 0
        for request in self.finished:
            if any(part in request.url for part in skip):
                continue
            sizes = request.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            total += sizes["requestHeadersSize"] + sizes["requestBodySize"]
            count += 1
        return total, count

    def close(self) -> None:
        self.context.close()


def _no_fine_figures(url: str, value, path: str = "") -> None:
    """No special-group count anywhere, no household count on anything finer than a grid."""
    if isinstance(value, dict):
        keys = set(value)
        assert not keys & SPECIAL_GROUP_FIELDS, (url, path, keys & SPECIAL_GROUP_FIELDS)
        if "building_id" in keys or "/layers/buildings/" in url:
            assert not keys & FINE_HOUSEHOLDS, (url, path, keys & FINE_HOUSEHOLDS)
        if "station_id" in keys:
            assert "households_served" not in keys, (url, path)
        for k, v in value.items():
            _no_fine_figures(url, v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_fine_figures(url, v, f"{path}[{i}]")


def _inspect(phone: Phone) -> int:
    """Read every JSON answer and page config the phone received; how many were read."""
    read = 0
    for url, text in phone.bodies:
        if text.lstrip().startswith("<"):
            start = text.find('id="page-config">')
            if start < 0:
                continue
            text = text[start + len('id="page-config">') : text.index("</script>", start)]
        _no_fine_figures(url, json.loads(text))
        read += 1
    return read


def _tap_targets(phone: Phone, selector: str) -> list[tuple[str, float, float]]:
    """Visible elements under ``selector`` smaller than 44 × 44 px: (text, width, height)."""
    return phone.page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel))
             .filter(e => e.offsetParent !== null)
             .map(e => { const r = e.getBoundingClientRect();
                         return [e.textContent.trim().slice(0, 20), r.width, r.height]; })
             .filter(([, w, h]) => w < 44 || h < 44)""",
        selector,
    )


def test_phone_finds_the_nearest_station_and_my_grid(browser, phone_server):
    running, store = phone_server
    where = _target(store)
    phone = Phone(browser, running.url, where=where)
    phone.open("/m")
    first_bytes, first_requests = phone.transferred()
    all_bytes, _ = phone.transferred(skip=())
    first_map_ms = int(phone.page.evaluate("() => document.body.dataset.firstMapMs"))
    print(
        f"\nphone view first load: {first_bytes / 1024:.1f} KB in {first_requests} requests "
        f"before map data ({all_bytes / 1024:.1f} KB with it); first map drawn after "
        f"{first_map_ms} ms (390×844, local server)"
    )
    assert first_bytes < 300 * 1024
    drawn = phone.drawn()
    assert drawn["grids"] > 0 and drawn["stations"] > 0, drawn
    # The map fills the screen; the sheet starts open but leaves most of it.
    height = phone.page.evaluate("() => document.getElementById('map').clientHeight")
    assert height == 844

    phone.page.click("#locate")
    phone.page.wait_for_selector("#m-minutes", timeout=60_000)
    minutes = phone.page.locator("#m-minutes")
    # The station and the walk are coverage's for the building the phone stands in.
    assert minutes.get_attribute("data-station") == where["station_id"]
    assert float(minutes.get_attribute("data-walk-m")) == pytest.approx(where["walk_m"], abs=0.06)
    expected = round(where["walk_m"] / settings.walking.speed_mps / 60)
    assert f"步行约 {expected} 分钟" in minutes.inner_text()
    assert phone.page.evaluate("() => window.plannerPhone.routePoints()") > 3
    # The demo has no existing station: the nearest is a planned one, and says so.
    assert phone.page.locator(".badge.planned").count() == 1
    assert phone.page.locator("a[href^='geo:']").count() == 1
    assert phone.page.locator("a[href^='https://uri.amap.com/']").count() == 1
    # My grid: its total, its staff and the building's leader, each a tap-to-call link.
    grid = phone.page.inner_text("#m-grid")
    assert where["grid_code"] in grid and where["leader"] in grid
    assert phone.page.inner_text("#m-grid-households") == f"{where['grid_households']:,}"
    calls = phone.page.locator("#m-grid a[href^='tel:']")
    assert calls.count() >= 2
    assert all(calls.nth(i).get_attribute("href")[4:].isdigit() for i in range(calls.count()))
    # Fitted to the walk, the map draws the streets and buildings around it.
    phone.wait()
    drawn = phone.drawn()
    assert drawn["roads"] > 0 and drawn["buildings"] > 0, drawn
    phone.shot("phone_nearest_zh")
    # Every tap target of the sheet and the map's zoom buttons is at least 44 px.
    small = _tap_targets(phone, "#sheet button, #sheet a, #sheet input, .leaflet-control-zoom a")
    assert small == [], small
    # The sheet collapses to its bar: the map is left whole.
    phone.page.click("#sheet-toggle")
    assert phone.page.locator("#sheet-body").is_hidden()
    sheet = phone.page.evaluate("() => document.getElementById('sheet').clientHeight")
    assert sheet < 130
    phone.shot("phone_sheet_collapsed_zh")

    # A viewer sees contacts and grid totals, never a household figure below the grid.
    assert _inspect(phone) >= 5
    hosts = {urlsplit(r.url).hostname for r in phone.finished if not r.url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, hosts
    assert phone.errors == []
    phone.close()


#: Chrome DevTools' "Slow 4G" profile: 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up.
SLOW_4G = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 200_000,
    "uploadThroughput": 93_750,
}


def test_phone_first_map_on_a_slow_network(browser, phone_server):
    running, _ = phone_server
    phone = Phone(browser, running.url)
    cdp = phone.context.new_cdp_session(phone.page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    phone.open("/m")
    first_bytes, first_requests = phone.transferred()
    first_map_ms = int(phone.page.evaluate("() => document.body.dataset.firstMapMs"))
    print(
        f"\nphone view on Slow 4G (150 ms, 1.6 Mbit/s): first map drawn after {first_map_ms} ms; "
        f"{first_bytes / 1024:.1f} KB in {first_requests} requests before map data"
    )
    assert first_bytes < 300 * 1024
    drawn = phone.drawn()
    assert drawn["grids"] > 0 and drawn["stations"] > 0, drawn
    assert phone.errors == []
    phone.close()


def test_phone_shows_the_last_area_offline_and_forgets_it_on_logout(browser, phone_server):
    running, store = phone_server
    where = _target(store)
    phone = Phone(browser, running.url, where=where)
    phone.open("/m")
    phone.page.click("#locate")
    phone.page.wait_for_selector("#m-minutes", timeout=60_000)
    phone.wait()
    # The worker took the page over and keeps the shell and this area's layers.
    phone.page.wait_for_function(
        """async () => {
             if (!navigator.serviceWorker.controller) return false;
             const shell = await (await caches.open('planner-m-shell-v1')).keys();
             const data = await (await caches.open('planner-m-data-v1')).keys();
             return shell.some(r => r.url.endsWith('/m')) &&
                    data.filter(r => r.url.includes('/features?')).length >= 3;
           }""",
        timeout=60_000,
    )
    online = phone.drawn()
    phone.context.set_offline(True)
    phone.page.reload()
    phone.wait()
    offline = phone.drawn()
    assert offline["grids"] == online["grids"] > 0
    assert offline["stations"] == online["stations"] > 0
    assert "离线" in phone.page.inner_text("#m-note")
    # The last walk and grid are still there to read, contacts and all.
    assert phone.page.locator("#m-minutes").get_attribute("data-station") == where["station_id"]
    assert phone.page.locator("#m-grid a[href^='tel:']").count() >= 2
    phone.shot("phone_offline_zh")
    # A tap without a connection says so and leaves the last answer in place.
    phone.page.evaluate(
        "([lat, lon]) => window.plannerPhone.nearby(lat + 0.001, lon + 0.001)",
        [where["lat"], where["lon"]],
    )
    assert "离线" in phone.page.inner_text("#m-note")
    assert phone.page.locator("#m-minutes").get_attribute("data-station") == where["station_id"]
    phone.context.set_offline(False)

    # Logging out deletes the worker's copies, the remembered view and answer, the worker.
    phone.page.click("#m-logout")
    phone.page.wait_for_url("**/login**", timeout=30_000)
    left = phone.page.evaluate(
        """async () => ({
             caches: (await caches.keys()).filter(n => n.startsWith('planner-m')),
             stored: Object.keys(localStorage).filter(k => k.startsWith('planner-m')),
             workers: (await navigator.serviceWorker.getRegistrations()).length,
           })"""
    )
    assert left == {"caches": [], "stored": [], "workers": 0}
    phone.close()


def test_phone_on_plain_http_says_why_locate_is_off_and_taps_still_work(browser, phone_server):
    running, store = phone_server
    where = _target(store)
    phone = Phone(browser, running.url, insecure=True)
    phone.open("/m?lang=en")
    assert phone.page.locator("#locate").is_disabled()
    assert "HTTPS" in phone.page.inner_text("#m-note")
    # Tapping the map still finds the nearest station.
    phone.page.evaluate(
        "([lat, lon]) => { window.plannerPhone.map.setView([lat, lon], 17, { animate: false }); }",
        [where["lat"], where["lon"]],
    )
    phone.wait()
    xy = phone.page.evaluate(
        "([lat, lon]) => { const p = window.plannerPhone.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [where["lat"], where["lon"]],
    )
    phone.page.touchscreen.tap(*xy)
    phone.page.wait_for_selector("#m-minutes", timeout=60_000)
    assert "min walk" in phone.page.inner_text("#m-minutes")
    phone.shot("phone_plain_http_en")
    assert phone.errors == []
    phone.close()


def test_map_page_at_phone_width(browser, phone_server):
    running, store = phone_server
    phone = Phone(browser, running.url)
    phone.page.goto(running.url.rstrip("/") + "/")
    phone.page.wait_for_selector("body[data-ready='1']", state="attached", timeout=60_000)
    # The map takes the screen; the panel is folded away behind one button.
    height = phone.page.evaluate("() => document.getElementById('map').clientHeight")
    assert height >= 0.8 * 844, height
    assert _tap_targets(phone, "#panel-toggle, .leaflet-control-zoom a") == []
    phone.shot("map_phone_folded_zh")
    phone.page.click("#panel-toggle")
    # the panel slides in: wait for it rather than look at once
    phone.page.locator("#layer-list").wait_for(state="visible", timeout=15_000)
    assert phone.page.locator("#layer-list").is_visible()
    # Layer rows a thumb can tick, a legend one can read.
    rows = phone.page.evaluate(
        """() => Array.from(document.querySelectorAll('#layer-list label'))
             .map(e => e.getBoundingClientRect().height)"""
    )
    # Chromium lays out in 1/64 px units: a 44 px row may measure 43.9999.
    assert rows and min(rows) >= 44 - 1 / 64, rows
    box = phone.page.evaluate(
        "() => document.querySelector('#layer-list input').getBoundingClientRect().width"
    )
    assert box >= 22
    legend = phone.page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('#legend')).fontSize)"
    )
    assert legend >= 14
    phone.shot("map_phone_panel_zh")
    phone.page.click("#panel-toggle")
    phone.page.locator("#layer-list").wait_for(state="hidden")
    # A grid's pop-up names its staff, each phone a tap-to-call link (logged-in users).
    code = phone.page.evaluate(
        """() => {
             let code = null;
             window.plannerMap.state.grids.group.eachLayer(l => {
               if (!code) { code = l.feature.properties.grid_code; l.openPopup(); }
             });
             return code;
           }"""
    )
    popup = phone.page.locator(".leaflet-popup-content")
    popup.wait_for()
    staff = store.read("staff")
    names = staff[(staff["grid_code"] == code) & (staff["role"] != "building_leader")]["name"]
    assert len(names) and all(n in popup.inner_text() for n in names)
    assert popup.locator("a[href^='tel:']").count() == len(names)
    phone.shot("map_phone_contacts_zh")
    phone.close()
