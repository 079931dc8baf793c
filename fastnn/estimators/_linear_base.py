"""What the linear models share: densifying and centring the data, X's products (dense
kernels or scipy.sparse), the implicitly centred sparse least-squares problem and LSQR,
the least-squares gradient on the kernels, FISTA, and the regressors' fit/predict plumbing."""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight, check_array, check_is_fitted, validate_data

from .. import backends
from .. import kernels as K
from ..threads import one_blas_thread
from ._validation import refuse_text, validated_rows

#: largest dense copy of a sparse X these models make (see the module doc)
SPARSE_DENSIFY_MAX_BYTES = 1 << 30


def _dense(X, dtype=np.float64, order="C"):
    if sp.issparse(X):
        need = int(X.shape[0]) * int(X.shape[1]) * np.dtype(dtype).itemsize
        if need > SPARSE_DENSIFY_MAX_BYTES:
            raise ValueError(
                f"X is sparse {X.shape[0]}x{X.shape[1]} (nnz={X.nnz}); its dense copy would take "
                f"{need / 2**30:.1f} GiB (limit fastnn.estimators._linear_base.SPARSE_DENSIFY_MAX_BYTES = "
                f"{SPARSE_DENSIFY_MAX_BYTES / 2**30:.1f} GiB). This solver trains on dense data: fastnn's "
                "Ridge(solver='sparse_cg', 'lsqr', 'sag' or 'saga'), LinearRegression(), Lasso, ElasticNet and "
                "LogisticRegression(solver='lbfgs', 'newton-cg', 'newton-cholesky', 'sag', 'saga' or 'liblinear') "
                "fit a sparse X as it is; for the others use scikit-learn's sparse solvers, or "
                "raise the limit if the memory is there.")
        X = X.toarray()
    return np.asarray(X, dtype=dtype, order=order)


def _means(X, Y, sw, fit_intercept):
    """Weighted column means of X and Y (zeros without an intercept), in their dtypes."""
    if not fit_intercept:  # zeros of X's dtype: float32 data must not be promoted by "centring"
        return np.zeros(X.shape[1], X.dtype), np.zeros(Y.shape[1], Y.dtype)
    if sw is None:  # (a sparse X's mean is a 1 x n_features np.matrix)
        return np.asarray(X.mean(axis=0)).reshape(-1), Y.mean(axis=0)
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


#: fewest columns for which _normal_equations takes the C kernels rather than NumPy's products
GRAM_KERNEL_MIN_COLUMNS = 32


def _normal_equations(X, Y, backend=None):
    """``(X^T X, X^T Y)`` of a dense X [n, p] and Y [n, k]: the normal equations' sides.

    On the C backend, for X with at least as many rows as columns and
    GRAM_KERNEL_MIN_COLUMNS columns or more, from the kernels: ``dense_sandwich`` for the
    Gram (the upper triangle on the GEMM engine, mirrored: exactly symmetric, the same bits
    on any thread count) and ``gemm``. One thread, float64: 20000 x 200 10.0 ms against
    NumPy's syrk (OpenBLAS) 18.0, 2000 x 100 0.25 against 0.50, 1000 x 10 9.4 us against
    7.2 (hence the columns' floor). They also keep NumPy's BLAS pool asleep: woken, its
    workers spin on through the LAPACK solve that follows (SciPy's own pool) and into the
    next threaded kernel (5000 x 100 LinearRegression on two threads: 7.5 ms against 1.8
    on one). NumPy's products otherwise, and on the other backends (their sandwich is a
    general product, slower than syrk)."""
    n, p = X.shape
    if (p >= GRAM_KERNEL_MIN_COLUMNS and n >= p and X.dtype in (np.float32, np.float64) and Y.dtype == X.dtype
            and (backend if backend is not None else backends.current()) == "c"):
        return (K.dense_sandwich(X, np.ones(n, dtype=X.dtype), backend="c"),
                K.gemm(X, Y, trans_a=True, backend="c"))
    return X.T @ X, X.T @ Y


def _plain(*arrays) -> bool:
    """Non-empty C-contiguous float64 ndarrays: operands that kernels' checks would pass as they are."""
    return all(type(a) is np.ndarray and a.dtype == np.float64 and a.size and a.flags.c_contiguous
               for a in arrays)


def _forward(X, W, b, backend):
    """``X @ W + b`` [n, k] in float64: scipy's product for a sparse X (a dense copy may not
    fit: SPARSE_DENSIFY_MAX_BYTES), kernels.dense_forward for a dense one."""
    if sp.issparse(X):
        Z = np.asarray(X @ W)
        Z += b
        return Z
    X = _dense(X)
    if _plain(X, W, b) and W.ndim == 2 and W.shape[0] == X.shape[1] and b.shape == (W.shape[1],):
        # the solvers call this tens of times a fit: without dense_forward's checks (which these
        # operands pass), a 569 x 30 LogisticRegression fit ran 5-9% faster
        out = np.empty((X.shape[0], W.shape[1]))
        K._dense_forward_call(backends.resolve(backend), out, None, X, W, b, K.ACTIVATIONS["identity"], 0.0)
        return out
    return K.dense_forward(X, W, b, "identity", backend=backend)


def _sparse_scores(X, coef, intercept):
    """``X @ coef.T + intercept`` for a sparse X, as scikit-learn's predict computes it (1-D coef:
    1-D scores): on a few rows _forward's float64 operands cost as much as the product."""
    return np.asarray(X @ coef.T) + intercept


def _backward(D, X, W, backend):
    """(dW, db) = (X^T D, D summed over rows): the gradients of ``X @ W + b`` for D [n, k]
    (scipy's product for a sparse X, kernels.dense_backward for a dense float64 one)."""
    if sp.issparse(X):
        return np.asarray(X.T @ D), D.sum(axis=0)
    D = np.ascontiguousarray(D)
    if (_plain(D, X, W) and X.ndim == D.ndim == W.ndim == 2 and X.shape[0] == D.shape[0]
            and W.shape == (X.shape[1], D.shape[1])):  # as _forward: without the checks
        dW, db = np.empty(W.shape), np.empty(W.shape[1])
        K._dense_backward_call(backends.resolve(backend), None, dW, db, D, D, X, W, None, None,
                               K.ACTIVATIONS["identity"], 0.0)
        return dW, db
    _, dW, db = K.dense_backward(D, X, W, "identity", need_dx=False, backend=backend)
    return dW, db


def _sparse_operator(X, x_mean, root):
    """``diag(root) (X - x_mean)`` for sparse X as a LinearOperator, never formed (it is dense).

    scikit-learn's implicit centring (its _get_rescaled_operator): with Xr = diag(root) X,
    ``A v = Xr v - root (x_mean . v)`` and ``A^T u = Xr^T u - x_mean (root . u)``.
    root: square roots of the sample weights, or None (ones); x_mean None: no centring.
    """
    Xr = X if root is None else sp.dia_array((root, 0), shape=(X.shape[0],) * 2) @ X
    if x_mean is None:
        return spla.aslinearoperator(Xr)
    root = np.ones(X.shape[0], dtype=X.dtype) if root is None else root
    return spla.LinearOperator(X.shape, matvec=lambda v: Xr @ v - root * (v @ x_mean),
                               rmatvec=lambda u: Xr.T @ u - x_mean * (u @ root), dtype=X.dtype)


def _sparse_problem(X, Y, sw, fit_intercept):
    """(A, Ys, x_mean, y_mean): the weighted least-squares problem ``min ||A w - Ys||`` of a
    sparse X, centred implicitly (_sparse_operator: centring X would densify it) and in X's
    dtype, as scikit-learn's Ridge / LinearRegression pose it."""
    Y = Y.astype(X.dtype, copy=False)
    sw = None if sw is None else sw.astype(X.dtype, copy=False)
    x_mean, y_mean = _means(X, Y, sw, fit_intercept)
    r = None if sw is None else np.sqrt(sw)
    Ys = Y - y_mean if r is None else (Y - y_mean) * r[:, None]
    return _sparse_operator(X, x_mean if fit_intercept else None, r), Ys, x_mean, y_mean


def _lsqr(A, Ys, alpha, max_iter, tol, advice=None):
    """scikit-learn's "lsqr" solution [n_features, n_targets] and the iterations per target:
    scipy's LSQR on ``min ||A w - y||^2 + a ||w||^2`` (damp = sqrt(a), atol = btol = tol,
    iter_lim = max_iter, None: scipy's 2 n_features); A is a LinearOperator (products only).
    Silent at the iteration limit, as scikit-learn's, unless ``advice`` is given: then a
    ConvergenceWarning with it (LinearRegression, whose limit the user cannot set)."""
    W = np.empty((A.shape[1], Ys.shape[1]), dtype=A.dtype)
    iters = np.empty(Ys.shape[1], dtype=np.int32)
    for j, a in enumerate(alpha):
        with one_blas_thread():  # LSQR's vector work between the products: see one_blas_thread
            W[:, j], istop, iters[j] = spla.lsqr(A, Ys[:, j], damp=np.sqrt(a), atol=tol, btol=tol,
                                                 iter_lim=max_iter)[:3]
        if istop == 7 and advice:  # the iteration limit
            warnings.warn(f"lsqr did not converge after {iters[j]} iterations. {advice}", ConvergenceWarning)
    return W, iters


def _linear_grad(X, W, b, Y, sw, backend):
    """Half squared error ``sum(sw_i ||x_i W + b - y_i||^2) / (2 sum sw)`` and its gradient, on kernels."""
    n = X.shape[0]
    R = _forward(X, W, b, backend) - Y
    if sw is None:
        loss = 0.5 * float(np.sum(R * R)) / n
        D = R / n
    else:
        s = sw.sum()
        loss = 0.5 * float(sw @ np.sum(R * R, axis=1)) / s
        D = R * (sw / s)[:, None]
    return (loss, *_backward(D, X, W, backend))


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

    def _prepare(self, X, y, sample_weight, keep_dtype=False, non_negative=False, order="C", keep_sparse=False):
        """(dense X in float64 -- or in its own float dtype with keep_dtype --, 2-D float64 Y, weights).

        keep_sparse: a sparse X stays sparse (CSR or CSC, in its own float dtype), for the
        solvers that only need its products (Ridge's "sparse_cg" and "lsqr") and "sag" / "saga"
        (kernels.sag takes CSR).

        non_negative: refuse negative sample weights with scikit-learn's error (its
        LinearRegression does; a negative weight has no square root to scale rows by:
        the other models made NaNs of it). X is the caller's array where no conversion
        was needed: with copy_X=False the fits centre it in place, as scikit-learn's (a
        read-only X is copied first)."""
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32], force_writeable=not self.copy_X)
        self._dtype = X.dtype
        if keep_sparse and sp.issparse(X):
            X = X.tocsr() if X.format == "coo" else X  # COO has no fast products
        else:
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
            refuse_text(X)  # scikit-learn's dtype="numeric" check; a float dtype list would parse text
            X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                              dtype=[np.float64, np.float32])
            if sp.issparse(X):
                return _sparse_scores(X, self.coef_, self.intercept_)
        # returned in scikit-learn's dtype (float32 for float32 X and a float32 fit), computed in float64
        out_dtype = np.result_type(X.dtype, self.coef_.dtype)
        W = np.ascontiguousarray(np.atleast_2d(self.coef_).T, dtype=np.float64)
        b = np.broadcast_to(np.asarray(self.intercept_, dtype=np.float64), (W.shape[1],)).copy()
        out = _forward(X, W, b, getattr(self, "backend", None)).astype(out_dtype, copy=False)
        return out.ravel() if np.ndim(self.coef_) == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags
