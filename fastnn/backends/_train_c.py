"""The C epoch and full-batch gradient: cffi wrappers over fnn_train_epoch_* and
fnn_loss_grad_* (csrc/train.c).

Same contract as ``_train_reference.train_epoch``; ``fastnn.kernels.train_epoch``
has validated every argument, so this only hands pointers over.
"""
from __future__ import annotations

import numpy as np

# through fastnn.backends.c, never fastnn._cfastnn directly: its import sets up the
# library (GOMP_SPINCOUNT before libgomp loads, fastnn's thread count, FASTNN_ISA);
# imported alone, the epoch ran on every core whatever set_num_threads said
from fastnn.backends.c import ffi, lib

from ._common import CSR
from ._train_reference import LOSS_SOFTMAX_XENT

NAME = "c"

_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
_FN = {np.dtype(np.float32): lib.fnn_train_epoch_f32, np.dtype(np.float64): lib.fnn_train_epoch_f64}
_FN_CSR = {np.dtype(np.float32): lib.fnn_train_epoch_csr_f32, np.dtype(np.float64): lib.fnn_train_epoch_csr_f64}
_LOSS_GRAD = {np.dtype(np.float32): lib.fnn_loss_grad_f32, np.dtype(np.float64): lib.fnn_loss_grad_f64}
_LOSS_GRAD_CSR = {np.dtype(np.float32): lib.fnn_loss_grad_csr_f32, np.dtype(np.float64): lib.fnn_loss_grad_csr_f64}
_MLP_FORWARD = {np.dtype(np.float32): lib.fnn_mlp_forward_f32, np.dtype(np.float64): lib.fnn_mlp_forward_f64}
_NULL = ffi.NULL
_sizes_cache: dict = {}


def _sizes_array(sizes: tuple):
    """The int64 sizes array for C, kept alive and reused across epochs."""
    arr = _sizes_cache.get(sizes)
    if arr is None:
        if len(_sizes_cache) > 64:
            _sizes_cache.clear()
        arr = _sizes_cache[sizes] = np.array(sizes, dtype=np.int64)
    return arr


def _labels_targets(loss, ct, y):
    """y as the (labels, targets) pointer pair of the C calls: one of them NULL."""
    if loss == LOSS_SOFTMAX_XENT:
        return ffi.from_buffer("int32_t[]", y), _NULL
    return _NULL, ffi.from_buffer(ct, y)


def _x_args(ct, X):
    """X as the leading x arguments of the C call: (x,) dense, (data, indices, indptr) CSR."""
    if isinstance(X, CSR):
        return ffi.from_buffer(ct, X.data), ffi.from_buffer("int32_t[]", X.indices), \
            ffi.from_buffer("int64_t[]", X.indptr)
    return (ffi.from_buffer(ct, X),)


def train_epoch(params, grads, state, X, y, perm, sizes, act, param, loss, opt, lr, step, batch_size,
                momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout, seed, batch_losses,
                sample_weight=None, loss_clip=0.0, loss_div=1.0):
    """Run one epoch in C; return sum(batch_loss * rows) / len(perm)."""
    ct = _CTYPE[params.dtype]
    sz = _sizes_array(sizes)
    out = ffi.new("double *")
    labels, targets = _labels_targets(loss, ct, y)
    fn = (_FN_CSR if isinstance(X, CSR) else _FN)[params.dtype]
    status = fn(
        out,
        _NULL if batch_losses is None else ffi.from_buffer("double[]", batch_losses),
        ffi.from_buffer(ct, params), ffi.from_buffer(ct, grads),
        ffi.from_buffer(ct, state) if state.size else _NULL,
        *_x_args(ct, X), labels, targets,
        _NULL if sample_weight is None else ffi.from_buffer("double[]", sample_weight),
        ffi.from_buffer("int64_t[]", perm), ffi.from_buffer("int64_t[]", sz),
        len(sizes) - 1, perm.shape[0], batch_size, step, act, loss, opt, seed,
        param, lr, momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout, loss_clip, loss_div,
    )
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_train_epoch: could not allocate the epoch's workspace")
    return out[0]


def loss_grad(params, grads, X, y, sizes, act, param, loss, alpha, sample_weight=None, loss_clip=0.0):
    """The full-batch loss and gradient in C (see _train_reference.loss_grad)."""
    ct = _CTYPE[params.dtype]
    out = ffi.new("double *")
    labels, targets = _labels_targets(loss, ct, y)
    fn = (_LOSS_GRAD_CSR if isinstance(X, CSR) else _LOSS_GRAD)[params.dtype]
    status = fn(
        out, ffi.from_buffer(ct, grads), ffi.from_buffer(ct, params), *_x_args(ct, X), labels, targets,
        _NULL if sample_weight is None else ffi.from_buffer("double[]", sample_weight),
        ffi.from_buffer("int64_t[]", _sizes_array(sizes)), len(sizes) - 1, X.shape[0], act, loss, param,
        alpha, loss_clip,
    )
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_loss_grad: could not allocate the workspace of a pass over X")
    return out[0]


def mlp_forward(out, params, X, sizes, act, param):
    """The network's logits in C (see _train_reference.mlp_forward)."""
    ct = _CTYPE[params.dtype]
    status = _MLP_FORWARD[params.dtype](
        ffi.from_buffer(ct, out), ffi.from_buffer(ct, params), ffi.from_buffer(ct, X),
        ffi.from_buffer("int64_t[]", _sizes_array(sizes)), len(sizes) - 1, X.shape[0], act, param,
    )
    if status == lib.FNN_ENOMEM:
        raise MemoryError("fnn_mlp_forward: could not allocate the workspace of its chunks of rows")
    return out
