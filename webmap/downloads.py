"""Downloads for officials: the report (xlsx tables or the pdf atlas) and layer exports.

Thin over :mod:`planner.report`: the file is written to a temporary folder and sent as
an attachment. Both need ``read_all`` (officials and above): a report and an export hold
every field, households per building included.
"""

from __future__ import annotations

import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

from flask import Blueprint, current_app, request, send_file

from planner import schema
from planner.errors import PlannerError
from planner.report import EXPORT_FORMATS, export_layer, write_report
from planner.store import Store
from planner_web.auth import requires
from planner_web.http import ApiError, check_query
from planner_web.openapi import operation

__all__ = ["bp"]

bp = Blueprint("downloads", __name__)
bp.before_request(check_query)

_MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "csv": "text/csv",
}


def _files(description: str, formats: list[str]) -> dict:
    """A 200 response object for files of these formats."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"description": description, "content": {_MIMETYPES[f]: binary for f in formats}}


def _choice(name: str, choices: list[str], default: str | None = None) -> str:
    value = request.args.get(name, default)
    if value is None:
        raise ApiError(400, f"{name} is required: one of {', '.join(choices)}", param=name)
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}", param=name)
    return value


def _send(path: Path, name: str, fmt: str):
    # Sent from memory: the temporary folder is removed as the view returns.
    return send_file(
        BytesIO(path.read_bytes()),
        mimetype=_MIMETYPES[fmt],
        as_attachment=True,
        download_name=name,
    )


@bp.get("/report")
@operation(
    "getReport",
    "The officials' report: the tables as xlsx or the atlas as pdf",
    tags=["store"],
    query=["reportFormat", "lang"],
    responses={
        "200": _files("The report file", ["xlsx", "pdf"]),
        "400": "Error",
        "404": "Error",
    },
)
@requires("read_all")
def report():
    """Write the report and send it as an attachment (报表.xlsx or 图册.pdf)."""
    fmt = _choice("format", ["xlsx", "pdf"], "xlsx")
    lang = _choice("lang", ["zh", "en"], "zh")
    store = Store(current_app.config["STORE"])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"report.{fmt}"
        try:
            write_report(store, out, lang=lang)
        except PlannerError as exc:
            raise ApiError(404, exc.message) from None
        stem = store.name or "report"
        name = f"{stem}-{'报表' if fmt == 'xlsx' else '图册'}.{fmt}"
        return _send(out, name, fmt)


@bp.get("/export/<name>")
@operation(
    "exportLayer",
    "One layer as GeoJSON, GeoPackage, Shapefile (zipped), CSV or XLSX",
    tags=["layers"],
    query=["exportFormat", "targetCrs"],
    responses={
        "200": _files("The file", list(EXPORT_FORMATS)),
        "400": "Error",
        "404": "Error",
    },
)
@requires("read_all")
def export(name: str):
    """Export layer ``name`` in the format asked for, optionally reprojected."""
    if name not in schema.LAYERS:
        raise ApiError(404, f"no layer {name!r}", param="name")
    fmt = _choice("format", list(EXPORT_FORMATS))
    srs = request.args.get("srs")
    store = Store(current_app.config["STORE"])
    if not store.has(name):
        raise ApiError(404, f"the store has no {name} layer", param="name")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"{name}{EXPORT_FORMATS[fmt][1]}"
        try:
            report = export_layer(store, name, out, fmt=fmt, crs=srs)
        except PlannerError as exc:
            raise ApiError(400, exc.message, param=exc.param or "srs") from None
        if fmt == "shp":
            packed = Path(folder) / f"{name}.zip"
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
                for part in sorted(Path(folder).glob(f"{name}.*")):
                    if part != packed:
                        archive.write(part, part.name)
            return _send(packed, f"{name}.zip", fmt)
        return _send(Path(report["out"]), out.name, fmt)
