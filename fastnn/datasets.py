"""Embedded data sets and file loaders for ``fastnn train`` and the benchmarks.

The embedded sets come with scikit-learn (``sklearn.datasets.load_*`` read files
shipped in the wheel): nothing is downloaded.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

__all__ = ["EMBEDDED", "load_embedded", "load_file", "train_test"]


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y  # pixel intensities 0..16 -> [0, 1]


def _iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X / X.std(0), (y - y.mean()) / y.std()


#: name -> (loader, task) ; features are scaled, targets are labels or standardised values
EMBEDDED: Dict[str, Tuple[Callable[[], Tuple[np.ndarray, np.ndarray]], str]] = {
    "digits": (_digits, "classification"),
    "iris": (_iris, "classification"),
    "wine": (_wine, "classification"),
    "breast_cancer": (_breast_cancer, "classification"),
    "diabetes": (_diabetes, "regression"),
}


def load_embedded(name: str, dtype=np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """(X, y) of an embedded data set, X scaled and C-contiguous in `dtype`."""
    if name not in EMBEDDED:
        raise ValueError(f"unknown data set {name!r}; embedded: {sorted(EMBEDDED)}")
    X, y = EMBEDDED[name][0]()
    return np.ascontiguousarray(X, dtype=dtype), y


def load_file(path: Union[str, "os.PathLike[str]"], target: Union[int, str, None] = -1, dtype=np.float32,
              delimiter: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(X, y) from a CSV, NPY or NPZ file.

    * CSV: numeric columns; an optional header row names them (then ``target``
      may be a column name). ``target``: column index (default the last) or name.
    * NPY: a 2-D array; ``target`` is a column index.
    * NPZ: arrays ``X`` and ``y`` (``target`` ignored), or one 2-D array split as NPY.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "X" in z.files and "y" in z.files:
                return np.ascontiguousarray(z["X"], dtype=dtype), z["y"]
            if len(z.files) != 1:
                raise ValueError(f"{path}: an .npz needs arrays 'X' and 'y' (or a single 2-D array), has {z.files}")
            data = z[z.files[0]]
        header = None
    elif ext == ".npy":
        data = np.load(path, allow_pickle=False)
        header = None
    else:
        data, header = _read_csv(path, delimiter)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"{path}: expected a 2-D table with at least 2 columns, got shape {data.shape}")
    col = _target_column(target, header, data.shape[1], path)
    y = data[:, col]
    X = np.delete(data, col, axis=1)
    if np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    return np.ascontiguousarray(X, dtype=dtype), y


def _read_csv(path, delimiter):
    with open(path) as f:
        first = f.readline()
    if delimiter is None:
        delimiter = ";" if first.count(";") > first.count(",") else ("," if "," in first else None)
    cells = [c.strip() for c in (first.split(delimiter) if delimiter else first.split())]
    try:
        [float(c) for c in cells]
        header = None
    except ValueError:
        header = cells
    data = np.loadtxt(path, delimiter=delimiter, skiprows=1 if header else 0, dtype=np.float64, ndmin=2)
    return data, header


def _target_column(target, header, ncols, path) -> int:
    if target is None:
        target = -1
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if header is None or target not in header:
            raise ValueError(f"{path}: no column named {target!r} (header: {header})")
        return header.index(target)
    col = int(target)
    if not -ncols <= col < ncols:
        raise ValueError(f"{path}: target column {col} out of range for {ncols} columns")
    return col % ncols


def train_test(X: np.ndarray, y: np.ndarray, test_size: float = 0.25, seed: int = 0, stratify: bool = True):
    """scikit-learn's train_test_split (stratified for labels): X_train, X_test, y_train, y_test."""
    from sklearn.model_selection import train_test_split

    strat = y if stratify and np.asarray(y).dtype.kind in "iub" else None
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=strat)
