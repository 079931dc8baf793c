"""Dense layers: the fused forward (gemm + bias + activation) and the backward (dz, dW, db, dx)."""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, DTYPES, best_rate, rand, require

# name -> (batch, in, out)
LAYERS = {"128x784->256": (128, 784, 256), "128x256->10": (128, 256, 10)}
ACTS = ["relu", "gelu"]  # the common case, and one that needs the pre-activation


class DenseForward:
    params = (BACKENDS, DTYPES, list(LAYERS), ACTS)
    param_names = ["backend", "dtype", "layer", "activation"]

    def setup(self, backend, dtype, layer, activation):
        require(backend)
        n, i, o = LAYERS[layer]
        rng = np.random.default_rng(0)
        self.x, self.w, self.b = rand(rng, (n, i), dtype), rand(rng, (i, o), dtype, 0.05), rand(rng, o, dtype)
        self.out = np.empty((n, o), dtype)
        self.z = np.empty((n, o), dtype) if activation == "gelu" else None  # the backward needs gelu's input
        self.flops = 2.0 * n * i * o
        self.backend, self.act = backend, activation
        self._call()  # warm-up outside the timing

    def _call(self):
        K.dense_forward(self.x, self.w, self.b, self.act, out=self.out, preact=self.z, backend=self.backend)

    def time_dense_forward(self, backend, dtype, layer, activation):
        self._call()

    def track_gflops(self, backend, dtype, layer, activation):
        return best_rate(self._call, self.flops) / 1e9

    track_gflops.unit = "GFLOP/s"


class DenseBackward:
    params = (BACKENDS, DTYPES, list(LAYERS), ACTS)
    param_names = ["backend", "dtype", "layer", "activation"]
    need_dx = True  # the first layer's backward skips dx (DenseBackwardFirstLayer)

    def setup(self, backend, dtype, layer, activation):
        need_dx = self.need_dx
        require(backend)
        n, i, o = LAYERS[layer]
        rng = np.random.default_rng(1)
        self.x, self.w, b = rand(rng, (n, i), dtype), rand(rng, (i, o), dtype, 0.05), rand(rng, o, dtype)
        self.z = np.empty((n, o), dtype)
        self.y = K.dense_forward(self.x, self.w, b, activation, preact=self.z, backend="numpy")
        self.dout = rand(rng, (n, o), dtype)
        self.dz = np.empty((n, o), dtype)
        self.dw, self.db = np.empty((i, o), dtype), np.empty(o, dtype)
        self.dx = np.empty((n, i), dtype) if need_dx else None
        self.flops = (4.0 if need_dx else 2.0) * n * i * o
        self.backend, self.act, self.need_dx = backend, activation, need_dx
        self._call()  # warm-up outside the timing

    def _call(self):
        K.dense_backward(self.dout, self.x, self.w, self.act, y=self.y, z=self.z, need_dx=self.need_dx, dx=self.dx,
                         dw=self.dw, db=self.db, dz=self.dz, backend=self.backend)

    def time_dense_backward(self, backend, dtype, layer, activation):
        self._call()

    def track_gflops(self, backend, dtype, layer, activation):
        return best_rate(self._call, self.flops) / 1e9

    track_gflops.unit = "GFLOP/s"


class DenseBackwardFirstLayer(DenseBackward):
    """need_dx=False: no input gradient for the network's input layer."""

    params = (BACKENDS, DTYPES, ["128x784->256"], ["relu"])
    need_dx = False
