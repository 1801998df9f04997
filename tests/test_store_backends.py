"""The store's behaviour on both backends, a GeoPackage file and a PostGIS schema:
round trips, all-or-nothing writes, versions and the no-lost-update rule."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner.errors import ConflictError, PlannerError
from planner.postgis import StoreURL
from planner.store import Store, StoreMigrated, copy_store, store_stamp


def _content(store: Store) -> str:
    """A digest of everything a store holds: a GeoPackage's bytes (a refused write leaves
    the file byte-identical), a PostGIS store's metadata and every layer, read afresh."""
    if not isinstance(store.path, StoreURL):
        return hashlib.sha256(store.path.read_bytes()).hexdigest()
    fresh = Store(store.path)
    digest = hashlib.sha256(json.dumps(fresh.metadata, sort_keys=True).encode())
    for name in fresh.layers():
        frame = fresh.read(name)
        if isinstance(frame, gpd.GeoDataFrame):
            frame = frame.to_wkb(hex=True)
        digest.update(name.encode())
        digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


def _assert_sound(store: Store) -> None:
    """A GeoPackage store passes SQLite's integrity check (PostgreSQL keeps its own)."""
    if not isinstance(store.path, StoreURL):
        import sqlite3

        with sqlite3.connect(store.path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _set_metadata(store: Store, key: str, value: object) -> None:
    """Change one metadata value behind the store's back (another program's edit)."""
    text = json.dumps(value)
    if isinstance(store.path, StoreURL):
        from planner.postgis import connection

        with connection(store.path) as con:
            con.execute("UPDATE planner_metadata SET value = %s WHERE key = %s", (text, key))
    else:
        import sqlite3

        with sqlite3.connect(store.path) as con:
            con.execute("UPDATE planner_metadata SET value = ? WHERE key = ?", (text, key))


def test_round_trip_keeps_every_layer(nanjing_any):
    for name in ("buildings", "roads", "compounds", "gates", "candidate_sites", "community"):
        before = nanjing_any.read(name)
        nanjing_any.write(name, before)
        after = Store(nanjing_any.path).read(name)
        assert len(after) == len(before) > 0
        assert list(after.columns) == list(before.columns)
        assert after.geometry.geom_equals_exact(before.geometry, tolerance=1e-9).all()
        pd.testing.assert_frame_equal(
            pd.DataFrame(after.drop(columns="geometry")),
            pd.DataFrame(before.drop(columns="geometry")),
        )


def test_tables_and_chinese_text_survive(nanjing_any):
    buildings = nanjing_any.read("buildings")
    buildings.loc[0, "name"] = "凯润金城6栋（东）"
    nanjing_any.write("buildings", buildings)
    store = Store(nanjing_any.path)
    assert store.read("buildings").loc[0, "name"] == "凯润金城6栋（东）"
    assert store.name == "南京新街口"
    assert store.metadata["metric_crs"] == "EPSG:4549"
    log = store.read("change_log")
    assert isinstance(log, pd.DataFrame) and not isinstance(log, gpd.GeoDataFrame) and len(log)


def test_reads_by_box_where_and_columns(nanjing_any):
    grids = nanjing_any.read("grids")
    west, south, east, north = grids.geometry.iloc[0].bounds
    boxed = nanjing_any.read("grids", bbox=(west, south, east, north))
    assert grids["grid_code"].iloc[0] in set(boxed["grid_code"]) and len(boxed) < len(grids)
    code = grids["grid_code"].iloc[3]
    one = nanjing_any.read("grids", where=f"grid_code = '{code}'")
    assert list(one["grid_code"]) == [code]
    named = nanjing_any.read("buildings", columns=["households"])
    assert named["households"].sum() == nanjing_any.read("buildings")["households"].sum()


def test_a_refused_write_changes_nothing(nanjing_any):
    before = _content(nanjing_any)
    buildings = nanjing_any.read("buildings")
    duplicated = buildings.copy()
    duplicated.loc[1, "building_id"] = duplicated.loc[0, "building_id"]
    with pytest.raises(PlannerError, match="not unique"):
        nanjing_any.write("buildings", duplicated)
    wrong_type = buildings.copy()
    wrong_type.loc[2, "geometry"] = shapely.Point(118.78, 32.04)
    with pytest.raises(PlannerError, match="geometry must be Polygon"):
        nanjing_any.write("buildings", wrong_type)
    grids = nanjing_any.read("grids")
    twice = pd.concat([grids.iloc[[0]], grids.iloc[[0]]])
    with pytest.raises(PlannerError, match="not unique"):
        nanjing_any.write_many({}, rows={"grids": twice})
    assert _content(nanjing_any) == before


def test_a_write_failing_mid_commit_changes_nothing(nanjing_any, backend, monkeypatch):
    """The second layer of a write fails after the first went in: all is rolled back."""
    import planner.postgis
    import planner.store

    module, name = {
        "gpkg": (planner.store, "_write_frame"),
        "postgis": (planner.postgis, "_write_table"),
    }[backend]
    real = getattr(module, name)
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real(*args)

    before = _content(nanjing_any)
    versions = nanjing_any.layer_versions()
    monkeypatch.setattr(module, name, failing)
    roads = nanjing_any.read("roads").iloc[:10]
    gates = nanjing_any.read("gates").iloc[:2]
    with pytest.raises(OSError, match="simulated"):
        nanjing_any.write_many(
            {"roads": roads, "gates": gates}, log=[{"layer": "roads", "action": "edit"}]
        )
    monkeypatch.undo()
    assert len(calls) == 2
    assert Store(nanjing_any.path).layer_versions() == versions
    assert _content(nanjing_any) == before
    nanjing_any.write_many({"roads": roads})  # the store takes the next write
    assert len(Store(nanjing_any.path).read("roads")) == 10


def test_other_crs_is_converted(nanjing_any):
    gates = nanjing_any.read("gates")
    nanjing_any.write("gates", gates.to_crs(nanjing_any.metric_crs))
    back = Store(nanjing_any.path).read("gates")
    assert back.crs.equals("EPSG:4326")
    assert shapely.equals_exact(back.geometry.to_numpy(), gates.geometry.to_numpy(), 1e-7).all()


def test_a_write_on_stale_inputs_is_refused(nanjing_any):
    """Two objects on one store: the one whose inputs changed since it read them writes nothing."""
    first, second = nanjing_any, Store(nanjing_any.path)
    buildings = first.read("buildings")
    gates = second.read("gates")
    second.write("buildings", second.read("buildings"))  # another change lands
    before = _content(first)
    with pytest.raises(ConflictError, match="another change landed") as refused:
        first.write("gates", gates)
    assert refused.value.layers == ["buildings"]
    assert _content(first) == before
    first.read("buildings")  # a re-read alone does not make it current
    with pytest.raises(ConflictError):
        first.write("gates", gates)
    first.refresh().read("buildings")
    first.write("buildings", buildings, log=[{"layer": "buildings", "action": "edit"}])
    with pytest.raises(ConflictError):
        second.write("gates", gates)
    first.write("gates", gates)  # its own writes moved the versions it knows


def test_stale_metadata_is_refused(nanjing_any):
    other = Store(nanjing_any.path)
    other.write_many({}, metadata={"basemap_key": "a"})
    with pytest.raises(ConflictError) as refused:
        nanjing_any.write_many({}, metadata={"basemap_key": "b"})
    assert refused.value.layers == ["planner_metadata"]
    assert Store(nanjing_any.path).metadata["basemap_key"] == "a"


def test_threads_writing_one_store_each_land(nanjing_any):
    path = nanjing_any.path
    before = len(nanjing_any.read("change_log"))
    errors = []

    def write(n: int) -> None:
        try:
            for i in range(3):
                Store(path).write_many(
                    {}, log=[{"layer": "gates", "action": "edit", "reason": f"线程{n}-{i}"}]
                )
        except Exception as exc:  # noqa: BLE001  reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    log = Store(path).read("change_log").iloc[before:]
    assert sorted(log["reason"]) == sorted(f"线程{n}-{i}" for n in range(4) for i in range(3))
    _assert_sound(Store(path))


#: Two processes read the gates, wait for each other, then both write them.
_RACER = textwrap.dedent(
    """
    import os, sys, time
    from planner.errors import ConflictError
    from planner.store import Store

    location, me, folder, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    if location.endswith(".gpkg"):
        from pathlib import Path
        location = Path(location)
    store = Store(location)
    gates = store.read("gates") if mode == "edit" else None
    open(os.path.join(folder, "ready-" + me), "w").close()
    while len([n for n in os.listdir(folder) if n.startswith("ready-")]) < 2:
        time.sleep(0.01)
    log = [{"layer": "gates", "action": "edit", "reason": "writer " + me}]
    try:
        if mode == "edit":
            store.write("gates", gates, log=log)
        else:
            store.write_many({}, log=log)
    except ConflictError:
        sys.exit(3)
    """
)


@pytest.mark.parametrize("mode", ["edit", "append"])
def test_writers_in_two_processes_never_lose_an_update(nanjing_any, tmp_path, mode):
    """Both read, then both write: one is refused (an edit of what both read) or they
    take turns (appends to the change log), never a silent overwrite."""
    before = len(nanjing_any.read("change_log"))
    versions = nanjing_any.layer_versions()
    folder = tmp_path / f"race-{mode}"
    folder.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(nanjing_any.path), str(n), str(folder), mode],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in (1, 2)
    ]
    status = [w.wait(timeout=300) for w in writers]
    errors = [w.stderr.read() for w in writers]
    log = Store(nanjing_any.path).read("change_log").iloc[before:]
    after = Store(nanjing_any.path).layer_versions()
    if mode == "edit":
        assert sorted(status) == [0, 3], errors
        winner = str(status.index(0) + 1)
        assert list(log["reason"]) == [f"writer {winner}"]
        assert after["gates"] == versions["gates"] + 1
    else:
        assert status == [0, 0], errors
        assert sorted(log["reason"]) == ["writer 1", "writer 2"]
        assert after["change_log"] == versions["change_log"] + 2


def test_row_edits_change_only_those_rows(nanjing_any):
    grids = nanjing_any.read("grids")
    edited = grids.iloc[[0]].copy()
    edited["name"] = "第一网格（改）"
    added = grids.iloc[[1]].copy()
    added["grid_code"] = "NEW001"
    added.geometry = added.geometry.translate(0.05, 0.05)  # outside the old extent
    gone = grids["grid_code"].iloc[2]
    version = nanjing_any.metadata.get("plan_version", 0)
    buildings_version = nanjing_any.layer_versions()["buildings"]
    nanjing_any.write_many(
        {},
        rows={"grids": pd.concat([edited, added])},
        deleted={"grids": [gone]},
        log=[{"layer": "grids", "action": "edit", "reason": "改名"}],
    )
    store = Store(nanjing_any.path)
    after = store.read("grids").set_index("grid_code")
    assert len(after) == len(grids) and gone not in after.index
    assert after.loc[grids["grid_code"].iloc[0], "name"] == "第一网格（改）"
    west, south, east, north = added.total_bounds
    assert list(store.read("grids", bbox=(west, south, east, north))["grid_code"]) == ["NEW001"]
    assert store.metadata["plan_version"] == version + 1
    assert store.layer_versions()["buildings"] == buildings_version
    last = store.read("plan_versions").set_index("plan_version").loc[version + 1]
    assert last["grids"] == len(after)
    assert last["households"] == after["households"].sum()
    _assert_sound(store)
    if not isinstance(store.path, StoreURL):  # GDAL's cached count follows the edit
        import sqlite3

        with sqlite3.connect(store.path) as con:
            (count,) = con.execute(
                "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'grids'"
            ).fetchone()
        assert count == len(grids)


def test_a_newer_store_is_refused_and_an_older_migrated(nanjing_any):
    _set_metadata(nanjing_any, "schema_version", "9.0")
    with pytest.raises(PlannerError, match="newer than this planner"):
        Store(nanjing_any.path)
    _set_metadata(nanjing_any, "schema_version", "1.0")
    with pytest.warns(StoreMigrated, match="migrated from schema 1.0"):
        store = Store(nanjing_any.path)
    assert Store(store.path).metadata["schema_version"] == "1.1"


def test_a_new_store_and_a_copy_between_backends(backend, request, tmp_path):
    if backend == "gpkg":
        target = tmp_path / "new.gpkg"
    else:
        target = request.getfixturevalue("postgres").url()
    with pytest.raises(PlannerError, match="store not found"):
        Store(target)
    store = Store.create(target, metric_crs="EPSG:4549", name="新社区")
    assert store.layers() == [] and store.read("zones").empty
    with pytest.raises(PlannerError, match="no 'zones' layer"):
        store.read("zones", missing_ok=False)
    with pytest.raises(PlannerError, match="exists"):
        Store.create(target, metric_crs="EPSG:4549")
    source = request.getfixturevalue("nanjing_path")
    stamp = store_stamp(target)
    copy = copy_store(source, target, overwrite=True)
    assert store_stamp(target) != stamp  # a cache keyed by it does not take one for the other
    original = Store(source)
    assert copy.layers() == original.layers()
    assert copy.metadata == original.metadata
    for name in ("buildings", "grids", "plan_history", "change_log"):
        assert len(copy.read(name)) == len(original.read(name))


def test_a_database_url_keeps_its_password_out_of_messages(postgres):
    url = StoreURL("postgresql://planner:s3cret@db.example:5432/city?schema=gulou&sslmode=require")
    assert url.schema == url.stem == "gulou"
    assert "s3cret" not in url.shown and url.shown.startswith("postgresql://planner:***@")
    assert StoreURL("postgresql://u@h/city").stem == "city"
    with pytest.raises(PlannerError, match="schema"):
        StoreURL("postgresql://u@h/city?schema=a;drop").schema  # noqa: B018
    bad = postgres.database_url.replace("@127.0.0.1", ":s3cret@127.0.0.1").replace(
        "planner_test", "no_such_db"
    )
    with pytest.raises(PlannerError, match="cannot connect") as refused:
        Store(bad)
    assert "s3cret" not in str(refused.value)


def test_the_web_map_follows_writes_of_other_processes(nanjing_any, login):
    """The web app's caches (features, accounts) are keyed by the store's stamp: a write
    or a new account from elsewhere shows on the next request, on either backend."""
    from planner import accounts
    from planner_web import create_app

    app = create_app({"STORE": str(nanjing_any.path), "TESTING": True})
    try:
        client = app.test_client()
        login(client, app.config["STORE"])

        def names() -> dict[str, str]:
            features = client.get("/api/layers/grids/features?limit=1000").get_json()
            return {
                f["properties"]["grid_code"]: f["properties"]["name"] for f in features["features"]
            }

        first = names()
        code = sorted(first)[0]
        grids = nanjing_any.read("grids")
        renamed = grids[grids["grid_code"] == code].copy()
        renamed["name"] = "改名网格"
        Store(nanjing_any.path).write_many({}, rows={"grids": renamed})
        assert names()[code] == "改名网格"

        other = app.test_client()
        login(other, app.config["STORE"], role="viewer", name="later")
        assert accounts.get_user(nanjing_any.path, "later").role == "viewer"
        assert other.get("/api/layers/grids/features?limit=1").status_code == 200
        accounts.remove_user(nanjing_any.path, "later")
        assert other.get("/api/layers/grids/features?limit=1").status_code == 401
    finally:
        app.extensions["planner.jobs"].shutdown()


def test_readers_do_not_wait_for_a_write_under_way_on_postgis(request):
    """A layer replaced in a PostGIS write not yet committed: another process reads the
    layer as it was, without waiting (a wait would hit its lock timeout and fail)."""

    store = Store(_pg_store(request))
    gates = store.read("gates")
    reader = (
        "import sys\n"
        "from planner.store import Store\n"
        "print(len(Store(sys.argv[1]).read('gates')))\n"
    )
    env = {**os.environ, "PGOPTIONS": "-c lock_timeout=5000", "PYTHONWARNINGS": "ignore"}
    with store._writing() as txn:
        txn.commit(replace={"gates": gates.iloc[:3]}, rows={}, deleted={}, metadata=store.metadata)
        seen = subprocess.run(
            [sys.executable, "-c", reader, str(store.path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert seen.returncode == 0, seen.stderr
        assert int(seen.stdout) == len(gates)
    assert len(Store(store.path).read("gates")) == 3


def _pg_store(request) -> str:
    """A private PostGIS copy of the Nanjing store (for tests of PostGIS alone)."""
    from conftest import _pg_copy

    return _pg_copy("nanjing_xinjiekou", request)
