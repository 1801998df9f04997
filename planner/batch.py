"""Many areas through the whole pipeline on dask.distributed: one store each and a summary.

An area is an OSM extract, or one community polygon of a GIS file cut from an OSM
extract. Each runs the pipeline :func:`planner.pipeline.run_demo` runs (import with
households estimated, grids, topology check with fixes and edge areas, walking coverage
and station sites) into its own store, as one task on a Dask cluster: a
``LocalCluster`` of single-threaded worker processes by default, or the workers of a
scheduler already running. A task that fails becomes a ``failed`` row of the summary
and the others go on; a finished area (its store in place and its summary written
beside it, last) is skipped when the batch runs again with the same inputs and rules.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import hashlib
import json
import re
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from planner import config
from planner.crs import STORAGE_CRS
from planner.errors import InputError, PlannerError
from planner.ingest.files import read_file
from planner.ingest.osm import OSM_SUFFIXES, is_osm_file
from planner.parallel import auto_workers, check_workers, dask_client, rules_in_force
from planner.pipeline import import_osm, run_analysis
from planner.plan_commit import current_rows
from planner.progress import Progress, no_progress
from planner.settings import Settings, settings
from planner.store import Store

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DONE",
    "FAILED",
    "NAME_FIELDS",
    "SKIPPED",
    "SUMMARY_FIELDS",
    "SUMMARY_FIELDS_ZH",
    "Area",
    "areas_from",
    "failed_row",
    "finished_row",
    "run_area",
    "run_batch",
    "summarise_store",
    "write_summary",
]

#: Columns of a summary row, in order (``summary.csv``, ``summary.json``).
SUMMARY_FIELDS = (
    "area",
    "name",
    "code",
    "source",
    "store",
    "households",
    "grids",
    "in_range",
    "flagged",
    "boundary_on_features",
    "coverage_share",
    "stations",
    "stations_proposed",
    "staff",
    "building_leaders",
    "seconds",
    "cpu_seconds",
    "status",
    "error",
    "notes",
)

#: Chinese headers of ``summary.csv`` (the spreadsheet officials open).
SUMMARY_FIELDS_ZH = {
    "area": "区域",
    "name": "社区名称",
    "code": "社区代码",
    "source": "数据来源",
    "store": "数据库文件",
    "households": "户数",
    "grids": "网格数",
    "in_range": "户数达标网格",
    "flagged": "已标注网格",
    "boundary_on_features": "边界沿实体比例",
    "coverage_share": "步行覆盖率",
    "stations": "服务站数",
    "stations_proposed": "新增服务站",
    "staff": "网格工作人员",
    "building_leaders": "楼长",
    "seconds": "用时(秒)",
    "cpu_seconds": "CPU用时(秒)",
    "status": "状态",
    "error": "错误",
    "notes": "说明",
}

#: Fields of a community boundary file that may hold the community's name, tried in order.
NAME_FIELDS = ("name", "名称", "社区名称", "社区", "community", "NAME", "Name", "name_zh")

#: Fields that may hold the community's code, tried in order.
_CODE_FIELDS = ("community_code", "code", "社区代码", "代码", "CODE")

#: Statuses of a row: built now, finished by an earlier run, or failed.
DONE, SKIPPED, FAILED = "done", "skipped", "failed"

# One area at a time per process: the rules are module state the task swaps in, and a
# worker started with several threads must not run two areas under each other's rules.
_TASK_LOCK = threading.Lock()


@dataclass(frozen=True)
class Area:
    """One area of a batch: what to import and under which name.

    Attributes
    ----------
    area
        Identifier, unique in the batch: the store is ``<out>/<area>.gpkg``.
    osm
        The OSM extract (absolute path: a worker may run in another directory).
    name, code
        Community name and code (first part of the grid codes).
    source
        Where the area came from, for people (``communities.geojson #2``).
    boundary
        The community polygon (lon/lat) to cut from the extract; None: the extract's
        extent is the community.
    error
        Why the area cannot run (an unreadable boundary file), found before any task.
    """

    area: str
    osm: Path
    name: str
    code: str
    source: str
    boundary: shapely.Geometry | None = None
    error: str = ""

    def fingerprint(self, rules: Settings) -> str:
        """A digest of the inputs and rules: a finished store is kept only while it matches."""
        stat = self.osm.stat() if self.osm.exists() else None
        parts = {
            "osm": str(self.osm),
            "osm_size": stat.st_size if stat else None,
            "osm_mtime_ns": stat.st_mtime_ns if stat else None,
            "name": self.name,
            "code": self.code,
            "boundary": None if self.boundary is None else shapely.to_wkb(self.boundary).hex(),
            "rules": dataclasses.asdict(rules),
        }
        text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def areas_from(
    paths: Sequence[str | Path | Area],
    *,
    osm: str | Path | None = None,
    name_field: str | None = None,
) -> list[Area]:
    """The areas of a batch: each OSM file one area, each polygon of a GIS file one.

    A GIS file is read as community boundaries, each polygon cut from ``osm``; its name
    comes from ``name_field`` (else the first of :data:`NAME_FIELDS` the file has), its
    code from a ``community_code``/``code``/``社区代码`` field (else ``C001``, ``C002``...
    in file order). An OSM file named like a shared demo extract takes that area's
    Chinese name and code. A file that cannot be used becomes an area carrying its
    ``error`` (a failed row of the summary), so one bad input does not stop a batch.

    Parameters
    ----------
    paths
        OSM files (``.osm``, ``.osm.pbf``) and GIS files of community boundaries; an
        :class:`Area` is taken as it is.
    osm
        The OSM extract to cut the communities of the GIS files from.
    name_field
        The field of the GIS files holding each community's name.

    Returns
    -------
    list of Area
        In the order given; identifiers made unique with a numbered suffix.
    """
    areas: list[Area] = []
    extract = Path(osm).resolve() if osm is not None else None
    for given in paths:
        if isinstance(given, Area):
            areas.append(given)
            continue
        path = Path(given).resolve()
        if is_osm_file(path):
            areas.append(_osm_area(path))
        elif extract is None:
            msg = "not an OSM file; give `osm` (the extract to cut these communities from)"
            areas.append(_broken(path, msg))
        else:
            areas.extend(_community_areas(path, extract, name_field=name_field))
    seen: dict[str, int] = {}
    unique = []
    for area in areas:
        seen[area.area] = seen.get(area.area, 0) + 1
        if seen[area.area] > 1:
            area = dataclasses.replace(area, area=f"{area.area}-{seen[area.area]}")
        unique.append(area)
    return unique


def _osm_area(path: Path) -> Area:
    """An OSM extract as one area; a shared demo extract keeps its Chinese name and code."""
    stem = _osm_stem(path)
    name, code = stem, "C001"
    for osm_name, _, demo_name, demo_code in config.DEMO_AREAS.values():
        if path.name == osm_name:
            name, code = demo_name, demo_code
    return Area(area=_safe(stem), osm=path, name=name, code=code, source=path.name)


def _osm_stem(path: Path) -> str:
    """The file name without its OSM suffix (``a.osm.pbf`` → ``a``)."""
    lower = path.name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def _broken(path: Path, error: str) -> Area:
    """An input that cannot run, as an area carrying its error."""
    return Area(
        area=_safe(path.stem), osm=path, name=path.stem, code="", source=path.name, error=error
    )


def _community_areas(path: Path, extract: Path, *, name_field: str | None) -> list[Area]:
    """One area per polygon of a boundary file, cut from ``extract``."""
    try:
        frame = read_file(path).frame
    except PlannerError as exc:
        return [_broken(path, exc.message)]
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
    if frame.empty:
        return [_broken(path, "the boundary file has no polygon")]
    if name_field is not None and name_field not in frame:
        fields = ", ".join(str(c) for c in frame.columns if c != "geometry")
        msg = f"`name_field` {name_field!r} is not a field of the file (fields: {fields})"
        return [_broken(path, msg)]
    name_column = name_field or next((f for f in NAME_FIELDS if f in frame), None)
    code_column = next((f for f in _CODE_FIELDS if f in frame), None)
    areas = []
    for i, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict()
        name = _text(values.get(name_column)) if name_column else ""
        code = _text(values.get(code_column)) if code_column else ""
        label = name or str(i + 1)
        areas.append(
            Area(
                area=_safe(f"{path.stem}-{label}"),
                osm=extract,
                name=name or f"{path.stem} {i + 1}",
                code=code or f"C{i + 1:03d}",
                source=f"{path.name} #{i + 1} ({extract.name})",
                boundary=values["geometry"],
            )
        )
    return areas


def _text(value: Any) -> str:
    """A field value as trimmed text ('' for missing)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _safe(text: str) -> str:
    """``text`` as a file name: letters (Chinese included), digits, ``.-_``; others ``_``."""
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "area"


# -- one area -------------------------------------------------------------------------


def _paths(area: Area, out_dir: Path) -> tuple[Path, Path]:
    """The store of an area and its summary (the marker that the store is finished)."""
    return out_dir / f"{area.area}.gpkg", out_dir / f"{area.area}.summary.json"


def finished_row(area: Area, out_dir: str | Path, *, rules: Settings | None = None) -> dict | None:
    """The summary row of an area finished by an earlier run, or None to run it (again).

    An area is finished when its store exists and the summary written beside it after
    the store was complete names the same inputs and rules; a store without one (a run
    cut short) or built from other inputs is run again.

    Parameters
    ----------
    area
        The area.
    out_dir
        The folder of the stores.
    rules
        The rules the run would use; None: the rules in force.

    Returns
    -------
    dict or None
        The row saved by the run that finished the area (``status`` ``done``).
    """
    store_path, marker = _paths(area, Path(out_dir))
    if not (store_path.exists() and marker.exists()):
        return None
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("fingerprint") != area.fingerprint(rules or settings):
        return None
    row = saved.get("row") or {}
    return row if row.get("status") == DONE else None


def run_area(
    area: Area,
    out_dir: str | Path,
    *,
    rules: Settings | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the whole pipeline for one area into ``<out_dir>/<area>.gpkg``; return its row.

    The store is built beside its place and moved in when every step is done; its
    summary row is then written beside it (``<area>.summary.json``), last, so a run
    cut short leaves no summary and is redone. Never raises for the area's own
    failures: they make a row with ``status`` ``failed`` and the message in ``error``.

    Parameters
    ----------
    area
        The area (see :func:`areas_from`).
    out_dir
        The folder of the stores.
    rules
        The planning rules to run under (the client's, when a Dask worker runs it);
        None: the rules in force in this process.
    force
        Run even if an earlier run finished the area.

    Returns
    -------
    dict
        The summary row (:data:`SUMMARY_FIELDS`); ``status`` is ``done``, ``skipped``
        (finished earlier: the figures of that run) or ``failed``.
    """
    out_dir = Path(out_dir)
    started, cpu = time.perf_counter(), time.process_time()
    with _TASK_LOCK, rules_in_force(rules):
        if area.error:
            return failed_row(area, area.error)
        if not force:
            done = finished_row(area, out_dir)
            if done is not None:
                return {**done, "status": SKIPPED}
        store_path, marker = _paths(area, out_dir)
        building = out_dir / f".{area.area}.building.gpkg"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            _remove_store(building)
            marker.unlink(missing_ok=True)
            analysis = _build(area, building)
            building.replace(store_path)
            row = summarise_store(Store(store_path), analysis)
        except Exception as exc:  # noqa: BLE001 - any failure of one area is its row, not the batch's end
            return failed_row(area, _message(exc), seconds=time.perf_counter() - started)
        finally:
            _remove_store(building)
        row = _row(area, store=store_path.name, **row)
        # CPU seconds tell the work from the wait on a machine other programs share.
        row.update(
            seconds=round(time.perf_counter() - started, 2),
            cpu_seconds=round(time.process_time() - cpu, 2),
            status=DONE,
        )
        _write_json(
            marker,
            {
                "row": row,
                "fingerprint": area.fingerprint(settings),
                "finished": datetime.now().astimezone().isoformat(timespec="seconds"),
            },
        )
        return row


def _build(area: Area, path: Path) -> dict[str, Any]:
    """Import the area into a new store at ``path`` and run every analysis step on it."""
    with tempfile.TemporaryDirectory(prefix="planner-batch-") as tmp:
        boundary_file = None
        if area.boundary is not None:
            # The import clips to a boundary file, as `planner import --boundary` does.
            boundary_file = Path(tmp) / "community.geojson"
            gpd.GeoDataFrame(geometry=[area.boundary], crs=STORAGE_CRS).to_file(boundary_file)
        store, _ = import_osm(
            area.osm, path, boundary_file=boundary_file, name=area.name, code=area.code
        )
    return run_analysis(store)


def _remove_store(path: Path) -> None:
    """Delete a store file and the lock file beside it, if there."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".lock").unlink(missing_ok=True)


def _message(exc: BaseException) -> str:
    """One line for people: the engine's own message, else the kind of error and its text."""
    if isinstance(exc, PlannerError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {text}{at}" if text else f"{type(exc).__name__}{at}"


def _row(area: Area, **values: Any) -> dict[str, Any]:
    """A summary row: every field, the area's own first, ``values`` over the blanks."""
    row: dict[str, Any] = dict.fromkeys(SUMMARY_FIELDS)
    row.update(
        area=area.area, name=area.name, code=area.code, source=area.source, error="", notes=""
    )
    row.update(values)
    return row


def failed_row(area: Area, error: str, *, seconds: float | None = None) -> dict[str, Any]:
    """The summary row of an area that could not be run."""
    return _row(
        area,
        status=FAILED,
        error=error,
        seconds=None if seconds is None else round(seconds, 2),
    )


def summarise_store(store: Store, analysis: dict[str, Any] | None = None) -> dict[str, Any]:
    """The figures of a finished store that a batch compares across areas.

    Households, grids, in range and flagged, staff and building leaders come from the
    store's current plan; the share of grid boundary on physical features from the last
    topology check and the coverage share and stations from the coverage step, both in
    ``analysis`` (the reports of :func:`planner.pipeline.run_analysis`), None without.

    Returns
    -------
    dict
        ``households``, ``grids``, ``in_range``, ``flagged``, ``boundary_on_features``,
        ``coverage_share``, ``stations``, ``stations_proposed``, ``staff``,
        ``building_leaders`` and ``notes`` (the steps the data could not support).
    """
    analysis = analysis or {}
    buildings = store.read("buildings")
    grids = store.read("grids")
    grids = grids[current_rows(grids)] if len(grids) else grids
    households = grids["households"].fillna(0).astype(int) if len(grids) else None
    rule = settings.grid
    topology = analysis.get("topology check and edge areas") or {}
    after = topology.get("after") or {}
    walking = analysis.get("walking coverage and station sites") or {}
    cover, sites = walking.get("coverage") or {}, walking.get("sites") or {}
    notes = [f"{label}: {step['skipped']}" for label, step in analysis.items() if "skipped" in step]
    staff_fields = ("grid_leaders", "fulltime_workers", "parttime_workers")
    return {
        "households": int(buildings["households"].fillna(0).sum()) if len(buildings) else 0,
        "grids": len(grids),
        "in_range": None
        if households is None
        else int(households.between(rule.min_households, rule.max_households).sum()),
        "flagged": int(grids["flag"].fillna("").astype(str).str.len().gt(0).sum())
        if len(grids)
        else 0,
        "boundary_on_features": after.get("boundary_on_features"),
        "coverage_share": cover.get("coverage_share"),
        "stations": cover.get("stations_counted"),
        "stations_proposed": len(sites["chosen"]) if "chosen" in sites else None,
        "staff": int(grids[list(staff_fields)].fillna(0).to_numpy().sum()) if len(grids) else 0,
        "building_leaders": int(grids["building_leaders"].fillna(0).sum()) if len(grids) else 0,
        "notes": "; ".join(notes),
    }


# -- many areas -----------------------------------------------------------------------


def run_batch(
    paths: Sequence[str | Path | Area],
    out_dir: str | Path,
    *,
    osm: str | Path | None = None,
    name_field: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    rules: Settings | None = None,
    worker_timeout: float = 60.0,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run the whole pipeline for many areas as dask.distributed tasks; write the summary.

    Areas finished by an earlier run with the same inputs and rules are skipped
    without a task; the others run one task each, on a ``LocalCluster`` of ``workers``
    single-threaded processes or on the workers of the scheduler at ``scheduler`` (they
    must see the same file system; start them with ``--nthreads 1``: a worker process
    runs one area at a time). A task that fails is a ``failed`` row and the others go
    on. ``summary.csv`` (Chinese headers, UTF-8 with BOM for Excel) and
    ``summary.json`` are written in ``out_dir``, rows in the order of the areas.

    Parameters
    ----------
    paths
        OSM files and GIS files of community boundaries (see :func:`areas_from`).
    out_dir
        The folder of the stores and the summary (made if new).
    osm, name_field
        The extract the communities of GIS files are cut from, and their name field.
    workers
        Worker processes of the local cluster; default the CPU count, at most one per
        area.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``).
    force
        Run every area, finished or not.
    rules
        The planning rules the workers run under; default the rules in force here.
    worker_timeout
        Seconds to wait for a scheduler to have a worker.
    progress
        Called once per area as its task completes, with ``"<area>: <status>"``.

    Returns
    -------
    dict
        ``areas`` (the rows), ``counts`` (by status), ``workers``, ``scheduler``,
        ``seconds``, ``summary_csv``, ``summary_json``.
    """
    check_workers(workers, scheduler)
    started = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rules = copy.deepcopy(rules if rules is not None else settings)
    areas = areas_from(paths, osm=osm, name_field=name_field)
    if not areas:
        raise InputError("no areas given", param="paths")
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for area in areas:
        done = None if force else finished_row(area, out, rules=rules)
        if area.error:
            rows[area.area] = failed_row(area, area.error)
        elif done is not None:
            rows[area.area] = {**done, "status": SKIPPED}
        else:
            pending.append(area)
            continue
        progress(f"{area.area}: {rows[area.area]['status']}")
    used_workers = 0
    if pending:
        count = auto_workers(len(pending), workers)
        with dask_client(count, scheduler, worker_timeout=worker_timeout) as client:
            used_workers = len(client.nthreads())
            for area, row in _run_tasks(client, pending, out, rules, force):
                rows[area.area] = row
                progress(f"{area.area}: {row['status']}")
    ordered = [rows[a.area] for a in areas]
    summary = {
        "out": str(out),
        "areas": ordered,
        "counts": {s: sum(r["status"] == s for r in ordered) for s in (DONE, SKIPPED, FAILED)},
        "workers": used_workers,
        "scheduler": scheduler,
        "seconds": round(time.perf_counter() - started, 2),
    }
    csv_path, json_path = write_summary(summary, out)
    return {**summary, "summary_csv": str(csv_path), "summary_json": str(json_path)}


def _run_tasks(
    client: Client, areas: list[Area], out: Path, rules: Settings, force: bool
) -> Iterator[tuple[Area, dict[str, Any]]]:
    """Submit one task per area; yield each area with its row as its task completes."""
    from distributed import as_completed

    run_id = datetime.now().strftime("%Y%m%dT%H%M%S%f")
    # The biggest areas start first (a higher priority runs earlier): a large area
    # started last would leave the other workers idle while it alone runs.
    size = {a.area: _size(a) for a in areas}
    futures = {
        client.submit(
            run_area,
            area,
            out,
            rules=rules,
            force=force,
            key=f"planner-{area.area}-{run_id}",
            priority=rank,
        ): area
        for rank, area in enumerate(sorted(areas, key=lambda a: size[a.area]))
    }
    for future in as_completed(futures):
        area = futures[future]
        try:
            row = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker fails its area only
            row = failed_row(area, _message(exc))
        future.release()
        yield area, row


def _size(area: Area) -> tuple[int, float]:
    """How big an area's run is likely to be: its extract's bytes, then its polygon's area."""
    size = area.osm.stat().st_size if area.osm.exists() else 0
    return size, float("inf") if area.boundary is None else float(area.boundary.area)


def write_summary(summary: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``summary.csv`` (Chinese headers, BOM for Excel) and ``summary.json``."""
    out = Path(out_dir)
    csv_path, json_path = out / "summary.csv", out / "summary.json"
    tmp = csv_path.with_name(".summary.csv.tmp")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([SUMMARY_FIELDS_ZH[f] for f in SUMMARY_FIELDS])
        for row in summary["areas"]:
            writer.writerow(["" if row.get(f) is None else row[f] for f in SUMMARY_FIELDS])
    tmp.replace(csv_path)
    _write_json(json_path, summary)
    return csv_path, json_path


def _write_json(path: Path, data: Any) -> None:
    """Write JSON whole or not at all (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
