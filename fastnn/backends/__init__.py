"""Registry of kernel backends: one module per implementation of the contract.

``available()`` lists the usable ones among "c", "numba", "numpy"; ``get(name)``
returns the module; the current default is chosen, in order, by
``set_backend``/``use_backend``, the FASTNN_BACKEND environment variable, and the
first importable of c > numba > numpy (with a one-line warning on fallback).
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import warnings
from types import ModuleType
from typing import Iterator, Optional

ORDER = ("c", "numba", "numpy")
_MODULES = {"c": "fastnn.backends.c", "numba": "fastnn.backends.numba", "numpy": "fastnn.backends.reference"}

_loaded: dict[str, ModuleType] = {}
_errors: dict[str, str] = {}
_override: contextvars.ContextVar = contextvars.ContextVar("fastnn_backend_override", default=None)
_global_default: str | None = None


def _load(name: str) -> ModuleType | None:
    if name in _loaded:
        return _loaded[name]
    if name in _errors:
        return None
    try:
        mod = importlib.import_module(_MODULES[name])
    except Exception as exc:  # an unbuilt extension, a missing numba...
        _errors[name] = f"{type(exc).__name__}: {exc}"
        return None
    _loaded[name] = mod
    if hasattr(mod, "set_num_threads"):  # a backend loaded late still obeys the knob
        from fastnn.threads import get_num_threads

        mod.set_num_threads(get_num_threads())
    return mod


def check_name(name: str) -> str:
    """`name` if it names a backend (available here or not), else a ValueError."""
    if not isinstance(name, str) or name not in _MODULES:
        raise ValueError(f"backend must be one of {list(ORDER)}, got {name!r}")
    return name


def available() -> list[str]:
    """Names of the backends that import on this machine, best first."""
    return [n for n in ORDER if _load(n) is not None]


def unavailable() -> dict[str, str]:
    """Why each missing backend could not be loaded."""
    available()
    return dict(_errors)


def get(name: str) -> ModuleType:
    """The backend module called `name`; ValueError if it is unknown or unusable."""
    mod = _load(check_name(name))
    if mod is None:
        raise ValueError(f"backend {name!r} is not available here: {_errors[name]}")
    return mod


def from_environment() -> Optional[str]:
    """The backend FASTNN_BACKEND names (checked: a ValueError naming the variable), or None."""
    env = os.environ.get("FASTNN_BACKEND")
    if env:
        try:
            get(env)
        except ValueError as exc:  # name the variable: the caller never wrote this name in code
            raise ValueError(f"FASTNN_BACKEND={env}: {exc}") from None
    return env or None


def _automatic() -> str:
    env = from_environment()
    if env:
        return env
    for i, name in enumerate(ORDER):
        if _load(name) is not None:
            if i > 0:
                warnings.warn(
                    f"fastnn: backend {ORDER[0]!r} unavailable ({_errors.get(ORDER[0])}); using {name!r}",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return name
    raise RuntimeError("no fastnn backend could be loaded")  # numpy always loads


def current() -> str:
    """Name of the backend kernels use when no ``backend=`` is given."""
    name = _override.get()
    if name is not None:
        return name
    global _global_default
    if _global_default is None:
        _global_default = _automatic()
    return _global_default


def resolve(backend: str | None) -> ModuleType:
    """The module for an explicit `backend`, or the current default."""
    # every kernel call starts here: look up loaded modules directly (only valid
    # names are ever keys of _loaded) and take the slow, checking path otherwise
    name = backend if backend is not None else (_override.get() or _global_default)
    if type(name) is str:
        mod = _loaded.get(name)
        if mod is not None:
            return mod
    return get(current() if backend is None else backend)


def set_backend(name: str) -> None:
    """Make `name` the default backend of this process."""
    global _global_default
    get(name)
    _global_default = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Within the block (this thread or asyncio task only), kernels default to backend `name`."""
    get(name)
    token = _override.set(name)
    try:
        yield
    finally:
        _override.reset(token)
