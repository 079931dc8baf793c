"""X^T diag(h) X for a sparse CSR X in NumPy: the spec of ``fastnn.kernels.csr_sandwich``.

Row by row, each row's entries (columns sorted, distinct) with each other: (h_i x_ia) x_ib
added at [a, b] for a <= b, rows in increasing i; the lower triangle is the upper's mirror.
The C kernel and the Numba twin sum in this order, so all three give the same bits.
"""
from __future__ import annotations

import numpy as np

NAME = "numpy"


def csr_sandwich(out, data, indices, indptr, h):
    """X^T diag(h) X into out [p, p] (h [n]), or X^T diag(h[:, t]) X into out[:, :, t] (h [n, m])."""
    H = h if h.ndim == 2 else h[:, None]
    O = out if out.ndim == 3 else out[:, :, None]
    O[...] = 0
    upper = np.triu(np.ones((out.shape[0],) * 2, dtype=bool))
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        if lo == hi or not H[i].any():  # (adds +-0 everywhere: nothing)
            continue
        cols, vals = indices[lo:hi], data[lo:hi]
        pair = (H[i][None, :] * vals[:, None])[:, None, :] * vals[None, :, None]  # (h_t x_a) x_b
        O[np.ix_(cols, cols)] += np.where(upper[np.ix_(cols, cols)][:, :, None], pair, 0)
    for t in range(O.shape[2]):
        U = np.triu(O[:, :, t])
        O[:, :, t] = U + np.triu(U, 1).T
