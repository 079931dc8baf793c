"""``MLP``: the high-level model.

>>> net = fastnn.MLP([64, 128, 64, 10], activation="relu", dtype=np.float32, seed=0)
>>> net.fit(X, y, optimizer="adam", lr=1e-3, epochs=20, batch_size=32)
>>> net.predict(X); net.predict_proba(X); net.score(X, y)

The task follows the output width and the targets unless ``loss`` says otherwise:

* last size > 1 and 1-D labels: multi-class classification (``softmax_xent``);
* last size 1 and two label values (e.g. 0/1): binary classification
  (``sigmoid_bce``); 2-D 0/1 targets with ``loss="sigmoid_bce"``: multi-label;
* ``loss="mse"``: regression (y [n] or [n, outputs]).
"""
from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import backends, kernels
from .backends._common import ACTIVATIONS
from .nn.flat import FlatLayout
from .nn.init import INITS, init_params, make_rng
from .nn.losses import LOSSES, get_loss
from .nn.network import build_mlp, check_dropout
from .nn.optimizers import Optimizer, get_optimizer
from .nn.schedules import Cosine, Schedule, get_schedule
from .train import TrainingDivergedError, TrainState, fit_network

__all__ = ["MLP"]

#: activations a hidden layer may use (softmax normalises a whole row: an output's)
HIDDEN_ACTIVATIONS = tuple(sorted(set(ACTIVATIONS) - {"softmax"}))

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class NotFittedError(ValueError, AttributeError):
    """The model has not been fitted yet (same bases as scikit-learn's)."""


class _Default:
    """A fit argument left out: `value`, or on resume=True what the resumed fit used."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self) -> str:  # help(MLP.fit) shows the plain default
        return repr(self.value)


#: fit's settings that resume=True carries over from the fit it continues unless passed again
#: (the optimizer's, the schedule, loss and seed live in the training state itself)
CARRIED = ("batch_size", "l2", "dropout", "shuffle", "tol", "n_iter_no_change", "early_stopping",
           "validation_fraction")

#: the warning predict & co. give for an unnamed X after a fit on named columns
UNNAMED_X = "X does not have valid feature names, but this MLP was fitted with feature names"


def _outside_fastnn() -> int:
    """The warnings.warn stacklevel, from its caller, of the first frame outside fastnn: a warning
    then points at the user's predict() line, however deep inside fastnn it was raised."""
    here, frame, level = os.path.dirname(os.path.abspath(__file__)), sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(here):
        frame, level = frame.f_back, level + 1
    return level


def _some(names: List[str]) -> str:
    """Up to 6 names, for a message (a wide DataFrame has thousands)."""
    return ", ".join(map(repr, names[:6])) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _column_names(X) -> Optional[List[str]]:
    """A DataFrame's column names when all are str (scikit-learn's rule), else None; a
    TypeError for a mix of str and other names, which scikit-learn refuses too."""
    columns = getattr(X, "columns", None)
    if columns is None or kernels.is_sparse(X) or isinstance(X, np.ndarray):
        return None
    names = list(columns)
    strs = [isinstance(n, str) for n in names]
    if all(strs) and names:
        return [str(n) for n in names]
    if any(strs):
        kinds = sorted({type(n).__name__ for n in names})
        raise TypeError(f"X's column names are of types {kinds}; feature names are kept only when all are str "
                        "(convert them with X.columns = X.columns.astype(str), or drop the names)")
    return None


def _r2(pred: np.ndarray, target: np.ndarray) -> float:
    """R^2 averaged over outputs (scikit-learn's uniform average)."""
    pred = pred.reshape(len(pred), -1).astype(np.float64)
    target = target.reshape(len(target), -1).astype(np.float64)
    ss_res = ((target - pred) ** 2).sum(axis=0)
    ss_tot = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(ss_res > 0, 0.0, 1.0))
    return float(r2.mean())



def _check_weights(sample_weight, n: int) -> np.ndarray:
    """sample_weight as float64 [n]: real, finite, >= 0, not all zero."""
    sw = kernels.row_weights_array(sample_weight, n)
    if (sw < 0).any():
        raise ValueError("sample_weight must be >= 0")
    if not sw.any():
        raise ValueError("sample_weight is all zero")
    return sw

class MLP:
    """A multilayer perceptron: Dense + activation per hidden layer, a linear output layer.

    Parameters
    ----------
    sizes : sequence of int
        [inputs, hidden..., outputs].
    activation : str
        Hidden activation (a name from ``fastnn.kernels.ACTIVATIONS`` except softmax).
    dtype : float32 or float64
    seed : int in [0, 2**32), Generator, RandomState or None
        Seeds the initial weights and, unless ``fit(seed=...)`` says otherwise,
        shuffling, the validation split and dropout.
    loss : None, "softmax_xent", "sigmoid_bce" or "mse"
        None: inferred from the output width and the targets (see module docstring).
    init : "auto" (He for ReLU-family, scikit-learn's Glorot otherwise), "glorot" or "he".
    param : optional activation parameter (leaky_relu slope, elu alpha).
    backend : default kernel backend for this model (None: fastnn's current default).

    Attributes (after fit): ``classes_``, ``loss_`` (last epoch's training loss),
    ``history_`` (per-epoch "loss", "val_loss", "val_score", "lr", "time"),
    ``n_iter_`` (epochs run in total), ``optimizer_``, ``stopped_by_`` (why the last fit
    ended: "max_epochs", "tol", "early_stopping", "callback" (one returned true),
    "diverged", or "interrupted" when an exception such as a callback's error or
    Ctrl-C ended it); always: ``params`` (flat buffer), ``coefs_`` / ``intercepts_`` (views).
    ``feature_names_in_``: the input columns' names (a list of str) when the training data
    named them (a pandas DataFrame whose column names are all str; ``fastnn train`` sets it
    from a CSV header), else None; saved with the model. Then predict, predict_proba, score,
    decision_function and a resumed fit refuse a DataFrame whose names differ or are in
    another order (ValueError) and warn for an X without names (scikit-learn's rule);
    ``fastnn predict`` matches a CSV's columns to them by name.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", *, dtype=np.float32, seed: Any = None,
                 loss: Optional[str] = None, init: str = "auto", param: Optional[float] = None,
                 backend: Optional[str] = None):
        self.layout = FlatLayout(sizes)
        self.sizes = list(self.layout.sizes)
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(HIDDEN_ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        try:
            if dtype is None:  # np.dtype(None) is float64, where the default here is float32
                raise TypeError
            self.dtype = np.dtype(dtype)
        except TypeError:  # NumPy's "data type 'float17' not understood" would not name the argument
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if self.dtype not in _FLOATS:
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        if loss is not None and loss not in LOSSES:
            raise ValueError(f"loss must be None or one of {sorted(LOSSES)}, got {loss!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        kernels._activation(activation, param)  # a bad param fails here, not in the first fit
        if backend is not None:  # the name; availability is checked on use (a model file may name a backend
            # this machine lacks, and still loads)
            backends.check_name(backend)
        self.loss, self.init, self.param, self.backend = loss, init, param, backend
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            # an int is also every fit's default seed, so fit(seed=...)'s range; a Python int, as a
            # NumPy one reached the model file's JSON (save failed) and 2**32 or more failed in fit
            seed = kernels.check_int("seed", seed, 0, 2**32 - 1)
        self.seed = seed
        self.params = init_params(self.layout, activation, init=init, seed=make_rng(seed), dtype=self.dtype)
        self.network = build_mlp(self.sizes, activation, dtype=self.dtype, param=param, params=self.params)
        self.train_state_: Optional[TrainState] = None
        self.classes_: Optional[np.ndarray] = None
        self.loss_name_: Optional[str] = loss
        self.feature_names_in_: Optional[List[str]] = None
        self._y_1d = True

    # ------------------------------------------------------------- parameters

    @property
    def coefs_(self):
        """Per-layer weight views [in, out] (scikit-learn's coefs_)."""
        return self.layout.weights(self.params)

    @property
    def intercepts_(self):
        """Per-layer bias views (scikit-learn's intercepts_)."""
        return self.layout.biases(self.params)

    @property
    def n_iter_(self) -> int:
        return 0 if self.train_state_ is None else self.train_state_.epoch

    @property
    def history_(self) -> Dict[str, list]:
        return self._check_fitted().history

    @property
    def loss_(self) -> float:
        h = self.history_["loss"]
        return h[-1] if h else math.nan

    @property
    def optimizer_(self) -> Optimizer:
        return self._check_fitted().optimizer

    @property
    def stopped_by_(self) -> str:
        return self._check_fitted().stopped_by

    def _check_fitted(self) -> TrainState:
        """The training state; NotFittedError before the first fit."""
        if self.train_state_ is None or self.loss_name_ is None:
            raise NotFittedError("this MLP is not fitted yet; call fit(X, y) first")
        return self.train_state_

    # ------------------------------------------------------------------- data

    def _X(self, X, name="X", check_names=True):
        """X checked and in the model's dtype: a C-contiguous array, or for a scipy.sparse X
        a CSR matrix or array (see _sparse_X). check_names: a DataFrame's column names must be
        feature_names_in_, in that order (fit, which sets them, passes False)."""
        if check_names:
            self._check_names(X, name)
        if kernels.is_sparse(X):
            return self._sparse_X(X, name)
        kernels.refuse_masked(name, X)
        X = np.asarray(X)
        if X.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (n, {self.sizes[0]}), got {X.shape}")
        return kernels.finite_as(name, X, self.dtype)

    def _check_names(self, X, name: str) -> None:
        """scikit-learn's rule: a DataFrame's names must be the fit's, in the fit's order (a
        ValueError); names on one side only warn, as the columns are then taken by position."""
        names, fitted = _column_names(X), self.feature_names_in_
        if names is None and fitted is None:
            return
        if names is None:
            warnings.warn(UNNAMED_X.replace("X ", f"{name} ", 1), UserWarning, stacklevel=_outside_fastnn())
        elif fitted is None:
            if self.train_state_ is not None:  # (an unfitted model has no names to compare with)
                warnings.warn(f"{name} has feature names, but this MLP was fitted without feature names",
                              UserWarning, stacklevel=_outside_fastnn())
        elif names != fitted:
            unseen = [n for n in names if n not in fitted]
            missing = [n for n in fitted if n not in names]
            if unseen or missing or len(names) != len(fitted):
                what = "; ".join(([f"unseen at fit: {_some(unseen)}"] if unseen else [])
                                 + ([f"seen at fit but missing: {_some(missing)}"] if missing else []))
                what = what or "a name repeats"
                raise ValueError(f"{name}'s column names differ from those the model was fitted on ({what})")
            # the same names in another order: taken by position, every column would feed the wrong input
            raise ValueError(f"{name}'s columns are the fitted ones in another order ({_some(names)}; fitted: "
                             f"{_some(fitted)}); reorder them: X[model.feature_names_in_]")

    def _sparse_X(self, X, name: str):
        """A scipy.sparse X as CSR in the model's dtype: X itself when it is one already, else a
        converted copy (the caller's object is never changed). Its stored values must be finite."""
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"{name} must have shape (n, {self.sizes[0]}), got {X.shape}")
        if X.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
        X = X.tocsr()  # (a CSR X as it is; the native epoch takes a row per sample)
        data = kernels.finite_as(name, X.data, self.dtype)  # X.data itself when no cast was needed
        if data is not X.data:  # a new matrix on X's structure (X may be the caller's)
            X = type(X)((data, X.indices, X.indptr), shape=X.shape)
        return X

    def _infer_loss(self, y: np.ndarray) -> str:
        if self.loss is not None:
            return self.loss
        if self.sizes[-1] > 1:
            if y.ndim != 1:
                raise ValueError("2-D targets need loss='mse' (regression) or loss='sigmoid_bce' (multi-label)")
            return "softmax_xent"
        if y.ndim == 2:  # its values would be judged wrongly: a 0/1 column is not "more than two values"
            raise ValueError(f"y is 2-D (shape {y.shape}) and the output has one unit: pass 1-D labels (y.ravel()) "
                             "for binary classification, or loss='mse' (regression) or loss='sigmoid_bce' "
                             "(0/1 multi-label targets) for a 2-D y")
        if len(np.unique(y)) <= 2:
            return "sigmoid_bce"
        raise ValueError("the output has one unit and y has more than two values: pass loss='mse' for regression")

    def _encode_fit(self, y, loss: str):
        """(encoded targets, classes_) for a fit."""
        y = np.asarray(y)
        k = self.sizes[-1]
        if loss != "mse" and y.dtype.kind == "f" and np.isnan(y).any():
            # np.unique makes NaN a class of its own, which y == NaN never matches: sigmoid_bce
            # trained on all-zero targets and predict returned NaN labels
            raise ValueError("y contains NaN; class labels must not be NaN")
        if loss == "softmax_xent":
            if y.ndim != 1:
                raise ValueError(f"softmax_xent takes 1-D labels, got shape {y.shape}")
            classes = np.unique(y)
            if len(classes) > k:
                raise ValueError(f"y has {len(classes)} classes but the output layer has {k} units")
            if len(classes) < k:
                # a subset of 0..k-1 (e.g. a fold missing a digit): keep the class <-> unit map
                if classes.dtype.kind in "iuf" and np.all(np.mod(classes, 1) == 0) and classes.min() >= 0 \
                        and classes.max() < k:
                    classes = np.arange(k, dtype=classes.dtype)
                else:
                    raise ValueError(f"y has {len(classes)} classes but the output layer has {k} units")
            return np.searchsorted(classes, y).astype(np.int32), classes
        if loss == "sigmoid_bce":
            if y.ndim == 2:  # multi-label 0/1 matrix
                if y.shape[1] != k:
                    raise ValueError(f"y must have {k} columns, got shape {y.shape}")
                if not np.isin(y, (0, 1)).all():
                    raise ValueError("multi-label targets must be 0 or 1")
                return np.ascontiguousarray(y, dtype=self.dtype), None
            if k != 1:
                raise ValueError("binary sigmoid_bce with 1-D labels needs an output layer of size 1")
            classes = np.unique(y)
            if len(classes) > 2:
                raise ValueError(f"sigmoid_bce needs two classes, y has {len(classes)}")
            if len(classes) < 2:
                if not np.isin(classes, (0, 1)).all():
                    raise ValueError("y has a single class that is not 0 or 1; the positive class is ambiguous")
                classes = np.array([0, 1], dtype=classes.dtype)
            t = (y == classes[1]).astype(self.dtype).reshape(-1, 1)
            return t, classes
        # mse
        if y.dtype.kind not in "fiub":
            raise TypeError(f"regression targets must be numeric, got dtype {y.dtype}")
        t = y.reshape(len(y), -1)
        if t.shape[1] != k:
            raise ValueError(f"y must have {k} output column(s), got shape {y.shape}")
        return kernels.finite_as("y", t, self.dtype), None

    def _encode(self, y, name: str = "y") -> np.ndarray:
        """Targets encoded like the fit's (for scoring); `name`: the argument, for messages."""
        kernels.refuse_masked(name, y)
        y = np.asarray(y)
        if y.ndim not in (1, 2):  # the reshape below would flatten [n, k, 1] into regression targets
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {y.shape}")
        loss = self.loss_name_
        if loss == "softmax_xent":
            if y.ndim != 1:
                raise ValueError(f"{name} must be 1-D labels, got shape {y.shape}")
            classes = self.classes_
            # (a model file of fastnn 0.1 may hold them unsorted: labels it saved as text)
            order = None if classes.size < 2 or bool(np.all(classes[:-1] < classes[1:])) else np.argsort(classes)
            idx = np.clip(np.searchsorted(classes, y, sorter=order), 0, len(classes) - 1)
            if order is not None:
                idx = order[idx]
            if not np.all(classes[idx] == y):
                raise ValueError(f"{name} holds labels not seen in fit")
            return idx.astype(np.int32)
        if loss == "sigmoid_bce" and self.classes_ is not None:
            if y.ndim != 1 or not np.isin(y, self.classes_).all():
                raise ValueError(f"{name} must be 1-D labels among {self.classes_.tolist()}")
            return (y == self.classes_[1]).astype(self.dtype).reshape(-1, 1)
        if y.dtype.kind not in "fiub":  # as fit: text was parsed ("1.5" trained) or failed in NumPy
            raise TypeError(f"{name} must be numeric targets, got dtype {y.dtype}")
        # not y.reshape(len(y), -1): no rows (an empty validation_data or score) made that NumPy's error
        t = y[:, None] if y.ndim == 1 else y
        if t.shape[1] != self.sizes[-1]:
            raise ValueError(f"{name} must have {self.sizes[-1]} column(s), got shape {y.shape}")
        # the checks _encode_fit makes: resume=True and validation_data come through here, and
        # NaN targets surfaced as a "diverged" error (or NaN val_loss), 2s in a multi-label y trained
        t = kernels.finite_as(name, t, self.dtype)
        if loss == "sigmoid_bce" and not np.isin(t, (0, 1)).all():
            raise ValueError(f"multi-label targets must be 0 or 1 (in {name})")
        return t

    def _raw_score(self, out: np.ndarray, t: np.ndarray) -> float:
        """Accuracy (classification) or R^2 (regression) from raw outputs and encoded targets."""
        if self.loss_name_ == "softmax_xent":
            return float(np.mean(out.argmax(axis=1) == t))
        if self.loss_name_ == "sigmoid_bce":
            return float(np.mean(np.all((out > 0) == (t > 0.5), axis=1)))
        return _r2(out, t)

    # -------------------------------------------------------------------- fit

    def _refuse_ignored_on_resume(self, **given) -> None:
        """ValueError naming the arguments a resumed fit would ignore: those given (not
        left at their defaults) that differ from what the first fit set up."""
        state = self.train_state_
        opt, sched = state.optimizer, state.schedule
        config = sched.get_config()

        def kept(attr):  # the value the resumed fit uses, or None if the optimizer has no such setting
            return lambda v: v == getattr(opt, attr, None)

        def same_optimizer(v):  # a name, or an instance like the one the first fit trained a copy of
            if isinstance(v, str):
                return v in ("adam", opt.name)  # ("adam": fit's default, as when left out)
            if type(v) is not type(opt):
                return False
            theirs = {**v.get_config(), "lr": opt.lr} if given["lr"] is not None else v.get_config()  # (lr=: apart)
            return theirs == opt.get_config()

        same = {
            "optimizer": same_optimizer,
            "lr": kept("lr"), "l1": lambda v: v == 0.0 or v == opt.l1, "weight_decay": kept("weight_decay"),
            "momentum": kept("momentum"), "eps": kept("eps"), "rho": kept("rho"),
            "betas": lambda v: np.iterable(v) and tuple(v) == (getattr(opt, "beta1", None),
                                                               getattr(opt, "beta2", None)),
            "schedule": lambda v: v == sched.name or (type(v) is type(sched) and v.get_config() == config),
            # (cosine's t_max is not ignored: a resume may extend it, see fit)
            "schedule_kwargs": lambda v: all(k in config and config[k] == x for k, x in v.items()
                                             if not (k == "t_max" and type(sched) is Cosine)),
            "loss": lambda v: v == self.loss_name_,
            "seed": lambda v: v == state.seed,
        }
        ignored = [name for name, v in given.items() if v is not None and not same[name](v)]
        if ignored:
            raise ValueError(
                f"resume=True continues the first fit's optimizer, schedule, loss and seed, so "
                f"{', '.join(ignored)} would be ignored; fit without resume to start a new optimizer "
                "from the current weights")

    def fit(self, X, y, *, optimizer: Any = "adam", lr: Optional[float] = None, epochs: int = 20,
            batch_size: Union[int, str, None] = _Default(32), loss: Optional[str] = None,
            validation_fraction: Optional[float] = _Default(None), early_stopping: bool = _Default(False),
            tol: Optional[float] = _Default(1e-4), n_iter_no_change: int = _Default(10),
            weight_decay: Optional[float] = None, l1: float = 0.0, l2: float = _Default(0.0),
            alpha: Optional[float] = None, dropout: float = _Default(0.0), schedule: Any = None,
            schedule_kwargs: Optional[Dict[str, Any]] = None, momentum: Optional[float] = None,
            betas: Optional[Sequence[float]] = None, eps: Optional[float] = None, rho: Optional[float] = None,
            shuffle: bool = _Default(True), seed: Optional[int] = None,
            callbacks: Sequence[Callable[[Dict[str, Any]], Any]] = (),
            verbose: bool = False, backend: Optional[str] = None, fused: Optional[bool] = None,
            resume: bool = False, validation_data: Optional[Sequence[Any]] = None,
            sample_weight: Any = None) -> "MLP":
        """Train on (X, y); returns self.

        X: [n, inputs] numbers (cast to the model's dtype), or a scipy.sparse matrix or
        array of that shape, which trains as CSR on the native epoch (its first layer over
        each batch's non-zeros; another format is converted in a copy). predict, score and
        validation_data take a sparse X too. The native epoch trains the faster form
        (``fastnn.sparse_input``): a sparse X at least 35% non-zero densified, a dense X at
        most 25% non-zero and at least 128 columns wide on a CSR copy (C backend, 2 epochs
        or more).
        optimizer: "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
        "adamw" or an Optimizer; lr, momentum, betas=(beta1, beta2), eps, rho:
        its hyperparameters (defaults: the optimizer's; lr 1e-3 for a name). An
        Optimizer instance keeps its own lr unless lr is given, and its own
        hyperparameters, l1 and weight_decay (passing those too raises ValueError);
        the fit trains a fresh copy of it (``optimizer_``), the instance itself is
        never changed. A subclass that overrides the update trains on the
        kernel-by-kernel loop (the native epoch runs the built-in updates only;
        fused=True then raises ValueError).
        batch_size: int, or
        None / "full" for full-batch gradient descent (1 = plain SGD), or "auto"
        for scikit-learn's min(200, rows).
        validation_fraction: held-out share (stratified for classifiers) scored
        every epoch; None means 0.1 with early_stopping, else 0.
        validation_data: an explicit (X_val, y_val) instead of a held-out share. early_stopping:
        stop when the validation score has not improved by tol for more than
        n_iter_no_change epochs and restore the best weights; otherwise the same
        rule on the training loss stops training (tol: None (never) or a number >= 0).
        loss: as the constructor's (None: the constructor's, else inferred).
        shuffle: reshuffle the rows every epoch. seed: an int in [0, 2**32) for
        shuffling, the validation split and dropout (None: the constructor's seed
        when it is an int, else fresh entropy). backend: the kernels' backend for
        this fit (None: the model's).
        l2 (alias alpha; passing both raises ValueError): scikit-learn's L2
        (alpha W / rows added to the gradient); l1: proximal L1; weight_decay:
        decoupled decay (weights only; None = the optimizer's default: 0.01 for
        adamw, else 0). dropout: inverted dropout on every hidden layer.
        schedule: None (constant), "invscaling", "step", "cosine" (annealed over
        ``epochs`` unless schedule_kwargs sets t_max; epochs past t_max, whose lr
        would be 0 with min_lr 0, raise ValueError), "adaptive" or a Schedule
        (copied, as an Optimizer), options in schedule_kwargs (a dict).
        callbacks: callables receiving each epoch's logs dict (epoch, loss,
        val_loss, val_score, lr, time, model); a true return value stops
        training (a checkpoint saved there, logs["model"].save(...), resumes as
        the fit went on). verbose: tqdm progress bar. fused: None uses
        the native epoch (``fastnn.kernels.train_epoch``) when available, False
        the Python-composed loop. resume: continue the previous fit (or a loaded
        model): optimizer state and step, schedule, shuffling RNG and epoch
        counter carry on, with the first fit's optimizer (and its lr, l1,
        weight_decay and other hyperparameters), schedule, loss and seed; passing
        a different one raises ValueError, except cosine's t_max (schedule_kwargs=
        {"t_max": n}: the epochs still to run anneal towards the new end). Early
        stopping's best score, best weights and counter carry on too, and the
        resumed fit trains on from the last epoch's weights (not the best ones the
        previous fit ended on). Its other training settings
        (batch_size, l2 / alpha, dropout, shuffle, tol, n_iter_no_change,
        early_stopping, validation_fraction) carry over too unless passed again,
        when the new value applies from then on (validation_data given again
        replaces a held-out share); all of them are saved with the model, so a
        loaded model resumes the same way. callbacks, verbose, backend, fused,
        sample_weight and validation_data are this call's only. ``epochs`` more
        epochs run: fit(epochs=4) trains as fit(epochs=2) then
        fit(epochs=2, resume=True), to the last bit, when the first fit ran all its
        epochs (not stopped by tol, early stopping or a callback); with
        schedule="cosine" only if the first fit set t_max=4 (its default is that
        fit's own epochs).
        sample_weight: one finite weight >= 0 per row (scikit-learn's weighting:
        a batch's loss, gradient and L2 term are divided by its weight sum, which
        must not be 0); a held-out validation share keeps its rows' weights out of
        training and is scored unweighted.

        Training starts from the current weights (the constructor's
        initialisation, or what an earlier fit left) with a fresh optimizer: a
        copy of an Optimizer instance starts from zero state and step, as a
        named optimizer does, even if an earlier fit used the instance; only
        resume=True continues them.

        Raises fastnn.train.TrainingDivergedError (a FloatingPointError) if the
        loss becomes NaN/inf; the weights of the last finite epoch are kept (with
        early_stopping, the best epoch's, as at every end of such a fit).
        """

        names = None if resume else _column_names(X)  # (resume checks them against the first fit's)
        X = self._X(X, check_names=resume)
        n_rows = X.shape[0]  # (len() refuses a sparse X)
        if n_rows == 0:  # checked first: the target encoding would fail on it with NumPy's own error
            raise ValueError(f"X has no rows; fit needs at least one, got shape {X.shape}")
        kernels.refuse_masked("y", y)
        y_arr = np.asarray(y)
        if y_arr.ndim == 0:  # e.g. y=None: len() would fail with "len() of unsized object"
            raise ValueError(f"y must be 1-D or 2-D targets, one row per row of X, got {y!r}")
        if y_arr.ndim > 2:  # before the loss is inferred from y, whose errors would not say this
            raise ValueError(f"y must be 1-D or 2-D, got shape {y_arr.shape}")
        if len(y_arr) != n_rows:
            raise ValueError(f"X and y have different lengths: {n_rows} and {len(y_arr)}")
        sw = None if sample_weight is None else _check_weights(sample_weight, n_rows)
        for name, flag in (("verbose", verbose), ("resume", resume)):
            kernels.check_bool(name, flag)
        if fused is not None:  # as a bool: the loop tests `fused is not False`, which 0 or np.False_ passed
            fused = kernels.check_bool("fused", fused)
        if backend is not None:  # else a bad name failed inside the first epoch
            backends.check_name(backend)
        if resume and self.train_state_ is None:
            raise ValueError("resume=True needs a model that was fitted (or loaded) before")
        if resume and not self.train_state_.resumable:
            # resume ignores optimizer / lr / schedule, and there is no saved state to use instead
            raise ValueError("this model was saved without its training state (optimizer_state=False), so "
                             "resume=True has nothing to continue; fit without resume starts from its weights")
        if alpha is not None and not isinstance(l2, _Default):  # one setting: which was meant?
            raise ValueError(f"l2={l2!r} and alpha={alpha!r} given: alpha is another name for l2 (scikit-learn's); "
                             "pass one of them")
        if schedule_kwargs is not None and (not isinstance(schedule_kwargs, dict)
                                            or not all(isinstance(k, str) for k in schedule_kwargs)):
            raise TypeError(f"schedule_kwargs must be a dict of the schedule's options (e.g. {{'t_max': 50}}), "
                            f"got {schedule_kwargs!r}")
        # the settings left out: their defaults, or on resume the previous fit's
        given = dict(batch_size=batch_size, l2=l2 if alpha is None else alpha, dropout=dropout, shuffle=shuffle,
                     tol=tol, n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
                     validation_fraction=validation_fraction)
        before = self.train_state_.fit_settings if resume else {}
        if validation_data is not None and isinstance(validation_fraction, _Default):
            before = {**before, "validation_fraction": 0.0}  # validation_data replaces a held-out share
        settings = {k: before.get(k, v.value) if isinstance(v, _Default) else v for k, v in given.items()}
        batch_size, l2, dropout, shuffle, tol, n_iter_no_change, early_stopping, validation_fraction = (
            settings[k] for k in CARRIED)
        for name, flag in (("early_stopping", early_stopping), ("shuffle", shuffle)):
            kernels.check_bool(name, flag)
        if resume:
            self._refuse_ignored_on_resume(
                optimizer=optimizer, lr=lr, loss=loss, l1=l1, weight_decay=weight_decay, schedule=schedule,
                schedule_kwargs=schedule_kwargs, momentum=momentum, betas=betas, eps=eps, rho=rho, seed=seed)
            loss_name = self.loss_name_
        else:
            if loss is not None and loss not in LOSSES:
                raise ValueError(f"loss must be None or one of {sorted(LOSSES)}, got {loss!r}")
            loss_name = loss or self._infer_loss(y_arr)
        if resume:  # the label <-> unit map of the first fit
            t, classes = self._encode(y_arr), self.classes_
        else:
            t, classes = self._encode_fit(y_arr, loss_name)
        epochs = kernels.check_int("epochs", epochs, 0)
        n_iter_no_change = kernels.check_int("n_iter_no_change", n_iter_no_change, 1)
        if seed is not None:
            seed = kernels.check_int("seed", seed, 0, 2**32 - 1)  # it seeds train_test_split's RandomState too
        if batch_size is None or batch_size == "full":
            batch_size = n_rows
        elif batch_size == "auto":
            batch_size = min(200, n_rows)
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, None, 'full' or 'auto', got {batch_size!r}")
        for name, v in (("l2", l2), ("l1", l1), ("weight_decay", 0.0 if weight_decay is None else weight_decay)):
            kernels.hyperparameter(name, v)
        dropout = check_dropout(dropout, self.sizes)
        if validation_fraction is None:
            validation_fraction = 0.1 if early_stopping and validation_data is None else 0.0
        if not 0.0 <= kernels.check_real("validation_fraction", validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        if tol is not None:  # else a string failed after the first epoch, and NaN never stopped training
            tol = kernels.check_real("tol", tol, low=0.0)
        # what a resumed fit takes, JSON-able for the model file; a held-out share as resolved unless
        # left to early_stopping (a resume without the first fit's validation_data then holds out none)
        spec = settings["batch_size"]
        settings.update(batch_size=spec if isinstance(spec, str) or spec is None else int(spec), l2=float(l2),
                        dropout=dropout, shuffle=bool(shuffle), tol=tol, n_iter_no_change=n_iter_no_change,
                        early_stopping=bool(early_stopping),
                        validation_fraction=None if settings["validation_fraction"] is None and validation_data is None
                        else float(validation_fraction))
        if betas is not None and (isinstance(betas, (str, bytes)) or not np.iterable(betas) or len(betas) != 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        # checked now: a bad one would fail only after the first epoch had trained (listed first:
        # a generator checked here would reach the loop empty)
        cb_list = list(callbacks) if np.iterable(callbacks) else None
        if cb_list is None or not all(callable(cb) for cb in cb_list):
            raise TypeError(f"callbacks must be a sequence of callables, got {callbacks!r}")

        # a fit that fails before finishing an epoch (bad validation_data, early_stopping
        # without validation data, Ctrl-C...) must leave a fitted model as it was, not
        # half-switched to the new targets: its label map, loss and training state
        prev = (self.loss_name_, self.classes_, self._y_1d, self.train_state_, self.network, self.feature_names_in_)
        # resume trains the same TrainState, whose stopped_by the loop sets on entry
        prev_stopped_by = self.train_state_.stopped_by if resume else None
        prev_settings = self.train_state_.fit_settings if resume else None
        prev_schedule = self.train_state_.schedule if resume else None
        epoch0 = self.train_state_.epoch if resume else 0
        state = None
        try:
            if not resume:  # set first: validation_data's X is checked against them
                self.feature_names_in_ = names
            if resume:
                state = self.train_state_
                fit_seed = state.seed
                if type(state.schedule) is Cosine and "t_max" in (schedule_kwargs or {}):
                    # a resume may anneal over a longer run (the epochs done keep the rates they had)
                    sched = Cosine(schedule_kwargs["t_max"], min_lr=state.schedule.min_lr)
                    sched.set_state(state.schedule.get_state())
                    state.schedule = sched
            else:
                if seed is None:
                    seed = self.seed if isinstance(self.seed, (int, np.integer)) else None
                if seed is None:
                    seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
                fit_seed = seed
                okw: Dict[str, Any] = {}
                if momentum is not None:
                    okw["momentum"] = momentum
                if betas is not None:
                    okw["beta1"], okw["beta2"] = betas
                if eps is not None:
                    okw["eps"] = eps
                if rho is not None:
                    okw["rho"] = rho
                if weight_decay is not None:
                    okw["weight_decay"] = weight_decay
                okw["l1"] = l1
                if isinstance(optimizer, str):
                    opt = get_optimizer(optimizer, 1e-3 if lr is None else lr, **okw)
                else:
                    # an instance was configured by its constructor: fit's defaults must not overwrite
                    # its lr, and hyperparameters given here would otherwise be dropped silently
                    given = sorted(k for k in okw if k != "l1") + (["l1"] if l1 else [])
                    if given and isinstance(optimizer, Optimizer):
                        raise ValueError(f"{', '.join(given)} given with an Optimizer instance, which takes them from "
                                         f"its constructor; set them there")
                    # a fresh copy: training (or lr=) must not change the caller's instance, and one
                    # instance given to two models linked them (the second fit reset the first's moments)
                    opt = get_optimizer(optimizer.fresh_copy() if isinstance(optimizer, Optimizer) else optimizer, lr)
                skw = dict(schedule_kwargs or {})
                if schedule == "cosine":  # anneal over this fit, not over Cosine's standalone default of 100 epochs
                    skw.setdefault("t_max", max(epochs, 1))
                # an instance is copied as the optimizer is: a schedule keeps state (its rates) as it trains
                sched = get_schedule(copy.deepcopy(schedule) if isinstance(schedule, Schedule) else schedule, **skw)
                state = TrainState(opt, sched, np.random.default_rng(fit_seed))
                state.seed = fit_seed
                self.loss_name_ = loss_name
                self.classes_ = classes
                self._y_1d = y_arr.ndim == 1

            X_val = t_val = train_rows = None
            X_tr, t_tr = X, t
            if validation_data is not None:
                if len(validation_data) != 2:
                    raise ValueError("validation_data must be a pair (X_val, y_val)")
                if validation_fraction:
                    raise ValueError("pass validation_data or validation_fraction, not both")
                X_val, t_val = self._X(validation_data[0], "X_val"), self._encode(validation_data[1], "y_val")
                if X_val.shape[0] != len(t_val):
                    raise ValueError(f"X_val and y_val have different lengths: {X_val.shape[0]} and {len(t_val)}")
                if X_val.shape[0] == 0:  # else silently no validation (NaN val_loss), or early_stopping's error
                    raise ValueError(f"validation_data has no rows, got X_val of shape {X_val.shape}")
            elif validation_fraction > 0:
                from sklearn.model_selection import train_test_split

                strat = t if loss_name == "softmax_xent" else (t.ravel() if classes is not None else None)
                try:
                    # the split depends only on the row count and strat: split indices, and
                    # train on X's rows in place rather than on a copy of all but the held-out share
                    tr_idx, val_idx = train_test_split(np.arange(n_rows), test_size=float(validation_fraction),
                                                       random_state=fit_seed, stratify=strat)
                except ValueError as exc:  # its "test_size" is our validation split (early_stopping's): say so
                    raise ValueError(f"the validation split (validation_fraction={float(validation_fraction):g} "
                                     f"of {n_rows} rows) failed: {exc}") from None
                train_rows = np.ascontiguousarray(tr_idx, dtype=np.int64)
                X_val, t_val = X[val_idx], t[val_idx]

            sched = state.schedule
            if type(sched) is Cosine and sched.min_lr == 0 and epoch0 + epochs > sched.t_max:
                # past t_max the rate stays at min_lr: 0 here, epochs that would train nothing
                raise ValueError(
                    f"the cosine schedule reaches lr 0 at t_max={sched.t_max} epochs, so epochs "
                    f"{max(epoch0, sched.t_max) + 1} to {epoch0 + epochs} would not train; pass "
                    f"schedule_kwargs={{'t_max': {epoch0 + epochs}}} to anneal over them (resume=True takes "
                    "it too), a min_lr > 0, or fewer epochs")
            self.network = build_mlp(self.sizes, self.activation, dropout=dropout, dtype=self.dtype,
                                     param=self.param, params=self.params)
            self.train_state_ = state
            state.fit_settings = settings
            fit_network(self.network, get_loss(loss_name), X_tr, t_tr, state, epochs=epochs,
                        batch_size=int(batch_size), alpha=float(l2), shuffle=shuffle, seed=fit_seed, X_val=X_val,
                        y_val=t_val, score=self._raw_score, early_stopping=early_stopping, tol=tol,
                        n_iter_no_change=n_iter_no_change, callbacks=cb_list, verbose=verbose,
                        backend=backend if backend is not None else self.backend, fused=fused, owner=self,
                        sample_weight=sw, rows=train_rows)
        except BaseException as exc:
            # (divergence is an outcome: it keeps the fit's state, stopped_by_ "diverged")
            if (state is None or state.epoch == epoch0) and not isinstance(exc, TrainingDivergedError):
                (self.loss_name_, self.classes_, self._y_1d, self.train_state_, self.network,
                 self.feature_names_in_) = prev
                if resume:
                    self.train_state_.stopped_by = prev_stopped_by
                    self.train_state_.fit_settings = prev_settings
                    self.train_state_.schedule = prev_schedule
            raise
        return self

    # -------------------------------------------------------------- inference

    def decision_function(self, X, *, backend: Optional[str] = None) -> np.ndarray:
        """Raw outputs of the last (linear) layer, [n, outputs]."""
        X = self._X(X)
        return self.network.predict(X, backend if backend is not None else self.backend)

    def predict_proba(self, X, *, backend: Optional[str] = None) -> np.ndarray:
        """Class probabilities [n, classes] (binary: [1 - p, p]; multi-label: [n, labels])."""
        self._check_fitted()
        if self.loss_name_ == "mse":
            raise AttributeError("predict_proba is for classifiers; this MLP was fitted with loss='mse'")
        out = self.decision_function(X, backend=backend)
        p = get_loss(self.loss_name_).link(out)
        if self.loss_name_ == "sigmoid_bce" and self.classes_ is not None:
            p = np.hstack([1.0 - p, p])
        return p

    def predict(self, X, *, backend: Optional[str] = None) -> np.ndarray:
        """Labels for classifiers, values for regression (1-D when fitted on 1-D y)."""
        self._check_fitted()
        out = self.decision_function(X, backend=backend)
        if self.loss_name_ == "softmax_xent":
            return self.classes_[out.argmax(axis=1)]
        if self.loss_name_ == "sigmoid_bce":
            if self.classes_ is None:
                return (out > 0).astype(np.int64)
            return self.classes_[(out[:, 0] > 0).astype(np.intp)]
        return out.ravel() if self._y_1d and out.shape[1] == 1 else out

    def score(self, X, y, *, backend: Optional[str] = None) -> float:
        """Accuracy for classifiers (subset accuracy for multi-label), R^2 for regression."""
        self._check_fitted()
        out, t = self.decision_function(X, backend=backend), self._encode(y)
        if len(t) != len(out):  # NumPy's "operands could not be broadcast" would name neither
            raise ValueError(f"X and y have different lengths: {len(out)} and {len(t)}")
        if len(t) == 0:  # a mean over no rows (NaN and a RuntimeWarning); scikit-learn's scores refuse it too
            raise ValueError(f"X has no rows; score needs at least one, got shape {np.shape(X)}")
        return self._raw_score(out, t)

    # ------------------------------------------------------------ persistence

    def save(self, path, *, optimizer_state: bool = True) -> None:
        """Write the model (and its training state) to `path`; see ``fastnn.io.save``."""
        from .io import save

        save(self, path, optimizer_state=optimizer_state)

    @classmethod
    def load(cls, path) -> "MLP":
        """Read a model written by ``save``; see ``fastnn.io.load``."""
        from .io import load

        return load(path)

    def __repr__(self) -> str:
        return f"MLP({self.sizes}, activation={self.activation!r}, dtype={self.dtype.name})"
