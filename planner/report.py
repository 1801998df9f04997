"""Reports and exports for officials (报表与导出): spreadsheets, a printable atlas, GIS files.

- :func:`report_tables`: the tables an official reads, with Chinese headers by default —
  grids with 四维测评 and staffing, zones, stations (households served, walking-distance
  percentiles, capacity), buildings beyond the walking threshold, the plan's findings,
  coverage by existing stations against the latest scenario, sources and date;
- :func:`write_report`: those tables as an ``.xlsx`` workbook (one sheet each), or a
  ``.pdf`` atlas — an overview map and one page per grid (boundary, buildings,
  stations, staff, figures) with a scale bar, north arrow and Chinese text;
- :func:`export_layer`: one layer as GeoJSON, GeoPackage, Shapefile, CSV or XLSX in a
  chosen CRS. Shapefile field names are cut to 10 bytes; the full names are listed in a
  sidecar ``.fields.csv``.

Nothing here writes to the store.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from planner import schema
from planner.assess import ASSESS_FIELDS
from planner.coverage import coverage
from planner.errors import InputError, MissingDataError, PlannerError
from planner.geometry import blank
from planner.network import build_walk_graph
from planner.progress import Progress, no_progress

if TYPE_CHECKING:
    from planner.network import WalkGraph
    from planner.store import Store

__all__ = ["EXPORT_FORMATS", "export_layer", "report_tables", "station_table", "write_report"]

#: Export formats → (GDAL driver or None for a table, file suffix).
EXPORT_FORMATS = {
    "geojson": ("GeoJSON", ".geojson"),
    "gpkg": ("GPKG", ".gpkg"),
    "shp": ("ESRI Shapefile", ".shp"),
    "csv": (None, ".csv"),
    "xlsx": (None, ".xlsx"),
}

#: Sheet names (zh, en) in the order they are written.
SHEETS = {
    "grids": ("网格", "grids"),
    "zones": ("片区", "zones"),
    "stations": ("服务站", "stations"),
    "uncovered": ("步行范围外楼栋", "buildings beyond reach"),
    "findings": ("问题", "findings"),
    "comparison": ("方案比较", "scenario comparison"),
    "sources": ("来源与日期", "sources and date"),
}

#: Chinese headers of report columns that are not schema fields.
_ZH = {
    "walk_m_p50": "步行距离中位数(米)",
    "walk_m_p90": "步行距离90%分位(米)",
    "walk_m_max": "最远步行距离(米)",
    "buildings_served": "服务楼栋数",
    "measure": "指标",
    "existing": "现有服务站",
    "scenario": "方案",
    "difference": "差值",
    "item": "项目",
    "value": "内容",
    "kind_zh": "问题类型",
    "lon": "经度",
    "lat": "纬度",
}

_GRID_COLUMNS = ["grid_code", "name", "zone_code", *ASSESS_FIELDS, "flag", "locked"]


def _current(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the current plan (no scenario), when the layer has scenarios."""
    if "scenario" in frame and len(frame):
        return frame[blank(frame["scenario"])]
    return frame


def _plain(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns of ``frame`` that exist, without geometry, index reset."""
    keep = [c for c in columns if c in frame.columns]
    return pd.DataFrame(frame[keep]).reset_index(drop=True)


def station_table(stations: pd.DataFrame, buildings: pd.DataFrame) -> pd.DataFrame:
    """Stations with households served and the walking-distance percentiles of their buildings.

    Parameters
    ----------
    stations
        Stations (``station_id``, ``name``, ``status``, ``scenario``, ``capacity``,
        ``households_served``).
    buildings
        Buildings with the coverage columns (``station_id``, ``walk_m``, ``covered``) of
        the same stations: the stored ones, or ``frame`` of
        :func:`planner.coverage.coverage` with ``write=False``.

    Returns
    -------
    pandas.DataFrame
        One row per station, with ``buildings_served`` and ``walk_m_p50``, ``walk_m_p90``,
        ``walk_m_max`` over the covered buildings it serves.
    """
    table = _plain(
        stations,
        ["station_id", "name", "status", "scenario", "capacity", "households_served"],
    )
    if {"station_id", "walk_m", "covered"} <= set(buildings.columns) and len(table):
        served = buildings[buildings["covered"].fillna(False).astype(bool)]
        walk = served.groupby("station_id")["walk_m"]
        stats = pd.DataFrame(
            {
                "buildings_served": walk.size(),
                "walk_m_p50": walk.quantile(0.5).round(0),
                "walk_m_p90": walk.quantile(0.9).round(0),
                "walk_m_max": walk.max().round(0),
            }
        )
        table = table.join(stats, on="station_id")
    return table


def _comparison(store: Store, progress: Progress, graph: WalkGraph | None) -> pd.DataFrame:
    """Coverage by existing stations only against existing plus the latest scenario."""
    stations = store.read("stations")
    if stations.empty or store.read("roads").empty:
        return pd.DataFrame(columns=["measure", "existing", "scenario", "difference"])
    progress("walking coverage")
    graph = graph if graph is not None else build_walk_graph(store)
    measures = ("households_covered", "households_uncovered", "buildings_uncovered")
    has_existing = (stations["status"].fillna("existing") == "existing").any()
    existing = (
        coverage(store, existing_only=True, graph=graph, write=False) if has_existing else None
    )
    proposed = (stations["status"].fillna("existing") != "existing").any()
    latest = coverage(store, graph=graph, write=False) if proposed else None
    total = (existing or latest or {}).get("households_total", 0)
    rows = []
    for m in ("stations_counted", *measures, "coverage_share"):
        a = existing.get(m) if existing else (0 if m != "coverage_share" else 0.0)
        b = latest.get(m) if latest else None
        if m == "households_uncovered" and not existing:
            a = total
        rows.append(
            {
                "measure": m,
                "existing": a,
                "scenario": b,
                "difference": None if b is None or a is None else round(b - a, 4),
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["scenario"] = latest.get("scenario") if latest else None
    return frame


def report_tables(
    store: Store, *, progress: Progress = no_progress, graph: WalkGraph | None = None
) -> dict[str, pd.DataFrame]:
    """The report's tables (English column names; :func:`write_report` translates them).

    Parameters
    ----------
    store
        The store; a plan (grids) is needed, coverage figures where stations exist.
    progress
        Called at each step.
    graph
        A walking graph already built from this store (for the scenario comparison).

    Returns
    -------
    dict
        ``grids``, ``zones``, ``stations``, ``uncovered``, ``findings``, ``comparison``,
        ``sources`` → DataFrame (no geometry).
    """
    from planner.topology import check

    grids = _current(store.read("grids"))
    if grids.empty:
        msg = "the store has no grid plan to report; run `planner grids` first"
        raise MissingDataError(msg, source=str(store.path))
    buildings = store.read("buildings")
    progress("grids, zones and stations")
    per_grid = buildings.groupby("grid_code").size() if "grid_code" in buildings else None
    grids = grids.assign(
        buildings=grids["grid_code"].map(per_grid).fillna(0).astype(int)
        if per_grid is not None
        else 0
    )
    tables: dict[str, pd.DataFrame] = {
        "grids": _plain(grids.sort_values("grid_code"), _GRID_COLUMNS),
        "zones": _plain(_current(store.read("zones")), schema.LAYERS["zones"].field_names),
        "stations": station_table(store.read("stations"), buildings),
    }
    if "covered" in buildings:
        out = buildings[~buildings["covered"].fillna(False).astype(bool)]
        out = out[out["households"].fillna(0) > 0].sort_values("walk_m", ascending=False)
        columns = ["building_id", "name", "grid_code", "households", "walk_m", "station_id"]
        tables["uncovered"] = _plain(out, columns)
    else:
        tables["uncovered"] = pd.DataFrame(columns=["building_id", "households", "walk_m"])
    progress("check the plan")
    findings = pd.DataFrame(check(store).table())
    if len(findings):
        # where the problem is, so a reader (or the dashboard) can find it on a map
        findings["lon"] = findings["point"].map(lambda p: p[0])
        findings["lat"] = findings["point"].map(lambda p: p[1])
    columns = ["kind_zh", "kind", "grids", "size", "unit", "ref", "detail", "flagged"]
    columns += ["lon", "lat"]
    tables["findings"] = (
        _plain(findings, columns) if len(findings) else pd.DataFrame(columns=columns)
    )
    if "grids" in tables["findings"]:
        tables["findings"]["grids"] = tables["findings"]["grids"].map(
            lambda g: ",".join(g) if isinstance(g, list | tuple | np.ndarray) else g
        )
    comparison = _comparison(store, progress, graph)
    tables["comparison"] = comparison
    meta = store.metadata
    sources = [
        {"item": "community", "value": store.name},
        {"item": "report date", "value": datetime.now().astimezone().isoformat(timespec="seconds")},
        {"item": "store updated", "value": meta.get("updated")},
        {"item": "plan version", "value": meta.get("plan_version")},
        {"item": "scenario compared", "value": comparison.attrs.get("scenario")},
    ]
    sources += [
        {"item": f"source ({s.get('kind', '')})", "value": s.get("name")}
        for s in meta.get("sources", [])
    ]
    tables["sources"] = pd.DataFrame(sources)
    return tables


#: Chinese names of the comparison's measures and the sources sheet's items.
_ZH_VALUES = {
    "stations_counted": "计入服务站数",
    "households_covered": "覆盖户数",
    "households_uncovered": "未覆盖户数",
    "buildings_uncovered": "未覆盖楼栋数",
    "coverage_share": "覆盖率",
    "community": "社区",
    "report date": "报表日期",
    "store updated": "数据更新时间",
    "plan version": "方案版本",
    "scenario compared": "比较的方案",
}


def _zh_headers(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with Chinese column headers (schema names first, then the report's)."""
    frame = frame.copy()
    for column in ("measure", "item"):
        if column in frame:
            frame[column] = frame[column].map(
                lambda v: _ZH_VALUES.get(v, str(v).replace("source", "来源"))
            )
    layer = {"grids": "grids", "zones": "zones", "stations": "stations", "uncovered": "buildings"}
    fields = {}
    for layer_name in (layer.get(name), "grids", "buildings", "stations"):
        if layer_name:
            fields |= {
                f.name: f.zh for f in schema.LAYERS[layer_name].fields if f.name not in fields
            }
    fields |= {"kind": "问题代码", "size": "大小", "unit": "单位", "ref": "对象", "detail": "说明"}
    fields |= {"flagged": "已标注原因", "grids": "涉及网格", "buildings": "楼栋数"}
    fields |= _ZH
    return frame.rename(columns={c: fields.get(c, c) for c in frame.columns})


def write_report(
    store: Store,
    out: str | Path,
    *,
    lang: str = "zh",
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Write the report as an ``.xlsx`` workbook or a ``.pdf`` atlas.

    Parameters
    ----------
    store
        The store (with a grid plan).
    out
        The file to write; its suffix picks the format (``.xlsx`` or ``.pdf``).
    lang
        ``zh`` (Chinese headers and titles, the default) or ``en``.
    progress
        Called at each step.

    Returns
    -------
    dict
        ``out``, ``format``, ``bytes`` and ``sheets`` (rows per sheet) or ``pages``.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".pdf"):
        msg = f"the report is written as .xlsx or .pdf, not {out.suffix or 'no suffix'!r}"
        raise InputError(msg, param="out")
    if lang not in ("zh", "en"):
        raise InputError(f"`lang` is zh or en, got {lang!r}", param="lang")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    try:
        if suffix == ".xlsx":
            tables = report_tables(store, progress=progress)
            progress("write the workbook")
            with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
                for key, frame in tables.items():
                    sheet = SHEETS[key][0 if lang == "zh" else 1]
                    shown = _zh_headers(key, frame) if lang == "zh" else frame
                    shown.to_excel(writer, sheet_name=sheet, index=False)
            result: dict[str, Any] = {"sheets": {k: len(v) for k, v in tables.items()}}
        else:
            from planner.atlas import write_atlas

            result = {"pages": write_atlas(store, tmp, lang=lang, progress=progress)}
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"out": str(out), "format": suffix[1:], "bytes": out.stat().st_size, **result}


def _short_names(columns: list[str]) -> dict[str, str]:
    """Shapefile names: each cut to 10 bytes (UTF-8), made unique with a numeric tail."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        short = column.encode("utf-8")[:10].decode("utf-8", "ignore")
        k = 1
        while short.lower() in used:
            tail = str(k)
            short = column.encode("utf-8")[: 10 - len(tail)].decode("utf-8", "ignore") + tail
            k += 1
        used.add(short.lower())
        names[column] = short
    return names


def export_layer(
    store: Store,
    layer: str,
    out: str | Path,
    *,
    fmt: str | None = None,
    crs: str | None = None,
) -> dict[str, Any]:
    """Export one layer of the store as a GIS file or a table.

    Parameters
    ----------
    store
        The store.
    layer
        A layer name from the schema (``planner info`` lists what the store holds).
    out
        The file to write.
    fmt
        ``geojson``, ``gpkg``, ``shp``, ``csv`` or ``xlsx``; None: from the suffix of ``out``.
    crs
        Target CRS, e.g. ``EPSG:4490`` (CGCS2000) or ``EPSG:4549``; None: the store's
        storage CRS. CSV and XLSX carry the geometry as WKT.

    Returns
    -------
    dict
        ``out``, ``format``, ``features``, ``crs`` and, for a Shapefile, ``renamed``
        (full name → the 10-byte name) and ``fields_file`` (the sidecar listing them).
    """
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    fmt = {"json": "geojson", "xls": "xlsx"}.get(fmt, fmt)
    if fmt not in EXPORT_FORMATS:
        msg = f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}"
        raise InputError(msg, param="format")
    if layer not in schema.LAYERS:
        msg = f"unknown layer {layer!r}; choose from {', '.join(sorted(schema.LAYERS))}"
        raise InputError(msg, param="layer")
    if not store.has(layer):
        raise MissingDataError(f"the store has no {layer} layer", source=str(store.path))
    frame = store.read(layer)
    if crs is not None and isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None:
        try:
            frame = frame.to_crs(crs)
        except Exception as exc:  # pyproj raises several kinds for a bad CRS
            raise InputError(f"unknown or unusable CRS {crs!r}: {exc}", param="crs") from exc
    driver, _ = EXPORT_FORMATS[fmt]
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"out": str(out), "format": fmt, "features": int(len(frame))}
    geo = isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame
    report["crs"] = frame.crs.to_string() if geo and frame.crs is not None else None
    if driver is None or not geo:
        table = pd.DataFrame(frame)
        if geo:
            table["geometry"] = frame.geometry.to_wkt()
        if fmt == "xlsx":
            table.to_excel(out, index=False, sheet_name=layer[:31])
        elif fmt == "csv":
            table.to_csv(out, index=False, encoding="utf-8-sig")  # BOM: Excel reads Chinese
        else:
            raise InputError(f"the {layer} layer has no geometry; export it as csv or xlsx")
        return report
    options: dict[str, Any] = {}
    if fmt == "shp":
        columns = [c for c in frame.columns if c != "geometry"]
        renamed = _short_names(columns)
        frame = frame.rename(columns=renamed)
        options["encoding"] = "UTF-8"
        sidecar = out.with_suffix(".fields.csv")
        fields = schema.LAYERS[layer]
        zh = {f.name: f.zh for f in fields.fields}
        pd.DataFrame(
            {
                "shapefile_name": list(renamed.values()),
                "full_name": list(renamed),
                "chinese_name": [zh.get(c, "") for c in renamed],
            }
        ).to_csv(sidecar, index=False, encoding="utf-8-sig")
        report["renamed"] = {k: v for k, v in renamed.items() if k != v}
        report["fields_file"] = str(sidecar)
    try:
        pyogrio.write_dataframe(frame, out, driver=driver, **options)
    except Exception as exc:  # GDAL's errors name the file and the reason
        raise PlannerError(f"could not write {out}: {exc}") from exc
    return report
