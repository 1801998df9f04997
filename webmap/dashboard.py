"""The officials' dashboard (数据看板): the page ``/dashboard`` and its JSON routes.

Thin views over :mod:`planner.dashboard`: ``GET /api/dashboard`` (coverage by the
existing stations and by a scenario, headline figures with their difference, the
report's tables of grids, zones and findings, chart data), ``GET
/api/dashboard/compare`` (two plan versions: grids changed, households moved, coverage
and staff before and after), ``GET /api/dashboard/curve`` (households covered by 0, 1,
2… new stations, MCLP) and ``GET /api/dashboard/communities`` (a store's communities
side by side: households, grids in range, boundary on features, coverage, staff). The
dashboard and the comparison take ``?community=`` (code or name) where the store holds
several: that community's figures alone; an unknown one is 404 naming ``community``.
Everything needs ``read_all`` (officials and above): the tables carry per-building
households and special groups. Downloads are the existing routes of
:mod:`planner_web.downloads`.

The answers take seconds (a walking graph, a topology check, solver runs), so each is
kept until the store changes: :class:`DashboardCache` holds them per store version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request, session, url_for

from planner import dashboard as engine
from planner import plan_versions
from planner.errors import InputError
from planner.network import build_walk_graph
from planner.store import Store
from planner_web.auth import requires
from planner_web.extensions import features
from planner_web.http import ApiError, check_query, int_arg, json_response
from planner_web.i18n import get_lang, messages, values
from planner_web.openapi import ok, operation

__all__ = ["DashboardCache", "bp"]

bp = Blueprint("dashboard", __name__)

#: Key of the cache in ``app.extensions``.
CACHE = "planner.dashboard"


class DashboardCache:
    """Computed dashboard answers for one version of the store, each made once.

    A request for an answer another thread is computing waits for it rather than
    computing it again; a new store version drops everything.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._values: dict[Any, Any] = {}
        self._busy: dict[Any, threading.Lock] = {}

    def get(self, version: str, key: Any, compute: Callable[[], Any]) -> Any:
        """The answer ``key`` for store ``version``, computed by ``compute`` if not kept."""
        with self._lock:
            if version != self._version:
                self._version, self._values, self._busy = version, {}, {}
            if key in self._values:
                return self._values[key]
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:
            with self._lock:
                if self._version == version and key in self._values:
                    return self._values[key]
            value = compute()
            with self._lock:
                if self._version == version:
                    self._values[key] = value
            return value


@bp.record_once
def _init(state: Any) -> None:
    app: Flask = state.app
    app.extensions[CACHE] = DashboardCache()


@bp.before_request
def _check_api_query() -> None:
    # The page takes ?lang=; the JSON routes take only what their operation declares.
    if request.path.startswith("/api/"):
        check_query()


def _cached(key: Any, compute: Callable[[Store], Any]) -> Any:
    """``compute(store)`` for the store as it is now, kept until it changes."""
    cache: DashboardCache = current_app.extensions[CACHE]
    version = features().version
    store = Store(current_app.config["STORE"])
    return cache.get(version, key, lambda: compute(store))


def _graph() -> Any:
    return _cached("graph", build_walk_graph)


def _stations_arg() -> str | None:
    """The ``stations`` query parameter: a station set the store has (404 otherwise)."""
    key = request.args.get("stations")
    if key is None:
        return None
    known = [s["key"] for s in _cached("sets", engine.station_sets)]
    if key not in known:
        msg = f"no station set {key!r}; this store has: {', '.join(known)}"
        raise ApiError(404, msg, code="not_found", param="stations")
    return key


def _community_arg() -> str | None:
    """The ``community`` query parameter as the code of one of the store's communities:
    None when not given or the store holds one; 404 for one it does not hold."""
    community = request.args.get("community")
    if community is None:
        return None
    try:
        return plan_versions.community_scope(Store(current_app.config["STORE"]), community)
    except InputError as exc:
        raise ApiError(404, exc.message, code="not_found", param="community") from None


@bp.get("/dashboard")
@requires("read_all")
def page():
    """The dashboard page: figures, tables, map, charts, plan comparison and downloads."""
    source = features()
    page_config = {
        "lang": get_lang(),
        "messages": messages(),
        "values": values(),
        "name": source.store.name,
        "user": g.user,
        "role": g.get("role"),
        "csrf_token": session.get("csrf") if g.via == "session" else None,
        "has_plan": source.store.has("grids"),
        "page_limit": current_app.config["API_MAX_LIMIT"],
        "urls": {
            "map": url_for("pages.map_page"),
            "login": url_for("auth.login_page"),
            "logout": url_for("auth.logout"),
            "layers": url_for("api.layers"),
            "features": url_for("api.layer_features", name="__layer__"),
            "dashboard": url_for("dashboard.summary"),
            "compare": url_for("dashboard.compare"),
            "curve": url_for("dashboard.curve"),
            "communities": url_for("dashboard.communities"),
            "versions": url_for("plan.versions"),
            "report": url_for("downloads.report"),
            "export": url_for("downloads.export", name="__layer__"),
        },
    }
    return render_template("dashboard.html", page_config=page_config, store_name=source.store.name)


@bp.get("/api/dashboard")
@operation(
    "getDashboard",
    "The officials' dashboard: coverage by existing stations and a scenario, headline "
    "figures with the difference, grids, zones and findings, chart data",
    tags=["store"],
    query=["stationSet", "community"],
    responses={"200": ok("The dashboard's data"), "400": "Error", "404": "Error"},
)
@requires("read_all")
def summary():
    """Coverage by the existing stations and by ``stations`` (default the latest scenario),
    of the whole store or of one ``community``."""
    key = _stations_arg()
    code = _community_arg()
    if not features().store.has("grids"):
        raise ApiError(404, "the store has no grid plan yet; run `planner grids`", param="")
    graph = _graph()
    data = _cached(
        ("summary", key, code),
        lambda s: engine.dashboard(s, stations=key, graph=graph, community=code),
    )
    return json_response(data)


@bp.get("/api/dashboard/compare")
@operation(
    "compareDashboardPlans",
    "Two plan versions compared: grids changed, households moved, coverage and staff "
    "before and after",
    tags=["plan"],
    query=["versionA", "versionB", "stationSet", "community"],
    responses={"200": ok("The comparison from a to b"), "400": "Error", "404": "Error"},
)
@requires("read_all")
def compare():
    """Plan version ``a`` (default: the one before ``b``) against ``b`` (default: current)."""
    key = _stations_arg()
    code = _community_arg()
    store = Store(current_app.config["STORE"])
    known = set(plan_versions.list_versions(store)["plan_version"].astype(int))
    if not known:
        raise ApiError(404, "the store has no plan versions yet", code="not_found", param="a")
    current = plan_versions.current_version(store)
    new = int_arg("b", current, minimum=0)
    earlier = [v for v in known if v < new]
    old = int_arg("a", max(earlier) if earlier else new, minimum=0)
    for name, version in (("a", old), ("b", new)):
        if version not in known:
            raise ApiError(404, f"no plan version {version}", code="not_found", param=name)
    graph = _graph()

    def run(s: Store) -> dict[str, Any]:
        if key == engine.EXISTING:
            cover = engine.coverage_view(s, existing_only=True, graph=graph, community=code)
        else:
            cover = engine.coverage_view(s, scenario=key, graph=graph, community=code)
        return engine.compare_plans(s, old, new, cover=cover, community=code)

    return json_response(_cached(("compare", old, new, key, code), run))


@bp.get("/api/dashboard/curve")
@operation(
    "getCoverageCurve",
    "Households covered by the best placement of 0, 1, 2… new stations (MCLP)",
    tags=["analysis"],
    responses={"200": ok("The curve"), "400": "Error"},
)
@requires("read_all")
def curve():
    """The MCLP curve until every household a site can reach is covered (at most 20)."""
    graph = _graph()
    return json_response(_cached("curve", lambda s: engine.mclp_curve(s, graph=graph)))


@bp.get("/api/dashboard/communities")
@operation(
    "compareCommunities",
    "The store's communities side by side: households, grids in range, boundary on "
    "features, coverage, stations, staff",
    tags=["store"],
    responses={"200": ok("One row per community, and the totals")},
)
@requires("read_all")
def communities():
    """Every community's figures, comparable with the others' (one row for a store of one)."""
    return json_response(_cached("communities", engine.communities_view))
