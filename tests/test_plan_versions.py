"""Plan versions: every plan write is a version; list, diff, publish and rollback."""

from __future__ import annotations

import json
import shutil

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
