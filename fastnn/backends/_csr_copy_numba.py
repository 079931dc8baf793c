"""A dense x copied to CSR with Numba: ``_csr_copy_reference``'s two passes as loops, one row
at a time (the same result, without the reference's boolean temporaries)."""
from __future__ import annotations

import numba

NAME = "numba"


@numba.njit(cache=True, nogil=True)
def _count(indptr, x):
    n, d = x.shape
    indptr[0] = 0
    for r in range(n):
        c = 0
        for j in range(d):
            c += x[r, j] != 0
        indptr[r + 1] = indptr[r] + c
    return indptr[n]


@numba.njit(cache=True, nogil=True)
def _fill(data, indices, x, indptr):
    n, d = x.shape
    for r in range(n):
        pos = indptr[r]
        for j in range(d):
            v = x[r, j]
            if v != 0:
                data[pos] = v
                indices[pos] = j
                pos += 1


def csr_count(indptr, x):
    """indptr[0] = 0, indptr[r + 1] = the entries kept in rows 0..r; returns indptr[-1]."""
    return int(_count(indptr, x))


def csr_fill(data, indices, x, indptr):
    """The kept values and their column numbers into data and indices, as indptr places them."""
    _fill(data, indices, x, indptr)
