"""The Numba backend: every kernel of the contract as @njit loops.

Same functions, arguments and semantics as ``fastnn/backends/reference.py``
(outputs first, written in place; losses return a Python float). The jitted
loops live in ``_numba_elementwise`` (activations, losses, penalties, dropout),
``_numba_optim`` (fused optimizer updates), ``_numba_dense`` (matrix products
and dense-layer epilogues) and ``_numba_math`` (vectorisable exp, expm1, tanh,
log1p, erf); ``_numba_jit`` holds the compile options. This module only picks, per
call, the serial or the parallel compiled variant and shapes the arguments.

Compilation is lazy and cached (``cache=True``): importing this module compiles
nothing; the first call of a kernel compiles it or loads it from the on-disk
cache, so a second process does not recompile. (Numba checks only the source
file of each jitted function for staleness: after editing a helper module,
delete the ``*.nbi``/``*.nbc`` files under ``fastnn/backends/__pycache__``.)

Threads: ``set_num_threads(n)`` (clamped to ``numba.config.NUMBA_NUM_THREADS``)
bounds the parallel variants; a kernel goes parallel only when every thread
gets at least ``PAR_MIN_WORK`` units of work (an element of a cheap loop is one
unit, an element needing exp/tanh/erf counts ``TRANSCENDENTAL_COST``), so small
problems stay on one thread and skip waking the pool. Numba's thread count is
per calling thread, so it is set before every parallel call. The dense
epilogues stay on one thread (see dense_forward).

Choosing the gemm
-----------------
Measured side by side in one process on one thread (AMD EPYC Zen 4, 2 cores
shared with other jobs: best of 15 interleaved rounds): square 256-1024 and
the MLP shapes (batch 32/128/512 x 64->128, 784->512, 512->256, 256->10, in
the forms X@W, X^T@dY, dY@W^T), float32 and float64.

* ``np.dot`` inside ``@njit`` calls SciPy's OpenBLAS (0.3.30, SkylakeX
  kernels) through ``scipy.linalg.cython_blas``; ``numpy.matmul`` calls NumPy's
  OpenBLAS (0.3.31). Same engine: 0.96-1.13x of numpy.matmul on every shape
  (about 100 GFLOP/s float32 and 50 float64 on the large ones; the small and
  10-wide ones gain a few percent from the lower call overhead). Transposed
  operands are passed to BLAS as flags, never copied.
* A cache-blocked Numba kernel (4 rows of C against a column block of B, the
  inner loop vectorised by LLVM; rank-1 updates for X^T@dY; B transposed once
  for dY@W^T) reached 4-50 GFLOP/s: 0.1-0.8x of BLAS on nearly every shape and
  about equal on one (784x128x512 X^T@dY). Numba has no register tiles (no
  stack arrays; without fastmath LLVM neither contracts to FMA nor
  reassociates), so the accumulators stay in L1 instead of registers.

So every product is BLAS through ``np.dot`` in ``@njit`` (``_numba_dense``), on
every shape; the Numba code around it fuses what BLAS cannot: the bias and
activation epilogue of dense_forward, and dz = dout * act' with the bias
gradient reduced in the same pass in dense_backward. SciPy's OpenBLAS has its
own thread pool, which NumPy's limits do not reach (left at its default it
oversubscribed the 2 cores badly in these measurements): this backend sets it to
its own thread count after the first product and whenever the count changes.

tanh
----
NumPy's tanh ufunc is hand-vectorised (AVX-512) and about 2x faster than the
best Numba loop without FMA contraction (``_numba_math.vtanh``), so the tanh
forward calls ``np.tanh`` on one thread and in dense_forward; the parallel
path of act_forward uses the Numba loop. Every other activation, loss,
penalty and update is a Numba loop, faster than NumPy's chain of ufuncs.

Measured (one thread, best of 11 interleaved rounds, float32 / float64):
every kernel >= 1.0x the reference at 128x512, 512x512 and 1e6 elements
except the BLAS-bound ones (gemm, dense: 0.94-1.10x, the same OpenBLAS) and
the tanh forward (0.97-1.0x, the same np.tanh); optimizers 2-27x, activations
1-70x, losses 2-7x.
"""
from __future__ import annotations

import math

import numba as _numba
import numpy as np

from . import _numba_dense as _dense
from . import _numba_elementwise as _ew
from . import _numba_optim as _opt
from ._common import ACT_ELU, ACT_IDENTITY, ACT_LEAKY_RELU, ACT_RELU, ACT_SIGMOID, ACT_SOFTMAX, ACT_TANH

NAME = "numba"

#: minimum work units per thread before a kernel runs in parallel (as the C backend's
#: FNN_ELEMWISE_PAR_MIN): below it, waking the pool costs more than it saves
PAR_MIN_WORK = 32768
#: work units of one element whose activation calls libm (exp, tanh, erf, ...)
TRANSCENDENTAL_COST = 8
_CHEAP_ACTS = (ACT_IDENTITY, ACT_RELU, ACT_LEAKY_RELU)
_CHEAP_GRADS = (ACT_IDENTITY, ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH, ACT_ELU)


def set_num_threads(n: int) -> None:
    """Let parallel kernels use up to `n` threads (clamped to [1, NUMBA_NUM_THREADS])."""
    global _threads
    _threads = max(1, min(int(n), _numba.config.NUMBA_NUM_THREADS))


def get_num_threads() -> int:
    """Threads the parallel kernels of this backend may use."""
    return _threads


def _default_threads() -> int:
    from fastnn.threads import get_num_threads as fastnn_threads

    return max(1, min(fastnn_threads(), _numba.config.NUMBA_NUM_THREADS))


_threads = _default_threads()


def _parallel(work: float) -> int:
    """Number of chunks to split `work` into: 0 means run the serial variant."""
    t = _threads
    if t <= 1 or work < 2 * PAR_MIN_WORK:
        return 0
    t = min(t, int(work // PAR_MIN_WORK))
    # numba's thread count is per calling thread: set it for this one every time
    _numba.set_num_threads(t)
    return t


# np.dot inside @njit calls SciPy's BLAS (scipy.linalg.cython_blas), which in
# the wheels is its own OpenBLAS with its own thread pool: NumPy's thread limits
# do not reach it. Give it this backend's thread count once it is loaded (after
# the first product) and whenever the count changes.
_blas_threads_set: int | None = None


def _sync_blas_threads() -> None:
    global _blas_threads_set
    _blas_threads_set = _threads
    try:
        import os

        import scipy
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    scipy_dir = os.path.dirname(scipy.__file__)
    dirs = (scipy_dir + os.sep, scipy_dir + ".libs" + os.sep)  # the package and its wheel's bundled libs
    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas" and lib.filepath and lib.filepath.startswith(dirs):
            lib.set_num_threads(_threads)


def _dot(c, a, b):
    _dense.dot_into(c, a, b)
    if _blas_threads_set != _threads:
        _sync_blas_threads()


def _flat(a):
    return a if a.ndim == 1 else a.reshape(-1)  # kernels.py passes penalties flat: a reshape is ~0.15 us


# ---------------------------------------------------------------------- gemm


def gemm(c, a, b, trans_a, trans_b, alpha, beta):
    """c = alpha * op(a) @ op(b) + beta * c (c is not read when beta == 0)."""
    oa = a.T if trans_a else a
    ob = b.T if trans_b else b
    if beta == 0.0 and alpha == 1.0:
        _dot(c, oa, ob)
    else:
        _dense.dot_scaled(c, oa, ob, float(alpha), float(beta))
        if _blas_threads_set != _threads:
            _sync_blas_threads()


# --------------------------------------------------------------- activations


def _act_cost(act, grad=False):
    cheap = _CHEAP_GRADS if grad else _CHEAP_ACTS
    return 1 if act in cheap else TRANSCENDENTAL_COST


def act_forward(y, x, act, param):
    """y = act(x), elementwise (softmax: row-wise over the last axis)."""
    param = float(param)
    if act == ACT_SOFTMAX:
        t = _parallel(x.size * TRANSCENDENTAL_COST)
        if t:
            _ew.softmax_forward_parallel(y, x, min(t, x.shape[0]))
        else:
            _ew.softmax_forward_serial(y, x, 1)
        return
    yf, xf = _flat(y), _flat(x)
    t = _parallel(x.size * _act_cost(act))
    if act == ACT_TANH and t < 2:
        np.tanh(x, out=y)  # NumPy's SIMD tanh (see "tanh" in the module docstring)
    elif t:
        _ew.act_forward_parallel(yf, xf, act, param, t)
    else:
        _ew.act_forward_loop(yf, xf, act, param)


def act_backward(dx, dy, y, x, act, param):
    """dx = dy * act'(.); softmax: dx = y * (dy - sum(dy * y, row))."""
    param = float(param)
    if act == ACT_SOFTMAX:
        t = _parallel(dy.size)
        if t:
            _ew.softmax_backward_parallel(dx, dy, y, min(t, dy.shape[0]))
        else:
            _ew.softmax_backward_serial(dx, dy, y, 1)
        return
    dxf, dyf = _flat(dx), _flat(dy)
    # a stand-in for the saved array the activation does not read (never indexed)
    yf = dyf if y is None else _flat(y)
    xf = dyf if x is None else _flat(x)
    t = _parallel(dy.size * _act_cost(act, grad=True))
    if t:
        _ew.act_backward_parallel(dxf, dyf, yf, xf, act, param, t)
    else:
        _ew.act_backward_loop(dxf, dyf, yf, xf, act, param)


# -------------------------------------------------------------------- dense


def dense_forward(out, z_out, x, w, b, act, param):
    """z = x @ w + b; out = act(z); z_out (optional) receives z."""
    z = out if z_out is None else z_out
    _dot(z, x, w)
    # The epilogue stays on one thread: it costs a few percent of the product, and
    # Numba's OpenMP workers spinning after a parallel region take the core the
    # BLAS threads of the next product need (measured: 2-thread dense 3-10x slower).
    if act == ACT_TANH:
        _dense.bias_act_serial(z, z, b, ACT_IDENTITY, 0.0, 1)
        np.tanh(z, out=out)
    else:
        _dense.bias_act_serial(out, z, b, act, float(param), 1)


def dense_backward(dx, dw, db, dz, dout, x, w, y, z, act, param):
    """dz = dout * act'; dw = x^T dz; db = sum_rows dz; dx = dz w^T (when dx is given)."""
    yy = dout if y is None else y
    zz = dout if z is None else z
    _dense.dz_db_serial(dz, db, dout, yy, zz, act, float(param), 1)  # one thread: see dense_forward
    _dot(dw, x.T, dz)
    if dx is not None:
        _dot(dx, dz, w.T)


# -------------------------------------------------------------------- losses


def softmax_xent(dlogits, logits, labels):
    """mean(-log softmax(logits)[label]); dlogits = (softmax - onehot) / n."""
    n = logits.shape[0]
    t = _parallel(logits.size * TRANSCENDENTAL_COST)
    if t:
        total = _ew.softmax_xent_parallel(dlogits, logits, labels, 1.0 / n, min(t, n))
    else:
        total = _ew.softmax_xent_serial(dlogits, logits, labels, 1.0 / n, 1)
    return float(total) / n


def sigmoid_bce(dlogits, logits, targets):
    """sum(BCE(sigmoid(logits), targets)) / n; dlogits = (sigmoid - targets) / n."""
    n = logits.shape[0]
    if _parallel(logits.size * TRANSCENDENTAL_COST):
        total = _ew.sigmoid_bce_parallel(dlogits, logits, targets, 1.0 / n)
    else:
        total = _ew.sigmoid_bce_serial(dlogits, logits, targets, 1.0 / n)
    return float(total) / n


def mse(dpred, pred, target):
    """sum((pred - target)^2) / (2 n); dpred = (pred - target) / n."""
    n = pred.shape[0]
    pf, tf = _flat(pred), _flat(target)
    dl = None if dpred is None else _flat(dpred)
    if _parallel(pf.size):
        total = _ew.mse_parallel(dl, pf, tf, 1.0 / n)
    else:
        total = _ew.mse_serial(dl, pf, tf, 1.0 / n)
    return float(total) / (2.0 * n)


def _norm(w, squared):
    wf = _flat(w)
    if _parallel(wf.size):
        return float(_ew.norm_parallel(wf, squared))
    return float(_ew.norm_serial(wf, squared))


def l1(w):
    """sum |w|."""
    return _norm(w, False)


def l2(w):
    """sum w^2 / 2."""
    return 0.5 * _norm(w, True)


# ---------------------------------------------------------------- optimizers
# Flat views of the (C-contiguous) buffers; the fused loop does the rest.


def _update(name, size, args):
    """Run _opt.<name>_loop, or _opt.<name>_parallel when `size` warrants threads."""
    t = _parallel(size)
    if t:
        getattr(_opt, name + "_parallel")(*args, t)
    else:
        getattr(_opt, name + "_loop")(*args)


def _penalties(l2, l1, wd):
    """(l2, l1, wd) as floats, None for those that are 0 ("Penalties by type" in _numba_optim)."""
    return (float(l2) if l2 else None, float(l1) if l1 else None,  # spelled out: per-call cost at 10k elements
            float(wd) if wd else None)


def sgd(p, g, lr, l2, l1, wd):
    """p -= lr g' (with the reference's coupled L2, decoupled decay and proximal L1)."""
    _update("sgd", p.size, (_flat(p), _flat(g), float(lr), *_penalties(l2, l1, wd)))


def momentum(p, v, g, lr, mu, nesterov, l2, l1, wd):
    """v = mu v - lr g'; p += v (nesterov: p += mu v - lr g'), as scikit-learn."""
    args = (_flat(p), _flat(v), _flat(g), float(lr), float(mu), *_penalties(l2, l1, wd))
    _update("nesterov" if nesterov else "momentum", p.size, args)


def adagrad(p, acc, g, lr, eps, l2, l1, wd):
    """acc += g'^2; p -= lr g' / (sqrt(acc) + eps)."""
    args = (_flat(p), _flat(acc), _flat(g), float(lr), float(eps), *_penalties(l2, l1, wd))
    _update("adagrad", p.size, args)


def rmsprop(p, sq, g, lr, rho, eps, l2, l1, wd):
    """sq = rho sq + (1 - rho) g'^2; p -= lr g' / (sqrt(sq) + eps)."""
    args = (_flat(p), _flat(sq), _flat(g), float(lr), float(rho), float(eps), *_penalties(l2, l1, wd))
    _update("rmsprop", p.size, args)


def adam(p, m, v, g, lr, b1, b2, eps, t, l2, l1, wd):
    """Adam in Kingma & Ba's efficient form (as scikit-learn); adamw = adam with wd."""
    lr, b1, b2 = float(lr), float(b1), float(b2)
    lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)  # as the reference, in float64
    args = (_flat(p), _flat(m), _flat(v), _flat(g), lr, lr_t, b1, b2, float(eps), *_penalties(l2, l1, wd))
    _update("adam", p.size, args)


# ------------------------------------------------------------------- dropout


def dropout(y, x, key, threshold, scale):
    """y = x * keep * scale, keep from the counter-based hash of (key, index)."""
    yf, xf = _flat(y), _flat(x)
    args = (yf, xf, np.uint64(key), np.uint64(threshold), float(scale))
    t = _parallel(xf.size)
    if t:
        _ew.dropout_parallel(*args, t)
    else:
        _ew.dropout_loop(*args, 0)
