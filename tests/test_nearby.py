"""The nearest station on foot from a point, its route, and the grid (with contacts) there."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from planner.coverage import coverage
from planner.errors import InputError, MissingDataError
from planner.nearby import NearestStation, grid_at
from planner.network import build_walk_graph, join_points, read_network_layers
from planner.settings import settings


@pytest.fixture(scope="module")
def finder_and_store(nanjing_path, tmp_path_factory):
    """A copy of the demo store with `planner coverage` run again, and its finder."""
    import shutil

    from planner.store import Store

    path = tmp_path_factory.mktemp("nearby") / "nearby.gpkg"
    shutil.copyfile(nanjing_path, path)
    store = Store(path)
    report = coverage(store)  # what `planner coverage STORE` writes
    return NearestStation.from_store(store), store, report


def _metric(store, lon, lat):
    return gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(store.metric_crs).iat[0]


def test_from_a_building_the_walk_is_coverage_walk(finder_and_store):
    finder, store, report = finder_and_store
    buildings = store.read("buildings")
    reached = buildings[buildings["walk_m"].notna()]
    assert len(reached) > 100
    starts = shapely.point_on_surface(reached.geometry.to_numpy())
    checked = 0
    for i in range(0, len(reached), max(1, len(reached) // 150)):
        walk = finder.walk_from(starts[i].x, starts[i].y)
        assert walk.start == "building"
        assert walk.building_id == reached["building_id"].iat[i]
        assert walk.station_id == reached["station_id"].iat[i]
        # coverage writes metres rounded to the centimetre
        assert walk.walk_m == pytest.approx(reached["walk_m"].iat[i], abs=0.01)
        assert walk.minutes == pytest.approx(walk.walk_m / settings.walking.speed_mps / 60)
        checked += 1
    assert checked > 100
    assert report["scenario"] == finder.scenario == "lscp"


def test_the_route_is_the_walk_on_the_network(finder_and_store):
    finder, store, _ = finder_and_store
    buildings = store.read("buildings")
    far = buildings.loc[buildings["walk_m"].idxmax()]
    start = shapely.point_on_surface(far.geometry)
    walk = finder.walk_from(start.x, start.y)
    route = gpd.GeoSeries([walk.route], crs=4326).to_crs(store.metric_crs).iat[0]
    # the drawn line is as long as the walk and ends at the station
    assert route.length == pytest.approx(walk.walk_m, abs=0.5)
    station = store.read("stations").set_index("station_id").geometry[walk.station_id]
    end = shapely.Point(route.coords[-1])
    assert end.distance(_metric(store, station.x, station.y)) < 0.5
    # it follows the walking network's edges, not a straight line
    assert len(walk.route.coords) > 3
    assert route.length > shapely.Point(route.coords[0]).distance(end) * 1.05
    data = walk.to_dict()
    assert data["route"]["type"] == "LineString"
    assert data["planned"] is True and data["status"] == "proposed"
    assert data["scenario"] == "lscp"


def test_a_point_on_a_street_joins_as_a_site_would(finder_and_store):
    finder, store, _ = finder_and_store
    roads = store.read("roads")
    counted = 0
    for i in range(0, len(roads), max(1, len(roads) // 12)):
        point = shapely.line_interpolate_point(roads.geometry.iat[i], 0.37, normalized=True)
        if finder._building_at(_metric(store, point.x, point.y)) is not None:
            continue
        try:
            walk = finder.walk_from(point.x, point.y)
        except MissingDataError:
            continue
        # the same point as a candidate site, joined by the graph's own build
        layers = read_network_layers(store)
        layers["candidate_sites"] = gpd.GeoDataFrame(
            {"site_id": ["here"]}, geometry=[_metric(store, point.x, point.y)], crs=store.metric_crs
        )
        graph = build_walk_graph(layers)
        stations = graph.station_nodes(finder.stations["station_id"].to_numpy())
        dist = dijkstra(graph.matrix, directed=True, indices=stations[stations >= 0], min_only=True)
        assert walk.start == "point"
        assert walk.walk_m == pytest.approx(dist[graph.site_node[0]], abs=0.01)
        counted += 1
        if counted == 3:
            break
    assert counted == 3


def test_join_points_joins_a_building_where_the_graph_did(finder_and_store):
    finder, store, _ = finder_and_store
    graph = finder.graph
    buildings = store.read_metric("buildings")
    points = shapely.point_on_surface(buildings.geometry.to_numpy()[:40])
    joined = join_points(graph, points)
    ok = graph.building_node[:40] >= 0
    assert np.allclose(joined["join_m"].to_numpy()[ok], graph.building_snap[:40][ok], atol=1e-6)
    assert (joined["u"].to_numpy()[ok] >= 0).all()
    far = join_points(graph, [shapely.Point(graph.x.max() + 5000, graph.y.max() + 5000)])
    assert far["u"].iat[0] == -1 and np.isnan(far["join_m"].iat[0])


def test_errors_name_the_problem(finder_and_store):
    finder, store, _ = finder_and_store
    with pytest.raises(InputError, match="lon"):
        finder.walk_from(float("nan"), 32.0)
    west, south, _, _ = store.read("community").total_bounds
    with pytest.raises(MissingDataError, match="no walkable way"):
        finder.walk_from(west - 0.1, south - 0.1)
    # the demo has no existing station: existing only, nothing counts
    only = NearestStation.from_store(store, existing_only=True, graph=finder.graph)
    with pytest.raises(MissingDataError, match="no station counts"):
        only.walk_from(118.78, 32.04)


def test_grid_at_gives_contacts_only_when_asked(finder_and_store):
    _, store, _ = finder_and_store
    staff = store.read("staff")
    leader = staff[staff["role"] == "building_leader"].iloc[0]
    buildings = store.read("buildings").set_index("building_id")
    at = shapely.point_on_surface(buildings.geometry[leader["building_id"]])
    found = grid_at(store, at.x, at.y)
    # the grid holding the building (the sample roster may name an older plan's)
    assert found["grid_code"] == buildings.loc[leader["building_id"], "grid_code"]
    assert found["households"] > 0 and found["name"]
    roles = {p["role"] for p in found["staff"]}
    assert "grid_leader" in roles and "building_leader" not in roles
    assert all(p["phone"] for p in found["staff"])
    assert found["building"]["building_id"] == leader["building_id"]
    assert leader["name"] in {p["name"] for p in found["building"]["leaders"]}
    # no contacts, and only the fields allowed
    bare = grid_at(store, at.x, at.y, contacts=False, fields=frozenset({"grid_code", "name"}))
    assert set(bare) == {"grid_code", "name", "building"}
    assert "leaders" not in bare["building"]
    # never a count of people, even with every field allowed
    assert not {"residents", "special_groups"} & set(found)
    west, south, _, _ = store.read("community").total_bounds
    assert grid_at(store, west - 0.1, south - 0.1) is None
