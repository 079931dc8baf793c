"""The C backend: thin cffi wrappers over csrc/ (the ABI is csrc/fastnn.h).

Same contract as ``reference.py``. No checks here: ``fastnn.kernels`` validated
every array (dtype, contiguity, shape) before the call, so each wrapper only
picks the _f32/_f64 symbol and hands over pointers.
"""
from __future__ import annotations

import os
import warnings

# libgomp reads GOMP_SPINCOUNT once, when it is loaded (with this extension, unless
# something loaded it before). Left unset, the libgomp here spins only its
# "throttled" ~100 rounds before a worker sleeps, so every OpenMP region of a
# training step paid a futex wake-up of the other core: 2-thread epochs ran up to
# 2.3x slower than 1-thread ones (digits 64-100-10, batch 200; with it set, 2
# threads are as fast or faster). 300000 is libgomp's documented default; a spin
# count or wait policy the user set wins.
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "300000"

from fastnn._cfastnn import ffi, lib  # noqa: E402  (after the environment is set)

NAME = "c"

_NULL = ffi.NULL
_from_buffer = ffi.from_buffer

# Per-call overhead matters (a small MLP step makes dozens of tiny calls), so the
# wrappers avoid everything but the call itself: the C function and the cffi
# array type are looked up once per kernel in a dict keyed by itemsize (4 for
# float32, 8 for float64: kernels.py admits no other float dtype), not built from
# strings per call, and pointers come from ffi.from_buffer with a pre-parsed type
# (about 5x cheaper than ffi.cast of arr.ctypes.data, measured).
_ARRAY_TYPE = {4: ffi.typeof("float[]"), 8: ffi.typeof("double[]")}
_INT32 = ffi.typeof("int32_t[]")


def _table(name: str) -> dict:
    """{itemsize: (lib.fnn_<name>_f32/_f64, cffi array type)} for one kernel."""
    return {4: (getattr(lib, f"fnn_{name}_f32"), _ARRAY_TYPE[4]),
            8: (getattr(lib, f"fnn_{name}_f64"), _ARRAY_TYPE[8])}


def _p(arr, ctype=None):
    """Pointer to a C-contiguous float array (NULL for None)."""
    if arr is None:
        return _NULL
    return _from_buffer(ctype or _ARRAY_TYPE[arr.itemsize], arr)


# ------------------------------------------------------------------ runtime knobs


def isa_name() -> str:
    return ffi.string(lib.fnn_isa_name()).decode()


#: ISA names set_isa takes, lowest first (a level includes those below it)
ISA_LEVELS = {"generic": 0, "avx2": 1, "avx2-fma": 1, "avx512": 2}


def set_isa(name: str) -> str:
    """Select the C kernels' ISA: "avx512", "avx2" or "generic", or the highest level
    below it that this CPU has; returns the ISA actually in use."""
    if name not in ISA_LEVELS:
        raise ValueError(f"set_isa: name must be one of {sorted(set(ISA_LEVELS))}, got {name!r}")
    lib.fnn_set_isa(ISA_LEVELS[name])
    return isa_name()


def cpu_has_avx2_fma() -> bool:
    return bool(lib.fnn_cpu_has_avx2_fma())


def cpu_has_avx512f() -> bool:
    return bool(lib.fnn_cpu_has_avx512f())


def cpu_has_full_rate_zmm_divide() -> bool:
    """Whether this CPU divides 512-bit vectors at full rate (AMD Zen 5 and later)."""
    return bool(lib.fnn_cpu_has_full_rate_zmm_divide())


def set_zmm_divide(on: bool) -> None:
    """Run the divider-bound optimizer updates on 512-bit vectors at the AVX-512 level
    (on by default where ``cpu_has_full_rate_zmm_divide()``) or on 8-lane forms. The
    results are the same bits either way; this knob is for tests and benchmarks. It
    stays off on a CPU without AVX-512F."""
    if not isinstance(on, (bool, int)):
        raise TypeError(f"set_zmm_divide: on must be a bool, got {type(on).__name__}")
    lib.fnn_set_zmm_divide(1 if on else 0)


def get_zmm_divide() -> bool:
    return bool(lib.fnn_get_zmm_divide())


def set_in_place_reuse(on: bool) -> None:
    """The AVX-512 matmul tile's packing plan: read in place the operands that many tiles
    re-read (on by default on AMD Zen 5 and later, where that measured faster) or pack
    them first (the plan measured faster on Xeon). The results are the same bits either
    way; this knob is for tests and benchmarks."""
    if not isinstance(on, (bool, int)):
        raise TypeError(f"set_in_place_reuse: on must be a bool, got {type(on).__name__}")
    lib.fnn_set_in_place_reuse(1 if on else 0)


def get_in_place_reuse() -> bool:
    return bool(lib.fnn_get_in_place_reuse())


def set_flush_subnormals(on: bool) -> None:
    """Whether the C backend flushes subnormal numbers (below 1.2e-38) to zero in float32
    training: throughout ``fastnn.kernels.train_epoch`` and ``loss_grad`` (every kernel
    they run, on every thread), and in the optimizer updates called alone
    (``fastnn.kernels.adam_update`` and the others, bound or not). On by default, as
    TensorFlow and XLA do on the CPU.

    A subnormal costs a microcode assist of ~100 cycles on x86. The weights of an input
    feature that is always zero decay into that range under an L2 penalty (digits, float32,
    30 epochs of Adam: the fit 1.3x slower), so does the Adam state of units whose
    gradient is zero (a user's own float32 Adam loop on the kernels, digits: 1.8x slower
    from epoch 50 on), and so do the probabilities of a confident softmax and the
    gradients they start (L-BFGS on digits near its optimum: 5.7x slower evaluations;
    100 epochs of Adam 1.6x slower). Off, they are kept, as NumPy and scikit-learn do.
    float64, the other kernels called alone and the numba and numpy backends never flush.
    FASTNN_FLUSH_SUBNORMALS=0 in the environment turns it off.
    """
    if not isinstance(on, (bool, int)):
        raise TypeError(f"set_flush_subnormals: on must be a bool, got {type(on).__name__}")
    lib.fnn_set_flush_subnormals(1 if on else 0)


def get_flush_subnormals() -> bool:
    return bool(lib.fnn_get_flush_subnormals())


def set_num_threads(n: int) -> None:
    lib.fnn_set_num_threads(int(n))


def openmp_version() -> int:
    return int(lib.fnn_openmp_version())


def _apply_environment() -> None:
    """FASTNN_ISA and FASTNN_FLUSH_SUBNORMALS; a value neither knows warns (naming the variable
    and what it takes) instead of being ignored silently."""
    isa = os.environ.get("FASTNN_ISA", "").strip().lower()
    if isa in ISA_LEVELS:
        set_isa(isa)
    elif isa:
        warnings.warn(f"fastnn: FASTNN_ISA={os.environ['FASTNN_ISA']!r} ignored: it takes one of "
                      f"{sorted(ISA_LEVELS)} (the C kernels use {isa_name()})", RuntimeWarning, stacklevel=2)
    flush = os.environ.get("FASTNN_FLUSH_SUBNORMALS", "").strip().lower()
    if flush in ("0", "false", "no", "off"):
        set_flush_subnormals(False)
    elif flush and flush not in ("1", "true", "yes", "on"):
        warnings.warn(f"fastnn: FASTNN_FLUSH_SUBNORMALS={os.environ['FASTNN_FLUSH_SUBNORMALS']!r} ignored: "
                      "it takes 0/false/no/off or 1/true/yes/on (float32 subnormals stay flushed)",
                      RuntimeWarning, stacklevel=2)


_apply_environment()


def _apply_thread_knob() -> None:
    from fastnn import threads  # late: fastnn.threads imports no backend

    if threads._forked_child:  # first imported in a child forked after OpenMP threads ran
        lib.fnn_enter_single_threaded_child()
    set_num_threads(threads.get_num_threads())


_apply_thread_knob()  # also when this module is imported directly, not through the registry


# ------------------------------------------------------------------------ kernels

_GEMM = _table("gemm")
_DENSE_FWD = _table("dense_forward")
_DENSE_BWD = _table("dense_backward")
_ACT_FWD = _table("act_forward")
_ACT_BWD = _table("act_backward")
_XENT = _table("softmax_xent")
_BCE = _table("sigmoid_bce")
_MSE = _table("mse")
_L1 = _table("l1")
_L2 = _table("l2")
_SGD = _table("sgd")
_MOMENTUM = _table("momentum")
_ADAGRAD = _table("adagrad")
_RMSPROP = _table("rmsprop")
_ADAM = _table("adam")
_DROPOUT = _table("dropout")


def gemm(c, a, b, trans_a, trans_b, alpha, beta):
    fn, t = _GEMM[c.itemsize]
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    # the flags go to C ints as they are: cffi converts a bool (or 0 / 1) itself
    fn(_from_buffer(t, c), _from_buffer(t, a), _from_buffer(t, b), m, n, k, trans_a, trans_b, alpha, beta)


def dense_forward(out, z_out, x, w, b, act, param):
    fn, t = _DENSE_FWD[x.itemsize]
    n, i = x.shape
    fn(_from_buffer(t, out), _p(z_out, t), _from_buffer(t, x), _from_buffer(t, w), _from_buffer(t, b),
       n, i, w.shape[1], act, param)


def dense_backward(dx, dw, db, dz, dout, x, w, y, z, act, param):
    fn, t = _DENSE_BWD[x.itemsize]
    n, i = x.shape
    fn(_p(dx, t), _from_buffer(t, dw), _from_buffer(t, db), _from_buffer(t, dz), _from_buffer(t, dout),
       _from_buffer(t, x), _from_buffer(t, w), _p(y, t), _p(z, t), n, i, w.shape[1], act, param)


def act_forward(y, x, act, param):
    fn, t = _ACT_FWD[x.itemsize]
    rows, cols = x.shape
    fn(_from_buffer(t, y), _from_buffer(t, x), rows, cols, act, param)


def act_backward(dx, dy, y, x, act, param):
    fn, t = _ACT_BWD[dy.itemsize]
    rows, cols = dy.shape
    fn(_from_buffer(t, dx), _from_buffer(t, dy), _p(y, t), _p(x, t), rows, cols, act, param)


def softmax_xent(dlogits, logits, labels):
    fn, t = _XENT[logits.itemsize]
    n, k = logits.shape
    return fn(_p(dlogits, t), _from_buffer(t, logits), _from_buffer(_INT32, labels), n, k)


def sigmoid_bce(dlogits, logits, targets):
    fn, t = _BCE[logits.itemsize]
    n, k = logits.shape
    return fn(_p(dlogits, t), _from_buffer(t, logits), _from_buffer(t, targets), n, k)


def mse(dpred, pred, target):
    fn, t = _MSE[pred.itemsize]
    n, k = pred.shape
    return fn(_p(dpred, t), _from_buffer(t, pred), _from_buffer(t, target), n, k)


def l1(w):
    fn, t = _L1[w.itemsize]
    return fn(_from_buffer(t, w), w.size)


def l2(w):
    fn, t = _L2[w.itemsize]
    return fn(_from_buffer(t, w), w.size)


def sgd(p, g, lr, l2, l1, wd):
    fn, t = _SGD[p.itemsize]
    fn(_from_buffer(t, p), _from_buffer(t, g), p.size, lr, l2, l1, wd)


def momentum(p, v, g, lr, mu, nesterov, l2, l1, wd):
    fn, t = _MOMENTUM[p.itemsize]
    fn(_from_buffer(t, p), _from_buffer(t, v), _from_buffer(t, g), p.size, lr, mu, 1 if nesterov else 0,
       l2, l1, wd)


def adagrad(p, acc, g, lr, eps, l2, l1, wd):
    fn, t = _ADAGRAD[p.itemsize]
    fn(_from_buffer(t, p), _from_buffer(t, acc), _from_buffer(t, g), p.size, lr, eps, l2, l1, wd)


def rmsprop(p, sq, g, lr, rho, eps, l2, l1, wd):
    fn, t = _RMSPROP[p.itemsize]
    fn(_from_buffer(t, p), _from_buffer(t, sq), _from_buffer(t, g), p.size, lr, rho, eps, l2, l1, wd)


def adam(p, m, v, g, lr, b1, b2, eps, t_step, l2, l1, wd):
    fn, t = _ADAM[p.itemsize]
    fn(_from_buffer(t, p), _from_buffer(t, m), _from_buffer(t, v), _from_buffer(t, g), p.size,
       lr, b1, b2, eps, t_step, l2, l1, wd)


def dropout(y, x, key, threshold, scale):
    fn, t = _DROPOUT[x.itemsize]
    fn(_from_buffer(t, y), _from_buffer(t, x), x.size, key, threshold, scale)
