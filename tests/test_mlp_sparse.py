"""fastnn.MLP on a scipy.sparse X: trained sparse on the native epoch (every backend) to the
weights the same X densified gives, predictions through the first layer's sparse product,
every format converted without touching the caller's object, validation and sample
weights, the refusals (the kernel-by-kernel loop, bad shapes and values), and svmlight files
(load_file and ``fastnn train --data``), read as CSR."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn import cross_validate
from fastnn.cli import main as cli_main
from fastnn.datasets import load_file
from fastnn.mlp import MLP
from fastnn.nn import Dense, Dropout, Sequential

#: (sizes, loss, targets from the first columns of X)
TASKS = {
    "multiclass": ([30, 12, 3], None, lambda X: (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.2)),
    "binary": ([30, 12, 1], None, lambda X: np.where(X[:, 0] + X[:, 2] > 0, "yes", "no")),
    "regression": ([30, 12, 8, 2], "mse", lambda X: X[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]])),
}
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _data(n=160, p=30, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[rng.random((n, p)) > density] = 0.0
    return X


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_sparse_fit_matches_the_dense_fit(backend, task, dtype):
    sizes, loss, target = TASKS[task]
    X = _data()
    y = target(X)
    kw = dict(epochs=4, batch_size=24, lr=0.01, l2=1e-3, backend=backend)
    if len(sizes) > 3:
        kw["dropout"] = 0.2  # the masks depend on the update count only: the same on both
    dense = MLP(sizes, dtype=dtype, seed=3, loss=loss).fit(X, y, **kw)
    sparse = MLP(sizes, dtype=dtype, seed=3, loss=loss).fit(sp.csr_matrix(X), y, **kw)
    np.testing.assert_allclose(sparse.params, dense.params, **TOL[dtype])
    np.testing.assert_allclose(sparse.history_["loss"], dense.history_["loss"], **TOL[dtype])
    for fmt in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_array):
        np.testing.assert_allclose(sparse.decision_function(fmt(X)), sparse.decision_function(X), **TOL[dtype])
    if loss is None:  # labels
        assert np.array_equal(sparse.predict(sp.csr_matrix(X)), sparse.predict(X))
    assert sparse.score(sp.csr_array(X), y) == pytest.approx(sparse.score(X, y))


@pytest.mark.parametrize("fmt", [sp.csr_array, sp.csc_matrix, sp.coo_matrix, sp.lil_array])
def test_every_format_trains_and_the_callers_matrix_is_left_alone(fmt):
    X = _data()
    y = (X[:, 0] > 0).astype(int)
    Xs = fmt(X.astype(np.float64))
    before = Xs.copy()
    ref = MLP([30, 8, 2], seed=1).fit(sp.csr_matrix(X), y, epochs=3)  # float32: X is cast for both
    net = MLP([30, 8, 2], seed=1).fit(Xs, y, epochs=3)
    np.testing.assert_array_equal(net.params, ref.params)
    assert Xs.format == before.format and Xs.dtype == np.float64
    assert (Xs != before).nnz == 0


def test_integer_and_boolean_values_are_cast_like_a_dense_x():
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.3, (120, 30))  # a bag of words
    y = (counts[:, :3].sum(1) > 0).astype(int)
    dense = MLP([30, 8, 2], dtype=np.float64, seed=0).fit(counts, y, epochs=3)
    for X in (sp.csr_matrix(counts), sp.csr_array(counts.astype(np.int32))):
        net = MLP([30, 8, 2], dtype=np.float64, seed=0).fit(X, y, epochs=3)
        np.testing.assert_allclose(net.params, dense.params, **TOL[np.float64])
    flags = MLP([30, 8, 2], dtype=np.float64, seed=0).fit(sp.csr_matrix(counts > 0), y, epochs=3)
    ref = MLP([30, 8, 2], dtype=np.float64, seed=0).fit(counts > 0, y, epochs=3)
    np.testing.assert_allclose(flags.params, ref.params, **TOL[np.float64])


def test_validation_early_stopping_sample_weight_and_resume_as_dense():
    X = _data(n=240)
    y = (X[:, 0] - X[:, 3] > 0).astype(int)
    sw = np.random.default_rng(5).random(240) + 0.5
    kw = dict(epochs=6, batch_size=32, lr=0.02, early_stopping=True, validation_fraction=0.25, tol=None,
              sample_weight=sw)
    dense = MLP([30, 10, 2], dtype=np.float64, seed=4).fit(X, y, **kw)
    sparse = MLP([30, 10, 2], dtype=np.float64, seed=4).fit(sp.csr_matrix(X), y, **kw)
    np.testing.assert_allclose(sparse.params, dense.params, **TOL[np.float64])
    np.testing.assert_allclose(sparse.history_["val_score"], dense.history_["val_score"])
    np.testing.assert_allclose(sparse.history_["val_loss"], dense.history_["val_loss"], rtol=1e-10)
    # an explicit sparse validation set, then two more epochs continuing the same fit
    val = (sp.csr_matrix(X[200:]), y[200:])
    dense = MLP([30, 10, 2], dtype=np.float64, seed=4).fit(X[:200], y[:200], epochs=2,
                                                          validation_data=(X[200:], y[200:]))
    sparse = MLP([30, 10, 2], dtype=np.float64, seed=4).fit(sp.csr_matrix(X[:200]), y[:200], epochs=2,
                                                           validation_data=val)
    np.testing.assert_allclose(sparse.history_["val_loss"], dense.history_["val_loss"], rtol=1e-10)
    dense.fit(X[:200], y[:200], epochs=2, resume=True)
    sparse.fit(sp.csr_matrix(X[:200]), y[:200], epochs=2, resume=True)
    np.testing.assert_allclose(sparse.params, dense.params, **TOL[np.float64])
    assert sparse.n_iter_ == 4


def test_cross_validate_runs_the_mlp_on_sparse_folds():
    X = _data(n=150)
    y = (X[:, 0] > 0).astype(int)
    make = lambda: MLP([30, 8, 2], dtype=np.float64, seed=0)  # noqa: E731
    sparse = cross_validate(make, sp.csr_matrix(X), y, cv=3, fit_params={"epochs": 3})
    dense = cross_validate(make, X, y, cv=3, fit_params={"epochs": 3})
    np.testing.assert_allclose(sparse["test_score"], dense["test_score"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_the_native_epoch_gets_the_faster_form_of_x(monkeypatch, dtype):
    """fit_network hands the native epoch the form of X that trains fastest
    (fastnn.sparse_input): a mostly-zero dense X at least SPARSIFY_MIN_FEATURES wide as a
    CSR copy (on the C backend only, where that was measured, for at least
    SPARSIFY_MIN_EPOCHS epochs), a sparse X at least
    SPARSE_NATIVE_DENSIFY_DENSITY non-zero densified; the weights are those of the form it
    was given, the caller's X is left as it was."""
    import fastnn.kernels as K
    from fastnn import sparse_input

    forms = []
    real_epoch = K.train_epoch

    def spy(params, grads, state, X, *a, **kw):
        forms.append("csr" if sp.issparse(X) else "dense")
        return real_epoch(params, grads, state, X, *a, **kw)

    monkeypatch.setattr(K, "train_epoch", spy)
    p = sparse_input.SPARSIFY_MIN_FEATURES
    thin = _data(n=200, p=p, density=0.15)
    y = (thin[:, 0] + thin[:, 5] > 0).astype(int)
    given = thin.copy()
    kw = dict(epochs=sparse_input.SPARSIFY_MIN_EPOCHS, batch_size=32, lr=0.01, l2=1e-4, validation_fraction=0.2,
              backend="c")

    def fit(X, **more):
        forms.clear()
        net = MLP([p, 12, 2], dtype=dtype, seed=3).fit(X, y, **dict(kw, **more))
        return net, set(forms)

    copied, seen = fit(thin)
    assert seen == {"csr"}
    np.testing.assert_array_equal(thin, given)
    with monkeypatch.context() as mp:
        mp.setattr(sparse_input, "DENSE_NATIVE_SPARSIFY_DENSITY", -1.0)
        dense, seen = fit(thin)
    assert seen == {"dense"}
    np.testing.assert_allclose(copied.params, dense.params, **TOL[dtype])
    np.testing.assert_allclose(copied.history_["val_loss"], dense.history_["val_loss"], **TOL[dtype])
    assert fit(thin, backend="numpy")[1] == {"dense"}
    assert fit(thin, epochs=sparse_input.SPARSIFY_MIN_EPOCHS - 1)[1] == {"dense"}  # too short to repay a copy
    assert fit(_data(n=200, p=p, density=0.5))[1] == {"dense"}  # denser
    assert fit(thin, fused=False)[1] == set()  # the kernel-by-kernel loop takes X as it is

    half = _data(n=200, p=p, density=0.5)
    densified, seen = fit(sp.csr_matrix(half))
    assert seen == {"dense"}
    np.testing.assert_allclose(densified.params, fit(half)[0].params, **TOL[dtype])
    assert fit(sp.csr_matrix(thin))[1] == {"csr"}
    with monkeypatch.context() as mp:
        mp.setattr(sparse_input, "SPARSE_DENSIFY_MAX_BYTES", 0)  # the dense copy would be too big
        assert fit(sp.csr_matrix(half))[1] == {"csr"}


def test_narrow_mostly_zero_x_trains_dense(monkeypatch):
    """Narrower than SPARSIFY_MIN_FEATURES, a mostly-zero dense X is not copied to CSR."""
    import fastnn.kernels as K
    from fastnn import sparse_input

    forms = []
    real_epoch = K.train_epoch
    monkeypatch.setattr(K, "train_epoch", lambda *a, **kw: forms.append(sp.issparse(a[3])) or real_epoch(*a, **kw))
    p = sparse_input.SPARSIFY_MIN_FEATURES - 1
    X = _data(n=100, p=p, density=0.1)
    MLP([p, 4, 2], seed=0).fit(X, (X[:, 0] > 0).astype(int), epochs=sparse_input.SPARSIFY_MIN_EPOCHS, backend="c")
    assert forms and not any(forms)


def test_only_a_sample_of_a_clearly_dense_x_is_counted(monkeypatch):
    """native_form counts every non-zero of X (kernels.dense_to_csr's first pass) only when
    DENSITY_SAMPLE_ROWS rows spread over X are at most DENSITY_SAMPLE_MARGIN times
    DENSE_NATIVE_SPARSIFY_DENSITY non-zero; the count then decides: copied at or below the
    density, else X as it is."""
    import fastnn.kernels as K
    from fastnn import sparse_input as si

    calls = []
    real = K.dense_to_csr
    monkeypatch.setattr(K, "dense_to_csr", lambda x, **kw: calls.append(kw["max_nnz"]) or real(x, **kw))
    p = si.SPARSIFY_MIN_FEATURES
    limit = si.DENSE_NATIVE_SPARSIFY_DENSITY
    n = 4 * si.DENSITY_SAMPLE_ROWS
    thin, dense = _data(n=n, p=p, density=0.5 * limit), _data(n=n, p=p, density=2.5 * limit)
    near = _data(n=n, p=p, density=0.5 * limit)
    near[1::2] = _data(n=n // 2, p=p, density=1.8 * limit, seed=1)  # sampled rows (every 4th) 0.5x, all 1.15x
    assert si.native_form(dense, np.float64, "c", epochs=si.SPARSIFY_MIN_EPOCHS) is dense
    assert calls == []  # its sample was enough
    assert si.native_form(near, np.float64, "c", epochs=si.SPARSIFY_MIN_EPOCHS) is near
    assert calls == [si._max_nnz(near)]  # counted, then refused: X as it is
    copy = si.native_form(thin, np.float64, "c", epochs=si.SPARSIFY_MIN_EPOCHS)
    assert sp.issparse(copy) and np.array_equal(copy.toarray(), thin) and len(calls) == 2
    assert not si.sparsify(near, si.SPARSIFY_MIN_EPOCHS) and si.sparsify(thin, si.SPARSIFY_MIN_EPOCHS)


def test_refusals_name_the_argument():
    X = _data()
    y = (X[:, 0] > 0).astype(int)
    net = MLP([30, 8, 2], seed=0)
    with pytest.raises(ValueError, match="fused=False.*dense X: pass X.toarray"):
        net.fit(sp.csr_matrix(X), y, fused=False)
    assert net.train_state_ is None  # nothing was trained
    with pytest.raises(ValueError, match=r"X must have shape \(n, 30\), got \(160, 29\)"):
        net.fit(sp.csr_matrix(X[:, :29]), y)
    bad = sp.csr_matrix(X)
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.fit(bad, y)
    huge = sp.csr_matrix(X) * 1e300
    with pytest.raises(ValueError, match="beyond float32's range"):
        net.fit(huge, y)
    with pytest.raises(TypeError, match="X must be numeric, got dtype complex128"):
        net.fit(sp.csr_matrix(X.astype(complex)), y)
    with pytest.raises(ValueError, match="X has no rows"):
        net.fit(sp.csr_matrix((0, 30)), y[:0])
    with pytest.raises(ValueError, match="different lengths: 160 and 159"):
        net.fit(sp.csr_matrix(X), y[:-1])
    net.fit(sp.csr_matrix(X), y, epochs=1)
    with pytest.raises(ValueError, match=r"X_val must have shape \(n, 30\)"):
        net.fit(X, y, epochs=1, validation_data=(sp.csr_matrix(X[:, :5]), y))
    assert net.predict(sp.csr_matrix((0, 30))).shape == (0,)


def test_sequential_predict_takes_sparse_x_through_a_dense_first_layer():
    X = _data(n=40)
    net = Sequential([Dense(30, 6, "tanh"), Dropout(0.3), Dense(6, 2)], dtype=np.float64, seed=0)
    np.testing.assert_allclose(net.predict(sp.csr_array(X)), net.predict(X), rtol=1e-12, atol=1e-14)
    with pytest.raises(TypeError, match="x has dtype float32 but the network is float64"):
        net.predict(sp.csr_matrix(X.astype(np.float32)))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 30\)"):
        net.predict(sp.csr_matrix(X[:, :3]))
    first_dropout = Sequential([Dropout(0.1), Dense(30, 2)], dtype=np.float64, seed=0)
    with pytest.raises(TypeError, match="a sparse x needs a Dense first layer"):
        first_dropout.predict(sp.csr_matrix(X))


def _write_svmlight(path, X, y):
    from sklearn.datasets import dump_svmlight_file

    dump_svmlight_file(X, y, str(path), zero_based=False)


def test_load_file_reads_svmlight_as_csr(tmp_path):
    X = _data(n=50)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    _write_svmlight(tmp_path / "d.svm", X, y)
    Xs, ys = load_file(tmp_path / "d.svm", dtype=np.float64)
    assert sp.issparse(Xs) and Xs.format == "csr" and Xs.dtype == np.float64
    # a trailing all-zero column is not in the file: the width is the largest index stored
    np.testing.assert_allclose(Xs.toarray(), X[:, :Xs.shape[1]], rtol=1e-15)
    assert ys.dtype == np.int64 and ys.tolist() == y.tolist()
    X32, _ = load_file(tmp_path / "d.svm")
    assert X32.dtype == np.float32
    (tmp_path / "bad.libsvm").write_text("1 1:0.5 3:2\n0 2:x\n")
    with pytest.raises(ValueError, match=r"bad.libsvm: not a valid svmlight / LIBSVM file \(.*'x'"):
        load_file(tmp_path / "bad.libsvm")
    (tmp_path / "nan.svmlight").write_text("1 1:0.5 3:2\n0 2:1\n1 1:nan\n")
    with pytest.raises(ValueError, match="nan.svmlight: data row 3 holds nan"):
        load_file(tmp_path / "nan.svmlight")
    (tmp_path / "big.svm").write_text("1 1:1e300\n0 2:1\n")
    with pytest.raises(ValueError, match="beyond float32's range"):
        load_file(tmp_path / "big.svm")
    assert load_file(tmp_path / "big.svm", dtype=np.float64)[0].max() == 1e300
    with pytest.raises(ValueError, match="target column .* does not apply"):
        load_file(tmp_path / "d.svm", target=0)


def test_cli_trains_an_svmlight_file_sparse(tmp_path, capsys):
    X = _data(n=200)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = tmp_path / "text.svm"
    _write_svmlight(path, X, y)
    assert cli_main(["train", "--data", str(path), "--epochs", "3", "-q", "--hidden", "8",
                     "-o", str(tmp_path / "m.fnn")]) == 0
    out = capsys.readouterr().out
    assert "text.svm: 150 train / 50 test rows" in out and "test accuracy" in out
    assert cli_main(["train", "--data", str(path), "--no-fused", "-q"]) == 2
    assert "--no-fused runs the kernel-by-kernel loop" in capsys.readouterr().err
