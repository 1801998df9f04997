"""Tests for planner.coverage: coverage vs networkx, isochrones, scenarios that count."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely

from planner.coverage import coverage, isochrones
from planner.errors import PlannerError
from planner.network import build_walk_graph, nearest_source, walk_threshold
from planner.settings import settings
from planner.siting import site_stations


def test_threshold_in_minutes_or_metres():
    assert walk_threshold() == pytest.approx(
        settings.walking.minutes * 60 * settings.walking.speed_mps
    )
    assert walk_threshold(minutes=10, speed=1.0) == 600.0
    assert walk_threshold(meters=800) == 800.0
    for bad in ({"minutes": -5}, {"meters": 0}, {"speed": 0}, {"speed": 1.1, "meters": 900}):
        with pytest.raises(PlannerError):
            walk_threshold(**bad)


def test_coverage_equals_networkx_and_is_written(tsinghua_store):
    store = tsinghua_store
    graph = build_walk_graph(store)
    # the demo analysis proposed stations too; the existing one alone here
    report = coverage(store, graph=graph, existing_only=True)
    stations = store.read("stations")
    stations = stations[stations["status"] == "existing"]
    assert len(stations) == 1 and report["stations_counted"] == 1
    node = graph.station_node[graph.station_ids == stations["station_id"].iloc[0]]
    lengths = nx.multi_source_dijkstra_path_length(
        graph.to_networkx(), {int(node[0])}, weight="length"
    )
    buildings = store.read("buildings")
    expected = np.array([lengths.get(int(n), np.nan) for n in graph.building_node])
    expected[graph.building_node < 0] = np.nan
    walk = buildings["walk_m"].to_numpy()
    assert np.array_equal(np.isnan(walk), np.isnan(expected))
    ok = ~np.isnan(walk)
    assert np.abs(walk[ok] - expected[ok]).max() < 0.01
    limit = walk_threshold()
    covered = buildings["covered"].to_numpy()
    assert np.array_equal(covered, ok & (expected <= limit))
    assert (buildings.loc[ok, "station_id"] == stations["station_id"].iloc[0]).all()
    hh = buildings["households"].to_numpy()
    assert report["households_covered"] == hh[covered].sum()
    assert report["households_total"] == hh.sum()
    assert report["buildings_uncovered"] == (~covered).sum()
    assert 0 < report["households_covered"] < report["households_total"]
    assert store.read("stations")["households_served"].sum() == report["households_covered"]
    assert store.count("walk_edges") > 0 and store.count("walk_nodes") > 0


def test_coverage_per_grid(tsinghua_store):
    store = tsinghua_store
    buildings = store.read("buildings")
    buildings["grid_code"] = np.where(np.arange(len(buildings)) % 2, "G001", "G002")
    store.write("buildings", buildings)
    report = coverage(store, meters=600, write=False)
    grids = {g["grid_code"]: g for g in report["grids"]}
    assert set(grids) == {"G001", "G002"}
    assert sum(g["households"] for g in grids.values()) == report["households_total"]
    assert sum(g["households_covered"] for g in grids.values()) == report["households_covered"]


def test_isochrones_grow_with_time_and_follow_the_network(tsinghua_store):
    store = tsinghua_store
    graph = build_walk_graph(store)
    report = isochrones(store, minutes=(5, 10, 15), graph=graph, existing_only=True)
    layer = store.read_metric("isochrones")
    assert report["features"] == len(layer) == 3
    by_band = dict(zip(layer["minutes"], layer.geometry, strict=True))
    stations = store.read_metric("stations")
    existing = (stations["status"] == "existing").to_numpy()
    station = stations.geometry[existing].iloc[0]
    station_node = graph.station_node[existing]
    assert all(g.contains(station) for g in by_band.values())
    assert by_band[5].area < by_band[10].area < by_band[15].area
    assert by_band[10].buffer(0.5).contains(by_band[5])
    # reached buildings lie inside their band; the shape is no circle around the station
    buildings = coverage(store, graph=graph, write=False)
    dist, _ = nearest_source(graph, station_node)
    graph_distance = dist[graph.building_node]
    points = shapely.point_on_surface(store.read_metric("buildings").geometry.to_numpy())
    near = graph_distance <= walk_threshold(minutes=10)
    assert near.sum() > 10
    assert shapely.contains(by_band[10].buffer(1.0), points[near]).all()
    circle = station.buffer(walk_threshold(minutes=15))
    assert by_band[15].area < 0.8 * circle.area
    assert buildings["buildings_total"] == len(points)


def test_site_stations_keeps_existing_and_replaces_own_scenario(tsinghua_store):
    store = tsinghua_store
    first = site_stations(store, model="mclp", p=2, scenario="a")
    assert len(first["chosen"]) == 2
    site_stations(store, model="mclp", p=3, scenario="b")
    again = site_stations(store, model="mclp", p=1, scenario="a")
    stations = store.read("stations")
    assert (stations["status"] == "existing").sum() == 1
    counts = stations[stations["status"] == "proposed"].groupby("scenario").size().to_dict()
    counts.pop("lscp", None)  # the demo analysis's own scenario
    assert counts == {"a": len(again["chosen"]), "b": 3}
    assert store.metadata["latest_scenario"] == "a"
    # coverage counts existing + the latest scenario unless told otherwise
    assert coverage(store, write=False)["stations_counted"] == 1 + len(again["chosen"])
    assert coverage(store, scenario="b", write=False)["stations_counted"] == 4
    assert coverage(store, existing_only=True, write=False)["stations_counted"] == 1
    with pytest.raises(PlannerError, match="scenario"):
        coverage(store, scenario="nope", write=False)


def test_walk_to_stations_without_a_store_equals_coverage(tsinghua_store):
    from planner.coverage import walk_to_stations

    store = tsinghua_store
    names = ("roads", "barriers", "compounds", "gates", "buildings", "stations")
    layers = {n: store.read_metric(n) for n in names}
    stations = layers["stations"]
    layers["stations"] = stations[stations["status"].fillna("existing") == "existing"]
    graph = build_walk_graph(layers)
    walked = walk_to_stations(graph, layers["buildings"], minutes=15)
    report = coverage(store, minutes=15, existing_only=True, write=False)
    households = walked["households"].to_numpy()
    assert int(households[walked["covered"].to_numpy()].sum()) == report["households_covered"]
    assert walked["station_id"].notna().any()
    assert (walked.loc[walked["covered"], "walk_m"] <= walk_threshold(minutes=15)).all()
    with pytest.raises(PlannerError, match="buildings"):
        walk_to_stations(graph, layers["buildings"].iloc[:3])
