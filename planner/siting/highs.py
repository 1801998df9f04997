"""The HiGHS interface of the siting models: one MIP in, its solution or an error out."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import highspy
import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = ["MipResult", "NoSolutionError", "constraint_matrix", "relative_gap", "run_highs"]


class NoSolutionError(RuntimeError):
    """The solver found no feasible solution (infeasible model, or none within the time limit)."""


class MipResult:
    """What HiGHS found: the solution ``x``, its objective, optimality, gap and bound."""

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


def run_highs(
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
) -> MipResult:
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
        return MipResult(np.zeros(0), offset, True, 0.0, "Optimal (solved by reduction)", offset)
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
    return MipResult(x, objective, optimal, gap, status_text, float(info.mip_dual_bound))


def relative_gap(objective: float, bound: float) -> float:
    """Relative distance between a solution's objective and the solver's bound."""
    if not np.isfinite(bound):
        return float("inf")
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), 1e-12)


def constraint_matrix(
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
