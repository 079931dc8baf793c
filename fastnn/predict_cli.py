"""``fastnn predict``: apply a saved model (``fastnn train -o``, ``fastnn.save``) to a data file.

Writes one CSV row per data row to ``-o`` (or stdout): the prediction (a label, or the
regression outputs) or, with ``--proba``, the class probabilities under a header of the
class names. When the data carries targets (``--target`` names a column, an NPZ's ``y``,
an svmlight file's labels, an embedded set), the score (accuracy or R^2) is reported too.
The file's features must be the model's inputs: when both the model (trained by ``fastnn
train`` on a CSV with a header) and the CSV name their columns, they are matched by name
(another order is put in the model's; a missing or unknown column is an error naming it),
otherwise taken in the order the model was trained on.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import sys
import time
import warnings

import numpy as np

from .datasets import EMBEDDED, load_embedded, load_file
from .mlp import UNNAMED_X


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model file written by `fastnn train -o` or fastnn.save")
    parser.add_argument("--data", required=True, help="a CSV / NPY / NPZ / svmlight (.svm) file, or an embedded "
                                                      f"set ({', '.join(sorted(EMBEDDED))}); CSV lines starting "
                                                      "with '#' are comments")
    parser.add_argument("--target", default=None,
                        help="the CSV / NPY column holding targets (index or header name): dropped from the features "
                             "and scored against (default: every column is a feature)")
    parser.add_argument("--proba", action="store_true", help="write class probabilities, not labels (classifiers)")
    parser.add_argument("-o", "--output", default=None, help="write the predictions to this CSV file (default stdout)")
    parser.add_argument("--backend", choices=("c", "numba", "numpy"), default=None,
                        help="kernel backend (default: the model's, else the best)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the kernels (default: all / OMP_NUM_THREADS)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `| head`: cli.main's quiet handler, not an error about a file
        raise
    except (ValueError, OSError) as exc:  # bad files or settings: one line, no traceback
        print(f"fastnn predict: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import fastnn
    from .cli import threads_option
    from .io import check_output_path, load, replace_atomically

    if args.output:
        check_output_path(args.output, "--output")
        for given, what in ((args.model, "model"), (args.data, "--data")):
            if os.path.isfile(given) and os.path.exists(args.output) and os.path.samefile(args.output, given):
                raise ValueError(f"--output: {args.output} is the {what} file; writing there would overwrite it")
    if args.threads is not None:
        fastnn.set_num_threads(threads_option(args.threads, "predict"))
    if not os.path.isfile(args.model):
        raise ValueError(f"model: no such file: {args.model}")
    model = load(args.model)
    if model.loss_name_ is None:
        raise ValueError(f"{args.model}: the model was saved before it was fitted")
    if args.proba and model.loss_name_ == "mse":
        raise ValueError(f"--proba: {args.model} is a regression model (it predicts values, not classes)")
    X, y, name = _data(args, model)

    with _columns_matched():
        t0 = time.perf_counter()
        out = model.predict_proba(X, backend=args.backend) if args.proba else model.predict(X, backend=args.backend)
        elapsed = time.perf_counter() - t0
    text = _csv(out, model, args.proba)
    if args.output:
        replace_atomically(args.output, lambda f: f.write(text.encode("utf-8")))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    # the report goes to stderr when the predictions take stdout
    report = sys.stdout if args.output else sys.stderr
    rows = X.shape[0]
    print(f"{name}: {rows} rows predicted in {1e3 * elapsed:.1f} ms ({rows / max(elapsed, 1e-9):,.0f} rows/s)"
          + (f", written to {args.output}" if args.output else ""), file=report)
    if y is not None:
        with _columns_matched():
            print(_score_line(model, X, y, args.backend), file=report)
    return 0


@contextlib.contextmanager
def _columns_matched():
    """A block without the model's warning about an X that has no column names: _data has put
    the file's columns in the model's order (by name when the file names them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(UNNAMED_X), category=UserWarning)
        yield


def _data(args: argparse.Namespace, model):
    """(X, y or None, display name) of --data, X in the model's dtype and width."""
    width = model.sizes[0]
    if args.data in EMBEDDED:
        if args.target is not None:
            raise ValueError(f"--target applies to CSV / NPY files; {args.data!r} is an embedded set")
        X, y = load_embedded(args.data, model.dtype)
        name = args.data
    else:
        if not os.path.exists(args.data):
            raise ValueError(f"--data: no such file or embedded data set: {args.data}")
        if os.path.isdir(args.data):
            raise ValueError(f"--data: {args.data} is a directory; give a CSV / NPY / NPZ / svmlight file")
        X, y, names = load_file(args.data, target=args.target, dtype=model.dtype,
                                has_target=args.target is not None, n_features=width, return_names=True)
        name = os.path.basename(args.data)
        X = _by_name(X, names, model.feature_names_in_, name, args.target is None)
    if X.shape[1] != width:
        hint = " (if one column is the target, name it with --target)" if X.shape[1] == width + 1 else ""
        raise ValueError(f"--data: {name} has {X.shape[1]} feature column{'s' * (X.shape[1] != 1)}, the model takes "
                         f"{width}{hint}")
    return X, y, name


def _by_name(X, names, model_names, name, no_target):
    """X's columns in the model's order when the file and the model both name them (a
    ValueError naming the columns that do not match), else X as it is."""
    if names is None or model_names is None or names == model_names:
        return X
    have, want = set(names), set(model_names)  # (sets: a wide CSV's thousands of columns)
    missing = [n for n in model_names if n not in have]
    unknown = [n for n in names if n not in want]
    if missing or unknown:
        def some(cols):
            return ", ".join(map(repr, cols[:5])) + (f" and {len(cols) - 5} more" if len(cols) > 5 else "")
        what = "; ".join(([f"lacks the model's input column(s) {some(missing)}"] if missing else [])
                         + ([f"has column(s) the model was not trained on: {some(unknown)}"] if unknown else []))
        lone = no_target and len(unknown) == 1 and not missing
        hint = " (if it is the target, name it with --target)" if lone else ""
        raise ValueError(f"--data: {name} {what}{hint}")
    if len(have) != len(names) or len(want) != len(model_names):
        raise ValueError(f"--data: {name}'s columns are the model's in another order, but a name repeats, "
                         "so they cannot be matched by name; write them in the model's order")
    print(f"{name}: columns matched to the model's inputs by name (the file has them in another order)",
          file=sys.stderr)
    at = {n: j for j, n in enumerate(names)}
    return X[:, [at[n] for n in model_names]]


def _score_line(model, X, y, backend) -> str:
    what = "R^2" if model.loss_name_ == "mse" else "accuracy"
    try:
        return f"{what}: {model.score(X, y, backend=backend):.4f}"
    except ValueError as exc:  # e.g. placeholder labels of a file to predict on: the predictions still stand
        return f"{what}: not computed ({exc})"


def _csv(out: np.ndarray, model, proba: bool) -> str:
    """The predictions as CSV text: a header row, then one row per data row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if proba:
        classes = model.classes_
        names = [str(c) for c in classes] if classes is not None and len(classes) == out.shape[1] \
            else [f"label{j}" for j in range(out.shape[1])]  # multi-label: one column per output unit
        writer.writerow(names)
        writer.writerows(_text(out))
    elif out.ndim == 1:
        writer.writerow(["prediction"])
        writer.writerows([v] for v in _text(out))
    else:  # multi-output regression or multi-label
        writer.writerow([f"output{j}" for j in range(out.shape[1])])
        writer.writerows(_text(out))
    return buf.getvalue()


def _text(a: np.ndarray) -> list:
    """`a` as nested lists of text: floats as the shortest text that reads back as the same value
    in their own dtype (float32's 0.3 as "0.3", not float64's "0.30000001192092896")."""
    return a.astype(str).tolist() if a.dtype.kind == "f" else a.tolist()
