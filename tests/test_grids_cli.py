"""planner grids / rebalance / blocks / assess on the real extracts (Nanjing demo, Tsinghua)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from planner.blocks import GRID_SIZE
from planner.cli import run
from planner.grids import households_moved, make_grids, rebalance
from planner.store import Store


def _check_plan(store: Store, low: int = 300, high: int = 500) -> None:
    """The done-when checks: seamless cover, one polygon each, buildings whole and in range."""
    crs = store.metric_crs
    grids = store.read("grids").to_crs(crs)
    community = shapely.union_all(store.read("community").to_crs(crs).geometry.to_numpy())
    geoms = grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    assert set(grids.geom_type) == {"Polygon"}
    union = shapely.union_all(geoms)
    assert abs(union.area - community.area) < 1e-5 * community.area
    assert shapely.symmetric_difference(union, community).area < 1e-5 * community.area
    buildings = store.read("buildings").to_crs(crs)
    assert buildings["grid_code"].notna().all()
    assert set(buildings["grid_code"]) <= set(grids["grid_code"])
    # Every building lies wholly in its grid (the part inside the community).
    own = grids.set_index("grid_code").geometry.loc[buildings["grid_code"]].to_numpy()
    parts = shapely.intersection(buildings.geometry.to_numpy(), community)
    outside = shapely.area(shapely.difference(parts, own))
    # Blocks are noded on a 1 cm grid: allow a 1 cm band along the outline, no more.
    band = shapely.length(parts) * GRID_SIZE
    cut = outside > band
    assert not cut.any(), buildings.loc[cut, "building_id"].tolist()
    # Households of grids are those of their buildings.
    sums = buildings.groupby("grid_code")["households"].sum()
    assert (grids.set_index("grid_code")["households"] == sums.reindex(grids["grid_code"])).all()
    hh = grids["households"].to_numpy()
    out = (hh < low) | (hh > high)
    flags = grids["flag"].fillna("").to_numpy()
    assert all(flags[out]), "out-of-range grid without a reason"
    assert not any(flags[~out])
    # The reasons are true: a flagged grid above max holds one building above max.
    for code in grids.loc[out, "grid_code"]:
        inside = buildings[buildings["grid_code"] == code]
        if grids.set_index("grid_code").loc[code, "households"] > high:
            assert inside["households"].max() > high


@pytest.mark.slow
def test_grids_nanjing(nanjing_store):
    report = make_grids(nanjing_store)
    _check_plan(nanjing_store)
    assert report["grids"] == nanjing_store.count("grids")
    # All grids in range except single towers above 500 households.
    buildings = nanjing_store.read("buildings")
    towers = int((buildings["households"] > 500).sum())
    assert report["in_range"] == report["grids"] - towers
    assert len(report["flagged"]) == towers
    assert all("one building" in f["reason"] for f in report["flagged"])


@pytest.mark.slow
def test_grids_tsinghua_cli_json(tsinghua_store, capsys):
    assert run(["grids", str(tsinghua_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("grids", "in_range", "households_min", "households_max", "flagged"):
        assert key in report
    _check_plan(Store(tsinghua_store.path))
    blocks = Store(tsinghua_store.path).read("blocks")
    assert blocks["grid_code"].notna().all()
    assert set(blocks["kind"]) <= {"street", "compound", "lane", "cell"}


def test_codes_stable_across_runs(tsinghua_store):
    make_grids(tsinghua_store)
    first = tsinghua_store.read("grids")[["grid_code", "households"]]
    make_grids(tsinghua_store)
    second = tsinghua_store.read("grids")[["grid_code", "households"]]
    pd.testing.assert_frame_equal(first, second)
    code = tsinghua_store.read("community")["community_code"].iloc[0]
    assert all(c.startswith(code) and len(c) == len(code) + 5 for c in first["grid_code"])
    zones = tsinghua_store.read("zones")
    assert set(zones["zone_code"]) == {c[:-3] for c in first["grid_code"]}
    assert shapely.coverage_is_valid(zones.to_crs(tsinghua_store.metric_crs).geometry.to_numpy())


def test_custom_bounds(tsinghua_store):
    report = make_grids(tsinghua_store, min_households=200, max_households=400)
    _check_plan(tsinghua_store, 200, 400)
    assert report["min"] == 200 and report["max"] == 400


def _unbalance(store: Store) -> pd.DataFrame:
    """A plan drawn for smaller grids (200-400 households): most are now too small."""
    make_grids(store, min_households=200, max_households=400)
    plan = store.read("grids")
    assert (plan["households"] < 300).sum() >= 3
    return plan.to_crs(store.metric_crs)


@pytest.mark.slow
def test_rebalance_moves_less_than_regenerating(tsinghua_store):
    store = tsinghua_store
    plan = _unbalance(store)
    before = store.read("grids")
    assert run(["rebalance", str(store.path), "--json"]) == 0
    store = Store(store.path)
    # The current plan is untouched; the scenario holds the new one.
    pd.testing.assert_frame_equal(store.read("grids")[["grid_code"]], before[["grid_code"]])
    scenario = store.read("scenario_grids")
    assert set(scenario["scenario"]) == {"rebalanced"}
    hh = scenario["households"].to_numpy()
    flagged = scenario["flag"].fillna("").to_numpy().astype(bool)
    assert ((hh >= 300) & (hh <= 500) | flagged).all()
    assert flagged.sum() == int((store.read("buildings")["households"] > 500).sum())
    # Surviving grids keep their codes.
    assert len(set(scenario["grid_code"]) - set(plan["grid_code"])) <= 3
    moves = store.read("grid_moves")
    moved_rebalance = int(moves["households"].sum())
    assert moved_rebalance > 0
    # Regenerating from scratch moves more households, matched grid to grid.
    blocks_before = store.read("blocks")
    report = rebalance(store, apply=True)
    assert report["households_moved"] == moved_rebalance
    applied = Store(store.path)
    _check_plan(applied)
    old = _grid_of_buildings(applied, plan)
    new_rebalanced = applied.read("buildings")["grid_code"].to_numpy()
    make_grids(applied)
    new_scratch = applied.read("buildings")["grid_code"].to_numpy()
    h = applied.read("buildings")["households"].to_numpy()
    moved_r, _ = households_moved(old, new_rebalanced, h)
    moved_s, _ = households_moved(old, new_scratch, h)
    assert moved_r < moved_s
    assert len(blocks_before)


def _grid_of_buildings(store: Store, plan: pd.DataFrame) -> np.ndarray:
    buildings = store.read("buildings").to_crs(store.metric_crs)
    points = shapely.point_on_surface(buildings.geometry.to_numpy())
    tree = shapely.STRtree(plan.geometry.to_numpy())
    p, g = tree.query(points, predicate="within")
    out = np.full(len(points), "", dtype=object)
    out[p] = plan["grid_code"].to_numpy()[g]
    return out


def test_rebalance_without_grids_is_a_user_error(tsinghua_store, capsys):
    tsinghua_store.write("grids", tsinghua_store.read("grids").iloc[0:0])
    assert run(["rebalance", str(tsinghua_store.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no current grids" in err[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min", "600", "--max", "500"], "above --max"),
        (["--min", "-1"], "positive"),
        (["--zone-size", "0"], "zone-size"),
    ],
)
def test_bad_options_exit_2(tsinghua_store, capsys, args, message):
    assert run(["grids", str(tsinghua_store.path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_store_without_buildings_exit_2(tsinghua_store, capsys):
    tsinghua_store.write("buildings", tsinghua_store.read("buildings").iloc[0:0])
    assert run(["grids", str(tsinghua_store.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no buildings" in err[0]


def test_blocks_command(tsinghua_store, capsys):
    assert run(["blocks", str(tsinghua_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    store = Store(tsinghua_store.path)
    blocks = store.read("blocks").to_crs(store.metric_crs)
    assert report["blocks"] == len(blocks)
    assert shapely.coverage_is_valid(blocks.geometry.to_numpy())
    assert blocks["households"].sum() == store.read("buildings")["households"].sum()
    # Only single buildings stay above the bound.
    big = blocks[blocks["households"] > 500]
    assert (big["buildings"] == 1).all()
    assert store.read("buildings")["block_id"].isin(blocks["block_id"]).all()


def test_assess_cli(tsinghua_store, capsys):
    assert run(["assess", str(tsinghua_store.path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    grids = Store(tsinghua_store.path).read("grids")
    assert len(report["grids"]) == len(grids)
    row = report["grids"][0]
    for key in (
        "area_m2",
        "density",
        "special_groups",
        "places",
        "grid_leaders",
        "fulltime_workers",
        "parttime_workers",
        "building_leaders",
    ):
        assert key in row
    assert all(r["grid_leaders"] == 1 and r["fulltime_workers"] == 1 for r in report["grids"])


def test_boundary_smaller_than_the_data(nanjing_store, tmp_path, capsys):
    """The community is the imported boundary; buildings outside are left out and counted."""
    box = shapely.box(118.775, 32.038, 118.788, 32.048)
    path = tmp_path / "small.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"name": "小社区"},
                "geometry": shapely.geometry.mapping(box),
            }
        )
    )
    store = str(nanjing_store.path)
    assert run(["import", str(path), "--store", store, "--layer", "community"]) == 0
    capsys.readouterr()
    assert run(["grids", store, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    buildings = Store(store).read("buildings")
    out = buildings["grid_code"].isna()
    left = report["outside_community"]
    assert left == {"buildings": int(out.sum()), "households": int(buildings[out].households.sum())}
    # Every building wholly outside the boundary is left out, none wholly inside is.
    assert left["buildings"] > 500
    assert out[~buildings.intersects(box)].all()
    assert not out[buildings.within(box)].any()
    assert report["households"] == buildings.loc[~out, "households"].sum()
    grids = Store(store).read("grids")
    assert grids.union_all().difference(box.buffer(1e-6)).area < 1e-9


def test_store_without_community_takes_the_extent(tsinghua_store, capsys):
    """No community boundary: the data's extent, marked boundary_source=extent, with a warning."""
    tsinghua_store.write("community", tsinghua_store.read("community").iloc[0:0])
    assert run(["grids", str(tsinghua_store.path)]) == 0
    captured = capsys.readouterr()
    assert "warning: the store has no community boundary" in captured.err
    community = tsinghua_store.read("community")
    assert list(community["boundary_source"]) == ["extent"]
    buildings = tsinghua_store.read("buildings")
    assert community.geometry.iloc[0].covers(buildings.union_all())
    assert len(tsinghua_store.read("grids")) > 0


def test_draw_grids_without_a_store_equals_make_grids(tsinghua_store):
    from planner.errors import InputError
    from planner.grids import draw_grids

    store = tsinghua_store
    names = ("community", "buildings", "roads", "barriers", "compounds")
    layers = {n: store.read_metric(n) for n in names}
    grids, buildings = draw_grids(layers, community_code="110108001001", max_households=450)
    assert grids.crs == store.metric_crs
    geoms = grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    community = layers["community"].union_all()
    assert (
        shapely.coverage_union_all(geoms).symmetric_difference(community).area
        < 1e-4 * community.area
    )
    assert grids["grid_code"].str.startswith("110108001001").all()
    in_range = grids["households"].between(300, 450) | grids["flag"].notna()
    assert in_range.all()
    # Every building is counted once, in the grid its code names.
    per_grid = buildings.groupby("grid_code")["households"].sum()
    assert (
        per_grid.reindex(grids["grid_code"]).fillna(0).astype(int).tolist()
        == grids["households"].tolist()
    )
    assert "households" in grids and "density" in grids  # 四维测评 figures
    # Nothing was written: the store has its plan as it was.
    assert store.read("grids")["households"].max() > 0
    with pytest.raises(InputError, match="metric CRS"):
        draw_grids({n: f.to_crs(4326) for n, f in layers.items()})
