"""fastnn.estimators.MLPClassifier / MLPRegressor against scikit-learn's, number for number.

The bar (issue 5): in float64 with the same random_state, coefs_ agree with
scikit-learn's to 1e-6 relative or better; every configuration below is asserted
at PARITY_RTOL, the fitted attributes (n_iter_, t_, loss curve, validation
scores) exactly or to the same tolerance.
"""
from __future__ import annotations

import copy
import os
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as skn
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from fastnn.estimators import MLPClassifier, MLPRegressor
from fastnn.estimators import _mlp_core as core

PARITY_RTOL = 1e-7  # the bar is 1e-6; observed differences are ~1e-14


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def _rel(a_list, b_list):
    return max(float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) for a, b in zip(a_list, b_list))


def _assert_same_fit(f, s, rtol=PARITY_RTOL):
    assert len(f.coefs_) == len(s.coefs_)
    for a, b in zip(f.coefs_ + f.intercepts_, s.coefs_ + s.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
    rel = _rel(f.coefs_ + f.intercepts_, s.coefs_ + s.intercepts_)
    assert rel <= rtol, f"max relative difference of coefs_/intercepts_ {rel:.3e}"
    assert f.n_iter_ == s.n_iter_
    assert f.t_ == s.t_
    assert f.out_activation_ == s.out_activation_
    assert f.n_layers_ == s.n_layers_ and f.n_outputs_ == s.n_outputs_
    np.testing.assert_allclose(f.loss_, s.loss_, rtol=1e-6)
    if hasattr(s, "loss_curve_"):
        np.testing.assert_allclose(f.loss_curve_, s.loss_curve_, rtol=1e-6)
        if s.best_loss_ is None:
            assert f.best_loss_ is None
        else:
            np.testing.assert_allclose(f.best_loss_, s.best_loss_, rtol=1e-6)
        if s.validation_scores_ is None:
            assert f.validation_scores_ is None and f.best_validation_score_ is None
        else:
            np.testing.assert_allclose(f.validation_scores_, s.validation_scores_)
            np.testing.assert_allclose(f.best_validation_score_, s.best_validation_score_, rtol=1e-12)
    return rel


def _both(est_cls, sk_cls, X, y, fit_kw=None, **params):
    fit_kw = fit_kw or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        s = sk_cls(**params).fit(X, y, **fit_kw)
        f = est_cls(**params).fit(X, y, **fit_kw)
    return f, s


CLASSIFIER_CONFIGS = {
    "adam": dict(solver="adam"),
    "sgd-nesterov": dict(solver="sgd", learning_rate_init=0.05),
    "sgd-momentum": dict(solver="sgd", nesterovs_momentum=False, learning_rate_init=0.05),
    "sgd-plain": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2, power_t=0.4),
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=1, max_iter=12),
    "adam-early-stopping": dict(solver="adam", early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                                max_iter=25),
    "sgd-early-stopping": dict(solver="sgd", early_stopping=True, learning_rate_init=0.05),
    "adam-tol-stop": dict(solver="adam", tol=0.5, n_iter_no_change=2, max_iter=20),
    "lbfgs": dict(solver="lbfgs", max_iter=20),
    "logistic": dict(activation="logistic", learning_rate_init=0.01),
    "tanh": dict(activation="tanh", solver="sgd"),
    "identity": dict(activation="identity"),
    "alpha-big": dict(alpha=0.5),
    "no-shuffle": dict(shuffle=False, batch_size=64),
    "batch-1": dict(batch_size=1, max_iter=2, hidden_layer_sizes=(8,)),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIER_CONFIGS))
def test_classifier_parity_multiclass(name):
    X, y = _digits()
    params = dict(hidden_layer_sizes=(24, 12), max_iter=8, random_state=0)
    params.update(CLASSIFIER_CONFIGS[name])
    f, s = _both(MLPClassifier, skn.MLPClassifier, X, y, **params)
    _assert_same_fit(f, s)
    np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(f.predict(X), s.predict(X))


@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="sgd", early_stopping=True, learning_rate_init=0.05),
    dict(solver="adam", sample_weight=True),
])
def test_parity_with_batches_split_over_threads(params):
    """Full digits at scikit-learn's default batch (200) with (100,) hidden units: on
    2 threads the C epoch splits every batch's rows over them (csrc/train.c); the fit
    still matches scikit-learn's."""
    import fastnn

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    params = dict(params, hidden_layer_sizes=(100,), max_iter=6, random_state=0)
    kw = {"sample_weight": 1.0 + (np.arange(len(y)) % 3)} if params.pop("sample_weight", False) else {}
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(2)
    try:
        f, s = _both(MLPClassifier, skn.MLPClassifier, X, y, fit_kw=kw, **params)
    finally:
        fastnn.set_num_threads(before)
    _assert_same_fit(f, s)


@pytest.mark.parametrize("binary", [False, True], ids=["softmax", "logistic"])
def test_parity_when_probabilities_saturate(binary):
    """learning_rate_init=10 on standardized data: some samples' true-class
    probabilities fall below machine epsilon. scikit-learn clips them there in its
    log loss, and that loss drives its stopping rule; the native epoch clips the same
    (before, loss_ was 42.7 against 1.28 and the fits 8% apart)."""
    X, y = _digits(400)
    X = StandardScaler().fit_transform(X)
    if binary:
        y = y % 2
    f, s = _both(MLPClassifier, skn.MLPClassifier, X, y, hidden_layer_sizes=(16,), learning_rate_init=10.0,
                 max_iter=30, random_state=0)
    assert max(s.loss_curve_) > 1.0  # saturated for real
    _assert_same_fit(f, s)


def test_logistic_loss_is_computed_from_probabilities_like_sklearn():
    """Unscaled inputs: some y=0 samples get 1 - p ~ 1e-15 at the initial weights.
    scikit-learn's binary log loss takes log(1 - p) of the rounded p, which differs
    from the exact value from the logit by up to 1e-3 there; the native epoch now
    computes the estimators' loss from the probabilities too (was 2e-4 apart)."""
    r = np.random.RandomState(9)
    X, y = r.randn(20, 3) * 10, (r.rand(20) < 0.5).astype(int)
    f, s = _both(MLPClassifier, skn.MLPClassifier, X, y, hidden_layer_sizes=(4,), solver="sgd",
                 learning_rate_init=1e-3, max_iter=3, random_state=9)
    assert (1 - s.predict_proba(X)[y == 0, 1]).min() < 1e-12  # near saturation for real
    np.testing.assert_allclose(f.loss_curve_, s.loss_curve_, rtol=1e-12)
    _assert_same_fit(f, s)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_classifier_parity_binary(solver):
    X, y = _digits()
    yb = np.where(y % 2 == 0, "even", "odd")
    f, s = _both(MLPClassifier, skn.MLPClassifier, X, yb, hidden_layer_sizes=(16,), max_iter=10, random_state=1,
                 solver=solver, early_stopping=solver != "lbfgs")
    _assert_same_fit(f, s)
    assert f.out_activation_ == "logistic" and list(f.classes_) == ["even", "odd"]
    np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(f.predict_log_proba(X), s.predict_log_proba(X), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_classifier_parity_multilabel(solver):
    X, Y = make_multilabel_classification(n_samples=200, n_features=12, n_classes=4, random_state=0)
    f, s = _both(MLPClassifier, skn.MLPClassifier, X / 10.0, Y, hidden_layer_sizes=(16,), max_iter=10,
                 random_state=2, solver=solver)
    _assert_same_fit(f, s)
    np.testing.assert_array_equal(f.predict(X / 10.0), s.predict(X / 10.0))


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("config", ["adam", "sgd", "lbfgs", "adam-es", "sgd-alpha0"])
def test_regressor_parity(n_targets, config):
    X, y = make_regression(n_samples=250, n_features=10, n_targets=n_targets, noise=0.5, random_state=0)
    y = y / np.abs(y).max()
    params = {
        "adam": dict(solver="adam", learning_rate_init=0.01),
        "sgd": dict(solver="sgd", learning_rate_init=0.01),
        "lbfgs": dict(solver="lbfgs", max_iter=25),
        "adam-es": dict(solver="adam", early_stopping=True, learning_rate_init=0.01),
        "sgd-alpha0": dict(solver="sgd", alpha=0.0, learning_rate_init=0.01),
    }[config]
    params = {"hidden_layer_sizes": (20, 10), "max_iter": 10, "random_state": 3, **params}
    f, s = _both(MLPRegressor, skn.MLPRegressor, X, y, **params)
    _assert_same_fit(f, s)
    np.testing.assert_allclose(f.predict(X), s.predict(X), rtol=1e-6, atol=1e-10)


def test_regressor_parity_poisson():
    rng = np.random.RandomState(0)
    X = rng.rand(200, 5)
    y = rng.poisson(np.exp(X @ np.array([0.5, -0.3, 0.2, 0.1, 0.4])))
    f, s = _both(MLPRegressor, skn.MLPRegressor, X, y, loss="poisson", hidden_layer_sizes=(8,), max_iter=10,
                 random_state=0, solver="sgd", learning_rate_init=0.01)
    assert f.out_activation_ == "exp"
    _assert_same_fit(f, s)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("native", [True, False])
def test_sample_weight_parity(solver, native, monkeypatch):
    X, y = _digits(200)
    sw = np.random.RandomState(0).rand(len(y)) + 0.5
    sw[::9] = 0.0  # zero weights drop rows from their batch's mean
    if not native:  # the composed epoch (what large sparse input runs)
        monkeypatch.setattr(core, "native_available", lambda: False)
    f, s = _both(MLPClassifier, skn.MLPClassifier, X, y, fit_kw={"sample_weight": sw}, hidden_layer_sizes=(16,),
                 max_iter=6, random_state=0, solver=solver, alpha=1e-3)
    _assert_same_fit(f, s)


@pytest.mark.parametrize("params", [dict(solver="adam", alpha=0.01, batch_size=16),
                                    dict(solver="sgd", early_stopping=True, alpha=0.0)])
def test_sample_weight_parity_multioutput_regressor(params):
    # two outputs with alpha > 0 run the native epoch a batch at a time (the L2 term over the weight sum)
    rng = np.random.RandomState(1)
    X = rng.rand(150, 6)
    Y = np.c_[X @ rng.rand(6), X[:, :2].sum(axis=1)]
    sw = rng.rand(150) * 3 + 0.1
    f, s = _both(MLPRegressor, skn.MLPRegressor, X, Y, fit_kw={"sample_weight": sw}, hidden_layer_sizes=(12,),
                 max_iter=8, random_state=0, **params)
    _assert_same_fit(f, s)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("target", ["classes", "multi-output"])
def test_sample_weight_zero_over_a_batch_is_an_error(native, target, monkeypatch):
    # scikit-learn divides by the batch's weight sum and returns NaN weights; fastnn says why
    # (multi-output regression with alpha > 0 runs its native epoch batch by batch: it raised
    # a bare ZeroDivisionError, found by the differential fuzzer)
    X, y = _digits(100)
    sw = np.ones(len(y))
    sw[10:20] = 0.0
    make = MLPClassifier if target == "classes" else MLPRegressor
    if target == "multi-output":
        y = np.c_[y, -y].astype(float)
    est = make(hidden_layer_sizes=(8,), batch_size=10, shuffle=False, max_iter=2, random_state=0)
    if not native:
        monkeypatch.setattr(core, "native_available", lambda: False)
    with pytest.raises(ValueError, match=r"sample_weight sums to 0 over the rows of batch 1 \(of 10\)"):
        est.fit(X, y, sample_weight=sw)


def test_partial_fit_and_warm_start_parity():
    X, y = _digits()
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(16,), random_state=0, solver="adam")
    f, s = MLPClassifier(**params), skn.MLPClassifier(**params)
    for lo in (0, 100, 200):
        f.partial_fit(X[lo:lo + 100], y[lo:lo + 100], classes=classes)
        s.partial_fit(X[lo:lo + 100], y[lo:lo + 100], classes=classes)
    _assert_same_fit(f, s)
    params = dict(hidden_layer_sizes=(16,), random_state=0, solver="sgd", max_iter=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f, s = MLPClassifier(**params), skn.MLPClassifier(**params)
        for _ in range(3):
            f.fit(X, y)
            s.fit(X, y)
    _assert_same_fit(f, s)


@pytest.mark.parametrize("first_max_iter", [5, 30])
def test_warm_start_after_early_stopping_parity(first_max_iter):
    # scikit-learn's coefs_ are its best-weights arrays after an early-stopping fit,
    # so the next warm fit trains them in place: when that fit never beats the old
    # best validation score it ends on its last weights, not on the old best ones
    # (found by a random parity search; fastnn restored the old best weights).
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 5)), rng.integers(0, 3, 100)
    params = dict(hidden_layer_sizes=(10,), solver="adam", max_iter=first_max_iter, random_state=0,
                  early_stopping=True, n_iter_no_change=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f, s = MLPClassifier(**params).fit(X, y), skn.MLPClassifier(**params).fit(X, y)
        for est in (f, s):
            est.set_params(warm_start=True, max_iter=3)
            est.fit(X, y)
            est.fit(X, y)
    _assert_same_fit(f, s)



@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_warm_start_keeps_the_fitted_network(solver):
    """Changing hidden_layer_sizes between warm-started fits: training continues on
    the fitted network, as scikit-learn's stochastic solvers do (same numbers), with a
    warning that names both sizes. (scikit-learn's own lbfgs path corrupts memory here:
    its gradient no longer matches the parameter vector, so it is not run.)"""
    X, y = _digits()
    params = dict(hidden_layer_sizes=(16,), random_state=0, solver=solver, max_iter=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f, s = MLPClassifier(**params).fit(X, y), skn.MLPClassifier(**params).fit(X, y)
        f.set_params(hidden_layer_sizes=(8,))
        with pytest.warns(UserWarning, match=r"hidden_layer_sizes=\(8,\) differs from the fitted network's \(16,\)"):
            f.fit(X, y)
        assert [w.shape for w in f.coefs_] == [(64, 16), (16, 10)]
        if solver != "lbfgs":
            s.set_params(hidden_layer_sizes=(8,))
            s.fit(X, y)
            _assert_same_fit(f, s)
        r = MLPRegressor(**params).fit(X, y.astype(float))
        with pytest.raises(ValueError, match="y has 2 output.* fitted network has 1"):
            r.fit(X, np.c_[y, y].astype(float))

def _label_cases():
    X, y = _digits(240)
    return {
        "multiclass": (X, y),
        "binary": (X, (y > 4).astype(np.int64)),
        "binary-strings": (X, np.where(y > 4, "big", "small")),  # not the fast path
        "multilabel": (X, np.c_[y > 4, y % 2 == 0].astype(int)),  # not the fast path
    }


@pytest.mark.parametrize("case", ["multiclass", "binary", "binary-strings", "multilabel"])
def test_partial_fit_batches_parity(case):
    """Many small partial_fit batches: the already-validated fast path (ndarray X and
    known integer labels) trains exactly as scikit-learn."""
    X, y = _label_cases()[case]
    classes = np.arange(2) if case == "multilabel" else np.unique(y)
    params = dict(hidden_layer_sizes=(12,), random_state=0, batch_size=8)
    f, s = MLPClassifier(**params), skn.MLPClassifier(**params)
    for lo in range(0, 240, 20):
        f.partial_fit(X[lo:lo + 20], y[lo:lo + 20], classes=classes)
        s.partial_fit(X[lo:lo + 20], y[lo:lo + 20], classes=classes)
    _assert_same_fit(f, s)
    np.testing.assert_array_equal(f.predict(X), s.predict(X))
    np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_regressor_partial_fit_batches_parity():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 5)
    for Y in (X @ rng.rand(5), np.c_[X.sum(axis=1), X[:, 0]], (X[:, 0] > 0.5).astype(int)):
        f, s = MLPRegressor(hidden_layer_sizes=(9,), random_state=0), skn.MLPRegressor(hidden_layer_sizes=(9,),
                                                                                        random_state=0)
        for lo in range(0, 120, 30):
            f.partial_fit(X[lo:lo + 30], Y[lo:lo + 30])
            s.partial_fit(X[lo:lo + 30], Y[lo:lo + 30])
        _assert_same_fit(f, s)


@pytest.mark.parametrize("first, changes", [
    (dict(solver="sgd", momentum=0.9, learning_rate="invscaling"), dict(momentum=0.0, nesterovs_momentum=False,
                                                                       learning_rate="constant", power_t=0.1)),
    (dict(solver="adam"), dict(beta_1=0.5, beta_2=0.9, epsilon=1e-3, learning_rate_init=0.1)),
    (dict(solver="sgd"), dict(solver="adam")),
])
def test_partial_fit_keeps_the_optimizer_it_started_with(first, changes):
    # scikit-learn's optimizer object is created by fit or the first partial_fit and
    # keeps its solver and hyper-parameters: set_params between partial_fit calls does
    # not reach it (alpha, batch_size and shuffle are read at every call). fastnn kept
    # the learning rate but read momentum, betas, the schedule and the solver anew
    # (found by the differential fuzzer).
    X, y = _digits(120)
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=16, learning_rate_init=0.01, **first)
    f, s = MLPClassifier(**params), skn.MLPClassifier(**params)
    for est in (f, s):
        est.partial_fit(X[:60], y[:60], classes=classes)
        est.set_params(alpha=0.01, **changes)
        est.partial_fit(X[60:], y[60:])
        est.partial_fit(X[:60], y[:60])
    _assert_same_fit(f, s)
    for est in (f, s):  # a new fit starts a new optimizer from the current parameters
        est.set_params(max_iter=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        est.partial_fit(X[:60], y[:60])
    _assert_same_fit(f, s)


def test_fast_paths_keep_scikit_learns_errors_and_warnings():
    X, y = _digits(100)
    f = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=np.unique(y))
    s = skn.MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=np.unique(y))
    bad = X[:5].copy()
    bad[2, 3] = np.nan
    for est in (f, s):  # the same exception and message from both
        with pytest.raises(ValueError, match="Input X contains NaN"):
            est.predict(bad)
        with pytest.raises(ValueError, match="Input X contains NaN"):
            est.partial_fit(bad, y[:5])
        with pytest.raises(ValueError, match="X has 63 features, but"):
            est.predict_proba(X[:5, :-1])
        with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
            est.partial_fit(X[:5], np.array([0, 1, 2, 3, 11]))
    # fitted on a DataFrame: an ndarray at predict time still gets scikit-learn's warning
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])])
    g = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        g.fit(df, y)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        g.predict(X[:3])


def test_validated_input_skips_scikit_learns_checks(monkeypatch):
    from fastnn.estimators import mlp as fmlp

    X, y = _digits(100)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=np.unique(y))
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y.astype(float))
    calls = []
    real = fmlp.validate_data
    monkeypatch.setattr(fmlp, "validate_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    clf.partial_fit(X[:10], y[:10])
    clf.predict_proba(X[:10])
    reg.partial_fit(X[:10], y[:10].astype(float))
    reg.predict(X[:10].astype(np.float32))
    assert calls == []
    clf.predict(X[:10].tolist())  # a list is checked (and converted) by scikit-learn
    clf.partial_fit(X[:10], y[:10].astype(float))  # float labels too
    assert len(calls) == 2


def test_int_seed_reseeds_only_an_rng_the_estimator_owns():
    """partial_fit reseeds per call (as scikit-learn) by reseeding its own RandomState;
    a RandomState the user passed is used as is, never reseeded."""
    X, y = _digits(100)
    user_rng = np.random.RandomState(7)
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=user_rng, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        after_fit = user_rng.get_state()[1].copy()
        est.set_params(random_state=3).fit(X, y)  # now an int: fastnn's own generator
        np.testing.assert_array_equal(user_rng.get_state()[1], after_fit)  # untouched
        fresh = MLPClassifier(hidden_layer_sizes=(8,), random_state=3, max_iter=2).fit(X, y)
    _assert_same_fit(est, fresh, rtol=0)


def test_float32_input_trains_in_float32_like_sklearn():
    X, y = _digits()
    X32 = X.astype(np.float32)
    f, s = _both(MLPClassifier, skn.MLPClassifier, X32, y, hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    assert f.coefs_[0].dtype == np.float32 == s.coefs_[0].dtype
    assert _rel(f.coefs_, s.coefs_) < 1e-3  # float32 rounding, summed in different orders


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_lbfgs_on_float32_input_ends_in_float64_like_sklearn(make):
    # scipy's L-BFGS-B evaluates the loss in x0's dtype (float32) but iterates in
    # float64, and scikit-learn's coefs_ are that float64 iterate: its predictions on
    # float32 X are float64 (found by the differential fuzzer; fastnn rounded to float32)
    X, y = _digits(120)
    X32 = X.astype(np.float32)
    sk_make = skn.MLPClassifier if make is MLPClassifier else skn.MLPRegressor
    f, s = _both(make, sk_make, X32, y, hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0)
    assert [c.dtype for c in f.coefs_ + f.intercepts_] == [c.dtype for c in s.coefs_ + s.intercepts_]
    assert s.coefs_[0].dtype == np.float64
    assert _rel(f.coefs_, s.coefs_) < 1e-4  # the evaluations are float32, summed in different orders
    out = f.predict_proba(X32) if make is MLPClassifier else f.predict(X32)
    ref = s.predict_proba(X32) if make is MLPClassifier else s.predict(X32)
    assert out.dtype == ref.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    g = make(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert g.fit(X, y).coefs_[0].dtype == np.float32  # the dtype extra keeps what it asked for


def test_dtype_float32_on_float64_input():
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(32,), max_iter=20, batch_size=32, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f64 = MLPClassifier(**kw).fit(X, y)
        f32 = MLPClassifier(dtype=np.float32, **kw).fit(X, y)
    assert f32.coefs_[0].dtype == np.float32
    assert _rel(f32.coefs_, f64.coefs_) < 5e-2  # float32 rounding grows over 20 epochs of Adam
    assert f32.score(X, y) > 0.9 and abs(f32.score(X, y) - f64.score(X, y)) < 0.02
    with pytest.raises(ValueError, match="dtype"):
        MLPClassifier(dtype=np.int32).fit(X, y)


def test_dtype_float32_refuses_values_beyond_its_range():
    # float64 values above float32's largest became infinities in the cast, and the fit ended in
    # "Solver produced non-finite parameter weights" (predict: labels computed from NaN)
    X, y = _digits()
    big = X.copy()
    big[3, 5] = 1e39
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)  # the error, not NumPy's "overflow in cast" first
        for Xb in (big, sp.csr_matrix(big)):
            with pytest.raises(ValueError, match="X has values beyond float32's range"):
                MLPClassifier(**kw).fit(Xb, y)
        with pytest.raises(ValueError, match="y has values beyond float32's range"):
            MLPRegressor(**kw).fit(X, np.where(y == 3, 1e39, y))
        clf = MLPClassifier(**kw).fit(X, y)
        with pytest.raises(ValueError, match="X has values beyond float32's range"):
            clf.partial_fit(big[:32], y[:32])
        with pytest.raises(ValueError, match="X has values beyond float32's range"):
            clf.predict(big[:8])
        assert MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(big, y).coefs_[0].dtype \
            == np.float64  # in float64 the same data trains


def test_native_epoch_and_python_loop_agree(monkeypatch):
    if not core.native_available():
        pytest.skip("kernels.train_epoch is not available")
    X, y = _digits()
    params = dict(hidden_layer_sizes=(16, 8), max_iter=5, random_state=0, solver="adam", dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        native = MLPClassifier(**params).fit(X, y)
        monkeypatch.setattr(core, "native_available", lambda: False)
        loop = MLPClassifier(**params).fit(X, y)
    assert _rel(native.coefs_, loop.coefs_) < 1e-10
    np.testing.assert_allclose(native.loss_curve_, loop.loss_curve_, rtol=1e-10)


def test_backend_and_n_threads_parameters():
    import fastnn

    X, y = _digits()
    params = dict(hidden_layer_sizes=(16,), max_iter=4, random_state=0)
    before = fastnn.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = skn.MLPClassifier(**params).fit(X, y)
        np_fit = MLPClassifier(backend="numpy", **params).fit(X, y)
        one = MLPClassifier(n_threads=1, **params).fit(X, y)
        seen = []
        every_core = MLPClassifier(n_threads=-1, **params)
        real_epoch = core.native_epoch

        def spy(*a, **k):
            seen.append(fastnn.get_num_threads())
            return real_epoch(*a, **k)

        core.native_epoch = spy
        fastnn.set_num_threads(1)  # so that -1 visibly raises it for the fit
        try:
            every_core.fit(X, y)
            assert fastnn.get_num_threads() == 1  # and restores it after
        finally:
            core.native_epoch = real_epoch
            fastnn.set_num_threads(before)
    assert fastnn.get_num_threads() == before  # the knob is restored after fit
    assert seen and set(seen) == {len(os.sched_getaffinity(0))}  # -1: every usable core, as n_jobs
    assert _rel(np_fit.coefs_, ref.coefs_) < PARITY_RTOL
    assert _rel(one.coefs_, ref.coefs_) < PARITY_RTOL
    assert _rel(every_core.coefs_, ref.coefs_) < PARITY_RTOL
    with pytest.raises(InvalidParameterError):
        MLPClassifier(backend="cuda").fit(X, y)
    with pytest.raises(InvalidParameterError):
        MLPClassifier(n_threads=-2).fit(X, y)


@pytest.mark.parametrize("dtype", ["foo", [1, 2], np.int32, "float16"])
def test_bad_dtype_parameter_is_named(dtype):
    # dtype="foo" raised NumPy's "TypeError: data type 'foo' not understood", which
    # does not say which argument was wrong
    X, y = _digits()
    with pytest.raises(ValueError, match="dtype must be None, float32 or float64"):
        MLPClassifier(dtype=dtype, max_iter=1).fit(X, y)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_float32_fit_predicts_float64_input_in_float64(make):
    # scikit-learn fitted on float32 X predicts float64 X in float64; fastnn cast X to
    # float32 first (float32 outputs, and NaN for values beyond float32's range)
    X, y = _digits()
    sk = skn.MLPClassifier if make is MLPClassifier else skn.MLPRegressor
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f = make(**params).fit(X.astype(np.float32), y)
        s = sk(**params).fit(X.astype(np.float32), y)
    out = "predict_proba" if make is MLPClassifier else "predict"
    big = X[:3].copy()
    big[0, 0] = 1e39  # finite in float64, inf in float32
    for data in (X, big):
        a, b = getattr(f, out)(data), getattr(s, out)(data)
        assert a.dtype == b.dtype == np.float64
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert getattr(f, out)(X.astype(np.float32)).dtype == np.float32


def test_n_threads_knob_restored_after_overlapping_fits():
    # Two fits with n_threads overlapping in threads (joblib's threading backend):
    # A enters, B enters, A leaves, B leaves. Each used to restore the value it saw
    # on entry, so B put back A's n_threads and the process kept it for good.
    import threading

    import fastnn
    from fastnn.estimators import mlp as mlp_mod

    before = fastnn.get_num_threads()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    inside_b = []

    def fit_a():
        with mlp_mod._threads(2):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def fit_b():
        a_in.wait(10)
        with mlp_mod._threads(2):
            b_in.set()
            a_out.wait(10)
            inside_b.append(fastnn.get_num_threads())  # A's exit must not take B's threads

    fastnn.set_num_threads(1)
    try:
        ts = [threading.Thread(target=fit_a), threading.Thread(target=fit_b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert inside_b == [2]
        assert fastnn.get_num_threads() == 1
    finally:
        fastnn.set_num_threads(before)


def test_sparse_input_matches_dense():
    X, y = _digits()
    Xs = sp.csr_matrix(X)
    params = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        d = MLPClassifier(**params).fit(X, y)
        s = MLPClassifier(**params).fit(Xs, y)
        lb = MLPClassifier(solver="lbfgs", **params).fit(Xs, y)
    assert _rel(s.coefs_, d.coefs_) < 1e-12
    np.testing.assert_allclose(s.predict_proba(Xs), d.predict_proba(X), rtol=1e-10, atol=1e-14)
    assert lb.score(Xs, y) > 0.5


@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="sgd", early_stopping=True),
    dict(solver="lbfgs"),
], ids=["adam", "sgd-early-stopping", "lbfgs"])
def test_large_sparse_input_trains_sparse_like_scikit_learn(monkeypatch, params):
    """Above SPARSE_DENSIFY_MAX_BYTES the matrix is never densified, and the fit is
    still scikit-learn's (it multiplies the sparse matrix too)."""
    from fastnn import sparse_input
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    X, y = _digits()
    Xs = sp.csr_matrix(X)
    monkeypatch.setattr(sparse_input, "SPARSE_DENSIFY_MAX_BYTES", 0)

    real_toarray = sp.csr_matrix.toarray

    def no_densify(self, *a, **k):
        if self.shape[1] != X.shape[1]:  # scikit-learn's own label matrix (a csr_matrix below scipy 1.11)
            return real_toarray(self, *a, **k)
        raise AssertionError("the sparse input was densified")

    common = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SkMLPClassifier(**common).fit(Xs, y)
        ref_r = SkMLPRegressor(**common).fit(Xs, X[:, 10])
        monkeypatch.setattr(sp.csr_matrix, "toarray", no_densify)
        clf = MLPClassifier(**common).fit(Xs, y)
        reg = MLPRegressor(**common).fit(Xs, X[:, 10])
        # (dropout: stochastic solvers only, L-BFGS refuses it)
        f32 = MLPClassifier(dtype=np.float32, dropout=0.0 if params["solver"] == "lbfgs" else 0.1,
                            **common).fit(Xs, y)
    assert _rel(clf.coefs_, ref.coefs_) < PARITY_RTOL
    assert _rel(reg.coefs_, ref_r.coefs_) < PARITY_RTOL
    assert clf.n_iter_ == ref.n_iter_ and reg.n_iter_ == ref_r.n_iter_
    np.testing.assert_allclose(clf.predict_proba(Xs), ref.predict_proba(Xs), rtol=1e-8, atol=1e-12)
    assert f32.coefs_[0].dtype == np.float32 and np.all(np.isfinite(f32.coefs_[0]))


def test_sparse_input_densified_only_where_it_pays():
    """On the native epoch only >= 35% non-zero sparse X trains densified; on the composed
    one (the Poisson loss) narrow or >= 10% non-zero X does too. A wide, sparse one (a
    TF-IDF-like X) trains sparse, with scikit-learn's numbers and no dense copy."""
    from fastnn import sparse_input
    from fastnn.estimators import mlp as fmlp
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    def composed_densifies(X):
        return not sp.issparse(fmlp._composed_form(X, np.float64))

    rng = np.random.RandomState(0)
    narrow = sp.random(50, fmlp.SPARSE_DENSIFY_FEATURES, density=0.01, format="csr", random_state=rng)
    fifth = sp.random(50, 2000, density=0.2, format="csr", random_state=rng)
    half = sp.random(50, 100, density=0.5, format="csr", random_state=rng)
    assert [sparse_input.densify(X, np.float64) for X in (narrow, fifth, half)] == [False, False, True]
    assert [composed_densifies(X) for X in (narrow, fifth, half)] == [True, True, True]
    assert MLPClassifier()._trains_sparse_natively()
    assert MLPClassifier(backend="numba")._trains_sparse_natively()
    assert not MLPRegressor(loss="poisson")._trains_sparse_natively()
    wide = sp.random(300, 2000, density=0.01, format="csr", random_state=rng)
    assert not sparse_input.densify(wide, np.float64) and not composed_densifies(wide)
    row_sums = np.asarray(wide.sum(axis=1)).ravel()
    y = (row_sums > np.median(row_sums)).astype(int)
    common = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SkMLPClassifier(**common).fit(wide, y)
        real_toarray = sp.csr_matrix.toarray

        def no_densify(self, *a, **k):
            if self.shape[1] == wide.shape[1]:
                raise AssertionError("the sparse input was densified")
            return real_toarray(self, *a, **k)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sp.csr_matrix, "toarray", no_densify)
            got = MLPClassifier(**common).fit(wide, y)
    assert _rel(got.coefs_, ref.coefs_) < PARITY_RTOL


def test_mostly_zero_dense_input_trains_on_a_csr_copy(monkeypatch):
    """Dense X with at most DENSE_NATIVE_SPARSIFY_DENSITY non-zeros and at least
    SPARSIFY_MIN_FEATURES columns (images on a blank background) trains on a CSR copy of
    itself on the native epoch: scikit-learn's numbers, the caller's X untouched. A
    denser or narrower X, the composed epoch (Poisson), another backend than C, or fewer
    epochs than SPARSIFY_MIN_EPOCHS (partial_fit) trains dense."""
    from fastnn import sparse_input
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    rng = np.random.RandomState(0)
    X = sp.random(300, sparse_input.SPARSIFY_MIN_FEATURES, density=0.15, random_state=rng).toarray()
    X[5] = 0.0  # an empty row
    y = rng.randint(0, 3, 300)
    copies = []
    real_copy = sparse_input.csr_copy

    def counted(A, **kw):  # (a copy refused by its max_nnz is not one)
        C = real_copy(A, **kw)
        if C is not None:
            copies.append(A.shape)
        return C

    monkeypatch.setattr(sparse_input, "csr_copy", counted)
    given = X.copy()
    common = dict(hidden_layer_sizes=(16,), max_iter=sparse_input.SPARSIFY_MIN_EPOCHS, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SkMLPClassifier(**common).fit(X, y)
        got = MLPClassifier(**common).fit(X, y)
        assert copies == [X.shape]
        np.testing.assert_array_equal(X, given)
        assert _rel(got.coefs_, ref.coefs_) < PARITY_RTOL
        np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-8, atol=1e-12)
        copies.clear()
        MLPClassifier(**common).fit(X[:, :-1], y)  # narrower than SPARSIFY_MIN_FEATURES
        MLPClassifier(**common).fit(X + (rng.rand(*X.shape) < 0.2), y)  # denser
        MLPRegressor(loss="poisson", **common).fit(X, rng.rand(300))  # the composed epoch
        MLPClassifier(backend="numpy", **common).fit(X, y)  # thresholds measured on C's kernels
        # fewer epochs than a copy repays: a short fit, partial_fit's one
        MLPClassifier(**dict(common, max_iter=sparse_input.SPARSIFY_MIN_EPOCHS - 1)).fit(X, y)
        MLPClassifier(**common).partial_fit(X, y, classes=[0, 1, 2])
    assert copies == []
    for dt in (np.float64, np.float32):
        for A in (X.astype(dt), np.asfortranarray(X, dtype=dt), X[:0].astype(dt)):
            for backend in ("c", "numba", "numpy"):
                C = real_copy(A, backend=backend)
                assert C.has_canonical_format and C.dtype == dt and C.indices.dtype == np.int32
                np.testing.assert_array_equal(C.toarray(), A)
        assert real_copy(X.astype(dt), max_nnz=np.count_nonzero(X) - 1) is None


def test_sparse_partial_fit_multiclass_and_csc_like_scikit_learn():
    """A sparse X kept sparse (3% non-zero) through partial_fit, a 3-class fit and a CSC
    X (trained as CSR): scikit-learn's numbers, on the native epoch."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    rng = np.random.RandomState(0)
    X = sp.random(600, 800, density=0.03, format="csr", random_state=rng)
    y = rng.randint(0, 3, 600)
    common = dict(hidden_layer_sizes=(16,), random_state=0)
    got, ref = MLPClassifier(**common), SkMLPClassifier(**common)
    for part in range(3):
        rows = slice(part * 200, (part + 1) * 200)
        got.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        ref.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    assert _rel(got.coefs_, ref.coefs_) < PARITY_RTOL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        got = MLPClassifier(max_iter=3, **common).fit(X.tocsc(), y)
        ref = SkMLPClassifier(max_iter=3, **common).fit(X.tocsc(), y)
    assert _rel(got.coefs_, ref.coefs_) < PARITY_RTOL
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("activation", ["gelu", "elu", "softplus", "leaky_relu"])
def test_extra_activations_learn(activation):
    X, y = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(32,), activation=activation, max_iter=20, batch_size=32,
                        learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("solver", ["adamw", "rmsprop", "adagrad"])
def test_extra_solvers_learn(solver):
    X, y = _digits()
    lr = {"adamw": 0.003, "rmsprop": 0.003, "adagrad": 0.05}[solver]
    clf = MLPClassifier(hidden_layer_sizes=(32,), solver=solver, learning_rate_init=lr, max_iter=20, batch_size=32,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-1] < 0.3 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.9
    clf.partial_fit(X, y)  # extra solvers are stochastic too


def test_weight_decay_and_dropout():
    X, y = _digits()
    kw = dict(hidden_layer_sizes=(32,), max_iter=20, batch_size=32, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base = MLPClassifier(**kw).fit(X, y)
        decayed = MLPClassifier(weight_decay=0.5, **kw).fit(X, y)
        adamw = MLPClassifier(solver="adamw", **kw).fit(X, y)  # default decay 0.01
        drop_a = MLPClassifier(dropout=0.3, **kw).fit(X, y)
        drop_b = MLPClassifier(dropout=0.3, **kw).fit(X, y)
    assert np.linalg.norm(decayed.coefs_[0]) < 0.9 * np.linalg.norm(base.coefs_[0])
    assert 0 < _rel(adamw.coefs_, base.coefs_) < 0.5
    assert _rel(drop_a.coefs_, drop_b.coefs_) == 0.0  # seeded from random_state
    assert _rel(drop_a.coefs_, base.coefs_) > 1e-3
    assert drop_a.score(X, y) > 0.85


def test_pickle_and_joblib_roundtrip(tmp_path):
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    path = tmp_path / "mlp.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # training continues identically after a round trip (optimizer state travels with it)
    a = pickle.loads(pickle.dumps(clf)).partial_fit(X, y)
    b = clf.partial_fit(X, y)
    assert _rel(a.coefs_, b.coefs_) == 0.0
    # the record of which arrays view the flat vector adds no copy of the weights to a file
    twin = copy.copy(clf)
    del twin._flat_views
    joblib.dump(clf, path)
    joblib.dump(twin, tmp_path / "twin.joblib")
    assert os.path.getsize(path) - os.path.getsize(tmp_path / "twin.joblib") < 100


def test_pipeline_gridsearch_and_cross_val_score_in_parallel():
    X, y = _digits(240)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=15, batch_size=32,
                                                            learning_rate_init=0.01, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3, n_jobs=2)
        grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2).fit(X, y)
    assert scores.shape == (3,) and scores.mean() > 0.7
    assert grid.best_params_["mlpclassifier__alpha"] in (1e-4, 1e-2)


def test_errors_and_warnings_match_sklearn():
    X, y = _digits(100)
    with pytest.raises(InvalidParameterError):
        MLPClassifier(solver="nope").fit(X, y)
    with pytest.raises(InvalidParameterError):
        MLPRegressor(loss="absolute_error").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier(max_iter=2).partial_fit(X, y)  # classes= is required on the first call
    # scikit-learn fails on string targets deep inside (a ufunc error); fastnn parsed them as floats
    with pytest.raises(ValueError, match="y must hold numbers for a regressor, got dtype <U"):
        MLPRegressor(max_iter=2).fit(X, y.astype(str))


def test_shuffle_shortcut_draws_like_sklearn_shuffle():
    from sklearn.utils import shuffle

    from fastnn.estimators.mlp import _shuffled

    a, b = np.random.RandomState(7), np.random.RandomState(7)
    idx_a = idx_b = np.arange(97)
    for _ in range(5):
        idx_a, idx_b = _shuffled(idx_a, a), shuffle(idx_b, random_state=b)
        np.testing.assert_array_equal(idx_a, idx_b)


def test_constructor_signature_extends_sklearn():
    import inspect

    for ours, theirs in ((MLPClassifier, skn.MLPClassifier), (MLPRegressor, skn.MLPRegressor)):
        mine = inspect.signature(ours).parameters
        ref = inspect.signature(theirs).parameters
        for name, p in ref.items():
            assert name in mine and mine[name].default == p.default and mine[name].kind == p.kind, name
        extras = [n for n in mine if n not in ref]
        assert extras == ["dropout", "weight_decay", "dtype", "backend", "n_threads"]
        assert all(mine[n].default in (None, 0.0) for n in extras)


def test_lbfgs_runs_scipy_with_one_blas_thread_and_restores_it(monkeypatch):
    """L-BFGS-B's vector work runs on one BLAS thread (a woken multi-threaded pool
    stalls fastnn's OpenMP kernels between iterations); the user's setting is back after."""
    import scipy.optimize
    from threadpoolctl import threadpool_info

    from fastnn.estimators import mlp as fmlp

    def blas_threads():
        return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    seen = []
    real = scipy.optimize.minimize

    def spy(*a, **k):
        seen.append(blas_threads())
        return real(*a, **k)

    monkeypatch.setattr(fmlp.scipy.optimize, "minimize", spy)
    before = blas_threads()
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    assert seen == [[1]]
    assert blas_threads() == before


def test_one_blas_thread_blocks_overlapping_in_threads_restore_the_users_setting():
    """Fits in threads (joblib's threading backend) overlap their one_blas_thread blocks:
    BLAS stays on one thread until the last block ends, then the user's setting is back
    (each block restoring what it found left BLAS on 1 thread for the rest of the process)."""
    import threading

    from threadpoolctl import ThreadpoolController, threadpool_limits

    from fastnn.threads import one_blas_thread

    def blas_threads():
        return sorted({lib.num_threads for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"})

    def in_thread(fn):  # a finished thread leaves threadpoolctl's OpenBLAS control free for the others
        t = threading.Thread(target=fn)
        t.start()
        t.join()

    limiter = []
    in_thread(lambda: limiter.append(threadpool_limits(limits=2, user_api="blas")))  # the user's setting: 2
    try:
        assert blas_threads() == [2]
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        inside = []

        def a():
            with one_blas_thread():
                a_in.set()
                b_in.wait(10)
            a_out.set()

        def b():
            a_in.wait(10)
            with one_blas_thread():
                b_in.set()
                a_out.wait(10)
                inside.append(blas_threads())  # a's block has ended, this one has not

        threads = [threading.Thread(target=f) for f in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert inside == [[1]]
        assert blas_threads() == [2]
    finally:
        in_thread(limiter[0].restore_original_limits)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a few epochs on purpose
def test_predict_takes_the_label_binarizers_classes():
    """predict's multiclass shortcut (the class of the largest output) returns what the
    label binarizer's inverse_transform does: string labels, ties to the first class,
    NaN outputs, and a sparse-label fit (inverse_transform then returns a sparse matrix)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = np.array(["b", "a", "c"])[rng.integers(0, 3, 60)]
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    lb = clf._label_binarizer
    np.testing.assert_array_equal(clf.predict(X), lb.inverse_transform(clf.predict_proba(X)))
    clf.coefs_[-1][...] = 0.0  # every class equally likely: the first wins
    clf.intercepts_[-1][...] = 0.0
    np.testing.assert_array_equal(clf.predict(X), np.full(60, "a"))
    np.testing.assert_array_equal(clf.predict(X), lb.inverse_transform(clf.predict_proba(X)))
    clf.intercepts_[-1][...] = np.nan
    np.testing.assert_array_equal(clf.predict(X[:3]), lb.inverse_transform(clf.predict_proba(X[:3])))
    Y = sp.csr_matrix(np.eye(3, dtype=int)[rng.integers(0, 3, 60)])
    multi = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, Y)
    assert sp.issparse(multi.predict(X))  # multilabel (sparse) targets keep the binarizer's path


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a few epochs on purpose
def test_predict_with_edited_coefs_checks_their_shapes():
    """predict's direct backend calls are only for weights whose shapes chain: a
    replaced layer of the wrong shape is kernels.dense_forward's ValueError, not a
    read past the end of the array in C."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0).fit(X, y)
    clf.coefs_[1] = np.zeros((2, 3))  # the hidden layer has 6 outputs
    with pytest.raises(ValueError, match="w must have 6 rows"):
        clf.predict(X)
    clf.coefs_[1] = np.zeros((6, 3))
    clf.intercepts_[1] = np.zeros(2)
    with pytest.raises(ValueError, match="b must have 3 elements"):
        clf.predict_proba(X)


# ---------------------------------------------------------------- partial_fit fast paths
# A partial_fit call on a small batch skips scikit-learn's input checks when the input
# is already what they return (string labels, multilabel indicators and sample weights
# included) and trains the flat vector coefs_ already view instead of repacking it.

_NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def _sequence_case(case):
    """(fastnn class, scikit-learn class, X, y, classes) for a run of partial_fit calls."""
    X, y = _digits(240)
    w = np.random.RandomState(0).rand(64)
    return {
        "strings": (MLPClassifier, skn.MLPClassifier, X, _NAMES[y], np.unique(_NAMES[y])),
        "binary-strings": (MLPClassifier, skn.MLPClassifier, X, np.where(y > 4, "big", "small"),
                           np.array(["big", "small"])),
        "multilabel": (MLPClassifier, skn.MLPClassifier, X, np.c_[y > 4, y % 2 == 0, y == 3].astype(int),
                       np.arange(3)),
        "multilabel-bool": (MLPClassifier, skn.MLPClassifier, X, np.c_[y > 4, y % 2 == 0], np.arange(2)),
        "regressor": (MLPRegressor, skn.MLPRegressor, X, X @ w, None),
        "regressor-2-outputs": (MLPRegressor, skn.MLPRegressor, X, np.c_[X @ w, X.sum(axis=1)], None),
    }[case]


def _run_sequence(est, X, y, classes, weighted, first_only=None):
    sw = np.random.RandomState(1).rand(len(X)) + 0.5 if weighted else None
    for lo in range(0, len(X), 30):
        kw = {} if sw is None else {"sample_weight": sw[lo:lo + 30]}
        if lo == 0 and classes is not None:
            kw["classes"] = classes
        est.partial_fit(X[lo:lo + 30], y[lo:lo + 30], **kw)
        if lo == 0 and first_only is not None:
            first_only()
    return est


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("case", ["strings", "binary-strings", "multilabel", "multilabel-bool", "regressor",
                                  "regressor-2-outputs"])
def test_partial_fit_sequence_fast_path_is_the_checked_path_and_sklearns(case, solver, weighted, monkeypatch):
    """Eight partial_fit calls: after the first, none reaches scikit-learn's input checks,
    and every fitted attribute is bitwise what the checked path (scikit-learn's checks,
    the parameters repacked at every call) gives, and scikit-learn's to PARITY_RTOL."""
    from fastnn.estimators import mlp as fmlp

    ours, theirs, X, y, classes = _sequence_case(case)
    params = dict(hidden_layer_sizes=(12,), random_state=0, batch_size=8, solver=solver)
    checks = []
    real_validate, real_weights = fmlp.validate_data, fmlp._check_sample_weight
    monkeypatch.setattr(fmlp, "validate_data", lambda *a, **k: checks.append("X, y") or real_validate(*a, **k))
    monkeypatch.setattr(fmlp, "_check_sample_weight", lambda *a, **k: checks.append("sw") or real_weights(*a, **k))
    fast = _run_sequence(ours(**params), X, y, classes, weighted, first_only=checks.clear)
    assert checks == []
    with monkeypatch.context() as m:  # every shortcut off: the checked path, as before them
        m.setattr(ours, "_validated_batch", lambda self, X, y: None)
        m.setattr(fmlp, "validated_weights", lambda sw, n: None)
        m.setattr(ours, "_own_flat", lambda self: None)
        checked = _run_sequence(ours(**params), X, y, classes, weighted)
    assert len(checks) >= 8
    for a, b in zip(fast.coefs_ + fast.intercepts_, checked.coefs_ + checked.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fast.loss_curve_ == checked.loss_curve_ and fast.loss_ == checked.loss_
    assert (fast.t_, fast.n_iter_, fast.best_loss_, fast._no_improvement_count) == (
        checked.t_, checked.n_iter_, checked.best_loss_, checked._no_improvement_count)
    np.testing.assert_array_equal(fast._optimizer.state, checked._optimizer.state)
    assert (fast._optimizer.step, fast._optimizer.learning_rate) == (
        checked._optimizer.step, checked._optimizer.learning_rate)
    _assert_same_fit(fast, _run_sequence(theirs(**params), X, y, classes, weighted))
    if ours is MLPClassifier:
        np.testing.assert_array_equal(fast.predict(X), checked.predict(X))


def _same_error(f, s, *args, **kw):
    """scikit-learn's exception, type and message, from fastnn's partial_fit too."""
    with pytest.raises(Exception) as theirs:
        s.partial_fit(*args, **kw)
    with pytest.raises(type(theirs.value)) as ours:
        f.partial_fit(*args, **kw)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("case", ["multiclass", "strings", "multilabel", "regressor"])
def test_partial_fit_errors_on_a_later_call_match_sklearn(case):
    """Bad batches on a later call fail with scikit-learn's errors (the shortcuts send them
    through its checks), leave nothing behind, and training then continues as scikit-learn's."""
    X, y = _digits(120)
    cls = {"multiclass": (MLPClassifier, skn.MLPClassifier), "regressor": (MLPRegressor, skn.MLPRegressor)}
    ours, theirs = cls.get(case, (MLPClassifier, skn.MLPClassifier))
    y = {"multiclass": y, "strings": _NAMES[y], "multilabel": np.c_[y > 4, y % 2 == 0].astype(int),
         "regressor": X.sum(axis=1)}[case]
    kw = {} if ours is MLPRegressor else {"classes": np.arange(2) if case == "multilabel" else np.unique(y)}
    f, s = (c(hidden_layer_sizes=(8,), random_state=0).partial_fit(X[:60], y[:60], **kw) for c in (ours, theirs))
    nan_X = X[:5].copy()
    nan_X[1, 2] = np.nan
    bad = [((X[:5, :-1], y[:5]), {}), ((nan_X, y[:5]), {}), ((X[:5], y[:5]), {"sample_weight": np.zeros(5)}),
           ((X[:5], y[:5]), {"sample_weight": np.r_[np.nan, np.ones(4)]}),
           ((X[:5], y[:5]), {"sample_weight": np.ones(4)})]
    if case == "multiclass":
        bad.append(((X[:5], np.array([0, 1, 2, 3, 11])), {}))  # an unseen label
    if case == "strings":
        bad.append(((X[:5], np.array(["one", "two", "eleven", "one", "two"])), {}))
        bad.append(((X[:5], np.arange(5)), {}))  # integers into a model of string labels
    if case == "multilabel":
        bad.append(((X[:5], np.c_[y[:5], y[:5, :1]]), {}))  # a third label column
    for args, kwargs in bad:
        _same_error(f, s, *args, **kwargs)
    if case == "multilabel":
        y = y * 2  # 0/2 indicators: scikit-learn reads 2 as 1 (its path, not the shortcut's)
    for est in (f, s):
        est.partial_fit(X[60:], y[60:])
    _assert_same_fit(f, s)


def test_partial_fit_after_set_params_hidden_layer_sizes_continues_like_sklearn():
    """set_params(hidden_layer_sizes=...) between partial_fit calls: training continues on
    the fitted network with scikit-learn's numbers (fastnn also warns that it does; with
    more layers than fitted, scikit-learn fails inside its loss, fastnn goes on the same way)."""
    X, y = _digits(120)
    f, s = (c(hidden_layer_sizes=(8,), random_state=0).partial_fit(X[:60], y[:60], classes=np.unique(y))
            for c in (MLPClassifier, skn.MLPClassifier))
    s.set_params(hidden_layer_sizes=(5,)).partial_fit(X[60:], y[60:])
    with pytest.warns(UserWarning, match=r"hidden_layer_sizes=\(5,\) differs from the fitted network's \(8,\)"):
        f.set_params(hidden_layer_sizes=(5,)).partial_fit(X[60:], y[60:])
    assert [w.shape for w in f.coefs_] == [w.shape for w in s.coefs_] == [(64, 8), (8, 10)]
    _assert_same_fit(f, s)
    with pytest.warns(UserWarning, match=r"\(5, 5\) differs"):
        f.set_params(hidden_layer_sizes=(5, 5)).partial_fit(X[60:], y[60:])
    assert [w.shape for w in f.coefs_] == [(64, 8), (8, 10)]


def test_partial_fit_trains_coefs_in_place_and_honours_replaced_ones_like_sklearn():
    """partial_fit updates the coefs_ arrays in place (as scikit-learn's optimizer does);
    arrays the user replaced or edited are trained from as given, not from a stale copy."""
    X, y = _digits(120)
    f, s = (c(hidden_layer_sizes=(8,), random_state=0).partial_fit(X[:60], y[:60], classes=np.unique(y))
            for c in (MLPClassifier, skn.MLPClassifier))
    for est in (f, s):
        held, before = est.coefs_[0], est.coefs_[0].copy()
        est.partial_fit(X[60:], y[60:])
        assert est.coefs_[0] is held and not np.array_equal(held, before)
    for est in (f, s):
        est.coefs_[0] = np.full((64, 8), 0.01)  # a replaced layer
        est.intercepts_[1][...] = 0.5  # an edit in place
        est.partial_fit(X[:60], y[:60])
    _assert_same_fit(f, s)
    # L-BFGS packs a new vector for scipy, in both: arrays held from before keep their values
    params = dict(hidden_layer_sizes=(8,), random_state=0, solver="lbfgs", max_iter=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (MLPClassifier(**params).fit(X, y), skn.MLPClassifier(**params).fit(X, y)):
            held, before = est.coefs_[0], est.coefs_[0].copy()
            est.fit(X, y)
            assert est.coefs_[0] is not held and np.array_equal(held, before)


def test_partial_fit_diverging_raises_sklearns_error():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = X.sum(axis=1) * 1e150
    f, s = (c(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1.0, random_state=0).partial_fit(X, y)
            for c in (MLPRegressor, skn.MLPRegressor))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's overflow
        _same_error(f, s, X, y)


def test_validated_weights_are_what_sklearns_check_returns():
    from sklearn.utils.validation import _check_sample_weight

    from fastnn.estimators._validation import validated_weights

    X = np.zeros((3, 2))
    for sw in (np.array([0.0, 2.0, 1.0]), np.array([-1.0, 1e308, 1e308]), np.ones(3, dtype=np.float32)):
        assert validated_weights(sw, 3) is sw and _check_sample_weight(sw, X) is sw
    for bad in (np.zeros(3), np.array([1.0, np.nan, 1.0]), np.array([np.inf, 1.0, 1.0]), np.ones(4), np.ones((3, 1)),
                np.ones(3, dtype=int), np.ones(6)[::2], [1.0, 1.0, 1.0]):
        assert validated_weights(bad, 3) is None  # scikit-learn's check decides (raises or converts)


@pytest.mark.parametrize("make", [
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), batch_size=16, max_iter=3, random_state=0), "digits"),
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), solver="sgd", max_iter=3, random_state=0), "binary"),
    lambda: (MLPRegressor(hidden_layer_sizes=(12,), batch_size=16, max_iter=3, alpha=0.1, random_state=0), "two"),
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), max_iter=3, random_state=0), "sparse"),
    lambda: (MLPClassifier(hidden_layer_sizes=(12,), max_iter=3, random_state=0), "weighted"),
], ids=["softmax", "sigmoid-sgd", "two-outputs-per-batch", "sparse", "sample-weight"])
def test_the_epochs_unchecked_call_trains_what_the_checked_one_does(make, monkeypatch):
    """native_epoch calls train_epoch's backend without its checks on the estimator's own
    buffers and validated dense data (_unchecked_epoch), the checked kernel otherwise: the
    same weights either way, and partial_fit's too."""
    X, y = _digits(200)
    est, case = make()
    fit_kw = {}
    if case == "binary":
        y = y % 2
    elif case == "two":
        y = np.c_[y, 2.0 * y] / 10.0
    elif case == "sparse":
        X = sp.csr_matrix(np.where(X > 0.5, X, 0.0))
    elif case == "weighted":
        fit_kw["sample_weight"] = np.linspace(0.5, 1.5, len(y))
    used = []
    real = core._unchecked_epoch
    monkeypatch.setattr(core, "_unchecked_epoch", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        part_kw = {k: v[:40] for k, v in fit_kw.items()}
        fast = copy.deepcopy(est).fit(X, y, **fit_kw)
        fast.partial_fit(X[:40], y[:40], **part_kw)
        assert all((u is None) == (case in ("sparse", "weighted")) for u in used) and used
        monkeypatch.setattr(core, "_unchecked_epoch", lambda *a, **k: None)
        checked = copy.deepcopy(est).fit(X, y, **fit_kw)
        checked.partial_fit(X[:40], y[:40], **part_kw)
    for a, b in zip(fast.coefs_ + fast.intercepts_, checked.coefs_ + checked.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fast.loss_curve_ == checked.loss_curve_


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["adam", "adamw"])
def test_fit_is_the_same_on_either_divider_form(dtype, solver):
    """The C updates' 512-bit form (on by default where the CPU divides 512-bit vectors at full
    rate; its Adam sums the L2 term as it updates) and the 8-lane forms train the same weights
    and loss curve to the bit."""
    from fastnn.backends import c as cb

    if not cb.cpu_has_avx512f():
        pytest.skip("the 512-bit form needs AVX-512F")
    X, y = _digits(300)
    fits = []
    before = cb.get_zmm_divide()
    try:
        for zmm in (True, False):
            cb.set_zmm_divide(zmm)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(MLPClassifier(hidden_layer_sizes=(40, 21), batch_size=32, max_iter=4, solver=solver,
                                          random_state=0, dtype=dtype, backend="c").fit(X, y))
    finally:
        cb.set_zmm_divide(before)
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fits[0].loss_curve_ == fits[1].loss_curve_


@pytest.mark.parametrize("y", [np.array([3, 1, 2, 3, 1]), np.array([0, 1, 1, 0], np.uint8), np.array([-5, 7, -5], np.int32),
                               np.arange(300) % 10], ids=["int64", "uint8-binary", "int32-binary", "ten"])
def test_integer_labels_binarized_as_scikit_learn_does(y):
    """fit's direct LabelBinarizer for integer labels: the fitted attributes (values and dtypes) and
    the indicator matrix scikit-learn's checks give; any other y is left to them."""
    from sklearn.preprocessing import LabelBinarizer
    from fastnn.estimators.mlp import _integer_labels_binarized

    lb, Y = _integer_labels_binarized(y)
    ref = LabelBinarizer().fit(y)
    assert vars(lb).keys() == vars(ref).keys()
    for k, v in vars(ref).items():
        got = vars(lb)[k]
        assert np.array_equal(got, v) and np.asarray(got).dtype == np.asarray(v).dtype, k
    np.testing.assert_array_equal(Y, ref.transform(y).astype(bool))
    for other in (y.astype(float), y.astype(str), y.reshape(-1, 1), np.zeros(4, int), list(y)):
        assert _integer_labels_binarized(other) is None


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("labels", ["int", "str", "float", "binary"])
def test_early_stopping_accuracy_is_accuracy_score(labels, weighted):
    """Early stopping scores each epoch with _scores.accuracy instead of accuracy_score
    (whose target checks cost ~0.25 ms a call): the same value to the bit."""
    from sklearn.metrics import accuracy_score

    from fastnn.estimators import _scores

    rng = np.random.default_rng(0)
    n_classes = 2 if labels == "binary" else 5
    classes = {"int": np.arange(n_classes) * 3, "str": np.array([f"c{i}" for i in range(n_classes)]),
               "float": np.arange(n_classes) + 1.0, "binary": np.array([-1, 1])}[labels]
    for n in (2, 7, 133):
        y, y_pred = classes[rng.integers(0, n_classes, n)], classes[rng.integers(0, n_classes, n)]
        sw = rng.uniform(0.1, 3.0, n) if weighted else None
        assert _scores.accuracy(y, y_pred, sw) == accuracy_score(y, y_pred, sample_weight=sw)
        assert isinstance(_scores.accuracy(y, y_pred, sw), float)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("dtypes", [("f64", "f64"), ("f64", "f32"), ("f32", "f32"), ("int", "f64")])
def test_early_stopping_r2_is_r2_score(dtypes, outputs, weighted):
    """MLPRegressor's early stopping scores with _scores.r2_uniform: r2_score's value to
    the bit, in its promoted dtype, with constant targets (predicted exactly or not)."""
    from sklearn.metrics import r2_score

    from fastnn.estimators import _scores

    rng = np.random.default_rng(1)
    as_dtype = {"f64": np.float64, "f32": np.float32, "int": np.int64}
    for n in (2, 5, 140):
        y = (rng.standard_normal((n, outputs)) * 4).astype(as_dtype[dtypes[0]])
        y_pred = (y + rng.standard_normal((n, outputs))).astype(as_dtype[dtypes[1]])
        if outputs == 3:
            y[:, 1] = 2  # a constant target, mispredicted
            y[:, 2] = 1
            y_pred[:, 2] = 1  # a constant target, predicted exactly
        if outputs == 1:
            y, y_pred = y.ravel(), y_pred.ravel()
        sw = rng.uniform(0.1, 3.0, n) if weighted else None
        got = _scores.r2_uniform(y, y_pred, sw)
        assert isinstance(got, float)
        assert got == r2_score(y, y_pred, sample_weight=sw)


# ---------------------------------------------------------------- review defects


@pytest.mark.parametrize("labels", ["ints", "list", "strings", "binary"])
def test_warm_start_partial_fit_refuses_a_batch_missing_classes_like_sklearn(labels, monkeypatch):
    """With warm_start, scikit-learn's partial_fit refuses a batch whose classes are not
    all of classes_; the ndarray fast path trained on it. Every input type now raises
    scikit-learn's error, and a batch with every class still skips the checks."""
    from fastnn.estimators import mlp as fmlp

    X, y = _digits(120)
    y = {"ints": y, "list": y, "strings": _NAMES[y], "binary": (y > 4).astype(int)}[labels]
    params = dict(hidden_layer_sizes=(8,), warm_start=True, random_state=0)
    f, s = (c(**params).partial_fit(X[:60], y[:60], classes=np.unique(y)) for c in (MLPClassifier, skn.MLPClassifier))
    part = y != y[0]  # every class but one
    Xb, yb = X[part][:20], y[part][:20]
    if labels == "list":
        Xb, yb = Xb.tolist(), yb.tolist()
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        s.partial_fit(Xb, yb)
    _same_error(f, s, Xb, yb)
    calls = []
    real = fmlp.validate_data
    monkeypatch.setattr(fmlp, "validate_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    for est in (f, s):  # a batch holding every class trains, on the fast path, as scikit-learn's
        est.partial_fit(X[60:], y[60:])
    assert calls == [] or labels == "list"
    _assert_same_fit(f, s)
    # without warm_start, a batch of known classes needs none of the others (scikit-learn too)
    g = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X[:60], y[:60], classes=np.unique(y))
    g.partial_fit(X[part][:20], y[part][:20])
    assert g.t_ == 80


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_predicting_text_raises_like_sklearn_and_fitting_text_parses_it(make):
    """scikit-learn predicts with dtype="numeric", which refuses strings and bytes (fastnn
    parsed them); its fit and partial_fit convert them to floats, as fastnn's do."""
    X, y = _digits(100)
    ref = {MLPClassifier: skn.MLPClassifier, MLPRegressor: skn.MLPRegressor}[make]
    f, s = _both(make, ref, X, y, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    methods = ["predict", "score"] + (["predict_proba", "predict_log_proba"] if make is MLPClassifier else [])
    for text in (X.astype(str), X.astype(str).tolist(), X.astype(bytes)):
        for name in methods:
            args = (text, y) if name == "score" else (text,)
            for est in (s, f):
                with pytest.raises(ValueError, match="dtype='numeric' is not compatible with arrays of bytes/strings"):
                    getattr(est, name)(*args)
    text_f, text_s = _both(make, ref, X.astype(str), y, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    _assert_same_fit(text_f, f, rtol=0)  # fit parsed the text: the same numbers
    _assert_same_fit(text_f, text_s)
    # an object array of numbers-as-text is converted by scikit-learn's predict: fastnn too
    np.testing.assert_allclose(f.predict(X.astype(str).astype(object)), s.predict(X.astype(str).astype(object)),
                               rtol=1e-7)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("extra", [{"dropout": 0.9}, {"weight_decay": 0.1}])
def test_stochastic_only_extras_are_refused_with_lbfgs(make, extra):
    """dropout and weight_decay left an L-BFGS fit unchanged (the same loss_ as without):
    now a ValueError naming the parameter and the solver, on fit and on the regressor's
    partial_fit (a full L-BFGS fit, as scikit-learn's)."""
    X, y = _digits(100)
    name, value = next(iter(extra.items()))
    est = make(solver="lbfgs", max_iter=3, **extra)
    with pytest.raises(ValueError, match=rf"{name}={value} is not supported with solver='lbfgs'.*solver='adam"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")
    if make is MLPRegressor:
        with pytest.raises(ValueError, match=rf"{name}={value} is not supported with solver='lbfgs'"):
            est.partial_fit(X, y)
    # their "off" values are fine with lbfgs, and every stochastic solver applies them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        make(solver="lbfgs", max_iter=3, dropout=0.0, weight_decay=0.0).fit(X, y)
        for solver in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
            kw = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=3, random_state=0)
            assert make(**kw, **extra).fit(X, y).loss_ != make(**kw).fit(X, y).loss_, solver


def test_the_other_extras_reach_lbfgs():
    """The extras that do apply to L-BFGS are not ignored there: activation, dtype and
    backend (every kernel call runs on it)."""
    from fastnn import kernels as K

    X, y = _digits(100)
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base = MLPClassifier(**kw).fit(X, y)
        assert MLPClassifier(activation="gelu", **kw).fit(X, y).loss_ != base.loss_
        assert MLPClassifier(dtype=np.float32, **kw).fit(X, y).coefs_[0].dtype == np.float32
        seen = []
        real = K._run
        K._run = lambda name, mod, *a, **k: seen.append(mod.NAME) or real(name, mod, *a, **k)
        try:
            MLPClassifier(backend="numpy", **kw).fit(X, y).predict(X)
        finally:
            K._run = real
    assert seen and set(seen) == {"numpy"}


@pytest.mark.parametrize("ctor", [sp.csr_array, sp.csr_matrix, sp.csc_matrix, sp.coo_array])
def test_regressor_sparse_multioutput_y(ctor):
    """A sparse y of several outputs: scikit-learn fits a sparse array (fastnn failed with
    "got dtype object"); both now train on its values. scikit-learn fails on a spmatrix
    (np.matrix ** 2 in its loss is a matrix power: LinAlgError); fastnn trains on it as on
    the array. A sparse single column is scikit-learn's TypeError in both."""
    X, y = _digits(150)
    Y = np.c_[X[:, 10] * (y > 4), y == 3].astype(float)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f = MLPRegressor(**params).fit(X, ctor(Y))
        dense = MLPRegressor(**params).fit(X, Y)
        if ctor in (sp.csr_array, sp.coo_array):
            _assert_same_fit(f, skn.MLPRegressor(**params).fit(X, ctor(Y)))
        else:
            with pytest.raises(np.linalg.LinAlgError):
                skn.MLPRegressor(**params).fit(X, ctor(Y))
    _assert_same_fit(f, dense, rtol=0)
    pf = MLPRegressor(**params).partial_fit(X, ctor(Y)).partial_fit(X, ctor(Y))
    assert pf.t_ == 2 * len(X) and pf.n_outputs_ == 2
    for est in (MLPRegressor(**params), skn.MLPRegressor(**params)):
        with pytest.raises(TypeError, match="Sparse data was passed for y, but dense data is required"):
            est.fit(X, ctor(Y[:, :1]))


@pytest.mark.parametrize("sizes", [(5.0,), (8, 5.5), ("5",), (True,), np.array([4.0, 2.0])])
def test_hidden_layer_sizes_of_non_integers_are_named(sizes):
    """scikit-learn fails on (5.0,) with "'float' object cannot be interpreted as an
    integer" (it does not take 5.0 as 5); fastnn's message named neither the parameter
    nor the value ("got '36.0'"). Same exception type, a message that names both."""
    X, y = _digits(60)
    bad = next(v for v in list(sizes) if not isinstance(v, (int, np.integer)) or isinstance(v, bool))
    with pytest.raises(TypeError, match=r"hidden_layer_sizes must hold integers .*got " + re.escape(repr(bad))):
        MLPClassifier(hidden_layer_sizes=sizes, max_iter=1).fit(X, y)
    if isinstance(sizes, tuple) and sizes == (5.0,):
        with pytest.raises(TypeError):
            skn.MLPClassifier(hidden_layer_sizes=sizes, max_iter=1).fit(X, y)
    # integers of any kind still work
    est = MLPRegressor(hidden_layer_sizes=(np.int64(3), 2), max_iter=2, solver="sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert [w.shape[1] for w in est.fit(X, y).coefs_] == [3, 2, 1]


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("params", [dict(solver="adam"), dict(solver="sgd", early_stopping=True),
                                    dict(solver="lbfgs"), dict(solver="adam", dtype_in="float32")],
                         ids=["adam", "sgd-early-stopping", "lbfgs", "float32"])
def test_loss_attribute_types_are_sklearns(make, params):
    """loss_, best_loss_ and loss_curve_'s entries are np.float64 in scikit-learn (float32
    X too), validation_scores_'s entries and best_validation_score_ Python floats."""
    X, y = _digits(150)
    params = dict(params)
    X = X.astype(params.pop("dtype_in", "float64"))
    ref = {MLPClassifier: skn.MLPClassifier, MLPRegressor: skn.MLPRegressor}[make]
    f, s = _both(make, ref, X, y, hidden_layer_sizes=(8,), max_iter=4, random_state=0, **params)

    def types(est):
        return {name: type(getattr(est, name, None)) for name in ("loss_", "best_loss_", "best_validation_score_")} | {
            name + "[i]": {type(v) for v in (getattr(est, name, None) or [])}
            for name in ("loss_curve_", "validation_scores_")}

    assert types(f) == types(s)
    assert type(f.loss_) is np.float64
    if params["solver"] != "lbfgs":
        assert {type(v) for v in f.loss_curve_} == {np.float64}
    if params["solver"] == "adam":
        f.partial_fit(X[:20], y[:20])
        assert type(f.loss_) is np.float64
