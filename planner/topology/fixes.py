"""Topology repairs of a grid plan: relabel the faces of the noded plan, dissolve per grid.

The repairs work on the *arrangement* of the plan: every grid outline, the
community outline and the outlines of the buildings and edge areas concerned
are noded together and polygonised into faces, each face labelled with the grid
covering it. Relabelling faces — an overlap to one of its grids, a gap to a
neighbour, an edge area wholly to its grid, a cut building wholly to the grid
holding most of it, an orphan piece or sliver to its neighbour — and dissolving
them per grid gives a plan that is an exact coverage by construction. Each
relabelling is a :class:`Move`; the moves become the proposals of a
:class:`FixPlan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from planner.assess import assess
from planner.crs import STORAGE_CRS
from planner.edge_areas import assign_edge_areas, touching
from planner.geometry import (
    face_adjacency,
    footprint_clusters,
    majority,
    node_lines,
    overlay_pairs,
)
from planner.topology.checks import Findings, is_noise, is_thin
from planner.topology.plan import GridPlan, Thresholds

__all__ = ["GRID_SIZE", "FixPlan", "Move", "move_fields", "repair_plan"]

#: Snapping grid (metres) of the fix arrangement: removes near-coincident edges.
GRID_SIZE = 0.01

#: Moves whose piece may be mere coordinate rounding (applied, but not listed one by one).
_ROUNDING_KINDS = ("gap", "overlap", "outside_community", "building", "edge_area")


def move_fields(row: Any) -> dict[str, Any]:
    """A proposal row's move as JSON: to and from which grids, area, households, ref."""
    return {
        "to_grid": row.to_grid if isinstance(row.to_grid, str) else None,
        "from_grids": list(row.from_grids),
        "area_m2": round(float(row.area_m2), 1),
        "households": int(row.households),
        "ref": row.ref if isinstance(row.ref, str) else None,
    }


@dataclass
class FixPlan:
    """Repairs of a grid plan, proposed by :func:`planner.topology.propose_fixes`.

    Attributes
    ----------
    plan
        The plan repaired.
    proposals
        One row per repair (metric CRS): ``kind`` (gap, overlap, building,
        edge_area, orphan, sliver, outside_community, rebalance), ``to_grid``,
        ``from_grids``, ``area_m2``, ``households`` moved, ``ref``, ``reason``,
        geometry of the piece.
    grids
        The repaired grids (metric CRS), 四维测评 figures and staffing recomputed.
    buildings
        The buildings with ``grid_code`` set from the repaired grids.
    edge_areas
        The edge areas, assigned and following their grids.
    per_grid
        ``grid_code``, ``households_before``, ``households_after``, ``change``.
    removed
        Grids left without any area (merged slivers, duplicates).
    unresolved
        What could not be repaired automatically, in words.
    rule
        The fix rule applied.
    rounding
        Pieces that were mere coordinate rounding: applied, not listed.
    added
        Grids made by re-cutting grids a repair pushed out of the household range.
    """

    plan: GridPlan
    proposals: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    edge_areas: gpd.GeoDataFrame
    per_grid: pd.DataFrame
    removed: list[str]
    unresolved: list[str]
    rule: str
    rounding: int = 0
    added: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing to repair."""
        return self.proposals.empty and not self.removed and not self.rounding

    def to_json(self) -> dict[str, Any]:
        """The proposals with the households moved per grid."""
        moves = []
        if len(self.proposals):
            points = shapely.point_on_surface(self.proposals.to_crs(STORAGE_CRS).geometry)
            for i, row in enumerate(self.proposals.itertuples(index=False)):
                moves.append(
                    {
                        "kind": row.kind,
                        **move_fields(row),
                        "reason": row.reason,
                        "point": [
                            round(float(shapely.get_x(points.iloc[i])), 7),
                            round(float(shapely.get_y(points.iloc[i])), 7),
                        ],
                    }
                )
        changed = self.per_grid[self.per_grid["change"] != 0]
        return {
            "rule": self.rule,
            "proposals": moves,
            "households_moved": [
                {
                    "grid": str(r.grid_code),
                    "before": int(r.households_before),
                    "after": int(r.households_after),
                    "change": int(r.change),
                }
                for r in changed.itertuples()
            ],
            "removed_grids": list(self.removed),
            "added_grids": list(self.added),
            "unresolved": list(self.unresolved),
            "rounding_pieces": int(self.rounding),
        }


@dataclass(frozen=True)
class Move:
    """One repair: faces of the arrangement given to a grid.

    Attributes
    ----------
    kind
        gap, overlap, edge_area, building, orphan, sliver or outside_community.
    faces
        Indices of the faces moved.
    to_grid
        Index of the grid receiving them; -1: clipped away (outside the community).
    from_grids
        Indices of the grids they leave.
    reason
        Why, in words (the change log's reason).
    ref
        The building or edge area concerned.
    """

    kind: str
    faces: np.ndarray
    to_grid: int
    from_grids: list[int]
    reason: str
    ref: str | None = None


class _Arrangement:
    """Faces of the noded plan with their grid labels and shared edge lengths."""

    def __init__(self, lines: np.ndarray, community: shapely.Geometry | None) -> None:
        # Snap-rounded noding on short segments, so faces stay valid when projected
        # to lon/lat and back.
        lines = shapely.set_precision(lines[~shapely.is_empty(lines)], GRID_SIZE)
        faces = shapely.get_parts(shapely.polygonize(node_lines(lines, GRID_SIZE)))
        faces = faces[shapely.area(faces) > 0]
        self.inside = np.ones(len(faces), dtype=bool)
        self.points = shapely.point_on_surface(faces)
        if community is not None:
            shapely.prepare(community)
            self.inside = shapely.contains_properly(community, self.points)
            # A thin face along the snapped outline may have its point a hair outside:
            # it is inside when most of it is.
            edge = np.flatnonzero(~self.inside & shapely.intersects(faces, community))
            if len(edge):
                share = shapely.area(shapely.intersection(faces[edge], community))
                self.inside[edge] = share >= 0.5 * shapely.area(faces[edge])
        self.faces = faces
        self.area = shapely.area(faces)
        # Lengths summed along the rings, as the fixes have always weighed borders.
        shared = face_adjacency(faces, ring_order=True)
        self.u = shared["i"].to_numpy()
        self.v = shared["j"].to_numpy()
        self.w = shared["length"].to_numpy()

    def within(self, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(face, polygon) pairs where the face lies in the polygon."""
        if len(polygons) == 0:
            return np.empty(0, dtype=int), np.empty(0, dtype=int)
        tree = shapely.STRtree(polygons)
        return tree.query(self.points, predicate="within")

    def components(self, key: np.ndarray) -> np.ndarray:
        """Connected pieces of faces sharing the same ``key`` (faces with key -1 alone)."""
        n = len(self.faces)
        same = (key[self.u] == key[self.v]) & (key[self.u] >= 0)
        graph = sparse.coo_matrix((np.ones(same.sum()), (self.u[same], self.v[same])), (n, n))
        return csgraph.connected_components(graph, directed=False)[1]

    def borders(self, piece: np.ndarray, label: np.ndarray) -> pd.DataFrame:
        """Length each piece shares with each grid label around it (``piece``, ``grid``, ``m``)."""
        u = np.concatenate([self.u, self.v])
        v = np.concatenate([self.v, self.u])
        w = np.concatenate([self.w, self.w])
        keep = (piece[u] >= 0) & (label[v] >= 0) & (piece[u] != piece[v])
        frame = pd.DataFrame({"piece": piece[u[keep]], "grid": label[v[keep]], "m": w[keep]})
        return frame.groupby(["piece", "grid"], as_index=False)["m"].sum()


@dataclass
class _Repair:
    """What the repair steps share: the arrangement, its labels, the moves so far.

    Attributes
    ----------
    plan, findings, rule, t
        The plan, its check, the fix rule and the thresholds.
    codes, households
        Code and households (from the check) of each grid, by grid index.
    edges
        The edge areas, unassigned ones assigned by the rule.
    arr
        The arrangement.
    label
        Grid index of each face: -1 in no grid yet, -2 outside the community.
    pinned
        Faces of edge areas assigned by hand: orphan merges leave them where they are.
    moves, unresolved
        The repairs made, and what could not be repaired, in words.
    """

    plan: GridPlan
    findings: Findings
    rule: str
    t: Thresholds
    codes: np.ndarray
    households: np.ndarray
    edges: gpd.GeoDataFrame
    arr: _Arrangement
    label: np.ndarray
    pinned: np.ndarray
    moves: list[Move] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def repair_plan(plan: GridPlan, findings: Findings, rule: str, t: Thresholds) -> FixPlan:
    """The topology repairs proper: relabel the faces of the noded plan, in six steps.

    1. each face takes the grid covering it; 2. overlaps go to one of their grids;
    3. gaps to a neighbour; 4. edge areas wholly to their grid; 5. cut buildings
    wholly to the grid holding most of them; 6. orphan pieces and slivers join a
    neighbour. Steps 2, 3 and 6 choose by ``rule``.
    """
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    codes = grids["grid_code"].astype(str).to_numpy()
    households = findings.households.reindex(codes).fillna(0).to_numpy(dtype=float)
    b = plan.buildings
    bgeoms = b.geometry.to_numpy() if len(b) else np.empty(0, dtype=object)
    edges, target = _assigned_edge_areas(plan, codes, rule, households)
    egeoms = edges.geometry.to_numpy() if len(edges) else np.empty(0, dtype=object)
    pinned_e = target >= 0
    cluster = footprint_clusters(bgeoms, inclusive=True)
    loose_b = _loose_buildings(bgeoms, geoms, egeoms, target, cluster)

    # Node only the outlines that matter: buildings and edge areas not wholly in one grid.
    lines = [
        shapely.boundary(geoms),
        shapely.boundary(bgeoms[loose_b]),
        shapely.boundary(egeoms[pinned_e]),
    ]
    if plan.community is not None:
        lines.append(np.array([shapely.boundary(plan.community)]))
    arr = _Arrangement(np.concatenate(lines), plan.community)
    f_idx, g_idx = arr.within(geoms)
    cover = np.bincount(f_idx, minlength=len(arr.faces))
    state = _Repair(
        plan=plan,
        findings=findings,
        rule=rule,
        t=t,
        codes=codes,
        households=households,
        edges=edges,
        arr=arr,
        label=_sole_grid(arr, f_idx, g_idx, cover),
        pinned=np.zeros(len(arr.faces), dtype=bool),
    )
    _settle_overlaps(state, f_idx, g_idx, cover)
    _fill_gaps(state)
    _pin_edge_areas(state, egeoms, target, geoms)
    _keep_buildings_whole(state, bgeoms, loose_b, cluster)
    # A merge can free another piece: repeat a few times.
    for _ in range(3):
        if not _merge_pieces(state):
            break
    return _finish(state)


def _assigned_edge_areas(
    plan: GridPlan, codes: np.ndarray, rule: str, households: np.ndarray
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Edge areas with unassigned ones assigned first, by the same neighbour rule; and the
    grid index each is assigned to (-1: none)."""
    edges = plan.edge_areas.copy()
    if len(edges):
        edges = assign_edge_areas(edges, plan.grids, rule=rule, households=households)
    if not len(edges):
        return edges, np.empty(0, dtype=int)
    index = {c: k for k, c in enumerate(codes)}
    target = edges["grid_code"].map(lambda c: index.get(str(c), -1) if c else -1).to_numpy()
    return edges, target


def _loose_buildings(
    bgeoms: np.ndarray,
    geoms: np.ndarray,
    egeoms: np.ndarray,
    target: np.ndarray,
    cluster: np.ndarray,
) -> np.ndarray:
    """Buildings to node into the arrangement: those not wholly in one grid, with every
    footprint overlapping them."""
    pairs_b = overlay_pairs(bgeoms, geoms) if len(bgeoms) else pd.DataFrame()
    loose_b = np.ones(len(bgeoms), dtype=bool)
    if len(pairs_b):
        whole = pairs_b.assign(
            full=np.isclose(pairs_b["area"], shapely.area(bgeoms)[pairs_b["i"]], rtol=1e-9)
        )
        single = whole.groupby("i").agg(n=("j", "size"), full=("full", "all"))
        ok = single.index[(single["n"] == 1) & single["full"]].to_numpy()
        loose_b[ok] = False
    # Step 4 moves an edge area wholly to its grid, which would cut a building standing
    # across its outline (a station half on a rail yard): node those too, so step 5
    # keeps each whole in the grid then holding most of it.
    if (target >= 0).any() and len(bgeoms):
        loose_b[_across_moved_edges(bgeoms, egeoms, target, geoms)] = True
    return np.isin(cluster, cluster[loose_b])


def _across_moved_edges(
    bgeoms: np.ndarray, egeoms: np.ndarray, target: np.ndarray, geoms: np.ndarray
) -> np.ndarray:
    """Buildings crossing the outline of an edge area that lies partly outside its grid."""
    pinned = np.flatnonzero(target >= 0)
    pairs = overlay_pairs(egeoms[pinned], geoms)
    moving = pinned[np.unique(pairs["i"][pairs["j"] != target[pinned][pairs["i"]]])]
    if len(moving) == 0:
        return np.empty(0, dtype=int)
    tree = shapely.STRtree(bgeoms)
    return np.unique(tree.query(shapely.boundary(egeoms[moving]), predicate="crosses")[1])


def _sole_grid(
    arr: _Arrangement, f_idx: np.ndarray, g_idx: np.ndarray, cover: np.ndarray
) -> np.ndarray:
    """Step 1: the grid covering each face alone (-1: none or several; -2: outside)."""
    label = np.full(len(arr.faces), -1)
    single = cover[f_idx] == 1
    label[f_idx[single]] = g_idx[single]
    label[~arr.inside] = -2  # outside the community: dropped
    return label


def _why(rule: str, what: str) -> str:
    """The reason of a move decided by the fix rule."""
    base = {"overlap": "重叠部分", "gap": "空隙", "orphan": "飞地", "sliver": "碎片"}[what]
    if rule == "fewer_households":
        return f"{base}并入户数较少的相邻网格"
    return f"{base}并入共边最长的相邻网格"


def _choose(
    borders: pd.DataFrame, households: np.ndarray, rule: str, allowed: pd.DataFrame | None = None
) -> pd.Series:
    """The grid each piece goes to: longest shared border, or fewest households."""
    if allowed is not None:
        borders = borders.merge(allowed, on=["piece", "grid"])
    if borders.empty:
        return pd.Series(dtype=int)
    borders = borders.assign(hh=households[borders["grid"].to_numpy()])
    if rule == "fewer_households":
        order = borders.sort_values(["piece", "hh", "m"], ascending=[True, True, False])
    else:
        order = borders.sort_values(["piece", "m", "hh"], ascending=[True, False, True])
    return order.groupby("piece")["grid"].first()


def _settle_overlaps(
    state: _Repair, f_idx: np.ndarray, g_idx: np.ndarray, cover: np.ndarray
) -> None:
    """Step 2: each overlap piece (faces under one set of grids) goes to one of its grids."""
    arr, label = state.arr, state.label
    nf = len(arr.faces)
    multi = (cover >= 2) & arr.inside
    if not multi.any():
        return
    sets = pd.Series(g_idx, index=f_idx).groupby(level=0).apply(lambda s: tuple(sorted(s)))
    key = np.full(nf, -1)
    set_ids = pd.factorize(sets)[0]
    key[sets.index.to_numpy()] = set_ids
    key[~multi] = -1
    comp = arr.components(key)
    piece = np.where(multi, comp, -1)
    sole = label.copy()
    sole[sole < 0] = -1
    borders = arr.borders(piece, sole)
    members = {p: sets.loc[np.flatnonzero(piece == p)[0]] for p in np.unique(piece[piece >= 0])}
    allowed = pd.DataFrame(
        [(p, g) for p, gs in members.items() for g in gs], columns=["piece", "grid"]
    )
    borders = allowed.merge(borders, on=["piece", "grid"], how="left").fillna({"m": 0.0})
    owned = np.bincount(label[label >= 0], minlength=len(state.codes))
    chosen = _choose(borders, state.households, state.rule)
    for p, gs in members.items():
        # A grid with nothing of its own keeps the overlap, so no grid vanishes silently.
        bare = [g for g in gs if owned[g] == 0]
        to = bare[0] if bare else int(chosen[p])
        faces = np.flatnonzero(piece == p)
        label[faces] = to
        away = [g for g in gs if g != to]
        state.moves.append(Move("overlap", faces, to, away, _why(state.rule, "overlap")))


def _fill_gaps(state: _Repair) -> None:
    """Step 3: each piece of faces in no grid goes to a neighbour."""
    arr, label = state.arr, state.label
    gap = label == -1
    if not gap.any():
        return
    piece = np.where(gap, arr.components(np.where(gap, 0, -1)), -1)
    chosen = _choose(arr.borders(piece, label), state.households, state.rule)
    for p in np.unique(piece[piece >= 0]):
        faces = np.flatnonzero(piece == p)
        if p not in chosen.index:
            state.unresolved.append(f"gap of {arr.area[faces].sum():.0f} m² has no grid next to it")
            continue
        label[faces] = chosen[p]
        state.moves.append(Move("gap", faces, int(chosen[p]), [], _why(state.rule, "gap")))


def _pin_edge_areas(
    state: _Repair, egeoms: np.ndarray, target: np.ndarray, geoms: np.ndarray
) -> None:
    """Step 4: edge areas go wholly to their grid, if they touch it.

    Joining an area to a grid it does not touch would leave the grid in two
    pieces. A manual assignment of that kind stays a finding for the planner; an
    automatic one follows the grids. Faces of areas assigned by hand are pinned.
    """
    pinned_e = target >= 0
    if not pinned_e.any():
        return
    edges, label, codes = state.edges, state.label, state.codes
    manual = (edges["assigned_by"] == "manual").to_numpy()
    k = np.flatnonzero(pinned_e)
    apart = k[~touching(egeoms[k], geoms[target[k]])]
    pinned_e[apart] = False
    for e in apart[manual[apart]]:
        state.unresolved.append(
            f"edge area {edges['edge_id'].iloc[e]} is assigned by hand to grid "
            f"{codes[target[e]]}, which it does not touch; settle it to a grid next to it"
        )
    if not pinned_e.any():
        return
    fe, ek = state.arr.within(egeoms[pinned_e])
    ek = np.flatnonzero(pinned_e)[ek]
    keep = label[fe] >= -1
    fe, ek = fe[keep], ek[keep]
    for e in np.unique(ek):
        faces = fe[ek == e]
        to = int(target[e])
        away = sorted({int(x) for x in label[faces] if x >= 0 and x != to})
        if away:
            edge_id = str(edges["edge_id"].iloc[e])
            state.moves.append(
                Move(
                    "edge_area",
                    faces[label[faces] != to],
                    to,
                    away,
                    f"边缘地带 {edges['edge_id'].iloc[e]} 整体归入所属网格 {codes[to]}",
                    ref=edge_id,
                )
            )
        label[faces] = to
        if manual[e]:
            state.pinned[faces] = True


def _keep_buildings_whole(
    state: _Repair, bgeoms: np.ndarray, loose_b: np.ndarray, cluster: np.ndarray
) -> None:
    """Step 5: cut buildings go wholly to the grid holding most of them.

    Overlapping footprints move together, or one would cut the other.
    """
    if not loose_b.any():
        return
    arr, label, codes = state.arr, state.label, state.codes
    fb, bk = arr.within(bgeoms[loose_b])
    bk = np.flatnonzero(loose_b)[bk]
    keep = label[fb] >= 0
    fb, bk = fb[keep], bk[keep]
    unit = cluster[bk]
    ids = state.plan.buildings["building_id"].astype(str).to_numpy()
    frame = pd.DataFrame({"f": fb, "u": unit}).drop_duplicates("f")
    for u, sub in frame.groupby("u"):
        faces_u = sub["f"].to_numpy()
        current = label[faces_u]
        if len(np.unique(current)) <= 1:
            continue
        by_grid = pd.Series(arr.area[faces_u]).groupby(current).sum()
        to = int(by_grid.idxmax())
        names = ", ".join(ids[np.flatnonzero(cluster == u)][:3])
        state.moves.append(
            Move(
                "building",
                faces_u[current != to],
                to,
                sorted({int(x) for x in current if x != to}),
                f"楼栋 {names} 整体归入占其面积最多的网格 {codes[to]}，边界绕开楼栋",
                ref=names,
            )
        )
        label[faces_u] = to


def _merge_pieces(state: _Repair) -> bool:
    """Step 6: orphan pieces of a grid and slivers join a neighbour; True if any moved."""
    arr, label, t = state.arr, state.label, state.t
    valid = label >= 0
    comp = arr.components(np.where(valid, label, -1))
    comp = np.where(valid, comp, -1)
    frame = pd.DataFrame({"c": comp[valid], "g": label[valid], "a": arr.area[valid]})
    per = frame.groupby("c").agg(g=("g", "first"), a=("a", "sum"))
    per["main"] = per["a"] == per.groupby("g")["a"].transform("max")
    per["main"] &= ~per.duplicated(["g", "main"]) | ~per["main"]
    # Slivers: tiny pieces, or pieces thin everywhere (checked on their dissolved shape).
    small = per.index[per["a"] < t.sliver_area_m2]
    candidates = per.index[(per["a"] >= t.sliver_area_m2)]
    thin = pd.Series(False, index=per.index)
    if len(candidates):
        geo = gpd.GeoDataFrame({"c": comp[valid]}, geometry=arr.faces[valid])
        geo = geo[geo["c"].isin(candidates)].dissolve("c", method="coverage")
        width = 2 * shapely.area(geo.geometry) / np.maximum(shapely.length(geo.geometry), 1e-9)
        maybe = geo.index[width < 2 * t.sliver_width_m]
        if len(maybe):
            thin.loc[maybe] = is_thin(geo.geometry.loc[maybe].to_numpy(), t.sliver_width_m)
    per["sliver"] = False
    per.loc[small, "sliver"] = True
    per.loc[thin[thin].index, "sliver"] = True
    has_pin = pd.Series(state.pinned[valid]).groupby(comp[valid]).any()
    move = per[(~per["main"] | per["sliver"]) & ~has_pin.reindex(per.index, fill_value=False)]
    if move.empty:
        return False
    piece = np.where(np.isin(comp, move.index.to_numpy()), comp, -1)
    borders = arr.borders(piece, label)
    borders = borders[borders["grid"] != per["g"].reindex(borders["piece"]).to_numpy()]
    chosen = _choose(borders, state.households, state.rule)
    changed = False
    for c, row in move.iterrows():
        if c not in chosen.index:
            continue
        faces = np.flatnonzero(comp == c)
        kind = "sliver" if row["sliver"] else "orphan"
        to = int(chosen[c])
        state.moves.append(Move(kind, faces, to, [int(row["g"])], _why(state.rule, kind)))
        label[faces] = to
        changed = True
    return changed


def _finish(state: _Repair) -> FixPlan:
    """Dissolve the faces per grid, re-assess the grids and turn the moves into proposals."""
    plan = state.plan
    new, removed = _dissolved(state)
    _clip_outside(state)
    buildings = plan.buildings.copy()
    new["area_m2"] = shapely.area(new.geometry.to_numpy())
    if len(buildings):
        pairs = overlay_pairs(buildings.geometry.to_numpy(), new.geometry.to_numpy())
        major = majority(pairs, len(buildings))
        buildings["grid_code"] = np.where(
            major >= 0, new["grid_code"].to_numpy()[np.maximum(major, 0)], None
        )
        new = assess(new, buildings)
    codes = state.codes
    before = state.findings.households.reindex(codes).fillna(0).astype(int)
    after = pd.Series(new["households"].to_numpy(), index=new["grid_code"].astype(str))
    per_grid = pd.DataFrame({"grid_code": codes, "households_before": before.to_numpy()})
    per_grid["households_after"] = after.reindex(codes).fillna(0).astype(int).to_numpy()
    per_grid["change"] = per_grid["households_after"] - per_grid["households_before"]
    edges = state.edges
    if len(edges):
        edges = follow_grids(edges, new)
    proposals, rounding = _proposals(state, buildings)
    return FixPlan(
        plan=plan,
        proposals=proposals,
        grids=new,
        buildings=buildings,
        edge_areas=edges,
        per_grid=per_grid,
        removed=removed,
        unresolved=state.unresolved,
        rule=state.rule,
        rounding=rounding,
    )


def _dissolved(state: _Repair) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The repaired grids (faces dissolved per label), and the codes of grids left empty."""
    grids, label, arr = state.plan.grids, state.label, state.arr
    valid = label >= 0
    faces = gpd.GeoDataFrame({"g": label[valid]}, geometry=arr.faces[valid], crs=state.plan.crs)
    shapes = faces.dissolve("g", method="coverage").geometry
    kept = shapes.index.to_numpy()
    removed = [state.codes[g] for g in range(len(grids)) if g not in set(kept.tolist())]
    new = grids.iloc[kept].copy()
    new["geometry"] = shapes.to_numpy()
    return new.reset_index(drop=True), removed


def _clip_outside(state: _Repair) -> None:
    """Record the pieces outside the community the clip dropped, per grid."""
    arr = state.arr
    dropped = np.flatnonzero(state.label == -2)
    if not len(dropped):
        return
    f_idx, g_idx = arr.within(state.plan.grids.geometry.to_numpy())
    out = np.isin(f_idx, dropped)
    for g in np.unique(g_idx[out]):
        fs = f_idx[out & (g_idx == g)]
        if arr.area[fs].sum() >= state.t.area_tolerance_m2:
            state.moves.append(
                Move("outside_community", fs, -1, [int(g)], "超出社区边界的部分裁去")
            )


def _proposals(state: _Repair, buildings: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """One proposal row per move with the households it carries; and the rounding pieces."""
    arr, codes, t = state.arr, state.codes, state.t
    rows = []
    reps = buildings.geometry.representative_point().to_numpy() if len(buildings) else []
    btree = shapely.STRtree(reps) if len(buildings) else None
    bhh = buildings["households"].to_numpy() if len(buildings) else np.empty(0)
    rounding = 0
    for m in state.moves:
        if len(m.faces) == 0:
            continue
        geom = shapely.coverage_union_all(arr.faces[m.faces])
        if m.kind in _ROUNDING_KINDS:
            # tiny, or long and a few millimetres wide (a snapped outline)
            if arr.area[m.faces].sum() < t.area_tolerance_m2 or is_noise(np.array([geom]), t)[0]:
                rounding += 1  # applied, but coordinate rounding is not worth a line each
                continue
        hh = 0
        if btree is not None:
            hit = btree.query(geom, predicate="contains")
            hh = int(bhh[hit].sum())
        rows.append(
            {
                "kind": m.kind,
                "to_grid": codes[m.to_grid] if m.to_grid >= 0 else None,
                "from_grids": [codes[g] for g in m.from_grids],
                "area_m2": float(arr.area[m.faces].sum()),
                "households": hh,
                "ref": m.ref,
                "reason": m.reason,
                "geometry": geom,
            }
        )
    columns = ["kind", "to_grid", "from_grids", "area_m2", "households", "ref", "reason"]
    proposals = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*columns, "geometry"]), geometry="geometry", crs=state.plan.crs
    )
    return proposals, rounding


def follow_grids(edges: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Auto-assigned edge areas take the grid now holding most of them (one CRS)."""
    edges = edges.copy()
    pairs = overlay_pairs(edges.geometry.to_numpy(), grids.geometry.to_numpy())
    major = majority(pairs, len(edges))
    codes = grids["grid_code"].astype(str).to_numpy()
    auto = (edges["assigned_by"] != "manual").to_numpy() & (major >= 0)
    now = np.where(major >= 0, codes[np.maximum(major, 0)], None)
    moved = auto & (edges["grid_code"].to_numpy() != now)
    if moved.any():
        edges.loc[moved, "reason"] = [f"自动：随修复并入网格 {c}" for c in now[moved]]
        edges.loc[moved, "grid_code"] = now[moved]
    return edges


def off_range(households: np.ndarray, t: Thresholds) -> np.ndarray:
    """Households below the minimum or above the maximum (0 inside the range)."""
    households = np.asarray(households, dtype=float)
    return np.maximum(np.maximum(t.min_households - households, households - t.max_households), 0)


def pushed_out_of_range(fixes: FixPlan, t: Thresholds) -> list[str]:
    """Grids the repairs themselves moved (further) out of the household range."""
    pg = fixes.per_grid
    worse = off_range(pg["households_after"], t) > off_range(pg["households_before"], t)
    present = pg["grid_code"].isin(set(fixes.grids["grid_code"].astype(str)))
    return pg.loc[worse & (pg["change"] != 0) & present, "grid_code"].astype(str).tolist()
