"""The training loop: composed loop == native epoch, stopping rules, early
stopping restores the best weights, divergence, schedules, CV, digits accuracy."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K
from fastnn.datasets import load_embedded, train_test
from fastnn import MLP
from fastnn.nn import build_mlp, get_loss, get_optimizer
from fastnn.train import TrainingDivergedError, cross_validate, epoch_composed, fused_spec

HAS_EPOCH = hasattr(K, "train_epoch")
needs_epoch = pytest.mark.skipif(not HAS_EPOCH, reason="fastnn.kernels.train_epoch is not built")


@pytest.fixture(scope="module")
def digits():
    X, y = load_embedded("digits", np.float32)
    return train_test(X, y, test_size=0.25, seed=0)


def _problem(loss_name, dtype, n=53, sizes=(6, 7, 5, 3), seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if loss_name == "softmax_xent":
        y = rng.integers(0, sizes[-1], n).astype(np.int32)
    elif loss_name == "sigmoid_bce":
        y = rng.integers(0, 2, (n, sizes[-1])).astype(dtype)
    else:
        y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    return X, y


def _composed_vs_epoch(loss_name, optimizer, activation, dtype, *, dropout=0.0, alpha=0.0, l1=0.0, wd=0.0,
                       batch_size=8, backend="numpy", epochs=2):
    sizes = (6, 7, 5, 3)
    X, y = _problem(loss_name, dtype, sizes=sizes)
    results = []
    for fused in (False, True):
        net = build_mlp(sizes, activation, dropout=dropout, dtype=dtype, seed=4)
        opt = get_optimizer(optimizer, 0.05, l1=l1, weight_decay=wd)
        opt.setup(net.layout, net.params, net.grads)
        perm_rng = np.random.default_rng(9)
        losses = []
        for _ in range(epochs):
            perm = perm_rng.permutation(len(X))[:-3]  # m < n, a short last batch
            nb = -(-len(perm) // batch_size)
            bl = np.empty(nb)
            if fused:
                spec = fused_spec(net, get_loss(loss_name))
                ep = K.train_epoch(net.params, net.grads, opt.state, X, y, perm, sizes=spec["sizes"],
                                   activation=activation, loss=loss_name, lr=0.05, step=opt.step,
                                   batch_size=batch_size, alpha=alpha, dropout=dropout, seed=21,
                                   batch_losses=bl, backend=backend, **opt.epoch_kwargs())
                opt.step += nb
            else:
                ep = epoch_composed(net, get_loss(loss_name), opt, X, y, perm, lr=0.05, batch_size=batch_size,
                                    alpha=alpha, seed=21, backend="numpy", batch_losses=bl)
            losses.append((ep, bl))
        results.append((net.params.copy(), opt.state.copy(), losses))
    return results


@needs_epoch
@pytest.mark.parametrize("loss_name", ["softmax_xent", "sigmoid_bce", "mse"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_composed_loop_equals_train_epoch_on_numpy(loss_name, optimizer):
    (p0, s0, l0), (p1, s1, l1) = _composed_vs_epoch(loss_name, optimizer, "tanh", np.float64, alpha=0.01,
                                                    l1=1e-3, wd=1e-2)
    np.testing.assert_allclose(p1, p0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s1, s0, rtol=1e-12, atol=1e-14)
    for (e0, b0), (e1, b1) in zip(l0, l1):
        assert e1 == pytest.approx(e0, rel=1e-12)
        np.testing.assert_allclose(b1, b0, rtol=1e-12)


@needs_epoch
@pytest.mark.parametrize("activation", ["relu", "gelu", "sigmoid"])
def test_composed_loop_equals_train_epoch_with_dropout(activation):
    (p0, s0, _), (p1, s1, _) = _composed_vs_epoch("softmax_xent", "adam", activation, np.float64, dropout=0.3)
    np.testing.assert_allclose(p1, p0, rtol=1e-12, atol=1e-14)


@needs_epoch
@pytest.mark.parametrize("backend", [b for b in ("c", "numba") if b in fastnn.available_backends()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_epoch_backends_match_composed_loop(backend, dtype):
    (p0, _, l0), (p1, _, l1) = _composed_vs_epoch("softmax_xent", "adam", "relu", dtype, dropout=0.2, alpha=1e-3,
                                                  backend=backend)
    tol = 2e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(p1, p0, rtol=tol, atol=tol)
    assert l1[-1][0] == pytest.approx(l0[-1][0], rel=tol)


def test_fit_fused_and_composed_agree(digits):
    X_tr, X_te, y_tr, y_te = digits
    kw = dict(optimizer="adam", lr=1e-3, epochs=2, batch_size=64, backend="numpy", dropout=0.1)
    a = MLP([64, 32, 10], seed=0, dtype=np.float64).fit(X_tr, y_tr, fused=False, **kw)
    if HAS_EPOCH:
        b = MLP([64, 32, 10], seed=0, dtype=np.float64).fit(X_tr, y_tr, fused=True, **kw)
        np.testing.assert_allclose(b.params, a.params, rtol=1e-12, atol=1e-14)
        assert b.history_["loss"] == pytest.approx(a.history_["loss"], rel=1e-12)
    else:
        with pytest.raises(ValueError, match="train_epoch"):
            MLP([64, 32, 10], seed=0).fit(X_tr, y_tr, fused=True, **kw)


@needs_epoch
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_fused_epoch_in_chunks_is_bit_identical_to_one_call(digits, monkeypatch, backend):
    """Large data runs the native epoch as several calls of whole batches (so Ctrl-C is
    seen between them); weights, optimizer state and losses must not change at all."""
    import fastnn.train as T
    from fastnn.estimators import MLPClassifier

    X_tr, _, y_tr, _ = digits
    kw = dict(optimizer="adam", lr=1e-3, epochs=2, batch_size=32, backend=backend, dropout=0.1, fused=True)
    one = MLP([64, 32, 10], seed=0, dtype=np.float64).fit(X_tr, y_tr, **kw)
    est_kw = dict(hidden_layer_sizes=(32,), batch_size=32, max_iter=3, random_state=0, backend=backend,
                  dropout=0.1, solver="adamw")
    est_one = MLPClassifier(**est_kw).fit(X_tr, y_tr)
    calls = []
    real = K.train_epoch

    def counting(*a, **k):
        calls.append(len(a[5]))
        return real(*a, **k)

    monkeypatch.setattr(T, "CHUNK_SECONDS", 1e-9)  # one batch per call
    monkeypatch.setattr(K, "train_epoch", counting)
    many = MLP([64, 32, 10], seed=0, dtype=np.float64).fit(X_tr, y_tr, **kw)
    est_many = MLPClassifier(**est_kw).fit(X_tr, y_tr)
    assert len(calls) > 4 * kw["epochs"] and max(calls) == 32  # really split, at batch boundaries
    np.testing.assert_array_equal(many.params, one.params)
    assert many.history_["loss"] == one.history_["loss"]
    for a, b in zip(est_many.coefs_ + est_many.intercepts_, est_one.coefs_ + est_one.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert est_many.loss_curve_ == est_one.loss_curve_


def test_fused_spec_accepts_plain_mlps_only():
    loss = get_loss("softmax_xent")
    assert fused_spec(build_mlp([4, 5, 3], "relu", dropout=0.2), loss) == {
        "sizes": [4, 5, 3], "activation": "relu", "param": None, "dropout": 0.2, "loss": "softmax_xent"}
    from fastnn.nn import Activation, Dense, Sequential

    assert fused_spec(Sequential([Dense(4, 5), Activation("relu"), Dense(5, 3)]), loss) is None
    assert fused_spec(Sequential([Dense(4, 5, "relu"), Dense(5, 3, "relu")]), loss) is None
    assert fused_spec(Sequential([Dense(4, 5, "relu"), Dense(5, 5, "tanh"), Dense(5, 3)]), loss) is None


def test_digits_accuracy_short_run(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = MLP([64, 128, 64, 10], activation="relu", dtype=np.float32, seed=0)
    net.fit(X_tr, y_tr, optimizer="adam", lr=1e-3, epochs=8, batch_size=32)
    assert net.score(X_te, y_te) > 0.95
    assert len(net.history_["loss"]) == 8 and net.history_["loss"][-1] < net.history_["loss"][0]


@pytest.mark.parametrize("batch_size", [1, None])
def test_sgd_batch_one_and_full_batch_gd(batch_size):
    X, y = _problem("mse", np.float64, n=40, sizes=(3, 1))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    net = MLP([3, 1], dtype=np.float64, seed=0, loss="mse")
    lr = 0.02 if batch_size == 1 else 0.3
    net.fit(X, y, optimizer="sgd", lr=lr, epochs=60, batch_size=batch_size, tol=None)
    assert net.optimizer_.step == 60 * (40 if batch_size == 1 else 1)
    np.testing.assert_allclose(net.coefs_[0].ravel(), [1.0, -2.0, 0.5], atol=2e-2)
    assert net.score(X, y) > 0.999


def test_early_stopping_restores_best_weights(digits):
    X_tr, _, y_tr, _ = digits
    seen = []

    def record(logs):
        seen.append((logs["val_score"], logs["model"].params.copy()))

    net = MLP([64, 16, 10], seed=1)
    net.fit(X_tr, y_tr, lr=0.05, epochs=40, early_stopping=True, validation_fraction=0.2, n_iter_no_change=2,
            tol=0.0, callbacks=[record])
    assert net.stopped_by_ == "early_stopping"
    scores = [s for s, _ in seen]
    assert len(seen) < 40 and scores == net.history_["val_score"]
    best = int(np.argmax(scores))  # the first epoch that reached the best score
    assert best < len(seen) - 1, "the best epoch should not be the last one"
    np.testing.assert_array_equal(net.params, seen[best][1])
    assert not np.array_equal(net.params, seen[-1][1])


def test_tol_stopping_and_adaptive_schedule():
    X, y = _problem("mse", np.float64, n=30, sizes=(3, 1))
    net = MLP([3, 1], dtype=np.float64, seed=0, loss="mse")
    net.fit(X, y, optimizer="sgd", lr=1e-9, epochs=100, n_iter_no_change=3)
    assert net.stopped_by_ == "tol" and net.n_iter_ == 5  # no improvement > 3 times in a row
    net = MLP([3, 1], dtype=np.float64, seed=0, loss="mse")
    net.fit(X, y, optimizer="sgd", lr=1e-5, epochs=40, n_iter_no_change=2, tol=1.0, schedule="adaptive")
    lrs = net.history_["lr"]
    assert lrs[0] == 1e-5 and lrs[4] == pytest.approx(2e-6) and lrs[8] == pytest.approx(4e-7)
    assert net.stopped_by_ == "tol" and min(lrs) <= 1e-6 * 5


def test_cosine_schedule_anneals_over_the_fits_epochs():
    # schedule="cosine" used Cosine's t_max=100 whatever `epochs` was: 20 epochs ended at 0.91 lr0
    X, y = _problem("mse", np.float64, n=30, sizes=(3, 1))
    net = MLP([3, 1], dtype=np.float64, seed=0, loss="mse").fit(X, y, lr=0.1, epochs=4, tol=None, schedule="cosine")
    np.testing.assert_allclose(net.history_["lr"], 0.1 * (1 + np.cos(np.pi * np.arange(4) / 4)) / 2)
    net.fit(X, y, lr=0.1, epochs=4, tol=None, schedule="cosine", schedule_kwargs={"t_max": 8})  # given: kept
    np.testing.assert_allclose(net.history_["lr"], 0.1 * (1 + np.cos(np.pi * np.arange(4) / 8)) / 2)


def test_cosine_resume_takes_a_new_t_max_and_refuses_epochs_at_lr_zero():
    # the first fit's t_max (its epochs) ended the annealing: a resume ran its epochs at lr 0,
    # silently, and schedule_kwargs={"t_max": ...} to extend it was refused
    X, y = _problem("mse", np.float64, n=30, sizes=(3, 1))
    kw = dict(lr=0.1, tol=None, schedule="cosine")
    net = MLP([3, 1], dtype=np.float64, seed=0, loss="mse").fit(X, y, epochs=2, **kw)
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"lr 0 at t_max=2 epochs, so epochs 3 to 7 would not train; pass "
                                         r"schedule_kwargs=\{'t_max': 7\}"):
        net.fit(X, y, epochs=5, resume=True)
    assert net.n_iter_ == 2 and np.array_equal(net.params, before) and net.train_state_.schedule.t_max == 2
    with pytest.raises(ValueError, match="so schedule_kwargs would be ignored"):  # other options: still refused
        net.fit(X, y, epochs=5, resume=True, schedule_kwargs={"t_max": 7, "min_lr": 0.01})
    net.fit(X, y, epochs=5, resume=True, schedule_kwargs={"t_max": 7})
    lrs = net.history_["lr"]
    np.testing.assert_allclose(lrs[:2], [0.1, 0.05])  # the epochs done keep their rates
    np.testing.assert_allclose(lrs[2:], 0.1 * (1 + np.cos(np.pi * np.arange(2, 7) / 7)) / 2)
    assert min(lrs) > 0 and not np.array_equal(net.params, before) and net.train_state_.schedule.t_max == 7
    # t_max set for the whole run at the first fit: two fits train as one
    whole = MLP([3, 1], dtype=np.float64, seed=0, loss="mse").fit(X, y, epochs=6, schedule_kwargs={"t_max": 6}, **kw)
    half = MLP([3, 1], dtype=np.float64, seed=0, loss="mse").fit(X, y, epochs=3, schedule_kwargs={"t_max": 6}, **kw)
    half.fit(X, y, epochs=3, resume=True)
    np.testing.assert_array_equal(half.params, whole.params)
    assert half.history_["lr"] == whole.history_["lr"]
    # a fit past its own t_max is refused too; with min_lr > 0 the rate holds there, as documented
    with pytest.raises(ValueError, match="t_max=3 epochs, so epochs 4 to 5 would not train"):
        MLP([3, 1], seed=0, loss="mse").fit(X, y, epochs=5, schedule_kwargs={"t_max": 3}, **kw)
    held = MLP([3, 1], seed=0, loss="mse").fit(X, y, epochs=5, schedule_kwargs={"t_max": 3, "min_lr": 0.01}, **kw)
    assert held.history_["lr"][3:] == [0.01, 0.01]


def _digits500():
    X, y = load_embedded("digits")
    return X[:500], y[:500]


#: early stopping that, split after 8 epochs, has its best epoch (6) behind it and a counter at 1:
#: a resume that reset either trained on past epoch 11 and ended on other weights
ES_KW = dict(early_stopping=True, n_iter_no_change=3, tol=0.0, lr=3e-2, validation_fraction=0.3)


@pytest.mark.parametrize("fused", [None, False])
def test_early_stopping_resume_equals_one_fit(fused):
    # the first fit ended on its best weights, and resume trained on from those with a fresh
    # best score and counter: max |diff| 0.21 from the uninterrupted fit
    X, y = _digits500()
    kw = dict(ES_KW, fused=fused)
    whole = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=12, **kw)
    assert whole.stopped_by_ == "early_stopping" and whole.n_iter_ == 11
    for split in (6, 8):  # 6: the last epoch is not the best (the fit ends on other weights than its last)
        half = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=split, **kw)
        assert half.stopped_by_ == "max_epochs" and half.train_state_.no_improve == 1
        best = int(np.argmax(half.history_["val_score"]))
        assert best < split - 1 and half.train_state_.last_params is not None
        half.fit(X, y, epochs=12 - split, resume=True, fused=fused)
        np.testing.assert_array_equal(half.params, whole.params)
        assert half.history_ == whole.history_ | {"time": half.history_["time"]}
        assert (half.n_iter_, half.stopped_by_) == (11, "early_stopping")


def test_early_stopping_resume_after_a_keyboard_interrupt_in_a_callback():
    # Ctrl-C in a callback (the epoch is counted): the fit ends on the best weights as always,
    # and a resume goes on from the last ones with the stopping state of that epoch
    from sklearn.model_selection import train_test_split

    X, y = _digits500()
    val = train_test_split(np.arange(500), test_size=0.3, random_state=0, stratify=y)[1]  # fit's split (seed 0)
    whole = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=12, **ES_KW)
    net, kw = MLP([64, 40, 10], dtype=np.float64, seed=0), ES_KW
    for stop_at in (5, 7, 9):
        def interrupt(logs, stop_at=stop_at):
            if logs["epoch"] == stop_at:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            net.fit(X, y, epochs=12 - net.n_iter_, callbacks=[interrupt], **kw)
        kw = {"resume": True}
        assert net.n_iter_ == stop_at + 1 and net.stopped_by_ == "interrupted"
        assert net.score(X[val], y[val]) == max(net.history_["val_score"])  # on the best weights so far
    net.fit(X, y, epochs=12 - net.n_iter_, resume=True)
    np.testing.assert_array_equal(net.params, whole.params)
    assert (net.n_iter_, net.stopped_by_) == (11, "early_stopping")


def test_a_resume_interrupted_in_its_first_epoch_keeps_the_best_weights(monkeypatch):
    # a resume goes on from the last epoch's weights: one that ends before an epoch does must
    # leave the model on the best ones, the last still kept for the next resume
    X, y = _digits500()
    net = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=6, **ES_KW)
    best, last = net.params.copy(), net.train_state_.last_params.copy()
    assert not np.array_equal(best, last)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(net.optimizer_, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=6, resume=True, fused=False)
    monkeypatch.undo()
    np.testing.assert_array_equal(net.params, best)
    np.testing.assert_array_equal(net.train_state_.last_params, last)
    assert net.n_iter_ == 6
    net.fit(X, y, epochs=6, resume=True)
    whole = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=12, **ES_KW)
    np.testing.assert_array_equal(net.params, whole.params)


@needs_epoch
def test_an_optimizer_subclass_with_its_own_update_trains_on_the_composed_loop():
    # fused=None ran the native epoch by opt.name: ClippedSGD (name "sgd") trained as plain SGD,
    # and an optimizer with a new name was refused ("optimizer must be one of [...]")
    from fastnn.nn import SGD, Optimizer

    class ClippedSGD(SGD):
        def _apply(self, p, g, s, lr, l2, l1, wd, backend):
            np.clip(g, -1e-3, 1e-3, out=g)
            super()._apply(p, g, s, lr, l2, l1, wd, backend)

    class SignSGD(Optimizer):
        name = "signsgd"

        def _apply(self, p, g, s, lr, l2, l1, wd, backend):
            p -= lr * np.sign(g + l2 * p)

    class RenamedSGD(SGD):  # the update of SGD: the native epoch runs it
        name = "renamed"

    X, y = _problem("softmax_xent", np.float64, n=60, sizes=(6, 8, 3))

    def fit(opt, fused):
        return MLP([6, 8, 3], dtype=np.float64, seed=0).fit(X, y, optimizer=opt, epochs=3, batch_size=8,
                                                            fused=fused).params

    plain = fit(SGD(0.1), None)
    for cls in (ClippedSGD, SignSGD):
        np.testing.assert_array_equal(fit(cls(0.1), None), fit(cls(0.1), False))
        assert not np.allclose(fit(cls(0.1), None), plain)
        with pytest.raises(ValueError, match=f"fused=True but the optimizer {cls.__name__} is not a built-in one"):
            fit(cls(0.1), True)
    np.testing.assert_array_equal(fit(RenamedSGD(0.1), True), plain)


def test_divergence_raises_and_keeps_last_finite_weights():
    X, y = _problem("mse", np.float32, n=64, sizes=(5, 1))
    y = 1e3 * y
    snaps = []
    net = MLP([5, 8, 1], dtype=np.float32, seed=0, loss="mse")
    with pytest.raises(TrainingDivergedError, match="diverged") as info:
        net.fit(X, y, optimizer="sgd", lr=0.5, epochs=200, batch_size=8, tol=None,
                callbacks=[lambda logs: snaps.append(logs["model"].params.copy())])
    assert isinstance(info.value, FloatingPointError) and not math.isfinite(info.value.loss)
    assert info.value.epoch == len(snaps)
    assert np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, snaps[-1] if snaps else net.params)
    assert net.stopped_by_ == "diverged"


@pytest.mark.parametrize("fused", [None, False])
def test_a_callback_error_is_not_reported_as_max_epochs(fused):
    # stopped_by_ was left at "max_epochs" although the run ended by the exception
    X = np.random.default_rng(0).standard_normal((30, 4))
    y = np.arange(30) % 2

    def fail_in_epoch_2(logs):
        if logs["epoch"] == 1:
            raise RuntimeError("boom")

    net = MLP([4, 8, 2], seed=0)
    with pytest.raises(RuntimeError, match="boom"):
        net.fit(X, y, epochs=5, callbacks=[fail_in_epoch_2], fused=fused)
    assert net.stopped_by_ == "interrupted" and net.n_iter_ == 2
    net.fit(X, y, epochs=1, resume=True)
    assert net.stopped_by_ == "max_epochs"


def test_history_callbacks_and_validation_metrics(digits):
    X_tr, _, y_tr, _ = digits
    calls = []
    net = MLP([64, 16, 10], seed=0)
    net.fit(X_tr, y_tr, epochs=5, validation_fraction=0.1, callbacks=[lambda logs: calls.append(logs) or
                                                                       logs["epoch"] == 2])
    assert net.stopped_by_ == "callback" and net.n_iter_ == 3 and len(calls) == 3
    h = net.history_
    assert set(h) == {"loss", "val_loss", "val_score", "lr", "time"} and all(len(v) == 3 for v in h.values())
    assert all(0 <= s <= 1 for s in h["val_score"]) and all(v > 0 for v in h["val_loss"])


def test_verbose_progress_bar(digits, capsys):
    X_tr, _, y_tr, _ = digits
    MLP([64, 8, 10], seed=0).fit(X_tr[:200], y_tr[:200], epochs=2, verbose=True)
    assert "2/2" in capsys.readouterr().err


def test_cross_validate_reuses_sklearn_splitters(digits):
    from sklearn.model_selection import KFold

    X_tr, _, y_tr, _ = digits
    res = cross_validate(lambda: MLP([64, 32, 10], seed=0), X_tr, y_tr, cv=3, fit_params={"epochs": 3, "lr": 1e-2})
    assert res["test_score"].shape == (3,) and np.all(res["test_score"] > 0.8)
    res = cross_validate(lambda: MLP([64, 32, 10], seed=0), X_tr, y_tr, cv=KFold(2), fit_params={"epochs": 1},
                         return_models=True)
    assert len(res["models"]) == 2 and res["fit_time"].shape == (2,)


def test_fit_network_trains_any_sequential_through_the_composed_loop(digits):
    from fastnn.nn import Activation, Dense, Dropout, Sequential, get_schedule
    from fastnn.train import TrainState, fit_network

    X_tr, X_te, y_tr, y_te = digits
    net = Sequential([Dense(64, 32), Activation("tanh"), Dropout(0.1), Dense(32, 10)], seed=0)
    state = TrainState(get_optimizer("adam", 1e-2), get_schedule(None), np.random.default_rng(0))
    fit_network(net, get_loss("softmax_xent"), X_tr, y_tr.astype(np.int32), state, epochs=4, batch_size=32)
    h = state.history["loss"]
    assert len(h) == 4 and h[-1] < 0.5 * h[0]
    assert np.mean(net.predict(X_te).argmax(1) == y_te) > 0.9
    with pytest.raises(ValueError, match="fused=True"):
        fit_network(net, get_loss("softmax_xent"), X_tr, y_tr.astype(np.int32), state, epochs=1, batch_size=32,
                    fused=True)


def test_explicit_validation_data(digits):
    X_tr, X_te, y_tr, y_te = digits
    net = MLP([64, 16, 10], seed=0).fit(X_tr, y_tr, epochs=2, validation_data=(X_te, y_te))
    assert net.history_["val_score"][-1] == pytest.approx(net.score(X_te, y_te))


@pytest.mark.parametrize("n_weights", [50, 70])
def test_cross_validate_checks_the_sample_weight_length(n_weights):
    # a longer array was silently accepted (weights misaligned with the rows), a shorter
    # one failed with an IndexError in some fold
    X = np.random.default_rng(0).standard_normal((60, 4))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(60,\)"):
        cross_validate(lambda: MLP([4, 8, 2], seed=0), X, np.arange(60) % 2, cv=3,
                       fit_params={"epochs": 1, "sample_weight": np.ones(n_weights)})
@pytest.mark.parametrize("fused", [None, False])
def test_an_interrupted_epoch_is_rolled_back(monkeypatch, fused):
    # Ctrl-C between the native calls of a chunked epoch (or an error in a later batch of the
    # composed loop) left the batches before it applied, uncounted: resume did not continue exactly
    import fastnn.train as T

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 4)), np.arange(60) % 2
    kw = dict(epochs=1, batch_size=1, tol=None, fused=fused)
    m = MLP([4, 8, 2], seed=0, dtype=np.float64).fit(X, y, **kw)
    before = (m.params.copy(), m.optimizer_.state.copy(), m.optimizer_.step)
    monkeypatch.setattr(T, "CHUNK_SECONDS", 1e-12)  # one batch per native call
    calls = [0]
    target = K if fused is None else m.optimizer_
    name = "train_epoch" if fused is None else "update"
    orig = getattr(target, name)

    def flaky(*a, **k):
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return orig(*a, **k)

    monkeypatch.setattr(target, name, flaky)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, y, resume=True, **kw)
    monkeypatch.setattr(target, name, orig)
    np.testing.assert_array_equal(m.params, before[0])
    np.testing.assert_array_equal(m.optimizer_.state, before[1])
    assert m.optimizer_.step == before[2] and m.n_iter_ == 1
    # and the shuffle: the epoch rolled back draws its permutation again (the RNG had moved
    # on, so resume=True trained on another order than an uninterrupted fit)
    m.fit(X, y, resume=True, **kw)
    ref = MLP([4, 8, 2], seed=0, dtype=np.float64).fit(X, y, **dict(kw, epochs=2))
    np.testing.assert_array_equal(m.params, ref.params)


def test_cross_validate_asks_a_scikit_learn_model_whether_it_classifies():
    # integer targets were taken for labels whatever the model: a regressor's folds were
    # stratified on them, and all-distinct values failed ("n_splits=5 cannot be greater ...")
    from fastnn.estimators import LogisticRegression, Ridge

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 5))
    y = rng.permutation(1000)[:100]
    res = cross_validate(lambda: Ridge(), X, y, cv=5)
    assert res["test_score"].shape == (5,)
    labels = (X[:, 0] > 0).astype(np.float64)  # float labels of a classifier: stratified all the same
    assert cross_validate(lambda: LogisticRegression(), X, labels, cv=3)["test_score"].shape == (3,)


def test_cross_validate_takes_sparse_x():
    # np.asarray wrapped a sparse matrix in a 0-d object array, which no fold could index
    import scipy.sparse as sp
    from fastnn.estimators import Ridge

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = X @ np.arange(1.0, 5.0)
    dense = cross_validate(lambda: Ridge(), X, y, cv=3, fit_params={"sample_weight": np.ones(60)})
    for fmt in (sp.csr_matrix, sp.coo_matrix):
        res = cross_validate(lambda: Ridge(), fmt(X), y, cv=3, fit_params={"sample_weight": np.ones(60)})
        np.testing.assert_allclose(res["test_score"], dense["test_score"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cross_validate_needs_a_fresh_model_per_fold():
    # an estimator passed as make_model failed with "'Ridge' object is not callable"; a factory
    # returning one object for every fold would let a warm-started model carry folds over
    from fastnn.estimators import MLPRegressor, Ridge

    X = np.random.default_rng(0).standard_normal((60, 4))
    with pytest.raises(TypeError, match="make_model must be a function"):
        cross_validate(Ridge(), X, X[:, 0], cv=3)
    model = MLPRegressor(warm_start=True, max_iter=5)
    with pytest.raises(ValueError, match="make_model returned the same model object"):
        cross_validate(lambda: model, X, X[:, 0], cv=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fused", [None, False])
def test_divergence_of_the_weights_in_the_last_update_is_caught(dtype, fused):
    # the loss is computed before each update: one full batch whose update overflows the
    # weights gave a finite epoch loss, so fit returned normally with inf/NaN weights (and a
    # later divergence "kept" those non-finite weights as the last finite epoch's)
    X, y = _problem("mse", dtype, n=64, sizes=(5, 1))
    net = MLP([5, 8, 1], dtype=dtype, seed=0, loss="mse")
    start = net.params.copy()
    lr = 1e305 if dtype == np.float64 else 1e35
    with pytest.raises(TrainingDivergedError, match="diverged") as info:
        net.fit(X, 1e6 * y, optimizer="sgd", lr=lr, epochs=1, batch_size=None, fused=fused)
    assert info.value.epoch == 0
    np.testing.assert_array_equal(net.params, start)
    assert net.stopped_by_ == "diverged"


def test_composed_epoch_shuffles_without_a_second_copy_of_X():
    # np.take(..., out=) with its default mode="raise" buffers the output: the composed
    # (fused=False) loop held two full copies of X per epoch, not one
    import tracemalloc

    X = np.random.default_rng(0).standard_normal((20000, 50))
    y = (X[:, 0] > 0).astype(int)
    net = MLP([50, 4, 2], dtype=np.float64, seed=0)
    net.fit(X[:100], y[:100], epochs=1, fused=False)  # warm up (imports, JIT) outside the trace
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=1, batch_size=200, fused=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * X.nbytes  # the shuffled copy, the finiteness check and small buffers


def test_invscaling_decaying_past_the_float_range_gives_lr_zero():
    # (samples_seen + 1) ** power_t overflowed: fit raised a bare OverflowError
    # "(34, 'Numerical result out of range')" instead of training on with lr 0
    X, y = _problem("mse", np.float64, n=40, sizes=(3, 1))
    net = MLP([3, 4, 1], dtype=np.float64, seed=0, loss="mse")
    net.fit(X, y, optimizer="sgd", lr=0.1, epochs=3, schedule="invscaling",
            schedule_kwargs={"power_t": 400.0}, tol=None)
    assert net.history_["lr"] == [0.1, 0.0, 0.0] and np.isfinite(net.params).all()


@pytest.mark.parametrize("optimizer, kw", [("adam", {"betas": (0.9, 1 - 1e-12)}), ("rmsprop", {"rho": 1 - 1e-12})])
def test_numba_epoch_float32_one_minus_beta_as_the_other_backends(optimizer, kw):
    # the Numba epoch formed 1 - beta2 (1 - rho) in float32, where beta2 = 1 - 1e-12 rounds to
    # 1: the second moment never grew and it trained on steps of lr m / eps (C, the NumPy
    # reference and the composed loop form it in float64)
    pytest.importorskip("numba")
    X, y = _problem("mse", np.float32, n=64, sizes=(5, 1))
    fits = {}
    for backend in ("c", "numba"):
        net = MLP([5, 8, 1], dtype=np.float32, seed=0, loss="mse")
        net.fit(X, y, optimizer=optimizer, lr=1e-3, epochs=3, backend=backend, fused=True, tol=None, **kw)
        fits[backend] = net.params.copy()
    np.testing.assert_allclose(fits["numba"], fits["c"], rtol=1e-4, atol=1e-6)
