"""SAG / SAGA in plain Python: the executable spec of ``fastnn.kernels.sag``.

scikit-learn's ``sag32`` / ``sag64`` (sklearn/linear_model/_sag_fast.pyx.tp) step
for step, for dense X and for CSR X (passed as the tuple (data, indices, indptr):
its CSRDataset), so that a fit takes the same epochs to the same coefficients.
Minimises over W = coef [n_features, n_classes] and b = intercept

    sum_i sw_i loss(y_i, x_i W + b) / n + alpha/2 ||W||^2 + beta ||W||_1

(alpha, beta already divided by n; the L1 term only with saga). Each epoch draws
n samples with replacement (scikit-learn's xorshift, _enet_reference's ``rand_r``, from
``seed``). For the drawn sample i, with g_i its loss gradient at the current
prediction and m_i the one remembered from its last draw:

* sum_gradient += x_i (g_i - m_i); m_i = g_i (SAG keeps the sum of the latest
  gradient of every sample seen);
* W <- W (1 - step alpha) - step / n_seen sum_gradient, and with saga also
  - step (1 - 1/n_seen) x_i (g_i - m_i) (SAGA's unbiased correction), then the
  L1 prox (soft-thresholding by step beta); the intercept likewise, with its
  sum scaled by intercept_decay.

As scikit-learn's, W is kept as wscale * W (the shrinkage is one multiplication)
and the averaged-gradient steps are applied to a feature only when it is read
("just in time"), from the running sums ``cum`` / ``cum_prox`` of the step
sizes (``hist``: the step each feature was last brought up to date at; a dense
sample reads every feature, a CSR one only its own); all pending steps are applied
at the end of each epoch, then the epoch's largest weight change over the largest weight is compared with tol.

Arithmetic: each value is rounded to the arrays' dtype exactly where scikit-learn's
C rounds it (``T`` below; identity in float64) and is a double elsewhere (its
step size, the exp of the losses), in the same order: float32 values computed in
double and rounded once are float32 arithmetic's correctly rounded results.
Like every backend it trusts its inputs. Returns (n_iter, finite): scikit-learn's
epoch count, and False when a weight became NaN or infinite (the solve stopped).
"""
from __future__ import annotations

import math

import numpy as np

from ._enet_reference import _U32, rand_r

NAME = "numpy"

#: loss codes, matching FNN_SAG_* in csrc/fastnn.h
SQUARED, LOG, MULTINOMIAL = 0, 1, 2
LOSSES = {"squared": SQUARED, "log": LOG, "multinomial": MULTINOMIAL}



def loss_gradient(loss, y, raw, sw, T):
    """The sample's gradient of the loss w.r.t. its raw predictions (scikit-learn's cy_gradient)."""
    if loss == MULTINOMIAL:  # CyHalfMultinomialLoss: softmax - onehot, the exps rounded to T
        top = max(raw)  # the first maximum, as its strict < scan
        p = [T(math.exp(r - top)) for r in raw]
        total = 0.0
        for v in p:
            total += v
        return [T(T(T(v / total) - (y == c)) * sw) for c, v in enumerate(p)]
    if loss == SQUARED:
        g = raw[0] - y
    elif raw[0] > -37:  # CyHalfBinomialLoss: expit(raw) - y, overflow-safe
        e = math.exp(-raw[0])
        g = ((1 - y) - y * e) / (1 + e)
    else:
        g = math.exp(raw[0]) - y
    return [T(g * sw)]


def soft(x, shrink, T):
    """Soft-thresholding: max(x - s, 0) - max(-x - s, 0)."""
    return T(max(T(x - shrink), 0.0) - max(T(-x - shrink), 0.0))


def lagged_update(w, wscale, k, itr, cum, cum_prox, hist, prox, sum_grad, reset, n, T, features):
    """Apply the pending steps up to step itr - 1 to the features (in that order); reset
    also multiplies by wscale and clears the sums. False on a non-finite weight."""
    for f in features:
        cs = cum[itr - 1]
        csp = cum_prox[itr - 1] if prox else 0.0
        if hist[f] != 0:
            cs = T(cs - cum[hist[f] - 1])
            if prox:
                csp = T(csp - cum_prox[hist[f] - 1])
        for c in range(k):
            idx = f * k + c
            if not prox:
                w[idx] = T(w[idx] - T(cs * sum_grad[idx]))
            elif abs(T(sum_grad[idx] * cs)) < csp:
                # all the gradient steps, then all the prox steps (lightning's shortcut)
                w[idx] = soft(T(w[idx] - T(cs * sum_grad[idx])), csp, T)
            else:  # step by step, newest first (scikit-learn's loop order)
                for li in range(itr - 1, hist[f] - 1, -1):
                    gs = T(cum[li] - cum[li - 1]) if li > 0 else cum[li]
                    ps = T(cum_prox[li] - cum_prox[li - 1]) if li > 0 else cum_prox[li]
                    w[idx] = soft(T(w[idx] - T(sum_grad[idx] * gs)), ps, T)
            if reset:
                w[idx] = T(w[idx] * wscale)
                if not math.isfinite(w[idx]):
                    return False
        hist[f] = itr % n if reset else itr
    if reset:
        cum[itr - 1] = 0.0
        if prox:
            cum_prox[itr - 1] = 0.0
    return True


def sag(coef, intercept, sum_gradient, gradient_memory, intercept_sum_gradient, seen, X, y, sample_weight,
        step_size, alpha, beta, tol, intercept_decay, seed, loss, saga, fit_intercept, max_iter):
    """Solve in place on coef, intercept and the memory arrays; returns (n_iter, finite)."""
    T = float if coef.dtype == np.float64 else (lambda v: float(np.float32(v)))
    p, k = coef.shape
    n = sample_weight.shape[0]
    # plain Python floats (each holding a value of the dtype) for the loops; written back at the end
    w, b = coef.ravel().tolist(), intercept.tolist()
    sg, mem, isg = sum_gradient.ravel().tolist(), gradient_memory.ravel().tolist(), intercept_sum_gradient.tolist()
    if isinstance(X, tuple):  # CSR: row i is the values data[a:b] of the features indices[a:b]
        data, indices, indptr = (a.tolist() for a in X)
        rows = [(indices[a:b], data[a:b]) for a, b in zip(indptr[:-1], indptr[1:])]
    else:
        rows = [(range(p), x) for x in X.tolist()]
    yl, swl = y.tolist(), sample_weight.tolist()
    seen_l = seen.tolist()
    num_seen = sum(1 for s in seen_l if s)
    cum, cum_prox, hist, prev = [0.0] * n, [0.0] * n, [0] * p, [0.0] * (p * k)
    prox = beta > 0 and saga
    wscale_update = T(1.0 - step_size * alpha)
    wscale = 1.0
    state = [int(seed) & _U32]
    finite = True
    it = 0  # scikit-learn's n_iter: the epoch stopped in (the last one if none), plus 1
    for it in range(max_iter):
        for itr in range(n):
            s = rand_r(state) % n
            feats, x = rows[s]
            if not seen_l[s]:
                num_seen += 1
                seen_l[s] = 1
            if itr > 0 and not lagged_update(w, wscale, k, itr, cum, cum_prox, hist, prox, sg, False, n, T, feats):
                finite = False
                break
            raw = []
            for c in range(k):
                dot = 0.0
                for f, v in zip(feats, x):
                    dot = T(dot + T(w[f * k + c] * v))
                raw.append(T(T(wscale * dot) + b[c]))
            g = loss_gradient(loss, yl[s], raw, swl[s], T)
            wscale = T(wscale * wscale_update)
            m = mem[s * k:(s + 1) * k]
            for f, v in zip(feats, x):
                for c in range(k):
                    corr = T(v * T(g[c] - m[c]))
                    if saga:
                        w[f * k + c] = T(w[f * k + c] - corr * step_size * (1 - 1.0 / num_seen) / wscale)
                    sg[f * k + c] = T(sg[f * k + c] + corr)
            if fit_intercept:
                for c in range(k):
                    corr = T(g[c] - m[c])
                    isg[c] = T(isg[c] + corr)
                    corr = T(corr * (step_size * (1.0 - 1.0 / num_seen)))
                    step = step_size * isg[c] / num_seen * intercept_decay
                    b[c] = T(b[c] - (step + corr if saga else step))
                    if not math.isfinite(b[c]):
                        finite = False
                        break
                if not finite:
                    break
            mem[s * k:(s + 1) * k] = g
            scaled = T(wscale * num_seen)  # float * int is float arithmetic in C
            cum[itr] = T((cum[itr - 1] if itr else 0.0) + step_size / scaled)
            if prox:
                cum_prox[itr] = T((cum_prox[itr - 1] if itr else 0.0) + step_size * beta / wscale)
            if wscale < 1e-9:  # rescale: apply every pending update, wscale = 1
                if not lagged_update(w, wscale, k, itr + 1, cum, cum_prox, hist, prox, sg, True, n, T, range(p)):
                    finite = False
                    break
                wscale = 1.0
        if not finite:
            break
        # the epoch's end: no update left pending at a convergence check
        if not lagged_update(w, wscale, k, n, cum, cum_prox, hist, prox, sg, True, n, T, range(p)):
            finite = False
            break
        wscale = 1.0
        max_change = max_weight = 0.0
        for j in range(p * k):
            max_weight = max(max_weight, abs(w[j]))
            max_change = max(max_change, abs(T(w[j] - prev[j])))
            prev[j] = w[j]
        if (max_weight != 0 and T(max_change / max_weight) <= tol) or (max_weight == 0 and max_change == 0):
            break
    coef.ravel()[:] = w
    intercept[:] = b
    sum_gradient.ravel()[:] = sg
    gradient_memory.ravel()[:] = mem
    intercept_sum_gradient[:] = isg
    seen[:] = seen_l
    return it + 1, finite
