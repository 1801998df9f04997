"""Shared pieces of the CLI: the command group, error handling, progress, JSON output."""

from __future__ import annotations

import functools
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from planner import parallel
from planner.settings import settings

__all__ = [
    "JSON",
    "MAX_HOUSEHOLDS",
    "MIN_HOUSEHOLDS",
    "STORE",
    "STORE_LOCATION",
    "echo_json",
    "exit_status",
    "flags_for_params",
    "main",
    "progress",
    "user_errors",
    "writes",
]
from planner.errors import ConflictError, PlannerError
from planner.store import is_database_url, store_location


class StoreLocation(click.ParamType):
    """A store: a GeoPackage path, or a ``postgresql://`` URL kept as given (a path would
    fold its ``//``)."""

    name = "store"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path) or is_database_url(str(value)):
            return store_location(value)
        path = Path(value)
        if path.is_dir():
            self.fail(f"{str(value)!r} is a folder, not a store file", param, ctx)
        return path


#: The type of every argument or option naming a store.
STORE_LOCATION = StoreLocation()

# Options several commands share, defined once.
STORE = click.argument("store_path", metavar="STORE", type=STORE_LOCATION)
JSON = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
MIN_HOUSEHOLDS = click.option(
    "--min",
    "min_households",
    default=settings.grid.min_households,
    show_default=True,
    type=int,
    help="Fewest households per grid.",
)
MAX_HOUSEHOLDS = click.option(
    "--max",
    "max_households",
    default=settings.grid.max_households,
    show_default=True,
    type=int,
    help="Most households per grid.",
)


class _Group(click.Group):
    """A group that turns user errors into one line on stderr and exit status 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D401
        warnings.showwarning = _one_line_warning
        if kwargs.get("standalone_mode", True):
            # Run as the program (console script, python -m): its main module runs
            # nothing on import, so the engine may start worker processes.
            parallel.main_is_guarded()
        try:
            return super().main(*args, **kwargs)
        except PlannerError as exc:
            if kwargs.get("standalone_mode", True) is False:
                raise
            click.echo(f"planner: error: {exc}", err=True)
            sys.exit(exit_status(exc))


def _one_line_warning(message: Warning | str, category: type, *_: Any, **__: Any) -> None:
    """Warnings from the engine as one line on stderr, like errors."""
    click.echo(f"planner: warning: {message}", err=True)


def exit_status(exc: PlannerError) -> int:
    """2 for a user error; 3 when another change landed first and nothing was written."""
    return 3 if isinstance(exc, ConflictError) else 2


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="grid-planner")
def main() -> None:
    """网格与党群服务站规划 — grid and service-station planner for urban communities."""


def writes(what: str) -> Callable[[click.Command], click.Command]:
    """Record on a command what it writes to the store (``"nothing"`` for none).

    The CLI reference (``python -m planner.cli.docs``) prints it beside each command;
    put it above the ``@main.command`` line, so it receives the command object.
    """

    def mark(command: click.Command) -> click.Command:
        command.writes = what  # type: ignore[attr-defined]
        return command

    return mark


def user_errors(func: Callable) -> Callable:
    """Turn the common exceptions of bad input into :class:`PlannerError` (exit 2).

    Engine messages name parameters in backticks (`max_households`); the command's
    own flag for each (``--max``) is shown instead.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PlannerError as exc:
            command = click.get_current_context(silent=True)
            if command is None or "`" not in exc.message:
                raise
            raise type(exc)(
                flags_for_params(exc.message, command.command), source=exc.source, param=exc.param
            ) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise PlannerError(exc.strerror or str(exc), source=exc.filename) from None

    return wrapper


_PARAM = re.compile(r"`([a-z][a-z0-9_]*)`")


def flags_for_params(message: str, command: click.Command) -> str:
    """``message`` with each backticked parameter name replaced by the command's flag."""
    flags = {
        p.name: max(p.opts, key=len) if isinstance(p, click.Option) else p.human_readable_name
        for p in command.params
    }
    return _PARAM.sub(lambda m: flags.get(m.group(1), m.group(1)), message)


@contextmanager
def progress(total: int, desc: str, *, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr; yields a callback that advances it by one named step."""
    bar = tqdm(
        total=total,
        desc=desc,
        disable=not enabled or None,
        file=sys.stderr,
        bar_format="{desc}: {n}/{total} |{bar}| {postfix}",
        leave=False,
    )

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        yield step
    finally:
        bar.close()


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON (Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
