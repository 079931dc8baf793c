"""X centred, scaled and transposed in C: a cffi wrapper over fnn_centered_transpose_f32/_f64
(csrc/transpose.c).

Same contract as ``_transpose_reference``'s; ``fastnn.kernels.centered_transpose`` has validated
every argument (C-contiguous, one dtype, the shapes, out apart from the inputs), so this only
hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_centered_transpose_f32, np.dtype(np.float64): lib.fnn_centered_transpose_f64}


def centered_transpose(out, x, mean, scale):
    """out[j, i] = (x[i, j] - mean[j]) * scale[i] (no product when scale is None); returns
    whether every value written is finite."""
    ct = _CTYPE[x.dtype]
    return bool(_FN[x.dtype](ffi.from_buffer(ct, out), ffi.from_buffer(ct, x), ffi.from_buffer(ct, mean),
                             ffi.NULL if scale is None else ffi.from_buffer(ct, scale), x.shape[0], x.shape[1]))
