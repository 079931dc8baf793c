"""X^T diag(h) X in C: cffi wrappers over fnn_csr_sandwich_f32/_f64 (csrc/sandwich.c, a sparse
CSR X) and fnn_dense_sandwich_f32/_f64 (csrc/dense_sandwich.c, a dense X).

Same contracts as ``_sandwich_reference``'s; ``fastnn.kernels.csr_sandwich`` and
``dense_sandwich`` have validated every argument (the CSR structure included: the C indexes
with it unchecked), so this only hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_csr_sandwich_f32, np.dtype(np.float64): lib.fnn_csr_sandwich_f64}
_DENSE_FN = {np.dtype(np.float32): lib.fnn_dense_sandwich_f32, np.dtype(np.float64): lib.fnn_dense_sandwich_f64}


def csr_sandwich(out, data, indices, indptr, h):
    """X^T diag(h) X into out [p, p] (h [n]), or X^T diag(h[:, t]) X into out[:, :, t] (h [n, m])."""
    ct = _CTYPE[out.dtype]
    status = _FN[out.dtype](ffi.from_buffer(ct, out), ffi.from_buffer(ct, data), ffi.from_buffer("int32_t[]", indices),
                            ffi.from_buffer("int64_t[]", indptr), ffi.from_buffer(ct, h), h.shape[0], out.shape[0],
                            h.shape[1] if h.ndim == 2 else 1)
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_csr_sandwich: could not allocate the block table")


def dense_sandwich(out, x, h, intercept):
    """Xa^T diag(h) Xa into out [q, q] (h [n]), or Xa^T diag(h[:, t]) Xa into out[:, :, t] (h [n, m]); Xa = x or
    (x, 1) with intercept."""
    ct = _CTYPE[out.dtype]
    status = _DENSE_FN[out.dtype](ffi.from_buffer(ct, out), ffi.from_buffer(ct, x), ffi.from_buffer(ct, h),
                                  x.shape[0], x.shape[1], h.shape[1] if h.ndim == 2 else 1, int(intercept))
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_dense_sandwich: could not allocate the chunk buffers or the products' scratch")
