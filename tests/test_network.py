"""Tests for planner.network: the walking graph, walls and gates, distances vs networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely.ops import substring

from planner.network import (
    LEVEL_KINDS,
    build_walk_graph,
    nearest_source,
    reach_matrix,
    read_network_layers,
    substrings,
)
from planner.settings import settings
from planner.store import Store

AREAS = ["nanjing_path", "tsinghua_path"]


@pytest.fixture(scope="module", params=AREAS)
def area(request):
    store = Store(request.getfixturevalue(request.param))
    return store, build_walk_graph(store)


def _nx_lengths(graph, sources, cutoff=None):
    return nx.multi_source_dijkstra_path_length(
        graph.to_networkx(), {int(s) for s in sources}, cutoff=cutoff, weight="length"
    )


def test_nearest_distances_equal_networkx(area):
    _, graph = area
    sources = graph.site_node[graph.site_node >= 0]
    assert len(sources) > 0
    dist, which = nearest_source(graph, sources)
    theirs = _nx_lengths(graph, sources)
    nodes = graph.building_node[graph.building_node >= 0]
    expected = np.array([theirs.get(int(n), np.inf) for n in nodes])
    ours = dist[nodes]
    assert np.array_equal(np.isinf(ours), np.isinf(expected))
    finite = np.isfinite(ours)
    assert finite.sum() > 0.9 * len(nodes)
    assert np.abs(ours[finite] - expected[finite]).max() < 0.01
    # the reported source is one at that distance
    check = np.flatnonzero(finite)[:50]
    one = dijkstra(graph.matrix, directed=False, indices=sources[which[nodes[check]]])
    assert np.allclose(one[np.arange(len(check)), nodes[check]], ours[check], atol=0.01)


def test_reach_matrix_equals_networkx_cutoff(area):
    _, graph = area
    limit = 1000.0
    matrix = reach_matrix(graph, graph.site_node, graph.building_node, limit).tocoo()
    assert matrix.shape == (len(graph.building_node), len(graph.site_node))
    nxg = graph.to_networkx()
    triples = zip(matrix.row, matrix.col, matrix.data, strict=True)
    ours = {(int(r), int(c)): float(d) for r, c, d in triples}
    theirs = {}
    row_of = {int(n): i for i, n in enumerate(graph.building_node) if n >= 0}
    for col, site in enumerate(graph.site_node):
        if site < 0:
            continue
        lengths = nx.single_source_dijkstra_path_length(
            nxg, int(site), cutoff=limit, weight="length"
        )
        for node, d in lengths.items():
            if node in row_of:
                theirs[(row_of[node], col)] = d
    assert ours.keys() == theirs.keys()
    assert max(abs(ours[k] - theirs[k]) for k in ours) < 0.01


def test_reach_matrix_repeated_and_missing_nodes(area):
    _, graph = area
    sites = graph.site_node[:3]
    cols = np.r_[sites, sites[0], -1]
    targets = np.r_[graph.building_node[:40], -1]
    full = reach_matrix(graph, cols, targets, 800.0).toarray()
    base = reach_matrix(graph, sites, targets, 800.0).toarray()
    assert np.array_equal(full[:, :3], base)
    assert np.array_equal(full[:, 3], base[:, 0])
    assert not full[:, 4].any() and not full[-1].any()


def test_graph_is_osmnx_style(area):
    _, graph = area
    nxg = graph.to_networkx()
    assert isinstance(nxg, nx.MultiDiGraph)
    assert nxg.graph["crs"] == graph.crs
    node = next(iter(nxg.nodes(data=True)))[1]
    assert {"x", "y"} <= set(node)
    assert all("length" in d for _, _, d in list(nxg.edges(data=True))[:20])
    assert nxg.number_of_edges() == 2 * len(graph.edges)


def test_crossings_without_shared_vertex_are_not_junctions(area):
    store, graph = area
    roads = store.read_metric("roads")
    lines = shapely.get_parts(roads.geometry.to_numpy())
    tree = shapely.STRtree(lines)
    a, b = tree.query(lines, predicate="crosses")
    keep = a < b
    points = shapely.get_parts(shapely.intersection(lines[a[keep]], lines[b[keep]]))
    points = points[shapely.get_type_id(points) == 0]
    vertices = shapely.multipoints(shapely.get_coordinates(lines))
    off_vertex = shapely.distance(points, vertices) > 0.01
    assert off_vertex.any(), "expected bridges/tunnels crossing without a shared node"
    node_tree = shapely.STRtree(shapely.points(graph.x, graph.y))
    near = node_tree.query(points[off_vertex], predicate="dwithin", distance=0.01)[0]
    assert len(near) == 0


def test_joins_never_cross_railways_or_water(area):
    store, graph = area
    barriers = store.read_metric("barriers")
    level = barriers[barriers["kind"].isin(LEVEL_KINDS)].geometry.to_numpy()
    connectors = graph.edges[graph.edges["kind"] == "connector"].geometry.to_numpy()
    assert len(connectors) > 0
    assert not shapely.crosses(connectors[:, None], level[None, :]).any()
    # every building was joined (the shared extracts have a way near each)
    assert (graph.building_node >= 0).mean() > 0.99
    assert np.nanmax(graph.building_snap) <= settings.walking.snap_limit_m


def test_substrings_match_shapely_substring(area):
    _, graph = area
    geoms = graph.edges.geometry.to_numpy()[:300]
    length = shapely.length(geoms)
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, len(geoms)) * length
    b = a + rng.uniform(0, 1, len(geoms)) * (length - a)
    ours = substrings(geoms, a, b)
    theirs = [substring(g, s, e) for g, s, e in zip(geoms, a, b, strict=True)]
    assert np.allclose(shapely.length(ours), b - a, atol=1e-6)
    for mine, ref in zip(ours, theirs, strict=True):
        if ref.length > 1e-6:
            assert mine.equals_exact(ref, 1e-6) or mine.hausdorff_distance(ref) < 1e-6


def test_layers_written_for_qgis(tsinghua_store):
    from planner.cli import run

    assert run(["network", str(tsinghua_store.path), "--json"]) == 0
    tsinghua_store.refresh()
    edges = tsinghua_store.read("walk_edges")
    nodes = tsinghua_store.read("walk_nodes")
    assert len(edges) > 1000 and len(nodes) > 1000
    assert set(edges["kind"]) == {"road", "connector"}
    assert {"junction", "building", "site", "station"} <= set(nodes["kind"])
    assert edges["u"].max() < len(nodes)


# --------------------------------------------------------------------------------------
# walls and gates: a real residential compound of the Tsinghua extract, walled by us
# --------------------------------------------------------------------------------------

COMPOUND = "c226670876"  # 新林院: ways enter it at several points


@pytest.fixture(scope="module")
def walled_case(tsinghua_path):
    """Layers with 新林院 walled and one gate on one of its crossings, and an outside station."""
    layers = read_network_layers(Store(tsinghua_path))
    compounds = layers["compounds"].copy()
    compounds["walled"] = compounds["compound_id"] == COMPOUND
    poly = compounds.loc[compounds["walled"], "geometry"].iloc[0]
    roads = layers["roads"]
    lines = shapely.get_parts(roads.geometry.to_numpy())
    lines = lines[shapely.crosses(lines, poly)]
    crossings = shapely.get_parts(shapely.intersection(lines, poly.boundary))
    crossings = crossings[shapely.get_type_id(crossings) == 0]
    assert len(crossings) >= 2
    gate = crossings[0]
    other = crossings[np.argmax(shapely.distance(crossings, gate))]
    assert shapely.distance(gate, other) > 50
    # the station stands on the way 30 m outside the other crossing
    line = lines[np.argmin(shapely.distance(lines, other))]
    m = line.project(other)
    ends = [line.interpolate(max(m - 30, 0)), line.interpolate(min(m + 30, line.length))]
    station = next(p for p in ends if not poly.contains(p))
    gates = layers["gates"]
    gates = gates[shapely.distance(gates.geometry.to_numpy(), poly.boundary) > 50]
    walled_gates = gates.iloc[:0].copy()
    walled_gates = walled_gates.reindex(range(1))
    walled_gates["gate_id"] = "test-gate"
    walled_gates = walled_gates.set_geometry([gate], crs=gates.crs)
    stations = layers["stations"].iloc[:0].reindex(range(1))
    stations["station_id"] = "test-station"
    stations["status"] = "existing"
    stations = stations.set_geometry([station], crs=layers["stations"].crs)
    base = dict(layers, stations=stations, gates=gates)
    walled = dict(base, compounds=compounds, gates=_concat(gates, walled_gates))
    no_gate = dict(base, compounds=compounds)
    open_ = dict(base, compounds=compounds.assign(walled=False))
    return {
        "walled": walled,
        "no_gate": no_gate,
        "open": open_,
        "gate": gate,
        "poly": poly,
        "inside": (layers["buildings"]["compound_id"] == COMPOUND).to_numpy(),
    }


def _concat(a, b):
    import geopandas as gpd
    import pandas as pd

    return gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), crs=a.crs)


def _to_station(graph):
    dist, _ = nearest_source(graph, graph.station_node)
    return dist[graph.building_node]


def test_walled_compound_residents_leave_through_the_gate(walled_case):
    walled = build_walk_graph(walled_case["walled"])
    opened = build_walk_graph(walled_case["open"])
    inside = walled_case["inside"]
    assert inside.sum() >= 3
    d_wall = _to_station(walled)[inside]
    d_open = _to_station(opened)[inside]
    assert np.isfinite(d_wall).all() and np.isfinite(d_open).all()
    assert (d_wall >= d_open - 0.01).all()
    assert (d_wall > d_open + 20).any()
    assert walled.report["cut_crossings"]["walls"] >= 1
    assert walled.report["cut_crossings"]["walls_at_gates"] >= 1
    # each resident's shortest path passes the gate
    gate = walled_case["gate"]
    _, pred = dijkstra(
        walled.matrix, directed=False, indices=walled.station_node[0], return_predecessors=True
    )
    e = walled.edges.sort_values("length", ascending=False)
    line_of = {}
    for u, v, geom in zip(e["u"], e["v"], e.geometry, strict=True):
        line_of[(u, v)] = line_of[(v, u)] = geom  # the shortest parallel edge wins
    for start in walled.building_node[inside]:
        path, node = [int(start)], int(pred[start])
        while node >= 0:
            path.append(node)
            node = int(pred[node])
        steps = zip(path[:-1], path[1:], strict=True)
        walked = shapely.multilinestrings([line_of[p] for p in steps])
        assert shapely.distance(walked, gate) <= settings.walking.gate_tolerance_m
    # and no edge of the graph enters the compound elsewhere
    poly = walled_case["poly"]
    edges = walled.edges.geometry.to_numpy()
    entering = edges[shapely.crosses(edges, poly.boundary)]
    points, owner = shapely.get_parts(
        shapely.intersection(entering, poly.boundary), return_index=True
    )
    # an edge ending on the wall where a way was cut does not pass it
    ends = shapely.boundary(entering[owner])
    through = shapely.distance(points, ends) > 0.01
    assert through.any()
    assert (shapely.distance(points[through], gate) <= settings.walking.gate_tolerance_m).all()


def test_walled_compound_without_gate_is_open_and_reported(walled_case):
    no_gate = build_walk_graph(walled_case["no_gate"])
    opened = build_walk_graph(walled_case["open"])
    ids = [c["compound_id"] for c in no_gate.report["walled_without_gates"]]
    assert ids == [COMPOUND]
    inside = walled_case["inside"]
    assert np.allclose(_to_station(no_gate)[inside], _to_station(opened)[inside])


def test_real_walls_and_gates_of_tsinghua(tsinghua_path):
    graph = build_walk_graph(Store(tsinghua_path))
    # Tsinghua's mapped walls are crossed by ways at their gates
    assert graph.report["cut_crossings"]["walls_at_gates"] >= 1
    assert "gate" in set(graph.node_kind)


def test_no_roads_is_a_user_error(tmp_path):
    from planner.errors import PlannerError

    store = Store.create(tmp_path / "empty.gpkg", metric_crs="EPSG:4549")
    with pytest.raises(PlannerError, match="no walkable roads"):
        build_walk_graph(store)


def test_osmnx_routes_on_the_walk_graph(area):
    import osmnx as ox

    _, graph = area
    nxg = graph.to_networkx()
    joined = np.flatnonzero(graph.building_node >= 0)[:3]
    target = int(graph.building_node[joined[-1]])
    dist, _ = nearest_source(graph, np.array([target]))
    for b in joined[:2]:
        source = int(graph.building_node[b])
        route = ox.routing.shortest_path(nxg, source, target, weight="length")
        assert route[0] == source and route[-1] == target
        lengths = ox.routing.route_to_gdf(nxg, route, weight="length")["length"]
        assert lengths.sum() == pytest.approx(dist[source], rel=1e-9, abs=1e-6)
