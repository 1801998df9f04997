"""Plan versions: every plan write is a version; list, diff, publish and rollback."""

from __future__ import annotations

import json
import shutil

import shapely

from planner import plan_versions
from planner.cli import run
from planner.store import Store


def test_each_plan_write_is_a_version_and_rollback_restores_it(tsinghua_any, capsys):
    """On both backends: the CLI takes a GeoPackage path or a postgresql:// URL."""
    path = str(tsinghua_any.path)
    first = plan_versions.current_version(tsinghua_any)
    assert first >= 1  # the demo's grids (and edge areas) made versions
    before = tsinghua_any.read("grids").sort_values("grid_code").reset_index(drop=True)
    assert run(["grids", path, "--max", "450"]) == 0
    capsys.readouterr()
    store = Store(path)
    changed = plan_versions.current_version(store)
    assert changed == first + 1

    assert run(["plan", path, "diff", str(first), str(changed), "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["added"] or diff["removed"] or diff["reshaped"]
    assert diff["households_moved"] > 0

    assert run(["plan", path, "publish", str(first), "--by", "张三"]) == 0
    assert run(["plan", path, "rollback", str(first), "--by", "张三"]) == 0
    capsys.readouterr()
    store = Store(path)
    assert plan_versions.current_version(store) == changed + 1
    after = store.read("grids").sort_values("grid_code").reset_index(drop=True)
    assert list(after["grid_code"]) == list(before["grid_code"])
    assert list(after["households"]) == list(before["households"])
    assert after.geometry.geom_equals_exact(before.geometry, tolerance=1e-9).all()
    codes = set(after["grid_code"])
    assert set(store.read("buildings")["grid_code"].dropna()) <= codes
    assert plan_versions.diff_versions(store, first, changed + 1)["households_moved"] == 0

    assert run(["plan", path, "list", "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    published = [v["plan_version"] for v in versions if v["published"]]
    assert published == [first]
    last = versions[-1]
    assert last["current"] and last["user"] == "张三" and "rollback" in last["reason"]


def test_unknown_version_is_a_user_error(tsinghua_store, capsys):
    assert run(["plan", str(tsinghua_store.path), "show", "999"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no plan version 999" in err[0]


def test_versions_without_a_user_list_as_a_dash_and_json_null(tsinghua_store, tmp_path, capsys):
    path = tmp_path / "copy.gpkg"
    shutil.copy(tsinghua_store.path, path)
    code = Store(path).read("grids")["grid_code"].iloc[0]
    edits = tmp_path / "rename.json"
    edits.write_text(json.dumps([{"op": "rename", "grid": code, "name": "第一网格"}]), "utf-8")
    assert run(["plan", str(path), "edit", str(edits), "--by", "张三"]) == 0
    capsys.readouterr()
    assert run(["plan", str(path), "list"]) == 0
    out = capsys.readouterr().out
    assert "张三" in out and "nan" not in out.split()
    assert run(["plan", str(path), "list", "--json"]) == 0

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON")

    versions = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert versions[0]["user"] is None and versions[-1]["user"] == "张三"


def _owned(grids, code: str):
    return grids[grids["grid_code"].astype(str).str.startswith(code)]


def _same(a, b) -> bool:
    """Whether two plans' grids are the same: codes, households and outlines (to 1e-9
    degrees, below the rounding error of a layer written again)."""
    a = a.set_index(a["grid_code"].astype(str)).sort_index()
    b = b.set_index(b["grid_code"].astype(str)).sort_index()
    if list(a.index) != list(b.index) or list(a["households"]) != list(b["households"]):
        return False
    return bool(shapely.equals_exact(a.geometry.values, b.geometry.values, 1e-9).all())


def test_versions_are_scoped_to_a_community(two_communities_any, capsys):
    """list, show, publish and rollback with --community see and change its grids only,
    on both backends."""
    from planner.grids import make_grids

    store = two_communities_any
    path = str(store.path)
    a, b = store.read("community")["community_code"].astype(str)
    start = plan_versions.current_version(store)
    before = store.read("grids")
    make_grids(store, community=b, max_households=450)  # changes B only
    make_grids(store, community=a, max_households=450)  # changes A only
    store = Store(path)
    changed_b, changed_a = start + 1, start + 2
    assert plan_versions.current_version(store) == changed_a
    b_now = _owned(store.read("grids"), b)

    # list: the whole plan by default; a community's versions count its grids alone.
    assert run(["plan", path, "list", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert [v["plan_version"] for v in everything][-3:] == [start, changed_b, changed_a]
    assert run(["plan", path, "list", "--community", a, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    numbers = [v["plan_version"] for v in listed]
    assert start in numbers and changed_a in numbers and changed_b not in numbers
    assert all(v["community_code"] == a for v in listed)
    assert listed[-1]["current"] and listed[-1]["plan_version"] == changed_a
    a_start = _owned(before, a)
    at_start = next(v for v in listed if v["plan_version"] == start)
    assert at_start["grids"] == len(a_start)
    assert at_start["households"] == int(a_start["households"].sum())
    assert run(["plan", path, "list", "--community", b, "--json"]) == 0
    numbers_b = [v["plan_version"] for v in json.loads(capsys.readouterr().out)]
    assert changed_b in numbers_b and changed_a not in numbers_b
    assert run(["plan", path, "list", "--community", b]) == 0
    printed = [int(line[3:7]) for line in capsys.readouterr().out.splitlines()]
    assert printed == numbers_b

    # show: the community's grids of that version.
    assert run(["plan", path, "show", str(start), "--community", a, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["grids"]
    assert sorted(g["grid_code"] for g in shown) == sorted(a_start["grid_code"])
    assert run(["plan", path, "show", str(start), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["grids"]) == len(before)

    # rollback of A restores A's grids and leaves B's as they are now.
    assert run(["plan", path, "rollback", str(start), "--community", a, "--by", "李四"]) == 0
    assert a in capsys.readouterr().out
    store = Store(path)
    rolled = plan_versions.current_version(store)
    assert rolled == changed_a + 1
    after = store.read("grids")
    assert _same(_owned(after, a), a_start)
    assert _same(_owned(after, b), b_now)
    assert not _same(_owned(after, b), _owned(before, b))  # B's redraw is kept
    assert set(store.read("buildings")["grid_code"].dropna()) <= set(after["grid_code"])
    assert plan_versions.diff_versions(store, start, rolled, community=a)["households_moved"] == 0
    assert plan_versions.diff_versions(store, changed_a, rolled, community=b)["kept"] == len(b_now)
    log = store.read("change_log")
    rollback = log[log["action"] == "rollback"].iloc[-1]
    assert json.loads(rollback["detail"])["community_code"] == a

    # publish records which community; the other keeps its published version.
    assert run(["plan", path, "publish", str(start), "--by", "王五"]) == 0
    assert run(["plan", path, "publish", str(rolled), "--community", a]) == 0
    assert f"community {a}" in capsys.readouterr().out
    store = Store(path)
    assert plan_versions.published_version(store, community=a) == rolled
    assert plan_versions.published_version(store, community=b) == start
    assert plan_versions.published_version(store) == start
    log = store.read("change_log")
    published = log[log["action"] == "publish"]
    assert [json.loads(d)["community_code"] for d in published["detail"]][-2:] == [None, a]
    assert run(["plan", path, "list", "--community", a, "--json"]) == 0
    flags = {v["plan_version"]: v["published"] for v in json.loads(capsys.readouterr().out)}
    assert flags[rolled] and sum(flags.values()) == 1
    assert run(["plan", path, "list", "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert [v["plan_version"] for v in whole if v["published"]] == [start]
    # Publishing the whole plan publishes every community's grids again.
    assert run(["plan", path, "publish", str(changed_b)]) == 0
    assert plan_versions.published_version(Store(path), community=a) == changed_b


def test_an_unknown_community_is_a_user_error_naming_the_flag(two_communities, capsys):
    path = str(two_communities.path)
    version = str(plan_versions.current_version(two_communities))
    for command in (["list"], ["show", version], ["publish", version], ["rollback", version]):
        assert run(["plan", path, *command, "--community", "nowhere"]) == 2
        err = capsys.readouterr().err
        assert "--community" in err and "nowhere" in err, command
    assert plan_versions.current_version(Store(path)) == int(version)


def test_a_store_of_one_community_takes_its_code_as_the_default(tsinghua_store, capsys):
    path = str(tsinghua_store.path)
    code = str(tsinghua_store.read("community")["community_code"].iloc[0])
    assert run(["plan", path, "list", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert run(["plan", path, "list", "--community", code, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == plain
    assert run(["plan", path, "list", "--community", "nowhere"]) == 2
