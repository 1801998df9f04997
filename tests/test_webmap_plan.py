"""The plan editor's API: current version, previews, versioned saves, conflicts."""

from __future__ import annotations

import shutil

import pytest

from planner_web import create_app
from tests.test_plan_edit import _border_block


@pytest.fixture
def app(nanjing_path, tmp_path):
    copy = tmp_path / "nanjing.gpkg"
    shutil.copyfile(nanjing_path, copy)
    app = create_app({"STORE": str(copy), "TESTING": True})
    yield app
    app.extensions["planner.jobs"].shutdown()


@pytest.fixture
def client(app, login):
    """A test client logged in as an admin."""
    client = app.test_client()
    login(client, app.config["STORE"])
    return client


def test_preview_save_and_conflict(app, client):
    from planner.store import Store

    block, home, neighbour, households = _border_block(Store(app.config["STORE"]))
    plan = client.get("/api/plan").get_json()
    version = plan["version"]
    before = {g["grid_code"]: g["households"] for g in plan["grids"]}
    edits = [{"op": "assign", "units": [block], "to": neighbour}]

    preview = client.post("/api/plan/preview", json={"base_version": version, "edits": edits})
    assert preview.status_code == 200
    figures = preview.get_json()["grids"]
    assert figures[neighbour]["households"] == before[neighbour] + households
    assert figures[home]["households"] == before[home] - households

    saved = client.post("/api/plan/save", json={"base_version": version, "edits": edits})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["version"] == version + 1
    assert client.get("/api/plan").get_json()["version"] == version + 1
    old = client.get(f"/api/plan?version={version}").get_json()
    assert {g["grid_code"]: g["households"] for g in old["grids"]}[neighbour] == before[neighbour]

    stale = client.post(
        "/api/plan/save",
        json={"base_version": version, "edits": [{"op": "rename", "grid": home, "name": "x"}]},
    )
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["error"]["code"] == "conflict"
    assert body["version"] == version + 1 and home in body["changed"]


def test_bad_requests(client):
    assert client.post("/api/plan/preview", data="x").status_code == 400
    answer = client.post("/api/plan/preview", json={"edits": [{"op": "nope"}]})
    assert answer.status_code == 400 and "op" in answer.get_json()["error"]["message"]
    answer = client.post("/api/plan/save", json={"edits": [{"op": "lock", "grid": "x"}]})
    assert answer.status_code == 400 and answer.get_json()["error"]["param"] == "base_version"
    line = {"type": "LineString", "coordinates": [[0, 0], [0.001, 0.001]]}
    plan = client.get("/api/plan").get_json()
    code = plan["grids"][0]["grid_code"]
    answer = client.post(
        "/api/plan/preview", json={"edits": [{"op": "split", "grid": code, "line": line}]}
    )
    assert answer.status_code == 422
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/plan/save" in spec["paths"]
    assert "requestBody" in spec["paths"]["/api/plan/save"]["post"]


def test_a_viewer_reads_the_plan_but_cannot_edit_it(app, login):
    viewer = app.test_client()
    login(viewer, app.config["STORE"], role="viewer")
    assert viewer.get("/api/plan").status_code == 200
    edits = {"base_version": 1, "edits": [{"op": "lock", "grid": "x"}]}
    assert viewer.post("/api/plan/preview", json=edits).status_code == 403
    assert viewer.post("/api/plan/save", json=edits).status_code == 403
    official = app.test_client()
    login(official, app.config["STORE"], role="official")
    assert official.post("/api/plan/save", json=edits).status_code == 403
    assert app.test_client().get("/api/plan").status_code == 401
