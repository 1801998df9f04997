"""The dashboard's page and JSON routes (Flask's test client): roles, answers, its scripts."""

from __future__ import annotations

import re
import shutil

import pytest

from planner import dashboard
from planner.store import Store
from planner_web import STATIC_DIR, create_app

SCRIPTS = STATIC_DIR / "js" / "dashboard"


@pytest.fixture(scope="module")
def app(nanjing_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("dashboard") / "dash.gpkg"
    shutil.copyfile(nanjing_path, path)
    return create_app({"STORE": str(path), "TESTING": True})


@pytest.fixture
def official(app, login):
    client = app.test_client()
    login(client, app.config["STORE"], role="official")
    return client


def test_roles_official_reads_the_dashboard_viewer_does_not(app, login, official):
    page = official.get("/dashboard")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "数据看板" in text and "js/dashboard/main.js" in text
    assert "Content-Security-Policy" in page.headers
    viewer = app.test_client()
    login(viewer, app.config["STORE"], role="viewer")
    assert viewer.get("/dashboard").status_code == 403
    assert viewer.get("/api/dashboard").status_code == 403
    assert 'id="dashboard-link"' not in viewer.get("/").get_data(as_text=True)
    assert 'id="dashboard-link"' in official.get("/").get_data(as_text=True)
    anonymous = app.test_client()
    assert anonymous.get("/dashboard").status_code == 302  # to the login page
    assert anonymous.get("/api/dashboard").status_code == 401
    english = official.get("/dashboard?lang=en").get_data(as_text=True)
    assert "Dashboard" in english


def test_summary_existing_against_a_scenario_agrees_with_the_engine(app, official):
    answer = official.get("/api/dashboard")
    assert answer.status_code == 200
    data = answer.get_json()
    store = Store(app.config["STORE"])
    engine = dashboard.coverage_view(store, existing_only=True)
    existing = data["coverage"][dashboard.EXISTING]
    assert existing["households_covered"] == engine["households_covered"]
    assert data["selected"] == store.metadata["latest_scenario"]
    head = {r["measure"]: r for r in data["headline"]["difference"]}
    assert head["households_covered"]["a"] == engine["households_covered"]
    assert (
        head["households_covered"]["b"] == data["coverage"][data["selected"]]["households_covered"]
    )
    only = official.get("/api/dashboard?stations=existing").get_json()
    assert only["selected"] == dashboard.EXISTING
    assert all(r["difference"] in (0, 0.0, None) for r in only["headline"]["difference"])
    missing = official.get("/api/dashboard?stations=nope")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["param"] == "stations"
    assert official.get("/api/dashboard?zoom=3").status_code == 400  # undeclared parameter


def test_compare_and_curve(app, official):
    versions = Store(app.config["STORE"]).read("plan_versions")["plan_version"].astype(int)
    now = int(versions.max())
    same = official.get(f"/api/dashboard/compare?a={now}&b={now}").get_json()
    assert same["changes"] == [] and same["households_moved"] == 0
    assert all(r["difference"] == 0 for r in same["difference"])
    default = official.get("/api/dashboard/compare").get_json()
    assert default["new"] == now and default["old"] < now
    assert official.get("/api/dashboard/compare?a=999").status_code == 404
    assert official.get("/api/dashboard/compare?a=x").status_code == 400
    curve = official.get("/api/dashboard/curve").get_json()
    covered = [p["households_covered"] for p in curve["points"]]
    assert covered == sorted(covered) and curve["points"][0]["new_stations"] == 0
    assert covered[-1] == curve["households_coverable"]


def test_dashboard_routes_are_in_the_openapi_document(official):
    paths = official.get("/api/openapi.json").get_json()["paths"]
    assert {"/api/dashboard", "/api/dashboard/compare", "/api/dashboard/curve"} <= set(paths)
    names = {p["$ref"].rsplit("/", 1)[-1] for p in paths["/api/dashboard"]["get"]["parameters"]}
    assert names == {"stationSet", "community"}
    assert "/api/dashboard/communities" in paths


def test_dashboard_takes_a_community_and_compares_them(two_communities, login):
    path = str(two_communities.path)
    a, b = two_communities.read("community")["community_code"].astype(str)
    app = create_app({"STORE": path, "TESTING": True})
    try:
        client = app.test_client()
        login(client, path, role="official")
        listed = client.get("/api/dashboard/communities")
        assert listed.status_code == 200
        rows = listed.get_json()["communities"]
        assert [r["community_code"] for r in rows] == [a, b]
        assert listed.get_json()["totals"]["grids"] == len(two_communities.read("grids"))
        whole = client.get("/api/dashboard?stations=existing").get_json()
        assert whole["community"] is None
        assert [c["community_code"] for c in whole["communities"]] == [a, b]
        one = client.get(f"/api/dashboard?stations=existing&community={a}")
        assert one.status_code == 200
        data = one.get_json()
        assert data["community"] == a
        grids = [g["grid_code"] for g in data["tables"]["grids"]]
        assert grids and all(g.startswith(a) for g in grids)
        existing = data["headline"]["existing"]
        assert existing["grids"] == rows[0]["grids"]
        assert existing["households_total"] == rows[0]["households"]
        by_name = client.get(f"/api/dashboard?stations=existing&community={rows[0]['name']}")
        assert by_name.get_json()["tables"]["grids"] == data["tables"]["grids"]
        compare = client.get(f"/api/dashboard/compare?community={b}").get_json()
        assert all(c["grid_code"].startswith(b) for c in compare["changes"])
        assert compare["before"]["grids"] == rows[1]["grids"]
        for route in ("/api/dashboard", "/api/dashboard/compare"):
            missing = client.get(f"{route}?community=nowhere")
            assert missing.status_code == 404
            assert missing.get_json()["error"]["param"] == "community"
    finally:
        app.extensions["planner.jobs"].shutdown()


# -- its scripts ----------------------------------------------------------------------------


def _code(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def test_dashboard_scripts_take_their_text_from_the_catalogue():
    from planner_web.i18n import MESSAGES

    scripts = list(SCRIPTS.glob("*.js"))
    assert {"main.js", "dash_map.js", "tables.js", "charts.js", "compare.js"} <= {
        p.name for p in scripts
    }
    used = set()
    for path in scripts:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bM\.(\w+)", text))
        # text by language comes from the catalogue only, never inline
        assert ".lang ===" not in text and not re.search(r"[\u4e00-\u9fff]", _code(text))
        for target in re.findall(r'^import [^;]*? from "([^"]+)";', text, re.M):
            assert target.startswith(("./", "../")), (path.name, target)
            assert (path.parent / target).resolve().is_file(), (path.name, target)
    assert used <= set(MESSAGES["zh"]) and used <= set(MESSAGES["en"]), used - set(MESSAGES["en"])
    # measures and statuses named through M["m_" + ...] and M["dash_status_" + ...]
    for m in (*dashboard.MEASURES, "households"):
        assert f"m_{m}" in MESSAGES["en"] and f"m_{m}" in MESSAGES["zh"]
    for status in ("added", "removed", "reshaped", "households"):
        assert f"dash_status_{status}" in MESSAGES["zh"]
