"""Static and interactive maps of a store's layers, offline."""

from __future__ import annotations

import re

import matplotlib
import pytest

from planner import viz
from planner.errors import InputError
from planner.store import Store

matplotlib.use("Agg")

LAYERS = ("community", "grids", "roads", "buildings", "stations", "edge_areas")


@pytest.fixture(scope="module")
def layers(tsinghua_path):
    store = Store(tsinghua_path)
    return {n: store.read(n) for n in LAYERS}


def test_static_map_has_scale_bar_north_arrow_and_chinese_labels(layers, tmp_path):
    ax = viz.plot_map(layers, column="households", labels="name", title="网格户数")
    texts = [t.get_text() for t in ax.texts]
    assert any(re.fullmatch(r"\d+(\.\d+)? (m|km)", t) for t in texts)  # the scale bar
    assert "北" in texts or "N" in texts  # the north arrow
    names = set(layers["grids"]["name"].astype(str))
    assert names <= set(texts)
    if viz.cjk_font():
        label = next(t for t in ax.texts if t.get_text() in names)
        assert label.get_fontfamily() == [viz.cjk_font()]
    assert len(ax.figure.axes) == 2  # the map and the households colour bar
    out = tmp_path / "map.png"
    ax.figure.savefig(out, dpi=60)
    assert out.stat().st_size > 10_000


def test_static_map_names_a_missing_column(layers):
    with pytest.raises(InputError, match="no column 'nope'"):
        viz.plot_map(layers, column="nope")
    with pytest.raises(InputError, match="empty"):
        viz.plot_map({"grids": layers["grids"].iloc[:0]})


def test_interactive_map_loads_nothing_from_the_internet(layers, tmp_path):
    m = viz.explore_map(layers, column="households")
    out = tmp_path / "map.html"
    m.save(str(out))
    html = out.read_text(encoding="utf-8")
    # No script, stylesheet, image or tile from another host.
    assert not re.findall(r"""<(?:script|link|img)[^>]+(?:src|href)=["']?(?:https?:)?//""", html)
    assert "cdn" not in html.lower().replace("leaflet-geoman", "")
    assert "tile.openstreetmap" not in html
    assert "L.map(" in html or "L.map (" in html
    assert "var L" in html or "window.L" in html  # Leaflet itself inlined
    for code in layers["grids"]["grid_code"].head(3):
        assert code in html
