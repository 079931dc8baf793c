"""gemm: square matrices and the three products of MLP training (forward, weight and input gradients)."""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, DTYPES, best_rate, rand, require

# name -> (m, k, n, trans_a, trans_b); a layer in->out at batch B:
# forward X@W is B x in x out, weight gradient X^T@dY is in x B x out, input gradient dY@W^T is B x out x in
SHAPES = {
    "square256": (256, 256, 256, False, False),
    "square512": (512, 512, 512, False, False),
    "fwd_128x784x512": (128, 784, 512, False, False),
    "wgrad_784x128x512": (784, 128, 512, True, False),
    "dgrad_128x512x784": (128, 512, 784, False, True),
    "out10_fwd_128x256x10": (128, 256, 10, False, False),
    "out10_wgrad_256x128x10": (256, 128, 10, True, False),
}


class Gemm:
    """fastnn.kernels.gemm(a, b, out=c) per backend; numpy = numpy.matmul behind the same API."""

    params = (BACKENDS, DTYPES, list(SHAPES))
    param_names = ["backend", "dtype", "shape"]
    timeout = 120

    def setup(self, backend, dtype, shape):
        require(backend)
        m, k, n, self.ta, self.tb = SHAPES[shape]
        rng = np.random.default_rng(0)
        self.a = rand(rng, (k, m) if self.ta else (m, k), dtype)
        self.b = rand(rng, (n, k) if self.tb else (k, n), dtype)
        self.c = np.zeros((m, n), dtype)
        self.flops = 2.0 * m * n * k
        self.backend = backend
        self._call()  # warm-up outside the timing: JIT/cache load, BLAS and OpenMP thread start-up

    def _call(self):
        K.gemm(self.a, self.b, trans_a=self.ta, trans_b=self.tb, out=self.c, backend=self.backend)

    def time_gemm(self, backend, dtype, shape):
        self._call()

    def track_gflops(self, backend, dtype, shape):
        return best_rate(self._call, self.flops) / 1e9

    track_gflops.unit = "GFLOP/s"


class GemmAccumulate:
    """beta != 0 (accumulate into the output), the weight-gradient form of a 784->512 layer at batch 128."""

    params = (BACKENDS, DTYPES)
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        require(backend)
        rng = np.random.default_rng(1)
        self.x, self.dy = rand(rng, (128, 784), dtype), rand(rng, (128, 512), dtype)
        self.dw = np.zeros((784, 512), dtype)
        self.backend = backend
        self.time_gemm_beta1(backend, dtype)  # warm-up

    def time_gemm_beta1(self, backend, dtype):
        K.gemm(self.x, self.dy, trans_a=True, beta=1.0, out=self.dw, backend=self.backend)
