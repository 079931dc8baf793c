"""Linear models with scikit-learn's estimator API, built on fastnn's kernels.

=====================  ==============================  ===========================================
fastnn                 scikit-learn counterpart        solvers
=====================  ==============================  ===========================================
LinearRegression       linear_model.LinearRegression   "lstsq" (scipy.linalg.lstsq, as sklearn;
                                                        nnls for positive=True), "gd"
Ridge                  linear_model.Ridge              "auto"/"cholesky" (normal equations, or
                                                        the kernel form for wide X), "svd", "gd";
                                                        positive=True: "lbfgs" (L-BFGS-B, as sklearn)
Lasso, ElasticNet      linear_model.Lasso, ElasticNet  coordinate descent (kernels.enet_cd:
                                                        scikit-learn's solver, step for step)
LogisticRegression     linear_model.LogisticRegression "lbfgs" (scipy L-BFGS-B, sklearn's options),
                                                        "saga" / "gd" (proximal FISTA: L1, elastic-net);
                                                        binary = sigmoid, multiclass = softmax
SoftmaxRegression      (none; multinomial LR)          as LogisticRegression, always softmax
=====================  ==============================  ===========================================

Objectives are scikit-learn's, so solutions agree with sklearn's to the solvers'
tolerances. Measured max relative coef_ difference vs scikit-learn 1.9: OLS and
Ridge closed forms 0 .. 3e-15 (with sample weights too); Ridge/OLS "gd" 2e-10 /
1e-8 at tol 1e-10 / 1e-12; Lasso 1e-16 .. 1e-15 at any tol (the same coordinate
descent: same sweeps, same zeros, same duality gap);
binary logistic 2e-11 at tol=1e-10 and 4e-15 at the defaults (the same L-BFGS-B
iterates); multinomial 1e-6 at tol=1e-10 (unscaled iris, ill-conditioned);
C=100 (a flat optimum) 1e-5; L1 / elastic-net ("saga") 1e-9 .. 1e-7 against
scikit-learn's saga at tol=1e-10 (standardised data; the same exact zeros).
The objectives: LinearRegression ``||y - Xw - b||^2``; Ridge
``||y - Xw - b||^2 + alpha ||w||^2``; Lasso ``||y - Xw - b||^2 / (2 n) + alpha
||w||_1``; logistic ``sum(sw_i loss_i) / sum(sw) + ((1 - r) ||W||^2 / 2 + r ||W||_1)
/ (C sum(sw))`` with r = l1_ratio, > 0 with "saga" / "gd" (intercepts unpenalised).
Sample weights are supported everywhere (non-negative ones
in the least-squares models and solvers "gd" / "saga", which scale rows by their square roots).
Ridge's direct solvers, Lasso and ElasticNet work in X's float dtype (float32 in
float32, as scikit-learn); the other solvers in float64, with ``coef_`` in X's dtype. Sparse input
is densified (these models are meant for dense data); one whose dense copy would
exceed ``SPARSE_DENSIFY_MAX_BYTES`` (1 GiB) is refused with a ValueError that
points to scikit-learn's sparse solvers, rather than allocated.

The gradient-based solvers evaluate the model and its gradient with
``kernels.dense_forward`` / ``kernels.dense_backward`` and the fused loss
kernels; Lasso's coordinate descent is ``kernels.enet_cd`` (C, Numba or NumPy,
like every kernel); the closed forms call LAPACK through SciPy, the well-kept
solver for that job.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import SparseCoefMixin, _check_precomputed_gram_matrix
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_array, check_is_fitted, validate_data

from .. import kernels as K
from ..threads import one_blas_thread
from ._lbfgs_compat import CallbackSupportMixin, _check_optimize_result, _get_additional_lbfgs_options_dict
from ._validation import validated_rows

__all__ = ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "LogisticRegression", "SoftmaxRegression"]


# ------------------------------------------------------------------ helpers


#: largest dense copy of a sparse X these models make (see the module doc)
SPARSE_DENSIFY_MAX_BYTES = 1 << 30


def _dense(X, dtype=np.float64, order="C"):
    if sp.issparse(X):
        need = int(X.shape[0]) * int(X.shape[1]) * np.dtype(dtype).itemsize
        if need > SPARSE_DENSIFY_MAX_BYTES:
            raise ValueError(
                f"X is sparse {X.shape[0]}x{X.shape[1]} (nnz={X.nnz}); its dense copy would take "
                f"{need / 2**30:.1f} GiB (limit fastnn.estimators.linear.SPARSE_DENSIFY_MAX_BYTES = "
                f"{SPARSE_DENSIFY_MAX_BYTES / 2**30:.1f} GiB). These models train on dense data: use "
                "scikit-learn's sparse solvers (e.g. sklearn.linear_model.Ridge(solver='sparse_cg'), "
                "sklearn.linear_model.LogisticRegression(solver='saga')), or raise the limit if the memory is there.")
        X = X.toarray()
    return np.asarray(X, dtype=dtype, order=order)


def _all_finite(a) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.sum()) or np.isfinite(a).all())


def _means(X, Y, sw, fit_intercept):
    """Weighted column means of X and Y (zeros without an intercept), in their dtypes."""
    if not fit_intercept:  # zeros of X's dtype: float32 data must not be promoted by "centring"
        return np.zeros(X.shape[1], X.dtype), np.zeros(Y.shape[1], Y.dtype)
    if sw is None:
        return X.mean(axis=0), Y.mean(axis=0)
    w = sw / sw.sum()
    return w @ X, w @ Y


def _center(X, Y, sw, fit_intercept, copy=True):
    """Weighted means and centred X, Y (scikit-learn's _preprocess_data without scaling):
    copies, or X centred in place with copy=False (copy_X=False: no second X in memory)."""
    x_mean, y_mean = _means(X, Y, sw, fit_intercept)
    if not fit_intercept:
        return X, Y, x_mean, y_mean
    if not copy:
        X -= x_mean
        return X, Y - y_mean, x_mean, y_mean
    return X - x_mean, Y - y_mean, x_mean, y_mean


def _centered_columns(X, x_mean, root=None, block=256):
    """``(X - x_mean) * root[:, None]`` transposed: C-contiguous [n_features, n_samples].

    Built a block of rows at a time so each block's transpose stays in cache (one
    pass, ~15% faster than a transposing copy after a centring copy: 20000 x 200
    float64, 8 ms against 16)."""
    n, p = X.shape
    out = np.empty((p, n), dtype=X.dtype)
    for i in range(0, n, block):
        dst = out[:, i:i + block]
        np.subtract(X[i:i + block].T, x_mean[:, None], out=dst)
        if root is not None:
            dst *= root[i:i + block]
    return out


def _linear_grad(X, W, b, Y, sw, backend):
    """Half squared error ``sum(sw_i ||x_i W + b - y_i||^2) / (2 sum sw)`` and its gradient, on kernels."""
    n = X.shape[0]
    pred = K.dense_forward(X, W, b, "identity", backend=backend)
    R = pred - Y
    if sw is None:
        loss = 0.5 * float(np.sum(R * R)) / n
        D = R / n
    else:
        s = sw.sum()
        loss = 0.5 * float(sw @ np.sum(R * R, axis=1)) / s
        D = R * (sw / s)[:, None]
    _, dW, db = K.dense_backward(np.ascontiguousarray(D), X, W, "identity", need_dx=False, backend=backend)
    return loss, dW, db


def _spectral_sq(X, sw):
    """Largest eigenvalue of X^T diag(sw) X / sum(sw): the smoothness constant of the squared loss."""
    if sw is None:
        s = np.linalg.norm(X, 2)
        return s * s / X.shape[0]
    s = np.linalg.norm(X * np.sqrt(sw / sw.sum())[:, None], 2)
    return s * s


def _fista(grad_fn, x0, lipschitz, max_iter, tol, backend=None, l1=0.0, n_l1=0):
    """Accelerated (proximal) gradient descent, Beck & Teboulle's FISTA, step 1/L (the "gd" solvers).

    Minimises f(x) + l1 ||x[:n_l1]||_1 for a smooth f with grad_fn(x) -> (f, grad f)
    and an L-Lipschitz gradient; the rest of x (intercepts) is not penalised. Each
    step is the sgd_update kernel, whose l1 is the proximal step (soft-thresholding
    by lr * l1: exact zeros). Stops when max |x_k+1 - x_k| <= tol * max(1, max |x|);
    raises a ValueError on a non-finite step. Returns (x, n_iter, converged).
    """
    lr = 1.0 / max(lipschitz, 1e-300)
    x = x0.copy()
    y = x0.copy()
    tk = 1.0
    for it in range(1, max_iter + 1):
        _, g = grad_fn(y)
        x_new = y.copy()
        if l1:
            K.sgd_update(x_new[:n_l1], g[:n_l1], lr=lr, l1=l1, backend=backend)
            K.sgd_update(x_new[n_l1:], g[n_l1:], lr=lr, backend=backend)
        else:
            K.sgd_update(x_new, g, lr=lr, backend=backend)
        delta = x_new - x
        if float((y - x_new) @ delta) > 0:
            tk = 1.0  # momentum points uphill: restart it (O'Donoghue & Candes' gradient scheme)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tk * tk))
        y = x_new + ((tk - 1.0) / t_new) * delta
        x, tk = x_new, t_new
        step = float(np.max(np.abs(delta)))
        if not np.isfinite(step):  # (scikit-learn's saga's error) rather than NaN coefficients after max_iter
            raise ValueError(f"Floating-point under-/overflow occurred at iteration #{it}. Scaling input data with "
                             "StandardScaler or MinMaxScaler might help.")
        if step <= tol * max(1.0, float(np.max(np.abs(x)))):
            return x, it, True
    return x, max_iter, False


class _LinearRegressorBase(RegressorMixin, BaseEstimator):
    """Shared fit/predict plumbing for the regressors (coef_ [n_targets, n_features] or [n_features])."""

    #: a single-column 2-D y gets a 1-D coef_ (see _finish)
    _ravel_one_target = False

    def _prepare(self, X, y, sample_weight, keep_dtype=False, non_negative=False, order="C"):
        """(dense X in float64 -- or in its own float dtype with keep_dtype --, 2-D float64 Y, weights).

        non_negative: refuse negative sample weights with scikit-learn's error (its
        LinearRegression does; a negative weight has no square root to scale rows by:
        the other models made NaNs of it). X is the caller's array where no conversion
        was needed: with copy_X=False the fits centre it in place, as scikit-learn's (a
        read-only X is copied first)."""
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32], force_writeable=not self.copy_X)
        self._dtype = X.dtype
        X = _dense(X, X.dtype if keep_dtype else np.float64, order)
        if sp.issparse(y):  # scikit-learn's TypeError; np.asarray below failed with an obscure ValueError
            check_array(y, accept_sparse=False, ensure_2d=False)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                                     ensure_non_negative=non_negative)
        return X, Y, sw

    def _finish(self, W, x_mean, y_mean):
        """Set coef_ / intercept_ from the centred solution W [n_features, n_targets]."""
        coef = W.T
        intercept = y_mean - x_mean @ W if self.fit_intercept else np.zeros(W.shape[1])
        if self._y_1d:
            self.coef_ = coef.ravel().astype(self._dtype, copy=False)
            # a NumPy scalar of X's dtype, as scikit-learn's (a plain 0.0 without an intercept)
            self.intercept_ = self._dtype.type(intercept[0]) if self.fit_intercept else 0.0
        else:
            self.coef_ = coef.astype(self._dtype, copy=False)
            self.intercept_ = intercept.astype(self._dtype, copy=False) if self.fit_intercept else 0.0
            if self._ravel_one_target and coef.shape[0] == 1:
                # scikit-learn's Ridge / Lasso / ElasticNet give a column y (n, 1) a 1-D coef_
                # (and so 1-D predictions), intercept_ keeping its shape (1,);
                # LinearRegression keeps coef_ (1, n_features)
                self.coef_ = self.coef_.ravel()
        return self

    def _gd(self, X, Y, sw, l2, max_iter, tol):
        """Gradient descent (FISTA) on the centred problem with ``0.5 l2 ||w||^2`` added."""
        n_f, n_t = X.shape[1], Y.shape[1]
        b = np.zeros(n_t)

        def fg(x):
            W = x.reshape(n_f, n_t)
            loss, dW, _ = _linear_grad(X, W, b, Y, sw, getattr(self, "backend", None))
            if l2:
                dW = dW + l2 * W
                loss += 0.5 * l2 * float(np.sum(W * W))
            return loss, dW.ravel()

        L = _spectral_sq(X, sw) + l2
        x, self.n_iter_, ok = _fista(fg, np.zeros(n_f * n_t), L, max_iter, tol, backend=getattr(self, "backend", None))
        if not ok:
            warnings.warn(f"gd did not converge in max_iter={max_iter} iterations; increase max_iter or tol.",
                          ConvergenceWarning)
        return x.reshape(n_f, n_t)

    def predict(self, X):
        """Linear predictions ``X @ coef_.T + intercept_``."""
        check_is_fitted(self)
        if validated_rows(self, X) is None:
            X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                              dtype=[np.float64, np.float32])
        # returned in scikit-learn's dtype (float32 for float32 X and a float32 fit), computed in float64
        out_dtype = np.result_type(X.dtype, self.coef_.dtype)
        X = _dense(X, np.float64)
        W = np.ascontiguousarray(np.atleast_2d(self.coef_).T, dtype=np.float64)
        b = np.broadcast_to(np.asarray(self.intercept_, dtype=np.float64), (W.shape[1],)).copy()
        out = K.dense_forward(X, W, b, "identity", backend=getattr(self, "backend", None)).astype(out_dtype, copy=False)
        return out.ravel() if np.ndim(self.coef_) == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags


# -------------------------------------------------------- LinearRegression


#: largest cond(X^T X) for which LinearRegression solves the normal equations:
#: their error bound is cond(X^T X) * eps (2e-8 here), which the least-squares
#: problem itself already has whenever the residual is not zero
NORMAL_EQUATIONS_MAX_COND = 1e8


def _lstsq_normal_equations(X, Y, cond):
    """``scipy.linalg.lstsq(X, Y, cond)``'s (solution, rank, singular values) through
    the Cholesky factor of X^T X, or None where that is not as good.

    Only for tall X (n >= 2 p) of full rank under lstsq's ``cond`` rule and with
    cond(X^T X) <= NORMAL_EQUATIONS_MAX_COND; everything else goes to lstsq. The
    Gram matrix is one BLAS syrk (half a product), where lstsq's SVD-based gelsd
    costs several: 20000 x 200, one thread, 26 ms instead of 120. The singular
    values are sqrt(eigvalsh(X^T X)), accurate to cond(X^T X) * eps relative.
    """
    n, p = X.shape
    if p == 0 or n < 2 * p:
        return None
    G = X.T @ X  # NumPy hands X.T @ X to BLAS syrk
    lam = scipy.linalg.eigvalsh(G)  # ascending
    if not lam[0] > 0 or lam[-1] > NORMAL_EQUATIONS_MAX_COND * lam[0] or np.sqrt(lam[0] / lam[-1]) <= cond:
        return None
    try:
        W = scipy.linalg.cho_solve(scipy.linalg.cho_factor(G), X.T @ Y)
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
        X, Y, sw = self._prepare(X, y, sample_weight, non_negative=True)
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
            fast = _lstsq_normal_equations(Xs, Ys, self.tol)
            if fast is not None:
                W, self.rank_, self.singular_ = fast
            else:
                W, _, self.rank_, self.singular_ = scipy.linalg.lstsq(Xs, Ys, cond=self.tol)  # cond=tol as sklearn
        if self.solver != "gd":
            self.n_iter_ = 1  # one direct solve
        return self._finish(W, x_mean, y_mean)


# ------------------------------------------------------------------- Ridge


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


def _ridge_cholesky(Xs, Ys, alpha):
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
    A, B = (Xs @ Xs.T, Ys) if wide else (Xs.T @ Xs, Xs.T @ Ys)
    one_alpha = np.ptp(alpha) == 0
    # scikit-learn solves all targets at once when they share alpha (one warning)
    groups = [(alpha[0], slice(None))] if one_alpha else [(a, slice(j, j + 1)) for j, a in enumerate(alpha)]
    sol = np.empty(B.shape, dtype=B.dtype)
    for a, cols in groups:
        Aa = A.copy()
        Aa.flat[:: A.shape[0] + 1] += a
        try:
            sol[:, cols] = scipy.linalg.solve(Aa, B[:, cols], assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            if not (wide and one_alpha):
                return None
            warnings.warn("Singular matrix in solving dual problem. Using least-squares solution instead.")
            sol[:, cols] = scipy.linalg.lstsq(Aa, B[:, cols])[0]
    return Xs.T @ sol if wide else sol


def _ridge_lbfgs(Xs, Ys, alpha, max_iter, tol, backend):
    """scikit-learn's "lbfgs" Ridge solution [n_features, n_targets] with coef >= 0, and
    the iterations per target.

    L-BFGS-B with bounds w >= 0 on its objective ``0.5 ||Xs w - y||^2 + 0.5 a ||w||^2``
    (unscaled: ``tol`` is its gtol and ftol) and its options, from zeros, one target at a
    time; the residual and gradient on the dense kernels (Xs, Ys float64).
    """
    n_f = Xs.shape[1]
    W, iters = np.empty((n_f, Ys.shape[1])), []
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
        iters.append(res.nit)
    return W, np.array(iters, dtype=np.int32)


class Ridge(_LinearRegressorBase):
    """L2-regularised least squares (``sklearn.linear_model.Ridge``): ``||y - Xw||^2 + alpha ||w||^2``.

    solver "auto"/"cholesky": the normal equations ``(X^T X + alpha I) w = X^T y`` or, for X
    with more features than samples, the kernel form ``w = X^T (X X^T + alpha I)^-1 y``,
    through ``scipy.linalg.solve(assume_a="pos")``; a singular system falls back to the
    SVD (``solver_`` then "svd"), as scikit-learn's. "svd": the SVD of X; "gd":
    accelerated gradient descent on the kernels. ``positive=True`` (solver "auto" or
    "lbfgs", only): scikit-learn's L-BFGS-B with bounds. ``alpha`` may be one value per target.
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "fit_intercept": ["boolean"],
        "copy_X": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"auto", "cholesky", "svd", "lbfgs", "gd"})],
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
        # the direct solvers work in X's dtype, as scikit-learn's (float32: half the work); the iterative in float64
        X, Y, sw = self._prepare(X, y, sample_weight, keep_dtype=self.solver != "gd" and not self.positive,
                                 non_negative=True)
        dt = X.dtype
        Y = Y.astype(dt, copy=False)
        sw = None if sw is None else sw.astype(dt)
        alpha = np.broadcast_to(np.asarray(self.alpha, dtype=np.float64).ravel(), (Y.shape[1],)) \
            if np.size(self.alpha) in (1, Y.shape[1]) else None
        if alpha is None:
            raise ValueError(f"alpha must be a scalar or have one value per target ({Y.shape[1]}), "
                             f"got {np.size(self.alpha)} values")
        Xc, Yc, x_mean, y_mean = _center(X, Y, sw, self.fit_intercept, copy=self.copy_X)
        r = None if sw is None else np.sqrt(sw)[:, None]
        Xs, Ys = (Xc, Yc) if r is None else (Xc * r, Yc * r)
        # the solver used, as scikit-learn's solver_ ("auto" is "cholesky" on dense data, "lbfgs" if positive)
        self.solver_ = ("lbfgs" if self.positive else "cholesky") if self.solver == "auto" else self.solver
        # scikit-learn's n_iter_ is None here, but its estimator checks want n_iter_ >= 1
        # from any estimator that has one (they exempt only sklearn's own Ridge)
        self.n_iter_ = 1  # direct solvers: one solve
        if self.solver_ == "lbfgs":
            W, self.n_iter_ = _ridge_lbfgs(Xs, Ys, alpha, self.max_iter, self.tol, self.backend)
        elif self.solver == "gd":
            # ||r||^2 + a||w||^2 = 2 sum(sw) * (half-mse + 0.5 (a / sum(sw)) ||w||^2): same minimiser
            s = float(Xs.shape[0] if sw is None else sw.sum())
            if np.ptp(alpha) != 0:
                raise ValueError("solver='gd' needs one alpha for all targets")
            W = self._gd(Xc, Yc, sw, float(alpha[0]) / s, self.max_iter or 10000, self.tol * 1e-2)
        else:
            W = _ridge_cholesky(Xs, Ys, alpha) if self.solver_ == "cholesky" else None
            if W is None:  # svd, or a singular system: scikit-learn then solves by SVD too
                self.solver_ = "svd"
                W = _ridge_svd(Xs, Ys, alpha)
        return self._finish(W, x_mean, y_mean)


# ------------------------------------------------------------------- Lasso


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


# ---------------------------------------------------------------- logistic


class _LbfgsIterationHooks:
    """scipy's L-BFGS-B callback calling scikit-learn's per-iteration callback hooks (1.9+).

    As scikit-learn's LogisticRegression (its _LbfgsCallbackBridge): each iteration is a
    subtask of the fit's context, begun at its start point and ended at its result; the
    subtask begun after the last iteration never runs and is ended empty by close().
    """

    def __init__(self, ctx, est, x0, n_f, k, **data):
        self._ctx, self._est, self._shape, self._data = ctx, est, (n_f, k), data
        self._task = self._begin(x0)

    def _attrs(self, x):  # lazy: only built for a hook that asks for fitted_estimator
        return lambda: dict(zip(("coef_", "intercept_"), self._est._coef_intercept(x, *self._shape)))

    def _begin(self, x):
        task = self._ctx.subcontext(task_name="lbfgs-iter")
        task.call_on_fit_task_begin(estimator=self._est, reconstruction_attributes=self._attrs(x), **self._data)
        return task

    def __call__(self, xk):
        self._task.call_on_fit_task_end(estimator=self._est, reconstruction_attributes=self._attrs(xk), **self._data)
        self._task = self._begin(xk)

    def close(self):
        self._task.call_on_fit_task_end(estimator=self._est)


class _LogisticBase(CallbackSupportMixin, SparseCoefMixin, ClassifierMixin, BaseEstimator):
    """Logistic / softmax regression: sklearn's lbfgs objective on fastnn's dense kernels.

    sparsify() / densify() are scikit-learn's (SparseCoefMixin): coef_ may be a sparse matrix.
    set_callbacks() is scikit-learn's (1.9+): solver="lbfgs" calls the hooks of every
    iteration; "gd" only those of the whole fit, with scikit-learn's warning for its
    solvers other than lbfgs.
    """

    _multinomial_always = False

    def _dense_coef(self):
        return self.coef_.toarray() if sp.issparse(self.coef_) else self.coef_

    def _coef_intercept(self, x, n_f, k):
        """(coef_, intercept_) of the flat parameters x, in X's dtype."""
        coef = x[: n_f * k].reshape(n_f, k).T.copy().astype(self._dtype, copy=False)
        return coef, (x[n_f * k:].copy() if self.fit_intercept else np.zeros(k)).astype(self._dtype, copy=False)

    def set_callbacks(self, *callbacks):
        """Set scikit-learn callbacks (``sklearn.callback``, scikit-learn 1.9+) for fit."""
        if self.solver != "lbfgs":
            warnings.warn(f"Callbacks are only supported in {type(self).__name__} for solver='lbfgs'. This "
                          f"estimator has solver='{self.solver}', callbacks will be ignored during the solving of "
                          "the regression.")
        return super().set_callbacks(*callbacks)

    def _penalty(self):
        """(C, l1_ratio): the penalty ``(1 - l1_ratio) ||W||^2 / 2 + l1_ratio ||W||_1`` over C."""
        return float(self.C), 0.0

    def _loss_grad(self, x, X, T, sw, sw_sum, l2, n_f, k, labels):
        """(objective, gradient) at the flat parameters x, without the L1 term; sw None means unit weights."""
        W = x[: n_f * k].reshape(n_f, k)
        b = x[n_f * k:] if self.fit_intercept else np.zeros(k)
        Z = K.dense_forward(X, W, b, "identity", backend=self.backend)
        if sw is None:
            # the fused loss kernels: mean loss and (p - onehot) / n in one pass, where
            # SciPy's logsumexp and friends took ~90% of a multinomial fit's time
            if k == 1:
                loss, D = K.sigmoid_bce(Z, T.reshape(-1, 1), backend=self.backend)
            else:
                loss, D = K.softmax_xent(Z, labels, backend=self.backend)
        else:  # per-row losses for the weights, in as few NumPy passes as the math allows
            if k == 1:
                z = Z[:, 0]
                per = np.logaddexp(0.0, z) - T * z  # -(T log s(z) + (1 - T) log s(-z))
                D = (expit(z) - T)[:, None]
            else:
                rows = np.arange(Z.shape[0])
                top = Z.max(axis=1, keepdims=True)
                D = np.exp(Z - top)
                total = D.sum(axis=1, keepdims=True)
                per = (top[:, 0] + np.log(total[:, 0])) - Z[rows, labels]
                D /= total
                D[rows, labels] -= 1.0
            loss = float(sw @ per) / sw_sum
            D *= (sw / sw_sum)[:, None]
        _, dW, db = K.dense_backward(np.ascontiguousarray(D), X, W, "identity", need_dx=False, backend=self.backend)
        loss += 0.5 * l2 * float(np.sum(W * W))
        g = dW + l2 * W
        grad = np.concatenate([g.ravel(), db]) if self.fit_intercept else g.ravel()
        return loss, grad

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by L-BFGS-B (or proximal accelerated gradient descent for solver="gd" / "saga")."""
        C, l1_ratio = self._penalty()  # first, as scikit-learn checks the penalty: before the data
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self._dtype = X.dtype
        X = _dense(X)
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data contains only one "
                f"class: {self.classes_[0]!r}"
            )
        labels = enc.transform(y).astype(np.int64)
        # "gd" / "saga" bound their step by the norm of X scaled by sqrt(sw): a negative weight failed in an SVD
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=self.solver != "lbfgs")
        if self.class_weight is not None:
            # "balanced" counts each class by its sample weights, as scikit-learn's fit does
            cw = compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                      sample_weight=None if sample_weight is None else sw)
            sw = sw * cw[labels]
        multinomial = self._multinomial_always or len(self.classes_) > 2
        k = len(self.classes_) if multinomial else 1
        n_f = X.shape[1]
        T = labels.astype(np.float64)
        sw_sum = float(sw.sum())
        # scikit-learn's objective divided by sum(sw): saga's sum(sw loss) + (1 - l1_ratio) / C ||W||^2 / 2
        # + l1_ratio / C ||W||_1 (lbfgs': the same with l1_ratio=0)
        strength = 0.0 if np.isinf(C) else 1.0 / (C * sw_sum)
        l2, l1 = (1.0 - l1_ratio) * strength, l1_ratio * strength
        size = n_f * k + (k if self.fit_intercept else 0)
        x0 = np.zeros(size)
        if self.warm_start and hasattr(self, "coef_") and self.coef_.shape != (k, n_f):
            # other features or classes than the fit to start from: scikit-learn's error
            # (fastnn used to restart from zeros without a word)
            width = n_f + int(self.fit_intercept)
            raise ValueError(
                f"Initialization coef is of shape {(self.coef_.shape[0], self.coef_.shape[1] + int(self.fit_intercept))}"
                f", expected shape {f'({width},) or (1, {width})' if k == 1 else (k, width)}")
        if self.warm_start and hasattr(self, "coef_"):
            x0[: n_f * k] = self._dense_coef().T.ravel()
            if self.fit_intercept:
                x0[n_f * k:] = self.intercept_
        unit = sample_weight is None and self.class_weight is None  # the fused kernels' case
        args = (X, T, None if unit else sw, sw_sum, l2, n_f, k, labels.astype(np.int32))
        data = dict(X=X, y=y, metadata=None if sample_weight is None else {"sample_weight": sample_weight})
        ctx = None
        if hasattr(self, "_init_callback_context"):  # scikit-learn >= 1.9; its task counts
            ctx = self._init_callback_context(max_subtasks=max(self.max_iter, 1) + 1)
            ctx.call_on_fit_task_begin(estimator=self, **data)
        if self.solver != "lbfgs":  # "gd", and "saga": scikit-learn's name for the L1 / elastic-net problem
            L = 0.25 * _spectral_sq(np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X, sw)
            L = (L if k == 1 else 2 * L) + l2
            x, self.n_iter_, ok = _fista(lambda v: self._loss_grad(v, *args), x0, L, self.max_iter, self.tol,
                                         backend=self.backend, l1=l1, n_l1=n_f * k)
            if not ok:
                warnings.warn("The max_iter was reached which means the coef_ did not converge" if self.solver == "saga"
                              else f"gd did not converge in max_iter={self.max_iter} iterations.", ConvergenceWarning)
            self.n_iter_ = np.array([self.n_iter_], dtype=np.int32)
        else:
            iprint = [-1, 50, 1, 100, 101][np.searchsorted(np.array([0, 1, 2, 3]), self.verbose)]
            hooks = _LbfgsIterationHooks(ctx, self, x0, n_f, k, **data) if hasattr(self, "_skl_callbacks") else None
            with one_blas_thread():  # why: see MLP._fit_lbfgs
                res = scipy.optimize.minimize(
                    self._loss_grad, x0, method="L-BFGS-B", jac=True, args=args, callback=hooks,
                    options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol,
                             "ftol": 64 * np.finfo(float).eps, **_get_additional_lbfgs_options_dict("iprint", iprint)},
                )
            if hooks is not None:
                hooks.close()
            # int32, as scikit-learn's
            self.n_iter_ = np.array([_check_optimize_result("lbfgs", res, self.max_iter)], dtype=np.int32)
            x = res.x
        self.coef_, self.intercept_ = self._coef_intercept(x, n_f, k)
        if ctx is not None:
            ctx.call_on_fit_task_end(estimator=self, reconstruction_attributes={}, **data)
        return self

    def _scores(self, X):
        check_is_fitted(self)
        if validated_rows(self, X) is None:
            X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                              dtype=[np.float64, np.float32])
        # scores (and so probabilities) in scikit-learn's dtype: float32 for float32 X and a float32 fit
        out_dtype = np.result_type(X.dtype, self.coef_.dtype)
        X = _dense(X)
        W = np.ascontiguousarray(self._dense_coef().T, dtype=np.float64)
        Z = K.dense_forward(X, W, np.asarray(self.intercept_, dtype=np.float64), "identity", backend=self.backend)
        Z = Z.astype(out_dtype, copy=False)
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def decision_function(self, X):
        """Signed distances (binary: shape (n,), > 0 means classes_[1]) or per-class scores (n, n_classes)."""
        Z = self._scores(X)
        if Z.ndim == 2 and Z.shape[1] == 2:  # two-column softmax: the log-odds of classes_[1]
            return Z[:, 1] - Z[:, 0]
        return Z

    def predict(self, X):
        """Class labels."""
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities (columns in ``classes_`` order)."""
        scores = self._scores(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        return np.exp(scores - logsumexp(scores, axis=1)[:, None])

    def predict_log_proba(self, X):
        """Log of predict_proba."""
        scores = self._scores(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return scores - logsumexp(scores, axis=1)[:, None]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class LogisticRegression(_LogisticBase):
    """Logistic regression (``sklearn.linear_model.LogisticRegression``: lbfgs and saga).

    Binary targets: one sigmoid column (``coef_`` [1, n_features]); more classes:
    multinomial softmax, as scikit-learn 1.9. The penalty is scikit-learn's:
    ``l1_ratio`` 0 (L2), 1 (L1) or between (elastic-net), none with ``C=np.inf``
    (or the deprecated ``penalty``), with its warnings and errors for each combination.

    solver="lbfgs": L2 or none, scikit-learn's objective and L-BFGS-B options
    (maxiter, maxls=50, gtol=tol, ftol=64 eps). solver="saga": every penalty, as
    scikit-learn's saga; solved by proximal accelerated gradient descent (FISTA,
    soft-thresholding the weights, never the intercepts), not by scikit-learn's
    stochastic SAGA: the same objective and optimum, to within tol (and the same
    exact zeros of L1), but other iterates and ``n_iter_``: max_iter counts
    full-gradient steps, and tol bounds the change of one step, not of a SAGA
    epoch, so at a loose tol (1e-3) its fits stop farther from the optimum than
    scikit-learn's. solver="gd" is the same solver under fastnn's name.
    liblinear (which penalises the intercept too), newton-cg, newton-cholesky and
    sag are not here.
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l1", "l2", "elasticnet"}), None, Hidden(StrOptions({"deprecated"}))],
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],  # > 0 with saga or gd (checked in fit)
        "dual": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "solver": [StrOptions({"lbfgs", "saga", "gd"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [None, Integral],
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
    }

    def __init__(self, penalty="deprecated", *, C=1.0, l1_ratio=0.0, dual=False, tol=1e-4, fit_intercept=True,
                 intercept_scaling=1, class_weight=None, random_state=None, solver="lbfgs", max_iter=100, verbose=0,
                 warm_start=False, n_jobs=None, backend=None):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.backend = backend

    def _penalty(self):
        # scikit-learn 1.9's fit, step for step: the effective penalty from penalty / l1_ratio / C,
        # its warnings (same texts and categories) and its errors (its _check_solver, "gd" taking
        # what "saga" takes). l1_ratio only matters for a penalised fit: with C=inf or penalty=None,
        # or next to penalty='l2', scikit-learn warns and fits
        if self.penalty == "deprecated":
            if self.l1_ratio is None:
                warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will trigger an error in 1.10. "
                              "Use 0<=l1_ratio<=1 instead.", FutureWarning)
            penalty = "l2" if self.l1_ratio in (0, None) else "l1" if self.l1_ratio == 1 else "elasticnet"
            if self.C == np.inf:
                penalty = None
        else:
            penalty = self.penalty
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this warning, leave "
                "'penalty' set to its default value and use 'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of "
                "penalty='l2', l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 and 1 instead "
                "of penalty='elasticnet', and C=np.inf instead of penalty=None.", FutureWarning)
        if self.solver == "lbfgs" and penalty not in ("l2", None):  # scikit-learn's text, then where L1 is
            raise ValueError(f"Solver {self.solver} supports only 'l2' or None penalties, got {penalty} penalty "
                             f"(l1_ratio={self.l1_ratio!r}): use solver='saga' for L1 and elastic-net penalties")
        if self.dual:
            raise ValueError(f"Solver {self.solver} supports only dual=False, got dual={self.dual}")
        if penalty != "elasticnet" and self.l1_ratio is not None and 0 < self.l1_ratio < 1:
            warnings.warn(f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got (penalty={penalty})")
        if (self.penalty == "l2" and self.l1_ratio != 0) or (self.penalty == "l1" and self.l1_ratio != 1):
            warnings.warn(f"Inconsistent values: penalty={self.penalty} with l1_ratio={self.l1_ratio}. "
                          "penalty is deprecated. Please use l1_ratio only.")
        if penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
        if self.penalty is None and self.C != 1.0:
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio parameters")
        if self.n_jobs is not None:
            warnings.warn("'n_jobs' has no effect since 1.8 and will be removed in 1.10. "
                          f"You provided 'n_jobs={self.n_jobs}', please leave it unspecified.", FutureWarning)
        if penalty is None:
            return np.inf, 0.0
        # as scikit-learn's saga: penalty='l1' is pure L1 whatever l1_ratio says (after the warning above)
        return float(self.C), float({"l2": 0.0, "l1": 1.0}.get(penalty, self.l1_ratio))


class SoftmaxRegression(_LogisticBase):
    """Multinomial logistic regression: softmax over ``n_classes`` columns even for 2 classes.

    Objective ``mean cross-entropy + ||W||^2 / (2 C n)`` (scikit-learn's multinomial
    LogisticRegression), minimised by L-BFGS-B ("lbfgs") or accelerated gradient
    descent ("gd") on fastnn's dense kernels.
    """

    _multinomial_always = True
    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="right")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({"lbfgs", "gd"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
    }

    def __init__(self, *, C=1.0, tol=1e-4, fit_intercept=True, class_weight=None, solver="lbfgs", max_iter=100,
                 verbose=0, warm_start=False, backend=None):
        self.C = C
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.backend = backend
