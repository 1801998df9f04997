"""Store-level grid steps: generate grids, rebalance an existing plan, code and assess them.

``make_grids`` runs blocks → partition → zones → codes → 四维测评 and writes
``blocks``, ``grids``, ``zones`` and the buildings' ``block_id``/``grid_code``
in one all-or-nothing write. ``rebalance`` starts from the grids a community
already uses and moves as few blocks as it can to bring every grid into range;
it writes the new plan to ``scenario_grids`` (scenario ``rebalanced``) and the
moves to ``grid_moves``, leaving the current plan as it is unless asked to
apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csgraph

from planner.assess import ASSESS_FIELDS, assess, assessment_report
from planner.blocks import (
    CUT_FACTORS,
    DEFAULT_COMMUNITY_CODE,
    GRID_SIZE,
    Faces,
    Units,
    blocks_frame,
    build_faces,
    community_boundary,
    default_depth,
    load_inputs,
    make_units,
)
from planner.codes import grid_codes, group_zones
from planner.communities import choose_community, community_of, work_areas
from planner.edge_areas import find_edge_areas_in, follow_plan, merge_detected, pinned_codes
from planner.edge_areas import summary as edge_summary
from planner.errors import InputError, PlannerError
from planner.geometry import blank, in_range, majority, overlay_pairs, representative_points
from planner.parallel import (
    auto_workers,
    check_workers,
    map_in_order,
    may_start_processes,
)
from planner.partition import Partition, diagnose, partition
from planner.plan_commit import commit_plan, zones_from_grids
from planner.plan_versions import PlanProposal, current_version
from planner.progress import Progress, no_progress
from planner.reasons import OutOfRange
from planner.settings import settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from planner.store import Store

#: Scenario name of `planner rebalance` output.
REBALANCED = "rebalanced"
#: Rebalancing: cost of moving one household, and one block, out of its grid
#: (against cut costs of roughly metres × 1-6): households moved weigh most.
_MOVE_HOUSEHOLD = 50.0
_MOVE_BLOCK = 200.0
#: Cost of moving a unit holding an edge area held to its grid (manual, settled): above
#: any cut cost and any households out of range, so a single move never takes it away.
_PINNED_STAY = 1e9


@dataclass
class GridCut:
    """A community cut into grids: its faces, the units made of them, their partition.

    Attributes
    ----------
    faces, units
        From :func:`planner.blocks.build_faces` and :func:`planner.blocks.make_units`.
    result
        The partition of the units into grids.
    reasons
        Per grid, why it stays out of the household range (None: in range).
    """

    faces: Faces
    units: Units
    result: Partition
    reasons: list[OutOfRange | None]

    @property
    def flags(self) -> list[str | None]:
        """The reasons in words, as the grids' ``flag`` field holds them."""
        return [None if r is None else r.text() for r in self.reasons]


def check_bounds(min_households: int, max_households: int) -> None:
    """Refuse bounds that cannot describe a grid."""
    if min_households < 0 or max_households <= 0:
        msg = (
            f"`min_households` and `max_households` must be positive, got {min_households} "
            f"and {max_households}"
        )
        raise InputError(msg, param="min_households")
    if min_households > max_households:
        msg = f"`min_households` {min_households} is above `max_households` {max_households}"
        raise InputError(msg, param="min_households")


def plan_grids(
    faces: Faces,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    initial_faces: np.ndarray | None = None,
    pinned: np.ndarray | None = None,
    rounds: int = 4,
    time_limit: float | None = None,
) -> GridCut:
    """Partition the community into grids, opening blocks where the bounds need it.

    Starts from the default blocks (opened only while above the maximum). Where
    a grid stays out of range for a reason other than a single too-large
    building or an isolated part, the blocks of that grid and its neighbours are
    opened one level (street → compound parts → lanes → building cells; a
    compound within the bound is never opened) and the partition is repaired
    from where it was.

    Parameters
    ----------
    faces
        From :func:`planner.blocks.build_faces`.
    min_households, max_households
        The range.
    initial_faces
        An existing plan to rebalance: a grid label (≥ 0) per face. The result
        then moves as few households as it can.
    pinned
        With ``initial_faces``: per edge area of ``faces`` (``Faces.edge_faces``),
        the label of the grid it is held to (-1: free). Its unit starts in that
        grid and moving it away costs more than any other move, so the grid keeps
        it. (Every edge area, pinned or not, is one unit's: no grid splits it.)
    rounds
        Opening rounds at most.
    time_limit
        Seconds for each partition round.

    Returns
    -------
    GridCut
    """
    min_households = settings.grid.min_households if min_households is None else min_households
    max_households = settings.grid.max_households if max_households is None else max_households
    time_limit = settings.grid.partition_time_limit if time_limit is None else time_limit
    depth = default_depth(faces, max_households=max_households)
    units = make_units(faces, depth, max_households=max_households)
    initial, stay = None, None
    if initial_faces is not None:
        initial = _pin(units, faces, _unit_labels(units, initial_faces, faces.area), pinned)
        stay = _stay_costs(units, faces, pinned)

    def run(units: Units, initial: np.ndarray | None, stay: np.ndarray | None) -> Partition:
        return partition(
            units.frame["households"].to_numpy(),
            units.edges,
            min_households=min_households,
            max_households=max_households,
            initial=initial,
            stay_cost=stay,
            time_limit=time_limit,
        )

    result = run(units, initial, stay)
    if initial is None and not faces.edge_faces.empty:
        result = _best_of(
            result, _around_edge_areas(faces, depth, run, units), min_households, max_households
        )
    home = initial
    for _ in range(rounds):
        reasons = _reasons(units, result, min_households, max_households)
        fixable = [g for g, r in enumerate(reasons) if r is not None and not r.reason.physical]
        if not fixable:
            break
        opened = _open(faces, units, result, fixable, depth, max_households)
        if opened is None:
            break
        depth = opened
        face_grid = _face_labels(units, result)
        face_home = None if home is None else home[units.face_unit]
        units = make_units(faces, depth, max_households=max_households)
        warm = _unit_labels(units, face_grid, faces.area)
        if face_home is not None:
            home = _pin(units, faces, _unit_labels(units, face_home, faces.area), pinned)
            warm = _pin(units, faces, warm, pinned)
            stay = _stay_costs(units, faces, pinned)
        result = run(units, warm, stay)
    reasons = _reasons(units, result, min_households, max_households)
    return GridCut(faces=faces, units=units, result=result, reasons=reasons)


def _around_edge_areas(
    faces: Faces,
    depth: np.ndarray,
    run: Callable[[Units, np.ndarray | None, np.ndarray | None], Partition],
    units: Units,
) -> Partition:
    """The partition drawn without the edge areas, then mended to keep each one whole.

    The search is local: binding the blocks of an edge area changes where it
    starts and so which cuts it ends in. Starting from the grids the blocks alone
    give, moving only what the edge areas need, keeps the cuts those grids found.
    """
    free_faces = replace(faces, edge_faces=faces.edge_faces.iloc[:0])
    free_units = make_units(free_faces, depth)
    free = run(free_units, None, None)
    warm = _unit_labels(units, _face_labels(free_units, free), faces.area)
    return run(units, warm, None)


def _best_of(a: Partition, b: Partition, min_households: int, max_households: int) -> Partition:
    """The partition with fewer households out of range, then the cheaper cut."""

    def key(p: Partition) -> tuple[float, float]:
        off = np.maximum(min_households - p.households, 0) + np.maximum(
            p.households - max_households, 0
        )
        return float(off.sum()), float(p.cut_cost)

    return b if key(b) < key(a) else a


def _face_labels(units: Units, result: Partition) -> np.ndarray:
    """Each face's grid label (in the partition's initial labels where it had some)."""
    labels = result.labels if result.labels is not None else np.arange(len(result.units))
    return labels[result.assignment][units.face_unit]


def _unit_labels(units: Units, face_labels: np.ndarray, face_area: np.ndarray) -> np.ndarray:
    """Label per unit: the label covering most of its area, each label kept contiguous."""
    n = len(units.frame)
    frame = pd.DataFrame({"unit": units.face_unit, "label": face_labels, "area": face_area})
    frame = frame[frame["label"] >= 0]
    best = (
        frame.groupby(["unit", "label"], as_index=False)["area"]
        .sum()
        .sort_values(["unit", "area"], ascending=[True, False])
        .drop_duplicates("unit")
    )
    labels = np.full(n, -1, dtype=np.int64)
    labels[best["unit"].to_numpy()] = best["label"].to_numpy()
    return _contiguous(labels, units)


def _contiguous(labels: np.ndarray, units: Units) -> np.ndarray:
    """Fill unlabelled units and re-attach detached pieces of a label to a neighbour.

    The largest piece (by households, then area) of each label keeps it; other
    pieces and unlabelled units join the neighbouring label they share most
    boundary with, so every label is one connected piece.
    """
    labels = labels.copy()
    n = len(labels)
    e = units.edges
    a, b, length = e["a"].to_numpy(), e["b"].to_numpy(), e["length"].to_numpy()
    hh = units.frame["households"].to_numpy()
    area = units.frame["area_m2"].to_numpy()
    for _ in range(n + 1):
        same = (labels[a] == labels[b]) & (labels[a] >= 0)
        graph = sparse.coo_matrix((np.ones(same.sum()), (a[same], b[same])), shape=(n, n))
        _, piece = csgraph.connected_components(graph, directed=False)
        frame = pd.DataFrame({"piece": piece, "label": labels, "hh": hh, "area": area})
        sizes = frame.groupby(["label", "piece"], as_index=False)[["hh", "area"]].sum()
        sizes = sizes.sort_values(["label", "hh", "area"], ascending=[True, False, False])
        keep = set(sizes[sizes["label"] >= 0].drop_duplicates("label")["piece"])
        loose = ~np.isin(piece, list(keep))
        if not loose.any():
            break
        # Attach loose units touching a kept piece to the label they share most boundary with.
        touch = loose[a] != loose[b]
        if not touch.any():
            labels[loose] = labels[~loose][0] if (~loose).any() else 0
            break
        src = np.where(loose[a[touch]], a[touch], b[touch])
        dst = np.where(loose[a[touch]], b[touch], a[touch])
        pick = (
            pd.DataFrame({"src": src, "label": labels[dst], "length": length[touch]})
            .groupby(["src", "label"], as_index=False)["length"]
            .sum()
            .sort_values(["src", "length"], ascending=[True, False])
            .drop_duplicates("src")
        )
        labels[pick["src"].to_numpy()] = pick["label"].to_numpy()
    return labels


def _pinned_units(units: Units, faces: Faces, pinned: np.ndarray | None) -> pd.Series:
    """Label each unit holding a pinned edge area is held to (by unit index)."""
    if pinned is None or faces.edge_faces.empty:
        return pd.Series(dtype=np.int64)
    ef = faces.edge_faces
    label = np.asarray(pinned)[ef["edge"].to_numpy()]
    frame = pd.DataFrame({"unit": units.face_unit[ef["face"].to_numpy()], "label": label})
    frame = frame.assign(area=ef["area"].to_numpy())[frame["label"] >= 0]
    best = frame.groupby(["unit", "label"])["area"].sum().reset_index()
    best = best.sort_values(["unit", "area"], ascending=[True, False]).drop_duplicates("unit")
    return best.set_index("unit")["label"]


def _pin(units: Units, faces: Faces, labels: np.ndarray, pinned: np.ndarray | None) -> np.ndarray:
    """Start the units holding pinned edge areas in the grid they are held to."""
    held = _pinned_units(units, faces, pinned)
    if held.empty:
        return labels
    labels = labels.copy()
    known = np.isin(held.to_numpy(), labels)
    labels[held.index.to_numpy()[known]] = held.to_numpy()[known]
    return _contiguous(labels, units)


def _stay_costs(
    units: Units, faces: Faces | None = None, pinned: np.ndarray | None = None
) -> np.ndarray:
    """Cost of moving each unit out of its starting grid; a pinned edge area's: prohibitive."""
    stay = units.frame["households"].to_numpy() * _MOVE_HOUSEHOLD + _MOVE_BLOCK
    if faces is not None:
        held = _pinned_units(units, faces, pinned)
        stay = stay.astype(float)
        stay[held.index.to_numpy()] = _PINNED_STAY
    return stay


def _reasons(
    units: Units, result: Partition, min_households: int, max_households: int
) -> list[OutOfRange | None]:
    return diagnose(
        result,
        units.frame["households"].to_numpy(),
        units.edges,
        min_households=min_households,
        max_households=max_households,
        kinds=units.frame["kind"].to_numpy(),
    )


def _open(
    faces: Faces,
    units: Units,
    result: Partition,
    grids: list[int],
    depth: np.ndarray,
    max_households: int,
) -> np.ndarray | None:
    """Depth per face with the blocks of ``grids`` and their neighbours opened a level."""
    e = units.edges
    grid_of = result.assignment
    near = set(grids)
    ga, gb = grid_of[e["a"].to_numpy()], grid_of[e["b"].to_numpy()]
    for g in grids:
        near |= set(gb[ga == g]) | set(ga[gb == g])
    frame = units.frame
    openable = ~((frame["kind"] == "compound") & (frame["households"] <= max_households))
    chosen = np.isin(grid_of, list(near)) & openable.to_numpy()
    face_chosen = chosen[units.face_unit]
    deeper = depth + 1
    allowed = (deeper <= 2) | ((deeper == 3) & (faces.labels[:, 3] >= 0))
    change = face_chosen & allowed & (depth < 3)
    if not change.any():
        return None
    out = depth.copy()
    out[change] += 1
    return out


# -- layers ------------------------------------------------------------------------


def grid_frame(cut: GridCut, crs: Any) -> gpd.GeoDataFrame:
    """One polygon per grid: the exact union of its faces."""
    faces = cut.faces.geometry
    grid_of_face = cut.result.assignment[cut.units.face_unit]
    k = len(cut.result.units)
    order = np.argsort(grid_of_face, kind="stable")
    bounds = np.searchsorted(grid_of_face[order], np.arange(k + 1))
    geoms = np.empty(k, dtype=object)
    for g in range(k):
        geoms[g] = shapely.coverage_union_all(faces[order[bounds[g] : bounds[g + 1]]])
    return gpd.GeoDataFrame(
        {
            "households": cut.result.households.astype(np.int64),
            "flag": cut.flags,
        },
        geometry=geoms,
        crs=crs,
    )


def grid_adjacency(cut: GridCut) -> pd.DataFrame:
    """Grid pairs sharing a boundary, with its length and cut cost."""
    e = cut.units.edges
    ga = cut.result.assignment[e["a"].to_numpy()]
    gb = cut.result.assignment[e["b"].to_numpy()]
    frame = pd.DataFrame(
        {
            "a": np.minimum(ga, gb),
            "b": np.maximum(ga, gb),
            "length": e["length"].to_numpy(),
            "cost": e["cost"].to_numpy(),
        }
    )
    frame = frame[frame["a"] != frame["b"]]
    return frame.groupby(["a", "b"], as_index=False)[["length", "cost"]].sum()


def _community_code(store: Store) -> str:
    community = store.read("community")
    code = community["community_code"].dropna()
    return str(code.iloc[0]) if len(code) else DEFAULT_COMMUNITY_CODE


def _attach(
    cut: GridCut, buildings: gpd.GeoDataFrame, codes: np.ndarray
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Blocks with their grid code, and buildings with block id and grid code."""
    units = cut.units
    blocks = blocks_frame(units)
    blocks["grid_code"] = codes[cut.result.assignment]
    bu = units.building_unit
    inside = bu >= 0
    buildings = buildings.copy()
    buildings["block_id"] = None
    buildings["grid_code"] = None
    buildings.loc[inside, "block_id"] = units.frame["block_id"].to_numpy()[bu[inside]]
    buildings.loc[inside, "grid_code"] = codes[cut.result.assignment[bu[inside]]]
    return blocks, buildings


def grids_report(
    grids: pd.DataFrame,
    blocks: pd.DataFrame,
    cut_cost: float,
    min_households: int,
    max_households: int,
) -> dict[str, Any]:
    """The JSON report of a cut into grids: counts, range, flags.

    ``blocks`` are the units the grids are made of (with their ``kind``) and
    ``cut_cost`` the weighted length of the boundaries between grids.
    """
    hh = grids["households"].to_numpy()
    ok = in_range(hh, min_households, max_households)
    flagged = [
        {"grid_code": c, "households": int(h), "reason": r}
        for c, h, r in zip(grids["grid_code"], hh, grids["flag"], strict=True)
        if isinstance(r, str) and r
    ]
    return {
        "grids": int(len(grids)),
        "in_range": int(ok.sum()),
        "households_min": int(hh.min()) if len(hh) else 0,
        "households_max": int(hh.max()) if len(hh) else 0,
        "households": int(hh.sum()),
        "min": min_households,
        "max": max_households,
        "flagged": flagged,
        "blocks": int(len(blocks)),
        "block_kinds": {str(k): int(v) for k, v in blocks["kind"].value_counts().items()},
        "zones": int(grids["zone_code"].nunique()),
        "cut_cost": round(float(cut_cost), 1),
    }


def plan_edge_areas(
    store: Store,
    inputs: dict[str, gpd.GeoDataFrame],
    areas: list[tuple[shapely.Geometry, dict[str, gpd.GeoDataFrame]]] | None = None,
) -> gpd.GeoDataFrame:
    """The edge areas a new plan must keep whole, in the store's metric CRS.

    Detected afresh exactly as ``planner edges --detect`` does (imported, drawn,
    manually assigned and disputed areas kept as they are, earlier detected ones
    keeping their ids), so the plan is drawn around the edge areas the next
    detection finds. They are found from ``inputs`` (:func:`planner.blocks.load_inputs`),
    the layers the plan is made of: reading them again could see another command's
    write and hide it from the conflict check.

    ``areas`` (each area with the part of ``inputs`` reaching into it) detects them
    area by area — communities, regions of a large one — so the work stays bounded;
    None detects them in the union of the communities at once.
    """
    if areas is None:
        whole = shapely.make_valid(shapely.union_all(inputs["community"].geometry.to_numpy()))
        areas = [(whole, inputs)]
    found = find_edge_areas_in(areas)
    return merge_detected(store.read_metric("edge_areas"), found).to_crs(store.metric_crs)


def pinned_labels(edges: pd.DataFrame, codes: pd.Series) -> np.ndarray:
    """Per edge area, the position in ``codes`` of the grid it is held to (-1: free)."""
    index = {str(c): k for k, c in enumerate(codes)}
    return np.array([index.get(str(c), -1) for c in pinned_codes(edges)], dtype=np.int64)


def _current_grids(store: Store) -> pd.DataFrame:
    """Codes, zones and names of the store's current plan (empty without one)."""
    current = store.read("grids")
    if not current.empty:
        current = current[blank(current["scenario"])]
    return pd.DataFrame(current[["grid_code", "zone_code", "name"]]) if len(current) else current


def honour_pins(
    codes: list[str],
    zones: list[str],
    names: list[str],
    geoms: np.ndarray,
    edges: gpd.GeoDataFrame,
    current: pd.DataFrame | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Codes of a new plan with each edge area held to a grid in the grid of that code.

    The grid holding an area assigned by hand or settled (:func:`pinned_codes`)
    takes the area's grid code (with its zone and name): it swaps codes with the
    grid that drew it, or takes it if no grid did. Where one grid holds areas held
    to different grids, the code held by the largest area wins; the others stay
    findings of ``planner check`` for the planner to settle anew.

    Parameters
    ----------
    codes, zones, names
        Code, zone code and name of each grid, as numbered.
    geoms
        The grids (metric CRS, as ``edges``).
    edges
        The edge areas.
    current
        ``grid_code``, ``zone_code``, ``name`` of the plan being replaced: a code
        taken back gets its old zone and name.
    """
    codes, zones, names = list(codes), list(zones), list(names)
    want = pinned_codes(edges)
    k = np.flatnonzero(~pd.isna(want)) if len(want) else np.empty(0, dtype=int)
    if len(k) == 0 or len(geoms) == 0:
        return codes, zones, names
    egeoms = edges.geometry.to_numpy()[k]
    holder = majority(overlay_pairs(egeoms, geoms), len(k))
    frame = pd.DataFrame(
        {"grid": holder, "code": want[k].astype(str), "area": shapely.area(egeoms)}
    )
    frame = (
        frame[frame["grid"] >= 0]
        .groupby(["grid", "code"], as_index=False)["area"]
        .sum()
        .sort_values(["area", "grid"], ascending=[False, True])
        .drop_duplicates("grid")
        .drop_duplicates("code")
    )
    old = current.set_index(current["grid_code"].astype(str)) if current is not None else None
    done: set[int] = set()
    for g, code in zip(frame["grid"], frame["code"], strict=True):
        g = int(g)
        if codes[g] != code:
            if code in codes:
                h = codes.index(code)
                if h in done:
                    continue
                for values in (codes, zones, names):
                    values[g], values[h] = values[h], values[g]
            else:
                codes[g] = code
                known = old is not None and code in old.index
                zones[g] = str(old.at[code, "zone_code"]) if known else code[:-3]
                names[g] = str(old.at[code, "name"]) if known else code
        done.add(g)
    return codes, zones, names


def draw_grids(
    layers: dict[str, gpd.GeoDataFrame],
    *,
    community_code: str = DEFAULT_COMMUNITY_CODE,
    edge_areas: gpd.GeoDataFrame | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    grids_per_zone: int | None = None,
    time_limit: float | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Draw grids from layers in memory, without a store: a what-if in a notebook.

    The same engine as :func:`make_grids` (blocks along roads, walls and compounds,
    300–500 households per grid, edge areas kept whole), returning the layers
    instead of writing them.

    Parameters
    ----------
    layers
        ``community`` (boundary polygons) and ``buildings`` (with ``households``)
        required; ``roads``, ``barriers``, ``compounds`` optional; all in one metric CRS
        (e.g. ``store.read_metric(name)`` or ``frame.to_crs(frame.estimate_utm_crs())``).
    community_code
        The 12-digit code grid codes start with.
    edge_areas
        Edge areas (边缘地带) no grid may split (same CRS), or None.
    min_households, max_households, grids_per_zone, time_limit
        As for :func:`make_grids` (``settings.grid`` when None).

    Returns
    -------
    (grids, buildings)
        The grids (``grid_code``, ``zone_code``, ``name``, ``households``, ``flag``
        and the 四维测评 fields) and the buildings with their ``block_id`` and
        ``grid_code``, in the layers' CRS.

    Examples
    --------
    >>> layers = {n: store.read_metric(n) for n in ("community", "buildings", "roads")}
    >>> grids, buildings = draw_grids(layers, max_households=450)  # doctest: +SKIP
    """
    crs = layers["community"].crs
    if crs is None or crs.is_geographic:
        msg = f"`layers` must be in one metric CRS, got {crs}"
        raise InputError(msg, param="layers")
    empty = gpd.GeoDataFrame(geometry=[], crs=crs)
    inputs = {
        name: layers.get(name, empty)
        for name in ("community", "buildings", "roads", "barriers", "compounds")
    }
    if inputs["buildings"].empty:
        raise InputError("`layers` has no buildings; grids are made of buildings", param="layers")
    bounds = (
        settings.grid.min_households if min_households is None else min_households,
        settings.grid.max_households if max_households is None else max_households,
    )
    check_bounds(*bounds)
    edges = empty if edge_areas is None else edge_areas
    grids, buildings, _, _ = _draw(
        inputs,
        edges,
        community_code,
        *bounds,
        settings.grid.grids_per_zone if grids_per_zone is None else grids_per_zone,
        settings.grid.partition_time_limit if time_limit is None else time_limit,
    )
    return grids, buildings


@dataclass
class _Drawn:
    """One area's grids, detached from the faces they were cut from.

    The faces and units of an area are its working set: once its grids, blocks and
    the buildings' places are taken out, they are let go before the next area.

    Attributes
    ----------
    grids
        ``households``, ``flag`` and geometry of each grid (metric CRS).
    adjacency
        ``a``, ``b``, ``length``, ``cost`` of grids sharing a boundary.
    blocks
        The blocks layer rows, with ``grid`` (the grid's position in ``grids``).
    building_block, building_grid
        Block id and grid position of each of the area's buildings (None, -1: outside).
    cut_cost
        Weighted length of the boundaries between grids.
    """

    grids: gpd.GeoDataFrame
    adjacency: pd.DataFrame
    blocks: gpd.GeoDataFrame
    building_block: np.ndarray
    building_grid: np.ndarray
    cut_cost: float


def _draw_area(
    inputs: dict[str, gpd.GeoDataFrame],
    edges: gpd.GeoDataFrame,
    min_households: int,
    max_households: int,
    time_limit: float,
    progress: Progress = no_progress,
) -> _Drawn:
    """Cut one area (a community, or a region of a large one) into grids."""
    faces = build_faces(**inputs, edge_areas=edges, progress=progress)
    progress("partition into grids")
    cut = plan_grids(
        faces,
        min_households=min_households,
        max_households=max_households,
        time_limit=time_limit,
    )
    units = cut.units
    blocks = blocks_frame(units)
    blocks["grid"] = cut.result.assignment
    bu = units.building_unit
    inside = bu >= 0
    building_block = np.full(len(bu), None, dtype=object)
    building_block[inside] = units.frame["block_id"].to_numpy()[bu[inside]]
    building_grid = np.where(inside, cut.result.assignment[np.maximum(bu, 0)], -1)
    return _Drawn(
        grids=grid_frame(cut, faces.crs),
        adjacency=grid_adjacency(cut),
        blocks=blocks,
        building_block=building_block,
        building_grid=building_grid,
        cut_cost=float(cut.result.cut_cost),
    )


def _across(grids: np.ndarray, region: np.ndarray) -> pd.DataFrame:
    """Adjacency of grids of different regions: the length of border they share.

    Regions are drawn apart, so their grids meet along the road between them with
    vertices noded apart: the shared length is measured within a few centimetres.
    """
    tree = shapely.STRtree(grids)
    i, j = tree.query(grids, predicate="intersects")
    keep = (i < j) & (region[i] != region[j])
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return pd.DataFrame({"a": [], "b": [], "length": [], "cost": []})
    near = shapely.buffer(shapely.boundary(grids[j]), 0.05, cap_style="flat")
    length = shapely.length(shapely.intersection(shapely.boundary(grids[i]), near))
    frame = pd.DataFrame({"a": i, "b": j, "length": length})
    frame = frame[frame["length"] > 0.1]
    # Regions part along major roads: their borders cost what a street does.
    return frame.assign(cost=frame["length"] * CUT_FACTORS[0])


def _finish(
    drawn: list[_Drawn],
    community_code: str,
    grids_per_zone: int,
    recode: Callable[..., tuple[list[str], list[str], list[str]]] | None = None,
    prefix: list[str] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[np.ndarray], list[np.ndarray]]:
    """Zones and codes over one community's areas; blocks and buildings coded.

    Returns
    -------
    (grids, blocks, building_block, building_code)
        Grids (coded, not yet assessed), blocks with ``grid_code``, and per area the
        block id and grid code of its buildings.
    """
    offsets = np.cumsum([0, *(len(d.grids) for d in drawn)])
    grids = pd.concat([d.grids for d in drawn], ignore_index=True)
    grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=drawn[0].grids.crs)
    geoms = grids.geometry.to_numpy()
    adjacency = pd.concat(
        [
            d.adjacency.assign(a=d.adjacency["a"] + o, b=d.adjacency["b"] + o)
            for d, o in zip(drawn, offsets, strict=False)
        ],
        ignore_index=True,
    )
    if len(drawn) > 1:
        region = np.repeat(np.arange(len(drawn)), [len(d.grids) for d in drawn])
        adjacency = pd.concat([adjacency, _across(geoms, region)], ignore_index=True)
        geoms = _node_borders(geoms, region)
        grids = grids.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=grids.crs))
    zone = group_zones(geoms, adjacency, grids_per_zone=grids_per_zone)
    codes, zone_codes, names = grid_codes(community_code, geoms, zone)
    if recode is not None:
        codes, zone_codes, names = recode(codes, zone_codes, names, geoms)
    grids["grid_code"], grids["zone_code"], grids["name"] = codes, zone_codes, names
    codes = np.asarray(codes, dtype=object)
    blocks, building_block, building_code = [], [], []
    for k, (d, o) in enumerate(zip(drawn, offsets, strict=False)):
        part = d.blocks.drop(columns="grid")
        part["grid_code"] = codes[d.blocks["grid"].to_numpy() + o]
        block_ids = d.building_block
        if prefix is not None:
            # Block ids are numbered per area: the area's prefix keeps them unique.
            part["block_id"] = prefix[k] + part["block_id"].astype(str)
            parent = part["parent_id"]
            part["parent_id"] = np.where(parent.isna(), None, prefix[k] + parent.astype(str))
            block_ids = np.where(block_ids == None, None, prefix[k] + block_ids.astype(str))  # noqa: E711
        blocks.append(part)
        building_block.append(block_ids)
        inside = d.building_grid >= 0
        code = np.full(len(inside), None, dtype=object)
        code[inside] = codes[d.building_grid[inside] + o]
        building_code.append(code)
    blocks = pd.concat(blocks, ignore_index=True) if len(blocks) > 1 else blocks[0]
    return (
        grids,
        gpd.GeoDataFrame(blocks, geometry="geometry", crs=grids.crs),
        building_block,
        building_code,
    )


def _draw(
    inputs: dict[str, gpd.GeoDataFrame],
    edges: gpd.GeoDataFrame,
    community_code: str,
    min_households: int,
    max_households: int,
    grids_per_zone: int,
    time_limit: float,
    recode: Callable[..., tuple[list[str], list[str], list[str]]] | None = None,
    progress: Progress = no_progress,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, _Drawn]:
    """Grids, buildings and blocks of a new plan of one area, coded and assessed (metric CRS)."""
    drawn = _draw_area(inputs, edges, min_households, max_households, time_limit, progress)
    progress("zones and codes")
    grids, blocks, building_block, building_code = _finish(
        [drawn], community_code, grids_per_zone, recode
    )
    buildings = inputs["buildings"].copy()
    buildings["block_id"] = building_block[0]
    buildings["grid_code"] = building_code[0]
    progress("assess grids")
    grids = assess(grids, buildings)
    # Number the layer in code order so re-runs write identical rows.
    grids = grids.sort_values("grid_code").reset_index(drop=True)
    return grids, buildings, blocks, drawn


def make_grids(
    store: Store,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    grids_per_zone: int | None = None,
    time_limit: float | None = None,
    community: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Generate grids for every community and write them with zones, codes and 四维测评.

    Each community of the ``community`` layer gets grids, zones and codes of its own
    (codes start with its ``community_code``). A community holding more buildings
    than ``settings.grid.region_buildings`` is drawn region by region, cut along its
    major roads, railways and water (:func:`planner.communities.work_regions`), so
    time and memory grow with the area; zones and codes still run across the whole
    community. A store with one community of ordinary size is drawn as one area, as
    it always was.

    Parameters
    ----------
    store
        The store (needs a community boundary and buildings with households).
    min_households, max_households
        Households per grid.
    grids_per_zone
        Target grids per zone (片区).
    time_limit
        Seconds for each partition round.
    community
        Redraw only this community (its code or name) where the store holds several:
        the other communities' grids, blocks and buildings' codes stay as they are.
        None redraws every community.
    workers, scheduler
        Communities and regions are drawn in parallel, one Dask task each
        (:mod:`planner.parallel`): on a local cluster of ``workers`` processes, or on
        the workers of the scheduler at ``scheduler``. By default a store holding more
        than ``settings.grid.parallel_buildings`` buildings in several areas gets one
        worker per CPU where worker processes may start unasked
        (:func:`planner.parallel.may_start_processes`: a notebook, the ``planner``
        command; a script passes ``workers`` under ``if __name__ == "__main__":``);
        others are drawn here, one area after another.
    progress
        Called at each step.

    Returns
    -------
    dict
        ``grids``, ``in_range``, ``households_min``, ``households_max``,
        ``flagged`` (code, households, reason), ``zones``, ``blocks`` and the
        staffing ``totals`` (of the grids drawn); ``communities`` (how many) and,
        with several, or with regions, ``by_community`` (code, name, grids, in
        range, regions); the ``plan_version`` written.
    """
    proposal = propose_grids(
        store,
        min_households=min_households,
        max_households=max_households,
        grids_per_zone=grids_per_zone,
        time_limit=time_limit,
        community=community,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    progress("write grids")
    committed = commit_plan(
        store, proposal.grids, log=proposal.log, progress=progress, **proposal.commit
    )
    report = proposal.report
    report["plan_version"] = committed["plan_version"]
    return report


def propose_grids(
    store: Store,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    grids_per_zone: int | None = None,
    time_limit: float | None = None,
    community: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress = no_progress,
) -> PlanProposal:
    """Generate grids as :func:`make_grids` does, without writing them: a proposed plan.

    Parameters are those of :func:`make_grids`. The proposal's ``report`` is
    :func:`make_grids`'s report (without ``plan_version``); save it with
    :func:`planner.plan_versions.commit_proposal`.
    """
    min_households = settings.grid.min_households if min_households is None else min_households
    max_households = settings.grid.max_households if max_households is None else max_households
    grids_per_zone = settings.grid.grids_per_zone if grids_per_zone is None else grids_per_zone
    time_limit = settings.grid.partition_time_limit if time_limit is None else time_limit
    check_bounds(min_households, max_households)
    if grids_per_zone <= 0:
        msg = f"`grids_per_zone` must be positive, got {grids_per_zone}"
        raise InputError(msg, param="grids_per_zone")
    check_workers(workers, scheduler)
    base_version = current_version(store)
    community_frame, warning = community_boundary(store)
    chosen = None if community is None else choose_community(community_frame, community)
    inputs = load_inputs(store, community=community_frame)
    progress("edge areas")
    plan = work_areas(inputs)
    single = len(plan) == 1 and len(plan[0][1]) == 1
    if single:
        # One community of ordinary size: the whole store is its one area, as always.
        edges = plan_edge_areas(store, inputs)
    else:
        edges = plan_edge_areas(
            store, inputs, [(area, part) for _, parts in plan for area, part, _ in parts]
        )
    current = _current_grids(store)

    def recode(codes: list[str], zones: list[str], names: list[str], geoms: np.ndarray):
        return honour_pins(codes, zones, names, geoms, edges, current)

    if single:
        grids, buildings, blocks, drawn = _draw(
            inputs,
            edges,
            _community_code(store),
            min_households,
            max_households,
            grids_per_zone,
            time_limit,
            recode,
            progress,
        )
        cut_cost, by_community = drawn.cut_cost, None
    else:
        several = len(plan) > 1
        if chosen is not None and several:
            plan = [(k, parts) for k, parts in plan if k == chosen]
        grids, buildings, blocks, cut_cost, by_community = _draw_communities(
            plan,
            inputs,
            edges,
            (min_households, max_households),
            grids_per_zone,
            time_limit,
            recode,
            progress,
            several=several,
            parallel=(workers, scheduler),
        )
    report = grids_report(grids, blocks, cut_cost, min_households, max_households)
    if chosen is not None and len(community_frame) > 1:
        report["community"] = str(community_frame["community_code"].iloc[chosen])
        grids, blocks, buildings = _keep_others(
            store, report["community"], grids, blocks, buildings
        )
    zones = zones_from_grids(grids)
    report["totals"] = assessment_report(grids)["totals"]
    report["communities"] = len(community_frame)
    if by_community is not None:
        report["by_community"] = by_community
    outside = buildings["grid_code"].isna().to_numpy()
    report["outside_community"] = {
        "buildings": int(outside.sum()),
        "households": int(buildings["households"].fillna(0).to_numpy()[outside].sum()),
    }
    also = {}
    edge_areas = None
    if len(edges):
        edge_areas = follow_plan(edges, grids, buildings)
        report["edge_areas"] = edge_summary(edge_areas)
    if warning:
        report["warnings"] = [warning]
        also["community"] = community_frame
    log = [
        {
            "layer": "grids",
            "action": "generate",
            "detail": {k: v for k, v in report.items() if k not in ("flagged", "by_community")},
            "reason": f"planner grids --min {min_households} --max {max_households}",
        }
    ]
    return PlanProposal(
        analysis="grids",
        store=store,
        base_version=base_version,
        grids=grids,
        commit={
            "buildings": buildings,
            "blocks": blocks,
            "zones": zones,
            "edge_areas": edge_areas,
            "also": also,
            "reassess": False,
        },
        log=log,
        report=report,
    )


def _draw_communities(
    plan: list,
    inputs: dict[str, gpd.GeoDataFrame],
    edges: gpd.GeoDataFrame,
    bounds: tuple[int, int],
    grids_per_zone: int,
    time_limit: float,
    recode: Callable[..., tuple[list[str], list[str], list[str]]],
    progress: Progress,
    *,
    several: bool,
    parallel: tuple[int | None, str | None] = (None, None),
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, float, list[dict[str, Any]]]:
    """Grids of each community of ``plan``, area by area, with the buildings and blocks
    coded (``several``: the store holds several communities, block ids carry the code).

    The areas are drawn as tasks (``parallel``: workers and scheduler, see
    :func:`make_grids`); each community is finished — zones and codes across its
    areas — as its areas' grids come back, in order."""
    communities = inputs["community"].reset_index(drop=True)
    edge_points = representative_points(edges.geometry.to_numpy()) if len(edges) else None
    block_id = np.full(len(inputs["buildings"]), None, dtype=object)
    grid_code = np.full(len(inputs["buildings"]), None, dtype=object)
    all_grids, all_blocks, cut_cost, by_community = [], [], 0.0, []

    def tasks() -> Iterator[tuple[Any, ...]]:
        for _, parts in plan:
            for area, part, _ in parts:
                mine = edges.iloc[:0]
                if edge_points is not None:
                    mine = edges[shapely.contains(area, edge_points)]
                yield part, mine, *bounds, time_limit

    areas = sum(len(parts) for _, parts in plan)
    workers, scheduler = parallel
    if workers is None and scheduler is None:
        big = len(inputs["buildings"]) > settings.grid.parallel_buildings
        workers = auto_workers(areas) if big and may_start_processes() else 1
    if workers > 1 or scheduler is not None:
        where = scheduler or f"{workers} worker processes"
        progress(f"{areas} areas on {where}")
    results = map_in_order(_draw_area, tasks(), workers=workers, scheduler=scheduler)
    for k, parts in plan:
        code = str(communities["community_code"].iloc[k] or DEFAULT_COMMUNITY_CODE)
        progress(f"community {code}: {len(parts)} area(s)")
        drawn = [next(results) for _ in parts]
        prefix = [
            (f"{code}-" if several else "") + (f"R{r + 1:02d}-" if len(parts) > 1 else "")
            for r in range(len(parts))
        ]
        grids, blocks, building_block, building_code = _finish(
            drawn, code, grids_per_zone, recode, prefix
        )
        for (_, _, positions), ids, codes in zip(parts, building_block, building_code, strict=True):
            block_id[positions] = ids
            grid_code[positions] = codes
        cut_cost += sum(d.cut_cost for d in drawn)
        ok = in_range(grids["households"].to_numpy(), *bounds)
        by_community.append(
            {
                "community_code": code,
                "name": communities["name"].iloc[k],
                "grids": int(len(grids)),
                "in_range": int(ok.sum()),
                "households": int(grids["households"].sum()),
                "regions": len(parts),
            }
        )
        all_grids.append(grids)
        all_blocks.append(blocks)
        del drawn
    crs = inputs["buildings"].crs
    grids = gpd.GeoDataFrame(pd.concat(all_grids, ignore_index=True), geometry="geometry", crs=crs)
    if len(all_grids) > 1:
        owner = np.repeat(np.arange(len(all_grids)), [len(g) for g in all_grids])
        geoms = _node_borders(grids.geometry.to_numpy(), owner)
        grids = grids.set_geometry(gpd.GeoSeries(geoms, index=grids.index, crs=crs))
    blocks = gpd.GeoDataFrame(
        pd.concat(all_blocks, ignore_index=True), geometry="geometry", crs=crs
    )
    buildings = inputs["buildings"].copy()
    buildings["block_id"] = block_id
    buildings["grid_code"] = grid_code
    progress("assess grids")
    grids = assess(grids, buildings).sort_values("grid_code").reset_index(drop=True)
    return grids, buildings, blocks, cut_cost, by_community


def _node_borders(geoms: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Grids of areas drawn apart, each given its neighbours' vertices along the border.

    Each area (community, region) is noded on its own: where a road meets the border
    on one side only, one grid has a vertex there that its neighbour across lacks,
    and the grids are no exact coverage. Snapping each border grid to its
    neighbours' outlines (within the noding grid, 1 cm) inserts the missing vertices.
    """
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    across = group[i] != group[j]
    i, j = i[across], j[across]
    if len(i) == 0:
        return geoms
    out = geoms.copy()
    order = np.argsort(i, kind="stable")
    i, j = i[order], j[order]
    starts = np.r_[0, np.flatnonzero(np.diff(i)) + 1]
    owners = i[starts]
    references = shapely.multilinestrings(
        shapely.get_parts(shapely.boundary(geoms[j])),
        indices=_parts_index(geoms[j], starts, len(i)),
    )
    snapped = shapely.snap(geoms[owners], references, GRID_SIZE)
    valid = shapely.is_valid(snapped) & (shapely.get_type_id(snapped) == 3)
    out[owners[valid]] = snapped[valid]
    return out


def _parts_index(geoms: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """For the parts of ``geoms``' boundaries, the run (``starts``) each belongs to."""
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    _, which = shapely.get_parts(shapely.boundary(geoms), return_index=True)
    return run[which]


def _keep_others(
    store: Store,
    code: str,
    grids: gpd.GeoDataFrame,
    blocks: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """One community redrawn, the others' grids, blocks and buildings' codes as stored."""
    communities = store.read("community")
    crs = grids.crs
    old = store.read("grids")
    if len(old):
        old = old[blank(old["scenario"])]
        old = old[community_of(old["grid_code"], communities) != code].to_crs(crs)
        grids = pd.concat([old, grids], ignore_index=True).sort_values("grid_code")
        grids = gpd.GeoDataFrame(grids.reset_index(drop=True), geometry="geometry", crs=crs)
    old_blocks = store.read("blocks")
    if len(old_blocks):
        others = community_of(old_blocks["block_id"], communities) != code
        old_blocks = old_blocks[others].to_crs(crs)
        columns = [c for c in blocks.columns if c in old_blocks.columns]
        blocks = pd.concat([old_blocks[columns], blocks], ignore_index=True)
        blocks = gpd.GeoDataFrame(blocks, geometry="geometry", crs=crs)
    stored = store.read("buildings")
    drawn = buildings["grid_code"].notna().to_numpy()
    buildings = buildings.copy()
    for field in ("block_id", "grid_code"):
        buildings[field] = np.where(drawn, buildings[field].to_numpy(), stored[field].to_numpy())
    return grids, blocks, buildings


def make_grids_step(store: Store, *, progress: Progress = no_progress) -> dict[str, Any]:
    """The demo pipeline's grid step (default bounds)."""
    return grids_step_report(make_grids(store, progress=progress))


def grids_step_report(report: dict[str, Any]) -> dict[str, Any]:
    """The grid step's short report from :func:`make_grids`'s (or a proposal's) report."""
    return {
        k: report[k] for k in ("grids", "in_range", "households_min", "households_max", "zones")
    } | {"flagged": len(report["flagged"])}


# -- rebalancing ---------------------------------------------------------------------


def households_moved(old: np.ndarray, new: np.ndarray, households: np.ndarray) -> tuple[int, int]:
    """Households and units in a different grid, after matching new grids to old ones.

    Each new grid is matched to at most one old grid (maximum shared households,
    Hungarian method); a unit counts as moved if its new grid is not matched to
    its old one. This is how a plan made from scratch is compared with a
    rebalanced one.
    """
    old_ids, old_idx = np.unique(old, return_inverse=True)
    new_ids, new_idx = np.unique(new, return_inverse=True)
    weight = np.asarray(households, dtype=float) + 1e-6
    shared = sparse.coo_matrix(
        (weight, (old_idx, new_idx)), shape=(len(old_ids), len(new_ids))
    ).toarray()
    rows, cols = linear_sum_assignment(-shared)
    match = np.full(len(new_ids), -1)
    match[cols] = rows
    moved = match[new_idx] != old_idx
    return int(np.asarray(households)[moved].sum()), int(moved.sum())


def rebalance(
    store: Store,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    apply: bool = False,
    time_limit: float | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Bring every grid of the current plan into range, moving as few households as possible.

    The current grids may be hand-drawn or imported and need not follow
    blocks: each block goes to the grid covering most of it. Grids that
    survive keep their codes; grids made by splitting get the next free number
    in their zone.

    The new plan is written to ``scenario_grids`` with scenario ``rebalanced``
    (replacing an earlier rebalanced plan) and the moves to ``grid_moves``; the
    current plan in ``grids`` is untouched unless ``apply`` is set, in which
    case the new plan replaces it (with blocks, zones and buildings' codes).
    :func:`propose_rebalance` computes the same plan without writing anything.

    Returns
    -------
    dict
        The plan's report (as :func:`make_grids`) plus ``moves`` (block, from,
        to, households), ``households_moved``, ``blocks_moved``, ``removed`` and
        ``added`` grid codes, and ``applied``.
    """
    proposal = propose_rebalance(
        store,
        min_households=min_households,
        max_households=max_households,
        time_limit=time_limit,
        progress=progress,
    )
    report = proposal.report
    report["applied"] = bool(apply)
    if apply:
        committed = commit_plan(
            store, proposal.grids, log=proposal.log, progress=progress, **proposal.commit
        )
        report["plan_version"] = committed["plan_version"]
        return report
    # Only the what-if: the rebalanced plan and its moves, the plan itself as it was.
    report.pop("edge_areas", None)
    detail = {k: v for k, v in report.items() if k not in ("moves", "flagged")}
    log = [
        {
            "layer": "scenario_grids",
            "action": "rebalance",
            "detail": detail,
            "reason": "planner rebalance",
        }
    ]
    store.write_many(proposal.commit["also"], log=log)
    return report


def propose_rebalance(
    store: Store,
    *,
    min_households: int | None = None,
    max_households: int | None = None,
    time_limit: float | None = None,
    progress: Progress = no_progress,
) -> PlanProposal:
    """Rebalance as :func:`rebalance` with ``apply`` does, without writing: a proposed plan.

    Parameters are those of :func:`rebalance`. The proposal's ``report`` is
    :func:`rebalance`'s report with ``applied`` true (without ``plan_version``); saved
    with :func:`planner.plan_versions.commit_proposal` it replaces the plan (with its
    blocks, zones, buildings' codes and edge areas) and writes the rebalanced plan to
    ``scenario_grids`` and the moves to ``grid_moves``, as ``planner rebalance --apply``.
    """
    min_households = settings.grid.min_households if min_households is None else min_households
    max_households = settings.grid.max_households if max_households is None else max_households
    time_limit = settings.grid.partition_time_limit if time_limit is None else time_limit
    check_bounds(min_households, max_households)
    base_version = current_version(store)
    current = store.read("grids")
    if not current.empty:
        current = current[blank(current["scenario"])]
    if current.empty:
        msg = "the store has no current grids to rebalance; run `planner grids STORE` first"
        raise PlannerError(msg, source=str(store.path))
    current = current.to_crs(store.metric_crs).reset_index(drop=True)
    inputs = load_inputs(store)
    edges = plan_edge_areas(store, inputs)
    faces = build_faces(**inputs, edge_areas=edges, progress=progress)
    progress("assign blocks to the current grids")
    face_label = _largest_overlap(faces.geometry, current.geometry.to_numpy())
    progress("rebalance")
    cut = plan_grids(
        faces,
        min_households=min_households,
        max_households=max_households,
        initial_faces=face_label,
        pinned=pinned_labels(edges, current["grid_code"]),
        time_limit=time_limit,
    )
    grids = grid_frame(cut, faces.crs)
    old_codes = current["grid_code"].to_numpy(dtype=object)
    old_zones = current["zone_code"].to_numpy(dtype=object)
    labels = cut.result.labels
    if labels is None:
        labels = np.arange(len(grids))
    codes, zones, names = _keep_codes(
        labels,
        old_codes,
        old_zones,
        current["name"].to_numpy(dtype=object),
        grids,
        _community_code(store),
        face_label,
        cut,
    )
    codes, zones, names = honour_pins(
        codes, zones, names, grids.geometry.to_numpy(), edges, pd.DataFrame(current)
    )
    grids["grid_code"], grids["zone_code"], grids["name"] = codes, zones, names
    blocks, buildings = _attach(cut, inputs["buildings"], np.asarray(codes, dtype=object))
    grids = assess(grids, buildings).sort_values("grid_code").reset_index(drop=True)
    moves = _block_moves(cut, face_label, old_codes, blocks["grid_code"].to_numpy())
    report = grids_report(
        grids, cut.units.frame, cut.result.cut_cost, min_households, max_households
    )
    report.update(
        {
            "households_moved": int(moves["households"].sum()),
            "blocks_moved": int(len(moves)),
            "moves": moves.drop(columns="scenario").to_dict("records"),
            "removed": sorted(set(old_codes) - set(codes)),
            "added": sorted(set(codes) - set(old_codes)),
            "applied": True,
        }
    )
    frames = _rebalanced_layers(store, grids, moves)
    edge_areas = None
    if len(edges):
        edge_areas = follow_plan(edges, grids, buildings)
        report["edge_areas"] = edge_summary(edge_areas)
    detail = {k: v for k, v in report.items() if k not in ("moves", "flagged")}
    log = [
        {
            "layer": "grids",
            "action": "rebalance",
            "detail": detail,
            "reason": "planner rebalance --apply",
        }
    ]
    return PlanProposal(
        analysis="rebalance",
        store=store,
        base_version=base_version,
        grids=grids,
        commit={
            "buildings": buildings,
            "blocks": blocks,
            "edge_areas": edge_areas,
            "also": frames,
            "reassess": False,
        },
        log=log,
        report=report,
    )


def rebalance_step(store: Store, *, progress: Progress = no_progress) -> dict[str, Any]:
    """The page's rebalance analysis (default bounds), applied: ``planner rebalance --apply``."""
    return rebalance_step_report(rebalance(store, apply=True, progress=progress))


def rebalance_step_report(report: dict[str, Any]) -> dict[str, Any]:
    """The rebalance step's short report from :func:`rebalance`'s (or a proposal's) report."""
    keys = ("grids", "in_range", "households_min", "households_max", "households_moved")
    return {k: report[k] for k in keys} | {
        "blocks_moved": report["blocks_moved"],
        "added": report["added"],
        "removed": report["removed"],
        "flagged": len(report["flagged"]),
    }


def _block_moves(
    cut: GridCut, face_label: np.ndarray, old_codes: np.ndarray, after: np.ndarray
) -> pd.DataFrame:
    """Rows of ``grid_moves``: blocks whose grid (``after``) differs from the one covering
    most of them before."""
    home = _unit_labels(cut.units, face_label, cut.faces.area)
    before = np.where(home >= 0, old_codes[np.maximum(home, 0)], None)
    frame = cut.units.frame
    moved = before != after
    return pd.DataFrame(
        {
            "scenario": REBALANCED,
            "block_id": frame["block_id"].to_numpy()[moved],
            "from_grid": before[moved],
            "to_grid": after[moved],
            "households": frame["households"].to_numpy()[moved],
            "buildings": frame["buildings"].to_numpy()[moved],
        }
    )


def _rebalanced_layers(
    store: Store, grids: gpd.GeoDataFrame, moves: pd.DataFrame
) -> dict[str, Any]:
    """``scenario_grids`` and ``grid_moves`` with the rebalanced plan replacing an earlier one."""
    scenario = grids.assign(scenario=REBALANCED)
    kept = store.read("scenario_grids")
    if not kept.empty:
        kept = kept[kept["scenario"] != REBALANCED]
        scenario = pd.concat([kept.to_crs(scenario.crs), scenario], ignore_index=True)
    old_moves = store.read("grid_moves")
    if not old_moves.empty:
        moves = pd.concat([old_moves[old_moves["scenario"] != REBALANCED], moves])
    return {"scenario_grids": scenario, "grid_moves": moves}


def _largest_overlap(faces: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """Index of the grid covering most of each face (-1: none).

    Every pair is intersected, and a tie goes to the grid met first: the areas and
    order rebalancing has always started from.
    """
    pairs = overlay_pairs(faces, grids, whole_shortcut=False)
    return majority(pairs, len(faces), ties="first")


def _keep_codes(
    labels: np.ndarray,
    old_codes: np.ndarray,
    old_zones: np.ndarray,
    old_names: np.ndarray,
    grids: gpd.GeoDataFrame,
    community_code: str,
    face_label: np.ndarray,
    cut: GridCut,
) -> tuple[list[str], list[str], list[str]]:
    """Codes for a rebalanced plan: surviving grids keep theirs, new ones get the next number."""
    n_old = len(old_codes)
    codes, zones, names = [], [], []
    used = set(old_codes)
    # Zone of a new grid: that of the old grid most of its faces came from.
    grid_of_face = cut.result.assignment[cut.units.face_unit]
    frame = pd.DataFrame({"grid": grid_of_face, "old": face_label})
    frame = frame[frame["old"] >= 0]
    origin = frame.groupby("grid")["old"].agg(lambda s: s.value_counts().index[0])
    for g, label in enumerate(labels):
        if 0 <= label < n_old and old_codes[label] not in codes:
            codes.append(str(old_codes[label]))
            zone = old_zones[label]
            zones.append(str(zone) if zone else str(old_codes[label])[:-3])
            names.append(old_names[label] or str(old_codes[label]))
            continue
        source = int(origin.get(g, 0))
        zone = old_zones[source] if old_zones[source] else str(old_codes[source])[:-3]
        zone = str(zone) or f"{community_code}01"
        number = 1
        while f"{zone}{number:03d}" in used:
            number += 1
        code = f"{zone}{number:03d}"
        used.add(code)
        codes.append(code)
        zones.append(zone)
        names.append(f"{code}(新)")
    return codes, zones, names


__all__ = [
    "ASSESS_FIELDS",
    "GridCut",
    "check_bounds",
    "grid_adjacency",
    "grid_frame",
    "households_moved",
    "draw_grids",
    "grids_step_report",
    "make_grids",
    "make_grids_step",
    "honour_pins",
    "pinned_labels",
    "plan_edge_areas",
    "plan_grids",
    "propose_grids",
    "propose_rebalance",
    "rebalance",
    "rebalance_step",
    "rebalance_step_report",
]
