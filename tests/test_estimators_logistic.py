"""fastnn's LogisticRegression (and SoftmaxRegression) against scikit-learn's: what a drop-in user meets."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from fastnn.estimators import LogisticRegression, SoftmaxRegression


@pytest.fixture(scope="module")
def binary():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X)[:, :4], y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _fit_recording_warnings(est, X, y):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        est.fit(X, y)
    return est, sorted((m.category.__name__, str(m.message)) for m in w
                       if not issubclass(m.category, ConvergenceWarning))


@pytest.mark.parametrize("params", [{"penalty": "l2", "l1_ratio": 0.5}, {"C": np.inf, "l1_ratio": 0.5},
                                    {"C": np.inf, "l1_ratio": 1.0}, {"penalty": None, "l1_ratio": 0.5}])
def test_logistic_l1_ratio_unused_warns_and_fits_like_sklearn(binary, params):
    # l1_ratio plays no part without a penalty (C=inf, penalty=None) or next to the
    # explicit penalty='l2': scikit-learn warns and fits; fastnn raised a ValueError
    X, y = binary
    f, fw = _fit_recording_warnings(LogisticRegression(tol=1e-10, max_iter=1000, **params), X, y)
    s, sw = _fit_recording_warnings(skl.LogisticRegression(tol=1e-10, max_iter=1000, **params), X, y)
    assert fw == sw
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-4)


@pytest.mark.parametrize("params", [{"l1_ratio": 1.0}, {"l1_ratio": 0.5}, {"dual": True}])
def test_logistic_unsupported_penalty_errors_like_sklearn(binary, params):
    # scikit-learn's ValueError text (fastnn's named what it lacks in other words), raised
    # as scikit-learn does: before the data are looked at (here: one class only)
    X, y = binary
    one_class = np.zeros_like(y)
    with pytest.raises(ValueError) as s:
        skl.LogisticRegression(**params).fit(X, one_class)
    with pytest.raises(ValueError) as f:
        LogisticRegression(**params).fit(X, one_class)
    assert str(f.value).startswith(str(s.value).rstrip("."))


@pytest.mark.parametrize("make", [LogisticRegression, SoftmaxRegression])
def test_logistic_sparsify_and_densify(iris, make):
    # scikit-learn's LogisticRegression has sparsify() / densify() (SparseCoefMixin); fastnn's had not
    X, y = iris
    m = make(warm_start=True, max_iter=1000).fit(X, y)
    dense_scores, proba = m.decision_function(X), m.predict_proba(X)
    assert m.sparsify() is m and sp.issparse(m.coef_)
    np.testing.assert_allclose(m.decision_function(X), dense_scores, rtol=1e-12)
    np.testing.assert_allclose(m.decision_function(sp.csr_matrix(X)), dense_scores, rtol=1e-12)
    np.testing.assert_allclose(m.predict_proba(X), proba, rtol=1e-12)
    m.fit(X, y)  # a warm start from the sparse coef_ (scikit-learn's fails here)
    assert isinstance(m.coef_, np.ndarray) and m.n_iter_[0] <= 2
    m.sparsify()
    assert m.densify() is m and isinstance(m.coef_, np.ndarray)
    np.testing.assert_allclose(m.decision_function(X), dense_scores, rtol=1e-6)


class _Recorder:
    """A scikit-learn FitCallback that records each hook, its task and the fitted coef_ it is shown."""

    def __init__(self):
        self.calls = []

    def setup(self, estimator, context):
        self.calls.append(("setup", context.task_name, None))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", context.task_name, None))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("begin", context.task_name, getattr(fitted_estimator, "coef_", None)))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("end", context.task_name, getattr(fitted_estimator, "coef_", None)))


@pytest.mark.parametrize("data", ["binary", "iris"])
@pytest.mark.parametrize("max_iter", [0, 4])
def test_logistic_callbacks_like_sklearn(request, data, max_iter):
    # scikit-learn 1.9's set_callbacks: hooks for the fit and each L-BFGS iteration,
    # shown the estimator as fitted so far; fastnn had no set_callbacks (AttributeError)
    pytest.importorskip("sklearn.callback")
    X, y = request.getfixturevalue(data)
    records = []
    for make in (LogisticRegression, skl.LogisticRegression):
        cb = _Recorder()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = make(max_iter=max_iter).set_callbacks(cb).fit(X, y)
        assert not hasattr(est, "_callback_fit_ctx")  # torn down after fit
        records.append(cb.calls)
    f, s = records
    assert [c[:2] for c in f] == [c[:2] for c in s]
    assert sum(c[1] == "lbfgs-iter" for c in f) == 2 * (max(max_iter, 1) + 1)
    for (_, _, fc), (_, _, sc) in zip(f, s):
        assert (fc is None) == (sc is None)
        if fc is not None:
            np.testing.assert_allclose(fc, sc, rtol=1e-6, atol=1e-9)


def test_logistic_gd_callbacks_warn_like_sklearn(binary):
    # solver="gd" calls only the fit's hooks, with scikit-learn's warning for its non-lbfgs solvers
    pytest.importorskip("sklearn.callback")
    cb = _Recorder()
    with pytest.warns(UserWarning, match="Callbacks are only supported in LogisticRegression for solver='lbfgs'"):
        est = LogisticRegression(solver="gd", max_iter=5).set_callbacks(cb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(*binary)
    assert [c[:2] for c in cb.calls] == [("setup", "fit"), ("begin", "fit"), ("end", "fit"), ("teardown", "fit")]


# ------------------------------- L1 / elastic-net: solver="saga" (SAGA) and "gd" (proximal FISTA)

_TIGHT = dict(C=0.1, tol=1e-10, max_iter=10000)


@pytest.fixture(scope="module")
def binary10():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X)[:, :10], y


@pytest.mark.parametrize("data", ["binary10", "iris"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_logistic_saga_l1_elasticnet_matches_sklearn(request, data, l1_ratio, weighted):
    # scikit-learn's L1 / elastic-net objective (C, l1_ratio and sample weights scaled as
    # its saga's): the same optimum, with exact zeros where scikit-learn's has them;
    # fastnn refused solver="saga" and every l1_ratio > 0
    X, y = request.getfixturevalue(data)
    sw = np.random.RandomState(0).randint(0, 4, len(y)).astype(float) if weighted else None
    f = LogisticRegression(solver="saga", l1_ratio=l1_ratio, **_TIGHT).fit(X, y, sample_weight=sw)
    s = skl.LogisticRegression(solver="saga", l1_ratio=l1_ratio, **_TIGHT).fit(X, y, sample_weight=sw)
    assert f.coef_.shape == s.coef_.shape and f.n_iter_.shape == s.n_iter_.shape == (1,)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-6, atol=1e-7)
    assert np.any(s.coef_ == 0)
    np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)


@pytest.mark.parametrize("data, kw", [("binary10", {"l1_ratio": 0.0}), ("iris", {"l1_ratio": 0.0}),
                                      ("binary", {"C": np.inf, "max_iter": 300})])  # no penalty: slow SAGA
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_logistic_saga_every_penalty(request, data, kw):
    # L2 (l1_ratio=0) and none (C=inf) with saga: scikit-learn's saga's epochs and coefficients;
    # "gd" (FISTA) reaches lbfgs' optimum
    X, y = request.getfixturevalue(data)
    params = {**_TIGHT, **kw, "random_state": 0}
    f = LogisticRegression(solver="saga", **params).fit(X, y)
    s = skl.LogisticRegression(solver="saga", **params).fit(X, y)
    assert f.n_iter_ == s.n_iter_
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-12, atol=1e-14)
    gd = LogisticRegression(solver="gd", **{**_TIGHT, **kw, "max_iter": 10000}).fit(X, y)
    ref = LogisticRegression(**{**_TIGHT, **kw, "max_iter": 10000}).fit(X, y)
    np.testing.assert_allclose(gd.coef_, ref.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gd.intercept_, ref.intercept_, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("params", [{"penalty": "l1", "l1_ratio": 0.5}, {"penalty": "elasticnet", "l1_ratio": 0.3},
                                    {"penalty": "l2", "l1_ratio": 1.0}, {"penalty": "l1"}])
def test_logistic_saga_penalty_warnings_like_sklearn(binary, params):
    # scikit-learn's warnings for the deprecated penalty next to l1_ratio, and its fit
    # (penalty='l1' is pure L1 whatever l1_ratio says)
    X, y = binary
    f, fw = _fit_recording_warnings(LogisticRegression(solver="saga", **{**_TIGHT, **params}), X, y)
    s, sw = _fit_recording_warnings(skl.LogisticRegression(solver="saga", **{**_TIGHT, **params}), X, y)
    assert fw == sw
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", [{"penalty": "elasticnet", "l1_ratio": None},
                                    {"solver": "lbfgs", "penalty": "elasticnet", "l1_ratio": 0.5},
                                    {"solver": "lbfgs", "penalty": "l1"}, {"dual": True}])
def test_logistic_saga_errors_like_sklearn(binary, params):
    X, y = binary
    params = {"solver": "saga", **params}
    with pytest.raises(ValueError) as s, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        skl.LogisticRegression(**params).fit(X, y)
    with pytest.raises(ValueError) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        LogisticRegression(**params).fit(X, y)
    assert str(f.value).startswith(str(s.value).rstrip("."))


def test_logistic_gd_refuses_negative_sample_weight(iris):
    # its step size comes from the norm of X scaled by sqrt(sw) (scikit-learn's saga takes them: so does fastnn's)
    X, y = iris
    sw = np.ones(len(y))
    sw[0] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        LogisticRegression(solver="gd", l1_ratio=1.0).fit(X, y, sample_weight=sw)


def test_logistic_saga_convergence_warning_like_sklearn(binary):
    with pytest.warns(ConvergenceWarning, match="The max_iter was reached which means the coef_ did not converge"):
        LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=2).fit(*binary)


def test_lbfgs_and_newton_cholesky_warnings_read_as_sklearns(binary):
    """Word for word: the lbfgs ConvergenceWarning with scikit-learn's advice paragraph, and the
    Newton solver's warnings naming NewtonCholeskySolver (they named fastnn's private subclass)."""
    X, y = binary
    texts = []
    for est in (skl.LogisticRegression(max_iter=3), LogisticRegression(max_iter=3)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est.fit(X, y)
        texts.append([str(x.message) for x in w if issubclass(x.category, ConvergenceWarning)])
    assert texts[0] == texts[1] and "alternative solver options" in texts[0][0]
    from fastnn.estimators._logistic_solvers import _CholeskyNewtonSolver

    assert _CholeskyNewtonSolver.__name__ == "NewtonCholeskySolver"


@pytest.mark.parametrize("solver", ["saga", "gd"])
def test_logistic_saga_non_finite_raises_like_sklearn(binary, solver):
    # a warm start from NaN coefficients: scikit-learn's saga raises; fastnn's ran max_iter
    # steps and returned NaN coef_ with only a ConvergenceWarning
    clf = LogisticRegression(solver=solver, warm_start=True).fit(*binary)
    clf.coef_[:] = np.nan
    with pytest.raises(ValueError, match="Floating-point under-/overflow"):
        clf.fit(*binary)


# ------------------------------------ scikit-learn's newton-cg, newton-cholesky and liblinear


@pytest.fixture(scope="module")
def noisy():
    # binary and 3-class data with label noise: an optimum even without a penalty (C=inf)
    Xb, yb = make_classification(300, 6, n_informative=3, flip_y=0.2, random_state=0)
    X3, y3 = make_classification(300, 6, n_informative=4, n_classes=3, flip_y=0.2, random_state=0)
    return {"binary": (Xb, yb), "multiclass": (X3, y3)}


def _both(params, X, y, sample_weight=None, first=None):
    """(fastnn's, scikit-learn's) LogisticRegression fitted with the same params (after a
    fit with params updated by ``first``, when given: a warm start's first fit)."""
    fits = []
    for make in (LogisticRegression, skl.LogisticRegression):
        est = make(**params)
        if first is not None:
            est.set_params(**first).fit(X, y, sample_weight=sample_weight)
            est.set_params(**params)
        fits.append(est.fit(X, y, sample_weight=sample_weight))
    return fits


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # C=inf, 3 classes: both fall back to lbfgs
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
@pytest.mark.parametrize("data", ["binary", "multiclass"])
@pytest.mark.parametrize("kw, rtol", [({}, 1e-8), ({"tol": 1e-10}, 1e-10), ({"C": np.inf}, 1e-8),
                                      ({"fit_intercept": False, "C": 0.1}, 1e-8),
                                      ({"class_weight": "balanced"}, 1e-8), ({"weighted": True}, 1e-8)])
def test_logistic_newton_solvers_match_sklearn(noisy, solver, data, kw, rtol):
    # scikit-learn's Newton drivers on fastnn's loss, gradient, Hessian products and Hessian:
    # scikit-learn's iterates, so its coef_ and n_iter_; fastnn refused both solvers by name
    X, y = noisy[data]
    kw = dict(kw)
    sw = np.random.RandomState(0).uniform(0.1, 2, len(y)) if kw.pop("weighted", False) else None
    f, s = _both({"solver": solver, **kw}, X, y, sample_weight=sw)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=rtol, atol=rtol * np.abs(s.coef_).max())
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=rtol, atol=rtol * np.abs(s.coef_).max())
    assert f.coef_.dtype == s.coef_.dtype and f.n_iter_.dtype == s.n_iter_.dtype
    np.testing.assert_array_equal(f.n_iter_, s.n_iter_)


@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
@pytest.mark.parametrize("sparse", [False, True])
def test_logistic_newton_separable_unpenalised_like_sklearn(solver, sparse):
    # separable data, C=inf: the scores grow past ~37, where p (1 - p) from the probabilities rounded to 0;
    # newton-cholesky's Hessian guard then saw "many negative values" and fell back to lbfgs with a
    # ConvergenceWarning (coef_ 30% from scikit-learn's), where scikit-learn's loss (from the scores) goes on
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 6))
    X[:, 0] += 3
    y = (X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(80) > 0).astype(int)
    X = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = LogisticRegression(solver=solver, C=np.inf).fit(X, y)
        s = skl.LogisticRegression(solver=solver, C=np.inf).fit(X, y)
    np.testing.assert_array_equal(f.n_iter_, s.n_iter_)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6)  # (diverging iterates: rounding grows)
    assert np.abs(s.coef_).max() > 10  # (the scores did grow past 37)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # the 1-step fits
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky"])
@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_logistic_newton_solvers_warm_start_and_float32_like_sklearn(noisy, solver, data):
    X, y = noisy[data]
    f, s = _both({"solver": solver, "warm_start": True, "max_iter": 100}, X, y, first={"max_iter": 1})
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-8)
    np.testing.assert_array_equal(f.n_iter_, s.n_iter_)  # continued from the 1-step fit
    # float32 X: coef_ in float32, as scikit-learn's (which also computes in float32: its
    # iterates differ from fastnn's float64 ones by float32 rounding)
    f, s = _both({"solver": solver}, X.astype(np.float32), y)
    assert f.coef_.dtype == s.coef_.dtype == np.float32
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_dense_objective_is_the_products_one(k, fit_intercept, weighted):
    # a dense X's objective and gradient come from kernels.loss_grad in one pass of row chunks (1300 rows:
    # several chunks), a sparse X's from scipy's products and the NumPy losses: the same numbers
    rng = np.random.default_rng(1)
    n, p = 1300, 7
    X = rng.standard_normal((n, p))
    labels = (rng.integers(0, 3, n) if k == 3 else rng.integers(0, 2, n)).astype(np.int32)
    sw = rng.uniform(0.0, 2.0, n) if weighted else None
    sw_sum = float(sw.sum()) if weighted else float(n)
    est = LogisticRegression(fit_intercept=fit_intercept)
    x = rng.standard_normal(p * k + (k if fit_intercept else 0))
    args = (labels.astype(np.float64), sw, sw_sum, 0.03, p, k, labels)
    loss, grad = est._loss_grad(x, X, *args)
    loss_s, grad_s = est._loss_grad(x, sp.csr_matrix(X), *args)
    assert grad.shape == x.shape
    np.testing.assert_allclose(loss, loss_s, rtol=1e-13)
    np.testing.assert_allclose(grad, grad_s, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multinomial_hessian_is_the_blocks_of_sandwiches(monkeypatch, fit_intercept, sparse):
    # newton-cholesky's multiclass Hessian: the pairs of classes' weights through the sandwich kernels'
    # 2-D h, as many pairs a pass as _PAIRS_BYTES holds (4 here: several passes, the last one short),
    # is the per-pair Xa^T diag(p_c (delta_cd - p_d) w) Xa, block (c, d) at rows c::k, columns d::k,
    # plus the L2 penalty on the weights' diagonal
    from fastnn.estimators import _logistic_solvers as ls

    rng = np.random.default_rng(0)
    n, p, k = 45, 5, 4
    X = rng.standard_normal((n, p))
    X[X < -0.5] = 0.0
    labels = np.arange(n) % k
    sw = rng.uniform(0.1, 1.0, n)
    q = p + fit_intercept
    monkeypatch.setattr(ls, "_PAIRS_BYTES", 4 * 8 * q * q)
    est = LogisticRegression(solver="newton-cholesky", fit_intercept=fit_intercept)
    l2 = 0.01
    loss = ls._KernelLoss(est, sp.csr_matrix(X) if sparse else X, labels.astype(np.float64), sw, float(sw.sum()),
                          l2, p, k, labels)
    coef = rng.standard_normal(k * q) * 0.3
    _, got, warn = loss.gradient_hessian(coef, hessian_out=np.full((k * q, k * q), np.nan))
    assert not warn
    Z = X @ coef[:p * k].reshape(p, k) + (coef[p * k:] if fit_intercept else 0.0)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    w = sw / sw.sum()
    Xa = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    expect = np.empty_like(got)
    for c in range(k):
        for d in range(k):
            expect[c::k, d::k] = Xa.T @ (Xa * (P[:, c] * ((c == d) - P[:, d]) * w)[:, None])
    expect[np.arange(p * k), np.arange(p * k)] += l2
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(got, got.T)


# liblinear's own fit is only tol-accurate: compared tight (its iterates are not fastnn's)
_LIBLINEAR_TIGHT = dict(solver="liblinear", tol=1e-10, max_iter=1000)


@pytest.mark.parametrize("kw", [{}, {"dual": True}, {"intercept_scaling": 10.0}, {"fit_intercept": False},
                                {"class_weight": {0: 1.0, 1: 3.0}, "C": 0.3}, {"weighted": True},
                                {"l1_ratio": 1.0}, {"l1_ratio": 1.0, "intercept_scaling": 5.0, "weighted": True},
                                {"l1_ratio": 1.0, "C": 0.05}])
def test_logistic_liblinear_matches_sklearn(noisy, binary10, kw):
    # liblinear's objective: C sum(sw loss) + L2 or L1 of the weights AND of the intercept's
    # weight (intercept / intercept_scaling); fastnn refused solver="liblinear" by name
    kw = dict(kw)
    weighted = kw.pop("weighted", False)
    for X, y in (noisy["binary"], binary10):
        sw = np.random.RandomState(0).uniform(0.1, 2, len(y)) if weighted else None
        f, s = _both({**_LIBLINEAR_TIGHT, **kw}, X, y, sample_weight=sw)
        np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)  # L1: the same exact zeros
        assert f.coef_.dtype == s.coef_.dtype == np.float64 and f.n_iter_.shape == (1,)
        assert f.n_iter_.dtype == s.n_iter_.dtype


@pytest.mark.parametrize("kw", [{}, {"intercept_scaling": 10.0}, {"fit_intercept": False}, {"weighted": True}])
def test_logistic_liblinear_l2_newton_cg_path_matches_sklearn(noisy, monkeypatch, kw):
    # the data above take full Newton steps on the explicit Hessian (few features); more
    # parameters than _NEWTON_MAX_PARAMS (or a sparse X) go to Newton-CG: the same optimum
    from fastnn.estimators import _logistic_solvers

    monkeypatch.setattr(_logistic_solvers, "_NEWTON_MAX_PARAMS", 0)
    kw = dict(kw)
    weighted = kw.pop("weighted", False)
    X, y = noisy["binary"]
    sw = np.random.RandomState(0).uniform(0.1, 2, len(y)) if weighted else None
    f, s = _both({**_LIBLINEAR_TIGHT, **kw}, X, y, sample_weight=sw)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-6, atol=1e-7)


def test_logistic_liblinear_l2_newton_on_raw_features():
    # unscaled breast cancer (features from 1e-3 to 1e3): the explicit-Hessian Newton reaches
    # liblinear's optimum where its gradient is far from zero at the start
    X, y = load_breast_cancer(return_X_y=True)
    f, s = _both(_LIBLINEAR_TIGHT, X, y)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-4)
    assert f.n_iter_[0] < 50


def test_logistic_liblinear_l2_newton_stops_at_the_rounding_floor():
    # tol=1e-10 here asks for a gradient below its rounding floor (5e-10): the Newton steps
    # ran on to max_iter with a ConvergenceWarning; now the last one is taken and the fit stops
    rng = np.random.default_rng(0)
    X = sp.random(200, 30, density=0.3, format="csr", random_state=0).toarray() * 3.0
    score = X @ rng.standard_normal(30) + 0.5 * rng.standard_normal(200)
    score += 3.0 * np.random.default_rng(5).standard_normal(200)
    y = (score > np.median(score)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        f = LogisticRegression(**_LIBLINEAR_TIGHT).fit(X, y)
    s = skl.LogisticRegression(**_LIBLINEAR_TIGHT).fit(X, y)
    assert f.n_iter_[0] < 20
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6, atol=1e-7)


def test_logistic_liblinear_penalises_the_intercept(noisy):
    # a large intercept_scaling makes its penalty vanish: lbfgs' unpenalised intercept in the
    # limit; intercept_scaling=1 shrinks it (C small), as liblinear's objective says
    X, y = noisy["binary"]
    y = np.where(np.arange(len(y)) < 220, 1, y)  # an intercept far from 0
    kw = dict(C=0.01, tol=1e-10, max_iter=1000)
    lbfgs = LogisticRegression(**kw).fit(X, y)
    far = LogisticRegression(solver="liblinear", intercept_scaling=1e4, **kw).fit(X, y)
    near = LogisticRegression(solver="liblinear", intercept_scaling=1.0, **kw).fit(X, y)
    np.testing.assert_allclose(far.intercept_, lbfgs.intercept_, rtol=1e-4)
    assert abs(near.intercept_[0]) < 0.9 * abs(lbfgs.intercept_[0])


def test_logistic_liblinear_float32_and_warm_start_like_sklearn(noisy):
    X, y = noisy["binary"]
    f, s = _both(_LIBLINEAR_TIGHT, X.astype(np.float32), y)
    assert f.coef_.dtype == s.coef_.dtype == np.float64  # liblinear works in float64
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6)
    # liblinear has no warm start: a second fit from a poor first one is the cold fit
    f = LogisticRegression(warm_start=True, **{**_LIBLINEAR_TIGHT, "max_iter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f.fit(X, y)
    f.set_params(max_iter=1000).fit(X, y)
    np.testing.assert_array_equal(f.coef_, LogisticRegression(**_LIBLINEAR_TIGHT).fit(X, y).coef_)


def test_logistic_liblinear_no_intercept_is_float_zero_like_sklearn(noisy):
    X, y = noisy["binary"]
    # without an intercept, liblinear's intercept_ is the float 0.0 (fastnn's was array([0.]))
    f, s = _both({**_LIBLINEAR_TIGHT, "fit_intercept": False}, X, y)
    assert type(f.intercept_) is type(s.intercept_) is float and f.intercept_ == 0.0
    for Xp in (X, sp.csr_matrix(X)):  # predictions broadcast it
        np.testing.assert_allclose(f.decision_function(Xp), s.decision_function(Xp), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(f.predict(Xp), s.predict(Xp))


def test_logistic_liblinear_warm_start_new_shape_like_sklearn(noisy):
    X, y = noisy["binary"]
    # liblinear ignores warm_start: other features than the first fit are no error (fastnn raised
    # scikit-learn's shape error of its other solvers), the second fit is the cold one
    f, s = _both({**_LIBLINEAR_TIGHT, "warm_start": True}, X[:, :3], y)
    f.fit(X, y), s.fit(X, y)
    np.testing.assert_array_equal(f.coef_, LogisticRegression(**_LIBLINEAR_TIGHT).fit(X, y).coef_)
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6)


@pytest.mark.parametrize("params, data", [
    ({"solver": "newton-cg", "l1_ratio": 1.0}, "binary"), ({"solver": "newton-cholesky", "l1_ratio": 0.5}, "binary"),
    ({"solver": "newton-cg", "dual": True}, "binary"), ({"solver": "liblinear", "l1_ratio": 0.5}, "binary"),
    ({"solver": "liblinear", "C": np.inf}, "binary"), ({"solver": "liblinear", "penalty": None}, "binary"),
    ({"solver": "liblinear"}, "multiclass"), ({"solver": "liblinear", "l1_ratio": 1.0, "dual": True}, "binary"),
    ({"solver": "liblinear"}, "huge")])
def test_logistic_newton_liblinear_errors_like_sklearn(noisy, params, data):
    X, y = noisy["multiclass" if data == "multiclass" else "binary"]
    if data == "huge":
        X = X.copy()
        X[0, 0] = 1e31
    errors = []
    for make in (LogisticRegression, skl.LogisticRegression):
        with pytest.raises(ValueError) as e, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            make(**params).fit(X, y)
        errors.append(str(e.value))
    f, s = errors
    assert f.startswith(s.rstrip("."))


def test_logistic_liblinear_warnings_like_sklearn(noisy):
    X, y = noisy["binary"]
    for l1_ratio in (0.0, 1.0):
        with pytest.warns(ConvergenceWarning, match="Liblinear failed to converge, increase the number of iterations"):
            LogisticRegression(solver="liblinear", l1_ratio=l1_ratio, max_iter=1).fit(X, y)
    sw = np.ones(len(y))
    sw[0] = -1.0  # liblinear's objective has no minimum then (scikit-learn's fits silently)
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        LogisticRegression(solver="liblinear").fit(X, y, sample_weight=sw)


def test_logistic_liblinear_tags_like_sklearn():
    # binary only: scikit-learn's tag (its estimator checks then use binary data)
    for solver in ("liblinear", "newton-cg", "newton-cholesky"):
        f, s = LogisticRegression(solver=solver), skl.LogisticRegression(solver=solver)
        assert f.__sklearn_tags__().classifier_tags.multi_class == s.__sklearn_tags__().classifier_tags.multi_class
