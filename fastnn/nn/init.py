"""Weight initialisation, seedable.

* ``glorot``: scikit-learn's MLP init. For every layer, in order, weights then
  biases are drawn from U(-a, a) with a = sqrt(factor / (fan_in + fan_out)),
  factor 6 (2 for sigmoid). With a ``numpy.random.RandomState`` this draws
  exactly what scikit-learn draws.
* ``he``: He et al. uniform for the ReLU family: U(-a, a), a = sqrt(6 / fan_in);
  biases zero.
* ``auto``: he for relu / leaky_relu, glorot otherwise.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np

from .flat import FlatLayout

__all__ = ["INITS", "resolve_init", "make_rng", "init_params"]

INITS = ("auto", "glorot", "he")
_RELU_FAMILY = ("relu", "leaky_relu")

Seed = Union[None, int, np.random.Generator, np.random.RandomState]


def make_rng(seed: Seed) -> Union[np.random.Generator, np.random.RandomState]:
    """A generator from an int / None / existing Generator or RandomState."""
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise ValueError(f"seed must be None, a non-negative int, a numpy Generator or RandomState, got {seed!r}")


def resolve_init(init: str, activation: str) -> str:
    """The concrete scheme ('glorot' or 'he') for `init` and the hidden activation."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "auto":
        return "he" if activation in _RELU_FAMILY else "glorot"
    return init


def init_params(layout: FlatLayout, activation: str, *, init: str = "auto", seed: Seed = None,
                dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Fill (or return a new) flat parameter buffer for `layout`.

    Draws are made in float64 and cast, so float32 and float64 models with one
    seed start from the same values (up to rounding).
    """
    scheme = resolve_init(init, activation)
    rng = make_rng(seed)
    if out is None:
        if np.dtype(dtype).char not in "fd":  # an int buffer would hold the draws truncated to 0 / +-1
            raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
        out = layout.empty(dtype)
    elif getattr(out, "dtype", None) not in (np.float32, np.float64):  # the draws would be truncated too
        raise TypeError(f"out must be a float32 or float64 array, got {getattr(out, 'dtype', type(out).__name__)}")
    ws, bs = layout.weights(out), layout.biases(out)
    factor = 2.0 if activation == "sigmoid" else 6.0
    for w, b, (fan_in, fan_out) in zip(ws, bs, layout.shapes):
        if scheme == "glorot":
            bound = math.sqrt(factor / (fan_in + fan_out))
            w[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = rng.uniform(-bound, bound, fan_out)
        else:
            bound = math.sqrt(6.0 / fan_in)
            w[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = 0.0
    return out
