"""The layer schema: every layer's name, geometry type, fields, and validation.

This is the one place that says what a layer is. The store, the importers, the
checks, the CLI and the web API all read it; ``layers/README.md`` documents it
for people (``python -m planner.schema`` regenerates that table).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planner.building_use import LIKELY_USES, SHARE_CONFIDENCE
from planner.crs import STORAGE_CRS, is_storage_crs

__all__ = [
    "BUILDING_CATEGORIES",
    "CODED_FIELDS",
    "HOUSEHOLD_WARNING_KINDS",
    "LAYERS",
    "SCHEMA_VERSION",
    "SITE_KINDS",
    "STAFF_ROLES",
    "STATION_STATUS",
    "VALUE_NAMES_ZH",
    "Field",
    "Layer",
    "conform",
    "conform_columns",
    "get_layer",
    "markdown",
    "validate",
    "validate_columns",
]

#: Version of the layer schema a store is written with. 1.1: layer versions and the
#: plan history (``plan_versions``, ``plan_history``); a 1.0 store is migrated on open.
SCHEMA_VERSION = "1.1"

# The value a missing column is filled with, per schema type ("str" holds any text).
_DEFAULTS = {"str": None, "int": 0, "float": np.nan, "bool": False}


@dataclass(frozen=True)
class Field:
    """One attribute of a layer."""

    name: str
    type: str  # "str" | "int" | "float" | "bool"
    zh: str
    description: str
    required: bool = False
    choices: tuple[str, ...] | None = None
    default: object = None  # value for a missing column; None = the type's default

    @property
    def fill(self) -> object:
        """The value a missing column is filled with."""
        return _DEFAULTS[self.type] if self.default is None else self.default


@dataclass(frozen=True)
class Layer:
    """A layer: its name, geometry type (None for a plain table) and fields."""

    name: str
    zh: str
    geometry: str | None  # "Point" | "LineString" | "Polygon" | None
    description: str
    fields: tuple[Field, ...] = field(default_factory=tuple)
    key: str | None = None  # the identifying field, unique within the layer

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        msg = f"layer {self.name!r} has no field {name!r}"
        raise KeyError(msg)

    @property
    def field_names(self) -> list[str]:
        """Names of the fields, in schema order."""
        return [f.name for f in self.fields]


def _f(
    name: str,
    type_: str,
    zh: str,
    description: str,
    required: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Field:
    return Field(name, type_, zh, description, required, choices)


# Shared field groups.
_SPECIAL = (
    _f("elderly_alone", "int", "独居老人", "Elderly people living alone"),
    _f("disabled", "int", "残疾人", "People with disabilities"),
    _f("left_behind_children", "int", "留守儿童", "Children left behind"),
)
_SOURCE = _f("source", "str", "来源", "Where the feature came from (file, OSM, drawn)")
_OSM_ID = _f("osm_id", "str", "OSM编号", "OpenStreetMap element, e.g. w123 or r45")
_NAME = _f("name", "str", "名称", "Name")

BUILDING_CATEGORIES = ("residential", "mixed", "house", "shop", "public", "other")
#: Kinds of household plausibility warnings (layer ``household_warnings``).
HOUSEHOLD_WARNING_KINDS = (
    "roster_non_residential",
    "density_outlier",
    "roster_no_size",
    "estimate_above_ceiling",
)
STATION_STATUS = ("existing", "proposed", "planned")
#: Roles of grid staff: 网格长, 专职网格员, 兼职网格员, 楼长.
STAFF_ROLES = ("grid_leader", "fulltime_worker", "parttime_worker", "building_leader")
SITE_KINDS = (
    "idle_room",
    "property_room",
    "office",
    "vacant_lot",
    "community_centre",
    "facility",
    "generated",
)

LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "community",
            "社区边界",
            "Polygon",
            "The area being divided into grids: one polygon per community (a store may hold "
            "many, each with its own code, which starts its grids' codes).",
            (
                _f("community_code", "str", "社区代码", "Code of the community", True),
                _NAME,
                _f(
                    "boundary_source",
                    "str",
                    "边界来源",
                    "How the boundary was set: file, bbox, data extent, drawn, OSM admin boundary",
                    choices=("file", "bbox", "extent", "drawn", "osm"),
                ),
            ),
            key="community_code",
        ),
        Layer(
            "zones",
            "片区",
            "Polygon",
            "Groups of grids inside the community.",
            (
                _f("zone_code", "str", "片区代码", "Hierarchical code of the zone", True),
                _NAME,
                _f("households", "int", "户数", "Resident households"),
                _f("grids", "int", "网格数", "Number of grids in the zone"),
            ),
            key="zone_code",
        ),
        Layer(
            "grids",
            "网格",
            "Polygon",
            "Grids of 300-500 households whose boundaries follow physical features.",
            (
                _f("grid_code", "str", "网格编码", "Hierarchical code: community+zone+NNN", True),
                _NAME,
                _f("zone_code", "str", "片区代码", "Zone the grid belongs to"),
                _f("households", "int", "户数", "Resident households (常住户)"),
                _f("residents", "int", "人口", "Residents"),
                _f("buildings", "int", "楼栋数", "Buildings in the grid"),
                _f("area_m2", "float", "面积(平方米)", "Area in square metres"),
                _f("density", "float", "人口密度(人/公顷)", "Residents per hectare"),
                *_SPECIAL,
                _f("special_groups", "int", "特殊群体", "Sum of special-group counts"),
                _f("places", "int", "场所数", "Shops, schools, public buildings"),
                _f("grid_leaders", "int", "网格长", "Party-member grid leaders"),
                _f("fulltime_workers", "int", "专职网格员", "Full-time grid workers"),
                _f("parttime_workers", "int", "兼职网格员", "Extra part-time grid workers"),
                _f("building_leaders", "int", "楼长", "Building leaders (~1 per 5 buildings)"),
                _f("flag", "str", "标记", "Why the grid is outside the rules, if it is"),
                _f("locked", "bool", "锁定", "Locked against edits (unlock first)"),
                _f("scenario", "str", "方案", "Plan the grid belongs to; empty = current"),
            ),
            key="grid_code",
        ),
        Layer(
            "compounds",
            "小区",
            "Polygon",
            "Residential compounds and other gated areas (schools, hospitals, units).",
            (
                _f("compound_id", "str", "小区编号", "Identifier", True),
                _NAME,
                _f("kind", "str", "类型", "residential, school, hospital, campus, other"),
                _f("walled", "bool", "有围墙", "Enclosed by a wall or fence"),
                _OSM_ID,
                _SOURCE,
            ),
            key="compound_id",
        ),
        Layer(
            "buildings",
            "楼栋",
            "Polygon",
            "Building footprints with households and special groups.",
            (
                _f("building_id", "str", "楼栋编号", "Identifier (OSM way id for OSM data)", True),
                _OSM_ID,
                _NAME,
                _f("address", "str", "地址", "Street address"),
                _f("building_type", "str", "建筑类型", "The source's type tag (OSM building=*)"),
                _f(
                    "category",
                    "str",
                    "用途类别",
                    "residential, mixed, house (平房), shop (临街商铺), public, other",
                    choices=BUILDING_CATEGORIES,
                ),
                _f("levels", "float", "层数", "Storeys above ground"),
                _f("levels_source", "str", "层数来源", "tag, height or default"),
                _f("footprint_m2", "float", "占地面积(平方米)", "Footprint area"),
                _f(
                    "likely_use",
                    "str",
                    "推定用途",
                    "The use the evidence points to: residential, mixed_use, unknown, or "
                    "office, commercial, hotel, hospital, school, sport, public, industrial",
                    choices=LIKELY_USES,
                ),
                _f(
                    "residential_share",
                    "float",
                    "住宅比例",
                    "Share of the floor area that is homes, from the evidence",
                ),
                _f(
                    "share_confidence",
                    "str",
                    "用途可信度",
                    "How firmly the evidence says it: high, medium, low",
                    choices=SHARE_CONFIDENCE,
                ),
                _f(
                    "share_evidence",
                    "str",
                    "用途依据",
                    "The evidence weighed (tags, points of interest, land use, name, shape)",
                ),
                _f("households", "int", "户数", "Resident households"),
                _f(
                    "households_source",
                    "str",
                    "户数来源",
                    "manual (set by a planner), roster (from the community's table) or "
                    "estimated; manual wins over roster, roster over estimated",
                    choices=("roster", "estimated", "manual"),
                ),
                _f("residents", "int", "人口", "Residents"),
                *_SPECIAL,
                _f("compound_id", "str", "小区编号", "Compound the building stands in"),
                _f("block_id", "str", "地块编号", "Block (unit) the building belongs to"),
                _f("grid_code", "str", "网格编码", "Grid the building belongs to"),
                _f("station_id", "str", "最近服务站", "Nearest service station on foot"),
                _f("walk_m", "float", "步行距离(米)", "Walking distance to that station"),
                _f("covered", "bool", "15分钟覆盖", "Within the walking threshold"),
                _f(
                    "use_tags",
                    "str",
                    "用途标签",
                    "The building's own use tags (OSM amenity, "
                    "shop, office, tourism, healthcare, leisure, craft)",
                ),
                _f("pois", "str", "兴趣点", "Points of interest inside or on the building"),
                _f(
                    "landuse",
                    "str",
                    "所在用地",
                    "Land use and institution areas it stands in, smallest first",
                ),
                _SOURCE,
            ),
            key="building_id",
        ),
        Layer(
            "roads",
            "道路",
            "LineString",
            "Roads, lanes and paths (道路、街巷).",
            (
                _f("road_id", "str", "道路编号", "Identifier", True),
                _OSM_ID,
                _NAME,
                _f("highway", "str", "道路等级", "OSM highway=* class"),
                # Roads from a file without this field are walkable unless said otherwise.
                Field("walkable", "bool", "可步行", "Pedestrians may use it", default=True),
                _f("internal", "bool", "小区内部", "Lane inside a compound"),
                _SOURCE,
            ),
            key="road_id",
        ),
        Layer(
            "barriers",
            "障碍",
            "LineString",
            "Walls, fences, railways, rivers and water edges that block walking.",
            (
                _f("barrier_id", "str", "编号", "Identifier", True),
                _OSM_ID,
                _f(
                    "kind",
                    "str",
                    "类型",
                    "wall, fence, retaining_wall, railway, waterway, water",
                    True,
                    ("wall", "fence", "retaining_wall", "railway", "waterway", "water"),
                ),
                _NAME,
                _SOURCE,
            ),
            key="barrier_id",
        ),
        Layer(
            "gates",
            "出入口",
            "Point",
            "Gates and entrances of compounds.",
            (
                _f("gate_id", "str", "编号", "Identifier", True),
                _OSM_ID,
                _f("kind", "str", "类型", "gate, entrance, lift_gate, ..."),
                _NAME,
                _f("access", "str", "通行", "OSM access=*; 'no' or 'private' gates may be closed"),
                _SOURCE,
            ),
            key="gate_id",
        ),
        Layer(
            "stations",
            "党群服务站",
            "Point",
            "Party-and-public service stations: existing ones and proposed ones per scenario.",
            (
                _f("station_id", "str", "服务站编号", "Identifier", True),
                _NAME,
                _f("kind", "str", "类型", "station (服务站) or centre (服务中心)"),
                _f("status", "str", "状态", "existing or proposed", True, STATION_STATUS),
                _f("scenario", "str", "方案", "Siting scenario of a proposed station"),
                _f("site_id", "str", "候选点编号", "Candidate site it was chosen from"),
                _f("capacity", "int", "服务户数上限", "Households it can serve (0 = no limit)"),
                _f("households_served", "int", "服务户数", "Households for which it is nearest"),
                _f("contact", "str", "联系方式", "Phone or person on duty"),
                _f("address", "str", "地址", "Street address"),
                _f("opening_hours", "str", "开放时间", "Opening hours (OSM opening_hours or text)"),
                _f("phone", "str", "电话", "Phone number"),
                _f("services", "str", "服务项目", "Services offered, comma separated"),
                _OSM_ID,
                _SOURCE,
            ),
            key="station_id",
        ),
        Layer(
            "candidate_sites",
            "候选站点",
            "Point",
            "Places a new station could go: idle rooms, property rooms, vacant lots.",
            (
                _f("site_id", "str", "候选点编号", "Identifier", True),
                _NAME,
                _f("kind", "str", "类型", ", ".join(SITE_KINDS), choices=SITE_KINDS),
                _f("cost", "float", "成本", "Relative cost of opening a station here"),
                _f("capacity", "int", "服务户数上限", "Households it can serve (0 = no limit)"),
                _f("generated", "bool", "自动生成", "Generated from the network, not a real room"),
                _OSM_ID,
                _SOURCE,
            ),
            key="site_id",
        ),
        Layer(
            "edge_areas",
            "边缘地带",
            "Polygon",
            "Strips, borders, street fronts, fringe houses and idle lots that must belong "
            "to exactly one grid.",
            (
                _f("edge_id", "str", "编号", "Identifier", True),
                _f("kind", "str", "类型", "strip, border, street_front, fringe, idle_lot, other"),
                _f("grid_code", "str", "所属网格", "Grid it is assigned to"),
                _f("assigned_by", "str", "指派方式", "auto or manual", choices=("auto", "manual")),
                _f("reason", "str", "理由", "Why it went to that grid"),
                _f("disputed", "bool", "争议", "Disputed between grids"),
                _f("agreement_by", "str", "协商人", "Who settled the dispute"),
                _f("agreement_date", "str", "协商日期", "When it was settled (ISO date)"),
                _f("agreement_text", "str", "协商结果", "What was agreed"),
                _f("buildings", "int", "楼栋数", "Buildings inside"),
                _f("households", "int", "户数", "Households inside"),
                _f("area_m2", "float", "面积(平方米)", "Area"),
                _f("source", "str", "来源", "detected, imported or drawn"),
            ),
            key="edge_id",
        ),
        Layer(
            "blocks",
            "地块",
            "Polygon",
            "Atomic units bounded by physical features; grids are made of them.",
            (
                _f("block_id", "str", "地块编号", "Identifier", True),
                _f("kind", "str", "类型", "street, compound, lane, row or building cell"),
                _f("parent_id", "str", "上级地块", "Block it was split from"),
                _f("compound_id", "str", "小区编号", "Compound it lies in"),
                _f("households", "int", "户数", "Households of its buildings"),
                _f("buildings", "int", "楼栋数", "Buildings"),
                _f("area_m2", "float", "面积(平方米)", "Area"),
                _f("grid_code", "str", "网格编码", "Grid the block belongs to"),
            ),
            key="block_id",
        ),
        Layer(
            "walk_edges",
            "步行网络边",
            "LineString",
            "Walking graph edges (gate passages, building connectors, paths).",
            (
                _f("u", "int", "起点", "Start node", True),
                _f("v", "int", "终点", "End node", True),
                _f("length", "float", "长度(米)", "Length in metres", True),
                _f("kind", "str", "类型", "road, gate, connector"),
                _f("road_id", "str", "道路编号", "Road it comes from"),
            ),
        ),
        Layer(
            "walk_nodes",
            "步行网络节点",
            "Point",
            "Walking graph nodes.",
            (
                _f("node", "int", "节点", "Node id", True),
                _f("kind", "str", "类型", "junction, gate, building, station, site"),
                _f("ref", "str", "关联编号", "Building, gate, station or site id"),
            ),
            key="node",
        ),
        Layer(
            "isochrones",
            "步行等时圈",
            "Polygon",
            "Areas within N minutes' walk of a station, built from the reached network.",
            (
                _f("station_id", "str", "服务站编号", "Station", True),
                _f("minutes", "float", "分钟", "Walking minutes", True),
                _f("meters", "float", "米", "Walking metres"),
                _f("scenario", "str", "方案", "Scenario of the stations used"),
            ),
        ),
        Layer(
            "findings",
            "拓扑问题",
            None,
            "Problems found by the topology check (geometry optional: points/areas).",
            (
                _f("kind", "str", "类型", "overlaps, gaps, multipart, slivers, ...", True),
                _f("grids", "str", "涉及网格", "Grid codes involved, comma separated"),
                _f("size", "float", "大小", "Area in m2, or count"),
                _f("detail", "str", "说明", "What is wrong"),
                _f("kind_zh", "str", "类型(中文)", "The kind in Chinese"),
                _f("unit", "str", "单位", "Unit of size: m2, parts or households"),
                _f("ref", "str", "关联编号", "Building or edge area concerned"),
                _f("flagged", "bool", "已标注", "Out of range for a reason the grid carries"),
                _f("layer", "str", "图层", "Grid layer checked"),
                _f("scenario", "str", "方案", "Plan checked; empty = current"),
            ),
        ),
        Layer(
            "staff",
            "网格工作人员",
            None,
            "Contacts of each grid's staff (网格长, 专职/兼职网格员) and building leaders (楼长), "
            "from a staff roster (`planner staff`); logged-in users see them, a public view not.",
            (
                _f("staff_id", "str", "编号", "grid_code:role:row of the roster", True),
                _f("grid_code", "str", "网格编码", "The grid the person serves", True),
                _f("name", "str", "姓名", "Name", True),
                _f("role", "str", "职务", ", ".join(STAFF_ROLES), True, STAFF_ROLES),
                _f("phone", "str", "电话", "Phone number"),
                _f("building_id", "str", "楼栋编号", "The building of a building leader (楼长)"),
                _SOURCE,
            ),
            key="staff_id",
        ),
        Layer(
            "roster_unmatched",
            "未匹配台账",
            None,
            "Roster rows that matched no building or could not be read; kept, not dropped.",
            (
                _f("row", "int", "行号", "Row number in the roster file (1 = first data row)"),
                _f("building_ref", "str", "楼栋编号", "The building id or address in the row"),
                _f("problem", "str", "问题", "Why the row was not used", True),
                _f("raw", "str", "原始内容", "The row as read, JSON"),
                _SOURCE,
            ),
        ),
        Layer(
            "household_warnings",
            "户数合理性提示",
            "Point",
            "Plausibility warnings on buildings' household figures (rosters and estimates); "
            "warnings, not plan defects: a planner dismisses them with a reason.",
            (
                _f("warning_id", "str", "编号", "kind:building_id", True),
                _f(
                    "kind",
                    "str",
                    "类型",
                    ", ".join(HOUSEHOLD_WARNING_KINDS),
                    True,
                    HOUSEHOLD_WARNING_KINDS,
                ),
                _f("building_id", "str", "楼栋编号", "Building concerned", True),
                _NAME,
                _f("households", "int", "户数", "The building's households when checked"),
                _f("households_source", "str", "户数来源", "roster, estimated or manual"),
                _f("value", "float", "检查值", "The figure checked (households, or per 100 m²)"),
                _f("limit", "float", "限值", "The bound it is beyond"),
                _f("detail", "str", "说明", "What is implausible"),
                _f("dismissed", "bool", "已忽略", "Dismissed by a planner"),
                _f("dismiss_reason", "str", "忽略理由", "Why it was dismissed"),
                _f("dismissed_by", "str", "忽略人", "Who dismissed it"),
                _f("dismissed_at", "str", "忽略时间", "When (UTC, ISO 8601)"),
            ),
            key="warning_id",
        ),
        Layer(
            "change_log",
            "变更记录",
            None,
            "Every change applied to the store: what, why, when.",
            (
                _f("time", "str", "时间", "UTC time, ISO 8601", True),
                _f("layer", "str", "图层", "Layer changed", True),
                _f("action", "str", "操作", "What was done", True),
                _f("detail", "str", "说明", "Details (JSON or text)"),
                _f("reason", "str", "原因", "Why"),
                _f("user", "str", "操作人", "Who"),
                _f("plan_version", "int", "方案版本", "Plan version once the change landed"),
            ),
        ),
    )
}

# Grid plans that are not (yet) the current one, e.g. `planner rebalance` output; the
# same fields as `grids`, keyed by (scenario, grid_code) rather than grid_code alone.
LAYERS["scenario_grids"] = Layer(
    "scenario_grids",
    "网格方案",
    "Polygon",
    "Proposed grid plans (e.g. scenario 'rebalanced'); the current plan stays in grids.",
    LAYERS["grids"].fields,
)
LAYERS["grid_moves"] = Layer(
    "grid_moves",
    "网格调整",
    None,
    "Blocks a proposed grid plan moves from one grid to another.",
    (
        _f("scenario", "str", "方案", "Plan the move belongs to", True),
        _f("block_id", "str", "地块编号", "Block moved", True),
        _f("from_grid", "str", "原网格", "Grid it leaves"),
        _f("to_grid", "str", "新网格", "Grid it joins"),
        _f("households", "int", "户数", "Households moved"),
        _f("buildings", "int", "楼栋数", "Buildings moved"),
    ),
)

#: The layers that make up the grid plan (网格方案): every write of one of them is a new
#: plan version, kept whole in ``plan_history`` (see :mod:`planner.plan_versions`).
PLAN_LAYERS = ("grids", "zones", "edge_areas")
LAYERS["plan_versions"] = Layer(
    "plan_versions",
    "方案版本",
    None,
    "One row per version of the grid plan: when, who, why, whether published.",
    (
        _f("plan_version", "int", "版本", "Version number, from 1", True),
        _f("time", "str", "时间", "UTC time, ISO 8601", True),
        _f("user", "str", "操作人", "Who"),
        _f("reason", "str", "原因", "Why (the change-log reasons of the write)"),
        _f("grids", "int", "网格数", "Grids in this version"),
        _f("households", "int", "户数", "Households in its grids"),
        _f("replaced", "str", "整层写入", "Plan layers kept whole in plan_history"),
        _f("deleted", "str", "删除", "Keys of plan rows deleted, by layer (JSON)"),
    ),
    key="plan_version",
)
LAYERS["plan_history"] = Layer(
    "plan_history",
    "方案历史",
    "Polygon",
    "What each plan version changed: layers written whole, rows edited (diff, rollback).",
    (
        _f("plan_version", "int", "版本", "Version the feature belongs to", True),
        _f("layer", "str", "图层", "grids, zones or edge_areas", True),
        _f("properties", "str", "属性", "The feature's fields as JSON", True),
    ),
)

#: The store's own bookkeeping of plan versions: read through planner.plan_versions, not
#: served as map layers.
HISTORY_LAYERS = frozenset({"plan_versions", "plan_history"})

#: Chinese names of the coded values of :data:`CODED_FIELDS` (kinds, statuses, sources),
#: for maps and reports; values not listed are shown as they are.
VALUE_NAMES_ZH: dict[str, str] = {
    "residential": "住宅",
    "mixed": "用途不明",
    "house": "平房",
    "shop": "临街商铺",
    "public": "公共建筑",
    "other": "其他",
    "roster": "台账",
    "estimated": "估算",
    "tag": "标注",
    "height": "按高度推算",
    "default": "默认值",
    "existing": "现有",
    "proposed": "拟建",
    "planned": "规划",
    "auto": "自动",
    "manual": "人工",
    "file": "文件",
    "bbox": "范围框",
    "extent": "数据范围",
    "drawn": "手绘",
    "street": "街区",
    "compound": "小区",
    "lane": "巷弄",
    "cell": "楼栋单元",
    "wall": "围墙",
    "fence": "栅栏",
    "retaining_wall": "挡土墙",
    "railway": "铁路",
    "waterway": "河道",
    "water": "水域",
    "gate": "大门",
    "entrance": "出入口",
    "lift_gate": "道闸",
    "station": "服务站",
    "centre": "服务中心",
    "idle_room": "闲置用房",
    "property_room": "物业用房",
    "office": "办公用房",
    "vacant_lot": "空地",
    "community_centre": "社区中心",
    "facility": "公共设施",
    "generated": "自动生成",
    "street_front": "临街地带",
    "fringe": "零散房屋",
    "strip": "夹缝地带",
    "border": "小区交界",
    "idle_lot": "闲置地块",
    "school": "学校",
    "hospital": "医院",
    "campus": "园区",
    "mixed_use": "商住混合",
    "unknown": "不明",
    "commercial": "商业",
    "hotel": "酒店",
    "sport": "体育",
    "industrial": "工业",
    "high": "高",
    "medium": "中",
    "low": "低",
    "roster_non_residential": "台账户数在非住宅楼",
    "density_outlier": "户均面积异常",
    "roster_no_size": "台账楼栋无面积或层数",
    "estimate_above_ceiling": "估算户数超上限",
    "grid_leader": "网格长",
    "fulltime_worker": "专职网格员",
    "parttime_worker": "兼职网格员",
    "building_leader": "楼长",
}

#: Fields whose values are codes with Chinese names in :data:`VALUE_NAMES_ZH`.
CODED_FIELDS = frozenset(
    {"category", "households_source", "levels_source", "status", "kind", "assigned_by",
     "boundary_source", "likely_use", "share_confidence", "role"}
)  # fmt: skip

_GEOMETRY_TYPE_IDS = {"Point": {0, 4}, "LineString": {1, 5}, "Polygon": {3, 6}}
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}

# Layers whose geometry may be any type despite a declared one (findings: points or areas).
_ANY_GEOMETRY = {"findings"}


def get_layer(name: str) -> Layer:
    """Return the schema of layer ``name``, or raise a readable KeyError."""
    try:
        return LAYERS[name]
    except KeyError:
        known = ", ".join(LAYERS)
        msg = f"unknown layer {name!r}; known layers: {known}"
        raise KeyError(msg) from None


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the schema's columns, types and defaults for layer ``name``.

    Missing optional fields are added with their default; values are cast to the
    schema's types (text stays text, so Chinese survives). Columns the schema does
    not know are kept after the schema's own, so no user data is lost.

    Parameters
    ----------
    name
        Layer name.
    frame
        A GeoDataFrame (spatial layers) or DataFrame (tables).

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        A copy in schema order.
    """
    layer = get_layer(name)
    out = frame.copy()
    for f in layer.fields:
        if f.name not in out.columns:
            out[f.name] = f.fill
        col = out[f.name]
        if f.type == "str":
            out[f.name] = col.astype(object).where(col.notna(), None)
            out[f.name] = out[f.name].map(lambda v: v if v is None else str(v))
        elif f.type == "int":
            out[f.name] = pd.to_numeric(col, errors="coerce").fillna(0).round().astype("int64")
        elif f.type == "float":
            out[f.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif f.type == "bool":
            out[f.name] = col.map(_to_bool).astype(bool)
    geometry = [out.geometry.name] if hasattr(out, "geometry") and "geometry" in out else []
    order = layer.field_names + [c for c in out.columns if c not in layer.field_names]
    order = [c for c in order if c not in geometry] + geometry
    return out[order]


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "t", "是", "有"}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(value)


def conform_columns(name: str, columns: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Conform a few rows given column by column, as :func:`conform` would, without pandas.

    A small edit (one grid and its buildings) is conformed value by value: pandas' cost
    per column would exceed the write's. Numbers given as text, and other values that need
    pandas' parsing, are converted by pandas for that column only.

    Parameters
    ----------
    name
        Layer name.
    columns
        Attribute column → its values (one per row; no geometry column).

    Returns
    -------
    dict of str to list
        The schema's fields, then the other columns as given; values are Python objects
        of the field's type (``None`` for missing text, ``nan`` for missing numbers).
    """
    layer = get_layer(name)
    length = len(next(iter(columns.values()))) if columns else 0
    out: dict[str, list[Any]] = {}
    for f in layer.fields:
        values = list(columns[f.name]) if f.name in columns else [f.fill] * length
        out[f.name] = _CONVERTERS[f.type](values)
    for column, values in columns.items():
        if column not in out:
            out[column] = list(values)
    return out


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    if isinstance(value, (str, int)):
        return False
    missing = pd.isna(value)
    return bool(missing) if isinstance(missing, (bool, np.bool_)) else False


def _to_str(values: list[Any]) -> list[Any]:
    # Text as it is first: most values of a text field are.
    return [
        v if type(v) is str else None if _is_missing(v) else v if isinstance(v, str) else str(v)
        for v in values
    ]


def _plain_number(value: object) -> bool:
    """A value :func:`pandas.to_numeric` would leave as it is (no parsing of text)."""
    return _is_missing(value) or (
        isinstance(value, (int, float)) and (isinstance(value, int) or np.isfinite(value))
    )


def _to_int(values: list[Any]) -> list[Any]:
    if all(type(v) is int for v in values):  # what an integer column's tolist() gives
        return values
    if all(_plain_number(v) for v in values):
        # round() rounds half to even, as numpy does in conform().
        return [0 if _is_missing(v) else int(round(v)) for v in values]
    series = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    return series.fillna(0).round().astype("int64").tolist()


def _to_float(values: list[Any]) -> list[Any]:
    if all(type(v) is float for v in values):  # NaN stays NaN, as below
        return values
    if all(_plain_number(v) for v in values):
        return [np.nan if _is_missing(v) else float(v) for v in values]
    series = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    return series.astype("float64").tolist()


def _to_bools(values: list[Any]) -> list[Any]:
    return [False if _is_missing(v) else _to_bool(v) for v in values]


_CONVERTERS = {"str": _to_str, "int": _to_int, "float": _to_float, "bool": _to_bools}


def validate(name: str, frame: pd.DataFrame) -> list[str]:
    """Check a layer against the schema and return readable problems (empty = valid).

    Checks: required fields present and filled, key values unique, values among
    the allowed choices, geometry present, of the right type, not empty and
    valid, and the CRS is the storage CRS.

    Parameters
    ----------
    name
        Layer name.
    frame
        The layer's data.

    Returns
    -------
    list of str
        One sentence per problem, naming the field or rows concerned.
    """
    layer = get_layer(name)
    columns = {f.name: frame[f.name].to_numpy() for f in layer.fields if f.name in frame.columns}
    if layer.geometry is None:
        return _problems(name, layer, columns)
    if not hasattr(frame, "geometry"):
        return [*_problems(name, layer, columns), f"{name}: the layer has no geometry column"]
    return _problems(name, layer, columns) + _geometry_problems(
        name, layer, frame.geometry.to_numpy(), frame.crs
    )


def validate_columns(
    name: str,
    columns: Mapping[str, Sequence[Any]],
    geometry: np.ndarray | None = None,
    crs: Any = None,
) -> list[str]:
    """:func:`validate` for rows given column by column (see :func:`conform_columns`).

    Parameters
    ----------
    name
        Layer name.
    columns
        Attribute column → its values.
    geometry
        The rows' shapely geometries (spatial layers).
    crs
        Their CRS.

    Returns
    -------
    list of str
        One sentence per problem, as :func:`validate` words it.
    """
    layer = get_layer(name)
    checked = {field: list(columns[field]) for field in _checked(name) if field in columns}
    problems = _problems(name, layer, checked)
    if layer.geometry is not None:
        if geometry is None:
            problems.append(f"{name}: the layer has no geometry column")
        else:
            problems.extend(_geometry_problems(name, layer, np.asarray(geometry), crs))
    return problems


@functools.cache
def _checked(name: str) -> frozenset[str]:
    """The fields of layer ``name`` whose values :func:`_problems` looks at (most fields
    may hold anything of their type)."""
    layer = get_layer(name)
    return frozenset(
        f.name for f in layer.fields if f.required or f.choices is not None or f.name == layer.key
    )


def _problems(name: str, layer: Layer, columns: Mapping[str, np.ndarray | list[Any]]) -> list[str]:
    """Field problems of a layer given as column arrays (numpy, not pandas: cheap when
    large), or as lists of a few rows' values (plain Python: cheaper still)."""
    problems: list[str] = []
    checked = _checked(name)
    for f in layer.fields:
        if f.name not in columns:
            if f.required:
                problems.append(f"{name}: required field {f.name!r} ({f.zh}) is missing")
            continue
        if f.name not in checked:
            continue
        col = columns[f.name]
        few = isinstance(col, list)  # a few rows: masks as lists, numpy's cost per call saved
        missing = _missing_mask(col)
        if f.required:
            blank = missing
            if few or col.dtype == object:  # numbers are never blank text
                text = [str(v).strip() == "" for v in col]
                blank = (
                    [a or b for a, b in zip(missing, text, strict=True)]
                    if few
                    else blank | np.array(text, dtype=bool)
                )
            if any(blank) if few else blank.any():
                rows = _rows(np.flatnonzero(blank))
                problems.append(f"{name}: field {f.name!r} ({f.zh}) is empty in rows {rows}")
        if f.choices is not None:
            bad = [not m and v not in f.choices for m, v in zip(missing, col, strict=True)]
            if any(bad):
                values = ", ".join(sorted({str(v) for v, b in zip(col, bad, strict=True) if b})[:5])
                problems.append(
                    f"{name}: field {f.name!r} has values outside {list(f.choices)}: {values}"
                )
    if layer.key and layer.key in columns:
        keys = columns[layer.key]
        mask = _missing_mask(keys)
        if isinstance(keys, list):
            present = [k for k, m in zip(keys, mask, strict=True) if not m]
        else:
            present = keys[~mask].tolist()
        if len(set(present)) != len(present):
            counts = Counter(present)
            values = ", ".join(sorted({str(v) for v, n in counts.items() if n > 1})[:5])
            problems.append(f"{name}: {layer.key!r} values are not unique: {values}")
    return problems


def _missing_mask(values: np.ndarray | list[Any]) -> np.ndarray | list[bool]:
    """Which values are missing, as :func:`pandas.isna` says: a list for a list (a few
    values, one by one), an array for an array."""
    if isinstance(values, list):
        return [_is_missing(v) for v in values]
    return np.asarray(pd.isna(values), dtype=bool)


def _geometry_problems(name: str, layer: Layer, geoms: np.ndarray, crs: Any) -> list[str]:
    problems = []
    if crs is None:
        problems.append(f"{name}: no CRS set (expected {STORAGE_CRS})")
    elif not is_storage_crs(crs):
        problems.append(f"{name}: CRS is {crs.to_string()}, expected {STORAGE_CRS}")
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        problems.append(
            f"{name}: empty or missing geometry in rows {_rows(np.flatnonzero(missing))}"
        )
    present = ~missing
    invalid = present & ~shapely.is_valid(geoms)
    if invalid.any():
        problems.append(f"{name}: invalid geometry in rows {_rows(np.flatnonzero(invalid))}")
    if name not in _ANY_GEOMETRY:
        allowed = _GEOMETRY_TYPE_IDS[layer.geometry]
        types = shapely.get_type_id(geoms[present])
        wrong = sorted({_TYPE_NAMES[t] for t in types if t not in allowed})
        if wrong:
            problems.append(f"{name}: geometry must be {layer.geometry}, found {', '.join(wrong)}")
    return problems


def _rows(index: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(i) + 1) for i in index[:limit])
    return shown + (f" and {len(index) - limit} more" if len(index) > limit else "")


def markdown() -> str:
    """Return the schema as Markdown tables, one per layer (for ``layers/README.md``)."""
    lines = []
    for layer in LAYERS.values():
        geometry = layer.geometry or "none (table)"
        lines += [
            f"## `{layer.name}` — {layer.zh}",
            "",
            f"{layer.description} Geometry: {geometry}.",
            "",
            "| field | 中文 | type | required | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for f in layer.fields:
            req = "yes" if f.required else ""
            key = " (key)" if f.name == layer.key else ""
            lines.append(f"| `{f.name}`{key} | {f.zh} | {f.type} | {req} | {f.description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
