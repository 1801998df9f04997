"""Many communities in one store (planner/communities.py), on a small tiled area.

The area is a corner of the Nanjing extract clipped and tiled 2×2 edge to edge by the
benchmark helper (``benchmarks/tiles.py``): four communities of a few hundred
buildings each, or the whole of it as one community cut into regions.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely

from planner import config
from planner.cli import run
from planner.communities import (
    choose_community,
    community_figures,
    community_of,
    read_communities,
    work_regions,
)
from planner.edge_areas import detect_edge_areas
from planner.errors import InputError
from planner.grids import make_grids
from planner.pipeline import import_osm
from planner.settings import settings
from planner.store import Store
from planner.topology import check

ROOT = Path(__file__).resolve().parents[1]
#: A corner of the Nanjing buildings' extent: a few hundred buildings a tile.
CORNER = (118.7624, 32.0328, 118.7740, 32.0420)


def _tiles():
    spec = importlib.util.spec_from_file_location("bench_tiles", ROOT / "benchmarks" / "tiles.py")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: its dataclass looks its own module up.
    sys.modules.setdefault("bench_tiles", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> dict[str, Path]:
    """The corner tiled 2×2: the OSM file, the tiles' boundaries and one whole boundary."""
    tiles = _tiles()
    folder = tmp_path_factory.mktemp("tiled")
    extract = tiles.clip_extract(config.DATA_DIR / "osm" / "nanjing_xinjiekou.osm", CORNER)
    osm = folder / "city2.osm"
    counts = tiles.write_tiled(extract, 2, osm)
    communities = folder / "city2.geojson"
    whole = folder / "city2_whole.geojson"
    tiles.write_communities(CORNER, 2, communities)
    tiles.write_communities(CORNER, 2, whole, whole=True)
    return {"osm": osm, "communities": communities, "whole": whole, "counts": counts}


@pytest.fixture(scope="module")
def four(tiled, tmp_path_factory) -> Store:
    """A store of four communities (one per tile) with grids drawn."""
    path = tmp_path_factory.mktemp("four") / "four.gpkg"
    store, report = import_osm(tiled["osm"], path, boundary_file=tiled["communities"])
    assert report["communities"] == 4
    make_grids(store)
    return store


def test_tiles_are_copies_edge_to_edge(tiled):
    root = ET.parse(tiled["osm"]).getroot()
    ways = root.findall("way")
    buildings = [w for w in ways if any(t.get("k") == "building" for t in w.findall("tag"))]
    assert len(buildings) == tiled["counts"]["buildings"] > 0
    assert len(buildings) % 4 == 0
    ids = [n.get("id") for n in root.findall("node")]
    assert len(ids) == len(set(ids))
    names = [t.get("v") for t in root.iter("tag") if t.get("k") == "name"]
    assert names and all(n.rsplit("·", 1)[-1] in {"r0c0", "r0c1", "r1c0", "r1c1"} for n in names)
    # Every node lies inside the tiled extent; the copies sit side by side.
    lon = np.array([float(n.get("lon")) for n in root.findall("node")])
    lat = np.array([float(n.get("lat")) for n in root.findall("node")])
    west, south, east, north = CORNER
    assert lon.min() >= west - 1e-7 and lon.max() <= west + 2 * (east - west) + 1e-7
    assert lat.min() >= south - 1e-7 and lat.max() <= south + 2 * (north - south) + 1e-7
    # A closed way crossing the clip was dropped: every closed way is closed still.
    for way in ways:
        refs = [nd.get("ref") for nd in way.findall("nd")]
        tags = {t.get("k") for t in way.findall("tag")}
        if "building" in tags:
            assert refs[0] == refs[-1]


def test_read_communities_groups_by_code(tiled):
    frame = read_communities(str(tiled["communities"]))
    assert len(frame) == 4
    assert frame["community_code"].is_unique
    assert frame["name"].str.contains("r1c1").any()
    single = read_communities(str(tiled["whole"]), name="全区", code="C009")
    assert len(single) == 1
    assert single["community_code"].iloc[0] == "C009" and single["name"].iloc[0] == "全区"


def test_grids_and_codes_are_per_community(four):
    communities = four.read("community").to_crs(four.metric_crs)
    grids = four.read("grids").to_crs(four.metric_crs)
    codes = communities["community_code"].astype(str).tolist()
    owner = community_of(grids["grid_code"], communities)
    assert set(owner) == set(codes)
    assert grids["grid_code"].is_unique
    for code, area in zip(codes, communities.geometry, strict=True):
        mine = grids[owner == code]
        # The community's own code starts its zones and grids, and its grids cover it.
        assert mine["zone_code"].str.startswith(code).all()
        union = shapely.union_all(mine.geometry.to_numpy())
        assert shapely.symmetric_difference(union, area).area < 1e-4 * area.area
    buildings = four.read("buildings").to_crs(four.metric_crs)
    assert buildings["grid_code"].notna().all()
    # A building is in a grid of the community holding it.
    points = buildings.geometry.representative_point().to_numpy()
    holder = np.array(codes, dtype=object)[
        [
            int(np.flatnonzero(shapely.contains(communities.geometry.to_numpy(), p))[0])
            for p in points
        ]
    ]
    assert (community_of(buildings["grid_code"], communities) == holder).all()
    blocks = four.read("blocks")
    assert blocks["block_id"].is_unique
    assert (community_of(blocks["block_id"], communities) != None).all()  # noqa: E711


def test_plan_is_clean_and_edges_detect_the_same_areas(four):
    totals = check(four).totals()
    assert totals["defects"] == 0
    # Communities are drawn apart, yet their grids meet vertex to vertex.
    assert totals["coverage_valid"]
    stored = four.read_metric("edge_areas")
    again = detect_edge_areas(four)
    assert len(again) == len(stored)
    assert sorted(again["edge_id"]) == sorted(stored["edge_id"])


def test_figures_compare_communities(four):
    figures = community_figures(four)
    assert len(figures) == 4
    grids = four.read("grids")
    buildings = four.read("buildings")
    assert figures["grids"].sum() == len(grids)
    assert figures["households"].sum() == int(buildings["households"].sum())
    assert (figures["in_range"] <= figures["grids"]).all()
    assert figures["on_features_share"].between(0, 1).all()
    assert (figures["staff"] > 0).all()
    assert run(["communities", str(four.path), "--json"]) == 0


def test_communities_command_prints_one_row_each(four, capsys, tmp_path):
    out = tmp_path / "communities.csv"
    assert run(["communities", str(four.path), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    for code in four.read("community")["community_code"]:
        assert code in printed
    assert out.read_text(encoding="utf-8-sig").count("\n") == 5
    assert run(["communities", str(four.path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["communities"]
    assert [r["community_code"] for r in rows] == list(four.read("community")["community_code"])


def test_a_community_is_chosen_by_code_or_name(four):
    communities = four.read("community")
    with pytest.raises(InputError) as caught:
        choose_community(communities, None)
    assert caught.value.param == "community"
    code = communities["community_code"].iloc[2]
    assert choose_community(communities, code) == 2
    assert choose_community(communities, communities["name"].iloc[1]) == 1
    with pytest.raises(InputError):
        choose_community(communities, "nowhere")
    assert choose_community(communities.iloc[[0]], None) == 0


def test_single_boundary_keeps_one_community(tiled, tmp_path):
    store, report = import_osm(
        tiled["osm"], tmp_path / "one.gpkg", boundary_file=tiled["whole"], code="C777"
    )
    assert report["communities"] == 1
    community = store.read("community")
    assert community["community_code"].tolist() == ["C777"]
    result = make_grids(store)
    assert result["communities"] == 1 and "by_community" not in result
    grids = store.read("grids")
    assert grids["grid_code"].str.startswith("C777").all()
    # Block ids are numbered as they always were: no community or region prefix.
    assert store.read("blocks")["block_id"].str.match(r"^S\d{3}").all()


@pytest.mark.slow
def test_a_large_community_is_drawn_region_by_region(tiled, tmp_path, monkeypatch):
    store, _ = import_osm(tiled["osm"], tmp_path / "whole.gpkg", boundary_file=tiled["whole"])
    buildings = store.count("buildings")
    monkeypatch.setattr(settings.grid, "region_buildings", buildings // 3)
    from planner.blocks import load_inputs

    inputs = load_inputs(store)
    area = shapely.union_all(inputs["community"].geometry.to_numpy())
    regions = work_regions(area, inputs)
    assert len(regions) >= 2
    assert shapely.coverage_is_valid(np.array(regions))
    assert abs(shapely.union_all(regions).area - area.area) < 1e-4 * area.area
    result = make_grids(store)
    assert result["by_community"][0]["regions"] == len(regions)
    grids = store.read("grids").to_crs(store.metric_crs)
    assert grids["grid_code"].is_unique
    assert store.read("blocks")["block_id"].is_unique
    union = shapely.union_all(grids.geometry.to_numpy())
    assert shapely.symmetric_difference(union, area).area < 1e-4 * area.area
    assert store.read("buildings")["grid_code"].notna().all()
    totals = check(store).totals()
    assert totals["defects"] == 0 and totals["coverage_valid"]
    assert result["in_range"] >= 0.9 * result["grids"]


def test_one_community_is_redrawn_alone(four, tmp_path):
    import shutil

    path = tmp_path / "redraw.gpkg"
    shutil.copyfile(four.path, path)
    store = Store(path)
    communities = store.read("community")
    code = communities["community_code"].iloc[1]
    before = store.read("grids")
    before_buildings = store.read("buildings")
    result = make_grids(store, community=code, max_households=450)
    assert result["community"] == code
    after = store.read("grids")
    owner_before = community_of(before["grid_code"], communities)
    owner_after = community_of(after["grid_code"], communities)
    # The others' grids are exactly as they were; this one's are redrawn to the new bound.
    kept = before[owner_before != code].set_index("grid_code").sort_index()
    still = after[owner_after != code].set_index("grid_code").sort_index()
    assert list(kept.index) == list(still.index)
    assert (kept["households"] == still["households"]).all()
    mine = after[owner_after == code]
    assert len(mine) == result["grids"] and mine["households"].max() <= max(
        450, int(result["households_max"])
    )
    buildings = store.read("buildings").set_index("building_id")
    before_codes = before_buildings.set_index("building_id")["grid_code"]
    others = before_codes[community_of(before_codes, communities) != code]
    assert (buildings.loc[others.index, "grid_code"] == others).all()
    assert buildings["grid_code"].notna().all()
    assert run(["grids", str(path), "--community", "nowhere"]) == 2


def test_diff_and_edits_take_a_community(four, tmp_path):
    import shutil

    from planner.plan_edit import preview_edits
    from planner.plan_versions import diff_versions

    path = tmp_path / "edit.gpkg"
    shutil.copyfile(four.path, path)
    store = Store(path)
    communities = store.read("community")
    first, second = communities["community_code"].iloc[:2]
    make_grids(store, community=second, max_households=450)
    versions = store.read("grids")
    assert len(versions)
    from planner.plan_versions import current_version

    now = current_version(store)
    whole = diff_versions(store, now - 1, now)
    mine = diff_versions(store, now - 1, now, community=second)
    other = diff_versions(store, now - 1, now, community=first)
    assert mine["added"] or mine["removed"] or mine["reshaped"]
    assert not (other["added"] or other["removed"] or other["reshaped"])
    assert set(whole["added"]) == set(mine["added"])
    grids = store.read("grids")
    code = grids.loc[grids["grid_code"].str.startswith(first), "grid_code"].iloc[0]
    edits = [{"op": "rename", "grid": code, "name": "新名"}]
    assert preview_edits(store, edits, community=first)["grids"]
    with pytest.raises(InputError) as caught:
        preview_edits(store, edits, community=second)
    assert caught.value.param == "community"


def test_web_plan_api_takes_a_community(four, tmp_path, login):
    import shutil

    from planner_web import create_app

    path = tmp_path / "web.gpkg"
    shutil.copyfile(four.path, path)
    communities = Store(path).read("community")
    first, second = communities["community_code"].iloc[:2]
    grids = Store(path).read("grids")
    code = grids.loc[grids["grid_code"].str.startswith(first), "grid_code"].iloc[0]
    app = create_app({"STORE": str(path), "TESTING": True})
    try:
        client = app.test_client()
        login(client, str(path))
        edits = [{"op": "rename", "grid": code, "name": "新名"}]
        ok = client.post("/api/plan/preview", json={"edits": edits, "community": first})
        assert ok.status_code == 200, ok.get_data(as_text=True)
        refused = client.post("/api/plan/preview", json={"edits": edits, "community": second})
        assert refused.status_code == 400
        assert refused.get_json()["error"]["param"] == "community"
        diff = client.get(f"/api/plan/diff?community={first}")
        assert diff.status_code == 200 and diff.get_json()["kept"] == int(
            grids["grid_code"].str.startswith(first).sum()
        )
        assert client.get("/api/plan/diff?community=nowhere").status_code == 400
    finally:
        app.extensions["planner.jobs"].shutdown()
