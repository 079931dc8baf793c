"""Train the same MLP with fastnn, a straightforward NumPy MLP, scikit-learn and PyTorch.

The run of issue 4's bar: scikit-learn's digits (75/25 stratified split), MLP
64-128-64-10, ReLU, Adam lr 1e-3, batch 32, 20 epochs, float32, no penalty.
Every contestant runs in this one process, round-robin, ``--repeats`` times per
thread count; the table shows the best and the median fit wall time, the ratio
of each median to fastnn's, the median process CPU time (user + system, all
threads: on a shared, overloaded machine the 1-thread CPU time is the closest
to what a quiet machine's wall clock would show) and the test accuracy. ``--step`` adds one full
training step (forward, backward, Adam) of a 784-256-128-10 MLP at batch 128.

    python benchmarks/compare_training.py                 # 1 and 2 threads
    python benchmarks/compare_training.py --threads 1 --repeats 7 --no-torch

PyTorch is optional (skipped when it does not import). Run from the repository
root (or with fastnn importable).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])  # the checkout's fastnn when run from anywhere

import fastnn  # noqa: E402
from fastnn import kernels  # noqa: E402
from fastnn.datasets import load_embedded, train_test  # noqa: E402
from fastnn import MLP
from fastnn.nn import FlatLayout, init_params  # noqa: E402

SIZES = [64, 128, 64, 10]
EPOCHS, BATCH, LR = 20, 32, 1e-3


# --------------------------------------------------------- straightforward NumPy


class NumpyMLP:
    """What one writes in an afternoon: per-layer arrays, fancy-indexed batches, Adam."""

    def __init__(self, sizes, seed=0, dtype=np.float32):
        lay = FlatLayout(sizes)
        flat = init_params(lay, "relu", seed=seed, dtype=dtype)  # the same start as fastnn
        self.W = [w.copy() for w in lay.weights(flat)]
        self.b = [b.copy() for b in lay.biases(flat)]
        self.dtype = dtype

    def _forward(self, x):
        acts = [x]
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0) if l < len(self.W) - 1 else z)
        return acts

    def step(self, xb, yb, lr, t, m, v, b1=0.9, b2=0.999, eps=1e-8):
        acts = self._forward(xb)
        logits = acts[-1]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        n = len(xb)
        loss = -np.log(p[np.arange(n), yb]).mean()
        d = p
        d[np.arange(n), yb] -= 1
        d /= n
        grads = []
        for l in range(len(self.W) - 1, -1, -1):
            grads.append((acts[l].T @ d, d.sum(axis=0)))
            if l:
                d = (d @ self.W[l].T) * (acts[l] > 0)
        grads.reverse()
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        params = [q for pair in zip(self.W, self.b) for q in pair]
        gs = [g for pair in grads for g in pair]
        for q, g, mq, vq in zip(params, gs, m, v):
            mq *= b1
            mq += (1 - b1) * g
            vq *= b2
            vq += (1 - b2) * g * g
            q -= lr_t * mq / (np.sqrt(vq) + eps)
        return loss

    def fit(self, X, y, epochs=EPOCHS, batch_size=BATCH, lr=LR, seed=0):
        rng = np.random.default_rng(seed)
        params = [q for pair in zip(self.W, self.b) for q in pair]
        m = [np.zeros_like(q) for q in params]
        v = [np.zeros_like(q) for q in params]
        t = 0
        for _ in range(epochs):
            perm = rng.permutation(len(X))
            for s in range(0, len(X), batch_size):
                idx = perm[s:s + batch_size]
                t += 1
                self.step(X[idx], y[idx], lr, t, m, v)
        return self

    def score(self, X, y):
        return float(np.mean(self._forward(X)[-1].argmax(1) == y))


# ---------------------------------------------------------------- contestants


def fit_fastnn(data, fused=None, backend=None):
    X_tr, X_te, y_tr, y_te = data
    net = MLP(SIZES, activation="relu", dtype=np.float32, seed=0)
    net.fit(X_tr, y_tr, optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH, fused=fused, backend=backend)
    return net.score(X_te, y_te)


def fit_numpy(data):
    X_tr, X_te, y_tr, y_te = data
    return NumpyMLP(SIZES).fit(X_tr, y_tr).score(X_te, y_te)


def fit_sklearn(data):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_tr, X_te, y_tr, y_te = data
    clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), activation="relu", solver="adam", alpha=0.0,
                        batch_size=BATCH, learning_rate_init=LR, max_iter=EPOCHS, tol=0.0,
                        n_iter_no_change=EPOCHS + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_tr, y_tr)
    return clf.score(X_te, y_te)


def _torch_model(sizes):
    import torch

    layers = []
    for l, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(i, o))
        if l < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def fit_torch(data):
    import torch

    X_tr, X_te, y_tr, y_te = data
    torch.manual_seed(0)
    model = _torch_model(SIZES)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    lossf = torch.nn.CrossEntropyLoss()
    X = torch.from_numpy(X_tr)
    y = torch.from_numpy(y_tr.astype(np.int64))
    gen = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        perm = torch.randperm(len(X), generator=gen)
        for s in range(0, len(X), BATCH):
            idx = perm[s:s + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = model(torch.from_numpy(X_te)).argmax(1).numpy()
    return float(np.mean(pred == y_te))


# ---------------------------------------------------------- 784-256-128-10 step


def step_contestants(have_torch: bool) -> Dict[str, Callable[[], Callable[[], None]]]:
    """name -> setup() returning a function that runs one training step."""
    sizes, bs = [784, 256, 128, 10], 128
    rng = np.random.default_rng(0)
    X = rng.standard_normal((bs, 784)).astype(np.float32)
    y = rng.integers(0, 10, bs).astype(np.int32)

    def fastnn_fused():
        net = MLP(sizes, seed=0)
        lay = net.layout
        grads = lay.empty(np.float32)
        state = lay.empty(np.float32, rows=2)
        perm = np.arange(bs, dtype=np.int64)
        counter = [0]

        def step():
            kernels.train_epoch(net.params, grads, state, X, y, perm, sizes=sizes, activation="relu",
                                loss="softmax_xent", optimizer="adam", lr=1e-3, step=counter[0], batch_size=bs)
            counter[0] += 1
        return step

    def fastnn_composed():
        from fastnn.nn import build_mlp, get_loss, get_optimizer
        from fastnn.train import _Composed

        net = build_mlp(sizes, "relu", seed=0)
        opt = get_optimizer("adam", 1e-3)
        opt.setup(net.layout, net.params, net.grads)
        runner = _Composed(net, get_loss("softmax_xent"), opt, bs, 10, 0, None)
        return lambda: runner.run(X, y, bs, 1e-3, 0.0)

    def numpy_step():
        mlp = NumpyMLP(sizes)
        params = [q for pair in zip(mlp.W, mlp.b) for q in pair]
        m = [np.zeros_like(q) for q in params]
        v = [np.zeros_like(q) for q in params]
        counter = [0]

        def step():
            counter[0] += 1
            mlp.step(X, y, 1e-3, counter[0], m, v)
        return step

    out = {"fastnn (native step)": fastnn_fused, "fastnn (composed)": fastnn_composed, "numpy": numpy_step}
    if not hasattr(kernels, "train_epoch"):
        del out["fastnn (native step)"]
    if have_torch:
        def torch_step(fused):
            def setup():
                import torch

                torch.manual_seed(0)
                model = _torch_model(sizes)
                opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
                lossf = torch.nn.CrossEntropyLoss()
                Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

                def step():
                    opt.zero_grad(set_to_none=True)
                    lossf(model(Xt), yt).backward()
                    opt.step()
                return step
            return setup

        out["torch eager (fused Adam)"] = torch_step(True)
        out["torch eager (foreach Adam)"] = torch_step(None)
    return out


# ----------------------------------------------------------------------- main


def _set_threads(n: int):
    import threadpoolctl

    fastnn.set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return threadpoolctl.threadpool_limits(n)


def _table(title: str, rows: List[Tuple[str, List[float], List[float], str]], ref: str, unit: str,
           scale: float) -> str:
    """rows: (name, wall times, process CPU times, note). Ratios are of medians, to `ref`."""
    by = {r[0]: r for r in rows}
    ref_wall, ref_cpu = statistics.median(by[ref][1]), statistics.median(by[ref][2])
    lines = [title,
             f"| contestant | best wall {unit} | median wall {unit} | wall / {ref} | median CPU {unit} | "
             f"CPU / {ref} | note |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, wall, cpu, note in rows:
        mw, mc = statistics.median(wall), statistics.median(cpu)
        lines.append(f"| {name} | {scale * min(wall):.2f} | {scale * mw:.2f} | {mw / ref_wall:.1f}x | "
                     f"{scale * mc:.2f} | {mc / ref_cpu:.1f}x | {note} |")
    return "\n".join(lines)


def _clocks():
    return time.perf_counter(), time.process_time()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-fit", action="store_true", help="skip the digits fit comparison")
    ap.add_argument("--step", action="store_true", help="also time a 784-256-128-10 training step at batch 128")
    ap.add_argument("--step-iters", type=int, default=50)
    ap.add_argument("--backends", nargs="+", default=None,
                    help="fastnn backends to time (default: the current default backend only)")
    args = ap.parse_args(argv)

    have_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401

            have_torch = True
        except ImportError:
            print("(PyTorch not importable: skipped)")
    X, y = load_embedded("digits", np.float32)
    data = train_test(X, y, test_size=0.25, seed=0)
    default = fastnn.get_backend()
    fits: Dict[str, Callable] = {"fastnn": fit_fastnn}
    for be in args.backends or []:
        if be != default:
            fits[f"fastnn ({be} backend)"] = lambda d, be=be: fit_fastnn(d, backend=be)
    fits.update({
        "fastnn (composed loop)": lambda d: fit_fastnn(d, fused=False),
        "numpy (straightforward)": fit_numpy,
        "scikit-learn MLPClassifier": fit_sklearn,
    })
    if have_torch:
        fits["PyTorch eager"] = fit_torch
    print(f"fastnn {fastnn.__version__}, backend {fastnn.get_backend()}, numpy {np.__version__}; "
          f"digits {len(data[0])} train / {len(data[1])} test, MLP {'-'.join(map(str, SIZES))} relu, "
          f"adam lr {LR}, batch {BATCH}, {EPOCHS} epochs, float32")
    for n_threads in args.threads:
        with _set_threads(n_threads):
            if not args.no_fit:
                for fn in fits.values():  # warm-up: imports, JIT, caches
                    fn(data)
                wall = {k: [] for k in fits}
                cpu = {k: [] for k in fits}
                acc = {}
                for _ in range(args.repeats):
                    for name, fn in fits.items():
                        w0, c0 = _clocks()
                        acc[name] = fn(data)
                        w1, c1 = _clocks()
                        wall[name].append(w1 - w0)
                        cpu[name].append(c1 - c0)
                rows = [(k, wall[k], cpu[k], f"test acc {acc[k]:.4f}") for k in fits]
                print()
                print(_table(f"digits fit, {n_threads} thread(s), {args.repeats} repeats", rows, "fastnn", "ms",
                             1e3))
            if args.step:
                steps = {k: setup() for k, setup in step_contestants(have_torch).items()}
                for fn in steps.values():
                    for _ in range(5):
                        fn()
                wall = {k: [] for k in steps}
                cpu = {k: [] for k in steps}
                for _ in range(args.repeats):
                    for name, fn in steps.items():
                        w0, c0 = _clocks()
                        for _ in range(args.step_iters):
                            fn()
                        w1, c1 = _clocks()
                        wall[name].append((w1 - w0) / args.step_iters)
                        cpu[name].append((c1 - c0) / args.step_iters)
                ref = "fastnn (native step)" if "fastnn (native step)" in steps else "fastnn (composed)"
                print()
                print(_table(f"784-256-128-10 training step, batch 128, {n_threads} thread(s)",
                             [(k, wall[k], cpu[k], "") for k in steps], ref, "ms", 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
