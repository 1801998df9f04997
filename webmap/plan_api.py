"""The plan editor's API: the current plan version, previews of edits, versioned saves.

Thin views over :mod:`planner.plan_edit`: ``GET /api/plan`` (the latest version and
its figures, or ``?version=N``), ``POST /api/plan/preview`` (an edited plan's figures
per touched grid and its findings, nothing written) and ``POST /api/plan/save`` (a new
plan version; 409 with the current ``version`` and what ``changed`` when the edits
touch something another save changed since their base version).

Over :mod:`planner.plan_versions`: ``GET /api/plan/versions`` (every version, who,
when, why), ``GET /api/plan/diff?a=&b=`` (grids added, removed, reshaped, households
moved, codes kept), ``POST /api/plan/rollback`` (a new version equal to an old one)
and ``POST /api/plan/publish`` (mark a version as the official plan; admins).

Every route takes a ``community`` (code or name; a query parameter of the GET routes,
a field of the POST bodies) where the store holds several communities: the call then
sees and changes that community's grids only. Omitted, the whole plan, as in a store of
one community; an unknown community is 400 with ``param`` ``community``.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, current_app, g, request

from planner import plan_versions
from planner.errors import ConflictError
from planner.plan_commit import current_rows
from planner.plan_edit import EditRefused, PlanEditor, within_community
from planner.store import Store
from planner_web.auth import requires
from planner_web.http import (
    ApiError,
    error_response,
    int_arg,
    json_response,
    plan_conflict_response,
)
from planner_web.openapi import ok, operation

__all__ = ["EditorCache", "bp"]

bp = Blueprint("plan", __name__)


class EditorCache:
    """One :class:`~planner.plan_edit.PlanEditor` per store, read again after any write
    but its own saves.

    Previews reuse the plan read once, so a live update costs the edit and its check. A
    save through the editor makes its next context from what it wrote
    (:meth:`~planner.plan_edit.PlanContext.after_save`): the session going on with the
    saved version waits for neither a reload nor a full check.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._editors: dict[str, PlanEditor] = {}

    def get(self, store_path: str) -> PlanEditor:
        """The editor of ``store_path``, current with the store."""
        with self._lock:
            editor = self._editors.get(store_path)
            if editor is None or not editor.context.current():
                editor = self._editors[store_path] = PlanEditor(Store(store_path))
            return editor


_EDITORS = EditorCache()


def _warm(path: str) -> None:
    """Read the plan of ``path`` and check it in the background (a planner opening the
    editor after a save would otherwise wait for both)."""

    def work() -> None:
        _EDITORS.get(path).context.checked()

    threading.Thread(target=work, daemon=True).start()


def _editor() -> PlanEditor:
    return _EDITORS.get(current_app.config["STORE"])


def _body(needs: str = "edits") -> dict[str, Any]:
    """The JSON request body: an object with ``needs`` (``edits``, ``version``); every
    write is refused on a read-only server."""
    if not current_app.config["ANALYSIS_ENABLED"]:
        raise ApiError(403, "editing is disabled on this read-only server", code="forbidden")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object with `{needs}`", code="bad_request")
    return body


def _known_version(store: Store, version: Any, param: str) -> int:
    """``version`` as a plan version the store has, else 400 (not a number) or 404."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ApiError(
            400, f"`{param}` must be a plan version number", code="bad_request", param=param
        )
    known = set(plan_versions.list_versions(store)["plan_version"].astype(int))
    if version not in known:
        raise ApiError(404, f"no plan version {version}", code="not_found", param=param)
    return version


def _base(body: dict[str, Any]) -> int:
    base = body.get("base_version")
    if isinstance(base, bool) or not isinstance(base, int):
        raise ApiError(
            400,
            "`base_version` must be a plan version number",
            code="bad_request",
            param="base_version",
        )
    return base


def _community(value: Any) -> str | None:
    """A ``community`` given in a body or query: None, or a non-empty code or name (400)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(
            400,
            "`community` must be a community code or name",
            code="bad_request",
            param="community",
        )
    return value


def _scope(body: dict[str, Any]) -> None:
    """Hold the edits to the body's ``community`` where one is given (400 otherwise)."""
    community = _community(body.get("community"))
    if community is None:
        return
    within_community(Store(current_app.config["STORE"]), body.get("edits"), community)


@bp.errorhandler(EditRefused)
def _refused(exc: EditRefused):
    return error_response(422, exc.message, code="unprocessable", param=exc.param or "edits")


@bp.errorhandler(ConflictError)
def _conflict(exc: ConflictError):
    return plan_conflict_response(exc)


@bp.get("")
@requires("read")
@operation(
    "getPlan",
    "The latest plan version (or ?version=N) and its grids' figures",
    tags=["plan"],
    query=["version", "community"],
    responses={"200": ok("The plan version"), "400": "Error", "404": "Error"},
)
def plan():
    """The latest plan version, the published one and the grids' figures."""
    store = Store(current_app.config["STORE"])
    community = _community(request.args.get("community"))
    # The editor opens with this request: read its plan and check it meanwhile, for a quick
    # first list of findings and first preview.
    _warm(current_app.config["STORE"])
    current = plan_versions.current_version(store)
    version = int_arg("version", None, minimum=0)
    if version is None or version == current:
        grids = store.read("grids")
        grids = grids[current_rows(grids)]
        version = current
        if community is not None:
            grids = grids[plan_versions.of_community(store, grids, community)]
    else:
        version = _known_version(store, version, "version")
        grids = plan_versions.plan_at(store, version, community=community)["grids"]
    columns = ["grid_code", "name", "zone_code", "households", "buildings", "flag", "locked"]
    rows = grids[columns].sort_values("grid_code")
    published = plan_versions.published_version(store, community=community)
    return json_response(
        {
            "version": version,
            "current": current,
            "published": published,
            "community": _community_code(store, community),
            "grids": [
                {k: (None if v != v else v) for k, v in row.items()}  # NaN → null
                for row in rows.astype(object).to_dict("records")
            ],
            "households": int(rows["households"].fillna(0).sum()),
        }
    )


@bp.post("/preview")
@requires("edit")
@operation(
    "previewPlanEdits",
    "Figures and findings of the plan with edits applied; nothing is saved",
    tags=["plan"],
    body="PlanEdits",
    responses={"200": ok("The edited plan's figures"), "400": "Error", "422": "Error"},
)
def preview():
    """The edited plan's figures per touched grid, the codes it creates, its findings.

    No edits (an empty list): the plan's own check, which the editor lists on opening.
    """
    body = _body()
    _scope(body)
    edits = body.get("edits")
    report = _editor().check() if edits == [] else _editor().preview(edits)
    if "base_version" in body:
        report["base_version"] = _base(body)
    return json_response(report)


@bp.post("/save")
@requires("edit")
@operation(
    "savePlanEdits",
    "Save edits made on a plan version as a new version (409 if they clash)",
    tags=["plan"],
    body="PlanEdits",
    responses={
        "200": ok("The new version"),
        "400": "Error",
        "409": "Error",
        "422": "Error",
    },
)
def save():
    """Save ``edits`` made on ``base_version`` as a new plan version; ``check`` is the
    saved plan's own check (as a preview of no edits on it gives it)."""
    body = _body()
    message = body.get("message") or ""
    if not isinstance(message, str):
        raise ApiError(400, "`message` must be text", code="bad_request", param="message")
    _scope(body)
    report = _editor().save(_base(body), body.get("edits"), message=message, user=_user())
    # The saved plan is the session's next base: its check goes with the answer (made
    # again where the save changed it; in full only if another write came between), so
    # the page lists it at once, before it reloads the map's layers.
    report["check"] = _editor().check()
    return json_response(report)


@bp.get("/versions")
@requires("read")
@operation(
    "listPlanVersions",
    "Every plan version, oldest first: who, when, why, its grids and households",
    tags=["plan"],
    query=["community"],
    responses={"200": ok("The plan versions"), "400": "Error"},
)
def versions():
    """Every plan version with the current and published flags (of one community: the
    versions that changed its grids, counting its grids alone)."""
    store = Store(current_app.config["STORE"])
    community = _community(request.args.get("community"))
    frame = plan_versions.list_versions(store, community=community)
    columns = ["plan_version", "time", "user", "reason", "grids", "households"]
    rows = [
        {k: (None if v != v else v) for k, v in row.items()}  # NaN → null
        for row in frame[columns].astype(object).to_dict("records")
    ]
    for row, published, current in zip(rows, frame["published"], frame["current"], strict=True):
        row["published"] = bool(published)
        row["current"] = bool(current)
    return json_response(
        {
            "current": plan_versions.current_version(store),
            "published": plan_versions.published_version(store, community=community),
            "community": _community_code(store, community),
            "versions": rows,
        }
    )


@bp.get("/diff")
@requires("read")
@operation(
    "diffPlanVersions",
    "Compare the grids of two plan versions: added, removed, reshaped, households moved",
    tags=["plan"],
    query=["versionA", "versionB", "community"],
    responses={"200": ok("The differences from a to b"), "400": "Error", "404": "Error"},
)
def diff():
    """Grids added, removed and reshaped from version ``a`` to ``b``, households moved."""
    store = Store(current_app.config["STORE"])
    current = plan_versions.current_version(store)
    old = _known_version(store, int_arg("a", current, minimum=0), "a")
    new = _known_version(store, int_arg("b", current, minimum=0), "b")
    community = _community(request.args.get("community") or None)
    return json_response(plan_versions.diff_versions(store, old, new, community=community))


@bp.post("/rollback")
@requires("edit")
@operation(
    "rollbackPlan",
    "Make a new plan version equal to an older one (nothing is lost)",
    tags=["plan"],
    body="PlanVersion",
    responses={"200": ok("The new version"), "400": "Error", "404": "Error", "409": "Error"},
)
def rollback():
    """A new plan version equal to ``version``; buildings and figures follow it."""
    body = _body("version")
    store = Store(current_app.config["STORE"])
    community = _community(body.get("community"))
    version = _known_version(store, body.get("version"), "version")
    report = plan_versions.rollback_to(store, version, user=_user(), community=community)
    return json_response({**report, "version": report["plan_version"]})


@bp.post("/publish")
@requires("publish")
@operation(
    "publishPlan",
    "Publish a plan version as the official plan (admins)",
    tags=["plan"],
    body="PlanVersion",
    responses={"200": ok("The published version"), "400": "Error", "404": "Error"},
)
def publish():
    """Mark ``version`` as the published plan; the plan itself is unchanged."""
    body = _body("version")
    store = Store(current_app.config["STORE"])
    community = _community(body.get("community"))
    version = _known_version(store, body.get("version"), "version")
    report = plan_versions.publish_version(store, version, user=_user(), community=community)
    return json_response(report)


def _community_code(store: Store, community: str | None) -> str | None:
    """The code of the community a scoped call answers for (None: the whole plan)."""
    return plan_versions.community_scope(store, community)


def _user() -> str | None:
    """Who saves: the logged-in user."""
    return g.get("user")
