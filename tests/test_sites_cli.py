"""CLI tests: planner coverage / sites / isochrones end to end on the demo store, bad input."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from planner import config
from planner.cli import run
from planner.network import build_walk_graph
from planner.pipeline import import_osm
from planner.settings import settings


def _json(capsys, argv):
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_demo_coverage_and_lscp_cover_every_coverable_household(nanjing_store, capsys):
    store = str(nanjing_store.path)
    before = _json(capsys, ["coverage", store, "--existing-only", "--json"])
    for key in ("households_total", "households_covered", "buildings_total"):
        assert key in before
    assert before["buildings_uncovered"] == before["buildings_total"]  # no station yet
    sites = _json(capsys, ["sites", store, "--model", "lscp", "--scenario", "t", "--json"])
    for key in ("model", "objective", "optimal", "gap", "chosen", "households_uncoverable"):
        assert key in sites
    assert sites["model"] == "lscp" and sites["optimal"] and sites["chosen"]
    # independent check: rebuild the network with the proposed stations and let networkx
    # measure; whoever any candidate site reaches within 15 minutes is reached by them
    nanjing_store.refresh()
    graph = build_walk_graph(nanjing_store)
    nxg = graph.to_networkx()
    limit = settings.walking.minutes * 60 * settings.walking.speed_mps
    mine = nanjing_store.read("stations")["scenario"].eq("t").to_numpy()
    proposed = graph.station_node[mine & (graph.station_node >= 0)]
    assert len(proposed) == len(sites["chosen"])
    by_stations = nx.multi_source_dijkstra_path_length(
        nxg, set(proposed.tolist()), cutoff=limit, weight="length"
    )
    by_sites = nx.multi_source_dijkstra_path_length(
        nxg, set(graph.site_node[graph.site_node >= 0].tolist()), cutoff=limit, weight="length"
    )
    households = nanjing_store.read("buildings")["households"].to_numpy()
    nodes = graph.building_node
    coverable = np.array([int(n) in by_sites for n in nodes]) & (households > 0)
    reached = np.array([int(n) in by_stations for n in nodes])
    assert coverable.sum() > 0.9 * (households > 0).sum()
    assert (reached[coverable]).all()
    assert sites["households_covered"] == households[coverable].sum()
    assert sites["households_uncoverable"] == households[(households > 0) & ~coverable].sum()
    after = _json(capsys, ["coverage", store, "--json"])
    assert after["scenario"] == sites["scenario"]
    assert after["households_covered"] == sites["households_covered"]
    served = {s["station_id"]: s["households_served"] for s in after["stations"]}
    assert sum(served.values()) == after["households_covered"]
    iso = _json(capsys, ["isochrones", store, "--minutes", "5,10,15", "--json"])
    assert iso["features"] == 3 * len(sites["chosen"])


def test_mclp_and_pmedian_from_the_cli(tsinghua_store, capsys):
    store = str(tsinghua_store.path)
    mclp = _json(capsys, ["sites", store, "--model", "mclp", "--p", "2", "--json"])
    assert len(mclp["chosen"]) <= 2 and mclp["objective"] == mclp["households_covered"]
    pmed = _json(
        capsys, ["sites", store, "--model", "pmedian", "--p", "3", "--scenario", "pm", "--json"]
    )
    assert len(pmed["chosen"]) == 3 and pmed["scenario"] == "pm"
    metres = _json(capsys, ["coverage", store, "--meters", "500", "--scenario", "pm", "--json"])
    assert metres["threshold_m"] == 500 and metres["stations_counted"] == 4
    existing = _json(capsys, ["coverage", store, "--existing-only", "--json"])
    assert existing["stations_counted"] == 1


@pytest.fixture
def roads_only(tmp_path):
    """A store with roads and no buildings (the Shanghai roads-only extract)."""
    store, _ = import_osm(
        config.DATA_DIR / "osm" / "shanghai_huangpu_roads.osm", tmp_path / "s.gpkg"
    )
    return str(store.path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sites", "{store}", "--model", "gravity"], "unknown model"),
        (["sites", "{store}", "--model", "mclp"], "--p"),
        (["sites", "{store}", "--model", "pmedian"], "--p"),
        (["coverage", "{store}", "--minutes", "-5"], "--minutes"),
        (["sites", "{store}", "--minutes", "-5"], "--minutes"),
        (["coverage", "{store}", "--speed", "1.2", "--meters", "900"], "not both"),
        (["isochrones", "{store}", "--minutes", "5,x"], "--minutes"),
        (["coverage", "{roads}"], "no buildings"),
        (["sites", "{roads}"], "no buildings"),
        (["coverage", "{store}", "--scenario", "none-such"], "scenario"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, tsinghua_path, roads_only, capsys):
    argv = [a.format(store=tsinghua_path, roads=roads_only) for a in argv]
    assert run(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0] and lines[0].startswith("planner: error:")


def test_coverage_command_runs_as_a_fresh_process(tsinghua_store):
    """The installed command, not only `run` in a process that has loaded everything."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "planner.cli", "coverage", str(tsinghua_store.path), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["households_total"] > 0
