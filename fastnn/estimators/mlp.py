"""scikit-learn drop-in ``MLPClassifier`` and ``MLPRegressor`` on fastnn's kernels.

Change ``from sklearn.neural_network import MLPClassifier`` to
``from fastnn.estimators import MLPClassifier``: the parameters, defaults, fitted
attributes, warnings and errors are scikit-learn 1.9's, and in float64 with the
same ``random_state`` the fitted ``coefs_`` agree with scikit-learn's to about
1e-14 relative (tests/test_estimators_mlp.py asserts 1e-7 on every solver,
schedule and target type), because every random draw and formula is the same:

* initialisation: scikit-learn's ``_init_coef`` draws (weights then biases per
  layer from ``check_random_state(random_state)``, Glorot factor 2 for logistic);
* shuffling: ``sklearn.utils.shuffle`` of the running index permutation with the
  same RandomState each epoch; batches from consecutive slices of it;
* early stopping: ``train_test_split`` with the same RandomState (stratified for
  binary classifiers, as scikit-learn: ``n_outputs_ == 1``), validation score
  accuracy / R^2, best weights restored;
* L2: ``grad_W += alpha W / rows``, ``loss += 0.5 alpha ||W||^2 / rows``;
* SGD (velocity form, Nesterov as scikit-learn), Adam (efficient form),
  constant / invscaling (per epoch: ``lr_init / (t_ + 1) ** power_t``) /
  adaptive (divide by 5 after ``n_iter_no_change`` epochs without tol progress);
  partial_fit continues with the optimizer fit or the first partial_fit created,
  its solver and hyper-parameters included (set_params between calls does not reach it);
* L-BFGS: ``scipy.optimize.minimize(method="L-BFGS-B")`` with maxiter, maxfun,
  gtol and iprint as scikit-learn, on the flat vector in ``_pack`` order (on float32
  X the loss is evaluated in float32 and coefs_ are scipy's float64 iterate).

Where results can differ (by rounding only): matrix products are summed in a
different order than NumPy's BLAS and the 1/rows scaling is applied to the
output delta before the products rather than after (about 1e-16 relative per
step). Measured max relative difference of coefs_/intercepts_ vs scikit-learn
1.9 (float64): sgd / adam / schedules / early stopping / multilabel /
multi-output, 8-30 epochs: 1e-18 .. 1e-14 (digits (128, 64), 30 epochs of
adam: 1e-14). L-BFGS: 1e-14 after 25 iterations and 2e-10 after 50 on digits
(128, 64), but once the net interpolates the data (loss ~1e-4, 100-200
iterations) its line searches amplify those last bits to 1e-5 .. 1e-4 (loss equal
to 4 digits, identical predictions); the NumPy backend drifts the same way, so
this is the operation order, not the kernels. The log losses are computed as
scikit-learn's: from the probabilities, clipped at the training dtype's eps (the
native epoch too, where fastnn's own loss works from the logits), so ``loss_``,
the stop and the schedules agree even where probabilities saturate
(learning_rate_init=10 on digits: 1e-10 relative; unscaled inputs with
1 - p ~ 1e-15: 1e-15).

Extras (defaults keep scikit-learn's behaviour): ``activation`` also accepts
gelu / elu / softplus / leaky_relu (every solver); ``solver`` also adamw / rmsprop
(rho 0.9) / adagrad. As scikit-learn's solvers, each reads its own parameters:
adamw beta_1, beta_2 and epsilon, without a ``learning_rate`` schedule (as adam);
rmsprop and adagrad epsilon and the ``learning_rate`` schedule (as sgd), not
momentum. ``dropout`` (inverted, on every hidden layer) and ``weight_decay``
(decoupled, weights only; None means 0.01 for adamw and 0 otherwise) are for the
stochastic solvers: with solver="lbfgs" a non-zero value raises a ValueError (L-BFGS
has no random masks, and no update step for a decoupled decay: its L2 penalty is
``alpha``). ``dtype`` (train in
float32 on float64 input; values beyond float32's range are refused, not made
infinite); ``backend`` and ``n_threads`` for the kernels
(None: fastnn's current setting; -1: every usable core, as scikit-learn's n_jobs).
``n_threads`` sets the process-wide ``fastnn.set_num_threads`` knob while fit or
predict runs (restored after), so fastnn work overlapping it in other Python threads
(joblib's threading backend) runs on it too: fits that overlap all run on the latest
one's ``n_threads``, those with ``n_threads=None`` included. ``backend`` is per estimator.

Sparse input trains sparse on the native epoch: each batch's first-layer products
run over its non-zeros (``kernels.train_epoch`` on a CSR X) and nothing dense of X's
size is made. It is densified once per fit only where that pays and fits: at least
``SPARSE_NATIVE_DENSIFY_DENSITY`` (35%) non-zero, the dense copy at most
``SPARSE_DENSIFY_MAX_BYTES`` (1 GiB) (these limits are ``fastnn.sparse_input``'s, shared
with ``fastnn.MLP``). A TF-IDF-like X (15000 x 5000, 2%
non-zero, (64,) hidden units, Adam, batch 200, 2 epochs, one thread) trains in 0.17 s in
float64 and 0.10 s in float32, against 0.72 s in scikit-learn. The Poisson loss runs
the composed epoch instead, its sparse products scipy.sparse's (densified there when at
most ``SPARSE_DENSIFY_FEATURES`` = 512 columns wide or ``SPARSE_DENSIFY_DENSITY`` (10%)
non-zero).
Predictions multiply sparse input directly. Dense X with at most
``DENSE_NATIVE_SPARSIFY_DENSITY`` (25%) non-zero and at least ``SPARSIFY_MIN_FEATURES``
(128) columns -- images on a blank background as MNIST's (19% non-zero), one-hot blocks --
trains on a CSR copy of itself the same way (1.4-1.7x faster epochs at 20% non-zero) on
the C backend, where those figures were measured, when max_iter allows at least
``SPARSIFY_MIN_EPOCHS`` (2) epochs (not in partial_fit: one pass over a batch saves less than the copy costs).
Other dense X is trained on in C order and
the training dtype: a Fortran-ordered array (what ``np.asarray`` of a pandas
DataFrame usually gives) or another dtype is copied once per fit, which
scikit-learn avoids by gathering every mini-batch from the strided array.

``sample_weight`` runs in the native epoch (scikit-learn's weighting: each
batch's loss, gradient and L2 term over the batch's weight sum); a batch whose
weights sum to 0 raises a ValueError where scikit-learn would train NaNs.

Small calls cost little: ``predict`` / ``predict_proba`` on an already-valid
input (a finite float ndarray of the fitted width, no feature names to compare)
and ``partial_fit`` on such X with labels the model knows (integers; strings when
its classes are strings; with warm_start, every class among them; a 0/1 integer or
bool indicator matrix of its width for multilabel) or finite numeric targets, and
float sample weights, skip scikit-learn's input checks (60-900 us a call, more than
a small batch's work); any other input takes them, so errors and warnings are
scikit-learn's.
After a fit, ``coefs_`` and ``intercepts_`` are views into the one flat vector the
kernels train: ``partial_fit`` and warm-start fits update them in place, as
scikit-learn's optimizer updates its arrays (a layer the user replaced is
packed into a new vector first).
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import sparse_input
from ..kernels import finite_as
from ..threads import one_blas_thread
from . import _mlp_core as core
from . import _scores
from ._lbfgs_compat import _check_optimize_result, _get_additional_lbfgs_options_dict
from ._validation import as_training_dtype, refuse_text, validated_rows, validated_weights

__all__ = ["MLPClassifier", "MLPRegressor"]

STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
#: The composed epoch (the Poisson loss) multiplies sparse X with scipy.sparse batch by
#: batch: there X trains densified when at most this wide or at least this share non-zero (one thread, 20000 rows, (64,): 1000 columns at 10% a
#: tie, 2% sparse 1.75x faster, 200 columns at 5% dense 1.5x faster). The native epoch's
#: rules (either way) are fastnn.sparse_input's.
SPARSE_DENSIFY_FEATURES = 512
SPARSE_DENSIFY_DENSITY = 0.1


def _composed_form(X, dtype):
    """Sparse X as the composed epoch (scipy.sparse products) trains it: densified where
    SPARSE_DENSIFY_* say that pays and the copy is at most SPARSE_DENSIFY_MAX_BYTES, else CSR."""
    n, d = X.shape
    dense = sparse_input.dense_bytes(X, dtype) <= sparse_input.SPARSE_DENSIFY_MAX_BYTES and (
        d <= SPARSE_DENSIFY_FEATURES or X.nnz >= SPARSE_DENSIFY_DENSITY * n * d)
    return X.toarray() if dense else X.tocsr()


# The thread knob is process-wide: fits overlapping in threads (joblib's threading
# backend, GridSearchCV(n_jobs=2) under it) each saved and restored it, so one fit
# could restore the value another had set and leave it changed after both. The knob
# is saved when the first such fit starts and restored when the last one ends (while
# fits overlap it holds the latest one's n_threads: one knob for the process).
_threads_lock = threading.Lock()
_threads_active = 0
_threads_saved = None


@contextlib.contextmanager
def _threads(n):
    """Run the kernels on ``n`` threads for the duration (None: leave the knob alone)."""
    global _threads_active, _threads_saved
    if n is None:
        yield
        return
    from ..threads import get_num_threads, set_num_threads, usable_cores

    with _threads_lock:
        if _threads_active == 0:
            _threads_saved = get_num_threads()
        _threads_active += 1
        set_num_threads(usable_cores() if n == -1 else int(n))
    try:
        yield
    finally:
        with _threads_lock:
            _threads_active -= 1
            if _threads_active == 0:
                set_num_threads(_threads_saved)


def _shuffled(idx: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """``sklearn.utils.shuffle(idx, random_state=rng)`` without its validation overhead.

    Same draws: resample(replace=False) shuffles ``arange(n)`` in place with the
    RandomState and indexes the array with it (checked against sklearn in the tests).
    """
    order = np.arange(idx.shape[0])
    rng.shuffle(order)
    return idx[order]


class _FlatViews:
    """A flat parameter vector and the views of it _set_params_from made coefs_ + intercepts_.

    Pickled and copied empty: unpickled arrays are no longer views, and pickling the
    views again would store the weights twice under joblib (which does not memoize arrays).
    """

    def __init__(self, flat=None, views=()):
        self.flat, self.views = flat, tuple(views)

    def __reduce__(self):
        return _FlatViews, ()


class _BaseMLP(BaseEstimator):
    """Shared implementation; use MLPClassifier or MLPRegressor."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(core.HIDDEN_ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", *STOCHASTIC_SOLVERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        # fastnn extras
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [None, Interval(Real, 0, None, closed="left")],
        "dtype": "no_validation",  # checked in fit: None, float32 or float64
        "backend": [None, StrOptions({"c", "numba", "numpy"})],
        "n_threads": [None, Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
    }

    # ------------------------------------------------------------ helpers

    def _train_dtype(self, X_dtype):
        if self.dtype is None:
            return np.dtype(X_dtype)
        try:
            dt = np.dtype(self.dtype)
        except (TypeError, ValueError):  # e.g. "foo": NumPy's message would not name the parameter
            dt = np.dtype(object)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype must be None, float32 or float64, got {self.dtype!r}")
        return dt

    def _net(self) -> core.Net:
        return core.Net(tuple(self._layer_units), self.activation, self.out_activation_, self.backend)

    def _hyper(self) -> core.Hyper:
        wd = self.weight_decay
        if wd is None:
            wd = 0.01 if self.solver == "adamw" else 0.0
        return core.Hyper(self.solver, float(self.momentum), bool(self.nesterovs_momentum), float(self.beta_1),
                          float(self.beta_2), float(self.epsilon), float(wd), self.learning_rate,
                          float(self.learning_rate_init), float(self.power_t))

    def _sync_flat(self, dtype):
        """The flat parameter vector behind coefs_/intercepts_: the one they view, else
        one packed from them (they then become views into it). Training updates it in
        place, as scikit-learn updates its coefs_ arrays."""
        flat = self._own_flat()
        if flat is None or flat.dtype != dtype:
            flat = core.pack(self.coefs_, self.intercepts_, dtype)
            self._set_params_from(flat)
        return flat

    def _own_flat(self):
        """The flat vector _set_params_from made coefs_ and intercepts_ views of, while
        they still are those views; None once the user replaced a layer or the estimator
        was pickled or copied (which turns views into separate arrays)."""
        own = self.__dict__.get("_flat_views")
        params = self.coefs_ + self.intercepts_
        if own is None or len(params) != len(own.views) or not all(p is v for p, v in zip(params, own.views)):
            return None
        return own.flat

    def _rng(self) -> np.random.RandomState:
        """check_random_state(random_state), at every fit and partial_fit as scikit-learn.

        For an int seed it reseeds one RandomState this estimator owns: the same
        stream as RandomState(seed), which costs ~90 us (it first draws OS entropy)
        against 2 us, and partial_fit on a small batch takes little more than that.
        """
        seed = self.random_state
        if not isinstance(seed, Integral):
            return check_random_state(seed)
        own = self.__dict__.get("_own_rng")
        if own is None:
            own = self._own_rng = np.random.RandomState(seed)
        else:
            own.seed(seed)
        return own

    def _set_params_from(self, flat):
        layout = core.Layout(tuple(self._layer_units))
        self.coefs_ = layout.weights(flat)
        self.intercepts_ = layout.biases(flat)
        self._flat_views = _FlatViews(flat, self.coefs_ + self.intercepts_)

    # ------------------------------------------------------------ fitting

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        self._layer_units = list(layer_units)
        flat = core.init_params(self._random_state, layer_units, self.activation, dtype)
        self._set_params_from(flat)
        self._best_coefs = [c.copy() for c in self.coefs_]
        self._best_intercepts = [i.copy() for i in self.intercepts_]
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        # scikit-learn fails on a float size with a TypeError naming neither (5.0 included)
        bad = [h for h in hidden if isinstance(h, bool) or not isinstance(h, Integral)]
        if bad:
            raise TypeError(f"hidden_layer_sizes must hold integers (units per hidden layer), got {bad[0]!r} "
                            f"in hidden_layer_sizes={self.hidden_layer_sizes!r}")
        if np.any(np.array(hidden) <= 0):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % hidden)
        self._check_stochastic_extras()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = self._train_dtype(X.dtype) if first_pass else np.dtype(self.coefs_[0].dtype)
        X = as_training_dtype("X", X, dtype)  # the dtype extra: float64 X trained in float32
        # the form that trains fastest, chosen once per fit in the training dtype already (no
        # float64 copy on the way to float32): a sparse X densified where that pays, a dense
        # one that is mostly zeros as a CSR copy
        if self._trains_sparse_natively():
            # (partial_fit: one pass, too few for a CSR copy to repay)
            X = sparse_input.native_form(X, dtype, self.backend, epochs=1 if incremental else self.max_iter)
        elif sp.issparse(X):
            X = _composed_form(X, dtype)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sw = validated_weights(sample_weight, n_samples)
            sample_weight = _check_sample_weight(sample_weight, X) if sw is None else sw
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        if first_pass:
            layer_units = [n_features] + hidden + [self.n_outputs_]
        else:
            # warm start / partial_fit: training continues on the fitted network, as in
            # scikit-learn (whose passes follow coefs_), even if hidden_layer_sizes changed
            layer_units = [self.coefs_[0].shape[0]] + [w.shape[1] for w in self.coefs_]
            if layer_units[1:-1] != hidden:
                warnings.warn(
                    f"hidden_layer_sizes={tuple(hidden)} differs from the fitted network's "
                    f"{tuple(layer_units[1:-1])}: training continues on the fitted network "
                    "(warm_start / partial_fit); refit with warm_start=False to change it",
                    UserWarning, stacklevel=3)
            if layer_units[-1] != self.n_outputs_:
                raise ValueError(
                    f"y has {self.n_outputs_} output(s) but the fitted network has {layer_units[-1]}; "
                    "refit with warm_start=False to change the outputs")
        self._random_state = self._rng()
        if first_pass:
            self._initialize(y, layer_units, dtype)
        self._layer_units = list(layer_units)
        Y = as_training_dtype("y", y, dtype)
        with _threads(self.n_threads):
            if self.solver in STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, Y, sample_weight, incremental)
            else:
                self._fit_lbfgs(X, Y, sample_weight)
        flat = self._own_flat()  # one pass over the vector coefs_ view, when they do
        if not all(np.isfinite(w).all() for w in ([flat] if flat is not None else self.coefs_ + self.intercepts_)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _check_stochastic_extras(self):
        """A ValueError for the extras only the stochastic solvers apply, rather than
        ignoring them: L-BFGS minimises the deterministic loss, with no random masks
        (dropout) and no optimizer step for a decoupled decay to shrink the weights in
        (weight_decay; a penalty added to the loss would be coupled L2, which is alpha)."""
        if self.solver != "lbfgs":
            return
        if self.dropout:
            raise ValueError(f"dropout={self.dropout!r} is not supported with solver='lbfgs'; use solver='adam' "
                             "or 'sgd' (or another stochastic solver), or dropout=0")
        if self.weight_decay:
            raise ValueError(f"weight_decay={self.weight_decay!r} is not supported with solver='lbfgs' (decoupled "
                             "decay needs an optimizer step; alpha is the L2 penalty L-BFGS applies); use "
                             "solver='adamw', 'adam' or 'sgd', or weight_decay=None")

    def _fit_lbfgs(self, X, Y, sample_weight):
        # a new vector, as scikit-learn's L-BFGS packs one: scipy's trial points are
        # evaluated in it, never in arrays the user may hold from before the fit
        flat = core.pack(self.coefs_, self.intercepts_, X.dtype)
        self._set_params_from(flat)
        net = self._net()
        grads = np.empty_like(flat)
        alpha = float(self.alpha)
        sw = None if sample_weight is None else np.asarray(sample_weight)
        # the whole pass in one native call where the network has a native loss (one
        # kernel call a layer and the output math in NumPy otherwise: digits (64,),
        # float32, 0.70 ms an evaluation against 0.36 native)
        native = self._use_native(X)
        objective = core.native_objective(net, flat, grads, X, self._native_target(Y), alpha, sw) if native else None
        ws = None if native else core.Workspace(net, X.shape[0], flat.dtype)

        def fun(x):
            flat[...] = x
            if native:
                loss = objective()
            else:
                loss = core.loss_grad(net, flat, grads, X, Y, alpha, sw, ws)
            return loss, grads.astype(np.float64)

        iprint = 1 if (self.verbose is True or self.verbose >= 1) else -1
        # L-BFGS-B's own work is level-1/2 BLAS on one parameter vector: on one
        # thread. A multi-threaded BLAS pool woken at every iteration keeps spinning
        # into the next loss_grad and stalls fastnn's OpenMP kernels (measured,
        # digits (100,): 377 ms -> 81 ms). fastnn's kernels do not use BLAS.
        with one_blas_thread():
            res = scipy.optimize.minimize(
                fun, flat.copy(), method="L-BFGS-B", jac=True,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol,
                         **_get_additional_lbfgs_options_dict("iprint", iprint)},
            )
        self.n_iter_ = _check_optimize_result("lbfgs", res, self.max_iter)
        self.loss_ = np.float64(res.fun)  # scikit-learn's type
        # scipy evaluates fun in x0's dtype but iterates in float64: on float32 X,
        # scikit-learn's coefs_ are that float64 iterate (so are its predictions); the
        # dtype extra keeps the dtype it asked for
        if self.dtype is None:
            flat = res.x
        else:
            flat[...] = res.x
        self._set_params_from(flat)

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight=None, activations=None, deltas=None,
                         coef_grads=None, intercept_grads=None):
        """scikit-learn's private L-BFGS objective, for code that calls it (scikit-learn's
        own gradient test does): ``(loss, gradient)`` at the flat vector of every coefs_
        then every intercepts_, raveled, on X and the encoded targets y of a fitted
        estimator. The last four are scikit-learn's scratch lists, not needed here and
        left untouched. The estimator's weights are not changed."""
        self._check_fitted()
        dtype = self.coefs_[0].dtype
        flat = np.array(packed_coef_inter, dtype=dtype, copy=True)
        layout = core.Layout(tuple(self._layer_units))
        if flat.shape != (layout.size,):
            raise ValueError(f"packed_coef_inter must have shape ({layout.size},), got {np.shape(packed_coef_inter)}")
        X = as_training_dtype("X", X, dtype) if sp.issparse(X) else finite_as("X", np.asarray(X), dtype)
        Y = np.asarray(y, dtype=dtype).reshape(X.shape[0], -1)
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
        grads = np.empty_like(flat)
        loss = core.loss_grad(self._net(), flat, grads, X, Y, float(self.alpha), sw)
        return loss, grads.astype(np.float64)

    def _native_target(self, Y):
        if self.out_activation_ == "softmax":
            return np.ascontiguousarray(Y.argmax(axis=1), dtype=np.int32)
        return Y

    def _trains_sparse_natively(self) -> bool:
        """Whether a sparse X kept sparse trains on the native epoch, whose kernels take a
        CSR X: unless the loss is not native (Poisson's exp output: NATIVE_LOSS)."""
        return core.native_available() and getattr(self, "loss", None) != "poisson"

    def _use_native(self, X):
        if not core.native_available():
            return False
        if core.NATIVE_LOSS[self.out_activation_] is None:
            return False
        return True

    def _fit_stochastic(self, X, Y, sample_weight, incremental):
        # After an early-stopping fit, scikit-learn's coefs_ ARE its _best_coefs (the
        # same arrays), so a later warm-start fit or partial_fit trains the "best"
        # weights in place, and an early-stopping fit that never beats the old best
        # score ends on its last weights, not on the old best ones. Same numbers here:
        # the best weights keep following the training buffer until a better score
        # snapshots them.
        tracks_training = self.__dict__.get("_best_coefs") is self.coefs_
        flat = self._sync_flat(X.dtype)
        if tracks_training:
            self._best_coefs, self._best_intercepts = self.coefs_, self.intercepts_
        net = self._net()
        opt = getattr(self, "_optimizer", None)
        if not incremental or opt is None or opt.state.shape[1] != flat.size or opt.state.dtype != flat.dtype:
            opt = core.OptState.new(self._hyper(), flat.size, flat.dtype)
            self._optimizer = opt
        # partial_fit continues with the optimizer's solver and hyper-parameters, as
        # scikit-learn's (its optimizer object is created by fit or the first partial_fit)
        hyper = opt.hyper
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        n_all = X.shape[0]
        if early_stopping:
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = Y.astype(bool) if should_stratify else None
            # the split depends only on n and stratify: split indices, not data
            train_idx, val_idx = train_test_split(np.arange(n_all), random_state=self._random_state,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if val_idx.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            X_val = X[val_idx]
            y_val = Y[val_idx]
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
            sw_val = None if sample_weight is None else sample_weight[val_idx]
        else:
            train_idx = None
            X_val = y_val = sw_val = None
        n_samples = n_all if train_idx is None else train_idx.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
            batch_size = int(min(max(self.batch_size, 1), n_samples))  # np.clip on scalars costs ~5 us
        native = self._use_native(X)
        y_native = self._native_target(Y) if native else None
        dropout = float(self.dropout)
        seed = int(self._random_state.randint(np.iinfo(np.int32).max)) if dropout > 0 else 0
        adaptive_ok = hyper.solver not in core.ADAM_LIKE  # scikit-learn's Adam has no schedule
        epoch_cache: dict = {}
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = _shuffled(sample_idx, self._random_state)
                rows = sample_idx if train_idx is None else train_idx[sample_idx]
                if native:
                    loss = core.native_epoch(net, hyper, opt, flat, X, y_native,
                                             np.ascontiguousarray(rows, dtype=np.int64), batch_size,
                                             float(self.alpha), dropout, seed, sample_weight, epoch_cache)
                else:
                    loss = core.python_epoch(net, hyper, opt, flat, X, Y, rows, batch_size, float(self.alpha),
                                             sample_weight, dropout, seed)
                self.n_iter_ += 1
                self.loss_ = np.float64(loss)  # scikit-learn's type, in loss_curve_ and best_loss_ too
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                if adaptive_ok and hyper.schedule == "invscaling":
                    opt.learning_rate = hyper.lr_init / (self.t_ + 1) ** hyper.power_t
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = ("Validation score did not improve more than tol=%f for %d consecutive epochs."
                               % (self.tol, self.n_iter_no_change))
                    else:
                        msg = ("Training loss did not improve more than tol=%f for %d consecutive epochs."
                               % (self.tol, self.n_iter_no_change))
                    if self._trigger_stopping(opt, msg, adaptive_ok and hyper.schedule == "adaptive"):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                        "converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts
        # else coefs_ and intercepts_ are views of flat (_sync_flat): trained in place

    def _trigger_stopping(self, opt, msg, adaptive) -> bool:
        if not adaptive:
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if opt.learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        opt.learning_rate /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % opt.learning_rate)
        return False

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sw_val):
        if early_stopping:
            val_score = self._score(X_val, y_val, sample_weight=sw_val)
            self.validation_scores_.append(val_score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last = self.validation_scores_[-1]
            if last < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best_coefs = [c.copy() for c in self.coefs_]
                self._best_intercepts = [i.copy() for i in self.intercepts_]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (as scikit-learn's MLP ``fit``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. %s is not stochastic." % self.solver
            )
        return True

    # ---------------------------------------------------------- predicting

    def _check_fitted(self):
        """scikit-learn's check_is_fitted, which costs ~7 us a call (predicting a row
        costs less), run only when coefs_ is missing: it then raises its NotFittedError."""
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)

    def __sklearn_is_fitted__(self) -> bool:
        """scikit-learn's default test (an attribute ending in "_"), answered at once when
        coefs_ is there: its scan of every attribute took ~10 us of each partial_fit (its
        fit wrapper asks before validating the parameters)."""
        return "coefs_" in self.__dict__ or any(v.endswith("_") and not v.startswith("__") for v in vars(self))

    def _forward_pass_fast(self, X, check_input=True):
        if check_input and validated_rows(self, X) is None:
            # scikit-learn predicts with dtype="numeric", which refuses text that the
            # float dtypes below would parse (fit and partial_fit do parse it, as there)
            refuse_text(X)
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                              dtype=(np.float64, np.float32))
        dtype = self.coefs_[0].dtype
        if self.dtype is None:
            # as scikit-learn: float64 X through a network trained on float32 X is computed
            # (and returned) in float64, not rounded to float32 first (with dtype=float32,
            # the extra, the network runs in the dtype it was asked to train in)
            dtype = np.result_type(dtype, X.dtype)
        X = as_training_dtype("X", X, dtype)  # outputs computed from infinities would be garbage
        flat = self._own_flat()
        if flat is not None and flat.dtype == dtype:  # coefs_ still views of the fit's vector: one call
            with _threads(self.n_threads):
                return core.forward(self._net(), flat, X)
        # after a fit, coefs_ and intercepts_ are views into one flat vector: no copies
        ws = [np.ascontiguousarray(c, dtype=dtype) for c in self.coefs_]
        bs = [np.ascontiguousarray(b, dtype=dtype) for b in self.intercepts_]
        net = core.Net(tuple([w.shape[0] for w in ws] + [ws[-1].shape[1]]), self.activation,
                       self.out_activation_, self.backend)
        with _threads(self.n_threads):
            return core.forward_layers(net, ws, bs, X)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _label_indicators(y, classes):
    """LabelBinarizer(...).transform(y).astype(bool) for a fitted binarizer's sorted
    binary / multiclass classes_ (at least two) and labels of a comparable dtype;
    None if a label is not among them."""
    pos = np.searchsorted(classes, y)
    # a label past the last class is clipped onto it, which differs from it too
    if not (classes.take(pos, mode="clip") == y).all():
        return None  # an unknown label: scikit-learn's error
    if len(classes) == 2:  # LabelBinarizer's one column, True for classes_[1]
        return (pos == 1).reshape(-1, 1)
    onehot = np.zeros((len(y), len(classes)), dtype=bool)
    onehot[np.arange(len(y)), pos] = True
    return onehot


def _every_class(Y):
    """Whether the indicators of _label_indicators hold every class: with warm_start,
    scikit-learn refuses a batch without one (count_nonzero: ~1 us on 32 rows)."""
    if Y.shape[1] == 1:  # binary: one column, True for classes_[1]
        return 0 < np.count_nonzero(Y) < len(Y)
    return np.count_nonzero(Y.any(axis=0)) == Y.shape[1]


def _integer_labels_binarized(y):
    """(LabelBinarizer().fit(y), its transform(y).astype(bool)) for validated 1-D
    integer labels of at least two classes, made directly: scikit-learn's
    type_of_target and label_binarize checks take ~0.7 ms a fit (a digits fit's 3%),
    and an integer array of two or more values is always "binary" / "multiclass"
    for them. None for any other y (scikit-learn's path)."""
    if type(y) is not np.ndarray or y.ndim != 1 or y.dtype.kind not in "iu":
        return None
    classes = np.unique(y)
    if len(classes) < 2:
        return None
    lb = LabelBinarizer()
    lb.y_type_ = "binary" if len(classes) == 2 else "multiclass"
    lb.sparse_input_ = False
    lb.classes_ = classes
    return lb, _label_indicators(y, classes)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` on fastnn kernels.

    Parameters and fitted attributes are those of
    ``sklearn.neural_network.MLPClassifier`` (1.9), plus the fastnn extras
    ``dropout``, ``weight_decay``, ``dtype``, ``backend`` and ``n_threads``, and the
    extra activations / solvers described in :mod:`fastnn.estimators.mlp`.
    ``dropout`` and ``weight_decay`` apply to the stochastic solvers only: a non-zero
    value with ``solver="lbfgs"`` raises a ValueError instead of being ignored.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_,
    best_validation_score_, t_, coefs_, intercepts_, n_features_in_,
    feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As scikit-learn's.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        weight_decay=None,
        dtype=None,
        backend=None,
        n_threads=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.dtype = dtype
        self.backend = backend
        self.n_threads = n_threads

    loss = "log_loss"  # scikit-learn's MLPClassifier has loss fixed to log-loss

    def _validate_input(self, X, y, incremental, reset):
        if incremental and not reset:
            batch = self._validated_batch(X, y)
            if batch is not None:
                return batch
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            fast = _integer_labels_binarized(y)
            if fast is not None:  # what the lines below give, without their ~0.7 ms of checks
                self._label_binarizer, Y = fast
                self.classes_ = self._label_binarizer.classes_
                return X, Y
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the previous call "
                        f"to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _validated_batch(self, X, y):
        """partial_fit's (X, label indicators) without scikit-learn's checks (see
        _validation.validated_rows) for labels the model knows: integers, or strings
        when classes_ are strings (with warm_start, every class among them); for a
        multilabel model, a 0/1 indicator matrix of its width. None otherwise:
        scikit-learn's checks then raise its errors."""
        if validated_rows(self, X) is None or type(y) is not np.ndarray or y.shape[:1] != X.shape[:1]:
            return None
        classes, lb = self.classes_, self._label_binarizer
        if lb.y_type_ == "multilabel-indicator":
            # LabelBinarizer.transform passes a 0/1 indicator through
            if y.shape != (len(y), len(lb.classes_)) or y.dtype.kind not in "biu" or not np.array_equal(
                    classes, lb.classes_):
                return None
            Y = y.astype(bool)
            return (X, Y) if np.array_equal(Y, y) else None
        kinds = y.dtype.kind + classes.dtype.kind  # integers against integers, str against str
        if (y.ndim != 1 or len(classes) < 2 or lb.y_type_ not in ("binary", "multiclass")
                or kinds not in ("ii", "iu", "ui", "uu", "UU")):
            return None
        Y = _label_indicators(y, classes)
        if Y is None:
            return None
        if self.warm_start and not _every_class(Y):
            return None  # scikit-learn's path raises its warm_start error
        return X, Y

    def predict(self, X):
        """Predict class labels (or label-indicator rows for multilabel targets)."""
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        lb = self._label_binarizer
        if lb.y_type_ == "multiclass" and not lb.sparse_input_:
            # what inverse_transform returns here (the class of each row's largest
            # output, the first on ties), without its ~40 us of array-API dispatch
            return lb.classes_.take(np.argmax(y_pred, axis=1))
        return lb.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        # early stopping's score of each epoch: y holds the fit's own held-out labels
        multilabel = self._label_binarizer.y_type_ not in ("binary", "multiclass")
        return self._score_with_function(X, y, sample_weight=sample_weight,
                                         score_function=accuracy_score if multilabel else _scores.accuracy)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call (as scikit-learn)."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Log of predict_proba."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Class probabilities, columns ordered as ``classes_``."""
        self._check_fitted()
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` on fastnn kernels.

    ``loss`` is "squared_error" (identity output) or "poisson" (exp output), as
    scikit-learn 1.9. The other parameters and the fitted attributes are as in
    :class:`MLPClassifier` (``dropout`` and ``weight_decay``: stochastic solvers only).
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        weight_decay=None,
        dtype=None,
        backend=None,
        n_threads=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.dtype = dtype
        self.backend = backend
        self.n_threads = n_threads

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        # early stopping's score of each epoch: y holds the fit's own held-out targets
        return self._score_with_function(X, y, sample_weight=sample_weight, score_function=_scores.r2_uniform)

    def _validate_input(self, X, y, incremental, reset):
        if incremental and not reset and self._validated_batch(X, y) is not None:
            return X, y
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.dtype.kind in "SUV":  # float() would parse "1.5": regression targets must be numbers
            raise ValueError(f"y must hold numbers for a regressor, got dtype {y.dtype}")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)  # a sparse column: scikit-learn's TypeError
        if sp.issparse(y):
            # multi-output sparse y: scikit-learn trains on its values (a csr_matrix fails
            # there, in np.matrix arithmetic); the native epoch takes dense targets
            y = y.toarray()
        return X, y

    def _validated_batch(self, X, y):
        """(X, y) when a partial_fit batch needs none of scikit-learn's checks (see
        _validation.validated_rows): finite numeric targets of the fitted shape; None otherwise."""
        if validated_rows(self, X) is None or type(y) is not np.ndarray or y.dtype.kind not in "iuf":
            return None
        n, k = X.shape[0], self.n_outputs_
        if y.shape != ((n,) if k == 1 else (n, k)):
            return None
        return (X, y) if y.dtype.kind != "f" or np.isfinite(y.sum()) else None

    # scikit-learn 1.9 tests ``est._check_solver`` without calling it, so its
    # MLPRegressor.partial_fit exists for every solver (lbfgs: a full L-BFGS fit); kept as is.
    @available_if(lambda est: est._check_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y) (with solver="lbfgs": one L-BFGS fit, as scikit-learn)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
