"""A planner's scripted walk through the grid editor, timed in the browser.

Builds the demo store (``planner demo``, Nanjing Xinjiekou) unless ``--store`` names one,
breaks five grids (two pushed out of the household range by moving blocks, a gap, a
building cut — saved through the engine — and an overlap drawn on the page by dragging a
vertex), then mends the plan on the page only, as a planner who has never seen the tool:
read the rules panel's findings, click one to zoom, paint blocks, merge, save, until the
panel lists no problem. Prints a step table (step, live-update ms measured in the
browser, action, what the page showed) and totals; screenshots go to ``--out``.

Needs Debian's Chromium (``/usr/bin/chromium``) and Playwright, as the browser tests.
Run: ``python3 benchmarks/walkthrough.py [--store STORE] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.pipeline import run_demo  # noqa: E402
from tests.test_webmap_browser import ARGS, CHROMIUM, Page, _serve  # noqa: E402
from tests.walkthrough_steps import (  # noqa: E402
    Walk,
    break_plan,
    end_state,
    mend,
    overlap_by_hand,
    step_table,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a demo store to copy (default: build one)")
    parser.add_argument("--out", type=Path, help="folder for screenshots (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="walkthrough-"))
    out = args.out or work / "shots"
    path = work / "walk.gpkg"
    if args.store:
        shutil.copyfile(args.store, path)
    else:
        run_demo("nanjing_xinjiekou", store_path=path)
    breaks = break_plan(path)
    print(
        f"broken: {breaks.over} above {breaks.under} below the range, gap in {breaks.gap} "
        f"(block {breaks.gap_block}), building {breaks.cut_building} cut by {breaks.cut_grid}; "
        f"overlap to draw: {breaks.overlap} into {breaks.overlap_neighbour}"
    )
    from playwright.sync_api import sync_playwright

    running = _serve(path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = Page(browser, running.url)
            page.open("/")
            walk = Walk(page, out)
            overlap_by_hand(page, walk, breaks.overlap, breaks.overlap_neighbour)
            setup = len(walk.steps)
            defects, _ = mend(page, walk)
            state = end_state(running.url, page.page.request)
            browser.close()
    finally:
        running.stop()
    print(step_table(walk))
    walked = len(walk.steps) - setup
    print(f"setup steps (the overlap drawn on the page): {setup}; walk steps: {walked}")
    print(f"problems left in the rules panel: {defects}")
    print(
        "grids out of range: "
        + (
            ", ".join(
                f"{g['grid_code']} {g['households']} ({g['flag']})" for g in state["out_of_range"]
            )
            or "none"
        )
    )
    print(f"screenshots: {out}")


if __name__ == "__main__":
    main()
