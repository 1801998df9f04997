"""The location set covering problem (LSCP): every coverable household, fewest stations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from planner.network import reach_matrix
from planner.siting.highs import NoSolutionError, run_highs
from planner.siting.inputs import check_inputs, check_radius, coverage_pairs, reachable_pairs
from planner.siting.model import CoveringModel, nearest_open
from planner.siting.reduction import (
    MAX_ROUNDS,
    dominated_sites,
    identical_rows,
    submatrix,
    subset_pairs,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike

    from planner.network import WalkGraph

__all__ = ["LSCP"]


class LSCP(CoveringModel):
    """Location set covering: cover all coverable demand at minimum total site cost.

    Build it with :meth:`from_cost_matrix`, :meth:`from_coverage` or
    :meth:`from_walk_graph`, then call :meth:`solve`. ``objective`` is the total cost of the
    *new* sites opened (fixed sites already exist and cost nothing); with all costs 1 it is
    the number of new stations. Demand no candidate reaches is listed in ``uncoverable`` and
    left out of the model.

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

    name: ClassVar[str] = "lscp"

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        service_radius: float,
        weights: ArrayLike | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
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
        weights
            Households per demand point; used only with ``capacity`` (default 1 each).
        site_costs
            Cost of opening each site (default 1 each: minimise the number of stations).
        fixed_sites
            Indices (or a boolean mask) of sites that are already open.
        capacity
            Households a station can serve, one number or one per site (``np.inf``:
            no limit).
        reduce
            Reduce the model before solving (exact; switch off only to compare).

        Returns
        -------
        LSCP
        """
        pairs = reachable_pairs(cost_matrix, check_radius(service_radius))
        return cls(
            pairs,
            check_inputs(
                pairs.shape,
                weights=weights,
                site_costs=site_costs,
                fixed_sites=fixed_sites,
                capacity=capacity,
                reduce=reduce,
                default_cost=1.0,
            ),
        )

    @classmethod
    def from_coverage(
        cls,
        coverage: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        weights: ArrayLike | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> LSCP:
        """Build an LSCP from a demand-by-site 0/1 coverage matrix (dense or sparse).

        Parameters
        ----------
        coverage
            ``coverage[i, j]`` is 1 if site ``j`` covers demand point ``i``. For a sparse
            matrix, nonzero stored entries cover (unlike a sparse cost matrix).
        weights, site_costs, fixed_sites, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        LSCP
        """
        pairs = coverage_pairs(coverage)
        return cls(
            pairs,
            check_inputs(
                pairs.shape,
                weights=weights,
                site_costs=site_costs,
                fixed_sites=fixed_sites,
                capacity=capacity,
                reduce=reduce,
                default_cost=1.0,
            ),
        )

    @classmethod
    def from_walk_graph(
        cls,
        graph: WalkGraph,
        demand: ArrayLike,
        sites: ArrayLike,
        *,
        service_radius: float,
        weights: ArrayLike | None = None,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> LSCP:
        """Build an LSCP on the walking network: costs are walking metres on ``graph``.

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
        service_radius, weights, site_costs, fixed_sites, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        LSCP
        """
        radius = check_radius(service_radius)
        return cls.from_cost_matrix(
            reach_matrix(graph, sites, demand, radius),
            service_radius=radius,
            weights=weights,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
        )

    def _solve_uncapacitated(
        self, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        cover, row_ids, col_ids = self._coverage()
        opened = self._fixed.copy()
        mat = submatrix(cover, row_ids, col_ids)
        stats = self._stats()
        skipped: set[str] = set()
        rounds = 0
        changed = self.reduce
        while changed and rounds < MAX_ROUNDS:
            rounds += 1
            changed = False
            open_cols = opened[col_ids]
            if open_cols.any():
                hit = np.asarray(mat[:, open_cols].sum(axis=1)).ravel() > 0
                mat = submatrix(mat, np.flatnonzero(~hit), np.flatnonzero(~open_cols))
                row_ids, col_ids = row_ids[~hit], col_ids[~open_cols]
                changed = True
            group, first = identical_rows(mat)
            if len(first) < mat.shape[0]:
                mat, row_ids = mat[first], row_ids[first]
                changed = True
            nested = subset_pairs(mat, columns=False)
            if nested is None:
                skipped.add("demand dominance")
            elif len(nested[0]):
                drop = np.zeros(mat.shape[0], dtype=bool)
                drop[nested[1]] = True
                mat, row_ids = mat[~drop], row_ids[~drop]
                changed = True
            dominated = dominated_sites(
                mat, self.site_costs[col_ids], np.zeros(len(col_ids), dtype=bool)
            )
            if dominated is None:
                skipped.add("site dominance")
            elif dominated.any():
                mat, col_ids = (
                    submatrix(mat, np.arange(mat.shape[0]), np.flatnonzero(~dominated)),
                    col_ids[~dominated],
                )
                changed = True
            single = np.diff(mat.indptr) == 1
            if single.any():
                opened[col_ids[mat.indices[mat.indptr[:-1][single]]]] = True
                changed = True
        if not self.reduce:
            # without reduction fixed sites and their demand stay in the model
            mat = submatrix(cover, row_ids, col_ids)
        n_rows, n_cols = mat.shape
        forced = opened[col_ids]
        matrix = sp.csc_array(mat)
        res = run_highs(
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
        self.assignment = nearest_open(self.pairs, chosen)
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
        n = self.n_demand
        rows, cols = self.pairs.rows, self.pairs.cols
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
        self._assign(sol, rows, cols)
        self.objective = float(self.site_costs[sol.open_mask & ~self._fixed].sum())
        self.reduction = {
            **self._stats(),
            "demand_after": len(demand),
            "sites_after": len(np.unique(np.concatenate([cols, np.flatnonzero(forced)]))),
            "pairs_before": len(self.pairs.rows),
            "pairs_after": len(rows),
            "sites_opened_by_reduction": int((forced & ~self._fixed).sum()),
        }
