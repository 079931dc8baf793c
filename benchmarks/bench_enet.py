"""Lasso's coordinate descent (kernels.enet_cd): one full solve from w = 0.

The NumPy reference loops over coordinates in Python, so it is the slow baseline
by construction; scikit-learn's Cython solver (the same steps) is the peer to
beat, in the ``sklearn`` row."""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, require

SHAPES = {"2000x50": (2000, 50), "20000x200": (20000, 200)}


def _problem(shape, dtype):
    n, p = SHAPES[shape]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    y = X[:, : p // 4] @ rng.standard_normal(p // 4) + rng.standard_normal(n)
    X -= X.mean(axis=0)
    y -= y.mean()
    return np.ascontiguousarray(X.T, dtype=dtype), y.astype(dtype), 0.1 * n


class EnetCD:
    params = (BACKENDS + ["sklearn"], ["float64"], list(SHAPES))
    param_names = ["backend", "dtype", "shape"]
    timeout = 120

    def setup(self, backend, dtype, shape):
        if backend == "numpy" and shape == "20000x200":
            raise NotImplementedError("the Python-loop reference takes minutes at this size")
        if backend == "sklearn":
            from sklearn.linear_model import _cd_fast

            self.cd_fast = _cd_fast
        else:
            require(backend)
        self.xt, self.y, self.alpha = _problem(shape, np.dtype(dtype))
        self.xf = np.asfortranarray(self.xt.T)
        self.backend = backend
        self.time_enet_cd(backend, dtype, shape)  # warm-up (Numba compiles) outside the timing

    def time_enet_cd(self, backend, dtype, shape):
        w = np.zeros(self.xt.shape[0], self.xt.dtype)
        if self.backend == "sklearn":
            self.cd_fast.enet_coordinate_descent(w, self.alpha, 0.0, self.xf, self.y, 1000, 1e-4,
                                                 np.random.RandomState(0), False, False, True)
        else:
            K.enet_cd(w, self.xt, self.y, alpha=self.alpha, tol=1e-4, backend=self.backend)
