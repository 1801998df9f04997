"""Plausibility warnings on household figures: rosters and estimates a planner should look at.

These are warnings, not plan defects: they never change a figure (a roster's count
still wins over the estimate) and never count as topology findings. Four kinds:

- ``roster_non_residential``: a roster gives households to a building whose evidence
  says hospital, school, office, mall...;
- ``density_outlier``: a counted building's households per floor area lie far outside
  the community's own distribution;
- ``roster_no_size``: a roster counts households in a building with no floor area
  (no levels, or a footprint below the smallest that holds a home);
- ``estimate_above_ceiling``: an estimate above the per-building ceiling.

A planner dismisses a warning with a reason; the dismissal is kept while the
building's households stay what they were when it was dismissed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner import settings as planner_settings
from planner.building_use import _USE_ZH
from planner.crs import STORAGE_CRS
from planner.errors import InputError

if TYPE_CHECKING:
    from planner.settings import EstimateSettings
    from planner.store import Store

__all__ = [
    "check_households",
    "dismiss_warning",
    "warning_counts",
]

_DISMISSAL = ("dismissed", "dismiss_reason", "dismissed_by", "dismissed_at")
_COUNTED = ("roster", "manual")
# Smallest robust spread of log(households per floor area) the outlier check assumes.
_MIN_LOG_SPREAD = 0.25


def check_households(
    buildings: gpd.GeoDataFrame,
    *,
    settings: EstimateSettings | None = None,
    previous: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Check every building's household figure; return the warnings layer.

    Parameters
    ----------
    buildings
        Buildings as :func:`planner.households.estimate_households` leaves them (with
        ``likely_use``, ``residential_share``, ``footprint_m2``, ``levels``).
    settings
        Estimate settings (``household_ceiling``, ``density_outlier_z``,
        ``min_footprint_m2``).
    previous
        The warnings layer as stored: dismissals of warnings that still hold, on a
        building whose households have not changed, are kept.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``household_warnings`` layer (a point on each building).
    """
    settings = settings or planner_settings.settings.estimate
    b = buildings
    households = pd.to_numeric(b["households"], errors="coerce").fillna(0).astype(int)
    source = b["households_source"].astype(object)
    counted = source.isin(_COUNTED)
    floor = (b["footprint_m2"].astype(float) * b["levels"].astype(float)).fillna(0.0)
    rows: list[dict[str, Any]] = []

    def add(mask: pd.Series, kind: str, value: pd.Series, limit: float | pd.Series, text) -> None:
        for i in b.index[mask.to_numpy()]:
            lim = float(limit[i]) if isinstance(limit, pd.Series) else float(limit)
            rows.append(
                {
                    "warning_id": f"{kind}:{b.at[i, 'building_id']}",
                    "kind": kind,
                    "building_id": b.at[i, "building_id"],
                    "name": b.at[i, "name"],
                    "households": int(households[i]),
                    "households_source": source[i],
                    "value": round(float(value[i]), 2),
                    "limit": round(lim, 2),
                    "detail": text(i),
                    "_row": i,
                }
            )

    other_use = pd.to_numeric(b["residential_share"], errors="coerce").fillna(0.0) <= 0
    add(
        counted & (households > 0) & other_use & (b["likely_use"] != "unknown"),
        "roster_non_residential",
        households,
        0.0,
        lambda i: (
            f"台账 {households[i]} 户，但用途证据为{_USE_ZH.get(b.at[i, 'likely_use'], '非住宅')}"
            f"（{b.at[i, 'share_evidence']}）；台账数照用，请核实"
        ),
    )
    no_size = (b["footprint_m2"].fillna(0) < settings.min_footprint_m2) | ~(
        b["levels"].fillna(0) > 0
    )
    add(
        counted & (households > 0) & no_size,
        "roster_no_size",
        b["footprint_m2"].fillna(0.0),
        settings.min_footprint_m2,
        lambda i: (
            f"台账 {households[i]} 户，但楼栋占地 {b.at[i, 'footprint_m2']:.0f}㎡、"
            f"{b.at[i, 'levels']:g} 层，无法容纳住户"
        ),
    )
    per100 = pd.Series(np.nan, index=b.index)
    sized = floor > 0
    per100[sized] = 100 * households[sized] / floor[sized]
    judged = counted & sized & (households > 0) & ~no_size
    if judged.sum() >= settings.calibration_min_buildings:
        logs = np.log(per100[judged])
        median = float(logs.median())
        # A floor on the spread: a roster drawn from one formula (or copied from the
        # estimate) has almost none, and a 30 % difference is no reason to warn.
        spread = max(1.4826 * float((logs - median).abs().median()), _MIN_LOG_SPREAD)
        if spread > 0:
            z = settings.density_outlier_z
            low, high = np.exp(median - z * spread), np.exp(median + z * spread)
            outside = judged & ((per100 < low) | (per100 > high))
            add(
                outside,
                "density_outlier",
                per100,
                pd.Series(np.where(per100 > high, high, low), index=b.index),
                lambda i: (
                    f"每百平方米建筑面积 {per100[i]:.2f} 户，社区通常为 "
                    f"{low:.2f}–{high:.2f} 户（中位数 {np.exp(median):.2f}）"
                ),
            )
    ceiling = settings.household_ceiling
    add(
        (source == "estimated") & (households > ceiling),
        "estimate_above_ceiling",
        households,
        float(ceiling),
        lambda i: (
            f"估算 {households[i]} 户，超过单栋上限 {ceiling} 户"
            f"（{b.at[i, 'footprint_m2']:.0f}㎡ × {b.at[i, 'levels']:g} 层 × "
            f"住宅比例 {b.at[i, 'residential_share']:.2f}）；请用台账或手工核实"
        ),
    )
    frame = pd.DataFrame(rows, columns=[*schema.LAYERS["household_warnings"].field_names, "_row"])
    geometry = shapely.point_on_surface(b.geometry.to_numpy()[b.index.get_indexer(frame["_row"])])
    out = gpd.GeoDataFrame(frame.drop(columns="_row"), geometry=geometry, crs=STORAGE_CRS)
    out = schema.conform("household_warnings", out)
    if previous is None or not len(previous) or out.empty:
        return out
    kept = previous[previous["dismissed"].astype(bool)].drop_duplicates("warning_id")
    kept = kept.set_index("warning_id")
    # A dismissal holds for the figure it was given on: a new figure is a new question.
    before = out["warning_id"].map(kept["households"])
    carry = before.notna() & (before == out["households"])
    if carry.any():
        ids = out.loc[carry, "warning_id"]
        for column in _DISMISSAL:
            out[column] = out[column].astype(object)
            out.loc[carry, column] = kept.loc[ids, column].to_numpy()
        out = schema.conform("household_warnings", out)
    return out


def warning_counts(warnings: pd.DataFrame) -> dict[str, Any]:
    """Open and dismissed warnings by kind, for reports."""
    dismissed = warnings["dismissed"].astype(bool)
    return {
        "open": {k: int(((warnings["kind"] == k) & ~dismissed).sum()) for k in _KINDS},
        "dismissed": int(dismissed.sum()),
        "total": len(warnings),
    }


_KINDS = schema.HOUSEHOLD_WARNING_KINDS


def dismiss_warning(
    store: Store, warning_id: str, *, reason: str, user: str = ""
) -> dict[str, Any]:
    """Dismiss a household warning with a reason (kept while the building's households stay).

    Parameters
    ----------
    store
        The store.
    warning_id
        The warning's ``warning_id`` (``kind:building_id``).
    reason
        Why the figure is right after all; required.
    user
        Who dismisses it.

    Returns
    -------
    dict
        The dismissed warning's fields.
    """
    if not reason or not reason.strip():
        raise InputError("`reason` is required to dismiss a warning", param="reason")
    warnings = store.read("household_warnings")
    hit = warnings["warning_id"] == warning_id
    if not hit.any():
        known = ", ".join(warnings["warning_id"].head(5))
        msg = f"no household warning {warning_id!r}" + (f"; e.g. {known}" if known else "")
        raise InputError(msg, param="warning_id")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    warnings.loc[hit, "dismissed"] = True
    warnings.loc[hit, "dismiss_reason"] = reason.strip()
    warnings.loc[hit, "dismissed_by"] = user or None
    warnings.loc[hit, "dismissed_at"] = now
    log = [
        {
            "layer": "household_warnings",
            "action": "dismiss",
            "detail": {"warning_id": warning_id},
            "reason": reason.strip(),
            "user": user,
        }
    ]
    store.write("household_warnings", warnings, log=log)
    row = warnings[hit].iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.drop("geometry").items()}
