"""Candidate sites (候选站点) for new service stations: the store's, completed from the network.

Stations go into existing space first (idle rooms, property rooms, offices: the cost in
the ``candidate_sites`` layer says so). When the store gives no candidate sites, or too
few to bring every household within the walking threshold of one, sites are generated
from walking-network junctions near residential buildings, thinned to one per cell of
``spacing`` metres, and kept only if they reach households the given sites cannot. They
are flagged ``generated=True``, kind ``generated``, with a higher cost (default 2.0), so
the siting models prefer real rooms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from planner.network import nearest_source, reach_matrix
from planner.settings import settings

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from planner.network import WalkGraph

__all__ = ["complete_sites", "generate_sites"]

#: Building categories whose households are the demand generated sites are placed for.
RESIDENTIAL = ("residential", "mixed", "house")


def generate_sites(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    *,
    spacing: float | None = None,
    reach: float | None = None,
) -> NDArray[np.int64]:
    """Network junctions near residential buildings, thinned: the nodes, best first.

    A junction (or gate) qualifies when it lies within ``reach`` metres of a residential
    building with households; of the qualifying junctions in each square cell of
    ``spacing`` metres, the one with most ways meeting is kept.

    Parameters
    ----------
    graph
        The walking graph (its CRS is the buildings' CRS).
    buildings
        The buildings layer in the graph's metric CRS.
    spacing
        Cell size of the thinning, metres.
    reach
        How near a residential building a junction must be, metres.

    Returns
    -------
    numpy.ndarray
        Node indices of the generated sites.
    """
    spacing = settings.walking.generated_site_spacing_m if spacing is None else spacing
    reach = settings.walking.generated_site_reach_m if reach is None else reach
    homes = buildings[
        buildings["category"].isin(RESIDENTIAL).to_numpy()
        & (buildings["households"].to_numpy() > 0)
    ]
    road = np.flatnonzero(np.isin(graph.node_kind, ["junction", "gate"]))
    if homes.empty or len(road) == 0:
        return np.zeros(0, dtype=np.int64)
    points = shapely.points(graph.x[road], graph.y[road])
    tree = shapely.STRtree(homes.geometry.to_numpy())
    hit, _ = tree.query(points, predicate="dwithin", distance=reach)
    near = road[np.unique(hit)]
    if len(near) == 0:
        return near
    degree = np.diff(graph.matrix.indptr)[near]
    cell = np.stack([np.floor(graph.x[near] / spacing), np.floor(graph.y[near] / spacing)], 1)
    # most ways meeting first, then a stable order, one per cell
    order = np.lexsort((near, -degree))
    _, first = np.unique(cell[order], axis=0, return_index=True)
    return np.sort(near[order[first]])


def complete_sites(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    given_nodes: NDArray[np.int64],
    *,
    limit: float,
    cost: float | None = None,
) -> gpd.GeoDataFrame:
    """Generated sites that reach households the given sites and stations cannot.

    Parameters
    ----------
    graph
        The walking graph.
    buildings
        The buildings layer in the graph's CRS, in the graph's building order.
    given_nodes
        Nodes of the existing stations and given candidate sites (-1 entries ignored).
    limit
        The walking threshold, metres.
    cost
        Cost of a generated site.

    Returns
    -------
    geopandas.GeoDataFrame
        New ``candidate_sites`` rows in the graph's CRS (empty if none are needed), with
        a ``node`` column giving each one's graph node.
    """
    cost = settings.walking.generated_site_cost if cost is None else cost
    demand = (buildings["households"].to_numpy() > 0) & (graph.building_node >= 0)
    targets = graph.building_node[demand]
    given = np.asarray(given_nodes, dtype=np.int64)
    given = given[given >= 0]
    uncovered = targets
    if len(given) and len(targets):
        uncovered = targets[~_reached(graph, given, targets, limit)]
    nodes = np.zeros(0, dtype=np.int64)
    if len(uncovered):
        nodes = generate_sites(graph, buildings)
        if len(nodes):
            nodes = nodes[_reached(graph, uncovered, nodes, limit, sources_first=False)]
        # Homes far from every junction near a home (houses set back along long rural
        # roads) get the junction nearest to them on foot, so no household is left
        # uncoverable for want of a candidate.
        nodes = np.union1d(nodes, _nearest_junctions(graph, uncovered, nodes, limit))
    return gpd.GeoDataFrame(
        {
            "site_id": [f"G-{n}" for n in nodes],
            "name": [f"生成候选点 {i + 1}" for i in range(len(nodes))],
            "kind": "generated",
            "cost": float(cost),
            "capacity": 0,
            "generated": True,
            "source": "network",
            "node": nodes,
        },
        geometry=shapely.points(graph.x[nodes], graph.y[nodes]),
        crs=graph.crs,
    )


def _nearest_junctions(
    graph: WalkGraph, targets: NDArray[np.int64], sites: NDArray[np.int64], limit: float
) -> NDArray[np.int64]:
    """The junction nearest on foot to each target no site reaches within ``limit``."""
    if len(sites):
        targets = targets[~_reached(graph, sites, targets, limit)]
    road = np.flatnonzero(np.isin(graph.node_kind, ["junction", "gate"]))
    if len(targets) == 0 or len(road) == 0:
        return np.zeros(0, dtype=np.int64)
    _, which = nearest_source(graph, road, limit=limit)
    which = which[targets]
    return np.unique(road[which[which >= 0]])


# Distances this close to the limit are settled by :func:`reach_matrix` itself, so the
# one-run screen below can never disagree with it by a rounding error.
_BAND = 1e-6


def _reached(
    graph: WalkGraph,
    sources: NDArray[np.int64],
    targets: NDArray[np.int64],
    limit: float,
    *,
    sources_first: bool = True,
) -> NDArray[np.bool_]:
    """Whether each target is within ``limit`` of any source (as :func:`reach_matrix` says).

    One multi-source Dijkstra run (``min_only``) instead of one per source; only targets
    within a rounding error of the limit are checked with :func:`reach_matrix`, as
    ``reach_matrix(graph, sources, targets)`` (``sources_first``) or with the two swapped.
    """
    dist, _ = nearest_source(graph, sources, limit=limit + 2 * _BAND)
    d = dist[targets]
    reached = d <= limit - _BAND
    unsure = np.flatnonzero(np.abs(d - limit) < _BAND)
    if len(unsure):
        if sources_first:
            exact = np.diff(reach_matrix(graph, sources, targets[unsure], limit).indptr) > 0
        else:
            exact = np.diff(reach_matrix(graph, targets[unsure], sources, limit).tocsc().indptr) > 0
        reached[unsure] = exact
    return reached
