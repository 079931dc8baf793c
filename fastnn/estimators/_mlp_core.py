"""The numeric core behind fastnn's MLP estimators: flat parameters and one epoch.

Everything here works on ONE flat parameter vector laid out as in
fastnn/nn/flat.py (all weights ``[in, out]`` in layer order, then all biases), which
is also scikit-learn's ``_pack`` order, so L-BFGS sees the very same vector.

Two epoch engines give the same weights:

* ``kernels.train_epoch`` (native: one call per epoch, a few on large data, see
  ``fastnn.train.fused_epoch``) when it exists and the
  run needs nothing it lacks (sample weights and the Poisson loss);
* ``python_epoch``: the per-batch loop composed of ``fastnn.kernels`` calls,
  which also serves L-BFGS (``loss_grad``) and defines the semantics exactly as
  scikit-learn's ``_backprop`` does (loss clipping, sample weights, L2 scaling).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, xlogy

from .. import backends
from .. import kernels as K
from ..train import fused_epoch

#: scikit-learn's hidden activation names -> fastnn kernel names (extras map to themselves)
HIDDEN_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "gelu": "gelu",
    "elu": "elu",
    "softplus": "softplus",
    "leaky_relu": "leaky_relu",
}

#: output activation -> the fused loss of the native epoch (None: Python loop only)
NATIVE_LOSS = {"softmax": "softmax_xent", "logistic": "sigmoid_bce", "identity": "mse", "exp": None}

#: solver -> (native optimizer name, number of state rows)
SOLVER_STATE = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 1, "adagrad": 1}
ADAM_LIKE = ("adam", "adamw")
RMSPROP_RHO = 0.9


# ------------------------------------------------------------------ flat layout


@dataclass(frozen=True)
class Layout:
    """Offsets of each layer's weights and biases in the flat parameter vector."""

    sizes: Tuple[int, ...]

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def size(self) -> int:
        return self.n_weights + sum(self.sizes[1:])

    def weights(self, flat: np.ndarray) -> List[np.ndarray]:
        out, start = [], 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            out.append(flat[start:start + a * b].reshape(a, b))
            start += a * b
        return out

    def biases(self, flat: np.ndarray) -> List[np.ndarray]:
        out, start = [], self.n_weights
        for b in self.sizes[1:]:
            out.append(flat[start:start + b])
            start += b
        return out


def pack(coefs: Sequence[np.ndarray], intercepts: Sequence[np.ndarray], dtype) -> np.ndarray:
    """One C-contiguous flat vector from coefs_ + intercepts_ (scikit-learn's ``_pack``)."""
    return np.concatenate([np.asarray(a, dtype=dtype).ravel() for a in list(coefs) + list(intercepts)])


def init_params(rng: np.random.RandomState, sizes: Sequence[int], activation: str, dtype) -> np.ndarray:
    """Glorot-uniform init drawn exactly as scikit-learn's ``_init_coef``.

    Per layer, in order: the [in, out] weights, then the biases, both
    U(-b, b) with b = sqrt(factor / (in + out)), factor 2 for logistic and 6
    otherwise; drawn in float64 and cast, as scikit-learn does.
    """
    layout = Layout(tuple(sizes))
    flat = np.empty(layout.size, dtype=dtype)
    factor = 2.0 if activation == "logistic" else 6.0
    for w, b, fan_in, fan_out in zip(layout.weights(flat), layout.biases(flat), sizes[:-1], sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        w[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
        b[...] = rng.uniform(-bound, bound, fan_out)
    return flat


# ---------------------------------------------------------------- output math


def output_activation(z: np.ndarray, out_activation: str) -> np.ndarray:
    """scikit-learn's output activations, in place on the logits ``z``."""
    if out_activation == "softmax":
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    elif out_activation == "logistic":
        expit(z, out=z)
    elif out_activation == "exp":
        np.exp(z, out=z)
    return z


def output_loss(y: np.ndarray, p: np.ndarray, out_activation: str, sample_weight=None) -> float:
    """The data term of scikit-learn's loss for predictions ``p`` (after the output activation)."""
    if out_activation == "identity":
        return float(0.5 * np.average((y - p) ** 2, weights=sample_weight, axis=0).mean())
    if out_activation == "exp":
        return float(np.average(xlogy(y, y / p) - y + p, weights=sample_weight, axis=0).sum())
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    if out_activation == "logistic":  # binary_log_loss (== log_loss for one column)
        return float(-np.average(xlogy(y, p) + xlogy(1 - y, 1 - p), weights=sample_weight, axis=0).sum())
    return float(-np.average(xlogy(y, p), weights=sample_weight, axis=0).sum())


# --------------------------------------------------------------------- network


@dataclass
class Net:
    """What the core needs to know about a network (no data, no fitted state)."""

    sizes: Tuple[int, ...]
    activation: str           # scikit-learn name (see HIDDEN_ACTIVATIONS)
    out_activation: str       # softmax | logistic | identity | exp
    backend: Optional[str] = None
    param: Optional[float] = None

    @property
    def layout(self) -> Layout:
        return Layout(self.sizes)

    @property
    def kact(self) -> str:
        return HIDDEN_ACTIVATIONS[self.activation]


def _first_layer(X, w, b, act, net: Net, out=None, preact=None):
    if sp.issparse(X):
        z = np.asarray(X @ w)
        z += b
        if preact is not None:
            preact[...] = z
        return K.activation_forward(z, act, param=net.param, out=z if out is None else out, backend=net.backend)
    return K.dense_forward(X, w, b, act, out=out, preact=preact, param=net.param, backend=net.backend)


def forward(net: Net, flat: np.ndarray, X) -> np.ndarray:
    """Network output after the output activation (predict_proba / predict): one
    kernels.mlp_forward call for all the layers where X is a dense C-contiguous array of
    flat's dtype (the logits of forward_layers' calls, bit for bit), else one call a layer."""
    nw = net.layout.n_weights
    if (type(X) is np.ndarray and X.ndim == 2 and X.size and X.dtype == flat.dtype and X.flags.c_contiguous
            and X.shape[1] == net.sizes[0] and flat.flags.c_contiguous and flat.size == nw + sum(net.sizes[1:])):
        # without mlp_forward's checks, which these operands pass (one row, digits (128, 64),
        # float64: 28 -> 20 us with them and a call a layer gone)
        code, param = K._activation(net.kact, net.param)
        out = np.empty((X.shape[0], net.sizes[-1]), X.dtype)
        K._run("mlp_forward", K._train_module(net.backend), "mlp_forward", (out, flat, X, net.sizes, code, param),
               2.0 * X.shape[0] * nw)
        return output_activation(out, net.out_activation)
    return forward_layers(net, net.layout.weights(flat), net.layout.biases(flat), X)


def _prechecked(X, ws, bs) -> bool:
    """X, ws and bs are C-contiguous ndarrays of X's float dtype whose shapes chain
    (X [n, i] with n, i >= 1, w [i, o], b [o], ...): what kernels.dense_forward checks."""
    if type(X) is not np.ndarray or X.ndim != 2 or not X.size or X.dtype not in K.FLOATS:
        return False
    width = X.shape[1]
    for w, b in zip(ws, bs):
        if type(w) is not np.ndarray or type(b) is not np.ndarray or w.ndim != 2 or w.shape[0] != width:
            return False
        width = w.shape[1]
        if b.shape != (width,) or not width:
            return False
    return all(a.dtype == X.dtype and a.flags.c_contiguous for a in (X, *ws, *bs))


def forward_layers(net: Net, ws: Sequence[np.ndarray], bs: Sequence[np.ndarray], X) -> np.ndarray:
    """forward() with the weights and biases given per layer (C-contiguous, X's dtype)."""
    if _prechecked(X, ws, bs):
        # one backend call a layer, without kernels.dense_forward's checks (which these
        # operands pass): predicting a row costs ~3 us a layer less
        mod = backends.resolve(net.backend)
        hidden, param = K._activation(net.kact, net.param)
        h = X
        for i, (w, b) in enumerate(zip(ws, bs)):
            out = np.empty((h.shape[0], w.shape[1]), h.dtype)
            act = K.ACTIVATIONS["identity"] if i == len(ws) - 1 else hidden
            K._dense_forward_call(mod, out, None, h, w, b, act, param)
            h = out
        return output_activation(h, net.out_activation)
    h = X
    last = len(ws) - 1
    for i, (w, b) in enumerate(zip(ws, bs)):
        act = "identity" if i == last else net.kact
        h = _first_layer(h, w, b, act, net) if i == 0 else K.dense_forward(h, w, b, act, param=net.param,
                                                                           backend=net.backend)
    return output_activation(h, net.out_activation)


class Workspace:
    """Per-layer buffers for one batch size, reused across batches (no allocation per batch)."""

    def __init__(self, net: Net, rows: int, dtype):
        self.rows = rows
        hidden = net.sizes[1:]
        self.h = [np.empty((rows, d), dtype) for d in hidden]            # layer outputs
        self.z = [np.empty((rows, d), dtype) for d in hidden[:-1]] if net.kact in ("gelu",) else None
        self.d = [np.empty((rows, d), dtype) for d in net.sizes[:-1]]     # gradient w.r.t. each layer input
        self.d[0] = None                                                  # never needed for the data
        self.hd = None                                                    # hidden outputs after dropout

    def dropped(self, dtype):
        if self.hd is None:
            self.hd = [np.empty_like(a) for a in self.h[:-1]]
        return self.hd

    def view(self, rows: int):
        if rows == self.rows:
            return self.h, self.z, self.d
        h = [a[:rows] for a in self.h]
        z = None if self.z is None else [a[:rows] for a in self.z]
        d = [None if a is None else a[:rows] for a in self.d]
        return h, z, d


def loss_grad(net: Net, flat: np.ndarray, grads: np.ndarray, X, Y: np.ndarray, alpha: float,
              sample_weight: Optional[np.ndarray] = None, ws: Optional[Workspace] = None,
              dropout: float = 0.0, seed: int = 0, t: int = 0, l2_in_grads: bool = True) -> float:
    """scikit-learn's ``_backprop`` on fastnn kernels: returns the loss, fills ``grads``.

    loss = data loss (as scikit-learn defines it, clipping included)
           + 0.5 alpha ||W||^2 / sum(sample_weight or 1);
    grads = d loss / d flat (L2 term on the weights only; without it when not
    l2_in_grads, for an update that couples it itself). Dropout (an extra)
    masks each hidden output with the mask of update t, layer l.
    """
    layout = net.layout
    n = X.shape[0]
    if ws is None or ws.rows < n:
        ws = Workspace(net, n, flat.dtype)
    if dropout:
        ws.dropped(flat.dtype)
    H, Z, D = ws.view(n)
    # inputs of layers 1..L-1: the hidden outputs, after dropout when there is dropout
    Hin = H if not dropout else (ws.hd if n == ws.rows else [a[:n] for a in ws.hd])
    W, B = layout.weights(flat), layout.biases(flat)
    gW, gB = layout.weights(grads), layout.biases(grads)
    L = len(W)
    act = net.kact
    # forward
    inp = X
    for i in range(L):
        a = "identity" if i == L - 1 else act
        z = None if (Z is None or i == L - 1) else Z[i]
        if i == 0:
            _first_layer(inp, W[0], B[0], a, net, out=H[0], preact=z)
        else:
            K.dense_forward(inp, W[i], B[i], a, out=H[i], preact=z, param=net.param, backend=net.backend)
        if dropout and i < L - 1:
            K.dropout_forward(H[i], dropout, seed=seed, step=t * 1024 + i, out=Hin[i], backend=net.backend)
        inp = Hin[i] if i < L - 1 else H[i]
    P = output_activation(H[L - 1], net.out_activation)
    loss = output_loss(Y, P, net.out_activation, sample_weight)
    w_flat = flat[:layout.n_weights]
    sw_sum = float(n if sample_weight is None else sample_weight.sum())
    # ||W||^2 via the kernel, not np.dot: a multi-threaded BLAS call on every batch
    # would wake NumPy's OpenBLAS pool each time (measured: 2.3x slower fits)
    if alpha:
        loss += alpha * K.l2_penalty(w_flat, backend=net.backend) / sw_sum
    # backward: delta = (P - Y) * sw / sw_sum (canonical link for every output activation)
    delta = P
    delta -= Y
    if sample_weight is not None:
        delta *= sample_weight.reshape(-1, 1).astype(delta.dtype, copy=False)
    delta *= 1.0 / sw_sum
    dout = delta
    for i in range(L - 1, -1, -1):
        a = "identity" if i == L - 1 else act
        x_in = X if i == 0 else Hin[i - 1]
        if i == 0 and sp.issparse(X):
            if a != "identity":
                K.activation_backward(dout, a, y=H[0], x=None if Z is None else Z[0], param=net.param,
                                      out=dout, backend=net.backend)
            gW[0][...] = np.asarray(X.T @ dout)
            np.sum(dout, axis=0, out=gB[0])
            continue
        dx, _, _ = K.dense_backward(dout, x_in, W[i], a, y=None if a == "identity" else H[i],
                                    z=None if (Z is None or i == L - 1) else Z[i], param=net.param,
                                    need_dx=i > 0, dx=D[i] if i > 0 else None, dw=gW[i], db=gB[i], dz=dout,
                                    backend=net.backend)
        if i > 0:
            if dropout:
                K.dropout_backward(dx, dropout, seed=seed, step=t * 1024 + (i - 1), out=dx, backend=net.backend)
            dout = dx
    if alpha and l2_in_grads:
        grads[:layout.n_weights] += (alpha / sw_sum) * w_flat
    return loss


# ------------------------------------------------------------------- optimizer


@dataclass
class OptState:
    """Optimizer state that survives partial_fit calls (pickled with the estimator).

    Like scikit-learn's optimizer object it keeps the hyper-parameters it was created
    with: partial_fit continues with them whatever set_params changed since.
    """

    hyper: Hyper
    state: np.ndarray          # [n_state, size], fastnn/nn/flat.py layout
    step: int = 0              # updates done (Adam's t)
    learning_rate: float = 0.0

    @classmethod
    def new(cls, h: Hyper, size: int, dtype) -> "OptState":
        return cls(h, np.zeros((SOLVER_STATE[h.solver], size), dtype=dtype), 0, float(h.lr_init))


@dataclass
class Hyper:
    """Optimizer hyper-parameters, fixed when the optimizer is created."""

    solver: str
    momentum: float = 0.9
    nesterov: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "constant"  # learning_rate: constant | invscaling | adaptive
    lr_init: float = 0.001
    power_t: float = 0.5

    def native_name(self) -> str:
        if self.solver == "sgd":
            if self.momentum == 0.0:
                return "sgd"
            return "nesterov" if self.nesterov else "momentum"
        return self.solver


def apply_update(h: Hyper, opt: OptState, flat: np.ndarray, grads: np.ndarray, n_weights: int,
                 backend=None, l2: float = 0.0) -> None:
    """One fused update: weights (with the coupled L2 term l2 W added to their gradient
    and decoupled decay) then biases (without)."""
    opt.step += 1
    lr = opt.learning_rate
    for sl, wd, pen in ((slice(0, n_weights), h.weight_decay, l2), (slice(n_weights, None), 0.0, 0.0)):
        p, g = flat[sl], grads[sl]
        s = [row[sl] for row in opt.state]
        if h.solver == "sgd":
            if h.momentum == 0.0:
                K.sgd_update(p, g, lr=lr, l2=pen, weight_decay=wd, backend=backend)
            else:
                K.momentum_update(p, g, s[0], lr=lr, momentum=h.momentum, nesterov=h.nesterov,
                                  l2=pen, weight_decay=wd, backend=backend)
        elif h.solver in ADAM_LIKE:
            K.adam_update(p, g, s[0], s[1], lr=lr, step=opt.step, beta1=h.beta1, beta2=h.beta2, eps=h.eps,
                          l2=pen, weight_decay=wd, backend=backend)
        elif h.solver == "rmsprop":
            K.rmsprop_update(p, g, s[0], lr=lr, rho=RMSPROP_RHO, eps=h.eps, l2=pen, weight_decay=wd, backend=backend)
        elif h.solver == "adagrad":
            K.adagrad_update(p, g, s[0], lr=lr, eps=h.eps, l2=pen, weight_decay=wd, backend=backend)
        else:  # pragma: no cover - guarded by parameter validation
            raise ValueError(f"unknown solver {h.solver!r}")


def python_epoch(net: Net, h: Hyper, opt: OptState, flat: np.ndarray, X, Y: np.ndarray, rows: np.ndarray,
                 batch_size: int, alpha: float, sample_weight=None, dropout: float = 0.0, seed: int = 0) -> float:
    """One epoch, batch by batch: returns sum(batch_loss * batch_rows) / len(rows) (scikit-learn's loss_)."""
    grads = np.empty_like(flat)
    ws = Workspace(net, min(batch_size, len(rows)), flat.dtype)
    n_weights = net.layout.n_weights
    total = 0.0
    for start in range(0, len(rows), batch_size):
        idx = rows[start:start + batch_size]
        xb = X[idx]
        sw = None if sample_weight is None else sample_weight[idx]
        if sw is not None and sw.sum() == 0:  # as kernels.train_epoch says it
            raise ValueError(f"sample_weight sums to 0 over the rows of batch {start // batch_size} "
                             f"(of {-(-len(rows) // batch_size)}); a batch's loss is divided by its weight sum")
        # the L2 term coupled in the update, as the native epoch does: added to grads, it
        # took a temporary and two passes over the weights (a 5000-column sparse X, (64,):
        # 2.5 MB a batch)
        loss = loss_grad(net, flat, grads, xb, Y[idx], alpha, sw, ws, dropout, seed, opt.step + 1,
                         l2_in_grads=False)
        total += loss * len(idx)
        s = float(len(idx) if sw is None else sw.sum())  # loss_grad's sw_sum
        apply_update(h, opt, flat, grads, n_weights, net.backend, l2=alpha / s)
    return total / len(rows)


def native_available() -> bool:
    return hasattr(K, "train_epoch")


def _loss_clip(net: Net, dtype) -> float:
    """The native losses' loss_clip: scikit-learn clips probabilities at its dtype's eps
    in the log losses (output_loss)."""
    return 0.0 if net.out_activation == "identity" else float(np.finfo(dtype).eps)


def native_objective(net: Net, flat: np.ndarray, grads: np.ndarray, X: np.ndarray, y_native: np.ndarray,
                     alpha: float, sample_weight: Optional[np.ndarray] = None) -> Callable[[], float]:
    """``() -> loss`` at what ``flat`` holds, its gradient written into ``grads``: loss_grad
    (no dropout) in one ``kernels.loss_grad`` call, the loss converted to scikit-learn's
    definition as in native_epoch (the mse data term divided by the number of outputs,
    the L2 term not). The call is checked once (``kernels.bind``) where the kernel takes
    X and y in place (X dense and C-contiguous, or CSR, of flat's dtype), else at every
    call: the checks cost ~20-40 us an evaluation on digits, 5-10% of a (64,) L-BFGS fit,
    and ~0.37 ms on a 15000 x 5000 TF-IDF X (1.5 million non-zeros)."""
    kw = dict(sizes=net.sizes, activation=net.kact, loss=NATIVE_LOSS[net.out_activation], alpha=alpha,
              param=net.param, sample_weight=sample_weight, loss_clip=_loss_clip(net, flat.dtype),
              backend=net.backend)
    try:
        call = K.bind(K.loss_grad, flat, grads, X, y_native, **kw)
    except ValueError:  # an X the checks copy (bind's refusal; a bad argument raises again below)
        def call():
            return K.loss_grad(flat, grads, X, y_native, **kw)
    k = net.sizes[-1]
    rescale = net.out_activation == "identity" and k > 1
    s = X.shape[0] if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))

    def objective() -> float:
        loss = call()
        if rescale:
            pen = alpha * K.l2_penalty(flat[:net.layout.n_weights], backend=net.backend) / s if alpha else 0.0
            loss = (loss - pen) / k + pen
        return float(loss)

    return objective


def _unchecked_epoch(net: Net, h: Hyper, opt: OptState, flat, grads, state, X, y_native, batch_size: int,
                     alpha: float, dropout: float, seed: int, sample_weight, loss_clip: float, loss_div: float):
    """``(rows, step) -> loss``: native_epoch's kernels.train_epoch call without its checks,
    for the estimator's own buffers and its validated dense data; each call still checks
    that its rows index X (the checks: ~17 us a call). None where the checked call is needed (a
    sparse X, sample weights, whose batches must not sum to 0, or operands not as
    train_epoch would pass them)."""
    from ..backends import _train_reference as spec

    sizes, dt = tuple(net.sizes), flat.dtype
    size, n = net.layout.size, X.shape[0]
    softmax = NATIVE_LOSS[net.out_activation] == "softmax_xent"
    if (sample_weight is not None or type(X) is not np.ndarray or X.dtype != dt or X.shape[1:] != sizes[:1]
            or not n or not X.flags.c_contiguous or flat.shape != (size,) or not flat.flags.c_contiguous
            or grads.shape != (size,) or grads.dtype != dt or state.dtype != dt or not state.flags.c_contiguous
            or state.shape != (spec.N_STATE[spec.OPTIMIZERS[h.native_name()]], size)
            or type(y_native) is not np.ndarray or not y_native.flags.c_contiguous
            or y_native.dtype != (np.int32 if softmax else dt) or y_native.shape != ((n,) if softmax else (n, sizes[-1]))
            or any(K._may_share_memory(X, buf) or K._may_share_memory(y_native, buf) for buf in (flat, state))):
        return None
    if softmax and (y_native[y_native.argmin()] < 0 or y_native[y_native.argmax()] >= sizes[-1]):
        return None  # (the checked call's error)
    code, param = K._activation(net.kact, net.param)
    mod = K._train_module(net.backend)
    head = (flat, grads, state, X, y_native)
    mid = (sizes, code, param, spec.LOSSES[NATIVE_LOSS[net.out_activation]], spec.OPTIMIZERS[h.native_name()])
    tail = (int(batch_size), float(h.momentum), float(h.beta1), float(h.beta2), float(h.eps), RMSPROP_RHO,
            float(alpha), 0.0, float(h.weight_decay), float(dropout), int(seed), None, None, float(loss_clip),
            float(loss_div))

    def call(rows: np.ndarray, step: int) -> float:
        if not rows.size or rows[rows.argmin()] < 0 or rows[rows.argmax()] >= n:
            raise ValueError(f"perm indices must lie in [0, {n}) (rows of X)")  # (never, from native_epoch)
        # the learning rate as of this call: an adaptive schedule changes it between epochs
        return float(K._run("train_epoch", mod, "train_epoch",
                            head + (rows,) + mid + (float(opt.learning_rate), int(step)) + tail,
                            K._x_flops(X, sizes, rows), 0.0))

    return call


def native_epoch(net: Net, h: Hyper, opt: OptState, flat: np.ndarray, X: np.ndarray, y_native: np.ndarray,
                 perm: np.ndarray, batch_size: int, alpha: float, dropout: float = 0.0, seed: int = 0,
                 sample_weight: Optional[np.ndarray] = None, cache: Optional[dict] = None) -> float:
    """One epoch on ``kernels.train_epoch``; the loss converted to scikit-learn's definition.

    ``cache``: a dict the caller keeps over the epochs of one fit (the same objects in
    every call), where the gradient buffer and the unchecked call are kept: ~7 us an
    epoch less (a digits fit's 30 epochs: 1%).

    The native mse is sum / (2 rows); scikit-learn's squared loss is that divided by
    the number of outputs k, with the L2 term NOT divided and the gradient not either:
    the epoch's ``loss_div=k`` (each batch's data term divided before its L2 term is
    added, as scikit-learn sums them), one native call for the whole epoch.
    """
    name = h.native_name()
    state = opt.state[:0] if name == "sgd" else opt.state  # plain sgd keeps no state
    k = net.sizes[-1]
    loss_div = float(k) if net.out_activation == "identity" else 1.0
    loss_clip = _loss_clip(net, flat.dtype)
    # (the objects themselves are alive in the caller: their ids cannot be reused meanwhile)
    key = tuple(id(o) for o in (net, h, opt, flat, X, y_native, sample_weight, opt.state)) + (
        batch_size, alpha, dropout, seed)
    if cache is not None and cache.get("key") == key:
        grads, fast = cache["grads"], cache["fast"]
    else:
        grads = np.empty_like(flat)
        fast = _unchecked_epoch(net, h, opt, flat, grads, state, X, y_native, batch_size, alpha, dropout, seed,
                                sample_weight, loss_clip, loss_div)
        if cache is not None:
            cache.update(key=key, grads=grads, fast=fast)

    def run(rows, step, batch_losses=None):
        if fast is not None and batch_losses is None and rows.dtype == np.int64 and rows.flags.c_contiguous:
            return fast(rows, step)
        return K.train_epoch(flat, grads, state, X, y_native, rows, sizes=list(net.sizes), activation=net.kact,
                             loss=NATIVE_LOSS[net.out_activation], optimizer=name, lr=opt.learning_rate,
                             step=step, batch_size=batch_size, momentum=h.momentum, beta1=h.beta1,
                             beta2=h.beta2, eps=h.eps, rho=RMSPROP_RHO, alpha=alpha,
                             weight_decay=h.weight_decay, dropout=dropout, seed=seed, param=net.param,
                             batch_losses=batch_losses, sample_weight=sample_weight, loss_clip=loss_clip,
                             loss_div=loss_div, backend=net.backend)

    n_batches = -(-len(perm) // batch_size)
    loss = fused_epoch(run, perm, batch_size=batch_size, step=opt.step, sizes=net.sizes,
                       nnz_per_row=X.nnz / max(X.shape[0], 1) if sp.issparse(X) else None)
    opt.step += n_batches
    return float(loss)
