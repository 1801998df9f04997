"""The officials' dashboard (数据看板): coverage by station set, headline figures, plans compared.

What the dashboard of the web map shows, as plain data (JSON-able dicts and lists), so
that a notebook gets the same figures as the page:

- :func:`station_sets`: the sets of stations coverage can be measured with — the
  existing stations only, and existing plus the proposed stations of each scenario;
- :func:`coverage_view`: coverage by one set — households and buildings beyond the
  walking threshold, walk bands (5, 10, 15 minutes), a walking-distance histogram,
  each building's band for the map, the stations' table;
- :func:`headline`: the headline figures of a plan with one station set (households
  covered, grids within reach, grids in the household range, open findings, staff
  needed) and :func:`compare_figures`, two of them side by side with the difference;
- :func:`dashboard`: all of the above for existing stations and a chosen scenario,
  with the report's tables (:func:`planner.report.report_tables`: grids, zones,
  findings) and the households-per-grid chart;
- :func:`compare_plans`: two plan versions (grids changed, households moved, coverage
  and staff before and after);
- :func:`mclp_curve`: households covered by the best placement of 0, 1, 2… new
  stations (maximal covering, :class:`planner.siting.MCLP`);
- :func:`communities_view`: a store of many communities compared side by side
  (households, grids in range, boundary on features, coverage, staff).

:func:`coverage_view`, :func:`dashboard` and :func:`compare_plans` take a ``community``
(code or name) where the store holds several: the figures, tables and charts are then
that community's alone (its households still walk to any station, across its border).

Nothing here writes to the store.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.communities import community_figures, figures_report
from planner.coverage import coverage
from planner.errors import InputError
from planner.geometry import in_range, representative_points
from planner.network import build_walk_graph, walk_threshold
from planner.plan_versions import (
    community_scope,
    current_version,
    diff_versions,
    of_community,
    plan_at,
)
from planner.report import report_tables, station_table
from planner.settings import settings
from planner.siting import site_stations

if TYPE_CHECKING:
    from collections.abc import Sequence

    from planner.network import WalkGraph
    from planner.store import Store

__all__ = [
    "EXISTING",
    "MEASURES",
    "STAFF_FIELDS",
    "communities_view",
    "compare_figures",
    "compare_plans",
    "coverage_view",
    "dashboard",
    "grid_households_chart",
    "headline",
    "mclp_curve",
    "station_sets",
]

#: The key of the station set made of the existing stations only.
EXISTING = "existing"

#: The staffing columns of a grid (四维测评's staffing) summed as "staff needed".
STAFF_FIELDS = ("grid_leaders", "fulltime_workers", "parttime_workers", "building_leaders")

#: Headline measures in the order :func:`compare_figures` compares them.
MEASURES = (
    "stations_counted",
    "households_total",
    "households_covered",
    "households_uncovered",
    "coverage_share",
    "buildings_uncovered",
    "grids",
    "grids_reached",
    "grids_in_range",
    "findings",
    "findings_open",
    "staff_needed",
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts: NaN and NaT become None, numpy scalars Python ones."""
    frame = pd.DataFrame(frame).drop(columns="geometry", errors="ignore")
    clean = frame.astype(object).where(frame.notna(), None)
    rows = clean.to_dict(orient="records")
    return [{k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()} for r in rows]


def _status(stations: pd.DataFrame) -> np.ndarray:
    return stations["status"].fillna("existing").to_numpy()


def station_sets(store: Store) -> list[dict[str, Any]]:
    """The station sets coverage can be measured with, existing-only first.

    Parameters
    ----------
    store
        The store.

    Returns
    -------
    list of dict
        ``key`` (:data:`EXISTING`, or the scenario's name), ``scenario`` (None for
        existing only), ``stations`` (counted), ``proposed`` (of them, proposed) and
        ``latest`` (the scenario :func:`planner.coverage.coverage` uses by default).
    """
    stations = store.read("stations")
    status = _status(stations)
    existing = int((status == "existing").sum())
    sets = [
        {"key": EXISTING, "scenario": None, "stations": existing, "proposed": 0, "latest": False}
    ]
    proposed = stations[status != "existing"]
    names = list(dict.fromkeys(str(s) for s in proposed["scenario"] if isinstance(s, str)))
    latest = store.metadata.get("latest_scenario")
    if latest not in names and names:
        latest = names[-1]
    for name in names:
        n = int((proposed["scenario"] == name).sum())
        sets.append(
            {
                "key": name,
                "scenario": name,
                "stations": existing + n,
                "proposed": n,
                "latest": name == latest,
            }
        )
    return sets


def _set_args(key: str | None) -> dict[str, Any]:
    """``coverage`` arguments for a station set key (None: existing + the latest scenario)."""
    if key == EXISTING:
        return {"existing_only": True}
    return {"scenario": key}


def _band_minutes(minutes: float, bands: Sequence[float] | None) -> list[float]:
    """Band limits in minutes, ending at the threshold."""
    chosen = settings.walking.isochrone_minutes if bands is None else bands
    return sorted({float(m) for m in chosen if 0 < float(m) < minutes} | {float(minutes)})


def coverage_view(
    store: Store,
    *,
    scenario: str | None = None,
    existing_only: bool = False,
    minutes: float | None = None,
    speed: float | None = None,
    bands: Sequence[float] | None = None,
    bin_m: float = 100.0,
    graph: WalkGraph | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """Walking coverage by one station set, as the dashboard shows it.

    Parameters
    ----------
    store
        The store (buildings, roads, stations).
    scenario, existing_only
        Which stations count (see :func:`planner.coverage.select_stations`): existing
        ones plus the proposed ones of ``scenario`` (default the latest), or existing
        ones only.
    minutes, speed
        The walking threshold (default 15 minutes at 1.1 m/s).
    bands
        Walk bands in minutes (default the isochrone bands, 5, 10 and 15); the threshold
        always closes the last one.
    bin_m
        Width of the walking-distance histogram's bins, metres.
    graph
        A walking graph already built from this store.
    community
        One community (code or name) of a store holding several: its buildings only
        (each where its representative point lies), its grids, and the stations its
        households walk to or that stand in it. None: the whole store.

    Returns
    -------
    dict
        The figures of :func:`planner.coverage.coverage` (``households_covered``,
        ``buildings_uncovered``, ``coverage_share``, ``threshold_m``, ``scenario``…)
        without its per-station and per-grid lists, and:

        - ``key``: the station set (:data:`EXISTING` or the scenario);
        - ``bands``: per band ``label`` (``"0-5"``, ``"5-10"``, ``"10-15"``, ``"beyond"``,
          ``"unreachable"``), ``minutes_to``, ``meters_to``, ``households``, ``buildings``;
        - ``building_band``: ``{"ids": [...], "band": [...]}``, each building's band
          index into ``bands``;
        - ``uncovered``: the buildings beyond the threshold (most households first):
          ``building_id``, ``name``, ``grid_code``, ``households``, ``walk_m`` (None: no
          station reachable), ``lon``, ``lat``;
        - ``histogram``: ``edges`` (metres), ``households`` and ``buildings`` per bin, and
          the walks longer than the last edge under ``over``;
        - ``grids``: per grid households covered and not;
        - ``stations``: the counted stations' table (:func:`planner.report.station_table`)
          with ``lon``, ``lat``;
        - ``community``: the community's code (None: the whole store).
    """
    if scenario is not None and existing_only:
        raise InputError("give `scenario` or `existing_only`, not both", param="scenario")
    code = community_scope(store, community)
    minutes = settings.walking.minutes if minutes is None else float(minutes)
    graph = graph if graph is not None else build_walk_graph(store)
    report = coverage(
        store,
        minutes=minutes,
        speed=speed,
        scenario=scenario,
        existing_only=existing_only,
        graph=graph,
        write=False,
    )
    frame: gpd.GeoDataFrame = report.pop("frame")
    counted = report.pop("stations")
    per_grid = report.pop("grids")
    if code is not None:
        frame, counted, per_grid = _coverage_of(store, code, frame, counted, per_grid, report)
    walk = frame["walk_m"].to_numpy(dtype=float)
    households = frame["households"].fillna(0).to_numpy(dtype=float)
    covered = frame["covered"].to_numpy(dtype=bool)
    limit = float(report["threshold_m"])

    band_minutes = _band_minutes(minutes, bands)
    band_m = np.array([walk_threshold(minutes=m, speed=speed) for m in band_minutes])
    band_m[-1] = limit  # the last band closes exactly where coverage does
    reached = np.isfinite(walk)
    index = np.where(reached, np.searchsorted(band_m, walk, side="left"), len(band_m) + 1)
    index[reached & ~covered] = len(band_m)  # beyond the threshold (not only by rounding)
    index[covered] = np.minimum(index[covered], len(band_m) - 1)
    labels = [f"{a:g}-{b:g}" for a, b in zip([0.0, *band_minutes[:-1]], band_minutes, strict=True)]
    labels += ["beyond", "unreachable"]
    band_rows = []
    for i, label in enumerate(labels):
        inside = index == i
        band_rows.append(
            {
                "label": label,
                "minutes_to": band_minutes[i] if i < len(band_minutes) else None,
                "meters_to": round(float(band_m[i]), 1) if i < len(band_m) else None,
                "households": int(households[inside].sum()),
                "buildings": int(inside.sum()),
            }
        )

    top = max(bin_m, math.ceil(1.5 * limit / bin_m) * bin_m)
    edges = np.arange(0.0, top + bin_m / 2, bin_m)
    in_bins = reached & (walk <= edges[-1])
    which = np.clip(np.searchsorted(edges, walk[in_bins], side="right") - 1, 0, len(edges) - 2)
    hist_hh = np.bincount(which, weights=households[in_bins], minlength=len(edges) - 1)
    hist_b = np.bincount(which, minlength=len(edges) - 1)
    over = reached & ~in_bins

    out = frame[~covered]
    points = representative_points(out.geometry.to_numpy())
    uncovered = pd.DataFrame(
        {
            "building_id": out["building_id"].astype(str).to_numpy(),
            "name": out["name"].to_numpy() if "name" in out else None,
            "grid_code": out["grid_code"].to_numpy() if "grid_code" in out else None,
            "households": out["households"].fillna(0).astype(int).to_numpy(),
            "walk_m": out["walk_m"].round(0).to_numpy(),
            "lon": np.round(shapely.get_x(points), 7),
            "lat": np.round(shapely.get_y(points), 7),
        }
    ).sort_values(["households", "walk_m"], ascending=[False, False], na_position="first")

    stations = store.read("stations")
    ids = {s["station_id"] for s in counted}
    mask = stations["station_id"].astype(str).isin(ids).to_numpy()
    served = {s["station_id"]: s["households_served"] for s in counted}
    chosen = stations[mask].copy()
    chosen["households_served"] = chosen["station_id"].astype(str).map(served).fillna(0)
    table = station_table(chosen, frame)
    if len(table):
        table["lon"] = np.round(chosen.geometry.x.to_numpy(), 7)
        table["lat"] = np.round(chosen.geometry.y.to_numpy(), 7)

    return {
        "key": EXISTING if existing_only else report["scenario"] or EXISTING,
        **report,
        "bands": band_rows,
        "building_band": {
            "ids": frame["building_id"].astype(str).tolist(),
            "band": index.astype(int).tolist(),
        },
        "uncovered": _records(uncovered),
        "histogram": {
            "bin_m": float(bin_m),
            "threshold_m": limit,
            "edges": edges.round(1).tolist(),
            "households": hist_hh.astype(int).tolist(),
            "buildings": hist_b.astype(int).tolist(),
            "over": {
                "households": int(households[over].sum()),
                "buildings": int(over.sum()),
            },
        },
        "grids": per_grid,
        "stations": _records(table),
        "community": code,
    }


def _coverage_of(
    store: Store,
    code: str,
    frame: gpd.GeoDataFrame,
    counted: list[dict[str, Any]],
    per_grid: list[dict[str, Any]],
    report: dict[str, Any],
) -> tuple[gpd.GeoDataFrame, list[dict[str, Any]], list[dict[str, Any]]]:
    """Coverage of one community: its buildings, its grids, the stations serving it or
    standing in it; ``report``'s counts made its own (in place)."""
    communities = store.read("community")
    area = communities.loc[communities["community_code"].astype(str) == code]
    area = shapely.make_valid(shapely.union_all(area.to_crs(frame.crs).geometry.to_numpy()))
    shapely.prepare(area)
    inside = shapely.contains(area, representative_points(frame.geometry.to_numpy()))
    frame = frame[inside]
    households = frame["households"].fillna(0).to_numpy(dtype=float)
    covered = frame["covered"].to_numpy(dtype=bool)
    report.update(
        {
            "households_total": int(households.sum()),
            "households_covered": int(households[covered].sum()),
            "households_uncovered": int(households[~covered].sum()),
            "buildings_total": int(len(frame)),
            "buildings_covered": int(covered.sum()),
            "buildings_uncovered": int((~covered).sum()),
        }
    )
    total = report["households_total"]
    report["coverage_share"] = round(report["households_covered"] / total, 4) if total else None
    stations = store.read("stations")
    stations = stations.to_crs(frame.crs)
    here = shapely.contains(area, representative_points(stations.geometry.to_numpy()))
    serving = set(frame["station_id"].dropna().astype(str)) if "station_id" in frame else set()
    serving |= set(stations.loc[here, "station_id"].astype(str))
    counted = [s for s in counted if str(s["station_id"]) in serving]
    report["stations_counted"] = len(counted)
    mine = of_community(
        store, pd.DataFrame({"grid_code": [g["grid_code"] for g in per_grid]}), code
    )
    per_grid = [g for g, keep in zip(per_grid, mine, strict=True) if keep]
    return frame, counted, per_grid


def _int(value: Any) -> int:
    """A count that may be missing (NaN, None) as an int, missing as 0."""
    return 0 if value is None or pd.isna(value) else int(value)


def _staff(grids: pd.DataFrame) -> int:
    present = [c for c in STAFF_FIELDS if c in grids]
    return int(grids[present].fillna(0).to_numpy().sum()) if present else 0


def headline(
    grids: pd.DataFrame,
    findings: pd.DataFrame,
    cover: dict[str, Any],
) -> dict[str, Any]:
    """The headline figures of a plan with one station set.

    Parameters
    ----------
    grids
        The plan's grids (``grid_code``, ``households`` and the staffing columns): the
        ``grids`` table of :func:`planner.report.report_tables`, or a plan version's.
    findings
        The plan's findings (``flagged`` marks those out of range for a stated reason):
        the ``findings`` table of :func:`planner.report.report_tables`.
    cover
        Coverage by the station set (:func:`coverage_view`).

    Returns
    -------
    dict
        ``stations_counted``, ``households_total``, ``households_covered``,
        ``households_uncovered``, ``coverage_share``, ``buildings_uncovered``, ``grids``,
        ``grids_reached`` (every household within the threshold), ``grids_in_range``
        (households within the grid rule's range), ``findings``, ``findings_open`` (not
        flagged) and ``staff_needed`` (grid leaders, full- and part-time workers and
        building leaders), with ``staff`` by role.
    """
    rules = settings.grid
    households = grids["households"].fillna(0).to_numpy(dtype=float)
    short = {g["grid_code"] for g in cover.get("grids", []) if g["households_uncovered"] > 0}
    codes = grids["grid_code"].astype(str)
    flagged = (
        findings["flagged"].fillna(False).astype(bool).to_numpy()
        if "flagged" in findings
        else np.zeros(len(findings), dtype=bool)
    )
    return {
        **{k: cover.get(k) for k in MEASURES[:6]},
        "grids": int(len(grids)),
        "grids_reached": int((~codes.isin(short)).sum()),
        "grids_in_range": int(
            in_range(households, rules.min_households, rules.max_households).sum()
        ),
        "findings": int(len(findings)),
        "findings_open": int((~flagged).sum()),
        "staff_needed": _staff(grids),
        "staff": {c: int(grids[c].fillna(0).sum()) for c in STAFF_FIELDS if c in grids},
    }


def compare_figures(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Two sets of headline figures side by side: ``measure``, ``a``, ``b``, ``difference``.

    The difference is ``b - a`` (None where either is missing), rounded to 4 places.
    """
    rows = []
    for m in MEASURES:
        x, y = a.get(m), b.get(m)
        diff = None if x is None or y is None else round(y - x, 4)
        rows.append({"measure": m, "a": x, "b": y, "difference": diff})
    return rows


def grid_households_chart(grids: pd.DataFrame) -> dict[str, Any]:
    """Households per grid against the grid rule's range, for a bar chart.

    Returns
    -------
    dict
        ``min`` and ``max`` (the range, 300–500 by default) and ``grids``: ``grid_code``,
        ``households``, ``in_range`` and ``flag``, fewest households first.
    """
    rules = settings.grid
    frame = grids.sort_values(["households", "grid_code"])
    hh = frame["households"].fillna(0).to_numpy(dtype=float)
    ok = in_range(hh, rules.min_households, rules.max_households)
    return {
        "min": rules.min_households,
        "max": rules.max_households,
        "grids": [
            {
                "grid_code": str(code),
                "households": int(h),
                "in_range": bool(k),
                "flag": flag if isinstance(flag, str) and flag.strip() else None,
            }
            for code, h, k, flag in zip(
                frame["grid_code"],
                hh,
                ok,
                frame["flag"] if "flag" in frame else [None] * len(frame),
                strict=True,
            )
        ],
    }


def _check_key(store: Store, key: str | None) -> str | None:
    known = [s["key"] for s in station_sets(store)]
    if key is not None and key not in known:
        msg = f"no station set {key!r}; choose one of {', '.join(known)}"
        raise InputError(msg, param="stations")
    return key


def dashboard(
    store: Store,
    *,
    stations: str | None = None,
    graph: WalkGraph | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """Everything the dashboard page shows at first, for existing stations and one scenario.

    Parameters
    ----------
    store
        The store, with a grid plan.
    stations
        The station set compared with the existing stations: a scenario's name (see
        :func:`station_sets`); default the latest scenario (or existing only when there
        is none).
    graph
        A walking graph already built from this store.
    community
        One community (code or name) of a store holding several: its figures, grids,
        zones and findings alone (see :func:`coverage_view`). None: the whole store.

    Returns
    -------
    dict
        ``name``, ``plan_version``, ``threshold_m``, ``station_sets``, ``selected`` (the
        key of the chosen set), ``coverage`` (key → :func:`coverage_view`), ``headline``
        (``existing``, ``selected`` and ``difference``, see :func:`compare_figures`),
        ``tables`` (``grids`` with each grid's households beyond the threshold under
        both sets, ``zones``, ``findings``), ``charts`` (``grid_households``),
        ``community`` (its code; None: the whole store) and ``communities`` (the
        store's, ``community_code``, ``name`` and ``bbox`` in lon/lat, to choose from).
    """
    _check_key(store, stations)
    code = community_scope(store, community)
    graph = graph if graph is not None else build_walk_graph(store)
    tables = report_tables(store, graph=graph)
    existing = coverage_view(store, existing_only=True, graph=graph, community=code)
    if stations == EXISTING:
        selected = existing
    else:
        selected = coverage_view(store, scenario=stations, graph=graph, community=code)
    key = selected["key"]
    views = {EXISTING: existing, key: selected}
    if code is not None:
        tables = _tables_of(store, code, tables)
    grids = tables["grids"]
    head_a = headline(grids, tables["findings"], existing)
    head_b = headline(grids, tables["findings"], selected)
    beyond = {
        k: {g["grid_code"]: g["households_uncovered"] for g in v["grids"]} for k, v in views.items()
    }
    grid_rows = grids.assign(
        households_beyond_existing=grids["grid_code"].map(beyond[EXISTING]),
        households_beyond_selected=grids["grid_code"].map(beyond[key]),
    )
    return {
        "name": store.name,
        "plan_version": current_version(store),
        "threshold_m": selected["threshold_m"],
        "station_sets": station_sets(store),
        "selected": key,
        "coverage": views,
        "headline": {
            "existing": head_a,
            "selected": head_b,
            "difference": compare_figures(head_a, head_b),
        },
        "tables": {
            "grids": _records(grid_rows),
            "zones": _records(tables["zones"]),
            "findings": _records(tables["findings"]),
        },
        "charts": {"grid_households": grid_households_chart(grids)},
        "community": code,
        "communities": _community_rows(store),
    }


def _community_rows(store: Store) -> list[dict[str, Any]]:
    """The store's communities to choose from: ``community_code``, ``name``, ``bbox``."""
    frame = store.read("community")
    rows = _records(frame[["community_code", "name"]])
    for row, geom in zip(rows, frame.geometry, strict=True):
        empty = geom is None or geom.is_empty
        row["bbox"] = None if empty else [round(float(v), 7) for v in geom.bounds]
    return rows


def _tables_of(store: Store, code: str, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The report's grids, zones and findings of one community.

    A finding belongs to it when it names one of its grids, or, naming none, when its
    point lies in the community.
    """
    out = dict(tables)
    out["grids"] = tables["grids"][of_community(store, tables["grids"], code)]
    zones = tables["zones"]
    out["zones"] = zones[
        of_community(store, zones.rename(columns={"zone_code": "grid_code"}), code)
    ]
    findings = tables["findings"]
    if len(findings):
        named = findings["grids"].fillna("").astype(str).str.split(",")
        mine = set(out["grids"]["grid_code"].astype(str))
        names_mine = named.map(lambda codes: any(c in mine for c in codes)).to_numpy(dtype=bool)
        names_none = named.map(lambda codes: not any(codes)).to_numpy(dtype=bool)
        communities = store.read("community")
        area = communities.loc[communities["community_code"].astype(str) == code]
        area = shapely.make_valid(shapely.union_all(area.geometry.to_numpy()))
        lon = pd.to_numeric(findings["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(findings["lat"], errors="coerce").to_numpy(dtype=float)
        inside = shapely.contains_xy(area, np.nan_to_num(lon), np.nan_to_num(lat))
        out["findings"] = findings[names_mine | (names_none & inside)]
    return out


def communities_view(store: Store) -> dict[str, Any]:
    """The store's communities compared side by side, for the dashboard's table.

    Returns
    -------
    dict
        ``communities``: one row per community with the figures of
        :func:`planner.communities.community_figures` (households, grids, in range,
        boundary on features, coverage, stations, staff...), in the store's order;
        ``totals``: the counts summed over them; ``min`` and ``max``: the grid rule's
        household range the in-range counts use.
    """
    frame = community_figures(store)
    counts = [
        "buildings",
        "households",
        "grids",
        "in_range",
        "flagged",
        "zones",
        "households_covered",
        "stations",
        "staff",
        "staff_listed",
    ]
    totals = {c: int(frame[c].sum()) for c in counts}
    totals["coverage_share"] = (
        round(totals["households_covered"] / totals["households"], 4)
        if totals["households"]
        else None
    )
    totals["in_range_share"] = (
        round(totals["in_range"] / totals["grids"], 4) if totals["grids"] else None
    )
    return {
        "communities": figures_report(frame),
        "totals": totals,
        "min": settings.grid.min_households,
        "max": settings.grid.max_households,
    }


def _plan_figures(
    grids: gpd.GeoDataFrame, covered: pd.DataFrame, metric_crs: Any
) -> tuple[dict[str, Any], pd.Series]:
    """A plan version's figures, and its households beyond the threshold per grid.

    ``covered`` holds the buildings' ``households`` and ``covered`` and their
    representative points (metric), each counted in the grid that holds its point.
    """
    rules = settings.grid
    hh = grids["households"].fillna(0).to_numpy(dtype=float)
    geoms = grids.to_crs(metric_crs).geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    b_idx, g_idx = tree.query(covered["point"].to_numpy(), predicate="intersects")
    _, first = np.unique(b_idx, return_index=True)
    b_idx, g_idx = b_idx[first], g_idx[first]
    beyond_hh = np.where(
        covered["covered"].to_numpy(dtype=bool)[b_idx], 0, covered["households"].to_numpy()[b_idx]
    )
    per_grid = np.bincount(g_idx, weights=beyond_hh, minlength=len(grids))
    inside = np.zeros(len(covered), dtype=bool)
    inside[b_idx] = True
    cov = covered["covered"].to_numpy(dtype=bool)
    households = covered["households"].to_numpy(dtype=float)
    figures = {
        "grids": int(len(grids)),
        "households": int(hh.sum()),
        "grids_in_range": int(in_range(hh, rules.min_households, rules.max_households).sum()),
        "grids_reached": int((per_grid == 0).sum()),
        "households_covered": int(households[inside & cov].sum()),
        "households_uncovered": int(households[inside & ~cov].sum()),
        "staff_needed": _staff(grids),
        "staff": {c: int(grids[c].fillna(0).sum()) for c in STAFF_FIELDS if c in grids},
    }
    return figures, pd.Series(per_grid, index=grids["grid_code"].astype(str).to_numpy())


def compare_plans(
    store: Store,
    old: int | None = None,
    new: int | None = None,
    *,
    cover: dict[str, Any] | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """Compare two plan versions: grids changed, households moved, coverage and staff.

    Parameters
    ----------
    store
        The store, with plan versions.
    old, new
        Plan versions (see :func:`planner.plan_versions.list_versions`); None: the
        current version (``old`` defaults to the one before the current).
    cover
        Coverage by the station set to count with (:func:`coverage_view`); None: the
        buildings' stored coverage (the last ``planner coverage``).
    community
        One community (code or name) of a store holding several: its grids alone.

    Returns
    -------
    dict
        What :func:`planner.plan_versions.diff_versions` gives (``added``, ``removed``,
        ``reshaped``, ``households_changed``, ``households_moved``, ``kept``) and
        ``before``/``after`` (each: ``grids``, ``households``, ``grids_in_range``,
        ``grids_reached``, ``households_covered``, ``households_uncovered``,
        ``staff_needed``, ``staff``), ``difference`` (measure, a, b, difference) and
        ``changes``: per changed grid its ``status`` (added, removed, reshaped,
        households), households, staff and households beyond the threshold before and
        after, and ``bbox`` (lon/lat) to zoom to.
    """
    now = current_version(store)
    new = now if new is None else int(new)
    if old is None:
        versions = store.read("plan_versions")["plan_version"].astype(int)
        earlier = versions[versions < new]
        old = int(earlier.max()) if len(earlier) else new
    diff = diff_versions(store, old, new, community=community)
    grids_a = plan_at(store, old, community=community)["grids"]
    grids_b = plan_at(store, new, community=community)["grids"]
    buildings = store.read_metric("buildings")
    if cover is not None:
        flag = dict(zip(cover["building_band"]["ids"], cover["building_band"]["band"], strict=True))
        limit_band = sum(1 for b in cover["bands"] if b["minutes_to"] is not None)
        covered = buildings["building_id"].astype(str).map(flag).fillna(limit_band) < limit_band
    else:
        covered = buildings["covered"].fillna(False).astype(bool)
    points = pd.DataFrame(
        {
            "point": representative_points(buildings.geometry.to_numpy()),
            "households": buildings["households"].fillna(0).to_numpy(dtype=float),
            "covered": covered.to_numpy(dtype=bool),
        }
    )
    metric = store.metric_crs
    before, beyond_a = _plan_figures(grids_a, points, metric)
    after, beyond_b = _plan_figures(grids_b, points, metric)
    a = grids_a.set_index(grids_a["grid_code"].astype(str))
    b = grids_b.set_index(grids_b["grid_code"].astype(str))
    status: dict[str, str] = {}
    for code in diff["households_changed"]:
        status[code["grid_code"]] = "households"
    status |= dict.fromkeys(diff["reshaped"], "reshaped")
    status |= dict.fromkeys(diff["added"], "added")
    status |= dict.fromkeys(diff["removed"], "removed")
    changes = []
    for code in sorted(status):
        row_a = a.loc[code] if code in a.index else None
        row_b = b.loc[code] if code in b.index else None
        shape = (row_b if row_b is not None else row_a).geometry
        changes.append(
            {
                "grid_code": code,
                "status": status[code],
                "households_before": None if row_a is None else _int(row_a["households"]),
                "households_after": None if row_b is None else _int(row_b["households"]),
                "staff_before": None if row_a is None else _staff(a.loc[[code]]),
                "staff_after": None if row_b is None else _staff(b.loc[[code]]),
                "beyond_before": None if row_a is None else int(beyond_a[code]),
                "beyond_after": None if row_b is None else int(beyond_b[code]),
                "bbox": [round(float(v), 7) for v in shape.bounds],
            }
        )
    rows = []
    for m in (
        "grids",
        "households",
        "grids_in_range",
        "grids_reached",
        "households_covered",
        "households_uncovered",
        "staff_needed",
    ):
        rows.append(
            {"measure": m, "a": before[m], "b": after[m], "difference": after[m] - before[m]}
        )
    return {
        **diff,
        "current": now,
        "before": before,
        "after": after,
        "difference": rows,
        "changes": changes,
    }


def mclp_curve(
    store: Store,
    *,
    max_new: int | None = None,
    minutes: float | None = None,
    graph: WalkGraph | None = None,
    time_limit: float | None = 30.0,
) -> dict[str, Any]:
    """Households covered by the best placement of 0, 1, 2… new stations (MCLP).

    Each point is a maximal covering model (:class:`planner.siting.MCLP`) solved with
    the existing stations fixed open and ``p`` new ones chosen among the candidate
    sites, as ``planner sites --model mclp --p P`` would (nothing written). The curve
    stops at ``max_new`` or once every household a site can reach is covered; where
    it flattens, another station stops paying off.

    Parameters
    ----------
    store
        The store (buildings, roads, stations, candidate sites).
    max_new
        The most new stations tried (default: until everyone reachable is covered, at
        most 20).
    minutes
        The walking threshold (default 15 minutes).
    graph
        A walking graph already built from this store.
    time_limit
        Seconds for each solve.

    Returns
    -------
    dict
        ``households_total``, ``households_coverable`` (a site can reach them),
        ``threshold_m`` and ``points``: ``new_stations``, ``households_covered``,
        ``coverage_share``, ``optimal``, ``chosen`` (site ids).
    """
    if max_new is not None and max_new < 0:
        raise InputError(f"`max_new` must be 0 or more, got {max_new}", param="max_new")
    graph = graph if graph is not None else build_walk_graph(store)
    top = 20 if max_new is None else int(max_new)
    points = []
    total = coverable = 0
    threshold = walk_threshold(minutes=minutes)
    for p in range(top + 1):
        r = site_stations(
            store,
            model="mclp",
            p=p,
            minutes=minutes,
            graph=graph,
            write=False,
            time_limit=time_limit,
        )
        total = r["households_total"]
        coverable = r["households_demand"] - r["households_uncoverable"]
        points.append(
            {
                "new_stations": p,
                "households_covered": r["households_covered"],
                "coverage_share": round(r["households_covered"] / total, 4) if total else None,
                "optimal": r["optimal"],
                "chosen": r["chosen"],
            }
        )
        if max_new is None and r["households_covered"] >= coverable:
            break
    return {
        "households_total": total,
        "households_coverable": coverable,
        "threshold_m": round(threshold, 2),
        "points": points,
    }
