"""X^T diag(h) X for a sparse CSR X in NumPy: the spec of ``fastnn.kernels.csr_sandwich``.

Row by row, each row's entries (columns sorted, distinct) with each other: (h_i x_ia) x_ib
added at [a, b] for a <= b, rows in increasing i; the lower triangle is the upper's mirror.
The C kernel and the Numba twin sum in this order, so all three give the same bits.
"""
from __future__ import annotations

import numpy as np

NAME = "numpy"


def csr_sandwich(out, data, indices, indptr, h):
    """X^T diag(h) X into out [p, p]."""
    out[...] = 0
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        if lo == hi or h[i] == 0:  # (adds +-0 everywhere: nothing)
            continue
        cols, vals = indices[lo:hi], data[lo:hi]
        out[np.ix_(cols, cols)] += np.triu(np.outer(h[i] * vals, vals))
    upper = np.triu(out)
    out[...] = upper + np.triu(upper, 1).T
