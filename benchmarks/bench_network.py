"""Time the walking network: the 15-minute reach matrix and siting end to end from a store.

Cases: the Nanjing Xinjiekou, Beijing Tsinghua and Helsinki (.pbf) extracts imported into
stores, and a tiled area (every extract copied ``--tiles`` times side by side, ids kept
unique). For each case:

- the reach matrix (every candidate site × every building within 15 minutes, 990 m) by
  ``planner.network.reach_matrix`` against networkx (``single_source_dijkstra_path_length``
  with a cutoff, per site, on ``WalkGraph.to_networkx()``), pandana (``nodes_in_range`` on
  the same nodes and edges) and one bare ``scipy.sparse.csgraph.dijkstra`` call; the
  answers must agree (pairs identical, distances within 1 cm; pandana within 0.1 m as it
  stores float32 weights);
- LSCP and MCLP end to end (graph, candidate sites, matrix, model, solve) against spopt
  with its default solver (pulp + CBC) on the same matrix; the optima must agree.

Run ``python benchmarks/bench_network.py`` (a few minutes) or with ``--quick`` (no tiled
area, networkx on a sample of sites, extrapolated).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import config  # noqa: E402
from planner.candidates import complete_sites, generate_sites  # noqa: E402
from planner.network import build_walk_graph, reach_matrix, read_network_layers  # noqa: E402
from planner.pipeline import import_osm  # noqa: E402
from planner.settings import settings  # noqa: E402
from planner.siting import LSCP, MCLP  # noqa: E402

OSM_DIR = config.DATA_DIR / "osm"
EXTRACTS = ("nanjing_xinjiekou.osm", "beijing_tsinghua.osm", "helsinki.osm.pbf")
LIMIT = settings.walking.minutes * 60 * settings.walking.speed_mps
_KEYS = {
    "roads": "road_id",
    "barriers": "barrier_id",
    "compounds": "compound_id",
    "gates": "gate_id",
    "buildings": "building_id",
    "stations": "station_id",
    "candidate_sites": "site_id",
}


def timed(fn, repeat: int = 1):
    """Best of ``repeat`` runs: (result, seconds)."""
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def import_stores(folder: Path) -> dict[str, dict[str, gpd.GeoDataFrame]]:
    """Import each extract into a store; return its network layers (metric CRS)."""
    layers = {}
    for name in EXTRACTS:
        store, _ = import_osm(OSM_DIR / name, folder / f"{name.split('.')[0]}.gpkg")
        layers[name.split(".")[0]] = read_network_layers(store)
    return layers


def tiled(cases: list[dict[str, gpd.GeoDataFrame]], copies: int, gap: float = 300.0):
    """Copies of every case set side by side along x, ids suffixed to stay unique."""
    crs = cases[0]["roads"].crs
    out: dict[str, list[gpd.GeoDataFrame]] = {name: [] for name in _KEYS}
    x0, tile = 0.0, 0
    for _ in range(copies):
        for case in cases:
            xmin, ymin, xmax, _ = case["roads"].total_bounds
            shift = np.array([x0 - xmin, -ymin])
            for name, key in _KEYS.items():
                frame = case[name].copy()
                geoms = shapely.transform(frame.geometry.to_numpy(), lambda xy, d=shift: xy + d)
                frame = gpd.GeoDataFrame(frame, geometry=geoms, crs=crs)
                frame[key] = frame[key].astype(str) + f"~{tile}"
                out[name].append(frame)
            x0 += xmax - xmin + gap
            tile += 1
    return {
        name: gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
        for name, parts in out.items()
    }


def sources_of(graph, layers) -> np.ndarray:
    """Candidate sites: the given ones and every generated junction (as ``planner sites``)."""
    given = graph.site_node[graph.site_node >= 0]
    generated = generate_sites(graph, layers["buildings"])
    return np.unique(np.concatenate([given, generated]))


def by_networkx(graph, sources, targets, sample: int | None):
    import networkx as nx

    nxg = graph.to_networkx()
    row_of = {int(n): i for i, n in enumerate(targets) if n >= 0}
    chosen = sources if sample is None else sources[:: max(1, len(sources) // sample)]
    pairs = {}

    def run():
        for col, s in enumerate(chosen):
            lengths = nx.single_source_dijkstra_path_length(
                nxg, int(s), cutoff=LIMIT, weight="length"
            )
            for node, d in lengths.items():
                row = row_of.get(node)
                if row is not None:
                    pairs[(row, col)] = d

    _, seconds = timed(run)
    return pairs, chosen, seconds * len(sources) / len(chosen)


def by_pandana(graph, sources, targets):
    import pandana

    e = graph.edges
    nodes = pd.DataFrame({"x": graph.x, "y": graph.y})
    edges = pd.DataFrame(
        {"from": e["u"].to_numpy(), "to": e["v"].to_numpy(), "length": e["length"].to_numpy()}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net, build = timed(
            lambda: pandana.Network(
                nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["length"]], twoway=True
            )
        )
        frame, seconds = timed(lambda: net.nodes_in_range(sources.tolist(), LIMIT))
    row_of = pd.Series(np.arange(len(targets)), index=targets)
    col_of = pd.Series(np.arange(len(sources)), index=sources)
    frame = frame[frame["destination"].isin(row_of.index)]
    pairs = dict(
        zip(
            zip(
                row_of[frame["destination"]].to_numpy(),
                col_of[frame["source"]].to_numpy(),
                strict=True,
            ),
            frame["length"].to_numpy(),
            strict=True,
        )
    )
    return pairs, seconds, build


def compare(ours: dict, theirs: dict, tol: float, near: float = 0.5) -> str:
    """Agreement of two pair → distance maps (pairs within ``near`` of the limit may differ)."""
    keys = ours.keys() & theirs.keys()
    only = [
        k for k in ours.keys() ^ theirs.keys() if abs(ours.get(k, theirs.get(k)) - LIMIT) > near
    ]
    worst = max((abs(ours[k] - theirs[k]) for k in keys), default=0.0)
    ok = not only and worst <= tol
    return f"{'agree' if ok else 'DISAGREE'} ({len(keys)} pairs, max diff {worst:.2g} m)"


def reach_case(name: str, layers, *, sample: int | None) -> None:
    graph, t_graph = timed(lambda: build_walk_graph(layers))
    sources = sources_of(graph, layers)
    targets = graph.building_node
    matrix, t_ours = timed(lambda: reach_matrix(graph, sources, targets, LIMIT), repeat=3)
    _, t_bare = timed(
        lambda: dijkstra(graph.matrix, directed=True, indices=sources, limit=LIMIT), repeat=3
    )
    coo = matrix.tocoo()
    ours = {(int(r), int(c)): float(d) for r, c, d in zip(coo.row, coo.col, coo.data, strict=True)}
    print(
        f"\n== {name}: {graph.n_nodes} nodes, {len(graph.edges)} edges, "
        f"{len(targets)} buildings × {len(sources)} sites, {matrix.nnz} pairs within "
        f"{LIMIT:g} m (graph built in {t_graph:.2f} s)"
    )
    print(f"  reach_matrix          {t_ours * 1e3:9.1f} ms")
    print(f"  bare csgraph.dijkstra {t_bare * 1e3:9.1f} ms   ours/bare = {t_ours / t_bare:.2f}")
    nx_pairs, chosen, t_nx = by_networkx(graph, sources, targets, sample)
    col = {int(s): j for j, s in enumerate(sources)}
    sub = {k: v for k, v in ours.items() if int(sources[k[1]]) in set(chosen.tolist())}
    remap = {(r, col[int(chosen[c])]): d for (r, c), d in nx_pairs.items()}
    note = "" if sample is None else f" (extrapolated from {len(chosen)} sites)"
    print(
        f"  networkx              {t_nx * 1e3:9.1f} ms   networkx/ours = {t_nx / t_ours:.1f}×"
        f"{note}  {compare(sub, remap, 0.01)}"
    )
    try:
        pd_pairs, t_pd, t_pd_build = by_pandana(graph, sources, targets)
    except Exception as exc:  # noqa: BLE001  report, keep benchmarking
        print(f"  pandana               failed: {exc}")
    else:
        print(
            f"  pandana               {t_pd * 1e3:9.1f} ms   pandana/ours = {t_pd / t_ours:.1f}×"
            f"  (+{t_pd_build:.2f} s contraction)  {compare(ours, pd_pairs, 0.1)}"
        )


def siting_case(name: str, layers) -> None:
    import pulp
    from spopt.locate import LSCP as SpoptLSCP
    from spopt.locate import MCLP as SpoptMCLP

    def matrix():
        graph = build_walk_graph(layers)
        households = layers["buildings"]["households"].to_numpy()
        demand = np.flatnonzero(households > 0)
        given = graph.site_node
        extra = complete_sites(graph, layers["buildings"], given, limit=LIMIT)
        columns = np.concatenate([given, extra["node"].to_numpy()])
        cost = reach_matrix(graph, columns, graph.building_node[demand], LIMIT)
        keep = np.diff(cost.indptr) > 0  # spopt's LSCP needs every row coverable
        return cost[keep], households[demand][keep].astype(float), graph, columns, demand

    (cost, weights, graph, columns, demand), t_matrix = timed(matrix)
    # The obvious alternative pipeline: networkx distances (as osmnx users compute them),
    # then spopt. Graph and candidates are shared; networkx time is sampled and scaled.
    _, _, t_nx = by_networkx(graph, columns, graph.building_node[demand], sample=40)
    dense = np.full(cost.shape, np.inf)
    coo = cost.tocoo()
    dense[coo.row, coo.col] = coo.data
    p = 5
    print(
        f"\n== {name} siting: {cost.shape[0]} buildings × {cost.shape[1]} sites; graph, "
        f"candidates and matrix {t_matrix:.2f} s (shared)"
    )
    for label, ours_fn, theirs_fn in (
        (
            "LSCP",
            lambda: LSCP.from_cost_matrix(cost, service_radius=LIMIT).solve(),
            lambda: SpoptLSCP.from_cost_matrix(dense, LIMIT).solve(pulp.PULP_CBC_CMD(msg=False)),
        ),
        (
            f"MCLP p={p}",
            lambda: MCLP.from_cost_matrix(cost, service_radius=LIMIT, weights=weights, p=p).solve(),
            lambda: SpoptMCLP.from_cost_matrix(
                np.where(np.isfinite(dense), dense, 1e9), weights, LIMIT, p_facilities=p
            ).solve(pulp.PULP_CBC_CMD(msg=False)),
        ),
    ):
        mine, t_mine = timed(ours_fn)
        theirs, t_theirs = timed(theirs_fn)
        spopt_obj = pulp.value(theirs.problem.objective)
        same = abs(mine.objective - spopt_obj) <= 1e-6 * max(1.0, abs(spopt_obj))
        print(
            f"  {label:10s} ours {t_matrix + t_mine:7.2f} s (solve {t_mine:.3f})  spopt "
            f"{t_matrix + t_theirs:7.2f} s (solve {t_theirs:.3f})  end to end "
            f"{(t_matrix + t_theirs) / (t_matrix + t_mine):.1f}×, solve "
            f"{t_theirs / t_mine:.0f}×  objective {mine.objective:g} vs {spopt_obj:g} "
            f"{'agree' if same else 'DISAGREE'}"
        )
        print(
            f"  {'':10s} vs networkx distances + spopt {t_nx + t_theirs:7.2f} s: "
            f"{(t_nx + t_theirs) / (t_matrix + t_mine):.1f}× end to end"
        )


def store_end_to_end(folder: Path) -> None:
    """``planner sites --model lscp`` as the CLI runs it, from the store, for the record."""
    from planner.siting import site_stations
    from planner.store import Store

    store = Store(folder / "nanjing_xinjiekou.gpkg")
    report, seconds = timed(lambda: site_stations(store, model="lscp", write=False))
    print(
        f"\n== planner sites --model lscp on the Nanjing store (no write): {seconds:.2f} s, "
        f"{len(report['chosen'])} sites, objective {report['objective']:g}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the tiled area")
    parser.add_argument("--tiles", type=int, default=2, help="copies of each extract")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        layers, t_import = timed(lambda: import_stores(folder))
        print(f"imported {', '.join(layers)} in {t_import:.1f} s")
        cases = dict(layers)
        if not args.quick:
            cases[f"tiled {args.tiles}×{len(layers)}"] = tiled(list(layers.values()), args.tiles)
        for name, case in cases.items():
            reach_case(name, case, sample=20 if args.quick else None)
        for name, case in cases.items():
            siting_case(name, case)
        store_end_to_end(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
