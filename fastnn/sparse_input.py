"""The form of X the native epoch trains fastest on: dense, or CSR with the first layer's
products over the non-zeros (``kernels.train_epoch`` takes both).

A sparse X dense enough trains densified, and a dense X that is mostly zeros (images on
a blank background as MNIST's, one-hot blocks) on a CSR copy of itself when the fit is long
enough to repay the copy (SPARSIFY_MIN_EPOCHS). The thresholds
were measured on the C kernels (``benchmarks/sparse_density.py``) and are shared by
``fastnn.MLP`` (``train.fit_network``) and the estimators; either form gives the same
weights up to rounding (the same sums, the zeros skipped).
"""
from __future__ import annotations

import numpy as np

from . import backends, kernels

__all__ = ["SPARSE_DENSIFY_MAX_BYTES", "SPARSE_NATIVE_DENSIFY_DENSITY", "DENSE_NATIVE_SPARSIFY_DENSITY",
           "SPARSIFY_MIN_FEATURES", "SPARSIFY_MIN_EPOCHS", "CSR_COPY_BLOCK_VALUES", "dense_bytes", "densify",
           "sparsify", "csr_copy", "native_form"]

#: a sparse X whose dense copy would be larger than this trains sparse, whatever its density
SPARSE_DENSIFY_MAX_BYTES = 1 << 30
#: On the native epoch, sparse X with at least this share of non-zeros trains
#: densified: its first layer runs over the non-zeros below that (one thread, 20000
#: rows, 2 epochs, sparse against dense, float64 / float32: 128 to 1000 columns, 64 to 256
#: hidden units, 5% non-zero 2.1-4.3x / 1.7-4.3x faster, 20% 1.4-1.7x / 1.2-1.6x, 30%
#: 1.1-1.3x / 1.0-1.3x, 40% 0.9-1.0x / 0.8-1.1x, 50% 0.8-0.9x / 0.7-0.9x; two threads, wall
#: time, 784 columns, (100,): 20% 1.7x / 1.7x, 30% 1.3x / 1.3x, 40% 1.0x / 1.0x).
SPARSE_NATIVE_DENSIFY_DENSITY = 0.35
#: On the native epoch, dense X with at most this share of non-zeros and at least
#: SPARSIFY_MIN_FEATURES columns trains on a CSR copy of itself (csr_copy): the figures
#: above, less the copy (20000 x 784 float64, 20% non-zero: ~40 ms, a 2-epoch fit 155 ->
#: 150 ms, each further epoch ~28 ms faster). Below SPARSE_NATIVE_DENSIFY_DENSITY because
#: the copy costs a pass over X and up to 1.5x its non-zeros' bytes.
DENSE_NATIVE_SPARSIFY_DENSITY = 0.25
#: narrower dense X trains dense whatever its zeros (the figures above start at 128 columns)
SPARSIFY_MIN_FEATURES = 128
#: nor does a fit of fewer epochs (partial_fit's one, a short fit): the copy and its check
#: cost what 2-7 epochs save (one thread, 784-128-64-10, 20% non-zero: 20000 rows, the
#: copy ~50 ms, an epoch of batch 32 58 -> 43 ms float32, 111 -> 88 float64, of batch 200
#: 47 -> 33 and 75 -> 57; 45000 rows of `fastnn train`'s float32 batch 32: the copy 95-175
#: ms, 5 epochs 0.63 s dense against 0.65-0.70 on the copy, 10 epochs 1.28-1.38 against 1.13)
SPARSIFY_MIN_EPOCHS = 8
#: rows of X a step of csr_copy takes: its temporaries stay near this many values
CSR_COPY_BLOCK_VALUES = 1 << 22


def dense_bytes(X, dtype) -> int:
    """The bytes of X as a dense array of `dtype`."""
    return int(X.shape[0]) * int(X.shape[1]) * np.dtype(dtype).itemsize


def densify(X, dtype) -> bool:
    """Whether sparse X trains densified on the native epoch (SPARSE_NATIVE_DENSIFY_DENSITY,
    SPARSE_DENSIFY_MAX_BYTES)."""
    n, d = X.shape
    return dense_bytes(X, dtype) <= SPARSE_DENSIFY_MAX_BYTES and X.nnz >= SPARSE_NATIVE_DENSIFY_DENSITY * n * d


def sparsify(X: np.ndarray, epochs: int) -> bool:
    """Whether dense X trains on a CSR copy of itself on the native epoch for up to `epochs`
    passes over it (DENSE_NATIVE_SPARSIFY_DENSITY, SPARSIFY_MIN_FEATURES, SPARSIFY_MIN_EPOCHS)."""
    n, d = X.shape
    return (d >= SPARSIFY_MIN_FEATURES and n > 0 and epochs >= SPARSIFY_MIN_EPOCHS
            and np.count_nonzero(X) <= DENSE_NATIVE_SPARSIFY_DENSITY * n * d)


def csr_copy(X: np.ndarray):
    """X's non-zeros as a canonical scipy.sparse CSR matrix (rows in order, columns rising), a
    copy: 2.5x faster than scipy's constructor from a dense array (20000 x 784 float64, 20%
    non-zero: 42 ms against 105), and beyond the result's arrays it holds a block of rows'
    worth of temporaries at a time (CSR_COPY_BLOCK_VALUES), not several of X's size."""
    import scipy.sparse as sp

    n, d = X.shape
    step = max(1, CSR_COPY_BLOCK_VALUES // d)
    indptr = np.zeros(n + 1, np.int64)
    for r0 in range(0, n, step):
        indptr[r0 + 1:r0 + step + 1] = np.count_nonzero(X[r0:r0 + step] != 0, axis=1)
    np.cumsum(indptr, out=indptr)
    data, indices = np.empty(int(indptr[-1]), X.dtype), np.empty(int(indptr[-1]), np.int32)
    for r0 in range(0, n, step):
        block = X[r0:r0 + step]
        # (row-major: each row's columns rising; of a boolean mask, 10x faster than of X)
        flat = np.flatnonzero(block != 0)
        lo, hi = indptr[r0], indptr[min(r0 + step, n)]
        data[lo:hi] = block.ravel()[flat]
        indices[lo:hi] = flat % d
    return sp.csr_matrix((data, indices, indptr), shape=(n, d))


def native_form(X, dtype, backend=None, *, epochs: int):
    """X as the native epoch of `backend` (None: the current default) trains it fastest over
    up to `epochs` passes: a sparse X densified (densify) or as CSR; a dense X as a CSR copy
    (sparsify, on the C backend, where the thresholds were measured) or as it is. Never
    changes the caller's X."""
    if kernels.is_sparse(X):
        return X.toarray() if densify(X, dtype) else X.tocsr()
    name = backends.current() if backend is None else backend
    if name == "c" and sparsify(X, epochs):
        return csr_copy(X)
    return X
