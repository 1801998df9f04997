"""Data commands: import, households, info, demo."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click

from planner import config, pipeline
from planner.cli.common import JSON, STORE, echo_json, main, progress, user_errors, writes
from planner.errors import PlannerError
from planner.ingest.osm import is_osm_file
from planner.settings import settings
from planner.store import Store

__all__ = ["demo_command", "households_command", "import_command", "info_command"]


@writes("the store (made if new) from an OSM file; with `--layer`, that one layer")
@main.command("import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--store",
    "store_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="GeoPackage store to create or update.",
)
@click.option("--bbox", help="Clip to W,S,E,N (degrees, longitude first).")
@click.option(
    "--boundary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clip to the polygon(s) in this file; it becomes the community boundary.",
)
@click.option("--layer", help="Import SOURCE into this one layer (GIS files); OSM files fill all.")
@click.option("--crs", help="CRS to assume when the file declares none, e.g. EPSG:4490.")
@click.option("--name", default="", help="Community name (Chinese allowed).")
@click.option("--code", default="C001", show_default=True, help="Community code.")
@JSON
@user_errors
def import_command(source, store_path, bbox, boundary, layer, crs, name, code, as_json):
    """Import SOURCE (OSM .osm/.pbf, or a GIS file with --layer) into a store."""
    if bbox and boundary:
        raise PlannerError("give --bbox or --boundary, not both")
    started = time.perf_counter()
    if layer is None and is_osm_file(source):
        with progress(4, "import", enabled=not as_json) as step:
            _, report = pipeline.import_osm(
                source,
                store_path,
                bbox=pipeline.parse_bbox(bbox) if bbox else None,
                boundary_file=boundary,
                name=name,
                code=code,
                progress=step,
            )
    elif layer is None:
        raise PlannerError(
            "not an OSM file; say which layer it fills with --layer NAME", source=str(source)
        )
    else:
        if bbox or boundary:
            raise PlannerError("--bbox/--boundary apply to OSM imports only")
        _, report = pipeline.import_layer(source, store_path, layer, crs=crs)
    report["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        echo_json(report)
        return
    for warning in report.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    if "layers" in report:
        counts = ", ".join(f"{k} {v}" for k, v in report["layers"].items())
        click.echo(f"imported {source} → {store_path} in {report['seconds']} s: {counts}")
        click.echo(
            f"community boundary: {report['boundary_source']}; "
            f"households (estimated): {report['households']}"
        )
    else:
        click.echo(f"imported {report['features']} features into {layer} ({store_path})")


@writes("buildings' households; with a plan, its figures follow (a new plan version)")
@main.command("households")
@STORE
@click.option(
    "--roster",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Household roster (CSV/XLSX, 楼栋编号/户数/人口...). Without it, re-estimate.",
)
@JSON
@user_errors
def households_command(store_path, roster, as_json):
    """Join a household roster to the buildings, or re-estimate households."""
    store = Store(store_path)
    report = pipeline.apply_roster(store, roster) if roster else pipeline.reestimate(store)
    if as_json:
        echo_json(report)
        return
    if roster:
        click.echo(
            f"roster {roster}: {report['matched']} buildings counted, "
            f"{len(report['unmatched'])} rows not used (kept in table roster_unmatched):"
        )
        _echo_unmatched(report["unmatched"])
    click.echo(f"households total: {report['households_total']}")


@writes("nothing")
@main.command("info")
@STORE
@JSON
@user_errors
def info_command(store_path, as_json):
    """Layers, feature counts, households and CRSs of a store."""
    summary = Store(store_path).summary()
    if as_json:
        echo_json(summary)
        return
    click.echo(f"{summary['store']}  {summary['name']}")
    click.echo(f"storage CRS {summary['storage_crs']}, metric CRS {summary['metric_crs']}")
    for name, layer in summary["layers"].items():
        click.echo(f"  {name:<18} {layer['count']:>7}")
    h = summary["households"]
    click.echo(f"households: {h['total']} (roster {h['roster']}, estimated {h['estimated']})")
    for source in summary["sources"]:
        click.echo(f"source: {source.get('name')} {source.get('attribution', '')}".rstrip())


@writes("a new store (`layers/demo.gpkg`, `layers/AREA.gpkg` or `--store`)")
@main.command("demo")
@click.option(
    "--area",
    default=config.DEFAULT_AREA,
    show_default=True,
    type=click.Choice(list(config.DEMO_AREAS)),
    help="Which shared extract.",
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the store (default layers/demo.gpkg or layers/AREA.gpkg).",
)
@JSON
@user_errors
def demo_command(area, store_path, as_json):
    """Build a demo store from the shared OSM extract (and roster) of an area."""
    started = time.perf_counter()
    with progress(len(pipeline.DEMO_STEPS), f"demo {area}", enabled=not as_json) as step:
        store, report = pipeline.run_demo(area, store_path=store_path, progress=step)
    report["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        echo_json(report)
        return
    for warning in report.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    summary = store.summary()
    counts = ", ".join(f"{k} {v['count']}" for k, v in summary["layers"].items())
    click.echo(f"demo store {store.path} built in {report['seconds']} s: {counts}")
    h = summary["households"]
    click.echo(f"households: {h['total']} (roster {h['roster']}, estimated {h['estimated']})")
    for line in _analysis_lines(report.get("analysis", {})):
        click.echo(line)


def _analysis_lines(analysis: dict) -> list[str]:
    """One line per analysis step of the demo, for people (the JSON has everything)."""
    lines = []
    grids = analysis.get("grids") or {}
    if "grids" in grids:
        lines.append(
            f"网格 grids: {grids['grids']} in {grids.get('zones', 0)} zones, "
            f"{grids['in_range']} within the household range, {grids.get('flagged', 0)} flagged"
        )
    topology = analysis.get("topology check and edge areas") or {}
    if "clean" in topology:
        edges = topology.get("edge_areas") or {}
        lines.append(
            f"拓扑 topology: {topology.get('fixes', 0)} fixes applied, "
            f"{'clean' if topology['clean'] else 'findings remain'}; "
            f"边缘地带 edge areas: {edges.get('edge_areas', 0)}, "
            f"unassigned {edges.get('unassigned', 0)}"
        )
    walking = analysis.get("walking coverage and station sites") or {}
    sites, coverage = walking.get("sites") or {}, walking.get("coverage") or {}
    if sites:
        quality = "optimal" if sites["optimal"] else f"gap {sites['gap']:.1%}"
        lines.append(
            f"选址 sites ({sites['model']}, {quality}): "
            f"{len(sites['chosen'])} new stations proposed (scenario {sites['scenario']})"
        )
    if coverage:
        lines.append(
            f"覆盖 coverage: {coverage['households_covered']} of {coverage['households_total']} "
            f"households within {coverage['minutes']:g} minutes' walk "
            f"({coverage['threshold_m']:g} m); {coverage['buildings_uncovered']} buildings beyond"
        )
    return lines


def _echo_unmatched(rows: list[dict]) -> None:
    """The first few roster rows not used, one per line; the rest summed up by problem."""
    listed = settings.limits.bad_rows_listed
    for row in rows[:listed]:
        click.echo(f"  row {row['row']}: {row['building_ref']}: {row['problem']}")
    rest = rows[listed:]
    if rest:
        by_problem = Counter(str(row["problem"]) for row in rest)
        counts = "; ".join(f"{problem}: {n}" for problem, n in by_problem.most_common())
        click.echo(f"  … and {len(rest)} more rows ({counts}); all are in roster_unmatched")
