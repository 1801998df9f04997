"""Analysis jobs that propose a plan: nothing written until accepted, one version when it is."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from planner import plan_versions
from planner.plan_edit import PlanEditor
from planner.settings import settings
from planner.store import Store
from planner_web import create_app


@pytest.fixture
def store_copy(nanjing_path, tmp_path) -> Path:
    path = tmp_path / "jobs.gpkg"
    shutil.copyfile(nanjing_path, path)
    return path


def deleted_grid(path: Path) -> str:
    """Delete a grid by hand (a saved edit), so that generating grids proposes a change."""
    editor = PlanEditor(Store(path))
    code = str(editor.context.grids["grid_code"].sort_values().iloc[0])
    editor.save(editor.version, [{"op": "delete", "grid": code}], message="测试：删除网格")
    return code


@pytest.fixture
def client(store_copy, login):
    app = create_app({"STORE": str(store_copy), "TESTING": True})
    client = app.test_client()
    login(client, store_copy, role="planner")
    yield client
    app.extensions["planner.jobs"].shutdown()


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _finished(client, job_id: str) -> dict:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def _proposed(client, store_copy) -> dict:
    """Run 'generate grids' to its pending proposal; the store must be untouched."""
    before = _digest(store_copy)
    response = client.post("/api/analysis/make_grids_step")
    assert response.status_code == 202, response.get_data(as_text=True)
    job = _finished(client, response.get_json()["id"])
    assert job["state"] == "done", job
    assert job["pending"] is True
    assert _digest(store_copy) == before
    return job


def test_generate_grids_waits_for_accept_then_makes_one_version(client, store_copy):
    deleted = deleted_grid(store_copy)
    store = Store(store_copy)
    base = plan_versions.current_version(store)
    versions = len(plan_versions.list_versions(store))
    job = _proposed(client, store_copy)
    figures = job["figures"]["make_grids_step"]
    assert figures["base_version"] == base
    assert figures["grids"] == job["result"]["make_grids_step"]["grids"] > 0
    assert figures["in_range"] + figures["out_of_range"] == figures["grids"]
    assert figures["in_range"] == job["result"]["make_grids_step"]["in_range"]
    assert set(figures["findings"]) >= {"overlaps", "gaps", "households_out_of_range"}
    assert figures["findings_total"] == sum(figures["findings"].values())
    assert figures["findings"]["households_out_of_range"] == figures["out_of_range"]
    for key in ("grids_added", "grids_removed", "grids_reshaped", "grids_kept", "households_moved"):
        assert isinstance(figures[key], int) and figures[key] >= 0
    # The deleted grid comes back: a change against the current plan.
    assert figures["grids_added"] >= 1 and figures["households_moved"] > 0
    # Nothing saved yet: the plan API still answers the old version.
    assert client.get("/api/plan").get_json()["version"] == base

    accepted = client.post(f"/api/jobs/{job['id']}/accept")
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    done = accepted.get_json()
    assert done["pending"] is False and done["accepted"] == base + 1
    store = Store(store_copy)
    assert plan_versions.current_version(store) == base + 1
    listed = plan_versions.list_versions(store)
    assert len(listed) == versions + 1
    last = listed.iloc[-1]
    assert (
        last["user"] == "planner" and "grids" in last["reason"] and "接受分析结果" in last["reason"]
    )
    grids = store.read("grids")
    current = grids[grids["scenario"].isna() | (grids["scenario"] == "")]
    assert len(current) == figures["grids"] and deleted in set(current["grid_code"])
    # Accepted once: a second accept or a discard is refused, and writes nothing.
    after = _digest(store_copy)
    again = client.post(f"/api/jobs/{job['id']}/accept")
    assert again.status_code == 409 and "accepted already" in again.get_json()["error"]["message"]
    assert client.post(f"/api/jobs/{job['id']}/discard").status_code == 409
    assert _digest(store_copy) == after


def test_discard_leaves_the_store_untouched(client, store_copy):
    before = _digest(store_copy)
    job = _proposed(client, store_copy)
    discarded = client.post(f"/api/jobs/{job['id']}/discard")
    assert discarded.status_code == 200
    assert discarded.get_json()["pending"] is False and discarded.get_json()["discarded"] is True
    assert client.get(f"/api/jobs/{job['id']}").get_json()["pending"] is False
    refused = client.post(f"/api/jobs/{job['id']}/accept")
    assert refused.status_code == 409 and "discarded" in refused.get_json()["error"]["message"]
    assert _digest(store_copy) == before
    assert client.post("/api/jobs/nope/discard").status_code == 404
    assert client.post("/api/jobs/nope/accept").status_code == 404


def test_accept_after_another_write_answers_409_and_writes_nothing(client, store_copy):
    job = _proposed(client, store_copy)
    base = job["figures"]["make_grids_step"]["base_version"]
    # Another change of the plan lands while the proposal waits.
    deleted_grid(store_copy)
    now = plan_versions.current_version(Store(store_copy))
    assert now == base + 1
    before = _digest(store_copy)
    refused = client.post(f"/api/jobs/{job['id']}/accept")
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"]["code"] == "conflict" and body["version"] == now
    assert f"version {base}" in body["error"]["message"]
    assert _digest(store_copy) == before
    # The proposal is still there, to discard.
    assert client.get(f"/api/jobs/{job['id']}").get_json()["pending"] is True
    assert client.post(f"/api/jobs/{job['id']}/discard").status_code == 200


def test_accept_and_discard_need_a_planner_and_the_csrf_token(store_copy, login):
    app = create_app({"STORE": str(store_copy), "TESTING": True})
    viewer = app.test_client()
    login(viewer, store_copy, role="viewer")
    assert viewer.post("/api/jobs/nope/accept").status_code == 403
    assert viewer.post("/api/jobs/nope/discard").status_code == 403
    planner = app.test_client()
    login(planner, store_copy, role="planner")
    del planner.environ_base["HTTP_X_CSRF_TOKEN"]
    assert planner.post("/api/jobs/nope/accept").status_code == 403
    app.extensions["planner.jobs"].shutdown()


def test_check_and_fix_proposes_the_repaired_plan(client, store_copy):
    deleted_grid(store_copy)  # its blocks are a gap now: findings to fix
    base = plan_versions.current_version(Store(store_copy))
    before = _digest(store_copy)
    response = client.post("/api/analysis/check_and_fix")
    job = _finished(client, response.get_json()["id"])
    assert job["state"] == "done" and job["pending"] is True, job
    assert _digest(store_copy) == before
    report = job["result"]["check_and_fix"]
    figures = job["figures"]["check_and_fix"]
    assert report["before"]["findings"] > 0 and report["fixes"] > 0
    # The figures are the repaired plan's: its findings are those of the re-check.
    assert figures["findings"]["gaps"] == report["after"]["gaps"] < report["before"]["gaps"]
    assert figures["base_version"] == base and figures["grids_reshaped"] > 0

    accepted = client.post(f"/api/jobs/{job['id']}/accept").get_json()
    assert accepted["accepted"] == base + 1
    store = Store(store_copy)
    assert plan_versions.current_version(store) == base + 1
    findings = store.read("findings")
    gaps = findings[(findings["kind"] == "gaps") & (findings["layer"] == "grids")]
    assert len(gaps) == report["after"]["gaps"]


def test_site_stations_writes_its_scenario_and_shows_its_figures(client, store_copy):
    response = client.post("/api/analysis/run_coverage_and_sites")
    job = _finished(client, response.get_json()["id"])
    assert job["state"] == "done" and job["pending"] is False, job
    report = job["result"]["run_coverage_and_sites"]
    figures = job["figures"]["run_coverage_and_sites"]
    assert figures["stations_proposed"] == len(report["sites"]["chosen"]) > 0
    assert figures["households_covered"] == report["coverage"]["households_covered"] > 0
    assert figures["households_total"] >= figures["households_covered"]
    # Written as it ran: the proposed stations are in the store, nothing waits.
    stations = Store(store_copy).read("stations")
    assert (stations["scenario"] == "lscp").sum() >= figures["stations_proposed"]
    assert client.post(f"/api/jobs/{job['id']}/accept").status_code == 409


# -- rebalance from the page -----------------------------------------------------------------


def merged_grids(path: Path) -> str:
    """Merge two neighbouring grids by hand (a saved edit): one grid far over the range."""
    from tests.test_plan_edit import _border_block

    store = Store(path)
    _, home, neighbour, _ = _border_block(store)
    editor = PlanEditor(store)
    edits = [{"op": "merge", "grids": [home, neighbour]}]
    editor.save(editor.version, edits, message="测试：合并两个网格")
    return home


def _out_of_range(path: Path) -> int:
    grids = Store(path).read("grids")
    grids = grids[grids["scenario"].isna() | (grids["scenario"] == "")]
    low, high = settings.grid.min_households, settings.grid.max_households
    return int((~grids["households"].between(low, high)).sum())


def test_rebalance_is_proposed_then_accepted_as_one_version(client, store_copy):
    merged = merged_grids(store_copy)
    store = Store(store_copy)
    base = plan_versions.current_version(store)
    out_before = _out_of_range(store_copy)
    assert merged in set(store.read("grids")["grid_code"]) and out_before >= 1
    listed = client.get("/api/analysis").get_json()
    assert "rebalance_step" in [s["id"] for s in listed["steps"]]
    before = _digest(store_copy)
    response = client.post("/api/analysis/rebalance_step")
    assert response.status_code == 202, response.get_data(as_text=True)
    job = _finished(client, response.get_json()["id"])
    assert job["state"] == "done" and job["pending"] is True, job
    assert job["label"] == "rebalance"
    # Computed, not written: the store is byte for byte as it was.
    assert _digest(store_copy) == before
    assert client.get("/api/plan").get_json()["version"] == base
    figures = job["figures"]["rebalance_step"]
    report = job["result"]["rebalance_step"]
    assert figures["base_version"] == base
    assert figures["grids"] == report["grids"] and figures["in_range"] == report["in_range"]
    assert figures["out_of_range"] < out_before
    assert figures["households_moved"] > 0 and report["households_moved"] > 0
    assert report["blocks_moved"] > 0
    assert figures["grids_added"] + figures["grids_reshaped"] >= 1

    accepted = client.post(f"/api/jobs/{job['id']}/accept")
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert accepted.get_json()["accepted"] == base + 1
    store = Store(store_copy)
    assert plan_versions.current_version(store) == base + 1
    assert _out_of_range(store_copy) == figures["out_of_range"]
    last = plan_versions.list_versions(store).iloc[-1]
    assert last["user"] == "planner" and "重新平衡网格（rebalance）" in last["reason"]
    assert "rebalance" in set(store.read("change_log")["action"])
    # As `planner rebalance --apply`: the rebalanced plan and its moves are kept too.
    assert (store.read("scenario_grids")["scenario"] == "rebalanced").sum() == figures["grids"]
    assert len(store.read("grid_moves")) == report["blocks_moved"]


def test_rebalance_accept_after_another_write_answers_409(client, store_copy):
    merged_grids(store_copy)
    response = client.post("/api/analysis/rebalance_step")
    job = _finished(client, response.get_json()["id"])
    assert job["pending"] is True, job
    base = job["figures"]["rebalance_step"]["base_version"]
    deleted_grid(store_copy)  # the plan changes while the proposal waits
    before = _digest(store_copy)
    refused = client.post(f"/api/jobs/{job['id']}/accept")
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["error"]["code"] == "conflict" and body["version"] == base + 1
    assert _digest(store_copy) == before
    discarded = client.post(f"/api/jobs/{job['id']}/discard")
    assert discarded.status_code == 200 and discarded.get_json()["discarded"] is True
    assert _digest(store_copy) == before
