"""``planner plan``: versions of the grid plan (list, show, diff, publish, rollback, edit)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from planner import plan_versions
from planner.cli.common import JSON, STORE, echo_json, main, user_errors, writes
from planner.errors import InputError
from planner.plan_edit import PlanEditor, within_community
from planner.store import Store

__all__ = ["plan_group"]

_USER = click.option("--by", "user", default=None, help="Who makes the change (操作人).")
_COMMUNITY = click.option(
    "--community",
    help="Only this community (code or name) of a store holding several: grids of the "
    "others are left out (list, show, diff), may not change (edit) or stay as they are "
    "(publish, rollback).",
)


@main.group("plan")
@STORE
@click.pass_context
def plan_group(ctx: click.Context, store_path) -> None:
    """Versions of the grid plan (网格方案版本) in STORE."""
    ctx.obj = store_path


@writes("nothing")
@plan_group.command("list")
@_COMMUNITY
@JSON
@click.pass_obj
@user_errors
def list_command(store_path, community, as_json):
    """Every plan version: when, who, why, grids, households; published (*) and current (>).

    With --community: the versions that changed its grids, counting its grids alone.
    """
    versions = plan_versions.list_versions(Store(store_path), community=community)
    if as_json:
        echo_json(versions.to_dict("records"))
        return
    if versions.empty:
        click.echo("no plan versions yet: they begin with the next write of the grids")
    for row in versions.itertuples():
        mark = (">" if row.current else " ") + ("*" if row.published else " ")
        click.echo(
            f"{mark} {row.plan_version:>4}  {row.time}  {row.grids:>4} grids "
            f"{row.households:>7} 户  {row.user or '-'}  {row.reason or ''}"
        )


@writes("nothing")
@plan_group.command("show")
@click.argument("version", type=int)
@_COMMUNITY
@JSON
@click.pass_obj
@user_errors
def show_command(store_path, version, community, as_json):
    """The grids of VERSION: code, name, households."""
    grids = plan_versions.plan_at(Store(store_path), version, community=community)["grids"]
    rows = grids[["grid_code", "name", "households"]].sort_values("grid_code")
    if as_json:
        echo_json({"plan_version": version, "grids": rows.to_dict("records")})
        return
    click.echo(f"plan version {version}: {len(rows)} grids, {int(rows.households.sum())} 户")
    for row in rows.itertuples():
        click.echo(f"  {row.grid_code}  {row.households:>5} 户  {row.name or ''}")


@writes("nothing")
@plan_group.command("diff")
@click.argument("old", type=int)
@click.argument("new", type=int)
@_COMMUNITY
@JSON
@click.pass_obj
@user_errors
def diff_command(store_path, old, new, community, as_json):
    """What changed in the grids from version OLD to NEW."""
    diff = plan_versions.diff_versions(Store(store_path), old, new, community=community)
    if as_json:
        echo_json(diff)
        return
    click.echo(
        f"plan {old} → {new}: {diff['kept']} codes kept, {len(diff['added'])} added, "
        f"{len(diff['removed'])} removed, {len(diff['reshaped'])} reshaped; "
        f"{diff['households_moved']} households moved"
    )
    for label in ("added", "removed", "reshaped"):
        if diff[label]:
            click.echo(f"  {label}: {', '.join(diff[label])}")


@writes("the plan versions' metadata (which one is published)")
@plan_group.command("publish")
@click.argument("version", type=int)
@_USER
@_COMMUNITY
@click.pass_obj
@user_errors
def publish_command(store_path, version, user, community):
    """Publish VERSION as the official plan (with --community: that community's grids)."""
    report = plan_versions.publish_version(
        Store(store_path), version, user=user, community=community
    )
    where = f" for community {report['community_code']}" if "community_code" in report else ""
    click.echo(f"plan version {version} published{where}")


@writes("a new plan version equal to VERSION (buildings, blocks and figures follow)")
@plan_group.command("rollback")
@click.argument("version", type=int)
@_USER
@_COMMUNITY
@click.pass_obj
@user_errors
def rollback_command(store_path, version, user, community):
    """Make a new plan version equal to VERSION.

    With --community: that community's grids as at VERSION, the others' as they are.
    """
    report = plan_versions.rollback_to(Store(store_path), version, user=user, community=community)
    where = f" (community {report['community_code']})" if "community_code" in report else ""
    click.echo(
        f"rolled back to version {version}{where}: now plan version {report['plan_version']}"
    )


@writes("nothing with `--preview`; else a new plan version")
@plan_group.command("edit")
@click.argument("edits_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--base",
    "base_version",
    type=int,
    default=None,
    help="Plan version the edits were made on (default: the current one).",
)
@click.option("--preview", is_flag=True, help="Show the edited plan's figures; write nothing.")
@click.option("--message", default="", help="Why (recorded with each edit).")
@_USER
@_COMMUNITY
@JSON
@click.pass_obj
@user_errors
def edit_command(store_path, edits_file, base_version, preview, message, user, community, as_json):
    """Apply the edits in EDITS_FILE (a JSON list, as the web editor sends) to the plan.

    Edits: assign units to a grid, create, merge, split along a line, delete, rename,
    zone, lock/unlock, and a building's households (see planner.plan_edit).
    """
    try:
        edits = json.loads(edits_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"cannot read the edits ({exc}); give a JSON list of edit objects"
        raise InputError(msg, source=str(edits_file)) from None
    store = Store(store_path)
    within_community(store, edits, community)
    editor = PlanEditor(store)
    if preview:
        report = editor.preview(edits)
        if as_json:
            echo_json(report)
            return
        click.echo(f"preview on plan version {report['version']}: nothing written")
        _echo_grids(report["grids"])
        counts = {k: v for k, v in report["counts"].items() if v}
        click.echo("findings: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
        return
    base = editor.version if base_version is None else base_version
    report = editor.save(base, edits, message=message, user=user)
    if as_json:
        echo_json(report)
        return
    rebased = f" (rebased from version {base})" if report["rebased"] else ""
    click.echo(f"saved as plan version {report['version']}{rebased}")
    if report["created"]:
        click.echo(f"  new grids: {', '.join(report['created'])}")
    if report["removed"]:
        click.echo(f"  removed grids: {', '.join(report['removed'])}")


def _echo_grids(grids: dict) -> None:
    for code, row in sorted(grids.items()):
        badge = "✓" if row["in_range"] else "✗"
        click.echo(
            f"  {code}  {row['households']:>5} 户 {badge}  {row['buildings']:>4} 栋  "
            f"staff {row['staff']}  {row.get('name') or ''}"
        )
