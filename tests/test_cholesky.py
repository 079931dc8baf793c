"""fastnn.kernels.cholesky: every backend against numpy.linalg.cholesky (the spec) on sizes that take
each path of the C recursion, on every ISA path and thread count, the upper triangle ignored, the
result's zeros above the diagonal, out= and in place, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K

BACKENDS = ["numpy", "numba", "c"]
#: one base block, one past it, the first split, splits at every level, the symmetric update's
#: recursion (> 128 rows), a size not a multiple of the base
SIZES = [1, 2, 31, 32, 33, 64, 97, 200, 301]


def _spd(n, dtype, seed=0):
    """A well-conditioned symmetric positive definite matrix with garbage above the diagonal."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n + 8, n))
    H = A.T @ A / (n + 8) + 0.5 * np.eye(n)
    spec = np.linalg.cholesky(H)
    H[np.triu_indices(n, 1)] = 1e3  # only the lower triangle is read
    return H.astype(dtype), spec


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", SIZES)
def test_backends_match_numpy(n, dtype):
    H, spec = _spd(n, dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for backend in BACKENDS:
        L = K.cholesky(H, backend=backend)
        assert L.dtype == dtype and L.shape == (n, n), backend
        assert not np.triu(L, 1).any(), backend  # zeros above the diagonal
        np.testing.assert_allclose(L, spec, rtol=tol, atol=tol, err_msg=backend)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_on_every_isa_and_thread_count(isa, threads):  # (isa: conftest's fixture)
    fastnn.set_num_threads(threads)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        for n in (33, 301, 700):  # (700: products big enough for two threads)
            H, spec = _spd(n, dtype, seed=n)
            L = K.cholesky(H, backend="c")
            np.testing.assert_allclose(L, spec, rtol=tol, atol=tol, err_msg=f"{n} {dtype}")
            assert not np.triu(L, 1).any()


def test_out_and_in_place():
    H, spec = _spd(100, np.float64)
    for backend in BACKENDS:
        out = np.full((100, 100), np.nan)
        assert K.cholesky(H, out=out, backend=backend) is out
        np.testing.assert_allclose(out, spec, rtol=1e-12, atol=1e-12)
        a = H.copy()
        assert K.cholesky(a, out=a, backend=backend) is a
        np.testing.assert_allclose(a, spec, rtol=1e-12, atol=1e-12)
        assert K.cholesky(np.empty((0, 0)), backend=backend).shape == (0, 0)


def test_not_positive_definite_names_the_minor():
    H, _ = _spd(80, np.float64)
    H[50, 50] = -1.0  # leading minors up to 50 stay positive definite
    for backend in BACKENDS:
        with pytest.raises(np.linalg.LinAlgError, match="leading minor of order 51 is not"):
            K.cholesky(H, backend=backend)
    for backend in BACKENDS:  # singular
        with pytest.raises(np.linalg.LinAlgError, match="order 2 "):
            K.cholesky(np.ones((3, 3)), backend=backend)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="a must be square"):
        K.cholesky(np.eye(3)[:2])
    with pytest.raises(ValueError, match="a must be 2-D"):
        K.cholesky(np.ones(3))
    with pytest.raises(TypeError, match="a must be float32 or float64"):
        K.cholesky(np.eye(3, dtype=np.int64))
    bad = np.eye(3)
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="a must be finite"):
        K.cholesky(bad)
    huge = np.eye(3) * 1e308  # its sum overflows, its values are finite: factored
    np.testing.assert_allclose(K.cholesky(huge), np.sqrt(1e308) * np.eye(3))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 3\)"):
        K.cholesky(np.eye(3), out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="out must have dtype float64"):
        K.cholesky(np.eye(3), out=np.empty((3, 3), np.float32))
    a = np.eye(4)
    with pytest.raises(ValueError, match="out overlaps a"):
        K.cholesky(a, out=a[:])  # (a view of a, not a itself)
