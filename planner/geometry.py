"""Vectorised geometry helpers shared by the importers and the analyses, each written once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from planner.errors import PlannerError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "blank",
    "data_extent",
    "face_adjacency",
    "footprint_clusters",
    "in_range",
    "majority",
    "make_valid_like",
    "node_lines",
    "overlay_pairs",
    "polygonal_parts",
    "repair",
    "representative_points",
    "shared_segments",
]

#: Longest straight segment the noding keeps, in metres. Projection to lon/lat (the
#: storage CRS) bends a straight metric line by centimetres over a kilometre, so a
#: vertex a few millimetres from a long edge could end up across it and the stored
#: polygon would cross itself; on segments this short the bend is below 0.1 mm.
MAX_SEGMENT_M = 50.0


def node_lines(lines: np.ndarray, grid_size: float) -> np.ndarray:
    """Node metric lines with snap rounding, then cut into segments at most ``MAX_SEGMENT_M``.

    Parameters
    ----------
    lines
        Array of line geometries (empty ones are dropped).
    grid_size
        Snapping grid in metres: every vertex lands on it, none within half a cell of
        another edge.

    Returns
    -------
    numpy.ndarray
        The noded line parts, ready for ``shapely.polygonize``.
    """
    lines = np.asarray(lines, dtype=object)
    noded = shapely.get_parts(
        shapely.union_all(lines[~shapely.is_empty(lines)], grid_size=grid_size)
    )
    # Cut after noding: the faces stay those of the plain noding, vertex for vertex on
    # shared edges (each noded edge is cut once, for both faces along it).
    return shapely.segmentize(noded, MAX_SEGMENT_M)


def repair(geoms: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Repair invalid geometries and find those beyond repair.

    Parameters
    ----------
    geoms
        Array of shapely geometries (None allowed).

    Returns
    -------
    (geometries, repaired, dropped)
        The repaired array, how many were repaired, and a boolean mask of the
        missing, empty or unrepairable ones (to be left out and counted).
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    missing = shapely.is_missing(geoms)
    present = ~missing
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    if invalid.any():
        # a self-touching polygon stays a polygon (its stray lines dropped), so a
        # polygon layer is not refused for a spike drawn by hand
        geoms[invalid] = make_valid_like(geoms[invalid])
    dropped = missing.copy()
    dropped[present] = shapely.is_empty(geoms[present])
    return geoms, int((invalid & ~dropped).sum()), dropped


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """A point inside each geometry (points stay as they are)."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    not_point = shapely.get_type_id(geoms) != 0
    out[not_point] = shapely.point_on_surface(geoms[not_point])
    return out


def make_valid_like(geoms: np.ndarray) -> np.ndarray:
    """Repair invalid geometries, keeping only parts of each original's dimension.

    ``shapely.make_valid`` can turn a self-touching polygon into a collection of
    polygons and stray lines; a polygon layer wants the polygons only.

    Parameters
    ----------
    geoms
        Array of geometries (None allowed).

    Returns
    -------
    numpy.ndarray
        The same array with invalid entries repaired (valid ones untouched).
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    present = ~shapely.is_missing(geoms)
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[present] = ~shapely.is_valid(geoms[present])
    if not invalid.any():
        return geoms
    index = np.flatnonzero(invalid)
    dims = shapely.get_dimensions(geoms[index])
    fixed = shapely.make_valid(geoms[index])
    parts, owner = shapely.get_parts(fixed, return_index=True)
    keep = shapely.get_dimensions(parts) == dims[owner]
    out = np.array([shapely.GeometryCollection()] * len(index), dtype=object)
    for i in np.unique(owner[keep]):  # only the few repaired geometries
        out[i] = shapely.union_all(parts[keep & (owner == i)])
    geoms[index] = out
    return geoms


def data_extent(buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> shapely.Geometry:
    """The data's extent: every building, and the box holding 1-99 % of road vertices.

    OSM exports carry every node of any way that touches the requested box, so a
    plain min/max of the roads would stretch far out along long roads and rivers;
    buildings are small and are all kept. Both frames must share one CRS.
    """
    boxes = []
    if len(buildings):
        boxes.append(buildings.total_bounds)
    if len(roads):
        coords = shapely.get_coordinates(roads.geometry.to_numpy())
        lo, hi = np.percentile(coords, 1, axis=0), np.percentile(coords, 99, axis=0)
        boxes.append(np.concatenate([lo, hi]))
    if not boxes:
        msg = "there are no buildings or roads to take an extent from"
        raise PlannerError(msg)
    boxes = np.vstack(boxes)
    return shapely.box(*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))


# -- helpers shared by blocks, grids, topology and edge areas ------------------------------


def blank(values: pd.Series) -> np.ndarray:
    """True where a text column holds nothing: missing, or only spaces."""
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def in_range(households: np.ndarray, min_households: float, max_households: float) -> np.ndarray:
    """True for each count within ``min_households``–``max_households`` (both included)."""
    return (households >= min_households) & (households <= max_households)


def polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry: collections from overlays drop their lines.

    A collection without any polygon (an overlay that met only along a line) becomes
    a hair-thin polygon around it, so it still shows where it is.
    """
    geoms = np.asarray(geoms, dtype=object).copy()
    mixed = shapely.get_type_id(geoms) == 7
    for i in np.flatnonzero(mixed):
        parts = shapely.get_parts(geoms[i])
        polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
        geoms[i] = shapely.union_all(polys) if len(polys) else shapely.buffer(geoms[i], 0.5e-5)
    return geoms


def overlay_pairs(
    geoms: np.ndarray,
    targets: np.ndarray,
    tree: shapely.STRtree | None = None,
    *,
    whole_shortcut: bool = True,
    keep_touching: bool = False,
) -> pd.DataFrame:
    """Area of every intersecting (geometry, target) pair, without needless overlays.

    Pairs where the geometry lies wholly in the target take the geometry's area;
    only the others are intersected.

    Parameters
    ----------
    geoms, targets
        Geometries in one CRS.
    tree
        An ``STRtree`` of ``targets``, if one is at hand.
    whole_shortcut
        Take a geometry's own area where it lies wholly in the target. False
        intersects every pair: the area then differs in the last bits, which the
        grid engine's own numbering relies on (its callers pass False).
    keep_touching
        Keep pairs that only touch (zero area), as the block builder sums them.

    Returns
    -------
    pandas.DataFrame
        Columns ``i`` (index into ``geoms``), ``j`` (into ``targets``), ``area``, in
        the order of the tree query.
    """
    tree = tree or shapely.STRtree(targets)
    if len(geoms) == 0 or len(targets) == 0:
        return pd.DataFrame({"i": [], "j": [], "area": []}).astype({"i": int, "j": int})
    i, j = tree.query(geoms, predicate="intersects")
    if not whole_shortcut:
        area = shapely.area(shapely.intersection(geoms[i], targets[j]))
    else:
        area = shapely.area(geoms)[i]
        part = ~shapely.covered_by(geoms[i], targets[j])
        area[part] = shapely.area(shapely.intersection(geoms[i[part]], targets[j[part]]))
    keep = slice(None) if keep_touching else area > 0
    return pd.DataFrame({"i": i[keep], "j": j[keep], "area": area[keep]})


def majority(
    pairs: pd.DataFrame,
    n: int,
    *,
    groups: np.ndarray | None = None,
    ties: Literal["first", "last"] = "last",
) -> np.ndarray:
    """Index of the target holding most of each geometry (-1 if none): the majority overlay.

    Parameters
    ----------
    pairs
        From :func:`overlay_pairs`.
    n
        Number of geometries (or of groups).
    groups
        Group of each geometry: the answer is then per group, over the summed areas of
        its members (a building drawn as several overlapping footprints).
    ties
        Which of several targets holding the same largest area wins: the first or the
        last in the order of ``pairs`` (grouped pairs: the lowest or highest target).

    Returns
    -------
    numpy.ndarray
        One target index per geometry (or group).
    """
    out = np.full(n, -1)
    if groups is not None and len(pairs):
        pairs = pairs.assign(i=np.asarray(groups)[pairs["i"].to_numpy()])
        pairs = pairs.groupby(["i", "j"], as_index=False)["area"].sum()
    pairs = pairs[pairs["area"] > 0]
    if len(pairs) == 0:
        return out
    i, j, area = (pairs[c].to_numpy() for c in ("i", "j", "area"))
    position = np.arange(len(i))
    # Per geometry, largest area first, then the tie-break by position in ``pairs``.
    order = np.lexsort((position if ties == "first" else -position, -area, i))
    first = np.r_[True, i[order][1:] != i[order][:-1]]
    out[i[order][first]] = j[order][first]
    return out


def footprint_clusters(
    geoms: np.ndarray, *, min_overlap_m2: float = 0.05, inclusive: bool = False
) -> np.ndarray:
    """Cluster label of each footprint: footprints overlapping each other share one.

    A building drawn twice, or in overlapping parts, is one building to the grids.

    Parameters
    ----------
    geoms
        Footprints in a metric CRS.
    min_overlap_m2
        Overlaps below this area are drawing noise, not shared buildings.
    inclusive
        Whether an overlap of exactly ``min_overlap_m2`` links two footprints (the
        topology fixes say yes, the block builder no; each keeps its own answer).

    Returns
    -------
    numpy.ndarray
        Cluster label per footprint (0…k-1).
    """
    n = len(geoms)
    if n == 0:
        return np.empty(0, dtype=int)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    if len(i):
        overlap = shapely.area(shapely.intersection(geoms[i], geoms[j]))
        real = overlap >= min_overlap_m2 if inclusive else overlap > min_overlap_m2
        i, j = i[real], j[real]
    graph = sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def shared_segments(
    faces: np.ndarray, group: np.ndarray | None = None, *, ring_order: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boundary segments shared by two faces: ``(i, j, start, end)`` per segment.

    Faces from one polygonisation (or one Voronoi diagram) share exact vertices,
    so shared segments are found by hashing their end points, without overlay.
    With ``group`` (one id per face, non-decreasing), only faces of one group are
    paired, and the segments come group by group.

    Parameters
    ----------
    faces
        Polygons forming a coverage (or several, one per group).
    group
        Group of each face.
    ring_order
        Give the segments in the order the rings of ``i`` run (``i`` is the face
        met first) rather than by their end points. Sums of lengths taken in one
        order or the other differ in the last bits; each caller keeps its own.

    Returns
    -------
    (i, j, start, end)
        The two faces and the segment's end points (``start`` the lower in x, then y).
    """
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    if len(coords) < 2:
        nothing = np.empty(0, dtype=np.int64)
        return nothing, nothing, np.empty((0, 2)), np.empty((0, 2))
    # Vertices numbered in the byte order of their coordinates (big-endian words
    # sort like bytes), so a segment's key (group, lo, hi) fits one integer and
    # segments sort as their 32-byte keys would: the same order, one cheap sort.
    words = np.ascontiguousarray(coords).view(np.uint64).byteswap()
    by_vertex = np.lexsort((words[:, 1], words[:, 0]))
    sorted_words = words[by_vertex]
    new_vertex = np.r_[True, (sorted_words[1:] != sorted_words[:-1]).any(axis=1)]
    vertex = np.empty(len(coords), dtype=np.int64)
    vertex[by_vertex] = np.cumsum(new_vertex) - 1
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    va, vb = vertex[:-1][same], vertex[1:][same]
    face = ring_face[ring[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo = np.where(swap[:, None], b, a)
    hi = np.where(swap[:, None], a, b)
    v_lo, v_hi = np.where(swap, vb, va), np.where(swap, va, vb)
    g = group[face].astype(np.int64) if group is not None else np.zeros(len(face), np.int64)
    n_vertices = int(vertex.max()) + 1
    if (int(g.max(initial=0)) + 1) * n_vertices * n_vertices < 2**62:
        key = (g * n_vertices + v_lo) * n_vertices + v_hi
        order = np.argsort(key, kind="stable")
        key = key[order]
        change = key[1:] != key[:-1]
    else:  # too many vertices for one integer key
        order = np.lexsort((v_hi, v_lo, g))
        keys = np.column_stack([g, v_lo, v_hi])[order]
        change = (keys[1:] != keys[:-1]).any(axis=1)
    run = np.cumsum(np.r_[True, change]) - 1
    shared = order[np.bincount(run)[run] == 2]
    first, second = shared[0::2], shared[1::2]
    if ring_order:
        along = np.argsort(first, kind="stable")
        first, second = first[along], second[along]
    return face[first], face[second], lo[first], hi[first]


def face_adjacency(faces: np.ndarray, *, ring_order: bool = False) -> pd.DataFrame:
    """Pairs of faces sharing a boundary (``i < j``), with the shared length ``length``.

    ``ring_order`` is passed to :func:`shared_segments`: the order the lengths are summed in.
    """
    i, j, lo, hi = shared_segments(faces, ring_order=ring_order)
    frame = pd.DataFrame(
        {"i": np.minimum(i, j), "j": np.maximum(i, j), "length": np.hypot(*(hi - lo).T)}
    )
    frame = frame[frame["i"] != frame["j"]]
    return frame.groupby(["i", "j"], as_index=False)["length"].sum()
