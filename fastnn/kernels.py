"""fastnn's public kernel API: validate once, then dispatch to a backend.

Every kernel takes ``backend=None`` (the current default, see
``fastnn.set_backend``) and works in float32 and float64. Arrays:

* **inputs** may be any array-like of float32/float64 (labels: any integer
  dtype, converted to int32); non-contiguous inputs are copied to C order.
  Integer, complex or mixed float dtypes raise TypeError.
* **outputs** (``out=`` and friends) are optional caller-owned buffers: they must
  be NumPy arrays of the exact shape and dtype, C-contiguous and writable, and
  must not overlap an input unless the kernel says so. They are rejected, never
  copied: a copy would silently drop the result.
* bad sizes and values raise ValueError naming the argument.

Nothing reaches a backend (and so C) unchecked. Weights are [in, out] (x @ w).

The checks cost ~0.7-7 us a call (``gemm`` on 1x1 operands: 3.4 us, numpy.matmul
0.9 us), as much as a batch-32 product itself; the largest share is one
``numpy.may_share_memory`` test (0.1-0.2 us) per output and input pair, up to 21
in a ``dense_backward`` (benchmarks/bench_call_overhead.py times every kernel
against its NumPy equivalent). A NumPy model gains most from the fused calls,
``dense_forward`` / ``dense_backward`` (product, bias, activation and its
derivative in one call) and ``train_epoch`` (a whole epoch in one call), not from
replacing each small ``@`` by ``gemm``; a loop that calls them on the same buffers
every batch can check each call once with ``bind`` and repeat it for the backend
call's cost alone.
"""
from __future__ import annotations

import functools
import inspect
import math
import sys
import threading
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import backends
from .backends._common import (
    ACTIVATIONS,
    ACT_ELU,
    ACT_LEAKY_RELU,
    ACT_SOFTMAX,
    CSR,
    DEFAULT_PARAM,
    NEEDS_INPUT_FOR_GRAD,
    dropout_key,
    dropout_threshold,
)

__all__ = [
    "ACTIVATIONS",
    "gemm",
    "dense_forward",
    "dense_backward",
    "activation_forward",
    "activation_backward",
    "softmax_xent",
    "sigmoid_bce",
    "mse",
    "l1_penalty",
    "l2_penalty",
    "sgd_update",
    "momentum_update",
    "nesterov_update",
    "adagrad_update",
    "rmsprop_update",
    "adam_update",
    "adamw_update",
    "dropout_forward",
    "dropout_backward",
    "dropout_mask",
    "bind",
    "BoundCall",
]

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# the same, as a set for _input's fast path: a hash lookup, half the cost of the tuple's
# comparisons; '>f4' != '<f4', so a byte-swapped array misses it and takes the slow path
_NATIVE_FLOATS = frozenset(FLOATS)
Array = np.ndarray

# --------------------------------------------------------------------- profiling
# fastnn.profile installs an object with a ``record(name, backend, seconds, flops,
# nbytes, dtype)`` method here; while it is None the only cost is one attribute test.
_profiler: Any = None


def _run(name: str, mod, fn_name: str, args: tuple, flops: float = 0.0, nbytes: float = 0.0,
         continues: bool = False):
    """The backend call ``mod.fn_name(*args)``, timed for the profiler when one is on (with
    `continues`: a further pass of the same public call, one event with the first)."""
    cap = _capture  # read once: another thread's bind may reset it meanwhile
    if cap is not None and cap[0] == threading.get_ident():  # bind() records this thread's call, runs nothing
        cap[1].append((name, mod, fn_name, args, flops, nbytes))
        return 0.0
    fn = getattr(mod, fn_name)
    prof = _profiler
    if prof is None:
        return fn(*args)
    t0 = prof.clock()
    result = fn(*args)
    seconds = prof.clock() - t0
    # the call's float dtype (its first float array's): the peak its GFLOP/s are a share of
    dtype = next((a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), None)
    prof.record(name, mod.NAME, seconds, flops, nbytes, dtype, continues)
    return result


# -------------------------------------------------------------------------- bind
# bind() calls a kernel once, checked, while _run records (and does not run) the backend
# call of that thread here as (thread ident, list); every other call pays one test of this global.
_capture: Optional[Tuple[int, list]] = None
_bind_lock = threading.Lock()
_BINDABLE = ("gemm", "dense_forward", "dense_backward", "activation_forward", "activation_backward", "mse",
             "sigmoid_bce", "softmax_xent", "sgd_update", "momentum_update", "nesterov_update", "adagrad_update",
             "rmsprop_update", "adam_update", "adamw_update", "dropout_forward", "dropout_backward", "loss_grad")
_LOSSES = ("mse", "sigmoid_bce", "softmax_xent")  # return (loss, gradient): the loss is the backend call's value
_SCALARS = (str, bool, int, float, np.generic, type(None))


class BoundCall:
    """A kernel call checked once by :func:`bind`: calling it runs the backend kernel on
    the bound memory and returns :attr:`result` (a loss: the new ``(loss, gradient)``,
    the gradient written into the same array)."""

    __slots__ = ("kernel", "result", "_call", "_step", "_labels")

    def __init__(self, kernel: str, result: Any, call: tuple, step: Optional[Tuple[int, Callable]] = None,
                 labels: Optional[Tuple[int, int]] = None) -> None:
        # step: (position in the backend call's arguments, step -> the checked value put there)
        self.kernel, self.result, self._call, self._step = kernel, result, call, step
        # labels: (their position in the backend call's arguments, the number of classes); they
        # index memory (softmax_xent's and loss_grad's rows of logits), so they are checked every call
        self._labels = labels

    def __call__(self, *, step: Optional[int] = None) -> Any:
        """Run the kernel; Adam's (``adam_update``, ``adamw_update``) take ``step=``,
        the update count, and dropout's its step, every time (a bound call repeating one
        step's bias correction would silently train with the wrong learning rate, one
        step's dropout mask would drop the same units every batch)."""
        call = self._call
        if self._step is not None:
            if step is None:
                raise TypeError(f"a bound {self.kernel} needs step= at every call")
            (i, value_of), args = self._step, call[3]
            call = call[:3] + (args[:i] + (value_of(step),) + args[i + 1:],) + call[4:]
        elif step is not None:
            raise TypeError(f"a bound {self.kernel} takes no step")
        if self._labels is not None:
            _check_label_range(call[3][self._labels[0]], self._labels[1])
        value = _run(*call)
        if self.kernel in _LOSSES:
            self.result = (float(value), self.result[1])
        elif self.kernel == "loss_grad":  # the loss; the gradient is in the bound grads
            self.result = float(value)
        return self.result

    def __repr__(self) -> str:
        return f"<fastnn.kernels.BoundCall {self.kernel} on backend {self._call[1].NAME!r}>"

    def __reduce__(self):
        raise TypeError("a fastnn.kernels.BoundCall is bound to this process's arrays and cannot be pickled or "
                        "copied; pickle the arrays and bind again")


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns a's memory (a itself, or the end of its chain of views)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def bind(kernel, *args, **kwargs) -> BoundCall:
    """Check a kernel call once; return a callable that makes it without the checks.

    ``fwd = kernels.bind(kernels.dense_forward, x, w, b, "relu", out=h)`` checks the call
    as the kernel does (the same errors) and runs nothing; every ``fwd()`` then runs the
    backend kernel on the same memory: it reads what x, w and b hold at that moment,
    overwrites h and returns what the kernel returns (``fwd.result``: the same output
    arrays every time; a loss's value is NaN until the first call). For loops that refill the
    same buffers every batch, where the checks cost as much as a small kernel (one
    thread, float32, batch 32, 64 -> 32 ReLU: ``dense_forward`` 4.6 us checked, 2.2 us
    bound, NumPy's ``np.maximum(x @ w + b, 0)`` 3.4 us; benchmarks/bench_call_overhead.py).

    Bindable: gemm, dense_forward, dense_backward, activation_forward,
    activation_backward, mse, sigmoid_bce, softmax_xent (its labels index memory: a bound
    call still checks that they lie in [0, classes), about 0.5 us, and raises ValueError
    before the kernel runs), dropout_forward and dropout_backward (with the bound p and
    seed), the updates (sgd_update, momentum_update, nesterov_update, adagrad_update,
    rmsprop_update, adam_update, adamw_update: each call is one more step with the bound
    hyperparameters) and loss_grad (each call returns the loss at what params holds and
    writes its gradient into grads: an optimizer's objective; with loss="softmax_xent" its
    labels are checked at every call, as softmax_xent's). A sparse X (CSR, loss_grad):
    its values (X.data, of params' dtype) are read in place, its structure (indices,
    indptr) is checked and copied at bind time, so the O(nnz) checks run once (0.5 ms a
    call for 1.5 million non-zeros) and no later change to the structure can reach C. Adam's
    updates take the update count and dropout its step at every call, ``adam(step=t)``: a
    repeated bias correction or mask would be silently wrong.
    Every array argument must be a NumPy array the kernel uses in place -- C-contiguous,
    the operands' dtype (labels: int32), and read or written by this call -- else
    ValueError: a copy (of a list, a strided view, another byte order) would not see
    later changes to the original. Outputs left to the kernel (``out=None``) are
    allocated once and overwritten by every call. The bound call holds its own views of the arrays (their
    shapes and the memory stay as checked) and the backend chosen at bind time; the
    thread count is read at each call. A call that runs no backend kernel (an empty
    operand; activation_backward of the identity, which is a copy) cannot be bound.
    """
    name = getattr(kernel, "__name__", None)
    if name not in _BINDABLE or globals().get(name) is not kernel:
        raise TypeError(f"bind takes one of fastnn.kernels' {', '.join(_BINDABLE)}; got {kernel!r}")
    given = inspect.signature(kernel).bind(*args, **kwargs).arguments  # TypeError for a wrong call
    arrays = {}
    for arg, value in given.items():
        if isinstance(value, _SCALARS) or arg == "sizes":  # (loss_grad's layer widths: checked, kept as ints)
            continue
        if name == "loss_grad" and arg == "X" and is_sparse(value):
            value = getattr(value, "data", None)  # (the values: read in place as a dense X is)
            if not isinstance(value, np.ndarray) or value.size == 0:
                continue  # (the checks below raise what loss_grad raises; no values: nothing to bind)
        if not isinstance(value, np.ndarray):
            raise ValueError(f"bind: {arg} must be a numpy.ndarray (the bound call reads and writes the memory "
                             f"it was bound to; a {type(value).__name__} would be copied), got "
                             f"{type(value).__name__}")
        if value.size == 0:  # (refused before the kernel would fill or scale an output)
            raise ValueError(f"bind: {arg} is empty: a call on an empty operand runs no kernel; call {name} directly")
        arrays[arg] = value
    if name == "activation_backward" and given.get("activation") == "identity":
        raise ValueError("bind: activation_backward of the identity is a copy (np.copyto), not a kernel")
    global _capture
    calls: list = []
    with _bind_lock:
        _capture = (threading.get_ident(), calls)
        try:
            result = kernel(*args, **kwargs)
        finally:
            _capture = None
    if len(calls) != 1:  # (the empty operands and the identity's copy are refused above)
        raise ValueError(f"bind: this {name} call makes {len(calls)} backend calls, not one; call it directly")
    call_name, mod, fn_name, call_args, flops, nbytes = calls[0]
    used = {id(_root(a.data if isinstance(a, CSR) else a)) for a in call_args if isinstance(a, (np.ndarray, CSR))}
    for arg, value in arrays.items():
        if id(_root(value)) not in used:
            raise ValueError(f"bind: {arg} is not used in place by {name} (it is copied -- not C-contiguous, "
                             f"or not the dtype the kernel takes: the operands' native float dtype, int32 "
                             f"labels -- or this call does not read it), so the bound call would not see "
                             f"later changes to it: pass a C-contiguous array of that dtype, or leave it out")
    # private views: a caller reassigning an array's .shape cannot change what the kernel reads;
    # a CSR X's structure copied (its indices, checked above, index memory in C)
    views = tuple(a.view(np.ndarray) if isinstance(a, np.ndarray)
                  else CSR(a.data.view(np.ndarray), a.indices.copy(), a.indptr.copy(), a.shape)
                  if isinstance(a, CSR) else a for a in call_args)
    if name in _LOSSES:
        result = (math.nan, result[1])  # the placeholder _run returned, until the first call
    elif name == "loss_grad":
        result = math.nan
    step = None
    if name in ("adam_update", "adamw_update"):  # the step is the call's one int (the hyperparameters are floats)
        (i,) = [i for i, a in enumerate(call_args) if type(a) is int]
        step = (i, _step)
    elif name in ("dropout_forward", "dropout_backward"):  # (out, x, key, threshold, scale)
        step = (2, functools.partial(_dropout_key, given["seed"]))
    labels = None
    if name == "softmax_xent":  # (dlogits, logits, labels)
        labels = (2, views[1].shape[1])
    elif name == "loss_grad":  # (params, grads, X, y, sizes, activation, param, loss, ...)
        from .backends import _train_reference as spec

        if views[7] == spec.LOSS_SOFTMAX_XENT:
            labels = (3, views[4][-1])
    return BoundCall(name, result, (call_name, mod, fn_name, views, flops, nbytes), step, labels)


# -------------------------------------------------------------------- validation


def is_sparse(a) -> bool:
    """Whether `a` is a scipy.sparse matrix or array (without importing scipy: a sparse
    object has imported it already)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(a)


def refuse_masked(name: str, a) -> None:
    """TypeError if `a` is a masked array with masked values: converting it to an array keeps
    the values under the mask and drops the mask, so they would be used as if valid."""
    if isinstance(a, np.ma.MaskedArray) and np.ma.is_masked(a):
        raise TypeError(f"{name} is a masked array with masked values, which fastnn cannot honour: fill them "
                        f"({name}.filled(value)) or drop them first")


def _all_finite(a: np.ndarray) -> bool:
    """Whether every entry of a is finite: a finite sum says so in one pass without a boolean
    temporary; only a sum that is not finite (an overflow of finite entries, or not) costs the
    full test."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.sum()) or np.isfinite(a).all())


def finite_as(name: str, given, dtype) -> np.ndarray:
    """`given` (an ndarray) as a C-contiguous `dtype` array, or a ValueError naming `name` if it
    holds NaN or infinity -- one that says so when the values were finite and the cast to a
    narrower dtype (float64 beyond float32's range) made them infinities."""
    with np.errstate(over="ignore"):  # reported below, by name, instead of a RuntimeWarning
        cast = np.ascontiguousarray(given, dtype=dtype)
    if _all_finite(cast):
        return cast
    if cast.dtype != given.dtype and given.dtype.kind == "f" and np.isfinite(given).all():
        raise ValueError(f"{name} has values beyond {cast.dtype.name}'s range (largest "
                         f"{np.finfo(cast.dtype).max:.4g}), which would become infinities: train in "
                         f"float64 or rescale {name}")
    raise ValueError(f"{name} contains NaN or infinity")


def _input(name: str, a, ndim: Optional[int] = None, dtype: Optional[np.dtype] = None) -> Array:
    """A C-contiguous float array from `a` (copied only when it is not one already)."""
    # fast path first: kernels are called per mini-batch, so validation must be cheap
    if type(a) is np.ndarray and a.dtype in _NATIVE_FLOATS and a.flags.c_contiguous:
        arr = a
    else:
        refuse_masked(name, a)
        arr = np.asarray(a)  # not ascontiguousarray alone: it turns a scalar into shape (1,)
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.dtype.char not in "fd":
            raise TypeError(f"{name} must be float32 or float64, got dtype {arr.dtype}")
        if not arr.dtype.isnative:  # e.g. '>f4' on x86: C would read every value byte-swapped
            arr = arr.astype(arr.dtype.newbyteorder("="))
    if dtype is not None and arr.dtype is not dtype and arr.dtype != dtype:
        raise TypeError(f"{name} has dtype {arr.dtype} but the other operands are {dtype}; cast explicitly")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


# numpy.may_share_memory without its __array_function__ dispatch layer (numpy >= 1.25
# exposes the C function as `_implementation`): 0.12 us a pair instead of 0.4, and a
# dense_backward checks about twenty pairs.
_may_share_memory = getattr(np.may_share_memory, "_implementation", np.may_share_memory)


def _output(name: str, out, shape: tuple, dtype: np.dtype, inputs: tuple = ()) -> Array:
    """`out` checked as a destination, or a new empty array when it is None."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    # one test passes the per-batch common case (flags.carray: C-contiguous, aligned and
    # writeable); anything else (a subclass, an equal dtype object, unaligned) is checked in full
    if type(out) is not np.ndarray or out.dtype is not dtype or out.shape != shape or not out.flags.carray:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dtype:
            raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
        if out.shape != tuple(shape):
            raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
        flags = out.flags
        if not flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous (outputs are never copied)")
        if not flags.writeable:
            raise ValueError(f"{name} must be writeable")
    for in_name, arr in inputs:  # an empty array overlaps nothing: may_share_memory says so
        if arr is not None and _may_share_memory(out, arr):
            raise ValueError(f"{name} overlaps {in_name}; pass a separate buffer")
    return out


# (code, default param) per activation name: _activation's answer when no param is given
_ACT_DEFAULTS = {name: (code, DEFAULT_PARAM.get(code, 0.0)) for name, code in ACTIVATIONS.items()}


def _activation(activation, param) -> Tuple[int, float]:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if param is None:  # the defaults are valid: nothing to check
        return _ACT_DEFAULTS[activation]
    code = ACTIVATIONS[activation]
    param = check_real("param", param)
    if param < 0 and code in (ACT_LEAKY_RELU, ACT_ELU):
        # every backward takes act' from the output's sign (y > 0 <=> x > 0), which a
        # negative slope / alpha breaks: the gradients would be silently wrong
        raise ValueError(f"param (the {activation} {'slope' if code == ACT_LEAKY_RELU else 'alpha'}) must be "
                         f">= 0, got {param}")
    return code, param


def check_real(name: str, value, bounds: Optional[tuple] = None, *, low: float = -math.inf,
               low_open: bool = False, high: float = math.inf, high_open: bool = False) -> float:
    """``value`` as a finite float within [low, high] (an end excluded when its ``*_open``
    flag is set; ``bounds`` a ``HYPERPARAMETERS`` entry instead); otherwise a ValueError
    (TypeError if it is not a real number) naming ``name``."""
    if bounds is not None:  # a HYPERPARAMETERS entry
        low, low_open, high, high_open = bounds
    if type(value) is float:  # the per-batch common case: nothing to convert or refuse
        v = value
    else:
        try:
            if isinstance(value, (str, bytes)):  # float("1e-3") would parse it: a number is expected
                raise TypeError
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < low or (low_open and v == low) or v > high or (high_open and v == high):
        bound = f" {'>' if low_open else '>='} {low}" if low > -math.inf else ""
        extra = f" and {'<' if high_open else '<='} {high}" if high < math.inf else ""
        raise ValueError(f"{name} must be a finite number{bound}{extra}, got {value!r}")
    return v


#: the optimizer hyperparameters' ranges, (low, low excluded, high, high excluded): one table
#: for the update kernels, train_epoch and the ``fastnn.nn.optimizers`` constructors, so that a
#: value a constructor accepts is one the first update accepts too. (Tuples, not check_real's
#: keywords: unpacking a dict of keywords cost the per-batch update kernels 0.1 us a value.)
_NONNEGATIVE = (0.0, False, math.inf, False)  # finite and >= 0
HYPERPARAMETERS = {
    "lr": _NONNEGATIVE, "l2": _NONNEGATIVE, "l1": _NONNEGATIVE, "weight_decay": _NONNEGATIVE,
    "momentum": (0.0, False, 1.0, False), "rho": (0.0, False, 1.0, False),
    "beta1": (0.0, False, 1.0, True), "beta2": (0.0, False, 1.0, True), "eps": (0.0, True, math.inf, False),
}
_HP = HYPERPARAMETERS  # short, for the update kernels' checks
_FLOAT_MAX = sys.float_info.max  # for exact floats, _NONNEGATIVE is [0, _FLOAT_MAX]


def hyperparameter(name: str, value) -> float:
    """`value` as a float in the range of optimizer hyperparameter `name` (``HYPERPARAMETERS``);
    otherwise a ValueError (TypeError if it is not a real number) naming it."""
    return check_real(name, value, HYPERPARAMETERS[name])


def _rows2d(name: str, arr: Array) -> Array:
    """View an array of ndim >= 1 as [rows, last axis] for row-wise kernels."""
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension")
    return arr.reshape(-1, arr.shape[-1]) if arr.ndim != 2 else arr


# -------------------------------------------------------------------------- gemm


def gemm(a, b, *, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
         out: Optional[Array] = None, backend: Optional[str] = None) -> Array:
    """Return ``alpha * op(a) @ op(b) + beta * out``: op(a) is ``a.T`` when trans_a is true,
    else a (the same for b), so op(a) is [m, k] and op(b) [k, n].

    a, b: 2-D float arrays of one dtype (a transposed operand is read in place, not
    copied). ``out`` [m, n] is read only when beta != 0 (then it is required) and is
    overwritten with the result.
    """
    mod = backends.resolve(backend)
    a = _input("a", a, 2)
    b = _input("b", b, 2, a.dtype)
    trans_a, trans_b = check_bool("trans_a", trans_a), check_bool("trans_b", trans_b)
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != kb:
        raise ValueError(f"inner dimensions differ: op(a) is {m}x{k}, op(b) is {kb}x{n}")
    alpha = check_real("alpha", alpha)
    beta = check_real("beta", beta)
    if beta != 0.0 and out is None:
        raise ValueError("beta != 0 needs out= (the matrix to accumulate into)")
    out = _output("out", out, (m, n), a.dtype, (("a", a), ("b", b)))
    if m and n:
        if k == 0:  # empty sum: only the beta term survives
            if beta == 0.0:
                out.fill(0.0)  # write-only, as for k > 0: a NaN already in out must not survive
            else:
                out *= beta
        else:
            _run("gemm", mod, "gemm", (out, a, b, trans_a, trans_b, alpha, beta),
                 2.0 * m * n * k, a.itemsize * (m * k + k * n + m * n))
    return out


# ------------------------------------------------------------------------- dense


def dense_forward(x, w, b, activation: str, *, out: Optional[Array] = None, preact: Optional[Array] = None,
                  param: Optional[float] = None, backend: Optional[str] = None) -> Array:
    """Return ``act(x @ w + b)``; x is [n, in], w is [in, out], b is [out].

    preact: optional [n, out] buffer that receives the pre-activation z (needed by
    dense_backward for gelu/gelu_tanh). param: see activation_forward.
    """
    mod = backends.resolve(backend)
    code, param = _activation(activation, param)
    x = _input("x", x, 2)
    w = _input("w", w, 2, x.dtype)
    b = _input("b", b, 1, x.dtype)
    n, i = x.shape
    if w.shape[0] != i:
        raise ValueError(f"w must have {i} rows (x has {i} columns), got shape {w.shape}")
    o = w.shape[1]
    if b.shape[0] != o:
        raise ValueError(f"b must have {o} elements (w has {o} columns), got shape {b.shape}")
    ins = (("x", x), ("w", w), ("b", b))
    out = _output("out", out, (n, o), x.dtype, ins)
    if preact is not None:
        preact = _output("preact", preact, (n, o), x.dtype, ins + (("out", out),))
    if n and o:
        if i == 0:
            _fill_bias_then_act(out, preact, b, code, param, mod)
        else:
            _dense_forward_call(mod, out, preact, x, w, b, code, param)
    return out


def _dense_forward_call(mod, out: Array, preact: Optional[Array], x: Array, w: Array, b: Array,
                          code: int, param: float) -> None:
    """dense_forward's backend call without its checks (private: C trusts these
    operands), for fastnn's own callers whose operands already are what the checks make
    them: C-contiguous, one float dtype, shapes [n, i] @ [i, o] + [o] -> out [n, o]
    (preact the same or None), n, i and o >= 1, no output overlapping an input; code
    and param from ``_activation``. The estimators' predict uses it (after
    _mlp_core._prechecked): the checks cost ~3 us a layer, as much as a one-row product."""
    n, i = x.shape
    o = w.shape[1]
    _run("dense_forward", mod, "dense_forward", (out, preact, x, w, b, code, param),
         2.0 * n * i * o, x.itemsize * (n * i + i * o + n * o))


def _fill_bias_then_act(out, preact, b, code, param, mod):
    z = np.broadcast_to(b, out.shape).copy()
    if preact is not None:
        preact[...] = z
    mod.act_forward(out, z, code, param)


def dense_backward(dout, x, w, activation: str, *, y: Optional[Array] = None, z: Optional[Array] = None,
                   param: Optional[float] = None, need_dx: bool = True, dx: Optional[Array] = None,
                   dw: Optional[Array] = None, db: Optional[Array] = None, dz: Optional[Array] = None,
                   backend: Optional[str] = None) -> Tuple[Optional[Array], Array, Array]:
    """Backward of ``y = act(x @ w + b)``; returns ``(dx, dw, db)`` (dx None if not need_dx).

    y: the forward output (needed by every activation but identity and the gelus);
    z: the pre-activation (needed by gelu and gelu_tanh). dz: optional [n, out]
    workspace; it may be ``dout`` itself, which is then overwritten. param: as in
    activation_forward (the forward's value).
    """
    mod = backends.resolve(backend)
    code, param = _activation(activation, param)
    dz_is_dout = dz is dout  # before _input, which views a memmap as a new ndarray
    dout = _input("dout", dout, 2)
    x = _input("x", x, 2, dout.dtype)
    w = _input("w", w, 2, dout.dtype)
    n, o = dout.shape
    i = x.shape[1]
    if x.shape[0] != n:
        raise ValueError(f"x must have {n} rows like dout, got shape {x.shape}")
    if w.shape != (i, o):
        raise ValueError(f"w must have shape {(i, o)} (x is {x.shape}, dout is {dout.shape}), got {w.shape}")
    y, z = _act_saved(code, y, z, (n, o), dout.dtype, "y", "z")
    need_dx = check_bool("need_dx", need_dx)
    saved = (("x", x), ("w", w), ("y", y), ("z", z))  # read after dz is written
    ins = (("dout", dout),) + saved
    dw = _output("dw", dw, (i, o), dout.dtype, ins)
    db = _output("db", db, (o,), dout.dtype, ins + (("dw", dw),))
    dx = _output("dx", dx, (n, i), dout.dtype, ins + (("dw", dw), ("db", db))) if need_dx else None
    # dz may be dout itself (then overwritten): it is still a destination, so it must be
    # writeable and must not overlap the arrays read after it is written (x, w, y, z). Its
    # memory is then dout's, already checked against dw, db and dx above
    dz = _output("dz", dz, (n, o), dout.dtype, saved if dz_is_dout else ins + (("dw", dw), ("db", db), ("dx", dx)))
    if n == 0 or o == 0:
        dw[...] = 0
        db[...] = 0
        if dx is not None:
            dx[...] = 0
    else:
        _dense_backward_call(mod, dx, dw, db, dz, dout, x, w, y, z, code, param)
    return dx, dw, db


def _dense_backward_call(mod, dx: Optional[Array], dw: Array, db: Array, dz: Array, dout: Array, x: Array,
                         w: Array, y: Optional[Array], z: Optional[Array], code: int, param: float) -> None:
    """dense_backward's backend call without its checks (private, as _dense_forward_call):
    operands C-contiguous in one float dtype, dout [n, o], x [n, i], w [i, o], dw [i, o], db [o],
    dx [n, i] or None, dz [n, o] (dout itself for identity, which does not write it), y / z as
    _act_saved returns them, n, i, o >= 1, no output overlapping an input. The linear models'
    gradients use it: the checks cost more than a small model's product."""
    n, i = x.shape
    o = w.shape[1]
    need_dx = dx is not None
    # traffic: dout and y/z read, x read, dw written; w read and dx written only when need_dx
    _run("dense_backward", mod, "dense_backward", (dx, dw, db, dz, dout, x, w, y, z, code, param),
         (4.0 if need_dx else 2.0) * n * i * o,
         dout.itemsize * (2 * n * o + n * i + i * o + ((i * o + n * i) if need_dx else 0)))


def _act_saved(code, y, x, shape, dtype, y_name, x_name):
    """Check the saved forward arrays an activation's derivative needs."""
    if code in NEEDS_INPUT_FOR_GRAD:
        if x is None:
            raise ValueError(f"{x_name} (the pre-activation) is required for this activation's backward")
        x = _input(x_name, x, None, dtype)
        if x.shape != shape:
            raise ValueError(f"{x_name} must have shape {shape}, got {x.shape}")
        return None, x
    if code == 0:  # identity needs neither
        return None, None
    if y is None:
        raise ValueError(f"{y_name} (the forward output) is required for this activation's backward")
    y = _input(y_name, y, None, dtype)
    if y.shape != shape:
        raise ValueError(f"{y_name} must have shape {shape}, got {y.shape}")
    return y, None


# ------------------------------------------------------------------- activations


def activation_forward(x, activation: str, *, param: Optional[float] = None, out: Optional[Array] = None,
                       backend: Optional[str] = None) -> Array:
    """Return ``act(x)`` elementwise (softmax: over the last axis). ``out`` may be ``x``.

    param: leaky_relu's negative slope (default 0.01) or elu's alpha (default 1.0), a
    number >= 0; the other activations ignore it.
    """
    mod = backends.resolve(backend)
    code, param = _activation(activation, param)
    in_place = out is x  # before _input, which views a memmap as a new ndarray
    x = _input("x", x)
    # out may be x itself (in place), but it is still a destination: writeable, checked
    out = _output("out", out, x.shape, x.dtype, () if in_place else (("x", x),))
    if x.size:
        x2 = _rows2d("x", x)  # before out's view: a 0-d x is the caller's error, out only copies its shape
        _run("activation_forward", mod, "act_forward", (_rows2d("out", out), x2, code, param), 0.0, 2.0 * x.nbytes)
    return out


def activation_backward(dy, activation: str, *, y: Optional[Array] = None, x: Optional[Array] = None,
                        param: Optional[float] = None, out: Optional[Array] = None,
                        backend: Optional[str] = None) -> Array:
    """Return ``dx = dy * act'(.)``; pass y (the forward output) or, for gelu/gelu_tanh, x.

    For softmax this is the row-wise Jacobian-vector product. ``out`` may be ``dy``.
    param: as in activation_forward (the same value).
    """
    mod = backends.resolve(backend)
    code, param = _activation(activation, param)
    in_place = out is dy  # before _input, which views a memmap as a new ndarray
    dy = _input("dy", dy)
    y, x = _act_saved(code, y, x, dy.shape, dy.dtype, "y", "x")
    # out may be dy itself (in place): still writeable, and never overlapping y or x, which
    # the kernels read after writing out (a partial overlap would corrupt them silently)
    out = _output("out", out, dy.shape, dy.dtype, (("y", y), ("x", x)) if in_place else
                  (("dy", dy), ("y", y), ("x", x)))
    if dy.size:
        dy2 = _rows2d("dy", dy)  # first: a 0-d dy is the error, y and out only copy its shape
        y2 = None if y is None else _rows2d("y", y)
        x2 = None if x is None else _rows2d("x", x)
        if code == 0:
            np.copyto(out, dy)
        else:
            _run("activation_backward", mod, "act_backward", (_rows2d("out", out), dy2, y2, x2,
                                                               code, param), 0.0, 3.0 * dy.nbytes)
    return out


# ------------------------------------------------------------------------ losses


def _labels(labels, n: int, classes: int) -> Array:
    refuse_masked("labels", labels)
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {lab.dtype}")
    if lab.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match logits, got {lab.shape}")
    if n:
        _check_label_range(lab, classes)
    return np.ascontiguousarray(lab, dtype=np.int32)


def _check_label_range(lab: Array, classes: int) -> None:
    """ValueError unless every label of the non-empty `lab` lies in [0, classes): the kernels
    index memory with them."""
    # the extremes by argmin / argmax: a reduce costs ~0.9 us of set-up even on a batch's
    # 32 labels, an arg-extreme ~0.25 us (the same single pass on large arrays)
    if lab[lab.argmin()] < 0 or lab[lab.argmax()] >= classes:
        raise ValueError(f"labels must lie in [0, {classes}), got values in [{lab.min()}, {lab.max()}]")


def _grad_out(grad: bool, out, shape, dtype, ins):
    if not check_bool("grad", grad):
        if out is not None:
            raise ValueError("out= was given but grad=False")
        return None
    return _output("out", out, shape, dtype, ins)


def softmax_xent(logits, labels, *, out: Optional[Array] = None, grad: bool = True,
                 backend: Optional[str] = None) -> Tuple[float, Optional[Array]]:
    """Fused softmax cross-entropy: returns ``(mean_loss, dlogits)``.

    logits [n, classes], labels [n] integers in [0, classes);
    dlogits = (softmax(logits) - onehot(labels)) / n, max-subtracted so it never
    overflows. grad=False skips the gradient (returns None for it).
    """
    mod = backends.resolve(backend)
    logits = _input("logits", logits, 2)
    n, k = logits.shape
    if n == 0 or k == 0:
        raise ValueError(f"logits must have at least one row and one column, got shape {logits.shape}")
    lab = _labels(labels, n, k)
    # labels too: int32 labels are not copied, and a gradient written over them would make
    # the kernel index out of bounds with whatever the float bits say
    out = _grad_out(grad, out, logits.shape, logits.dtype, (("logits", logits), ("labels", lab)))
    loss = _run("softmax_xent", mod, "softmax_xent", (out, logits, lab), 0.0, 2.0 * logits.nbytes)
    return float(loss), out


def _pair(pred_name, pred, target_name, target):
    """(pred, target) as 2-D [n, cols] views, plus pred's own shape (1-D or 2-D)."""
    pred = _input(pred_name, pred)
    if pred.ndim not in (1, 2) or pred.shape[0] == 0:
        raise ValueError(f"{pred_name} must be 1-D or 2-D with at least one row, got shape {pred.shape}")
    target = _input(target_name, target, None, pred.dtype)
    if target.shape != pred.shape:
        raise ValueError(f"{target_name} must have the shape of {pred_name} {pred.shape}, got {target.shape}")
    shape = pred.shape
    if len(shape) == 1:  # 2-D operands are the views already (a reshape costs 0.1 us)
        pred, target = pred.reshape(shape[0], -1), target.reshape(shape[0], -1)
    return pred, target, shape


def _check_unit_interval(name: str, arr: Array) -> None:
    """The sigmoid cross-entropy's targets: probabilities or 0/1 labels (NaN fails both tests)."""
    if arr.size and not (arr.min() >= 0 and arr.max() <= 1):
        raise ValueError(f"{name} must lie in [0, 1] for the sigmoid cross-entropy (probabilities or 0/1 "
                         f"labels), got values in [{arr.min()}, {arr.max()}]")


def _pair_loss(name, fn, pred_name, pred, target_name, target, out, grad, backend):
    mod = backends.resolve(backend)
    pred2, target2, shape = _pair(pred_name, pred, target_name, target)
    if fn == "sigmoid_bce":
        _check_unit_interval(target_name, target2)
    out = _grad_out(grad, out, shape, pred2.dtype, ((pred_name, pred2), (target_name, target2)))
    out2 = out if out is None or out.ndim == 2 else out.reshape(pred2.shape)
    loss = _run(name, mod, fn, (out2, pred2, target2), 0.0, 3.0 * pred2.nbytes)
    return float(loss), out


def sigmoid_bce(logits, targets, *, out: Optional[Array] = None, grad: bool = True,
                backend: Optional[str] = None) -> Tuple[float, Optional[Array]]:
    """Binary cross-entropy of sigmoid(logits): returns ``(loss, dlogits)``.

    logits and targets: 1-D [n] or 2-D [n, outputs], targets in [0, 1].
    loss = sum over all elements / n (rows), as scikit-learn's log loss;
    dlogits = (sigmoid(logits) - targets) / n.
    """
    return _pair_loss("sigmoid_bce", "sigmoid_bce", "logits", logits, "targets", targets, out, grad, backend)


def mse(pred, target, *, out: Optional[Array] = None, grad: bool = True,
        backend: Optional[str] = None) -> Tuple[float, Optional[Array]]:
    """Half mean squared error: ``(sum((pred - target)^2) / (2 n), (pred - target) / n)``.

    pred and target: 1-D [n] or 2-D [n, outputs]; n is the number of rows. For one
    output this is scikit-learn's squared loss.
    """
    return _pair_loss("mse", "mse", "pred", pred, "target", target, out, grad, backend)


def l1_penalty(w, *, backend: Optional[str] = None) -> float:
    """sum |w| (accumulated in float64)."""
    w = _input("w", w)
    return float(_run("l1_penalty", backends.resolve(backend), "l1", (w.ravel(),), w.size, w.nbytes))


def l2_penalty(w, *, backend: Optional[str] = None) -> float:
    """sum w^2 / 2 (accumulated in float64)."""
    w = _input("w", w)
    return float(_run("l2_penalty", backends.resolve(backend), "l2", (w.ravel(),), 2.0 * w.size, w.nbytes))


# -------------------------------------------------------------------- optimizers
# In-place updates over flat buffers (any shape; all buffers share it). Per
# element: g' = g + l2 p; p -= lr wd p; p += step(g'); p = prox_L1(p, lr l1).
# Apply penalties to weights only by calling once for the weights slice (with
# them) and once for the biases slice (without).


def _params(params, grads, states: tuple):
    if not isinstance(params, np.ndarray):
        raise TypeError(f"params must be a numpy.ndarray (it is updated in place), got {type(params).__name__}")
    shape, dtype = params.shape, params.dtype
    _output("params", params, shape, dtype)
    if dtype not in _NATIVE_FLOATS:  # also a byte-swapped '>f8': updated in place, it cannot be converted
        raise TypeError(f"params must be float32 or float64 in native byte order, got dtype {dtype}")
    grads = _input("grads", grads, None, dtype)
    if grads.shape != shape:
        raise ValueError(f"grads must have the shape of params {shape}, got {grads.shape}")
    if _may_share_memory(grads, params):
        raise ValueError("grads overlaps params; pass a separate buffer")
    checked: list = []
    others = (("params", params), ("grads", grads))
    for name, buf in states:
        buf = _inplace(name, buf, shape, dtype, others)  # state: shaped as params
        others += ((name, buf),)
        checked.append(buf)
    return grads, checked


def _penalties(lr, l2, l1, weight_decay):
    # the per-batch common case in one test instead of four calls (0.4 us): exact floats in
    # [0, largest float], the _NONNEGATIVE range of all four (NaN fails every comparison)
    if type(lr) is type(l2) is type(l1) is type(weight_decay) is float and (
            0.0 <= lr <= _FLOAT_MAX and 0.0 <= l2 <= _FLOAT_MAX and 0.0 <= l1 <= _FLOAT_MAX
            and 0.0 <= weight_decay <= _FLOAT_MAX):
        return lr, l2, l1, weight_decay
    return (check_real("lr", lr, _HP["lr"]), check_real("l2", l2, _HP["l2"]), check_real("l1", l1, _HP["l1"]),
            check_real("weight_decay", weight_decay, _HP["weight_decay"]))


def _update(name, backend, fn, params, args, nbuf):
    if params.size:
        _run(name, backends.resolve(backend), fn, args, 0.0, nbuf * params.nbytes)
    return params


#: what every ``*_update`` below does besides its own rule (csrc/fastnn.h states it for the C)
_UPDATE_COMMON_DOC = """
    Every update, per element, in this order (each penalty skipped when its
    coefficient is 0):

    1. ``g' = grads + l2 * params`` (coupled L2, scikit-learn's alpha term);
    2. ``params -= lr * weight_decay * params`` (decoupled decay, from the old params);
    3. ``params += step(g')``, the optimizer's own rule above;
    4. ``params = sign(params) * max(|params| - lr * l1, 0)`` (proximal L1: exact zeros).

    params: a writeable C-contiguous float32/float64 array, updated in place and
    returned; grads and the state buffers (updated in place too): its shape and dtype,
    none overlapping another. lr, l2, l1, weight_decay: finite numbers >= 0.
    backend: "numpy", "numba" or "c" (default: the fastest available).
    """


def sgd_update(params: Array, grads, *, lr: float, l2: float = 0.0, l1: float = 0.0, weight_decay: float = 0.0,
               backend: Optional[str] = None) -> Array:
    """Plain gradient descent, in place: ``step(g') = -lr g'``."""
    grads, _ = _params(params, grads, ())
    lr, l2, l1, wd = _penalties(lr, l2, l1, weight_decay)
    return _update("sgd_update", backend, "sgd", params, (params, grads, lr, l2, l1, wd), 3)


def momentum_update(params: Array, grads, velocity: Array, *, lr: float, momentum: float = 0.9,
                    nesterov: bool = False, l2: float = 0.0, l1: float = 0.0, weight_decay: float = 0.0,
                    backend: Optional[str] = None) -> Array:
    """Momentum, in place, as scikit-learn: ``velocity = momentum velocity - lr g'``, then
    ``step(g') = velocity`` (nesterov: ``momentum velocity - lr g'``). momentum in [0, 1]."""
    grads, (velocity,) = _params(params, grads, (("velocity", velocity),))
    lr, l2, l1, wd = _penalties(lr, l2, l1, weight_decay)
    mu = check_real("momentum", momentum, _HP["momentum"])
    return _update("momentum_update", backend, "momentum", params,
                   (params, velocity, grads, lr, mu, check_bool("nesterov", nesterov), l2, l1, wd), 5)


def nesterov_update(params: Array, grads, velocity: Array, *, lr: float, momentum: float = 0.9, l2: float = 0.0,
                    l1: float = 0.0, weight_decay: float = 0.0, backend: Optional[str] = None) -> Array:
    """Nesterov momentum in scikit-learn's form (``momentum_update(..., nesterov=True)``)."""
    return momentum_update(params, grads, velocity, lr=lr, momentum=momentum, nesterov=True, l2=l2, l1=l1,
                           weight_decay=weight_decay, backend=backend)


def adagrad_update(params: Array, grads, accum: Array, *, lr: float, eps: float = 1e-10, l2: float = 0.0,
                   l1: float = 0.0, weight_decay: float = 0.0, backend: Optional[str] = None) -> Array:
    """AdaGrad (Duchi et al.), in place: ``accum += g'^2``; ``step(g') = -lr g' / (sqrt(accum) + eps)``."""
    grads, (accum,) = _params(params, grads, (("accum", accum),))
    lr, l2, l1, wd = _penalties(lr, l2, l1, weight_decay)
    eps = check_real("eps", eps, _HP["eps"])
    return _update("adagrad_update", backend, "adagrad", params, (params, accum, grads, lr, eps, l2, l1, wd), 5)


def rmsprop_update(params: Array, grads, sq: Array, *, lr: float, rho: float = 0.9, eps: float = 1e-8,
                   l2: float = 0.0, l1: float = 0.0, weight_decay: float = 0.0,
                   backend: Optional[str] = None) -> Array:
    """RMSprop (Hinton), in place: ``sq = rho sq + (1 - rho) g'^2``;
    ``step(g') = -lr g' / (sqrt(sq) + eps)``."""
    grads, (sq,) = _params(params, grads, (("sq", sq),))
    lr, l2, l1, wd = _penalties(lr, l2, l1, weight_decay)
    rho = check_real("rho", rho, _HP["rho"])
    eps = check_real("eps", eps, _HP["eps"])
    return _update("rmsprop_update", backend, "rmsprop", params, (params, sq, grads, lr, rho, eps, l2, l1, wd), 5)


def adam_update(params: Array, grads, m: Array, v: Array, *, lr: float, step: int, beta1: float = 0.9,
                beta2: float = 0.999, eps: float = 1e-8, l2: float = 0.0, l1: float = 0.0,
                weight_decay: float = 0.0, backend: Optional[str] = None) -> Array:
    """Adam in place, Kingma & Ba's efficient form (as scikit-learn): ``m = beta1 m + (1 -
    beta1) g'``, ``v = beta2 v + (1 - beta2) g'^2``, ``lr_t = lr sqrt(1 - beta2^t) / (1 -
    beta1^t)``, ``step(g') = -lr_t m / (sqrt(v) + eps)``. ``step`` (t) >= 1 counts the
    updates, this one included. weight_decay != 0 makes it AdamW (see adamw_update).
    """
    grads, (m, v) = _params(params, grads, (("m", m), ("v", v)))
    lr, l2, l1, wd = _penalties(lr, l2, l1, weight_decay)
    b1 = check_real("beta1", beta1, _HP["beta1"])
    b2 = check_real("beta2", beta2, _HP["beta2"])
    eps = check_real("eps", eps, _HP["eps"])
    return _update("adam_update", backend, "adam", params,
                   (params, m, v, grads, lr, b1, b2, eps, _step(step), l2, l1, wd), 7)


def _step(step) -> int:
    """Adam's update count as an int >= 1, else ValueError."""
    # an exact int skips the type tests (bool is an int subclass, refused by them)
    if (type(step) is not int and (isinstance(step, bool) or not isinstance(step, (int, np.integer)))) or step < 1:
        raise ValueError(f"step must be an int >= 1 (the update count), got {step!r}")
    return int(step)


def adamw_update(params: Array, grads, m: Array, v: Array, *, lr: float, step: int, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01, l2: float = 0.0,
                 l1: float = 0.0, backend: Optional[str] = None) -> Array:
    """AdamW (Loshchilov & Hutter): adam_update with decoupled weight decay, by default 0.01
    (step 2 below: ``params -= lr * weight_decay * params`` before Adam's step)."""
    return adam_update(params, grads, m, v, lr=lr, step=step, beta1=beta1, beta2=beta2, eps=eps, l2=l2, l1=l1,
                       weight_decay=weight_decay, backend=backend)


for _fn in (sgd_update, momentum_update, nesterov_update, adagrad_update, rmsprop_update, adam_update,
            adamw_update):
    _fn.__doc__ = (_fn.__doc__ or "").rstrip() + "\n" + _UPDATE_COMMON_DOC


# ----------------------------------------------------------------------- dropout


def _dropout_args(p, seed, step):
    p = check_real("p", p, low=0.0)
    if p >= 1.0:
        raise ValueError(f"p must be in [0, 1), got {p}")
    return _dropout_key(seed, step), dropout_threshold(p), 1.0 / (1.0 - p)


def _dropout_key(seed, step) -> int:
    """The mask key of (seed, step), each checked as a non-negative int below 2**64."""
    for name, value in (("seed", seed), ("step", step)):
        # the mask key is 64-bit: a seed of 2**64 + 5 would silently give seed 5's masks (an
        # exact int skips the type tests, which refuse bool, an int subclass)
        if ((type(value) is not int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))))
                or not 0 <= value < 1 << 64):
            raise ValueError(f"{name} must be a non-negative int below 2**64, got {value!r}")
    return dropout_key(int(seed), int(step))


def _dropout(name, x, p, seed, step, out, backend):
    mod = backends.resolve(backend)
    key, threshold, scale = _dropout_args(p, seed, step)
    in_place = out is x  # before _input, which views a memmap as a new ndarray
    x = _input(name, x)
    out = _output("out", out, x.shape, x.dtype, () if in_place else ((name, x),))  # in place: still writeable
    if x.size:
        _run("dropout", mod, "dropout", (out.ravel(), x.ravel(), key, threshold, scale), 0.0, 2.0 * x.nbytes)
    return out


def dropout_forward(x, p: float, *, seed: int, step: int, out: Optional[Array] = None,
                    backend: Optional[str] = None) -> Array:
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    The mask is a counter-based hash of (seed, step, flat index): the same in
    every backend, and recomputed (not stored) by dropout_backward. ``out`` may be ``x``.
    """
    return _dropout("x", x, p, seed, step, out, backend)


def dropout_backward(dy, p: float, *, seed: int, step: int, out: Optional[Array] = None,
                     backend: Optional[str] = None) -> Array:
    """Gradient of dropout_forward with the same (p, seed, step): the same mask applied to dy."""
    return _dropout("dy", dy, p, seed, step, out, backend)


def dropout_mask(shape, p: float, *, seed: int, step: int) -> Array:
    """The boolean keep-mask dropout_forward uses for this shape, p, seed and step."""
    dims = tuple(shape) if np.iterable(shape) else (shape,)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
        # np.prod((-2, 3)) is -6: an empty mask came back for a shape no array has
        raise ValueError(f"shape must be an int or a tuple of ints >= 0, got {shape!r}")
    key, threshold, _ = _dropout_args(p, seed, step)
    from .backends.reference import dropout_keep

    return dropout_keep(int(np.prod(shape)), key, threshold).reshape(shape)


# ------------------------------------------------------------------- train_epoch
# A whole epoch of mini-batch MLP training in one backend call (the contract is
# fnn_train_epoch_* in csrc/fastnn.h). The epoch lives in its own modules beside each
# backend; the table maps a backend's name to the module with its train_epoch.

_TRAIN_MODULES = {
    "numpy": "fastnn.backends._train_reference",
    "numba": "fastnn.backends._train_numba",
    "c": "fastnn.backends._train_c",
}
_solver_loaded: dict = {}
__all__.append("train_epoch")  # here, not in the list above, so this section stays self-contained


def _solver_module(table: dict, backend: Optional[str]):
    """The module of `backend` (or of the current default backend) in a solver's table."""
    name = backends.current() if backend is None else backends.check_name(backend)
    mod = _solver_loaded.get(table[name])
    if mod is None:
        import importlib

        try:
            mod = importlib.import_module(table[name])
        except Exception as exc:  # an unbuilt extension, a missing numba...
            raise ValueError(f"backend {name!r} is not available here: {type(exc).__name__}: {exc}") from exc
        _solver_loaded[table[name]] = mod
    return mod


def _train_module(backend: Optional[str]):
    """The epoch module of `backend` (or of the current default backend)."""
    return _solver_module(_TRAIN_MODULES, backend)


def check_int(name: str, value, low: int = 0, high: Optional[int] = None) -> int:
    """`value` as an int in [low, high], else a ValueError naming it: a count or seed of 2.7
    (or True) is refused, never truncated. Shared by the kernels, fastnn.MLP and fastnn.nn."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {bound}, got {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """`value` as a bool (True/False, NumPy's bools, or the ints 0 / 1), else a TypeError
    naming it: a truthy string such as "no" must not switch an option on."""
    if value is True or value is False:  # the common case first
        return value
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def _inplace(name: str, buf, shape: tuple, dtype: np.dtype, others: tuple) -> Array:
    """A caller-owned buffer updated in place: exact shape/dtype, C order, writeable, no overlap."""
    if not isinstance(buf, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray (it is updated in place), got {type(buf).__name__}")
    return _output(name, buf, shape, dtype, others)


def row_weights_array(sample_weight, n: int) -> np.ndarray:
    """sample_weight as a C-contiguous float64 [n] of finite real numbers (else a
    TypeError / ValueError naming it); shared by train_epoch and fastnn.MLP.fit."""
    refuse_masked("sample_weight", sample_weight)
    sw = np.asarray(sample_weight)
    if sw.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {sw.dtype}")
    if sw.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per row of X), got {sw.shape}")
    sw = np.ascontiguousarray(sw, dtype=np.float64)
    if not np.isfinite(sw).all():
        raise ValueError("sample_weight must be finite (it holds NaN or inf)")
    return sw


def _row_weights(sample_weight, n: int, perm: np.ndarray, batch_size: int) -> np.ndarray:
    """train_epoch's sample_weight as float64 [n]; every batch's weights must not sum to 0."""
    sw = row_weights_array(sample_weight, n)
    sums = np.add.reduceat(sw[perm], np.arange(0, perm.shape[0], batch_size))
    zero = np.flatnonzero(sums == 0)
    if zero.size:
        raise ValueError(f"sample_weight sums to 0 over the rows of batch {int(zero[0])} (of {sums.size}); "
                         "a batch's loss is divided by its weight sum")
    return sw


def training_flops(sizes: Sequence[int], rows: int, nnz: Optional[float] = None) -> float:
    """Floating-point operations of one training pass of an MLP of layer widths `sizes` over
    `rows` rows: 2 per weight and row forward, 4 backward (dx and dW), less the first layer's
    dx, which no backend computes (what the pass's dense_forward / dense_backward calls count
    when run one by one). Bias, activation and loss work is not counted. With `nnz` (a sparse
    X: the non-zeros of those rows) the first layer counts 2 per non-zero and unit forward
    and 2 backward (dW), as its sparse products do."""
    macs = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if nnz is not None:
        return 6.0 * rows * (macs - sizes[0] * sizes[1]) + 4.0 * nnz * sizes[1]
    return 6.0 * rows * macs - 2.0 * rows * sizes[0] * sizes[1]


def _x_flops(X, sizes: tuple, perm: Optional[np.ndarray] = None) -> float:
    """training_flops of a pass over the rows `perm` of X (all of them when None)."""
    if isinstance(X, CSR):
        counts = np.diff(X.indptr)
        nnz = float(counts.sum() if perm is None else counts[perm].sum())
        return training_flops(sizes, X.shape[0] if perm is None else perm.shape[0], nnz)
    return training_flops(sizes, X.shape[0] if perm is None else perm.shape[0])


def _x_arrays(X) -> tuple:
    """(name, array) of every buffer of X, dense or CSR: for the overlap checks."""
    if isinstance(X, CSR):
        return (("X.data", X.data), ("X.indices", X.indices), ("X.indptr", X.indptr))
    return (("X", X),)


def _mlp_network(sizes, activation: str, param, loss: str) -> tuple:
    """train_epoch's and loss_grad's network: (sizes as a tuple of ints, activation code,
    its parameter, loss code), or the error naming what is wrong."""
    from .backends import _train_reference as spec

    try:
        sizes_t = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of ints, got {sizes!r}") from None
    if len(sizes_t) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                               for s in sizes_t):
        raise ValueError(f"sizes must list at least 2 layer widths, each an int >= 1, got {sizes!r}")
    sizes_t = tuple(int(s) for s in sizes_t)
    code, param = _activation(activation, param)
    if code == ACT_SOFTMAX:
        raise ValueError("activation 'softmax' is not a hidden activation; use loss='softmax_xent'")
    if loss not in spec.LOSSES:
        raise ValueError(f"loss must be one of {sorted(spec.LOSSES)}, got {loss!r}")
    return sizes_t, code, param, spec.LOSSES[loss]


def _mlp_data(X, y, sizes: tuple, loss: str, loss_code: int, dt: np.dtype) -> tuple:
    """(X, y) checked against the network: X [n, sizes[0]] of dtype dt (dense, or a
    scipy.sparse CSR matrix or array, returned as a checked CSR); y int32 labels [n] in
    [0, sizes[-1]) for softmax_xent, else float targets [n, sizes[-1]] of dt."""
    from .backends import _train_reference as spec

    d0, dl = sizes[0], sizes[-1]
    if is_sparse(X):
        if X.format != "csr":
            raise TypeError(f"X is a sparse {X.format.upper()} matrix; the MLP passes take CSR (one row per "
                            "sample): pass X.tocsr()")
        if len(X.shape) != 2 or X.shape[1] != d0 or d0 >= 1 << 31:
            raise ValueError(f"X must have sizes[0] = {d0} columns (fewer than 2**31 when sparse), got shape "
                             f"{X.shape}")
        n = int(X.shape[0])
        if n >= 1 << 31:  # (the C epoch numbers a batch's rows in int32)
            raise ValueError(f"a sparse X must have fewer than 2**31 rows, got {n}")
        data, indices, indptr = _compressed(X, dt, n, d0, ("row", "n_samples"), ("column", "sizes[0]"))
        # (every column index was checked < sizes[0] < 2**31: int32 holds it)
        X = CSR(data, np.ascontiguousarray(indices, np.int32), np.ascontiguousarray(indptr, np.int64), (n, d0))
    else:
        X = _input("X", X, 2, dt)
        n = X.shape[0]
        if X.shape[1] != d0:
            raise ValueError(f"X must have sizes[0] = {d0} columns, got shape {X.shape}")
    refuse_masked("y", y)
    y_arr = np.asarray(y)
    if loss_code == spec.LOSS_SOFTMAX_XENT:
        if y_arr.dtype.kind not in "iu":
            raise TypeError(f"y must hold integer class labels for loss='softmax_xent', got dtype {y_arr.dtype}")
        if y_arr.shape != (n,):
            raise ValueError(f"y must have shape ({n},) (one label per row of X), got {y_arr.shape}")
        if n and (y_arr.min() < 0 or y_arr.max() >= dl):
            raise ValueError(f"y labels must lie in [0, {dl}), got values in [{y_arr.min()}, {y_arr.max()}]")
        y_arr = np.ascontiguousarray(y_arr, dtype=np.int32)
    else:
        if y_arr.dtype != dt:
            raise TypeError(f"y must be float targets of params' dtype {dt} for loss={loss!r}, got dtype {y_arr.dtype}")
        if y_arr.shape == (n,) and dl == 1:
            y_arr = y_arr.reshape(n, 1)
        if y_arr.shape != (n, dl):
            raise ValueError(f"y must have shape ({n}, {dl}) for loss={loss!r}, got {y_arr.shape}")
        if loss_code == spec.LOSS_SIGMOID_BCE:
            _check_unit_interval("y", y_arr)
        y_arr = np.ascontiguousarray(y_arr)
    return X, y_arr


def train_epoch(params: Array, grads: Array, state: Array, X, y, perm, *, sizes, activation: str, loss: str,
                optimizer: str, lr: float, step: int, batch_size: int, momentum: float = 0.9,
                beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, rho: float = 0.9,
                alpha: float = 0.0, l1: float = 0.0, weight_decay: float = 0.0, dropout: float = 0.0,
                seed: int = 0, param: Optional[float] = None, batch_losses: Optional[Array] = None,
                sample_weight=None, loss_clip: float = 0.0, loss_div: float = 1.0,
                backend: Optional[str] = None) -> float:
    """Train an MLP for one epoch of mini-batches, in place; return the epoch's mean loss.

    The network has ``len(sizes) - 1`` dense layers; hidden layers use
    ``activation`` (with ``param``, as in activation_forward), the output layer is
    linear and ``loss`` applies softmax ("softmax_xent"), sigmoid ("sigmoid_bce") or
    nothing ("mse").

    params, grads: 1-D float arrays in the flat layout (all weights W_l [d_l, d_{l+1}]
    in C order, then all biases); params is updated in place, grads is workspace.
    state: [n_state, params.size] optimizer state in params' dtype, updated in place;
    n_state is 0 for sgd, 1 for momentum/nesterov/adagrad/rmsprop, 2 for adam/adamw.
    X: [n, sizes[0]] in params' dtype, or a scipy.sparse CSR matrix or array of that
    shape and dtype: kept sparse, the first layer's products run over each batch's
    non-zeros (a column stored twice in a row adds up, as in ``X.toarray()``).
    y: int labels [n] in [0, sizes[-1]) for softmax_xent, float targets
    [n, sizes[-1]] (or [n] when sizes[-1] == 1) for sigmoid_bce and mse. perm: [m]
    integer row indices in [0, n), m >= 1; batch b is
    ``perm[b*batch_size:(b+1)*batch_size]`` (the last one may be short).

    Per batch: forward (inverted dropout on hidden outputs, mask of hidden layer
    l at update t = step + b + 1 from seed and step t * 1024 + l as in
    dropout_forward), loss, backward, then the optimizer update of the weights
    (coupled L2 ``alpha / rows``, i.e. scikit-learn's ``alpha W / rows`` added
    to dW; proximal ``l1``; decoupled ``weight_decay``) and of the biases (no
    penalty); Adam's t is step + b + 1. "adamw" is adam (give it weight_decay).
    A batch's loss includes ``0.5 alpha sum(W^2) / rows``; batch_losses
    (optional float64 [n_batches]) receives each one. Returns
    ``sum(batch_loss * rows) / m`` (scikit-learn's ``loss_``). The caller
    advances its step counter by ``ceil(m / batch_size)``.

    sample_weight: optional finite weights, one per row of X (used as float64).
    A batch's loss is then ``sum(w_r loss_r) / s`` with s the sum of its rows'
    weights (which must not be 0), each row's gradient is weighted by
    ``w_r / s``, and ``rows`` above becomes s in the L2 term and its coupling:
    scikit-learn's sample weighting.

    loss_clip: 0 (the exact loss, from the logits), or eps in (0, 0.5): the
    reported losses (not the gradients) are then scikit-learn's log loss, -log
    of the probabilities (softmax, or sigmoid and 1 - sigmoid, rounded to the
    dtype) clipped to ``[eps, 1 - eps]``; mse ignores it.

    loss_div: > 0; each batch's data term is reported divided by it before the L2
    term is added (the gradients are not scaled): scikit-learn's squared loss of k
    outputs is ``sum / (2 rows k)`` but its gradient that of ``sum / (2 rows)``, so
    its MLPRegressor's loss is this epoch's with ``loss="mse", loss_div=k``.
    """
    from .backends import _train_reference as spec

    mod = _train_module(backend)
    sizes_t, code, param, loss_code = _mlp_network(sizes, activation, param, loss)
    if optimizer not in spec.OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(spec.OPTIMIZERS)}, got {optimizer!r}")
    opt = spec.OPTIMIZERS[optimizer]
    _, _, _, size = spec.layout(sizes_t)
    # ---- the in-place buffers
    if not isinstance(params, np.ndarray):
        raise TypeError(f"params must be a numpy.ndarray (it is updated in place), got {type(params).__name__}")
    if params.dtype not in FLOATS:
        raise TypeError(f"params must be float32 or float64, got dtype {params.dtype}")
    dt = params.dtype
    params = _inplace("params", params, (size,), dt, ())
    grads = _inplace("grads", grads, (size,), dt, (("params", params),))
    n_state = spec.N_STATE[opt]
    state = _inplace("state", state, (n_state, size), dt, (("params", params), ("grads", grads)))
    X, y_arr = _mlp_data(X, y, sizes_t, loss, loss_code, dt)
    n = X.shape[0]
    perm_arr = np.asarray(perm)
    if perm_arr.dtype.kind not in "iu":
        raise TypeError(f"perm must hold integer row indices, got dtype {perm_arr.dtype}")
    if perm_arr.ndim != 1 or perm_arr.shape[0] == 0:
        raise ValueError(f"perm must be 1-D with at least one index, got shape {perm_arr.shape}")
    if perm_arr.min() < 0 or perm_arr.max() >= n:
        raise ValueError(f"perm indices must lie in [0, {n}) (rows of X), got values in "
                         f"[{perm_arr.min()}, {perm_arr.max()}]")
    perm_arr = np.ascontiguousarray(perm_arr, dtype=np.int64)
    batch_size = check_int("batch_size", batch_size, 1)
    if isinstance(X, CSR) and min(batch_size, perm_arr.shape[0]) >= 1 << 31:  # (C numbers a batch's rows in int32)
        raise ValueError(f"batch_size must be < 2**31 with a sparse X, got {batch_size}")
    sw = None if sample_weight is None else _row_weights(sample_weight, n, perm_arr, batch_size)
    for name, arr in _x_arrays(X) + (("y", y_arr), ("perm", perm_arr), ("sample_weight", sw)):
        if arr is None:
            continue
        for buf_name, buf in (("params", params), ("grads", grads), ("state", state)):
            if arr.size and buf.size and _may_share_memory(arr, buf):
                raise ValueError(f"{buf_name} overlaps {name}; pass a separate buffer")
    # ---- scalars
    lr = hyperparameter("lr", lr)
    step = check_int("step", step)
    momentum = hyperparameter("momentum", momentum)
    beta1 = hyperparameter("beta1", beta1)
    beta2 = hyperparameter("beta2", beta2)
    eps = hyperparameter("eps", eps)
    rho = hyperparameter("rho", rho)
    alpha = check_real("alpha", alpha, low=0.0)
    l1 = hyperparameter("l1", l1)
    weight_decay = hyperparameter("weight_decay", weight_decay)
    dropout = check_real("dropout", dropout, low=0.0)
    if dropout >= 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if dropout > 0 and len(sizes_t) - 2 > spec.DROPOUT_STRIDE:
        raise ValueError(f"dropout supports at most {spec.DROPOUT_STRIDE} hidden layers")
    loss_clip = check_real("loss_clip", loss_clip, low=0.0, high=0.5, high_open=True)
    loss_div = check_real("loss_div", loss_div, low=0.0, low_open=True)
    seed = check_int("seed", seed)
    if seed >= 1 << 64:
        raise ValueError(f"seed must be < 2**64, got {seed}")
    m = perm_arr.shape[0]
    nb = spec.n_batches(m, batch_size)
    if (step + nb) * spec.DROPOUT_STRIDE >= 1 << 63:
        raise ValueError(f"step is too large ({step})")
    if batch_losses is not None:
        # and not over the data: a loss written over perm (or X, y, sample_weight) is read
        # back by a later batch as row indices or values
        batch_losses = _inplace("batch_losses", batch_losses, (nb,), np.dtype(np.float64),
                                (("params", params), ("grads", grads), ("state", state)) + _x_arrays(X)
                                + (("y", y_arr), ("perm", perm_arr), ("sample_weight", sw)))
    args = (params, grads, state, X, y_arr, perm_arr, sizes_t, code, param, loss_code, opt, lr, step, batch_size,
            momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout, seed, batch_losses, sw, loss_clip,
            loss_div)
    return float(_run("train_epoch", mod, "train_epoch", args, _x_flops(X, sizes_t, perm_arr), 0.0))


__all__.append("loss_grad")


def loss_grad(params: Array, grads: Array, X, y, *, sizes, activation: str, loss: str, alpha: float = 0.0,
              param: Optional[float] = None, sample_weight=None, loss_clip: float = 0.0,
              backend: Optional[str] = None) -> float:
    """The loss of train_epoch's network over all of X, and its gradient into ``grads``.

    What one batch of ``train_epoch`` computes before its update, over every row of X
    in order and without dropout: the objective of a full-batch optimizer such as
    ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``. Returns the loss
    (``0.5 alpha sum(W^2) / s`` included, s = the number of rows or the sum of
    sample_weight) and fills grads with its gradient w.r.t. params, the weights'
    including ``alpha W / s``. sizes, activation, param, loss, X (dense, or sparse
    CSR), y, sample_weight and loss_clip are train_epoch's; params is
    only read. One call does the whole
    pass (forward, loss, backward, penalty); the C backend runs it in chunks of up to
    512 rows, split over the threads when the layers are small, the others in chunks of
    8192 (the workspace stays bounded whatever X's length). For example, an MLP fitted by SciPy's L-BFGS-B
    (float64: SciPy's iterates are)::

        grads = np.empty(params.size)

        def fun(p):
            loss = fastnn.kernels.loss_grad(p, grads, X, y, sizes=(64, 32, 10), activation="relu",
                                            loss="softmax_xent", alpha=1e-4)
            return loss, grads.copy()

        params = scipy.optimize.minimize(fun, params, method="L-BFGS-B", jac=True).x

    A dense X can have the call checked once (:func:`bind`; the checks cost ~10-40 us a
    call on small data): ``lg = fastnn.kernels.bind(fastnn.kernels.loss_grad, p, grads, X,
    y, sizes=..., ...)``, then ``p[...] = x; loss = lg()`` at every evaluation.
    """
    mod = _train_module(backend)
    sizes_t, code, param, loss_code = _mlp_network(sizes, activation, param, loss)
    from .backends import _train_reference as spec

    _, _, _, size = spec.layout(sizes_t)
    params = _input("params", params, 1)
    if params.shape != (size,):
        raise ValueError(f"params must have shape ({size},) for sizes {sizes_t}, got {params.shape}")
    dt = params.dtype
    grads = _inplace("grads", grads, (size,), dt, (("params", params),))
    X, y_arr = _mlp_data(X, y, sizes_t, loss, loss_code, dt)
    n = X.shape[0]
    if n == 0:
        raise ValueError("X must have at least one row")
    sw = None
    if sample_weight is not None:
        sw = row_weights_array(sample_weight, n)
        if sw.sum() == 0:
            raise ValueError("sample_weight sums to 0; the loss is divided by its sum")
    for name, arr in _x_arrays(X) + (("y", y_arr), ("sample_weight", sw)):
        if arr is not None and arr.size and _may_share_memory(arr, grads):
            raise ValueError(f"grads overlaps {name}; pass a separate buffer")
    alpha = check_real("alpha", alpha, low=0.0)
    loss_clip = check_real("loss_clip", loss_clip, low=0.0, high=0.5, high_open=True)
    args = (params, grads, X, y_arr, sizes_t, code, param, loss_code, alpha, sw, loss_clip)
    return float(_run("loss_grad", mod, "loss_grad", args, _x_flops(X, sizes_t), 0.0))


__all__.append("mlp_forward")


def mlp_forward(params: Array, X, *, sizes, activation: str, param: Optional[float] = None,
                out: Optional[Array] = None, backend: Optional[str] = None) -> Array:
    """The logits of train_epoch's network for every row of a dense X: out [n, sizes[-1]].

    ``h = X``, then ``h = activation(h @ W_l + b_l)`` for each hidden layer (param: as
    in activation_forward) and ``h @ W_L + b_L`` for the output layer (linear: apply softmax or the sigmoid to
    the result for probabilities), with params in train_epoch's flat layout. The same
    values, row by row, as one dense_forward a layer; the C backend takes the rows in
    chunks of up to 512 through all the layers in one call (their hidden outputs stay
    in cache; threads split the rows of small networks), so predicting one row costs
    one call instead of one a layer. The output layer's width is sizes[-1]; X must
    be dense (a sparse X: its first layer is ``X @ W_0``, scipy's product).
    """
    mod = _train_module(backend)
    sizes_t, code, param, _ = _mlp_network(sizes, activation, param, "mse")
    from .backends import _train_reference as spec

    size = spec.layout(sizes_t)[3]
    params = _input("params", params, 1)
    if params.shape != (size,):
        raise ValueError(f"params must have shape ({size},) for sizes {sizes_t}, got {params.shape}")
    if is_sparse(X):
        raise TypeError("mlp_forward takes a dense X; for a sparse one compute its first layer as "
                        "X @ W_0 (scipy's product) and the rest from there")
    X = _input("X", X, 2, params.dtype)
    if X.shape[1] != sizes_t[0]:
        raise ValueError(f"X must have sizes[0] = {sizes_t[0]} columns, got shape {X.shape}")
    n = X.shape[0]
    out = _output("out", out, (n, sizes_t[-1]), params.dtype, (("params", params), ("X", X)))
    if n == 0:
        return out
    flops = 2.0 * n * sum(a * b for a, b in zip(sizes_t[:-1], sizes_t[1:]))
    _run("mlp_forward", mod, "mlp_forward", (out, params, X, sizes_t, code, param), flops)
    return out


# ------------------------------------------------------------------- enet_cd
# Lasso / ElasticNet's coordinate descent: a whole solve in one backend call,
# its modules beside each backend as train_epoch's are.

_ENET_MODULES = {
    "numpy": "fastnn.backends._enet_reference",
    "numba": "fastnn.backends._enet_numba",
    "c": "fastnn.backends._enet_c",
}
__all__.append("enet_cd")


def _enet_options(alpha, beta, max_iter, tol, seed, selection, positive, screening) -> tuple:
    """enet_cd's and enet_cd_sparse's options checked, in their backends' order: (alpha, beta,
    max_iter, tol, seed, random, positive, screening)."""
    alpha = check_real("alpha", alpha, low=0.0)
    beta = check_real("beta", beta, low=0.0)
    tol = check_real("tol", tol, low=0.0)
    max_iter = check_int("max_iter", max_iter, 1)
    seed = check_int("seed", seed)
    if seed >= 1 << 32:
        raise ValueError(f"seed must be < 2**32, got {seed}")
    if selection not in ("cyclic", "random"):
        raise ValueError(f"selection must be 'cyclic' or 'random', got {selection!r}")
    return (alpha, beta, max_iter, tol, seed, selection == "random", check_bool("positive", positive),
            check_bool("screening", screening))


def enet_cd(w: Array, xt, y, *, alpha: float, beta: float = 0.0, max_iter: int = 1000, tol: float = 1e-4,
            positive: bool = False, selection: str = "cyclic", seed: int = 0, screening: bool = True,
            gram_after: int = -1, gram: Optional[Array] = None, xty: Optional[Array] = None,
            gram_predict: bool = False, check_finite: bool = True,
            backend: Optional[str] = None) -> Tuple[float, float, int, bool]:
    """Elastic-net coordinate descent, in place on ``w``: scikit-learn's solver.

    Minimises ``1/2 ||y - X w||^2 + alpha ||w||_1 + beta/2 ||w||^2`` from the start
    point ``w`` [n_features] (float32/float64, updated in place). ``xt`` is X
    transposed, [n_features, n_samples] in w's dtype (each column of X a
    contiguous row: the solver reads one per coordinate), ``y`` [n_samples]; all
    three finite (NaN or inf raise ValueError).
    Coordinates are visited in order (selection="cyclic") or drawn with
    scikit-learn's xorshift from ``seed`` ("random"); ``positive`` keeps w >= 0;
    ``screening`` drops features that gap-safe rules prove zero. Stops when the
    duality gap is <= tol * y.y (checked once a sweep's largest change is <= tol
    times the largest |w_j|), or after ``max_iter`` sweeps.

    ``gram_after`` >= 0: after that many sweeps without convergence, continue in the Gram
    form (scikit-learn's enet_coordinate_descent_gram from the state reached: the same
    coordinates, screening and stop), Q = X^T X and q = X^T y formed once (O(n_samples
    n_features^2), threaded on the C backend) so that each update costs O(n_features) instead
    of O(n_samples): the same iterates to rounding, far faster over many sweeps on tall X.
    0: the Gram form from the start (scikit-learn's precompute=True); -1 (default): never.
    The C backend stays in the data form if Q's n_features^2 values cannot be allocated.
    ``gram_predict`` (with ``gram_after`` >= 1): ``gram_after`` is what forming Q costs, in
    sweeps of the data form, and from that sweep on Q is formed only once the convergence so
    far (the last two sweeps' largest change over largest |w_j|, extrapolated geometrically
    to the stop test's tol) predicts more than that many sweeps still to run, or the rate
    stalls, or by sweep ``2 * gram_after``: a fit that is nearly done never forms Q (the
    same iterates to rounding either way).
    ``gram``: Q itself, [n_features, n_features] in w's dtype, exactly symmetric, when the
    caller has it (several targets on one X: formed once), used as given (it must be X^T X).
    ``xty``: q = X^T y [n_features] in w's dtype likewise (several targets: X^T Y is one
    product for all of them, where each would read X again). With ``gram``, ``xty`` and
    ``gram_after=0`` the solver reads nothing of X's size, and ``xt`` may be None (it is then
    not read, nor checked: a pass over X a target saved).

    ``check_finite=False`` skips the pass that checks w, xt, y and xty for NaN and inf (as
    scipy's option of that name): for a caller that knows them finite (the estimators' xt
    comes from ``centered_transpose``, which checks as it writes), as that pass over X costs
    ~5% of a fit of a few sweeps. Values that are not finite then give NaN or unconverged
    results, different per backend.

    Returns ``(gap, tol * y.y, sweeps, converged)`` -- scikit-learn's
    enet_coordinate_descent's results plus whether the gap met the tolerance.
    """
    mod = _solver_module(_ENET_MODULES, backend)
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray (it is updated in place), got {type(w).__name__}")
    if w.dtype not in FLOATS:
        raise TypeError(f"w must be float32 or float64, got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] == 0 or w.shape[0] >= 1 << 31:
        raise ValueError(f"w must be 1-D with 1 to 2**31 - 1 coefficients (the active set is 32-bit), "
                         f"got shape {w.shape}")
    w = _output("w", w, w.shape, w.dtype)
    gram_after = check_int("gram_after", gram_after, -1)
    p = w.shape[0]
    if xt is None:
        if gram is None or xty is None or gram_after != 0:
            raise ValueError("xt (X transposed) is needed unless gram and xty are given with gram_after=0")
    else:
        xt = _input("xt", xt, 2, w.dtype)
        if xt.shape[0] != p or xt.shape[1] == 0:
            raise ValueError(f"xt must have shape ({p}, n_samples >= 1) (X transposed, one row per "
                             f"coefficient of w), got {xt.shape}")
    y = _input("y", y, 1, w.dtype)
    if y.shape[0] == 0 or (xt is not None and y.shape[0] != xt.shape[1]):
        want = "n_samples >= 1" if xt is None else xt.shape[1]
        raise ValueError(f"y must have shape ({want},) (one target per column of xt), got {y.shape}")
    if gram is not None:
        gram = _input("gram", gram, 2, w.dtype)
        if gram.shape != (p, p):
            raise ValueError(f"gram must have shape {(p, p)} (X^T X), got {gram.shape}")
        if not np.array_equal(gram, gram.T):  # NaN fails too
            raise ValueError("gram must be X^T X: exactly symmetric and finite")
    if xty is not None:
        xty = _input("xty", xty, 1, w.dtype)
        if xty.shape != (p,):
            raise ValueError(f"xty must have shape ({p},) (X^T y), got {xty.shape}")
    for name, arr in (("xt", xt), ("y", y), ("gram", gram), ("xty", xty)):
        if arr is not None and _may_share_memory(arr, w):
            raise ValueError(f"w overlaps {name}; pass a separate buffer")
    if check_bool("check_finite", check_finite):
        for name, arr in (("w", w), ("xt", xt), ("y", y), ("xty", xty)):
            # the solver's maxima and screening tests would skip a NaN, differently per backend
            if arr is not None and not _all_finite(arr):
                raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    args = (w, xt, y) + _enet_options(alpha, beta, max_iter, tol, seed, selection, positive, screening) + (
        gram_after, gram, xty, check_bool("gram_predict", gram_predict))
    gap, tol_s, n_iter, ok = _run("enet_cd", mod, "enet_cd", args)
    return float(gap), float(tol_s), int(n_iter), bool(ok)


# ------------------------------------------------------------ enet_cd_sparse
# The same solver on a sparse CSC X, centred implicitly (scikit-learn's
# sparse_enet_coordinate_descent), its modules beside each backend as enet_cd's are.

_ENET_SPARSE_MODULES = {
    "numpy": "fastnn.backends._enet_sparse_reference",
    "numba": "fastnn.backends._enet_sparse_numba",
    "c": "fastnn.backends._enet_sparse_c",
}
__all__.append("enet_cd_sparse")


def _compressed(X, dt: np.dtype, n_outer: int, n_inner: int, outer: Tuple[str, str], inner: Tuple[str, str]):
    """The (data, indices, indptr) of a CSR or CSC X checked for the C, which indexes with them
    unchecked: data in dt; int32 or int64 1-D index arrays of the right lengths; indptr from 0 to
    nnz, non-decreasing; indices in [0, n_inner). ``outer`` / ``inner`` name the compressed axis
    and the indexed one for the messages: (what one is, what counts them), e.g. ("column",
    "n_features") and ("row", "n_samples") for CSC."""
    data = _input("X.data", X.data, 1, dt)
    index = []
    for name in ("indices", "indptr"):
        a = getattr(X, name)
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype not in (np.int32, np.int64):
            raise TypeError(f"X.{name} must be a 1-D int32 or int64 array, got "
                            f"{getattr(a, 'dtype', type(a).__name__)}")
        index.append(a)
    indices, indptr = index
    (outer_word, outer_size), (inner_word, inner_size) = outer, inner
    nnz = data.shape[0]
    if indices.shape[0] != nnz:
        raise ValueError(f"X.indices must have one entry per value of X.data ({nnz}), got {indices.shape[0]}")
    if indptr.shape[0] != n_outer + 1:
        raise ValueError(f"X.indptr must have {outer_size} + 1 = {n_outer + 1} entries, got {indptr.shape[0]}")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"X.indptr must run from 0 to nnz = {nnz} (the length of X.data), got {indptr[0]} to "
                         f"{indptr[-1]}")
    down = np.flatnonzero(np.diff(indptr) < 0)
    if down.size:
        raise ValueError(f"X.indptr must be non-decreasing ({outer_word} j is X.data[indptr[j]:indptr[j + 1]]); "
                         f"{outer_word} {down[0]} ends before it starts")
    if nnz and (indices.min() < 0 or indices.max() >= n_inner):
        raise ValueError(f"X.indices must be {inner_word} indices in [0, {n_inner}) ({inner_size}), got values "
                         f"in [{indices.min()}, {indices.max()}]")
    return data, indices, indptr


def _enet_csc(X, p: int, dt: np.dtype, kernel: str = "enet_cd_sparse"):
    """A scipy.sparse CSC X [n_samples, p] (p = -1: any width) checked for the C (which indexes
    with it unchecked), as (data [nnz] in dt, indices int64 [nnz], indptr int64 [p + 1], n_samples)."""
    if not is_sparse(X):
        raise TypeError(f"X must be a scipy.sparse CSC matrix or array, got {type(X).__name__} (a dense X: "
                        "kernels.enet_cd, with X transposed)")
    if X.format != "csc":
        raise TypeError(f"X is a sparse {X.format.upper()} matrix; kernels.{kernel} takes CSC (one "
                        "column per coordinate update): pass X.tocsc()")
    if p < 0 and len(X.shape) == 2:
        p = X.shape[1]
    if len(X.shape) != 2 or X.shape[1] != p or X.shape[0] < 1:
        raise ValueError(f"X must have shape (n_samples >= 1, {p}) (one column per coefficient of w), got {X.shape}")
    n = int(X.shape[0])
    data, indices, indptr = _compressed(X, dt, p, n, ("column", "n_features"), ("row", "n_samples"))
    indices, indptr = np.ascontiguousarray(indices, np.int64), np.ascontiguousarray(indptr, np.int64)
    if _has_duplicates(indices, indptr, n):  # each stored value is one X_ij: norm2 would be wrong
        raise ValueError("X has duplicate entries (a row stored twice in one column): call X.sum_duplicates() first")
    return data, indices, indptr, n


class _CheckedCSC(NamedTuple):
    """A sparse X that passed enet_cd_sparse's checks of X (structure, dtype, finite values), in
    the form its backends take: what ``_checked_csc`` returns. For callers that solve many
    models on one X (liblinear's L1 solver: one per Newton step), where those O(nnz) scans
    cost as much as a model's solve; enet_cd_sparse takes it in place of X and skips them."""
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: Tuple[int, int]


def _checked_csc(X, dtype) -> _CheckedCSC:
    """X (scipy.sparse CSC, data in `dtype`) checked once as enet_cd_sparse checks it."""
    dt = np.dtype(dtype)
    p = X.shape[1] if len(X.shape) == 2 else -1
    data, indices, indptr, n = _enet_csc(X, p, dt)
    if not np.isfinite(data).all():
        raise ValueError("X.data must be finite (it holds NaN or inf)")
    return _CheckedCSC(data, indices, indptr, (n, p))


def _checked_csc_columns(X: _CheckedCSC, cols: np.ndarray) -> _CheckedCSC:
    """The columns ``cols`` (sorted int64 positions) of a checked CSC, still checked: each
    column keeps its rows, values and order, so the checks that held for X hold for it."""
    starts, ends = X.indptr[cols], X.indptr[cols + 1]
    lengths = ends - starts
    indptr = np.zeros(cols.shape[0] + 1, dtype=X.indptr.dtype)
    np.cumsum(lengths, out=indptr[1:])
    take = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
    return _CheckedCSC(X.data[take], X.indices[take], indptr, (X.shape[0], cols.shape[0]))


def _has_duplicates(indices: np.ndarray, indptr: np.ndarray, n: int) -> bool:
    """Whether some column of the CSC structure stores a row twice (O(nnz) when rows are sorted)."""
    if indices.shape[0] < 2:
        return False
    rising = np.diff(indices) > 0
    rising[indptr[1:-1][(indptr[1:-1] > 0) & (indptr[1:-1] < indices.shape[0])] - 1] = True  # column breaks
    if rising.all():  # sorted, strictly, within every column (scipy's canonical CSC)
        return False
    cols = np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))
    return np.unique(cols * n + indices).shape[0] != indices.shape[0]


def enet_cd_sparse(w: Array, X, y, *, alpha: float, beta: float = 0.0, X_mean=None, sample_weight=None,
                   max_iter: int = 1000, tol: float = 1e-4, positive: bool = False, selection: str = "cyclic",
                   seed: int = 0, screening: bool = True,
                   backend: Optional[str] = None) -> Tuple[float, float, int, bool]:
    """Elastic-net coordinate descent on a sparse X, in place on ``w``: scikit-learn's sparse solver.

    scikit-learn's ``sparse_enet_coordinate_descent`` step for step. Minimises

        1/2 sum_i s_i (y_i - ((X - 1 X_mean^T) w)_i)^2 + alpha ||w||_1 + beta/2 ||w||^2

    from the start point ``w`` [n_features] (float32/float64, updated in place).
    ``X`` is a scipy.sparse CSC matrix or array [n_samples, n_features] (data in w's
    dtype, int32 or int64 indices, no duplicate entries), never densified.
    ``X_mean`` [n_features] (default: zeros, no centring) centres X implicitly; it
    must be X's column means weighted by s (what makes sum of the residual constant,
    as the solver assumes; an intercept fit passes them with y centred). ``s`` is
    ``sample_weight`` [n_samples] (>= 0; default ones: scikit-learn's estimators
    rescale it to sum to n_samples first). ``y`` [n_samples]; all finite.
    ``selection``, ``seed``, ``positive``, ``screening`` and the stop are enet_cd's;
    the tolerance is scaled by ``y . (s y)``.

    Returns ``(gap, tol * y . (s y), sweeps, converged)``, as enet_cd.
    """
    mod = _solver_module(_ENET_SPARSE_MODULES, backend)
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray (it is updated in place), got {type(w).__name__}")
    if w.dtype not in FLOATS:
        raise TypeError(f"w must be float32 or float64, got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] == 0 or w.shape[0] >= 1 << 31:
        raise ValueError(f"w must be 1-D with 1 to 2**31 - 1 coefficients (the active set is 32-bit), "
                         f"got shape {w.shape}")
    w = _output("w", w, w.shape, w.dtype)
    p = w.shape[0]
    checked = isinstance(X, _CheckedCSC)
    if checked:  # (_checked_csc: its structure and values already checked)
        if X.data.dtype != w.dtype or X.shape[1] != p:
            raise ValueError(f"X is a checked {X.shape[0]}x{X.shape[1]} {X.data.dtype} CSC; w needs "
                             f"{p} columns of {w.dtype}")
        data, indices, indptr, n = X.data, X.indices, X.indptr, X.shape[0]
    else:
        data, indices, indptr, n = _enet_csc(X, p, w.dtype)
    y = _input("y", y, 1, w.dtype)
    if y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) (one target per row of X), got {y.shape}")
    x_mean = np.zeros(p, w.dtype) if X_mean is None else _input("X_mean", X_mean, 1, w.dtype)
    if x_mean.shape[0] != p:
        raise ValueError(f"X_mean must have shape ({p},) (one centre per column of X), got {x_mean.shape}")
    sw = None if sample_weight is None else _input("sample_weight", sample_weight, 1, w.dtype)
    if sw is not None and sw.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},) (one weight per row of X), got {sw.shape}")
    inputs = (("X.data", data), ("y", y), ("X_mean", x_mean), ("sample_weight", sw))
    for name, arr in inputs:
        if arr is not None and _may_share_memory(arr, w):
            raise ValueError(f"w overlaps {name}; pass a separate buffer")
    for name, arr in (("w", w),) + (inputs[1:] if checked else inputs):
        # the solver's maxima and screening tests would skip a NaN, differently per backend
        if arr is not None and not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    if sw is not None and (sw < 0).any():
        raise ValueError("sample_weight must be >= 0 (the weighted residual divides by it)")
    args = (w, data, indices, indptr, y, sw, x_mean) + _enet_options(alpha, beta, max_iter, tol, seed, selection,
                                                                       positive, screening)
    gap, tol_s, n_iter, ok = _run("enet_cd_sparse", mod, "enet_cd_sparse", args)
    return float(gap), float(tol_s), int(n_iter), bool(ok)


# ----------------------------------------------------------- l1_quadratic_cd
# newGLMNET's inner problem (liblinear's L1 logistic regression), its modules beside each
# backend as enet_cd's are.

_L1_QUADRATIC_MODULES = {
    "numpy": "fastnn.backends._l1_quadratic_reference",
    "numba": "fastnn.backends._l1_quadratic_numba",
    "c": "fastnn.backends._l1_quadratic_c",
}
__all__.append("l1_quadratic_cd")


def l1_quadratic_cd(u: Array, X, cols, g, h, *, alpha: float, tol: float, nu: float = 1e-12,
                    max_sweeps: int = 1000, out: Optional[Array] = None,
                    backend: Optional[str] = None) -> Tuple[Array, int]:
    """Coordinate descent on an L1-penalised quadratic model, in place on ``u``: newGLMNET's
    inner problem (liblinear's L1 logistic regression, one per proximal Newton step).

    Minimises, from the start point u0 = ``u`` [m] (float32/float64, updated in place),

        g.(u - u0) + 1/2 (u - u0)^T (X_W^T diag(h) X_W + nu I) (u - u0) + alpha ||u||_1

    where X_W is the columns ``cols`` [m] (distinct int indices) of the sparse ``X``
    [n_samples, n_features] (scipy.sparse CSC, data in u's dtype, no duplicate entries;
    or ``_checked_csc(X)``), ``g`` [m] the loss's gradient at u0, ``h`` [n_samples] >= 0 its
    Hessian's row weights and ``nu`` > 0 a proximal term that keeps every coordinate's
    curvature positive (liblinear's 1e-12, relative to its unit penalty). One coordinate at a
    time, cyclically, to its exact minimiser; zero coordinates far inside [-alpha, alpha]
    are set aside until the others converge (newGLMNET's shrinking). Stops when a sweep's
    summed violation (the minimum-norm subgradient's 1-norm over the working set) is
    <= ``tol`` (absolute) with every coordinate checked, or after ``max_sweeps``.

    Returns ``(xd, sweeps)``: xd = X_W (u - u0) [n_samples] (into ``out`` when given: the
    margins' change, which the caller's line search needs) and the sweeps run.
    """
    mod = _solver_module(_L1_QUADRATIC_MODULES, backend)
    if not isinstance(u, np.ndarray):
        raise TypeError(f"u must be a numpy.ndarray (it is updated in place), got {type(u).__name__}")
    if u.dtype not in FLOATS:
        raise TypeError(f"u must be float32 or float64, got dtype {u.dtype}")
    if u.ndim != 1:
        raise ValueError(f"u must be 1-D (one value per column in cols), got shape {u.shape}")
    u = _output("u", u, u.shape, u.dtype)
    if isinstance(X, _CheckedCSC):  # (_checked_csc: its structure and values already checked)
        if X.data.dtype != u.dtype:
            raise ValueError(f"X is a checked {X.data.dtype} CSC; u is {u.dtype}")
        data, indices, indptr, (n, p) = X.data, X.indices, X.indptr, X.shape
    else:
        data, indices, indptr, n = _enet_csc(X, -1, u.dtype, "l1_quadratic_cd")
        p = indptr.shape[0] - 1
        if not np.isfinite(data).all():
            raise ValueError("X.data must be finite (it holds NaN or inf)")
    if not isinstance(cols, np.ndarray) or cols.ndim != 1 or cols.dtype.kind not in "iu":
        raise TypeError(f"cols must be a 1-D integer numpy array (column indices of X), got "
                        f"{getattr(cols, 'dtype', type(cols).__name__)}")
    m = u.shape[0]
    if cols.shape[0] != m:
        raise ValueError(f"cols must have one column per value of u ({m}), got {cols.shape[0]}")
    if m and (cols.min() < 0 or cols.max() >= p):
        raise ValueError(f"cols must be column indices in [0, {p}) (X's n_features), got values in "
                         f"[{cols.min()}, {cols.max()}]")
    cols = np.ascontiguousarray(cols, np.int64)
    # a column twice would count its curvature once (increasing columns, the usual working set,
    # pass in one O(m) test: np.unique sorts, 1 ms a call on 17000 columns)
    if m > 1 and not (cols[1:] > cols[:-1]).all() and np.unique(cols).shape[0] != m:
        raise ValueError("cols must not repeat a column")
    g = _input("g", g, 1, u.dtype)
    if g.shape[0] != m:
        raise ValueError(f"g must have shape ({m},) (one gradient per column in cols), got {g.shape}")
    h = _input("h", h, 1, u.dtype)
    if h.shape[0] != n:
        raise ValueError(f"h must have shape ({n},) (one Hessian weight per row of X), got {h.shape}")
    for name, arr in (("u", u), ("g", g), ("h", h)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    if (h < 0).any():
        raise ValueError("h must be >= 0 (the Hessian's row weights of a convex loss)")
    for name, value in (("alpha", alpha), ("tol", tol)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (np.isfinite(nu) and nu > 0):
        raise ValueError(f"nu must be a finite number > 0 (it keeps each coordinate's curvature positive), got {nu!r}")
    if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, (int, np.integer)) or max_sweeps < 1:
        raise ValueError(f"max_sweeps must be an int >= 1, got {max_sweeps!r}")
    xd = _output("out", out, (n,), u.dtype)
    for name, arr in (("X.data", data), ("g", g), ("h", h), ("out", xd)):
        if _may_share_memory(arr, u):
            raise ValueError(f"u overlaps {name}; pass a separate buffer")
    for name, arr in (("X.data", data), ("g", g), ("h", h)):
        if _may_share_memory(arr, xd):
            raise ValueError(f"out overlaps {name}; pass a separate buffer")
    sweeps = _run("l1_quadratic_cd", mod, "l1_quadratic_cd",
                  (u, xd, data, indices, indptr, cols, g, h, float(alpha), float(nu), int(max_sweeps), float(tol)))
    return xd, int(sweeps)


# -------------------------------------------------------------- csr_sandwich
# X^T diag(h) X for a sparse CSR X (newton-cholesky's Hessian), its modules beside each
# backend as enet_cd's are.

_SANDWICH_MODULES = {
    "numpy": "fastnn.backends._sandwich_reference",
    "numba": "fastnn.backends._sandwich_numba",
    "c": "fastnn.backends._sandwich_c",
}
__all__.append("csr_sandwich")


class _CheckedCSR(NamedTuple):
    """A sparse X that passed csr_sandwich's checks of X (structure, sorted distinct columns,
    dtype, finite values), in the form its backends take: what ``_checked_csr`` returns. For
    callers that take many products of one X (newton-cholesky: one a Newton step, and one per
    pair of classes), where those O(nnz) scans cost a third of a product; csr_sandwich takes it
    in place of X and skips them."""
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: Tuple[int, int]


def _checked_csr(X, dtype) -> _CheckedCSR:
    """X (scipy.sparse CSR, data in `dtype`) checked once as csr_sandwich checks it."""
    dt = np.dtype(dtype)
    if not is_sparse(X):
        raise TypeError(f"X must be a scipy.sparse CSR matrix or array, got {type(X).__name__} (a dense X: "
                        "kernels.gemm(X, h[:, None] * X, trans_a=True))")
    if X.format != "csr":
        raise TypeError(f"X is a sparse {X.format.upper()} matrix; kernels.csr_sandwich takes CSR: pass X.tocsr()")
    if len(X.shape) != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, p = (int(d) for d in X.shape)
    if p >= 1 << 31:  # (the C takes int32 column indices; the result would hold p^2 values anyway)
        raise ValueError(f"X must have fewer than 2**31 columns, got {p}")
    data, indices, indptr = _compressed(X, dt, n, p, ("row", "n_samples"), ("column", "n_features"))
    rising = np.diff(indices) > 0
    breaks = indptr[1:-1]
    rising[breaks[(breaks > 0) & (breaks < indices.shape[0])] - 1] = True  # a row's first entry follows another row
    if not rising.all():
        i = int(np.searchsorted(indptr, np.flatnonzero(~rising)[0], side="right")) - 1
        raise ValueError(f"X's rows must hold their column indices sorted and distinct (row {i} does not): call "
                         "X.sum_duplicates(), which sorts them and adds duplicates, on a copy of X first")
    if not np.isfinite(data).all():
        raise ValueError("X.data must be finite (it holds NaN or inf)")
    return _CheckedCSR(data, np.ascontiguousarray(indices, np.int32), np.ascontiguousarray(indptr, np.int64), (n, p))


def csr_sandwich(X, h, *, out: Optional[Array] = None, backend: Optional[str] = None) -> Array:
    """``X^T diag(h) X`` [n_features, n_features] for a sparse CSR ``X`` [n_samples, n_features]:
    the Hessian of a linear model's loss, ``h`` [n_samples] its per-row curvature
    (scikit-learn's ``sandwich_dot``, newton-cholesky's product on a sparse X).

    X: a scipy.sparse CSR matrix or array, data in h's dtype (float32 or float64), finite,
    each row's column indices sorted and distinct (scipy's canonical format: call
    ``X.sum_duplicates()`` first otherwise); h: any finite weights, negative ones included.
    A 2-D ``h`` [n_samples, m] gives the m products at once, ``[n_features, n_features, m]``
    with ``[:, :, t]`` the one of ``h[:, t]`` (the multinomial Hessian's pairs of classes):
    one pass over X, each pair of entries scattering m contiguous sums.
    Each row adds ``h_i x_i x_i^T`` from its non-zeros alone (O(sum of nnz_i^2 / 2)), into
    the dense result directly: scipy's ``X.T @ (h X)`` builds a sparse result first. Every
    entry of the upper triangle sums ``(h_i x_ia) x_ib`` over the rows in increasing i, on
    every backend (the same bits); the lower triangle mirrors it, so the result is exactly
    symmetric. Into ``out`` when given (C-contiguous, h's dtype, overlapping no input).
    """
    mod = _solver_module(_SANDWICH_MODULES, backend)
    h = _input("h", h)
    if h.ndim not in (1, 2):
        raise ValueError(f"h must be 1-D [n_samples] or 2-D [n_samples, n_weights], got shape {h.shape}")
    dt = h.dtype
    if isinstance(X, _CheckedCSR):  # (_checked_csr: its structure and values already checked)
        if X.data.dtype != dt:
            raise TypeError(f"X is a checked {X.data.dtype} CSR; h is {dt}")
    else:
        X = _checked_csr(X, dt)
    (n, p), data = X.shape, X.data
    if h.shape[0] != n:
        raise ValueError(f"h must have {n} rows (one weight, or one row of weights, per row of X), got shape "
                         f"{h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("h must be finite (it holds NaN or inf)")
    result = _output("out", out, (p, p) + h.shape[1:], dt, (("X.data", data), ("h", h)))
    if result.size:
        counts = np.diff(X.indptr).astype(np.float64)
        _run("csr_sandwich", mod, "csr_sandwich", (result, data, X.indices, X.indptr, h),
             # 2 flops a scatter, nnz_i (nnz_i + 1) / 2 a row, per weight
             flops=float(counts @ (counts + 1.0)) * (h.shape[1] if h.ndim == 2 else 1))
    return result



__all__.append("dense_sandwich")


def dense_sandwich(X, h, *, intercept: bool = False, out: Optional[Array] = None,
                   backend: Optional[str] = None) -> Array:
    """``Xa^T diag(h) Xa`` [q, q] for a dense ``X`` [n_samples, n_features]: ``Xa = X``, or with
    ``intercept`` ``(X, 1)``, a column of ones appended (the result's last row and column are then
    ``X^T h`` and ``sum(h)``; q = n_features + 1). The Hessian of a linear model's loss, ``h``
    [n_samples] its per-row curvature (scikit-learn's ``sandwich_dot`` on a dense X,
    newton-cholesky's product; a sparse X: ``csr_sandwich``). A 2-D ``h`` [n_samples, m] gives
    the m products at once, ``[q, q, m]`` with ``[:, :, t]`` the one of ``h[:, t]`` (the
    multinomial Hessian's pairs of classes), csr_sandwich's layout.

    X: float32 or float64; h: X's dtype, any weights (negative ones included). Values are not
    checked: a NaN or inf propagates as in any product. The C backend takes X in chunks of rows,
    each copied once (with its ones) and scaled by each column of h while in cache (neither ``h X``
    nor ``(X, 1)`` is made whole), and computes the upper triangles only, in blocks of columns on
    the GEMM engine, then mirrors them: exactly symmetric, with the same bits on any thread count
    (15000 x 100 float64 with the intercept, one thread: ~3.5x NumPy's ``Xa.T @ (h[:, None] *
    Xa)``). NumPy's and Numba's backends take that product (other orders of the same sums) and
    mirror its upper triangle. Into ``out`` when given (C-contiguous, X's dtype and shape,
    overlapping no input).
    """
    mod = _solver_module(_SANDWICH_MODULES, backend)
    if is_sparse(X):
        raise TypeError("X is a scipy.sparse matrix: kernels.csr_sandwich takes a sparse X")
    X = _input("X", X, 2)
    h = _input("h", h, None, X.dtype)
    n, p = X.shape
    if h.ndim not in (1, 2):
        raise ValueError(f"h must be 1-D [n_samples] or 2-D [n_samples, n_weights], got shape {h.shape}")
    if h.shape[0] != n:
        raise ValueError(f"h must have {n} rows (one weight, or one row of weights, per row of X), got shape "
                         f"{h.shape}")
    if not isinstance(intercept, (bool, np.bool_)):
        raise TypeError(f"intercept must be a bool, got {type(intercept).__name__}")
    q = p + int(intercept)
    result = _output("out", out, (q, q) + h.shape[1:], X.dtype, (("X", X), ("h", h)))
    if result.size:
        # 2 flops a term, about half the square (the upper triangle), per weight
        _run("dense_sandwich", mod, "dense_sandwich", (result, X, h, bool(intercept)),
             flops=float(n) * q * (q + 1) * (h.shape[1] if h.ndim == 2 else 1))
    return result

# ------------------------------------------------------------------ cholesky
# The factor of a symmetric positive definite matrix (newton-cholesky's Newton step),
# its modules beside each backend as enet_cd's are.

_CHOLESKY_MODULES = {
    "numpy": "fastnn.backends._cholesky_reference",
    "numba": "fastnn.backends._cholesky_numba",
    "c": "fastnn.backends._cholesky_c",
}
__all__.append("cholesky")


def cholesky(a, *, out: Optional[Array] = None, backend: Optional[str] = None) -> Array:
    """The Cholesky factor L of a symmetric positive definite ``a`` [n, n]: lower triangular,
    zeros above, ``a = L L^T`` (``numpy.linalg.cholesky``'s result).

    a: float32 or float64, finite; only its lower triangle enters the factor (as in LAPACK's
    and NumPy's).
    Into ``out`` when given (C-contiguous, a's dtype and shape; ``out=a`` factors in place,
    other overlaps are refused). The C backend is recursive on fastnn's matrix product (2001 x
    2001 float64, one thread: ~1.4x LAPACK's potrf from NumPy's OpenBLAS); NumPy's and
    Numba's run LAPACK's potrf. Raises numpy.linalg.LinAlgError, naming the first leading
    minor that is not positive definite, when a is not (out then holds partial work).
    """
    mod = _solver_module(_CHOLESKY_MODULES, backend)
    a = _input("a", a, 2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"a must be square, got shape {a.shape}")
    # (the sum first: one pass, no n^2 mask; a huge finite a may overflow it, then the exact test)
    with np.errstate(over="ignore"):
        total = a.sum()
    if not np.isfinite(total) and not np.isfinite(a).all():
        raise ValueError("a must be finite (it holds NaN or inf)")
    if out is a:
        result = a
    else:
        result = _output("out", out, a.shape, a.dtype, (("a", a),))
        result[...] = a
    n = a.shape[0]
    info = _run("cholesky", mod, "cholesky", (result,), flops=n * n * n / 3.0)
    if info:
        raise np.linalg.LinAlgError(f"a is not positive definite: its leading minor of order {info} is not")
    return result


# ----------------------------------------------------------------------- sag
# Ridge / LogisticRegression's "sag" and "saga": a whole solve in one backend call,
# its modules beside each backend as enet_cd's are.

_SAG_MODULES = {
    "numpy": "fastnn.backends._sag_reference",
    "numba": "fastnn.backends._sag_numba",
    "c": "fastnn.backends._sag_c",
}
__all__.append("sag")


def _sag_csr(X, p: int, dt: np.dtype):
    """A scipy.sparse CSR X [n_samples, p] checked for the C (which indexes with it unchecked)
    and passed as (data [nnz] in dt, indices int32 [nnz], indptr int64 [n_samples + 1]): either
    index array may be int32 or int64 and is converted to that width (a checked index is < 2**31)."""
    if X.format != "csr":
        raise TypeError(f"X is a sparse {X.format.upper()} matrix; kernels.sag takes CSR: pass X.tocsr()")
    if X.shape[1] != p or not 1 <= X.shape[0] < 1 << 31:
        raise ValueError(f"X must have shape (n_samples, {p}) with 1 <= n_samples < 2**31 (one column per row "
                         f"of coef), got {X.shape}")
    n = X.shape[0]
    data, indices, indptr = _compressed(X, dt, n, p, ("row", "n_samples"), ("feature", "n_features, coef's rows"))
    return data, np.ascontiguousarray(indices, np.int32), np.ascontiguousarray(indptr, np.int64)


def sag(coef: Array, X, y, *, loss: str, step_size: float, alpha: float = 0.0, beta: float = 0.0,
        saga: bool = False, intercept: Optional[Array] = None, sample_weight=None, max_iter: int = 1000,
        tol: float = 1e-3, seed: int = 1, intercept_decay: float = 1.0, sum_gradient: Optional[Array] = None,
        gradient_memory: Optional[Array] = None, intercept_sum_gradient: Optional[Array] = None,
        seen: Optional[Array] = None, backend: Optional[str] = None) -> int:
    """Stochastic average gradient (SAG, or SAGA with ``saga``), in place on ``coef``: scikit-learn's solver.

    scikit-learn's ``sag32`` / ``sag64`` step for step on dense or CSR X: the same samples
    drawn (its xorshift from ``seed``, as its dataset's seed), the same lazy updates,
    so the same epochs and coefficients. Minimises over ``coef`` [n_features,
    n_classes] (float32/float64, the start point, updated in place) and
    ``intercept`` [n_classes] (in place; None: no intercept)

        sum_i sample_weight_i loss(y_i, x_i coef + intercept) / n_samples
            + alpha / 2 ||coef||^2 + beta ||coef||_1

    with ``alpha`` and ``beta`` already divided by n_samples (scikit-learn's
    alpha_scaled) and the constant ``step_size`` (its get_auto_step_size). ``loss``:
    "squared" (y real), "log" (binary, y in [0, 1]) -- both with n_classes = 1 --
    or "multinomial" (y the class index < n_classes, as a float). ``beta`` > 0
    needs ``saga`` (the L1 prox). ``X`` [n_samples, n_features], ``y`` and
    ``sample_weight`` (default ones) [n_samples] are in coef's dtype and finite.
    ``X`` may be a scipy.sparse CSR matrix or array (its data in coef's dtype, int32
    or int64 indices): scikit-learn's CSR solver, whose lazy updates touch only a
    drawn row's non-zeros -- X is never densified.
    ``intercept_decay`` scales the intercept's averaged step (scikit-learn: 1, and
    0.01 for sparse X). Stops after an epoch whose largest weight change is <= tol
    times the largest |weight|, or after ``max_iter`` epochs.

    The solver's memory -- ``sum_gradient`` [n_features, n_classes],
    ``gradient_memory`` [n_samples, n_classes], ``intercept_sum_gradient``
    [n_classes] (coef's dtype) and ``seen`` [n_samples] (int32, 0/1) -- starts at
    zeros, or from caller-owned buffers (updated in place) to warm-start a later
    call as scikit-learn's warm_start_mem does.

    Returns scikit-learn's n_iter: the epochs run (1 when max_iter is 0). A weight
    or intercept that becomes inf/NaN (overflow, or a non-finite start or memory)
    raises scikit-learn's ValueError "Floating-point under-/overflow occurred at
    epoch #..." (the buffers then hold the partial solve).
    """
    from .backends import _sag_reference as spec

    mod = _solver_module(_SAG_MODULES, backend)
    if not isinstance(coef, np.ndarray):
        raise TypeError(f"coef must be a numpy.ndarray (it is updated in place), got {type(coef).__name__}")
    if coef.dtype not in FLOATS:
        raise TypeError(f"coef must be float32 or float64, got dtype {coef.dtype}")
    if not isinstance(loss, str) or loss not in spec.LOSSES:
        raise ValueError(f"loss must be one of {sorted(spec.LOSSES)}, got {loss!r}")
    dt = coef.dtype
    if (coef.ndim != 2 or not 1 <= coef.shape[0] < 1 << 31 or coef.shape[1] < 1
            or (loss != "multinomial" and coef.shape[1] != 1)):
        cols = "n_classes >= 1" if loss == "multinomial" else "1"
        raise ValueError(f"coef must have shape (n_features, {cols}) with 1 <= n_features < 2**31 for "
                         f"loss={loss!r}, got {coef.shape}")
    p, k = coef.shape
    if is_sparse(X):
        n = X.shape[0]
        X = _sag_csr(X, p, dt)  # (data, indices, indptr): the backends' CSR form
        floats, others = (("X.data", X[0]),), (("X.indices", X[1]), ("X.indptr", X[2]))
    else:
        X = _input("X", X, 2, dt)
        if X.shape[1] != p or not 1 <= X.shape[0] < 1 << 31:
            raise ValueError(f"X must have shape (n_samples, {p}) with 1 <= n_samples < 2**31 (one column per "
                             f"row of coef), got {X.shape}")
        n = X.shape[0]
        floats, others = (("X", X),), ()
    y = _input("y", y, 1, dt)
    if y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) (one target per row of X), got {y.shape}")
    sw = np.ones(n, dt) if sample_weight is None else _input("sample_weight", sample_weight, 1, dt)
    if sw.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}")
    inputs = (*floats, ("y", y), ("sample_weight", sw))
    for name, arr in inputs:
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite (it holds NaN or inf)")
    if loss == "log" and not ((y >= 0) & (y <= 1)).all():
        raise ValueError("y must be in [0, 1] for loss='log' (the probability of the positive class)")
    if loss == "multinomial" and not ((y >= 0) & (y < k) & (y == np.floor(y))).all():
        raise ValueError(f"y must hold class indices 0 .. {k - 1} (coef's n_classes) for loss='multinomial'")
    # the buffers updated in place: exact shape and dtype, and no overlap with the data or each other
    fit_intercept = intercept is not None
    buffers = [("coef", coef, (p, k), dt), ("intercept", intercept, (k,), dt),
               ("sum_gradient", sum_gradient, (p, k), dt), ("gradient_memory", gradient_memory, (n, k), dt),
               ("intercept_sum_gradient", intercept_sum_gradient, (k,), dt),
               ("seen", seen, (n,), np.dtype(np.int32))]
    checked = []
    for name, buf, shape, bdt in buffers:
        if buf is None:  # a fresh zero memory (and no intercept: zeros it reads as one)
            buf = np.zeros(shape, bdt)
        else:
            buf = _inplace(name, buf, shape, bdt, inputs + others + tuple(checked))
            # (a NaN or inf in a float buffer reaches the weights and raises the overflow error below)
            if name == "seen" and not ((buf == 0) | (buf == 1)).all():
                raise ValueError("seen must hold 0 or 1 (whether each sample was drawn before)")
        checked.append((name, buf))
    arrays = [buf for _, buf in checked]
    step_size = check_real("step_size", step_size, low=0.0, low_open=True)
    alpha = check_real("alpha", alpha, low=0.0)
    beta = check_real("beta", beta, low=0.0)
    saga = check_bool("saga", saga)
    if beta > 0 and not saga:
        raise ValueError(f"beta={beta} (the L1 penalty) needs saga=True: SAG has no proximal step")
    if step_size * alpha == 1:  # (scikit-learn's ZeroDivisionError) every step would scale the weights to 0
        raise ValueError("step_size * alpha must not be 1 (the weights' scale would drop to 0)")
    tol = check_real("tol", tol, low=0.0)
    intercept_decay = check_real("intercept_decay", intercept_decay, low=0.0)
    max_iter = check_int("max_iter", max_iter)
    seed = check_int("seed", seed)
    if seed >= 1 << 32:
        raise ValueError(f"seed must be < 2**32, got {seed}")
    args = (*arrays, X, y, sw, step_size, alpha, beta, tol, intercept_decay, seed, spec.LOSSES[loss], saga,
            fit_intercept, max_iter)
    n_iter, finite = _run("sag", mod, "sag", args)
    if not finite:
        raise ValueError(f"Floating-point under-/overflow occurred at epoch #{n_iter}. Scaling input data with "
                         "StandardScaler or MinMaxScaler might help.")
    return int(n_iter)


# ----------------------------------------------------------------- dense_to_csr
# A dense X copied to CSR (fastnn.sparse_input: a mostly-zero X trains on the first
# layer's sparse products), its modules beside each backend as enet_cd's are.

_CSR_COPY_MODULES = {
    "numpy": "fastnn.backends._csr_copy_reference",
    "numba": "fastnn.backends._csr_copy_numba",
    "c": "fastnn.backends._csr_copy_c",
}
__all__.append("dense_to_csr")


def dense_to_csr(x, *, max_nnz: Optional[int] = None,
                 backend: Optional[str] = None) -> Optional[Tuple[Array, Array, Array]]:
    """The non-zeros of a dense ``x`` [n, d] as CSR arrays ``(data, indices, indptr)``: data
    [nnz] in x's dtype, indices int32 [nnz] (column numbers, each row's rising), indptr int64
    [n + 1] (scipy's canonical CSR: ``scipy.sparse.csr_matrix((data, indices, indptr), x.shape)``
    is x). An entry is kept where ``x != 0``: a NaN is kept, -0.0 is not. A copy: x is only read.

    With ``max_nnz``, a first pass counts the non-zeros and, when there are more than that,
    returns None without copying anything (the caller's "is x sparse enough?" costs no
    separate scan). Two passes over x in all; on C, AVX-512 compresses 16 / 8 values at a
    time and large x splits its rows over threads (8086 x 784 at 20%, one thread: see
    ``fastnn.sparse_input.csr_copy``).
    """
    mod = _solver_module(_CSR_COPY_MODULES, backend)
    x = _input("x", x, 2)
    n, d = x.shape
    if d >= 1 << 31:
        raise ValueError(f"x must have fewer than 2**31 columns (int32 column indices), got {d}")
    if max_nnz is not None:
        max_nnz = check_int("max_nnz", max_nnz)
    indptr = np.empty(n + 1, np.int64)
    nnz = _run("dense_to_csr", mod, "csr_count", (indptr, x), nbytes=float(x.nbytes))
    if max_nnz is not None and nnz > max_nnz:
        return None
    data, indices = np.empty(nnz, x.dtype), np.empty(nnz, np.int32)
    _run("dense_to_csr", mod, "csr_fill", (data, indices, x, indptr), nbytes=float(x.nbytes) + 1.5 * data.nbytes,
         continues=True)
    return data, indices, indptr


# ----------------------------------------------------------- centered_transpose
# X centred, scaled and transposed: the column-major X coordinate descent reads
# (Lasso / ElasticNet), its modules beside each backend as enet_cd's are.

_TRANSPOSE_MODULES = {
    "numpy": "fastnn.backends._transpose_reference",
    "numba": "fastnn.backends._transpose_numba",
    "c": "fastnn.backends._transpose_c",
}
__all__.append("centered_transpose")


def centered_transpose(x, mean, *, scale=None, out: Optional[Array] = None,
                       backend: Optional[str] = None) -> Array:
    """``((x - mean) * scale[:, None]).T`` as a C-contiguous [p, n] array, for x [n, p]: X
    centred by its column means, rows scaled (sqrt of sample weights), each column of X then
    a contiguous row (``enet_cd``'s ``xt``; scikit-learn's Fortran-ordered centred copy).

    x: float32 or float64; mean [p] and scale [n] (optional) in x's dtype. Each element is
    one subtraction and one product, NumPy's bits for the same expression. Into ``out`` when
    given (C-contiguous, x's dtype, overlapping no input). Raises FloatingPointError (out then
    written) when a result is not finite: x held NaN or inf, or the centring or scaling
    overflowed x's dtype (on C checked as the values are written). On C, transposed in registers a
    4 x 4 (float64) / 8 x 8 (float32) block at a time, a band of columns read down all rows
    (100000 x 50 float64, one thread: 3.5 ms against NumPy's blocked transposing copy 9.9).
    """
    mod = _solver_module(_TRANSPOSE_MODULES, backend)
    x = _input("x", x, 2)
    n, p = x.shape
    mean = _input("mean", mean, 1, x.dtype)
    if mean.shape != (p,):
        raise ValueError(f"mean must have shape ({p},) (one value per column of x), got {mean.shape}")
    if scale is not None:
        scale = _input("scale", scale, 1, x.dtype)
        if scale.shape != (n,):
            raise ValueError(f"scale must have shape ({n},) (one value per row of x), got {scale.shape}")
    result = _output("out", out, (p, n), x.dtype, (("x", x), ("mean", mean), ("scale", scale)))
    if result.size and not _run("centered_transpose", mod, "centered_transpose", (result, x, mean, scale),
                                nbytes=2.0 * x.nbytes):
        raise FloatingPointError(f"centered_transpose: a result is not finite: x holds NaN or inf, or (x - mean)"
                                 f"{' * scale' if scale is not None else ''} overflowed {x.dtype}")
    return result
