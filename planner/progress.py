"""Progress of long steps: a callback given the name of each step as it starts."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress"]

#: Called with a short description of each step as it starts (CLI progress bars, web jobs).
Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The default :data:`Progress`: report nothing."""
