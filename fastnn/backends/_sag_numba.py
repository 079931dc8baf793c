"""SAG / SAGA compiled with Numba.

The same steps as ``_sag_reference.sag`` (the spec; scikit-learn's sag32 /
sag64) in @njit functions. Every value of the arrays' dtype is cast to it
(``dt(...)``) where scikit-learn's C rounds it, and Python float literals, which
Numba types as float64, appear only where the C computes in double: a float32
fit does float32 arithmetic exactly where scikit-learn's does. (Numba's
``float(x)`` of a float32 stays float32: widening is ``np.float64(x)``.) No
fastmath (no reassociation, no fused multiply-add).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._sag_reference import MULTINOMIAL, SQUARED

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)
_ALL = np.zeros(0, np.int32)  # no indices: every feature (dense X, and the rescales)
_RAND_R_MAX = 2147483647
_U32 = 0xFFFFFFFF


@_jit
def _soft(x, shrink, zero):
    """Soft-thresholding: max(x - s, 0) - max(-x - s, 0), in the dtype of zero."""
    a = x - shrink
    b = -x - shrink
    return (a if a > zero else zero) - (b if b > zero else zero)


@_jit
def _lagged(w, wscale, k, itr, cum, cum_prox, hist, prox, sum_grad, reset, n, indices, start, nnz):
    """Apply the pending steps up to step itr - 1 to the features indices[start:start + nnz] (all
    features, in order, when indices is empty); reset also scales by wscale. False on a non-finite weight."""
    dt = w.dtype.type
    zero = dt(0.0)
    for jj in range(nnz):
        f = indices[start + jj] if indices.shape[0] else jj
        cs = cum[itr - 1]
        csp = cum_prox[itr - 1] if prox else zero
        if hist[f] != 0:
            cs = dt(cs - cum[hist[f] - 1])
            if prox:
                csp = dt(csp - cum_prox[hist[f] - 1])
        for c in range(k):
            idx = f * k + c
            if not prox:
                w[idx] = dt(w[idx] - dt(cs * sum_grad[idx]))
            elif abs(dt(sum_grad[idx] * cs)) < csp:
                w[idx] = _soft(dt(w[idx] - dt(cs * sum_grad[idx])), csp, zero)
            else:  # step by step, newest first (scikit-learn's loop order)
                for li in range(itr - 1, hist[f] - 1, -1):
                    gs = dt(cum[li] - cum[li - 1]) if li > 0 else cum[li]
                    ps = dt(cum_prox[li] - cum_prox[li - 1]) if li > 0 else cum_prox[li]
                    w[idx] = _soft(dt(w[idx] - dt(sum_grad[idx] * gs)), ps, zero)
            if reset:
                w[idx] = dt(w[idx] * wscale)
                if not math.isfinite(w[idx]):
                    return False
        hist[f] = itr % n if reset else itr
    if reset:
        cum[itr - 1] = zero
        if prox:
            cum_prox[itr - 1] = zero
    return True


@_jit
def _gradient(grad, loss, ys, pred, sw):
    """The sample's loss gradient at pred into grad (scikit-learn's cy_gradient)."""
    dt = grad.dtype.type
    k = grad.shape[0]
    if loss == MULTINOMIAL:
        top = np.float64(pred[0])
        for c in range(1, k):
            if top < pred[c]:
                top = np.float64(pred[c])
        total = 0.0
        for c in range(k):
            grad[c] = dt(math.exp(np.float64(pred[c]) - top))
            total += np.float64(grad[c])
        for c in range(k):
            g = dt(np.float64(grad[c]) / total)
            grad[c] = dt(dt(g - (dt(1.0) if ys == c else dt(0.0))) * sw)
        return
    yd, raw = np.float64(ys), np.float64(pred[0])
    if loss == SQUARED:
        g = raw - yd
    elif raw > -37.0:
        e = math.exp(-raw)
        g = ((1.0 - yd) - yd * e) / (1.0 + e)
    else:
        g = math.exp(raw) - yd
    grad[0] = dt(g * np.float64(sw))


@_jit
def _sag(coef, intercept, sum_gradient, gradient_memory, intercept_sum_gradient, seen, data, indices, indptr, y,
         sample_weight, step_size, alpha, beta, tol, intercept_decay, seed, loss, saga, fit_intercept, max_iter):
    """data: dense X raveled (indices, indptr empty) or CSR X's values."""
    dt = coef.dtype.type
    p, k = coef.shape
    n = y.shape[0]
    csr = indptr.shape[0] > 0
    w = coef.ravel()  # views: coef and sum_gradient are C-contiguous
    sg = sum_gradient.ravel()
    cum = np.zeros(n, w.dtype)  # the cumulative step sizes of the just-in-time updates
    cum_prox = np.zeros(n, w.dtype)
    prev = np.zeros(p * k, w.dtype)
    pred = np.zeros(k, w.dtype)
    grad = np.zeros(k, w.dtype)
    hist = np.zeros(p, np.int64)  # the step each feature was last brought up to date at
    num_seen = 0
    for i in range(n):
        if seen[i] != 0:
            num_seen += 1
    prox = beta > 0 and saga
    wscale_update = dt(1.0 - step_size * alpha)
    wscale = dt(1.0)
    state = seed
    it = 0
    for it in range(max_iter):
        for itr in range(n):
            if state == 0:
                state = 1
            state ^= (state << 13) & _U32
            state ^= state >> 17
            state ^= (state << 5) & _U32
            s = (state % (_RAND_R_MAX + 1)) % n
            if seen[s] == 0:
                num_seen += 1
                seen[s] = 1
            start = indptr[s] if csr else s * p  # the sample: data[start:start + nnz]
            nnz = indptr[s + 1] - start if csr else p
            if itr > 0 and not _lagged(w, wscale, k, itr, cum, cum_prox, hist, prox, sg, False, n, indices, start,
                                       nnz):
                return it + 1, False
            for c in range(k):
                dot = dt(0.0)
                for jj in range(nnz):
                    f = indices[start + jj] if csr else jj
                    dot = dt(dot + dt(w[f * k + c] * data[start + jj]))
                pred[c] = dt(dt(wscale * dot) + intercept[c])
            _gradient(grad, loss, y[s], pred, sample_weight[s])
            wscale = dt(wscale * wscale_update)
            shrink = 1.0 - 1.0 / num_seen
            wscale_d = np.float64(wscale)
            for jj in range(nnz):
                f = indices[start + jj] if csr else jj
                val = data[start + jj]
                for c in range(k):
                    corr = dt(val * dt(grad[c] - gradient_memory[s, c]))
                    if saga:
                        w[f * k + c] = dt(np.float64(w[f * k + c]) - np.float64(corr) * step_size * shrink / wscale_d)
                    sg[f * k + c] = dt(sg[f * k + c] + corr)
            if fit_intercept:
                for c in range(k):
                    corr = dt(grad[c] - gradient_memory[s, c])
                    intercept_sum_gradient[c] = dt(intercept_sum_gradient[c] + corr)
                    corr = dt(np.float64(corr) * (step_size * (1.0 - 1.0 / num_seen)))
                    step = step_size * np.float64(intercept_sum_gradient[c]) / num_seen * intercept_decay
                    if saga:
                        step = step + np.float64(corr)
                    intercept[c] = dt(np.float64(intercept[c]) - step)
                    if not math.isfinite(intercept[c]):
                        return it + 1, False
            for c in range(k):
                gradient_memory[s, c] = grad[c]
            scaled = dt(wscale * dt(num_seen))  # float * int is float arithmetic in C
            before = np.float64(cum[itr - 1]) if itr > 0 else 0.0
            cum[itr] = dt(before + step_size / np.float64(scaled))
            if prox:
                before = np.float64(cum_prox[itr - 1]) if itr > 0 else 0.0
                cum_prox[itr] = dt(before + step_size * beta / np.float64(wscale))
            if wscale < 1e-9:  # rescale: apply every pending update, wscale = 1
                if not _lagged(w, wscale, k, itr + 1, cum, cum_prox, hist, prox, sg, True, n, _ALL, 0, p):
                    return it + 1, False
                wscale = dt(1.0)
        # the epoch's end: no update left pending at a convergence check
        if not _lagged(w, wscale, k, n, cum, cum_prox, hist, prox, sg, True, n, _ALL, 0, p):
            return it + 1, False
        wscale = dt(1.0)
        max_change = dt(0.0)
        max_weight = dt(0.0)
        for j in range(p * k):
            a = abs(w[j])
            if a > max_weight:
                max_weight = a
            d = abs(dt(w[j] - prev[j]))
            if d > max_change:
                max_change = d
            prev[j] = w[j]
        if (max_weight != 0 and dt(max_change / max_weight) <= tol) or (max_weight == 0 and max_change == 0):
            return it + 1, True
    return (max_iter if max_iter > 0 else 1), True


def sag(coef, intercept, sum_gradient, gradient_memory, intercept_sum_gradient, seen, X, y, sample_weight,
        step_size, alpha, beta, tol, intercept_decay, seed, loss, saga, fit_intercept, max_iter):
    """Solve in place on coef, intercept and the memory arrays; returns (n_iter, finite)."""
    # one compiled form for both: dense X as its raveled rows without indices, CSR as (data, indices, indptr)
    data, indices, indptr = X if isinstance(X, tuple) else (X.ravel(), _ALL, np.zeros(0, np.int64))
    it, finite = _sag(coef, intercept, sum_gradient, gradient_memory, intercept_sum_gradient, seen, data, indices,
                      indptr, y, sample_weight, float(step_size), float(alpha), float(beta), float(tol),
                      float(intercept_decay), int(seed), int(loss), bool(saga), bool(fit_intercept), int(max_iter))
    return int(it), bool(finite)
