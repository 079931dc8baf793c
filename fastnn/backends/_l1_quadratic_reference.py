"""Coordinate descent on an L1-penalised quadratic model in NumPy: the spec of
``fastnn.kernels.l1_quadratic_cd`` (newGLMNET's inner problem, liblinear's L1 logistic
regression).

Over the working set W (the columns ``cols`` of a CSC X: column c's rows are
``indices[indptr[c]:indptr[c + 1]]``) it minimises, from u = u0 (u updated in place),

    q(u) = g.(u - u0) + 1/2 (u - u0)^T (X_W^T diag(h) X_W + nu I) (u - u0) + alpha ||u||_1.

Each coordinate moves to its exact minimiser with the others fixed. With
xd = X_W (u - u0) kept, coordinate j's gradient of the smooth part is
``G = g_j + nu (u_j - u0_j) + X_j . (h * xd)`` and its curvature
``H = X_j . (h * X_j) + nu`` (> 0 as nu is); a column's sums add the terms
``X_kj h_k b_k`` (multiplied in that order) in stored order, as the compiled loops.
The step is the soft-threshold
``-(G + alpha) / H`` if ``G + alpha < H u_j``, ``-(G - alpha) / H`` if
``G - alpha > H u_j``, else ``-u_j``; a moved coordinate adds ``step X_j`` to xd.

Its violation (the minimum-norm subgradient of q in u_j) is ``|G + alpha|`` for
u_j > 0, ``|G - alpha|`` for u_j < 0 and ``max(-(G + alpha), G - alpha, 0)`` at 0. A
sweep visits the active coordinates in order, summing their violations; the sweeps
stop when that sum is <= tol (absolute) with every coordinate active, or after
max_sweeps. newGLMNET's shrinking: a zero coordinate with ``G + alpha > M`` and
``G - alpha < -M``, M the previous sweep's largest violation divided by the working
set's size m (none in the first sweep; newGLMNET divides by n_samples, which makes
repeated rows and their weights shrink differently), leaves the active set (swapped
with its last member, so the order changes); once the active ones converge, all
return and M restarts. All arithmetic is in u's dtype; like every backend it trusts
its inputs.

Returns the sweeps run; xd [n_samples] is overwritten with X_W (u - u0).
"""
from __future__ import annotations

import numpy as np

NAME = "numpy"


def l1_quadratic_cd(u, xd, data, indices, indptr, cols, g, h, alpha, nu, max_sweeps, tol):
    dt = u.dtype.type
    m = cols.shape[0]
    alpha, nu, tol = dt(alpha), dt(nu), dt(tol)
    u0 = u.copy()
    xd[:] = 0
    rows = [indices[indptr[c]:indptr[c + 1]] for c in cols]
    vals = [data[indptr[c]:indptr[c + 1]] for c in cols]
    curv = np.array([_sum_in_order(v * h[r] * v) + nu for r, v in zip(rows, vals)], dtype=u.dtype)
    order, n_active, sweeps, shrink = list(range(m)), m, 0, dt(np.inf)
    while sweeps < max_sweeps:
        viol_max, viol_sum, s = dt(0), dt(0), 0
        while s < n_active:
            j = order[s]
            r, v = rows[j], vals[j]
            grad = g[j] + nu * (u[j] - u0[j]) + _sum_in_order(v * h[r] * xd[r])
            gp, gn, viol = grad + alpha, grad - alpha, dt(0)
            if u[j] == 0:
                if gp < 0:
                    viol = -gp
                elif gn > 0:
                    viol = gn
                elif gp > shrink and gn < -shrink:  # set aside until the active ones converge
                    n_active -= 1
                    order[s], order[n_active] = order[n_active], j
                    continue
            else:
                viol = abs(gp) if u[j] > 0 else abs(gn)
            viol_max = max(viol_max, viol)
            viol_sum = viol_sum + viol
            hu = curv[j] * u[j]
            step = -gp / curv[j] if gp < hu else -gn / curv[j] if gn > hu else -u[j]
            s += 1
            if step != 0:
                u[j] = u[j] + step
                for k in range(r.shape[0]):
                    xd[r[k]] = xd[r[k]] + step * v[k]
        sweeps += 1
        if viol_sum <= tol:
            if n_active == m:
                break
            n_active, shrink = m, dt(np.inf)
            continue
        shrink = viol_max / dt(m)
    return sweeps


def _sum_in_order(terms):
    """The terms added left to right (as the compiled loops)."""
    acc = terms.dtype.type(0)
    for x in terms:
        acc = acc + x
    return acc
