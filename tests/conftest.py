"""Shared fixtures: the backends under test and per-dtype tolerances.

Every non-reference backend is compared with the NumPy reference. The C backend
runs twice, once on its AVX2+FMA path and once forced onto the portable C path
("c-generic"), so both ISA paths are tested on this machine.
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
import pytest

import fastnn
from fastnn import backends

#: relative tolerance of one elementwise operation, per dtype
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _backend_params():
    params = []
    for name in backends.available():
        if name == "numpy":
            continue
        params.append(name)
        if name == "c" and backends.get("c").cpu_has_avx2_fma():
            params.append("c-generic")
    return params


BACKENDS = _backend_params()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Name of a backend to compare with the reference (C on both ISA paths)."""
    name = request.param
    if name == "c-generic":
        c = backends.get("c")
        before = c.isa_name()
        c.set_isa("generic")
        assert c.isa_name() == "generic"
        yield "c"
        c.set_isa(before)
    else:
        if name == "c":
            assert backends.get("c").isa_name() in ("avx512", "avx2-fma", "generic")
        yield name


def _isa_levels():
    """The C backend's ISA levels this CPU runs (0 generic, 1 AVX2+FMA, 2 AVX-512F)."""
    if "c" not in backends.available():
        return []
    lib = backends.get("c").lib
    return [0] + ([1] if lib.fnn_cpu_has_avx2_fma() else []) + ([2] if lib.fnn_cpu_has_avx512f() else [])


ISAS = _isa_levels()


@pytest.fixture(params=ISAS, ids=lambda i: ["generic", "avx2", "avx512"][i])
def isa(request):
    """The C backend forced onto each ISA path this CPU runs (restored after)."""
    lib = backends.get("c").lib
    before = lib.fnn_get_isa()
    assert lib.fnn_set_isa(request.param) == request.param
    yield request.param
    lib.fnn_set_isa(before)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_close(actual, expected, dtype, *, scale=1.0, what=""):
    """|actual - expected| <= RTOL[dtype] * scale * (1 + |expected|), elementwise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tol = RTOL[dtype] * scale * (1.0 + np.abs(expected))
    err = np.abs(actual - expected)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err / tol, 0)), err.shape)
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} elements off; worst at {i}: "
            f"got {actual[i]!r}, expected {expected[i]!r} (tol {tol[i]:.3g})"
        )


@pytest.fixture(autouse=True)
def _restore_threads():
    n = fastnn.get_num_threads()
    yield
    fastnn.set_num_threads(n)


def pytest_collection_modifyitems(config, items):
    """Without SCIPY_ARRAY_API=1 (set before SciPy is imported), scikit-learn's array-API estimator
    checks only skip: leave them out here; tests/test_sklearn_checks.py runs them in a process with it."""
    checks = [item for item in items if "test_sklearn_checks.py" in item.nodeid]
    if os.environ.get("SCIPY_ARRAY_API") == "1" or not checks:
        return
    from test_sklearn_checks import ARRAY_API_CHECK

    drop = {id(item) for item in checks if ARRAY_API_CHECK in item.nodeid}
    if drop:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in drop])
        items[:] = [item for item in items if id(item) not in drop]


# ------------------------------------------------------------- sparse linear models

#: the scipy.sparse containers the sparse-X estimator tests fit on
SPARSE_CONTAINERS = {"csr": sp.csr_matrix, "csc": sp.csc_array, "coo": sp.coo_matrix}


@pytest.fixture
def no_densify(monkeypatch):
    """Make every dense copy of a sparse X raise ("dense copy would take ...")."""
    from fastnn.estimators import _linear_base

    monkeypatch.setattr(_linear_base, "SPARSE_DENSIFY_MAX_BYTES", 0)


def rel_diff(a, b):
    """max |a - b| relative to max |b|, in float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def mlp_targets(rng, loss, n, k, dtype):
    """Random targets of an MLP loss over k outputs, drawn from rng: int32 labels in [0, k)
    for softmax_xent, 0/1 values [n, k] for sigmoid_bce, normal values [n, k] for mse."""
    if loss == "softmax_xent":
        return rng.integers(0, k, n).astype(np.int32)
    if loss == "sigmoid_bce":
        return (rng.random((n, k)) > 0.5).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)
