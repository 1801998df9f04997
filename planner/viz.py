"""Maps of a community's layers for notebooks and reports (地图).

Two kinds, both offline:

- :func:`plot_map`: a static map (matplotlib) with a scale bar, a north arrow and
  Chinese labels in the installed CJK font, for reports and printouts;
- :func:`explore_map`: an interactive map (folium, as ``GeoDataFrame.explore``) with the
  web map's own vendored Leaflet inlined into the page, so the saved HTML loads nothing
  from the internet (no tiles, no CDN).

Both take layers as a mapping of layer name → GeoDataFrame (e.g. ``{n: store.read(n)
for n in ("grids", "roads", "stations")}``) and draw them in a fixed order with a
style per layer (:data:`STYLES`); layers unknown to the schema are drawn plainly.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

from planner.errors import InputError, MissingDataError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import folium
    from matplotlib.axes import Axes

__all__ = ["STYLES", "cjk_font", "explore_map", "leaflet_assets", "plot_map"]

#: Drawing order (bottom first) and style of the layers the planner keeps.
STYLES: dict[str, dict[str, Any]] = {
    "community": {"facecolor": "none", "edgecolor": "#333333", "linewidth": 1.6},
    "blocks": {"facecolor": "none", "edgecolor": "#bbbbbb", "linewidth": 0.3},
    "compounds": {"facecolor": "#f3efe0", "edgecolor": "#c9bf95", "linewidth": 0.4},
    "grids": {"facecolor": "none", "edgecolor": "#1f5fa8", "linewidth": 1.0},
    "edge_areas": {"facecolor": "none", "edgecolor": "#d98c00", "hatch": "///", "linewidth": 0.4},
    "roads": {"color": "#9a9a9a", "linewidth": 0.6},
    "barriers": {"color": "#6b4f2a", "linewidth": 0.5},
    "buildings": {"facecolor": "#c8c8c8", "edgecolor": "#8c8c8c", "linewidth": 0.2},
    "candidate_sites": {"color": "#7a7a7a", "markersize": 8, "marker": "^"},
    "stations": {"color": "#c0392b", "markersize": 40, "marker": "*"},
}

#: Font families tried, in order, for Chinese text (Debian: fonts-noto-cjk).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "SimHei")


@cache
def cjk_font() -> str | None:
    """The first installed font family of :data:`CJK_FAMILIES` (None: none installed)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


def _metric(layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """The non-empty layers in one metric CRS (the first layer's, or its UTM zone)."""
    frames = {name: frame for name, frame in layers.items() if frame is not None and len(frame)}
    if not frames:
        raise InputError("nothing to draw: every layer is empty", param="layers")
    first = next(iter(frames.values()))
    if first.crs is None:
        raise InputError("the layers have no CRS", param="layers")
    crs = first.estimate_utm_crs() if first.crs.is_geographic else first.crs
    return {name: frame.to_crs(crs) for name, frame in frames.items()}


def _ordered(names: list[str]) -> list[str]:
    known = [n for n in STYLES if n in names]
    return known + [n for n in names if n not in STYLES]


def plot_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    column: str | None = None,
    labels: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] = (9.0, 9.0),
    cmap: str = "YlOrRd",
    focus: Any = None,
) -> Axes:
    """Draw layers as a static map with a scale bar and a north arrow.

    Parameters
    ----------
    layers
        Layer name → GeoDataFrame (any CRS; reprojected to one metric CRS).
    column
        A column of the ``grids`` layer to colour grids by (e.g. ``households``),
        with a colour bar; None: grid outlines only.
    labels
        A column of the ``grids`` layer written at each grid's centre (e.g. ``name``
        or ``grid_code``); Chinese text uses the installed CJK font.
    title
        Title of the map.
    ax
        Axes to draw on; None: a new figure of ``figsize``.
    figsize, cmap
        Figure size (inches) and colour map.
    focus
        A polygon (in the first layer's CRS, which must then be metric) the map is
        framed on and outlined in bold, e.g. one grid of an atlas.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_map({n: store.read(n) for n in ("grids", "roads")}, column="households")
    ... # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    frames = _metric(layers)
    font = cjk_font()
    text = {"fontfamily": font} if font else {}
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    for name in _ordered(list(frames)):
        frame = frames[name]
        style = dict(STYLES.get(name, {"color": "#555555", "linewidth": 0.5}))
        if name == "grids" and column is not None:
            if column not in frame:
                msg = f"the grids layer has no column {column!r}"
                raise InputError(msg, param="column")
            style = {"edgecolor": "#1f5fa8", "linewidth": 0.8, "alpha": 0.75}
            frame.plot(column=column, cmap=cmap, legend=True, ax=ax, **style)
            continue
        frame.plot(ax=ax, **style)
    if labels is not None and "grids" in frames:
        grids = frames["grids"]
        if labels not in grids:
            msg = f"the grids layer has no column {labels!r}"
            raise InputError(msg, param="labels")
        points = grids.geometry.representative_point()
        for point, value in zip(points, grids[labels], strict=True):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            ax.annotate(
                str(value),
                (point.x, point.y),
                ha="center",
                va="center",
                fontsize=7,
                color="#10345e",
                **text,
            )
    if focus is not None:
        x0, y0, x1, y1 = focus.bounds
        pad = 0.08 * max(x1 - x0, y1 - y0, 1.0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
        crs = next(iter(frames.values())).crs
        gpd.GeoSeries([focus], crs=crs).boundary.plot(ax=ax, color="#c0392b", linewidth=2.4)
    _scale_bar(ax)
    _north_arrow(ax, font)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, **text)
    return ax


def _scale_bar(ax: Axes) -> None:
    """A bar of a round length (1, 2 or 5 × 10ⁿ m) near 1/5 of the map's width."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    exponent = 10 ** np.floor(np.log10(target))
    length = max(m * exponent for m in (1, 2, 5) if m * exponent <= target)
    left, bottom = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot(
        [left, left + length], [bottom, bottom], color="black", linewidth=3, solid_capstyle="butt"
    )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(
        label,
        (left + length / 2, bottom),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _north_arrow(ax: Axes, font: str | None) -> None:
    """An arrow pointing up (the metric CRS's grid north) with 北 / N."""
    ax.annotate(
        "北" if font else "N",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        arrowprops={"facecolor": "black", "width": 3, "headwidth": 9},
        **({"fontfamily": font} if font else {}),
    )


def leaflet_assets() -> tuple[str, str]:
    """The vendored Leaflet (JavaScript, CSS) the web map serves, as text.

    Found beside the installed web application (``planner_web/static/vendor``)
    without importing it (the engine does not import Flask).
    """
    spec = importlib.util.find_spec("planner_web")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        folder = Path(root) / "static" / "vendor" / "leaflet"
        if (folder / "leaflet.js").exists():
            return (
                (folder / "leaflet.js").read_text(encoding="utf-8"),
                (folder / "leaflet.css").read_text(encoding="utf-8"),
            )
    msg = "the vendored Leaflet was not found (planner_web/static/vendor/leaflet); reinstall"
    raise MissingDataError(msg)


def _tooltip(frame: gpd.GeoDataFrame) -> list[str] | bool:
    wanted = ("name", "grid_code", "households", "station_id", "walk_m", "flag", "kind")
    fields = [c for c in wanted if c in frame.columns]
    return fields or False


def explore_map(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    column: str | None = None,
    cmap: str = "YlOrRd",
) -> folium.Map:
    """An interactive map of the layers that works offline (no tiles, no CDN).

    Each layer is added with ``GeoDataFrame.explore`` and can be switched on and off;
    Leaflet is the web map's vendored copy, inlined in the page. Save it with
    ``m.save("map.html")``; in a notebook it shows inline.

    Parameters
    ----------
    layers
        Layer name → GeoDataFrame (any CRS).
    column
        A column of the ``grids`` layer to colour grids by; None: outlines.
    cmap
        Colour map for ``column``.

    Returns
    -------
    folium.Map
    """
    import folium

    js, css = leaflet_assets()
    frames = {n: f.to_crs(4326) for n, f in _metric(layers).items()}
    west, south, east, north = np.array([f.total_bounds for f in frames.values()]).T
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # Folium links Leaflet, jQuery and Bootstrap from CDNs by default: none of them load
    # offline, and only Leaflet is needed for what is drawn here.
    m.default_js, m.default_css = [], []
    m.get_root().header.add_child(folium.Element(f"<style>{css}</style><script>{js}</script>"))
    for name in _ordered(list(frames)):
        frame = frames[name]
        style = STYLES.get(name, {})
        colour = style.get("edgecolor", style.get("color", "#555555"))
        options: dict[str, Any] = {
            "m": m,
            "name": name,
            "tooltip": _tooltip(frame),
            "legend": False,
            "style_kwds": {"color": colour, "weight": 1, "fillOpacity": 0.15},
            "marker_type": "circle_marker",
            "marker_kwds": {"radius": 5 if name == "stations" else 3},
        }
        if name == "grids" and column is not None:
            options |= {"column": column, "cmap": cmap, "style_kwds": {"weight": 1}}
        elif name in ("community", "grids"):
            options["style_kwds"] |= {"fillOpacity": 0.0, "weight": 2}
        frame.explore(**options)
    folium.LayerControl().add_to(m)
    m.fit_bounds([[south.min(), west.min()], [north.max(), east.max()]])
    return m
