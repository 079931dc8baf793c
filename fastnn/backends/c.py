"""The C backend: thin cffi wrappers over csrc/ (the ABI is csrc/fastnn.h).

Same contract as ``reference.py``. No checks here: ``fastnn.kernels`` validated
every array (dtype, contiguity, shape) before the call, so each wrapper only
picks the _f32/_f64 symbol and hands over pointers.
"""
from __future__ import annotations

import os

import numpy as np

from fastnn._cfastnn import ffi, lib

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}
_NULL = ffi.NULL


def _p(arr):
    """Pointer to a C-contiguous float array (NULL for None)."""
    if arr is None:
        return _NULL
    return ffi.from_buffer(_CTYPE[arr.dtype], arr)


def _fn(name, dtype):
    return getattr(lib, "fnn_" + name + _SUFFIX[dtype])


# ------------------------------------------------------------------ runtime knobs


def isa_name() -> str:
    return ffi.string(lib.fnn_isa_name()).decode()


def set_isa(name: str) -> str:
    """Select "avx2" or "generic"; returns the ISA actually in use."""
    lib.fnn_set_isa(1 if name in ("avx2", "avx2-fma") else 0)
    return isa_name()


def cpu_has_avx2_fma() -> bool:
    return bool(lib.fnn_cpu_has_avx2_fma())


def set_num_threads(n: int) -> None:
    lib.fnn_set_num_threads(int(n))


def openmp_version() -> int:
    return int(lib.fnn_openmp_version())


if os.environ.get("FASTNN_ISA", "").lower() == "generic":
    set_isa("generic")


# ------------------------------------------------------------------------ kernels


def gemm(c, a, b, trans_a, trans_b, alpha, beta):
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    _fn("gemm", c.dtype)(_p(c), _p(a), _p(b), m, n, k, int(trans_a), int(trans_b), alpha, beta)


def dense_forward(out, z_out, x, w, b, act, param):
    n, i = x.shape
    _fn("dense_forward", x.dtype)(_p(out), _p(z_out), _p(x), _p(w), _p(b), n, i, w.shape[1], act, param)


def dense_backward(dx, dw, db, dz, dout, x, w, y, z, act, param):
    n, i = x.shape
    _fn("dense_backward", x.dtype)(
        _p(dx), _p(dw), _p(db), _p(dz), _p(dout), _p(x), _p(w), _p(y), _p(z), n, i, w.shape[1], act, param
    )


def act_forward(y, x, act, param):
    rows, cols = x.shape
    _fn("act_forward", x.dtype)(_p(y), _p(x), rows, cols, act, param)


def act_backward(dx, dy, y, x, act, param):
    rows, cols = dy.shape
    _fn("act_backward", dy.dtype)(_p(dx), _p(dy), _p(y), _p(x), rows, cols, act, param)


def softmax_xent(dlogits, logits, labels):
    n, k = logits.shape
    lab = ffi.from_buffer("int32_t[]", labels)
    return _fn("softmax_xent", logits.dtype)(_p(dlogits), _p(logits), lab, n, k)


def sigmoid_bce(dlogits, logits, targets):
    n, k = logits.shape
    return _fn("sigmoid_bce", logits.dtype)(_p(dlogits), _p(logits), _p(targets), n, k)


def mse(dpred, pred, target):
    n, k = pred.shape
    return _fn("mse", pred.dtype)(_p(dpred), _p(pred), _p(target), n, k)


def l1(w):
    return _fn("l1", w.dtype)(_p(w), w.size)


def l2(w):
    return _fn("l2", w.dtype)(_p(w), w.size)


def sgd(p, g, lr, l2, l1, wd):
    _fn("sgd", p.dtype)(_p(p), _p(g), p.size, lr, l2, l1, wd)


def momentum(p, v, g, lr, mu, nesterov, l2, l1, wd):
    _fn("momentum", p.dtype)(_p(p), _p(v), _p(g), p.size, lr, mu, int(nesterov), l2, l1, wd)


def adagrad(p, acc, g, lr, eps, l2, l1, wd):
    _fn("adagrad", p.dtype)(_p(p), _p(acc), _p(g), p.size, lr, eps, l2, l1, wd)


def rmsprop(p, sq, g, lr, rho, eps, l2, l1, wd):
    _fn("rmsprop", p.dtype)(_p(p), _p(sq), _p(g), p.size, lr, rho, eps, l2, l1, wd)


def adam(p, m, v, g, lr, b1, b2, eps, t, l2, l1, wd):
    _fn("adam", p.dtype)(_p(p), _p(m), _p(v), _p(g), p.size, lr, b1, b2, eps, int(t), l2, l1, wd)


def dropout(y, x, key, threshold, scale):
    _fn("dropout", x.dtype)(_p(y), _p(x), x.size, key, threshold, scale)
