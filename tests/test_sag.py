"""fastnn.kernels.sag: the C and Numba solvers against the reference (the spec), the
reference against scikit-learn's own sag_solver (same epochs, same coefficients), on
dense and CSR X, warm-start memory, input validation; Ridge and
LogisticRegression(solver="sag" / "saga") against scikit-learn's, sparse X never densified."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.exceptions import ConvergenceWarning

from fastnn import kernels as K
from fastnn.estimators import LogisticRegression, Ridge
from fastnn.estimators._sag import SPARSE_INTERCEPT_DECAY, auto_step_size, sag_solve

CASES = {  # loss, saga, alpha, beta, fit_intercept, weighted
    "squared-sag": ("squared", False, 1.0, 0.0, True, False),
    "squared-saga-l1": ("squared", True, 1.0, 3.0, False, True),
    "log-sag": ("log", False, 1.0, 0.0, True, True),
    "log-saga-elasticnet": ("log", True, 0.5, 2.0, True, False),
    "multinomial-sag": ("multinomial", False, 1.0, 0.0, False, True),
    "multinomial-saga-l1": ("multinomial", True, 0.0, 1.0, True, True),
    # alpha * step near 1: wscale drops below 1e-9 within an epoch (the mid-epoch rescale)
    "strong-l2": ("squared", False, 5e3, 0.0, True, False),
}
N, P = 40, 5


def _data(case, dtype, sparse=False):
    loss, saga, alpha, beta, fi, weighted = CASES[case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, P))
    z = X @ rng.standard_normal(P) + 0.5 * rng.standard_normal(N)
    y = {"squared": z + 2.0, "log": (z > 0.3).astype(float), "multinomial": np.digitize(z, [-0.5, 0.8])}[loss]
    sw = rng.uniform(0.5, 2.0, N) if weighted else None
    if sparse:  # CSR, about half the entries, an empty row and an empty column
        X = np.where(np.abs(X) > 0.6, X, 0.0)
        X[3], X[:, 2] = 0.0, 0.0
        X = sp.csr_matrix(X)
    return X.astype(dtype), y.astype(dtype), None if sw is None else sw.astype(dtype)


def _solve(backend, case, dtype, max_iter=60, sparse=False):
    loss, saga, alpha, beta, fi, _ = CASES[case]
    X, y, sw = _data(case, dtype, sparse)
    k = 3 if loss == "multinomial" else 1
    coef, b = np.zeros((P, k), dtype), (np.zeros(k, dtype) if fi else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        n_iter = sag_solve(X, y, sw, loss, alpha, beta, coef, b, max_iter=max_iter, tol=1e-7, random_state=7,
                           is_saga=saga, intercept_decay=SPARSE_INTERCEPT_DECAY if sparse else 1.0, backend=backend)
    return coef, b, n_iter


def _backends():
    found = []
    for name in ("numba", "c"):
        try:
            K._solver_module(K._SAG_MODULES, name)
        except ValueError:
            continue
        found.append(name)
    return found


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(CASES))
def test_native_solvers_match_reference(backend, dtype, case, sparse):
    coef_ref, b_ref, it_ref = _solve("numpy", case, dtype, sparse=sparse)
    coef, b, it = _solve(backend, case, dtype, sparse=sparse)
    # the same operations in the same order: equal up to libm's exp, which all three call
    tol = (1e-13 if dtype == np.float64 else 1e-6) * max(1.0, float(np.abs(coef_ref).max()))
    np.testing.assert_allclose(coef, coef_ref, rtol=0, atol=tol)
    if b_ref is not None:
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=tol)
    assert it == it_ref


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(CASES))
def test_reference_is_scikit_learns_solver(dtype, case, sparse):
    # on CSR X: scikit-learn's CSRDataset, its lazy updates of a row's features only (feature_hist)
    sag = pytest.importorskip("sklearn.linear_model._sag")
    loss, saga, alpha, beta, fi, _ = CASES[case]
    X, y, sw = _data(case, dtype, sparse)
    coef, b, n_iter = _solve("numpy", case, dtype, sparse=sparse)
    init = {"coef": np.zeros((P + fi, coef.shape[1]), dtype)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, n_iter_sk, mem = sag.sag_solver(X, y, sw, loss, alpha, beta, 60, 1e-7, 0, 7, True, None, init,
                                           is_saga=saga)
    want = np.vstack([coef, b]) if fi else coef
    assert mem["coef"].dtype == want.dtype and n_iter == n_iter_sk
    scale = max(1.0, float(np.abs(mem["coef"]).max()))
    np.testing.assert_allclose(want, mem["coef"], rtol=0, atol=(1e-13 if dtype == np.float64 else 1e-6) * scale)


@pytest.mark.parametrize("backend", ["numpy"] + _backends())
def test_warm_start_memory_like_scikit_learn(backend):
    # two calls sharing the solver's memory (scikit-learn's warm_start_mem): the second
    # continues the averaged gradient instead of restarting it
    sag = pytest.importorskip("sklearn.linear_model._sag")
    X, y, sw = _data("log-sag", np.float64)
    mem = {"coef": np.zeros((P + 1, 1))}
    coef, b = np.zeros((P, 1)), np.zeros(1)
    bufs = dict(sum_gradient=np.zeros((P, 1)), gradient_memory=np.zeros((N, 1)), intercept_sum_gradient=np.zeros(1),
                seen=np.zeros(N, np.int32))
    msq = np.einsum("ij,ij->i", X, X).max()
    step = auto_step_size(msq, 1.0 / N, "log", True, N, False)
    for random_state in (3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, it_sk, mem = sag.sag_solver(X, y, sw, "log", 1.0, 0.0, 2, 1e-9, 0, random_state, True, None, mem)
        seed = np.random.RandomState(random_state).randint(1, np.iinfo(np.int32).max)
        it = K.sag(coef, X, y, loss="log", step_size=step, alpha=1.0 / N, intercept=b, sample_weight=sw, max_iter=2,
                   tol=1e-9, seed=seed, backend=backend, **bufs)
        assert it == it_sk == 2
        np.testing.assert_allclose(np.vstack([coef, b]), mem["coef"], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(bufs["sum_gradient"], mem["sum_gradient"], rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(bufs["seen"], mem["seen"])
        assert bufs["seen"].sum() == mem["num_seen"]


def test_max_iter_zero_and_non_finite_start():
    X, y, _ = _data("squared-sag", np.float64)
    coef = np.zeros((P, 1))
    # scikit-learn's count for no epoch at all is 1
    assert K.sag(coef, X, y, loss="squared", step_size=0.01, max_iter=0) == 1 and not coef.any()
    coef[0, 0] = np.nan
    for backend in ["numpy"] + _backends():
        with pytest.raises(ValueError, match=r"Floating-point under-/overflow occurred at epoch #1\. Scaling"):
            K.sag(coef.copy(), X, y, loss="squared", step_size=0.01, backend=backend)


@pytest.mark.parametrize("exc, match, change", [
    (TypeError, "coef must be a numpy.ndarray", {"coef": [[0.0]] * P}),
    (TypeError, "coef must be float32 or float64", {"coef": np.zeros((P, 1), np.int64)}),
    (ValueError, "loss must be one of", {"loss": "hinge"}),
    (ValueError, r"coef must have shape \(n_features, 1\)", {"coef": np.zeros((P, 2))}),
    (ValueError, r"coef must have shape \(n_features, 1\)", {"coef": np.zeros(P)}),
    (ValueError, r"X must have shape \(n_samples, 5\)", {"X": np.zeros((N, P + 1))}),
    (TypeError, "X has dtype float32", {"X": np.zeros((N, P), np.float32)}),
    (ValueError, r"y must have shape \(40,\)", {"y": np.zeros(N - 1)}),
    (ValueError, r"sample_weight must have shape \(40,\)", {"sample_weight": np.ones(N + 1)}),
    (ValueError, "X must be finite", {"X": np.full((N, P), np.inf)}),
    (ValueError, "sample_weight must be finite", {"sample_weight": np.r_[np.nan, np.ones(N - 1)]}),
    (ValueError, r"y must be in \[0, 1\] for loss='log'", {"loss": "log"}),
    (ValueError, r"y must hold class indices 0 \.\. 2", {"loss": "multinomial", "coef": np.zeros((P, 3))}),
    (ValueError, r"intercept must have shape \(1,\)", {"intercept": np.zeros(2)}),
    (ValueError, r"gradient_memory must have shape \(40, 1\)", {"gradient_memory": np.zeros((N, 2))}),
    (TypeError, "seen must have dtype int32", {"seen": np.zeros(N)}),
    (ValueError, "seen must hold 0 or 1", {"seen": np.full(N, 2, np.int32)}),
    (ValueError, "sum_gradient overlaps coef", {"_overlap": True}),
    (ValueError, "step_size must be a finite number > 0", {"step_size": 0.0}),
    (ValueError, "alpha must be a finite number >= 0", {"alpha": -1.0}),
    (ValueError, "needs saga=True", {"beta": 0.1}),
    (ValueError, "step_size \\* alpha must not be 1", {"step_size": 0.5, "alpha": 2.0}),
    (ValueError, "max_iter must be an int >= 0", {"max_iter": -1}),
    (ValueError, "seed must be < 2", {"seed": 2**32}),
    (TypeError, "saga must be True or False", {"saga": "yes"}),
])
def test_invalid_input(exc, match, change):
    X, y, _ = _data("squared-sag", np.float64)
    kw = dict(coef=np.zeros((P, 1)), X=X, y=y, loss="squared", step_size=0.01)
    if change.pop("_overlap", False):
        buf = np.zeros(2 * P)
        kw["coef"], change["sum_gradient"] = buf[:P].reshape(P, 1), buf[:P].reshape(P, 1)
    kw.update(change)
    with pytest.raises(exc, match=match):
        K.sag(kw.pop("coef"), kw.pop("X"), kw.pop("y"), backend="numpy", **kw)


def _set(a, i, v):
    a = a.copy()
    a[i] = v
    return a


@pytest.mark.parametrize("exc, match, attr, change", [
    (ValueError, r"X.indices must be feature indices in \[0, 5\).*got values in \[0, 5\]",
     "indices", lambda a: _set(a, 0, P)),
    (ValueError, r"X.indices must be feature indices in \[0, 5\).*\[-1, 4\]", "indices", lambda a: _set(a, 0, -1)),
    (ValueError, r"X.indptr must be non-decreasing .*; row 2 ends before it starts",
     "indptr", lambda a: _set(a, 2, a[3] + 1)),
    (ValueError, r"X.indptr must run from 0 to nnz = \d+", "indptr", lambda a: _set(a, 0, 1)),
    (ValueError, r"X.indptr must have n_samples \+ 1 = 41 entries, got 40", "indptr", lambda a: a[:-1]),
    (TypeError, r"X.indices must be a 1-D int32 or int64 array, got int16", "indices", lambda a: a.astype(np.int16)),
    (TypeError, r"X.data has dtype float32 but the other operands are float64", "data",
     lambda a: a.astype(np.float32)),
    (ValueError, r"X.data must be finite", "data", lambda a: _set(a, 0, np.nan)),
    (TypeError, r"sparse CSC matrix; kernels.sag takes CSR: pass X.tocsr\(\)", None, lambda X: X.tocsc()),
    (ValueError, r"X must have shape \(n_samples, 5\)", None,
     lambda X: sp.csr_matrix((X.data, X.indices, X.indptr), shape=(N, P + 1))),
])
def test_invalid_csr_input(exc, match, attr, change):
    # C indexes coef with X.indices and the samples with X.indptr unchecked: kernels.sag checks them first
    X, y, _ = _data("squared-sag", np.float64, sparse=True)
    if attr is None:
        X = change(X)
    else:  # (scipy checks none of this on assignment)
        setattr(X, attr, change(getattr(X, attr)))
    for backend in ["numpy"] + _backends():
        with pytest.raises(exc, match=match):
            K.sag(np.zeros((P, 1)), X, y, loss="squared", step_size=0.01, backend=backend)
    # a buffer updated in place must not share memory with the indices either
    X, y, _ = _data("squared-sag", np.float64, sparse=True)
    with pytest.raises(ValueError, match="seen overlaps X.indices"):
        K.sag(np.zeros((P, 1)), X, y, loss="squared", step_size=0.01, seen=X.indices[:N])


def test_csr_index_widths_give_the_same_solve():
    # int64 indices and indptr (scipy's for large matrices) are accepted: converted, their values fit
    X, y, sw = _data("log-saga-elasticnet", np.float64, sparse=True)
    X64 = X.copy()
    X64.indices, X64.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    results = []
    for Xi in (X, X64, X.toarray()):
        coef, b = np.zeros((P, 1)), np.zeros(1)
        n_iter = K.sag(coef, Xi, y, loss="log", step_size=0.1, alpha=0.01, beta=0.02, saga=True, intercept=b,
                       sample_weight=sw, max_iter=50, tol=1e-8, seed=3)
        results.append((n_iter, np.r_[coef.ravel(), b]))
    assert results[0][0] == results[1][0] and np.array_equal(results[0][1], results[1][1])
    # the dense solve of the same matrix: the same minimiser (its prox runs in another order)
    np.testing.assert_allclose(results[0][1], results[2][1], rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------ estimators

@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 6))
    Y = np.column_stack([X @ rng.standard_normal(6) + 3.0, X[:, 0] - 1.0]) + 0.3 * rng.standard_normal((120, 2))
    return X, Y, rng.uniform(0.5, 2.0, 120)


def _same(f, s, it=True, rtol=1e-12):
    if it:
        np.testing.assert_array_equal(f.n_iter_, s.n_iter_)
        assert np.asarray(f.n_iter_).dtype == np.int32
    assert f.coef_.dtype == s.coef_.dtype and np.shape(f.intercept_) == np.shape(s.intercept_)
    scale = max(1.0, float(np.abs(s.coef_).max()))
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=0, atol=rtol * max(1.0, float(np.abs(s.intercept_).max())))


@pytest.mark.parametrize("solver", ["sag", "saga"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_ridge_sag_like_sklearn(regression, solver, fit_intercept, weighted, dtype):
    X, Y, sw = regression
    X = X.astype(dtype)
    kw = dict(alpha=2.0, solver=solver, fit_intercept=fit_intercept, tol=1e-6, random_state=0)
    for y in (Y[:, 0], Y):  # one target, then two (n_iter_ one per target)
        f = Ridge(**kw).fit(X, y, sample_weight=sw if weighted else None)
        s = skl.Ridge(**kw).fit(X, y, sample_weight=sw if weighted else None)
        assert f.solver_ == s.solver_ == solver
        if dtype == np.float32 and weighted and fit_intercept:
            # fastnn's weighted column means (sw / sum(sw) @ X) round differently from scikit-learn's
            # np.average in float32: the centred X differs in its last bits, and the stop by an epoch or two
            _same(f, s, it=False, rtol=2e-6)
            assert np.all(np.abs(f.n_iter_ - s.n_iter_) <= 0.05 * s.n_iter_)
        else:
            _same(f, s)


def test_ridge_sag_sparse_intercept_like_sklearn(regression):
    X, Y, sw = regression
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    # max_iter=None with tol > 1e-4: scikit-learn's sag fits the intercept itself (decay 0.01), with a warning
    kw = dict(solver="sag", tol=1e-3, random_state=0)
    with pytest.warns(UserWarning, match='"sag" solver requires many iterations'):
        f = Ridge(**kw).fit(Xs, Y[:, 0], sample_weight=sw)
    with pytest.warns(UserWarning, match='"sag" solver requires many iterations'):
        s = skl.Ridge(**kw).fit(Xs, Y[:, 0], sample_weight=sw)
    _same(f, s)  # X stays CSR: scikit-learn's lazy updates, step for step


@pytest.mark.parametrize("solver, l1_ratio", [("sag", 0.0), ("saga", 0.0), ("saga", 1.0), ("saga", 0.4)])
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_logistic_sag_like_sklearn(regression, solver, l1_ratio, classes, fit_intercept):
    X, Y, sw = regression
    y = np.digitize(Y[:, 0], [3.0] if classes == 2 else [2.0, 4.0])
    kw = dict(solver=solver, l1_ratio=l1_ratio, C=0.3, fit_intercept=fit_intercept, tol=1e-6, random_state=0)
    for w in (None, sw):
        f = LogisticRegression(**kw).fit(X, y, sample_weight=w)
        s = skl.LogisticRegression(**kw).fit(X, y, sample_weight=w)
        _same(f, s)
        np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)


def test_logistic_sag_float32_sparse_and_warnings_like_sklearn(regression):
    X, Y, _ = regression
    y = np.digitize(Y[:, 0], [2.0, 4.0])
    kw = dict(solver="saga", l1_ratio=0.5, tol=1e-6, random_state=0)
    f = LogisticRegression(**kw).fit(X.astype(np.float32), y)
    s = skl.LogisticRegression(**kw).fit(X.astype(np.float32), y)
    _same(f, s, rtol=1e-6)  # solved in float32 (sag32's arithmetic)
    # sparse X: the same draws, intercept decay and lazy updates of a row's features only
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    _same(LogisticRegression(**kw).fit(Xs, y), skl.LogisticRegression(**kw).fit(Xs, y))
    with pytest.warns(ConvergenceWarning, match="The max_iter was reached which means the coef_ did not converge"):
        f = LogisticRegression(solver="sag", max_iter=2, random_state=0).fit(X, y)
    assert f.n_iter_ == 2
    # sag takes only L2: scikit-learn's error
    with pytest.raises(ValueError, match="Solver sag supports only 'l2' or None penalties, got l1 penalty"):
        LogisticRegression(solver="sag", l1_ratio=1.0).fit(X, y)


@pytest.fixture
def never_densify(monkeypatch):
    # any dense copy of a sparse X now raises: the fits below must keep it sparse
    monkeypatch.setattr("fastnn.estimators._linear_base.SPARSE_DENSIFY_MAX_BYTES", 0)


@pytest.mark.parametrize("model, kw, target, weighted", [
    ("logistic", dict(solver="sag"), "binary", False),
    ("logistic", dict(solver="sag", fit_intercept=False), "multinomial", True),
    ("logistic", dict(solver="saga"), "multinomial", False),
    ("logistic", dict(solver="saga", l1_ratio=1.0, C=0.3), "binary", True),
    ("logistic", dict(solver="saga", l1_ratio=0.5, C=0.3), "multinomial", True),
    ("ridge", dict(solver="sag", fit_intercept=False), "real", True),
    ("ridge", dict(solver="saga", fit_intercept=False), "real", False),
    ("ridge", dict(solver="sag", max_iter=None, tol=1e-3), "real", True),  # its own intercept, decay 0.01
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_csr_fits_like_sklearn(regression, never_densify, model, kw, target, weighted, dtype):
    X, Y, sw = regression
    # TF-IDF-like: about a third of the entries, each row scaled to unit norm
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0) / np.linalg.norm(X, axis=1, keepdims=True), dtype=dtype)
    y = {"binary": Y[:, 0] > 3.0, "multinomial": np.digitize(Y[:, 0], [2.0, 4.0]), "real": Y[:, 0]}[target]
    w = sw if weighted else None
    kw = dict(kw, tol=kw.get("tol", 1e-5), random_state=0)
    fastnn_cls, sk_cls = (LogisticRegression, skl.LogisticRegression) if model == "logistic" else (Ridge, skl.Ridge)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (Ridge's sparse-intercept sag warning; tested above)
        f, s = fastnn_cls(**kw).fit(Xs, y, sample_weight=w), sk_cls(**kw).fit(Xs, y, sample_weight=w)
    _same(f, s, rtol=1e-12 if dtype == np.float64 else 1e-6)
    if model == "logistic":
        np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)


def test_ridge_saga_sparse_intercept_refused_like_sklearn(regression):
    X, Y, _ = regression
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    for cls in (Ridge, skl.Ridge):
        with pytest.raises(ValueError, match="solver='saga' does not support fitting the intercept on sparse data"):
            cls(solver="saga").fit(Xs, Y[:, 0])


def test_huge_sparse_fits_without_densifying(never_densify):
    # 100_000 x 1_000_000 with 3 non-zeros a row: dense it would be 800 GB; sag/saga touch each row's
    # non-zeros (and the weights once an epoch)
    n, p = 100_000, 1_000_000
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.uniform(0.1, 1.0, 3 * n), rng.integers(0, p, 3 * n), np.arange(0, 3 * n + 1, 3)),
                      shape=(n, p))
    y = (X[:, :p // 2].sum(axis=1).A1 > X[:, p // 2:].sum(axis=1).A1).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(solver="saga", max_iter=2, random_state=0).fit(X, y)
        reg = Ridge(solver="sag", fit_intercept=False, max_iter=2, random_state=0).fit(X, y.astype(float))
    assert clf.coef_.shape == (1, p) and np.isfinite(clf.coef_).all() and clf.n_iter_[0] == 2
    assert clf.score(X, y) > 0.8  # it learnt: each feature's sign decides
    assert reg.coef_.shape == (p,) and np.isfinite(reg.coef_).all() and list(reg.n_iter_) == [2]
