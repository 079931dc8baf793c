"""Numba optimizer updates: one fused pass over flat parameter buffers.

Per element, in the reference's order (fastnn/backends/reference.py):
``g' = g + l2 p``; the step from g' (and the state); ``p -= lr wd p``;
``p += step``; ``p = sign(p) max(|p| - lr l1, 0)``. Every scalar is cast to the
array dtype first, as NumPy 2 does with Python floats, and no FMA contraction
happens (no fastmath), so the results equal the reference's bit for bit.

Each optimizer is a ``*_loop`` over whole flat arrays and a ``prange`` driver
that runs it on slices, compiled serially and in parallel (``jit_pair``); the
numba backend picks one by size. The loops vectorise (packed vsqrt/vdiv/vmul).

Penalties by type
-----------------
A penalty that is off (l2, l1 or wd = 0) is passed as None, not 0.0
(``fastnn.backends.numba`` does it): ``coupled``, ``decayed`` and ``prox`` then
compile to nothing, so each combination the caller uses is its own
specialisation (compiled on first use) with no test left in the loop. With the
flags as runtime values LLVM unswitched some of them and left the others as
branches inside the vector loop: the coupled L2 alone (scikit-learn's alpha, on
every weight update) ran at 1.3-2.1x the C backend's time. Skipping a penalty
that is 0, rather than multiplying by 0, keeps an infinite parameter infinite,
as in the reference. Nesterov is an entry point of its own for the same reason.
"""
from __future__ import annotations

import math

from numba import prange
from numba.core import types
from numba.extending import overload

from ._numba_elementwise import chunk_bounds
from ._numba_jit import jit, jit_inline, jit_pair
from ._numba_math import select

_INLINE = {"jit_options": {"error_model": "numpy", "fastmath": False}, "inline": "always"}


def coupled(g, p, l2):
    """g + l2 p, or g when l2 is None (stub; see the overload)."""


@overload(coupled, **_INLINE)
def _coupled_overload(g, p, l2):
    if l2 is types.none:
        return lambda g, p, l2: g
    return lambda g, p, l2: g + type(g)(l2) * p


def decayed(p, lr, wd):
    """p - (lr wd) p, or p when wd is None (stub; see the overload)."""


@overload(decayed, **_INLINE)
def _decayed_overload(p, lr, wd):
    if wd is types.none:
        return lambda p, lr, wd: p
    return lambda p, lr, wd: p - type(p)(lr * wd) * p


def prox(p, lr, l1):
    """sign(p) max(|p| - lr l1, 0) (exact zeros), or p when l1 is None (stub; see the overload)."""


def _prox(p, lr, l1):
    zero = type(p)(0.0)
    a = abs(p) - type(p)(lr * l1)
    a = select(a > zero, a, a - a)  # max(a, 0); a - a keeps NaN
    # sign(p) * a, with sign(0) = 0 and sign(NaN) = NaN as np.sign
    return select(p > zero, a, select(p < zero, -a, p * a))


@overload(prox, **_INLINE)
def _prox_overload(p, lr, l1):
    if l1 is types.none:
        return lambda p, lr, l1: p
    return _prox


@jit
def sgd_loop(p, g, lr, l2, l1, wd):
    """l2, l1, wd: a float, or None when off ("Penalties by type" above); so in every loop."""
    neg_lr = p.dtype.type(-lr)
    for i in range(p.size):
        p0 = p[i]
        p[i] = prox(decayed(p0, lr, wd) + neg_lr * coupled(g[i], p0, l2), lr, l1)


def _sgd_drive(p, g, lr, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        sgd_loop(p[lo:hi], g[lo:hi], lr, l2, l1, wd)


sgd_serial, sgd_parallel = jit_pair(_sgd_drive)


@jit_inline
def _momentum_body(p, v, g, lr, mu, nesterov, l2, l1, wd):
    T = p.dtype.type
    lrc, muc = T(lr), T(mu)
    for i in range(p.size):
        p0 = p[i]
        gc = coupled(g[i], p0, l2)
        vi = v[i] * muc - lrc * gc
        v[i] = vi
        step = muc * vi - lrc * gc if nesterov else vi
        p[i] = prox(decayed(p0, lr, wd) + step, lr, l1)


@jit
def momentum_loop(p, v, g, lr, mu, l2, l1, wd):
    _momentum_body(p, v, g, lr, mu, False, l2, l1, wd)


@jit
def nesterov_loop(p, v, g, lr, mu, l2, l1, wd):
    _momentum_body(p, v, g, lr, mu, True, l2, l1, wd)


def _momentum_drive(p, v, g, lr, mu, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        momentum_loop(p[lo:hi], v[lo:hi], g[lo:hi], lr, mu, l2, l1, wd)


def _nesterov_drive(p, v, g, lr, mu, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        nesterov_loop(p[lo:hi], v[lo:hi], g[lo:hi], lr, mu, l2, l1, wd)


momentum_serial, momentum_parallel = jit_pair(_momentum_drive)
nesterov_serial, nesterov_parallel = jit_pair(_nesterov_drive)


@jit
def adagrad_loop(p, acc, g, lr, eps, l2, l1, wd):
    T = p.dtype.type
    neg_lr, epsc = T(-lr), T(eps)
    for i in range(p.size):
        p0 = p[i]
        gc = coupled(g[i], p0, l2)
        a = acc[i] + gc * gc
        acc[i] = a
        p[i] = prox(decayed(p0, lr, wd) + neg_lr * gc / (math.sqrt(a) + epsc), lr, l1)


def _adagrad_drive(p, acc, g, lr, eps, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        adagrad_loop(p[lo:hi], acc[lo:hi], g[lo:hi], lr, eps, l2, l1, wd)


adagrad_serial, adagrad_parallel = jit_pair(_adagrad_drive)


@jit
def rmsprop_loop(p, sq, g, lr, rho, eps, l2, l1, wd):
    T = p.dtype.type
    neg_lr, rhoc, one_rho, epsc = T(-lr), T(rho), T(1.0 - rho), T(eps)
    for i in range(p.size):
        p0 = p[i]
        gc = coupled(g[i], p0, l2)
        s = sq[i] * rhoc + one_rho * gc * gc
        sq[i] = s
        p[i] = prox(decayed(p0, lr, wd) + neg_lr * gc / (math.sqrt(s) + epsc), lr, l1)


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
    for i in range(p.size):
        p0 = p[i]
        gc = coupled(g[i], p0, l2)
        mi = m[i] * b1c + one_b1 * gc
        vi = v[i] * b2c + one_b2 * gc * gc
        m[i] = mi
        v[i] = vi
        p[i] = prox(decayed(p0, lr, wd) + neg_lr_t * mi / (math.sqrt(vi) + epsc), lr, l1)


def _adam_drive(p, m, v, g, lr, lr_t, b1, b2, eps, l2, l1, wd, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, p.size)
        adam_loop(p[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi], lr, lr_t, b1, b2, eps, l2, l1, wd)


adam_serial, adam_parallel = jit_pair(_adam_drive)
