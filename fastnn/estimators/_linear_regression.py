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

__all__ = ["LinearRegression"]


#: largest cond(X^T X) for which LinearRegression solves the normal equations:
#: their error bound is cond(X^T X) * eps (2e-8 here), which the least-squares
#: problem itself already has whenever the residual is not zero
NORMAL_EQUATIONS_MAX_COND = 1e8


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
    G, XtY = _normal_equations(X, Y, backend)
    # SciPy's LAPACK calls on the p x p system on one BLAS thread: SciPy's OpenBLAS is
    # another pool than NumPy's, whose workers may still spin after a product; the two
    # pools on two cores took 21 ms each for eigvalsh and cho_factor of 200 x 200
    with one_blas_thread():
        lam = scipy.linalg.eigvalsh(G)  # ascending
        if not lam[0] > 0 or lam[-1] > NORMAL_EQUATIONS_MAX_COND * lam[0] or np.sqrt(lam[0] / lam[-1]) <= cond:
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
    warns, where scikit-learn's is silent); ``n_iter_`` then has the iterations per
    target, and ``rank_`` / ``singular_`` are None. ``positive=True`` refuses a sparse X
    with scikit-learn's TypeError; "gd" densifies it.
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
        if self.positive and sp.issparse(X):  # scikit-learn's TypeError: its nnls takes dense X only
            check_array(X, accept_sparse=False, input_name="X")
        X, Y, sw = self._prepare(X, y, sample_weight, non_negative=True, keep_sparse=self.solver == "lstsq")
        if sp.issparse(X):  # scikit-learn's LSQR on X's products, at its iteration limit (iter_lim None)
            A, Ys, x_mean, y_mean = _sparse_problem(X, Y, sw, self.fit_intercept)
            W, self.n_iter_ = _lsqr(A, Ys, np.zeros(Ys.shape[1]), None, self.tol,
                                    advice=f"Try scaling X's columns or increasing tol (currently {self.tol}).")
            self.rank_, self.singular_ = None, None
            return self._finish(W, x_mean, y_mean)
        Xc, Yc, x_mean, y_mean = _center(X, Y, sw, self.fit_intercept, copy=self.copy_X)
        if sw is not None:  # weighted least squares = unweighted on rows scaled by sqrt(sw)
            r = np.sqrt(sw)[:, None]
            Xs, Ys = Xc * r, Yc * r
        else:
            Xs, Ys = Xc, Yc
        if self.positive:
            W = np.column_stack([scipy.optimize.nnls(Xs, Ys[:, j])[0] for j in range(Ys.shape[1])])
            self.rank_, self.singular_ = None, None
        elif self.solver == "gd":
            W = self._gd(Xc, Yc, sw, 0.0, self.max_iter, self.tol)
        else:
            fast = _lstsq_normal_equations(Xs, Ys, self.tol, self.backend)
            if fast is not None:
                W, self.rank_, self.singular_ = fast
            else:
                W, _, self.rank_, self.singular_ = scipy.linalg.lstsq(Xs, Ys, cond=self.tol)  # cond=tol as sklearn
        if self.solver != "gd":
            self.n_iter_ = 1  # one direct solve
        return self._finish(W, x_mean, y_mean)
