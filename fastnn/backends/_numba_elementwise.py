"""Numba kernels for activations, losses, penalties and dropout (not gemm, not optimizers).

Each kernel is a plain loop over ``[lo, hi)`` of flat, C-contiguous arrays
(``*_range``) plus a driver that splits the work into chunks with ``prange``;
``jit_pair`` compiles the driver serially and in parallel and
``fastnn.backends.numba`` picks one by size. Scalars are cast once to the array
dtype (``T = x.dtype.type``) so float32 arithmetic stays float32, as in the
reference; loss sums are accumulated in float64 per fixed-size chunk, so a
result does not depend on the number of threads.

The formulas are those of ``fastnn/backends/reference.py`` operation by
operation (same order, same dtype), so results differ from it only where a
transcendental function (exp, tanh, erf, ...) is computed by another libm.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._common import (
    ACT_ELU,
    ACT_GELU,
    ACT_GELU_TANH,
    ACT_LEAKY_RELU,
    ACT_RELU,
    ACT_SIGMOID,
    ACT_SOFTPLUS,
    ACT_TANH,
    GOLDEN,
)
from ._numba_jit import jit, jit_pair

SQRT_2_OVER_PI = 0.7978845608028654
INV_SQRT_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
GELU_C = 0.044715
GELU_3C = 3 * 0.044715  # as the reference computes it: a float64 product, then cast

#: elements per partial sum of a reduction (fixed, so sums do not depend on threads)
RED_CHUNK = 1 << 14


@jit
def chunk_bounds(c, nchunks, n):
    """[lo, hi) of chunk c when n items are split into nchunks nearly equal parts."""
    step = (n + nchunks - 1) // nchunks
    lo = c * step
    return lo, min(n, lo + step)


# ----------------------------------------------------------------- scalar math


@jit
def sigmoid_s(v):
    """1 / (1 + e^-v), stable on both sides: exp of a non-positive number never overflows."""
    T = type(v)
    one = T(1.0)
    e = math.exp(-abs(v))
    num = one if v >= 0 else e
    return num / (one + e)


@jit
def act_s(v, act, p):
    """act(v) for an elementwise activation code (identity for unknown codes)."""
    T = type(v)
    if act == ACT_RELU:
        return v if v > 0 else T(0.0)
    if act == ACT_LEAKY_RELU:
        return v if v > 0 else v * p
    if act == ACT_SIGMOID:
        return sigmoid_s(v)
    if act == ACT_TANH:
        return math.tanh(v)
    if act == ACT_SOFTPLUS:
        return (v if v > 0 else T(0.0)) + math.log1p(math.exp(-abs(v)))
    if act == ACT_GELU:
        return T(0.5) * v * (T(1.0) + math.erf(v * T(INV_SQRT_2)))
    if act == ACT_GELU_TANH:
        u = T(SQRT_2_OVER_PI) * (v + T(GELU_C) * v * v * v)
        return T(0.5) * v * (T(1.0) + math.tanh(u))
    if act == ACT_ELU:
        return v if v > 0 else p * math.expm1(v)
    return v


@jit
def act_grad_s(y, x, act, p):
    """act'(.) from the output y, or the input x for the gelus (as reference.act_grad)."""
    T = type(p)
    one = T(1.0)
    if act == ACT_RELU:
        return one if y > 0 else T(0.0)
    if act == ACT_LEAKY_RELU:
        return one if y > 0 else p
    if act == ACT_SIGMOID:
        return y * (one - y)
    if act == ACT_TANH:
        return one - y * y
    if act == ACT_SOFTPLUS:
        return -math.expm1(-y)
    if act == ACT_GELU:
        cdf = T(0.5) * (one + math.erf(x * T(INV_SQRT_2)))
        return cdf + x * T(INV_SQRT_2PI) * math.exp(T(-0.5) * x * x)
    if act == ACT_GELU_TANH:
        t = math.tanh(T(SQRT_2_OVER_PI) * (x + T(GELU_C) * x * x * x))
        du = T(SQRT_2_OVER_PI) * (one + T(GELU_3C) * x * x)
        return T(0.5) * (one + t) + T(0.5) * x * (one - t * t) * du
    if act == ACT_ELU:
        return one if y > 0 else y + p
    return one


# ---------------------------------------------------------- elementwise activations
# One loop per activation (the branch is outside the loop) so that the cheap ones
# vectorise; the transcendental ones call libm per element.


@jit
def act_forward_range(y, x, act, param, lo, hi):
    """y[lo:hi] = act(x[lo:hi]) for an elementwise activation (flat arrays)."""
    T = x.dtype.type
    p = T(param)
    zero = T(0.0)
    if act == ACT_RELU:
        for i in range(lo, hi):
            v = x[i]
            y[i] = v if v > 0 else zero
    elif act == ACT_LEAKY_RELU:
        for i in range(lo, hi):
            v = x[i]
            y[i] = v if v > 0 else v * p
    elif act == ACT_SIGMOID:
        for i in range(lo, hi):
            y[i] = sigmoid_s(x[i])
    elif act == ACT_TANH:
        for i in range(lo, hi):
            y[i] = math.tanh(x[i])
    elif act == ACT_SOFTPLUS:
        for i in range(lo, hi):
            y[i] = act_s(x[i], ACT_SOFTPLUS, p)
    elif act == ACT_GELU:
        for i in range(lo, hi):
            y[i] = act_s(x[i], ACT_GELU, p)
    elif act == ACT_GELU_TANH:
        for i in range(lo, hi):
            y[i] = act_s(x[i], ACT_GELU_TANH, p)
    elif act == ACT_ELU:
        for i in range(lo, hi):
            y[i] = act_s(x[i], ACT_ELU, p)
    else:  # identity
        for i in range(lo, hi):
            y[i] = x[i]


def _act_forward_drive(y, x, act, param, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.size)
        act_forward_range(y, x, act, param, lo, hi)


act_forward_serial, act_forward_parallel = jit_pair(_act_forward_drive)


@jit
def act_backward_range(dx, dy, y, x, act, param, lo, hi):
    """dx = dy * act'(.) over [lo, hi); y or x may be None when the activation does not read it."""
    T = dy.dtype.type
    p = T(param)
    one = T(1.0)
    zero = T(0.0)
    if act == ACT_RELU:
        for i in range(lo, hi):
            dx[i] = dy[i] * (one if y[i] > 0 else zero)
    elif act == ACT_LEAKY_RELU:
        for i in range(lo, hi):
            dx[i] = dy[i] * (one if y[i] > 0 else p)
    elif act == ACT_SIGMOID:
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dy[i] * (v * (one - v))
    elif act == ACT_TANH:
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dy[i] * (one - v * v)
    elif act == ACT_SOFTPLUS:
        for i in range(lo, hi):
            dx[i] = dy[i] * -math.expm1(-y[i])
    elif act == ACT_GELU:
        for i in range(lo, hi):
            dx[i] = dy[i] * act_grad_s(zero, x[i], ACT_GELU, p)
    elif act == ACT_GELU_TANH:
        for i in range(lo, hi):
            dx[i] = dy[i] * act_grad_s(zero, x[i], ACT_GELU_TANH, p)
    elif act == ACT_ELU:
        for i in range(lo, hi):
            v = y[i]
            dx[i] = dy[i] * (one if v > 0 else v + p)
    else:  # identity
        for i in range(lo, hi):
            dx[i] = dy[i]


def _act_backward_drive(dx, dy, y, x, act, param, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, dy.size)
        act_backward_range(dx, dy, y, x, act, param, lo, hi)


act_backward_serial, act_backward_parallel = jit_pair(_act_backward_drive)


# ------------------------------------------------------------------ row softmax


@jit
def softmax_row(y, x, i):
    """y[i] = softmax(x[i]) (2-D arrays): max-subtracted exp, then divided by the row sum."""
    k = x.shape[1]
    mx = x[i, 0]
    for j in range(1, k):
        if x[i, j] > mx:
            mx = x[i, j]
    s = x.dtype.type(0.0)
    for j in range(k):
        e = math.exp(x[i, j] - mx)
        y[i, j] = e
        s += e
    for j in range(k):
        y[i, j] = y[i, j] / s


def _softmax_forward_drive(y, x, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.shape[0])
        for i in range(lo, hi):
            softmax_row(y, x, i)


softmax_forward_serial, softmax_forward_parallel = jit_pair(_softmax_forward_drive)


@jit
def softmax_backward_row(dx, dy, y, i):
    """dx[i] = y[i] * (dy[i] - sum(dy[i] * y[i]))."""
    k = y.shape[1]
    dot = dy.dtype.type(0.0)
    for j in range(k):
        dot += dy[i, j] * y[i, j]
    for j in range(k):
        dx[i, j] = y[i, j] * (dy[i, j] - dot)


def _softmax_backward_drive(dx, dy, y, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, y.shape[0])
        for i in range(lo, hi):
            softmax_backward_row(dx, dy, y, i)


softmax_backward_serial, softmax_backward_parallel = jit_pair(_softmax_backward_drive)


# ----------------------------------------------------------------------- losses


@jit
def _xent_rows(dl, logits, labels, rowloss, lo, hi):
    """Rows [lo, hi): rowloss = logsumexp - logit[label]; dl = (softmax - onehot) / n if given."""
    n, k = logits.shape
    T = logits.dtype.type
    inv_n = T(1.0 / n)
    one = T(1.0)
    for i in range(lo, hi):
        mx = logits[i, 0]
        for j in range(1, k):
            if logits[i, j] > mx:
                mx = logits[i, j]
        s = T(0.0)
        lab = labels[i]
        if dl is not None:
            for j in range(k):
                e = math.exp(logits[i, j] - mx)
                dl[i, j] = e
                s += e
            e_lab = dl[i, lab]
            for j in range(k):
                dl[i, j] = (dl[i, j] / s) * inv_n
            dl[i, lab] = (e_lab / s - one) * inv_n
        else:
            for j in range(k):
                s += math.exp(logits[i, j] - mx)
        rowloss[i] = np.float64(math.log(s) - (logits[i, lab] - mx))


def _xent_drive(dl, logits, labels, rowloss, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, logits.shape[0])
        _xent_rows(dl, logits, labels, rowloss, lo, hi)
    total = 0.0
    for i in range(logits.shape[0]):
        total += rowloss[i]
    return total


softmax_xent_serial, softmax_xent_parallel = jit_pair(_xent_drive)


@jit
def _bce_range(dl, x, t, lo, hi, inv_n):
    """Partial float64 sum of per-element BCE over [lo, hi); dl = (sigmoid - t) / n if given.

    One exp per element serves both the loss (log1p(e^-|x|)) and the sigmoid.
    """
    T = x.dtype.type
    zero = T(0.0)
    one = T(1.0)
    g = T(inv_n)
    acc = 0.0
    for i in range(lo, hi):
        v = x[i]
        e = math.exp(-abs(v))
        acc += np.float64((v if v > 0 else zero) - v * t[i] + math.log1p(e))
        if dl is not None:
            dl[i] = ((one if v >= 0 else e) / (one + e) - t[i]) * g
    return acc


def _bce_drive(dl, x, t, partial, inv_n):
    nchunks = partial.size
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.size)
        partial[c] = _bce_range(dl, x, t, lo, hi, inv_n)
    total = 0.0
    for c in range(nchunks):
        total += partial[c]
    return total


sigmoid_bce_serial, sigmoid_bce_parallel = jit_pair(_bce_drive)


@jit
def _mse_range(dl, pred, target, lo, hi, inv_n):
    """Partial float64 sum of (pred - target)^2 over [lo, hi); d = diff / n when asked."""
    g = pred.dtype.type(inv_n)
    acc = np.zeros(8)
    i = lo
    while i + 8 <= hi:
        for u in range(8):
            diff = np.float64(pred[i + u] - target[i + u])
            acc[u] += diff * diff
        i += 8
    for j in range(i, hi):
        diff = np.float64(pred[j] - target[j])
        acc[0] += diff * diff
    if dl is not None:
        for j in range(lo, hi):
            dl[j] = (pred[j] - target[j]) * g
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


def _mse_drive(dl, pred, target, partial, inv_n):
    nchunks = partial.size
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, pred.size)
        partial[c] = _mse_range(dl, pred, target, lo, hi, inv_n)
    total = 0.0
    for c in range(nchunks):
        total += partial[c]
    return total


mse_serial, mse_parallel = jit_pair(_mse_drive)


@jit
def _norm_range(w, lo, hi, squared):
    """float64 sum of |w| (or w^2) over [lo, hi), eight independent accumulators."""
    acc = np.zeros(8)
    i = lo
    if squared:
        while i + 8 <= hi:
            for u in range(8):
                v = np.float64(w[i + u])
                acc[u] += v * v
            i += 8
        for j in range(i, hi):
            v = np.float64(w[j])
            acc[0] += v * v
    else:
        while i + 8 <= hi:
            for u in range(8):
                acc[u] += abs(np.float64(w[i + u]))
            i += 8
        for j in range(i, hi):
            acc[0] += abs(np.float64(w[j]))
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


def _norm_drive(w, partial, squared):
    nchunks = partial.size
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, w.size)
        partial[c] = _norm_range(w, lo, hi, squared)
    total = 0.0
    for c in range(nchunks):
        total += partial[c]
    return total


norm_serial, norm_parallel = jit_pair(_norm_drive)


# ----------------------------------------------------------------------- dropout

_GOLDEN = np.uint64(GOLDEN)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


@jit
def dropout_range(y, x, key, threshold, scale, lo, hi):
    """y = x * (keep ? scale : 0) with keep = (mix64(key + (i+1) GOLDEN) >> 40) >= threshold."""
    T = x.dtype.type
    s = T(scale)
    zero = T(0.0)
    for i in range(lo, hi):
        z = key + np.uint64(i + 1) * _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
        y[i] = x[i] * (s if (z >> _S40) >= threshold else zero)


def _dropout_drive(y, x, key, threshold, scale, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.size)
        dropout_range(y, x, key, threshold, scale, lo, hi)


dropout_serial, dropout_parallel = jit_pair(_dropout_drive)
