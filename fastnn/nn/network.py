"""Sequential: a chain of layers whose parameters live in one flat buffer.

``params`` holds every weight then every bias (``FlatLayout``), ``grads`` the
same layout; each Dense layer works on views of both, so one fused optimizer
call per slice updates the whole network.
"""
from __future__ import annotations

import weakref
from typing import List, Optional, Sequence

import numpy as np

from .. import kernels
from .flat import FlatLayout
from .init import Seed, init_params
from .layers import Context, Dense, Dropout, Layer, _check_activation

__all__ = ["Sequential", "build_mlp"]


class Sequential:
    """Layers applied in order; parameters and gradients in two flat buffers.

    Parameters
    ----------
    layers : sequence of Layer
        Dense layers must chain (each n_in equals the previous Dense's n_out);
        Activation and Dropout layers keep the width. A layer object belongs to one
        network, at one place (it holds views of that network's buffers): a network
        built from another's layers takes them, and the other one then refuses to
        run (``copy.deepcopy(layers)`` gives a second network layers of its own).
    dtype : float32 or float64
    seed, init : passed to ``fastnn.nn.init.init_params`` (init "auto": He for
        ReLU-family networks, scikit-learn's Glorot otherwise).
    params : optional flat buffer to adopt (not copied) instead of initialising.
    """

    def __init__(self, layers: Sequence[Layer], *, dtype=np.float32, seed: Seed = None, init: str = "auto",
                 params: Optional[np.ndarray] = None):
        self.layers: List[Layer] = list(layers)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        dense = [l for l in self.layers if isinstance(l, Dense)]
        if not dense:
            raise ValueError("a Sequential needs at least one Dense layer")
        width = dense[0].n_in
        sizes = [width]
        hidden = -1
        seen = set()
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"layers must be fastnn.nn.layers.Layer instances, got {type(layer).__name__}")
            # a layer computes with the views of the last network that bound it: at two places,
            # both would use one set of weights
            if id(layer) in seen:
                raise ValueError(f"{layer!r} appears twice in layers; give each place its own layer object")
            seen.add(id(layer))
            if isinstance(layer, Dense):
                if layer.n_in != width:
                    raise ValueError(f"{layer!r} takes {layer.n_in} inputs but the previous layer gives {width}")
                width = layer.n_out
                sizes.append(width)
                hidden += 1
            else:
                layer.set_width(width)
                if isinstance(layer, Dropout):
                    layer.index = hidden
        self.layout = FlatLayout(sizes)
        self.dense: List[Dense] = dense
        if params is None:
            params = init_params(self.layout, self._init_activation(), init=init, seed=seed, dtype=self.dtype)
        elif not isinstance(params, np.ndarray):  # adopted, not copied: it must be an array already
            raise TypeError(f"params must be a numpy.ndarray, got {type(params).__name__}")
        elif params.dtype != self.dtype or params.shape != (self.layout.size,) or not params.flags.c_contiguous:
            raise ValueError(f"params must be a C-contiguous {self.dtype} array of shape ({self.layout.size},)")
        self.params = params
        self.grads = self.layout.empty(self.dtype)
        self._bind()
        self._rows = 0

    def __setstate__(self, state) -> None:
        # pickle and deepcopy give each layer's weight views arrays of their own: without binding
        # them again, training and set_params changed params while predict kept the old weights
        self.__dict__.update(state)
        self._bind()

    def _init_activation(self) -> str:
        for layer in self.layers:
            act = getattr(layer, "activation", "identity")
            if act != "identity":
                return act
        return "identity"

    def _bind(self) -> None:
        for layer in self.layers:
            layer._network = weakref.ref(self)
        lay = self.layout
        for d, W, b, dW, db in zip(self.dense, lay.weights(self.params), lay.biases(self.params),
                                   lay.weights(self.grads), lay.biases(self.grads)):
            d.bind(W, b, dW, db)

    def set_params(self, params: np.ndarray) -> None:
        """Copy `params` (flat, same layout) into the parameter buffer.

        Values are cast to the network's dtype; one that is finite but overflows it
        (1e300 into float32) is refused rather than stored as inf."""
        params = np.asarray(params)
        if params.shape != self.params.shape:
            raise ValueError(f"params must have shape {self.params.shape}, got {params.shape}")
        with np.errstate(over="ignore"):
            cast = params.astype(self.dtype, casting="same_kind")
        overflow = np.isfinite(params) & ~np.isfinite(cast)
        if overflow.any():
            raise ValueError(f"params holds {int(overflow.sum())} finite value(s) too large for the network's "
                             f"{self.dtype} (e.g. {params[overflow][0]} at index {int(np.flatnonzero(overflow)[0])})")
        np.copyto(self.params, cast)

    @property
    def sizes(self):
        return list(self.layout.sizes)

    # ------------------------------------------------------------------ training

    def allocate(self, rows: int) -> None:
        """Allocate every training buffer for batches of up to `rows` rows (once per fit)."""
        rows = int(rows)
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        if rows != self._rows:
            for layer in self.layers:
                layer.allocate(rows, self.dtype)
            self._rows = rows

    def forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        """Training forward of one batch (x: [rows <= allocated, d0]); returns the output view."""
        # the layers write into the buffers allocate() made: without them (or with too few rows)
        # they would fail deep inside with an error that does not say what to do
        if len(x) > self._rows or not self._rows:
            raise ValueError(f"x has {len(x)} rows but the training buffers hold {self._rows}: call "
                             f"allocate(batch_size) with the largest batch size before forward")
        self._check_layers_are_mine()
        for layer in self.layers:
            x = layer.forward(x, ctx)
        return x

    def backward(self, dout: np.ndarray, ctx: Context) -> None:
        """Backward of the last forward; fills ``grads``. `dout` is overwritten."""
        layers = self.layers
        for i in range(len(layers) - 1, 0, -1):
            dout = layers[i].backward(dout, ctx, True)
        layers[0].backward(dout, ctx, False)

    # ----------------------------------------------------------------- inference

    def predict(self, x, backend: Optional[str] = None) -> np.ndarray:
        """The network's output for x [n, inputs] in the network's dtype (dropout off); allocates.

        x may be a scipy.sparse matrix or array when the first layer is Dense: its product
        then runs over x's non-zeros (scipy.sparse's), the other layers on dense outputs."""
        # checked here: the first layer's kernel would name its own operands ("w has dtype float32...")
        if kernels.is_sparse(x):
            if x.ndim != 2:
                raise ValueError(f"x must be 2-D, got shape {x.shape}")
            if type(self.layers[0]) is not Dense:
                raise TypeError(f"a sparse x needs a Dense first layer, this network starts with {self.layers[0]!r}: "
                                "pass x.toarray()")
        else:
            x = kernels._input("x", x, 2)
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the network is {self.dtype}; cast it (x.astype(np.{self.dtype}))")
        if x.shape[1] != self.layout.sizes[0]:
            raise ValueError(f"x must have shape (n, {self.layout.sizes[0]}), got {x.shape}")
        self._check_layers_are_mine()
        for layer in self.layers:
            x = layer.predict(x, backend)
        return x

    def _check_layers_are_mine(self) -> None:
        # a network built later from these layer objects bound them to its own weights: this
        # one would silently compute with those
        for layer in self.layers:
            if layer._network() is not self:
                raise ValueError(f"{layer!r} was taken by another Sequential built from the same layer objects, "
                                 "so this network can no longer run; build each network from its own layers "
                                 "(e.g. copy.deepcopy(layers))")

    def __repr__(self) -> str:
        inner = ", ".join(repr(l) for l in self.layers)
        return f"Sequential([{inner}], dtype={self.dtype.name})"


def check_dropout(dropout, sizes: Sequence[int]) -> float:
    """`dropout` as a float in [0, 1); a ValueError also when it is not 0 and `sizes` has no hidden layer."""
    if not 0.0 <= kernels.check_real("dropout", dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if dropout and len(sizes) < 3:  # it would silently do nothing
        raise ValueError(f"dropout={dropout!r} applies to hidden layers, and sizes {list(sizes)} has none")
    return float(dropout)


def build_mlp(sizes: Sequence[int], activation: str = "relu", *, dropout: float = 0.0, dtype=np.float32,
              seed: Seed = None, init: str = "auto", param: Optional[float] = None,
              params: Optional[np.ndarray] = None) -> Sequential:
    """The standard MLP: Dense+act (+Dropout) for every hidden layer, a linear output layer."""
    sizes = list(FlatLayout(sizes).sizes)  # its checks: int() would truncate a width of 2.5 to 2
    _check_activation(activation, param)  # also when there is no hidden layer to pass it to
    dropout = check_dropout(dropout, sizes)
    layers: List[Layer] = []
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = l == len(sizes) - 2
        layers.append(Dense(i, o, "identity", param=None) if last else Dense(i, o, activation, param=param))
        if not last and dropout > 0.0:
            layers.append(Dropout(dropout))
    if params is None:  # the init scheme follows the hidden activation, even for a 1-layer net
        params = init_params(FlatLayout(sizes), activation, init=init, seed=seed, dtype=dtype)
    return Sequential(layers, dtype=dtype, params=params)


