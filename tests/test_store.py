"""The GeoPackage store: round trips, metadata, all-or-nothing writes."""

from __future__ import annotations

import hashlib
import sqlite3

import geopandas as gpd
import pytest
import shapely

from planner.errors import PlannerError
from planner.store import OSM_ATTRIBUTION, Store


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_keeps_every_layer(nanjing_store):
    for name in ("buildings", "roads", "compounds", "gates", "candidate_sites", "community"):
        before = nanjing_store.read(name)
        nanjing_store.write(name, before)
        after = nanjing_store.read(name)
        assert len(after) == len(before) > 0
        assert list(after.columns) == list(before.columns)
        assert after.geometry.geom_equals_exact(before.geometry, tolerance=1e-9).all()


def test_chinese_text_survives(nanjing_store):
    buildings = nanjing_store.read("buildings")
    buildings.loc[0, "name"] = "凯润金城6栋（东）"
    nanjing_store.write("buildings", buildings)
    assert nanjing_store.read("buildings").loc[0, "name"] == "凯润金城6栋（东）"
    assert nanjing_store.name == "南京新街口"


def test_metadata(nanjing_store):
    meta = nanjing_store.metadata
    assert meta["storage_crs"] == "EPSG:4326"
    assert meta["metric_crs"] == "EPSG:4549"  # CGCS2000 3-degree GK, CM 120E
    assert any(s.get("attribution") == OSM_ATTRIBUTION for s in meta["sources"])
    assert meta["created"] <= meta["updated"]


def test_refused_write_leaves_bytes_unchanged(nanjing_store):
    path = nanjing_store.path
    before = _digest(path)
    buildings = nanjing_store.read("buildings")
    duplicated = buildings.copy()
    duplicated.loc[1, "building_id"] = duplicated.loc[0, "building_id"]
    with pytest.raises(PlannerError, match="not unique"):
        nanjing_store.write("buildings", duplicated)
    empty_geom = buildings.copy()
    empty_geom.loc[3, "geometry"] = shapely.Polygon()
    with pytest.raises(PlannerError, match="empty or missing geometry"):
        nanjing_store.write("buildings", empty_geom)
    wrong_type = buildings.copy()
    wrong_type.loc[2, "geometry"] = shapely.Point(118.78, 32.04)
    with pytest.raises(PlannerError, match="geometry must be Polygon"):
        nanjing_store.write("buildings", wrong_type)
    assert _digest(path) == before


def test_crash_mid_write_leaves_previous_content(nanjing_store, monkeypatch):
    path = nanjing_store.path
    before = _digest(path)
    import planner.store as store_module

    real = store_module._write_frame
    calls = []

    def failing(target, name, frame):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        real(target, name, frame)

    monkeypatch.setattr(store_module, "_write_frame", failing)
    roads = nanjing_store.read("roads").iloc[:10]
    gates = nanjing_store.read("gates").iloc[:2]
    with pytest.raises(OSError, match="simulated"):
        nanjing_store.write_many({"roads": roads, "gates": gates})
    assert _digest(path) == before
    assert not list(path.parent.glob(".nanjing.*.gpkg"))  # the staged copy is cleaned up


def test_other_crs_is_converted(nanjing_store):
    gates = nanjing_store.read("gates")
    nanjing_store.write("gates", gates.to_crs(nanjing_store.metric_crs))
    back = nanjing_store.read("gates")
    assert back.crs.equals("EPSG:4326")
    assert shapely.equals_exact(back.geometry.to_numpy(), gates.geometry.to_numpy(), 1e-7).all()


def test_change_log_records_writes(nanjing_store):
    gates = nanjing_store.read("gates")
    nanjing_store.write(
        "gates", gates, log=[{"layer": "gates", "action": "edit", "reason": "测试"}]
    )
    log = nanjing_store.read("change_log")
    assert log.iloc[-1]["action"] == "edit" and log.iloc[-1]["reason"] == "测试"


def test_gdal_reads_the_store(nanjing_path):
    with sqlite3.connect(nanjing_path) as con:
        tables = {r[0] for r in con.execute("select table_name from gpkg_contents")}
    assert {"buildings", "roads", "community", "planner_metadata"} <= tables


def test_missing_and_broken_stores(tmp_path):
    with pytest.raises(PlannerError, match="store not found"):
        Store(tmp_path / "none.gpkg")
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage at all")
    with pytest.raises(PlannerError, match="not a planner GeoPackage"):
        Store(broken)


def test_read_missing_layer(tmp_path):
    store = Store.create(tmp_path / "new.gpkg", metric_crs="EPSG:4549", name="新社区")
    zones = store.read("zones")
    assert isinstance(zones, gpd.GeoDataFrame) and zones.empty and "zone_code" in zones
    with pytest.raises(PlannerError, match="no 'zones' layer"):
        store.read("zones", missing_ok=False)
    assert store.layers() == [] and store.summary()["households"]["total"] == 0
