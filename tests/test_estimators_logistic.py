"""fastnn's LogisticRegression (and SoftmaxRegression) against scikit-learn's: what a drop-in user meets."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.datasets import load_breast_cancer, load_iris
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
