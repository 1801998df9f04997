"""Who is asking, and may they: login, sessions, CSRF, Origin and Host checks, tokens, roles.

Every request passes :func:`_guard` first. It refuses a Host header the server
does not answer to (400: DNS rebinding), finds the user (a bearer API token, HTTP
basic auth on reads, a one-time login token in the page URL, or the session
cookie), refuses a state-changing request from another origin or, with a session,
without its ``X-CSRF-Token`` (403), and checks the role against the permission
the view declares with :func:`requires` (401 when nobody is logged in, 403 when the
role is short). A view that declares nothing is for admins only, so a new route
is closed until someone opens it.

What a role may see of each layer is :mod:`planner.accounts`' policy;
:func:`visible_fields` and :func:`can_see_layer` apply it to the current request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

from planner import accounts
from planner.store import store_stamp
from planner_web.extensions import features
from planner_web.http import ApiError, error_response, json_response
from planner_web.i18n import get_lang, messages
from planner_web.openapi import ok, operation

__all__ = [
    "CSRF_HEADER",
    "PUBLIC_ENDPOINTS",
    "bp",
    "can_see_layer",
    "current_role",
    "init_app",
    "requires",
    "role_tag",
    "visible_catalog",
    "visible_fields",
]

bp = Blueprint("auth", __name__)

#: The header a session's state-changing requests carry the CSRF token in.
CSRF_HEADER = "X-CSRF-Token"

#: Endpoints anyone may reach: the login page and API, the API's description, liveness.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "auth.login_page",
        "auth.login",
        "auth.logout",
        "auth.whoami",
        "pages.docs",
        "pages.favicon",
        "api.openapi",
        "api.health",
        # The phone view's manifest and service worker: fetched by the browser without
        # the session, and holding nothing of the store.
        "phone.manifest",
        "phone.service_worker",
    }
)

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: Endpoints a state-changing request may reach without a CSRF token (it has no session yet).
_CSRF_EXEMPT = frozenset({"auth.login"})

F = TypeVar("F", bound=Callable[..., Any])


def requires(action: str) -> Callable[[F], F]:
    """Declare the permission (a key of :data:`planner.accounts.PERMISSIONS`) a view needs."""
    if action not in accounts.PERMISSIONS:
        msg = f"unknown action {action!r}"
        raise ValueError(msg)

    def mark(view: F) -> F:
        view.permission = action  # type: ignore[attr-defined]
        return view

    return mark


def current_role() -> str | None:
    """The role of the current request: a role, :data:`planner.accounts.PUBLIC` or None."""
    return g.get("role")


def role_tag() -> str:
    """A word for the current role, to keep one role's cached answers from another's."""
    return str(current_role())


def can_see_layer(name: str) -> bool:
    """Whether the current request's role receives layer ``name``."""
    return accounts.can_see_layer(current_role(), name)


def visible_fields(name: str, columns: Any) -> list[str] | None:
    """The columns of ``name`` the current role receives, in layer order; None = all."""
    allowed = accounts.visible_fields(current_role(), name)
    if allowed is None:
        return None
    return [str(c) for c in columns if c in allowed]


def visible_catalog() -> list[dict[str, Any]]:
    """The store's layer catalogue as the current role may see it: layers, fields, statistics.

    Statistics of a hidden field (its sum, say) would tell what the field hides, so they
    go with it.
    """
    role = current_role()
    entries = []
    for entry in features().catalog():
        name = entry["name"]
        if not accounts.can_see_layer(role, name):
            continue
        allowed = accounts.visible_fields(role, name)
        if allowed is not None:
            entry = {
                **entry,
                "fields": [f for f in entry["fields"] if f["name"] in allowed],
                "stats": {k: v for k, v in entry["stats"].items() if k in allowed},
            }
        entries.append(entry)
    return entries


# -- application set-up ---------------------------------------------------------------


class _Sessions(SecureCookieSessionInterface):
    """Signed cookie sessions, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_app(app: Flask) -> None:
    """Sessions, the guard run before every view, and the login routes."""
    config = app.config
    if not config.get("SECRET_KEY"):
        # A new key per start: sessions end with the server, which is what a local
        # server wants; set SECRET_KEY (PLANNER_SECRET_KEY) to keep them across restarts.
        config["SECRET_KEY"] = secrets.token_hex(32)
    config.setdefault("SESSION_COOKIE_NAME", "planner_session")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = _Sessions()
    hosts = {"localhost", "127.0.0.1", "::1"}
    if config.get("BIND_HOST"):
        hosts.add(str(config["BIND_HOST"]).strip("[]").lower())
    hosts |= {str(h).strip("[]").lower() for h in config.get("ALLOWED_HOSTS") or ()}
    app.extensions["planner.allowed_hosts"] = frozenset(hosts)
    app.extensions["planner.attempts"] = _Attempts(
        config["LOGIN_MAX_FAILURES"], config["LOGIN_WINDOW_SECONDS"]
    )
    app.extensions["planner.basic_cache"] = {}
    app.extensions["planner.account_lookups"] = _Lookups(config["STORE"])
    app.before_request(_guard)
    app.after_request(_vary)
    app.register_blueprint(bp)


# -- the guard ------------------------------------------------------------------------


def _guard() -> Response | None:
    _check_host()
    _identify()
    if request.method not in _SAFE:
        _check_origin()
        if g.via == "session" and request.endpoint not in _CSRF_EXEMPT:
            _check_csrf()
    if request.method == "GET" and "token" in request.args and request.endpoint == "pages.map_page":
        return _one_time_login()
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None  # unrouted (404/405 follow) or open to anyone
    view = current_app.view_functions[endpoint]
    action = getattr(view, "permission", "manage_users")
    if accounts.allowed(g.role, action):
        return None
    if g.user is None:
        if request.method == "GET" and not request.path.startswith(("/api", "/ogc")):
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        response = error_response(
            401,
            "log in first (POST /api/login, a bearer token, or basic auth)",
            code="unauthorized",
        )
        if request.path.startswith("/ogc"):
            response.headers["WWW-Authenticate"] = 'Basic realm="grid planner", charset="UTF-8"'
        return response
    raise ApiError(403, f"the role {g.role!r} may not do this ({action})", code="forbidden")


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        return host[1:].split("]", 1)[0].lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


def _check_host() -> None:
    allowed = current_app.extensions["planner.allowed_hosts"]
    if _host_name(request.host) not in allowed:
        msg = "this server does not answer to that Host; start it with --allowed-host NAME"
        raise ApiError(400, msg, code="bad_host", param="Host")


def _check_origin() -> None:
    origin = request.headers.get("Origin")
    if origin is None:
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise ApiError(403, "cross-site requests may not change anything", code="forbidden")
        return
    parts = urlsplit(origin)
    own = urlsplit(request.host_url)
    if (parts.scheme, parts.netloc.lower()) != (own.scheme, own.netloc.lower()):
        msg = "requests from another origin may not change anything"
        raise ApiError(403, msg, code="forbidden", param="Origin")


def _check_csrf() -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = session.get("csrf", "")
    if not sent or not expected or not accounts.same_secret(sent, expected):
        msg = f"missing or wrong {CSRF_HEADER} header (the token POST /api/login answered)"
        raise ApiError(403, msg, code="forbidden", param=CSRF_HEADER)


def _identify() -> None:
    """Set ``g.user``, ``g.role`` and ``g.via`` (token, basic, session or None)."""
    g.user, g.via = None, None
    g.role = accounts.PUBLIC if current_app.config["PUBLIC_VIEW"] else None
    store = features().store
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        user = _lookups().get(("token", token), lambda: accounts.user_for_token(store, token))
        if user is None:
            raise ApiError(401, "unknown or revoked API token", code="unauthorized")
        g.user, g.role, g.via = user.name, user.role, "token"
        return
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        if request.method not in _SAFE:
            # Browsers replay basic credentials cross-site: they may only read.
            msg = "basic auth may only read; use a bearer token or a session to change things"
            raise ApiError(403, msg, code="forbidden")
        user = _basic_user(store, basic.username or "", basic.password or "")
        g.user, g.role, g.via = user.name, user.role, "basic"
        return
    name = session.get("user")
    if not name:
        return
    if session.get("local"):
        g.user, g.role, g.via = name, session.get("role"), "session"
        return
    user = _lookups().get(("user", name), lambda: accounts.get_user(store, name))
    if user is None:  # removed since it logged in
        session.clear()
        return
    g.user, g.role, g.via = user.name, user.role, "session"


#: Successful basic-auth checks are remembered this long, so a GIS client's many requests
#: do not each pay for a password hash.
_BASIC_CACHE_SECONDS = 60


def _basic_user(store: Any, name: str, secret: str) -> accounts.User:
    cache = current_app.extensions["planner.basic_cache"]
    key = hashlib.sha256(f"{name}\0{secret}".encode()).hexdigest()
    seen = cache.get(key)
    if seen is not None and seen > time.monotonic():
        # The role now; None once removed.
        user = _lookups().get(("user", name), lambda: accounts.get_user(store, name))
        if user is not None:
            return user
    attempts: _Attempts = current_app.extensions["planner.attempts"]
    attempts.check(request.remote_addr or "")
    if secret.startswith("pl_"):
        user = accounts.user_for_token(store, secret)
        user = user if user is not None and user.name == name else None
    else:
        user = accounts.authenticate(store, name, secret)
    if user is None:
        attempts.failed(request.remote_addr or "")
        raise ApiError(401, "wrong user name, password or token", code="unauthorized")
    if len(cache) > 1000:
        cache.clear()
    cache[key] = time.monotonic() + _BASIC_CACHE_SECONDS
    return user


def _one_time_login() -> Response:
    """Spend a one-time token from the URL, sign the browser in, and drop the token from it."""
    role = accounts.consume_login_token(features().store, request.args["token"])
    if role is None:
        return redirect(url_for("auth.login_page", expired=1))
    _start_session(accounts.LOCAL_USER, local_role=role)
    args = {k: v for k, v in request.args.items() if k != "token"}
    return redirect(url_for("pages.map_page", **args))


def _start_session(name: str, *, local_role: str | None = None) -> str:
    session.clear()
    session["user"] = name
    session["csrf"] = secrets.token_urlsafe(32)
    if local_role is not None:
        session["local"] = True
        session["role"] = local_role
    g.user, g.via = name, "session"
    return session["csrf"]


def _vary(response: Response) -> Response:
    # Answers depend on who asks: no shared cache may hand one user's answer to another.
    if request.path.startswith(("/api", "/ogc")):
        response.vary.add("Cookie")
        response.vary.add("Authorization")
    return response


class _Lookups:
    """Accounts looked up by token or name, kept until the store file changes.

    Opening the GeoPackage with SQLite costs milliseconds (its schema is large), too
    much for every request of a map. Any account change writes the file (on PostGIS,
    counts as a change of the store), so a cache keyed by the store's stamp (the file's
    modification time and size) never answers with a stale role.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._found: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], load: Callable[[], Any]) -> Any:
        stamp = store_stamp(self.path)
        with self._lock:
            if stamp != self._stamp:
                self._found = {}
                self._stamp = stamp
            if key in self._found:
                return self._found[key]
        value = load()
        with self._lock:
            if self._stamp == stamp and len(self._found) < 10_000:
                self._found[key] = value
        return value


def _lookups() -> _Lookups:
    return current_app.extensions["planner.account_lookups"]


class _Attempts:
    """Failed logins per client address in a sliding window; too many → 429."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, client: str) -> None:
        with self._lock:
            if len(self._recent(client, time.monotonic())) >= self.limit:
                msg = "too many failed logins from this address; wait a few minutes"
                raise ApiError(429, msg, code="too_many_requests")

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10000:
                self._failures.clear()
            self._recent(client, time.monotonic()).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


# -- routes -----------------------------------------------------------------------------


@bp.get("/login")
def login_page():
    """The login page (登录)."""
    page_config = {
        "lang": get_lang(),
        "messages": messages(),
        "login": url_for("auth.login"),
        "next": _safe_next(request.args.get("next", "")),
        "expired": "expired" in request.args,
    }
    store_name = features().store.name
    return render_template("login.html", page_config=page_config, store_name=store_name)


def _safe_next(target: str) -> str:
    """Where to go after logging in: a path of this server only (no open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.map_page")
    return target


@bp.post("/api/login")
@operation(
    "login",
    "Log in: a session cookie (HttpOnly, SameSite=Lax) and the CSRF token for changes",
    tags=["accounts"],
    body="Login",
    responses={"200": ok("The session", "Session"), "400": "Error", "401": "Error", "429": "Error"},
)
def login():
    """Log in with ``{"username", "password"}``: a session cookie and the CSRF token."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, 'send JSON {"username": ..., "password": ...}', param="body")
    name, password = body.get("username"), body.get("password")
    if not isinstance(name, str) or not name or not isinstance(password, str) or not password:
        raise ApiError(400, "username and password are required", param="username")
    attempts: _Attempts = current_app.extensions["planner.attempts"]
    client = request.remote_addr or ""
    attempts.check(client)
    user = accounts.authenticate(features().store, name, password)
    if user is None:
        attempts.failed(client)
        raise ApiError(401, "wrong user name or password", code="unauthorized")
    attempts.succeeded(client)
    csrf = _start_session(user.name)
    return json_response({"csrf_token": csrf, "role": user.role, "user": user.name})


@bp.post("/api/logout")
@operation(
    "logout",
    "End the session (send X-CSRF-Token)",
    tags=["accounts"],
    responses={"200": ok("No session", "Session"), "403": "Error"},
)
def logout():
    """End the session, and have the browser drop what it kept of this site (the phone view's
    offline copies with their contacts, remembered views)."""
    session.clear()
    response = json_response({"user": None, "role": None})
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.get("/api/session")
@operation(
    "getSession",
    "Who is logged in, with which role, and the CSRF token",
    tags=["accounts"],
    responses={"200": ok("The session", "Session")},
)
def whoami():
    """Who the session is: user, role and CSRF token (nulls when nobody is logged in)."""
    if g.user is None:
        return json_response({"user": None, "role": current_role(), "csrf_token": None})
    return json_response(
        {"user": g.user, "role": g.role, "csrf_token": session.get("csrf"), "via": g.via}
    )


@bp.get("/api/users")
@operation(
    "listUsers",
    "The store's accounts (admins)",
    tags=["accounts"],
    responses={"200": ok("The accounts")},
)
@requires("manage_users")
def users():
    """The store's accounts (admins only)."""
    found = accounts.list_users(features().store)
    return json_response({"users": [accounts.describe(u) for u in found]})
