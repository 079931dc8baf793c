"""Every kernel x backend x dtype x shape against the NumPy reference.

Shapes include 1, primes, sizes that are not multiples of any tile (6, 8, 16)
and one larger than the L2 cache. Tolerances: conftest.RTOL per dtype, scaled
by the length of the reductions involved (sqrt(k) for dot products).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import fastnn
from fastnn import backends, kernels as K
from fastnn.backends._common import ACTIVATIONS

from conftest import assert_close

GEMM_SHAPES = [(1, 1, 1), (1, 17, 5), (13, 1, 7), (7, 13, 1), (37, 97, 61), (6, 16, 8), (65, 33, 129),
               (600, 700, 300)]
ACTS = sorted(ACTIVATIONS)


def _x(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# ---------------------------------------------------------------------- gemm


@pytest.mark.parametrize("m,n,k", GEMM_SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_matches_float64_product(backend, dtype, rng, m, n, k, trans_a, trans_b):
    a = _x(rng, (k, m) if trans_a else (m, k), dtype)
    b = _x(rng, (n, k) if trans_b else (k, n), dtype)
    got = K.gemm(a, b, trans_a=trans_a, trans_b=trans_b, backend=backend)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)
    assert got.dtype == dtype
    assert_close(got, want, dtype, scale=4 * np.sqrt(k) * 10, what="gemm")


@pytest.mark.parametrize("alpha,beta", [(2.5, 0.0), (1.0, 1.0), (-0.5, 0.75), (0.0, 2.0)])
def test_gemm_alpha_beta(backend, dtype, rng, alpha, beta):
    m, n, k = 23, 31, 19
    a, b, c0 = _x(rng, (m, k), dtype), _x(rng, (k, n), dtype), _x(rng, (m, n), dtype)
    out = c0.copy()
    got = K.gemm(a, b, alpha=alpha, beta=beta, out=out, backend=backend)
    assert got is out
    want = alpha * (a.astype(np.float64) @ b.astype(np.float64)) + beta * c0.astype(np.float64)
    assert_close(got, want, dtype, scale=40 * np.sqrt(k), what="gemm alpha/beta")


def test_gemm_beta_zero_ignores_nan_in_out(backend, dtype, rng):
    a, b = _x(rng, (9, 5), dtype), _x(rng, (5, 11), dtype)
    out = np.full((9, 11), np.nan, dtype=dtype)
    K.gemm(a, b, out=out, backend=backend)
    assert np.isfinite(out).all()


def test_gemm_empty_inner_dimension(backend, dtype):
    a, b = np.zeros((3, 0), dtype), np.zeros((0, 4), dtype)
    out = np.ones((3, 4), dtype)
    K.gemm(a, b, beta=0.5, out=out, backend=backend)
    assert (out == 0.5).all()
    # beta == 0 makes out write-only for every k: old NaNs are not multiplied by 0
    out[...] = np.nan
    K.gemm(a, b, out=out, backend=backend)
    assert (out == 0).all()


# --------------------------------------------------------------- activations


def _act_input(rng, shape, dtype):
    x = _x(rng, shape, dtype, 3.0)
    x.flat[:4] = [0.0, -1e-3, 20.0, -20.0][: x.size]
    return x


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 257), (3, 5, 11)])
def test_activation_forward(backend, dtype, rng, act, shape):
    x = _act_input(rng, shape, dtype)
    want = K.activation_forward(x, act, backend="numpy")
    got = K.activation_forward(x, act, backend=backend)
    assert_close(got, want, dtype, scale=4, what=f"{act} forward")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 257)])
def test_activation_backward(backend, dtype, rng, act, shape):
    x = _act_input(rng, shape, dtype)
    dy = _x(rng, shape, dtype)
    y = K.activation_forward(x, act, backend="numpy")
    want = K.activation_backward(dy, act, y=y, x=x, backend="numpy")
    got = K.activation_backward(dy, act, y=y, x=x, backend=backend)
    assert_close(got, want, dtype, scale=8, what=f"{act} backward")


@pytest.mark.parametrize("act", ACTS)
def test_activation_extremes_stay_finite(backend, dtype, act):
    x = np.array([[-1000.0, -88.0, -30.0, -1e-30, 0.0, 1e-30, 30.0, 88.0, 1000.0]], dtype=dtype)
    y = K.activation_forward(x, act, backend=backend)
    dx = K.activation_backward(np.ones_like(x), act, y=y, x=x, backend=backend)
    assert np.isfinite(y).all() and np.isfinite(dx).all(), (y, dx)
    want = K.activation_forward(x, act, backend="numpy")
    assert_close(y, want, dtype, scale=4, what=f"{act} extremes")


def test_gelu_tanh_keeps_its_relative_accuracy_in_the_left_tail(backend, dtype):
    # gelu_tanh = 0.5 x (1 + tanh(u)) loses digits to cancellation where tanh(u) ~ -1;
    # every backend computes x sigmoid(2u) instead. Truth: the same math in long double.
    x = -np.linspace(2.0, 9.0, 57).astype(dtype)
    xl = x.astype(np.longdouble)
    u2 = 2 * np.longdouble(0.7978845608028654) * (xl + np.longdouble(0.044715) * xl**3)
    s = 1 / (1 + np.exp(-u2))
    want = xl * s
    dwant = s + xl * s * (1 - s) * 2 * np.longdouble(0.7978845608028654) * (1 + 3 * np.longdouble(0.044715) * xl**2)
    y = K.activation_forward(x[None, :], "gelu_tanh", backend=backend)[0]
    dx = K.activation_backward(np.ones((1, x.size), dtype), "gelu_tanh", x=x[None, :], backend=backend)[0]
    bound = 64 * np.finfo(dtype).eps  # a few ulp of each step, none amplified
    assert float(np.max(np.abs((y - want) / want))) <= bound
    assert float(np.max(np.abs((dx - dwant) / dwant))) <= bound


@pytest.mark.parametrize("act", [a for a in ACTS if a != "softmax"])
def test_activation_nan_propagates_like_the_spec(backend, dtype, act):
    # A NaN must reach the loss (and the divergence check), never turn into a 0:
    # Numba's relu and elu did that (v if v > 0 else 0). Elementwise activations
    # give NaN for NaN; the backward gives NaN wherever dy or the saved value is NaN
    # except where the spec's derivative mask is 0 (relu: 0 * dy, a NaN dy stays NaN).
    x = np.array([[np.nan, -1.0, 0.0, 2.0, np.nan, -np.inf, np.inf, 0.5, np.nan]], dtype=dtype)
    dy = np.array([[1.0, np.nan, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan, 1.0]], dtype=dtype)
    with np.errstate(invalid="ignore"):  # the spec's gelus compute inf * 0 for +-inf
        want = K.activation_forward(x, act, backend="numpy")
        got = K.activation_forward(x, act, backend=backend)
        kw = {"x": x} if act in ("gelu", "gelu_tanh") else {"y": want}
        bwant = K.activation_backward(dy, act, backend="numpy", **kw)
        bgot = K.activation_backward(dy, act, backend=backend, **kw)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[0, 0])
    np.testing.assert_array_equal(np.isnan(bgot), np.isnan(bwant))


def test_activation_parameters(backend, dtype, rng):
    x = _x(rng, (5, 9), dtype)
    for act, p in (("leaky_relu", 0.2), ("elu", 0.7)):
        got = K.activation_forward(x, act, param=p, backend=backend)
        want = K.activation_forward(x, act, param=p, backend="numpy")
        assert_close(got, want, dtype, what=act)
    neg = x < 0
    lr = K.activation_forward(x, "leaky_relu", param=0.2, backend=backend)
    np.testing.assert_allclose(lr[neg], 0.2 * x[neg], rtol=1e-6)


def test_softmax_rows_sum_to_one(backend, dtype, rng):
    x = _x(rng, (17, 10), dtype, 50.0)
    y = K.activation_forward(x, "softmax", backend=backend)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------- dense


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (7, 13, 5), (32, 64, 128), (129, 37, 10)])
def test_dense_forward(backend, dtype, rng, act, n, i, o):
    x, w, b = _x(rng, (n, i), dtype), _x(rng, (i, o), dtype, 0.3), _x(rng, (o,), dtype)
    want = K.dense_forward(x, w, b, act, backend="numpy")
    z = np.empty((n, o), dtype)
    got = K.dense_forward(x, w, b, act, preact=z, backend=backend)
    assert_close(got, want, dtype, scale=40 * np.sqrt(i), what=f"dense_forward {act}")
    zwant = x.astype(np.float64) @ w.astype(np.float64) + b
    assert_close(z, zwant, dtype, scale=40 * np.sqrt(i), what="dense_forward preact")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (7, 13, 5), (32, 64, 128), (129, 37, 10)])
def test_dense_backward(backend, dtype, rng, act, n, i, o):
    x, w, b = _x(rng, (n, i), dtype), _x(rng, (i, o), dtype, 0.3), _x(rng, (o,), dtype)
    z = np.empty((n, o), dtype)
    y = K.dense_forward(x, w, b, act, preact=z, backend="numpy")
    dout = _x(rng, (n, o), dtype)
    want = K.dense_backward(dout, x, w, act, y=y, z=z, backend="numpy")
    got = K.dense_backward(dout, x, w, act, y=y, z=z, backend=backend)
    scale = 40 * np.sqrt(max(n, o))
    for name, g, e in zip(("dx", "dw", "db"), got, want):
        assert_close(g, e, dtype, scale=scale, what=f"dense_backward {act} {name}")
    dx, dw, db = K.dense_backward(dout, x, w, act, y=y, z=z, need_dx=False, backend=backend)
    assert dx is None
    assert_close(dw, want[1], dtype, scale=scale, what="dw without dx")


def test_dense_backward_dz_may_alias_dout(backend, dtype, rng):
    x, w, b = _x(rng, (9, 6), dtype), _x(rng, (6, 4), dtype), _x(rng, (4,), dtype)
    y = K.dense_forward(x, w, b, "tanh", backend="numpy")
    dout = _x(rng, (9, 4), dtype)
    want = K.dense_backward(dout, x, w, "tanh", y=y, backend="numpy")
    got = K.dense_backward(dout.copy(), x, w, "tanh", y=y, backend=backend)
    d2 = dout.copy()
    got2 = K.dense_backward(d2, x, w, "tanh", y=y, dz=d2, backend=backend)
    for g, g2, e in zip(got, got2, want):
        assert_close(g, e, dtype, scale=20, what="dz alias")
        assert_close(g2, e, dtype, scale=20, what="dz alias")


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "tanh", "elu", "gelu"])
def test_dense_backward_keeps_nan_like_the_spec(backend, dtype, rng, act):
    # C's relu dz was a select (y > 0 ? dout : 0): a NaN dout of a dead unit became 0
    # and the layer's weight gradient stayed finite while the spec's went NaN
    x, w, b = _x(rng, (5, 4), dtype), _x(rng, (4, 3), dtype), _x(rng, (3,), dtype)
    z = np.empty((5, 3), dtype)
    y = K.dense_forward(x, w, b, act, preact=z, backend="numpy")
    y[0, :] = -1.0 if act != "tanh" else y[0, :]  # a dead relu row (y <= 0) ...
    dout = _x(rng, (5, 3), dtype)
    dout[0, 1] = np.nan  # ... whose upstream gradient is NaN
    want = K.dense_backward(dout, x, w, act, y=y, z=z, backend="numpy")
    got = K.dense_backward(dout.copy(), x, w, act, y=y, z=z, backend=backend)
    for g, e in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e))


# -------------------------------------------------------------------- losses


@pytest.mark.parametrize("n,c", [(1, 1), (1, 7), (13, 10), (256, 3), (100, 1000)])
def test_softmax_xent(backend, dtype, rng, n, c):
    logits = _x(rng, (n, c), dtype, 5.0)
    labels = rng.integers(0, c, n)
    lw, gw = K.softmax_xent(logits, labels, backend="numpy")
    lg, gg = K.softmax_xent(logits, labels, backend=backend)
    assert abs(lg - lw) <= 1e-5 * (1 + abs(lw)) if dtype == np.float32 else abs(lg - lw) <= 1e-12 * (1 + abs(lw))
    assert_close(gg, gw, dtype, scale=4, what="dlogits")
    lonly, none = K.softmax_xent(logits, labels, grad=False, backend=backend)
    assert none is None and abs(lonly - lg) <= 1e-6 * (1 + abs(lg))


def test_softmax_xent_huge_logits_finite(backend, dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]], dtype=dtype)
    loss, g = K.softmax_xent(logits, np.array([1, 1]), backend=backend)
    assert np.isfinite(loss) and np.isfinite(g).all()
    np.testing.assert_allclose(loss, 1000.0, rtol=1e-5)  # row 0 pays 2000, row 1 nothing
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("shape", [(1,), (17,), (13, 3), (300, 7)])
def test_sigmoid_bce(backend, dtype, rng, shape):
    logits = _x(rng, shape, dtype, 4.0)
    logits.flat[0] = 60.0
    targets = (rng.random(shape) < 0.5).astype(dtype)
    lw, gw = K.sigmoid_bce(logits, targets, backend="numpy")
    lg, gg = K.sigmoid_bce(logits, targets, backend=backend)
    assert gg.shape == shape
    np.testing.assert_allclose(lg, lw, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_close(gg, gw, dtype, scale=4, what="bce grad")


def test_sigmoid_bce_targets_must_be_probabilities(backend):
    logits = np.zeros((3, 2))
    for bad in (2.0, -1.0, np.nan):
        targets = np.full((3, 2), 0.5)
        targets[1, 1] = bad
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\] for the sigmoid cross-entropy"):
            K.sigmoid_bce(logits, targets, backend=backend)
    assert np.isfinite(K.sigmoid_bce(logits, np.eye(3, 2), backend=backend)[0])  # the bounds themselves


@pytest.mark.parametrize("shape", [(1,), (17,), (13, 3), (300, 7)])
def test_mse(backend, dtype, rng, shape):
    pred, target = _x(rng, shape, dtype), _x(rng, shape, dtype)
    lw, gw = K.mse(pred, target, backend="numpy")
    lg, gg = K.mse(pred, target, backend=backend)
    np.testing.assert_allclose(lg, lw, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_close(gg, gw, dtype, what="mse grad")
    n = shape[0]
    np.testing.assert_allclose(lw, np.sum((pred.astype(np.float64) - target) ** 2) / (2 * n), rtol=1e-5)


@pytest.mark.parametrize("size", [1, 7, 1000, 100_003])
def test_penalties(backend, dtype, rng, size):
    w = _x(rng, (size,), dtype)
    w64 = w.astype(np.float64)
    np.testing.assert_allclose(K.l1_penalty(w, backend=backend), np.abs(w64).sum(), rtol=1e-9)
    np.testing.assert_allclose(K.l2_penalty(w, backend=backend), 0.5 * (w64**2).sum(), rtol=1e-9)


# ---------------------------------------------------------------- optimizers

OPTIMIZERS = {
    "sgd": (K.sgd_update, 0, {}),
    "momentum": (K.momentum_update, 1, {"momentum": 0.9}),
    "nesterov": (K.nesterov_update, 1, {"momentum": 0.8}),
    "adagrad": (K.adagrad_update, 1, {"eps": 1e-8}),
    "rmsprop": (K.rmsprop_update, 1, {"rho": 0.9, "eps": 1e-8}),
    "adam": (K.adam_update, 2, {}),
    "adamw": (K.adamw_update, 2, {"weight_decay": 0.05}),
}
PENALTIES = [{}, {"l2": 0.01}, {"l1": 0.5}, {"weight_decay": 0.03}, {"l2": 0.01, "l1": 0.3, "weight_decay": 0.01}]


def _trajectory(name, backend, dtype, p0, grads_fn, steps=100, lr=0.01, **extra):
    fn, n_state, kw = OPTIMIZERS[name]
    p = p0.copy()
    state = [np.zeros_like(p) for _ in range(n_state)]
    for t in range(1, steps + 1):
        g = grads_fn(p, t)
        args = dict(kw, **extra, lr=lr)
        if name in ("adam", "adamw"):
            args["step"] = t
        fn(p, g, *state, **args, backend=backend)
    return p


def _quadratic_grads(rng_seed, dtype):
    r = np.random.default_rng(rng_seed)
    target = r.standard_normal(1000).astype(dtype)
    target[::2] = 0  # coordinates the L1 prox should pin at exactly zero
    noise = r.standard_normal((101, 1000)).astype(dtype) * dtype(0.1)
    return lambda p, t: (p - target + noise[t]).astype(dtype)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("pen", PENALTIES, ids=lambda d: "+".join(d) or "none")
def test_optimizer_100_steps_match_reference(backend, dtype, name, pen):
    p0 = np.random.default_rng(1).standard_normal(1000).astype(dtype)
    grads = _quadratic_grads(2, dtype)
    want = _trajectory(name, "numpy", dtype, p0, grads, **pen)
    got = _trajectory(name, backend, dtype, p0, grads, **pen)
    assert_close(got, want, dtype, scale=200 if dtype == np.float32 else 1000, what=f"{name} {pen}")
    if "l1" in pen:  # proximal L1 gives exact zeros, identically in every backend
        assert (want == 0).any()
        np.testing.assert_array_equal(got == 0, want == 0)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("pen", PENALTIES, ids=lambda d: "+".join(d) or "none")
@pytest.mark.parametrize("lr", [0.1, 0.0])
def test_optimizer_non_finite_values_like_the_spec(backend, dtype, name, pen, lr):
    # A diverged parameter stays visible: C's L1 prox turned a NaN into 0 (the next
    # loss could look finite again), and its coupled-L2 / decay terms with a zero
    # coefficient made NaN of an infinite parameter (0 * inf) where the spec keeps it.
    # With lr = 0 and weight_decay != 0 the spec does compute 0 * p (its test is on wd):
    # C tested lr * wd and kept an infinite parameter infinite.
    fn, n_state, kw = OPTIMIZERS[name]
    special = [np.nan, np.inf, -np.inf, 0.0, 1.0, -2.0, 1e30]
    pv, gv = np.meshgrid(special, special)  # every (parameter, gradient) pair
    out = {}
    for be in ("numpy", backend):
        p, g = pv.ravel().astype(dtype), gv.ravel().astype(dtype)
        state = [np.ones_like(p) for _ in range(n_state)]
        args = dict(kw, **pen, lr=lr)
        if name in ("adam", "adamw"):
            args["step"] = 3
        with np.errstate(all="ignore"):
            fn(p, g, *state, **args, backend=be)
        out[be] = [p, *state]
    for got, want in zip(out[backend], out["numpy"]):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = np.isfinite(want)
        np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])  # same infs
        assert_close(got[finite], want[finite], dtype, what=f"{name} {pen}")


def _published(name, p, g_seq, lr, steps, **kw):
    """Each optimizer written out from its paper (float64, scalar Python loops over arrays)."""
    p = p.astype(np.float64).copy()
    s1 = np.zeros_like(p)
    s2 = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = g_seq(p, t).astype(np.float64)
        if name == "sgd":
            p = p - lr * g
        elif name == "momentum":  # Polyak heavy ball, scikit-learn's form: v <- mu v - lr g; p <- p + v
            s1 = kw["momentum"] * s1 - lr * g
            p = p + s1
        elif name == "nesterov":  # Sutskever et al. 2013 in scikit-learn's form
            s1 = kw["momentum"] * s1 - lr * g
            p = p + kw["momentum"] * s1 - lr * g
        elif name == "adagrad":  # Duchi, Hazan & Singer 2011
            s1 = s1 + g * g
            p = p - lr * g / (np.sqrt(s1) + kw["eps"])
        elif name == "rmsprop":  # Tieleman & Hinton 2012
            s1 = kw["rho"] * s1 + (1 - kw["rho"]) * g * g
            p = p - lr * g / (np.sqrt(s1) + kw["eps"])
        else:  # Adam, Kingma & Ba 2015, Algorithm 1 with the efficient form of section 2
            wd = kw.get("weight_decay", 0.0)
            p = p - lr * wd * p  # AdamW: Loshchilov & Hutter 2019, decoupled
            s1 = 0.9 * s1 + 0.1 * g
            s2 = 0.999 * s2 + 0.001 * g * g
            alpha_t = lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            p = p - alpha_t * s1 / (np.sqrt(s2) + 1e-8)
    return p


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_published_formula(backend, name):
    p0 = np.random.default_rng(3).standard_normal(1000)
    grads = _quadratic_grads(4, np.float64)
    kw = OPTIMIZERS[name][2]
    want = _published(name, p0, grads, 0.01, 100, **kw)
    got = _trajectory(name, backend, np.float64, p0, grads)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_l1_proximal_step_is_soft_threshold(backend, dtype):
    p = np.array([0.5, -0.5, 0.001, -0.001, 0.0], dtype=dtype)
    K.sgd_update(p, np.zeros_like(p), lr=0.1, l1=0.05, backend=backend)  # threshold 0.005
    np.testing.assert_allclose(p, [0.495, -0.495, 0.0, 0.0, 0.0], rtol=1e-6)
    assert (p[2:] == 0).all()


# ------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(1,), (7, 13), (128, 512)])
def test_dropout_masks_identical_across_backends(backend, dtype, rng, p, shape):
    x = _x(rng, shape, dtype)
    want = K.dropout_forward(x, p, seed=7, step=3, backend="numpy")
    got = K.dropout_forward(x, p, seed=7, step=3, backend=backend)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # bitwise
    dy = _x(rng, shape, dtype)
    np.testing.assert_array_equal(K.dropout_backward(dy, p, seed=7, step=3, backend=backend),
                                  K.dropout_backward(dy, p, seed=7, step=3, backend="numpy"))


def test_dropout_statistics_and_determinism():
    x = np.ones(200_000, np.float32)
    y = K.dropout_forward(x, 0.3, seed=1, step=0)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(kept, K.dropout_mask(x.shape, 0.3, seed=1, step=0))
    assert (K.dropout_forward(x, 0.3, seed=1, step=1) != y).any()
    assert (K.dropout_forward(x, 0.3, seed=2, step=0) != y).any()
    np.testing.assert_array_equal(K.dropout_forward(x, 0.3, seed=1, step=0), y)


# ------------------------------------------------------------------- threads


@pytest.mark.skipif("c" not in backends.available(), reason="the C backend is not built")
def test_threadpoolctl_limits_cap_the_c_kernels_for_their_block():
    """threadpool_limits lowers the OpenMP limit of the libgomp fastnn loaded, in the thread
    that opens it: the C kernels' regions follow (as scikit-learn's own OpenMP code)."""
    from threadpoolctl import threadpool_limits

    from fastnn.threads import effective_num_threads

    fastnn.set_num_threads(2)  # (sets this thread's OpenMP limit too, whatever OMP_NUM_THREADS says)
    if not backends.get("c").openmp_version():  # (a build without OpenMP, as under ASAN: one thread)
        assert effective_num_threads() == 1
        return
    assert effective_num_threads() == 2
    with threadpool_limits(limits=1):
        assert effective_num_threads() == 1
        assert fastnn.get_num_threads() == 2  # the knob itself is the user's
    with threadpool_limits(limits=1, user_api="openmp"):
        assert effective_num_threads() == 1
    assert effective_num_threads() == 2

    # OpenMP limits are per thread: the knob set here holds in another Python thread, and a
    # block opened there caps that thread only (OMP_NUM_THREADS=1 makes the default limit 1:
    # then a block of 1 there is the default, nothing to tell apart)
    seen = {}

    def other():
        seen["knob"] = effective_num_threads()
        with threadpool_limits(limits=1):
            seen["limited"] = effective_num_threads()
            seen["main"] = fastnn.get_num_threads()

    worker = threading.Thread(target=other)
    worker.start()
    worker.join()
    assert seen["knob"] == 2 and seen["main"] == 2
    from fastnn.threads import _default  # (OMP_NUM_THREADS, else the usable cores: libgomp's default)

    assert seen["limited"] == (1 if _default() > 1 else 2)
    assert effective_num_threads() == 2
    fastnn.set_num_threads(1)
    assert effective_num_threads() == 1


def test_threads_that_end_free_their_matmul_buffers():
    """Each thread's packing buffers (~1.2 MB for 1024^2 float32) are freed when it ends: 100
    short-lived threads grew the RSS by ~125 MB before."""
    a = np.ones((1024, 1024), np.float32)
    out = np.empty_like(a)

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    def product():
        K.gemm(a, a, out=out, backend="c")

    for _ in range(3):  # (the allocator's own first growth)
        t = threading.Thread(target=product)
        t.start()
        t.join()
    before = rss_mb()
    for _ in range(100):
        t = threading.Thread(target=product)
        t.start()
        t.join()
    assert rss_mb() - before < 40


def test_results_equal_across_thread_counts(rng):
    a, b = _x(rng, (300, 257), np.float64), _x(rng, (257, 301), np.float64)
    p0 = _x(rng, (200_000,), np.float32)
    g = _x(rng, (200_000,), np.float32)
    results = []
    for n in (1, 2):
        fastnn.set_num_threads(n)
        p = p0.copy()
        m, v = np.zeros_like(p), np.zeros_like(p)
        K.adam_update(p, g, m, v, lr=0.01, step=1)
        results.append((K.gemm(a, b), p, K.activation_forward(a, "tanh")))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)  # up to summation order
    np.testing.assert_array_equal(results[0][1], results[1][1])  # elementwise: bitwise equal
    np.testing.assert_array_equal(results[0][2], results[1][2])
