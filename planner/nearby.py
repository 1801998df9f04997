"""What is near a point: the nearest service station on foot, with its route, and the grid.

Field staff stand somewhere and ask two things: where is the nearest party-and-public
service station on foot, and which grid am I in, who serves it. :class:`NearestStation`
answers the first on the walking network of :mod:`planner.network` (the same graph,
the same stations and the same joining rules as :func:`planner.coverage.coverage`, so
from inside a building it gives that building's ``walk_m`` to the metre);
:class:`GridLookup` (or :func:`grid_at`) answers the second from the plan and the
``staff`` layer of :mod:`planner.staff`.

Which stations count is :func:`planner.coverage.select_stations`' choice: existing
ones plus the proposed ones of the current plan's scenario (``latest_scenario``),
which are marked ``planned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from planner.coverage import select_stations
from planner.errors import InputError, MissingDataError
from planner.network import build_walk_graph, join_points, read_buildings
from planner.settings import settings

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from planner.network import WalkGraph
    from planner.store import Store

__all__ = ["GridLookup", "NearestStation", "StationWalk", "grid_at"]

#: The station record's fields a walk carries (those the stations layer has).
_STATION_FIELDS = ("name", "kind", "address", "opening_hours", "phone", "contact", "services")


@dataclass(frozen=True)
class StationWalk:
    """The walk from a point to its nearest counted station.

    Attributes
    ----------
    station_id, status, scenario
        The station, ``existing`` or not, and the scenario of a proposed one.
    planned
        True for a station of a scenario (not built yet).
    station
        The station's own fields that are set (name, kind, address, opening hours,
        phone, contact, services).
    walk_m, minutes
        Walking metres (the joining line to the network included) and minutes at the
        walking speed of :data:`planner.settings.settings`.
    route
        The walk on the network as a LineString in lon/lat (EPSG:4326), from the start
        to the station.
    start
        ``building`` (the point is inside a building: the walk is the building's) or
        ``point`` (joined to the nearest way it can reach).
    building_id
        The building the walk starts from, when ``start`` is ``building``.
    station_lonlat
        The station's position, lon/lat.
    """

    station_id: str
    status: str
    scenario: str | None
    planned: bool
    station: dict[str, Any]
    walk_m: float
    minutes: float
    route: shapely.LineString
    start: str
    building_id: str | None
    station_lonlat: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the route as a GeoJSON geometry, metres to 0.1, minutes to 0.1."""
        return {
            "station_id": self.station_id,
            "status": self.status,
            "scenario": self.scenario,
            "planned": self.planned,
            **self.station,
            "walk_m": round(self.walk_m, 1),
            "minutes": round(self.minutes, 1),
            "start": self.start,
            "building_id": self.building_id,
            "lon": round(self.station_lonlat[0], 6),
            "lat": round(self.station_lonlat[1], 6),
            "route": shapely.geometry.mapping(shapely.set_precision(self.route, 1e-6)),
        }


class NearestStation:
    """The nearest counted station on foot from any point of a store's area.

    Build it once per store version with :meth:`from_store` (it builds the walking graph
    and runs one multi-source Dijkstra from the counted stations); each :meth:`walk_from`
    then joins the point to the network and follows the shortest-path tree back, in
    milliseconds.

    Parameters
    ----------
    graph
        The walking graph of the store (its stations include the counted ones).
    stations
        The stations layer (any CRS).
    counted
        Which rows of ``stations`` count.
    scenario
        The scenario of the counted proposed stations (None: existing only).
    buildings
        The buildings the graph was built with, in the graph's CRS and order.
    speed
        Walking speed in m/s (default ``settings.walking.speed_mps``).
    """

    def __init__(
        self,
        graph: WalkGraph,
        stations: gpd.GeoDataFrame,
        counted: NDArray[np.bool_],
        *,
        scenario: str | None,
        buildings: gpd.GeoDataFrame,
        speed: float | None = None,
    ) -> None:
        self.graph = graph
        self.scenario = scenario
        self.speed = settings.walking.speed_mps if speed is None else float(speed)
        if not np.isfinite(self.speed) or self.speed <= 0:
            msg = f"`speed` must be a positive number of m/s, got {self.speed:g}"
            raise InputError(msg, param="speed")
        chosen = stations[np.asarray(counted, dtype=bool)].reset_index(drop=True)
        nodes = graph.station_nodes(chosen["station_id"].to_numpy())
        self.stations = chosen[nodes >= 0].reset_index(drop=True)
        self.station_node = nodes[nodes >= 0]
        self._to_metric = Transformer.from_crs("EPSG:4326", graph.crs, always_xy=True)
        self._to_lonlat = Transformer.from_crs(graph.crs, "EPSG:4326", always_xy=True)
        lonlat = self.stations.geometry.to_crs("EPSG:4326")
        self._station_lonlat = shapely.get_coordinates(shapely.point_on_surface(lonlat.values))
        if len(self.station_node):
            # One search from every counted station: each node's nearest station, its
            # distance and the next node on the way there (the shortest-path tree).
            self.dist, self.pred, origin = dijkstra(
                graph.matrix,
                directed=True,
                indices=self.station_node,
                min_only=True,
                return_predecessors=True,
            )
            position = np.full(graph.n_nodes, -1, dtype=np.int64)
            position[self.station_node[::-1]] = np.arange(len(self.station_node))[::-1]
            self.origin = np.where(origin >= 0, position[np.maximum(origin, 0)], -1)
        else:
            self.dist = np.full(graph.n_nodes, np.inf)
            self.pred = np.full(graph.n_nodes, -9999, dtype=np.int32)
            self.origin = np.full(graph.n_nodes, -1, dtype=np.int64)
        self._buildings = shapely.STRtree(buildings.geometry.to_numpy())
        self._edge_index = _edge_index(graph.edges)

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        scenario: str | None = None,
        existing_only: bool = False,
        graph: WalkGraph | None = None,
        speed: float | None = None,
    ) -> NearestStation:
        """The finder of a store: its walking graph and the stations that count.

        Parameters
        ----------
        store
            The store (needs buildings and roads).
        scenario, existing_only
            Which stations count (see :func:`planner.coverage.select_stations`); by
            default existing ones and the current plan's scenario.
        graph
            A walking graph already built from this store.
        speed
            Walking speed in m/s.
        """
        read_buildings(store)  # a clear error for a store without buildings
        graph = graph if graph is not None else build_walk_graph(store)
        stations = store.read("stations")
        counted, used = select_stations(
            stations,
            scenario=scenario,
            existing_only=existing_only,
            latest=store.metadata.get("latest_scenario"),
        )
        buildings = store.read_metric("buildings")
        return cls(graph, stations, counted, scenario=used, buildings=buildings, speed=speed)

    def walk_from(self, lon: float, lat: float) -> StationWalk:
        """The nearest counted station on foot from ``(lon, lat)`` and the way there.

        From inside a building the walk is that building's (its join to the network, as
        coverage measured it); from anywhere else the point joins the nearest way it can
        reach without crossing a wall, fence, railway or water.

        Raises
        ------
        InputError
            If the point is not a finite lon/lat.
        MissingDataError
            If no station counts, or none can be reached from the point (too far from
            any way, or on a part of the network cut off from every station).
        """
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            msg = f"`lon`/`lat` must be a position in degrees, got {lon!r}, {lat!r}"
            raise InputError(msg, param="lon")
        if len(self.station_node) == 0:
            msg = "no station counts: import existing stations or run `planner sites`"
            raise MissingDataError(msg)
        x, y = self._to_metric.transform(lon, lat)
        point = shapely.Point(x, y)
        building = self._building_at(point)
        if building is not None:
            start_node = int(self.graph.building_node[building])
            total = float(self.dist[start_node])
            first = np.zeros((0, 2))
            start = "building"
            building_id = str(self.graph.building_ids[building])
        else:
            joined = join_points(self.graph, [point]).iloc[0]
            if joined["u"] < 0:
                limit = self.graph._join_rules[2] if self.graph._join_rules else np.nan
                msg = f"no walkable way within {limit:g} m of this point that it can reach"
                raise MissingDataError(msg)
            via_u = joined["to_u"] + self.dist[int(joined["u"])]
            via_v = joined["to_v"] + self.dist[int(joined["v"])]
            end = "u" if via_u <= via_v else "v"
            start_node = int(joined[end])
            total = float(min(via_u, via_v))
            first = self._first_leg(point, joined, end)
            start = "point"
            building_id = None
        which = int(self.origin[start_node]) if np.isfinite(total) else -1
        if which < 0:
            msg = "no counted station can be reached on foot from this point"
            raise MissingDataError(msg)
        path = np.concatenate([first, self._path_coords(start_node)])
        route = shapely.LineString(_dedupe(path) if len(path) > 1 else np.repeat(path, 2, axis=0))
        route = shapely.transform(route, self._lonlat)
        row = self.stations.iloc[which]
        status = str(row.get("status") or "existing")
        station = {
            k: (row[k] if isinstance(row[k], str) else None)
            for k in _STATION_FIELDS
            if k in self.stations.columns
        }
        return StationWalk(
            station_id=str(row["station_id"]),
            status=status,
            scenario=None if status == "existing" else _text(row.get("scenario")),
            planned=status != "existing",
            station={k: v for k, v in station.items() if v},
            walk_m=total,
            minutes=total / self.speed / 60.0,
            route=route,
            start=start,
            building_id=building_id,
            station_lonlat=tuple(float(v) for v in self._station_lonlat[which]),
        )

    # -- helpers ------------------------------------------------------------------------

    def _lonlat(self, coords: np.ndarray) -> np.ndarray:
        lon, lat = self._to_lonlat.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    def _building_at(self, point: shapely.Point) -> int | None:
        """The joined building at ``point`` (see :func:`_building_at`), or None."""
        return _building_at(self._buildings, point, joined=self.graph.building_node >= 0)

    def _first_leg(self, point: shapely.Point, joined: pd.Series, end: str) -> np.ndarray:
        """Coordinates from the point along its joining line and way to node ``end``."""
        snap = np.array([[joined["snap_x"], joined["snap_y"]]])
        start = np.array([[point.x, point.y]])
        edge = int(joined["edge"])
        if edge < 0:  # joined straight to a gate
            return np.concatenate([start, snap])
        geom = self.graph.edges.geometry.iat[edge]
        t = shapely.line_locate_point(geom, shapely.Point(snap[0]))
        coords = shapely.get_coordinates(geom)
        measure = np.r_[0.0, np.cumsum(np.hypot(*np.diff(coords, axis=0).T))]
        node = int(joined[end])
        edge_u = int(self.graph.edges["u"].iat[edge])
        # walk toward the edge's first vertex (its u) or its last (its v)
        if node == edge_u:
            along = coords[measure < t][::-1]
        else:
            along = coords[measure > t]
        return np.concatenate([start, snap, along])

    def _path_coords(self, node: int) -> np.ndarray:
        """Coordinates along the shortest-path tree from ``node`` to its station."""
        nodes = [node]
        while self.pred[nodes[-1]] >= 0:
            nodes.append(int(self.pred[nodes[-1]]))
        xy = np.column_stack([self.graph.x, self.graph.y])
        if len(nodes) == 1:
            return xy[nodes]
        parts = [xy[nodes[:1]]]
        for a, b in zip(nodes[:-1], nodes[1:], strict=True):
            row = self._edge_index.get((min(a, b), max(a, b)))
            if row is None:
                parts.append(xy[[b]])
                continue
            coords = shapely.get_coordinates(self.graph.edges.geometry.iat[row])
            if int(self.graph.edges["u"].iat[row]) != a:
                coords = coords[::-1]
            parts.append(coords)
        return np.concatenate(parts)


def _building_at(
    tree: shapely.STRtree, point: shapely.Point, *, joined: NDArray[np.bool_] | None = None
) -> int | None:
    """The building whose footprint holds ``point``, or None.

    Where footprints overlap (building parts, a tower on its podium) the one whose
    representative point (the point walks start from) is nearest wins, then the smallest.
    """
    hits = tree.query(point, predicate="intersects")
    if joined is not None:
        hits = hits[joined[hits]]
    if len(hits) == 0:
        return None
    geoms = tree.geometries[hits]
    near = shapely.distance(shapely.point_on_surface(geoms), point)
    return int(hits[np.lexsort((shapely.area(geoms), near))[0]])


def _edge_index(edges: pd.DataFrame) -> dict[tuple[int, int], int]:
    """Row of the shortest edge between each pair of nodes (the one the matrix holds)."""
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    # longest first, so that the shortest of parallel edges is written last and kept
    order = np.argsort(-edges["length"].to_numpy(), kind="stable")
    return dict(zip(zip(lo[order].tolist(), hi[order].tolist(), strict=True), order.tolist(),
                    strict=True))  # fmt: skip


def _dedupe(coords: np.ndarray) -> np.ndarray:
    """Coordinates without consecutive repeats."""
    keep = np.r_[True, np.any(np.abs(np.diff(coords, axis=0)) > 1e-9, axis=1)]
    out = coords[keep]
    return out if len(out) > 1 else np.repeat(out, 2, axis=0)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class GridLookup:
    """The grid of the current plan at a point, its staff, and the building's leaders.

    Build it once per store version (:meth:`from_store`); each :meth:`at` is an index
    query.

    Parameters
    ----------
    grids
        The grids layer (lon/lat); grids of a scenario are left out.
    buildings
        The buildings layer (lon/lat): ``building_id`` and ``name``.
    staff
        The ``staff`` layer (:mod:`planner.staff`), or None.
    """

    def __init__(
        self,
        grids: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        staff: pd.DataFrame | None = None,
    ) -> None:
        if "scenario" in grids:
            # the current plan only: a scenario's grids lie over it
            grids = grids[grids["scenario"].fillna("").astype(str).eq("").to_numpy()]
        self.grids = grids.reset_index(drop=True)
        self.buildings = buildings.reset_index(drop=True)
        self.staff = staff if staff is not None else pd.DataFrame(columns=_STAFF_COLUMNS)
        self._grid_tree = shapely.STRtree(self.grids.geometry.to_numpy())
        self._building_tree = shapely.STRtree(self.buildings.geometry.to_numpy())

    @classmethod
    def from_store(cls, store: Store) -> GridLookup:
        """The lookup of a store's current plan, buildings and staff contacts."""
        staff = store.read("staff") if store.has("staff") else None
        return cls(store.read("grids"), store.read("buildings"), staff)

    def at(
        self,
        lon: float,
        lat: float,
        *,
        contacts: bool = True,
        fields: frozenset[str] | None = None,
    ) -> dict[str, Any] | None:
        """The grid at ``(lon, lat)``, with its staff and the building's leaders.

        Parameters
        ----------
        lon, lat
            The point, in degrees.
        contacts
            Include names and phones (网格长, 网格员, 楼长); False for anyone not logged in.
        fields
            The grid attributes to give (None: code, name, zone, households, buildings and
            staffing head-counts); a caller hides what a role may not see by passing fewer.

        Returns
        -------
        dict or None
            ``grid_code``, ``name`` and the other grid figures asked for; ``building``
            (the building at the point: ``building_id``, ``name``); with ``contacts``,
            ``staff`` (leader and workers: ``name``, ``role``, ``phone``) and the
            building's ``leaders``. None when the point is in no grid of the current plan.
        """
        if not (np.isfinite(lon) and np.isfinite(lat)):
            msg = f"`lon`/`lat` must be a position in degrees, got {lon!r}, {lat!r}"
            raise InputError(msg, param="lon")
        point = shapely.Point(lon, lat)
        hits = self._grid_tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        # on a shared border: the smaller grid, as a tap means the one drawn on top
        areas = shapely.area(self._grid_tree.geometries[hits])
        row = self.grids.iloc[int(hits[np.argmin(areas)])]
        wanted = fields if fields is not None else frozenset(_GRID_FIELDS)
        columns = self.grids.columns
        out: dict[str, Any] = {"grid_code": str(row["grid_code"])}
        out |= {k: _plain(row[k]) for k in _GRID_FIELDS[1:] if k in wanted and k in columns}
        inside = _building_at(self._building_tree, point)
        building = None
        if inside is not None:
            b = self.buildings.iloc[inside]
            building = {"building_id": str(b["building_id"]), "name": _text(b.get("name"))}
        if contacts:
            staff = self.staff
            mine = staff[staff["grid_code"].astype(str) == out["grid_code"]]
            order = {r: i for i, r in enumerate(_ROLE_ORDER)}
            mine = mine.assign(_o=mine["role"].map(order).fillna(len(order))).sort_values("_o")
            grid_staff = mine[mine["role"] != "building_leader"]
            out["staff"] = [_person(r) for r in grid_staff.to_dict("records")]
            if building is not None:
                # A building's leader goes with the building, whatever grid the roster
                # named (a plan redrawn since may have moved the building).
                leaders = staff[
                    (staff["role"] == "building_leader")
                    & (staff["building_id"].astype(str) == building["building_id"])
                ]
                building["leaders"] = [_person(r) for r in leaders.to_dict("records")]
        if building is not None:
            out["building"] = building
        return out


def grid_at(
    store: Store,
    lon: float,
    lat: float,
    *,
    contacts: bool = True,
    fields: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """The grid of a store's current plan at ``(lon, lat)``: see :meth:`GridLookup.at`."""
    return GridLookup.from_store(store).at(lon, lat, contacts=contacts, fields=fields)


_STAFF_COLUMNS = ("staff_id", "grid_code", "name", "role", "phone", "building_id")


#: Grid attributes :func:`grid_at` gives by default (counts of people are not among them).
_GRID_FIELDS = (
    "grid_code",
    "name",
    "zone_code",
    "households",
    "buildings",
    "grid_leaders",
    "fulltime_workers",
    "parttime_workers",
    "building_leaders",
)
_ROLE_ORDER = ("grid_leader", "fulltime_worker", "parttime_worker", "building_leader")


def _person(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(record["name"]),
        "role": str(record["role"]),
        "phone": _text(record.get("phone")),
    }


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value
