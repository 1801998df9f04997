"""Exact reductions of the covering models: identical demand, demand and site dominance.

The reductions work on the 0/1 demand-by-site matrix as canonical CSR (sorted indices,
explicit zeros kept as entries) and are vectorised; the subset tests go through a Gram
product, dense through BLAS when small, sparse when not, skipped when too large to pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from planner.arrays import ranges

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAX_ROUNDS",
    "csr_from_pairs",
    "dominated_sites",
    "identical_rows",
    "submatrix",
    "subset_pairs",
]

#: Rounds of reduction at most (each round repeats the steps until nothing changes).
MAX_ROUNDS = 50
# above this many entries the subset tests of the reduction use sparse products (or are
# skipped); below it a dense float32 product through BLAS is much faster
_DENSE_GRAM_LIMIT = 1e7
# above this many multiply-adds a sparse Gram product is not worth it for a reduction
_SPARSE_GRAM_LIMIT = 1e8


def identical_rows(
    mat: sp.csr_array, *, values: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Group the rows of a canonical CSR matrix that are identical.

    Rows are hashed (pattern, and stored values if ``values``) and every candidate match is
    then verified entry by entry, so the grouping is exact.

    Returns
    -------
    group, first
        ``group[i]`` is the class of row ``i``; ``first[g]`` the lowest row of class ``g``.
    """
    n, m = mat.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    indptr = mat.indptr.astype(np.int64)
    indices = mat.indices.astype(np.int64)
    nnz_row = np.diff(indptr)
    rng = np.random.default_rng(20240611)
    salt = rng.integers(1, np.iinfo(np.int64).max, size=(2, max(m, 1)), dtype=np.uint64)
    key1 = salt[0][indices]
    key2 = salt[1][indices]
    if values:
        bits = (np.asarray(mat.data, dtype=np.float64) + 0.0).view(np.uint64)
        key1 = key1 * (bits | np.uint64(1))
        key2 = key2 ^ (bits * np.uint64(0x9E3779B97F4A7C15))
    hashes = []
    for key in (key1, key2):
        csum = np.zeros(len(key) + 1, dtype=np.uint64)
        np.cumsum(key, dtype=np.uint64, out=csum[1:])
        hashes.append(csum[indptr[1:]] - csum[indptr[:-1]])
    table = np.stack([hashes[0], hashes[1], nnz_row.astype(np.uint64)], axis=1)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()].astype(np.int64)
    # verify candidate matches so that a hash collision can never merge different rows
    cand = np.flatnonzero(rep != np.arange(n))
    if len(cand):
        lengths = nnz_row[cand]
        pos_a = ranges(indptr[cand], lengths)
        pos_b = ranges(indptr[rep[cand]], lengths)
        differ = indices[pos_a] != indices[pos_b]
        if values:
            differ |= mat.data[pos_a] != mat.data[pos_b]
        owner = np.repeat(np.arange(len(cand)), lengths)
        bad = np.bincount(owner, weights=differ, minlength=len(cand)) > 0
        rep[cand[bad]] = cand[bad]
    first, group = np.unique(rep, return_inverse=True)
    return group.astype(np.int64), first.astype(np.int64)


def subset_pairs(
    mat: sp.csr_array, *, columns: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Pairs ``(a, b)``, ``a != b``, with the support of line ``a`` inside that of line ``b``.

    Lines are columns (sites: reach sets) if ``columns`` else rows (demand). Returns None
    when the Gram product is too large to be worth it for a reduction.
    """
    n, m = mat.shape
    k = m if columns else n
    if k < 2 or mat.nnz == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    counts = np.diff(mat.indptr) if columns else np.bincount(mat.indices, minlength=m)
    size = np.bincount(mat.indices, minlength=m) if columns else np.diff(mat.indptr)
    density = mat.nnz / (n * m)
    if n * m <= _DENSE_GRAM_LIMIT and k * k <= _DENSE_GRAM_LIMIT and density > 0.02:
        dense = mat.toarray().astype(np.float32)
        # float32 counts are exact below 2**24 shared entries
        gram = dense.T @ dense if columns else dense @ dense.T
        a, b = np.nonzero(gram == size.astype(np.float32)[:, None])
    else:
        if float(np.square(counts, dtype=np.float64).sum()) > _SPARSE_GRAM_LIMIT:
            return None
        ones = sp.csr_array(
            (np.ones(mat.nnz, dtype=np.int32), mat.indices, mat.indptr), shape=mat.shape
        )
        gram = (ones.T @ ones if columns else ones @ ones.T).tocoo()
        a = gram.row.astype(np.int64)
        b = gram.col.astype(np.int64)
        hit = gram.data == size[a]
        a, b = a[hit], b[hit]
    off = a != b
    return a[off].astype(np.int64), b[off].astype(np.int64)


def dominated_sites(
    mat: sp.csr_array,
    costs: NDArray[np.float64],
    fixed: NDArray[np.bool_],
) -> NDArray[np.bool_] | None:
    """Sites whose reach lies inside that of a no-dearer site, which can then be dropped.

    Site ``j`` is dominated by ``k`` if ``reach(j) <= reach(k)`` and ``cost(k) <= cost(j)``
    and ``j`` is not fixed. To keep exactly one of a set of equivalent sites (same reach,
    same cost), ``k`` must also rank before ``j`` in a total order (larger reach, lower
    cost, fixed first, lower index), so domination is acyclic and every dropped site has
    a kept dominator. Sites reaching no demand are dominated too. Returns None if skipped.
    """
    m = mat.shape[1]
    size = np.bincount(mat.indices, minlength=m)
    pairs = subset_pairs(mat, columns=True)
    if pairs is None:
        return None
    j, k = pairs
    order = np.lexsort((np.arange(m), ~fixed, costs, -size))
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    hit = (costs[k] <= costs[j]) & (rank[k] < rank[j]) & ~fixed[j]
    dominated = np.zeros(m, dtype=bool)
    dominated[j[hit]] = True
    dominated |= (size == 0) & ~fixed
    return dominated


def csr_from_pairs(
    shape: tuple[int, int],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    vals: NDArray[np.float64] | None = None,
) -> sp.csr_array:
    """A canonical CSR matrix from sorted, unique (row, col) pairs; zeros stay stored."""
    data = np.ones(len(rows), dtype=np.float64) if vals is None else vals
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((data, cols.astype(np.int64), indptr), shape=shape)


def submatrix(mat: sp.csr_array, rows: ArrayLike, cols: ArrayLike) -> sp.csr_array:
    """The given rows and columns of ``mat``, in that order, as canonical CSR."""
    out = mat[np.asarray(rows)][:, np.asarray(cols)]
    out = sp.csr_array(out)
    out.sort_indices()
    return out
