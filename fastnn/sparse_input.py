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

from typing import Optional

import numpy as np

from . import backends, kernels

__all__ = ["SPARSE_DENSIFY_MAX_BYTES", "SPARSE_NATIVE_DENSIFY_DENSITY", "DENSE_NATIVE_SPARSIFY_DENSITY",
           "SPARSIFY_MIN_FEATURES", "SPARSIFY_MIN_EPOCHS", "DENSITY_SAMPLE_ROWS", "DENSITY_SAMPLE_MARGIN",
           "dense_bytes", "densify", "sparsify", "csr_copy", "native_form"]

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
#: above, less the copy (csr_copy, its figures there). Below SPARSE_NATIVE_DENSIFY_DENSITY
#: because the copy costs two passes over X and up to 1.5x its non-zeros' bytes.
DENSE_NATIVE_SPARSIFY_DENSITY = 0.25
#: rows of a dense X whose non-zeros are counted first (spread evenly over it): an X denser
#: than DENSITY_SAMPLE_MARGIN x DENSE_NATIVE_SPARSIFY_DENSITY there trains dense without the
#: whole count, a pass over X (20000 x 784 float64 from memory: ~7 ms, 5% of a 2-epoch fit)
DENSITY_SAMPLE_ROWS = 256
DENSITY_SAMPLE_MARGIN = 1.25
#: narrower dense X trains dense whatever its zeros (the figures above start at 128 columns)
SPARSIFY_MIN_FEATURES = 128
#: nor does a one-pass fit (partial_fit's; a batch of a few hundred rows saves less than
#: the copy's fixed ~0.1 ms). From two epochs on the copy pays with room to spare: a
#: fastnn.MLP 784-100-10 fit, Adam, one thread, dense -> on the copy (the copy included),
#: float32 / float64: MNIST-like digits28thin (8086 rows, 20%), batch 32, 1 epoch 1.10x /
#: 1.18x, 2 epochs 1.21x / 1.29x, 4 1.26x / 1.33x; batch 200 1.11x / 1.18x, 1.23x / 1.35x,
#: 1.32x / 1.43x; 20000 random rows at 20%, batch 32, 1 epoch 1.09x / 1.12x, 2 epochs 1.17x
#: / 1.21x; two threads (wall), 2 epochs, all four cases 1.08-1.33x (with NumPy's copy, 4x
#: slower, it took 8 epochs to pay)
SPARSIFY_MIN_EPOCHS = 2


def dense_bytes(X, dtype) -> int:
    """The bytes of X as a dense array of `dtype`."""
    return int(X.shape[0]) * int(X.shape[1]) * np.dtype(dtype).itemsize


def densify(X, dtype) -> bool:
    """Whether sparse X trains densified on the native epoch (SPARSE_NATIVE_DENSIFY_DENSITY,
    SPARSE_DENSIFY_MAX_BYTES)."""
    n, d = X.shape
    return dense_bytes(X, dtype) <= SPARSE_DENSIFY_MAX_BYTES and X.nnz >= SPARSE_NATIVE_DENSIFY_DENSITY * n * d


def _sampled_density(X: np.ndarray) -> float:
    """The share of non-zeros in DENSITY_SAMPLE_ROWS rows of X spread evenly over it."""
    rows = X[::max(1, X.shape[0] // DENSITY_SAMPLE_ROWS)][:DENSITY_SAMPLE_ROWS]
    return np.count_nonzero(rows) / rows.size


def _max_nnz(X: np.ndarray) -> int:
    """The most non-zeros a dense X may hold to train on a CSR copy (DENSE_NATIVE_SPARSIFY_DENSITY)."""
    return int(DENSE_NATIVE_SPARSIFY_DENSITY * X.shape[0] * X.shape[1])


def _may_sparsify(X: np.ndarray, epochs: int) -> bool:
    """sparsify's tests short of counting X's non-zeros: its shape, the epochs, and a sample of its rows."""
    n, d = X.shape
    return (d >= SPARSIFY_MIN_FEATURES and n > 0 and epochs >= SPARSIFY_MIN_EPOCHS and _max_nnz(X) >= 0
            and _sampled_density(X) <= DENSITY_SAMPLE_MARGIN * DENSE_NATIVE_SPARSIFY_DENSITY)


def sparsify(X: np.ndarray, epochs: int) -> bool:
    """Whether dense X trains on a CSR copy of itself on the native epoch for up to `epochs`
    passes over it (DENSE_NATIVE_SPARSIFY_DENSITY, SPARSIFY_MIN_FEATURES, SPARSIFY_MIN_EPOCHS)."""
    return _may_sparsify(X, epochs) and np.count_nonzero(X) <= _max_nnz(X)


def csr_copy(X: np.ndarray, *, max_nnz: Optional[int] = None, backend: Optional[str] = None):
    """X's non-zeros as a canonical scipy.sparse CSR matrix (rows in order, columns rising), a
    copy made by ``kernels.dense_to_csr`` on `backend` (None: the current default); None, and
    nothing copied, when X has more than `max_nnz` non-zeros. 8086 x 784 at 20% non-zero
    (MNIST-like), one thread, float64 / float32: C 3.8 / 2.1 ms, Numba 4.3 / 3.6, NumPy 17.2 /
    12.3 (scipy's constructor from a dense array ~2.5x NumPy's)."""
    import scipy.sparse as sp

    arrays = kernels.dense_to_csr(X, max_nnz=max_nnz, backend=backend)
    return None if arrays is None else sp.csr_matrix(arrays, shape=X.shape)


def native_form(X, dtype, backend=None, *, epochs: int):
    """X as the native epoch of `backend` (None: the current default) trains it fastest over
    up to `epochs` passes: a sparse X densified (densify) or as CSR; a dense X as a CSR copy
    (sparsify, on the C backend, where the thresholds were measured; the copy's own count of
    the non-zeros decides, after a sample of rows) or as it is. Never changes the caller's X."""
    if kernels.is_sparse(X):
        return X.toarray() if densify(X, dtype) else X.tocsr()
    name = backends.current() if backend is None else backend
    if name == "c" and _may_sparsify(X, epochs):
        copy = csr_copy(X, max_nnz=_max_nnz(X), backend="c")
        if copy is not None:
            return copy
    return X
