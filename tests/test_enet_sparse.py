"""fastnn.kernels.enet_cd_sparse (Lasso / ElasticNet on a sparse X): the reference against
scikit-learn's own sparse_enet_coordinate_descent, the C and Numba solvers against the
reference, the estimators against scikit-learn's sparse fits and fastnn's dense ones (X
never densified), and input validation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.linear_model._cd_fast import sparse_enet_coordinate_descent as sk_sparse_cd

from fastnn import kernels as K
from fastnn.estimators import ElasticNet, Lasso, _linear_base

CASES = {  # alpha, beta, positive, selection, centred, weighted, warm start
    "lasso": (4.0, 0.0, False, "cyclic", False, False, False),
    "lasso-centred": (4.0, 0.0, False, "cyclic", True, False, False),
    "enet-weighted-centred": (3.0, 0.7, False, "cyclic", True, True, False),
    "positive-random-centred": (3.0, 0.2, True, "random", True, False, False),
    "random-weighted": (5.0, 0.0, False, "random", False, True, False),
    "warm-centred-weighted": (2.0, 0.3, False, "cyclic", True, True, True),
    "ridge-only-centred": (0.0, 2.0, False, "cyclic", True, False, False),
}
TOL = {np.float64: 1e-12, np.float32: 5e-5}


def _backends():
    found = ["numpy"]
    for name in ("numba", "c"):
        try:
            K._solver_module(K._ENET_SPARSE_MODULES, name)
        except ValueError:
            continue
        found.append(name)
    return found


def _csc(n, p, dtype, seed, density=0.15):
    """A random CSC X with an all-zero column (3) and a column with one non-zero (5)."""
    X = sp.random(n, p, density=density, format="lil", random_state=seed) * 3.0
    X[:, 3] = 0.0
    X[:, 5] = 0.0
    X[7, 5] = 2.5
    return sp.csc_matrix(X, dtype=dtype)


def _problem(case, dtype, seed=0, n=90, p=40):
    alpha, beta, positive, selection, centred, weighted, warm = CASES[case]
    rng = np.random.default_rng(seed)
    X = _csc(n, p, dtype, seed)
    y = np.asarray(X @ rng.standard_normal(p)) + rng.standard_normal(n) + 1.0
    sw = rng.uniform(0.3, 2.0, n) if weighted else None
    if sw is not None:
        sw[::11] = 0.0  # zero weights are allowed (rows left out of the squared residual)
        sw *= n / sw.sum()
    x_mean = None
    if centred:  # the weighted column means, y centred: the estimators' intercept fit
        x_mean = np.asarray(X.T @ (np.ones(n) if sw is None else sw)).ravel() / (n if sw is None else sw.sum())
        y = y - np.average(y, weights=sw)
    w0 = np.where(rng.random(p) < 0.3, rng.standard_normal(p), 0.0) if warm else np.zeros(p)
    kw = dict(alpha=alpha, beta=beta, positive=positive, selection=selection, seed=12345, max_iter=500,
              tol=1e-8 if dtype == np.float64 else 1e-4)
    cast = (lambda a: None if a is None else np.asarray(a, dtype=dtype))
    return X, cast(y), cast(sw), cast(x_mean), cast(w0), kw


def _solve(backend, case, dtype):
    X, y, sw, x_mean, w, kw = _problem(case, dtype)
    out = K.enet_cd_sparse(w, X, y, X_mean=x_mean, sample_weight=sw, backend=backend, **kw)
    return w, out


class _Seed:
    """scikit-learn's solver draws its xorshift seed from rng.randint: this one returns `seed`."""

    def __init__(self, seed):
        self.seed = seed

    def randint(self, low, high):
        return self.seed


@pytest.mark.parametrize("case", list(CASES))
def test_reference_is_scikit_learns_sparse_solver(case):
    X, y, sw, x_mean, w0, kw = _problem(case, np.float64)
    w_sk = w0.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its alpha=0 warning
        _, gap_sk, tol_sk, it_sk = sk_sparse_cd(
            w_sk, kw["alpha"], kw["beta"], X.data, X.indices, X.indptr, y, sw,
            np.zeros(X.shape[1]) if x_mean is None else x_mean, kw["max_iter"], kw["tol"], _Seed(kw["seed"]),
            kw["selection"] == "random", kw["positive"], True)
    w, (gap, tol_s, it, ok) = _solve("numpy", case, np.float64)
    assert it == it_sk and ok
    np.testing.assert_allclose(w, w_sk, rtol=0, atol=1e-12 * max(1.0, np.abs(w_sk).max()))
    assert tol_s == pytest.approx(tol_sk, rel=1e-12)
    assert gap == pytest.approx(gap_sk, rel=1e-6, abs=1e-6 * tol_sk)  # (a gap near 0 is rounding)


@pytest.mark.parametrize("backend", _backends()[1:])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", list(CASES))
def test_native_solvers_match_reference(backend, dtype, case):
    w_ref, (gap_ref, tol_ref, it_ref, ok_ref) = _solve("numpy", case, dtype)
    w, (gap, tol_s, it, ok) = _solve(backend, case, dtype)
    scale = max(1.0, float(np.abs(w_ref).max()))
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=TOL[dtype] * scale)
    if dtype == np.float64:
        assert (it, ok) == (it_ref, ok_ref)
    else:  # float32 rounding (summation orders, the lazy centring) can move the stop by a sweep or two
        assert ok == ok_ref and abs(it - it_ref) <= max(2, it_ref // 50)
    assert tol_s == pytest.approx(tol_ref, rel=1e-5)
    assert ok and gap <= tol_s
    assert w[3] == 0.0  # the all-zero column is screened out / skipped


@pytest.mark.parametrize("backend", _backends())
def test_int64_indices_and_unsorted_rows_give_the_same_solve(backend):
    X, y, sw, x_mean, w, kw = _problem("lasso-centred", np.float64)
    expect = w.copy()
    K.enet_cd_sparse(expect, X, y, X_mean=x_mean, backend=backend, **kw)
    wide = X.copy()
    wide.indices, wide.indptr = wide.indices.astype(np.int64), wide.indptr.astype(np.int64)
    got = w.copy()
    K.enet_cd_sparse(got, wide, y, X_mean=x_mean, backend=backend, **kw)
    np.testing.assert_array_equal(got, expect)
    shuffled = X.copy()  # each column's rows in reverse order: the same matrix, other summation order
    for j in range(X.shape[1]):
        lo, hi = X.indptr[j], X.indptr[j + 1]
        shuffled.indices[lo:hi] = X.indices[lo:hi][::-1]
        shuffled.data[lo:hi] = X.data[lo:hi][::-1]
    shuffled.has_sorted_indices = False
    got = w.copy()
    K.enet_cd_sparse(got, shuffled, y, X_mean=x_mean, backend=backend, **kw)
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-12 * np.abs(expect).max())


@pytest.mark.parametrize("backend", _backends())
def test_a_checked_csc_gives_the_same_solve_and_is_refused_for_other_operands(backend):
    """kernels._checked_csc (liblinear's L1 checks X once for all its models) solves as X itself;
    a checked X still must match w's dtype and length, and is built only from a valid X."""
    X, y, sw, x_mean, w, kw = _problem("enet-weighted-centred", np.float64)
    expect, got = w.copy(), w.copy()
    out = K.enet_cd_sparse(expect, X, y, X_mean=x_mean, sample_weight=sw, backend=backend, **kw)
    assert K.enet_cd_sparse(got, K._checked_csc(X, np.float64), y, X_mean=x_mean, sample_weight=sw,
                            backend=backend, **kw) == out
    np.testing.assert_array_equal(got, expect)
    with pytest.raises(ValueError, match="checked"):
        K.enet_cd_sparse(w.astype(np.float32), K._checked_csc(X, np.float64), y.astype(np.float32), **kw)
    with pytest.raises(ValueError, match="checked"):
        K.enet_cd_sparse(np.zeros(w.size + 1), K._checked_csc(X, np.float64), y, **kw)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="X.data must be finite"):
        K._checked_csc(bad, np.float64)


@pytest.mark.parametrize("backend", _backends())
def test_a_checked_csc_column_subset_solves_as_the_subset_itself(backend):
    """kernels._checked_csc_columns (liblinear's L1 solves each model on a working set of
    columns) gives the columns scipy's indexing gives, empty and repeated edges included,
    and a solve on it equals one on the subset checked from scratch."""
    X, y, sw, x_mean, w, kw = _problem("enet-weighted-centred", np.float64)
    X = sp.csc_matrix(X)
    X.indices, X.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    checked = K._checked_csc(X, np.float64)
    for cols in (np.arange(X.shape[1]), np.array([0, 3, X.shape[1] - 1]), np.array([], dtype=np.int64)):
        sub = K._checked_csc_columns(checked, cols)
        ref = X[:, cols].tocsc()
        assert sub.shape == ref.shape
        np.testing.assert_array_equal(sub.indptr, ref.indptr)
        np.testing.assert_array_equal(sub.indices, ref.indices)
        np.testing.assert_array_equal(sub.data, ref.data)
    cols = np.array([1, 2, 5, 7])
    expect, got = w[cols].copy(), w[cols].copy()
    K.enet_cd_sparse(expect, X[:, cols].tocsc(), y, sample_weight=sw, backend=backend, **kw)
    K.enet_cd_sparse(got, K._checked_csc_columns(checked, cols), y, sample_weight=sw, backend=backend, **kw)
    np.testing.assert_array_equal(got, expect)


# ---------------------------------------------------------------- estimators


@pytest.fixture
def no_densify(monkeypatch):
    # any dense copy of a sparse X raises "dense copy would take ..."
    monkeypatch.setattr(_linear_base, "SPARSE_DENSIFY_MAX_BYTES", 0)


def _data(n=250, p=50, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.12, format="csr", random_state=seed, dtype=np.float64) * 3.0
    y = np.asarray(X @ rng.standard_normal(p)) + rng.standard_normal(n) + 2.0
    return X.astype(dtype), y, rng.uniform(0.2, 3.0, n)


def _pair(name, **kw):
    return getattr(skl, name)(**kw), {"Lasso": Lasso, "ElasticNet": ElasticNet}[name](**kw)


def _assert_fits_match(sk, fn, dtype):
    assert fn.coef_.dtype == sk.coef_.dtype == dtype
    if dtype == np.float64:
        assert fn.n_iter_ == sk.n_iter_
    else:  # float32 rounding can move the gap test by a sweep
        assert abs(fn.n_iter_ - sk.n_iter_) <= 1
    scale = np.abs(sk.coef_).max()
    # float32: scikit-learn adds sum(R) up once per column (its R_sum is n_features times a
    # rounding-level number), fastnn once -- 1e-5 apart with weights (see the next test)
    rel = 1e-12 if dtype == np.float64 else 3e-5
    np.testing.assert_allclose(fn.coef_, sk.coef_, rtol=0, atol=rel * scale)
    np.testing.assert_allclose(fn.intercept_, sk.intercept_, rtol=4 * rel, atol=rel * scale)
    gap_tol = 1e-5 if dtype == np.float64 else 0.5  # the gap is primal - dual: it keeps few digits
    np.testing.assert_allclose(fn.dual_gap_, sk.dual_gap_, rtol=gap_tol, atol=1e-12)
    assert np.array_equal(fn.coef_ == 0, sk.coef_ == 0) or dtype == np.float32


@pytest.mark.usefixtures("no_densify")
@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("name", ["Lasso", "ElasticNet"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("options", [{}, {"positive": True}, {"selection": "random", "random_state": 7}],
                         ids=["cyclic", "positive", "random"])
def test_sparse_fit_matches_sklearn(backend, name, fit_intercept, weighted, options):
    X, y, sw = _data()
    kw = dict(alpha=0.03, fit_intercept=fit_intercept, tol=1e-8, **options)
    if name == "ElasticNet":
        kw["l1_ratio"] = 0.6
    sk, fn = _pair(name, **kw)
    fn.set_params(backend=backend)
    sk.fit(X, y, sample_weight=sw if weighted else None)
    fn.fit(X, y, sample_weight=sw if weighted else None)
    _assert_fits_match(sk, fn, np.float64)
    np.testing.assert_allclose(fn.predict(X), sk.predict(X), rtol=1e-10)


@pytest.mark.usefixtures("no_densify")
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_array, sp.coo_matrix])
def test_float32_and_every_container_match_sklearn(container):
    X, y, sw = _data(dtype=np.float32)
    X = container(X)
    for weighted in (False, True):
        sk, fn = _pair("ElasticNet", alpha=0.03, l1_ratio=0.8)
        sk.fit(X, y, sample_weight=sw if weighted else None)
        fn.fit(X, y, sample_weight=sw if weighted else None)
        _assert_fits_match(sk, fn, np.float32)
        # and no less accurate than scikit-learn's float32 fit, measured against its float64 one
        exact = skl.ElasticNet(alpha=0.03, l1_ratio=0.8).fit(X.astype(np.float64), y,
                                                              sample_weight=sw if weighted else None)
        err = [np.abs(m.coef_ - exact.coef_).max() for m in (fn, sk)]
        assert err[0] <= 1.5 * err[1] + 1e-7 * np.abs(exact.coef_).max()


@pytest.mark.usefixtures("no_densify")
def test_multi_target_and_warm_start_match_sklearn():
    X, y, _ = _data()
    Y = np.column_stack([y, -2 * y + 1])
    sk, fn = _pair("Lasso", alpha=0.05, tol=1e-8, warm_start=True)
    for alpha in (0.05, 0.02):  # the second fit starts from the first's coef_
        sk.set_params(alpha=alpha).fit(X, Y)
        fn.set_params(alpha=alpha).fit(X, Y)
        assert fn.n_iter_ == sk.n_iter_
        np.testing.assert_allclose(fn.coef_, sk.coef_, rtol=0, atol=1e-12 * np.abs(sk.coef_).max())
        np.testing.assert_allclose(fn.intercept_, sk.intercept_, rtol=1e-12)
        np.testing.assert_allclose(fn.dual_gap_, sk.dual_gap_, rtol=1e-5)  # (primal - dual: cancellation)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_fit_equals_dense_fit(weighted):
    X, y, sw = _data(seed=3)
    w = sw if weighted else None
    sparse = ElasticNet(alpha=0.02, l1_ratio=0.7, tol=1e-12, max_iter=5000).fit(X, y, sample_weight=w)
    dense = ElasticNet(alpha=0.02, l1_ratio=0.7, tol=1e-12, max_iter=5000).fit(X.toarray(), y, sample_weight=w)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-9 * np.abs(dense.coef_).max())
    assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-9)
    assert np.array_equal(sparse.coef_ == 0, dense.coef_ == 0)


@pytest.mark.usefixtures("no_densify")
def test_huge_sparse_x_fits_without_densifying():
    # 100000 x 400000: 300 GiB dense; a few non-zeros in a few columns
    n, p = 100_000, 400_000
    rows = np.arange(0, n, 1000)
    X = sp.csr_matrix((np.ones(rows.size), (rows, rows % 7)), shape=(n, p))
    y = np.zeros(n)
    y[rows] = 3.0
    m = Lasso(alpha=1e-4).fit(X, y)
    assert m.coef_.shape == (p,) and np.count_nonzero(m.coef_) <= 7 and m.coef_[:7].sum() > 1.0


@pytest.mark.usefixtures("no_densify")
def test_not_converged_warns_like_sklearn():
    X, y, _ = _data()
    sk, fn = _pair("Lasso", alpha=1e-4, max_iter=2)
    with pytest.warns(Warning, match="Objective did not converge") as rec_sk:
        sk.fit(X, y)
    with pytest.warns(Warning, match="Objective did not converge") as rec_fn:
        fn.fit(X, y)
    assert rec_fn[0].category is rec_sk[0].category
    assert fn.n_iter_ == sk.n_iter_ == 2


# ---------------------------------------------------------------- validation


def _ok_args(dtype=np.float64):
    X = _csc(30, 8, dtype, 0, density=0.4)
    return np.zeros(8, dtype), X, np.ones(30, dtype)


def _doubled(X):
    """X's CSC structure with every stored value twice (as two entries of half the value):
    the same matrix, with duplicates."""
    X = sp.csc_matrix(X)
    return sp.csc_matrix((np.repeat(X.data / 2, 2), np.repeat(X.indices, 2), 2 * X.indptr), shape=X.shape)


def _mutated(**arrays):
    _, X, _ = _ok_args()
    X = X.copy()
    for name, fn in arrays.items():
        setattr(X, name, fn(getattr(X, name)))
    return X


@pytest.mark.parametrize("make, exc, match", [
    (lambda w, X, y: dict(X=X.toarray()), TypeError, "X must be a scipy.sparse CSC"),
    (lambda w, X, y: dict(X=X.tocsr()), TypeError, r"takes CSC .*X\.tocsc\(\)"),
    (lambda w, X, y: dict(X=X.astype(np.float32)), TypeError, "X.data has dtype float32"),
    (lambda w, X, y: dict(X=X[:, :5]), ValueError, r"X must have shape \(n_samples >= 1, 8\)"),
    (lambda w, X, y: dict(y=y[:-1]), ValueError, r"y must have shape \(30,\)"),
    (lambda w, X, y: dict(y=y.astype(np.float32)), TypeError, "y has dtype float32"),
    (lambda w, X, y: dict(X_mean=np.zeros(7)), ValueError, r"X_mean must have shape \(8,\)"),
    (lambda w, X, y: dict(sample_weight=np.ones(29)), ValueError, r"sample_weight must have shape \(30,\)"),
    (lambda w, X, y: dict(sample_weight=-np.ones(30)), ValueError, "sample_weight must be >= 0"),
    (lambda w, X, y: dict(y=np.full(30, np.nan)), ValueError, "y must be finite"),
    (lambda w, X, y: dict(w=w.astype(np.int64)), TypeError, "w must be float32 or float64"),
    (lambda w, X, y: dict(w=np.zeros((8, 1))), ValueError, "w must be 1-D"),
    (lambda w, X, y: dict(alpha=-1.0), ValueError, "alpha"),
    (lambda w, X, y: dict(selection="greedy"), ValueError, "selection"),
    (lambda w, X, y: dict(seed=2 ** 32), ValueError, "seed must be < 2"),
    (lambda w, X, y: dict(max_iter=0), ValueError, "max_iter"),
    (lambda w, X, y: dict(X=_mutated(indices=lambda a: a.astype(np.float64))), TypeError,
     "X.indices must be a 1-D int32 or int64"),
    (lambda w, X, y: dict(X=_mutated(indices=lambda a: np.where(np.arange(a.size) == 2, 30, a))), ValueError,
     r"X.indices must be row indices in \[0, 30\)"),
    (lambda w, X, y: dict(X=_mutated(indices=lambda a: np.where(np.arange(a.size) == 2, -1, a))), ValueError,
     "X.indices must be row indices"),
    (lambda w, X, y: dict(X=_mutated(indptr=lambda a: a[:-1])), ValueError, "X.indptr must have n_features"),
    (lambda w, X, y: dict(X=_mutated(indptr=lambda a: np.r_[a[:2], a[3], a[2], a[4:]])), ValueError,
     "X.indptr must be non-decreasing"),
    (lambda w, X, y: dict(X=_mutated(indptr=lambda a: a + 1)), ValueError, "X.indptr must run from 0"),
    (lambda w, X, y: dict(X=_mutated(data=lambda a: np.where(np.arange(a.size) == 0, np.inf, a))), ValueError,
     "X.data must be finite"),
    (lambda w, X, y: dict(X=_doubled(X)), ValueError, "duplicate entries"),
])
def test_bad_input_raises_naming_the_argument(make, exc, match):
    w, X, y = _ok_args()
    args = dict(w=w, X=X, y=y, alpha=0.1)
    args.update(make(w, X, y))
    with pytest.raises(exc, match=match):
        K.enet_cd_sparse(args.pop("w"), args.pop("X"), args.pop("y"), **args)


def test_duplicates_are_summed_by_the_estimator_on_a_copy():
    X, y, _ = _data()
    doubled = _doubled(X)
    nnz = doubled.nnz
    expect = Lasso(alpha=0.03).fit(X, y).coef_
    np.testing.assert_allclose(Lasso(alpha=0.03).fit(doubled, y).coef_, expect, rtol=0,
                               atol=1e-12 * np.abs(expect).max())
    assert doubled.nnz == nnz  # the caller's matrix keeps its duplicates
