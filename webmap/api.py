"""REST API: layers, features by bbox (paged) or by map tile, one feature, summary, search, jobs.

An analysis job that proposes a plan (generate grids) ends ``pending``: ``POST
/api/jobs/<id>/accept`` saves the proposal as a new plan version (409 with the current
``version`` when the plan changed since the job read it), ``POST /api/jobs/<id>/discard``
drops it.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, request, url_for

from planner import schema
from planner.errors import ConflictError
from planner_web.auth import can_see_layer, requires, role_tag, visible_catalog, visible_fields
from planner_web.basemap import basemap_settings
from planner_web.extensions import features, job_manager
from planner_web.http import (
    GEOJSON,
    OPENAPI,
    ApiError,
    bbox_arg,
    check_query,
    crs_arg,
    error_response,
    etag_for,
    float_arg,
    int_arg,
    json_response,
    page_links,
    plan_conflict_response,
    text_response,
)
from planner_web.jobs import ALL, NotPending, QueueFull, known_steps
from planner_web.openapi import ok, openapi_document, operation
from planner_web.tiles import MAX_TILE_ZOOM

__all__ = ["bp"]

bp = Blueprint("api", __name__)
bp.before_request(check_query)


@bp.get("/")
@requires("read")
def index():
    """Links to the API's parts."""
    return json_response(
        {
            "title": "grid planner API",
            "links": {
                "layers": url_for("api.layers"),
                "summary": url_for("api.summary"),
                "search": url_for("api.search"),
                "analysis": url_for("api.analysis_steps"),
                "jobs": url_for("api.job_list"),
                "openapi": url_for("api.openapi"),
                "docs": url_for("pages.docs"),
                "ogc": url_for("ogc.landing"),
            },
        }
    )


@bp.get("/health")
def health():
    """Liveness and the store's version (changes on every write)."""
    source = features()
    # tiles_seeding: map tiles are being made in the background (see TILE_SEED_ZOOM).
    return json_response(
        {"status": "ok", "version": source.version, "tiles_seeding": source.seeding}
    )


@bp.get("/layers")
@operation(
    "listLayers",
    "Layers of the store with fields (Chinese names), counts, bounds, stats",
    tags=["layers"],
    responses={"200": ok("The layers")},
)
@requires("view")
def layers():
    """Every layer of the store with its schema, counts, bounds and statistics."""
    source = features()
    etag = etag_for(source.version, "layers", role_tag())
    if _not_modified(etag):
        return current_app.response_class(status=304)
    data = {
        "name": source.store.name,
        "bounds": source.bounds(),
        "attribution": source.attribution(),
        "community_code": _community_code(),
        "basemap": basemap_settings(current_app.config),
        "layers": visible_catalog(),
    }
    response = json_response(data)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/layers/<name>")
@operation(
    "getLayer",
    "One layer's description",
    tags=["layers"],
    responses={"200": ok("The layer"), "404": "Error"},
)
@requires("view")
def layer(name: str):
    """One layer's description."""
    _check_layer(name)
    entry = next(e for e in visible_catalog() if e["name"] == name)
    return json_response(entry)


@bp.get("/layers/<name>/features")
@operation(
    "getFeatures",
    "Features by bounding box, simplified by zoom, paged",
    tags=["layers"],
    query=["bbox", "limit", "offset", "zoom", "crs", "properties"],
    responses={
        "200": ok("A GeoJSON FeatureCollection", "FeatureCollection", GEOJSON),
        "304": {"description": "Not modified since the ETag sent"},
        "400": "Error",
        "404": "Error",
    },
)
@requires("view")
def layer_features(name: str):
    """Features intersecting ``bbox``, simplified for ``zoom``, paged by ``limit``/``offset``."""
    config = current_app.config
    _check_layer(name)
    bbox = bbox_arg()
    limit = int_arg(
        "limit", config["API_DEFAULT_LIMIT"], minimum=1, maximum=config["API_MAX_LIMIT"]
    )
    offset = int_arg("offset", 0, minimum=0)
    zoom = float_arg("zoom", None, minimum=0, maximum=24)
    display = crs_arg()
    if display == "gcj02" and bbox is not None:
        # The map's bbox is in shifted coordinates; the shift is under ~700 m.
        pad = 0.01
        bbox = (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
    properties = request.args.get("properties")
    fields = None if properties is None else [f.strip() for f in properties.split(",") if f.strip()]
    source = features()
    etag = etag_for(source.version, request.full_path, role_tag())
    if _not_modified(etag):
        return current_app.response_class(status=304)
    layer = source.layer(name)
    page = layer.query(
        bbox,
        zoom=zoom,
        limit=limit,
        offset=offset,
        gcj02=display == "gcj02",
        properties=_fields_for(name, layer.frame.columns, fields),
    )
    links = page_links(
        "api.layer_features",
        {"name": name},
        offset,
        limit,
        page.number_returned,
        page.number_matched,
    )
    text = page.collection(layer=name, links=links)
    return text_response(text, mimetype=GEOJSON, etag=etag)


@bp.get("/layers/<name>/tiles/<int:z>/<int:x>/<int:y>")
@operation(
    "getTile",
    "A map tile of a layer's features (XYZ, 512 px; dense tiles generalised to cells)",
    tags=["layers"],
    query=["crs", "properties"],
    responses={
        "200": ok("A GeoJSON FeatureCollection", "FeatureCollection", GEOJSON),
        "304": {"description": "Not modified since the ETag sent"},
        "400": "Error",
        "404": "Error",
    },
)
@requires("view")
def layer_tile(name: str, z: int, x: int, y: int):
    """Features of tile ``z/x/y``, made once per version of the layer (see planner_web.tiles)."""
    _check_layer(name)
    if z <= MAX_TILE_ZOOM and not (x < 2**z and y < 2**z):
        # No such tile, as a tile server answers (a zoom beyond the deepest is a 400).
        raise ApiError(
            404,
            f"tile {z}/{x}/{y} is outside the map (x and y are 0–{2**z - 1} at zoom {z})",
            code="not_found",
            param="xy",
        )
    display = crs_arg()
    properties = request.args.get("properties")
    fields = None if properties is None else [f.strip() for f in properties.split(",") if f.strip()]
    source = features()
    etag = etag_for(source.layer_version(name), request.full_path, role_tag())
    if _not_modified(etag):
        return current_app.response_class(status=304)
    layer = source.layer(name)
    tile = source.tile(
        name,
        z,
        x,
        y,
        gcj02=display == "gcj02",
        properties=_fields_for(name, layer.frame.columns, fields),
    )
    return text_response(tile.text, mimetype=GEOJSON, etag=etag)


@bp.get("/layers/<name>/features/<feature_id>")
@operation(
    "getFeature",
    "One feature by its key (e.g. grid code) or row number",
    tags=["layers"],
    query=["crs"],
    responses={"200": ok("A GeoJSON Feature", "Feature", GEOJSON), "404": "Error"},
)
@requires("view")
def feature(name: str, feature_id: str):
    """One feature at full detail, by its key (e.g. a grid code) or row number."""
    _check_layer(name)
    display = crs_arg()
    layer = features().layer(name)
    text = layer.feature(
        feature_id,
        gcj02=display == "gcj02",
        properties=visible_fields(name, layer.frame.columns),
    )
    if text is None:
        spec = schema.LAYERS[name]
        raise ApiError(404, f"{name} ({spec.zh}) has no feature {feature_id!r}", code="not_found")
    return text_response(text, mimetype=GEOJSON)


@bp.get("/summary")
@operation(
    "getSummary",
    "Counts per layer, households, CRSs, sources",
    tags=["store"],
    responses={"200": ok("The summary")},
)
@requires("read")
def summary():
    """The store's summary: layers and counts, households, CRSs, sources."""
    source = features()
    return json_response({**source.store.summary(), "coverage": source.coverage()})


@bp.get("/search")
@operation(
    "search",
    "Find grids, buildings, compounds or stations by code or name",
    tags=["store"],
    query=["q", "searchLimit"],
    responses={"200": ok("Hits with their bounds"), "400": "Error"},
)
@requires("view")
def search():
    """Features whose code, name or address contains ``q``."""
    q = request.args.get("q", "")
    if not q.strip():
        raise ApiError(400, "q is required: a grid code, building or compound name", param="q")
    if len(q) > 100:
        raise ApiError(400, "q is too long (100 characters at most)", param="q")
    limit = int_arg("limit", 20, minimum=1, maximum=100)
    layers = [n for n in SEARCHED if can_see_layer(n)]
    return json_response({"query": q, "results": features().search(q, limit=limit, layers=layers)})


@bp.get("/analysis")
@operation(
    "listAnalysisSteps",
    "Analysis steps that can be run",
    tags=["analysis"],
    responses={"200": ok("The steps")},
)
@requires("read")
def analysis_steps():
    """The analysis steps that can be run (plus ``all``)."""
    steps = list(known_steps().values())
    return json_response(
        {"enabled": bool(current_app.config["ANALYSIS_ENABLED"]), "all": ALL, "steps": steps}
    )


@bp.post("/analysis/<step>")
@operation(
    "runAnalysis",
    "Run a known analysis step (or 'all') as a background job",
    tags=["analysis"],
    responses={
        "202": ok("The job, to poll at its Location", "Job"),
        "403": "Error",
        "404": "Error",
        "429": "Error",
    },
)
@requires("analyse")
def run_analysis(step: str):
    """Start a background job running ``step``; answer 202 with the job to poll."""
    if not current_app.config["ANALYSIS_ENABLED"]:
        raise ApiError(403, "analysis runs are disabled on this server", code="forbidden")
    try:
        job = job_manager().submit(step)
    except QueueFull as exc:
        response = error_response(429, str(exc), code="too_many_requests")
        response.headers["Retry-After"] = "30"
        return response
    except KeyError:
        known = ", ".join([ALL, *known_steps()])
        raise ApiError(
            404, f"unknown analysis step {step!r}; known: {known}", code="not_found"
        ) from None
    response = json_response(job, status=202)
    response.headers["Location"] = url_for("api.job", job_id=job["id"])
    return response


@bp.get("/jobs")
@operation(
    "listJobs",
    "Analysis jobs, newest first",
    tags=["analysis"],
    responses={"200": ok("The jobs")},
)
@requires("read_all")
def job_list():
    """Analysis jobs, newest first."""
    return json_response({"jobs": job_manager().list()})


@bp.get("/jobs/<job_id>")
@operation(
    "getJob",
    "One job's state, progress and result",
    tags=["analysis"],
    responses={"200": ok("The job", "Job"), "404": "Error"},
)
@requires("read_all")
def job(job_id: str):
    """One job's state, progress and result."""
    found = job_manager().get(job_id)
    if found is None:
        raise ApiError(404, f"no job {job_id!r}", code="not_found")
    return json_response(found)


@bp.delete("/jobs/<job_id>")
@operation(
    "cancelJob",
    "Cancel a job: a queued one at once, a running one after its current step",
    tags=["analysis"],
    responses={"200": ok("The job", "Job"), "404": "Error"},
)
@requires("analyse")
def cancel_job(job_id: str):
    """Cancel a queued job, or stop a running one between two steps."""
    found = job_manager().cancel(job_id)
    if found is None:
        raise ApiError(404, f"no job {job_id!r}", code="not_found")
    return json_response(found)


@bp.post("/jobs/<job_id>/accept")
@operation(
    "acceptJob",
    "Save a finished job's proposed plan as a new plan version",
    tags=["analysis"],
    responses={
        "200": ok("The job, with the plan version it became as accepted", "Job"),
        "403": "Error",
        "404": "Error",
        "409": "Error",
    },
)
@requires("analyse")
def accept_job(job_id: str):
    """Commit the proposal of a pending job; 409 with the current ``version`` if the plan
    changed since the job read it (the proposal stays, to discard)."""
    try:
        return _decide(job_id, lambda jobs: jobs.accept(job_id, user=g.get("user")))
    except ConflictError as exc:
        return plan_conflict_response(exc)


@bp.post("/jobs/<job_id>/discard")
@operation(
    "discardJob",
    "Drop a finished job's proposed plan (nothing is written)",
    tags=["analysis"],
    responses={"200": ok("The job, discarded", "Job"), "403": "Error", "404": "Error"},
)
@requires("analyse")
def discard_job(job_id: str):
    """Drop the proposal of a pending job."""
    return _decide(job_id, lambda jobs: jobs.discard(job_id))


def _decide(job_id: str, decide):
    """Accept or discard a pending job: 404 for no such job, 409 when it is not pending."""
    _writable()
    try:
        found = decide(job_manager())
    except NotPending as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    if found is None:
        raise ApiError(404, f"no job {job_id!r}", code="not_found")
    return json_response(found)


def _writable() -> None:
    if not current_app.config["ANALYSIS_ENABLED"]:
        raise ApiError(403, "analysis runs are disabled on this server", code="forbidden")


@bp.get("/openapi.json")
@operation(
    "getOpenAPI",
    "This document",
    tags=["store"],
    responses={"200": ok("OpenAPI 3.0")},
)
def openapi():
    """The OpenAPI 3 document of this API and the OGC API."""
    response = json_response(openapi_document())
    if "openapi" in request.headers.get("Accept", ""):
        response.headers["Content-Type"] = OPENAPI
    return response


# -- helpers ----------------------------------------------------------------------


#: Layers search looks in, in order of preference (those the role may see).
SEARCHED = ("grids", "buildings", "compounds", "stations", "zones")


def _fields_for(name: str, columns, requested: list[str] | None) -> list[str] | None:
    """The attributes to send: those asked for (all by default) that the role may see.

    Fields the layer lacks are left out rather than refused: one ``properties`` list
    (the map's styling fields, say) serves every layer, as the API docs' example does.
    """
    allowed = visible_fields(name, columns)
    if requested is not None:
        present = {str(c) for c in columns}
        requested = [f for f in requested if f in present]
    if allowed is None:
        return requested
    return allowed if requested is None else [f for f in requested if f in allowed]


def _check_layer(name: str) -> None:
    source = features()
    if name not in schema.LAYERS:
        raise ApiError(
            404,
            f"unknown layer {name!r}; this store has: {', '.join(source.names())}",
            code="not_found",
            param="layer",
        )
    if name not in source.names():
        spec = schema.LAYERS[name]
        raise ApiError(
            404,
            f"this store has no {name!r} layer ({spec.zh}) yet",
            code="not_found",
            param="layer",
        )
    if not can_see_layer(name):
        spec = schema.LAYERS[name]
        raise ApiError(
            403, f"{name} ({spec.zh}) is not shown to your role", code="forbidden", param="layer"
        )


def _not_modified(etag: str) -> bool:
    match = request.if_none_match
    return bool(match) and (match.contains(etag) or match.contains(f"{etag}-gz"))


def _community_code() -> str | None:
    source = features()
    if "community" not in source.names():
        return None
    frame = source.layer("community").frame
    return str(frame["community_code"].iat[0]) if len(frame) else None
