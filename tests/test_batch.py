"""`planner batch`: many areas on dask.distributed give what each area gives alone.

The shared Chinese extracts with buildings (the smallest ``PLANNER_BATCH_EXTRACTS`` of
them, 1 by default; 3 for all) and two communities cut from the Nanjing extract by a
boundary file run through the whole pipeline: each alone in this process, then as one
batch on a local cluster of two worker processes, then on a ``dask scheduler`` and a
``dask worker`` started here as separate processes. Every figure of every area must be
the same in the three runs; a broken input file fails alone, and a second run skips
the finished areas and redoes one whose run was cut short.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from planner import config, topology
from planner.batch import (
    SUMMARY_FIELDS,
    SUMMARY_FIELDS_ZH,
    Area,
    areas_from,
    finished_row,
    run_area,
    run_batch,
)
from planner.cli import run
from planner.errors import PlannerError
from planner.settings import settings
from planner.store import Store

OSM_DIR = config.DATA_DIR / "osm"
NANJING = OSM_DIR / "nanjing_xinjiekou.osm"

#: The shared extracts with buildings, smallest first.
EXTRACTS = ["guixi_jiangxi.osm", "beijing_tsinghua.osm", "nanjing_xinjiekou.osm"]
EXTRACT_COUNT = int(os.environ.get("PLANNER_BATCH_EXTRACTS", "1"))

#: What must not depend on where an area ran.
FIGURES = [f for f in SUMMARY_FIELDS if f not in ("seconds", "cpu_seconds", "status")]


@pytest.fixture(scope="module")
def rules():
    """The rules of every run here: a partition time limit no load on the machine reaches.

    The partition stops improving at its time limit, so on a busy machine one run could
    stop earlier than another; with room to finish, the plan depends on the data only.
    """
    rules = copy.deepcopy(settings)
    rules.grid.partition_time_limit = 600.0
    return rules


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The batch's inputs: extracts, a boundary file of two communities, a broken file."""
    folder = tmp_path_factory.mktemp("batch-inputs")
    communities = gpd.GeoDataFrame(
        {"名称": ["新街口甲社区", "新街口乙社区"], "社区代码": ["320102011", "320102012"]},
        geometry=[
            shapely.box(118.7681, 32.0464, 118.7796, 32.0522),
            shapely.box(118.7796, 32.0464, 118.7910, 32.0522),
        ],
        crs="EPSG:4326",
    )
    communities.to_file(folder / "communities.geojson")
    broken = folder / "broken.osm"
    broken.write_text("<osm version='0.6'><node id='1' lat=", encoding="utf-8")
    return {
        "extracts": [OSM_DIR / name for name in EXTRACTS[:EXTRACT_COUNT]],
        "communities": folder / "communities.geojson",
        "broken": broken,
    }


def _paths(inputs) -> list[Path]:
    return [*inputs["extracts"], inputs["communities"], inputs["broken"]]


@pytest.fixture(scope="module")
def alone_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("batch-alone")


@pytest.fixture(scope="module")
def alone(inputs, rules, alone_out) -> dict[str, dict]:
    """Each good area run by itself in this process, no Dask: area → summary row."""
    out = alone_out
    areas = areas_from([*inputs["extracts"], inputs["communities"]], osm=NANJING)
    return {a.area: run_area(a, out, rules=rules) for a in areas}


@pytest.fixture(scope="module")
def local_batch(inputs, rules, tmp_path_factory) -> tuple[Path, dict, list[str]]:
    """One batch of every input on a local cluster of two workers, with its progress."""
    out = tmp_path_factory.mktemp("batch-local")
    seen: list[str] = []
    report = run_batch(
        _paths(inputs), out, osm=NANJING, workers=2, rules=rules, progress=seen.append
    )
    return out, report, seen


def _figures(row: dict) -> dict:
    return {f: row[f] for f in FIGURES}


def _good(report: dict) -> dict[str, dict]:
    return {r["area"]: r for r in report["areas"] if r["area"] != "broken"}


@pytest.mark.slow
def test_alone_every_area_is_planned(alone, alone_out):
    assert len(alone) == EXTRACT_COUNT + 2
    for area, row in alone.items():
        assert row["status"] == "done", row
        assert row["households"] > 0 and row["grids"] > 0, row
        # Every grid is in range or flagged with its reason.
        assert row["in_range"] + row["flagged"] == row["grids"], row
        assert 0 < row["boundary_on_features"] <= 1, row
        assert 0 < row["coverage_share"] <= 1, row
        assert row["stations"] >= 1 and row["staff"] >= row["grids"] * 2, row
        assert row["notes"] == "", (area, row["notes"])
    # The figures are the store's own, as `planner info` and `planner check` give them.
    for row in alone.values():
        store = Store(alone_out / row["store"])
        assert store.summary()["households"]["total"] == row["households"]
        assert store.count("grids") == row["grids"]
        totals = topology.check(store).totals()
        assert totals["defects"] == 0 and totals["flagged"] == row["flagged"]
        assert totals["boundary_on_features"] == row["boundary_on_features"]
        buildings = store.read("buildings")
        covered = buildings.loc[buildings["covered"].fillna(False).astype(bool), "households"]
        assert round(covered.sum() / buildings["households"].sum(), 4) == row["coverage_share"]
    names = {row["name"] for row in alone.values()}
    assert {"新街口甲社区", "新街口乙社区", "江西贵溪"} <= names
    codes = {row["area"]: row["code"] for row in alone.values()}
    assert codes["communities-新街口甲社区"] == "320102011"


@pytest.mark.slow
def test_local_cluster_gives_what_each_area_gives_alone(local_batch, alone):
    _, report, _ = local_batch
    assert report["workers"] == 2 and report["scheduler"] is None
    good = _good(report)
    assert set(good) == set(alone)
    for area, row in good.items():
        assert row["status"] == "done", row
        assert _figures(row) == _figures(alone[area]), area


@pytest.mark.slow
def test_a_broken_file_fails_alone(local_batch):
    _, report, seen = local_batch
    broken = [r for r in report["areas"] if r["area"] == "broken"]
    assert len(broken) == 1
    assert broken[0]["status"] == "failed"
    assert "broken.osm" in broken[0]["error"] and "OpenStreetMap" in broken[0]["error"]
    assert broken[0]["households"] is None and broken[0]["store"] is None
    assert report["counts"] == {"done": EXTRACT_COUNT + 2, "skipped": 0, "failed": 1}
    # Progress: one call per task, as each completed.
    assert sorted(seen) == sorted(f"{r['area']}: {r['status']}" for r in report["areas"])


@pytest.mark.slow
def test_summary_files_list_every_area_in_order(local_batch, inputs):
    out, report, _ = local_batch
    raw = (out / "summary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "no BOM: Excel would garble the Chinese"
    with open(out / "summary.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [SUMMARY_FIELDS_ZH[f] for f in SUMMARY_FIELDS]
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [r["area"] for r in saved["areas"]] == [r["area"] for r in report["areas"]]
    assert [r["区域"] for r in rows] == [r["area"] for r in report["areas"]]
    expected = ["guixi_jiangxi", "beijing_tsinghua", "nanjing_xinjiekou"][:EXTRACT_COUNT]
    expected += ["communities-新街口甲社区", "communities-新街口乙社区", "broken"]
    assert [r["area"] for r in report["areas"]] == expected
    for csv_row, row in zip(rows, saved["areas"], strict=True):
        assert csv_row["户数"] == ("" if row["households"] is None else str(row["households"]))
        assert csv_row["状态"] == row["status"]
    for row in report["areas"]:
        if row["status"] == "done":
            assert (out / row["store"]).exists()
            assert (out / f"{row['area']}.summary.json").exists()


@pytest.mark.slow
def test_a_second_run_skips_finished_areas_and_redoes_a_cut_short_one(local_batch, inputs, rules):
    out, first, _ = local_batch
    cut_short = "communities-新街口乙社区"
    # A run killed after the store was moved in but before its summary was written.
    (out / f"{cut_short}.summary.json").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.gpkg")}
    report = run_batch(_paths(inputs), out, osm=NANJING, workers=1, rules=rules)
    statuses = {r["area"]: r["status"] for r in report["areas"]}
    assert statuses.pop(cut_short) == "done"
    assert statuses.pop("broken") == "failed"
    assert set(statuses.values()) == {"skipped"}
    before, after = _good(first), _good(report)
    for area in after:
        assert _figures(after[area]) == _figures(before[area]), area
        if area != cut_short:
            assert (out / f"{area}.gpkg").stat().st_mtime_ns == stamps[f"{area}.gpkg"]
    # Everything finished: nothing to run, no cluster started.
    again = run_batch(_paths(inputs)[:-1], out, osm=NANJING, rules=rules)
    assert again["workers"] == 0
    assert {r["status"] for r in again["areas"]} == {"skipped"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The `dask` command of this environment (installed with dask).
DASK = Path(sys.executable).with_name("dask")


@pytest.fixture
def scheduler(tmp_path):
    """`dask scheduler` and `dask worker` (one thread), separate processes on 127.0.0.1."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    # Their HTTP servers on free ports: the default 8787 may be taken on a shared machine.
    commands = {
        "scheduler": ["scheduler", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--no-show"],
        "worker": ["worker", address, "--nthreads", "1", "--nworkers", "1"]
        + ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"],
    }
    processes: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "w") as log:
            process = subprocess.Popen(
                [str(DASK), *commands[name]], cwd=tmp_path, stdout=log, stderr=log
            )
        processes.append(process)
        return process

    try:
        first = start("scheduler")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert first.poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)
        start("worker")
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.slow
def test_scheduler_and_worker_processes_give_what_each_area_gives_alone(
    scheduler, inputs, alone, rules, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    # The CLI runs under the rules in force; the test's rules are put in force here and
    # reach the worker process with each task.
    monkeypatch.setattr(settings, "grid", rules.grid)
    argv = ["batch", *map(str, _paths(inputs)), "--out", str(out), "--osm", str(NANJING)]
    status = run([*argv, "--scheduler", scheduler, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1, "an area failed: exit status 1"
    assert report["scheduler"] == scheduler and report["workers"] == 1
    good = _good(report)
    assert set(good) == set(alone)
    for area, row in good.items():
        assert row["status"] == "done", row
        assert _figures(row) == _figures(alone[area]), area
    assert report["counts"]["failed"] == 1
    # The worker process wrote the stores: they are where the summary says.
    assert all((out / row["store"]).exists() for row in good.values())


def test_areas_from_names_codes_and_ids(tmp_path):
    frame = gpd.GeoDataFrame(
        {"社区名称": ["华侨路社区", "华侨路社区", None], "other": [1, 2, 3]},
        geometry=[
            shapely.box(118.77, 32.04, 118.78, 32.05),
            shapely.box(118.78, 32.04, 118.79, 32.05),
            shapely.box(118.79, 32.04, 118.80, 32.05),
        ],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "street.gpkg")
    areas = areas_from([OSM_DIR / "guixi_jiangxi.osm", tmp_path / "street.gpkg"], osm=NANJING)
    assert [a.area for a in areas] == [
        "guixi_jiangxi",
        "street-华侨路社区",
        "street-华侨路社区-2",
        "street-3",
    ]
    assert areas[0].name == "江西贵溪" and areas[0].code == "360681001"
    assert areas[0].boundary is None and areas[0].osm.is_absolute()
    assert [a.name for a in areas[1:]] == ["华侨路社区", "华侨路社区", "street 3"]
    assert [a.code for a in areas[1:]] == ["C001", "C002", "C003"]
    assert all(a.osm == NANJING.resolve() and a.boundary is not None for a in areas[1:])
    assert all(not a.error for a in areas)
    named = areas_from([tmp_path / "street.gpkg"], osm=NANJING, name_field="other")
    assert [a.name for a in named] == ["1", "2", "3"]
    missing = areas_from([tmp_path / "street.gpkg"], osm=NANJING, name_field="名字")
    assert len(missing) == 1 and "name_field" in missing[0].error


def test_inputs_that_cannot_run_are_failed_rows_without_a_cluster(tmp_path):
    table = tmp_path / "communities.geojson"
    table.write_text("{not json", encoding="utf-8")
    areas = areas_from([table])
    assert "not an OSM file" in areas[0].error and "`osm`" in areas[0].error
    report = run_batch([table, tmp_path / "no_such.geojson"], tmp_path / "out", osm=NANJING)
    assert [r["status"] for r in report["areas"]] == ["failed", "failed"]
    assert "cannot read as a GIS file" in report["areas"][0]["error"]
    assert "file not found" in report["areas"][1]["error"]
    assert report["workers"] == 0
    with pytest.raises(PlannerError, match="not both"):
        run_batch([table], tmp_path / "out", workers=2, scheduler="tcp://127.0.0.1:1")
    assert (tmp_path / "out" / "summary.csv").exists()


def test_a_finished_area_is_kept_only_while_its_inputs_and_rules_match(tmp_path, rules):
    area = Area(area="a", osm=NANJING.resolve(), name="甲", code="C001", source="x")
    out = tmp_path
    (out / "a.gpkg").write_bytes(b"")
    row = dict.fromkeys(SUMMARY_FIELDS) | {"area": "a", "status": "done", "grids": 3}
    marker = {"row": row, "fingerprint": area.fingerprint(rules)}
    (out / "a.summary.json").write_text(json.dumps(marker), encoding="utf-8")
    assert finished_row(area, out, rules=rules)["grids"] == 3
    other = copy.deepcopy(rules)
    other.grid.max_households = 450
    assert finished_row(area, out, rules=other) is None
    renamed = Area(area="a", osm=NANJING.resolve(), name="乙", code="C001", source="x")
    assert finished_row(renamed, out, rules=rules) is None
    (out / "a.gpkg").unlink()
    assert finished_row(area, out, rules=rules) is None


@pytest.mark.slow  # waits out the connection timeout
def test_the_command_refuses_a_scheduler_nobody_answers(tmp_path, capsys):
    port = _free_port()
    status = run(
        [
            "batch",
            str(OSM_DIR / "guixi_jiangxi.osm"),
            "--out",
            str(tmp_path / "out"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "cannot be reached" in err
