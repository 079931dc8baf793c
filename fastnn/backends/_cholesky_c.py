"""The Cholesky factor in C: a cffi wrapper over fnn_cholesky_f32/_f64 (csrc/cholesky.c).

Same contract as ``_cholesky_reference.cholesky``; ``fastnn.kernels.cholesky`` has validated
the argument (a square, C-contiguous float array it owns), so this only hands the pointer over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_cholesky_f32, np.dtype(np.float64): lib.fnn_cholesky_f64}


def cholesky(a):
    """L (lower, zeros above) with a = L L^T from a's lower triangle, in place; returns 0, or the
    order (1-based) of a leading minor that is not positive definite."""
    info = ffi.new("int64_t *")
    if _FN[a.dtype](ffi.from_buffer(_CTYPE[a.dtype], a), a.shape[0], info) == lib.FNN_ENOMEM:
        raise MemoryError("fnn_cholesky: could not allocate the solve's scratch panel")
    return int(info[0])
