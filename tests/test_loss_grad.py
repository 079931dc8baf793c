"""fastnn.kernels.loss_grad: the full-batch loss and gradient (L-BFGS's objective) on
every backend against the reference, the reference against finite differences and
against one train_epoch batch, threads, float32 flushing, and input validation."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from conftest import mlp_targets
from fastnn import kernels as K
from fastnn.backends._train_reference import layout

BACKENDS = ["numpy", "c", "numba"]
LOSSES = ["softmax_xent", "sigmoid_bce", "mse"]
SIZES = (6, 9, 7, 4)


def _problem(dtype, loss, sizes=SIZES, n=37, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    params = (rng.standard_normal(layout(sizes)[3]) * 0.5).astype(dtype)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = mlp_targets(rng, loss, n, sizes[-1], dtype)
    sw = rng.random(n) * 2 + 0.1 if weighted else None
    return params, X, y, sw


def _loss_grad(backend, params, X, y, loss, sizes=SIZES, **kw):
    grads = np.full_like(params, np.nan)
    value = K.loss_grad(params, grads, X, y, sizes=sizes, loss=loss, backend=backend,
                        **{"activation": "tanh", **kw})
    return value, grads


@pytest.mark.parametrize("backend", BACKENDS[1:])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])  # gelu keeps the pre-activation
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_backends_match_the_reference(backend, dtype, loss, activation, weighted):
    params, X, y, sw = _problem(dtype, loss, weighted=weighted)
    clip = 0.0 if loss == "mse" else float(np.finfo(dtype).eps)
    kw = dict(activation=activation, alpha=0.03, sample_weight=sw, loss_clip=clip)
    want_loss, want = _loss_grad("numpy", params, X, y, loss, **kw)
    got_loss, got = _loss_grad(backend, params, X, y, loss, **kw)
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    np.testing.assert_allclose(got_loss, want_loss, rtol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_gradient_matches_finite_differences(backend, loss, weighted):
    """Central differences of the returned loss (exact, loss_clip=0) on every parameter:
    weights with the L2 term, biases without."""
    params, X, y, sw = _problem(np.float64, loss, weighted=weighted)
    kw = dict(alpha=0.05, sample_weight=sw)
    _, grads = _loss_grad(backend, params, X, y, loss, **kw)
    h = 1e-6
    fd = np.empty_like(params)
    for i in range(params.size):
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        loss_up, loss_down = (_loss_grad(backend, p, X, y, loss, **kw)[0] for p in (up, down))
        fd[i] = (loss_up - loss_down) / (2 * h)
    np.testing.assert_allclose(grads, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_equals_the_gradient_of_one_full_epoch_batch(backend):
    """loss_grad is train_epoch's batch before its update: one batch of every row in
    order (plain sgd leaves that batch's data gradient in grads) gives the same loss and
    the same gradient once the coupled L2 term alpha W / n is added."""
    params, X, y, _ = _problem(np.float64, "softmax_xent")
    n, alpha = X.shape[0], 0.02
    value, grads = _loss_grad(backend, params, X, y, "softmax_xent", alpha=alpha)
    epoch_grads = np.empty_like(params)
    epoch_loss = K.train_epoch(params.copy(), epoch_grads, np.empty((0, params.size)), X, y, np.arange(n),
                               sizes=SIZES, activation="tanh", loss="softmax_xent", optimizer="sgd", lr=0.1,
                               step=0, batch_size=n, alpha=alpha, backend=backend)
    nw = layout(SIZES)[2]
    epoch_grads[:nw] += (alpha / n) * params[:nw]
    np.testing.assert_allclose(grads, epoch_grads, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(value, epoch_loss, rtol=1e-13)


@pytest.mark.parametrize("isa", ["generic", "avx2", "best"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_c_chunks_add_up_to_the_whole_pass(isa, loss, weighted):
    """1300 rows run as chunks of 512, 512 and 276 on one thread (csrc/train.c,
    GRAD_CHUNK_ROWS): their losses and gradients add up to the reference's one batch,
    on the portable kernels, the AVX2 ones and the best the CPU has."""
    from fastnn.backends import c as cb

    params, X, y, sw = _problem(np.float64, loss, n=1300, weighted=weighted)
    kw = dict(alpha=0.01, sample_weight=sw, activation="gelu")
    before, before_isa = fastnn.get_num_threads(), cb.isa_name()
    try:
        fastnn.set_num_threads(1)
        if isa != "best":
            cb.set_isa(isa)
        got = _loss_grad("c", params, X, y, loss, **kw)
    finally:
        fastnn.set_num_threads(before)
        cb.set_isa(before_isa)
    want = _loss_grad("numpy", params, X, y, loss, **kw)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-11, atol=1e-11 * np.abs(want[1]).max())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_rows_split_over_threads(dtype):
    """A pass of 700 rows through small layers is split by rows over 2 threads (the
    epoch's data-parallel path): the reference's numbers up to summation order, the same
    numbers on every run, and not the 1-thread ones bit for bit (the rows were split)."""
    sizes = (32, 96, 64, 5)
    params, X, y, _ = _problem(dtype, "softmax_xent", sizes=sizes, n=700)
    kw = dict(sizes=sizes, alpha=0.01, activation="relu")
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2)
        two, again = (_loss_grad("c", params, X, y, "softmax_xent", **kw) for _ in range(2))
        fastnn.set_num_threads(1)
        one = _loss_grad("c", params, X, y, "softmax_xent", **kw)
    finally:
        fastnn.set_num_threads(before)
    ref = _loss_grad("numpy", params, X, y, "softmax_xent", **kw)
    rtol = 2e-5 if dtype == np.float32 else 1e-11
    for got in (two, one):
        np.testing.assert_allclose(got[1], ref[1], rtol=rtol, atol=rtol * np.abs(ref[1]).max())
        np.testing.assert_allclose(got[0], ref[0], rtol=rtol)
    np.testing.assert_array_equal(two[1], again[1])
    assert not np.array_equal(two[1], one[1])


def _tiny_gradient_problem():
    """A linear model whose weight gradient X^T (X W) / n is ~1e-42 in every entry: a
    float32 subnormal. 200 x 200 outputs over 2000 rows: 160 MFLOP, a product the gemm
    spreads over its threads (the epoch itself stays on one)."""
    rng = np.random.default_rng(5)
    n, d = 2000, 200
    sizes = (d, d)
    params = np.zeros(layout(sizes)[3], np.float32)
    params[:d * d] = rng.standard_normal(d * d).astype(np.float32) * 0.05
    X = (rng.standard_normal((n, d)) * 1e-20).astype(np.float32)
    return sizes, params, X, np.zeros((n, d), np.float32)


@pytest.mark.parametrize("threads", [1, 2])
def test_float32_flushes_subnormals_on_every_thread_unless_turned_off(threads):
    """With the knob on (the default) the float32 pass runs with flush-to-zero on the
    gemm's own threads too: no subnormal reaches grads. Off, they are kept, as the
    reference keeps them."""
    from fastnn.backends import c as cb

    sizes, params, X, y = _tiny_gradient_problem()
    tiny = np.finfo(np.float32).tiny
    nw = sizes[0] * sizes[1]
    before_flush, before_threads = cb.get_flush_subnormals(), fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(threads)
        cb.set_flush_subnormals(True)
        _, flushed = _loss_grad("c", params, X, y, "mse", sizes=sizes, activation="relu")
        cb.set_flush_subnormals(False)
        _, kept = _loss_grad("c", params, X, y, "mse", sizes=sizes, activation="relu")
    finally:
        cb.set_flush_subnormals(before_flush)
        fastnn.set_num_threads(before_threads)
    _, ref = _loss_grad("numpy", params, X, y, "mse", sizes=sizes, activation="relu")
    subnormal = (ref[:nw] != 0) & (np.abs(ref[:nw]) < tiny)
    assert subnormal.mean() > 0.9  # the problem does what it is for
    np.testing.assert_array_equal(flushed[:nw], 0)
    # the biases' gradient (sums of 2000 terms that mostly cancel) is normal
    np.testing.assert_allclose(flushed[nw:], ref[nw:], rtol=1e-5, atol=1e-4 * np.abs(ref[nw:]).max())
    assert np.all(kept[:nw][subnormal] != 0)
    np.testing.assert_allclose(kept[:nw], ref[:nw], rtol=1e-4, atol=2 * np.finfo(np.float32).smallest_subnormal)
    np.testing.assert_allclose(kept[nw:], ref[nw:], rtol=1e-5, atol=1e-4 * np.abs(ref[nw:]).max())


def test_params_are_only_read_and_grads_fully_written():
    params, X, y, _ = _problem(np.float64, "mse")
    params.flags.writeable = False
    value, grads = _loss_grad("c", params, X, y, "mse")
    assert np.isfinite(value) and np.all(np.isfinite(grads))


def _args(**change):
    params, X, y, sw = _problem(np.float64, "softmax_xent", weighted=True)
    kw = dict(params=params, grads=np.empty_like(params), X=X, y=y, sizes=SIZES, activation="relu",
              loss="softmax_xent", sample_weight=sw)
    kw.update(change)
    return kw


@pytest.mark.parametrize("exc, match, change", [
    (ValueError, r"params must have shape \(165,\) for sizes \(6, 9, 7, 4\)", dict(params=np.zeros(5))),
    (TypeError, "params must be float32 or float64", dict(params=np.zeros(165, np.int64))),
    (TypeError, "grads must be a numpy.ndarray", dict(grads=[0.0] * 165)),
    (ValueError, "grads", dict(grads=np.zeros(164))),
    (TypeError, "X has dtype float32", dict(X=np.zeros((37, 6), np.float32))),
    (ValueError, r"X must have sizes\[0\] = 6 columns", dict(X=np.zeros((37, 5)))),
    (ValueError, r"y labels must lie in \[0, 4\)", dict(y=np.full(37, 4))),
    (TypeError, "y must hold integer class labels", dict(y=np.zeros(37))),
    (ValueError, r"y must have shape \(37, 4\)", dict(loss="mse", y=np.zeros((37, 3)))),
    (ValueError, "sample_weight sums to 0", dict(sample_weight=np.zeros(37))),
    (ValueError, r"sample_weight must have shape \(37,\)", dict(sample_weight=np.ones(3))),
    (ValueError, "alpha", dict(alpha=-1.0)),
    (ValueError, "loss_clip", dict(loss_clip=0.5)),
    (ValueError, "loss must be one of", dict(loss="hinge")),
    (ValueError, "sizes must list at least 2 layer widths", dict(sizes=[6])),
])
def test_invalid_input(exc, match, change):
    kw = _args(**change)
    with pytest.raises(exc, match=match):
        K.loss_grad(kw.pop("params"), kw.pop("grads"), kw.pop("X"), kw.pop("y"), **kw)


def test_grads_must_not_overlap_params_or_x():
    kw = _args()
    params = kw.pop("params")
    with pytest.raises(ValueError, match="overlaps"):
        K.loss_grad(params, params, kw.pop("X"), kw.pop("y"), **{k: v for k, v in kw.items() if k != "grads"})
    kw = _args(loss="mse", y=np.zeros((37, 4)))
    X = np.zeros((kw["params"].size, 6))
    with pytest.raises(ValueError, match="grads overlaps X"):
        K.loss_grad(kw["params"], X.reshape(-1)[:kw["params"].size], X, np.zeros((X.shape[0], 4)), sizes=SIZES,
                    activation="relu", loss="mse")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_reference_and_numba_chunks_add_up_to_the_whole_pass(backend, dtype, weighted, monkeypatch):
    """Beyond GRAD_CHUNK_ROWS rows the reference and Numba passes run in chunks (a
    workspace of that many rows, not of all of X; Numba's own, smaller, constant): 250 rows
    in chunks of 100, 100 and 50 give the one-batch loss and gradient, the L2 term once; a
    chunk whose weights are all 0 adds nothing."""
    from fastnn.backends import _train_numba, _train_reference

    module = _train_reference if backend == "numpy" else _train_numba
    params, X, y, sw = _problem(dtype, "softmax_xent", n=250, weighted=weighted)
    if weighted:
        sw[100:200] = 0.0
    kw = dict(alpha=0.03, sample_weight=sw, activation="relu")
    monkeypatch.setattr(module, "GRAD_CHUNK_ROWS", 250)
    want = _loss_grad(backend, params, X, y, "softmax_xent", **kw)
    monkeypatch.setattr(module, "GRAD_CHUNK_ROWS", 100)
    got = _loss_grad(backend, params, X, y, "softmax_xent", **kw)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=rtol * np.abs(want[1]).max())
    np.testing.assert_allclose(got[0], want[0], rtol=rtol)
