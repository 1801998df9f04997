"""The store in PostgreSQL/PostGIS: the GeoPackage store's layers, metadata and versions,
shared by a database server.

A ``postgresql://`` URL wherever a store path is accepted selects it (the CLI, ``planner
serve``, ``planner.Store(URL)``)::

    postgresql://USER@HOST:PORT/DATABASE?schema=SCHEMA

One store per schema (default ``public``); the database needs the PostGIS extension
(``CREATE EXTENSION postgis``). Other parameters of the URL (``sslmode``...) go to libpq
as given; a password is better kept in ``~/.pgpass`` or ``$PGPASSWORD`` than in the URL.

Each layer is a table: a ``fid`` serial key (row order), the layer's fields as typed
columns, and a ``geom`` column (any geometry, EPSG:4326) with a GiST index. The metadata
(versions, plan version, name, sources...) is the table ``planner_metadata`` of JSON
values, as in the GeoPackage.

Writes are PostgreSQL transactions: every layer of one write, its change log, plan
history and metadata commit together or not at all (a killed client's transaction is
rolled back by the server). A write first updates the one row of ``planner_changes``,
which holds writers in turn (a row lock, released at commit) and counts the changes
(:func:`stamp`, what the web map's caches are keyed by); only then does it read the
versions on disk and check them against what its store object read, so two writers never
both pass the check on the same versions (no lost update). Readers see the last commit
and do not wait for a write under way: a layer written whole has its rows deleted and
copied in, not its table dropped (only a write that changes a layer's columns makes the
table anew, and holds that layer's readers until it commits).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import threading
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.crs import STORAGE_CRS
from planner.errors import PlannerError
from planner.store import (
    METADATA_TABLE,
    Store,
    StoreMigrated,
    _decode_metadata,
    _metadata_changes,
    _new_metadata,
    _Rows,
    _version_tuple,
    _versions,
    empty_layer,
)

__all__ = ["CHANGES_TABLE", "PostgisStore", "StoreURL", "connection", "exists", "stamp"]

#: The one-row table every write updates first: the writers' turn, and the change count.
CHANGES_TABLE = "planner_changes"
#: The geometry column of every spatial layer.
GEOMETRY = "geom"
#: SRID of the storage CRS (EPSG:4326).
SRID = 4326
#: EWKB: the type's flag that an SRID follows it, and the SRID as it follows.
_SRID_FLAG = 0x20000000
_SRID_BYTES = SRID.to_bytes(4, "little")

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: PostgreSQL column types of the schema's field types.
_PG_TYPES = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean"}


class StoreURL(str):
    """A PostGIS store's URL, with what code written for paths asks of it (``stem``)."""

    __slots__ = ()

    @property
    def schema(self) -> str:
        """The schema holding the store (``public`` unless the URL names one)."""
        return _parse(self)[1]

    @property
    def stem(self) -> str:
        """A short name: the schema, or the database for a store in ``public``."""
        conninfo, name = _parse(self)
        if name != "public":
            return name
        return urllib.parse.urlsplit(conninfo).path.lstrip("/") or name

    name = stem

    @property
    def shown(self) -> str:
        """The URL without its password (for messages and reports)."""
        parts = urllib.parse.urlsplit(self)
        if parts.password is None:
            return str(self)
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _parse(url: str) -> tuple[str, str]:
    """(libpq URL without ``schema``, schema name) of a store URL."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "schema"] or ["public"]
    name = names[-1]
    if not _SCHEMA_NAME.match(name):
        msg = f"schema {name!r} in the store URL: use letters, digits and _ only"
        raise PlannerError(msg, param="schema")
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
    scheme = "postgresql"  # libpq also takes postgres://; one spelling for the cache key
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, rest, "")), name


# -- connections ---------------------------------------------------------------------


@dataclass
class _Held:
    con: Any  # psycopg.Connection
    #: One thread at a time uses it (re-entrant: a write reads through it too).
    lock: threading.RLock


#: Connections kept open, per process and database (opening one costs milliseconds).
_OPEN: dict[tuple[int, str], _Held] = {}
_OPEN_LOCK = threading.Lock()


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgis extra is not installed
        msg = "a postgresql:// store needs psycopg: pip install 'grid-planner[postgis]'"
        raise PlannerError(msg) from None
    return psycopg


@contextlib.contextmanager
def connection(url: str) -> Iterator[Any]:
    """This process's connection to the database of ``url``, its search path on the
    store's schema (then the database's own, where PostGIS is), in autocommit mode.

    The connection stays open for the next use; threads take turns on it. A broken one
    (the server restarted) is replaced.
    """
    psycopg = _driver()
    conninfo, name = _parse(url)
    key = (os.getpid(), f"{conninfo}#{name}")
    with _OPEN_LOCK:
        held = _OPEN.get(key)
        if held is not None and (held.con.closed or held.con.broken):
            _OPEN.pop(key)
            held = None
        if held is None:
            try:
                con = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
            except psycopg.OperationalError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                msg = f"cannot connect to the database ({first})"
                raise PlannerError(msg, source=StoreURL(url).shown) from None
            con.execute(
                "SELECT set_config('search_path', "
                "quote_ident(%s) || ', ' || current_setting('search_path'), false)",
                (name,),
            )
            held = _OPEN[key] = _Held(con, threading.RLock())
    with held.lock:
        yield held.con


@atexit.register
def _close_all() -> None:
    """Close this process's connections (those of a parent process are not its own)."""
    with _OPEN_LOCK:
        for (pid, _), held in list(_OPEN.items()):
            if pid == os.getpid():
                with contextlib.suppress(Exception):
                    held.con.close()
        _OPEN.clear()


def _ident(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def _tables(con: Any, name: str) -> set[str]:
    rows = con.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (name,))
    return {r[0] for r in rows.fetchall()}


def exists(url: str) -> bool:
    """True if the schema of ``url`` holds a planner store."""
    name = _parse(url)[1]
    with connection(url) as con:
        return METADATA_TABLE in _tables(con, name)


def stamp(url: str) -> tuple[int]:
    """The store's change count: it grows with every committed write (layers, accounts)."""
    name = _parse(url)[1]
    with connection(url) as con:
        try:
            row = con.execute(f"SELECT n FROM {_ident(name, CHANGES_TABLE)}").fetchone()
        except _driver().errors.UndefinedTable:
            msg = "store not found"
            raise PlannerError(msg, source=StoreURL(url).shown) from None
    return (int(row[0]) if row else 0,)


@contextlib.contextmanager
def writing(url: str) -> Iterator[Any]:
    """A transaction on the store of ``url`` holding the writers' turn (see the module).

    Yields the connection; everything done through it commits at the end of the block,
    or is rolled back if the block raises.
    """
    name = _parse(url)[1]
    with connection(url) as con, con.transaction():
        con.execute(f"UPDATE {_ident(name, CHANGES_TABLE)} SET n = n + 1")
        yield con


# -- the store -------------------------------------------------------------------------


class PostgisStore(Store):
    """A store in a PostgreSQL/PostGIS schema; ``Store(URL)`` opens one.

    Behaves as :class:`planner.store.Store` does (layers, metadata, versions, the
    no-lost-update rule); see the module for how it is laid out and kept consistent.

    Parameters
    ----------
    path
        The store's ``postgresql://`` URL.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = StoreURL(str(path))
        self._schema = self.path.schema
        self.read_versions: dict[str, int] = {}
        self.metadata = self._read_metadata()
        self._migrate()

    @property
    def location(self) -> str:
        return self.path.shown

    def _migrate(self) -> None:
        found = str(self.metadata.get("schema_version", "1.0"))
        if _version_tuple(found) > _version_tuple(schema.SCHEMA_VERSION):
            msg = (
                f"the store has schema {found}, newer than this planner's "
                f"{schema.SCHEMA_VERSION}; upgrade grid-planner to open it"
            )
            raise PlannerError(msg, source=self.location)
        if _version_tuple(found) == _version_tuple(schema.SCHEMA_VERSION):
            return
        with self._writing() as txn:
            self.metadata = self._migrated(txn)
        warnings.warn(
            f"{self.location}: migrated from schema {found} to {schema.SCHEMA_VERSION} "
            "(no copy kept: back the database up with pg_dump first)",
            StoreMigrated,
            stacklevel=3,
        )

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        metric_crs: str,
        name: str = "",
        sources: Iterable[Mapping[str, str]] = (),
        overwrite: bool = False,
    ) -> PostgisStore:
        """Create an empty store in the schema of the URL ``path`` (made if missing).

        See :meth:`planner.store.Store.create`; ``overwrite`` drops the store's layers
        and metadata first, in the same transaction (its accounts are kept).
        """
        url = StoreURL(str(path))
        schema_name = url.schema
        metadata = _new_metadata(metric_crs=metric_crs, name=name, sources=sources)
        with connection(url) as con, con.transaction():
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema_name)}")
            # Two creators of one schema at once: the second waits, then finds the store.
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"planner:{schema_name}",))
            present = _tables(con, schema_name)
            if METADATA_TABLE in present:
                if not overwrite:
                    msg = "a store exists there; pass overwrite=True to replace it"
                    raise PlannerError(msg, source=url.shown)
                for table in sorted(present & {*schema.LAYERS, METADATA_TABLE}):
                    con.execute(f"DROP TABLE {_ident(schema_name, table)}")
            if not con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
                msg = "the database lacks PostGIS; run `CREATE EXTENSION postgis` in it first"
                raise PlannerError(msg, source=url.shown)
            if CHANGES_TABLE in present:
                # The count goes on: a web server keyed by it must not take the new store
                # for the one it had cached at the same count.
                con.execute(f"UPDATE {_ident(schema_name, CHANGES_TABLE)} SET n = n + 1")
            else:
                con.execute(
                    f"CREATE TABLE {_ident(schema_name, CHANGES_TABLE)} "
                    "(id integer PRIMARY KEY CHECK (id = 1), n bigint NOT NULL)"
                )
                con.execute(f"INSERT INTO {_ident(schema_name, CHANGES_TABLE)} VALUES (1, 0)")
            con.execute(
                f"CREATE TABLE {_ident(schema_name, METADATA_TABLE)} "
                "(key text PRIMARY KEY, value text NOT NULL)"
            )
            _write_metadata(con, schema_name, metadata)
        return cls(url)

    def _read_metadata(self) -> dict[str, Any]:
        with connection(self.path) as con:
            try:
                metadata = _metadata_of(con, self._schema)
            except _driver().errors.UndefinedTable:
                msg = "store not found; create it with `planner import SOURCE --store URL`"
                raise PlannerError(msg, source=self.location) from None
        self._metadata_version = _versions(metadata).get(METADATA_TABLE, 0)
        return metadata

    def layer_versions(self) -> dict[str, int]:
        with connection(self.path) as con:
            return _versions(_metadata_of(con, self._schema))

    @property
    def version(self) -> str:
        return f"{self.metadata.get('updated', '')}:{stamp(self.path)[0]}"

    def layers(self) -> list[str]:
        with connection(self.path) as con:
            present = _tables(con, self._schema)
        return [name for name in schema.LAYERS if name in present]

    def count(self, layer: str) -> int:
        if layer not in self.layers():
            return 0
        with connection(self.path) as con:
            row = con.execute(f"SELECT count(*) FROM {_ident(self._schema, layer)}").fetchone()
        return int(row[0])

    def read(
        self,
        layer: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        where: str | None = None,
        columns: list[str] | None = None,
        missing_ok: bool = True,
    ) -> gpd.GeoDataFrame | pd.DataFrame:
        spec = schema.get_layer(layer)
        # As the GeoPackage store: the version first, then the data.
        self.read_versions.setdefault(layer, self.layer_versions().get(layer, 0))
        if not self.has(layer):
            if not missing_ok:
                msg = f"the store has no {layer!r} layer ({spec.zh}) yet"
                raise PlannerError(msg, source=self.location)
            return empty_layer(layer)
        with connection(self.path) as con:
            frame = _read_table(
                con,
                self._schema,
                layer,
                bbox=bbox,
                where=where,
                columns=columns,
                geometry=spec.geometry is not None or layer in ("findings",),
            )
        return schema.conform(layer, frame)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_PgWrite]:
        with writing(self.path) as con:
            yield _PgWrite(con, self._schema)


class _PgWrite:
    """A PostGIS store held for one write: its transaction (see :class:`store._GpkgWrite`)."""

    def __init__(self, con: Any, schema_name: str) -> None:
        self.con = con
        self.schema = schema_name
        #: The metadata as this write read it (the commit rewrites only what changed).
        self.read_metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        self.read_metadata = _metadata_of(self.con, self.schema)
        return dict(self.read_metadata)

    def layers(self) -> set[str]:
        return {n for n in _tables(self.con, self.schema) if n in schema.LAYERS}

    def read(self, layer: str) -> pd.DataFrame:
        spec = schema.get_layer(layer)
        geometry = spec.geometry is not None or layer in ("findings",)
        return _read_table(self.con, self.schema, layer, geometry=geometry)

    def last_plan_counts(self) -> tuple[int, int] | None:
        return self.con.execute(
            f"SELECT grids, households FROM {_ident(self.schema, 'plan_versions')} "
            "ORDER BY plan_version DESC LIMIT 1"
        ).fetchone()

    def grid_counts(self, codes: list[str] | None) -> tuple[int, int]:
        query = f"SELECT count(*), coalesce(sum(households), 0) FROM {_ident(self.schema, 'grids')}"
        if codes is None:
            count, households = self.con.execute(query).fetchone()
        else:
            count, households = self.con.execute(
                f"{query} WHERE grid_code = ANY(%s)", (list(codes),)
            ).fetchone()
        return int(count), int(households or 0)

    def commit(
        self,
        *,
        replace: Mapping[str, pd.DataFrame],
        rows: Mapping[str, _Rows],
        deleted: Mapping[str, list[str]],
        metadata: Mapping[str, Any],
    ) -> None:
        """Write the change in this transaction (committed when the write's block ends).

        A few rows (an edit, its history and log) and the metadata go in one pipeline:
        one wait for the server, not one per statement.
        """
        tables = _columns_of(self.con, self.schema, [*rows, *deleted])
        for name, keys in deleted.items():
            if keys and name in tables:
                key = schema.get_layer(name).key
                self.con.execute(
                    f"DELETE FROM {_ident(self.schema, name)} WHERE {_ident(key)} = ANY(%s)",
                    (list(keys),),
                )
        few = {}
        for name, new in rows.items():
            if name in replace:
                continue
            if name not in tables:
                _write_table(self.con, self.schema, name, new.frame())
            elif len(new) <= _FEW_ROWS:
                few[name] = new
            else:
                _insert_rows(self.con, self.schema, name, new, tables[name])
        for name, frame in replace.items():
            _write_table(self.con, self.schema, name, frame)
        with self.con.pipeline():
            for name, new in few.items():
                _insert_rows(self.con, self.schema, name, new, tables[name])
            _write_metadata(self.con, self.schema, metadata, self.read_metadata)


# -- tables --------------------------------------------------------------------------


def _metadata_of(con: Any, schema_name: str) -> dict[str, Any]:
    rows = con.execute(f"SELECT key, value FROM {_ident(schema_name, METADATA_TABLE)}").fetchall()
    return _decode_metadata(rows)


def _write_metadata(
    con: Any,
    schema_name: str,
    metadata: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> None:
    """The metadata table takes ``metadata``: only the keys that differ from ``previous``
    (the metadata on disk) where it is given."""
    table = _ident(schema_name, METADATA_TABLE)
    stale, fresh = _metadata_changes(previous, metadata)
    if stale is None:
        con.execute(f"DELETE FROM {table}")
    elif stale:
        con.execute(f"DELETE FROM {table} WHERE key = ANY(%s)", (stale,))
    if fresh:
        with con.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} (key, value) VALUES (%s, %s)", fresh)


def _column_type(name: str, column: str, values: pd.Series | list[Any]) -> str:
    """The PostgreSQL type of a column: the schema's, or one fitting the values given."""
    spec = schema.get_layer(name)
    for f in spec.fields:
        if f.name == column:
            return _PG_TYPES[f.type]
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if series.dtype == object:
        series = series.infer_objects()
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    return "text"


def _plain_values(values: pd.Series | list[Any], kind: str) -> list[Any]:
    """Python values for PostgreSQL: None for missing, text as text, numbers as numbers."""
    if isinstance(values, pd.Series):
        # A whole layer: pandas finds the missing values and unboxes numbers in bulk.
        missing = values.isna().to_numpy()
        if kind == "text":
            return [
                None if m else (v if type(v) is str else str(v))
                for v, m in zip(values.tolist(), missing, strict=True)
            ]
        if not missing.any():
            return values.tolist()
        return values.astype(object).where(~missing, None).tolist()
    out = []
    for value in values:  # a few edited rows: no pandas
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            out.append(None)
        elif kind == "text":
            out.append(value if isinstance(value, str) else str(value))
        elif hasattr(value, "item"):  # a numpy scalar
            out.append(value.item())
        else:
            out.append(value)
    return out


def _ewkb(geoms: np.ndarray) -> list[str | None]:
    """Hex EWKB (with the SRID) of shapely geometries, as PostGIS reads them in COPY."""
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object), byte_order=1, flavor="extended")
    # The SRID goes in after the type, with its flag: shapely.set_srid would copy each
    # geometry first. bytes.hex is several times faster than shapely's own hex output.
    return [
        None
        if b is None
        else (
            b[:1]
            + (int.from_bytes(b[1:5], "little") | _SRID_FLAG).to_bytes(4, "little")
            + _SRID_BYTES
            + b[5:]
        ).hex()
        for b in wkb
    ]


def _write_table(con: Any, schema_name: str, name: str, frame: pd.DataFrame) -> None:
    """Put ``frame``'s rows in table ``name`` in place of all it held (columns in its order).

    A table whose columns are already the frame's keeps its definition and indexes: its
    rows are deleted and the new ones copied in, which readers do not wait for (they see
    the old rows until the commit). Other columns make the table anew, which holds its
    readers off until the write commits.
    """
    table = _ident(schema_name, name)
    spatial = isinstance(frame, gpd.GeoDataFrame)
    attributes = [c for c in frame.columns if not (spatial and c == frame.geometry.name)]
    types = {c: _column_type(name, c, frame[c]) for c in attributes}
    wanted = [("fid", "bigint"), *((c, types[c]) for c in attributes)]
    if spatial:
        wanted.append((GEOMETRY, f"geometry(Geometry,{SRID})"))
    made = _columns(con, schema_name, name) != wanted
    if not made:
        con.execute(f"DELETE FROM {table}")
    else:
        definitions = ["fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"]
        definitions += [f"{_ident(c)} {t}" for c, t in wanted[1:]]
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"CREATE TABLE {table} ({', '.join(definitions)})")
        if spatial:
            con.execute(f"CREATE INDEX ON {table} USING gist ({GEOMETRY})")
        key = schema.get_layer(name).key
        if key is not None and key in attributes:
            con.execute(f"CREATE INDEX ON {table} ({_ident(key)})")
    columns = {c: _plain_values(frame[c], types[c]) for c in attributes}
    if spatial:
        columns[GEOMETRY] = _ewkb(frame.geometry.to_numpy())
    _copy(con, table, columns, len(frame))
    if made:
        # A new table has no statistics until autovacuum gets to it: without them an edit
        # by key (DELETE ... = ANY) may be planned as a scan of the whole layer.
        con.execute(f"ANALYZE {table}")


def _columns(con: Any, schema_name: str, name: str) -> list[tuple[str, str]]:
    """(name, type) of the columns of table ``name``, in order; empty if there is no such
    table."""
    return list(_columns_of(con, schema_name, [name]).get(name, {}).items())


def _columns_of(con: Any, schema_name: str, names: list[str]) -> dict[str, dict[str, str]]:
    """Column name → type of those of the tables ``names`` the schema holds, in one query."""
    if not names:
        return {}
    rows = con.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid "
        "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p') "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
        (schema_name, list(dict.fromkeys(names))),
    ).fetchall()
    columns: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        columns.setdefault(str(table), {})[str(column)] = str(kind)
    return columns


#: Rows of one table an edit inserts with INSERT in the write's pipeline; more go by COPY
#: (which a pipeline cannot hold).
_FEW_ROWS = 1000


def _copy(con: Any, table: str, columns: Mapping[str, list[Any]], n: int) -> None:
    """Rows in by COPY (text format: PostgreSQL parses each value as its column's type)."""
    if not n:
        return
    names = ", ".join(_ident(c) for c in columns)
    with con.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row(row)


def _insert_rows(
    con: Any, schema_name: str, name: str, rows: _Rows, have: Mapping[str, str]
) -> None:
    """Put ``rows`` into table ``name`` (whose columns are ``have``: name → type) in place
    of those with their key (appended where the layer has none); fields the table lacks
    are added, other columns left out. A few rows go by INSERT (which a pipeline can
    hold), more by COPY."""
    table = _ident(schema_name, name)
    have = dict(have)
    for f in schema.get_layer(name).fields:
        if f.name not in have and f.name in rows.columns:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {_ident(f.name)} {_PG_TYPES[f.type]}")
            have[f.name] = _PG_TYPES[f.type]
    columns = {
        c: _plain_values(v, have[c]) for c, v in rows.columns.items() if c in have and c != "fid"
    }
    if GEOMETRY in have and rows.geometry is not None:
        columns[GEOMETRY] = _ewkb(rows.geometry)
    key = schema.get_layer(name).key
    if key is not None:
        con.execute(f"DELETE FROM {table} WHERE {_ident(key)} = ANY(%s)", (rows.keys(),))
    if len(rows) > _FEW_ROWS:
        _copy(con, table, columns, len(rows))
    elif len(rows):
        names = ", ".join(_ident(c) for c in columns)
        marks = ", ".join("%s" for _ in columns)
        with con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",
                list(zip(*columns.values(), strict=True)),
            )


def _read_table(
    con: Any,
    schema_name: str,
    name: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    where: str | None = None,
    columns: list[str] | None = None,
    geometry: bool = True,
) -> pd.DataFrame:
    """Rows of table ``name`` in their order, as pyogrio would read them from a GeoPackage."""
    table = _ident(schema_name, name)
    attributes = _columns(con, schema_name, name)
    spatial = geometry and any(a == GEOMETRY for a, _ in attributes)
    chosen = [(a, t) for a, t in attributes if a not in ("fid", GEOMETRY)]
    if columns is not None:
        chosen = [(a, t) for a, t in chosen if a in set(columns)]
    select = [_ident(a) for a, _ in chosen]
    if spatial:
        select.append(f"ST_AsBinary({GEOMETRY})")
    conditions = []
    params: list[Any] = []
    if where:
        conditions.append(f"({where})")
    if bbox is not None and spatial:
        conditions.append(f"ST_Intersects({GEOMETRY}, ST_MakeEnvelope(%s, %s, %s, %s, {SRID}))")
        params.extend(float(v) for v in bbox)
    query = f"SELECT {', '.join(select) or 'NULL'} FROM {table}"
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    query += " ORDER BY fid"
    psycopg = _driver()
    try:
        with con.cursor(binary=True) as cur:
            cur.execute(query, params)
            records = cur.fetchall()
    except psycopg.ProgrammingError as exc:
        if not where:
            raise
        msg = f"bad `where` ({exc.diag.message_primary})"
        raise PlannerError(msg, param="where") from None
    values = list(zip(*records, strict=True)) if records else [()] * len(select)
    data = {a: _column(values[i], t) for i, (a, t) in enumerate(chosen)}
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(records)))
    if not spatial:
        return frame
    geoms = shapely.from_wkb(np.array(values[-1], dtype=object))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS))


def _column(values: tuple[Any, ...], kind: str) -> np.ndarray | list[Any]:
    """One column's values as pyogrio gives a GeoPackage's: numbers as numpy arrays."""
    missing = any(v is None for v in values)
    if kind in ("bigint", "integer", "smallint"):
        if not missing:
            return np.array(values, dtype="int64")
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind in ("double precision", "real", "numeric"):
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if kind == "boolean" and not missing:
        return np.array(values, dtype=bool)
    return np.array(values, dtype=object)
