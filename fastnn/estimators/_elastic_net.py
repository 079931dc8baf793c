"""ElasticNet and Lasso by coordinate descent on kernels.enet_cd (see linear.py for the family)."""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import _check_precomputed_gram_matrix
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .. import kernels as K
from ._linear_base import _all_finite, _centered_columns, _LinearRegressorBase, _means

__all__ = ["ElasticNet", "Lasso"]


class ElasticNet(_LinearRegressorBase):
    """L1 + L2 regularised least squares (``sklearn.linear_model.ElasticNet``) by coordinate descent.

    Minimises ``||y - Xw - b||^2 / (2 n) + alpha l1_ratio ||w||_1 + alpha (1 -
    l1_ratio) ||w||^2 / 2`` with scikit-learn's solver step for step
    (``fastnn.kernels.enet_cd``: the same coordinate order, screening and
    duality-gap stop), so a fit takes the same ``n_iter_`` sweeps to the same
    ``coef_`` and ``dual_gap_`` (to rounding). Sample weights, the intercept,
    ``positive``, ``selection="random"`` (scikit-learn's generator and seed draw)
    and warm starts as scikit-learn; float32 input is solved in float32, as
    scikit-learn does (half the memory traffic). One difference: ``precompute`` is
    accepted (a given Gram matrix checked and warned about as scikit-learn does) but
    the Gram form is never used (the same optimum to within ``tol``).
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "precompute": ["boolean", "array-like"],
        "copy_X": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "positive": ["boolean"],
        "random_state": ["random_state"],
        "selection": [StrOptions({"cyclic", "random"})],
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
    }

    _ravel_one_target = True

    def __init__(self, alpha=1.0, *, l1_ratio=0.5, fit_intercept=True, precompute=False, copy_X=True,
                 max_iter=1000, tol=1e-4, warm_start=False, positive=False, random_state=None, selection="cyclic",
                 backend=None):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.backend = backend

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit by coordinate descent (scikit-learn's, see the class docstring)."""
        l1_ratio = float(self.l1_ratio)
        if self.alpha == 0:
            warnings.warn("With alpha=0, this algorithm does not converge well. You are advised to use the "
                          "LinearRegression estimator", stacklevel=2)
        if isinstance(sample_weight, Real):  # scikit-learn ignores a number (rescaled to sum n, it is all ones)
            sample_weight = None
        # in X's dtype and layout: a Fortran X is already the solver's xt (one column per coordinate)
        X, Y, sw = self._prepare(X, y, sample_weight, keep_dtype=True, non_negative=True, order="K")
        dt = X.dtype
        n, n_f = X.shape
        n_t = Y.shape[1]
        if sw is not None:
            sw = sw * (n / sw.sum())  # scikit-learn's: the weights sum to n, so alpha keeps its scale
        Y = Y.astype(dt, copy=False)
        if sw is not None:
            sw = sw.astype(dt)
        x_mean, y_mean = _means(X, Y, sw, self.fit_intercept)
        root = None if sw is None else np.sqrt(sw)
        Yc = Y - y_mean if root is None else (Y - y_mean) * root[:, None]
        if not self.copy_X and X.flags.f_contiguous:  # scikit-learn's in-place centring: no copy of X
            xt = X.T
            xt -= x_mean[:, None]
            if root is not None:
                xt *= root
        else:
            xt = _centered_columns(X, x_mean, root)  # each column of X contiguous: one per coordinate update
        # finite X whose centring overflowed; a finite sum first (one pass, no boolean temporary,
        # as kernels.finite_as): the full check only when the sum is not finite
        if not (_all_finite(xt) and _all_finite(Yc)):
            # scikit-learn's error (it iterates on the overflowed values, then checks coef_)
            raise ValueError("Coordinate descent iterations resulted in non-finite parameter values. The input "
                             "data may contain large values and need to be preprocessed (centring X or y, or "
                             f"scaling them by sample weights, overflowed {dt})")
        self._check_gram(xt, x_mean, check_input)
        W = np.zeros((n_f, n_t), dtype=dt)
        if self.warm_start and hasattr(self, "coef_"):
            shape = (n_f,) if n_t == 1 else (n_t, n_f)  # coef_'s, see _finish
            if np.shape(self.coef_) != shape:  # fastnn used to restart from zeros without a word
                raise ValueError(f"warm_start=True starts from coef_, of shape {np.shape(self.coef_)}, but this "
                                 f"fit needs shape {shape}: set warm_start=False to fit other features or targets")
            W = np.atleast_2d(np.asarray(self.coef_, dtype=dt)).reshape(n_t, n_f).T.copy()
        gaps, iters = np.zeros(n_t, dtype=dt), []  # in X's dtype, as scikit-learn's dual_gap_
        for k in range(n_t):
            # scikit-learn draws the solver's seed from a fresh check_random_state per target
            seed = int(check_random_state(self.random_state).randint(0, 2147483647))
            w = np.ascontiguousarray(W[:, k])
            gap, tol_s, n_iter, ok = K.enet_cd(w, xt, np.ascontiguousarray(Yc[:, k]),
                                               alpha=self.alpha * l1_ratio * n, beta=self.alpha * (1 - l1_ratio) * n,
                                               max_iter=self.max_iter, tol=self.tol, positive=self.positive,
                                               selection=self.selection, seed=seed, backend=self.backend)
            if not ok:
                msg = ("Objective did not converge. You might want to increase the number of iterations, check "
                       "the scale of the features or consider increasing regularisation. "
                       f"Duality gap: {gap:.6e}, tolerance: {tol_s:.3e}")
                if self.alpha * l1_ratio * n < np.finfo(np.float64).eps:
                    msg += ("\nLinear regression models with a zero l1 penalization strength are more "
                            "efficiently fitted using one of the solvers implemented in "
                            "sklearn.linear_model.Ridge/RidgeCV instead.")
                warnings.warn(msg, ConvergenceWarning)
            W[:, k] = w
            gaps[k] = gap / n
            iters.append(n_iter)
        self.n_iter_ = iters[0] if n_t == 1 else iters  # a column y too, as scikit-learn
        self.dual_gap_ = gaps[0] if n_t == 1 else gaps
        return self._finish(W, x_mean, y_mean)

    def _check_gram(self, xt, x_mean, check_input):
        """scikit-learn's checks of a Gram matrix given as ``precompute``: a warning when X
        was centred (it no longer applies), else one entry compared with xt's (the
        solver does not use it: the same optimum to within ``tol``)."""
        G = self.precompute
        if not hasattr(G, "__array__"):
            return
        n_f = xt.shape[0]
        if np.shape(G) != (n_f, n_f):
            raise ValueError(f"precompute must be a Gram matrix X^T X of shape ({n_f}, {n_f}) for X with "
                             f"{n_f} features, got shape {np.shape(G)}")
        if self.fit_intercept and not np.allclose(x_mean, 0):
            warnings.warn("Gram matrix was provided but X was centered to fit intercept: recomputing Gram matrix.",
                          UserWarning)
        elif check_input:
            _check_precomputed_gram_matrix(xt.T, np.asarray(G), np.zeros(n_f), np.ones(n_f))


class Lasso(ElasticNet):
    """L1-regularised least squares (``sklearn.linear_model.Lasso``): ElasticNet with l1_ratio=1.

    Minimises ``||y - Xw - b||^2 / (2 n) + alpha ||w||_1`` with scikit-learn's
    coordinate descent step for step; see ElasticNet for what is the same and
    what differs.
    """

    _parameter_constraints: dict = {k: v for k, v in ElasticNet._parameter_constraints.items() if k != "l1_ratio"}

    def __init__(self, alpha=1.0, *, fit_intercept=True, precompute=False, copy_X=True, max_iter=1000, tol=1e-4,
                 warm_start=False, positive=False, random_state=None, selection="cyclic", backend=None):
        super().__init__(alpha=alpha, l1_ratio=1.0, fit_intercept=fit_intercept, precompute=precompute,
                         copy_X=copy_X, max_iter=max_iter, tol=tol, warm_start=warm_start, positive=positive,
                         random_state=random_state, selection=selection, backend=backend)
