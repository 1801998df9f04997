"""Users, roles, password hashes and API tokens kept in the store; what each role may see and do.

Accounts live in plain tables inside the store (``planner_users`` and
``planner_tokens``): SQLite tables in its GeoPackage, or tables of its PostGIS
schema; beside the metadata table and like it not layers: no map, REST route or
OGC collection serves them. Passwords are kept as werkzeug hashes; API tokens and
one-time login tokens are random strings of which only a SHA-256 digest is kept, so
a copy of the store gives no way in.
Writes take the store's lock (a PostGIS store's writers' turn), like every other write.

The policy of the roles is here, once, for every shell:

- ``viewer`` (field staff): the map, stations, grid boundaries and contacts, grid-level
  household totals; never per-building households nor special-group counts.
- ``official``: reads everything; edits nothing.
- ``planner``: official, plus editing plans and running analyses.
- ``admin``: planner, plus managing users and publishing.
- anonymous: nothing, unless the server shows a public view (:data:`PUBLIC`):
  stations and grid boundaries with no figures and no contacts.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from planner import schema
from planner.errors import InputError, PlannerError
from planner.store import Store, _transaction, is_database_url

__all__ = [
    "LOCAL_USER",
    "MIN_PASSWORD_LENGTH",
    "PERMISSIONS",
    "PUBLIC",
    "ROLES",
    "SPECIAL_GROUP_FIELDS",
    "User",
    "add_user",
    "allowed",
    "authenticate",
    "can_see_layer",
    "consume_login_token",
    "describe",
    "get_user",
    "has_admin",
    "list_users",
    "make_login_token",
    "make_token",
    "remove_user",
    "reset_password",
    "same_secret",
    "set_role",
    "user_for_token",
    "visible_fields",
]

#: Roles, from the least to the most trusted; each may do what the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "official", "planner", "admin")

#: The pseudo-role of an anonymous visitor to a server started with a public view.
PUBLIC = "public"

#: The name a one-time local login signs in as (an admin with no account row).
LOCAL_USER = "local"

#: Action → the least role allowed to do it.
PERMISSIONS: dict[str, str] = {
    # The map, stations, grid boundaries and totals (fields filtered by visible_fields);
    # the one action a public view grants anonymous visitors.
    "view": "viewer",
    # The rest a logged-in viewer reads: the store's summary, the analysis steps.
    "read": "viewer",
    # Every figure: dashboards, reports, the change log, unmatched roster rows.
    "read_all": "official",
    # Running analyses and editing the plan.
    "analyse": "planner",
    "edit": "planner",
    # Publishing a plan version and managing accounts.
    "publish": "admin",
    "manage_users": "admin",
}

#: Counts of people, at any level (building, block, grid, zone): hidden from viewers.
SPECIAL_GROUP_FIELDS: frozenset[str] = frozenset(
    {"elderly_alone", "disabled", "left_behind_children", "special_groups", "residents"}
)

#: Layers finer than a grid whose ``households`` count tells about a few homes.
_FINE_HOUSEHOLD_LAYERS: frozenset[str] = frozenset(
    {"buildings", "blocks", "edge_areas", "grid_moves"}
)

#: Layers a viewer never receives: raw roster rows, edit details, the plan's history, and
#: the household warnings (each names one building's households in its text).
_PRIVATE_LAYERS: frozenset[str] = frozenset(
    {"roster_unmatched", "change_log", "plan_history", "plan_versions", "household_warnings"}
)

#: What an anonymous visitor of a public view sees: boundaries and names, no figures.
_PUBLIC_FIELDS: dict[str, frozenset[str]] = {
    "grids": frozenset({"grid_code", "name", "zone_code"}),
    "stations": frozenset({"station_id", "name", "kind", "status"}),
}

#: A password shorter than this is refused.
MIN_PASSWORD_LENGTH = 8

#: One-time login tokens expire after this long unused.
LOGIN_TOKEN_LIFETIME = timedelta(hours=24)

_USERS = "planner_users"
_TOKENS = "planner_tokens"
_NAME = re.compile(r"^[\w.@-]{1,64}$")


def _rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` (None = anonymous, :data:`PUBLIC` = public view) may do ``action``.

    Parameters
    ----------
    role
        A role of :data:`ROLES`, :data:`PUBLIC` or None.
    action
        A key of :data:`PERMISSIONS`.
    """
    if action not in PERMISSIONS:
        msg = f"unknown action {action!r}; known: {', '.join(PERMISSIONS)}"
        raise ValueError(msg)
    if role == PUBLIC:
        return action == "view"
    return _rank(role) >= _rank(PERMISSIONS[action])


def can_see_layer(role: str | None, layer: str) -> bool:
    """Whether ``role`` receives any of ``layer``."""
    if role == PUBLIC:
        return layer in _PUBLIC_FIELDS
    if not allowed(role, "view"):
        return False
    if allowed(role, "read_all"):
        return True
    return layer not in _PRIVATE_LAYERS


def visible_fields(role: str | None, layer: str) -> frozenset[str] | None:
    """The attributes of ``layer`` that ``role`` receives; None = all of them.

    For a viewer, the schema's fields less the special-group counts and, on layers
    finer than a grid, the households; columns outside the schema (extra roster
    fields) are left out too, since nobody has vouched for them. Call
    :func:`can_see_layer` first: a layer the role cannot see has no visible fields.
    """
    if not can_see_layer(role, layer):
        return frozenset()
    if role == PUBLIC:
        return _PUBLIC_FIELDS[layer]
    if allowed(role, "read_all"):
        return None
    hidden = set(SPECIAL_GROUP_FIELDS)
    if layer in _FINE_HOUSEHOLD_LAYERS:
        hidden |= {"households", "households_source", "households_served"}
    spec = schema.get_layer(layer)
    return frozenset(name for name in spec.field_names if name not in hidden)


# -- accounts ----------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """An account: its name, role and when it was made."""

    name: str
    role: str
    created: str


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _path(store: Store | str | Path) -> Path | str:
    return store.path if isinstance(store, Store) else Store(store).path


class _Taken(Exception):
    """A row with that key exists already (either backend's integrity error)."""


class _Tables:
    """The account tables of one store, through SQLite or PostgreSQL alike: queries are
    written once with ``?`` placeholders."""

    def __init__(self, con: Any, *, postgres: bool, schema_name: str = "") -> None:
        self.con = con
        self.postgres = postgres
        self.schema = schema_name

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        if self.postgres:
            import psycopg

            try:
                return self.con.execute(query.replace("?", "%s"), params)
            except psycopg.errors.UniqueViolation:
                raise _Taken from None
        try:
            return self.con.execute(query, params)
        except sqlite3.IntegrityError:
            raise _Taken from None

    def has_tables(self) -> bool:
        if self.postgres:
            query = "SELECT count(*) FROM pg_tables WHERE schemaname = ? AND tablename = ?"
            return bool(self.execute(query, (self.schema, _USERS)).fetchone()[0])
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.execute(query, (_USERS,)).fetchone()[0])

    def create(self) -> None:
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {_USERS} (name TEXT PRIMARY KEY, role TEXT NOT NULL,"
            " password_hash TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL)"
        )
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {_TOKENS} (token_hash TEXT PRIMARY KEY,"
            " kind TEXT NOT NULL, name TEXT, role TEXT NOT NULL, created TEXT NOT NULL,"
            " expires TEXT)"
        )


@contextlib.contextmanager
def _connect(path: Path | str, *, write: bool) -> Iterator[_Tables]:
    """The store's account tables (made on the first write), in one transaction.

    Writes hold the store's lock, so an account change never interleaves with a
    layer write; on PostGIS they also count as a change of the store (the web map's
    account caches follow).
    """
    if is_database_url(path):
        from planner import postgis

        if write:
            with postgis.writing(path) as con:
                tables = _Tables(con, postgres=True, schema_name=path.schema)
                tables.create()
                yield tables
        else:
            with postgis.connection(path) as con, con.transaction():
                yield _Tables(con, postgres=True, schema_name=path.schema)
        return
    with _transaction(Path(path), write=write) as con:
        tables = _Tables(con, postgres=False)
        if write:
            tables.create()
        yield tables


def _has_tables(con: _Tables) -> bool:
    return con.has_tables()


def _check_role(role: str) -> str:
    if role not in ROLES:
        msg = f"unknown role {role!r}; roles: {', '.join(ROLES)}"
        raise InputError(msg, param="role")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
        raise InputError(msg, param="password")
    return password


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name == LOCAL_USER:
        msg = (
            f"user name {name!r} must be 1-64 letters, digits or . _ @ - "
            f"(and not {LOCAL_USER!r}, the one-time local login)"
        )
        raise InputError(msg, param="name")
    return name


def _missing(name: str) -> PlannerError:
    return InputError(f"no user {name!r}", param="name")


def add_user(store: Store | str | Path, name: str, role: str, password: str) -> User:
    """Make account ``name`` with ``role`` and ``password`` (kept as a werkzeug hash).

    Raises
    ------
    InputError
        For a bad name, role or password, or a name already taken.
    """
    _check_name(name)
    _check_role(role)
    _check_password(password)
    created = _now().isoformat(timespec="seconds")
    hashed = generate_password_hash(password)
    with _connect(_path(store), write=True) as con:
        try:
            con.execute(
                f"INSERT INTO {_USERS} VALUES (?, ?, ?, ?, ?)",
                (name, role, hashed, created, created),
            )
        except _Taken:
            raise InputError(f"user {name!r} exists already", param="name") from None
    return User(name, role, created)


def list_users(store: Store | str | Path) -> list[User]:
    """Every account, by name."""
    with _connect(_path(store), write=False) as con:
        if not _has_tables(con):
            return []
        rows = con.execute(f"SELECT name, role, created FROM {_USERS} ORDER BY name").fetchall()
    return [User(*row) for row in rows]


def get_user(store: Store | str | Path, name: str) -> User | None:
    """The account ``name``, or None."""
    with _connect(_path(store), write=False) as con:
        if not _has_tables(con):
            return None
        row = con.execute(
            f"SELECT name, role, created FROM {_USERS} WHERE name = ?", (name,)
        ).fetchone()
    return None if row is None else User(*row)


def has_admin(store: Store | str | Path) -> bool:
    """Whether the store has at least one admin account."""
    return any(user.role == "admin" for user in list_users(store))


def remove_user(store: Store | str | Path, name: str) -> None:
    """Remove account ``name`` and its API tokens."""
    with _connect(_path(store), write=True) as con:
        if not con.execute(f"DELETE FROM {_USERS} WHERE name = ?", (name,)).rowcount:
            raise _missing(name)
        con.execute(f"DELETE FROM {_TOKENS} WHERE name = ?", (name,))


def set_role(store: Store | str | Path, name: str, role: str) -> User:
    """Give account ``name`` role ``role``; its tokens follow the new role."""
    _check_role(role)
    updated = _now().isoformat(timespec="seconds")
    with _connect(_path(store), write=True) as con:
        changed = con.execute(
            f"UPDATE {_USERS} SET role = ?, updated = ? WHERE name = ?", (role, updated, name)
        ).rowcount
        if not changed:
            raise _missing(name)
        con.execute(f"UPDATE {_TOKENS} SET role = ? WHERE name = ?", (role, name))
    user = get_user(store, name)
    assert user is not None  # just written under the lock
    return user


def reset_password(store: Store | str | Path, name: str, password: str) -> None:
    """Set a new password for ``name``."""
    _check_password(password)
    hashed = generate_password_hash(password)
    updated = _now().isoformat(timespec="seconds")
    with _connect(_path(store), write=True) as con:
        changed = con.execute(
            f"UPDATE {_USERS} SET password_hash = ?, updated = ? WHERE name = ?",
            (hashed, updated, name),
        ).rowcount
        if not changed:
            raise _missing(name)


def authenticate(store: Store | str | Path, name: str, password: str) -> User | None:
    """The account if ``password`` is ``name``'s, else None (same answer for a wrong name)."""
    with _connect(_path(store), write=False) as con:
        row = None
        if _has_tables(con):
            row = con.execute(
                f"SELECT name, role, created, password_hash FROM {_USERS} WHERE name = ?",
                (name,),
            ).fetchone()
    if row is None:
        # Hash anyway, so that timing does not tell which names exist.
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(row[3], password):
        return None
    return User(*row[:3])


_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def make_token(store: Store | str | Path, name: str) -> str:
    """A new API token for ``name`` (``Authorization: Bearer``); only its digest is kept.

    The token is shown once, here: keep it like a password.
    """
    user = get_user(store, name)
    if user is None:
        raise _missing(name)
    token = "pl_" + secrets.token_urlsafe(32)
    created = _now().isoformat(timespec="seconds")
    with _connect(_path(store), write=True) as con:
        con.execute(
            f"INSERT INTO {_TOKENS} VALUES (?, 'api', ?, ?, ?, NULL)",
            (_digest(token), name, user.role, created),
        )
    return token


def user_for_token(store: Store | str | Path, token: str) -> User | None:
    """The account an API token belongs to, or None for an unknown token."""
    if not token.startswith("pl_"):
        return None
    with _connect(_path(store), write=False) as con:
        if not _has_tables(con):
            return None
        row = con.execute(
            f"SELECT u.name, u.role, u.created FROM {_TOKENS} t JOIN {_USERS} u ON u.name = t.name"
            " WHERE t.token_hash = ? AND t.kind = 'api'",
            (_digest(token),),
        ).fetchone()
    return None if row is None else User(*row)


def make_login_token(store: Store | str | Path, *, role: str = "admin") -> str:
    """A one-time token that signs a browser in as :data:`LOCAL_USER` with ``role``.

    ``planner serve`` on a loopback address with no accounts prints a URL carrying
    it, as Jupyter does. It works once, within :data:`LOGIN_TOKEN_LIFETIME`.
    """
    _check_role(role)
    token = secrets.token_urlsafe(32)
    now = _now()
    with _connect(_path(store), write=True) as con:
        # Expired tokens go as new ones are made.
        con.execute(
            f"DELETE FROM {_TOKENS} WHERE kind = 'login' AND expires < ?",
            (now.isoformat(timespec="seconds"),),
        )
        con.execute(
            f"INSERT INTO {_TOKENS} VALUES (?, 'login', NULL, ?, ?, ?)",
            (
                _digest(token),
                role,
                now.isoformat(timespec="seconds"),
                (now + LOGIN_TOKEN_LIFETIME).isoformat(timespec="seconds"),
            ),
        )
    return token


def consume_login_token(store: Store | str | Path, token: str) -> str | None:
    """The role a one-time login token grants, or None; the token is spent either way."""
    path = _path(store)
    with _connect(path, write=False) as con:
        if not _has_tables(con):
            return None
        # Look first without the lock: a wrong token must not make every request queue.
        found = con.execute(
            f"SELECT 1 FROM {_TOKENS} WHERE token_hash = ? AND kind = 'login'", (_digest(token),)
        ).fetchone()
    if found is None:
        return None
    with _connect(path, write=True) as con:
        row = con.execute(
            f"SELECT role, expires FROM {_TOKENS} WHERE token_hash = ? AND kind = 'login'",
            (_digest(token),),
        ).fetchone()
        if row is None:  # spent by a request that won the lock
            return None
        con.execute(f"DELETE FROM {_TOKENS} WHERE token_hash = ?", (_digest(token),))
    role, expires = row
    if expires < _now().isoformat(timespec="seconds"):
        return None
    return role


def same_secret(a: str, b: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


def describe(user: User) -> dict[str, Any]:
    """An account as plain JSON."""
    return {"name": user.name, "role": user.role, "created": user.created}
