"""kernels.mlp_forward: a whole network's logits in one call.

Its spec is one dense_forward a layer over all the rows (backends/_train_reference.py). The C
kernel takes the rows in chunks of up to 512 through every layer and splits them over threads:
its logits must be those of the C dense_forward chain bit for bit, at any row count around the
chunk and thread boundaries and on any thread count; Numba's and NumPy's agree with it to
rounding. The estimators' predict_proba goes through it and must not change by a bit."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn
from fastnn import kernels as K
from fastnn.backends import _train_reference as spec

NETS = [(5, 3), (64, 128, 64, 10), (7, 33, 2), (20, 700, 5), (3, 1, 4, 1)]


def _params(sizes, dtype, rng):
    return (0.4 * rng.standard_normal(spec.layout(sizes)[3])).astype(dtype)


def _chain(params, X, sizes, activation, backend):
    """One kernels.dense_forward a layer: the spec, on the given backend."""
    w_off, b_off, _, _ = spec.layout(sizes)
    h = X
    for l in range(len(sizes) - 1):
        w = params[w_off[l]:w_off[l] + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1])
        b = params[b_off[l]:b_off[l] + sizes[l + 1]]
        h = K.dense_forward(h, w, b, activation if l < len(sizes) - 2 else "identity", backend=backend)
    return h


@pytest.mark.parametrize("sizes", NETS, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "leaky_relu"])
def test_the_c_logits_are_the_dense_forward_chains_bit_for_bit(sizes, dtype, activation):
    rng = np.random.default_rng(len(sizes) * 7 + sizes[1])
    params = _params(sizes, dtype, rng)
    for n in (1, 2, 63, 64, 511, 512, 513, 1100):
        X = rng.standard_normal((n, sizes[0])).astype(dtype)
        got = K.mlp_forward(params, X, sizes=sizes, activation=activation, backend="c")
        assert got.shape == (n, sizes[-1]) and got.dtype == dtype
        np.testing.assert_array_equal(got, _chain(params, X, sizes, activation, "c"))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_every_backend_agrees_with_the_c_kernel(backend, dtype):
    if backend not in K.backends.available():
        pytest.skip(f"backend {backend} is not available here")
    rng = np.random.default_rng(5)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for sizes in NETS:
        params, X = _params(sizes, dtype, rng), rng.standard_normal((600, sizes[0])).astype(dtype)
        want = K.mlp_forward(params, X, sizes=sizes, activation="elu", backend="c")
        got = K.mlp_forward(params, X, sizes=sizes, activation="elu", backend=backend)
        # rounding is relative to the logits' scale (up to ~100 here), not to each logit: NumPy's
        # BLAS sums in its own order (OpenBLAS's AVX2 kernels on Zen 5 left a logit of 0.31
        # 2.7e-5 from C's, 2.8e-7 of the largest)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * float(np.abs(want).max()))
        np.testing.assert_array_equal(got, _chain(params, X, sizes, "elu", backend))  # its own spec


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_the_thread_count_changes_no_bit(dtype):
    """Small networks split their rows over the threads (each row's chunk position then
    differs); large layers keep the kernels' threads. Both give the one-thread logits."""
    rng = np.random.default_rng(6)
    before = fastnn.get_num_threads()
    try:
        for sizes, n in (((64, 128, 64, 10), 1797), ((300, 600, 10), 1300), ((8, 16, 3), 130)):
            params, X = _params(sizes, dtype, rng), rng.standard_normal((n, sizes[0])).astype(dtype)
            got = {}
            for threads in (1, 2):
                fastnn.set_num_threads(threads)
                got[threads] = K.mlp_forward(params, X, sizes=sizes, activation="relu", backend="c")
            np.testing.assert_array_equal(got[1], got[2])
    finally:
        fastnn.set_num_threads(before)


def test_out_is_filled_in_place_and_bad_arguments_are_named():
    rng = np.random.default_rng(7)
    sizes = (4, 6, 3)
    params, X = _params(sizes, np.float64, rng), rng.standard_normal((9, 4))
    out = np.full((9, 3), np.nan)
    assert K.mlp_forward(params, X, sizes=sizes, activation="tanh", out=out) is out
    np.testing.assert_array_equal(out, _chain(params, X, sizes, "tanh", None))
    assert K.mlp_forward(params, X[:0], sizes=sizes, activation="tanh").shape == (0, 3)
    with pytest.raises(ValueError, match=r"params must have shape \(51,\)"):
        K.mlp_forward(params[:-1], X, sizes=sizes, activation="tanh")
    with pytest.raises(ValueError, match="X must have sizes\\[0\\] = 4 columns"):
        K.mlp_forward(params, X[:, :3], sizes=sizes, activation="tanh")
    with pytest.raises(TypeError, match="X has dtype float32 but the other operands are float64"):
        K.mlp_forward(params, X.astype(np.float32), sizes=sizes, activation="tanh")
    with pytest.raises(TypeError, match="mlp_forward takes a dense X"):
        K.mlp_forward(params, sp.csr_matrix(X), sizes=sizes, activation="tanh")
    with pytest.raises(ValueError, match="out must have shape"):
        K.mlp_forward(params, X, sizes=sizes, activation="tanh", out=np.empty((9, 4)))
    buf = np.zeros((9, 4))
    with pytest.raises(ValueError, match="out overlaps X"):
        K.mlp_forward(params[:20], buf, sizes=(4, 4), activation="tanh", out=buf)
    with pytest.raises(ValueError, match="'softmax' is not a hidden activation"):
        K.mlp_forward(params, X, sizes=sizes, activation="softmax")
    with pytest.raises(ValueError, match="sizes must list at least 2 layer widths"):
        K.mlp_forward(params, X, sizes=(4,), activation="tanh")


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_predict_proba_is_unchanged_by_a_bit(dtype):
    """The estimators predict through mlp_forward while coefs_ are views of the fit's
    vector, layer by layer otherwise (a pickled copy): the same numbers either way."""
    from sklearn.datasets import load_digits

    from fastnn.estimators import MLPClassifier, MLPRegressor

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with pytest.warns(Warning):  # (ConvergenceWarning: 3 epochs)
        clf = MLPClassifier(hidden_layer_sizes=(40, 20), max_iter=3, random_state=0, dtype=dtype).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    assert clf._own_flat() is not None and copy._own_flat() is None
    np.testing.assert_array_equal(clf.predict_proba(X), copy.predict_proba(X))
    np.testing.assert_array_equal(clf.predict_proba(X[:1]), copy.predict_proba(X[:1]))
    with pytest.warns(Warning):
        reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=3, random_state=0, dtype=dtype).fit(X, y * 0.1)
    np.testing.assert_array_equal(reg.predict(X), pickle.loads(pickle.dumps(reg)).predict(X))
