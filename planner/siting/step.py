"""The store-level siting step: ``planner sites`` on a store's layers, written back to it.

Demand is the buildings with households; the sites are the existing stations (fixed
open) and the candidate sites, completed from the network where they cannot reach
everyone (:mod:`planner.candidates`). The model is built on the walking graph
(``from_walk_graph``) and its chosen sites become ``status=proposed`` stations of a
named scenario.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.candidates import complete_sites
from planner.errors import InputError, PlannerError
from planner.network import build_walk_graph, read_buildings, walk_threshold
from planner.siting.highs import NoSolutionError
from planner.siting.lscp import LSCP
from planner.siting.mclp import MCLP
from planner.siting.pmedian import PMedian

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from planner.network import WalkGraph
    from planner.siting.model import SitingModel
    from planner.store import Store

__all__ = ["MODELS", "site_stations"]

#: The models by identifier: the ``--model`` values and the ``model`` of the reports.
MODELS: dict[str, type[SitingModel]] = {m.name: m for m in (LSCP, MCLP, PMedian)}


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
        The threshold (see :func:`planner.network.walk_threshold`).
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
    kind = _check_request(model, p=p, budget=budget, capacity=capacity)
    limit = walk_threshold(minutes=minutes, speed=speed, meters=meters)
    buildings = read_buildings(store)
    graph = graph if graph is not None else build_walk_graph(store)
    stations = store.read("stations")
    sites = store.read("candidate_sites")
    existing = stations[stations["status"].fillna("existing").eq("existing").to_numpy()]
    cand, generated, columns = _candidates(
        graph, buildings, existing, sites, limit=limit, generate=generate
    )
    fixed = np.r_[np.ones(len(existing), dtype=bool), np.zeros(len(cand), dtype=bool)]
    if not (~fixed).any() and kind is not LSCP:
        raise PlannerError("no candidate sites: add some to candidate_sites first")
    cost = cand["cost"].to_numpy(dtype=float)
    site_costs = np.r_[np.zeros(len(existing)), np.where(np.isfinite(cost), cost, 1.0)]
    households = buildings["households"].to_numpy()
    demand = np.flatnonzero(households > 0)
    weights = households[demand].astype(float)
    caps = None
    if capacity is not None:
        ex_cap = existing["capacity"].to_numpy(dtype=float)
        caps = np.r_[np.where(ex_cap > 0, ex_cap, np.inf), np.full(len(cand), float(capacity))]
    solver = _solve(
        kind,
        graph,
        graph.building_node[demand],
        columns,
        limit=limit,
        weights=weights,
        p=p,
        budget=budget,
        site_costs=site_costs,
        fixed=fixed,
        capacity=caps,
        time_limit=time_limit,
    )
    chosen = np.asarray(solver.chosen, dtype=np.int64)
    new = chosen[~fixed[chosen]]
    open_mask = fixed.copy()
    open_mask[chosen] = True
    covered, coverable = _within(solver, open_mask, limit)
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
    if isinstance(solver, PMedian):
        report["total_walk_m"] = float(solver.total_distance)
    if write:
        _write_proposed(store, stations, sites, generated, picked, name, capacity, report)
    return report


def _check_request(
    model: str, *, p: int | None, budget: float | None, capacity: int | None
) -> type[SitingModel]:
    """The model class for ``model``, once its parameters are known to fit it."""
    if model not in MODELS:
        msg = f"unknown model {model!r}; choose one of: {', '.join(MODELS)}"
        raise PlannerError(msg)
    kind = MODELS[model]
    if kind is PMedian and p is None:
        raise InputError("`p` is required for pmedian (the number of new stations)", param="p")
    if kind is MCLP and p is None and budget is None:
        raise InputError("`p` (or `budget`) is required for mclp", param="p")
    if p is not None and p < 0:
        msg = f"`p` must be 0 or more, got {p}"
        raise PlannerError(msg)
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        msg = f"`budget` must be 0 or more, got {budget:g}"
        raise PlannerError(msg)
    if budget is not None and kind is not MCLP:
        raise InputError("`budget` applies to mclp only", param="budget")
    if capacity is not None and capacity <= 0:
        msg = f"`capacity` must be a positive number of households, got {capacity}"
        raise PlannerError(msg)
    return kind


def _candidates(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    limit: float,
    generate: bool,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, NDArray[np.int64]]:
    """The candidate sites: given ones, then generated ones where the given cannot reach.

    Returns
    -------
    candidates, generated, columns
        The candidate sites (given, then generated; in the sites' CRS), the generated
        ones alone (in the graph's CRS), and the graph node of every column of the model:
        the existing stations, then the candidates.
    """
    ex_nodes = graph.station_nodes(existing["station_id"].to_numpy())
    given = sites[~sites["generated"].to_numpy()].reset_index(drop=True)
    given_nodes = graph.site_nodes(given["site_id"].to_numpy())
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
    return cand, generated, np.concatenate([ex_nodes, given_nodes, gen_nodes])


def _solve(
    kind: type[SitingModel],
    graph: WalkGraph,
    demand: NDArray[np.int64],
    sites: NDArray[np.int64],
    *,
    limit: float,
    weights: NDArray[np.float64],
    p: int | None,
    budget: float | None,
    site_costs: NDArray[np.float64],
    fixed: NDArray[np.bool_],
    capacity: NDArray[np.float64] | None,
    time_limit: float | None,
) -> SitingModel:
    """Build the model of ``kind`` on the walking graph as the step poses it, and solve it.

    LSCP weighs households only to fill capacities; p-median assigns every household to
    an open station however far (no radius) and opens no site for its cost. The models'
    errors become :class:`PlannerError` for the user.
    """
    try:
        if kind is LSCP:
            solver: SitingModel = LSCP.from_walk_graph(
                graph,
                demand,
                sites,
                service_radius=limit,
                weights=weights if capacity is not None else None,
                site_costs=site_costs,
                fixed_sites=fixed,
                capacity=capacity,
            )
        elif kind is MCLP:
            solver = MCLP.from_walk_graph(
                graph,
                demand,
                sites,
                service_radius=limit,
                weights=weights,
                p=p,
                budget=budget,
                site_costs=site_costs,
                fixed_sites=fixed,
                capacity=capacity,
            )
        else:
            assert p is not None  # checked by _check_request
            solver = PMedian.from_walk_graph(
                graph, demand, sites, weights=weights, p=p, fixed_sites=fixed, capacity=capacity
            )
        return solver.solve(time_limit=time_limit)
    except NoSolutionError as exc:
        hint = ""
        if kind is PMedian:
            hint = (
                f"; {p} new stations cannot serve every reachable household (separate parts "
                "of the walking network, or capacity): raise `p`"
            )
        msg = f"{kind.name}: no solution ({exc}){hint}"
        raise PlannerError(msg) from None
    except ValueError as exc:
        raise PlannerError(f"{kind.name}: {exc}") from None


def _within(
    solver: SitingModel, open_mask: NDArray[np.bool_], limit: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per demand point: within ``limit`` of an open site, and of any site at all."""
    pairs = solver.pairs
    assert pairs.cost is not None  # built from walking costs
    inside = pairs.cost <= limit
    rows, cols = pairs.rows[inside], pairs.cols[inside]
    covered = np.zeros(solver.n_demand, dtype=bool)
    covered[rows[open_mask[cols]]] = True
    coverable = np.zeros(solver.n_demand, dtype=bool)
    coverable[rows] = True
    return covered, coverable


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
