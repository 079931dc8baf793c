"""fastnn.kernels.l1_quadratic_cd (newGLMNET's inner problem): the C and Numba solvers against the
NumPy reference (the same steps, so the same bits), the solution against the model's optimality
conditions, xd against its definition, and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn import kernels as K

BACKENDS = ["numpy", "numba", "c"]


def _model(dtype, seed=0, n=80, p=50, m=30, alpha=0.05, start=True):
    """A random model: CSC X with an empty column and a one-entry column in the working set, Hessian
    weights with exact zeros (rows a fit's probabilities round to 0 or 1), a nonzero start, and g a
    loss's gradient X_W^T r (0 on the empty column, as in a fit)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.25, format="lil", random_state=seed) * 2.0
    X[:, 3] = 0.0
    X[:, 5] = 0.0
    X[7, 5] = 1.5
    X = sp.csc_matrix(X, dtype=dtype)
    cols = np.sort(np.concatenate([[3, 5], rng.choice(np.setdiff1d(np.arange(p), [3, 5]), m - 2, replace=False)]))
    h = (rng.uniform(0.0, 0.25, n)).astype(dtype)
    h[::9] = 0.0
    g = (X[:, cols].T @ (0.1 * rng.standard_normal(n))).astype(dtype)
    u = np.zeros(m, dtype)
    if start:
        u[::4] = rng.standard_normal(u[::4].shape[0])
    return u, X, cols, g, h, dict(alpha=alpha, nu=1e-6)


def _optimality(u, u0, X, cols, g, h, alpha, nu):
    """The largest violation of the model's optimality conditions at u."""
    Xw = X[:, cols].toarray().astype(np.float64)
    d = (u - u0).astype(np.float64)
    G = g + Xw.T @ (h * (Xw @ d)) + nu * d
    viol = np.where(u > 0, np.abs(G + alpha), np.where(u < 0, np.abs(G - alpha), np.maximum(np.abs(G) - alpha, 0)))
    return viol.max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["start", "zeros", "strong", "few-sweeps"])
def test_backends_take_the_reference_steps(dtype, case):
    u, X, cols, g, h, kw = _model(dtype, seed=1, start=case != "zeros", alpha=0.4 if case == "strong" else 0.05)
    sweeps = 3 if case == "few-sweeps" else 1000
    out = {}
    for backend in BACKENDS:
        w = u.copy()
        xd, n = K.l1_quadratic_cd(w, X, cols, g, h, tol=1e-7 if dtype == np.float64 else 1e-4,
                                  max_sweeps=sweeps, backend=backend, **kw)
        out[backend] = (w, xd, n)
    ref = out["numpy"]
    assert (ref[2] == 3) if case == "few-sweeps" else (1 < ref[2] < 1000)
    assert 0 < np.count_nonzero(ref[0]) < ref[0].shape[0]  # both kinds of coordinates
    for backend in ("numba", "c"):
        np.testing.assert_array_equal(out[backend][0], ref[0], err_msg=backend)
        np.testing.assert_array_equal(out[backend][1], ref[1], err_msg=backend)
        assert out[backend][2] == ref[2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_solution_is_the_models_optimum(backend):
    u, X, cols, g, h, kw = _model(np.float64, seed=2)
    u0 = u.copy()
    before = _optimality(u, u0, X, cols, g, h, **kw)
    xd, sweeps = K.l1_quadratic_cd(u, X, cols, g, h, tol=1e-12, backend=backend, **kw)
    assert before > 1e-2 and _optimality(u, u0, X, cols, g, h, **kw) < 1e-12
    # xd is X_W (u - u0); the empty column stays at its start (0), the others moved
    np.testing.assert_allclose(xd, X[:, cols] @ (u - u0), rtol=0, atol=1e-13)
    assert u[np.searchsorted(cols, 3)] == 0.0
    # the optimum's zeros are exact, and far from the kink they were set aside (same answer)
    assert np.count_nonzero(u == 0) >= 3


def test_shrinking_returns_the_optimum_of_a_mostly_zero_model():
    # a strong penalty: most coordinates rest at zero well inside [-alpha, alpha] and leave the
    # sweeps; the reactivation pass must still certify every coordinate
    u, X, cols, g, h, kw = _model(np.float64, seed=5, m=40, start=False)
    kw["alpha"] = float(np.quantile(np.abs(g), 0.8))  # 8 of the 40 violate at the start
    u0 = u.copy()
    K.l1_quadratic_cd(u, X, cols, g, h, tol=1e-12, **kw)
    assert 0 < np.count_nonzero(u) <= 10
    assert _optimality(u, u0, X, cols, g, h, **kw) < 1e-12


def test_tol_and_max_sweeps_stop():
    u, X, cols, g, h, kw = _model(np.float64, seed=3)
    loose, tight = u.copy(), u.copy()
    _, n_loose = K.l1_quadratic_cd(loose, X, cols, g, h, tol=1e-1, **kw)
    _, n_tight = K.l1_quadratic_cd(tight, X, cols, g, h, tol=1e-12, **kw)
    assert 1 <= n_loose < n_tight
    capped = u.copy()
    assert K.l1_quadratic_cd(capped, X, cols, g, h, tol=1e-12, max_sweeps=2, **kw)[1] == 2


def test_checked_csc_and_out_buffer():
    u, X, cols, g, h, kw = _model(np.float64, seed=4)
    a, b = u.copy(), u.copy()
    xd_a, _ = K.l1_quadratic_cd(a, X, cols, g, h, tol=1e-9, **kw)
    out = np.full(X.shape[0], np.nan)
    xd_b, _ = K.l1_quadratic_cd(b, K._checked_csc(X, np.float64), cols.astype(np.int32), g, h, tol=1e-9, out=out,
                                **kw)
    assert xd_b is out
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(xd_a, xd_b)


def test_validation():
    u, X, cols, g, h, kw = _model(np.float64)
    ok = dict(tol=1e-6, **kw)

    def call(**over):
        args = dict(u=u.copy(), X=X, cols=cols, g=g, h=h)
        args.update({k: v for k, v in over.items() if k in args})
        opts = dict(ok, **{k: v for k, v in over.items() if k not in args})
        return K.l1_quadratic_cd(args.pop("u"), args.pop("X"), args.pop("cols"), args.pop("g"), args.pop("h"), **opts)

    with pytest.raises(TypeError, match="u must be a numpy.ndarray"):
        call(u=list(u))
    with pytest.raises(TypeError, match="u must be float32 or float64"):
        call(u=u.astype(np.int64))
    with pytest.raises(TypeError, match="takes CSC"):
        call(X=X.tocsr())
    with pytest.raises(TypeError, match="X must be a scipy.sparse CSC"):
        call(X=X.toarray())
    with pytest.raises(TypeError, match="X.data"):
        call(X=X.astype(np.float32))
    with pytest.raises(TypeError, match="cols must be a 1-D integer"):
        call(cols=cols.astype(float))
    with pytest.raises(ValueError, match="cols must have one column per value of u"):
        call(cols=cols[:-1])
    with pytest.raises(ValueError, match=r"cols must be column indices in \[0, 50\)"):
        call(cols=np.where(cols == cols[-1], 50, cols))
    with pytest.raises(ValueError, match="cols must not repeat"):
        call(cols=np.concatenate([cols[1:], cols[:1]]).copy() * 0 + np.r_[cols[:-1], cols[0]])
    with pytest.raises(ValueError, match=r"g must have shape \(30,\)"):
        call(g=g[:-1])
    with pytest.raises(ValueError, match=r"h must have shape \(80,\)"):
        call(h=h[:-1])
    with pytest.raises(ValueError, match="h must be >= 0"):
        call(h=-h)
    with pytest.raises(ValueError, match="g must be finite"):
        call(g=np.where(np.arange(g.size) == 2, np.nan, g))
    with pytest.raises(ValueError, match="nu must be a finite number > 0"):
        call(nu=0.0)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        call(alpha=-1.0)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        call(tol=float("nan"))
    with pytest.raises(ValueError, match="max_sweeps must be an int >= 1"):
        call(max_sweeps=0)
    with pytest.raises(ValueError, match="X.data must be finite"):
        bad = X.copy()
        bad.data[0] = np.inf
        call(X=bad)
    w = u.copy()
    with pytest.raises(ValueError, match="u overlaps g"):
        K.l1_quadratic_cd(w, X, cols, w, h, **ok)
    with pytest.raises(ValueError, match=r"out must have shape \(80,\)"):
        call(out=np.empty(79))
