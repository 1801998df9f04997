"""Tests for planner.siting: known optima, brute force, reductions, agreement with spopt
(on straight-line and on walking-network matrices), and the walking-graph constructors."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from planner.network import build_walk_graph, reach_matrix
from planner.siting import LSCP, MCLP, MODELS, NoSolutionError, PMedian
from planner.store import Store

OSM_DIR = Path("/work/shared/data/osm")

# --------------------------------------------------------------------------------------
# brute-force references for small random cases
# --------------------------------------------------------------------------------------


def _subsets(items, max_size=None):
    items = list(items)
    top = len(items) if max_size is None else min(max_size, len(items))
    for k in range(top + 1):
        yield from itertools.combinations(items, k)


def brute_lscp(cover, costs, fixed):
    n, m = cover.shape
    coverable = cover.any(axis=1)
    free = [j for j in range(m) if j not in fixed]
    best = np.inf
    for sub in _subsets(free):
        open_ = list(fixed) + list(sub)
        if (cover[:, open_].any(axis=1) >= coverable).all():
            best = min(best, costs[list(sub)].sum())
    return best


def brute_mclp(cover, w, p, budget, costs, fixed):
    m = cover.shape[1]
    free = [j for j in range(m) if j not in fixed]
    best = -np.inf
    for sub in _subsets(free, p):
        if budget is not None and costs[list(sub)].sum() > budget + 1e-9:
            continue
        open_ = list(fixed) + list(sub)
        best = max(best, w[cover[:, open_].any(axis=1)].sum())
    return best


def brute_pmedian(dist, w, p, fixed):
    n, m = dist.shape
    free = [j for j in range(m) if j not in fixed]
    reach = np.isfinite(dist).any(axis=1)
    best = np.inf
    for sub in itertools.combinations(free, p):
        open_ = list(fixed) + list(sub)
        near = dist[:, open_].min(axis=1)
        if np.isinf(near[reach]).any():
            continue
        best = min(best, (w[reach] * near[reach]).sum())
    return best


def _assignments(options):
    """Every way to pick one entry from each list."""
    return itertools.product(*options)


def brute_capacitated(dist, w, cap, fixed, *, kind, p=None, costs=None):
    """Single-source capacitated LSCP ('lscp'), MCLP ('mclp') or p-median ('pmedian')."""
    n, m = dist.shape
    reach = [list(np.flatnonzero(np.isfinite(dist[i]))) for i in range(n)]
    options = []
    for i in range(n):
        if not reach[i]:
            options.append([-1])
        elif kind == "mclp":
            options.append([-1, *reach[i]])
        else:
            options.append(reach[i])
    best = -np.inf if kind == "mclp" else np.inf
    for a in _assignments(options):
        a = np.asarray(a)
        load = np.bincount(a[a >= 0], weights=w[a >= 0], minlength=m)
        if (load > cap + 1e-9).any():
            continue
        new = set(a[a >= 0].tolist()) - set(fixed)
        if p is not None and len(new) > p:
            continue
        if kind == "lscp":
            best = min(best, costs[list(new)].sum())
        elif kind == "mclp":
            best = max(best, w[a >= 0].sum())
        else:
            best = min(best, sum(w[i] * dist[i, a[i]] for i in range(n) if a[i] >= 0))
    return best


def _random_case(seed, n=12, m=7, density=0.3):
    rng = np.random.default_rng(seed)
    dist = rng.uniform(0, 100, size=(n, m))
    dist[rng.random((n, m)) > density * 2.5] = np.inf
    w = rng.integers(0, 9, size=n).astype(float)
    costs = rng.integers(1, 4, size=m).astype(float)
    fixed = sorted(rng.choice(m, size=seed % 3, replace=False).tolist())
    return dist, w, costs, fixed


# --------------------------------------------------------------------------------------
# real data: building centroids from OSM extracts, Euclidean distances in UTM 50N
# --------------------------------------------------------------------------------------


@functools.cache
def _buildings(name: str) -> tuple[np.ndarray, np.ndarray]:
    pyogrio = pytest.importorskip("pyogrio")
    path = OSM_DIR / f"{name}.osm"
    if not path.exists():
        pytest.skip(f"{path} not available")
    df = pyogrio.read_dataframe(path, layer="multipolygons")
    df = df[df["building"].notna()].to_crs(32650)
    centroid = df.geometry.centroid
    xy = np.column_stack([centroid.x.to_numpy(), centroid.y.to_numpy()])
    # a household proxy: one household per 50 m2 of footprint, at least one
    households = np.maximum(1, np.round(df.geometry.area.to_numpy() / 50.0))
    return xy, households


def real_case(name: str, *, demand_step: int = 1, site_step: int = 10):
    """Cost matrix (metres), weights, for building centroids and every n-th as a site."""
    from scipy.spatial.distance import cdist

    xy, households = _buildings(name)
    demand = xy[::demand_step]
    sites = xy[::site_step]
    return cdist(demand, sites), households[::demand_step]


def _cbc():
    pulp = pytest.importorskip("pulp")
    return pulp.PULP_CBC_CMD(msg=False)


def _spopt():
    return pytest.importorskip("spopt.locate")


def _mask(m, idx):
    out = np.zeros(m, dtype=int)
    out[list(idx)] = 1
    return out


# --------------------------------------------------------------------------------------
# hand-made cases with known optima
# --------------------------------------------------------------------------------------


def test_lscp_known_optimum():
    # sites 0 and 2 cover everything; no single site does
    coverage = np.array(
        [
            [1, 1, 0, 0],
            [1, 0, 0, 0],
            [0, 1, 1, 0],
            [0, 0, 1, 1],
            [0, 0, 1, 0],
        ]
    )
    model = LSCP.from_coverage(coverage).solve()
    assert model.objective == 2
    assert model.chosen.tolist() == [0, 2]
    assert model.optimal and model.gap == 0.0
    assert model.covered.all()
    assert model.uncoverable.size == 0
    assert model.status == "Optimal" or model.status.startswith("Optimal")


def test_lscp_ties_keep_exactly_one_equivalent_site():
    # sites 0, 1 and 2 reach the same demand at the same cost: one is enough
    coverage = np.array([[1, 1, 1], [1, 1, 1]])
    model = LSCP.from_coverage(coverage).solve()
    assert model.objective == 1
    assert len(model.chosen) == 1
    assert model.reduction["sites_after"] <= 1


def test_lscp_site_costs_prefer_two_cheap_sites():
    coverage = np.array([[1, 1, 0], [1, 0, 1]])
    model = LSCP.from_coverage(coverage, site_costs=[5.0, 2.0, 2.0]).solve()
    assert model.objective == 4.0
    assert model.chosen.tolist() == [1, 2]
    cheap = LSCP.from_coverage(coverage, site_costs=[3.0, 2.0, 2.0]).solve()
    assert cheap.objective == 3.0
    assert cheap.chosen.tolist() == [0]


def test_lscp_fixed_sites_are_free_and_reported():
    coverage = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]])
    model = LSCP.from_coverage(coverage, fixed_sites=[0]).solve()
    # demand 0 and 1 are covered by the existing station; site 2 covers the rest
    assert model.objective == 1
    assert model.chosen.tolist() == [0, 2]
    mask = LSCP.from_coverage(coverage, fixed_sites=np.array([True, False, False])).solve()
    assert mask.chosen.tolist() == [0, 2]


def test_uncoverable_demand_is_reported_not_infeasible():
    cost = np.array(
        [
            [100.0, np.inf],
            [np.inf, 200.0],
            [900.0, np.inf],  # beyond the radius of every site
            [np.inf, np.inf],  # no route at all
        ]
    )
    lscp = LSCP.from_cost_matrix(cost, service_radius=500).solve()
    assert lscp.uncoverable.tolist() == [2, 3]
    assert lscp.objective == 2
    assert lscp.covered.tolist() == [True, True, False, False]
    assert lscp.assignment.tolist() == [0, 1, -1, -1]
    mclp = MCLP.from_cost_matrix(cost, service_radius=500, weights=[1, 2, 4, 8], p=1).solve()
    assert mclp.uncoverable.tolist() == [2, 3]
    assert mclp.objective == 2
    assert mclp.chosen.tolist() == [1]
    pmed = PMedian.from_cost_matrix(cost, weights=[1, 1, 1, 1], p=2).solve()
    assert pmed.uncoverable.tolist() == [3]
    assert pmed.objective == pytest.approx(100 + 200 + 900)
    assert pmed.assignment.tolist() == [0, 1, 0, -1]


def test_mclp_known_optimum_and_budget():
    coverage = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]])
    weights = [10, 10, 10, 25]
    one = MCLP.from_coverage(coverage, weights=weights, p=1).solve()
    assert one.objective == 25 and one.chosen.tolist() == [2]
    two = MCLP.from_coverage(coverage, weights=weights, p=2).solve()
    assert two.objective == 45
    assert two.covered.tolist() == [True, True, False, True] or two.covered.tolist() == [
        False,
        True,
        True,
        True,
    ]
    # site 2 is expensive: with budget 3 the best is sites 0 and 1
    budget = MCLP.from_coverage(coverage, weights=weights, budget=3, site_costs=[1, 2, 3]).solve()
    assert budget.objective == 30
    assert budget.chosen.tolist() == [0, 1]
    both = MCLP.from_coverage(
        coverage, weights=weights, p=1, budget=3, site_costs=[1, 2, 3]
    ).solve()
    assert both.objective == 25


def test_mclp_p_counts_new_sites_only():
    coverage = np.eye(4, dtype=int)
    model = MCLP.from_coverage(coverage, weights=[1, 2, 3, 4], p=1, fixed_sites=[0]).solve()
    assert model.chosen.tolist() == [0, 3]
    assert model.objective == 5
    budget = MCLP.from_coverage(
        coverage, weights=[1, 2, 3, 4], budget=1, site_costs=[9, 1, 1, 1], fixed_sites=[0]
    ).solve()
    assert budget.chosen.tolist() == [0, 3]


def test_mclp_opens_at_most_p_sites():
    coverage = np.array([[1, 1], [1, 1]])
    model = MCLP.from_coverage(coverage, weights=[1, 1], p=2).solve()
    assert model.objective == 2
    assert 1 <= len(model.chosen) <= 2


def test_pmedian_known_optimum_and_fixed():
    # demand on a line at 0, 1, 10, 11; sites at the same places
    pos = np.array([0.0, 1.0, 10.0, 11.0])
    cost = np.abs(pos[:, None] - pos[None, :])
    model = PMedian.from_cost_matrix(cost, weights=[1, 1, 1, 1], p=2).solve()
    assert model.objective == pytest.approx(2.0)
    assert len(model.chosen) == 2
    assert model.chosen[0] in (0, 1) and model.chosen[1] in (2, 3)
    # p counts new sites: one fixed at 0 plus one new
    fixed = PMedian.from_cost_matrix(cost, weights=[1, 1, 1, 1], p=1, fixed_sites=[0]).solve()
    assert fixed.chosen[0] == 0 and len(fixed.chosen) == 2
    assert fixed.objective == pytest.approx(2.0)
    assert fixed.assignment[:2].tolist() == [0, 0]
    # heavy demand at 11 pulls the site there
    heavy = PMedian.from_cost_matrix(cost, weights=[1, 1, 1, 5], p=1, fixed_sites=[0]).solve()
    assert heavy.chosen.tolist() == [0, 3]
    assert heavy.objective == pytest.approx(1 + 1 + 0 + 0)


def test_pmedian_site_costs_add_to_objective():
    pos = np.array([0.0, 10.0])
    cost = np.abs(pos[:, None] - pos[None, :])
    model = PMedian.from_cost_matrix(cost, weights=[1, 3], p=1, site_costs=[0.0, 100.0]).solve()
    # site 1 saves 30 - 10 = 20 of distance but costs 100
    assert model.chosen.tolist() == [0]
    assert model.objective == pytest.approx(30.0)
    assert model.total_distance == pytest.approx(30.0)


def test_pmedian_service_radius_and_sparse_missing_pairs_are_unreachable():
    cost = np.array([[0.0, 50.0], [80.0, 5.0], [300.0, 40.0]])
    dense = PMedian.from_cost_matrix(cost, weights=[1, 1, 1], p=1, service_radius=100).solve()
    assert dense.chosen.tolist() == [1]
    assert dense.objective == pytest.approx(95.0)
    rows, cols = np.nonzero(cost <= 100)
    sparse = sp.csr_array((cost[rows, cols], (rows, cols)), shape=cost.shape)
    model = PMedian.from_cost_matrix(sparse, weights=[1, 1, 1], p=1).solve()
    assert model.chosen.tolist() == [1]
    assert model.objective == pytest.approx(95.0)
    # site 0 alone cannot reach demand 2 within the radius: infeasible with p=1
    with pytest.raises(NoSolutionError, match="infeasible"):
        PMedian.from_cost_matrix(
            cost, weights=[1, 1, 1], p=0, fixed_sites=[0], service_radius=100
        ).solve()


def test_sparse_explicit_zero_distance_is_reachable():
    # demand 0 sits exactly at site 0: the stored 0.0 must count as a reachable pair
    rows = np.array([0, 1, 1])
    cols = np.array([0, 0, 1])
    vals = np.array([0.0, 300.0, 100.0])
    cost = sp.csr_matrix((vals, (rows, cols)), shape=(2, 2))
    assert cost.nnz == 3
    lscp = LSCP.from_cost_matrix(cost, service_radius=500).solve()
    assert lscp.uncoverable.size == 0
    assert lscp.chosen.tolist() == [0]
    mclp = MCLP.from_cost_matrix(cost, service_radius=50, weights=[5, 1], p=1).solve()
    assert mclp.chosen.tolist() == [0] and mclp.objective == 5
    pmed = PMedian.from_cost_matrix(cost, weights=[1, 1], p=1).solve()
    assert pmed.chosen.tolist() == [0] and pmed.objective == pytest.approx(300.0)


@pytest.mark.parametrize("seed", range(6))
def test_sparse_and_dense_input_agree(seed):
    dist, w, costs, fixed = _random_case(seed, n=30, m=10)
    rows, cols = np.nonzero(np.isfinite(dist))
    sparse = sp.coo_array((dist[rows, cols], (rows, cols)), shape=dist.shape).tocsr()
    radius = 60.0
    for a, b in [
        (
            LSCP.from_cost_matrix(dist, service_radius=radius),
            LSCP.from_cost_matrix(sparse, service_radius=radius),
        ),
        (
            MCLP.from_cost_matrix(dist, service_radius=radius, weights=w, p=2, fixed_sites=fixed),
            MCLP.from_cost_matrix(sparse, service_radius=radius, weights=w, p=2, fixed_sites=fixed),
        ),
    ]:
        assert a.solve().objective == b.solve().objective
        assert a.uncoverable.tolist() == b.uncoverable.tolist()
    try:
        pa = PMedian.from_cost_matrix(dist, weights=w, p=3, fixed_sites=fixed).solve()
    except NoSolutionError:
        with pytest.raises(NoSolutionError):
            PMedian.from_cost_matrix(sparse, weights=w, p=3, fixed_sites=fixed).solve()
        return
    pb = PMedian.from_cost_matrix(sparse, weights=w, p=3, fixed_sites=fixed).solve()
    assert pa.objective == pytest.approx(pb.objective, rel=1e-9)


# --------------------------------------------------------------------------------------
# brute force on small random cases, reduced and unreduced
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("reduce", [True, False])
def test_lscp_matches_brute_force(seed, reduce):
    dist, w, costs, fixed = _random_case(seed)
    cover = np.isfinite(dist)
    model = LSCP.from_coverage(
        cover.astype(int), site_costs=costs, fixed_sites=fixed, reduce=reduce
    ).solve()
    assert model.objective == pytest.approx(brute_lscp(cover, costs, fixed))
    assert set(fixed) <= set(model.chosen.tolist())
    assert model.covered.tolist() == cover.any(axis=1).tolist()
    # the objective is the cost of the new sites actually chosen
    new = np.setdiff1d(model.chosen, fixed)
    assert model.objective == pytest.approx(costs[new].sum())
    unit = LSCP.from_cost_matrix(dist, service_radius=100.0, reduce=reduce).solve()
    assert unit.objective == brute_lscp(cover, np.ones(dist.shape[1]), [])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("reduce", [True, False])
def test_mclp_matches_brute_force(seed, reduce):
    dist, w, costs, fixed = _random_case(seed)
    cover = np.isfinite(dist) & (dist <= 70)
    for p, budget in [(1, None), (2, None), (3, None), (None, 4.0), (2, 3.0), (0, None)]:
        model = MCLP.from_cost_matrix(
            dist,
            service_radius=70,
            weights=w,
            p=p,
            budget=budget,
            site_costs=costs,
            fixed_sites=fixed,
            reduce=reduce,
        ).solve()
        expected = brute_mclp(cover, w, p, budget, costs, fixed)
        assert model.objective == pytest.approx(expected), (p, budget)
        new = np.setdiff1d(model.chosen, fixed)
        if p is not None:
            assert len(new) <= p
        if budget is not None:
            assert costs[new].sum() <= budget + 1e-9
        assert model.objective == pytest.approx(w[model.covered].sum())


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("reduce", [True, False])
def test_pmedian_matches_brute_force(seed, reduce):
    dist, w, costs, fixed = _random_case(seed, density=0.5)
    for p in (1, 2, 3):
        expected = brute_pmedian(dist, w, p, fixed)
        model = PMedian.from_cost_matrix(dist, weights=w, p=p, fixed_sites=fixed, reduce=reduce)
        if np.isinf(expected):
            with pytest.raises(NoSolutionError):
                model.solve()
            continue
        model.solve()
        assert model.objective == pytest.approx(expected, rel=1e-9)
        assert len(np.setdiff1d(model.chosen, fixed)) == p
        assert set(fixed) <= set(model.chosen.tolist())
        reach = np.isfinite(dist).any(axis=1)
        assert (model.assignment[reach] >= 0).all()
        assert (model.assignment[~reach] == -1).all()


# --------------------------------------------------------------------------------------
# capacity
# --------------------------------------------------------------------------------------


def _capacity_case(seed):
    rng = np.random.default_rng(100 + seed)
    n, m = 6, 4
    dist = rng.uniform(0, 100, size=(n, m))
    dist[rng.random((n, m)) < 0.35] = np.inf
    w = rng.integers(1, 6, size=n).astype(float)
    cap = rng.integers(5, 12, size=m).astype(float)
    costs = rng.integers(1, 4, size=m).astype(float)
    fixed = [0] if seed % 2 else []
    return dist, w, cap, costs, fixed


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("reduce", [True, False])
def test_capacitated_models_match_brute_force(seed, reduce):
    dist, w, cap, costs, fixed = _capacity_case(seed)
    # LSCP: every coverable demand assigned to a covering open site within capacity
    expected = brute_capacitated(dist, w, cap, fixed, kind="lscp", costs=costs)
    model = LSCP.from_cost_matrix(
        dist,
        service_radius=100,
        site_costs=costs,
        fixed_sites=fixed,
        weights=w,
        capacity=cap,
        reduce=reduce,
    )
    if np.isinf(expected):
        with pytest.raises(NoSolutionError):
            model.solve()
    else:
        model.solve()
        assert model.objective == pytest.approx(expected)
        _check_capacity(model, w, cap, dist)
        reach = np.isfinite(dist).any(axis=1)
        assert (model.assignment[reach] >= 0).all()
    # MCLP: capacitated coverage with p new sites
    for p in (1, 2):
        expected = brute_capacitated(dist, w, cap, fixed, kind="mclp", p=p)
        model = MCLP.from_cost_matrix(
            dist, service_radius=100, weights=w, p=p, fixed_sites=fixed, capacity=cap, reduce=reduce
        ).solve()
        assert model.objective == pytest.approx(expected)
        _check_capacity(model, w, cap, dist)
        assert len(np.setdiff1d(model.chosen, fixed)) <= p
    # p-median with capacity
    p = 2
    expected = brute_capacitated(dist, w, cap, fixed, kind="pmedian", p=p)
    model = PMedian.from_cost_matrix(
        dist, weights=w, p=p, fixed_sites=fixed, capacity=cap, reduce=reduce
    )
    if np.isinf(expected):
        with pytest.raises(NoSolutionError):
            model.solve()
    else:
        model.solve()
        assert model.objective == pytest.approx(expected, rel=1e-9)
        _check_capacity(model, w, cap, dist)


def _check_capacity(model, w, cap, dist):
    a = model.assignment
    assert ((a >= 0) == model.covered).all()
    assert np.isin(a[a >= 0], model.chosen).all()
    assert np.isfinite(dist[np.flatnonzero(a >= 0), a[a >= 0]]).all()
    load = np.bincount(a[a >= 0], weights=w[a >= 0], minlength=len(cap))
    assert (load <= cap + 1e-9).all()


def test_capacity_known_case():
    # three buildings of 300 households, stations hold 500: each station takes one building
    cost = np.zeros((3, 2))
    lscp = LSCP.from_cost_matrix(cost, service_radius=100, weights=[300, 300, 300], capacity=500)
    with pytest.raises(NoSolutionError, match="infeasible"):
        lscp.solve()
    mclp = MCLP.from_cost_matrix(
        cost, service_radius=100, weights=[300, 300, 300], p=2, capacity=500
    ).solve()
    assert mclp.objective == 600
    assert mclp.covered.sum() == 2
    assert len(set(mclp.assignment[mclp.covered].tolist())) == 2
    bigger = LSCP.from_cost_matrix(
        cost, service_radius=100, weights=[300, 300, 200], capacity=500
    ).solve()
    assert bigger.objective == 2
    pmed = PMedian.from_cost_matrix(
        np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]]),
        weights=[300, 300, 100],
        p=2,
        capacity=500,
    ).solve()
    # site 0 takes 300 + 100 households, the other 300 walk 10 m to site 1
    assert pmed.objective == pytest.approx(3000.0)
    assert sorted(pmed.assignment.tolist()) == [0, 0, 1]


def test_capacity_too_small_for_a_building_is_a_clear_error():
    cost = np.zeros((2, 2))
    with pytest.raises(NoSolutionError, match="exceeds the capacity"):
        LSCP.from_cost_matrix(cost, service_radius=10, weights=[600, 10], capacity=500).solve()
    with pytest.raises(NoSolutionError, match="exceeds the capacity"):
        PMedian.from_cost_matrix(cost, weights=[600, 10], p=1, capacity=500).solve()
    # MCLP just leaves it uncovered
    mclp = MCLP.from_cost_matrix(
        cost, service_radius=10, weights=[600, 10], p=1, capacity=500
    ).solve()
    assert mclp.objective == 10


# --------------------------------------------------------------------------------------
# time limit, errors and validation
# --------------------------------------------------------------------------------------


def _hard_mclp():
    rng = np.random.default_rng(1)
    coverage = sp.csr_array((rng.random((400, 200)) < 0.03).astype(int))
    weights = rng.integers(1, 50, size=400)
    return coverage, weights


def test_time_limit_returns_incumbent_with_gap():
    coverage, weights = _hard_mclp()
    try:
        model = MCLP.from_coverage(coverage, weights=weights, p=15).solve(time_limit=0.1)
    except NoSolutionError as err:  # pragma: no cover - depends on machine speed
        assert "no feasible solution" in str(err)
        return
    assert model.solve_time < 5
    if not model.optimal:
        assert model.gap > 0
        assert "time limit" in model.status.lower()
    assert model.objective == pytest.approx(weights[model.covered].sum())
    assert len(model.chosen) <= 15


def test_no_incumbent_raises_clear_error():
    coverage, weights = _hard_mclp()
    model = MCLP.from_coverage(coverage, weights=weights, p=15)
    try:
        model.solve(highs_options={"mip_max_nodes": 0})
    except NoSolutionError as err:
        assert "no feasible solution" in str(err)
    else:  # pragma: no cover - a root heuristic may find one on other HiGHS versions
        assert model.optimal is False


def test_pmedian_time_limit_path():
    rng = np.random.default_rng(3)
    xy = rng.random((150, 2)) * 1000
    cost = np.hypot(*(xy[:, None, :] - xy[None, ::3, :]).transpose(2, 0, 1))
    w = rng.integers(1, 20, size=150)
    exact = PMedian.from_cost_matrix(cost, weights=w, p=8).solve()
    assert exact.optimal
    try:
        quick = PMedian.from_cost_matrix(cost, weights=w, p=8).solve(time_limit=0.02)
    except NoSolutionError:
        return
    assert quick.objective >= exact.objective * (1 - 1e-9)
    if not quick.optimal:
        assert quick.gap >= 0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: LSCP.from_cost_matrix(np.zeros(3), service_radius=1), "2-dimensional"),
        (lambda: LSCP.from_cost_matrix(np.full((2, 2), np.nan), service_radius=1), "NaN"),
        (lambda: LSCP.from_cost_matrix(-np.ones((2, 2)), service_radius=1), "non-negative"),
        (lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius=-1), "service_radius"),
        (lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius="far"), "service_radius"),
        (
            lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius=1, site_costs=[1]),
            "length 2",
        ),
        (
            lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius=1, site_costs=[1, -1]),
            "non-neg",
        ),
        (
            lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius=1, fixed_sites=[2]),
            "out of range",
        ),
        (
            lambda: LSCP.from_cost_matrix(np.ones((2, 2)), service_radius=1, fixed_sites=[0.5]),
            "integer",
        ),
        (lambda: LSCP.from_coverage(np.array([[0, 2]])), "only 0 and 1"),
        (lambda: LSCP.from_coverage(np.ones((2, 2)), capacity=[1, 2, 3]), "capacity"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1]), "p .*budget"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1, 1], p=1), "length 2"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, -1], p=1), "non-negative"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=3, p=1), "scalar"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], p=-1), "p must be"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], p=1.5), "p must be"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], p=True), "p must be"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], budget=-2), "budget"),
        (lambda: MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], p=None, budget="x"), "budget"),
        (lambda: PMedian.from_cost_matrix(np.ones((2, 2)), weights=[1, 1], p=3), "exceeds"),
        (
            lambda: PMedian.from_cost_matrix(np.ones((2, 2)), weights=[1, 1], p=2, fixed_sites=[0]),
            "exc",
        ),
        (lambda: PMedian.from_cost_matrix(np.ones((2, 2)), weights=None, p=1), "weights"),
        (lambda: PMedian.from_cost_matrix(np.ones((2, 3)), weights=[1, 1, 1], p=1), "length 2"),
        (lambda: LSCP.from_coverage(np.ones((2, 2))).solve(time_limit=0), "time_limit"),
        (
            lambda: LSCP.from_coverage(np.ones((2, 2))).solve(highs_options={"no_such": 1}),
            "rejected",
        ),
    ],
)
def test_validation_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_pmedian_zero_sites_is_an_error():
    with pytest.raises(NoSolutionError, match="p=0"):
        PMedian.from_cost_matrix(np.ones((2, 2)), weights=[1, 1], p=0).solve()


def test_empty_model_after_reduction():
    # every demand has a single cover: the reduction solves the model by itself
    model = LSCP.from_coverage(np.eye(3, dtype=int)).solve()
    assert model.objective == 3
    assert model.reduction["demand_after"] == 0
    assert model.reduction["sites_opened_by_reduction"] == 3
    assert model.optimal


def test_repr_and_solve_returns_self():
    model = LSCP.from_coverage(np.eye(2, dtype=int))
    assert "not solved" in repr(model)
    assert model.solve() is model
    assert "objective=2" in repr(model)


# --------------------------------------------------------------------------------------
# reductions keep the optimum on real data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [300.0, 500.0, 800.0])
def test_real_lscp_reduction_keeps_optimum(radius):
    cost, _ = real_case("nanjing_xinjiekou")
    fixed = [3, 40]
    reduced = LSCP.from_cost_matrix(cost, service_radius=radius, fixed_sites=fixed).solve()
    full = LSCP.from_cost_matrix(
        cost, service_radius=radius, fixed_sites=fixed, reduce=False
    ).solve()
    assert reduced.objective == full.objective
    assert reduced.covered.tolist() == full.covered.tolist()
    assert reduced.reduction["demand_after"] < reduced.reduction["demand_before"]
    assert reduced.reduction["sites_after"] < reduced.reduction["sites_before"]


@pytest.mark.parametrize("p", [3, 8])
def test_real_mclp_reduction_keeps_optimum(p):
    cost, w = real_case("beijing_tsinghua")
    costs = 1.0 + (np.arange(cost.shape[1]) % 3)
    for kwargs in ({"p": p}, {"budget": 2.0 * p, "site_costs": costs}):
        reduced = MCLP.from_cost_matrix(
            cost, service_radius=400, weights=w, fixed_sites=[5], **kwargs
        ).solve()
        full = MCLP.from_cost_matrix(
            cost, service_radius=400, weights=w, fixed_sites=[5], reduce=False, **kwargs
        ).solve()
        assert reduced.objective == full.objective
        assert reduced.reduction["demand_after"] < reduced.reduction["demand_before"]


def test_real_pmedian_reduction_keeps_optimum():
    cost, w = real_case("beijing_tsinghua", demand_step=3, site_step=12)
    for fixed in ([], [0, 20]):
        reduced = PMedian.from_cost_matrix(cost, weights=w, p=4, fixed_sites=fixed).solve()
        full = PMedian.from_cost_matrix(
            cost, weights=w, p=4, fixed_sites=fixed, reduce=False
        ).solve()
        assert reduced.objective == pytest.approx(full.objective, rel=1e-9)


def test_real_pmedian_identical_rows_are_merged():
    cost, w = real_case("beijing_tsinghua", demand_step=3, site_step=12)
    doubled = np.vstack([cost, cost])
    model = PMedian.from_cost_matrix(doubled, weights=np.concatenate([w, w]), p=3).solve()
    single = PMedian.from_cost_matrix(cost, weights=w, p=3).solve()
    assert model.reduction["demand_after"] <= cost.shape[0]
    assert model.objective == pytest.approx(2 * single.objective, rel=1e-9)
    assert (model.assignment[: len(w)] == model.assignment[len(w) :]).all()


def test_real_capacitated_mclp_reduction_keeps_optimum():
    cost, w = real_case("beijing_tsinghua", demand_step=4, site_step=15)
    cap = 0.3 * w.sum()
    reduced = MCLP.from_cost_matrix(cost, service_radius=500, weights=w, p=3, capacity=cap).solve()
    full = MCLP.from_cost_matrix(
        cost, service_radius=500, weights=w, p=3, capacity=cap, reduce=False
    ).solve()
    assert reduced.objective == full.objective
    assert reduced.objective <= 3 * cap


# --------------------------------------------------------------------------------------
# agreement with spopt (pulp + CBC) on real data
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "radius", "fixed"),
    [
        ("nanjing_xinjiekou", 400.0, []),
        ("nanjing_xinjiekou", 400.0, [10, 60]),
        ("beijing_tsinghua", 300.0, []),
    ],
)
def test_lscp_agrees_with_spopt(name, radius, fixed):
    locate = _spopt()
    cost, _ = real_case(name)
    ours = LSCP.from_cost_matrix(cost, service_radius=radius, fixed_sites=fixed).solve()
    # spopt makes uncoverable demand infeasible, so it gets the coverable rows only
    coverable = (cost <= radius).any(axis=1)
    pre = _mask(cost.shape[1], fixed) if fixed else None
    theirs = locate.LSCP.from_cost_matrix(
        cost[coverable], radius, predefined_facilities_arr=pre
    ).solve(_cbc())
    spopt_count = sum(v.value() > 0.5 for v in theirs.fac_vars)
    assert ours.objective + len(fixed) == spopt_count
    assert len(ours.chosen) == spopt_count
    assert ours.covered.sum() == coverable.sum()


@pytest.mark.parametrize(
    ("name", "radius", "p", "fixed"),
    [
        ("nanjing_xinjiekou", 400.0, 5, []),
        ("nanjing_xinjiekou", 400.0, 10, [10]),
        ("beijing_tsinghua", 300.0, 5, []),
    ],
)
def test_mclp_agrees_with_spopt(name, radius, p, fixed):
    locate = _spopt()
    pulp = pytest.importorskip("pulp")
    cost, w = real_case(name)
    ours = MCLP.from_cost_matrix(
        cost, service_radius=radius, weights=w, p=p, fixed_sites=fixed
    ).solve()
    pre = _mask(cost.shape[1], fixed) if fixed else None
    # spopt's p counts every open site, fixed ones included
    theirs = locate.MCLP.from_cost_matrix(
        cost, w, radius, p_facilities=p + len(fixed), predefined_facilities_arr=pre
    ).solve(_cbc())
    assert ours.objective == pytest.approx(pulp.value(theirs.problem.objective), abs=1e-6)


@pytest.mark.parametrize(
    ("name", "demand_step", "site_step", "p", "fixed"),
    [
        ("beijing_tsinghua", 2, 10, 5, []),
        ("nanjing_xinjiekou", 6, 20, 4, [0, 30]),
    ],
)
def test_pmedian_agrees_with_spopt(name, demand_step, site_step, p, fixed):
    locate = _spopt()
    pulp = pytest.importorskip("pulp")
    cost, w = real_case(name, demand_step=demand_step, site_step=site_step)
    ours = PMedian.from_cost_matrix(cost, weights=w, p=p, fixed_sites=fixed).solve()
    pre = _mask(cost.shape[1], fixed) if fixed else None
    theirs = locate.PMedian.from_cost_matrix(
        cost, w, p_facilities=p + len(fixed), predefined_facilities_arr=pre
    ).solve(_cbc())
    assert ours.objective == pytest.approx(pulp.value(theirs.problem.objective), rel=1e-6)
    assert len(ours.chosen) == p + len(fixed)


@pytest.mark.slow
def test_pmedian_agrees_with_spopt_larger():
    locate = _spopt()
    pulp = pytest.importorskip("pulp")
    cost, w = real_case("nanjing_xinjiekou", demand_step=3, site_step=10)
    ours = PMedian.from_cost_matrix(cost, weights=w, p=5).solve()
    theirs = locate.PMedian.from_cost_matrix(cost, w, p_facilities=5).solve(_cbc())
    assert ours.objective == pytest.approx(pulp.value(theirs.problem.objective), rel=1e-6)


def test_unlimited_capacity_site():
    # the community centre (site 0) has no limit; the room (site 1) holds 100 households
    cost = np.array([[10.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    model = PMedian.from_cost_matrix(
        cost, weights=[80, 80, 500], p=1, fixed_sites=[0], capacity=[np.inf, 100]
    ).solve()
    assert model.chosen.tolist() == [0, 1]
    assert model.objective == pytest.approx(80 * 10.0)
    assert sorted(model.assignment.tolist()) == [0, 0, 1]
    with pytest.raises(ValueError, match="capacity"):
        MCLP.from_coverage(np.ones((2, 2)), weights=[1, 1], p=1, capacity=[np.nan, 1])


def test_sparse_gram_path_and_skipped_reduction(monkeypatch):
    import planner.siting.reduction as reduction

    cost, w = real_case("nanjing_xinjiekou")
    expected = LSCP.from_cost_matrix(cost, service_radius=400, reduce=False).solve().objective
    expected_mclp = (
        MCLP.from_cost_matrix(cost, service_radius=400, weights=w, p=6, reduce=False)
        .solve()
        .objective
    )
    # force the sparse Gram products used by the dominance tests
    monkeypatch.setattr(reduction, "_DENSE_GRAM_LIMIT", 0)
    sparse = LSCP.from_cost_matrix(cost, service_radius=400).solve()
    assert sparse.objective == expected
    assert sparse.reduction["skipped"] == []
    assert (
        MCLP.from_cost_matrix(cost, service_radius=400, weights=w, p=6).solve().objective
        == expected_mclp
    )
    # and a budget so small that the dominance tests are skipped, and reported
    monkeypatch.setattr(reduction, "_SPARSE_GRAM_LIMIT", 0)
    skipped = LSCP.from_cost_matrix(cost, service_radius=400).solve()
    assert skipped.objective == expected
    assert "site dominance" in skipped.reduction["skipped"]
    mclp = MCLP.from_cost_matrix(cost, service_radius=400, weights=w, p=6).solve()
    assert mclp.objective == expected_mclp


@pytest.mark.parametrize("values", [False, True])
def test_identical_rows_grouping(values):
    from planner.siting.reduction import identical_rows

    rng = np.random.default_rng(7)
    base = (rng.random((6, 9)) < 0.4) * rng.integers(0, 3, size=(6, 9)).astype(float)
    pick = rng.integers(0, 6, size=40)
    dense = base[pick]
    mat = sp.csr_array(dense)
    mat.sort_indices()
    group, first = identical_rows(mat, values=values)
    key = []
    for i in range(40):
        lo, hi = mat.indptr[i], mat.indptr[i + 1]
        entry = tuple(mat.indices[lo:hi])
        key.append(entry + tuple(mat.data[lo:hi]) if values else entry)
    for i in range(40):
        for j in range(40):
            assert (group[i] == group[j]) == (key[i] == key[j])
    assert (
        first == np.array([min(k for k in range(40) if group[k] == g) for g in range(len(first))])
    ).all()


# --------------------------------------------------------------------------------------
# siting on the network matrices agrees with spopt
# --------------------------------------------------------------------------------------


def _network_case(path, limit):
    store = Store(path)
    graph = build_walk_graph(store)
    households = store.read("buildings")["households"].to_numpy()
    demand = np.flatnonzero((households > 0) & (graph.building_node >= 0))
    sites = graph.site_node[graph.site_node >= 0]
    cost = reach_matrix(graph, sites, graph.building_node[demand], limit)
    return cost, households[demand].astype(float)


@pytest.mark.parametrize("area", ["nanjing_path", "tsinghua_path"])
def test_lscp_and_mclp_equal_spopt_on_network_matrix(area, request):
    locate = pytest.importorskip("spopt.locate")
    pulp = pytest.importorskip("pulp")
    limit = 600.0
    cost, weights = _network_case(request.getfixturevalue(area), limit)
    dense = np.where(cost.toarray() > 0, cost.toarray(), np.inf)
    coo = cost.tocoo()
    dense[coo.row, coo.col] = coo.data  # stored zeros are reachable
    ours = LSCP.from_cost_matrix(cost, service_radius=limit).solve()
    coverable = np.isfinite(dense).any(axis=1)
    theirs = locate.LSCP.from_cost_matrix(dense[coverable], limit).solve(_cbc())
    assert ours.objective == pytest.approx(pulp.value(theirs.problem.objective))
    for p in (2, 4):
        mine = MCLP.from_cost_matrix(cost, service_radius=limit, weights=weights, p=p).solve()
        spopt_model = locate.MCLP.from_cost_matrix(
            np.where(np.isfinite(dense), dense, 1e9), weights, limit, p_facilities=p
        ).solve(_cbc())
        assert mine.objective == pytest.approx(pulp.value(spopt_model.problem.objective))


@pytest.mark.parametrize("area", ["nanjing_path", "tsinghua_path"])
def test_pmedian_equals_spopt_on_network_matrix(area, request):
    locate = pytest.importorskip("spopt.locate")
    pulp = pytest.importorskip("pulp")
    cost, weights = _network_case(request.getfixturevalue(area), np.inf)
    # spopt needs every pair finite: the sites of the main network and the demand they
    # all reach (a sample of it, to keep CBC quick)
    reached = cost.tocsc()
    main = np.diff(reached.indptr) == np.diff(reached.indptr).max()
    sub = cost.tocsr()[:, np.flatnonzero(main)]
    rows = np.flatnonzero(np.diff(sub.indptr) == main.sum())[::4]
    assert len(rows) > 50 and main.sum() >= 5
    dense, weights = sub[rows].toarray(), weights[rows]
    ours = PMedian.from_cost_matrix(dense, weights=weights, p=3).solve()
    theirs = locate.PMedian.from_cost_matrix(dense, weights, p_facilities=3).solve(_cbc())
    assert ours.objective == pytest.approx(pulp.value(theirs.problem.objective), rel=1e-6)


# --------------------------------------------------------------------------------------
# one signature, one path from the walking graph
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("area", ["nanjing_path", "tsinghua_path"])
def test_from_walk_graph_equals_from_cost_matrix_on_the_reach_matrix(area, request):
    store = Store(request.getfixturevalue(area))
    graph = build_walk_graph(store)
    households = store.read("buildings")["households"].to_numpy()
    demand = np.flatnonzero(households > 0)
    nodes = graph.building_node[demand]
    weights = households[demand].astype(float)
    sites = graph.site_node
    limit = 600.0
    cost = reach_matrix(graph, sites, nodes, limit)
    far = reach_matrix(graph, sites, nodes, np.inf)
    pairs = [
        (
            LSCP.from_walk_graph(graph, nodes, sites, service_radius=limit),
            LSCP.from_cost_matrix(cost, service_radius=limit),
        ),
        (
            MCLP.from_walk_graph(graph, nodes, sites, service_radius=limit, weights=weights, p=2),
            MCLP.from_cost_matrix(cost, service_radius=limit, weights=weights, p=2),
        ),
        (
            PMedian.from_walk_graph(graph, nodes, sites, weights=weights, p=2),
            PMedian.from_cost_matrix(far, weights=weights, p=2),
        ),
    ]
    for walked, matrix in pairs:
        assert np.array_equal(walked.pairs.rows, matrix.pairs.rows)
        assert np.array_equal(walked.pairs.cols, matrix.pairs.cols)
        assert np.array_equal(walked.pairs.cost, matrix.pairs.cost)
        walked.solve()
        matrix.solve()
        assert walked.objective == matrix.objective
        assert walked.chosen.tolist() == matrix.chosen.tolist()


def test_options_are_keyword_only_and_named_alike():
    cost = np.array([[0.0, 50.0], [50.0, 0.0]])
    with pytest.raises(TypeError):
        LSCP.from_cost_matrix(cost, 100)
    with pytest.raises(TypeError):
        MCLP.from_cost_matrix(cost, 100, [1, 1], 1)
    with pytest.raises(TypeError):
        PMedian.from_cost_matrix(cost, [1, 1], 1)
    lscp = LSCP.from_cost_matrix(cost, service_radius=100, fixed_sites=[0], reduce=False)
    mclp = MCLP.from_cost_matrix(cost, service_radius=100, weights=[1, 1], p=1, budget=1)
    pmed = PMedian.from_cost_matrix(cost, service_radius=100, weights=[1, 1], p=1)
    assert mclp.p == 1 and mclp.budget == 1.0 and pmed.p == 1
    assert lscp.fixed_sites.tolist() == [0]


def test_model_identifiers_are_the_cli_values():
    assert list(MODELS) == ["lscp", "mclp", "pmedian"]
    assert [m.name for m in MODELS.values()] == ["lscp", "mclp", "pmedian"]
    assert MODELS["pmedian"] is PMedian
