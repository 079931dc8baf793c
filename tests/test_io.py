"""Model files: exact round trip, atomic writes, corrupt / foreign / newer files
rejected with ModelFileError, and resuming equals uninterrupted training."""
from __future__ import annotations

import datetime
import decimal
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

from fastnn import io
from fastnn.datasets import load_embedded
from fastnn import MLP


@pytest.fixture(scope="module")
def data():
    X, y = load_embedded("digits", np.float32)
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return MLP([64, 16, 10], seed=0).fit(X, y, epochs=2, optimizer="rmsprop", lr=1e-3)


def test_round_trip_is_exact(tmp_path, fitted, data):
    X, _ = data
    path = tmp_path / "m.npz"
    fitted.save(path)
    back = io.load(path)
    np.testing.assert_array_equal(back.params, fitted.params)
    assert back.params.dtype == np.float32 and back.sizes == fitted.sizes
    np.testing.assert_array_equal(back.classes_, fitted.classes_)
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(back.optimizer_.state, fitted.optimizer_.state)
    assert back.optimizer_.name == "rmsprop" and back.optimizer_.step == fitted.optimizer_.step
    np.testing.assert_equal(back.history_, fitted.history_)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")], "the temporary file was left behind"
    with np.load(path) as z:  # an ordinary npz too
        np.testing.assert_array_equal(z["params"], fitted.params)


def test_regression_float64_and_string_labels_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    reg = MLP([3, 4, 1], dtype=np.float64, loss="mse", seed=1).fit(X, X.sum(1), epochs=2)
    reg.save(tmp_path / "r")
    back = io.load(tmp_path / "r")
    assert back.params.dtype == np.float64
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    lab = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 40)]
    clf = MLP([3, 4, 3], seed=1).fit(X, lab, epochs=1)
    clf.save(tmp_path / "c")
    assert list(io.load(tmp_path / "c").predict(X)) == list(clf.predict(X))


@pytest.mark.parametrize("labels", [[3, 7], [True, False], [1.5, 2.5], ["a", "b"]])
def test_object_dtype_labels_round_trip(tmp_path, labels):
    # object labels were saved as strings: 7 came back as '7', and score(X, y) raised TypeError
    X = np.random.default_rng(0).standard_normal((40, 4))
    y = np.array(labels * 20, dtype=object)
    model = MLP([4, 8, 2], seed=0).fit(X, y, epochs=1)
    model.save(tmp_path / "m.fnn")
    loaded = io.load(tmp_path / "m.fnn")
    assert loaded.classes_.dtype == object and list(loaded.classes_) == list(model.classes_)
    assert [type(c) for c in loaded.predict(X)] == [type(c) for c in model.predict(X)]
    assert loaded.score(X, y) == model.score(X, y)


def test_unfitted_model_round_trip(tmp_path):
    net = MLP([4, 3, 2], activation="tanh", seed=5)
    io.save(net, tmp_path / "u")
    back = io.load(tmp_path / "u")
    np.testing.assert_array_equal(back.params, net.params)
    assert back.activation == "tanh" and back.train_state_ is None


def test_overwrite_is_atomic_replace(tmp_path, fitted):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old contents")
    fitted.save(path)
    assert io.load(path).sizes == fitted.sizes


def test_save_keeps_permissions_and_symlinks(tmp_path, fitted):
    # the temporary file's 0o600 used to replace the model file's mode, and a symlink was
    # replaced by a regular file while its target kept the old model
    old = os.umask(0o022)
    try:
        fitted.save(tmp_path / "new.fnn")
        assert os.stat(tmp_path / "new.fnn").st_mode & 0o777 == 0o644
        path = tmp_path / "shared.fnn"
        path.write_bytes(b"old contents")
        os.chmod(path, 0o664)
        fitted.save(path)
        assert os.stat(path).st_mode & 0o777 == 0o664
        link = tmp_path / "link.fnn"
        link.symlink_to(path)
        os.chmod(path, 0o640)
        fitted.save(link)
        assert link.is_symlink() and os.stat(path).st_mode & 0o777 == 0o640
        assert io.load(path).sizes == fitted.sizes
    finally:
        os.umask(old)


def _corrupt_member(path, member):
    """Flip one byte inside `member` without touching the zip's CRC bookkeeping order."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        size = info.compress_size
    raw = bytearray(path.read_bytes())
    raw[offset + size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("member", ["params.npy", "meta.json", "SHA256SUMS"])
def test_corrupt_file_is_rejected(tmp_path, fitted, member):
    path = tmp_path / "m.npz"
    fitted.save(path)
    _corrupt_member(path, member)
    with pytest.raises(io.ModelFileError, match="corrupt"):
        io.load(path)



# offsets in a central directory entry ("PK\x01\x02"): version needed, flags, compression method
@pytest.mark.parametrize("offset, value", [(6, 0xFF), (8, 0x01), (10, 99)])
def test_damaged_zip_headers_are_model_file_errors(tmp_path, fitted, offset, value):
    # zipfile's NotImplementedError ("zip file version 25.5", "compression method is not
    # supported") and RuntimeError ("encrypted, password required") escaped load
    path = tmp_path / "m.npz"
    fitted.save(path)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"PK\x01\x02") + offset] = value
    path.write_bytes(bytes(raw))
    with pytest.raises(io.ModelFileError):
        io.load(path)

def test_tampered_checksummed_content_is_rejected(tmp_path, fitted):
    """Rewriting a member with a valid zip CRC still fails the SHA-256 check."""
    path = tmp_path / "m.npz"
    fitted.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    p = io._npy_bytes(np.zeros_like(fitted.params))
    members["params.npy"] = p
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    with pytest.raises(io.ModelFileError, match="checksum mismatch in params.npy"):
        io.load(path)


def test_truncated_and_foreign_files_are_rejected(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(io.ModelFileError):
        io.load(path)
    other = tmp_path / "plain.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(io.ModelFileError, match="not a fastnn model file"):
        io.load(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(io.ModelFileError, match="not a zip"):
        io.load(text)
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing.npz")


def test_save_to_a_directory_or_a_missing_one_names_the_path(tmp_path, fitted):
    # the directory case was an IsADirectoryError naming the temporary file
    with pytest.raises(ValueError, match=f"path: {tmp_path} is a directory; give a file name"):
        io.save(fitted, tmp_path)
    with pytest.raises(ValueError, match="path: directory .*no-such-dir does not exist"):
        fitted.save(tmp_path / "no-such-dir" / "m.npz")
    assert os.listdir(tmp_path) == []  # no temporary file left behind


def test_a_directory_where_no_file_can_be_created_is_refused_up_front(tmp_path):
    # /proc passes os.access for root (permission bits are bypassed) but takes no new
    # file: the command-line tools learnt it only after the run, losing its result
    with pytest.raises(ValueError, match="--json: cannot create a file in /proc"):
        io.check_output_path("/proc/fastnn-results.json", "--json")
    io.check_output_path(tmp_path / "ok.json", "--json")
    assert os.listdir(tmp_path) == []  # the probe file is removed


def test_a_path_of_the_wrong_type_is_named(tmp_path, fitted):
    for call in (lambda: io.save(fitted, 3), lambda: io.load(None), lambda: io.read_file(2.5)):
        with pytest.raises(TypeError, match="path must be a str or os.PathLike, got"):
            call()  # was os.fspath's "expected str, bytes or os.PathLike object, not int"
    io.save(fitted, os.fsencode(tmp_path / "m.npz"))  # bytes paths work, as in os
    assert io.load(str(tmp_path / "m.npz")).sizes == fitted.sizes


def test_newer_version_and_wrong_kind_are_rejected(tmp_path):
    path = tmp_path / "f.npz"
    io.write_file(path, {"kind": "MLP", "version": io.VERSION + 1}, {"params": np.zeros(2)})
    with pytest.raises(io.ModelFileError, match="newer"):
        io.load(path)
    io.write_file(path, {"kind": "Ridge"}, {"coef": np.zeros(2)})
    with pytest.raises(io.ModelFileError, match="expected a 'MLP'"):
        io.load(path)
    meta, arrays = io.read_file(path)
    assert meta["kind"] == "Ridge" and meta["format"] == io.FORMAT and list(arrays) == ["coef"]
    with pytest.raises(TypeError, match="object"):
        io.write_file(path, {}, {"x": np.array([object()])})


def _rewrite(src, dst, edit):
    """Copy model file src to dst (checksums recomputed) after edit(meta, arrays)."""
    meta, arrays = io.read_file(src)
    edit(meta, arrays)
    io.write_file(dst, meta, arrays)


@pytest.mark.parametrize("edit,match", [
    # an optimizer state that does not fit was replaced by zeros on resume, the step reset
    (lambda m, a: a.update(optimizer_state=a["optimizer_state"][:, :5]), "optimizer_state has shape"),
    (lambda m, a: a.update(optimizer_state=a["optimizer_state"].astype(np.float64)), "optimizer_state has shape"),
    (lambda m, a: m.update(version=0), "version 0"),
    (lambda m, a: m.update(version=True), "version True"),
    (lambda m, a: m["config"].update(sizes=[64, 0, 10]), "inconsistent model metadata"),
    (lambda m, a: m["train_state"]["state"].update(history=[1.0]), "inconsistent model metadata"),
    (lambda m, a: m["train_state"]["state"].update(epoch="x"), "inconsistent model metadata"),
    # these loaded, and predict / score / resume failed later (IndexError, TypeError) or mislabelled
    (lambda m, a: a.pop("classes"), "no classes for loss 'softmax_xent'"),
    (lambda m, a: a.update(classes=a["classes"][:3]), r"classes of shape \(3,\)"),
    (lambda m, a: a.update(classes=np.zeros(10)), "not unique"),
    (lambda m, a: m["fitted"].update(loss_name="mse"), "classes of shape .* for loss 'mse'"),
    (lambda m, a: m["fitted"].update(loss_name="xent"), "loss_name 'xent'"),
    (lambda m, a: m["train_state"]["state"].update(step=-3), "step must be an int >= 0"),
    (lambda m, a: a.update(last_params=np.zeros(5, np.float32)), r"last_params has shape \(5,\)"),
    (lambda m, a: m["train_state"]["state"].update(best_score="high"), "best_score must be a real number"),
    (lambda m, a: m["train_state"]["state"].update(seed=2**40), "seed must be an int in"),
    (lambda m, a: m["train_state"]["state"]["history"].update(loss=[0.5]), "history lengths"),
    (lambda m, a: m["train_state"]["state"].update(fit_settings=[32]), "fit_settings must be a dict"),
])
def test_checksummed_but_inconsistent_files_are_rejected(tmp_path, fitted, edit, match):
    fitted.save(tmp_path / "m.fnn")
    _rewrite(tmp_path / "m.fnn", tmp_path / "bad.fnn", edit)
    with pytest.raises(io.ModelFileError, match=match):
        io.load(tmp_path / "bad.fnn")


@pytest.mark.parametrize("optimizer,extra", [("adam", {"dropout": 0.2}), ("nesterov", {"l2": 1e-3}),
                                             ("sgd", {"schedule": "invscaling"})])
@pytest.mark.parametrize("fused", [None, False])
def test_resume_from_file_equals_uninterrupted_training(tmp_path, data, optimizer, extra, fused):
    X, y = data
    kw = dict(optimizer=optimizer, lr=1e-2, batch_size=32, fused=fused, **extra)
    whole = MLP([64, 16, 10], seed=3).fit(X, y, epochs=4, **kw)
    half = MLP([64, 16, 10], seed=3).fit(X, y, epochs=2, **kw)
    half.save(tmp_path / "half.npz")
    resumed = io.load(tmp_path / "half.npz").fit(X, y, epochs=2, resume=True, **kw)
    np.testing.assert_array_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(resumed.optimizer_.state, whole.optimizer_.state)
    assert resumed.history_["loss"] == whole.history_["loss"] and resumed.n_iter_ == 4


def test_resume_needs_a_fitted_model(data):
    X, y = data
    with pytest.raises(ValueError, match="resume"):
        MLP([64, 4, 10]).fit(X, y, resume=True)


def test_meta_is_plain_json(tmp_path, fitted):
    path = tmp_path / "m.npz"
    fitted.save(path)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
    assert meta["version"] == io.VERSION and meta["config"]["sizes"] == [64, 16, 10]


def test_resume_keeps_the_label_map(data):
    X, y = data
    names = np.array(list("abcdefghij"))[y]
    net = MLP([64, 8, 10], seed=0).fit(X, names, epochs=1)
    keep = names != "a"
    net.fit(X[keep], names[keep], epochs=1, resume=True)  # 'a' absent: the units must not shift
    assert list(net.classes_) == list("abcdefghij") and net.n_iter_ == 2
    with pytest.raises(ValueError, match="not seen"):
        net.fit(X, np.where(keep, names, "z"), epochs=1, resume=True)


def test_resume_of_a_model_saved_without_training_state_is_refused(tmp_path, data):
    # the loaded placeholder Adam(1e-3) trained silently, ignoring optimizer= and lr=
    X, y = data
    MLP([64, 16, 10], seed=0).fit(X, y, epochs=1, optimizer="sgd", lr=0.1).save(tmp_path / "m.fnn",
                                                                                 optimizer_state=False)
    model = io.load(tmp_path / "m.fnn")
    with pytest.raises(ValueError, match="saved without its training state"):
        model.fit(X, y, resume=True, optimizer="sgd", lr=0.1, epochs=1)
    model.save(tmp_path / "again.fnn")  # nor does saving it again make the placeholder real
    with pytest.raises(ValueError, match="saved without its training state"):
        io.load(tmp_path / "again.fnn").fit(X, y, resume=True, epochs=1)
    model.fit(X, y, optimizer="sgd", lr=0.1, epochs=1)  # a new fit from the loaded weights
    assert model.optimizer_.name == "sgd" and model.history_["lr"] == [0.1]


def test_a_numpy_int_seed_saves(tmp_path):
    # the fit's seed was kept as np.int64 in the training state: save failed with json's
    # "Object of type int64 is not JSON serializable"
    X = np.random.default_rng(0).standard_normal((20, 3))
    net = MLP([3, 4, 2], seed=np.int64(7)).fit(X, np.arange(20) % 2, epochs=1)
    net.save(tmp_path / "m")
    back = io.load(tmp_path / "m")
    np.testing.assert_array_equal(back.params, MLP([3, 4, 2], seed=7).fit(X, np.arange(20) % 2, epochs=1).params)
    assert back.seed == 7


def test_file_with_a_param_its_activation_ignores_still_loads(tmp_path):
    # MLP now refuses param=0.2 with relu (it was taken and ignored); files written before keep loading
    src, dst = tmp_path / "a.fnn", tmp_path / "b.fnn"
    net = MLP([4, 3, 2], "relu", seed=0)
    io.save(net, src)
    _rewrite(src, dst, lambda m, a: m["config"].update(param=0.2))
    back = io.load(dst)
    assert back.param is None and np.array_equal(back.params, net.params)


def test_resume_of_a_loaded_model_carries_over_the_first_fits_settings(tmp_path, data):
    """l2, dropout, batch_size and shuffle were not in the model file (and resume reset them in
    memory too): a loaded model resumed with the defaults, not as the first fit trained."""
    X, y = data
    kw = dict(optimizer="adam", lr=1e-2, dropout=0.25, l2=1e-2, batch_size=20, shuffle=False, tol=None)
    whole = MLP([64, 16, 10], seed=3).fit(X, y, epochs=4, **kw)
    MLP([64, 16, 10], seed=3).fit(X, y, epochs=2, **kw).save(tmp_path / "half.fnn")
    with zipfile.ZipFile(tmp_path / "half.fnn") as zf:
        saved = json.loads(zf.read("meta.json"))["train_state"]["state"]["fit_settings"]
    assert {k: saved[k] for k in ("l2", "dropout", "batch_size", "shuffle")} == \
        {"l2": 1e-2, "dropout": 0.25, "batch_size": 20, "shuffle": False}
    resumed = io.load(tmp_path / "half.fnn").fit(X, y, epochs=2, resume=True)
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed.history_["loss"] == whole.history_["loss"] and resumed.n_iter_ == 4
    # a file written before the settings were saved still loads, and resumes on the defaults
    _rewrite(tmp_path / "half.fnn", tmp_path / "old.fnn", lambda m, a: m["train_state"]["state"].pop("fit_settings"))
    assert io.load(tmp_path / "old.fnn").fit(X, y, epochs=1, resume=True).n_iter_ == 3


def test_dataframe_feature_names_survive_save_and_load(tmp_path, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"px{j}" for j in range(64)])
    MLP([64, 8, 10], seed=0).fit(df, y, epochs=1).save(tmp_path / "m.fnn")
    back = io.load(tmp_path / "m.fnn")
    assert back.feature_names_in_ == list(df.columns)
    with pytest.raises(ValueError, match="in another order"):
        back.predict(df[df.columns[::-1]])


# ------------------------------------------- early stopping, checkpoints, custom classes, labels


def _digits500():
    X, y = load_embedded("digits")
    return X[:500], y[:500]


#: see tests/test_train.py: split after 6 epochs the model holds its best weights (epoch 4), not its last
ES_KW = dict(early_stopping=True, n_iter_no_change=3, tol=0.0, lr=3e-2, validation_fraction=0.3)


def test_early_stopping_resume_from_file_equals_one_fit(tmp_path):
    # the file held the best weights only: a loaded model resumed from them, with a fresh best
    # score and counter, not as the uninterrupted fit did
    X, y = _digits500()
    whole = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=12, **ES_KW)
    half = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=6, **ES_KW)
    half.save(tmp_path / "half.fnn")
    back = io.load(tmp_path / "half.fnn")
    np.testing.assert_array_equal(back.params, half.params)  # predicts with the best weights...
    np.testing.assert_array_equal(back.train_state_.last_params, half.train_state_.last_params)  # ...keeps the last
    assert back.train_state_.best_score == max(half.history_["val_score"])
    back.fit(X, y, epochs=6, resume=True)
    np.testing.assert_array_equal(back.params, whole.params)
    assert (back.n_iter_, back.stopped_by_, back.history_["val_score"]) == \
        (whole.n_iter_, whole.stopped_by_, whole.history_["val_score"])


@pytest.mark.parametrize("kw", [dict(lr=1e-2, tol=0.05, n_iter_no_change=2), ES_KW], ids=["tol", "early_stopping"])
def test_a_checkpoint_saved_by_a_callback_resumes_as_the_fit_went_on(tmp_path, kw):
    # the stopping counter was updated after the callbacks: a checkpoint saved in one held the
    # previous epoch's, and resumed fits stopped an epoch late; with early stopping it held
    # neither the best weights nor the best score
    X, y = _digits500()
    whole = MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=40, **kw)
    assert whole.stopped_by_ != "max_epochs"

    def checkpoint(logs):
        logs["model"].save(tmp_path / f"ck{logs['epoch']}.fnn")

    MLP([64, 40, 10], dtype=np.float64, seed=0).fit(X, y, epochs=whole.n_iter_, callbacks=[checkpoint], **kw)
    for k in range(whole.n_iter_ - 1):
        resumed = io.load(tmp_path / f"ck{k}.fnn").fit(X, y, epochs=40 - (k + 1), resume=True)
        assert (resumed.n_iter_, resumed.stopped_by_) == (whole.n_iter_, whole.stopped_by_), k
        np.testing.assert_array_equal(resumed.params, whole.params)


def test_a_model_trained_with_custom_classes_loads_its_weights(tmp_path):
    # load failed with ModelFileError (KeyError('warmup')): the trained weights were lost; and a
    # subclass keeping a built-in's name loaded as that built-in, to resume with another update
    from fastnn.nn import SGD, Schedule

    class Warmup(Schedule):
        name = "warmup"

        def lr_at(self, epoch, samples_seen):
            self.lr = self.lr0 * min(1.0, (epoch + 1) / 3)
            return self.lr

    class ClippedSGD(SGD):  # name "sgd"
        def _apply(self, p, g, s, lr, l2, l1, wd, backend):
            np.clip(g, -1e-3, 1e-3, out=g)
            super()._apply(p, g, s, lr, l2, l1, wd, backend)

    X, y = _digits500()
    for kw, named in [(dict(schedule=Warmup()), r"schedule .*Warmup \(named 'warmup'\)"),
                      (dict(optimizer=ClippedSGD(0.1)), r"optimizer .*ClippedSGD \(named 'sgd'\)")]:
        net = MLP([64, 10, 10], seed=0).fit(X, y, epochs=2, **kw)
        net.save(tmp_path / "m.fnn")
        with pytest.warns(UserWarning, match=named + ", not one of fastnn's own") as rec:
            back = io.load(tmp_path / "m.fnn")
        assert rec[0].filename == __file__
        np.testing.assert_array_equal(back.params, net.params)
        np.testing.assert_array_equal(back.predict(X), net.predict(X))
        with pytest.raises(ValueError, match="saved without its training state"):
            back.fit(X, y, epochs=1, resume=True)
    net = MLP([64, 10, 10], seed=0).fit(X, y, epochs=1, optimizer=SGD(0.1), schedule="step")
    net.save(tmp_path / "plain.fnn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fastnn's own classes: no warning, and the state resumes
        assert io.load(tmp_path / "plain.fnn").fit(X, y, epochs=1, resume=True).n_iter_ == 2


@pytest.mark.parametrize("labels, kind", [
    ([decimal.Decimal("1.1"), decimal.Decimal("2.2"), decimal.Decimal("10.3")], "Decimal"),
    ([datetime.date(2020, 1, 1), datetime.date(2020, 1, 5), datetime.date(2021, 3, 1)], "date"),
    ([1, 2.5, 3], "float, int"),  # a float64 array would make 1 into 1.0
    ([True, 2, 3], "bool, int"),
])
def test_labels_a_model_file_cannot_hold_exactly_are_refused_at_save(tmp_path, labels, kind):
    # they were saved as text: predict returned '2.2' for Decimal('2.2'), and score(X, y) failed
    X = np.random.default_rng(0).standard_normal((60, 3))
    y = np.array(labels, dtype=object)[np.arange(60) % 3]
    model = MLP([3, 4, 3], seed=0).fit(X, y, epochs=1)
    with pytest.raises(ValueError, match=rf"labels \(classes_\) are of type\(s\) {kind}, which a model file "
                                         r"cannot store exactly .* e\.g\. y\.astype\(str\)"):
        model.save(tmp_path / "m.fnn")
    assert not os.path.exists(tmp_path / "m.fnn")
    model.fit(X, y.astype(str), epochs=1)  # the fix the message gives
    model.save(tmp_path / "m.fnn")
    assert io.load(tmp_path / "m.fnn").score(X, y.astype(str)) == model.score(X, y.astype(str))


def test_pandas_timestamp_labels_are_refused_at_save(tmp_path):
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).standard_normal((60, 3))
    y = np.array([pd.Timestamp("2020-01-01"), pd.Timestamp("2021-03-01")], dtype=object)[np.arange(60) % 2]
    with pytest.raises(ValueError, match=r"of type\(s\) Timestamp, which a model file cannot store exactly"):
        MLP([3, 4, 2], seed=0).fit(X, y, epochs=1).save(tmp_path / "m.fnn")


def test_unsorted_labels_of_an_older_file_still_score(tmp_path):
    # fastnn 0.1 saved Decimal labels as text in their numeric order ('10.3' last): score and
    # resume looked them up as if sorted, and called known labels unseen
    X = np.random.default_rng(0).standard_normal((60, 3))
    y = np.array(["1.1", "2.2", "10.3"])[np.arange(60) % 3]
    model = MLP([3, 4, 3], seed=0).fit(X, y, epochs=2)
    model.save(tmp_path / "m.fnn")
    _rewrite(tmp_path / "m.fnn", tmp_path / "old.fnn", lambda m, a: a.update(classes=np.array(["1.1", "2.2", "10.3"])))
    old = io.load(tmp_path / "old.fnn")
    assert list(old.classes_) == ["1.1", "2.2", "10.3"]
    pred = old.predict(X)
    assert old.score(X, pred) == 1.0 and old.score(X, y) == np.mean(pred == y)
    with pytest.raises(ValueError, match="y holds labels not seen in fit"):
        old.score(X, np.where(y == "1.1", "9", y))
