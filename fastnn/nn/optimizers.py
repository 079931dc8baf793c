"""Optimizers over the flat parameter layout.

State is one C-contiguous array [n_state, params.size] (csrc/fastnn.h): sgd 0
rows, momentum / nesterov / adagrad / rmsprop 1, adam / adamw 2. An update is
two fused kernel calls: the weights slice with the penalties (coupled L2 as
``l2``, proximal ``l1``, decoupled ``weight_decay``) and the biases slice
without. ``step`` counts the updates done (Adam's t is step + 1 on the next one).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import numpy as np

from .. import kernels
from .flat import FlatLayout

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW", "OPTIMIZERS",
           "get_optimizer", "native_name"]


def _lr(lr) -> float:
    """A learning rate: the kernels' range (they take lr = 0, which would train nothing) but > 0."""
    v = kernels.hyperparameter("lr", lr)
    if v == 0.0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    return v


class Optimizer:
    """Base class: hyperparameters, state buffer and update counter.

    Hyperparameters are checked here, against the ranges the update kernels check
    (``fastnn.kernels.HYPERPARAMETERS``), so a bad one fails when it is given rather
    than at the first update of a fit.
    """

    name = ""
    n_state = 0
    _hyper: tuple = ()

    def __init__(self, lr: float = 1e-3, *, l1: float = 0.0, weight_decay: float = 0.0):
        self.lr = _lr(lr)
        self.l1 = kernels.hyperparameter("l1", l1)
        self.weight_decay = kernels.hyperparameter("weight_decay", weight_decay)
        self.state: Optional[np.ndarray] = None
        self.step = 0
        self._views = None

    # ------------------------------------------------------------------ state

    def setup(self, layout: FlatLayout, params: np.ndarray, grads: np.ndarray) -> None:
        """Bind to a network's buffers; allocate (zeroed) state unless a matching one exists."""
        shape = (self.n_state, layout.size)
        if self.state is None or self.state.shape != shape or self.state.dtype != params.dtype:
            self.state = np.zeros(shape, dtype=params.dtype)
            self.step = 0
        nw = layout.n_weights
        st = self.state
        self._views = (
            (params[:nw], grads[:nw], tuple(st[k, :nw] for k in range(self.n_state))),
            (params[nw:], grads[nw:], tuple(st[k, nw:] for k in range(self.n_state))),
        )
        self._whole = (params, grads, tuple(st[k] for k in range(self.n_state)))

    def fresh_copy(self) -> "Optimizer":
        """A copy of the same class and hyperparameters with no state and step 0: what a fit
        trains, so the caller's instance is never changed and never shared by two models."""
        bound = (self.state, self._views, getattr(self, "_whole", None))
        # deepcopy (a subclass may hold mutable settings), but neither the state nor the
        # views of another network's buffers: the memo maps them to None
        new = copy.deepcopy(self, {id(o): None for o in bound if o is not None})
        new.step = 0
        return new

    def reset(self) -> None:
        """Forget the state and the update count."""
        if self.state is not None:
            self.state[...] = 0
        self.step = 0

    def update(self, lr: float, l2: float = 0.0, backend: Optional[str] = None) -> None:
        """One update of params from grads (``setup`` first). ``l2`` is the coupled
        coefficient for this batch (scikit-learn's alpha / rows)."""
        self.step += 1
        l1, wd = self.l1, self.weight_decay
        if not (l2 or l1 or wd):  # no penalty anywhere: one call over both slices, same elementwise math
            p, g, s = self._whole
            self._apply(p, g, s, lr, 0.0, 0.0, 0.0, backend)
            return
        (pw, gw, sw), (pb, gb, sb) = self._views
        self._apply(pw, gw, sw, lr, l2, l1, wd, backend)
        if pb.size:
            self._apply(pb, gb, sb, lr, 0.0, 0.0, 0.0, backend)

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------- introspection

    def epoch_kwargs(self) -> Dict[str, Any]:
        """The optimizer arguments of ``fastnn.kernels.train_epoch``."""
        kw = {"optimizer": self.name, "l1": self.l1, "weight_decay": self.weight_decay}
        for h in self._hyper:
            kw[h] = getattr(self, h)
        return kw

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-able)."""
        cfg = {"lr": self.lr, "l1": self.l1, "weight_decay": self.weight_decay}
        for h in self._hyper:
            cfg[h] = getattr(self, h)
        return cfg

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Plain gradient descent: ``p -= lr g'``."""

    name = "sgd"

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):
        kernels.sgd_update(p, g, lr=lr, l2=l2, l1=l1, weight_decay=wd, backend=backend)


class Momentum(Optimizer):
    """Heavy-ball momentum in scikit-learn's form: ``v = mu v - lr g'; p += v``."""

    name = "momentum"
    n_state = 1
    _hyper = ("momentum",)
    _nesterov = False

    def __init__(self, lr: float = 1e-3, *, momentum: float = 0.9, l1: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, l1=l1, weight_decay=weight_decay)
        self.momentum = kernels.hyperparameter("momentum", momentum)

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):
        kernels.momentum_update(p, g, s[0], lr=lr, momentum=self.momentum, nesterov=self._nesterov, l2=l2, l1=l1,
                                weight_decay=wd, backend=backend)


class Nesterov(Momentum):
    """Nesterov momentum (scikit-learn's form): ``p += mu v - lr g'``."""

    name = "nesterov"
    _nesterov = True


class AdaGrad(Optimizer):
    """``acc += g'^2; p -= lr g' / (sqrt(acc) + eps)``."""

    name = "adagrad"
    n_state = 1
    _hyper = ("eps",)

    def __init__(self, lr: float = 1e-2, *, eps: float = 1e-10, l1: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, l1=l1, weight_decay=weight_decay)
        self.eps = kernels.hyperparameter("eps", eps)

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):
        kernels.adagrad_update(p, g, s[0], lr=lr, eps=self.eps, l2=l2, l1=l1, weight_decay=wd, backend=backend)


class RMSprop(Optimizer):
    """``sq = rho sq + (1 - rho) g'^2; p -= lr g' / (sqrt(sq) + eps)``."""

    name = "rmsprop"
    n_state = 1
    _hyper = ("rho", "eps")

    def __init__(self, lr: float = 1e-3, *, rho: float = 0.9, eps: float = 1e-8, l1: float = 0.0,
                 weight_decay: float = 0.0):
        super().__init__(lr, l1=l1, weight_decay=weight_decay)
        self.rho, self.eps = kernels.hyperparameter("rho", rho), kernels.hyperparameter("eps", eps)

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):
        kernels.rmsprop_update(p, g, s[0], lr=lr, rho=self.rho, eps=self.eps, l2=l2, l1=l1, weight_decay=wd,
                               backend=backend)


class Adam(Optimizer):
    """Adam (Kingma & Ba, efficient form, as scikit-learn); weight_decay makes it AdamW."""

    name = "adam"
    n_state = 2
    _hyper = ("beta1", "beta2", "eps")

    def __init__(self, lr: float = 1e-3, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 l1: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, l1=l1, weight_decay=weight_decay)
        self.beta1, self.beta2 = kernels.hyperparameter("beta1", beta1), kernels.hyperparameter("beta2", beta2)
        self.eps = kernels.hyperparameter("eps", eps)

    def _apply(self, p, g, s, lr, l2, l1, wd, backend):
        kernels.adam_update(p, g, s[0], s[1], lr=lr, step=self.step, beta1=self.beta1, beta2=self.beta2,
                            eps=self.eps, l2=l2, l1=l1, weight_decay=wd, backend=backend)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01), Loshchilov & Hutter."""

    name = "adamw"

    def __init__(self, lr: float = 1e-3, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 l1: float = 0.0, weight_decay: float = 0.01):
        super().__init__(lr, beta1=beta1, beta2=beta2, eps=eps, l1=l1, weight_decay=weight_decay)


OPTIMIZERS = {c.name: c for c in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW)}

#: what decides the update an optimizer computes; the native epoch runs a built-in class's own
_UPDATE_ATTRS = frozenset({"update", "_apply", "epoch_kwargs", "setup", "n_state", "_hyper", "_nesterov"})


def native_name(opt: Optimizer) -> Optional[str]:
    """The built-in algorithm ``kernels.train_epoch`` runs for `opt`, or None when it cannot.

    A built-in class, or a subclass of one that overrides none of what the update computes
    (e.g. only ``__init__`` defaults, or ``name``), updates exactly as that built-in: its name.
    A subclass that overrides an update method (gradient clipping in ``_apply``...) or a new
    Optimizer: None, and the loop calls ``opt.update`` itself (the composed epoch).
    """
    mro = type(opt).__mro__
    base = next((c for c in mro if c in OPTIMIZERS.values()), None)
    if base is None:
        return None
    between = mro[:mro.index(base)]  # the user's classes above the built-in one
    if any(_UPDATE_ATTRS & vars(c).keys() for c in between) or _UPDATE_ATTRS & vars(opt).keys():
        return None
    return base.name


def get_optimizer(optimizer, lr: Optional[float] = None, **kwargs) -> Optimizer:
    """An Optimizer from a name (with lr and hyperparameters) or an instance (returned as is)."""
    if isinstance(optimizer, Optimizer):
        if kwargs:  # they would be dropped without a word
            raise ValueError(f"{sorted(kwargs)} given with an Optimizer instance, which takes them from its "
                             "constructor; set them there")
        if lr is not None:
            optimizer.lr = _lr(lr)
        return optimizer
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer, got {optimizer!r}")
    cls = OPTIMIZERS[optimizer]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = set(kwargs) - accepted
    if unknown:
        raise TypeError(f"optimizer {optimizer!r} does not take {sorted(unknown)}; it takes {sorted(accepted)}")
    if lr is not None:
        kwargs["lr"] = lr
    return cls(**kwargs)
