"""Fused optimizer updates over one flat buffer: the 235,146 parameters of a 784-256-128-10 MLP.

GB/s = (buffers touched per element, OPTIMIZERS[...][1]) * params.nbytes / time.
"""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K

from . import BACKENDS, DTYPES, best_rate, rand, require

N_PARAMS = 784 * 256 + 256 * 128 + 128 * 10 + 256 + 128 + 10
# optimizer -> (number of state buffers, buffers read or written per element)
OPTIMIZERS = {"sgd": (0, 3), "momentum": (1, 5), "nesterov": (1, 5), "adagrad": (1, 5), "rmsprop": (1, 5),
              "adam": (2, 7)}
# lr is tiny so thousands of timed calls leave the parameters essentially unchanged
PENALTIES = {"none": {}, "l2+l1+decay": dict(l2=1e-4, l1=1e-5, weight_decay=1e-4)}


class Update:
    params = (BACKENDS, DTYPES, list(OPTIMIZERS))
    param_names = ["backend", "dtype", "optimizer"]
    penalties = "none"

    def setup(self, backend, dtype, optimizer):
        require(backend)
        rng = np.random.default_rng(0)
        self.p = rand(rng, N_PARAMS, dtype, 0.05)
        self.g = rand(rng, N_PARAMS, dtype, 0.01)
        n_state, self.touched = OPTIMIZERS[optimizer]
        self.state = [np.zeros(N_PARAMS, dtype) for _ in range(n_state)]
        self.opt = optimizer
        self.kw = dict(PENALTIES[self.penalties], lr=1e-9, backend=backend)
        self._call()  # warm-up outside the timing

    def _call(self):
        opt, kw = self.opt, self.kw
        if opt == "sgd":
            K.sgd_update(self.p, self.g, **kw)
        elif opt in ("momentum", "nesterov"):
            K.momentum_update(self.p, self.g, self.state[0], nesterov=opt == "nesterov", **kw)
        elif opt == "adagrad":
            K.adagrad_update(self.p, self.g, self.state[0], **kw)
        elif opt == "rmsprop":
            K.rmsprop_update(self.p, self.g, self.state[0], **kw)
        else:
            K.adam_update(self.p, self.g, self.state[0], self.state[1], step=10, **kw)

    def time_update(self, backend, dtype, optimizer):
        self._call()

    def track_gbs(self, backend, dtype, optimizer):
        return best_rate(self._call, self.touched * self.p.nbytes) / 1e9

    track_gbs.unit = "GB/s"


class UpdateWithPenalties(Update):
    """The same updates with coupled L2, proximal L1 and decoupled weight decay (AdamW when adam)."""

    params = (BACKENDS, DTYPES, ["sgd", "adam"])
    penalties = "l2+l1+decay"
