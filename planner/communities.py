"""Many communities in one store: their boundaries, work regions, and figures side by side.

A street office (街道) keeps 10–20 communities (社区), a district hundreds. The
``community`` layer may hold one polygon per community, each with its own
``community_code``, read from a GIS file of boundaries (:func:`read_communities`) or
from an OSM file's administrative boundary relations (:func:`read_osm_communities`):
grids, zones and codes are then drawn per community (codes start with the community's
own code), and :func:`community_figures` puts every community's
figures in one table. A store with one polygon works as it always has.

The grid step keeps a bounded working set: a community holding more buildings than
``settings.grid.region_buildings`` is cut into *regions* along its major roads,
railways and water (:func:`work_regions`), each drawn on its own, so time grows with the
area and memory with the largest region, not with the whole community.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.crs import STORAGE_CRS
from planner.errors import InputError, PlannerError
from planner.geometry import blank, face_adjacency, in_range, representative_points
from planner.ingest.files import read_file
from planner.partition import partition
from planner.settings import settings

if TYPE_CHECKING:
    from planner.store import Store

__all__ = [
    "CODE_FIELDS",
    "MAJOR_HIGHWAYS",
    "NAME_FIELDS",
    "choose_community",
    "community_figures",
    "community_of",
    "edge_area_parts",
    "figures_report",
    "osm_admin_levels",
    "read_communities",
    "read_osm_communities",
    "subset_inputs",
    "work_areas",
    "work_regions",
]

#: Fields of a boundaries file naming each community's code, in the order tried.
CODE_FIELDS = ("community_code", "社区代码", "code", "代码", "编码", "社区编码")
#: Fields naming each community, in the order tried.
NAME_FIELDS = ("name", "名称", "社区名称", "社区", "NAME")
#: Roads a large community is first cut into regions along; then tertiary roads, then
#: every street (``planner.blocks.STREET_HIGHWAYS``) if regions are still too large.
MAJOR_HIGHWAYS = (
    frozenset(
        {
            "motorway",
            "motorway_link",
            "trunk",
            "trunk_link",
            "primary",
            "primary_link",
            "secondary",
            "secondary_link",
        }
    ),
    frozenset({"tertiary", "tertiary_link"}),
)


#: Roads, walls and compounds this close to an area (m) are part of its inputs.
_REACH_M = 50.0


def _field(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    for name in names:
        column = lower.get(name.lower())
        if column is not None and frame[column].notna().any():
            return column
    return None


def read_communities(
    path: str, *, name: str = "", code: str = "C001", admin_level: str | int | None = None
) -> gpd.GeoDataFrame:
    """Read a community-boundaries file as rows of the ``community`` layer.

    Polygons are grouped by their code (a field named as in :data:`CODE_FIELDS`, e.g.
    ``community_code`` or 社区代码) and named by a field of :data:`NAME_FIELDS`. A file
    with no code field, or one code only, is one community — all its polygons merged,
    named ``name`` and coded ``code`` — as a single boundary always was. An OSM file
    gives its administrative boundaries of ``admin_level`` instead
    (:func:`read_osm_communities`), each named and coded from its tags.

    Parameters
    ----------
    path
        Any file :func:`planner.ingest.files.read_file` reads, or an OSM file.
    name, code
        Name and code of the community when the file holds one.
    admin_level
        For an OSM file: the level of the boundaries to read (default: the most local
        level the file has).

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_code``, ``name``, ``boundary_source`` (``file``, or ``osm``), lon/lat
        polygons (storage CRS), one row per community in the file's order.
    """
    from planner.ingest.osm import is_osm_file

    if is_osm_file(path):
        return read_osm_communities(path, admin_level=admin_level)
    if admin_level is not None:
        msg = f"`admin_level` applies to OSM files; {path} is not one"
        raise InputError(msg, param="admin_level")
    frame = read_file(path).frame
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if frame.empty:
        raise PlannerError("the boundary file has no polygon", source=str(path))
    frame = frame.to_crs(STORAGE_CRS)
    code_field, name_field = _field(frame, CODE_FIELDS), _field(frame, NAME_FIELDS)
    codes = frame[code_field].astype(str) if code_field else None
    if codes is None or codes.nunique() < 2:
        geometry = shapely.union_all(frame.geometry.to_numpy())
        return gpd.GeoDataFrame(
            {"community_code": [code], "name": [name], "boundary_source": ["file"]},
            geometry=[geometry],
            crs=STORAGE_CRS,
        )
    names = frame[name_field].astype(str) if name_field else codes
    rows = []
    for value, part in frame.groupby(codes, sort=False):
        blank_code = not value.strip() or value.lower() in ("nan", "none")
        if blank_code:
            msg = f"a polygon has no community code in field {code_field!r}"
            raise PlannerError(msg, source=str(path))
        geometry = shapely.make_valid(shapely.union_all(part.geometry.to_numpy()))
        rows.append((value, names.loc[part.index[0]], geometry))
    return gpd.GeoDataFrame(
        {
            "community_code": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "boundary_source": "file",
        },
        geometry=[r[2] for r in rows],
        crs=STORAGE_CRS,
    )


def _admin_boundaries(path: str) -> gpd.GeoDataFrame:
    """The administrative boundary relations of an OSM file that close into polygons.

    GDAL's OSM driver builds a relation of ``type=boundary`` (or ``multipolygon``)
    into a polygon only when every member way is in the file: a boundary cut by the
    extract's edge is left out, as it cannot say what lies inside it.
    """
    from planner.ingest.osm import read_osm_layer

    frame, _, _ = read_osm_layer(path, "multipolygons")
    if frame.empty or "osm_id" not in frame:
        return frame.iloc[0:0].assign(admin_level=pd.Series(dtype=object))
    tags = frame["tags"]
    admin = np.array(
        [t.get("boundary") == "administrative" and bool(t.get("admin_level")) for t in tags],
        dtype=bool,
    )
    relation = frame["osm_id"].notna().to_numpy()
    frame = frame[admin & relation & frame.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    return frame.assign(admin_level=[str(t["admin_level"]).strip() for t in frame["tags"]])


def osm_admin_levels(path: str) -> dict[str, int]:
    """The admin levels of an OSM file's closed administrative boundaries, with how
    many boundaries each has (e.g. ``{"6": 2, "8": 5}``), most local last."""
    frame = _admin_boundaries(path)
    counts = frame["admin_level"].value_counts()
    return {str(k): int(counts[k]) for k in sorted(counts.index, key=_level_key)}


def _level_key(level: str) -> tuple[int, str]:
    return (int(level), level) if level.isdigit() else (99, level)


def read_osm_communities(path: str, *, admin_level: str | int | None = None) -> gpd.GeoDataFrame:
    """Communities from an OSM file's administrative boundary relations.

    Each relation tagged ``boundary=administrative`` with ``admin_level`` equal to
    ``admin_level`` whose member ways are all in the file (a closed polygon) is one
    community: named by its ``name`` tag (else its ``ref``, else its osm id) and coded
    by its ``ref`` tag, else its osm id, so grid codes start with it. In China,
    ``admin_level`` 8 is usually a street office or town (街道/镇), 9 or 10 a community
    (社区/村) where mapped.

    Parameters
    ----------
    path
        An OSM file (.osm or .osm.pbf).
    admin_level
        The level to read; None: the most local level the file has a boundary of.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`read_communities`, ``boundary_source`` ``osm``, in the order of the
        relations' ids.

    Raises
    ------
    InputError
        (param ``admin_level``) when the file has no closed administrative boundary
        at that level (the levels it has are named).
    """
    frame = _admin_boundaries(path)
    levels = sorted(frame["admin_level"].unique(), key=_level_key)
    if admin_level is None and levels:
        admin_level = levels[-1]
    chosen = frame[frame["admin_level"] == str(admin_level).strip()]
    if chosen.empty:
        have = ", ".join(f"{k} ({v})" for k, v in osm_admin_levels(path).items()) or "none"
        msg = (
            f"{path} has no closed administrative boundary at `admin_level` {admin_level}; "
            f"levels with one: {have}"
        )
        raise InputError(msg, param="admin_level")
    chosen = chosen.assign(_id=pd.to_numeric(chosen["osm_id"], errors="coerce"))
    chosen = chosen.sort_values("_id")
    refs = [str(t.get("ref") or "").strip() for t in chosen["tags"]]
    ids = chosen["osm_id"].astype(str).tolist()
    codes = [ref or osm_id for ref, osm_id in zip(refs, ids, strict=True)]
    if len(set(codes)) < len(codes):
        # Two boundaries sharing a ref: the osm id tells them apart.
        codes = ids
    names = [
        str(n) if isinstance(n, str) and n.strip() else code
        for n, code in zip(chosen["name"], codes, strict=True)
    ]
    geoms = shapely.make_valid(chosen.geometry.to_numpy())
    return gpd.GeoDataFrame(
        {"community_code": codes, "name": names, "boundary_source": "osm"},
        geometry=list(geoms),
        crs=STORAGE_CRS,
    )


def choose_community(communities: pd.DataFrame, community: str | None) -> int:
    """Position of the community asked for, by code or name; None: the only one.

    Raises
    ------
    InputError
        (param ``community``) when none is given and the store holds several, or the
        one given is not in the store.
    """
    codes = communities["community_code"].astype(str).to_numpy()
    names = communities["name"].astype(str).to_numpy()
    listed = ", ".join(f"{c} {n}" for c, n in zip(codes[:10], names[:10], strict=True))
    more = f" (and {len(codes) - 10} more)" if len(codes) > 10 else ""
    if community is None:
        if len(codes) == 1:
            return 0
        msg = (
            f"the store holds {len(codes)} communities; give `community` (a code or a "
            f"name): {listed}{more}"
        )
        raise InputError(msg, param="community")
    hits = np.flatnonzero(codes == str(community))
    if len(hits) == 0:
        hits = np.flatnonzero(names == str(community))
    if len(hits) != 1:
        msg = f"`community` {community!r} is not one community of the store: {listed}{more}"
        raise InputError(msg, param="community")
    return int(hits[0])


def community_of(codes: pd.Series, communities: pd.DataFrame) -> np.ndarray:
    """The community code each grid code starts with (the longest match; None: none)."""
    known = sorted(communities["community_code"].dropna().astype(str), key=len, reverse=True)
    values = codes.astype(str).to_numpy()
    out = np.full(len(values), None, dtype=object)
    for code in known:
        hit = (out == None) & np.char.startswith(values.astype(str), code)  # noqa: E711
        out[hit] = code
    return out


def subset_inputs(
    inputs: dict[str, gpd.GeoDataFrame],
    area: shapely.Geometry,
    community: gpd.GeoDataFrame,
    *,
    positions: np.ndarray | None = None,
    trees: dict[str, shapely.STRtree] | None = None,
) -> tuple[dict[str, gpd.GeoDataFrame], np.ndarray]:
    """The part of the grid step's inputs one community or region needs.

    Buildings whose representative point lies in ``area`` (each building belongs to
    one area), and roads, barriers and compounds within 50 m of it (the faces clip
    them to the area; a road along the border still bounds what lies inside).

    Parameters
    ----------
    inputs
        ``buildings``, ``roads``, ``barriers``, ``compounds`` (metric CRS).
    area
        The community or region.
    community
        The ``community`` frame of the result (the area as a row).
    positions
        The buildings' positions when already known (skips the point-in-area test).
    trees
        ``STRtree`` of the roads, barriers and compounds when at hand (built once for
        many areas).

    Returns
    -------
    (inputs, positions)
        The inputs with ``community`` set to ``community``, and the positions of the
        chosen buildings in ``inputs["buildings"]``.
    """
    if positions is None:
        shapely.prepare(area)
        points = representative_points(inputs["buildings"].geometry.to_numpy())
        positions = np.flatnonzero(shapely.contains(area, points))
    out = {"community": community, "buildings": inputs["buildings"].iloc[positions]}
    for name in ("roads", "barriers", "compounds"):
        frame = inputs[name]
        if frame.empty:
            out[name] = frame
            continue
        # Features just outside count too: a road along the border bounds what is inside.
        tree = trees[name] if trees else shapely.STRtree(frame.geometry.to_numpy())
        hits = tree.query(area, predicate="dwithin", distance=_REACH_M)
        out[name] = frame.iloc[np.sort(hits)]
    return out, positions


#: One community's areas: (position in the community layer, [(area, inputs, positions)]).
WorkAreas = list[tuple[int, list[tuple[shapely.Geometry, dict[str, gpd.GeoDataFrame], np.ndarray]]]]


def work_areas(
    inputs: dict[str, gpd.GeoDataFrame], *, max_buildings: int | None = None
) -> WorkAreas:
    """The areas the grid step draws one at a time: communities, regions of large ones.

    Each building belongs to the community holding its representative point (the
    first listed where communities overlap) and, in a large community, to one
    region of it (:func:`work_regions`).

    Parameters
    ----------
    inputs
        ``community``, ``buildings``, ``roads``, ``barriers``, ``compounds`` in one
        metric CRS (:func:`planner.blocks.load_inputs`).
    max_buildings
        Buildings per region at most; ``settings.grid.region_buildings`` if None.

    Returns
    -------
    list
        Per community (its position in ``inputs["community"]``), its areas, each as
        ``(area, inputs, positions)``: the polygon, the part of ``inputs`` it needs
        (:func:`subset_inputs`) and the positions of its buildings in
        ``inputs["buildings"]``.
    """
    communities = inputs["community"].reset_index(drop=True)
    geoms = shapely.make_valid(communities.geometry.to_numpy())
    points = representative_points(inputs["buildings"].geometry.to_numpy())
    owner = _which_area(inputs["buildings"].geometry.to_numpy(), geoms, points=points)
    trees = {
        name: shapely.STRtree(inputs[name].geometry.to_numpy())
        for name in ("roads", "barriers", "compounds")
    }
    out: WorkAreas = []
    for k, area in enumerate(geoms):
        row = communities.iloc[[k]]
        mine = np.flatnonzero(owner == k)
        inputs_k, _ = subset_inputs(inputs, area, row, positions=mine, trees=trees)
        regions = work_regions(area, inputs_k, max_buildings=max_buildings)
        if len(regions) == 1:
            out.append((k, [(area, inputs_k, mine)]))
            continue
        parts = []
        for region in regions:
            inputs_r, local = subset_inputs(inputs_k, region, row.assign(geometry=[region]))
            parts.append((region, inputs_r, mine[local]))
        out.append((k, parts))
    return out


def edge_area_parts(
    store: Store,
) -> list[tuple[shapely.Geometry, dict[str, gpd.GeoDataFrame]]] | None:
    """Where edge areas are detected one area at a time, as the grid step draws them.

    None for a store of one community of ordinary size (detected in it at once, as
    always); else each community or region with the inputs reaching into it, so
    ``planner edges --detect`` finds the areas ``planner grids`` drew around.
    """
    from planner.blocks import community_boundary, load_inputs

    communities, _ = community_boundary(store)
    if len(communities) <= 1 and store.count("buildings") <= settings.grid.region_buildings:
        return None
    inputs = load_inputs(store, community=communities)
    plan = work_areas(inputs)
    if len(plan) == 1 and len(plan[0][1]) == 1:
        return None
    return [(area, part) for _, parts in plan for area, part, _ in parts]


def work_regions(
    area: shapely.Geometry,
    inputs: dict[str, gpd.GeoDataFrame],
    *,
    max_buildings: int | None = None,
) -> list[shapely.Geometry]:
    """Cut a large community into regions along major roads, railways and water.

    A community with at most ``max_buildings`` buildings is one region (itself).
    A larger one is cut along motorways to secondary roads, railways, rivers and
    water; where a piece is still too large, along tertiary roads too, then along
    every street. The pieces are then grouped into contiguous regions of about
    ``max_buildings`` buildings (between half of it and all of it where the pieces
    allow), joined where they share the longest boundary, so each region is drawn
    on its own and the boundaries between regions run along the roads that cut them.

    Parameters
    ----------
    area
        The community (metric CRS).
    inputs
        ``buildings``, ``roads``, ``barriers`` in the same CRS.
    max_buildings
        Buildings per region at most; ``settings.grid.region_buildings`` if None.

    Returns
    -------
    list of shapely geometries
        The regions, an exact coverage of ``area`` (``[area]`` when small enough).
    """
    from planner.blocks import GRID_SIZE, STREET_BARRIERS, STREET_HIGHWAYS

    max_buildings = settings.grid.region_buildings if max_buildings is None else max_buildings
    if max_buildings <= 0:
        msg = f"`region_buildings` must be positive, got {max_buildings}"
        raise InputError(msg, param="region_buildings")
    points = representative_points(inputs["buildings"].geometry.to_numpy())
    shapely.prepare(area)
    points = points[shapely.contains(area, points)]
    if len(points) <= max_buildings:
        return [area]
    roads, barriers = inputs["roads"], inputs["barriers"]
    highway = roads["highway"].fillna("").astype(str) if "highway" in roads else None
    internal = (
        roads["internal"].fillna(False).astype(bool).to_numpy()
        if "internal" in roads
        else np.zeros(len(roads), bool)
    )
    strong = np.zeros(len(barriers), dtype=bool)
    if len(barriers):
        strong = barriers["kind"].astype(str).isin(STREET_BARRIERS).to_numpy()
    kinds = [*MAJOR_HIGHWAYS, STREET_HIGHWAYS]
    lines = [barriers.geometry.to_numpy()[strong]]
    seeds = np.array([area], dtype=object)
    outline = shapely.boundary(area)
    for level in range(len(kinds)):
        if highway is not None:
            chosen = highway.isin(kinds[level]).to_numpy() & ~internal
            lines.append(roads.geometry.to_numpy()[chosen])
        cutting = np.concatenate(lines)
        if len(cutting) == 0:
            continue
        clipped = shapely.intersection(cutting, area)
        noded = shapely.union_all(
            np.concatenate([shapely.get_parts([outline]), shapely.get_parts(clipped)]),
            grid_size=GRID_SIZE,
        )
        faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
        faces = faces[shapely.area(faces) > 0]
        inside = shapely.contains_properly(area, shapely.point_on_surface(faces))
        seeds = faces[inside] if inside.any() else seeds
        if _counts(seeds, points).max() <= max_buildings:
            break
    regions = _group(seeds, _counts(seeds, points), max_buildings)
    return _whole_buildings(regions, inputs["buildings"].geometry.to_numpy(), area)


def _whole_buildings(
    regions: list[shapely.Geometry], footprints: np.ndarray, area: shapely.Geometry
) -> list[shapely.Geometry]:
    """Regions bent around the buildings their borders cross, each building whole in
    the region holding its representative point.

    A road drawn through a building (a covered street, a railway in a tunnel) would
    otherwise leave part of it to the next region, whose grid would cut it.
    """
    if len(regions) < 2 or len(footprints) == 0:
        return regions
    parts = np.array(regions, dtype=object)
    b, r = shapely.STRtree(parts).query(footprints, predicate="intersects")
    share = shapely.area(shapely.intersection(footprints[b], parts[r]))
    real = share > 0.01
    b, r = b[real], r[real]
    spread = np.bincount(b, minlength=len(footprints))
    crossing = np.flatnonzero(spread > 1)
    if len(crossing) == 0:
        return regions
    owner = _which_area(footprints[crossing], parts)
    out = []
    for k, region in enumerate(parts):
        mine = footprints[crossing[owner == k]]
        theirs = footprints[crossing[owner != k]]
        if len(mine):
            region = shapely.union(region, shapely.intersection(shapely.union_all(mine), area))
        if len(theirs):
            region = shapely.difference(region, shapely.union_all(theirs))
        out.append(shapely.make_valid(region))
    return out


def _counts(polygons: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points in each polygon."""
    if len(points) == 0:
        return np.zeros(len(polygons), dtype=np.int64)
    _, which = shapely.STRtree(polygons).query(points, predicate="within")
    return np.bincount(which, minlength=len(polygons))


def _group(seeds: np.ndarray, counts: np.ndarray, max_buildings: int) -> list[shapely.Geometry]:
    """Contiguous groups of seeds of about ``max_buildings`` buildings, as polygons."""
    if len(seeds) == 1:
        return list(seeds)
    adjacency = face_adjacency(seeds)
    edges = pd.DataFrame(
        {
            "a": adjacency["i"].to_numpy(),
            "b": adjacency["j"].to_numpy(),
            "length": adjacency["length"].to_numpy(),
            # Cheapest to part along the longest shared road: the regions stay compact.
            "cost": adjacency["length"].to_numpy(),
        }
    )
    # Empty pieces weigh a little, so the grouping still joins them to a neighbour.
    weight = counts.astype(float) + 1.0
    result = partition(
        weight,
        edges,
        min_households=max(1, max_buildings // 2),
        max_households=max_buildings,
        time_limit=2.0,
    )
    groups = _join_empty(result.assignment.copy(), counts, adjacency, seeds)
    out = []
    for g in np.unique(groups):
        members = seeds[groups == g]
        try:
            region = shapely.coverage_union_all(members)
        except shapely.errors.GEOSException:
            region = shapely.union_all(members)
        out.append(region)
    return out


def _join_empty(
    groups: np.ndarray, counts: np.ndarray, adjacency: pd.DataFrame, seeds: np.ndarray
) -> np.ndarray:
    """Join each group without buildings to the neighbouring group it shares most
    boundary with (or, cut off by water, the nearest one): a region of no buildings
    would hold no grid."""
    while True:
        held = np.bincount(groups, weights=counts, minlength=int(groups.max()) + 1)
        used = np.unique(groups)
        empty = [g for g in used if held[g] == 0]
        if not empty or len(used) == 1:
            return groups
        g = empty[0]
        a, b = adjacency["i"].to_numpy(), adjacency["j"].to_numpy()
        ga, gb = groups[a], groups[b]
        touch = (ga == g) != (gb == g)
        if touch.any():
            other = np.where(ga[touch] == g, gb[touch], ga[touch])
            length = adjacency["length"].to_numpy()[touch]
            target = int(pd.Series(length).groupby(other).sum().idxmax())
        else:
            mine = shapely.union_all(seeds[groups == g])
            rest = [h for h in used if h != g]
            gaps = [shapely.distance(mine, shapely.union_all(seeds[groups == h])) for h in rest]
            target = int(rest[int(np.argmin(gaps))])
        groups[groups == g] = target


# -- figures ------------------------------------------------------------------------


def community_figures(store: Store) -> pd.DataFrame:
    """One row per community of the store, its figures comparable with the others'.

    Read only. Every figure comes from the layers the pipeline wrote: buildings
    (households, walking coverage), the current plan's grids (in range, flagged,
    boundary length), the latest check's findings where saved, stations and staff.

    Returns
    -------
    pandas.DataFrame
        ``community_code``, ``name``, ``area_km2``, ``buildings``, ``households``,
        ``grids``, ``in_range``, ``flagged``, ``in_range_share``, ``zones``,
        ``boundary_km``, ``on_features_share``, ``households_covered``,
        ``coverage_share``, ``stations``, ``staff`` (from the grids' staffing:
        grid leaders, full- and part-time workers, building leaders) and
        ``staff_listed`` (contacts in the ``staff`` layer).
    """
    from planner.blocks import community_boundary

    communities, _ = community_boundary(store)
    communities = communities.reset_index(drop=True)
    metric = store.metric_crs
    areas = communities.to_crs(metric).geometry.to_numpy()
    codes = communities["community_code"].astype(str).to_numpy()
    n = len(communities)
    index = pd.Index(codes)
    rows = pd.DataFrame(
        {
            "community_code": codes,
            "name": communities["name"].to_numpy(),
            "area_km2": np.round(shapely.area(areas) / 1e6, 3),
        },
        index=index,
    )
    buildings = store.read("buildings")
    where = _which_area(buildings.to_crs(metric).geometry.to_numpy(), areas)
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy()
    rows["buildings"] = np.bincount(where[where >= 0], minlength=n)
    rows["households"] = np.bincount(where[where >= 0], weights=hh[where >= 0], minlength=n)
    covered = np.zeros(len(buildings), dtype=bool)
    if "covered" in buildings:
        covered = buildings["covered"].fillna(False).astype(bool).to_numpy()
    rows["households_covered"] = np.bincount(
        where[(where >= 0) & covered], weights=hh[(where >= 0) & covered], minlength=n
    )
    grids = store.read("grids")
    if not grids.empty:
        grids = grids[blank(grids["scenario"])]
    bounds = (settings.grid.min_households, settings.grid.max_households)
    staff_fields = ("grid_leaders", "fulltime_workers", "parttime_workers", "building_leaders")
    for field in ("grids", "in_range", "flagged", "zones", "staff"):
        rows[field] = 0
    rows["boundary_km"] = 0.0
    rows["on_features_share"] = np.nan
    if len(grids):
        owner = community_of(grids["grid_code"], communities)
        ghh = pd.to_numeric(grids["households"], errors="coerce").fillna(0).to_numpy()
        frame = pd.DataFrame(
            {
                "community_code": owner,
                "in_range": in_range(ghh, *bounds),
                "flagged": ~blank(grids["flag"]) if "flag" in grids else False,
                "zone_code": grids["zone_code"].astype(str).to_numpy(),
                "staff": sum(
                    pd.to_numeric(grids[f], errors="coerce").fillna(0).to_numpy()
                    for f in staff_fields
                    if f in grids
                ),
                "boundary_m": shapely.length(
                    shapely.boundary(grids.to_crs(metric).geometry.to_numpy())
                ),
            }
        ).dropna(subset=["community_code"])
        per = frame.groupby("community_code").agg(
            grids=("in_range", "size"),
            in_range=("in_range", "sum"),
            flagged=("flagged", "sum"),
            zones=("zone_code", "nunique"),
            staff=("staff", "sum"),
            boundary_m=("boundary_m", "sum"),
        )
        for field in ("grids", "in_range", "flagged", "zones", "staff"):
            rows.loc[per.index, field] = per[field].astype(np.int64).to_numpy()
        # Grid boundaries counted once: shared ones are halved, the outline is whole.
        outline = shapely.length(shapely.boundary(areas))
        inner = (per["boundary_m"].reindex(index).fillna(0).to_numpy() - outline) / 2
        rows["boundary_km"] = np.round(np.maximum(inner, 0) / 1000 + outline / 1000, 2)
    rows["on_features_share"] = _on_features(store, communities, areas)
    rows["in_range_share"] = np.where(
        rows["grids"] > 0, rows["in_range"] / rows["grids"].clip(lower=1), np.nan
    )
    rows["coverage_share"] = np.where(
        rows["households"] > 0, rows["households_covered"] / rows["households"].clip(lower=1), 0
    )
    stations = store.read("stations")
    if len(stations):
        current = stations["status"].astype(str).isin(("existing", "proposed", "planned"))
        points = representative_points(stations[current].to_crs(metric).geometry.to_numpy())
        at = _which_area(points, areas)
        rows["stations"] = np.bincount(at[at >= 0], minlength=n)
    else:
        rows["stations"] = 0
    rows["staff_listed"] = 0
    staff = store.read("staff") if store.has("staff") else pd.DataFrame()
    if len(staff) and "grid_code" in staff:
        owner = pd.Series(community_of(staff["grid_code"], communities)).dropna()
        listed = owner.value_counts()
        rows.loc[listed.index, "staff_listed"] = listed.to_numpy()
    for field in ("households", "households_covered"):
        rows[field] = rows[field].round().astype(np.int64)
    order = [
        "community_code",
        "name",
        "area_km2",
        "buildings",
        "households",
        "grids",
        "in_range",
        "flagged",
        "in_range_share",
        "zones",
        "boundary_km",
        "on_features_share",
        "households_covered",
        "coverage_share",
        "stations",
        "staff",
        "staff_listed",
    ]
    return rows[order].reset_index(drop=True)


def _which_area(
    geoms: np.ndarray, areas: np.ndarray, *, points: np.ndarray | None = None
) -> np.ndarray:
    """The area holding each geometry's representative point (-1: none; first if several)."""
    out = np.full(len(geoms), -1, dtype=np.int64)
    if len(geoms) == 0 or len(areas) == 0:
        return out
    points = representative_points(geoms) if points is None else points
    i, j = shapely.STRtree(areas).query(points, predicate="within")
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    first = np.r_[True, i[1:] != i[:-1]] if len(i) else np.empty(0, dtype=bool)
    out[i[first]] = j[first]
    return out


def _on_features(store: Store, communities: pd.DataFrame, areas: np.ndarray) -> np.ndarray:
    """Share of each community's grid boundary on physical features, as the check measures
    it (:func:`planner.topology.boundary_on_features`), the community's own outline left out."""
    from planner.topology import boundary_on_features
    from planner.topology.plan import load_plan

    out = np.full(len(communities), np.nan)
    try:
        plan = load_plan(store)
    except PlannerError:
        return out
    owner = community_of(plan.grids["grid_code"], communities)
    geoms = plan.grids.geometry.to_numpy()
    codes = communities["community_code"].astype(str).to_numpy()
    for k, code in enumerate(codes):
        mine = owner == code
        if not mine.any():
            continue
        measured = boundary_on_features(
            geoms[mine], plan.grids["grid_code"].to_numpy()[mine], plan.features, areas[k]
        )
        total = measured["boundary_m"].sum()
        out[k] = round(measured["on_features_m"].sum() / total, 4) if total > 0 else 1.0
    return out


def figures_report(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of :func:`community_figures` as JSON-able dicts (NaN as None)."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in records]
