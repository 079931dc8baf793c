"""The Cholesky factor in NumPy (LAPACK's potrf through numpy.linalg.cholesky): the spec of
``fastnn.kernels.cholesky``."""
from __future__ import annotations

import numpy as np

NAME = "numpy"


def cholesky(a):
    """L (lower, zeros above) with a = L L^T from a's lower triangle, in place; returns 0, or the
    order (1-based) of a leading minor that is not positive definite (LAPACK's info)."""
    try:
        # numpy reads the lower triangle only; the upper's values do not matter
        a[...] = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return _first_failure(a)
    return 0


def _first_failure(a):
    """The order of the first leading minor that is not positive definite (numpy's error does not say)."""
    lo, hi = 1, a.shape[0]  # the full matrix fails; find the smallest failing leading minor
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            np.linalg.cholesky(a[:mid, :mid])
            lo = mid + 1
        except np.linalg.LinAlgError:
            hi = mid
    return lo
