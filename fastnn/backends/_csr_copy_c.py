"""A dense x copied to CSR in C: cffi wrappers over fnn_csr_count / fnn_csr_fill (csrc/csr_copy.c).

Same contract as ``_csr_copy_reference``'s; ``fastnn.kernels.dense_to_csr`` has validated x
(C-contiguous, fewer than 2**31 columns) and sized the outputs from the count, so this only
hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly (see _enet_c.py)
from fastnn.backends.c import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_COUNT = {np.dtype(np.float32): lib.fnn_csr_count_f32, np.dtype(np.float64): lib.fnn_csr_count_f64}
_FILL = {np.dtype(np.float32): lib.fnn_csr_fill_f32, np.dtype(np.float64): lib.fnn_csr_fill_f64}


def csr_count(indptr, x):
    """indptr[0] = 0, indptr[r + 1] = the entries kept in rows 0..r; returns indptr[-1]."""
    return int(_COUNT[x.dtype](ffi.from_buffer("int64_t[]", indptr), ffi.from_buffer(_CTYPE[x.dtype], x),
                               x.shape[0], x.shape[1]))


def csr_fill(data, indices, x, indptr):
    """The kept values and their column numbers into data and indices, as indptr places them."""
    ct = _CTYPE[x.dtype]
    status = _FILL[x.dtype](ffi.from_buffer(ct, data), ffi.from_buffer("int32_t[]", indices),
                            ffi.from_buffer(ct, x), ffi.from_buffer("int64_t[]", indptr), x.shape[0], x.shape[1])
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_csr_fill: could not allocate the rows' scratch")
