"""The ``planner`` command: parse arguments, call the engine, print, set the exit status.

Exit status: 0 success, 1 findings (``planner check``), 2 user error (one line,
no traceback), 3 another change landed since the command read the store
(nothing written). Each area of commands lives in its own module and registers
on the ``main`` group.
"""

from __future__ import annotations

import sys

import click

from planner.cli.common import exit_status, main
from planner.errors import PlannerError

# Command modules register themselves on `main` when imported.
from planner.cli import data  # noqa: E402,F401  isort: skip
from planner.cli import serve  # noqa: E402,F401  isort: skip
from planner.cli import network  # noqa: E402,F401  isort: skip
from planner.cli import grids  # noqa: E402,F401  isort: skip
from planner.cli import topology  # noqa: E402,F401  isort: skip
from planner.cli import plan  # noqa: E402,F401  isort: skip
from planner.cli import user  # noqa: E402,F401  isort: skip
from planner.cli import report  # noqa: E402,F401  isort: skip
from planner.cli import batch  # noqa: E402,F401  isort: skip


__all__ = ["main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit status (for tests and notebooks)."""
    try:
        main.main(args=argv, prog_name="planner", standalone_mode=False)
    except PlannerError as exc:
        click.echo(f"planner: error: {exc}", err=True)
        return exit_status(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(run())
