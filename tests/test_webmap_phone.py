"""The phone view's server side: /m, its manifest and worker, /api/nearby by role, HTTPS."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
import shapely

from planner import accounts
from planner.cli import run
from planner.store import Store
from planner_web import STATIC_DIR, create_app
from planner_web.phone import MODULES, handoff_links
from tests.conftest import TEST_PASSWORD


@pytest.fixture(scope="module")
def phone_store(nanjing_path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("phone-api") / "phone.gpkg"
    shutil.copyfile(nanjing_path, path)
    for role in ("viewer", "official"):
        accounts.add_user(path, role, role, TEST_PASSWORD)
    return path


@pytest.fixture(scope="module")
def at_building(phone_store) -> dict:
    """A building with a building leader: where the phone stands."""
    store = Store(phone_store)
    staff = store.read("staff")
    leader = staff[staff["role"] == "building_leader"].iloc[0]
    buildings = store.read("buildings").set_index("building_id")
    point = shapely.point_on_surface(buildings.geometry[leader["building_id"]])
    return {
        "query": f"lon={point.x:.7f}&lat={point.y:.7f}",
        "building_id": leader["building_id"],
        # the grid holding the building (the sample roster may name an older plan's)
        "grid_code": buildings.loc[leader["building_id"], "grid_code"],
        "leader": leader["name"],
        "walk_m": float(buildings.loc[leader["building_id"], "walk_m"]),
    }


def _client(path: Path, role: str | None = None, **config):
    app = create_app({"STORE": str(path), "TESTING": True, **config})
    client = app.test_client()
    if role:
        answer = client.post("/api/login", json={"username": role, "password": TEST_PASSWORD})
        assert answer.status_code == 200
        client.environ_base["HTTP_X_CSRF_TOKEN"] = answer.get_json()["csrf_token"]
    return client


def _config(html: str) -> dict:
    start = html.index('id="page-config">') + len('id="page-config">')
    return json.loads(html[start : html.index("</script>", start)])


def test_viewer_gets_walk_grid_totals_and_contacts(phone_store, at_building):
    client = _client(phone_store, "viewer")
    answer = client.get(f"/api/nearby?{at_building['query']}")
    assert answer.status_code == 200
    assert "no-store" in answer.headers["Cache-Control"]
    data = answer.get_json()
    station = data["station"]
    assert station["start"] == "building" and station["building_id"] == at_building["building_id"]
    assert station["walk_m"] == pytest.approx(at_building["walk_m"], abs=0.06)
    assert station["planned"] is True and station["route"]["type"] == "LineString"
    assert station["handoff"]["geo"].startswith("geo:")
    grid = data["grid"]
    assert grid["grid_code"] == at_building["grid_code"] and grid["households"] > 0
    assert {p["role"] for p in grid["staff"]} >= {"grid_leader"}
    assert all(p["phone"] for p in grid["staff"])
    assert at_building["leader"] in {p["name"] for p in grid["building"]["leaders"]}
    text = json.dumps(data)
    assert not any(f'"{k}"' in text for k in accounts.SPECIAL_GROUP_FIELDS)
    assert '"households_served"' not in text
    assert "households" not in grid["building"]


def test_public_view_gets_the_walk_but_no_contacts_or_figures(phone_store, at_building):
    client = _client(phone_store, PUBLIC_VIEW=True)
    page = client.get("/m")
    assert page.status_code == 200
    config = _config(page.get_data(as_text=True))
    # Only the layers a public view may see are drawn.
    assert set(config["layers"]) == {"grids", "stations"}
    data = client.get(f"/api/nearby?{at_building['query']}").get_json()
    assert data["station"]["walk_m"] > 0
    assert not {"phone", "address", "opening_hours", "services"} & set(data["station"])
    grid = data["grid"]
    assert set(grid) <= {"grid_code", "name", "zone_code", "building"}
    assert "staff" not in grid and "leaders" not in grid["building"]
    assert at_building["leader"] not in json.dumps(data, ensure_ascii=False)


def test_phone_page_needs_login_but_its_manifest_and_worker_do_not(phone_store):
    client = _client(phone_store)
    answer = client.get("/m")
    assert answer.status_code == 302 and "/login?next=/m" in answer.headers["Location"]
    assert client.get("/api/nearby?lon=118.78&lat=32.04").status_code == 401
    manifest = client.get("/m/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.mimetype == "application/manifest+json"
    data = manifest.get_json()
    assert data["start_url"] == "/m" and data["display"] == "standalone"
    for icon in data["icons"]:
        assert client.get(icon["src"]).status_code == 200
    worker = client.get("/m/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/m"


def test_phone_page_is_light_and_caches_its_whole_shell(phone_store):
    client = _client(phone_store, "viewer")
    html = client.get("/m", headers={"Accept-Encoding": "gzip"})
    assert html.headers["Content-Encoding"] == "gzip"
    config = _config(client.get("/m").get_data(as_text=True))
    assert config["urls"]["nearby"] == "/api/nearby"
    # Every module the page imports is preloaded and kept by the worker.
    for name in MODULES:
        source = (STATIC_DIR / "js" / name).read_text(encoding="utf-8")
        for target in re.findall(r'^import [^;]*? from "\./([^"]+)";', source, re.M):
            assert target in MODULES, (name, target)
        assert f"/static/js/{name}" in config["shell"]
    # The map page does not preload the phone view's modules, nor the phone view the map's.
    main = client.get("/").get_data(as_text=True)
    assert "phone" not in " ".join(re.findall(r'modulepreload" href="([^"]+)"', main))
    assert "styles.js" not in client.get("/m").get_data(as_text=True)
    # The fields drawn are names and codes: no figure of any layer.
    assert all(
        not {"households", "residents"} & set(fields) for fields in config["layers"].values()
    )


def test_nearby_refuses_bad_points(phone_store):
    client = _client(phone_store, "viewer")
    for query, param in (
        ("lat=32", "lon"),
        ("lon=118", "lat"),
        ("lon=abc&lat=32", "lon"),
        ("lon=118&lat=95", "lat"),
    ):
        answer = client.get(f"/api/nearby?{query}")
        assert answer.status_code == 400 and answer.get_json()["error"]["param"] == param
    # Far from any way: no station, said so; no grid there.
    far = client.get("/api/nearby?lon=100&lat=30").get_json()
    assert far["station"] is None and "no walkable way" in far["station_error"]
    assert far["grid"] is None
    assert "/api/nearby" in client.get("/api/openapi.json").get_json()["paths"]


def test_logout_asks_the_browser_to_clear_what_it_kept(phone_store):
    client = _client(phone_store, "viewer")
    answer = client.post("/api/logout")
    assert answer.status_code == 200
    assert answer.headers["Clear-Site-Data"] == '"cache", "storage"'


def test_handoff_links_name_the_place_in_wgs84():
    links = handoff_links(118.7812341, 32.0412349, "金贸大厦")
    assert (
        links["geo"]
        == "geo:32.041235,118.781234?q=32.041235,118.781234(%E9%87%91%E8%B4%B8%E5%A4%A7%E5%8E%A6)"
    )
    assert "coordinate=wgs84" in links["amap"] and "mode=walk" in links["amap"]
    assert "coord_type=wgs84" in links["baidu"] and "mode=walking" in links["baidu"]


# -- planner serve over HTTPS -----------------------------------------------------------------


def test_serve_refuses_half_a_certificate(phone_store, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    assert run(["serve", str(phone_store), "--certfile", str(cert)]) == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl absent")
def test_tls_server_serves_the_phone_view_over_https(phone_store, tmp_path):
    from planner_web.server import make_tls_server, url_of

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    app = create_app({"STORE": str(phone_store), "SESSION_COOKIE_SECURE": True})
    server = make_tls_server(
        app, host="127.0.0.1", port=0, certfile=str(cert), keyfile=str(key), threads=2
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = url_of(server, "127.0.0.1")
        assert url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        body = json.loads(
            urllib.request.urlopen(url + "api/health", context=context, timeout=30).read()
        )
        assert body["status"] == "ok"
        login = urllib.request.Request(
            url + "api/login",
            data=json.dumps({"username": "viewer", "password": TEST_PASSWORD}).encode(),
            headers={"Content-Type": "application/json", "Origin": url.rstrip("/")},
        )
        answer = urllib.request.urlopen(login, context=context, timeout=30)
        cookie = answer.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert answer.headers["Strict-Transport-Security"]
    finally:
        server.close()
        thread.join(timeout=10)


def test_behind_a_trusted_proxy_the_app_sees_the_https_address(phone_store):
    from planner_web.server import make_server, run_in_background

    app = create_app({"STORE": str(phone_store), "ALLOWED_HOSTS": ["grid.example.cn"]})
    server = make_server(app, host="127.0.0.1", port=0, threads=2, trusted_proxy="127.0.0.1")
    running = run_in_background(server)
    try:
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "grid.example.cn"}
        request = urllib.request.Request(running.url + "api/openapi.json", headers=forwarded)
        document = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert document["servers"][0]["url"] == "https://grid.example.cn"
        # A login from the https page is from the same origin, and its cookie is Secure.
        login = urllib.request.Request(
            running.url + "api/login",
            data=json.dumps({"username": "viewer", "password": TEST_PASSWORD}).encode(),
            headers={**forwarded, "Content-Type": "application/json",
                     "Origin": "https://grid.example.cn"},
        )  # fmt: skip
        answer = urllib.request.urlopen(login, timeout=30)
        assert "Secure" in answer.headers["Set-Cookie"]
    finally:
        running.stop()
