"""The Cholesky factor compiled with Numba: numpy.linalg.cholesky inside @njit, which Numba
runs as LAPACK's potrf (SciPy's), as a hand-written Numba factorisation would be slower
than LAPACK's blocked one; the same function as the NumPy spec, without Python between
the calls of a solver written in Numba."""
from __future__ import annotations

import numba
import numpy as np

from ._cholesky_reference import _first_failure

NAME = "numba"


@numba.njit(cache=True, nogil=True)
def _factor(a):
    return np.linalg.cholesky(a)


def cholesky(a):
    """L (lower, zeros above) with a = L L^T from a's lower triangle, in place; returns 0, or the
    order (1-based) of a leading minor that is not positive definite."""
    try:
        a[...] = _factor(a)
    except np.linalg.LinAlgError:
        return _first_failure(a)
    return 0
