"""X centred, scaled and transposed with Numba: ``_transpose_reference``'s elements (the same
subtraction and product each), in tiles of TILE x TILE so the rows read and written stay in cache."""
from __future__ import annotations

import numba
import numpy as np

NAME = "numba"

TILE = 32


@numba.njit(cache=True, nogil=True)
def _run(out, x, mean, scale, scaled):
    n, p = x.shape
    finite = True
    for i0 in range(0, n, TILE):
        i1 = min(i0 + TILE, n)
        for j0 in range(0, p, TILE):
            for j in range(j0, min(j0 + TILE, p)):
                m = mean[j]
                for i in range(i0, i1):
                    v = (x[i, j] - m) * scale[i] if scaled else x[i, j] - m
                    out[j, i] = v
                    finite = finite and np.isfinite(v)
    return finite


def centered_transpose(out, x, mean, scale):
    """out[j, i] = (x[i, j] - mean[j]) * scale[i] (no product when scale is None); returns
    whether every value written is finite."""
    return bool(_run(out, x, mean, mean[:0] if scale is None else scale, scale is not None))
