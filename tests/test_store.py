"""The GeoPackage store: round trips, metadata, all-or-nothing writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner import accounts, config
from planner.errors import PlannerError
from planner.plan_commit import current_rows
from planner.store import OSM_ATTRIBUTION, Store

ROSTER = config.DATA_DIR / "rosters" / "nanjing_xinjiekou_roster.csv"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_chinese_text_survives(nanjing_store):
    buildings = nanjing_store.read("buildings")
    buildings.loc[0, "name"] = "凯润金城6栋（东）"
    nanjing_store.write("buildings", buildings)
    assert nanjing_store.read("buildings").loc[0, "name"] == "凯润金城6栋（东）"
    assert nanjing_store.name == "南京新街口"


def test_metadata(nanjing_store):
    meta = nanjing_store.metadata
    assert meta["storage_crs"] == "EPSG:4326"
    assert meta["metric_crs"] == "EPSG:4549"  # CGCS2000 3-degree GK, CM 120E
    assert any(s.get("attribution") == OSM_ATTRIBUTION for s in meta["sources"])
    assert meta["created"] <= meta["updated"]


def test_refused_write_leaves_bytes_unchanged(nanjing_store):
    path = nanjing_store.path
    before = _digest(path)
    buildings = nanjing_store.read("buildings")
    duplicated = buildings.copy()
    duplicated.loc[1, "building_id"] = duplicated.loc[0, "building_id"]
    with pytest.raises(PlannerError, match="not unique"):
        nanjing_store.write("buildings", duplicated)
    empty_geom = buildings.copy()
    empty_geom.loc[3, "geometry"] = shapely.Polygon()
    with pytest.raises(PlannerError, match="empty or missing geometry"):
        nanjing_store.write("buildings", empty_geom)
    wrong_type = buildings.copy()
    wrong_type.loc[2, "geometry"] = shapely.Point(118.78, 32.04)
    with pytest.raises(PlannerError, match="geometry must be Polygon"):
        nanjing_store.write("buildings", wrong_type)
    assert _digest(path) == before


def test_crash_mid_write_leaves_previous_content(nanjing_store, monkeypatch):
    path = nanjing_store.path
    before = _digest(path)
    import planner.store as store_module

    real = store_module._write_frame
    calls = []

    def failing(target, name, frame):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real(target, name, frame)

    monkeypatch.setattr(store_module, "_write_frame", failing)
    roads = nanjing_store.read("roads").iloc[:10]
    gates = nanjing_store.read("gates").iloc[:2]
    with pytest.raises(OSError, match="simulated"):
        nanjing_store.write_many({"roads": roads, "gates": gates})
    assert _digest(path) == before
    assert not list(path.parent.glob(".nanjing.*.gpkg"))  # the staged copy is cleaned up


def test_change_log_records_writes(nanjing_store):
    gates = nanjing_store.read("gates")
    nanjing_store.write(
        "gates", gates, log=[{"layer": "gates", "action": "edit", "reason": "测试"}]
    )
    log = nanjing_store.read("change_log")
    assert log.iloc[-1]["action"] == "edit" and log.iloc[-1]["reason"] == "测试"


def test_gdal_reads_the_store(nanjing_path):
    with sqlite3.connect(nanjing_path) as con:
        tables = {r[0] for r in con.execute("select table_name from gpkg_contents")}
    assert {"buildings", "roads", "community", "planner_metadata"} <= tables


def test_missing_and_broken_stores(tmp_path):
    with pytest.raises(PlannerError, match="store not found"):
        Store(tmp_path / "none.gpkg")
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage at all")
    with pytest.raises(PlannerError, match="not a planner GeoPackage"):
        Store(broken)


def test_read_missing_layer(tmp_path):
    store = Store.create(tmp_path / "new.gpkg", metric_crs="EPSG:4549", name="新社区")
    zones = store.read("zones")
    assert isinstance(zones, gpd.GeoDataFrame) and zones.empty and "zone_code" in zones
    with pytest.raises(PlannerError, match="no 'zones' layer"):
        store.read("zones", missing_ok=False)
    assert store.layers() == [] and store.summary()["households"]["total"] == 0


def test_change_log_entries_of_two_writers_are_both_kept(nanjing_store):
    other = Store(nanjing_store.path)
    before = len(nanjing_store.read("change_log"))
    nanjing_store.write_many({}, log=[{"layer": "gates", "action": "edit", "reason": "一"}])
    other.write_many({}, log=[{"layer": "roads", "action": "edit", "reason": "二"}])
    log = Store(nanjing_store.path).read("change_log")
    assert list(log["reason"].iloc[before:]) == ["一", "二"]


def test_killed_transaction_is_rolled_back_on_the_next_open(nanjing_store):
    """A process killed mid-transaction leaves a hot journal; the next open rolls it back."""
    path = nanjing_store.path
    before = _digest(path)
    script = (
        "import os, signal, sqlite3, sys\n"
        "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "con.execute('PRAGMA cache_size = 1')\n"  # spill changed pages into the file
        "con.execute('BEGIN IMMEDIATE')\n"
        "con.execute('DELETE FROM buildings')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(path)])
    assert killed.returncode == -signal.SIGKILL
    assert path.with_name(path.name + "-journal").exists()
    reopened = Store(path)
    assert len(reopened.read("buildings")) == 1277
    assert _digest(path) == before
    assert not path.with_name(path.name + "-journal").exists()


def test_the_kept_connection_sees_other_processes_and_a_file_put_in_place(nanjing_store):
    """The connection a process keeps open sees another process's write, and a store
    written over the file (a new file in its place) is read, not the one it replaced."""
    path = nanjing_store.path
    assert Store(path).name == "南京新街口"  # the connection is open now
    script = (
        "import sqlite3, sys\n"
        "with sqlite3.connect(sys.argv[1]) as con:\n"
        '    con.execute("UPDATE planner_metadata SET value = \'\\"其他进程\\"\' '
        "WHERE key = 'name'\")\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert Store(path).name == "其他进程"
    other = path.with_name("other.gpkg")
    shutil.copyfile(path, other)
    with sqlite3.connect(other) as con:
        con.execute("UPDATE planner_metadata SET value = '\"新文件\"' WHERE key = 'name'")
    os.replace(other, path)
    store = Store(path)
    assert store.name == "新文件"
    store.write_many({}, log=[{"layer": "grids", "action": "edit", "reason": "新文件里"}])
    assert Store(path).read("change_log")["reason"].iloc[-1] == "新文件里"
    assert sorted(p.name for p in path.parent.iterdir()) in (
        ["nanjing.gpkg"],
        ["nanjing.gpkg", "nanjing.gpkg.lock"],
    )


RACE_ROUNDS = int(os.environ.get("PLANNER_RACE_ROUNDS", "3"))


def _race_store(backend, request, tmp_path):
    """The Nanjing store for a race: ``s.gpkg`` in ``tmp_path``, or a PostGIS schema."""
    if backend == "postgis":
        return request.getfixturevalue("nanjing_any").path
    path = tmp_path / "s.gpkg"
    shutil.copyfile(request.getfixturevalue("nanjing_path"), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(RACE_ROUNDS))
def test_writer_killed_mid_write_leaves_a_committed_store(backend, request, tmp_path, round_):
    """kill -9 of `planner grids` at a random moment: the store opens as before or after
    (a PostGIS store: the server rolls the killed client's transaction back)."""
    path = _race_store(backend, request, tmp_path)
    before = Store(path).layer_versions()
    writer = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "grids", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(random.Random(round_).uniform(1.0, 8.0))
    writer.kill()
    writer.wait()
    store = Store(path)
    after = store.layer_versions()
    # Killed before its commit, or after it: one change-log entry (the grids layer too,
    # unless the plan came out as it was stored).
    assert after == before or after["change_log"] == before.get("change_log", 0) + 1
    assert len(store.read("buildings")) == 1277 and len(store.read("grids")) > 0
    if backend == "gpkg":
        assert sorted(p.name for p in tmp_path.iterdir()) in (
            ["s.gpkg"],
            ["s.gpkg", "s.gpkg.lock"],
        )


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(RACE_ROUNDS))
def test_concurrent_commands_lose_no_update(backend, request, tmp_path, round_):
    """grids, sites and households at once: each writes or exits 3; the data shows every write."""
    path = _race_store(backend, request, tmp_path)
    roster = pd.read_csv(ROSTER, dtype=str, encoding="utf-8-sig")
    counts = pd.to_numeric(roster["户数"], errors="coerce")  # unreadable ones stay as they are
    roster["户数"] = (counts * 2).astype("Int64").astype(str).where(counts.notna(), roster["户数"])
    doubled = tmp_path / "roster2.csv"
    roster.to_csv(doubled, index=False)
    store = Store(path)
    total = int(store.read("buildings")["households"].sum())
    log_before = len(store.read("change_log"))
    commands = {
        "grids": ["grids", str(path)],
        "sites": ["sites", str(path), "--model", "lscp"],
        "households": ["households", str(path), "--roster", str(doubled)],
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", "planner.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    status = {name: p.wait(timeout=600) for name, p in running.items()}
    assert set(status.values()) <= {0, 3}, {n: p.stderr.read() for n, p in running.items()}
    store = Store(path)
    buildings = store.read("buildings")
    joined = any(s.get("name") == "roster2.csv" for s in store.metadata["sources"])
    assert joined == (status["households"] == 0)
    assert int(buildings["households"].sum()) != total if joined else total
    log = store.read("change_log").iloc[log_before:]
    reasons = {
        "grids": "planner grids",
        "sites": "planner sites",
        "households": "join roster roster2.csv",
    }
    for name, reason in reasons.items():
        wrote = log["reason"].fillna("").str.startswith(reason).any()
        assert wrote == (status[name] == 0), (name, status)
    # Whoever won, the plan's figures agree with the buildings (one commit path).
    grids = store.read("grids")
    grids = grids[current_rows(grids)]
    per_grid = buildings.groupby("grid_code")["households"].sum()
    expected = per_grid.reindex(grids["grid_code"]).fillna(0).astype(int).to_numpy()
    assert (expected == grids["households"].to_numpy()).all()


def test_a_refused_row_edit_leaves_bytes_unchanged(nanjing_store):
    path = nanjing_store.path
    before = _digest(path)
    grids = nanjing_store.read("grids")
    twice = pd.concat([grids.iloc[[0]], grids.iloc[[0]]])
    with pytest.raises(PlannerError, match="not unique"):
        nanjing_store.write_many({}, rows={"grids": twice})
    pointed = grids.iloc[[0]].copy()
    pointed.geometry = [shapely.Point(118.78, 32.04)]
    with pytest.raises(PlannerError, match="geometry must be Polygon"):
        nanjing_store.write_many({}, rows={"grids": pointed})
    nameless = grids.iloc[[0]].copy()
    nameless["grid_code"] = " "
    with pytest.raises(PlannerError, match="'grid_code'"):
        nanjing_store.write_many({}, rows={"grids": nameless}, log=[{"action": "edit"}])
    assert _digest(path) == before


def _count_updates(path) -> None:
    """Triggers (another program's, as a GeoPackage may hold) that count row updates."""
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("CREATE TABLE updates (kind TEXT)")
        con.execute(
            "CREATE TRIGGER count_rows AFTER UPDATE ON buildings "
            "BEGIN INSERT INTO updates VALUES ('row'); END"
        )
        con.execute(
            "CREATE TRIGGER count_shapes AFTER UPDATE OF geom ON buildings "
            "BEGIN INSERT INTO updates VALUES ('shape'); END"
        )


def _updates(path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return dict(con.execute("SELECT kind, count(*) FROM updates GROUP BY kind").fetchall())


def test_a_row_edit_writes_only_the_rows_and_values_that_changed(nanjing_store):
    path = nanjing_store.path
    _count_updates(path)
    store = Store(path)
    buildings = store.read("buildings").iloc[:4].copy()
    buildings["address"] = ["一号", *buildings["address"].iloc[1:]]
    store.write_many({}, rows={"buildings": buildings})
    assert _updates(path) == {"row": 1}  # three rows as they were are not written
    moved = Store(path).read("buildings", where=f"building_id = '{buildings.iloc[1, 0]}'")
    moved.geometry = moved.geometry.translate(0.0001, 0)
    Store(path).write_many({}, rows={"buildings": moved})
    assert _updates(path) == {"row": 2, "shape": 1}
    after = Store(path).read("buildings").set_index("building_id")
    assert after.loc[buildings.iloc[0, 0], "address"] == "一号"
    assert after.loc[moved.iloc[0, 0]].geometry.equals_exact(moved.geometry.iloc[0], 1e-9)


def test_a_row_edit_after_another_program_changed_the_tables(nanjing_store):
    path = nanjing_store.path
    buildings = nanjing_store.read("buildings").iloc[:2].copy()
    nanjing_store.write_many({}, rows={"buildings": buildings})  # the tables, learnt
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("ALTER TABLE buildings RENAME COLUMN address TO old_address")
    buildings["address"] = ["二号", "三号"]
    store = Store(path)
    store.write_many({}, rows={"buildings": buildings})  # the field is added again
    after = Store(path).read("buildings", columns=["building_id", "address", "old_address"])
    assert after.set_index("building_id").loc[buildings["building_id"], "address"].tolist() == [
        "二号",
        "三号",
    ]


def test_the_layer_extent_grows_with_rows_beyond_it(nanjing_store):
    path = nanjing_store.path

    def extent() -> tuple[float, ...]:
        with contextlib.closing(sqlite3.connect(path)) as con:
            query = "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?"
            return con.execute(query, ("grids",)).fetchone()

    before = extent()
    grids = nanjing_store.read("grids")
    Store(path).write_many({}, rows={"grids": grids.iloc[[0]].assign(name="同一处")})
    assert extent() == before
    far = grids.iloc[[1]].copy()
    far["grid_code"] = "FAR-1"
    far.geometry = far.geometry.translate(before[2] - before[0], 0)
    Store(path).write_many({}, rows={"grids": far})
    grown = extent()
    assert grown[:2] == before[:2] and grown[3] == before[3]
    assert grown[2] == pytest.approx(far.total_bounds[2])


def test_leftovers_of_a_killed_writer_go_on_the_next_open(nanjing_store):
    """Staging files, a journal that is not hot, an old super-journal: removed, store kept."""
    path = nanjing_store.path
    before = _digest(path)
    leftovers = [
        path.with_name(".nanjing.abc123.gpkg"),
        path.with_name(".nanjing.abc123.gpkg-journal"),
        path.with_name("nanjing.gpkg-journal"),  # killed before its first record
        path.with_name("nanjing.gpkg-mj1A2B3C4D"),
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"")
    Store(path)
    assert sorted(p.name for p in path.parent.iterdir()) in (
        ["nanjing.gpkg"],
        ["nanjing.gpkg", "nanjing.gpkg.lock"],
    )
    assert _digest(path) == before


def test_a_journal_of_another_programs_transaction_is_left_alone(nanjing_store):
    """GDAL or QGIS writing the store holds SQLite's write lock: its journal is not a leftover."""
    path = nanjing_store.path
    journal = path.with_name(path.name + "-journal")
    with sqlite3.connect(path, isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE planner_metadata SET value = value")
        journal.write_bytes(b"")  # where that transaction's journal would be
        Store(path)
        assert journal.exists()
        other.execute("ROLLBACK")
    journal.unlink()


def test_an_older_store_is_migrated_after_a_backup(nanjing_store):
    path = nanjing_store.path
    with sqlite3.connect(path) as con:
        con.execute("UPDATE planner_metadata SET value = '\"1.0\"' WHERE key = 'schema_version'")
    with pytest.warns(UserWarning, match="migrated from schema 1.0"):
        store = Store(path)
    assert store.metadata["schema_version"] == Store(path).metadata["schema_version"] == "1.1"
    backup = path.with_name(f"{path.stem}.schema-1.0.gpkg")
    with sqlite3.connect(backup) as con:
        (kept,) = con.execute(
            "SELECT value FROM planner_metadata WHERE key = 'schema_version'"
        ).fetchone()
    assert kept == '"1.0"'  # the backup is the store as it was


def test_a_newer_store_is_refused(nanjing_store):
    with sqlite3.connect(nanjing_store.path) as con:
        con.execute("UPDATE planner_metadata SET value = '\"9.0\"' WHERE key = 'schema_version'")
    with pytest.raises(PlannerError, match="newer than this planner"):
        Store(nanjing_store.path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _saving(folder) -> bool:
    """A save is under way: a staging GeoPackage or the store's journal is on disk."""
    return any(n.startswith(".s.") or n.startswith("s.gpkg-") for n in os.listdir(folder))


def _quietly(fn, *args, **kwargs) -> None:
    """Call ``fn``; the server may be killed under it."""
    with contextlib.suppress(Exception):
        fn(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(RACE_ROUNDS))
def test_server_killed_mid_save_leaves_a_committed_store(nanjing_path, tmp_path, round_):
    """kill -9 of `planner serve` while a web job saves: the store opens as before or after.

    The job (the grids step, started through the API) computes for a while and then
    saves; the server is killed a random moment after the save begins, so rounds land
    inside the save's transaction, during its staging, or just after it.
    """
    path = tmp_path / "s.gpkg"
    shutil.copyfile(nanjing_path, path)
    accounts.add_user(path, "planner", "planner", "test-password-1")
    token = accounts.make_token(path, "planner")
    before = _digest(path)
    versions = Store(path).layer_versions()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "serve", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}/" in server.stdout.readline()
        url = f"http://127.0.0.1:{port}/api/analysis/make_grids_step"
        request = urllib.request.Request(
            url, method="POST", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            assert r.status == 202
            job = json.loads(r.read())["id"]
        base = f"http://127.0.0.1:{port}/api/jobs/{job}"
        auth = {"Authorization": f"Bearer {token}"}
        # The job proposes the plan; accepting it is the save to interrupt.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with urllib.request.urlopen(urllib.request.Request(base, headers=auth)) as r:
                if json.loads(r.read()).get("pending"):
                    break
            time.sleep(0.2)
        accept = urllib.request.Request(base + "/accept", method="POST", headers=auth)
        threading.Thread(
            target=_quietly,
            args=(urllib.request.urlopen, accept),
            kwargs={"timeout": 600},
            daemon=True,
        ).start()
        saw = _saving(tmp_path)
        while not saw and time.monotonic() < deadline:
            time.sleep(0.002)
            saw = _saving(tmp_path)
        # What the loop saw counts: a quick save may be over by the next look.
        assert saw, "the job never saved"
        time.sleep(random.Random(round_).uniform(0.0, 1.5))
    finally:
        server.kill()
        server.wait()
    # Beside the store for good: its lock file, and the served layer list (planner serve).
    kept = {"s.gpkg", "s.gpkg.lock", "s.gpkg.catalog.json"}
    mid_save = sorted(n for n in os.listdir(tmp_path) if n not in kept)
    store = Store(path)  # the next open: rolls back a save cut short, removes its files
    after = store.layer_versions()
    grids = store.read("grids")
    history = store.read("plan_versions")
    if after == versions:
        assert _digest(path) == before  # nothing committed: the file as it was
    else:
        # A committed save is in the change log (a plan identical to the one stored, as
        # the demo's grids drawn again are, changes blocks and buildings, no plan version).
        assert after["change_log"] > versions.get("change_log", 0)
    # The plan version on record is the last one in the history, with its grids.
    plan_version = store.metadata.get("plan_version", 0)
    assert plan_version == int(history["plan_version"].max())
    last = history.set_index("plan_version").loc[plan_version]
    assert len(grids) == last["grids"]
    assert int(grids["households"].sum()) == last["households"]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert "s.gpkg" in os.listdir(tmp_path)
    assert set(os.listdir(tmp_path)) <= kept
    print(
        f"round {round_}: killed {'mid-save ' + str(mid_save) if mid_save else 'after the save'}"
        f", store at the {'old' if after == versions else 'new'} version"
    )
