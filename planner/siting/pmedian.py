"""The p-median problem: least household-weighted walking with p new stations."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from planner.network import reach_matrix
from planner.siting.highs import NoSolutionError
from planner.siting.inputs import (
    check_count,
    check_fixed,
    check_inputs,
    check_radius,
    reachable_pairs,
)
from planner.siting.model import SitingModel, nearest_open
from planner.siting.reduction import csr_from_pairs, identical_rows

if TYPE_CHECKING:
    from collections.abc import Mapping

    import scipy.sparse as sp
    from numpy.typing import ArrayLike, NDArray

    from planner.network import WalkGraph
    from planner.siting.inputs import Inputs, Pairs
    from planner.siting.model import Assignment

__all__ = ["PMedian"]

# each demand starts with this many times (sites / open sites) nearest pairs
_PMEDIAN_K_FACTOR = 2.0


class PMedian(SitingModel):
    """p-median: open ``p`` new sites to minimise the total weighted distance to them.

    Build it with :meth:`from_cost_matrix` or :meth:`from_walk_graph`, then call
    :meth:`solve`. Every demand point is assigned to one open site; ``p`` counts *new*
    sites, opened in addition to the fixed ones, and exactly ``p`` are opened
    (``spopt.locate.PMedian`` counts all open sites, so ours with ``p`` and ``k`` fixed
    sites equals spopt's with ``p + k``).
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

    name: ClassVar[str] = "pmedian"

    def __init__(self, pairs: Pairs, inputs: Inputs, *, p: int) -> None:
        super().__init__(pairs, inputs)
        self.p = p

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: ArrayLike | sp.sparray | sp.spmatrix,
        *,
        service_radius: float | None = None,
        weights: ArrayLike,
        p: int,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> PMedian:
        """Build a p-median model from a demand-by-site cost matrix.

        Parameters
        ----------
        cost_matrix
            Walking cost from each demand point (row) to each candidate site (column).
            Dense: ``np.inf`` marks unreachable pairs. Sparse: every stored entry is a
            reachable pair (a stored 0.0 included), missing entries are unreachable.
        service_radius
            If given, pairs costing more than this cannot be assigned.
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
        reduce
            Reduce the model before solving (exact; switch off only to compare).

        Returns
        -------
        PMedian
        """
        radius = None if service_radius is None else check_radius(service_radius)
        pairs = reachable_pairs(cost_matrix, radius)
        if weights is None:
            msg = "PMedian needs weights (one per demand point)"
            raise ValueError(msg)
        fixed = check_fixed(fixed_sites, pairs.shape[1])
        p = check_count(p, "p")
        n_free = int((~fixed).sum())
        if p > n_free:
            msg = f"p={p} exceeds the {n_free} candidate sites that are not fixed"
            raise ValueError(msg)
        inputs = check_inputs(
            pairs.shape,
            weights=weights,
            site_costs=site_costs,
            fixed_sites=fixed,
            capacity=capacity,
            reduce=reduce,
            default_cost=0.0,
        )
        return cls(pairs, inputs, p=p)

    @classmethod
    def from_walk_graph(
        cls,
        graph: WalkGraph,
        demand: ArrayLike,
        sites: ArrayLike,
        *,
        service_radius: float | None = None,
        weights: ArrayLike,
        p: int,
        site_costs: ArrayLike | None = None,
        fixed_sites: ArrayLike | None = None,
        capacity: float | ArrayLike | None = None,
        reduce: bool = True,
    ) -> PMedian:
        """Build a p-median model on the walking network: costs are walking metres.

        Only the cost matrix is made here (:func:`planner.network.reach_matrix`: every
        pair the network connects, or those within ``service_radius``); the model is then
        built as by :meth:`from_cost_matrix`.

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
        service_radius, weights, p, site_costs, fixed_sites, capacity, reduce
            As in :meth:`from_cost_matrix`.

        Returns
        -------
        PMedian
        """
        radius = None if service_radius is None else check_radius(service_radius)
        return cls.from_cost_matrix(
            reach_matrix(graph, sites, demand, np.inf if radius is None else radius),
            service_radius=radius,
            weights=weights,
            p=p,
            site_costs=site_costs,
            fixed_sites=fixed_sites,
            capacity=capacity,
            reduce=reduce,
        )

    def _solve(
        self, *, time_limit: float | None, mip_rel_gap: float, options: Mapping[str, Any] | None
    ) -> None:
        n, m = self.n_demand, self.n_sites
        rows, cols, dist = self.pairs.rows, self.pairs.cols, self.pairs.cost
        assert dist is not None
        demand = np.unique(rows)
        if demand.size and self.p == 0 and not self._fixed.any():
            msg = "p=0 and no fixed sites: no site can be opened to serve the demand"
            raise NoSolutionError(msg)
        capacitated = self.capacity is not None
        weight = self.weights
        stats = {**self._stats(), "pairs_before": len(rows)}
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
            mat = csr_from_pairs((len(demand), m), np.searchsorted(demand, rows), cols, dist)
            group, first = identical_rows(mat, values=True)
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
        if capacitated:
            self._assign(sol, rows, cols)
        else:
            self._finish(sol.res, open_mask)
            # the nearest open site; with a time limit this may beat the incumbent's own
            self.assignment = nearest_open(self.pairs, open_mask)
        assigned = self.assignment >= 0
        if (assigned[demand] == 0).any():
            msg = "no feasible assignment of all demand was found within the time limit"
            raise NoSolutionError(msg)
        pair_dist = csr_from_pairs((n, m), self.pairs.rows, self.pairs.cols, self.pairs.cost)
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
    ) -> tuple[Assignment, NDArray[np.int64], NDArray[np.int64], int]:
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
