"""Per-call cost of fastnn.kernels on small operands, against the NumPy code a user would write.

On a batch of 32 rows a kernel's work takes about a microsecond, so the argument checks of
``fastnn.kernels`` (dtype, shape, contiguity, writeability, overlaps, ranges) are a large share
of each call. Four timings per kernel: ``numpy`` (the one-liner it replaces), ``fastnn``
(``fastnn.kernels`` on the C backend, checks included), ``bound`` (the same call checked once by
``fastnn.kernels.bind`` and repeated; ``-`` for the kernels it does not take) and ``backend`` (the
C backend's wrapper called directly: the call without the checks). The checks cost fastnn - backend.
``Epoch`` times one epoch of the composed loop (one kernel call per step, Python between
them) and of the fused native epoch, at batch 32, where the per-call cost shows most;
``OwnLoop`` the same epoch as a user would write it on fastnn.kernels (``KernelLoop``), with
checked or bound calls.

Side by side in one process, one thread, best of round-robin repetitions:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_call_overhead.py [--repeat 7]
"""
from __future__ import annotations

import sys
import time
import timeit
from functools import partial
from typing import Callable, Dict, Optional, Tuple

import numpy as np

if __name__ == "__main__":  # run as a script from anywhere: the checkout's fastnn and benchmarks
    sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])

import fastnn.kernels as K  # noqa: E402
from benchmarks import DTYPES, require  # noqa: E402  (not relative: this file also runs as a script)

BATCH, N_IN, N_OUT, CLASSES, N_PARAMS = 32, 64, 32, 10, 1000
LR = 1e-9  # thousands of timed updates leave the parameters essentially unchanged

Calls = Tuple[Callable[[], object], Callable[[], object], Callable[[], object], Optional[Callable[[], object]]]


def make_calls(kernel: str, dtype, kernels=K) -> Calls:
    """(fastnn, numpy, backend, bound) zero-argument calls of `kernel` on small float `dtype`
    operands, with preallocated outputs; `kernels` is the fastnn.kernels module to time; bound is
    the fastnn call through kernels.bind, None for a kernel bind does not take."""
    rng = np.random.default_rng(0)
    c = kernels.backends.get("c")

    def rand(*shape, scale=1.0):
        return np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype)

    x, w, b = rand(BATCH, N_IN), rand(N_IN, N_OUT, scale=0.1), rand(N_OUT)
    out, y = np.empty((BATCH, N_OUT), dtype), np.maximum(rand(BATCH, N_OUT), 0)
    dout, dz = rand(BATCH, N_OUT), np.empty((BATCH, N_OUT), dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    logits, grad = rand(BATCH, CLASSES), np.empty((BATCH, CLASSES), dtype)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int32)
    target = np.ascontiguousarray(rng.random((BATCH, CLASSES)), dtype=dtype)
    p, g = rand(N_PARAMS), rand(N_PARAMS, scale=0.01)
    m, v = np.zeros_like(p), np.zeros_like(p)
    rows = np.arange(BATCH)

    def np_xent():
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(prob[rows, labels]).mean()
        prob[rows, labels] -= 1
        prob /= BATCH
        return loss, prob

    def np_adam(t=10, b1=0.9, b2=0.999, eps=1e-8):
        m.__imul__(b1)
        m.__iadd__((1 - b1) * g)
        v.__imul__(b2)
        v.__iadd__((1 - b2) * g * g)
        p.__isub__(LR * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps))

    def np_dense_backward():
        d = dout * (y > 0)
        return d @ w.T, x.T @ d, d.sum(axis=0)

    def np_mse():
        d = logits - target
        return 0.5 * float(np.vdot(d, d)) / BATCH, d / BATCH

    table: Dict[str, Calls] = {
        "gemm": (lambda: kernels.gemm(x, w, out=out, backend="c"),
                 lambda: np.matmul(x, w, out=out),
                 lambda: c.gemm(out, x, w, False, False, 1.0, 0.0)),
        "dense_forward": (lambda: kernels.dense_forward(x, w, b, "relu", out=out, backend="c"),
                          lambda: np.maximum(x @ w + b, 0),
                          lambda: c.dense_forward(out, None, x, w, b, 1, 0.0)),
        "dense_backward": (lambda: kernels.dense_backward(dout, x, w, "relu", y=y, dx=dx, dw=dw, db=db, dz=dz,
                                                          backend="c"),
                           np_dense_backward,
                           lambda: c.dense_backward(dx, dw, db, dz, dout, x, w, y, None, 1, 0.0)),
        "activation_forward": (lambda: kernels.activation_forward(x, "relu", out=dx, backend="c"),
                               lambda: np.maximum(x, 0, out=dx),
                               lambda: c.act_forward(dx, x, 1, 0.0)),
        "activation_backward": (lambda: kernels.activation_backward(dout, "relu", y=y, out=dz, backend="c"),
                                lambda: np.multiply(dout, y > 0, out=dz),
                                lambda: c.act_backward(dz, dout, y, None, 1, 0.0)),
        "softmax_xent": (lambda: kernels.softmax_xent(logits, labels, out=grad, backend="c"),
                         np_xent,
                         lambda: c.softmax_xent(grad, logits, labels)),
        "mse": (lambda: kernels.mse(logits, target, out=grad, backend="c"),
                np_mse,
                lambda: c.mse(grad, logits, target)),
        "l2_penalty": (lambda: kernels.l2_penalty(p, backend="c"),
                       lambda: 0.5 * float(np.dot(p, p)),
                       lambda: c.l2(p)),
        "sgd_update": (lambda: kernels.sgd_update(p, g, lr=LR, backend="c"),
                       lambda: p.__isub__(LR * g),
                       lambda: c.sgd(p, g, LR, 0.0, 0.0, 0.0)),
        "adam_update": (lambda: kernels.adam_update(p, g, m, v, lr=LR, step=10, backend="c"),
                        np_adam,
                        lambda: c.adam(p, m, v, g, LR, 0.9, 0.999, 1e-8, 10, 0.0, 0.0, 0.0)),
        "dropout_forward": (lambda: kernels.dropout_forward(x, 0.5, seed=0, step=1, out=dx, backend="c"),
                            lambda: np.multiply(x, (rng.random(x.shape) >= 0.5) * 2.0, out=dx),
                            lambda: c.dropout(dx.reshape(-1), x.reshape(-1), 1, 1 << 23, 2.0)),
    }
    bound = {
        "gemm": lambda: kernels.bind(kernels.gemm, x, w, out=out, backend="c"),
        "dense_forward": lambda: kernels.bind(kernels.dense_forward, x, w, b, "relu", out=out, backend="c"),
        "dense_backward": lambda: kernels.bind(kernels.dense_backward, dout, x, w, "relu", y=y, dx=dx, dw=dw,
                                               db=db, dz=dz, backend="c"),
        "activation_forward": lambda: kernels.bind(kernels.activation_forward, x, "relu", out=dx, backend="c"),
        "activation_backward": lambda: kernels.bind(kernels.activation_backward, dout, "relu", y=y, out=dz,
                                                    backend="c"),
        "softmax_xent": lambda: kernels.bind(kernels.softmax_xent, logits, labels, out=grad, backend="c"),
        "mse": lambda: kernels.bind(kernels.mse, logits, target, out=grad, backend="c"),
        "sgd_update": lambda: kernels.bind(kernels.sgd_update, p, g, lr=LR, backend="c"),
        "adam_update": lambda: partial(kernels.bind(kernels.adam_update, p, g, m, v, lr=LR, step=10, backend="c"),
                                       step=10),
        "dropout_forward": lambda: partial(kernels.bind(kernels.dropout_forward, x, 0.5, seed=0, step=1, out=dx,
                                                        backend="c"), step=1),
    }
    return table[kernel] + ((bound[kernel]() if kernel in bound else None),)


KERNELS = ["gemm", "dense_forward", "dense_backward", "activation_forward", "activation_backward",
           "softmax_xent", "mse", "l2_penalty", "sgd_update", "adam_update", "dropout_forward"]
BINDABLE = [name for name in KERNELS if name != "l2_penalty"]


class CallOverhead:
    """One call of each kernel on batch-32 / 1000-parameter operands (outputs preallocated)."""

    params = (KERNELS, DTYPES)
    param_names = ["kernel", "dtype"]

    def setup(self, kernel, dtype):
        require("c")
        self.fastnn, self.numpy, self.backend, _ = make_calls(kernel, dtype)
        for call in (self.fastnn, self.numpy, self.backend):
            call()  # warm-up outside the timing

    def time_fastnn(self, kernel, dtype):
        self.fastnn()

    def time_numpy(self, kernel, dtype):
        self.numpy()

    def time_backend(self, kernel, dtype):
        self.backend()


class BoundCallOverhead:
    """The kernels fastnn.kernels.bind takes, called through it (checked once at setup)."""

    params = (BINDABLE, DTYPES)
    param_names = ["kernel", "dtype"]

    def setup(self, kernel, dtype):
        require("c")
        self.bound = make_calls(kernel, dtype)[3]
        self.bound()  # warm-up outside the timing

    def time_bound(self, kernel, dtype):
        self.bound()


class KernelLoop:
    """A user's own MLP on fastnn.kernels, as the README's kernel section suggests: ReLU hidden
    layers, softmax cross-entropy, Adam, separate arrays per layer (no flat parameter buffer), and
    preallocated batch buffers that every step refills. ``bound=True`` checks each call once with
    kernels.bind and repeats it; ``False`` makes the checked calls. The two train the same
    weights (tests/test_bind.py)."""

    def __init__(self, sizes, batch: int, dtype=np.float32, bound: bool = True, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        L = len(sizes) - 1
        self.W = [np.ascontiguousarray(rng.standard_normal((i, o)) * np.sqrt(2.0 / i), dtype=dtype)
                  for i, o in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(o, dtype) for o in sizes[1:]]
        # (labels zero, not empty: binding softmax_xent checks the labels it is given)
        self.xb, self.yb = np.empty((batch, sizes[0]), dtype), np.zeros(batch, np.int32)
        self.h = [np.empty((batch, o), dtype) for o in sizes[1:]]  # each layer's output
        self.d = [np.empty((batch, o), dtype) for o in sizes[1:]]  # the loss gradient w.r.t. it
        self.dW, self.db = [np.empty_like(w) for w in self.W], [np.empty_like(b) for b in self.b]
        params, grads = self.W + self.b, self.dW + self.db
        self.m, self.v = [np.zeros_like(q) for q in params], [np.zeros_like(q) for q in params]
        self.t = 0
        act = ["relu"] * (L - 1) + ["identity"]
        ins = [self.xb] + self.h[:-1]
        fwd = [(K.dense_forward, (ins[l], self.W[l], self.b[l], act[l]), dict(out=self.h[l])) for l in range(L)]
        loss = [(K.softmax_xent, (self.h[-1], self.yb), dict(out=self.d[-1]))]  # d[-1]: dloss / dlogits
        # dense_backward writes dz over d[l] (dz=dout) and dx into d[l - 1], the layer below's gradient
        bwd = [(K.dense_backward, (self.d[l], ins[l], self.W[l], act[l]),
                dict(y=self.h[l] if l < L - 1 else None, dz=self.d[l], dw=self.dW[l], db=self.db[l],
                     need_dx=l > 0, dx=self.d[l - 1] if l else None)) for l in reversed(range(L))]
        upd = [(K.adam_update, (q, g, m, v), dict(lr=1e-3, step=1))
               for q, g, m, v in zip(params, grads, self.m, self.v)]
        if bound:
            self.layers = [K.bind(f, *a, **k) for f, a, k in fwd + loss + bwd]
            self.updates = [K.bind(f, *a, **k) for f, a, k in upd]
        else:
            self.layers = [partial(f, *a, **k) for f, a, k in fwd + loss + bwd]
            self.updates = [lambda step, f=f, a=a, k=k: f(*a, **{**k, "step": step}) for f, a, k in upd]

    def epoch(self, X: np.ndarray, y: np.ndarray) -> None:
        n, bs = len(X), len(self.xb)
        for s in range(0, n - bs + 1, bs):  # whole batches: the buffers have one size
            np.take(X, np.arange(s, s + bs), axis=0, out=self.xb)
            self.yb[...] = y[s:s + bs]
            for call in self.layers:  # forward, loss (its labels checked every call, bound or not), backward
                call()
            self.t += 1
            for update in self.updates:
                update(step=self.t)


class Epoch:
    """One epoch of digits (1797 x 64-128-64-10, ReLU, Adam, batch 32) with fastnn.MLP.fit:
    composed (fused=False: one kernel call per step) and native (fused=True)."""

    params = ([False, True],)
    param_names = ["fused"]

    def setup(self, fused):
        require("c")
        from fastnn import MLP
        from fastnn.profile import load_data

        self.X, self.y, _ = load_data("digits", "float32")
        self.model = MLP([64, 128, 64, 10], "relu", dtype="float32", seed=0, backend="c")
        self.time_fit_one_epoch(fused)  # warm-up outside the timing

    def time_fit_one_epoch(self, fused):
        self.model.fit(self.X, self.y, optimizer="adam", lr=1e-3, epochs=1, batch_size=32, tol=None,
                       shuffle=False, fused=fused)


class OwnLoop:
    """One digits epoch (1797 x 64-128-64-10, ReLU, Adam, batch 32) of KernelLoop, a user's own
    loop on fastnn.kernels: checked calls (bound=False) or bound once (bound=True)."""

    params = ([False, True],)
    param_names = ["bound"]

    def setup(self, bound):
        require("c")
        from fastnn.profile import load_data

        self.X, y, _ = load_data("digits", "float32")
        self.y = y.astype(np.int32)
        self.loop = KernelLoop([64, 128, 64, 10], 32, np.float32, bound)
        self.loop.epoch(self.X, self.y)  # warm-up outside the timing

    def time_epoch(self, bound):
        self.loop.epoch(self.X, self.y)


def best_us(calls: Dict[str, Callable[[], object]], repeat: int = 7, min_time: float = 0.01,
            timer: Callable[[], float] = time.thread_time) -> Dict[str, float]:
    """Microseconds per call of each entry: best of `repeat` round-robin batches of ~`min_time` s.

    The default timer is the calling thread's CPU time: on a shared machine it leaves out the
    time other processes hold the core (wall-clock minima of 1-us calls varied 2x here);
    time one thread's work with it (OMP_NUM_THREADS=1), or pass time.process_time."""
    number = {}
    for name, call in calls.items():
        n, t = 1, 0.0
        while t < min_time:  # calibrate: double the batch until it lasts min_time
            n *= 2
            t = timeit.timeit(call, number=n, timer=timer)
        number[name] = n
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, call in calls.items():
            best[name] = min(best[name], timeit.timeit(call, number=number[name], timer=timer) / number[name] * 1e6)
    return best


def main(argv=None) -> None:
    import argparse

    from fastnn.threads import get_num_threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="round-robin repetitions (the best is shown)")
    ap.add_argument("--min-time", type=float, default=0.01, help="seconds per timed batch of calls")
    args = ap.parse_args(argv)
    print(f"fastnn.kernels per call, microseconds of thread CPU time (best of {args.repeat}; "
          f"{get_num_threads()} thread(s); backend c)")
    print(f"{'kernel':20s} {'dtype':8s} {'numpy':>7s} {'fastnn':>7s} {'bound':>7s} {'backend':>8s} {'checks':>7s} "
          f"{'fastnn/np':>9s} {'bound/np':>8s}")
    for kernel in KERNELS:
        for dtype in DTYPES:
            fastnn_call, numpy_call, backend_call, bound_call = make_calls(kernel, dtype)
            calls = {"numpy": numpy_call, "fastnn": fastnn_call, "backend": backend_call}
            if bound_call is not None:
                calls["bound"] = bound_call
            t = best_us(calls, args.repeat, args.min_time)
            bound = f"{t['bound']:7.2f}" if "bound" in t else f"{'-':>7s}"
            bound_ratio = f"{t['bound'] / t['numpy']:7.2f}x" if "bound" in t else f"{'-':>8s}"
            print(f"{kernel:20s} {dtype:8s} {t['numpy']:7.2f} {t['fastnn']:7.2f} {bound} {t['backend']:8.2f} "
                  f"{t['fastnn'] - t['backend']:7.2f} {t['fastnn'] / t['numpy']:8.2f}x {bound_ratio}")
    epochs = {f: Epoch() for f in (False, True)}
    for fused, bench in epochs.items():
        bench.setup(fused)
    # process CPU time: the native epoch may run on several threads
    t = best_us({f"fused={f}": (lambda b=b, f=f: b.time_fit_one_epoch(f)) for f, b in epochs.items()},
                args.repeat, 5 * args.min_time, timer=time.process_time)
    print(f"one digits epoch at batch 32, ms: composed {t['fused=False'] / 1e3:.2f}, "
          f"fused {t['fused=True'] / 1e3:.2f} ({t['fused=False'] / t['fused=True']:.2f}x)")
    loops = {b: OwnLoop() for b in (False, True)}
    for bound, bench in loops.items():
        bench.setup(bound)
    t = best_us({f"bound={b}": (lambda b=b, x=x: x.time_epoch(b)) for b, x in loops.items()},
                args.repeat, 5 * args.min_time)
    print(f"the same epoch, a user's own loop on fastnn.kernels (KernelLoop), ms: checked "
          f"{t['bound=False'] / 1e3:.2f}, bound {t['bound=True'] / 1e3:.2f} "
          f"({t['bound=False'] / t['bound=True']:.2f}x)")


if __name__ == "__main__":
    main()
