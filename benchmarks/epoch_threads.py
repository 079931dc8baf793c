"""One native training epoch on 1 and on N threads, interleaved in one process.

What the C epoch gains from threads (csrc/train.c: small networks at large batches
split every batch's rows over the threads; large layer products use threaded
kernels; small batches stay on one thread). Digits (1797 x 64, scaled), Adam, the
C backend; each repetition times a few epochs on 1 thread, then on N, so both see
the same machine state. Prints the minimum and the median ms per epoch: on a shared
machine the median says more about what a user gets.

    python benchmarks/epoch_threads.py                 # float64, 2 threads, 30 repetitions
    python benchmarks/epoch_threads.py --threads 4 --dtype float32
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
import fastnn  # noqa: E402
from fastnn import kernels  # noqa: E402
from fastnn.datasets import load_embedded  # noqa: E402

#: (hidden widths, batch size): two row-split cases, one threaded-kernel case, one serial
CASES = [((100,), 200), ((64,), 200), ((512, 256), 128), ((128, 64), 32)]


def measure_case(X, y, hidden, batch_size, threads, repeat, epochs_per_rep=5):
    """{thread count: [ms per epoch of each repetition]} for 1 and `threads` threads."""
    # (not named time_*: asv would collect it from benchmarks/ as a benchmark)
    sizes = [X.shape[1], *hidden, 10]
    size = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    rng = np.random.default_rng(0)
    params = (rng.standard_normal(size) * 0.05).astype(X.dtype)
    grads, state = np.empty_like(params), np.zeros((2, size), X.dtype)
    perm = np.arange(len(X), dtype=np.int64)

    def epoch():
        kernels.train_epoch(params, grads, state, X, y, perm, sizes=sizes, activation="relu",
                            loss="softmax_xent", optimizer="adam", lr=1e-4, step=1, batch_size=batch_size,
                            backend="c")

    ms = {1: [], threads: []}
    for _ in range(repeat):
        for t in ms:
            fastnn.set_num_threads(t)
            epoch()  # wakes this count's threads
            t0 = time.perf_counter()
            for _ in range(epochs_per_rep):
                epoch()
            ms[t].append((time.perf_counter() - t0) / epochs_per_rep * 1e3)
    return ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args(argv)
    if args.threads < 2 or args.repeat < 1:
        ap.error("--threads must be >= 2 and --repeat >= 1")
    from threadpoolctl import threadpool_limits

    X, y = load_embedded("digits", np.dtype(args.dtype))
    y = y.astype(np.int32)
    before = fastnn.get_num_threads()
    print(f"fastnn {fastnn.__version__}, C epoch, digits {X.shape}, Adam, {args.dtype}; "
          f"ms per epoch over {args.repeat} interleaved repetitions")
    print(f"{'network':>16s} {'batch':>5s} | {'1 thread min':>12s} {'median':>7s} | "
          f"{f'{args.threads} threads min':>13s} {'median':>7s} | {'median speed-up':>15s}")
    try:
        with threadpool_limits(1):
            for hidden, bs in CASES:
                ms = measure_case(X, y, hidden, bs, args.threads, args.repeat)
                one, many = np.array(ms[1]), np.array(ms[args.threads])
                net = "-".join(map(str, [X.shape[1], *hidden, 10]))
                print(f"{net:>16s} {bs:5d} | {one.min():12.3f} {np.median(one):7.3f} | "
                      f"{many.min():13.3f} {np.median(many):7.3f} | {np.median(one) / np.median(many):14.2f}x",
                      flush=True)
    finally:
        fastnn.set_num_threads(before)


if __name__ == "__main__":
    main()
