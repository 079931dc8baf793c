"""fastnn's linear models against scikit-learn's counterparts (same objectives, same optima)."""
from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from fastnn.estimators import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge, SoftmaxRegression


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


@pytest.fixture(scope="module")
def weights(diabetes):
    return np.random.RandomState(0).rand(len(diabetes[1])) + 0.5


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("shape", [(400, 40), (400, 20), (30, 40)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_normal_equations_on_kernels_match_numpy_and_sklearn(backend, shape, dtype, monkeypatch):
    """X^T X and X^T Y from kernels.dense_sandwich / gemm on the C backend for X with at least as
    many rows as columns and GRAM_KERNEL_MIN_COLUMNS of them, NumPy's otherwise: the same sums to
    rounding, an exactly symmetric Gram, and LinearRegression / Ridge fits that are scikit-learn's."""
    from fastnn.estimators import _linear_base

    calls = []
    real = _linear_base.K.dense_sandwich
    monkeypatch.setattr(_linear_base.K, "dense_sandwich", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(7)
    X = (rng.standard_normal(shape) + rng.uniform(-2, 2, shape[1])).astype(dtype)
    Y = (X @ rng.standard_normal((shape[1], 2)) + rng.standard_normal((shape[0], 2))).astype(dtype)
    G, XtY = _linear_base._normal_equations(X, Y, backend)
    kernels = backend == "c" and shape[1] >= _linear_base.GRAM_KERNEL_MIN_COLUMNS and shape[0] >= shape[1]
    assert len(calls) == kernels
    assert G.dtype == XtY.dtype == dtype and np.array_equal(G, G.T)
    rel = 1e-13 if dtype == np.float64 else 1e-5
    assert _rel(G, X.astype(np.float64).T @ X) < rel and _rel(XtY, X.astype(np.float64).T @ Y) < rel
    w = rng.uniform(0.5, 2.0, shape[0])
    # float32: the intercept y_mean - x_mean . w cancels (1.4e-4 seen from either library's float32 steps)
    rel, rel_b = (1e-12, 1e-12) if dtype == np.float64 else (1e-5, 5e-4)
    for est, ref in ((LinearRegression(backend=backend), skl.LinearRegression()),
                     (Ridge(solver="cholesky", backend=backend), skl.Ridge(solver="cholesky"))):
        f, s = est.fit(X, Y, sample_weight=w), ref.fit(X, Y, sample_weight=w)
        assert f.coef_.dtype == s.coef_.dtype and _rel(f.coef_, s.coef_) < rel
        assert _rel(f.intercept_, s.intercept_) < rel_b


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_linear_regression_matches_sklearn(diabetes, weights, fit_intercept, weighted):
    X, y = diabetes
    kw = {"sample_weight": weights} if weighted else {}
    f = LinearRegression(fit_intercept=fit_intercept).fit(X, y, **kw)
    s = skl.LinearRegression(fit_intercept=fit_intercept).fit(X, y, **kw)
    assert _rel(f.coef_, s.coef_) < 1e-10
    assert abs(f.intercept_ - s.intercept_) <= 1e-10 * max(1.0, abs(s.intercept_))
    np.testing.assert_allclose(f.predict(X), s.predict(X), rtol=1e-10)


@pytest.mark.parametrize("case", ["tall", "ill-conditioned", "rank-deficient", "wide"])
def test_linear_regression_solver_paths_match_lstsq(case, monkeypatch):
    """Tall well-conditioned X runs the normal equations, the rest scipy's lstsq:
    either way coef_, rank_ and singular_ are scikit-learn's."""
    from fastnn.estimators import _linear_regression as lin

    rng = np.random.default_rng(5)
    X = rng.standard_normal({"wide": (30, 60)}.get(case, (400, 25)))
    if case == "ill-conditioned":
        X[:, 1] = X[:, 0] + 1e-6 * X[:, 1]  # cond(X^T X) ~ 1e13
    if case == "rank-deficient":
        X[:, 2] = X[:, 0] - X[:, 1]
    y = X @ rng.standard_normal(X.shape[1]) + rng.standard_normal(X.shape[0])
    used, real = [], lin._lstsq_normal_equations

    def spy(*args):
        result = real(*args)
        used.append(result is not None)
        return result

    monkeypatch.setattr(lin, "_lstsq_normal_equations", spy)
    f, s = LinearRegression().fit(X, y), skl.LinearRegression().fit(X, y)
    assert used == [case == "tall"]
    assert f.rank_ == s.rank_
    np.testing.assert_allclose(f.singular_, s.singular_, rtol=1e-10, atol=1e-12 * s.singular_.max())
    assert _rel(f.coef_, s.coef_) < (1e-12 if case != "ill-conditioned" else 1e-6)
    np.testing.assert_allclose(f.predict(X), s.predict(X), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("solver", ["lstsq", "gd"])
def test_linear_regression_refuses_negative_sample_weight(diabetes, solver):
    # scikit-learn's LinearRegression refuses negative weights; fastnn took the square
    # root of them (RuntimeWarning) and failed later on NaNs with another message
    X, y = diabetes
    sw = np.ones(len(y))
    sw[0] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        skl.LinearRegression().fit(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
            LinearRegression(solver=solver).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("make", [Ridge, Lasso, ElasticNet])
def test_negative_sample_weight_refused(diabetes, make):
    # weighted least squares scales rows by sqrt(sw): a negative weight made NaNs, and
    # Lasso / ElasticNet returned coef_ = NaN without an error (scikit-learn raises
    # "non-finite parameter values" there, or fits on NaNs); Ridge failed in LAPACK
    X, y = diabetes
    sw = np.ones(len(y))
    sw[0] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
            make(alpha=0.1).fit(X[:, :1], y, sample_weight=sw)


def test_enet_ignores_a_scalar_sample_weight_like_sklearn(diabetes):
    # scikit-learn's ElasticNet ignores a number for sample_weight (any constant weight
    # is rescaled to ones); fastnn raised on 0 ("at least one non-zero number")
    X, y = diabetes
    ref = Lasso(alpha=0.1).fit(X, y)
    for w in (0, 2.5):
        f, s = Lasso(alpha=0.1).fit(X, y, sample_weight=w), skl.Lasso(alpha=0.1).fit(X, y, sample_weight=w)
        np.testing.assert_array_equal(f.coef_, ref.coef_)
        assert _rel(f.coef_, s.coef_) < 1e-12


def test_linear_regression_multi_output_positive_and_gd():
    X, Y = make_regression(120, 6, n_targets=3, noise=1.0, random_state=0)
    f, s = LinearRegression().fit(X, Y), skl.LinearRegression().fit(X, Y)
    assert f.coef_.shape == s.coef_.shape == (3, 6) and _rel(f.coef_, s.coef_) < 1e-10
    np.testing.assert_allclose(f.intercept_, s.intercept_, atol=1e-9)
    fp, sp_ = LinearRegression(positive=True).fit(X, Y[:, 0]), skl.LinearRegression(positive=True).fit(X, Y[:, 0])
    assert _rel(fp.coef_, sp_.coef_) < 1e-8 and np.all(fp.coef_ >= 0)
    gd = LinearRegression(solver="gd", tol=1e-12, max_iter=50000).fit(X, Y)
    assert _rel(gd.coef_, s.coef_) < 1e-6 and gd.n_iter_ > 1


@pytest.mark.parametrize("solver", ["auto", "cholesky", "svd", "gd"])
def test_ridge_matches_sklearn(diabetes, weights, solver):
    X, y = diabetes
    for kw in ({}, {"sample_weight": weights}):
        f = Ridge(alpha=0.3, solver=solver, tol=1e-10, max_iter=100000).fit(X, y, **kw)
        s = skl.Ridge(alpha=0.3).fit(X, y, **kw)
        assert _rel(f.coef_, s.coef_) < (1e-6 if solver == "gd" else 1e-10), kw
        assert abs(f.intercept_ - s.intercept_) < 1e-6 * abs(s.intercept_)


@pytest.mark.parametrize("solver", ["auto", "svd"])
def test_ridge_float32_like_sklearn(diabetes, weights, solver):
    X, y = diabetes
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    for kw in ({}, {"sample_weight": weights}):
        f = Ridge(alpha=0.3, solver=solver).fit(X32, y32, **kw)
        s = skl.Ridge(alpha=0.3, solver="cholesky" if solver == "auto" else solver).fit(X32, y32, **kw)
        assert f.coef_.dtype == s.coef_.dtype == np.float32
        assert _rel(f.coef_, s.coef_) < 1e-4, kw  # both solved in float32


def test_ridge_svd_float32_with_unequal_scales_like_sklearn():
    # columns scaled 1e-3 .. 1e3: a float32 SVD has singular values accurate only to
    # eps32 * s_max, and its coef_ was 4e-3 off; scikit-learn's NumPy SVD computes in float64
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((40, 8)) * np.logspace(-3, 3, 8)).astype(np.float32)
    y = rng.standard_normal(40)
    f, s = Ridge(solver="svd").fit(X, y), skl.Ridge(solver="svd").fit(X, y)
    assert f.coef_.dtype == s.coef_.dtype == np.float32
    assert _rel(f.coef_, s.coef_) < 1e-5


@pytest.mark.parametrize("solver", ["auto", "cholesky", "svd"])
def test_ridge_fitted_solver_like_sklearn(diabetes, solver):
    # scikit-learn sets solver_, the solver used; fastnn had none
    X, y = diabetes
    f, s = Ridge(solver=solver).fit(X, y), skl.Ridge(solver=solver).fit(X, y)
    assert f.solver_ == s.solver_
    assert Ridge(solver="gd").fit(X, y).solver_ == "gd"


def test_ridge_per_target_alpha():
    X, Y = make_regression(80, 5, n_targets=2, random_state=1)
    f = Ridge(alpha=np.array([0.1, 10.0])).fit(X, Y)
    s = skl.Ridge(alpha=np.array([0.1, 10.0])).fit(X, Y)
    assert _rel(f.coef_, s.coef_) < 1e-10
    # too few alphas: scikit-learn's message (its own tests match it), then what it means
    with pytest.raises(ValueError, match=r"^Number of targets and number of penalties do not correspond: 3 != 2 "
                                         r"\(alpha must be a scalar or have one value per target\)"):
        Ridge(alpha=[1.0, 2.0, 3.0]).fit(X, Y)


def test_ridge_svd_unregularised_on_rank_deficient_x():
    # A repeated column leaves a singular value at rounding level; with alpha = 0 its
    # 1/s made coefficients of 1e17 (residual 43 against 0.75) until it was cut off
    # below 1e-15 as scikit-learn and scipy's pinv do (small-scale X: that one is
    # ~1e-18 here; the cut-off is absolute, as theirs).
    X, y = make_regression(85, 6, noise=1.0, random_state=0)
    X[:, 1] = X[:, 0]
    X *= 0.01
    f = Ridge(alpha=0.0, solver="svd", fit_intercept=False).fit(X, y)
    s = skl.Ridge(alpha=0.0, solver="svd", fit_intercept=False).fit(X, y)
    assert _rel(f.coef_, s.coef_) < 1e-8
    assert f.coef_[0] == pytest.approx(f.coef_[1])  # the minimum-norm split of the repeated column


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_cholesky_on_wide_x_solves_the_dual_like_sklearn(fit_intercept):
    # more features than samples: X^T X + alpha I (40 x 40, rank 5) has condition
    # number ~1/alpha, and solving it lost 4 digits at alpha=1e-10 (rel 2e-4);
    # scikit-learn solves the 5 x 5 kernel system X X^T + alpha I instead
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((5, 40)), rng.standard_normal((5, 2))
    sw = rng.uniform(0.5, 2.0, 5)
    for alpha in (1e-10, np.array([1e-8, 1.0])):
        f = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y, sample_weight=sw)
        s = skl.Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y, sample_weight=sw)
        assert _rel(f.coef_, s.coef_) < 1e-10
        assert f.solver_ == s.solver_ == "cholesky"


def test_ridge_singular_cholesky_falls_back_like_sklearn():
    # alpha=0 and a singular system: scikit-learn warns and takes the least-squares
    # solution of the dual (wide X), or solves by SVD (solver_ "svd"); fastnn took a
    # least-squares solution of the normal equations without a word
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((4, 8)), rng.standard_normal(4)
    X[3] = 0.0  # an exactly singular X X^T
    with pytest.warns(UserWarning, match="Singular matrix in solving dual problem"):
        f = Ridge(alpha=0.0, fit_intercept=False).fit(X, y)
    with pytest.warns(UserWarning, match="Singular matrix in solving dual problem"):
        s = skl.Ridge(alpha=0.0, fit_intercept=False).fit(X, y)
    assert _rel(f.coef_, s.coef_) < 1e-12
    X = rng.standard_normal((20, 3))
    X[:, 2] = 0.0  # exactly singular normal equations
    y = X @ [1.0, 2.0, 0.0]
    f, s = Ridge(alpha=0.0).fit(X, y), skl.Ridge(alpha=0.0).fit(X, y)
    assert f.solver_ == s.solver_ == "svd"
    assert _rel(f.coef_, s.coef_) < 1e-12


def _same_lasso(f, s, rel=1e-10):
    """The same solver run: coefficients, zeros, intercept, sweeps and duality gap."""
    assert _rel(f.coef_, s.coef_) < rel
    np.testing.assert_array_equal(f.coef_ == 0, s.coef_ == 0)
    np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=rel, atol=1e-12)
    assert f.n_iter_ == s.n_iter_
    # the gap is primal - dual: a difference of large terms, so only its leading digits agree
    np.testing.assert_allclose(f.dual_gap_, s.dual_gap_, rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("tol", [1e-4, 1e-10])
def test_lasso_matches_sklearn(diabetes, weights, alpha, tol):
    X, y = diabetes
    for kw in ({}, {"sample_weight": weights}):
        f = Lasso(alpha=alpha, tol=tol, max_iter=200000).fit(X, y, **kw)
        s = skl.Lasso(alpha=alpha, tol=tol, max_iter=200000).fit(X, y, **kw)
        _same_lasso(f, s)


@pytest.mark.parametrize("backend", ["numpy", "numba", "c"])
@pytest.mark.parametrize("params", [
    dict(alpha=0.5, positive=True),
    dict(alpha=0.2, selection="random", random_state=3),
    dict(alpha=0.05, fit_intercept=False, max_iter=5),  # stops on max_iter: the warning and the gap
])
def test_lasso_options_match_sklearn(backend, params):
    X, y = make_regression(150, 30, n_informative=8, noise=5.0, random_state=2)
    X[:, 4] = 0.0  # an all-zero column: screened out at the start
    with warnings.catch_warnings(record=True) as fw:
        warnings.simplefilter("always", ConvergenceWarning)
        f = Lasso(backend=backend, tol=1e-8, **params).fit(X, y)
    with warnings.catch_warnings(record=True) as sw:
        warnings.simplefilter("always", ConvergenceWarning)
        s = skl.Lasso(tol=1e-8, **params).fit(X, y)
    assert [str(w.message)[:40] for w in fw] == [str(w.message)[:40] for w in sw]
    _same_lasso(f, s, rel=1e-9)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.2, 0.7, 1.0])
def test_elastic_net_matches_sklearn(diabetes, weights, l1_ratio):
    X, y = diabetes
    for kw in ({}, {"sample_weight": weights}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # l1_ratio=0 at the default tol
            f = ElasticNet(alpha=0.01, l1_ratio=l1_ratio).fit(X, y, **kw)
            s = skl.ElasticNet(alpha=0.01, l1_ratio=l1_ratio).fit(X, y, **kw)
        _same_lasso(f, s)
    assert "l1_ratio" not in Lasso().get_params() and Lasso().l1_ratio == 1.0


def test_lasso_float32_is_solved_in_float32_like_sklearn():
    X, y = make_regression(300, 20, n_informative=6, noise=2.0, random_state=4)
    X, y = X.astype(np.float32), y.astype(np.float32)
    f, s = Lasso(alpha=0.5).fit(X, y), skl.Lasso(alpha=0.5).fit(X, y)
    assert f.coef_.dtype == s.coef_.dtype == np.float32
    assert _rel(f.coef_, s.coef_) < 1e-5  # float32 rounding: the dots' summation order differs
    assert abs(f.n_iter_ - s.n_iter_) <= 1


def test_lasso_multi_output_and_warm_start():
    X, Y = make_regression(100, 12, n_targets=3, noise=1.0, random_state=0)
    f, s = Lasso(alpha=0.3).fit(X, Y), skl.Lasso(alpha=0.3).fit(X, Y)
    assert f.coef_.shape == (3, 12)
    _same_lasso(f, s)
    f.set_params(alpha=0.1, warm_start=True).fit(X, Y)
    s.set_params(alpha=0.1, warm_start=True).fit(X, Y)
    _same_lasso(f, s)
    # scikit-learn's enet_path refuses positive with several targets, but the
    # estimators solve one target at a time and accept it
    f, s = Lasso(alpha=0.3, positive=True).fit(X, Y), skl.Lasso(alpha=0.3, positive=True).fit(X, Y)
    assert (f.coef_ >= 0).all()
    _same_lasso(f, s)


def test_lasso_warm_start_shape_change_raises():
    # other features or targets than the fit to start from: fastnn restarted from zeros
    # without a word (or, with as many coefficients in another shape, from a scrambled
    # coef_); scikit-learn fails there too, on the features with a broadcasting error
    X, Y = make_regression(30, 4, n_targets=2, random_state=0)
    with pytest.raises(ValueError):
        skl.Lasso(warm_start=True).fit(X, Y[:, 0]).fit(X[:, :3], Y[:, 0])
    y = Y[:, 0]
    for first, then in (((X, y), (X[:, :3], y)), ((X, y), (X, Y)),
                        ((X, Y), (X[:, :2], np.c_[Y, Y])),  # 8 coefficients both times
                        ):
        with pytest.raises(ValueError, match="warm_start"):
            Lasso(warm_start=True).fit(*first).fit(*then)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fitted_attribute_types_like_sklearn(diabetes, dtype):
    # dual_gap_ was a Python float (a float64 array for several targets) where
    # scikit-learn's is in X's dtype; LogisticRegression's n_iter_ int64, not int32
    X, y = diabetes[0].astype(dtype), diabetes[1]
    for Y in (y, np.c_[y, y]):
        f, s = Lasso(alpha=0.1).fit(X, Y), skl.Lasso(alpha=0.1).fit(X, Y)
        assert type(f.dual_gap_) is type(s.dual_gap_) and f.dual_gap_.dtype == s.dual_gap_.dtype
    yc = (y > np.median(y)).astype(int)
    for Yc in (yc, yc + (y > 200)):
        f, s = LogisticRegression().fit(X[:, :3], Yc), skl.LogisticRegression().fit(X[:, :3], Yc)
        assert f.n_iter_.dtype == s.n_iter_.dtype and f.n_iter_.shape == s.n_iter_.shape


def test_ridge_alpha_array_like_like_sklearn():
    # scikit-learn takes any array-like per-target alpha; fastnn refused a list
    X, Y = make_regression(40, 5, n_targets=2, random_state=1)
    f, s = Ridge(alpha=[0.1, 10.0]).fit(X, Y), skl.Ridge(alpha=[0.1, 10.0]).fit(X, Y)
    assert _rel(f.coef_, s.coef_) < 1e-10


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge", "Lasso", "ElasticNet"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_float32_data_with_float64_targets(name, fit_intercept):
    # Without an intercept the "centring" means were float64 zeros, which promoted
    # float32 X: Lasso and ElasticNet then stopped with a dtype TypeError.
    X, y = make_regression(60, 5, noise=1.0, random_state=0)
    X = X.astype(np.float32)
    ours = {"LinearRegression": LinearRegression, "Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet}
    f = ours[name](fit_intercept=fit_intercept).fit(X, y)
    s = getattr(skl, name)(fit_intercept=fit_intercept).fit(X, y)
    assert f.coef_.dtype == s.coef_.dtype == np.float32
    assert type(f.intercept_) is type(s.intercept_)  # np.float32 with an intercept, 0.0 without
    assert _rel(f.coef_, s.coef_) < 1e-5


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge", "Lasso", "ElasticNet"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_column_target_shapes_like_sklearn(name, fit_intercept):
    # y of shape (n, 1) (e.g. df[["target"]]): scikit-learn's Ridge / Lasso / ElasticNet
    # return a 1-D coef_ and 1-D predictions (intercept_ (1,)); LinearRegression keeps
    # coef_ (1, n_features). fastnn gave all of them (1, n_features) and (n, 1) predictions.
    X, y = make_regression(60, 5, noise=1.0, random_state=0)
    Y = y.reshape(-1, 1)
    ours = {"LinearRegression": LinearRegression, "Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet}
    f = ours[name](fit_intercept=fit_intercept).fit(X, Y)
    s = getattr(skl, name)(fit_intercept=fit_intercept).fit(X, Y)
    assert f.coef_.shape == s.coef_.shape
    assert np.shape(f.intercept_) == np.shape(s.intercept_)
    assert f.predict(X).shape == s.predict(X).shape
    assert _rel(f.coef_, s.coef_) < 1e-6
    if name in ("Lasso", "ElasticNet"):
        assert np.ndim(f.n_iter_) == np.ndim(s.n_iter_) == 0 and np.ndim(f.dual_gap_) == np.ndim(s.dual_gap_) == 0


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge", "Lasso", "ElasticNet", "LogisticRegression"])
def test_prediction_dtypes_like_sklearn(name):
    # float32 X: scikit-learn fits in float32 and predicts float32 (float64 for float64 X);
    # fastnn returned float64 predictions / probabilities whatever the input
    X, y = make_regression(60, 5, noise=1.0, random_state=0)
    if name == "LogisticRegression":
        y = (y > 0).astype(int)
    ours = {"LinearRegression": LinearRegression, "Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet,
            "LogisticRegression": LogisticRegression}
    methods = ["predict"] + (["predict_proba", "predict_log_proba", "decision_function"]
                             if name == "LogisticRegression" else [])
    for fit_dtype in (np.float32, np.float64):
        f = ours[name]().fit(X.astype(fit_dtype), y)
        s = getattr(skl, name)().fit(X.astype(fit_dtype), y)
        for pred_dtype in (np.float32, np.float64):
            for m in methods:
                a, b = getattr(f, m)(X.astype(pred_dtype)), getattr(s, m)(X.astype(pred_dtype))
                assert a.dtype == b.dtype, (m, fit_dtype, pred_dtype)


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge", "Lasso", "ElasticNet"])
def test_sparse_target_error_like_sklearn(name):
    # a sparse y: scikit-learn raises "TypeError: Sparse data was passed, but dense data is
    # required"; fastnn failed in np.asarray with "ValueError: setting an array element ..."
    X, y = make_regression(30, 4, random_state=0)
    Y = sp.csr_matrix(y.reshape(-1, 1))
    ours = {"LinearRegression": LinearRegression, "Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet}
    for make in (ours[name], getattr(skl, name)):
        with pytest.raises(TypeError, match="Sparse data was passed, but dense data is required"):
            make().fit(X, Y)


@pytest.mark.parametrize("C", [0.1, 1.0, 100.0])
def test_logistic_binary_matches_sklearn(C):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    f = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(X, y)
    s = skl.LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(X, y)
    assert f.coef_.shape == s.coef_.shape == (1, X.shape[1])
    # weak regularisation (C=100) leaves a flat optimum: both L-BFGS runs stop on ftol ~1e-5 apart
    tol = 1e-6 if C <= 1 else 1e-4
    assert _rel(f.coef_, s.coef_) < tol and _rel(f.intercept_, s.intercept_) < tol
    np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), atol=10 * tol)
    np.testing.assert_allclose(f.decision_function(X), s.decision_function(X), rtol=10 * tol, atol=1e-7)
    # default tolerance: the same L-BFGS-B options give the very same iterates
    f0, s0 = LogisticRegression(C=C).fit(X, y), skl.LogisticRegression(C=C).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert _rel(f0.coef_, s0.coef_) < 1e-6


def test_logistic_multinomial_weights_and_class_weight():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.random.RandomState(1).rand(len(y)) + 0.5
    for kw, ckw in (({}, {}), ({"sample_weight": sw}, {}), ({}, {"class_weight": "balanced"})):
        f = LogisticRegression(tol=1e-10, max_iter=10000, **ckw).fit(X, y, **kw)
        s = skl.LogisticRegression(tol=1e-10, max_iter=10000, **ckw).fit(X, y, **kw)
        assert f.coef_.shape == (3, 4)
        assert _rel(f.coef_, s.coef_) < 1e-5, (kw, ckw)
        np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), atol=1e-6)
    soft = SoftmaxRegression(tol=1e-10, max_iter=10000).fit(X, y)
    assert _rel(soft.coef_, skl.LogisticRegression(tol=1e-10, max_iter=10000).fit(X, y).coef_) < 1e-5


@pytest.mark.parametrize("make", [LogisticRegression, SoftmaxRegression])
def test_logistic_balanced_class_weight_with_sample_weight(make):
    # class_weight="balanced" with sample_weight: scikit-learn counts the classes by
    # their weights (compute_class_weight(..., sample_weight=sw)); fastnn counted rows
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.random.RandomState(1).rand(len(y)) * 2 + 0.1
    f = make(class_weight="balanced", tol=1e-10, max_iter=10000).fit(X, y, sample_weight=sw)
    s = skl.LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10000).fit(X, y, sample_weight=sw)
    assert _rel(f.coef_, s.coef_) < 1e-5
    np.testing.assert_allclose(f.predict_proba(X), s.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("params", [{"penalty": "l2"}, {"penalty": None}, {"penalty": None, "C": 2.0},
                                    {"l1_ratio": None}, {"penalty": "l2", "l1_ratio": None}, {"n_jobs": 2}, {}])
def test_logistic_deprecation_warnings_like_sklearn(params):
    # scikit-learn 1.8 deprecated penalty, l1_ratio=None and n_jobs with FutureWarnings
    # at fit; the drop-in fitted silently
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :4]

    def caught(est):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            est.fit(X, y)
        return sorted((type(m.message).__name__, str(m.message)) for m in w
                      if not issubclass(m.category, ConvergenceWarning))

    assert caught(LogisticRegression(**params)) == caught(skl.LogisticRegression(**params))


@pytest.mark.parametrize("second", ["more_classes", "fewer_features", "fewer_classes"])
def test_logistic_warm_start_shape_change_raises_like_sklearn(second):
    # warm_start from a fit with other classes or features: scikit-learn raises; fastnn
    # silently restarted from zeros
    X, y = load_iris(return_X_y=True)
    y2 = (y > 0).astype(int)
    first, then = {"more_classes": ((X, y2), (X, y)), "fewer_features": ((X, y2), (X[:, :3], y2)),
                   "fewer_classes": ((X, y), (X, y2))}[second]
    msgs = []
    for make in (LogisticRegression, skl.LogisticRegression):
        est = make(warm_start=True, max_iter=1000).fit(*first)
        with pytest.raises(ValueError, match="Initialization coef is of shape") as err:
            est.fit(*then)
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]


def test_logistic_no_penalty_and_gd_solver():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :5]
    with pytest.warns(FutureWarning, match="'penalty' was deprecated"):  # as scikit-learn 1.8+
        f = LogisticRegression(penalty=None, tol=1e-10, max_iter=10000).fit(X, y)
    assert _rel(f.coef_, LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y).coef_) < 1e-12
    s = skl.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y)
    assert _rel(f.coef_, s.coef_) < 1e-5
    gd = LogisticRegression(solver="gd", tol=1e-12, max_iter=100000).fit(X, y)
    ref = skl.LogisticRegression(tol=1e-10, max_iter=10000).fit(X, y)
    assert _rel(gd.coef_, ref.coef_) < 1e-5


@pytest.mark.parametrize("make", [LogisticRegression, SoftmaxRegression])
def test_logistic_gd_refuses_negative_sample_weight(make):
    # its step size comes from the norm of X scaled by sqrt(sw): a negative weight made
    # NaNs, and the fit failed with "LinAlgError: SVD did not converge"
    X, y = load_iris(return_X_y=True)
    sw = np.ones(len(y))
    sw[0] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        make(solver="gd").fit(X, y, sample_weight=sw)


def test_softmax_regression_binary_is_two_columns():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    m = SoftmaxRegression(C=1.0).fit(X, y)
    assert m.coef_.shape == (2, X.shape[1])
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(m.predict(X), (m.decision_function(X) > 0).astype(int))
    assert m.score(X, y) > 0.95


def test_sparse_pickle_pipeline_and_errors(diabetes):
    X, y = diabetes
    Xs = sp.csr_matrix(X)
    # the direct solvers densify a sparse X ("auto" keeps it sparse: tests/test_estimators_ridge.py)
    np.testing.assert_allclose(Ridge(solver="cholesky").fit(Xs, y).coef_, Ridge().fit(X, y).coef_, rtol=1e-12)
    huge = sp.csr_matrix((200_000, 1_000_000))  # all zeros: 1.5 TiB dense, a few bytes sparse
    with pytest.raises(ValueError, match="dense copy would take"):
        Ridge(solver="cholesky").fit(huge, np.zeros(200_000))
    m = Lasso(alpha=0.05).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(m)).predict(X), m.predict(X))
    scores = cross_val_score(make_pipeline(StandardScaler(), Ridge()), X, y, cv=3, n_jobs=2)
    assert scores.mean() > 0.3
    with pytest.raises(InvalidParameterError):
        Ridge(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio"):
        LogisticRegression(l1_ratio=0.5).fit(X, (y > 140).astype(int))
    with pytest.raises(ValueError, match="2 classes"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.warns(ConvergenceWarning):
        Lasso(alpha=0.001, max_iter=3, tol=1e-12).fit(X, y)


@pytest.mark.parametrize("make", [lambda: (Ridge(), skl.Ridge()), lambda: (Lasso(alpha=0.1), skl.Lasso(alpha=0.1)),
                                  lambda: (LogisticRegression(), skl.LogisticRegression())])
def test_predict_fast_path_keeps_scikit_learns_errors(diabetes, make, monkeypatch):
    """Already-valid input skips validate_data; anything else gets scikit-learn's own checks."""
    from fastnn.estimators import _linear_base, _logistic

    X, y = diabetes
    f, s = make()
    lin = _logistic if isinstance(f, LogisticRegression) else _linear_base  # where predict lives
    if isinstance(f, LogisticRegression):
        y = (y > 140).astype(int)
    f.fit(X, y)
    s.fit(X, y)
    bad = X[:4].copy()
    bad[1, 2] = np.inf
    for est in (f, s):
        with pytest.raises(ValueError, match="Input X contains infinity"):
            est.predict(bad)
        with pytest.raises(ValueError, match="X has 9 features"):
            est.predict(X[:4, :-1])
    calls = []
    real = lin.validate_data
    monkeypatch.setattr(lin, "validate_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    np.testing.assert_allclose(f.predict(X[:5]), s.predict(X[:5]), rtol=1e-6)
    assert calls == []
    f.predict(X[:5].tolist())
    assert calls == [1]


def test_ridge_positive_is_sklearns_lbfgs(diabetes, weights):
    # fastnn's Ridge refused positive=True; scikit-learn fits it by L-BFGS-B with bounds
    X, y = diabetes
    Y = np.column_stack([y, 300 * X[:, 2] - y])
    for kw, target, sw in [({}, y, None), ({"fit_intercept": False}, y, weights), ({"solver": "lbfgs"}, Y, weights)]:
        f = Ridge(alpha=[0.01, 1.0][: np.ndim(target)], positive=True, **kw).fit(X, target, sample_weight=sw)
        s = skl.Ridge(alpha=[0.01, 1.0][: np.ndim(target)], positive=True, **kw).fit(X, target, sample_weight=sw)
        assert f.solver_ == "lbfgs" and f.coef_.min() == 0.0
        np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-9, atol=1e-9 * np.abs(s.coef_).max())
        np.testing.assert_allclose(f.intercept_, s.intercept_, rtol=1e-9)
    f32 = Ridge(positive=True).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32
    with pytest.warns(ConvergenceWarning, match="lbfgs solver did not converge"):
        Ridge(alpha=0.01, positive=True, max_iter=1, tol=1e-12).fit(X, y)
    # scikit-learn's errors for the combinations it refuses
    with pytest.raises(ValueError, match="solver='svd' does not support positive fitting"):
        Ridge(positive=True, solver="svd").fit(X, y)
    with pytest.raises(ValueError, match="'lbfgs' solver can be used only when positive=True"):
        Ridge(solver="lbfgs").fit(X, y)


def test_enet_overflowing_centring_gets_sklearns_error():
    # finite X whose centring overflows: fastnn's error named the kernel's internal "xt"
    # (2 columns: the kernel's element-wise edge; 9 x 20: its register blocks; Fortran order: NumPy's centring)
    for shape in ((10, 2), (20, 9)):
        X = np.finfo(np.float64).max * np.random.RandomState(0).uniform(size=shape)
        y = np.arange(float(shape[0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself
            warnings.simplefilter("ignore", ConvergenceWarning)  # scikit-learn's, on the NaNs it iterates over
            for est in (ElasticNet(alpha=0.1), skl.ElasticNet(alpha=0.1)):
                for given in (X, np.asfortranarray(X)):
                    with pytest.raises(ValueError, match="Coordinate descent iterations resulted in non-finite"):
                        est.fit(given, y)


@pytest.mark.parametrize("make", [Lasso, lambda **kw: ElasticNet(l1_ratio=0.7, **kw)])
@pytest.mark.parametrize("weighted", [False, True])
def test_enet_gram_form_like_sklearn(make, weighted, monkeypatch):
    """precompute=True runs the Gram form from the start, and a tall X needing many sweeps
    switches to it on its own (gram_after): coef_, n_iter_ and dual_gap_ are scikit-learn's
    (its Gram solver's, and its data solver's) to rounding."""
    from fastnn.estimators import _elastic_net

    seen = []
    real = _elastic_net.K.enet_cd
    monkeypatch.setattr(_elastic_net.K, "enet_cd", lambda *a, **k: seen.append(k["gram_after"]) or real(*a, **k))
    rng = np.random.default_rng(3)
    X = 0.5 * rng.standard_normal((600, 40)) + 0.85 * rng.standard_normal((600, 1)) + 3.0  # correlated, offset
    y = X[:, :6] @ rng.standard_normal(6) + rng.standard_normal(600)
    sw = rng.uniform(0.5, 2.0, 600) if weighted else None
    sk_cls = skl.Lasso if make is Lasso else (lambda **kw: skl.ElasticNet(l1_ratio=0.7, **kw))
    for precompute in (True, False):
        f = make(alpha=0.01, precompute=precompute, tol=1e-8, max_iter=5000).fit(X, y, sample_weight=sw)
        s = sk_cls(alpha=0.01, precompute=precompute, tol=1e-8, max_iter=5000).fit(X, y, sample_weight=sw)
        assert f.n_iter_ == s.n_iter_ > 10
        np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-9, atol=1e-12)
        assert f.intercept_ == pytest.approx(s.intercept_, rel=1e-9)
        assert f.dual_gap_ == pytest.approx(s.dual_gap_, rel=1e-5, abs=1e-12)
    assert seen == [0, 40 // 16]
    Lasso(alpha=1.0).fit(X[:30], y[:30])  # wide: never the Gram form on its own
    assert seen[-1] == -1


@pytest.mark.parametrize("precompute", [True, False])
def test_enet_targets_share_one_gram(precompute, monkeypatch):
    """Several targets on one X: Q = X^T X is formed once (before the first target with
    precompute, after the first target that needed it otherwise) and handed to the others;
    with precompute X^T Y too, one product for all targets, so no target reads X (xt None);
    the fits are scikit-learn's."""
    from fastnn.estimators import _elastic_net

    given = []
    real = _elastic_net.K.enet_cd

    def spy(w, xt, y, **k):
        given.append((k["gram"] is not None, xt is None, k.get("xty") is not None))
        return real(w, xt, y, **k)

    monkeypatch.setattr(_elastic_net.K, "enet_cd", spy)
    rng = np.random.default_rng(4)
    X = 0.5 * rng.standard_normal((500, 40)) + 0.85 * rng.standard_normal((500, 1))
    Y = X[:, :5] @ rng.standard_normal((5, 3)) + rng.standard_normal((500, 3))
    f = Lasso(alpha=0.01, precompute=precompute, tol=1e-8, max_iter=5000).fit(X, Y)
    s = skl.Lasso(alpha=0.01, precompute=precompute, tol=1e-8, max_iter=5000).fit(X, Y)
    assert given == ([(True, True, True)] * 3 if precompute else [(False, False, False)] + [(True, False, False)] * 2)
    assert list(f.n_iter_) == list(s.n_iter_) and min(f.n_iter_) > 10
    np.testing.assert_allclose(f.coef_, s.coef_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [5, 128, 300])
def test_enet_shared_gram_in_column_blocks(p):
    """_gram forms Q's upper triangle a block of GRAM_BLOCK columns at a time and mirrors it:
    X^T X to rounding, exactly symmetric (kernels.enet_cd refuses anything else)."""
    from fastnn.estimators import _elastic_net

    xt = np.random.default_rng(p).standard_normal((p, 700))
    Q = _elastic_net._gram(xt, None)
    np.testing.assert_allclose(Q, xt @ xt.T, rtol=1e-12, atol=1e-10)
    assert np.array_equal(Q, Q.T)


def test_enet_precompute_gram_is_checked_like_sklearn(diabetes):
    # a Gram matrix given as precompute was ignored without a look: a wrong one passed
    X, y = diabetes
    G = X.T @ X
    ref = ElasticNet(alpha=0.01, fit_intercept=False).fit(X, y)
    fit = ElasticNet(alpha=0.01, fit_intercept=False, precompute=G).fit(X, y)  # the Gram form: the same iterates
    sk = skl.ElasticNet(alpha=0.01, fit_intercept=False, precompute=G).fit(X, y)
    assert fit.n_iter_ == ref.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(fit.coef_, sk.coef_, rtol=1e-12)
    garbage = np.random.RandomState(0).standard_normal(X.shape)
    with pytest.raises(ValueError, match="Gram matrix passed in via 'precompute' parameter did not pass validation"):
        ElasticNet(alpha=0.01, fit_intercept=False, precompute=garbage.T @ garbage).fit(X, y)
    with pytest.raises(ValueError, match=r"precompute must be a Gram matrix X\^T X of shape \(10, 10\)"):
        Lasso(alpha=0.01, fit_intercept=False, precompute=np.eye(3)).fit(X, y)
    X1 = X + 1.0  # not centred: the Gram of X no longer applies once X is centred
    with pytest.warns(UserWarning, match="Gram matrix was provided but X was centered to fit intercept"):
        ElasticNet(alpha=0.01, precompute=X1.T @ X1).fit(X1, y)


@pytest.mark.parametrize("make", [ElasticNet, Lasso])
def test_any_order_of_x_gives_the_same_fit(diabetes, weights, make):
    """The centred column-major copy is kernels.centered_transpose's from a row-major X and an
    elementwise centring of X.T from a column-major one: the same fit (to the column means'
    rounding, which NumPy sums in another order), X kept."""
    X0, y = diabetes
    for sw in (None, weights):
        ref = make(alpha=0.01).fit(X0, y, sample_weight=sw)
        X = np.asfortranarray(X0 + 0.0)
        fit = make(alpha=0.01).fit(X, y, sample_weight=sw)
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_allclose(fit.coef_, ref.coef_, rtol=1e-9)
        assert fit.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("make, order", [(LinearRegression, "C"), (Ridge, "C"), (ElasticNet, "F"), (Lasso, "F")])
def test_copy_X_false_centres_in_place(diabetes, weights, make, order):
    # copy_X=False was accepted and ignored: X was always copied to centre it (scikit-learn
    # centres it in place, saving the copy)
    X0, y = diabetes
    X0 = X0 + 1.0
    for sw in (None, weights):
        ref = make().fit(X0, y, sample_weight=sw)
        X = np.array(X0, order=order)
        f = make(copy_X=False).fit(X, y, sample_weight=sw)
        assert np.abs(X - X0).max() > 0.5
        np.testing.assert_allclose(f.coef_, ref.coef_, rtol=1e-10, atol=1e-10)
        X = np.array(X0, order=order)
        X.flags.writeable = False  # copied first, as scikit-learn's force_writeable
        np.testing.assert_allclose(make(copy_X=False).fit(X, y, sample_weight=sw).coef_, ref.coef_, rtol=1e-10,
                                   atol=1e-10)


_OURS = {"LinearRegression": LinearRegression, "Ridge": Ridge, "Lasso": Lasso, "ElasticNet": ElasticNet,
         "LogisticRegression": LogisticRegression}


@pytest.mark.parametrize("name", list(_OURS))
def test_text_input_refused_like_sklearn(diabetes, name):
    # every predict-like method refuses text with scikit-learn's ValueError (its dtype="numeric" check),
    # and so does LinearRegression.fit; fastnn's float dtype list parsed the strings as numbers.
    # The other fits take text, as scikit-learn's (dtype=[float64, float32]) do.
    X, y = diabetes
    X = np.round(X, 6)  # (exact through str)
    if name == "LogisticRegression":
        y = (y > 140).astype(int)
    f, s = _OURS[name]().fit(X, y), getattr(skl, name)().fit(X, y)
    methods = ["predict", "score"] + (["predict_proba", "predict_log_proba", "decision_function"]
                                      if name == "LogisticRegression" else [])
    for text in (X[:5].astype(str), X[:5].astype(bytes), X[:5].astype(str).tolist()):
        for m in methods:
            args = (text, y[:5]) if m == "score" else (text,)
            with pytest.raises(ValueError) as want:
                getattr(s, m)(*args)
            with pytest.raises(ValueError) as got:
                getattr(f, m)(*args)
            assert str(got.value) == str(want.value) and "bytes/strings" in str(got.value)
    # text as objects is parsed by both (scikit-learn converts object arrays to float)
    np.testing.assert_allclose(f.predict(X[:5].astype(str).astype(object)), f.predict(X[:5]))
    if name == "LinearRegression":
        for est in (f, s):
            with pytest.raises(ValueError, match="bytes/strings"):
                est.fit(X.astype(str), y)
    else:
        g, t = _OURS[name]().fit(X.astype(str), y), getattr(skl, name)().fit(X.astype(str), y)
        assert _rel(g.coef_, f.coef_) < 1e-12 and _rel(t.coef_, s.coef_) < 1e-12


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("scale", [1e150, 1e155, 1e160, 1e-160])
def test_linear_regression_huge_and_tiny_x_like_sklearn(backend, scale, weights):
    # X ~ 1e155: X^T X overflowed and eigvalsh raised "array must not contain infs or NaNs"; at 1e150
    # the condition test overflowed (a RuntimeWarning); at 1e-160 X^T X is subnormal and the normal
    # equations lost every digit (coef_ 90% off). lstsq on X itself, as scikit-learn, in each case
    rng = np.random.default_rng(0)
    for n, p in ((300, 40), (200, 10)):  # the Gram matrix from the kernels (C backend), and NumPy's
        X = rng.standard_normal((n, p)) * scale
        y = X @ rng.standard_normal(p) / scale + rng.standard_normal(n)
        for sw in (None, weights[:n]):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                f = LinearRegression(backend=backend).fit(X, y, sample_weight=sw)
            s = skl.LinearRegression().fit(X, y, sample_weight=sw)
            assert _rel(f.coef_, s.coef_) < 1e-12 and abs(f.intercept_ - s.intercept_) < 1e-10
            assert f.rank_ == s.rank_ == p and _rel(f.singular_, s.singular_) < 1e-12


def test_enet_path_is_sklearns(diabetes):
    # Lasso.path / ElasticNet.path were missing (AttributeError); scikit-learn 1.9's are both the
    # staticmethod enet_path (Lasso's too: its l1_ratio defaults to 0.5 there)
    from sklearn.linear_model import enet_path

    X, y = diabetes
    for ours, theirs in ((Lasso, skl.Lasso), (ElasticNet, skl.ElasticNet)):
        assert isinstance(inspect.getattr_static(ours, "path"), staticmethod)
        for kw in ({}, {"l1_ratio": 1.0, "alphas": 5}, {"alphas": [1.0, 0.1], "positive": True}):
            got, want = ours.path(X, y, **kw), theirs.path(X, y, **kw)
            assert len(got) == len(want) == 3
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)
        alphas, coefs, gaps = ours().path(X, y, l1_ratio=0.3)  # (from an instance too)
        np.testing.assert_array_equal(coefs, enet_path(X, y, l1_ratio=0.3)[1])


def _fitted(est):
    """The public fitted attributes of est (scikit-learn's convention: a trailing underscore)."""
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_regression_attributes_like_sklearn(diabetes, dtype):
    # fastnn's had n_iter_ = 1 (scikit-learn's has none), rank_ = singular_ = None with
    # positive=True and on sparse X (scikit-learn's has neither), singular_ in float64 for float32 X
    X, y = diabetes[0].astype(dtype), diabetes[1]
    for Xc in (X, sp.csr_matrix(X)):
        for kw in ({}, {"positive": True}, {"fit_intercept": False}):
            if kw.get("positive") and sp.issparse(Xc):
                continue  # refused by both
            f, s = LinearRegression(**kw).fit(Xc, y), skl.LinearRegression(**kw).fit(Xc, y)
            assert _fitted(f) == _fitted(s), kw
            if hasattr(s, "singular_"):
                assert f.singular_.dtype == s.singular_.dtype and type(f.rank_) is type(s.rank_)
    # a refit keeps none of the last fit's attributes that this one does not set
    f = LinearRegression().fit(X, y).fit(sp.csr_matrix(X), y)
    assert _fitted(f) == {"coef_", "intercept_", "n_features_in_"}
    g = LinearRegression(solver="gd").fit(X, y)  # fastnn's own solver counts its steps
    assert g.n_iter_ >= 1 and not hasattr(g, "rank_")


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_fitted_attribute_sets_like_sklearn(diabetes, container):
    # every other linear estimator and solver: the same fitted attributes as scikit-learn's
    X, y = diabetes
    X = container(X)
    yc = (y > 140).astype(int)
    configs = [("Lasso", {"alpha": 0.1}, y), ("ElasticNet", {"alpha": 0.1}, y),
               ("Lasso", {"alpha": 0.1, "positive": True}, np.c_[y, -y])]
    configs += [("LogisticRegression", {"solver": s, "random_state": 0, "max_iter": 200}, t)
                for s in ("lbfgs", "newton-cg", "newton-cholesky", "liblinear", "sag", "saga")
                for t in (yc, yc + (y > 200)) if not (s == "liblinear" and t.max() > 1)]
    for name, kw, t in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            f, s = _OURS[name](**kw).fit(X, t), getattr(skl, name)(**kw).fit(X, t)
        assert _fitted(f) == _fitted(s), (name, kw)
        assert type(f.n_iter_) is type(s.n_iter_) and np.shape(f.n_iter_) == np.shape(s.n_iter_)


@pytest.mark.parametrize("name", ["LinearRegression", "Ridge", "Lasso", "ElasticNet"])
def test_sparse_predict_is_sklearns_product(diabetes, name, monkeypatch):
    # a sparse X's predictions are scikit-learn's X @ coef_.T + intercept_ (fastnn converted coef_ to
    # float64 operands for _forward: as much time as the product on a few rows); Lasso and
    # ElasticNet skip validate_data for a sparse X of the fitted width, as scikit-learn's do
    from fastnn.estimators import _linear_base

    X, y = diabetes
    Y = np.c_[y, y[::-1]]
    monkeypatch.setattr(_linear_base, "_forward", None)  # (the dense path's: not called)
    for dtype in (np.float64, np.float32):
        Xs = sp.csr_matrix(X.astype(dtype))
        for t in (y, Y):
            f, s = _OURS[name]().fit(Xs, t), getattr(skl, name)().fit(Xs, t)
            for rows in (Xs[:1], Xs[:7].tocsc(), Xs):
                a, b = f.predict(rows), s.predict(rows)
                assert a.dtype == b.dtype and a.shape == b.shape
                want = rows.toarray().astype(np.float64) @ np.asarray(f.coef_, np.float64).T + f.intercept_
                np.testing.assert_allclose(a, want, rtol=1e-5 if dtype == np.float32 else 1e-13)
    calls = []
    real = _linear_base.validate_data
    monkeypatch.setattr(_linear_base, "validate_data", lambda *a, **k: calls.append(1) or real(*a, **k))
    f.predict(Xs[:3])
    assert calls == ([] if name in ("Lasso", "ElasticNet") else [1])
    with pytest.raises(ValueError, match="X has 9 features, but .* is expecting 10 features"):
        f.predict(Xs[:3, :-1])  # (validate_data's error: Lasso's and ElasticNet's too)
