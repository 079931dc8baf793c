"""ElasticNet and Lasso by coordinate descent (see linear.py for the family).

Dense X: kernels.enet_cd on X centred and scaled by the square roots of the sample
weights, transposed (one contiguous row per coordinate), as scikit-learn's dense path.
Sparse X: kernels.enet_cd_sparse on X as CSC, never densified nor centred: its
weighted column means go to the solver (which centres implicitly) and the weights are
passed as they are, as scikit-learn's sparse path does.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path
from sklearn.linear_model._base import _check_precomputed_gram_matrix
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._sparse import _align_api_if_sparse
from sklearn.utils.validation import check_is_fitted

from .. import kernels as K
from ..kernels import _all_finite
from ._linear_base import _LinearRegressorBase, _means, _sparse_scores

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
    scikit-learn does (half the memory traffic). A scipy.sparse X is fitted as it
    is (``kernels.enet_cd_sparse``, scikit-learn's sparse solver step for step: X
    as CSC, centred implicitly). ``precompute=True`` (or a Gram matrix, checked and
    warned about as scikit-learn does) runs scikit-learn's Gram-form solver
    (Q = X^T X formed by the kernel from X itself; a given matrix is only checked);
    on sparse X it is ignored, as scikit-learn ignores it. With the default
    ``precompute=False`` a dense X with at least as many rows as columns that has
    not converged after ~n_features / 16 sweeps, and whose rate of convergence then
    predicts more than that many still to run, continues in the Gram form
    (``kernels.enet_cd``'s ``gram_after`` and ``gram_predict``): the same iterates and ``n_iter_`` to
    rounding (coef_ within 1e-12 of scikit-learn's on hard problems measured), each
    sweep O(n_features^2) instead of O(n_samples n_features): 20000 x 200 with
    correlated columns, 1000 sweeps, 1.05 s in scikit-learn, 0.05 s here.

    ``path`` (here and on Lasso) is scikit-learn's ``enet_path`` itself, as scikit-learn's
    ElasticNet.path and Lasso.path are (scikit-learn 1.9): a static method that runs
    scikit-learn's solver, not fastnn's kernels.
    """

    path = staticmethod(enet_path)  # delegated to scikit-learn: see the class docstring

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
        """Fit by coordinate descent (scikit-learn's, see the class docstring); a sparse X stays sparse."""
        l1_ratio = float(self.l1_ratio)
        if self.alpha == 0:
            warnings.warn("With alpha=0, this algorithm does not converge well. You are advised to use the "
                          "LinearRegression estimator", stacklevel=2)
        if isinstance(sample_weight, Real):  # scikit-learn ignores a number (rescaled to sum n, it is all ones)
            sample_weight = None
        # in X's dtype and layout: a Fortran X is already the solver's xt (one column per coordinate)
        X, Y, sw = self._prepare(X, y, sample_weight, keep_dtype=True, non_negative=True, order="K",
                                 keep_sparse=True)
        if sp.issparse(X):
            x_mean, y_mean, solve = self._sparse_problem(X, Y, sw)
        else:
            x_mean, y_mean, solve = self._dense_problem(X, Y, sw, check_input)
        W = self._descend(solve, X.shape, Y.shape[1], X.dtype, l1_ratio)
        return self._finish(W, x_mean, y_mean)

    def _dense_problem(self, X, Y, sw, check_input):
        """(x_mean, y_mean, solve): X and y centred and scaled by sqrt(sample_weight) (scikit-learn's
        dense preprocessing); solve(w, k, **kw) runs kernels.enet_cd on target k."""
        dt = X.dtype
        n = X.shape[0]
        if sw is not None:
            sw = sw * (n / sw.sum())  # scikit-learn's: the weights sum to n, so alpha keeps its scale
        Y = Y.astype(dt, copy=False)
        if sw is not None:
            sw = sw.astype(dt)
        x_mean, y_mean = _means(X, Y, sw, self.fit_intercept)
        root = None if sw is None else np.sqrt(sw)
        Yc = Y - y_mean if root is None else (Y - y_mean) * root[:, None]
        # a finite X whose centring overflowed: scikit-learn's error (it iterates on the overflowed
        # values, then checks coef_)
        overflowed = ValueError("Coordinate descent iterations resulted in non-finite parameter values. The "
                                "input data may contain large values and need to be preprocessed (centring X "
                                f"or y, or scaling them by sample weights, overflowed {dt})")
        if X.flags.f_contiguous:  # X.T is already row-major: the centring is elementwise
            if not self.copy_X:  # scikit-learn's in-place centring: no copy of X
                xt = X.T
                xt -= x_mean[:, None]
            else:
                xt = X.T - x_mean[:, None]
            if root is not None:
                xt *= root
            # (a finite sum first: one pass, no boolean temporary, as kernels.finite_as)
            if not _all_finite(xt):
                raise overflowed
        else:  # each column of X contiguous: one per coordinate update; the kernel checks as it writes
            try:
                xt = K.centered_transpose(X, x_mean, scale=root, backend=self.backend)
            except FloatingPointError:
                raise overflowed from None
        if not _all_finite(Yc):
            raise overflowed
        self._check_gram(xt, x_mean, check_input)
        gram_after = _gram_after(n, xt.shape[0], self.precompute)
        # several targets share one Q = X^T X: formed here for precompute, else once a target
        # has needed it (the solver forms its own for the first). With precompute, X^T Y is
        # one product too, and the Gram form then reads nothing of X's size a target (8
        # targets of 20000 x 200, one thread: 138 ms with a Q per target, 52 with one Q and
        # each target's X^T y, 32 this way; scikit-learn 48 in the same process)
        several = Yc.shape[1] > 1
        shared = {"Q": _gram(xt, self.backend) if gram_after == 0 and several else None}
        xty = K.gemm(xt, Yc, backend=self.backend) if gram_after == 0 and several else None

        def solve(w, k, **kw):
            y_k = np.ascontiguousarray(Yc[:, k])
            if xty is not None:
                return K.enet_cd(w, None, y_k, gram_after=0, gram=shared["Q"],
                                 xty=np.ascontiguousarray(xty[:, k]), **kw)
            # (Q's cost, gram_after sweeps, weighed against the sweeps the fit still looks to need;
            # a Q already formed costs nothing)
            out = K.enet_cd(w, xt, y_k, gram_after=gram_after, gram=shared["Q"],
                            gram_predict=shared["Q"] is None and gram_after > 0, check_finite=False, **kw)
            if shared["Q"] is None and 0 <= gram_after < out[2] and k + 1 < Yc.shape[1]:
                shared["Q"] = _gram(xt, self.backend)
            return out

        return x_mean, y_mean, solve

    def _sparse_problem(self, X, Y, sw):
        """(x_mean, y_mean, solve) for a sparse X, as scikit-learn's: X as CSC, never centred
        nor densified (its weighted column means go to the solver, which centres implicitly),
        y centred, the weights (in X's dtype, rescaled to sum to n_samples) passed as they
        are; solve(w, k, **kw) runs kernels.enet_cd_sparse on target k. A Gram matrix given
        as ``precompute`` is ignored, as scikit-learn ignores it for sparse X."""
        dt = X.dtype
        n = X.shape[0]
        X = _canonical_csc(X)
        Y = Y.astype(dt, copy=False)
        if sw is not None:
            sw = sw.astype(dt)
            sw = sw * (n / np.sum(sw))  # scikit-learn's, in X's dtype: the weights sum to n
        if self.fit_intercept:
            # the weighted column means by one sparse product (scikit-learn's mean_variance_axis
            # also computes the variances: 4 ms of a 20 ms 15000 x 5000 fit, this 0.5; the means
            # agree to rounding)
            w64 = np.ones(n) if sw is None else sw.astype(np.float64)  # float64 sums, as scikit-learn's
            x_mean = (np.asarray(X.T @ w64).ravel() / w64.sum()).astype(dt, copy=False)
            y_mean = np.asarray(np.average(Y, axis=0, weights=sw), dtype=dt)
            Yc = Y - y_mean
        else:
            x_mean, y_mean, Yc = np.zeros(X.shape[1], dt), np.zeros(Y.shape[1], dt), Y

        def solve(w, k, **kw):
            return K.enet_cd_sparse(w, X, np.ascontiguousarray(Yc[:, k]), X_mean=x_mean, sample_weight=sw, **kw)

        return x_mean, y_mean, solve

    def _descend(self, solve, shape, n_t, dt, l1_ratio):
        """Coordinate descent per target from zeros (or coef_ with warm_start): W [n_features,
        n_targets]; sets n_iter_ and dual_gap_, warns (scikit-learn's ConvergenceWarning) on a
        target whose duality gap did not meet tol."""
        n, n_f = shape
        W = np.zeros((n_f, n_t), dtype=dt)
        if self.warm_start and hasattr(self, "coef_"):
            coef_shape = (n_f,) if n_t == 1 else (n_t, n_f)  # coef_'s, see _finish
            if np.shape(self.coef_) != coef_shape:  # fastnn used to restart from zeros without a word
                raise ValueError(f"warm_start=True starts from coef_, of shape {np.shape(self.coef_)}, but this "
                                 f"fit needs shape {coef_shape}: set warm_start=False to fit other features or "
                                 "targets")
            W = np.atleast_2d(np.asarray(self.coef_, dtype=dt)).reshape(n_t, n_f).T.copy()
        alpha, beta = self.alpha * l1_ratio * n, self.alpha * (1 - l1_ratio) * n
        gaps, iters = np.zeros(n_t, dtype=dt), []  # in X's dtype, as scikit-learn's dual_gap_
        for k in range(n_t):
            # scikit-learn draws the solver's seed from a fresh check_random_state per target
            seed = int(check_random_state(self.random_state).randint(0, 2147483647))
            w = np.ascontiguousarray(W[:, k])
            gap, tol_s, n_iter, ok = solve(w, k, alpha=alpha, beta=beta, max_iter=self.max_iter, tol=self.tol,
                                           positive=self.positive, selection=self.selection, seed=seed,
                                           backend=self.backend)
            if not ok:
                msg = ("Objective did not converge. You might want to increase the number of iterations, check "
                       "the scale of the features or consider increasing regularisation. "
                       f"Duality gap: {gap:.6e}, tolerance: {tol_s:.3e}")
                if alpha < np.finfo(np.float64).eps:
                    msg += ("\nLinear regression models with a zero l1 penalization strength are more "
                            "efficiently fitted using one of the solvers implemented in "
                            "sklearn.linear_model.Ridge/RidgeCV instead.")
                warnings.warn(msg, ConvergenceWarning)
            W[:, k] = w
            gaps[k] = gap / n
            iters.append(n_iter)
        self.n_iter_ = iters[0] if n_t == 1 else iters  # a column y too, as scikit-learn
        self.dual_gap_ = gaps[0] if n_t == 1 else gaps
        return W

    def predict(self, X):
        """Linear predictions ``X @ coef_.T + intercept_``. A sparse X of the fitted width is
        taken as it is, unvalidated, as scikit-learn's ElasticNet takes it (its
        _decision_function): validation was ~90% of a few rows' predict."""
        if sp.issparse(X) and X.ndim == 2 and X.shape[1] == getattr(self, "n_features_in_", None):
            check_is_fitted(self)
            return _sparse_scores(X, self.coef_, self.intercept_)
        return super().predict(X)  # (other widths: scikit-learn's error, from validate_data)

    @property
    def sparse_coef_(self):
        """coef_ as a scipy.sparse CSR (1, n_features) / (n_targets, n_features), as scikit-learn's."""
        return _align_api_if_sparse(sp.csr_array(np.atleast_2d(self.coef_)))

    def _check_gram(self, xt, x_mean, check_input):
        """scikit-learn's checks of a Gram matrix given as ``precompute``: a warning when X
        was centred (it no longer applies), else one entry compared with xt's (the
        solver forms its own from X, the same matrix to rounding)."""
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


def _gram_after(n_samples: int, n_features: int, precompute) -> int:
    """kernels.enet_cd's gram_after for a dense X: 0 (the Gram form from the start) when
    ``precompute`` asks for it (True or a Gram matrix, as scikit-learn's); else, for X with
    at least as many rows as columns (where Q = X^T X is no bigger than X), the sweeps after
    which forming Q costs about what they did (a sweep reads X twice from memory, Q is one
    product: ~n_features / 16 sweeps), so a fit needing few sweeps never forms it and one
    needing many pays at most about twice the cheaper plan (with gram_predict, passed
    alongside, Q waits from there on until the fit looks to need more than that many further
    sweeps: 100000 x 50 Lasso converging in 4 sweeps, one thread, 33 -> 26 ms, scikit-learn
    28.5, before the centred copy's own finiteness check saved another pass); -1 (never) on wide X.
    20000 x 200 Lasso needing 1000 sweeps: 1.0 s in the data form, 0.04 s this way."""
    if precompute is True or hasattr(precompute, "__array__"):
        return 0
    if n_samples < n_features:
        return -1
    return max(1, n_features // 16)


#: columns of Q that _gram computes a product at a time (the C solver's GRAM_BLOCK)
GRAM_BLOCK = 128


def _gram(xt, backend):
    """Q = X^T X from xt = X^T [p, n] on the kernels: its upper triangle a block of
    GRAM_BLOCK columns at a time (rows 0 .. the block's last: towards half the full
    product's work as p grows, as the C solver forms its own), mirrored (exactly
    symmetric, as kernels.enet_cd requires). 20000 x 200 float64, one thread: 13.4 ms
    against 15.7 for the full product (77% of its FLOPs at this p)."""
    p = xt.shape[0]
    Q = np.empty((p, p), xt.dtype)
    for j0 in range(0, p, GRAM_BLOCK):
        j1 = min(j0 + GRAM_BLOCK, p)
        Q[:j1, j0:j1] = K.gemm(xt[:j1], xt[j0:j1], trans_b=True, backend=backend)
    upper = np.triu_indices(p, 1)
    Q[upper[1], upper[0]] = Q[upper]
    return Q


def _canonical_csc(X):
    """X as CSC without duplicate entries (kernels.enet_cd_sparse's input), copied only when
    it is not one already: a CSR X is converted once, a CSC one used as it is."""
    X = X.tocsc()
    if not X.has_canonical_format:
        X = X.copy()  # sum_duplicates works in place: never on the caller's matrix
        X.sum_duplicates()
    return X


class Lasso(ElasticNet):
    """L1-regularised least squares (``sklearn.linear_model.Lasso``): ElasticNet with l1_ratio=1.

    Minimises ``||y - Xw - b||^2 / (2 n) + alpha ||w||_1`` with scikit-learn's
    coordinate descent step for step; see ElasticNet for what is the same and
    what differs. ``Lasso.path`` is scikit-learn's ``enet_path`` (as its Lasso.path
    is in 1.9, not lasso_path: l1_ratio defaults to 0.5 there).
    """

    _parameter_constraints: dict = {k: v for k, v in ElasticNet._parameter_constraints.items() if k != "l1_ratio"}

    def __init__(self, alpha=1.0, *, fit_intercept=True, precompute=False, copy_X=True, max_iter=1000, tol=1e-4,
                 warm_start=False, positive=False, random_state=None, selection="cyclic", backend=None):
        super().__init__(alpha=alpha, l1_ratio=1.0, fit_intercept=fit_intercept, precompute=precompute,
                         copy_X=copy_X, max_iter=max_iter, tol=tol, warm_start=warm_start, positive=positive,
                         random_state=random_state, selection=selection, backend=backend)
