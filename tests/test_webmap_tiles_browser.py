"""The map page drawing a big layer by map tile (as it does a district's buildings)."""

from __future__ import annotations

import shutil

import pytest

from planner import accounts
from planner.store import Store
from planner_web import create_app
from planner_web.server import start_background
from tests.test_webmap_browser import ADMIN, CHROMIUM, Page, _click_at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium absent (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def tiled_server(nanjing_path, tmp_path_factory):
    """The demo store served as a district's would be: its buildings (1k+) by tile, and
    tiles of more than 200 buildings generalised to cells."""
    path = tmp_path_factory.mktemp("browser-tiles") / "demo.gpkg"
    shutil.copyfile(nanjing_path, path)
    if accounts.get_user(path, ADMIN[0]) is None:
        accounts.add_user(path, ADMIN[0], "admin", ADMIN[1])
    app = create_app({"STORE": str(path), "TILED_LAYER_MIN": 500, "TILE_FEATURE_BUDGET": 200})
    running = start_background(app)
    yield running, Store(path)
    running.stop()


def _view(page: Page, lon: float, lat: float, zoom: float) -> None:
    page.page.evaluate(
        f"""() => {{
          document.body.dataset.ready = "0";
          window.plannerMap.map.setView([{lat}, {lon}], {zoom}, {{ animate: false }});
        }}"""
    )
    page.wait()


def _buildings(page: Page) -> dict:
    return page.page.evaluate(
        """() => {
          const s = window.plannerMap.state.buildings;
          const ids = s.group.getLayers().map(l => l.feature.id);
          const cells = s.group.getLayers().filter(l => l.feature.properties.cell).length;
          return { drawn: ids.length, unique: new Set(ids).size, cells: cells,
                   tiled: !!s.tiled, truncated: !!s.truncated };
        }"""
    )


def test_buildings_by_tile_with_cells_far_out_and_popups_close_in(browser, tiled_server):
    running, store = tiled_server
    page = Page(browser, running.url)
    page.open("/")
    buildings = store.read("buildings")
    building = buildings.sort_values("households").iloc[-1]
    point = building.geometry.representative_point()
    # Far out: the dense tiles come as cells, coloured by their buildings' mean households.
    _view(page, point.x, point.y, 14)
    far = _buildings(page)
    assert far["tiled"] and far["cells"] > 0 and far["truncated"]
    assert far["drawn"] == far["unique"]
    tiles = [u for u in page.requests if "/api/layers/buildings/tiles/13/" in u]
    assert tiles and all("properties=households%2Ccovered" in u for u in tiles)
    assert not any("/api/layers/buildings/features?" in u for u in page.requests)
    # Close in: every building of the view, once each though tiles overlap, and its pop-up.
    _view(page, point.x, point.y, 18)
    near = _buildings(page)
    assert near["cells"] == 0 and near["drawn"] == near["unique"] > 0
    assert any("/api/layers/buildings/tiles/17/" in u for u in page.requests)
    _click_at(page, point.x, point.y)
    popup = page.page.locator(".leaflet-popup-content")
    popup.locator("h3").wait_for(timeout=10_000)
    text = popup.inner_text()
    assert "楼栋" in text and "户数" in text and str(building["building_id"]) in text
    # Back to a tile seen before: drawn from memory, not asked again.
    before = len(page.requests)
    _view(page, point.x, point.y, 14)
    assert _buildings(page) == far
    assert not [u for u in page.requests[before:] if "/tiles/" in u]
    page.shot("map_tiles")
    page.check_clean()
    page.close()
