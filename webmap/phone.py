"""The phone view (``/m``): nearest station on foot, my grid and its contacts, offline shell.

A thin shell over :mod:`planner.nearby`. The page (``/m``) draws only the viewport's
grids, stations, roads and buildings, with the few attributes it styles by; tapping
the map or locating oneself asks ``/api/nearby`` for the nearest counted station with
the walk drawn on the walking network, and for the grid there with its staff. Its web
manifest and service worker (``/m/manifest.webmanifest``, ``/m/sw.js``) make it
installable and keep the last area seen for use without a connection.

What each role receives is :mod:`planner.accounts`' policy: a viewer gets grid totals
and contacts, never a building's households or special-group counts; an anonymous
visitor of a public view gets stations and grid names, no figures and no contacts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    current_app,
    g,
    render_template,
    send_from_directory,
    session,
    url_for,
)

from planner import accounts
from planner.errors import MissingDataError
from planner.nearby import GridLookup, NearestStation
from planner_web.auth import current_role, requires
from planner_web.extensions import features
from planner_web.http import ApiError, float_arg, json_response
from planner_web.i18n import get_lang, messages
from planner_web.openapi import ok, operation

__all__ = ["MODULES", "PHONE_LAYERS", "bp", "grid_lookup", "handoff_links", "nearby_finder"]

bp = Blueprint("phone", __name__)

#: The phone page's ES modules (static/js/), preloaded by its page and cached by its worker.
MODULES: tuple[str, ...] = ("phone.js", "phone_map.js", "phone_sheet.js", "api.js",
                            "config.js", "dom.js", "i18n.js", "state.js")  # fmt: skip

#: The layers the phone map draws and the attributes each is drawn with (no figures).
PHONE_LAYERS: dict[str, tuple[str, ...]] = {
    "roads": ("highway",),
    "buildings": (),
    "grids": ("grid_code", "name"),
    "stations": ("station_id", "name", "status"),
}


@bp.get("/m")
@requires("view")
def phone_page():
    """The phone view: a full-height map with a bottom sheet."""
    source = features()
    role = current_role()
    static = url_for("static", filename="")
    page_config = {
        "lang": get_lang(),
        "messages": messages(),
        "name": source.store.name,
        "user": g.user,
        "role": role,
        "csrf_token": session.get("csrf") if g.via == "session" else None,
        "bounds": source.bounds(),
        "layers": {
            name: list(fields)
            for name, fields in PHONE_LAYERS.items()
            if name in source.names() and accounts.can_see_layer(role, name)
        },
        "urls": {
            "login": url_for("auth.login_page", next=url_for("phone.phone_page")),
            "logout": url_for("auth.logout"),
            "features": url_for("api.layer_features", name="__layer__"),
            "nearby": url_for("phone.nearby"),
            "search": url_for("api.search"),
            "worker": url_for("phone.service_worker"),
            "scope": url_for("phone.phone_page"),
            "map": url_for("pages.map_page"),
        },
        # The files the service worker keeps for use without a connection.
        "shell": [
            url_for("phone.phone_page"),
            url_for("phone.manifest"),
            static + "vendor/leaflet/leaflet.js",
            static + "vendor/leaflet/leaflet.css",
            static + "phone.css",
            static + "icons/phone-192.png",
            *(static + "js/" + m for m in MODULES),
        ],
    }
    return render_template(
        "phone.html",
        page_config=page_config,
        store_name=source.store.name,
        modules=MODULES,
    )


@bp.get("/m/manifest.webmanifest")
def manifest():
    """The web manifest that makes the phone view installable."""
    data = {
        "name": messages()["m_title"],
        "short_name": messages()["m_short"],
        "lang": messages()["html_lang"],
        "start_url": url_for("phone.phone_page"),
        "scope": url_for("phone.phone_page"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b71c1c",
        "icons": [
            {
                "src": url_for("static", filename=f"icons/phone-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in (192, 512)
        ],
    }
    return json_response(data, mimetype="application/manifest+json")


@bp.get("/m/sw.js")
def service_worker():
    """The phone view's service worker (its scope is the page ``/m``)."""
    response = send_from_directory(
        Path(current_app.static_folder), "phone_sw.js", mimetype="text/javascript"
    )
    # The worker lives under /m/ but controls the page /m itself.
    response.headers["Service-Worker-Allowed"] = url_for("phone.phone_page")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/nearby")
@operation(
    "getNearby",
    "The nearest station on foot from a point (route, minutes) and the grid there",
    tags=["store"],
    query=["lon", "lat"],
    responses={"200": ok("The station, walk and grid"), "400": "Error"},
)
@requires("view")
def nearby():
    """Nearest counted station on foot from ``lon``/``lat``, the route, and the grid there.

    The station part is null (with ``station_error``) where no station can be reached;
    the grid part is null outside every grid. Contacts only for a logged-in user;
    station and grid attributes as the role may see them.
    """
    lon = float_arg("lon", None, minimum=-180, maximum=180)
    lat = float_arg("lat", None, minimum=-90, maximum=90)
    if lon is None or lat is None:
        missing = "lon" if lon is None else "lat"
        raise ApiError(400, "lon and lat are required (degrees, WGS 84)", param=missing)
    role = current_role()
    source = features()
    out: dict[str, Any] = {"lon": lon, "lat": lat, "station": None, "grid": None}
    try:
        walk = nearby_finder().walk_from(lon, lat).to_dict()
    except MissingDataError as exc:
        out["station_error"] = str(exc)
    else:
        shown = accounts.visible_fields(role, "stations")
        if shown is not None:
            route = walk.pop("route")
            walk = {k: v for k, v in walk.items() if k in shown or k not in _STATION_DETAIL}
            walk["route"] = route
        walk["handoff"] = handoff_links(walk["lon"], walk["lat"], walk.get("name") or "")
        out["station"] = walk
    if "grids" in source.names() and accounts.can_see_layer(role, "grids"):
        shown = accounts.visible_fields(role, "grids")
        contacts = g.user is not None and accounts.can_see_layer(role, "staff")
        out["grid"] = grid_lookup().at(lon, lat, contacts=contacts, fields=shown)
    response = json_response(out)
    # Contacts and a position: never kept by a shared cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response


#: Station attributes a public view may not receive (contacts and details).
_STATION_DETAIL = frozenset({"address", "opening_hours", "phone", "services", "contact"})


def handoff_links(lon: float, lat: float, name: str) -> dict[str, str]:
    """Links that hand a destination (WGS 84) to the phone's map app, walking.

    ``geo`` (Android's map chooser), ``amap`` (高德, told the coordinates are WGS 84) and
    ``baidu`` (百度, likewise); each opens the app or its web page.
    """
    label = quote(name or "服务站")
    return {
        "geo": f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({label})",
        "amap": (
            f"https://uri.amap.com/navigation?to={lon:.6f},{lat:.6f},{label}"
            "&mode=walk&coordinate=wgs84&callnative=1"
        ),
        "baidu": (
            f"https://api.map.baidu.com/direction?destination=latlng:{lat:.6f},{lon:.6f}"
            f"|name:{label}&mode=walking&coord_type=wgs84&output=html&src=grid-planner"
        ),
    }


_build_lock = threading.Lock()


def nearby_finder() -> NearestStation:
    """The application's :class:`~planner.nearby.NearestStation`, rebuilt when the store changes.

    Building it builds the walking graph (seconds on a community); every request of one
    store version shares it.
    """
    return _per_version("planner.nearby", NearestStation.from_store)


def grid_lookup() -> GridLookup:
    """The application's :class:`~planner.nearby.GridLookup`, rebuilt when the store changes."""
    return _per_version("planner.grid_lookup", GridLookup.from_store)


def _per_version(key: str, build: Any) -> Any:
    """``build(store)`` once per version of the store, shared by every request."""
    source = features()
    version = source.version
    cached = current_app.extensions.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    with _build_lock:
        cached = current_app.extensions.get(key)
        if cached is None or cached[0] != version:
            cached = (version, build(source.store))
            current_app.extensions[key] = cached
    return cached[1]
