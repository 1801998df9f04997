"""Batch command: the whole pipeline for many areas on dask.distributed."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import click

from planner.batch import FAILED, areas_from, run_batch
from planner.cli.common import JSON, echo_json, main, progress, user_errors, writes

__all__ = ["batch_command"]


@writes(
    "one new store per area in `--out` (`AREA.gpkg`, with `AREA.summary.json` beside it once "
    "finished), and `summary.csv`, `summary.json`"
)
@main.command("batch")
@click.argument("areas", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the stores and the summary (made if new).",
)
@click.option(
    "--osm",
    type=click.Path(dir_okay=False, path_type=Path),
    help="OSM extract to cut the communities of GIS boundary files from.",
)
@click.option(
    "--name-field",
    help="Field of the boundary files holding each community's name "
    "(default: name, 名称, 社区名称... whichever the file has).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes of the local Dask cluster (default: CPU count, at most one per area).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on the workers of this Dask scheduler (tcp://host:8786) instead of a local "
    "cluster; they must see the same files. Start them with --nthreads 1.",
)
@click.option("--force", is_flag=True, help="Run finished areas again.")
@JSON
@user_errors
def batch_command(areas, out_dir, osm, name_field, workers, scheduler, force, as_json):
    """Run the whole pipeline for many areas, one store each, and compare them.

    Each AREA is an OSM file (.osm/.pbf), or a GIS file of community boundaries (one
    store per polygon) cut from --osm. Every area is imported (households estimated),
    gridded, checked and fixed (edge areas assigned) and given walking coverage and
    station sites, as one task on Dask: a local cluster of single-threaded worker
    processes, or an existing scheduler's workers. A failing area is reported and the
    others go on; areas finished by an earlier run with the same inputs are skipped.
    summary.csv (Chinese headers, opens in Excel) and summary.json compare the areas:
    households, grids in range and flagged, boundary on physical features, coverage,
    stations, staff and seconds. Exit status 1 when an area failed.
    """
    # Expanded here for the bar's length: a boundary file holds many areas.
    expanded = areas_from(areas, osm=osm, name_field=name_field)
    with progress(len(expanded), "batch", enabled=not as_json) as step:
        report = run_batch(
            expanded, out_dir, workers=workers, scheduler=scheduler, force=force, progress=step
        )
    if as_json:
        echo_json(report)
    else:
        _echo_table(report)
    if report["counts"][FAILED]:
        sys.exit(1)


def _echo_table(report: dict) -> None:
    """One line per area, then the counts and where the summary is."""
    click.echo(
        f"{_pad('area', 28)} {'户数':>5} {'网格':>3} {'达标':>3} {'标注':>3} {'沿实体':>4} "
        f"{'覆盖':>4} {'站':>3} {'人员':>3} {'秒':>6}  status"
    )
    for r in report["areas"]:
        if r["status"] == FAILED:
            click.echo(f"{_pad(r['area'], 28)} failed: {r['error']}")
            continue
        click.echo(
            f"{_pad(r['area'], 28)} {_n(r['households']):>7} {_n(r['grids']):>5} "
            f"{_n(r['in_range']):>5} {_n(r['flagged']):>5} {_pct(r['boundary_on_features']):>7} "
            f"{_pct(r['coverage_share']):>6} {_n(r['stations']):>4} {_n(r['staff']):>5} "
            f"{_n(r['seconds']):>7}  {r['status']}"
        )
        if r.get("notes"):
            click.echo(f"  note: {r['notes']}")
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    where = f"scheduler {report['scheduler']}" if report["scheduler"] else "a local cluster"
    workers = f"{report['workers']} worker{'' if report['workers'] == 1 else 's'}"
    ran = f"on {where} ({workers})" if report["workers"] else "(nothing to run)"
    click.echo(
        f"{len(report['areas'])} areas ({counts}) in {report['seconds']} s {ran}; "
        f"summary: {report['summary_csv']}, {report['summary_json']}"
    )


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns of a terminal (a Chinese character takes two)."""
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in text)
    return text + " " * max(0, width - len(text) - wide)


def _n(value: object) -> str:
    return "-" if value is None else str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
