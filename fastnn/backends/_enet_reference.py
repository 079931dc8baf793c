"""Elastic-net coordinate descent in NumPy: the executable spec of ``fastnn.kernels.enet_cd``.

scikit-learn's ``enet_coordinate_descent`` (sklearn/linear_model/_cd_fast.pyx)
step for step, so that a Lasso fit takes the same sweeps to the same
coefficients. Minimises, over w (updated in place from its start value),

    1/2 ||y - X w||^2 + alpha ||w||_1 + beta/2 ||w||^2

with X given transposed, ``xt`` [n_features, n_samples] (each column of X a
contiguous row). Per sweep, for each coordinate j (in order, or drawn with
scikit-learn's xorshift from ``seed`` when ``random``; only the active set when
screening): skip all-zero columns; tmp = X_j . R + w_j |X_j|^2 (R = y - X w);
w_j = 0 if positive and tmp < 0, else sign(tmp) max(|tmp| - alpha, 0) /
(|X_j|^2 + beta); R -= (w_j_new - w_j) X_j. When the sweep's largest change is
<= tol times the largest |w_j| (or all w are 0, or it is the last sweep), the
duality gap is computed and the solver stops once it is <= tol * y.y; gap-safe
screening (Fercoq et al. 2015) then drops features that must be 0. All
arithmetic is in the arrays' dtype. Like every backend it trusts its inputs.

``gram_after`` >= 0: after that many sweeps without convergence the solver
continues in the Gram form, scikit-learn's ``enet_coordinate_descent_gram`` from
the state reached (w, the active set, the generator, the sweep count): Q = X^T X
(its upper triangle mirrored) and q = X^T y formed once, Qw = Q w kept instead of
R, tmp = q_j - (Qw)_j + w_j Q_jj and the gap from Q w, q and y.y (gap_enet_gram),
so each update costs O(n_features) instead of O(n_samples). 0: the Gram form from
the start (scikit-learn's precompute=True); -1: never. With ``gram_predict`` (and
gram_after >= 1) gram_after is what forming Q costs, in sweeps: from that sweep on, Q
is formed only once the data form looks slower (``gram_now``).

Returns (gap, tol * y.y, sweeps run, converged).
"""
from __future__ import annotations

import math

import numpy as np

NAME = "numpy"

RAND_R_MAX = 2147483647
_U32 = 0xFFFFFFFF


def rand_r(state: list) -> int:
    """scikit-learn's our_rand_r: 32-bit xorshift on state[0], then mod 2^31."""
    s = state[0] or 1
    s ^= (s << 13) & _U32
    s ^= s >> 17
    s ^= (s << 5) & _U32
    state[0] = s
    return s % (RAND_R_MAX + 1)


def soft_threshold(tmp, alpha, denom, positive):
    """A coordinate's new value from tmp = X_j . (R + w_j X_j): 0 if positive and tmp < 0,
    else sign(tmp) max(|tmp| - alpha, 0) / denom (denom = |X_j|^2 + beta)."""
    dt = type(tmp)
    if positive and tmp < 0:
        return dt(0)
    return dt(np.sign(tmp)) * max(abs(tmp) - alpha, dt(0)) / denom


def gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive):
    """(duality gap, dual norm) from xta = X^T R (made X^T R - beta w when alpha > 0) and
    R's sums: scikit-learn's formulation A (alpha > 0) or B (alpha = 0; with beta = 0 too,
    the first-order condition ||X^T R||^2). Shared by every form of the solver."""
    dt = w.dtype.type
    if alpha == 0:
        dn = dt(xta @ xta)
        if beta == 0:
            return dn, dn
        return r_norm2 + dt(0.5) * beta * w_l2 - ry + dt(1) / (dt(2) * beta) * dn, dn
    xta -= beta * w
    dn = dt(np.max(xta) if positive else np.max(np.abs(xta)))
    w_l1 = dt(np.sum(np.abs(w)))
    primal = dt(0.5) * (r_norm2 + beta * w_l2) + alpha * w_l1
    scale = alpha / dn if dn > alpha else dt(1)
    dual = dt(-0.5) * (scale * scale) * (r_norm2 + beta * w_l2) + scale * ry
    return primal - dual, dn


def gap(w, alpha, beta, xt, y, R, xta, positive):
    """(duality gap at (w, R), dual norm); xta receives X^T R - beta w (gap_enet)."""
    dt = w.dtype.type
    w_l2 = dt(w @ w) if beta > 0 else dt(0)
    ry = dt(0) if (alpha == 0 and beta == 0) else dt(R @ y)
    xta[:] = xt @ R
    return gap_tail(xta, w, alpha, beta, dt(R @ R), ry, w_l2, positive)


def screen(w, diag, xta, alpha, beta, dual_norm, gap_value, excluded, first, drop):
    """Gap-safe screening: the active features, in order; the others are zeroed, ``drop(j)``
    first taking a non-zero w_j out of what the solver keeps (R, or Q w). ``diag``: the
    columns' squared norms (0: an all-zero column, dropped on the first pass)."""
    dt = w.dtype.type
    bound = dt(math.sqrt(2 * gap_value) if gap_value >= 0 else math.nan) / alpha
    denom = max(alpha, dual_norm)
    active = []
    for j in range(w.shape[0]):
        if first and diag[j] == 0:
            w[j] = 0
            excluded[j] = True
            continue
        if not first and excluded[j]:
            continue
        d_j = (dt(1) - abs(xta[j] / denom)) / dt(math.sqrt(diag[j] + beta))
        if d_j <= bound:
            active.append(j)
            excluded[j] = False
        else:
            if w[j] != 0:
                drop(j)
                w[j] = 0
            excluded[j] = True
    return active


def gram_form(xt, y, gram=None, xty=None):
    """(Q, q): X^T X (``gram`` when given, else its upper triangle mirrored: exactly
    symmetric), and X^T y (``xty`` when given)."""
    if gram is None:
        gram = xt @ xt.T
        gram = np.triu(gram) + np.triu(gram, 1).T
    return gram, (xt @ y if xty is None else xty)


def gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive):
    """gap() from Q w, q and y.y (scikit-learn's gap_enet_gram): R.R = y.y + w.Qw - 2 q.w."""
    dt = w.dtype.type
    w_l2 = dt(w @ w) if beta > 0 else dt(0)
    q_w = dt(q @ w)
    r_norm2 = dt(y_norm2 + dt(w @ Qw) - dt(2) * q_w)
    ry = dt(0) if (alpha == 0 and beta == 0) else dt(y_norm2 - q_w)
    xta[:] = q - Qw
    return gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive)


def cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, it0, tol, d_w_tol, state, random, positive, screening,
            active, excluded):
    """Sweeps it0 .. max_iter - 1 in the Gram form (scikit-learn's enet_coordinate_descent_gram's
    loop); it0 = 0 starts with its gap check and first screening. ``active`` and ``excluded``: the
    data form's screening state (unused when it0 = 0), ``state`` its generator."""
    dt = w.dtype.type
    p = w.shape[0]
    Qw = Q @ w
    diag = np.diag(Q)
    xta = np.empty(p, w.dtype)

    def drop(j):
        Qw[:] -= w[j] * Q[j]

    g = dt(np.inf)
    if it0 == 0:
        g, dn = gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive)
        if g <= tol:
            return float(g), float(tol), 0, True
        if screening:
            active = screen(w, diag, xta, alpha, beta, dn, g, excluded, True, drop)
    for it in range(it0, max_iter):
        w_max = d_w_max = dt(0)
        n_active = len(active)
        for f in range(n_active):
            j = active[rand_r(state) % n_active] if random else active[f]
            if Q[j, j] == 0:
                continue
            w_j = w[j]
            tmp = q[j] - Qw[j] + w_j * Q[j, j]
            w[j] = soft_threshold(tmp, alpha, Q[j, j] + beta, positive)
            if w[j] != w_j:
                Qw += (w[j] - w_j) * Q[j]
            d_w_max = max(d_w_max, abs(w[j] - w_j))
            w_max = max(w_max, abs(w[j]))
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            g, dn = gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                active = screen(w, diag, xta, alpha, beta, dn, g, excluded, False, drop)
    return float(g), float(tol), max_iter, False


def gram_now(it, gram_after, r_prev, r, d_w_tol):
    """Whether the data form, at sweep ``it`` >= gram_after >= 1 with gram_predict, enters the
    Gram form now: r and r_prev are the last two sweeps' d_w_max / w_max (NaN before a sweep
    ran; 0 when w was all zeros), the quantity the stop test compares with d_w_tol. Yes once it
    is twice gram_after (the data form has then cost twice Q), when the ratio does not fall
    (or has fallen to d_w_tol, the gap then short of its tolerance), or when its geometric
    extrapolation to d_w_tol takes more than gram_after further sweeps. Doubles for the logs,
    as every backend computes them."""
    if it >= 2 * gram_after or not (float(r_prev) > float(r) > float(d_w_tol)):
        return True
    return math.log(float(d_w_tol) / float(r)) / math.log(float(r) / float(r_prev)) > gram_after


def enet_cd(w, xt, y, alpha, beta, max_iter, tol, seed, random, positive, screening, gram_after=-1, gram=None,
            xty=None, gram_predict=False):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged). xt may be
    None when gram and xty are given and gram_after is 0 (the Gram form needs no X)."""
    dt = w.dtype.type
    alpha, beta, tol = dt(alpha), dt(beta), dt(tol)
    p = w.shape[0]
    d_w_tol = tol
    screening = screening and alpha != 0
    y_norm2 = dt(y @ y)
    state = [int(seed) & _U32]
    if gram_after == 0:
        Q, q = gram_form(xt, y, gram, xty)
        return cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, 0, tol * y_norm2, d_w_tol, state, random,
                       positive, screening, list(range(p)), np.zeros(p, bool))
    norm2 = np.array([xt[j] @ xt[j] for j in range(p)], dtype=w.dtype)
    R = y.copy()
    for j in range(p):
        if w[j] != 0:
            R -= w[j] * xt[j]

    def drop(j):
        R[:] += w[j] * xt[j]

    tol = tol * y_norm2
    xta = np.empty(p, w.dtype)
    g, dn = gap(w, alpha, beta, xt, y, R, xta, positive)
    if g <= tol:
        return float(g), float(tol), 0, True
    excluded = np.zeros(p, bool)
    active = screen(w, norm2, xta, alpha, beta, dn, g, excluded, True, drop) if screening else list(range(p))
    r_prev = r = dt(np.nan)
    for it in range(max_iter):
        if 0 < gram_after <= it and (not gram_predict or gram_now(it, gram_after, r_prev, r, d_w_tol)):
            Q, q = gram_form(xt, y, gram, xty)
            return cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, it, tol, d_w_tol, state, random, positive,
                           screening, active, excluded)
        w_max = d_w_max = dt(0)
        n_active = len(active)
        for f in range(n_active):
            j = active[rand_r(state) % n_active] if random else active[f]
            if norm2[j] == 0:
                continue
            w_j = w[j]
            tmp = dt(xt[j] @ R) + w_j * norm2[j]
            w[j] = soft_threshold(tmp, alpha, norm2[j] + beta, positive)
            if w[j] != w_j:
                R += (w_j - w[j]) * xt[j]
            d_w_max = max(d_w_max, abs(w[j] - w_j))
            w_max = max(w_max, abs(w[j]))
        r_prev, r = r, (d_w_max / w_max if w_max > 0 else dt(0))
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            g, dn = gap(w, alpha, beta, xt, y, R, xta, positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                active = screen(w, norm2, xta, alpha, beta, dn, g, excluded, False, drop)
    return float(g), float(tol), max_iter, False
