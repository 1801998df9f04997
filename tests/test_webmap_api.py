"""Web map REST API on a copy of the Nanjing demo store: layers, bbox features, errors, jobs."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import pipeline, schema
from planner.crs import wgs84_to_gcj02
from planner.errors import PlannerError
from planner.pipeline import parse_bbox
from planner.store import Store
from planner_web import create_app
from planner_web.features import tolerance_for, zoom_level

ROOT = Path(__file__).resolve().parents[1]
# The centre of Xinjiekou, and a box of a few hundred metres around it.
BBOX = (118.776, 32.036, 118.786, 32.046)


@pytest.fixture
def store_copy(nanjing_path, tmp_path) -> Path:
    path = tmp_path / "web.gpkg"
    shutil.copyfile(nanjing_path, path)
    return path


@pytest.fixture
def app(store_copy):
    app = create_app({"STORE": str(store_copy), "TESTING": True})
    yield app
    app.extensions["planner.jobs"].shutdown()


@pytest.fixture
def client(app, store_copy, login):
    """A test client logged in as an admin."""
    client = app.test_client()
    login(client, store_copy)
    return client


def _bbox(box=BBOX) -> str:
    return ",".join(str(v) for v in box)


def _error(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    return body["error"]["message"]


# -- helpers (planner.pipeline.parse_bbox, planner_web.features) -----------------------------


def test_parse_bbox_accepts_lonlat_and_refuses_swapped_or_inverted():
    assert parse_bbox("118.7, 32.0,118.8,32.1", query=True) == (118.7, 32.0, 118.8, 32.1)
    with pytest.raises(PlannerError, match="lat,lon"):
        parse_bbox("32.0,118.7,32.1,118.8", query=True)
    with pytest.raises(PlannerError, match="inverted"):
        parse_bbox("118.8,32.0,118.7,32.1", query=True)
    with pytest.raises(PlannerError, match="four numbers"):
        parse_bbox("118.7,32.0,118.8", query=True)
    with pytest.raises(PlannerError, match="four numbers"):
        parse_bbox("a,b,c,d", query=True)
    with pytest.raises(PlannerError, match="out of range"):
        parse_bbox("118,32,200,33", query=True)


def test_zoom_tolerance_halves_per_level_and_stops_at_full_detail():
    assert zoom_level(None) is None
    assert zoom_level(25) is None
    assert zoom_level(3) == zoom_level(10)
    assert tolerance_for(15) == pytest.approx(tolerance_for(14) / 2)
    assert tolerance_for(None) == 0


# -- layers and features -----------------------------------------------------------------


def test_layers_lists_every_store_layer_with_chinese_names(client, store_copy):
    response = client.get("/api/layers")
    assert response.status_code == 200
    body = response.get_json()
    store = Store(store_copy)
    # Every layer but the plan history (the store's bookkeeping, read with `planner plan`).
    served = [n for n in store.layers() if n not in schema.HISTORY_LAYERS]
    assert [e["name"] for e in body["layers"]] == served
    assert body["name"] == store.name
    assert "© OpenStreetMap contributors" in body["attribution"]
    for entry in body["layers"]:
        spec = schema.LAYERS[entry["name"]]
        assert entry["zh"] == spec.zh
        assert entry["count"] == store.count(entry["name"])
        zh = {f["name"]: f["zh"] for f in entry["fields"]}
        assert all(zh[f.name] == f.zh for f in spec.fields)
    buildings = next(e for e in body["layers"] if e["name"] == "buildings")
    households = store.read("buildings")["households"]
    assert buildings["stats"]["households"]["sum"] == int(households.sum())
    assert buildings["stats"]["households"]["max"] == int(households.max())
    # Chinese is sent as UTF-8 text, not \u escapes.
    raw = response.get_data()
    assert "楼栋".encode() in raw and b"\\u697c" not in raw


def test_bbox_features_are_exactly_those_intersecting(client, store_copy):
    frame = Store(store_copy).read("buildings")
    expected = set(frame.loc[frame.intersects(shapely.box(*BBOX)), "building_id"])
    assert 0 < len(expected) < len(frame)
    response = client.get(f"/api/layers/buildings/features?bbox={_bbox()}&limit=10000")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    fc = response.get_json()
    assert fc["type"] == "FeatureCollection"
    assert {f["id"] for f in fc["features"]} == expected
    assert fc["numberMatched"] == fc["numberReturned"] == len(expected)
    feature = fc["features"][0]
    assert set(schema.LAYERS["buildings"].field_names) <= set(feature["properties"])
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_paging_covers_every_feature_once_with_next_and_prev_links(client, store_copy):
    total = Store(store_copy).count("roads")
    seen: list = []
    url = "/api/layers/roads/features?limit=100"
    pages = 0
    while url:
        fc = client.get(url).get_json()
        assert fc["numberMatched"] == total
        seen += [f["id"] for f in fc["features"]]
        links = {link["rel"]: link["href"] for link in fc["links"]}
        if pages:
            assert "prev" in links
        url = links.get("next")
        pages += 1
    assert pages == -(-total // 100)
    assert len(seen) == len(set(seen)) == total


def test_zoom_simplifies_geometry_but_keeps_every_feature(client):
    def coords(zoom: str) -> tuple[int, int]:
        fc = client.get(f"/api/layers/buildings/features?limit=10000{zoom}").get_json()
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in fc["features"]])
        return len(fc["features"]), int(shapely.get_num_coordinates(geoms).sum())

    full_n, full_coords = coords("")
    low_n, low_coords = coords("&zoom=12")
    assert low_n == full_n
    assert low_coords < full_coords


def test_one_feature_by_key_and_unknown_id(client, store_copy):
    building = Store(store_copy).read("buildings").iloc[0]
    response = client.get(f"/api/layers/buildings/features/{building['building_id']}")
    assert response.status_code == 200
    feature = response.get_json()
    assert feature["id"] == building["building_id"]
    assert feature["properties"]["households"] == building["households"]
    assert shapely.from_geojson(json.dumps(feature["geometry"])).equals_exact(
        building.geometry, tolerance=2e-6
    )
    _error(client.get("/api/layers/buildings/features/no-such-building"), 404)


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ("bbox=1,2,3", "bbox", "four numbers"),
        ("bbox=32.03,118.77,32.05,118.80", "bbox", "lat,lon"),
        ("bbox=118.80,32.03,118.77,32.05", "bbox", "inverted"),
        ("limit=0", "limit", "between 1 and"),
        ("limit=100000", "limit", "between 1 and"),
        ("limit=ten", "limit", "whole number"),
        ("offset=-1", "offset", ">= 0"),
        ("zoom=99", "zoom", "between"),
        ("crs=EPSG:3857", "crs", "wgs84 or gcj02"),
    ],
)
def test_bad_parameters_answer_400_json_naming_the_parameter(client, query, param, words):
    response = client.get(f"/api/layers/buildings/features?{query}")
    message = _error(response, 400)
    assert words in message
    assert response.get_json()["error"]["param"] == param


def test_unknown_and_absent_layers_answer_404_json(client, store_copy):
    message = _error(client.get("/api/layers/nope/features"), 404)
    assert "nope" in message and "buildings" in message
    absent = next(n for n in schema.LAYERS if n not in Store(store_copy).layers())
    message = _error(client.get(f"/api/layers/{absent}/features"), 404)
    assert schema.LAYERS[absent].zh in message
    _error(client.get("/api/no/such/route"), 404)
    _error(client.post("/api/layers"), 405)


def test_summary_is_the_stores(client, store_copy):
    body = client.get("/api/summary").get_json()
    expected = Store(store_copy).summary()
    assert body["households"] == expected["households"]
    assert body["layers"] == expected["layers"]


def test_search_finds_by_name_and_by_key(client, store_copy):
    buildings = Store(store_copy).read("buildings")
    named = buildings[buildings["name"].notna()].iloc[0]
    body = client.get(f"/api/search?q={named['name']}").get_json()
    hit = next(r for r in body["results"] if r["id"] == named["building_id"])
    assert hit["layer"] == "buildings" and hit["zh"] == "楼栋"
    assert shapely.box(*hit["bbox"]).covers(named.geometry.representative_point())
    key = client.get(f"/api/search?q={named['building_id']}").get_json()["results"]
    assert key[0]["id"] == named["building_id"]
    _error(client.get("/api/search?q="), 400)
    assert client.get("/api/search?q=不存在的名字xyz").get_json()["results"] == []


def test_store_changes_are_served_without_restart(client, store_copy):
    before = client.get("/api/layers/stations/features").get_json()["numberMatched"]
    store = Store(store_copy)
    site = store.read("candidate_sites").iloc[[0]]
    station = gpd.GeoDataFrame(
        {"station_id": ["S-test"], "name": ["测试服务站"], "status": ["existing"]},
        geometry=site.geometry.to_numpy(),
        crs=site.crs,
    )
    store.write("stations", pd.concat([store.read("stations"), station], ignore_index=True))
    fc = client.get("/api/layers/stations/features").get_json()
    assert fc["numberMatched"] == before + 1
    assert fc["features"][-1]["properties"]["name"] == "测试服务站"


def test_gzip_and_etag(client):
    url = f"/api/layers/buildings/features?bbox={_bbox()}"
    plain = client.get(url)
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert len(zipped.get_data()) < len(plain.get_data()) / 3
    etag = zipped.headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304


def test_gcj02_display_shift(client, store_copy):
    gate = Store(store_copy).read("gates").iloc[0]
    url = f"/api/layers/gates/features/{gate['gate_id']}"
    plain = client.get(url).get_json()["geometry"]["coordinates"]
    shifted = client.get(url + "?crs=gcj02").get_json()["geometry"]["coordinates"]
    lon, lat = wgs84_to_gcj02(np.array([gate.geometry.x]), np.array([gate.geometry.y]))
    assert plain == pytest.approx([gate.geometry.x, gate.geometry.y], abs=1e-6)
    assert shifted == pytest.approx([lon[0], lat[0]], abs=1e-6)
    assert abs(shifted[0] - plain[0]) > 1e-3  # hundreds of metres in Nanjing


# -- OpenAPI, pages, language -------------------------------------------------------------


def test_openapi_document_validates_and_covers_every_route(client, app):
    from openapi_spec_validator import validate

    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        path = path.replace("{feature_id}", "{featureId}").replace("{job_id}", "{jobId}")
        path = path.replace("{collection_id}", "{collectionId}")
        if path.startswith(("/api/", "/ogc/")) and path not in (
            "/api/",
            "/api/health",
            "/api/docs",
        ):
            assert path in documented, path


def test_pages_and_vendored_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "网格与党群服务站规划" in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    docs = client.get("/api/docs").get_data(as_text=True)
    assets += re.findall(r'(?:src|href)="(/static/[^"]+)"', docs)
    assert any("vendor/leaflet/leaflet.js" in a for a in assets)
    assert any("vendor/swagger-ui" in a for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, f"{asset} missing: run `make install-web`"
        response.close()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html + docs)


def test_language_switch_and_cookie(client):
    en = client.get("/?lang=en")
    assert '<html lang="en">' in en.get_data(as_text=True)
    assert "Grid and service-station planner" in en.get_data(as_text=True)
    remembered = client.get("/")
    assert '<html lang="en">' in remembered.get_data(as_text=True)
    zh = client.get("/?lang=zh")
    assert '<html lang="zh-CN">' in zh.get_data(as_text=True)


def test_basemap_setting_opens_the_csp_to_its_tile_host_only(store_copy, login):
    app = create_app({"STORE": str(store_copy), "BASEMAP": "tianditu", "BASEMAP_KEY": "k"})
    client = app.test_client()
    login(client, store_copy)
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "https://*.tianditu.gov.cn" in csp and "connect-src 'self'" in csp
    bad = create_app({"STORE": str(store_copy), "BASEMAP": "tianditu"}).test_client()
    login(bad, store_copy)
    _error(bad.get("/api/layers"), 400)


def test_request_body_size_is_limited(store_copy):
    app = create_app({"STORE": str(store_copy), "MAX_CONTENT_LENGTH": 1000})
    response = app.test_client().post("/api/analysis/all", data=b"x" * 5000)
    _error(response, 413)


# -- analysis jobs ------------------------------------------------------------------------


def add_test_station(store: Store, *, progress=None) -> dict:
    """A real analysis-shaped step for the job tests: adds one proposed station."""
    sites = store.read("candidate_sites")
    stations = store.read("stations")
    new = gpd.GeoDataFrame(
        {"station_id": [f"P{len(stations) + 1}"], "status": ["proposed"], "name": ["新站"]},
        geometry=sites.geometry.to_numpy()[:1],
        crs=sites.crs,
    )
    store.write("stations", pd.concat([stations, new], ignore_index=True))
    if progress:
        progress("wrote stations")
    return {"stations": len(stations) + 1}


def refuse(store: Store, *, progress=None) -> dict:
    msg = "测试：数据不全"
    raise PlannerError(msg)


def _wait(client, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_analysis_job_runs_a_known_step_and_the_map_sees_it(app, client, monkeypatch):
    steps = [("加站", add_test_station), ("拒绝", refuse)]
    monkeypatch.setattr(pipeline, "DEMO_ANALYSIS", steps)
    monkeypatch.setattr(pipeline, "PAGE_ANALYSIS", [])
    listed = client.get("/api/analysis").get_json()
    assert [s["id"] for s in listed["steps"]] == ["add_test_station", "refuse"]
    response = client.post("/api/analysis/add_test_station")
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"].endswith(f"/api/jobs/{job['id']}")
    done = _wait(client, job["id"])
    assert done["state"] == "done", done
    stations = Store(app.config["STORE"]).count("stations")
    assert done["result"] == {"add_test_station": {"stations": stations}}
    assert "wrote stations" in done["progress"]
    fc = client.get("/api/layers/stations/features").get_json()
    assert fc["features"][-1]["properties"]["name"] == "新站"
    assert fc["features"][-1]["properties"]["status"] == "proposed"

    failed = _wait(client, client.post("/api/analysis/refuse").get_json()["id"])
    assert failed["state"] == "failed" and "数据不全" in failed["error"]
    assert [j["id"] for j in client.get("/api/jobs").get_json()["jobs"]][:2] == [
        failed["id"],
        job["id"],
    ]
    _error(client.post("/api/analysis/rm_rf"), 404)
    _error(client.get("/api/jobs/nope"), 404)


def test_analysis_steps_keep_their_ids(client):
    # The ids are the routes POST /api/analysis/<id>: the step functions' names.
    listed = client.get("/api/analysis").get_json()
    ids = [s["id"] for s in listed["steps"]]
    assert ids == ["make_grids_step", "check_and_fix", "run_coverage_and_sites", "rebalance_step"]
    assert listed["all"] == "all"
    steps = [*pipeline.DEMO_ANALYSIS, *pipeline.PAGE_ANALYSIS]
    assert [s["label"] for s in listed["steps"]] == [s.label for s in steps]


def test_read_only_server_refuses_analysis(store_copy, login):
    client = create_app({"STORE": str(store_copy), "ANALYSIS_ENABLED": False}).test_client()
    login(client, store_copy)
    message = _error(client.post("/api/analysis/all"), 403)
    assert "disabled" in message


# -- the command ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_planner_serve_prints_the_url_and_serves(store_copy):
    import urllib.request

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "serve", str(store_copy), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=30) as r:
            assert json.load(r)["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_planner_serve_refuses_a_missing_store(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "planner.cli", "serve", str(tmp_path / "none.gpkg")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "store not found" in result.stderr


def test_planner_serve_on_a_busy_port_exit_2(store_copy):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "planner.cli", "serve", str(store_copy), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and f"port {port}" in err[0] and "--port" in err[0]


def test_planner_serve_on_every_interface_prints_real_urls(store_copy):
    import urllib.request

    from planner import accounts

    # Every interface needs an admin account first (see test_webmap_auth).
    accounts.add_user(store_copy, "boss", "admin", "test-password-1")
    process = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "serve", str(store_copy), "--host", "0.0.0.0"]
        + ["--port", str(_free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        urls = re.findall(r"http://\S+/", process.stdout.readline())
        assert urls and not any("0.0.0.0" in url for url in urls)
        assert urls[0].startswith("http://127.0.0.1:")
        for url in urls:  # each printed URL answers
            with urllib.request.urlopen(f"{url}api/health", timeout=30) as r:
                assert json.load(r)["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_planner_serve_refuses_without_front_end_files(store_copy, tmp_path, monkeypatch, capsys):
    import planner_web
    from planner.cli import run

    monkeypatch.setattr(planner_web, "STATIC_DIR", tmp_path)
    assert run(["serve", str(store_copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vendor/leaflet/leaflet.js" in err[0]


def test_a_stale_write_answers_409(store_copy, login):
    """A write whose inputs changed since they were read: 409 with the JSON error shape."""
    from planner.store import Store

    app = create_app({"STORE": str(store_copy), "TESTING": True})

    stale = Store(store_copy)
    gates = stale.read("gates")
    Store(store_copy).write("gates", gates)  # another change lands first

    @app.route("/api/test-stale-write", methods=["POST"])
    def stale_write():
        stale.write("gates", gates)
        return {}

    client = app.test_client()
    login(client, store_copy)
    response = client.post("/api/test-stale-write")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and error["param"] == "gates"
    assert "nothing was written" in error["message"]
    # Beside the error: what changed and its version now, to reload and try again.
    assert response.get_json()["changed"] == ["gates"]
    assert response.get_json()["version"] == {"gates": Store(store_copy).layer_versions()["gates"]}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("bbox=", "bbox"),
        ("limit=", "limit"),
        ("crs=", "crs"),
        ("bbox=%D9%A1%D9%A1%D9%A8,32,119,33", "bbox"),  # Arabic-Indic digits: not ASCII
        ("sortby=name", "sortby"),
    ],
)
def test_empty_unknown_and_non_ascii_parameters_answer_400(client, query, param):
    response = client.get(f"/api/layers/buildings/features?{query}")
    _error(response, 400)
    assert response.get_json()["error"]["param"] == param


def test_contract_details(client):
    # crs is checked on one feature as on many.
    _error(client.get("/api/layers/gates/features/1?crs=junk"), 400)
    # The spec's own example: fields a layer lacks are left out, not refused.
    gates = client.get("/api/layers/gates/features?properties=households,covered,name")
    assert gates.status_code == 200
    assert all(set(f["properties"]) <= {"name"} for f in gates.get_json()["features"])
    # A blank or missing search text: 400 naming q, as the spec's minLength says.
    assert "q is required" in _error(client.get("/api/search?q=%20"), 400)
    assert "q is required" in _error(client.get("/api/search"), 400)
    # The analysis step ids are an enum of the OpenAPI document.
    spec = client.get("/api/openapi.json").get_json()
    step = spec["components"]["parameters"]["step"]["schema"]["enum"]
    steps = [*pipeline.DEMO_ANALYSIS, *pipeline.PAGE_ANALYSIS]
    assert step == [*[run.__name__ for _, run in steps], "all"]


# -- downloads: the report and layer exports ------------------------------------------------


def test_report_downloads_open_and_viewers_get_none(app, client, store_copy, login, tmp_path):
    import openpyxl

    response = client.get("/api/report")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "attachment" in response.headers["Content-Disposition"]
    (tmp_path / "r.xlsx").write_bytes(response.data)
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames[0] == "网格"
    pdf = client.get("/api/report?format=pdf&lang=en")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "unknown or unusable CRS" in _error(
        client.get("/api/export/grids?format=gpkg&srs=EPSG:1"), 400
    )
    assert "format must be one of" in _error(client.get("/api/report?format=docx"), 400)
    viewer = app.test_client()
    login(viewer, store_copy, role="viewer")
    assert viewer.get("/api/report").status_code == 403
    assert viewer.get("/api/export/buildings?format=csv").status_code == 403


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "csv", "xlsx"])
def test_layer_exports_open_in_their_readers(client, store_copy, tmp_path, fmt):
    import zipfile

    response = client.get(f"/api/export/grids?format={fmt}&srs=EPSG:4490")
    assert response.status_code == 200, response.get_data(as_text=True)
    grids = Store(store_copy).read("grids")
    out = tmp_path / f"grids.{'zip' if fmt == 'shp' else fmt}"
    out.write_bytes(response.data)
    if fmt == "shp":
        names = zipfile.ZipFile(out).namelist()
        assert {"grids.shp", "grids.dbf", "grids.prj", "grids.fields.csv"} <= set(names)
        back = gpd.read_file(f"zip://{out}!grids.shp")
    elif fmt in ("csv", "xlsx"):
        back = pd.read_csv(out) if fmt == "csv" else pd.read_excel(out)
    else:
        back = gpd.read_file(out)
    assert len(back) == len(grids)
    if fmt in ("shp", "gpkg"):
        assert back.crs.to_epsg() == 4490
