"""Early stopping's validation scores without scikit-learn's target checks.

A fit with ``early_stopping=True`` scores the held-out rows after every epoch, as
scikit-learn's MLPs do, with ``accuracy_score`` or ``r2_score``. Their target checks
(``type_of_target`` twice, ``check_array``, the label union) cost ~0.25 ms a call,
a third of a float32 digits epoch at batch 32, and can only pass here: the targets are the
fit's own validated ones and the predictions its own. These functions are the metrics'
own NumPy expressions on the same shapes and dtypes, so they return the same bits
(tests/test_estimators_mlp.py compares them with the metrics).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def accuracy(y: np.ndarray, y_pred: np.ndarray, sample_weight: Optional[np.ndarray]) -> float:
    """``accuracy_score(y, y_pred, sample_weight=sample_weight)`` for 1-D labels."""
    return float(np.average(y == y_pred, weights=sample_weight))


def r2_uniform(y: np.ndarray, y_pred: np.ndarray, sample_weight: Optional[np.ndarray]) -> float:
    """``r2_score(y, y_pred, sample_weight=sample_weight)`` (outputs averaged uniformly,
    force_finite) for numeric targets of at least two rows."""
    # scikit-learn computes in the widest floating dtype among the three (float64 if none is)
    floats = [a.dtype for a in (y, y_pred, sample_weight) if a is not None and a.dtype.kind == "f"]
    dtype = np.result_type(*floats) if floats else np.dtype(np.float64)
    y = y.astype(dtype, copy=False).reshape(len(y), -1)
    y_pred = y_pred.astype(dtype, copy=False).reshape(len(y_pred), -1)
    if sample_weight is None:
        weight = 1.0
    else:
        sample_weight = sample_weight.astype(dtype, copy=False)
        weight = sample_weight[:, None]
    numerator = np.sum(weight * (y - y_pred) ** 2, axis=0)
    denominator = np.sum(weight * (y - np.average(y, axis=0, weights=sample_weight)) ** 2, axis=0)
    # a constant target scores 1 when predicted exactly, else 0 (force_finite)
    scores = np.ones(y.shape[1], dtype=numerator.dtype)
    valid = (denominator != 0) & (numerator != 0)
    scores[valid] = 1 - (numerator[valid] / denominator[valid])
    scores[(numerator != 0) & (denominator == 0)] = 0.0
    return float(np.average(scores))
