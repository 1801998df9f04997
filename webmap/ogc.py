"""OGC API – Features (Part 1: Core, GeoJSON, OpenAPI 3.0) over the store's spatial layers.

QGIS and GDAL (``ogrinfo OAPIF:http://host/ogc/``) read the layers directly.
Plain tables (change log, unmatched roster rows) are not features and are left
to the REST API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, request, url_for

from planner import schema
from planner_web.auth import can_see_layer, requires, visible_catalog, visible_fields
from planner_web.encoding import json_text
from planner_web.extensions import features
from planner_web.http import (
    GEOJSON,
    JSON,
    OPENAPI,
    ApiError,
    bbox_arg,
    check_query,
    int_arg,
    json_response,
    page_links,
    text_response,
)
from planner_web.openapi import ok, operation

__all__ = ["CONFORMANCE", "CRS84", "OGC_TAGS", "bp", "collection_names"]

bp = Blueprint("ogc", __name__)
bp.before_request(check_query)

#: The docs page groups every OGC route under this tag.
OGC_TAGS = ["OGC API – Features"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


def collection_names() -> list[str]:
    """Layers served as collections: the store's layers that have (or may have) geometry."""
    return [
        n
        for n in features().names()
        if (schema.LAYERS[n].geometry is not None or n == "findings") and can_see_layer(n)
    ]


def _link(rel: str, href: str, mimetype: str = JSON, title: str = "") -> dict[str, str]:
    link = {"rel": rel, "type": mimetype, "href": href}
    if title:
        link["title"] = title
    return link


@bp.get("/")
@operation(
    "getLandingPage",
    "Landing page",
    tags=OGC_TAGS,
    responses={"200": ok("Links")},
)
@requires("view")
def landing():
    """Landing page: links to the API definition, conformance and collections."""
    store = features().store
    title = f"{store.name} · 网格与党群服务站规划" if store.name else "网格与党群服务站规划"
    return json_response(
        {
            "title": title,
            "description": "OGC API – Features of a grid and service-station planner store",
            "links": [
                _link("self", url_for("ogc.landing", _external=True), title="this document"),
                _link(
                    "service-desc",
                    url_for("api.openapi", _external=True),
                    OPENAPI,
                    "the API definition",
                ),
                _link("service-doc", url_for("pages.docs", _external=True), "text/html", "docs"),
                _link(
                    "conformance", url_for("ogc.conformance", _external=True), title="conformance"
                ),
                _link("data", url_for("ogc.collections", _external=True), title="collections"),
            ],
        }
    )


@bp.get("/conformance")
@operation(
    "getConformance",
    "Conformance classes",
    tags=OGC_TAGS,
    responses={"200": ok("Conformance classes")},
)
@requires("view")
def conformance():
    """The conformance classes implemented."""
    return json_response({"conformsTo": CONFORMANCE})


@bp.get("/collections")
@operation(
    "getCollections",
    "Collections (spatial layers)",
    tags=OGC_TAGS,
    responses={"200": ok("The collections")},
)
@requires("view")
def collections():
    """Every spatial layer as a collection."""
    catalog = {e["name"]: e for e in visible_catalog()}
    return json_response(
        {
            "links": [_link("self", url_for("ogc.collections", _external=True))],
            "collections": [_collection(catalog[n]) for n in collection_names()],
        }
    )


@bp.get("/collections/<collection_id>")
@operation(
    "describeCollection",
    "One collection",
    tags=OGC_TAGS,
    responses={"200": ok("The collection"), "403": "Error", "404": "Error"},
)
@requires("view")
def collection(collection_id: str):
    """One collection's description."""
    _check(collection_id)
    entry = next(e for e in visible_catalog() if e["name"] == collection_id)
    return json_response(_collection(entry))


@bp.get("/collections/<collection_id>/items")
@operation(
    "getFeaturesOGC",
    "Features of a collection",
    tags=OGC_TAGS,
    query=["bbox", "ogcLimit", "offset"],
    responses={
        "200": ok("A GeoJSON FeatureCollection", "FeatureCollection", GEOJSON),
        "400": "Error",
        "403": "Error",
        "404": "Error",
    },
)
@requires("view")
def items(collection_id: str):
    """Features of a collection, filtered by ``bbox`` and paged by ``limit``/``offset``."""
    _check(collection_id)
    config = current_app.config
    bbox = bbox_arg()
    limit = int_arg(
        "limit", config["OGC_DEFAULT_LIMIT"], minimum=1, maximum=config["API_MAX_LIMIT"]
    )
    offset = int_arg("offset", 0, minimum=0)
    layer = features().layer(collection_id)
    fields = visible_fields(collection_id, layer.frame.columns)
    page = layer.query(bbox, limit=limit, offset=offset, properties=fields)
    links = page_links(
        "ogc.items",
        {"collection_id": collection_id},
        offset,
        limit,
        page.number_returned,
        page.number_matched,
        external=True,
    )
    links.append(
        _link("collection", url_for("ogc.collection", collection_id=collection_id, _external=True))
    )
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return text_response(page.collection(timeStamp=stamp, links=links), mimetype=GEOJSON)


@bp.get("/collections/<collection_id>/items/<feature_id>")
@operation(
    "getFeatureOGC",
    "One feature",
    tags=OGC_TAGS,
    responses={"200": ok("A GeoJSON Feature", "Feature", GEOJSON), "403": "Error", "404": "Error"},
)
@requires("view")
def item(collection_id: str, feature_id: str):
    """One feature."""
    _check(collection_id)
    layer = features().layer(collection_id)
    text = layer.feature(feature_id, properties=visible_fields(collection_id, layer.frame.columns))
    if text is None:
        raise ApiError(404, f"{collection_id} has no feature {feature_id!r}", code="not_found")
    # Add the links OGC asks for without re-encoding the feature.
    links = [
        _link("self", request.base_url, GEOJSON),
        _link("collection", url_for("ogc.collection", collection_id=collection_id, _external=True)),
    ]
    return text_response(text[:-1] + f',"links":{json_text(links)}}}', mimetype=GEOJSON)


def _check(collection_id: str) -> None:
    if collection_id in features().names() and not can_see_layer(collection_id):
        # The same answer as the REST API's for a layer the role may not see.
        spec = schema.LAYERS[collection_id]
        raise ApiError(
            403, f"{collection_id} ({spec.zh}) is not shown to your role", code="forbidden"
        )
    if collection_id not in collection_names():
        known = ", ".join(collection_names())
        raise ApiError(
            404, f"no collection {collection_id!r}; collections: {known}", code="not_found"
        )


def _collection(entry: dict[str, Any]) -> dict[str, Any]:
    name = entry["name"]
    bounds = entry["bounds"] or [-180.0, -90.0, 180.0, 90.0]
    return {
        "id": name,
        "title": f"{entry['zh']} {name}",
        "description": entry["description"],
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(bounds)], "crs": CRS84}},
        "links": [
            _link("self", url_for("ogc.collection", collection_id=name, _external=True)),
            _link(
                "items",
                url_for("ogc.items", collection_id=name, _external=True),
                GEOJSON,
                entry["zh"],
            ),
        ],
    }
