"""Time `planner batch` over the shared Chinese extracts on 1 and on 2 Dask workers.

The extracts with buildings (Nanjing Xinjiekou, Beijing Tsinghua, Jiangxi Guixi) run
through the whole pipeline (import, grids, topology check and fixes, coverage, sites),
one store each, on a LocalCluster of one worker process and then of two, each into a
fresh folder (nothing skipped). Printed: seconds of each run (cluster start included),
the seconds and CPU seconds each area took inside its worker (on a machine other
programs share, CPU seconds tell the work from the wait), the load average, the ratio
1 worker / 2 workers, and whether the two runs gave the same figures. On a machine of
2 cores the ideal ratio is below 2: the longest area bounds the two-worker run. On a
machine other people's sessions keep busy, Linux's autogroup scheduling gives this
session one share of the CPU however many processes it runs, so a second worker gets
little: the load average and the CPU seconds say how far a run was from the ideal.

Run ``python benchmarks/bench_batch.py`` (a few minutes); ``--rounds N`` repeats the pair
and prints the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import config  # noqa: E402
from planner.batch import SUMMARY_FIELDS, run_batch  # noqa: E402

EXTRACTS = ["nanjing_xinjiekou.osm", "beijing_tsinghua.osm", "guixi_jiangxi.osm"]


def one_run(workers: int) -> tuple[float, dict]:
    """Seconds of one batch of every extract on ``workers`` workers, and its report."""
    paths = [config.DATA_DIR / "osm" / name for name in EXTRACTS]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as out:
        started = time.perf_counter()
        report = run_batch(paths, out, workers=workers)
        seconds = time.perf_counter() - started
    failed = [r for r in report["areas"] if r["status"] != "done"]
    if failed:
        raise SystemExit(f"areas failed: {failed}")
    return seconds, report


def figures(report: dict) -> list[dict]:
    keep = [f for f in SUMMARY_FIELDS if f not in ("seconds", "cpu_seconds", "status")]
    return [{f: r[f] for f in keep} for r in report["areas"]]


def _autogroup() -> str:
    """Whether Linux shares the CPU between sessions rather than processes."""
    flag = Path("/proc/sys/kernel/sched_autogroup_enabled")
    return {"1": "on", "0": "off"}.get(flag.read_text().strip(), "?") if flag.exists() else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="Repeat the 1/2-worker pair.")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    ratios: list[float] = []
    reports: dict[int, dict] = {}
    for _ in range(args.rounds):
        for workers in (1, 2):
            load = os.getloadavg()[0]
            seconds, report = one_run(workers)
            times[workers].append(seconds)
            reports[workers] = report
            areas = ", ".join(
                f"{r['area']} {r['seconds']:.1f} s (CPU {r['cpu_seconds']:.1f} s)"
                for r in report["areas"]
            )
            print(
                f"{workers} worker(s): {seconds:.1f} s, load average {load:.1f} at the start "
                f"({areas})",
                flush=True,
            )
        ratios.append(times[1][-1] / times[2][-1])
    one, two = statistics.median(times[1]), statistics.median(times[2])
    same = figures(reports[1]) == figures(reports[2])
    print()
    print("| workers | seconds (median) | areas' own seconds, summed | areas' CPU seconds |")
    print("| --- | --- | --- | --- |")
    for workers, median in ((1, one), (2, two)):
        inside = sum(r["seconds"] for r in reports[workers]["areas"])
        cpu = sum(r["cpu_seconds"] for r in reports[workers]["areas"])
        print(f"| {workers} | {median:.1f} | {inside:.1f} | {cpu:.1f} |")
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"\nratio 1 worker / 2 workers: {one / two:.2f} (medians; each round: {each})")
    print(
        f"same figures on 1 and 2 workers: {same}; machine: {os.cpu_count()} CPUs, "
        f"autogroup scheduling {_autogroup()}"
    )
    for row in reports[2]["areas"]:
        print(
            f"  {row['area']}: {row['households']} households, {row['grids']} grids "
            f"({row['in_range']} in range, {row['flagged']} flagged), boundary on features "
            f"{row['boundary_on_features']:.1%}, coverage {row['coverage_share']:.1%}, "
            f"{row['stations']} stations, staff {row['staff']}"
        )


if __name__ == "__main__":
    main()
