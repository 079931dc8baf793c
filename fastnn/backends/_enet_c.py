"""Elastic-net coordinate descent in C: a cffi wrapper over fnn_enet_cd_f32/_f64 (csrc/enet.c).

Same contract as ``_enet_reference.enet_cd``; ``fastnn.kernels.enet_cd`` has
validated every argument, so this only hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly: its import sets up the
# library (GOMP_SPINCOUNT before libgomp loads, fastnn's thread count, FASTNN_ISA);
# imported alone, the solver ran on every core whatever set_num_threads said
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_enet_cd_f32, np.dtype(np.float64): lib.fnn_enet_cd_f64}


def enet_cd(w, xt, y, alpha, beta, max_iter, tol, seed, random, positive, screening, gram_after=-1, gram=None,
            xty=None, gram_predict=False):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged). xt may be
    None when gram and xty are given and gram_after is 0."""
    ct = _CTYPE[w.dtype]

    def ptr(a):
        return ffi.NULL if a is None else ffi.from_buffer(ct, a)

    gap, tol_s = ffi.new("double *"), ffi.new("double *")
    n_iter, ok = ffi.new("int64_t *"), ffi.new("int *")
    status = _FN[w.dtype](ffi.from_buffer(ct, w), gap, tol_s, n_iter, ok, ptr(xt), ffi.from_buffer(ct, y),
                          y.shape[0], w.shape[0], alpha, beta, max_iter, tol, seed, int(random), int(positive),
                          int(screening), int(gram_after), ptr(gram), ptr(xty), int(gram_predict))
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_enet_cd: could not allocate the solver's workspace")
    return gap[0], tol_s[0], int(n_iter[0]), bool(ok[0])
