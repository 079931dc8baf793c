"""fastnn: train neural networks and linear models on the CPU, fast, from Python.

Kernels (``fastnn.kernels``) run on a C backend (cffi + OpenMP, AVX2/FMA chosen
at run time), a Numba backend, or the NumPy reference that states their math.
``fastnn.MLP`` and ``fastnn.train`` build models on them; ``fastnn.estimators``
(imported on first use) holds the scikit-learn drop-ins.
"""
# (no `from __future__ import annotations` here: it would be exported as fastnn.annotations)
__version__ = "0.1.0"

from . import datasets, io, kernels, nn, train
from .backends import available as available_backends
from .backends import current as get_backend
from .backends import set_backend, use_backend
from .io import ModelFileError, load, save
from .mlp import MLP
from .nn import Sequential
from .profile import profile  # the context manager: ``with fastnn.profile() as p:``
from .threads import get_num_threads, set_num_threads
from .train import TrainingDivergedError, cross_validate
from .backends import _load as _load_backend

# The C backend and its OpenMP runtime load with fastnn (~3 ms), not at the first kernel:
# threadpoolctl's threadpool_limits caps only the runtimes loaded when its block opens.
_load_backend("c")

__all__ = [
    "__version__",
    "MLP",
    "Sequential",
    "TrainingDivergedError",
    "ModelFileError",
    "available_backends",
    "cross_validate",
    "datasets",
    "estimators",
    "get_backend",
    "get_num_threads",
    "io",
    "kernels",
    "load",
    "nn",
    "profile",
    "save",
    "set_backend",
    "set_num_threads",
    "train",
    "use_backend",
]


def __getattr__(name: str):
    # scikit-learn is imported only when the estimators are first used
    if name == "estimators":
        import importlib

        return importlib.import_module(".estimators", __name__)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
