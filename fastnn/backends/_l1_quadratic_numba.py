"""Coordinate descent on an L1-penalised quadratic model, compiled with Numba: the steps
of ``_l1_quadratic_reference.l1_quadratic_cd`` (the spec) in the same order, so the
same roundings; no fastmath."""
from __future__ import annotations

import numba
import numpy as np

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _col_sum3(data, indices, lo, hi, a, b, square):
    """sum over [lo, hi) of data[k] a[i] b[i] (data[k] for b when square), i = indices[k], in
    stored order."""
    acc = data.dtype.type(0)
    for k in range(lo, hi):
        i = indices[k]
        acc += data[k] * a[i] * (data[k] if square else b[i])
    return acc


@_jit
def _solve(u, xd, data, indices, indptr, cols, g, h, alpha, nu, max_sweeps, tol):
    dt = u.dtype.type
    m = cols.shape[0]
    alpha, nu, tol = dt(alpha), dt(nu), dt(tol)
    u0 = u.copy()
    xd[:] = 0
    curv = np.empty(m, u.dtype)
    order = np.arange(m)
    for j in range(m):
        curv[j] = _col_sum3(data, indices, indptr[cols[j]], indptr[cols[j] + 1], h, h, True) + nu
    n_active, sweeps, shrink = m, 0, dt(np.inf)
    while sweeps < max_sweeps:
        viol_max, viol_sum, s = dt(0), dt(0), 0
        while s < n_active:
            j = order[s]
            lo, hi = indptr[cols[j]], indptr[cols[j] + 1]
            grad = g[j] + nu * (u[j] - u0[j]) + _col_sum3(data, indices, lo, hi, h, xd, False)
            gp, gn, viol = grad + alpha, grad - alpha, dt(0)
            if u[j] == 0:
                if gp < 0:
                    viol = -gp
                elif gn > 0:
                    viol = gn
                elif gp > shrink and gn < -shrink:
                    n_active -= 1
                    order[s] = order[n_active]
                    order[n_active] = j
                    continue
            else:
                viol = abs(gp) if u[j] > 0 else abs(gn)
            if viol > viol_max:
                viol_max = viol
            viol_sum += viol
            hu = curv[j] * u[j]
            if gp < hu:
                step = -gp / curv[j]
            elif gn > hu:
                step = -gn / curv[j]
            else:
                step = -u[j]
            s += 1
            if step != 0:
                u[j] += step
                for k in range(lo, hi):
                    xd[indices[k]] += step * data[k]
        sweeps += 1
        if viol_sum <= tol:
            if n_active == m:
                break
            n_active, shrink = m, dt(np.inf)
            continue
        shrink = viol_max / dt(m)
    return sweeps


def l1_quadratic_cd(u, xd, data, indices, indptr, cols, g, h, alpha, nu, max_sweeps, tol):
    return int(_solve(u, xd, data, indices, indptr, cols, g, h, alpha, nu, max_sweeps, tol))
