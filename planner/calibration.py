"""Calibrate the household estimate on the community's own roster, and say how well it does.

Where a roster counts part of a community, the rostered buildings show how many
households its buildings of each class really hold. The dwelling area (m² of
residential floor per household) is fitted per building class — use (home, mixed
use, 平房) by height band (低层 1-3, 多层 4-6, 中高层 7-9, 高层 10+) — on the rostered
buildings and used for the rest. Whether that beats the default constants is
measured, not assumed: k-fold cross-validation on the rostered buildings gives the
fit's error and the defaults' error on the same folds, and the fit is applied only
when its error is the lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import settings as planner_settings

if TYPE_CHECKING:
    from planner.settings import EstimateSettings

__all__ = [
    "HEIGHT_BANDS",
    "Calibration",
    "building_classes",
    "calibrate",
    "cross_validate",
    "fit_dwelling_areas",
]

#: Height bands of the building classes: name → (lowest, highest) storeys (GB 50352).
HEIGHT_BANDS: dict[str, tuple[float, float]] = {
    "low": (0.0, 3.0),
    "multi": (4.0, 6.0),
    "mid": (7.0, 9.0),
    "high": (10.0, np.inf),
}


def building_classes(buildings: pd.DataFrame) -> pd.Series:
    """Each building's class for the estimate: ``use:band``, e.g. ``residential:high``.

    The use is ``house`` (平房), ``residential`` (the evidence says a home) or
    ``mixed`` (mixed or unknown use); buildings with no residential share have no
    class (None): no density applies to them.

    Parameters
    ----------
    buildings
        With ``category``, ``likely_use``, ``residential_share`` and ``levels``.

    Returns
    -------
    pandas.Series
        Class names (object), indexed like ``buildings``.
    """
    levels = pd.to_numeric(buildings["levels"], errors="coerce").fillna(1.0).round()
    band = pd.Series("high", index=buildings.index, dtype=object)
    for name, (low, high) in reversed(HEIGHT_BANDS.items()):
        band[(levels >= low) & (levels <= high)] = name
    use = pd.Series("mixed", index=buildings.index, dtype=object)
    use[buildings["likely_use"] == "residential"] = "residential"
    use[buildings["category"] == "house"] = "house"
    share = pd.to_numeric(buildings["residential_share"], errors="coerce").fillna(0.0)
    return (use + ":" + band).where(share > 0, None)


def fit_dwelling_areas(
    floor: np.ndarray,
    households: np.ndarray,
    classes: np.ndarray,
    *,
    default_area: float,
    prior_buildings: float,
) -> dict[str, float]:
    """Fit the dwelling area of each class: residential floor ÷ households, shrunk to the default.

    ``area = (ΣF + m·F̄) / (ΣH + m·F̄ / default)``: the ratio of the class's floor to
    its households, with ``m`` pseudo-buildings of the class's mean floor ``F̄`` at the
    default area, so a class seen in two buildings moves only part of the way.

    Parameters
    ----------
    floor
        Residential floor area of each building (footprint × levels × share), m².
    households
        Its counted households.
    classes
        Its class (:func:`building_classes`).
    default_area
        The default dwelling area, m².
    prior_buildings
        ``m`` above.

    Returns
    -------
    dict of str to float
        Dwelling area (m²) by class seen.
    """
    frame = pd.DataFrame({"floor": floor, "households": households, "cls": classes})
    sums = frame.groupby("cls").agg(
        floor=("floor", "sum"), households=("households", "sum"), n=("floor", "size")
    )
    mean_floor = sums["floor"] / sums["n"]
    area = (sums["floor"] + prior_buildings * mean_floor) / (
        sums["households"] + prior_buildings * mean_floor / default_area
    )
    return {str(k): float(v) for k, v in area.items() if np.isfinite(v) and v > 0}


def _predict(floor: np.ndarray, classes: np.ndarray, areas: dict[str, float], default: float):
    area = np.array([areas.get(c, default) for c in classes], dtype=float)
    return np.floor(floor / area + 0.5)


def _errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    total = float(truth.sum())
    return {
        "mae": round(float(np.abs(predicted - truth).mean()), 2),
        "total_error_pct": round(100 * abs(float(predicted.sum()) - total) / total, 2)
        if total
        else 0.0,
    }


def cross_validate(
    floor: np.ndarray,
    households: np.ndarray,
    classes: np.ndarray,
    *,
    folds: int,
    default_area: float,
    prior_buildings: float,
    seed: int = 0,
) -> dict[str, Any]:
    """k-fold cross-validated error of the fit, and of the default on the same folds.

    Buildings are dealt into ``folds`` folds in a shuffled order fixed by ``seed``; each
    fold is predicted by a fit on the others. Errors are the mean absolute error in
    households per building (``mae``) and the error of the total as a percentage of
    the counted total (``total_error_pct``), over all held-out predictions.

    Returns
    -------
    dict
        ``folds``, ``buildings``, ``calibrated`` and ``defaults`` (each ``mae``,
        ``total_error_pct``).
    """
    n = len(floor)
    folds = max(2, min(folds, n))
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=int)
    fold[order] = np.arange(n) % folds
    fitted = np.zeros(n)
    for k in range(folds):
        test = fold == k
        areas = fit_dwelling_areas(
            floor[~test],
            households[~test],
            classes[~test],
            default_area=default_area,
            prior_buildings=prior_buildings,
        )
        fitted[test] = _predict(floor[test], classes[test], areas, default_area)
    default = np.floor(floor / default_area + 0.5)
    return {
        "folds": int(folds),
        "buildings": int(n),
        "calibrated": _errors(fitted, households),
        "defaults": _errors(default, households),
    }


@dataclass
class Calibration:
    """A fit of dwelling areas by class on a roster, and its cross-validated error.

    Attributes
    ----------
    applied
        The fit is used for the estimate (enough rostered buildings, and its
        cross-validated error is below the defaults').
    reason
        Why it is or is not applied.
    dwelling_areas
        Fitted dwelling area (m²) by class (the estimate's input when applied).
    classes
        Per class: buildings, households counted, the fitted dwelling area.
    cross_validation
        As :func:`cross_validate` returns it (empty without enough buildings).
    """

    applied: bool
    reason: str
    dwelling_areas: dict[str, float] = field(default_factory=dict)
    classes: list[dict[str, Any]] = field(default_factory=list)
    cross_validation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The calibration as ``planner households --json`` reports it."""
        return {
            "applied": self.applied,
            "reason": self.reason,
            "classes": self.classes,
            "cross_validation": self.cross_validation,
        }


def calibrate(
    buildings: pd.DataFrame, *, settings: EstimateSettings | None = None, seed: int = 0
) -> Calibration:
    """Fit dwelling areas by class on the rostered buildings; cross-validate against the defaults.

    Parameters
    ----------
    buildings
        Buildings as :func:`planner.households.estimate_households` returns them
        (``footprint_m2``, ``levels``, ``residential_share``, ``likely_use``,
        ``category``, ``households``, ``households_source``).
    settings
        Estimate settings (default area, folds, minimum buildings, shrinkage).
    seed
        Seed of the folds' shuffle.

    Returns
    -------
    Calibration
    """
    settings = settings or planner_settings.settings.estimate
    classes = building_classes(buildings)
    share = pd.to_numeric(buildings["residential_share"], errors="coerce").fillna(0.0)
    floor = (buildings["footprint_m2"] * buildings["levels"] * share).to_numpy(dtype=float)
    rostered = (
        (buildings["households_source"] == "roster").to_numpy()
        & classes.notna().to_numpy()
        & (floor > 0)
    )
    n = int(rostered.sum())
    if n < settings.calibration_min_buildings:
        return Calibration(
            False,
            f"{n} rostered buildings with a residential share, fewer than "
            f"{settings.calibration_min_buildings} (calibration_min_buildings)",
        )
    households = pd.to_numeric(buildings["households"], errors="coerce").fillna(0)
    truth = households.to_numpy(dtype=float)[rostered]
    cls = classes.to_numpy(object)[rostered]
    kwargs = {
        "default_area": settings.dwelling_area_m2,
        "prior_buildings": settings.calibration_prior_buildings,
    }
    areas = fit_dwelling_areas(floor[rostered], truth, cls, **kwargs)
    cv = cross_validate(
        floor[rostered], truth, cls, folds=settings.calibration_folds, seed=seed, **kwargs
    )
    counts = pd.Series(cls).value_counts()
    sums = pd.Series(truth).groupby(cls).sum()
    table = [
        {
            "class": name,
            "buildings": int(counts[name]),
            "households": int(sums[name]),
            "dwelling_area_m2": round(areas[name], 1),
            "default_m2": settings.dwelling_area_m2,
        }
        for name in sorted(areas)
    ]
    better = cv["calibrated"]["mae"] < cv["defaults"]["mae"]
    reason = (
        "cross-validated error below the defaults'"
        if better
        else "cross-validated error not below the defaults': defaults kept"
    )
    return Calibration(better, reason, areas, table, cv)
