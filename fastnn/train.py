"""The training loop: batching, shuffling, holdout, early stopping, schedules,
callbacks, history, progress bar, divergence checks, and K-fold CV.

One epoch runs either

* **fused**: ``fastnn.kernels.train_epoch`` (the native epoch: every mini-batch
  in C or Numba, given the permutation chosen here), one call per epoch, or a
  few on large data (``fused_epoch``: whole batches, about a quarter second of
  work per call, so Ctrl-C is honoured promptly), or
* **composed**: the same math composed from ``fastnn.kernels`` calls in Python,
  with every buffer allocated once per fit (the profiler uses this path to time
  kernels one by one, and it runs any ``Sequential``, and any optimizer whose
  update is not a built-in one's: ``nn.optimizers.native_name``).

Both consume the same permutation, the same update counter (Adam's t, dropout
masks) and the same learning rate per epoch, so they give the same weights.

A loss (or, after an epoch, a weight) that turns NaN or infinite raises
:class:`TrainingDivergedError` (a ``FloatingPointError``) after putting back the weights and optimizer state of the
last finished epoch.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import kernels, sparse_input
from .nn.layers import Context, Dense, Dropout
from .nn.losses import MSE, Loss, SigmoidBCE, SoftmaxCrossEntropy
from .nn.network import Sequential
from .nn.optimizers import Optimizer, native_name
from .nn.schedules import Schedule

__all__ = ["TrainingDivergedError", "TrainState", "fit_network", "epoch_composed", "fused_spec", "fused_epoch",
           "cross_validate", "HISTORY_KEYS"]

HISTORY_KEYS = ("loss", "val_loss", "val_score", "lr", "time")


class TrainingDivergedError(FloatingPointError):
    """The training loss, or the weights after an epoch's updates, became NaN or infinite.

    The network holds the weights (and the optimizer its state) from the end of
    the last epoch whose loss was finite; with early stopping the weights are the
    best epoch's, as at every end of such a fit. Attributes: ``epoch`` (0-based,
    the epoch that diverged) and ``loss``.
    """

    def __init__(self, epoch: int, loss: float):
        self.epoch, self.loss = epoch, loss
        super().__init__(
            f"training diverged in epoch {epoch + 1} (loss = {loss}); the weights from the end of the last "
            f"finite epoch were kept. Lower the learning rate, scale the inputs or add regularisation.")


class TrainState:
    """Everything a resumed fit needs to continue exactly where the last one stopped."""

    def __init__(self, optimizer: Optimizer, schedule: Schedule, rng: np.random.Generator):
        self.optimizer = optimizer
        self.schedule = schedule
        self.rng = rng
        self.epoch = 0          # epochs done
        self.samples_seen = 0
        self.history: Dict[str, List[float]] = {k: [] for k in HISTORY_KEYS}
        self.stopped_by = ""    # why the last run ended (values: fastnn.MLP's stopped_by_)
        self.seed = 0           # dropout seed of the fit
        self.no_improve = 0     # stopping counter (training loss, or with early stopping the
        #                         validation score), carried over on resume
        # early stopping's state, carried over on resume: the best validation score (-inf: none
        # yet, or the last fit did not stop early), the best weights when they are not the
        # network's (mid-fit, e.g. in a callback), and the last epoch's weights when the network
        # holds the best ones instead (a finished fit): a resumed fit trains on from the last
        self.best_score = -math.inf
        self.best_params: Optional[np.ndarray] = None
        self.last_params: Optional[np.ndarray] = None
        self.resumable = True   # False: a placeholder (a model file saved without its training state)
        self.fit_settings: Dict[str, Any] = {}  # fastnn.MLP.fit's settings a resumed fit carries over

    def get_state(self) -> Dict[str, Any]:
        """JSON-able counters (the optimizer's arrays are saved apart)."""
        return {"epoch": self.epoch, "samples_seen": self.samples_seen, "step": self.optimizer.step,
                "rng": self.rng.bit_generator.state, "schedule": self.schedule.get_state(),
                "history": {k: [None if v != v else v for v in vals] for k, vals in self.history.items()},
                "stopped_by": self.stopped_by, "seed": self.seed,
                "no_improve": self.no_improve, "fit_settings": dict(self.fit_settings),
                "best_score": self.best_score if math.isfinite(self.best_score) else None}

    def set_state(self, st: Dict[str, Any]) -> None:
        """The counters of ``get_state``; a ValueError or TypeError if they cannot be a fit's
        (a model file is checksummed, but may have been written by other code)."""
        check = kernels.check_int
        self.epoch, self.samples_seen = check("epoch", st["epoch"]), check("samples_seen", st["samples_seen"])
        self.optimizer.step = check("step", st["step"])
        self.rng.bit_generator.state = st["rng"]
        self.schedule.set_state(st["schedule"])
        self.history = {k: [math.nan if v is None else float(v) for v in st["history"].get(k, [])]
                        for k in HISTORY_KEYS}
        if any(len(self.history[k]) != self.epoch for k in st["history"] if k in self.history):  # one per epoch
            raise ValueError(f"history lengths {[len(v) for v in self.history.values()]} for {self.epoch} epochs")
        self.stopped_by = st.get("stopped_by", "")
        if not isinstance(self.stopped_by, str):
            raise TypeError(f"stopped_by must be a str, got {self.stopped_by!r}")
        self.seed = check("seed", st.get("seed", 0), 0, 2**32 - 1)  # fit(seed=...)'s range
        self.no_improve = check("no_improve", st.get("no_improve", 0))
        best = st.get("best_score")  # (absent from older files: no early-stopping state)
        self.best_score = -math.inf if best is None else kernels.check_real("best_score", best)
        settings = st.get("fit_settings", {})  # (absent from files of fastnn 0.1 before it: the defaults)
        if not isinstance(settings, dict) or not all(isinstance(k, str) for k in settings):
            raise TypeError(f"fit_settings must be a dict of settings, got {settings!r}")
        self.fit_settings = settings  # (the resumed fit checks each value as it checks its arguments)


# ------------------------------------------------------------------ one epoch


def fused_spec(net: Sequential, loss: Loss) -> Optional[Dict[str, Any]]:
    """train_epoch's model arguments when `net` is a plain MLP it can run, else None.

    Plain: Dense(hidden act) [Dropout(p)] ... Dense(identity), one hidden
    activation and parameter, one dropout p on every hidden layer (or none), and
    one of the three built-in losses.
    """
    if type(loss) not in (SoftmaxCrossEntropy, SigmoidBCE, MSE):
        return None
    dense, drops, acts, params = 0, [], set(), set()
    layers = net.layers
    for i, layer in enumerate(layers):
        if type(layer) is Dense:
            last = layer is net.dense[-1]
            if last:
                if layer.activation != "identity":
                    return None
            else:
                acts.add(layer.activation)
                params.add(layer.param)
            dense += 1
        elif type(layer) is Dropout:
            if i == 0 or type(layers[i - 1]) is not Dense or layers[i - 1] is net.dense[-1]:
                return None
            drops.append(layer.p)
        else:
            return None
    hidden = dense - 1
    if len(acts) > 1 or len(params) > 1 or "softmax" in acts:
        return None
    if drops and (len(drops) != hidden or len(set(drops)) != 1):
        return None
    return {"sizes": list(net.layout.sizes), "activation": acts.pop() if acts else "identity",
            "param": params.pop() if params else None, "dropout": drops[0] if drops else 0.0, "loss": loss.name}


class _Composed:
    """The Python-composed epoch with its buffers, allocated once per fit."""

    def __init__(self, net: Sequential, loss: Loss, optimizer: Optimizer, batch_size: int, n_out: int,
                 seed: int, backend: Optional[str]):
        net.allocate(batch_size)
        self.net, self.loss, self.opt, self.bs = net, loss, optimizer, batch_size
        self.ctx = Context(seed=seed, backend=backend)
        self.backend = backend
        self.grad = np.empty((batch_size, n_out), net.dtype)
        self.weights = net.params[: net.layout.n_weights]

    def run(self, X: np.ndarray, y: np.ndarray, m: int, lr: float, alpha: float,
            batch_losses: Optional[np.ndarray] = None, weights: Optional[np.ndarray] = None) -> float:
        net, loss, opt, ctx, backend, bs = self.net, self.loss, self.opt, self.ctx, self.backend, self.bs
        forward, backward, update = net.forward, net.backward, opt.update
        grad_full = self.grad
        total = 0.0
        for k, s in enumerate(range(0, m, bs)):
            e = s + bs if s + bs <= m else m
            rows = e - s
            ctx.t = opt.step + 1
            out = forward(X[s:e], ctx)
            g = grad_full if rows == bs else grad_full[:rows]
            if weights is None:
                norm = float(rows)
                bl = loss(out, y[s:e], grad=g, backend=backend)[0]
            else:
                norm, bl = _weighted_loss(loss, out, y[s:e], g, weights[s:e], k, backend)
            if alpha:
                bl += alpha * kernels.l2_penalty(self.weights, backend=backend) / norm
            if batch_losses is not None:
                batch_losses[k] = bl
            if not math.isfinite(bl):
                return bl  # stop at once: the caller restores the epoch's starting point
            backward(g, ctx)
            update(lr, alpha / norm, backend)
            total += bl * rows
        return total / m


def _weighted_loss(loss: Loss, out: np.ndarray, y: np.ndarray, g: np.ndarray, w: np.ndarray, batch: int,
                   backend: Optional[str]):
    """(weight sum s, sum(w_r loss_r) / s) of a batch, g[r] = w_r / s times row r's gradient,
    row by row as the native epoch's spec does it (backends/_train_reference.py)."""
    s = 0.0
    for v in w:
        s += float(v)
    if s == 0:
        raise ValueError(f"sample_weight sums to 0 over the rows of batch {batch}; "
                         "a batch's loss is divided by its weight sum")
    total = 0.0
    for r in range(out.shape[0]):
        total += float(w[r]) * loss(out[r:r + 1], y[r:r + 1], grad=g[r:r + 1], backend=backend)[0]
        g[r] *= g.dtype.type(float(w[r]) / s)
    return s, total / s


#: work per native call in ``fused_epoch``: a KeyboardInterrupt is only seen between calls
CHUNK_SECONDS = 0.25
_ASSUMED_FLOPS_PER_SECOND = 5e10  # a conservative single-core rate, for sizing chunks only


def fused_epoch(run: Callable[[np.ndarray, int, Optional[np.ndarray]], float], perm: np.ndarray, *,
                batch_size: int, step: int, sizes: Sequence[int], nnz_per_row: Optional[float] = None) -> float:
    """One native epoch over ``perm``, as one ``train_epoch`` call or a few of whole batches.

    ``run(rows, step, batch_losses)`` calls ``kernels.train_epoch`` on the rows
    ``rows`` starting at update ``step`` (batch_losses: None or a float64 array
    to fill). Splitting at batch boundaries changes nothing: batch b is the same
    rows at the same update count (Adam's t, dropout masks) either way, and the
    epoch loss is summed here in the native loop's order, sum(loss_b * rows_b) /
    len(perm), so it is the same to the last bit. ``nnz_per_row``: a sparse X's mean
    non-zeros a row, whose first layer costs that many columns' work, not sizes[0]'s
    (counted dense, a TF-IDF epoch of 5000 columns ran as 3 calls, each checking X's
    structure again: 3% of a fit).
    """
    n = len(perm)
    flops_per_batch = kernels.training_flops(sizes, batch_size,
                                             None if nnz_per_row is None else nnz_per_row * batch_size)
    batches_per_call = max(1, int(CHUNK_SECONDS * _ASSUMED_FLOPS_PER_SECOND / max(flops_per_batch, 1.0)))
    rows_per_call = batches_per_call * batch_size
    if rows_per_call >= n:
        return float(run(perm, step, None))
    n_batches = -(-n // batch_size)
    losses = np.empty(n_batches)
    for start in range(0, n, rows_per_call):
        b0 = start // batch_size
        rows = perm[start:start + rows_per_call]
        run(rows, step + b0, losses[b0:b0 + -(-len(rows) // batch_size)])
    total = 0.0
    for b in range(n_batches):
        total += float(losses[b]) * float(min(batch_size, n - b * batch_size))
    return total / n


def epoch_composed(net: Sequential, loss: Loss, optimizer: Optimizer, X: np.ndarray, y: np.ndarray,
                   perm: np.ndarray, *, lr: float, batch_size: int, alpha: float = 0.0, seed: int = 0,
                   backend: Optional[str] = None, batch_losses: Optional[np.ndarray] = None) -> float:
    """One composed epoch over rows ``perm`` of (X, y); returns scikit-learn's epoch loss.

    A convenience for tests and the profiler (``fit_network`` keeps its buffers
    across epochs). The optimizer must be ``setup`` on the network's buffers.
    """
    n_out = net.layout.sizes[-1]
    runner = _Composed(net, loss, optimizer, min(batch_size, len(perm)), n_out, seed, backend)
    return runner.run(np.ascontiguousarray(X[perm]), np.ascontiguousarray(y[perm]), len(perm), lr, alpha,
                      batch_losses)


# ------------------------------------------------------------------- the loop


def _log_progress(bar, logs):
    post = {"loss": f"{logs['loss']:.4g}"}
    if logs["val_score"] == logs["val_score"]:
        post["val"] = f"{logs['val_score']:.4f}"
    bar.set_postfix(post, refresh=False)
    bar.update(1)


def fit_network(net: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray, state: TrainState, *, epochs: int,
                batch_size: int, alpha: float = 0.0, shuffle: bool = True, seed: int = 0,
                X_val: Optional[np.ndarray] = None, y_val: Any = None,
                score: Optional[Callable[[np.ndarray, Any], float]] = None, early_stopping: bool = False,
                tol: Optional[float] = 1e-4, n_iter_no_change: int = 10,
                callbacks: Sequence[Callable[[Dict[str, Any]], Any]] = (), verbose: bool = False,
                backend: Optional[str] = None, fused: Optional[bool] = None, owner: Any = None,
                sample_weight: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None) -> TrainState:
    """Train `net` on prepared data for up to `epochs` more epochs; returns `state`.

    X: C-contiguous [n, d0] in the network's dtype, or a scipy.sparse CSR X of that
    dtype (the native epoch only; X_val may be sparse too); the native epoch trains it in
    the form that is fastest (``sparse_input.native_form``: a mostly-zero dense X on a CSR
    copy when at least SPARSIFY_MIN_EPOCHS epochs are to run, a sparse X at least 35% non-zero densified); y: int32 labels [n] for
    softmax_xent, [n, dL] floats otherwise (``X_val``/``y_val`` alike). ``score``
    maps (raw outputs, y_val) to a score, higher is better. ``state`` carries the
    optimizer, schedule, shuffling RNG, counters and history (resume = pass the
    same state again). ``fused``: None uses ``kernels.train_epoch`` when it
    exists, the network is a plain MLP and the optimizer runs a built-in update
    (``nn.optimizers.native_name``), True requires it, False never.
    Stopping (scikit-learn's rules): with early_stopping, when the validation
    score has not improved by ``tol`` for more than ``n_iter_no_change`` epochs;
    otherwise the same on the training loss; ``tol=None`` disables both. A
    schedule's ``on_plateau`` may veto the stop. With early_stopping the network
    ends every run on its best weights, the last epoch's kept in ``state`` with the
    best score and the counter, so a resumed run trains on exactly as one run would.
    ``sample_weight``: float64 [n] row weights for the training loss (scikit-learn's
    weighting, as ``kernels.train_epoch``), or None. ``rows``: int64 indices of the
    training rows of X (and of y and sample_weight), or None for all of them: a
    held-out share then stays in X without a training copy of the rest.
    """
    opt, schedule, rng = state.optimizer, state.schedule, state.rng
    n = X.shape[0] if rows is None else len(rows)
    if n == 0:
        raise ValueError("X has no rows")
    bs = max(1, min(int(batch_size), n))
    opt.setup(net.layout, net.params, net.grads)
    hist = state.history
    has_val = X_val is not None and X_val.shape[0] > 0
    if early_stopping and not has_val:
        raise ValueError("early_stopping needs validation data (validation_fraction > 0)")

    spec = fused_spec(net, loss) if fused is not False else None
    train_epoch = getattr(kernels, "train_epoch", None)
    # the native epoch runs a built-in optimizer's update by name: a subclass that changes the
    # update (e.g. clips gradients) would silently train as its base class there
    native_opt = native_name(opt)
    use_fused = spec is not None and train_epoch is not None and native_opt is not None
    if spec is None:
        why = "the network is not a plain MLP"
    elif native_opt is None:
        why = (f"the optimizer {type(opt).__name__} is not a built-in one (or overrides its update), "
               "which the native epoch cannot run")
    else:
        why = "fastnn.kernels has no train_epoch"
    if fused and not use_fused:
        raise ValueError(f"fused=True but {why}")
    if use_fused:
        # the form the native epoch trains fastest (fastnn.sparse_input): a mostly-zero dense
        # X as a CSR copy, a sparse one dense enough densified; the caller's X is not changed
        X = sparse_input.native_form(X, X.dtype, backend, epochs=int(epochs))
    nnz_per_row = X.nnz / max(X.shape[0], 1) if kernels.is_sparse(X) else None
    if not use_fused and kernels.is_sparse(X):
        why = "fused=False asks for the kernel-by-kernel loop" if fused is False else why
        raise ValueError(f"a sparse X trains on the native epoch only, which this fit cannot use ({why}); the "
                         "kernel-by-kernel loop takes a dense X: pass X.toarray()")
    if use_fused:
        ekw = dict(sizes=spec["sizes"], activation=spec["activation"], loss=spec["loss"], batch_size=bs,
                   alpha=float(alpha), dropout=spec["dropout"], seed=int(seed), param=spec["param"],
                   backend=backend, **{**opt.epoch_kwargs(), "optimizer": native_opt})
    else:
        runner = _Composed(net, loss, opt, bs, net.layout.sizes[-1], seed, backend)
        Xp = np.empty((n,) + X.shape[1:], X.dtype)
        yp = np.empty((n,) + y.shape[1:], y.dtype)
        wp = None if sample_weight is None else np.empty(n, sample_weight.dtype)

    if state.epoch == 0 and not hist["loss"]:
        schedule.start(opt.lr)
    best_loss = min(hist["loss"], default=math.inf)
    # the stopping state carries over from a resumed fit that stopped the same way (a counter
    # of the validation score with early stopping, else of the training loss)
    carry = math.isfinite(state.best_score) == bool(early_stopping)
    no_improve = state.no_improve if carry else 0
    best_score = state.best_score if early_stopping and carry else -math.inf
    best_params = None
    if early_stopping and carry:  # the network holds the best weights unless best_params says otherwise
        best_params = net.params.copy() if state.best_params is None else state.best_params
    snap_params = np.empty_like(net.params)
    snap_state = np.empty_like(opt.state)

    bar = None
    if verbose:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, unit="epoch", desc="fastnn", leave=True)
    state.stopped_by = "max_epochs"
    epoch0 = state.epoch
    entry = None  # (the weights held, last_params) when going on from an early-stopped fit's last weights
    try:
        if state.last_params is not None:  # that fit ended on its best weights: train on from its last
            entry = (net.params.copy(), state.last_params)
            np.copyto(net.params, state.last_params)
            state.last_params = None  # (the network holds them now: a checkpoint saves them as its params)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(int(epochs)):
                epoch = state.epoch
                t0 = time.perf_counter()
                lr = schedule.lr_at(epoch, state.samples_seen)
                rng0 = rng.bit_generator.state  # the epoch's shuffle is drawn again if it is rolled back
                perm = rng.permutation(n) if shuffle else np.arange(n, dtype=np.int64)
                if rows is not None:
                    perm = rows[perm]
                np.copyto(snap_params, net.params)
                np.copyto(snap_state, opt.state)
                step0 = opt.step
                try:
                    if use_fused:
                        def run(rows, step, batch_losses, lr=lr):
                            return train_epoch(net.params, net.grads, opt.state, X, y, rows, lr=lr, step=step,
                                               batch_losses=batch_losses, sample_weight=sample_weight, **ekw)

                        ep_loss = fused_epoch(run, np.ascontiguousarray(perm, dtype=np.int64), batch_size=bs,
                                              step=opt.step, sizes=spec["sizes"], nnz_per_row=nnz_per_row)
                        opt.step += -(-n // bs)
                    else:
                        # mode="clip" (perm holds valid row indices): the default "raise"
                        # buffers `out`, a second full copy of X at every epoch
                        np.take(X, perm, axis=0, out=Xp, mode="clip")
                        np.take(y, perm, axis=0, out=yp, mode="clip")
                        if wp is not None:
                            np.take(sample_weight, perm, out=wp, mode="clip")
                        ep_loss = runner.run(Xp, yp, n, lr, alpha, weights=wp)
                except BaseException:
                    # Ctrl-C between native calls, or an error in a later batch: some batches
                    # were applied but the epoch is not counted, so put back its starting point
                    # (as for divergence); resume=True then continues exactly
                    np.copyto(net.params, snap_params)
                    np.copyto(opt.state, snap_state)
                    opt.step = step0
                    rng.bit_generator.state = rng0
                    raise
                # the loss is computed before each update, so the epoch's last update can overflow
                # the weights while the loss stays finite: check both
                if not math.isfinite(ep_loss) or not np.isfinite(net.params).all():
                    np.copyto(net.params, snap_params)
                    np.copyto(opt.state, snap_state)
                    opt.step = step0
                    rng.bit_generator.state = rng0
                    state.stopped_by = "diverged"
                    raise TrainingDivergedError(epoch, ep_loss)
                state.epoch += 1
                state.samples_seen += n

                val_loss = val_score = math.nan
                if has_val:
                    out = net.predict(X_val, backend)
                    val_loss = float(loss(out, y_val, need_grad=False, backend=backend)[0])
                    if score is not None:
                        val_score = float(score(out, y_val))
                logs = {"epoch": epoch, "loss": ep_loss, "val_loss": val_loss, "val_score": val_score, "lr": lr,
                        "time": time.perf_counter() - t0, "model": owner}
                for k in HISTORY_KEYS:
                    hist[k].append(logs[k])
                if bar is not None:
                    _log_progress(bar, logs)

                stop = False
                if early_stopping:
                    if val_score > best_score:
                        best_params = net.params.copy()
                    if tol is not None:
                        no_improve = no_improve + 1 if val_score < best_score + tol else 0
                    best_score = max(best_score, val_score)
                elif tol is not None:
                    no_improve = no_improve + 1 if ep_loss > best_loss - tol else 0
                best_loss = min(best_loss, ep_loss)
                if tol is not None and no_improve > n_iter_no_change:
                    if schedule.on_plateau():
                        no_improve = 0
                    else:
                        stop, state.stopped_by = True, ("early_stopping" if early_stopping else "tol")
                # before the callbacks: a checkpoint saved there (or a resume after one raised)
                # continues with this epoch's stopping state
                state.no_improve = no_improve
                state.best_score, state.best_params = (best_score, best_params) if early_stopping else (-math.inf, None)
                for cb in callbacks:
                    if cb(logs):
                        stop, state.stopped_by = True, "callback"
                if stop:
                    break
    except BaseException as exc:
        # an exception (a callback's, Ctrl-C...) ended the run, not the epoch budget
        # ("diverged" is set where divergence is detected)
        if not isinstance(exc, TrainingDivergedError):
            state.stopped_by = "interrupted"
        raise
    finally:
        if bar is not None:
            bar.close()
        if state.epoch == epoch0:  # no epoch finished: the weights and stopping state as they were
            if entry is not None:
                np.copyto(net.params, entry[0])
                state.last_params = entry[1]
        elif best_params is not None:  # end on the best weights, and keep the last ones for a resume
            if not np.array_equal(net.params, best_params):
                state.last_params = net.params.copy()
            np.copyto(net.params, best_params)
            state.best_params = None  # (the network holds them)
    return state


# -------------------------------------------------------------- cross-validation


def _looks_like_labels(y) -> bool:
    y = np.asarray(y)
    if y.ndim != 1:
        return False
    if y.dtype.kind in "iubOU":
        return True
    return y.dtype.kind == "f" and bool(np.all(np.mod(y, 1) == 0)) and len(np.unique(y)) <= max(2, len(y) // 2)


def cross_validate(make_model: Callable[[], Any], X, y, *, cv: Any = 5, fit_params: Optional[Dict[str, Any]] = None,
                   groups=None, classifier: Optional[bool] = None, return_models: bool = False) -> Dict[str, Any]:
    """K-fold cross-validation with scikit-learn's splitters.

    make_model: a function returning a fresh, unfitted model with ``fit`` and
    ``score`` (e.g. ``lambda: fastnn.MLP([64, 32, 10], seed=0)``). cv: an int
    (K folds: stratified for a classifier -- a scikit-learn estimator's own type, else
    y that looks like labels -- or set ``classifier``), any scikit-learn splitter or an
    iterable of (train, test) index pairs, as ``sklearn.model_selection.check_cv`` accepts.
    A ``sample_weight`` in fit_params (one per row of X) is subset to each fold's rows.
    Returns ``{"test_score": array[K], "fit_time": array[K], "models": [...]}``
    (models only when return_models).
    """
    import scipy.sparse as sp
    from sklearn.base import BaseEstimator, is_classifier
    from sklearn.model_selection import check_cv

    if not callable(make_model) or isinstance(make_model, BaseEstimator):
        raise TypeError(f"make_model must be a function returning a fresh model (e.g. lambda: "
                        f"sklearn.base.clone(estimator)), got {type(make_model).__name__}")
    # the estimators take sparse X; np.asarray would wrap it in a 0-d object array
    X = X.tocsr() if sp.issparse(X) else np.asarray(X)
    y = np.asarray(y)
    model = make_model()  # the first fold's: a scikit-learn estimator says what it is
    if classifier is None:
        # by the model when it is a scikit-learn estimator: integer targets of a regressor
        # are not labels (stratifying on them fails when every value is unique)
        classifier = is_classifier(model) if isinstance(model, BaseEstimator) else _looks_like_labels(y)
    splitter = check_cv(cv, y, classifier=classifier)
    fit_params = dict(fit_params or {})
    if fit_params.get("sample_weight") is not None:
        # checked here: indexing by each fold's rows would accept a longer array (misaligned
        # weights, silently) and fail with an IndexError on a shorter one
        sw_shape = np.shape(fit_params["sample_weight"])
        if sw_shape != (X.shape[0],):
            raise ValueError(f"sample_weight must have shape ({X.shape[0]},) (one weight per row of X), got {sw_shape}")
    scores, times, models = [], [], []
    previous = None
    for fold, (train_idx, test_idx) in enumerate(splitter.split(X, y, groups)):
        if fold:
            model = make_model()
        if model is previous:  # e.g. `lambda: est`: a warm-started model would carry one fold into the next
            raise ValueError("make_model returned the same model object for two folds; it must build a fresh "
                             "one on each call (e.g. lambda: sklearn.base.clone(estimator))")
        previous = model
        fold_params = dict(fit_params)
        if fold_params.get("sample_weight") is not None:  # one weight per row of X: this fold's rows
            fold_params["sample_weight"] = np.asarray(fold_params["sample_weight"])[train_idx]
        t0 = time.perf_counter()
        model.fit(X[train_idx], y[train_idx], **fold_params)
        times.append(time.perf_counter() - t0)
        scores.append(float(model.score(X[test_idx], y[test_idx])))
        if return_models:
            models.append(model)
    result: Dict[str, Any] = {"test_score": np.array(scores), "fit_time": np.array(times)}
    if return_models:
        result["models"] = models
    return result
