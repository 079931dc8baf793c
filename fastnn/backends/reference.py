"""The NumPy reference backend: the executable statement of every kernel's math.

Plain and readable first; it is also the baseline every benchmark compares with, so
it avoids needless copies. Every function follows the backend contract:

* outputs first (caller-owned buffers, written in place), then inputs, then
  scalar parameters; arrays are C-contiguous and share one float dtype (labels
  int32) -- ``fastnn.kernels`` has checked all of that before the call;
* activation kernels see 2-D arrays [rows, cols]; ``act`` is an integer code
  from ``fastnn.backends._common.ACTIVATIONS``;
* losses return a Python float and write the gradient when its buffer is given.

Arithmetic stays in the arrays' dtype (NumPy 2 keeps float32 with Python-float
scalars), except loss sums, which are accumulated in float64.
"""
from __future__ import annotations

import numpy as np
from scipy.special import erf as _erf

from ._common import (
    ACT_ELU,
    ACT_GELU,
    ACT_GELU_TANH,
    ACT_IDENTITY,
    ACT_LEAKY_RELU,
    ACT_RELU,
    ACT_SIGMOID,
    ACT_SOFTMAX,
    ACT_SOFTPLUS,
    ACT_TANH,
    GOLDEN,
)

NAME = "numpy"

_SQRT_2_OVER_PI = 0.7978845608028654
_INV_SQRT_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_C = 0.044715


# --------------------------------------------------------------------------- gemm


def gemm(c, a, b, trans_a, trans_b, alpha, beta):
    """c = alpha * op(a) @ op(b) + beta * c (c is not read when beta == 0)."""
    oa = a.T if trans_a else a
    ob = b.T if trans_b else b
    if beta == 0.0:
        np.matmul(oa, ob, out=c)
        if alpha != 1.0:
            c *= alpha
    else:
        prod = oa @ ob
        if alpha != 1.0:
            prod *= alpha
        if beta != 1.0:
            c *= beta
        c += prod


# -------------------------------------------------------------------- activations


def _sigmoid(x, out):
    # stable on both sides: exp of a non-positive number never overflows
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1.0, e), 1.0 + e, out=out)
    return out


def _softmax_rows(x, out):
    np.subtract(x, x.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def act_forward(y, x, act, param):
    """y = act(x), elementwise (softmax: row-wise over the last axis)."""
    if act == ACT_IDENTITY:
        np.copyto(y, x)
    elif act == ACT_RELU:
        np.maximum(x, 0, out=y)
    elif act == ACT_LEAKY_RELU:
        np.copyto(y, np.where(x > 0, x, x * param))
    elif act == ACT_SIGMOID:
        _sigmoid(x, y)
    elif act == ACT_TANH:
        np.tanh(x, out=y)
    elif act == ACT_SOFTPLUS:  # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
        np.copyto(y, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))
    elif act == ACT_GELU:  # x * Phi(x)
        np.copyto(y, 0.5 * x * (1.0 + _erf(x * _INV_SQRT_2)))
    elif act == ACT_GELU_TANH:  # 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation where tanh(u) ~ -1
        np.multiply(x, _sigmoid(2 * _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x), np.empty_like(y)), out=y)
    elif act == ACT_ELU:
        np.copyto(y, np.where(x > 0, x, param * np.expm1(np.minimum(x, 0))))
    elif act == ACT_SOFTMAX:
        _softmax_rows(x, y)
    else:
        raise ValueError(f"unknown activation code {act}")


def act_grad(y, x, act, param):
    """act'(.) as an array, from the output y (or the input x for the gelus)."""
    if act == ACT_RELU:
        return (y > 0).astype(y.dtype)
    if act == ACT_LEAKY_RELU:
        return np.where(y > 0, 1.0, param).astype(y.dtype)
    if act == ACT_SIGMOID:
        return y * (1.0 - y)
    if act == ACT_TANH:
        return 1.0 - y * y
    if act == ACT_SOFTPLUS:  # sigmoid(x) = 1 - e^-y
        return -np.expm1(-y)
    if act == ACT_GELU:
        return 0.5 * (1.0 + _erf(x * _INV_SQRT_2)) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    if act == ACT_GELU_TANH:
        # with s = sigmoid(2u): 0.5 (1 + t) = s and 0.5 (1 - t^2) = 2 s (1 - s),
        # s (1 - s) = e / (1 + e)^2 with e = exp(-2|u|), exact on both sides
        u2 = 2 * _SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)
        du = _SQRT_2_OVER_PI * (1.0 + 3 * _GELU_C * x * x)
        e = np.exp(-np.abs(u2))
        inv = 1.0 / (1.0 + e)
        return np.where(u2 >= 0, 1.0, e) * inv + 2 * x * du * (e * inv * inv)
    if act == ACT_ELU:  # alpha e^x = y + alpha for x <= 0
        return np.where(y > 0, 1.0, y + param).astype(y.dtype)
    raise ValueError(f"act_grad: no elementwise derivative for activation code {act}")


def act_backward(dx, dy, y, x, act, param):
    """dx = dy * act'(.); softmax: dx = y * (dy - sum(dy * y, row))."""
    if act == ACT_IDENTITY:
        np.copyto(dx, dy)
    elif act == ACT_SOFTMAX:
        dot = np.sum(dy * y, axis=1, keepdims=True)
        np.multiply(y, dy - dot, out=dx)
    else:
        np.multiply(dy, act_grad(y, x, act, param), out=dx)


# -------------------------------------------------------------------------- dense


def dense_forward(out, z_out, x, w, b, act, param):
    """z = x @ w + b; out = act(z); z_out (optional) receives z."""
    z = z_out if z_out is not None else out
    np.matmul(x, w, out=z)
    z += b
    act_forward(out, z, act, param)


def dense_backward(dx, dw, db, dz, dout, x, w, y, z, act, param):
    """dz = dout * act'; dw = x^T dz; db = sum_rows dz; dx = dz w^T (when dx is given)."""
    act_backward(dz, dout, y, z, act, param)
    np.matmul(x.T, dz, out=dw)
    np.sum(dz, axis=0, out=db)
    if dx is not None:
        np.matmul(dz, w.T, out=dx)


# ------------------------------------------------------------------------- losses


def softmax_xent(dlogits, logits, labels, clip=0.0):
    """mean(-log softmax(logits)[label]); dlogits = (softmax - onehot) / n.

    clip > 0: the loss is scikit-learn's, -log of the probability clipped to
    [clip, 1 - clip] (the epoch's loss_clip; the gradient is unchanged)."""
    n = logits.shape[0]
    rows = np.arange(n)
    if clip > 0:
        p = _softmax_rows(logits, np.empty_like(logits))[rows, labels]
        terms = -np.log(np.clip(p, clip, 1 - clip))
    else:
        shifted = logits - logits.max(axis=1, keepdims=True)
        terms = np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, labels]
    loss = float(np.sum(terms, dtype=np.float64)) / n
    if dlogits is not None:
        _softmax_rows(logits, dlogits)
        dlogits[rows, labels] -= 1.0
        dlogits *= 1.0 / n
    return loss


def sigmoid_bce(dlogits, logits, targets, clip=0.0):
    """sum(BCE(sigmoid(logits), targets)) / n; dlogits = (sigmoid - targets) / n.

    clip > 0: the loss is scikit-learn's, from the probabilities clipped to
    [clip, 1 - clip]."""
    n = logits.shape[0]
    if clip > 0:
        p = np.clip(_sigmoid(logits, np.empty_like(logits)), clip, 1 - clip)
        per = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    else:
        per = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    loss = float(np.sum(per, dtype=np.float64)) / n
    if dlogits is not None:
        _sigmoid(logits, dlogits)
        dlogits -= targets
        dlogits *= 1.0 / n
    return loss


def mse(dpred, pred, target):
    """sum((pred - target)^2) / (2 n); dpred = (pred - target) / n."""
    n = pred.shape[0]
    diff = pred - target
    loss = float(np.sum(np.square(diff, dtype=np.float64))) / (2.0 * n)
    if dpred is not None:
        np.multiply(diff, 1.0 / n, out=dpred)
    return loss


def l1(w):
    """sum |w|."""
    return float(np.sum(np.abs(w), dtype=np.float64))


def l2(w):
    """sum w^2 / 2."""
    return 0.5 * float(np.sum(np.square(w, dtype=np.float64)))


# --------------------------------------------------------------------- optimizers
# Per element, in this order (csrc/fastnn.h states the same):
#   g' = g + l2 p;  p -= lr wd p;  p += step(g');  p = prox_L1(p, lr l1)


def _coupled(p, g, l2):
    return g + l2 * p if l2 else g


def _finish(p, step, lr, l1, wd):
    if wd:
        p -= (lr * wd) * p
    p += step
    if l1:
        thr = lr * l1
        np.copyto(p, np.sign(p) * np.maximum(np.abs(p) - thr, 0))


def sgd(p, g, lr, l2, l1, wd):
    """p -= lr g'."""
    _finish(p, -lr * _coupled(p, g, l2), lr, l1, wd)


def momentum(p, v, g, lr, mu, nesterov, l2, l1, wd):
    """v = mu v - lr g'; p += v (nesterov: p += mu v - lr g'), as scikit-learn."""
    gc = _coupled(p, g, l2)
    v *= mu
    v -= lr * gc
    step = mu * v - lr * gc if nesterov else v.copy()
    _finish(p, step, lr, l1, wd)


def adagrad(p, acc, g, lr, eps, l2, l1, wd):
    """acc += g'^2; p -= lr g' / (sqrt(acc) + eps)."""
    gc = _coupled(p, g, l2)
    acc += gc * gc
    _finish(p, -lr * gc / (np.sqrt(acc) + eps), lr, l1, wd)


def rmsprop(p, sq, g, lr, rho, eps, l2, l1, wd):
    """sq = rho sq + (1 - rho) g'^2; p -= lr g' / (sqrt(sq) + eps)."""
    gc = _coupled(p, g, l2)
    sq *= rho
    sq += (1.0 - rho) * gc * gc
    _finish(p, -lr * gc / (np.sqrt(sq) + eps), lr, l1, wd)


def adam(p, m, v, g, lr, b1, b2, eps, t, l2, l1, wd):
    """Adam in Kingma & Ba's efficient form (as scikit-learn); adamw = adam with wd."""
    gc = _coupled(p, g, l2)
    m *= b1
    m += (1.0 - b1) * gc
    v *= b2
    v += (1.0 - b2) * gc * gc
    lr_t = float(lr * np.sqrt(1.0 - b2**t) / (1.0 - b1**t))  # a Python float keeps float32 arrays float32
    _finish(p, -lr_t * m / (np.sqrt(v) + eps), lr, l1, wd)


# ------------------------------------------------------------------------ dropout

_GOLDEN = np.uint64(GOLDEN)


def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_keep(size, key, threshold):
    """Boolean keep-mask of `size` elements for one (key, threshold)."""
    idx = np.arange(1, size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _mix64(np.uint64(key) + idx * _GOLDEN)
    return (h >> np.uint64(40)) >= np.uint64(threshold)


def dropout(y, x, key, threshold, scale):
    """y = x * keep * scale, keep from the counter-based hash of (key, index)."""
    keep = dropout_keep(x.size, key, threshold).reshape(x.shape)
    np.multiply(x, keep * x.dtype.type(scale), out=y)
