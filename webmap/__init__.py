"""The web map: a Flask application over one planner store (pages, REST API, OGC API – Features).

``create_app({"STORE": "layers/demo.gpkg"})`` builds the application; ``planner
serve STORE`` runs it under waitress. Views are thin: they parse the request,
call :mod:`planner` (through the feature cache of :mod:`planner_web.features` and
:mod:`planner.pipeline`) and return JSON, GeoJSON or a page. No request leaves
the server unless a basemap URL is configured.

The blueprints (:mod:`~planner_web.pages`, :mod:`~planner_web.api`,
:mod:`~planner_web.ogc`) reach the application's shared objects through
:mod:`planner_web.extensions`; nothing in the package imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from planner.settings import settings
from planner.store import store_location
from planner_web import (
    api,
    auth,
    dashboard,
    downloads,
    extensions,
    http,
    i18n,
    ogc,
    pages,
    phone,
    plan_api,
)

__all__ = ["DEFAULTS", "STATIC_DIR", "VENDOR_FILES", "create_app", "missing_assets"]

#: Settings and their defaults; override any of them in ``create_app(config)``.
DEFAULTS: dict[str, Any] = {
    # The store served (a planner GeoPackage). Required.
    "STORE": None,
    # Interface language by default: "zh" (简体中文) or "en".
    "DEFAULT_LANG": "zh",
    # Basemap: None (the store's own roads, buildings and water are the base), "osm",
    # "tianditu" (needs BASEMAP_KEY, the tk), "gaode" (GCJ-02 tiles: features are shifted
    # for display only), or a tile URL template with {z}/{x}/{y}.
    "BASEMAP": None,
    "BASEMAP_KEY": "",
    "BASEMAP_ATTRIBUTION": "",
    # Paging of the REST API and OGC API – Features.
    "API_DEFAULT_LIMIT": 1000,
    "API_MAX_LIMIT": 10000,
    "OGC_DEFAULT_LIMIT": 100,
    # The map page loads a layer of more features than this by map tile (GET
    # /api/layers/<name>/tiles/z/x/y, made once per layer version, generalised when dense)
    # instead of by viewport: a district's 100k buildings cost a view what 1k do.
    "TILED_LAYER_MIN": 5000,
    # Most features a map tile sends as they are; a denser tile is generalised to cells.
    "TILE_FEATURE_BUDGET": 1000,
    # On the first tile asked of a layer, its tiles down to this zoom (the few and dear
    # ones) are made in the background; -1 = only when asked.
    "TILE_SEED_ZOOM": 15,
    # Analysis runs (POST /api/analysis/<step>) as background jobs; False = read-only server.
    "ANALYSIS_ENABLED": True,
    # Request bodies (uploads, grid edits) are refused (413) above this size; None =
    # planner.settings.settings.limits.upload_max_bytes.
    "MAX_CONTENT_LENGTH": None,
    # gzip responses of at least this many bytes when the client accepts it (ISA-L, level 0-3).
    "COMPRESS_MIN_SIZE": 500,
    "COMPRESS_LEVEL": 1,
    # Send a Content-Security-Policy that only allows this server (and the basemap host).
    "CSP": True,
    # Anonymous visitors see stations and grid boundaries (no figures, no contacts) rather
    # than only the login page.
    "PUBLIC_VIEW": False,
    # Host headers answered besides localhost, 127.0.0.1 and ::1 (DNS rebinding guard):
    # the bind address (BIND_HOST) and the names of ALLOWED_HOSTS.
    "BIND_HOST": None,
    "ALLOWED_HOSTS": (),
    # Signs session cookies; None = a new random key per start (sessions end with it).
    "SECRET_KEY": None,
    "SESSION_COOKIE_SECURE": False,
    # Failed logins (form or basic auth) allowed per client address within the window.
    "LOGIN_MAX_FAILURES": 10,
    "LOGIN_WINDOW_SECONDS": 300,
    # Analysis jobs waiting behind the running one; more are refused with 429.
    "JOB_QUEUE_LIMIT": 5,
}


#: Front-end files the pages load, vendored from the npm packages of package-lock.json
#: (``make vendor``) so that an installed wheel serves a complete map with no Node.js.
VENDOR_FILES: tuple[str, ...] = (
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet-geoman/leaflet-geoman.min.js",
    "vendor/leaflet-geoman/leaflet-geoman.css",
    "vendor/swagger-ui/swagger-ui-bundle.js",
    "vendor/swagger-ui/swagger-ui.css",
)

#: Where the package's static files are.
STATIC_DIR = Path(__file__).resolve().parent / "static"


def missing_assets() -> list[str]:
    """The vendored front-end files (:data:`VENDOR_FILES`) this installation lacks."""
    return [name for name in VENDOR_FILES if not (STATIC_DIR / name).is_file()]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web map application.

    Parameters
    ----------
    config
        Settings overriding :data:`DEFAULTS`; ``STORE`` (the store's path, or its
        ``postgresql://`` URL) is required.

    Returns
    -------
    flask.Flask
    """
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if config:
        app.config.from_mapping(config)
    store = app.config["STORE"]
    if not store:
        msg = "create_app needs config STORE: a planner store (.gpkg path or postgresql:// URL)"
        raise ValueError(msg)
    app.config["STORE"] = str(store_location(store))  # a postgresql:// URL as given
    if app.config["MAX_CONTENT_LENGTH"] is None:
        app.config["MAX_CONTENT_LENGTH"] = settings.limits.upload_max_bytes
    # Chinese stays readable in every JSON answer.
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    extensions.init_app(app)
    http.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    app.register_blueprint(plan_api.bp, url_prefix="/api/plan")
    app.register_blueprint(ogc.bp, url_prefix="/ogc")
    app.register_blueprint(downloads.bp, url_prefix="/api")
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(phone.bp)
    return app
