"""Facts every backend shares: activation codes, the dropout hash constants and the
form of a sparse X.

The activation codes match the ``FNN_ACT_*`` enum in csrc/fastnn.h.
"""
from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

ACTIVATIONS: dict[str, int] = {
    "identity": 0,
    "relu": 1,
    "leaky_relu": 2,
    "sigmoid": 3,
    "tanh": 4,
    "softplus": 5,
    "gelu": 6,
    "gelu_tanh": 7,
    "elu": 8,
    "softmax": 9,
}
ACT_IDENTITY, ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH = 0, 1, 2, 3, 4
ACT_SOFTPLUS, ACT_GELU, ACT_GELU_TANH, ACT_ELU, ACT_SOFTMAX = 5, 6, 7, 8, 9

#: activations whose derivative needs the pre-activation (all others use the output)
NEEDS_INPUT_FOR_GRAD = frozenset({ACT_GELU, ACT_GELU_TANH})

#: default parameter of parametrised activations (leaky_relu slope, elu alpha)
DEFAULT_PARAM: dict[int, float] = {ACT_LEAKY_RELU: 0.01, ACT_ELU: 1.0}

GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def mix64(z: int) -> int:
    """splitmix64's finaliser on a Python int (the same as fnn_mix64 in C)."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dropout_key(seed: int, step: int) -> int:
    """The per-call key of the dropout mask: mix64(seed * GOLDEN + step)."""
    return mix64((seed * GOLDEN + step) & MASK64)


def dropout_threshold(p: float) -> int:
    """An element is kept when the top 24 bits of its hash are >= floor(p * 2^24)."""
    return int(p * (1 << 24))


class CSR(NamedTuple):
    """A sparse X in CSR form as the epoch backends take it (fastnn.kernels builds it from
    a scipy.sparse matrix and checks it): row r's non-zeros are data[indptr[r]:indptr[r+1]]
    in the columns indices[same]. data in the training dtype, indices int32, indptr int64."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: Tuple[int, int]
