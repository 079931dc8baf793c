"""Numba dense-layer epilogues and matrix products.

The matrix products use ``np.dot`` inside ``@njit`` (Numba calls the BLAS gemm
of SciPy's OpenBLAS through ``scipy.linalg.cython_blas``); the choice against a
tiled Numba kernel is measured and explained in ``fastnn.backends.numba``.

Epilogues (compiled serially; written as chunked ``prange`` drivers so a
parallel build is one ``jit_pair`` away): dense_forward adds the bias and
applies the activation over each block of rows while it is in L1;
dense_backward forms dz = dout * act'(.) and reduces db = sum over rows of dz
in the same pass.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._common import ACT_SOFTMAX
from ._numba_elementwise import (
    XENT_BLOCK,
    act_backward_loop,
    act_forward_loop,
    chunk_bounds,
    softmax_backward_rows,
    softmax_rows,
)
from ._numba_jit import jit

# ---------------------------------------------------------------------- products


@jit
def dot_into(c, a, b):
    """c = a @ b through BLAS; a and b may be transposed views (F-contiguous)."""
    np.dot(a, b, c)


@jit
def dot_scaled(c, a, b, alpha, beta):
    """c = alpha * a @ b + beta * c, in the reference's operation order."""
    T = c.dtype.type
    al = T(alpha)
    if beta == 0.0:
        np.dot(a, b, c)
        if alpha != 1.0:
            cf = c.reshape(c.size)
            for i in range(cf.size):
                cf[i] = cf[i] * al
        return
    be = T(beta)
    prod = np.dot(a, b)
    pf = prod.reshape(prod.size)
    cf = c.reshape(c.size)
    scale_c = beta != 1.0
    scale_p = alpha != 1.0
    for i in range(cf.size):
        pv = pf[i] * al if scale_p else pf[i]
        cv = cf[i] * be if scale_c else cf[i]
        cf[i] = cv + pv


# -------------------------------------------------------------------- epilogues


def _bias_act_drive(out, z, b, act, param, nchunks):
    """z += b (row-wise); out = act(z). out and z may be the same array.

    Blocks of rows (XENT_BLOCK elements): the bias added row by row, then one call
    of the activation over the block while it is in L1 (a call per row cost more
    than a row of 10: softmax took 2.6x the C time at 128x10)."""
    n, o = z.shape
    rb = max(1, XENT_BLOCK // o)
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, n)
        for b0 in range(lo, hi, rb):
            b1 = min(hi, b0 + rb)
            for i in range(b0, b1):
                zi = z[i]
                for j in range(o):
                    zi[j] = zi[j] + b[j]
            if act == ACT_SOFTMAX:
                softmax_rows(out, z, b0, b1)
            else:
                act_forward_loop(out[b0:b1].reshape(-1), z[b0:b1].reshape(-1), act, param)


bias_act_serial = jit(_bias_act_drive)  # one thread: see fastnn.backends.numba.dense_forward


def _dz_db_drive(dz, db, dout, y, x, act, param, nchunks):
    """dz = dout * act'(y or x); db = sum over rows of dz, split over column blocks.

    y and x are always arrays here (the caller passes a stand-in for the one the
    activation does not read). Softmax is row-wise, so it takes one row per step
    and reduces db afterwards; both keep the row order of the sum.
    """
    n, o = dout.shape
    if act == ACT_SOFTMAX:
        for c in prange(nchunks):
            lo, hi = chunk_bounds(c, nchunks, n)
            softmax_backward_rows(dz, dout, y, lo, hi)
        for j in range(o):
            db[j] = dz[0, j]
        for i in range(1, n):
            dzi = dz[i]
            for j in range(o):
                db[j] += dzi[j]
        return
    for c in prange(nchunks):
        jlo, jhi = chunk_bounds(c, nchunks, o)
        dbc = db[jlo:jhi]
        for j in range(dbc.size):
            dbc[j] = 0.0
        for i in range(n):
            dzi = dz[i, jlo:jhi]
            act_backward_loop(dzi, dout[i, jlo:jhi], y[i, jlo:jhi], x[i, jlo:jhi], act, param)
            for j in range(dzi.size):
                dbc[j] += dzi[j]


dz_db_serial = jit(_dz_db_drive)
