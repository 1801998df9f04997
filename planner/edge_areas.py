"""Edge areas (边缘地带): detect them from the data, assign each to one grid, settle disputes.

The places the field reports say get forgotten — strips between compounds,
compound borders, street-front shops (临街商铺), single houses at the fringe,
idle lots — are the parts of the community that belong to no compound and to no
residential block. :func:`find_edge_areas` finds them as the pieces of the
community left once compounds and road surface are taken out, keeping those
that hold few households (a piece with many is an open residential block, a
natural unit of its own). Imported or drawn edge areas are kept as they are.

Every edge area must end in exactly one grid: :func:`assign_edge_areas` gives
each unassigned one to a grid by the same neighbour rule the topology fixes use
(longest shared border, or fewest households), recording ``assigned_by`` and
``reason``; a disputed one waits until :func:`settle` records the agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date as Date
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.communities import edge_area_parts
from planner.errors import InputError, PlannerError
from planner.geometry import blank, make_valid_like, overlay_pairs
from planner.schema import conform
from planner.settings import EdgeAreaRules, settings

if TYPE_CHECKING:
    from planner.store import Store

#: Half the width of the road surface (m) by OSM highway class; other classes: DEFAULT.
ROAD_HALF_WIDTH_M = {
    "motorway": 15.0,
    "trunk": 15.0,
    "primary": 12.0,
    "secondary": 10.0,
    "tertiary": 8.0,
    "motorway_link": 6.0,
    "trunk_link": 6.0,
    "primary_link": 6.0,
    "secondary_link": 5.0,
    "tertiary_link": 5.0,
    "unclassified": 5.0,
    "residential": 5.0,
    "living_street": 4.0,
    "pedestrian": 4.0,
    "service": 3.0,
    "footway": 1.5,
    "path": 1.5,
    "cycleway": 1.5,
    "steps": 1.5,
}
DEFAULT_HALF_WIDTH_M = 3.0

#: Kinds of edge area (the ``kind`` field).
EDGE_KINDS = ("strip", "border", "street_front", "fringe", "idle_lot", "other")

#: Necks of a piece narrower than twice this (m) do not join it: it falls apart there.
_HAIRLINE_M = 0.01

#: A detected piece that overlaps an earlier one by this share keeps its id and grid.
_SAME_SHARE = 0.5


def _valid(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Repair areas that cutting and merging left self-touching, before they are stored."""
    return edges.set_geometry(make_valid_like(edges.geometry.to_numpy()), crs=edges.crs)


def find_edge_areas(
    community: shapely.Geometry,
    *,
    roads: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame | None = None,
    max_households: int | None = None,
    min_area_m2: float | None = None,
    strip_width_m: float | None = None,
) -> gpd.GeoDataFrame:
    """Find the edge areas of a community (all inputs in one metric CRS).

    The community minus compounds and road surface (roads buffered by half their
    usual width, lanes inside compounds left out) falls into pieces, also cut
    along railways, rivers, water edges and walls (``barriers``), which grid
    boundaries follow too, so no edge area spans such a line. A piece
    with ``max_households`` or more is a residential block, not an edge area;
    an empty piece smaller than ``min_area_m2`` is a road margin. The rest are
    edge areas, each of a kind: ``street_front`` (holds shops), ``fringe``
    (holds houses or a few homes), ``other`` (public or other buildings only),
    and for empty pieces ``border`` (between two or more compounds), ``strip``
    (narrower on average than ``strip_width_m``) or ``idle_lot``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind``, ``buildings``, ``households``, ``area_m2`` and the geometry, in
        reading order (north to south, west to east); no ids yet.
    """
    max_households = (
        settings.edge_areas.max_households if max_households is None else max_households
    )
    min_area_m2 = settings.edge_areas.min_area_m2 if min_area_m2 is None else min_area_m2
    strip_width_m = settings.edge_areas.strip_width_m if strip_width_m is None else strip_width_m
    crs = roads.crs or compounds.crs or buildings.crs
    area = community
    if len(compounds):
        area = shapely.difference(area, shapely.union_all(compounds.geometry.to_numpy()))
    if len(roads):
        outside = ~roads["internal"].to_numpy(dtype=bool)
        r = roads[outside]
        width = r["highway"].map(ROAD_HALF_WIDTH_M).fillna(DEFAULT_HALF_WIDTH_M).to_numpy()
        surface = shapely.buffer(r.geometry.to_numpy(), width, quad_segs=2, cap_style="flat")
        area = shapely.difference(area, shapely.union_all(surface))
    if barriers is not None and len(barriers):
        # A hairline cut: separates the pieces on either side without losing area.
        cut = shapely.buffer(barriers.geometry.to_numpy(), 0.05, quad_segs=1, cap_style="flat")
        area = shapely.difference(area, shapely.union_all(cut))
    # Pieces joined only by a hairline (a snapped outline, a sliver along the community
    # edge) are separate pieces: no grid could hold both across it.
    area = shapely.buffer(
        shapely.buffer(area, -_HAIRLINE_M, join_style="mitre"), _HAIRLINE_M, join_style="mitre"
    )
    parts = shapely.get_parts(area)
    parts = parts[shapely.get_type_id(parts) == 3]
    parts = parts[shapely.area(parts) > 1.0]
    empty = gpd.GeoDataFrame(
        {"kind": [], "buildings": [], "households": [], "area_m2": []}, geometry=[], crs=crs
    )
    if len(parts) == 0:
        return empty
    if len(buildings):
        parts = _without_foreign_buildings(parts, buildings.geometry.to_numpy())
    nb = np.zeros(len(parts), dtype=int)
    hh = np.zeros(len(parts))
    shops = np.zeros(len(parts), dtype=int)
    houses = np.zeros(len(parts), dtype=int)
    homes = np.zeros(len(parts), dtype=int)
    if len(buildings):
        points = buildings.geometry.representative_point().to_numpy()
        bi, pi = shapely.STRtree(parts).query(points, predicate="within")
        cat = buildings["category"].to_numpy()[bi]
        nb = np.bincount(pi, minlength=len(parts))
        hh = np.bincount(
            pi, weights=buildings["households"].to_numpy(dtype=float)[bi], minlength=len(parts)
        )
        shops = np.bincount(pi[cat == "shop"], minlength=len(parts))
        houses = np.bincount(pi[cat == "house"], minlength=len(parts))
        homes = np.bincount(pi[np.isin(cat, ["residential", "mixed"])], minlength=len(parts))
    touching = np.zeros(len(parts), dtype=int)
    if len(compounds):
        ci, _ = shapely.STRtree(compounds.geometry.to_numpy()).query(
            parts, predicate="dwithin", distance=1.0
        )
        touching = np.bincount(ci, minlength=len(parts))
    areas = shapely.area(parts)
    mean_width = 2 * areas / shapely.length(parts)
    keep = (hh < max_households) & ((nb > 0) | (areas >= min_area_m2))
    kind = np.select(
        [
            (nb > 0) & (shops > 0),
            (nb > 0) & ((houses > 0) | (homes > 0)),
            nb > 0,
            touching >= 2,
            mean_width < strip_width_m,
        ],
        ["street_front", "fringe", "other", "border", "strip"],
        default="idle_lot",
    )
    frame = gpd.GeoDataFrame(
        {"kind": kind, "buildings": nb, "households": hh.round().astype(int), "area_m2": areas},
        # Differences of buffered roads can leave self-touching rings; repair them here.
        geometry=make_valid_like(parts),
        crs=crs,
    )[keep]
    centre = frame.geometry.representative_point()
    order = np.lexsort((centre.x.to_numpy(), -np.floor(centre.y.to_numpy() / 200.0)))
    return frame.iloc[order].reset_index(drop=True)


def _without_foreign_buildings(parts: np.ndarray, buildings: np.ndarray) -> np.ndarray:
    """Cut out of each piece the buildings that stand mostly elsewhere.

    A building belongs to the piece holding its representative point; the rest of
    its footprint is taken out of other pieces, so an edge area never claims part
    of a neighbour's building (which would force a grid boundary through it).
    """
    points = shapely.point_on_surface(buildings)
    b, p = shapely.STRtree(parts).query(buildings, predicate="intersects")
    foreign = ~shapely.within(points[b], parts[p])
    if not foreign.any():
        return parts
    parts = parts.copy()
    frame = pd.DataFrame({"b": b[foreign], "p": p[foreign]})
    for k, group in frame.groupby("p"):
        cut = shapely.difference(parts[k], shapely.union_all(buildings[group["b"].to_numpy()]))
        parts[k] = _largest_polygonal(np.array([cut]))[0] if not shapely.is_empty(cut) else cut
    return parts[~shapely.is_empty(parts)]


def detect_edge_areas(
    store: Store,
    *,
    rules: EdgeAreaRules | None = None,
    community: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Detect the store's edge areas and merge them with those already there.

    Imported, drawn, manually assigned and disputed edge areas are kept as they
    are and detected pieces are clipped around them; an earlier detected area
    that a new piece mostly overlaps lends it its id and grid. Nothing is written.

    Parameters
    ----------
    store
        The store (needs ``community``; uses roads, compounds, buildings).
    rules
        What counts as an edge area (:func:`find_edge_areas`); ``settings.edge_areas``
        if None.
    community
        The community in the store's metric CRS; None: the store's boundary (each
        community, or each region of a large one, on its own where the grid step
        draws them so: :func:`planner.communities.edge_area_parts`).

    Returns
    -------
    geopandas.GeoDataFrame
        The whole ``edge_areas`` layer as it would be, in the store's metric CRS.
    """
    rules = settings.edge_areas if rules is None else rules
    parts = None
    if community is None:
        if not store.has("community") or store.count("community") == 0:
            msg = "the store has no community boundary; import one first"
            raise PlannerError(msg, source=str(store.path))
        # Many communities, or a large one: detected area by area, as the grid step
        # draws them (each area's work bounded, the same areas found).
        parts = edge_area_parts(store)
        community = shapely.union_all(store.read_metric("community").geometry.to_numpy())
    if parts is None:
        layers = {n: store.read_metric(n) for n in ("roads", "compounds", "buildings", "barriers")}
        parts = [(shapely.make_valid(community), layers)]
    return merge_detected(store.read_metric("edge_areas"), find_edge_areas_in(parts, rules))


def find_edge_areas_in(
    areas: list[tuple[shapely.Geometry, Mapping[str, gpd.GeoDataFrame]]],
    rules: EdgeAreaRules | None = None,
) -> gpd.GeoDataFrame:
    """:func:`find_edge_areas` area by area (communities, regions of a large one).

    Parameters
    ----------
    areas
        Each area (metric CRS) with the layers reaching into it: ``roads``,
        ``compounds``, ``buildings`` and ``barriers``.
    rules
        What counts as an edge area; ``settings.edge_areas`` if None.

    Returns
    -------
    geopandas.GeoDataFrame
        The pieces found in all the areas, as :func:`find_edge_areas` gives them.
    """
    rules = settings.edge_areas if rules is None else rules
    found = [
        find_edge_areas(
            area,
            roads=layers["roads"],
            compounds=layers["compounds"],
            buildings=layers["buildings"],
            barriers=layers["barriers"],
            max_households=rules.max_households,
            min_area_m2=rules.min_area_m2,
            strip_width_m=rules.strip_width_m,
        )
        for area, layers in areas
    ]
    return found[0] if len(found) == 1 else pd.concat(found, ignore_index=True)


def merge_detected(old: gpd.GeoDataFrame, found: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Combine earlier edge areas with newly found ones (see :func:`detect_edge_areas`)."""
    crs = old.crs if len(old) else found.crs
    detected = (old["source"] == "detected").to_numpy()
    kept_mask = ~detected | (old["assigned_by"] == "manual").to_numpy()
    kept_mask |= old["disputed"].to_numpy(dtype=bool)
    kept, previous = old[kept_mask], old[~kept_mask]
    geoms = found.geometry.to_numpy()
    if len(kept) and len(geoms):
        geoms = shapely.difference(geoms, shapely.union_all(kept.geometry.to_numpy()))
        geoms = _largest_polygonal(geoms)
    found = found.assign(geometry=geoms)
    found = found[~shapely.is_empty(geoms)]
    found = found[shapely.area(found.geometry.to_numpy()) >= 1.0].reset_index(drop=True)
    found["area_m2"] = shapely.area(found.geometry.to_numpy())
    found["source"] = "detected"
    found["edge_id"] = None
    found["disputed"] = False
    for column in ("grid_code", "assigned_by", "reason"):
        found[column] = None
    if len(previous) and len(found):
        pairs = _shares(found.geometry.to_numpy(), previous.geometry.to_numpy())
        pairs = pairs[pairs["share"] >= _SAME_SHARE].sort_values("share", ascending=False)
        pairs = pairs.drop_duplicates("i").drop_duplicates("j")
        for column in ("edge_id", "grid_code", "assigned_by", "reason"):
            found.loc[pairs["i"].to_numpy(), column] = previous[column].to_numpy()[pairs["j"]]
    taken = set(kept["edge_id"].astype(str)) | set(found["edge_id"].dropna().astype(str))
    fresh = blank(found["edge_id"])
    found.loc[fresh, "edge_id"] = _new_ids(taken, int(fresh.sum()))
    merged = pd.concat([kept, found.to_crs(crs) if len(found) else found], ignore_index=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=crs)


def _largest_polygonal(geoms: np.ndarray) -> np.ndarray:
    out = np.asarray(geoms, dtype=object).copy()
    for i in np.flatnonzero(shapely.get_type_id(out) != 3):
        parts = shapely.get_parts(out[i])
        parts = parts[shapely.get_type_id(parts) == 3]
        out[i] = parts[np.argmax(shapely.area(parts))] if len(parts) else shapely.Polygon()
    return out


def _shares(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Share of each ``a`` that each ``b`` holds (``i``, ``j``, ``share``; overlapping pairs)."""
    pairs = overlay_pairs(a, b, whole_shortcut=False)
    share = pairs["area"].to_numpy() / np.maximum(shapely.area(a[pairs["i"].to_numpy()]), 1e-9)
    return pairs[["i", "j"]].assign(share=share)


def _new_ids(taken: set[str], n: int) -> list[str]:
    ids, k = [], 1
    while len(ids) < n:
        candidate = f"E{k:04d}"
        if candidate not in taken:
            ids.append(candidate)
        k += 1
    return ids


def assign_edge_areas(
    edges: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    *,
    rule: str | None = None,
    households: np.ndarray | None = None,
    within_share: float | None = None,
) -> gpd.GeoDataFrame:
    """Give every unassigned, undisputed edge area a grid (both frames in one CRS).

    An edge area lying in one grid (``within_share`` of its area or more) goes to
    it. Otherwise, by ``rule``: ``longest_border`` gives one spanning grids to the
    grid holding most of it (as a cut building) and one lying in a gap to the grid
    sharing the longest part of its outline; ``fewer_households`` gives it to the
    grid with the fewest households among those it lies in or touches. Areas
    assigned by hand, or with a grid that exists, keep it; disputed areas
    without an agreement stay unassigned.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``grid_code``, ``assigned_by`` and ``reason`` filled in.
    """
    rule = settings.topology.fix_rule if rule is None else rule
    if within_share is None:
        within_share = 1 - settings.topology.edge_min_share
    edges = conform("edge_areas", edges)
    if edges.empty or grids.empty:
        return edges
    codes = grids["grid_code"].astype(str).to_numpy()
    known = set(codes)
    if households is None:
        households = grids["households"].to_numpy(dtype=float)
    current = edges["grid_code"].map(lambda c: str(c) if c is not None else "")
    open_dispute = edges["disputed"].to_numpy(dtype=bool) & blank(edges["agreement_text"])
    todo = np.flatnonzero(~current.isin(known).to_numpy() & ~open_dispute)
    if len(todo) == 0:
        return edges
    ggeoms = grids.geometry.to_numpy()
    egeoms = edges.geometry.to_numpy()[todo]
    tree = shapely.STRtree(ggeoms)
    i, j = tree.query(egeoms, predicate="dwithin", distance=1.0)
    inside = shapely.area(shapely.intersection(egeoms[i], ggeoms[j]))
    outline = shapely.length(
        shapely.intersection(shapely.boundary(egeoms[i]), shapely.buffer(ggeoms[j], 0.5))
    )
    # below a square metre the overlap is rounding along a shared edge, not a share
    inside = np.where(inside >= 1.0, inside, 0.0)
    pairs = pd.DataFrame({"i": i, "j": j, "area": inside, "m": outline})
    pairs["share"] = pairs["area"] / np.maximum(shapely.area(egeoms)[pairs["i"]], 1e-9)
    pairs["hh"] = households[pairs["j"]]
    codes_out = np.full(len(todo), None, dtype=object)
    reasons = np.full(len(todo), None, dtype=object)
    whole = pairs[pairs["share"] >= within_share].drop_duplicates("i")
    for row in whole.itertuples():
        codes_out[row.i] = codes[row.j]
        reasons[row.i] = f"自动：位于网格 {codes[row.j]} 内（占 {row.share:.0%}）"
    rest = pairs[~pairs["i"].isin(whole["i"]) & ((pairs["m"] > 0) | (pairs["area"] > 0))]
    if rule == "fewer_households":
        best = rest.sort_values(["i", "hh", "m"], ascending=[True, True, False])
    else:
        # Spanning grids: the grid holding most of it (its outline runs about as long in
        # each); in a gap: the grid sharing the longest border.
        best = rest.sort_values(["i", "area", "m", "hh"], ascending=[True, False, False, True])
    for row in best.drop_duplicates("i").itertuples():
        codes_out[row.i] = codes[row.j]
        if rule == "fewer_households":
            reasons[row.i] = f"自动：相邻网格中户数最少（{codes[row.j]}，{row.hh:.0f} 户）"
        elif row.area > 0:
            reasons[row.i] = f"自动：网格 {codes[row.j]} 占其面积最多（{row.share:.0%}）"
        else:
            reasons[row.i] = f"自动：与网格 {codes[row.j]} 共边最长（{row.m:.0f} 米）"
    done = codes_out != None  # noqa: E711  (object array: elementwise)
    rows = edges.index[todo[done]]
    edges.loc[rows, "grid_code"] = codes_out[done]
    edges.loc[rows, "assigned_by"] = "auto"
    edges.loc[rows, "reason"] = reasons[done]
    return edges


def pinned_codes(edges: pd.DataFrame) -> np.ndarray:
    """The grid code each edge area is held to (None: free to follow the grids).

    An area assigned by hand, settled by agreement or imported with its grid is
    held to that grid: the grid engine keeps it there (or gives the grid holding
    it that code). Automatic assignments (``assigned_by = auto``) follow the grids.
    """
    if edges.empty:
        return np.empty(0, dtype=object)
    codes = edges["grid_code"].astype(object).to_numpy()
    held = ~blank(edges["grid_code"]) & (edges["assigned_by"].astype(object) != "auto").to_numpy()
    return np.where(held, codes, None)


def follow_plan(
    edges: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Edge areas after a new plan: automatic ones re-assigned to the grid holding them.

    Areas held to a grid (:func:`pinned_codes`) and open disputes keep what they
    have; the others are assigned afresh (:func:`assign_edge_areas`). Grids drawn
    by the grid engine never split an edge area, so "the grid holding most of it"
    is the grid holding all of it. Counts are refreshed. All frames in one metric CRS.
    """
    edges = conform("edge_areas", edges)
    if edges.empty:
        return edges
    free = pd.isna(pinned_codes(edges)) & ~(
        edges["disputed"].to_numpy(dtype=bool) & blank(edges["agreement_text"])
    )
    edges.loc[free, ["grid_code", "reason"]] = None
    edges.loc[free, "assigned_by"] = None
    if len(grids):
        edges = assign_edge_areas(edges, grids)
    return _valid(_count(edges, buildings))


def touching(geoms: np.ndarray, targets: np.ndarray, *, min_m: float | None = None) -> np.ndarray:
    """Whether each edge area can join its grid as one piece (row-wise, one CRS in metres).

    True when the grid overlaps the area (at least ``min_m`` squared) or shares at
    least ``min_m`` of its outline; an area meeting its grid at a corner only, or
    not at all, would leave the grid in two pieces (网格不连续).
    """
    min_m = settings.edge_areas.touch_min_m if min_m is None else min_m
    geoms = np.asarray(geoms, dtype=object)
    targets = np.asarray(targets, dtype=object)
    if len(geoms) == 0:
        return np.zeros(0, dtype=bool)
    near = shapely.dwithin(geoms, targets, 0.01)
    out = np.zeros(len(geoms), dtype=bool)
    k = np.flatnonzero(near)
    if len(k):
        overlap = shapely.area(shapely.intersection(geoms[k], targets[k]))
        border = shapely.length(
            shapely.intersection(shapely.boundary(geoms[k]), shapely.buffer(targets[k], 0.01))
        )
        out[k] = (overlap >= min_m * min_m) | (border >= min_m)
    return out


def _count(edges: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``buildings``, ``households`` and ``area_m2`` (metric frames)."""
    edges = edges.copy()
    geoms = edges.geometry.to_numpy()
    edges["area_m2"] = shapely.area(geoms)
    if len(buildings) and len(edges):
        points = buildings.geometry.representative_point().to_numpy()
        bi, ei = shapely.STRtree(geoms).query(points, predicate="within")
        edges["buildings"] = np.bincount(ei, minlength=len(edges))
        edges["households"] = (
            np.bincount(
                ei, weights=buildings["households"].to_numpy(dtype=float)[bi], minlength=len(edges)
            )
            .round()
            .astype(int)
        )
    return edges


def update_edge_areas(
    store: Store,
    *,
    detect: bool = True,
    assign: bool = True,
    grids: gpd.GeoDataFrame | None = None,
    rule: str | None = None,
    rules: EdgeAreaRules | None = None,
) -> dict[str, Any]:
    """Detect and/or assign the store's edge areas and write them (one write, logged).

    Parameters
    ----------
    store
        The store.
    detect
        Detect edge areas anew (:func:`detect_edge_areas`); else take the layer as it is.
    assign
        Give unassigned areas a grid (:func:`assign_edge_areas`) when ``grids`` are given.
    grids
        The current grids, in the store's metric CRS (``planner.topology.load_plan``
        reads and validates them); None: the store has none yet.
    rule
        ``longest_border`` or ``fewer_households``.
    rules
        What counts as an edge area, for :func:`detect_edge_areas`.

    Returns
    -------
    dict
        ``edge_areas`` (count), ``detected``, ``assigned`` (this run), ``unassigned``,
        ``disputed`` (open disputes), ``by_kind``.
    """
    edges, report, log = refreshed_edge_areas(
        store, detect=detect, assign=assign, grids=grids, rule=rule, rules=rules
    )
    store.write("edge_areas", edges, log=log)
    return report


def refreshed_edge_areas(
    store: Store,
    *,
    detect: bool = True,
    assign: bool = True,
    grids: gpd.GeoDataFrame | None = None,
    rule: str | None = None,
    rules: EdgeAreaRules | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any], list[dict[str, Any]]]:
    """The edge areas :func:`update_edge_areas` would write, without writing them.

    Parameters are those of :func:`update_edge_areas`.

    Returns
    -------
    (edge_areas, report, log)
        The layer (metric CRS, valid), the report and the change-log entries.
    """
    rule = settings.topology.fix_rule if rule is None else rule
    crs = store.metric_crs
    edges = detect_edge_areas(store, rules=rules) if detect else store.read_metric("edge_areas")
    before = blank(edges["grid_code"]) if len(edges) else np.empty(0, dtype=bool)
    assigned = 0
    if assign and len(edges) and grids is not None and len(grids):
        edges = assign_edge_areas(edges.to_crs(crs), grids, rule=rule)
        assigned = int((before & ~blank(edges["grid_code"])).sum())
    edges = _count(edges.to_crs(crs), store.read_metric("buildings"))
    report = summary(edges)
    report |= {
        "detected": int((edges["source"] == "detected").sum()) if detect else 0,
        "assigned": assigned,
    }
    log = [
        {
            "layer": "edge_areas",
            "action": "detect and assign"
            if detect and assign
            else "detect"
            if detect
            else "assign",
            "detail": report,
            "reason": "planner edges",
        }
    ]
    return _valid(edges), report, log


def summary(edges: pd.DataFrame) -> dict[str, Any]:
    """Counts of a layer of edge areas: total, unassigned, open disputes, by kind."""
    if edges.empty:
        return {"edge_areas": 0, "unassigned": 0, "disputed": 0, "by_kind": {}}
    open_dispute = edges["disputed"].to_numpy(dtype=bool) & blank(edges["agreement_text"])
    return {
        "edge_areas": int(len(edges)),
        "unassigned": int(blank(edges["grid_code"]).sum()),
        "disputed": int(open_dispute.sum()),
        "by_kind": {str(k): int(v) for k, v in edges["kind"].value_counts().items()},
    }


def _row(edges: pd.DataFrame, edge_id: str) -> Any:
    hit = edges.index[edges["edge_id"].astype(str) == str(edge_id)]
    if len(hit) == 0:
        msg = f"no edge area {edge_id!r}"
        raise PlannerError(msg)
    return hit[0]


def settle(
    store: Store,
    edge_id: str,
    grid_code: str,
    *,
    by: str,
    text: str,
    date: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Record the agreement settling which grid an edge area belongs to (协商确定归属).

    The area keeps ``disputed`` true (it was disputed) and gains ``agreement_by``,
    ``agreement_date``, ``agreement_text``; ``assigned_by`` becomes ``manual``.
    The next ``planner check --fix`` moves the grid boundary to follow it.

    A grid that does not touch the area (see :func:`touching`) is refused: joining
    it would leave the grid in two pieces. With ``force`` the agreement is recorded
    anyway (e.g. before the grids are redrawn); the check then reports the area as
    lying outside its grid, and the fixes leave the grid boundary where it is.

    Returns
    -------
    dict
        The settled edge area's fields.
    """
    if not by.strip() or not text.strip():
        raise InputError("say who settled it (`by`) and what was agreed (`text`)", param="by")
    grids = store.read("grids", missing_ok=False)
    if not grids.empty:
        grids = grids[blank(grids["scenario"])]
    if str(grid_code) not in set(grids["grid_code"].astype(str)):
        msg = f"no grid {grid_code!r} in the store"
        raise PlannerError(msg)
    when = date or Date.today().isoformat()
    try:
        Date.fromisoformat(when)
    except ValueError:
        msg = f"`date` must be YYYY-MM-DD, got {when!r}"
        raise PlannerError(msg) from None
    edges = store.read("edge_areas", missing_ok=False)
    k = _row(edges, edge_id)
    crs = store.metric_crs
    area = edges.loc[[k]].to_crs(crs).geometry.to_numpy()
    metric = grids.to_crs(crs)
    codes = metric["grid_code"].astype(str).to_numpy()
    chosen = metric.geometry.to_numpy()[codes == str(grid_code)]
    apart = not touching(area, chosen)[0]
    if apart and not force:
        near = codes[touching(np.repeat(area, len(metric)), metric.geometry.to_numpy())]
        choices = ", ".join(near) if len(near) else "none"
        msg = (
            f"edge area {edge_id} does not touch grid {grid_code}: joining it would leave "
            f"{grid_code} in two pieces; grids it touches: {choices} (or give `force`)"
        )
        raise PlannerError(msg)
    previous = edges.at[k, "grid_code"]
    edges.loc[k, ["grid_code", "assigned_by", "agreement_by", "agreement_date"]] = [
        str(grid_code),
        "manual",
        by,
        when,
    ]
    edges.loc[k, "agreement_text"] = text
    edges.loc[k, "disputed"] = True
    edges.loc[k, "reason"] = f"协商确定：{text}" + ("（与该网格不相邻，强制指派）" if apart else "")
    log = [
        {
            "layer": "edge_areas",
            "action": "settle",
            "detail": {
                "edge_id": str(edge_id),
                "from": previous,
                "to": str(grid_code),
                "by": by,
                "date": when,
                "forced": bool(apart),
            },
            "reason": text,
            "user": by,
        }
    ]
    store.write("edge_areas", _valid(edges), log=log)
    row = edges.loc[k].drop(labels="geometry")
    return {key: (None if pd.isna(v) else v) for key, v in row.items()}


def dispute(store: Store, edge_id: str, *, text: str = "", by: str = "") -> dict[str, Any]:
    """Mark an edge area disputed: its grid is cleared until an agreement settles it."""
    edges = store.read("edge_areas", missing_ok=False)
    k = _row(edges, edge_id)
    previous = edges.at[k, "grid_code"]
    edges.loc[k, "disputed"] = True
    for column in ("grid_code", "agreement_by", "agreement_date", "agreement_text"):
        edges.loc[k, column] = None
    edges.loc[k, "assigned_by"] = "manual"
    edges.loc[k, "reason"] = f"有争议：{text}" if text else "有争议"
    log = [
        {
            "layer": "edge_areas",
            "action": "dispute",
            "detail": {"edge_id": str(edge_id), "from": previous},
            "reason": text or "disputed",
            "user": by or None,
        }
    ]
    store.write("edge_areas", _valid(edges), log=log)
    return {"edge_id": str(edge_id), "disputed": True, "previous_grid": previous}


__all__ = [
    "DEFAULT_HALF_WIDTH_M",
    "EDGE_KINDS",
    "ROAD_HALF_WIDTH_M",
    "assign_edge_areas",
    "detect_edge_areas",
    "dispute",
    "find_edge_areas",
    "find_edge_areas_in",
    "follow_plan",
    "merge_detected",
    "pinned_codes",
    "refreshed_edge_areas",
    "settle",
    "summary",
    "touching",
    "update_edge_areas",
]
