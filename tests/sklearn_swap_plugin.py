"""pytest plugin: scikit-learn's own test modules, run on fastnn's estimators.

    FASTNN_SKLEARN_SWAP="sklearn.neural_network:MLPClassifier,MLPRegressor" \
        python -m pytest -p sklearn_swap_plugin --pyargs sklearn.neural_network.tests.test_mlp

replaces each listed name in its scikit-learn package by fastnn.estimators' class of the
same name before any test module is imported, so ``from sklearn.neural_network import
MLPClassifier`` in scikit-learn's tests gets fastnn's: the one-line change a user makes.
tests/test_sklearn_suites.py runs it; this file must be importable (its directory on
PYTHONPATH) and is not a test module itself.
"""
from __future__ import annotations

import importlib
import os

import pytest

import fastnn.estimators as fe

ENV = "FASTNN_SKLEARN_SWAP"


def swaps():
    """(package, [names]) pairs from the environment variable: 'pkg:A,B;pkg2:C'."""
    for part in filter(None, os.environ.get(ENV, "").split(";")):
        package, _, names = part.partition(":")
        yield package, [n for n in names.split(",") if n]


def pytest_configure(config):
    for package, names in swaps():
        module = importlib.import_module(package)
        for name in names:
            setattr(module, name, getattr(fe, name))


def pytest_collection_modifyitems(session, config, items):
    # A test module that imported a swapped name some other way (from a private
    # submodule, or before the swap) would test scikit-learn's class: refuse to run.
    for module in {item.module for item in items if getattr(item, "module", None) is not None}:
        for _, names in swaps():
            for name in names:
                if hasattr(module, name) and getattr(module, name) is not getattr(fe, name):
                    raise pytest.UsageError(f"{module.__name__}.{name} is scikit-learn's class, not fastnn's")
