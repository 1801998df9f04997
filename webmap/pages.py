"""Pages: the map (``/``) and the API docs (``/api/docs``), from vendored assets only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, session, url_for

from planner import accounts
from planner.reasons import translate
from planner.store import Store
from planner_web.auth import current_role, requires
from planner_web.basemap import basemap_settings
from planner_web.extensions import features
from planner_web.i18n import get_lang, messages, values

__all__ = ["bp", "communities_config"]

bp = Blueprint("pages", __name__)


@bp.get("/")
@requires("view")
def map_page():
    """The map of the layers the role may see, with layer switcher, legend, pop-ups and search."""
    source = features()
    role = current_role()
    page_config = {
        "lang": get_lang(),
        "messages": messages(),
        "values": {**values(), **_flag_values(source)},
        "name": source.store.name,
        "user": g.user,
        "role": role,
        # The session's CSRF token, which the page's POSTs and DELETEs send back.
        "csrf_token": session.get("csrf") if g.via == "session" else None,
        "urls": {
            "login": url_for("auth.login_page"),
            "logout": url_for("auth.logout"),
            "layers": url_for("api.layers"),
            "features": url_for("api.layer_features", name="__layer__"),
            "feature": url_for("api.feature", name="__layer__", feature_id="__id__"),
            "tile": url_for("api.layer_tile", name="__layer__", z=0, x=0, y=0).replace(
                "/0/0/0", "/__z__/__x__/__y__"
            ),
            "summary": url_for("api.summary"),
            "search": url_for("api.search"),
            "analysis": url_for("api.analysis_steps"),
            "jobs": url_for("api.job_list"),
            "plan": url_for("plan.plan"),
            "plan_versions": url_for("plan.versions"),
            "plan_diff": url_for("plan.diff"),
            "plan_rollback": url_for("plan.rollback"),
            "plan_publish": url_for("plan.publish"),
        },
        "basemap": basemap_settings(current_app.config),
        # The most features one request may ask for (the editor's brush loads a view's blocks).
        "page_limit": current_app.config["API_MAX_LIMIT"],
        "tiled_layer_min": int(current_app.config["TILED_LAYER_MIN"]),
        "analysis_enabled": bool(current_app.config["ANALYSIS_ENABLED"])
        and accounts.allowed(role, "analyse"),
        "editable": bool(current_app.config["ANALYSIS_ENABLED"])
        and accounts.allowed(role, "edit")
        and source.store.has("grids"),
        # The versions panel: listed to whoever may read the plan, published by admins.
        "plan_readable": accounts.allowed(role, "read") and source.store.has("grids"),
        "publishable": bool(current_app.config["ANALYSIS_ENABLED"])
        and accounts.allowed(role, "publish"),
        # The officials' dashboard, linked from the header for whoever may read every figure.
        "dashboard_url": url_for("dashboard.page") if accounts.allowed(role, "read_all") else None,
        # The store's communities: where it holds several, a selector scopes the editor
        # and the versions panel to one of them.
        "communities": communities_config(source.store),
    }
    return render_template(
        "map.html", page_config=page_config, store_name=source.store.name, modules=_modules()
    )


def communities_config(store: Store) -> list[dict[str, Any]]:
    """The store's communities for a page's selector: ``community_code``, ``name`` and
    ``bbox`` (lon/lat, to zoom to), in the store's order."""
    if not store.has("community"):
        return []
    frame = store.read("community")
    return [
        {
            "community_code": str(code),
            "name": name if isinstance(name, str) and name else str(code),
            "bbox": [round(float(v), 7) for v in geom.bounds],
        }
        for code, name, geom in zip(
            frame["community_code"], frame["name"], frame.geometry, strict=True
        )
        if geom is not None and not geom.is_empty
    ]


def _flag_values(source) -> dict[str, str]:
    """The grids' flags (reasons the engine writes in English) in the page's language."""
    if "grids" not in source.names():
        return {}
    frame = source.layer("grids").frame
    if "flag" not in frame:
        return {}
    flags = frame["flag"].dropna().astype(str).unique()
    return {f"flag:{f}": translate(f, get_lang()) for f in flags if f.strip()}


def _modules() -> list[str]:
    """The map's ES modules (static/js/*.js, less the phone view's own), for the page to preload."""
    return sorted(
        p.name
        for p in (Path(current_app.static_folder) / "js").glob("*.js")
        if not p.name.startswith("phone")
    )


@bp.get("/api/docs")
def docs():
    """The OpenAPI document rendered by the vendored Swagger UI (no network)."""
    return render_template("docs.html", spec_url=url_for("api.openapi"))


@bp.get("/favicon.ico")
def favicon():
    """No icon file: answer empty so browsers log no error."""
    return Response(status=204)
