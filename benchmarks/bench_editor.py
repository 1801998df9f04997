"""Time the editor's live rules: one edit checked where it changed vs the whole plan.

On a demo store (built with ``planner demo`` if the path given does not exist), each
kind of edit the editor makes (paint blocks into a neighbour, merge, delete, new grid
from blocks, a household figure) is previewed twice: with
:func:`planner.topology.recheck.recheck` (the touched grids and their neighbours, as
``POST /api/plan/preview`` does) and with :func:`planner.topology.checks.check_plan`
on the whole edited plan, the obvious alternative. Both give the same findings (the
tests check it); the medians of 5 runs and their ratio are printed.
Run: ``python3 benchmarks/bench_editor.py [STORE]`` (default ``layers/demo.gpkg``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.pipeline import run_demo  # noqa: E402
from planner.plan_edit import PlanEditor  # noqa: E402
from planner.store import Store  # noqa: E402
from planner.topology.checks import check_plan  # noqa: E402
from planner.topology.recheck import recheck  # noqa: E402

RUNS = 5


def _cases(editor: PlanEditor) -> dict[str, list[dict]]:
    grids = editor.context.grids.set_index("grid_code")
    ranked = grids["households"].sort_values(ascending=False).index
    code = str(ranked[len(ranked) // 2])
    others = grids.drop(index=code)
    touching = others.index[others.geometry.intersects(grids.geometry[code])]
    other = str(touching[0])
    blocks = editor.context.blocks
    mine = blocks[blocks["grid_code"] == code].sort_values("households")["block_id"].tolist()
    buildings = editor.context.plan.buildings
    building = str(buildings.loc[buildings["grid_code"] == code, "building_id"].iloc[0])
    return {
        "paint 2 blocks": [{"op": "assign", "units": mine[:2], "to": other}],
        "merge": [{"op": "merge", "grids": [code, other]}],
        "delete": [{"op": "delete", "grid": code}],
        "new grid": [{"op": "create", "units": mine[-2:]}],
        "households": [{"op": "households", "building": building, "value": 120}],
    }


def _median(fn) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "layers/demo.gpkg")
    if not path.exists():
        run_demo("nanjing_xinjiekou", store_path=path)
    editor = PlanEditor(Store(path))
    editor.context.checked()  # the plan's own check, made once per plan version
    grids = len(editor.context.grids)
    print(f"{path}: {grids} grids, {len(editor.context.plan.buildings)} buildings")
    print(f"{'edit':<16}{'recheck s':>11}{'full check s':>14}{'ratio':>8}{'preview s':>11}")
    for name, edits in _cases(editor).items():
        edited, before, after = editor.edited_plan(edits)
        _, base = editor.context.checked()
        touched = edited.touched | set(edited.removed)
        quick = _median(lambda: recheck(before, after, base, touched))  # noqa: B023
        full = _median(lambda: check_plan(after))  # noqa: B023
        whole = _median(lambda: editor.preview(edits))  # noqa: B023
        print(f"{name:<16}{quick:>11.3f}{full:>14.3f}{full / quick:>7.1f}x{whole:>11.3f}")


if __name__ == "__main__":
    main()
