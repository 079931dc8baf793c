"""fastnn.estimators vs scikit-learn: fit time, score and parity, side by side in one process.

    python benchmarks/compare_sklearn.py [--repeat 5] [--threads 1] [--epochs 30]

Every row fits the same model on the same data with the same random_state:
scikit-learn (float64), fastnn float64 (same numbers: the "parity" column is the
max relative difference of coefs_/intercepts_ from scikit-learn's) and fastnn
float32 (``dtype=np.float32`` on the same float64 input). The runs are
interleaved round-robin and each time is the best of ``--repeat``; fastnn runs on
``fastnn.set_num_threads(threads)`` and scikit-learn's BLAS is limited to the same
count with threadpoolctl. ``--clock cpu`` (the default with one thread) times
process CPU time, which a shared, loaded machine distorts far less than wall
time; ``--clock wall`` for wall time (use it with several threads). With several
threads each timed fit follows an untimed fit of the same contender, so no
contender is timed against the previous one's still-spinning thread pool.

A second table times small calls (streaming training and online prediction),
where fixed per-call costs dominate: ``partial_fit`` on 32-row batches and
``predict_proba`` on 32 rows and on one row, median microseconds per call.

The issue's bar is the first row: digits, hidden_layer_sizes=(128, 64),
batch_size=32, 30 epochs (tol=0 with a large n_iter_no_change so every epoch
runs): fit >= 10x faster than scikit-learn in float64, >= 15x in float32.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn import linear_model as skl
from sklearn import neural_network as skn
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, make_classification,
                              make_regression)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
import fastnn  # noqa: E402
from fastnn import estimators as fe  # noqa: E402


def _digits28():
    """MNIST-sized images from digits (no download): each 8 x 8 image scaled 3x into a 28 x
    28 frame (784 features, zero borders as MNIST's) at six offsets, 10782 rows."""
    X8, y8 = load_digits(return_X_y=True)
    img = np.kron(X8.reshape(-1, 8, 8) / 16.0, np.ones((3, 3)))
    frames = []
    for dy, dx in ((2, 2), (0, 0), (4, 4), (0, 4), (4, 0), (2, 0)):
        f = np.zeros((len(img), 28, 28))
        f[:, dy:dy + 24, dx:dx + 24] = img
        frames.append(f.reshape(len(img), 784))
    return np.vstack(frames), np.tile(y8, 6)


def _data(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    elif name == "digits28thin":  # digits28 with thin strokes: pixels under 0.6 blank, 20%
        # non-zero as MNIST's 19% (digits28's 37.5%): fastnn trains it on a CSR copy of X
        X, y = _digits28()
        X = np.where(X < 0.6, 0.0, X)
    elif name == "digits28":
        X, y = _digits28()
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    elif name == "regression20k":  # a tall regression set for the linear models (no download)
        X, y = make_regression(n_samples=20000, n_features=200, n_informative=50, noise=1.0, random_state=0)
    elif name == "tall100k":  # taller than the caches, few columns: a Lasso converging in a few sweeps
        X, y = make_regression(n_samples=133334, n_features=50, n_informative=20, noise=5.0, random_state=0)
    elif name == "wide500x3k":  # more columns than rows (500 for training): a Lasso of hundreds of sweeps
        X, y = make_regression(n_samples=667, n_features=3000, n_informative=50, noise=5.0, random_state=0)
    elif name == "correlated20k":  # a tall set whose columns share one strong factor (no download)
        rng = np.random.default_rng(0)
        X = 0.3 * rng.standard_normal((20000, 200)) + rng.standard_normal((20000, 1))
        y = X[:, :50] @ rng.standard_normal(50) + rng.standard_normal(20000)
    elif name == "sparse50k":  # a sparse regression set, bag-of-words like: 0.2% of 50000 x 5000 non-zero
        rng = np.random.default_rng(0)  # (a RandomState makes sp.random shuffle every cell: 19 s)
        X = sp.random(50000, 5000, density=0.002, format="csr", random_state=rng)
        y = X @ rng.standard_normal(5000) + rng.standard_normal(50000)
    elif name == "sparse20kx5k":  # 1% of 20000 x 5000 non-zero, y from 100 of the features (a sparse Lasso's job)
        rng = np.random.default_rng(0)
        X = sp.random(20000, 5000, density=0.01, format="csr", random_state=rng)
        w = np.zeros(5000)
        w[rng.choice(5000, 100, replace=False)] = rng.standard_normal(100)
        y = X @ w + 0.1 * rng.standard_normal(20000)
    elif name.startswith("tfidf20k"):  # text-like: 0.5% of 20000 x 20000 non-zero, rows L2-normalised as
        # TF-IDF's; "tfidf20k" binary, "tfidf20k5c" 5 classes (quantiles of a linear score plus noise);
        # "tfidf20kx2k" binary on 2000 features, 100 non-zeros a row as the others (newton-cholesky's
        # Hessian is n_features^2: 20000 features take minutes a fit for both); "tfidf20kx5k" binary on
        # 5000 (an MLP's first layer of 5000 x 64 weights: 20000 features make both fits minutes long)
        p = 2000 if name.endswith("x2k") else 5000 if name.endswith("x5k") else 20000
        rng = np.random.default_rng(0)  # (a Generator: RandomState's sampling permutes all 4e8 cells, 3 GiB)
        X = normalize(sp.random(20000, p, density=100 / p, format="csr", random_state=rng))
        score = X @ rng.standard_normal(p)
        score += 0.3 * score.std() * rng.standard_normal(20000)
        k = 5 if name.endswith("5c") else 2
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1]))
    elif name == "onehot100k":  # ten categorical features of 50 levels one-hot encoded (CSR, 10 ones a row), 3
        # classes: newton-cholesky's case in scikit-learn's docs (n_samples >> n_features, one-hot data)
        from sklearn.preprocessing import OneHotEncoder

        rng = np.random.default_rng(0)
        X = OneHotEncoder().fit_transform(rng.integers(0, 50, size=(100000, 10))).tocsr()
        score = X @ rng.standard_normal(X.shape[1]) + rng.standard_normal(100000)
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    elif name == "binary20k":  # a tall binary set for the binary-only solvers (liblinear)
        X, y = make_classification(n_samples=20000, n_features=100, n_informative=30, flip_y=0.05, random_state=0)
    elif name == "classes50k":  # a tall 10-class set for the linear classifiers
        X, y = make_classification(n_samples=50000, n_features=100, n_informative=30, n_classes=10,
                                   random_state=0)
    elif name == "regression5k3":  # the same with three targets (a multi-output MLPRegressor)
        X, y = make_regression(n_samples=5000, n_features=40, n_informative=20, n_targets=3, noise=5.0,
                               random_state=0)
        y = y / y.std(axis=0)
    else:  # a larger synthetic regression set (no download)
        X, y = make_regression(n_samples=5000, n_features=40, n_informative=20, noise=5.0, random_state=0)
        y = y / y.std()
    classified = ("digits", "digits28", "digits28thin", "breast_cancer", "binary20k", "classes50k", "onehot100k")
    stratify = y if name in classified or name.startswith("tfidf") else None
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=stratify)
    if name not in ("digits", "digits28", "digits28thin") and not name.startswith(("sparse", "tfidf", "onehot")):  # (centring would densify sparse sets)
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    return Xtr, Xte, ytr, yte


def _rel(a, b):
    pa = a.coefs_ + a.intercepts_ if hasattr(a, "coefs_") else [np.atleast_1d(a.coef_), np.atleast_1d(a.intercept_)]
    pb = b.coefs_ + b.intercepts_ if hasattr(b, "coefs_") else [np.atleast_1d(b.coef_), np.atleast_1d(b.intercept_)]
    return max(float(np.max(np.abs(np.asarray(x, float) - y)) / max(np.max(np.abs(y)), 1e-300))
               for x, y in zip(pa, pb))


def _balanced(y):
    """fit()'s keyword arguments for class-balanced sample weights."""
    return {"sample_weight": compute_sample_weight("balanced", y)}


def _cases(epochs):
    """(data, label, scikit-learn class, fastnn class, parameters[, fit kwargs from y])."""
    mlp = dict(max_iter=epochs, tol=0.0, n_iter_no_change=10**6, random_state=0)
    return [
        ("digits", "MLPClassifier (128,64) adam b32", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(128, 64), batch_size=32, **mlp)),
        ("digits", "MLPClassifier (100,) sgd auto", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(100,), solver="sgd", learning_rate_init=0.05, **mlp)),
        # early stopping: a validation score every epoch (all 30 run: tol=0)
        ("digits", "MLPClassifier (128,64) early stop", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(128, 64), batch_size=32, early_stopping=True, **mlp)),
        # scikit-learn's defaults ((100,), adam, batch 200) on 784 features: big products, where
        # scikit-learn's BLAS does most of its work well
        ("digits28", "MLPClassifier (100,) default 10 ep", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(100,), **dict(mlp, max_iter=10))),
        ("digits28thin", "MLPClassifier (100,) default 10 ep", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(100,), **dict(mlp, max_iter=10))),
        ("breast_cancer", "MLPClassifier (64,) adam b32", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(64,), batch_size=32, **mlp)),
        ("breast_cancer", "MLPClassifier (64,) b32 balanced sw", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(64,), batch_size=32, **mlp), _balanced),
        ("diabetes", "MLPRegressor (64,32) adam b32", skn.MLPRegressor, fe.MLPRegressor,
         dict(hidden_layer_sizes=(64, 32), batch_size=32, learning_rate_init=0.003, **mlp)),
        ("regression5k", "MLPRegressor (128,64) adam b64", skn.MLPRegressor, fe.MLPRegressor,
         dict(hidden_layer_sizes=(128, 64), batch_size=64, **mlp)),
        # three outputs: with alpha > 0 the epoch runs one native call a batch (scikit-learn's loss
        # divides the data term by the outputs, not the penalty)
        ("regression5k3", "MLPRegressor (128,64) 3 outputs b64", skn.MLPRegressor, fe.MLPRegressor,
         dict(hidden_layer_sizes=(128, 64), batch_size=64, **mlp)),
        ("digits", "MLPClassifier (64,) lbfgs 100it", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=100, random_state=0)),
        ("binary20k", "MLPClassifier (256,) lbfgs 10it", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(256,), solver="lbfgs", max_iter=10, random_state=0)),
        # a sparse X stays sparse on both sides (fastnn densifies only >= 30% dense X): fastnn's
        # first layer runs over the non-zeros in C
        ("tfidf20kx5k", "MLPClassifier (64,) adam b200 sparse", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(64,), batch_size=200, **dict(mlp, max_iter=2))),
        ("tfidf20kx5k", "MLPClassifier (64,) lbfgs 10it sparse", skn.MLPClassifier, fe.MLPClassifier,
         dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=10, random_state=0)),
        ("breast_cancer", "LogisticRegression lbfgs", skl.LogisticRegression, fe.LogisticRegression, {}),
        # L1: SAGA on both sides, step for step (kernels.sag); random_state fixes the draws
        ("breast_cancer", "LogisticRegression saga L1 tol1e-6", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="saga", l1_ratio=1.0, tol=1e-6, max_iter=10000, random_state=0)),
        # scikit-learn's Newton drivers on fastnn's loss, Hessian products and Hessian (the same iterates)
        ("breast_cancer", "LogisticRegression newton-cg", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cg")),
        ("breast_cancer", "LogisticRegression newton-cholesky", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cholesky")),
        # liblinear's objective (intercept penalised) by fastnn's Newton solvers, not liblinear's:
        # parity is the two solvers' distance at this tol (L1 at 1e-8: at the default tol,
        # liblinear's L1 fit is 1e-1 from the optimum and may zero the intercept, fastnn's 1e-4);
        # random_state on every liblinear row: scikit-learn's liblinear shuffles with it (from the global
        # RNG without it: another fit and parity every run)
        ("breast_cancer", "LogisticRegression liblinear L2", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", random_state=0)),
        ("breast_cancer", "LogisticRegression liblin L1 1e-8", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", l1_ratio=1.0, tol=1e-8, random_state=0)),
        ("regression5k", "Ridge sag", skl.Ridge, fe.Ridge, dict(alpha=1.0, solver="sag", random_state=0)),
        ("regression5k", "Ridge", skl.Ridge, fe.Ridge, dict(alpha=1.0)),
        ("regression5k", "Ridge positive", skl.Ridge, fe.Ridge, dict(alpha=1.0, positive=True)),
        # scikit-learn's iterative solvers: sparse X kept sparse; a dense X big enough for kernels.gemm
        ("sparse50k", "Ridge sparse_cg", skl.Ridge, fe.Ridge, dict(alpha=1.0, solver="sparse_cg")),
        ("sparse50k", "Ridge lsqr", skl.Ridge, fe.Ridge, dict(alpha=1.0, solver="lsqr")),
        ("regression20k", "Ridge (cholesky)", skl.Ridge, fe.Ridge, dict(alpha=1.0)),
        ("regression20k", "Ridge sparse_cg", skl.Ridge, fe.Ridge, dict(alpha=1.0, solver="sparse_cg")),
        ("regression20k", "Ridge lsqr", skl.Ridge, fe.Ridge, dict(alpha=1.0, solver="lsqr")),
        ("diabetes", "Lasso alpha=0.01", skl.Lasso, fe.Lasso, dict(alpha=0.01)),
        ("regression20k", "Lasso alpha=0.1", skl.Lasso, fe.Lasso, dict(alpha=0.1)),
        # correlated columns: hundreds of sweeps, where fastnn's solver continues in the Gram form
        ("correlated20k", "Lasso alpha=0.1 (many sweeps)", skl.Lasso, fe.Lasso, dict(alpha=0.1)),
        # few sweeps on a tall X (the Gram form not worth forming), hundreds on a wide one (the dots from L3)
        ("tall100k", "Lasso alpha=0.1 (few sweeps)", skl.Lasso, fe.Lasso, dict(alpha=0.1)),
        ("wide500x3k", "Lasso alpha=0.1 (wide)", skl.Lasso, fe.Lasso, dict(alpha=0.1)),
        # sparse X kept sparse: scikit-learn's sparse coordinate descent (kernels.enet_cd_sparse), ~100 non-zeros
        ("sparse20kx5k", "Lasso sparse alpha=2e-4", skl.Lasso, fe.Lasso, dict(alpha=2e-4)),
        ("regression20k", "LinearRegression", skl.LinearRegression, fe.LinearRegression, {}),
        ("sparse50k", "LinearRegression (lsqr)", skl.LinearRegression, fe.LinearRegression, {}),
        ("classes50k", "LogisticRegression 10 classes", skl.LogisticRegression, fe.LogisticRegression, {}),
        # sparse X kept sparse: L-BFGS-B on scipy.sparse products (fastnn densified it, refusing this 3 GiB one)
        ("tfidf20k", "LogisticRegression lbfgs sparse", skl.LogisticRegression, fe.LogisticRegression, {}),
        ("tfidf20k5c", "LogisticRegression 5 classes sparse", skl.LogisticRegression, fe.LogisticRegression, {}),
        # the Newton solvers keep a sparse X sparse too (they densified it, refusing these)
        ("tfidf20k", "LogisticRegression newton-cg sparse", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cg")),
        ("tfidf20kx2k", "LogisticRegression newton-chol sparse", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cholesky")),
        # (both: the Hessian X^T diag(h) X by kernels.csr_sandwich, scikit-learn's a scipy sparse product)
        ("onehot100k", "LogisticRegression newton-chol 3 cl", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cholesky")),
        ("tfidf20kx2k", "LogisticRegression newton-cg sparse", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cg")),
        # the textbook large-text fit: saga on the CSR matrix as it is (lazy updates of a row's non-zeros)
        ("tfidf20k", "LogisticRegression saga sparse", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="saga", random_state=0)),
        # liblinear's L1 on the CSR matrix as it is: proximal Newton, its models by kernels.l1_quadratic_cd
        # on X as CSC (it densified X, refusing this 2.2 GiB one), scikit-learn's liblinear natively
        ("tfidf20k", "LogisticRegression liblinear L1 sparse", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", l1_ratio=1.0, random_state=0)),
        # weak regularisation: ~8000 of the 20000 coefficients non-zero, each model's working set ~10000 columns;
        # both solvers stop short of the optimum (tol 1e-4), so the coefficients differ (parity 0.12) while
        # the objectives agree to 1e-7 (liblinear's objective, C sum loss + |w|_1: 40542.127 fastnn, 40542.129 scikit-learn)
        ("tfidf20k", "LogisticRegression liblinear L1 C=10", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", l1_ratio=1.0, C=10.0, random_state=0)),
        ("binary20k", "LogisticRegression newton-cholesky", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cholesky")),
        ("binary20k", "LogisticRegression liblinear L2", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", random_state=0)),
        ("binary20k", "LogisticRegression liblinear L1", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="liblinear", l1_ratio=1.0, C=0.01, random_state=0)),
        ("classes50k", "LogisticRegression 10 cl newton-cg", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cg")),
        # the multinomial Hessian: 55 blocks of class pairs, all from one pass over X (kernels.dense_sandwich's 2-D h)
        ("classes50k", "LogisticRegression 10 cl newton-chol", skl.LogisticRegression, fe.LogisticRegression,
         dict(solver="newton-cholesky")),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed fits per contender, best kept (default 5)")
    ap.add_argument("--threads", type=int, default=1,
                    help="fastnn's threads and scikit-learn's BLAS threads (default 1)")
    ap.add_argument("--epochs", type=int, default=30, help="max_iter of the MLP cases (default 30)")
    ap.add_argument("--only", default=None, help="run only cases whose data set or model contains this text")
    ap.add_argument("--clock", choices=("cpu", "wall"), default=None,
                    help="process CPU time (default with 1 thread) or wall time (default otherwise)")
    args = ap.parse_args(argv)
    cases = [c for c in _cases(args.epochs) if not args.only or args.only in f"{c[0]} {c[1]}"]
    if not cases:
        ap.error(f"--only {args.only!r} matches no case (data sets: "
                 f"{', '.join(sorted({c[0] for c in _cases(args.epochs)}))})")
    clock_name = args.clock or ("cpu" if args.threads == 1 else "wall")
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    fastnn.set_num_threads(args.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"fastnn {fastnn.__version__} backend={fastnn.get_backend()} threads={args.threads} "
          f"(scikit-learn BLAS limited to {args.threads}); {clock_name} time, best of {args.repeat}")
    head = (f"{'data':14s} {'model':34s} {'sklearn s':>10s} {'f64 s':>8s} {'x':>6s} {'f32 s':>8s} {'x':>6s} "
            f"{'score sk':>9s} {'f64':>7s} {'f32':>7s} {'parity':>9s}")
    print("(x: scikit-learn's time / fastnn's; scores on a held-out 25%; parity: float64 fit only, the largest "
          "|fastnn - scikit-learn| over the fitted arrays, each over that array's largest |scikit-learn| value)")
    print(head)
    print("-" * len(head))
    cache = {}
    with threadpool_limits(args.threads):
        for data, label, sk_cls, fn_cls, params, *fit_kw in cases:
            if data not in cache:
                cache[data] = _data(data)
            Xtr, Xte, ytr, yte = cache[data]
            kw = fit_kw[0](ytr) if fit_kw else {}
            is_mlp = "MLP" in label
            makers = {
                "sk": lambda: sk_cls(**params),
                "f64": lambda: fn_cls(**params),
                "f32": (lambda: fn_cls(dtype=np.float32, **params)) if is_mlp else None,
            }
            best = {k: np.inf for k, v in makers.items() if v is not None}
            fitted = {}
            for _ in range(args.repeat):
                for key in best:
                    if args.threads > 1:
                        # an untimed fit of the same contender first: the previous one's
                        # BLAS/OpenMP workers keep spinning for ~0.1 s and would take
                        # ticks from this one's threads (fastnn's README, threads section)
                        makers[key]().fit(Xtr, ytr, **kw)
                    est = makers[key]()
                    t0 = clock()
                    est.fit(Xtr, ytr, **kw)
                    best[key] = min(best[key], clock() - t0)
                    fitted[key] = est
            score = {k: fitted[k].score(Xte, yte) for k in fitted}
            f32_t = f"{best['f32']:8.4f} {best['sk'] / best['f32']:5.1f}x" if "f32" in best else f"{'-':>8s} {'-':>6s}"
            f32_s = f"{score['f32']:7.4f}" if "f32" in score else f"{'-':>7s}"
            print(f"{data:14s} {label:34s} {best['sk']:10.4f} {best['f64']:8.4f} {best['sk'] / best['f64']:5.1f}x "
                  f"{f32_t} {score['sk']:9.4f} {score['f64']:7.4f} {f32_s} {_rel(fitted['f64'], fitted['sk']):9.1e}",
                  flush=True)
        if not args.only:
            small_calls(args.threads)


def _per_call_us(fn, calls):
    """Median over 5 rounds of the mean microseconds per call of fn(i), i = 0..calls-1."""
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(calls):
            fn(i)
        rounds.append((time.perf_counter() - t0) / calls * 1e6)
    return float(np.median(rounds))


def small_calls(threads):
    """Per-call latency of partial_fit, predict_proba and predict on digits, (128, 64)."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    classes = np.unique(y)
    n_batches = len(y) // 32
    print(f"\nsmall calls, digits (128,64), threads={threads}: median us per call (wall)")
    head = f"{'call':34s} {'sklearn':>9s} {'fastnn':>9s} {'x':>6s}"
    print(head)
    print("-" * len(head))
    models = {}
    for key, cls in (("sk", skn.MLPClassifier), ("fn", fe.MLPClassifier)):
        models[key] = cls(hidden_layer_sizes=(128, 64), random_state=0).partial_fit(X[:32], y[:32], classes=classes)
    rows = [
        ("partial_fit, 32-row batch", lambda m: lambda i: m.partial_fit(X[32 * (i % n_batches):][:32],
                                                                        y[32 * (i % n_batches):][:32])),
        ("predict_proba, 32 rows", lambda m: lambda i: m.predict_proba(X[:32])),
        ("predict_proba, 1 row", lambda m: lambda i: m.predict_proba(X[:1])),
        ("predict, 1 row", lambda m: lambda i: m.predict(X[:1])),
    ]
    for label, make in rows:
        t = {key: _per_call_us(make(m), 50) for key, m in models.items()}
        print(f"{label:34s} {t['sk']:9.0f} {t['fn']:9.0f} {t['sk'] / t['fn']:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
