"""Every backward checked against central finite differences, in float64.

For a kernel f and a random projection R, the scalar L(theta) = sum(R * f(theta))
has dL/dtheta from the kernel's backward; each is compared with
(L(theta + h e_i) - L(theta - h e_i)) / 2h on every coordinate.
"""
from __future__ import annotations

import numpy as np
import pytest

from fastnn import backends
from fastnn import kernels as K
from fastnn.backends._common import ACTIVATIONS

ALL_BACKENDS = backends.available()
H = 1e-6


def numeric_grad(f, theta):
    g = np.zeros_like(theta)
    flat = theta.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + H
        up = f()
        flat[i] = old - H
        down = f()
        flat[i] = old
        g.reshape(-1)[i] = (up - down) / (2 * H)
    return g


def check(analytic, numeric, what):
    err = np.abs(analytic - numeric)
    tol = 1e-6 * (1 + np.abs(numeric))
    worst = np.argmax(err / tol)
    assert (err <= tol).all(), (
        f"{what}: worst at flat index {worst}: analytic {analytic.reshape(-1)[worst]!r}, "
        f"numeric {numeric.reshape(-1)[worst]!r}"
    )


def _away_from_kinks(rng, shape):
    """Inputs at least 0.05 from 0, where relu-like derivatives jump."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, np.sign(x + 1e-12) * 0.05 + x, x)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_dense_backward_matches_finite_differences(backend, act):
    rng = np.random.default_rng(0)
    n, i, o = 5, 4, 3
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((i, o)) * 0.5, rng.standard_normal(o) * 0.1
    r = rng.standard_normal((n, o))
    if act in ("relu", "leaky_relu", "elu"):  # keep z away from 0, where the derivative jumps
        z = x @ w + b
        b = b + np.where(np.abs(z).min(axis=0) < 0.05, 0.2, 0.0)

    def loss():
        return float(np.sum(r * K.dense_forward(x, w, b, act, backend=backend)))

    z = np.empty((n, o))
    y = K.dense_forward(x, w, b, act, preact=z, backend=backend)
    dx, dw, db = K.dense_backward(r, x, w, act, y=y, z=z, backend=backend)
    check(dx, numeric_grad(loss, x), f"{act} dx")
    check(dw, numeric_grad(loss, w), f"{act} dw")
    check(db, numeric_grad(loss, b), f"{act} db")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(backend, act):
    rng = np.random.default_rng(1)
    x = _away_from_kinks(rng, (4, 6)) * 2
    r = rng.standard_normal(x.shape)

    def loss():
        return float(np.sum(r * K.activation_forward(x, act, backend=backend)))

    y = K.activation_forward(x, act, backend=backend)
    dx = K.activation_backward(r, act, y=y, x=x, backend=backend)
    check(dx, numeric_grad(loss, x), f"{act}")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_softmax_xent_gradient(backend):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((6, 5)) * 3
    labels = rng.integers(0, 5, 6)
    _, g = K.softmax_xent(logits, labels, backend=backend)
    check(g, numeric_grad(lambda: K.softmax_xent(logits, labels, grad=False, backend=backend)[0], logits), "xent")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_sigmoid_bce_gradient(backend):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 3)) * 3
    targets = rng.random((6, 3))  # soft targets are allowed too
    _, g = K.sigmoid_bce(logits, targets, backend=backend)
    check(g, numeric_grad(lambda: K.sigmoid_bce(logits, targets, grad=False, backend=backend)[0], logits), "bce")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_mse_gradient(backend):
    rng = np.random.default_rng(4)
    pred, target = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    _, g = K.mse(pred, target, backend=backend)
    check(g, numeric_grad(lambda: K.mse(pred, target, grad=False, backend=backend)[0], pred), "mse")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_penalty_gradients(backend):
    """l2's gradient is w (the coupled L2 of the optimizers); l1's is sign(w) away from 0."""
    rng = np.random.default_rng(5)
    w = _away_from_kinks(rng, (9,))
    check(w.copy(), numeric_grad(lambda: K.l2_penalty(w, backend=backend), w), "l2")
    check(np.sign(w), numeric_grad(lambda: K.l1_penalty(w, backend=backend), w), "l1")
