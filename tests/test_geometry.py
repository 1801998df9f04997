"""Shared geometry helpers: noding that survives the projection to lon/lat."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from planner.geometry import MAX_SEGMENT_M, node_lines


def _wedge_lines() -> np.ndarray:
    """A 1.7 km community edge and a road ending 6.6 mm inside it (a Guixi sub-area's)."""
    edge = shapely.LineString(
        [(518902.49, 3133408.04), (520257.89, 3133410.47), (521996.85, 3133413.58)]
    )
    road = shapely.LineString(
        [(521996.85, 3133413.58), (521200.98, 3133412.15), (521203.58, 3133386.1)]
    )
    close = shapely.LineString(
        [(521203.58, 3133386.1), (518904.08, 3133386.1), (518902.49, 3133408.04)]
    )
    return np.array([edge, road, close])


def test_noded_faces_stay_valid_in_lon_lat():
    """Faces of the noding cross no edge of their own once stored in lon/lat."""
    faces = shapely.get_parts(shapely.polygonize(node_lines(_wedge_lines(), 0.01)))
    assert len(faces) == 1  # a ring with a spike 800 m long and 2.5 cm wide at its base
    stored = gpd.GeoSeries(faces, crs="EPSG:4548").to_crs("EPSG:4326")
    assert stored.is_valid.all()
    assert shapely.coverage_is_valid(stored.to_numpy())
    for face in faces:
        segments = np.diff(shapely.get_coordinates(face), axis=0)
        assert np.hypot(*segments.T).max() <= MAX_SEGMENT_M + 0.01


def test_without_short_segments_the_same_faces_cross_themselves():
    """The case the short segments are for: plain noding makes a face invalid in lon/lat."""
    noded = shapely.get_parts(shapely.union_all(_wedge_lines(), grid_size=0.01))
    faces = shapely.get_parts(shapely.polygonize(noded))
    stored = gpd.GeoSeries(faces, crs="EPSG:4548").to_crs("EPSG:4326")
    assert not stored.is_valid.all()
