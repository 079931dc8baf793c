"""Losses on the linear output layer, and the penalties.

Each loss applies its link itself (softmax / sigmoid / identity), as the
kernels and the native epoch do:

* ``softmax_xent``: labels int32 [n]; mean cross-entropy of softmax(logits).
* ``sigmoid_bce``: targets [n, outputs] in [0, 1]; sum of BCE / n (scikit-learn's log loss).
* ``mse``: targets [n, k outputs]; ``sum((out - target)^2) / (2 n)``, summed over the k
  outputs and averaged over the n rows; gradient ``(out - target) / n``. That gradient is
  scikit-learn's (so MLP trains to its weights), but scikit-learn *reports* its squared loss
  (``loss_``, ``loss_curve_``) as the mean over outputs too, ``sum / (2 n k)``: for k > 1
  fastnn's loss value (``history_["loss"]``) is k times scikit-learn's data term (the same
  for k = 1). ``fastnn.estimators.MLPRegressor`` converts its reported loss to
  scikit-learn's (the native epoch's ``loss_div=k``); this class is not used there.

L2 follows scikit-learn: ``loss += 0.5 * alpha * sum(W^2) / rows`` and
``dW += alpha * W / rows`` (biases never penalised). L1 and decoupled weight
decay are applied by the optimizer kernels (proximal L1 gives exact zeros).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .. import kernels

__all__ = ["Loss", "SoftmaxCrossEntropy", "SigmoidBCE", "MSE", "LOSSES", "get_loss", "l2_penalty", "l1_penalty"]


class Loss:
    """A loss on raw network outputs. ``__call__`` returns ``(loss, grad)``."""

    name = ""

    def __call__(self, out: np.ndarray, target: np.ndarray, *, grad: Optional[np.ndarray] = None,
                 need_grad: bool = True, backend: Optional[str] = None) -> Tuple[float, Optional[np.ndarray]]:
        raise NotImplementedError  # pragma: no cover

    def link(self, out: np.ndarray) -> np.ndarray:
        """Outputs -> predictions on the target's scale (probabilities for classifiers)."""
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    name = "softmax_xent"

    def __call__(self, out, target, *, grad=None, need_grad=True, backend=None):
        return kernels.softmax_xent(out, target, out=grad, grad=need_grad, backend=backend)

    def link(self, out):
        return kernels.activation_forward(out, "softmax")


class SigmoidBCE(Loss):
    name = "sigmoid_bce"

    def __call__(self, out, target, *, grad=None, need_grad=True, backend=None):
        return kernels.sigmoid_bce(out, target, out=grad, grad=need_grad, backend=backend)

    def link(self, out):
        return kernels.activation_forward(out, "sigmoid")


class MSE(Loss):
    name = "mse"

    def __call__(self, out, target, *, grad=None, need_grad=True, backend=None):
        return kernels.mse(out, target, out=grad, grad=need_grad, backend=backend)


LOSSES = {"softmax_xent": SoftmaxCrossEntropy, "sigmoid_bce": SigmoidBCE, "mse": MSE}


def get_loss(loss) -> Loss:
    """A Loss from its name or an instance."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss, got {loss!r}")
    return LOSSES[loss]()


def l2_penalty(weights: np.ndarray, alpha: float, rows: int, backend: Optional[str] = None) -> float:
    """scikit-learn's L2 term for one batch: ``0.5 * alpha * sum(W^2) / rows``."""
    if alpha == 0.0:
        return 0.0
    return alpha * kernels.l2_penalty(weights, backend=backend) / rows


def l1_penalty(weights: np.ndarray, l1: float, backend: Optional[str] = None) -> float:
    """``l1 * sum |W|`` (the objective of the proximal L1 step)."""
    if l1 == 0.0:
        return 0.0
    return l1 * kernels.l1_penalty(weights, backend=backend)
