"""Time planner.siting (HiGHS, reduced models) against spopt (pulp + CBC) on OSM buildings.

Demand points are building centroids, candidate sites every 10th centroid, costs the
straight-line distance in metres (UTM 50N), weights a household proxy (footprint / 50 m2).
Cases: the Nanjing Xinjiekou and Beijing Tsinghua extracts, and a tiled case with several
copies of both extracts set side by side (several thousand demand points). Each model is
built and solved by both libraries from the same matrix; the objectives must agree.

Run ``python benchmarks/bench_siting.py`` (a few minutes) or with ``--quick``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyogrio
from scipy.spatial.distance import cdist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.siting import LSCP, MCLP, PMedian  # noqa: E402

OSM_DIR = Path("/work/shared/data/osm")


def buildings(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Building centroids (metres, UTM 50N) and a household proxy for one extract."""
    df = pyogrio.read_dataframe(OSM_DIR / f"{name}.osm", layer="multipolygons")
    df = df[df["building"].notna()].to_crs(32650)
    centroid = df.geometry.centroid
    xy = np.column_stack([centroid.x.to_numpy(), centroid.y.to_numpy()])
    households = np.maximum(1, np.round(df.geometry.area.to_numpy() / 50.0))
    return xy, households


def tiled(parts: list[tuple[np.ndarray, np.ndarray]], gap: float = 500.0):
    """Set extracts side by side along x, ``gap`` metres apart."""
    xys, weights, x0 = [], [], 0.0
    for xy, w in parts:
        local = xy - xy.min(axis=0)
        xys.append(local + [x0, 0.0])
        weights.append(w)
        x0 += local[:, 0].max() + gap
    return np.vstack(xys), np.concatenate(weights)


def case(xy: np.ndarray, w: np.ndarray, *, demand_step: int = 1, site_step: int = 10):
    return cdist(xy[::demand_step], xy[::site_step]), w[::demand_step]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_ours(model: str, cost, w, radius, p):
    if model == "LSCP":
        m = LSCP.from_cost_matrix(cost, service_radius=radius).solve()
    elif model == "MCLP":
        m = MCLP.from_cost_matrix(cost, service_radius=radius, weights=w, p=p).solve()
    else:
        m = PMedian.from_cost_matrix(cost, weights=w, p=p).solve()
    assert m.optimal, m.status
    return m.objective


def run_spopt(model: str, cost, w, radius, p):
    import pulp
    import spopt.locate as locate

    solver = pulp.PULP_CBC_CMD(msg=False)
    if model == "LSCP":
        # spopt cannot leave demand uncovered: give it the coverable rows only
        coverable = (cost <= radius).any(axis=1)
        m = locate.LSCP.from_cost_matrix(cost[coverable], radius).solve(solver)
    elif model == "MCLP":
        m = locate.MCLP.from_cost_matrix(cost, w, radius, p_facilities=p).solve(solver)
    else:
        m = locate.PMedian.from_cost_matrix(cost, w, p_facilities=p).solve(solver)
    return float(pulp.value(m.problem.objective))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only (~30 s)")
    parser.add_argument("--radius", type=float, default=500.0, help="service radius, metres")
    parser.add_argument("--tiles", type=int, default=2, help="copies of each extract")
    args = parser.parse_args(argv)

    nanjing = buildings("nanjing_xinjiekou")
    beijing = buildings("beijing_tsinghua")
    cases = {
        "nanjing": case(*nanjing),
        "beijing": case(*beijing),
    }
    pmedian_cases = {
        "beijing/2": case(*beijing, demand_step=2),
    }
    if not args.quick:
        cases["tiled"] = case(*tiled([nanjing, beijing] * args.tiles))
        pmedian_cases["nanjing/3"] = case(*nanjing, demand_step=3)

    jobs = []
    for name, (cost, w) in cases.items():
        jobs.append((name, "LSCP", cost, w, None))
        for p in (5, 10):
            jobs.append((name, "MCLP", cost, w, p))
    for name, (cost, w) in pmedian_cases.items():
        jobs.append((name, "PMedian", cost, w, 5))

    # warm up both (HiGHS prints its banner once, CBC loads its binary)
    warm, ww = case(*beijing, demand_step=20)
    run_ours("MCLP", warm, ww, args.radius, 2)
    run_spopt("MCLP", warm, ww, args.radius, 2)

    header = (
        f"{'case':<10} {'model':<8} {'p':>3} {'demand x sites':>15} "
        f"{'ours s':>8} {'spopt s':>8} {'ratio':>7} {'objective':>16} agree"
    )
    print(f"service radius {args.radius:g} m; ratio = spopt time / ours")
    print(header)
    print("-" * len(header))
    total_ours = total_spopt = 0.0
    all_agree = True
    for name, model, cost, w, p in jobs:
        ours, t_ours = timed(lambda: run_ours(model, cost, w, args.radius, p))  # noqa: B023
        theirs, t_spopt = timed(lambda: run_spopt(model, cost, w, args.radius, p))  # noqa: B023
        agree = abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs))
        all_agree &= agree
        total_ours += t_ours
        total_spopt += t_spopt
        shape = f"{cost.shape[0]} x {cost.shape[1]}"
        print(
            f"{name:<10} {model:<8} {p or '':>3} {shape:>15} {t_ours:8.3f} {t_spopt:8.3f} "
            f"{t_spopt / t_ours:7.1f} {ours:16.6g} {'yes' if agree else 'NO: ' + str(theirs)}",
            flush=True,
        )
    print("-" * len(header))
    print(
        f"{'total':<10} {'':<8} {'':>3} {'':>15} {total_ours:8.3f} {total_spopt:8.3f} "
        f"{total_spopt / total_ours:7.1f}"
    )
    return 0 if all_agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
