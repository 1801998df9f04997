"""Serve the big layers by map tile: one Web-Mercator tile's features, generalised when dense.

A tile ``z/x/y`` is the usual XYZ tile (as OpenStreetMap's), drawn 512 px wide as vector
tiles are: its features are simplified to half a pixel at zoom ``z + 1``. The features
are those that intersect the tile, whole (not clipped; a client drawing several tiles
keeps one copy of each by its id). A tile with more than :data:`TILE_FEATURE_BUDGET`
features (a whole district of buildings at a low zoom) is generalised instead: points
and areas become square cells of :data:`CELL_PX` pixels, each with the number of
features whose centre it holds (``cell``), the sums of the numeric attributes asked for
and, for true/false attributes, whether all of them are true; lines keep the longest
:data:`TILE_FEATURE_BUDGET`. So a tile costs about the same whatever the size of the
layer, and it is made once per version of its layer and kept (:class:`TileCache`).
The tile arithmetic and the cache are here; a layer's tile is made by
:func:`planner_web.features.make_tile`. Nothing here knows about HTTP.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from planner.pipeline import Bbox

__all__ = [
    "CELL_PX",
    "GCJ02_PAD",
    "MAX_TILE_ZOOM",
    "SEED_MAX_ZOOM",
    "TILE_CACHE_BYTES",
    "TILE_FEATURE_BUDGET",
    "TILE_PX",
    "Tile",
    "TileCache",
    "tile_bounds",
    "tile_lat",
    "tile_lon",
    "tile_xy",
    "tiles_covering",
]

#: Pixels a tile is drawn across (vector tiles' convention): simplified for zoom z + 1.
TILE_PX = 512
#: Most features a tile sends as they are; a denser tile is generalised.
TILE_FEATURE_BUDGET = 1000
#: The side of a generalised tile's cells, in tile pixels.
CELL_PX = 16
#: Deepest tile zoom served (a tile of zoom 21 is about 10 m across).
MAX_TILE_ZOOM = 21
#: Tiles of a layer's extent made in the background down to this zoom (the few, dear ones).
SEED_MAX_ZOOM = 15
#: Memory the kept tiles may take (their text), in bytes; the least used go first.
TILE_CACHE_BYTES = 256 * 1024**2
#: Degrees a GCJ-02 (shifted) tile's box is widened by: the shift is under ~700 m.
GCJ02_PAD = 0.01


def tile_lon(x: np.ndarray | float, n: float) -> np.ndarray | float:
    """Longitude of tile column ``x`` (fractional) of ``n`` columns."""
    return np.asarray(x) / n * 360.0 - 180.0


def tile_lat(y: np.ndarray | float, n: float) -> np.ndarray | float:
    """Latitude of tile row ``y`` (fractional) of ``n`` rows (web Mercator)."""
    return np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * np.asarray(y) / n))))


def tile_bounds(z: int, x: int, y: int) -> Bbox:
    """``(west, south, east, north)`` in degrees of tile ``z/x/y``."""
    n = 2.0**z
    return (
        float(tile_lon(x, n)),
        float(tile_lat(y + 1, n)),
        float(tile_lon(x + 1, n)),
        float(tile_lat(y, n)),
    )


def tile_xy(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
    """Fractional tile coordinates of points at zoom ``z``."""
    n = 2.0**z
    lat = np.clip(lat, -85.05112878, 85.05112878)
    rad = np.radians(lat)
    tx = (np.asarray(lon) + 180.0) / 360.0 * n
    ty = (1.0 - np.log(np.tan(rad) + 1.0 / np.cos(rad)) / np.pi) / 2.0 * n
    return tx, ty


def tiles_covering(bbox: Bbox, z: int) -> list[tuple[int, int]]:
    """The ``(x, y)`` of the zoom-``z`` tiles that cover ``bbox``, row by row."""
    west, south, east, north = bbox
    tx, ty = tile_xy(np.array([west, east]), np.array([north, south]), z)
    last = 2**z - 1
    x0, x1 = (int(min(max(math.floor(v), 0), last)) for v in tx)
    y0, y1 = (int(min(max(math.floor(v), 0), last)) for v in ty)
    return [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


@dataclass(frozen=True)
class Tile:
    """One tile of a layer.

    Attributes
    ----------
    text
        The GeoJSON FeatureCollection, with ``numberMatched``, ``numberReturned``,
        ``tile`` (``[z, x, y]``) and ``generalised``.
    number_matched
        Features intersecting the tile.
    number_returned
        Features (or cells) sent.
    generalised
        True when the tile was too dense and sends cells or the longest lines.
    """

    text: str
    number_matched: int
    number_returned: int
    generalised: bool


class TileCache:
    """Tiles made, kept by key up to a memory budget; the least recently used go first.

    Keys start with ``(layer name, layer version, ...)``: :meth:`keep` drops the tiles of
    versions no longer current. Safe to share between threads.
    """

    def __init__(self, max_bytes: int = TILE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._tiles: OrderedDict[Hashable, Tile] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tiles)

    def get(self, key: Hashable) -> Tile | None:
        """The tile kept under ``key`` (now the most recently used), or None."""
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
            return tile

    def put(self, key: Hashable, tile: Tile) -> None:
        """Keep ``tile``; drop the least recently used while over the budget."""
        size = len(tile.text)
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self.nbytes -= len(old.text)
            self._tiles[key] = tile
            self.nbytes += size
            while self.nbytes > self.max_bytes and len(self._tiles) > 1:
                _, dropped = self._tiles.popitem(last=False)
                self.nbytes -= len(dropped.text)

    def keep(self, current: set[tuple[str, str]]) -> None:
        """Drop every tile whose ``(layer, version)`` is not in ``current``."""
        with self._lock:
            stale = [k for k in self._tiles if tuple(k[:2]) not in current]
            for k in stale:
                self.nbytes -= len(self._tiles.pop(k).text)
