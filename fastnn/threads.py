"""One knob for fastnn's threads: ``set_num_threads`` / ``get_num_threads``.

The default honours OMP_NUM_THREADS, else the number of usable cores. The C
backend's OpenMP regions and Numba's parallel loops both follow it; each kernel
still runs small problems on one thread (see csrc/internal.h).

NumPy's OpenBLAS keeps its idle workers busy-waiting for about 0.1 s after each
multi-threaded call; fastnn regions started in that window on all cores lose
scheduler ticks to them. Interleaving the two? Give the cores to one pool at a
time (threadpoolctl's ``threadpool_limits(1, user_api="blas")`` around fastnn,
or ``set_num_threads(1)`` around NumPy). See the README's threads section.
"""
from __future__ import annotations

import os
import sys

_num_threads: int | None = None
_BACKEND_MODULES = ("fastnn.backends.c", "fastnn.backends.numba")


def _default() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads fastnn kernels may use."""
    global _num_threads
    if _num_threads is None:
        set_num_threads(_default())
    return _num_threads  # type: ignore[return-value]


def set_num_threads(n: int) -> None:
    """Let fastnn kernels use up to `n` threads (n >= 1)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _num_threads = n
    # every backend module already imported follows at once (even one imported
    # directly, not through the registry); later ones apply it when they load
    for name in _BACKEND_MODULES:
        mod = sys.modules.get(name)
        if mod is not None and hasattr(mod, "set_num_threads"):
            mod.set_num_threads(n)
