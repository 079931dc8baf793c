"""Embedded data sets and file loaders for ``fastnn train`` and the benchmarks.

The embedded sets come with scikit-learn (``sklearn.datasets.load_*`` read files
shipped in the wheel): nothing is downloaded.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
import zipfile
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

__all__ = ["EMBEDDED", "is_regression", "load_embedded", "load_file", "train_test"]


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


def is_regression(data: str, y: np.ndarray) -> bool:
    """Is `y`, the target of `data` (an embedded set's name or a file's path), a quantity to
    regress on rather than class labels? An embedded set's task; else a float target, as
    load_file returns integral numbers as int64 labels and others as float64."""
    if data in EMBEDDED:
        return EMBEDDED[data][1] == "regression"
    return np.asarray(y).dtype.kind == "f"


def load_file(path: Union[str, "os.PathLike[str]"], target: Union[int, str, None] = None, dtype=np.float32,
              delimiter: Optional[str] = None, *, has_target: bool = True, n_features: Optional[int] = None,
              return_names: bool = False) -> tuple:
    """(X, y) from a CSV, NPY, NPZ or svmlight file.

    * CSV (comma, semicolon, tab or space separated): numeric feature columns,
      decimals with a point; an optional header row names them (then
      ``target`` may be a column name): a first row with text (not numbers or
      missing values) is one, unless that text recurs below it, as class names
      do; so is ``0,1,...,n-1`` (pandas' names for an unnamed array's columns).
      The target column may hold numbers or class names (text labels).
      ``target``: column index or name (None: the last column). A cell that is
      not a finite number (a missing value: empty, NA or nan; inf; text in a
      feature column) is a ValueError naming its line and column. Lines starting with
      ``#`` are comments, skipped anywhere (above the header too); a ``#`` later in a
      line is part of its cell.
    * NPY: a 2-D array; ``target`` is a column index.
    * NPZ: arrays ``X`` and ``y`` (then ``target`` must be None; y as stored), or one 2-D array
      split as NPY. NPY / NPZ arrays must hold real numbers (bool, int, float; an NPZ's ``y`` may
      hold text labels): text or complex numbers are a ValueError naming the file.
    * svmlight / LIBSVM (``.svm``, ``.svmlight``, ``.libsvm``: ``label index:value ...``
      per line, the format of most text-classification sets): X comes back as a
      scipy.sparse CSR matrix, which ``fastnn.MLP`` trains on sparse; the label is the target.

    Integral numeric targets of a CSV / NPY / svmlight file come back as int64 (class labels), others
    as float64.

    ``has_target=False``: every column of a CSV / NPY (or of an NPZ's single array) is a
    feature and y is None (data to predict on); an NPZ's ``y`` and an svmlight file's
    labels are still returned. ``n_features``: an svmlight file's width (its largest
    feature index may be smaller; a larger one is an error).

    ``return_names=True``: returns ``(X, y, names)``, names the feature columns' header
    names in X's order (a list of str: a CSV with a header), else None.
    """
    X, y, names = _load_file(path, target, dtype, delimiter, has_target, n_features)
    return (X, y, names) if return_names else (X, y)


def _load_file(path, target, dtype, delimiter, has_target, n_features):
    """load_file's (X, y, feature names or None)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if not has_target and target is not None:
        raise ValueError(f"target={target!r} names a target column, but has_target is False")
    if ext in SVMLIGHT_EXTENSIONS:
        if target is not None:  # it would be ignored: each line's label is the target
            raise ValueError(f"{path}: an svmlight file's target is each line's label, so a target column "
                             f"({target!r}) does not apply")
        return (*_load_svmlight(path, dtype, n_features), None)
    if ext == ".npz":
        with _np_load(path, ext) as z:
            if "X" in z.files and "y" in z.files:
                if target is not None:  # it would be ignored: y is the target
                    raise ValueError(f"{path}: holds arrays 'X' and 'y' (y is the target), so a target column "
                                     f"({target!r}) does not apply")
                X, y = _real(z["X"], path, "array 'X'"), _real(z["y"], path, "array 'y'", labels=True)
                return _features(X, dtype, path), y, None
            if len(z.files) != 1:
                raise ValueError(f"{path}: an .npz needs arrays 'X' and 'y' (or a single 2-D array), has {z.files}")
            data = _real(z[z.files[0]], path, f"array {z.files[0]!r}")
        header = None
    elif ext == ".npy":
        data = _real(_np_load(path, ext), path, "the array")
        header = None
    else:
        try:
            return _load_csv(path, target, dtype, delimiter, has_target)
        except UnicodeDecodeError as exc:  # a Latin-1 export, a .gz: name the file, not just the codec
            raise ValueError(f"{path}: not UTF-8 text (it holds byte {exc.object[exc.start]:#04x}); "
                             "save it as a UTF-8 CSV") from None
    if not has_target and data.ndim == 2 and data.shape[1] >= 1:
        return _features(data, dtype, path), None, None
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"{path}: expected a 2-D table with at least 2 columns, got shape {data.shape}")
    col = _target_column(target, header, data.shape[1], path)
    X = np.delete(data, col, axis=1)
    return _features(X, dtype, path), _labels_if_integral(data[:, col]), None


#: file name endings read as svmlight / LIBSVM text (label index:value ...)
SVMLIGHT_EXTENSIONS = (".svm", ".svmlight", ".libsvm")


def _load_svmlight(path, dtype, n_features=None):
    """(X as CSR in `dtype`, labels) of an svmlight / LIBSVM file, its errors naming the file."""
    from sklearn.datasets import load_svmlight_file

    try:  # (cast below, where overflow is reported)
        X, y = load_svmlight_file(path, n_features=n_features, dtype=np.float64)
    except ValueError as exc:  # scikit-learn's "could not convert string to float: b'x'" names no file
        raise ValueError(f"{path}: not a valid svmlight / LIBSVM file ({exc})") from None
    if X.shape[0] == 0:
        raise ValueError(f"{path}: holds no data lines")
    bad = np.flatnonzero(~np.isfinite(X.data))
    if bad.size:  # placed, as a CSV cell's would be
        row = int(np.searchsorted(X.indptr, bad[0], side="right")) - 1
        raise ValueError(f"{path}: data row {row + 1} holds {X.data[bad[0]]} (missing or infinite values are "
                         "not supported)")
    with np.errstate(over="ignore"):
        data = X.data.astype(dtype)
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: values beyond {np.dtype(dtype).name}'s range ({np.finfo(dtype).max:.3g}); "
                         "scale the features or use float64")
    X.data = data
    return X, _labels_if_integral(y)


# np.load picks the format by content, not by name: a text file named .npy read as a pickle, and the
# error was numpy's allow_pickle advice, of no use on the command line and naming no file
_MAGIC = {".npy": ((b"\x93NUMPY",), "np.save"), ".npz": ((b"PK\x03\x04", b"PK\x05\x06"), "np.savez")}


def _np_load(path, ext):
    magics, writer = _MAGIC[ext]
    with open(path, "rb") as f:
        if not f.read(6).startswith(magics):
            raise ValueError(f"{path}: not an {ext} file (expected NumPy's {writer} format)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated, or an object array
        raise ValueError(f"{path}: unreadable {ext} file: {exc}") from None


def _features(X: np.ndarray, dtype, path) -> np.ndarray:
    """X in `dtype`; a ValueError if finite values do not fit it (1e300 in float32 became inf, and the
    fit then said "X contains NaN or infinity" of a file that has none)."""
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(X, dtype=dtype)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        big = np.isfinite(X) & ~np.isfinite(out)
        if big.any():
            r, c = np.argwhere(big)[0]
            raise ValueError(f"{path}: {X[r, c]:g} (data row {r + 1}, feature {c + 1}) is beyond {out.dtype.name}'s "
                             f"range ({np.finfo(out.dtype).max:.3g}); scale the features or use float64")
        if out.ndim == 2:  # NaN / inf stored in an .npy / .npz: placed, as a CSV cell's would be
            r, c = np.argwhere(~np.isfinite(out))[0]
            raise ValueError(f"{path}: data row {r + 1}, feature {c + 1} is {out[r, c]} "
                             "(missing or infinite values are not supported)")
    return out


def _labels_if_integral(y: np.ndarray) -> np.ndarray:
    """Integral numbers as int64 (class labels); other numbers and text labels as they are."""
    return y.astype(np.int64) if y.dtype.kind in "biuf" and np.all(np.mod(y, 1) == 0) else y


#: what an array of each non-real dtype kind holds, for the error that refuses it
_KINDS = {"U": "text", "S": "bytes", "c": "complex numbers", "O": "Python objects", "M": "dates", "m": "time spans",
          "V": "records"}


def _real(a: np.ndarray, path, what: str, labels: bool = False) -> np.ndarray:
    """`a` if it holds real numbers (bool, int, float; `labels`: or text class names), else a
    ValueError naming the file: text failed later with NumPy's "could not convert string to
    float", naming no file, and complex numbers silently lost their imaginary parts."""
    if a.dtype.kind in "biuf" or (labels and a.dtype.kind in "US"):
        return a
    expected = "real numbers or text labels" if labels else "real numbers"
    raise ValueError(f"{path}: {what} holds {_KINDS.get(a.dtype.kind, 'values')} ({a.dtype}); expected {expected}")


# "utf-8-sig" reads UTF-8 and drops a byte-order mark (Excel's "CSV UTF-8" starts with one), which
# would otherwise glue itself to the first cell: a numeric first row then looked like a header and was
# silently dropped, and the first header name could not be given to --target.
_ENCODING = "utf-8-sig"


def _is_row(line: str) -> bool:
    """Is this CSV line a row (the header or data), not blank or a comment? A comment has '#'
    first (exports and np.savetxt's header= write them), anywhere in the file; a row whose first
    cell is a spreadsheet's missing value (#N/A, #NA) is data."""
    text = line.strip()
    return bool(text) and (not text.startswith("#") or text.startswith(("#N/A", "#NA")))


def _rows(f):
    """The lines of a CSV file that are rows."""
    return (line for line in f if _is_row(line))


def _load_csv(path, target, dtype, delimiter, has_target=True):
    with open(path, encoding=_ENCODING) as f:
        rows = _rows(f)
        first, second = next(rows, ""), next(rows, "")
    if delimiter is None:
        # a tab is a TSV's delimiter: split on whitespace, its names and labels with spaces
        # ("sepal length", "Iris setosa") became extra columns
        delimiter = ";" if first.count(";") > first.count(",") else (
            "," if "," in first else "\t" if "\t" in first else None)

    def cells(line):
        # by the csv module's quoting rules, as the rows are read: a quoted header ("x1","y", as
        # pandas with QUOTE_ALL or spreadsheets write it) names its columns x1 and y, not '"x1"' and '"y"'
        return [c.strip() for c in next(_reader([line], delimiter), [])]

    # a first row with a word (not a number, not a missing value) is a header; settled when a word
    # stands above a number, else (words above text labels) when the rows are read
    head, below = cells(first), cells(second)
    words = _words(head)
    header = head if words else None
    settled = not below or any(j < len(below) and _is_number(below[j]) for j in words)
    if len(head) >= 3 and head == [str(j) for j in range(len(head))]:
        # 0,1,...,n-1: the header pandas writes for an unnamed array (DataFrame(a).to_csv(index=False)),
        # which was read as a data row, an extra sample whose target was the column count (two
        # columns "0,1" are as likely a data row)
        header, settled = head, True
    try:  # the fast path: an all-numeric table
        with warnings.catch_warnings():  # an empty table is reported below, as the error it is
            warnings.filterwarnings("ignore", "loadtxt: input contained no data")
            # comments=None: _rows drops comment lines; loadtxt's own '#' handling cut lines short at a
            # '#' anywhere (a "#N/A" cell), and counted comment lines in skiprows
            with open(path, encoding=_ENCODING) as f:
                data = np.loadtxt(_rows(f), delimiter=delimiter, skiprows=1 if header else 0,
                                  dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return _load_csv_rows(path, target, dtype, delimiter, header, settled, has_target)
    if not np.isfinite(data).all():  # loadtxt reads 'nan' / 'inf' cells as numbers; the row path names them
        return _load_csv_rows(path, target, dtype, delimiter, header, settled, has_target)
    if data.shape[0] == 0:  # header only, or an empty file: not "at least 2 columns, got shape (0, 1)"
        raise ValueError(f"{path}: no data rows")
    if not has_target:
        return _features(data, dtype, path), None, _feature_names(header, None)
    if data.shape[1] < 2:
        raise ValueError(f"{path}: expected a table with at least 2 columns, got shape {data.shape}")
    col = _target_column(target, header, data.shape[1], path)
    X = np.delete(data, col, axis=1)
    return _features(X, dtype, path), _labels_if_integral(data[:, col]), _feature_names(header, col)


def _feature_names(header, col):
    """The header's names of the feature columns (all but the target column col), or None."""
    return None if header is None else [h for j, h in enumerate(header) if j != col]


def _reader(lines, delimiter):
    """csv.reader over `lines`; delimiter None: runs of spaces or tabs, with the csv module's
    quoting too (str.split kept the quotes of a tab-separated "x1"\t"label" header)."""
    if delimiter:
        return csv.reader(lines, delimiter=delimiter)
    return csv.reader((line.strip().replace("\t", " ") for line in lines), delimiter=" ", skipinitialspace=True)


def _words(cells):
    """Indices of the cells that are text: neither numbers nor missing values."""
    return [j for j, c in enumerate(cells) if c and c not in _MISSING and not _is_number(c)]


def _load_csv_rows(path, target, dtype, delimiter, header, settled=True, has_target=True):
    """The CSV cell by cell: text labels in the target column, precise errors elsewhere."""
    with open(path, newline="", encoding=_ENCODING) as f:
        numbered = [(i, line) for i, line in enumerate(f, start=1) if _is_row(line)]
    # (one row per line: each keeps its line number for the errors)
    lines = [(i, [c.strip() for c in row]) for (i, _), row in zip(numbered, _reader([t for _, t in numbered],
                                                                                   delimiter))]
    if header and not settled and any(j < len(row) and row[j] == header[j]
                                       for _, row in lines[1:] for j in _words(header)):
        # its words recur below, as class names do: the first row of a headerless file with text
        # labels (e.g. UCI's iris.data), which was silently dropped as a header
        header = None
    lines = [(i, row) for i, row in lines[1 if header else 0:] if any(row)]  # skip blank lines
    if not lines:
        raise ValueError(f"{path}: no data rows")
    ncols = len(header) if header else len(lines[0][1])
    if ncols < 2 and has_target:
        raise ValueError(f"{path}: expected a table with at least 2 columns, got {ncols}")
    col = _target_column(target, header, ncols, path) if has_target else None
    target_name = None if col is None else repr(header[col]) if header else str(col)
    X = np.empty((len(lines), ncols - (col is not None)), dtype=np.float64)
    y = []
    for r, (line, row) in enumerate(lines):
        if len(row) != ncols:
            raise ValueError(f"{path}: line {line} has {len(row)} columns, expected {ncols}")
        if col is not None:
            y.append(row[col])
        for j, cell in enumerate(row if col is None else row[:col] + row[col + 1:]):
            try:
                X[r, j] = v = float(cell)
                # a 'nan' cell is a missing value (as np.savetxt writes one); an 'inf' one fails the fit unplaced
                what = None if math.isfinite(v) else _not_finite(v)
            except ValueError:
                what = _not_a_number(cell, target_name)
            if what:
                jj = j if col is None or j < col else j + 1
                name = repr(header[jj]) if header else str(jj)
                raise ValueError(f"{path}: line {line}, column {name}: {cell!r} {what}")
    names = _feature_names(header, col)
    if col is None:
        return _features(X, dtype, path), None, names
    try:
        y_arr = _labels_if_integral(np.array([float(v) for v in y]))
    except ValueError:
        if any(not v for v in y):
            line = lines[[not v for v in y].index(True)][0]
            raise ValueError(f"{path}: line {line}: the target is empty (missing values are not supported)") from None
        # numbers with a few 'NA's are a numeric target with missing values, not class names: "0", "1"
        # and "NA" would silently become three text classes
        missing = [r for r, v in enumerate(y) if v in _MISSING]
        if missing and all(_is_number(v) for v in y if v not in _MISSING):
            r = missing[0]
            raise ValueError(f"{path}: line {lines[r][0]}: the target {y[r]!r} is a missing value in a numeric "
                             "column (missing values are not supported)") from None
        y_arr = np.array(y)  # class names
    else:
        if not np.isfinite(y_arr).all():  # a numeric target: 'nan' / 'inf' as in the feature columns
            r = int(np.argmin(np.isfinite(y_arr)))
            raise ValueError(f"{path}: line {lines[r][0]}: the target {y[r]!r} {_not_finite(y_arr[r])}")
    return _features(X, dtype, path), y_arr, names


# the text pandas.read_csv reads as missing (its default na_values), less the empty cell handled apart
_MISSING = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
                      "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _not_a_number(cell: str, target: Optional[str]) -> str:
    """What is wrong with a feature cell that float() refused; `target` names the target column
    (None: the file has none)."""
    if not cell:
        return "is empty (missing values are not supported)"
    if cell in _MISSING:
        return "is a missing value (missing values are not supported)"
    if _is_number(cell.replace(",", ".", 1)):
        return "is not a number (decimals are read with a point, not a comma)"
    if target is None:  # e.g. the class names of a file read as features only
        return "is not a number (this file is read without a target column, so every column is a feature)"
    # e.g. class names in the first column while the target is the last one: say which that is
    return f"is not a number (only the target column, {target}, may hold text)"


def _not_finite(v: float) -> str:
    return "is NaN (missing values are not supported)" if v != v else "is not a finite number"


def _target_column(target, header, ncols, path) -> int:
    if target is None:
        target = -1
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if header is None or target not in header:
            raise ValueError(f"{path}: no column named {target!r} (header: {header})")
        cols = [j for j, name in enumerate(header) if name == target]
        if len(cols) > 1:  # header.index would pick the first without a word
            raise ValueError(f"{path}: {len(cols)} columns are named {target!r} (indices {cols}); "
                             "give the target column's index instead")
        return cols[0]
    col = int(target)
    if not -ncols <= col < ncols:
        raise ValueError(f"{path}: target column {col} out of range for {ncols} columns")
    return col % ncols


def train_test(X: np.ndarray, y: np.ndarray, test_size: float = 0.25, seed: int = 0, stratify: bool = True):
    """scikit-learn's train_test_split (stratified for labels): X_train, X_test, y_train, y_test."""
    from sklearn.model_selection import train_test_split

    # class names (a CSV's text labels: kinds U, S, O) are labels too; float targets are not stratified
    strat = y if stratify and np.asarray(y).dtype.kind in "iubUSO" else None
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=strat)
