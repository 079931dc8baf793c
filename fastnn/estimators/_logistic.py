"""LogisticRegression and SoftmaxRegression (see linear.py for the family)."""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import SparseCoefMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import kernels as K
from ..threads import one_blas_thread
from ._lbfgs_compat import (_LOGISTIC_SOLVER_CONVERGENCE_MSG, CallbackSupportMixin, _check_optimize_result,
                            _get_additional_lbfgs_options_dict)
from ._linear_base import _backward, _dense, _fista, _forward, _spectral_sq
from ._logistic_solvers import SOLVERS as _SOLVERS, SPARSE_SOLVERS, check_liblinear_data, solve
from ._sag import logistic_sag
from ._validation import refuse_text, validated_rows

__all__ = ["LogisticRegression", "SoftmaxRegression"]

#: the widest output loss_grad runs row by row on a CSR X (FNN_CSR_ROWS_MAX_OUT, csrc/internal.h):
#: there it beats scipy's two products at every k measured (15000 TF-IDF rows x 20000 columns,
#: one thread: k = 2 2.9 ms an evaluation against 6.2, k = 16 13.1 against 14.1); wider, it sorts
#: each chunk's non-zeros by column first and lost at k = 17-24 (18.3 against 16.4 ms at 17)
CSR_ROWWISE_MAX_OUT = 16


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
    """Logistic / softmax regression: sklearn's lbfgs objective on fastnn's dense kernels (a sparse
    X stays sparse with "lbfgs", "newton-cg", "newton-cholesky", "liblinear" (L2 and L1), "sag" and
    "saga": scipy.sparse's products, kernels.sag's CSR rows, kernels.l1_quadratic_cd's CSC columns
    for liblinear's L1 models; "gd" densifies it).

    sparsify() / densify() are scikit-learn's (SparseCoefMixin): coef_ may be a sparse matrix.
    set_callbacks() is scikit-learn's (1.9+): solver="lbfgs" calls the hooks of every
    iteration; the other solvers only those of the whole fit, with scikit-learn's warning for
    its solvers other than lbfgs.
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

    def _bound_loss_grad(self, X, T, sw, sw_sum, l2, n_f, k, labels):
        """(bound call, params, grads): _loss_grad's kernels.loss_grad checked once a fit (kernels.bind:
        10 us of checks an evaluation on 426 x 30, ~10% of a breast-cancer lbfgs fit; 0.5 ms on a CSR X
        of 1.5 million non-zeros); None where loss_grad would copy X or the targets (float32 X, a
        strided X), and for a sparse X but a CSR one with 2 to CSR_ROWWISE_MAX_OUT outputs (with
        one, scipy's products cost what loss_grad's pass does, 1.4-1.9 ms on 15000 TF-IDF rows of
        100 non-zeros, and binding copies the structure: 0.85 ms)."""
        if (sp.issparse(X) and (X.format != "csr" or not 2 <= k <= CSR_ROWWISE_MAX_OUT)) or sw_sum == 0:
            return None
        params, grads = np.zeros(n_f * k + k), np.empty(n_f * k + k)  # (no intercept: the last k stay 0)
        try:
            call = K.bind(K.loss_grad, params, grads, X, labels if k > 1 else T, sizes=(n_f, k),
                          activation="identity", loss="softmax_xent" if k > 1 else "sigmoid_bce",
                          alpha=l2 * sw_sum, sample_weight=sw, backend=self.backend)
        except ValueError:  # an operand the checks copy: checked at every evaluation (_loss_grad)
            return None
        return call, params, grads

    def _loss_grad(self, x, X, T, sw, sw_sum, l2, n_f, k, labels, bound=None):
        """(objective, gradient) at the flat parameters x, without the L1 term; sw None means unit weights;
        bound: what _bound_loss_grad returned for these arguments, or None.

        A dense X: kernels.loss_grad, the network without a hidden layer (the flat layouts are the same):
        forward, loss and backward over chunks of rows in one pass, each chunk read from memory once
        (the two products apart read all of X twice: one thread, 37500 x 100 with 10 classes, a 12-step
        lbfgs fit 81 -> 61 ms). A CSR X with 2-16 outputs: the same pass, bound (its row-wise
        products, X's structure checked once: 15000 TF-IDF rows of 100 non-zeros over 20000
        columns, one thread, 5 classes 4.5 ms an evaluation against 7.7 by scipy's products);
        otherwise scipy's products (see _bound_loss_grad)."""
        if bound is not None:
            call, params, grads = bound
            params[: x.size] = x
            return call(), grads[: x.size].copy()
        if not sp.issparse(X) and sw_sum != 0:
            grads = np.empty(n_f * k + k)
            params = x if self.fit_intercept else np.concatenate([x, np.zeros(k)])  # (intercepts held at 0)
            loss = K.loss_grad(params, grads, X, labels if k > 1 else T, sizes=(n_f, k), activation="identity",
                               loss="softmax_xent" if k > 1 else "sigmoid_bce", alpha=l2 * sw_sum,
                               sample_weight=sw, backend=self.backend)
            return loss, (grads if self.fit_intercept else grads[: n_f * k])
        W = x[: n_f * k].reshape(n_f, k)
        b = x[n_f * k:] if self.fit_intercept else np.zeros(k)
        Z = _forward(X, W, b, self.backend)  # (scipy's products for a kept-sparse X)
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
        dW, db = _backward(D, X, W, self.backend)
        loss += 0.5 * l2 * float(np.sum(W * W))
        g = dW + l2 * W
        grad = np.concatenate([g.ravel(), db]) if self.fit_intercept else g.ravel()
        return loss, grad

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model with the chosen solver (see the class docstring)."""
        C, l1_ratio = self._penalty()  # first, as scikit-learn checks the penalty: before the data
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self._dtype = X.dtype
        sparse_input = sp.issparse(X)  # sag/saga: scikit-learn's intercept decay for sparse X
        # lbfgs, the Newton solvers and sag / saga take X's products or rows only: a sparse X stays sparse
        # (CSR, float64 as the dense X; liblinear's L1 takes it as CSC too); "gd" densifies it
        X = (X.tocsr().astype(np.float64, copy=False)
             if sparse_input and self.solver in ("lbfgs", "sag", "saga", *SPARSE_SOLVERS)
             else _dense(X))
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        if self.solver == "liblinear":  # its refusals come first, as scikit-learn's
            check_liblinear_data(X, len(self.classes_))
        if len(self.classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data contains only one "
                f"class: {self.classes_[0]!r}"
            )
        labels = enc.transform(y).astype(np.int64)
        # "gd" bounds its step by the norm of X scaled by sqrt(sw): a negative weight failed in an SVD;
        # liblinear's objective has no minimum with one (scikit-learn's liblinear fits it silently)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                  ensure_non_negative=self.solver in ("gd", "liblinear"))
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
        warm = self.warm_start and hasattr(self, "coef_") and self.solver != "liblinear"  # liblinear has none
        if warm and self.coef_.shape != (k, n_f):
            # other features or classes than the fit to start from: scikit-learn's error
            # (fastnn used to restart from zeros without a word)
            width = n_f + int(self.fit_intercept)
            raise ValueError(
                f"Initialization coef is of shape {(self.coef_.shape[0], self.coef_.shape[1] + int(self.fit_intercept))}"
                f", expected shape {f'({width},) or (1, {width})' if k == 1 else (k, width)}")
        if warm:
            x0[: n_f * k] = self._dense_coef().T.ravel()
            if self.fit_intercept:
                x0[n_f * k:] = self.intercept_
        unit = sample_weight is None and self.class_weight is None  # the fused kernels' case
        args = (X, T, None if unit else sw, sw_sum, l2, n_f, k, labels.astype(np.int32))
        # (sag / saga step on rows, never on this objective: nothing to bind for them)
        args += (None if self.solver in ("sag", "saga") else self._bound_loss_grad(*args),)
        data = dict(X=X, y=y, metadata=None if sample_weight is None else {"sample_weight": sample_weight})
        ctx = None
        if hasattr(self, "_init_callback_context"):  # scikit-learn >= 1.9; its task counts
            ctx = self._init_callback_context(max_subtasks=max(self.max_iter, 1) + 1)
            ctx.call_on_fit_task_begin(estimator=self, **data)
        if self.solver in _SOLVERS:  # "newton-cg", "newton-cholesky", "liblinear": _logistic_solvers
            x, n_iter = solve(self, x0, l1, args)
            self.n_iter_ = np.array([n_iter], dtype=np.int32)
            if self.solver == "liblinear":
                self._dtype = np.dtype(np.float64)  # coef_ and intercept_ float64 for any X, as liblinear's
        elif self.solver in ("sag", "saga"):
            x, self.n_iter_ = logistic_sag(self, X, T, sw, C, l1_ratio, k, x0, sparse_input)
        elif self.solver == "gd":
            L = 0.25 * _spectral_sq(np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X, sw)
            L = (L if k == 1 else 2 * L) + l2
            x, self.n_iter_, ok = _fista(lambda v: self._loss_grad(v, *args), x0, L, self.max_iter, self.tol,
                                         backend=self.backend, l1=l1, n_l1=n_f * k)
            if not ok:
                warnings.warn(f"gd did not converge in max_iter={self.max_iter} iterations.", ConvergenceWarning)
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
            n_iter = _check_optimize_result("lbfgs", res, self.max_iter,
                                            extra_warning_msg=_LOGISTIC_SOLVER_CONVERGENCE_MSG)  # its whole text
            self.n_iter_ = np.array([n_iter], dtype=np.int32)
            x = res.x
        self.coef_, self.intercept_ = self._coef_intercept(x, n_f, k)
        if self.solver == "liblinear" and not self.fit_intercept:
            self.intercept_ = 0.0  # a float, as scikit-learn's liblinear fit (its _fit_liblinear)
        if ctx is not None:
            ctx.call_on_fit_task_end(estimator=self, reconstruction_attributes={}, **data)
        return self

    def _scores(self, X):
        check_is_fitted(self)
        if validated_rows(self, X) is None:
            refuse_text(X)  # scikit-learn's dtype="numeric" check; a float dtype list would parse text
            X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                              dtype=[np.float64, np.float32])
        # scores (and so probabilities) in scikit-learn's dtype: float32 for float32 X and a float32 fit
        out_dtype = np.result_type(X.dtype, self.coef_.dtype)
        W = np.ascontiguousarray(self._dense_coef().T, dtype=np.float64)
        b = np.broadcast_to(np.asarray(self.intercept_, dtype=np.float64), (W.shape[1],))  # (liblinear's 0.0)
        Z = _forward(X, W, b, self.backend).astype(out_dtype, copy=False)
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
        if getattr(self, "solver", None) == "liblinear":  # binary only, as scikit-learn's tag says
            tags.classifier_tags.multi_class = False
        return tags


class LogisticRegression(_LogisticBase):
    """Logistic regression (``sklearn.linear_model.LogisticRegression``: all its solvers).

    Binary targets: one sigmoid column (``coef_`` [1, n_features]); more classes:
    multinomial softmax, as scikit-learn 1.9. The penalty is scikit-learn's:
    ``l1_ratio`` 0 (L2), 1 (L1) or between (elastic-net), none with ``C=np.inf``
    (or the deprecated ``penalty``), with its warnings and errors for each combination.

    solver="lbfgs": L2 or none, scikit-learn's objective and L-BFGS-B options
    (maxiter, maxls=50, gtol=tol, ftol=64 eps). solver="sag" (L2 or none) and
    "saga" (every penalty): scikit-learn's stochastic average gradient solvers step
    for step (``kernels.sag``, in X's dtype): the same samples drawn from
    ``random_state``, the same epochs (``n_iter_``), coefficients and exact zeros of
    L1, to rounding. solver="gd" (every penalty): proximal accelerated gradient
    descent on the full gradient (FISTA, soft-thresholding the weights, never the
    intercepts): the same objective and optimum, to within tol, by other iterates
    (max_iter counts full-gradient steps; tol bounds one step's change).

    solver="newton-cg" / "newton-cholesky": L2 or none, scikit-learn's own Newton
    drivers on fastnn's loss, gradient, Hessian products and Hessian (module
    _logistic_solvers): scikit-learn's iterates, so its coef_ (max relative
    difference 1e-15 .. 1e-12 on standardised data, at the default tol and at 1e-10)
    and n_iter_; float32 X is fitted in float64 (scikit-learn's float32 fit differs
    by ~1e-5). solver="liblinear": binary only (scikit-learn 1.9 refuses 3+ classes),
    L2 (dual or primal) or L1, liblinear's objective: the intercept is the weight of
    a constant feature ``intercept_scaling`` and penalised with the weights. Solved
    by fastnn's Newton (L2) and proximal Newton (L1) to liblinear's relative tol, not
    by liblinear's own solvers: other iterates and n_iter_, no use of random_state,
    warm_start ignored (as liblinear's). liblinear's result is only tol-accurate:
    at tol=1e-10 (max_iter=1000) both agree to 1e-6 relative, with the same L1
    zeros; at the default tol, on standardised breast cancer, liblinear's L2 / L1 fits
    are 4e-4 / 2e-2 .. 1e-1 from the optimum, fastnn's 1e-4 / 1e-4. coef_ is float64 for any X, as
    liblinear's; intercept_ is 0.0 (a float) without an intercept, as liblinear's;
    negative sample weights are refused (no minimum then).
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
        "solver": [StrOptions({"lbfgs", "sag", "saga", "gd", "newton-cg", "newton-cholesky", "liblinear"})],
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
        if self.solver in ("lbfgs", "sag", "newton-cg", "newton-cholesky") and penalty not in ("l2", None):
            # scikit-learn's text, then where L1 is
            raise ValueError(f"Solver {self.solver} supports only 'l2' or None penalties, got {penalty} penalty "
                             f"(l1_ratio={self.l1_ratio!r}): use solver='saga' for L1 and elastic-net penalties")
        if self.dual and self.solver != "liblinear":
            raise ValueError(f"Solver {self.solver} supports only dual=False, got dual={self.dual}")
        if self.solver == "liblinear" and penalty == "elasticnet":
            raise ValueError("Only 'saga' solver supports elasticnet penalty, got solver=liblinear.")
        if self.solver == "liblinear" and penalty is None:
            raise ValueError("C=np.inf as well as penalty=None is not supported for the liblinear solver")
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
