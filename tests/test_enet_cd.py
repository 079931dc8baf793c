"""fastnn.kernels.enet_cd: the C and Numba solvers against the reference (the spec),
the reference against scikit-learn's own enet_coordinate_descent, on both ISA
paths, and input validation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastnn import kernels as K

CASES = {  # n, p, alpha, beta, positive, selection
    "lasso": (60, 20, 0.5, 0.0, False, "cyclic"),
    "enet-positive": (80, 30, 2.0, 0.3, True, "cyclic"),
    "random": (50, 40, 1.0, 0.0, False, "random"),
    "ridge-only": (40, 10, 0.0, 0.5, False, "cyclic"),
    "wide": (20, 70, 0.3, 0.0, False, "cyclic"),
}
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _problem(case, dtype, seed=0):
    n, p, alpha, beta, positive, selection = CASES[case]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[:, 3] = 0.0  # an all-zero column is skipped (and screened out)
    y = X[:, :5].sum(axis=1) + rng.standard_normal(n)
    kw = dict(alpha=alpha, beta=beta, positive=positive, selection=selection, seed=12345, tol=1e-6, max_iter=500)
    return np.ascontiguousarray(X.T, dtype=dtype), y.astype(dtype), kw


def _solve(backend, case, dtype, **extra):
    xt, y, kw = _problem(case, dtype)
    kw.update(extra)
    w = np.zeros(xt.shape[0], dtype)
    out = K.enet_cd(w, xt, y, backend=backend, **kw)
    return w, out


def _backends():
    found = ["numpy"]
    for name in ("numba", "c"):
        try:
            K._solver_module(K._ENET_MODULES, name)
        except ValueError:
            continue
        found.append(name)
    return found


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
    else:  # float32 rounding (the dots' summation order) can move the stop by a sweep or two
        assert ok == ok_ref and abs(it - it_ref) <= max(2, it_ref // 50)
    assert tol_s == pytest.approx(tol_ref, rel=1e-5)
    assert ok and gap <= tol_s


@pytest.mark.skipif("c" not in _backends(), reason="C extension not built")
@pytest.mark.parametrize("case", list(CASES))
def test_c_solver_on_every_isa(case):
    from fastnn.backends.c import lib

    before = lib.fnn_get_isa()
    try:
        results = []
        isas = [0] + ([1] if lib.fnn_cpu_has_avx2_fma() else []) + ([2] if lib.fnn_cpu_has_avx512f() else [])
        singles = []
        for isa in isas:
            assert lib.fnn_set_isa(isa) == isa
            results.append(_solve("c", case, np.float64))
            singles.append(_solve("c", case, np.float32))
    finally:
        lib.fnn_set_isa(before)
    w_ref, out_ref = _solve("numpy", case, np.float64)
    for w, out in results:
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12 * max(1.0, float(np.abs(w_ref).max())))
        assert out[2:] == out_ref[2:]
    if len(isas) == 3:  # the AVX-512 solver is the AVX2 one with wider dots: the same sums, the same bits
        for got in (results, singles):
            assert np.array_equal(got[1][0], got[2][0]) and got[1][1] == got[2][1]


@pytest.mark.parametrize("case", list(CASES))
def test_reference_is_scikit_learns_solver(case):
    cd_fast = pytest.importorskip("sklearn.linear_model._cd_fast")
    xt, y, kw = _problem(case, np.float64)
    # scikit-learn's solver draws its xorshift seed as rng.randint(0, RAND_R_MAX)
    kw["seed"] = int(np.random.RandomState(0).randint(0, 2147483647))
    w = np.zeros(xt.shape[0])
    gap, tol_s, n_iter, ok = K.enet_cd(w, xt, y, backend="numpy", **kw)
    w_sk = np.zeros(xt.shape[0])
    _, gap_sk, tol_sk, n_iter_sk = cd_fast.enet_coordinate_descent(
        w_sk, kw["alpha"], kw["beta"], np.asfortranarray(xt.T), y, kw["max_iter"], kw["tol"],
        np.random.RandomState(0), kw["selection"] == "random", kw["positive"], True)
    np.testing.assert_allclose(w, w_sk, rtol=0, atol=1e-12 * max(1.0, float(np.abs(w_sk).max())))
    assert n_iter == n_iter_sk and ok
    assert tol_s == pytest.approx(tol_sk, rel=1e-12)
    assert gap == pytest.approx(gap_sk, rel=1e-4, abs=1e-10)


# the Gram form: Q = X^T X in blocks of 128 columns on the C backend, so a case wider than that
# (the correlated wide case needs a larger alpha to converge: a run stopped at max_iter far from the
# optimum wanders apart in float32, whichever form)
GRAM_CASES = {**CASES, "wide": (20, 70, 10.0, 0.0, False, "cyclic"), "tall-200": (400, 200, 2.0, 0.1, False, "random")}


def _gram_problem(case, dtype):
    n, p, alpha, beta, positive, selection = GRAM_CASES[case]
    rng = np.random.default_rng(1)
    X = 0.6 * rng.standard_normal((n, p)) + 0.8 * rng.standard_normal((n, 1))  # correlated: many sweeps
    X[:, 3] = 0.0
    y = X[:, :5].sum(axis=1) + rng.standard_normal(n)
    # (float32 cannot reach a gap of 1e-8 y.y: both forms would wander to max_iter apart)
    tol = 1e-8 if dtype == np.float64 else 1e-4
    kw = dict(alpha=alpha, beta=beta, positive=positive, selection=selection, seed=12345, tol=tol, max_iter=300)
    return np.ascontiguousarray(X.T, dtype=dtype), y.astype(dtype), kw


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("gram_after", [0, 1, 4])
@pytest.mark.parametrize("case", list(GRAM_CASES))
def test_gram_form_takes_the_data_forms_steps(backend, dtype, gram_after, case):
    """gram_after switches to the Gram form (from the start, or after some sweeps, with the active
    set and the generator carried over): the data form's iterates, sweeps and stop to rounding."""
    xt, y, kw = _gram_problem(case, dtype)
    w_ref = np.zeros(xt.shape[0], dtype)
    gap_ref, tol_ref, it_ref, ok_ref = K.enet_cd(w_ref, xt, y, backend="numpy", **kw)
    w = np.zeros(xt.shape[0], dtype)
    gap, tol_s, it, ok = K.enet_cd(w, xt, y, backend=backend, gram_after=gram_after, **kw)
    scale = max(1.0, float(np.abs(w_ref).max()))
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=(1e-10 if dtype == np.float64 else 1e-3) * scale)
    if dtype == np.float64:
        assert (it, ok) == (it_ref, ok_ref) and it > 4
        assert gap == pytest.approx(gap_ref, rel=1e-6, abs=1e-4 * tol_ref)  # the Gram form: R.R to ~p eps y.y
    else:
        assert abs(it - it_ref) <= max(2, it_ref // 20)
    assert tol_s == pytest.approx(tol_ref, rel=1e-5)


@pytest.mark.parametrize("case", list(GRAM_CASES))
def test_gram_form_is_scikit_learns_gram_solver(case):
    cd_fast = pytest.importorskip("sklearn.linear_model._cd_fast")
    xt, y, kw = _gram_problem(case, np.float64)
    kw["seed"] = int(np.random.RandomState(0).randint(0, 2147483647))
    w = np.zeros(xt.shape[0])
    gap, tol_s, n_iter, ok = K.enet_cd(w, xt, y, backend="numpy", gram_after=0, **kw)
    w_sk = np.zeros(xt.shape[0])
    Q = xt @ xt.T
    with warnings.catch_warnings():  # (a case that stops at max_iter: scikit-learn warns, as fastnn's estimators)
        warnings.simplefilter("ignore")
        _, gap_sk, tol_sk, n_iter_sk = cd_fast.enet_coordinate_descent_gram(
            w_sk, kw["alpha"], kw["beta"], Q, xt @ y, y, kw["max_iter"], kw["tol"], np.random.RandomState(0),
            kw["selection"] == "random", kw["positive"], True)
    assert ok == (n_iter_sk < kw["max_iter"] or gap_sk <= tol_sk)
    np.testing.assert_allclose(w, w_sk, rtol=0, atol=1e-10 * max(1.0, float(np.abs(w_sk).max())))
    assert n_iter == n_iter_sk
    assert tol_s == pytest.approx(tol_sk, rel=1e-12)
    assert gap == pytest.approx(gap_sk, rel=1e-6, abs=1e-4 * tol_sk)


@pytest.mark.skipif("c" not in _backends(), reason="C extension not built")
def test_c_gram_form_falls_back_to_the_data_form_when_q_is_too_big():
    # Q would be 46001^2 doubles (17 GB): the C solver keeps the data form, with its exact results
    rng = np.random.default_rng(0)
    xt, y = rng.standard_normal((46001, 3)), rng.standard_normal(3)
    runs = []
    for gram_after in (0, -1):
        w = np.zeros(46001)
        runs.append((K.enet_cd(w, xt, y, alpha=0.5, max_iter=3, gram_after=gram_after, backend="c"), w))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1]) and runs[0][0][2] >= 1


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("gram_after", [0, 3])
def test_given_gram_is_used_as_formed(backend, gram_after):
    """gram= hands Q = X^T X over (several targets on one X form it once): the results of the
    solver forming it itself, to rounding (the reference's and Numba's Q are the same sums)."""
    xt, y, kw = _gram_problem("tall-200", np.float64)
    Q = xt @ xt.T
    Q = np.triu(Q) + np.triu(Q, 1).T
    runs = []
    for gram in (None, Q):
        w = np.zeros(xt.shape[0])
        runs.append((K.enet_cd(w, xt, y, backend=backend, gram_after=gram_after, gram=gram, **kw), w))
    (out_a, w_a), (out_b, w_b) = runs
    assert out_a[2:] == out_b[2:] and out_a[2] > 3
    np.testing.assert_allclose(w_b, w_a, rtol=0, atol=1e-10 * np.abs(w_a).max())


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_given_xty_needs_no_x(backend, dtype):
    """xty= hands q = X^T y over: with gram and gram_after=0 the solver runs without xt (None)
    to the results of it forming q itself, to rounding; with gram_after > 0 (the data form
    first) xty only replaces q at the switch."""
    xt, y, kw = _gram_problem("tall-200", dtype)
    kw["tol"] = 1e-10 if dtype == np.float64 else 1e-4
    Q = xt @ xt.T
    Q = np.triu(Q) + np.triu(Q, 1).T
    q = xt @ y
    tol = dict(rtol=0, atol=(1e-3 if dtype == np.float32 else 1e-10))
    # (an X of zeros: where xty is used, as the Gram form from the start uses it, X is not read)
    for gram_after, xt_given in ((0, None), (0, np.zeros_like(xt)), (3, xt)):
        runs = []
        for xty, x in ((None, xt), (q, xt_given)):
            w = np.zeros(xt.shape[0], dtype)
            runs.append((K.enet_cd(w, x, y, backend=backend, gram_after=gram_after, gram=Q, xty=xty, **kw), w))
        (out_a, w_a), (out_b, w_b) = runs
        # (float32: q summed in another order can move the stop by a sweep)
        assert abs(out_a[2] - out_b[2]) <= (0 if dtype == np.float64 else 2) and out_a[2] > 3
        np.testing.assert_allclose(w_b / np.abs(w_a).max(), w_a / np.abs(w_a).max(), **tol)


@pytest.mark.parametrize("change, match", [
    (dict(xty=None), "xt .* is needed unless gram and xty are given with gram_after=0"),
    (dict(gram=None), "xt .* is needed unless gram and xty"),
    (dict(gram_after=2), "xt .* is needed unless"),
    (dict(xty=np.zeros(19)), r"xty must have shape \(20,\)"),
    (dict(xty=np.r_[np.nan, np.zeros(19)]), "xty must be finite"),
    (dict(y=np.zeros(0)), r"y must have shape \(n_samples >= 1,\)"),
])
def test_no_xt_needs_the_whole_gram_form(change, match):
    xt, y, kw = _problem("lasso", np.float64)
    args = dict(xty=xt @ y, gram=xt @ xt.T, gram_after=0, y=y)
    args["gram"] = np.triu(args["gram"]) + np.triu(args["gram"], 1).T
    args.update(change)
    y = args.pop("y")
    with pytest.raises(ValueError, match=match):
        K.enet_cd(np.zeros(20), None, y, **args, **kw)


@pytest.mark.parametrize("exc, match, gram", [
    (ValueError, r"gram must have shape \(20, 20\)", np.eye(19)),
    (ValueError, r"gram must be X\^T X: exactly symmetric", np.triu(np.ones((20, 20)))),
    (ValueError, r"gram must be X\^T X", np.full((20, 20), np.nan)),
    (TypeError, "gram has dtype float32", np.eye(20, dtype=np.float32)),
])
def test_invalid_gram(exc, match, gram):
    xt, y, kw = _problem("lasso", np.float64)
    with pytest.raises(exc, match=match):
        K.enet_cd(np.zeros(20), xt, y, gram_after=0, gram=gram, **kw)


@pytest.mark.parametrize("bad", [-2, 1.5, True, "0"])
def test_gram_after_must_be_an_int_from_minus_one(bad):
    xt, y, kw = _problem("lasso", np.float64)
    with pytest.raises(ValueError, match="gram_after must be an int >= -1"):
        K.enet_cd(np.zeros(20), xt, y, gram_after=bad, **kw)


def test_warm_start_and_max_iter():
    xt, y, kw = _problem("lasso", np.float64)
    w = np.zeros(xt.shape[0])
    kw["max_iter"] = 2
    gap, tol_s, it, ok = K.enet_cd(w, xt, y, backend="c", **{**kw, "tol": 1e-14})
    assert (it, ok) == (2, False) and gap > tol_s
    # continuing from there converges, and to the cold start's optimum
    kw["max_iter"] = 1000
    K.enet_cd(w, xt, y, backend="c", **kw)
    cold = np.zeros_like(w)
    K.enet_cd(cold, xt, y, backend="c", **kw)
    np.testing.assert_allclose(w, cold, atol=1e-3 * np.abs(cold).max())
    # a start at the optimum stops before the first sweep
    assert K.enet_cd(cold, xt, y, backend="c", **{**kw, "tol": 1e-2})[2] == 0


@pytest.mark.parametrize("exc, match, change", [
    (TypeError, "w must be a numpy.ndarray", {"w": [0.0] * 20}),
    (TypeError, "w must be float32 or float64", {"w": np.zeros(20, np.int64)}),
    (ValueError, "w must be 1-D", {"w": np.zeros((20, 1))}),
    (ValueError, r"xt must have shape \(20, n_samples >= 1\)", {"xt": np.zeros((19, 60))}),
    (TypeError, "xt has dtype float32", {"xt": np.zeros((20, 60), np.float32)}),
    (ValueError, r"y must have shape \(60,\)", {"y": np.zeros(59)}),
    (ValueError, "alpha must be a finite number >= 0", {"alpha": -1.0}),
    (ValueError, "beta must be a finite number >= 0", {"beta": float("nan")}),
    (ValueError, "max_iter must be an int >= 1", {"max_iter": 0}),
    (ValueError, "seed must be < 2", {"seed": 2**32}),
    (ValueError, "selection must be", {"selection": "greedy"}),
    (ValueError, "w overlaps y", {"_overlap": True}),
    # NaN/inf data: the reference reported "converged, gap 0" (its max of the dual norm was
    # NaN), C and Numba skipped the NaN in that max and ran: three different silent answers
    (ValueError, "xt must be finite", {"xt": np.full((20, 60), np.nan)}),
    (ValueError, "y must be finite", {"y": np.r_[np.inf, np.zeros(59)]}),
    (ValueError, "w must be finite", {"w": np.r_[np.nan, np.zeros(19)]}),
])
def test_invalid_input(exc, match, change):
    xt, y, kw = _problem("lasso", np.float64)
    args = {"w": np.zeros(20), "xt": xt, "y": y}
    if change.pop("_overlap", False):
        buf = np.zeros(80)
        args["w"], args["y"] = buf[:20], buf[10:70]
    for key in ("w", "xt", "y"):
        if key in change:
            args[key] = change.pop(key)
    kw.update(change)
    with pytest.raises(exc, match=match):
        K.enet_cd(args["w"], args["xt"], args["y"], backend="numpy", **kw)


def test_finite_check_sums_first_and_can_be_skipped():
    """The finiteness check sums each array first: finite entries whose sum overflows are still
    accepted; check_finite=False skips it (the caller's word), and NaN data then runs to an
    answer on every backend rather than an error or a crash."""
    xt, y, kw = _problem("lasso", np.float64)
    huge = xt.copy()
    huge[:, :2] = np.finfo(np.float64).max / 2  # the sum overflows; every entry is finite
    with np.errstate(all="ignore"):
        K.enet_cd(np.zeros(20), huge, y, backend="numpy", **dict(kw, max_iter=2))
        for backend in _backends():
            bad = xt.copy()
            bad[3, 7] = np.nan
            K.enet_cd(np.zeros(20), bad, y, check_finite=False, backend=backend, **dict(kw, max_iter=3))
            with pytest.raises(ValueError, match="xt must be finite"):
                K.enet_cd(np.zeros(20), bad, y, backend=backend, **kw)


def _tall(correlated, dtype):
    """A tall X that converges in 4 sweeps, or (correlated columns) one that needs hundreds."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 48))
    y = X[:, :8] @ rng.standard_normal(8) + rng.standard_normal(3000)
    if correlated:
        X[:, 1:] = 0.3 * X[:, 1:] + 0.95 * X[:, :-1]
    return np.ascontiguousarray(X.T, dtype=dtype), y.astype(dtype)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gram_predict_forms_q_only_for_a_long_fit(monkeypatch, backend, dtype):
    """With gram_predict, a fit that is nearly done at gram_after stays in the data form (its
    coefficients the data form's bit for bit), and one that needs many more sweeps enters the
    Gram form (its coefficients differ from the data form's in the last bits; the reference's
    Q is formed once); every backend takes the reference's sweeps."""
    from fastnn.backends import _enet_reference as ref

    formed = []
    real = ref.gram_form
    monkeypatch.setattr(ref, "gram_form", lambda *a: formed.append(1) or real(*a))
    kw = dict(alpha=5.0, max_iter=300, backend=backend)
    for correlated, enters in ((False, False), (True, True)):
        xt, y = _tall(correlated, dtype)
        data, predicted, spec = (np.zeros(48, dtype) for _ in range(3))
        out_data = K.enet_cd(data, xt, y, gram_after=-1, **kw)
        out = K.enet_cd(predicted, xt, y, gram_after=2, gram_predict=True, **kw)
        formed.clear()
        out_spec = K.enet_cd(spec, xt, y, **dict(kw, backend="numpy"), gram_after=2, gram_predict=True)
        assert len(formed) == int(enters)
        assert out[2] == out_spec[2] and out[3] == out_spec[3]
        assert np.array_equal(predicted, data) != enters, (correlated, out_data[2], out[2])
        np.testing.assert_allclose(predicted, spec, rtol=0, atol=TOL[dtype] * max(1.0, float(np.abs(spec).max())))


def test_gram_now_weighs_the_sweeps_left_against_q():
    from fastnn.backends._enet_reference import gram_now

    nan, tol = float("nan"), 1e-4
    assert gram_now(3, 3, nan, 0.1, tol)  # one sweep's ratio: no rate to extrapolate
    assert not gram_now(3, 3, 1e-1, 1e-3, tol)  # 100x a sweep: 1 more to go
    assert gram_now(3, 3, 1e-1, 5e-2, tol)  # 2x a sweep: ~9 more
    assert gram_now(3, 3, 1e-2, 1e-2, tol) and gram_now(3, 3, 1e-2, 2e-2, tol)  # stalled, rising
    assert gram_now(3, 3, 1e-2, 1e-5, tol)  # below tol: the gap fell short, the rate says nothing
    assert gram_now(6, 3, 1e-1, 1e-3, tol)  # twice Q's cost spent in the data form: no more waiting
