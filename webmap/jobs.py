"""Analysis runs as background jobs: only the known steps of ``planner.pipeline.DEMO_ANALYSIS``
(and ``PAGE_ANALYSIS``).

One worker thread runs the jobs one after another, and one process-wide lock per
store file keeps two applications serving the same store from running analyses
at once. At most ``queue_limit`` jobs wait behind the running one: more are
refused (:class:`QueueFull`, 429 on the web) rather than piling up CPU-hours of
work. A queued job can be cancelled; a running one stops at the end of its
current step (a step is one all-or-nothing write, so stopping between steps
leaves the store consistent). A job records its state (queued, running, done,
failed, cancelled), the steps it went through, its JSON report or its error; the
page polls ``/api/jobs/<id>``.

A step that changes the plan and can propose it without writing (generate grids, check
and fix, rebalance: :data:`PROPOSERS`) run alone is a proposal: the finished job is
``pending``, holds the unsaved plan (:class:`planner.plan_versions.PlanProposal`) and
shows its ``figures`` (grids, households in range, findings of the proposed plan, grids
changed and households moved against the current plan); :meth:`JobManager.accept` saves
it as a new plan version through the one commit path, :meth:`JobManager.discard` drops
it. ``all`` runs every step of the demo's analysis (not the page's own, such as
rebalance) writing as it goes (each step reads what the one before wrote). Every
finished step also gets a few headline ``figures`` (stations proposed and households
covered for the site step).
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from planner import pipeline
from planner.coverage import run_coverage_and_sites
from planner.errors import PlannerError
from planner.grids import (
    grids_step_report,
    make_grids_step,
    propose_grids,
    propose_rebalance,
    rebalance_step,
    rebalance_step_report,
)
from planner.plan_versions import PlanProposal, commit_proposal, proposal_figures
from planner.progress import Progress
from planner.store import Store, is_database_url
from planner.topology import check_and_fix, propose_check_and_fix
from planner_web.i18n import MESSAGES

__all__ = [
    "ALL",
    "KEEP_JOBS",
    "PROPOSERS",
    "QUEUE_LIMIT",
    "JobManager",
    "NotPending",
    "QueueFull",
    "known_steps",
]

log = logging.getLogger(__name__)

#: Finished jobs kept for status queries.
KEEP_JOBS = 50

#: The step id that runs every step in order.
ALL = "all"

#: Jobs that may wait behind the running one (per store).
QUEUE_LIMIT = 5

#: States of a job that has not finished.
_ACTIVE = ("queued", "running")

#: One lock per store file: the one running analysis of that store holds it.
_store_locks: dict[str, threading.Lock] = {}
_store_locks_guard = threading.Lock()


def _store_lock(path: str) -> threading.Lock:
    key = path if is_database_url(path) else os.path.realpath(path)
    with _store_locks_guard:
        return _store_locks.setdefault(key, threading.Lock())


class QueueFull(Exception):
    """The store already has a running job and ``queue_limit`` waiting ones."""


class _Cancelled(Exception):
    """A job was cancelled between two steps."""


class NotPending(Exception):
    """The job holds no proposed plan (not finished, already accepted or discarded)."""


def _propose_grids(store: Store, *, progress: Progress) -> PlanProposal:
    return propose_grids(store, progress=progress)


def _propose_rebalance(store: Store, *, progress: Progress) -> PlanProposal:
    return propose_rebalance(store, progress=progress)


#: Steps run alone as proposals: step id → function computing the plan without writing it
#: (None: nothing to propose, the step itself runs).
PROPOSERS: dict[str, Callable[..., PlanProposal | None]] = {
    make_grids_step.__name__: _propose_grids,
    check_and_fix.__name__: propose_check_and_fix,
    rebalance_step.__name__: _propose_rebalance,
}

#: The short report of a proposal step, as the step itself reports when it writes.
_PROPOSAL_REPORTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    make_grids_step.__name__: grids_step_report,
    check_and_fix.__name__: dict,
    rebalance_step.__name__: rebalance_step_report,
}


def _figures(step_id: str, report: Any) -> dict[str, Any] | None:
    """Headline figures of a finished step that writes (None: none to show)."""
    if not isinstance(report, dict):
        return None
    if step_id == run_coverage_and_sites.__name__ and "sites" in report:
        cover = report.get("coverage") or {}
        return {
            "stations_proposed": len(report["sites"].get("chosen", [])),
            "households_covered": cover.get("households_covered"),
            "households_total": cover.get("households_total"),
        }
    if step_id == make_grids_step.__name__ and "grids" in report:
        return {k: report[k] for k in ("grids", "in_range", "zones") if k in report}
    if step_id == check_and_fix.__name__ and "after" in report:
        return {
            "fixes": report.get("fixes", 0),
            "households_moved": report.get("households_moved", 0),
            "findings_total": report["after"].get("findings"),
        }
    return None


def _analysis_name(step_id: str, label: str) -> str:
    """What the change log calls an accepted analysis: its Chinese name (the log's language)
    with the engine's label, e.g. 重新平衡网格（rebalance）."""
    name = MESSAGES["zh"].get(f"step_{step_id}")
    return f"{name}（{label}）" if name else label


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: A step of a job: its id, its label and the function that runs it.
Step = tuple[str, str, Callable[..., Any]]


def known_steps() -> dict[str, dict[str, str]]:
    """Steps that may be run: id (the function's name) → id, label and target.

    Read from :data:`planner.pipeline.DEMO_ANALYSIS` and
    :data:`~planner.pipeline.PAGE_ANALYSIS` on each call, so steps other modules
    register appear without web changes. ``target`` names the
    function as ``module:function`` for people reading ``/api/analysis``.
    """
    return {
        step_id: {"id": step_id, "label": label, "target": f"{run.__module__}:{step_id}"}
        for step_id, label, run in _steps()
    }


def _steps() -> list[Step]:
    """Every step: the demo's (run in order by ``all``), then the page's own."""
    return [*_all_steps(), *((run.__name__, label, run) for label, run in pipeline.PAGE_ANALYSIS)]


def _all_steps() -> list[Step]:
    """The steps ``all`` runs, in order: the demo's analysis."""
    return [(run.__name__, label, run) for label, run in pipeline.DEMO_ANALYSIS]


class JobManager:
    """Queue and run analysis steps on one store.

    Parameters
    ----------
    store_path
        The store the steps read and write.
    """

    def __init__(self, store_path: str, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self.store_path = store_path
        self.queue_limit = queue_limit
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cancel: set[str] = set()
        self._proposals: dict[str, PlanProposal] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, step: str) -> dict[str, Any]:
        """Queue step ``step`` (or ``"all"``) and return the new job.

        Raises
        ------
        KeyError
            If ``step`` is not a known step.
        QueueFull
            If ``queue_limit`` jobs are already waiting.
        """
        if step == ALL:
            plan = _all_steps()
            label = "all"
        else:
            plan = [s for s in _steps() if s[0] == step]
            if not plan:
                raise KeyError(step)
            label = plan[0][1]
        job = {
            "id": uuid.uuid4().hex[:12],
            "step": step,
            "label": label,
            "state": "queued",
            "progress": [],
            "submitted": _now(),
            "started": None,
            "finished": None,
            "result": None,
            "error": None,
            "pending": False,
            "figures": None,
        }
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j["state"] == "queued")
            if waiting >= self.queue_limit:
                msg = f"{waiting} analysis jobs are waiting already; try again when one is done"
                raise QueueFull(msg)
            self._jobs[job["id"]] = job
            # Forget the oldest finished jobs beyond KEEP_JOBS (active ones are at most
            # queue_limit + 1, so they never crowd the finished out).
            finished = [k for k, j in self._jobs.items() if j["state"] not in _ACTIVE]
            for old_id in finished[: max(len(self._jobs) - KEEP_JOBS, 0)]:
                del self._jobs[old_id]
                self._proposals.pop(old_id, None)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis")
            self._executor.submit(self._run, job["id"], plan)
        return self.get(job["id"])

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A copy of job ``job_id``, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else {**job, "progress": list(job["progress"])}

    def list(self) -> list[dict[str, Any]]:
        """All kept jobs, newest first."""
        with self._lock:
            ids = list(self._jobs)
        return [job for job_id in reversed(ids) if (job := self.get(job_id))]

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel job ``job_id``: a queued one at once, a running one after its current step.

        Returns the job (None if unknown); a finished job is returned unchanged.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job["state"] == "queued":
                job.update(state="cancelled", finished=_now())
            elif job["state"] == "running":
                job["cancelling"] = True
                self._cancel.add(job_id)
        return self.get(job_id)

    def accept(self, job_id: str, *, user: str | None = None) -> dict[str, Any] | None:
        """Save job ``job_id``'s proposed plan as a new plan version; return the job.

        The job gets ``accepted`` (the new version; the current one and ``unchanged``
        when the proposal was the plan as it is) and is no longer pending. None if the
        job is unknown.

        Raises
        ------
        NotPending
            If the job holds no proposed plan.
        planner.errors.ConflictError
            If the plan changed since the job read it (the proposal is kept: it can
            still be discarded).
        """
        with self._lock:
            if job_id not in self._jobs:
                return None
            proposal = self._proposals.get(job_id)
            if proposal is None:
                raise NotPending(self._not_pending(job_id))
        committed = commit_proposal(proposal, user=user)
        with self._lock:
            self._proposals.pop(job_id, None)
            self._jobs[job_id].update(
                pending=False, accepted=committed["plan_version"], unchanged=committed["unchanged"]
            )
        return self.get(job_id)

    def discard(self, job_id: str) -> dict[str, Any] | None:
        """Drop job ``job_id``'s proposed plan (nothing is written); return the job.

        Raises
        ------
        NotPending
            If the job holds no proposed plan.
        """
        with self._lock:
            if job_id not in self._jobs:
                return None
            if self._proposals.pop(job_id, None) is None:
                raise NotPending(self._not_pending(job_id))
            self._jobs[job_id].update(pending=False, discarded=True)
        return self.get(job_id)

    def _not_pending(self, job_id: str) -> str:
        job = self._jobs[job_id]
        if job.get("accepted") is not None:
            return f"job {job_id} was accepted already (plan version {job['accepted']})"
        if job.get("discarded"):
            return f"job {job_id} was discarded already"
        if job["state"] in _ACTIVE:
            return f"job {job_id} is {job['state']}: wait until it is done"
        return f"job {job_id} has no proposed plan to accept or discard"

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(changes)

    def _run(self, job_id: str, plan: list[Step]) -> None:
        with self._lock:
            if self._jobs[job_id]["state"] == "cancelled":
                return
        with _store_lock(self.store_path):
            self._run_steps(job_id, plan)

    def _run_steps(self, job_id: str, plan: list[Step]) -> None:
        self._update(job_id, state="running", started=_now())

        def progress(message: str) -> None:
            with self._lock:
                self._jobs[job_id]["progress"].append(str(message))

        results = {}
        figures: dict[str, Any] = {}
        proposal = None
        alone = len(plan) == 1 and plan[0][0] in PROPOSERS
        try:
            for step_id, label, run in plan:
                with self._lock:
                    if job_id in self._cancel:
                        raise _Cancelled
                progress(label)
                # A fresh Store per step: the previous step may have rewritten the file.
                store = Store(self.store_path)
                if alone:
                    proposal = PROPOSERS[step_id](store, progress=progress)
                if proposal is not None:
                    proposal.analysis = _analysis_name(step_id, label)
                    progress("check the proposed plan")
                    figures[step_id] = proposal_figures(proposal)
                    results[step_id] = _PROPOSAL_REPORTS[step_id](proposal.report)
                    continue
                results[step_id] = run(store, progress=progress)
                if (found := _figures(step_id, results[step_id])) is not None:
                    figures[step_id] = found
            with self._lock:
                # A proposal cancelled while it was computed is dropped: nothing was written.
                if proposal is not None and job_id in self._cancel:
                    proposal = None
                    raise _Cancelled
        except _Cancelled:
            with self._lock:
                self._cancel.discard(job_id)
            self._update(
                job_id, state="cancelled", finished=_now(), result=results, figures=figures or None
            )
            return
        except PlannerError as exc:
            self._update(job_id, state="failed", finished=_now(), error=str(exc), result=results)
            return
        except Exception as exc:  # noqa: BLE001  a failed job must not kill the worker
            log.error("analysis job %s failed:\n%s", job_id, traceback.format_exc())
            error = f"internal error: {type(exc).__name__}: {exc}"
            self._update(job_id, state="failed", finished=_now(), error=error, result=results)
            return
        with self._lock:
            if proposal is not None:
                self._proposals[job_id] = proposal
            self._jobs[job_id].update(
                state="done",
                finished=_now(),
                result=results,
                figures=figures or None,
                pending=proposal is not None,
            )

    def shutdown(self) -> None:
        """Stop the worker after the running job."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
