"""OGC API – Features of the web map: the JSON documents, paging, and GDAL's OAPIF driver."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyogrio
import pytest
import shapely

from planner import schema
from planner.store import Store
from planner_web import create_app
from planner_web.server import start_background

OGRINFO = shutil.which("ogrinfo")
OGR2OGR = shutil.which("ogr2ogr")


@pytest.fixture
def store_copy(nanjing_path, tmp_path) -> Path:
    path = tmp_path / "ogc.gpkg"
    shutil.copyfile(nanjing_path, path)
    return path


@pytest.fixture
def client(store_copy, login):
    """A test client logged in as an admin."""
    client = create_app({"STORE": str(store_copy), "TESTING": True}).test_client()
    login(client, store_copy)
    return client


def _links(document: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in document["links"]}


def test_landing_conformance_and_collections(client, store_copy):
    landing = client.get("/ogc/")
    assert landing.status_code == 200 and landing.mimetype == "application/json"
    links = _links(landing.get_json())
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["service-desc"]["href"].endswith("/api/openapi.json")
    conformance = client.get("/ogc/conformance").get_json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    collections = client.get("/ogc/collections").get_json()["collections"]
    store = Store(store_copy)
    # Findings have optional geometry (areas or points): they are features too. The plan
    # history is the store's bookkeeping, read through `planner plan`, not a map layer.
    spatial = [
        n
        for n in store.layers()
        if (schema.LAYERS[n].geometry is not None or n == "findings")
        and n not in schema.HISTORY_LAYERS
    ]
    assert [c["id"] for c in collections] == spatial
    assert "change_log" not in {c["id"] for c in collections}
    buildings = next(c for c in collections if c["id"] == "buildings")
    assert buildings["title"].startswith("楼栋")
    west, south, east, north = buildings["extent"]["spatial"]["bbox"][0]
    frame = store.read("buildings")
    assert (west, south, east, north) == pytest.approx(tuple(frame.total_bounds))
    items = next(link for link in buildings["links"] if link["rel"] == "items")
    assert items["type"] == "application/geo+json"


def test_items_follow_next_links_through_every_feature(client, store_copy):
    total = Store(store_copy).count("buildings")
    url = "/ogc/collections/buildings/items?limit=500"
    ids: list = []
    while url:
        response = client.get(url)
        assert response.mimetype == "application/geo+json"
        page = response.get_json()
        assert page["numberMatched"] == total
        assert page["numberReturned"] == len(page["features"])
        assert page["timeStamp"].endswith("Z")
        ids += [f["id"] for f in page["features"]]
        nxt = _links(page).get("next")
        url = nxt["href"].replace("http://localhost", "") if nxt else None
    assert len(ids) == len(set(ids)) == total


def test_items_bbox_and_default_limit(client, store_copy):
    box = (118.776, 32.036, 118.786, 32.046)
    frame = Store(store_copy).read("buildings")
    expected = int(frame.intersects(shapely.box(*box)).sum())
    bbox = ",".join(map(str, box))
    page = client.get(f"/ogc/collections/buildings/items?bbox={bbox}&limit=10000").get_json()
    assert page["numberMatched"] == page["numberReturned"] == expected
    default = client.get("/ogc/collections/buildings/items").get_json()
    assert default["numberReturned"] == 100


def test_single_item_and_errors(client, store_copy):
    gate = Store(store_copy).read("gates").iloc[0]
    response = client.get(f"/ogc/collections/gates/items/{gate['gate_id']}")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    feature = response.get_json()
    assert feature["id"] == gate["gate_id"]
    assert {"self", "collection"} <= set(_links(feature))
    assert client.get("/ogc/collections/gates/items/nope").status_code == 404
    assert client.get("/ogc/collections/nope").status_code == 404
    assert client.get("/ogc/collections/change_log/items").status_code == 404
    bad = client.get("/ogc/collections/gates/items?bbox=32,118,33,119")
    assert bad.status_code == 400 and "lat,lon" in bad.get_json()["error"]["message"]


@pytest.fixture
def server(store_copy):
    running = start_background(create_app({"STORE": str(store_copy)}))
    yield running
    running.stop()


def gdal_env(store_path, role: str = "admin") -> dict[str, str]:
    """GDAL's environment for reading the OGC API as a new account of ``role`` (basic auth
    with an API token as the password, as a QGIS or GDAL user would set it up)."""
    from planner import accounts

    name = f"gdal-{role}"
    if accounts.get_user(store_path, name) is None:
        accounts.add_user(store_path, name, role, "test-password-1")
    token = accounts.make_token(store_path, name)
    return {
        **os.environ,
        "GDAL_HTTP_AUTH": "BASIC",
        "GDAL_HTTP_USERPWD": f"{name}:{token}",
    }


@pytest.mark.skipif(OGRINFO is None or OGR2OGR is None, reason="GDAL command-line tools absent")
@pytest.mark.slow
def test_gdal_lists_the_layers_and_copies_them_out(server, store_copy, tmp_path):
    source = f"OAPIF:{server.url}ogc/"
    env = gdal_env(store_copy)
    listing = subprocess.run(
        [OGRINFO, "-ro", "-q", source], capture_output=True, text=True, timeout=120, env=env
    )
    assert listing.returncode == 0, listing.stderr
    store = Store(store_copy)
    for name in store.layers():
        if schema.LAYERS[name].geometry is not None and name not in schema.HISTORY_LAYERS:
            assert f": {name} " in listing.stdout, listing.stdout
    copied = [n for n in ("buildings", "grids") if store.has(n)]
    out = tmp_path / "copy.gpkg"
    result = subprocess.run(
        [OGR2OGR, "-f", "GPKG", str(out), source, *copied],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    for name in copied:
        original = store.read(name)
        frame = pyogrio.read_dataframe(out, layer=name)
        assert len(frame) == len(original)
        key = schema.LAYERS[name].key
        assert sorted(frame[key]) == sorted(original[key])
        # Chinese text survives the round trip.
        if "name" in original and original["name"].notna().any():
            assert set(original["name"].dropna()) == set(frame["name"].dropna())
        if "households" in original:
            assert int(frame["households"].sum()) == int(original["households"].sum())


@pytest.mark.parametrize(
    "query",
    ["bbox-crs=x", "crs=x", "datetime=2020-01-01", "filter=a", "sortby=name", "f=json", "bbox="],
)
def test_items_refuse_parameters_they_do_not_declare(client, query):
    response = client.get(f"/ogc/collections/gates/items?{query}")
    assert response.status_code == 400, query
    assert response.get_json()["error"]["param"] == query.split("=")[0]
