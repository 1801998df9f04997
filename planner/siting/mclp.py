"""The maximal covering location problem (MCLP): most households covered by p new stations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from planner.network import reach_matrix
from planner.siting.highs import constraint_matrix, run_highs
from planner.siting.inputs import (
    check_budget,
    check_count,
    check_inputs,
    check_radius,
    coverage_pairs,
    reachable_pairs,
)
from planner.siting.model import CoveringModel, nearest_open
from planner.siting.reduction import MAX_ROUNDS, dominated_sites, identical_rows, submatrix

if TYPE_CHECKING:
    from collections.abc import Mapping

    import scipy.sparse as sp
    from numpy.typing import ArrayLike

    from planner.network import WalkGraph
    from planner.siting.inputs import Inputs, Pairs

__all__ = ["MCLP"]


class MCLP(CoveringModel):
    """Maximal covering: open ``p`` new sites (or spend a budget) to cover the most weight.

    Build it with :meth:`from_cost_matrix`, :meth:`from_coverage` or
    :meth:`from_walk_graph`, then call :meth:`solve`. Fixed sites are open in addition to
    the ``p`` new ones and their cost does not count against the budget. At most ``p`` new
    sites are opened: when fewer sites already cover everything they can reach, the extra
    ones would add nothing and are not reported. ``objective`` is the total covered weight
    (households), including demand covered by fixed sites.

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

    name: ClassVar[str] = "mclp"

    def __init__(
        self, pairs: Pairs, inputs: Inputs, *, p: int | None, budget: float | None
    ) -> None:
        super().__init__(pairs, inputs)
        self.p = p
        self.budget = budget

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        service_radius: float,
        weights: ArrayLike,
        p: int | None = None,
        budget: float | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
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
        radius = check_radius(service_radius)
        return cls._build(
            reachable_pairs(cost_matrix, radius),
            weights=weights,
            p=p,
            budget=budget,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
        )

    @classmethod
    def from_coverage(
        cls,
        coverage: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        weights: ArrayLike,
        p: int | None = None,
        budget: float | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
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
        return cls._build(
            coverage_pairs(coverage),
            weights=weights,
            p=p,
            budget=budget,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
        )

    @classmethod
    def from_walk_graph(
        cls,
        graph: WalkGraph,
        demand: ArrayLike,
        sites: ArrayLike,
        *,
        service_radius: float,
        weights: ArrayLike,
        p: int | None = None,
        budget: float | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> MCLP:
        """Build an MCLP on the walking network: costs are walking metres on ``graph``.

        Only the cost matrix is made here (:func:`planner.network.reach_matrix`, the
        pairs within ``service_radius``); the model is then built as by
        :meth:`from_cost_matrix`.

        Parameters
        ----------
        graph
            The walking graph (:func:`planner.network.build_walk_graph`).
        demand
            Graph node of each demand point, e.g. ``graph.building_node`` or part of it;
            a negative node (not joined to the network) reaches no site.
        sites
            Graph node of each candidate site, e.g. ``graph.site_node`` (existing
            stations, ``graph.station_node``, may be among them as ``fixed_sites``); a
            negative node reaches no demand.
        service_radius, weights, p, budget, site_costs, fixed_sites, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        MCLP
        """
        radius = check_radius(service_radius)
        return cls.from_cost_matrix(
            reach_matrix(graph, sites, demand, radius),
            service_radius=radius,
            weights=weights,
            p=p,
            budget=budget,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
        )

    @classmethod
    def _build(
        cls,
        pairs: Pairs,
        *,
        weights: ArrayLike,
        p: int | None,
        budget: float | None,
        site_costs: ArrayLike | None,
        fixed_sites: ArrayLike | None,
        capacity: float | ArrayLike | None,
        reduce: bool,
    ) -> MCLP:
        """Check the inputs against the pairs' shape and make the model."""
        if weights is None:
            msg = "MCLP needs weights (one per demand point)"
            raise ValueError(msg)
        if p is None and budget is None:
            msg = "MCLP needs p (number of new sites), budget, or both"
            raise ValueError(msg)
        inputs = check_inputs(
            pairs.shape,
            weights=weights,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
            default_cost=1.0,
        )
        return cls(
            pairs,
            inputs,
            p=None if p is None else check_count(p, "p"),
            budget=None if budget is None else check_budget(budget),
        )

    def _solve_uncapacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        cover, row_ids, col_ids = self._coverage()
        weight = self.weights[row_ids]
        constant = 0.0
        # without a budget site costs play no part, so dominance ignores them
        costs = self.site_costs if self.budget is not None else np.zeros(self.n_sites)
        mat = submatrix(cover, row_ids, col_ids)
        stats = self._stats()
        skipped: set[str] = set()
        rounds = 0
        if self.reduce:
            fixed_cols = self._fixed[col_ids]
            hit = np.asarray(mat[:, fixed_cols].sum(axis=1)).ravel() > 0
            constant = float(weight[hit].sum())
            keep = ~hit & (weight > 0)
            mat = submatrix(mat, np.flatnonzero(keep), np.flatnonzero(~fixed_cols))
            row_ids, col_ids, weight = row_ids[keep], col_ids[~fixed_cols], weight[keep]
        changed = self.reduce
        while changed and rounds < MAX_ROUNDS:
            rounds += 1
            changed = False
            group, first = identical_rows(mat)
            if len(first) < mat.shape[0]:
                weight = np.bincount(group, weights=weight, minlength=len(first)).astype(float)
                mat, row_ids = mat[first], row_ids[first]
                changed = True
            dominated = dominated_sites(mat, costs[col_ids], self._fixed[col_ids])
            if dominated is None:
                skipped.add("site dominance")
            elif dominated.any():
                mat = submatrix(mat, np.arange(mat.shape[0]), np.flatnonzero(~dominated))
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
        res = run_highs(
            cost=np.concatenate([np.zeros(n_cols), weight]),
            matrix=constraint_matrix(n_con, n_cols + n_rows, parts),
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
        self.assignment = nearest_open(self.pairs, chosen)
        self.covered = self.assignment >= 0
        self.objective = float(self.weights[self.covered].sum())
        stats.update(
            demand_after=n_rows, sites_after=n_cols, rounds=rounds, skipped=sorted(skipped)
        )
        self.reduction = stats

    def _solve_capacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        rows, cols = self.pairs.rows, self.pairs.cols
        if self.reduce:
            keep = self._capacitated_pairs(rows, cols) & (self.weights[rows] > 0)
            rows, cols = rows[keep], cols[keep]
        demand = np.unique(rows)
        sol = self._solve_assignment(
            rows=rows,
            cols=cols,
            pair_cost=self.weights[rows],
            load=self.weights[rows],
            site_cost=np.zeros(self.n_sites),
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
        self._assign(sol, rows, cols)
        self.objective = float(self.weights[self.covered].sum())
        self.reduction = {
            **self._stats(),
            "demand_after": len(demand),
            "sites_after": len(np.unique(np.concatenate([cols, self.fixed_sites]))),
            "pairs_before": len(self.pairs.rows),
            "pairs_after": len(rows),
        }
