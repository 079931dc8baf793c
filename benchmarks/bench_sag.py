"""SAG / SAGA (kernels.sag): whole Ridge / LogisticRegression fits, fastnn's against scikit-learn's.

The NumPy reference loops over samples in Python (it is the spec, run only on small
data), so the C-or-Numba-versus-NumPy ratio of the other suites means nothing here.
The peer is scikit-learn's Cython sag32 / sag64, the same steps: each row times one
fit with the same random_state, so both solvers draw the same samples and stop after
the same epochs, and a row's ``sklearn`` entry is the time to beat."""
from __future__ import annotations

import warnings

import numpy as np

from . import require

SHAPES = {"5000x50": (5000, 50), "20000x100": (20000, 100)}
MODELS = {  # name -> (scikit-learn class name, parameters, target)
    "Ridge sag": ("Ridge", dict(alpha=1.0, solver="sag"), "real"),
    "Ridge saga": ("Ridge", dict(alpha=1.0, solver="saga"), "real"),
    "LogisticRegression sag": ("LogisticRegression", dict(solver="sag", C=1.0), "binary"),
    "LogisticRegression saga L1 3 classes": ("LogisticRegression", dict(solver="saga", l1_ratio=1.0, C=0.1),
                                             "classes"),
}


def _data(shape, dtype, target):
    n, p = SHAPES[shape]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    z = X[:, : p // 2] @ rng.standard_normal(p // 2) + rng.standard_normal(n)
    y = {"real": z, "binary": (z > 0).astype(int), "classes": np.digitize(z, [-1.0, 1.0])}[target]
    return np.ascontiguousarray(X, dtype=dtype), y


class SagFit:
    params = (["sklearn", "c", "numba"], ["float64", "float32"], list(MODELS), list(SHAPES))
    param_names = ["implementation", "dtype", "model", "shape"]
    timeout = 300

    def setup(self, implementation, dtype, model, shape):
        cls_name, params, target = MODELS[model]
        if implementation == "sklearn":
            import sklearn.linear_model as lm

            self.make = lambda: getattr(lm, cls_name)(random_state=0, tol=1e-4, **params)
        else:
            require(implementation)
            import fastnn.estimators as fe

            self.make = lambda: getattr(fe, cls_name)(random_state=0, tol=1e-4, backend=implementation, **params)
        self.X, self.y = _data(shape, np.dtype(dtype), target)
        self.time_fit(implementation, dtype, model, shape)  # warm-up (Numba compiles) outside the timing

    def time_fit(self, implementation, dtype, model, shape):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ConvergenceWarning is part of the work timed, not a failure
            self.make().fit(self.X, self.y)
