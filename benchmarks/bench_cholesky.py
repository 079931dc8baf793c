"""kernels.cholesky (the factor of newton-cholesky's Newton system): the NumPy reference is
numpy.linalg.cholesky (LAPACK's potrf from NumPy's OpenBLAS), the baseline; Numba's runs
SciPy's LAPACK, the C backend its recursion on fastnn's matrix product."""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, require

SIZES = [500, 2000]


class Cholesky:
    params = (BACKENDS, ["float64"], SIZES)
    param_names = ["backend", "dtype", "n"]

    def setup(self, backend, dtype, n):
        require(backend)
        rng = np.random.default_rng(0)
        A = rng.standard_normal((n + 10, n))
        self.a = (A.T @ A / n + 1e-3 * np.eye(n)).astype(dtype)
        self.out = np.empty_like(self.a)
        self.backend = backend
        self.time_cholesky(backend, dtype, n)  # warm-up (Numba compiles) outside the timing

    def time_cholesky(self, backend, dtype, n):
        K.cholesky(self.a, out=self.out, backend=self.backend)
