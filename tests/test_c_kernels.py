"""The C backend's non-GEMM kernels against the NumPy reference, on both ISA paths.

Every elementwise, loss, optimizer and dropout kernel of csrc/ is run through
fastnn.backends.c on the generic path and on the AVX2+FMA path (switched in
process with ``lib.fnn_set_isa``), in float32 and float64, over shapes that hit
every vector tail (1x1, primes, non-multiples of 8/16) and one array larger than
L2 (also split over two threads), and compared with fastnn.backends.reference.

Tolerances (relative, with a small absolute floor for results that cancel):
float32 rtol 1e-5, float64 rtol 1e-12 for elementwise results; the transcendental
math of csrc/simd_math.h is also checked in ulps against float64 / libm.
Cross-backend and finite-difference tests live elsewhere; these are about C.
"""
from __future__ import annotations

import contextlib
import math
import zlib

import numpy as np
import pytest

c_backend = pytest.importorskip("fastnn.backends.c")
from fastnn._cfastnn import lib  # noqa: E402
from fastnn.backends import reference as ref  # noqa: E402
from fastnn.backends._common import ACTIVATIONS, dropout_key, dropout_threshold  # noqa: E402

DTYPES = [np.float32, np.float64]
ISAS = [0, 1, 2]  # generic, AVX2+FMA, AVX-512F (skipped where the CPU lacks them)
SMALL_SHAPES = [(1, 1), (1, 7), (3, 5), (7, 13), (17, 31), (5, 67), (33, 129)]
BIG_SHAPE = (1031, 769)  # 3.2 MB in float32: larger than the 2 MB L2, and split over threads
ELEMWISE = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "elu"]
PARAM = {"leaky_relu": 0.03, "elu": 0.7}


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def assert_grad_close(got, want, x, name, dtype, msg=""):
    """Backward results. The gelu derivatives subtract terms as large as ~|x|^3 eps
    near their minimum (x ~ -2..-4), in the reference as in C, so the absolute
    tolerance grows with x^2 there; elsewhere the plain tolerance applies."""
    t = tol(dtype)
    atol = t["atol"] * (1 + x.astype(np.float64) ** 2) if name.startswith("gelu") else t["atol"]
    err = np.abs(got.astype(np.float64) - want) - t["rtol"] * np.abs(want.astype(np.float64))
    bad = err > atol
    assert not bad.any(), (f"{msg} {name}: {np.count_nonzero(bad)} elements off, e.g. x={x[bad][:3]} "
                           f"got={got[bad][:3]} want={want[bad][:3]}")


@contextlib.contextmanager
def isa_and_threads(isa, threads=1, zmm_divide=None):
    """Run the C kernels on one ISA path and thread count (and, when zmm_divide is not
    None, with the optimizer updates' 512-bit form forced on or off); restore all after."""
    old_isa, old_threads, old_zmm = lib.fnn_get_isa(), lib.fnn_get_num_threads(), lib.fnn_get_zmm_divide()
    if isa == 1 and not lib.fnn_cpu_has_avx2_fma():
        pytest.skip("this CPU has no AVX2+FMA")
    if isa == 2 and not lib.fnn_cpu_has_avx512f():
        pytest.skip("this CPU has no AVX-512F")
    assert lib.fnn_set_isa(isa) == isa
    lib.fnn_set_num_threads(threads)
    if zmm_divide is not None:
        lib.fnn_set_zmm_divide(int(zmm_divide))
        assert lib.fnn_get_zmm_divide() == int(zmm_divide)
    try:
        yield
    finally:
        lib.fnn_set_isa(old_isa)
        lib.fnn_set_num_threads(old_threads)
        lib.fnn_set_zmm_divide(old_zmm)


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def data(shape, dtype, scale=2.0, *key):
    return (rng_for(shape, np.dtype(dtype).name, *key).standard_normal(shape) * scale).astype(dtype)


# an input row with every awkward value: huge, the exp overflow/underflow edges,
# subnormals, signed zeros
EXTREMES = [0.0, -0.0, 1e-30, -1e-30, 1e-40, -1e-40, 5e-324, 1.0, -1.0, 9.0, -9.0, 20.0, -20.0,
            87.0, -87.0, 88.0, -88.0, 88.8, -88.8, 89.0, -89.0, 103.0, -104.0, 200.0, -200.0,
            709.0, -709.0, 710.0, -745.0, -746.0, 1000.0, -1000.0, 3.0e38, -3.0e38]


def extreme_row(dtype):
    return np.array([EXTREMES], dtype=dtype)


def ulps(got, want, dtype):
    """|got - want| in units of the last place of want (as dtype), 0 where equal."""
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    spacing = np.maximum(np.spacing(np.abs(want).astype(dtype)).astype(np.float64),
                         np.finfo(dtype).smallest_subnormal)
    err = np.abs(got - want) / spacing
    err[got == want] = 0.0
    return err


# ------------------------------------------------------------------ activations


def run_forward(mod, x, name):
    y = np.empty_like(x)
    with np.errstate(all="ignore"):
        mod.act_forward(y, x, ACTIVATIONS[name], PARAM.get(name, 0.0))
    return y


def run_backward(mod, dy, y, x, name):
    dx = np.empty_like(dy)
    with np.errstate(all="ignore"):
        mod.act_backward(dx, dy, y, x, ACTIVATIONS[name], PARAM.get(name, 0.0))
    return dx


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMWISE + ["softmax"])
@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_activation_small(isa, dtype, name, shape):
    x = data(shape, dtype)
    dy = data(shape, dtype, 1.0, "dy")
    with isa_and_threads(isa):
        y_c = run_forward(c_backend, x, name)
        y_r = run_forward(ref, x, name)
        np.testing.assert_allclose(y_c, y_r, **tol(dtype), err_msg=f"{name} forward")
        dx_c = run_backward(c_backend, dy, y_r, x, name)
        dx_r = run_backward(ref, dy, y_r, x, name)
        assert_grad_close(dx_c, dx_r, x, name, dtype, "backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMWISE + ["softmax"])
def test_activations_avx512_same_bits_as_avx2(dtype, name):
    """The elementwise passes compiled for 16 lanes compute what the 8-lane ones do (same
    source, same contractions); softmax runs its AVX2 passes on an AVX-512 CPU."""
    x = np.concatenate([data((1, 1003), dtype, 30.0).ravel(), np.array([0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0,
                                                                        700.0, -700.0, np.inf, -np.inf], dtype)])
    x = x[: x.size // 13 * 13].reshape(13, -1)
    dy = data(x.shape, dtype, 1.0, "dy")
    out = {}
    for isa in (1, 2):
        with isa_and_threads(isa):
            y = run_forward(c_backend, x, name)
            out[isa] = (y, run_backward(c_backend, dy, y, x, name))
    for a, b in zip(out[1], out[2]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ELEMWISE + ["softmax"])
def test_activation_large(isa, dtype, threads, name):
    x = data(BIG_SHAPE, dtype, 3.0)
    dy = data(BIG_SHAPE, dtype, 1.0, "dy")
    with isa_and_threads(isa, threads):
        y_r = run_forward(ref, x, name)
        np.testing.assert_allclose(run_forward(c_backend, x, name), y_r, **tol(dtype))
        assert_grad_close(run_backward(c_backend, dy, y_r, x, name), run_backward(ref, dy, y_r, x, name),
                          x, name, dtype)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMWISE + ["softmax"])
def test_activation_in_place(isa, dtype, name):
    """y may be x and dx may be dy (kernels.py allows exactly that aliasing)."""
    x = data((9, 37), dtype)
    dy = data((9, 37), dtype, 1.0, "dy")
    with isa_and_threads(isa):
        y_r = run_forward(ref, x, name)
        buf = x.copy()
        c_backend.act_forward(buf, buf, ACTIVATIONS[name], PARAM.get(name, 0.0))
        np.testing.assert_allclose(buf, y_r, **tol(dtype))
        dx_r = run_backward(ref, dy, y_r, x, name)
        g = dy.copy()
        c_backend.act_backward(g, g, y_r, x, ACTIVATIONS[name], PARAM.get(name, 0.0))
        assert_grad_close(g, dx_r, x, name, dtype)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMWISE + ["softmax"])
def test_activation_extreme_inputs(isa, dtype, name):
    """+-1000, the exp overflow edges, subnormals: finite where the reference is, and equal."""
    x = extreme_row(dtype)
    with isa_and_threads(isa):
        y_c = run_forward(c_backend, x, name)
        y_r = run_forward(ref, x, name)
        assert not np.isnan(y_c).any(), f"{name}: NaN at x={x[np.isnan(y_c)]}"
        np.testing.assert_array_equal(np.isfinite(y_c), np.isfinite(y_r))
        fin = np.isfinite(y_r)
        # gelu_tanh cubes x: 3e38^3 overflows to inf in both, elsewhere compare
        np.testing.assert_allclose(y_c[fin], y_r[fin], **tol(dtype))
        dy = np.ones_like(x)
        dx_c = run_backward(c_backend, dy, y_r, x, name)
        dx_r = run_backward(ref, dy, y_r, x, name)
        ok = np.isfinite(dx_r)
        assert not np.isnan(dx_c[ok]).any()
        assert_grad_close(dx_c[ok], dx_r[ok], x[ok], name, dtype)


def test_softmax_rows_extreme():
    """Max-subtracted: rows of +-1000 and +-88 give a finite distribution summing to 1."""
    for dtype in DTYPES:
        x = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -1000.0], [88.0, 89.0, -88.0]], dtype)
        for isa in ISAS:
            with isa_and_threads(isa):
                y = run_forward(c_backend, x, "softmax")
                assert np.isfinite(y).all()
                np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
                np.testing.assert_allclose(y, run_forward(ref, x, "softmax"), **tol(dtype))


# accuracy of the vector math (csrc/simd_math.h) in ulps, not only against the reference
def _dense_grid(dtype):
    rng = np.random.default_rng(7)
    parts = [rng.standard_normal(20000) * s for s in (1e-6, 1e-3, 0.1, 1.0, 4.0, 20.0)]
    parts.append(np.linspace(-120.0, 100.0, 20001))
    return np.concatenate(parts).astype(dtype)[None, :]


F64_EXACT = {  # float64 formulas of each activation, evaluated at float64 precision
    "sigmoid": lambda x: np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                                  np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))),
    "tanh": np.tanh,
    "softplus": lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    "elu": lambda x: np.where(x > 0, x, PARAM["elu"] * np.expm1(np.minimum(x, 0))),
}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", sorted(F64_EXACT))
def test_float32_math_within_few_ulp(isa, name):
    x = _dense_grid(np.float32)
    want = F64_EXACT[name](x.astype(np.float64))
    with isa_and_threads(isa), np.errstate(all="ignore"):
        got = run_forward(c_backend, x, name)
    err = ulps(got, want, np.float32)
    limit = 6 if name == "tanh" else 4  # tanh: a rational approximation (csrc/simd_math.h)
    assert err.max() <= limit, f"{name}: {err.max()} ulp at x={x[0, err.argmax()]!r}"


@pytest.mark.parametrize("isa", ISAS)
def test_float32_erf_within_few_ulp(isa):
    """gelu = 0.5 x (1 + erf(x/sqrt2)); check erf itself through x > 0 (no cancellation)."""
    from scipy.special import erf

    x = np.abs(_dense_grid(np.float32))
    want = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) * 0.7071067811865476))
    with isa_and_threads(isa):
        got = run_forward(c_backend, x, "gelu")
    assert ulps(got, want, np.float32).max() <= 4


@pytest.mark.parametrize("isa", ISAS)
def test_float64_erf_within_few_ulp(isa):
    """gelu = 0.5 x (1 + erf(x/sqrt2)), against libm's erf (math.erf: within 1 ulp of the
    correctly rounded erf, checked with mpmath; scipy.special.erf is up to 2.6 ulp off).
    For x <= -1.2, 1 + erf is exact (Sterbenz) and below 0.24, a multiple of 2^-53 that
    gelu / (0.5 x) recovers exactly: erf itself is checked in ulps. For x >= 0 gelu itself
    is checked: there one ulp of 1 + erf can be two of gelu."""
    erf = np.vectorize(math.erf)
    x = _dense_grid(np.float64)[0]
    u = x * 0.7071067811865476
    with isa_and_threads(isa):
        y = run_forward(c_backend, x[None, :], "gelu")[0]
    neg = x <= -1.2
    got = np.round(y[neg] / (0.5 * x[neg]) * 2.0**53) * 2.0**-53 - 1.0
    err = ulps(got, erf(u[neg]), np.float64)
    assert err.max() <= 2, f"erf: {err.max()} ulp at x={x[neg][err.argmax()]!r}"
    pos = x >= 0
    err = ulps(y[pos], 0.5 * x[pos] * (1 + erf(u[pos])), np.float64)
    assert err.max() <= 3, f"gelu: {err.max()} ulp at x={x[pos][err.argmax()]!r}"


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", sorted(F64_EXACT))
def test_float64_math_within_few_ulp(isa, name):
    x = _dense_grid(np.float64)
    with isa_and_threads(isa), np.errstate(all="ignore"):
        got = run_forward(c_backend, x, name)
        want = F64_EXACT[name](x)  # libm via NumPy: correctly rounded to ~1 ulp
    err = ulps(got, want, np.float64)
    assert err.max() <= 8, f"{name}: {err.max()} ulp at x={x[0, err.argmax()]!r}"


def test_subnormal_results_are_not_flushed():
    """exp underflows gradually: softmax of [0, -100] keeps e^-100 ~ 3.7e-44 in float32."""
    x = np.array([[0.0, -100.0, -103.0]], np.float32)
    for isa in ISAS:
        with isa_and_threads(isa):
            y = run_forward(c_backend, x, "softmax")
            assert y[0, 1] > 0 and y[0, 2] > 0
            want = np.exp(x[0, 1:].astype(np.float64)).astype(np.float32)  # rounded to subnormals
            np.testing.assert_allclose(y[0, 1:], want, rtol=0.02, atol=1.5e-45)


# ------------------------------------------------------------------------ losses

LOSS_SHAPES = [(1, 1), (1, 10), (7, 3), (13, 10), (64, 17), (5, 2100), (3, 3000)]


def loss_tol(dtype):
    return dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOSS_SHAPES + [BIG_SHAPE])
def test_softmax_xent(isa, dtype, shape):
    logits = data(shape, dtype, 3.0)
    labels = rng_for(shape, "labels").integers(0, shape[1], shape[0]).astype(np.int32)
    threads = 2 if shape == BIG_SHAPE else 1
    with isa_and_threads(isa, threads):
        d_r = np.empty_like(logits)
        loss_r = ref.softmax_xent(d_r, logits, labels)
        d_c = np.empty_like(logits)
        loss_c = c_backend.softmax_xent(d_c, logits, labels)
        np.testing.assert_allclose(loss_c, loss_r, **loss_tol(dtype))
        np.testing.assert_allclose(d_c, d_r, **tol(dtype))
        # no gradient buffer: the loss alone (long rows take the heap-scratch path)
        np.testing.assert_allclose(c_backend.softmax_xent(None, logits, labels), loss_r, **loss_tol(dtype))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_extreme(isa, dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [88.0, -88.0, 89.0],
                       [1e-40, -1e-40, 0.0]], dtype)
    labels = np.array([1, 0, 2, 0], np.int32)
    with isa_and_threads(isa):
        d_r = np.empty_like(logits)
        loss_r = ref.softmax_xent(d_r, logits, labels)
        d_c = np.empty_like(logits)
        loss_c = c_backend.softmax_xent(d_c, logits, labels)
        assert np.isfinite(loss_c) and np.isfinite(d_c).all()
        np.testing.assert_allclose(loss_c, loss_r, **loss_tol(dtype))
        np.testing.assert_allclose(d_c, d_r, **tol(dtype))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOSS_SHAPES + [BIG_SHAPE])
def test_sigmoid_bce_and_mse(isa, dtype, shape):
    z = data(shape, dtype, 4.0)
    t = (rng_for(shape, "t").random(shape)).astype(dtype)
    threads = 2 if shape == BIG_SHAPE else 1
    with isa_and_threads(isa, threads):
        for name in ("sigmoid_bce", "mse"):
            d_r, d_c = np.empty_like(z), np.empty_like(z)
            loss_r = getattr(ref, name)(d_r, z, t)
            loss_c = getattr(c_backend, name)(d_c, z, t)
            np.testing.assert_allclose(loss_c, loss_r, **loss_tol(dtype), err_msg=name)
            np.testing.assert_allclose(d_c, d_r, **tol(dtype), err_msg=name)
            np.testing.assert_allclose(getattr(c_backend, name)(None, z, t), loss_r, **loss_tol(dtype))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_bce_extreme(isa, dtype):
    z = extreme_row(dtype)
    z = z[np.abs(z) < 1e30][None, :]  # BCE of +-3e38 is inf-adjacent in the reference too
    t = (np.arange(z.size) % 2).astype(dtype)[None, :]
    with isa_and_threads(isa):
        d_r, d_c = np.empty_like(z), np.empty_like(z)
        loss_r = ref.sigmoid_bce(d_r, z, t)
        loss_c = c_backend.sigmoid_bce(d_c, z, t)
        assert np.isfinite(loss_c) and np.isfinite(d_c).all()
        np.testing.assert_allclose(loss_c, loss_r, **loss_tol(dtype))
        np.testing.assert_allclose(d_c, d_r, **tol(dtype))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 15, 16, 17, 1000, BIG_SHAPE[0] * BIG_SHAPE[1]])
def test_penalties(isa, dtype, size):
    w = data((size,), dtype, 1.5)
    with isa_and_threads(isa, 2 if size > 10**5 else 1):
        np.testing.assert_allclose(c_backend.l1(w), ref.l1(w), **loss_tol(dtype))
        np.testing.assert_allclose(c_backend.l2(w), ref.l2(w), **loss_tol(dtype))


# -------------------------------------------------------------------- optimizers

OPT_SIZES = [1, 13, 64, 1001, 140001]  # the last is split over two threads
PENALTY_SETS = [dict(l2=0.0, l1=0.0, wd=0.0), dict(l2=1e-2, l1=0.0, wd=0.0),
                dict(l2=0.0, l1=0.5, wd=0.0), dict(l2=1e-3, l1=0.05, wd=0.1)]


def optimizer_steps(mod, kind, p, g_seq, pen, nstate):
    states = [np.zeros_like(p) for _ in range(nstate)]
    lr, l2, l1, wd = 0.05, pen["l2"], pen["l1"], pen["wd"]
    for step, g in enumerate(g_seq, start=1):
        if kind == "sgd":
            mod.sgd(p, g, lr, l2, l1, wd)
        elif kind in ("momentum", "nesterov"):
            mod.momentum(p, states[0], g, lr, 0.9, kind == "nesterov", l2, l1, wd)
        elif kind == "adagrad":
            mod.adagrad(p, states[0], g, lr, 1e-8, l2, l1, wd)
        elif kind == "rmsprop":
            mod.rmsprop(p, states[0], g, lr, 0.9, 1e-8, l2, l1, wd)
        else:  # adam / adamw
            mod.adam(p, states[0], states[1], g, lr, 0.9, 0.999, 1e-8, step, l2, l1,
                     wd if kind == "adamw" else 0.0)
    return p, states


# (ISA level, fnn_set_zmm_divide): at AVX-512 the updates have a 512-bit form (full-rate dividers)
# and, for float64 Adam, a form for half-rate ones; both are run on any AVX-512 CPU
OPT_FORMS = [(isa, None) for isa in ISAS if isa < 2] + [(2, zmm) for isa in ISAS if isa == 2 for zmm in (0, 1)]
OPT_KINDS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


@pytest.mark.parametrize("isa,zmm", OPT_FORMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", OPT_KINDS)
@pytest.mark.parametrize("size,pen", [(size, pen) for size in OPT_SIZES for pen in range(len(PENALTY_SETS))
                                      if size <= 10**5 or pen == 3])  # large buffers: all penalties at once
def test_optimizer(isa, zmm, dtype, kind, size, pen):
    pen = PENALTY_SETS[pen]
    nstate = {"sgd": 0, "adam": 2, "adamw": 2}.get(kind, 1)
    p0 = data((size,), dtype, 1.0, "p")
    gs = [data((size,), dtype, 1.0, "g", s) for s in range(3)]
    with isa_and_threads(isa, 2 if size > 10**5 else 1, zmm), np.errstate(all="ignore"):
        p_r, s_r = optimizer_steps(ref, kind, p0.copy(), gs, pen, nstate)
        p_c, s_c = optimizer_steps(c_backend, kind, p0.copy(), gs, pen, nstate)
    t = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p_c, p_r, **t)
    for a, b in zip(s_c, s_r):
        np.testing.assert_allclose(a, b, **t)
    if pen["l1"]:
        zeros_r, zeros_c = p_r == 0, p_c == 0
        assert zeros_c.any() == zeros_r.any(), "proximal L1 must give exact zeros where the reference does"
        # generic C does the reference's operations in its order: identical zeros;
        # FMA contraction on AVX2 may move an element sitting on the threshold
        if isa == 0:
            np.testing.assert_array_equal(zeros_c, zeros_r)
        else:
            assert np.count_nonzero(zeros_c != zeros_r) <= max(1, size // 1000)


def _update_on_subnormals(kind, dtype, size):
    """One C update called alone on a zero gradient, with every parameter and state element
    subnormal (a quarter of the dtype's smallest normal): returns (params, states)."""
    sub = dtype(np.finfo(dtype).tiny / 4)
    p, g = np.full(size, sub, dtype), np.zeros(size, dtype)
    states = [np.full(size, sub, dtype) for _ in range({"sgd": 0, "adam": 2, "adamw": 2}.get(kind, 1))]
    from fastnn import kernels as K
    fn = getattr(K, kind + "_update")
    fn(p, g, *states, lr=0.1, backend="c", **({"step": 3} if kind.startswith("adam") else {}))
    return p, states


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_float32_updates_called_alone_flush_subnormals_unless_turned_off(kind, isa, threads):
    """c.set_flush_subnormals (on by default) covers the float32 updates called alone, not only
    the training epoch's: with it every subnormal input reads as zero and no subnormal is
    written, so the update of a zero gradient zeroes the parameters; off, and in float64, the
    subnormals are kept (the parameters move but stay non-zero). 2 threads: split updates."""
    size = 1 << 18 if threads == 2 else 37
    before = c_backend.get_flush_subnormals()
    try:
        with isa_and_threads(isa, threads):
            for flush in (True, False):
                c_backend.set_flush_subnormals(flush)
                for dtype in DTYPES:
                    p, states = _update_on_subnormals(kind, dtype, size)
                    tiny = np.finfo(dtype).tiny
                    if flush and dtype == np.float32:
                        np.testing.assert_array_equal(p, 0)
                        for a in [p] + states:
                            assert not np.any((a != 0) & (np.abs(a) < tiny)), "a subnormal was written"
                    else:
                        assert np.all(p != 0), f"{dtype.__name__} flush={flush}: subnormals must be kept"
    finally:
        c_backend.set_flush_subnormals(before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", OPT_KINDS)
@pytest.mark.parametrize("size,pen,threads", [(size, pen, 1) for size in (1, 15, 17, 1001) for pen in range(4)]
                         + [(140001, 3, 2)])
def test_optimizer_512bit_form_identical_to_avx2(dtype, kind, size, pen, threads):
    """The updates' 512-bit form (fnn_set_zmm_divide) gives the AVX2 form's bits, tails and
    thread splits included."""
    pen = PENALTY_SETS[pen]
    nstate = {"sgd": 0, "adam": 2, "adamw": 2}.get(kind, 1)
    p0 = data((size,), dtype, 1.0, "p")
    gs = [data((size,), dtype, 1.0, "g", s) for s in range(3)]
    out = []
    for isa, zmm in ((1, None), (2, 1)):
        with isa_and_threads(isa, threads, zmm), np.errstate(all="ignore"):
            p, states = optimizer_steps(c_backend, kind, p0.copy(), gs, pen, nstate)
        out.append([a.copy() for a in [p] + states])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def wide_values(rng, n):
    """float64 values over the whole exponent range, with zeros, subnormals, powers of
    two, infinities and NaNs mixed in: the cases the AVX-512 square root hands back to vsqrtpd."""
    x = rng.choice([-1.0, 1.0], n) * rng.uniform(1, 2, n) * np.exp2(rng.integers(-1074, 1024, n).astype(float))
    special = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.0, 0.5, 2.0**-30, 1e308,
                        np.inf, -np.inf, np.nan])
    k = rng.integers(0, n, n // 20)
    x[k] = rng.choice(special, len(k))
    return x


@pytest.mark.parametrize("size", [1, 7, 8, 13, 1001, 20000])
@pytest.mark.parametrize("eps", [1e-8, 0.0])
@pytest.mark.parametrize("pen", [dict(l2=0.0, wd=0.0), dict(l2=1e-4, wd=0.0), dict(l2=1e-3, wd=0.1)])
@pytest.mark.parametrize("zmm", [0, 1])
def test_adam_float64_avx512_identical_to_avx2(size, eps, pen, zmm):
    """The AVX-512 float64 Adams give the AVX2 form's bits, training magnitudes, then values over the whole
    range: zmm 0, the half-rate-divider form (every other vector's square root on the FMA ports, checked per
    lane); zmm 1, the 512-bit form of the AVX2 source."""
    rng = rng_for("adam512", size, eps, repr(pen))
    typical = [rng.standard_normal(size) * s for s in (1.0, 1e-3, 1e-2)] + [rng.uniform(0, 1e-4, size)]
    wide = [wide_values(rng, size) for _ in range(3)] + [np.abs(wide_values(rng, size))]
    for p, m, g, v in (typical, wide):
        out = {}
        for isa in (1, 2):
            with isa_and_threads(isa, 1, zmm if isa == 2 else None), np.errstate(all="ignore"):
                bufs = [p.copy(), m.copy(), v.copy()]
                for step in (1, 2, 50):
                    c_backend.adam(bufs[0], bufs[1], bufs[2], g, 0.01, 0.9, 0.999, eps, step, pen["l2"], 0.0,
                                   pen["wd"])
                out[isa] = [b.view(np.int64).copy() for b in bufs]
        for a, b in zip(out[1], out[2]):
            nan = np.isnan(a.view(np.float64)) & np.isnan(b.view(np.float64))
            np.testing.assert_array_equal(np.where(nan, 0, a), np.where(nan, 0, b))


# ----------------------------------------------------------------------- dropout


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 64, 1001, BIG_SHAPE[0] * BIG_SHAPE[1]])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("key", [None, 2**64 - 3], ids=["key", "wrapping"])  # the counter wraps mod 2^64
def test_dropout_bit_identical(isa, dtype, size, p, key):
    x = data((size,), dtype, 1.0, "x")
    x[::7] = -0.0  # signs of zero survive as NumPy gives them
    x[5::11] = np.nan
    key = dropout_key(12345, 678) if key is None else key
    thr, scale = dropout_threshold(p), 1.0 / (1.0 - p)
    with isa_and_threads(isa, 2 if size > 10**5 else 1):
        y_r, y_c = np.empty_like(x), np.empty_like(x)
        ref.dropout(y_r, x, key, thr, scale)
        c_backend.dropout(y_c, x, key, thr, scale)
        uint = np.uint32 if dtype == np.float32 else np.uint64
        np.testing.assert_array_equal(y_c.view(uint), y_r.view(uint))
        # in place (the backward is the same call on dy)
        buf = x.copy()
        c_backend.dropout(buf, buf, key, thr, scale)
        np.testing.assert_array_equal(buf.view(uint), y_r.view(uint))


def test_dropout_keys_and_mix64():
    """fnn_mix64 is splitmix64's finaliser, and different keys give different masks."""
    from fastnn.backends._common import mix64

    for z in (0, 1, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15):
        assert lib.fnn_mix64(z) == mix64(z)
    x = np.ones(4096, np.float32)
    y1, y2 = np.empty_like(x), np.empty_like(x)
    c_backend.dropout(y1, x, dropout_key(1, 0), dropout_threshold(0.5), 2.0)
    c_backend.dropout(y2, x, dropout_key(1, 1), dropout_threshold(0.5), 2.0)
    assert 0.45 < np.mean(y1 == 0) < 0.55 and not np.array_equal(y1, y2)


# ------------------------------------------------- single-threaded block helpers


def test_block_helpers_match_the_threaded_entry_points():
    """fnn_act_{forward,backward}_block_* (internal.h, for dense.c's epilogues) are
    not in the cffi ABI; reach them through ctypes and compare with the API."""
    import ctypes

    import fastnn._cfastnn as ext

    so = ctypes.CDLL(ext.__file__)
    for dtype, sfx in ((np.float32, "f32"), (np.float64, "f64")):
        fwd = getattr(so, f"fnn_act_forward_block_{sfx}")
        bwd = getattr(so, f"fnn_act_backward_block_{sfx}")
        for f in (fwd, bwd):
            f.restype = None
        x = data((37, 53), dtype)
        dy = data((37, 53), dtype, 1.0, "dy")
        ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
        for name in ELEMWISE + ["softmax"]:
            code, param = ACTIVATIONS[name], ctypes.c_double(PARAM.get(name, 0.0))
            for isa in ISAS:
                with isa_and_threads(isa):
                    y = np.empty_like(x)
                    fwd.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 2 + [ctypes.c_int, ctypes.c_double]
                    fwd(ptr(y), ptr(x), 37, 53, code, param)
                    np.testing.assert_array_equal(y, run_forward(c_backend, x, name))
                    dx = np.empty_like(x)
                    bwd.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 2 + [ctypes.c_int, ctypes.c_double]
                    bwd(ptr(dx), ptr(dy), ptr(y), ptr(x), 37, 53, code, param)
                    np.testing.assert_array_equal(dx, run_backward(c_backend, dy, y, x, name))
