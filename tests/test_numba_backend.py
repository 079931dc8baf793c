"""The Numba backend against the NumPy reference, function by function.

Every kernel x dtype x a few shapes (1, primes, sizes that are not multiples of
the 8/256-lane blocks), run twice: on the serial variants, and with the
parallel threshold lowered so that the same small inputs take the ``prange``
variants. Tolerances: float32 rtol 1e-5 (1e-4 where a gemm sums over k),
float64 1e-12 (1e-10 after a gemm), relative to the largest magnitude of the
expected array (so cancellation near zero does not count as an error).
Optimizer updates are bit-identical to the reference (same operations in the
same dtype, no FMA contraction), as are dropout masks.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from fastnn.backends import _numba_elementwise as ew  # noqa: E402
from fastnn.backends import _numba_math as nm  # noqa: E402
from fastnn.backends import numba as nb  # noqa: E402
from fastnn.backends import reference as ref  # noqa: E402
from fastnn.backends._common import ACTIVATIONS, NEEDS_INPUT_FOR_GRAD, dropout_key, dropout_threshold  # noqa: E402

DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
RTOL_GEMM = {np.float32: 1e-4, np.float64: 1e-10}
ACT_CODES = sorted(ACTIVATIONS.values())
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(params=["serial", "parallel"])
def mode(request, monkeypatch):
    """Run a test on the serial variants, then with every size taking the parallel ones."""
    if request.param == "parallel":
        monkeypatch.setattr(nb, "PAR_MIN_WORK", 1)
        nb.set_num_threads(max(2, numba.config.NUMBA_NUM_THREADS))
    else:
        nb.set_num_threads(1)
    yield request.param
    nb.set_num_threads(1)


def rng_for(*key):
    # crc32, not hash(): str hashes change every process, and so would the test data
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def close(actual, expected, rtol, what=""):
    """assert |actual - expected| <= rtol * max|expected| elementwise (and same NaN/inf)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected), initial=0.0)) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


# --------------------------------------------------------------------------- gemm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (5, 7, 3), (33, 65, 17), (1, 40, 9)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.5, 0.0), (2.0, 0.5), (-1.0, 1.0)])
def test_gemm(dtype, m, k, n, trans_a, trans_b, alpha, beta):
    rng = rng_for("gemm", m, k, n)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    want, got = c0.copy(), c0.copy()
    ref.gemm(want, a, b, trans_a, trans_b, alpha, beta)
    nb.gemm(got, a, b, trans_a, trans_b, alpha, beta)
    close(got, want, RTOL_GEMM[dtype])


# -------------------------------------------------------------------- activations


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 301)])
@pytest.mark.parametrize("act", ACT_CODES)
def test_activation_forward_backward(mode, dtype, shape, act):
    rng = rng_for("act", shape, act)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x.flat[:4] = [0.0, -0.0, 40.0, -40.0][: x.size]  # zeros and saturation
    dy = rng.standard_normal(shape).astype(dtype)
    param = 0.1 if act in (ACTIVATIONS["leaky_relu"], ACTIVATIONS["elu"]) else 0.0
    want, got = np.empty_like(x), np.empty_like(x)
    ref.act_forward(want, x, act, param)
    nb.act_forward(got, x, act, param)
    close(got, want, RTOL[dtype], "forward")
    dwant, dgot = np.empty_like(x), np.empty_like(x)
    ref.act_backward(dwant, dy, want, x, act, param)
    nb.act_backward(dgot, dy, want, x, act, param)
    close(dgot, dwant, RTOL[dtype], "backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_without_unused_saved_array(dtype):
    """The kernel API passes None for the saved array an activation does not read."""
    x = rng_for("none").standard_normal((9, 11)).astype(dtype)
    y, dy = np.tanh(x), np.ones_like(x)
    for act, yy, xx in ((ACTIVATIONS["tanh"], y, None), (ACTIVATIONS["gelu"], None, x)):
        want, got = np.empty_like(x), np.empty_like(x)
        ref.act_backward(want, dy, yy, xx, act, 0.0)
        nb.act_backward(got, dy, yy, xx, act, 0.0)
        close(got, want, RTOL[dtype])
    got = np.empty_like(x)  # identity reads neither (the reference needs y for its ones_like)
    nb.act_backward(got, dy, None, None, ACTIVATIONS["identity"], 0.0)
    np.testing.assert_array_equal(got, dy)


def same_bits(actual, expected, what=""):
    """assert the two arrays hold the same bits (-0.0 is not 0.0)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    uint = np.dtype(f"u{actual.itemsize}")
    np.testing.assert_array_equal(actual.view(uint), expected.view(uint), err_msg=what)


def saved_for(act, y, x):
    """(y, x) as the kernel API passes them: None for the one the derivative does not read."""
    if act == ACTIVATIONS["identity"]:
        return None, None
    return (None, x) if act in NEEDS_INPUT_FOR_GRAD else (y, None)


def test_same_buffer_is_only_exact_aliasing():
    """Only the very same memory takes the single-array loops; a partial overlap (which
    the kernel API refuses) keeps the two-array loop and LLVM's overlap check."""
    a = np.zeros(64)
    assert ew.same_buffer(a, a) and ew.same_buffer(a[8:], a[8:])
    assert not ew.same_buffer(a[1:], a[:-1])  # shifted by one element
    assert not ew.same_buffer(a[:32], a)  # same start, another size
    assert not ew.same_buffer(a, a.copy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACT_CODES)
def test_activation_in_place(mode, dtype, act):
    """out=x and out=dy (the kernel API allows both) run a single-array copy of each loop
    (see "In place" in _numba_elementwise): the same bits as out of place."""
    rng = rng_for("inplace", act)
    x = (rng.standard_normal((5, 301)) * 3).astype(dtype)  # 1505: a vector tail in every dtype
    x.flat[:4] = [0.0, -0.0, 40.0, -40.0]
    dy = rng.standard_normal(x.shape).astype(dtype)
    param = 0.1 if act in (ACTIVATIONS["leaky_relu"], ACTIVATIONS["elu"]) else 0.0
    want = np.empty_like(x)
    ref.act_forward(want, x, act, param)
    y = np.empty_like(x)
    nb.act_forward(y, x, act, param)
    got = x.copy()
    nb.act_forward(got, got, act, param)
    same_bits(got, y, "forward")
    close(got, want, RTOL[dtype], "forward")

    ys, xs = saved_for(act, y, x)  # the stand-in for the unread one is then dy: dx itself
    dwant = np.empty_like(x)
    nb.act_backward(dwant, dy, ys, xs, act, param)
    dgot = dy.copy()
    nb.act_backward(dgot, dgot, ys, xs, act, param)
    same_bits(dgot, dwant, "backward")


# ------------------------------------------------------------------------- dense


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (13, 7, 10), (64, 33, 50)])
@pytest.mark.parametrize("act", ACT_CODES)
def test_dense_forward_backward(mode, dtype, n, i, o, act):
    rng = rng_for("dense", n, i, o, act)
    x = rng.standard_normal((n, i)).astype(dtype)
    w = (rng.standard_normal((i, o)) / math.sqrt(i)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    param = 0.2 if act in (ACTIVATIONS["leaky_relu"], ACTIVATIONS["elu"]) else 0.0
    out_r, z_r = np.empty((n, o), dtype), np.empty((n, o), dtype)
    ref.dense_forward(out_r, z_r, x, w, b, act, param)
    out_n, z_n = np.empty((n, o), dtype), np.empty((n, o), dtype)
    nb.dense_forward(out_n, z_n, x, w, b, act, param)
    close(z_n, z_r, RTOL_GEMM[dtype], "z")
    close(out_n, out_r, RTOL_GEMM[dtype], "out")
    out_only = np.empty((n, o), dtype)
    nb.dense_forward(out_only, None, x, w, b, act, param)  # the epilogue then runs in place in out
    same_bits(out_only, out_n, "out without preact")

    dout = rng.standard_normal((n, o)).astype(dtype)
    grads = {}
    for name, mod in (("ref", ref), ("nb", nb)):
        dx, dw = np.empty((n, i), dtype), np.empty((i, o), dtype)
        db, dz = np.empty(o, dtype), np.empty((n, o), dtype)
        mod.dense_backward(dx, dw, db, dz, dout, x, w, out_r, z_r, act, param)
        grads[name] = (dx, dw, db, dz)
    for label, got, want in zip(("dx", "dw", "db", "dz"), grads["nb"], grads["ref"]):
        close(got, want, RTOL_GEMM[dtype], label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACT_CODES)
def test_dense_backward_without_dx_and_dz_aliasing_dout(dtype, act):
    """dz = dout (what fastnn.nn's Dense passes): the same bits as a separate dz."""
    rng = rng_for("dense-alias", act)
    x, w = rng.standard_normal((6, 4)).astype(dtype), rng.standard_normal((4, 37)).astype(dtype)
    b = rng.standard_normal(37).astype(dtype)
    param = 0.1 if act in (ACTIVATIONS["leaky_relu"], ACTIVATIONS["elu"]) else 0.0
    y, z = np.empty((6, 37), dtype), np.empty((6, 37), dtype)
    ref.dense_forward(y, z, x, w, b, act, param)
    ys, zs = saved_for(act, y, z)
    dout = rng.standard_normal((6, 37)).astype(dtype)
    dw_r, db_r, dz_r = np.empty((4, 37), dtype), np.empty(37, dtype), np.empty((6, 37), dtype)
    ref.dense_backward(None, dw_r, db_r, dz_r, dout.copy(), x, w, y, z, act, param)
    want = np.empty((4, 37), dtype), np.empty(37, dtype), np.empty((6, 37), dtype)
    nb.dense_backward(None, *want, dout, x, w, ys, zs, act, param)
    dw, db, d = np.empty((4, 37), dtype), np.empty(37, dtype), dout.copy()
    nb.dense_backward(None, dw, db, d, d, x, w, ys, zs, act, param)
    for label, got, exp in zip(("dw", "db", "dz"), (dw, db, d), want):
        same_bits(got, exp, label)
    close(dw, dw_r, RTOL_GEMM[dtype])
    close(db, db_r, RTOL_GEMM[dtype])
    close(d, dz_r, RTOL_GEMM[dtype])


# ------------------------------------------------------------------------ losses


@pytest.mark.parametrize("dtype", DTYPES)
# (700, 3) and (50, 100): rows over more than one block of the flat exp pass; k = 100: whole 16-lane blocks
@pytest.mark.parametrize("n,k", [(1, 1), (1, 7), (37, 10), (300, 3), (700, 3), (50, 100)])
@pytest.mark.parametrize("grad", [True, False])
def test_softmax_xent(mode, dtype, n, k, grad):
    rng = rng_for("xent", n, k)
    logits = (rng.standard_normal((n, k)) * 4).astype(dtype)
    labels = rng.integers(0, k, n).astype(np.int32)
    g_r = np.empty_like(logits)
    loss_r = ref.softmax_xent(g_r, logits, labels)
    g_n = np.empty_like(logits) if grad else None
    loss_n = nb.softmax_xent(g_n, logits, labels)
    assert isinstance(loss_n, float)
    assert loss_n == pytest.approx(loss_r, rel=RTOL[dtype] * 10, abs=RTOL[dtype])
    if grad:
        close(g_n, g_r, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (33, 5), (257, 129)])
@pytest.mark.parametrize("fn", ["sigmoid_bce", "mse"])
@pytest.mark.parametrize("grad", [True, False])
def test_pair_losses(mode, dtype, shape, fn, grad):
    rng = rng_for(fn, shape)
    pred = (rng.standard_normal(shape) * 5).astype(dtype)
    target = rng.random(shape).astype(dtype)
    g_r = np.empty_like(pred)
    loss_r = getattr(ref, fn)(g_r, pred, target)
    g_n = np.empty_like(pred) if grad else None
    loss_n = getattr(nb, fn)(g_n, pred, target)
    assert isinstance(loss_n, float)
    assert loss_n == pytest.approx(loss_r, rel=RTOL[dtype], abs=0.0)
    if grad:
        close(g_n, g_r, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 255, 256, 40_001])
def test_penalties(mode, dtype, size):
    w = rng_for("pen", size).standard_normal(size).astype(dtype)
    for fn in ("l1", "l2"):
        got = getattr(nb, fn)(w)
        assert isinstance(got, float)
        assert got == pytest.approx(getattr(ref, fn)(w), rel=1e-13)  # float64 sums of the same values


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_drivers_take_the_callers_arrays(dtype):
    """sigmoid_bce's driver takes the 2-D arrays as the kernel API passes them and
    softmax_xent's allocates its row losses itself: three reshapes and an np.empty in
    Python cost 0.5 us, a fifth of a 128x10 call (sigmoid BCE ran at 1.1-1.3x the C time)."""
    rng = rng_for("drivers")
    x, t = (rng.standard_normal((9, 4)) * 3).astype(dtype), rng.random((9, 4)).astype(dtype)
    labels = rng.integers(0, 4, 9).astype(np.int32)
    for fn, args in ((ew.sigmoid_bce_serial, (x, t)), (ew.softmax_xent_serial, (x, labels))):
        want, got = np.empty_like(x), np.empty_like(x)
        loss = getattr(ref, "sigmoid_bce" if fn is ew.sigmoid_bce_serial else "softmax_xent")(want, *args)
        total = fn(got, *args, 1 / 9) if fn is ew.sigmoid_bce_serial else fn(got, *args, 1 / 9, 1)
        assert total / 9 == pytest.approx(loss, rel=RTOL[dtype] * 10)
        close(got, want, RTOL[dtype])


def test_loss_sums_do_not_depend_on_threads(monkeypatch):
    """Reductions are split in fixed chunks, so 1 and n threads give the same float."""
    x = rng_for("det").standard_normal(100_003)
    t = rng_for("det2").random(100_003)
    nb.set_num_threads(1)
    serial = (nb.l2(x), nb.mse(None, x, t), nb.sigmoid_bce(None, x, t))
    monkeypatch.setattr(nb, "PAR_MIN_WORK", 1)
    nb.set_num_threads(max(2, numba.config.NUMBA_NUM_THREADS))
    try:
        parallel = (nb.l2(x), nb.mse(None, x, t), nb.sigmoid_bce(None, x, t))
    finally:
        nb.set_num_threads(1)
    assert serial == parallel


def _fresh_llvm(fn, *args):
    """Optimised LLVM IR of `fn` compiled afresh for `args` (a jitted kernel loaded from
    the on-disk cache has none to show)."""
    fresh = numba.njit(error_model="numpy")(getattr(fn, "py_func", fn))
    fresh(*args)
    return fresh.inspect_llvm(fresh.signatures[0])


def _float32_width(llvm_ir):
    return max((int(w) for w in re.findall(r"<(\d+) x float>", llvm_ir)), default=1)


def _scale_loop(y, x):
    for i in range(x.size):
        y[i] = x[i] * np.float32(2.0)


def test_bce_vectorises_as_wide_as_a_plain_float32_loop():
    """Fused with its float64 sum, the float32 BCE loop took half the vector width of
    a float32 loop (8 floats where AVX-512 takes 16): 1.7-1.9x the C backend's time.
    (Not narrower is the property: where LLVM's tuning for the host prefers 256-bit
    vectors for simple loops, e.g. a Xeon reported as Rocket Lake, the plain loop takes
    8 floats and the BCE passes 16.)"""
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    plain = _float32_width(_fresh_llvm(_scale_loop, np.empty_like(x), x))
    bce = _float32_width(_fresh_llvm(ew._bce_block, None, x, x, np.float32(0.5), np.empty_like(x),
                                     np.empty_like(x)))
    assert bce >= plain


def _exp_loop(y, x):
    for i in range(x.size):
        y[i] = nm.vexp(x[i]) + nm.vexpm1(x[i])


def test_float32_exp_keeps_exponents_in_int32():
    """float32 exp/expm1 build 2^k in int32 lanes: in int64 lanes (int(k)) every float32
    loop calling them ran at half its vector width (sigmoid BCE at 1.2x the C time)."""
    x = np.linspace(-3, 3, 64, dtype=np.float32)
    llvm_ir = _fresh_llvm(_exp_loop, np.empty_like(x), x)
    assert re.search(r"fptosi <\d+ x float> %[\w.]+ to <\d+ x i32>", llvm_ir)
    assert not re.search(r"x i64>", llvm_ir)


def test_norms_sum_in_vector_registers():
    """l1 / l2 keep their float64 partial sums in a vector register: in an array they
    cost a load and a store per vector (up to 2x the C backend's time)."""
    llvm_ir = _fresh_llvm(ew._norm_drive, np.ones(100, np.float32), True)
    assert re.search(r"= phi <16 x double>", llvm_ir)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dots_sum_in_vector_registers(dtype):
    """The dots of the enet solver and of softmax backward keep SUM_LANES partial sums
    in a vector register, in the arrays' dtype: dot8's eight running sums ran scalar
    (enet 1.6-2.5x, softmax backward 1.3-3x the C backend's time)."""
    from fastnn.backends import _enet_numba as en

    lanes = rf"= phi <{nm.SUM_LANES} x {'float' if dtype == np.float32 else 'double'}>"
    v, xt = np.ones(40, dtype), np.ones((3, 40), dtype)
    gap = _fresh_llvm(en._gap, v[:3].copy(), dtype(1.0), dtype(0.5), xt, v, v.copy(), np.empty(3, dtype), False)
    assert re.search(lanes, gap)
    rows = _fresh_llvm(ew._softmax_backward_rows_body, xt.copy(), xt, xt, 0, 3)
    assert re.search(lanes, rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", ["xent", "forward", "epoch"])
def test_softmax_rows_reduce_in_vector_registers(dtype, kernel):
    """The row maxima and sums of softmax_xent, of the softmax forward (softmax_rows,
    which the dense epilogue calls) and of the Numba epoch's loss keep SUM_LANES partial
    results in a vector register (vmax / vsum): max8 / sum8's eight chains ran scalar, a
    call and a view per row (softmax_xent 1.5-2.1x, the forward 1.9-3.5x, the dense
    epilogue 1.6-2.7x the C backend's time); the epoch's scalar max and float64 sum per
    row took twice the time of vmax / vsum at 100 classes."""
    from fastnn.backends import _train_numba as tn

    lanes = rf"= phi <{nm.SUM_LANES} x {'float' if dtype == np.float32 else 'double'}>"
    x = np.ones((3, 40), dtype)
    if kernel == "xent":
        llvm_ir = _fresh_llvm(ew._xent_drive, x.copy(), x, np.zeros(3, np.int32), 1 / 3, 1)
    elif kernel == "epoch":
        llvm_ir = _fresh_llvm(tn._loss, tn.LOSS_SOFTMAX_XENT, x.copy(), x, np.zeros(3, np.int32),
                              np.empty((0, 40), dtype), np.arange(3), np.empty(0), 0.0, np.empty(3, dtype))
    else:  # softmax_rows, not the dense epilogue that calls it: compiling every activation took 9 s
        llvm_ir = _fresh_llvm(ew.softmax_rows, x.copy(), x, 0, 3)
    assert re.search(lanes, llvm_ir)


@numba.njit
def _vmax_vsum(v):
    return nm.vmax(v), nm.vsum(v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_vmax_vsum(dtype, size):
    """Row max and sum in the array's dtype over the 16-lane blocks and the tail; the max
    passes over a NaN (as csrc/reduce.h's fnn_rmax) and is -inf for nothing."""
    v = rng_for("vmax", size).standard_normal(size).astype(dtype)
    m, s = _vmax_vsum(v)
    assert m == (v.max() if size else -np.inf)
    assert abs(float(s) - np.sum(v, dtype=np.float64)) <= RTOL[dtype] * np.abs(v).sum(dtype=np.float64)
    if size >= 17:
        w = v.copy()
        w[size // 2] = np.nan  # in a block, not in the tail
        m, s = _vmax_vsum(w)
        assert m == np.nanmax(w) and np.isnan(s)
        w[-1] = np.inf  # in the tail
        assert _vmax_vsum(w)[0] == np.inf
        np.testing.assert_array_equal(_vmax_vsum(np.full(size, -np.inf, dtype)), (-np.inf, -np.inf))


@numba.njit
def _vdot(a, b):
    return nm.vdot(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_vdot(dtype, size):
    """a . b in the arrays' dtype over the 16-lane blocks and the tail; inf and NaN propagate."""
    a, b = (rng_for("vdot", size, k).standard_normal(size).astype(dtype) for k in (0, 1))
    got = _vdot(a, b)
    exact = np.dot(a.astype(np.float64), b.astype(np.float64))
    assert abs(float(got) - exact) <= RTOL[dtype] * np.abs(a.astype(np.float64) * b).sum()
    if size >= 17:
        for bad, expect in ((np.inf, np.inf), (np.nan, np.nan)):
            w = np.abs(a)
            w[size // 2] = bad  # in a block, not in the tail
            np.testing.assert_array_equal(_vdot(w, np.abs(b) + 1), expect)


# -------------------------------------------------------------------- optimizers

OPTIMIZERS = {
    "sgd": (0, (0.05,)),
    "momentum": (1, (0.05, 0.9, False)),
    "nesterov": (1, (0.05, 0.9, True)),
    "adagrad": (1, (0.05, 1e-8)),
    "rmsprop": (1, (0.05, 0.9, 1e-8)),
    "adam": (2, (0.01, 0.9, 0.999, 1e-8, 3)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("penalties", [(0.0, 0.0, 0.0), (1e-2, 1e-3, 1e-2)])
@pytest.mark.parametrize("size", [1, 37, 1000])
def test_optimizers(mode, dtype, name, penalties, size):
    nstate, args = OPTIMIZERS[name]
    fn = "momentum" if name == "nesterov" else name
    rng = rng_for("opt", name, size)
    p = rng.standard_normal(size).astype(dtype)
    g = rng.standard_normal(size).astype(dtype)
    states = [np.abs(rng.standard_normal(size)).astype(dtype) for _ in range(nstate)]
    p_n, states_n = p.copy(), [s.copy() for s in states]
    for _ in range(3):  # a short trajectory: the state feeds back
        getattr(ref, fn)(p, *states, g, *args, *penalties)
        getattr(nb, fn)(p_n, *states_n, g, *args, *penalties)
    if name == "adam" and dtype == np.float32:
        # the reference's lr_t is an np.float64, so its float32 step is computed in
        # float64 (NEP 50); the backend keeps the step in float32: ~1 ulp apart
        close(p_n, p, 1e-6)
        for s_n, s in zip(states_n, states):
            np.testing.assert_array_equal(s_n, s)
    else:
        np.testing.assert_array_equal(p_n, p)
        for s_n, s in zip(states_n, states):
            np.testing.assert_array_equal(s_n, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("penalties", [(1e-2, 0.0, 0.0), (0.0, 1e-3, 0.0), (0.0, 0.0, 1e-2), (-0.0, 0.0, 0.0)])
def test_optimizers_one_penalty_and_special_values(dtype, name, penalties):
    """Each penalty alone is its own compiled loop ("Penalties by type" in _numba_optim):
    bit for bit the reference, infinite parameters kept where a penalty is off."""
    nstate, args = OPTIMIZERS[name]
    fn = "momentum" if name == "nesterov" else name
    rng = rng_for("opt1", name)
    p = rng.standard_normal(37).astype(dtype)
    p[:6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-30]
    g = rng.standard_normal(37).astype(dtype)
    states = [np.abs(rng.standard_normal(37)).astype(dtype) for _ in range(nstate)]
    p_n, states_n = p.copy(), [s.copy() for s in states]
    with np.errstate(invalid="ignore"):
        getattr(ref, fn)(p, *states, g, *args, *penalties)
    getattr(nb, fn)(p_n, *states_n, g, *args, *penalties)
    if name == "adam" and dtype == np.float32:  # see test_optimizers (the infinities still equal)
        np.testing.assert_allclose(p_n, p, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(p_n, p)
    for s_n, s in zip(states_n, states):
        np.testing.assert_array_equal(s_n, s)


def test_penalties_that_are_off_compile_out_of_the_loop():
    """A penalty of 0 reaches the loop as None, so no test of it is left inside (a runtime
    flag left branches in the vector loop: coupled L2 ran at twice the C backend's time)."""
    from fastnn.backends import _numba_optim as opt

    p, g = np.zeros(5), np.ones(5)
    nb.sgd(p, g, 0.1, 1e-4, 0.0, 0.0)
    assert any(sig.args[3:] == (numba.types.float64, numba.types.none, numba.types.none)
               for sig in opt.sgd_loop.nopython_signatures)
    v = np.zeros(5)
    nb.momentum(p, v, g, 0.1, 0.9, True, 0.0, 0.0, 0.0)
    assert len(opt.nesterov_loop.nopython_signatures) >= 1  # nesterov: its own loop, not a flag


@pytest.mark.parametrize("dtype", DTYPES)
def test_l1_proximal_gives_exact_zeros(dtype):
    p = np.array([1e-4, -1e-4, 0.5, -0.5, 0.0], dtype)
    nb.sgd(p, np.zeros_like(p), 0.1, 0.0, 1e-2, 0.0)
    assert p[0] == 0 and p[1] == 0 and p[4] == 0 and p[2] > 0 and p[3] < 0


# ----------------------------------------------------------------------- dropout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 9, 1001, 70_001])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_bit_identical(mode, dtype, size, p):
    x = rng_for("drop", size).standard_normal(size).astype(dtype)
    x[::7] = -0.0  # the sign of zeros must survive as in the reference
    key, thr, scale = dropout_key(1234, 56), dropout_threshold(p), 1.0 / (1.0 - p)
    want, got = np.empty_like(x), np.empty_like(x)
    ref.dropout(want, x, key, thr, scale)
    nb.dropout(got, x, key, thr, scale)
    assert want.tobytes() == got.tobytes()
    nb.dropout(x, x, key, thr, scale)  # in place (the kernel API allows out=x)
    assert want.tobytes() == x.tobytes()


def test_dropout_extreme_keys():
    x = np.ones(1000)
    for key in (0, 1, 2**63, 2**64 - 1):
        want, got = np.empty_like(x), np.empty_like(x)
        ref.dropout(want, x, key, dropout_threshold(0.5), 2.0)
        nb.dropout(got, x, key, dropout_threshold(0.5), 2.0)
        assert want.tobytes() == got.tobytes()


# ------------------------------------------------- vectorisable transcendental math


def _apply(f):
    @numba.njit(error_model="numpy")
    def run(y, x):
        for i in range(x.size):
            y[i] = f(x[i])

    return run


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fn,numpy_fn,lo,hi", [
    ("exp", nm.vexp, np.exp, -80.0, 80.0),
    ("expm1", nm.vexpm1, np.expm1, -30.0, 30.0),
    ("tanh", nm.vtanh, np.tanh, -12.0, 12.0),
    ("log1p_unit", nm.vlog1p_unit, np.log1p, 0.0, 1.0),
])
def test_vector_math_accuracy(dtype, name, fn, numpy_fn, lo, hi):
    """Within a few ulp of the correctly rounded float64 result, everywhere sampled."""
    rng = rng_for("math", name)
    x = np.concatenate([rng.uniform(lo, hi, 20_000), rng.uniform(-1e-3, 1e-3, 1000) * (lo < 0),
                        [lo, hi, 0.0, 1e-30]]).astype(dtype)
    y = np.empty_like(x)
    _apply(fn)(y, x)
    exact = numpy_fn(x.astype(np.float64))
    ulps = np.abs(y - exact) / (np.spacing(np.abs(exact).astype(dtype)).astype(np.float64))
    assert ulps.max() < 4, f"{name} {np.dtype(dtype).name}: {ulps.max():.1f} ulp at x={x[np.argmax(ulps)]}"


@numba.njit
def _lane_sums(v):
    return nm.dsum(v), nm.dsumabs(v), nm.dsumsq(v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_lane_sums(dtype, size):
    """dsum, dsumabs, dsumsq: float64 sums of v, |v|, v^2 over the 16-lane blocks and the tail."""
    v = rng_for("lanes", size).standard_normal(size).astype(dtype)
    want = (np.sum(v, dtype=np.float64), np.sum(np.abs(v), dtype=np.float64), np.sum(np.square(v, dtype=np.float64)))
    np.testing.assert_allclose(_lane_sums(v), want, rtol=1e-13, atol=1e-13)
    if size >= 17:
        for bad, expect in ((np.inf, (np.inf,) * 3), (np.nan, (np.nan,) * 3), (-np.inf, (-np.inf, np.inf, np.inf))):
            w = v.copy()
            w[size // 2] = bad  # in a block, not in the tail
            np.testing.assert_array_equal(_lane_sums(w), expect)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_math_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, -1000.0, 1000.0], dtype)
    for fn, numpy_fn in ((nm.vexp, np.exp), (nm.vexpm1, np.expm1), (nm.vtanh, np.tanh)):
        y = np.empty_like(x)
        _apply(fn)(y, x)
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(y, numpy_fn(x))


def test_exp_subnormal_range():
    x = np.array([-700.0, -740.0, -745.0, -746.0])
    y = np.empty_like(x)
    _apply(nm.vexp)(y, x)
    np.testing.assert_allclose(y, np.exp(x), rtol=1e-3, atol=0)  # subnormals keep few bits


_verf = _apply(nm.verf)  # one dispatcher: each dtype compiles once for the tests below


def _erf_ulps(dtype):
    """(x, |verf(x) - erf(x)| in ulps of dtype) over a dense grid of [-7, 7] and tiny x."""
    fi = np.finfo(dtype)
    x = np.concatenate([np.linspace(0.0, 7.0, 70001, dtype=dtype),
                        np.array([fi.smallest_subnormal, 3 * fi.smallest_subnormal, fi.tiny / 3,
                                  fi.tiny, 1e-30, 1e-8], dtype)])
    x = np.concatenate([x, -x])
    got = np.empty_like(x)
    _verf(got, x)
    want = np.vectorize(math.erf)(x.astype(np.float64))  # libm: within 1 ulp of erf
    return x, np.abs(got - want) / np.spacing(np.abs(want).astype(dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_verf_accuracy(dtype):
    # measured: float64 within 1.09 ulp of the exact erf (mpmath, [-7, 7] and
    # subnormals), 1.0 of math.erf; float32 2.2 ulp of math.erf, near |x| = 0.46
    x, err = _erf_ulps(dtype)
    limit = 2 if dtype == np.float64 else 3
    assert err.max() <= limit, f"{err.max():.2f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_verf_special_values(dtype):
    big = np.finfo(dtype).max
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, 1e30, -1e30, 6.0, -4.0], dtype)
    got = np.empty_like(x)
    _verf(got, x)
    np.testing.assert_array_equal(got, np.array([math.erf(v) for v in x.tolist()], dtype))
    assert np.signbit(got[:2]).tolist() == [False, True]


def test_verf_coefficients_match_c_header():
    """verf is the C backend's erf (csrc/simd_math.h): the same fitted coefficients."""
    with open(os.path.join(ROOT, "csrc", "simd_math.h")) as f:
        src = f.read()
    for name, table in (("FNN_ERF_P_F64", nm._ERF_P_64), ("FNN_ERFCX_R_F64", nm._ERFCX_R_64)):
        body = re.search(name + r"\[\d+\] = \{(.*?)\};", src, re.DOTALL).group(1)
        assert [float(v) for v in body.split(",") if v.strip()] == list(table), name
    # float32: literals in the body, "float p = c0f;" then "p = p * z + cif;" (q: in t)
    body = re.search(r"float fnn_verf_f32\(float x\) \{(.*?)\n\}", src, re.DOTALL).group(1)
    for var, arg, table in (("p", "z", nm._ERF_P_32), ("q", "t", nm._ERFC_Q_32)):
        c = re.findall(rf"\b{var} = (?:{var} \* {arg} \+ )?(\S+)f;", body)
        np.testing.assert_array_equal(np.float32(c), np.float32(table), err_msg=var)


# ---------------------------------------------------------------- threads, cache


def test_set_num_threads_clamps():
    nb.set_num_threads(10_000)
    assert nb.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    nb.set_num_threads(0)
    assert nb.get_num_threads() == 1


def test_parallel_drivers_with_more_chunks_than_items():
    x = np.arange(3.0)
    y = np.empty_like(x)
    ew.act_forward_parallel(y, x, ACTIVATIONS["relu"], 0.0, 8)
    np.testing.assert_array_equal(y, x)


_CACHE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from fastnn.backends import numba as nb, _numba_optim as opt, _numba_elementwise as ew
    p = np.ones(100, np.float32); g = np.ones(100, np.float32)
    nb.sgd(p, g, 0.1, 0.0, 0.0, 0.0)
    y = np.empty((4, 5)); nb.act_forward(y, np.ones((4, 5)), 3, 0.0)
    stats = {"sgd": [opt.sgd_loop.stats.cache_hits, opt.sgd_loop.stats.cache_misses],
             "act": [ew.act_forward_loop.stats.cache_hits, ew.act_forward_loop.stats.cache_misses]}
    print(json.dumps({k: [sum(v[0].values()), sum(v[1].values())] for k, v in stats.items()}))
""")


def test_second_process_loads_from_cache(tmp_path):
    """cache=True: a second process finds the compiled kernels on disk and does not recompile."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CACHE_SCRIPT], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        runs.append(__import__("json").loads(out.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["sgd"] == [0, 1] and first["act"] == [0, 1]  # compiled, then saved
    assert second["sgd"] == [1, 0] and second["act"] == [1, 0]  # loaded, nothing compiled
    assert any(name.endswith(".nbi") for _, _, files in os.walk(tmp_path) for name in files)


def test_import_compiles_nothing():
    code = ("import fastnn.backends.numba as nb, fastnn.backends._numba_optim as o;"
            "print(len(o.sgd_loop.signatures), len(o.adam_serial.signatures))")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0"]


def test_bench_sizes_batches_from_a_warm_call():
    """`fastnn bench` sized its batches by the first call, which for a Numba kernel is the
    compile or cache load: it then timed one cold call per batch (softmax_xent at 128x10
    read 3x the C time; 1.0x with warm batches)."""
    from fastnn import bench

    x = np.ones(8)
    kernel = numba.njit(lambda v: v.sum())  # compiled by its first call (tens of ms)
    t = bench.time_round_robin({"numba": lambda: kernel(x)}, repeat=2, min_time=0.005)
    assert t["numba"].number > 10
