"""fastnn.kernels.dense_sandwich (Xa^T diag(h) Xa for a dense X, Xa = X or (X, 1)): every backend
against a float64 product of the explicit Xa, on each ISA path of the C kernel, its chunks of rows and
blocks of columns, its threads (the same bits on any count), and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn
from fastnn import kernels as K

BACKENDS = ["numpy", "numba", "c"]


def _case(n, p, dtype, seed=0):
    """X with a zero row and a zero column, weights of both signs with exact zeros."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if n > 2 and p > 1:
        X[1] = 0.0
        X[:, -1] = 0.0
    h = rng.standard_normal(n)
    h[::5] = 0.0
    return X.astype(dtype), h.astype(dtype)


def _expected(X, h, intercept):
    X64 = X.astype(np.float64)
    Xa = np.hstack([X64, np.ones((X.shape[0], 1))]) if intercept else X64
    return Xa.T @ (h.astype(np.float64)[:, None] * Xa), Xa


def _check(got, X, h, intercept):
    want, Xa = _expected(X, h, intercept)
    assert got.shape == want.shape and got.dtype == X.dtype
    np.testing.assert_array_equal(got, got.T)  # exactly symmetric
    # the error of sums of n terms: relative to the sum of the terms' magnitudes
    bound = (np.abs(Xa).T @ (np.abs(h.astype(np.float64))[:, None] * np.abs(Xa)))
    eps = np.finfo(X.dtype).eps
    assert np.all(np.abs(got - want) <= 4 * eps * (X.shape[0] + 2) * bound + 1e-300)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("intercept", [False, True])
# (1000 x 101: several chunks of rows and 7 column blocks; 150 x 33: one chunk, a narrow last block)
@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (17, 5), (150, 33), (1000, 101)])
def test_backends_match_the_product(backend, dtype, intercept, shape):
    X, h = _case(*shape, dtype)
    _check(K.dense_sandwich(X, h, intercept=intercept, backend=backend), X, h, intercept)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_on_every_isa_and_thread_count(isa, threads):  # (isa: conftest's fixture)
    fastnn.set_num_threads(threads)
    for dtype in (np.float64, np.float32):
        X, h = _case(700, 130, dtype, seed=4)  # (130 columns: several blocks for the two threads)
        for intercept in (False, True):
            _check(K.dense_sandwich(X, h, intercept=intercept, backend="c"), X, h, intercept)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_in_columns_give_each_columns_product(backend, dtype):
    X, h = _case(400, 37, dtype, seed=5)
    H = np.stack([h, -2 * h, np.abs(h)[::-1].copy()], axis=1)
    for intercept in (False, True):
        out = K.dense_sandwich(X, H, intercept=intercept, backend=backend)
        assert out.shape == (37 + intercept,) * 2 + (3,)
        for t in range(3):
            _check(out[:, :, t], X, np.ascontiguousarray(H[:, t]), intercept)
            if backend == "c":  # the same bits as the column alone
                np.testing.assert_array_equal(
                    out[:, :, t], K.dense_sandwich(X, np.ascontiguousarray(H[:, t]), intercept=intercept, backend="c"))


def test_threads_and_out_give_the_same_bits():
    # enough flops for two threads (2 n q^2 / 2 ~ 5e7), a q whose rows are 1 KiB apart (128 float64)
    X, h = _case(3000, 127, np.float64, seed=3)
    fastnn.set_num_threads(1)
    one = K.dense_sandwich(X, h, intercept=True, backend="c")
    fastnn.set_num_threads(2)
    out = np.full((128, 128), np.nan)
    two = K.dense_sandwich(X, h, intercept=True, out=out, backend="c")
    assert two is out
    np.testing.assert_array_equal(two, one)
    _check(one, X, h, True)
    # several weights: a column each to the threads in turn
    H = np.stack([h, 0.5 * h, -h], axis=1)
    fastnn.set_num_threads(1)
    one = K.dense_sandwich(X, H, intercept=True, backend="c")
    fastnn.set_num_threads(2)
    np.testing.assert_array_equal(K.dense_sandwich(X, H, intercept=True, backend="c"), one)


def test_edge_shapes():
    for backend in BACKENDS:
        for intercept in (False, True):
            q = 3 + intercept
            np.testing.assert_array_equal(
                K.dense_sandwich(np.zeros((0, 3)), np.zeros(0), intercept=intercept, backend=backend), np.zeros((q, q)))
        assert K.dense_sandwich(np.zeros((4, 0)), np.ones(4), backend=backend).shape == (0, 0)
        ones = K.dense_sandwich(np.zeros((4, 0)), np.arange(4.0), intercept=True, backend=backend)
        np.testing.assert_array_equal(ones, [[6.0]])  # sum(h)
        X = np.array([[0.0, 2.0], [3.0, 0.0]])
        np.testing.assert_array_equal(K.dense_sandwich(X, np.array([0.5, -1.0]), intercept=True, backend=backend),
                                      [[-9.0, 0.0, -3.0], [0.0, 2.0, 1.0], [-3.0, 1.0, -0.5]])


def test_non_contiguous_x_and_nan_propagate():
    X, h = _case(40, 6, np.float64)
    F = np.asfortranarray(X)
    for backend in BACKENDS:
        np.testing.assert_allclose(K.dense_sandwich(F, h, backend=backend), K.dense_sandwich(X, h, backend=backend),
                                   rtol=1e-14, atol=1e-14)
        Xn = X.copy()
        Xn[3, 2] = np.nan
        h1 = np.ones(40)
        r = K.dense_sandwich(Xn, h1, backend=backend)
        assert np.isnan(r[2]).all() and np.isnan(r[:, 2]).all() and not np.isnan(np.delete(np.delete(r, 2, 0), 2, 1)).any()


def test_bad_input_is_named():
    X, h = _case(10, 3, np.float64)
    with pytest.raises(TypeError, match="csr_sandwich"):
        K.dense_sandwich(sp.csr_matrix(X), h)
    with pytest.raises(ValueError, match="X must be 2-D"):
        K.dense_sandwich(X[0], h)
    with pytest.raises(ValueError, match="h must have 10 rows"):
        K.dense_sandwich(X, h[:9])
    with pytest.raises(ValueError, match="h must be 1-D"):
        K.dense_sandwich(X, h[:, None, None])
    with pytest.raises(TypeError, match="h has dtype float32"):
        K.dense_sandwich(X, h.astype(np.float32))
    with pytest.raises(TypeError, match="intercept must be a bool"):
        K.dense_sandwich(X, h, intercept=1)
    with pytest.raises(ValueError, match=r"out must have shape \(4, 4\)"):
        K.dense_sandwich(X, h, intercept=True, out=np.empty((3, 3)))
    with pytest.raises(TypeError, match="out must have dtype float64"):
        K.dense_sandwich(X, h, out=np.empty((3, 3), np.float32))
    with pytest.raises(ValueError, match="out"):
        K.dense_sandwich(X, h, out=X[:3])  # overlaps X
    with pytest.raises(ValueError, match="backend"):
        K.dense_sandwich(X, h, backend="nope")
