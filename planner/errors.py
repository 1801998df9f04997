"""Errors the engine raises for problems a user can fix, by kind.

Each is a :class:`PlannerError`: the CLI prints it as one line and exits with status 2,
the web API answers it with a 4xx JSON error. Messages speak of the engine's parameters
(``max_households``), not of CLI flags; ``param`` names the parameter at fault so a
shell can show it its own way (the CLI as ``--max``).
"""

from __future__ import annotations

__all__ = ["ConflictError", "InputError", "MissingDataError", "NoSolutionError", "PlannerError"]


class PlannerError(ValueError):
    """A problem with the user's input, reported in one line without a traceback.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    source
        The file, layer or option the problem is in, if any; shown first.
    param
        The function parameter at fault, if the problem is one argument's value.
    """

    def __init__(self, message: str, *, source: str | None = None, param: str | None = None):
        self.message = message
        self.source = source
        self.param = param
        super().__init__(f"{source}: {message}" if source else message)


class InputError(PlannerError):
    """A file, layer or argument that cannot be used as given (bad value, broken file)."""


class MissingDataError(PlannerError):
    """The store lacks what a step needs (no boundary, no buildings, no grids yet)."""


class NoSolutionError(PlannerError):
    """The data and the rules admit no answer (no site set covers the demand, say)."""


class ConflictError(PlannerError):
    """Another change landed since the data was read; nothing was written (no lost update).

    The CLI exits with status 3, the web API answers 409. ``layers`` names the layers
    that changed; a refused plan save also gives the current plan ``version`` and what
    ``changed`` (grid codes, building ids).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        layers: list[str] = (),
        version: int | None = None,
        changed: list[str] = (),
    ):
        super().__init__(message, source=source)
        self.layers = list(layers)
        self.version = version
        self.changed = list(changed)
