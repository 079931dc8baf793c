"""kernels.csr_sandwich and dense_sandwich (X^T diag(h) X: newton-cholesky's Hessian on a sparse
and on a dense X).

csr_sandwich's NumPy reference adds each row's outer product in a Python loop; scikit-learn's
``sandwich_dot`` (scipy's product ``X.T @ (h X)`` into a dense array) is the peer to beat, in the
``sklearn`` row. dense_sandwich's reference is NumPy's ``Xa.T @ (h Xa)`` with Xa = (X, 1) made
whole; the ``sklearn`` row is ``sandwich_dot`` on the dense X with scikit-learn's intercept sums."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import fastnn.kernels as K

from . import BACKENDS, require

#: n_samples x n_features, 100 non-zeros a row (TF-IDF-like, rows unit-norm)
SHAPES = {"15000x2000": (15000, 2000), "15000x5000": (15000, 5000)}


def _problem(shape):
    n, p = SHAPES[shape]
    rng = np.random.default_rng(0)
    X = sp.random(n, p, density=100 / p, format="csr", random_state=rng)
    X = sp.csr_matrix(X.multiply(1.0 / np.sqrt(np.asarray(X.multiply(X).sum(axis=1)))))
    return X, rng.uniform(0.0, 0.25, n)


class CsrSandwich:
    params = (BACKENDS + ["sklearn"], list(SHAPES))
    param_names = ["backend", "shape"]
    timeout = 120

    def setup(self, backend, shape):
        if backend == "numpy" and shape == "15000x5000":
            raise NotImplementedError("the Python-loop reference takes a minute at this size")
        if backend == "sklearn":
            from sklearn.linear_model._linear_loss import sandwich_dot

            self.sandwich_dot = sandwich_dot
        else:
            require(backend)
        self.X, self.h = _problem(shape)
        self.out = np.empty((self.X.shape[1],) * 2)
        self.backend = backend
        self.time_csr_sandwich(backend, shape)  # warm-up (Numba compiles) outside the timing

    def time_csr_sandwich(self, backend, shape):
        if self.backend == "sklearn":
            self.out[...] = self.sandwich_dot(self.X, self.h)
        else:
            K.csr_sandwich(self.X, self.h, out=self.out, backend=self.backend)


#: dense n_samples x n_features, with a column of ones (the intercept): binary20k's training rows,
#: a taller and a wider one
DENSE_SHAPES = {"15000x100": (15000, 100), "37500x100": (37500, 100), "5000x1000": (5000, 1000)}


class DenseSandwich:
    params = (BACKENDS + ["sklearn"], list(DENSE_SHAPES))
    param_names = ["backend", "shape"]
    timeout = 120

    def setup(self, backend, shape):
        n, p = DENSE_SHAPES[shape]
        rng = np.random.default_rng(0)
        self.X, self.h = rng.standard_normal((n, p)), rng.uniform(0.0, 0.25, n)
        if backend == "sklearn":
            from sklearn.linear_model._linear_loss import sandwich_dot

            self.sandwich_dot = sandwich_dot
        else:
            require(backend)
        self.out = np.empty((p + 1, p + 1))
        self.backend = backend
        self.time_dense_sandwich(backend, shape)  # warm-up (Numba compiles) outside the timing

    def time_dense_sandwich(self, backend, shape):
        if self.backend == "sklearn":  # (LinearModelLoss.gradient_hessian's intercept terms)
            p = self.X.shape[1]
            self.out[:p, :p] = self.sandwich_dot(self.X, self.h)
            self.out[:p, p] = self.out[p, :p] = self.h @ self.X
            self.out[p, p] = self.h.sum()
        else:
            K.dense_sandwich(self.X, self.h, intercept=True, out=self.out, backend=self.backend)
