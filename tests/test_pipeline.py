"""The whole demo pipeline on every shared extract: import → grids → topology → coverage.

Each demo is built once per module (a parametrised module fixture) and checked against
the rules of the domain: grids tile the community, no building is cut or left out,
every grid holds 300-500 households unless flagged, the topology check finds nothing,
and every household joined to the walking network is within reach of a station.
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import config, schema, topology
from planner.network import build_walk_graph
from planner.pipeline import run_demo
from planner.settings import settings
from planner.store import Store

#: Demo areas with buildings, and the one holding roads only.
BUILT_AREAS = [a for a in config.DEMO_AREAS if a != "shanghai_huangpu_roads"]
ROADS_ONLY = "shanghai_huangpu_roads"

GRIDS = "grids"
TOPOLOGY = "topology check and edge areas"
COVERAGE = "walking coverage and station sites"


@pytest.fixture(scope="module", params=BUILT_AREAS)
def demo(request, tmp_path_factory) -> tuple[Store, dict]:
    """A demo store built from one shared extract, with its report (read-only)."""
    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.gpkg"
    store, report = run_demo(request.param, store_path=path)
    return store, report


@pytest.mark.slow
def test_demo_completes_every_step(demo):
    store, report = demo
    assert set(report["analysis"]) == {GRIDS, TOPOLOGY, COVERAGE}
    for label, step in report["analysis"].items():
        assert "skipped" not in step, (label, step)
    assert not any("skipped" in w for w in report["warnings"])
    assert store.path.exists()


@pytest.mark.slow
def test_grids_tile_the_community(demo):
    store, _ = demo
    grids = store.read_metric("grids")
    assert len(grids) > 0
    assert grids["grid_code"].is_unique
    geoms = grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_num_geometries(geoms) == 1).all()  # each grid one piece
    community = shapely.union_all(store.read_metric("community").geometry.to_numpy())
    union = shapely.coverage_union_all(geoms)
    assert union.area == pytest.approx(community.area, rel=1e-4)
    assert shapely.symmetric_difference(union, community).area < 1e-4 * community.area


@pytest.mark.slow
def test_every_building_whole_in_exactly_one_grid(demo):
    store, _ = demo
    grids = store.read_metric("grids")
    buildings = store.read_metric("buildings")
    community = shapely.union_all(store.read_metric("community").geometry.to_numpy())
    inside = shapely.intersects(buildings.geometry.to_numpy(), community)
    codes = buildings["grid_code"]
    assert codes[inside].notna().all()
    assert codes[inside].isin(set(grids["grid_code"])).all()
    # The area of each building lying in a grid other than its own: rounding at most.
    bgeoms, ggeoms = buildings.geometry.to_numpy(), grids.geometry.to_numpy()
    b, g = shapely.STRtree(ggeoms).query(bgeoms, predicate="intersects")
    area = shapely.area(shapely.intersection(bgeoms[b], ggeoms[g]))
    foreign = grids["grid_code"].to_numpy()[g] != codes.to_numpy()[b]
    stray = pd.Series(area[foreign]).groupby(b[foreign]).sum()
    cut = buildings["building_id"].to_numpy()[stray.index[stray >= settings.topology.split_min_m2]]
    assert len(cut) == 0, cut


@pytest.mark.slow
def test_topology_check_finds_no_defect(demo):
    store, report = demo
    step = report["analysis"][TOPOLOGY]
    assert step["clean"] is True
    assert step["after"]["split_buildings"] == 0
    assert step.get("unresolved", []) == []
    findings = topology.check(store)
    assert findings.defects == 0, findings.counts()
    # The grid engine itself cuts no building; the fixes above cut none either.
    assert step["before"]["split_buildings"] == 0


@pytest.mark.slow
def test_households_in_range_unless_flagged(demo):
    store, _ = demo
    grids = store.read("grids")
    hh = grids["households"].to_numpy()
    flagged = grids["flag"].notna() & (grids["flag"].astype(str).str.strip() != "")
    out = (hh < settings.grid.min_households) | (hh > settings.grid.max_households)
    assert not (out & ~flagged.to_numpy()).any(), grids.loc[out, ["grid_code", "households"]]
    # Grid households are the sum of their buildings'.
    buildings = store.read("buildings")
    per_grid = buildings.groupby("grid_code")["households"].sum()
    assert (per_grid.reindex(grids["grid_code"]).fillna(0).to_numpy() == hh).all()
    assert hh.sum() == buildings["households"].sum()


@pytest.mark.slow
def test_every_joined_household_is_coverable(demo):
    """LSCP covers every household that can walk to the network; the rest are unjoined."""
    store, report = demo
    step = report["analysis"][COVERAGE]
    sites, cover = step["sites"], step["coverage"]
    buildings = store.read("buildings")
    assert cover["households_total"] == buildings["households"].sum()
    assert sites["households_covered"] == cover["households_covered"]
    graph = build_walk_graph(store)
    unjoined = graph.building_node < 0
    assert int(unjoined.sum()) == cover["buildings_unjoined"]
    lost = int(buildings["households"].to_numpy()[unjoined].sum())
    assert sites["households_uncoverable"] == lost
    assert cover["households_covered"] == cover["households_total"] - lost
    covered = buildings["covered"].fillna(False).astype(bool).to_numpy()
    assert buildings["households"].to_numpy()[covered].sum() == cover["households_covered"]


@pytest.mark.slow
def test_roads_only_extract_skips_grids_with_a_warning(tmp_path):
    store, report = run_demo(ROADS_ONLY, store_path=tmp_path / "roads.gpkg")
    assert store.count("buildings") == 0
    assert store.count("roads") > 0
    assert "skipped" in report["analysis"][GRIDS]
    assert "skipped" in report["analysis"][COVERAGE]
    assert any(w.startswith("grids skipped") for w in report["warnings"])
    assert not store.has("grids") or store.count("grids") == 0


def _square(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x1, y1)


def test_edge_area_fix_keeps_buildings_whole():
    """An edge area moved wholly into its grid takes the buildings standing mostly in it
    and leaves those standing mostly outside; none is cut (Helsinki's railway station)."""
    crs = "EPSG:3067"
    grids = schema.conform(
        "grids",
        gpd.GeoDataFrame(
            {"grid_code": ["A", "B"], "households": [400, 400]},
            geometry=[_square(0, 0, 100, 100), _square(100, 0, 200, 100)],
            crs=crs,
        ),
    )
    buildings = schema.conform(
        "buildings",
        gpd.GeoDataFrame(
            {
                "building_id": ["mostly_in", "mostly_out", "elsewhere"],
                "households": [20, 10, 380],
                "category": ["residential"] * 3,
                "grid_code": ["A", "A", "A"],
            },
            geometry=[
                _square(80, 45, 95, 70),  # 225 m² in the edge area, 150 m² above it
                _square(65, 55, 75, 90),  # 50 m² in the edge area, 300 m² above it
                _square(5, 5, 20, 20),
            ],
            crs=crs,
        ),
    )
    buildings[["residents", "elderly_alone", "disabled", "left_behind_children"]] = 0
    edges = schema.conform(
        "edge_areas",
        gpd.GeoDataFrame(
            {
                "edge_id": ["E0001"],
                "kind": ["fringe"],
                "source": ["detected"],
                "disputed": [False],
            },
            geometry=[_square(60, 30, 190, 60)],  # 1,200 m² in A, 2,700 m² in B
            crs=crs,
        ),
    )
    plan = topology.GridPlan(
        grids=grids,
        community=_square(0, 0, 200, 100),
        buildings=buildings,
        edge_areas=edges,
        features=np.empty(0, dtype=object),
        crs=crs,
    )
    loose = topology.Thresholds(min_households=0)  # households do not matter here
    before = topology.check_plan(plan, thresholds=loose)
    assert before.counts()["unassigned_edge_areas"] == 1
    fixes = topology.plan_fixes(plan, before, thresholds=loose)
    after = topology.check_plan(
        replace(plan, grids=fixes.grids, buildings=fixes.buildings, edge_areas=fixes.edge_areas),
        thresholds=loose,
    )
    assert after.defects == 0, after.counts()
    code = dict(zip(fixes.buildings["building_id"], fixes.buildings["grid_code"], strict=True))
    assert code == {"mostly_in": "B", "mostly_out": "A", "elsewhere": "A"}
    geoms = dict(zip(fixes.grids["grid_code"], fixes.grids.geometry, strict=True))
    for bid, geom in zip(fixes.buildings["building_id"], fixes.buildings.geometry, strict=True):
        assert shapely.difference(geom, geoms[code[bid]]).area < 1e-3, bid
