"""Benchmark: what a write costs in the store, against copying the whole file.

Before plan versions, every write copied the GeoPackage, wrote the copy and renamed it,
so a one-grid edit cost at least one file copy. Now a write is a SQLite transaction that
moves only what changed. Measured on the demo store and on the demo tiled 3×3 and 9×9
(every spatial layer repeated side by side, keys suffixed), the same run prints:

- ``copy``: copying the file to disk (copy and fsync: the old floor for any write);
- ``floor``: a bare SQLite transaction (change one row, commit) on a connection already
  open, as the store keeps its own: what any all-or-nothing write pays whatever it
  changes — the rollback journal's syncs (journal, the folder, journal header, file);
- ``one grid``: a one-grid edit (the grid's row and its buildings' rows, by key), a new
  :class:`~planner.store.Store` each time as a command or a request makes one, and of it
  the ``cpu`` time (the rest is waiting for the disk: the floor's syncs, the journal);
- ``grids layer``: replacing the whole grids layer;
- the ratio of each to the copy.

Usage::

    python benchmarks/bench_store.py [--store layers/demo.gpkg] [--tiles 1,3,9]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from planner import config, schema
from planner.pipeline import run_demo
from planner.store import Store


def tiled_copy(source: Path, target: Path, n: int) -> Path:
    """A copy of ``source`` with every spatial layer repeated n×n side by side."""
    shutil.copyfile(source, target)
    if n == 1:
        return target
    store = Store(target)
    west, south, east, north = store.read("community").total_bounds
    dx, dy = (east - west) * 1.02, (north - south) * 1.02
    frames = {}
    for name in store.layers():
        layer = schema.get_layer(name)
        if layer.geometry is None or name in ("community", "plan_history"):
            continue
        frame = store.read(name)
        copies = []
        for i in range(n):
            for j in range(n):
                part = frame.copy()
                for f in layer.fields:
                    if f.type == "str" and (f.name == layer.key or f.name.endswith("_code")):
                        part[f.name] = part[f.name].map(
                            lambda v, s=f"-{i}{j}": None if v is None else v + s
                        )
                    elif f.name == layer.key:  # a numeric key: shift each tile's range
                        part[f.name] = part[f.name] + (i * n + j) * (int(frame[f.name].max()) + 1)
                offset = np.array([i * dx, j * dy])
                part.geometry = shapely.transform(part.geometry.to_numpy(), offset.__radd__)
                copies.append(part)
        frames[name] = pd.concat(copies, ignore_index=True)
    store.write_many(frames)
    return target


def timed(func: Callable[[], None], repeat: int, clock=time.perf_counter) -> float:
    """The median time of ``repeat`` calls of ``func`` (seconds)."""
    times = []
    for _ in range(repeat):
        started = clock()
        func()
        times.append(clock() - started)
    return statistics.median(times)


def file_copy(path: Path) -> Callable[[], None]:
    """Copying the store file beside itself, to disk: what every write cost before."""
    target = path.with_suffix(".copy")

    def copy() -> None:
        # A whole-file write must reach the disk before the rename, as a transaction does.
        shutil.copyfile(path, target)
        with open(target, "rb+") as handle:
            os.fsync(handle.fileno())

    return copy


def one_grid_edit(location: str | Path) -> Callable[[], None]:
    """A one-grid save to the store at ``location``: the first grid's row and its
    buildings' rows, by key, with a change-log entry (a new plan version), through a new
    :class:`~planner.store.Store` each time as a command or a request makes one.

    Each call saves a new name (so every save changes something); the edited frames are
    made before, as an editor has them before it saves.
    """
    store = Store(location)
    grids = store.read("grids")
    code = grids["grid_code"].iloc[0]
    one_grid = grids[grids["grid_code"] == code]
    its_buildings = store.read("buildings", where=f"grid_code = '{code}'")
    names = [f"网格 {time.time_ns()}-{n}" for n in range(50)]
    edits = itertools.cycle(
        [(one_grid.assign(name=n), its_buildings.assign(address=n)) for n in names]
    )

    def edit() -> None:
        grid, buildings = next(edits)
        Store(location).write_many(
            {},
            rows={"grids": grid, "buildings": buildings},
            log=[{"layer": "grids", "action": "edit", "reason": "benchmark"}],
        )

    return edit


def bench(path: Path, label: str, repeat: int) -> None:
    store = Store(path)
    grids = store.read("grids")
    size = path.stat().st_size
    held = sqlite3.connect(path, isolation_level=None)
    held.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the schema, parsed once

    def bare_commit() -> None:
        # A value that changes: a transaction that changes nothing writes nothing.
        held.execute("BEGIN IMMEDIATE")
        held.execute(
            "UPDATE planner_metadata SET value = ? WHERE key = 'bench'", (str(time.time_ns()),)
        )
        held.execute("COMMIT")

    def replace_grids() -> None:
        Store(path).write_many({"grids": grids})

    edit_one_grid = one_grid_edit(path)
    t_copy = timed(file_copy(path), repeat)
    with contextlib.closing(held):
        held.execute("INSERT INTO planner_metadata (key, value) VALUES ('bench', '0')")
        t_floor = timed(bare_commit, repeat)
        held.execute("DELETE FROM planner_metadata WHERE key = 'bench'")
    t_edit = timed(edit_one_grid, repeat)
    cpu_edit = timed(edit_one_grid, repeat, clock=time.process_time)
    t_layer = timed(replace_grids, repeat)
    path.with_suffix(".copy").unlink(missing_ok=True)
    print(
        f"{label:<26}{size / 1e6:>8.1f} MB {store.count('buildings'):>8} {len(grids):>6}"
        f"{t_copy * 1000:>9.1f}{t_floor * 1000:>10.1f} ({t_floor / t_copy:>5.1%})"
        f"{t_edit * 1000:>10.1f} ({t_edit / t_copy:>5.1%}){cpu_edit * 1000:>7.1f}"
        f"{t_layer * 1000:>10.1f} ({t_layer / t_copy:>5.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="a built demo store")
    parser.add_argument("--tiles", default="1,3,9", help="tilings to measure (n for n×n)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        source = args.store
        if source is None:
            source = folder / "demo.gpkg"
            run_demo(config.DEFAULT_AREA, store_path=source)
        print(
            f"{'store':<26}{'size':>11} {'bldgs':>8} {'grids':>6}{'copy ms':>9}"
            f"{'floor ms (÷copy)':>18}{'one grid ms (÷copy)':>20}{'cpu ms':>7}"
            f"{'grids layer ms (÷copy)':>23}"
        )
        for n in (int(t) for t in args.tiles.split(",")):
            tiled = tiled_copy(source, folder / f"tiled{n}.gpkg", n)
            bench(tiled, "demo" if n == 1 else f"demo tiled {n}×{n}", args.repeat)
            tiled.unlink()


if __name__ == "__main__":
    main()
