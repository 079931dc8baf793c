"""Elastic-net coordinate descent compiled with Numba.

The same steps as ``_enet_reference.enet_cd`` (the spec; scikit-learn's
enet_coordinate_descent), as one @njit function: dots and axpys are plain loops
over the contiguous rows of ``xt`` (X transposed), the dots with
``_numba_math.vdot`` (16 partial sums in vector registers, as the C solver's
fnn_rdot). All arithmetic in the arrays' dtype; no fastmath, so the dots keep
their order.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._numba_math import vdot

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)
_RAND_R_MAX = 2147483647
_U32 = 0xFFFFFFFF


@_jit
def _axpy(r, a, x):
    for i in range(r.shape[0]):
        r[i] += a * x[i]


@_jit
def _soft_threshold(tmp, alpha, denom, positive):
    """The reference's soft_threshold: a coordinate's new value from tmp."""
    dt = type(tmp)
    if positive and tmp < 0:
        return dt(0.0)
    mag = abs(tmp) - alpha
    sgn = dt(1.0) if tmp > 0 else (dt(-1.0) if tmp < 0 else dt(0.0))
    return sgn * (mag if mag > 0 else dt(0.0)) / denom


@_jit
def _gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive):
    """The reference's gap_tail: (gap, dual norm) from xta = X^T R and R's sums (every form's)."""
    dt = w.dtype.type
    p = w.shape[0]
    if alpha == 0:
        dn = vdot(xta, xta)
        if beta == 0:
            return dn, dn
        return r_norm2 + dt(0.5) * beta * w_l2 - ry + dt(1.0) / (dt(2.0) * beta) * dn, dn
    for j in range(p):
        xta[j] -= beta * w[j]
    dn = xta[0] if positive else abs(xta[0])
    for j in range(1, p):
        v = xta[j] if positive else abs(xta[j])
        if v > dn:
            dn = v
    w_l1 = dt(0.0)
    for j in range(p):
        w_l1 += abs(w[j])
    primal = dt(0.5) * (r_norm2 + beta * w_l2) + alpha * w_l1
    scale = alpha / dn if dn > alpha else dt(1.0)
    dual = dt(-0.5) * (scale * scale) * (r_norm2 + beta * w_l2) + scale * ry
    return primal - dual, dn


@_jit
def _gap(w, alpha, beta, xt, y, R, xta, positive):
    dt = w.dtype.type
    w_l2 = vdot(w, w) if beta > 0 else dt(0.0)
    r_norm2 = vdot(R, R)
    ry = dt(0.0) if (alpha == 0 and beta == 0) else vdot(R, y)
    for j in range(w.shape[0]):
        xta[j] = vdot(xt[j], R)
    return _gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive)


@_jit
def _screen(w, diag, xta, alpha, beta, dual_norm, gap, active, excluded, first, kept, rows, sign):
    """The reference's screen; a dropped non-zero w_j leaves ``kept`` as kept += sign w_j rows[j]
    (R with X's columns and +1, or Q w with Q's rows and -1). Returns n_active."""
    dt = w.dtype.type
    n_active = 0
    bound = dt(math.sqrt(2.0 * gap)) / alpha if gap >= 0 else dt(np.nan)
    denom = dual_norm if dual_norm > alpha else alpha
    for j in range(w.shape[0]):
        if first and diag[j] == 0:
            w[j] = 0.0
            excluded[j] = True
            continue
        if not first and excluded[j]:
            continue
        d_j = (dt(1.0) - abs(xta[j] / denom)) / dt(math.sqrt(diag[j] + beta))
        if d_j <= bound:
            active[n_active] = j
            n_active += 1
            excluded[j] = False
        else:
            if w[j] != 0:
                _axpy(kept, sign * w[j], rows[j])
                w[j] = 0.0
            excluded[j] = True
    return n_active


@_jit
def _rand_r(state):
    """scikit-learn's xorshift on a state kept below 2^32: (new state, draw)."""
    if state == 0:
        state = 1
    state ^= (state << 13) & _U32
    state ^= state >> 17
    state ^= (state << 5) & _U32
    return state, state % (_RAND_R_MAX + 1)


@_jit
def _gram_form(xt, y, gram, xty, p):
    """(Q, q): X^T X (``gram`` when it is [p, p], else from its upper triangle by the rows'
    dots: exactly symmetric) and X^T y (``xty`` when it is [p])."""
    if xty.shape[0] == p:
        q = xty
    else:
        q = np.empty(p, y.dtype)
        for i in range(p):
            q[i] = vdot(xt[i], y)
    if gram.shape[0] == p:
        return gram, q
    Q = np.empty((p, p), xt.dtype)
    for i in range(p):
        for j in range(i, p):
            Q[i, j] = vdot(xt[i], xt[j])
            Q[j, i] = Q[i, j]
    return Q, q


@_jit
def _gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive):
    dt = w.dtype.type
    w_l2 = vdot(w, w) if beta > 0 else dt(0.0)
    q_w = vdot(q, w)
    r_norm2 = y_norm2 + vdot(w, Qw) - dt(2.0) * q_w
    ry = dt(0.0) if (alpha == 0 and beta == 0) else y_norm2 - q_w
    for j in range(w.shape[0]):
        xta[j] = q[j] - Qw[j]
    return _gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive)


@_jit
def _cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, it0, tol, d_w_tol, state, random, positive, screening,
             active, excluded, n_active):
    """Sweeps it0 .. max_iter - 1 in the Gram form (the reference's cd_gram)."""
    dt = w.dtype.type
    p = w.shape[0]
    Qw = np.zeros(p, w.dtype)
    diag = np.empty(p, w.dtype)
    for j in range(p):
        Qw[j] = vdot(Q[j], w)
        diag[j] = Q[j, j]
    minus = w.dtype.type(-1.0)
    xta = np.empty(p, w.dtype)
    g = dt(np.inf)
    if it0 == 0:
        g, dn = _gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive)
        if g <= tol:
            return float(g), float(tol), 0, True
        if screening:
            n_active = _screen(w, diag, xta, alpha, beta, dn, g, active, excluded, True, Qw, Q, minus)
    for it in range(it0, max_iter):
        w_max = dt(0.0)
        d_w_max = dt(0.0)
        for f in range(n_active):
            if random:
                state, draw = _rand_r(state)
                j = active[draw % n_active]
            else:
                j = active[f]
            if Q[j, j] == 0:
                continue
            w_j = w[j]
            tmp = q[j] - Qw[j] + w_j * Q[j, j]
            w[j] = _soft_threshold(tmp, alpha, Q[j, j] + beta, positive)
            if w[j] != w_j:
                _axpy(Qw, w[j] - w_j, Q[j])
            d = abs(w[j] - w_j)
            if d > d_w_max:
                d_w_max = d
            if abs(w[j]) > w_max:
                w_max = abs(w[j])
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            g, dn = _gap_gram(w, alpha, beta, Qw, q, y_norm2, xta, positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                n_active = _screen(w, diag, xta, alpha, beta, dn, g, active, excluded, False, Qw, Q, minus)
    return float(g), float(tol), max_iter, False


@_jit
def _gram_now(it, gram_after, r_prev, r, d_w_tol):
    """_enet_reference.gram_now."""
    if it >= 2 * gram_after or not (float(r_prev) > float(r) > float(d_w_tol)):
        return True
    return math.log(float(d_w_tol) / float(r)) / math.log(float(r) / float(r_prev)) > gram_after


@_jit
def _cd(w, xt, y, alpha, beta, max_iter, tol, seed, random, positive, screening, gram_after, gram, xty,
        gram_predict):
    dt = w.dtype.type
    p = w.shape[0]
    alpha, beta, tol = dt(alpha), dt(beta), dt(tol)
    d_w_tol = tol
    if alpha == 0:
        screening = False
    y_norm2 = vdot(y, y)
    active = np.arange(p)
    excluded = np.zeros(p, np.bool_)
    state = seed  # an int64 kept below 2^32: the xorshift masked to 32 bits
    if gram_after == 0:
        Q, q = _gram_form(xt, y, gram, xty, p)
        return _cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, 0, tol * y_norm2, d_w_tol, state, random,
                        positive, screening, active, excluded, p)
    norm2 = np.empty(p, w.dtype)
    for j in range(p):
        norm2[j] = vdot(xt[j], xt[j])
    R = y.copy()
    for j in range(p):
        if w[j] != 0:
            _axpy(R, -w[j], xt[j])
    tol = tol * y_norm2
    xta = np.empty(p, w.dtype)
    g, dn = _gap(w, alpha, beta, xt, y, R, xta, positive)
    if g <= tol:
        return float(g), float(tol), 0, True
    n_active = p
    if screening:
        n_active = _screen(w, norm2, xta, alpha, beta, dn, g, active, excluded, True, R, xt, dt(1.0))
    r_prev = r = dt(np.nan)
    for it in range(max_iter):
        if 0 < gram_after <= it and (not gram_predict or _gram_now(it, gram_after, r_prev, r, d_w_tol)):
            Q, q = _gram_form(xt, y, gram, xty, p)
            return _cd_gram(w, Q, q, y_norm2, alpha, beta, max_iter, it, tol, d_w_tol, state, random, positive,
                            screening, active, excluded, n_active)
        w_max = dt(0.0)
        d_w_max = dt(0.0)
        for f in range(n_active):
            if random:
                state, draw = _rand_r(state)
                j = active[draw % n_active]
            else:
                j = active[f]
            if norm2[j] == 0:
                continue
            w_j = w[j]
            tmp = vdot(xt[j], R) + w_j * norm2[j]
            w[j] = _soft_threshold(tmp, alpha, norm2[j] + beta, positive)
            if w[j] != w_j:
                _axpy(R, w_j - w[j], xt[j])
            d = abs(w[j] - w_j)
            if d > d_w_max:
                d_w_max = d
            if abs(w[j]) > w_max:
                w_max = abs(w[j])
        r_prev = r
        r = d_w_max / w_max if w_max > 0 else dt(0.0)
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            g, dn = _gap(w, alpha, beta, xt, y, R, xta, positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                n_active = _screen(w, norm2, xta, alpha, beta, dn, g, active, excluded, False, R, xt, dt(1.0))
    return float(g), float(tol), max_iter, False


def enet_cd(w, xt, y, alpha, beta, max_iter, tol, seed, random, positive, screening, gram_after=-1, gram=None,
            xty=None, gram_predict=False):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged). xt may be
    None when gram and xty are given and gram_after is 0."""
    # (one compiled signature: a 0 x 0 Q, an empty q and a 0 x n X mean "form it" / "none")
    if gram is None:
        gram = np.empty((0, 0), w.dtype)
    if xty is None:
        xty = np.empty(0, w.dtype)
    if xt is None:
        xt = np.empty((0, y.shape[0]), w.dtype)
    g, t, it, ok = _cd(w, xt, y, float(alpha), float(beta), int(max_iter), float(tol), int(seed),
                       bool(random), bool(positive), bool(screening), int(gram_after), gram, xty,
                       bool(gram_predict))
    return g, t, int(it), bool(ok)
