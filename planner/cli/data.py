"""Data commands: import, households, info, communities, demo."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click
import pandas as pd

from planner import config, pipeline
from planner.cli.common import (
    JSON,
    STORE,
    STORE_LOCATION,
    echo_json,
    main,
    progress,
    user_errors,
    writes,
)
from planner.communities import community_figures, figures_report
from planner.errors import PlannerError
from planner.ingest.osm import is_osm_file
from planner.plausibility import dismiss_warning
from planner.schema import VALUE_NAMES_ZH
from planner.settings import settings
from planner.store import Store

__all__ = [
    "communities_command",
    "demo_command",
    "households_command",
    "import_command",
    "info_command",
    "staff_command",
]


@writes("the store (made if new) from an OSM file; with `--layer`, that one layer")
@main.command("import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--store",
    "store_path",
    required=True,
    type=STORE_LOCATION,
    help="Store to create or update: a GeoPackage file or a postgresql:// URL.",
)
@click.option("--bbox", help="Clip to W,S,E,N (degrees, longitude first).")
@click.option(
    "--boundary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clip to the polygon(s) in this file; it becomes the community boundary.",
)
@click.option(
    "--admin-level",
    "admin_level",
    help="Communities from the OSM administrative boundary relations of this level "
    "(e.g. 8 street offices, 10 communities): of --boundary when it is an OSM file, else "
    "of SOURCE; each named and coded from its tags (name; ref, else the osm id).",
)
@click.option("--layer", help="Import SOURCE into this one layer (GIS files); OSM files fill all.")
@click.option("--crs", help="CRS to assume when the file declares none, e.g. EPSG:4490.")
@click.option("--name", default="", help="Community name (Chinese allowed).")
@click.option("--code", default="C001", show_default=True, help="Community code.")
@JSON
@user_errors
def import_command(
    source, store_path, bbox, boundary, admin_level, layer, crs, name, code, as_json
):
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
                admin_level=admin_level,
                progress=step,
            )
    elif layer is None:
        raise PlannerError(
            "not an OSM file; say which layer it fills with --layer NAME", source=str(source)
        )
    else:
        if bbox or boundary or admin_level:
            raise PlannerError("--bbox/--boundary/--admin-level apply to OSM imports only")
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
@click.option(
    "--explain",
    "building",
    metavar="BUILDING",
    help="Print how this building's figure was reached (evidence, share, class, formula); "
    "writes nothing.",
)
@click.option(
    "--calibrate/--no-calibrate",
    default=True,
    show_default=True,
    help="Fit dwelling areas by building class on the rostered buildings, used when their "
    "cross-validated error beats the defaults'.",
)
@click.option(
    "--dismiss",
    "warning_id",
    metavar="WARNING_ID",
    help="Dismiss a plausibility warning (kind:building_id) with --reason; writes nothing else.",
)
@click.option(
    "--reason", default="", help="Why the warning is dismissed (required with --dismiss)."
)
@click.option("--by", "user", default="", help="Who dismisses it.")
@JSON
@user_errors
def households_command(store_path, roster, building, calibrate, warning_id, reason, user, as_json):
    """Join a household roster to the buildings, or re-estimate households.

    Each building's residential share comes from the evidence OSM holds (tags, points
    of interest, land use, name, shape); figures are checked for plausibility and the
    warnings listed (kept in the household_warnings layer; they are not plan defects).
    """
    store = Store(store_path)
    if sum(x is not None for x in (roster, building, warning_id)) > 1:
        raise PlannerError("give one of --roster, --explain and --dismiss")
    if building is not None:
        report = pipeline.explain_households(store, building, calibrate=calibrate)
        if as_json:
            echo_json(report)
        else:
            _echo_explanation(report)
        return
    if warning_id is not None:
        row = dismiss_warning(store, warning_id, reason=reason, user=user)
        if as_json:
            echo_json(row)
        else:
            click.echo(f"dismissed {row['warning_id']}: {row['dismiss_reason']}")
        return
    if roster:
        report = pipeline.apply_roster(store, roster, calibrate=calibrate)
    else:
        report = pipeline.reestimate(store, calibrate=calibrate)
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
    _echo_calibration(report["calibration"])
    _echo_warnings(report["warnings"])


def _echo_calibration(calibration: dict) -> None:
    cv = calibration.get("cross_validation") or {}
    if not cv:
        click.echo(f"calibration: not applied ({calibration['reason']})")
        return
    fit, default = cv["calibrated"], cv["defaults"]
    click.echo(
        f"calibration: {'applied' if calibration['applied'] else 'not applied'} "
        f"({calibration['reason']}); {cv['folds']}-fold cross-validated error on "
        f"{cv['buildings']} rostered buildings: fitted {fit['mae']} households per building "
        f"(total {fit['total_error_pct']} %), defaults {default['mae']} "
        f"(total {default['total_error_pct']} %)"
    )


def _echo_warnings(warnings: dict) -> None:
    """The open plausibility warnings as a table (户数合理性提示)."""
    rows = [r for r in warnings["rows"] if not r["dismissed"]]
    counts = ", ".join(f"{k} {v}" for k, v in warnings["open"].items() if v) or "none"
    click.echo(
        f"plausibility warnings (户数合理性提示, not plan defects): {counts}; "
        f"dismissed {warnings['dismissed']}"
    )
    if not rows:
        return
    click.echo(f"  {'warning':<38} {'户数':>6} {'来源':<9} name")
    listed = settings.limits.bad_rows_listed
    for r in rows[:listed]:
        name = r["name"] or ""
        click.echo(
            f"  {r['warning_id']:<38} {r['households']:>6} {r['households_source']:<9} {name}"
        )
    if len(rows) > listed:
        click.echo(f"  … and {len(rows) - listed} more; all are in the household_warnings layer")
    click.echo("  dismiss one with --dismiss WARNING_ID --reason TEXT; see why with --explain ID")


def _echo_explanation(r: dict) -> None:
    """How one building's figure was reached, for people."""
    title = f"building {r['building_id']}" + (f" {r['name']}" if r["name"] else "")
    click.echo(f"{title}: building={r['building_type']}, category {r['category']}")
    click.echo(
        f"  footprint {r['footprint_m2']:.1f} m², {r['levels']:g} levels ({r['levels_source']})"
        + (f", in compound {r['compound_id']} ({r['compound_kind']})" if r["compound_id"] else "")
    )
    click.echo("  evidence (用途依据):")
    for e in r["evidence"] or [{"source": "-", "what": "none", "use": "-", "weight": 0}]:
        click.echo(f"    {e['source']:<5} {e['what']:<40} → {e['use']} +{e['weight']:g}")
    click.echo(
        f"  vote: home {r['residential_votes']:g}, other {r['other_votes']:g}, prior "
        f"{r['prior']['probability']:g} × {r['prior']['weight']:g} → probability of a home "
        f"{r['probability']:g}"
    )
    shops = "; ground floor shops: one level less" if r["ground_floor_shops"] else ""
    click.echo(
        f"  residential share {r['residential_share']:g} ({r['likely_use']}, confidence "
        f"{r['share_confidence']}){shops}"
    )
    click.echo(
        f"  class {r['class'] or '-'}: dwelling area {r['dwelling_area_m2']:g} m² "
        f"({r['dwelling_area_source']}; calibration: {r['calibration']['reason']})"
    )
    click.echo(f"  estimate: {r['formula']}")
    click.echo(f"  households: {r['households']} ({r['households_source']})")
    for w in r["warnings"]:
        state = "dismissed" if w["dismissed"] else "open"
        click.echo(f"  warning {w['warning_id']} ({state}): {w['detail']}")


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


@writes("nothing")
@main.command("communities")
@STORE
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table as CSV (UTF-8 with BOM, for Excel).",
)
@JSON
@user_errors
def communities_command(store_path, csv_path, as_json):
    """Every community of a store side by side (社区对比): households, grids, in range,
    boundary on physical features, walking coverage, stations and staff.

    Read only; the figures come from the layers the pipeline wrote (run grids, check,
    coverage first).
    """
    frame = community_figures(Store(store_path))
    if csv_path is not None:
        frame.to_csv(csv_path, index=False, encoding="utf-8-sig")
    if as_json:
        echo_json({"communities": figures_report(frame)})
        return
    click.echo(
        f"{'code':<14} {'name':<20} {'户数':>8} {'grids':>6} {'in range':>9} "
        f"{'on features':>11} {'coverage':>9} {'stations':>8} {'staff':>6}"
    )
    for row in frame.itertuples(index=False):
        share = "-" if pd.isna(row.on_features_share) else f"{row.on_features_share:.0%}"
        click.echo(
            f"{row.community_code:<14} {str(row.name)[:20]:<20} {row.households:>8} "
            f"{row.grids:>6} {row.in_range:>9} {share:>11} {row.coverage_share:>9.1%} "
            f"{row.stations:>8} {row.staff:>6}"
        )
    click.echo(
        f"{len(frame)} communities; {int(frame['households'].sum())} households, "
        f"{int(frame['grids'].sum())} grids ({int(frame['in_range'].sum())} in range)"
    )


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
    type=STORE_LOCATION,
    help="Where to write the store (default layers/demo.gpkg or layers/AREA.gpkg; "
    "a postgresql:// URL for PostGIS).",
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
    if "staff" in report:
        roles = ", ".join(f"{VALUE_NAMES_ZH[k]} {v}" for k, v in report["staff"]["by_role"].items())
        click.echo(f"网格工作人员 staff (sample, made-up names): {roles}")


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


@writes("`staff` (replaced) and the roster's rows in `roster_unmatched`")
@main.command("staff")
@STORE
@click.option(
    "--roster",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Staff roster (CSV or XLSX): 网格编码, 姓名, 职务, 电话, 楼栋编号 (for 楼长).",
)
@JSON
@user_errors
def staff_command(store_path, roster, as_json):
    """Import grid staff contacts (网格长, 网格员, 楼长) from a staff roster."""
    from planner.staff import import_staff

    report = import_staff(Store(store_path), roster)
    if as_json:
        echo_json(report)
        return
    roles = ", ".join(f"{VALUE_NAMES_ZH.get(k, k)} {v}" for k, v in report["by_role"].items())
    click.echo(f"imported {report['staff']} staff from {roster}: {roles}")
    if report["grids_without_leader"]:
        codes = report["grids_without_leader"]
        more = f" (+{len(codes) - 5} more)" if len(codes) > 5 else ""
        click.echo(f"grids without a 网格长: {', '.join(codes[:5])}{more}")
    for row in report["unmatched"][: settings.limits.bad_rows_listed]:
        click.echo(f"row {row['row']} not used: {row['problem']}", err=True)
