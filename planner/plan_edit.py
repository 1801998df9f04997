"""Editing the plan: paint units into grids, create, merge, split, delete, lock; households.

The grid editor (the web map's paint mode, scripts, ``planner plan STORE edit``) sends
a list of edits against the plan version it started from. :func:`apply_edits` makes
the edited plan in memory; :func:`preview_edits` gives its figures per touched grid
and its topology findings without writing; :func:`save_edits` writes it through the
one commit path (:func:`planner.plan_commit.commit_plan`) as a new plan version.

Edits (ids as the layers store them):

- ``{"op": "assign", "units": [...], "to": CODE}`` — blocks, buildings (the block
  they stand in) or edge areas join grid CODE; the grid's outline follows the units,
  so it stays on physical features;
- ``{"op": "create", "units": [...]}`` — a new grid from units (code returned in
  ``created``);
- ``{"op": "merge", "grids": [A, B, ...]}`` — A's code kept;
- ``{"op": "split", "grid": A, "line": GeoJSON LineString}`` — the line snaps to
  roads, walls and compound outlines nearby; a line through a building is refused
  (:class:`EditRefused`, HTTP 422) naming it; the larger part keeps A;
- ``{"op": "reshape", "grid": A, "geometry": GeoJSON Polygon}`` — a new outline
  drawn by hand (the map's vertex editing, snapped to roads, walls and building
  corners in the browser): the area it gains is taken from the grids there (with
  ``"take": false`` they keep it, and the check reports the overlap), the area it
  gives up is left in no grid, and the check of the result says what that leaves;
- ``{"op": "delete", "grid": A}`` — its area and buildings become unassigned;
- ``{"op": "households", "building": ID, "value": N, "reason": TEXT}`` and
  ``{"op": "clear_households", "building": ID}`` — a planner's own figure
  (``households_source = manual``, kept across re-estimates and roster joins);
- ``{"op": "rename", "grid": A, "name": TEXT}``, ``{"op": "zone", "grids": [...],
  "zone": Z}``, ``{"op": "lock", "grid": A}``, ``{"op": "unlock", "grid": A}``.

A save whose base version is not the current one is rebased when no grid or building
it touches changed since; otherwise it is refused with
:class:`~planner.errors.ConflictError` carrying the current ``version`` and what
``changed`` (HTTP 409) — never a silent overwrite.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops

from planner import schema
from planner.assess import ASSESS_FIELDS, SPECIAL_FIELDS, assess
from planner.communities import choose_community, community_of
from planner.crs import STORAGE_CRS
from planner.errors import ConflictError, InputError
from planner.geometry import make_valid_like
from planner.households import estimate_households
from planner.plan_commit import commit_plan, current_rows, holder_codes, reassign_edge_areas
from planner.plan_versions import current_version, plan_at
from planner.settings import settings
from planner.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "EDIT_OPS",
    "EditRefused",
    "EditedPlan",
    "PlanContext",
    "PlanEditor",
    "apply_edits",
    "preview_edits",
    "save_edits",
    "within_community",
]

#: The edit operations and the keys each needs.
EDIT_OPS: dict[str, tuple[str, ...]] = {
    "assign": ("units", "to"),
    "create": ("units",),
    "merge": ("grids",),
    "split": ("grid", "line"),
    "reshape": ("grid", "geometry"),
    "delete": ("grid",),
    "households": ("building", "value"),
    "clear_households": ("building",),
    "rename": ("grid", "name"),
    "zone": ("grids", "zone"),
    "lock": ("grid",),
    "unlock": ("grid",),
}

#: How far (m) a drawn split line snaps to a road, wall or compound outline.
SNAP_M = 8.0


class EditRefused(InputError):
    """An edit that is well formed but cannot be done (HTTP 422): a split line through a
    building, a locked grid, a line that does not cut its grid."""


@dataclass
class EditedPlan:
    """A plan with edits applied, in memory.

    Attributes
    ----------
    grids
        The whole ``grids`` layer after the edits (storage CRS).
    buildings
        The buildings after household edits (storage CRS), their ``grid_code`` not yet
        recomputed; None if no edit changed a building.
    edge_areas
        Edge areas assigned by the edits (manual), or None.
    created, removed
        Grid codes the edits made and removed.
    touched
        Codes of every grid an edit changed (created ones included).
    buildings_touched
        Ids of the buildings whose figures an edit set.
    log
        One change-log entry per edit.
    """

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame | None = None
    edge_areas: gpd.GeoDataFrame | None = None
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    buildings_touched: set[str] = field(default_factory=set)
    log: list[dict[str, Any]] = field(default_factory=list)


def _validate(edits: Any) -> list[dict[str, Any]]:
    """The edits, checked for shape: a list of objects with a known ``op`` and its keys."""
    if not isinstance(edits, list) or not edits:
        raise InputError("`edits` must be a non-empty list of edit objects", param="edits")
    for n, edit in enumerate(edits):
        if not isinstance(edit, dict) or edit.get("op") not in EDIT_OPS:
            known = ", ".join(EDIT_OPS)
            msg = f"edit {n}: `op` must be one of {known}"
            raise InputError(msg, param="edits")
        missing = [k for k in EDIT_OPS[edit["op"]] if edit.get(k) in (None, "", [])]
        if missing:
            msg = f"edit {n} ({edit['op']}): missing {', '.join(missing)}"
            raise InputError(msg, param="edits")
    return edits


@dataclass
class PlanContext:
    """The current plan and what editing it needs, read once (the web map keeps one per
    store version, so a preview costs the edit, not the reading).

    Attributes
    ----------
    store
        The store it was read from (its read versions guard the save).
    version
        The plan version read.
    token
        :attr:`planner.store.Store.version` when read: a new token means a new context.
    grids
        The whole ``grids`` layer as stored (lon/lat), conformed to the schema.
    plan
        The plan in the metric CRS with buildings, edge areas and physical features
        (:func:`planner.topology.plan.load_plan`).
    blocks, buildings, edges
        Blocks, buildings and edge areas as stored (lon/lat), indexed by id.
    """

    store: Store
    version: int
    token: str
    grids: gpd.GeoDataFrame
    plan: Any
    blocks: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    _checked: Any = None
    # (plan before, its check, grids changed): the check of a context made by a save is
    # the check of the plan before it, made again where the save changed it.
    _derive: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def load(cls, store: Store) -> PlanContext:
        """Read the plan of ``store`` for editing."""
        from planner.topology.plan import load_plan

        token = store.refresh().version
        version = current_version(store)
        plan = load_plan(store)
        buildings = store.read("buildings")
        edges = store.read("edge_areas")
        blocks = store.read("blocks")
        return cls(
            store=store,
            version=version,
            token=token,
            grids=schema.conform("grids", gpd.GeoDataFrame(store.read("grids"))),
            plan=plan,
            blocks=blocks.set_index(blocks["block_id"].astype(str), drop=False),
            buildings=buildings.set_index(buildings["building_id"].astype(str), drop=False),
            edges=edges.set_index(edges["edge_id"].astype(str), drop=False),
        )

    def current(self) -> bool:
        """True while no write has landed in the store since this was read."""
        return Store(self.store.path).version == self.token

    def checked(self) -> tuple[Any, Any]:
        """The plan as a preview sees it with no edit, and its check (made once).

        Threads asking at once (the web map warms it while the page asks) wait for the
        one check rather than each making it.
        """
        with self._lock:
            if self._checked is None:
                plan = self.plan
                grids = self.grids[current_rows(self.grids)].to_crs(plan.crs)
                before = replace(plan, grids=grids.reset_index(drop=True))
                self._checked = (before, self._check(before))
                self._derive = None
            return self._checked

    def _check(self, plan: Any) -> Any:
        """The check of ``plan``: again where a save changed it, else in full."""
        if self._derive is not None:
            from planner.topology.recheck import recheck

            old, findings, touched = self._derive
            if _same_buildings(old.buildings, plan.buildings):
                return recheck(old, plan, findings, touched)
        from planner.topology.checks import check_plan

        return check_plan(plan)

    @classmethod
    def after_save(
        cls, previous: PlanContext, edited: EditedPlan, version: int
    ) -> PlanContext | None:
        """The context of the plan ``previous`` just saved with ``edited``: no store reload.

        Only the layers the commit wrote are read again (grids, buildings, edge areas);
        the community, the physical features and the blocks' outlines are kept, and the
        new plan's check is the old one made again where the edits changed the plan
        (:func:`planner.topology.recheck.recheck`), when the old one was made.

        Returns None when another write landed in the store after the save: the next
        use then reads the store afresh.
        """
        store = previous.store
        token = store.version
        versions = store.metadata.get("versions")
        if versions is None or Store(store.path).metadata.get("versions") != versions:
            return None
        grids = schema.conform("grids", gpd.GeoDataFrame(store.read("grids")))
        buildings = store.read("buildings")
        edges = store.read("edge_areas")
        crs = previous.plan.crs
        current = current_rows(grids)
        plan = replace(
            previous.plan,
            grids=grids[current].to_crs(crs).reset_index(drop=True),
            others=grids[~current] if not current.all() else None,
            buildings=buildings.to_crs(crs),
            edge_areas=edges.to_crs(crs),
        )
        context = cls(
            store=store,
            version=version,
            token=token,
            grids=grids,
            plan=plan,
            blocks=previous.blocks,
            buildings=buildings.set_index(buildings["building_id"].astype(str), drop=False),
            edges=edges.set_index(edges["edge_id"].astype(str), drop=False),
        )
        if previous._checked is not None:
            before, findings = previous._checked
            context._derive = (before, findings, edited.touched | set(edited.removed))
        return context


def _same_buildings(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> bool:
    """Whether two building frames hold the same buildings in the same order."""
    return len(a) == len(b) and bool(
        (a["building_id"].astype(str).to_numpy() == b["building_id"].astype(str).to_numpy()).all()
    )


class _Editor:
    """Applies edits one by one to copies of the context's layers.

    Outlines are edited in lon/lat, as stored: grids, blocks and edge areas came from
    one cut, so their shared vertices coincide exactly there, and an edited grid still
    meets its untouched neighbours vertex for vertex (a round trip through the metric
    CRS would move them a hair and break the coverage). Lengths and areas are measured
    in the metric CRS.
    """

    def __init__(self, context: PlanContext) -> None:
        self.context = context
        self.crs = context.plan.crs
        grids = context.grids.reset_index(drop=True)
        current = current_rows(grids)
        self.original = grids[current].set_index("grid_code", drop=False)
        self.others = grids[~current]
        self.grids = self.original.copy()
        self.result = EditedPlan(grids=grids)
        self.blocks = context.blocks
        self.buildings = context.buildings.copy()
        self.edges = context.edges.copy()
        metric = context.plan
        self.buildings_m = metric.buildings.set_index(
            metric.buildings["building_id"].astype(str), drop=False
        )
        self.edges_m = metric.edge_areas.set_index(
            metric.edge_areas["edge_id"].astype(str), drop=False
        )

    # -- helpers -----------------------------------------------------------------

    def _grid(self, code: Any, n: int) -> str:
        code = str(code)
        if code not in self.grids.index:
            raise InputError(f"edit {n}: no grid {code!r} in the plan", param="edits")
        return code

    def _unlocked(self, code: str, n: int) -> None:
        if bool(self.grids.at[code, "locked"]):
            msg = f"edit {n}: grid {code} is locked; unlock it first"
            raise EditRefused(msg, param="edits")

    def _units(self, ids: Iterable[Any], n: int) -> tuple[shapely.Geometry, list[str]]:
        """The area of the units named (blocks, buildings' blocks, edge areas)."""
        if isinstance(ids, str) or not isinstance(ids, list | tuple):
            raise InputError(f"edit {n}: `units` must be a list of ids", param="edits")
        geoms, edges, unknown = [], [], []
        for unit in map(str, ids):
            if unit in self.blocks.index:
                geoms.append(self.blocks.geometry[unit])
            elif unit in self.buildings.index:
                block = self.buildings.at[unit, "block_id"]
                if isinstance(block, str) and block in self.blocks.index:
                    geoms.append(self.blocks.geometry[block])
                else:
                    geoms.append(self.buildings.geometry[unit])
            elif unit in self.edges.index:
                geoms.append(self.edges.geometry[unit])
                edges.append(unit)
            else:
                unknown.append(unit)
        if unknown:
            msg = f"edit {n}: no block, building or edge area {', '.join(unknown[:5])}"
            raise InputError(msg, param="edits")
        return shapely.union_all(geoms), edges

    def _take(self, area: shapely.Geometry, n: int, keep: str | None = None) -> None:
        """Remove ``area`` from every grid but ``keep``, refusing locked ones."""
        geoms = self.grids.geometry.to_numpy()
        hit = _square_metres(shapely.intersection(geoms, area), self.crs) > 1.0
        for code in self.grids.index[hit]:
            if code == keep:
                continue
            self._unlocked(code, n)
            rest = _polygonal(shapely.difference(self.grids.geometry[code], area))
            # Crumbs of 1 m² or less left where the units' edges and a hand-drawn outline
            # differ by a hair: part of the units, not of this grid (the check would call
            # them slivers of 0 m², which no paint could remove).
            parts = shapely.get_parts(rest)
            if len(parts) > 1:
                rest = shapely.union_all(parts[_square_metres(parts, self.crs) > 1.0])
            if rest.is_empty or _square_metres(np.array([rest]), self.crs)[0] <= 1.0:
                # every unit painted away: the grid is gone, as if deleted
                self.grids = self.grids.drop(index=code)
                self.result.removed.append(code)
                continue
            self.grids.at[code, "geometry"] = rest
            self.result.touched.add(code)

    def _new_code(self, zone: str | None) -> str:
        """The next free code in ``zone`` (``zone + NNN``)."""
        used = set(self.grids.index) | set(self.result.removed)
        zone = zone or str(self.grids["zone_code"].dropna().iloc[0])
        number = 1
        while f"{zone}{number:03d}" in used:
            number += 1
        return f"{zone}{number:03d}"

    def _add_grid(self, geom: shapely.Geometry, zone: str | None) -> str:
        code = self._new_code(zone)
        row = {f.name: None for f in schema.LAYERS["grids"].fields}
        row |= {"grid_code": code, "zone_code": zone, "locked": False, "name": None}
        new = gpd.GeoDataFrame([row], geometry=[geom], crs=STORAGE_CRS).set_index(
            pd.Index([code]), drop=False
        )
        self.grids = pd.concat([self.grids, new])
        self.result.created.append(code)
        self.result.touched.add(code)
        return code

    def _zone_of(self, area: shapely.Geometry) -> str | None:
        shares = shapely.area(shapely.intersection(self.grids.geometry.to_numpy(), area))
        if not len(shares) or shares.max() <= 0:
            return None
        return self.grids["zone_code"].iloc[int(np.argmax(shares))]

    def _assign_edges(self, edges: list[str], code: str) -> None:
        if not edges:
            return
        frame = self.edges
        frame.loc[edges, "grid_code"] = code
        frame.loc[edges, "assigned_by"] = "manual"
        frame.loc[edges, "reason"] = f"人工：编辑时划入网格 {code}"
        self.result.edge_areas = frame.reset_index(drop=True)

    # -- the operations ----------------------------------------------------------

    def apply(self, n: int, edit: Mapping[str, Any]) -> None:
        getattr(self, f"_op_{edit['op']}")(n, edit)
        entry = {k: v for k, v in edit.items() if k not in ("op", "line", "geometry", "reason")}
        if "building" in entry:
            entry["building"] = str(entry["building"])
        self.result.log.append(
            {
                "layer": "buildings" if "households" in edit["op"] else "grids",
                "action": f"edit {edit['op']}",
                "detail": entry,
                "reason": edit.get("reason"),
            }
        )

    def _op_assign(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["to"], n)
        self._unlocked(code, n)
        area, edges = self._units(edit["units"], n)
        self._take(area, n, keep=code)
        self.grids.at[code, "geometry"] = _polygonal(shapely.union(self.grids.geometry[code], area))
        self.result.touched.add(code)
        self._assign_edges(edges, code)

    def _op_create(self, n: int, edit: Mapping[str, Any]) -> None:
        area, edges = self._units(edit["units"], n)
        zone = self._zone_of(area)
        self._take(area, n)
        code = self._add_grid(_polygonal(area), zone)
        self._assign_edges(edges, code)

    def _op_merge(self, n: int, edit: Mapping[str, Any]) -> None:
        codes = [self._grid(c, n) for c in edit["grids"]]
        if len(set(codes)) < 2:
            raise InputError(f"edit {n}: merge needs two grids or more", param="edits")
        for code in codes:
            self._unlocked(code, n)
        keep = codes[0]
        self.grids.at[keep, "geometry"] = _polygonal(
            shapely.union_all(self.grids.geometry[codes].to_numpy())
        )
        self.grids = self.grids.drop(index=codes[1:])
        self.result.removed += codes[1:]
        self.result.touched.add(keep)
        if len(self.edges):
            moved = self.edges["grid_code"].isin(codes[1:])
            self.edges.loc[moved, "grid_code"] = keep
            self.result.edge_areas = self.edges.reset_index(drop=True)

    def _op_split(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self._unlocked(code, n)
        line = _line(edit["line"], n, self.crs)
        line = shapely.snap(line, self._features(line), SNAP_M)
        grid = self.grids.geometry[code]
        grid_m = gpd.GeoSeries([grid], crs=STORAGE_CRS).to_crs(self.crs).iloc[0]
        crossing = self._buildings_crossed(line, grid_m)
        if crossing:
            msg = f"edit {n}: the line runs through building {crossing}; draw it around it"
            raise EditRefused(msg, param="edits")
        line = gpd.GeoSeries([line], crs=self.crs).to_crs(STORAGE_CRS).iloc[0]
        parts = shapely.get_parts(shapely.ops.split(grid, line))
        parts = parts[_square_metres(parts, self.crs) > 1.0]
        if len(parts) < 2:
            msg = f"edit {n}: the line does not cut grid {code} in two; draw it across the grid"
            raise EditRefused(msg, param="edits")
        order = np.argsort(-_square_metres(parts, self.crs))
        self.grids.at[code, "geometry"] = parts[order[0]]
        self.result.touched.add(code)
        self._add_grid(
            _polygonal(shapely.union_all(parts[order[1:]])), self.grids.at[code, "zone_code"]
        )

    def _features(self, line: shapely.Geometry) -> shapely.Geometry:
        """Roads, walls and compound outlines near ``line``, to snap it to."""
        box = shapely.buffer(line, SNAP_M * 2)
        lines = []
        plan = self.context.plan
        for frame in (plan.roads, plan.barriers, plan.compounds):
            if frame is None or frame.empty:
                continue
            geoms = frame.geometry.to_numpy()
            geoms = geoms[shapely.intersects(geoms, box)]
            if frame.geom_type.isin(["Polygon", "MultiPolygon"]).any():
                geoms = shapely.boundary(geoms)
            lines.extend(geoms)
        return shapely.union_all(lines) if lines else shapely.GeometryCollection()

    def _buildings_crossed(self, line: shapely.Geometry, grid: shapely.Geometry) -> str | None:
        """Name (or id) of a building the line runs through, if any."""
        frame = self.buildings_m
        geoms = frame.geometry.to_numpy()
        near = shapely.intersects(geoms, line) & shapely.intersects(geoms, grid)
        # Through the building, not along its wall: the line meets its shrunk footprint.
        inner = shapely.buffer(geoms[near], -0.5)
        through = shapely.intersects(inner, line)
        if not through.any():
            return None
        row = frame[near].iloc[int(np.flatnonzero(through)[0])]
        name = row["name"] if isinstance(row["name"], str) and row["name"].strip() else None
        return f"{name}（{row['building_id']}）" if name else str(row["building_id"])

    def _op_reshape(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self._unlocked(code, n)
        outline = _outline(edit["geometry"], n)
        community = self.context.plan.community
        if community is not None:
            inside = gpd.GeoSeries([community], crs=self.crs).to_crs(STORAGE_CRS).iloc[0]
            outline = _polygonal(shapely.intersection(outline, inside))
        if _square_metres(np.array([outline]), self.crs)[0] <= 1.0:
            msg = f"edit {n}: the outline drawn for grid {code} has no area inside the community"
            raise EditRefused(msg, param="edits")
        if edit.get("take", True):
            self._take(outline, n, keep=code)
        self.grids.at[code, "geometry"] = outline
        self.result.touched.add(code)

    def _op_delete(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self._unlocked(code, n)
        self.grids = self.grids.drop(index=code)
        self.result.removed.append(code)

    def _building(self, edit: Mapping[str, Any], n: int) -> str:
        building = str(edit["building"])
        if building not in self.buildings.index:
            raise InputError(f"edit {n}: no building {building!r}", param="edits")
        self.result.buildings_touched.add(building)
        return building

    def _op_households(self, n: int, edit: Mapping[str, Any]) -> None:
        building = self._building(edit, n)
        value = edit["value"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            msg = f"edit {n}: `value` must be a whole number of households, 0 or more"
            raise InputError(msg, param="edits")
        if value != int(value):
            raise InputError(f"edit {n}: `value` must be a whole number", param="edits")
        frame = self.buildings
        frame.at[building, "households"] = int(value)
        frame.at[building, "residents"] = round(
            int(value) * settings.estimate.persons_per_household
        )
        for special in ("elderly_alone", "disabled", "left_behind_children"):
            if special in edit:
                frame.at[building, special] = int(edit[special])
        frame.at[building, "households_source"] = "manual"
        self.result.buildings = frame.reset_index(drop=True)

    def _op_clear_households(self, n: int, edit: Mapping[str, Any]) -> None:
        building = self._building(edit, n)
        frame = self.buildings
        frame.at[building, "households_source"] = "estimated"
        estimated = estimate_households(
            frame.loc[[building]], metric_crs=self.crs, only_missing=True
        )
        for column in ("households", "residents", "households_source"):
            frame.at[building, column] = estimated[column].iloc[0]
        self.result.buildings = frame.reset_index(drop=True)

    def _op_rename(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self.grids.at[code, "name"] = str(edit["name"]).strip()
        self.result.touched.add(code)

    def _op_zone(self, n: int, edit: Mapping[str, Any]) -> None:
        codes = [self._grid(c, n) for c in edit["grids"]]
        for code in codes:
            self._unlocked(code, n)
            self.grids.at[code, "zone_code"] = str(edit["zone"]).strip()
        self.result.touched.update(codes)

    def _op_lock(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self.grids.at[code, "locked"] = True
        self.result.touched.add(code)

    def _op_unlock(self, n: int, edit: Mapping[str, Any]) -> None:
        code = self._grid(edit["grid"], n)
        self.grids.at[code, "locked"] = False
        self.result.touched.add(code)

    def finish(self) -> EditedPlan:
        grids = self.grids.reset_index(drop=True)
        if len(self.others):
            grids = pd.concat([grids, self.others], ignore_index=True)
        self.result.grids = gpd.GeoDataFrame(grids, geometry="geometry", crs=STORAGE_CRS)
        self.result.touched -= set(self.result.removed)
        return self.result


def _square_metres(geoms: Any, crs: Any) -> np.ndarray:
    """Areas (m²) of lon/lat geometries, measured in the metric ``crs``."""
    geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
    return gpd.GeoSeries(geoms, crs=STORAGE_CRS).to_crs(crs).area.to_numpy()


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of an overlay's result (lines and points where grids meet dropped)."""
    geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _line(value: Any, n: int, crs: Any) -> shapely.Geometry:
    """A GeoJSON LineString in lon/lat, projected to ``crs``."""
    try:
        line = shapely.geometry.shape(value)
    except Exception:  # noqa: BLE001  any malformed GeoJSON is the same user error
        line = None
    if line is None or line.geom_type != "LineString" or not line.is_valid:
        msg = f"edit {n}: `line` must be a GeoJSON LineString in lon/lat"
        raise InputError(msg, param="edits")
    west, south, east, north = line.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(f"edit {n}: `line` is not in lon/lat degrees", param="edits")
    return gpd.GeoSeries([line], crs=STORAGE_CRS).to_crs(crs).iloc[0]


def _outline(value: Any, n: int) -> shapely.Geometry:
    """A GeoJSON Polygon or MultiPolygon in lon/lat, valid (a hand-drawn ring repaired)."""
    try:
        shape = shapely.geometry.shape(value)
    except Exception:  # noqa: BLE001  any malformed GeoJSON is the same user error
        shape = None
    if shape is None or shape.geom_type not in ("Polygon", "MultiPolygon") or shape.is_empty:
        msg = f"edit {n}: `geometry` must be a GeoJSON Polygon in lon/lat"
        raise InputError(msg, param="edits")
    west, south, east, north = shape.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(f"edit {n}: `geometry` is not in lon/lat degrees", param="edits")
    return _polygonal(make_valid_like(np.array([shape]))[0])


class PlanEditor:
    """Edits of one store's current plan: apply, preview, save.

    Reads the plan once (:class:`PlanContext`); each preview then costs the edit and
    the check of the edited plan. A save made when the store has changed since reads it
    again first; after its own save the editor goes on with the version it saved, made
    from what it wrote (:meth:`PlanContext.after_save`), so the next edits and their
    check need no reload.

    Parameters
    ----------
    store
        The store.
    """

    def __init__(self, store: Store) -> None:
        self.context = PlanContext.load(store)

    @property
    def version(self) -> int:
        """The plan version being edited."""
        return self.context.version

    def apply(self, edits: list[dict[str, Any]]) -> EditedPlan:
        """Apply ``edits`` to the plan in memory; nothing is written.

        Raises
        ------
        InputError
            A malformed edit, or one naming a grid, unit or building the plan lacks.
        EditRefused
            An edit that cannot be done (a locked grid, a split through a building).
        """
        if not self.context.current():  # a write landed (this editor's save, or another's)
            self.context = PlanContext.load(Store(self.context.store.path))
        editor = _Editor(self.context)
        for n, edit in enumerate(_validate(edits)):
            editor.apply(n, edit)
        return editor.finish()

    def edited_plan(self, edits: list[dict[str, Any]]) -> tuple[EditedPlan, Any, Any]:
        """Apply ``edits`` in memory: the edits' result, and the plan before and after.

        Returns
        -------
        (EditedPlan, GridPlan, GridPlan)
            What the edits did, and the plan (metric CRS, with buildings and edge
            areas) before and after them, as the preview checks them.
        """
        edited = self.apply(edits)
        before, _ = self.context.checked()
        buildings = before.buildings.copy()
        if edited.buildings is not None:
            for column in ("households", "residents", "households_source", *SPECIAL_FIELDS):
                buildings[column] = edited.buildings[column].to_numpy()
        grids = edited.grids[current_rows(edited.grids)].to_crs(before.crs).reset_index(drop=True)
        edges = before.edge_areas
        if edited.edge_areas is not None:
            edges = edited.edge_areas.to_crs(before.crs)
        elif len(edges):
            edges = _follow(edges, before.grids, grids, edited.touched | set(edited.removed))
        after = replace(before, grids=grids, buildings=buildings, edge_areas=edges)
        return edited, before, after

    def preview(self, edits: list[dict[str, Any]]) -> dict[str, Any]:
        """The edited plan's figures per touched grid, the codes it creates, its findings.

        Nothing is written.

        Returns
        -------
        dict
            ``version`` (the plan version edited), ``grids`` (code → households,
            buildings, 四维 figures, ``staff``, ``in_range``, ``covered_share``,
            ``on_features``), ``created``, ``removed``, ``counts`` (findings by kind),
            ``findings`` (the check's JSON, as ``planner check --json``) and ``clean``.
        """
        from planner.topology.recheck import recheck

        edited, before, after = self.edited_plan(edits)
        _, base = self.context.checked()
        grids, buildings = after.grids, after.buildings
        # Only the touched grids and their neighbours are checked again: an edit's
        # rules come back within a second however large the plan.
        findings = recheck(before, after, base, edited.touched | set(edited.removed))
        touched = grids[grids["grid_code"].isin(edited.touched)].geometry.to_numpy()
        if len(touched) and len(buildings):
            near = shapely.STRtree(buildings.geometry.to_numpy()).query(
                shapely.union_all(touched), predicate="intersects"
            )
            buildings = buildings.iloc[np.unique(near)].copy()
        buildings["grid_code"] = holder_codes(buildings.geometry.to_numpy(), grids)
        return {
            "version": self.version,
            "grids": _figures(grids, buildings, edited.touched, findings.boundary),
            "created": edited.created,
            "removed": edited.removed,
            "counts": findings.counts(),
            "findings": findings.to_json(geometry=True),
            "clean": findings.clean,
        }

    def check(self) -> dict[str, Any]:
        """The plan's own check, as a preview reports it (``grids`` empty): what an
        editor shows before its first edit. Made once per plan version."""
        if not self.context.current():
            self.context = PlanContext.load(Store(self.context.store.path))
        _, findings = self.context.checked()
        return {
            "version": self.version,
            "grids": {},
            "created": [],
            "removed": [],
            "counts": findings.counts(),
            "findings": findings.to_json(geometry=True),
            "clean": findings.clean,
        }

    def save(
        self,
        base_version: int,
        edits: list[dict[str, Any]],
        *,
        message: str = "",
        user: str | None = None,
    ) -> dict[str, Any]:
        """Save ``edits`` made against plan ``base_version`` as a new plan version.

        Raises
        ------
        ConflictError
            A grid or building the edits touch changed after ``base_version`` (its
            ``version`` is the current plan version, ``changed`` the grid codes and
            building ids concerned).

        Returns
        -------
        dict
            ``version`` (the new plan version), ``created``, ``removed``, ``rebased``
            (made on an older version, applied to the current one) and the commit's
            counts of rows changed.
        """
        if isinstance(base_version, bool) or not isinstance(base_version, int):
            raise InputError("`base_version` must be a plan version number", param="base_version")
        if not self.context.current():
            self.context = PlanContext.load(Store(self.context.store.path))
        store, current = self.context.store, self.context.version
        _validate(edits)
        if base_version > current or base_version < 0:
            msg = f"no plan version {base_version} (the current one is {current})"
            raise InputError(msg, param="base_version")
        edited = self.apply(edits)
        rebased = base_version != current
        if rebased:
            changed = _changed_since(store, base_version)
            # The grids an edit names or reshapes, and those it takes area from.
            clash = sorted((edited.touched | set(edited.removed)) & changed)
            moved = _buildings_changed_since(store, base_version, edited.buildings_touched)
            if clash or moved:
                msg = (
                    "another change landed since this plan version was opened; nothing was "
                    "written — reload the plan and edit again"
                )
                raise ConflictError(
                    msg,
                    source=str(store.path),
                    layers=["grids"] if clash else ["buildings"],
                    version=current,
                    changed=[*clash, *moved],
                )
        for entry in edited.log:
            entry["reason"] = entry.get("reason") or message or None
            entry["user"] = user
        report = commit_plan(
            store,
            edited.grids,
            buildings=edited.buildings,
            code_buildings=True,
            edge_areas=edited.edge_areas,
            log=edited.log,
        )
        # The editor goes on with the version it saved, read from what it wrote.
        self.context = (
            PlanContext.after_save(self.context, edited, report["plan_version"]) or self.context
        )
        return {
            **report,
            "version": report["plan_version"],
            "created": edited.created,
            "removed": edited.removed,
            "rebased": rebased,
        }


def _follow(
    edges: gpd.GeoDataFrame,
    before: gpd.GeoDataFrame,
    after: gpd.GeoDataFrame,
    touched: set[str],
) -> gpd.GeoDataFrame:
    """Edge areas whose automatic assignment follows the edited grids, as the save will
    make it (:func:`~planner.plan_commit.reassign_edge_areas`); only those on the grids
    the edits touched, before or after, can change (metric frames)."""
    changed = np.concatenate(
        [
            before.geometry.to_numpy()[before["grid_code"].isin(touched).to_numpy()],
            after.geometry.to_numpy()[after["grid_code"].isin(touched).to_numpy()],
        ]
    )
    if not len(changed):
        return edges
    near = shapely.intersects(edges.geometry.to_numpy(), shapely.union_all(changed))
    if not near.any():
        return edges
    followed, moved = reassign_edge_areas(edges[near], after)
    if not moved:
        return edges
    edges = edges.copy()
    for column in ("grid_code", "assigned_by", "reason"):
        edges.loc[near, column] = followed[column].to_numpy()
    return edges


def _figures(
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    touched: set[str],
    boundary: pd.DataFrame,
) -> dict[str, dict[str, Any]]:
    """Figures of the touched grids (metric frames; buildings with their grid)."""
    chosen = grids[grids["grid_code"].isin(touched)]
    if chosen.empty:
        return {}
    assessed = assess(chosen, buildings)
    lo, hi = settings.grid.min_households, settings.grid.max_households
    covered = buildings["covered"].fillna(False).astype(bool).to_numpy()
    hh = pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy()
    on_features = {}
    if "grid_code" in boundary and "share" in boundary:
        on_features = dict(zip(boundary["grid_code"], boundary["share"], strict=True))
    figures = {}
    for row in assessed.itertuples(index=False):
        mine = (buildings["grid_code"] == row.grid_code).to_numpy()
        total = float(hh[mine].sum())
        share = on_features.get(row.grid_code)
        figures[row.grid_code] = {
            **{f: _plain(getattr(row, f)) for f in ASSESS_FIELDS},
            "staff": int(row.grid_leaders + row.fulltime_workers + row.parttime_workers),
            "in_range": bool(lo <= row.households <= hi),
            "covered_share": round(float(hh[mine & covered].sum()) / total, 3) if total else None,
            "on_features": None if share is None else round(float(share), 3),
            "name": row.name,
            "zone_code": row.zone_code,
        }
    return figures


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return round(value, 1) if isinstance(value, float) else value


def apply_edits(store: Store, edits: list[dict[str, Any]]) -> EditedPlan:
    """Apply ``edits`` to the store's current plan in memory (see :class:`PlanEditor`)."""
    return PlanEditor(store).apply(edits)


def preview_edits(
    store: Store, edits: list[dict[str, Any]], *, community: str | None = None
) -> dict[str, Any]:
    """Figures and findings of the edited plan, nothing written (see :class:`PlanEditor`).

    ``community`` (code or name) holds the edits to that community of a store holding
    several: edits changing another community's grids are refused (error on
    ``community``). None: edits anywhere, as in a store of one community.
    """
    within_community(store, edits, community)
    return PlanEditor(store).preview(edits)


def save_edits(
    store: Store,
    base_version: int,
    edits: list[dict[str, Any]],
    *,
    message: str = "",
    user: str | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """Save edits made against ``base_version`` as a new plan version (see
    :meth:`PlanEditor.save`); ``community`` as for :func:`preview_edits`."""
    within_community(store, edits, community)
    return PlanEditor(store).save(base_version, edits, message=message, user=user)


def within_community(store: Store, edits: list[dict[str, Any]], community: str | None) -> None:
    """Refuse edits that change grids outside ``community`` (None: no limit).

    ``community`` is a code or name of the store's ``community`` layer; in a store
    holding several, every grid an edit changes must start with its code.

    Raises
    ------
    InputError
        (param ``community``) naming the grids outside it, or an unknown community.
    """
    if community is None:
        return
    communities = store.read("community")
    k = choose_community(communities, community)
    if len(communities) == 1:
        return
    code = str(communities["community_code"].iloc[k])
    touched = sorted(PlanEditor(store).apply(edits).touched)
    owner = community_of(pd.Series(touched, dtype=object), communities)
    outside = [t for t, o in zip(touched, owner, strict=True) if o != code]
    if outside:
        msg = f"the edits change grids outside `community` {code}: {', '.join(outside[:10])}"
        raise InputError(msg, param="community")


def _changed_since(store: Store, version: int) -> set[str]:
    """Codes of grids that differ between plan ``version`` and the current one."""
    old = plan_at(store, version)["grids"]
    new = store.read("grids")
    old, new = old[current_rows(old)], new[current_rows(new)]
    a = old.set_index("grid_code")
    b = new.set_index("grid_code")
    changed = set(a.index) ^ set(b.index)
    both = sorted(set(a.index) & set(b.index))
    if both:
        same = shapely.equals_exact(
            a.geometry.loc[both].to_numpy(), b.geometry.loc[both].to_numpy(), tolerance=1e-9
        )
        for column in ("name", "zone_code", "locked"):
            same &= (a.loc[both, column].astype(str) == b.loc[both, column].astype(str)).to_numpy()
        changed |= {c for c, s in zip(both, same, strict=True) if not s}
    return changed


def _buildings_changed_since(store: Store, version: int, ids: set[str]) -> list[str]:
    """Of the buildings ``ids``, those whose figures were written after plan ``version``.

    Every write of building figures on a store with a plan is a plan version (the
    grids' figures follow), and each change-log entry names its version: an edit of
    other buildings' figures does not clash; a roster join or re-estimate does.
    """
    if not ids:
        return []
    log = store.read("change_log")
    later = log[
        (pd.to_numeric(log["plan_version"], errors="coerce").fillna(0) > version)
        & (log["layer"] == "buildings")
        & (log["action"] != "follow grids")
    ]
    clash = set()
    for action, detail in zip(later["action"], later["detail"].astype(str), strict=True):
        if action in ("edit households", "edit clear_households"):
            clash |= {b for b in ids if f'"building": "{b}"' in detail}
        else:
            return sorted(ids)
    return sorted(clash)
