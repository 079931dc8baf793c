"""X^T diag(h) X compiled with Numba. A sparse CSR X: the loops of csrc/sandwich.c (blocks of
the result's rows kept in cache, the upper triangle then its mirror) in the spec's order
(``_sandwich_reference``), so the same bits; no fastmath. A dense X: csrc/dense_sandwich.c's
chunks of rows (X and h X copied a chunk at a time), each chunk's whole product by BLAS per column of h
(np.dot: Numba has no faster one), the upper triangle then mirrored."""
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


#: a chunk's two copies take about this many bytes (dense_sandwich.c's)
DENSE_CHUNK_BYTES = 256 * 1024


@_jit
def _dense(out, x, h, ones):
    """out [q, q, m], h [n, m]: per chunk of rows, Xa_c copied, then each column's product."""
    n, p = x.shape
    q, m = out.shape[0], out.shape[2]
    ch = min(n, max(64, DENSE_CHUNK_BYTES // (2 * q * out.itemsize)))
    xa, hxa = np.empty((ch, q), out.dtype), np.empty((ch, q), out.dtype)
    part = np.empty((q, q), out.dtype)
    res = np.zeros((m, q, q), out.dtype)
    for i0 in range(0, n, ch):
        rows = min(ch, n - i0)
        for r in range(rows):
            for j in range(p):
                xa[r, j] = x[i0 + r, j]
            if ones:
                xa[r, p] = 1
        for t in range(m):
            for r in range(rows):
                for j in range(q):
                    hxa[r, j] = h[i0 + r, t] * xa[r, j]
            np.dot(xa[:rows].T, hxa[:rows], part)
            res[t] += part
    for a in range(q):
        for b in range(q):
            for t in range(m):
                out[a, b, t] = res[t, a, b] if a <= b else res[t, b, a]


def dense_sandwich(out, x, h, intercept):
    """Xa^T diag(h) Xa into out [q, q] (h [n]), or Xa^T diag(h[:, t]) Xa into out[:, :, t] (h [n, m]); Xa = x or
    (x, 1) with intercept."""
    O = out if out.ndim == 3 else out[:, :, None]
    if x.shape[0] == 0:
        O[...] = 0
        return
    _dense(O, x, h if h.ndim == 2 else h[:, None], bool(intercept))
