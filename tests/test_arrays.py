"""Tests for planner.arrays: the index-array helpers the network and siting share."""

from __future__ import annotations

import numpy as np

from planner.arrays import ranges, smallest_per_pair


def test_ranges_concatenates_aranges():
    starts = np.array([5, 0, 2, 9])
    lengths = np.array([2, 0, 3, 1])
    expected = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)])
    assert ranges(starts, lengths).tolist() == expected.tolist()
    assert ranges(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)).size == 0


def test_smallest_per_pair_sorts_and_keeps_the_least_value():
    rows = np.array([1, 0, 1, 0, 1])
    cols = np.array([2, 3, 2, 1, 0])
    vals = np.array([4.0, 1.0, 0.0, 7.0, 2.0])
    r, c, v = smallest_per_pair(rows, cols, vals)
    assert list(zip(r.tolist(), c.tolist(), v.tolist(), strict=True)) == [
        (0, 1, 7.0),
        (0, 3, 1.0),
        (1, 0, 2.0),
        (1, 2, 0.0),
    ]
    empty = np.zeros(0, dtype=np.int64)
    assert all(len(a) == 0 for a in smallest_per_pair(empty, empty, np.zeros(0)))
