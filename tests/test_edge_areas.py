"""Edge areas (边缘地带): detection from the real extracts, assignment, disputes."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner import edge_areas, topology
from planner.cli import run
from planner.grids import make_grids
from planner.store import Store


@pytest.fixture(scope="module")
def gridded_path(nanjing_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("edges") / "gridded.gpkg"
    shutil.copyfile(nanjing_path, path)
    if not Store(path).has("grids"):
        make_grids(Store(path))
    return path


@pytest.fixture
def store(gridded_path, tmp_path):
    copy = tmp_path / "plan.gpkg"
    shutil.copyfile(gridded_path, copy)
    return Store(copy)


def _cli(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    status = run([*args, "--json"])
    return status, json.loads(capsys.readouterr().out or "{}")


def test_detected_areas_lie_outside_compounds_and_hold_few_homes(nanjing_store):
    found = edge_areas.detect_edge_areas(nanjing_store)
    assert len(found) > 10
    assert set(found["kind"]) <= set(edge_areas.EDGE_KINDS)
    assert found["edge_id"].is_unique
    assert (found["source"] == "detected").all()
    compounds = shapely.union_all(nanjing_store.read_metric("compounds").geometry.to_numpy())
    inside = shapely.area(shapely.intersection(found.geometry.to_numpy(), compounds))
    assert (inside < 1.0).all()
    assert (found["households"] < 100).all()
    # a street-front area holds a shop; its buildings are really inside it
    b = nanjing_store.read_metric("buildings")
    front = found[found["kind"] == "street_front"]
    assert len(front)
    points = b.geometry.representative_point()
    for geom in front.geometry.iloc[:5]:
        assert (b.loc[points.within(geom), "category"] == "shop").any()
    # no edge area claims part of a building standing mostly elsewhere
    geoms = found.geometry.to_numpy()
    pairs = topology.overlay_pairs(b.geometry.to_numpy(), geoms)
    home = shapely.within(points.to_numpy()[pairs["i"]], geoms[pairs["j"]])
    assert len(pairs) and (pairs.loc[~home, "area"] < 0.5).all()


def test_detection_on_a_walled_campus(tsinghua_store):
    found = edge_areas.detect_edge_areas(tsinghua_store)
    assert len(found) > 0
    community = tsinghua_store.read_metric("community").geometry.iloc[0]
    assert shapely.area(shapely.difference(shapely.union_all(found.geometry), community)) < 1


def test_cli_detect_assign_puts_every_area_in_one_grid(store, capsys):
    status, report = _cli(capsys, "edges", str(store.path), "--detect", "--assign")
    assert status == 0
    assert report["edge_areas"] == len(report["items"]) > 0
    assert report["unassigned"] == 0
    frame = store.read_metric("edge_areas")
    codes = set(store.read("grids")["grid_code"])
    assert frame["grid_code"].isin(codes).all()
    assert (frame["assigned_by"] == "auto").all() and frame["reason"].notna().all()
    # an area lying in a single grid goes to that grid
    grids = store.read_metric("grids").set_index("grid_code")
    pairs = topology.overlay_pairs(frame.geometry.to_numpy(), grids.geometry.to_numpy())
    whole = pairs[pairs["area"] >= 0.999 * frame.geometry.area.to_numpy()[pairs["i"]]]
    assert len(whole)
    assert (frame["grid_code"].to_numpy()[whole["i"]] == grids.index.to_numpy()[whole["j"]]).all()
    # detection again keeps ids and grids
    again = edge_areas.detect_edge_areas(store)
    assert sorted(again["edge_id"]) == sorted(frame["edge_id"])
    merged = again.set_index("edge_id")["grid_code"]
    assert (merged.loc[frame["edge_id"]].to_numpy() == frame["grid_code"].to_numpy()).all()


def _two_grid_strip(store: Store) -> tuple[gpd.GeoDataFrame, str, str]:
    grids = store.read_metric("grids").set_index("grid_code", drop=False)
    geoms = grids.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    shared = shapely.length(shapely.intersection(geoms[i[keep]], geoms[j[keep]]))
    k = int(np.argmax(shared))
    a, b = grids.index[i[keep][k]], grids.index[j[keep][k]]
    border = shapely.intersection(grids.geometry[a], grids.geometry[b])
    left = shapely.intersection(shapely.buffer(border, 8, cap_style="flat"), grids.geometry[a])
    right = shapely.intersection(shapely.buffer(border, 1, cap_style="flat"), grids.geometry[b])
    # drawn around the buildings, as a planner would (an area cutting a building is a
    # conflict the check reports; buildings stay whole)
    footprints = shapely.union_all(store.read_metric("buildings").geometry.to_numpy())
    strip = shapely.difference(shapely.union(left, right), footprints)
    frame = gpd.GeoDataFrame(
        {"edge_id": ["X1"], "kind": ["strip"], "source": ["drawn"]},
        geometry=[strip],
        crs=store.metric_crs,
    )
    return frame, a, b


def test_assignment_rules(store):
    frame, a, b = _two_grid_strip(store)
    grids = store.read_metric("grids")
    longest = edge_areas.assign_edge_areas(frame, grids, rule="longest_border")
    # the strip runs 8 m deep into a and 1 m into b: a holds most of it
    assert longest["grid_code"].iloc[0] == a
    assert "面积最多" in longest["reason"].iloc[0]
    # alone in a gap, it goes to the grid sharing the longest border
    hole = grids.assign(geometry=grids.geometry.difference(frame.geometry.iloc[0]))
    gap = edge_areas.assign_edge_areas(frame, hole, rule="longest_border")
    assert gap["grid_code"].iloc[0] in (a, b) and "共边最长" in gap["reason"].iloc[0]
    hh = grids.set_index("grid_code")["households"]
    fewer = edge_areas.assign_edge_areas(frame, grids, rule="fewer_households")
    assert fewer["grid_code"].iloc[0] == min((a, b), key=lambda c: hh[c])
    assert (fewer["assigned_by"] == "auto").all()


def test_dispute_then_settle(store, capsys):
    frame, a, b = _two_grid_strip(store)
    store.write("edge_areas", frame)
    status, _ = _cli(capsys, "edges", str(store.path), "--assign")
    assert store.read("edge_areas")["grid_code"].iloc[0] == a
    status, report = _cli(
        capsys, "edges", str(store.path), "--dispute", "X1", "--text", "两社区均认领"
    )
    assert status == 0 and report["previous_grid"] == a
    # an open dispute is not assigned automatically and keeps the check failing
    status, _ = _cli(capsys, "edges", str(store.path), "--assign")
    assert store.read("edge_areas")["grid_code"].iloc[0] is None
    status, check = _cli(capsys, "check", str(store.path), "--fix", "--apply")
    assert status == 1
    (open_dispute,) = check["check"]["unassigned_edge_areas"]
    assert open_dispute["ref"] == "X1" and "争议" in open_dispute["detail"]
    # settle it in favour of b: recorded, and the grids follow
    status, settled = _cli(
        capsys,
        "edges",
        str(store.path),
        "--settle",
        "X1",
        "--grid",
        b,
        "--by",
        "王主任",
        "--text",
        "经两网格协商归入",
        "--date",
        "2026-03-01",
    )
    assert status == 0
    row = store.read("edge_areas").iloc[0]
    assert row["grid_code"] == b and row["assigned_by"] == "manual" and row["disputed"]
    assert row["agreement_by"] == "王主任" and row["agreement_date"] == "2026-03-01"
    assert row["agreement_text"] == "经两网格协商归入"
    log = store.read("change_log")
    assert {"dispute", "settle"} <= set(log["action"])
    status, check = _cli(capsys, "check", str(store.path), "--fix", "--apply")
    assert check["check"]["unassigned_edge_areas"] == []
    held = store.read_metric("grids").set_index("grid_code").geometry[b]
    strip = store.read_metric("edge_areas").geometry.iloc[0]
    assert shapely.area(shapely.intersection(held, strip)) == pytest.approx(strip.area, rel=1e-3)
    # detection keeps the settled, drawn area as it is
    again = edge_areas.detect_edge_areas(store)
    kept = again[again["edge_id"] == "X1"].iloc[0]
    assert kept["grid_code"] == b and kept["assigned_by"] == "manual"


def test_settle_refuses_bad_input(store, capsys):
    frame, a, _ = _two_grid_strip(store)
    store.write("edge_areas", frame)
    capsys.readouterr()
    assert (
        run(
            [
                "edges",
                str(store.path),
                "--settle",
                "X1",
                "--grid",
                "NOPE",
                "--by",
                "x",
                "--text",
                "y",
            ]
        )
        == 2
    )
    assert (
        run(["edges", str(store.path), "--settle", "X9", "--grid", a, "--by", "x", "--text", "y"])
        == 2
    )
    assert run(["edges", str(store.path), "--settle", "X1", "--grid", a]) == 2
    assert (
        run(
            [
                "edges",
                str(store.path),
                "--settle",
                "X1",
                "--grid",
                a,
                "--by",
                "x",
                "--text",
                "y",
                "--date",
                "March",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("planner: error:") for line in err)


def test_imported_edge_areas_are_kept(store, tmp_path, capsys):
    frame, a, _ = _two_grid_strip(store)
    path = tmp_path / "drawn.geojson"
    frame.drop(columns="source").assign(name="临街商铺带").to_crs(4326).to_file(path)
    capsys.readouterr()
    assert run(["import", str(path), "--layer", "edge_areas", "--store", str(store.path)]) == 0
    merged = edge_areas.detect_edge_areas(store)
    assert "X1" in set(merged["edge_id"])
    others = merged[merged["edge_id"] != "X1"]
    x1 = merged[merged["edge_id"] == "X1"].geometry.iloc[0]
    overlap = shapely.area(shapely.intersection(others.geometry.to_numpy(), x1))
    assert (overlap < 1.0).all()
