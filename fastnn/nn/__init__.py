"""Networks whose parameters live in one flat buffer: layers, losses, optimizers,
schedules and initialisation (the high-level ``fastnn.MLP`` builds on these and on
``fastnn.train``)."""
from __future__ import annotations

from .flat import FlatLayout
from .init import init_params
from .layers import (ELU, GELU, Activation, Dense, Dropout, Identity, Layer, LeakyReLU, ReLU, Sigmoid, Softmax,
                     Softplus, Tanh)
from .losses import MSE, Loss, SigmoidBCE, SoftmaxCrossEntropy, get_loss
from .network import Sequential, build_mlp
from .optimizers import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RMSprop, get_optimizer
from .schedules import Constant, Cosine, InverseScaling, ReduceOnPlateau, Schedule, StepDecay, get_schedule

__all__ = [
    "FlatLayout", "init_params",
    "Layer", "Dense", "Activation", "Dropout", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softplus",
    "GELU", "ELU", "Softmax",
    "Loss", "SoftmaxCrossEntropy", "SigmoidBCE", "MSE", "get_loss",
    "Sequential", "build_mlp",
    "Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW", "get_optimizer",
    "Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine", "ReduceOnPlateau", "get_schedule",
]
