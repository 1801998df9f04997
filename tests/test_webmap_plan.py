"""The plan editor's API: current version, previews, versioned saves, conflicts."""

from __future__ import annotations

import pytest

from planner_web import create_app
from tests.test_plan_edit import _border_block


@pytest.fixture
def app(nanjing_any):
    """The web app on a private Nanjing store, a GeoPackage and a PostGIS one."""
    app = create_app({"STORE": str(nanjing_any.path), "TESTING": True})
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


def test_a_save_answers_with_the_saved_plans_own_check(app, client):
    """The editor goes on with the version it saved: the save's answer carries that
    version's check, the same as the full check of the store and as a preview of no
    edits on it."""
    from planner.store import Store
    from planner.topology.checks import check

    block, _, neighbour, _ = _border_block(Store(app.config["STORE"]))
    version = client.get("/api/plan").get_json()["version"]
    client.post("/api/plan/preview", json={"base_version": version, "edits": []})
    edits = [{"op": "assign", "units": [block], "to": neighbour}]
    saved = client.post("/api/plan/save", json={"base_version": version, "edits": edits})
    assert saved.status_code == 200, saved.get_json()
    answer = saved.get_json()
    assert answer["check"]["version"] == answer["version"] == version + 1
    expected = check(Store(app.config["STORE"]))
    assert answer["check"]["counts"] == expected.counts()
    again = client.post("/api/plan/preview", json={"base_version": version + 1, "edits": []})
    assert again.get_json()["counts"] == answer["check"]["counts"]
    assert again.get_json()["findings"]["totals"] == answer["check"]["findings"]["totals"]


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


def test_versions_diff_rollback_and_publish(app, client, login):
    from planner.store import Store

    block, home, neighbour, households = _border_block(Store(app.config["STORE"]))
    first = client.get("/api/plan").get_json()["version"]
    edits = [{"op": "assign", "units": [block], "to": neighbour}]
    saved = client.post(
        "/api/plan/save", json={"base_version": first, "edits": edits, "message": "调整边界"}
    )
    assert saved.status_code == 200, saved.get_json()
    second = saved.get_json()["version"]

    listed = client.get("/api/plan/versions").get_json()
    assert listed["current"] == second
    rows = {v["plan_version"]: v for v in listed["versions"]}
    assert rows[second]["current"] and not rows[first]["current"]
    assert rows[second]["reason"].startswith("调整边界") and rows[second]["user"] == "admin"

    diff = client.get(f"/api/plan/diff?a={first}&b={second}").get_json()
    changed = {c["grid_code"]: c for c in diff["households_changed"]}
    assert changed[neighbour]["new"] - changed[neighbour]["old"] == households
    assert diff["households_moved"] == households
    assert set(diff["reshaped"]) == {home, neighbour} and not diff["added"]
    assert client.get(f"/api/plan/diff?a={first}&b=999").status_code == 404
    assert client.get("/api/plan/diff?a=x").status_code == 400

    rolled = client.post("/api/plan/rollback", json={"version": first})
    assert rolled.status_code == 200, rolled.get_json()
    assert rolled.get_json()["version"] == second + 1
    back = {g["grid_code"]: g["households"] for g in client.get("/api/plan").get_json()["grids"]}
    old = client.get(f"/api/plan?version={first}").get_json()["grids"]
    assert back == {g["grid_code"]: g["households"] for g in old}
    assert client.post("/api/plan/rollback", json={"version": 999}).status_code == 404
    assert client.post("/api/plan/rollback", json={"version": "1"}).status_code == 400

    assert client.post("/api/plan/publish", json={"version": second}).get_json() == {
        "published": second
    }
    listed = client.get("/api/plan/versions").get_json()
    assert listed["published"] == second
    assert [v["plan_version"] for v in listed["versions"] if v["published"]] == [second]

    planner = app.test_client()
    login(planner, app.config["STORE"], role="planner")
    assert planner.post("/api/plan/publish", json={"version": first}).status_code == 403
    viewer = app.test_client()
    login(viewer, app.config["STORE"], role="viewer")
    assert viewer.get("/api/plan/versions").status_code == 200
    assert viewer.post("/api/plan/rollback", json={"version": first}).status_code == 403
    spec = client.get("/api/openapi.json").get_json()
    assert {"/api/plan/versions", "/api/plan/diff", "/api/plan/rollback"} <= set(spec["paths"])
    refs = [p["$ref"].split("/")[-1] for p in spec["paths"]["/api/plan/diff"]["get"]["parameters"]]
    names = [spec["components"]["parameters"][r]["name"] for r in refs]
    assert names == ["a", "b", "community"]


def test_versions_rollback_and_publish_take_a_community(two_communities, login):
    """On a store of two communities, every plan route scoped to one sees and changes it
    alone; unknown communities are 400 with the usual error body."""
    from planner import plan_versions
    from planner.grids import make_grids
    from planner.store import Store

    path = str(two_communities.path)
    a, b = two_communities.read("community")["community_code"].astype(str)
    start = plan_versions.current_version(two_communities)
    make_grids(two_communities, community=a, max_households=450)
    changed = start + 1
    app = create_app({"STORE": path, "TESTING": True})
    try:
        client = app.test_client()
        login(client, path)
        whole = client.get("/api/plan/versions").get_json()
        assert whole["community"] is None and whole["current"] == changed
        mine = client.get(f"/api/plan/versions?community={a}").get_json()
        assert mine["community"] == a
        assert [v["plan_version"] for v in mine["versions"]][-2:] == [start, changed]
        theirs = client.get(f"/api/plan/versions?community={b}").get_json()
        assert changed not in [v["plan_version"] for v in theirs["versions"]]
        assert theirs["versions"][-1]["current"]

        plan = client.get(f"/api/plan?community={a}").get_json()
        assert plan["community"] == a and plan["version"] == changed
        assert plan["grids"] and all(g["grid_code"].startswith(a) for g in plan["grids"])
        old = client.get(f"/api/plan?version={start}&community={a}").get_json()
        assert old["grids"] and all(g["grid_code"].startswith(a) for g in old["grids"])
        redrawn = client.get(f"/api/plan/diff?a={start}&b={changed}&community={a}").get_json()
        assert redrawn["added"] or redrawn["removed"] or redrawn["reshaped"]
        b_now = client.get(f"/api/plan?community={b}").get_json()["grids"]

        rolled = client.post("/api/plan/rollback", json={"version": start, "community": a})
        assert rolled.status_code == 200, rolled.get_json()
        body = rolled.get_json()
        assert body["version"] == changed + 1 and body["community_code"] == a
        assert client.get(f"/api/plan?community={a}").get_json()["grids"] == old["grids"]
        assert client.get(f"/api/plan?community={b}").get_json()["grids"] == b_now
        back = f"/api/plan/diff?a={start}&b={changed + 1}&community={a}"
        back = client.get(back).get_json()
        assert not (back["added"] or back["removed"] or back["reshaped"])

        published = client.post("/api/plan/publish", json={"version": start, "community": b})
        assert published.get_json() == {"published": start, "community_code": b}
        assert client.get(f"/api/plan/versions?community={b}").get_json()["published"] == start
        assert client.get(f"/api/plan?community={a}").get_json()["published"] is None
        assert client.get("/api/plan/versions").get_json()["published"] is None
        assert plan_versions.published_version(Store(path), community=b) == start

        for answer in (
            client.get("/api/plan/versions?community=nowhere"),
            client.get("/api/plan?community=nowhere"),
            client.post("/api/plan/rollback", json={"version": start, "community": "nowhere"}),
            client.post("/api/plan/publish", json={"version": start, "community": "nowhere"}),
            client.post("/api/plan/publish", json={"version": start, "community": 7}),
        ):
            assert answer.status_code == 400, answer.get_json()
            error = answer.get_json()["error"]
            assert error["param"] == "community" and error["status"] == 400
        assert plan_versions.current_version(Store(path)) == changed + 1
        spec = client.get("/api/openapi.json").get_json()
        for route in ("/api/plan", "/api/plan/versions"):
            names = {
                p["$ref"].rsplit("/", 1)[-1] for p in spec["paths"][route]["get"]["parameters"]
            }
            assert "community" in names, route
        body = spec["components"]["schemas"]["PlanVersion"]["properties"]
        assert "community" in body
    finally:
        app.extensions["planner.jobs"].shutdown()
