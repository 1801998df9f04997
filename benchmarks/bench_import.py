"""Import every shared OSM extract into a fresh store and print counts and times.

Times the whole import (read, classify, estimate households, write the store) and,
separately, the reading step (GDAL's OSM driver through pyogrio, vectorised repair)
against the obvious alternative for the same job, osmnx's offline
``features_from_xml`` with the same tag keys (.osm files only), printing the ratio.

Run: ``python benchmarks/bench_import.py``
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

from planner import config
from planner.ingest.osm import read_osm
from planner.pipeline import import_osm
from planner.store import Store


def main() -> None:
    osm_dir = config.DATA_DIR / "osm"
    files = sorted(p for p in osm_dir.iterdir() if p.name.endswith((".osm", ".pbf")))
    header = f"{'extract':<28}{'import s':>9}{'read s':>8}{'osmnx s':>9}{'ratio':>7}  counts"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            store_path = Path(tmp) / f"{path.stem}.gpkg"
            started = time.perf_counter()
            _, report = import_osm(path, store_path)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            read_osm(path)
            read_seconds = time.perf_counter() - started
            baseline = _osmnx_features(path)
            ratio = f"{baseline / read_seconds:6.1f}x" if baseline else "   n/a"
            base = f"{baseline:9.2f}" if baseline else "      n/a"
            summary = Store(store_path).summary()
            counts = " ".join(
                f"{k}={v['count']}" for k, v in summary["layers"].items() if k != "change_log"
            )
            print(
                f"{path.name:<28}{seconds:9.2f}{read_seconds:8.2f}{base}{ratio}  {counts} "
                f"households={summary['households']['total']}"
            )


TAGS = dict.fromkeys(
    [
        "building",
        "highway",
        "barrier",
        "landuse",
        "railway",
        "waterway",
        "natural",
        "amenity",
        "office",
        "entrance",
    ],
    True,
)


def _osmnx_features(path: Path) -> float | None:
    """Seconds osmnx takes to read the same kinds of features (None for .pbf files)."""
    if path.suffix != ".osm":
        return None
    import osmnx as ox

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ox.features_from_xml(path, tags=TAGS)
        except Exception:  # osmnx raises when a file has no matching features
            return None
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
