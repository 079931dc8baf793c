"""LogisticRegression's solvers "newton-cg", "newton-cholesky" and "liblinear" (see _logistic.py).

newton-cg and newton-cholesky are scikit-learn's own Newton drivers
(``sklearn.utils.optimize._newton_cg``, ``sklearn.linear_model._glm._newton_solver.
NewtonCholeskySolver``: the line searches, stopping rules, lbfgs fallbacks and warnings
that define those solvers) run on ``_KernelLoss``, the lbfgs objective with its
gradient, Hessian-vector products and Hessian evaluated on fastnn's kernels. The
iterates are scikit-learn's, so coef_ and n_iter_ agree to rounding.

liblinear minimises liblinear's objective ``C sum_i sw_i loss_i + penalty(w)`` where
w holds the weights and, with an intercept, the weight of a constant feature
``intercept_scaling`` (so the intercept is penalised, as ``intercept /
intercept_scaling``). Divided by ``C sum(sw)`` that is the lbfgs objective plus the
intercept's penalty: L2 (primal or dual: one optimum) is solved by Newton steps on the
explicit Hessian for a dense X with few features (_liblinear_l2_newton), else by the
newton-cg driver above, L1 by proximal Newton (_liblinear_l1). These are fastnn's solvers, not
liblinear's (trust-region Newton, randomised dual coordinate descent, newGLMNET): the
same optimum, with liblinear's relative stopping rule, but other iterates and n_iter_,
and no randomness (random_state plays no part).

A sparse X (CSR, float64) stays sparse in all three, as in scikit-learn's: its products
come from scipy.sparse (_linear_base._forward / _backward), newton-cholesky's Hessian
X^T diag(h) X from kernels.csr_sandwich (scikit-learn's sandwich_dot is a scipy product;
the Newton step, on any X, by kernels.cholesky: _CholeskyNewtonSolver). liblinear's L1 solves
its models on it as CSC (with the intercept's column, built once per fit) by
kernels.l1_quadratic_cd (newGLMNET's coordinate descent and schedule), where a dense X
goes to kernels.enet_cd (as a Lasso; measured faster there: 15000 x 100 dense 29 ms,
as CSC by l1_quadratic_cd 84): the same optimum, other iterates.
"""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
import scipy.linalg
import scipy.special
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._glm._newton_solver import NewtonCholeskySolver
from sklearn.utils.optimize import _newton_cg

from .. import kernels as K
from ..threads import one_blas_thread
from ._elastic_net import _canonical_csc
from ._linear_base import _backward, _dense, _forward

#: the solvers this module adds to LogisticRegression
SOLVERS = ("newton-cg", "newton-cholesky", "liblinear")
#: those that fit a sparse X as it is (all: liblinear's L1 by kernels.l1_quadratic_cd, see the module doc)
SPARSE_SOLVERS = SOLVERS


#: systems up to this size are factored by LAPACK's potrf called directly, larger ones by kernels.cholesky
#: (one thread, factor + condition estimate + solve: 31 unknowns 12 us against 22, 101: 58 against 67, 201:
#: 250 against 229; scipy.linalg.solve(assume_a="sym"), scikit-learn's: 28, 96, 336)
_LAPACK_CHOLESKY_MAX_N = 128
#: the bytes of one pass's results (and of its pairs' weights) for the multinomial Hessian
#: (_KernelLoss.gradient_hessian)
_PAIRS_BYTES = 256 << 20


class _KernelLoss:
    """The lbfgs objective of one fit in the interface of scikit-learn's LinearModelLoss
    (the part its Newton solvers call), on fastnn's kernels.

    Parameters are fastnn's flat layout ([W (n_features x k, row-major), intercepts]),
    which is scikit-learn's ravel(order="F") of its (k, n_dof) coef. The solvers' X, y
    and sample_weight arguments are ignored: the loss is bound to its fit's data.
    ``intercept_l2`` penalises the intercepts too (liblinear): ``+ intercept_l2 l2 ||b||^2 / 2``.
    """

    def __init__(self, est, X, T, sw, sw_sum, l2, n_f, k, labels, bound=None, intercept_l2=0.0):
        self._est, self._X, self._sw, self._backend = est, X, sw, est.backend
        self._args = (X, T, sw, sw_sum, l2, n_f, k, labels, bound)
        self._w = (1.0 / sw_sum) if sw is None else sw / sw_sum  # each row's weight in the mean loss
        self._n_w = n_f * k
        self.fit_intercept = est.fit_intercept
        self.base_loss = SimpleNamespace(is_multiclass=k > 1, n_classes=k)
        self._l2, self._l2_b = l2, l2 * intercept_l2
        self._last = None  # (x, loss, grad): newton-cg's line search asks f(x), then grad f(x)
        self._Xa = None  # a sparse X as csr_sandwich takes it (_sparse_sandwich)

    def row_weights(self):
        """Each row's weight in the mean loss, [n_samples]."""
        return self._w if self._sw is not None else np.full(self._X.shape[0], self._w)

    def weight_intercept(self, coef):
        n_f, k = self._args[5:7]
        W = coef[: self._n_w].reshape(n_f, k)
        return W, (coef[self._n_w:] if self.fit_intercept else np.zeros(k))

    def weight_intercept_raw(self, coef, X=None):
        W, b = self.weight_intercept(coef)
        return W, b, _forward(self._X, W, b, self._backend)

    def loss_gradient(self, coef, *_, **__):
        if self._last is not None and np.array_equal(self._last[0], coef):
            return self._last[1], self._last[2].copy()
        loss, grad = self._est._loss_grad(coef, *self._args)
        if self._l2_b and self.fit_intercept:
            b = coef[self._n_w:]
            loss += 0.5 * self._l2_b * float(b @ b)
            grad[self._n_w:] += self._l2_b * b
        self._last = (coef.copy(), loss, grad.copy())
        return loss, grad

    def loss(self, coef, *_, **__):
        return self.loss_gradient(coef)[0]

    def gradient(self, coef, *_, **__):
        return self.loss_gradient(coef)[1]

    def _proba_gradient(self, coef):
        """(W, probabilities [n, k], gradient): one forward and one backward pass; binary: the
        pointwise Hessian in self._curvature."""
        X, T, labels = self._args[0], self._args[1], self._args[7]
        W, b = self.weight_intercept(coef)
        multi = self.base_loss.is_multiclass
        P = _forward(X, W, b, self._backend)
        if not multi:
            # p (1 - p) from the scores, as scikit-learn's loss computes it: from the probabilities 1 - p
            # rounds to 0 for scores past ~37 and the Hessian guard then took separable data's many
            # such rows for non-positive curvature (an lbfgs fallback scikit-learn does not take)
            e = np.exp(-np.abs(P[:, 0]))
            self._curvature = e / ((1.0 + e) * (1.0 + e))
        K.activation_forward(P, "softmax" if multi else "sigmoid", out=P, backend=self._backend)
        D = P.copy()
        if multi:
            D[np.arange(D.shape[0]), labels] -= 1.0
        else:
            D[:, 0] -= T
        D *= np.reshape(self._w, (-1, 1))
        return W, P, self._grad(D, W, coef)

    def _grad(self, D, W, s):
        """X^T D (+ l2 penalties at s), and the column sums of D for the intercepts, flat."""
        dW, db = _backward(D, self._X, W, self._backend)
        dW += self._l2 * s[: self._n_w].reshape(W.shape)
        if not self.fit_intercept:
            return dW.ravel()
        return np.concatenate([dW.ravel(), db + self._l2_b * s[self._n_w:]])

    def gradient_hessian_product(self, coef, *_, **__):
        """(gradient, s -> Hessian @ s), scikit-learn's product for the binomial and the multinomial loss."""
        W, P, grad = self._proba_gradient(coef)
        multi = self.base_loss.is_multiclass
        h = None if multi else self._curvature[:, None] * np.reshape(self._w, (-1, 1))
        Pw = P * np.reshape(self._w, (-1, 1)) if multi else None

        def hessp(s):
            S, s_b = self.weight_intercept(s)
            U = _forward(self._X, S, s_b, self._backend)  # X s
            if multi:  # p_k ((X s)_k - sum_l p_l (X s)_l), per row
                U -= (P * U).sum(axis=1, keepdims=True)
                U *= Pw
            else:
                U *= h
            return self._grad(U, S, s)

        return grad, hessp

    def _sandwich(self, h, out):
        """``(X, 1)^T diag(h) (X, 1)`` (the ones only with an intercept) into out (C-contiguous, or
        None: a new array; a 2-D h gives one per column, [q, q, m]).

        A dense X: kernels.dense_sandwich (scikit-learn's sandwich_dot makes the whole product
        X^T (h X), with h X made whole, and the intercept's sums apart: 15000 x 100, one thread,
        6.3 -> 2.9 ms). A sparse X: kernels.csr_sandwich (sandwich_dot's scipy product builds a
        sparse result first: 15000 x 2000 TF-IDF rows, one thread, 230 -> 80 ms); the column of
        ones joins X as its last column, once a fit, on a copy with each row's columns sorted
        and distinct (the caller's X is left as it is)."""
        if not sp.issparse(self._X):
            return K.dense_sandwich(self._X, h, intercept=self.fit_intercept, out=out, backend=self._backend)
        if self._Xa is None:
            X = self._X
            if self.fit_intercept:
                X = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
            elif not X.has_canonical_format:
                X = X.copy()
            X.sum_duplicates()  # (sorts each row's columns; nothing to do on scipy's usual CSR)
            self._Xa = K._checked_csr(X, np.float64)  # checked once: a product per step and per pair of classes
        return K.csr_sandwich(self._Xa, h, out=out, backend=self._backend)

    def gradient_hessian(self, coef, *_, gradient_out=None, hessian_out=None, **__):
        """(gradient, Hessian, hessian_warning), written into the given buffers (NewtonCholeskySolver's)."""
        W, P, grad = self._proba_gradient(coef)
        k = self.base_loss.n_classes
        n = coef.size
        hess = np.empty((n, n)) if hessian_out is None else hessian_out
        w = self.row_weights()
        warn = False
        if not self.base_loss.is_multiclass:
            h = self._curvature * w
            # scikit-learn's guard (negative sample weights): mostly non-positive curvature -> lbfgs
            warn = bool(np.average(h <= 0, weights=self._sw) > 0.25)
            if not warn and hess.flags.c_contiguous:  # (scikit-learn's hessian_out is)
                self._sandwich(np.abs(h), hess)
            elif not warn:
                hess[...] = self._sandwich(np.abs(h), None)
        else:  # block (c, d) of classes: Xa^T diag(p_c (delta_cd - p_d) w) Xa, at rows c::k, columns d::k
            q = n // k
            pc, pd = np.triu_indices(k)  # the pairs of classes (c <= d)
            # the pairs' weights in one pass over X (the sandwiches' 2-D h), as many pairs a pass as fit
            # _PAIRS_BYTES of results and of weights (one-hot 75000 x 500, 3 classes, one thread: 6 passes
            # 42 ms, one 19; dense 37500 x 100, 10 classes: 0.37 s, where one product C^T Q of the pairs'
            # weights C and the rows' outer products Q, n x q (q + 1) / 2 made in chunks, took 0.64)
            per_pass = max(1, min(pc.size, _PAIRS_BYTES // (8 * q * q), _PAIRS_BYTES // (8 * P.shape[0])))
            for t0 in range(0, pc.size, per_pass):
                c, d = pc[t0:t0 + per_pass], pd[t0:t0 + per_pass]
                blocks = self._sandwich(P[:, c] * ((c == d) - P[:, d]) * w[:, None], None)
                for t in range(c.size):
                    hess[c[t]::k, d[t]::k] = blocks[:, :, t]
                    if d[t] != c[t]:
                        hess[d[t]::k, c[t]::k] = blocks[:, :, t]  # (symmetric)
        if not warn:
            diag = hess.reshape(-1)[:: n + 1]  # a view: the penalties enter the diagonal only
            diag[: self._n_w] += self._l2
            diag[self._n_w:] += self._l2_b
        if gradient_out is not None:
            gradient_out[...] = grad
            grad = gradient_out
        return grad, hess, warn


class _CholeskyNewtonSolver(NewtonCholeskySolver):
    """scikit-learn's NewtonCholeskySolver whose Newton step solves its positive definite
    system by a Cholesky factorisation (kernels.cholesky, then LAPACK's potrs), where
    scikit-learn's ``scipy.linalg.solve(assume_a="sym")`` takes the symmetric indefinite one
    (sytrf / sytrs): the same step up to rounding, and the solve that dominated a fit once
    the Hessian was fast (2001 unknowns, one thread: 120 -> 72 ms a step by LAPACK's potrf,
    -> 55 by kernels.cholesky, the condition estimate included; small systems by potrf, whose
    call costs less there). Where the system is
    not positive definite (the factorisation fails) or its condition estimate is below the
    machine epsilon (where scipy's solve warns), after a Hessian warning, and for the
    unpenalised multinomial loss (whose reduced system drops a class), scikit-learn's own
    step runs, with its warnings and its lbfgs fallback."""

    def inner_solve(self, X, y, sample_weight):
        if self.hessian_warning or self.is_multinomial_no_penalty:
            return super().inner_solve(X, y, sample_weight)
        g, H = self.gradient, self.hessian
        if self.is_multinomial_with_intercept:  # scikit-learn's reduction: the last class's intercept fixed at 0
            g[-1] = 0
            H[-1, :] = 0
            H[:, -1] = 0
            g, H = g[:-1], H[:-1, :-1]
        if H.shape[0] <= _LAPACK_CHOLESKY_MAX_N:
            U, info = scipy.linalg.lapack.dpotrf(H, lower=False, clean=False)  # (its strict lower half: junk)
            if info != 0:  # not positive definite (or not finite)
                return super().inner_solve(X, y, sample_weight)
        else:
            try:
                L = K.cholesky(H, backend=self.linear_loss._backend)
            except (np.linalg.LinAlgError, ValueError):  # not positive definite, or not finite
                return super().inner_solve(X, y, sample_weight)
            # row-major L is column-major L^T: LAPACK's upper factor U = L^T (H = U^T U), no copy
            U = L.T
        # scipy's solve warns (and scikit-learn falls back) below this reciprocal condition number
        rcond, info = scipy.linalg.lapack.dpocon(U, np.abs(H).sum(axis=0).max(), uplo="U")
        if info != 0 or not rcond >= np.finfo(H.dtype).eps:
            return super().inner_solve(X, y, sample_weight)
        step, info = scipy.linalg.lapack.dpotrs(U, -g, lower=False)
        if info != 0:
            return super().inner_solve(X, y, sample_weight)
        if self.is_multinomial_with_intercept:
            step = np.r_[step, 0]
        g_step = self.gradient @ step
        if not g_step < 0:  # not a descent direction: scikit-learn's own verdict and fallback
            return super().inner_solve(X, y, sample_weight)
        self.coef_newton, self.gradient_times_newton = step, g_step


# scikit-learn's warnings name the solver by its class ("The inner solver of NewtonCholeskySolver
# ..."): a filter on that text must catch this one's too
_CholeskyNewtonSolver.__name__ = _CholeskyNewtonSolver.__qualname__ = NewtonCholeskySolver.__name__


def check_liblinear_data(X, n_classes):
    """scikit-learn's refusals of data liblinear cannot fit (before any other check of it)."""
    if n_classes > 2:
        raise ValueError("The 'liblinear' solver does not support multiclass classification (n_classes >= 3). Either "
                         "use another solver or wrap the estimator in a OneVsRestClassifier to keep applying a "
                         "one-versus-rest scheme.")
    if np.max(X) > 1e30:
        raise ValueError("Using the 'liblinear' solver while X contains a maximum value > 1e30 results in a frozen "
                         "fit. Please choose another solver or rescale the input X.")


def solve(est, x0, l1, args):
    """Minimise ``est``'s objective with est.solver from x0; returns (flat parameters, n_iter).

    args: _LogisticBase._loss_grad's (X, T, sw or None, sw_sum, l2, n_f, k, labels, bound);
    l1: the L1 strength, 1 / (C sum(sw)) for liblinear's penalty='l1' (args' l2 then 0), else 0.
    """
    X, sw, l2 = args[0], args[2], args[4]
    with one_blas_thread():  # why: see MLP._fit_lbfgs
        if est.solver == "newton-cholesky":
            sol = _CholeskyNewtonSolver(coef=x0, linear_loss=_KernelLoss(est, *args), l2_reg_strength=l2,
                                        tol=est.tol, max_iter=est.max_iter, n_threads=1, verbose=est.verbose)
            # (unpenalised multinomial: returned as scikit-learn's (k, n_dof) array, whose F order is the flat one)
            return sol.solve(X=X, y=args[1], sample_weight=sw).ravel(order="F"), sol.iteration
        if est.solver == "newton-cg":
            loss = _KernelLoss(est, *args)
            return _newton_cg(loss.gradient_hessian_product, loss.loss, loss.gradient, x0, tol=est.tol,
                              maxiter=est.max_iter, verbose=est.verbose)
        # liblinear: x0 is zeros (fit ignores warm_start for it); l2 is 1 / (C sw_sum) for penalty='l2', 0 for 'l1'
        if l1 and est.dual:
            raise ValueError("Unsupported set of arguments: The combination of penalty='l1' and "
                             "loss='logistic_regression' are not supported when dual=True, Parameters: "
                             "penalty='l1', loss='logistic_regression', dual=True")
        s = float(est.intercept_scaling)
        # liblinear's tol is relative: to the gradient at 0, times the rarer class's share of the samples
        # (with sample weights, of their sum: a row of weight 2 counts as two rows, so a weighted fit
        # stops where the fit on repeated rows does -- liblinear counts rows -- and 1 / n_samples
        # when one class weighs nothing, liblinear's floor)
        n, pos = X.shape[0], args[1] != 0
        if sw is None:
            share = max(min(int(pos.sum()), n - int(pos.sum())), 1) / n
        else:
            total, pos_w = float(sw.sum()), float(sw[pos].sum())
            share = min(pos_w, total - pos_w) / total or 1.0 / n
        rel_tol = est.tol * share
        if l1:
            x, n_iter = _liblinear_l1(est, x0, s, l1, rel_tol, args)
        else:
            loss = _KernelLoss(est, *args, intercept_l2=1.0 / (s * s))
            if not sp.issparse(X) and x0.size <= _NEWTON_MAX_PARAMS:
                x, n_iter = _liblinear_l2_newton(_dense(X), args[1], loss.row_weights(), l2, s,
                                                 est.fit_intercept, x0, rel_tol, est.max_iter)
            else:
                tol = rel_tol * np.max(np.abs(loss.gradient(x0)))
                x, n_iter = _newton_cg(loss.gradient_hessian_product, loss.loss, loss.gradient, x0, tol=tol,
                                       maxiter=est.max_iter, warn=False, verbose=est.verbose)
    if n_iter >= est.max_iter:
        warnings.warn("Liblinear failed to converge, increase the number of iterations.", ConvergenceWarning)
    return x, n_iter


#: liblinear L2 on a dense X with at most this many parameters (features + intercept) takes full
#: Newton steps on the explicit Hessian (_liblinear_l2_newton); more go to Newton-CG, whose few
#: Hessian-vector products per step cost less than forming X^T diag(h) X (n p^2 / 2) once p is
#: large. Measured (one thread, fit ms explicit / CG): standardised breast cancer p = 31 1.2 / 2.7,
#: make_classification n = 2000 p = 60 4.5 / 8.4; the compare_sklearn binary20k set (15000 x 100)
#: 42 / 32, where CG needs few products (n = 20000 p = 100 with other informative features and
#: label noise: 67 / 123 -- the crossover depends on the data; 64 keeps both sides' wins)
_NEWTON_MAX_PARAMS = 64


def _liblinear_l2_newton(X, T, rw, l2, s, fit_intercept, x0, rel_tol, max_iter):
    """Newton's method with the explicit Hessian and a backtracking (Armijo) line search on
    liblinear's binary L2 problem; returns (flat parameters, n_iter).

    Works in liblinear's variables v: Xa = [X, s] (the intercept's column s only with an
    intercept), ``F(v) = sum_i rw_i logloss(T_i, (Xa v)_i) + l2 |v|^2 / 2`` -- _KernelLoss's
    objective with ``intercept_l2 = 1 / s^2``, since the intercept is ``s v[-1]``. Stops when
    that objective's gradient in the flat parameters (the intercept's is ``dF/dv / s``) is at
    most rel_tol times its largest entry at x0 in every entry, as the Newton-CG path. For few
    features one Hessian ``Xa^T diag(h) Xa`` and a p x p solve per step are cheap, and a
    handful of quadratically converging steps, each a few NumPy calls on the whole data,
    replace Newton-CG's Python-level product per CG iteration and its Wolfe line search
    (standardised breast cancer, p = 31, one thread: the solve 2.6 -> 0.95 ms, the fit 3.5 ->
    1.8 ms; scikit-learn's liblinear fit 2.0 ms).
    """
    scale = np.ones(x0.size)
    if fit_intercept:
        scale[-1] = s
        Xa = np.empty((X.shape[0], X.shape[1] + 1))
        Xa[:, :-1] = X
        Xa[:, -1] = s
    else:
        Xa = X
    v = x0 / scale
    z = Xa @ v
    Xh = np.empty_like(Xa)

    def objective(z, v):  # log(1 + e^z) - T z, weighted
        return float(rw @ (np.logaddexp(0.0, z) - T * z)) + 0.5 * l2 * float(v @ v)

    f, n_iter, tol = objective(z, v), 0, None
    while n_iter < max_iter:
        p = scipy.special.expit(z)
        g = Xa.T @ (rw * (p - T)) + l2 * v
        g_max = np.max(np.abs(g / scale))
        tol = rel_tol * g_max if tol is None else tol
        if g_max <= tol:
            break
        # X^T diag(h) X as (root h X)^T (root h X): NumPy's matmul of a matrix's transpose with
        # itself is one symmetric rank-k update (half a GEMM's flops), into a buffer kept per fit
        np.multiply(Xa, np.sqrt(rw * p * (1.0 - p))[:, None], out=Xh)
        H = Xh.T @ Xh
        H.flat[:: H.shape[0] + 1] += l2
        try:  # (LAPACK's LU through NumPy: scipy's Cholesky wrappers cost 2x more here, p = 31)
            d = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:  # singular to rounding (l2 = 0 and separable data): least squares
            d = -np.linalg.lstsq(H, g, rcond=None)[0]
        decrease = float(g @ d)
        # the step's predicted decrease below the objective's rounding, which no line search can
        # check: this close, Newton's step is the one to take, and the last (the gradient has a
        # rounding floor too, above a tight tol: 5e-10 at tol=1e-10 on 200 rows)
        if not decrease < -4.0 * np.finfo(np.float64).eps * abs(f):
            if decrease < 0:
                v, n_iter = v + d, n_iter + 1
            break
        xd, t = Xa @ d, 1.0
        while (f_new := objective(z + t * xd, v + t * d)) > f + 1e-4 * t * decrease:
            t *= 0.5
            if t < 1e-10:  # no decrease the objective's rounding can show
                return v * scale, n_iter
        v, z, f, n_iter = v + t * d, z + t * xd, f_new, n_iter + 1
    return v * scale, n_iter


def _liblinear_l1(est, x0, s, l1, rel_tol, args):
    """Proximal Newton (liblinear's newGLMNET, glmnet's scheme) on liblinear's L1 problem;
    returns (x, n_iter).

    Solved in liblinear's variables v (the intercept's is intercept / s, on a column s of
    Xa = (X, s)), where the L1 term is ``l1 ||v||_1``. Each step minimises the quadratic
    model of the loss plus that term over a working set of coordinates (the non-zeros and
    the violators), then backtracks on the objective (Armijo). A sparse X (never
    densified): the model by kernels.l1_quadratic_cd on Xa as CSC, newGLMNET's coordinate
    descent and its schedule of model accuracies. A dense X: the model as a weighted Lasso
    (rows scaled by the square roots of the Hessian's weights, the working response
    ``A v - e``) solved by kernels.enet_cd. The margins z = Xa v are kept from step to step
    (z + t Xa d, as newGLMNET's exp(w.x)): a step takes one product for the gradient, the
    line search evaluates the loss on z alone. Stops as newGLMNET: when the minimum-norm
    subgradient's 1-norm is rel_tol times its value at x0 (zeros). Why not _fista: on the
    data it took thousands of steps on correlated features (standardised breast cancer:
    2400 at tol=1e-8, still 1e-4 from the optimum); as the solver of each model it did not
    converge with intercept_scaling=1e4 (scikit-learn's test_liblinear_not_stuck).
    """
    T, n_f = args[1], args[5]
    rw = _KernelLoss(est, *args).row_weights()  # each row's weight in the mean loss
    n, ones = T.shape[0], int(est.fit_intercept)
    sparse = sp.issparse(args[0])
    if sparse:  # kernels.l1_quadratic_cd on Xa as CSC, built once per fit; X never densified
        Xc = _canonical_csc(args[0].astype(np.float64, copy=False))
        # int64 indices (the kernel's); the intercept's column
        # appended to the arrays (sp.hstack goes through COO: 3x the time of the CSR -> CSC conversion)
        Xa = sp.csc_matrix((n, Xc.shape[1] + ones))
        Xa.data = np.concatenate([Xc.data, np.full(n * ones, s)])
        Xa.indices = np.concatenate([Xc.indices.astype(np.int64), np.arange(n * ones, dtype=np.int64)])
        indptr = Xc.indptr.astype(np.int64)
        Xa.indptr = np.append(indptr, indptr[-1] + n) if ones else indptr
        Xa = K._checked_csc(Xa, np.float64)  # checked once here, not by every model's solve
        XaT = sp.csr_matrix((Xa.data, Xa.indices, Xa.indptr), shape=(Xa.shape[1], n))  # Xa^T: the same arrays
    else:
        # Xa^T (the intercept's column s as a last row) transposed once; each model scales its working
        # set's rows by root into one buffer (transposing per model was a third of a 20000 x 100 fit)
        XaT = np.empty((n_f + ones, n))
        XaT[:n_f] = _dense(args[0]).T
        XaT[n_f:] = s
        At = np.empty_like(XaT)
    flip = 1.0 - 2.0 * T  # a row's loss is softplus(flip z): log(1 + e^z) - T z for T in {0, 1}, without cancelling

    def objective(z, v):
        return float(rw @ np.logaddexp(0.0, flip * z)) + l1 * float(np.abs(v).sum())

    scale = np.ones(x0.size)
    scale[n_f:] = s
    v = x0 / scale
    z = XaT.T @ v
    f, it, sub0, inner_eps = objective(z, v), 0, None, 1.0
    xd = np.empty(n)  # X_W d, the margins' change (l1_quadratic_cd's out)
    while it < est.max_iter:
        p = scipy.special.expit(z)
        r = (p - T) * rw  # the loss's gradient in z
        g = XaT @ r
        sub = np.abs(np.where(v != 0, g + l1 * np.sign(v), np.sign(g) * np.maximum(np.abs(g) - l1, 0.0))).sum()
        sub0 = sub if sub0 is None else sub0
        if sub <= rel_tol * sub0:
            break
        # the model's working set: the non-zeros and the zeros whose gradient leaves [-l1, l1] (the rest
        # would stay 0 in the model's first sweep; the stop above sees every coordinate, so one left out
        # that the step makes violate joins at the next step). liblinear shrinks the same way. One thread:
        # TF-IDF 15000 x 20000 at C = 1 0.117 -> 0.068 s (20001 -> ~830 columns), C = 10 0.59 -> 0.45 s
        ws = np.flatnonzero((v != 0) | (np.abs(g) > l1))
        h = p * (1.0 - p) * rw  # the loss's Hessian in z (diagonal)
        u = v[ws]
        if sparse:
            # newGLMNET's model in v's coordinates, by coordinate descent on X's columns (nothing
            # copied), and its schedule: each model solved to inner_eps times the first subgradient
            # norm, that tightened 4x when a model needs a single sweep. One thread, TF-IDF 15000 x
            # 20000 at C = 10: 0.46 -> 0.17-0.19 s, 5 -> 15 steps (the models by enet_cd_sparse with a
            # duality-gap stop at 50 sweeps: 70% of the fit, most sweeps past the step's accuracy);
            # at C = 1 (830 columns) 0.066 -> 0.059, the CSR -> CSC conversion a third of it
            xd, sweeps = K.l1_quadratic_cd(u, Xa, ws, g[ws], h, alpha=l1, nu=1e-12 * l1, tol=inner_eps * sub0,
                                           max_sweeps=_MODEL_MAX_SWEEPS, out=xd, backend=est.backend)
            inner_eps *= 0.25 if sweeps == 1 else 1.0
            u -= v[ws]  # the step d on the working set
        else:
            # the model g.(u - v) + |A (u - v)|^2 / 2 = |A u - (A v - e)|^2 / 2 + const, with A = sqrt(h) Xa
            # (A^T A the Hessian) and A^T e = g, e = r / sqrt(h): a Lasso for kernels.enet_cd, solved
            # closer as the fit converges (a loose first model, then newGLMNET's pace). The floor keeps
            # e finite: a row with p rounded to 0 or 1 (or weight 0) weighs 1e-300, its gradient kept
            root = np.sqrt(np.maximum(h, 1e-300))
            tol = max(_MODEL_TOL * (sub / sub0) ** 2, 1e-15)
            Aw = At[:ws.size]  # the working set's rows of A^T, contiguous
            np.take(XaT, ws, axis=0, out=Aw)
            Aw *= root
            K.enet_cd(u, Aw, root * z - r / root, alpha=l1, max_iter=_MODEL_SWEEPS, tol=tol, backend=est.backend)
            u -= v[ws]
            d_all = np.zeros_like(v)
            d_all[ws] = u
            xd = XaT.T @ d_all
        d = u
        decrease = float(g[ws] @ d) + l1 * float(np.abs(v[ws] + d).sum() - np.abs(v[ws]).sum())
        if not decrease < 0:  # the model has no descent left: converged to rounding
            break
        t = 1.0
        vw = v[ws]
        while True:
            v[ws] = vw + t * d
            f_new = objective(z + t * xd, v)
            if f_new <= f + 0.01 * t * decrease or t <= 1e-10:
                break
            t *= 0.5
        z += t * xd
        f, it = f_new, it + 1
    return v * scale, it


#: kernels.enet_cd's sweeps and first duality-gap tolerance (relative to |z|^2) for the models of
#: _liblinear_l1. Loose models and more Newton steps, as newGLMNET's: the fit's stop is the outer
#: subgradient test whatever the models' accuracy, and solving each model closely (1000 sweeps, 1e-4)
#: spent 97% of a fit in its last sweeps (one thread: TF-IDF 15000 x 20000 at C = 10 4.5 -> 0.53 s,
#: C = 1 0.13 -> 0.11, breast cancer at tol 1e-8 0.018 -> 0.008, binary20k 0.32 -> 0.25; the
#: objectives as close to scikit-learn's or closer). 10 sweeps took breast cancer to max_iter.
_MODEL_SWEEPS, _MODEL_TOL = 50, 1e-2
#: the most sweeps of one model of a sparse X's fit (liblinear's newGLMNET: 1000 inner iterations)
_MODEL_MAX_SWEEPS = 1000
