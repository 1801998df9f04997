"""The objects an application shares between requests, and the accessors views reach them by.

:func:`init_app` makes them when the application is built; the blueprints call
:func:`features` and :func:`job_manager`. Keeping these here, not in the package's
``__init__`` (which imports the blueprints to register them), means no module of
the package imports ``planner_web`` itself.
"""

from __future__ import annotations

from flask import Flask, current_app

from planner_web.features import FeatureSource
from planner_web.jobs import JobManager

__all__ = ["FEATURES", "JOBS", "features", "init_app", "job_manager"]

#: Keys of the shared objects in ``app.extensions``.
FEATURES = "planner.features"
JOBS = "planner.jobs"


def init_app(app: Flask) -> None:
    """Open the store's feature cache and start the analysis job queue of ``app``."""
    store = app.config["STORE"]
    app.extensions[FEATURES] = FeatureSource(
        store,
        tile_budget=int(app.config["TILE_FEATURE_BUDGET"]),
        seed_zoom=int(app.config["TILE_SEED_ZOOM"]),
    )
    app.extensions[JOBS] = JobManager(store, queue_limit=app.config["JOB_QUEUE_LIMIT"])


def features(app: Flask | None = None) -> FeatureSource:
    """The :class:`~planner_web.features.FeatureSource` of the current (or given) application."""
    return (app or current_app).extensions[FEATURES]


def job_manager(app: Flask | None = None) -> JobManager:
    """The :class:`~planner_web.jobs.JobManager` of the current (or given) application."""
    return (app or current_app).extensions[JOBS]
