"""A dense x copied to CSR in NumPy: the spec of ``fastnn.kernels.dense_to_csr``'s two passes.

``csr_count`` writes indptr [n + 1] (0, then the running count of the entries kept, row by
row) and returns the total; ``csr_fill`` writes data and indices [total] from it: each kept
value and its column number, row by row, each row's in column order. An entry is kept where
``x != 0``: a NaN is kept, -0.0 is not. Both take X a block of rows at a time
(BLOCK_VALUES values), so the temporaries stay that size whatever X's.
"""
from __future__ import annotations

import numpy as np

NAME = "numpy"

#: values of x a step takes: its boolean mask and the positions it yields stay near this size
BLOCK_VALUES = 1 << 22


def _steps(n: int, d: int):
    step = max(1, BLOCK_VALUES // max(d, 1))
    return ((r0, min(r0 + step, n)) for r0 in range(0, n, step))


def csr_count(indptr, x):
    """indptr[0] = 0, indptr[r + 1] = the entries kept in rows 0..r; returns indptr[-1]."""
    n, d = x.shape
    indptr[0] = 0
    for r0, r1 in _steps(n, d):
        indptr[r0 + 1:r1 + 1] = np.count_nonzero(x[r0:r1] != 0, axis=1)
    np.cumsum(indptr, out=indptr)
    return int(indptr[-1])


def csr_fill(data, indices, x, indptr):
    """The kept values and their column numbers into data and indices, as indptr places them."""
    n, d = x.shape
    for r0, r1 in _steps(n, d):
        block = x[r0:r1]
        # (row-major: each row's columns rising; of a boolean mask, 10x faster than of X)
        flat = np.flatnonzero(block != 0)
        lo, hi = indptr[r0], indptr[r1]
        data[lo:hi] = block.ravel()[flat]
        indices[lo:hi] = flat % d
