"""Editing the plan: paint units, split, merge, lock, households; preview; versioned saves."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import plan_versions
from planner.cli import run
from planner.errors import ConflictError, InputError
from planner.pipeline import apply_roster, reestimate
from planner.plan_commit import current_rows
from planner.plan_edit import EditRefused, PlanEditor
from planner.store import Store
from tests.conftest import ROSTER_DIR


def _digest(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _border_block(store: Store) -> tuple[str, str, str, int]:
    """A block with households on a grid border: (block, its grid, the neighbour, households)."""
    grids = store.read_metric("grids").set_index("grid_code")
    blocks = store.read_metric("blocks")
    blocks = blocks[blocks["households"] > 0].sort_values("households")
    for row in blocks.itertuples():
        others = grids.drop(index=row.grid_code)
        shared = shapely.length(
            shapely.intersection(
                shapely.boundary(row.geometry), shapely.buffer(others.geometry.to_numpy(), 0.5)
            )
        )
        if shared.max() > 5:
            return row.block_id, row.grid_code, others.index[int(np.argmax(shared))], row.households
    raise AssertionError("no block on a grid border")


def _split_case(path) -> tuple[str, list[list[float]], object]:
    """A grid and a road across it that splits it without touching a building: (code,
    the line's points in lon/lat, a point inside the grid away from the line)."""
    store = Store(path)
    editor = PlanEditor(store)
    grids = editor.context.grids.set_index("grid_code")
    metric = store.metric_crs
    roads = store.read("roads")
    for code in grids["households"].sort_values(ascending=False).index[:40]:
        grid = grids.geometry[code]
        crossing = roads[roads.intersects(grid) & ~roads.within(grid.buffer(-0.0001))]
        for road in crossing.geometry:
            inside = road.intersection(grid.buffer(0.0003))
            if inside.geom_type != "LineString" or inside.length < 0.002:
                continue
            line = shapely.simplify(inside, 0.00005)
            coords = [[round(x, 7), round(y, 7)] for x, y in line.coords]
            if len(coords) > 8:
                continue
            try:
                preview = editor.preview(
                    [{"op": "split", "grid": code, "line": shapely.geometry.mapping(line)}]
                )
            except EditRefused:
                continue
            if len(preview["created"]) != 1:
                continue
            # A point well inside the grid, clear of the line, to pick the grid with.
            area = gpd.GeoSeries([grid], crs=4326).to_crs(metric)
            away = area.buffer(-15).difference(
                gpd.GeoSeries([line], crs=4326).to_crs(metric).buffer(40).iloc[0]
            )
            if away.is_empty.iloc[0]:
                continue
            return code, coords, away.to_crs(4326).representative_point().iloc[0]
    raise AssertionError("no grid of the demo is crossed by a road that splits it cleanly")


def test_paint_a_block_into_a_neighbour_preview_then_save(nanjing_store):
    store = nanjing_store
    block, home, neighbour, households = _border_block(store)
    before = store.read("grids").set_index("grid_code")["households"]
    editor = PlanEditor(store)
    edits = [{"op": "assign", "units": [block], "to": neighbour}]
    digest = _digest(store.path)

    preview = editor.preview(edits)
    assert _digest(store.path) == digest  # a preview writes nothing
    assert preview["grids"][neighbour]["households"] == before[neighbour] + households
    assert preview["grids"][home]["households"] == before[home] - households
    assert set(preview["grids"]) == {home, neighbour}
    assert {"in_range", "staff", "covered_share", "on_features"} <= set(preview["grids"][home])

    version = editor.version
    report = editor.save(version, edits, message="按小区边界调整", user="张三")
    assert report["version"] == version + 1 and not report["rebased"]
    assert report["grids_changed"] == 2  # only what changed is written
    fresh = Store(store.path)
    grids = fresh.read("grids")
    assert shapely.coverage_is_valid(grids.geometry.to_numpy())
    after = grids.set_index("grid_code")["households"]
    assert after[neighbour] == before[neighbour] + households
    buildings = fresh.read("buildings")
    assert set(buildings.loc[buildings["block_id"] == block, "grid_code"]) == {neighbour}
    log = fresh.read("change_log")
    assert log["action"].iloc[-1].startswith("edit assign") or "edit assign" in set(log["action"])
    assert "张三" in set(log["user"].dropna())


def test_split_merge_delete_and_lock(nanjing_store):
    store = nanjing_store
    editor = PlanEditor(store)
    grids = editor.context.grids.set_index("grid_code")
    code = str(grids["households"].idxmax())
    buildings = editor.context.plan.buildings
    inside = buildings[buildings["grid_code"] == code]
    big = inside.loc[inside.geometry.area.idxmax()]
    # A line through the middle of the grid's largest building is refused, naming it.
    centre = gpd.GeoSeries([big.geometry.centroid], crs=buildings.crs).to_crs(4326).iloc[0]
    west, south, east, north = grids.geometry[code].bounds
    line = {
        "type": "LineString",
        "coordinates": [[centre.x, south - 0.002], [centre.x, centre.y], [centre.x, north + 0.002]],
    }
    with pytest.raises(EditRefused, match=str(big["building_id"])):
        editor.preview([{"op": "split", "grid": code, "line": line}])

    # Merging two neighbours keeps the first code; the second is removed.
    others = grids.drop(index=code)
    touching = others.index[shapely.intersects(others.geometry.to_numpy(), grids.geometry[code])]
    merged = editor.preview([{"op": "merge", "grids": [code, touching[0]]}])
    assert merged["removed"] == [touching[0]]
    assert merged["grids"][code]["households"] == int(
        grids.loc[code, "households"] + grids.loc[touching[0], "households"]
    )

    # A locked grid refuses to change until unlocked.
    editor.save(editor.version, [{"op": "lock", "grid": code}])
    with pytest.raises(EditRefused, match="locked"):
        editor.preview([{"op": "merge", "grids": [touching[0], code]}])
    editor.save(editor.version, [{"op": "unlock", "grid": code}])
    deleted = editor.preview([{"op": "delete", "grid": code}])
    assert deleted["removed"] == [code]
    assert deleted["counts"]["gaps"] >= 1 or deleted["counts"]["unassigned_buildings"] >= 1


def test_two_planners_on_one_version_the_second_save_is_refused_or_rebased(nanjing_store):
    store = nanjing_store
    block, home, neighbour, _ = _border_block(store)
    version = plan_versions.current_version(store)
    first, second = PlanEditor(Store(store.path)), PlanEditor(Store(store.path))
    first.save(version, [{"op": "assign", "units": [block], "to": neighbour}])
    digest = _digest(store.path)
    with pytest.raises(ConflictError) as refused:
        second.save(version, [{"op": "rename", "grid": home, "name": "改名"}])
    assert refused.value.version == version + 1
    assert home in refused.value.changed
    assert _digest(store.path) == digest
    far = next(
        c for c in Store(store.path).read("grids")["grid_code"] if c not in (home, neighbour)
    )
    report = second.save(version, [{"op": "rename", "grid": far, "name": "第一网格"}])
    assert report["rebased"] and report["version"] == version + 2


def test_a_manual_household_figure_wins_over_estimates_and_rosters(nanjing_store, tmp_path):
    store = nanjing_store
    buildings = store.read("buildings")
    from_roster = buildings[buildings["households_source"] == "roster"].iloc[0]
    building = str(from_roster["building_id"])
    editor = PlanEditor(store)
    editor.save(
        editor.version,
        [{"op": "households", "building": building, "value": 7, "reason": "入户核实"}],
    )
    reestimate(Store(store.path))
    report = apply_roster(Store(store.path), ROSTER_DIR / "nanjing_xinjiekou_roster.csv")
    row = Store(store.path).read("buildings").set_index("building_id").loc[building]
    assert row["households"] == 7 and row["households_source"] == "manual"
    assert report["manual_kept"] == 1
    assert report["manual_differs"] == [
        {"building_id": building, "manual": 7, "roster": int(from_roster["households"])}
    ]
    grids = Store(store.path).read("grids")
    totals = Store(store.path).read("buildings").groupby("grid_code")["households"].sum()
    current = grids[current_rows(grids)].set_index("grid_code")["households"]
    assert (totals.reindex(current.index).fillna(0).astype(int) == current).all()


def test_bad_edits_are_user_errors(nanjing_store, tmp_path, capsys):
    editor = PlanEditor(nanjing_store)
    for edits, words in [
        ([], "non-empty list"),
        ([{"op": "paint"}], "`op` must be one of"),
        ([{"op": "assign", "units": ["nope"], "to": "nope"}], "no grid"),
        ([{"op": "households", "building": "nope", "value": 3}], "no building"),
    ]:
        with pytest.raises(InputError, match=words):
            editor.preview(edits)
    bad = tmp_path / "edits.json"
    bad.write_text("{not json", encoding="utf-8")
    digest = _digest(nanjing_store.path)
    assert run(["plan", str(nanjing_store.path), "edit", str(bad)]) == 2
    assert "cannot read the edits" in capsys.readouterr().err
    assert _digest(nanjing_store.path) == digest


def test_cli_edit_preview_and_save(nanjing_store, tmp_path, capsys):
    block, home, neighbour, households = _border_block(nanjing_store)
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps([{"op": "assign", "units": [block], "to": neighbour}]))
    path = str(nanjing_store.path)
    assert run(["plan", path, "edit", str(edits), "--preview", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert set(preview["grids"]) == {home, neighbour}
    assert run(["plan", path, "edit", str(edits), "--by", "李四", "--message", "调整"]) == 0
    assert "saved as plan version" in capsys.readouterr().out
    log = Store(path).read("change_log")
    assert pd.Series(log["user"]).eq("李四").any()


def test_a_split_along_a_road_saves_as_a_new_version(nanjing_store):
    store = nanjing_store
    code, coords, _ = _split_case(store.path)
    editor = PlanEditor(store)
    before = store.count("grids")
    edits = [{"op": "split", "grid": code, "line": {"type": "LineString", "coordinates": coords}}]
    report = editor.save(editor.version, edits, message="沿道路分割")
    assert len(report["created"]) == 1
    fresh = Store(store.path)
    grids = fresh.read("grids")
    assert fresh.count("grids") == before + 1
    assert {code, *report["created"]} <= set(grids["grid_code"])
    zones = fresh.read("zones")
    assert zones.geometry.is_valid.all()


def test_reshape_a_grid_by_hand(nanjing_store):
    """A hand-drawn outline takes the area it gains from the neighbour and leaves what it
    gives up in no grid, for the check to report; a bad outline is refused."""
    store = nanjing_store
    block, home, neighbour, households = _border_block(store)
    editor = PlanEditor(store)
    grids = editor.context.grids.set_index("grid_code")
    blocks = editor.context.blocks
    piece = blocks.geometry[block]
    # The neighbour's outline grown over the block, as vertex editing would draw it.
    grown = shapely.union(grids.geometry[neighbour], piece)
    preview = editor.preview(
        [{"op": "reshape", "grid": neighbour, "geometry": shapely.geometry.mapping(grown)}]
    )
    before = grids["households"]
    assert preview["grids"][neighbour]["households"] == before[neighbour] + households
    assert preview["grids"][home]["households"] == before[home] - households
    assert preview["counts"]["overlaps"] == 0
    # Drawn over the neighbour without taking its land: the check reports the overlap.
    kept = editor.preview(
        [
            {
                "op": "reshape",
                "grid": neighbour,
                "geometry": shapely.geometry.mapping(grown),
                "take": False,
            }
        ]
    )
    assert kept["counts"]["overlaps"] >= 1
    assert kept["grids"].keys() == {neighbour}

    shrunk = shapely.difference(grids.geometry[home], piece)
    preview = editor.preview(
        [{"op": "reshape", "grid": home, "geometry": shapely.geometry.mapping(shrunk)}]
    )
    # the block is left in no grid (its buildings may still reach into the grid)
    assert preview["grids"][home]["households"] <= before[home]
    assert preview["counts"]["gaps"] >= 1

    line = {"type": "LineString", "coordinates": [[118.78, 32.04], [118.79, 32.05]]}
    with pytest.raises(InputError, match="GeoJSON Polygon"):
        editor.preview([{"op": "reshape", "grid": home, "geometry": line}])
    far = shapely.box(100.0, 10.0, 100.01, 10.01)
    with pytest.raises(EditRefused, match="no area inside the community"):
        editor.preview([{"op": "reshape", "grid": home, "geometry": shapely.geometry.mapping(far)}])
    report = editor.save(
        editor.version,
        [{"op": "reshape", "grid": neighbour, "geometry": shapely.geometry.mapping(grown)}],
    )
    assert report["grids_changed"] == 2
    log = Store(store.path).read("change_log")
    assert "edit reshape" in set(log["action"])


def test_after_a_save_the_editor_goes_on_with_the_saved_version_unread(nanjing_store, monkeypatch):
    """The editor saving a version edits that one next without reading the store again;
    the saved plan's check, made again where the save changed it, is the full check's."""
    from planner.plan_edit import PlanContext
    from planner.topology.checks import check

    store = nanjing_store
    block, home, neighbour, households = _border_block(store)
    original = store.read("grids").set_index("grid_code")["households"]
    editor = PlanEditor(store)
    editor.check()  # the session's opening check, which the next one is made from
    version = editor.version
    loads = []
    real = PlanContext.load.__func__
    monkeypatch.setattr(
        PlanContext, "load", classmethod(lambda cls, s: loads.append(s) or real(cls, s))
    )
    first = editor.save(version, [{"op": "assign", "units": [block], "to": neighbour}])
    assert editor.version == first["version"] == version + 1
    assert editor.context.current()
    saved = editor.check()
    expected = check(Store(store.path))
    assert saved["counts"] == expected.counts()
    assert saved["findings"]["totals"] == expected.to_json()["totals"]
    # A further edit on the saved version is previewed and saved as the next version.
    back = [{"op": "assign", "units": [block], "to": home}]
    assert editor.preview(back)["grids"][home]["households"] > 0
    second = editor.save(editor.version, back)
    assert second["version"] == version + 2 and not second["rebased"]
    assert loads == []  # neither save nor the check read the store afresh
    grids = Store(store.path).read("grids").set_index("grid_code")["households"]
    assert grids[home] == original[home] and grids[neighbour] == original[neighbour]
    assert first["grids_changed"] == 2 and households > 0
    assert editor.check()["counts"] == check(Store(store.path)).counts()

    # A write by another lands: the editor reads the store again before the next edit.
    PlanEditor(Store(store.path)).save(
        version + 2, [{"op": "rename", "grid": home, "name": "别人改的名"}]
    )
    assert not editor.context.current()
    editor.preview(back)
    assert len(loads) == 2  # the other editor's own, then this one's
    assert editor.version == version + 3
