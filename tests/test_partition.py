"""The partition on small synthetic unit graphs (contiguity, bounds, flags)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.partition import explain, partition


def _lattice(rows: int, cols: int, cost: float = 1.0) -> pd.DataFrame:
    edges = []
    for r in range(rows):
        for c in range(cols):
            u = r * cols + c
            if c + 1 < cols:
                edges.append((u, u + 1, cost, 10.0))
            if r + 1 < rows:
                edges.append((u, u + cols, cost, 10.0))
    return pd.DataFrame(edges, columns=["a", "b", "cost", "length"])


def _contiguous(assignment: np.ndarray, edges: pd.DataFrame) -> bool:
    import networkx as nx

    graph = nx.Graph()
    graph.add_edges_from(zip(edges["a"], edges["b"], strict=True))
    for g in np.unique(assignment):
        nodes = np.flatnonzero(assignment == g)
        if not nx.is_connected(graph.subgraph(nodes.tolist())):
            return False
    return True


def test_lattice_all_in_range():
    rng = np.random.default_rng(1)
    h = rng.integers(0, 120, 400)
    edges = _lattice(20, 20)
    result = partition(h, edges, min_households=300, max_households=500)
    assert result.in_range(300, 500).all()
    assert _contiguous(result.assignment, edges)
    assert result.households.sum() == h.sum()
    assert sorted(u for units in result.units for u in units) == list(range(400))


def test_prefers_cheap_boundaries():
    # Two rows of 4 units of 100 households; the middle vertical edge is cheap (a street).
    h = np.full(8, 100)
    edges = _lattice(2, 4, cost=10.0)
    cheap = (edges["a"] % 4 == 1) & (edges["b"] == edges["a"] + 1)
    edges.loc[cheap, "cost"] = 1.0
    result = partition(h, edges, min_households=300, max_households=500)
    groups = sorted(sorted(units) for units in result.units)
    assert groups == [[0, 1, 4, 5], [2, 3, 6, 7]]


def test_unfixable_grids_are_flagged():
    # A tower of 800 households, and an island of 100 households not connected to the rest.
    h = np.array([800, 200, 200, 100, 100])
    edges = pd.DataFrame(
        [(0, 1, 1.0, 1.0), (1, 2, 1.0, 1.0), (0, 2, 1.0, 1.0), (3, 4, 1.0, 1.0)],
        columns=["a", "b", "cost", "length"],
    )
    result = partition(h, edges, min_households=300, max_households=500)
    reasons = explain(result, h, edges, min_households=300, max_households=500)
    text = " ".join(r for r in reasons if r)
    assert "800 households" in text
    assert "isolated" in text
    ok = result.in_range(300, 500)
    assert [r is None for r in reasons] == list(ok)


def test_initial_plan_is_repaired_with_few_moves():
    rng = np.random.default_rng(3)
    h = rng.integers(20, 60, 100)
    edges = _lattice(10, 10)
    base = partition(h, edges, min_households=300, max_households=500)
    # Merge two neighbouring grids: the repair should split them, keeping others intact.
    a = base.assignment[0]
    b = next(
        base.assignment[v]
        for u in np.flatnonzero(base.assignment == a)
        for v in edges.loc[edges["a"] == u, "b"]
        if base.assignment[v] != a
    )
    initial = np.where(base.assignment == b, a, base.assignment)
    stay = h * 50.0 + 200
    result = partition(h, edges, initial=initial, stay_cost=stay)
    assert result.in_range(300, 500).all()
    untouched = (initial != a) & (result.labels[result.assignment] == initial)
    assert untouched.sum() >= ((initial != a).sum()) * 0.8
