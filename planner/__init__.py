"""网格与党群服务站规划 — the grid and service-station planner's engine, as a library.

A community's layers live in one store (:class:`Store`): a GeoPackage file, or a shared
PostGIS database given as a ``postgresql://`` URL (:mod:`planner.postgis`). The steps a
notebook calls take the store (or layers) and return plain reports, writing their layers
back in one all-or-nothing write:

>>> import planner
>>> store, report = planner.run_demo("beijing_tsinghua", store_path="tsinghua.gpkg")
>>> planner.make_grids(store, max_households=450)["grids"]  # doctest: +SKIP
>>> planner.coverage(store)["households_covered"]  # doctest: +SKIP

Without a store, on layers in memory (a what-if that writes nothing):

>>> layers = {n: store.read_metric(n) for n in ("community", "buildings", "roads")}
>>> grids, buildings = planner.draw_grids(layers, max_households=450)  # doctest: +SKIP
>>> planner.viz.plot_map({"grids": grids, "roads": layers["roads"]})  # doctest: +SKIP

Data: :class:`Store`, :func:`copy_store` (e.g. a GeoPackage into PostGIS),
:func:`import_osm`, :func:`import_layer`, :func:`apply_roster`,
:func:`estimate_households`, :func:`demo_area`. Grids: :func:`make_blocks`,
:func:`make_grids`, :func:`draw_grids` (no store), :func:`rebalance`,
:func:`check`, :func:`check_and_fix`, :func:`detect_edge_areas`,
:func:`assign_edge_areas`, :mod:`planner.plan_versions`. Walking and stations:
:func:`build_walk_graph` (``.to_networkx()`` for osmnx), :func:`coverage`,
:func:`walk_to_stations` (no store), :func:`reach_matrix`, :func:`isochrones`,
:func:`site_stations`
and the models :class:`LSCP`, :class:`MCLP`, :class:`PMedian`. Errors a user can fix
are :class:`PlannerError` (and its kinds in :mod:`planner.errors`). The planning rules
(households per grid, walking minutes, tolerances) are in :mod:`planner.settings`, read
when a step runs: ``planner.settings.settings.grid.max_households = 450``. Maps:
:mod:`planner.viz` (static with a scale bar and Chinese labels; interactive and offline).
Many areas at once: :func:`run_batch` runs the whole pipeline for each as a task on
dask.distributed, one store each, and compares them in a summary.

Names load when first used, so ``import planner`` stays quick.
"""

from __future__ import annotations

import importlib
import sys
import types
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("grid-planner")
except metadata.PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

#: Public name → the module that defines it.
_EXPORTS = {
    "Store": "planner.store",
    "copy_store": "planner.store",
    "PlannerError": "planner.errors",
    "ConflictError": "planner.errors",
    "import_osm": "planner.pipeline",
    "import_layer": "planner.pipeline",
    "apply_roster": "planner.pipeline",
    "run_demo": "planner.pipeline",
    "run_batch": "planner.batch",
    "demo_area": "planner.pipeline",
    "make_blocks": "planner.blocks",
    "estimate_households": "planner.households",
    "make_grids": "planner.grids",
    "draw_grids": "planner.grids",
    "rebalance": "planner.grids",
    "check": "planner.topology",
    "check_and_fix": "planner.topology",
    "detect_edge_areas": "planner.edge_areas",
    "assign_edge_areas": "planner.edge_areas",
    "build_walk_graph": "planner.network",
    "coverage": "planner.coverage",
    "isochrones": "planner.coverage",
    "walk_to_stations": "planner.coverage",
    "reach_matrix": "planner.network",
    "site_stations": "planner.siting",
    "LSCP": "planner.siting",
    "MCLP": "planner.siting",
    "PMedian": "planner.siting",
}

#: Modules loaded on first use as ``planner.<name>``.
_SUBMODULES = ("viz",)

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"planner.{name}")
    if name not in _EXPORTS:
        msg = f"module 'planner' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


class _Package(types.ModuleType):
    """The package, keeping its public functions when a same-named module loads."""

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing ``planner.coverage`` would bind the module over ``planner.coverage``,
        # the function; ``from planner.coverage import ...`` still finds the module.
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
