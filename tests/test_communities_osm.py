"""Communities from OSM administrative boundary relations (planner/communities.py).

On the one shared extract that has a closed one (Guixi: 东门街道, admin_level 8), and on a
small OSM file written here: two communities at admin_level 10 inside a street office at
level 8, and a third community whose member way lies outside the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from planner import config
from planner.cli import run
from planner.communities import osm_admin_levels, read_communities, read_osm_communities
from planner.errors import InputError
from planner.store import Store

GUIXI = config.DATA_DIR / "osm" / "guixi_jiangxi.osm"

#: The two communities' squares, W,S,E,N (degrees), side by side.
WEST = (118.780, 32.040, 118.782, 32.042)
EAST = (118.782, 32.040, 118.784, 32.042)


def _ring(nodes: list[str], ids: list[int], box: tuple[float, float, float, float]) -> list[int]:
    """Node elements of a closed ring around ``box`` (anticlockwise); the way's refs."""
    w, s, e, n = box
    refs = []
    for lon, lat in ((w, s), (e, s), (e, n), (w, n)):
        ids[0] += 1
        nodes.append(f'<node id="{ids[0]}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
        refs.append(ids[0])
    return [*refs, refs[0]]


def _way(way_id: int, refs: list[int], tags: dict[str, str]) -> str:
    nds = "".join(f'<nd ref="{r}"/>' for r in refs)
    tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return f'<way id="{way_id}" version="1">{nds}{tag}</way>'


def _relation(rel_id: int, ways: list[int], tags: dict[str, str]) -> str:
    members = "".join(f'<member type="way" ref="{w}" role="outer"/>' for w in ways)
    tag = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return f'<relation id="{rel_id}" version="1">{members}{tag}</relation>'


@pytest.fixture(scope="module")
def admin_osm(tmp_path_factory) -> Path:
    """A street office (admin_level 8) of two communities (10), with buildings and a road."""
    nodes: list[str] = []
    ids = [0]
    ways = [
        _way(101, _ring(nodes, ids, WEST), {}),
        _way(102, _ring(nodes, ids, EAST), {}),
        _way(103, _ring(nodes, ids, (WEST[0], WEST[1], EAST[2], EAST[3])), {}),
    ]
    way_id = 200
    for box in (WEST, EAST):
        w, s, e, n = box
        for i in range(3):
            for j in range(3):
                lon, lat = w + 0.0003 + i * 0.0006, s + 0.0003 + j * 0.0006
                way_id += 1
                footprint = (lon, lat, lon + 0.0002, lat + 0.0001)
                tags = {"building": "residential", "building:levels": "6"}
                ways.append(_way(way_id, _ring(nodes, ids, footprint), tags))
    ids[0] += 1
    nodes.append(f'<node id="{ids[0]}" lat="32.0410000" lon="118.7795000" version="1"/>')
    ids[0] += 1
    nodes.append(f'<node id="{ids[0]}" lat="32.0410000" lon="118.7845000" version="1"/>')
    ways.append(_way(300, [ids[0] - 1, ids[0]], {"highway": "residential", "name": "中路"}))
    relations = [
        _relation(
            9001,
            [101],
            {
                "type": "boundary",
                "boundary": "administrative",
                "admin_level": "10",
                "name": "甲社区",
                "ref": "320102001",
            },
        ),
        _relation(
            9002,
            [102],
            {
                "type": "boundary",
                "boundary": "administrative",
                "admin_level": "10",
                "name": "乙社区",
            },
        ),
        # A community whose outline lies outside the file: GDAL cannot close it.
        _relation(
            9003,
            [999],
            {
                "type": "boundary",
                "boundary": "administrative",
                "admin_level": "10",
                "name": "丙社区",
            },
        ),
        _relation(
            9000,
            [103],
            {
                "type": "boundary",
                "boundary": "administrative",
                "admin_level": "8",
                "name": "某街道",
            },
        ),
    ]
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        + "\n".join([*nodes, *ways, *relations])
        + "\n</osm>\n"
    )
    path = tmp_path_factory.mktemp("admin") / "admin.osm"
    path.write_text(text, encoding="utf-8")
    return path


def test_boundaries_are_read_at_the_chosen_level(admin_osm):
    assert osm_admin_levels(str(admin_osm)) == {"8": 1, "10": 2}
    frame = read_osm_communities(str(admin_osm), admin_level=10)
    # Named by their name tags, coded by ref, else by the relation's osm id.
    assert frame["community_code"].tolist() == ["320102001", "9002"]
    assert frame["name"].tolist() == ["甲社区", "乙社区"]
    assert (frame["boundary_source"] == "osm").all()
    for geom, box in zip(frame.geometry, (WEST, EAST), strict=True):
        square = shapely.box(*box)
        assert shapely.symmetric_difference(geom, square).area < 1e-6 * square.area
    street = read_osm_communities(str(admin_osm), admin_level="8")
    assert street["name"].tolist() == ["某街道"] and street["community_code"].tolist() == ["9000"]
    # No level given: the most local one the file has.
    assert read_communities(str(admin_osm))["name"].tolist() == ["甲社区", "乙社区"]
    with pytest.raises(InputError) as caught:
        read_osm_communities(str(admin_osm), admin_level=9)
    assert caught.value.param == "admin_level"
    assert "8 (1), 10 (2)" in str(caught.value)


def test_import_makes_one_community_per_boundary(admin_osm, tmp_path, capsys):
    store_path = tmp_path / "admin.gpkg"
    assert (
        run(["import", str(admin_osm), "--store", str(store_path), "--admin-level", "10", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["communities"] == 2
    store = Store(store_path)
    community = store.read("community")
    assert community["community_code"].tolist() == ["320102001", "9002"]
    assert community["boundary_source"].tolist() == ["osm", "osm"]
    assert len(store.read("buildings")) == 18
    assert run(["grids", str(store_path), "--min", "10", "--max", "500"]) == 0
    grids = Store(store_path).read("grids")
    assert grids["grid_code"].str.startswith("320102001").any()
    assert grids["grid_code"].str.startswith("9002").any()
    assert (
        run(["import", str(admin_osm), "--store", str(tmp_path / "x.gpkg"), "--admin-level", "9"])
        == 2
    )
    err = capsys.readouterr().err
    assert "--admin-level" in err and "10 (2)" in err


def test_a_real_extract_street_office(tmp_path, capsys):
    """Guixi's extract closes one street office (东门街道); its other boundaries are cut."""
    levels = osm_admin_levels(str(GUIXI))
    assert levels.get("8") == 1
    frame = read_osm_communities(str(GUIXI), admin_level=8)
    assert frame["name"].tolist() == ["东门街道"]
    assert frame["community_code"].tolist() == ["6662718"]
    store_path = tmp_path / "guixi.gpkg"
    assert run(["import", str(GUIXI), "--store", str(store_path), "--admin-level", "8"]) == 0
    capsys.readouterr()
    store = Store(store_path)
    community = store.read("community")
    assert community["name"].tolist() == ["东门街道"]
    assert community["community_code"].tolist() == ["6662718"]
    area = shapely.make_valid(community.geometry.iloc[0])
    buildings = store.read("buildings")
    assert len(buildings)
    inside = shapely.intersects(area, buildings.geometry.to_numpy())
    assert inside.all()


def test_an_extract_without_a_closed_boundary_says_so():
    """Nanjing's extract names three districts, each cut by its edge; Shanghai's none."""
    for name in ("nanjing_xinjiekou.osm", "shanghai_huangpu_roads.osm"):
        path = str(config.DATA_DIR / "osm" / name)
        assert osm_admin_levels(path) == {}
        with pytest.raises(InputError) as caught:
            read_osm_communities(path, admin_level=6)
        assert caught.value.param == "admin_level" and "levels with one: none" in str(caught.value)
