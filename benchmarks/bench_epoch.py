"""One epoch on the digits data (1797 x 64 -> 100 -> 10, batch 200, Adam).

Three ways: the kernels composed in Python, the native epoch
(fastnn.kernels.train_epoch) and fastnn.MLP.fit; the latter two are skipped in a
build that does not have them yet. Also the same network's full-batch loss and
gradient (fastnn.kernels.loss_grad, an L-BFGS evaluation), its logits for every row and for
one (fastnn.kernels.mlp_forward: predict), the native epoch and the loss and gradient on
a sparse TF-IDF-like X kept sparse (CSR), and the native epoch on an image-like X (20%
non-zero) as CSR and dense.
"""
from __future__ import annotations

import numpy as np

import fastnn.kernels as K
from fastnn.profile import KernelMLP, find_mlp, load_data

from . import BACKENDS, DTYPES, require

HIDDEN, BATCH, LR = 100, 200, 1e-3


class _Digits:
    params = (BACKENDS, DTYPES)
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        require(backend)
        self.X, self.y, _ = load_data("digits", dtype)
        self.sizes = [self.X.shape[1], HIDDEN, int(self.y.max()) + 1]
        self.perm = np.arange(len(self.X), dtype=np.int64)
        self.net = KernelMLP(self.sizes, batch_size=BATCH, dtype=dtype, backend=backend, lr=LR)
        self.backend = backend


class ComposedEpoch(_Digits):
    def setup(self, backend, dtype):
        super().setup(backend, dtype)
        self.time_epoch(backend, dtype)  # warm-up outside the timing

    def time_epoch(self, backend, dtype):
        self.net.epoch(self.X, self.y, self.perm)


class NativeEpoch(_Digits):
    def setup(self, backend, dtype):
        if not hasattr(K, "train_epoch"):
            raise NotImplementedError("fastnn.kernels.train_epoch is not in this build")
        super().setup(backend, dtype)
        self.time_epoch(backend, dtype)  # warm-up outside the timing

    def time_epoch(self, backend, dtype):
        net = self.net
        K.train_epoch(net.params, net.grads, net.state, self.X, self.y, self.perm, sizes=self.sizes,
                      activation="relu", loss="softmax_xent", optimizer="adam", lr=LR, step=net.t,
                      batch_size=BATCH, backend=self.backend)
        net.t += -(-len(self.perm) // BATCH)


class FullBatchLossGrad(_Digits):
    """kernels.loss_grad over all 1797 rows: one evaluation of L-BFGS's objective."""

    def setup(self, backend, dtype):
        if not hasattr(K, "loss_grad"):
            raise NotImplementedError("fastnn.kernels.loss_grad is not in this build")
        super().setup(backend, dtype)
        self.time_loss_grad(backend, dtype)  # warm-up outside the timing

    def time_loss_grad(self, backend, dtype):
        net = self.net
        K.loss_grad(net.params, net.grads, self.X, self.y, sizes=self.sizes, activation="relu",
                    loss="softmax_xent", alpha=1e-4, backend=self.backend)


class Predict(_Digits):
    """kernels.mlp_forward over all 1797 rows and over one row: the logits of predict /
    predict_proba (the C backend in one call for every layer)."""

    params = (BACKENDS, DTYPES, ["1797", "1"])
    param_names = ["backend", "dtype", "rows"]

    def setup(self, backend, dtype, rows):
        if not hasattr(K, "mlp_forward"):
            raise NotImplementedError("fastnn.kernels.mlp_forward is not in this build")
        super().setup(backend, dtype)
        self.X = self.X[: int(rows)].copy()
        self.out = np.empty((len(self.X), self.sizes[-1]), dtype)
        self.time_mlp_forward(backend, dtype, rows)  # warm-up outside the timing

    def time_mlp_forward(self, backend, dtype, rows):
        K.mlp_forward(self.net.params, self.X, sizes=self.sizes, activation="relu", out=self.out,
                      backend=self.backend)


def _sparse_data(bench, backend, dtype):
    """bench's data and network: a CSR X, 4000 x 5000 at 2% non-zero -> 64 -> 2."""
    require(backend)
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    bench.X = sp.random(4000, 5000, density=0.02, format="csr", random_state=rng, dtype=dtype)
    bench.y = rng.integers(0, 2, 4000).astype(np.int32)
    bench.perm = rng.permutation(4000).astype(np.int64)
    bench.sizes = [5000, 64, 2]
    bench.net = KernelMLP(bench.sizes, batch_size=BATCH, dtype=dtype, backend=backend, lr=LR)
    bench.backend = backend


class SparseEpoch(NativeEpoch):
    """kernels.train_epoch on a CSR X (_sparse_data), batch 200, Adam: the first layer over
    each batch's non-zeros (the reference: scipy.sparse's products)."""

    def setup(self, backend, dtype):  # NativeEpoch's time_epoch on this data instead of digits
        _sparse_data(self, backend, dtype)
        self.time_epoch(backend, dtype)  # warm-up outside the timing


class SparseLossGrad(FullBatchLossGrad):
    """kernels.loss_grad over all rows of the same CSR X: an L-BFGS evaluation on sparse
    input (the C backend splits its rows over the threads)."""

    def setup(self, backend, dtype):  # FullBatchLossGrad's time_loss_grad on this data
        _sparse_data(self, backend, dtype)
        self.time_loss_grad(backend, dtype)  # warm-up outside the timing


class ImageLikeEpoch(NativeEpoch):
    """kernels.train_epoch on an image-like X, 4000 x 784 at 20% non-zero (MNIST's share)
    -> 100 -> 10, batch 200, Adam: as CSR (the first layer over the non-zeros by row, W's
    rows in blocks that stay in L1) and the same X dense, the ratio the estimators'
    DENSE_NATIVE_SPARSIFY_DENSITY rests on."""

    params = (BACKENDS, DTYPES, ["csr", "dense"])
    param_names = ["backend", "dtype", "layout"]

    def setup(self, backend, dtype, layout):
        require(backend)
        import scipy.sparse as sp

        rng = np.random.default_rng(0)
        X = sp.random(4000, 784, density=0.2, format="csr", random_state=rng, dtype=dtype)
        self.X = X if layout == "csr" else X.toarray()
        self.y = rng.integers(0, 10, 4000).astype(np.int32)
        self.perm = rng.permutation(4000).astype(np.int64)
        self.sizes = [784, HIDDEN, 10]
        self.net = KernelMLP(self.sizes, batch_size=BATCH, dtype=dtype, backend=backend, lr=LR)
        self.backend = backend
        self.time_epoch(backend, dtype, layout)  # warm-up outside the timing

    def time_epoch(self, backend, dtype, layout):
        super().time_epoch(backend, dtype)


class MLPFit(_Digits):
    """fastnn.MLP(...).fit for one epoch, native (fused) and Python-composed; includes input checks."""

    params = (BACKENDS, DTYPES, [True, False])
    param_names = ["backend", "dtype", "fused"]

    def setup(self, backend, dtype, fused):
        mlp = find_mlp()
        if mlp is None:
            raise NotImplementedError("fastnn.MLP is not in this build")
        if fused and not hasattr(K, "train_epoch"):
            raise NotImplementedError("fastnn.kernels.train_epoch is not in this build")
        super().setup(backend, dtype)
        self.model = mlp(self.sizes, "relu", dtype=dtype, seed=0, backend=backend)
        self.kw = dict(optimizer="adam", lr=LR, epochs=1, batch_size=BATCH, tol=None, shuffle=False, fused=fused)
        self.time_fit_one_epoch(backend, dtype, fused)  # warm-up outside the timing

    def time_fit_one_epoch(self, backend, dtype, fused):
        self.model.fit(self.X, self.y, **self.kw)
