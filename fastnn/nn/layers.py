"""Layers: Dense (with a fused activation), Activation, Dropout.

A layer owns no parameters: ``Sequential`` binds views of its flat parameter and
gradient buffers (``bind``). Training buffers are allocated once per fit for the
largest batch (``allocate``); a batch of ``rows`` rows works on the leading
``rows`` rows of each buffer, views cached per row count, so the per-batch cost
is the kernel calls and nothing else. Everything goes through ``fastnn.kernels``.
"""
from __future__ import annotations

import weakref
from typing import Dict, Optional

import numpy as np

from .. import kernels
from ..backends._common import ACTIVATIONS, DEFAULT_PARAM, NEEDS_INPUT_FOR_GRAD

__all__ = ["Context", "Layer", "Dense", "Activation", "Dropout", "ReLU", "Sigmoid", "Tanh", "Identity",
           "LeakyReLU", "ELU", "Softplus", "GELU", "Softmax", "DROPOUT_LAYER_STRIDE"]

#: dropout step of hidden layer l at update t is t * DROPOUT_LAYER_STRIDE + l (csrc/fastnn.h, fnn_train_epoch_*)
DROPOUT_LAYER_STRIDE = 1024


class Context:
    """What a training batch passes down: the update index t (1-based), dropout seed, backend."""

    __slots__ = ("t", "seed", "backend", "training")

    def __init__(self, seed: int = 0, backend: Optional[str] = None, training: bool = True):
        self.t = 1
        self.seed = int(seed)
        self.backend = backend
        self.training = training


def _check_activation(activation: str, param: Optional[float]) -> str:
    """`activation`, checked with its `param` as the kernels check them: a bad param fails here,
    not at the first forward of a fit; a param the activation has no use for is refused (the
    kernels take and ignore one, for callers that pass one value for every layer)."""
    code, _ = kernels._activation(activation, param)
    if param is not None and code not in DEFAULT_PARAM:
        raise ValueError(f"param is the leaky_relu slope or the elu alpha; {activation!r} takes none, "
                         f"got param={param!r}")
    return activation


class Layer:
    """Base class. Subclasses set n_in / n_out (None: width-preserving, set by Sequential)."""

    n_in: Optional[int] = None
    n_out: Optional[int] = None
    has_params = False
    #: weak reference to the Sequential the layer belongs to (set by it; never pickled or copied)
    _network: Optional[weakref.ref] = None

    def __init__(self) -> None:
        self._views: Dict[int, tuple] = {}
        self._x: Optional[np.ndarray] = None
        self._full: tuple = ()
        self._full_rows = -1

    def __getstate__(self):
        # a copy of a layer (copy.deepcopy(layers), or a pickled network's) is free to join a network
        state = self.__dict__.copy()
        state.pop("_network", None)
        return state

    # width-preserving layers learn their width from the layer before them
    def set_width(self, width: int) -> None:
        self.n_in = self.n_out = width

    def allocate(self, rows: int, dtype) -> None:
        """(Re)allocate training buffers for batches of up to `rows` rows."""
        self._views = {}
        self._full_rows = rows

    def _buffers(self, rows: int) -> tuple:
        if rows == self._full_rows:  # every batch but maybe the last
            return self._full
        v = self._views.get(rows)
        if v is None:
            v = self._views[rows] = tuple(None if b is None else b[:rows] for b in self._full)
        return v

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy: np.ndarray, ctx: Context, need_dx: bool = True) -> Optional[np.ndarray]:
        raise NotImplementedError  # pragma: no cover

    def predict(self, x: np.ndarray, backend: Optional[str] = None) -> np.ndarray:
        """Inference forward (allocates its output; dropout is the identity)."""
        raise NotImplementedError  # pragma: no cover


class Dense(Layer):
    """``y = act(x @ W + b)``; W [n_in, n_out], b [n_out]; act fused into the kernel."""

    has_params = True

    def __init__(self, n_in: int, n_out: int, activation: str = "identity", *, param: Optional[float] = None):
        super().__init__()
        # check_int, not int(): a width of 2.5 would become 2 (and True 1) without a word
        self.n_in, self.n_out = kernels.check_int("n_in", n_in, 1), kernels.check_int("n_out", n_out, 1)
        self.activation = _check_activation(activation, param)
        self.param = param
        self._needs_z = ACTIVATIONS[activation] in NEEDS_INPUT_FOR_GRAD
        self.W = self.b = self.dW = self.db = None

    def bind(self, W: np.ndarray, b: np.ndarray, dW: np.ndarray, db: np.ndarray) -> None:
        """Point the layer at its views of the flat params / grads."""
        self.W, self.b, self.dW, self.db = W, b, dW, db

    def allocate(self, rows: int, dtype) -> None:
        super().allocate(rows, dtype)
        out = np.empty((rows, self.n_out), dtype)
        z = np.empty((rows, self.n_out), dtype) if self._needs_z else None
        dx = np.empty((rows, self.n_in), dtype)
        self._full = (out, z, dx)

    def forward(self, x, ctx):
        out, z, _ = self._buffers(x.shape[0])
        self._x = x
        return kernels.dense_forward(x, self.W, self.b, self.activation, out=out, preact=z, param=self.param,
                                     backend=ctx.backend)

    def backward(self, dy, ctx, need_dx=True):
        out, z, dx = self._buffers(dy.shape[0])
        dx, _, _ = kernels.dense_backward(dy, self._x, self.W, self.activation, y=out, z=z, param=self.param,
                                          need_dx=need_dx, dx=dx if need_dx else None, dw=self.dW, db=self.db,
                                          dz=dy, backend=ctx.backend)
        return dx

    def predict(self, x, backend=None):
        if kernels.is_sparse(x):  # a first layer on sparse input (Sequential.predict checked it)
            z = np.asarray(x @ self.W)  # scipy.sparse's product over x's non-zeros
            z += self.b
            return kernels.activation_forward(z, self.activation, param=self.param, out=z, backend=backend)
        return kernels.dense_forward(x, self.W, self.b, self.activation, param=self.param, backend=backend)

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"


class Activation(Layer):
    """A standalone elementwise activation (softmax: row-wise)."""

    def __init__(self, activation: str, *, param: Optional[float] = None):
        super().__init__()
        self.activation = _check_activation(activation, param)
        self.param = param

    def allocate(self, rows, dtype):
        super().allocate(rows, dtype)
        self._full = (np.empty((rows, self.n_out), dtype),)

    def forward(self, x, ctx):
        (out,) = self._buffers(x.shape[0])
        self._x = x
        return kernels.activation_forward(x, self.activation, param=self.param, out=out, backend=ctx.backend)

    def backward(self, dy, ctx, need_dx=True):
        (out,) = self._buffers(dy.shape[0])
        return kernels.activation_backward(dy, self.activation, y=out, x=self._x, param=self.param, out=dy,
                                           backend=ctx.backend)

    def predict(self, x, backend=None):
        return kernels.activation_forward(x, self.activation, param=self.param, backend=backend)

    def __repr__(self) -> str:
        return f"Activation({self.activation!r})"


def _named(name: str, activation: str, doc: str):
    def __init__(self, *, param: Optional[float] = None):
        Activation.__init__(self, activation, param=param)

    # errors (e.g. LeakyReLU(0.2): param is keyword-only) then name the class, not "_named.<locals>"
    __init__.__qualname__ = f"{name}.__init__"
    return type(name, (Activation,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Identity = _named("Identity", "identity", "y = x.")
ReLU = _named("ReLU", "relu", "y = max(x, 0).")
LeakyReLU = _named("LeakyReLU", "leaky_relu", "y = x if x > 0 else param * x (param defaults to 0.01).")
Sigmoid = _named("Sigmoid", "sigmoid", "y = 1 / (1 + exp(-x)).")
Tanh = _named("Tanh", "tanh", "y = tanh(x).")
Softplus = _named("Softplus", "softplus", "y = log(1 + exp(x)).")
GELU = _named("GELU", "gelu", "y = x Phi(x) (erf form).")
ELU = _named("ELU", "elu", "y = x if x > 0 else param (exp(x) - 1).")
Softmax = _named("Softmax", "softmax", "Row-wise softmax.")


class Dropout(Layer):
    """Inverted dropout with probability p, counter-based masks (identical in every backend).

    The mask at update t is the kernels' mask for ``step = t * 1024 + index``, where
    ``index`` is the hidden layer the dropout follows (0 = first hidden layer),
    set by Sequential; this is what the native epoch uses too.
    """

    def __init__(self, p: float):
        super().__init__()
        p = kernels.check_real("p", p)  # a TypeError naming p for a string or None, not float()'s
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = p
        self.index = 0

    def allocate(self, rows, dtype):
        super().allocate(rows, dtype)
        self._full = (np.empty((rows, self.n_out), dtype),)

    def _step(self, ctx: Context) -> int:
        return ctx.t * DROPOUT_LAYER_STRIDE + self.index

    def forward(self, x, ctx):
        if self.p == 0.0 or not ctx.training:
            return x
        (out,) = self._buffers(x.shape[0])
        return kernels.dropout_forward(x, self.p, seed=ctx.seed, step=self._step(ctx), out=out,
                                       backend=ctx.backend)

    def backward(self, dy, ctx, need_dx=True):
        if self.p == 0.0 or not ctx.training:
            return dy
        return kernels.dropout_backward(dy, self.p, seed=ctx.seed, step=self._step(ctx), out=dy,
                                        backend=ctx.backend)

    def predict(self, x, backend=None):
        return x

    def __repr__(self) -> str:
        return f"Dropout({self.p})"
