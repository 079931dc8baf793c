"""Elementwise kernels: activation forward/backward (softmax row-wise) and dropout.

Rates: a forward reads and writes SHAPE once (2 x 2 MB in float32), so GB/s = 2 * nbytes / time.
"""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, DTYPES, best_rate, rand, require

ACTS = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "elu", "softmax"]
SHAPE = (512, 1024)


class ActivationForward:
    params = (BACKENDS, DTYPES, ACTS)
    param_names = ["backend", "dtype", "activation"]

    def setup(self, backend, dtype, activation):
        require(backend)
        self.x = rand(np.random.default_rng(0), SHAPE, dtype)
        self.out = np.empty_like(self.x)
        self.backend, self.act = backend, activation
        self.time_forward(backend, dtype, activation)  # warm-up outside the timing

    def time_forward(self, backend, dtype, activation):
        K.activation_forward(self.x, self.act, out=self.out, backend=self.backend)

    def track_gbs(self, backend, dtype, activation):
        return best_rate(lambda: self.time_forward(backend, dtype, activation), 2.0 * self.x.nbytes) / 1e9

    track_gbs.unit = "GB/s"


class ActivationBackward:
    params = (BACKENDS, DTYPES, ["relu", "sigmoid", "tanh", "gelu", "softmax"])
    param_names = ["backend", "dtype", "activation"]

    def setup(self, backend, dtype, activation):
        require(backend)
        rng = np.random.default_rng(1)
        self.x = rand(rng, SHAPE, dtype)
        self.y = K.activation_forward(self.x, activation, backend="numpy")
        self.dy = rand(rng, SHAPE, dtype)
        self.out = np.empty_like(self.x)
        self.backend, self.act = backend, activation
        self.time_backward(backend, dtype, activation)  # warm-up outside the timing

    def time_backward(self, backend, dtype, activation):
        K.activation_backward(self.dy, self.act, y=self.y, x=self.x, out=self.out, backend=self.backend)


class Dropout:
    params = (BACKENDS, DTYPES)
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        require(backend)
        self.x = rand(np.random.default_rng(2), SHAPE, dtype)
        self.out = np.empty_like(self.x)
        self.backend = backend
        self.time_dropout_forward(backend, dtype)  # warm-up outside the timing

    def time_dropout_forward(self, backend, dtype):
        K.dropout_forward(self.x, 0.2, seed=1, step=7, out=self.out, backend=self.backend)

