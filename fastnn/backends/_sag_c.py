"""SAG / SAGA in C: a cffi wrapper over fnn_sag_f32/_f64 (csrc/sag.c).

Same contract as ``_sag_reference.sag`` (X dense, or CSR as a tuple); ``fastnn.kernels.sag``
has validated every argument, so this only allocates the workspace and hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_sag_f32, np.dtype(np.float64): lib.fnn_sag_f64}


def sag(coef, intercept, sum_gradient, gradient_memory, intercept_sum_gradient, seen, X, y, sample_weight,
        step_size, alpha, beta, tol, intercept_decay, seed, loss, saga, fit_intercept, max_iter):
    """Solve in place on coef, intercept and the memory arrays; returns (n_iter, finite)."""
    ct = _CTYPE[coef.dtype]
    p, k = coef.shape
    n = sample_weight.shape[0]
    # the workspace: cumulative step sums (2 n), previous weights (p k), prediction, gradient and its change (3 k)
    work = np.empty(2 * n + p * k + 3 * k, coef.dtype)
    if isinstance(X, tuple):  # CSR (data, indices int32, indptr int64), and each feature's last update step
        data, indices, indptr = X
        csr = (ffi.from_buffer(ct, data), ffi.from_buffer("int64_t[]", indptr),
               ffi.from_buffer("int32_t[]", indices))
        hist = ffi.from_buffer("int64_t[]", np.empty(p, np.int64))
    else:
        csr, hist = (ffi.from_buffer(ct, X), ffi.NULL, ffi.NULL), ffi.NULL
    n_iter = ffi.new("int64_t *")
    status = _FN[coef.dtype](
        ffi.from_buffer(ct, coef), ffi.from_buffer(ct, intercept), ffi.from_buffer(ct, sum_gradient),
        ffi.from_buffer(ct, gradient_memory), ffi.from_buffer(ct, intercept_sum_gradient),
        ffi.from_buffer("int32_t[]", seen), n_iter, ffi.from_buffer(ct, work), hist, *csr, ffi.from_buffer(ct, y),
        ffi.from_buffer(ct, sample_weight), step_size, alpha, beta,
        tol, intercept_decay, seed, loss, int(saga), int(fit_intercept), max_iter, n, p, k)
    return int(n_iter[0]), status == lib.FNN_OK
