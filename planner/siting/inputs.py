"""Inputs of the siting models: cost and coverage matrices read into pairs, checked vectors.

Every model is built on the *pairs* a matrix holds: the (demand, site) pairs a site can
serve, with their cost. Dense matrices mark unreachable pairs with ``np.inf``; sparse
ones hold only reachable pairs, a stored ``0.0`` included (see :mod:`planner.siting`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from planner.arrays import smallest_per_pair

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Inputs",
    "Pairs",
    "check_budget",
    "check_capacity",
    "check_count",
    "check_fixed",
    "check_inputs",
    "check_radius",
    "check_vector",
    "check_weights",
    "coverage_pairs",
    "reachable_pairs",
]


@dataclass(frozen=True, eq=False)
class Pairs:
    """The (demand, site) pairs of a model, sorted by demand then site, each pair once.

    Attributes
    ----------
    shape
        ``(demand points, sites)`` of the matrix they were read from.
    rows, cols
        Demand index and site index of each pair.
    cost
        The cost of each pair (walking metres), or None when read from a coverage matrix.
    """

    shape: tuple[int, int]
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]
    cost: NDArray[np.float64] | None


@dataclass(frozen=True, eq=False)
class Inputs:
    """The checked inputs every model has besides its pairs.

    Attributes
    ----------
    weights
        Weight of each demand point (households).
    site_costs
        Opening cost of each site.
    fixed
        Mask of the fixed (already open) sites.
    capacity
        Households each site can serve (``np.inf``: no limit), or None: uncapacitated.
    reduce
        Reduce the model before solving.
    """

    weights: NDArray[np.float64]
    site_costs: NDArray[np.float64]
    fixed: NDArray[np.bool_]
    capacity: NDArray[np.float64] | None
    reduce: bool


def check_inputs(
    shape: tuple[int, int],
    *,
    weights: ArrayLike | None,
    site_costs: ArrayLike | None,
    fixed_sites: ArrayLike | None,
    capacity: float | ArrayLike | None,
    reduce: bool,
    default_cost: float,
) -> Inputs:
    """Check the inputs against a ``(demand, sites)`` shape, in this order.

    ``default_cost`` is each site's opening cost when ``site_costs`` is None.
    """
    n, m = shape
    return Inputs(
        weights=check_weights(weights, n),
        site_costs=check_vector(site_costs, m, "site_costs", default=default_cost),
        fixed=check_fixed(fixed_sites, m),
        capacity=check_capacity(capacity, m),
        reduce=bool(reduce),
    )


def check_radius(service_radius: float) -> float:
    """The service radius as a float, finite and >= 0."""
    try:
        radius = float(service_radius)
    except (TypeError, ValueError):
        msg = f"service_radius must be a number, got {service_radius!r}"
        raise ValueError(msg) from None
    if not np.isfinite(radius) or radius < 0:
        msg = f"service_radius must be finite and >= 0, got {service_radius!r}"
        raise ValueError(msg)
    return radius


def reachable_pairs(cost_matrix: Any, service_radius: float | None) -> Pairs:
    """The reachable pairs of a demand-by-site cost matrix, with their costs.

    A pair is reachable if its cost is finite and, when a radius is given, at most the
    radius. For sparse input only the explicitly stored entries are candidates (a stored
    0.0 is reachable).
    """
    if sp.issparse(cost_matrix):
        if cost_matrix.ndim != 2:
            msg = f"cost_matrix must be 2-dimensional, got shape {cost_matrix.shape}"
            raise ValueError(msg)
        # COO keeps explicit zeros, which are reachable pairs at distance 0
        coo = sp.coo_array(cost_matrix)
        rows = np.asarray(coo.row, dtype=np.int64)
        cols = np.asarray(coo.col, dtype=np.int64)
        vals = np.asarray(coo.data, dtype=np.float64)
        shape = (int(coo.shape[0]), int(coo.shape[1]))
    else:
        arr = np.asarray(cost_matrix, dtype=np.float64)
        if arr.ndim != 2:
            msg = f"cost_matrix must be 2-dimensional, got shape {arr.shape}"
            raise ValueError(msg)
        shape = (int(arr.shape[0]), int(arr.shape[1]))
        if np.isnan(arr).any():
            msg = "cost_matrix contains NaN; use np.inf for unreachable pairs"
            raise ValueError(msg)
        mask = np.isfinite(arr)
        if service_radius is not None:
            mask &= arr <= service_radius
        rows, cols = np.nonzero(mask)
        vals = arr[rows, cols]
        rows = rows.astype(np.int64)
        cols = cols.astype(np.int64)
    if np.isnan(vals).any():
        msg = "cost_matrix contains NaN; leave unreachable pairs out of a sparse matrix"
        raise ValueError(msg)
    if (vals < 0).any():
        msg = f"cost_matrix must be non-negative, found {vals.min()!r}"
        raise ValueError(msg)
    keep = np.isfinite(vals)
    if service_radius is not None:
        keep &= vals <= service_radius
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    rows, cols, vals = smallest_per_pair(rows, cols, vals)
    return Pairs(shape, rows, cols, vals)


def coverage_pairs(coverage: Any) -> Pairs:
    """The covering pairs of a 0/1 demand-by-site coverage matrix (nonzero = covers)."""
    if sp.issparse(coverage):
        if coverage.ndim != 2:
            msg = f"coverage must be 2-dimensional, got shape {coverage.shape}"
            raise ValueError(msg)
        coo = sp.coo_array(coverage)
        vals = np.asarray(coo.data)
        rows = np.asarray(coo.row, dtype=np.int64)
        cols = np.asarray(coo.col, dtype=np.int64)
        shape = (int(coo.shape[0]), int(coo.shape[1]))
    else:
        arr = np.asarray(coverage)
        if arr.ndim != 2:
            msg = f"coverage must be 2-dimensional, got shape {arr.shape}"
            raise ValueError(msg)
        shape = (int(arr.shape[0]), int(arr.shape[1]))
        rows, cols = np.nonzero(arr)
        vals = arr[rows, cols]
        rows = rows.astype(np.int64)
        cols = cols.astype(np.int64)
    if vals.dtype != bool and not np.isin(vals, (0, 1)).all():
        msg = "coverage must hold only 0 and 1 (or booleans)"
        raise ValueError(msg)
    keep = vals.astype(bool)
    rows, cols = rows[keep], cols[keep]
    rows, cols, _ = smallest_per_pair(rows, cols, np.zeros(len(rows)))
    return Pairs(shape, rows, cols, None)


def check_vector(
    values: ArrayLike | None, size: int, name: str, *, default: float, allow_inf: bool = False
) -> NDArray[np.float64]:
    """One non-negative number per demand point or site (a scalar is repeated)."""
    if values is None:
        return np.full(size, default, dtype=np.float64)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"{name} must be numeric"
        raise ValueError(msg) from None
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    if arr.ndim != 1 or len(arr) != size:
        msg = f"{name} must have length {size}, got shape {arr.shape}"
        raise ValueError(msg)
    if np.isnan(arr).any() or (not allow_inf and np.isinf(arr).any()):
        msg = f"{name} must be finite" + (" or np.inf" if allow_inf else "")
        raise ValueError(msg)
    if (arr < 0).any():
        msg = f"{name} must be non-negative, found {arr.min()!r}"
        raise ValueError(msg)
    return arr


def check_weights(weights: ArrayLike | None, n: int) -> NDArray[np.float64]:
    """The demand weights: an array of ``n`` (default 1 each), never a scalar."""
    if weights is not None and np.ndim(weights) == 0:
        msg = f"weights must be an array of length {n}, got a scalar"
        raise ValueError(msg)
    return check_vector(weights, n, "weights", default=1.0)


def check_capacity(capacity: ArrayLike | None, m: int) -> NDArray[np.float64] | None:
    """Site capacities (one number or one per site), or None for uncapacitated models."""
    if capacity is None:
        return None
    # np.inf is an unlimited station (a community centre, say)
    return check_vector(capacity, m, "capacity", default=np.inf, allow_inf=True)


def check_fixed(fixed_sites: ArrayLike | None, m: int) -> NDArray[np.bool_]:
    """Return a boolean mask of fixed (already open) sites from indices or a mask."""
    mask = np.zeros(m, dtype=bool)
    if fixed_sites is None:
        return mask
    arr = np.asarray(fixed_sites)
    if arr.ndim != 1:
        msg = f"fixed_sites must be 1-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    if arr.dtype == bool:
        if len(arr) != m:
            msg = f"a boolean fixed_sites mask must have length {m}, got {len(arr)}"
            raise ValueError(msg)
        return arr.copy()
    if arr.size == 0:
        return mask
    if not np.issubdtype(arr.dtype, np.integer):
        msg = f"fixed_sites must be integer site indices or a boolean mask, got {arr.dtype}"
        raise ValueError(msg)
    if arr.min() < 0 or arr.max() >= m:
        bad = arr[(arr < 0) | (arr >= m)]
        msg = f"fixed_sites out of range for {m} sites: {bad.tolist()}"
        raise ValueError(msg)
    mask[arr] = True
    return mask


def check_count(value: Any, name: str) -> int:
    """A count of sites (``p``): an int >= 0, not a bool."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        msg = f"{name} must be an int >= 0, got {value!r}"
        raise ValueError(msg)
    if value < 0:
        msg = f"{name} must be an int >= 0, got {value!r}"
        raise ValueError(msg)
    return int(value)


def check_budget(budget: Any) -> float:
    """The budget on new-site costs, finite and >= 0."""
    try:
        value = float(budget)
    except (TypeError, ValueError):
        msg = f"budget must be a number, got {budget!r}"
        raise ValueError(msg) from None
    if not np.isfinite(value) or value < 0:
        msg = f"budget must be finite and >= 0, got {budget!r}"
        raise ValueError(msg)
    return value
