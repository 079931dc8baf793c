"""fastnn.kernels.train_epoch: the C and Numba epochs against the reference epoch,
the reference epoch against a hand-written composition of fastnn.kernels calls,
the step counter across epochs, and input validation."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from conftest import mlp_targets
from fastnn import backends, kernels as K
from fastnn.backends._train_reference import N_STATE, OPTIMIZERS, layout

OPTS = list(OPTIMIZERS)
LOSSES = ["softmax_xent", "sigmoid_bce", "mse"]
SIZES = [7, 9, 5, 3]
N, BS = 23, 8  # 3 batches: 8, 8 and a short last one of 7
HIDDEN_ACTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "elu"]


def _native_backends():
    found = []
    for name in ("c", "numba"):
        try:
            K._train_module(name)
        except ValueError:
            continue
        found.append(name)
    return found


NATIVE = _native_backends()
# float64 agrees to rounding; float32 to ~1e-5 of the parameters' scale (Adam divides by
# sqrt(v), which amplifies rounding differences of near-zero gradients)
TOL = {np.float64: dict(rtol=1e-10, atol_scale=1e-10), np.float32: dict(rtol=1e-5, atol_scale=2e-5)}


def _problem(dtype, loss, sizes=SIZES, n=N, seed=0):
    rng = np.random.default_rng(seed)
    size = layout(sizes)[3]
    params = (rng.standard_normal(size) * 0.4).astype(dtype)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = mlp_targets(rng, loss, n, sizes[-1], dtype)
    return params, X, y


def _train(backend, dtype, optimizer, loss, *, epochs=2, activation="relu", sizes=SIZES, n=N, perm_len=None,
           lr=0.01, bs=BS, **kw):
    """Run `epochs` epochs from the same start; return (params, state, epoch losses, batch losses)."""
    params, X, y = _problem(dtype, loss, sizes, n)
    grads = np.zeros_like(params)
    state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], params.size), dtype)
    rng = np.random.default_rng(42)
    m = n if perm_len is None else perm_len
    nb = -(-m // bs)
    losses, batch = [], []
    for e in range(epochs):
        perm = rng.permutation(n)[:m]
        bl = np.full(nb, np.nan)
        losses.append(K.train_epoch(params, grads, state, X, y, perm, sizes=sizes, activation=activation, loss=loss,
                                    optimizer=optimizer, lr=lr, step=e * nb, batch_size=bs, batch_losses=bl,
                                    backend=backend, **kw))
        batch.append(bl)
    return params, state, np.array(losses), np.array(batch)


def _close(actual, expected, dtype, what):
    tol = TOL[dtype]
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol_scale"] * scale, err_msg=what)


def _same_run(backend, dtype, optimizer, loss, **kw):
    ref = _train("numpy", dtype, optimizer, loss, **kw)
    got = _train(backend, dtype, optimizer, loss, **kw)
    for name, a, b in zip(("params", "state", "epoch losses", "batch losses"), got, ref):
        _close(a, b, dtype, f"{backend} {np.dtype(dtype).name} {optimizer} {loss}: {name}")


EXTRAS = {
    "plain": {},
    "penalised+dropout": dict(dropout=0.3, alpha=1e-2, l1=1e-2, weight_decay=1e-2, seed=7),
    # weights in [0, 2]: some zero, none summing to 0 over a batch
    "weighted+penalised": dict(sample_weight=np.r_[0.0, np.random.default_rng(3).random(N - 1) * 2], alpha=1e-2),
}


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad"])
def test_native_epoch_confident_softmax_gives_no_gradient_noise(backend, dtype, weighted, optimizer):
    """A class predicted with probability 1 (to the dtype) has a zero softmax-xent gradient,
    as in the reference: the Numba epoch subtracted the row's share 1/rows from the stored,
    rounded p/rows and left ~2^-24/rows behind in float32 (batches of 3 rows), which the
    adaptive optimizers scaled into whole steps of lr."""
    sizes = (4, 3)
    n = 9
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4)).astype(dtype)
    y = np.zeros(n, np.int32)
    size = layout(sizes)[3]
    start = np.zeros(size, dtype)
    start[12:] = (30.0, 0.0, 0.0)  # the biases: class 0 at probability 1 - 2e-13
    sw = rng.random(n) + 0.5 if weighted else None
    out = {}
    for be in ("numpy", backend):
        params = start.copy()
        state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], size), dtype)
        K.train_epoch(params, np.empty_like(params), state, X, y, np.arange(n), sizes=sizes, activation="relu",
                      loss="softmax_xent", optimizer=optimizer, lr=0.01, step=0, batch_size=3, sample_weight=sw,
                      backend=be)
        out[be] = params
    assert np.abs(out["numpy"] - start).max() < 1e-6
    _close(out[backend], out["numpy"], dtype, f"{backend} {np.dtype(dtype).name} {optimizer}")


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("extras", list(EXTRAS))
def test_native_epoch_matches_reference(backend, dtype, optimizer, loss, extras):
    _same_run(backend, dtype, optimizer, loss, **EXTRAS[extras])


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", HIDDEN_ACTS)
def test_native_epoch_every_activation(backend, dtype, activation):
    _same_run(backend, dtype, "momentum", "mse", activation=activation, dropout=0.25, alpha=1e-3, seed=3)


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("activation", ["tanh", "gelu"])  # act' from the output / the pre-activation
def test_native_epoch_widening_layers(backend, activation):
    # the widest hidden layer is not the first and the output is wider still: the per-batch
    # buffers (pre-activations, dz, dx) must be sized by the widest layer (no bounds checks)
    _same_run(backend, np.float64, "adam", "softmax_xent", sizes=[6, 3, 12, 4, 14], activation=activation,
              dropout=0.2, seed=1)


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
def test_native_epoch_subset_perm_and_params(backend):
    # perm shorter than X (m < n), two hidden layers of other widths, leaky_relu's slope
    _same_run(backend, np.float64, "adam", "softmax_xent", sizes=[5, 11, 4], n=30, perm_len=17,
              activation="leaky_relu", param=0.2, dropout=0.1)


@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
def test_c_epoch_generic_isa_and_threads():
    """The portable kernels and a problem big enough for the threaded elementwise paths."""
    from fastnn.backends import c as cb

    sizes = [200, 180, 10]  # 38k parameters: optimizer updates cross the one-thread threshold
    before_isa, before_threads = cb.isa_name(), fastnn.get_num_threads()
    ref = _train("numpy", np.float64, "adam", "softmax_xent", sizes=sizes, n=40, epochs=1, dropout=0.2)
    try:
        cb.set_isa("generic")
        fastnn.set_num_threads(2)
        got = _train("c", np.float64, "adam", "softmax_xent", sizes=sizes, n=40, epochs=1, dropout=0.2)
    finally:
        cb.set_isa(before_isa)
        fastnn.set_num_threads(before_threads)
    _close(got[0], ref[0], np.float64, "generic ISA, 2 threads")


def _sklearn_log_loss(params, X, y, sizes, loss, eps):
    """scikit-learn's log loss of the network's forward pass, written out in NumPy:
    probabilities clipped to [eps, 1 - eps] (ReLU hidden layers)."""
    from scipy.special import expit, softmax, xlogy

    w_off, b_off, _, _ = layout(sizes)
    h = X.astype(np.float64)
    p64 = params.astype(np.float64)
    for i in range(len(sizes) - 1):
        W = p64[w_off[i]:w_off[i] + sizes[i] * sizes[i + 1]].reshape(sizes[i], sizes[i + 1])
        h = h @ W + p64[b_off[i]:b_off[i] + sizes[i + 1]]
        if i < len(sizes) - 2:
            h = np.maximum(h, 0)
    if loss == "softmax_xent":
        p = np.clip(softmax(h, axis=1)[np.arange(len(y)), y], eps, 1 - eps)
        return float(-np.log(p).mean())
    p = np.clip(expit(h), eps, 1 - eps)
    return float(-(xlogy(y, p) + xlogy(1 - y, 1 - p)).sum() / len(y))


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["softmax_xent", "sigmoid_bce"])
def test_loss_clip_is_sklearns_probability_clipping(backend, dtype, loss):
    """Saturated logits (some true-class probabilities far below eps, some at 1):
    with loss_clip = eps the epoch's loss is scikit-learn's clipped log loss; the
    gradient, hence the trained parameters, is the same with and without it."""
    params, X, y = _problem(dtype, loss)
    params *= 40  # logits in the hundreds
    eps = float(np.finfo(dtype).eps)
    kw = dict(sizes=SIZES, activation="relu", loss=loss, optimizer="adam", step=0, batch_size=N, backend=backend)

    def epoch(lr, clip):
        p = params.copy()
        state = np.zeros((2, p.size), dtype)
        value = K.train_epoch(p, np.empty_like(p), state, X, y, np.arange(N), lr=lr, loss_clip=clip, **kw)
        return value, p

    expected = _sklearn_log_loss(params, X, y, SIZES, loss, eps)
    unclipped, _ = epoch(0.0, 0.0)
    assert unclipped > 1.5 * expected  # the clipping matters here
    clipped, _ = epoch(0.0, eps)
    np.testing.assert_allclose(clipped, expected, rtol=1e-9 if dtype == np.float64 else 2e-6)
    _, trained = epoch(0.01, eps)
    _, trained_unclipped = epoch(0.01, 0.0)
    np.testing.assert_array_equal(trained, trained_unclipped)


@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
def test_loss_clip_on_the_portable_c_path():
    from fastnn.backends import c as cb

    before = cb.isa_name()
    try:
        cb.set_isa("generic")
        test_loss_clip_is_sklearns_probability_clipping("c", np.float64, "softmax_xent")
        test_loss_clip_is_sklearns_probability_clipping("c", np.float32, "sigmoid_bce")
    finally:
        cb.set_isa(before)


# ------------------------------------------------------------- the reference itself


def _hand_epoch(params, grads, state, X, y, perm, *, sizes, lr, step, bs, alpha, l1, wd, p_drop, seed):
    """One adam + softmax_xent + relu epoch written with public fastnn.kernels calls only."""
    _, _, nw, _ = layout(sizes)
    L = len(sizes) - 1
    Ws, Bs, gWs, gBs, off = [], [], [], [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        Ws.append(params[off:off + i * o].reshape(i, o))
        gWs.append(grads[off:off + i * o].reshape(i, o))
        off += i * o
    for o in sizes[1:]:
        Bs.append(params[off:off + o])
        gBs.append(grads[off:off + o])
        off += o
    total, batch_losses = 0.0, []
    for b, start in enumerate(range(0, len(perm), bs)):
        idx = perm[start:start + bs]
        rows, t = len(idx), step + b + 1
        inputs, outs = [], []
        a = X[idx]
        for l in range(L):
            inputs.append(a)
            act = "relu" if l < L - 1 else "identity"
            h = K.dense_forward(a, Ws[l], Bs[l], act, backend="numpy")
            outs.append(h)
            a = K.dropout_forward(h, p_drop, seed=seed, step=t * 1024 + l, backend="numpy") if l < L - 1 else h
        loss, g = K.softmax_xent(a, y[idx], backend="numpy")
        loss += 0.5 * alpha * float(np.sum(params[:nw].astype(np.float64) ** 2)) / rows
        for l in range(L - 1, -1, -1):
            if l < L - 1:
                g = K.dropout_backward(g, p_drop, seed=seed, step=t * 1024 + l, backend="numpy")
            act = "relu" if l < L - 1 else "identity"
            dx, _, _ = K.dense_backward(g, inputs[l], Ws[l], act, y=outs[l], need_dx=l > 0, dw=gWs[l], db=gBs[l],
                                        backend="numpy")
            g = dx
        grads[:nw] += (alpha / rows) * params[:nw]  # scikit-learn's L2 term of dW
        K.adam_update(params[:nw], grads[:nw], state[0, :nw], state[1, :nw], lr=lr, step=t, l1=l1,
                      weight_decay=wd, backend="numpy")
        K.adam_update(params[nw:], grads[nw:], state[0, nw:], state[1, nw:], lr=lr, step=t, backend="numpy")
        batch_losses.append(loss)
        total += loss * rows
    return total / len(perm), np.array(batch_losses)


# Batches big enough for the C epoch to split them over 2 threads by rows (csrc/train.c:
# 150 rows, 8.6 MFLOP, enough in float32 too); the last batch has one row, so one
# thread has none.
ROW_SPLIT = dict(sizes=[32, 96, 64, 5], n=451, bs=150)


@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer,loss,extras", [
    ("adam", "softmax_xent", "plain"),
    ("momentum", "mse", "penalised+dropout"),
    ("rmsprop", "sigmoid_bce", "weighted+penalised"),
    ("sgd", "softmax_xent", "penalised+dropout"),
])
def test_c_epoch_split_over_threads_by_rows(dtype, optimizer, loss, extras):
    """The data-parallel epoch (each thread a share of every batch's rows, gradients
    added in thread order) against the reference, and against itself on 1 thread."""
    kw = dict(EXTRAS[extras], **ROW_SPLIT)
    if loss == "mse":
        kw["loss_div"] = 3.0  # (the reported losses of scikit-learn's 3-output squared loss)
    if "sample_weight" in kw:
        kw["sample_weight"] = np.r_[0.0, np.random.default_rng(3).random(ROW_SPLIT["n"] - 1) * 2]
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(2)
        two = _train("c", dtype, optimizer, loss, **kw)
        again = _train("c", dtype, optimizer, loss, **kw)
        fastnn.set_num_threads(1)
        one = _train("c", dtype, optimizer, loss, **kw)
    finally:
        fastnn.set_num_threads(before)
    ref = _train("numpy", dtype, optimizer, loss, **kw)
    for name, a, b, c in zip(("params", "state", "epoch losses", "batch losses"), two, ref, one):
        _close(a, b, dtype, f"2 threads vs reference: {name}")
        _close(a, c, dtype, f"2 threads vs 1 thread: {name}")
    for a, b in zip(two, again):
        np.testing.assert_array_equal(a, b)  # a thread count always gives the same numbers
    # the weight gradients were summed in another order: the rows were really split (where
    # the build has OpenMP: without it, as under ASAN, every region runs on the caller)
    if backends.get("c").openmp_version():
        assert not np.array_equal(two[0], one[0])


def test_reference_epoch_equals_kernel_composition():
    sizes, dtype = [6, 8, 7, 4], np.float64
    params, X, y = _problem(dtype, "softmax_xent", sizes, 21, seed=5)
    perm = np.random.default_rng(9).permutation(21)
    kw = dict(lr=0.02, alpha=0.05, l1=1e-3, wd=1e-2, p_drop=0.3, seed=11)
    p_hand, s_hand = params.copy(), np.zeros((2, params.size))
    loss_hand, bl_hand = _hand_epoch(p_hand, np.zeros_like(params), s_hand, X, y, perm, sizes=sizes, step=4, bs=BS,
                                     **kw)
    p_ref, s_ref, bl_ref = params.copy(), np.zeros((2, params.size)), np.empty(3)
    loss_ref = K.train_epoch(p_ref, np.zeros_like(params), s_ref, X, y, perm, sizes=sizes, activation="relu",
                             loss="softmax_xent", optimizer="adam", lr=kw["lr"], step=4, batch_size=BS,
                             alpha=kw["alpha"], l1=kw["l1"], weight_decay=kw["wd"], dropout=kw["p_drop"],
                             seed=kw["seed"], batch_losses=bl_ref, backend="numpy")
    np.testing.assert_allclose(p_ref, p_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s_ref, s_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bl_ref, bl_hand, rtol=1e-12)
    assert loss_ref == pytest.approx(loss_hand, rel=1e-12)
    assert loss_ref == pytest.approx(float(np.sum(bl_ref * np.array([8, 8, 5]))) / 21, rel=1e-12)
    assert not np.allclose(p_ref, params)  # it trained


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
def test_epochs_in_a_row_equal_one_long_epoch(backend):
    """Epochs with step advanced by n_batches == one call over the concatenated permutations
    (Adam's t and the dropout keys continue), which pins down the step semantics."""
    sizes, n = SIZES, 24  # 3 full batches per epoch
    params, X, y = _problem(np.float64, "softmax_xent", sizes, n)
    rng = np.random.default_rng(1)
    perms = [rng.permutation(n) for _ in range(3)]
    kw = dict(sizes=sizes, activation="tanh", loss="softmax_xent", optimizer="adam", lr=0.01, batch_size=BS,
              dropout=0.3, seed=2, alpha=1e-3, backend=backend)
    p1, g1, s1 = params.copy(), np.zeros_like(params), np.zeros((2, params.size))
    losses = [K.train_epoch(p1, g1, s1, X, y, perm, step=3 * e, **kw) for e, perm in enumerate(perms)]
    p2, g2, s2 = params.copy(), np.zeros_like(params), np.zeros((2, params.size))
    long_loss = K.train_epoch(p2, g2, s2, X, y, np.concatenate(perms), step=0, **kw)
    np.testing.assert_allclose(p1, p2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s1, s2, rtol=1e-12, atol=1e-14)
    assert long_loss == pytest.approx(np.mean(losses), rel=1e-12)
    # restarting the counter instead gives different weights (the test can fail)
    p3, s3 = params.copy(), np.zeros((2, params.size))
    for perm in perms:
        K.train_epoch(p3, np.zeros_like(params), s3, X, y, perm, step=0, **kw)
    assert not np.allclose(p3, p1)


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
@pytest.mark.parametrize("loss", LOSSES)
def test_integer_weights_equal_repeated_rows(backend, loss):
    """One batch holding every row: weight w_r is row r repeated w_r times (in loss,
    gradient and the L2 term's divisor), which states sample_weight's meaning
    without the implementation's formula."""
    sizes, n = [4, 6, 3], 9
    params, X, y = _problem(np.float64, loss, sizes, n, seed=2)
    w = np.array([1, 0, 3, 2, 1, 1, 4, 0, 2])
    rep = np.repeat(np.arange(n), w)
    kw = dict(sizes=sizes, activation="tanh", loss=loss, optimizer="adam", lr=0.05, step=0, alpha=0.3,
              backend=backend)
    p1, s1 = params.copy(), np.zeros((2, params.size))
    l1 = K.train_epoch(p1, np.empty_like(p1), s1, X, y, np.arange(n), batch_size=n, sample_weight=w, **kw)
    p2, s2 = params.copy(), np.zeros((2, params.size))
    l2 = K.train_epoch(p2, np.empty_like(p2), s2, X[rep], y[rep], np.arange(rep.size), batch_size=rep.size, **kw)
    np.testing.assert_allclose(p1, p2, rtol=1e-12, atol=1e-14)
    assert l1 == pytest.approx(l2, rel=1e-12)
    # and the weights matter (the test can fail)
    p3 = params.copy()
    K.train_epoch(p3, np.empty_like(p3), np.zeros((2, params.size)), X, y, np.arange(n), batch_size=n, **kw)
    assert not np.allclose(p3, p1)


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
def test_l2_term_is_the_backends_l2_kernel(backend):
    """The batch loss's L2 term is alpha * l2_penalty(weights) / rows, with the backend's own
    l2 kernel to the bit (a batch whose data loss is exactly 0 shows the term alone). The
    Numba epoch summed the squares in one scalar float64 chain of its own: a quarter of its
    epoch time at 64-128-64-10, batch 32 (scikit-learn's alpha is on by default)."""
    sizes, n, alpha = [5, 40, 30, 3], 8, 0.3
    w_off, b_off, nw, size = layout(sizes)
    params = np.random.default_rng(5).standard_normal(size)
    params[b_off[0]:b_off[2]] = -1e3  # every hidden unit dead: the output is the output bias
    X = np.random.default_rng(6).random((n, sizes[0]))
    y = np.tile(params[b_off[2]:], (n, 1))  # mse targets equal to the output: data loss 0
    bl = np.full(1, np.nan)
    K.train_epoch(params.copy(), np.empty_like(params), np.empty((0, size)), X, y, np.arange(n), sizes=sizes,
                  activation="relu", loss="mse", optimizer="sgd", lr=0.01, step=0, batch_size=n, alpha=alpha,
                  batch_losses=bl, backend=backend)
    assert bl[0] == alpha * K.l2_penalty(params[:nw], backend=backend) / n


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_div_divides_each_batchs_data_term_only(backend, dtype, weighted):
    """loss_div=k in one call against k's division made batch by batch from undivided
    calls (the estimator's multi-output regressor ran so before: one call a batch, its L2
    term alpha * l2_penalty(W) / s of the weights before it): the same updates to the bit
    (the gradient is not divided) and each batch's loss data / k + its L2 term."""
    k, alpha = SIZES[-1], 0.05
    params, X, y = _problem(dtype, "mse")
    nw = layout(SIZES)[2]
    sw = np.r_[0.0, np.random.default_rng(3).random(N - 1) * 2] if weighted else None
    perm = np.random.default_rng(4).permutation(N)
    common = dict(sizes=SIZES, activation="tanh", loss="mse", optimizer="adam", lr=0.05, batch_size=BS,
                  alpha=alpha, sample_weight=sw, backend=backend)
    nb = -(-N // BS)

    one = params.copy()
    state = np.zeros((2, one.size), dtype)
    got = np.full(nb, np.nan)
    epoch = K.train_epoch(one, np.empty_like(one), state, X, y, perm, step=0, batch_losses=got, loss_div=float(k),
                          **common)

    split = params.copy()
    state = np.zeros((2, split.size), dtype)
    want, undivided = np.empty(nb), np.empty(nb)
    for b in range(nb):
        rows = perm[b * BS:(b + 1) * BS]
        s = len(rows) if sw is None else float(np.sum(sw[rows]))
        pen = alpha * K.l2_penalty(split[:nw], backend=backend) / s
        data_and_pen = K.train_epoch(split, np.empty_like(split), state, X, y, rows, step=b, **common)
        want[b] = (data_and_pen - pen) / k + pen
        undivided[b] = data_and_pen
    np.testing.assert_array_equal(one, split)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    lengths = np.minimum(BS, N - BS * np.arange(nb))
    np.testing.assert_allclose(epoch, np.dot(got, lengths) / N, rtol=1e-14)
    assert np.all(got < undivided)  # a division there was to see


def _on_each_divider_form(run):
    """[run() with the C optimizers' 512-bit divider form on, run() with it off]."""
    from fastnn.backends import c as cb

    before = cb.get_zmm_divide()
    try:
        results = []
        for zmm in (True, False):
            cb.set_zmm_divide(zmm)
            results.append(run())
        return results
    finally:
        cb.set_zmm_divide(before)


@pytest.mark.parametrize("sizes", [[5, 40, 30, 3], [2, 3, 2], [3, 4, 4]], ids=["tail", "short", "whole"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_batches_sum_the_l2_term_as_the_l2_kernel(sizes, dtype, optimizer):
    """The C epoch's Adam sums the weights' squares as it updates them (512-bit form): its L2
    term is the l2 kernel's to the bit, and the epoch's results are those of the separate passes
    (the 8-lane forms), for weights ending in a partial block of 16, fewer than 16 and whole blocks."""
    from fastnn.backends import c as cb

    if not cb.cpu_has_avx512f():
        pytest.skip("the fused form needs AVX-512F")
    n, alpha = 8, 0.3
    w_off, b_off, nw, size = layout(sizes)
    params = np.random.default_rng(5).standard_normal(size).astype(dtype)
    params[b_off[0]:b_off[-1]] = -1e3  # every hidden unit dead: the output is the output bias
    X = np.random.default_rng(6).random((n, sizes[0])).astype(dtype)
    y = np.tile(params[b_off[-1]:], (n, 1))  # mse targets equal to the output: data loss 0

    def run():
        p, bl = params.copy(), np.full(1, np.nan)
        state = np.zeros((2, size), dtype)
        loss = K.train_epoch(p, np.empty_like(p), state, X, y, np.arange(n), sizes=sizes, activation="relu",
                             loss="mse", optimizer=optimizer, lr=0.01, step=0, batch_size=n, alpha=alpha,
                             weight_decay=0.1 if optimizer == "adamw" else 0.0, batch_losses=bl, backend="c")
        assert bl[0] == alpha * K.l2_penalty(params[:nw], backend="c") / n
        return p, state, loss

    runs = _on_each_divider_form(run)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_sums_a_csr_first_layers_l2_term_as_it_updates_its_chunks(dtype, optimizer):
    """A CSR X's first layer is updated in chunks of its rows (train.c's w0_update): Adam's
    512-bit form sums each chunk's squares as it updates it, the same bits as the separate
    passes of the 8-lane forms (chunks of 4095 and 805 weights here: partial blocks of 16)."""
    import scipy.sparse as sp
    from fastnn.backends import c as cb

    if not cb.cpu_has_avx512f():
        pytest.skip("the fused form needs AVX-512F")
    sizes, n, alpha = [700, 7, 3], 40, 0.3
    size = layout(sizes)[3]
    rng = np.random.default_rng(8)
    params = (0.1 * rng.standard_normal(size)).astype(dtype)
    X = sp.random(n, sizes[0], density=0.02, format="csr", random_state=9, dtype=dtype)
    labels = rng.integers(0, 3, n).astype(np.int32)

    def run():
        p, bl = params.copy(), np.full(3, np.nan)
        state = np.zeros((2, size), dtype)
        loss = K.train_epoch(p, np.empty_like(p), state, X, labels, np.arange(n), sizes=sizes,
                             activation="relu", loss="softmax_xent", optimizer=optimizer, lr=0.01, step=0,
                             batch_size=16, alpha=alpha, weight_decay=0.1 if optimizer == "adamw" else 0.0,
                             batch_losses=bl, backend="c")
        return p, state, bl, loss

    runs = _on_each_divider_form(run)
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(runs[0][0], params)  # (trained)


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_nan_in_x_spreads_like_the_reference(backend, dtype, activation):
    # A NaN feature makes the whole step NaN in the spec (relu and elu of NaN are NaN,
    # and a dead unit's gradient is NaN * 0). Numba's relu/elu mapped it to 0 and C's
    # relu backward selected 0, so part of the weights stayed finite after a NaN loss.
    params, X, y = _problem(dtype, "softmax_xent")
    X[3, 2] = np.nan
    perm = np.arange(N)
    out = {}
    for be in ("numpy", backend):
        p, g = params.copy(), np.zeros_like(params)
        state = np.zeros((2, p.size), dtype)
        loss = K.train_epoch(p, g, state, X, y, perm, sizes=SIZES, activation=activation, loss="softmax_xent",
                             optimizer="adam", lr=0.01, step=0, batch_size=BS, backend=be)
        out[be] = (np.isnan(loss), np.isnan(p))
    assert out[backend][0] and out["numpy"][0]
    np.testing.assert_array_equal(out[backend][1], out["numpy"][1])


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
def test_l1_step_keeps_nan_weights_like_the_reference(backend):
    # The Numba epoch's proximal L1 step mapped a NaN weight to 0 (w > thr and w < -thr
    # are both false for NaN), silently "repairing" a diverged network.
    params, X, y = _problem(np.float64, "mse")
    params[:5] = np.nan
    out = {}
    for be in ("numpy", backend):
        p = params.copy()
        K.train_epoch(p, np.zeros_like(p), np.zeros((0, p.size)), X, y, np.arange(N), sizes=SIZES,
                      activation="relu", loss="mse", optimizer="sgd", lr=0.01, step=0, batch_size=BS, l1=1e-3,
                      backend=be)
        out[be] = np.isnan(p)
    assert out["numpy"][:5].all()
    np.testing.assert_array_equal(out[backend], out["numpy"])


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
def test_dropped_nan_units_stay_nan_like_the_reference(backend):
    # Hidden unit 0 is inf * 0 = NaN. The spec's dropout multiplies by the 0/1 mask, so a
    # dropped NaN stays NaN; the Numba epoch wrote 0 and, with this seed, reported a finite
    # loss from a NaN network.
    sizes = [1, 4, 1]
    size = layout(sizes)[3]
    out = {}
    for be in ("numpy", backend):
        p = np.full(size, 0.5)
        p[0] = 0.0
        with np.errstate(invalid="ignore"):  # the spec's matmul computes the inf * 0
            loss = K.train_epoch(p, np.zeros_like(p), np.zeros((0, size)), np.array([[np.inf]]), np.zeros((1, 1)),
                                 [0], sizes=sizes, activation="tanh", loss="mse", optimizer="sgd", lr=0.1, step=0,
                                 batch_size=1, dropout=0.5, seed=2, backend=be)
        out[be] = (np.isnan(loss), np.isnan(p))
    assert out["numpy"][0]
    assert out[backend][0]
    np.testing.assert_array_equal(out[backend][1], out["numpy"][1])


def test_dropout_changes_training_and_seed_matters():
    base = _train("numpy", np.float64, "sgd", "mse", epochs=1)[0]
    d1 = _train("numpy", np.float64, "sgd", "mse", epochs=1, dropout=0.5, seed=1)[0]
    d2 = _train("numpy", np.float64, "sgd", "mse", epochs=1, dropout=0.5, seed=2)[0]
    assert not np.allclose(base, d1) and not np.allclose(d1, d2)


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
def test_training_lowers_the_loss(backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10)).astype(np.float32)
    y = (X[:, :3].argmax(axis=1)).astype(np.int32)
    sizes = [10, 32, 3]
    params = (rng.standard_normal(layout(sizes)[3]) * 0.3).astype(np.float32)
    grads, state = np.empty_like(params), np.zeros((2, params.size), np.float32)
    losses = [K.train_epoch(params, grads, state, X, y, rng.permutation(200), sizes=sizes, activation="relu",
                            loss="softmax_xent", optimizer="adam", lr=1e-2, step=7 * e, batch_size=32,
                            backend=backend) for e in range(10)]
    assert losses[-1] < 0.5 * losses[0]


def test_one_output_mse_accepts_1d_targets():
    sizes = [4, 5, 1]
    params, X, y = _problem(np.float64, "mse", sizes, 10)
    a, b = params.copy(), params.copy()
    kw = dict(sizes=sizes, activation="relu", loss="mse", optimizer="sgd", lr=0.1, step=0, batch_size=4,
              backend="numpy")
    K.train_epoch(a, np.empty_like(a), np.zeros((0, a.size)), X, y, np.arange(10), **kw)
    K.train_epoch(b, np.empty_like(b), np.zeros((0, b.size)), X, y.ravel(), np.arange(10), **kw)
    np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------------- validation


def _args(loss="softmax_xent", optimizer="adam", dtype=np.float64):
    params, X, y = _problem(dtype, loss)
    state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], params.size), dtype)
    kw = dict(sizes=SIZES, activation="relu", loss=loss, optimizer=optimizer, lr=0.01, step=0, batch_size=BS,
              backend="numpy")
    return [params, np.zeros_like(params), state, X, y, np.arange(N)], kw


@pytest.mark.parametrize("backend", ["numpy"] + NATIVE)
def test_valid_call_runs(backend):
    args, kw = _args()
    kw["backend"] = backend
    assert np.isfinite(K.train_epoch(*args, **kw))


def _bad(exc, match, change):
    args, kw = _args(**change.pop("_setup", {}))
    for key, value in change.items():
        if isinstance(key, int):
            args[key] = value(args) if callable(value) else value
        else:
            kw[key] = value
    with pytest.raises(exc, match=match):
        K.train_epoch(*args, **kw)


@pytest.mark.parametrize("exc, match, change", [
    (TypeError, "integer class labels", {4: lambda a: a[4].astype(np.float64)}),
    (TypeError, "float targets", {"_setup": dict(loss="mse"), 4: lambda a: a[4].astype(np.int32)}),
    (TypeError, "float targets", {"_setup": dict(loss="sigmoid_bce"), 4: lambda a: a[4].astype(np.float32)}),
    (ValueError, r"y must lie in \[0, 1\] for the sigmoid cross-entropy",
     {"_setup": dict(loss="sigmoid_bce"), 4: lambda a: a[4] * 2}),
    (ValueError, r"y must lie in \[0, 1\]", {"_setup": dict(loss="sigmoid_bce"), 4: lambda a: a[4] - 1}),
    (ValueError, r"y must lie in \[0, 1\].*nan",
     {"_setup": dict(loss="sigmoid_bce"), 4: lambda a: np.where(a[4] == 0, np.nan, a[4])}),
    (ValueError, "labels must lie in", {4: lambda a: a[4] + 3}),
    (ValueError, "y must have shape", {4: lambda a: a[4][:-1]}),
    (ValueError, r"perm indices must lie in \[0, 23\)", {5: lambda a: np.array([0, 1, 23])}),
    (ValueError, "perm indices", {5: lambda a: np.array([0, -1])}),
    (TypeError, "perm must hold integer", {5: lambda a: a[5].astype(np.float64)}),
    (ValueError, "perm must be 1-D with at least one", {5: lambda a: np.array([], np.int64)}),
    (ValueError, r"params must have shape \(140,\)", {0: lambda a: np.zeros(139)}),
    (ValueError, "grads must have shape", {1: lambda a: np.zeros(141)}),
    (TypeError, "grads must have dtype", {1: lambda a: a[1].astype(np.float32)}),
    (ValueError, r"state must have shape \(2, 140\)", {2: lambda a: np.zeros((1, 140))}),
    (ValueError, r"state must have shape \(0, 140\)", {"_setup": dict(optimizer="sgd"), 2: np.zeros((1, 140))}),
    (ValueError, r"state must have shape \(1, 140\)", {"_setup": dict(optimizer="rmsprop"),
                                                       2: np.zeros((2, 140))}),
    (TypeError, "state must be a numpy.ndarray", {2: [[0.0]]}),
    (ValueError, "X must have sizes", {3: lambda a: a[3][:, :-1]}),
    (TypeError, "X has dtype float32", {3: lambda a: a[3].astype(np.float32)}),
    (ValueError, "overlaps params", {1: lambda a: a[0]}),
    (ValueError, "optimizer must be one of", {"optimizer": "lbfgs"}),
    (ValueError, "loss must be one of", {"loss": "hinge"}),
    (ValueError, "activation must be one of", {"activation": "swish"}),
    (ValueError, "not a hidden activation", {"activation": "softmax"}),
    (ValueError, "sizes must list", {"sizes": [7]}),
    (ValueError, "sizes must list", {"sizes": [7, 0, 3]}),
    (ValueError, "batch_size must be an int >= 1", {"batch_size": 0}),
    (ValueError, "step must be an int >= 0", {"step": -1}),
    (ValueError, "step must be an int >= 0", {"step": 1.0}),
    (ValueError, r"dropout must be in \[0, 1\)", {"dropout": 1.0}),
    (ValueError, "lr must be", {"lr": -0.1}),
    (ValueError, "lr must be", {"lr": float("nan")}),
    (ValueError, "eps must be", {"eps": 0.0}),
    (ValueError, r"beta2 must be a finite number >= 0.0 and < 1.0", {"beta2": 1.0}),
    (ValueError, "seed must be", {"seed": -3}),
    (ValueError, r"batch_losses must have shape \(3,\)", {"batch_losses": np.zeros(2)}),
    (TypeError, "batch_losses must have dtype float64", {"batch_losses": np.zeros(3, np.float32)}),
    (ValueError, "backend must be one of", {"backend": "cuda"}),
    (ValueError, r"loss_clip must be a finite number >= 0.0 and < 0.5", {"loss_clip": 0.5}),
    (ValueError, r"loss_clip must be a finite number >= 0.0", {"loss_clip": -1e-7}),
    (ValueError, r"loss_clip must be", {"loss_clip": float("nan")}),
    (ValueError, r"loss_div must be a finite number > 0.0", {"loss_div": 0.0}),
    (ValueError, r"loss_div must be", {"loss_div": float("inf")}),
    (ValueError, r"sample_weight must have shape \(23,\)", {"sample_weight": np.ones(22)}),
    (TypeError, "sample_weight must hold real numbers", {"sample_weight": np.array(["a"] * 23)}),
    (ValueError, "sample_weight must be finite", {"sample_weight": np.r_[np.ones(22), np.nan]}),
    (ValueError, r"sample_weight sums to 0 over the rows of batch 1 \(of 3\)",
     {"sample_weight": np.r_[np.ones(8), np.zeros(8), np.ones(7)]}),
])
def test_invalid_input(exc, match, change):
    _bad(exc, match, change)


def test_params_must_be_writeable_array():
    args, kw = _args()
    args[0] = list(args[0])
    with pytest.raises(TypeError, match="params must be a numpy.ndarray"):
        K.train_epoch(*args, **kw)
    args, kw = _args()
    args[0].flags.writeable = False
    with pytest.raises(ValueError, match="params must be writeable"):
        K.train_epoch(*args, **kw)


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("loss, sizes", [("softmax_xent", [6, 4]), ("sigmoid_bce", [6, 1]), ("mse", [6, 2])])
def test_native_epoch_linear_model(backend, loss, sizes):
    """No hidden layer (the linear models' case): dropout has nothing to act on."""
    _same_run(backend, np.float64, "sgd", loss, sizes=sizes, alpha=0.1, l1=1e-2, dropout=0.5)
    _same_run(backend, np.float32, "adagrad", loss, sizes=sizes, weight_decay=0.1)


@pytest.mark.skipif(not NATIVE, reason="no native epoch built")
@pytest.mark.parametrize("backend", NATIVE)
def test_native_epoch_batch_larger_than_perm_and_single_row(backend):
    _same_run(backend, np.float64, "rmsprop", "mse", perm_len=5)  # one short batch (5 < 8)
    _same_run(backend, np.float64, "nesterov", "softmax_xent", perm_len=1, dropout=0.5)


# --------------------------------------------------------------- subnormal flushing


def _decaying_input_epoch(flush, dtype=np.float32, optimizer="adam", sizes=(3, 4, 2)):
    """One C epoch where input 0 is always zero and its weights start subnormal: their
    gradient is the L2 penalty's alone, subnormal too (SGD keeps them in that range;
    Adam and RMSprop, dividing by ~eps, move them out of it)."""
    from fastnn.backends import c

    sizes = list(sizes)
    params, X, y = _problem(dtype, "softmax_xent", sizes, n=16)
    X[:, 0] = 0
    # W[0, :], the weights of input 0: subnormal
    params[: sizes[1]] = np.finfo(dtype).smallest_normal * np.arange(1, sizes[1] + 1) / (2 * sizes[1])
    grads = np.zeros_like(params)
    state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], params.size), dtype)
    before = c.get_flush_subnormals()
    try:
        c.set_flush_subnormals(flush)
        K.train_epoch(params, grads, state, X, y, np.arange(16), sizes=sizes, activation="relu",
                      loss="softmax_xent", optimizer=optimizer, lr=0.01, step=0, batch_size=4, alpha=0.5,
                      backend="c")
    finally:
        c.set_flush_subnormals(before)
    return params, state, sizes


@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("threads", [1, 2])
def test_float32_epoch_flushes_subnormals_in_its_updates(optimizer, threads):
    # 2 threads and 161k parameters: the update is split between threads, each must flush
    sizes = (3, 4, 2) if threads == 1 else (3, 400, 400)
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(threads)
        kept, kept_state, sizes = _decaying_input_epoch(False, optimizer=optimizer, sizes=sizes)
        flushed, flushed_state, _ = _decaying_input_epoch(True, optimizer=optimizer, sizes=sizes)
    finally:
        fastnn.set_num_threads(before)
    w0 = slice(0, sizes[1])
    tiny = np.finfo(np.float32).smallest_normal
    assert np.all(kept[w0] != 0), "kept: the subnormal start moves the weights of input 0"
    np.testing.assert_array_equal(flushed[w0], 0)
    for arr in (flushed, flushed_state):
        assert not np.any((arr != 0) & (np.abs(arr) < tiny)), "no subnormal left"
    # every other parameter: the same bits (flushing changes only subnormal results)
    np.testing.assert_array_equal(flushed[sizes[1]:], kept[sizes[1]:])


@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
def test_subnormals_kept_match_the_reference_and_float64_never_flushes():
    from fastnn.backends import c

    assert c.get_flush_subnormals()  # the default
    kept, kept_state, sizes = _decaying_input_epoch(False)
    ref = _decaying_input_epoch_reference(sizes)
    np.testing.assert_array_equal(kept[: sizes[1]], ref[: sizes[1]])
    # float64 keeps them whatever the knob says (its numbers are scikit-learn's)
    p64, _, _ = _decaying_input_epoch(True, dtype=np.float64)
    assert np.all(p64[: sizes[1]] != 0)


def _decaying_input_epoch_reference(sizes):
    params, X, y = _problem(np.float32, "softmax_xent", sizes, n=16)
    X[:, 0] = 0
    params[: sizes[1]] = np.finfo(np.float32).smallest_normal * np.arange(1, sizes[1] + 1) / (2 * sizes[1])
    state = np.zeros((N_STATE[OPTIMIZERS["adam"]], params.size), np.float32)
    K.train_epoch(params, np.zeros_like(params), state, X, y, np.arange(16), sizes=sizes, activation="relu",
                  loss="softmax_xent", optimizer="adam", lr=0.01, step=0, batch_size=4, alpha=0.5,
                  backend="numpy")
    return params



@pytest.mark.skipif("c" not in NATIVE, reason="C epoch not built")
def test_the_update_kernels_called_alone_flush_as_the_epoch_does_and_keep_as_the_reference():
    """The knob covers the updates called alone too (test_c_kernels checks every optimizer):
    on, a subnormal result is zero; off, the C kernel keeps it, bit for bit as the reference."""
    from fastnn.backends import c

    assert c.get_flush_subnormals()
    tiny = np.finfo(np.float32).smallest_normal
    out = {}
    try:
        for backend, flush in (("c", True), ("c", False), ("numpy", False)):
            c.set_flush_subnormals(flush)
            p = np.full(100, tiny / 4, np.float32)
            g = np.full(100, tiny / 8, np.float32)
            K.sgd_update(p, g, lr=0.5, l2=0.25, backend=backend)
            out[backend, flush] = p
    finally:
        c.set_flush_subnormals(True)
    np.testing.assert_array_equal(out["c", True], 0)
    assert np.all((out["c", False] != 0) & (out["c", False] < tiny))
    np.testing.assert_array_equal(out["c", False], out["numpy", False])
