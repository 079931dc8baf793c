"""fastnn.kernels.dense_to_csr: every backend against scipy's CSR of the same dense array (the
spec: its canonical format), on widths that end a row on every lane of the C's vectors, on
every ISA path and thread count, with the entries x != 0 keeps (NaN, inf, subnormals) and drops
(-0.0), max_nnz's early refusal, and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn
from fastnn import kernels as K
from fastnn.backends import _csr_copy_reference

BACKENDS = ["numpy", "numba", "c"]
#: empty rows and columns, one lane, a tail of 1..15 lanes after whole float32 / float64 vectors
WIDTHS = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 784]


def _image_like(n, d, dtype, seed=0, density=0.2):
    """Mostly zeros, with blank rows, a blank right half in some rows, and special values."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * (rng.random((n, d)) < density)
    if n > 3 and d > 0:
        x[1] = 0.0  # a blank row
        x[2, d // 2:] = 0.0
        x[0, 0] = np.nan  # kept, as x != 0 keeps it
        x[-1, -1] = -0.0  # dropped
        x[n // 2, d // 2] = np.inf
        x[n // 2, 0] = np.finfo(dtype).smallest_subnormal  # != 0: kept
    return x.astype(dtype)


def _assert_is_csr_of(arrays, x):
    data, indices, indptr = arrays
    spec = sp.csr_matrix(np.where(np.isnan(x), 7.0, x).astype(x.dtype))  # (scipy's own != 0 test)
    assert data.dtype == x.dtype and indices.dtype == np.int32 and indptr.dtype == np.int64
    np.testing.assert_array_equal(indptr, spec.indptr)
    np.testing.assert_array_equal(indices, spec.indices)
    np.testing.assert_array_equal(np.where(np.isnan(data), 7.0, data), spec.data)
    assert not (data == 0).any()  # -0.0 == 0: none kept


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", WIDTHS)
def test_backends_match_scipy(d, dtype):
    x = _image_like(41, d, dtype, seed=d)
    given = x.copy()
    for backend in BACKENDS:
        _assert_is_csr_of(K.dense_to_csr(x, backend=backend), x)
    np.testing.assert_array_equal(x, given)  # only read
    for backend in BACKENDS:
        data, indices, indptr = K.dense_to_csr(x[:0], backend=backend)
        assert data.shape == indices.shape == (0,) and indptr.tolist() == [0]


@pytest.mark.parametrize("threads", [1, 2])
def test_c_on_every_isa_and_thread_count(isa, threads):  # (isa: conftest's fixture)
    fastnn.set_num_threads(threads)
    for dtype in (np.float64, np.float32):
        for n, d in ((5, 33), (3000, 784)):  # (3000 x 784: rows split over two threads)
            x = _image_like(n, d, dtype, seed=n)
            _assert_is_csr_of(K.dense_to_csr(x, backend="c"), x)


def _rows_of_every_shape(d, dtype):
    """Full rows, rows whose non-zeros are only their first or last k columns (k = 1..d),
    alternating ones, and the special values: a row's last vectors are stored with less
    room than a whole vector left in the row's entries, on every ISA path."""
    rows = [np.arange(1, d + 1, dtype=np.float64), np.where(np.arange(d) % 2, 1.5, 0.0)]
    for k in sorted({*range(1, min(d, 40) + 1), d - 1, d} - {0}):
        first, last = np.zeros(d), np.zeros(d)
        first[:k] = np.arange(1, k + 1)
        last[d - k:] = -np.arange(1, k + 1)
        rows += [first, last]
    x = np.array(rows).reshape(len(rows), d)
    if d > 2:
        x[0, :3] = [np.nan, -np.inf, np.finfo(dtype).smallest_subnormal]
        x[1, 1] = -0.0  # an odd column, so it would be kept: dropped
    return x.astype(dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_on_every_isa_keeps_rows_of_any_shape(isa, threads):
    fastnn.set_num_threads(threads)
    for dtype in (np.float64, np.float32):
        for d in WIDTHS + [40]:
            x = _rows_of_every_shape(d, dtype)
            _assert_is_csr_of(K.dense_to_csr(x, backend="c"), x)
            many = np.tile(x, (20, 1))  # (rows split over two threads)
            _assert_is_csr_of(K.dense_to_csr(many, backend="c"), many)


def test_reference_in_blocks_of_rows(monkeypatch):
    """The reference takes x BLOCK_VALUES values at a time: blocks of 7 rows, the last partial."""
    monkeypatch.setattr(_csr_copy_reference, "BLOCK_VALUES", 7 * 33)
    x = _image_like(50, 33, np.float64)
    _assert_is_csr_of(K.dense_to_csr(x, backend="numpy"), x)


def test_max_nnz_refuses_before_copying():
    x = _image_like(30, 40, np.float64)
    nnz = int(np.count_nonzero(x))
    for backend in BACKENDS:
        assert K.dense_to_csr(x, max_nnz=nnz - 1, backend=backend) is None
        _assert_is_csr_of(K.dense_to_csr(x, max_nnz=nnz, backend=backend), x)
        assert K.dense_to_csr(np.zeros((3, 4)), max_nnz=0, backend=backend)[0].shape == (0,)


def test_any_layout_and_byte_order_is_read_as_values():
    x = _image_like(20, 17, np.float64)
    for given in (np.asfortranarray(x), x.astype(">f8"), x[:, ::-1].copy()[:, ::-1]):
        _assert_is_csr_of(K.dense_to_csr(given, backend="c"), x)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="x must be 2-D"):
        K.dense_to_csr(np.zeros(5))
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        K.dense_to_csr(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="max_nnz"):
        K.dense_to_csr(np.zeros((2, 2)), max_nnz=-1)
    with pytest.raises(ValueError, match="max_nnz"):
        K.dense_to_csr(np.zeros((2, 2)), max_nnz=2.5)
