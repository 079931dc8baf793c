"""fastnn.kernels.csr_sandwich (X^T diag(h) X for a CSR X): the C and Numba kernels against the NumPy
reference (the same sums in the same order, so the same bits), the result against scipy's product,
the blocks and threads of the C kernel, and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn
from fastnn import kernels as K

BACKENDS = ["numpy", "numba", "c"]


def _case(n, p, density, dtype, seed=0):
    """A random CSR X with an empty row, a one-entry row and a full row, and weights of both signs
    with exact zeros (the multinomial Hessian's off-diagonal blocks are negative)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="lil", random_state=seed, dtype=np.float64)
    if n > 2:
        X[0, :] = 0.0
        X[1, :] = 0.0
        X[1, p - 1] = 2.5
        X[2, :] = rng.standard_normal(p)
    h = rng.standard_normal(n)
    h[::7] = 0.0
    return sp.csr_matrix(X, dtype=dtype), h.astype(dtype)


def _scipy(X, h):
    X64 = X.astype(np.float64)
    return (X64.T @ X64.multiply(h.astype(np.float64)[:, None]).tocsr()).toarray()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1, 1.0), (2, 4, 1.0), (5, 3, 0.5), (60, 40, 0.2), (200, 300, 0.05),
                                   (120, 700, 0.03)])
def test_backends_give_the_reference_bits(dtype, shape):
    # (p = 300 and 700: more than one block of the result's rows in the C and Numba kernels)
    X, h = _case(*shape, dtype)
    out = {b: K.csr_sandwich(X, h, backend=b) for b in BACKENDS}
    ref = out["numpy"]
    assert ref.dtype == dtype and ref.shape == (shape[1], shape[1])
    np.testing.assert_array_equal(ref, ref.T)  # exactly symmetric
    tol = 1e-12 if dtype == np.float64 else 2e-5
    scale = max(1.0, np.abs(_scipy(X, h)).max())
    np.testing.assert_allclose(ref, _scipy(X, h), rtol=tol, atol=tol * scale)
    for b in ("numba", "c"):
        np.testing.assert_array_equal(out[b], ref, err_msg=b)


def test_threads_and_out_give_the_same_bits():
    # enough scatters for two threads (n nnz^2 / 2 ~ 5e6), several blocks (p = 600)
    X, h = _case(3000, 600, 0.1, np.float64, seed=3)
    fastnn.set_num_threads(1)
    one = K.csr_sandwich(X, h, backend="c")
    fastnn.set_num_threads(2)
    out = np.full((600, 600), np.nan)
    two = K.csr_sandwich(X, h, out=out, backend="c")
    assert two is out
    np.testing.assert_array_equal(two, one)
    np.testing.assert_array_equal(one, K.csr_sandwich(X, h, backend="numba"))
    np.testing.assert_allclose(one, _scipy(X, h), rtol=1e-12, atol=1e-12 * np.abs(one).max())


def test_edge_shapes():
    for backend in BACKENDS:
        empty = sp.csr_matrix((4, 3))  # no entries: zeros
        np.testing.assert_array_equal(K.csr_sandwich(empty, np.ones(4), backend=backend), np.zeros((3, 3)))
        none = sp.csr_matrix((0, 3))
        np.testing.assert_array_equal(K.csr_sandwich(none, np.ones(0), backend=backend), np.zeros((3, 3)))
        assert K.csr_sandwich(sp.csr_matrix((4, 0)), np.ones(4), backend=backend).shape == (0, 0)
        X = sp.csr_matrix(np.array([[0.0, 2.0], [3.0, 0.0]]))
        np.testing.assert_array_equal(K.csr_sandwich(X, np.array([0.5, -1.0]), backend=backend),
                                      [[-9.0, 0.0], [0.0, 2.0]])


def test_int64_indices_and_a_sparse_array():
    X, h = _case(50, 20, 0.3, np.float64)
    ref = K.csr_sandwich(X, h, backend="numpy")
    wide = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    for backend in BACKENDS:
        np.testing.assert_array_equal(K.csr_sandwich(wide, h, backend=backend), ref)
        np.testing.assert_array_equal(K.csr_sandwich(sp.csr_array(X), h, backend=backend), ref)


def test_bad_input_is_named():
    X, h = _case(30, 10, 0.3, np.float64)
    with pytest.raises(TypeError, match="scipy.sparse CSR"):
        K.csr_sandwich(X.toarray(), h)
    with pytest.raises(TypeError, match="tocsr"):
        K.csr_sandwich(X.tocsc(), h)
    with pytest.raises(TypeError, match="X.data has dtype float32"):
        K.csr_sandwich(X.astype(np.float32), h)
    with pytest.raises(TypeError, match="h must be float32 or float64"):
        K.csr_sandwich(X, np.ones(30, dtype=np.int64))
    with pytest.raises(ValueError, match=r"h must have 30 rows"):
        K.csr_sandwich(X, h[:-1])
    with pytest.raises(ValueError, match="h must be finite"):
        K.csr_sandwich(X, np.full(30, np.nan))
    bad = X.copy()
    bad.data[3] = np.inf
    with pytest.raises(ValueError, match="X.data must be finite"):
        K.csr_sandwich(bad, h)
    # a row's columns out of order, or twice: each entry must be one x_ij, the pairs j <= l
    unsorted = sp.csr_matrix((np.array([1.0, 2.0]), np.array([3, 1]), np.array([0, 2] + [2] * 29)), shape=(30, 10))
    with pytest.raises(ValueError, match="sorted and distinct.*row 0.*sum_duplicates"):
        K.csr_sandwich(unsorted, h)
    dup = sp.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 0, 2] + [2] * 28)), shape=(30, 10))
    with pytest.raises(ValueError, match="row 1"):
        K.csr_sandwich(dup, h)
    broken = sp.csr_matrix(X)
    broken.indices = broken.indices.copy()
    broken.indices[0] = 10
    with pytest.raises(ValueError, match=r"X.indices must be column indices in \[0, 10\)"):
        K.csr_sandwich(broken, h)
    with pytest.raises(ValueError, match=r"out must have shape \(10, 10\)"):
        K.csr_sandwich(X, h, out=np.empty((10, 9)))
    with pytest.raises(TypeError, match="out must have dtype float64"):
        K.csr_sandwich(X, h, out=np.empty((10, 10), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        K.csr_sandwich(X, h, out=np.empty((10, 20))[:, ::2])
    shared = np.empty(100)
    with pytest.raises(ValueError, match="out overlaps h"):
        K.csr_sandwich(X, shared[:30], out=shared.reshape(10, 10))
    with pytest.raises(ValueError, match="backend"):
        K.csr_sandwich(X, h, backend="fortran")


def test_a_checked_x_gives_the_same_bits():
    # (newton-cholesky checks its X once a fit: K._checked_csr)
    X, h = _case(80, 30, 0.2, np.float64, seed=4)
    checked = K._checked_csr(X, np.float64)
    for backend in BACKENDS:
        np.testing.assert_array_equal(K.csr_sandwich(checked, h, backend=backend),
                                      K.csr_sandwich(X, h, backend=backend))
    with pytest.raises(TypeError, match="checked float64 CSR; h is float32"):
        K.csr_sandwich(checked, h.astype(np.float32))
    with pytest.raises(ValueError, match=r"h must have 80 rows"):
        K.csr_sandwich(checked, h[:10])
    with pytest.raises(ValueError, match="sorted and distinct"):
        K._checked_csr(sp.csr_matrix((np.ones(2), np.array([1, 0]), np.array([0, 2])), shape=(1, 2)), np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_in_columns_give_each_columns_bits(dtype):
    # h [n, m]: the m products in one pass, [p, p, m], each the bits of its own 1-D call, on every
    # backend and ISA path (the C kernel's wider vectors add no FMA); p = 400 spans blocks
    from fastnn.backends.c import lib

    X, h = _case(150, 400, 0.04, dtype, seed=5)
    H = np.stack([h, -2 * h, np.zeros_like(h), h[::-1]], axis=1)  # a zero column, a row of zeros (h[::7] = 0)
    H[3] = 0
    cols = [K.csr_sandwich(X, np.ascontiguousarray(H[:, t]), backend="numpy") for t in range(4)]
    before = lib.fnn_get_isa()
    try:
        for isa in [0, 1, 2][:before + 1]:
            lib.fnn_set_isa(isa)
            for backend in BACKENDS:
                out = K.csr_sandwich(X, H, backend=backend)
                assert out.shape == (400, 400, 4) and out.dtype == dtype
                for t in range(4):
                    np.testing.assert_array_equal(out[:, :, t], cols[t], err_msg=f"{backend} isa {isa} column {t}")
    finally:
        lib.fnn_set_isa(before)
    with pytest.raises(ValueError, match=r"out must have shape \(400, 400, 4\)"):
        K.csr_sandwich(X, H, out=np.empty((400, 400), dtype))
    with pytest.raises(ValueError, match="h must be 1-D"):
        K.csr_sandwich(X, H[:, :, None])
    assert K.csr_sandwich(X, H[:, :0]).shape == (400, 400, 0)
