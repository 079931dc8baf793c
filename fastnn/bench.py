"""``fastnn bench [peak|gemm|kernels|step|epoch|all]``: side-by-side benchmarks.

Every table compares fastnn's backends with the NumPy baseline (and PyTorch, JAX
and scikit-learn when they are installed) in ONE process: contenders run
round-robin, each repetition times a batch of calls, and the best repetition is
reported (the median is kept in --json). The thread count is applied to fastnn,
to NumPy's BLAS and OpenMP runtimes (threadpoolctl) and to PyTorch, and printed.

``peak`` measures this machine at run time, so shares of peak are honest on any
CPU: FMA throughput with a dependency-free chain of fused multiply-adds as wide as
the CPU's vectors (512-bit where it has AVX-512F, else 256-bit), 12 independent
accumulators per thread (compiled by Numba from an LLVM ``llvm.fma.v16f32`` /
``v8f64`` or ``v8f32`` / ``v4f64`` loop; no C needed), and memory bandwidth with
a STREAM-style triad ``a = b + s c`` over arrays much larger than the last-level
cache (3 x 8 bytes counted per element, write-allocate traffic not counted).

GFLOP/s counts 2mnk for a gemm; GB/s counts each operand read or written once
(the compulsory traffic), the same numbers ``fastnn.kernels`` hands the profiler.
"""
from __future__ import annotations

import argparse
from functools import partial
import contextlib
import gc
import math
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .io import check_output_path
from .profile import KernelMLP, _write_json, find_mlp, format_table, load_data
from .threads import check_num_threads

SUITES = ("peak", "gemm", "kernels", "step", "epoch")
clock = time.perf_counter

# ===================================================================== machine peak

_ACCUMULATORS = 12  # independent FMA chains: latency 4-5 cycles x 2 pipes, with room to spare
_fma_fns: Dict[str, Callable[[int, float], float]] = {}
_triad_fn: Optional[Callable] = None
_peak_cache: Dict[int, Dict[str, Any]] = {}


def _build_fma_chain(lanes: int, dtype: str) -> Callable[[int, float], float]:
    """A nogil Numba function running `n` iterations of 12 independent vector FMAs."""
    import llvmlite.binding as llvm_binding
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    nb_type, ll_type, suffix = ((types.float32, ir.FloatType(), "f32") if dtype == "float32"
                                else (types.float64, ir.DoubleType(), "f64"))
    # llvm.fma is always fused; without hardware FMA it would be a libm call, so use fmuladd there
    has_fma = bool(llvm_binding.get_host_cpu_features().get("fma", False))
    intrinsic_name = f"llvm.{'fma' if has_fma else 'fmuladd'}.v{lanes}{suffix}"

    @intrinsic
    def fma_chain(typingctx, n, a):  # noqa: ARG001 (Numba's intrinsic signature)
        sig = nb_type(types.int64, nb_type)

        def codegen(context, builder, signature, args):
            n_iter, mult = args
            vec = ir.VectorType(ll_type, lanes)
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), intrinsic_name)

            def splat(x):
                v = ir.Constant(vec, ir.Undefined)
                for i in range(lanes):
                    v = builder.insert_element(v, x, ir.Constant(ir.IntType(32), i))
                return v

            va = splat(mult)
            vb = splat(builder.fsub(ir.Constant(ll_type, 1.0), mult))  # acc -> a acc + (1 - a): stays near 1
            accs = []
            for j in range(_ACCUMULATORS):
                p = cgutils.alloca_once(builder, vec)
                builder.store(splat(ir.Constant(ll_type, 1.0 + j / 64.0)), p)
                accs.append(p)
            with cgutils.for_range(builder, n_iter):
                for p in accs:
                    builder.store(builder.call(fma, [builder.load(p), va, vb]), p)
            total = ir.Constant(ll_type, 0.0)
            for p in accs:  # the result depends on every chain, so none is dead code
                v = builder.load(p)
                for i in range(lanes):
                    total = builder.fadd(total, builder.extract_element(v, ir.Constant(ir.IntType(32), i)))
            return total

        return sig, codegen

    @njit(nogil=True)
    def run(n, a):
        return fma_chain(n, a)

    run(4, 0.5)  # compile now, outside any timing
    return run


def vector_bits() -> int:
    """Width of the widest FMA vectors this CPU has: 512 with AVX-512F, else 256.

    The peak must be the widest: on a Xeon with two 512-bit FMA pipes a 256-bit chain
    reaches half of what OpenBLAS (and fastnn's AVX-512 gemm) can do.
    """
    import llvmlite.binding as llvm_binding

    return 512 if llvm_binding.get_host_cpu_features().get("avx512f", False) else 256


def _lanes(dtype: str) -> int:
    return vector_bits() // (32 if dtype == "float32" else 64)


def _fma_fn(dtype: str) -> Callable[[int, float], float]:
    if dtype not in _fma_fns:
        _fma_fns[dtype] = _build_fma_chain(_lanes(dtype), dtype)
    return _fma_fns[dtype]


def _concurrent(threads: int, work: Callable[[int], Any]) -> float:
    """Seconds from the common start of `threads` Python threads running work(i) to the last one's end.

    The aggregate rate is the total work over this window. Summing each thread's own
    rate instead would count threads the OS ran one after another (fewer free cores
    than threads) as if they had run at once: N times the one-core rate.
    """
    if threads == 1:
        t0 = clock()
        work(0)
        return clock() - t0
    barrier = threading.Barrier(threads)
    starts = [0.0] * threads
    ends = [0.0] * threads

    def body(i: int) -> None:
        barrier.wait()
        starts[i] = clock()
        work(i)
        ends[i] = clock()

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return max(ends) - min(starts)


def fma_peak(threads: int = 1, dtype: str = "float32", seconds: float = 0.003, repeat: int = 20) -> float:
    """Measured GFLOP/s of FMAs of the widest vectors (vector_bits) on `threads` threads at once.

    Short runs, many times, best kept: on a shared machine the best short window is
    the one nobody else interrupted, which is what the hardware can do.
    """
    return fma_peaks(threads, (dtype,), seconds, repeat)[dtype]


def fma_peaks(threads: int, dtypes: Sequence[str], seconds: float = 0.003, repeat: int = 20) -> Dict[str, float]:
    """fma_peak of each dtype, their rounds interleaved: a slow phase of the machine (another
    runtime's workers still spinning) then costs every dtype a few rounds, not one dtype all
    of them (a 2-thread float32 peak once came out at one core's, %pk 176%)."""
    runs = {}
    for dtype in dtypes:
        fn = _fma_fn(dtype)
        n = 1000
        while True:  # calibrate one thread to about `seconds`
            t0 = clock()
            fn(n, 0.999)
            dt = clock() - t0
            if dt > seconds / 4 or n > 1 << 34:
                break
            n *= 4
        runs[dtype] = (fn, max(1000, int(n * seconds / max(dt, 1e-9))))
    best = dict.fromkeys(dtypes, 0.0)
    for _ in range(repeat):
        for dtype, (fn, n) in runs.items():
            rate = threads * n / _concurrent(threads, lambda i, fn=fn, n=n: fn(n, 0.999))
            best[dtype] = max(best[dtype], rate)
    return {dtype: best[dtype] * _ACCUMULATORS * _lanes(dtype) * 2 / 1e9 for dtype in dtypes}


def _triad() -> Callable:
    global _triad_fn
    if _triad_fn is None:
        from numba import njit

        @njit(nogil=True)
        def triad(a, b, c, s, lo, hi):
            for i in range(lo, hi):
                a[i] = b[i] + s * c[i]

        _triad_fn = triad
    return _triad_fn


def triad_bandwidth(threads: int = 1, n: int = 1 << 23, repeat: int = 10) -> float:
    """Measured GB/s of a STREAM triad over three float64 arrays of `n` elements, `threads` slices."""
    fn = _triad()
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    fn(a, b, c, 3.0, 0, n)  # compile and fault the pages in
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    best = max(n / _concurrent(threads, lambda i: fn(a, b, c, 3.0, bounds[i], bounds[i + 1])) for _ in range(repeat))
    return 3 * 8 * best / 1e9


def measure_peak(threads: int = 1, *, quick: bool = False) -> Dict[str, Any]:
    """This machine's FMA peak (float32, float64) and triad bandwidth on `threads` threads; cached per process."""
    key = threads * 2 + int(quick)
    if key not in _peak_cache:
        secs, rep, n = (0.002, 5, 1 << 21) if quick else (0.003, 30, 1 << 23)
        if threads > 1:  # NumPy's BLAS workers busy-wait ~0.1 s after a threaded call: let them sleep
            time.sleep(0.15)
        _peak_cache[key] = {
            "threads": threads,
            "fma_gflops": fma_peaks(threads, ("float32", "float64"), secs, rep),
            "fma_gflops_per_thread": fma_peaks(1, ("float32", "float64"), secs, rep),
            "bandwidth_gbs": triad_bandwidth(threads, n, rep),
            "method": f"best of repeated {vector_bits()}-bit FMA chains (12 accumulators) per thread, all threads' "
                      "work over their common wall-clock window; STREAM triad, 24 B/element",
        }
    return _peak_cache[key]


# ========================================================================== timing


@dataclass
class Timing:
    best: float  # seconds per call, best repetition
    median: float
    number: int  # calls per repetition
    repeat: int


def time_round_robin(funcs: Dict[str, Callable[[], Any]], *, repeat: int = 5, min_time: float = 0.02,
                     settle: float = 0.0) -> Dict[str, Timing]:
    """Time every callable side by side: warm up, calibrate, then `repeat` rounds in rotating order.

    Each round times a batch of calls long enough (about `min_time`) for the clock;
    the rotation keeps any contender from always running right after another.
    With several threads, `settle` seconds of untimed calls of the same contender
    precede each timed batch. Two things on a shared 2-vCPU machine make the first
    milliseconds after a switch unrepresentative: OpenBLAS's idle workers busy-wait
    (with sched_yield) for ~0.1 s after a call and take whole scheduler ticks from
    the next runtime's threads, and thread pools woken from sleep can sit on one
    vCPU for several ticks. Sleeping between batches (tried) makes the second worse;
    running the contender until it is in its own steady state fixes both.
    """
    names = list(funcs)
    number: Dict[str, int] = {}
    for name in names:
        f = funcs[name]
        f()  # warm-up: JIT, first-touch page faults, thread pools
        # calibrated on a warm call: sized by the warm-up (a Numba kernel's compile or
        # cache load), a 4 us kernel was timed one cold call per batch, at 3x its time
        t0 = clock()
        f()
        dt = clock() - t0
        number[name] = max(1, int(min_time / max(dt, 1e-7)))
    samples: Dict[str, List[float]] = {n: [] for n in names}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeat):
            for name in names[r % len(names):] + names[:r % len(names)]:
                f, k = funcs[name], number[name]
                if settle:
                    t_end = clock() + settle
                    while clock() < t_end:
                        f()
                t0 = clock()
                for _ in range(k):
                    f()
                samples[name].append((clock() - t0) / k)
    finally:
        if gc_was:
            gc.enable()
    return {n: Timing(min(s), float(np.median(s)), number[n], repeat) for n, s in samples.items()}


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Run fastnn, NumPy's BLAS/OpenMP (threadpoolctl), Numba and PyTorch on `threads` threads."""
    import fastnn

    fastnn.available_backends()  # load every runtime (OpenMP, scipy's OpenBLAS...) before limiting them
    with contextlib.suppress(ImportError):
        import sklearn.neural_network  # noqa: F401
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(threads)
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    numba_before = None
    try:
        import numba

        numba_before = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # numba absent or its threading layer unavailable: nothing to limit
        numba_before = None
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        limiter = contextlib.nullcontext()
    try:
        with limiter:
            yield
    finally:
        fastnn.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)
        if numba_before is not None:
            import numba

            numba.set_num_threads(numba_before)


# ====================================================================== contenders


def fastnn_backends() -> Tuple[List[str], Dict[str, str]]:
    """(available fastnn backends among c, numba; why the others are missing)."""
    from . import backends

    avail = [b for b in ("c", "numba") if b in backends.available()]
    missing = {b: backends.unavailable().get(b, "not available") for b in ("c", "numba") if b not in avail}
    return avail, missing


def _torch() -> Any:
    try:
        import torch
    except Exception:
        return None
    return torch


def _peers_note(torch_used: bool, sklearn_used: bool = False, sklearn_applicable: bool = False,
                peers: bool = True) -> List[str]:
    if not peers:  # --no-peers: they were not looked for, so do not call them missing
        return ["PyTorch, JAX" + (", scikit-learn" if sklearn_applicable else "") + ": skipped (--no-peers)"]
    notes = []
    if not torch_used:
        notes.append("PyTorch: not installed (column skipped)")
    try:
        import jax  # noqa: F401

        notes.append("JAX: installed but not benchmarked in this suite")
    except Exception:
        notes.append("JAX: not installed (column skipped)")
    if sklearn_applicable and not sklearn_used:
        notes.append("scikit-learn: not installed (column skipped)")
    return notes


# ============================================================================ suites


@dataclass
class Result:
    """One suite's output: a printed table and the JSON rows behind it."""

    suite: str
    title: str
    table: str
    rows: List[Dict[str, Any]]
    summary: List[Dict[str, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def text(self) -> str:
        out = [self.title, self.table]
        if self.summary:
            out.append("")
            out.append(format_table(list(self.summary[0]), [[_fmt(v) for v in s.values()] for s in self.summary]))
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _geomean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def _progress(items: Sequence[Any], desc: str, enabled: bool) -> Any:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, desc=desc, leave=False, file=sys.stderr, disable=None)  # None: off when not a terminal


# ------------------------------------------------------------------------ peak


def suite_peak(opts: argparse.Namespace, peak: Dict[str, Any]) -> Result:
    rows = [{"what": "FMA float32", "unit": "GFLOP/s", "value": peak["fma_gflops"]["float32"],
             "per_thread": peak["fma_gflops_per_thread"]["float32"]},
            {"what": "FMA float64", "unit": "GFLOP/s", "value": peak["fma_gflops"]["float64"],
             "per_thread": peak["fma_gflops_per_thread"]["float64"]},
            {"what": "triad bandwidth", "unit": "GB/s", "value": peak["bandwidth_gbs"], "per_thread": None}]
    table = format_table(["measured", f"{opts.threads} thread(s)", "1 thread", "unit"],
                         [[r["what"], f"{r['value']:.1f}", "-" if r["per_thread"] is None else f"{r['per_thread']:.1f}",
                           r["unit"]] for r in rows])
    return Result("peak", f"== peak: this machine, {opts.threads} thread(s) ==", table, rows,
                  notes=[peak["method"]])


# ------------------------------------------------------------------------ gemm

# (group, label, m, k, n, trans_a, trans_b); the MLP forms of a layer in->out at batch B:
# forward X@W is B x in x out; weight gradient X^T@dY is in x B x out; input gradient dY@W^T is B x out x in;
# and the matrix-vector products of a linear model
def gemm_shapes(quick: bool = False) -> List[Tuple[str, str, int, int, int, bool, bool]]:
    squares = (256, 512) if quick else (256, 512, 1024, 2048)
    batches = (128,) if quick else (32, 128, 512)
    layers = ((784, 512),) if quick else ((64, 128), (784, 512), (512, 256))
    shapes = [("square", "A@B", s, s, s, False, False) for s in squares]
    for group, lays in (("mlp", layers), ("out10", ((256, 10),))):
        for fan_in, fan_out in lays:
            for bsz in batches:
                shapes.append((group, "X@W", bsz, fan_in, fan_out, False, False))
                shapes.append((group, "X^T@dY", fan_in, bsz, fan_out, True, False))
                shapes.append((group, "dY@W^T", bsz, fan_out, fan_in, False, True))
    # one output column (binary logistic regression on 50000 x 100): X@w and X^T@d
    rows = 20000 if quick else 50000
    shapes.append(("gemv", "X@w", rows, 100, 1, False, False))
    shapes.append(("gemv", "X^T@d", 100, rows, 1, True, False))
    return shapes


def _gemm_case(m: int, k: int, n: int, ta: bool, tb: bool, dtype: np.dtype, contenders: List[str],
               api: bool, torch: Any) -> Tuple[Dict[str, Callable[[], Any]], Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(contender -> call writing op(a) @ op(b) into c, (op(a), op(b), c))."""
    from . import backends, kernels

    rng = np.random.default_rng(m * 31 + k * 7 + n)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = np.zeros((m, n), dtype)
    oa, ob = (a.T if ta else a), (b.T if tb else b)
    funcs: Dict[str, Callable[[], Any]] = {"numpy": lambda: np.matmul(oa, ob, out=c)}
    for be in contenders:
        if api:
            funcs[be] = lambda be=be: kernels.gemm(a, b, trans_a=ta, trans_b=tb, out=c, backend=be)
        else:
            fn = backends.get(be).gemm
            funcs[be] = lambda fn=fn: fn(c, a, b, ta, tb, 1.0, 0.0)
    if torch is not None:
        tA, tB, tC = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        tA, tB = (tA.T if ta else tA), (tB.T if tb else tB)
        funcs["torch"] = lambda: torch.matmul(tA, tB, out=tC)
    return funcs, (oa, ob, c)


def _dense_case(bsz: int, fan_in: int, fan_out: int, dtype: np.dtype, contenders: List[str], api: bool,
                torch: Any) -> Dict[str, Callable[[], Any]]:
    from . import backends, kernels

    rng = np.random.default_rng(1)
    x = rng.standard_normal((bsz, fan_in)).astype(dtype)
    w = rng.standard_normal((fan_in, fan_out)).astype(dtype)
    b = rng.standard_normal(fan_out).astype(dtype)
    out = np.empty((bsz, fan_out), dtype)
    funcs: Dict[str, Callable[[], Any]] = {"numpy": lambda: np.maximum(x @ w + b, 0)}  # the idiom it replaces
    for be in contenders:
        if api:
            funcs[be] = lambda be=be: kernels.dense_forward(x, w, b, "relu", out=out, backend=be)
        else:
            fn = backends.get(be).dense_forward
            funcs[be] = lambda fn=fn: fn(out, None, x, w, b, 1, 0.0)
    if torch is not None:
        tx, tw, tb_ = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
        tout = torch.from_numpy(np.empty((bsz, fan_out), dtype))  # preallocated, as fastnn's out
        funcs["torch"] = lambda: torch.relu_(torch.addmm(tb_, tx, tw, out=tout))
    return funcs


def suite_gemm(opts: argparse.Namespace, peak: Dict[str, Any]) -> Result:
    contenders, missing = fastnn_backends()
    torch = _torch() if opts.peers else None
    dtypes = [np.dtype(d) for d in opts.dtypes]
    cases = [(s, dt) for dt in dtypes for s in gemm_shapes(opts.quick)]
    cases += [(("dense", "relu(X@W+b)", 128, 784, 512, False, False), dt) for dt in dtypes]
    cols = ["numpy", *contenders] + (["torch"] if torch is not None else [])
    rows: List[Dict[str, Any]] = []
    for (group, form, m, k, n, ta, tb), dt in _progress(cases, "gemm", opts.progress):
        if group == "dense":
            funcs = _dense_case(m, k, n, dt, contenders, opts.api, torch)
        else:
            funcs, _ = _gemm_case(m, k, n, ta, tb, dt, contenders, opts.api, torch)
        t = time_round_robin(funcs, repeat=opts.repeat, min_time=opts.min_time, settle=opts.settle)
        flops = 2.0 * m * n * k
        nbytes = dt.itemsize * (m * k + k * n + m * n)  # compulsory traffic: each operand once
        gf = {c: flops / t[c].best / 1e9 for c in cols}
        pk = peak["fma_gflops"][dt.name]
        rows.append({"group": group, "form": form, "m": m, "k": k, "n": n, "dtype": dt.name,
                     "threads": opts.threads, "flops": flops, "bytes": nbytes,
                     "seconds": {c: t[c].best for c in cols}, "median_seconds": {c: t[c].median for c in cols},
                     "gflops": gf, "gbs": {c: nbytes / t[c].best / 1e9 for c in cols}, "baseline": "numpy",
                     "ratio": {c: gf[c] / gf["numpy"] for c in cols if c != "numpy"},
                     "peak_share": {c: gf[c] / pk for c in cols}})
    headers = ["group", "form", "m", "k", "n", "dtype"] + [f"{c} GF/s" for c in cols] + \
        [f"{c}/np" for c in cols if c != "numpy"] + [f"{c} %pk" for c in contenders]
    table_rows = [[r["group"], r["form"], r["m"], r["k"], r["n"], r["dtype"]]
                  + [f"{r['gflops'][c]:.1f}" for c in cols]
                  + [f"{r['ratio'][c]:.2f}x" for c in cols if c != "numpy"]
                  + [f"{100 * r['peak_share'][c]:.0f}%" for c in contenders] for r in rows]
    summary = []
    for group in dict.fromkeys(r["group"] for r in rows):
        for dt in dtypes:
            sel = [r for r in rows if r["group"] == group and r["dtype"] == dt.name]
            if sel:
                s: Dict[str, Any] = {"group": group, "dtype": dt.name, "shapes": len(sel)}
                for c in cols:
                    if c != "numpy":
                        s[f"geomean {c}/np"] = _geomean([r["ratio"][c] for r in sel])
                summary.append(s)
    notes = [f"fastnn backend {b}: {why}" for b, why in missing.items()]
    notes.append("fastnn columns call the backend kernel directly" + (" through fastnn.kernels (validation included)"
                                                                       if opts.api else " (use --api to include "
                                                                       "fastnn.kernels' argument checks)"))
    notes.append("numpy = numpy.matmul (dense row: np.maximum(x @ w + b, 0)); %pk = share of the measured "
                 f"FMA peak at {opts.threads} thread(s): {peak['fma_gflops']['float32']:.1f} GFLOP/s float32, "
                 f"{peak['fma_gflops']['float64']:.1f} float64")
    notes += _peers_note(torch is not None, peers=opts.peers)
    title = (f"== gemm: GFLOP/s, best of {opts.repeat} round-robin repetitions, {opts.threads} thread(s)"
             + (f", {opts.settle:g} s settle before each batch" if opts.settle else "") + " ==")
    return Result("gemm", title, format_table(headers, table_rows), rows, summary, notes)


# --------------------------------------------------------------------- kernels


def _kernel_cases(dtype: np.dtype) -> List[Tuple[str, str, float, float, Callable[[Any], Callable[[], Any]]]]:
    """(kernel, shape, flops, bytes, make(backend module) -> call) for the MLP hot path at batch 128."""
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    it = dtype.itemsize
    cases = []
    B, I, O = 128, 784, 256
    x, w, b, out = f(B, I), f(I, O), f(O), np.empty((B, O), dtype)
    cases.append(("dense_forward relu", f"{B}x{I}->{O}", 2.0 * B * I * O, it * (B * I + I * O + B * O),
                  lambda m: (lambda: m.dense_forward(out, None, x, w, b, 1, 0.0))))
    y = np.maximum(f(B, O), 0)
    dout, dz, dw, db, dx = f(B, O), np.empty((B, O), dtype), np.empty((I, O), dtype), np.empty(O, dtype), \
        np.empty((B, I), dtype)
    cases.append(("dense_backward relu", f"{B}x{I}->{O} +dx", 4.0 * B * I * O,  # dout, y, x, w read; dw, dx written
                  it * (2 * B * O + 2 * B * I + 2 * I * O),
                  lambda m: (lambda: m.dense_backward(dx, dw, db, dz, dout, x, w, y, None, 1, 0.0))))
    R, C = 512, 512
    ax, ay, ad = f(R, C), np.empty((R, C), dtype), np.empty((R, C), dtype)
    yt = np.tanh(ax)
    for name, code in (("relu", 1), ("sigmoid", 3), ("tanh", 4), ("gelu", 6)):
        cases.append((f"act_forward {name}", f"{R}x{C}", 0.0, 2.0 * ax.nbytes,
                      lambda m, code=code: (lambda: m.act_forward(ay, ax, code, 0.0))))
    cases.append(("act_backward tanh", f"{R}x{C}", 0.0, 3.0 * ax.nbytes,
                  lambda m: (lambda: m.act_backward(ad, ax, yt, None, 4, 0.0))))
    logits, dl = f(B, 10), np.empty((B, 10), dtype)
    labels = rng.integers(0, 10, B).astype(np.int32)
    cases.append(("softmax_xent", f"{B}x10", 0.0, 2.0 * logits.nbytes,
                  lambda m: (lambda: m.softmax_xent(dl, logits, labels))))
    P = 784 * 256 + 256 * 128 + 128 * 10 + 256 + 128 + 10  # the 784-256-128-10 network
    p, g, s1, s2 = f(P) * 0.01, f(P) * 0.01, np.zeros(P, dtype), np.ones(P, dtype) * 1e-3
    cases.append(("sgd_update", f"{P}", 0.0, 3.0 * P * it, lambda m: (lambda: m.sgd(p, g, 1e-9, 0.0, 0.0, 0.0))))
    cases.append(("momentum_update", f"{P}", 0.0, 5.0 * P * it,
                  lambda m: (lambda: m.momentum(p, s1, g, 1e-9, 0.9, False, 0.0, 0.0, 0.0))))
    cases.append(("adam_update", f"{P}", 0.0, 7.0 * P * it,
                  lambda m: (lambda: m.adam(p, s1, s2, g, 1e-9, 0.9, 0.999, 1e-8, 10, 0.0, 0.0, 0.0))))
    from .backends._common import dropout_key, dropout_threshold

    dxin, dyout = f(B, O), np.empty((B, O), dtype)
    key, thr = dropout_key(0, 1), dropout_threshold(0.2)
    cases.append(("dropout", f"{B}x{O}", 0.0, 2.0 * dxin.nbytes,
                  lambda m: (lambda: m.dropout(dyout.reshape(-1), dxin.reshape(-1), key, thr, 1.25))))
    return cases


def suite_kernels(opts: argparse.Namespace, peak: Dict[str, Any]) -> Result:
    from . import backends

    contenders, missing = fastnn_backends()
    cols = ["numpy", *contenders]
    mods = {"numpy": backends.get("numpy"), **{c: backends.get(c) for c in contenders}}
    cases = [(dt, c) for dt in (np.dtype(d) for d in opts.dtypes) for c in _kernel_cases(dt)]
    rows = []
    for dt, (kernel, shape, flops, nbytes, make) in _progress(cases, "kernels", opts.progress):
        funcs = {}
        for c in cols:
            if hasattr(mods[c], _backend_fn(kernel)):
                funcs[c] = make(mods[c])
        t = time_round_robin(funcs, repeat=opts.repeat, min_time=opts.min_time, settle=opts.settle)
        best_be = min((c for c in funcs if c != "numpy"), key=lambda c: t[c].best, default="numpy")
        sec = t[best_be].best
        rows.append({"kernel": kernel, "shape": shape, "dtype": dt.name, "threads": opts.threads, "flops": flops,
                     "bytes": nbytes, "seconds": {c: t[c].best for c in funcs},
                     "median_seconds": {c: t[c].median for c in funcs}, "baseline": "numpy",
                     "ratio": {c: t["numpy"].best / t[c].best for c in funcs if c != "numpy"},
                     "best": best_be, "gflops": flops / sec / 1e9, "gbs": nbytes / sec / 1e9,
                     "peak_share": flops / sec / 1e9 / peak["fma_gflops"][dt.name] if flops else None,
                     "bandwidth_share": nbytes / sec / 1e9 / peak["bandwidth_gbs"]})
    headers = ["kernel", "shape", "dtype"] + [f"{c} us" for c in cols] + [f"{c}/np" for c in contenders] + \
        ["best", "GFLOP/s", "GB/s", "%FMA", "%BW"]
    trows = [[r["kernel"], r["shape"], r["dtype"]]
             + [f"{r['seconds'][c] * 1e6:.1f}" if c in r["seconds"] else "-" for c in cols]
             + [f"{r['ratio'][c]:.2f}x" if c in r["ratio"] else "-" for c in contenders]
             + [r["best"], f"{r['gflops']:.1f}" if r["flops"] else "-", f"{r['gbs']:.1f}",
                f"{100 * r['peak_share']:.0f}%" if r["peak_share"] else "-", f"{100 * r['bandwidth_share']:.0f}%"]
             for r in rows]
    notes = [f"fastnn backend {b}: {why}" for b, why in missing.items()]
    notes.append("numpy = the reference backend (fastnn.backends.reference); backend functions called directly; "
                 "GB/s counts compulsory traffic (each operand once); working sets mostly fit in L2/L3, so %BW "
                 "(of DRAM triad bandwidth) can exceed 100%")
    title = f"== kernels: microseconds per call, best of {opts.repeat}, {opts.threads} thread(s) =="
    return Result("kernels", title, format_table(headers, trows), rows, notes=notes)


def _backend_fn(kernel: str) -> str:
    name = kernel.split()[0]
    return {"sgd_update": "sgd", "momentum_update": "momentum", "adam_update": "adam"}.get(name, name)


# ------------------------------------------------------------------ step, epoch


STEP_SIZES = [784, 256, 128, 10]


def _torch_trainer(torch: Any, sizes: Sequence[int], dtype: np.dtype, lr: float) -> Tuple[Any, Any]:
    """(model, step(xb, yb)) for a PyTorch MLP with Adam, the same math as KernelMLP."""
    layers: List[Any] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(torch.float32 if dtype == np.float32 else torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb: Any, yb: Any) -> None:
        opt.zero_grad(set_to_none=False)
        loss_fn(model(xb), yb).backward()
        opt.step()

    return model, step


def _sklearn_mlp(hidden: Sequence[int], batch_size: int, lr: float) -> Any:
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    return MLPClassifier(hidden_layer_sizes=tuple(hidden), batch_size=batch_size, learning_rate_init=lr,
                         solver="adam", activation="relu", shuffle=False, random_state=0)


def suite_step(opts: argparse.Namespace, peak: Dict[str, Any]) -> Result:
    contenders, missing = fastnn_backends()
    torch = _torch() if opts.peers else None
    from . import kernels

    B, sizes = 128, STEP_SIZES
    flops = kernels.training_flops(sizes, B)
    rows = []
    notes = [f"fastnn backend {b}: {why}" for b, why in missing.items()]
    for dt in _progress([np.dtype(d) for d in opts.dtypes], "step", opts.progress):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((B, sizes[0])).astype(dt)
        y = rng.integers(0, sizes[-1], B).astype(np.int32)
        funcs: Dict[str, Callable[[], Any]] = {}
        for be in ["numpy", *contenders]:
            net = KernelMLP(sizes, batch_size=B, dtype=dt, backend=be, lr=1e-4)
            funcs[f"kernels[{be}]"] = lambda net=net: net.step(X, y)
        if torch is not None:
            _, tstep = _torch_trainer(torch, sizes, dt, 1e-4)
            tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
            funcs["torch"] = lambda: tstep(tX, ty)
        clf = _sklearn_mlp(sizes[1:-1], B, 1e-4) if opts.peers else None
        if clf is not None:
            import warnings

            Xs = X.astype(np.float64) if dt == np.float64 else X
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(Xs, y, classes=np.arange(sizes[-1]))
            funcs["sklearn"] = lambda clf=clf, Xs=Xs: clf.partial_fit(Xs, y)
        t = time_round_robin(funcs, repeat=opts.repeat, min_time=opts.min_time, settle=opts.settle)
        base = t["kernels[numpy]"].best
        for name, tm in t.items():
            rows.append({"impl": name, "dtype": dt.name, "threads": opts.threads, "batch": B,
                         "sizes": sizes, "seconds": tm.best, "median_seconds": tm.median, "baseline": "kernels[numpy]",
                         "ratio": base / tm.best, "gflops": flops / tm.best / 1e9,
                         "peak_share": flops / tm.best / 1e9 / peak["fma_gflops"][dt.name]})
    headers = ["impl", "dtype", "ms/step", "vs numpy", "GFLOP/s", "%FMA peak"]
    trows = [[r["impl"], r["dtype"], f"{r['seconds'] * 1e3:.3f}", f"{r['ratio']:.2f}x", f"{r['gflops']:.1f}",
              f"{100 * r['peak_share']:.0f}%"] for r in rows]
    notes.append("step = forward, softmax cross-entropy, backward, Adam on 784-256-128-10 at batch 128; "
                 "kernels[b] composes fastnn.kernels calls (validation included) on backend b; numpy = reference")
    if clf is not None:
        notes.append("sklearn = MLPClassifier.partial_fit on the one batch (includes its input validation; float64 "
                     "math unless given float32)")
    notes += _peers_note(torch is not None, clf is not None, True, peers=opts.peers)
    return Result("step", f"== step: one training step, best of {opts.repeat}, {opts.threads} thread(s) ==",
                  format_table(headers, trows), rows, notes=notes)


def suite_epoch(opts: argparse.Namespace, peak: Dict[str, Any]) -> Result:
    from . import kernels

    contenders, missing = fastnn_backends()
    torch = _torch() if opts.peers else None
    hidden, bs, lr = [100], 200, 1e-3
    rows = []
    notes = [f"fastnn backend {b}: {why}" for b, why in missing.items()]
    has_epoch = hasattr(kernels, "train_epoch")
    has_loss_grad = hasattr(kernels, "loss_grad")
    mlp_cls = find_mlp()
    if not has_epoch:
        notes.append("fastnn.kernels.train_epoch: not available in this build (rows skipped)")
    if mlp_cls is None:
        notes.append("fastnn.MLP: not available in this build (row skipped)")
    for dt in _progress([np.dtype(d) for d in opts.dtypes], "epoch", opts.progress):
        X, y, desc = load_data("digits", dt)
        sizes = [X.shape[1], *hidden, int(y.max()) + 1]
        n = len(X)
        perm = np.arange(n, dtype=np.int64)
        flops = kernels.training_flops(sizes, n)
        funcs: Dict[str, Callable[[], Any]] = {}
        for be in ["numpy", *contenders]:
            net = KernelMLP(sizes, batch_size=bs, dtype=dt, backend=be, lr=lr)
            funcs[f"kernels[{be}]"] = lambda net=net: net.epoch(X, y, perm)
        if has_epoch:
            for be in ["numpy", *contenders]:
                net = KernelMLP(sizes, batch_size=bs, dtype=dt, backend=be, lr=lr)
                funcs[f"train_epoch[{be}]"] = _native_epoch(kernels, net, X, y, perm, sizes, lr, bs, be)
        if has_loss_grad:
            for be in ["numpy", *contenders]:
                net = KernelMLP(sizes, batch_size=bs, dtype=dt, backend=be, lr=lr)
                funcs[f"loss_grad[{be}]"] = partial(kernels.loss_grad, net.params, net.grads, X, y, sizes=sizes,
                                                    activation="relu", loss="softmax_xent", alpha=1e-4, backend=be)
        if mlp_cls is not None:
            for fused, label in ((None, "MLP.fit"), (False, "MLP.fit(fused=False)")):
                fn = _mlp_epoch(mlp_cls, X, y, sizes, bs, lr, dt, fused)
                if fn is None:
                    notes.append(f"fastnn.MLP: {label} did not accept (optimizer, lr, epochs, batch_size, tol, "
                                 "shuffle, fused); row skipped")
                else:
                    funcs[label] = fn
        if torch is not None:
            _, tstep = _torch_trainer(torch, sizes, dt, lr)
            tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

            def torch_epoch(tstep=tstep, tX=tX, ty=ty) -> None:
                for s in range(0, n, bs):
                    tstep(tX[s:s + bs], ty[s:s + bs])

            funcs["torch"] = torch_epoch
        clf = _sklearn_mlp(hidden, bs, lr) if opts.peers else None
        if clf is not None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(X, y, classes=np.arange(sizes[-1]))
            funcs["sklearn"] = lambda clf=clf: clf.partial_fit(X, y)
        t = time_round_robin(funcs, repeat=opts.repeat, min_time=opts.min_time, settle=opts.settle)
        for name, tm in t.items():
            # a full-batch pass is its own work: compared with the reference's
            baseline = "loss_grad[numpy]" if name.startswith("loss_grad") else "kernels[numpy]"
            rows.append({"impl": name, "dtype": dt.name, "threads": opts.threads, "data": desc, "sizes": sizes,
                         "batch": bs, "seconds": tm.best, "median_seconds": tm.median, "baseline": baseline,
                         "ratio": t[baseline].best / tm.best, "samples_per_s": n / tm.best,
                         "gflops": flops / tm.best / 1e9,
                         "peak_share": flops / tm.best / 1e9 / peak["fma_gflops"][dt.name]})
        if has_epoch:
            rows += _sparse_epoch_rows(opts, peak, kernels, contenders, dt, bs, lr)
    headers = ["impl", "dtype", "ms/epoch", "vs numpy", "samples/s", "GFLOP/s", "%FMA peak"]
    trows = [[r["impl"], r["dtype"], f"{r['seconds'] * 1e3:.2f}", f"{r['ratio']:.2f}x", f"{r['samples_per_s']:.0f}",
              f"{r['gflops']:.1f}", f"{100 * r['peak_share']:.0f}%"] for r in rows]
    notes.append(f"epoch = one pass over digits (1797 x 64) with an MLP {'-'.join(map(str, [64, *hidden, 10]))}, "
                 f"batch {bs}, Adam lr {lr}, no shuffling; kernels[b] = fastnn.kernels composed in Python")
    if has_loss_grad:
        notes.append("loss_grad[b] = fastnn.kernels.loss_grad: the same network's loss and gradient over all 1797 "
                     "rows in one call (an L-BFGS evaluation, no update), 'vs numpy' against loss_grad[numpy]")
    if has_epoch:
        notes.append(f"train_epoch[b] sparse = the native epoch on {SPARSE_EPOCH_DESC} kept sparse (CSR; the first "
                     "layer over each batch's non-zeros), 5000-64-2, 'vs numpy' against train_epoch[numpy] sparse "
                     "(scipy.sparse's products)")
    notes += _peers_note(torch is not None, clf is not None, True, peers=opts.peers)
    return Result("epoch", f"== epoch: digits (and a sparse X), best of {opts.repeat}, {opts.threads} thread(s) ==",
                  format_table(headers, trows), rows, notes=notes)


SPARSE_EPOCH_DESC = "a TF-IDF-like X (4000 x 5000, 2% non-zero; 2000 rows with --quick)"


def _sparse_epoch_rows(opts: argparse.Namespace, peak: Dict[str, Any], kernels: Any, contenders: List[str],
                       dt: np.dtype, bs: int, lr: float) -> List[Dict[str, Any]]:
    """Rows of the native epoch on a sparse X (see SPARSE_EPOCH_DESC), each backend against the reference's."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n = 2000 if opts.quick else 4000
    X = sp.random(n, 5000, density=0.02, format="csr", random_state=rng, dtype=dt)
    y = rng.integers(0, 2, n).astype(np.int32)
    sizes, perm = [5000, 64, 2], np.arange(n, dtype=np.int64)
    flops = kernels.training_flops(sizes, n, float(X.nnz))
    funcs = {f"train_epoch[{be}] sparse": _native_epoch(kernels, KernelMLP(sizes, batch_size=bs, dtype=dt,
                                                                           backend=be, lr=lr),
                                                         X, y, perm, sizes, lr, bs, be)
             for be in ["numpy", *contenders]}
    t = time_round_robin(funcs, repeat=opts.repeat, min_time=opts.min_time, settle=opts.settle)
    base = t["train_epoch[numpy] sparse"].best
    return [{"impl": name, "dtype": dt.name, "threads": opts.threads, "data": SPARSE_EPOCH_DESC, "sizes": sizes,
             "batch": bs, "seconds": tm.best, "median_seconds": tm.median, "baseline": "train_epoch[numpy] sparse",
             "ratio": base / tm.best, "samples_per_s": n / tm.best, "gflops": flops / tm.best / 1e9,
             "peak_share": flops / tm.best / 1e9 / peak["fma_gflops"][dt.name]} for name, tm in t.items()]


def _native_epoch(kernels: Any, net: KernelMLP, X: np.ndarray, y: np.ndarray, perm: np.ndarray,
                  sizes: List[int], lr: float, bs: int, backend: str) -> Callable[[], Any]:
    nb = -(-len(perm) // bs)

    def call() -> float:
        loss = kernels.train_epoch(net.params, net.grads, net.state, X, y, perm, sizes=sizes, activation="relu",
                                   loss="softmax_xent", optimizer="adam", lr=lr, step=net.t, batch_size=bs,
                                   backend=backend)
        net.t += nb
        return loss

    return call


def _mlp_epoch(mlp_cls: Any, X: np.ndarray, y: np.ndarray, sizes: List[int], bs: int, lr: float,
               dt: np.dtype, fused: Optional[bool]) -> Optional[Callable[[], Any]]:
    """One-epoch ``fastnn.MLP.fit`` (input checks included), or None if its signature does not fit."""
    try:
        model = mlp_cls(sizes, "relu", dtype=dt, seed=0)
        kw = dict(optimizer="adam", lr=lr, epochs=1, batch_size=bs, tol=None, shuffle=False, fused=fused)
        model.fit(X, y, **kw)
    except TypeError:
        return None
    return lambda: model.fit(X, y, **kw)


# ======================================================================== the CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", nargs="?", default="all", choices=[*SUITES, "all"],
                        help="what to run (default all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for fastnn, NumPy's BLAS and PyTorch (default: fastnn.get_num_threads())")
    parser.add_argument("--dtype", dest="dtypes", action="append", choices=["float32", "float64"],
                        help="repeat to add; default both")
    # default None: --quick lowers the defaults, never a value the user gave (see run)
    parser.add_argument("--repeat", type=int, default=None,
                        help="round-robin repetitions (best is reported; default 7, 3 with --quick)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds per timed batch of calls (default 0.01, 0.005 with --quick)")
    parser.add_argument("--settle", type=float, default=None,
                        help="seconds of untimed calls of a contender before each of its timed batches, so the "
                             "previous runtime's spinning threads have gone idle (default 0 on one thread, "
                             "0.12 on several)")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repetitions (a smoke run)")
    parser.add_argument("--api", action="store_true",
                        help="gemm: time fastnn.kernels.gemm (with its checks) instead of the backend kernel")
    parser.add_argument("--no-peers", dest="peers", action="store_false",
                        help="skip PyTorch / scikit-learn columns")
    parser.add_argument("--json", metavar="PATH", help="write every row (with the numpy baseline and ratios)")
    parser.add_argument("--plot", metavar="PATH", help="bar chart of the ratios vs numpy (needs matplotlib)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def machine_info(threads: int) -> Dict[str, Any]:
    import fastnn

    info: Dict[str, Any] = {"cpu": _cpu_name(), "logical_cpus": os.cpu_count(), "threads": threads,
                            "python": platform.python_version(), "numpy": np.__version__,
                            "fastnn": fastnn.__version__, "backends": fastnn.available_backends()}
    try:
        from .backends import c

        info["c_isa"] = c.isa_name()
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_info

        # named by the directory it was loaded from (numpy.libs, scipy.libs): the two OpenBLAS differ
        info["blas"] = [f"{p.get('internal_api')} {p.get('version')} "
                        f"[{os.path.basename(os.path.dirname(p.get('filepath') or '')) or '?'}] "
                        f"({p.get('num_threads')} threads)"
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except Exception:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    return info


#: a 1-minute load average above this, before the run (fastnn's threads not started yet) or
#: above the run's threads after it, means other processes shared the cores
BUSY_LOAD = 0.5


def busy_note(threads: int, before: Optional[float], after: Optional[float]) -> Optional[str]:
    """A warning line when the load averages (os.getloadavg's 1-minute figure, None where the OS
    has none) say other processes ran beside the benchmark, else None. Ratios are measured side
    by side and suffer less than absolute times, but on a shared core both are noise."""
    if before is not None and before > BUSY_LOAD:
        return (f"note: the load average was {before:.2f} before the run: other processes are using the "
                "cores, so these timings are noisy; rerun on an idle machine")
    if after is not None and after > threads + BUSY_LOAD:
        return (f"note: the load average reached {after:.2f} with {threads} benchmark thread(s): other "
                "processes ran meanwhile, so these timings are noisy; rerun on an idle machine")
    return None


def load_average() -> Optional[float]:
    """The 1-minute load average, or None where the OS does not report one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def plot(results: List[Result], path: str) -> None:
    """Horizontal bars of each row's speed-up over numpy (log scale), one panel per suite."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [r for r in results if r.suite != "peak" and r.rows]
    if not panels:
        raise ValueError("nothing to plot (the peak suite has no ratios)")
    heights = [max(2.0, 0.22 * sum(len(_ratios(row)) for row in r.rows)) for r in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights) + 1), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, res in zip(axes[:, 0], panels):
        labels, values = [], []
        for row in res.rows:
            for name, ratio in _ratios(row).items():
                labels.append(f"{_row_label(row)} {name}")
                values.append(ratio)
        ax.barh(range(len(values)), values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
        ax.set_yticks(range(len(values)), labels, fontsize=6)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_title(f"{res.suite}: speed-up over numpy (>1 is faster)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _ratios(row: Dict[str, Any]) -> Dict[str, float]:
    r = row.get("ratio")
    if isinstance(r, dict):
        return r
    return {} if row.get("impl", "").endswith("[numpy]") else {row.get("impl", "?"): r}


def _row_label(row: Dict[str, Any]) -> str:
    if "form" in row:
        return f"{row['form']} {row['m']}x{row['k']}x{row['n']} {row['dtype'][5:]}"
    if "kernel" in row:
        return f"{row['kernel']} {row['dtype'][5:]}"
    return row["dtype"][5:]


def run(args: argparse.Namespace) -> int:
    import fastnn

    from .cli import threads_option

    try:
        threads = (threads_option(args.threads, "bench") if args.threads is not None
                   else check_num_threads(fastnn.get_num_threads(), "--threads"))
    except ValueError as exc:  # 2**31 and more reached set_num_threads: a traceback
        print(f"fastnn bench: {exc}", file=sys.stderr)
        return 2
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    if args.min_time is None:
        args.min_time = 0.005 if args.quick else 0.01
    if args.repeat < 1:
        print(f"fastnn bench: --repeat must be >= 1, got {args.repeat}", file=sys.stderr)
        return 2
    # not (x > 0): NaN fails too; an infinite --min-time or --settle would never finish a timed batch
    if not (0 < args.min_time < math.inf):
        print(f"fastnn bench: --min-time must be a finite number > 0, got {args.min_time}", file=sys.stderr)
        return 2
    args.threads = threads
    if args.settle is None:
        args.settle = 0.0 if threads == 1 else 0.12
    if not (0 <= args.settle < math.inf):
        print(f"fastnn bench: --settle must be a finite number >= 0, got {args.settle}", file=sys.stderr)
        return 2
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            try:
                check_output_path(path, option)
            except ValueError as exc:
                print(f"fastnn bench: {exc}", file=sys.stderr)
                return 2
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    if args.plot:  # known before the benchmark, so say it before, not after minutes of measuring
        import importlib.util

        if suites == ["peak"]:
            print("fastnn bench: --plot: the peak suite has no ratios to plot", file=sys.stderr)
            return 2
        if importlib.util.find_spec("matplotlib") is None:
            print("fastnn bench: --plot needs matplotlib (pip install 'fastnn[bench]')", file=sys.stderr)
            return 2
    if args.json and args.plot and os.path.abspath(args.json) == os.path.abspath(args.plot):
        print(f"fastnn bench: --json and --plot both name {args.json}; the plot would replace the JSON",
              file=sys.stderr)
        return 2
    args.dtypes = args.dtypes or ["float32", "float64"]
    if args.peers:
        _torch()  # import before limiting threads, so its runtime obeys the limit too
    results: List[Result] = []
    load_before = load_average()
    with thread_limit(threads):
        info = machine_info(threads)
        print(f"fastnn bench: {info['cpu']}, {threads} thread(s); fastnn {info['fastnn']} backends "
              f"{','.join(info['backends'])} (C ISA {info.get('c_isa', '-')}); numpy {info['numpy']}; "
              f"BLAS loaded: {'; '.join(info.get('blas', [])) or 'none reported'}")
        peak = measure_peak(threads, quick=args.quick)
        runners = {"peak": suite_peak, "gemm": suite_gemm, "kernels": suite_kernels, "step": suite_step,
                   "epoch": suite_epoch}
        for name in suites:
            res = runners[name](args, peak)
            results.append(res)
            print()
            print(res.text(), flush=True)
    info["load_average"] = {"before": load_before, "after": load_average()}
    note = busy_note(threads, load_before, info["load_average"]["after"])
    if note:
        print(f"\n{note}", file=sys.stderr)
    if args.json:
        _write_json(args.json, {"machine": info, "peak": peak, "threads": threads,
                                "suites": {r.suite: {"rows": r.rows, "summary": r.summary, "notes": r.notes}
                                           for r in results},
                                "rows": [dict(row, suite=r.suite) for r in results for row in r.rows]})
        print(f"\njson: {args.json}")
    if args.plot:
        try:
            plot(results, args.plot)
            print(f"plot: {args.plot}")
        except ImportError:
            print("fastnn bench: --plot needs matplotlib (pip install 'fastnn[bench]')", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"fastnn bench: --plot: {exc}", file=sys.stderr)
            return 1
    return 0
