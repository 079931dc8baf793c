"""`fastnn bench`: the timing harness, the machine peak, and each suite's table and JSON (on tiny shapes)."""
from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import pytest

import fastnn
from fastnn import bench
from fastnn.cli import main

FAKE_PEAK = {"threads": 1, "fma_gflops": {"float32": 100.0, "float64": 50.0},
             "fma_gflops_per_thread": {"float32": 100.0, "float64": 50.0}, "bandwidth_gbs": 10.0, "method": "fake"}
FAST = ["--threads", "1", "--repeat", "1", "--min-time", "0.0005", "--no-progress", "--dtype", "float32"]


@pytest.fixture
def tiny(monkeypatch):
    """Tiny gemm shapes and a fixed peak so each suite runs in well under a second."""
    monkeypatch.setattr(bench, "gemm_shapes", lambda quick=False: [
        ("square", "A@B", 8, 8, 8, False, False), ("mlp", "X^T@dY", 9, 5, 7, True, False),
        ("out10", "dY@W^T", 6, 10, 4, False, True)])
    monkeypatch.setattr(bench, "measure_peak", lambda threads, quick=False: dict(FAKE_PEAK, threads=threads))


def test_round_robin_times_every_contender():
    calls = {"a": 0, "b": 0}

    def f(name):
        calls[name] += 1

    t = bench.time_round_robin({"a": lambda: f("a"), "b": lambda: f("b")}, repeat=3, min_time=1e-4)
    assert set(t) == {"a", "b"}
    for name, tm in t.items():
        assert tm.number >= 1 and tm.repeat == 3
        assert 0 < tm.best <= tm.median
        assert calls[name] >= 3 * tm.number  # warm-up and calibration come on top


def test_peak_measures_fma_and_bandwidth():
    gf32 = bench.fma_peak(1, "float32", seconds=0.001, repeat=2)
    gf64 = bench.fma_peak(1, "float64", seconds=0.001, repeat=2)
    bw = bench.triad_bandwidth(1, n=1 << 16, repeat=2)
    assert all(math.isfinite(v) and v > 0 for v in (gf32, gf64, bw))
    # the FMA chain computes a known value: 12 lanes-wide accumulators converge to 1 for a in (0, 1)
    fn = bench._fma_fn("float64")
    assert fn(200_000, 0.9) == pytest.approx(12 * bench._lanes("float64") * 1.0, rel=1e-6)
    a, b, c = np.zeros(10), np.ones(10), np.full(10, 2.0)
    bench._triad()(a, b, c, 3.0, 2, 8)
    np.testing.assert_array_equal(a, [0, 0, 7, 7, 7, 7, 7, 7, 0, 0])


def test_thread_limit_applies_and_restores():
    from threadpoolctl import threadpool_info

    before = fastnn.get_num_threads()
    with bench.thread_limit(1):
        assert fastnn.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert fastnn.get_num_threads() == before


def test_gemm_json_has_numpy_baseline_and_ratios(tiny, tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["bench", "gemm", *FAST, "--no-peers", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 thread(s)" in text and "numpy GF/s" in text and "geomean" in text
    data = json.loads(out.read_text())
    assert data["threads"] == 1 and data["peak"]["fma_gflops"]["float32"] == 100.0
    rows = data["suites"]["gemm"]["rows"]
    assert [r["group"] for r in rows] == ["square", "mlp", "out10", "dense"]
    for r in rows:
        assert r["baseline"] == "numpy" and "numpy" in r["gflops"]
        assert set(r["ratio"]) == set(r["gflops"]) - {"numpy"}
        for name, ratio in r["ratio"].items():
            assert ratio == pytest.approx(r["gflops"][name] / r["gflops"]["numpy"])
            assert r["peak_share"][name] == pytest.approx(r["gflops"][name] / 100.0)
        assert r["flops"] == 2.0 * r["m"] * r["n"] * r["k"]
        assert r["gbs"]["numpy"] == pytest.approx(r["bytes"] / r["seconds"]["numpy"] / 1e9)
    assert {r["suite"] for r in data["rows"]} == {"gemm"}


@pytest.mark.parametrize("api", [False, True])
def test_gemm_contenders_compute_the_product(api):
    """What is timed is the real product, for every contender (fastnn backends, numpy, torch if present)."""
    torch = bench._torch()
    for ta, tb in ((False, False), (True, False), (False, True)):
        funcs, (oa, ob, c) = bench._gemm_case(9, 5, 7, ta, tb, np.dtype(np.float64), bench.fastnn_backends()[0],
                                              api, torch)
        want = oa @ ob
        for name, f in funcs.items():
            c[...] = 0
            f()
            np.testing.assert_allclose(c, want, rtol=1e-12, err_msg=name)


def test_kernels_step_epoch_suites(tiny, tmp_path, capsys):
    out = tmp_path / "all.json"
    for suite in ("kernels", "step", "epoch"):
        assert main(["bench", suite, *FAST, "--no-peers", "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        rows = data["suites"][suite]["rows"]
        assert rows
        if suite == "kernels":
            assert {"dense_forward relu", "softmax_xent", "adam_update"} <= {r["kernel"] for r in rows}
            for r in rows:
                assert "numpy" in r["seconds"] and set(r["ratio"]) == set(r["seconds"]) - {"numpy"}
        else:
            impls = {r["impl"] for r in rows}
            assert "kernels[numpy]" in impls
            # a full-batch loss_grad pass is compared with the reference's pass, the sparse
            # epoch with the reference's sparse epoch, the rest with the reference kernels
            # composed in Python
            for r in rows:
                want = ("loss_grad[numpy]" if r["impl"].startswith("loss_grad")
                        else "train_epoch[numpy] sparse" if r["impl"].endswith(" sparse") else "kernels[numpy]")
                assert r["baseline"] == want
            own = ("loss_grad[numpy]", "train_epoch[numpy] sparse") if suite == "epoch" else ()
            for name in ("kernels[numpy]",) + own:
                assert next(r for r in rows if r["impl"] == name)["ratio"] == pytest.approx(1.0)
            if suite == "epoch":
                assert {"train_epoch[c] sparse", "train_epoch[numba] sparse"} <= impls
    text = capsys.readouterr().out
    assert "ms/step" in text and "ms/epoch" in text


def test_epoch_suite_says_what_is_missing(tiny, monkeypatch, capsys):
    from fastnn import kernels

    monkeypatch.delattr(kernels, "train_epoch", raising=False)
    monkeypatch.setattr(bench, "find_mlp", lambda: None)
    assert main(["bench", "epoch", *FAST, "--no-peers"]) == 0
    text = capsys.readouterr().out
    assert "train_epoch: not available" in text and "fastnn.MLP: not available" in text
    # --no-peers skips the peers; it does not make them "not installed" (scikit-learn is a dependency)
    assert "skipped (--no-peers)" in text and "not installed" not in text


def test_peers_columns_when_installed(tiny, capsys):
    pytest.importorskip("torch")
    assert main(["bench", "gemm", *FAST]) == 0
    text = capsys.readouterr().out
    assert "torch GF/s" in text and "JAX" in text


def test_peak_suite_and_plot(tiny, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    assert main(["bench", "peak", *FAST]) == 0
    assert "FMA float32" in capsys.readouterr().out
    assert main(["bench", "gemm", *FAST, "--no-peers", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_options(capsys):
    assert main(["bench", "peak", "--threads", "0"]) == 2
    assert main(["bench", "peak", "--threads", str(2**31)]) == 2  # was set_num_threads' traceback
    assert f"fastnn bench: --threads must be < 2**31, got {2**31}" in capsys.readouterr().err
    assert main(["bench", "peak", "--repeat", "0"]) == 2
    # NaN passed the checks (then a traceback or a silent NaN settle); inf never finished a timed batch
    for flag, value in [("--min-time", "nan"), ("--min-time", "inf"), ("--settle", "nan"), ("--settle", "inf")]:
        assert main(["bench", "epoch", *FAST, flag, value]) == 2
        assert f"{flag} must be a finite number" in capsys.readouterr().err
    # an unwritable --json / --plot fails before the benchmark, not after it
    assert main(["bench", "peak", "--json", "/no-such-dir/x.json"]) == 2
    assert "--json: directory /no-such-dir does not exist" in capsys.readouterr().err
    assert main(["bench", "epoch", *FAST, "--json", "same.out", "--plot", "same.out"]) == 2  # was: JSON overwritten
    assert "--json and --plot both name same.out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "nonsense"])
    capsys.readouterr()


def test_quick_lowers_only_the_defaults(tiny, monkeypatch, capsys):
    """--quick's repeat 3 / min-time 0.005 are defaults: an explicit --repeat / --min-time wins (it was capped)."""
    seen = []
    real = bench.time_round_robin

    def spy(funcs, *, repeat, min_time, **kw):
        seen.append((repeat, min_time))
        return real(funcs, repeat=1, min_time=1e-4, **kw)  # what was asked for is recorded; the run stays short

    monkeypatch.setattr(bench, "time_round_robin", spy)
    base = ["bench", "gemm", "--threads", "1", "--dtype", "float32", "--no-progress", "--no-peers", "--quick"]
    for extra, want in [([], (3, 0.005)), (["--repeat", "10", "--min-time", "0.02"], (10, 0.02))]:
        seen.clear()
        assert main([*base, *extra]) == 0
        assert seen and set(seen) == {want}
        assert f"best of {want[0]} round-robin" in capsys.readouterr().out


def test_plot_problems_are_reported_before_the_benchmark(tmp_path, capsys, monkeypatch):
    """--plot of the peak suite alone, or without matplotlib, fails at once (was: exit 1 after the run)."""
    png = tmp_path / "p.png"
    assert main(["bench", "peak", *FAST, "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    assert "--plot: the peak suite has no ratios" in captured.err and "FMA float32" not in captured.out
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["bench", "epoch", *FAST, "--no-peers", "--plot", str(png)]) == 2
    captured = capsys.readouterr()
    assert "--plot needs matplotlib" in captured.err and "epoch" not in captured.out
    assert not png.exists()


def test_peak_uses_the_widest_vectors():
    # a 256-bit chain on a CPU with two 512-bit FMA pipes reports half its peak: the gemm's
    # share of peak then came out at 130-150%
    c = pytest.importorskip("fastnn.backends.c")
    assert bench.vector_bits() == (512 if c.cpu_has_avx512f() else 256)
    assert bench._lanes("float32") == 2 * bench._lanes("float64") == bench.vector_bits() // 32


def test_fma_peaks_interleave_the_dtypes_rounds(monkeypatch):
    # measured one dtype after the other, a slow phase of the machine (NumPy's BLAS workers still
    # spinning) could take every round of one dtype: a 2-thread float32 peak came out at one core's
    order = []

    def fake(dtype):
        def run(n, a):
            order.append(dtype)
            time.sleep(1e-4)
            return 0.0
        return run

    for dt in ("float32", "float64"):
        monkeypatch.setitem(bench._fma_fns, dt, fake(dt))
    peaks = bench.fma_peaks(1, ("float32", "float64"), seconds=1e-6, repeat=3)
    assert set(peaks) == {"float32", "float64"} and all(v > 0 for v in peaks.values())
    timed = order[-6:]  # after each dtype's calibration calls
    assert timed == ["float32", "float64"] * 3


def test_concurrent_rate_counts_the_whole_window(monkeypatch):
    # threads the OS runs one after another (here: serialised by a lock) must not add up as if
    # they ran at once; summing each thread's own rate reported ~1.5-2x the one-thread peak.
    # The work advances a fake clock under the lock: the same result on a loaded machine
    import threading

    lock = threading.Lock()
    now = [0.0]

    def serial(n, a):
        with lock:
            now[0] += n * 1e-7
        return 0.0

    monkeypatch.setattr(bench, "clock", lambda: now[0])
    monkeypatch.setitem(bench._fma_fns, "float32", serial)
    one = bench.fma_peak(1, "float32", seconds=0.01, repeat=3)
    two = bench.fma_peak(2, "float32", seconds=0.01, repeat=3)
    assert two == pytest.approx(one, rel=1e-9)
    assert bench._concurrent(2, lambda i: serial(100_000, 0.0)) == pytest.approx(0.02)  # one run after the other


def test_kernel_case_bytes_match_what_kernels_hand_the_profiler():
    from fastnn import kernels as K
    from fastnn.profile import Profiler

    dt = np.dtype(np.float32)
    cases = {name: (flops, nbytes) for name, _, flops, nbytes, _ in bench._kernel_cases(dt)}
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dt) for s in ((128, 784), (784, 256), (256,)))
    with Profiler() as p:
        y = K.dense_forward(x, w, b, "relu", backend="numpy")
        K.dense_backward(rng.standard_normal((128, 256)).astype(dt), x, w, "relu", y=y, backend="numpy")
    got = {s.name: (s.flops, s.nbytes) for s in p.stats()}
    assert got["dense_forward"] == cases["dense_forward relu"]
    assert got["dense_backward"] == cases["dense_backward relu"]  # dx written counts too


def test_dense_case_torch_writes_a_preallocated_output():
    torch = pytest.importorskip("torch")
    funcs = bench._dense_case(16, 12, 8, np.dtype(np.float32), [], False, torch)
    want = funcs["numpy"]()
    first, second = funcs["torch"](), funcs["torch"]()
    assert first.data_ptr() == second.data_ptr()  # one output buffer, as fastnn's columns
    np.testing.assert_allclose(second.numpy(), want, rtol=1e-5, atol=1e-5)


def test_a_busy_machine_is_reported(tiny, monkeypatch, capsys, tmp_path):
    loads = iter([(1.7, 0, 0), (0.9, 0, 0)])  # before the run, after it
    monkeypatch.setattr(bench.os, "getloadavg", lambda: next(loads))
    out = tmp_path / "b.json"
    assert main(["bench", "gemm", *FAST, "--no-peers", "--json", str(out)]) == 0
    assert "load average was 1.70 before the run" in capsys.readouterr().err
    assert json.loads(out.read_text())["machine"]["load_average"] == {"before": 1.7, "after": 0.9}
    assert bench.busy_note(1, 0.1, 2.0).startswith("note: the load average reached 2.00 with 1")
    assert bench.busy_note(2, 0.1, 2.0) is None and bench.busy_note(1, None, None) is None


def test_more_threads_than_cores_warns(tiny, capsys):
    from fastnn.threads import usable_cores

    many = usable_cores() + 1
    assert main(["bench", "gemm", *FAST[2:], "--threads", str(many), "--no-peers"]) == 0
    assert f"fastnn bench: warning: --threads {many}, but only {usable_cores()} core" in capsys.readouterr().err
