"""Grid commands: blocks, grids, rebalance, assess."""

from __future__ import annotations

import click

from planner.assess import assess_store
from planner.blocks import make_blocks
from planner.cli.common import (
    JSON,
    MAX_HOUSEHOLDS,
    MIN_HOUSEHOLDS,
    STORE,
    echo_json,
    main,
    progress,
    user_errors,
    writes,
)
from planner.grids import make_grids, rebalance
from planner.settings import settings
from planner.store import Store

__all__ = ["assess_command", "blocks_command", "grids_command", "rebalance_command"]


def _print_flags(report: dict) -> None:
    for flag in report["flagged"]:
        click.echo(f"  flagged {flag['grid_code']} ({flag['households']} 户): {flag['reason']}")


@writes("blocks")
@main.command("blocks")
@STORE
@MAX_HOUSEHOLDS
@JSON
@user_errors
def blocks_command(store_path, max_households, as_json):
    """Cut the community into blocks (地块) along roads, walls, compounds and lanes."""
    store = Store(store_path)
    with progress(5, "blocks", enabled=not as_json) as step:
        report = make_blocks(store, max_households=max_households, progress=step)
    if as_json:
        echo_json(report)
        return
    kinds = ", ".join(f"{k} {v}" for k, v in report["kinds"].items())
    click.echo(
        f"{report['blocks']} blocks ({kinds}); {report['households']} households, "
        f"largest block {report['households_max']}"
    )
    for block in report["over_max"]:
        click.echo(
            f"  {block['block_id']}: {block['households']} households in "
            f"{block['buildings']} building(s), above --max {max_households}"
        )


@writes(
    "the plan (a new version) and what follows it: blocks, buildings' codes, zones, "
    "四维 figures, edge areas"
)
@main.command("grids")
@STORE
@MIN_HOUSEHOLDS
@MAX_HOUSEHOLDS
@click.option(
    "--zone-size",
    "grids_per_zone",
    default=settings.grid.grids_per_zone,
    show_default=True,
    type=int,
    help="Grids per zone (片区).",
)
@click.option(
    "--community",
    help="Redraw only this community (code or name) of a store holding several; "
    "the others keep their grids.",
)
@click.option(
    "--workers",
    type=int,
    help="Draw communities and regions on this many worker processes (a local Dask "
    "cluster). Default: one per CPU for a store of more than "
    f"{settings.grid.parallel_buildings} buildings in several areas, else one.",
)
@click.option(
    "--scheduler",
    help="Draw them on the workers of this Dask scheduler (tcp://host:8786) instead.",
)
@JSON
@user_errors
def grids_command(
    store_path,
    min_households,
    max_households,
    grids_per_zone,
    community,
    workers,
    scheduler,
    as_json,
):
    """Generate grids (网格) of --min to --max households, with zones, codes and staffing.

    Each community of the store gets its own grids and codes; a large one is drawn
    region by region (between major roads, railways and water).
    """
    store = Store(store_path)
    with progress(8, "grids", enabled=not as_json) as step:
        report = make_grids(
            store,
            min_households=min_households,
            max_households=max_households,
            grids_per_zone=grids_per_zone,
            community=community,
            workers=workers,
            scheduler=scheduler,
            progress=step,
        )
    if as_json:
        echo_json(report)
        return
    for warning in report.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{report['grids']} grids in {report['zones']} zones; {report['in_range']} within "
        f"{min_households}-{max_households} households "
        f"(smallest {report['households_min']}, largest {report['households_max']})"
    )
    _print_flags(report)
    left = report["outside_community"]
    if left["buildings"]:
        click.echo(
            f"left out: {left['buildings']} buildings ({left['households']} households) "
            "outside the community boundary"
        )
    t = report["totals"]
    click.echo(
        f"staff: {t['grid_leaders']} grid leaders, {t['fulltime_workers']} full-time and "
        f"{t['parttime_workers']} part-time grid workers, {t['building_leaders']} building leaders"
    )


@writes(
    "`scenario_grids`, `grid_moves`; with `--apply` the plan and its dependents (a new version)"
)
@main.command("rebalance")
@STORE
@MIN_HOUSEHOLDS
@MAX_HOUSEHOLDS
@click.option(
    "--apply", "apply_", is_flag=True, help="Replace the current plan with the rebalanced one."
)
@JSON
@user_errors
def rebalance_command(store_path, min_households, max_households, apply_, as_json):
    """Bring the current grids into range moving the fewest households.

    The new plan goes to layer scenario_grids (scenario "rebalanced") and the
    moves to table grid_moves; the current grids stay unless --apply is given.
    """
    store = Store(store_path)
    with progress(6, "rebalance", enabled=not as_json) as step:
        report = rebalance(
            store,
            min_households=min_households,
            max_households=max_households,
            apply=apply_,
            progress=step,
        )
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"{report['grids']} grids, {report['in_range']} within {min_households}-"
        f"{max_households}; {report['blocks_moved']} blocks and {report['households_moved']} "
        "households move"
    )
    for move in report["moves"]:
        click.echo(
            f"  {move['block_id']}: {move['from_grid']} → {move['to_grid']} "
            f"({move['households']} 户)"
        )
    if report["removed"]:
        click.echo(f"grids removed: {', '.join(report['removed'])}")
    if report["added"]:
        click.echo(f"grids added: {', '.join(report['added'])}")
    _print_flags(report)
    where = "applied to grids" if report["applied"] else "written to scenario_grids"
    click.echo(f"plan {where}")


@writes("grids' 四维 figures (a new plan version), zones' households")
@main.command("assess")
@STORE
@JSON
@user_errors
def assess_command(store_path, as_json):
    """四维测评: area, density, special groups and places per grid, and the staff it needs."""
    store = Store(store_path)
    report = assess_store(store)
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"{'grid':<16}{'户':>6}{'人':>7}{'m²':>10}{'人/ha':>8}{'特殊':>6}{'场所':>6}"
        f"{'长':>4}{'专':>4}{'兼':>4}{'楼长':>5}"
    )
    for g in report["grids"]:
        click.echo(
            f"{g['grid_code']:<16}{g['households']:>6}{g['residents']:>7}{g['area_m2']:>10.0f}"
            f"{g['density']:>8.0f}{g['special_groups']:>6}{g['places']:>6}"
            f"{g['grid_leaders']:>4}{g['fulltime_workers']:>4}{g['parttime_workers']:>4}"
            f"{g['building_leaders']:>5}"
        )
    t = report["totals"]
    click.echo(
        f"total: {t['grids']} grids, staff {t['staff']} (+{t['building_leaders']} building leaders)"
    )
