"""Benchmark: the whole pipeline on a city-sized area, at 1, 9, 25 and 81 tiles.

The test area is the Nanjing extract clipped to its buildings and tiled N×N edge to
edge (``benchmarks/tiles.py``). For each size the pipeline runs one CLI command at a
time, each in its own process as a planner would run it — import (with the tiles'
community boundaries), grids, edges (detect and assign), check, coverage and sites
(LSCP) — and records each step's seconds, peak memory (the largest process's maximum
resident set, from ``wait4``, and the peak of the whole process tree's resident sets
summed, the step's Dask workers included, sampled every 0.1 s) and CPU seconds (user
and system: what the step cost whatever else the machine was doing). It prints one
table: per step and size, seconds and peak memory, and the ratio of each size's whole
pipeline to the one-tile pipeline measured in the same run, with the plan's figures
(grids, in range, boundary on physical features, findings) to show the quality held.

``--layout tiles`` (default) makes each tile a community; ``--layout whole`` makes the
whole area one community (the worst case: one community of 100k buildings).
``--grid-workers N`` draws the grids on N Dask worker processes (default: the grid
step's own choice, one per CPU above 5,000 buildings in several areas); run it with 1
and 2 to compare.

Usage::

    python benchmarks/bench_city.py [--tiles 1,3,5,9] [--layout tiles|whole]
        [--grid-workers N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiles import BUILDINGS_EXTENT, clip_extract, write_communities, write_tiled  # noqa: E402

from planner import config  # noqa: E402

#: The pipeline's steps: name and the ``planner`` arguments after the store.
STEPS: list[tuple[str, list[str]]] = [
    ("grids", ["grids", "{store}", "--json"]),
    ("edges", ["edges", "{store}", "--detect", "--assign"]),
    ("check", ["check", "{store}", "--json"]),
    ("coverage", ["coverage", "{store}", "--json"]),
    ("sites", ["sites", "{store}", "--model", "lscp", "--json"]),
]


def tree_rss(pid: int) -> int:
    """Bytes resident in process PID and all its descendants (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_step(args: list[str], *, log: Path) -> dict[str, Any]:
    """Run ``planner ARGS`` in a child process: seconds, peak memory (GB), exit code, JSON."""
    started = time.perf_counter()
    tree_peak = 0
    done = threading.Event()

    def sample(pid: int) -> None:
        nonlocal tree_peak
        while not done.wait(0.1):
            tree_peak = max(tree_peak, tree_rss(pid))

    with open(log, "w", encoding="utf-8") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "planner.cli", *args], stdout=subprocess.PIPE, stderr=err
        )
        sampler = threading.Thread(target=sample, args=(child.pid,), daemon=True)
        sampler.start()
        out = child.stdout.read() if child.stdout else b""
        done.set()
        sampler.join()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    try:
        report = json.loads(out)
    except ValueError:
        report = {}
    return {
        "seconds": round(seconds, 2),
        "cpu": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_gb": round(usage.ru_maxrss / 1024**2, 3),
        "tree_gb": round(tree_peak / 1024**3, 3),
        "exit": child.returncode,
        "report": report,
    }


def run_size(
    n: int, folder: Path, *, layout: str, source: Path, grid_workers: int | None = None
) -> dict[str, Any]:
    """Build the N×N area and run the pipeline on it; one row per step."""
    osm = folder / f"city{n}.osm"
    boundaries = folder / f"city{n}_{layout}.geojson"
    extract = clip_extract(source, BUILDINGS_EXTENT)
    counts = write_tiled(extract, n, osm)
    write_communities(BUILDINGS_EXTENT, n, boundaries, whole=layout == "whole")
    store = folder / f"city{n}_{layout}.gpkg"
    store.unlink(missing_ok=True)
    steps = {}
    steps["import"] = run_step(
        ["import", str(osm), "--store", str(store), "--boundary", str(boundaries), "--json"],
        log=folder / f"city{n}_import.log",
    )
    for name, args in STEPS:
        args = [a.format(store=store) for a in args]
        if name == "grids" and grid_workers is not None:
            args += ["--workers", str(grid_workers)]
        steps[name] = run_step(args, log=folder / f"city{n}_{name}.log")
    grids = steps["grids"]["report"]
    check = steps["check"]["report"]
    coverage = steps["coverage"]["report"]
    return {
        "tiles": n * n,
        "buildings": counts["buildings"],
        "steps": {
            k: {f: v[f] for f in ("seconds", "cpu", "peak_gb", "tree_gb", "exit")}
            for k, v in steps.items()
        },
        "seconds": round(sum(v["seconds"] for v in steps.values()), 2),
        "cpu": round(sum(v["cpu"] for v in steps.values()), 2),
        "peak_gb": max(v["peak_gb"] for v in steps.values()),
        "tree_gb": max(v["tree_gb"] for v in steps.values()),
        "households": grids.get("households"),
        "grids": grids.get("grids"),
        "in_range": grids.get("in_range"),
        "communities": grids.get("communities", 1),
        "flagged": check.get("totals", {}).get("flagged"),
        "on_features": check.get("totals", {}).get("boundary_on_features"),
        "defects": check.get("totals", {}).get("defects"),
        "coverage_share": coverage.get("coverage_share"),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table: per step and size, seconds and GB; ratios to 1 tile."""
    base = rows[0]
    names = ["import", *(name for name, _ in STEPS)]
    head = "| step | " + " | ".join(f"{r['tiles']} tiles ({r['buildings']:,} bldg)" for r in rows)
    lines = [head + " |", "| --- |" + " --- |" * len(rows)]
    for name in names:
        cells = []
        for r in rows:
            s = r["steps"][name]
            bad = "" if s["exit"] in (0, 1) else f" (exit {s['exit']})"
            cells.append(
                f"{s['seconds']:.1f} s ({s['cpu']:.1f} cpu), {s['peak_gb']:.2f} GB "
                f"(all processes {s['tree_gb']:.2f} GB){bad}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = [
        f"**{r['seconds']:.1f} s ({r['cpu']:.1f} cpu), {r['peak_gb']:.2f} GB "
        f"(all processes {r['tree_gb']:.2f} GB)** "
        f"({r['seconds'] / base['seconds']:.1f}×; cpu {r['cpu'] / base['cpu']:.1f}×)"
        for r in rows
    ]
    lines.append("| whole pipeline | " + " | ".join(cells) + " |")
    quality = [
        f"{r['grids']} grids, {r['in_range']} in range, on features {r['on_features']}, "
        f"defects {r['defects']}"
        for r in rows
    ]
    lines.append("| plan | " + " | ".join(quality) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", default="1,3", help="tiles per side, comma-separated")
    parser.add_argument("--layout", choices=("tiles", "whole"), default="tiles")
    parser.add_argument("--folder", help="where the areas and stores go (default: a temp dir)")
    parser.add_argument("--grid-workers", type=int, help="Dask workers of the grid step")
    parser.add_argument("--json", dest="json_out", help="also write the figures here")
    parser.add_argument("--source", default=str(config.DATA_DIR / "osm" / "nanjing_xinjiekou.osm"))
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.tiles.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench_city_") as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for n in sizes:
            row = run_size(
                n,
                folder,
                layout=args.layout,
                source=Path(args.source),
                grid_workers=args.grid_workers,
            )
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
        print(table(rows))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
