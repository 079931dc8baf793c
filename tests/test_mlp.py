"""fastnn.MLP: task inference, predictions, scores, options, errors, the CLI."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.cli import main as cli_main
from fastnn.datasets import load_embedded, load_file, train_test
from fastnn.mlp import MLP, NotFittedError


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 4)) * 4
    y = rng.integers(0, 3, 300)
    X = centers[y] + rng.standard_normal((300, 4))
    return X, y


def test_multiclass_predictions_probabilities_and_score(blobs):
    X, y = blobs
    net = MLP([4, 16, 3], seed=0).fit(X, y, epochs=10, lr=1e-2)
    P = net.predict_proba(X)
    assert P.shape == (300, 3) and P.dtype == np.float32
    np.testing.assert_allclose(P.sum(1), 1, rtol=1e-5)
    assert np.array_equal(net.predict(X), net.classes_[P.argmax(1)])
    assert net.score(X, y) == np.mean(net.predict(X) == y) > 0.9
    assert net.loss_ == net.history_["loss"][-1] and net.n_iter_ == 10


def test_string_labels_and_binary_sigmoid(blobs):
    X, y = blobs
    names = np.array(["a", "b", "c"])[y]
    net = MLP([4, 8, 3], seed=0).fit(X, names, epochs=5, lr=1e-2)
    assert set(net.predict(X)) <= {"a", "b", "c"} and net.score(X, names) > 0.8
    yb = np.where(y == 0, "pos", "neg")
    bnet = MLP([4, 8, 1], seed=0).fit(X, yb, epochs=10, lr=1e-2)
    assert bnet.loss_name_ == "sigmoid_bce" and list(bnet.classes_) == ["neg", "pos"]
    P = bnet.predict_proba(X)
    assert P.shape == (300, 2) and np.allclose(P.sum(1), 1)
    assert bnet.score(X, yb) > 0.9


def test_multilabel_with_sigmoid_bce(blobs):
    X, y = blobs
    Y = np.stack([y == 0, y == 1], axis=1).astype(int)
    net = MLP([4, 8, 2], seed=0, loss="sigmoid_bce").fit(X, Y, epochs=10, lr=1e-2)
    assert net.predict(X).shape == (300, 2) and net.predict_proba(X).shape == (300, 2)
    assert net.score(X, Y) > 0.8


def test_regression_mse(blobs):
    X, _ = blobs
    t = X @ np.array([0.5, -1.0, 0.2, 0.0]) / 4
    net = MLP([4, 16, 1], seed=0, loss="mse", dtype=np.float64).fit(X, t, epochs=30, lr=1e-2)
    pred = net.predict(X)
    assert pred.shape == (300,) and net.score(X, t) > 0.9
    with pytest.raises(AttributeError, match="classifiers"):
        net.predict_proba(X)
    multi = MLP([4, 8, 2], seed=0, loss="mse").fit(X, np.stack([t, -t], 1), epochs=3)
    assert multi.predict(X).shape == (300, 2)


def test_labels_subset_of_outputs_keep_the_unit_map(blobs):
    X, y = blobs
    keep = y != 1
    net = MLP([4, 8, 3], seed=0).fit(X[keep], y[keep], epochs=2)
    assert list(net.classes_) == [0, 1, 2]


def test_regularisation_options_run(blobs):
    X, y = blobs
    for kw in ({"l2": 1e-2}, {"alpha": 1e-2}, {"l1": 1e-3}, {"weight_decay": 1e-2, "optimizer": "adamw"},
               {"dropout": 0.3}, {"optimizer": "momentum", "momentum": 0.5, "lr": 0.05},
               {"optimizer": "adam", "betas": (0.8, 0.99), "eps": 1e-7}, {"optimizer": "rmsprop", "rho": 0.8},
               {"schedule": "cosine", "schedule_kwargs": {"t_max": 3}}, {"shuffle": False}):
        net = MLP([4, 8, 3], seed=0).fit(X, y, epochs=3, **kw)
        assert np.isfinite(net.params).all() and net.score(X, y) > 0.3, kw
    big_l1 = MLP([4, 8, 3], seed=0).fit(X, y, epochs=2, l1=10.0, optimizer="sgd", lr=0.1)
    assert np.all(big_l1.params[: big_l1.layout.n_weights] == 0)


def test_same_seed_same_model(blobs):
    X, y = blobs
    a = MLP([4, 8, 3], seed=7).fit(X, y, epochs=2, dropout=0.1)
    b = MLP([4, 8, 3], seed=7).fit(X, y, epochs=2, dropout=0.1)
    np.testing.assert_array_equal(a.params, b.params)
    c = MLP([4, 8, 3], seed=7).fit(X, y, epochs=2, dropout=0.1, seed=8)
    assert not np.array_equal(a.params, c.params)


def test_input_errors(blobs):
    X, y = blobs
    net = MLP([4, 8, 3], seed=0)
    with pytest.raises(NotFittedError):
        net.predict(X)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        net.fit(X[:, :3], y)
    with pytest.raises(ValueError, match="different lengths"):
        net.fit(X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        net.fit(np.where(X > 3, np.nan, X), y)
    with pytest.raises(ValueError, match="classes"):
        MLP([4, 8, 2]).fit(X, y)
    with pytest.raises(ValueError, match="loss='mse'"):
        MLP([4, 8, 1]).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, y, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        net.fit(X, y, batch_size="half")
    with pytest.raises(ValueError, match="dropout"):
        net.fit(X, y, dropout=1.0)
    with pytest.raises(ValueError, match="optimizer"):
        net.fit(X, y, optimizer="newton")
    with pytest.raises(ValueError, match="activation"):
        MLP([4, 3], activation="softmax")
    with pytest.raises(TypeError, match="dtype"):
        MLP([4, 3], dtype=np.float16)
    net.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="not seen"):
        net.score(X, y + 5)


def test_cli_train_digits_default_and_file(tmp_path, capsys):
    assert cli_main(["train", "--epochs", "2", "-q", "--hidden", "16", "-o", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out
    assert "MLP 64-16-10" in out and "test accuracy" in out and "samples/s" in out and "ms/epoch" in out
    assert (tmp_path / "m.npz").exists()
    X, y = load_embedded("iris", np.float64)
    csv = tmp_path / "iris.csv"
    np.savetxt(csv, np.column_stack([y, X]), delimiter=",", header="label,a,b,c,d", comments="")
    assert cli_main(["train", "--data", str(csv), "--target", "label", "--epochs", "3", "-q", "--lr", "0.01",
                     "--backend", "numpy", "--threads", "1", "--dtype", "float64"]) == 0
    assert "MLP 4-128-64-3" in capsys.readouterr().out
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    Xl, yl = load_file(tmp_path / "d.npy")
    np.testing.assert_allclose(Xl, X, rtol=1e-6)  # (joined by `and`, the label check never ran: None is falsy)
    np.testing.assert_array_equal(yl, y)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    Xz, yz = load_file(tmp_path / "d.npz", dtype=np.float64)
    np.testing.assert_array_equal(Xz, X)
    assert cli_main(["train", "--data", str(tmp_path / "nope.csv")]) == 2


def test_target_given_for_an_npz_with_X_and_y_is_refused(tmp_path, capsys):
    # y is the target there: `fastnn train --data d.npz --target 3` trained on y without a word about --target
    X, y = load_embedded("iris", np.float64)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    with pytest.raises(ValueError, match=r"d.npz: holds arrays 'X' and 'y' \(y is the target\), so a target column"):
        load_file(tmp_path / "d.npz", target=0)
    assert cli_main(["train", "-q", "--no-warmup", "--data", str(tmp_path / "d.npz"), "--target", "3"]) == 2
    assert "target column ('3') does not apply" in capsys.readouterr().err
    assert load_file(tmp_path / "d.npz")[1].tolist() == y.tolist()  # no target: y, as before


def test_load_csv_pandas_range_header_is_a_header(tmp_path):
    # pd.DataFrame(array).to_csv(index=False) names the columns 0..n-1: that row was read as data,
    # an extra sample [0, 1, ..., n-2] with target n-1
    p = tmp_path / "d.csv"
    p.write_text("0,1,2\n0.5,1.5,7\n2.5,3.5,8\n")
    X, y = load_file(p, dtype=np.float64)
    np.testing.assert_array_equal(X, [[0.5, 1.5], [2.5, 3.5]])
    assert y.tolist() == [7, 8] and load_file(p, target="0")[1].tolist() == [0.5, 2.5]
    p.write_text("0,1\n1,0\n")  # two columns: as likely a data row, kept as one
    assert load_file(p)[1].tolist() == [1, 0]


def test_load_csv_text_labels_and_precise_errors(tmp_path):
    """A CSV's target may hold class names; a bad cell is reported by line and column."""
    good = tmp_path / "g.csv"
    good.write_text("a,b,kind\n1,2,cat\n3,4,dog\n\n5,6.5,cat\n")
    X, y = load_file(good, dtype=np.float64)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6.5]])
    assert y.tolist() == ["cat", "dog", "cat"]
    with pytest.raises(ValueError, match=r"line 2, column 'kind': 'cat' is not a number"):
        load_file(good, target="a")  # text is allowed in the target column only
    cases = {
        "a,b,y\n1,,0\n": r"line 2, column 'b': '' is empty \(missing values are not supported\)",
        "a,b,y\n1,2\n3,4,1\n": r"line 2 has 2 columns, expected 3",
        "1,2,0\n1,x,1\n": r"line 2, column 1: 'x' is not a number \(only the target column, 2, may hold text\)",
        "kind,a,b\ncat,1,2\ndog,3,4\n": r"line 2, column 'kind': 'cat' is not a number \(only the target column, 'b',",
        "a,b,y\n1,2,0\nNA,4,1\n": r"line 3, column 'a': 'NA' is a missing value \(missing values are not supported\)",
        "a;b;y\n1;2,5;0\n": r"line 2, column 'b': '2,5' is not a number \(decimals are read with a point, not a comma\)",
        "a,b,y\n1,2,\n3,4,cat\n": r"line 2: the target is empty",
        "a,b,y\n": r"no data rows",  # was: expected a table with at least 2 columns, got shape \(0, 1\)
        "": r"no data rows",
    }
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("a,b,y\n1,2,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv: not UTF-8 text \(it holds byte 0xe9\)"):
        load_file(latin1)  # was: 'utf-8' codec can't decode byte 0xe9 ... (no file name)
    for i, (text, msg) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_text(text)
        with pytest.raises(ValueError, match=msg):
            load_file(bad)


def test_load_csv_nan_and_inf_cells_are_placed(tmp_path, capsys):
    """'nan' / 'inf' cells are named by line and column as 'NA' or an empty cell is; the numeric fast path read
    them as numbers, and the fit then said "X contains NaN or infinity" of no place in the file."""
    cases = {
        "a,b,y\n1,2,0\n3,nan,1\n": r"line 3, column 'b': 'nan' is NaN \(missing values are not supported\)",
        "1 2 0\n3 -inf 1\n": r"line 2, column 1: '-inf' is not a finite number",
        "a;b;y\n1;2;0\n3;4;NaN\n": r"line 3: the target 'NaN' is NaN \(missing values are not supported\)",
        "a,b,kind\n1,inf,cat\n3,4,dog\n": r"line 2, column 'b': 'inf' is not a finite number",  # the row path
    }
    for i, (text, msg) in enumerate(cases.items()):
        bad = tmp_path / f"bad{i}.csv"
        bad.write_text(text)
        with pytest.raises(ValueError, match=rf"bad{i}.csv: {msg}"):
            load_file(bad)
    assert cli_main(["train", "-q", "--data", str(tmp_path / "bad0.csv")]) == 2
    assert "bad0.csv: line 3, column 'b'" in capsys.readouterr().err


def test_load_file_npy_npz_that_are_not_name_the_file(tmp_path, capsys):
    """A text file or a pickle named .npy (or .npz): the file and the expected format, not numpy's allow_pickle advice."""
    import pickle

    (tmp_path / "text.npy").write_text("a,b,y\n1,2,0\n")
    (tmp_path / "pickle.npy").write_bytes(pickle.dumps([[1, 2, 0]]))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npz").write_text("a,b,y\n1,2,0\n")
    np.save(tmp_path / "array.npy", np.zeros((4, 3)))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")  # an .npy named .npz: was a TypeError traceback
    for name, fmt in [("text.npy", "np.save"), ("pickle.npy", "np.save"), ("empty.npy", "np.save"),
                      ("text.npz", "np.savez"), ("array.npz", "np.savez")]:
        with pytest.raises(ValueError, match=rf"{name}: not an \.np[yz] file \(expected NumPy's {fmt} format\)$"):
            load_file(tmp_path / name)
    assert cli_main(["train", "-q", "--data", str(tmp_path / "text.npy")]) == 2
    err = capsys.readouterr().err
    assert "text.npy: not an .npy file" in err and "allow_pickle" not in err


def test_cli_without_a_subcommand_is_a_usage_error(capsys):
    """A bare `fastnn`: usage and one error line on stderr, exit 2 (it printed the whole help to stdout, exit 2)."""
    with pytest.raises(SystemExit) as exc:
        cli_main([])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: fastnn") and "fastnn: error: the following arguments are required" in err


def test_cli_help_is_plain_text(capsys):
    """`-h` descriptions come from docstrings; their reStructuredText ``literals`` are not shown as such."""
    for argv in ([], ["info"], ["train"], ["predict"], ["bench"], ["profile"]):
        with pytest.raises(SystemExit) as exc:
            cli_main([*argv, "-h"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "usage: fastnn" in out and "``" not in out
        if not argv:
            assert "The fastnn command: fastnn info | train | predict | bench | profile." in out


def test_cli_train_piped_into_head_saves_the_model(tmp_path):
    """`fastnn train -o m.fnn | head -1`: no BrokenPipeError traceback, and the model is still saved."""
    import os
    import subprocess
    import sys

    model = tmp_path / "m.fnn"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [
        os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__))), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "train", "--epochs", "3", "-q", "--hidden", "16",
                             "-o", str(model)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().startswith(b"digits:")
    proc.stdout.close()  # the reader goes away before the report is printed
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err
    assert fastnn.load(model).sizes == [64, 16, 10]


def test_load_csv_byte_order_mark(tmp_path):
    """A UTF-8 BOM (Excel's "CSV UTF-8") is not part of the first cell: no row is taken for a header."""
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2,0\n3,4,1\n5,6,0\n")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    X, y = load_file(bom, dtype=np.float64)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])  # was [[3, 4], [5, 6]]: row 1 silently lost
    assert y.tolist() == [0, 1, 0]
    named = tmp_path / "named.csv"
    named.write_bytes(b"\xef\xbb\xbfkind,a,b\ncat,1,2\ndog,3,4\n")
    X, y = load_file(named, target="kind", dtype=np.float64)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["cat", "dog"]


def test_load_file_values_beyond_float32(tmp_path):
    """Finite values that overflow the requested dtype are named, not left as infinities."""
    big = tmp_path / "big.csv"
    big.write_text("a,b,y\n1,2,0\n3,4e300,1\n")
    with pytest.raises(ValueError, match=r"4e\+300 \(data row 2, feature 2\) is beyond float32's range"):
        load_file(big, dtype=np.float32)
    X, _ = load_file(big, dtype=np.float64)
    assert X[1, 1] == 4e300


def test_load_csv_quoted_header_names(tmp_path):
    """Header names are unquoted as the rows' cells are, so --target takes the name as written."""
    quoted = tmp_path / "q.csv"
    quoted.write_text('"x1","x2","kind"\n1,2,"cat"\n3,4,"dog"\n')
    X, y = load_file(quoted, target="kind", dtype=np.float64)  # was: no column named 'kind' (header: ['"x1"', ...])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["cat", "dog"]
    numeric = tmp_path / "n.csv"
    numeric.write_text('"a","b","y"\n1,2,0\n3,4,1\n')
    X, y = load_file(numeric, target="a", dtype=np.float64)
    np.testing.assert_array_equal(X, [[2, 0], [4, 1]])
    assert y.tolist() == [1, 3]


def test_train_test_stratifies_class_names_as_labels():
    """Text labels are split as their integer codes are: stratified, so a rare class reaches the training set."""
    X = np.arange(40.0)[:, None]
    codes = np.array([0] * 38 + [1] * 2)
    names = np.array(["a", "b"])[codes]
    for seed in range(10):  # seed 8 put both "b" rows in the test set, and the fit saw one class
        _, _, y_codes, _ = train_test(X, codes, seed=seed)
        _, _, y_names, _ = train_test(X, names, seed=seed)
        assert y_names.tolist() == np.array(["a", "b"])[y_codes].tolist()


def test_cli_train_no_progress_bar_when_not_a_terminal(capsys):
    """Without -q, the bar is drawn on a terminal only (captured stderr is not one), as in `fastnn bench`."""
    assert cli_main(["train", "--epochs", "2", "--hidden", "8", "--no-warmup"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "epoch/s" not in err


def test_early_stopping_split_error_names_the_validation_split():
    """scikit-learn's "test_size = 1 should be ..." is about the validation split, not fastnn train's --test-size."""
    X, y = np.arange(12.0).reshape(6, 2), np.array([0, 1] * 3)
    with pytest.raises(ValueError, match=r"validation split \(validation_fraction=0.1 of 6 rows\) failed: The test_size"):
        MLP([2, 4, 1], seed=0).fit(X, y, early_stopping=True, epochs=1)


def test_batch_size_auto_is_scikit_learns_min_200_rows():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((450, 4)), rng.integers(0, 3, 450)
    runs = {}
    for bs in ("auto", 200):
        net = MLP([4, 8, 3], dtype=np.float64, seed=0)
        runs[bs] = net.fit(X, y, batch_size=bs, epochs=2, shuffle=False, tol=None).params
    np.testing.assert_array_equal(runs["auto"], runs[200])


def test_cli_train_reports_bad_input_without_traceback(tmp_path, capsys):
    csv = tmp_path / "pets.csv"
    rng = np.random.default_rng(0)
    rows = ["x1,x2,kind"] + [f"{a:.3f},{b:.3f},{'cat' if a > b else 'dog'}" for a, b in rng.random((60, 2))]
    csv.write_text("\n".join(rows) + "\n")
    assert cli_main(["train", "--data", str(csv), "--epochs", "2", "-q", "--hidden", "8"]) == 0
    assert "MLP 2-8-1" in capsys.readouterr().out  # two class names: one logistic output
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,,0\n2,3,1\n")
    counts = tmp_path / "counts.csv"  # an integral quantity reads as class labels
    counts.write_text("a,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate([3, 3, 5, 5, 7, 9, 9])))
    for argv, msg in [
        (["--data", str(bad)], "line 2, column 'b'"),
        (["--data", str(csv), "--regression"], "--regression needs a numeric target"),
        (["--data", "iris", "--target", "0"], "--target applies to CSV / NPY files"),
        # checked before training, not after it (the trained model was lost to a traceback)
        (["-o", str(tmp_path / "no-such-dir" / "m.fnn")], "--output: directory"),
        (["-o", str(tmp_path)], "is a directory"),
        (["--data", str(tmp_path)], "--data: " + str(tmp_path) + " is a directory"),  # was an IsADirectoryError
        (["--data", str(csv), "-o", str(csv)], "--output: " + str(csv) + " is the --data file"),  # was overwritten
        (["--data", str(counts)], "classes have a single row, e.g. 7; a stratified split needs two per class "
                                  "(pass --regression if the target is a quantity)"),  # was scikit-learn's list
        (["--sizes", "10,8,10"], "--sizes: the first size is the input width, 64 for digits; got 10"),
        (["--sizes", "64,8,1"], "--sizes: one output unit for the 10 classes of digits; end --sizes with 10, or pass "
                                "--regression"),  # was the fit's "pass loss='mse' for regression"
    ]:
        assert cli_main(["train", "-q", *argv]) == 2
        assert msg in capsys.readouterr().err
    assert csv.read_text().startswith("x1,x2,kind\n")
    for flag, value in [("--epochs", "0"), ("--dropout", "1"), ("--lr", "0"), ("--lr", "nan"), ("--test-size", "1"),
                        ("--batch-size", "x"), ("--threads", "0"), ("--hidden", "-5"), ("--sizes", "64,,10"),
                        ("--seed", "-3")]:
        with pytest.raises(SystemExit) as exc:
            cli_main(["train", flag, value])
        assert exc.value.code == 2
        assert f"argument {flag}: expected" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # named the fit's `activation`, not the option
        cli_main(["train", "--activation", "softmax"])
    assert exc.value.code == 2 and "argument --activation: invalid choice: 'softmax'" in capsys.readouterr().err


def test_cli_train_diverging_run_and_too_many_threads_are_one_line_errors(tmp_path, capsys):
    """A run that diverges was a TrainingDivergedError traceback; --threads 2**31 was set_num_threads'
    "n must be < 2**31", naming no option."""
    out = tmp_path / "m.fnn"
    assert cli_main(["train", "--data", "iris", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "3", "-q",
                     "--no-warmup", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn train: training diverged in epoch 1") and err.count("\n") == 1
    assert f"(--lr 1e+30; {out} was not written)" in err and not out.exists()
    assert cli_main(["train", "--threads", str(2**31)]) == 2
    assert f"fastnn train: --threads must be < 2**31, got {2**31}" in capsys.readouterr().err


def test_cli_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a command was a KeyboardInterrupt traceback from inside a kernel; nothing is saved."""
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MLP, "fit", interrupted)
    out = tmp_path / "m.fnn"
    try:
        rc = cli_main(["train", "--data", "iris", "-q", "--no-warmup", "-o", str(out)])
    except KeyboardInterrupt:  # not re-raised here: it would end the pytest session
        rc = "KeyboardInterrupt"
    assert rc == 130
    assert capsys.readouterr().err == "fastnn train: interrupted\n" and not out.exists()


def test_fit_sample_weight_fused_composed_and_repeated_rows():
    """fastnn.MLP.fit(sample_weight=...): the native and the composed epoch agree, and
    integer weights train as the rows repeated (one full batch, no shuffling)."""
    X, y = load_embedded("iris", np.float64)
    w = np.arange(len(y)) % 3  # 0, 1, 2: zero weights included
    kw = dict(epochs=4, lr=0.05, l2=1e-2, seed=0)
    nets = [MLP([4, 8, 3], seed=1, dtype=np.float64).fit(X, y, sample_weight=w, fused=f, **kw) for f in (True, False)]
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[0].history_["loss"], nets[1].history_["loss"], rtol=1e-10)
    rep = np.repeat(np.arange(len(y)), w)
    full = dict(kw, batch_size="full", shuffle=False)
    a = MLP([4, 8, 3], seed=1, dtype=np.float64).fit(X, y, sample_weight=w, **full)
    b = MLP([4, 8, 3], seed=1, dtype=np.float64).fit(X[rep], y[rep], **full)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    c = MLP([4, 8, 3], seed=1, dtype=np.float64).fit(X, y, **full)
    assert not np.allclose(a.params, c.params)  # the weights matter
    # with a held-out share (its weights leave with its rows) and in cross-validation
    MLP([4, 8, 3], seed=1).fit(X, y, sample_weight=w, early_stopping=True, epochs=3)
    res = fastnn.cross_validate(lambda: MLP([4, 8, 3], seed=0), X, y, cv=3,
                                fit_params=dict(epochs=2, sample_weight=w + 1.0))
    assert res["test_score"].shape == (3,)


@pytest.mark.parametrize("fused", [True, False])


def test_fit_sample_weight_errors(fused):
    X, y = load_embedded("iris", np.float64)
    net = MLP([4, 8, 3], seed=0)
    for bad, exc, match in [(np.ones(len(y) - 1), ValueError, r"shape \(150,\)"),
                            (-np.ones(len(y)), ValueError, ">= 0"),
                            (np.r_[np.nan, np.ones(len(y) - 1)], ValueError, "finite"),
                            (np.zeros(len(y)), ValueError, "all zero"),
                            (np.array(["a"] * len(y)), TypeError, "real numbers")]:
        with pytest.raises(exc, match=match):
            net.fit(X, y, sample_weight=bad, fused=fused)
    w = np.r_[np.zeros(32), np.ones(len(y) - 32)]  # the first batch (no shuffling) weighs nothing
    with pytest.raises(ValueError, match="sums to 0 over the rows of batch 0"):
        net.fit(X, y, sample_weight=w, batch_size=32, shuffle=False, fused=fused)


def test_fit_with_an_optimizer_instance_keeps_its_settings():
    # fit's lr default used to overwrite the instance's lr, and fit's l1 / weight_decay /
    # momentum... were dropped silently for an instance
    from fastnn.nn import SGD, Adam

    X, y = np.random.default_rng(0).standard_normal((40, 4)), np.arange(40) % 2
    opt = Adam(lr=0.05)
    assert fastnn.MLP([X.shape[1], 8, 2], seed=0).fit(X, y, optimizer=opt, epochs=1).optimizer_.lr == 0.05
    net = fastnn.MLP([X.shape[1], 8, 2], seed=0).fit(X, y, optimizer=opt, lr=0.01, epochs=1)
    assert net.optimizer_.lr == 0.01 and net.history_["lr"] == [0.01]  # an explicit lr still applies...
    assert opt.lr == 0.05  # ...to the fit's copy: it changed the caller's instance for good
    for kw in ({"l1": 0.1}, {"weight_decay": 0.1}, {"momentum": 0.5}, {"betas": (0.8, 0.9)}):
        with pytest.raises(ValueError, match="given with an Optimizer instance"):
            fastnn.MLP([X.shape[1], 8, 2], seed=0).fit(X, y, optimizer=SGD(0.1), epochs=1, **kw)
@pytest.mark.parametrize("sizes", [[4, 8, 1], [4, 8, 3]])
def test_nan_class_labels_are_rejected(sizes):
    # binary: {0, NaN} made NaN the positive class, never matched, so every target was 0
    X = np.random.default_rng(0).standard_normal((30, 4))
    y = np.where(np.arange(30) % 3 == 0, np.nan, 0.0 if sizes[-1] == 1 else np.arange(30) % 2)
    with pytest.raises(ValueError, match="y contains NaN"):
        fastnn.MLP(sizes, seed=0).fit(X, y, epochs=1)
@pytest.mark.parametrize("bad", [dict(validation_data=(np.zeros((5, 3)), np.zeros(5))),
                                 dict(early_stopping=True, validation_fraction=0.0)])
def test_a_refit_that_fails_before_training_leaves_the_model_as_it_was(bad):
    # the new label map was installed before these errors: predict then mapped the old
    # weights' outputs to the new labels (0/1 instead of 'a'/'b')
    X = np.random.default_rng(0).standard_normal((40, 4))
    y = np.where(X[:, 0] > 0, "a", "b")
    model = MLP([4, 8, 2], seed=0).fit(X, y, epochs=2)
    before = model.predict(X), model.n_iter_, model.train_state_
    with pytest.raises(ValueError):
        model.fit(X, (X[:, 0] > 0).astype(int), epochs=2, **bad)
    np.testing.assert_array_equal(model.predict(X), before[0])
    assert model.n_iter_ == before[1] and model.train_state_ is before[2]
def test_resume_and_validation_targets_are_checked_like_fit_targets():
    # resume=True and validation_data skipped fit's target checks: NaN regression targets
    # became a TrainingDivergedError or a NaN val_loss, 2s trained a multi-label model
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = X @ np.ones(4)
    bad = y.copy()
    bad[3] = np.nan
    reg = MLP([4, 8, 1], seed=0, loss="mse").fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="y contains NaN"):
        reg.fit(X, bad, epochs=1, resume=True)
    with pytest.raises(ValueError, match="y_val contains NaN"):
        MLP([4, 8, 1], seed=0, loss="mse").fit(X, y, epochs=1, validation_data=(X, bad))
    multi = MLP([4, 8, 3], seed=0, loss="sigmoid_bce").fit(X, (rng.random((40, 3)) < 0.5).astype(int), epochs=1)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        multi.fit(X, np.full((40, 3), 2), epochs=1, resume=True)


@pytest.mark.parametrize("kwargs, name", [({"epochs": 2.7}, "epochs"), ({"epochs": True}, "epochs"),
                                          ({"seed": 1.7}, "seed"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"),
                                          ({"n_iter_no_change": 0}, "n_iter_no_change"),
                                          ({"n_iter_no_change": 2.5}, "n_iter_no_change")])
def test_fit_counts_are_not_truncated(kwargs, name):
    # int() used to truncate them silently: 2.7 epochs ran 2, seed 1.7 was seed 1
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=f"{name} must be an int"):
        MLP([3, 4, 2], seed=0).fit(X, y, **{"epochs": 1, **kwargs})


@pytest.mark.parametrize("sizes, loss", [([3, 4, 2], None), ([3, 4, 1], None), ([3, 4, 1], "mse")])
def test_fit_on_no_rows_names_X(sizes, loss):
    # NumPy's "zero-size array to reduction operation minimum" (or a reshape error) came out
    with pytest.raises(ValueError, match=r"X has no rows"):
        MLP(sizes, seed=0, loss=loss).fit(np.zeros((0, 3)), np.zeros(0, int))


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_reused_optimizer_instance_starts_fresh(optimizer):
    # a second fit (not resume) continued the instance's moments and step from the first; then
    # both models trained the one instance: b's fit reset a's moments, and a's resume differed
    # from an uninterrupted fit
    from fastnn.nn import get_optimizer

    X, y = np.random.default_rng(0).standard_normal((40, 4)), np.arange(40) % 2
    opt = get_optimizer(optimizer, 0.05)
    first = MLP([4, 8, 2], seed=0).fit(X, y, optimizer=opt, epochs=2, batch_size=8)
    assert opt.step == 0 and opt.state is None  # the fit trained a copy
    again = MLP([4, 8, 2], seed=0).fit(X, y, optimizer=opt, epochs=2, batch_size=8)
    fresh = MLP([4, 8, 2], seed=0).fit(X, y, optimizer=get_optimizer(optimizer, 0.05), epochs=2, batch_size=8)
    assert first.optimizer_ is not again.optimizer_ and first.optimizer_.step == 10
    np.testing.assert_array_equal(again.params, fresh.params)
    np.testing.assert_array_equal(again.optimizer_.state, fresh.optimizer_.state)
    first.fit(X, y, epochs=1, batch_size=8, resume=True, optimizer=opt)  # resume continues its own copy
    whole = MLP([4, 8, 2], seed=0).fit(X, y, optimizer=get_optimizer(optimizer, 0.05), epochs=3, batch_size=8)
    np.testing.assert_array_equal(first.params, whole.params)
    assert first.optimizer_.step == 15 and again.optimizer_.step == 10 and opt.step == 0


def test_masked_values_are_refused_not_silently_used():
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    Xm = np.ma.masked_greater(X, 1.5)
    net = MLP([3, 4, 2], seed=0)
    with pytest.raises(TypeError, match="X is a masked array with masked values"):
        net.fit(Xm, y, epochs=1)
    with pytest.raises(TypeError, match="y is a masked array"):
        net.fit(X, np.ma.masked_equal(y, 1), epochs=1)
    with pytest.raises(TypeError, match="sample_weight is a masked array"):
        net.fit(X, y, epochs=1, sample_weight=np.ma.masked_equal(np.ones(20), 1))
    net.fit(np.ma.masked_array(X), y, epochs=1)  # nothing masked: plain data
    with pytest.raises(TypeError, match="X is a masked array"):
        net.predict(Xm)
    with pytest.raises(TypeError, match="y is a masked array"):
        net.score(X, np.ma.masked_equal(y, 1))


@pytest.mark.parametrize("sizes", [[4.7, 8, 2], [4, True, 2], [4, 8.0, 2]])
def test_layer_widths_must_be_ints(sizes):
    with pytest.raises(ValueError, match="sizes must be ints"):
        MLP(sizes)


@pytest.mark.parametrize("marker", ["NA", "null", "N/A", "None"])
def test_load_csv_numeric_target_with_missing_marker_is_refused(tmp_path, marker):
    # "0", "1" and "NA" used to become three text classes without a word
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n5,6," + marker + "\n7,8,1\n")
    with pytest.raises(ValueError, match=f"line 4: the target '{marker}' is a missing value"):
        load_file(path)
    path.write_text("a,b,y\n1,2,cat\n3,4,dog\n5,6," + marker + "\n")  # text classes: the marker may be a name
    assert sorted(load_file(path)[1].tolist()) == sorted(["cat", "dog", marker])


def test_load_npy_non_finite_value_is_placed(tmp_path):
    data = np.arange(12.0).reshape(4, 3)
    data[2, 1] = np.nan
    np.save(tmp_path / "d.npy", data)
    with pytest.raises(ValueError, match=r"d.npy: data row 3, feature 2 is nan"):
        load_file(tmp_path / "d.npy")


def test_fit_checks_X_finite_without_an_n_by_d_temporary():
    # np.isfinite(X).all() allocated a boolean copy of X (1/8 of float64 X) at every fit
    import tracemalloc

    X = np.random.default_rng(0).standard_normal((40000, 50))
    y = (X[:, 0] > 0).astype(int)
    net = MLP([50, 4, 2], dtype=np.float64, seed=0)
    net.fit(X[:100], y[:100], epochs=1)  # warm up (imports, JIT) outside the trace
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=1, batch_size=200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.06 * X.nbytes
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.fit(np.where(X > 3, np.inf, X), y, epochs=1)
    net32 = MLP([50, 4, 2], dtype=np.float32, seed=0)  # finite float64 beyond float32's range
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the error, not NumPy's "overflow in cast" first
        with pytest.raises(ValueError, match="X has values beyond float32's range"):
            net32.fit(np.where(X[:200] > 3, 1e39, X[:200]), y[:200])
        with pytest.raises(ValueError, match="y has values beyond float32's range"):
            MLP([50, 4, 1], dtype=np.float32, loss="mse", seed=0).fit(X[:200], np.where(y[:200] > 0, 1e39, 0.0))
    X_big = np.full((4, 50), 1e308)  # finite, but its sum overflows: the elementwise check decides
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert net._X(X_big) is X_big


@pytest.mark.parametrize("fused", [None, False])
def test_validation_split_trains_without_a_copy_of_the_training_rows(fused):
    # train_test_split(X, ...) copied the 90% training share of X (and then the composed
    # loop its shuffled copy on top); the split is of row indices now, with the same weights
    import tracemalloc

    X = np.random.default_rng(0).standard_normal((40000, 50))
    y = (X[:, 0] > 0).astype(int)
    sw = np.random.default_rng(1).random(len(X))
    net = MLP([50, 4, 2], dtype=np.float64, seed=0)
    net.fit(X[:100], y[:100], epochs=1, fused=fused, validation_fraction=0.2)  # warm up outside the trace
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=2, batch_size=200, fused=fused, validation_fraction=0.1, sample_weight=sw, seed=5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the held-out 10% (+ the composed loop's shuffled 90%) and small buffers
    assert peak < (0.25 if fused is None else 1.15) * X.nbytes
    # the same training as on the copied rows
    from sklearn.model_selection import train_test_split

    X_tr, X_val, y_tr, y_val, sw_tr = train_test_split(X, y, sw, test_size=0.1, random_state=5, stratify=y)[:5]
    ref = MLP([50, 4, 2], dtype=np.float64, seed=0)
    ref.fit(X[:100], y[:100], epochs=1, fused=fused, validation_fraction=0.2)  # as net (fit starts from its weights)
    ref.fit(X_tr, y_tr, epochs=2, batch_size=200, fused=fused, validation_data=(X_val, y_val), sample_weight=sw_tr,
            seed=5)
    np.testing.assert_array_equal(net.params, ref.params)
    assert net.history_["val_score"] == ref.history_["val_score"]


@pytest.mark.parametrize("kwargs,exc,match", [
    # float() / NumPy messages that named no argument, or errors only after an epoch had trained
    (dict(dropout="x"), TypeError, "dropout must be a real number"),
    (dict(validation_fraction=None, early_stopping=False, dropout=None), TypeError, "dropout must be a real number"),
    (dict(validation_fraction="x"), TypeError, "validation_fraction must be a real number"),
    (dict(tol="x"), TypeError, "tol must be a real number"),
    (dict(tol=float("nan")), ValueError, "tol must be"),  # never stopped
    (dict(betas=(0.9, 0.99, 0.9)), ValueError, r"betas must be a pair"),
    (dict(callbacks=[3]), TypeError, "callbacks must be a sequence of callables"),
    (dict(callbacks=print), TypeError, "callbacks must be a sequence of callables"),
    (dict(shuffle="no"), TypeError, "shuffle must be True or False, got 'no'"),  # was truthy: shuffled
    (dict(early_stopping="no"), TypeError, "early_stopping must be True or False"),
    (dict(fused="no"), TypeError, "fused must be True or False"),
    (dict(dropout=0.5, _sizes=[4, 3]), ValueError, r"dropout=0.5 applies to hidden layers, and sizes \[4, 3\] has none"),
    # dict([1])'s "cannot convert dictionary update sequence element #0 to a sequence"
    (dict(schedule="step", schedule_kwargs=[1]), TypeError, r"schedule_kwargs must be a dict of the schedule's options"),
    # alpha (scikit-learn's name for l2) silently won over l2: l2=5.0 trained without L2
    (dict(l2=5.0, alpha=0.0), ValueError, r"l2=5.0 and alpha=0.0 given: alpha is another name for l2"),
    (dict(l2=0.1, alpha=0.1), ValueError, r"alpha is another name for l2 \(scikit-learn's\); pass one of them"),
])
def test_fit_bad_options_name_the_option_before_training(blobs, kwargs, exc, match):
    X, y = blobs
    kwargs = dict(kwargs)  # (the parametrize dict is shared)
    net = MLP(kwargs.pop("_sizes", [4, 8, 3]), seed=0)
    with pytest.raises(exc, match=match):
        net.fit(X, y, epochs=2, **kwargs)
    assert net.train_state_ is None  # refused up front: not one epoch trained


def test_mlp_bad_data_and_constructor_arguments_name_them(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="^y must be 1-D or 2-D"):
        MLP([4, 3]).fit(X, None)  # was "len() of unsized object"
    with pytest.raises(TypeError, match="param must be a real number"):
        MLP([4, 8, 3], "elu", param="x")  # was accepted, and failed in fit with float()'s message
    with pytest.raises(ValueError, match="'relu' takes none, got param=0.2"):
        MLP([4, 8, 3], "relu", param=0.2)  # was accepted and ignored: plain ReLU trained
    assert MLP([4, 8, 3], "leaky_relu", param=0.2).network.dense[-1].param is None  # the output layer is linear
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got 'float17'"):
        MLP([4, 3], dtype="float17")
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got None"):
        MLP([4, 3], dtype=None)  # was float64 (NumPy's np.dtype(None)), not the float32 default
    with pytest.raises(ValueError, match="backend must be one of .* got 'cuda'"):
        MLP([4, 3], backend="cuda")  # was accepted, and failed in fit
    net = MLP([4, 8, 3], seed=0).fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="X and y have different lengths: 300 and 299"):
        net.score(X, y[:-1])  # was NumPy's "operands could not be broadcast"


def test_fit_callbacks_may_be_a_generator(blobs):
    X, y = blobs
    seen = []
    MLP([4, 8, 3], seed=0).fit(X, y, epochs=2, callbacks=(cb for cb in [lambda logs: seen.append(logs["epoch"])]))
    assert seen == [0, 1]


@pytest.mark.parametrize("fused", [0, np.False_])
def test_fused_false_as_0_or_numpy_bool_runs_the_composed_loop(blobs, monkeypatch, fused):
    # check_bool accepted them as False, but the loop tested `fused is not False`: the native epoch ran
    X, y = blobs
    monkeypatch.setattr(fastnn.kernels, "train_epoch", lambda *a, **k: pytest.fail("the native epoch ran"))
    net = MLP([4, 8, 3], seed=0, dtype=np.float64).fit(X, y, epochs=2, fused=fused)
    ref = MLP([4, 8, 3], seed=0, dtype=np.float64).fit(X, y, epochs=2, fused=False)
    np.testing.assert_array_equal(net.params, ref.params)


def test_fit_checks_the_backend_name_before_training(blobs, monkeypatch):
    # a bad name failed inside the first epoch (and, on resume, marked the model "interrupted")
    X, y = blobs
    net = MLP([4, 8, 3], seed=0).fit(X, y, epochs=1)
    monkeypatch.setattr(fastnn.mlp, "fit_network", lambda *a, **k: pytest.fail("training started"))
    for resume in (False, True):
        with pytest.raises(ValueError, match="backend must be one of .* got 'cuda'"):
            net.fit(X, y, epochs=1, backend="cuda", resume=resume)
    assert net.stopped_by_ == "max_epochs" and net.n_iter_ == 1


@pytest.mark.parametrize("fused", [None, False])
def test_a_resume_that_fails_in_its_first_epoch_keeps_stopped_by(fused):
    # the failed resume set the shared training state's stopped_by_ to "interrupted", although
    # the model was otherwise left as it was (no epoch counted, the weights put back)
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.arange(20) % 2
    net = MLP([3, 4, 2], seed=0).fit(X, y, epochs=5, callbacks=[lambda logs: True], fused=fused)
    before = net.params.copy()
    sw = np.r_[np.ones(10), np.zeros(10)]  # the second batch of 10 rows weighs 0
    with pytest.raises(ValueError, match="sample_weight sums to 0"):
        net.fit(X, y, epochs=1, batch_size=10, shuffle=False, sample_weight=sw, resume=True, fused=fused)
    assert net.stopped_by_ == "callback" and net.n_iter_ == 1
    np.testing.assert_array_equal(net.params, before)


def test_targets_with_more_than_two_dimensions_are_refused():
    # fit named no shape ("2-D targets need loss='mse'..."); resume=True and score flattened
    # [n, 1, 1] regression targets silently
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = X[:, :1]
    with pytest.raises(ValueError, match=r"y must be 1-D or 2-D, got shape \(20, 2, 1\)"):
        MLP([3, 4, 2], seed=0).fit(X, np.zeros((20, 2, 1)), epochs=1)
    net = MLP([3, 4, 1], seed=0, loss="mse").fit(X, y, epochs=1)
    with pytest.raises(ValueError, match=r"y must be 1-D or 2-D, got shape \(20, 1, 1\)"):
        net.fit(X, y[:, :, None], epochs=1, resume=True)
    with pytest.raises(ValueError, match=r"y must be 1-D or 2-D, got shape \(20, 1, 1\)"):
        net.score(X, y[:, :, None])


@pytest.mark.parametrize("sizes, loss", [([3, 4, 1], "mse"), ([3, 4, 2], None)])
def test_no_rows_in_validation_data_or_score_are_named(sizes, loss):
    # regression: NumPy's "cannot reshape array of size 0"; classification: validation silently
    # skipped (NaN val_loss) and score NaN with a "Mean of empty slice" warning
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int)
    net = MLP(sizes, seed=0, loss=loss).fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="validation_data has no rows"):
        net.fit(X, y, epochs=1, validation_data=(X[:0], y[:0]))
    with pytest.raises(ValueError, match="X has no rows; score needs at least one"):
        net.score(X[:0], y[:0])
    assert net.n_iter_ == 1


@pytest.mark.parametrize("seed", [2**32, 2**70, -1])
def test_constructor_int_seed_is_in_the_fit_seed_range(seed):
    # it is every fit's default seed: 2**32 and more failed only in fit (the validation split's
    # RandomState, or train_epoch's "seed must be < 2**64" inside the first epoch)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 4294967295\]"):
        MLP([3, 4, 2], seed=seed)


@pytest.mark.parametrize("sizes, loss", [([3, 4, 1], "mse"), ([3, 4, 2], "sigmoid_bce")])
def test_text_targets_are_refused_by_resume_validation_data_and_score(sizes, loss):
    # fit refuses them; resume=True and score parsed numeric text ("0.5" trained), other text
    # failed with NumPy's "could not convert string to float"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    y = (rng.random((20, sizes[-1])) < 0.5).astype(float)
    net = MLP(sizes, seed=0, loss=loss).fit(X, y, epochs=1)
    for call, name in ((lambda: net.fit(X, y.astype(str), epochs=1, resume=True), "y"),
                       (lambda: net.fit(X, y, epochs=1, validation_data=(X, np.full(y.shape, "a"))), "y_val"),
                       (lambda: net.score(X, y.astype(str)), "y")):
        with pytest.raises(TypeError, match=f"^{name} must be numeric targets, got dtype <U"):
            call()
    assert net.n_iter_ == 1


def test_load_csv_headerless_with_text_labels_keeps_its_first_row(tmp_path):
    # any text in the first row made it a header: a headerless file's class name did, and its
    # first row was silently dropped (a missing value there went unreported with it)
    p = tmp_path / "d.csv"
    p.write_text("-0.5,cat\n0.2,dog\n0.3,cat\n")
    X, y = load_file(p)
    assert X.ravel().tolist() == pytest.approx([-0.5, 0.2, 0.3]) and y.tolist() == ["cat", "dog", "cat"]
    p.write_text(",cat\n0.2,dog\n0.3,cat\n")
    with pytest.raises(ValueError, match=r"line 1, column 0: '' is empty"):
        load_file(p)
    p.write_text(",x,label\n0,0.2,dog\n1,0.3,cat\n")  # pandas' to_csv with its index: still a header
    X, y = load_file(p, target="label")
    assert X.tolist() == [[0, pytest.approx(0.2)], [1, pytest.approx(0.3)]] and y.tolist() == ["dog", "cat"]
    p.write_text("0,label\n0.2,dog\n0.3,cat\n")  # numbered columns: 'label' is no class name below it
    X, y = load_file(p)
    assert X.ravel().tolist() == pytest.approx([0.2, 0.3]) and y.tolist() == ["dog", "cat"]


def test_cli_train_a_test_share_smaller_than_the_classes_names_test_size(tmp_path, capsys):
    # was scikit-learn's bare "The test_size = 2 should be greater or equal to the number of classes = 3"
    p = tmp_path / "d.csv"
    p.write_text("".join(f"{i},{i % 3}\n" for i in range(6)))
    assert cli_main(["train", "-q", "--no-warmup", "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn train: --test-size 0.25 of the 6 rows of d.csv: ") and err.count("\n") == 1


def test_cli_train_early_stopping_split_failure_names_the_option(tmp_path, capsys):
    # was "the validation split (validation_fraction=0.1 of 3 rows) failed": an option the CLI has not
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n" + "".join(f"{i},{i % 4},{'xy'[i % 2]}\n" for i in range(6)))
    assert cli_main(["train", "-q", "--no-warmup", "--data", str(p), "--early-stopping", "--test-size", "0.34"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn train: --early-stopping holds out 10% of the 3 training rows for validation, "
                          "which failed: ") and "validation_fraction" not in err and err.count("\n") == 1


def test_load_tab_separated_with_quoted_header_and_labels(tmp_path):
    # whitespace-separated files were split with str.split: a quoted header kept its quotes
    # ("no column named 'label'") and so did quoted class names
    p = tmp_path / "d.tsv"
    p.write_text('"x1"\t"label"\n0.5\t"cat"\n0.25  \t"dog"\n')
    X, y = load_file(p, target="label")
    assert X.ravel().tolist() == [0.5, 0.25] and y.tolist() == ["cat", "dog"]
    p.write_text("sepal length\tkind\n0.5\tIris setosa\n0.25\tIris virginica\n")  # spaces inside cells
    X, y = load_file(p, target="kind")  # was: "no column named 'kind'" (the header read as 3 columns)
    assert X.ravel().tolist() == [0.5, 0.25] and y.tolist() == ["Iris setosa", "Iris virginica"]


def test_load_csv_target_name_shared_by_two_columns_is_refused(tmp_path):
    # --target label picked the first of two 'label' columns without a word
    p = tmp_path / "d.csv"
    p.write_text("a,label,label\n0.5,1,0\n0.25,0,1\n")
    with pytest.raises(ValueError, match=r"2 columns are named 'label' \(indices \[1, 2\]\); give the target"):
        load_file(p, target="label")
    X, y = load_file(p, target=2)
    assert X.tolist() == [[0.5, 1.0], [0.25, 0.0]] and y.tolist() == [0, 1]


def test_resume_refuses_arguments_it_would_ignore():
    """resume=True continues the first fit's optimizer, schedule, loss and seed: a
    different lr, l1, optimizer... was silently dropped; the same values (or the
    defaults) still resume."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    kw = dict(optimizer="sgd", lr=0.05, l1=1e-4, schedule="invscaling", schedule_kwargs={"power_t": 0.25},
              seed=4, loss="softmax_xent", momentum=None)
    net = MLP([5, 7, 3], seed=0).fit(X, y, epochs=2, **kw)
    net.fit(X, y, epochs=1, resume=True, **kw)  # the same arguments: nothing is ignored
    net.fit(X, y, epochs=1, resume=True)  # the defaults: nothing was given
    assert net.n_iter_ == 4
    for bad, name in [(dict(lr=0.1), "lr"), (dict(l1=1e-3), "l1"), (dict(optimizer="adam", lr=0.1), "lr"),
                      (dict(optimizer="nesterov"), "optimizer"), (dict(weight_decay=0.01), "weight_decay"),
                      (dict(schedule="cosine"), "schedule"), (dict(schedule_kwargs={"power_t": 0.5}), "schedule_kwargs"),
                      (dict(loss="mse"), "loss"), (dict(seed=5), "seed"), (dict(momentum=0.5), "momentum")]:
        with pytest.raises(ValueError, match=f"so {name} would be ignored"):
            net.fit(X, y, epochs=1, resume=True, **bad)
    assert net.n_iter_ == 4  # nothing trained


# ------------------------------------------------- column names, resume settings, data files, CLI


def test_dataframe_column_names_are_kept_and_checked(blobs):
    """fit on a DataFrame left feature_names_in_ None, and the same columns in another order
    predicted silently wrong; now scikit-learn's rule: names kept, other names or order refused."""
    pd = pytest.importorskip("pandas")
    X, y = blobs
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    net = MLP([4, 16, 3], seed=0).fit(df, y, epochs=10, lr=1e-2)
    assert net.feature_names_in_ == ["a", "b", "c", "d"]
    assert net.score(df, y) == MLP([4, 16, 3], seed=0).fit(X, y, epochs=10, lr=1e-2).score(X, y)
    moved = df[["d", "c", "b", "a"]]
    for call in (net.predict, net.predict_proba, net.decision_function, lambda X: net.score(X, y)):
        with pytest.raises(ValueError, match=r"X's columns are the fitted ones in another order \('d', 'c', 'b', 'a'"):
            call(moved)
    with pytest.raises(ValueError, match=r"unseen at fit: 'z'; seen at fit but missing: 'a'"):
        net.predict(df.rename(columns={"a": "z"}))
    with pytest.raises(ValueError, match="X_val's columns are the fitted ones in another order"):
        net.fit(df, y, epochs=1, resume=True, validation_data=(moved, y))
    with pytest.warns(UserWarning, match="X does not have valid feature names, but this MLP was fitted with") as rec:
        np.testing.assert_array_equal(net.predict(X), net.predict(df))  # a plain array: by position
    assert rec[0].filename == __file__  # the warning points at the caller's line, not into fastnn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.predict(df[["a", "b", "c", "d"]])  # the same names in the same order: silent
        plain = MLP([4, 16, 3], seed=0).fit(X, y, epochs=1)
        plain.predict(X)
    with pytest.warns(UserWarning, match="X has feature names, but this MLP was fitted without"):
        plain.predict(df)
    assert MLP([4, 3], seed=0).fit(pd.DataFrame(X), y, epochs=1).feature_names_in_ is None  # int names: none
    with pytest.raises(TypeError, match=r"column names are of types \['int', 'str'\]"):
        MLP([4, 3], seed=0).fit(pd.DataFrame(X, columns=["a", 1, "c", "d"]), y, epochs=1)
    net.fit(X, y, epochs=1)  # a new fit on an array has no names (and a refused fit keeps them)
    assert net.feature_names_in_ is None


@pytest.mark.parametrize("fused", [None, False])
def test_resume_carries_over_every_training_setting(blobs, fused):
    """resume=True reset dropout, l2, batch_size and shuffle to their defaults (while l1 and
    weight_decay carried over): 2 epochs + 2 resumed were not 4 epochs."""
    X, y = blobs
    kw = dict(optimizer="sgd", lr=0.05, dropout=0.3, l2=0.01, batch_size=7, shuffle=False, l1=1e-4,
              weight_decay=1e-3, tol=None, fused=fused)
    whole = MLP([4, 16, 3], seed=0).fit(X, y, epochs=4, **kw)
    half = MLP([4, 16, 3], seed=0).fit(X, y, epochs=2, **kw)
    fresh = MLP([4, 16, 3], seed=0).fit(X, y, epochs=2, **kw).fit(X, y, epochs=2, resume=True, alpha=0.0)
    half.fit(X, y, epochs=2, resume=True, fused=fused)
    np.testing.assert_array_equal(half.params, whole.params)
    assert half.history_["loss"] == whole.history_["loss"]
    assert not np.array_equal(fresh.params, whole.params)  # one passed again (alpha=0: no L2) applies...
    assert fresh.train_state_.fit_settings["l2"] == 0.0  # ...and is what the next resume carries
    with pytest.raises(ValueError, match="so optimizer would be ignored"):  # the optimizer's: still refused
        half.fit(X, y, epochs=1, resume=True, optimizer="nesterov")


def test_resume_after_a_held_out_share_or_validation_data():
    """validation_fraction carries over (the same held-out rows); a first fit's validation_data
    is not kept, so resuming its early stopping without it is an error, not 10% held out anew."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((120, 4)), rng.integers(0, 2, 120)
    kw = dict(validation_fraction=0.2, tol=None, batch_size=16)
    whole = MLP([4, 8, 1], seed=0).fit(X, y, epochs=4, **kw)
    half = MLP([4, 8, 1], seed=0).fit(X, y, epochs=2, **kw).fit(X, y, epochs=2, resume=True)
    np.testing.assert_array_equal(half.params, whole.params)
    assert half.history_["val_score"] == whole.history_["val_score"]
    net = MLP([4, 8, 1], seed=0).fit(X[:80], y[:80], epochs=2, early_stopping=True, validation_data=(X[80:], y[80:]))
    with pytest.raises(ValueError, match="early_stopping needs validation data"):
        net.fit(X[:80], y[:80], epochs=1, resume=True)
    assert net.n_iter_ == 2 and net.train_state_.fit_settings["validation_fraction"] == 0.0
    net.fit(X[:80], y[:80], epochs=1, resume=True, validation_data=(X[80:], y[80:]))
    assert net.n_iter_ == 3


def test_text_and_complex_arrays_are_refused_naming_the_file(tmp_path, capsys):
    """A string .npy was NumPy's "could not convert string to float" (or a TypeError traceback from
    the target's integrality test), naming no file; a complex one lost its imaginary parts."""
    np.save(tmp_path / "s.npy", np.array([["1", "2", "0"], ["3", "4", "1"]]))
    np.save(tmp_path / "c.npy", np.ones((4, 3)) + 1j)
    np.savez(tmp_path / "sx.npz", X=np.array([["a", "b"], ["c", "d"]]), y=np.array([0, 1]))
    np.savez(tmp_path / "cy.npz", X=np.ones((4, 2)), y=np.ones(4) + 1j)
    np.savez(tmp_path / "ty.npz", X=np.eye(4), y=np.array(["a", "b", "a", "b"]))
    for name, what in [("s.npy", "the array holds text (<U1); expected real numbers"),
                       ("c.npy", "the array holds complex numbers (complex128); expected real numbers"),
                       ("sx.npz", "array 'X' holds text (<U1); expected real numbers"),
                       ("cy.npz", "array 'y' holds complex numbers (complex128); expected real numbers or text "
                                  "labels")]:
        with pytest.raises(ValueError, match=rf"{name}: {re.escape(what)}$"):
            load_file(tmp_path / name)
        assert cli_main(["train", "-q", "--no-warmup", "--data", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err == f"fastnn train: {tmp_path / name}: {what}\n"
    with pytest.raises(ValueError, match="c.npy: the array holds complex"):  # data to predict on, too
        load_file(tmp_path / "c.npy", has_target=False)
    assert load_file(tmp_path / "ty.npz")[1].tolist() == ["a", "b", "a", "b"]  # an NPZ's text labels stand


def test_csv_comment_lines_are_skipped_anywhere(tmp_path):
    """A '# ...' line above the header set the separator guess and broke the read ("line 2 has 1
    columns, expected 3") while one below it was skipped; both are comments now, on either path."""
    for body in ("# exported data\n#\na;b;label\n1;2;0\n# a note\n3;4;1\n\n5;6;0\n",  # numeric: loadtxt's path
                 "  # exported data\na;b;label\n1;2;x\n# a note\n3;4;y\n5;6;x\n"):  # text labels: the row path
        p = tmp_path / "c.csv"
        p.write_text(body)
        X, y, names = load_file(p, dtype=np.float64, return_names=True)
        assert names == ["a", "b"] and X.tolist() == [[1, 2], [3, 4], [5, 6]] and len(y) == 3
    p.write_text("# exported\na,b,label\n1,2,0\n# note\n3,x,1\n")
    with pytest.raises(ValueError, match=r"c.csv: line 5, column 'b': 'x' is not a number"):  # real line numbers
        load_file(p)
    p.write_text("a,b,label\n#N/A,2,0\n3,4,1\n")  # a spreadsheet's missing value is a cell, not a comment
    with pytest.raises(ValueError, match=r"line 2, column 'a': '#N/A' is a missing value"):
        load_file(p)


def test_cli_cosmetics_seed_bound_exports_and_threads_warning(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--seed", "-1"])
    assert "argument --seed: expected a value in [0, 4294967296), got -1" in capsys.readouterr().err
    assert "annotations" not in dir(fastnn) and all(hasattr(fastnn, n) for n in fastnn.__all__)
    import threadpoolctl

    from fastnn.threads import usable_cores

    many, before = usable_cores() + 1, fastnn.get_num_threads()
    try:
        with threadpoolctl.threadpool_limits(None):  # restores the BLAS limits the command sets
            assert cli_main(["train", "--data", "iris", "--epochs", "1", "-q", "--no-warmup", "--threads",
                             str(many)]) == 0
    finally:
        fastnn.set_num_threads(before)
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and f"fastnn train: warning: --threads {many}, but only {usable_cores()} core" in err
    assert f"{many} thread(s)" in out  # kept as asked


def test_alpha_alone_is_l2(blobs):
    X, y = blobs
    a = MLP([4, 8, 3], seed=0).fit(X, y, epochs=2, alpha=0.5)
    b = MLP([4, 8, 3], seed=0).fit(X, y, epochs=2, l2=0.5)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.train_state_.fit_settings["l2"] == 0.5


def test_target_messages_name_the_argument_and_the_problem():
    # validation_data's targets were called "y"; a 2-D y of 0/1 with one output unit was said
    # to have "more than two values"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y3, y2 = np.arange(40) % 3, np.arange(40) % 2
    with pytest.raises(ValueError, match="^y_val holds labels not seen in fit$"):
        MLP([4, 8, 3], seed=0).fit(X, y3, epochs=1, validation_data=(X, np.r_[y3[:-1], 99]))
    with pytest.raises(ValueError, match=r"^y_val must be 1-D labels among \[0, 1\]$"):
        MLP([4, 8, 1], seed=0).fit(X, y2, epochs=1, validation_data=(X, y2 + 5))
    with pytest.raises(ValueError, match="^y_val contains NaN or infinity"):
        MLP([4, 8, 1], seed=0, loss="mse").fit(X, y2 * 1.0, epochs=1, validation_data=(X, np.r_[np.inf, y2[1:]]))
    with pytest.raises(ValueError, match=r"^y is 2-D \(shape \(40, 1\)\) and the output has one unit: pass 1-D "
                                         r"labels \(y.ravel\(\)\)"):
        MLP([4, 8, 1], seed=0).fit(X, y2[:, None], epochs=1)
    with pytest.raises(ValueError, match="^y holds labels not seen in fit$"):  # score still says y
        MLP([4, 8, 3], seed=0).fit(X, y3, epochs=1).score(X, y3 + 7)
    net = MLP([4, 8, 1], seed=0, loss="sigmoid_bce").fit(X, y2[:, None], epochs=1)  # loss given: multi-label
    assert net.classes_ is None and net.predict(X).shape == (40, 1)


def test_a_schedule_instance_is_not_changed_or_shared(blobs):
    # like an optimizer instance: fit started (and ReduceOnPlateau divided) the caller's schedule,
    # so one given to two models linked their learning rates
    from fastnn.nn import ReduceOnPlateau

    X, y = blobs
    sched = ReduceOnPlateau(factor=2.0)
    a = MLP([4, 8, 3], seed=0).fit(X, y, epochs=6, lr=0.01, schedule=sched, tol=10.0, n_iter_no_change=1)
    assert np.isnan(sched.lr0) and a.train_state_.schedule is not sched and min(a.history_["lr"]) < 0.01
    b = MLP([4, 8, 3], seed=0).fit(X, y, epochs=1, lr=0.5, schedule=sched)
    assert b.history_["lr"] == [0.5] and a.train_state_.schedule.lr0 == 0.01
    a.fit(X, y, epochs=1, resume=True, schedule=sched)  # the same class and settings: accepted
    with pytest.raises(ValueError, match="so schedule would be ignored"):
        a.fit(X, y, epochs=1, resume=True, schedule=ReduceOnPlateau(factor=3.0))
