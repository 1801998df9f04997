"""The OpenAPI 3.0 document of the REST API and the OGC API – Features, built from the schema."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from planner import schema

_REF_ERROR = {"$ref": "#/components/responses/Error"}


def _param(name: str, where: str, schema_: dict[str, Any], description: str, **extra: Any):
    return {"name": name, "in": where, "schema": schema_, "description": description, **extra}


def _json(schema_: dict[str, Any], mimetype: str = "application/json") -> dict[str, Any]:
    return {mimetype: {"schema": schema_}}


def _ok(description: str, schema_: dict[str, Any], mimetype: str = "application/json"):
    return {"description": description, "content": _json(schema_, mimetype)}


def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI document for the running application (server URL from the request)."""
    config = current_app.config
    max_limit = config["API_MAX_LIMIT"]
    layer_names = list(schema.LAYERS)
    layer = _param(
        "name",
        "path",
        {"type": "string", "enum": layer_names},
        "Layer name (see /api/layers; only layers the store has are served).",
        required=True,
    )
    bbox = _param(
        "bbox",
        "query",
        {"type": "string", "pattern": r"^[-+0-9.eE]+(,[-+0-9.eE]+){3}$"},
        "minlon,minlat,maxlon,maxlat in degrees (WGS84, longitude first). A box that looks "
        "like lat,lon is refused with 400.",
        example="118.77,32.03,118.80,32.05",
    )
    limit = _param(
        "limit",
        "query",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": max_limit,
            "default": config["API_DEFAULT_LIMIT"],
        },
        "Features per page.",
    )
    offset = _param(
        "offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Features skipped."
    )
    zoom = _param(
        "zoom",
        "query",
        {"type": "number", "minimum": 0, "maximum": 24},
        "Map zoom: geometries are simplified to half a pixel at this zoom (omit for full detail).",
    )
    crs = _param(
        "crs",
        "query",
        {"type": "string", "enum": ["wgs84", "gcj02"], "default": "wgs84"},
        "gcj02 shifts coordinates for display over GCJ-02 (Gaode) tiles; data stays WGS84.",
    )
    properties = _param(
        "properties",
        "query",
        {"type": "string"},
        "Comma-separated attributes to send (omit for all, empty for none): small "
        "payloads for maps that fetch the rest on click.",
        example="households,covered",
    )
    ogc_limit = _param(
        "limit",
        "query",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": max_limit,
            "default": config["OGC_DEFAULT_LIMIT"],
        },
        "Features per page.",
        style="form",
        explode=False,
    )
    collection_id = _param(
        "collectionId",
        "path",
        {"type": "string", "enum": layer_names},
        "Collection (layer) name.",
        required=True,
    )
    feature_id = _param("featureId", "path", {"type": "string"}, "Feature id.", required=True)
    geojson = "application/geo+json"
    fc = {"$ref": "#/components/schemas/FeatureCollection"}
    feat = {"$ref": "#/components/schemas/Feature"}
    obj = {"type": "object"}
    paths: dict[str, Any] = {
        "/api/layers": {
            "get": {
                "tags": ["layers"],
                "summary": "Layers of the store with fields (Chinese names), counts, bounds, stats",
                "operationId": "listLayers",
                "responses": {"200": _ok("The layers", obj)},
            }
        },
        "/api/layers/{name}": {
            "get": {
                "tags": ["layers"],
                "summary": "One layer's description",
                "operationId": "getLayer",
                "parameters": [layer],
                "responses": {"200": _ok("The layer", obj), "404": _REF_ERROR},
            }
        },
        "/api/layers/{name}/features": {
            "get": {
                "tags": ["layers"],
                "summary": "Features by bounding box, simplified by zoom, paged",
                "operationId": "getFeatures",
                "parameters": [layer, bbox, limit, offset, zoom, crs, properties],
                "responses": {
                    "200": _ok("A GeoJSON FeatureCollection", fc, geojson),
                    "304": {"description": "Not modified since the ETag sent"},
                    "400": _REF_ERROR,
                    "404": _REF_ERROR,
                },
            }
        },
        "/api/layers/{name}/features/{featureId}": {
            "get": {
                "tags": ["layers"],
                "summary": "One feature by its key (e.g. grid code) or row number",
                "operationId": "getFeature",
                "parameters": [layer, feature_id, crs],
                "responses": {"200": _ok("A GeoJSON Feature", feat, geojson), "404": _REF_ERROR},
            }
        },
        "/api/summary": {
            "get": {
                "tags": ["store"],
                "summary": "Counts per layer, households, CRSs, sources",
                "operationId": "getSummary",
                "responses": {"200": _ok("The summary", obj)},
            }
        },
        "/api/search": {
            "get": {
                "tags": ["store"],
                "summary": "Find grids, buildings, compounds or stations by code or name",
                "operationId": "search",
                "parameters": [
                    _param(
                        "q", "query", {"type": "string", "maxLength": 100}, "Text", required=True
                    ),
                    _param(
                        "limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}, "Hits"
                    ),
                ],
                "responses": {"200": _ok("Hits with their bounds", obj), "400": _REF_ERROR},
            }
        },
        "/api/analysis": {
            "get": {
                "tags": ["analysis"],
                "summary": "Analysis steps that can be run",
                "operationId": "listAnalysisSteps",
                "responses": {"200": _ok("The steps", obj)},
            }
        },
        "/api/analysis/{step}": {
            "post": {
                "tags": ["analysis"],
                "summary": "Run a known analysis step (or 'all') as a background job",
                "operationId": "runAnalysis",
                "parameters": [
                    _param("step", "path", {"type": "string"}, "Step id or 'all'", required=True)
                ],
                "responses": {
                    "202": _ok(
                        "The job, to poll at its Location", {"$ref": "#/components/schemas/Job"}
                    ),
                    "403": _REF_ERROR,
                    "404": _REF_ERROR,
                },
            }
        },
        "/api/jobs": {
            "get": {
                "tags": ["analysis"],
                "summary": "Analysis jobs, newest first",
                "operationId": "listJobs",
                "responses": {"200": _ok("The jobs", obj)},
            }
        },
        "/api/jobs/{jobId}": {
            "get": {
                "tags": ["analysis"],
                "summary": "One job's state, progress and result",
                "operationId": "getJob",
                "parameters": [
                    _param("jobId", "path", {"type": "string"}, "Job id", required=True)
                ],
                "responses": {
                    "200": _ok("The job", {"$ref": "#/components/schemas/Job"}),
                    "404": _REF_ERROR,
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "tags": ["store"],
                "summary": "This document",
                "operationId": "getOpenAPI",
                "responses": {"200": _ok("OpenAPI 3.0", obj)},
            }
        },
        "/ogc/": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "Landing page",
                "operationId": "getLandingPage",
                "responses": {"200": _ok("Links", obj)},
            }
        },
        "/ogc/conformance": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "Conformance classes",
                "operationId": "getConformance",
                "responses": {"200": _ok("Conformance classes", obj)},
            }
        },
        "/ogc/collections": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "Collections (spatial layers)",
                "operationId": "getCollections",
                "responses": {"200": _ok("The collections", obj)},
            }
        },
        "/ogc/collections/{collectionId}": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "One collection",
                "operationId": "describeCollection",
                "parameters": [collection_id],
                "responses": {"200": _ok("The collection", obj), "404": _REF_ERROR},
            }
        },
        "/ogc/collections/{collectionId}/items": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "Features of a collection",
                "operationId": "getFeaturesOGC",
                "parameters": [collection_id, bbox, ogc_limit, offset],
                "responses": {
                    "200": _ok("A GeoJSON FeatureCollection", fc, geojson),
                    "400": _REF_ERROR,
                    "404": _REF_ERROR,
                },
            }
        },
        "/ogc/collections/{collectionId}/items/{featureId}": {
            "get": {
                "tags": ["OGC API – Features"],
                "summary": "One feature",
                "operationId": "getFeatureOGC",
                "parameters": [collection_id, feature_id],
                "responses": {"200": _ok("A GeoJSON Feature", feat, geojson), "404": _REF_ERROR},
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "网格与党群服务站规划 API · grid and service-station planner",
            "version": "1.0.0",
            "description": "Layers of one planner store as GeoJSON (WGS84, lon/lat), "
            "analysis runs, and OGC API – Features. Errors are JSON: "
            '{"error": {"status", "code", "message", "param"}}.',
            "license": {"name": "MIT"},
        },
        "servers": [{"url": request.host_url.rstrip("/")}],
        "tags": [
            {"name": "layers"},
            {"name": "store"},
            {"name": "analysis"},
            {"name": "OGC API – Features"},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Feature": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Feature"]},
                        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "geometry": {"type": "object", "nullable": True},
                        "properties": {"type": "object", "nullable": True},
                    },
                },
                "FeatureCollection": {
                    "type": "object",
                    "required": ["type", "features"],
                    "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Feature"},
                        },
                        "numberMatched": {"type": "integer", "minimum": 0},
                        "numberReturned": {"type": "integer", "minimum": 0},
                        "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
                    },
                },
                "Link": {
                    "type": "object",
                    "required": ["href"],
                    "properties": {
                        "href": {"type": "string"},
                        "rel": {"type": "string"},
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                    },
                },
                "Job": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "step": {"type": "string"},
                        "label": {"type": "string"},
                        "state": {
                            "type": "string",
                            "enum": ["queued", "running", "done", "failed"],
                        },
                        "progress": {"type": "array", "items": {"type": "string"}},
                        "submitted": {"type": "string"},
                        "started": {"type": "string", "nullable": True},
                        "finished": {"type": "string", "nullable": True},
                        "result": {"nullable": True},
                        "error": {"type": "string", "nullable": True},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["status", "code", "message"],
                            "properties": {
                                "status": {"type": "integer"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "param": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "A client error, explained",
                    "content": _json({"$ref": "#/components/schemas/Error"}),
                }
            },
        },
    }
