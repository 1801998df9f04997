"""HTTP plumbing shared by the blueprints: JSON errors, query parameters, gzip, security headers."""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, url_for
from isal import igzip
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from planner.errors import ConflictError, PlannerError
from planner.pipeline import parse_bbox
from planner_web.basemap import basemap_settings
from planner_web.encoding import json_text

__all__ = [
    "GEOJSON",
    "JSON",
    "OPENAPI",
    "SECURITY_HEADERS",
    "ApiError",
    "bbox_arg",
    "check_query",
    "conflict_response",
    "plan_conflict_response",
    "crs_arg",
    "content_security_policy",
    "error_response",
    "etag_for",
    "float_arg",
    "init_app",
    "int_arg",
    "json_response",
    "page_links",
    "text_response",
]

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

_COMPRESSIBLE = {
    "application/json",
    "application/geo+json",
    "application/vnd.oai.openapi+json",
    "application/javascript",
    "text/javascript",
    "text/css",
    "text/html",
    "text/plain",
    "image/svg+xml",
}


class ApiError(Exception):
    """A client error answered as JSON: ``{"error": {"status", "code", "message", "param"}}``."""

    def __init__(self, status: int, message: str, *, code: str = "bad_request", param: str = ""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def error_response(status: int, message: str, *, code: str, param: str = "") -> Response:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if param:
        body["param"] = param
    return json_response({"error": body}, status=status)


def json_response(data: Any, *, status: int = 200, mimetype: str = JSON) -> Response:
    """JSON with Chinese kept as UTF-8 text (not \\u escapes)."""
    return Response(json_text(data), status=status, mimetype=mimetype)


def text_response(text: str, *, mimetype: str = JSON, etag: str | None = None) -> Response:
    response = Response(text, mimetype=mimetype)
    if etag:
        response.set_etag(etag)
        response.headers["Cache-Control"] = "no-cache"
    return response


def etag_for(*parts: Any) -> str:
    """A strong ETag from the store version and the request's meaning."""
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=12).hexdigest()


def page_links(
    endpoint: str,
    values: dict[str, Any],
    offset: int,
    limit: int,
    returned: int,
    matched: int,
    *,
    mimetype: str = GEOJSON,
    external: bool = False,
) -> list[dict[str, str]]:
    """``self``, ``next`` and ``prev`` links of a page, keeping the request's other parameters."""
    args = {k: v for k, v in request.args.items() if k not in ("offset", "limit")}

    def link(rel: str, new_offset: int) -> dict[str, str]:
        href = url_for(
            endpoint, **values, **args, limit=limit, offset=new_offset, _external=external
        )
        return {"rel": rel, "type": mimetype, "href": href}

    links = [link("self", offset)]
    if offset + returned < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(offset - limit, 0)))
    return links


# -- query parameters ----------------------------------------------------------

#: Parameters whose empty value means something (no attributes) or has its own message.
_MAY_BE_EMPTY = frozenset({"properties", "q"})

#: Four numbers in ASCII digits (Python's float() would also read Arabic-Indic digits).
_NUMBERS = re.compile(r"[-+0-9.eE]+(,[-+0-9.eE]+)*", re.ASCII)


def check_query() -> None:
    """Refuse query parameters the route does not declare, and empty values (400).

    OGC API – Features Part 1 asks for a 400 on an unknown parameter (``bbox-crs``,
    ``datetime``, ``filter``, ``sortby``... are not implemented here), rather than an
    answer that silently ignores it. A blueprint registers this as its
    ``before_request``; the declared parameters are the view's OpenAPI operation's.
    """
    from planner_web.openapi import query_names  # openapi imports nothing of http

    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return
    known = query_names(view)
    unknown = sorted(set(request.args) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        msg = f"unknown query parameter {unknown[0]!r}; this route takes: {takes}"
        raise ApiError(400, msg, param=unknown[0])
    for name, value in request.args.items(multi=True):
        if value == "" and name not in _MAY_BE_EMPTY:
            raise ApiError(400, f"{name} must not be empty (leave it out instead)", param=name)


def bbox_arg() -> tuple[float, float, float, float] | None:
    """The ``bbox`` query parameter as ``(west, south, east, north)``, or None if absent."""
    raw = request.args.get("bbox")
    if raw is None:
        return None
    if not _NUMBERS.fullmatch(raw):
        msg = f"bbox must be four comma-separated numbers in ASCII digits, got {raw!r}"
        raise ApiError(400, msg, param="bbox")
    return parse_bbox(raw, query=True)


#: Display coordinates a client may ask for: WGS84, or shifted to GCJ-02 for Gaode tiles.
DISPLAY_CRS = ("wgs84", "gcj02")


def crs_arg() -> str:
    """The ``crs`` query parameter (default ``wgs84``), or :class:`ApiError` 400."""
    display = request.args.get("crs", "wgs84").lower()
    if display not in DISPLAY_CRS:
        raise ApiError(400, f"crs must be wgs84 or gcj02, got {display!r}", param="crs")
    return display


def int_arg(name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None):
    """An integer query parameter, or :class:`ApiError` 400 naming the parameter."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}", param=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        bound = f"between {minimum}{upper}" if maximum is not None else f">= {minimum}"
        raise ApiError(400, f"{name} must be {bound}, got {value}", param=name)
    return value


def float_arg(name: str, default: float | None, *, minimum: float, maximum: float):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number, got {raw!r}", param=name) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be between {minimum} and {maximum}", param=name)
    return value


# -- application hooks ---------------------------------------------------------


def init_app(app: Flask) -> None:
    """Register error handlers, gzip and security headers on ``app``."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(PlannerError, _planner_error)
    app.register_error_handler(HTTPException, _http_error)
    app.before_request(_limit_body)
    app.after_request(_security_headers)
    app.after_request(_compress)


def _limit_body() -> None:
    """Refuse oversized bodies up front, even on routes that never read them."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def _wants_json() -> bool:
    path = request.path
    return path.startswith(("/api", "/ogc")) or request.accept_mimetypes.best == JSON


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, code=exc.code, param=exc.param)


def _planner_error(exc: PlannerError) -> Response:
    if isinstance(exc, ConflictError):  # another change landed first: nothing was written
        return conflict_response(exc)
    return error_response(400, exc.message, code="bad_request", param=exc.param or exc.source or "")


def plan_conflict_response(exc: ConflictError) -> Response:
    """409 of a refused plan write (a save, an accepted analysis): the error, the plan's
    current ``version`` and what ``changed`` since the client's base (grid codes and
    building ids where the engine names them, else the layers)."""
    response = error_response(409, exc.message, code="conflict", param=",".join(exc.layers))
    body = response.get_json()
    body["version"] = exc.version
    body["changed"] = exc.changed or exc.layers
    return json_response(body, status=409)


def conflict_response(exc: ConflictError) -> Response:
    """409 with the versions now on disk of the layers that changed, beside the error.

    A client reloads those layers (``"changed"``) and tries again against ``"version"``.
    """
    from planner.store import Store  # the store as it is now, not the cache's copy

    changed = list(exc.layers)
    try:
        on_disk = Store(current_app.config["STORE"]).layer_versions()
    except PlannerError:
        on_disk = {}
    body = {
        "error": {
            "status": 409,
            "code": "conflict",
            "message": exc.message,
            "param": ",".join(changed),
        },
        "version": {name: on_disk.get(name, 0) for name in changed},
        "changed": changed,
    }
    return json_response(body, status=409)


def _http_error(exc: HTTPException) -> Response | HTTPException:
    if not _wants_json():
        return exc
    code = (exc.name or "error").lower().replace(" ", "_")
    response = error_response(exc.code or 500, exc.description or exc.name, code=code)
    if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


#: Sent with every answer: no sniffing, no framing by other sites, no referrer (a one-time
#: login URL must not leak), no cross-origin embedding or window handles.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(self)",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if current_app.config.get("CSP") and response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
    return response


def content_security_policy() -> str:
    """Only this server, plus the configured basemap's tile host for images."""
    images = ["'self'", "data:"]
    base = basemap_settings(current_app.config)
    if base:
        parts = urlsplit(base["url"])
        host = parts.netloc
        if "{" in host:  # a subdomain template such as t{s}.tianditu.gov.cn
            host = "*." + host.split(".", 1)[1]
        images.append(f"{parts.scheme}://{host}")
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {' '.join(images)}",
            # Leaflet positions map panes with inline styles.
            "style-src 'self' 'unsafe-inline'",
            "script-src 'self'",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'self'",
        ]
    )


_static_gzip: dict[str, bytes] = {}
_static_lock = threading.Lock()


def _compress(response: Response) -> Response:
    """gzip compressible answers for clients that accept it (static files cached by ETag)."""
    config = current_app.config
    if (
        response.status_code != 200
        or "gzip" not in request.headers.get("Accept-Encoding", "").lower()
        or response.mimetype not in _COMPRESSIBLE
        or "Content-Encoding" in response.headers
        or request.method == "HEAD"
    ):
        return response
    response.vary.add("Accept-Encoding")
    static_key = None
    if response.direct_passthrough:
        # A file from send_file: compress it once per version (its ETag).
        etag, _ = response.get_etag()
        if not etag:
            return response
        static_key = f"{request.path}:{etag}"
        cached = _static_gzip.get(static_key)
        if cached is not None:
            _set_gzip(response, cached)
            return response
        response.direct_passthrough = False
    data = response.get_data()
    if len(data) < config["COMPRESS_MIN_SIZE"]:
        return response
    # ISA-L's gzip is an order of magnitude faster than zlib's at the same ratio, and
    # compression is most of the cost of a viewport request.
    compressed = igzip.compress(data, compresslevel=config["COMPRESS_LEVEL"], mtime=0)
    if static_key is not None:
        with _static_lock:
            _static_gzip[static_key] = compressed
    _set_gzip(response, compressed)
    return response


def _set_gzip(response: Response, data: bytes) -> None:
    response.direct_passthrough = False
    response.set_data(data)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(data))
    etag, weak = response.get_etag()
    if etag:
        # The gzip body differs from the plain one, so its ETag must too.
        response.set_etag(f"{etag}-gz", weak=weak)
