"""newGLMNET's inner coordinate descent in C: a cffi wrapper over fnn_l1_quadratic_cd_f32/_f64
(csrc/l1_quadratic.c).

Same contract as ``_l1_quadratic_reference.l1_quadratic_cd``; ``fastnn.kernels.l1_quadratic_cd``
has validated every argument (the CSC structure and the columns included: the C indexes
with them unchecked), so this only hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_l1_quadratic_cd_f32, np.dtype(np.float64): lib.fnn_l1_quadratic_cd_f64}


def l1_quadratic_cd(u, xd, data, indices, indptr, cols, g, h, alpha, nu, max_sweeps, tol):
    """Coordinate descent in place on u, X_W (u - u0) into xd; returns the sweeps run."""
    ct = _CTYPE[u.dtype]
    sweeps = ffi.new("int64_t *")
    status = _FN[u.dtype](ffi.from_buffer(ct, u), ffi.from_buffer(ct, xd), sweeps, ffi.from_buffer(ct, data),
                          ffi.from_buffer("int64_t[]", indices), ffi.from_buffer("int64_t[]", indptr),
                          ffi.from_buffer("int64_t[]", cols), cols.shape[0], ffi.from_buffer(ct, g),
                          ffi.from_buffer(ct, h), h.shape[0], alpha, nu, max_sweeps, tol)
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_l1_quadratic_cd: could not allocate the solver's workspace")
    return int(sweeps[0])
