"""四维测评 (four-dimension assessment) of grids and the staff each grid needs.

The four dimensions: area (面积), population density (人口密度), special groups
(特殊群体: elderly living alone, disabled, children left behind) and places
(场所: shops and public buildings). Staffing follows the field rules: one
party-member grid leader and one full-time grid worker per grid, an extra
part-time worker where a grid has more than 400 households, a large area or
many special groups, and one building leader (楼长) for about every five
residential buildings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.progress import Progress, no_progress
from planner.settings import settings

__all__ = [
    "ASSESS_FIELDS",
    "PLACE_CATEGORIES",
    "RESIDENTIAL_CATEGORIES",
    "SPECIAL_FIELDS",
    "assess",
    "assess_store",
    "assessment_report",
    "assessment_table",
]

if TYPE_CHECKING:
    from planner.store import Store

#: Building categories counted as places (场所) and as residential buildings.
PLACE_CATEGORIES = ("shop", "public")
RESIDENTIAL_CATEGORIES = ("residential", "mixed", "house")
SPECIAL_FIELDS = ("elderly_alone", "disabled", "left_behind_children")

#: The columns :func:`assess` fills.
ASSESS_FIELDS = (
    "households",
    "residents",
    "buildings",
    "area_m2",
    "density",
    *SPECIAL_FIELDS,
    "special_groups",
    "places",
    "grid_leaders",
    "fulltime_workers",
    "parttime_workers",
    "building_leaders",
)


def assess(
    grids: gpd.GeoDataFrame,
    buildings: pd.DataFrame,
    *,
    parttime_households: int | None = None,
    parttime_area_m2: float | None = None,
    parttime_special_groups: int | None = None,
    buildings_per_leader: int | None = None,
) -> gpd.GeoDataFrame:
    """Fill the 四维测评 figures and staff counts of each grid.

    Parameters
    ----------
    grids
        Grids with ``grid_code``, in a metric CRS (areas are measured in it).
    buildings
        Buildings with ``grid_code``, ``category``, ``households``,
        ``residents`` and the special-group counts.
    parttime_households, parttime_area_m2, parttime_special_groups
        A grid above any of these gets one extra part-time grid worker (兼职网格员).
    buildings_per_leader
        Residential buildings per building leader (楼长), rounded up.

    Returns
    -------
    geopandas.GeoDataFrame
        ``grids`` with :data:`ASSESS_FIELDS` filled.
    """
    rules = settings.grid
    if parttime_households is None:
        parttime_households = rules.parttime_households
    if parttime_area_m2 is None:
        parttime_area_m2 = rules.parttime_area_m2
    if parttime_special_groups is None:
        parttime_special_groups = rules.parttime_special_groups
    if buildings_per_leader is None:
        buildings_per_leader = rules.buildings_per_leader
    if grids.crs is not None and not grids.crs.is_projected:
        msg = "assess needs grids in a metric CRS (areas in m²)"
        raise ValueError(msg)
    if buildings_per_leader <= 0:
        raise PlannerError(
            f"buildings per building leader must be positive, got {buildings_per_leader}"
        )
    out = grids.copy()
    b = buildings.copy()
    for f in ("households", "residents", *SPECIAL_FIELDS):
        b[f] = pd.to_numeric(b[f], errors="coerce").fillna(0)
    b["one"] = 1
    b["place"] = b["category"].isin(PLACE_CATEGORIES).astype(int)
    b["residential"] = (b["category"].isin(RESIDENTIAL_CATEGORIES) & (b["households"] > 0)).astype(
        int
    )
    sums = b.groupby("grid_code")[
        ["households", "residents", *SPECIAL_FIELDS, "one", "place", "residential"]
    ].sum()
    sums = sums.reindex(out["grid_code"]).fillna(0)
    out["households"] = sums["households"].to_numpy().astype(np.int64)
    out["residents"] = sums["residents"].to_numpy().astype(np.int64)
    out["buildings"] = sums["one"].to_numpy().astype(np.int64)
    out["area_m2"] = out.geometry.area.to_numpy()
    hectares = out["area_m2"] / 10_000
    out["density"] = np.where(hectares > 0, out["residents"] / hectares.where(hectares > 0, 1), 0.0)
    for f in SPECIAL_FIELDS:
        out[f] = sums[f].to_numpy().astype(np.int64)
    out["special_groups"] = out[list(SPECIAL_FIELDS)].sum(axis=1).astype(np.int64)
    out["places"] = sums["place"].to_numpy().astype(np.int64)
    out["grid_leaders"] = 1
    out["fulltime_workers"] = 1
    extra = (
        (out["households"] > parttime_households)
        | (out["area_m2"] > parttime_area_m2)
        | (out["special_groups"] > parttime_special_groups)
    )
    out["parttime_workers"] = extra.astype(np.int64)
    residential = sums["residential"].to_numpy()
    out["building_leaders"] = np.ceil(residential / buildings_per_leader).astype(np.int64)
    return out


def assessment_table(grids: pd.DataFrame) -> list[dict[str, Any]]:
    """The per-grid table (JSON-able rows) of assessed grids."""
    rows = []
    for _, g in grids.iterrows():
        row: dict[str, Any] = {"grid_code": g["grid_code"], "name": g.get("name")}
        for f in ASSESS_FIELDS:
            value = g[f]
            row[f] = round(float(value), 1) if f in ("area_m2", "density") else int(value)
        row["staff"] = int(g["grid_leaders"] + g["fulltime_workers"] + g["parttime_workers"])
        rows.append(row)
    return rows


def assess_store(store: Store, *, progress: Progress = no_progress) -> dict[str, Any]:
    """Assess the current grids of ``store`` and write the figures to the ``grids`` layer.

    The thresholds are the grid rules of :mod:`planner.settings`.

    Returns
    -------
    dict
        ``grids`` (the per-grid table) and ``totals`` (staff and figures summed).
    """
    grids = store.read("grids")
    if grids.empty:
        msg = "the store has no grids yet; run `planner grids STORE` first"
        raise PlannerError(msg, source=str(store.path))
    # Imported here: the commit path itself assesses grids with this module.
    from planner.plan_commit import commit_plan, current_rows

    buildings = store.read("buildings")
    progress("assess grids")
    assessed = assess(grids[current_rows(grids)].to_crs(store.metric_crs), buildings)
    report = assessment_report(assessed)
    commit_plan(
        store,
        grids,
        buildings=buildings,
        log=[
            {
                "layer": "grids",
                "action": "assess",
                "detail": report["totals"],
                "reason": "planner assess",
            }
        ],
        progress=progress,
    )
    return report


def assessment_report(assessed: pd.DataFrame) -> dict[str, Any]:
    """Per-grid table and totals of assessed grids."""
    table = assessment_table(assessed)
    keys = (
        "households",
        "residents",
        "buildings",
        "special_groups",
        "places",
        "grid_leaders",
        "fulltime_workers",
        "parttime_workers",
        "building_leaders",
    )
    totals = {k: int(sum(r[k] for r in table)) for k in keys}
    totals["staff"] = (
        totals["grid_leaders"] + totals["fulltime_workers"] + totals["parttime_workers"]
    )
    totals["grids"] = len(table)
    return {"grids": table, "totals": totals}
