"""How every Numba kernel of fastnn is compiled: one place for the jit options.

* ``cache=True``: compiled code is written next to the source (or to
  NUMBA_CACHE_DIR) so a second process loads it instead of recompiling;
* ``error_model='numpy'``: a division by zero gives inf/nan instead of raising,
  which lets LLVM vectorise loops that divide (with the default Python error
  model every division carries a zero test that blocks vectorisation);
* ``boundscheck=False``, and never ``fastmath`` (results must agree with the
  NumPy reference, and fast-math would reorder sums and drop NaN/inf handling).

``jit_pair(fn)`` compiles one driver twice: serially and with ``parallel=True``
(its ``prange`` loops become threaded). The parallel copy gets its own
``__qualname__`` because Numba's on-disk cache is keyed by the function's
qualified name and signature, not by the ``parallel`` flag.
"""
from __future__ import annotations

import types
from typing import Callable, Tuple

from numba import njit

OPTIONS = dict(cache=True, error_model="numpy", boundscheck=False, fastmath=False, nogil=True)


def jit(fn: Callable) -> Callable:
    """Compile `fn` lazily (on first call, or from the cache) with fastnn's options."""
    return njit(**OPTIONS)(fn)


def jit_inline(fn: Callable) -> Callable:
    """Like ``jit`` but inlined into callers at Numba-IR level: for the scalar
    helpers called inside vectorised loops (LLVM leaves some of them as calls,
    and a call in a loop stops vectorisation)."""
    return njit(inline="always", **OPTIONS)(fn)


def _renamed(fn: Callable, suffix: str) -> Callable:
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + suffix
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return copy


def jit_pair(fn: Callable) -> Tuple[Callable, Callable]:
    """(serial, parallel) dispatchers of one driver written with ``prange``."""
    return njit(**OPTIONS)(fn), njit(parallel=True, **OPTIONS)(_renamed(fn, "__parallel"))
