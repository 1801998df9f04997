"""The layer store: one GeoPackage file holding every layer, its metadata and change log.

Writes are all-or-nothing and cost what they change: edited rows go straight into their
tables; layers written whole go to a small staging GeoPackage first (beside the store),
then move into the store. Either way one SQLite transaction holds the change (tables,
spatial index, GeoPackage registry rows, metadata and change log together), so an error
or a crash mid-write leaves the store as it was. The store keeps SQLite's rollback
journal (not WAL): the file alone is the whole store at every moment, so copying it, GDAL
3.6, QGIS and the web map's change check (the file's time and size) all see every
commit; the journal of an interrupted write is rolled back, and staging files removed,
on the next open. Readers never take a lock; writers take an exclusive lock file, so
concurrent writes queue.

Why not WAL, which would spare a commit its syncs: layers are read through GDAL, which
carries its own copy of SQLite. Two copies of SQLite in one process cannot see each
other's POSIX locks, so when GDAL closes the file it believes itself the last user,
checkpoints and deletes the ``-wal`` file under the planner's open connection, whose next
commits then go to a deleted file and are lost to every other process (tried: a commit
made after a GDAL read was not seen by the next process). The rollback journal leaves no
such state between writes.

A process keeps its SQLite connection to a store open between uses (idle, it holds no
lock and no file), so a write does not parse the GeoPackage's schema again each time.

No lost update: each layer has a version number in the metadata. A :class:`Store`
remembers the version of every layer it read; a write whose inputs changed since (another
process wrote one of them) is refused with :class:`~planner.errors.ConflictError` and
writes nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import struct
import tempfile
import threading
import urllib.parse
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planner import schema
from planner.crs import STORAGE_CRS, is_storage_crs
from planner.errors import ConflictError, PlannerError
from planner.geometry import make_valid_like

__all__ = [
    "CONFLICT_MESSAGE",
    "METADATA_TABLE",
    "OSM_ATTRIBUTION",
    "Store",
    "StoreMigrated",
    "copy_store",
    "empty_layer",
    "is_database_url",
    "store_exists",
    "store_location",
    "store_stamp",
]

METADATA_TABLE = "planner_metadata"
#: What a refused write says (the CLI exits 3, the API answers 409).
CONFLICT_MESSAGE = (
    "another change landed since this command read the store; nothing was written — run it again"
)
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


class StoreMigrated(UserWarning):
    """A store of an earlier schema was brought up to date (a backup copy is kept)."""


def is_database_url(location: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL: a store in PostGIS."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def store_location(location: str | os.PathLike) -> str | Path:
    """A store's location as the store takes it: a database URL as given, else a path.

    ``Path("postgresql://host/db")`` would fold the URL's ``//``; callers that accept
    either (the CLI, the web app) pass what they are given through this.
    """
    if is_database_url(location):
        from planner.postgis import StoreURL

        return StoreURL(location)
    return Path(location)


def store_exists(location: str | os.PathLike) -> bool:
    """True if a store is at ``location`` (a GeoPackage file, or a PostGIS schema with one)."""
    if is_database_url(location):
        from planner.postgis import exists

        return exists(str(location))
    return Path(location).exists()


def store_stamp(location: str | os.PathLike) -> tuple[Any, ...]:
    """A cheap token that changes whenever the store at ``location`` is written.

    Layers, metadata and accounts alike: the web map keys its caches by it. A
    GeoPackage's is its file's time and size; a PostGIS store's is its change counter.
    """
    if is_database_url(location):
        from planner.postgis import stamp

        return stamp(str(location))
    st = os.stat(location)
    return st.st_mtime_ns, st.st_size


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A store of planner layers: a GeoPackage file, or a PostGIS database.

    Open an existing store with ``Store(path)``; make a new one with
    :meth:`Store.create`. Layers are read as GeoDataFrames in the storage CRS
    (EPSG:4326) and written through :meth:`write` or :meth:`write_many`.

    A ``postgresql://`` URL opens a shared store in PostgreSQL/PostGIS instead
    (:class:`planner.postgis.PostgisStore`): the same layers, versions and
    no-lost-update rule, with PostgreSQL's transactions.

    Parameters
    ----------
    path
        Path of the ``.gpkg`` file, or a ``postgresql://`` URL.
    """

    def __new__(cls, path: str | os.PathLike, *args: Any, **kwargs: Any) -> Store:  # noqa: ARG004
        if cls is Store and is_database_url(path):
            from planner.postgis import PostgisStore

            return super().__new__(PostgisStore)
        return super().__new__(cls)

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            msg = "store not found; create it with `planner import SOURCE --store FILE`"
            raise PlannerError(msg, source=str(self.path))
        #: Version of each layer when this object read it (see :meth:`write_many`).
        self.read_versions: dict[str, int] = {}
        self.metadata = self._read_metadata()
        _clean_leftovers(self.path)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a store of an earlier schema up to date, after a backup copy beside it."""
        found = str(self.metadata.get("schema_version", "1.0"))
        if _version_tuple(found) >= _version_tuple(schema.SCHEMA_VERSION):
            if _version_tuple(found) > _version_tuple(schema.SCHEMA_VERSION):
                msg = (
                    f"the store has schema {found}, newer than this planner's "
                    f"{schema.SCHEMA_VERSION}; upgrade grid-planner to open it"
                )
                raise PlannerError(msg, source=str(self.path))
            return
        backup = self.path.with_name(f"{self.path.stem}.schema-{found}{self.path.suffix}")
        with self._writing() as txn:
            shutil.copyfile(self.path, backup)
            new_meta = self._migrated(txn)
        self.metadata = new_meta
        warnings.warn(
            f"{self.path}: migrated from schema {found} to {schema.SCHEMA_VERSION} "
            f"(the earlier file is kept as {backup.name})",
            StoreMigrated,
            stacklevel=3,
        )

    @staticmethod
    def _migrated(txn: _GpkgWrite) -> dict[str, Any]:
        """Migrate the store open in ``txn``; return its new metadata."""
        disk = txn.metadata()
        # 1.0 → 1.1: versions start at 0 and the plan tables are made by the first plan
        # write, so only the schema version changes.
        new_meta = {**disk, "schema_version": schema.SCHEMA_VERSION}
        txn.commit(replace={}, rows={}, deleted={}, metadata=new_meta)
        return new_meta

    # -- creation and metadata -------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        metric_crs: str,
        name: str = "",
        sources: Iterable[Mapping[str, str]] = (),
        overwrite: bool = False,
    ) -> Store:
        """Create an empty store.

        Parameters
        ----------
        path
            Where to write the ``.gpkg`` file, or a ``postgresql://`` URL (a schema of a
            PostGIS database, see :mod:`planner.postgis`).
        metric_crs
            The CRS measurements use for this area (see :func:`planner.crs.metric_crs_for`).
        name
            The community's name, Chinese allowed.
        sources
            Where the data came from, each a mapping with ``name`` and ``attribution``.
        overwrite
            Replace an existing file (atomically, only once the new one is complete).

        Returns
        -------
        Store
        """
        if cls is Store and is_database_url(path):
            from planner.postgis import PostgisStore

            return PostgisStore.create(
                path, metric_crs=metric_crs, name=name, sources=sources, overwrite=overwrite
            )
        path = Path(path)
        if path.exists() and not overwrite:
            msg = "file exists; pass overwrite=True to replace it"
            raise PlannerError(msg, source=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = _new_metadata(metric_crs=metric_crs, name=name, sources=sources)
        with _locked(path), _staged(path, copy=False) as tmp:
            _write_metadata(tmp, metadata)
        return cls(path)

    def _read_metadata(self) -> dict[str, Any]:
        metadata = _read_metadata(self.path)
        self._metadata_version = _versions(metadata).get(METADATA_TABLE, 0)
        return metadata

    def layer_versions(self) -> dict[str, int]:
        """The version of each layer now on disk (0 for one never written since versions began)."""
        return _versions(_read_metadata(self.path))

    @property
    def metric_crs(self) -> str:
        """The metric CRS chosen for this store's area."""
        return self.metadata["metric_crs"]

    @property
    def name(self) -> str:
        """The community's name."""
        return self.metadata.get("name", "")

    @property
    def version(self) -> str:
        """A token that changes whenever the store is written (for caches)."""
        return f"{self.metadata.get('updated', '')}:{store_stamp(self.path)[0]}"

    @property
    def location(self) -> str:
        """Where the store is, fit to show (a database URL without its password)."""
        return str(self.path)

    def refresh(self) -> Store:
        """Re-read the metadata after another process wrote the store, and start afresh:
        the layers read from now on are the ones a later write checks."""
        self.metadata = self._read_metadata()
        self.read_versions.clear()
        return self

    # -- reading ---------------------------------------------------------------

    def layers(self) -> list[str]:
        """Names of the schema layers present in the store."""
        # The GeoPackage registry, read with SQLite: GDAL would open the whole dataset.
        with _connect(self.path) as con:
            present = _registered(con)
        return [name for name in schema.LAYERS if name in present]

    def has(self, layer: str) -> bool:
        """Return True if ``layer`` is in the store."""
        return layer in self.layers()

    def count(self, layer: str) -> int:
        """Number of features in ``layer`` (0 if absent)."""
        with _connect(self.path) as con:
            if layer not in _registered(con):
                return 0
            return int(con.execute(f"SELECT count(*) FROM {_quote(layer)}").fetchone()[0])

    def read(
        self,
        layer: str,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        where: str | None = None,
        columns: list[str] | None = None,
        missing_ok: bool = True,
    ) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read a layer in the storage CRS, conformed to the schema.

        Parameters
        ----------
        layer
            Layer name from :data:`planner.schema.LAYERS`.
        bbox
            Only features intersecting this lon/lat box (uses the GeoPackage's spatial index).
        where
            An SQL WHERE clause, e.g. ``"status = 'existing'"``.
        columns
            Only these attribute columns (others of the schema are filled with defaults).
        missing_ok
            Return an empty layer if absent, instead of raising :class:`PlannerError`.

        Returns
        -------
        geopandas.GeoDataFrame, or pandas.DataFrame for tables
        """
        spec = schema.get_layer(layer)
        # The version first, then the data: a write landing in between makes this
        # object's later write refuse (safe), never pass on stale data. The first read
        # counts: what was computed from it is stale if a later read finds a newer one.
        self.read_versions.setdefault(layer, self.layer_versions().get(layer, 0))
        if not self.has(layer):
            if not missing_ok:
                msg = f"the store has no {layer!r} layer ({spec.zh}) yet"
                raise PlannerError(msg, source=str(self.path))
            return empty_layer(layer)
        with _reading(self.path):
            frame = pyogrio.read_dataframe(
                self.path,
                layer=layer,
                bbox=bbox,
                where=where,
                columns=columns,
                read_geometry=spec.geometry is not None or layer in ("findings",),
                fid_as_index=False,
            )
        if isinstance(frame, gpd.GeoDataFrame) and frame.crs is None:
            frame = frame.set_crs(STORAGE_CRS)
        return schema.conform(layer, frame)

    def read_metric(self, layer: str, **kwargs: Any) -> gpd.GeoDataFrame:
        """Read a spatial layer projected to the store's metric CRS."""
        return self.read(layer, **kwargs).to_crs(self.metric_crs)

    # -- writing ---------------------------------------------------------------

    def write(
        self, layer: str, frame: pd.DataFrame, *, log: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        """Replace ``layer`` with ``frame``, all or nothing. See :meth:`write_many`."""
        self.write_many({layer: frame}, log=log)

    def write_many(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        log: Iterable[Mapping[str, Any]] = (),
        metadata: Mapping[str, Any] | None = None,
        rows: Mapping[str, pd.DataFrame] | None = None,
        deleted: Mapping[str, Iterable[Any]] | None = None,
    ) -> None:
        """Replace layers, or change some of their rows, in one all-or-nothing write.

        Each frame is converted to the storage CRS, conformed and validated
        against the schema first; any problem raises :class:`PlannerError` and
        nothing is written. The change-log entries (``layer``, ``action``,
        ``detail``, ``reason``, ``user``) are appended in the same write. If a
        layer this object read has been written by someone else since, nothing is
        written and :class:`~planner.errors.ConflictError` is raised.

        Parameters
        ----------
        frames
            Layer name → new content (the whole layer).
        log
            Change-log entries to record with this write.
        metadata
            Metadata keys to update in the same write.
        rows
            Layer name → rows to add, or to put in place of the rows with the same key
            (the layer's schema key, e.g. ``grid_code``); the other rows stay. A small
            edit costs what it changes, not the layer.
        deleted
            Layer name → keys of rows to remove.
        """
        prepared = {name: self._prepare(name, frame) for name, frame in frames.items()}
        # Edited rows are conformed and checked value by value: a small edit costs what it
        # changes, not pandas' fixed cost per column.
        edited = {name: self._prepare_rows(name, frame) for name, frame in (rows or {}).items()}
        removed = {name: [str(k) for k in keys] for name, keys in (deleted or {}).items()}
        for name in {*edited, *removed}:
            if name in prepared or schema.get_layer(name).key is None:
                msg = f"rows of {name!r} can be changed only by its key, and not with the layer"
                raise PlannerError(msg)
        entries = [dict(e) for e in log]
        with self._writing() as txn:
            disk = txn.metadata()
            versions = _versions(disk)
            stale = sorted(n for n, v in self.read_versions.items() if versions.get(n, 0) != v)
            if metadata and versions.get(METADATA_TABLE, 0) != self._metadata_version:
                stale.append(METADATA_TABLE)
            if stale:
                raise ConflictError(CONFLICT_MESSAGE, source=self.location, layers=stale)
            appended: dict[str, _Rows] = {}
            if entries:
                now = _now()
                records = [{"time": now, **e} for e in entries]
                for record in records:
                    detail = record.get("detail")
                    if not (isinstance(detail, str) or detail is None):
                        record["detail"] = json.dumps(detail)
            extra = dict(metadata or {})
            changed = [*prepared, *edited, *removed]
            plan_version = int(disk.get("plan_version", 0))
            if any(name in schema.PLAN_LAYERS for name in changed):
                plan_version += 1
                # A new plan version; its history holds what changed (a layer replaced
                # whole, or the rows edited), so plan_at() can rebuild any version.
                extra["plan_version"] = int(disk.get("plan_version", 0)) + 1
                appended.update(
                    self._plan_history(
                        txn,
                        extra["plan_version"],
                        prepared,
                        edited,
                        removed,
                        entries,
                        first=extra["plan_version"] == 1,
                    )
                )
            if entries:
                # Each entry names the plan version it belongs to (or came after).
                for record in records:
                    record["plan_version"] = plan_version
                appended["change_log"] = _Rows.of_records("change_log", records)
            for name in dict.fromkeys([*changed, *appended]):
                versions[name] = versions.get(name, 0) + 1
            if metadata:
                versions[METADATA_TABLE] = versions.get(METADATA_TABLE, 0) + 1
            new_meta = {**disk, **extra, "updated": _now(), "versions": versions}
            txn.commit(
                replace=prepared,
                rows={**edited, **appended},
                deleted=removed,
                metadata=new_meta,
            )
        self.metadata = new_meta
        self._metadata_version = versions.get(METADATA_TABLE, 0)
        # What this object wrote it now knows as it is on disk: layers replaced whole, and
        # layers it read (current, as checked above) and then edited or appended to.
        self.read_versions.update({n: versions[n] for n in prepared})
        self.read_versions.update(
            {n: versions[n] for n in [*edited, *removed, *appended] if n in self.read_versions}
        )

    def _writing(self) -> contextlib.AbstractContextManager[_GpkgWrite]:
        """The store held for one write: this process's and others' writes wait their turn."""
        return _gpkg_writing(self.path)

    def _plan_history(
        self,
        txn: _GpkgWrite,
        version: int,
        prepared: Mapping[str, pd.DataFrame],
        edited: Mapping[str, _Rows],
        removed: Mapping[str, list[str]],
        entries: list[dict[str, Any]],
        *,
        first: bool,
    ) -> dict[str, _Rows]:
        """Rows of ``plan_history`` and ``plan_versions`` for a write of the plan.

        A layer written whole goes into the history whole (a base); edited rows go in
        as they are and deleted keys are listed. The first version also takes, whole, the
        plan layers already in the store that this write only edits or keeps.
        """
        present = txn.layers()
        whole: dict[str, pd.DataFrame] = {}
        for layer in schema.PLAN_LAYERS:
            if layer in prepared:
                whole[layer] = prepared[layer]
            elif first and layer in present:
                frame = schema.conform(layer, txn.read(layer))
                whole[layer] = _with_edits(frame, layer, edited, removed)
        history = [
            _Rows.of_frame("plan_history", _history_rows(version, layer, frame))
            for layer, frame in whole.items()
        ]
        history += [
            rows.history(version)
            for layer, rows in edited.items()
            if layer in schema.PLAN_LAYERS and layer not in whole
        ]
        grids, households = self._plan_counts(txn, present, whole, edited, removed)
        row = {
            "plan_version": version,
            "time": _now(),
            "user": next((e["user"] for e in entries if e.get("user")), None),
            "reason": "; ".join(str(e["reason"]) for e in entries if e.get("reason")) or None,
            "grids": grids,
            "households": households,
            "replaced": ",".join(whole),
            "deleted": json.dumps(
                {k: v for k, v in removed.items() if k in schema.PLAN_LAYERS and k not in whole},
                ensure_ascii=False,
            ),
        }
        return {
            "plan_history": _Rows.concat("plan_history", history),
            "plan_versions": _Rows.of_records("plan_versions", [row]),
        }

    def _plan_counts(
        self,
        txn: _GpkgWrite,
        present: set[str],
        whole: Mapping[str, pd.DataFrame],
        edited: Mapping[str, _Rows],
        removed: Mapping[str, list[str]],
    ) -> tuple[int, int]:
        """Grids and households of the new plan version.

        Running counts: the previous version's, less the grids this write replaces or
        deletes, plus the ones it writes; a one-grid edit reads one grid, not the layer.
        """
        if "grids" in whole:
            grids = whole["grids"]
            return len(grids), int(pd.to_numeric(grids["households"]).fillna(0).sum())
        if "grids" not in present:
            return 0, 0
        previous = txn.last_plan_counts() if "plan_versions" in present else None
        if previous is None:  # the first version: count the layer once
            previous = txn.grid_counts(None)
        count, households = int(previous[0] or 0), int(previous[1] or 0)
        new = edited.get("grids")
        touched = set(removed.get("grids", ())) | set(new.keys() if new is not None else ())
        if touched:
            old_count, old_households = txn.grid_counts(sorted(touched))
            count -= int(old_count)
            households -= int(old_households or 0)
        if new is not None:
            count += len(new)
            households += sum(int(h) for h in new.columns["households"])
        return count, households

    def _prepare(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        frame = _unique_columns(schema.conform(name, self._in_storage_crs(name, frame)))
        self._refuse(schema.validate(name, frame))
        return frame

    def _prepare_rows(self, name: str, frame: pd.DataFrame) -> _Rows:
        rows = _Rows.of_frame(name, frame)
        stored_as_is = rows.crs is not None and is_storage_crs(rows.crs)
        if not stored_as_is and (rows.geometry is not None or schema.get_layer(name).geometry):
            # Another CRS, or none where the layer needs one: reprojected, or refused.
            rows = _Rows.of_frame(name, self._in_storage_crs(name, frame))
        self._refuse(schema.validate_columns(name, rows.columns, rows.geometry, rows.crs))
        return rows

    def _refuse(self, problems: list[str]) -> None:
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            msg = "; ".join(problems[:3]) + more + "; store unchanged"
            raise PlannerError(msg, source=self.location)

    def _in_storage_crs(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        spec = schema.get_layer(name)
        if spec.geometry is not None or isinstance(frame, gpd.GeoDataFrame):
            if not isinstance(frame, gpd.GeoDataFrame):
                msg = f"layer {name!r} needs geometry"
                raise PlannerError(msg)
            crs = frame.crs
            if crs is None:
                msg = f"layer {name!r} has no CRS; set one before writing"
                raise PlannerError(msg)
            if not is_storage_crs(crs):
                # Reprojection can make a valid geometry self-touch by a rounding error;
                # repair what the store itself broke (input that was invalid is refused).
                was_valid = frame.geometry.is_valid.to_numpy()
                frame = frame.to_crs(STORAGE_CRS)
                geoms = frame.geometry.to_numpy().copy()
                geoms[was_valid] = make_valid_like(geoms[was_valid])
                frame = frame.set_geometry(geoms, crs=STORAGE_CRS)
        return frame

    def summary(self) -> dict[str, Any]:
        """Counts per layer, households and CRSs (what ``planner info`` prints)."""
        layers = {name: {"count": self.count(name)} for name in self.layers()}
        households = {"total": 0, "roster": 0, "estimated": 0}
        if "buildings" in layers:
            b = self.read("buildings", columns=["households", "households_source"])
            households["total"] = int(b["households"].sum())
            for source in ("roster", "estimated"):
                households[source] = int(
                    b.loc[b["households_source"] == source, "households"].sum()
                )
            households["buildings_roster"] = int((b["households_source"] == "roster").sum())
            households["buildings_estimated"] = int((b["households_source"] == "estimated").sum())
        return {
            "store": self.location,
            "name": self.name,
            "schema_version": self.metadata.get("schema_version"),
            "storage_crs": self.metadata.get("storage_crs"),
            "metric_crs": self.metric_crs,
            "sources": self.metadata.get("sources", []),
            "created": self.metadata.get("created"),
            "updated": self.metadata.get("updated"),
            "layers": layers,
            "households": households,
        }


@dataclass(frozen=True)
class _Rows:
    """Some rows of one layer, conformed column by column: an edit or an append.

    A small write never builds a DataFrame: pandas' fixed cost per column and per
    operation would outweigh the rows themselves.
    """

    layer: str
    #: Attribute column → values (schema fields first), as :func:`schema.conform_columns`.
    columns: dict[str, list[Any]]
    #: Shapely geometries in ``crs``; None for a table.
    geometry: np.ndarray | None = None
    crs: Any = None

    @classmethod
    def of_frame(cls, layer: str, frame: pd.DataFrame) -> _Rows:
        # The active geometry column by name: frame.geometry would build a GeoSeries,
        # a good part of the cost of converting a small edit.
        name = frame._geometry_column_name if isinstance(frame, gpd.GeoDataFrame) else None
        if isinstance(frame, gpd.GeoDataFrame) and name not in frame.columns:
            frame.geometry  # noqa: B018  raises, as geopandas words it
        geometry, given = None, {}
        for column, array in zip(frame.columns, _column_arrays(frame), strict=True):
            if geometry is None and name is not None and column == name:
                geometry = array
            else:
                given[str(column)] = array.tolist()
        columns = schema.conform_columns(layer, given)
        names = _unique_names(list(columns))
        return cls(
            layer,
            dict(zip(names, columns.values(), strict=True)),
            None if geometry is None else np.asarray(geometry, dtype=object),
            None if geometry is None else geometry.crs,
        )

    @classmethod
    def of_records(cls, layer: str, records: list[dict[str, Any]]) -> _Rows:
        names = list(dict.fromkeys(k for r in records for k in r))
        given = {n: [r.get(n) for r in records] for n in names}
        return cls(layer, schema.conform_columns(layer, given))

    @classmethod
    def concat(cls, layer: str, parts: list[_Rows]) -> _Rows:
        """One layer's rows from several parts with the same columns."""
        if not parts:
            empty = np.array([], dtype=object)
            return cls(layer, schema.conform_columns(layer, {}), empty, STORAGE_CRS)
        columns = {c: [v for p in parts for v in p.columns[c]] for c in parts[0].columns}
        geometry = None
        if parts[0].geometry is not None:
            geometry = np.concatenate([p.geometry for p in parts])
        return cls(layer, columns, geometry, parts[0].crs)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def keys(self) -> list[str]:
        """The rows' keys, as text (how edits find their rows)."""
        return [str(k) for k in self.columns[schema.get_layer(self.layer).key]]

    def records(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*self.columns.values(), strict=True)
        ]

    def history(self, version: int) -> _Rows:
        """These rows as ``plan_history`` rows of ``version`` (fields kept as JSON)."""
        n = len(self)
        properties = [
            json.dumps(record, ensure_ascii=False, default=_plain) for record in self.records()
        ]
        given = {"plan_version": [version] * n, "layer": [self.layer] * n, "properties": properties}
        columns = schema.conform_columns("plan_history", given)
        return _Rows("plan_history", columns, self.geometry, self.crs)

    def frame(self) -> pd.DataFrame:
        """The rows as a (Geo)DataFrame, for GDAL to write a layer the store lacks."""
        data = pd.DataFrame(self.columns)
        if self.geometry is None:
            return data
        return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(self.geometry), crs=self.crs)


def _with_edits(
    frame: pd.DataFrame,
    layer: str,
    edited: Mapping[str, _Rows],
    removed: Mapping[str, list[str]],
) -> pd.DataFrame:
    """``frame`` (one layer) with the rows of a write's ``edited`` and ``removed`` applied."""
    key = schema.get_layer(layer).key
    gone = set(removed.get(layer, ()))
    if layer in edited:
        gone |= set(edited[layer].keys())
    frame = frame[~frame[key].astype(str).isin(gone)]
    if layer in edited:
        frame = pd.concat([frame, edited[layer].frame()], ignore_index=True)
    return frame


def _history_rows(version: int, layer: str, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Features of one plan layer as ``plan_history`` rows (fields kept as JSON)."""
    props = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return gpd.GeoDataFrame(
        {
            "plan_version": version,
            "layer": layer,
            "properties": [
                json.dumps(row, ensure_ascii=False, default=_plain)
                for row in props.to_dict("records")
            ],
        },
        geometry=frame.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )


def empty_layer(layer: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """An empty frame with the schema's columns for ``layer``."""
    spec = schema.get_layer(layer)
    frame = pd.DataFrame({f.name: pd.Series([], dtype=object) for f in spec.fields})
    if spec.geometry is not None:
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=STORAGE_CRS))
    return schema.conform(layer, frame)


def _unique_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename columns that clash without regard to case (GeoPackage columns are case-blind)."""
    names = _unique_names(list(frame.columns))
    return frame.set_axis(names, axis=1) if names != list(frame.columns) else frame


def _column_arrays(frame: pd.DataFrame) -> list[Any]:
    """Each column's values (a numpy or pandas array), in order.

    Through pandas' own per-column iterator where it has it (private, there since pandas
    1.3): selecting each column as a Series costs more than a small edit's values.
    """
    arrays = getattr(frame, "_iter_column_arrays", None)
    if arrays is None:
        return [frame.iloc[:, i].array for i in range(frame.shape[1])]
    return list(arrays())


def _unique_names(columns: list[Any]) -> list[str]:
    seen: set[str] = set()
    names = []
    for column in columns:
        name, n = str(column), 1
        while name.lower() in seen:
            n += 1
            name = f"{column}_{n}"
        seen.add(name.lower())
        names.append(name)
    return names


def _write_frame(path: Path, name: str, frame: pd.DataFrame) -> None:
    spec = schema.get_layer(name)
    kwargs: dict[str, Any] = {"layer": name, "driver": "GPKG"}
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.empty:
            kwargs["geometry_type"] = spec.geometry or "Unknown"
        elif name == "findings":
            kwargs["geometry_type"] = "Unknown"
    pyogrio.write_dataframe(frame, path, **kwargs)


def _write_metadata(path: Path, metadata: Mapping[str, Any]) -> None:
    # GeoPackage 1.2 when creating, so older GDAL/QGIS (e.g. Debian's GDAL 3.6) open it cleanly.
    options = {} if path.exists() else {"dataset_options": {"VERSION": "1.2"}}
    frame = pd.DataFrame(
        {
            "key": list(metadata),
            "value": [json.dumps(v, ensure_ascii=False) for v in metadata.values()],
        }
    )
    pyogrio.write_dataframe(frame, path, layer=METADATA_TABLE, driver="GPKG", **options)


@contextlib.contextmanager
def _unsynced() -> Iterator[None]:
    """GDAL writes without fsync: the staging file is thrown away, only the store is kept."""
    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the store while it is written."""
    lock_path = path.with_name(path.name + ".lock")
    # A bare descriptor: open() in text mode (a buffer, an encoding) costs more than the lock.
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _staged(path: Path, *, copy: bool = True) -> Iterator[Path]:
    """Yield a temporary copy of ``path``; move it over ``path`` only if the block succeeds."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if copy:
            shutil.copyfile(path, tmp)
        else:
            tmp.unlink()
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; stores are shared with the web server
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def _staging_file(path: Path) -> Iterator[Path]:
    """A path beside the store for GDAL to write a staging GeoPackage, removed afterwards.

    Beside the store, named like the store's leftovers, so that if the writer is killed
    the next open removes it (see :func:`_clean_leftovers`).
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".gpkg", dir=path.parent)
    os.close(fd)
    staged = Path(name)
    staged.unlink()  # GDAL makes a new GeoPackage
    try:
        yield staged
    finally:
        for leftover in (staged, staged.with_name(staged.name + "-journal")):
            leftover.unlink(missing_ok=True)


#: Connections kept open, per process and store file (see :func:`_connect`), newest last.
_OPEN: dict[tuple[int, str], _Held] = {}
_OPEN_LOCK = threading.Lock()
#: How many store files keep a connection open at once (a test session makes hundreds).
_OPEN_MAX = 8


@dataclass
class _Held:
    """A connection kept open to one store file, and which file it opened."""

    con: sqlite3.Connection
    device: int
    inode: int
    #: One thread at a time uses it (re-entrant: a write reads through it too).
    lock: threading.RLock


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A SQLite connection to the store in autocommit mode (transactions are explicit).

    The connection stays open for the next use in this process: opening one parses the
    GeoPackage's schema (hundreds of tables, triggers and indexes, several milliseconds),
    which would otherwise be most of a small write. Between uses it holds no lock and no
    file beside the store (rollback journal), so other processes see nothing of it; it
    notices their writes as any connection does (the file's change counter). A file put
    in the store's place (a new store written over it) gets a new connection.
    """
    try:
        stat = os.stat(path)
    except OSError:  # SQLite says what is wrong (a folder, no access)
        stat = None
    if stat is None:  # not kept: SQLite says what is wrong (a folder, no access)
        con = _open_connection(path)
        try:
            yield con
        finally:
            con.close()
        return
    key = (os.getpid(), os.path.abspath(path))
    with _OPEN_LOCK:
        held = _OPEN.pop(key, None)
        if held is not None and (held.device, held.inode) != (stat.st_dev, stat.st_ino):
            _close_held(held)
            held = None
        if held is None:
            held = _Held(_open_connection(path), stat.st_dev, stat.st_ino, _file_lock(key))
        _OPEN[key] = held  # newest last
        while len(_OPEN) > _OPEN_MAX:
            _close_held(_OPEN.pop(next(iter(_OPEN))))
    with held.lock:
        outermost = not held.con.in_transaction
        try:
            yield held.con
        finally:
            if outermost and held.con.in_transaction:  # never pass on a half-done write
                held.con.execute("ROLLBACK")


@contextlib.contextmanager
def _transaction(path: Path, *, write: bool) -> Iterator[sqlite3.Connection]:
    """One SQLite transaction on the store's kept connection, for tables beside the
    layers (the accounts): committed on success, rolled back on error.

    Through the kept connection, it takes turns with this process's GDAL reads (see
    :func:`_reading`): a connection of its own would leave a journal that a GDAL read in
    another thread takes for a crashed write. A write also holds the store's lock.
    """
    with _locked(path) if write else contextlib.nullcontext(), _connect(path) as con:
        if con.in_transaction:  # within this thread's own write
            yield con
            return
        con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield con
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


#: One re-entrant lock per process and store file: this module's SQLite use and GDAL's
#: reads take turns on it (see :func:`_reading`).
_FILE_LOCKS: dict[tuple[int, str], threading.RLock] = {}


def _file_lock(key: tuple[int, str]) -> threading.RLock:
    """The lock of one store file in this process (call with ``_OPEN_LOCK`` held)."""
    return _FILE_LOCKS.setdefault(key, threading.RLock())


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Hold off this process's writes to the store while GDAL reads it.

    GDAL carries its own SQLite library: within one process it does not see the locks
    of this module's connection, so it would take a write under way for a crashed one
    (a "hot" journal), try to roll it back and fail ("attempt to write a readonly
    database"). Other processes see the locks as usual.
    """
    key = (os.getpid(), os.path.abspath(path))
    with _OPEN_LOCK:
        lock = _file_lock(key)
    with lock:
        yield


def _open_connection(path: Path) -> sqlite3.Connection:
    # uri=True lets the staging file be attached read-only (a plain path stays a path);
    # threads take turns through the held connection's lock, not SQLite's thread check.
    con = sqlite3.connect(
        path,
        timeout=60,
        isolation_level=None,
        uri=True,
        check_same_thread=False,
        factory=_Connection,
    )
    # Once: defining a function again makes SQLite prepare every statement anew.
    _add_gpkg_functions(con)
    return con


def _close_held(held: _Held) -> None:
    # A connection another thread is using is left to the garbage collector.
    if held.lock.acquire(blocking=False):
        try:
            held.con.close()
        finally:
            held.lock.release()


@atexit.register
def _close_all() -> None:
    """Close this process's connections (those of a parent process are not its own)."""
    with _OPEN_LOCK:
        for (pid, _), held in list(_OPEN.items()):
            if pid == os.getpid():
                _close_held(held)
        _OPEN.clear()


def _registered(con: sqlite3.Connection) -> set[str]:
    """Tables registered as GeoPackage layers (what GDAL lists)."""
    try:
        return {str(r[0]) for r in con.execute("SELECT table_name FROM gpkg_contents")}
    except sqlite3.OperationalError:  # no registry yet
        return set()


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Pieces small enough for SQLite's limit on query parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _read_metadata(path: Path) -> dict[str, Any]:
    """The metadata table, read with SQLite (which also rolls back an interrupted write)."""
    try:
        with _connect(path) as con:
            return _metadata_of(con, path)
    except sqlite3.Error as exc:  # not even a file SQLite can open (a folder, no access)
        raise PlannerError(f"cannot read the store ({exc})", source=str(path)) from None


def _metadata_of(con: sqlite3.Connection, path: Path) -> dict[str, Any]:
    try:
        rows = con.execute(f'SELECT "key", "value" FROM "{METADATA_TABLE}"').fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise PlannerError(f"cannot read the store ({exc})", source=str(path)) from None
        msg = (
            f"not a planner store (it has no {METADATA_TABLE} table); make one with "
            "`planner import SOURCE --store FILE`"
        )
        raise PlannerError(msg, source=str(path)) from None
    except sqlite3.DatabaseError as exc:
        msg = f"not a planner GeoPackage ({exc})"
        raise PlannerError(msg, source=str(path)) from None
    return _decode_metadata(rows)


def _decode_metadata(rows: list[tuple[Any, str]]) -> dict[str, Any]:
    """The metadata table's ``(key, JSON value)`` rows as a dict."""
    # One parse of all the values: a parse each costs several times more.
    values = json.loads(f"[{', '.join(v for _, v in rows)}]") if rows else []
    if len(values) != len(rows):  # a value that is not one JSON value: each on its own
        values = [json.loads(v) for _, v in rows]
    return {str(k): v for (k, _), v in zip(rows, values, strict=True)}


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and other values pandas leaves in records."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _metadata_changes(
    previous: Mapping[str, Any] | None, metadata: Mapping[str, Any]
) -> tuple[list[str] | None, list[tuple[str, str]]]:
    """What turns the metadata table's ``previous`` content into ``metadata``.

    Returns the keys whose rows go (None: every row, where ``previous`` is not known) and
    the ``(key, JSON value)`` rows to add: a write rewrites the keys it changed (versions,
    times), not the whole table.
    """
    if previous is None:
        return None, [(str(k), json.dumps(v, ensure_ascii=False)) for k, v in metadata.items()]
    # Values as JSON gives them back: equal ones write the same text.
    changed = [k for k, v in metadata.items() if k not in previous or previous[k] != v]
    gone = [k for k in previous if k not in metadata]
    return [str(k) for k in [*changed, *gone]], [
        (str(k), json.dumps(metadata[k], ensure_ascii=False)) for k in changed
    ]


def _versions(metadata: Mapping[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in (metadata.get("versions") or {}).items()}


def _clean_leftovers(path: Path) -> None:
    """Remove what an interrupted write left beside the store.

    Staging GeoPackages (and their journals) of a killed writer go. So does a journal
    of the store's own that SQLite did not roll back because it is not hot (a writer
    killed before its first journal record), and a super-journal of an earlier version
    that committed several files at once: with the planner's lock and SQLite's write
    lock held, no live transaction can own them. The store's content is never touched:
    a hot journal was already rolled back by the metadata read that opened the store.
    """
    # One listing of the folder, not a glob per kind: every open of the store pays it.
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    prefix = f".{path.stem}."  # a staging file: .STEM.RANDOM.gpkg, and its journal
    staged = [
        path.with_name(n) for n in names if n.startswith(prefix) and ".gpkg" in n[len(prefix) :]
    ]
    journals = [
        path.with_name(n)
        for n in names
        if n == f"{path.name}-journal" or n.startswith(f"{path.name}-mj")
    ]
    if not staged and not journals:
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a")  # noqa: SIM115  closed below
    except OSError:
        return  # a read-only folder: nothing can be cleaned, nothing is harmed
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a writer is at work: its files are not leftovers
        try:
            for leftover in staged:
                with contextlib.suppress(OSError):
                    leftover.unlink()
            if journals:
                with _reading(path):  # its connection's close would drop GDAL's locks
                    _remove_dead_journals(path, journals)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_dead_journals(path: Path, journals: list[Path]) -> None:
    con = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        # BEGIN IMMEDIATE plays back a hot journal, then holds the write lock: another
        # program (GDAL, QGIS) mid-transaction makes it fail, and then nothing is removed.
        con.execute("BEGIN IMMEDIATE")
    except sqlite3.Error:
        con.close()
        return
    try:
        for journal in journals:
            with contextlib.suppress(OSError):
                journal.unlink()
    finally:
        con.execute("ROLLBACK")
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _new_metadata(
    *, metric_crs: str, name: str, sources: Iterable[Mapping[str, str]]
) -> dict[str, Any]:
    """The metadata of a new, empty store."""
    now = _now()
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "storage_crs": STORAGE_CRS,
        "metric_crs": metric_crs,
        "name": name,
        "sources": list(sources),
        "created": now,
        "updated": now,
        # Who this store is, whatever its path: caches keyed by layer versions (the web
        # map's) must not take a store made anew at the same path for the old one.
        "store_id": uuid.uuid4().hex,
    }


class _GpkgWrite:
    """A GeoPackage store held for one write (its lock file and connection).

    What a write needs of the store, whatever holds it: the metadata on disk, the layers
    present, a layer read whole, the plan's running counts, and the commit itself. The
    PostGIS store has its own (:class:`planner.postgis._PgWrite`).
    """

    def __init__(self, con: sqlite3.Connection, path: Path) -> None:
        self.con = con
        self.path = path
        #: The metadata as this write read it (the commit rewrites only what changed).
        self.read_metadata: dict[str, Any] | None = None

    def metadata(self) -> dict[str, Any]:
        self.read_metadata = _metadata_of(self.con, self.path)
        return dict(self.read_metadata)

    def layers(self) -> set[str]:
        return _registered(self.con)

    def read(self, layer: str) -> pd.DataFrame:
        return pyogrio.read_dataframe(self.path, layer=layer)

    def last_plan_counts(self) -> tuple[int, int] | None:
        """Grids and households of the latest plan version (None before the first)."""
        return self.con.execute(
            'SELECT "grids", "households" FROM "plan_versions" ORDER BY "plan_version" DESC LIMIT 1'
        ).fetchone()

    def grid_counts(self, codes: list[str] | None) -> tuple[int, int]:
        """Number and households of the grids with these codes (None: of every grid)."""
        if codes is None:
            count, households = self.con.execute(
                'SELECT count(*), total("households") FROM "grids"'
            ).fetchone()
            return int(count), int(households or 0)
        count = households = 0
        for chunk in _chunks(codes):
            n, h = self.con.execute(
                'SELECT count(*), total("households") FROM "grids" '
                f'WHERE "grid_code" IN ({", ".join("?" * len(chunk))})',
                chunk,
            ).fetchone()
            count += int(n)
            households += int(h or 0)
        return count, households

    def commit(
        self,
        *,
        replace: Mapping[str, pd.DataFrame],
        rows: Mapping[str, _Rows],
        deleted: Mapping[str, list[str]],
        metadata: Mapping[str, Any],
    ) -> None:
        _commit(
            self.con,
            self.path,
            replace=replace,
            rows=rows,
            deleted=deleted,
            metadata=metadata,
            previous=self.read_metadata,
        )


@contextlib.contextmanager
def _gpkg_writing(path: Path) -> Iterator[_GpkgWrite]:
    with _locked(path), _connect(path) as con:
        yield _GpkgWrite(con, path)


def copy_store(
    source: str | os.PathLike | Store, target: str | os.PathLike, *, overwrite: bool = False
) -> Store:
    """Copy a store whole — every layer, its metadata, versions and plan history — to
    ``target``: a GeoPackage path or a ``postgresql://`` URL.

    How a GeoPackage store moves to a shared PostGIS server (and back). Accounts are
    not copied: they belong to the server the store is served from.

    Parameters
    ----------
    source
        The store to copy (a Store, a path or a URL).
    target
        Where the copy goes.
    overwrite
        Replace a store already at ``target``.

    Returns
    -------
    Store
        The copy.
    """
    source = source if isinstance(source, Store) else Store(source)
    target = store_location(target)
    if store_exists(target) and not overwrite:
        msg = "a store exists there; pass overwrite=True to replace it"
        raise PlannerError(msg, source=str(target))
    frames = {name: source.read(name) for name in source.layers()}
    copy = Store.create(
        target,
        metric_crs=source.metric_crs,
        name=source.name,
        sources=source.metadata.get("sources", []),
        overwrite=overwrite,
    )
    with copy._writing() as txn:
        txn.commit(replace=frames, rows={}, deleted={}, metadata=dict(source.metadata))
    return Store(target)


def _commit(
    con: sqlite3.Connection,
    path: Path,
    *,
    replace: Mapping[str, pd.DataFrame],
    rows: Mapping[str, _Rows],
    deleted: Mapping[str, list[str]],
    metadata: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
) -> None:
    """Write a change into the store at ``path`` (open as ``con``) in one SQLite transaction.

    Layers in ``replace`` (and ``rows`` of a layer the store lacks) are written by GDAL
    to a staging GeoPackage first, then take the place of the store's (table, spatial
    index, triggers, GeoPackage registry rows). ``rows`` of an existing layer replace the
    rows with the same key, or are added where the layer has no key (the change log);
    ``deleted`` keys are removed; the metadata table takes ``metadata`` (only the keys that
    differ from ``previous``, the metadata on disk, where given). Either all of it lands
    or none (rolled back): a small edit costs what it changes.
    """
    tables = _table_info(con, [*rows, *deleted])
    staged_frames = {**replace, **{n: r.frame() for n, r in rows.items() if n not in tables}}
    with contextlib.ExitStack() as stack:
        if staged_frames:
            staged = stack.enter_context(_staging_file(path))
            with _unsynced():
                for name, frame in staged_frames.items():
                    _write_frame(staged, name, frame)
                    written = int(pyogrio.read_info(staged, layer=name)["features"])
                    if written != len(frame):
                        msg = (
                            f"wrote {written} of {len(frame)} features to {name!r}; store unchanged"
                        )
                        raise PlannerError(msg, source=str(path))
            # Read-only: a transaction that writes only the store needs no super-journal
            # (two files committed together: more syncs, one more file to leave behind).
            uri = f"file:{urllib.parse.quote(str(staged.resolve()))}?mode=ro"
            con.execute("ATTACH DATABASE ? AS staged", (uri,))
            stack.callback(con.execute, "DETACH DATABASE staged")  # before the file goes
        con.execute("BEGIN IMMEDIATE")
        try:
            for name, keys in deleted.items():
                if keys and name in tables:
                    _index_key(con, name)
                    key = _quote(schema.get_layer(name).key)
                    con.executemany(
                        f"DELETE FROM main.{_quote(name)} WHERE {key} = ?", [(k,) for k in keys]
                    )
            geometry = _geometry_columns(con, [n for n in rows if n not in staged_frames])
            for name, new in rows.items():
                if name not in staged_frames:
                    _insert_rows(con, name, new, tables[name], geometry.get(name))
            for name in staged_frames:
                _drop_layer(con, name)
                _copy_layer(con, name)
            stale, fresh = _metadata_changes(previous, metadata)
            if stale is None:
                con.execute(f"DELETE FROM main.{METADATA_TABLE}")
            elif stale:
                con.execute(
                    f'DELETE FROM main.{METADATA_TABLE} WHERE "key" IN '
                    f"({', '.join('?' * len(stale))})",
                    stale,
                )
            con.executemany(
                f'INSERT INTO main.{METADATA_TABLE} ("key", "value") VALUES (?, ?)', fresh
            )
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # a failed COMMIT may have rolled back already
                con.execute("ROLLBACK")
            raise


#: GeoPackage column types of the schema's field types.
_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN"}


class _Connection(sqlite3.Connection):
    """A connection to a store that remembers what it learnt of the store's tables.

    Their columns, geometry column and key index are kept until the schema changes (its
    version is in the file's header): asking SQLite costs about 0.1 ms a table, a good
    part of a small edit.
    """

    schema_version: int | None = None
    learnt: dict[tuple[str, str], Any]


def _learnt(con: sqlite3.Connection) -> dict[tuple[str, str], Any]:
    """What ``con`` knows of the store's tables, forgotten when the schema has changed."""
    version = con.execute("PRAGMA main.schema_version").fetchone()[0]
    if getattr(con, "schema_version", None) != version:
        con.schema_version, con.learnt = version, {}
    return con.learnt


def _table_info(con: sqlite3.Connection, names: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """``PRAGMA table_info`` of those of ``names`` the store holds as tables."""
    learnt = _learnt(con)
    info = {}
    for name in names:
        if ("table", name) not in learnt:
            rows = con.execute(f"PRAGMA main.table_info({_quote(name)})").fetchall()
            learnt["table", name] = rows
        if learnt["table", name]:
            info[name] = learnt["table", name]
    return info


def _geometry_columns(con: sqlite3.Connection, names: list[str]) -> dict[str, tuple[str, int]]:
    """Geometry column and SRS id of those of ``names`` registered with one."""
    learnt = _learnt(con)
    missing = [n for n in dict.fromkeys(names) if ("geometry", n) not in learnt]
    if missing:
        query = (
            "SELECT table_name, column_name, srs_id FROM main.gpkg_geometry_columns "
            f"WHERE table_name IN ({', '.join('?' * len(missing))})"
        )
        found = {t: (c, s) for t, c, s in con.execute(query, missing)}
        learnt.update({("geometry", n): found.get(n) for n in missing})
    return {n: learnt["geometry", n] for n in names if learnt["geometry", n] is not None}


def _insert_rows(
    con: sqlite3.Connection,
    name: str,
    rows: _Rows,
    info: list[tuple[Any, ...]],
    geometry: tuple[str, int] | None,
) -> None:
    """Put ``rows`` into the store's table ``name`` in place of those with their key.

    ``info`` is the table's ``PRAGMA table_info``, ``geometry`` its geometry column and
    SRS id. Schema fields the table lacks are added as columns, other columns left out;
    geometries are encoded as GeoPackage blobs, and the spatial index follows through its
    triggers.
    """
    spec = schema.get_layer(name)
    key = spec.key
    info = list(info)
    have = {row[1] for row in info}
    # A field the schema gained since the table was made is added (in this transaction).
    for f in spec.fields:
        if f.name not in have and f.name in rows.columns:
            con.execute(
                f"ALTER TABLE main.{_quote(name)} ADD COLUMN {_quote(f.name)} {_SQL_TYPES[f.type]}"
            )
            info.append((len(info), f.name, _SQL_TYPES[f.type], 0, None, 0))
    columns = [row[1] for row in info if not row[5]]  # not the primary key (fid)
    values = {}
    spatial = geometry is not None and rows.geometry is not None
    bounds = shapely.bounds(rows.geometry) if spatial else None
    for column in columns:
        if geometry is not None and column == geometry[0]:
            values[column] = _gpkg_blobs(rows.geometry, geometry[1], bounds)
        elif column in rows.columns:
            values[column] = [None if _is_null(v) else v for v in rows.columns[column]]
    names = list(values)
    records = list(zip(*(values[n] for n in names), strict=True))
    if key is not None:
        records = _update_in_place(con, name, key, names, records)
    if records:
        con.executemany(
            f"INSERT INTO main.{_quote(name)} ({', '.join(map(_quote, names))}) "
            f"VALUES ({', '.join('?' * len(names))})",
            records,
        )
    shown = bounds[~np.isnan(bounds[:, 0])] if bounds is not None else np.empty((0, 4))
    if len(shown):  # rows with geometry: the layer's extent takes theirs in
        west, south = shown[:, :2].min(axis=0).tolist()
        east, north = shown[:, 2:].max(axis=0).tolist()
        # Only where it grows (or was empty): a row left as it is costs the commit nothing.
        con.execute(
            "UPDATE main.gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), "
            "min_y = min(coalesce(min_y, ?2), ?2), max_x = max(coalesce(max_x, ?3), ?3), "
            "max_y = max(coalesce(max_y, ?4), ?4) WHERE table_name = ?5 AND NOT "
            "coalesce(min_x <= ?1 AND min_y <= ?2 AND max_x >= ?3 AND max_y >= ?4, 0)",
            (west, south, east, north, name),
        )


def _update_in_place(
    con: sqlite3.Connection,
    name: str,
    key: str,
    names: list[str],
    records: list[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """Update the rows whose key the table holds where they are; return the new ones.

    An edit rewrites its rows in place, not deleted and added at the end, and only the
    values that changed: the pages it dirties (and the commit syncs) are those of the
    rows, an index is touched only where its column changed, a row as it was is not
    written at all, and a geometry is written only where it moved, so the spatial index's
    triggers (which fire on any UPDATE OF the geometry column) run only for moved shapes.
    """
    _index_key(con, name)
    table, at = _quote(name), names.index(key)
    stored: dict[str, list[tuple[Any, ...]]] = {}
    select = f"SELECT fid, {', '.join(map(_quote, names))} FROM main.{table}"
    keys = [str(r[at]) for r in records]
    for chunk in _chunks(keys):
        query = f"{select} WHERE {_quote(key)} IN ({', '.join('?' * len(chunk))})"
        for fid, *values in con.execute(query, chunk):
            stored.setdefault(str(values[at]), []).append((fid, values))
    fresh = []
    changes: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
    for record, k in zip(records, keys, strict=True):
        held = stored.get(k)
        if not held:
            fresh.append(record)
            continue
        (fid, values), *extra = held
        if extra:  # a key held twice (an older write): keep one row of it
            con.executemany(f"DELETE FROM main.{table} WHERE fid = ?", [(f,) for f, _ in extra])
        # Equal as SQLite holds them (True is 1; a number given to a text column differs).
        pairs = enumerate(zip(record, values, strict=True))
        changed = tuple(i for i, (new, was) in pairs if new != was)
        if changed:
            changes.setdefault(changed, []).append((*(record[i] for i in changed), fid))
    for changed, batch in changes.items():
        assignments = ", ".join(f"{_quote(names[i])} = ?" for i in changed)
        con.executemany(f"UPDATE main.{table} SET {assignments} WHERE fid = ?", batch)
    return fresh


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and value != value  # NaN (conformed values are plain)


def _index_key(con: sqlite3.Connection, name: str) -> None:
    """An index on the layer's key, so edits by key find their rows without a scan."""
    key = schema.get_layer(name).key if name in schema.LAYERS else None
    learnt = _learnt(con)
    if key is not None and ("index", name) not in learnt:
        con.execute(
            f"CREATE INDEX IF NOT EXISTS main.{_quote(f'idx_{name}_{key}')} "
            f"ON {_quote(name)} ({_quote(key)})"
        )
        learnt["index", name] = True


def _gpkg_blobs(
    geoms: np.ndarray, srs_id: int, bounds: np.ndarray | None = None
) -> list[bytes | None]:
    """GeoPackage geometry blobs (little-endian header with an XY envelope, then WKB);
    ``bounds``: the geometries' ``shapely.bounds`` where already known."""
    wkb = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms) if bounds is None else bounds
    out: list[bytes | None] = []
    for blob, (minx, miny, maxx, maxy) in zip(wkb, bounds, strict=True):
        if blob is None:
            out.append(None)
        elif np.isnan(minx):  # empty: flag set, no envelope
            out.append(struct.pack("<2sBBi", b"GP", 0, 0x11, srs_id) + blob)
        else:
            header = struct.pack("<2sBBi4d", b"GP", 0, 0x03, srs_id, minx, maxx, miny, maxy)
            out.append(header + blob)
    return out


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob; None if empty or missing."""
    if blob is None or len(blob) < 8 or blob[3] & 0x10:
        return None
    flags = blob[3]
    doubles = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}.get((flags >> 1) & 0x07, 0)
    if doubles:
        order = "<" if flags & 1 else ">"
        return struct.unpack(f"{order}4d", blob[8:40])
    geometry = shapely.from_wkb(bytes(blob[8:]))
    if geometry.is_empty:
        return None
    minx, miny, maxx, maxy = geometry.bounds
    return minx, maxx, miny, maxy


def _add_gpkg_functions(con: sqlite3.Connection) -> None:
    """The SQL functions GDAL's spatial-index triggers call, for rows this connection adds."""
    con.create_function("ST_IsEmpty", 1, lambda b: int(_envelope(b) is None), deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(
            name, 1, lambda b, i=i: (_envelope(b) or (None,) * 4)[i], deterministic=True
        )


def _has_table(con: sqlite3.Connection, schema_name: str, name: str) -> bool:
    query = f"SELECT 1 FROM {schema_name}.sqlite_master WHERE type = 'table' AND name = ?"
    return con.execute(query, (name,)).fetchone() is not None


#: The GeoPackage registry tables that hold one row per layer (``table_name``).
_REGISTRY = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents")


def _rtree_tables(con: sqlite3.Connection, schema_name: str, name: str) -> list[str]:
    if not _has_table(con, schema_name, "gpkg_extensions"):
        return []
    rows = con.execute(
        f"SELECT column_name FROM {schema_name}.gpkg_extensions "
        "WHERE table_name = ? AND extension_name = 'gpkg_rtree_index'",
        (name,),
    ).fetchall()
    return [f"rtree_{name}_{column}" for (column,) in rows]


def _drop_layer(con: sqlite3.Connection, name: str) -> None:
    triggers = con.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (name,)
    ).fetchall()
    for (trigger,) in triggers:
        con.execute(f"DROP TRIGGER main.{_quote(trigger)}")
    for rtree in _rtree_tables(con, "main", name):
        con.execute(f"DROP TABLE IF EXISTS main.{_quote(rtree)}")
    con.execute(f"DROP TABLE IF EXISTS main.{_quote(name)}")
    for registry in _REGISTRY:
        if _has_table(con, "main", registry):
            con.execute(f"DELETE FROM main.{registry} WHERE table_name = ?", (name,))


def _copy_layer(con: sqlite3.Connection, name: str) -> None:
    def ddl(kind: str, table: str) -> list[str]:
        rows = con.execute(
            "SELECT sql FROM staged.sqlite_master WHERE type = ? AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (kind, table),
        ).fetchall()
        return [sql for (sql,) in rows]

    (create,) = ddl("table", name)
    con.execute(create)  # an unqualified CREATE makes the table in main
    con.execute(f"INSERT INTO main.{_quote(name)} SELECT * FROM staged.{_quote(name)}")
    for index in ddl("index", name):
        con.execute(index)
    for rtree in _rtree_tables(con, "staged", name):
        (create_rtree,) = ddl("table", rtree)
        con.execute(create_rtree)
        con.execute(f"INSERT INTO main.{_quote(rtree)} SELECT * FROM staged.{_quote(rtree)}")
    _index_key(con, name)
    # Triggers last: the rows and the index are copied as they are.
    for trigger in ddl("trigger", name):
        con.execute(trigger)
    con.execute(
        "INSERT OR IGNORE INTO main.gpkg_spatial_ref_sys SELECT * FROM staged.gpkg_spatial_ref_sys"
    )
    for registry in _REGISTRY:
        if not _has_table(con, "staged", registry):
            continue
        if not _has_table(con, "main", registry):  # GDAL makes some only when first needed
            for sql in ddl("table", registry) + ddl("index", registry) + ddl("trigger", registry):
                con.execute(sql)
        con.execute(
            f"INSERT INTO main.{registry} SELECT * FROM staged.{registry} WHERE table_name = ?",
            (name,),
        )
