"""Ridge: L2-regularised least squares and its solvers (see linear.py for the family)."""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions

from .. import kernels as K
from ..threads import get_num_threads, one_blas_thread
from ._lbfgs_compat import _sparse_linalg_cg
from ._linear_base import _center, _LinearRegressorBase, _lsqr, _normal_equations, _sparse_problem
from ._sag import ridge_sag

__all__ = ["Ridge"]


def _ridge_svd(Xs, Ys, alpha):
    """Ridge solution [n_features, n_targets] from the SVD of Xs, one alpha per target."""
    # NumPy's SVD, as scikit-learn's: it computes in float64 even for float32 X, where
    # scipy's float32 SVD lost up to 3 digits of coef_ on columns of unequal scales
    U, s, Vt = np.linalg.svd(Xs, full_matrices=False)
    UtY = U.T @ Ys
    # singular values at rounding level are zeros (scikit-learn's and scipy's pinv
    # cut-off, 1e-15): with alpha = 0 their 1/s would blow up to ~1e15
    nz = s > 1e-15
    s_safe = np.where(nz, s, 1)
    return np.column_stack([Vt.T @ (np.where(nz, s_safe / (s_safe * s_safe + a), 0) * UtY[:, j])
                            for j, a in enumerate(alpha)])


def _ridge_cholesky(Xs, Ys, alpha, backend=None):
    """scikit-learn's "cholesky" Ridge solution [n_features, n_targets], or None where it
    falls back to the SVD (a singular system).

    Normal equations ``(X^T X + a I) w = X^T y``, or for wide X (more features than
    samples) the kernel form ``w = X^T (X X^T + a I)^-1 y``: the smaller system, and
    one whose condition number is not ~1/a (X^T X has n_features - n_samples zero
    eigenvalues: the primal form lost 4 digits at a = 1e-10). A singular kernel
    system with one alpha for all targets gets scikit-learn's warning and
    least-squares solution.
    """
    wide = Xs.shape[1] > Xs.shape[0]
    A, B = (Xs @ Xs.T, Ys) if wide else _normal_equations(Xs, Ys, backend)
    one_alpha = np.ptp(alpha) == 0
    # scikit-learn solves all targets at once when they share alpha (one warning)
    groups = [(alpha[0], slice(None))] if one_alpha else [(a, slice(j, j + 1)) for j, a in enumerate(alpha)]
    sol = np.empty(B.shape, dtype=B.dtype)
    for a, cols in groups:
        Aa = A.copy()
        Aa.flat[:: A.shape[0] + 1] += a
        try:
            # SciPy's LAPACK on the p x p system: see _linear_regression._lstsq_normal_equations
            with one_blas_thread():
                sol[:, cols] = scipy.linalg.solve(Aa, B[:, cols], assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            if not (wide and one_alpha):
                return None
            warnings.warn("Singular matrix in solving dual problem. Using least-squares solution instead.")
            sol[:, cols] = scipy.linalg.lstsq(Aa, B[:, cols])[0]
    return Xs.T @ sol if wide else sol


def _ridge_lbfgs(Xs, Ys, alpha, max_iter, tol, backend):
    """scikit-learn's "lbfgs" Ridge solution [n_features, n_targets] with coef >= 0.

    L-BFGS-B with bounds w >= 0 on its objective ``0.5 ||Xs w - y||^2 + 0.5 a ||w||^2``
    (unscaled: ``tol`` is its gtol and ftol) and its options, from zeros, one target at a
    time; the residual and gradient on the dense kernels (Xs, Ys float64).
    """
    n_f = Xs.shape[1]
    W = np.empty((n_f, Ys.shape[1]))
    zero = np.zeros(1)
    options = {} if max_iter is None else {"maxiter": max_iter}
    for j, a in enumerate(alpha):
        y = Ys[:, j:j + 1]

        def fg(w):
            w2 = w.reshape(n_f, 1)
            r = K.dense_forward(Xs, w2, zero, "identity", backend=backend) - y
            _, g, _ = K.dense_backward(r, Xs, w2, "identity", need_dx=False, backend=backend)
            return 0.5 * float(r[:, 0] @ r[:, 0]) + 0.5 * a * float(w @ w), g[:, 0] + a * w

        with one_blas_thread():  # why: see MLP._fit_lbfgs
            res = scipy.optimize.minimize(fg, np.zeros(n_f), method="L-BFGS-B", jac=True, tol=tol,
                                          bounds=[(0, np.inf)] * n_f, options=options)
        if not res.success:
            warnings.warn("The lbfgs solver did not converge. Try increasing max_iter or tol. "
                          f"Currently: max_iter={max_iter} and tol={tol}", ConvergenceWarning)
        W[:, j] = res.x
    return W


#: dense X from which "sparse_cg" / "lsqr" take their products X v, X^T u from kernels.gemm (see _dense_operator)
_KERNEL_PRODUCTS_MIN_BYTES = 16 << 20
#: the same on several threads
_KERNEL_PRODUCTS_MIN_BYTES_THREADED = 2 << 20


def _dense_operator(Xs, backend):
    """Dense (centred, row-weighted) Xs as a LinearOperator for "sparse_cg" / "lsqr".

    Its products are memory-bound matrix-vector products. kernels.gemm streams a tall X
    larger than the last-level cache ~2x faster than NumPy's (OpenBLAS) gemv; measured
    X^T (X v), one thread, AMD EPYC with 32 MiB of L3: 20000 x 200 float64 1.7 ms against
    4.0, 50000 x 200 5.2 against 11.7, 20000 x 500 float32 2.3 against 5.0. NumPy is
    faster on X that fits in the cache (10000 x 200 float64, 15 MiB: 0.57 against 0.53;
    5000 x 200: 0.27 against 0.19) and on X with few or many columns, whose transposed
    product the gemm engine does not suit (200000 x 20 float32: 2.0 against 0.8;
    10000 x 1000 float64: 10.9 against 7.4): NumPy there. On several threads the kernels
    win from a few MiB on, whatever the shape (two threads, X^T (X v) float64, against
    NumPy's on one thread, as the solvers run it (see one_blas_thread), and on two:
    5000 x 200 0.11 ms against 0.19 and 0.14, 200000 x 20 0.50 against 2.7 and 2.4,
    1000 x 5000 0.81 against 2.3 and 1.0; 1000 x 200 0.045 against 0.041 and 0.042).
    """
    many = get_num_threads() > 1
    if not (Xs.nbytes > _KERNEL_PRODUCTS_MIN_BYTES and 32 < Xs.shape[1] <= 512
            or many and Xs.nbytes > _KERNEL_PRODUCTS_MIN_BYTES_THREADED):
        return spla.aslinearoperator(Xs)

    def product(v, trans):
        if v.dtype != Xs.dtype:  # (lsqr's float64 iterates on float32 X): NumPy's promotion, as sklearn's
            return Xs.T @ v if trans else Xs @ v
        return K.gemm(Xs, v.reshape(-1, 1), trans_a=trans, backend=backend).reshape(-1)

    return spla.LinearOperator(Xs.shape, matvec=lambda v: product(v, False), rmatvec=lambda u: product(u, True),
                               dtype=Xs.dtype)


def _ridge_sparse_cg(A, Ys, alpha, max_iter, tol):
    """scikit-learn's "sparse_cg" Ridge solution [n_features, n_targets].

    Conjugate gradients (scipy's cg via scikit-learn's wrapper, rtol=tol, from zeros) on ``(A^T A + a I) w = A^T y``
    or, for wide A (more features than samples), on the kernel form ``(A A^T + a I) z = y``,
    ``w = A^T z``; A is a LinearOperator (products only). As scikit-learn's: max_iter bounds the
    first form only (the kernel form runs to scipy's limit, 10 n_samples), and stopping at
    the limit is silent (Ridge has no ``verbose``, which its warning needs).
    """
    n, p = A.shape
    W = np.empty((p, Ys.shape[1]), dtype=A.dtype)
    for j, a in enumerate(alpha):
        with one_blas_thread():  # cg's vector work between the products: see one_blas_thread
            if p > n:
                C = spla.LinearOperator((n, n), matvec=lambda z: A.matvec(A.rmatvec(z)) + a * z, dtype=A.dtype)
                z, info = _sparse_linalg_cg(C, Ys[:, j], rtol=tol)
                W[:, j] = A.rmatvec(z)
            else:
                C = spla.LinearOperator((p, p), matvec=lambda w: A.rmatvec(A.matvec(w)) + a * w, dtype=A.dtype)
                W[:, j], info = _sparse_linalg_cg(C, A.rmatvec(Ys[:, j]), rtol=tol, maxiter=max_iter)
        if info < 0:  # scikit-learn's error (scipy's breakdown code)
            raise ValueError("Failed with error code %d" % info)
    return W


class Ridge(_LinearRegressorBase):
    """L2-regularised least squares (``sklearn.linear_model.Ridge``): ``||y - Xw||^2 + alpha ||w||^2``.

    solver "auto"/"cholesky": the normal equations ``(X^T X + alpha I) w = X^T y`` or, for X
    with more features than samples, the kernel form ``w = X^T (X X^T + alpha I)^-1 y``,
    through ``scipy.linalg.solve(assume_a="pos")``; a singular system falls back to the
    SVD (``solver_`` then "svd"), as scikit-learn's. "svd": the SVD of X; "gd":
    accelerated gradient descent on the kernels. "sparse_cg" (conjugate gradients on the
    same systems) and "lsqr" (LSQR, damp = sqrt(alpha)): scikit-learn's, on X's products
    only, with its tol (``rtol`` / ``atol`` and ``btol``) and max_iter, silent at max_iter
    as scikit-learn's. ``n_iter_`` is scikit-learn's: the iterations per target (int32)
    with "lsqr", "sag" and "saga", None with the others ("gd": its steps). A sparse X stays sparse with these
    two (the centring is implicit, as scikit-learn's), and "auto" picks "sparse_cg" for
    it, as scikit-learn's; "sag" / "saga" take it as CSR; the other solvers densify it.
    "sag" / "saga": scikit-learn's stochastic average gradient solvers step for step
    (``kernels.sag``: the same samples drawn from ``random_state``, the same epochs,
    ``n_iter_`` one per target); on sparse X with an intercept, as scikit-learn's,
    "sag" is "sparse_cg" unless max_iter=None and tol > 1e-4, where it fits the
    intercept itself, and "saga" is refused. ``positive=True`` (solver "auto"
    or "lbfgs", only): scikit-learn's L-BFGS-B with bounds. ``alpha`` may be one value per
    target.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "cholesky", "svd", "lsqr", "sparse_cg", "lbfgs", "gd", "sag", "saga"})],
        "positive": ["boolean"],
        "random_state": ["random_state"],
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
    }

    _ravel_one_target = True

    def __init__(self, alpha=1.0, *, fit_intercept=True, copy_X=True, max_iter=None, tol=1e-4, solver="auto",
                 positive=False, random_state=None, backend=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state
        self.backend = backend

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit ridge regression."""
        # scikit-learn's errors: lbfgs is its solver for positive=True, and the only one
        if self.solver == "lbfgs" and not self.positive:
            raise ValueError("'lbfgs' solver can be used only when positive=True. Please use another solver.")
        if self.positive and self.solver not in ("auto", "lbfgs"):
            raise ValueError(f"solver='{self.solver}' does not support positive fitting. Please set the solver "
                             "to 'auto' or 'lbfgs', or set `positive=False`")
        # the solver used, as scikit-learn's solver_: "auto" is "lbfgs" if positive, else "cholesky"
        # on dense X and "sparse_cg" on sparse X
        solver = self.solver
        if solver == "auto":
            solver = "lbfgs" if self.positive else "sparse_cg" if sp.issparse(X) else "cholesky"
        sparse_input = sp.issparse(X)  # sag fits the intercept of sparse X itself, as scikit-learn's
        if solver == "saga" and sparse_input and self.fit_intercept:  # scikit-learn's refusal, its words
            raise ValueError("solver='saga' does not support fitting the intercept on sparse data. Please set the "
                             "solver to 'auto' or 'lsqr', 'sparse_cg', 'sag', 'lbfgs' or set `fit_intercept=False`")
        if (solver == "sag" and sparse_input and self.fit_intercept
                and not (self.max_iter is None and self.tol > 1e-4)):
            solver = "sparse_cg"  # scikit-learn's choice for the other sparse "sag" fits with an intercept
        products_only = solver in ("sparse_cg", "lsqr")  # X's products: a sparse X stays sparse
        # the direct solvers, sparse_cg and lsqr work in X's dtype, as scikit-learn's (float32: half the
        # work); gd and lbfgs in float64
        X, Y, sw = self._prepare(X, y, sample_weight, keep_dtype=solver not in ("gd", "lbfgs"), non_negative=True,
                                 keep_sparse=products_only or solver in ("sag", "saga"))
        dt = X.dtype
        Y = Y.astype(dt, copy=False)
        sw = None if sw is None else sw.astype(dt)
        alpha = np.broadcast_to(np.asarray(self.alpha, dtype=np.float64).ravel(), (Y.shape[1],)) \
            if np.size(self.alpha) in (1, Y.shape[1]) else None
        if alpha is None:
            # scikit-learn's text first (its tests match it), then what it means
            raise ValueError(f"Number of targets and number of penalties do not correspond: {np.size(self.alpha)} "
                             f"!= {Y.shape[1]} (alpha must be a scalar or have one value per target)")
        if solver in ("sag", "saga"):
            self.solver_ = solver
            W, x_mean, y_mean, self.n_iter_ = ridge_sag(self, X, Y, sw, alpha, sparse_input)
            return self._finish(W, x_mean, y_mean)
        if sp.issparse(X):  # centred implicitly: centring would densify it
            A, Ys, x_mean, y_mean = _sparse_problem(X, Y, sw, self.fit_intercept)
        else:
            r = None if sw is None else np.sqrt(sw)
            Xc, Yc, x_mean, y_mean = _center(X, Y, sw, self.fit_intercept, copy=self.copy_X)
            Xs, Ys = (Xc, Yc) if r is None else (Xc * r[:, None], Yc * r[:, None])
        self.solver_ = solver
        # scikit-learn's: None but from "lsqr" (iterations per target), "sag" / "saga" (above)
        self.n_iter_ = None
        if products_only:
            A = A if sp.issparse(X) else _dense_operator(Xs, self.backend)
            if solver == "sparse_cg":
                W = _ridge_sparse_cg(A, Ys, alpha.astype(dt), self.max_iter, self.tol)
            else:  # (silent at max_iter, as scikit-learn's)
                W, self.n_iter_ = _lsqr(A, Ys, alpha.astype(dt), self.max_iter, self.tol)
        elif self.solver_ == "lbfgs":
            W = _ridge_lbfgs(Xs, Ys, alpha, self.max_iter, self.tol, self.backend)
        elif self.solver == "gd":
            # ||r||^2 + a||w||^2 = 2 sum(sw) * (half-mse + 0.5 (a / sum(sw)) ||w||^2): same minimiser
            s = float(Xs.shape[0] if sw is None else sw.sum())
            if np.ptp(alpha) != 0:
                raise ValueError("solver='gd' needs one alpha for all targets")
            W = self._gd(Xc, Yc, sw, float(alpha[0]) / s, self.max_iter or 10000, self.tol * 1e-2)
        else:
            W = _ridge_cholesky(Xs, Ys, alpha, self.backend) if self.solver_ == "cholesky" else None
            if W is None:  # svd, or a singular system: scikit-learn then solves by SVD too
                self.solver_ = "svd"
                W = _ridge_svd(Xs, Ys, alpha)
        return self._finish(W, x_mean, y_mean)
