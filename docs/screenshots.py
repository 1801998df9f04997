"""Copy the browser tests' screenshots into ``docs/_static/screenshots/`` for the guides.

The browser tests (``tests/test_webmap_*browser.py``) save full-size screenshots under
``artifacts/screenshots/``; the guides reference the few below by a stable path. Run
``make docs-screenshots`` (or this file) after the browser tests: each is scaled to at
most 1200 px wide and reduced to a 256-colour palette, so the repository stays small.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "artifacts" / "screenshots"
TARGET = ROOT / "docs" / "_static" / "screenshots"

#: The screenshots the guides show: the browser test that takes each is named beside it.
SHOTS = {
    "map_zh": "test_map_page_draws_every_demo_layer_with_no_outside_request",
    "map_coverage": "test_stations_coverage_and_edge_areas_are_styled",
    "editor_paint": "test_paint_a_block_into_a_neighbour_undo_and_save",
    "map_phone": "test_phone_sized_viewport",
    "map_en_search": "test_english_page_and_search_by_grid_code",
    "dashboard_zh": "test_existing_only_and_scenario_coverage_agree_with_the_engine",
    "phone_nearest_zh": "test_phone_finds_the_nearest_station_and_my_grid",
}
MAX_WIDTH = 1200


def copy_screenshots(source: Path = SOURCE, target: Path = TARGET) -> list[Path]:
    """Scale and copy each screenshot of :data:`SHOTS`; return the files written.

    Raises
    ------
    FileNotFoundError
        When a screenshot is missing: run the browser tests first (``make test``).
    """
    missing = [name for name in SHOTS if not (source / f"{name}.png").exists()]
    if missing:
        msg = f"no screenshots {', '.join(missing)} in {source}: run the browser tests first"
        raise FileNotFoundError(msg)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SHOTS:
        image = Image.open(source / f"{name}.png").convert("RGB")
        if image.width > MAX_WIDTH:
            height = round(image.height * MAX_WIDTH / image.width)
            image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
        path = target / f"{name}.png"
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        written.append(path)
    return written


if __name__ == "__main__":
    try:
        for path in copy_screenshots():
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")
    except FileNotFoundError as exc:
        sys.exit(f"docs/screenshots.py: {exc}")
