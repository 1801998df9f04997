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
Nothing here knows about HTTP.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner_web.encoding import json_text

if TYPE_CHECKING:
    from planner.pipeline import Bbox
    from planner_web.features import LayerFeatures

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
    "make_tile",
    "tile_bounds",
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


def _lon(x: np.ndarray | float, n: float) -> np.ndarray | float:
    return np.asarray(x) / n * 360.0 - 180.0


def _lat(y: np.ndarray | float, n: float) -> np.ndarray | float:
    return np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * np.asarray(y) / n))))


def tile_bounds(z: int, x: int, y: int) -> Bbox:
    """``(west, south, east, north)`` in degrees of tile ``z/x/y``."""
    n = 2.0**z
    return (
        float(_lon(x, n)),
        float(_lat(y + 1, n)),
        float(_lon(x + 1, n)),
        float(_lat(y, n)),
    )


def _tile_xy(lon: np.ndarray, lat: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray]:
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
    tx, ty = _tile_xy(np.array([west, east]), np.array([north, south]), z)
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


def make_tile(
    layer: LayerFeatures,
    z: int,
    x: int,
    y: int,
    *,
    gcj02: bool = False,
    properties: Sequence[str] | None = None,
    budget: int = TILE_FEATURE_BUDGET,
) -> Tile:
    """The features of ``layer`` in tile ``z/x/y`` (see the module's description).

    Parameters
    ----------
    layer
        The served layer.
    z, x, y
        The tile.
    gcj02
        Shift coordinates to GCJ-02 for display over Gaode-style tiles (the tile's box
        is then in shifted coordinates, as the map asking for it sees them).
    properties
        Only these attributes (None = all); cells of a generalised tile sum the
        numeric ones among them.
    budget
        Most features sent as they are.

    Raises
    ------
    PlannerError
        If the tile is outside the map, or ``properties`` names a field the layer lacks.
    """
    if not 0 <= z <= MAX_TILE_ZOOM:
        msg = f"tile zoom {z} is outside 0–{MAX_TILE_ZOOM}"
        raise PlannerError(msg, source="z")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        msg = f"tile {z}/{x}/{y} is outside the map (x and y are 0–{2**z - 1} at zoom {z})"
        raise PlannerError(msg, source="xy")
    from planner_web.features import FeaturePage, zoom_level

    bounds = tile_bounds(z, x, y)
    box = bounds
    if gcj02:
        box = (
            bounds[0] - GCJ02_PAD,
            bounds[1] - GCJ02_PAD,
            bounds[2] + GCJ02_PAD,
            bounds[3] + GCJ02_PAD,
        )
    rows = layer.rows_in(box) if layer.geometries is not None else np.arange(0)
    level = zoom_level(z + 1)
    generalised = len(rows) > budget
    if not generalised:
        texts = layer.texts_of(rows, level=level, gcj02=gcj02, properties=properties)
    elif layer.spec.geometry == "LineString":
        lengths = shapely.length(layer.geometries[rows])
        keep = np.sort(rows[np.argsort(-lengths, kind="stable")[:budget]])
        texts = layer.texts_of(keep, level=level, gcj02=gcj02, properties=properties)
    else:
        texts = _cells(layer, rows, z, x, y, gcj02=gcj02, properties=properties)
    page = FeaturePage(",".join(texts), len(rows), len(texts))
    text = page.collection(layer=layer.name, tile=[z, x, y], generalised=generalised)
    return Tile(text, len(rows), len(texts), generalised)


def _cells(
    layer: LayerFeatures,
    rows: np.ndarray,
    z: int,
    x: int,
    y: int,
    *,
    gcj02: bool,
    properties: Sequence[str] | None,
) -> list[str]:
    """Square cells of the tile holding the centres of ``rows``, with counts and sums."""
    from planner_web.features import COORDINATE_GRID, _to_gcj02

    fields = layer._check_fields(properties) or ()
    centres = layer.centres[rows]
    tx, ty = _tile_xy(centres[:, 0], centres[:, 1], z)
    px, py = (tx - x) * TILE_PX, (ty - y) * TILE_PX
    # Each feature counts in the one tile holding its centre: cells never overlap.
    inside = (px >= 0) & (px < TILE_PX) & (py >= 0) & (py < TILE_PX)
    side = TILE_PX // CELL_PX
    cx = (px[inside] // CELL_PX).astype(np.int64)
    cy = (py[inside] // CELL_PX).astype(np.int64)
    keys, inverse = np.unique(cy * side + cx, return_inverse=True)
    counts = np.bincount(inverse)
    # Attribute texts by column (numbers and true/false need no JSON encoder): a cell
    # costs a string join, not a json.dumps.
    columns: list[list[str]] = [[f'"cell":{c}' for c in counts.tolist()]]
    picked = rows[inside]
    for name in fields:
        column = layer.frame[name]
        kind = column.dtype.kind
        if kind == "b":
            # True only where every feature of the cell is.
            falses = np.bincount(inverse, weights=~column.to_numpy()[picked], minlength=len(keys))
            key = json_text(name)
            columns.append([f"{key}:true" if f == 0 else f"{key}:false" for f in falses.tolist()])
        elif kind in "iuf":
            values = pd.to_numeric(column, errors="coerce").to_numpy(float)[picked]
            sums = np.bincount(inverse, weights=np.nan_to_num(values), minlength=len(keys))
            key = json_text(name)
            columns.append(
                [f"{key}:{int(v)}" if v.is_integer() else f"{key}:{v:.3f}" for v in sums.tolist()]
            )
    n = 2.0**z
    kx, ky = keys % side, keys // side
    west = _lon(x + kx * CELL_PX / TILE_PX, n)
    east = _lon(x + (kx + 1) * CELL_PX / TILE_PX, n)
    north = _lat(y + ky * CELL_PX / TILE_PX, n)
    south = _lat(y + (ky + 1) * CELL_PX / TILE_PX, n)
    # The cells' rings written directly (corners SW, SE, NE, NW, rounded as features are).
    lons = np.column_stack([west, east, east, west])
    lats = np.column_stack([south, south, north, north])
    if gcj02:
        shifted = _to_gcj02(np.column_stack([lons.ravel(), lats.ravel()]))
        lons, lats = shifted[:, 0].reshape(lons.shape), shifted[:, 1].reshape(lats.shape)
    digits = round(-math.log10(COORDINATE_GRID))
    corners = [
        [f"[{a:.{digits}f},{b:.{digits}f}]" for a, b in zip(lo, la, strict=True)]
        for lo, la in zip(lons.tolist(), lats.tolist(), strict=True)
    ]
    geometry_texts = [
        f'{{"type":"Polygon","coordinates":[[{c[0]},{c[1]},{c[2]},{c[3]},{c[0]}]]}}'
        for c in corners
    ]
    props = [",".join(parts) for parts in zip(*columns, strict=True)]
    prefix = f"cell-{z}-{x}-{y}-"
    return [
        f'{{"type":"Feature","id":"{prefix}{k}","geometry":{g},"properties":{{{p}}}}}'
        for k, g, p in zip(keys.tolist(), geometry_texts, props, strict=True)
    ]


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
