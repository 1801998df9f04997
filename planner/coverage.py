"""15-minute walking coverage (15分钟覆盖) and isochrones (等时圈) on a store.

Store-level steps: each reads its layers, builds (or reuses) the walking graph of
:mod:`planner.network`, computes, writes its results back in one all-or-nothing write and
returns a JSON-able report.

- :func:`coverage`: for every building the walking distance to its nearest station and
  which station; households covered and not, in total and per grid; written to
  ``buildings`` (``station_id``, ``walk_m``, ``covered``) and
  ``stations.households_served``, with the graph as ``walk_edges``/``walk_nodes``.
- :func:`isochrones`: walking bands per station built from the reached network (edges,
  partial edges cut at the reach limit, buffered and merged) → ``isochrones``.
- :func:`run_coverage_and_sites`: the demo's analysis step: station sites by LSCP
  (:func:`planner.siting.site_stations`), then coverage and isochrones with them. It
  stays here, above both, under the name the web jobs and the demo pipeline give it
  (``planner.coverage:run_coverage_and_sites``).

Which stations count: existing ones plus the proposed ones of the latest scenario
(``latest_scenario`` in the store's metadata), or of a named scenario, or existing only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import InputError, PlannerError
from planner.network import (
    build_walk_graph,
    distances_from,
    nearest_source,
    read_buildings,
    substrings,
    walk_threshold,
)
from planner.progress import Progress, no_progress
from planner.settings import settings
from planner.siting import site_stations

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from planner.network import WalkGraph
    from planner.store import Store

__all__ = [
    "coverage",
    "isochrones",
    "run_coverage_and_sites",
    "select_stations",
    "walk_to_stations",
]


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
            msg = "give `scenario` or `existing_only`, not both"
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
    return mask, used, ids, graph.station_nodes(ids)


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
        (per grid when buildings have grid codes), ``walled_without_gates``; when
        ``write`` is False also ``frame``: the buildings with ``station_id``, ``walk_m``
        and ``covered`` for these stations (as :func:`isochrones` gives its layer).
    """
    limit = walk_threshold(minutes=minutes, speed=speed, meters=meters)
    buildings = read_buildings(store)
    graph = graph if graph is not None else build_walk_graph(store)
    stations = store.read("stations")
    mask, used, ids, nodes = _counted_stations(store, stations, graph, scenario, existing_only)
    on_net = nodes >= 0
    walk, origin = _nearest(graph, nodes[on_net])
    reached = origin >= 0
    covered = reached & (walk <= limit)
    households = buildings["households"].to_numpy()
    bnode = graph.building_node
    out = _walk_columns(buildings, ids[on_net], walk, origin, limit)
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
        "minutes": None if meters is not None else minutes or settings.walking.minutes,
        "speed_mps": None if meters is not None else speed or settings.walking.speed_mps,
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
        _write_coverage(store, out, stations, graph, report)
    else:
        report["frame"] = out
    return report


def _nearest(graph: WalkGraph, nodes: NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
    """Walk (m) from each building to its nearest source node, and which (-1: none)."""
    dist, which = nearest_source(graph, nodes)
    bnode = graph.building_node
    walk = np.where(bnode >= 0, dist[np.maximum(bnode, 0)], np.inf)
    origin = np.where(bnode >= 0, which[np.maximum(bnode, 0)], -1)
    origin[~np.isfinite(walk)] = -1
    return walk, origin


def _walk_columns(
    buildings: gpd.GeoDataFrame,
    ids: np.ndarray,
    walk: np.ndarray,
    origin: np.ndarray,
    limit: float,
) -> gpd.GeoDataFrame:
    """``buildings`` with ``station_id``, ``walk_m`` and ``covered``."""
    reached = origin >= 0
    out = buildings.copy()
    station_of = np.full(len(buildings), None, dtype=object)
    station_of[reached] = ids[origin[reached]]
    out["station_id"] = station_of
    out["walk_m"] = np.where(reached, np.round(walk, 2), np.nan)
    out["covered"] = reached & (walk <= limit)
    return out


def walk_to_stations(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    *,
    minutes: float | None = None,
    speed: float | None = None,
    meters: float | None = None,
) -> gpd.GeoDataFrame:
    """Each building's nearest station on foot, without a store: a what-if in a notebook.

    Parameters
    ----------
    graph
        A walking graph built from layers (:func:`planner.network.build_walk_graph`
        with ``buildings`` and ``stations``); its stations are the ones counted.
    buildings
        The same buildings, in the same order, as given to the graph.
    minutes, speed, meters
        The threshold (see :func:`planner.network.walk_threshold`; 15 minutes by default).

    Returns
    -------
    geopandas.GeoDataFrame
        ``buildings`` with ``station_id`` (nearest station, None if none is reachable),
        ``walk_m`` and ``covered`` (within the threshold).

    Examples
    --------
    >>> layers = {n: store.read_metric(n) for n in ("roads", "buildings", "stations")}
    >>> graph = build_walk_graph(layers)  # doctest: +SKIP
    >>> walk_to_stations(graph, layers["buildings"])["covered"].mean()  # doctest: +SKIP
    """
    if len(buildings) != len(graph.building_ids):
        msg = "`buildings` must be the buildings the graph was built with, in the same order"
        raise InputError(msg, param="buildings")
    limit = walk_threshold(minutes=minutes, speed=speed, meters=meters)
    on_net = graph.station_node >= 0
    walk, origin = _nearest(graph, graph.station_node[on_net])
    return _walk_columns(buildings, graph.station_ids[on_net], walk, origin, limit)


def _write_coverage(
    store: Store,
    buildings: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    graph: WalkGraph,
    report: dict[str, Any],
) -> None:
    """Write what :func:`coverage` found, and the graph it walked, in one write."""
    detail = {k: report[k] for k in ("threshold_m", "scenario", "households_covered")}
    store.write_many(
        {
            "buildings": buildings,
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
    minutes: Sequence[float] | None = None,
    speed: float | None = None,
    scenario: str | None = None,
    existing_only: bool = False,
    buffer: float | None = None,
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
    minutes = settings.walking.isochrone_minutes if minutes is None else minutes
    buffer = settings.walking.isochrone_buffer_m if buffer is None else buffer
    bands = sorted({float(m) for m in minutes})
    if not bands or bands[0] <= 0 or not np.isfinite(bands[-1]):
        msg = f"`minutes` must be positive numbers, got {', '.join(map(str, minutes))}"
        raise PlannerError(msg)
    meters = np.array([walk_threshold(minutes=m, speed=speed) for m in bands])
    read_buildings(store)
    graph = graph if graph is not None else build_walk_graph(store)
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
