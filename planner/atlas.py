"""A printable atlas of the plan (网格图册): an overview map and one page per grid.

Each grid's page shows its boundary on the map with the buildings, roads and stations
around it, a scale bar and a north arrow, and beside it the grid's figures: households,
buildings, 四维测评, the staff it needs and the stations its residents walk to — the
print layout an official would otherwise make in QGIS, in Chinese by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner.geometry import blank
from planner.progress import Progress, no_progress
from planner.viz import cjk_font, plot_map

if TYPE_CHECKING:
    from planner.store import Store

__all__ = ["write_atlas"]

#: Figures listed on a grid's page: field → (zh, en).
_FIGURES = {
    "households": ("户数", "households"),
    "buildings": ("楼栋数", "buildings"),
    "area_m2": ("面积(平方米)", "area (m²)"),
    "density": ("密度(户/公顷)", "density (households/ha)"),
    "special_groups": ("特殊人群", "special groups"),
    "places": ("场所", "places"),
    "grid_leaders": ("网格长", "grid leaders"),
    "fulltime_workers": ("专职网格员", "full-time workers"),
    "parttime_workers": ("兼职网格员", "part-time workers"),
    "building_leaders": ("楼长", "building leaders"),
}
_WORDS = {
    "overview": ("网格总览", "grids overview"),
    "grid": ("网格", "grid"),
    "zone": ("片区", "zone"),
    "stations": ("服务站", "stations"),
    "flag": ("标注", "flag"),
    "none": ("无", "none"),
    "households": ("户数", "households"),
}


def write_atlas(
    store: Store, path: str | Path, *, lang: str = "zh", progress: Progress = no_progress
) -> int:
    """Write the atlas as a PDF; return its number of pages.

    Parameters
    ----------
    store
        The store, with a grid plan.
    path
        The PDF to write.
    lang
        ``zh`` or ``en``.
    progress
        Called at each step.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    k = 0 if lang == "zh" else 1
    font = cjk_font()
    text = {"fontfamily": font} if font else {}
    crs = store.metric_crs
    names = ("community", "roads", "buildings", "stations", "grids")
    layers = {n: store.read(n).to_crs(crs) for n in names if store.has(n)}
    grids = layers["grids"]
    if "scenario" in grids:
        grids = grids[blank(grids["scenario"])]
    grids = grids.sort_values("grid_code").reset_index(drop=True)
    layers["grids"] = grids
    buildings = layers.get("buildings")
    per_grid = buildings.groupby("grid_code").size() if buildings is not None else pd.Series()
    stations_of = _stations_of(buildings, layers.get("stations"))
    title = store.name or store.path.stem
    with PdfPages(path, metadata={"Title": f"{title} {_WORDS['overview'][k]}"}) as pdf:
        progress("overview map")
        fig, ax = plt.subplots(figsize=(11.69, 8.27))  # A4 landscape
        plot_map(
            layers,
            column="households",
            labels="name",
            ax=ax,
            title=f"{title} · {_WORDS['overview'][k]}",
        )
        pdf.savefig(fig)
        plt.close(fig)
        pages = 1
        for row in grids.itertuples(index=False):
            progress(f"grid {row.grid_code}")
            fig = plt.figure(figsize=(11.69, 8.27))
            ax_map = fig.add_axes((0.02, 0.04, 0.62, 0.88))
            x0, y0, x1, y1 = row.geometry.bounds
            pad = 0.3 * max(x1 - x0, y1 - y0, 50.0)
            near = {n: f.cx[x0 - pad : x1 + pad, y0 - pad : y1 + pad] for n, f in layers.items()}
            plot_map(near, ax=ax_map, focus=row.geometry)
            name = row.name if isinstance(row.name, str) and row.name else row.grid_code
            fig.suptitle(f"{_WORDS['grid'][k]} {row.grid_code} · {name}", fontsize=14, **text)
            lines = [f"{_WORDS['zone'][k]}: {row.zone_code}"]
            values = row._asdict() | {"buildings": int(per_grid.get(row.grid_code, 0))}
            for field, label in _FIGURES.items():
                value = values.get(field)
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    continue
                shown = f"{value:,.0f}" if isinstance(value, int | float | np.number) else value
                lines.append(f"{label[k]}: {shown}")
            flag = values.get("flag")
            if isinstance(flag, str) and flag:
                lines.append(f"{_WORDS['flag'][k]}: {flag}")
            served = stations_of.get(row.grid_code, [])
            lines.append(f"{_WORDS['stations'][k]}: {'、'.join(served) or _WORDS['none'][k]}")
            fig.text(0.67, 0.88, "\n".join(lines), va="top", fontsize=11, linespacing=1.7, **text)
            pdf.savefig(fig)
            plt.close(fig)
            pages += 1
    return pages


def _stations_of(buildings, stations) -> dict[str, list[str]]:
    """Per grid code, the names of the stations its buildings' residents walk to."""
    if buildings is None or stations is None or "station_id" not in buildings or stations.empty:
        return {}
    names = stations.set_index("station_id")["name"]
    names = names[~blank(names)]  # a station without a name goes by its id
    pairs = buildings[["grid_code", "station_id"]].dropna().drop_duplicates()
    label = pairs["station_id"].map(names).fillna(pairs["station_id"]).astype(str)
    return label.groupby(pairs["grid_code"]).agg(lambda s: sorted(set(s))).to_dict()
