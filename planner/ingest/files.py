"""Read GIS files (GeoJSON, zipped Shapefile, GeoPackage, FlatGeobuf, KML, CSV/XLSX) as layers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planner import schema
from planner.crs import STORAGE_CRS, check_lonlat
from planner.errors import PlannerError
from planner.geometry import repair
from planner.ingest.osm import levels_from_tags

__all__ = ["MAX_FILE_BYTES", "FileRead", "read_file", "to_layer"]

_LON = ("lon", "lng", "longitude", "x", "经度")
_LAT = ("lat", "latitude", "y", "纬度")
_WKT = ("wkt", "geometry", "geom", "the_geom", "几何")
MAX_FILE_BYTES = 500 * 1024 * 1024


@dataclass
class FileRead:
    """A layer read from a file, with what was done to it."""

    frame: gpd.GeoDataFrame
    source_crs: str
    dropped_empty: int = 0
    repaired: int = 0
    renamed: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_file(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
) -> FileRead:
    """Read a vector file into the storage CRS, refusing what cannot be trusted.

    Handles anything GDAL reads (GeoJSON, Shapefile — also zipped —, GeoPackage,
    FlatGeobuf, KML) and tables (CSV, XLSX) with lon/lat or WKT columns. Any CRS
    PROJ knows is reprojected, CGCS2000 (EPSG:4490) and its Gauss-Kruger zones
    included. Coordinates that look like lat/lon swapped are refused; empty
    geometries are dropped and counted; invalid ones repaired and counted.

    Parameters
    ----------
    path
        The file.
    layer
        The layer inside a multi-layer file (GeoPackage); the first if None.
    crs
        The CRS to assume when the file declares none (tables default to EPSG:4326).

    Returns
    -------
    FileRead
    """
    path = Path(path)
    if not path.exists():
        raise PlannerError("file not found", source=str(path))
    size = path.stat().st_size
    if size == 0:
        raise PlannerError("the file is empty", source=str(path))
    if size > MAX_FILE_BYTES:
        msg = f"the file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit"
        raise PlannerError(msg, source=str(path))
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".zip" else ""
    ext = path.suffix.lower()
    if ext in (".csv", ".txt", ".xlsx", ".xls"):
        frame = _read_table(path, crs=crs)
        declared = crs or STORAGE_CRS
    else:
        target = f"/vsizip/{path}" if ext == ".zip" or suffix.endswith(".zip") else str(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                meta, _, wkb, values = pyogrio.raw.read(target, layer=layer)
        except Exception as exc:  # pyogrio raises several error types for unreadable files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"cannot read as a GIS file ({first})"
            raise PlannerError(msg, source=str(path)) from None
        if meta.get("geometry_type") is None and not len(wkb):
            raise PlannerError("the file has no geometry column", source=str(path))
        attrs = pd.DataFrame({n: v for n, v in zip(meta["fields"], values, strict=True)})
        with warnings.catch_warnings():
            # NaN coordinates warn here; _check_finite refuses them below, naming the feature.
            warnings.simplefilter("ignore", RuntimeWarning)
            geoms = shapely.from_wkb(wkb, on_invalid="fix") if len(wkb) else np.array([], object)
        declared = meta.get("crs") or crs
        if declared is None:
            msg = "the file declares no CRS; give one with `crs` (e.g. EPSG:4490)"
            raise PlannerError(msg, source=str(path))
        frame = gpd.GeoDataFrame(attrs, geometry=geoms, crs=declared)
    if frame.empty:
        raise PlannerError("the file holds no features", source=str(path))
    _check_finite(frame, path)
    geoms, repaired, dropped = repair(frame.geometry.to_numpy())
    frame = frame.set_geometry(geoms)[~dropped].reset_index(drop=True)
    if frame.empty:
        raise PlannerError("every geometry in the file is empty", source=str(path))
    result = FileRead(frame, str(declared), int(dropped.sum()), repaired)
    if frame.crs.is_geographic:
        check_lonlat(frame, source=str(path))
    else:
        _check_projected(frame, path)
    result.frame = frame.to_crs(STORAGE_CRS)
    check_lonlat(result.frame, source=str(path))
    if result.dropped_empty:
        result.warnings.append(f"{result.dropped_empty} empty geometries dropped")
    if result.repaired:
        result.warnings.append(f"{result.repaired} invalid geometries repaired")
    return result


def _check_finite(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse a feature with a NaN or infinite coordinate, naming the first one."""
    coords, owner = shapely.get_coordinates(frame.geometry.to_numpy(), return_index=True)
    bad = owner[~np.isfinite(coords).all(axis=1)]
    if not len(bad):
        return
    row = int(bad[0])
    label = next(
        (
            f" ({col}={frame.at[row, col]})"
            for col in frame.columns
            if str(col).lower() in ("name", "名称", "id", "osm_id", "building_id", "编号")
            and pd.notna(frame.at[row, col])
        ),
        "",
    )
    others = len(np.unique(bad)) - 1
    more = f" and {others} more" if others else ""
    msg = (
        f"feature {row + 1}{label}{more} has a NaN or infinite coordinate; "
        "fix or remove it and import again"
    )
    raise PlannerError(msg, source=str(path))


def _check_projected(frame: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse degrees labelled as metres (a common wrong-CRS mistake)."""
    minx, miny, maxx, maxy = frame.total_bounds
    if max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90:
        msg = (
            f"coordinates ({minx:.4f}, {miny:.4f}) look like degrees but the file declares "
            f"the projected CRS {frame.crs.to_string()}; fix the file's CRS"
        )
        raise PlannerError(msg, source=str(path))
    try:
        check = frame.to_crs(STORAGE_CRS)
    except Exception as exc:
        msg = f"cannot reproject from {frame.crs.to_string()} ({exc})"
        raise PlannerError(msg, source=str(path)) from None
    bounds = check.total_bounds
    if not np.all(np.isfinite(bounds)):
        msg = f"coordinates fall outside the area of {frame.crs.to_string()}; wrong CRS?"
        raise PlannerError(msg, source=str(path))


def _read_table(path: Path, *, crs: str | None) -> gpd.GeoDataFrame:
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            table = pd.read_excel(path)
        else:
            table = None
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    table = pd.read_csv(path, encoding=encoding)
                    break
                except UnicodeDecodeError:
                    continue
            if table is None:
                raise PlannerError("the table is neither UTF-8 nor GBK text", source=str(path))
    except PlannerError:
        raise
    except Exception as exc:
        msg = f"cannot read the table ({type(exc).__name__}: {exc})"
        raise PlannerError(msg, source=str(path)) from None
    lower = {str(c).strip().lower(): c for c in table.columns}
    wkt = next((lower[c] for c in _WKT if c in lower), None)
    lon = next((lower[c] for c in _LON if c in lower), None)
    lat = next((lower[c] for c in _LAT if c in lower), None)
    if wkt is not None:
        text = table.pop(wkt)
        geoms = shapely.from_wkt(text.where(text.notna(), None).to_numpy(), on_invalid="ignore")
        bad = text.notna().to_numpy() & shapely.is_missing(geoms)
        if bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:5])
            msg = f"column {wkt!r} has text that is not WKT in lines {rows}"
            raise PlannerError(msg, source=str(path))
    elif lon is not None and lat is not None:
        x = pd.to_numeric(table.pop(lon), errors="coerce")
        y = pd.to_numeric(table.pop(lat), errors="coerce")
        geoms = shapely.points(np.column_stack([x, y]))
        geoms[x.isna().to_numpy() | y.isna().to_numpy()] = None
    else:
        msg = "a table needs lon/lat (经度/纬度) columns or a WKT column"
        raise PlannerError(msg, source=str(path))
    return gpd.GeoDataFrame(table, geometry=geoms, crs=crs or STORAGE_CRS)


#: Columns of OSM-style storeys and height (metres) a buildings file may carry.
_LEVEL_COLUMNS = ("building:levels", "building_levels")
_HEIGHT_COLUMNS = ("height", "building:height", "building_height", "高度", "建筑高度")


def _osm_fields(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read OSM-style building fields as OSM import does.

    ``building`` (the OSM type) fills a missing ``building_type``; missing ``levels``
    come from ``building:levels`` or else ``height`` (3 m a storey). Returns the
    frame and the columns read (kept in the layer, not reported as unknown).
    """
    if "building" in frame and (
        "building_type" not in frame or frame["building_type"].isna().all()
    ):
        frame = frame.rename(columns={"building": "building_type"})
    lower = {str(c).lower(): c for c in frame.columns if c != "levels"}
    level_col = next((lower[c] for c in _LEVEL_COLUMNS if c in lower), None)
    height_col = next((lower[c] for c in _HEIGHT_COLUMNS if c in lower), None)
    if level_col is None and height_col is None:
        return frame, []
    empty = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    levels, source = levels_from_tags(
        frame[level_col] if level_col is not None else empty,
        frame[height_col] if height_col is not None else empty,
    )
    given = (
        pd.to_numeric(frame["levels"], errors="coerce")
        if "levels" in frame
        else pd.Series(np.nan, index=frame.index)
    )
    out = frame.copy()
    fill = given.isna().to_numpy() & levels.notna().to_numpy()
    out["levels"] = given.where(~fill, levels)
    previous = out["levels_source"] if "levels_source" in out else empty
    out["levels_source"] = previous.where(~fill, pd.Series(source, index=frame.index))
    return out, [c for c in (level_col, height_col) if c is not None]


def to_layer(
    frame: gpd.GeoDataFrame, layer: str, *, source: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Shape a read file into a schema layer: map field names, fill ids, keep unknown fields.

    Fields are matched to the schema by name or by their Chinese term (e.g. a
    column ``户数`` becomes ``households``). Missing keys are generated. Columns
    the schema does not know are kept as they are and reported.

    Parameters
    ----------
    frame
        As read by :func:`read_file`.
    layer
        Target layer name.
    source
        The file name, stored in ``source`` where the layer has it.

    Returns
    -------
    (GeoDataFrame, notes)
    """
    spec = schema.get_layer(layer)
    rename: dict[str, str] = {}
    for f in spec.fields:
        if f.name in frame.columns:
            continue
        # A file may carry several columns for one field (KML "Name" and 名称): take the
        # first that holds values; the others stay as unknown fields.
        aliases = {f.name.lower(), f.zh.lower()}
        matches = [c for c in frame.columns if str(c).lower() in aliases and c not in rename]
        filled = [c for c in matches if frame[c].notna().any() and (frame[c] != "").any()]
        if filled or matches:
            rename[(filled or matches)[0]] = f.name
    out = frame.rename(columns=rename)
    notes = []
    used: list[str] = []
    if layer == "buildings":
        out, used = _osm_fields(out)
    unknown = [
        c
        for c in out.columns
        if c not in spec.field_names and c != out.geometry.name and c not in used
    ]
    if unknown:
        notes.append(f"kept fields the schema does not know: {', '.join(map(str, unknown))}")
    if spec.key and (spec.key not in out or out[spec.key].isna().all()):
        prefix = layer[:1].upper()
        out[spec.key] = [f"{prefix}{i + 1:05d}" for i in range(len(out))]
        notes.append(f"generated {spec.key} values")
    if "source" in spec.field_names and ("source" not in out or out["source"].isna().all()):
        out["source"] = source
    geom_types = set(out.geom_type.dropna())
    expected = spec.geometry
    if expected and not all(t.replace("Multi", "") == expected for t in geom_types):
        found = ", ".join(sorted(geom_types))
        msg = f"layer {layer!r} takes {expected} geometries, the file has {found}"
        raise PlannerError(msg, source=source)
    return out, notes
