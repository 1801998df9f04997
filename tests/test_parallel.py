"""Work on Dask workers (planner/parallel.py): the grid step's areas drawn in parallel
give the plan drawn one area after another."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import cloudpickle
import pytest
import shapely
from test_communities import CORNER, _tiles

from planner import config
from planner.errors import InputError
from planner.grids import make_grids
from planner.parallel import auto_workers, check_workers, in_dask_worker, map_in_order
from planner.pipeline import import_osm
from planner.settings import settings
from planner.store import Store


@pytest.fixture(scope="module")
def four_tiles(tmp_path_factory):
    """A store of four communities (the tiled corner of Nanjing), no grids yet."""
    tiles = _tiles()
    folder = tmp_path_factory.mktemp("parallel")
    extract = tiles.clip_extract(config.DATA_DIR / "osm" / "nanjing_xinjiekou.osm", CORNER)
    tiles.write_tiled(extract, 2, folder / "city2.osm")
    tiles.write_communities(CORNER, 2, folder / "city2.geojson")
    path = folder / "four.gpkg"
    import_osm(folder / "city2.osm", path, boundary_file=folder / "city2.geojson")
    return path


def _grids(path):
    return Store(path).read("grids").sort_values("grid_code").reset_index(drop=True)


def test_areas_drawn_on_two_workers_give_the_same_plan(four_tiles, tmp_path, monkeypatch):
    alone, spread = tmp_path / "alone.gpkg", tmp_path / "spread.gpkg"
    shutil.copyfile(four_tiles, alone)
    shutil.copyfile(four_tiles, spread)
    make_grids(Store(alone), workers=1)
    # The default: a store above the threshold gets a worker per CPU (two here at least)
    # where worker processes may start unasked (as in the planner command).
    monkeypatch.setattr("planner.parallel._guarded_main", True)
    monkeypatch.setattr(settings.grid, "parallel_buildings", 10)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    steps = []
    report = make_grids(Store(spread), progress=steps.append)
    assert "4 areas on 2 worker processes" in steps
    one, two = _grids(alone), _grids(spread)
    assert report["grids"] == len(one) > 4
    assert list(two["grid_code"]) == list(one["grid_code"])
    assert list(two["households"]) == list(one["households"])
    assert shapely.equals_exact(two.geometry.to_numpy(), one.geometry.to_numpy(), 1e-9).all()
    a = Store(alone).read("buildings").set_index("building_id")["grid_code"]
    b = Store(spread).read("buildings").set_index("building_id")["grid_code"]
    assert b.loc[a.index].equals(a)


def test_rules_in_force_reach_the_workers(monkeypatch):
    """A rule changed here is the rule a worker computes with."""
    # The workers cannot import this test module: its functions travel by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(settings.grid, "min_households", 123)
    results = list(map_in_order(_min_households, [(i,) for i in range(3)], workers=2))
    assert results == [123, 124, 125]


def test_a_task_on_a_worker_draws_its_areas_itself():
    # planner batch runs each area as a task: its grid step must not start a cluster.
    assert not in_dask_worker()
    assert list(map_in_order(in_dask_worker, [()], workers=2)) == [True]


def _min_households(offset: int) -> int:
    return settings.grid.min_households + offset


def test_worker_counts_are_checked():
    with pytest.raises(InputError, match="at least 1") as error:
        check_workers(0)
    assert error.value.param == "workers"
    with pytest.raises(InputError, match="not both"):
        check_workers(2, "tcp://127.0.0.1:8786")
    assert auto_workers(1) == 1
    assert auto_workers(5, 3) == 3


def _run_script(folder, text: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``text`` as a Python script file (as an analyst runs one) in a new process."""
    script = folder / "analysis.py"
    script.write_text(textwrap.dedent(text), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
        env=env,
    )


def test_processes_start_unasked_only_where_a_script_cannot_run_again(tmp_path):
    # A worker process imports the main script again: one whose engine call is at its top
    # level would run again in every worker, so there the engine draws in one process.
    check = "from planner import parallel\nprint(parallel.may_start_processes())\n"
    assert _run_script(tmp_path, check).stdout.strip() == "False"
    said = check.replace("\nprint", "\nparallel.main_is_guarded()\nprint")
    assert _run_script(tmp_path, said).stdout.strip() == "True"  # as the planner command
    interactive = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert interactive.stdout.strip() == "True"  # a notebook or a session: no main script


def test_a_script_without_the_guard_draws_its_areas_itself(four_tiles, tmp_path):
    store = tmp_path / "four.gpkg"
    shutil.copyfile(four_tiles, store)
    done = _run_script(
        tmp_path,
        """
        import sys
        from planner.grids import make_grids
        from planner.settings import settings
        from planner.store import Store

        settings.grid.parallel_buildings = 10  # above it, but a script file without a guard
        steps = []
        report = make_grids(Store(sys.argv[1]), progress=steps.append)
        print(report["grids"], any("worker processes" in s for s in steps))
        """,
        str(store),
    )
    assert done.returncode == 0, done.stderr
    grids, on_workers = done.stdout.split()
    assert int(grids) == len(_grids(store)) > 4
    assert on_workers == "False"


def test_a_script_asking_for_workers_without_the_guard_is_told_how(tmp_path):
    done = _run_script(
        tmp_path,
        """
        from planner.parallel import map_in_order

        print(list(map_in_order(abs, [(-1,), (-2,)], workers=2)))
        """,
    )
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr
    assert "PlannerError: worker processes could not start" in done.stderr
