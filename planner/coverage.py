"""15-minute walking coverage (15分钟覆盖), isochrones (等时圈) and station siting on a store.

Store-level steps: each reads its layers, builds (or reuses) the walking graph of
:mod:`planner.network`, computes, writes its results back in one all-or-nothing write and
returns a JSON-able report.

- :func:`coverage`: for every building the walking distance to its nearest station and
  which station; households covered and not, in total and per grid; written to
  ``buildings`` (``station_id``, ``walk_m``, ``covered``) and
  ``stations.households_served``, with the graph as ``walk_edges``/``walk_nodes``.
- :func:`isochrones`: walking bands per station built from the reached network (edges,
  partial edges cut at the reach limit, buffered and merged) → ``isochrones``.
- :func:`site_stations`: LSCP, MCLP or p-median from :mod:`planner.siting` on the
  walking-distance matrix of buildings × (existing stations + candidate sites); chosen
  sites become ``status=proposed`` stations of a named scenario.

Which stations count: existing ones plus the proposed ones of the latest scenario
(``latest_scenario`` in the store's metadata), or of a named scenario, or existing only.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import config
from planner.candidates import complete_sites
from planner.errors import PlannerError
from planner.network import WalkGraph, build_walk_graph, distances_from, nearest_source
from planner.network import reach_matrix as _reach_matrix
from planner.progress import Progress, no_progress
from planner.siting import LSCP, MCLP, NoSolutionError, PMedian

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from numpy.typing import NDArray

    from planner.store import Store

__all__ = [
    "MODELS",
    "coverage",
    "isochrones",
    "run_coverage_and_sites",
    "select_stations",
    "site_stations",
    "walk_threshold",
]

MODELS = ("lscp", "mclp", "pmedian")


def _stdout_to_stderr() -> Iterator[None]:
    """Send what C libraries print on stdout to stderr (HiGHS prints a banner once per
    process), so JSON on stdout (``planner sites --json``, ``planner demo --json``) stays clean.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no file descriptors to protect (embedded use)
        yield
        return
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def walk_threshold(
    *, minutes: float | None = None, speed: float | None = None, meters: float | None = None
) -> float:
    """The walking threshold in metres from minutes and speed, or given directly.

    Parameters
    ----------
    minutes
        Walking minutes (default :data:`planner.config.WALK_MINUTES`).
    speed
        Walking speed in m/s (default :data:`planner.config.WALK_SPEED_MPS`).
    meters
        The threshold in metres, instead of minutes and speed.

    Returns
    -------
    float
        Metres.
    """
    if meters is not None and (minutes is not None or speed is not None):
        msg = "give the threshold as --minutes/--speed or as --meters, not both"
        raise PlannerError(msg)
    if meters is not None:
        if not np.isfinite(meters) or meters <= 0:
            msg = f"--meters must be a positive number, got {meters:g}"
            raise PlannerError(msg)
        return float(meters)
    minutes = config.WALK_MINUTES if minutes is None else minutes
    speed = config.WALK_SPEED_MPS if speed is None else speed
    if not np.isfinite(minutes) or minutes <= 0:
        msg = f"--minutes must be a positive number, got {minutes:g}"
        raise PlannerError(msg)
    if not np.isfinite(speed) or speed <= 0:
        msg = f"--speed must be a positive number of m/s, got {speed:g}"
        raise PlannerError(msg)
    return float(minutes) * 60.0 * float(speed)


def _buildings(store: Store) -> gpd.GeoDataFrame:
    buildings = store.read("buildings")
    if buildings.empty:
        msg = (
            "the store has no buildings; import them first "
            "(`planner import FILE --store STORE --layer buildings`)"
        )
        raise PlannerError(msg, source=str(store.path))
    return buildings


def _graph(store: Store, graph: WalkGraph | None) -> WalkGraph:
    return graph if graph is not None else build_walk_graph(store)


def select_stations(
    stations: pd.DataFrame,
    *,
    scenario: str | None = None,
    existing_only: bool = False,
    latest: str | None = None,
) -> tuple[NDArray[np.bool_], str | None]:
    """Which stations count: existing ones plus the proposed ones of one scenario.

    Parameters
    ----------
    stations
        The stations layer.
    scenario
        Use the proposed stations of this scenario (an error if it has none).
    existing_only
        Use existing stations only.
    latest
        The latest scenario (the default when ``scenario`` is not given); if None, the
        scenario of the last proposed station in the layer.

    Returns
    -------
    (mask, scenario used or None)
    """
    status = stations["status"].fillna("existing").to_numpy()
    existing = status == "existing"
    if existing_only:
        if scenario is not None:
            msg = "give --scenario or --existing-only, not both"
            raise PlannerError(msg)
        return existing, None
    names = stations["scenario"].to_numpy()
    proposed = status != "existing"
    known = list(dict.fromkeys(str(s) for s in names[proposed] if s is not None))
    if scenario is None:
        scenario = latest if latest in known else (known[-1] if known else None)
        if scenario is None:
            return existing, None
    elif scenario not in known:
        choices = ", ".join(known) if known else "none yet (run `planner sites`)"
        msg = f"no proposed stations in scenario {scenario!r}; scenarios: {choices}"
        raise PlannerError(msg)
    return existing | (proposed & (names == scenario)), scenario


def _station_nodes(graph: WalkGraph, ids: NDArray[np.object_]) -> NDArray[np.int64]:
    lookup = dict(zip(graph.station_ids.tolist(), graph.station_node.tolist(), strict=True))
    return np.array([lookup.get(i, -1) for i in ids.tolist()], dtype=np.int64)


def _counted_stations(
    store: Store,
    stations: gpd.GeoDataFrame,
    graph: WalkGraph,
    scenario: str | None,
    existing_only: bool,
) -> tuple[NDArray[np.bool_], str | None, NDArray[np.object_], NDArray[np.int64]]:
    """The stations that count (see :func:`select_stations`): mask, scenario, ids, graph nodes."""
    mask, used = select_stations(
        stations,
        scenario=scenario,
        existing_only=existing_only,
        latest=store.metadata.get("latest_scenario"),
    )
    ids = stations["station_id"].to_numpy()[mask]
    return mask, used, ids, _station_nodes(graph, ids)


def coverage(
    store: Store,
    *,
    minutes: float | None = None,
    speed: float | None = None,
    meters: float | None = None,
    scenario: str | None = None,
    existing_only: bool = False,
    graph: WalkGraph | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Walking distance from every building to its nearest station, and who is covered.

    Parameters
    ----------
    store
        The store (needs buildings and roads).
    minutes, speed, meters
        The threshold (see :func:`walk_threshold`).
    scenario, existing_only
        Which stations count (see :func:`select_stations`).
    graph
        A walking graph already built from this store.
    write
        Write the results to the store (buildings, stations, walk_edges, walk_nodes).

    Returns
    -------
    dict
        ``households_total``, ``households_covered``, ``households_uncovered``,
        ``buildings_total``, ``buildings_uncovered``, ``buildings_unjoined``,
        ``threshold_m``, ``scenario``, ``stations`` (households served each), ``grids``
        (per grid when buildings have grid codes), ``walled_without_gates``.
    """
    limit = walk_threshold(minutes=minutes, speed=speed, meters=meters)
    buildings = _buildings(store)
    graph = _graph(store, graph)
    stations = store.read("stations")
    mask, used, ids, nodes = _counted_stations(store, stations, graph, scenario, existing_only)
    on_net = nodes >= 0
    dist, which = nearest_source(graph, nodes[on_net])
    bnode = graph.building_node
    walk = np.where(bnode >= 0, dist[np.maximum(bnode, 0)], np.inf)
    origin = np.where(bnode >= 0, which[np.maximum(bnode, 0)], -1)
    reached = np.isfinite(walk) & (origin >= 0)
    covered = reached & (walk <= limit)
    households = buildings["households"].to_numpy()
    station_of = np.full(len(buildings), None, dtype=object)
    station_of[reached] = ids[on_net][origin[reached]]
    out = buildings.copy()
    out["station_id"] = station_of
    out["walk_m"] = np.where(reached, np.round(walk, 2), np.nan)
    out["covered"] = covered
    served_on = np.bincount(
        origin[covered], weights=households[covered], minlength=int(on_net.sum())
    )
    served = np.zeros(len(ids))
    served[on_net] = served_on
    served_by_id = dict(zip(ids.tolist(), served.astype(int).tolist(), strict=True))
    stations = stations.copy()
    stations["households_served"] = [served_by_id.get(i, 0) for i in stations["station_id"]]
    report: dict[str, Any] = {
        "threshold_m": round(limit, 2),
        "minutes": None if meters is not None else minutes or config.WALK_MINUTES,
        "speed_mps": None if meters is not None else speed or config.WALK_SPEED_MPS,
        "scenario": used,
        "existing_only": existing_only,
        "stations_counted": int(len(ids)),
        "stations_off_network": [str(i) for i in ids[~on_net]],
        "households_total": int(households.sum()),
        "households_covered": int(households[covered].sum()),
        "households_uncovered": int(households[~covered].sum()),
        "buildings_total": int(len(buildings)),
        "buildings_covered": int(covered.sum()),
        "buildings_uncovered": int((~covered).sum()),
        "buildings_unjoined": int((bnode < 0).sum()),
        "walk_m_max_covered": round(float(walk[covered].max()), 1) if covered.any() else None,
        "stations": [
            {
                "station_id": str(i),
                "name": n if isinstance(n, str) else None,
                "status": s,
                "scenario": sc,
                "households_served": served_by_id[i],
            }
            for i, n, s, sc in zip(
                ids,
                stations["name"].to_numpy()[mask],
                stations["status"].to_numpy()[mask],
                stations["scenario"].to_numpy()[mask],
                strict=True,
            )
        ],
        "grids": _per_grid(out),
        "walled_without_gates": graph.report.get("walled_without_gates", []),
    }
    total = report["households_total"]
    report["coverage_share"] = round(report["households_covered"] / total, 4) if total else None
    if write:
        detail = {k: report[k] for k in ("threshold_m", "scenario", "households_covered")}
        store.write_many(
            {
                "buildings": out,
                "stations": stations,
                "walk_edges": graph.edge_frame(),
                "walk_nodes": graph.node_frame(),
            },
            log=[
                {
                    "layer": "buildings",
                    "action": "coverage",
                    "detail": detail,
                    "reason": "planner coverage",
                }
            ],
        )
    return report


def _per_grid(buildings: pd.DataFrame) -> list[dict[str, Any]]:
    codes = buildings["grid_code"]
    if codes.isna().all():
        return []
    frame = pd.DataFrame(
        {
            "grid_code": codes.fillna("(none)"),
            "households": buildings["households"],
            "covered": buildings["households"].where(buildings["covered"], 0),
            "buildings_uncovered": ~buildings["covered"],
        }
    )
    grouped = frame.groupby("grid_code", sort=True).sum()
    return [
        {
            "grid_code": str(code),
            "households": int(row["households"]),
            "households_covered": int(row["covered"]),
            "households_uncovered": int(row["households"] - row["covered"]),
            "buildings_uncovered": int(row["buildings_uncovered"]),
        }
        for code, row in grouped.iterrows()
    ]


def isochrones(
    store: Store,
    *,
    minutes: Sequence[float] = config.ISOCHRONE_MINUTES,
    speed: float | None = None,
    scenario: str | None = None,
    existing_only: bool = False,
    buffer: float = config.ISOCHRONE_BUFFER_M,
    graph: WalkGraph | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Walking bands (等时圈) around each counted station, from the reached network.

    Every edge reached within a band is kept, partly reached edges cut at the reach
    limit (from either end), and the pieces of each station and band buffered by
    ``buffer`` metres and merged: the area is the network walkable in that time, not a
    circle or a convex hull.

    Parameters
    ----------
    store
        The store.
    minutes
        The bands, minutes (positive).
    speed
        Walking speed in m/s.
    scenario, existing_only
        Which stations (see :func:`select_stations`).
    buffer
        Half-width of the band around the reached ways, metres.
    graph
        A walking graph already built from this store.
    write
        Replace the ``isochrones`` layer.

    Returns
    -------
    dict
        ``stations``, ``bands`` (minutes), ``features`` and ``area_m2`` per band; the
        layer itself under ``frame`` when ``write`` is False.
    """
    bands = sorted({float(m) for m in minutes})
    if not bands or bands[0] <= 0 or not np.isfinite(bands[-1]):
        msg = f"--minutes must be positive numbers, got {', '.join(map(str, minutes))}"
        raise PlannerError(msg)
    meters = np.array([walk_threshold(minutes=m, speed=speed) for m in bands])
    _buildings(store)
    graph = _graph(store, graph)
    stations = store.read("stations")
    _, used, ids, nodes = _counted_stations(store, stations, graph, scenario, existing_only)
    ids, nodes = ids[nodes >= 0], nodes[nodes >= 0]
    frame = _isochrone_frame(graph, ids, nodes, meters, buffer)
    frame["minutes"] = np.array(bands)[frame.pop("band").to_numpy()]
    frame["scenario"] = used
    area = frame.assign(a=frame.area).groupby("minutes")["a"].sum()
    report: dict[str, Any] = {
        "stations": int(len(ids)),
        "bands": bands,
        "meters": [round(float(m), 1) for m in meters],
        "scenario": used,
        "features": int(len(frame)),
        "area_m2": {str(k): round(float(v), 1) for k, v in area.items()},
    }
    if write:
        store.write(
            "isochrones",
            frame,
            log=[
                {
                    "layer": "isochrones",
                    "action": "isochrones",
                    "detail": {"bands": bands, "stations": len(ids)},
                    "reason": "planner isochrones",
                }
            ],
        )
    else:
        report["frame"] = frame
    return report


def _isochrone_frame(
    graph: WalkGraph,
    ids: NDArray[np.object_],
    nodes: NDArray[np.int64],
    meters: NDArray[np.float64],
    buffer: float,
) -> gpd.GeoDataFrame:
    from planner.network import substrings

    columns = {"station_id": [], "band": [], "meters": []}
    if len(nodes) == 0:
        return gpd.GeoDataFrame(columns, geometry=[], crs=graph.crs)
    dist = distances_from(graph, nodes, limit=float(meters.max()))
    u = graph.edges["u"].to_numpy()
    v = graph.edges["v"].to_numpy()
    length = graph.edges["length"].to_numpy()
    geoms = graph.edges.geometry.to_numpy()
    edge_i, starts, ends, group = [], [], [], []
    for b, r in enumerate(meters):
        # reach along each edge from either end (S × E arrays)
        a = np.clip(r - dist[:, u], 0.0, None)
        c = np.clip(r - dist[:, v], 0.0, None)
        a = np.where(np.isfinite(a), np.minimum(a, length), 0.0)
        c = np.where(np.isfinite(c), np.minimum(c, length), 0.0)
        whole = a + c >= length
        s_i, e_i = np.nonzero(whole & ((a > 0) | (c > 0) | (length == 0)))
        edge_i.append(e_i)
        starts.append(np.zeros(len(e_i)))
        ends.append(length[e_i])
        group.append(s_i * len(meters) + b)
        for side, part in ((0, a), (1, c)):
            s_i, e_i = np.nonzero(~whole & (part > 0))
            edge_i.append(e_i)
            if side == 0:
                starts.append(np.zeros(len(e_i)))
                ends.append(part[s_i, e_i])
            else:
                starts.append(length[e_i] - part[s_i, e_i])
                ends.append(length[e_i])
            group.append(s_i * len(meters) + b)
    e = np.concatenate(edge_i)
    g = np.concatenate(group)
    pieces = substrings(geoms[e], np.concatenate(starts), np.concatenate(ends))
    # buffering each piece and merging per group is far faster than buffering the
    # overlapping pieces as one multi-line
    order = np.argsort(g, kind="stable")
    buffered = shapely.buffer(pieces[order], buffer, quad_segs=4)
    present, first = np.unique(g[order], return_index=True)
    polygons = np.array(
        [shapely.union_all(chunk) for chunk in np.split(buffered, first[1:])], dtype=object
    )
    station, band = np.divmod(present, len(meters))
    return gpd.GeoDataFrame(
        {"station_id": ids[station], "band": band, "meters": meters[band]},
        geometry=polygons,
        crs=graph.crs,
    )


def site_stations(
    store: Store,
    *,
    model: str = "lscp",
    p: int | None = None,
    budget: float | None = None,
    capacity: int | None = None,
    minutes: float | None = None,
    speed: float | None = None,
    meters: float | None = None,
    scenario: str | None = None,
    time_limit: float | None = None,
    generate: bool = True,
    graph: WalkGraph | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Choose new station sites exactly (HiGHS) and write them as proposed stations.

    Demand: buildings with households (weights = households). Columns: existing stations
    (fixed open, cost 0) and candidate sites (their cost; generated ones completed when
    the given sites cannot reach everyone, see :mod:`planner.candidates`). Costs are
    walking metres on the network within the threshold.

    Parameters
    ----------
    store
        The store.
    model
        ``lscp`` (cover every coverable household at least cost), ``mclp`` (cover most
        households with ``p`` new stations or within ``budget``) or ``pmedian`` (least
        household-weighted walking with ``p`` new stations, all within the threshold).
    p, budget
        Number of new stations (mclp, pmedian) / budget on their cost (mclp).
    capacity
        Households a new station may serve (single-source assignment); existing
        stations keep their own capacity (0 = no limit).
    minutes, speed, meters
        The threshold (see :func:`walk_threshold`).
    scenario
        Name of the scenario (default ``<model>-<YYYYmmdd-HHMMSS>``); its earlier
        proposed stations are replaced, nothing else.
    time_limit
        Seconds for the solver; the best solution and its gap are reported.
    generate
        Complete the candidate sites from the network when needed.
    graph
        A walking graph already built from this store.
    write
        Write the proposed stations (and generated sites) to the store.

    Returns
    -------
    dict
        ``model``, ``objective``, ``optimal``, ``gap``, ``chosen`` (site ids),
        ``households_covered``, ``households_uncoverable``, ``households_total``,
        ``scenario`` and more.
    """
    model = (model or "").strip().lower()
    if model not in MODELS:
        msg = f"unknown model {model!r}; choose one of: {', '.join(MODELS)}"
        raise PlannerError(msg)
    if model == "pmedian" and p is None:
        raise PlannerError("--p is required for pmedian (the number of new stations)")
    if model == "mclp" and p is None and budget is None:
        raise PlannerError("--p (or --budget) is required for mclp")
    if p is not None and p < 0:
        msg = f"--p must be 0 or more, got {p}"
        raise PlannerError(msg)
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        msg = f"--budget must be 0 or more, got {budget:g}"
        raise PlannerError(msg)
    if budget is not None and model != "mclp":
        raise PlannerError("--budget applies to mclp only")
    if capacity is not None and capacity <= 0:
        msg = f"--capacity must be a positive number of households, got {capacity}"
        raise PlannerError(msg)
    limit = walk_threshold(minutes=minutes, speed=speed, meters=meters)
    buildings = _buildings(store)
    graph = _graph(store, graph)
    stations = store.read("stations")
    sites = store.read("candidate_sites")
    existing = stations[stations["status"].fillna("existing").eq("existing").to_numpy()]
    ex_nodes = _station_nodes(graph, existing["station_id"].to_numpy())
    given = sites[~sites["generated"].to_numpy()].reset_index(drop=True)
    site_lookup = dict(zip(graph.site_ids.tolist(), graph.site_node.tolist(), strict=True))
    given_nodes = np.array([site_lookup.get(i, -1) for i in given["site_id"]], dtype=np.int64)
    generated = complete_sites(
        graph,
        buildings.to_crs(graph.crs),
        np.concatenate([ex_nodes, given_nodes]),
        limit=limit,
    )
    if not generate:
        generated = generated.iloc[:0]
    gen_nodes = generated.pop("node").to_numpy().astype(np.int64)
    cand = pd.concat([given, generated.to_crs(given.crs)], ignore_index=True)
    cand = gpd.GeoDataFrame(cand, geometry="geometry", crs=sites.crs)
    cand_nodes = np.concatenate([given_nodes, gen_nodes])
    columns = np.concatenate([ex_nodes, cand_nodes])
    fixed = np.r_[np.ones(len(existing), dtype=bool), np.zeros(len(cand), dtype=bool)]
    if not (~fixed).any() and model != "lscp":
        raise PlannerError("no candidate sites: add some to candidate_sites first")
    cost = cand["cost"].to_numpy(dtype=float)
    site_costs = np.r_[np.zeros(len(existing)), np.where(np.isfinite(cost), cost, 1.0)]
    households = buildings["households"].to_numpy()
    demand = np.flatnonzero(households > 0)
    weights = households[demand].astype(float)
    # p-median assigns every household to an open station however far; the others only
    # need the pairs within the threshold
    reach = np.inf if model == "pmedian" else limit
    matrix = _reach_matrix(graph, columns, graph.building_node[demand], reach)
    caps = None
    if capacity is not None:
        ex_cap = existing["capacity"].to_numpy(dtype=float)
        caps = np.r_[np.where(ex_cap > 0, ex_cap, np.inf), np.full(len(cand), float(capacity))]
    try:
        if model == "lscp":
            solver = LSCP.from_cost_matrix(
                matrix,
                limit,
                site_costs=site_costs,
                fixed_sites=fixed,
                weights=weights if caps is not None else None,
                capacity=caps,
            )
        elif model == "mclp":
            solver = MCLP.from_cost_matrix(
                matrix,
                limit,
                weights,
                p=p,
                budget=budget,
                site_costs=site_costs,
                fixed_sites=fixed,
                capacity=caps,
            )
        else:
            solver = PMedian.from_cost_matrix(matrix, weights, p, fixed_sites=fixed, capacity=caps)
        solver.solve(time_limit=time_limit)
    except NoSolutionError as exc:
        hint = ""
        if model == "pmedian":
            hint = (
                f"; {p} new stations cannot serve every reachable household (separate parts "
                "of the walking network, or capacity): raise --p"
            )
        msg = f"{model}: no solution ({exc}){hint}"
        raise PlannerError(msg) from None
    except ValueError as exc:
        raise PlannerError(f"{model}: {exc}") from None
    chosen = np.asarray(solver.chosen, dtype=np.int64)
    new = chosen[~fixed[chosen]]
    open_mask = fixed.copy()
    open_mask[chosen] = True
    near = matrix.tocoo()
    inside = near.data <= limit
    rows, cols = near.row[inside], near.col[inside]
    covered = np.zeros(len(demand), dtype=bool)
    covered[rows[open_mask[cols]]] = True
    coverable = np.zeros(len(demand), dtype=bool)
    coverable[rows] = True
    picked = cand.iloc[new - len(existing)].reset_index(drop=True)
    name = scenario or f"{model}-{datetime.now():%Y%m%d-%H%M%S}"
    report: dict[str, Any] = {
        "model": model,
        "scenario": name,
        "objective": float(solver.objective),
        "optimal": bool(solver.optimal),
        "gap": float(solver.gap),
        "chosen": [str(s) for s in picked["site_id"]],
        "chosen_generated": int(picked["generated"].sum()),
        "existing_stations": [str(s) for s in existing["station_id"]],
        "p": p,
        "budget": budget,
        "capacity": capacity,
        "threshold_m": round(limit, 2),
        "candidates": int(len(cand)),
        "candidates_generated": int(len(generated)),
        "households_total": int(households.sum()),
        "households_demand": int(weights.sum()),
        "households_covered": int(weights[covered].sum()),
        "households_uncovered": int(weights[~covered].sum()),
        "households_uncoverable": int(weights[~coverable].sum()),
        "buildings_uncoverable": int((~coverable).sum()),
        "solve_seconds": round(float(solver.solve_time or 0.0), 3),
    }
    if model == "pmedian":
        report["total_walk_m"] = float(solver.total_distance)
    if write:
        _write_proposed(store, stations, sites, generated, picked, name, capacity, report)
    return report


def _write_proposed(
    store: Store,
    stations: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    generated: gpd.GeoDataFrame,
    picked: gpd.GeoDataFrame,
    name: str,
    capacity: int | None,
    report: dict[str, Any],
) -> None:
    """Replace the proposed stations of scenario ``name`` and the generated sites."""
    same = (stations["status"].to_numpy() == "proposed") & (stations["scenario"].to_numpy() == name)
    new = gpd.GeoDataFrame(
        {
            "station_id": [f"{name}:{s}" for s in picked["site_id"]],
            "name": picked["name"].to_numpy(),
            "kind": "station",
            "status": "proposed",
            "scenario": name,
            "site_id": picked["site_id"].to_numpy(),
            "capacity": capacity or 0,
            "source": "planner sites",
        },
        geometry=picked.geometry.to_numpy(),
        crs=picked.crs,
    )
    out = pd.concat([stations[~same], new.to_crs(stations.crs)], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=stations.crs)
    kept = sites[~sites["generated"].to_numpy()]
    all_sites = pd.concat([kept, generated.to_crs(sites.crs)], ignore_index=True)
    all_sites = gpd.GeoDataFrame(all_sites, geometry="geometry", crs=sites.crs)
    detail = {k: report[k] for k in ("model", "objective", "optimal", "chosen")}
    store.write_many(
        {"stations": out, "candidate_sites": all_sites},
        log=[
            {
                "layer": "stations",
                "action": "sites",
                "detail": detail,
                "reason": f"planner sites --model {report['model']} --scenario {name}",
            }
        ],
        metadata={"latest_scenario": name},
    )


def run_coverage_and_sites(store: Store, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Demo step: LSCP sites, then 15-minute coverage and 5/10/15-minute isochrones.

    Returns the three reports under ``sites``, ``coverage`` and ``isochrones``; a store
    without buildings or walkable roads (e.g. a roads-only extract) is skipped with a note.
    """
    if store.count("buildings") == 0 or store.count("roads") == 0:
        return {"skipped": "the store has no buildings or no roads to walk"}
    progress("walking network")
    graph = build_walk_graph(store)
    progress("station sites (LSCP)")
    sites = site_stations(store, model="lscp", scenario="lscp", graph=graph)
    # the proposed stations join the network as stations: rebuild once
    graph = build_walk_graph(store)
    progress("coverage")
    cover = coverage(store, graph=graph)
    progress("isochrones")
    iso = isochrones(store, graph=graph)
    return {
        "sites": sites,
        "coverage": {k: v for k, v in cover.items() if k not in ("stations", "grids")},
        "isochrones": iso,
    }
