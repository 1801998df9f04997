"""Map tiles of the big layers, and caches kept by layer version (planner_web.tiles, features)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import shapely

from planner.errors import PlannerError
from planner.store import Store
from planner_web import create_app
from planner_web.features import CATALOG_SUFFIX, FeatureSource, LayerFeatures, make_tile
from planner_web.tiles import Tile, TileCache, tile_bounds, tiles_covering


@pytest.fixture
def store_copy(nanjing_path, tmp_path) -> Path:
    path = tmp_path / "tiles.gpkg"
    shutil.copyfile(nanjing_path, path)
    return path


@pytest.fixture
def client(store_copy, login):
    app = create_app({"STORE": str(store_copy), "TESTING": True})
    client = app.test_client()
    login(client, store_copy)
    yield client
    app.extensions["planner.jobs"].shutdown()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    return tiles_covering((lon, lat, lon, lat), z)[0]


def test_tiles_cover_a_box_and_hold_their_points():
    box = (118.77, 32.03, 118.80, 32.05)
    keys = tiles_covering(box, 15)
    union = shapely.union_all([shapely.box(*tile_bounds(15, x, y)) for x, y in keys])
    assert union.covers(shapely.box(*box))
    x, y = _tile_of(118.78, 32.04, 17)
    w, s, e, n = tile_bounds(17, x, y)
    assert w <= 118.78 < e and s <= 32.04 < n
    # Neighbouring tiles share their edges exactly.
    assert tile_bounds(17, x, y)[2] == tile_bounds(17, x + 1, y)[0]


def test_a_tile_sends_the_features_that_intersect_it(store_copy):
    source = FeatureSource(store_copy)
    layer = source.layer("buildings")
    centre = layer.centres[np.nanargmax(layer.frame["households"].to_numpy(float))]
    x, y = _tile_of(*centre, 16)
    tile = source.tile("buildings", 16, x, y, properties=["households", "covered"])
    data = json.loads(tile.text)
    assert data["tile"] == [16, x, y] and data["generalised"] is False
    tile_box = shapely.box(*tile_bounds(16, x, y))
    expected = {
        str(layer.ids[i]) for i in np.flatnonzero(shapely.intersects(layer.geometries, tile_box))
    }
    assert {str(f["id"]) for f in data["features"]} == expected
    assert data["numberMatched"] == data["numberReturned"] == len(expected) > 0
    assert all(set(f["properties"]) == {"households", "covered"} for f in data["features"])
    # Made once per layer version, then kept.
    assert source.tile("buildings", 16, x, y, properties=["households", "covered"]) is tile


def test_a_dense_tile_is_generalised_to_cells_that_keep_the_counts_and_sums(store_copy):
    layer = FeatureSource(store_copy).layer("buildings")
    west, south, east, north = layer.bounds
    x, y = _tile_of((west + east) / 2, (south + north) / 2, 13)
    whole = make_tile(layer, 13, x, y, properties=("households",))
    cells = make_tile(layer, 13, x, y, properties=("households",), budget=10)
    data = json.loads(cells.text)
    assert cells.generalised and data["generalised"] is True
    assert cells.number_matched == whole.number_matched > 10
    assert 0 < cells.number_returned < cells.number_matched
    # Each feature counts in the one tile holding its centre.
    tile_box = shapely.box(*tile_bounds(13, x, y))
    centred = shapely.contains_xy(tile_box, layer.centres[:, 0], layer.centres[:, 1])
    assert sum(f["properties"]["cell"] for f in data["features"]) == int(centred.sum())
    households = layer.frame["households"].fillna(0).to_numpy(float)[centred].sum()
    assert sum(f["properties"]["households"] for f in data["features"]) == pytest.approx(households)
    assert all(str(f["id"]).startswith("cell-13-") for f in data["features"])


def test_lines_of_a_dense_tile_keep_the_longest(store_copy):
    layer = FeatureSource(store_copy).layer("roads")
    west, south, east, north = layer.bounds
    x, y = _tile_of((west + east) / 2, (south + north) / 2, 14)
    tile = make_tile(layer, 14, x, y, properties=(), budget=5)
    data = json.loads(tile.text)
    assert tile.generalised and tile.number_returned == 5 < tile.number_matched
    kept = {str(f["id"]) for f in data["features"]}
    rows = layer.rows_in(tile_bounds(14, x, y))
    lengths = shapely.length(layer.geometries[rows])
    longest = {str(layer.ids[r]) for r in rows[np.argsort(-lengths)[:5]]}
    assert kept == longest


def test_tiles_outside_the_map_are_refused(store_copy):
    layer = FeatureSource(store_copy).layer("buildings")
    with pytest.raises(PlannerError, match="outside"):
        make_tile(layer, 3, 8, 0)
    with pytest.raises(PlannerError, match="zoom"):
        make_tile(layer, 30, 0, 0)


def test_tile_cache_drops_the_least_used_and_old_versions():
    cache = TileCache(max_bytes=10)
    tile = Tile("x" * 4, 1, 1, False)
    cache.put(("a", "v1", 1), tile)
    cache.put(("a", "v1", 2), tile)
    cache.get(("a", "v1", 1))
    cache.put(("b", "v1", 3), tile)  # over 10 bytes: the least recently used goes
    assert cache.get(("a", "v1", 2)) is None and cache.get(("a", "v1", 1)) is tile
    cache.keep({("b", "v1")})
    assert len(cache) == 1 and cache.get(("b", "v1", 3)) is tile and cache.nbytes == 4


def test_tile_route_answers_geojson_with_etag_and_refuses_bad_tiles(client, store_copy):
    layer = FeatureSource(store_copy).layer("buildings")
    west, south, east, north = layer.bounds
    x, y = _tile_of((west + east) / 2, (south + north) / 2, 16)
    url = f"/api/layers/buildings/tiles/16/{x}/{y}?properties=households,covered"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and body["layer"] == "buildings"
    assert body["tile"] == [16, x, y] and body["numberReturned"] == len(body["features"]) > 0
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    outside = client.get("/api/layers/buildings/tiles/3/9/0")
    assert outside.status_code == 404 and "outside" in outside.get_json()["error"]["message"]
    deep = client.get("/api/layers/buildings/tiles/30/0/0")
    assert deep.status_code == 400 and "zoom" in deep.get_json()["error"]["message"]
    assert client.get("/api/layers/nothing/tiles/3/1/1").status_code == 404
    # The page is told where tiles are and from what size a layer is tiled.
    page = client.get("/").get_data(as_text=True)
    assert "/api/layers/__layer__/tiles/__z__/__x__/__y__" in page
    assert '"tiled_layer_min"' in page


def test_a_write_of_one_layer_keeps_the_others_and_their_tiles(store_copy):
    source = FeatureSource(store_copy)
    buildings = source.layer("buildings")
    grids = source.layer("grids")
    x, y = _tile_of(*buildings.centres[0], 16)
    tile = source.tile("buildings", 16, x, y)
    store = Store(store_copy)
    frame = store.read("grids")
    frame.loc[frame.index[0], "name"] = "改过的网格"
    store.write("grids", frame)
    assert source.layer("grids") is not grids
    assert "改过的网格" in set(source.layer("grids").frame["name"])
    # The buildings did not change: not read again, their tiles kept.
    assert source.layer("buildings") is buildings
    assert source.tile("buildings", 16, x, y) is tile


def test_catalogue_is_kept_by_layer_version_beside_the_store(store_copy, monkeypatch):
    first = FeatureSource(store_copy).catalog()
    saved = store_copy.with_name(store_copy.name + CATALOG_SUFFIX)
    assert saved.exists()
    reads = []
    original = LayerFeatures.from_frame.__func__

    def counting(cls, name, frame, **kwargs):
        reads.append(name)
        return original(cls, name, frame, **kwargs)

    monkeypatch.setattr(LayerFeatures, "from_frame", classmethod(counting))
    # A restart: the entries come from the file, no layer is read to count it.
    assert FeatureSource(store_copy).catalog() == json.loads(json.dumps(first))
    assert reads == []
    store = Store(store_copy)
    frame = store.read("stations")
    store.write("stations", frame.iloc[:-1])
    again = FeatureSource(store_copy).catalog()
    assert reads == ["stations"]
    entry = next(e for e in again if e["name"] == "stations")
    assert entry["count"] == len(frame) - 1


def test_a_warmed_source_has_its_layer_list_made_before_the_first_page(
    store_copy, login, monkeypatch
):
    # As `planner serve` does once it listens: the layers are read and counted meanwhile.
    app = create_app({"STORE": str(store_copy), "TESTING": True})
    try:
        source = app.extensions["planner.features"]
        source.warm().join(timeout=300)
        assert store_copy.with_name(store_copy.name + CATALOG_SUFFIX).exists()
        reads = []
        monkeypatch.setattr(LayerFeatures, "from_frame", lambda *a, **k: reads.append(a))
        client = app.test_client()
        login(client, store_copy)
        listed = client.get("/api/layers")
        assert listed.status_code == 200
        names = {e["name"] for e in listed.get_json()["layers"]}
        assert {"buildings", "grids", "stations"} <= names
        assert reads == []  # the first page's list read no layer: it was made
        assert source.warm() is source.warm()  # once per source
    finally:
        app.extensions["planner.jobs"].shutdown()


def test_catalogue_is_made_once_when_asked_at_once(store_copy, monkeypatch):
    source = FeatureSource(store_copy)
    made = []
    original = FeatureSource._entry

    def counting(self, name):
        made.append(name)
        return original(self, name)

    monkeypatch.setattr(FeatureSource, "_entry", counting)
    threads = [threading.Thread(target=source.catalog) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == sorted(set(made)) == sorted(source.names())


def test_a_store_made_anew_is_not_taken_for_the_old_one(tmp_path):
    a = Store.create(tmp_path / "a.gpkg", metric_crs="EPSG:32650", name="a")
    b = Store.create(tmp_path / "b.gpkg", metric_crs="EPSG:32650", name="b")
    assert a.metadata["store_id"] != b.metadata["store_id"]
