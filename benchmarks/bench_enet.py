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


class EnetCDCorrelated:
    """A tall X with strongly correlated columns, the solve coordinate descent needs hundreds of
    sweeps for: the data form (gram_after=-1, scikit-learn's precompute=False), the switch the
    estimators make (after n_features / 16 sweeps) and the Gram form from the start (scikit-learn's
    precompute=True); scikit-learn's two solvers as the peers."""
    params = (["c", "numba", "sklearn"], ["data", "switch", "gram"])
    param_names = ["backend", "form"]
    timeout = 300

    def setup(self, backend, form):
        if backend == "sklearn":
            from sklearn.linear_model import _cd_fast

            self.cd_fast = _cd_fast
            if form == "switch":
                raise NotImplementedError("scikit-learn has no switch")
        else:
            require(backend)
        n, p = 20000, 200
        rng = np.random.default_rng(0)
        X = 0.3 * rng.standard_normal((n, p)) + rng.standard_normal((n, 1))
        y = X[:, : p // 4] @ rng.standard_normal(p // 4) + rng.standard_normal(n)
        X -= X.mean(axis=0)
        y -= y.mean()
        self.xt, self.y, self.alpha = np.ascontiguousarray(X.T), y, 0.1 * n
        self.xf = np.asfortranarray(X)  # scikit-learn's layout, made once (its estimator copies once too)
        self.gram_after = {"data": -1, "switch": p // 16, "gram": 0}[form]
        self.backend, self.form = backend, form
        self.time_enet_cd(backend, form)  # warm-up (Numba compiles) outside the timing

    def time_enet_cd(self, backend, form):
        w = np.zeros(self.xt.shape[0])
        if self.backend == "sklearn":
            rs = np.random.RandomState(0)
            if self.form == "gram":
                Q = self.xt @ self.xt.T
                self.cd_fast.enet_coordinate_descent_gram(w, self.alpha, 0.0, Q, self.xt @ self.y, self.y, 1000,
                                                          1e-4, rs, False, False, True)
            else:
                self.cd_fast.enet_coordinate_descent(w, self.alpha, 0.0, self.xf, self.y, 1000, 1e-4, rs, False,
                                                     False, True)
        else:
            K.enet_cd(w, self.xt, self.y, alpha=self.alpha, tol=1e-4, gram_after=self.gram_after,
                      backend=self.backend)


L1Q_SHAPES = {"2000x1000": (2000, 1000), "15000x20000": (15000, 20000)}


def _l1_model(shape):
    """A TF-IDF-like CSC X (100 non-zeros a row, rows unit-norm) and newGLMNET's first model of an
    L1 logistic fit at zero: g = X^T (p - y) / n, h = p (1 - p) / n with p = 1/2, every column."""
    import scipy.sparse as sp

    n, p = L1Q_SHAPES[shape]
    rng = np.random.default_rng(0)
    X = sp.random(n, p, density=min(100 / p, 0.05), format="csr", random_state=rng)
    X = sp.csc_matrix(X.multiply(1.0 / np.sqrt(np.asarray(X.multiply(X).sum(axis=1)))))
    y = (X @ rng.standard_normal(p) + 0.3 * rng.standard_normal(n) > 0).astype(np.float64)
    g = X.T @ (0.5 - y) / n
    alpha = 0.1 * np.abs(g).max()  # ~C = 10 / max|g|: a weak penalty, many columns in the model
    cols = np.flatnonzero(np.abs(g) > alpha)
    return K._checked_csc(X, np.float64), cols, g[cols], np.full(n, 0.25 / n), alpha


class L1QuadraticCD:
    """kernels.l1_quadratic_cd (liblinear L1's inner problem, one per proximal Newton step): one
    model solved to 1e-3 of its first violation, from zero."""
    params = (BACKENDS, list(L1Q_SHAPES))
    param_names = ["backend", "shape"]
    timeout = 120

    def setup(self, backend, shape):
        if backend == "numpy" and shape == "15000x20000":
            raise NotImplementedError("the Python-loop reference takes minutes at this size")
        require(backend)
        self.X, self.cols, self.g, self.h, self.alpha = _l1_model(shape)
        self.tol = 1e-3 * float(np.abs(np.maximum(np.abs(self.g) - self.alpha, 0)).sum())
        self.backend = backend
        self.time_l1_quadratic_cd(backend, shape)  # warm-up (Numba compiles) outside the timing

    def time_l1_quadratic_cd(self, backend, shape):
        K.l1_quadratic_cd(np.zeros(self.cols.shape[0]), self.X, self.cols, self.g, self.h, alpha=self.alpha,
                          tol=self.tol, backend=self.backend)
