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


def _typed(values: list) -> list:
    """Values with their types; missing ones (None or NaN, as pandas leaves them) as None."""
    return [None if pd.isna(v) else (type(v), v) for v in values]


def _columns(frame: pd.DataFrame) -> dict[str, list]:
    return {c: frame[c].tolist() for c in frame.columns if c != "geometry"}


def test_conform_columns_gives_what_conform_gives():
    """The fast path for a few rows: the same values, types and order as conform()."""
    frame = _buildings(
        楼长电话=["138", None],
        households=["12", None],  # text: parsed as conform parses it
        levels=[2.5, float("nan")],
        covered=["是", None],
        name=[7, 8],  # numbers as text
    )
    slow = schema.conform("buildings", frame).drop(columns="geometry")
    fast = schema.conform_columns("buildings", _columns(frame))
    assert list(fast) == list(slow.columns)
    for column, values in fast.items():
        assert _typed(values) == _typed(slow[column].tolist()), column
    assert fast["households"] == [12, 0] and fast["covered"] == [True, False]
    assert fast["name"] == ["7", "8"]


def test_validate_columns_words_problems_as_validate():
    bad = _buildings(category=["residential", "castle"])
    bad.loc[1, "building_id"] = "1"
    bad.loc[0, "geometry"] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    columns = schema.conform_columns("buildings", _columns(bad))
    fast = schema.validate_columns("buildings", columns, bad.geometry.to_numpy(), bad.crs)
    assert fast == schema.validate("buildings", schema.conform("buildings", bad))
    assert len(fast) == 3
    no_geometry = schema.validate_columns("buildings", columns)
    assert no_geometry == [*fast[:2], "buildings: the layer has no geometry column"]


def test_markdown_documents_every_layer():
    text = schema.markdown()
    for name, layer in schema.LAYERS.items():
        assert f"`{name}` — {layer.zh}" in text


def test_layers_readme_matches_the_schema():
    readme = (config.ROOT / "layers" / "README.md").read_text(encoding="utf-8")
    assert schema.markdown() in readme, "regenerate layers/README.md from planner/schema.py"
