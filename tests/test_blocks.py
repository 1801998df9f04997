"""Blocks along physical features, on a synthetic community and on the real Tsinghua extract."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from planner.blocks import build_faces, default_depth, load_inputs, make_units

CRS = "EPSG:4549"


def _frame(geoms, crs=CRS, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


def _toy():
    """A 200 m square cut by one street; a compound in the west half; a building over the street."""
    community = _frame([shapely.box(0, 0, 200, 100)])
    roads = _frame(
        [shapely.LineString([(100, -10), (100, 110)])],
        highway=["primary"],
        internal=[False],
    )
    compounds = _frame([shapely.box(10, 10, 90, 90)], compound_id=["c1"])
    barriers = _frame([], kind=[])
    buildings = _frame(
        [
            shapely.box(20, 20, 40, 40),  # in the compound
            shapely.box(50, 20, 70, 40),  # in the compound
            shapely.box(95, 50, 120, 60),  # straddles the street, mostly east
            shapely.box(150, 20, 170, 40),  # east
        ],
        households=[300, 300, 40, 10],
    )
    return community, buildings, roads, barriers, compounds


def test_faces_cover_community_and_keep_buildings_whole():
    community, buildings, roads, barriers, compounds = _toy()
    faces = build_faces(community, buildings, roads, barriers, compounds)
    assert shapely.coverage_is_valid(faces.geometry)
    assert shapely.union_all(faces.geometry).area == 20_000
    units = make_units(faces, default_depth(faces, max_households=500))
    geoms = units.frame.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    # The straddling building goes wholly to the east street block, with its 40 households.
    straddler = units.building_unit[2]
    assert units.building_unit[3] == straddler
    assert shapely.covers(geoms[straddler], buildings.geometry.iloc[2])
    assert units.frame["households"].sum() == 650
    # West holds 600 > 500: it is opened; the compound (600) is opened into building cells.
    kinds = units.frame.set_index(units.frame.index)["kind"]
    assert kinds.iloc[units.building_unit[0]] == "cell"
    assert units.building_unit[0] != units.building_unit[1]
    for b in range(4):
        assert shapely.covers(geoms[units.building_unit[b]], buildings.geometry.iloc[b])


def test_small_compound_stays_whole():
    community, buildings, roads, barriers, compounds = _toy()
    buildings["households"] = [100, 100, 40, 10]
    faces = build_faces(community, buildings, roads, barriers, compounds)
    units = make_units(faces, default_depth(faces, max_households=500))
    assert units.building_unit[0] == units.building_unit[1]
    assert len(units.frame) == len(set(units.frame["block_id"]))


def test_real_blocks_tsinghua(tsinghua_path):
    from planner.store import Store

    inputs = load_inputs(Store(tsinghua_path))
    faces = build_faces(**inputs)
    units = make_units(faces, default_depth(faces, max_households=500))
    frame = units.frame
    assert shapely.coverage_is_valid(frame.geometry.to_numpy())
    community = shapely.union_all(inputs["community"].geometry.to_numpy())
    assert abs(frame.area.sum() - community.area) < 1e-5 * community.area
    assert set(frame.geom_type) == {"Polygon"}
    assert (units.building_unit >= 0).all()
    assert frame["households"].sum() == inputs["buildings"]["households"].sum()
    over = frame[frame["households"] > 500]
    assert (over["buildings"] == 1).all() and (over["kind"] == "cell").all()
    assert set(frame["kind"]) == {"street", "compound", "lane", "cell"}
    # Street blocks alone would hold far more than 500 households somewhere.
    streets = np.bincount(faces.labels[faces.building_face, 0], weights=faces.households)
    assert streets.max() > 500
