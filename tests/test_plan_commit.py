"""The one commit path: a plan change brings every dependent along, in one write."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import plan_versions
from planner.errors import ConflictError
from planner.geometry import blank
from planner.pipeline import apply_roster
from planner.plan_commit import commit_plan, current_rows
from planner.store import Store
from tests.conftest import ROSTER_DIR


def _moved_block(store: Store) -> tuple[pd.Series, str, str]:
    """A block with households and the neighbouring grid it can move to."""
    grids = store.read_metric("grids")
    blocks = store.read_metric("blocks")
    geoms = grids.geometry.to_numpy()
    codes = grids["grid_code"].to_numpy()
    for _, block in blocks[blocks["households"] > 0].iterrows():
        home = block["grid_code"]
        near = shapely.intersection(
            shapely.boundary(block.geometry), shapely.buffer(geoms[codes != home], 0.5)
        )
        touching = np.flatnonzero(shapely.length(near) > 5)
        if len(touching):
            return block, home, str(codes[codes != home][touching[0]])
    raise AssertionError("no block on a grid border")


def _consistent(store: Store) -> None:
    """Buildings, grids, zones and edge areas agree with each other."""
    grids = store.read_metric("grids")
    grids = grids[current_rows(grids)]
    buildings = store.read_metric("buildings")
    by_grid = buildings.groupby("grid_code")["households"].sum()
    assert by_grid.reindex(grids["grid_code"]).fillna(0).astype(int).tolist() == list(
        grids["households"]
    )
    zones = store.read("zones").set_index("zone_code")
    per_zone = grids.groupby("zone_code")["households"].sum()
    assert zones.loc[per_zone.index, "households"].tolist() == per_zone.tolist()
    # each building in the grid holding most of it
    inside = buildings[~blank(buildings["grid_code"])]
    held = grids.set_index("grid_code").geometry.loc[inside["grid_code"]].to_numpy()
    share = shapely.area(shapely.intersection(inside.geometry.to_numpy(), held)) / shapely.area(
        inside.geometry.to_numpy()
    )
    assert (share >= 0.5).all()


def test_one_grid_edit_updates_every_dependent_and_writes_only_what_changed(nanjing_any):
    store = nanjing_any
    before_version = plan_versions.current_version(store)
    block, home, neighbour = _moved_block(store)
    grids = store.read("grids")  # as the editor sends them: lon/lat
    piece = gpd.GeoSeries([block.geometry], crs=store.metric_crs).to_crs(grids.crs).iloc[0]
    edited = grids.copy()
    at = {c: i for i, c in enumerate(edited["grid_code"])}
    edited.loc[at[home], "geometry"] = shapely.difference(edited.geometry[at[home]], piece)
    edited.loc[at[neighbour], "geometry"] = shapely.union(edited.geometry[at[neighbour]], piece)
    n_buildings = store.count("buildings")

    report = commit_plan(
        store,
        edited,
        log=[{"layer": "grids", "action": "edit", "detail": {}, "reason": "test edit"}],
    )

    fresh = Store(store.path)
    assert plan_versions.current_version(fresh) == before_version + 1
    assert report["grids_changed"] == 2
    assert 0 < report["buildings_changed"] < n_buildings / 2
    assert report["blocks_changed"] >= 1
    moved = fresh.read("buildings").set_index("building_id")
    in_block = moved[moved["block_id"] == block["block_id"]]
    assert set(in_block["grid_code"]) == {neighbour}
    households = fresh.read("grids").set_index("grid_code")["households"]
    old = grids.set_index("grid_code")["households"]
    assert households[neighbour] - old[neighbour] == int(in_block["households"].sum())
    assert old[home] - households[home] == int(in_block["households"].sum())
    _consistent(fresh)
    log = fresh.read("change_log")
    assert {"buildings", "blocks", "zones"} <= set(log["layer"].tail(5))


def test_automatic_edge_areas_follow_and_manual_ones_stay(nanjing_any):
    store = nanjing_any
    edges = store.read("edge_areas")
    assert len(edges), "the demo has edge areas"
    grids = store.read_metric("grids")
    edge = edges.to_crs(store.metric_crs).iloc[0]
    manual = edges.iloc[1]["edge_id"]
    # by hand, to a grid other than the one it lies in
    chosen = next(c for c in grids["grid_code"] if c != edges.iloc[1]["grid_code"])
    edges.loc[edges["edge_id"] == manual, ["assigned_by", "grid_code"]] = ["manual", chosen]
    store.write("edge_areas", edges)
    store = Store(store.path)
    # Give edge 0's area to a grid it does not belong to.
    other = grids.index[grids["grid_code"] != edge["grid_code"]][0]
    grids = grids.copy()
    grids["geometry"] = shapely.difference(grids.geometry.to_numpy(), edge.geometry)
    grids.loc[other, "geometry"] = shapely.union(grids.geometry[other], edge.geometry)
    commit_plan(store, grids, log=[{"layer": "grids", "action": "edit", "reason": "test"}])
    after = Store(store.path).read("edge_areas").set_index("edge_id")
    assert after.loc[edge["edge_id"], "grid_code"] == grids.loc[other, "grid_code"]
    assert after.loc[edge["edge_id"], "assigned_by"] == "auto"
    assert after.loc[manual, "grid_code"] == chosen


def test_a_roster_moves_the_plans_figures_in_the_same_write(nanjing_any, tmp_path):
    store = nanjing_any
    roster = pd.read_csv(ROSTER_DIR / "nanjing_xinjiekou_roster.csv", dtype=str)
    roster["户数"] = pd.to_numeric(roster["户数"], errors="coerce") * 2
    doubled = tmp_path / "roster2.csv"
    roster.to_csv(doubled, index=False)
    version = plan_versions.current_version(store)
    apply_roster(store, doubled)
    fresh = Store(store.path)
    assert plan_versions.current_version(fresh) == version + 1
    _consistent(fresh)


def test_a_stale_commit_is_refused_and_writes_nothing(nanjing_store):
    store = nanjing_store
    grids = store.read_metric("grids")
    buildings = store.read("buildings")  # this object read buildings at this version
    other = Store(store.path)
    other.write("buildings", other.read("buildings"))  # someone else's change lands
    digest = hashlib.md5(store.path.read_bytes()).hexdigest()
    assert len(buildings)
    with pytest.raises(ConflictError):
        commit_plan(store, grids, log=[{"layer": "grids", "action": "edit", "reason": "x"}])
    assert hashlib.md5(store.path.read_bytes()).hexdigest() == digest
