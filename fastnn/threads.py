"""One knob for fastnn's threads: ``set_num_threads`` / ``get_num_threads``.

The default honours OMP_NUM_THREADS, else the number of usable cores. The C
backend's OpenMP regions and Numba's parallel loops both follow it; each kernel
still runs small problems on one thread (see csrc/internal.h). The C kernels also
honour threadpoolctl: ``threadpool_limits(n)`` (or ``user_api="openmp"``) caps them
for its block in the thread that opened it (``effective_num_threads``).

NumPy's OpenBLAS keeps its idle workers busy-waiting for about 0.1 s after each
multi-threaded call; fastnn regions started in that window on all cores lose
scheduler ticks to them. Interleaving the two? Give the cores to one pool at a
time: threadpoolctl's ``threadpool_limits(1, user_api="blas")`` around the NumPy
part (so its pool never wakes), or ``set_num_threads(1)`` around fastnn's. See
the README's threads section; ``one_blas_thread`` below is what fastnn's own fits
use around SciPy's optimizers.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings

_num_threads: int | None = None
_forked_child = False
_BACKEND_MODULES = ("fastnn.backends.c", "fastnn.backends.numba")


def _openmp_pool_in_parent() -> bool:
    """Did the process just forked run OpenMP threads (fastnn's C, or Numba's omp layer)?"""
    c = sys.modules.get("fastnn.backends.c")
    if c is not None and c.lib.fnn_in_forked_child():  # csrc/runtime.c's own fork handler decided
        return True
    numba_parallel = sys.modules.get("numba.np.ufunc.parallel")
    return bool(getattr(numba_parallel, "_is_initialized", False))


def _after_fork_in_child() -> None:
    """A child forked after OpenMP threads ran stays on one thread (they cannot restart)."""
    global _num_threads, _forked_child
    if not _openmp_pool_in_parent():
        return
    _forked_child = True
    _num_threads = 1
    c = sys.modules.get("fastnn.backends.c")
    if c is not None:
        c.lib.fnn_enter_single_threaded_child()  # the pool may be Numba's, in the same libgomp
    for name in _BACKEND_MODULES:
        mod = sys.modules.get(name)
        if mod is not None and hasattr(mod, "set_num_threads"):
            mod.set_num_threads(1)


os.register_at_fork(after_in_child=_after_fork_in_child)


_blas_controller = None
# one_blas_thread blocks overlap when fits run in threads (joblib's threading backend):
# each saving and restoring the limits would let one restore 1 (what it found, set by
# another) after the other restored the user's value. The limits found by the first
# block are restored when the last one ends (as estimators.mlp._threads does for the knob).
_blas_lock = threading.Lock()
_blas_blocks = 0
_blas_limiter = None


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: the BLAS libraries loaded in the process (NumPy's and SciPy's
    OpenBLAS) on one thread for the block, restored after (after the last of the
    blocks open in any thread, when they overlap).

    For the vector work of SciPy's optimizers and small LAPACK calls inside fits: a
    multi-threaded BLAS pool woken there keeps spinning into fastnn's next OpenMP
    kernel and stalls it. threadpoolctl's scan of the loaded libraries is done once
    (0.7 ms per threadpool_limits; 11 us per use of the cached controller).
    """
    global _blas_controller, _blas_blocks, _blas_limiter
    with _blas_lock:
        if _blas_blocks == 0:
            if _blas_controller is None:
                from threadpoolctl import ThreadpoolController

                _blas_controller = ThreadpoolController()
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
            _release_blas_control()
        _blas_blocks += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_blocks -= 1
            if _blas_blocks == 0:
                _blas_limiter.restore_original_limits()
                _release_blas_control()


def _release_blas_control() -> None:
    """Recent threadpoolctl lets one Python thread at a time set OpenBLAS's process-wide
    pool, until that thread's outermost threadpoolctl block ends. one_blas_thread may set
    and restore from different threads (serialised by its lock): hand the control back,
    unless a threadpoolctl block of this thread's own is open."""
    import threadpoolctl

    clear = getattr(getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None)
    ownership = getattr(threadpoolctl, "CONTROLLING_THREAD_OWNERSHIP", None)
    if clear is not None and ownership is not None and ownership.count <= 0:
        clear()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def get_num_threads() -> int:
    """Threads fastnn kernels may use."""
    if _num_threads is None:
        set_num_threads(_default())
    return _num_threads  # type: ignore[return-value]


def effective_num_threads() -> int:
    """Threads the next fastnn C kernel started from this thread may use: get_num_threads()
    capped by this thread's OpenMP limit, which set_num_threads sets too and threadpoolctl's
    ``threadpool_limits`` lowers for its block (as for scikit-learn's own OpenMP code); 1
    when the C backend was built without OpenMP. Without the C backend, get_num_threads()."""
    n = get_num_threads()
    try:
        from .backends import get
        lib = get("c").lib
    except ValueError:  # the C backend is not built or failed to load: nothing else caps the knob
        return n
    return int(lib.fnn_thread_limit_here())


def check_num_threads(n, name: str = "n") -> int:
    """`n` as an int in [1, 2**31), else a TypeError / ValueError naming `name` (the
    command-line tools pass their option's name)."""
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    if n >= 1 << 31:  # C takes an int: checked before the knob changes, or every later backend
        raise ValueError(f"{name} must be < 2**31, got {n}")  # load failed (and 'c' fell back to numba)
    return n


def set_num_threads(n: int) -> None:
    """Let fastnn kernels use up to `n` threads (n >= 1).

    In a process forked from one that had run multi-threaded kernels
    (multiprocessing's default start method on Linux) kernels stay on one thread
    and asking for more warns: OpenMP cannot start threads there. Use the "spawn" or "forkserver" start
    method (or joblib's default loky backend) for multi-threaded workers.
    """
    global _num_threads
    n = check_num_threads(n)
    if _forked_child and n > 1:
        warnings.warn(
            f"fastnn: this process was forked after OpenMP threads ran; its kernels stay on 1 thread "
            f"(asked for {n}), because OpenMP cannot start threads in a forked child. Use the 'spawn' or "
            "'forkserver' multiprocessing start method for multi-threaded workers.",
            RuntimeWarning, stacklevel=2)
        n = 1
    _num_threads = n
    # every backend module already imported follows at once (even one imported
    # directly, not through the registry); later ones apply it when they load
    for name in _BACKEND_MODULES:
        mod = sys.modules.get(name)
        if mod is not None and hasattr(mod, "set_num_threads"):
            mod.set_num_threads(n)
