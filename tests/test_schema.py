"""The layer schema: conform and validate."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from planner import config, schema


def _buildings(**columns) -> gpd.GeoDataFrame:
    base = {"building_id": ["1", "2"]}
    base.update(columns)
    geoms = [shapely.box(118.0, 32.0, 118.001, 32.001), shapely.box(118.002, 32.0, 118.003, 32.001)]
    return gpd.GeoDataFrame(base, geometry=geoms, crs="EPSG:4326")


def test_every_issue_layer_is_defined():
    required = {
        "community",
        "zones",
        "grids",
        "compounds",
        "buildings",
        "roads",
        "barriers",
        "gates",
        "stations",
        "candidate_sites",
        "edge_areas",
        "blocks",
    }
    assert required <= set(schema.LAYERS)
    for layer in schema.LAYERS.values():
        assert layer.zh and all(f.zh for f in layer.fields)


def test_conform_adds_fields_and_keeps_unknown_ones():
    frame = schema.conform("buildings", _buildings(楼长电话=["138", None], households=["12", None]))
    assert frame["households"].tolist() == [12, 0]
    assert "楼长电话" in frame.columns  # unknown fields are kept, not dropped
    assert frame.columns[-1] == "geometry"
    assert frame["covered"].dtype == bool


def test_validate_reports_readable_problems():
    assert schema.validate("buildings", schema.conform("buildings", _buildings())) == []
    bad = _buildings(category=["residential", "castle"])
    bad.loc[1, "building_id"] = "1"
    bad.loc[0, "geometry"] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    problems = schema.validate("buildings", bad)
    text = " | ".join(problems)
    assert "not unique" in text
    assert "castle" in text
    assert "invalid geometry in rows 1" in text
    wrong_crs = schema.validate("buildings", _buildings().to_crs(3857))
    assert any("expected EPSG:4326" in p for p in wrong_crs)
    missing = schema.validate("stations", pd.DataFrame({"name": ["x"]}))
    assert any("'station_id'" in p for p in missing)


def test_markdown_documents_every_layer():
    text = schema.markdown()
    for name, layer in schema.LAYERS.items():
        assert f"`{name}` — {layer.zh}" in text


def test_layers_readme_matches_the_schema():
    readme = (config.ROOT / "layers" / "README.md").read_text(encoding="utf-8")
    assert schema.markdown() in readme, "regenerate layers/README.md from planner/schema.py"
