"""Serve layers to map clients: bbox queries, simplification by zoom, GeoJSON text, paging.

The web map, the REST API and the OGC API – Features endpoints all read layers
through :class:`FeatureSource` (one per application, see
:func:`planner_web.extensions.features`). It keeps each layer of a store in memory with a
spatial index and its features pre-serialised as GeoJSON text per zoom level,
so a viewport request is an index query and a string join rather than a
GeoPackage read and a JSON encoding. The cache follows the store file: any
write (an atomic rename) changes its modification time and the layers are
read again on the next request. Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.crs import wgs84_to_gcj02
from planner.errors import PlannerError
from planner.store import OSM_ATTRIBUTION, Store, store_location, store_stamp
from planner_web.encoding import json_text
from planner_web.tiles import (
    CELL_PX,
    GCJ02_PAD,
    MAX_TILE_ZOOM,
    SEED_MAX_ZOOM,
    TILE_FEATURE_BUDGET,
    TILE_PX,
    Tile,
    TileCache,
    tile_bounds,
    tile_lat,
    tile_lon,
    tile_xy,
    tiles_covering,
)

if TYPE_CHECKING:
    from planner.pipeline import Bbox

#: Zooms outside this range are clamped: below it the data is one smudge, above it
#: geometries are sent at full detail.
MIN_ZOOM = 10
MAX_ZOOM = 18

#: Simplification tolerance as a fraction of a screen pixel at the requested zoom.
PIXEL_TOLERANCE = 0.5

#: Coordinates are rounded to 1e-6 degrees (about 0.1 m) when sent.
COORDINATE_GRID = 1e-6

#: Serialised attribute subsets kept per layer and zoom (clients choose them).
MAX_FIELD_SUBSETS = 8

#: The file beside a GeoPackage store that keeps the catalogue's entries by layer version.
CATALOG_SUFFIX = ".catalog.json"
CATALOG_FORMAT = "grid-planner catalog 1"

__all__ = [
    "CATALOG_SUFFIX",
    "COORDINATE_GRID",
    "MAX_FIELD_SUBSETS",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "PIXEL_TOLERANCE",
    "FeaturePage",
    "FeatureSource",
    "LayerFeatures",
    "coverage_summary",
    "field_list",
    "field_stats",
    "tolerance_for",
    "zoom_level",
]


def zoom_level(zoom: float | None) -> int | None:
    """The zoom bucket a request is served from (None = full detail)."""
    if zoom is None:
        return None
    z = int(math.floor(zoom))
    return None if z >= MAX_ZOOM else max(z, MIN_ZOOM)


def tolerance_for(level: int | None) -> float:
    """Simplification tolerance in degrees at a zoom level (0 for full detail).

    A Web-Mercator pixel spans ``360 / (256 * 2**z)`` degrees of longitude; a
    vertex that moves less than half of that is invisible on screen.
    """
    if level is None:
        return 0.0
    return PIXEL_TOLERANCE * 360.0 / (256.0 * 2.0**level)


@dataclass
class FeaturePage:
    """One page of a bbox query.

    Attributes
    ----------
    features
        The features as GeoJSON text, comma-joined (ready to wrap in ``[...]``).
    number_matched
        Features matching the query before paging.
    number_returned
        Features on this page.
    """

    features: str
    number_matched: int
    number_returned: int

    def collection(self, **members: Any) -> str:
        """A GeoJSON FeatureCollection around the page, with extra top-level members."""
        extra = "".join(f",{json_text(k)}:{json_text(v)}" for k, v in members.items())
        return (
            f'{{"type":"FeatureCollection","numberMatched":{self.number_matched},'
            f'"numberReturned":{self.number_returned}{extra},"features":[{self.features}]}}'
        )


@dataclass
class LayerFeatures:
    """One layer held in memory for serving.

    Build with :meth:`from_frame`. Geometry text per zoom level is made on first
    use, vectorised over the whole layer, then reused by every request.
    """

    name: str
    spec: schema.Layer
    frame: pd.DataFrame
    ids: list[Any]
    id_index: dict[str, int]
    geometries: np.ndarray | None
    tree: shapely.STRtree | None
    version: str = ""
    _properties: list[str] | None = None
    _centres: np.ndarray | None = None
    _columns: dict[tuple[str, ...] | None, tuple[list[str], np.ndarray]] = field(
        default_factory=dict
    )
    _memos: dict[Hashable, np.ndarray] = field(default_factory=dict)
    _texts: dict[tuple, list[str]] = field(default_factory=dict)
    _geometries: dict[tuple[int | None, bool], list[str]] = field(default_factory=dict)
    # Reentrant: building a zoom level's texts (under it) asks for the attribute texts (under it).
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @classmethod
    def from_frame(cls, name: str, frame: pd.DataFrame, *, version: str = "") -> LayerFeatures:
        """Prepare a layer read from the store (EPSG:4326, conformed to the schema).

        ``version`` is the token of the layer's data version its caches are keyed by.
        """
        spec = schema.get_layer(name)
        geometries = None
        if "geometry" in frame and hasattr(frame, "geometry"):
            geometries = frame.geometry.to_numpy()
            attributes = frame.drop(columns=frame.geometry.name)
        else:
            attributes = frame
        ids = _feature_ids(spec, attributes)
        tree = None
        if geometries is not None:
            present = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
            # Missing geometries are indexed as None (STRtree skips them) so indices stay rows.
            tree = shapely.STRtree(np.where(present, geometries, None))
        return cls(
            name=name,
            spec=spec,
            frame=attributes.reset_index(drop=True),
            ids=ids,
            id_index={str(v): i for i, v in enumerate(ids)},
            geometries=geometries,
            tree=tree,
            version=version,
        )

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def properties(self) -> list[str]:
        """Every feature's attributes as JSON text, made on first use.

        Lazily: a map that asks for a few fields, or by tile, never pays for them.
        """
        props = self._properties
        if props is None:
            with self._lock:
                props = self._properties
                if props is None:
                    props = _property_texts(self.frame)
                    self._properties = props
        return props

    @property
    def centres(self) -> np.ndarray:
        """The centre of each feature's bounding box, ``(n, 2)`` lon/lat (NaN without one)."""
        centres = self._centres
        if centres is None:
            if self.geometries is None:
                centres = np.full((len(self.frame), 2), np.nan)
            else:
                b = shapely.bounds(self.geometries)
                centres = np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2])
            self._centres = centres
        return centres

    def _values(self, fields: tuple[str, ...] | None) -> tuple[list[str], np.ndarray]:
        """Attribute names and values (missing as None), rows by columns, per field subset.

        Made once per subset (vectorised), so that a tile picks its rows' values rather
        than slicing the frame: a tile's cost is its rows', not pandas' per call.
        """
        found = self._columns.get(fields)
        if found is None:
            frame = self.frame if fields is None else self.frame[list(fields)]
            clean = frame.astype(object).where(frame.notna(), None)
            found = ([str(c) for c in frame.columns], clean.to_numpy())
            with self._lock:
                if len(self._columns) >= MAX_FIELD_SUBSETS:
                    self._columns.pop(next(iter(self._columns)))
                self._columns[fields] = found
        return found

    def _memo(
        self, key: Hashable, rows: np.ndarray, make: Callable[[np.ndarray], list[str]]
    ) -> list[str]:
        """Texts of ``rows``, each made once (by ``make``) and kept for the next tiles.

        A feature is in a tile of every zoom: its id and attributes are serialised once,
        not once per zoom level.
        """
        texts = self._memos.get(key)
        if texts is None:
            texts = np.full(len(self.frame), None, dtype=object)
            with self._lock:
                if len(self._memos) > MAX_FIELD_SUBSETS:
                    self._memos.pop(next(k for k in self._memos if k != ("id",)))
                texts = self._memos.setdefault(key, texts)
        picked = texts[rows]
        todo = rows[np.equal(picked, None)]
        if len(todo):
            # Two threads may make the same texts at once: both the same, either kept.
            texts[todo] = make(todo)
            picked = texts[rows]
        return picked.tolist()

    def rows_in(self, bbox: Bbox) -> np.ndarray:
        """Rows of the features intersecting ``bbox``, in layer order."""
        if self.tree is None:
            return np.arange(len(self.frame))
        return np.sort(self.tree.query(shapely.box(*bbox), predicate="intersects"))

    def texts_of(
        self,
        rows: np.ndarray,
        *,
        level: int | None,
        gcj02: bool = False,
        properties: Sequence[str] | None = None,
    ) -> list[str]:
        """GeoJSON text of the features at ``rows`` only, simplified for zoom ``level``.

        What a tile sends: the work is that of the rows asked for, not of the layer.
        """
        fields = self._check_fields(properties)
        geoms = None if self.geometries is None else self.geometries[rows]
        geometry_texts = _geometry_texts_of(geoms, len(rows), self.spec, level, gcj02)
        if fields == ():
            props = ["{}"] * len(rows)
        elif fields is None and self._properties is not None:
            props = [self._properties[i] for i in rows]
        else:
            names, values = self._values(fields)
            props = self._memo(
                ("properties", fields),
                rows,
                lambda todo: [json_text(dict(zip(names, values[i], strict=True))) for i in todo],
            )
        ids = self._memo(("id",), rows, lambda todo: [json_text(self.ids[i]) for i in todo])
        return [
            f'{{"type":"Feature","id":{i},"geometry":{g},"properties":{p}}}'
            for i, g, p in zip(ids, geometry_texts, props, strict=True)
        ]

    @property
    def bounds(self) -> Bbox | None:
        """Lon/lat bounds of the layer's geometries (None for a table or no geometry)."""
        if self.geometries is None or len(self.geometries) == 0:
            return None
        b = shapely.total_bounds(self.geometries)
        return None if not np.all(np.isfinite(b)) else tuple(float(v) for v in b)

    def query(
        self,
        bbox: Bbox | None = None,
        *,
        zoom: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        gcj02: bool = False,
        properties: Sequence[str] | None = None,
    ) -> FeaturePage:
        """Features intersecting ``bbox``, in layer order, one page of them.

        Parameters
        ----------
        bbox
            ``(west, south, east, north)`` in degrees; None = the whole layer.
            Tables (no geometry) ignore it.
        zoom
            Map zoom the features are drawn at; geometries are simplified to half
            a pixel at that zoom (None = full detail).
        limit, offset
            Paging: at most ``limit`` features (None = all) after skipping ``offset``.
        gcj02
            Shift coordinates to GCJ-02 for display over Gaode-style tiles.
        properties
            Only these attributes (None = all): a map that styles by two fields and
            fetches the rest on click sends a fraction of the bytes.

        Returns
        -------
        FeaturePage

        Raises
        ------
        PlannerError
            If ``properties`` names a field the layer does not have.
        """
        rows = np.arange(len(self.frame)) if bbox is None else self.rows_in(bbox)
        stop = None if limit is None else offset + limit
        page = rows[offset:stop]
        fields = self._check_fields(properties)
        texts = self._feature_texts(zoom_level(zoom), gcj02, fields)
        return FeaturePage(",".join([texts[i] for i in page]), len(rows), len(page))

    def feature(
        self,
        feature_id: str,
        *,
        gcj02: bool = False,
        properties: Sequence[str] | None = None,
    ) -> str | None:
        """One feature as GeoJSON text at full detail, or None if the id is unknown.

        ``properties`` keeps only those attributes (None = all), as in :meth:`query`.
        """
        row = self.id_index.get(str(feature_id))
        if row is None:
            return None
        fields = self._check_fields(properties)
        return self._feature_texts(None, gcj02, fields)[row]

    def row(self, feature_id: str) -> int | None:
        """Row number of a feature id, or None."""
        return self.id_index.get(str(feature_id))

    def _check_fields(self, properties: Sequence[str] | None) -> tuple[str, ...] | None:
        if properties is None:
            return None
        fields = tuple(dict.fromkeys(properties))
        unknown = [f for f in fields if f not in self.frame.columns]
        if unknown:
            msg = (
                f"{self.name} has no field {', '.join(map(repr, unknown))}; "
                f"fields: {', '.join(map(str, self.frame.columns))}"
            )
            raise PlannerError(msg, source="properties")
        return fields

    def _feature_texts(
        self, level: int | None, gcj02: bool, fields: tuple[str, ...] | None
    ) -> list[str]:
        key = (level, gcj02, fields)
        texts = self._texts.get(key)
        if texts is None:
            with self._lock:
                texts = self._texts.get(key)
                if texts is None:
                    texts = self._build_texts(level, gcj02, fields)
                    # Field subsets are chosen by clients: keep only a few of them.
                    subsets = [k for k in self._texts if k[2] is not None]
                    if fields is not None and len(subsets) >= MAX_FIELD_SUBSETS:
                        del self._texts[subsets[0]]
                    self._texts[key] = texts
        return texts

    def _geometry_texts(self, level: int | None, gcj02: bool) -> list[str]:
        key = (level, gcj02)
        texts = self._geometries.get(key)
        if texts is not None:
            return texts
        texts = _geometry_texts_of(self.geometries, len(self.frame), self.spec, level, gcj02)
        self._geometries[key] = texts
        return texts

    def _build_texts(
        self, level: int | None, gcj02: bool, fields: tuple[str, ...] | None
    ) -> list[str]:
        geometry_texts = self._geometry_texts(level, gcj02)
        props = self.properties if fields is None else _property_texts(self.frame[list(fields)])
        if fields == ():
            props = ["{}"] * len(self.frame)
        ids = [json_text(v) for v in self.ids]
        return [
            f'{{"type":"Feature","id":{i},"geometry":{g},"properties":{p}}}'
            for i, g, p in zip(ids, geometry_texts, props, strict=True)
        ]


def _geometry_texts_of(
    geoms: np.ndarray | None, n: int, spec: schema.Layer, level: int | None, gcj02: bool
) -> list[str]:
    """GeoJSON geometry texts, simplified to half a pixel at ``level``, rounded, shifted."""
    if geoms is None:
        return ["null"] * n
    tolerance = tolerance_for(level)
    if tolerance > 0 and spec.geometry != "Point":
        simplified = shapely.simplify(geoms, tolerance, preserve_topology=True)
        # Keep the original where simplification would make a feature vanish.
        geoms = np.where(shapely.is_empty(simplified), geoms, simplified)
    if gcj02:
        geoms = shapely.transform(geoms, _to_gcj02)
    geoms = shapely.set_precision(geoms, COORDINATE_GRID, mode="pointwise")
    return [t if t is not None else "null" for t in shapely.to_geojson(geoms)]


def _to_gcj02(coords: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def _feature_ids(spec: schema.Layer, frame: pd.DataFrame) -> list[Any]:
    """The layer's key values when they identify features, else 1-based row numbers."""
    if spec.key and spec.key in frame:
        keys = frame[spec.key]
        if keys.notna().all() and keys.is_unique:
            return [v.item() if hasattr(v, "item") else v for v in keys]
    return list(range(1, len(frame) + 1))


def _property_texts(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    clean = frame.astype(object).where(frame.notna(), None)
    return [json_text(r) for r in clean.to_dict("records")]


def field_list(spec: schema.Layer, frame: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Fields of a layer for clients: schema fields (with Chinese names), then extra columns."""
    fields = [
        {
            "name": f.name,
            "zh": f.zh,
            "type": f.type,
            "description": f.description,
            "required": f.required,
            **({"choices": list(f.choices)} if f.choices else {}),
            **({"values_zh": schema.VALUE_NAMES_ZH} if f.name in schema.CODED_FIELDS else {}),
        }
        for f in spec.fields
    ]
    if frame is not None:
        known = set(spec.field_names) | {"geometry"}
        for column in frame.columns:
            if column not in known:
                kind = frame[column].dtype.kind
                type_ = {"i": "int", "u": "int", "f": "float", "b": "bool"}.get(kind, "str")
                fields.append(
                    {"name": str(column), "zh": str(column), "type": type_, "description": ""}
                )
    return fields


def field_stats(frame: pd.DataFrame, fields: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per-field statistics for legends and styling.

    Numbers get min, max and quintile breaks; text fields with few distinct
    values and booleans get value counts.
    """
    stats: dict[str, Any] = {}
    for f in fields:
        name = f["name"]
        if name not in frame or frame.empty:
            continue
        col = frame[name]
        if f["type"] in ("int", "float"):
            values = pd.to_numeric(col, errors="coerce").dropna()
            if values.empty:
                continue
            breaks = values.quantile([0.2, 0.4, 0.6, 0.8]).to_numpy()
            stats[name] = {
                "min": _number(values.min()),
                "max": _number(values.max()),
                "sum": _number(values.sum()),
                "breaks": [_number(v) for v in breaks],
                "filled": int(col.notna().sum()),
            }
        else:
            counts = col.dropna().astype(str).value_counts()
            if 0 < len(counts) <= 12:
                stats[name] = {"values": {str(k): int(v) for k, v in counts.items()}}
    return stats


def coverage_summary(buildings: pd.DataFrame) -> dict[str, Any] | None:
    """Households and buildings within / beyond the walking threshold, or None if not computed.

    Coverage counts as computed once any building has a walking distance or is
    marked covered. Buildings without households (shops, public buildings) are
    not counted as uncovered: nobody lives there to walk out.
    """
    if buildings.empty or "covered" not in buildings:
        return None
    walk = buildings["walk_m"] if "walk_m" in buildings else pd.Series(np.nan, buildings.index)
    covered = buildings["covered"].astype(bool)
    if walk.isna().all() and not covered.any():
        return None
    households = pd.to_numeric(buildings["households"], errors="coerce").fillna(0)
    lived_in = households > 0
    beyond = lived_in & ~covered
    total = int(households.sum())
    return {
        "households_covered": int(households[lived_in & covered].sum()),
        "households_uncovered": int(households[beyond].sum()),
        "buildings_uncovered": int(beyond.sum()),
        "share_covered": round(float(households[covered].sum()) / total, 4) if total else None,
    }


def _number(value: Any) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else round(value, 3)


class FeatureSource:
    """Layers of one store, held in memory for serving and refreshed when the store changes.

    Parameters
    ----------
    path
        The store's GeoPackage.
    layers
        Only these layers (default: every schema layer the store has).
    tile_budget
        Most features a map tile sends before it is generalised (see
        :func:`make_tile`).
    seed_zoom
        On the first tile asked of a layer (per attribute subset), make every tile of the
        layer's extent down to this zoom in the background (-1: none). The tiles of low
        zooms are few and the dearest to make (a thousand features each, or cells); those
        of high zooms are many and cheap, made when asked.

    Notes
    -----
    Safe to share between threads. Each layer's cache is keyed by the layer's data
    version (:meth:`planner.store.Store.layer_versions`): a write of one layer (a grid
    edit) re-reads that layer only, not the 100k buildings beside it. The catalogue's
    entries (counts, bounds, statistics) are kept by the same versions, in memory and,
    for a GeoPackage store, in a file beside it (``STORE.catalog.json``), so neither a
    page load nor a restart counts every layer again.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        layers: Sequence[str] | None = None,
        tile_budget: int = TILE_FEATURE_BUDGET,
        seed_zoom: int = SEED_MAX_ZOOM,
    ) -> None:
        self.path = store_location(path)
        self.tile_budget = tile_budget
        self.seed_zoom = seed_zoom
        self._seeded: set[tuple] = set()
        self._seeding = 0
        self._only = tuple(layers) if layers is not None else None
        self._lock = threading.Lock()
        # Making the catalogue reads every layer: one thread makes it, the others wait.
        self._catalog_lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self._stamp: tuple[int, int] | None = None
        self._store: Store | None = None
        self._tokens: dict[str, str] = {}
        self._layers: dict[str, LayerFeatures] = {}
        self._entries: dict[str, tuple[str, dict[str, Any]]] = {}
        self._catalog: list[dict[str, Any]] | None = None
        self._names: list[str] | None = None
        self._saved: dict[str, Any] | None = None
        self.tiles = TileCache()
        self.store  # noqa: B018  open now so a bad path fails at start-up, not on a request

    # -- the store and its version --------------------------------------------

    def _current_stamp(self) -> tuple[Any, ...]:
        try:
            return store_stamp(self.path)
        except FileNotFoundError:
            msg = "store not found"
            raise PlannerError(msg, source=str(self.path)) from None

    @property
    def store(self) -> Store:
        """The store, re-opened if the file changed since the last request."""
        stamp = self._current_stamp()
        if stamp != self._stamp or self._store is None:
            with self._lock:
                if stamp != self._stamp or self._store is None:
                    store = Store(self.path)
                    tokens = _layer_tokens(store.metadata)
                    # Layers whose data did not change keep their caches (a layer with no
                    # version, written before versions began, follows the file as before).
                    self._layers = {
                        n: f for n, f in self._layers.items() if f.version == tokens.get(n)
                    }
                    self._entries = {
                        n: e for n, e in self._entries.items() if e[0] == tokens.get(n)
                    }
                    self.tiles.keep({(n, t) for n, t in tokens.items()})
                    self._tokens = tokens
                    self._store = store
                    self._catalog = None
                    self._names = None
                    self._stamp = stamp
        return self._store

    @property
    def version(self) -> str:
        """A token that changes whenever the store is written (for ETags)."""
        store = self.store
        return f"{store.metadata.get('updated', '')}:{self._stamp[0]}"

    def layer_version(self, name: str) -> str:
        """A token that changes whenever layer ``name`` is written (for its caches and ETags)."""
        self.store  # noqa: B018
        return self._tokens.get(name) or f"file:{self._stamp}"

    def names(self) -> list[str]:
        """Layers served: the schema layers present in the store (not its plan history)."""
        store = self.store
        names = self._names
        if names is None:
            # Listing opens the GeoPackage: once per version of the file, not per request.
            names = [n for n in store.layers() if n not in schema.HISTORY_LAYERS]
            if self._only is not None:
                names = [n for n in names if n in self._only]
            self._names = names
        return list(names)

    # -- layers ---------------------------------------------------------------

    def layer(self, name: str) -> LayerFeatures:
        """The served layer ``name``.

        Raises
        ------
        PlannerError
            If the schema has no such layer, or the store does not have it.
        """
        self.store  # noqa: B018  refresh the cache if the file changed
        cached = self._layers.get(name)
        if cached is not None:
            return cached
        if name not in schema.LAYERS:
            msg = f"unknown layer {name!r}; this store has: {', '.join(self.names())}"
            raise PlannerError(msg, source="layer")
        if name not in self.names():
            spec = schema.LAYERS[name]
            msg = f"this store has no {name!r} layer ({spec.zh}) yet"
            raise PlannerError(msg, source="layer")
        with self._lock:
            cached = self._layers.get(name)
            if cached is None:
                version = self._tokens.get(name) or f"file:{self._stamp}"
                cached = LayerFeatures.from_frame(name, self._store.read(name), version=version)
                self._layers[name] = cached
        return cached

    def tile(
        self,
        name: str,
        z: int,
        x: int,
        y: int,
        *,
        gcj02: bool = False,
        properties: Sequence[str] | None = None,
    ) -> Tile:
        """Layer ``name``'s features in map tile ``z/x/y``, made once per layer version.

        See :func:`make_tile`; the tiles made are kept in :attr:`tiles`.
        """
        layer = self.layer(name)
        fields = None if properties is None else tuple(dict.fromkeys(properties))
        key = (name, layer.version, z, x, y, gcj02, fields)
        found = self.tiles.get(key)
        if found is None:
            found = make_tile(
                layer, z, x, y, gcj02=gcj02, properties=fields, budget=self.tile_budget
            )
            self.tiles.put(key, found)
        seed = (name, layer.version, gcj02, fields)
        if self.seed_zoom >= 0 and seed not in self._seeded:
            with self._lock:
                if seed not in self._seeded:
                    self._seeded.add(seed)
                    self._seeding += 1
                    threading.Thread(
                        target=self._seed, args=(layer, gcj02, fields), daemon=True
                    ).start()
        return found

    @property
    def seeding(self) -> bool:
        """True while tiles are being made in the background (see ``seed_zoom``)."""
        return self._seeding > 0

    def _seed(self, layer: LayerFeatures, gcj02: bool, fields: tuple[str, ...] | None) -> None:
        try:
            bounds = layer.bounds
            for z in range(self.seed_zoom + 1) if bounds is not None else ():
                for x, y in tiles_covering(bounds, z):
                    if self._layers.get(layer.name) is not layer:
                        return  # a newer version of the layer is served: its tiles, not these
                    key = (layer.name, layer.version, z, x, y, gcj02, fields)
                    if self.tiles.get(key) is None:
                        tile = make_tile(
                            layer, z, x, y, gcj02=gcj02, properties=fields, budget=self.tile_budget
                        )
                        self.tiles.put(key, tile)
        finally:
            with self._lock:
                self._seeding -= 1

    def catalog(self) -> list[dict[str, Any]]:
        """Every served layer with its schema (Chinese names), count, bounds and statistics.

        Each entry is made once per version of its layer; a restart finds the entries
        of unchanged layers in the file beside the store.
        """
        self.store  # noqa: B018
        catalog = self._catalog
        if catalog is None:
            with self._catalog_lock:
                catalog = self._make_catalog()
        return catalog

    def _make_catalog(self) -> list[dict[str, Any]]:
        catalog = self._catalog
        if catalog is not None:  # made by the thread this one waited for
            return catalog
        saved = self._read_saved()
        catalog = []
        changed = False
        for name in self.names():
            token = self.layer_version(name)
            kept = self._entries.get(name)
            if kept is None or kept[0] != token:
                entry = saved.get(name)
                if entry is None or entry.get("token") != token:
                    entry = {"token": token, "entry": self._entry(name)}
                    saved[name] = entry
                    changed = changed or not token.startswith("file:")
                kept = (token, entry["entry"])
                self._entries[name] = kept
            catalog.append(kept[1])
        if changed:
            self._write_saved(saved)
        self._catalog = catalog
        return catalog

    def warm(self) -> threading.Thread:
        """Make the catalogue (and so read every layer) in a background thread, now.

        What ``planner serve`` does once it listens: a store never served before (100k
        buildings: about 10 s) then has its layer list ready when the first page asks.
        """
        if self._warming is None:
            self._warming = threading.Thread(target=self._warm, name="catalog", daemon=True)
            self._warming.start()
        return self._warming

    def _warm(self) -> None:
        try:
            self.catalog()
        except Exception:  # the first request reports it, as without warming
            logging.getLogger(__name__).exception("making the layer catalogue failed")

    def _entry(self, name: str) -> dict[str, Any]:
        layer = self.layer(name)
        fields = field_list(layer.spec, layer.frame)
        return {
            "name": name,
            "zh": layer.spec.zh,
            "description": layer.spec.description,
            "geometry": layer.spec.geometry,
            "key": layer.spec.key,
            "count": len(layer),
            "bounds": layer.bounds,
            "fields": fields,
            "stats": field_stats(layer.frame, fields),
        }

    def _saved_path(self) -> Path | None:
        if not isinstance(self.path, Path):
            return None  # a database: no file beside it
        return self.path.with_name(f"{self.path.name}{CATALOG_SUFFIX}")

    def _read_saved(self) -> dict[str, Any]:
        if self._saved is not None:
            return self._saved
        saved: dict[str, Any] = {}
        path = self._saved_path()
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == CATALOG_FORMAT:
                    saved = {k: v for k, v in data["layers"].items() if isinstance(v, dict)}
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                saved = {}  # missing or unreadable: made again
        self._saved = saved
        return saved

    def _write_saved(self, saved: dict[str, Any]) -> None:
        path = self._saved_path()
        if path is None:
            return
        names = set(self.names())
        layers = {
            k: v for k, v in saved.items() if k in names and not v["token"].startswith("file:")
        }
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json_text({"format": CATALOG_FORMAT, "layers": layers}), "utf-8")
            os.replace(tmp, path)
        except OSError:
            # A read-only folder: the entries stay in memory, made again after a restart.
            tmp.unlink(missing_ok=True)

    def bounds(self) -> Bbox | None:
        """Bounds of the community boundary, or of every layer when there is none."""
        names = self.names()
        if "community" in names and self.layer("community").bounds:
            return self.layer("community").bounds
        boxes = [b for n in names if (b := self.layer(n).bounds) is not None]
        if not boxes:
            return None
        a = np.array(boxes)
        return (a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max())

    def attribution(self) -> list[str]:
        """Attributions of the store's sources (always including OSM's when OSM data is in)."""
        seen: list[str] = []
        for source in self.store.metadata.get("sources", []):
            text = source.get("attribution")
            if text and text not in seen:
                seen.append(text)
        if not seen and any(
            str(s.get("kind")) == "osm" for s in self.store.metadata.get("sources", [])
        ):
            seen.append(OSM_ATTRIBUTION)
        return seen

    def coverage(self) -> dict[str, Any] | None:
        """Walking coverage of the buildings (see :func:`coverage_summary`)."""
        if "buildings" not in self.names():
            return None
        return coverage_summary(self.layer("buildings").frame)

    # -- search ---------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        layers: Sequence[str] = ("grids", "buildings", "compounds", "stations", "zones"),
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Find features whose code, id, name or address contains ``text`` (case-blind).

        Parameters
        ----------
        text
            A grid code, building name, compound name...
        layers
            Layers searched, in order of preference.
        limit
            At most this many results.

        Returns
        -------
        list of dict
            ``layer``, ``zh`` (layer's Chinese name), ``id``, ``label``, ``exact`` (the text
            is a whole code or name) and ``bbox`` of each hit; exact hits first.
        """
        text = text.strip()
        if not text:
            return []
        results: list[dict[str, Any]] = []
        for name in layers:
            if name not in self.names() or len(results) >= limit:
                continue
            layer = self.layer(name)
            columns = [c for c in _search_columns(layer.spec) if c in layer.frame]
            if not columns or layer.geometries is None:
                continue
            hit = np.zeros(len(layer.frame), dtype=bool)
            for column in columns:
                values = layer.frame[column].astype("string")
                hit |= values.str.contains(text, case=False, regex=False).fillna(False).to_numpy()
            # Exact matches first, then in layer order.
            rows = np.flatnonzero(hit)
            label_col = "name" if "name" in layer.frame else columns[0]
            rows = rows[: limit * 5]
            exact = np.array(
                [
                    any(str(layer.frame[c].iat[r]).lower() == text.lower() for c in columns)
                    for r in rows
                ],
                dtype=bool,
            )
            order = np.concatenate([np.flatnonzero(exact), np.flatnonzero(~exact)])
            for r, is_exact in zip(rows[order], exact[order], strict=True):
                if len(results) >= limit:
                    break
                bounds = shapely.bounds(layer.geometries[r])
                key_value = layer.ids[r]
                label = layer.frame[label_col].iat[r] if label_col in layer.frame else None
                results.append(
                    {
                        "layer": name,
                        "zh": layer.spec.zh,
                        "id": key_value,
                        "label": str(label) if label is not None else str(key_value),
                        "exact": bool(is_exact),
                        "bbox": [float(v) for v in bounds],
                    }
                )
        # Exact matches of any layer first (a grid code typed in full goes to that grid).
        results.sort(key=lambda hit: not hit["exact"])
        return results


def _layer_tokens(metadata: dict[str, Any]) -> dict[str, str]:
    """Each versioned layer's cache token: the store's identity, schema and layer version.

    The identity (``store_id``, else the creation time) keeps a store made anew at the
    same path, whose versions start again at 1, from matching the old one's caches.
    """
    identity = metadata.get("store_id") or metadata.get("created", "")
    schema_version = metadata.get("schema_version", "")
    versions = metadata.get("versions") or {}
    return {
        str(name): f"{identity}|{schema_version}|{int(v)}"
        for name, v in versions.items()
        if int(v) > 0
    }


def _search_columns(spec: schema.Layer) -> list[str]:
    columns = [spec.key] if spec.key else []
    columns += [c for c in ("name", "address", "osm_id") if c in spec.field_names]
    return list(dict.fromkeys(columns))


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
    fields = layer._check_fields(properties) or ()
    centres = layer.centres[rows]
    tx, ty = tile_xy(centres[:, 0], centres[:, 1], z)
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
    west = tile_lon(x + kx * CELL_PX / TILE_PX, n)
    east = tile_lon(x + (kx + 1) * CELL_PX / TILE_PX, n)
    north = tile_lat(y + ky * CELL_PX / TILE_PX, n)
    south = tile_lat(y + (ky + 1) * CELL_PX / TILE_PX, n)
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
