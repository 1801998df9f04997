"""Read OpenStreetMap files (.osm XML and .osm.pbf) offline into planner layers.

GDAL's OSM driver (through pyogrio) does the parsing, with the planner's own
``osmconf.ini`` deciding which tags become fields. Geometries are decoded with
shapely so that broken rings, common in clipped extracts, are repaired where
possible and counted where not, instead of failing the whole file.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planner.crs import STORAGE_CRS, check_lonlat
from planner.errors import PlannerError
from planner.geometry import data_extent, repair, representative_points

__all__ = [
    "OSM_CONFIG",
    "OSM_SUFFIXES",
    "SITE_COSTS",
    "USE_KEYS",
    "OsmImport",
    "is_osm_file",
    "levels_from_tags",
    "parse_other_tags",
    "read_osm",
    "read_osm_layer",
    "summarise",
]

OSM_CONFIG = Path(__file__).with_name("osmconf.ini")
OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.xml")

# Highway values that are not ways on the ground.
_NOT_WAYS = {"proposed", "construction", "abandoned", "platform", "raceway", "bus_guideway"}
# Highway values pedestrians may not use (the rest are walkable unless foot=no).
_NO_WALK = {"motorway", "motorway_link"}
_WALL_KINDS = {
    "wall": "wall",
    "city_wall": "wall",
    "fence": "fence",
    "retaining_wall": "retaining_wall",
}
_RAIL = {"rail", "light_rail", "narrow_gauge", "subway", "monorail", "preserved"}
_WATERWAYS = {"river", "canal", "stream"}
_GATES = {
    "gate",
    "entrance",
    "lift_gate",
    "swing_gate",
    "sliding_gate",
    "turnstile",
    "kissing_gate",
}
_COMPOUND_AMENITY = {
    "school": "school",
    "university": "campus",
    "college": "campus",
    "kindergarten": "school",
    "hospital": "hospital",
}
#: OSM keys that say what a building, or a point of interest in it, is used for.
USE_KEYS = ("amenity", "shop", "office", "tourism", "healthcare", "leisure", "craft")
# A point of interest this close to a building's outline (about 3 m, in degrees) is on it.
_ON_OUTLINE_DEG = 3e-5
_STATION_NAME = re.compile(r"党群服务|社区服务|居委会|居民委员会|社区中心|便民服务")
_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


@dataclass
class OsmImport:
    """What :func:`read_osm` read: the layers, and a report of what it did.

    Attributes
    ----------
    layers
        Layer name → GeoDataFrame in the storage CRS, in the schema's shape.
    boundary
        The community boundary (a polygon in lon/lat).
    boundary_source
        ``file``, ``bbox`` or ``extent`` (the data's extent, when no boundary was given).
    repaired, dropped
        Geometries repaired, and geometries that could not be repaired, per OSM layer.
    warnings
        Sentences for the user (e.g. that the file holds no buildings).
    """

    layers: dict[str, gpd.GeoDataFrame]
    boundary: shapely.Geometry
    boundary_source: str
    repaired: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def is_osm_file(path: str | Path) -> bool:
    """Return True if ``path`` names an OSM XML or PBF file."""
    return str(path).lower().endswith(OSM_SUFFIXES)


def parse_other_tags(values: pd.Series) -> pd.Series:
    """Parse GDAL's hstore-style ``other_tags`` strings into dicts."""
    return values.map(
        lambda s: (
            {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _HSTORE.findall(s)}
            if isinstance(s, str)
            else {}
        )
    )


def read_osm_layer(path: str | Path, layer: str) -> tuple[gpd.GeoDataFrame, int, int]:
    """Read one layer of GDAL's OSM driver, repairing geometries.

    Parameters
    ----------
    path
        The ``.osm`` or ``.osm.pbf`` file.
    layer
        ``points``, ``lines`` or ``multipolygons``.

    Returns
    -------
    (GeoDataFrame, repaired, dropped)
        The features with a parsed ``tags`` column (from ``other_tags``), and how
        many geometries were repaired or dropped as beyond repair.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            meta, _, wkb, values = pyogrio.raw.read(path, layer=layer, CONFIG_FILE=str(OSM_CONFIG))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"cannot read as OpenStreetMap data ({_first_line(exc)})"
        raise PlannerError(msg, source=str(path)) from None
    frame = pd.DataFrame({name: col for name, col in zip(meta["fields"], values, strict=True)})
    geoms = shapely.from_wkb(wkb, on_invalid="fix") if len(wkb) else np.array([], dtype=object)
    geoms, repaired, dropped_mask = repair(geoms)
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs=STORAGE_CRS)
    gdf = gdf[~dropped_mask].reset_index(drop=True)
    gdf["tags"] = parse_other_tags(gdf["other_tags"]) if "other_tags" in gdf else [{}] * len(gdf)
    return gdf, repaired, int(dropped_mask.sum())


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _file_bounds(path: Path) -> tuple[float, float, float, float] | None:
    """The ``<bounds>`` element of an OSM XML file, if it has one."""
    if path.suffix.lower() == ".pbf":
        return None
    with open(path, "rb") as handle:
        head = handle.read(8192).decode("utf-8", "ignore")
    found = re.search(r"<bounds\s+([^>]*)/?>", head)
    if not found:
        return None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
    try:
        return tuple(float(attrs[k]) for k in ("minlon", "minlat", "maxlon", "maxlat"))
    except (KeyError, ValueError):
        return None


def _text(frame: gpd.GeoDataFrame, column: str) -> pd.Series:
    if column in frame:
        return frame[column].astype(object).where(frame[column].notna(), None)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _number(values: pd.Series) -> pd.Series:
    """First number in each text value ("6", "6;7", "约20 m" → 6, 6, 20)."""
    return pd.to_numeric(values.astype(str).str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce")


def levels_from_tags(levels: pd.Series, height: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Storeys from OSM-style ``building:levels`` and ``height`` (metres, 3 m a storey).

    Returns
    -------
    (levels, levels_source)
        Levels (NaN where neither gives one) and where each came from: ``tag``,
        ``height`` or None.
    """
    tagged = _number(levels)
    from_height = (_number(height) / 3.0).round()
    source = np.where(tagged.notna(), "tag", np.where(from_height.notna(), "height", None))
    return tagged.fillna(from_height), source


def _osm_ids(frame: gpd.GeoDataFrame) -> tuple[pd.Series, pd.Series]:
    """Return (plain id, typed osm id) for multipolygon features: ways 'w…', relations 'r…'."""
    way = _text(frame, "osm_way_id")
    rel = _text(frame, "osm_id")
    plain = way.where(way.notna(), "r" + rel.astype(str))
    typed = ("w" + way.astype(str)).where(way.notna(), "r" + rel.astype(str))
    return plain, typed


def _unique(ids: pd.Series) -> pd.Series:
    """Make ids unique by suffixing repeats (segmented ways can share an OSM id)."""
    ids = ids.astype(str)
    rank = ids.groupby(ids).cumcount()
    return ids.where(rank == 0, ids + "-" + rank.astype(str))


def read_osm(
    path: str | Path,
    *,
    boundary: shapely.Geometry | None = None,
    boundary_source: str = "file",
) -> OsmImport:
    """Read an OSM file into the planner's layers.

    Buildings (with levels, type, name and address), roads and paths (with a
    ``walkable`` flag; motorways are kept as features but not walkable),
    barriers (walls, fences, railways, rivers, water edges), compounds
    (``landuse=residential`` and gated campuses, schools, hospitals), gates,
    existing service stations (community centres, 居委会/党群服务 by name) and
    candidate sites (offices, social facilities, vacant lots).

    Parameters
    ----------
    path
        ``.osm`` or ``.osm.pbf`` file.
    boundary
        Clip to this lon/lat polygon. Buildings are kept whole when their
        representative point is inside; lines and areas are cut at the boundary.
        Without one, the file's ``<bounds>`` or else the data's extent is used.
    boundary_source
        How ``boundary`` was obtained (``file`` or ``bbox``), recorded in the layer.

    Returns
    -------
    OsmImport
    """
    path = Path(path)
    if not path.exists():
        raise PlannerError("file not found", source=str(path))
    if path.stat().st_size == 0:
        raise PlannerError("the file is empty", source=str(path))
    raw = {}
    result = OsmImport(layers={}, boundary=shapely.Point(), boundary_source=boundary_source)
    for name in ("points", "lines", "multipolygons"):
        raw[name], result.repaired[name], result.dropped[name] = read_osm_layer(path, name)
    if all(len(f) == 0 for f in raw.values()):
        raise PlannerError("no OpenStreetMap features in the file", source=str(path))
    for frame in raw.values():
        check_lonlat(frame, source=str(path))

    buildings = _use_evidence(_buildings(raw["multipolygons"]), raw["points"], raw["multipolygons"])
    roads = _roads(raw["lines"])
    if boundary is None:
        bounds = _file_bounds(path)
        if bounds is not None:
            boundary = shapely.box(*bounds)
        else:
            boundary = data_extent(buildings, roads)
        result.boundary_source = "extent"
    result.boundary = boundary
    shapely.prepare(boundary)

    layers = {
        "buildings": buildings,
        "roads": roads,
        "barriers": _barriers(raw["lines"], raw["multipolygons"]),
        "compounds": _compounds(raw["multipolygons"]),
        "gates": _gates(raw["points"]),
    }
    stations, sites = _facilities(raw["points"], raw["multipolygons"])
    layers["stations"] = stations
    layers["candidate_sites"] = sites
    for name, frame in layers.items():
        layers[name] = _clip(
            frame, boundary, whole=name in ("buildings", "gates", "stations", "candidate_sites")
        )
    layers["compounds"] = _mark_walled(layers["compounds"], layers["barriers"])
    for frame in layers.values():
        frame["source"] = f"OSM:{path.name}"
    result.layers = layers
    if layers["buildings"].empty:
        result.warnings.append(
            f"{path.name} holds no buildings inside the area: households and grids need "
            "buildings (import a building layer with `planner import FILE --layer buildings`)"
        )
    if layers["roads"].empty:
        result.warnings.append(f"{path.name} holds no roads or paths inside the area")
    dropped = sum(result.dropped.values())
    if dropped:
        result.warnings.append(f"{dropped} OSM geometries were beyond repair and left out")
    return result


def _buildings(polys: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    building = _text(polys, "building")
    keep = building.notna() & (building != "no")
    frame = polys[keep.to_numpy()].reset_index(drop=True)
    plain, typed = _osm_ids(frame)
    street = _text(frame, "addr_street").fillna("")
    number = _text(frame, "addr_housenumber").fillna("")
    address = _text(frame, "addr_full").fillna(street + number)
    levels, levels_source = levels_from_tags(
        _text(frame, "building_levels"), _text(frame, "height")
    )
    out = gpd.GeoDataFrame(
        {
            "building_id": _unique(plain),
            "osm_id": typed,
            "name": _text(frame, "name"),
            "address": address.where(address != "", None),
            "building_type": _text(frame, "building"),
            "levels": levels,
            "levels_source": levels_source,
            "amenity": _text(frame, "amenity"),
            "shop": _text(frame, "shop"),
            "office": _text(frame, "office"),
            "use_tags": _tag_text(frame, USE_KEYS),
        },
        geometry=_polygonal(frame.geometry),
        crs=STORAGE_CRS,
    )
    return out[~out.geometry.is_empty].reset_index(drop=True)


def _tag_text(frame: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    """Each row's tags among ``keys`` as ``key=value;key=value`` (None when it has none)."""
    texts = pd.Series("", index=frame.index, dtype=object)
    for key in keys:
        value = _text(frame, key)
        has = value.notna()
        item = key + "=" + value[has].astype(str)
        texts[has] = texts[has].where(texts[has] == "", texts[has] + ";") + item
    return texts.where(texts != "", None).to_numpy(object)


def _use_evidence(
    buildings: gpd.GeoDataFrame, points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Add the evidence on each building's use found around it: ``pois`` and ``landuse``.

    ``pois`` lists the points of interest (amenity, shop, office, tourism, healthcare,
    leisure, craft) inside the building or on its outline, each given to its nearest
    building; ``landuse`` lists the land use and institution areas (``landuse=*``,
    hospitals, schools, sports centres...) holding the building's representative point.
    """
    out = buildings.copy()
    out["pois"] = None
    out["landuse"] = None
    if out.empty:
        return out
    shapes = out.geometry.to_numpy()
    tree = shapely.STRtree(shapes)
    poi_text = _tag_text(points, USE_KEYS)
    has_use = pd.notna(poi_text)
    if has_use.any():
        geoms = points.geometry.to_numpy()[has_use]
        pairs = tree.query(geoms, predicate="dwithin", distance=_ON_OUTLINE_DEG)
        if pairs.shape[1]:
            # A point near two buildings belongs to the nearer one.
            distance = shapely.distance(geoms[pairs[0]], shapes[pairs[1]])
            order = np.lexsort((distance, pairs[0]))
            first = np.unique(pairs[0][order], return_index=True)[1]
            point_idx, building_idx = pairs[0][order][first], pairs[1][order][first]
            listed = pd.Series(poi_text[has_use][point_idx]).groupby(building_idx).agg(_counted)
            out.loc[out.index[listed.index.to_numpy()], "pois"] = listed.to_numpy()
    area_keys = ("landuse", "amenity", "leisure", "tourism", "shop")
    not_building = _text(polys, "building").isna().to_numpy()
    areas = polys[not_building]
    area_text = _tag_text(areas, area_keys)
    has_area = pd.notna(area_text)
    if has_area.any():
        area_geoms = areas.geometry.to_numpy()[has_area]
        inside = shapely.STRtree(area_geoms).query(
            representative_points(shapes), predicate="within"
        )
        if inside.shape[1]:
            # Smallest area first: the hospital compound before the district around it.
            order = np.lexsort((shapely.area(area_geoms)[inside[1]], inside[0]))
            inside = inside[:, order]
            texts = (
                pd.Series(area_text[has_area][inside[1]])
                .groupby(inside[0])
                .agg(lambda t: ";".join(dict.fromkeys(";".join(t).split(";"))))
            )
            out.loc[out.index[texts.index.to_numpy()], "landuse"] = texts.to_numpy()
    return out


def _counted(texts: pd.Series) -> str:
    """``a;b;a`` → ``a×2;b``: each tag once, with its count when repeated."""
    counts: dict[str, int] = {}
    for text in texts:
        for item in text.split(";"):
            counts[item] = counts.get(item, 0) + 1
    return ";".join(k if n == 1 else f"{k}×{n}" for k, n in counts.items())


def _polygonal(geoms: gpd.GeoSeries) -> np.ndarray:
    """Keep only the polygon parts of each geometry (repairs can yield collections)."""
    arr = geoms.to_numpy()
    parts, index = shapely.get_parts(arr, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    out = np.array([shapely.Polygon()] * len(arr), dtype=object)
    if poly.any():
        idx, dense = np.unique(index[poly], return_inverse=True)
        merged = shapely.multipolygons(parts[poly], indices=dense)
        single = shapely.get_num_geometries(merged) == 1
        merged = np.where(single, shapely.get_geometry(merged, 0), merged)
        out[idx] = merged
    return out


def _roads(lines: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    highway = _text(lines, "highway")
    keep = highway.notna() & ~highway.isin(_NOT_WAYS)
    keep &= _text(lines, "area").fillna("no") != "yes"
    frame = lines[keep.to_numpy()].reset_index(drop=True)
    highway = _text(frame, "highway")
    foot = _text(frame, "foot").fillna("")
    walkable = ~highway.isin(_NO_WALK) & (foot != "no")
    ids = "w" + _text(frame, "osm_id").astype(str)
    return gpd.GeoDataFrame(
        {
            "road_id": _unique(ids),
            "osm_id": ids,
            "name": _text(frame, "name"),
            "highway": highway,
            "walkable": walkable.to_numpy(),
            "service": _text(frame, "service"),
            "tunnel": _text(frame, "tunnel"),
            "bridge": _text(frame, "bridge"),
        },
        geometry=frame.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )


def _barriers(lines: gpd.GeoDataFrame, polys: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    barrier = _text(lines, "barrier")
    railway = _text(lines, "railway")
    waterway = _text(lines, "waterway")
    underground = _text(lines, "tunnel").notna() & (_text(lines, "tunnel") != "no")
    kind = pd.Series([None] * len(lines), dtype=object)
    kind[barrier.isin(list(_WALL_KINDS)).to_numpy()] = barrier.map(_WALL_KINDS)
    kind[(railway.isin(_RAIL) & ~underground).to_numpy()] = "railway"
    kind[(waterway.isin(_WATERWAYS) & ~underground).to_numpy()] = "waterway"
    line_part = lines.assign(kind=kind.to_numpy())[kind.notna().to_numpy()]

    # Closed walls tagged on an area (e.g. landuse=residential + barrier=wall) and water areas.
    pbarrier = _text(polys, "barrier")
    natural = _text(polys, "natural")
    water = (natural == "water") | _text(polys, "waterway").isin(["riverbank", "dock"])
    water |= _text(polys, "landuse").isin(["reservoir", "basin"])
    pkind = pd.Series([None] * len(polys), dtype=object)
    pkind[pbarrier.isin(list(_WALL_KINDS)).to_numpy()] = pbarrier.map(_WALL_KINDS)
    pkind[water.to_numpy()] = "water"
    area_part = polys.assign(kind=pkind.to_numpy())[pkind.notna().to_numpy()]
    outline = shapely.boundary(area_part.geometry.to_numpy())

    _, typed = _osm_ids(area_part)
    ids = pd.concat(["w" + _text(line_part, "osm_id").astype(str), typed], ignore_index=True)
    return gpd.GeoDataFrame(
        {
            "barrier_id": _unique(ids),
            "osm_id": ids,
            "kind": np.concatenate([line_part["kind"].to_numpy(), area_part["kind"].to_numpy()]),
            "name": pd.concat([_text(line_part, "name"), _text(area_part, "name")]).to_numpy(),
        },
        geometry=np.concatenate([line_part.geometry.to_numpy(), outline]),
        crs=STORAGE_CRS,
    )


def _compounds(polys: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    landuse = _text(polys, "landuse")
    amenity = _text(polys, "amenity")
    barrier = _text(polys, "barrier")
    kind = pd.Series([None] * len(polys), dtype=object)
    kind[amenity.isin(list(_COMPOUND_AMENITY)).to_numpy()] = amenity.map(_COMPOUND_AMENITY)
    kind[(landuse.isin(["military"])).to_numpy()] = "other"
    kind[
        (barrier.isin(["wall", "fence"]) & kind.isna() & _text(polys, "building").isna()).to_numpy()
    ] = "other"
    kind[(landuse == "residential").to_numpy()] = "residential"
    frame = polys.assign(kind=kind.to_numpy())[kind.notna().to_numpy()].reset_index(drop=True)
    plain, typed = _osm_ids(frame)
    return gpd.GeoDataFrame(
        {
            "compound_id": _unique("c" + plain.astype(str)),
            "name": _text(frame, "name"),
            "kind": frame["kind"].to_numpy(),
            "walled": _text(frame, "barrier").isin(["wall", "fence"]).to_numpy(),
            "osm_id": typed,
        },
        geometry=_polygonal(frame.geometry),
        crs=STORAGE_CRS,
    )


def _mark_walled(compounds: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Mark compounds whose outline runs mostly along walls or fences (within ~5 m)."""
    walls = barriers[barriers["kind"].isin(["wall", "fence"])]
    if compounds.empty or walls.empty:
        return compounds
    # ~5 m in degrees at these latitudes; precise enough for a yes/no flag.
    wall_zone = shapely.union_all(shapely.buffer(walls.geometry.to_numpy(), 5e-5))
    outline = shapely.boundary(compounds.geometry.to_numpy())
    along = shapely.length(shapely.intersection(outline, wall_zone))
    share = np.divide(
        along,
        shapely.length(outline),
        where=shapely.length(outline) > 0,
        out=np.zeros(len(outline)),
    )
    compounds = compounds.copy()
    compounds["walled"] = compounds["walled"].to_numpy() | (share >= 0.5)
    return compounds


def _gates(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    barrier = _text(points, "barrier")
    entrance = _text(points, "entrance")
    keep = barrier.isin(list(_GATES)) | entrance.notna()
    frame = points[keep.to_numpy()].reset_index(drop=True)
    kind = _text(frame, "barrier").where(
        _text(frame, "barrier").isin(list(_GATES)),
        "entrance:" + _text(frame, "entrance").astype(str),
    )
    ids = "n" + _text(frame, "osm_id").astype(str)
    return gpd.GeoDataFrame(
        {
            "gate_id": _unique(ids),
            "osm_id": ids,
            "kind": kind.to_numpy(),
            "name": _text(frame, "name"),
            "access": _text(frame, "access"),
        },
        geometry=frame.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )


def _facilities(
    points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Existing stations and candidate sites from OSM points and areas."""
    pts = points.assign(osm_ref="n" + _text(points, "osm_id").astype(str))
    _, typed = _osm_ids(polys)
    areas = gpd.GeoDataFrame(
        polys.drop(columns="geometry").assign(osm_ref=typed.to_numpy()),
        geometry=representative_points(polys.geometry.to_numpy()),
        crs=STORAGE_CRS,
    )
    both = pd.concat([pts, areas], ignore_index=True)
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=STORAGE_CRS)
    amenity = _text(both, "amenity")
    office = _text(both, "office")
    name = _text(both, "name").fillna("")
    landuse = _text(both, "landuse")
    building = _text(both, "building")

    is_station = (amenity == "community_centre") | name.str.contains(_STATION_NAME)
    st = both[is_station.to_numpy()].reset_index(drop=True)
    centre = _text(st, "name").fillna("").str.contains("中心") | (
        _text(st, "amenity") == "community_centre"
    )
    stations = gpd.GeoDataFrame(
        {
            "station_id": _unique("S-" + st["osm_ref"].astype(str)),
            "name": _text(st, "name"),
            "kind": np.where(centre, "centre", "station"),
            "status": "existing",
            "osm_id": st["osm_ref"].to_numpy(),
        },
        geometry=st.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )

    kind = pd.Series([None] * len(both), dtype=object)
    kind[(building == "office").to_numpy()] = "office"
    kind[office.notna().to_numpy()] = "office"
    kind[(office == "property_management").to_numpy()] = "property_room"
    kind[
        amenity.isin(["social_facility", "townhall", "library", "community_centre"]).to_numpy()
    ] = "facility"
    kind[landuse.isin(["brownfield", "greenfield", "construction"]).to_numpy()] = "vacant_lot"
    kind[is_station.to_numpy()] = None  # already a station
    cs = both.assign(kind=kind.to_numpy())[kind.notna().to_numpy()].reset_index(drop=True)
    sites = gpd.GeoDataFrame(
        {
            "site_id": _unique("K-" + cs["osm_ref"].astype(str)),
            "name": _text(cs, "name"),
            "kind": cs["kind"].to_numpy(),
            "cost": cs["kind"].map(SITE_COSTS).to_numpy(),
            "generated": False,
            "osm_id": cs["osm_ref"].to_numpy(),
        },
        geometry=cs.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )
    return stations, sites


#: Relative cost of opening a station by kind of site: existing space first (the seeds'
#: order of preference: rooms taken over from developers and idle rooms, then offices,
#: then other facilities, then building on a vacant lot).
SITE_COSTS: dict[str, float] = {
    "property_room": 1.0,
    "idle_room": 1.0,
    "community_centre": 1.0,
    "office": 1.2,
    "facility": 1.5,
    "generated": 2.0,
    "vacant_lot": 3.0,
}


def _clip(frame: gpd.GeoDataFrame, boundary: shapely.Geometry, *, whole: bool) -> gpd.GeoDataFrame:
    """Keep what lies in ``boundary``: whole features by representative point, or cut."""
    if frame.empty:
        return frame
    geoms = frame.geometry.to_numpy()
    if whole:
        inside = shapely.contains(boundary, representative_points(geoms))
        return frame[inside].reset_index(drop=True)
    hit = shapely.intersects(boundary, geoms)
    frame = frame[hit].copy()
    geoms = geoms[hit]
    within = shapely.within(geoms, boundary)
    cut = shapely.intersection(geoms[~within], boundary)
    geoms = geoms.copy()
    geoms[~within] = cut
    frame = frame.set_geometry(_same_dimension(geoms, frame.geometry))
    return frame[~frame.geometry.is_empty].reset_index(drop=True)


def _same_dimension(geoms: np.ndarray, original: gpd.GeoSeries) -> np.ndarray:
    """Drop lower-dimensional bits that cutting can leave (points on a cut line)."""
    dims = shapely.get_dimensions(original.to_numpy())
    out = geoms.copy()
    mixed = shapely.get_type_id(geoms) == 7
    for dim in np.unique(dims[mixed]) if mixed.any() else []:
        sel = mixed & (dims == dim)
        parts, index = shapely.get_parts(geoms[sel], return_index=True)
        keep = shapely.get_dimensions(parts) == dim
        rebuilt = np.array([shapely.GeometryCollection()] * sel.sum(), dtype=object)
        if keep.any():
            groups = pd.Series(list(parts[keep])).groupby(index[keep])
            for i, group in groups:
                rebuilt[i] = shapely.union_all(group.to_numpy())
        out[np.flatnonzero(sel)] = rebuilt
    return out


def summarise(result: OsmImport) -> dict[str, Any]:
    """Counts per layer and repair figures, for the CLI and the store's metadata."""
    return {
        "layers": {name: len(frame) for name, frame in result.layers.items()},
        "repaired": result.repaired,
        "dropped": result.dropped,
        "boundary_source": result.boundary_source,
        "warnings": result.warnings,
    }
