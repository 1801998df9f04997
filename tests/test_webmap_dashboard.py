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
    assert names == {"stationSet"}


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
