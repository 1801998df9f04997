"""Small vectorised geometry helpers shared by the importers and the analyses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from planner.errors import PlannerError

if TYPE_CHECKING:
    import geopandas as gpd


def repair(geoms: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Repair invalid geometries and find those beyond repair.

    Parameters
    ----------
    geoms
        Array of shapely geometries (None allowed).

    Returns
    -------
    (geometries, repaired, dropped)
        The repaired array, how many were repaired, and a boolean mask of the
        missing, empty or unrepairable ones (to be left out and counted).
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    missing = shapely.is_missing(geoms)
    present = ~missing
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    dropped = missing.copy()
    dropped[present] = shapely.is_empty(geoms[present])
    return geoms, int((invalid & ~dropped).sum()), dropped


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """A point inside each geometry (points stay as they are)."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    not_point = shapely.get_type_id(geoms) != 0
    out[not_point] = shapely.point_on_surface(geoms[not_point])
    return out


def make_valid_like(geoms: np.ndarray) -> np.ndarray:
    """Repair invalid geometries, keeping only parts of each original's dimension.

    ``shapely.make_valid`` can turn a self-touching polygon into a collection of
    polygons and stray lines; a polygon layer wants the polygons only.

    Parameters
    ----------
    geoms
        Array of geometries (None allowed).

    Returns
    -------
    numpy.ndarray
        The same array with invalid entries repaired (valid ones untouched).
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    present = ~shapely.is_missing(geoms)
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    if not invalid.any():
        return geoms
    index = np.flatnonzero(invalid)
    dims = shapely.get_dimensions(geoms[index])
    fixed = shapely.make_valid(geoms[index])
    parts, owner = shapely.get_parts(fixed, return_index=True)
    keep = shapely.get_dimensions(parts) == dims[owner]
    out = np.array([shapely.GeometryCollection()] * len(index), dtype=object)
    for i in np.unique(owner[keep]):  # only the few repaired geometries
        out[i] = shapely.union_all(parts[keep & (owner == i)])
    geoms[index] = out
    return geoms


def data_extent(buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> shapely.Geometry:
    """The data's extent: every building, and the box holding 1-99 % of road vertices.

    OSM exports carry every node of any way that touches the requested box, so a
    plain min/max of the roads would stretch far out along long roads and rivers;
    buildings are small and are all kept. Both frames must share one CRS.
    """
    boxes = []
    if len(buildings):
        boxes.append(buildings.total_bounds)
    if len(roads):
        coords = shapely.get_coordinates(roads.geometry.to_numpy())
        lo, hi = np.percentile(coords, 1, axis=0), np.percentile(coords, 99, axis=0)
        boxes.append(np.concatenate([lo, hi]))
    if not boxes:
        msg = "there are no buildings or roads to take an extent from"
        raise PlannerError(msg)
    boxes = np.vstack(boxes)
    return shapely.box(*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))
