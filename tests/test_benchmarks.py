"""pytest-benchmark microbenchmarks of the hot kernels, each also checked against plain NumPy.

CI runs them as smoke tests, once each (``--benchmark-disable``, or the short
default budget below). Developers time them:

    python -m pytest tests/test_benchmarks.py --benchmark-enable --benchmark-only --benchmark-group-by=group
    FASTNN_BENCH_MAX_TIME=1 python -m pytest tests/test_benchmarks.py --benchmark-enable --benchmark-only \
        --benchmark-save=mine        # then --benchmark-compare to compare runs

(``--benchmark-enable`` overrides the ``--benchmark-disable`` in pyproject.toml's addopts.)

Shapes are those of an MLP 784-256-128-10 at batch 128 (the `fastnn bench step` network).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K

pytest.importorskip("pytest_benchmark")

BACKENDS = fastnn.available_backends()  # numpy (the baseline) included
DTYPES = [np.float32, np.float64]
# seconds per benchmark when timing is on; small so a plain `pytest` stays quick
MAX_TIME = float(os.environ.get("FASTNN_BENCH_MAX_TIME", "0.05"))
RTOL = {np.float32: 1e-4, np.float64: 1e-10}


def _bench(group):
    return pytest.mark.benchmark(group=group, max_time=MAX_TIME, min_rounds=3, warmup=False)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


def _x(shape, dtype, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def _close(got, want, dtype, k=1):
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype] * np.sqrt(k), atol=RTOL[dtype] * np.sqrt(k))


@_bench("gemm X@W 128x784x256")
def test_gemm_forward(benchmark, backend, dtype):
    a, b = _x((128, 784), dtype), _x((784, 256), dtype, 1, 0.05)
    c = np.empty((128, 256), dtype)
    benchmark(K.gemm, a, b, out=c, backend=backend)
    _close(c, a.astype(np.float64) @ b.astype(np.float64), dtype, 784)


@_bench("gemm X^T@dY 784x128x256")
def test_gemm_weight_gradient(benchmark, backend, dtype):
    x, dy = _x((128, 784), dtype), _x((128, 256), dtype, 1)
    dw = np.empty((784, 256), dtype)
    benchmark(K.gemm, x, dy, trans_a=True, out=dw, backend=backend)
    _close(dw, x.astype(np.float64).T @ dy.astype(np.float64), dtype, 128)


@_bench("dense_forward relu 128x784->256")
def test_dense_forward_relu(benchmark, backend, dtype):
    x, w, b = _x((128, 784), dtype), _x((784, 256), dtype, 1, 0.05), _x(256, dtype, 2)
    out = np.empty((128, 256), dtype)
    benchmark(K.dense_forward, x, w, b, "relu", out=out, backend=backend)
    _close(out, np.maximum(x.astype(np.float64) @ w + b.astype(np.float64), 0), dtype, 784)


@_bench("dense_backward relu 128x256->128")
def test_dense_backward_relu(benchmark, backend, dtype):
    x, w = _x((128, 256), dtype), _x((256, 128), dtype, 1, 0.05)
    y = np.maximum(_x((128, 128), dtype, 2), 0)
    dout = _x((128, 128), dtype, 3)
    dx, dw, db, dz = (np.empty((128, 256), dtype), np.empty((256, 128), dtype), np.empty(128, dtype),
                      np.empty((128, 128), dtype))
    benchmark(K.dense_backward, dout, x, w, "relu", y=y, dx=dx, dw=dw, db=db, dz=dz, backend=backend)
    dz64 = dout.astype(np.float64) * (y > 0)
    _close(dw, x.astype(np.float64).T @ dz64, dtype, 128)
    _close(db, dz64.sum(axis=0), dtype, 128)
    _close(dx, dz64 @ w.astype(np.float64).T, dtype, 128)


@_bench("softmax_xent 128x10")
def test_softmax_xent(benchmark, backend, dtype):
    logits = _x((128, 10), dtype, 0, 3.0)
    labels = np.random.default_rng(1).integers(0, 10, 128).astype(np.int32)
    d = np.empty_like(logits)
    loss, _ = benchmark(K.softmax_xent, logits, labels, out=d, backend=backend)
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(128), labels]).mean(), rel=RTOL[dtype] * 10)
    p[np.arange(128), labels] -= 1
    _close(d, p / 128, dtype)


@_bench("activation_forward gelu 128x256")
def test_activation_gelu(benchmark, backend, dtype):
    from scipy.special import erf

    x = _x((128, 256), dtype)
    out = np.empty_like(x)
    benchmark(K.activation_forward, x, "gelu", out=out, backend=backend)
    x64 = x.astype(np.float64)
    _close(out, 0.5 * x64 * (1 + erf(x64 / np.sqrt(2))), dtype, 4)


@_bench("adam_update 235146")
def test_adam_update(benchmark, backend, dtype):
    n = 784 * 256 + 256 * 128 + 128 * 10 + 256 + 128 + 10
    p0, g = _x(n, dtype, 0, 0.05), _x(n, dtype, 1, 0.01)
    p, m, v = p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)
    calls = [0]

    def update():
        calls[0] += 1
        K.adam_update(p, g, m, v, lr=1e-3, step=1, backend=backend)

    benchmark(update)
    # with a constant gradient, k updates give m = (1 - 0.9^k) g, v = (1 - 0.999^k) g^2
    k = calls[0]
    g64 = g.astype(np.float64)
    _close(m, (1 - 0.9 ** k) * g64, dtype, k)
    _close(v, (1 - 0.999 ** k) * g64 * g64, dtype, k)
    assert np.all(np.abs(p - p0) <= 2.5 * k * 1e-3)  # with step=1 Adam moves a parameter at most ~2.1 lr per call


@_bench("training step 784-256-128-10 @128")
def test_training_step(benchmark, backend):
    from fastnn.profile import KernelMLP

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    net = KernelMLP([784, 256, 128, 10], batch_size=128, dtype=np.float32, backend=backend, lr=1e-3)
    first = net.step(x, y)
    loss = benchmark(net.step, x, y)
    assert np.isfinite(loss) and loss < first  # the same batch again: the loss goes down


@_bench("loss_grad 784-256-128-10 over 512 rows")
def test_full_batch_loss_grad(benchmark, backend, dtype):
    """L-BFGS's objective: each backend against the NumPy reference's numbers."""
    from fastnn.backends._train_reference import layout

    sizes = (784, 256, 128, 10)
    params = _x(layout(sizes)[3], dtype, 0, 0.05)
    x = _x((512, 784), dtype, 1)
    y = np.random.default_rng(2).integers(0, 10, 512).astype(np.int32)
    grads, want = np.empty_like(params), np.empty_like(params)
    kw = dict(sizes=sizes, activation="relu", loss="softmax_xent", alpha=1e-3)
    loss = benchmark(K.loss_grad, params, grads, x, y, backend=backend, **kw)
    ref = K.loss_grad(params, want, x, y, backend="numpy", **kw)
    assert loss == pytest.approx(ref, rel=RTOL[dtype] * 10)
    _close(grads, want, dtype, 512)
