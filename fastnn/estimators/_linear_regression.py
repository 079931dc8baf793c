"""LinearRegression: ordinary least squares (see linear.py for the family)."""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from ..threads import one_blas_thread
from ._linear_base import _center, _LinearRegressorBase, _lsqr, _normal_equations, _sparse_problem
from ._validation import refuse_text

__all__ = ["LinearRegression"]


#: largest cond(X^T X) for which LinearRegression solves the normal equations:
#: their error bound is cond(X^T X) * eps (2e-8 here), which the least-squares
#: problem itself already has whenever the residual is not zero
NORMAL_EQUATIONS_MAX_COND = 1e8
#: smallest eigenvalue of X^T X (float64) trusted to full precision: above the subnormals by a factor 1/eps
_GRAM_MIN_EIGENVALUE = np.finfo(np.float64).tiny / np.finfo(np.float64).eps


def _lstsq_normal_equations(X, Y, cond, backend=None):
    """``scipy.linalg.lstsq(X, Y, cond)``'s (solution, rank, singular values) through
    the Cholesky factor of X^T X, or None where that is not as good.

    Only for tall X (n >= 2 p) of full rank under lstsq's ``cond`` rule and with
    cond(X^T X) <= NORMAL_EQUATIONS_MAX_COND; everything else goes to lstsq. The
    Gram matrix is half a product (_normal_equations), where lstsq's SVD-based gelsd costs several:
    20000 x 200, one thread, 26 ms instead of 120 with NumPy's syrk for the Gram. The
    singular values are sqrt(eigvalsh(X^T X)), accurate to cond(X^T X) * eps relative.
    """
    n, p = X.shape
    if p == 0 or n < 2 * p:
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # (overflow is checked for below)
        G, XtY = _normal_equations(X, Y, backend)
    if not (np.isfinite(G).all() and np.isfinite(XtY).all()):
        return None  # X^T X overflowed (X ~ 1e155): lstsq works on X itself
    # SciPy's LAPACK calls on the p x p system on one BLAS thread: SciPy's OpenBLAS is
    # another pool than NumPy's, whose workers may still spin after a product; the two
    # pools on two cores took 21 ms each for eigvalsh and cho_factor of 200 x 200
    with one_blas_thread():
        lam = scipy.linalg.eigvalsh(G)  # ascending
        # the ratio lam[0] / lam[-1] <= 1 cannot overflow (MAX_COND * lam[0] did, from X ~ 1e150);
        # eigenvalues near the subnormal range (X ~ 1e-160) have lost their digits to underflow
        ratio = lam[0] / lam[-1] if lam[0] > _GRAM_MIN_EIGENVALUE else 0.0
        if ratio < 1 / NORMAL_EQUATIONS_MAX_COND or np.sqrt(ratio) <= cond:
            return None
        try:
            W = scipy.linalg.cho_solve(scipy.linalg.cho_factor(G), XtY)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            return None
    return W, p, np.sqrt(lam[::-1])


class LinearRegression(_LinearRegressorBase):
    """Ordinary least squares with scikit-learn's API (``sklearn.linear_model.LinearRegression``).

    solver="lstsq" (default) solves the centred problem as ``scipy.linalg.lstsq``
    does for scikit-learn, through the normal equations when X is tall and well
    conditioned (the same solution to ~1e-14 on such data, 4-5x faster) and with
    lstsq itself otherwise (``scipy.optimize.nnls`` when positive=True);
    solver="gd" runs accelerated gradient descent on fastnn's dense kernels
    (``max_iter``, ``tol`` on the relative step).

    A sparse X stays sparse with "lstsq", as scikit-learn's: scipy's LSQR on X centred
    implicitly, atol = btol = ``tol``, scipy's iteration limit (2 n_features; hitting it
    warns, where scikit-learn's is silent: that limit is not the user's to set).

    Fitted attributes are scikit-learn's: ``rank_`` and ``singular_`` only from a dense
    "lstsq" fit without ``positive``; no ``n_iter_`` (scikit-learn's has none) but from
    solver="gd", where it counts the gradient steps.
    """

    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [None, Integral],
        "positive": ["boolean"],
        "solver": [StrOptions({"lstsq", "gd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
    }

    def __init__(self, *, fit_intercept=True, copy_X=True, tol=1e-6, n_jobs=None, positive=False, solver="lstsq",
                 max_iter=10000, backend=None):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive
        self.solver = solver
        self.max_iter = max_iter
        self.backend = backend

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the least-squares solution."""
        refuse_text(X)  # scikit-learn checks X with dtype="numeric" here (unlike Ridge's, Lasso's fit)
        if self.positive and sp.issparse(X):  # scikit-learn's TypeError: its nnls takes dense X only
            check_array(X, accept_sparse=False, input_name="X")
        X, Y, sw = self._prepare(X, y, sample_weight, non_negative=True, keep_sparse=self.solver == "lstsq")
        # a refit must not keep attributes this fit does not set (scikit-learn's fit sets them afresh)
        for name in ("n_iter_", "rank_", "singular_"):
            self.__dict__.pop(name, None)
        if sp.issparse(X):  # scikit-learn's LSQR on X's products, at its iteration limit (iter_lim None)
            A, Ys, x_mean, y_mean = _sparse_problem(X, Y, sw, self.fit_intercept)
            W, _ = _lsqr(A, Ys, np.zeros(Ys.shape[1]), None, self.tol,
                         advice=f"Try scaling X's columns or increasing tol (currently {self.tol}).")
            return self._finish(W, x_mean, y_mean)
        Xc, Yc, x_mean, y_mean = _center(X, Y, sw, self.fit_intercept, copy=self.copy_X)
        if sw is not None:  # weighted least squares = unweighted on rows scaled by sqrt(sw)
            r = np.sqrt(sw)[:, None]
            Xs, Ys = Xc * r, Yc * r
        else:
            Xs, Ys = Xc, Yc
        if self.positive:
            W = np.column_stack([scipy.optimize.nnls(Xs, Ys[:, j])[0] for j in range(Ys.shape[1])])
        elif self.solver == "gd":
            W = self._gd(Xc, Yc, sw, 0.0, self.max_iter, self.tol)
        else:
            fast = _lstsq_normal_equations(Xs, Ys, self.tol, self.backend)
            if fast is not None:
                W, self.rank_, self.singular_ = fast
            else:
                W, _, self.rank_, self.singular_ = scipy.linalg.lstsq(Xs, Ys, cond=self.tol)  # cond=tol as sklearn
            self.singular_ = self.singular_.astype(self._dtype, copy=False)  # X's dtype, as scikit-learn's lstsq
        return self._finish(W, x_mean, y_mean)
