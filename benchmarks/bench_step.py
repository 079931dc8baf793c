"""One training step of a 784-256-128-10 ReLU MLP at batch 128: forward, softmax loss, backward, Adam."""
from __future__ import annotations

import numpy as np

from fastnn.profile import KernelMLP

from . import BACKENDS, DTYPES, best_rate, rand, require

SIZES = [784, 256, 128, 10]
BATCH = 128


class TrainStep:
    """fastnn.kernels composed in Python (KernelMLP.step) on each backend."""

    params = (BACKENDS, DTYPES)
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        require(backend)
        rng = np.random.default_rng(0)
        self.x = rand(rng, (BATCH, SIZES[0]), dtype)
        self.y = rng.integers(0, SIZES[-1], BATCH).astype(np.int32)
        self.net = KernelMLP(SIZES, batch_size=BATCH, dtype=dtype, backend=backend, lr=1e-5)
        self.net.step(self.x, self.y)  # warm-up outside the timing

    def time_step(self, backend, dtype):
        self.net.step(self.x, self.y)

    def track_samples_per_second(self, backend, dtype):
        return best_rate(lambda: self.net.step(self.x, self.y), BATCH, min_time=0.05)

    track_samples_per_second.unit = "samples/s"
