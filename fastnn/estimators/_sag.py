"""The "sag" / "saga" solvers of Ridge and LogisticRegression: scikit-learn's sag_solver
around ``kernels.sag`` (see linear.py for the family).

scikit-learn's sag_solver and its callers, step for step, so that a fit draws the
same samples and takes the same steps: alpha and beta divided by n_samples, the
step size of get_auto_step_size, the dataset seed make_dataset draws from
random_state, intercept_decay 0.01 for sparse X, and its ConvergenceWarning when
max_iter is reached. The solve itself is kernels.sag (C, Numba or NumPy), which
repeats sag32 / sag64's arithmetic; a sparse X goes to it as CSR (as scikit-learn's
CSRDataset), never densified.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.extmath import row_norms

from .. import kernels as K
from ._linear_base import _center, _means

#: scikit-learn's intercept_decay for sparse X (linear_model._base.SPARSE_INTERCEPT_DECAY)
SPARSE_INTERCEPT_DECAY = 0.01


def auto_step_size(max_squared_sum, alpha_scaled, loss, fit_intercept, n_samples, is_saga):
    """scikit-learn's get_auto_step_size: 1 / L (SAG), or 1 / (2 L + min(2 n alpha, L)) (SAGA).

    max_squared_sum is a NumPy scalar of X's dtype, as scikit-learn's: a float32 one
    makes the whole computation float32, and so the step size scikit-learn's uses."""
    if loss in ("log", "multinomial"):
        L = 0.25 * (max_squared_sum + int(fit_intercept)) + alpha_scaled
    else:  # squared
        L = max_squared_sum + int(fit_intercept) + alpha_scaled
    if is_saga:
        return 1.0 / (2 * L + min(2 * n_samples * alpha_scaled, L))
    return 1.0 / L


def sag_solve(X, y, sample_weight, loss, alpha, beta, coef, intercept, *, max_iter, tol, random_state, is_saga,
              intercept_decay=1.0, max_squared_sum=None, backend=None) -> int:
    """scikit-learn's sag_solver on X (dense or CSR, its dtype): in place on coef [n_features, n_classes]
    and intercept [n_classes] (None: no intercept) from their values; returns its n_iter."""
    n = X.shape[0]
    max_iter = 1000 if max_iter is None else max_iter  # Ridge's default
    alpha_scaled, beta_scaled = float(alpha) / n, float(beta) / n
    if max_squared_sum is None:
        max_squared_sum = row_norms(X, squared=True).max()  # in X's dtype, as scikit-learn's
    step = auto_step_size(max_squared_sum, alpha_scaled, loss, intercept is not None, n, is_saga)
    if step * alpha_scaled == 1:
        raise ZeroDivisionError("Current sag implementation does not handle the case step_size * alpha_scaled == 1")
    # make_dataset's seed for the sample draws
    seed = int(check_random_state(random_state).randint(1, np.iinfo(np.int32).max))
    n_iter = K.sag(coef, X, y, loss=loss, step_size=float(step), alpha=alpha_scaled, beta=beta_scaled, saga=is_saga,
                   intercept=intercept, sample_weight=sample_weight, max_iter=max_iter, tol=tol, seed=seed,
                   intercept_decay=intercept_decay, backend=backend)
    if n_iter == max_iter:
        warnings.warn("The max_iter was reached which means the coef_ did not converge", ConvergenceWarning)
    return n_iter


def ridge_sag(est, X, Y, sw, alpha, sparse_input):
    """Ridge(solver="sag"/"saga") as scikit-learn's: (W [n_features, n_targets], x_mean, y_mean, n_iter_).

    X (its dtype), Y and sw (or None) are the validated data in X's dtype, alpha one
    value per target. scikit-learn centres dense X and y and solves without intercept.
    On sparse X with an intercept, its "sag" with max_iter=None and tol > 1e-4 fits
    the intercept itself (return_intercept, with the sparse intercept_decay) on the
    uncentred X and centred y, with a warning (its other sparse "sag" fits with an
    intercept are "sparse_cg", and "saga" refuses them: Ridge.fit's choices). A
    sparse X stays sparse (CSR)."""
    dt = X.dtype
    X = X.tocsr() if sp.issparse(X) else X  # (scikit-learn's sag takes CSR too)
    own_intercept = (sparse_input and est.fit_intercept and est.solver == "sag" and est.max_iter is None
                     and est.tol > 1e-4)
    if own_intercept:
        warnings.warn('"sag" solver requires many iterations to fit an intercept with sparse inputs. Either set '
                      'the solver to "auto" or "sparse_cg", or set a low "tol" and a high "max_iter" (especially '
                      "if inputs are not standardized).")
        x_mean, y_mean = np.zeros(X.shape[1], dt), _means(X, Y, sw, True)[1]
        Yc = Y - y_mean
    else:
        X, Yc, x_mean, y_mean = _center(X, Y, sw, est.fit_intercept, copy=est.copy_X)
    max_squared_sum = row_norms(X, squared=True).max()  # once for all targets, as scikit-learn
    W = np.empty((X.shape[1], Yc.shape[1]), dt)
    n_iter = np.empty(Yc.shape[1], np.int32)
    y_mean = np.array(y_mean, copy=True)
    for j in range(Yc.shape[1]):
        coef = np.zeros((X.shape[1], 1), dt)
        b = np.zeros(1, dt) if own_intercept else None
        # scikit-learn's alpha is an array of X's dtype: a float32 fit rounds it to float32 first
        n_iter[j] = sag_solve(X, np.ascontiguousarray(Yc[:, j]), sw, "squared", float(dt.type(alpha[j])), 0.0, coef, b,
                              max_iter=est.max_iter, tol=est.tol, random_state=est.random_state,
                              is_saga=est.solver == "saga", intercept_decay=SPARSE_INTERCEPT_DECAY,  # (b only)
                              max_squared_sum=max_squared_sum, backend=est.backend)
        W[:, j] = coef[:, 0]
        if own_intercept:
            y_mean[j] += b[0]
    return W, x_mean, y_mean, n_iter


def logistic_sag(est, X, T, sw, C, l1_ratio, k, x0, sparse_input):
    """LogisticRegression(solver="sag"/"saga") as scikit-learn's: (the flat solution
    [coef [n_features, k] raveled, intercept [k]] in X's dtype, n_iter_).

    X (float64, dense or CSR), T (0/1, or the class index when k > 1) and sw (float64) are
    the fit's data; x0 the start point in the same flat layout. The solve is in the
    dtype X had (float32 data: scikit-learn's sag32)."""
    dt = est._dtype
    X = X.astype(dt, copy=False)
    n_f = X.shape[1]
    coef = x0[: n_f * k].reshape(n_f, k).astype(dt)
    b = x0[n_f * k:].astype(dt) if est.fit_intercept else None
    # scikit-learn's penalties for sag/saga: alpha = (1 - l1_ratio) / C, beta = l1_ratio / C (C = inf: none)
    alpha, beta = (1.0 / C) * (1 - l1_ratio), (1.0 / C) * l1_ratio
    n_iter = sag_solve(X, T.astype(dt), sw.astype(dt), "multinomial" if k > 1 else "log", alpha, beta, coef, b,
                       max_iter=est.max_iter, tol=est.tol, random_state=est.random_state, is_saga=est.solver == "saga",
                       intercept_decay=SPARSE_INTERCEPT_DECAY if sparse_input else 1.0, backend=est.backend)
    x = coef.ravel() if b is None else np.concatenate([coef.ravel(), b])
    return x, np.array([n_iter], dtype=np.int32)
