"""Build the walking network (步行网络) from a store and measure walking distances on it.

The graph follows how residents actually walk: compound walls (围墙) and fences block,
residents leave a walled compound (小区) only through its gates (出入口), railways and
water block except where a way crosses them on a bridge, in a tunnel or at a shared node
(a level crossing or a ford). Buildings, stations and candidate sites are joined to the
nearest walkable point they can reach without crossing a wall, and that joining distance
counts as walking.

Rules, in detail
----------------
- Nodes are the road vertices that are junctions: ends of ways, and vertices shared by
  two ways (in OSM connected ways share nodes). Geometric crossings without a shared
  vertex are not junctions, so bridges and tunnels cross other ways without meeting them.
- A way crossing a wall, fence, retaining wall or the outline of a walled compound is
  cut at the crossing unless an open gate (``access`` other than ``no``) lies within
  ``gate_tolerance`` metres of the crossing point. Touching a wall or running along it
  is not crossing; the side of the wall is tested on either side of each crossing point.
- Railways, waterways and water outlines block everything but the ways mapped across
  them: a way crossing one is a bridge, tunnel, culvert, level crossing or ford and is
  kept. (OSM asks ways crossing on one level to share a node and ways on different
  levels to carry ``bridge``/``tunnel`` on one of them; the barriers layer does not keep
  the railway's or river's own bridge/tunnel tags, so cutting untagged roads would cut
  the real roads under railway bridges.) They do block joins: a building never joins a
  way across a railway or river. Bridges and tunnels also pass over/under walls.
- A walled compound with no open gate on its outline is treated as open (the data are
  incomplete, not the compound sealed) and listed in ``WalkGraph.report``.
- A building is joined to the nearest point of a walkable edge such that the joining
  line crosses no barrier; a building in a walled compound must join an edge inside that
  compound (or, if the compound has no inner way, walk straight to its nearest gate on
  the network). The joining line's length is added to its walking distance.

Distances are computed with :func:`scipy.sparse.csgraph.dijkstra` (multi-source, with a
distance limit) on the graph's CSR matrix; :meth:`WalkGraph.to_networkx` gives the same
graph in osmnx's conventions (a ``MultiDiGraph`` with ``x``/``y`` node attributes,
``length`` edge attributes and a ``crs``) for comparison and for other tools.

The walking steps built on the graph (:mod:`planner.coverage`, :mod:`planner.siting`)
share from here the walking threshold (:func:`walk_threshold`: metres from minutes and
speed) and their demand (:func:`read_buildings`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from planner.arrays import ranges, smallest_per_pair
from planner.errors import PlannerError
from planner.settings import settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    import networkx as nx
    from numpy.typing import ArrayLike, NDArray

    from planner.store import Store

__all__ = [
    "LEVEL_KINDS",
    "MIN_PART_M",
    "WALL_KINDS",
    "WalkGraph",
    "build_walk_graph",
    "distances_from",
    "join_points",
    "nearest_source",
    "reach_matrix",
    "read_buildings",
    "read_network_layers",
    "substrings",
    "walk_threshold",
]

#: Connected parts of the network shorter than this (metres of way) are fragments:
#: features join them only when no larger part is within reach.
MIN_PART_M = 500.0
#: Barrier kinds that only a gate lets people through.
WALL_KINDS = ("wall", "fence", "retaining_wall")
#: Barrier kinds that only a bridge, tunnel or shared node lets people across.
LEVEL_KINDS = ("railway", "waterway", "water")

# Coordinates are merged into one node when equal to the millimetre (metric CRS).
_KEY_SCALE = 1000.0
# Half-length of the probe used to tell a crossing from a touch, in metres.
_PROBE = 0.05
# A gate counts as a road vertex when this close to one (metres).
_SHARED = 0.01
# Dense rows of a reach matrix are computed this many cells at a time.
# (The matrix is stored symmetric, so Dijkstra runs it as directed: scipy's undirected
# mode would rebuild the transpose on every call.)
_CHUNK_CELLS = 2e7

_LAYERS = ("roads", "barriers", "compounds", "gates", "buildings", "stations", "candidate_sites")


@dataclass
class WalkGraph:
    """An undirected walking graph in a metric CRS, with the store's features attached.

    Attributes
    ----------
    matrix
        Symmetric ``n × n`` CSR matrix of edge lengths in metres (parallel edges: the
        shortest); explicit zeros are edges of length 0.
    x, y
        Node coordinates in ``crs``.
    node_kind, node_ref
        Per node: ``junction``, ``gate``, ``barrier`` (one side of a cut crossing),
        ``snap`` (where a feature joins an edge), ``building``, ``station`` or ``site``;
        and the id of the feature for the last four kinds.
    edges
        The edges (``u``, ``v``, ``length``, ``kind`` = road/connector, ``road_id``) with
        their line geometry in ``crs``.
    crs
        The metric CRS.
    building_ids, building_node, building_snap
        Buildings in layer order, their node (-1 if they could not be joined) and the
        length of their joining line.
    station_ids, station_node, site_ids, site_node
        Stations and candidate sites, likewise.
    report
        What the build did: counts, cut crossings, walled compounds without gates,
        buildings that could not be joined.
    """

    matrix: sp.csr_array
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    node_kind: NDArray[np.object_]
    node_ref: NDArray[np.object_]
    edges: gpd.GeoDataFrame
    crs: Any
    building_ids: NDArray[np.object_]
    building_node: NDArray[np.int64]
    building_snap: NDArray[np.float64]
    station_ids: NDArray[np.object_]
    station_node: NDArray[np.int64]
    site_ids: NDArray[np.object_]
    site_node: NDArray[np.int64]
    report: dict[str, Any] = field(default_factory=dict)
    #: Nodes ``>= core`` are feature leaves (buildings, stations, sites), each joined to
    #: one core node ``leaf_anchor[i - core]`` by a connector of ``leaf_offset[i - core]``.
    core: int = -1
    leaf_anchor: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    leaf_offset: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    _core_matrix: sp.csr_array | None = field(default=None, repr=False)
    #: What joining a feature checked (the barrier index, the walled compounds with gates,
    #: the snap limit), kept so that :func:`join_points` joins later points by the same rules.
    _join_rules: tuple[shapely.STRtree, gpd.GeoDataFrame, float] | None = field(
        default=None, repr=False
    )

    @property
    def core_matrix(self) -> sp.csr_array:
        """:attr:`matrix` without the feature leaves (no shortest path passes a leaf)."""
        if self._core_matrix is None:
            core = self.n_nodes if self.core < 0 else self.core
            self._core_matrix = sp.csr_array(self.matrix[:core, :core])
        return self._core_matrix

    def anchors(self, nodes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The core node of each node (itself unless a leaf) and the connector length."""
        nodes = np.asarray(nodes, dtype=np.int64)
        anchor = nodes.copy()
        offset = np.zeros(len(nodes))
        if self.core >= 0:
            leaf = nodes >= self.core
            anchor[leaf] = self.leaf_anchor[nodes[leaf] - self.core]
            offset[leaf] = self.leaf_offset[nodes[leaf] - self.core]
        return anchor, offset

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.matrix.shape[0])

    def station_nodes(self, ids: ArrayLike) -> NDArray[np.int64]:
        """The node of each station id (-1 for a station not on the network)."""
        return _nodes_of(self.station_ids, self.station_node, ids)

    def site_nodes(self, ids: ArrayLike) -> NDArray[np.int64]:
        """The node of each candidate site id (-1 for a site not on the network)."""
        return _nodes_of(self.site_ids, self.site_node, ids)

    def to_networkx(self) -> nx.MultiDiGraph:
        """Return the graph as an osmnx-style ``MultiDiGraph`` (both directions per edge).

        Nodes carry ``x``, ``y``, ``kind`` and ``ref``; edges carry ``length`` (metres),
        ``kind`` and ``road_id``; ``graph["crs"]`` is the metric CRS. Node ids are the
        row indices of :attr:`matrix`.
        """
        import networkx as nx

        graph = nx.MultiDiGraph(crs=self.crs)
        graph.add_nodes_from(
            (i, {"x": float(x), "y": float(y), "kind": k, "ref": r})
            for i, (x, y, k, r) in enumerate(
                zip(self.x, self.y, self.node_kind, self.node_ref, strict=True)
            )
        )
        e = self.edges
        attrs = [
            {"length": float(length), "kind": kind, "road_id": road}
            for length, kind, road in zip(e["length"], e["kind"], e["road_id"], strict=True)
        ]
        u = e["u"].to_numpy()
        v = e["v"].to_numpy()
        graph.add_edges_from(zip(u.tolist(), v.tolist(), attrs, strict=True))
        graph.add_edges_from(zip(v.tolist(), u.tolist(), attrs, strict=True))
        return graph

    def node_frame(self) -> gpd.GeoDataFrame:
        """The nodes as a ``walk_nodes`` layer (in :attr:`crs`)."""
        return gpd.GeoDataFrame(
            {"node": np.arange(self.n_nodes), "kind": self.node_kind, "ref": self.node_ref},
            geometry=shapely.points(self.x, self.y),
            crs=self.crs,
        )

    def edge_frame(self) -> gpd.GeoDataFrame:
        """The edges as a ``walk_edges`` layer (in :attr:`crs`).

        Edges shorter than 1 mm (a feature standing right on a way) have no drawable line and
        are left out of the layer; they remain in :attr:`matrix`.
        """
        frame = self.edges[["u", "v", "length", "kind", "road_id", "geometry"]]
        geoms = frame.geometry.to_numpy()
        drawable = shapely.is_valid(geoms) & (shapely.length(geoms) > 1e-3)
        return frame[drawable].copy()


def _nodes_of(
    feature_ids: NDArray[np.object_], feature_node: NDArray[np.int64], ids: ArrayLike
) -> NDArray[np.int64]:
    """The node of each id among the features (the last feature of a repeated id)."""
    lookup = dict(zip(feature_ids.tolist(), feature_node.tolist(), strict=True))
    return np.array([lookup.get(i, -1) for i in np.asarray(ids).tolist()], dtype=np.int64)


# --------------------------------------------------------------------------------------
# reading the inputs
# --------------------------------------------------------------------------------------


def read_network_layers(store: Store) -> dict[str, gpd.GeoDataFrame]:
    """Read the layers the walking graph needs, in the store's metric CRS."""
    return {name: store.read_metric(name) for name in _LAYERS}


def read_buildings(store: Store) -> gpd.GeoDataFrame:
    """The store's buildings (the demand of every walking step), in the store's CRS.

    Raises
    ------
    PlannerError
        If the store has no buildings.
    """
    buildings = store.read("buildings")
    if buildings.empty:
        msg = (
            "the store has no buildings; import them first "
            "(`planner import FILE --store STORE --layer buildings`)"
        )
        raise PlannerError(msg, source=str(store.path))
    return buildings


def walk_threshold(
    *, minutes: float | None = None, speed: float | None = None, meters: float | None = None
) -> float:
    """The walking threshold in metres from minutes and speed, or given directly.

    Parameters
    ----------
    minutes
        Walking minutes (default ``settings.walking.minutes``).
    speed
        Walking speed in m/s (default ``settings.walking.speed_mps``).
    meters
        The threshold in metres, instead of minutes and speed.

    Returns
    -------
    float
        Metres.
    """
    if meters is not None and (minutes is not None or speed is not None):
        msg = "give the threshold as `minutes`/`speed` or as `meters`, not both"
        raise PlannerError(msg)
    if meters is not None:
        if not np.isfinite(meters) or meters <= 0:
            msg = f"`meters` must be a positive number, got {meters:g}"
            raise PlannerError(msg)
        return float(meters)
    minutes = settings.walking.minutes if minutes is None else minutes
    speed = settings.walking.speed_mps if speed is None else speed
    if not np.isfinite(minutes) or minutes <= 0:
        msg = f"`minutes` must be a positive number, got {minutes:g}"
        raise PlannerError(msg)
    if not np.isfinite(speed) or speed <= 0:
        msg = f"`speed` must be a positive number of m/s, got {speed:g}"
        raise PlannerError(msg)
    return float(minutes) * 60.0 * float(speed)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), None)


def _yes(values: pd.Series) -> NDArray[np.bool_]:
    """OSM-style truthy tags: present and not ``no``."""
    text = values.map(lambda v: None if v is None else str(v).strip().lower())
    return (text.notna() & ~text.isin(["no", "false", "0", ""])).to_numpy()


def _layer(layers: Mapping[str, gpd.GeoDataFrame], name: str, crs: Any) -> gpd.GeoDataFrame:
    from planner.store import empty_layer

    frame = layers.get(name)
    if frame is None:
        return empty_layer(name).to_crs(crs)
    geoms = frame.geometry.to_numpy()
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    index = frame.index
    if keep.all() and isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame  # nothing to drop: no copy (the build never writes to its inputs)
    return frame[keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# the build
# --------------------------------------------------------------------------------------


def build_walk_graph(
    source: Store | Mapping[str, gpd.GeoDataFrame],
    *,
    gate_tolerance: float | None = None,
    snap_limit: float | None = None,
) -> WalkGraph:
    """Build the walking graph of a store (or of layers already in one metric CRS).

    The build is one function on purpose: its stages (road parts, barriers, cut
    crossings, road graph, joined features, leaves) hand each other a dozen arrays and
    read top to bottom in the order of the rules in the module docstring.

    Parameters
    ----------
    source
        A :class:`~planner.store.Store`, or a mapping of layer name → GeoDataFrame
        (``roads`` required; ``barriers``, ``compounds``, ``gates``, ``buildings``,
        ``stations``, ``candidate_sites`` optional), all in the same metric CRS.
    gate_tolerance
        A crossing of a wall or walled-compound outline is open when a gate lies
        within this many metres of it.
    snap_limit
        Features farther than this from any reachable edge are left unjoined.

    Returns
    -------
    WalkGraph
    """
    gate_tolerance = settings.walking.gate_tolerance_m if gate_tolerance is None else gate_tolerance
    snap_limit = settings.walking.snap_limit_m if snap_limit is None else snap_limit
    if hasattr(source, "read_metric"):
        layers = read_network_layers(source)  # type: ignore[arg-type]
    else:
        layers = dict(source)  # type: ignore[arg-type]
    if "roads" not in layers or layers["roads"].crs is None:
        msg = "build_walk_graph needs a roads layer with a metric CRS"
        raise ValueError(msg)
    crs = layers["roads"].crs
    if crs.is_geographic:
        msg = f"build_walk_graph needs layers in a metric CRS, got {crs}"
        raise ValueError(msg)
    roads = _layer(layers, "roads", crs)
    if "walkable" in roads:
        roads = roads[roads["walkable"].astype(bool).to_numpy()].reset_index(drop=True)
    if roads.empty:
        msg = "the store has no walkable roads: import an OSM file or a roads layer first"
        raise PlannerError(msg)
    barriers = _layer(layers, "barriers", crs)
    compounds = _layer(layers, "compounds", crs)
    gates = _layer(layers, "gates", crs)
    if len(gates):
        gates = gates[_text(gates, "access").fillna("").str.lower().ne("no").to_numpy()]
    gate_xy = shapely.get_coordinates(gates.geometry.to_numpy())
    gate_tree = cKDTree(gate_xy) if len(gate_xy) else None

    # -- road lines, one row per single part -------------------------------------------
    parts, part_road = shapely.get_parts(roads.geometry.to_numpy(), return_index=True)
    ok = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    parts, part_road = parts[ok], part_road[ok]
    level_free = _yes(_text(roads, "bridge")) | _yes(_text(roads, "tunnel"))
    part_level_free = level_free[part_road]

    # -- barriers: walls (gates open them) and level barriers (bridges cross them) -----
    walled, walled_report = _walled_compounds(compounds, gate_xy, gate_tolerance)
    wall_lines = barriers[barriers["kind"].isin(WALL_KINDS).to_numpy()].geometry.to_numpy()
    level_lines = barriers[barriers["kind"].isin(LEVEL_KINDS).to_numpy()].geometry.to_numpy()
    wall_lines = np.concatenate(
        [_lines(wall_lines), _lines(shapely.boundary(walled.geometry.to_numpy()))]
    )
    level_lines = _lines(level_lines)
    blockers = np.concatenate([wall_lines, level_lines])

    cuts, cut_report = _cut_crossings(parts, part_level_free, wall_lines, gate_tree, gate_tolerance)

    # -- road graph --------------------------------------------------------------------
    edges, node_xy, node_kind = _road_edges(parts, part_road, cuts, gate_xy)
    road_ids = _text(roads, "road_id").to_numpy()
    edges["road_id"] = road_ids[edges["part_road"].to_numpy()]
    edges["kind"] = "road"

    # -- join buildings, stations and sites ---------------------------------------------
    blocker_tree = shapely.STRtree(blockers)
    buildings = _layer(layers, "buildings", crs)
    stations = _layer(layers, "stations", crs)
    sites = _layer(layers, "candidate_sites", crs)
    points = np.concatenate(
        [
            shapely.point_on_surface(buildings.geometry.to_numpy()),
            shapely.point_on_surface(stations.geometry.to_numpy()),
            shapely.point_on_surface(sites.geometry.to_numpy()),
        ]
    )
    kinds = np.repeat(
        np.array(["building", "station", "site"], dtype=object),
        [len(buildings), len(stations), len(sites)],
    )
    refs = np.concatenate(
        [
            _text(buildings, "building_id").to_numpy(),
            _text(stations, "station_id").to_numpy(),
            _text(sites, "site_id").to_numpy(),
        ]
    )
    attach = _attach(
        points,
        edges,
        node_xy,
        node_kind,
        blocker_tree,
        walled,
        snap_limit,
    )
    graph_edges, node_xy, node_kind, node_ref, point_node, point_snap = _insert(
        edges, node_xy, node_kind, points, kinds, refs, attach
    )
    graph_edges = graph_edges.set_crs(crs)
    matrix = _csr(graph_edges, len(node_xy))
    # feature nodes come last, each a leaf on its connector
    leaf = np.isin(node_kind, ["building", "station", "site"])
    core = int(np.argmax(leaf)) if leaf.any() else len(node_xy)
    assert not leaf[:core].any() and leaf[core:].all()
    conn = graph_edges[(graph_edges["kind"] == "connector").to_numpy()]
    leaf_anchor = np.zeros(len(node_xy) - core, dtype=np.int64)
    leaf_offset = np.zeros(len(node_xy) - core)
    leaf_anchor[conn["u"].to_numpy() - core] = conn["v"].to_numpy()
    leaf_offset[conn["u"].to_numpy() - core] = conn["length"].to_numpy()
    nb, ns = len(buildings), len(stations)
    unjoined = refs[:nb][point_node[:nb] < 0]
    report = {
        "nodes": int(len(node_xy)),
        "edges": int(len(graph_edges)),
        "road_edges": int((graph_edges["kind"] == "road").sum()),
        "cut_crossings": cut_report,
        "walled_compounds": walled_report["walled"],
        "walled_without_gates": walled_report["without_gates"],
        "buildings_unjoined": [str(r) for r in unjoined[:50]],
        "buildings_unjoined_count": int(len(unjoined)),
        "buildings_via_gate": int(attach["via_gate"][:nb].sum()),
    }
    return WalkGraph(
        matrix=matrix,
        x=node_xy[:, 0].copy(),
        y=node_xy[:, 1].copy(),
        node_kind=node_kind,
        node_ref=node_ref,
        edges=graph_edges,
        crs=crs,
        building_ids=refs[:nb],
        building_node=point_node[:nb],
        building_snap=point_snap[:nb],
        station_ids=refs[nb : nb + ns],
        station_node=point_node[nb : nb + ns],
        site_ids=refs[nb + ns :],
        site_node=point_node[nb + ns :],
        report=report,
        core=core,
        leaf_anchor=leaf_anchor,
        leaf_offset=leaf_offset,
        _join_rules=(blocker_tree, walled, float(snap_limit)),
    )


def join_points(graph: WalkGraph, points: ArrayLike) -> pd.DataFrame:
    """How each point joins the walking network, by the rules the graph joined buildings.

    A point (someone's position, a tapped spot) is joined as a building would be: to the
    nearest point of a walkable way such that the joining line crosses no barrier, from
    inside a walled compound to a way inside it or straight to its nearest gate, within
    the graph's snap limit. The way it joins is a piece of :attr:`WalkGraph.edges`
    between two nodes (junctions or the join nodes of features), so a walk from the point
    leaves through one of those two nodes.

    Parameters
    ----------
    graph
        A graph made by :func:`build_walk_graph`.
    points
        Shapely points in the graph's CRS.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``u`` and ``v`` (the nodes the point can walk to first; both
        the gate for a gate join; -1 when the point could not be joined), ``to_u`` and
        ``to_v`` (metres from the point to each, the joining line included), ``join_m``
        (the joining line), ``edge`` (row of :attr:`WalkGraph.edges` joined, -1 for a
        gate or none) and ``snap_x``/``snap_y`` (where the joining line meets the way).
    """
    if graph._join_rules is None:
        msg = "join_points needs a graph made by build_walk_graph"
        raise ValueError(msg)
    blocker_tree, walled, limit = graph._join_rules
    points = np.asarray(points, dtype=object)
    n = len(points)
    road = np.flatnonzero((graph.edges["kind"] == "road").to_numpy())
    ways = graph.edges.iloc[road].reset_index(drop=True)
    node_xy = np.column_stack([graph.x, graph.y])
    attach = _attach(points, ways, node_xy, graph.node_kind, blocker_tree, walled, limit)
    edge = attach["edge"]
    on_way = edge >= 0
    by_gate = attach["gate"] >= 0
    u = np.full(n, -1, dtype=np.int64)
    v = np.full(n, -1, dtype=np.int64)
    to_u = np.full(n, np.inf)
    to_v = np.full(n, np.inf)
    snap = np.full((n, 2), np.nan)
    dist = attach["dist"]
    if on_way.any():
        e = edge[on_way]
        t = attach["t"][on_way]
        length = ways["length"].to_numpy()[e]
        u[on_way] = ways["u"].to_numpy()[e]
        v[on_way] = ways["v"].to_numpy()[e]
        to_u[on_way] = dist[on_way] + t
        to_v[on_way] = dist[on_way] + np.maximum(length - t, 0.0)
        geoms = ways.geometry.to_numpy()[e]
        snap[on_way] = shapely.get_coordinates(shapely.line_interpolate_point(geoms, t))
    if by_gate.any():
        gate = attach["gate"][by_gate]
        u[by_gate] = v[by_gate] = gate
        to_u[by_gate] = to_v[by_gate] = dist[by_gate]
        snap[by_gate] = node_xy[gate]
    return pd.DataFrame(
        {
            "u": u,
            "v": v,
            "to_u": to_u,
            "to_v": to_v,
            "join_m": np.where(on_way | by_gate, dist, np.nan),
            "edge": np.where(on_way, road[np.maximum(edge, 0)], -1),
            "snap_x": snap[:, 0],
            "snap_y": snap[:, 1],
        }
    )


def _lines(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Single LineStrings of the given (multi)lines and rings."""
    if len(geoms) == 0:
        return np.zeros(0, dtype=object)
    parts = shapely.get_parts(shapely.get_parts(geoms))
    parts = parts[shapely.get_type_id(parts).astype(int) == 1]
    return parts[shapely.length(parts) > 0]


def _walled_compounds(
    compounds: gpd.GeoDataFrame, gate_xy: NDArray[np.float64], tolerance: float
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Walled compounds that have a gate on their outline; report those that have none."""
    if compounds.empty or "walled" not in compounds:
        return compounds.iloc[:0], {"walled": 0, "without_gates": []}
    walled = compounds[compounds["walled"].astype(bool).to_numpy()].reset_index(drop=True)
    if walled.empty:
        return walled, {"walled": 0, "without_gates": []}
    outline = shapely.boundary(walled.geometry.to_numpy())
    has_gate = np.zeros(len(walled), dtype=bool)
    if len(gate_xy):
        tree = shapely.STRtree(outline)
        hit = tree.query(shapely.points(gate_xy), predicate="dwithin", distance=tolerance)[1]
        has_gate[hit] = True
    ids = _text(walled, "compound_id").to_numpy()
    names = _text(walled, "name").to_numpy()
    without = [
        {"compound_id": str(i), "name": n}
        for i, n in zip(ids[~has_gate], names[~has_gate], strict=True)
    ]
    return walled[has_gate].reset_index(drop=True), {
        "walled": int(len(walled)),
        "without_gates": without,
    }


def _cut_crossings(
    parts: NDArray[np.object_],
    level_free: NDArray[np.bool_],
    walls: NDArray[np.object_],
    gate_tree: cKDTree | None,
    gate_tolerance: float,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Points where a road part crosses a wall with no gate: (part, m, x, y)."""
    empty = pd.DataFrame({"part": [], "m": [], "x": [], "y": []})
    report = {"walls": 0, "walls_at_gates": 0}
    if len(walls) == 0 or len(parts) == 0:
        return empty, report
    tree = shapely.STRtree(walls)
    pi, bi = tree.query(parts, predicate="intersects")
    keep = ~level_free[pi]
    pi, bi = pi[keep], bi[keep]
    inter = shapely.intersection(parts[pi], walls[bi])
    # get_parts twice flattens collections; map owners back through both levels
    first, first_owner = shapely.get_parts(inter, return_index=True)
    pts, second_owner = shapely.get_parts(first, return_index=True)
    owner = first_owner[second_owner]
    is_point = shapely.get_type_id(pts) == 0
    pts, owner = pts[is_point], owner[is_point]
    if len(pts) == 0:
        return empty, report
    part, road, line = pi[owner], parts[pi[owner]], walls[bi[owner]]
    m = shapely.line_locate_point(road, pts)
    inner = (m > _PROBE) & (m < shapely.length(road) - _PROBE)
    part, road, line, pts, m = (a[inner] for a in (part, road, line, pts, m))
    # a crossing has the road on both sides of the wall's local direction (not a touch)
    xy = shapely.get_coordinates(pts)
    before = shapely.get_coordinates(shapely.line_interpolate_point(road, m - _PROBE))
    after = shapely.get_coordinates(shapely.line_interpolate_point(road, m + _PROBE))
    t = shapely.line_locate_point(line, pts)
    b1 = shapely.get_coordinates(shapely.line_interpolate_point(line, t - _PROBE))
    b2 = shapely.get_coordinates(shapely.line_interpolate_point(line, t + _PROBE))
    direction = b2 - b1
    s1 = direction[:, 0] * (before - xy)[:, 1] - direction[:, 1] * (before - xy)[:, 0]
    s2 = direction[:, 0] * (after - xy)[:, 1] - direction[:, 1] * (after - xy)[:, 0]
    crossing = s1 * s2 < 0
    part, xy, m = part[crossing], xy[crossing], m[crossing]
    allowed = np.zeros(len(xy), dtype=bool)
    if gate_tree is not None and len(xy):
        dist, _ = gate_tree.query(xy, distance_upper_bound=gate_tolerance)
        allowed = np.isfinite(dist)
    report = {"walls": int((~allowed).sum()), "walls_at_gates": int(allowed.sum())}
    cut = ~allowed
    frame = pd.DataFrame({"part": part[cut], "m": m[cut], "x": xy[cut, 0], "y": xy[cut, 1]})
    return frame.drop_duplicates(["part", "m"]), report


def _keys(xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """Integer millimetre keys of coordinates, one row per point."""
    return np.round(xy * _KEY_SCALE).astype(np.int64)


def _road_edges(
    parts: NDArray[np.object_],
    part_road: NDArray[np.int64],
    cuts: pd.DataFrame,
    gate_xy: NDArray[np.float64],
) -> tuple[pd.DataFrame, NDArray[np.float64], NDArray[np.object_]]:
    """Split road parts at junctions and cut points into edges.

    Returns the edges (``u``, ``v``, ``length``, ``part_road``, ``geometry``), the node
    coordinates and the node kinds.
    """
    xy, line = shapely.get_coordinates(parts, return_index=True)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    same = line[1:] == line[:-1]
    m = np.zeros(len(xy))
    m[1:] = np.where(same, seg, 0.0)
    # cumulative distance along each line
    starts = np.flatnonzero(np.r_[True, ~same])
    csum = np.cumsum(m)
    m = csum - np.repeat(csum[starts], np.diff(np.r_[starts, len(xy)]))
    is_cut = np.zeros(len(xy), dtype=bool)
    if len(cuts):
        cxy = cuts[["x", "y"]].to_numpy()
        xy = np.concatenate([xy, cxy])
        line = np.concatenate([line, cuts["part"].to_numpy().astype(line.dtype)])
        m = np.concatenate([m, cuts["m"].to_numpy()])
        is_cut = np.r_[is_cut, np.ones(len(cuts), dtype=bool)]
        order = np.lexsort((m, line))
        xy, line, m, is_cut = xy[order], line[order], m[order], is_cut[order]
    keys = _keys(xy)
    _, pid, count = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    pid = pid.ravel()
    n = len(xy)
    first = np.r_[True, line[1:] != line[:-1]]
    last = np.r_[line[1:] != line[:-1], True]
    is_node = first | last | (count[pid] > 1) | is_cut
    gate_pid = np.zeros(0, dtype=np.int64)
    if len(gate_xy):
        dist, idx = cKDTree(xy).query(gate_xy, distance_upper_bound=_SHARED)
        hit = np.isfinite(dist)
        gate_pid = pid[idx[hit]]
        is_node |= np.isin(pid, gate_pid)
    # segments k → k+1 within a line; a new edge starts at every node
    s = np.flatnonzero(~last)
    edge_of_seg = np.cumsum(is_node[s]) - 1
    n_edges = int(edge_of_seg[-1]) + 1 if len(s) else 0
    seg_len = np.hypot(*(xy[s + 1] - xy[s]).T)
    length = np.bincount(edge_of_seg, weights=seg_len, minlength=n_edges)
    first_seg = np.flatnonzero(np.r_[True, edge_of_seg[1:] != edge_of_seg[:-1]])
    last_seg = np.r_[first_seg[1:] - 1, len(s) - 1]
    u = pid[s[first_seg]]
    v = pid[s[last_seg] + 1]
    loop = u == v
    # edge geometry: the start of each segment, then the end of the last one
    coords = np.concatenate([xy[s], xy[s[last_seg] + 1]])
    owner = np.concatenate([edge_of_seg, np.arange(n_edges)])
    rank = np.concatenate([np.arange(len(s)), last_seg + 0.5])
    order = np.lexsort((rank, owner))
    geoms = shapely.linestrings(coords[order], indices=owner[order])
    part_of_edge = line[s[first_seg]]
    # closed loops and zero-length pieces (a cut on a vertex) carry no walking
    u, v, length, geoms, part_of_edge = (a[~loop] for a in (u, v, length, geoms, part_of_edge))
    n_edges = len(u)
    # nodes: compact ids of the points used as edge ends
    used, inverse = np.unique(np.r_[u, v], return_inverse=True)
    u, v = inverse[:n_edges], inverse[n_edges:]
    point_xy = np.zeros((pid.max() + 1 if n else 0, 2))
    point_xy[pid] = xy
    node_xy = point_xy[used]
    point_cut = np.zeros(len(point_xy), dtype=bool)
    point_cut[pid[is_cut]] = True
    node_kind = np.full(len(used), "junction", dtype=object)
    node_kind[np.isin(used, gate_pid)] = "gate"
    # a cut point becomes one separate node per edge end, so nothing passes through it
    cut_node = point_cut[used]
    new_xy = []
    next_id = len(used)
    for ends in (u, v):
        hit = np.flatnonzero(cut_node[ends])
        new_ids = np.arange(next_id, next_id + len(hit))
        new_xy.append(node_xy[ends[hit]])
        ends[hit] = new_ids
        next_id += len(hit)
    node_xy = np.concatenate([node_xy, *new_xy])
    node_kind = np.concatenate([node_kind, np.full(next_id - len(used), "barrier", dtype=object)])
    edges = pd.DataFrame(
        {
            "u": u.astype(np.int64),
            "v": v.astype(np.int64),
            "length": length,
            "part_road": part_road[part_of_edge],
            "geometry": geoms,
        }
    )
    return edges, node_xy, node_kind


def _attach(
    points: NDArray[np.object_],
    edges: pd.DataFrame,
    node_xy: NDArray[np.float64],
    node_kind: NDArray[np.object_],
    blocker_tree: shapely.STRtree,
    walled: gpd.GeoDataFrame,
    limit: float,
) -> dict[str, NDArray]:
    """Choose the edge (and position on it) each point joins, without crossing a barrier.

    Its passes (major edges, then fragments; nearest edge first, then edges in rounds of
    growing rank; then gates of compounds with no inner way) share the per-point arrays
    they fill, so they stay together.

    Returns arrays per point: ``edge`` (-1: none, or joined to a gate node), ``t``
    (position along the edge), ``dist`` (joining length), ``gate`` (gate node or -1),
    ``via_gate``.
    """
    n = len(points)
    out = {
        "edge": np.full(n, -1, dtype=np.int64),
        "t": np.zeros(n),
        "dist": np.full(n, np.inf),
        "gate": np.full(n, -1, dtype=np.int64),
        "via_gate": np.zeros(n, dtype=bool),
    }
    if n == 0 or edges.empty:
        return out
    geoms = edges["geometry"].to_numpy()
    # the innermost walled compound holding each point
    compound = np.full(n, -1, dtype=np.int64)
    polys = walled.geometry.to_numpy()
    if len(polys):
        pi, ci = shapely.STRtree(polys).query(points, predicate="within")
        order = np.argsort(-shapely.area(polys[ci]))
        compound[pi[order]] = ci[order]  # smallest written last, so it wins

    def valid(pi: NDArray[np.int64], ei: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
        t = shapely.line_locate_point(geoms[ei], points[pi])
        snap = shapely.line_interpolate_point(geoms[ei], t)
        conn = shapely.linestrings(
            np.stack([shapely.get_coordinates(points[pi]), shapely.get_coordinates(snap)], 1)
        )
        bad = np.zeros(len(pi), dtype=bool)
        ci, _ = blocker_tree.query(conn, predicate="crosses")
        bad[ci] = True
        inside = compound[pi] >= 0
        if inside.any():
            idx = np.flatnonzero(inside)
            # joined from inside its own compound: the join must not touch the outline
            bad[idx] |= ~shapely.contains_properly(polys[compound[pi[idx]]], conn[idx])
        return ~bad, t

    # fragments (a footway mapped unconnected) would strand whoever joins them: join the
    # connected network first, and fragments only when nothing else is within reach
    major = _major_edges(edges, len(node_xy))
    # a point left after the first pass has every major edge within the limit tested and
    # refused, so the second pass need not test those joining lines again
    refused = np.zeros(len(geoms), dtype=bool)
    for subset in (np.flatnonzero(major), np.arange(len(geoms))):
        todo = np.flatnonzero(out["edge"] < 0)
        if len(todo) == 0 or len(subset) == 0:
            continue
        tree = shapely.STRtree(geoms[subset])
        pi, ei = tree.query_nearest(points[todo], max_distance=limit, all_matches=False)
        pi, ei = todo[pi], subset[ei]
        ok, t = valid(pi, ei)
        d = shapely.distance(points[pi], geoms[ei])
        out["edge"][pi[ok]] = ei[ok]
        out["t"][pi[ok]] = t[ok]
        out["dist"][pi[ok]] = d[ok]
        todo = np.setdiff1d(todo, pi[ok])
        if len(todo) == 0:
            continue
        pj, ej = tree.query(points[todo], predicate="dwithin", distance=limit)
        pj, ej = todo[pj], subset[ej]
        d = shapely.distance(points[pj], geoms[ej])
        # nearest first (stable: ties keep the query's order); the joining lines are
        # tested in rounds of growing rank, so a point stops at its first valid edge
        # instead of testing every edge within the limit against every barrier
        order = np.lexsort((d, pj))
        pj, ej, d = pj[order], ej[order], d[order]
        start = np.flatnonzero(np.r_[True, pj[1:] != pj[:-1]]) if len(pj) else pj[:0]
        rank = np.arange(len(pj)) - np.repeat(start, np.diff(np.r_[start, len(pj)]))
        done = np.zeros(len(points), dtype=bool)
        lo, hi = 0, 4
        while lo <= (rank.max() if len(rank) else -1):
            idx = np.flatnonzero((rank >= lo) & (rank < hi) & ~done[pj] & ~refused[ej])
            ok, t = valid(pj[idx], ej[idx])
            idx, t = idx[ok], t[ok]
            # idx is in sorted order, so the first hit per point is its nearest valid edge
            first = np.r_[True, pj[idx[1:]] != pj[idx[:-1]]] if len(idx) else idx[:0] > 0
            idx, t = idx[first], t[first]
            out["edge"][pj[idx]] = ej[idx]
            out["t"][pj[idx]] = t
            out["dist"][pj[idx]] = d[idx]
            done[pj[idx]] = True
            lo, hi = hi, hi * 4
        refused = major
    # buildings in a walled compound with no inner way walk straight to its nearest gate
    left = np.flatnonzero((out["edge"] < 0) & (compound >= 0))
    gate_nodes = np.flatnonzero(node_kind == "gate")
    if len(left) and len(gate_nodes):
        gate_pts = shapely.points(node_xy[gate_nodes])
        outline = shapely.boundary(polys)
        gi, ci = shapely.STRtree(gate_pts).query(outline, predicate="dwithin", distance=1.0)
        for_point = pd.DataFrame({"c": ci, "g": gate_nodes[gi]})
        pairs = pd.DataFrame({"p": left, "c": compound[left]}).merge(for_point, on="c")
        if len(pairs):
            p = pairs["p"].to_numpy()
            g = pairs["g"].to_numpy()
            d = shapely.distance(points[p], shapely.points(node_xy[g]))
            conn = shapely.shortest_line(points[p], shapely.points(node_xy[g]))
            ok = np.ones(len(p), dtype=bool)
            ci2, _ = blocker_tree.query(conn, predicate="crosses")
            ok[ci2] = False
            ok &= d <= limit
            p, g, d = p[ok], g[ok], d[ok]
            order = np.lexsort((d, p))
            p, g, d = p[order], g[order], d[order]
            first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, dtype=bool)
            out["gate"][p[first]] = g[first]
            out["dist"][p[first]] = d[first]
            out["via_gate"][p[first]] = True
    return out


def _major_edges(edges: pd.DataFrame, n_nodes: int) -> NDArray[np.bool_]:
    """Edges of connected parts holding at least ``MIN_PART_M`` metres of way."""
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    adjacency = sp.coo_array((np.ones(len(u)), (u, v)), shape=(n_nodes, n_nodes))
    _, label = connected_components(adjacency, directed=False)
    metres = np.bincount(label[u], weights=edges["length"].to_numpy(), minlength=label.max() + 1)
    return metres[label[u]] >= MIN_PART_M


def substrings(geoms: NDArray[np.object_], start: ArrayLike, end: ArrayLike) -> NDArray[np.object_]:
    """Parts of lines between distances ``start`` and ``end`` along them (vectorised).

    Parameters
    ----------
    geoms
        LineStrings.
    start, end
        Distances from each line's start, ``0 <= start <= end <= length``.

    Returns
    -------
    numpy.ndarray of LineStrings (two equal points when ``start == end``)
    """
    start = np.asarray(start, dtype=np.float64)
    end = np.asarray(end, dtype=np.float64)
    n = len(geoms)
    if n == 0:
        return np.zeros(0, dtype=object)
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    same = owner[1:] == owner[:-1]
    step = np.r_[0.0, np.where(same, seg, 0.0)]
    csum = np.cumsum(step)
    first = np.flatnonzero(np.r_[True, ~same])
    counts = np.diff(np.r_[first, len(xy)])
    m = csum - np.repeat(csum[first], counts)
    # one sorted key for all lines: line index times a span longer than any line
    span = float(m.max()) + 1.0
    key = owner * span + m
    lo = np.searchsorted(key, np.arange(n) * span + start, side="right")
    hi = np.searchsorted(key, np.arange(n) * span + end, side="left")
    hi = np.maximum(hi, lo)
    inner = ranges(lo, hi - lo)
    a = shapely.get_coordinates(shapely.line_interpolate_point(geoms, start))
    b = shapely.get_coordinates(shapely.line_interpolate_point(geoms, end))
    coords = np.concatenate([a, xy[inner], b])
    piece = np.concatenate([np.arange(n), np.repeat(np.arange(n), hi - lo), np.arange(n)])
    rank = np.concatenate([np.full(n, -1), inner, np.full(n, len(xy))])
    order = np.lexsort((rank, piece))
    return shapely.linestrings(coords[order], indices=piece[order])


def _insert(
    edges: pd.DataFrame,
    node_xy: NDArray[np.float64],
    node_kind: NDArray[np.object_],
    points: NDArray[np.object_],
    kinds: NDArray[np.object_],
    refs: NDArray[np.object_],
    attach: Mapping[str, NDArray],
) -> tuple[
    gpd.GeoDataFrame,
    NDArray[np.float64],
    NDArray[np.object_],
    NDArray[np.object_],
    NDArray[np.int64],
    NDArray[np.float64],
]:
    """Split edges at the join points and add one node and connector per joined feature."""
    n_road = len(node_xy)
    node_ref = np.full(n_road, None, dtype=object)
    joined = np.flatnonzero(attach["edge"] >= 0)
    by_gate = np.flatnonzero(attach["gate"] >= 0)
    # snap nodes, one per joined feature, ordered along each edge
    e = attach["edge"][joined]
    t = attach["t"][joined]
    order = np.lexsort((t, e))
    joined, e, t = joined[order], e[order], t[order]
    snap_node = n_road + np.arange(len(joined))
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    length = edges["length"].to_numpy()
    # pieces of each split edge: u→s1, s1→s2, ..., sk→v
    first = np.r_[True, e[1:] != e[:-1]] if len(e) else np.zeros(0, dtype=bool)
    last = np.r_[e[1:] != e[:-1], True] if len(e) else np.zeros(0, dtype=bool)
    prev_node = np.where(first, u[e], np.r_[0, snap_node[:-1]])
    prev_t = np.where(first, 0.0, np.r_[0.0, t[:-1]])
    piece_e = np.concatenate([e, e[last]])
    piece_a = np.concatenate([prev_node, snap_node[last]])
    piece_b = np.concatenate([snap_node, v[e[last]]])
    piece_s = np.concatenate([prev_t, t[last]])
    piece_t = np.concatenate([t, length[e[last]]])
    # keep the split lengths exact to the edge length (line_locate_point is on the line)
    piece_t = np.minimum(piece_t, length[piece_e])
    piece_s = np.minimum(piece_s, piece_t)
    geoms = edges["geometry"].to_numpy()
    split = np.unique(e)
    kept = edges.drop(index=split)
    pieces = pd.DataFrame(
        {
            "u": piece_a,
            "v": piece_b,
            "length": piece_t - piece_s,
            "road_id": edges["road_id"].to_numpy()[piece_e],
            "kind": "road",
            "geometry": substrings(geoms[piece_e], piece_s, piece_t),
        }
    )
    snap_xy = shapely.get_coordinates(shapely.line_interpolate_point(geoms[e], t))
    # feature nodes and their connectors
    n_points = len(points)
    point_node = np.full(n_points, -1, dtype=np.int64)
    feature = np.concatenate([joined, by_gate])
    feature_node = n_road + len(joined) + np.arange(len(feature))
    point_node[feature] = feature_node
    feature_xy = shapely.get_coordinates(points[feature])
    target = np.concatenate([snap_node, attach["gate"][by_gate]])
    all_xy = np.concatenate([node_xy, snap_xy, feature_xy])
    conn = pd.DataFrame(
        {
            "u": feature_node,
            "v": target,
            "length": attach["dist"][feature],
            "road_id": None,
            "kind": "connector",
            "geometry": shapely.linestrings(
                np.stack([feature_xy, all_xy[target]], axis=1)
                if len(feature)
                else np.zeros((0, 2, 2))
            ),
        }
    )
    out = pd.concat(
        [kept[["u", "v", "length", "road_id", "kind", "geometry"]], pieces, conn],
        ignore_index=True,
    )
    node_kind = np.concatenate(
        [node_kind, np.full(len(joined), "snap", dtype=object), kinds[feature]]
    )
    node_ref = np.concatenate([node_ref, refs[joined], refs[feature]])
    point_snap = np.where(point_node >= 0, attach["dist"], np.nan)
    frame = gpd.GeoDataFrame(out, geometry="geometry", crs=None)
    return frame, all_xy, node_kind, node_ref, point_node, point_snap


def _csr(edges: pd.DataFrame, n: int) -> sp.csr_array:
    """Symmetric CSR matrix of edge lengths, the shortest of parallel edges."""
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    w = edges["length"].to_numpy(dtype=np.float64)
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    vals = np.concatenate([w, w])
    loop = rows == cols
    rows, cols, vals = smallest_per_pair(rows[~loop], cols[~loop], vals[~loop])
    return sp.csr_array((vals, (rows, cols)), shape=(n, n))


# --------------------------------------------------------------------------------------
# distances
# --------------------------------------------------------------------------------------


def distances_from(
    graph: WalkGraph, sources: ArrayLike, *, limit: float = np.inf
) -> NDArray[np.float64]:
    """Walking metres from each source node to every node (``inf`` beyond ``limit``)."""
    sources = np.asarray(sources, dtype=np.int64)
    return dijkstra(graph.matrix, directed=True, indices=sources, limit=limit)


def nearest_source(
    graph: WalkGraph, sources: ArrayLike, *, limit: float = np.inf
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Walking metres from every node to its nearest source, and which source (-1: none).

    One multi-source Dijkstra run; the returned source is an index into ``sources``.
    """
    sources = np.asarray(sources, dtype=np.int64)
    n = graph.n_nodes
    if len(sources) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    dist, _, origin = dijkstra(
        graph.matrix,
        directed=True,
        indices=sources,
        limit=limit,
        min_only=True,
        return_predecessors=True,
    )
    # origin holds node ids; map back to positions in `sources` (first one if repeated)
    position = np.full(n, -1, dtype=np.int64)
    position[sources[::-1]] = np.arange(len(sources))[::-1]
    which = np.where(origin >= 0, position[np.maximum(origin, 0)], -1)
    return dist, which


def reach_matrix(
    graph: WalkGraph, sources: ArrayLike, targets: ArrayLike, limit: float
) -> sp.csr_array:
    """Walking metres from every source node to every target node within ``limit``.

    Parameters
    ----------
    graph
        The walking graph.
    sources, targets
        Node indices (e.g. ``graph.site_node``, ``graph.building_node``); negative
        entries (features not on the network) give empty columns/rows.
    limit
        Largest distance kept, in metres (``np.inf``: every reachable pair).

    Returns
    -------
    scipy.sparse.csr_array
        ``len(targets) × len(sources)``; every stored entry is a reachable pair (an
        explicit 0.0 included), missing entries are farther than ``limit``.
    """
    sources = np.asarray(sources, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    if np.isnan(limit) or limit < 0:
        msg = f"limit must be >= 0, got {limit!r}"
        raise ValueError(msg)
    shape = (len(targets), len(sources))
    good_s = np.flatnonzero(sources >= 0)
    good_t = np.flatnonzero(targets >= 0)
    if len(good_s) == 0 or len(good_t) == 0:
        return sp.csr_array(shape)
    # Dijkstra runs on the core graph: a feature leaf is reached only through its one
    # connector, so its distance is its anchor's plus the connector (and no shortest path
    # passes through a leaf); each distinct anchor is searched once
    s_anchor, s_off = graph.anchors(sources[good_s])
    t_anchor, t_off = graph.anchors(targets[good_t])
    uniq_s, inv_s = np.unique(s_anchor, return_inverse=True)
    inv_s = inv_s.ravel()
    matrix = graph.core_matrix
    chunk = max(1, int(_CHUNK_CELLS // max(matrix.shape[0], 1)))
    rows, cols, vals = [], [], []
    for lo in range(0, len(uniq_s), chunk):
        block = dijkstra(matrix, directed=True, indices=uniq_s[lo : lo + chunk], limit=limit)
        sub = block[:, t_anchor]
        u, t = np.nonzero(np.isfinite(sub) & (sub <= limit))
        rows.append(t)
        cols.append(u + lo)
        vals.append(sub[u, t] + t_off[t])
    r = np.concatenate(rows)
    u = np.concatenate(cols)
    d = np.concatenate(vals)
    # each distinct anchor back to every requested column that has it
    order = np.argsort(inv_s, kind="stable")
    count = np.bincount(inv_s, minlength=len(uniq_s))
    start = np.r_[0, np.cumsum(count)[:-1]]
    rep = count[u]
    col = order[ranges(start[u], rep)]
    r = np.repeat(r, rep)
    d = np.repeat(d, rep) + s_off[col]
    keep = d <= limit
    out = sp.coo_array((d[keep], (good_t[r[keep]], good_s[col[keep]])), shape=shape)
    return out.tocsr()
