"""LogisticRegression(solver="liblinear", l1_ratio=1) on a sparse X: its proximal Newton models
solved by kernels.l1_quadratic_cd on X as CSC (the dense path: kernels.enet_cd on the model as a
Lasso), X never densified (every dense copy of a sparse X raises here: SPARSE_DENSIFY_MAX_BYTES = 0)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.exceptions import ConvergenceWarning

from fastnn import kernels as K
from fastnn.estimators import LogisticRegression, _linear_base

from conftest import SPARSE_CONTAINERS as CONTAINERS, rel_diff as _rel

# every dense copy of a sparse X raises "dense copy would take ..." in these tests
pytestmark = pytest.mark.usefixtures("no_densify")
L1 = dict(solver="liblinear", l1_ratio=1.0)


def _data(n=300, p=40, seed=0, noise=2.0):
    """Sparse non-negative X (30% non-zero), binary labels of a noisy linear score, sample weights."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.3, format="csr", random_state=seed) * 3.0
    score = np.asarray(X @ rng.standard_normal(p)) + noise * rng.standard_normal(n)
    return X, (score > np.median(score)).astype(int), rng.uniform(0.5, 2.0, n)


CASES = [({}, False), ({"fit_intercept": False}, False), ({"intercept_scaling": 5.0}, False),
         ({"intercept_scaling": 0.3, "C": 0.1}, True), ({"class_weight": "balanced"}, False), ({"C": 0.05}, True)]


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_fit_is_the_dense_fit(container, dtype):
    # the same problem solved by two model solvers and schedules (newGLMNET's on the sparse X, a
    # Lasso per step on the dense one): other iterates, the same optimum, its exact zeros included
    X, y, sw = _data()
    X = X.astype(dtype)
    zeros = 0
    for kw, weighted in CASES:
        params = dict(**L1, tol=1e-10, max_iter=1000, **kw)
        w = sw if weighted else None
        f = LogisticRegression(**params).fit(CONTAINERS[container](X), y, sample_weight=w)
        d = LogisticRegression(**params).fit(X.toarray(), y, sample_weight=w)
        assert f.coef_.dtype == d.coef_.dtype == np.float64  # liblinear fits in float64, whatever X's dtype
        assert np.count_nonzero(d.coef_)
        zeros += np.count_nonzero(d.coef_ == 0)
        scale = np.max(np.abs(d.coef_))
        assert np.max(np.abs(f.coef_ - d.coef_)) < 1e-8 * scale, (kw, weighted)
        assert np.max(np.abs(np.subtract(f.intercept_, d.intercept_))) < 1e-8 * scale, (kw, weighted)
        assert type(f.intercept_) is type(d.intercept_)
        np.testing.assert_array_equal(f.coef_ == 0, d.coef_ == 0)
    assert zeros >= 20  # L1's exact zeros were compared


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_sparse_fit_is_the_dense_fit_on_every_backend(backend):
    # each backend's l1_quadratic_cd takes the reference's steps (the same roundings): the same fit
    # as the NumPy backend's, bit for bit, and the dense fit's optimum
    X, y, sw = _data(n=120, p=15, seed=3)
    params = dict(**L1, tol=1e-10, max_iter=1000, C=0.5)
    f = LogisticRegression(**params, backend=backend).fit(X, y, sample_weight=sw)
    ref = LogisticRegression(**params, backend="numpy").fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(f.coef_, ref.coef_)
    np.testing.assert_array_equal(f.intercept_, ref.intercept_)
    assert f.n_iter_[0] == ref.n_iter_[0]
    d = LogisticRegression(**params, backend=backend).fit(X.toarray(), y, sample_weight=sw)
    assert _rel(f.coef_, d.coef_) < 1e-7 and _rel(f.intercept_, d.intercept_) < 1e-7
    np.testing.assert_array_equal(f.coef_ == 0, d.coef_ == 0)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_sparse_fit_matches_sklearn_liblinear(container):
    # scikit-learn's liblinear fits a sparse X natively; only tol-accurate, so compared tight
    # (the tolerances of test_estimators_logistic.py::test_logistic_liblinear_matches_sklearn)
    X, y, sw = _data(seed=1)
    for kw, weighted in CASES:
        params = dict(**L1, tol=1e-10, max_iter=1000, **kw)
        w = sw if weighted else None
        Xc = CONTAINERS[container](X)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # fastnn's fit converges...
            f = LogisticRegression(**params).fit(Xc, y, sample_weight=w)
        with warnings.catch_warnings():
            # ...liblinear's often stops at max_iter=1000 at tol=1e-10, still within the tolerance below
            warnings.simplefilter("ignore", ConvergenceWarning)
            s = skl.LogisticRegression(**params).fit(Xc, y, sample_weight=w)
        np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)  # the same exact zeros
        np.testing.assert_allclose(f.predict_proba(Xc), s.predict_proba(Xc), rtol=1e-6, atol=1e-7)


def test_sparse_x_over_the_densify_limit_fits(monkeypatch):
    # a TF-IDF-like X (2000 x 20000, 0.2% non-zero: 320 MB dense) with the limit at 1 MiB: the dense
    # path refuses it, the sparse one fits it as scikit-learn's liblinear does
    monkeypatch.setattr(_linear_base, "SPARSE_DENSIFY_MAX_BYTES", 1 << 20)
    rng = np.random.default_rng(7)
    X = sp.random(2000, 20000, density=0.002, format="csr", random_state=7)
    y = (np.asarray(X[:, :50] @ rng.standard_normal(50)) + 0.05 * rng.standard_normal(2000) > 0).astype(int)
    with pytest.raises(ValueError, match="dense copy would take"):
        _linear_base._dense(X)  # what _liblinear_l1 called on it before
    params = dict(**L1, C=10.0, tol=1e-8, max_iter=1000)
    f, s = LogisticRegression(**params).fit(X, y), skl.LogisticRegression(**params).fit(X, y)
    assert f.coef_.shape == (1, 20000) and 0 < np.count_nonzero(f.coef_) < 20000
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=0, atol=1e-4 * np.max(np.abs(s.coef_)))
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=0, atol=1e-4 * np.max(np.abs(s.coef_)))
    assert np.mean(f.predict(X) == s.predict(X)) > 0.999


def test_sparse_fit_at_the_hessian_floor(monkeypatch):
    # nearly separable data and a weak penalty: rows whose probability rounds to 0 or 1 (and the
    # weight-0 rows) have Hessian weight 0 in l1_quadratic_cd's model, whose nu keeps every
    # coordinate's curvature positive; the fit stays finite and gives the dense fit
    X, y, sw = _data(n=200, p=20, seed=4, noise=0.0)
    sw[:5] = 0.0  # weight-0 rows: h = 0 there
    zeros = []
    real = K.l1_quadratic_cd

    def spy(u, X_csc, cols, g, h, **kw):
        zeros.append(int(np.count_nonzero(h == 0)))
        return real(u, X_csc, cols, g, h, **kw)

    monkeypatch.setattr(K, "l1_quadratic_cd", spy)
    # (tol 1e-10: the optimum is flat here; at 1e-6 the two solvers stop 6e-4 apart, scikit-learn's
    # liblinear elsewhere again, the objectives 3e-5 apart)
    params = dict(**L1, C=1e4, tol=1e-10, max_iter=200)
    f = LogisticRegression(**params).fit(X, y, sample_weight=sw)
    d = LogisticRegression(**params).fit(X.toarray(), y, sample_weight=sw)
    assert zeros and max(zeros) >= 5  # rows of weight 0 were in the models
    assert np.isfinite(f.coef_).all()
    assert _rel(f.coef_, d.coef_) < 1e-6 and _rel(f.intercept_, d.intercept_) < 1e-6
