"""``fastnn train``: train an MLP and report accuracy and speed.

With no arguments: scikit-learn's digits (embedded), 75/25 stratified split,
MLP 64-128-64-10, ReLU, Adam lr 1e-3, batch 32, 20 epochs, float32, with a
progress bar; prints the test accuracy, the time per epoch and samples/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from .datasets import EMBEDDED, is_regression, load_embedded, load_file, train_test
from .kernels import is_sparse
from .mlp import HIDDEN_ACTIVATIONS
from .train import TrainingDivergedError


def _int_list(text: str):
    tokens = text.replace("-", ",").split(",")
    if not all(t.strip() for t in tokens):  # "-5" would read as 5, "64,,10" as 64,10: say so instead
        raise argparse.ArgumentTypeError(f"expected positive ints separated by ',' or '-', got {text!r}")
    try:
        vals = [int(t) for t in tokens]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return vals


def _number(kind, low, high=None, low_open=False):
    """An argparse type: a finite `kind` (int or float) >= low (> low if low_open), < high if given."""
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") from None
        if v != v or abs(v) == float("inf") or (v <= low if low_open else v < low) or (high is not None and v >= high):
            show = str if kind is int else (lambda b: format(b, "g"))  # an int bound in full, not 4.29497e+09
            span = f"{'(' if low_open else '['}{show(low)}, {'inf' if high is None else show(high)})"
            raise argparse.ArgumentTypeError(f"expected a value in {span}, got {text}")
        return v
    return parse


def configure_parser(parser: argparse.ArgumentParser) -> None:
    d = parser.add_argument_group("data")
    d.add_argument("--data", default="digits",
                   help=f"an embedded set ({', '.join(sorted(EMBEDDED))}) or a CSV / NPY / NPZ / svmlight "
                        "(.svm: trained sparse) file (default digits); CSV lines starting with '#' are comments")
    d.add_argument("--target", default=None, help="target column of a CSV/NPY file: index or header name (default last)")
    d.add_argument("--test-size", type=_number(float, 0, 1, low_open=True), default=0.25, help="held-out test share (default 0.25)")
    d.add_argument("--regression", action="store_true", help="treat the target as continuous (loss mse)")
    m = parser.add_argument_group("model")
    m.add_argument("--sizes", type=_int_list, default=None,
                   help="all layer sizes, e.g. 64,128,64,10 (default: inputs,128,64,classes)")
    hidden = [128, 64]
    m.add_argument("--hidden", type=_int_list, default=hidden,
                   help=f"hidden sizes when --sizes is not given (default {','.join(map(str, hidden))})")
    m.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS, metavar="NAME",
                   help=f"hidden activation: {', '.join(HIDDEN_ACTIVATIONS)} (default %(default)s)")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default %(default)s)")
    t = parser.add_argument_group("training")
    t.add_argument("--optimizer", default="adam",
                   choices=("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"),
                   help="(default %(default)s)")
    t.add_argument("--lr", type=_number(float, 0, low_open=True), default=1e-3,
                   help="learning rate (default %(default)g)")
    t.add_argument("--epochs", type=_number(int, 1), default=20, help="(default %(default)s)")
    t.add_argument("--batch-size", type=_number(int, 1), default=32, help="(default %(default)s)")
    t.add_argument("--l2", type=_number(float, 0), default=0.0,
                   help="L2 penalty (scikit-learn's alpha; default %(default)g)")
    t.add_argument("--weight-decay", type=_number(float, 0), default=None, help="decoupled weight decay (default: adamw 0.01, else 0)")
    t.add_argument("--dropout", type=_number(float, 0, 1), default=0.0,
                   help="inverted dropout on every hidden layer, in [0, 1) (default %(default)g)")
    t.add_argument("--early-stopping", action="store_true")
    t.add_argument("--seed", type=_number(int, 0, 2**32), default=0,
                   help="split, initialisation and shuffling seed, in [0, 2**32) "
                        "(scikit-learn's random_state; default %(default)s)")
    r = parser.add_argument_group("runtime")
    r.add_argument("--backend", choices=("c", "numba", "numpy"), default=None, help="kernel backend (default: best)")
    r.add_argument("--threads", type=_number(int, 1), default=None, help="threads for the kernels (default: all / OMP_NUM_THREADS)")
    r.add_argument("--no-fused", action="store_true", help="use the Python-composed loop, not the native epoch")
    r.add_argument("--no-warmup", action="store_true",
                   help="time the very first fit too (by default a tiny fit first loads libraries and JIT code)")
    r.add_argument("-o", "--output", default=None, help="save the trained model to this path")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `| head`: cli.main's quiet handler, not an error about a file
        raise
    except (ValueError, OSError) as exc:  # bad data or settings, unreadable files: one line, no traceback
        print(f"fastnn train: {exc}", file=sys.stderr)
        return 2
    except TrainingDivergedError as exc:  # an outcome of the settings (e.g. --lr 10), not a crash: one line
        unsaved = f"; {args.output} was not written" if args.output else ""
        print(f"fastnn train: {exc} (--lr {args.lr:g}{unsaved})", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import fastnn
    from .cli import threads_option
    from .io import check_output_path
    from .mlp import MLP

    if args.output:
        check_output_path(args.output, "--output")
        # the model would replace the training data (a slip of the shell history), lost without a word
        if (args.data not in EMBEDDED and os.path.isfile(args.data) and os.path.exists(args.output)
                and os.path.samefile(args.output, args.data)):
            raise ValueError(f"--output: {args.output} is the --data file; saving the model there would overwrite it")

    if args.threads is not None:
        fastnn.set_num_threads(threads_option(args.threads, "train"))
        import threadpoolctl  # the NumPy backend's BLAS follows the same knob

        threadpoolctl.threadpool_limits(args.threads)
    dtype = np.dtype(args.dtype)
    names = None  # the feature columns' names: a CSV header's, saved with the model for `fastnn predict`
    if args.data in EMBEDDED:
        if args.target is not None:
            raise ValueError(f"--target applies to CSV / NPY files; {args.data!r} is an embedded set")
        X, y = load_embedded(args.data, dtype)
        name = args.data
    else:
        if not os.path.exists(args.data):
            print(f"fastnn train: no such file or embedded data set: {args.data}", file=sys.stderr)
            return 2
        if os.path.isdir(args.data):
            raise ValueError(f"--data: {args.data} is a directory; give a CSV / NPY / NPZ / svmlight file")
        X, y, names = load_file(args.data, target=args.target, dtype=dtype, return_names=True)
        name = os.path.basename(args.data)
        if args.no_fused and is_sparse(X):  # (fit's own error would name its fused=False)
            raise ValueError(f"--no-fused runs the kernel-by-kernel loop, which takes dense data; {name} is "
                             "sparse and trains on the native epoch")
        if args.regression and y.dtype.kind not in "iuf":
            raise ValueError(f"--regression needs a numeric target; {name}'s target holds text labels")
    regression = args.regression or is_regression(args.data, y)
    if not regression and len(y) > 1:  # a stratified split needs two rows per class; scikit-learn lists them all
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            hint = " (pass --regression if the target is a quantity)" if y.dtype.kind in "iu" else ""
            raise ValueError(f"{name}: {np.sum(counts < 2)} of the target's {len(classes)} classes have a single row, "
                             f"e.g. {classes.tolist()[counts.argmin()]!r}; a stratified split needs two per class{hint}")
    try:
        X_tr, X_te, y_tr, y_te = train_test(X, y, test_size=args.test_size, seed=args.seed, stratify=not regression)
    except ValueError as exc:  # scikit-learn's "The test_size = 2 should be greater or equal to ..." names no option
        raise ValueError(f"--test-size {args.test_size:g} of the {len(y)} rows of {name}: {exc}") from None
    if args.sizes is not None:
        sizes = args.sizes
        if sizes[0] != X.shape[1]:  # said now, by option, not as the fit's "X must have shape (n, 3)"
            raise ValueError(f"--sizes: the first size is the input width, {X.shape[1]} for {name}; got {sizes[0]}")
        n_classes = 0 if regression else len(np.unique(y))
        if sizes[-1] == 1 and n_classes > 2:  # not the fit's advice "pass loss='mse'", which the CLI has not
            raise ValueError(f"--sizes: one output unit for the {n_classes} classes of {name}; end --sizes with "
                             f"{n_classes}, or pass --regression if the target is a quantity")
    else:
        n_out = 1 if regression else len(np.unique(y))
        n_out = 1 if n_out == 2 else n_out
        sizes = [X.shape[1], *args.hidden, n_out]
    net = MLP(sizes, args.activation, dtype=dtype, seed=args.seed, loss="mse" if regression else None)
    backend = args.backend or fastnn.get_backend()
    print(f"{name}: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, MLP {'-'.join(map(str, sizes))} {args.activation}, "
          f"{args.optimizer} lr={args.lr:g}, batch {args.batch_size}, {args.epochs} epochs, {dtype.name}, "
          f"backend {backend}, {fastnn.get_num_threads()} thread(s)")
    fit_kw = dict(optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, l2=args.l2,
                  weight_decay=args.weight_decay, dropout=args.dropout, seed=args.seed, backend=args.backend,
                  fused=False if args.no_fused else None)
    if not args.no_warmup:  # load the backend and compile JIT code outside the timed fit
        rows = min(X_tr.shape[0], 4 * args.batch_size)
        try:
            MLP(sizes, args.activation, dtype=dtype, seed=args.seed, loss=net.loss).fit(
                X_tr[:rows], y_tr[:rows], epochs=1, **fit_kw)
        except ValueError:  # e.g. the first rows miss a class; the real fit reports real problems
            pass
    t0 = time.perf_counter()
    # the bar only on a terminal, as `fastnn bench`'s: piped into a log it is a line of \r-separated frames
    verbose = not args.quiet and sys.stderr.isatty()
    try:
        net.fit(X_tr, y_tr, epochs=args.epochs, early_stopping=args.early_stopping, verbose=verbose, **fit_kw)
    except ValueError as exc:
        if args.early_stopping and str(exc).startswith("the validation split"):
            # its message names fit's validation_fraction, which this command line has not
            reason = str(exc).split("failed: ", 1)[-1]
            raise ValueError(f"--early-stopping holds out 10% of the {len(y_tr)} training rows for validation, "
                             f"which failed: {reason}") from None
        raise
    elapsed = time.perf_counter() - t0
    epochs = max(net.n_iter_, 1)
    score = net.score(X_te, y_te)
    net.feature_names_in_ = names  # set after fit and score, which would reset it or warn on arrays without names
    if args.output:  # before the report: a closed stdout (`| head`) must not cost the trained model
        net.save(args.output)
    what = "R^2" if regression else "accuracy"
    print(f"test {what}: {score:.4f}")
    print(f"fit: {elapsed:.3f} s, {1e3 * elapsed / epochs:.2f} ms/epoch, "
          f"{X_tr.shape[0] * epochs / elapsed:,.0f} samples/s ({net.stopped_by_}, final loss {net.loss_:.4g})")
    if args.output:
        print(f"saved to {args.output}")
    return 0
