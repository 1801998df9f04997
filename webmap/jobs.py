"""Analysis runs as background jobs: only the known steps of ``planner.pipeline.DEMO_ANALYSIS``.

One worker thread runs the jobs one after another, so two analyses never write
the store at the same time (the store's own lock would queue them anyway). A
job records its state (queued, running, done, failed), the steps it went
through, its JSON report or its error; the page polls ``/api/jobs/<id>``.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from planner import pipeline
from planner.errors import PlannerError
from planner.store import Store

__all__ = ["ALL", "KEEP_JOBS", "JobManager", "known_steps"]

log = logging.getLogger(__name__)

#: Finished jobs kept for status queries.
KEEP_JOBS = 50

#: The step id that runs every step in order.
ALL = "all"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


#: A step of a job: its id, its label and the function that runs it.
Step = tuple[str, str, Callable[..., Any]]


def known_steps() -> dict[str, dict[str, str]]:
    """Steps that may be run: id (the function's name) → id, label and target.

    Read from :data:`planner.pipeline.DEMO_ANALYSIS` on each call, so steps
    other modules register appear without web changes. ``target`` names the
    function as ``module:function`` for people reading ``/api/analysis``.
    """
    return {
        step_id: {"id": step_id, "label": label, "target": f"{run.__module__}:{step_id}"}
        for step_id, label, run in _steps()
    }


def _steps() -> list[Step]:
    return [(run.__name__, label, run) for label, run in pipeline.DEMO_ANALYSIS]


class JobManager:
    """Queue and run analysis steps on one store.

    Parameters
    ----------
    store_path
        The store the steps read and write.
    """

    def __init__(self, store_path: str) -> None:
        self.store_path = store_path
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def submit(self, step: str) -> dict[str, Any]:
        """Queue step ``step`` (or ``"all"``) and return the new job.

        Raises
        ------
        KeyError
            If ``step`` is not a known step.
        """
        steps = _steps()
        if step == ALL:
            plan = steps
            label = "all"
        else:
            plan = [s for s in steps if s[0] == step]
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
        }
        with self._lock:
            self._jobs[job["id"]] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest]["state"] in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
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

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id].update(changes)

    def _run(self, job_id: str, plan: list[Step]) -> None:
        self._update(job_id, state="running", started=_now())

        def progress(message: str) -> None:
            with self._lock:
                self._jobs[job_id]["progress"].append(str(message))

        results = {}
        try:
            for step_id, label, run in plan:
                progress(label)
                # A fresh Store per step: the previous step may have rewritten the file.
                results[step_id] = run(Store(self.store_path), progress=progress)
        except PlannerError as exc:
            self._update(job_id, state="failed", finished=_now(), error=str(exc), result=results)
            return
        except Exception as exc:  # noqa: BLE001  a failed job must not kill the worker
            log.error("analysis job %s failed:\n%s", job_id, traceback.format_exc())
            error = f"internal error: {type(exc).__name__}: {exc}"
            self._update(job_id, state="failed", finished=_now(), error=error, result=results)
            return
        self._update(job_id, state="done", finished=_now(), result=results)

    def shutdown(self) -> None:
        """Stop the worker after the running job."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
