"""Tests for planner.settings: rules are read when a function runs, not when it is defined."""

from __future__ import annotations

import copy
from dataclasses import fields

import pytest

from planner import topology
from planner.coverage import coverage
from planner.grids import make_grids_step
from planner.network import build_walk_graph, walk_threshold
from planner.settings import GridRules, Settings, settings


@pytest.fixture
def rules():
    """The module-level settings, put back as they were after the test."""
    saved = copy.deepcopy(settings)
    yield settings
    # Restore each group in place: engine modules hold a reference to `settings` itself.
    for f in fields(Settings):
        setattr(settings, f.name, getattr(saved, f.name))


def test_defaults_are_todays_rules():
    fresh = Settings()
    assert fresh.grid == GridRules(min_households=300, max_households=500)
    assert fresh.grid.partition_time_limit == 4.0 and fresh.grid.grids_per_zone == 7
    assert fresh.walking.minutes == 15.0 and fresh.walking.speed_mps == 1.1
    assert fresh.topology.fix_rule == "longest_border"
    assert fresh.edge_areas.max_households == 100
    assert fresh.estimate.dwelling_area_m2 == 90.0


def test_thresholds_and_threshold_read_settings_when_made(rules):
    rules.grid.max_households = 450
    rules.topology.sliver_area_m2 = 80.0
    rules.walking.minutes = 10.0
    t = topology.Thresholds()
    assert t.max_households == 450 and t.sliver_area_m2 == 80.0
    assert topology.Thresholds(max_households=600).max_households == 600
    assert walk_threshold() == pytest.approx(10.0 * 60 * rules.walking.speed_mps)


def test_grid_max_changes_make_grids_step(tsinghua_store, rules):
    before = tsinghua_store.read("grids")
    # the demo plan (max 500) has grids above 450 that are not a single large building
    assert ((before["households"] > 450) & before["flag"].isna()).any()
    rules.grid.max_households = 450
    report = make_grids_step(tsinghua_store)
    after = tsinghua_store.read("grids")
    assert report["grids"] == len(after)
    assert (after.loc[after["flag"].isna(), "households"] <= 450).all()
    assert report["in_range"] == int(after["households"].between(300, 450).sum())


def test_walking_minutes_change_coverage(tsinghua_store, rules):
    graph = build_walk_graph(tsinghua_store)
    full = coverage(tsinghua_store, graph=graph, existing_only=True, write=False)
    rules.walking.minutes = 5.0
    short = coverage(tsinghua_store, graph=graph, existing_only=True, write=False)
    assert short["minutes"] == 5.0 and full["minutes"] == 15.0
    assert short["threshold_m"] == pytest.approx(5.0 * 60 * rules.walking.speed_mps)
    assert short["households_covered"] < full["households_covered"]
