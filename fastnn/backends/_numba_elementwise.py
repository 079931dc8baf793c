"""Numba kernels for activations, losses, penalties and dropout (not gemm, not optimizers).

Each kernel is a plain loop over whole flat, C-contiguous arrays (``*_loop``)
plus a driver that cuts the arrays into chunks with ``prange`` and runs the loop
on each slice; ``jit_pair`` compiles the driver serially and in parallel and
``fastnn.backends.numba`` picks one by size. Loops run over ``range(n)`` of
slices rather than ``range(lo, hi)`` of whole arrays: with a start that might be
negative Numba's index wrap-around hides the access pattern of an in-place
update from LLVM, which then does not vectorise it.

Scalars are cast once to the array dtype (``T = x.dtype.type``) so float32
arithmetic stays float32, as in the reference. exp/expm1/tanh/log1p/erf come
from ``_numba_math`` (vectorisable; libm calls would keep the loops scalar).

In place
--------
When the output is the input (``act_forward(y, y)``, ``act_backward`` with dx
= dy, dense_forward without a preact buffer, dense_backward with dz = dout,
dropout with out = x), LLVM's runtime check that two array arguments do not
overlap fails and the loop runs its scalar fallback: 3-12x slower per element
(float32 gelu backward 15.7 ns against 1.75, softplus forward 13.2 against
1.1). So each such loop is a body inlined at Numba-IR level (``jit_inline``)
twice by its entry point: with the output passed for the input too when
``same_buffer`` says they are one array (a single pointer: nothing for LLVM to
check), else as called. Same operations per element, so in place is bitwise
out of place; a partial overlap (which the kernel API refuses) takes the
two-array copy and LLVM's checked scalar path. The price is compile time: the
second copy is typed too, which adds about 2.5 s (forward) and 1.5 s
(backward) to a cold compile per dtype; the cache then loads it. (A plain
``@jit`` body called twice does not do: LLVM merges the two calls and the in-
place one is scalar again. Computing in-place calls through a 512-element
scratch block compiles one copy but costs an allocation per call, per row in
the dense epilogues: in place ran 5-10% slower than out of place.)

Sums without fastmath do not vectorise (a sequential chain), so reductions keep
independent partial sums: the penalties and BCE's terms are summed by
``_numba_math.dsum*`` (16 float64 lanes in a vector register), mse adds into
256 float64 lanes in memory (a vector loop over columns of a [n/256, 256] view:
one pass over pred and target, faster than the C backend's two), softmax's row
maxima, sums and (backward) dots are ``_numba_math.vmax`` / ``vsum`` / ``vdot``
(16 lanes in the arrays' dtype, in a vector register). Loss sums are float64
per fixed-size chunk, so they do not depend on the number of threads.
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
from ._numba_jit import jit, jit_inline, jit_pair
from ._numba_math import dsum, dsumabs, dsumsq, select, vdot, verf, vexp, vexpm1, vlog1p_unit, vmax, vsum, vtanh

SQRT_2_OVER_PI = 0.7978845608028654
INV_SQRT_2 = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
GELU_C = 0.044715
GELU_3C = 3 * 0.044715  # as the reference computes it: a float64 product, then cast

#: lanes of the float64 partial sums of mse
LANES = 256
#: elements per chunk of a reduction (fixed, so sums do not depend on threads)
RED_CHUNK = 1 << 14
#: elements per block of sigmoid_bce's passes (as TERM_BLOCK in csrc/losses.c)
TERM_BLOCK = 512
#: elements per block of rows of the softmax's flat exp pass (as XENT_BLOCK in csrc/losses.c
#: and SOFTMAX_BLOCK in csrc/activations.c)
XENT_BLOCK = 2048


@jit
def chunk_bounds(c, nchunks, n):
    """[lo, hi) of chunk c when n items are split into nchunks nearly equal parts."""
    step = (n + nchunks - 1) // nchunks
    lo = min(n, c * step)
    return lo, min(n, lo + step)


@jit
def red_chunks(n):
    """Number of RED_CHUNK-element chunks of a reduction over n elements (at least one)."""
    return max(1, -(-n // RED_CHUNK))


@jit_inline
def same_buffer(a, b):
    """True when a and b are the same memory (an in-place call), as far as a loop over them goes."""
    return a.ctypes.data == b.ctypes.data and a.size == b.size


# ---------------------------------------------------------------- scalar math


@jit_inline
def sigmoid_s(v):
    """1 / (1 + e^-v), stable on both sides: exp of a non-positive number never overflows."""
    T = type(v)
    one = T(1.0)
    e = vexp(-abs(v))
    return select(v >= T(0.0), one, e) / (one + e)


@jit_inline
def softplus_s(v):
    """log(1 + e^v) = max(v, 0) + log1p(e^-|v|)."""
    T = type(v)
    return select(v > T(0.0), v, T(0.0)) + vlog1p_unit(vexp(-abs(v)))


@jit_inline
def gelu_s(v):
    T = type(v)
    return T(0.5) * v * (T(1.0) + verf(v * T(INV_SQRT_2)))


@jit_inline
def gelu_tanh_s(v):
    T = type(v)
    # 0.5 v (1 + tanh(u)) = v sigmoid(2u): no cancellation where tanh(u) ~ -1
    u2 = T(2 * SQRT_2_OVER_PI) * (v + T(GELU_C) * v * v * v)
    return v * sigmoid_s(u2)


@jit_inline
def gelu_grad_s(x):
    T = type(x)
    cdf = T(0.5) * (T(1.0) + verf(x * T(INV_SQRT_2)))
    return cdf + x * T(INV_SQRT_2PI) * vexp(T(-0.5) * x * x)


@jit_inline
def gelu_tanh_grad_s(x):
    T = type(x)
    one = T(1.0)
    # with s = sigmoid(2u): 0.5 (1 + t) = s and 0.5 (1 - t^2) = 2 s (1 - s),
    # s (1 - s) = e / (1 + e)^2 with e = exp(-2|u|), exact on both sides
    u2 = T(2 * SQRT_2_OVER_PI) * (x + T(GELU_C) * x * x * x)
    du = T(SQRT_2_OVER_PI) * (one + T(GELU_3C) * x * x)
    e = vexp(-abs(u2))
    inv = one / (one + e)
    return select(u2 >= T(0.0), one, e) * inv + T(2.0) * x * du * (e * inv * inv)


# ---------------------------------------------------------- elementwise activations
# One loop per activation (the branch is outside the loop) so that each vectorises.
# Each loop that may run in place is a body plus an entry point ("In place", module docstring).


@jit_inline
def _act_forward_body(y, x, act, param):
    T = x.dtype.type
    p = T(param)
    zero = T(0.0)
    n = x.size
    # "not (v <= 0)" rather than "v > 0": a NaN passes through, as np.maximum(x, 0)
    if act == ACT_RELU:
        for i in range(n):
            v = x[i]
            y[i] = v if not (v <= zero) else zero
    elif act == ACT_LEAKY_RELU:
        for i in range(n):
            v = x[i]
            y[i] = v if v > zero else v * p
    elif act == ACT_SIGMOID:
        for i in range(n):
            y[i] = sigmoid_s(x[i])
    elif act == ACT_TANH:
        for i in range(n):
            y[i] = vtanh(x[i])
    elif act == ACT_SOFTPLUS:
        for i in range(n):
            y[i] = softplus_s(x[i])
    elif act == ACT_GELU:
        for i in range(n):
            y[i] = gelu_s(x[i])
    elif act == ACT_GELU_TANH:
        for i in range(n):
            y[i] = gelu_tanh_s(x[i])
    elif act == ACT_ELU:
        for i in range(n):
            v = x[i]
            # expm1 of min(v, 0) (a NaN kept): the unused branch must not overflow
            y[i] = v if v > zero else p * vexpm1(v if not (v >= zero) else zero)
    else:  # identity
        for i in range(n):
            y[i] = x[i]


@jit
def act_forward_loop(y, x, act, param):
    """y = act(x) for an elementwise activation code (flat arrays of one size; y may be x)."""
    if same_buffer(y, x):  # see "In place" in the module docstring
        _act_forward_body(y, y, act, param)
    else:
        _act_forward_body(y, x, act, param)


def _act_forward_drive(y, x, act, param, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.size)
        act_forward_loop(y[lo:hi], x[lo:hi], act, param)


act_forward_serial, act_forward_parallel = jit_pair(_act_forward_drive)


@jit_inline
def _act_backward_body(dx, dy, y, x, act, param):
    T = dy.dtype.type
    p = T(param)
    one = T(1.0)
    zero = T(0.0)
    n = dy.size
    if act == ACT_RELU:
        for i in range(n):
            dx[i] = dy[i] * (one if y[i] > zero else zero)
    elif act == ACT_LEAKY_RELU:
        for i in range(n):
            dx[i] = dy[i] * (one if y[i] > zero else p)
    elif act == ACT_SIGMOID:
        for i in range(n):
            v = y[i]
            dx[i] = dy[i] * (v * (one - v))
    elif act == ACT_TANH:
        for i in range(n):
            v = y[i]
            dx[i] = dy[i] * (one - v * v)
    elif act == ACT_SOFTPLUS:
        for i in range(n):
            dx[i] = dy[i] * -vexpm1(-y[i])
    elif act == ACT_GELU:
        for i in range(n):
            dx[i] = dy[i] * gelu_grad_s(x[i])
    elif act == ACT_GELU_TANH:
        for i in range(n):
            dx[i] = dy[i] * gelu_tanh_grad_s(x[i])
    elif act == ACT_ELU:
        for i in range(n):
            v = y[i]
            dx[i] = dy[i] * (one if v > zero else v + p)
    else:  # identity
        for i in range(n):
            dx[i] = dy[i]


@jit
def act_backward_loop(dx, dy, y, x, act, param):
    """dx = dy * act'(.); y and x are always arrays (a stand-in for the one not read); dx may be dy."""
    if same_buffer(dx, dy):  # see "In place" in the module docstring
        _act_backward_body(dx, dx, y, x, act, param)
    else:
        _act_backward_body(dx, dy, y, x, act, param)


def _act_backward_drive(dx, dy, y, x, act, param, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, dy.size)
        act_backward_loop(dx[lo:hi], dy[lo:hi], y[lo:hi], x[lo:hi], act, param)


act_backward_serial, act_backward_parallel = jit_pair(_act_backward_drive)


# ------------------------------------------------------------------ row softmax


@jit_inline
def _exp_shifted(e, x, mxs):
    """e = exp(x - its row's max) for a block of rows (2-D; e may be x); mxs[r] = row r's max.

    The shifted rows first, then one flat exp pass over the whole block, as csrc/
    does: it vectorises however short the rows (an exp loop per row of 10 classes
    ran scalar: the softmax forward took 3.5x the C time at 128x10)."""
    for r in range(x.shape[0]):
        mx = vmax(x[r])
        mxs[r] = mx
        for j in range(x.shape[1]):
            e[r, j] = x[r, j] - mx
    ef = e.reshape(-1)
    for i in range(ef.size):
        ef[i] = vexp(ef[i])


@jit_inline
def _softmax_block(y, x, mxs):
    """y = softmax(x) for a block of rows (2-D; y may be x)."""
    _exp_shifted(y, x, mxs)
    one = x.dtype.type(1.0)
    for r in range(y.shape[0]):
        inv = one / vsum(y[r])  # a multiply per element, as csrc/: a division costs 2-4x more
        for j in range(y.shape[1]):
            y[r, j] = y[r, j] * inv


@jit
def softmax_rows(y, x, lo, hi):
    """y = softmax(x) (max-subtracted exp, divided by the row sum) for rows [lo, hi) of
    2-D arrays, in blocks of XENT_BLOCK elements; y may be x. A call per range of rows,
    not per row (a call and a view per row cost more than a row of 10)."""
    mxs = np.empty(max(1, XENT_BLOCK // x.shape[1]), x.dtype)
    for b0 in range(lo, hi, mxs.size):
        yb = y[b0 : min(hi, b0 + mxs.size)]
        xb = x[b0 : b0 + yb.shape[0]]
        if same_buffer(yb, xb):  # one view for both: see "In place" in the module docstring
            _softmax_block(yb, yb, mxs)
        else:
            _softmax_block(yb, xb, mxs)


def _softmax_forward_drive(y, x, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.shape[0])
        softmax_rows(y, x, lo, hi)


softmax_forward_serial, softmax_forward_parallel = jit_pair(_softmax_forward_drive)


@jit_inline
def _softmax_backward_rows_body(dx, dy, y, lo, hi):
    for i in range(lo, hi):
        dot = vdot(dy[i], y[i])
        for j in range(y.shape[1]):
            dx[i, j] = y[i, j] * (dy[i, j] - dot)


@jit
def softmax_backward_rows(dx, dy, y, lo, hi):
    """dx = y * (dy - sum(dy * y, row)) for rows [lo, hi) of 2-D arrays; dx may be dy.

    A call per block of rows, not per row: a call taking three row views (each an
    atomic reference count up and down) cost more than a row of 10 (2.5x the C
    time at 128x10, 1.3x at 512x512)."""
    if same_buffer(dx, dy):  # see "In place" in the module docstring
        _softmax_backward_rows_body(dx, dx, y, lo, hi)
    else:
        _softmax_backward_rows_body(dx, dy, y, lo, hi)


def _softmax_backward_drive(dx, dy, y, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, y.shape[0])
        softmax_backward_rows(dx, dy, y, lo, hi)


softmax_backward_serial, softmax_backward_parallel = jit_pair(_softmax_backward_drive)


# ----------------------------------------------------------------------- losses


def _xent_drive(dl, logits, labels, inv_n, nchunks):
    """Sum over rows of logsumexp - logit[label]; dl = (softmax - onehot) / n if given.

    Blocks of rows, as the C backend: the exp of a block goes to dl (or a buffer)
    in one flat pass (``_exp_shifted``), then each row's sum, loss and gradient.
    The row losses are added in row order, so the sum does not depend on threads.
    """
    n, k = logits.shape
    rb = max(1, XENT_BLOCK // k)
    rowloss = np.empty(n)
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, n)
        T = logits.dtype.type
        g = T(inv_n)
        one = T(1.0)
        buf = np.empty((0 if dl is not None else rb, k), logits.dtype)
        mxs = np.empty(rb, logits.dtype)
        for b0 in range(lo, hi, rb):
            nr = min(hi - b0, rb)
            if dl is None:
                e = buf[:nr]
            else:
                e = dl[b0 : b0 + nr]
            _exp_shifted(e, logits[b0 : b0 + nr], mxs)
            for r in range(nr):
                s = vsum(e[r])
                lab = labels[b0 + r]
                if dl is not None:
                    inv = one / s  # as in _softmax_block
                    e_lab = e[r, lab]
                    for j in range(k):
                        e[r, j] = (e[r, j] * inv) * g
                    e[r, lab] = (e_lab * inv - one) * g
                rowloss[b0 + r] = np.float64(math.log(s) - (logits[b0 + r, lab] - mxs[r]))
    total = 0.0
    for i in range(n):
        total += rowloss[i]
    return total


softmax_xent_serial, softmax_xent_parallel = jit_pair(_xent_drive)


@jit
def _bce_block(dl, x, t, g, e, term):
    """Sum of the BCE terms of one block (x, t, dl: its slices; e, term: scratch of
    its size); dl = (sigmoid - t) g if given.

    Flat passes, as csrc/losses.c: e = e^-|x| (for the loss and the sigmoid both),
    the terms, the gradient, then their float64 sum. One loop doing everything
    ran at 1.7-1.9x the C time in float32: its float64 partial sums set the
    vector width of the whole loop (8 floats where these passes take 16 with
    AVX-512) and cost a load and a store per vector.
    """
    T = x.dtype.type
    zero = T(0.0)
    one = T(1.0)
    for i in range(x.size):
        e[i] = vexp(-abs(x[i]))
    for i in range(x.size):
        v = x[i]
        term[i] = select(v > zero, v, zero) - v * t[i] + vlog1p_unit(e[i])
    if dl is not None:
        for i in range(x.size):
            dl[i] = (select(x[i] >= zero, one, e[i]) / (one + e[i]) - t[i]) * g
    return dsum(term)


def _bce_drive(dl, x, t, inv_n):
    """The arrays as the caller has them (1-D or 2-D), flattened here: three reshapes in
    Python cost 0.5 us, a fifth of a 128x10 call."""
    xf, tf = x.reshape(-1), t.reshape(-1)
    partial = np.empty(red_chunks(xf.size))
    for c in prange(partial.size):
        lo = c * RED_CHUNK
        hi = min(xf.size, lo + RED_CHUNK)
        g = x.dtype.type(inv_n)
        e = np.empty(TERM_BLOCK, x.dtype)
        term = np.empty(TERM_BLOCK, x.dtype)
        s = 0.0
        for b in range(lo, hi, TERM_BLOCK):
            m = min(TERM_BLOCK, hi - b)
            if dl is None:
                s += _bce_block(None, xf[b : b + m], tf[b : b + m], g, e[:m], term[:m])
            else:
                s += _bce_block(dl.reshape(-1)[b : b + m], xf[b : b + m], tf[b : b + m], g, e[:m], term[:m])
        partial[c] = s
    total = 0.0
    for c in range(partial.size):
        total += partial[c]
    return total


sigmoid_bce_serial, sigmoid_bce_parallel = jit_pair(_bce_drive)


@jit
def _mse_loop(dl, pred, target, inv_n, acc, lo, hi):
    """acc[lane] += (pred - target)^2 in float64 over [lo, hi); dl = diff / n there if given."""
    g = pred.dtype.type(inv_n)
    m = (hi - lo) // LANES * LANES
    pb = pred[lo : lo + m].reshape((-1, LANES))
    tb = target[lo : lo + m].reshape((-1, LANES))
    if dl is not None:
        db = dl[lo : lo + m].reshape((-1, LANES))
    for r in range(pb.shape[0]):
        for u in range(LANES):
            d = pb[r, u] - tb[r, u]
            acc[u] += np.float64(d) * np.float64(d)
            if dl is not None:
                db[r, u] = d * g
    for i in range(lo + m, hi):
        d = pred[i] - target[i]
        acc[0] += np.float64(d) * np.float64(d)
        if dl is not None:
            dl[i] = d * g


def _mse_drive(dl, pred, target, inv_n):
    partial = np.empty(red_chunks(pred.size))
    for c in prange(partial.size):
        lo = c * RED_CHUNK
        hi = min(pred.size, lo + RED_CHUNK)
        acc = np.zeros(LANES)
        _mse_loop(dl, pred, target, inv_n, acc, lo, hi)
        partial[c] = acc.sum()
    total = 0.0
    for c in range(partial.size):
        total += partial[c]
    return total


mse_serial, mse_parallel = jit_pair(_mse_drive)


def _norm_drive(w, squared):
    """sum w^2 (or |w|) in float64, RED_CHUNK elements at a time."""
    partial = np.empty(red_chunks(w.size))
    for c in prange(partial.size):
        chunk = w[c * RED_CHUNK : (c + 1) * RED_CHUNK]
        partial[c] = dsumsq(chunk) if squared else dsumabs(chunk)
    total = 0.0
    for c in range(partial.size):
        total += partial[c]
    return total


norm_serial, norm_parallel = jit_pair(_norm_drive)


# ----------------------------------------------------------------------- dropout

_GOLDEN = np.uint64(GOLDEN)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


@jit_inline
def _dropout_body(y, x, key, threshold, scale, start):
    T = x.dtype.type
    s = T(scale)
    zero = T(0.0)
    base = key + np.uint64(start + 1) * _GOLDEN
    for i in range(x.size):
        z = base + np.uint64(i) * _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
        y[i] = x[i] * (s if (z >> _S40) >= threshold else zero)


@jit
def dropout_loop(y, x, key, threshold, scale, start):
    """y = x * (keep ? scale : 0), keep = (mix64(key + (start+i+1) GOLDEN) >> 40) >= threshold.

    `start` is the flat index of x[0] in the whole array, so chunks draw the same mask.
    y may be x (see "In place" in the module docstring).
    """
    if same_buffer(y, x):
        _dropout_body(y, y, key, threshold, scale, start)
    else:
        _dropout_body(y, x, key, threshold, scale, start)


def _dropout_drive(y, x, key, threshold, scale, nchunks):
    for c in prange(nchunks):
        lo, hi = chunk_bounds(c, nchunks, x.size)
        dropout_loop(y[lo:hi], x[lo:hi], key, threshold, scale, lo)


dropout_serial, dropout_parallel = jit_pair(_dropout_drive)
