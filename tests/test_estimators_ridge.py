"""Ridge's "sparse_cg" and "lsqr" against scikit-learn's, and sparse X kept sparse."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.exceptions import ConvergenceWarning

from fastnn.estimators import LinearRegression, Ridge, _linear_base, _ridge

CONTAINERS = {"dense": np.asarray, "csr": sp.csr_matrix, "csc": sp.csc_array, "coo": sp.coo_matrix}


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _data(n, p, dtype=np.float64, seed=0):
    """Sparse non-negative X (column means far from 0: the centring matters), two targets, weights."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.3, format="csr", random_state=seed) * 4.0
    Y = np.asarray(X @ rng.standard_normal((p, 2))) + [5.0, -3.0] + rng.standard_normal((n, 2))
    return X.toarray().astype(dtype), Y.astype(dtype), rng.uniform(0.5, 2.0, n)


def _same_n_iter(f, s, slack=0):
    """n_iter_ as scikit-learn's: None, or the iterations per target (to within slack) in the same dtype."""
    if s.n_iter_ is None:
        assert f.n_iter_ is None
    else:
        assert type(f.n_iter_) is type(s.n_iter_) and f.n_iter_.dtype == s.n_iter_.dtype
        assert f.n_iter_.shape == s.n_iter_.shape and np.all(np.abs(f.n_iter_ - s.n_iter_) <= slack)


def _same_fit(f, s, rel):
    assert f.coef_.shape == s.coef_.shape and f.coef_.dtype == s.coef_.dtype
    assert np.shape(f.intercept_) == np.shape(s.intercept_)
    assert _rel(f.coef_, s.coef_) < rel
    assert _rel(f.intercept_, s.intercept_) < rel if s.fit_intercept else f.intercept_ == s.intercept_ == 0.0
    assert f.solver_ == s.solver_


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("solver", ["sparse_cg", "lsqr"])
def test_ridge_iterative_solvers_match_sklearn(solver, container):
    # refused by name before; the same scipy solver on the same (implicitly centred,
    # row-weighted) operator: scikit-learn's iterates
    for shape in ((120, 15), (25, 60)):  # the normal equations, and the kernel form (sparse_cg)
        X, Y, sw = _data(*shape)
        Xc = CONTAINERS[container](X)
        for fit_intercept in (True, False):
            for w in (None, sw):
                for y, alpha in ((Y[:, 0], 0.5), (Y, [0.1, 10.0])):
                    kw = dict(alpha=alpha, solver=solver, fit_intercept=fit_intercept, tol=1e-10)
                    f = Ridge(**kw).fit(Xc, y, sample_weight=w)
                    s = skl.Ridge(**kw).fit(Xc, y, sample_weight=w)
                    _same_fit(f, s, 1e-9)
                    _same_n_iter(f, s, slack=1)  # (lsqr's stop at tol=1e-10 hangs on rounding)
                    np.testing.assert_allclose(f.predict(Xc), s.predict(Xc), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("container", ["dense", "csr"])
@pytest.mark.parametrize("solver", ["sparse_cg", "lsqr"])
def test_ridge_iterative_solvers_float32_like_sklearn(solver, container):
    X, Y, sw = _data(120, 15, np.float32)
    Xc = CONTAINERS[container](X)
    for w in (None, sw):
        f = Ridge(alpha=[0.1, 10.0], solver=solver).fit(Xc, Y, sample_weight=w)
        s = skl.Ridge(alpha=[0.1, 10.0], solver=solver).fit(Xc, Y, sample_weight=w)
        assert f.coef_.dtype == np.float32 and f.predict(Xc).dtype == s.predict(Xc).dtype
        _same_fit(f, s, 1e-5)  # both in float32


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_ridge_dense_products_on_kernels_match_sklearn(backend, monkeypatch):
    # a dense X above _KERNEL_PRODUCTS_MIN_BYTES takes its products from kernels.gemm:
    # every X here does with the threshold at -1 (float64, and float32 with lsqr's float64 vectors)
    monkeypatch.setattr(_ridge, "_KERNEL_PRODUCTS_MIN_BYTES", -1)
    for dtype, rel in ((np.float64, 1e-9), (np.float32, 1e-5)):
        X, Y, sw = _data(150, 40, dtype)
        for solver in ("sparse_cg", "lsqr"):
            f = Ridge(alpha=[0.1, 3.0], solver=solver, tol=1e-8, backend=backend).fit(X, Y, sample_weight=sw)
            s = skl.Ridge(alpha=[0.1, 3.0], solver=solver, tol=1e-8).fit(X, Y, sample_weight=sw)
            _same_fit(f, s, rel)



@pytest.mark.parametrize("threads, kernel_products", [(1, False), (2, True)])
def test_ridge_dense_products_on_several_threads_come_from_the_kernels(threads, kernel_products, monkeypatch):
    # on several threads a dense X above _KERNEL_PRODUCTS_MIN_BYTES_THREADED takes its products from
    # kernels.gemm whatever its shape; on one thread only above _KERNEL_PRODUCTS_MIN_BYTES
    import fastnn

    calls = []
    real = _ridge.K.gemm
    monkeypatch.setattr(_ridge.K, "gemm", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(_ridge, "_KERNEL_PRODUCTS_MIN_BYTES_THREADED", -1)
    X, Y, sw = _data(150, 20)  # 20 columns: NumPy's products on one thread at any size
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(threads)
    try:
        for solver in ("sparse_cg", "lsqr"):
            f = Ridge(alpha=[0.1, 3.0], solver=solver, tol=1e-8).fit(X, Y, sample_weight=sw)
            _same_fit(f, skl.Ridge(alpha=[0.1, 3.0], solver=solver, tol=1e-8).fit(X, Y, sample_weight=sw), 1e-9)
    finally:
        fastnn.set_num_threads(before)
    assert bool(calls) == kernel_products


def test_iterative_solvers_run_on_one_blas_thread_and_restore_it(monkeypatch):
    """LSQR's and cg's vector work between fastnn's threaded products runs on one BLAS thread (a
    woken multi-threaded pool kept spinning into the next product: 20000 x 200 lsqr on two
    threads took 64 ms instead of 14); the user's setting is back after."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    seen = []
    for mod, name in ((_linear_base.spla, "lsqr"), (_ridge, "_sparse_linalg_cg")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _real=real, **k: seen.append(blas_threads()) or _real(*a, **k))
    before = blas_threads()
    X, Y, sw = _data(100, 20)
    Ridge(solver="lsqr").fit(X, Y)
    Ridge(solver="sparse_cg").fit(X, Y)
    LinearRegression().fit(sp.csr_matrix(X), Y)  # LSQR on a sparse X
    assert seen == [[1]] * 6  # one call per target
    assert blas_threads() == before


def test_ridge_sparse_x_is_never_densified(monkeypatch):
    # any dense copy of a sparse X now raises; before, "auto" densified it (and a big one was refused)
    monkeypatch.setattr(_linear_base, "SPARSE_DENSIFY_MAX_BYTES", 0)
    X, Y, sw = _data(100, 30)
    for container in ("csr", "csc", "coo"):
        Xs = CONTAINERS[container](X)
        for solver in ("auto", "sparse_cg", "lsqr"):
            f = Ridge(solver=solver).fit(Xs, Y, sample_weight=sw)
            assert f.solver_ == ("sparse_cg" if solver == "auto" else solver)
            assert f.predict(Xs).shape == Y.shape and f.score(Xs, Y) > 0.5
    with pytest.raises(ValueError, match="dense copy would take"):
        Ridge(solver="cholesky").fit(sp.csr_matrix(X), Y)  # the other solvers densify, as before
    # predict takes sparse products for every linear regressor
    lin = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(lin.predict(sp.csr_matrix(X)), X @ lin.coef_.T + lin.intercept_, rtol=1e-12)


def test_ridge_auto_solver_like_sklearn():
    # scikit-learn's "auto": lbfgs if positive, else cholesky on dense X and sparse_cg on
    # sparse X (with or without an intercept); fastnn's "auto" was cholesky on densified X
    X, Y, _ = _data(60, 8)
    for Xc in (X, sp.csr_matrix(X)):
        for kw in ({}, {"fit_intercept": False}, {"positive": True}):
            f, s = Ridge(**kw).fit(Xc, Y[:, 0]), skl.Ridge(**kw).fit(Xc, Y[:, 0])
            assert f.solver_ == s.solver_, kw
            assert _rel(f.coef_, s.coef_) < 1e-6


def test_ridge_iterative_solvers_iterations_and_max_iter():
    X, Y, _ = _data(120, 15)
    for max_iter in (1, 2, 3):  # scikit-learn's test_n_iter (lsqr)
        for solver in ("sparse_cg", "lsqr"):
            with warnings.catch_warnings():
                # silent at max_iter, as scikit-learn's (fastnn warned)
                warnings.simplefilter("error")
                f = Ridge(solver=solver, max_iter=max_iter, tol=1e-12).fit(X, Y)
            s = skl.Ridge(solver=solver, max_iter=max_iter, tol=1e-12).fit(X, Y)
            _same_fit(f, s, 1e-9)  # stopped at the same iterate
            _same_n_iter(f, s)
            if solver == "lsqr":
                np.testing.assert_array_equal(f.n_iter_, [max_iter, max_iter])
    # the kernel form (wide X) runs to cg's own limit whatever max_iter says, as scikit-learn's
    # (fastnn stopped at max_iter: another coef_ than scikit-learn's)
    Xw, Yw, _ = _data(25, 60)
    f = Ridge(solver="sparse_cg", max_iter=2, tol=1e-10).fit(Xw, Yw[:, 0])
    _same_fit(f, skl.Ridge(solver="sparse_cg", max_iter=2, tol=1e-10).fit(Xw, Yw[:, 0]), 1e-9)
    assert _rel(f.coef_, Ridge(solver="cholesky").fit(Xw, Yw[:, 0]).coef_) < 1e-6  # converged


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_ridge_n_iter_and_attributes_like_sklearn(container):
    # n_iter_ was 1 (direct solvers) or an array (sparse_cg, lbfgs) where scikit-learn's is None
    X, Y, sw = _data(60, 8)
    Xc = CONTAINERS[container](X)
    solvers = ["auto", "cholesky", "svd", "lsqr", "sparse_cg", "sag", "saga"]
    if container == "csr":  # (scikit-learn refuses the others on sparse X)
        solvers = ["auto", "lsqr", "sparse_cg", "sag", "saga"]
    configs = [dict(solver=s) for s in solvers] + [dict(positive=True), dict(solver="lbfgs", positive=True)]
    for kw in configs:
        for fit_intercept in (True, False):
            if container == "csr" and fit_intercept and kw.get("solver") == "saga":
                continue  # refused by both
            for y in (Y[:, 0], Y):
                kw2 = dict(kw, fit_intercept=fit_intercept, random_state=0, max_iter=50)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)  # (sag at max_iter=50: both warn)
                    f, s = Ridge(**kw2).fit(Xc, y, sample_weight=sw), skl.Ridge(**kw2).fit(Xc, y, sample_weight=sw)
                assert f.solver_ == s.solver_, kw2
                _same_n_iter(f, s)
                assert set(vars(f)) - {"backend"} - {k for k in vars(f) if k.startswith("_")} == \
                    {k for k in vars(s) if not k.startswith("_")}, kw2


def test_ridge_sag_on_sparse_x_with_an_intercept_is_silent_sparse_cg_like_sklearn():
    # scikit-learn fits "sag" with an intercept on sparse X as "sparse_cg" (unless max_iter=None and
    # tol > 1e-4), silently; fastnn did too, but warned from its sparse_cg at max_iter
    X, Y, _ = _data(120, 15)
    Xs = sp.csr_matrix(X)
    for max_iter in (None, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            f = Ridge(solver="sag", max_iter=max_iter).fit(Xs, Y[:, 0])
        s = skl.Ridge(solver="sag", max_iter=max_iter).fit(Xs, Y[:, 0])
        assert f.solver_ == s.solver_ == "sparse_cg" and f.n_iter_ is s.n_iter_ is None
        _same_fit(f, s, 1e-9)
