"""Sparse X kept sparse: LogisticRegression / SoftmaxRegression ("lbfgs"; LogisticRegression's "newton-cg",
"newton-cholesky", "liblinear" (L2 and L1) too) and LinearRegression
against scikit-learn's, with any dense copy of a sparse X made to raise (SPARSE_DENSIFY_MAX_BYTES = 0)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.exceptions import ConvergenceWarning

from fastnn.estimators import LinearRegression, LogisticRegression, SoftmaxRegression

from conftest import SPARSE_CONTAINERS as CONTAINERS, rel_diff as _rel

# every dense copy of a sparse X raises "dense copy would take ..." in these tests
pytestmark = pytest.mark.usefixtures("no_densify")


def _data(n=200, p=30, seed=0):
    """Sparse non-negative X (30% non-zero, column means far from 0), a linear score of it, weights."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.3, format="csr", random_state=seed) * 3.0
    score = np.asarray(X @ rng.standard_normal(p)) + 0.5 * rng.standard_normal(n)
    return X, score, rng.uniform(0.5, 2.0, n)


def _fitted(est):
    """The public fitted attributes of est (scikit-learn's convention: a trailing underscore)."""
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


def _classes(score, k):
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1]))


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_logistic_lbfgs_sparse_x_matches_sklearn(container):
    # before, fit and _scores densified a sparse X (refused above 1 GiB): now scipy's products
    # on it, the same L-BFGS-B iterates as on dense X, and scikit-learn's solution
    X, score, sw = _data()
    for k in (2, 3):
        y = _classes(score, k)
        for kw, fit_kw in (({}, {}), ({"fit_intercept": False}, {}), ({"class_weight": "balanced"}, {}),
                           ({}, {"sample_weight": sw})):
            # float32: fastnn fits in float64 (as on dense X), scikit-learn in float32: 1e-3 apart
            for dtype, rel in ((np.float64, 1e-8), (np.float32, 3e-3)):
                Xc = CONTAINERS[container](X.astype(dtype))
                f = LogisticRegression(tol=1e-10, max_iter=1000, **kw).fit(Xc, y, **fit_kw)
                s = skl.LogisticRegression(tol=1e-10, max_iter=1000, **kw).fit(Xc, y, **fit_kw)
                d = LogisticRegression(tol=1e-10, max_iter=1000, **kw).fit(Xc.toarray(), y, **fit_kw)
                assert f.coef_.dtype == s.coef_.dtype == dtype and f.coef_.shape == s.coef_.shape
                assert _rel(f.coef_, s.coef_) < rel, (k, kw, fit_kw, dtype)
                assert _rel(f.coef_, d.coef_) < 1e-8  # the dense fit's iterates, up to rounding
                if f.fit_intercept:
                    assert _rel(f.intercept_, s.intercept_) < rel, (k, kw, fit_kw, dtype)
                np.testing.assert_allclose(f.predict_proba(Xc), s.predict_proba(Xc), rtol=rel, atol=rel)
    # SoftmaxRegression: two softmax columns on the same path
    y = _classes(score, 2)
    Xc = CONTAINERS[container](X)
    f, d = SoftmaxRegression(tol=1e-10).fit(Xc, y), SoftmaxRegression(tol=1e-10).fit(X.toarray(), y)
    assert f.coef_.shape == (2, X.shape[1]) and _rel(f.coef_, d.coef_) < 1e-8


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # C=inf: newton-cholesky falls back to lbfgs
@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("solver", ["newton-cg", "newton-cholesky", "liblinear"])
def test_logistic_newton_liblinear_sparse_x_matches_sklearn(container, solver):
    # before, these densified a sparse X (refused above 1 GiB; here, with the limit 0, always):
    # now its products (and newton-cholesky's X^T diag(h) X) from scipy.sparse, as scikit-learn's
    X, score, sw = _data()
    score = score + 3.0 * np.random.default_rng(5).standard_normal(score.size)  # label noise: an optimum at C=inf
    # liblinear: only tol-accurate (its iterates are not fastnn's), so compared tight
    tight, rel = (dict(tol=1e-10, max_iter=1000), 1e-6) if solver == "liblinear" else ({}, 1e-8)
    for k in (2,) if solver == "liblinear" else (2, 3):
        y = _classes(score, k)
        for kw, fit_kw in (({}, {}), ({"fit_intercept": False}, {}), ({"C": 0.1}, {"sample_weight": sw}),
                           ({"C": np.inf}, {})):
            if solver == "liblinear" and kw.get("C") == np.inf:  # (liblinear refuses no penalty)
                continue
            Xc = CONTAINERS[container](X)
            params = dict(solver=solver, **tight, **kw)
            f = LogisticRegression(**params).fit(Xc, y, **fit_kw)
            s = skl.LogisticRegression(**params).fit(Xc, y, **fit_kw)
            d = LogisticRegression(**params).fit(Xc.toarray(), y, **fit_kw)
            assert f.coef_.shape == s.coef_.shape and f.coef_.dtype == s.coef_.dtype
            assert _rel(f.coef_, s.coef_) < rel, (k, kw, fit_kw)
            assert _rel(f.coef_, d.coef_) < 1e-8, (k, kw, fit_kw)  # the dense fit, up to rounding
            if f.fit_intercept:
                assert _rel(f.intercept_, s.intercept_) < rel, (k, kw, fit_kw)
            if solver != "liblinear":  # scikit-learn's Newton iterates
                np.testing.assert_array_equal(f.n_iter_, s.n_iter_)
            np.testing.assert_allclose(f.predict_proba(Xc), s.predict_proba(Xc), rtol=rel, atol=rel)


@pytest.mark.parametrize("k", [2, 3])
def test_newton_cholesky_sparse_x_out_of_order_left_as_given(k):
    # kernels.csr_sandwich takes each row's columns sorted and distinct: the fit sums a copy's
    # duplicates (scipy's canonical form) and leaves the caller's X as it was
    X, score, _ = _data(seed=2)
    y = _classes(score, k)
    # every entry stored twice, as two halves, each row's columns in decreasing order
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    order = np.lexsort((-X.indices, rows))
    counts = np.diff(X.indptr) * 2
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = np.repeat(X.indices[order], 2).astype(np.int32)
    data = np.repeat(X.data[order] / 2, 2)
    messy = sp.csr_matrix((data, indices, indptr), shape=X.shape)
    assert not messy.has_canonical_format
    np.testing.assert_allclose(messy.toarray(), X.toarray(), rtol=1e-15)
    before = [a.copy() for a in (messy.data, messy.indices, messy.indptr)]
    f = LogisticRegression(solver="newton-cholesky").fit(messy, y)
    g = LogisticRegression(solver="newton-cholesky").fit(X, y)
    for a, b in zip(before, (messy.data, messy.indices, messy.indptr)):
        np.testing.assert_array_equal(a, b)
    assert _rel(f.coef_, g.coef_) < 1e-10 and _rel(f.intercept_, g.intercept_) < 1e-10
    np.testing.assert_array_equal(f.n_iter_, g.n_iter_)


# scikit-learn's liblinear often stops at max_iter=1000 at tol=1e-10 (its warning only: fastnn's is not hidden)
@pytest.mark.filterwarnings("ignore:Liblinear failed to converge:sklearn.exceptions.ConvergenceWarning:sklearn")
@pytest.mark.parametrize("container", list(CONTAINERS))
def test_logistic_liblinear_l1_sparse_x_not_densified(container):
    # liblinear's L1 models were solved by kernels.enet_cd on dense columns (a sparse X densified,
    # refused here with the limit 0); now by kernels.enet_cd_sparse on X as CSC: scikit-learn's
    # solution and exact zeros, and the dense fit's (more in tests/test_liblinear_l1_sparse.py)
    X, score, sw = _data()
    y = _classes(score, 2)
    Xc = CONTAINERS[container](X)
    for kw, fit_kw in (({}, {}), ({"fit_intercept": False}, {}), ({"C": 0.1}, {"sample_weight": sw})):
        params = dict(solver="liblinear", l1_ratio=1.0, tol=1e-10, max_iter=1000, **kw)
        f = LogisticRegression(**params).fit(Xc, y, **fit_kw)
        s = skl.LogisticRegression(**params).fit(Xc, y, **fit_kw)
        d = LogisticRegression(**params).fit(X.toarray(), y, **fit_kw)
        assert _rel(f.coef_, s.coef_) < 1e-6, kw
        np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)
        assert _rel(f.coef_, d.coef_) < 1e-7, kw  # (tol=1e-10: the last steps are rounding-level)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_logistic_predictions_on_sparse_x(container):
    X, score, _ = _data()
    Xd = X.toarray()
    for y in (_classes(score, 2), _classes(score, 3)):
        m = LogisticRegression().fit(Xd, y)
        Xc = CONTAINERS[container](X)
        for method in ("decision_function", "predict", "predict_proba", "predict_log_proba"):
            np.testing.assert_allclose(getattr(m, method)(Xc), getattr(m, method)(Xd), rtol=1e-12, atol=1e-12)
        # float32 sparse X: scikit-learn's float32 scores, as for dense float32 X
        m32 = LogisticRegression().fit(Xd.astype(np.float32), y)
        assert m32.predict_proba(CONTAINERS[container](X.astype(np.float32))).dtype == np.float32
        m.sparsify()  # a sparse coef_ too
        np.testing.assert_allclose(m.predict_proba(Xc), m.predict_proba(Xd), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_linear_regression_sparse_x_matches_sklearn(container):
    # before, a sparse X was densified for scipy.linalg.lstsq; scikit-learn's LSQR on the
    # implicitly centred (row-weighted) X instead, atol = btol = tol: the same iterates
    X, score, sw = _data()
    rng = np.random.default_rng(1)
    Y = np.c_[score + 5.0, rng.standard_normal(X.shape[0]) - 3.0]
    for dtype, rel in ((np.float64, 1e-12), (np.float32, 1e-5)):
        Xc = CONTAINERS[container](X.astype(dtype))
        for fit_intercept in (True, False):
            for w in (None, sw):
                for y in (Y[:, 0], Y, Y[:, :1]):
                    kw = dict(fit_intercept=fit_intercept, tol=1e-10)
                    f = LinearRegression(**kw).fit(Xc, y.astype(dtype), sample_weight=w)
                    s = skl.LinearRegression(**kw).fit(Xc, y.astype(dtype), sample_weight=w)
                    # (scikit-learn's float32 coef_ is float64 without an intercept: its operator's dtype)
                    assert f.coef_.dtype == dtype and f.coef_.shape == s.coef_.shape
                    assert np.shape(f.intercept_) == np.shape(s.intercept_)
                    assert _rel(f.coef_, s.coef_) < rel
                    if fit_intercept:
                        assert _rel(f.intercept_, s.intercept_) < rel
                    np.testing.assert_allclose(f.predict(Xc), s.predict(Xc), rtol=rel, atol=rel)
                    # scikit-learn's attributes: no rank_ / singular_ (fastnn's were None) nor n_iter_
                    assert _fitted(f) == _fitted(s) == {"coef_", "intercept_", "n_features_in_"}


def test_linear_regression_sparse_errors_and_warnings_like_sklearn():
    X, score, _ = _data()
    # positive=True: scikit-learn's nnls takes dense X only and raises its TypeError (fastnn densified)
    with pytest.raises(TypeError) as s:
        skl.LinearRegression(positive=True).fit(X, score)
    with pytest.raises(TypeError) as f:
        LinearRegression(positive=True).fit(X, score)
    assert str(f.value) == str(s.value)
    # LSQR stopped by scikit-learn's iteration limit (2 n_features; here on columns scaled 1 .. 1e4,
    # both fits end 86% away from the least-squares coef_): a warning, where scikit-learn's is silent
    Xs = X @ sp.diags(np.logspace(0, 4, X.shape[1]))  # (diags_array: scipy >= 1.11)
    with pytest.warns(ConvergenceWarning, match=r"lsqr did not converge after 60 iterations\. Try scaling"):
        f = LinearRegression().fit(Xs, score)
    assert not hasattr(f, "n_iter_")  # (scikit-learn's has none)


def test_huge_sparse_x_fits_without_densifying():
    # all zeros, 200000 x 1000000: 1.5 TiB dense, a few bytes sparse; refused ("dense copy
    # would take 1490.1 GiB") before
    huge = sp.csr_matrix((200_000, 1_000_000))
    y = np.arange(200_000) % 2
    m = LogisticRegression().fit(huge, y)
    assert m.coef_.shape == (1, 1_000_000) and not m.coef_.any()
    np.testing.assert_allclose(m.predict_proba(huge[:5]), 0.5)
    wide = sp.csr_matrix((200_000, 100_000))
    m = SoftmaxRegression().fit(wide, np.arange(200_000) % 3)
    assert m.coef_.shape == (3, 100_000) and m.predict(wide[:4]).shape == (4,)
    for solver in ("newton-cg", "liblinear"):
        m = LogisticRegression(solver=solver).fit(huge, y)
        assert m.coef_.shape == (1, 1_000_000) and not m.coef_.any()
        np.testing.assert_allclose(m.predict_proba(huge[:5]), 0.5)
    # newton-cholesky's Hessian is n_features^2 (as scikit-learn's): a narrower X, 1.6 GB dense
    narrow = sp.csr_matrix((200_000, 1000))
    m = LogisticRegression(solver="newton-cholesky").fit(narrow, np.arange(200_000) % 3)
    assert m.coef_.shape == (3, 1000) and not m.coef_.any()
    lin = LinearRegression().fit(huge, y.astype(float))
    assert lin.coef_.shape == (1_000_000,) and lin.intercept_ == 0.5
    np.testing.assert_array_equal(lin.predict(huge[:3]), 0.5)


def test_other_solvers_still_densify():
    # the solvers that are not X's products only (nor sag / saga: tests/test_sag.py) densify a sparse X
    # (here refused: the limit is 0)
    X, score, _ = _data()
    y = _classes(score, 2)
    for est in (LogisticRegression(solver="gd"), SoftmaxRegression(solver="gd"), LinearRegression(solver="gd")):
        with pytest.raises(ValueError, match="dense copy would take"):
            est.fit(X, y)


def test_logistic_binds_a_csr_x_exactly_where_loss_grad_runs_it_row_by_row():
    # CSR_ROWWISE_MAX_OUT restates csrc/internal.h's FNN_CSR_ROWS_MAX_OUT: past it loss_grad sorts each
    # chunk by column first, which lost to scipy's products at 17-24 outputs
    import os
    import re

    from fastnn.estimators import _logistic

    header = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "csrc", "internal.h")
    with open(header) as f:
        (c_value,) = re.findall(r"#define FNN_CSR_ROWS_MAX_OUT (\d+)", f.read())
    assert _logistic.CSR_ROWWISE_MAX_OUT == int(c_value)
    X, score, _ = _data()
    est = LogisticRegression()
    Xc = sp.csr_matrix(X)
    for k, bound in ((1, False), (2, True), (16, True), (17, False)):
        labels = np.arange(X.shape[0], dtype=np.int32) % k
        got = est._bound_loss_grad(Xc, labels.astype(float), None, float(X.shape[0]), 1e-3, X.shape[1], k, labels)
        assert (got is not None) == bound, k
