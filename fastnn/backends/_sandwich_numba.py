"""X^T diag(h) X for a sparse CSR X, compiled with Numba: the loops of csrc/sandwich.c
(blocks of the result's rows kept in cache, the upper triangle then its mirror) in the
spec's order (``_sandwich_reference``), so the same bits; no fastmath."""
from __future__ import annotations

import numba
import numpy as np

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)

#: a block of the result's rows, (p - a0) columns each, fits about this many bytes (sandwich.c's)
BLOCK_BYTES = 512 * 1024


@_jit
def _first_at_least(idx, lo, hi, a):
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if idx[mid] < a:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _sandwich(out, data, indices, indptr, h):
    """out [p, p, m], h [n, m]: the C kernel's loops, one scatter of m sums per pair of entries."""
    n, p, m = indptr.shape[0] - 1, out.shape[0], out.shape[2]
    s = np.empty(m, out.dtype)
    a0 = 0
    while a0 < p:
        a1 = min(p, a0 + max(1, BLOCK_BYTES // ((p - a0) * m * out.itemsize)))
        for a in range(a0, a1):
            out[a, a:, :] = 0
        for i in range(n):
            lo, hi = indptr[i], indptr[i + 1]
            if lo == hi or indices[hi - 1] < a0 or not h[i].any():
                continue
            j = _first_at_least(indices, lo, hi, a0)
            while j < hi and indices[j] < a1:
                for t in range(m):
                    s[t] = h[i, t] * data[j]
                row = out[indices[j]]
                for k in range(j, hi):
                    o = row[indices[k]]
                    v = data[k]
                    for t in range(m):
                        o[t] += s[t] * v
                j += 1
        a0 = a1
    for b in range(1, p):
        for a in range(b):
            out[b, a, :] = out[a, b, :]


def csr_sandwich(out, data, indices, indptr, h):
    """X^T diag(h) X into out [p, p] (h [n]), or X^T diag(h[:, t]) X into out[:, :, t] (h [n, m])."""
    _sandwich(out if out.ndim == 3 else out[:, :, None], data, indices, indptr, h if h.ndim == 2 else h[:, None])
