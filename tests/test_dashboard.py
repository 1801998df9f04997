"""The officials' dashboard's figures agree with coverage, siting and plan versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner import dashboard
from planner.coverage import coverage
from planner.errors import InputError
from planner.plan_edit import PlanEditor
from planner.plan_versions import current_version
from planner.siting import site_stations
from tests.test_plan_edit import _border_block


@pytest.fixture(scope="module")
def summary(nanjing_path):
    """The dashboard of the shared demo store (read only), with the latest scenario."""
    from planner.store import Store

    return dashboard.dashboard(Store(nanjing_path))


def test_station_sets_list_existing_first_then_each_scenario(nanjing_store):
    sets = dashboard.station_sets(nanjing_store)
    assert sets[0]["key"] == dashboard.EXISTING and sets[0]["scenario"] is None
    stations = nanjing_store.read("stations")
    proposed = stations[stations["status"] == "proposed"]
    assert {s["key"] for s in sets[1:]} == set(proposed["scenario"])
    latest = [s["key"] for s in sets if s["latest"]]
    assert latest == [nanjing_store.metadata["latest_scenario"]]
    for s in sets[1:]:
        assert s["proposed"] == int((proposed["scenario"] == s["key"]).sum())


@pytest.mark.parametrize("existing_only", [True, False])
def test_coverage_view_agrees_with_coverage(nanjing_store, existing_only):
    view = dashboard.coverage_view(nanjing_store, existing_only=existing_only)
    plain = coverage(nanjing_store, existing_only=existing_only, write=False)
    for key in ("households_covered", "households_uncovered", "buildings_uncovered"):
        assert view[key] == plain[key], key
    frame = plain["frame"]
    # every building in exactly one band; the bands add up to the totals
    assert len(view["building_band"]["ids"]) == len(frame)
    assert sum(b["households"] for b in view["bands"]) == view["households_total"]
    assert sum(b["buildings"] for b in view["bands"]) == view["buildings_total"]
    within = [b for b in view["bands"] if b["minutes_to"] is not None]
    assert sum(b["households"] for b in within) == view["households_covered"]
    # the uncovered list is exactly the buildings coverage leaves out
    out = set(frame.loc[~frame["covered"], "building_id"].astype(str))
    assert {u["building_id"] for u in view["uncovered"]} == out
    # the histogram holds every reached household
    hist = view["histogram"]
    unreachable = view["bands"][-1]["households"]
    assert (
        sum(hist["households"]) + hist["over"]["households"] + unreachable
        == (view["households_total"])
    )
    assert sum(s["households_served"] for s in view["stations"]) == view["households_covered"]
    json.dumps(view)  # plain data


def test_bands_follow_walking_distance(nanjing_store):
    view = dashboard.coverage_view(nanjing_store)
    frame = coverage(nanjing_store, write=False)["frame"]
    walk = dict(zip(frame["building_id"].astype(str), frame["walk_m"], strict=True))
    band = dict(zip(view["building_band"]["ids"], view["building_band"]["band"], strict=True))
    limits = [b["meters_to"] for b in view["bands"] if b["meters_to"] is not None]
    for building_id, index in list(band.items())[::7]:
        w = walk[building_id]
        if index < len(limits):
            assert w <= limits[index] + 1e-6
            assert index == 0 or w > limits[index - 1] - 1e-6
        elif view["bands"][index]["label"] == "beyond":
            assert w > limits[-1]
        else:
            assert np.isnan(w)


def test_headline_existing_against_scenario(summary):
    head = summary["headline"]
    a, b = head["existing"], head["selected"]
    assert summary["selected"] != dashboard.EXISTING  # the demo has a scenario
    existing = summary["coverage"][dashboard.EXISTING]
    chosen = summary["coverage"][summary["selected"]]
    assert a["households_covered"] == existing["households_covered"]
    assert b["households_covered"] == chosen["households_covered"]
    # the demo maps no existing station: the scenario is all the coverage there is
    assert a["households_covered"] < b["households_covered"]
    for row in head["difference"]:
        if row["a"] is not None and row["b"] is not None:
            assert row["difference"] == pytest.approx(row["b"] - row["a"])
    grids = summary["tables"]["grids"]
    assert a["grids"] == len(grids) == b["grids"]
    reached = sum(1 for g in grids if not g["households_beyond_selected"])
    assert b["grids_reached"] == reached
    assert a["staff_needed"] == sum(
        g[c] for g in grids for c in dashboard.STAFF_FIELDS if g[c] is not None
    )
    chart = summary["charts"]["grid_households"]
    assert [g["households"] for g in chart["grids"]] == sorted(g["households"] for g in grids)
    assert sum(g["in_range"] for g in chart["grids"]) == a["grids_in_range"]
    assert all(f["lon"] is not None for f in summary["tables"]["findings"])
    json.dumps(summary)


def test_unknown_station_set_names_the_parameter(nanjing_store):
    with pytest.raises(InputError) as caught:
        dashboard.dashboard(nanjing_store, stations="no-such-scenario")
    assert caught.value.param == "stations"


def test_compare_plans_after_an_edit(nanjing_store):
    store = nanjing_store
    block, home, neighbour, households = _border_block(store)
    editor = PlanEditor(store)
    before = current_version(store)
    editor.save(before, [{"op": "assign", "units": [block], "to": neighbour}], message="test")
    assert current_version(store) == before + 1
    result = dashboard.compare_plans(store)
    assert (result["old"], result["new"]) == (before, before + 1)
    assert result["households_moved"] >= households > 0
    changed = {c["grid_code"]: c for c in result["changes"]}
    assert {home, neighbour} <= set(changed)
    assert changed[home]["households_after"] < changed[home]["households_before"]
    assert changed[neighbour]["households_after"] > changed[neighbour]["households_before"]
    rows = {r["measure"]: r for r in result["difference"]}
    assert rows["households"]["difference"] == 0  # moved, not lost
    for row in rows.values():
        assert row["difference"] == row["b"] - row["a"]
    lon0, lat0, lon1, lat1 = changed[home]["bbox"]
    assert lon0 < lon1 and lat0 < lat1
    view = dashboard.coverage_view(store, existing_only=True)
    nobody = dashboard.compare_plans(store, before, before + 1, cover=view)
    assert nobody["after"]["households_covered"] == 0
    assert nobody["after"]["grids_reached"] == sum(
        1 for g in store.read("grids")["households"] if g == 0
    )
    json.dumps(result)


def test_mclp_curve_rises_and_matches_siting(nanjing_store):
    curve = dashboard.mclp_curve(nanjing_store, max_new=2)
    points = curve["points"]
    assert [p["new_stations"] for p in points] == [0, 1, 2]
    covered = [p["households_covered"] for p in points]
    assert covered == sorted(covered) and covered[2] > covered[0]
    existing = coverage(nanjing_store, existing_only=True, write=False)
    assert covered[0] == existing["households_covered"]
    one = site_stations(nanjing_store, model="mclp", p=1, write=False)
    assert covered[1] == one["households_covered"]
    assert points[1]["chosen"] == one["chosen"]
    with pytest.raises(InputError):
        dashboard.mclp_curve(nanjing_store, max_new=-1)


def test_a_community_of_several_has_its_own_dashboard(two_communities):
    """Each community's figures are its own and add up to the store's; the communities
    are compared side by side; an unknown one names the parameter."""
    from planner.grids import make_grids
    from planner.network import build_walk_graph

    store = two_communities
    a, b = store.read("community")["community_code"].astype(str)
    graph = build_walk_graph(store)
    whole = dashboard.dashboard(store, stations=dashboard.EXISTING, graph=graph)
    parts = {
        code: dashboard.dashboard(store, stations=dashboard.EXISTING, graph=graph, community=code)
        for code in (a, b)
    }
    assert whole["community"] is None
    assert [c["community_code"] for c in whole["communities"]] == [a, b]
    # Side by side, the two halves of the tiled area: the east one starts where the west ends.
    west, east = (c["bbox"] for c in whole["communities"])
    assert west[2] == pytest.approx(east[0]) and west[0] < east[0]
    for code, part in parts.items():
        assert part["community"] == code
        assert all(g["grid_code"].startswith(code) for g in part["tables"]["grids"])
        assert all(z["zone_code"].startswith(code) for z in part["tables"]["zones"])
        chart = part["charts"]["grid_households"]["grids"]
        assert {g["grid_code"] for g in chart} == {g["grid_code"] for g in part["tables"]["grids"]}
    for measure in ("grids", "grids_in_range", "staff_needed", "households_total"):
        total = sum(p["headline"]["existing"][measure] for p in parts.values())
        assert total == whole["headline"]["existing"][measure], measure
    view = {code: p["coverage"][dashboard.EXISTING] for code, p in parts.items()}
    assert (
        sum(v["households_covered"] for v in view.values())
        == (whole["coverage"][dashboard.EXISTING]["households_covered"])
    )
    assert sum(len(v["building_band"]["ids"]) for v in view.values()) == len(
        whole["coverage"][dashboard.EXISTING]["building_band"]["ids"]
    )

    compared = dashboard.communities_view(store)
    rows = {r["community_code"]: r for r in compared["communities"]}
    assert list(rows) == [a, b]
    for code, part in parts.items():
        head = part["headline"]["existing"]
        assert rows[code]["grids"] == head["grids"]
        assert rows[code]["in_range"] == head["grids_in_range"]
        assert rows[code]["households"] == head["households_total"]
        assert rows[code]["on_features_share"] is not None
    assert compared["totals"]["grids"] == whole["headline"]["existing"]["grids"]

    with pytest.raises(InputError) as caught:
        dashboard.dashboard(store, graph=graph, community="nowhere")
    assert caught.value.param == "community"

    # Plans compared for one community: another community's redraw changes nothing of it.
    before = current_version(store)
    make_grids(store, community=b, max_households=450)
    mine = dashboard.compare_plans(store, before, before + 1, community=a)
    assert mine["changes"] == [] and mine["households_moved"] == 0
    theirs = dashboard.compare_plans(store, before, before + 1, community=b)
    assert theirs["changes"] and all(c["grid_code"].startswith(b) for c in theirs["changes"])
