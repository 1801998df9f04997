"""Topology commands: check (and fix) a grid layer; detect, assign and settle edge areas."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from planner import edge_areas, topology
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
from planner.errors import PlannerError
from planner.settings import settings
from planner.store import Store

__all__ = ["check_command", "edges_command"]

_RULE = click.option(
    "--rule",
    type=click.Choice(topology.RULES),
    default=settings.topology.fix_rule,
    show_default=True,
    help="Which neighbour gets a gap, overlap, orphan piece or edge area.",
)


def _thresholds(
    min_households: int, max_households: int, sliver_area: float, sliver_width: float
) -> topology.Thresholds:
    return topology.Thresholds(
        min_households=min_households,
        max_households=max_households,
        sliver_area_m2=sliver_area,
        sliver_width_m=sliver_width,
    )


def _print_findings(findings: topology.Findings) -> None:
    rows = findings.table()
    t = findings.totals()
    if not rows:
        click.echo(f"clean: {t['grids']} grids, no findings")
    else:
        click.echo(f"{'kind':<24} {'grids':<32} {'size':>10}  {'lon,lat':<22} detail")
        for r in rows:
            grids = ",".join(r["grids"])
            grids = grids if len(grids) <= 32 else grids[:29] + "..."
            size = f"{r['size']:.1f} {r['unit']}" if r["unit"] == "m2" else f"{r['size']:.0f}"
            where = f"{r['point'][0]:.5f},{r['point'][1]:.5f}"
            mark = " [flagged]" if r.get("flagged") else ""
            click.echo(f"{r['kind']:<24} {grids:<32} {size:>10}  {where:<22} {r['detail']}{mark}")
        counts = ", ".join(f"{k} {v}" for k, v in findings.counts().items() if v)
        click.echo(f"{t['defects']} defect(s), {t['flagged']} flagged: {counts}")
    click.echo(
        f"boundary on physical features: {t['boundary_on_features']:.0%} of "
        f"{t['boundary_m'] / 1000:.1f} km; coverage valid: {t['coverage_valid']}"
    )


def _print_fixes(fixes: topology.FixPlan) -> None:
    data = fixes.to_json()
    if not data["proposals"] and not data["removed_grids"]:
        click.echo("nothing to fix")
    for p in data["proposals"]:
        source = ",".join(p["from_grids"]) or "-"
        click.echo(
            f"{p['kind']:<18} {source:>30} -> {p['to_grid'] or '(clipped)':<16} "
            f"{p['area_m2']:>10.1f} m2 {p['households']:>5} 户  {p['reason']}"
        )
    for code in data["removed_grids"]:
        click.echo(f"grid {code} merged away entirely")
    for code in data["added_grids"]:
        click.echo(f"grid {code} added by re-cutting a grid the repairs pushed out of range")
    for m in data["households_moved"]:
        click.echo(f"  {m['grid']}: {m['before']} -> {m['after']} 户 ({m['change']:+d})")
    for text in data["unresolved"]:
        click.echo(f"  cannot fix: {text}")
    if data["rounding_pieces"]:
        click.echo(f"  and {data['rounding_pieces']} rounding slivers snapped")


@writes("nothing; findings with `--save`; the repaired plan (a new version) with `--fix --apply`")
@main.command("check")
@STORE
@click.option("--layer", default="grids", show_default=True, help="Grid layer to check.")
@click.option("--scenario", default=None, help="Plan within the layer (default: current).")
@click.option("--fix", "fix", is_flag=True, help="Propose repairs (households moved per grid).")
@click.option("--apply", "apply_", is_flag=True, help="With --fix: apply them in one write.")
@_RULE
@MIN_HOUSEHOLDS
@MAX_HOUSEHOLDS
@click.option(
    "--sliver-area",
    default=settings.topology.sliver_area_m2,
    show_default=True,
    type=float,
    help="Pieces smaller than this (m²) are slivers.",
)
@click.option(
    "--sliver-width",
    default=settings.topology.sliver_width_m,
    show_default=True,
    type=float,
    help="Pieces nowhere wider than this (m) are slivers.",
)
@click.option(
    "--recut/--no-recut",
    default=True,
    show_default=True,
    help="With --fix: re-cut grids a repair pushes out of the household range, with "
    "their neighbours.",
)
@click.option(
    "--save/--no-save",
    default=False,
    show_default=True,
    help="Write the findings to the store's findings layer (for QGIS and the map); "
    "without it the check writes nothing.",
)
@JSON
@user_errors
def check_command(
    store_path: Path,
    layer: str,
    scenario: str | None,
    fix: bool,
    apply_: bool,
    rule: str,
    min_households: int,
    max_households: int,
    sliver_area: float,
    sliver_width: float,
    recut: bool,
    save: bool,
    as_json: bool,
) -> None:
    """Check a grid layer's topology (网格拓扑检查); exit 1 when there are defects.

    Grids out of the household range that carry a flag (a reason, e.g. one
    building above the maximum) are reported as flagged and do not fail the check.
    """
    if apply_ and not fix:
        raise PlannerError("--apply needs --fix")
    store = Store(store_path)
    t = _thresholds(min_households, max_households, sliver_area, sliver_width)
    with progress(9, "check", enabled=not as_json) as step:
        plan = topology.load_plan(store, layer=layer, scenario=scenario)
        findings = topology.check_plan(plan, thresholds=t, progress=step)
    if not fix:
        if save:
            topology.save_findings(store, findings)
        if as_json:
            echo_json(findings.to_json())
        else:
            _print_findings(findings)
        sys.exit(0 if findings.clean else 1)
    fixes = topology.plan_fixes(plan, findings, rule=rule, thresholds=t, rebalance=recut)
    if not apply_:
        if as_json:
            echo_json({"check": findings.to_json(geometry=False), "fixes": fixes.to_json()})
        else:
            _print_findings(findings)
            click.echo("")
            _print_fixes(fixes)
            click.echo("(nothing written; add --apply to apply these repairs)")
        sys.exit(0 if findings.clean else 1)
    fixes, after = topology.apply_fixes(store, fixes, thresholds=t)
    if as_json:
        echo_json({"before": findings.totals(), "fixes": fixes.to_json(), "check": after.to_json()})
    else:
        _print_fixes(fixes)
        click.echo(f"applied {len(fixes.proposals)} repair(s); check after repair:")
        _print_findings(after)
    sys.exit(0 if after.clean else 1)


class _Exclusive(click.Option):
    """An option click refuses together with others, or without one it needs.

    Parameters
    ----------
    not_with
        Names of the options it excludes: "give --a or --b, not both".
    needs
        ``(name, wording)`` of options it needs: "--a needs WORDING".
    """

    def __init__(
        self,
        *args: Any,
        not_with: tuple[str, ...] = (),
        needs: tuple[tuple[str, str], ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.not_with = not_with
        self.needs = needs

    def handle_parse_result(
        self, ctx: click.Context, opts: Mapping[str, Any], args: list[str]
    ) -> tuple[Any, list[str]]:
        if opts.get(self.name):
            flag = self.opts[0]
            for other in self.not_with:
                if opts.get(other):
                    raise click.UsageError(f"give {flag} or {_flag(ctx, other)}, not both", ctx)
            for other, wording in self.needs:
                if not opts.get(other):
                    raise click.UsageError(f"{flag} needs {wording}", ctx)
        return super().handle_parse_result(ctx, opts, args)


def _flag(ctx: click.Context, name: str) -> str:
    """The command-line spelling of the option called ``name``."""
    return next(p.opts[0] for p in ctx.command.params if p.name == name)


@writes("edge areas with `--detect`, `--assign`, `--settle` or `--dispute`; nothing when listing")
@main.command("edges")
@STORE
@click.option("--detect", is_flag=True, help="Detect edge areas (边缘地带) from the data.")
@click.option("--assign", is_flag=True, help="Assign unassigned edge areas to grids.")
@click.option(
    "--settle",
    "settle_id",
    cls=_Exclusive,
    not_with=("dispute_id",),
    needs=(("grid_code", "--grid CODE"),),
    metavar="EDGE_ID",
    help="Settle a dispute over this area.",
)
@click.option("--dispute", "dispute_id", metavar="EDGE_ID", help="Mark this area disputed.")
@click.option("--grid", "grid_code", help="With --settle: the grid agreed on.")
@click.option("--by", "by", default="", help="With --settle/--dispute: who (协商人).")
@click.option("--text", "text", default="", help="With --settle: what was agreed (协商结果).")
@click.option("--date", "date", default=None, help="With --settle: when (YYYY-MM-DD; today).")
@click.option(
    "--force",
    is_flag=True,
    help="With --settle: record a grid the area does not touch (it stays a finding).",
)
@_RULE
@JSON
@user_errors
def edges_command(
    store_path: Path,
    detect: bool,
    assign: bool,
    settle_id: str | None,
    dispute_id: str | None,
    grid_code: str | None,
    by: str,
    text: str,
    date: str | None,
    force: bool,
    rule: str,
    as_json: bool,
) -> None:
    """Detect, assign and settle edge areas (边缘地带); without options, list them."""
    store = Store(store_path)
    if settle_id:
        result = edge_areas.settle(
            store, settle_id, grid_code, by=by, text=text, date=date, force=force
        )
        if as_json:
            echo_json(result)
        else:
            click.echo(f"{settle_id} -> {grid_code}: settled by {by} ({result['agreement_date']})")
        return
    if dispute_id:
        result = edge_areas.dispute(store, dispute_id, text=text, by=by)
        if as_json:
            echo_json(result)
        else:
            click.echo(f"{dispute_id} marked disputed (was {result['previous_grid'] or '-'})")
        return
    if detect or assign:
        grids = None
        if assign and store.has("grids") and store.count("grids"):
            grids = topology.load_plan(store).grids
        report = edge_areas.update_edge_areas(
            store, detect=detect, assign=assign, grids=grids, rule=rule
        )
    else:
        report = edge_areas.summary(store.read("edge_areas"))
    frame = store.read("edge_areas")
    if as_json:
        columns = [
            "edge_id",
            "kind",
            "grid_code",
            "assigned_by",
            "reason",
            "disputed",
            "agreement_by",
            "agreement_date",
            "agreement_text",
            "buildings",
            "households",
            "area_m2",
            "source",
        ]
        rows = frame[columns].astype(object).where(frame[columns].notna(), None)
        echo_json(report | {"items": rows.to_dict("records")})
        return
    for r in frame.itertuples():
        mark = " [disputed]" if r.disputed else ""
        click.echo(
            f"{r.edge_id:<8} {r.kind or '-':<13} {r.grid_code or '(none)':<16} "
            f"{r.area_m2:>10.0f} m2 {r.households:>4} 户  {r.reason or ''}{mark}"
        )
    kinds = ", ".join(f"{k} {v}" for k, v in report["by_kind"].items())
    click.echo(
        f"{report['edge_areas']} edge areas ({kinds}); {report['unassigned']} unassigned, "
        f"{report['disputed']} open disputes"
    )
