"""The kernels that prepare X for a solver, against their NumPy references (the baselines).

kernels.dense_to_csr (the CSR copy a mostly-zero dense X trains on, fastnn.sparse_input) on an
MNIST-like X, images on a blank background at 20% non-zero: the reference takes a boolean mask's
flatnonzero a block of rows at a time; scipy's constructor from a dense array is the peer users
would reach for. kernels.centered_transpose (Lasso's column-major centred X) on a tall and a
wide X: the reference is a blocked transposing subtraction."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import fastnn.kernels as K

from . import BACKENDS, require


def _images(n, dtype):
    """n 28 x 28 images: a 14 x 14 centre with 80% of its pixels lit (20% of the image)."""
    rng = np.random.default_rng(0)
    x = np.zeros((n, 28, 28))
    x[:, 7:21, 7:21] = rng.random((n, 14, 14)) * (rng.random((n, 14, 14)) < 0.8)
    return x.reshape(n, 784).astype(dtype)


class DenseToCSR:
    params = (BACKENDS + ["scipy"], ["float32", "float64"])
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        if backend != "scipy":
            require(backend)
        self.x = _images(8000, dtype)
        self.backend = backend
        self.time_dense_to_csr(backend, dtype)  # warm-up (Numba compiles) outside the timing

    def time_dense_to_csr(self, backend, dtype):
        if self.backend == "scipy":
            sp.csr_matrix(self.x)
        else:
            K.dense_to_csr(self.x, backend=self.backend)


class CenteredTranspose:
    params = (BACKENDS, ["float32", "float64"], ["100000x50", "500x3000"])
    param_names = ["backend", "dtype", "shape"]

    def setup(self, backend, dtype, shape):
        require(backend)
        n, p = (int(v) for v in shape.split("x"))
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((n, p)).astype(dtype)
        self.mean = self.x.mean(axis=0)
        self.out = np.empty((p, n), dtype)
        self.backend = backend
        self.time_centered_transpose(backend, dtype, shape)  # warm-up (Numba compiles) outside the timing

    def time_centered_transpose(self, backend, dtype, shape):
        K.centered_transpose(self.x, self.mean, out=self.out, backend=self.backend)
