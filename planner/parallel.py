"""Work spread over processes with dask.distributed: a local cluster or a running scheduler.

The engine's large steps split into independent tasks — one area per task in
``planner batch``, one community or region per task in the grid step — and run them on
a ``LocalCluster`` of single-threaded worker processes, or on the workers of a Dask
scheduler already running (``--scheduler tcp://host:8786``). Each task runs under the
planning rules in force where it was submitted.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from planner.errors import InputError, PlannerError
from planner.settings import Settings, settings

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "auto_workers",
    "check_workers",
    "dask_client",
    "in_dask_worker",
    "main_is_guarded",
    "map_in_order",
    "may_start_processes",
    "rules_in_force",
]

T = TypeVar("T")

#: Seconds to wait for a scheduler to answer.
CONNECT_SECONDS = 10

#: Set by the ``planner`` command (see :func:`main_is_guarded`).
_guarded_main = False

#: What a local cluster that cannot start its workers most likely means.
_SPAWN_HINT = (
    "worker processes could not start: a script that runs planner on several workers "
    'must call it under `if __name__ == "__main__":` (each worker imports the script '
    "again), or pass workers=1"
)


def _one_line(exc: BaseException) -> str:
    """An exception as one line: its message, or its type when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_workers(workers: int | None, scheduler: str | None = None) -> None:
    """Refuse a worker count below one (None: choose, see :func:`auto_workers`), and
    workers of a local cluster together with a scheduler's."""
    if workers is not None and scheduler is not None:
        msg = "give `workers` (a local cluster) or `scheduler` (its workers), not both"
        raise InputError(msg, param="workers")
    if workers is not None and workers < 1:
        msg = f"`workers` must be at least 1, got {workers}"
        raise InputError(msg, param="workers")


def in_dask_worker() -> bool:
    """True in a task running on a Dask worker (``planner batch``'s areas): its work is
    already one of many in parallel, and a worker process may not start processes."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def main_is_guarded() -> None:
    """Declare that this program's main module runs nothing on import (the ``planner``
    command does), so the engine may start worker processes unasked."""
    global _guarded_main
    _guarded_main = True


def may_start_processes() -> bool:
    """Whether the engine may start worker processes on its own (the grid step's default).

    Worker processes are started by spawning: each imports the program's main script
    again. A script that calls the engine at its top level, not under ``if __name__ ==
    "__main__":``, would run again in every worker, and the cluster fails to start. So
    the engine goes parallel unasked only where that cannot happen: a notebook or an
    interactive session (no main script), a package run with ``python -m`` (its
    ``__main__`` is not imported again), or a program that said so
    (:func:`main_is_guarded`: the ``planner`` command). Elsewhere pass ``workers``.
    Never in a task on a Dask worker (:func:`in_dask_worker`).
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    safe_main = (
        _guarded_main
        or getattr(main, "__file__", None) is None
        or (spec is not None and spec.name.endswith(".__main__"))
    )
    return safe_main and not in_dask_worker()


def auto_workers(tasks: int, workers: int | None = None) -> int:
    """How many worker processes ``tasks`` tasks get: ``workers`` when given, else one
    per CPU, never more than the tasks."""
    check_workers(workers)
    if workers is not None:
        return workers
    return max(1, min(tasks, os.cpu_count() or 1))


@contextlib.contextmanager
def dask_client(
    workers: int, scheduler: str | None = None, *, worker_timeout: float = 60.0
) -> Iterator[Client]:
    """A Dask client: of a new local cluster of ``workers`` processes, or of the scheduler
    at ``scheduler``.

    Parameters
    ----------
    workers
        Single-threaded worker processes of the local cluster (ignored with ``scheduler``).
    scheduler
        Address of a running scheduler (``tcp://host:8786``); its workers must see the
        same files.
    worker_timeout
        Seconds to wait for the scheduler to have a worker.

    Raises
    ------
    InputError
        The scheduler cannot be reached, or has no worker in time (``param="scheduler"``).
    """
    from distributed import Client, LocalCluster

    if scheduler is None:
        # No dashboard (it needs bokeh; the work is watched by its progress), and the
        # scheduler's small HTTP server on a free port of this machine only: a fixed port
        # would clash with another cluster here.
        try:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
        except RuntimeError as exc:  # "Nanny failed to start."
            raise PlannerError(f"{_SPAWN_HINT} ({_one_line(exc)})") from None
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        msg = f"`scheduler` {scheduler} cannot be reached: {_one_line(exc)}"
        raise InputError(msg, param="scheduler") from None
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except TimeoutError:
            msg = f"`scheduler` {scheduler} has no worker after {worker_timeout:g} s"
            raise InputError(msg, param="scheduler") from None
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def rules_in_force(rules: Settings | None) -> Iterator[None]:
    """Put ``rules`` in force for the duration (the engine reads the module's settings)."""
    if rules is None:
        yield
        return
    groups = [f.name for f in dataclasses.fields(Settings)]
    saved = {g: getattr(settings, g) for g in groups}
    try:
        for g in groups:
            setattr(settings, g, copy.deepcopy(getattr(rules, g)))
        yield
    finally:
        for g, value in saved.items():
            setattr(settings, g, value)


def _under_rules(func: Callable[..., T], rules: Settings, *args: Any) -> T:
    with rules_in_force(rules):
        return func(*args)


def map_in_order(
    func: Callable[..., T],
    tasks: Iterable[tuple[Any, ...]],
    *,
    workers: int = 1,
    scheduler: str | None = None,
) -> Iterator[T]:
    """``func(*task)`` for each task, results in the tasks' order.

    With one worker and no scheduler the tasks run here, one after another (no
    cluster to start). Otherwise they run on :func:`dask_client`'s workers, under the
    rules in force here; at most two per worker are submitted ahead of the result
    being taken, so the results held (and the inputs shipped) stay bounded.
    """
    if workers <= 1 and scheduler is None:
        for task in tasks:
            yield func(*task)
        return
    rules = copy.deepcopy(settings)
    with dask_client(workers, scheduler) as client:
        window = 2 * max(1, len(client.nthreads()))
        pending: list[Any] = []
        for task in tasks:
            pending.append(client.submit(_under_rules, func, rules, *task, pure=False))
            if len(pending) >= window:
                yield _take(pending.pop(0))
        while pending:
            yield _take(pending.pop(0))


def _take(future: Any) -> Any:
    try:
        return future.result()
    finally:
        future.release()
