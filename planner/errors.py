"""Errors the engine raises for problems a user can fix (bad files, bad options)."""

from __future__ import annotations


class PlannerError(ValueError):
    """A problem with the user's input, reported in one line without a traceback.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    source
        The file, layer or option the problem is in, if any; shown first.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.message = message
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)
