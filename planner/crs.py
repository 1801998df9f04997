"""Coordinate reference systems: storage CRS, metric CRS per area, swapped-axis checks, GCJ-02."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyproj

from planner.errors import PlannerError

__all__ = [
    "STORAGE_CRS",
    "check_lonlat",
    "in_china",
    "is_geographic",
    "is_storage_crs",
    "metric_crs_for",
    "wgs84_to_gcj02",
]

if TYPE_CHECKING:
    import geopandas as gpd

#: Layers are stored in WGS84 longitude/latitude (CGCS2000, EPSG:4490, differs by centimetres).
STORAGE_CRS = "EPSG:4326"
# Parsed once: comparing a CRS with the text parses it again each time (a small write
# compares several times).
_STORAGE = pyproj.CRS.from_user_input(STORAGE_CRS)

# Rough lon/lat box around China, used to spot swapped axes and to pick CGCS2000 zones.
_CHINA_LON = (73.0, 135.5)
_CHINA_LAT = (18.0, 53.6)


def is_storage_crs(crs: pyproj.CRS | str) -> bool:
    """Return True if ``crs`` is the storage CRS."""
    # A CRS made from the code itself (as GDAL's reads make it) needs no comparison:
    # pyproj's takes tens of microseconds, and a small write asks several times.
    if crs is _STORAGE or getattr(crs, "srs", crs) == STORAGE_CRS:
        return True
    return _STORAGE.equals(crs)


def in_china(lon: float, lat: float) -> bool:
    """Return True if a longitude/latitude falls in the rough box around China."""
    return _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]


def metric_crs_for(lon: float, lat: float) -> str:
    """Choose the metric CRS used for measurements around a point.

    Inside China this is the CGCS2000 3-degree Gauss-Kruger zone without zone
    prefix (EPSG:4534-4554, central meridians 75E-135E); elsewhere the WGS84 UTM
    zone.

    Parameters
    ----------
    lon, lat
        A representative point of the area, in degrees.

    Returns
    -------
    str
        An ``EPSG:nnnn`` code.
    """
    if in_china(lon, lat):
        central = min(max(3 * round(lon / 3), 75), 135)
        return f"EPSG:{4534 + (central - 75) // 3}"
    zone = min(int((lon + 180) // 6) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def check_lonlat(gdf: gpd.GeoDataFrame, *, source: str = "") -> None:
    """Refuse geographic coordinates that are out of range or look swapped.

    Parameters
    ----------
    gdf
        Data already in a geographic CRS (degrees).
    source
        Name of the file, for the message.

    Raises
    ------
    PlannerError
        If latitudes exceed 90 degrees or the data sits where China would be
        with latitude and longitude exchanged.
    """
    if gdf.empty:
        return
    minx, miny, maxx, maxy = gdf.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return
    if in_china(miny, minx) and in_china(maxy, maxx) and not in_china(minx, miny):
        msg = (
            f"coordinates look swapped (lat/lon): x spans {minx:.4f}..{maxx:.4f} and y spans "
            f"{miny:.4f}..{maxy:.4f}, which is China only with the axes exchanged; "
            "write longitude as x and latitude as y"
        )
        raise PlannerError(msg, source=source)
    if miny < -90 or maxy > 90 or minx < -180 or maxx > 180:
        msg = (
            f"coordinates out of range for degrees (x {minx:.1f}..{maxx:.1f}, "
            f"y {miny:.1f}..{maxy:.1f}); the file's CRS is probably wrong or missing"
        )
        raise PlannerError(msg, source=source)


def is_geographic(crs: object) -> bool:
    """Return True if ``crs`` is a geographic (degrees) CRS."""
    return pyproj.CRS.from_user_input(crs).is_geographic


# GCJ-02 ("Mars coordinates") display shift used by Gaode/Tencent basemaps. Data is never
# stored shifted; the web map shifts only for display over such tiles.
_A = 6378245.0
_EE = 0.00669342162296594323


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS84 coordinates to GCJ-02 for display over Gaode-style tiles.

    Points outside China are returned unchanged, as the shift does not apply there.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    inside = (lon >= _CHINA_LON[0]) & (lon <= _CHINA_LON[1])
    inside &= (lat >= _CHINA_LAT[0]) & (lat <= _CHINA_LAT[1])
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)
