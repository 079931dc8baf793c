"""``fastnn predict``: a saved model applied to CSV / NPY / NPZ / svmlight files and embedded
sets; the CSV it writes reads back to the model's own predictions (labels, probabilities,
regression values), scores when the data has targets, and the refusals."""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn.cli import main as cli_main
from fastnn.datasets import load_embedded, load_file
from fastnn.mlp import MLP


def _read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    X, y = load_embedded("digits")
    net = MLP([64, 16, 10], seed=0).fit(X, y, epochs=3)
    path = tmp_path_factory.mktemp("m") / "digits.fnn"
    net.save(path)
    return net, path, X, y


def test_labels_and_probabilities_read_back_exactly(digits_model, tmp_path, capsys):
    net, model, X, y = digits_model
    np.savetxt(tmp_path / "x.csv", X[:50], delimiter=",")  # features only: every column is one
    out = tmp_path / "pred.csv"
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "x.csv"), "-o", str(out)]) == 0
    report = capsys.readouterr().out
    assert "x.csv: 50 rows predicted" in report and "accuracy" not in report  # no targets, no score
    header, rows = _read(out)
    assert header == ["prediction"] and [int(r[0]) for r in rows] == net.predict(X[:50]).tolist()
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "x.csv"), "--proba", "-o", str(out)]) == 0
    header, rows = _read(out)
    assert header == [str(c) for c in net.classes_]
    np.testing.assert_array_equal(np.array(rows, dtype=np.float32), net.predict_proba(X[:50]))


def test_targets_are_scored_stdout_carries_only_the_csv(digits_model, tmp_path, capsys):
    net, model, X, y = digits_model
    table = tmp_path / "xy.csv"
    np.savetxt(table, np.column_stack([y, X]), delimiter=",", header="label," + ",".join(f"f{j}" for j in range(64)),
               comments="")
    assert cli_main(["predict", str(model), "--data", str(table), "--target", "label"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "prediction" and len(out.splitlines()) == len(y) + 1
    assert f"accuracy: {net.score(X, y):.4f}" in err
    assert cli_main(["predict", str(model), "--data", "digits"]) == 0  # an embedded set: its own targets
    assert f"accuracy: {net.score(X, y):.4f}" in capsys.readouterr().err
    np.savez(tmp_path / "d.npz", X=X[:20], y=np.full(20, 99))  # placeholder labels: predictions still stand
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "d.npz")]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 21 and "accuracy: not computed (y holds labels not seen in fit)" in err


def test_regression_values_and_sparse_svmlight(tmp_path, capsys):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 12))
    X[rng.random(X.shape) > 0.3] = 0
    X[:, -1] = 0  # the last feature never appears in the file: its width comes from the model
    t = X[:, :2] @ np.array([[1.0, 2.0], [-1.0, 0.5]])
    net = MLP([12, 8, 2], loss="mse", dtype=np.float64, seed=0).fit(sp.csr_matrix(X), t, epochs=4)
    net.save(tmp_path / "r.fnn")
    dump_svmlight_file(X, np.zeros(80), str(tmp_path / "x.svm"), zero_based=False)
    out = tmp_path / "r.csv"
    assert cli_main(["predict", str(tmp_path / "r.fnn"), "--data", str(tmp_path / "x.svm"), "-o", str(out)]) == 0
    header, rows = _read(out)
    assert header == ["output0", "output1"]
    # (the file holds X's values to 16 digits: the predictions are of the values it holds)
    Xf, _ = load_file(tmp_path / "x.svm", dtype=np.float64, n_features=12)
    np.testing.assert_array_equal(np.array(rows, dtype=np.float64), net.predict(Xf))
    assert "R^2: not computed" in capsys.readouterr().out  # one label column for two outputs
    assert cli_main(["predict", str(tmp_path / "r.fnn"), "--data", str(tmp_path / "x.svm"), "--proba"]) == 2
    assert "--proba: " in (err := capsys.readouterr().err) and "is a regression model" in err


def test_binary_text_labels(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    y = np.where(X[:, 0] > 0, "spam", "ham")
    net = MLP([3, 4, 1], seed=0).fit(X, y, epochs=5, lr=0.05)
    net.save(tmp_path / "b.fnn")
    np.save(tmp_path / "x.npy", X)
    assert cli_main(["predict", str(tmp_path / "b.fnn"), "--data", str(tmp_path / "x.npy"), "-o",
                     str(tmp_path / "p.csv")]) == 0
    _, rows = _read(tmp_path / "p.csv")
    assert [r[0] for r in rows] == net.predict(X).tolist()
    assert cli_main(["predict", str(tmp_path / "b.fnn"), "--data", str(tmp_path / "x.npy"), "--proba", "-o",
                     str(tmp_path / "p.csv")]) == 0
    header, rows = _read(tmp_path / "p.csv")
    assert header == ["ham", "spam"]
    np.testing.assert_array_equal(np.array(rows, dtype=np.float32), net.predict_proba(X))


def test_refusals(digits_model, tmp_path, capsys):
    net, model, X, y = digits_model
    np.savetxt(tmp_path / "xy.csv", np.column_stack([X[:10], y[:10]]), delimiter=",")
    cases = [
        (["--data", str(tmp_path / "xy.csv")], "has 65 feature columns, the model takes 64 (if one column is the "
                                                "target, name it with --target)"),
        (["--data", str(tmp_path / "nope.csv")], "--data: no such file or embedded data set"),
        (["--data", "digits", "--target", "0"], "--target applies to CSV / NPY files"),
        (["--data", "digits", "-o", str(model)], "is the model file; writing there would overwrite it"),
        (["--data", "digits", "-o", str(tmp_path / "no" / "p.csv")], "--output: directory"),
    ]
    for argv, message in cases:
        assert cli_main(["predict", str(model), *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert cli_main(["predict", str(tmp_path / "none.fnn"), "--data", "digits"]) == 2
    assert "model: no such file" in capsys.readouterr().err
    MLP([64, 8, 10]).save(tmp_path / "unfitted.fnn")
    assert cli_main(["predict", str(tmp_path / "unfitted.fnn"), "--data", "digits"]) == 2
    assert "saved before it was fitted" in capsys.readouterr().err
    # the data file itself is never the output
    data = tmp_path / "x.csv"
    np.savetxt(data, X[:5], delimiter=",")
    before = data.read_bytes()
    assert cli_main(["predict", str(model), "--data", str(data), "-o", str(data)]) == 2
    assert data.read_bytes() == before


def test_load_file_without_a_target_column(tmp_path):
    table = np.arange(12.0).reshape(4, 3)
    np.savetxt(tmp_path / "a.csv", table, delimiter=",", header="a,b,c", comments="")
    np.save(tmp_path / "a.npy", table)
    np.savez(tmp_path / "a.npz", table)
    for name in ("a.csv", "a.npy", "a.npz"):
        X, y = load_file(tmp_path / name, dtype=np.float64, has_target=False)
        assert y is None and np.array_equal(X, table), name
    (tmp_path / "t.csv").write_text("1,2,cat\n3,4,dog\n")
    with pytest.raises(ValueError, match="'dog' is not a number .*read without a target column"):
        load_file(tmp_path / "t.csv", has_target=False)
    (tmp_path / "one.csv").write_text("1.5\n2.5\n")  # a single feature is a table too
    assert load_file(tmp_path / "one.csv", dtype=np.float64, has_target=False)[0].tolist() == [[1.5], [2.5]]
    with pytest.raises(ValueError, match="has_target is False"):
        load_file(tmp_path / "a.csv", target="c", has_target=False)


def _table(path, X, y, names):
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join(names), comments="", fmt="%.8g")


def test_trained_column_names_match_a_reordered_file(tmp_path, capsys):
    # `fastnn train` keeps the CSV header's names with the model; predict puts a file's columns in
    # the model's order by name (the same predictions), and names what does not match
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] + 0.5 * X[:, 2] > 0).astype(int)
    _table(tmp_path / "train.csv", X, y, ["a", "b", "c", "label"])
    model = tmp_path / "m.fnn"
    assert cli_main(["train", "--data", str(tmp_path / "train.csv"), "--target", "label", "--epochs", "5",
                     "--quiet", "-o", str(model)]) == 0
    assert MLP.load(model).feature_names_in_ == ["a", "b", "c"]
    capsys.readouterr()
    _table(tmp_path / "same.csv", X, y, ["a", "b", "c", "label"])
    _table(tmp_path / "moved.csv", X[:, [2, 0, 1]], y, ["c", "a", "b", "label"])
    outs = []
    for f in ("same", "moved"):
        out = tmp_path / f"{f}.pred"
        assert cli_main(["predict", str(model), "--data", str(tmp_path / f"{f}.csv"), "--target", "label",
                         "-o", str(out)]) == 0
        outs.append(_read(out))
    assert outs[0] == outs[1]
    assert "matched to the model's inputs by name" in capsys.readouterr().err
    _table(tmp_path / "short.csv", X[:, :2], y, ["a", "c", "label"])
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "short.csv"), "--target", "label"]) == 2
    assert "lacks the model's input column(s) 'b'" in capsys.readouterr().err
    _table(tmp_path / "extra.csv", np.column_stack([X, X[:, 0]]), y, ["a", "b", "c", "id", "label"])
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "extra.csv"), "--target", "label"]) == 2
    assert "not trained on: 'id'" in capsys.readouterr().err
    # no header: the model's order, as before
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",", fmt="%.8g")
    assert cli_main(["predict", str(model), "--data", str(tmp_path / "plain.csv"), "-o", str(tmp_path / "p")]) == 0
    assert _read(tmp_path / "p")[1] == outs[0][1]


def test_feature_names_round_trip_and_load_file_names(tmp_path):
    net = MLP([2, 3, 1], seed=0, loss="mse").fit(np.ones((8, 2)), np.arange(8.0), epochs=1)
    assert net.feature_names_in_ is None
    net.feature_names_in_ = ["x", "y"]
    net.save(tmp_path / "m.fnn")
    assert MLP.load(tmp_path / "m.fnn").feature_names_in_ == ["x", "y"]
    net.feature_names_in_ = ["x"]  # not one per input: refused, not saved to mislead predict
    with pytest.raises(ValueError, match="feature_names_in_ must be None or 2 str"):
        net.save(tmp_path / "bad.fnn")
    (tmp_path / "h.csv").write_text("p,target,q\n1,0,2\n3,1,4\n")
    X, y, names = load_file(tmp_path / "h.csv", target="target", return_names=True)
    assert names == ["p", "q"] and X.tolist() == [[1, 2], [3, 4]] and y.tolist() == [0, 1]
    (tmp_path / "t.csv").write_text("p,q\n1,a\n3,b\n")  # the row path (text labels) names them too
    assert load_file(tmp_path / "t.csv", return_names=True)[2] == ["p"]
    (tmp_path / "n.csv").write_text("1,0,2\n3,1,4\n")
    assert load_file(tmp_path / "n.csv", return_names=True)[2] is None
    assert len(load_file(tmp_path / "n.csv")) == 2  # (X, y) unless asked
    np.save(tmp_path / "a.npy", np.ones((3, 3)))
    assert load_file(tmp_path / "a.npy", return_names=True)[2] is None


def test_a_model_fitted_on_a_dataframe_matches_a_reordered_csv_by_name(tmp_path, capsys):
    """A model fitted in Python on a DataFrame keeps its column names through save/load, and
    `fastnn predict` puts a CSV's columns in its order by name (taken by position, a reordered
    file predicted silently wrong)."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)) * [1.0, 5.0, 0.2]
    y = (X[:, 0] - 0.2 * X[:, 1] > 0).astype(int)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    net = MLP([3, 8, 2], seed=0).fit(df, y, epochs=20, lr=1e-2)
    net.save(tmp_path / "m.fnn")
    _table(tmp_path / "moved.csv", X[:, [2, 0, 1]], y, ["c", "a", "b", "label"])
    out = tmp_path / "p.csv"
    assert cli_main(["predict", str(tmp_path / "m.fnn"), "--data", str(tmp_path / "moved.csv"), "--target", "label",
                     "-o", str(out)]) == 0
    report = capsys.readouterr()
    assert "matched to the model's inputs by name" in report.err
    assert [int(r[0]) for r in _read(out)[1]] == net.predict(df).tolist()
    assert f"accuracy: {net.score(df, y):.4f}" in report.out
    # a file without names is taken in the model's order, without the library's warning about it
    np.save(tmp_path / "x.npy", X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli_main(["predict", str(tmp_path / "m.fnn"), "--data", str(tmp_path / "x.npy"), "-o", str(out)]) == 0


def test_text_and_complex_data_files_are_refused(digits_model, tmp_path, capsys):
    """A complex .npy predicted on its real parts (a ComplexWarning, exit 0); a text one with
    --target was "could not convert string to float", naming no file."""
    _, model, X, _ = digits_model
    np.save(tmp_path / "c.npy", X[:5].astype(np.float64) + 1j)
    np.save(tmp_path / "s.npy", X[:5, :3].astype(str))
    for name, argv, what in [("c.npy", [], "complex numbers (complex128)"), ("s.npy", ["--target", "2"], "text (<U")]:
        assert cli_main(["predict", str(model), "--data", str(tmp_path / name), *argv]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"fastnn predict: {tmp_path / name}: the array holds {what}")
        assert err.endswith("expected real numbers\n") and err.count("\n") == 1


@pytest.mark.parametrize("command", [["train", "--data", "iris", "--epochs", "2", "-q", "--hidden", "4"],
                                     ["predict", "MODEL", "--data", "digits", "--proba"],
                                     ["profile", "--epochs", "1", "--hidden", "4", "--no-peak"]])
def test_a_closed_stdout_ends_every_subcommand_quietly(digits_model, command):
    """`fastnn train -o m.fnn | head -1` printed "fastnn train: [Errno 32] Broken pipe" and exited 2:
    the subcommands' own `except OSError` caught the BrokenPipeError before cli.main's quiet handler."""
    import os
    import subprocess
    import sys

    import fastnn

    argv = [str(digits_model[1]) if a == "MODEL" else a for a in command]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [
        os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__))), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1 and err == ""


def test_more_threads_than_cores_warns_once_and_keeps_the_count(digits_model, tmp_path, capsys):
    import fastnn
    from fastnn.threads import usable_cores

    many, before = usable_cores() + 1, fastnn.get_num_threads()
    try:
        assert cli_main(["predict", str(digits_model[1]), "--data", "digits", "--threads", str(many),
                         "-o", str(tmp_path / "p.csv")]) == 0
        assert fastnn.get_num_threads() == many
    finally:
        fastnn.set_num_threads(before)
    err = capsys.readouterr().err
    assert err == (f"fastnn predict: warning: --threads {many}, but only {usable_cores()} "
                   f"core{'s' * (usable_cores() != 1)} usable here; threads beyond that share cores and usually "
                   "run slower\n")
