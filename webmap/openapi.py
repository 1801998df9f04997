"""The OpenAPI 3.0 document of the REST API and the OGC API – Features, built from the routes.

Each documented view carries its operation (:func:`operation`: summary, tags,
query parameters, responses); :func:`openapi_document` walks the application's
URL map and hands every such route to :mod:`apispec`, whose :class:`RoutePlugin`
turns the Flask rule into an OpenAPI path and its ``<arguments>`` into the
path parameters. Parameters, schemas and the error response are components
declared once here, with the limits the application is configured with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from apispec import APISpec, BasePlugin
from flask import current_app, request
from werkzeug.routing import Rule

from planner import schema
from planner.plan_edit import EDIT_OPS

__all__ = ["TAGS", "RoutePlugin", "ok", "openapi_document", "operation", "query_names"]

View = TypeVar("View", bound=Callable[..., Any])

#: Attribute of a view function holding its operation.
_OPERATION = "openapi_operation"

#: Tags in the order the docs page shows them.
TAGS = ("layers", "store", "analysis", "plan", "accounts", "OGC API – Features")

JSON = "application/json"
GEOJSON = "application/geo+json"


def operation(
    operation_id: str,
    summary: str,
    *,
    tags: Sequence[str],
    query: Sequence[str] = (),
    body: str | None = None,
    responses: Mapping[str, dict[str, Any] | str],
) -> Callable[[View], View]:
    """Document a view as an OpenAPI operation (a decorator, placed under the route's).

    Parameters
    ----------
    operation_id
        The operation's ``operationId``.
    summary
        One line on what it answers.
    tags
        Its groups on the docs page (from :data:`TAGS`).
    query
        Its query parameters, by component name (see :func:`_parameters`); path
        parameters come from the route itself.
    body
        The name of the schema component of its JSON request body, if it takes one.
    responses
        Status code → response object (see :func:`ok`) or the name of a response
        component (``"Error"``).
    """

    def mark(view: View) -> View:
        doc: dict[str, Any] = {
            "tags": list(tags),
            "summary": summary,
            "operationId": operation_id,
            "query": list(query),
            "responses": dict(responses),
        }
        if body:
            doc["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
        setattr(view, _OPERATION, doc)
        return view

    return mark


def query_names(view: Callable[..., Any]) -> set[str]:
    """The query parameters a documented view takes, by the name clients send."""
    doc = getattr(view, _OPERATION, None)
    if doc is None:
        return set()
    components = _parameters(current_app.config)
    return {components[c][1].get("name", c) for c in doc["query"]}


def ok(
    description: str, schema_: dict[str, Any] | str | None = None, mimetype: str = JSON
) -> dict[str, Any]:
    """A response object: ``schema_`` is a schema or the name of a schema component."""
    content = {mimetype: {"schema": schema_ or {"type": "object"}}}
    return {"description": description, "content": content}


#: A route argument, ``<name>`` or ``<converter:name>``.
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _openapi_name(argument: str) -> str:
    """The OpenAPI name of a Flask route argument: ``feature_id`` → ``featureId``."""
    head, *rest = argument.split("_")
    return head + "".join(part.title() for part in rest)


class RoutePlugin(BasePlugin):
    """An :mod:`apispec` plugin describing a Flask route from its rule and view.

    ``spec.path(rule=rule, view=view)`` adds the rule's path (``<name>`` →
    ``{name}``, arguments in camelCase) with one operation per HTTP method, whose
    parameters are the path's (component of the same name) then the view's query
    parameters.
    """

    def path_helper(
        self,
        path: str | None = None,
        operations: dict | None = None,
        parameters: list[dict] | None = None,
        *,
        rule: Rule | None = None,
        view: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> str | None:
        if rule is None or view is None or operations is None:
            return path
        doc = dict(getattr(view, _OPERATION))
        arguments = [_openapi_name(a) for a in _ARGUMENT.findall(rule.rule)]
        # Names of parameter components; apispec turns them into references.
        operation_parameters = [*arguments, *doc.pop("query")]
        if operation_parameters:
            doc["parameters"] = operation_parameters
        if rule.endpoint.startswith(("api.", "ogc.")):
            # Undeclared query parameters and empty values (planner_web.http.check_query).
            doc["responses"] = {**doc["responses"], "400": "Error"}
        permission = getattr(view, "permission", None)
        if permission and permission != "view":
            # Every refusal the guard can give a logged-in client that lacks the role.
            doc["responses"] = {"401": "Error", "403": "Error", **doc["responses"]}
        elif permission == "view":
            doc["responses"] = {"401": "Error", **doc["responses"]}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operations[method.lower()] = dict(doc)
        return _ARGUMENT.sub(lambda m: "{" + _openapi_name(m[1]) + "}", rule.rule)


def _parameters(config: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Parameter components: component name → (location, parameter object)."""
    max_limit = config["API_MAX_LIMIT"]
    layer_names = list(schema.LAYERS)

    def limit(default: int, **extra: Any) -> dict[str, Any]:
        bounds = {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default}
        return {"name": "limit", "schema": bounds, "description": "Features per page.", **extra}

    return {
        "name": (
            "path",
            {
                "schema": {"type": "string", "enum": layer_names},
                "description": "Layer name (see /api/layers; only layers the store has are "
                "served).",
            },
        ),
        "featureId": ("path", {"schema": {"type": "string"}, "description": "Feature id."}),
        "z": (
            "path",
            {
                "schema": {"type": "integer", "minimum": 0, "maximum": 21},
                "description": "Tile zoom (XYZ tiles, as OpenStreetMap's; drawn 512 px wide, "
                "so simplified for map zoom z + 1).",
                "example": 15,
            },
        ),
        "x": (
            "path",
            {
                "schema": {"type": "integer", "minimum": 0},
                "description": "Tile column, 0 at 180° W (below 2^z).",
                "example": 27194,
            },
        ),
        "y": (
            "path",
            {
                "schema": {"type": "integer", "minimum": 0},
                "description": "Tile row, 0 at the north edge (below 2^z).",
                "example": 13303,
            },
        ),
        "collectionId": (
            "path",
            {
                "schema": {"type": "string", "enum": layer_names},
                "description": "Collection (layer) name.",
            },
        ),
        "step": (
            "path",
            {
                "schema": {"type": "string", "enum": _step_ids()},
                "description": "Analysis step id, or 'all' for every step in order",
            },
        ),
        "jobId": ("path", {"schema": {"type": "string"}, "description": "Job id"}),
        "version": (
            "query",
            {
                "schema": {"type": "integer", "minimum": 0},
                "description": "A plan version (omit for the latest).",
            },
        ),
        "versionA": (
            "query",
            {
                "name": "a",
                "schema": {"type": "integer", "minimum": 0},
                "description": "The plan version compared from (omit for the current one).",
            },
        ),
        "versionB": (
            "query",
            {
                "name": "b",
                "schema": {"type": "integer", "minimum": 0},
                "description": "The plan version compared to (omit for the current one).",
            },
        ),
        "stationSet": (
            "query",
            {
                "name": "stations",
                "schema": {"type": "string", "minLength": 1},
                "description": "The stations coverage counts: 'existing' (existing stations "
                "only) or a siting scenario's name (existing plus its proposed stations); "
                "default the latest scenario. An unknown one is 404.",
                "example": "existing",
            },
        ),
        "community": (
            "query",
            {
                "schema": {"type": "string"},
                "description": "A community (code or name) of a store holding several: only "
                "its grids (omit for every grid).",
            },
        ),
        "bbox": (
            "query",
            {
                "schema": {
                    "type": "string",
                    "pattern": r"^[-+]?[0-9]+(\.[0-9]+)?(,[-+]?[0-9]+(\.[0-9]+)?){3}$",
                },
                "description": "minlon,minlat,maxlon,maxlat in degrees (WGS84, longitude "
                "first). A box that looks like lat,lon is refused with 400.",
                "example": "118.77,32.03,118.80,32.05",
            },
        ),
        "limit": ("query", limit(config["API_DEFAULT_LIMIT"])),
        "ogcLimit": ("query", limit(config["OGC_DEFAULT_LIMIT"], style="form", explode=False)),
        "offset": (
            "query",
            {
                "name": "offset",
                "schema": {"type": "integer", "minimum": 0, "default": 0},
                "description": "Features skipped.",
            },
        ),
        "zoom": (
            "query",
            {
                "schema": {"type": "number", "minimum": 0, "maximum": 24},
                "description": "Map zoom: geometries are simplified to half a pixel at this "
                "zoom (omit for full detail).",
            },
        ),
        "crs": (
            "query",
            {
                "schema": {"type": "string", "enum": ["wgs84", "gcj02"], "default": "wgs84"},
                "description": "gcj02 shifts coordinates for display over GCJ-02 (Gaode) "
                "tiles; data stays WGS84.",
            },
        ),
        "properties": (
            "query",
            {
                "schema": {"type": "string"},
                "description": "Comma-separated attributes to send (omit for all, empty for "
                "none): small payloads for maps that fetch the rest on click. Fields the layer "
                "lacks, or your role may not see, are left out.",
                "allowEmptyValue": True,
                "example": "households,covered",
            },
        ),
        "q": (
            "query",
            {
                "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
                "description": "Text: part of a grid code, building, compound or station name "
                "(blank is refused with 400, naming q)",
                "required": True,
            },
        ),
        "lon": (
            "query",
            {
                "schema": {"type": "number", "minimum": -180, "maximum": 180},
                "description": "Longitude in degrees (WGS 84).",
                "required": True,
                "example": 118.78,
            },
        ),
        "lat": (
            "query",
            {
                "schema": {"type": "number", "minimum": -90, "maximum": 90},
                "description": "Latitude in degrees (WGS 84).",
                "required": True,
                "example": 32.04,
            },
        ),
        "searchLimit": (
            "query",
            {
                "name": "limit",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                "description": "Hits",
            },
        ),
        "reportFormat": (
            "query",
            {
                "name": "format",
                "schema": {"type": "string", "enum": ["xlsx", "pdf"], "default": "xlsx"},
                "description": "xlsx: the tables; pdf: the atlas (overview and a page per grid).",
            },
        ),
        "lang": (
            "query",
            {
                "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"},
                "description": "Language of headers and titles.",
            },
        ),
        "exportFormat": (
            "query",
            {
                "name": "format",
                "schema": {"type": "string", "enum": ["geojson", "gpkg", "shp", "csv", "xlsx"]},
                "description": "File format (shp: a zip of the Shapefile and its full field "
                "names).",
                "required": True,
            },
        ),
        "targetCrs": (
            "query",
            {
                "name": "srs",
                "schema": {"type": "string", "pattern": r"^EPSG:[0-9]{4,6}$"},
                "description": "Target CRS, e.g. EPSG:4490 (CGCS2000) or EPSG:4549; default "
                "the storage CRS (WGS84).",
                "example": "EPSG:4490",
            },
        ),
    }


def _step_ids() -> list[str]:
    from planner_web.jobs import ALL, known_steps  # the steps as registered when asked

    return [*known_steps(), ALL]


#: Schema components: GeoJSON as served, OGC links, analysis jobs and the JSON error.
_SCHEMAS: dict[str, dict[str, Any]] = {
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
            "features": {"type": "array", "items": "Feature"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "links": {"type": "array", "items": "Link"},
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
                "enum": ["queued", "running", "done", "failed", "cancelled"],
            },
            "progress": {"type": "array", "items": {"type": "string"}},
            "submitted": {"type": "string"},
            "started": {"type": "string", "nullable": True},
            "finished": {"type": "string", "nullable": True},
            "result": {"nullable": True},
            "error": {"type": "string", "nullable": True},
            "pending": {
                "type": "boolean",
                "description": "Done, with a proposed plan to accept or discard",
            },
            "figures": {
                "type": "object",
                "nullable": True,
                "description": "Headline figures per step (of the proposed plan when pending)",
            },
            "accepted": {
                "type": "integer",
                "description": "The plan version the accepted proposal became",
            },
            "unchanged": {
                "type": "boolean",
                "description": "The accepted proposal was the plan as it is: no new version",
            },
            "discarded": {"type": "boolean"},
        },
    },
    "PlanEdits": {
        "type": "object",
        "required": ["edits"],
        "properties": {
            "base_version": {"type": "integer", "minimum": 0},
            "message": {"type": "string"},
            "community": {
                "type": "string",
                "description": "Hold the edits to this community (code or name): edits "
                "changing another community's grids are refused (400).",
            },
            "edits": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["op"],
                    "properties": {
                        "op": {"type": "string", "enum": list(EDIT_OPS)},
                        "units": {"type": "array", "items": {"type": "string"}},
                        "to": {"type": "string"},
                        "grids": {"type": "array", "items": {"type": "string"}},
                        "grid": {"type": "string"},
                        "line": {"type": "object"},
                        "building": {"type": "string"},
                        "value": {"type": "integer", "minimum": 0},
                        "reason": {"type": "string"},
                        "name": {"type": "string"},
                        "zone": {"type": "string"},
                    },
                },
            },
        },
        "example": {
            "base_version": 3,
            "edits": [{"op": "assign", "units": ["S005-C8-L10-B11"], "to": "32010200101001"}],
        },
    },
    "PlanVersion": {
        "type": "object",
        "required": ["version"],
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "community": {
                "type": "string",
                "description": "Only this community (code or name) of a store holding "
                "several: its grids are published or rolled back, the others' stay as "
                "they are (an unknown one is 400).",
            },
        },
        "example": {"version": 2},
    },
    "Login": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1},
        },
    },
    "Session": {
        "type": "object",
        "properties": {
            "user": {"type": "string", "nullable": True},
            "role": {
                "type": "string",
                "nullable": True,
                "enum": ["viewer", "official", "planner", "admin", "public"],
            },
            "csrf_token": {"type": "string", "nullable": True},
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
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the running application (server URL from the request).

    Every route whose view is marked with :func:`operation` is described, in the
    order the application registered them.
    """
    app = current_app
    spec = APISpec(
        title="网格与党群服务站规划 API · grid and service-station planner",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[RoutePlugin()],
        info={
            "description": "Layers of one planner store as GeoJSON (WGS84, lon/lat), "
            "analysis runs, and OGC API – Features. Errors are JSON: "
            '{"error": {"status", "code", "message", "param"}}. Log in with POST /api/login '
            "(a session cookie; send its csrf_token as X-CSRF-Token on every change), or send "
            "an API token (`planner user token`) as `Authorization: Bearer`; basic auth "
            "reads. What a role receives: viewer (no per-building households, no special-"
            "group counts), official (all), planner (and analyses), admin (and users). "
            "401 not logged in, 403 role/CSRF/Origin refused, 400 bad Host, 409 stale "
            "version, 429 queue full or too many failed logins.",
            "license": {"name": "MIT"},
        },
        servers=[{"url": request.host_url.rstrip("/")}],
    )
    for tag in TAGS:
        spec.tag({"name": tag})
    for name, (location, parameter) in _parameters(app.config).items():
        spec.components.parameter(name, location, parameter)
    for name, component in _SCHEMAS.items():
        spec.components.schema(name, component)
    # Who may call what: a session cookie (with X-CSRF-Token on changes), an API token,
    # or HTTP basic auth (reads only; the password may be an API token).
    spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"]}
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic"})
    error = {"description": "A client error, explained", "content": {JSON: {"schema": "Error"}}}
    spec.components.response("Error", error)
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if hasattr(view, _OPERATION):
            spec.path(rule=rule, view=view)
    spec.options["security"] = [{"session": []}, {"bearer": []}, {"basic": []}, {}]
    document = spec.to_dict()
    # apispec puts paths and options first; people reading the JSON expect the usual order.
    info = document["info"]
    document["info"] = {"title": info.pop("title"), "version": info.pop("version"), **info}
    keys = ("openapi", "info", "servers", "security", "tags", "paths", "components")
    return {k: document[k] for k in keys}
