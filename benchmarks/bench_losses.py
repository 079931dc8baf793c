"""Losses with their gradients: fused softmax cross-entropy, sigmoid BCE, MSE."""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, DTYPES, rand, require

SHAPES = {"128x10": (128, 10), "4096x100": (4096, 100)}


class SoftmaxXent:
    params = (BACKENDS, DTYPES, list(SHAPES))
    param_names = ["backend", "dtype", "shape"]

    def setup(self, backend, dtype, shape):
        require(backend)
        n, k = SHAPES[shape]
        rng = np.random.default_rng(0)
        self.logits = rand(rng, (n, k), dtype, 3.0)
        self.labels = rng.integers(0, k, n).astype(np.int32)
        self.out = np.empty((n, k), dtype)
        self.backend = backend
        self.time_softmax_xent(backend, dtype, shape)  # warm-up outside the timing

    def time_softmax_xent(self, backend, dtype, shape):
        K.softmax_xent(self.logits, self.labels, out=self.out, backend=self.backend)


class PairLosses:
    """sigmoid_bce (multi-label targets in [0, 1]) and mse on [n, outputs]."""

    params = (BACKENDS, DTYPES, list(SHAPES), ["sigmoid_bce", "mse"])
    param_names = ["backend", "dtype", "shape", "loss"]

    def setup(self, backend, dtype, shape, loss):
        require(backend)
        rng = np.random.default_rng(1)
        self.pred = rand(rng, SHAPES[shape], dtype)
        self.target = np.ascontiguousarray(rng.random(SHAPES[shape]), dtype=dtype)
        self.out = np.empty_like(self.pred)
        self.fn, self.backend = getattr(K, loss), backend
        self.time_loss(backend, dtype, shape, loss)  # warm-up outside the timing

    def time_loss(self, backend, dtype, shape, loss):
        self.fn(self.pred, self.target, out=self.out, backend=self.backend)
