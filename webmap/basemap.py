"""Optional tile basemaps. None by default: the store's roads, buildings and water are the base."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.errors import PlannerError

__all__ = ["BASEMAPS", "basemap_settings"]

#: Known basemaps. Gaode serves GCJ-02 tiles: the map then shifts features for display
#: (planner.crs.wgs84_to_gcj02); the data itself stays WGS84.
BASEMAPS: dict[str, dict[str, Any]] = {
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": "© OpenStreetMap contributors",
        "maxZoom": 19,
        "gcj02": False,
    },
    "tianditu": {
        # 天地图 vector tiles in Web Mercator; needs a key (tk).
        "url": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
        "&VERSION=1.0.0&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
        "subdomains": "01234567",
        "attribution": "© 天地图 Tianditu",
        "maxZoom": 18,
        "gcj02": False,
        "needs_key": True,
    },
    "gaode": {
        "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1"
        "&style=8&x={x}&y={y}&z={z}",
        "subdomains": "1234",
        "attribution": "© 高德地图 AutoNavi",
        "maxZoom": 18,
        "gcj02": True,
    },
}


def basemap_settings(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tile layer the page should show, from ``BASEMAP`` and ``BASEMAP_KEY``; None = none.

    Raises
    ------
    PlannerError
        For an unknown basemap name or a missing key.
    """
    choice = config.get("BASEMAP")
    if not choice:
        return None
    if "{z}" in str(choice):
        return {
            "url": str(choice),
            "attribution": config.get("BASEMAP_ATTRIBUTION", ""),
            "maxZoom": 19,
            "gcj02": False,
            "subdomains": "abc",
        }
    if choice not in BASEMAPS:
        msg = f"unknown basemap {choice!r}; choose {', '.join(BASEMAPS)} or a {{z}}/{{x}}/{{y}} URL"
        raise PlannerError(msg, source="basemap")
    settings = dict(BASEMAPS[choice])
    key = config.get("BASEMAP_KEY", "")
    if settings.pop("needs_key", False):
        if not key:
            msg = f"basemap {choice!r} needs a key (BASEMAP_KEY / --basemap-key)"
            raise PlannerError(msg, source="basemap")
        settings["url"] = settings["url"].replace("{key}", key)
    settings.setdefault("subdomains", "abc")
    return settings
