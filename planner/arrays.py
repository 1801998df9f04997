"""Small numpy helpers on index arrays, shared by the network and the siting models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["ranges", "smallest_per_pair"]


def ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate ``arange(s, s + l)`` for every start ``s`` and length ``l``.

    Parameters
    ----------
    starts
        First value of each range.
    lengths
        Length of each range (0 gives nothing).

    Returns
    -------
    numpy.ndarray
        The ranges one after another, as int64.
    """
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - offsets)


def smallest_per_pair(
    rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Sort ``(row, col, value)`` triplets by row and column, one per pair: the smallest.

    Parameters
    ----------
    rows, cols
        The pair of each triplet.
    vals
        The value of each triplet.

    Returns
    -------
    rows, cols, vals
        Sorted by ``(row, col)``, each pair once, with its smallest value.
    """
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return rows[first], cols[first], vals[first]
