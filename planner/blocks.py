"""Blocks (地块): the community cut along roads, walls, compounds, lanes and building cells.

Every line that may carry a grid boundary is noded once, in the store's metric
CRS, and polygonised into *faces*: an exact coverage of the community in which
neighbouring faces share their vertices. Each face is labelled with the block
it lies in at four levels, coarsest first:

0. street block (街区): cut by streets, railways, rivers and water;
1. compound part (小区): further cut by compound outlines and walls;
2. lane block (街巷): further cut by internal roads, service roads and paths;
3. building cell (楼栋单元): a Voronoi cell of one building (or of a group of
   overlapping footprints) inside its lane block.

Building outlines are noded too, so no face crosses a building: the faces
inside a footprint all go to the block holding most of it. A *unit* (the
``blocks`` layer) is the union of faces sharing a label prefix: a block is
opened into its children only while it holds more households than the upper
bound, so a compound stays whole unless it is too large for one grid. Grids are
unions of units, hence exact unions of faces: seamless, without overlap and
never cutting a building.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from planner.errors import InputError, PlannerError
from planner.geometry import (
    data_extent,
    face_adjacency,
    footprint_clusters,
    majority,
    node_lines,
    overlay_pairs,
    shared_segments,
)
from planner.progress import Progress, no_progress
from planner.settings import settings

if TYPE_CHECKING:
    from planner.store import Store

__all__ = [
    "CUT_FACTORS",
    "DEFAULT_COMMUNITY_CODE",
    "EDGE_OVERLAP_M2",
    "EDGE_OVERLAP_SHARE",
    "GRID_SIZE",
    "IGNORED_HIGHWAYS",
    "KINDS",
    "STREET_BARRIERS",
    "STREET_HIGHWAYS",
    "Faces",
    "Units",
    "blocks_frame",
    "blocks_report",
    "build_faces",
    "community_boundary",
    "default_depth",
    "load_inputs",
    "make_blocks",
    "make_units",
]

#: Roads that bound street blocks (街区); other roads and internal lanes cut lane blocks.
STREET_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "pedestrian",
        "road",
        "busway",
    }
)
#: Ways that never carry a boundary on the ground (indoor corridors, lifts, platforms).
IGNORED_HIGHWAYS = frozenset({"corridor", "elevator", "platform", "proposed", "construction"})
#: Barrier kinds that bound street blocks; the others (walls, fences) bound compound parts.
STREET_BARRIERS = frozenset({"railway", "waterway", "water"})

#: Kind of a unit by the level it was cut at.
KINDS = ("street", "compound", "lane", "cell")

#: Cost per metre of a grid boundary running along a street (0), a compound outline or
#: wall (1), a lane (2), between building cells (3) or through open ground of one cell (4).
CUT_FACTORS = (1.0, 1.5, 2.5, 6.0, 6.0)

#: A unit overlapping an edge area by this much (m²) and this share of the area is bound
#: to it: below either the overlap is the snapping of a shared outline (a compound's, a
#: wall's), not a part of the area (the check counts 5 m² and 2 % as a part).
EDGE_OVERLAP_M2 = 1.0
EDGE_OVERLAP_SHARE = 0.005

#: Snapping grid of the noding, in metres: removes near-coincident slivers of OSM lines.
GRID_SIZE = 0.01
#: Overlaps of footprints below this (m²) are drawing noise, not shared buildings.
_OVERLAP_M2 = 0.05
#: Outline sample spacing and inward shrink of the building-cell tessellation (m).
_CELL_SPACING = 2.0
_CELL_SHRINK = 0.3


@dataclass
class Faces:
    """The community's faces and what each one belongs to.

    Attributes
    ----------
    geometry
        Face polygons (metric CRS), an exact coverage of the community.
    labels
        ``(n_faces, 4)`` int array: street block, compound part, lane block and
        building cell of each face (cell -1 where the lane block has no cells).
    compound
        Compound id of each face (None outside compounds).
    edges
        ``(i, j, length, level)`` of each pair of faces sharing a boundary:
        ``level`` is the first label level at which they differ (4 = same cell).
    building_face
        Index of the largest face of each building (-1 if it lies outside).
    cluster
        Group of each building (buildings overlapping each other share one).
    households
        Households of each building.
    crs
        The metric CRS.
    edge_faces
        ``(face, edge, area)`` of each face overlapping an edge area (边缘地带):
        ``edge`` indexes the edge areas given to
        :func:`build_faces`. The units holding these faces are one unit, so no grid
        boundary splits an edge area (empty when none were given).
    face_cluster
        Building group (``cluster``) whose footprint holds each face (-1: none). The
        units holding one group's faces are one unit, so no grid cuts a building
        whose footprint a wall or road crosses (empty: not known).
    """

    geometry: np.ndarray
    labels: np.ndarray
    compound: np.ndarray
    edges: pd.DataFrame
    building_face: np.ndarray
    cluster: np.ndarray
    households: np.ndarray
    crs: Any
    edge_faces: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"face": [], "edge": [], "area": []}, dtype=np.int64)
    )
    face_cluster: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def area(self) -> np.ndarray:
        """Area of each face in m²."""
        return shapely.area(self.geometry)


@dataclass
class Units:
    """Units (blocks) made of faces, with their adjacency.

    Attributes
    ----------
    frame
        One row per unit: ``block_id``, ``kind``, ``parent_id``, ``compound_id``,
        ``households``, ``buildings``, ``area_m2``, ``level``, ``path`` (label
        prefix) and geometry (metric CRS).
    face_unit
        Unit index of every face.
    building_unit
        Unit index of every building (-1 if outside the community).
    edges
        ``(a, b, length, level)`` shared boundary between units ``a < b`` and the
        coarsest level it runs along (0 street … 3 between buildings).
    """

    frame: gpd.GeoDataFrame
    face_unit: np.ndarray
    building_unit: np.ndarray
    edges: pd.DataFrame


def _lines(geoms: Iterable[shapely.Geometry]) -> np.ndarray:
    """Boundaries of polygons and the lines themselves, as one flat array of lines."""
    geoms = np.asarray(list(geoms), dtype=object)
    if geoms.size == 0:
        return np.empty(0, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    dim = shapely.get_dimensions(geoms)
    out = np.where(dim == 2, shapely.boundary(geoms), geoms)
    out = shapely.get_parts(out)
    return out[shapely.get_dimensions(out) == 1]


def _clip(lines: np.ndarray, community: shapely.Geometry) -> np.ndarray:
    """The parts of ``lines`` inside the community, as a flat array of lines."""
    clipped = shapely.intersection(lines, community) if len(lines) else lines
    return _lines(clipped) if len(clipped) else clipped


def _polygonize(clipped: np.ndarray, community: shapely.Geometry) -> np.ndarray:
    """Node lines already clipped to the community with its outline; the faces inside it."""
    allines = np.concatenate([_lines([community]), clipped])
    faces = shapely.get_parts(shapely.polygonize(node_lines(allines, GRID_SIZE)))
    faces = faces[shapely.area(faces) > 0]
    inside = shapely.contains_properly(community, shapely.point_on_surface(faces))
    # A face may sit on the snapped outline; keep it if most of it is inside.
    edge = ~inside
    if edge.any():
        share = shapely.area(shapely.intersection(faces[edge], community)) / shapely.area(
            faces[edge]
        )
        inside[np.flatnonzero(edge)] = share > 0.5
    return faces[inside]


def _locate(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (-1 if none; first if several)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return out
    tree = shapely.STRtree(polygons)
    p, q = tree.query(points, predicate="intersects")
    if len(p) == 0:
        return out
    # Keep the first hit per point (faces of one coverage: at most one interior hit).
    order = np.lexsort((q, p))
    p, q = p[order], q[order]
    first = np.r_[True, p[1:] != p[:-1]]
    out[p[first]] = q[first]
    return out


def _holding_most(
    footprints: np.ndarray, faces: np.ndarray, n: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """The face holding most of each footprint (or group of footprints); -1: none.

    Areas are summed per (group, face), every pair intersected and touching pairs
    included, and a tie goes to the lowest face: the areas and order the blocks
    have always been numbered by.
    """
    pairs = overlay_pairs(footprints, faces, whole_shortcut=False, keep_touching=True)
    groups = np.arange(len(footprints)) if groups is None else groups
    return majority(pairs, n, groups=groups, ties="first")


def _cell_lines(
    blocks: np.ndarray, members: list[np.ndarray], footprints: np.ndarray, cluster: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi cells of buildings inside each block (momepy's enclosed tessellation, simply).

    Outlines are shrunk a little and sampled every few metres so that the cell
    edge between two touching buildings runs along their shared wall.

    Returns
    -------
    (lines, cells, cell_block, cell_cluster)
        Boundary lines between cells of different building groups (clipped to
        their block), and the raw Voronoi polygons with their block and group.
    """
    shrunk = shapely.buffer(footprints, -_CELL_SHRINK)
    tiny = shapely.is_empty(shrunk) | (shapely.area(shrunk) < 1.0)
    shrunk = np.where(tiny, footprints, shrunk)
    outlines = shapely.segmentize(shapely.boundary(shrunk), _CELL_SPACING)
    lines, cells, cell_block, cell_cluster = [], [], [], []
    for b, idx in enumerate(members):
        if len(np.unique(cluster[idx])) < 2:
            continue
        coords, which = shapely.get_coordinates(outlines[idx], return_index=True)
        coords, first = np.unique(coords, axis=0, return_index=True)
        owner = cluster[idx][which[first]]
        polys = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=blocks[b], ordered=True)
        )
        if len(polys) != len(owner):  # GEOS merged near-duplicate points; fall back to lookup
            owner = owner[_locate(shapely.points(coords), polys)]
            polys = polys[: len(owner)]
        cells.append(polys)
        cell_block.append(np.full(len(polys), b))
        cell_cluster.append(owner)
    if not cells:
        empty = np.empty(0, dtype=object)
        return empty, empty, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    cells, cell_block, cell_cluster = (
        np.concatenate(cells),
        np.concatenate(cell_block),
        np.concatenate(cell_cluster),
    )
    # Shared edges of all diagrams at once (keyed by block: diagrams of neighbouring
    # blocks overlap); Voronoi edges meet only at their ends, so merging them needs
    # no noding.
    i, j, lo, hi = shared_segments(cells, cell_block)
    between = cell_cluster[i] != cell_cluster[j]
    if not between.any():
        return np.empty(0, dtype=object), cells, cell_block, cell_cluster
    segments = shapely.linestrings(np.stack([lo[between], hi[between]], axis=1))
    which, index = np.unique(cell_block[i[between]], return_inverse=True)
    merged = shapely.line_merge(shapely.multilinestrings(segments, indices=index.ravel()))
    lines = _lines(shapely.intersection(merged, blocks[which]))
    return lines, cells, cell_block, cell_cluster


def _level_lines(
    roads: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame
) -> list[np.ndarray]:
    """The lines cutting each level: streets and strong barriers (railways, water);
    compound outlines and walls; other roads and lanes."""
    highway = roads["highway"].fillna("").astype(str) if "highway" in roads else None
    internal = roads["internal"].astype(bool) if "internal" in roads else False
    road_geoms = roads.geometry.to_numpy()
    if highway is not None:
        usable = ~highway.isin(IGNORED_HIGHWAYS).to_numpy()
        street = (highway.isin(STREET_HIGHWAYS) & ~internal).to_numpy()
    else:
        usable = np.ones(len(roads), bool)
        street = usable.copy()
    kinds = barriers["kind"].astype(str).to_numpy() if len(barriers) else np.array([])
    bar_geoms = barriers.geometry.to_numpy()
    strong = np.isin(kinds, list(STREET_BARRIERS))
    return [
        _lines(np.concatenate([road_geoms[usable & street], bar_geoms[strong]])),
        _lines(np.concatenate([compounds.geometry.to_numpy(), bar_geoms[~strong]])),
        _lines(road_geoms[usable & ~street]),
    ]


def _face_compounds(reps: np.ndarray, compounds: gpd.GeoDataFrame) -> np.ndarray:
    """Compound id of the face at each point (None outside compounds)."""
    compound = np.full(len(reps), None, dtype=object)
    if not len(compounds):
        return compound
    comp_ids = compounds["compound_id"].to_numpy()
    comp_areas = shapely.area(compounds.geometry.to_numpy())
    # Nested compounds: prefer the smallest one containing the face.
    order = np.argsort(comp_areas)
    where = _locate(reps, compounds.geometry.to_numpy()[order])
    compound[where >= 0] = comp_ids[order][where[where >= 0]]
    return compound


def _homes(
    footprints: np.ndarray, cluster: np.ndarray, n_clusters: int, partitions: list[np.ndarray]
) -> np.ndarray:
    """Street block, compound part and lane block of each building group: those of the
    lane block holding most of it (-1: none)."""
    lane_faces = partitions[2]
    home_face = _holding_most(footprints, lane_faces, n_clusters, cluster)
    lane_reps = shapely.point_on_surface(lane_faces)
    lane_labels = np.column_stack(
        [
            _locate(lane_reps, partitions[0]),
            _locate(lane_reps, partitions[1]),
            np.arange(len(lane_faces)),
        ]
    )
    return np.where(home_face[:, None] >= 0, lane_labels[np.maximum(home_face, 0)], -1)


def build_faces(
    community: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    *,
    cell_above: int | None = None,
    edge_areas: gpd.GeoDataFrame | None = None,
    progress: Progress = no_progress,
) -> Faces:
    """Cut the community into labelled faces along its physical features.

    All frames must be in the same metric CRS. The steps (node the levels' lines,
    find each building's block, tessellate dense lane blocks, node the building
    outlines, label the faces) stay in one function, longer than most: each reuses
    the noded lines, blocks and labels of the one before.

    Parameters
    ----------
    community
        Community boundary polygon(s).
    buildings
        Footprints with ``households``.
    roads, barriers, compounds
        The features boundaries may follow (any may be empty).
    cell_above
        Lane blocks holding more households than this are tessellated into
        building cells, so the partition can split them between building rows.
    edge_areas
        Edge areas (边缘地带) the grids must keep whole: every unit one of them
        overlaps is merged into one (``Faces.edge_faces``), whatever the depth.
    progress
        Called at each step.

    Returns
    -------
    Faces
    """
    cell_above = settings.grid.min_households // 2 if cell_above is None else cell_above
    area = shapely.union_all(community.geometry.to_numpy())
    if area.is_empty or area.area <= 0:
        raise PlannerError("the community boundary is empty")
    progress("node streets, walls and lanes")
    # Each level's lines are clipped once and reused by every coarser-to-finer noding.
    cumulative = []
    for lines in _level_lines(roads, barriers, compounds):
        previous = cumulative[-1] if cumulative else np.empty(0, dtype=object)
        cumulative.append(np.concatenate([previous, _clip(lines, area)]))
    partitions = [_polygonize(lines, area) for lines in cumulative]

    progress("assign buildings to blocks")
    footprints = buildings.geometry.to_numpy()
    households = buildings["households"].fillna(0).to_numpy().astype(np.int64)
    cluster = footprint_clusters(footprints, min_overlap_m2=_OVERLAP_M2)
    n_clusters = int(cluster.max()) + 1 if len(cluster) else 0
    lane_faces = partitions[2]
    home = _homes(footprints, cluster, n_clusters, partitions)

    progress("tessellate large lane blocks into building cells")
    cluster_hh = np.bincount(cluster, weights=households, minlength=n_clusters)
    lane_hh = np.bincount(
        home[:, 2][home[:, 2] >= 0],
        weights=cluster_hh[home[:, 2] >= 0],
        minlength=len(lane_faces),
    )
    dense = np.flatnonzero(lane_hh > cell_above)
    cell_lines, cells, cell_block, cell_cluster = _cell_lines(
        lane_faces[dense],
        [np.flatnonzero(home[cluster, 2] == d) for d in dense],
        footprints,
        cluster,
    )
    cell_block = dense[cell_block] if len(cell_block) else cell_block

    progress("node building outlines")
    final_lines = np.concatenate(
        [cumulative[-1], _clip(cell_lines, area), _clip(_lines(footprints), area)]
    )
    faces = _polygonize(final_lines, area)
    reps = shapely.point_on_surface(faces)
    labels = np.column_stack(
        [
            _locate(reps, partitions[0]),
            _locate(reps, partitions[1]),
            _locate(reps, lane_faces),
            np.full(len(faces), -1),
        ]
    )
    # Faces between buildings take the cell of their lane block's tessellation.
    if len(cells):
        tree = shapely.STRtree(cells)
        p, c = tree.query(reps, predicate="intersects")
        match = cell_block[c] == labels[p, 2]
        p, c = p[match], c[match]
        labels[p, 3] = cell_cluster[c]
    # Faces inside a footprint go wholly to the block holding most of the building.
    in_building = _locate(reps, footprints)
    inside = in_building >= 0
    owner = cluster[in_building[inside]]
    labels[inside, :3] = home[owner]
    tessellated = np.isin(labels[inside, 2], dense)
    labels[np.flatnonzero(inside)[tessellated], 3] = owner[tessellated]
    labels[~np.isin(labels[:, 2], dense), 3] = -1
    # A face on the snapped outline that fell outside every block joins its neighbour below.
    edges = face_adjacency(faces)
    labels = _fill_orphans(labels, edges)
    compound = _face_compounds(reps, compounds)
    i, j = edges["i"].to_numpy(), edges["j"].to_numpy()
    differ = labels[i] != labels[j]
    level = np.where(differ.any(axis=1), differ.argmax(axis=1), 4)
    edges = edges.assign(level=level)
    largest = _holding_most(footprints, faces, len(footprints))
    return Faces(
        geometry=faces,
        labels=labels,
        compound=compound,
        edges=edges,
        building_face=largest,
        cluster=cluster,
        households=households,
        crs=community.crs,
        edge_faces=_edge_faces(faces, edge_areas),
        face_cluster=np.where(inside, cluster[np.maximum(in_building, 0)], -1),
    )


def _edge_faces(faces: np.ndarray, edge_areas: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """``(face, edge, area)`` of the faces overlapping each edge area (any overlap)."""
    if edge_areas is None or edge_areas.empty or len(faces) == 0:
        return pd.DataFrame({"face": [], "edge": [], "area": []}, dtype=np.int64)
    geoms = edge_areas.geometry.to_numpy()
    pairs = overlay_pairs(geoms, faces)
    return pd.DataFrame(
        {
            "face": pairs["j"].to_numpy(dtype=np.int64),
            "edge": pairs["i"].to_numpy(dtype=np.int64),
            "area": pairs["area"].to_numpy(dtype=float),
        }
    )


def _fill_orphans(labels: np.ndarray, edges: pd.DataFrame) -> np.ndarray:
    """Give faces without a street block (snapping leftovers) their neighbour's labels."""
    labels = labels.copy()
    for _ in range(10):
        orphan = labels[:, 0] < 0
        if not orphan.any():
            break
        e = edges[orphan[edges["i"]] != orphan[edges["j"]]]
        if e.empty:
            break
        src = np.where(orphan[e["i"]], e["j"], e["i"])
        dst = np.where(orphan[e["i"]], e["i"], e["j"])
        order = np.argsort(-e["length"].to_numpy(), kind="stable")
        dst, first = np.unique(dst[order], return_index=True)
        labels[dst] = labels[src[order][first]]
        labels[dst, 3] = -1
    return labels


def default_depth(faces: Faces, *, max_households: int | None = None) -> np.ndarray:
    """Depth (0-3) at which each face's unit is cut: open a block only while it is too large."""
    max_households = settings.grid.max_households if max_households is None else max_households
    hh = _prefix_households(faces)
    depth = np.zeros(len(faces.geometry), dtype=np.int64)
    for level in range(3):
        key = _prefix_keys(faces.labels, level)
        opened = (depth == level) & (hh[level][key] > max_households)
        if level == 2:
            opened &= faces.labels[:, 3] >= 0
        depth[opened] = level + 1
    return depth


def _prefix_keys(labels: np.ndarray, level: int) -> np.ndarray:
    """Dense id of each face's label prefix up to ``level`` (inclusive)."""
    prefix = np.ascontiguousarray(labels[:, : level + 1])
    _, inverse = np.unique(prefix, axis=0, return_inverse=True)
    return inverse.ravel()


def _prefix_households(faces: Faces) -> list[np.ndarray]:
    """Households per label prefix at each level, indexed like :func:`_prefix_keys`."""
    out = []
    valid = faces.building_face >= 0
    for level in range(4):
        key = _prefix_keys(faces.labels, level)
        out.append(
            np.bincount(
                key[faces.building_face[valid]],
                weights=faces.households[valid],
                minlength=int(key.max()) + 1 if len(key) else 0,
            )
        )
    return out


def make_units(faces: Faces, depth: np.ndarray, *, max_households: int | None = None) -> Units:
    """Group faces into units at the given depth per face, one connected piece each.

    Parameters
    ----------
    faces
        From :func:`build_faces`.
    depth
        Level each face's unit is cut at (0 street … 3 cell), e.g. from
        :func:`default_depth`.
    max_households
        The units an edge area overlaps are merged unless together they hold more
        than this (``settings.grid.max_households`` if None): a unit no grid could
        take in range would cost more than an edge area split and mended later.

    Returns
    -------
    Units
    """
    n = len(faces.geometry)
    labels = faces.labels.copy()
    for level in range(1, 4):
        labels[depth < level, level] = -2
    _, key = np.unique(labels, axis=0, return_inverse=True)
    key = key.ravel()
    # Split each label group into pieces connected through shared edges.
    e = faces.edges
    i, j = e["i"].to_numpy(), e["j"].to_numpy()
    same = key[i] == key[j]
    graph = sparse.coo_matrix((np.ones(same.sum()), (i[same], j[same])), shape=(n, n))
    _, unit = csgraph.connected_components(graph, directed=False)
    cap = settings.grid.max_households if max_households is None else max_households
    valid_b = faces.building_face >= 0
    face_hh = np.bincount(
        faces.building_face[valid_b], weights=faces.households[valid_b], minlength=n
    )
    unit = _bind_buildings(unit, faces.face_cluster, i, j)
    unit = _bind_edge_areas(unit, faces.edge_faces, i, j, face_hh, cap)
    # Stable order: by street block, then label path, then position.
    reps = shapely.point_on_surface(faces.geometry)
    x, y = shapely.get_x(reps), shapely.get_y(reps)
    n_units = int(unit.max()) + 1
    cx = np.bincount(unit, weights=x, minlength=n_units) / np.bincount(unit, minlength=n_units)
    cy = np.bincount(unit, weights=y, minlength=n_units) / np.bincount(unit, minlength=n_units)
    path = labels[np.unique(unit, return_index=True)[1]]
    order = np.lexsort((cx, -cy, path[:, 3], path[:, 2], path[:, 1], path[:, 0]))
    rank = np.empty(n_units, dtype=np.int64)
    rank[order] = np.arange(n_units)
    unit = rank[unit]
    path = path[order]
    building_unit = np.where(faces.building_face >= 0, unit[np.maximum(faces.building_face, 0)], -1)
    valid = building_unit >= 0
    hh = np.bincount(building_unit[valid], weights=faces.households[valid], minlength=n_units)
    nb = np.bincount(building_unit[valid], minlength=n_units)
    geoms = _dissolve(faces.geometry, unit, n_units)
    area = shapely.area(geoms)
    level = np.array([int((p >= -1).sum() - 1) for p in path])
    in_compound = faces.compound != None  # noqa: E711  (object array of ids or None)
    comp_area = np.bincount(unit[in_compound], weights=faces.area[in_compound], minlength=n_units)
    frame = pd.DataFrame({"unit": unit, "compound": faces.compound, "area": faces.area})
    top = (
        frame.dropna(subset=["compound"])
        .groupby(["unit", "compound"], as_index=False)["area"]
        .sum()
        .sort_values(["unit", "area"], ascending=[True, False])
        .drop_duplicates("unit")
    )
    compound_id = np.full(n_units, None, dtype=object)
    compound_id[top["unit"].to_numpy()] = top["compound"].to_numpy()
    mostly_compound = comp_area > 0.5 * area
    kind = np.array(KINDS, dtype=object)[level]
    kind[(level <= 1) & mostly_compound] = "compound"
    kind[(level <= 1) & ~mostly_compound] = "street"
    block_id = np.array([_path_id(p) for p in path], dtype=object)
    block_id = _dedupe(block_id)
    parent_id = np.array(
        [_path_id(p[: max(lv, 1)]) if lv > 0 else None for p, lv in zip(path, level, strict=True)],
        dtype=object,
    )
    units = gpd.GeoDataFrame(
        {
            "block_id": block_id,
            "kind": kind,
            "parent_id": parent_id,
            "compound_id": compound_id,
            "households": hh.astype(np.int64),
            "buildings": nb.astype(np.int64),
            "area_m2": area,
            "level": level,
        },
        geometry=geoms,
        crs=faces.crs,
    )
    ue = pd.DataFrame(
        {
            "a": np.minimum(unit[i], unit[j]),
            "b": np.maximum(unit[i], unit[j]),
            "length": e["length"].to_numpy(),
            "level": e["level"].to_numpy(),
            "cost": e["length"].to_numpy() * np.asarray(CUT_FACTORS)[e["level"].to_numpy()],
        }
    )
    ue = ue[ue["a"] != ue["b"]]
    ue = ue.groupby(["a", "b"], as_index=False).agg(
        length=("length", "sum"), level=("level", "min"), cost=("cost", "sum")
    )
    return Units(frame=units, face_unit=unit, building_unit=building_unit, edges=ue)


def _bind_buildings(
    unit: np.ndarray, face_cluster: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """Merge the units holding pieces of one building into one, with what joins them.

    A wall or road crossing a footprint where it is narrow leaves the building in
    pieces that touch only through faces outside it (the neck). Such pieces and
    the units of the faces bordering two of them are merged, so the grid holding
    the building holds all of it in one piece.

    Parameters
    ----------
    unit
        Unit of each face.
    face_cluster
        ``Faces.face_cluster``.
    i, j
        Faces sharing a boundary.
    """
    if len(face_cluster) != len(unit):
        return unit
    inside = face_cluster >= 0
    pieces = pd.DataFrame({"cluster": face_cluster[inside], "unit": unit[inside]})
    spread = pieces.groupby("cluster")["unit"].nunique()
    split = spread.index[spread.to_numpy() > 1].to_numpy()
    if len(split) == 0:
        return unit
    ours = np.isin(face_cluster, split)
    links = pieces[np.isin(pieces["cluster"].to_numpy(), split)].drop_duplicates()
    # Faces outside the footprint bordering pieces of it in two units join them.
    a = np.concatenate([i, j])
    b = np.concatenate([j, i])
    touch = ours[a] & (face_cluster[b] != face_cluster[a])
    border = pd.DataFrame(
        {"cluster": face_cluster[a[touch]], "piece": unit[a[touch]], "face": b[touch]}
    ).drop_duplicates()
    counts = border.groupby(["cluster", "face"])["piece"].nunique()
    necks = counts[counts.to_numpy() > 1].reset_index()
    necks = pd.DataFrame({"cluster": necks["cluster"], "unit": unit[necks["face"].to_numpy()]})
    groups = pd.concat([links, necks], ignore_index=True)
    return _merge_units(unit, groups.rename(columns={"cluster": "edge"}))


def _bind_edge_areas(
    unit: np.ndarray,
    edge_faces: pd.DataFrame,
    i: np.ndarray,
    j: np.ndarray,
    face_hh: np.ndarray,
    cap: float,
) -> np.ndarray:
    """Merge the units each edge area overlaps into one, so a grid takes it whole.

    An edge area holds few households, so the merged unit stays small; areas
    sharing a unit are merged together. Overlaps below :data:`EDGE_OVERLAP_M2`
    or :data:`EDGE_OVERLAP_SHARE` per unit are snapping along a shared outline and
    bind nothing, unless the merged unit would be in pieces without them (a narrow
    neck of the area across another unit): then every unit the area overlaps joins.

    Parameters
    ----------
    unit
        Unit of each face.
    edge_faces
        ``Faces.edge_faces``.
    i, j
        Faces sharing a boundary.
    face_hh, cap
        Households of each face; a merge above ``cap`` households is not made (the
        edge areas of that group bind nothing).
    """
    if edge_faces.empty:
        return unit
    per = (
        pd.DataFrame({"unit": unit[edge_faces["face"].to_numpy()], "edge": edge_faces["edge"]})
        .assign(area=edge_faces["area"].to_numpy())
        .groupby(["edge", "unit"], as_index=False)["area"]
        .sum()
    )
    total = edge_faces.groupby("edge")["area"].sum()
    share = per["area"].to_numpy() / total.reindex(per["edge"]).to_numpy()
    strong = (per["area"].to_numpy() >= EDGE_OVERLAP_M2) & (share >= EDGE_OVERLAP_SHARE)
    merged = _merge_units(unit, per[strong])
    # Buildings whose cells reach into an edge area would be glued into one unit too
    # large for any grid: such a group is left unbound.
    group_hh = np.bincount(merged, weights=face_hh)
    glued = pd.Series(unit).groupby(merged).nunique()
    over = glued.index[(glued.to_numpy() > 1) & (group_hh[glued.index] > cap)]
    if len(over):
        heavy = per["edge"].isin(per["edge"][np.isin(merged[_first_face(unit, per)], over)])
        strong &= ~heavy.to_numpy()
        merged = _merge_units(unit, per[strong])
    n = len(unit)
    same = merged[i] == merged[j]
    graph = sparse.coo_matrix((np.ones(same.sum()), (i[same], j[same])), shape=(n, n))
    _, piece = csgraph.connected_components(graph, directed=False)
    pieces = pd.Series(piece).groupby(merged).nunique()
    broken = pieces.index[pieces.to_numpy() > 1]
    if len(broken) == 0:
        return merged
    # Edge areas of units left in pieces bind every unit they overlap.
    face_merged = merged[edge_faces["face"].to_numpy()]
    loose = np.unique(edge_faces["edge"].to_numpy()[np.isin(face_merged, broken)])
    return _merge_units(unit, per[strong | per["edge"].isin(loose).to_numpy()])


def _first_face(unit: np.ndarray, per: pd.DataFrame) -> np.ndarray:
    """A face of each row's unit (``per``: edge, unit)."""
    first = np.full(int(unit.max()) + 1, -1, dtype=np.int64)
    first[unit[::-1]] = np.arange(len(unit))[::-1]
    return first[per["unit"].to_numpy()]


def _merge_units(unit: np.ndarray, per: pd.DataFrame) -> np.ndarray:
    """Units renumbered so those linked by one group (``per``: ``edge``, the group, such
    as an edge area; ``unit``) are one."""
    n_units = int(unit.max()) + 1
    # One graph node per unit and per edge area; an edge area links the units it overlaps.
    e = per["edge"].to_numpy() + n_units
    size = n_units + (int(e.max()) + 1 - n_units if len(e) else 0)
    graph = sparse.coo_matrix((np.ones(len(per)), (per["unit"].to_numpy(), e)), shape=(size, size))
    _, group = csgraph.connected_components(graph, directed=False)
    _, merged = np.unique(group[:n_units], return_inverse=True)
    return merged.ravel()[unit]


def _path_id(path: np.ndarray) -> str:
    parts = [f"S{path[0] + 1:03d}"]
    for tag, value in zip("CLB", path[1:], strict=False):
        if value < -1:
            break
        parts.append(f"{tag}{value + 1 if value >= 0 else 0}")
    return "-".join(parts)


def _dedupe(ids: np.ndarray) -> np.ndarray:
    """Suffix repeated ids (pieces of one block split by a building or a snap) with a/b/c…"""
    frame = pd.Series(ids)
    n = frame.groupby(frame).cumcount()
    dup = frame.duplicated(keep=False)
    return np.where(dup, frame + "." + (n + 1).astype(str), frame).astype(object)


def _dissolve(geoms: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Exact union of the faces of each group (faces form a coverage)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for g in range(n):
        parts = geoms[order[bounds[g] : bounds[g + 1]]]
        out[g] = parts[0] if len(parts) == 1 else shapely.coverage_union_all(parts)
    return out


#: The community code of a community with none given (the first part of grid codes).
DEFAULT_COMMUNITY_CODE = "C001"


def community_boundary(store: Store) -> tuple[gpd.GeoDataFrame, str | None]:
    """The store's community boundary, or the data's extent when it has none.

    Returns
    -------
    (community, warning)
        The boundary in the storage CRS; ``warning`` says when it was made from the
        extent of the buildings and roads (``boundary_source = extent``), else None.
    """
    community = store.read("community")
    community = community[community.geom_type.isin(["Polygon", "MultiPolygon"])]
    if not community.empty:
        return community, None
    buildings, roads = store.read("buildings"), store.read("roads")
    if buildings.empty and roads.empty:
        msg = (
            "the store has no community boundary and no buildings or roads to take one "
            "from; import a boundary into the community layer"
        )
        raise PlannerError(msg, source=str(store.path))
    extent = gpd.GeoDataFrame(
        {
            "community_code": [DEFAULT_COMMUNITY_CODE],
            "name": [store.metadata.get("name") or store.path.stem],
            "boundary_source": ["extent"],
        },
        geometry=[data_extent(buildings, roads)],
        crs=buildings.crs or roads.crs,
    )
    warning = (
        "the store has no community boundary: the extent of its buildings and roads is "
        "used (import the real one into the community layer)"
    )
    return extent, warning


def load_inputs(
    store: Store, *, community: gpd.GeoDataFrame | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """Read the layers blocks are made from, in the store's metric CRS, checking them.

    ``community`` overrides the store's boundary (see :func:`community_boundary`).
    """
    if community is None:
        community, _ = community_boundary(store)
    buildings = store.read("buildings")
    if buildings.empty:
        msg = "the store has no buildings; grids are made of buildings"
        raise PlannerError(msg, source=str(store.path))
    crs = store.metric_crs
    return {
        "community": community.to_crs(crs),
        "buildings": buildings.to_crs(crs),
        "roads": store.read("roads").to_crs(crs),
        "barriers": store.read("barriers").to_crs(crs),
        "compounds": store.read("compounds").to_crs(crs),
    }


def blocks_frame(units: Units) -> gpd.GeoDataFrame:
    """The ``blocks`` layer rows of ``units`` (schema fields only, metric CRS)."""
    cols = ["block_id", "kind", "parent_id", "compound_id", "households", "buildings", "area_m2"]
    extra = [c for c in ("grid_code",) if c in units.frame]
    return units.frame[[*cols, *extra, "geometry"]].copy()


def make_blocks(
    store: Store,
    *,
    max_households: int | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Cut the community into blocks and write the ``blocks`` layer and ``buildings.block_id``.

    Parameters
    ----------
    store
        The store (needs a community boundary and buildings).
    max_households
        Blocks above this are opened into compounds, lanes and building cells.
    progress
        Called at each step.

    Returns
    -------
    dict
        ``blocks``, counts by ``kind``, ``households_max``, ``over_max`` (blocks
        still above the bound: single buildings or groups of overlapping ones).
    """
    max_households = settings.grid.max_households if max_households is None else max_households
    if max_households <= 0:
        raise InputError(
            f"`max_households` must be positive, got {max_households}", param="max_households"
        )
    inputs = load_inputs(store)
    faces = build_faces(**inputs, progress=progress)
    units = make_units(faces, default_depth(faces, max_households=max_households))
    buildings = store.read("buildings")
    buildings["block_id"] = np.where(
        units.building_unit >= 0,
        units.frame["block_id"].to_numpy()[np.maximum(units.building_unit, 0)],
        None,
    )
    blocks = blocks_frame(units)
    report = blocks_report(units, max_households=max_households)
    progress("write blocks")
    store.write_many(
        {"blocks": blocks, "buildings": buildings},
        log=[{"layer": "blocks", "action": "blocks", "detail": report, "reason": "planner blocks"}],
    )
    return report


def blocks_report(units: Units, *, max_households: int) -> dict[str, Any]:
    """Summary of a set of units."""
    frame = units.frame
    over = frame[frame["households"] > max_households]
    return {
        "blocks": int(len(frame)),
        "kinds": {k: int(v) for k, v in frame["kind"].value_counts().items()},
        "households": int(frame["households"].sum()),
        "households_max": int(frame["households"].max()) if len(frame) else 0,
        "empty": int((frame["households"] == 0).sum()),
        "over_max": [
            {"block_id": b, "households": int(h), "buildings": int(n)}
            for b, h, n in zip(over["block_id"], over["households"], over["buildings"], strict=True)
        ],
    }
