"""Report and export commands: an official's workbook or atlas, one layer as a GIS file."""

from __future__ import annotations

from pathlib import Path

import click

from planner.cli.common import JSON, STORE, echo_json, main, progress, user_errors, writes
from planner.report import EXPORT_FORMATS, export_layer, write_report
from planner.store import Store

__all__ = ["export_command", "report_command"]


@writes("nothing (the report file)")
@main.command("report")
@STORE
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="FILE.xlsx (tables: grids, zones, stations, beyond reach, findings, comparison, "
    "sources) or FILE.pdf (an overview map and one page per grid).",
)
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language."
)
@JSON
@user_errors
def report_command(store_path, out, lang, as_json):
    """Write the plan's report for officials (报表): a workbook or a printable atlas."""
    store = Store(store_path)
    steps = 4 if out.suffix.lower() == ".xlsx" else store.count("grids") + 1
    with progress(steps, "report", enabled=not as_json) as step:
        report = write_report(store, out, lang=lang, progress=step)
    if as_json:
        echo_json(report)
        return
    size = f"{report['bytes'] / 1024:,.0f} KB"
    if "pages" in report:
        click.echo(f"wrote {out}: {report['pages']} pages, {size}")
    else:
        rows = ", ".join(f"{k} {v}" for k, v in report["sheets"].items())
        click.echo(f"wrote {out}: {size}; rows: {rows}")


@writes("nothing (the exported file)")
@main.command("export")
@STORE
@click.option("--layer", required=True, help="The layer to export (e.g. grids, buildings).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(EXPORT_FORMATS)),
    help="Output format; default: from the suffix of --out.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", help="Target CRS, e.g. EPSG:4490 (CGCS2000) or EPSG:4549.")
@JSON
@user_errors
def export_command(store_path, layer, fmt, out, crs, as_json):
    """Export one layer as GeoJSON, GeoPackage, Shapefile, CSV or XLSX."""
    report = export_layer(Store(store_path), layer, out, fmt=fmt, crs=crs)
    if as_json:
        echo_json(report)
        return
    click.echo(f"wrote {report['features']} {layer} to {out} ({report['format']}, {report['crs']})")
    if report.get("renamed"):
        click.echo(f"shapefile names cut to 10 bytes; full names in {report['fields_file']}")
