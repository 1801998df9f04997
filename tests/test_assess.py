"""四维测评 and staffing, checked against hand-computed values on a small case."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner.assess import assess


@pytest.fixture
def small():
    # Two grids in a metric CRS: A is 100 m x 100 m (1 ha), B is 600 m x 400 m (24 ha).
    grids = gpd.GeoDataFrame(
        {"grid_code": ["A", "B"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 700, 400)],
        crs="EPSG:4549",
    )
    rows = [
        # grid, category, households, residents, elderly, disabled, children
        ("A", "residential", 150, 400, 2, 1, 0),
        ("A", "residential", 120, 300, 0, 0, 1),
        ("A", "shop", 0, 0, 0, 0, 0),
        ("A", "public", 0, 0, 0, 0, 0),
        *[("B", "residential", 70, 180, 5, 2, 0) for _ in range(6)],
        ("B", "mixed", 20, 50, 0, 0, 0),
        ("B", "residential", 0, 0, 0, 0, 0),
    ]
    buildings = pd.DataFrame(
        rows,
        columns=[
            "grid_code",
            "category",
            "households",
            "residents",
            "elderly_alone",
            "disabled",
            "left_behind_children",
        ],
    )
    return grids, buildings


def test_four_dimensions_by_hand(small):
    grids, buildings = small
    out = assess(grids, buildings).set_index("grid_code")
    a, b = out.loc["A"], out.loc["B"]
    assert a["households"] == 270 and a["residents"] == 700 and a["buildings"] == 4
    assert a["area_m2"] == pytest.approx(10_000)
    assert a["density"] == pytest.approx(700.0)  # residents per hectare
    assert (a["elderly_alone"], a["disabled"], a["left_behind_children"]) == (2, 1, 1)
    assert a["special_groups"] == 4
    assert a["places"] == 2
    assert b["households"] == 440 and b["residents"] == 1130 and b["buildings"] == 8
    assert b["area_m2"] == pytest.approx(240_000)
    assert b["density"] == pytest.approx(1130 / 24)
    assert b["special_groups"] == 42 and b["places"] == 0


def test_staffing_by_hand(small):
    grids, buildings = small
    out = assess(grids, buildings).set_index("grid_code")
    assert (out["grid_leaders"] == 1).all() and (out["fulltime_workers"] == 1).all()
    # A: 270 households, 1 ha, 4 special: no extra worker. B: 440 > 400 households.
    assert out.loc["A", "parttime_workers"] == 0
    assert out.loc["B", "parttime_workers"] == 1
    # Building leaders: A has 2 residential buildings with households -> 1; B has 7 -> 2.
    assert out.loc["A", "building_leaders"] == 1
    assert out.loc["B", "building_leaders"] == 2


def test_thresholds_are_configurable(small):
    grids, buildings = small
    out = assess(
        grids,
        buildings,
        parttime_households=1000,
        parttime_area_m2=5_000,
        parttime_special_groups=100,
        buildings_per_leader=2,
    ).set_index("grid_code")
    # Now the area rule triggers for both grids, the household rule for none.
    assert list(out["parttime_workers"]) == [1, 1]
    assert list(out["building_leaders"]) == [1, 4]
    special = assess(grids, buildings, parttime_households=1000, parttime_special_groups=3)
    assert list(special["parttime_workers"]) == [1, 1]


def test_metric_crs_required(small):
    grids, buildings = small
    with pytest.raises(ValueError, match="metric"):
        assess(grids.to_crs(4326), buildings)
