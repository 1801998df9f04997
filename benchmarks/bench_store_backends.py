"""Benchmark: the GeoPackage store against the PostGIS store, same data, same run.

For the demo store and the demo tiled n×n (``bench_store.tiled_copy``: every spatial
layer repeated side by side), on each backend:

- ``read``: the whole buildings layer, a new :class:`~planner.store.Store` each time;
- ``write``: the buildings layer replaced whole (one all-or-nothing write);
- ``one grid``: a one-grid edit (the grid's row and its buildings' rows, by key, with a
  change-log entry and a new plan version), a new Store each time as a command or a
  request makes one;
- ``÷ copy``: the one-grid edit as a share of copying the GeoPackage file (copy and
  fsync: what every write cost before writes went by rows), for both backends.

The copy and the two backends' saves are timed in turns (:func:`saves_and_copies`), so
that what slows the machine for a while (this one is a shared virtual machine) weighs on
all three alike; each figure is the median of its turns' times.

Then the PostGIS ÷ GeoPackage ratio of each. PostgreSQL runs on this machine, over TCP
on 127.0.0.1 (``--url`` for another server; by default a throwaway one is started as the
tests do, with ``fsync=off``: its commits do not wait for the disk, the GeoPackage's do).

Usage::

    python benchmarks/bench_store_backends.py [--store layers/demo.gpkg] [--tiles 1,3,9]
        [--url postgresql://USER@HOST/DB]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]

from bench_store import file_copy, one_grid_edit, tiled_copy, timed  # noqa: E402

from planner import config  # noqa: E402
from planner.pipeline import run_demo  # noqa: E402
from planner.store import Store, copy_store  # noqa: E402


def measure(location: str | Path, repeat: int) -> dict[str, float]:
    """Read and write times (seconds) of the buildings layer of the store at ``location``."""
    buildings = Store(location).read("buildings")

    def read() -> None:
        Store(location).read("buildings")

    def write() -> None:
        Store(location).write_many({"buildings": buildings})

    return {"read": timed(read, repeat), "write": timed(write, repeat), "buildings": len(buildings)}


def saves_and_copies(
    path: Path, url: str, rounds: int, saves: int = 40
) -> tuple[float, float, float]:
    """The one-grid save on the GeoPackage at ``path`` and the PostGIS store at ``url``,
    and the copy of the file: median times (seconds), taken in ``rounds`` turns of one
    copy and ``saves`` saves on each backend.

    The saves come first, on the stores as built (the whole-layer writes after them
    leave PostgreSQL's autovacuum at work for a while), after 15 saves each, as a running
    server saves: the first makes the plan history's base, and the server prepares a
    statement once it has run five times.
    """
    edits = {"gpkg": one_grid_edit(path), "pg": one_grid_edit(url)}
    for edit in edits.values():
        for _ in range(15):
            edit()
    copy = file_copy(path)
    times: dict[str, list[float]] = {"copy": [], "gpkg": [], "pg": []}
    for _ in range(rounds):
        times["copy"].append(timed(copy, 1))
        for name, edit in edits.items():
            times[name] += [timed(edit, 1) for _ in range(saves)]
    path.with_suffix(".copy").unlink(missing_ok=True)
    return tuple(statistics.median(times[k]) for k in ("gpkg", "pg", "copy"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="a built demo store")
    parser.add_argument("--tiles", default="1,3", help="tilings to measure (n for n×n)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default=None, help="a PostGIS database (default: throwaway)")
    args = parser.parse_args()
    server = None
    if args.url is None:
        import pg

        server = pg.start_server()
        database = server.database_url
    else:
        database = args.url.split("?")[0]
    try:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            source = args.store
            if source is None:
                source = folder / "demo.gpkg"
                run_demo(config.DEFAULT_AREA, store_path=source)
            print(
                f"{'store':<18}{'bldgs':>8}{'MB':>7}{'copy ms':>9} │ "
                f"{'read ms':>15}{'write ms':>17}{'one grid ms':>17}{'÷ copy':>16} │ "
                f"{'PG ÷ GPKG':>22}"
            )
            print(f"{'':<42} │ {'gpkg / pg':>15}{'gpkg / pg':>17}{'gpkg / pg':>17}"
                  f"{'gpkg / pg':>16} │ {'read write edit':>22}")  # fmt: skip
            for n in (int(t) for t in args.tiles.split(",")):
                path = tiled_copy(source, folder / f"tiled{n}.gpkg", n)
                url = f"{database}?schema=bench_{uuid.uuid4().hex[:8]}"
                started = time.perf_counter()
                copy_store(path, url)
                to_pg = time.perf_counter() - started
                g_save, p_save, copy = saves_and_copies(path, url, args.repeat)
                g = {**measure(path, args.repeat), "one grid": g_save}
                p = {**measure(url, args.repeat), "one grid": p_save}
                name = "demo" if args.store is None else args.store.stem
                label = name if n == 1 else f"{name} tiled {n}×{n}"
                ms = {k: (g[k] * 1000, p[k] * 1000) for k in ("read", "write", "one grid")}
                print(
                    f"{label:<18}{g['buildings']:>8}{path.stat().st_size / 1e6:>7.1f}"
                    f"{copy * 1000:>9.1f} │ "
                    + "".join(f"{a:>8.1f} /{b:>6.1f}  " for a, b in ms.values())
                    + f"{g['one grid'] / copy:>7.2%} /{p['one grid'] / copy:>6.2%} │ "
                    + " ".join(f"{b / a:>6.2f}" for a, b in ms.values())
                    + f"   (copied in {to_pg:.1f} s)"
                )
                path.unlink()
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
