"""fastnn.kernels.centered_transpose: every backend against NumPy's ``((x - mean) * scale[:, None]).T``
(the spec: the same subtraction and product per element, so the same bits), on shapes whose rows
and columns end inside the C's 4 x 4 / 8 x 8 register blocks and its 32-column bands, on every ISA
path and thread count, out=, the errors, and a result that is not finite (raised)."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K

BACKENDS = ["numpy", "numba", "c"]
#: empty, one element, remainders of 1..7 rows and columns past whole blocks, bands of 32
#: columns and a partial one, tall and wide
SHAPES = [(0, 3), (3, 0), (1, 1), (4, 8), (9, 7), (67, 13), (130, 70), (5, 300), (1000, 33)]


def _spec(x, mean, scale):
    return ((x - mean) if scale is None else (x - mean) * scale[:, None]).T


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_backends_match_numpy(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    mean, scale = rng.standard_normal(shape[1]).astype(dtype), (rng.random(shape[0]) + 0.5).astype(dtype)
    given = x.copy()
    for sc in (None, scale):
        for backend in BACKENDS:
            got = K.centered_transpose(x, mean, scale=sc, backend=backend)
            assert got.dtype == dtype and got.shape == shape[::-1] and got.flags.c_contiguous
            np.testing.assert_array_equal(got, _spec(x, mean, sc), err_msg=backend)
    np.testing.assert_array_equal(x, given)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_on_every_isa_and_thread_count(isa, threads):  # (isa: conftest's fixture)
    fastnn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    for dtype in (np.float64, np.float32):
        for shape in ((2003, 50), (501, 130), (37, 3001)):  # few bands split by rows; many bands
            x = rng.standard_normal(shape).astype(dtype)
            mean, scale = x.mean(axis=0), rng.random(shape[0]).astype(dtype)
            for sc in (None, scale):
                np.testing.assert_array_equal(K.centered_transpose(x, mean, scale=sc, backend="c"),
                                              _spec(x, mean, sc))


def test_out_and_any_layout():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 9))
    mean = x.mean(axis=0)
    for backend in BACKENDS:
        out = np.full((9, 40), np.nan)
        assert K.centered_transpose(x, mean, out=out, backend=backend) is out
        np.testing.assert_array_equal(out, _spec(x, mean, None))
        np.testing.assert_array_equal(K.centered_transpose(np.asfortranarray(x), mean, backend=backend),
                                      _spec(x, mean, None))


def test_errors_name_the_argument():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        K.centered_transpose(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"scale must have shape \(4,\)"):
        K.centered_transpose(x, np.zeros(3), scale=np.ones(3))
    with pytest.raises(TypeError, match="mean has dtype float32"):
        K.centered_transpose(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="x must be 2-D"):
        K.centered_transpose(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 4\)"):
        K.centered_transpose(x, np.zeros(3), out=np.empty((4, 3)))
    buf = np.zeros(12)
    with pytest.raises(ValueError, match="out overlaps x"):
        K.centered_transpose(buf.reshape(4, 3), np.zeros(3), out=buf.reshape(3, 4))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_result_that_is_not_finite_raises(dtype, isa):  # (isa: conftest's fixture, for C's paths)
    big = np.finfo(dtype).max
    for shape in ((13, 3), (16, 16), (37, 41)):  # the element-wise edge alone; register blocks; both
        for where in ((0, 0), (shape[0] - 1, shape[1] - 1), (8, 2)):  # a block's first, an edge's last
            x = np.zeros(shape, dtype)
            mean, scale = np.zeros(shape[1], dtype), np.ones(shape[0], dtype)
            for bad, m, s in ((np.nan, 0, None), (np.inf, 0, None), (big, -big, None), (big / 2, 0, 4.0)):
                x[where] = bad
                mean[where[1]] = m
                sc = None if s is None else np.where(np.arange(shape[0]) == where[0], s, 1).astype(dtype)
                for backend in BACKENDS:
                    with pytest.raises(FloatingPointError, match="a result is not finite"):
                        K.centered_transpose(x, mean, scale=sc, backend=backend)
                x[where], mean[where[1]] = 0, 0
            for backend in BACKENDS:  # (and back to finite: no stale flag)
                K.centered_transpose(x, mean, scale=scale, backend=backend)
