"""Elastic-net coordinate descent on a sparse CSC X in NumPy: the spec of ``fastnn.kernels.enet_cd_sparse``.

scikit-learn's ``sparse_enet_coordinate_descent`` (sklearn/linear_model/_cd_fast.pyx)
step for step. With row weights s (``sample_weight``, ones when None) and column
centres m (``x_mean``, the weighted column means of X; zeros: no centring) it
minimises, over w (updated in place from its start value),

    1/2 sum_i s_i (y_i - (Z w)_i)^2 + alpha ||w||_1 + beta/2 ||w||^2,   Z = X - 1 m^T,

without forming Z (it is dense): X is given as CSC arrays (``data``, ``indices``,
``indptr``: column j's rows are ``indices[indptr[j]:indptr[j + 1]]``), and the
centring is applied implicitly, as scikit-learn does:

* the residual kept is the weighted one, R = s * (y - Z w);
* ``norm2[j] = sum_i s_i (X_ij - m_j)^2``, over column j's non-zeros plus m_j^2 times
  the weight of its zeros;
* ``Z_j . R = X_j . R - m_j sum(R)``; with m the weighted means, sum(R) = s . y does
  not change as w does, so it is computed once (R_sum);
* ``R += a s * Z_j``: ``a s_i X_ij`` on column j's non-zeros and ``- a s_i m_j`` on
  every row (the O(n_samples) part: the compiled backends keep it as one scalar).

Then the same steps as the dense ``enet_cd`` (``_enet_reference``): the soft-threshold
update of each coordinate (in order, or drawn with scikit-learn's xorshift), the
duality gap (R . R read as sum_i R_i^2 / s_i: R carries one factor of s) checked when
a sweep's largest change is <= tol times the largest |w_j|, stop when it is <= tol *
y . (s y), gap-safe screening. All arithmetic is in w's dtype; like every backend it
trusts its inputs (kernels.enet_cd_sparse has checked them).

Two roundings differ from scikit-learn's, both in quantities that are 0 in exact
arithmetic or exact to a few ulps: scikit-learn adds sum(R) up once per column
while it builds R (so its R_sum is n_features times s . y, which is a rounding-level
number when y is centred -- the only way its estimators use X_mean); here it is
s . y once. And the weighted norm2's zeros' term is m_j^2 sum(s) rather than a sum
over all rows of s_i m_j^2.

Returns (gap, tol * y . (s y), sweeps run, converged).
"""
from __future__ import annotations

import numpy as np

from ._enet_reference import _U32, gap_tail, rand_r, screen, soft_threshold

NAME = "numpy"


class _Problem:
    """The CSC X, its weights and centres, and the residual's updates."""

    def __init__(self, data, indices, indptr, y, sw, x_mean):
        self.data, self.indices, self.indptr, self.y = data, indices, indptr, y
        self.dt = y.dtype.type
        self.sw = sw
        self.x_mean = x_mean
        self.center = bool(np.any(x_mean != 0))  # scikit-learn's: centring only when some m_j != 0
        self.s = np.ones(y.shape[0], y.dtype) if sw is None else sw

    def col(self, j):
        """(rows, values) of column j."""
        lo, hi = self.indptr[j], self.indptr[j + 1]
        return self.indices[lo:hi], self.data[lo:hi]

    def norm2(self, j):
        """sum_i s_i (X_ij - m_j)^2."""
        dt, m = self.dt, self.x_mean[j]
        rows, vals = self.col(j)
        if self.sw is None:
            out = dt(np.sum((vals - m) ** 2))
            return out + dt(self.y.shape[0] - rows.shape[0]) * (m * m) if self.center else out
        s = self.sw[rows]
        out = dt(np.sum(s * (vals - m) ** 2 - s * (m * m)))  # the non-zeros' rows, less their m^2 term...
        return out + (m * m) * dt(np.sum(self.sw)) if self.center else out  # ...which every row has

    def add(self, R, a, j):
        """R += a s * Z_j (scikit-learn's R_plus_wj_Xj)."""
        rows, vals = self.col(j)
        R[rows] += self.s[rows] * vals * a
        if self.center:
            R -= self.s * self.x_mean[j] * a

    def dot(self, R, j):
        """X_j . R (Z_j . R is this less m_j R_sum)."""
        rows, vals = self.col(j)
        return self.dt(vals @ R[rows])


def gap(w, alpha, beta, prob, R, R_sum, xta, positive):
    """(duality gap at (w, R), dual norm); xta receives Z^T R - beta w (gap_enet_sparse)."""
    dt = w.dtype.type
    y = prob.y
    w_l2 = dt(w @ w) if beta > 0 else dt(0)
    if prob.sw is None:
        r_norm2 = dt(R @ R)
    else:  # R = s * residual: the weighted squared residual is sum R_i^2 / s_i
        nz = prob.sw != 0
        r_norm2 = dt(np.sum(R[nz] ** 2 / prob.sw[nz]))
    ry = dt(0) if (alpha == 0 and beta == 0) else dt(R @ y)
    for j in range(w.shape[0]):  # Z^T R
        xta[j] = prob.dot(R, j) - prob.x_mean[j] * R_sum if prob.center else prob.dot(R, j)
    return gap_tail(xta, w, alpha, beta, r_norm2, ry, w_l2, positive)


def enet_cd_sparse(w, data, indices, indptr, y, sw, x_mean, alpha, beta, max_iter, tol, seed, random, positive,
                   screening):
    """Coordinate descent in place on w; returns (gap, scaled tol, sweeps, converged).

    sw: the row weights or None (ones); x_mean: the column centres (zeros: none)."""
    dt = w.dtype.type
    alpha, beta, tol = dt(alpha), dt(beta), dt(tol)
    p = w.shape[0]
    prob = _Problem(data, indices, indptr, y, sw, x_mean)
    norm2 = np.array([prob.norm2(j) for j in range(p)], dtype=w.dtype)
    d_w_tol = tol
    screening = screening and alpha != 0
    yw = y if sw is None else sw * y
    R = yw.copy()  # R = s * (y - Z w)
    for j in range(p):
        if w[j] != 0:
            prob.add(R, -w[j], j)
    R_sum = dt(np.sum(R)) if prob.center else dt(0)
    tol = tol * dt(y @ yw)

    def drop(j):
        prob.add(R, w[j], j)
    xta = np.empty(p, w.dtype)
    g, dn = gap(w, alpha, beta, prob, R, R_sum, xta, positive)
    if g <= tol:
        return float(g), float(tol), 0, True
    excluded = np.zeros(p, bool)
    active = screen(w, norm2, xta, alpha, beta, dn, g, excluded, True, drop) if screening else list(range(p))
    state = [int(seed) & _U32]
    for it in range(max_iter):
        w_max = d_w_max = dt(0)
        n_active = len(active)
        for f in range(n_active):
            j = active[rand_r(state) % n_active] if random else active[f]
            if norm2[j] == 0:
                continue
            w_j = w[j]
            tmp = prob.dot(R, j) + w_j * norm2[j]  # Z_j . (R + w_j s Z_j), in scikit-learn's order
            if prob.center:
                tmp -= R_sum * prob.x_mean[j]
            w[j] = soft_threshold(tmp, alpha, norm2[j] + beta, positive)
            if w[j] != w_j:
                prob.add(R, w_j - w[j], j)
            d_w_max = max(d_w_max, abs(w[j] - w_j))
            w_max = max(w_max, abs(w[j]))
        if w_max == 0 or d_w_max / w_max <= d_w_tol or it == max_iter - 1:
            g, dn = gap(w, alpha, beta, prob, R, R_sum, xta, positive)
            if g <= tol:
                return float(g), float(tol), it + 1, True
            if screening:
                active = screen(w, norm2, xta, alpha, beta, dn, g, excluded, False, drop)
    return float(g), float(tol), max_iter, False
