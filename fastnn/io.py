"""Model files: versioned, atomic, checksummed.

A model file is a zip archive (an ``.npz`` that ``numpy.load`` can also open)
holding

* ``meta.json``: ``{"format": "fastnn-model", "version": 1, "kind": ..., ...}``;
* one ``<name>.npy`` member per array (written without pickle, read with
  ``allow_pickle=False``);
* ``SHA256SUMS``: ``<sha256>  <member>`` for every other member.

``write_file`` writes to a temporary file in the target directory, fsyncs it and
``os.replace``-s it over the target, so a crash never leaves a half-written
model. ``read_file`` verifies the format tag, the version and every checksum and
raises :class:`ModelFileError` (a ValueError) with the reason otherwise.

``save(model, path)`` / ``load(path)`` do this for ``fastnn.MLP``, including the
optimizer state, schedule, shuffling RNG, counters and the fit's other settings (batch
size, L2, dropout...: ``TrainState.fit_settings``) and the input columns' names, so that
``load(path).fit(X, y, resume=True, epochs=k)`` continues training exactly (early stopping's
too: its best score, and the last epoch's weights when the model holds the best ones).
Labels must be ones a plain array stores exactly (str, bytes, bool, int, float): ``save``
refuses others (Decimal, dates...) rather than turning them into text.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import warnings
import zipfile
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Dict, Tuple

import numpy as np

if TYPE_CHECKING:
    from .mlp import MLP

__all__ = ["FORMAT", "VERSION", "ModelFileError", "write_file", "read_file", "save", "load", "check_output_path",
           "replace_atomically"]

FORMAT = "fastnn-model"
VERSION = 1
_META = "meta.json"
_SUMS = "SHA256SUMS"


class ModelFileError(ValueError):
    """The file is not a fastnn model file, is of an unsupported version, or is corrupt."""


def _fspath(path: Any) -> str:
    """`path` as a str, or a TypeError naming it (os.fspath's message names nothing)."""
    try:
        return os.fsdecode(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None


def check_output_path(path: "os.PathLike[str] | str", option: str) -> None:
    """Raise ValueError, naming `option`, if `path` cannot be written.

    The command-line tools call this before the work whose result goes there, so a
    typo in an output directory fails at once rather than after a long training
    run or benchmark, whose result would then be lost.
    """
    path = _fspath(path)
    # the directory the writers create their temporary file in (a symlink's target's)
    parent = os.path.dirname(os.path.realpath(path))
    if os.path.isdir(path):
        raise ValueError(f"{option}: {path} is a directory; give a file name")
    if not os.path.isdir(parent):
        raise ValueError(f"{option}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: directory {parent} is not writable")
    # os.access trusts the permission bits, which root bypasses, and knows nothing of
    # read-only mounts or /proc: create (and remove) a file where the writers will
    try:
        fd, probe = _temp_file(parent, ".fastnn-probe.")
    except OSError as e:
        raise ValueError(f"{option}: cannot create a file in {parent} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_file(path: "os.PathLike[str] | str", meta: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
    """Atomically write `meta` (JSON-able) and `arrays` (no object dtypes) to `path`."""
    path = _fspath(path)
    # before the temporary file: failing there would name the temporary file, not `path`
    check_output_path(path, "path")
    for name, arr in arrays.items():
        if not name or "/" in name or name in (_META, _SUMS):
            raise ValueError(f"bad array name {name!r}")
        if np.asarray(arr).dtype.hasobject:
            raise TypeError(f"array {name!r} has an object dtype; model files store plain arrays only")
    header = {"format": FORMAT, "version": VERSION}
    header.update(meta)
    members = {_META: json.dumps(header, indent=1, sort_keys=True).encode()}
    for name, arr in arrays.items():
        members[name + ".npy"] = _npy_bytes(arr)
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members.items())

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(_SUMS, sums)
            for name, data in members.items():
                zf.writestr(name, data)

    replace_atomically(path, write)


def replace_atomically(path: "os.PathLike[str] | str", write: Callable[[BinaryIO], None]) -> None:
    """Create or replace `path` with what `write(f)` writes to a binary file: into a temporary
    file beside it, synced, then renamed over it, so `path` never holds a partial file."""
    # replace the file a symlink points to, not the link itself (as open(path, "w") would)
    path = os.path.realpath(_fspath(path))
    fd, tmp = _temp_file(os.path.dirname(path), "." + os.path.basename(path) + ".")
    try:
        with contextlib.suppress(FileNotFoundError):  # a replaced file keeps its permissions
            os.fchmod(fd, os.stat(path).st_mode & 0o7777)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temp_file(directory: str, prefix: str) -> Tuple[int, str]:
    """(fd, path) of a new file in `directory`, created as open() creates files: 0666 less the umask.

    Not tempfile.mkstemp: its 0600 would become the model file's mode, unreadable to the group or
    a service account the umask would have let read it (and reading the umask means setting it,
    process-wide, which races with other threads).
    """
    for _ in range(100):
        tmp = os.path.join(directory, f"{prefix}{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")


def read_file(path: "os.PathLike[str] | str", kind: str | None = None) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """(meta, arrays) of a model file, every checksum verified; ModelFileError otherwise."""
    path = _fspath(path)
    try:
        zf = zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:  # (a damaged "version needed")
        raise ModelFileError(f"{path}: not a fastnn model file (not a zip archive: {exc})") from None
    with zf:
        names = set(zf.namelist())
        if _META not in names or _SUMS not in names:
            raise ModelFileError(f"{path}: not a fastnn model file (no {_META} / {_SUMS})")
        try:
            data = {name: zf.read(name) for name in names}
        # CRC mismatch, truncation; a damaged header naming a compression method zipfile lacks
        # (NotImplementedError) or encryption (RuntimeError: "password required")
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ModelFileError(f"{path}: corrupt model file ({exc})") from None
    sums: Dict[str, str] = {}
    for line in data[_SUMS].decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        sums[name] = digest
    if set(sums) != names - {_SUMS}:
        raise ModelFileError(f"{path}: corrupt model file (members and checksums disagree)")
    for name, digest in sums.items():
        if hashlib.sha256(data[name]).hexdigest() != digest:
            raise ModelFileError(f"{path}: corrupt model file (checksum mismatch in {name})")
    try:
        meta = json.loads(data[_META].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a fastnn model file (format tag {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{path}: not a fastnn model file")
    version = meta.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version < 1:
        raise ModelFileError(f"{path}: model file version {version!r} is not one fastnn writes (1 to {VERSION})")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise ModelFileError(f"{path}: model file version {meta.get('version')!r} is newer than this fastnn "
                             f"reads ({VERSION}); upgrade fastnn")
    if kind is not None and meta.get("kind") != kind:
        raise ModelFileError(f"{path}: holds a {meta.get('kind')!r}, expected a {kind!r}")
    arrays = {}
    for name in names - {_META, _SUMS}:
        if not name.endswith(".npy"):
            raise ModelFileError(f"{path}: unexpected member {name!r}")
        try:
            arrays[name[:-4]] = np.lib.format.read_array(io.BytesIO(data[name]), allow_pickle=False)
        except ValueError as exc:
            raise ModelFileError(f"{path}: corrupt array {name!r} ({exc})") from None
    return meta, arrays


# ----------------------------------------------------------------------- MLP


def save(model: "MLP", path: "os.PathLike[str] | str", *, optimizer_state: bool = True) -> None:
    """Save a ``fastnn.MLP`` (weights, config, labels and, by default, the training state)."""
    from .mlp import MLP

    if not isinstance(model, MLP):
        raise TypeError(f"model must be a fastnn.MLP, got {type(model).__name__}")
    seed = model.seed if isinstance(model.seed, (int, np.integer)) else None
    meta: Dict[str, Any] = {
        "kind": "MLP",
        "config": {"sizes": model.sizes, "activation": model.activation, "dtype": model.dtype.name,
                   "seed": None if seed is None else int(seed), "loss": model.loss, "init": model.init,
                   "param": model.param, "backend": model.backend},
        "fitted": {"loss_name": model.loss_name_, "y_1d": model._y_1d},
    }
    names = model.feature_names_in_
    if names is not None:
        if len(names) != model.sizes[0] or not all(isinstance(n, str) for n in names):
            raise ValueError(f"model.feature_names_in_ must be None or {model.sizes[0]} str (one per input), "
                             f"got {names!r}")
        meta["fitted"]["feature_names"] = list(names)
    from . import __version__

    meta["fastnn_version"] = __version__
    arrays: Dict[str, np.ndarray] = {"params": model.params}
    if model.classes_ is not None:
        classes = np.asarray(model.classes_)
        if classes.dtype.hasobject:
            classes = _plain_labels(classes)
            meta["fitted"]["classes_object"] = True
        arrays["classes"] = classes
    st = model.train_state_
    if st is not None and optimizer_state and st.resumable:  # never save load's placeholder as real state
        from .nn.optimizers import OPTIMIZERS
        from .nn.schedules import SCHEDULES

        opt, sched = st.optimizer, st.schedule
        meta["train_state"] = {"optimizer": opt.name, "optimizer_config": opt.get_config(),
                               "schedule": sched.name, "schedule_config": sched.get_config(),
                               "state": st.get_state()}
        for kind, obj, builtin in (("optimizer", opt, OPTIMIZERS), ("schedule", sched, SCHEDULES)):
            if type(obj) is not builtin.get(obj.name):  # a class of the user's: load cannot rebuild it
                meta["train_state"][f"{kind}_class"] = f"{type(obj).__module__}.{type(obj).__qualname__}"
        if opt.state is not None:
            arrays["optimizer_state"] = opt.state
        for name in ("last_params", "best_params"):  # early stopping's (see TrainState)
            if getattr(st, name) is not None:
                arrays[name] = getattr(st, name)
    write_file(path, meta, arrays)


def _plain_labels(classes: np.ndarray) -> np.ndarray:
    """Object-dtype labels as a plain array that load turns back into the same objects
    (ints from an object column: int64, restored as Python ints); a ValueError for labels no
    plain array holds exactly (Decimal, datetime.date, pandas.Timestamp...): as text they
    came back as other labels, and score(X, y) failed after load."""
    # (a NumPy scalar among them comes back as its Python value, which equals it)
    given = [c.item() if isinstance(c, np.generic) else c for c in classes]
    try:
        plain = np.array(given)
    except ValueError:  # (tuples of different lengths...)
        plain = None
    back = None if plain is None or plain.dtype.hasobject or plain.shape != classes.shape else plain.tolist()
    if back is None or any(type(a) is not type(b) or a != b for a, b in zip(given, back)):
        kinds = sorted({type(c).__name__ for c in given})
        raise ValueError(f"the model's labels (classes_) are of type(s) {', '.join(kinds)}, which a model file "
                         "cannot store exactly (it keeps str, bytes, bool, int and float labels, each kind alone); "
                         "fit on labels converted to one of those, e.g. y.astype(str)")
    return plain


def _check_labels(loss_name, classes, n_out: int) -> None:
    """A ValueError unless (loss_name, classes) can be what a fit of an MLP with n_out outputs
    leaves: a file written by other code could make predict fail with an IndexError or label wrongly."""
    from .nn.losses import LOSSES

    if loss_name is not None and loss_name not in LOSSES:
        raise ValueError(f"loss_name {loss_name!r}")
    # softmax_xent: one label per unit; sigmoid_bce: two (binary, one unit) or none (multi-label)
    n = {"softmax_xent": (n_out,), "sigmoid_bce": (2, None) if n_out == 1 else (None,)}.get(loss_name, (None,))
    if classes is None:
        if None not in n:
            raise ValueError(f"no classes for loss {loss_name!r}")
    elif classes.ndim != 1 or len(classes) not in n or len(np.unique(classes)) != len(classes):
        # (not required sorted: files of fastnn 0.1 saved labels such as Decimals as text, in the
        # fit's numeric order; MLP._encode takes them unsorted)
        raise ValueError(f"classes of shape {classes.shape} for loss {loss_name!r} and {n_out} output(s), "
                         "or not unique")


def _unknown_class(ts: Dict[str, Any], kind: str, builtin: Dict[str, type]):
    """"optimizer 'x.MySGD' (named 'sgd')" when the file's optimizer (kind) is not a built-in
    class, else None: save names such a class, as a subclass keeping a built-in's name would
    otherwise load as that built-in and resume with another update."""
    name, path = ts[kind], ts.get(f"{kind}_class")
    if path is None and isinstance(name, str) and name in builtin:
        return None
    return f"{kind} {name!r}" if path is None else f"{kind} {path} (named {name!r})"


def load(path: "os.PathLike[str] | str") -> "MLP":
    """Load an MLP saved by :func:`save`; ModelFileError if the file is corrupt or foreign.

    A model trained with an Optimizer or Schedule class of its own (not fastnn's) loads with
    its weights and a UserWarning naming the class, without its training state (as saved
    with ``optimizer_state=False``): ``fit(resume=True)`` is then refused."""
    from .backends._common import ACTIVATIONS, DEFAULT_PARAM
    from .mlp import MLP, _outside_fastnn
    from .nn.optimizers import OPTIMIZERS, get_optimizer
    from .nn.schedules import SCHEDULES
    from .train import TrainState

    meta, arrays = read_file(path, kind="MLP")
    try:
        cfg = meta["config"]
        # files written before MLP refused a param its activation ignores may hold one: still ignored
        param = cfg["param"] if ACTIVATIONS.get(cfg["activation"]) in DEFAULT_PARAM else None
        model = MLP(cfg["sizes"], cfg["activation"], dtype=np.dtype(cfg["dtype"]), seed=cfg["seed"],
                    loss=cfg["loss"], init=cfg["init"], param=param, backend=cfg["backend"])
        params = arrays["params"]
        if params.shape != model.params.shape or params.dtype != model.params.dtype:
            raise ModelFileError(f"{path}: params have shape {params.shape} {params.dtype}, expected "
                                 f"{model.params.shape} {model.params.dtype}")
        model.params[...] = params
        model.loss_name_ = meta["fitted"]["loss_name"]
        _check_labels(model.loss_name_, arrays.get("classes"), model.sizes[-1])
        model.classes_ = arrays.get("classes")
        if model.classes_ is not None and meta["fitted"].get("classes_object"):
            model.classes_ = model.classes_.astype(object)
        model._y_1d = bool(meta["fitted"]["y_1d"])
        names = meta["fitted"].get("feature_names")  # (absent from files of fastnn 0.1 before it)
        if names is not None and (not isinstance(names, list) or len(names) != model.sizes[0]
                                  or not all(isinstance(n, str) for n in names)):
            raise ModelFileError(f"{path}: feature_names is not {model.sizes[0]} names")
        model.feature_names_in_ = names
        ts = meta.get("train_state")
        unknown = None if ts is None else (_unknown_class(ts, "optimizer", OPTIMIZERS)
                                           or _unknown_class(ts, "schedule", SCHEDULES))
        if unknown is not None:
            # the weights are what matters: load them, as a file saved with optimizer_state=False
            warnings.warn(f"{path}: the model was trained with {unknown}, not one of fastnn's own, so its training "
                          "state cannot be rebuilt: the model loads with its weights, and fit(resume=True) is refused "
                          "(a fit without resume trains on from these weights)", UserWarning,
                          stacklevel=_outside_fastnn())
            ts = None
        if ts is not None:
            opt = get_optimizer(ts["optimizer"], **ts["optimizer_config"])
            sched = SCHEDULES[ts["schedule"]](**ts["schedule_config"])
            state = TrainState(opt, sched, np.random.default_rng())
            state.set_state(ts["state"])
            if "optimizer_state" in arrays:
                st = arrays["optimizer_state"]
                want = (opt.n_state, model.layout.size)
                if st.shape != want or st.dtype != model.params.dtype:
                    # Optimizer.setup would silently replace it by zeros and restart the step count
                    raise ModelFileError(f"{path}: optimizer_state has shape {st.shape} {st.dtype}, expected "
                                         f"{want} {model.params.dtype}")
                opt.state = np.ascontiguousarray(st)
            for name in ("last_params", "best_params"):
                if name in arrays:
                    w = arrays[name]
                    if w.shape != model.params.shape or w.dtype != model.params.dtype:
                        raise ModelFileError(f"{path}: {name} has shape {w.shape} {w.dtype}, expected "
                                             f"{model.params.shape} {model.params.dtype}")
                    setattr(state, name, np.ascontiguousarray(w))
            model.train_state_ = state
        elif model.loss_name_ is not None:
            model.train_state_ = TrainState(get_optimizer("adam"), SCHEDULES["constant"](), np.random.default_rng())
            model.train_state_.resumable = False  # fit(resume=True) would train with this made-up Adam
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # e.g. sizes [4, 0], a history not a dict
        raise ModelFileError(f"{path}: incomplete or inconsistent model metadata ({exc!r})") from None
    return model
