"""Choose service-station (党群服务站) sites exactly: set cover, maximal cover and p-median.

Three classic facility-location models on a demand-by-site cost matrix, solved to proven
optimality (or to a time limit, with the MIP gap reported) by HiGHS:

- :class:`LSCP`, the location set covering problem: open sites at minimum total cost so
  that every demand point a site can reach within the service radius is covered. With all
  site costs equal to 1 this is the fewest stations that give everyone a station within a
  15-minute walk.
- :class:`MCLP`, the maximal covering location problem: with ``p`` new stations, or a
  budget on their cost, cover as many households as possible.
- :class:`PMedian`: with ``p`` new stations, minimise the total household-weighted walking
  distance, each building assigned to one open station.

The interface follows ``spopt.locate``: a model is built by a classmethod from plain
arrays (``from_cost_matrix`` or ``from_coverage``), solved by :meth:`solve`, and its
results are attributes. Unlike spopt, ``p`` counts *new* stations only (existing,
fixed stations are open in addition), demand no site can reach is reported in
``uncoverable`` instead of making the model infeasible, station capacities (households per
station) are supported with single-source assignment, and the model is reduced before
solving (identical demand rows merged, dominated sites dropped, ...). What the reduction
did is reported in ``reduction``; results are always given in the original indices.

Cost matrices
-------------
Rows are demand points (buildings), columns candidate sites. A dense matrix may hold
``np.inf`` for pairs with no walking route. A ``scipy.sparse`` matrix holds only the
reachable pairs: **every explicitly stored entry is a reachable pair**, including a stored
distance of ``0.0`` (a station inside the building), and a missing entry means
unreachable. This is what the network module produces (walking metres, only pairs within
the service radius stored).

Results
-------
After ``solve()`` a model holds, in original indices:

- ``objective``: new-site cost (LSCP), covered weight (MCLP), weighted distance plus any
  opening costs (PMedian);
- ``chosen``: sorted indices of the open sites, fixed ones included;
- ``optimal``, ``gap``, ``status``: proven optimal or not, relative MIP gap (0.0 when
  optimal), the HiGHS model status;
- ``uncoverable``: demand no site can reach, left out of the model;
- ``covered``: per demand, covered (LSCP, MCLP) or assigned (PMedian, capacitated models);
- ``assignment``: per demand, its site or -1;
- ``solve_time``: seconds for reduction plus solve; ``reduction``: what was removed;
- PMedian also ``distance`` (per demand, to its site) and ``total_distance``.
"""

from __future__ import annotations

import os
import sys
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Self

import highspy
import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["LSCP", "MCLP", "NoSolutionError", "PMedian"]

# above this many entries the subset tests of the reduction use sparse products (or are
# skipped); below it a dense float32 product through BLAS is much faster
_DENSE_GRAM_LIMIT = 1e7
# above this many multiply-adds a sparse Gram product is not worth it for a reduction
_SPARSE_GRAM_LIMIT = 1e8
_MAX_ROUNDS = 50
# p-median: each demand starts with this many times (sites / open sites) nearest pairs
_PMEDIAN_K_FACTOR = 2.0


class NoSolutionError(RuntimeError):
    """The solver found no feasible solution (infeasible model, or none within the time limit)."""


# --------------------------------------------------------------------------------------
# input validation and conversion
# --------------------------------------------------------------------------------------


def _check_radius(service_radius: float) -> float:
    try:
        radius = float(service_radius)
    except (TypeError, ValueError):
        msg = f"service_radius must be a number, got {service_radius!r}"
        raise ValueError(msg) from None
    if not np.isfinite(radius) or radius < 0:
        msg = f"service_radius must be finite and >= 0, got {service_radius!r}"
        raise ValueError(msg)
    return radius


def _dedupe_pairs(
    rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64], n_cols: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Sort pairs by (row, col) and keep the smallest value of duplicated pairs."""
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    key = rows * max(n_cols, 1) + cols
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return rows[first], cols[first], vals[first]


def _reachable_pairs(
    cost_matrix: Any, service_radius: float | None
) -> tuple[tuple[int, int], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Return the shape and the (row, col, cost) triplets of the reachable pairs.

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
    rows, cols, vals = _dedupe_pairs(rows, cols, vals, shape[1])
    return shape, rows, cols, vals


def _coverage_pairs(
    coverage: Any,
) -> tuple[tuple[int, int], NDArray[np.int64], NDArray[np.int64]]:
    """Return the shape and (row, col) pairs of a 0/1 coverage matrix (nonzero = covers)."""
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
    rows, cols, _ = _dedupe_pairs(rows, cols, np.zeros(len(rows)), shape[1])
    return shape, rows, cols


def _check_vector(
    values: ArrayLike | None, size: int, name: str, *, default: float, allow_inf: bool = False
) -> NDArray[np.float64]:
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


def _check_weights(weights: ArrayLike | None, n: int) -> NDArray[np.float64]:
    if weights is not None and np.ndim(weights) == 0:
        msg = f"weights must be an array of length {n}, got a scalar"
        raise ValueError(msg)
    return _check_vector(weights, n, "weights", default=1.0)


def _check_capacity(capacity: ArrayLike | None, m: int) -> NDArray[np.float64] | None:
    if capacity is None:
        return None
    # np.inf is an unlimited station (a community centre, say)
    return _check_vector(capacity, m, "capacity", default=np.inf, allow_inf=True)


def _check_fixed(fixed_sites: ArrayLike | None, m: int) -> NDArray[np.bool_]:
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


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        msg = f"{name} must be an int >= 0, got {value!r}"
        raise ValueError(msg)
    if value < 0:
        msg = f"{name} must be an int >= 0, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _check_budget(budget: Any) -> float:
    try:
        value = float(budget)
    except (TypeError, ValueError):
        msg = f"budget must be a number, got {budget!r}"
        raise ValueError(msg) from None
    if not np.isfinite(value) or value < 0:
        msg = f"budget must be finite and >= 0, got {budget!r}"
        raise ValueError(msg)
    return value


# --------------------------------------------------------------------------------------
# reduction helpers (vectorised, on sparse matrices)
# --------------------------------------------------------------------------------------


def _ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate ``arange(s, s + l)`` for every start and length."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - offsets)


def _identical_rows(
    mat: sp.csr_array, *, values: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Group the rows of a canonical CSR matrix that are identical.

    Rows are hashed (pattern, and stored values if ``values``) and every candidate match is
    then verified entry by entry, so the grouping is exact.

    Returns
    -------
    group, first
        ``group[i]`` is the class of row ``i``; ``first[g]`` the lowest row of class ``g``.
    """
    n, m = mat.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    indptr = mat.indptr.astype(np.int64)
    indices = mat.indices.astype(np.int64)
    nnz_row = np.diff(indptr)
    rng = np.random.default_rng(20240611)
    salt = rng.integers(1, np.iinfo(np.int64).max, size=(2, max(m, 1)), dtype=np.uint64)
    key1 = salt[0][indices]
    key2 = salt[1][indices]
    if values:
        bits = (np.asarray(mat.data, dtype=np.float64) + 0.0).view(np.uint64)
        key1 = key1 * (bits | np.uint64(1))
        key2 = key2 ^ (bits * np.uint64(0x9E3779B97F4A7C15))
    hashes = []
    for key in (key1, key2):
        csum = np.zeros(len(key) + 1, dtype=np.uint64)
        np.cumsum(key, dtype=np.uint64, out=csum[1:])
        hashes.append(csum[indptr[1:]] - csum[indptr[:-1]])
    table = np.stack([hashes[0], hashes[1], nnz_row.astype(np.uint64)], axis=1)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()].astype(np.int64)
    # verify candidate matches so that a hash collision can never merge different rows
    cand = np.flatnonzero(rep != np.arange(n))
    if len(cand):
        lengths = nnz_row[cand]
        pos_a = _ranges(indptr[cand], lengths)
        pos_b = _ranges(indptr[rep[cand]], lengths)
        differ = indices[pos_a] != indices[pos_b]
        if values:
            differ |= mat.data[pos_a] != mat.data[pos_b]
        owner = np.repeat(np.arange(len(cand)), lengths)
        bad = np.bincount(owner, weights=differ, minlength=len(cand)) > 0
        rep[cand[bad]] = cand[bad]
    first, group = np.unique(rep, return_inverse=True)
    return group.astype(np.int64), first.astype(np.int64)


def _subset_pairs(
    mat: sp.csr_array, *, columns: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Pairs ``(a, b)``, ``a != b``, with the support of line ``a`` inside that of line ``b``.

    Lines are columns (sites: reach sets) if ``columns`` else rows (demand). Returns None
    when the Gram product is too large to be worth it for a reduction.
    """
    n, m = mat.shape
    k = m if columns else n
    if k < 2 or mat.nnz == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = np.diff(mat.indptr) if columns else np.bincount(mat.indices, minlength=m)
    size = np.bincount(mat.indices, minlength=m) if columns else np.diff(mat.indptr)
    density = mat.nnz / (n * m)
    if n * m <= _DENSE_GRAM_LIMIT and k * k <= _DENSE_GRAM_LIMIT and density > 0.02:
        dense = mat.toarray().astype(np.float32)
        # float32 counts are exact below 2**24 shared entries
        gram = dense.T @ dense if columns else dense @ dense.T
        a, b = np.nonzero(gram == size.astype(np.float32)[:, None])
    else:
        if float(np.square(counts, dtype=np.float64).sum()) > _SPARSE_GRAM_LIMIT:
            return None
        ones = sp.csr_array(
            (np.ones(mat.nnz, dtype=np.int32), mat.indices, mat.indptr), shape=mat.shape
        )
        gram = (ones.T @ ones if columns else ones @ ones.T).tocoo()
        a = gram.row.astype(np.int64)
        b = gram.col.astype(np.int64)
        hit = gram.data == size[a]
        a, b = a[hit], b[hit]
    off = a != b
    return a[off].astype(np.int64), b[off].astype(np.int64)


def _dominated_sites(
    mat: sp.csr_array,
    costs: NDArray[np.float64],
    fixed: NDArray[np.bool_],
) -> NDArray[np.bool_] | None:
    """Sites whose reach lies inside that of a no-dearer site, which can then be dropped.

    Site ``j`` is dominated by ``k`` if ``reach(j) <= reach(k)`` and ``cost(k) <= cost(j)``
    and ``j`` is not fixed. To keep exactly one of a set of equivalent sites (same reach,
    same cost), ``k`` must also rank before ``j`` in a total order (larger reach, lower
    cost, fixed first, lower index), so domination is acyclic and every dropped site has
    a kept dominator. Sites reaching no demand are dominated too. Returns None if skipped.
    """
    m = mat.shape[1]
    size = np.bincount(mat.indices, minlength=m)
    pairs = _subset_pairs(mat, columns=True)
    if pairs is None:
        return None
    j, k = pairs
    order = np.lexsort((np.arange(m), ~fixed, costs, -size))
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    hit = (costs[k] <= costs[j]) & (rank[k] < rank[j]) & ~fixed[j]
    dominated = np.zeros(m, dtype=bool)
    dominated[j[hit]] = True
    dominated |= (size == 0) & ~fixed
    return dominated


def _csr(
    shape: tuple[int, int],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    vals: NDArray[np.float64] | None = None,
) -> sp.csr_array:
    """A canonical CSR matrix from sorted, unique (row, col) pairs; zeros stay stored."""
    data = np.ones(len(rows), dtype=np.float64) if vals is None else vals
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((data, cols.astype(np.int64), indptr), shape=shape)


def _take(mat: sp.csr_array, rows: ArrayLike, cols: ArrayLike) -> sp.csr_array:
    out = mat[np.asarray(rows)][:, np.asarray(cols)]
    out = sp.csr_array(out)
    out.sort_indices()
    return out


def _nearest(
    n: int,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    dist: NDArray[np.float64] | None,
    open_mask: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """For every demand the nearest open site among its reachable pairs (-1 if none)."""
    keep = open_mask[cols]
    r, c = rows[keep], cols[keep]
    d = dist[keep] if dist is not None else np.zeros(len(r))
    order = np.lexsort((c, d, r))
    r, c = r[order], c[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = r[1:] != r[:-1]
    out = np.full(n, -1, dtype=np.int64)
    out[r[first]] = c[first]
    return out


# --------------------------------------------------------------------------------------
# HiGHS
# --------------------------------------------------------------------------------------


class _MipResult:
    __slots__ = ("bound", "gap", "objective", "optimal", "status", "x")

    def __init__(
        self,
        x: NDArray[np.float64],
        objective: float,
        optimal: bool,
        gap: float,
        status: str,
        bound: float,
    ) -> None:
        self.x = x
        self.bound = bound
        self.objective = objective
        self.optimal = optimal
        self.gap = gap
        self.status = status


_banner_silenced = False


def _new_highs() -> highspy.Highs:
    """A HiGHS instance; the first one in a process is made with stdout silenced.

    HiGHS prints its copyright banner from the C++ constructor, before any option can
    turn output off; on stdout it would corrupt JSON output (``planner sites --json``).
    """
    global _banner_silenced
    if _banner_silenced:
        return highspy.Highs()
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 to protect (embedded use)
        return highspy.Highs()
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_silenced = True
    return highs


def _run_highs(
    *,
    cost: NDArray[np.float64],
    matrix: sp.csc_array,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    col_lower: NDArray[np.float64],
    col_upper: NDArray[np.float64],
    integer: NDArray[np.bool_],
    maximize: bool,
    offset: float,
    time_limit: float | None,
    mip_rel_gap: float,
    options: Mapping[str, Any] | None,
) -> _MipResult:
    """Solve a MIP with HiGHS and return its solution, or raise NoSolutionError."""
    highs = _new_highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if time_limit is not None:
        highs.setOptionValue("time_limit", float(time_limit))
    for key, value in (options or {}).items():
        if highs.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            msg = f"HiGHS rejected the option {key}={value!r}"
            raise ValueError(msg)
    n_col = len(cost)
    if n_col == 0:
        return _MipResult(np.zeros(0), offset, True, 0.0, "Optimal (solved by reduction)", offset)
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = np.ascontiguousarray(cost, dtype=np.float64)
    lp.col_lower_ = np.ascontiguousarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.ascontiguousarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.ascontiguousarray(np.where(np.isinf(row_lower), -inf, row_lower))
    lp.row_upper_ = np.ascontiguousarray(np.where(np.isinf(row_upper), inf, row_upper))
    lp.offset_ = float(offset)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    csc = sp.csc_array(matrix)
    csc.sum_duplicates()
    csc.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = matrix.shape[0]
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(np.float64)
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(flag)] for flag in integer]

    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    status_text = highs.modelStatusToString(status)
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kInfeasible:
        msg = "the model is infeasible"
        raise NoSolutionError(msg)
    if not has_solution:
        msg = f"HiGHS found no feasible solution (status: {status_text})"
        raise NoSolutionError(msg)
    optimal = status == highspy.HighsModelStatus.kOptimal
    x = np.asarray(highs.getSolution().col_value, dtype=np.float64)
    gap = 0.0 if optimal else float(info.mip_gap)
    objective = float(info.objective_function_value)
    return _MipResult(x, objective, optimal, gap, status_text, float(info.mip_dual_bound))


def _relative_gap(objective: float, bound: float) -> float:
    """Relative distance between a solution's objective and the solver's bound."""
    if not np.isfinite(bound):
        return float("inf")
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-12)


def _blocks(
    n_row: int, n_col: int, parts: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]]
) -> sp.csc_array:
    """A CSC constraint matrix from (row, col, value) triplet blocks."""
    if parts:
        rows = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
        cols = np.concatenate([np.asarray(p[1], dtype=np.int64) for p in parts])
        vals = np.concatenate([np.asarray(p[2], dtype=np.float64) for p in parts])
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0)
    return sp.csc_array((vals, (rows, cols)), shape=(n_row, n_col))


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


class _SitingModel(ABC):
    """Shared input handling, result attributes and solving for the three models."""

    name = "siting"

    def __init__(
        self,
        *,
        shape: tuple[int, int],
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        dist: NDArray[np.float64] | None,
        weights: NDArray[np.float64],
        site_costs: NDArray[np.float64],
        fixed: NDArray[np.bool_],
        capacity: NDArray[np.float64] | None,
        reduce: bool,
    ) -> None:
        self.n_demand, self.n_sites = shape
        self._rows = rows
        self._cols = cols
        self._dist = dist
        self.weights = weights
        self.site_costs = site_costs
        self.fixed_sites = np.flatnonzero(fixed)
        self._fixed = fixed
        self.capacity = capacity
        self.reduce = bool(reduce)
        # results, filled by solve()
        self.objective: float | None = None
        self.chosen: NDArray[np.int64] | None = None
        self.optimal: bool | None = None
        self.gap: float | None = None
        self.status: str = "not solved"
        self.covered: NDArray[np.bool_] | None = None
        self.assignment: NDArray[np.int64] | None = None
        self.solve_time: float | None = None
        self.reduction: dict[str, Any] | None = None
        reach = np.zeros(self.n_demand, dtype=bool)
        reach[rows] = True
        self.uncoverable = np.flatnonzero(~reach)

    def __repr__(self) -> str:
        head = f"{type(self).__name__}(n_demand={self.n_demand}, n_sites={self.n_sites}"
        if self.objective is None or self.chosen is None:
            return f"{head}, status={self.status!r})"
        return (
            f"{head}, objective={self.objective:g}, chosen={len(self.chosen)}, "
            f"optimal={self.optimal}, status={self.status!r})"
        )

    def _coverage(self) -> sp.csr_array:
        return _csr((self.n_demand, self.n_sites), self._rows, self._cols)

    def solve(
        self,
        time_limit: float | None = None,
        *,
        mip_rel_gap: float = 1e-9,
        highs_options: Mapping[str, Any] | None = None,
    ) -> Self:
        """Reduce the model, solve it with HiGHS and store the results on the model.

        Parameters
        ----------
        time_limit
            Seconds HiGHS may spend. When reached, the best solution found is kept with
            ``optimal=False`` and its relative MIP ``gap``.
        mip_rel_gap
            Relative gap at which HiGHS stops and declares the solution optimal.
        highs_options
            Further HiGHS options by name, e.g. ``{"threads": 1}``.

        Returns
        -------
        self
            The model, with ``objective``, ``chosen``, ``optimal``, ``gap``, ``status``,
            ``uncoverable``, ``covered``, ``assignment``, ``solve_time`` and ``reduction``.

        Raises
        ------
        NoSolutionError
            If the model is infeasible or no feasible solution was found in time.
        """
        if time_limit is not None and (not np.isfinite(time_limit) or time_limit <= 0):
            msg = f"time_limit must be a positive number of seconds, got {time_limit!r}"
            raise ValueError(msg)
        start = time.perf_counter()
        self._solve(time_limit=time_limit, mip_rel_gap=mip_rel_gap, options=highs_options)
        assert self.objective is not None
        if not self.optimal:
            # the objective is recomputed from the solution in original indices, so the
            # gap is recomputed against the solver's bound too
            self.gap = _relative_gap(self.objective, self._bound)
        self.solve_time = time.perf_counter() - start
        return self

    @abstractmethod
    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        """Build and solve the model (each model class defines it)."""

    def _finish(self, res: _MipResult, chosen_mask: NDArray[np.bool_]) -> None:
        self.chosen = np.flatnonzero(chosen_mask)
        self.optimal = res.optimal
        self.gap = res.gap
        self._bound = res.bound
        self.status = res.status

    def _capacitated_pairs(
        self, rows: NDArray[np.int64], cols: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        """Mask of pairs whose demand fits in the site's capacity on its own."""
        assert self.capacity is not None
        return self.weights[rows] <= self.capacity[cols] * (1 + 1e-12)

    def _solve_assignment(
        self,
        *,
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        pair_cost: NDArray[np.float64],
        load: NDArray[np.float64] | None,
        site_cost: NDArray[np.float64],
        demand_rows: NDArray[np.int64],
        must_assign: bool,
        maximize: bool,
        p: int | None,
        p_exact: bool,
        budget: float | None,
        forced: NDArray[np.bool_],
        binary_assign: bool,
        all_sites: bool = False,
        slack_cost: NDArray[np.float64] | None = None,
        offset: float = 0.0,
        time_limit: float | None,
        mip_rel_gap: float,
        options: Mapping[str, Any] | None,
    ) -> _Assignment:
        """Solve an assignment model over the given (demand, site) pairs.

        Variables are one ``y`` per site (every site if ``all_sites``, else those with a
        pair or forced open), one ``x`` per pair and, where ``slack_cost`` is finite, a
        continuous slack per demand that stands in for all its pairs left out. Rows: each
        demand assigned once (``== 1`` if ``must_assign`` else ``<= 1``); ``x <= y`` per
        pair; a capacity row per site if ``load`` is given; the p and budget rows over the
        sites not forced open.
        """
        if all_sites:
            sites = np.arange(self.n_sites)
        else:
            sites = np.unique(np.concatenate([cols, np.flatnonzero(forced)]))
        site_pos = np.full(self.n_sites, -1, dtype=np.int64)
        site_pos[sites] = np.arange(len(sites))
        dem_pos = np.full(self.n_demand, -1, dtype=np.int64)
        dem_pos[demand_rows] = np.arange(len(demand_rows))
        n_y, n_x, n_d = len(sites), len(rows), len(demand_rows)
        pr, pc = dem_pos[rows], site_pos[cols]
        xcol = n_y + np.arange(n_x)
        if slack_cost is None:
            slack_at = np.zeros(0, dtype=np.int64)
        else:
            slack_at = np.flatnonzero(np.isfinite(slack_cost))
        n_u = len(slack_at)
        ucol = n_y + n_x + np.arange(n_u)
        parts = [(pr, xcol, np.ones(n_x)), (slack_at, ucol, np.ones(n_u))]
        lower = [np.ones(n_d) if must_assign else np.zeros(n_d)]
        upper = [np.ones(n_d)]
        row0 = n_d
        # x <= y for every pair: the strong linking that makes the LP bound tight
        link = row0 + np.arange(n_x)
        parts.append((link, xcol, np.ones(n_x)))
        parts.append((link, pc, -np.ones(n_x)))
        lower.append(np.full(n_x, -np.inf))
        upper.append(np.zeros(n_x))
        row0 += n_x
        if load is not None:
            assert self.capacity is not None
            parts.append((row0 + pc, xcol, load))
            # an unlimited capacity becomes the total load, which it can never exceed
            cap = np.minimum(self.capacity[sites], float(load.sum()) + 1.0)
            parts.append((row0 + np.arange(n_y), np.arange(n_y), -cap))
            lower.append(np.full(n_y, -np.inf))
            upper.append(np.zeros(n_y))
            row0 += n_y
        free = np.flatnonzero(~forced[sites])
        if p is not None:
            parts.append((np.full(len(free), row0), free, np.ones(len(free))))
            lower.append(np.array([float(p) if p_exact else -np.inf]))
            upper.append(np.array([float(p)]))
            row0 += 1
        if budget is not None:
            parts.append((np.full(len(free), row0), free, self.site_costs[sites[free]]))
            lower.append(np.array([-np.inf]))
            upper.append(np.array([budget]))
            row0 += 1
        n_col = n_y + n_x + n_u
        res = _run_highs(
            cost=np.concatenate(
                [
                    np.where(forced[sites], 0.0, site_cost[sites]),
                    pair_cost,
                    np.zeros(0) if slack_cost is None else slack_cost[slack_at],
                ]
            ),
            matrix=_blocks(row0, n_col, parts),
            row_lower=np.concatenate(lower),
            row_upper=np.concatenate(upper),
            col_lower=np.concatenate([forced[sites].astype(float), np.zeros(n_x + n_u)]),
            col_upper=np.ones(n_col),
            integer=np.concatenate(
                [np.ones(n_y, bool), np.full(n_x, binary_assign), np.zeros(n_u, bool)]
            ),
            maximize=maximize,
            offset=offset,
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
            options=options,
        )
        open_mask = np.zeros(self.n_sites, dtype=bool)
        open_mask[sites[res.x[:n_y] > 0.5]] = True
        open_mask |= forced
        slack = np.zeros(n_d)
        slack[slack_at] = res.x[n_y + n_x :]
        return _Assignment(res, open_mask, np.flatnonzero(res.x[n_y : n_y + n_x] > 0.5), slack)


class _Assignment:
    """What :meth:`_SitingModel._solve_assignment` found."""

    __slots__ = ("open_mask", "picked", "res", "slack")

    def __init__(
        self,
        res: _MipResult,
        open_mask: NDArray[np.bool_],
        picked: NDArray[np.int64],
        slack: NDArray[np.float64],
    ) -> None:
        self.res = res
        self.open_mask = open_mask
        self.picked = picked
        self.slack = slack


class LSCP(_SitingModel):
    """Location set covering: cover all coverable demand at minimum total site cost.

    Build it with :meth:`from_cost_matrix` or :meth:`from_coverage`, then call
    :meth:`solve`. ``objective`` is the total cost of the *new* sites opened (fixed sites
    already exist and cost nothing); with all costs 1 it is the number of new stations.
    Demand no candidate reaches is listed in ``uncoverable`` and left out of the model.

    With ``capacity`` (households per station) every coverable demand point is also
    assigned to one open site that covers it, and the households assigned to a site may
    not exceed its capacity; ``assignment`` then holds that assignment. Without capacity,
    ``assignment`` is the nearest open site covering each demand point (lowest index when
    built from a coverage matrix).

    Reduction (when ``reduce=True``): demand covered by fixed sites is removed; identical
    demand rows are merged; a demand row whose reach contains another row's reach is
    dropped (covering the smaller one covers it); dominated sites are dropped; a site that
    is the only cover of some demand is fixed open; repeated until nothing changes. With
    capacity only the exact steps survive: uncoverable demand removed, pairs whose demand
    alone exceeds the site capacity removed, sole covers fixed open.
    """

    name = "lscp"

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        service_radius: float,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        *,
        weights: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> LSCP:
        """Build an LSCP from a demand-by-site cost matrix.

        Parameters
        ----------
        cost_matrix
            Walking cost from each demand point (row) to each candidate site (column).
            Dense: ``np.inf`` marks unreachable pairs. Sparse: every stored entry is a
            reachable pair (a stored 0.0 included), missing entries are unreachable.
        service_radius
            A site covers a demand point if their cost is at most this.
        site_costs
            Cost of opening each site (default 1 each: minimise the number of stations).
        fixed_sites
            Indices (or a boolean mask) of sites that are already open.
        weights
            Households per demand point; used only with ``capacity`` (default 1 each).
        capacity
            Households a station can serve, one number or one per site (``np.inf``:
            no limit).
        reduce
            Reduce the model before solving (exact; switch off only to compare).

        Returns
        -------
        LSCP
        """
        radius = _check_radius(service_radius)
        shape, rows, cols, dist = _reachable_pairs(cost_matrix, radius)
        return cls._build(
            shape, rows, cols, dist, site_costs, fixed_sites, weights, capacity, reduce
        )

    @classmethod
    def from_coverage(
        cls,
        coverage: ArrayLike | sp.sparray | sp.spmatrix,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        *,
        weights: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> LSCP:
        """Build an LSCP from a demand-by-site 0/1 coverage matrix (dense or sparse).

        Parameters
        ----------
        coverage
            ``coverage[i, j]`` is 1 if site ``j`` covers demand point ``i``. For a sparse
            matrix, nonzero stored entries cover (unlike a sparse cost matrix).
        site_costs, fixed_sites, weights, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        LSCP
        """
        shape, rows, cols = _coverage_pairs(coverage)
        return cls._build(
            shape, rows, cols, None, site_costs, fixed_sites, weights, capacity, reduce
        )

    @classmethod
    def _build(
        cls,
        shape: tuple[int, int],
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        dist: NDArray[np.float64] | None,
        site_costs: ArrayLike | None,
        fixed_sites: ArrayLike | None,
        weights: ArrayLike | None,
        capacity: float | ArrayLike | None,
        reduce: bool,
    ) -> LSCP:
        n, m = shape
        return cls(
            shape=shape,
            rows=rows,
            cols=cols,
            dist=dist,
            weights=_check_weights(weights, n),
            site_costs=_check_vector(site_costs, m, "site_costs", default=1.0),
            fixed=_check_fixed(fixed_sites, m),
            capacity=_check_capacity(capacity, m),
            reduce=reduce,
        )

    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        if self.capacity is not None:
            self._solve_capacitated(time_limit, mip_rel_gap, options)
            return
        n, m = self.n_demand, self.n_sites
        cover = self._coverage()
        row_ids = np.unique(self._rows)
        col_ids = np.arange(m)
        opened = self._fixed.copy()
        mat = _take(cover, row_ids, col_ids)
        stats: dict[str, Any] = {
            "demand_before": n,
            "sites_before": m,
            "uncoverable": len(self.uncoverable),
        }
        skipped: set[str] = set()
        rounds = 0
        changed = self.reduce
        while changed and rounds < _MAX_ROUNDS:
            rounds += 1
            changed = False
            open_cols = opened[col_ids]
            if open_cols.any():
                hit = np.asarray(mat[:, open_cols].sum(axis=1)).ravel() > 0
                mat = _take(mat, np.flatnonzero(~hit), np.flatnonzero(~open_cols))
                row_ids, col_ids = row_ids[~hit], col_ids[~open_cols]
                changed = True
            group, first = _identical_rows(mat)
            if len(first) < mat.shape[0]:
                mat, row_ids = mat[first], row_ids[first]
                changed = True
            pairs = _subset_pairs(mat, columns=False)
            if pairs is None:
                skipped.add("demand dominance")
            elif len(pairs[0]):
                drop = np.zeros(mat.shape[0], dtype=bool)
                drop[pairs[1]] = True
                mat, row_ids = mat[~drop], row_ids[~drop]
                changed = True
            dominated = _dominated_sites(
                mat, self.site_costs[col_ids], np.zeros(len(col_ids), dtype=bool)
            )
            if dominated is None:
                skipped.add("site dominance")
            elif dominated.any():
                mat, col_ids = (
                    _take(mat, np.arange(mat.shape[0]), np.flatnonzero(~dominated)),
                    col_ids[~dominated],
                )
                changed = True
            single = np.diff(mat.indptr) == 1
            if single.any():
                opened[col_ids[mat.indices[mat.indptr[:-1][single]]]] = True
                changed = True
        if not self.reduce:
            # without reduction fixed sites and their demand stay in the model
            mat = _take(cover, row_ids, col_ids)
        n_rows, n_cols = mat.shape
        forced = opened[col_ids]
        matrix = sp.csc_array(mat)
        res = _run_highs(
            cost=np.where(forced | self._fixed[col_ids], 0.0, self.site_costs[col_ids]),
            matrix=matrix,
            row_lower=np.ones(n_rows),
            row_upper=np.full(n_rows, np.inf),
            col_lower=forced.astype(float),
            col_upper=np.ones(n_cols),
            integer=np.ones(n_cols, dtype=bool),
            maximize=False,
            offset=float(self.site_costs[opened & ~self._fixed].sum()),
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
            options=options,
        )
        chosen = opened.copy()
        chosen[col_ids[res.x > 0.5]] = True
        self._finish(res, chosen)
        self.objective = float(self.site_costs[chosen & ~self._fixed].sum())
        self.assignment = _nearest(n, self._rows, self._cols, self._dist, chosen)
        self.covered = self.assignment >= 0
        stats.update(
            demand_after=n_rows,
            sites_after=n_cols,
            sites_opened_by_reduction=int((opened & ~self._fixed).sum()),
            rounds=rounds,
            skipped=sorted(skipped),
        )
        self.reduction = stats

    def _solve_capacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        n, m = self.n_demand, self.n_sites
        rows, cols = self._rows, self._cols
        demand = np.unique(rows)
        if self.reduce:
            fits = self._capacitated_pairs(rows, cols)
            rows, cols = rows[fits], cols[fits]
        left = np.setdiff1d(demand, rows)
        if len(left):
            msg = (
                f"demand {left[:10].tolist()} exceeds the capacity of every site within "
                "reach; raise the capacity or split the demand"
            )
            raise NoSolutionError(msg)
        forced = self._fixed.copy()
        if self.reduce:
            count = np.bincount(rows, minlength=n)
            forced[cols[count[rows] == 1]] = True
        sol = self._solve_assignment(
            rows=rows,
            cols=cols,
            pair_cost=np.zeros(len(rows)),
            load=self.weights[rows],
            site_cost=self.site_costs,
            demand_rows=demand,
            must_assign=True,
            maximize=False,
            p=None,
            p_exact=False,
            budget=None,
            forced=forced,
            binary_assign=True,
            offset=float(self.site_costs[forced & ~self._fixed].sum()),
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
            options=options,
        )
        open_mask, picked = sol.open_mask, sol.picked
        self._finish(sol.res, open_mask)
        self.objective = float(self.site_costs[open_mask & ~self._fixed].sum())
        self.assignment = np.full(n, -1, dtype=np.int64)
        self.assignment[rows[picked]] = cols[picked]
        self.covered = self.assignment >= 0
        self.reduction = {
            "demand_before": n,
            "sites_before": m,
            "uncoverable": len(self.uncoverable),
            "demand_after": len(demand),
            "sites_after": len(np.unique(np.concatenate([cols, np.flatnonzero(forced)]))),
            "pairs_before": len(self._rows),
            "pairs_after": len(rows),
            "sites_opened_by_reduction": int((forced & ~self._fixed).sum()),
        }


class MCLP(_SitingModel):
    """Maximal covering: open ``p`` new sites (or spend a budget) to cover the most weight.

    Build it with :meth:`from_cost_matrix` or :meth:`from_coverage`, then call
    :meth:`solve`. Fixed sites are open in addition to the ``p`` new ones and their cost
    does not count against the budget. At most ``p`` new sites are opened: when fewer
    sites already cover everything they can reach, the extra ones would add nothing and
    are not reported. ``objective`` is the total covered weight (households), including
    demand covered by fixed sites.

    With ``capacity`` a demand point counts as covered only if its whole weight is
    assigned to one open site that covers it, and a site's assigned weight may not
    exceed its capacity (single-source capacitated coverage); ``assignment`` holds it.
    Without capacity, ``assignment`` is the nearest open covering site.

    Reduction (when ``reduce=True``, uncapacitated): demand covered by fixed sites is
    counted and removed, demand of weight zero removed, identical demand rows merged with
    their weights summed, dominated sites dropped (a site whose reach lies inside another
    site's reach, that other site costing no more when a budget applies); repeated until
    nothing changes. With capacity: zero-weight demand and pairs whose demand alone
    exceeds the site capacity are removed.
    """

    name = "mclp"

    p: int | None
    budget: float | None

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        service_radius: float,
        weights: ArrayLike,
        p: int | None = None,
        budget: float | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        *,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> MCLP:
        """Build an MCLP from a demand-by-site cost matrix.

        Parameters
        ----------
        cost_matrix
            Walking cost from each demand point (row) to each candidate site (column).
            Dense: ``np.inf`` marks unreachable pairs. Sparse: every stored entry is a
            reachable pair (a stored 0.0 included), missing entries are unreachable.
        service_radius
            A site covers a demand point if their cost is at most this.
        weights
            Weight of each demand point (households), non-negative.
        p
            Number of new sites to open at most (fixed sites not counted).
        budget
            Upper bound on the total ``site_costs`` of the new sites. Give ``p``,
            ``budget`` or both.
        site_costs
            Cost of opening each site (default 1 each); used with ``budget``.
        fixed_sites
            Indices (or a boolean mask) of sites that are already open.
        capacity
            Households a station can serve, one number or one per site (``np.inf``:
            no limit).
        reduce
            Reduce the model before solving (exact; switch off only to compare).

        Returns
        -------
        MCLP
        """
        radius = _check_radius(service_radius)
        shape, rows, cols, dist = _reachable_pairs(cost_matrix, radius)
        return cls._build(
            shape, rows, cols, dist, weights, p, budget, site_costs, fixed_sites, capacity, reduce
        )

    @classmethod
    def from_coverage(
        cls,
        coverage: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        p: int | None = None,
        budget: float | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        *,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> MCLP:
        """Build an MCLP from a demand-by-site 0/1 coverage matrix (dense or sparse).

        Parameters
        ----------
        coverage
            ``coverage[i, j]`` is 1 if site ``j`` covers demand point ``i``. For a sparse
            matrix, nonzero stored entries cover (unlike a sparse cost matrix).
        weights, p, budget, site_costs, fixed_sites, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        MCLP
        """
        shape, rows, cols = _coverage_pairs(coverage)
        return cls._build(
            shape, rows, cols, None, weights, p, budget, site_costs, fixed_sites, capacity, reduce
        )

    @classmethod
    def _build(
        cls,
        shape: tuple[int, int],
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        dist: NDArray[np.float64] | None,
        weights: ArrayLike,
        p: int | None,
        budget: float | None,
        site_costs: ArrayLike | None,
        fixed_sites: ArrayLike | None,
        capacity: float | ArrayLike | None,
        reduce: bool,
    ) -> MCLP:
        n, m = shape
        if weights is None:
            msg = "MCLP needs weights (one per demand point)"
            raise ValueError(msg)
        if p is None and budget is None:
            msg = "MCLP needs p (number of new sites), budget, or both"
            raise ValueError(msg)
        model = cls(
            shape=shape,
            rows=rows,
            cols=cols,
            dist=dist,
            weights=_check_weights(weights, n),
            site_costs=_check_vector(site_costs, m, "site_costs", default=1.0),
            fixed=_check_fixed(fixed_sites, m),
            capacity=_check_capacity(capacity, m),
            reduce=reduce,
        )
        model.p = None if p is None else _check_count(p, "p")
        model.budget = None if budget is None else _check_budget(budget)
        return model

    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        if self.capacity is not None:
            self._solve_capacitated(time_limit, mip_rel_gap, options)
            return
        n, m = self.n_demand, self.n_sites
        cover = self._coverage()
        row_ids = np.unique(self._rows)
        col_ids = np.arange(m)
        weight = self.weights[row_ids]
        constant = 0.0
        # without a budget site costs play no part, so dominance ignores them
        costs = self.site_costs if self.budget is not None else np.zeros(m)
        mat = _take(cover, row_ids, col_ids)
        stats: dict[str, Any] = {
            "demand_before": n,
            "sites_before": m,
            "uncoverable": len(self.uncoverable),
        }
        skipped: set[str] = set()
        rounds = 0
        if self.reduce:
            fixed_cols = self._fixed[col_ids]
            hit = np.asarray(mat[:, fixed_cols].sum(axis=1)).ravel() > 0
            constant = float(weight[hit].sum())
            keep = ~hit & (weight > 0)
            mat = _take(mat, np.flatnonzero(keep), np.flatnonzero(~fixed_cols))
            row_ids, col_ids, weight = row_ids[keep], col_ids[~fixed_cols], weight[keep]
        changed = self.reduce
        while changed and rounds < _MAX_ROUNDS:
            rounds += 1
            changed = False
            group, first = _identical_rows(mat)
            if len(first) < mat.shape[0]:
                weight = np.bincount(group, weights=weight, minlength=len(first)).astype(float)
                mat, row_ids = mat[first], row_ids[first]
                changed = True
            dominated = _dominated_sites(mat, costs[col_ids], self._fixed[col_ids])
            if dominated is None:
                skipped.add("site dominance")
            elif dominated.any():
                mat = _take(mat, np.arange(mat.shape[0]), np.flatnonzero(~dominated))
                col_ids = col_ids[~dominated]
                changed = True
        n_rows, n_cols = mat.shape
        fixed_cols = self._fixed[col_ids]
        free = np.flatnonzero(~fixed_cols)
        # variables: y (one per site), then z (one per demand row, continuous in [0, 1])
        coo = mat.tocoo()
        parts = [
            (np.arange(n_rows), n_cols + np.arange(n_rows), np.ones(n_rows)),
            (coo.row, coo.col, -np.ones(coo.nnz)),
        ]
        lower, upper = [np.full(n_rows, -np.inf)], [np.zeros(n_rows)]
        n_con = n_rows
        if self.p is not None:
            parts.append((np.full(len(free), n_con), free, np.ones(len(free))))
            lower.append(np.array([-np.inf]))
            upper.append(np.array([float(self.p)]))
            n_con += 1
        if self.budget is not None:
            parts.append((np.full(len(free), n_con), free, self.site_costs[col_ids[free]]))
            lower.append(np.array([-np.inf]))
            upper.append(np.array([self.budget]))
            n_con += 1
        res = _run_highs(
            cost=np.concatenate([np.zeros(n_cols), weight]),
            matrix=_blocks(n_con, n_cols + n_rows, parts),
            row_lower=np.concatenate(lower),
            row_upper=np.concatenate(upper),
            col_lower=np.concatenate([fixed_cols.astype(float), np.zeros(n_rows)]),
            col_upper=np.ones(n_cols + n_rows),
            integer=np.concatenate([np.ones(n_cols, bool), np.zeros(n_rows, bool)]),
            maximize=True,
            offset=constant,
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
            options=options,
        )
        chosen = self._fixed.copy()
        chosen[col_ids[res.x[:n_cols] > 0.5]] = True
        self._finish(res, chosen)
        self.assignment = _nearest(n, self._rows, self._cols, self._dist, chosen)
        self.covered = self.assignment >= 0
        self.objective = float(self.weights[self.covered].sum())
        stats.update(
            demand_after=n_rows, sites_after=n_cols, rounds=rounds, skipped=sorted(skipped)
        )
        self.reduction = stats

    def _solve_capacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        n, m = self.n_demand, self.n_sites
        rows, cols = self._rows, self._cols
        if self.reduce:
            keep = self._capacitated_pairs(rows, cols) & (self.weights[rows] > 0)
            rows, cols = rows[keep], cols[keep]
        demand = np.unique(rows)
        sol = self._solve_assignment(
            rows=rows,
            cols=cols,
            pair_cost=self.weights[rows],
            load=self.weights[rows],
            site_cost=np.zeros(m),
            demand_rows=demand,
            must_assign=False,
            maximize=True,
            p=self.p,
            p_exact=False,
            budget=self.budget,
            forced=self._fixed,
            binary_assign=True,
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
            options=options,
        )
        open_mask, picked = sol.open_mask, sol.picked
        self._finish(sol.res, open_mask)
        self.assignment = np.full(n, -1, dtype=np.int64)
        self.assignment[rows[picked]] = cols[picked]
        self.covered = self.assignment >= 0
        self.objective = float(self.weights[self.covered].sum())
        self.reduction = {
            "demand_before": n,
            "sites_before": m,
            "uncoverable": len(self.uncoverable),
            "demand_after": len(demand),
            "sites_after": len(np.unique(np.concatenate([cols, self.fixed_sites]))),
            "pairs_before": len(self._rows),
            "pairs_after": len(rows),
        }


class PMedian(_SitingModel):
    """p-median: open ``p`` new sites to minimise the total weighted distance to them.

    Build it with :meth:`from_cost_matrix`, then call :meth:`solve`. Every demand point is
    assigned to one open site; ``p`` counts *new* sites, opened in addition to the fixed
    ones, and exactly ``p`` are opened (``spopt.locate.PMedian`` counts all open sites,
    so ours with ``p`` and ``k`` fixed sites equals spopt's with ``p + k``).
    ``objective`` is the total weighted distance plus, if ``site_costs`` are given, the
    opening costs of the new sites (in the same units). ``assignment`` gives each demand
    point's site.

    Pairs with infinite cost, beyond ``service_radius`` if one is given, or missing from a
    sparse matrix, cannot be assigned; demand with no such pair at all is listed in
    ``uncoverable`` and left out. If ``p`` new sites cannot serve all other demand the
    model is infeasible and :meth:`solve` raises :class:`NoSolutionError`.

    Reduction (only exact steps, when ``reduce=True``): pairs farther than the nearest
    fixed site are removed (a fixed site is always open); without capacity, demand rows
    with identical distances are merged with their weights summed; with capacity, pairs
    whose demand alone exceeds the site capacity are removed.
    """

    name = "p-median"

    p: int

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        weights: ArrayLike,
        p: int,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        service_radius: float | None = None,
        *,
        reduce: bool = True,
    ) -> PMedian:
        """Build a p-median model from a demand-by-site cost matrix.

        Parameters
        ----------
        cost_matrix
            Walking cost from each demand point (row) to each candidate site (column).
            Dense: ``np.inf`` marks unreachable pairs. Sparse: every stored entry is a
            reachable pair (a stored 0.0 included), missing entries are unreachable.
        weights
            Weight of each demand point (households), non-negative.
        p
            Number of new sites to open (fixed sites not counted).
        site_costs
            Opening cost of each site, added to the objective for new sites (default:
            none, a pure p-median).
        fixed_sites
            Indices (or a boolean mask) of sites that are already open.
        capacity
            Households a station can serve, one number or one per site (``np.inf``:
            no limit).
        service_radius
            If given, pairs costing more than this cannot be assigned.
        reduce
            Reduce the model before solving (exact; switch off only to compare).

        Returns
        -------
        PMedian
        """
        radius = None if service_radius is None else _check_radius(service_radius)
        shape, rows, cols, dist = _reachable_pairs(cost_matrix, radius)
        n, m = shape
        if weights is None:
            msg = "PMedian needs weights (one per demand point)"
            raise ValueError(msg)
        fixed = _check_fixed(fixed_sites, m)
        p = _check_count(p, "p")
        n_free = int((~fixed).sum())
        if p > n_free:
            msg = f"p={p} exceeds the {n_free} candidate sites that are not fixed"
            raise ValueError(msg)
        model = cls(
            shape=shape,
            rows=rows,
            cols=cols,
            dist=dist,
            weights=_check_weights(weights, n),
            site_costs=_check_vector(site_costs, m, "site_costs", default=0.0),
            fixed=fixed,
            capacity=_check_capacity(capacity, m),
            reduce=reduce,
        )
        model.p = p
        return model

    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        n, m = self.n_demand, self.n_sites
        rows, cols, dist = self._rows, self._cols, self._dist
        assert dist is not None
        demand = np.unique(rows)
        if demand.size and self.p == 0 and not self._fixed.any():
            msg = "p=0 and no fixed sites: no site can be opened to serve the demand"
            raise NoSolutionError(msg)
        capacitated = self.capacity is not None
        weight = self.weights
        stats: dict[str, Any] = {
            "demand_before": n,
            "sites_before": m,
            "uncoverable": len(self.uncoverable),
            "pairs_before": len(rows),
        }
        if capacitated:
            fits = self._capacitated_pairs(rows, cols)
            left = np.setdiff1d(demand, rows[fits])
            if len(left):
                msg = (
                    f"demand {left[:10].tolist()} exceeds the capacity of every site "
                    "within reach; raise the capacity or split the demand"
                )
                raise NoSolutionError(msg)
            if self.reduce:
                rows, cols, dist = rows[fits], cols[fits], dist[fits]
        if self.reduce and self._fixed.any():
            # a fixed site is always open: nothing farther than the nearest one is used
            # (without capacity; with it a farther site may take the overflow)
            if not capacitated:
                nearest_fixed = np.full(n, np.inf)
                fx = self._fixed[cols]
                np.minimum.at(nearest_fixed, rows[fx], dist[fx])
                keep = dist <= nearest_fixed[rows]
                rows, cols, dist = rows[keep], cols[keep], dist[keep]
        if self.reduce and not capacitated:
            # pairs are sorted by (row, col); compress the rows without sparse indexing,
            # which must not drop the stored zero distances
            mat = _csr((len(demand), m), np.searchsorted(demand, rows), cols, dist)
            group, first = _identical_rows(mat, values=True)
            rep = demand[first]
            weight = np.zeros(n)
            weight[rep] = np.bincount(group, weights=self.weights[demand], minlength=len(first))
            keep = np.isin(rows, rep)
            rows, cols, dist = rows[keep], cols[keep], dist[keep]
            demand = rep
        sol, rows, cols, rounds = self._solve_restricted(
            rows, cols, dist, weight, demand, time_limit, mip_rel_gap, options
        )
        open_mask = sol.open_mask
        self._finish(sol.res, open_mask)
        if capacitated:
            self.assignment = np.full(n, -1, dtype=np.int64)
            self.assignment[rows[sol.picked]] = cols[sol.picked]
        else:
            # the nearest open site; with a time limit this may beat the incumbent's own
            self.assignment = _nearest(n, self._rows, self._cols, self._dist, open_mask)
        assigned = self.assignment >= 0
        if (assigned[demand] == 0).any():
            msg = "no feasible assignment of all demand was found within the time limit"
            raise NoSolutionError(msg)
        pair_dist = _csr((n, m), self._rows, self._cols, self._dist)
        d = np.zeros(n)
        if assigned.any():  # scipy returns a sparse array, not a vector, for empty indices
            d[assigned] = pair_dist[np.flatnonzero(assigned), self.assignment[assigned]]
        self.distance = d
        self.total_distance = float((self.weights * d).sum())
        self.objective = self.total_distance + float(
            self.site_costs[open_mask & ~self._fixed].sum()
        )
        self.covered = assigned
        stats.update(
            demand_after=len(demand),
            sites_after=len(np.unique(np.concatenate([cols, self.fixed_sites]))),
            pairs_after=len(rows),
            pricing_rounds=rounds,
        )
        self.reduction = stats

    def _solve_restricted(
        self,
        rows: NDArray[np.int64],
        cols: NDArray[np.int64],
        dist: NDArray[np.float64],
        weight: NDArray[np.float64],
        demand: NDArray[np.int64],
        time_limit: float | None,
        mip_rel_gap: float,
        options: Mapping[str, Any] | None,
    ) -> tuple[_Assignment, NDArray[np.int64], NDArray[np.int64], int]:
        """Solve on each demand's nearest pairs only, widening them until that is exact.

        Each demand keeps its ``k`` nearest pairs plus a slack standing for all the
        others, priced at the distance of the nearest one left out, a lower bound on any
        of them. The restricted model is thus a relaxation; when its optimum uses no
        slack it is feasible for the full model and so optimal. Demand whose slack is
        used gets twice as many pairs and the model is solved again. The p-median LP is
        dominated by the ``x <= y`` rows, so this is much faster than the full model when
        the open sites are many or the candidates far more than needed.
        """
        capacitated = self.capacity is not None
        open_total = self.p + int(self._fixed.sum())
        deg = np.bincount(rows, minlength=self.n_demand)
        order = np.lexsort((cols, dist, rows))
        rows, cols, dist = rows[order], cols[order], dist[order]
        start = np.zeros(self.n_demand + 1, dtype=np.int64)
        np.cumsum(deg, out=start[1:])
        rank = np.arange(len(rows)) - start[rows]
        if self.reduce:
            k0 = int(np.ceil(_PMEDIAN_K_FACTOR * self.n_sites / max(open_total, 1))) + 2
            k = np.minimum(deg, k0)
        else:
            k = deg.copy()
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        rounds = 0
        while True:
            rounds += 1
            sel = rank < k[rows]
            r, c, d = rows[sel], cols[sel], dist[sel]
            cut = k[demand] < deg[demand]
            slack = np.full(len(demand), np.inf)
            nxt = start[demand[cut]] + k[demand[cut]]
            slack[cut] = weight[demand[cut]] * dist[nxt]
            remaining = None
            if deadline is not None:
                remaining = max(deadline - time.perf_counter(), 1e-3)
            sol = self._solve_assignment(
                rows=r,
                cols=c,
                pair_cost=weight[r] * d,
                load=self.weights[r] if capacitated else None,
                site_cost=self.site_costs,
                demand_rows=demand,
                must_assign=True,
                maximize=False,
                p=self.p,
                p_exact=True,
                budget=None,
                forced=self._fixed,
                binary_assign=capacitated,
                all_sites=True,
                slack_cost=slack,
                time_limit=remaining,
                mip_rel_gap=mip_rel_gap,
                options=options,
            )
            short = sol.slack > 1e-9
            if not short.any():
                return sol, r, c, rounds
            if not sol.res.optimal:
                if capacitated:
                    msg = "no feasible assignment was found within the time limit"
                    raise NoSolutionError(msg)
                # keep the open sites; the caller assigns every demand to its nearest one
                return sol, r, c, rounds
            grow = demand[short]
            k[grow] = np.minimum(deg[grow], 2 * k[grow] + 2)
