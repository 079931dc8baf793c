"""Elastic-net coordinate descent on a sparse CSC X, compiled with Numba.

The steps of ``_enet_sparse_reference.enet_cd_sparse`` (the spec; scikit-learn's
sparse_enet_coordinate_descent) with one change of representation: the residual is
kept as ``R = Rx + c s`` (s the row weights, ones without them), the centring's
share of every update (``- a s m_j`` on all n_samples rows) folded into the one
scalar c. A coordinate update then touches only column j's non-zeros, O(nnz_j)
instead of scikit-learn's O(n_samples) when X is centred; ``X_j . R`` is ``X_j . Rx
+ c (X_j . s)`` with ``X_j . s`` computed once per column, and R itself is formed
only for the duality gap. The same iterates in exact arithmetic; the roundings
differ from the reference's by a few ulps of c. Sparse dots run in stored order,
the dense ones (R . R, R . y) with ``_numba_math.vdot``; no fastmath.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._enet_numba import _gap_tail, _soft_threshold
from ._numba_math import vdot

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)
_RAND_R_MAX = 2147483647
_U32 = 0xFFFFFFFF


@_jit
def _col_dot(data, indices, lo, hi, v):
    """X_j . v over column j's non-zeros (stored order, as scikit-learn's sparse_dot)."""
    acc = v.dtype.type(0.0)
    for k in range(lo, hi):
        acc += data[k] * v[indices[k]]
    return acc


@_jit
def _col_sum(data, lo, hi):
    """The sum of column j's non-zeros (X_j . s for s = ones)."""
    acc = data.dtype.type(0.0)
    for k in range(lo, hi):
        acc += data[k]
    return acc


@_jit
def _add(Rx, c, a, j, data, indices, indptr, s, weighted, x_mean, center):
    """R += a s Z_j in the lazy form: Rx on column j's rows, the centring into c; returns c."""
    for k in range(indptr[j], indptr[j + 1]):
        i = indices[k]
        Rx[i] += (s[i] * data[k] if weighted else data[k]) * a
    if center:
        c -= x_mean[j] * a
    return c


@_jit
def _materialise(R, Rx, c, s, weighted):
    """R = Rx + c s (the residual scikit-learn keeps), for the duality gap."""
    for i in range(R.shape[0]):
        R[i] = Rx[i] + (s[i] * c if weighted else c)


@_jit
def _gap(w, alpha, beta, data, indices, indptr, y, s, weighted, x_mean, center, R, R_sum, xta, positive):
    dt = w.dtype.type
    p = w.shape[0]
    w_l2 = vdot(w, w) if beta > 0 else dt(0.0)
    if weighted:  # R = s * residual: the weighted squared residual is sum R_i^2 / s_i
        r_norm2 = dt(0.0)
        for i in range(R.shape[0]):
            if s[i] != 0:
                r_norm2 += (R[i] * R[i]) / s[i]
    else:
        r_norm2 = vdot(R, R)
    ry = dt(0.0) if (alpha == 0 and beta == 0) else vdot(R, y)
    for j in range(p):  # Z^T R
        xta[j] = _col_dot(data, indices, indptr[j], indptr[j + 1], R)
        if center:
            xta[j] -= x_mean[j] * R_sum
    return _gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive)


@_jit
def _norm2(data, indices, lo, hi, s, weighted, m, center, n, s_sum):
    """sum_i s_i (X_ij - m)^2: column j's non-zeros, then m^2 times its zeros' weight."""
    dt = data.dtype.type
    acc = dt(0.0)
    if not weighted:
        for k in range(lo, hi):
            d = data[k] - m
            acc += d * d
        if center:
            acc += dt(n - (hi - lo)) * (m * m)
        return acc
    for k in range(lo, hi):
        d = data[k] - m
        acc += s[indices[k]] * (d * d) - s[indices[k]] * (m * m)
    if center:
        acc += (m * m) * s_sum
    return acc


@_jit
def _screen(w, Rx, c, data, indices, indptr, s, weighted, x_mean, center, norm2, xta, alpha, beta, dual_norm,
            gap, active, excluded, first):
    """Gap-safe screening; returns (n_active, c)."""
    dt = w.dtype.type
    n_active = 0
    bound = dt(math.sqrt(2.0 * gap)) / alpha if gap >= 0 else dt(np.nan)
    denom = dual_norm if dual_norm > alpha else alpha
    for j in range(w.shape[0]):
        if first and norm2[j] == 0:
            w[j] = 0.0
            excluded[j] = True
            continue
        if not first and excluded[j]:
            continue
        d_j = (dt(1.0) - abs(xta[j] / denom)) / dt(math.sqrt(norm2[j] + beta))
        if d_j <= bound:
            active[n_active] = j
            n_active += 1
            excluded[j] = False
        else:
            if w[j] != 0:
                c = _add(Rx, c, w[j], j, data, indices, indptr, s, weighted, x_mean, center)
                w[j] = 0.0
            excluded[j] = True
    return n_active, c


@_jit
def _cd(w, data, indices, indptr, y, s, weighted, x_mean, alpha, beta, max_iter, tol, seed, random, positive,
        screening):
    dt = w.dtype.type
    p, n = w.shape[0], y.shape[0]
    alpha, beta, tol = dt(alpha), dt(beta), dt(tol)
    center = False
    for j in range(p):
        if x_mean[j] != 0:
            center = True
            break
    s_sum = dt(0.0)
    if weighted:
        for i in range(n):
            s_sum += s[i]
    norm2 = np.empty(p, w.dtype)
    sx = np.zeros(p, w.dtype)  # X_j . s: the lazy c's share of X_j . R
    for j in range(p):
        lo, hi = indptr[j], indptr[j + 1]
        norm2[j] = _norm2(data, indices, lo, hi, s, weighted, x_mean[j], center, n, s_sum)
        if center:
            sx[j] = _col_dot(data, indices, lo, hi, s) if weighted else _col_sum(data, lo, hi)
    d_w_tol = tol
    if alpha == 0:
        screening = False
    Rx = np.empty(n, w.dtype)  # R = Rx + c s = s * (y - Z w)
    for i in range(n):
        Rx[i] = s[i] * y[i] if weighted else y[i]
    c = dt(0.0)
    for j in range(p):
        if w[j] != 0:
            c = _add(Rx, c, -w[j], j, data, indices, indptr, s, weighted, x_mean, center)
    R = np.empty(n, w.dtype)
    _materialise(R, Rx, c, s, weighted)
    R_sum = dt(0.0)
    if center:
        for i in range(n):
            R_sum += R[i]
    yw = dt(0.0)
    for i in range(n):
        yw += y[i] * (s[i] * y[i] if weighted else y[i])
    tol = tol * yw
    xta = np.empty(p, w.dtype)
    g, dn = _gap(w, alpha, beta, data, indices, indptr, y, s, weighted, x_mean, center, R, R_sum, xta, positive)
    if g <= tol:
        return float(g), float(tol), 0, True
    active = np.arange(p)
    excluded = np.zeros(p, np.bool_)
    n_active = p
    if screening:
        n_active, c = _screen(w, Rx, c, data, indices, indptr, s, weighted, x_mean, center, norm2, xta, alpha,
                              beta, dn, g, active, excluded, True)
    state = seed  # an int64 kept below 2^32: the xorshift masked to 32 bits
    for it in range(max_iter):
        w_max = dt(0.0)
        d_w_max = dt(0.0)
        for f in range(n_active):
            if random:
                if state == 0:
                    state = 1
                state ^= (state << 13) & _U32
                state ^= state >> 17
                state ^= (state << 5) & _U32
                j = active[(state % (_RAND_R_MAX + 1)) % n_active]
            else:
                j = active[f]
            if norm2[j] == 0:
                continue
            w_j = w[j]
            lo, hi = indptr[j], indptr[j + 1]
            tmp = _col_dot(data, indices, lo, hi, Rx)
            if center:
                tmp += c * sx[j]
            tmp += w_j * norm2[j]
            if center:
                tmp -= R_sum * x_mean[j]
            w[j] = _soft_threshold(tmp, alpha, norm2[j] + beta, positive)
            if w[j] != w_j:
                c = _add(Rx, c, w_j - w[j], j, data, indices, indptr, s, weighted, x_mean, center)
            d = abs(w[j] - w_j)
            if d > d_w_max:
                d_w_max = d
            if abs(w[j]) > w_max:
                w_max = abs(w[j])
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            _materialise(R, Rx, c, s, weighted)
            g, dn = _gap(w, alpha, beta, data, indices, indptr, y, s, weighted, x_mean, center, R, R_sum, xta,
                         positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                n_active, c = _screen(w, Rx, c, data, indices, indptr, s, weighted, x_mean, center, norm2, xta,
                                      alpha, beta, dn, g, active, excluded, False)
    return float(g), float(tol), max_iter, False


def enet_cd_sparse(w, data, indices, indptr, y, sw, x_mean, alpha, beta, max_iter, tol, seed, random, positive,
                   screening):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged)."""
    weighted = sw is not None
    s = sw if weighted else np.ones(1, w.dtype)  # (never read unweighted: one entry keeps the types fixed)
    g, t, it, ok = _cd(w, data, indices, indptr, y, s, weighted, x_mean, float(alpha), float(beta), int(max_iter),
                       float(tol), int(seed), bool(random), bool(positive), bool(screening))
    return g, t, int(it), bool(ok)
