"""What the three siting models share: inputs, results, solving, the assignment model."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from planner.siting.highs import constraint_matrix, relative_gap, run_highs
from planner.siting.reduction import csr_from_pairs

if TYPE_CHECKING:
    from collections.abc import Mapping

    import scipy.sparse as sp
    from numpy.typing import NDArray

    from planner.siting.highs import MipResult
    from planner.siting.inputs import Inputs, Pairs

__all__ = ["Assignment", "CoveringModel", "SitingModel", "nearest_open"]


class SitingModel(ABC):
    """Shared input handling, result attributes and solving for the three models.

    Parameters
    ----------
    pairs
        The (demand, site) pairs a site can serve, with their costs.
    inputs
        The checked weights, site costs, fixed sites, capacities and ``reduce``.
    """

    #: The model's identifier: the ``--model`` value and the ``model`` of reports.
    name: ClassVar[str] = "siting"

    def __init__(self, pairs: Pairs, inputs: Inputs) -> None:
        self.pairs = pairs
        self.n_demand, self.n_sites = pairs.shape
        self.weights = inputs.weights
        self.site_costs = inputs.site_costs
        self.fixed_sites = np.flatnonzero(inputs.fixed)
        self._fixed = inputs.fixed
        self.capacity = inputs.capacity
        self.reduce = inputs.reduce
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
        self._bound = np.inf  # the solver's bound on the objective, for the gap
        reach = np.zeros(self.n_demand, dtype=bool)
        reach[pairs.rows] = True
        self.uncoverable = np.flatnonzero(~reach)

    def __repr__(self) -> str:
        head = f"{type(self).__name__}(n_demand={self.n_demand}, n_sites={self.n_sites}"
        if self.objective is None or self.chosen is None:
            return f"{head}, status={self.status!r})"
        return (
            f"{head}, objective={self.objective:g}, chosen={len(self.chosen)}, "
            f"optimal={self.optimal}, status={self.status!r})"
        )

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
            self.gap = relative_gap(self.objective, self._bound)
        self.solve_time = time.perf_counter() - start
        return self

    @abstractmethod
    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        """Build and solve the model (each model class defines it)."""

    def _stats(self) -> dict[str, Any]:
        """The start of :attr:`reduction`: the model's size before reducing."""
        return {
            "demand_before": self.n_demand,
            "sites_before": self.n_sites,
            "uncoverable": len(self.uncoverable),
        }

    def _finish(self, res: MipResult, chosen_mask: NDArray[np.bool_]) -> None:
        """Store the open sites and the solver's verdict."""
        self.chosen = np.flatnonzero(chosen_mask)
        self.optimal = res.optimal
        self.gap = res.gap
        self._bound = res.bound
        self.status = res.status

    def _assign(self, sol: Assignment, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> None:
        """Store an assignment model's solution: its open sites and each demand's site."""
        self._finish(sol.res, sol.open_mask)
        self.assignment = np.full(self.n_demand, -1, dtype=np.int64)
        self.assignment[rows[sol.picked]] = cols[sol.picked]
        self.covered = self.assignment >= 0

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
    ) -> Assignment:
        """Solve an assignment model over the given (demand, site) pairs.

        Variables are one ``y`` per site (every site if ``all_sites``, else those with a
        pair or forced open), one ``x`` per pair and, where ``slack_cost`` is finite, a
        continuous slack per demand that stands in for all its pairs left out. Rows: each
        demand assigned once (``== 1`` if ``must_assign`` else ``<= 1``); ``x <= y`` per
        pair; a capacity row per site if ``load`` is given; the p and budget rows over the
        sites not forced open. The variables and rows are laid out in one place because
        each block's offsets depend on the blocks before it.
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
        res = run_highs(
            cost=np.concatenate(
                [
                    np.where(forced[sites], 0.0, site_cost[sites]),
                    pair_cost,
                    np.zeros(0) if slack_cost is None else slack_cost[slack_at],
                ]
            ),
            matrix=constraint_matrix(row0, n_col, parts),
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
        return Assignment(res, open_mask, np.flatnonzero(res.x[n_y : n_y + n_x] > 0.5), slack)


class Assignment:
    """What :meth:`SitingModel._solve_assignment` found."""

    __slots__ = ("open_mask", "picked", "res", "slack")

    def __init__(
        self,
        res: MipResult,
        open_mask: NDArray[np.bool_],
        picked: NDArray[np.int64],
        slack: NDArray[np.float64],
    ) -> None:
        self.res = res
        self.open_mask = open_mask
        self.picked = picked
        self.slack = slack


class CoveringModel(SitingModel):
    """A covering model (LSCP, MCLP): one formulation without capacities, one with."""

    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        if self.capacity is not None:
            self._solve_capacitated(time_limit, mip_rel_gap, options)
        else:
            self._solve_uncapacitated(time_limit, mip_rel_gap, options)

    @abstractmethod
    def _solve_uncapacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        """Reduce the 0/1 covering model and solve it (each covering model defines it)."""

    @abstractmethod
    def _solve_capacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        """Solve the single-source capacitated model (each covering model defines it)."""

    def _coverage(self) -> tuple[sp.csr_array, NDArray[np.int64], NDArray[np.int64]]:
        """The pairs as a 0/1 demand-by-site matrix, its demand rows with a pair, all sites."""
        cover = csr_from_pairs((self.n_demand, self.n_sites), self.pairs.rows, self.pairs.cols)
        return cover, np.unique(self.pairs.rows), np.arange(self.n_sites)


def nearest_open(pairs: Pairs, open_mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For every demand the nearest open site among its pairs (-1 if none).

    Ties go to the lowest site index; pairs without costs (from a coverage matrix) are
    all equally near.
    """
    keep = open_mask[pairs.cols]
    r, c = pairs.rows[keep], pairs.cols[keep]
    d = pairs.cost[keep] if pairs.cost is not None else np.zeros(len(r))
    order = np.lexsort((c, d, r))
    r, c = r[order], c[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = r[1:] != r[:-1]
    out = np.full(pairs.shape[0], -1, dtype=np.int64)
    out[r[first]] = c[first]
    return out
