"""Numba optimizer updates: one fused pass over flat parameter buffers.

Per element, in the reference's order (fastnn/backends/reference.py):
``g' = g + l2 p``; the step from g' (and the state); ``p -= lr wd p``;
``p += step``; ``p = sign(p) max(|p| - lr l1, 0)``. Every scalar is cast to the
array dtype first, as NumPy 2 does with Python floats, and no FMA contraction
happens (no fastmath), so the results equal the reference's bit for bit.

Each optimizer is a ``*_loop`` over whole flat arrays and a ``prange`` driver
that runs it on slices, compiled serially and in parallel (``jit_pair``); the
numba backend picks one by size. The loops vectorise (packed vsqrt/vdiv/vmul).
"""
from __future__ import annotations

import math

from numba import prange

from ._numba_elementwise import chunk_bounds
from ._numba_jit import jit, jit_inline, jit_pair
from ._numba_math import select


@jit_inline
def _finish(p0, step, lr_wd, thr, has_wd, has_l1):
    """Decoupled decay, the step, then the L1 proximal map (exact zeros).

    Selects instead of branches: both sides are cheap, and it keeps the inlined
    body free of control flow.
    """
    zero = type(p0)(0.0)
    p0 = select(has_wd, p0 - lr_wd * p0, p0)
    p0 = p0 + step
    a = abs(p0) - thr
    a = select(a > zero, a, a - a)  # max(a, 0); a - a keeps NaN
    # sign(p0) * a, with sign(0) = 0 and sign(NaN) = NaN as np.sign
    shrunk = select(p0 > zero, a, select(p0 < zero, -a, p0 * a))
    return select(has_l1, shrunk, p0)


@jit
def sgd_loop(p, g, lr, l2, l1, wd):
    T = p.dtype.type
    neg_lr, l2c, lr_wd, thr = T(-lr), T(l2), T(lr * wd), T(lr * l1)
    has_l2, has_wd, has_l1 = l2 != 0.0, wd != 0.0, l1 != 0.0
    for i in range(p.size):
        p0 = p[i]
        gc = g[i] + l2c * p0 if has_l2 else g[i]
        p[i] = _finish(p0, neg_lr * gc, lr_wd, thr, has_wd, has_l1)


def _sgd_drive(p, g, lr, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        sgd_loop(p[lo:hi], g[lo:hi], lr, l2, l1, wd)


sgd_serial, sgd_parallel = jit_pair(_sgd_drive)


@jit
def momentum_loop(p, v, g, lr, mu, nesterov, l2, l1, wd):
    T = p.dtype.type
    lrc, muc, l2c, lr_wd, thr = T(lr), T(mu), T(l2), T(lr * wd), T(lr * l1)
    has_l2, has_wd, has_l1 = l2 != 0.0, wd != 0.0, l1 != 0.0
    for i in range(p.size):
        p0 = p[i]
        gc = g[i] + l2c * p0 if has_l2 else g[i]
        vi = v[i] * muc - lrc * gc
        v[i] = vi
        step = muc * vi - lrc * gc if nesterov else vi
        p[i] = _finish(p0, step, lr_wd, thr, has_wd, has_l1)


def _momentum_drive(p, v, g, lr, mu, nesterov, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        momentum_loop(p[lo:hi], v[lo:hi], g[lo:hi], lr, mu, nesterov, l2, l1, wd)


momentum_serial, momentum_parallel = jit_pair(_momentum_drive)


@jit
def adagrad_loop(p, acc, g, lr, eps, l2, l1, wd):
    T = p.dtype.type
    neg_lr, epsc, l2c, lr_wd, thr = T(-lr), T(eps), T(l2), T(lr * wd), T(lr * l1)
    has_l2, has_wd, has_l1 = l2 != 0.0, wd != 0.0, l1 != 0.0
    for i in range(p.size):
        p0 = p[i]
        gc = g[i] + l2c * p0 if has_l2 else g[i]
        a = acc[i] + gc * gc
        acc[i] = a
        step = neg_lr * gc / (math.sqrt(a) + epsc)
        p[i] = _finish(p0, step, lr_wd, thr, has_wd, has_l1)


def _adagrad_drive(p, acc, g, lr, eps, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        adagrad_loop(p[lo:hi], acc[lo:hi], g[lo:hi], lr, eps, l2, l1, wd)


adagrad_serial, adagrad_parallel = jit_pair(_adagrad_drive)


@jit
def rmsprop_loop(p, sq, g, lr, rho, eps, l2, l1, wd):
    T = p.dtype.type
    neg_lr, rhoc, one_rho, epsc = T(-lr), T(rho), T(1.0 - rho), T(eps)
    l2c, lr_wd, thr = T(l2), T(lr * wd), T(lr * l1)
    has_l2, has_wd, has_l1 = l2 != 0.0, wd != 0.0, l1 != 0.0
    for i in range(p.size):
        p0 = p[i]
        gc = g[i] + l2c * p0 if has_l2 else g[i]
        s = sq[i] * rhoc + one_rho * gc * gc
        sq[i] = s
        step = neg_lr * gc / (math.sqrt(s) + epsc)
        p[i] = _finish(p0, step, lr_wd, thr, has_wd, has_l1)


def _rmsprop_drive(p, sq, g, lr, rho, eps, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        rmsprop_loop(p[lo:hi], sq[lo:hi], g[lo:hi], lr, rho, eps, l2, l1, wd)


rmsprop_serial, rmsprop_parallel = jit_pair(_rmsprop_drive)


@jit
def adam_loop(p, m, v, g, lr, lr_t, b1, b2, eps, l2, l1, wd):
    """Adam with the bias corrections folded into lr_t (computed once, in float64, by the caller)."""
    T = p.dtype.type
    neg_lr_t, b1c, b2c, one_b1, one_b2, epsc = T(-lr_t), T(b1), T(b2), T(1.0 - b1), T(1.0 - b2), T(eps)
    l2c, lr_wd, thr = T(l2), T(lr * wd), T(lr * l1)
    has_l2, has_wd, has_l1 = l2 != 0.0, wd != 0.0, l1 != 0.0
    for i in range(p.size):
        p0 = p[i]
        gc = g[i] + l2c * p0 if has_l2 else g[i]
        mi = m[i] * b1c + one_b1 * gc
        vi = v[i] * b2c + one_b2 * gc * gc
        m[i] = mi
        v[i] = vi
        step = neg_lr_t * mi / (math.sqrt(vi) + epsc)
        p[i] = _finish(p0, step, lr_wd, thr, has_wd, has_l1)


def _adam_drive(p, m, v, g, lr, lr_t, b1, b2, eps, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        adam_loop(p[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi], lr, lr_t, b1, b2, eps, l2, l1, wd)


adam_serial, adam_parallel = jit_pair(_adam_drive)
