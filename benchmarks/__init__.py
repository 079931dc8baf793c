"""fastnn's asv benchmark suite: one module per area (see benchmarks/README.md).

Every benchmark is parametrised by backend with "numpy" (the reference backend,
fastnn.backends.reference) first as the baseline, and by dtype (float32,
float64). Backends this build lacks are skipped: ``require`` raises
NotImplementedError in ``setup``, which asv records as "n/a" rather than a failure.
Inputs are built in ``setup``, never inside the timed function, and ``setup`` calls
the kernel once: asv runs each benchmark in a fresh (forked) process, so the first
call would otherwise time Numba's JIT/cache load and thread-pool start-up.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

BACKENDS = ["numpy", "c", "numba"]
DTYPES = ["float32", "float64"]


def require(backend: str) -> None:
    """Skip (asv's convention: NotImplementedError in setup) when `backend` is not available."""
    import fastnn

    if backend not in fastnn.available_backends():
        raise NotImplementedError(f"backend {backend!r} is not available in this build")


def rand(rng: np.random.Generator, shape, dtype: str, scale: float = 1.0) -> np.ndarray:
    """Standard-normal test data in `dtype`, C-contiguous."""
    return np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype)


def best_rate(fn: Callable[[], object], work: float, min_time: float = 0.02, repeat: int = 3) -> float:
    """`work` per second of fn(), best of `repeat` batches of about `min_time` seconds (for track_ rates)."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / one))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return work / best
