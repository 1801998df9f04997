"""The guarded web server: login, CSRF, Origin, Host, tokens, roles on every route, job queue."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from planner import accounts, pipeline, schema
from planner.store import Store
from planner_web import create_app
from planner_web.http import SECURITY_HEADERS
from planner_web.jobs import JobManager, QueueFull

PASSWORD = "test-password-1"
ROLES = [None, *accounts.ROLES]
OGRINFO = shutil.which("ogrinfo")


@pytest.fixture(scope="module")
def shared_store(nanjing_path, tmp_path_factory) -> Path:
    """One copy of the demo store with an account per role (read-only for the tests)."""
    path = tmp_path_factory.mktemp("auth") / "auth.gpkg"
    shutil.copyfile(nanjing_path, path)
    for role in accounts.ROLES:
        accounts.add_user(path, role, role, PASSWORD)
    return path


@pytest.fixture(scope="module")
def shared_app(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True, "ANALYSIS_ENABLED": False})
    yield app
    app.extensions["planner.jobs"].shutdown()


def _client(app, role: str | None):
    client = app.test_client()
    if role is not None:
        response = client.post("/api/login", json={"username": role, "password": PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["role"] == role
        client.environ_base["HTTP_X_CSRF_TOKEN"] = response.get_json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def clients(shared_app) -> dict[str | None, Any]:
    return {role: _client(shared_app, role) for role in ROLES}


def _code(response) -> str:
    return response.get_json()["error"]["code"]


# -- login, sessions, CSRF, Origin, Host ---------------------------------------------------


def test_anonymous_gets_the_login_page_only(shared_app):
    client = shared_app.test_client()
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    login = client.get("/login")
    assert login.status_code == 200 and "登录" in login.get_data(as_text=True)
    for path in ("/api/layers", "/api/summary", "/api/search?q=1", "/ogc/collections"):
        response = client.get(path)
        assert response.status_code == 401 and _code(response) == "unauthorized", path
    assert 'Basic realm="grid planner"' in client.get("/ogc/").headers["WWW-Authenticate"]


def test_login_answers_csrf_token_and_role_with_a_safe_cookie(shared_app):
    client = shared_app.test_client()
    response = client.post("/api/login", json={"username": "viewer", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["role"] == "viewer" and len(body["csrf_token"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = shared_app.test_client().post(
        "/api/login",
        json={"username": "viewer", "password": PASSWORD},
        base_url="https://localhost",
    )
    assert "Secure" in secure.headers["Set-Cookie"]
    wrong = shared_app.test_client().post(
        "/api/login", json={"username": "viewer", "password": "not-it-at-all"}
    )
    assert wrong.status_code == 401 and "csrf_token" not in wrong.get_data(as_text=True)
    assert shared_app.test_client().post("/api/login", data="x").status_code == 400


def test_state_changes_need_the_csrf_token(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True})
    client = _client(app, "admin")
    token = client.environ_base.pop("HTTP_X_CSRF_TOKEN")
    missing = client.post("/api/analysis/no_such_step")
    assert missing.status_code == 403 and missing.get_json()["error"]["param"] == "X-CSRF-Token"
    wrong = client.post("/api/analysis/no_such_step", headers={"X-CSRF-Token": token + "x"})
    assert wrong.status_code == 403
    # With the token the guard lets it through (to the view's own 404).
    passed = client.post("/api/analysis/no_such_step", headers={"X-CSRF-Token": token})
    assert passed.status_code == 404
    assert client.post("/api/logout").status_code == 403
    assert client.post("/api/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert client.get("/api/layers").status_code == 401


def test_cross_origin_changes_are_refused(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True})
    client = _client(app, "admin")
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    response = client.post("/api/analysis/make_grids_step", headers=evil, data="x")
    assert response.status_code == 403 and response.get_json()["error"]["param"] == "Origin"
    cross = client.post("/api/analysis/no_such_step", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    same = client.post("/api/analysis/no_such_step", headers={"Origin": "http://localhost"})
    assert same.status_code == 404
    # The attack, anonymously: refused before anything runs.
    anonymous = app.test_client().post("/api/analysis/make_grids_step", headers=evil, data="x")
    assert anonymous.status_code == 403
    login = app.test_client().post(
        "/api/login", json={"username": "admin", "password": PASSWORD}, headers=evil
    )
    assert login.status_code == 403
    assert app.extensions["planner.jobs"].list() == []


def test_host_header_must_be_ours(shared_store):
    app = create_app(
        {"STORE": str(shared_store), "BIND_HOST": "10.1.2.3", "ALLOWED_HOSTS": ["map.example"]}
    )
    client = app.test_client()
    for host in ("rebind.attacker.example", "evil.localhost", "127.0.0.2"):
        response = client.get("/ogc/", headers={"Host": host})
        assert response.status_code == 400 and _code(response) == "bad_host", host
        assert client.post("/api/login", headers={"Host": host}).status_code == 400
    for host in ("localhost:5000", "127.0.0.1:8080", "[::1]:5000", "10.1.2.3", "MAP.example:80"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_security_headers_on_every_answer_and_cors_closed(shared_app, clients):
    client = clients["viewer"]
    answers = [
        client.get("/"),
        client.get("/login"),
        client.get("/api/layers"),
        client.get("/api/nope"),
        client.get("/static/map.css"),
        shared_app.test_client().get("/api/layers"),
        client.get("/ogc/", headers={"Host": "evil.example"}),
    ]
    for response in answers:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.path, name)
    preflight = client.options(
        "/api/layers",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in client.get("/api/layers").headers


def test_login_is_rate_limited(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True, "LOGIN_MAX_FAILURES": 3})
    client = app.test_client()
    for _ in range(3):
        wrong = client.post("/api/login", json={"username": "admin", "password": "guess-1234"})
        assert wrong.status_code == 401
    blocked = client.post("/api/login", json={"username": "admin", "password": PASSWORD})
    assert blocked.status_code == 429 and _code(blocked) == "too_many_requests"
    # Basic auth counts against the same limit.
    basic = client.get("/ogc/", auth=("admin", PASSWORD))
    assert basic.status_code == 429
    # Another address is not held up.
    other = client.post(
        "/api/login",
        json={"username": "admin", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert other.status_code == 200


def test_bearer_and_basic_auth(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True})
    token = accounts.make_token(shared_store, "planner")
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/layers", headers=bearer).status_code == 200
    # A bearer token is no ambient credential: no CSRF token needed (the guard passes it on).
    assert client.post("/api/analysis/no_such_step", headers=bearer).status_code == 404
    assert client.get("/api/layers", headers={"Authorization": "Bearer pl_nope"}).status_code == 401
    assert client.get("/ogc/collections", auth=("planner", PASSWORD)).status_code == 200
    assert client.get("/ogc/collections", auth=("planner", token)).status_code == 200
    assert client.get("/ogc/collections", auth=("viewer", token)).status_code == 401
    assert client.get("/ogc/collections", auth=("planner", "wrong-pass")).status_code == 401
    # Basic credentials are replayed by browsers: they may only read.
    posted = client.post("/api/analysis/no_such_step", auth=("planner", PASSWORD))
    assert posted.status_code == 403
    me = client.get("/api/session", headers=bearer).get_json()
    assert me["user"] == "planner" and me["role"] == "planner"


def test_one_time_token_logs_in_as_admin_once(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True})
    token = accounts.make_login_token(shared_store)
    client = app.test_client()
    first = client.get(f"/?token={token}&lang=en")
    assert first.status_code == 302 and "token" not in first.headers["Location"]
    assert "lang=en" in first.headers["Location"]
    me = client.get("/api/session").get_json()
    assert me["user"] == accounts.LOCAL_USER and me["role"] == "admin" and me["csrf_token"]
    assert client.get("/api/users").status_code == 200
    again = app.test_client().get(f"/?token={token}")
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    assert app.test_client().get("/?token=made-up").headers["Location"].startswith("/login")


def test_role_changes_and_removal_apply_to_open_sessions(nanjing_path, tmp_path):
    path = tmp_path / "roles.gpkg"
    shutil.copyfile(nanjing_path, path)
    accounts.add_user(path, "ann", "official", PASSWORD)
    app = create_app({"STORE": str(path), "TESTING": True})
    client = app.test_client()
    client.post("/api/login", json={"username": "ann", "password": PASSWORD})
    assert client.get("/api/jobs").status_code == 200
    accounts.set_role(path, "ann", "viewer")
    assert client.get("/api/jobs").status_code == 403
    accounts.remove_user(path, "ann")
    assert client.get("/api/layers").status_code == 401


def test_public_view_shows_stations_and_grid_boundaries_only(shared_store):
    app = create_app({"STORE": str(shared_store), "TESTING": True, "PUBLIC_VIEW": True})
    client = app.test_client()
    assert client.get("/").status_code == 200
    names = {e["name"] for e in client.get("/api/layers").get_json()["layers"]}
    assert names == {"grids", "stations"} & set(Store(shared_store).layers())
    grids = client.get("/api/layers/grids/features").get_json()["features"]
    assert grids and all(set(f["properties"]) <= {"grid_code", "name", "zone_code"} for f in grids)
    stations = client.get("/api/layers/stations/features").get_json()["features"]
    assert all("contact" not in f["properties"] for f in stations)
    assert client.get("/api/layers/buildings/features").status_code == 403
    assert client.get("/api/summary").status_code == 401
    assert client.post("/api/analysis/all").status_code == 401
    hits = client.get("/api/search?q=1").get_json()["results"]
    assert {h["layer"] for h in hits} <= {"grids", "stations"}


# -- the role matrix ---------------------------------------------------------------------------

#: Least role each route needs (None = anyone); what the matrix expects of every route.
NEEDS = {
    "static": None,
    "auth.login_page": None,
    "auth.login": None,
    "auth.logout": None,
    "auth.whoami": None,
    "pages.docs": None,
    "pages.favicon": None,
    "api.openapi": None,
    "api.health": None,
    "pages.map_page": "viewer",
    "api.index": "viewer",
    "api.layers": "viewer",
    "api.layer": "viewer",
    "api.layer_features": "viewer",
    "api.feature": "viewer",
    "api.layer_tile": "viewer",
    "api.summary": "viewer",
    "api.search": "viewer",
    "api.analysis_steps": "viewer",
    "ogc.landing": "viewer",
    "ogc.conformance": "viewer",
    "ogc.collections": "viewer",
    "ogc.collection": "viewer",
    "ogc.items": "viewer",
    "ogc.item": "viewer",
    "api.job_list": "official",
    "api.job": "official",
    "api.run_analysis": "planner",
    "api.cancel_job": "planner",
    "api.accept_job": "planner",
    "api.discard_job": "planner",
    "auth.users": "admin",
    "plan.plan": "viewer",
    "plan.preview": "planner",
    "plan.save": "planner",
    "downloads.report": "official",
    "downloads.export": "official",
    "plan.versions": "viewer",
    "plan.diff": "viewer",
    "plan.rollback": "planner",
    "plan.publish": "admin",
    "dashboard.page": "official",
    "dashboard.summary": "official",
    "dashboard.compare": "official",
    "dashboard.curve": "official",
    "dashboard.communities": "official",
    "phone.phone_page": "viewer",
    "phone.nearby": "viewer",
    "phone.manifest": None,
    "phone.service_worker": None,
}

#: Fields a viewer (or anonymous visitor) must never receive, by layer ("*" = any layer).
_FINE = {"buildings", "blocks", "edge_areas", "grid_moves"}


def _tile_of(point, z: int) -> tuple[int, int]:
    """The XYZ tile (web Mercator) holding a lon/lat point at zoom ``z``."""
    n = 2**z
    lat = math.radians(point.y)
    x = int((point.x + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(lat)) / math.pi) / 2.0 * n)
    return x, y


def _requests(store: Store) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every route, with real layer names and feature ids."""
    # The plan's history is served to nobody (404 for every role).
    layers = [n for n in store.layers() if n not in schema.HISTORY_LAYERS]
    out = [
        ("static", "GET", "/static/map.css"),
        ("auth.login_page", "GET", "/login"),
        ("auth.whoami", "GET", "/api/session"),
        ("pages.docs", "GET", "/api/docs"),
        ("pages.favicon", "GET", "/favicon.ico"),
        ("api.openapi", "GET", "/api/openapi.json"),
        ("api.health", "GET", "/api/health"),
        ("pages.map_page", "GET", "/"),
        ("api.index", "GET", "/api/"),
        ("api.layers", "GET", "/api/layers"),
        ("api.summary", "GET", "/api/summary"),
        ("api.analysis_steps", "GET", "/api/analysis"),
        ("ogc.landing", "GET", "/ogc/"),
        ("ogc.conformance", "GET", "/ogc/conformance"),
        ("ogc.collections", "GET", "/ogc/collections"),
        ("api.job_list", "GET", "/api/jobs"),
        ("api.job", "GET", "/api/jobs/nope"),
        ("api.run_analysis", "POST", "/api/analysis/all"),
        ("api.cancel_job", "DELETE", "/api/jobs/nope"),
        ("api.accept_job", "POST", "/api/jobs/nope/accept"),
        ("api.discard_job", "POST", "/api/jobs/nope/discard"),
        ("auth.users", "GET", "/api/users"),
        ("plan.plan", "GET", "/api/plan"),
        ("plan.preview", "POST", "/api/plan/preview"),
        ("plan.save", "POST", "/api/plan/save"),
        ("downloads.report", "GET", "/api/report"),
        ("downloads.export", "GET", "/api/export/grids?format=csv"),
        ("plan.versions", "GET", "/api/plan/versions"),
        ("plan.diff", "GET", "/api/plan/diff"),
        ("plan.rollback", "POST", "/api/plan/rollback"),
        ("plan.publish", "POST", "/api/plan/publish"),
        ("dashboard.page", "GET", "/dashboard"),
        ("dashboard.summary", "GET", "/api/dashboard?stations=existing"),
        ("dashboard.compare", "GET", "/api/dashboard/compare?stations=existing"),
        ("dashboard.curve", "GET", "/api/dashboard/curve"),
        ("dashboard.communities", "GET", "/api/dashboard/communities"),
        ("phone.phone_page", "GET", "/m"),
        ("phone.manifest", "GET", "/m/manifest.webmanifest"),
        ("phone.service_worker", "GET", "/m/sw.js"),
    ]
    # The phone view's answer at a building: its walk, the grid, contacts for those logged in.
    at = store.read("buildings").geometry.iat[0].representative_point()
    out.append(("phone.nearby", "GET", f"/api/nearby?lon={at.x:.6f}&lat={at.y:.6f}"))
    # Search by text found in the private layers' names and codes: hits must carry no figure.
    for q in ("1", "楼", "号", "G", "路"):
        out.append(("api.search", "GET", f"/api/search?q={q}"))
    for name in layers:
        frame = store.read(name)
        key = schema.LAYERS[name].key
        feature_id = str(frame[key].iat[0]) if key and len(frame) else "1"
        out += [
            ("api.layer", "GET", f"/api/layers/{name}"),
            ("api.layer_features", "GET", f"/api/layers/{name}/features?limit=50"),
            ("api.layer_features", "GET", f"/api/layers/{name}/features?properties={_ALL}"),
            ("api.feature", "GET", f"/api/layers/{name}/features/{feature_id}"),
        ]
        if schema.LAYERS[name].geometry is not None and len(frame):
            # The map tile holding the first feature, every field asked for.
            x, y = _tile_of(frame.geometry.iat[0].representative_point(), 16)
            url = f"/api/layers/{name}/tiles/16/{x}/{y}?properties={_ALL}"
            out.append(("api.layer_tile", "GET", url))
        if schema.LAYERS[name].geometry is not None or name == "findings":
            out += [
                ("ogc.collection", "GET", f"/ogc/collections/{name}"),
                ("ogc.items", "GET", f"/ogc/collections/{name}/items?limit=50"),
                ("ogc.item", "GET", f"/ogc/collections/{name}/items/{feature_id}"),
            ]
    return out


_ALL = ",".join(sorted({f.name for spec in schema.LAYERS.values() for f in spec.fields}))


def _forbidden_values(data: Any, layer: str | None, found: list[str]) -> None:
    """Collect special-group keys anywhere, and households on features of fine layers."""
    if isinstance(data, dict):
        if isinstance(data.get("layer"), str):
            layer = data["layer"]
        elif "fields" in data and isinstance(data.get("name"), str):  # a catalogue entry
            layer = data["name"]
        for key, value in data.items():
            if key in accounts.SPECIAL_GROUP_FIELDS:
                found.append(key)
            if key == "properties" and isinstance(value, dict) and layer in _FINE:
                found += [k for k in value if k.startswith("households")]
            if key in ("fields",) and isinstance(value, list) and layer in _FINE:
                found += [f["name"] for f in value if str(f.get("name")).startswith("households")]
            if key == "stats" and isinstance(value, dict) and layer in _FINE:
                found += [k for k in value if k.startswith("households")]
            if key == "name" and isinstance(value, str) and value in accounts.SPECIAL_GROUP_FIELDS:
                found.append(value)
            _forbidden_values(value, layer, found)
    elif isinstance(data, list):
        for item in data:
            _forbidden_values(item, layer, found)


def _layer_of(path: str) -> str | None:
    parts = path.split("?")[0].strip("/").split("/")
    for marker in ("layers", "collections"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1]
    return None


def test_role_matrix_every_route_and_no_private_figure_for_viewers(
    shared_app, shared_store, clients
):
    store = Store(shared_store)
    requests = _requests(store)
    # Login and logout have tests of their own above; every other route is in the matrix.
    assert {e for e, _, _ in requests} | {"auth.login", "auth.logout"} == set(NEEDS)
    routed = {rule.endpoint for rule in shared_app.url_map.iter_rules()}
    assert routed == set(NEEDS), routed ^ set(NEEDS)
    checked = 0
    for endpoint, method, path in requests:
        for role in ROLES:
            response = clients[role].open(path, method=method)
            status = response.status_code
            need = NEEDS[endpoint]
            layer = _layer_of(path)
            if need is not None and role is None:
                pages = ("pages.map_page", "dashboard.page", "phone.phone_page")
                expected = {302} if endpoint in pages else {401}
                assert status in expected, (endpoint, path, role, status)
                continue
            if need is not None and accounts.ROLES.index(role) < accounts.ROLES.index(need):
                assert status == 403, (endpoint, path, role, status)
                continue
            if layer and not accounts.can_see_layer(role, layer):
                assert status == 403, (endpoint, path, role, status)
                continue
            if endpoint in (
                "api.run_analysis",
                "api.accept_job",
                "api.discard_job",
                "plan.preview",
                "plan.save",
                "plan.rollback",
                "plan.publish",
            ):
                # read-only server: the view's own refusal
                assert status == 403 and "disabled" in response.get_data(as_text=True)
                continue
            assert status in (200, 204, 404), (endpoint, path, role, status)
            if role in (None, "viewer") and response.mimetype.endswith("json"):
                if endpoint == "api.openapi":
                    continue  # the API's description: field names, no figures
                found: list[str] = []
                _forbidden_values(json.loads(response.get_data(as_text=True)), layer, found)
                assert not found, (endpoint, path, role, sorted(set(found)))
                checked += 1
            if role == "official" and endpoint == "api.layer_features" and layer == "buildings":
                props = response.get_json()["features"][0]["properties"]
                assert "households" in props and "elderly_alone" in props
    assert checked > 50


def test_the_map_page_offers_analysis_to_planners_only(clients):
    def config(role):
        html = clients[role].get("/").get_data(as_text=True)
        start = html.index('id="page-config">') + len('id="page-config">')
        return json.loads(html[start : html.index("</script>", start)])

    assert config("viewer")["role"] == "viewer" and not config("viewer")["analysis_enabled"]
    assert config("viewer")["csrf_token"]


def test_the_map_page_names_the_engines_flags_in_chinese(clients, shared_store):
    """A grid's flag (the engine writes it in English) reads in the page's language."""
    html = clients["viewer"].get("/").get_data(as_text=True)
    start = html.index('id="page-config">') + len('id="page-config">')
    values = json.loads(html[start : html.index("</script>", start)])["values"]
    flags = Store(shared_store).read("grids")["flag"].dropna()
    flags = [f for f in flags if f.startswith("one building holds")]
    assert flags, "the demo has a single tower over the maximum"
    assert values[f"flag:{flags[0]}"].startswith("一栋楼有")


@pytest.mark.skipif(OGRINFO is None, reason="GDAL command-line tools absent")
@pytest.mark.slow
def test_a_viewers_ogrinfo_sees_no_private_field(shared_app, shared_store):
    from test_webmap_ogc import gdal_env

    from planner_web.server import start_background

    running = start_background(create_app({"STORE": str(shared_store)}))
    try:
        source = f"OAPIF:{running.url}ogc/"
        env = gdal_env(shared_store, "viewer")
        listing = subprocess.run(
            [OGRINFO, "-ro", "-q", source, "buildings", "grids"],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert listing.returncode == 0, listing.stderr
        assert "grid_code" in listing.stdout and "building_id" in listing.stdout
        for field in accounts.SPECIAL_GROUP_FIELDS:
            assert f"{field} (" not in listing.stdout and f"{field} =" not in listing.stdout
        buildings = listing.stdout.split("Layer name: buildings", 1)[1].split("Layer name:")[0]
        assert "  households (" not in buildings and "households_source (" not in buildings
        grids = listing.stdout.split("Layer name: grids", 1)[1]
        assert "  households (" in grids  # grid totals are a viewer's to see
        refused = subprocess.run(
            [OGRINFO, "-ro", "-q", source], capture_output=True, text=True, timeout=120
        )
        assert refused.returncode != 0 and "401" in refused.stderr
    finally:
        running.stop()


# -- the job queue ---------------------------------------------------------------------------


class _Gate:
    """An analysis step that waits until released (a stand-in for a long step)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.runs = 0

    def __call__(self, store, *, progress=None) -> dict:
        self.runs += 1
        self.started.set()
        assert self.release.wait(60), "the test never released the step"
        return {"ok": True}


def _wait_state(manager: JobManager, job_id: str, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = manager.get(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {states}")


def test_queue_holds_one_running_and_five_waiting_jobs(shared_store, monkeypatch):
    first_step, second_step = _Gate(), _Gate()
    first_step.__name__, second_step.__name__ = "first_step", "second_step"
    monkeypatch.setattr(pipeline, "DEMO_ANALYSIS", [("一", first_step), ("二", second_step)])
    monkeypatch.setattr(pipeline, "PAGE_ANALYSIS", [])
    manager = JobManager(str(shared_store), queue_limit=5)
    other = JobManager(str(shared_store))
    try:
        running = manager.submit("all")
        assert first_step.started.wait(60)
        waiting = [manager.submit("second_step") for _ in range(5)]
        with pytest.raises(QueueFull):
            manager.submit("second_step")
        # Another application on the same store waits for this one's running job.
        parallel = other.submit("second_step")
        assert other.get(parallel["id"])["state"] == "queued"
        assert manager.cancel(waiting[0]["id"])["state"] == "cancelled"
        waiting.append(manager.submit("second_step"))  # room again
        # The running job stops between its steps: the first ends, the second never starts.
        assert manager.cancel(running["id"])["cancelling"]
        first_step.release.set()
        stopped = _wait_state(manager, running["id"], ("cancelled", "done", "failed"))
        assert stopped["state"] == "cancelled"
        assert list(stopped["result"]) == ["first_step"]
        second_step.release.set()
        for job in waiting[1:]:
            assert _wait_state(manager, job["id"], ("done", "failed"))["state"] == "done"
        assert manager.get(waiting[0]["id"])["started"] is None
        assert _wait_state(other, parallel["id"], ("done", "failed"))["state"] == "done"
        # Five "second_step" runs here and one in the other application; none was cut short.
        assert first_step.runs == 1 and second_step.runs == 6
    finally:
        first_step.release.set()
        second_step.release.set()
        manager.shutdown()
        other.shutdown()


def test_api_queue_full_is_429_and_delete_cancels(nanjing_path, tmp_path, monkeypatch):
    path = tmp_path / "jobs.gpkg"
    shutil.copyfile(nanjing_path, path)
    accounts.add_user(path, "plan", "planner", PASSWORD)
    gate = _Gate()
    gate.__name__ = "slow_step"
    monkeypatch.setattr(pipeline, "DEMO_ANALYSIS", [("慢", gate)])
    monkeypatch.setattr(pipeline, "PAGE_ANALYSIS", [])
    app = create_app({"STORE": str(path), "TESTING": True, "JOB_QUEUE_LIMIT": 2})
    client = app.test_client()
    csrf = client.post("/api/login", json={"username": "plan", "password": PASSWORD}).get_json()
    headers = {"X-CSRF-Token": csrf["csrf_token"]}
    try:
        first = client.post("/api/analysis/slow_step", headers=headers)
        assert first.status_code == 202
        assert gate.started.wait(60)
        queued = [client.post("/api/analysis/slow_step", headers=headers) for _ in range(2)]
        assert [r.status_code for r in queued] == [202, 202]
        full = client.post("/api/analysis/slow_step", headers=headers)
        assert full.status_code == 429 and _code(full) == "too_many_requests"
        assert full.headers["Retry-After"]
        job_id = queued[0].get_json()["id"]
        assert client.delete(f"/api/jobs/{job_id}").status_code == 403  # no CSRF token
        cancelled = client.delete(f"/api/jobs/{job_id}", headers=headers)
        assert cancelled.status_code == 200 and cancelled.get_json()["state"] == "cancelled"
        assert client.delete("/api/jobs/nope", headers=headers).status_code == 404
        assert client.post("/api/analysis/slow_step", headers=headers).status_code == 202
    finally:
        gate.release.set()
        app.extensions["planner.jobs"].shutdown()


# -- planner serve ---------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_no_accounts_prints_a_one_time_url(nanjing_path, tmp_path):
    import http.cookiejar
    import re
    import sys
    import urllib.request

    path = tmp_path / "local.gpkg"
    shutil.copyfile(nanjing_path, path)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "serve", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line)
        assert url, line
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        with opener.open(url.group(0), timeout=30) as page:
            html = page.read().decode()
            assert "token=" not in page.url and '"role": "admin"' in html
        with opener.open(f"http://127.0.0.1:{port}/api/users", timeout=30) as users:
            assert json.load(users) == {"users": []}
        anonymous = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        assert "/login" in anonymous.url  # the token worked once
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_elsewhere_needs_an_admin_account(nanjing_path, tmp_path):
    import sys

    path = tmp_path / "far.gpkg"
    shutil.copyfile(nanjing_path, path)
    accounts.add_user(path, "vic", "viewer", PASSWORD)
    result = subprocess.run(
        [sys.executable, "-m", "planner.cli", "serve", str(path), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and "admin account" in err[0] and "planner user add" in err[0]
