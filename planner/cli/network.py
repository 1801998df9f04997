"""Walking commands: network, coverage, isochrones, sites."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from planner.cli.common import JSON, STORE, echo_json, main, progress, user_errors, writes
from planner.coverage import coverage, isochrones
from planner.errors import PlannerError
from planner.network import build_walk_graph, walk_threshold
from planner.siting import site_stations
from planner.store import Store

__all__ = ["coverage_command", "isochrones_command", "network_command", "sites_command"]

_Command = TypeVar("_Command", bound=Callable[..., None])


def _threshold_options(func: _Command) -> _Command:
    func = click.option("--meters", type=float, help="Threshold in metres instead of minutes.")(
        func
    )
    func = click.option("--speed", type=float, help="Walking speed in m/s (default 1.1).")(func)
    func = click.option("--minutes", type=float, help="Walking minutes (default 15).")(func)
    return func


def _which_stations(func: _Command) -> _Command:
    func = click.option(
        "--existing-only", is_flag=True, help="Count existing stations only, no proposed ones."
    )(func)
    func = click.option(
        "--scenario", help="Count the proposed stations of this scenario (default: latest)."
    )(func)
    return func


@writes("`walk_edges`, `walk_nodes`")
@main.command("network")
@STORE
@JSON
@user_errors
def network_command(store_path: Path, as_json: bool) -> None:
    """Build the walking network of STORE and write it as walk_edges/walk_nodes."""
    store = Store(store_path)
    started = time.perf_counter()
    graph = build_walk_graph(store)
    store.write_many(
        {"walk_edges": graph.edge_frame(), "walk_nodes": graph.node_frame()},
        log=[
            {
                "layer": "walk_edges",
                "action": "network",
                "detail": {k: graph.report[k] for k in ("nodes", "edges")},
                "reason": "planner network",
            }
        ],
    )
    report = dict(graph.report, seconds=round(time.perf_counter() - started, 2))
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"walking network: {report['nodes']} nodes, {report['edges']} edges; "
        f"{report['cut_crossings']['walls']} wall crossings cut, "
        f"{report['buildings_unjoined_count']} buildings not joined"
    )
    for c in report["walled_without_gates"]:
        click.echo(f"warning: walled compound {c['compound_id']} has no gate; treated as open")


@writes("buildings' walking distance and coverage")
@main.command("coverage")
@STORE
@_threshold_options
@_which_stations
@JSON
@user_errors
def coverage_command(
    store_path: Path,
    minutes: float | None,
    speed: float | None,
    meters: float | None,
    scenario: str | None,
    existing_only: bool,
    as_json: bool,
) -> None:
    """Walking distance from every building to its nearest station; households covered."""
    walk_threshold(minutes=minutes, speed=speed, meters=meters)
    store = Store(store_path)
    with progress(2, "coverage", enabled=not as_json) as step:
        step("walking network")
        graph = build_walk_graph(store)
        step("distances")
        report = coverage(
            store,
            minutes=minutes,
            speed=speed,
            meters=meters,
            scenario=scenario,
            existing_only=existing_only,
            graph=graph,
        )
    if as_json:
        echo_json(report)
        return
    share = report["coverage_share"]
    click.echo(
        f"{report['households_covered']} of {report['households_total']} households "
        f"({0 if share is None else share * 100:.1f} %) within {report['threshold_m']:g} m "
        f"of {report['stations_counted']} stations; "
        f"{report['buildings_uncovered']} of {report['buildings_total']} buildings not covered"
    )
    for s in report["stations"]:
        click.echo(f"  {s['station_id']} {s['name'] or ''}: {s['households_served']} households")
    for c in report["walled_without_gates"]:
        click.echo(f"warning: walled compound {c['compound_id']} has no gate; treated as open")


@writes("isochrones")
@main.command("isochrones")
@STORE
@click.option(
    "--minutes",
    "minutes_text",
    default="5,10,15",
    show_default=True,
    help="Walking bands in minutes, comma separated.",
)
@click.option("--speed", type=float, help="Walking speed in m/s (default 1.1).")
@_which_stations
@JSON
@user_errors
def isochrones_command(
    store_path: Path,
    minutes_text: str,
    speed: float | None,
    scenario: str | None,
    existing_only: bool,
    as_json: bool,
) -> None:
    """Walking bands around each station, from the reached network → isochrones layer."""
    try:
        minutes = [float(v) for v in minutes_text.split(",") if v.strip()]
    except ValueError:
        msg = f"--minutes must be numbers separated by commas, got {minutes_text!r}"
        raise PlannerError(msg) from None
    if not minutes or min(minutes) <= 0:
        msg = f"--minutes must be positive numbers, got {minutes_text!r}"
        raise PlannerError(msg)
    store = Store(store_path)
    report = isochrones(
        store, minutes=minutes, speed=speed, scenario=scenario, existing_only=existing_only
    )
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"{report['features']} isochrones for {report['stations']} stations "
        f"({', '.join(f'{b:g}' for b in report['bands'])} min) → isochrones"
    )


@writes("proposed stations (`stations`, status proposed) under a new scenario")
@main.command("sites")
@STORE
@click.option("--model", default="lscp", show_default=True, help="lscp, mclp or pmedian.")
@click.option("--p", "p", type=int, help="New stations to open (mclp, pmedian).")
@click.option("--budget", type=float, help="Budget on the cost of new stations (mclp).")
@click.option("--capacity", type=int, help="Households a new station may serve.")
@_threshold_options
@click.option("--scenario", help="Scenario name (default <model>-<timestamp>).")
@click.option("--time-limit", type=float, help="Seconds for the solver.")
@click.option("--no-generate", is_flag=True, help="Do not add sites generated from the network.")
@JSON
@user_errors
def sites_command(
    store_path: Path,
    model: str,
    p: int | None,
    budget: float | None,
    capacity: int | None,
    minutes: float | None,
    speed: float | None,
    meters: float | None,
    scenario: str | None,
    time_limit: float | None,
    no_generate: bool,
    as_json: bool,
) -> None:
    """Choose new station sites (LSCP, MCLP, p-median) and write them as proposed stations."""
    walk_threshold(minutes=minutes, speed=speed, meters=meters)
    if time_limit is not None and time_limit <= 0:
        raise PlannerError("--time-limit must be a positive number of seconds")
    store = Store(store_path)
    report = site_stations(
        store,
        model=model,
        p=p,
        budget=budget,
        capacity=capacity,
        minutes=minutes,
        speed=speed,
        meters=meters,
        scenario=scenario,
        time_limit=time_limit,
        generate=not no_generate,
    )
    if as_json:
        echo_json(report)
        return
    state = "optimal" if report["optimal"] else f"gap {report['gap']:.2%}"
    click.echo(
        f"{report['model']} ({state}): {len(report['chosen'])} new stations, objective "
        f"{report['objective']:g}; {report['households_covered']} households covered, "
        f"{report['households_uncoverable']} beyond reach of any site; "
        f"scenario {report['scenario']!r}"
    )
    for site in report["chosen"]:
        click.echo(f"  {site}")
