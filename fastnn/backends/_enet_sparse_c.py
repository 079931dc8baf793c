"""Sparse elastic-net coordinate descent in C: a cffi wrapper over fnn_enet_cd_sparse_f32/_f64 (csrc/enet.c).

Same contract as ``_enet_sparse_reference.enet_cd_sparse``; ``fastnn.kernels.enet_cd_sparse``
has validated every argument (the CSC structure included: the C indexes with it
unchecked) and made the index arrays int64, so this only hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_enet_cd_sparse_f32, np.dtype(np.float64): lib.fnn_enet_cd_sparse_f64}


def enet_cd_sparse(w, data, indices, indptr, y, sw, x_mean, alpha, beta, max_iter, tol, seed, random, positive,
                   screening):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged)."""
    ct = _CTYPE[w.dtype]
    gap, tol_s = ffi.new("double *"), ffi.new("double *")
    n_iter, ok = ffi.new("int64_t *"), ffi.new("int *")
    status = _FN[w.dtype](ffi.from_buffer(ct, w), gap, tol_s, n_iter, ok, ffi.from_buffer(ct, data),
                          ffi.from_buffer("int64_t[]", indices), ffi.from_buffer("int64_t[]", indptr),
                          ffi.from_buffer(ct, y), ffi.NULL if sw is None else ffi.from_buffer(ct, sw),
                          ffi.from_buffer(ct, x_mean), y.shape[0], w.shape[0], alpha, beta, max_iter, tol, seed,
                          int(random), int(positive), int(screening))
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_enet_cd_sparse: could not allocate the solver's workspace")
    return gap[0], tol_s[0], int(n_iter[0]), bool(ok[0])
