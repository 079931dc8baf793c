"""fastnn: train neural networks and linear models on the CPU, fast, from Python.

Kernels (``fastnn.kernels``) run on a C backend (cffi + OpenMP, AVX2/FMA chosen
at run time), a Numba backend, or the NumPy reference that states their math.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import kernels
from .backends import available as available_backends
from .backends import current as get_backend
from .backends import set_backend, use_backend
from .threads import get_num_threads, set_num_threads

__all__ = [
    "__version__",
    "kernels",
    "available_backends",
    "get_backend",
    "set_backend",
    "use_backend",
    "get_num_threads",
    "set_num_threads",
]
