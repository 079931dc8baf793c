"""scikit-learn compatible estimators on fastnn's kernels.

``MLPClassifier`` / ``MLPRegressor`` are drop-in replacements for
``sklearn.neural_network``'s (same parameters, attributes and, in float64, the
same fitted weights); the linear models mirror ``sklearn.linear_model``.
"""
from .linear import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge, SoftmaxRegression
from .mlp import MLPClassifier, MLPRegressor

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "LogisticRegression",
    "SoftmaxRegression",
]
