"""Topology checks of a grid layer (网格拓扑检查) and their automatic fixes.

A grid plan must be seamless (无缝): grids do not overlap, leave no gap inside the
community, are each one piece, do not reach outside the community, never cut a
building, and every building and edge area (边缘地带) belongs to exactly one grid.
:func:`check` finds what breaks these rules in ANY grid layer (generated, imported
or hand-drawn); :func:`propose_fixes` computes repairs and :func:`apply_fixes`
writes them in one all-or-nothing write, recorded in the change log.

The package, in the order a plan goes through it:

- :mod:`~planner.topology.plan`: :class:`GridPlan`, :class:`Thresholds`, :func:`load_plan`;
- :mod:`~planner.topology.checks`: the nine checks, :class:`Findings`;
- :mod:`~planner.topology.boundary`: the share of boundary on physical features;
- :mod:`~planner.topology.fixes`: the repairs, on the noded arrangement of the plan;
- :mod:`~planner.topology.recut`: :func:`plan_fixes`, re-cutting grids the repairs
  push out of the household range with their neighbours;
- :mod:`~planner.topology.write`: proposing and applying fixes to a store, with
  every dependent layer, and the demo step :func:`check_and_fix` (and
  :func:`propose_check_and_fix`, the same without writing, as a proposed plan).
"""

from __future__ import annotations

from planner.geometry import overlay_pairs
from planner.topology.boundary import boundary_on_features
from planner.topology.checks import KIND_ZH, KINDS, Findings, check, check_plan
from planner.topology.fixes import GRID_SIZE, FixPlan, Move
from planner.topology.plan import RULES, GridPlan, Thresholds, load_plan
from planner.topology.recut import plan_fixes
from planner.topology.write import (
    apply_fixes,
    check_and_fix,
    propose_check_and_fix,
    propose_fixes,
    save_findings,
)

__all__ = [
    "GRID_SIZE",
    "KINDS",
    "KIND_ZH",
    "RULES",
    "Findings",
    "FixPlan",
    "GridPlan",
    "Move",
    "Thresholds",
    "apply_fixes",
    "boundary_on_features",
    "check",
    "check_and_fix",
    "check_plan",
    "load_plan",
    "overlay_pairs",
    "plan_fixes",
    "propose_check_and_fix",
    "propose_fixes",
    "save_findings",
]
