"""Importing GIS files into layers, and refusing bad ones without touching the store."""

from __future__ import annotations

import hashlib
import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from planner.cli import run
from planner.ingest.files import read_file
from planner.store import Store


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sites(nanjing_path) -> gpd.GeoDataFrame:
    """Real points: building centroids from the Nanjing store, with Chinese names."""
    buildings = Store(nanjing_path).read("buildings").iloc[:20]
    pts = buildings.geometry.to_crs(4549).centroid.to_crs(4326)
    return gpd.GeoDataFrame(
        {"名称": [f"物业用房{i}号" for i in range(20)], "kind": "property_room", "备注": "空置"},
        geometry=pts.to_numpy(),
        crs=4326,
    )


@pytest.mark.parametrize(
    ("suffix", "driver", "crs"),
    [
        (".geojson", "GeoJSON", 4326),
        (".gpkg", "GPKG", 4490),
        (".fgb", "FlatGeobuf", 4549),
        (".kml", "KML", 4326),
    ],
)
def test_vector_formats(nanjing_store, sites, tmp_path, suffix, driver, crs):
    path = tmp_path / f"sites{suffix}"
    pyogrio.write_dataframe(sites.to_crs(crs), path, driver=driver)
    assert (
        run(["import", str(path), "--store", str(nanjing_store.path), "--layer", "candidate_sites"])
        == 0
    )
    read = nanjing_store.read("candidate_sites")
    assert len(read) == 20
    # Same places after reprojection (some formats reorder features).
    distance = shapely.distance(read.geometry.to_numpy()[:, None], sites.geometry.to_numpy())
    assert distance.min(axis=1).max() < 1e-7
    if driver != "KML":  # KML keeps only name/description
        assert set(read["name"]) == set(sites["名称"])
        assert "备注" in read.columns  # unknown fields kept


def test_zipped_shapefile_in_gauss_kruger(nanjing_store, sites, tmp_path):
    shp = tmp_path / "shp" / "sites.shp"
    shp.parent.mkdir()
    pyogrio.write_dataframe(sites.to_crs(4549), shp, encoding="UTF-8")
    archive = tmp_path / "sites.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in shp.parent.iterdir():
            z.write(f, f.name)
    assert (
        run(
            [
                "import",
                str(archive),
                "--store",
                str(nanjing_store.path),
                "--layer",
                "candidate_sites",
            ]
        )
        == 0
    )
    assert nanjing_store.count("candidate_sites") == 20


def test_csv_lonlat_and_xlsx_wkt(nanjing_store, sites, tmp_path):
    table = pd.DataFrame({"name": sites["名称"], "lon": sites.geometry.x, "lat": sites.geometry.y})
    csv = tmp_path / "sites.csv"
    table.to_csv(csv, index=False, encoding="utf-8-sig")
    assert len(read_file(csv).frame) == 20
    xlsx = tmp_path / "sites.xlsx"
    pd.DataFrame({"名称": sites["名称"], "WKT": sites.geometry.to_wkt()}).to_excel(
        xlsx, index=False
    )
    assert (
        run(["import", str(xlsx), "--store", str(nanjing_store.path), "--layer", "candidate_sites"])
        == 0
    )
    assert nanjing_store.read("candidate_sites")["name"].iloc[0] == "物业用房0号"


def test_empty_and_invalid_geometries_are_counted(sites, tmp_path):
    frame = sites.copy()
    frame.loc[0, "geometry"] = None
    bowtie = shapely.Polygon(
        [(118.78, 32.04), (118.79, 32.05), (118.79, 32.04), (118.78, 32.05), (118.78, 32.04)]
    )
    polys = gpd.GeoDataFrame(
        {"n": [1, 2, 3]},
        geometry=[bowtie, shapely.box(118.78, 32.04, 118.781, 32.041), shapely.Polygon()],
        crs=4326,
    )
    path = tmp_path / "polys.geojson"
    polys.to_file(path)
    read = read_file(path)
    assert read.repaired == 1 and read.dropped_empty == 1
    assert read.frame.geometry.is_valid.all() and len(read.frame) == 2


BAD_INPUTS = {
    "broken.geojson": ("text", '{"type": "FeatureCollection", "features": [ {"type": '),
    "empty.geojson": ("text", ""),
    "swapped.csv": ("text", "name,lon,lat\n甲,32.04,118.78\n乙,32.05,118.79\n"),
    "nocoords.csv": ("text", "name,户数\n甲,3\n"),
    "degrees_as_metres.gpkg": ("frame", 4549),
    "noprj.shp": ("frame", None),
    "outofrange.csv": ("text", "name,lon,lat\n甲,500000,3500000\n"),
    "lines.geojson": ("frame", "lines"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_files_exit_2_and_leave_store_unchanged(nanjing_store, sites, tmp_path, capsys, name):
    kind, content = BAD_INPUTS[name]
    path = tmp_path / name
    if kind == "text":
        path.write_text(content, encoding="utf-8")
    elif content == "lines":
        lines = gpd.GeoDataFrame(
            geometry=[shapely.LineString([(118.78, 32.04), (118.79, 32.05)])], crs=4326
        )
        lines.to_file(path)
    elif content is None:
        pyogrio.write_dataframe(sites.to_crs(4549), path)
        path.with_suffix(".prj").unlink()
    else:
        pyogrio.write_dataframe(sites.set_crs(content, allow_override=True), path)
    before = _digest(nanjing_store.path)
    code = run(
        ["import", str(path), "--store", str(nanjing_store.path), "--layer", "candidate_sites"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("planner: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err
    assert _digest(nanjing_store.path) == before
    if name == "swapped.csv":
        assert "swapped" in err


def test_unknown_layer_is_refused(nanjing_store, tmp_path, capsys):
    path = tmp_path / "x.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    assert run(["import", str(path), "--store", str(nanjing_store.path), "--layer", "castles"]) == 2
    assert "--layer must be one of" in capsys.readouterr().err


def test_community_from_gis_files_only(nanjing_path, tmp_path):
    """A community that brings its own files (no OSM): boundary, buildings with 户数, roads."""
    source = Store(nanjing_path)
    buildings = source.read("buildings")[["building_id", "name", "households", "geometry"]]
    buildings = buildings.rename(columns={"building_id": "楼栋编号", "households": "户数"})
    buildings.to_crs(4549).to_file(tmp_path / "buildings.gpkg")  # CGCS2000 Gauss-Kruger
    source.read("roads")[["name", "highway", "geometry"]].to_file(tmp_path / "roads.geojson")
    source.read("community")[["name", "geometry"]].to_file(tmp_path / "boundary.geojson")
    store = tmp_path / "c.gpkg"
    for name, layer in (
        ("boundary.geojson", "community"),
        ("buildings.gpkg", "buildings"),
        ("roads.geojson", "roads"),
    ):
        assert run(["import", str(tmp_path / name), "--store", str(store), "--layer", layer]) == 0
    read = Store(store).read("buildings")
    # Every 户数 in the file is a count (0 for shops included), none is estimated.
    assert (read["households_source"] == "roster").all()
    assert read["households"].sum() == buildings["户数"].sum()
    assert Store(store).read("roads")["walkable"].all()
    assert run(["grids", str(store)]) == 0
    assert run(["coverage", str(store), "--json"]) == 0


@pytest.mark.parametrize("layer", ["candidate_sites", "compounds"])
def test_nan_coordinate_exit_2_naming_the_feature(nanjing_store, tmp_path, capsys, layer):
    """One NaN coordinate among valid features: one line naming it; the store unchanged."""
    x, y = 118.78, 32.04
    if layer == "candidate_sites":
        geoms = [[x, y], ["NaN", y]]
        kind = "Point"
    else:
        geoms = [[[[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y]]]] * 2
        geoms[1] = [[[x, y], ["NaN", y], [x + 0.001, y + 0.001], [x, y]]]
        kind = "Polygon"
    features = ",".join(
        f'{{"type":"Feature","properties":{{"name":"site {i}"}},'
        f'"geometry":{{"type":"{kind}","coordinates":{json.dumps(g).replace(chr(34), "")}}}}}'
        for i, g in enumerate(geoms)
    )
    path = tmp_path / "nan.geojson"
    path.write_text(f'{{"type":"FeatureCollection","features":[{features}]}}')
    before = hashlib.md5(nanjing_store.path.read_bytes()).hexdigest()
    assert run(["import", str(path), "--store", str(nanjing_store.path), "--layer", layer]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "feature 2 (name=site 1)" in err[0] and "NaN" in err[0]
    assert hashlib.md5(nanjing_store.path.read_bytes()).hexdigest() == before


def test_osm_style_levels_and_height_fields(nanjing_path, tmp_path):
    """building:levels and height in a buildings file give levels, as OSM import does."""
    source = Store(nanjing_path).read("buildings")
    sample = source[source["levels_source"].isin(["tag", "height"])].head(60)
    tagged = (sample["levels_source"] == "tag").to_numpy()
    frame = gpd.GeoDataFrame(
        {
            "name": sample["name"].to_numpy(),
            "building": sample["building_type"].to_numpy(),
            "building:levels": np.where(tagged, sample["levels"].astype(int).astype(str), None),
            "height": np.where(tagged, np.nan, sample["levels"].to_numpy() * 3.0),
        },
        geometry=sample.geometry.to_numpy(),
        crs=source.crs,
    )
    frame.to_file(tmp_path / "buildings.geojson")
    store = tmp_path / "s.gpkg"
    args = ["import", str(tmp_path / "buildings.geojson"), "--store", str(store)]
    assert run([*args, "--layer", "buildings"]) == 0
    read = Store(store).read("buildings")
    assert read["levels"].to_numpy() == pytest.approx(sample["levels"].to_numpy())
    assert list(read["levels_source"]) == list(np.where(tagged, "tag", "height"))
    assert list(read["building_type"]) == list(sample["building_type"])
