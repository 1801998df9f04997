"""Reading order, zones and hierarchical codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from planner.codes import grid_codes, group_zones, reading_order


def _tiles(rows: int, cols: int) -> np.ndarray:
    return np.array(
        [
            shapely.box(c * 100, -r * 100, c * 100 + 100, -r * 100 + 100)
            for r in range(rows)
            for c in range(cols)
        ]
    )


def _adjacency(rows: int, cols: int) -> pd.DataFrame:
    edges = []
    for r in range(rows):
        for c in range(cols):
            u = r * cols + c
            if c + 1 < cols:
                edges.append((u, u + 1, 100.0, 100.0))
            if r + 1 < rows:
                edges.append((u, u + cols, 100.0, 100.0))
    return pd.DataFrame(edges, columns=["a", "b", "length", "cost"])


def test_reading_order_north_to_south_west_to_east():
    points = shapely.points([(0, 0), (100, 0), (0, 100), (100, 100)])
    assert list(reading_order(points, row_height=50)) == [2, 3, 0, 1]


def test_zones_contiguous_and_sized():
    tiles = _tiles(6, 7)
    zone = group_zones(tiles, _adjacency(6, 7), grids_per_zone=7)
    counts = np.bincount(zone)
    assert len(counts) >= 4 and counts.min() >= 5 and counts.max() <= 9
    for z in range(len(counts)):
        merged = shapely.union_all(tiles[zone == z])
        assert merged.geom_type == "Polygon"
    # Zone 01 is the north-west one.
    first = shapely.union_all(tiles[zone == 0]).centroid
    assert first.y >= shapely.union_all(tiles).centroid.y - 100


def test_codes_hierarchical_and_deterministic():
    tiles = _tiles(2, 3)
    zone = np.array([0, 0, 1, 0, 0, 1])
    codes, zones, names = grid_codes("320102001", tiles, zone)
    assert codes[0] == "32010200101001" and codes[1] == "32010200101002"
    assert codes[2] == "32010200102001" and codes[5] == "32010200102002"
    assert zones[3] == "32010200101" and names[0] == "第1片区第1网格"
    assert grid_codes("320102001", tiles, zone) == (codes, zones, names)
    assert len(set(codes)) == len(codes)
