"""The MLP estimators' sparse first layer against the dense one, by share of non-zeros.

Fits ``fastnn.estimators.MLPClassifier`` (Adam, batch 200) on random X at several
densities three ways, interleaved in one process: X dense (the dense epoch), X as CSR
(the first layer over the non-zeros, csrc/csr.c) and X dense left to the estimator
(``auto``: a CSR copy at most ``DENSE_NATIVE_SPARSIFY_DENSITY`` non-zero, the copy's
cost included). The figures behind ``SPARSE_NATIVE_DENSIFY_DENSITY`` and
``DENSE_NATIVE_SPARSIFY_DENSITY`` (fastnn/sparse_input.py). Best of ``--repeat``
fits; CPU time on one thread, wall time on several.

    python benchmarks/sparse_density.py                       # 20000 x 784 -> 100, one thread
    python benchmarks/sparse_density.py --features 1000 --hidden 256 --threads 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
from fastnn import estimators as fe  # noqa: E402
from fastnn import sparse_input  # noqa: E402

DENSITIES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def best_fit_seconds(X, y, dtype, hidden, threads, epochs, repeat, sparsify):
    """The best of `repeat` fits (not named time_*: asv collects those from benchmarks/)."""
    clock = time.process_time if threads == 1 else time.perf_counter
    saved = sparse_input.DENSE_NATIVE_SPARSIFY_DENSITY
    sparse_input.DENSE_NATIVE_SPARSIFY_DENSITY = saved if sparsify else -1.0
    try:
        best = float("inf")
        for _ in range(repeat):
            model = fe.MLPClassifier((hidden,), max_iter=epochs, random_state=0, n_threads=threads, dtype=dtype)
            t0 = clock()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
            best = min(best, clock() - t0)
        return best
    finally:
        sparse_input.DENSE_NATIVE_SPARSIFY_DENSITY = saved


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=sparse_input.SPARSIFY_MIN_EPOCHS,
                    help="max_iter (auto copies to CSR only from SPARSIFY_MIN_EPOCHS on)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--densities", type=lambda s: [float(v) for v in s.split(",")], default=list(DENSITIES))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, args.rows)
    saved = sparse_input.SPARSE_NATIVE_DENSIFY_DENSITY
    sparse_input.SPARSE_NATIVE_DENSIFY_DENSITY = 2.0  # the CSR column: kept sparse at any density
    try:
        print(f"MLPClassifier ({args.hidden},) adam b200, {args.epochs} epochs, {args.rows} x {args.features}, "
              f"threads={args.threads}, {'cpu' if args.threads == 1 else 'wall'} s, best of {args.repeat}")
        print(f"{'non-zero':>8} {'dtype':>8} {'dense':>8} {'csr':>8} {'x':>6} {'auto':>8}")
        for density in args.densities:
            Xs = sp.random(args.rows, args.features, density=density, format="csr", random_state=rng,
                           data_rvs=rng.random)
            Xd = Xs.toarray()
            for dtype in ("float64", "float32"):
                common = (y, dtype, args.hidden, args.threads, args.epochs, args.repeat)
                dense = best_fit_seconds(Xd, *common, sparsify=False)
                csr = best_fit_seconds(Xs, *common, sparsify=False)
                auto = best_fit_seconds(Xd, *common, sparsify=True)
                print(f"{density:>8.0%} {dtype:>8} {dense:>8.3f} {csr:>8.3f} {dense / csr:>5.2f}x {auto:>8.3f}")
    finally:
        sparse_input.SPARSE_NATIVE_DENSIFY_DENSITY = saved


if __name__ == "__main__":
    main()
