"""Partition units into contiguous grids (网格) of a bounded number of households.

The method, in three phases, works on the unit adjacency graph (units are the
blocks of :mod:`planner.blocks`; each edge carries the cost of cutting along it,
cheap along streets and walls, dear between building rows):

1. *Agglomerate*: repeatedly merge the two adjacent regions joined by the
   weakest boundary (between building cells first, streets last), as long as
   one of them is below the lower bound and together they stay within the
   upper bound. Regions never grow past the bound, so no region must be split.
2. *Repair*: regions still out of range take or give boundary units (keeping
   every region contiguous), are merged into a neighbour, are dissolved into
   their neighbours, or pull households along a chain of neighbouring regions.
3. *Smooth*: single boundary-unit moves that shorten the weighted boundary
   without leaving the range.

The objective is lexicographic in practice: households outside the range weigh
far more than boundary cost. Everything runs within a time limit and is
deterministic for a given seed.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csgraph

from planner.geometry import in_range
from planner.reasons import OutOfRange, Reason
from planner.settings import settings

#: Weight of one household outside the range against one unit of boundary cost.
_RANGE_WEIGHT = 1e5


@dataclass
class Partition:
    """A partition of units into grids.

    Attributes
    ----------
    assignment
        Grid index (0…k-1) of each unit.
    households
        Households of each grid.
    units
        Unit indices of each grid.
    cut_cost
        Weighted length of the boundaries between grids.
    seconds
        Time taken.
    labels
        Each grid's label in the initial assignment, if one was given (grids
        made by a split carry labels not found there).
    """

    assignment: np.ndarray
    households: np.ndarray
    units: list[list[int]] = field(repr=False)
    cut_cost: float = 0.0
    seconds: float = 0.0
    labels: np.ndarray | None = None  # each grid's label in ``initial`` (new grids: new labels)

    def in_range(self, min_households: int, max_households: int) -> np.ndarray:
        """Boolean per grid: households within the bounds."""
        return in_range(self.households, min_households, max_households)


def _viol(x: float, lo: float, hi: float) -> float:
    return max(0.0, lo - x) + max(0.0, x - hi)


class _State:
    """Mutable partition state shared by the phases."""

    def __init__(
        self,
        households: np.ndarray,
        neighbours: list[dict[int, float]],
        assignment: np.ndarray,
        lo: float,
        hi: float,
    ) -> None:
        self.h = households.astype(float)
        self.nbr = neighbours
        self.lo, self.hi = lo, hi
        self.assign = assignment.astype(np.int64).copy()
        self.members: dict[int, set[int]] = {}
        for u, g in enumerate(self.assign):
            self.members.setdefault(int(g), set()).add(u)
        self.H = {g: float(self.h[list(m)].sum()) for g, m in self.members.items()}
        self.next_id = max(self.members) + 1 if self.members else 0
        self.log: list[tuple[int, int]] = []
        #: Grid each unit should stay in (rebalancing) and the cost of moving it away.
        self.home: np.ndarray | None = None
        self.stay: np.ndarray | None = None

    def rollback(self, mark: int) -> None:
        """Undo the moves made since ``len(self.log)`` was ``mark``."""
        while len(self.log) > mark:
            u, src = self.log.pop()
            self.move(u, src)
            self.log.pop()

    # -- measures --------------------------------------------------------------

    def viol(self, g: int, delta: float = 0.0) -> float:
        return _viol(self.H[g] + delta, self.lo, self.hi)

    def total_viol(self) -> float:
        return sum(self.viol(g) for g in self.members)

    def grid_neighbours(self, g: int) -> set[int]:
        out = set()
        for u in self.members[g]:
            for v in self.nbr[u]:
                if self.assign[v] != g:
                    out.add(int(self.assign[v]))
        return out

    def connected_without(self, g: int, u: int) -> bool:
        """True if grid ``g`` stays one connected piece without unit ``u``."""
        rest = self.members[g]
        inside = [v for v in self.nbr[u] if self.assign[v] == g]
        if len(rest) <= 1 or len(inside) <= 1:
            return True
        target = len(rest) - 1
        seen = {inside[0]}
        queue = deque([inside[0]])
        while queue:
            v = queue.popleft()
            for w in self.nbr[v]:
                if w != u and w not in seen and self.assign[w] == g:
                    seen.add(w)
                    queue.append(w)
        return len(seen) == target

    # -- changes ---------------------------------------------------------------

    def move(self, u: int, to: int) -> None:
        src = int(self.assign[u])
        self.log.append((u, src))
        self.members[src].discard(u)
        self.H[src] -= self.h[u]
        if not self.members[src]:
            del self.members[src]
            del self.H[src]
        self.members.setdefault(to, set()).add(u)
        self.H[to] = self.H.get(to, 0.0) + self.h[u]
        self.assign[u] = to

    def merge(self, a: int, b: int) -> None:
        """Merge grid ``b`` into grid ``a``."""
        for u in list(self.members[b]):
            self.assign[u] = a
        self.members[a] |= self.members.pop(b)
        self.H[a] += self.H.pop(b)

    def cost_to(self, u: int) -> dict[int, float]:
        out: dict[int, float] = {}
        for v, c in self.nbr[u].items():
            g = int(self.assign[v])
            out[g] = out.get(g, 0.0) + c
        return out


def _neighbours(n: int, edges: pd.DataFrame) -> list[dict[int, float]]:
    nbr: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b, c in zip(edges["a"], edges["b"], edges["cost"], strict=True):
        a, b = int(a), int(b)
        if a == b:
            continue
        nbr[a][b] = nbr[a].get(b, 0.0) + float(c)
        nbr[b][a] = nbr[b].get(a, 0.0) + float(c)
    return nbr


def _agglomerate(h: np.ndarray, edges: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    """Phase 1: merge across the weakest boundaries while a region is below ``lo``."""
    n = len(h)
    cost: list[dict[int, float]] = [{} for _ in range(n)]
    length: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b, c, ln in zip(edges["a"], edges["b"], edges["cost"], edges["length"], strict=True):
        a, b = int(a), int(b)
        cost[a][b] = cost[a].get(b, 0.0) + float(c)
        cost[b][a] = cost[a][b]
        length[a][b] = length[a].get(b, 0.0) + float(ln)
        length[b][a] = length[a][b]
    H = h.astype(float).copy()
    alive = np.ones(n, bool)
    version = np.zeros(n, np.int64)
    owner = np.arange(n)
    members = {i: [i] for i in range(n)}
    heap: list[tuple] = []

    def push(a: int, b: int) -> None:
        if (H[a] < lo or H[b] < lo) and H[a] + H[b] <= hi:
            # Weakest boundary first (highest cost per metre = between buildings),
            # then the smallest merged region, so regions grow evenly.
            affinity = round(cost[a][b] / max(length[a][b], 1e-9), 1)
            heapq.heappush(heap, (-affinity, H[a] + H[b], a, b, version[a], version[b]))

    for a in range(n):
        for b in cost[a]:
            if a < b:
                push(a, b)
    while heap:
        _, _, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        for c, w in cost[b].items():
            if c == a:
                continue
            cost[a][c] = cost[a].get(c, 0.0) + w
            cost[c][a] = cost[a][c]
            length[a][c] = length[a].get(c, 0.0) + length[b][c]
            length[c][a] = length[a][c]
            del cost[c][b], length[c][b]
        del cost[a][b], length[a][b]
        cost[b], length[b] = {}, {}
        H[a] += H[b]
        alive[b] = False
        members[a].extend(members.pop(b))
        version[a] += 1
        for c in cost[a]:
            push(a, c)
    for g, m in members.items():
        owner[m] = g
    return owner


def _improve_moves(state: _State, deadline: float, rng: np.random.Generator) -> bool:
    """Phase 2/3: apply improving single-unit moves until none is left (or time is up)."""
    changed_any = False
    for _ in range(50):
        changed = False
        units = np.flatnonzero(
            [
                any(state.assign[v] != state.assign[u] for v in state.nbr[u])
                for u in range(len(state.h))
            ]
        )
        rng.shuffle(units)
        for u in units:
            if time.perf_counter() > deadline:
                return changed_any
            u = int(u)
            a = int(state.assign[u])
            costs = state.cost_to(u)
            inner = costs.get(a, 0.0)
            hu = state.h[u]
            alone = len(state.members[a]) == 1
            base_a = state.viol(a)
            after_a = 0.0 if alone else state.viol(a, -hu)
            best, best_gain = None, 1e-9
            for b, to_b in costs.items():
                # Never push a grid past the maximum: an overfull grid is harder to mend.
                if b == a or (hu > 0 and state.H[b] + hu > state.hi):
                    continue
                dv = after_a + state.viol(b, hu) - base_a - state.viol(b)
                gain = -(_RANGE_WEIGHT * dv + inner - to_b + _stay(state, u, a, b))
                if gain > best_gain:
                    best, best_gain = b, gain
            if best is not None and state.connected_without(a, u):
                state.move(u, best)
                changed = changed_any = True
        if not changed:
            break
    return changed_any


def _stay(state: _State, u: int, a: int, b: int) -> float:
    """Cost of moving unit ``u`` from grid ``a`` to ``b`` when rebalancing an existing plan."""
    if state.home is None:
        return 0.0
    home = state.home[u]
    return float(state.stay[u]) * (int(a == home) - int(b == home))


def _merge_underfull(state: _State) -> bool:
    """Merge a grid below the bound into the neighbour it fits best with."""
    changed = False
    for g in sorted(state.members, key=lambda g: state.H.get(g, 0.0)):
        if g not in state.members or state.H[g] >= state.lo:
            continue
        best, best_key = None, None
        for b in state.grid_neighbours(g):
            total = state.H[g] + state.H[b]
            gain = state.viol(g) + state.viol(b) - _viol(total, state.lo, state.hi)
            # Never merge past the maximum: an overfull grid is harder to mend.
            if gain <= 0 or total > state.hi:
                continue
            key = (gain, -total)
            if best_key is None or key > best_key:
                best, best_key = b, key
        if best is not None:
            state.merge(best, g)
            changed = True
    return changed


def _dissolve(state: _State, g: int) -> bool:
    """Hand every unit of an underfull grid to neighbours with room; undo if impossible."""
    before = state.total_viol()
    moved: list[tuple[int, int]] = []
    pending = set(state.members[g])
    progress = True
    while pending and progress:
        progress = False
        for u in sorted(pending, key=lambda u: -state.h[u]):
            options = [
                (state.viol(b, state.h[u]) - state.viol(b), -c, b)
                for b, c in state.cost_to(u).items()
                if b != g and state.H[b] + state.h[u] <= state.hi
            ]
            if not options:
                continue
            _, _, b = min(options)
            moved.append((u, g))
            state.move(u, b)
            pending.discard(u)
            progress = True
    if pending or state.total_viol() >= before:
        for u, src in reversed(moved):
            state.move(u, src)
        return False
    return True


def _chain_candidates(state: _State, g: int, visited: set[int], *, pull: bool) -> list:
    """Boundary units that could flow into (pull) or out of (push) grid ``g``."""
    gap = state.lo - state.H[g] if pull else state.H[g] - state.hi
    out = []
    if pull:
        for u in {v for w in state.members[g] for v in state.nbr[w]}:
            n = int(state.assign[u])
            hu = state.h[u]
            if n == g or n in visited or len(state.members[n]) <= 1 or hu <= 0:
                continue
            if state.H[g] + hu <= state.hi:
                out.append((abs(hu - gap) if hu < gap else 0.0, -hu, u, n, n))
    elif len(state.members[g]) > 1:
        for u in state.members[g]:
            hu = state.h[u]
            if hu <= 0 or state.H[g] - hu < state.lo:
                continue
            for n in {int(state.assign[v]) for v in state.nbr[u]} - {g} - visited:
                out.append((abs(hu - gap) if hu < gap else 0.0, hu, u, g, n))
    out.sort()
    return out[:12]


def _chain(state: _State, g: int, depth: int, visited: set[int], *, pull: bool) -> bool:
    """Mend grid ``g`` (below range if ``pull``, above if not) by a chain of unit moves.

    One boundary unit moves in (or out); a neighbour that falls out of range in
    turn pulls (or pushes) from its own neighbours, up to ``depth`` grids away.
    Kept only if the total of households out of range falls.
    """
    if depth == 0:
        return False
    before = state.total_viol()
    for _, _, u, src, dst in _chain_candidates(state, g, visited, pull=pull):
        if not state.connected_without(src, u):
            continue
        mark = len(state.log)
        state.move(u, g if pull else dst)
        other = src if pull else dst
        if state.viol(other) > 0:
            _chain(state, other, depth - 1, visited | {g}, pull=pull)
        if state.total_viol() < before - 1e-9:
            return True
        state.rollback(mark)
    return False


def _bisect(
    state: _State,
    units: set[int],
    low: float,
    high: float,
    *,
    trials: int = 6,
    rng: np.random.Generator | None = None,
) -> list[set[int]]:
    """Ways to cut ``units`` into two connected parts, the first holding ``low``–``high``.

    Cuts a spanning tree of the units at one edge (both sides of a tree edge
    are connected). The tree keeps the dearest boundaries (maximum spanning
    tree on cut cost, perturbed in later trials), so cuts fall on streets and
    walls where they can. Returns candidate first parts, cheapest boundary first.
    """
    if low > high or len(units) < 2:
        return []
    rng = rng or np.random.default_rng(len(units))
    nodes = sorted(units)
    index = {u: k for k, u in enumerate(nodes)}
    pairs = [
        (index[u], index[v], c)
        for u in nodes
        for v, c in state.nbr[u].items()
        if u < v and v in units
    ]
    if not pairs:
        return []
    a, b, c = (np.array(x) for x in zip(*pairs, strict=True))
    h = state.h[nodes]
    found: dict[frozenset[int], float] = {}
    for trial in range(trials):
        weight = c if trial == 0 else c * rng.uniform(0.5, 1.5, len(c))
        # Maximum spanning tree: minimum on the negated (shifted) weights.
        graph = sparse.coo_matrix(
            (weight.max() * 2 + 1 - weight, (a, b)), shape=(len(nodes), len(nodes))
        )
        tree = csgraph.minimum_spanning_tree(graph)
        ta, tb = tree.nonzero()
        if len(ta) != len(nodes) - 1:
            return []  # the pool is not connected
        adj: list[list[int]] = [[] for _ in nodes]
        for x, y in zip(ta, tb, strict=True):
            adj[x].append(int(y))
            adj[y].append(int(x))
        order, up = [0], [-1] * len(nodes)
        seen = [False] * len(nodes)
        seen[0] = True
        for x in order:
            for y in adj[x]:
                if not seen[y]:
                    seen[y] = True
                    up[y] = x
                    order.append(y)
        sub = h.copy()
        for x in reversed(order[1:]):
            sub[up[x]] += sub[x]
        total = sub[0]
        for x in order[1:]:
            for side_total, flip in ((sub[x], False), (total - sub[x], True)):
                if not low <= side_total <= high:
                    continue
                part = set()
                stack = [x]
                while stack:
                    y = stack.pop()
                    part.add(y)
                    stack.extend(z for z in adj[y] if z != up[y])
                if flip:
                    part = set(range(len(nodes))) - part
                key = frozenset(nodes[y] for y in part)
                if key not in found:
                    mask = np.zeros(len(nodes), bool)
                    mask[list(part)] = True
                    found[key] = float(c[mask[a] != mask[b]].sum())
        if found and trial >= 1:
            break
    return [set(k) for k, _ in sorted(found.items(), key=lambda kv: kv[1])]


def _tree_split(state: _State, units: set[int], k: int, *, depth: int = 0) -> list[set[int]] | None:
    """Cut ``units`` into ``k`` connected parts each within range (recursive bisection)."""
    if depth == 0 and any(state.h[u] > state.hi for u in units):
        # A unit above the maximum (a tower) lies in some part, which cannot be in
        # range: no cut exists, and searching for one is the dearest thing here.
        return None
    total = float(state.h[list(units)].sum())
    if k == 1:
        return [units] if state.lo <= total <= state.hi else None
    if not k * state.lo <= total <= k * state.hi or len(units) < k:
        return None
    k1 = k // 2
    k2 = k - k1
    low = max(k1 * state.lo, total - k2 * state.hi)
    high = min(k1 * state.hi, total - k2 * state.lo)
    for part in _bisect(state, units, low, high)[: 4 if depth < 2 else 2]:
        left = _tree_split(state, part, k1, depth=depth + 1)
        if left is None:
            continue
        right = _tree_split(state, units - part, k2, depth=depth + 1)
        if right is not None:
            return left + right
    return None


def _split(state: _State, g: int) -> bool:
    """Split an overfull grid into grids within range."""
    total = state.H[g]
    k = max(2, int(np.ceil(total / state.hi)))
    if k * state.lo > total:
        return False
    parts = _tree_split(state, state.members[g], k)
    if parts is None:
        return False
    for part in parts[1:]:
        new = state.next_id
        state.next_id += 1
        for u in part:
            state.move(u, new)
    return True


def _match_labels(state: _State, parts: list[set[int]], grids: list[int]) -> list[int]:
    """Give each new part the label of the old grid it shares most with (fewest moves)."""
    weight = state.stay if state.stay is not None else state.h + 1.0
    shared = np.array(
        [[sum(weight[u] for u in part if state.assign[u] == g) for g in grids] for part in parts]
    )
    rows, cols = linear_sum_assignment(-shared)
    labels = [-1] * len(parts)
    for r, c in zip(rows, cols, strict=True):
        labels[r] = grids[c]
    for i, label in enumerate(labels):
        if label < 0:
            labels[i] = state.next_id
            state.next_id += 1
    return labels


def _resplit(state: _State, g: int) -> bool:
    """Pool an out-of-range grid with one or two neighbours and cut the pool anew."""
    before = state.total_viol()
    around = sorted(state.grid_neighbours(g), key=lambda b: state.H[b])
    pools = [[b] for b in around]
    pools += [[b, c] for i, b in enumerate(around) for c in around[i + 1 :]][:8]
    # Wider pools: the grids nearest to g in the grid graph, up to four of them.
    ring, seen = list(around), {g, *around}
    for b in around:
        for c in sorted(state.grid_neighbours(b), key=lambda c: state.H[c]):
            if c not in seen:
                seen.add(c)
                ring.append(c)
    pools += [ring[:j] for j in (3, 4, 5) if len(ring) >= j]
    for extra in pools:
        grids = [g, *extra]
        pool = set().union(*(state.members[x] for x in grids))
        total = sum(state.H[x] for x in grids)
        fewest, most = int(np.ceil(total / state.hi)), int(total // state.lo)
        if fewest > most:
            continue
        k = min(max(int(round(total / ((state.lo + state.hi) / 2))), fewest), most)
        parts = _tree_split(state, pool, k)
        if parts is None:
            continue
        mark = len(state.log)
        labels = _match_labels(state, parts, grids)
        for label, part in zip(labels, parts, strict=True):
            for u in part:
                if state.assign[u] != label:
                    state.move(u, label)
        if state.total_viol() < before - 1e-9:
            return True
        state.rollback(mark)
    return False


def partition(
    households: Sequence[float] | np.ndarray,
    edges: pd.DataFrame,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    initial: np.ndarray | None = None,
    stay_cost: np.ndarray | None = None,
    time_limit: float | None = None,
    seed: int = 0,
) -> Partition:
    """Partition units into contiguous grids of ``min_households``–``max_households``.

    Grids that cannot be brought into range (a unit alone above the maximum, an
    isolated part below the minimum, a pocket hemmed in by full neighbours) are
    still produced; :func:`explain` says why.

    Parameters
    ----------
    households
        Households of each unit.
    edges
        Unit adjacency: columns ``a``, ``b`` (unit indices), ``cost`` (weighted
        cost of cutting there) and ``length`` (shared boundary in metres).
    min_households, max_households
        The range.
    initial
        A starting assignment (grid label per unit, each grid contiguous); by
        default phase 1 builds one.
    stay_cost
        With ``initial``: the cost of moving each unit out of its initial grid
        (rebalancing an existing plan moves as little as it can).
    time_limit
        Seconds for the repair and smoothing phases.
    seed
        Seed of the move order.

    Returns
    -------
    Partition
    """
    min_households = settings.grid.min_households if min_households is None else min_households
    max_households = settings.grid.max_households if max_households is None else max_households
    time_limit = settings.grid.partition_time_limit if time_limit is None else time_limit
    started = time.perf_counter()
    h = np.asarray(households, dtype=float)
    lo, hi = float(min_households), float(max_households)
    deadline = started + time_limit
    rng = np.random.default_rng(seed)
    if initial is None:
        initial = _agglomerate(h, edges, lo, hi)
    state = _State(h, _neighbours(len(h), edges), np.asarray(initial), lo, hi)
    if stay_cost is not None:
        state.home = np.asarray(initial).copy()
        state.stay = np.asarray(stay_cost, dtype=float)
    for _ in range(20):
        if time.perf_counter() > deadline:
            break
        before = state.total_viol()
        _improve_moves(state, deadline, rng)
        _merge_underfull(state)
        for g in sorted(state.members, key=lambda g: state.H.get(g, 0.0)):
            if g in state.members and state.H[g] < state.lo:
                if not _chain(state, g, 3, set(), pull=True) and not _dissolve(state, g):
                    _resplit(state, g)
        for g in list(state.members):
            if g in state.members and state.H[g] > state.hi:
                if not _split(state, g) and not _chain(state, g, 3, set(), pull=False):
                    _resplit(state, g)
        if state.total_viol() >= before:
            break
    _improve_moves(state, deadline, rng)
    return _finish(state, edges, started)


def _finish(state: _State, edges: pd.DataFrame, started: float) -> Partition:
    """Number grids 0…k-1 by their first unit (stable) and total the cut cost."""
    labels = sorted(state.members, key=lambda g: min(state.members[g]))
    groups = [state.members[g] for g in labels]
    assignment = np.empty(len(state.h), dtype=np.int64)
    for k, m in enumerate(groups):
        assignment[list(m)] = k
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    cut = float(edges["cost"].to_numpy()[assignment[a] != assignment[b]].sum())
    return Partition(
        assignment=assignment,
        households=np.array([state.h[list(m)].sum() for m in groups]),
        units=[sorted(m) for m in groups],
        cut_cost=cut,
        seconds=time.perf_counter() - started,
        labels=np.array(labels, dtype=np.int64),
    )


def diagnose(
    result: Partition,
    households: np.ndarray,
    edges: pd.DataFrame,
    *,
    min_households: int,
    max_households: int,
    kinds: Sequence[str] | None = None,
) -> list[OutOfRange | None]:
    """Why each grid is out of range, as a reason code with its numbers (None: in range).

    Reasons (:class:`planner.reasons.Reason`): a single unit above the maximum (one
    building, or overlapping footprints, where ``kinds`` says the unit is a
    ``cell``; else one block), a grid above the maximum with no contiguous split
    into two parts within range, an isolated part of the community with too few
    households, or a grid below the minimum whose every neighbour would exceed the
    maximum if merged with it and that cannot take a boundary block without
    pushing a neighbour out of range.
    """
    h = np.asarray(households, dtype=float)
    n = len(h)
    nbr = _neighbours(n, edges)
    # Connected parts of the whole unit graph (islands of the community).
    part = -np.ones(n, dtype=np.int64)
    for s in range(n):
        if part[s] >= 0:
            continue
        part[s] = s
        queue = deque([s])
        while queue:
            v = queue.popleft()
            for w in nbr[v]:
                if part[w] < 0:
                    part[w] = s
                    queue.append(w)
    part_hh = pd.Series(h).groupby(part).sum()
    bounds = {"min_households": min_households, "max_households": max_households}
    reasons: list[OutOfRange | None] = []
    for g, units in enumerate(result.units):
        total = result.households[g]
        if min_households <= total <= max_households:
            reasons.append(None)
            continue
        if total > max_households:
            big = max(units, key=lambda u: h[u])
            if h[big] > max_households:
                building = kinds is not None and kinds[big] == "cell"
                code = Reason.SINGLE_BUILDING_OVER_MAX if building else Reason.SINGLE_BLOCK_OVER_MAX
                reasons.append(OutOfRange(code, int(h[big]), **bounds))
            else:
                reasons.append(OutOfRange(Reason.NO_CONTIGUOUS_SPLIT, int(total), **bounds))
            continue
        island = part_hh[part[units[0]]]
        if island < min_households:
            reasons.append(OutOfRange(Reason.ISOLATED_PART, int(island), **bounds))
            continue
        neighbours = sorted({int(result.assignment[v]) for u in units for v in nbr[u]} - {g})
        sizes = tuple(int(result.households[b]) for b in neighbours)
        reasons.append(OutOfRange(Reason.NEIGHBOURS_FULL, int(total), **bounds, neighbours=sizes))
    return reasons


def explain(
    result: Partition,
    households: np.ndarray,
    edges: pd.DataFrame,
    *,
    min_households: int,
    max_households: int,
    kinds: Sequence[str] | None = None,
) -> list[str | None]:
    """Why each grid is out of range, in English words (None for grids within it).

    The text of :func:`diagnose`'s reasons, as stored in a grid's ``flag``.
    """
    found = diagnose(
        result,
        households,
        edges,
        min_households=min_households,
        max_households=max_households,
        kinds=kinds,
    )
    return [None if r is None else r.text() for r in found]


__all__ = ["Partition", "diagnose", "explain", "partition"]
