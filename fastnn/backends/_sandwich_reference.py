"""X^T diag(h) X in NumPy: the specs of ``fastnn.kernels.csr_sandwich`` (a sparse CSR X) and
``dense_sandwich`` (a dense X, with or without a column of ones).

csr_sandwich: row by row, each row's entries (columns sorted, distinct) with each other: (h_i x_ia) x_ib
added at [a, b] for a <= b, rows in increasing i; the lower triangle is the upper's mirror.
The C kernel and the Numba twin sum in this order, so all three give the same bits.
dense_sandwich: one product Xa^T (h Xa), its upper triangle mirrored (exactly symmetric, as the
C kernel's, whose sums run in another order).
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


def dense_sandwich(out, x, h, intercept):
    """Xa^T diag(h) Xa into out [q, q] (h [n]), or Xa^T diag(h[:, t]) Xa into out[:, :, t] (h [n, m]); Xa = x or
    (x, 1) with intercept."""
    xa = np.hstack([x, np.ones((x.shape[0], 1), x.dtype)]) if intercept else x
    H = h if h.ndim == 2 else h[:, None]
    O = out if out.ndim == 3 else out[:, :, None]
    lower = np.tril_indices(out.shape[0], -1)
    for t in range(H.shape[1]):
        P = xa.T @ (H[:, t:t + 1] * xa)
        P[lower] = P.T[lower]
        O[:, :, t] = P
