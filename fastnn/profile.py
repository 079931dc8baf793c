"""Per-kernel profiling: ``with fastnn.profile() as p:`` and ``fastnn profile``.

``fastnn.kernels`` calls ``_profiler.record(name, backend, seconds, flops, nbytes, dtype)``
around every kernel while a profiler is installed; while none is (the default),
the only cost is one attribute test per kernel call. A ``Profiler`` collects one
event per call and turns them into a table (calls, total ms, share of the run,
GFLOP/s, GB/s, share of the machine's measured peak) and a Chrome trace (the
JSON "trace event" format, which https://ui.perfetto.dev and chrome://tracing load).

``fastnn profile`` trains a small MLP (the digits data by default, or the user's
data) with the unfused kernels, so every dense layer, loss and optimizer update
shows up as its own row, and prints that table.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .datasets import EMBEDDED
from .io import check_output_path
from .nn.flat import FlatLayout
from .nn.optimizers import OPTIMIZERS, get_optimizer

__all__ = ["Profiler", "KernelStat", "profile", "KernelMLP", "load_data", "configure_parser", "run"]

# (name, backend, start seconds, duration seconds, flops, bytes, thread index)
Event = Tuple[str, str, float, float, float, float, int]

# serialises installing and removing profilers in fastnn.kernels._profiler (threads may do both)
_INSTALL_LOCK = threading.Lock()


@dataclass
class KernelStat:
    """Aggregated timings of one kernel on one backend."""

    name: str
    backend: str
    calls: int = 0
    seconds: float = 0.0
    flops: float = 0.0
    nbytes: float = 0.0
    min_seconds: float = math.inf
    max_seconds: float = 0.0

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s over all calls (0 for kernels that count no flops)."""
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    @property
    def gbs(self) -> float:
        """Achieved GB/s of compulsory traffic (each operand read or written once)."""
        return self.nbytes / self.seconds / 1e9 if self.seconds > 0 else 0.0

    def as_dict(self) -> Dict[str, Any]:
        return {"kernel": self.name, "backend": self.backend, "calls": self.calls, "seconds": self.seconds,
                "flops": self.flops, "bytes": self.nbytes, "gflops": self.gflops, "gbs": self.gbs,
                "min_seconds": self.min_seconds, "max_seconds": self.max_seconds}


class Profiler:
    """Collects one event per fastnn kernel call while it is active.

    Use it as a context manager (``with Profiler() as p:``) or with ``start()`` /
    ``stop()``. Profilers nest: an inner one forwards its events to the outer one. It
    records the calls of every Python thread while it runs (the trace keeps them apart).
    ``span(name)`` marks a region (an epoch, a batch) that appears in the trace.
    """

    def __init__(self, *, dtype: Any = None, threads: Optional[int] = None) -> None:
        self.clock = time.perf_counter  # read by fastnn.kernels around each call
        self.events: List[Event] = []
        self.spans: List[Tuple[str, float, float, int]] = []
        # None: the dtype of the first kernel call recorded (float32 if there is none)
        self._dtype = None if dtype is None else np.dtype(dtype)
        self.threads = threads
        self.t_start: Optional[float] = None
        self.t_stop: Optional[float] = None
        self._origin: Optional[float] = None  # the first start: time 0 of the trace
        self._wall_before = 0.0  # wall time of earlier start()/stop() sessions
        self._starter = 1  # the tid of the thread that first started it (start())
        self._previous: Any = None
        self._tids: Dict[int, int] = {}
        self._lock = threading.Lock()
        # per thread: the index of its last event (a second pass of one call extends it)
        self._last_event: Dict[int, int] = {}

    # -- the hook fastnn.kernels calls -------------------------------------------------
    def record(self, name: str, backend: str, seconds: float, flops: float, nbytes: float,
               dtype: Optional[np.dtype] = None, continues: bool = False) -> None:
        """One kernel call of `seconds` that ended just now, on arrays of `dtype`; with
        `continues`, a further backend pass of this thread's last call (dense_to_csr counts,
        then copies), which extends that call's event: calls count calls."""
        end, tid = self.clock(), self._tid()
        with self._lock:
            last = self._last_event.get(tid)
            if continues and last is not None and self.events[last][0] == name:
                n, b, t0, _, f, nb, _ = self.events[last]
                self.events[last] = (n, b, t0, end - t0, f + float(flops), nb + float(nbytes), tid)
            else:
                self.events.append((name, backend, end - seconds, seconds, float(flops), float(nbytes), tid))
                self._last_event[tid] = len(self.events) - 1
        if self._dtype is None and dtype is not None:
            self._dtype = np.dtype(dtype)
        if self._previous is not None:
            self._previous.record(name, backend, seconds, flops, nbytes, dtype, continues)

    @property
    def dtype(self) -> np.dtype:
        """The run's dtype: the one given, else the first recorded call's, else float32."""
        return self._dtype if self._dtype is not None else np.dtype(np.float32)

    def _tid(self) -> int:
        ident = threading.get_ident()
        tid = self._tids.get(ident)
        if tid is None:
            with self._lock:
                tid = self._tids.setdefault(ident, len(self._tids) + 1)
        return tid

    # -- activation ----------------------------------------------------------------------
    def start(self) -> "Profiler":
        from . import kernels

        if self.t_start is not None and self.t_stop is None:
            raise RuntimeError("this profiler is already running")
        with _INSTALL_LOCK:
            self._previous = kernels._profiler
            kernels._profiler = self
        if self.t_start is not None:  # restarted: keep the earlier sessions' events and wall time
            self._wall_before += self.t_stop - self.t_start
        self.t_start = self.clock()
        if self._origin is None:
            self._origin = self.t_start
            self._starter = self._tid()  # the thread whose wall time the table splits
        self.t_stop = None
        return self

    def stop(self) -> "Profiler":
        from . import kernels

        if self.t_start is None or self.t_stop is not None:
            return self
        self.t_stop = self.clock()
        with _INSTALL_LOCK:
            if kernels._profiler is self:
                kernels._profiler = self._previous
            else:
                # stopped before a profiler started after it (another thread's, or an inner one
                # stopped later): unlink it from the chain, else that one's stop() would
                # reinstall it and it would record every kernel call from then on
                p = kernels._profiler
                while p is not None and getattr(p, "_previous", None) is not self:
                    p = getattr(p, "_previous", None)
                if p is not None:
                    p._previous = self._previous
        self._previous = None
        return self

    def __enter__(self) -> "Profiler":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        """Mark a region (e.g. ``"epoch 3"``); it shows as its own slice in the trace."""
        t0 = self.clock()
        try:
            yield
        finally:
            self.spans.append((name, t0, self.clock() - t0, self._tid()))

    # -- results -------------------------------------------------------------------------
    @property
    def wall_seconds(self) -> float:
        """Wall time of the profiled region (so far, while it runs)."""
        if self.t_start is None:
            return 0.0
        end = self.t_stop if self.t_stop is not None else self.clock()
        return self._wall_before + end - self.t_start

    @property
    def kernel_seconds(self) -> float:
        return sum(e[3] for e in self.events)

    def stats(self) -> List[KernelStat]:
        """Per (kernel, backend) totals, the most expensive first."""
        table: Dict[Tuple[str, str], KernelStat] = {}
        for name, backend, _, sec, flops, nbytes, _ in self.events:
            s = table.get((name, backend))
            if s is None:
                s = table[(name, backend)] = KernelStat(name, backend)
            s.calls += 1
            s.seconds += sec
            s.flops += flops
            s.nbytes += nbytes
            s.min_seconds = min(s.min_seconds, sec)
            s.max_seconds = max(s.max_seconds, sec)
        return sorted(table.values(), key=lambda s: -s.seconds)

    def table(self, peak: Optional[Dict[str, Any]] = None) -> str:
        """The per-kernel table as text; `peak` (from ``fastnn.bench.measure_peak``) adds shares of peak."""
        wall = self.wall_seconds
        fma = bw = None
        if peak:
            fma = peak["fma_gflops"].get(self.dtype.name)
            bw = peak.get("bandwidth_gbs")
        # (bandwidth: the STREAM triad's, from memory; a kernel on data in cache goes beyond it)
        headers = ["kernel", "backend", "calls", "total ms", "% run", "us/call", "GFLOP/s", "GB/s", "% FMA peak",
                   "% DRAM BW"]
        rows = []
        from_cache = False
        for s in self.stats():
            from_cache = from_cache or bool(s.nbytes and bw and s.gbs > bw)
            rows.append([s.name, s.backend, str(s.calls), f"{s.seconds * 1e3:.2f}",
                         _pct(s.seconds, wall), f"{s.seconds / s.calls * 1e6:.1f}",
                         f"{s.gflops:.2f}" if s.flops else "-", f"{s.gbs:.2f}" if s.nbytes else "-",
                         _pct(s.gflops, fma) if (s.flops and fma) else "-",
                         _pct(s.gbs, bw) if (s.nbytes and bw) else "-"])
        # the profiling thread's time outside kernels (other Python threads' calls overlap its wall time)
        outside = wall - sum(e[3] for e in self.events if e[6] == self._starter)
        rows.append(["(outside kernels)", "python", "-", f"{outside * 1e3:.2f}", _pct(outside, wall),
                     "-", "-", "-", "-", "-"])
        rows.append(["total (wall)", "", str(len(self.events)), f"{wall * 1e3:.2f}", _pct(wall, wall),
                     "-", "-", "-", "-", "-"])
        notes = []
        callers = len({e[6] for e in self.events})
        if callers > 1:
            notes.append(f"(kernel calls from {callers} Python threads, all recorded: their times overlap, so '% run' "
                         "may sum past 100%; '(outside kernels)' is the profiling thread's)")
        if from_cache:
            notes.append("(% DRAM BW over 100%: the kernel's operands were in cache, which serves them faster than "
                         "memory's triad bandwidth)")
        return format_table(headers, rows) + "".join("\n" + n for n in notes)

    def __str__(self) -> str:
        return self.table()

    def as_dict(self, peak: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return {"wall_seconds": self.wall_seconds, "kernel_seconds": self.kernel_seconds, "dtype": self.dtype.name,
                "threads": self.threads, "peak": peak, "kernels": [s.as_dict() for s in self.stats()]}

    def trace(self) -> Dict[str, Any]:
        """The run as Chrome trace events: one complete ("X") event per kernel call.

        Times are microseconds from the profiler's (first) start; ``cat`` is the backend.
        """
        t0 = self._origin if self._origin is not None else 0.0
        pid = os.getpid()
        events: List[Dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "fastnn"}}]
        for ident, tid in sorted(self._tids.items(), key=lambda kv: kv[1]):
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"name": "main" if ident == threading.main_thread().ident else f"thread {tid}"}})
        for name, start, dur, tid in self.spans:
            events.append({"name": name, "cat": "span", "ph": "X", "ts": (start - t0) * 1e6, "dur": dur * 1e6,
                           "pid": pid, "tid": tid})
        for name, backend, start, dur, flops, nbytes, tid in self.events:
            args: Dict[str, Any] = {"backend": backend, "flops": flops, "bytes": nbytes}
            if dur > 0:
                args["gflops"] = flops / dur / 1e9
                args["gbs"] = nbytes / dur / 1e9
            events.append({"name": name, "cat": backend, "ph": "X", "ts": (start - t0) * 1e6, "dur": dur * 1e6,
                           "pid": pid, "tid": tid, "args": args})
        return {"traceEvents": events, "displayTimeUnit": "ms",
                "otherData": {"tool": "fastnn profile", "dtype": self.dtype.name, "threads": self.threads}}

    def write_trace(self, path: str) -> None:
        """Write ``trace()`` as JSON to `path` (open it in https://ui.perfetto.dev)."""
        _write_json(path, self.trace())


def profile(*, dtype: Any = None, threads: Optional[int] = None) -> Profiler:
    """A profiler of fastnn kernel calls, for ``with fastnn.profile() as p: ...``.

    After the block, ``print(p.table())`` shows the per-kernel table,
    ``p.stats()`` returns it as objects and ``p.write_trace("t.json")`` writes a
    trace for Perfetto. `dtype` and `threads` label the run, and the dtype picks
    the peak that shares are measured against; dtype None takes the dtype of the
    first kernel call recorded.
    """
    return Profiler(dtype=dtype, threads=threads)


def _pct(x: Optional[float], whole: Optional[float]) -> str:
    if not whole or x is None:
        return "-"
    return f"{100.0 * x / whole:.1f}%"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells: Sequence[Any]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _write_json(path: str, obj: Any) -> None:
    from .io import replace_atomically

    text = json.dumps(obj, indent=1, default=_json_default) + "\n"  # (a serialisation error writes nothing)
    replace_atomically(path, lambda f: f.write(text.encode("utf-8")))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------ a kernel-level MLP


class KernelMLP:
    """A softmax-classifier MLP (``loss="mse"``: a regressor) trained by composing ``fastnn.kernels`` calls.

    Parameters live in one flat buffer laid out as in fastnn/nn/flat.py (all weights,
    then all biases; W_l is [d_l, d_l+1]); the optimizer is fastnn.nn.optimizers' (any
    of its names, default hyperparameters), its state [n_state, size].
    Every activation buffer is allocated once for `batch_size` rows, so a step
    allocates nothing. This is what ``fastnn profile`` trains when ``fastnn.MLP``
    is not there, and what ``fastnn bench step|epoch`` times.
    """

    #: optimizer names (fastnn.nn.optimizers, with their default hyperparameters, as fastnn.MLP.fit)
    OPTIMIZERS = tuple(OPTIMIZERS)

    def __init__(self, sizes: Sequence[int], *, activation: str = "relu", optimizer: str = "adam",
                 lr: float = 1e-3, batch_size: int = 200, dtype: Any = np.float32, seed: int = 0,
                 backend: Optional[str] = None, loss: str = "softmax_xent") -> None:
        from . import kernels
        from .mlp import HIDDEN_ACTIVATIONS

        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive layer widths, got {list(sizes)}")
        if optimizer not in self.OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(self.OPTIMIZERS)}, got {optimizer!r}")
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {activation!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if loss not in ("softmax_xent", "mse"):
            raise ValueError(f"loss must be 'softmax_xent' or 'mse', got {loss!r}")
        self.loss = loss
        self.k = kernels
        self.sizes = [int(s) for s in sizes]
        self.activation, self.optimizer, self.lr = activation, optimizer, float(lr)
        self.batch_size, self.backend = int(batch_size), backend
        self.dtype = np.dtype(dtype)
        L = len(self.sizes) - 1
        shapes = [(self.sizes[i], self.sizes[i + 1]) for i in range(L)]
        layout = FlatLayout(self.sizes)
        self.n_weights, self.size = layout.n_weights, layout.size
        self.params = np.zeros(self.size, self.dtype)
        self.grads = np.zeros(self.size, self.dtype)
        self.opt = get_optimizer(optimizer, lr=self.lr)
        self.opt.setup(layout, self.params, self.grads)
        self.state = self.opt.state  # [n_state, size], zeroed
        self.W, self.b = self._views(self.params, shapes)
        self.gW, self.gb = self._views(self.grads, shapes)
        rng = np.random.default_rng(seed)
        for (fan_in, fan_out), w in zip(shapes, self.W):  # Glorot uniform, as scikit-learn
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            w[...] = rng.uniform(-bound, bound, size=w.shape)
        for bias in self.b:
            bias[...] = rng.uniform(-0.01, 0.01, size=bias.shape)
        bs = self.batch_size
        self.outs = [np.empty((bs, d), self.dtype) for d in self.sizes[1:]]
        self.need_z = kernels.ACTIVATIONS[activation] in _needs_input()
        self.zs = [np.empty((bs, d), self.dtype) if self.need_z else None for d in self.sizes[1:-1]] + [None]
        self.dxs = [np.empty((bs, d), self.dtype) for d in self.sizes[1:-1]]
        self.dlogits = np.empty((bs, self.sizes[-1]), self.dtype)
        self.acts = [activation] * (L - 1) + ["identity"]

    def _views(self, buf: np.ndarray, shapes: List[Tuple[int, int]]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        ws, bs, o = [], [], 0
        for a, b in shapes:
            ws.append(buf[o:o + a * b].reshape(a, b))
            o += a * b
        for _, b in shapes:
            bs.append(buf[o:o + b])
            o += b
        return ws, bs

    def step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One update on a batch (forward, loss, backward, optimizer); returns the loss.
        yb: int32 labels, or for loss="mse" targets [rows, outputs] (or [rows] for one output)."""
        k, be, r = self.k, self.backend, xb.shape[0]
        a = xb
        for l, act in enumerate(self.acts):
            z = None if self.zs[l] is None else self.zs[l][:r]
            a = k.dense_forward(a, self.W[l], self.b[l], act, out=self.outs[l][:r], preact=z, backend=be)
        if self.loss == "mse":
            loss, dout = k.mse(a, yb.reshape(r, -1), out=self.dlogits[:r], backend=be)
        else:
            loss, dout = k.softmax_xent(a, yb, out=self.dlogits[:r], backend=be)
        for l in range(len(self.acts) - 1, -1, -1):
            x = xb if l == 0 else self.outs[l - 1][:r]
            z = None if self.zs[l] is None else self.zs[l][:r]
            dx = self.dxs[l - 1][:r] if l > 0 else None
            _, _, _ = k.dense_backward(dout, x, self.W[l], self.acts[l], y=self.outs[l][:r], z=z, need_dx=l > 0,
                                       dx=dx, dw=self.gW[l], db=self.gb[l], dz=dout, backend=be)
            dout = dx
        self.opt.update(self.lr, backend=be)
        return loss

    @property
    def t(self) -> int:
        """Updates done (Adam's step of the last one); a caller that trains the buffers with
        ``kernels.train_epoch`` advances it by the batches it ran."""
        return self.opt.step

    @t.setter
    def t(self, value: int) -> None:
        self.opt.step = int(value)

    def epoch(self, X: np.ndarray, y: np.ndarray, perm: np.ndarray) -> float:
        """One pass over ``X[perm]`` in mini-batches; returns the row-weighted mean loss."""
        total, n, bs = 0.0, len(perm), self.batch_size
        for s in range(0, n, bs):
            idx = perm[s:s + bs]
            total += self.step(X[idx], y[idx]) * len(idx)
        return total / max(n, 1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels 0..C-1, or with loss="mse" the outputs ([n] for one)."""
        a = np.ascontiguousarray(X, self.dtype)
        for l, act in enumerate(self.acts):
            a = self.k.dense_forward(a, self.W[l], self.b[l], act, backend=self.backend)
        if self.loss == "mse":
            return a[:, 0] if a.shape[1] == 1 else a
        return a.argmax(axis=1)


def _needs_input() -> frozenset:
    from .backends._common import NEEDS_INPUT_FOR_GRAD

    return NEEDS_INPUT_FOR_GRAD


# ------------------------------------------------------------------------------ data


def load_data(spec: str = "digits", dtype: Any = np.float32) -> Tuple[np.ndarray, np.ndarray, str]:
    """(X, y, description) for an embedded set (``fastnn.datasets.EMBEDDED``, as ``fastnn
    train`` takes) or a data file: y int32 labels 0..C-1, or for a regression target (the
    embedded set's task, or a file's float target, as ``fastnn train`` decides:
    ``fastnn.datasets.is_regression``) its values in `dtype`.

    Files are read by ``fastnn.datasets.load_file``: a .npz with arrays X and y, a .npy
    table or a CSV (label last; a header row and class names are allowed). svmlight files
    are sparse, which the kernel-by-kernel loop profiled here does not take.
    """
    from .datasets import EMBEDDED, SVMLIGHT_EXTENSIONS, is_regression, load_embedded, load_file

    dtype = np.dtype(dtype)
    if spec in EMBEDDED:
        X, y = load_embedded(spec, dtype)
        desc = f"{spec} ({X.shape[0]} x {X.shape[1]})"
    elif not os.path.isfile(spec):
        raise ValueError(f"no such file or embedded data set: {spec!r} (embedded: {', '.join(sorted(EMBEDDED))})")
    elif spec.lower().endswith(SVMLIGHT_EXTENSIONS):
        raise ValueError(f"{spec}: an svmlight file trains sparse, and the profiled loop takes dense data "
                         "(`fastnn train` trains it)")
    else:
        X, y = load_file(spec, dtype=dtype)
        desc = spec
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"{spec}: X must be 2-D with one label per row, got X {X.shape}, y {np.shape(y)}")
    X = np.ascontiguousarray(X, dtype)
    if is_regression(spec, y):  # a float target: one output, not one class per distinct value
        return X, np.ascontiguousarray(y, dtype), f"{desc}, regression target"
    classes, labels = np.unique(np.asarray(y), return_inverse=True)
    return X, labels.astype(np.int32), f"{desc}, {len(classes)} classes"


# ------------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits",
                        help=f"an embedded set ({', '.join(sorted(EMBEDDED))}; default digits), a .npz "
                             "file with arrays X and y, or a .npy / CSV table (label last; a float label is a "
                             "regression target; CSV lines starting with '#' are comments)")
    parser.add_argument("--hidden", default="100", help="hidden layer widths, comma-separated (default 100)")
    parser.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    parser.add_argument("--optimizer", default="adam", choices=sorted(KernelMLP.OPTIMIZERS),
                        help="(default %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate (default %(default)g)")
    parser.add_argument("--epochs", type=int, default=10, help="(default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=200, help="(default %(default)s)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="(default %(default)s)")
    parser.add_argument("--backend", default=None, help="kernel backend (default: fastnn's current one)")
    parser.add_argument("--threads", type=int, default=None, help="threads for fastnn and NumPy's BLAS")
    parser.add_argument("--seed", type=int, default=0, help="in [0, 2**32) (default %(default)s)")
    parser.add_argument("--trace", metavar="PATH", help="write a Chrome trace (open in https://ui.perfetto.dev)")
    parser.add_argument("--json", metavar="PATH", help="write the table as JSON")
    parser.add_argument("--no-peak", action="store_true", help="skip measuring the machine's peak (no %% peak)")
    parser.add_argument("--runner", default="auto", choices=["auto", "mlp", "kernels"],
                        help="train with fastnn.MLP(...).fit(fused=False) (default auto: when this build has it) or "
                             "with the kernel loop in fastnn.profile")


def find_mlp() -> Any:
    """The ``fastnn.MLP`` class when this build has it, else None."""
    import fastnn

    return getattr(fastnn, "MLP", None)  # fastnn.nn has no MLP to fall back on


def _train(args: argparse.Namespace, X: np.ndarray, y: np.ndarray, hidden: List[int], prof: Profiler) -> str:
    """Run the training; returns a description of what ran."""
    sizes, loss_name = _shape(X, y, hidden)
    arch = "-".join(map(str, sizes))
    mlp_cls = find_mlp() if args.runner in ("auto", "mlp") else None
    if args.runner == "mlp" and mlp_cls is None:
        raise RuntimeError("--runner mlp: fastnn.MLP is not available in this build")
    if mlp_cls is not None:
        last = [prof.clock(), 0]  # end of the previous epoch, epochs done

        def epoch_span(logs: Dict[str, Any]) -> None:  # one trace slice per epoch
            # counted here, from 1 as the kernel loop's spans are: the logs' 'epoch' counts from 0
            now = prof.clock()
            last[1] += 1
            prof.spans.append((f"epoch {last[1]}", last[0], now - last[0], prof._tid()))
            last[0] = now

        try:
            model = mlp_cls(sizes, args.activation, dtype=args.dtype, seed=args.seed, backend=args.backend,
                            loss="mse" if loss_name == "mse" else None)
            model.fit(X, y, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                      tol=None, seed=args.seed, fused=False, callbacks=[epoch_span])
        except TypeError as exc:  # an MLP whose signature differs: say so, use the kernel loop
            if args.runner == "mlp":
                raise RuntimeError(f"--runner mlp: fastnn.MLP did not accept these options: {exc}") from exc
            prof.events.clear()
            prof.spans.clear()
        else:
            prof.stop()  # the accuracy pass is not part of the training run
            return (f"fastnn.MLP {arch}.fit(fused=False), {args.optimizer}, {args.epochs} epochs, "
                    f"final loss {model.loss_:.4f}, {_train_score(model.predict(X), y)}")
    net = KernelMLP(sizes, activation=args.activation, optimizer=args.optimizer, lr=args.lr,
                    batch_size=args.batch_size, dtype=X.dtype, seed=args.seed, backend=args.backend, loss=loss_name)
    rng = np.random.default_rng(args.seed)
    loss = float("nan")
    for e in range(args.epochs):
        with prof.span(f"epoch {e + 1}"):
            loss = net.epoch(X, y, rng.permutation(len(X)))
    prof.stop()  # the accuracy pass is not part of the training run
    return (f"kernel loop {arch}, {args.optimizer}, {args.epochs} epochs, "
            f"final loss {loss:.4f}, {_train_score(net.predict(X), y)}")


def _shape(X: np.ndarray, y: np.ndarray, hidden: List[int]) -> Tuple[List[int], str]:
    """(layer sizes, loss) for load_data's (X, y): a float y is a regression target (one output)."""
    if y.dtype.kind == "f":
        return [X.shape[1], *hidden, 1], "mse"
    return [X.shape[1], *hidden, int(y.max()) + 1], "softmax_xent"


def _train_score(pred: np.ndarray, y: np.ndarray) -> str:
    if y.dtype.kind == "f":
        from .mlp import _r2

        return f"train R^2 {_r2(pred, y):.3f}"
    return f"train accuracy {float((pred == y).mean()):.3f}"


def _check_options(args: argparse.Namespace) -> None:
    """ValueError naming the option for settings the run would only reject later, in a traceback."""
    from . import backends
    from .mlp import HIDDEN_ACTIVATIONS

    if args.threads is not None:  # 2**31 and more reached set_num_threads: a traceback
        from .cli import threads_option

        threads_option(args.threads, "profile")
    if not 0 <= args.seed < 2**32:  # it seeds fastnn.MLP and NumPy's generators, which refuse others mid-run
        raise ValueError(f"--seed must be an int in [0, 2**32), got {args.seed}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise ValueError(f"--lr must be a finite number > 0, got {args.lr}")
    if args.activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"--activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {args.activation!r}")
    if args.backend is not None:
        try:
            backends.get(args.backend)
        except ValueError as exc:
            raise ValueError(f"--backend: {exc}") from None


def run(args: argparse.Namespace) -> int:
    import fastnn

    from . import bench

    try:
        hidden = [int(h) for h in str(args.hidden).split(",")]  # int(" ") fails: "10,,5" is not read as 10,5
        if any(h < 1 for h in hidden):
            raise ValueError
    except ValueError:
        print(f"fastnn profile: --hidden must be comma-separated positive ints, got {args.hidden!r}", file=sys.stderr)
        return 2
    if args.epochs < 1 or args.batch_size < 1:
        print("fastnn profile: --epochs and --batch-size must be >= 1", file=sys.stderr)
        return 2
    try:
        _check_options(args)
        for option, path in (("--trace", args.trace), ("--json", args.json)):
            if path:
                check_output_path(path, option)
        if args.trace and args.json and os.path.abspath(args.trace) == os.path.abspath(args.json):
            raise ValueError(f"--trace and --json both name {args.json}; the table would replace the trace")
        X, y, desc = load_data(args.data, args.dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"fastnn profile: {exc}", file=sys.stderr)
        return 2
    # a batch holds at most every row, as in fastnn.MLP.fit: KernelMLP allocates its buffers for
    # batch_size rows (--batch-size 10**12 for full batches was a MemoryError traceback)
    args.batch_size = min(args.batch_size, len(X))
    threads = args.threads if args.threads is not None else fastnn.get_num_threads()
    backend = args.backend or fastnn.get_backend()
    load_before = bench.load_average()
    with bench.thread_limit(threads):
        peak = None if args.no_peak else bench.measure_peak(threads)
        sizes, loss = _shape(X, y, hidden)
        warm = KernelMLP(sizes, activation=args.activation, optimizer=args.optimizer, batch_size=args.batch_size,
                         dtype=X.dtype, backend=args.backend, loss=loss)
        warm.step(X[:args.batch_size], y[:args.batch_size])  # JIT and thread-pool start-up stay out of the profile
        prof = Profiler(dtype=args.dtype, threads=threads)
        try:
            with prof:
                what = _train(args, X, y, hidden, prof)
        except fastnn.TrainingDivergedError as exc:  # an outcome of the settings (e.g. --lr 10), not a crash: one line
            print(f"fastnn profile: {exc} (--lr {args.lr:g})", file=sys.stderr)
            return 1
    print(f"fastnn profile: {desc}; {what}")
    print(f"backend {backend}, {args.dtype}, {threads} thread(s)" +
          (f"; peak {peak['fma_gflops'][args.dtype]:.1f} GFLOP/s FMA, {peak['bandwidth_gbs']:.1f} GB/s triad"
           if peak else ""))
    print(prof.table(peak))
    note = bench.busy_note(threads, load_before, bench.load_average())
    if note:
        print(note, file=sys.stderr)
    if args.trace:
        prof.write_trace(args.trace)
        print(f"trace: {args.trace} ({len(prof.events)} kernel events; open in https://ui.perfetto.dev)")
    if args.json:
        _write_json(args.json, {"data": desc, "run": what, "backend": backend, **prof.as_dict(peak)})
        print(f"json: {args.json}")
    return 0
