"""Topology checks and fixes on real grids broken on purpose (Nanjing extract)."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from planner import topology
from planner.assess import ASSESS_FIELDS, assess
from planner.cli import run
from planner.geometry import majority
from planner.grids import make_grids
from planner.store import Store

LOOSE = ["--min", "0", "--max", "1000000"]  # households do not matter to a geometry test


@pytest.fixture(scope="module")
def gridded_path(nanjing_path, tmp_path_factory):
    """The Nanjing store with grids from the grid engine (read-only; copy to change)."""
    path = tmp_path_factory.mktemp("topology") / "gridded.gpkg"
    shutil.copyfile(nanjing_path, path)
    if not Store(path).has("grids"):  # the demo makes grids once the grid step is in it
        make_grids(Store(path))
    # The repairs snap every outline to 1 cm (a long boundary drawn by the grid engine moves
    # a few square metres in all); apply that once, so the tests see only what they change.
    topology.apply_fixes(Store(path))
    return path


@pytest.fixture
def store(gridded_path, tmp_path):
    copy = tmp_path / "plan.gpkg"
    shutil.copyfile(gridded_path, copy)
    return Store(copy)


def polygonized_grids(store: Store, cell: float = 600.0) -> gpd.GeoDataFrame:
    """Grids built without the grid engine: roads + compound outlines polygonised inside
    the community, blocks grouped by the square of ``cell`` metres their centre falls in."""
    comm = shapely.union_all(store.read_metric("community").geometry.to_numpy())
    lines = np.concatenate(
        [
            store.read_metric("roads").geometry.to_numpy(),
            shapely.boundary(store.read_metric("compounds").geometry.to_numpy()),
            [shapely.boundary(comm)],
        ]
    )
    noded = shapely.union_all(shapely.set_precision(lines, 0.01), grid_size=0.01)
    blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    blocks = blocks[shapely.within(shapely.point_on_surface(blocks), comm)]
    centre = shapely.point_on_surface(blocks)
    key = [f"P{int(x // cell)}-{int(y // cell)}" for x, y in shapely.get_coordinates(centre)]
    frame = gpd.GeoDataFrame({"grid_code": key}, geometry=blocks, crs=store.metric_crs)
    return frame.dissolve("grid_code").reset_index()


def write_grids(store: Store, grids: gpd.GeoDataFrame) -> None:
    """Write grids as an import would: in lon/lat, repairing what projection broke."""
    lonlat = grids[["grid_code", "geometry"]].to_crs(4326)
    lonlat["geometry"] = shapely.make_valid(lonlat.geometry.to_numpy())
    store.write("grids", lonlat)


def metric_grids(store: Store) -> gpd.GeoDataFrame:
    return store.read_metric("grids").set_index("grid_code", drop=False)


def adjacent_pair(grids: gpd.GeoDataFrame) -> tuple[str, str]:
    """Two grids sharing the longest border (so the test does not depend on codes)."""
    geoms = grids.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(geoms[i], geoms[j]))
    k = int(np.argmax(shared))
    return grids["grid_code"].iloc[i[k]], grids["grid_code"].iloc[j[k]]


def check_json(store: Store, *extra: str, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    status = run(["check", str(store.path), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def coverage_ok(store: Store) -> bool:
    return bool(shapely.coverage_is_valid(store.read_metric("grids").geometry.to_numpy()))


# -- clean plans -------------------------------------------------------------------------


def test_grid_engine_plan_is_clean(store, capsys):
    status, report = check_json(store, capsys=capsys)
    assert status == 0
    assert report["clean"] is True
    for kind in topology.KINDS[:-1]:
        assert report[kind] == [], kind
    # grids above 500 because of one tower carry the engine's reason: flagged, not defects
    assert all(f["flagged"] for f in report["households_out_of_range"])
    assert report["totals"]["coverage_valid"] is True
    assert len(report["boundary_on_features"]) == store.count("grids")
    assert 0 < report["totals"]["boundary_on_features"] <= 1


def test_unflagged_household_range_fails(store, capsys):
    grids = store.read("grids")
    grids["flag"] = None
    store.write("grids", grids)
    status, report = check_json(store, capsys=capsys)
    assert status == 1
    assert report["households_out_of_range"]
    assert not any(f.get("flagged") for f in report["households_out_of_range"])
    for finding in report["households_out_of_range"]:
        assert not 300 <= finding["size"] <= 500


def test_boundary_share_counts_only_feature_segments(store):
    findings = topology.check(store)
    grids = metric_grids(store)
    shares = findings.boundary.set_index("grid_code")
    # A grid drawn as a circle follows nothing: its share drops to (almost) nothing.
    code = grids["grid_code"].iloc[0]
    circle = shapely.buffer(shapely.point_on_surface(grids.geometry.iloc[0]), 40)
    table = topology.boundary_on_features(
        np.array([circle]), np.array([code]), np.empty(0, dtype=object), None
    )
    assert table["share"].iloc[0] == 0
    assert shares["share"].between(0, 1).all()


# -- broken on purpose ---------------------------------------------------------------------


def test_overlap_found_where_it_is_and_fixed(store, capsys):
    grids = metric_grids(store)
    a, b = adjacent_pair(grids)
    grown = shapely.intersection(
        shapely.buffer(grids.geometry[a], 15), shapely.union_all(grids.geometry.to_numpy())
    )
    expected = shapely.area(shapely.intersection(grown, grids.geometry[b]))
    grids.loc[a, "geometry"] = grown
    store.write("grids", grids.reset_index(drop=True))
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 1
    pairs = [f for f in report["overlaps"] if set(f["grids"]) == {a, b}]
    assert pairs
    assert sum(f["size"] for f in pairs) == pytest.approx(expected, rel=0.01)
    point = shapely.points(pairs[0]["point"])
    ring = gpd.GeoSeries([grids.geometry[b]], crs=store.metric_crs).to_crs(4326).iloc[0]
    assert shapely.intersects(shapely.buffer(point, 1e-6), ring)
    assert not coverage_ok(store)

    status, _ = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0
    assert coverage_ok(store)
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 0 and report["overlaps"] == []


def test_removed_grid_leaves_a_gap(store, capsys):
    grids = metric_grids(store)
    hh = grids["households"]
    gone = hh[(hh >= 300) & (hh <= 500)].index[0]
    hole = grids.geometry[gone]
    store.write("grids", grids.drop(index=gone).reset_index(drop=True))
    status, report = check_json(store, capsys=capsys)
    assert status == 1
    assert len(report["gaps"]) == 1
    gap = report["gaps"][0]
    assert gap["size"] == pytest.approx(hole.area, rel=0.001)
    assert gone not in gap["grids"] and gap["grids"]
    lonlat = gpd.GeoSeries([hole], crs=store.metric_crs).to_crs(4326).iloc[0]
    assert shapely.within(shapely.points(gap["point"]), shapely.buffer(lonlat, 1e-7))
    lost = {f["ref"] for f in report["unassigned_buildings"]}
    inside = store.read("buildings")
    inside = inside[inside["grid_code"] == gone]
    assert lost and lost <= set(inside["building_id"])

    # the proposals show the gap going to one neighbour, then that neighbour re-cut
    # with its own neighbours, with the households moved per grid
    status, proposed = check_json(store, "--fix", capsys=capsys)
    kinds = [p["kind"] for p in proposed["fixes"]["proposals"]]
    assert kinds[0] == "gap" and "rebalance" in kinds
    gainer = proposed["fixes"]["proposals"][0]["to_grid"]
    recut = [p for p in proposed["fixes"]["proposals"] if p["kind"] == "rebalance"]
    assert all(p["households"] >= 0 and p["reason"] for p in recut)
    assert any(p["from_grids"] == [gainer] and p["households"] > 0 for p in recut)
    moved = {m["grid"]: m for m in proposed["fixes"]["households_moved"]}
    assert gainer in moved and 300 <= moved[gainer]["after"] <= 500
    assert store.read("grids")["grid_code"].tolist() == grids.index.drop(gone).tolist()
    status, plain = check_json(store, "--fix", "--no-recut", capsys=capsys)
    assert [p["kind"] for p in plain["fixes"]["proposals"]] == ["gap"]

    status, fixed = check_json(store, "--fix", "--apply", capsys=capsys)
    assert status == 0, fixed["check"]["totals"]
    after = fixed["check"]
    assert after["clean"] is True and after["totals"]["defects"] == 0
    assert coverage_ok(store)
    assert_consistent(store)
    # grids outside the re-cut region keep their codes, shapes and households
    new = metric_grids(store)
    region = {gainer} | {c for p in recut for c in (*p["from_grids"], p["to_grid"])}
    for code in set(grids.index) - region - {gone}:
        moved = shapely.symmetric_difference(new.geometry[code], grids.geometry[code])
        # the 1 cm snapping of the repair along the grid's border, nothing more
        assert moved.area < 0.01 * grids.geometry[code].length, code
        assert new["households"][code] == grids["households"][code], code


def assert_consistent(store: Store) -> None:
    """Every layer agrees with the grids: buildings, blocks, 四维 fields, zones."""
    grids = metric_grids(store)
    buildings = store.read_metric("buildings")
    pairs = topology.overlay_pairs(buildings.geometry.to_numpy(), grids.geometry.to_numpy())
    major = majority(pairs, len(buildings))
    assert (major >= 0).all()
    assert (buildings["grid_code"].to_numpy() == grids["grid_code"].to_numpy()[major]).all()
    sums = buildings.groupby("grid_code")["households"].sum()
    assert (grids["households"] == sums.reindex(grids.index).fillna(0)).all()
    assessed = assess(grids, buildings)
    for name in ASSESS_FIELDS:
        assert np.allclose(grids[name].to_numpy(float), assessed[name].to_numpy(float)), name
    blocks = store.read_metric("blocks")
    pairs = topology.overlay_pairs(blocks.geometry.to_numpy(), grids.geometry.to_numpy())
    major = majority(pairs, len(blocks))
    assert (blocks["grid_code"].to_numpy() == grids["grid_code"].to_numpy()[major]).all()
    zones = store.read_metric("zones").set_index("zone_code")
    per_zone = grids.groupby("zone_code")["households"].agg(["sum", "size"])
    assert set(zones.index) == set(per_zone.index)
    assert (zones["households"].reindex(per_zone.index) == per_zone["sum"]).all()
    assert (zones["grids"].reindex(per_zone.index) == per_zone["size"]).all()
    # out-of-range grids left are the flagged ones (one building above the maximum)
    hh = grids["households"]
    out = grids[(hh < 300) | (hh > 500)]
    assert out["flag"].notna().all()


def _open_ground(area: shapely.Geometry, taken: np.ndarray, *, half: float) -> shapely.Point | None:
    """A point of ``area`` whose square of ``half`` metres is inside it and clear of
    ``taken`` (None: none on a 5 m lattice)."""
    x0, y0, x1, y1 = area.bounds
    xs, ys = np.meshgrid(np.arange(x0 + half, x1 - half, 5.0), np.arange(y0 + half, y1 - half, 5.0))
    points = shapely.points(xs.ravel(), ys.ravel())
    squares = shapely.buffer(points, half, cap_style="square")
    inside = shapely.within(squares, area)
    busy = np.zeros(len(points), dtype=bool)
    hit = shapely.STRtree(taken).query(squares, predicate="intersects")[0]
    busy[hit] = True
    pick = np.flatnonzero(inside & ~busy)
    return points[pick[0]] if len(pick) else None


def test_two_piece_grid_found_and_joined(store, capsys):
    grids = metric_grids(store)
    a, b = adjacent_pair(grids)
    # open ground of the farthest grid that has some: an island on a building or an edge
    # area would be repaired as a cut building or an edge area, not as an orphan piece
    taken = np.concatenate(
        [
            store.read_metric("buildings").geometry.to_numpy(),
            store.read_metric("edge_areas").geometry.to_numpy(),
        ]
    )
    for far in grids.geometry.distance(grids.geometry[a]).sort_values(ascending=False).index:
        corner = _open_ground(grids.geometry[far], taken, half=12)
        if corner is not None:
            break
    island = shapely.intersection(
        shapely.buffer(corner, 12, cap_style="square"), grids.geometry[far]
    )
    grids.loc[a, "geometry"] = shapely.union(grids.geometry[a], island)
    grids.loc[far, "geometry"] = shapely.difference(grids.geometry[far], island)
    store.write("grids", grids.reset_index(drop=True))
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 1
    assert [f["grids"] for f in report["multipart"]] == [[a]]
    assert report["multipart"][0]["size"] == 2
    assert shapely.within(
        shapely.points(report["multipart"][0]["point"]),
        gpd.GeoSeries([shapely.buffer(island, 0.5)], crs=store.metric_crs).to_crs(4326).iloc[0],
    )
    assert report["overlaps"] == [] and report["gaps"] == []

    status, fixed = check_json(store, *LOOSE, "--fix", capsys=capsys)
    orphan = [p for p in fixed["fixes"]["proposals"] if p["kind"] == "orphan"]
    assert [(p["from_grids"], p["to_grid"]) for p in orphan] == [([a], far)]
    pieces = shapely.get_num_geometries(store.read("grids").set_index("grid_code").geometry)
    assert pieces[a] == 2
    status, _ = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0
    pieces = shapely.get_num_geometries(store.read("grids").set_index("grid_code").geometry)
    assert pieces[a] == 1


def _cut_building(store: Store) -> tuple[str, str, str]:
    """Move a strip of grid A along grid B into B so the strip cuts a building of A."""
    grids = metric_grids(store)
    buildings = store.read_metric("buildings")
    a, b = adjacent_pair(grids)
    mine = buildings[buildings["grid_code"] == a]
    dist = mine.geometry.distance(grids.geometry[b])
    k = dist.idxmin()
    footprint = mine.geometry[k]
    strip = shapely.intersection(
        grids.geometry[a], shapely.buffer(grids.geometry[b], dist[k] + 2.0)
    )
    cut = shapely.area(shapely.intersection(footprint, strip))
    assert 1.0 < cut < footprint.area  # the setup really cuts the building
    grids.loc[a, "geometry"] = shapely.difference(grids.geometry[a], strip)
    grids.loc[b, "geometry"] = shapely.union(grids.geometry[b], strip)
    store.write("grids", grids.reset_index(drop=True))
    return a, b, str(mine["building_id"][k])


def test_boundary_through_a_building(store, capsys):
    a, b, building = _cut_building(store)
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 1
    cut = [f for f in report["split_buildings"] if f["ref"] == building]
    assert len(cut) == 1 and set(cut[0]["grids"]) == {a, b}
    assert cut[0]["grids"][0] == a  # the grid holding most of it comes first

    status, fixed = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0
    grids = metric_grids(store)
    footprint = store.read_metric("buildings").set_index("building_id").geometry[building]
    held = shapely.area(shapely.intersection(footprint, grids.geometry[a]))
    assert held == pytest.approx(footprint.area, rel=1e-3)
    moved = [p for p in fixed["fixes"]["proposals"] if p["ref"] == building]
    assert moved and moved[0]["to_grid"] == a


def test_unassigned_shop_strip(store, capsys):
    grids = metric_grids(store)
    a, b = adjacent_pair(grids)
    border = shapely.intersection(grids.geometry[a], grids.geometry[b])
    strip = shapely.buffer(border, 6, cap_style="flat")
    strip = shapely.intersection(strip, shapely.union(grids.geometry[a], grids.geometry[b]))
    edges = gpd.GeoDataFrame(
        {"edge_id": ["S1"], "kind": ["street_front"], "source": ["drawn"]},
        geometry=[strip],
        crs=store.metric_crs,
    )
    store.write("edge_areas", edges)
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 1
    found = report["unassigned_edge_areas"]
    assert [f["ref"] for f in found] == ["S1"]
    assert set(found[0]["grids"]) == {a, b}
    assert found[0]["size"] == pytest.approx(strip.area, rel=0.01)

    status, _ = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0
    edge = store.read("edge_areas").iloc[0]
    assert edge["grid_code"] in (a, b) and edge["assigned_by"] == "auto" and edge["reason"]
    held = metric_grids(store).geometry[edge["grid_code"]]
    assert shapely.area(shapely.intersection(held, strip)) == pytest.approx(strip.area, rel=1e-3)


def test_all_defects_at_once_fixed_in_one_write(store, capsys):
    grids = metric_grids(store)
    codes = list(grids.index)
    # overlap, gap and cut building on different grids
    a, b = adjacent_pair(grids)
    grids.loc[a, "geometry"] = shapely.intersection(
        shapely.buffer(grids.geometry[a], 10), shapely.union_all(grids.geometry.to_numpy())
    )
    victim = next(
        c for c in codes if c not in (a, b) and grids.geometry[c].distance(grids.geometry[a]) > 200
    )
    hole = shapely.buffer(shapely.point_on_surface(grids.geometry[victim]), 8)
    grids.loc[victim, "geometry"] = shapely.difference(grids.geometry[victim], hole)
    store.write("grids", grids.reset_index(drop=True))
    before = len(store.read("change_log"))
    status, report = check_json(store, *LOOSE, capsys=capsys)
    assert status == 1 and report["overlaps"] and report["gaps"]

    status, fixed = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0, fixed["check"]["totals"]
    assert coverage_ok(store)
    log = store.read("change_log").iloc[before:]
    assert {"fix overlap", "fix gap"} <= set(log["action"])
    assert log["reason"].notna().all()
    # buildings.grid_code agrees with the geometry, grid households are recomputed
    buildings = store.read_metric("buildings")
    grids = metric_grids(store)
    pairs = topology.overlay_pairs(buildings.geometry.to_numpy(), grids.geometry.to_numpy())
    major = majority(pairs, len(buildings))
    assert (buildings["grid_code"].to_numpy() == grids["grid_code"].to_numpy()[major]).all()
    sums = buildings.groupby("grid_code")["households"].sum()
    assert (grids["households"] == sums.reindex(grids.index).fillna(0)).all()
    # the findings layer holds the re-check (with geometry for QGIS and the map)
    assert store.read("findings").pipe(lambda f: f[f["flagged"] == False]).empty  # noqa: E712


def test_findings_layer_has_geometry_per_kind(store, capsys):
    _cut_building(store)
    status, report = check_json(store, *LOOSE, "--save", capsys=capsys)
    findings = store.read("findings")
    assert set(findings["kind"]) == {k for k in topology.KINDS if report[k]}
    assert isinstance(findings, gpd.GeoDataFrame)
    assert not findings.geometry.is_empty.any() and findings.geometry.is_valid.all()
    cut = findings[findings["kind"] == "split_buildings"]
    assert cut["ref"].notna().all() and (cut["kind_zh"] == "楼栋被切分").all()
    # Without --save a check leaves the file byte-identical.
    before = store.path.read_bytes()
    run(["check", str(store.path)])
    run(["check", str(store.path), "--no-save", "--json"])
    assert store.path.read_bytes() == before


def test_proposals_without_apply_write_nothing(store, capsys):
    _cut_building(store)
    version = store.refresh().version
    status, fixed = check_json(store, *LOOSE, "--fix", capsys=capsys)
    assert status == 1
    assert fixed["fixes"]["proposals"]
    assert store.refresh().version == version


def test_fewer_households_rule(store, capsys):
    grids = metric_grids(store)
    a, b = adjacent_pair(grids)
    border = shapely.intersection(grids.geometry[a], grids.geometry[b])
    hole = shapely.buffer(shapely.point_on_surface(border), 10)
    for code in (a, b):
        grids.loc[code, "geometry"] = shapely.difference(grids.geometry[code], hole)
    store.write("grids", grids.reset_index(drop=True))
    findings = topology.check(store)
    hh = findings.households
    fixes = topology.propose_fixes(store, rule="fewer_households")
    gap = fixes.proposals[fixes.proposals["kind"] == "gap"]
    assert len(gap) == 1
    assert gap["to_grid"].iloc[0] == min((a, b), key=lambda c: (hh[c], c))


# -- a plan from elsewhere (not the grid engine) ----------------------------------------------


def test_polygonized_plan_is_found_and_fixed(nanjing_store, capsys):
    write_grids(nanjing_store, polygonized_grids(nanjing_store))
    status, report = check_json(nanjing_store, *LOOSE, capsys=capsys)
    assert report["overlaps"] == [] and report["gaps"] == []
    stored = nanjing_store.read("grids")
    parts = shapely.get_num_geometries(stored.geometry.to_numpy())
    multi = set(stored.loc[parts > 1, "grid_code"])
    assert multi  # grouping blocks by squares leaves pieces apart
    assert {f["grids"][0] for f in report["multipart"]} == multi
    status, fixed = check_json(nanjing_store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0, fixed["check"]["totals"]
    assert coverage_ok(nanjing_store)
    community = nanjing_store.read_metric("community").geometry.iloc[0]
    union = shapely.union_all(nanjing_store.read_metric("grids").geometry.to_numpy())
    # the plan covers the community up to the 1 cm snapping of the repair
    difference = shapely.area(shapely.symmetric_difference(union, community))
    assert difference < 0.01 * community.length


# -- bad input -----------------------------------------------------------------------------


def test_bad_input_exits_2_with_one_line(store, tmp_path, capsys):
    empty = Store.create(tmp_path / "empty.gpkg", metric_crs=store.metric_crs)
    capsys.readouterr()
    assert run(["check", str(store.path), "--layer", "nope"]) == 2
    assert run(["check", str(store.path), "--layer", "buildings"]) == 2
    assert run(["check", str(empty.path)]) == 2  # no grids yet
    assert run(["check", str(store.path), "--apply"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("planner: error:") for line in err)
    # a bow-tie written behind the store's back (e.g. edited in another tool)
    grids = store.read("grids")
    x, y = shapely.get_coordinates(grids.geometry.iloc[0].centroid)[0]
    d = 0.001
    grids.loc[0, "geometry"] = shapely.Polygon(
        [(x, y), (x + d, y + d), (x + d, y), (x, y + d), (x, y)]
    )
    pyogrio.write_dataframe(grids, store.path, layer="grids", driver="GPKG")
    assert run(["check", str(store.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken geometry" in err[0]


def test_thresholds_refuse_nonsense():
    with pytest.raises(ValueError):
        topology.Thresholds(min_households=600, max_households=500)
    with pytest.raises(ValueError):
        topology.Thresholds(sliver_width_m=-1)


# -- the demo step -------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_step_leaves_every_edge_area_in_one_grid(store):
    report = topology.check_and_fix(store)
    assert report["clean"] is True
    edges = store.read_metric("edge_areas")
    assert len(edges) > 0
    assert edges["grid_code"].notna().all()
    assert edges["assigned_by"].isin(["auto", "manual"]).all()
    assert edges["reason"].notna().all()
    grids = metric_grids(store)
    pairs = topology.overlay_pairs(edges.geometry.to_numpy(), grids.geometry.to_numpy())
    pairs = pairs[pairs["area"] > 1.0]
    per = pairs.groupby("i")["j"].nunique()
    assert (per == 1).all()
    assert (
        grids["grid_code"].to_numpy()[pairs.groupby("i")["j"].first()]
        == edges["grid_code"].to_numpy()[per.index]
    ).all()
    assert coverage_ok(store)
    assert pd.Series(report["after"]).get("defects") == 0


def test_edge_area_given_to_a_grid_it_does_not_touch(store, capsys):
    grids = metric_grids(store)
    a = grids.index[0]
    far = next(c for c in grids.index if grids.geometry[c].distance(grids.geometry[a]) > 100)
    footprints = shapely.union_all(store.read_metric("buildings").geometry.to_numpy())
    square = shapely.buffer(shapely.point_on_surface(grids.geometry[a]), 10, cap_style="square")
    area = shapely.difference(shapely.intersection(square, grids.geometry[a]), footprints)
    edges = gpd.GeoDataFrame(
        {"edge_id": ["X9"], "kind": ["idle_lot"], "source": ["drawn"]},
        geometry=[area],
        crs=store.metric_crs,
    )
    store.write("edge_areas", edges)
    settle = ["edges", str(store.path), "--settle", "X9", "--by", "王主任", "--text", "协商"]
    capsys.readouterr()
    # refused: it would leave the far grid in two pieces; the message names the grid it touches
    assert run([*settle, "--grid", far]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not touch" in err[0] and a in err[0]
    assert store.read("edge_areas")["grid_code"].iloc[0] is None
    # forced, it is recorded, and the fix leaves the far grid whole and says why
    assert run([*settle, "--grid", far, "--force"]) == 0
    row = store.read("edge_areas").iloc[0]
    assert row["grid_code"] == far and row["assigned_by"] == "manual" and "强制" in row["reason"]
    status, fixed = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 1
    assert any("X9" in text for text in fixed["fixes"]["unresolved"])
    after = fixed["check"]
    assert after["multipart"] == [] and after["overlaps"] == [] and after["gaps"] == []
    (finding,) = after["unassigned_edge_areas"]
    assert finding["ref"] == "X9" and "不相邻" in finding["detail"]
    pieces = shapely.get_num_geometries(metric_grids(store).geometry)
    assert pieces[far] == 1
    # settled to the grid it lies in, the plan is clean
    assert run([*settle, "--grid", a]) == 0
    status, fixed = check_json(store, *LOOSE, "--fix", "--apply", capsys=capsys)
    assert status == 0, fixed["check"]["totals"]
