"""fastnn.profile: the per-kernel profiler, its Chrome trace, the kernel-composed MLP and `fastnn profile`."""
from __future__ import annotations

import json

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K
from fastnn.cli import main
from fastnn.profile import KernelMLP, Profiler, load_data, profile

BACKENDS = fastnn.available_backends()


def _kernel_events(trace):
    return [e for e in trace["traceEvents"] if e["ph"] == "X" and e.get("cat") != "span"]


def test_profiler_records_each_call_with_flops_and_bytes():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    assert K._profiler is None
    with profile(dtype="float64") as p:
        assert K._profiler is p
        for _ in range(3):
            K.gemm(a, b, backend="numpy")
        K.activation_forward(a, "relu", backend="numpy")
    assert K._profiler is None  # removed on exit: timers cost nothing when off
    K.gemm(a, b, backend="numpy")  # not recorded
    stats = {s.name: s for s in p.stats()}
    assert set(stats) == {"gemm", "activation_forward"}
    g = stats["gemm"]
    assert (g.calls, g.backend) == (3, "numpy")
    assert g.flops == 3 * 2.0 * 7 * 3 * 5
    assert g.nbytes == 3 * 8 * (7 * 5 + 5 * 3 + 7 * 3)
    assert 0 < g.min_seconds <= g.max_seconds <= g.seconds
    assert stats["activation_forward"].flops == 0
    assert p.kernel_seconds <= p.wall_seconds
    assert len(p.events) == 4


def test_profiler_takes_the_dtype_of_the_calls_for_shares_of_peak():
    # fastnn.profile() around a float64 fit labelled it float32 and measured its GFLOP/s against
    # the float32 FMA peak: half the true share
    a = np.ones((64, 64))
    with profile() as p, Profiler() as inner:
        K.gemm(a, a, backend="numpy")
    assert p.dtype == inner.dtype == np.float64 and p.as_dict()["dtype"] == "float64"
    peak = {"fma_gflops": {"float32": 1e-300, "float64": 1e9}, "bandwidth_gbs": 1e9}
    row = [line for line in p.table(peak).splitlines() if line.startswith("gemm")][0]
    assert row.split()[-2] == "0.0%"  # against the float64 peak (the float32 one would give a huge share)
    assert profile(dtype="float32").dtype == np.float32 and profile().dtype == np.float32  # given / nothing recorded


def test_profiler_restores_on_error_and_nests():
    a = np.ones((4, 4))
    outer = Profiler()
    with outer:
        with pytest.raises(ZeroDivisionError):
            with Profiler() as inner:
                K.gemm(a, a, backend="numpy")
                1 / 0
        assert K._profiler is outer
        K.gemm(a, a, backend="numpy")
    assert K._profiler is None
    assert len(inner.events) == 1
    assert len(outer.events) == 2  # the inner profiler forwarded its event


def test_trace_is_valid_chrome_trace_json(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    w = rng.standard_normal((8, 4)).astype(np.float32)
    b = np.zeros(4, np.float32)
    with Profiler(dtype=np.float32, threads=1) as p:
        with p.span("block"):
            for _ in range(5):
                K.dense_forward(x, w, b, "relu", backend="numpy")
    path = tmp_path / "t.json"
    p.write_trace(str(path))
    trace = json.loads(path.read_text())
    assert isinstance(trace["traceEvents"], list)
    assert trace["displayTimeUnit"] in ("ms", "ns")
    kev = _kernel_events(trace)
    assert len(kev) == 5 == len(p.events)  # one complete event per kernel call
    for e in trace["traceEvents"]:
        assert e["ph"] in ("X", "M")
        assert isinstance(e["name"], str) and isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "X":
            assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float))
            assert e["ts"] >= 0 and e["dur"] >= 0
    for e in kev:
        assert e["name"] == "dense_forward" and e["cat"] == "numpy"
        assert e["args"]["flops"] == 2.0 * 16 * 8 * 4
    ts = [e["ts"] for e in kev]
    assert ts == sorted(ts)
    for a, b_ in zip(kev, kev[1:]):  # calls on one thread do not overlap
        assert a["ts"] + a["dur"] <= b_["ts"] + 1e-3
    (span,) = [e for e in trace["traceEvents"] if e.get("cat") == "span"]
    assert span["name"] == "block"
    assert span["ts"] <= kev[0]["ts"] and kev[-1]["ts"] + kev[-1]["dur"] <= span["ts"] + span["dur"] + 1e-3
    assert any(e["ph"] == "M" and e["name"] == "process_name" for e in trace["traceEvents"])


def test_table_lists_kernels_and_shares():
    a = np.ones((8, 8), np.float32)
    with Profiler() as p:
        K.gemm(a, a, backend="numpy")
    peak = {"fma_gflops": {"float32": 100.0, "float64": 50.0}, "bandwidth_gbs": 10.0}
    text = p.table(peak)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["kernel", "backend", "calls"]
    assert any(line.startswith("gemm") and "%" in line for line in lines)
    assert "(outside kernels)" in text and "total (wall)" in text
    assert "% DRAM BW" in lines[0] and "over 100%" not in text  # (the product's bytes at well under 10 GB/s)
    assert "over 100%: the kernel's operands were in cache" in p.table(dict(peak, bandwidth_gbs=1e-9))
    d = p.as_dict(peak)
    assert d["kernels"][0]["kernel"] == "gemm" and d["kernels"][0]["calls"] == 1
    json.dumps(d)


def _plain_step(sizes, params_w, params_b, m, v, x, y, lr, t):
    """One Adam step of a ReLU MLP with softmax cross-entropy in plain float64 NumPy."""
    acts = [x]
    for l, (w, b) in enumerate(zip(params_w, params_b)):
        z = acts[-1] @ w + b
        acts.append(np.maximum(z, 0) if l < len(params_w) - 1 else z)
    logits = acts[-1]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    loss = -np.log(prob[np.arange(len(y)), y]).mean()
    d = prob
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    gw, gb = [None] * len(params_w), [None] * len(params_w)
    for l in range(len(params_w) - 1, -1, -1):
        gw[l], gb[l] = acts[l].T @ d, d.sum(axis=0)
        if l:
            d = (d @ params_w[l].T) * (acts[l] > 0)
    g = np.concatenate([a.ravel() for a in gw] + gb)
    p = np.concatenate([a.ravel() for a in params_w] + list(params_b))
    b1, b2, eps = 0.9, 0.999, 1e-8
    m[:] = b1 * m + (1 - b1) * g
    v[:] = b2 * v + (1 - b2) * g * g
    lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    return loss, p - lr_t * m / (np.sqrt(v) + eps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_mlp_step_matches_plain_numpy(backend):
    sizes = [6, 5, 4, 3]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 6))
    y = rng.integers(0, 3, 9).astype(np.int32)
    net = KernelMLP(sizes, batch_size=9, dtype=np.float64, backend=backend, lr=0.01, seed=2)
    m, v = np.zeros(net.size), np.zeros(net.size)
    for t in (1, 2):
        ws = [w.copy() for w in net.W]
        bs = [b.copy() for b in net.b]
        want_loss, want = _plain_step(sizes, ws, bs, m, v, x, y, 0.01, t)
        loss = net.step(x, y)
        assert loss == pytest.approx(want_loss, rel=1e-10)
        np.testing.assert_allclose(net.params, want, rtol=1e-9, atol=1e-12)
    assert net.t == 2
    assert net.state.shape == (2, net.size)


def test_kernel_mlp_learns_and_handles_short_batches():
    X, y, _ = load_data("digits", np.float32)
    X, y = X[:300], y[:300]
    net = KernelMLP([64, 32, 10], batch_size=64, dtype=np.float32, lr=1e-2, backend="numpy")
    perm = np.arange(300)  # 300 = 4 x 64 + 44: the last batch is short
    first = net.epoch(X, y, perm)
    for _ in range(4):
        last = net.epoch(X, y, perm)
    assert net.t == 25
    assert last < first * 0.5
    assert (net.predict(X) == y).mean() > 0.8


@pytest.mark.parametrize("optimizer", KernelMLP.OPTIMIZERS)
def test_kernel_mlp_runs_every_optimizer_of_fastnn_mlp(optimizer):
    """Each of fastnn.MLP's optimizers, with their defaults: a step is that optimizer's
    update of the gradients the kernels computed."""
    from fastnn.nn.flat import FlatLayout
    from fastnn.nn.optimizers import get_optimizer

    sizes, rng = [6, 5, 3], np.random.default_rng(4)
    x, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9).astype(np.int32)
    net = KernelMLP(sizes, batch_size=9, dtype=np.float64, backend="numpy", lr=0.05, seed=1, optimizer=optimizer)
    ref = get_optimizer(optimizer, lr=0.05)
    params, grads = net.params.copy(), np.empty_like(net.params)
    ref.setup(FlatLayout(sizes), params, grads)
    for _ in range(3):
        net.step(x, y)
        grads[...] = net.grads  # the step's gradients, applied to the copy by the reference optimizer
        ref.update(0.05, backend="numpy")
        np.testing.assert_array_equal(net.params, params)
    assert net.t == ref.step == 3 and net.state.shape == ref.state.shape


def test_kernel_mlp_rejects_bad_options():
    with pytest.raises(ValueError, match="sizes"):
        KernelMLP([4])
    with pytest.raises(ValueError, match="optimizer"):
        KernelMLP([4, 2], optimizer="lbfgs")
    with pytest.raises(ValueError, match="activation"):
        KernelMLP([4, 2], activation="softmax")


def test_load_data_files(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    y = np.array([5, 7, 5, 9])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    Xl, yl, desc = load_data(str(tmp_path / "d.npz"), np.float64)
    np.testing.assert_array_equal(Xl, X)
    np.testing.assert_array_equal(yl, [0, 1, 0, 2])  # labels mapped to 0..C-1
    assert yl.dtype == np.int32 and "3 classes" in desc
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",")
    Xc, yc, _ = load_data(str(tmp_path / "d.csv"), np.float32)
    assert Xc.dtype == np.float32 and Xc.shape == (4, 3)
    np.testing.assert_array_equal(yc, yl)
    (tmp_path / "named.csv").write_text("a,b,kind\n0,1,cat\n2,3,dog\n4,5,cat\n")  # fastnn.datasets' reader
    Xn, yn, desc = load_data(str(tmp_path / "named.csv"), np.float64)
    np.testing.assert_array_equal(yn, [0, 1, 0]) and np.testing.assert_array_equal(Xn, [[0, 1], [2, 3], [4, 5]])
    with pytest.raises(ValueError, match="digits"):
        load_data("nope.parquet")
    np.savez(tmp_path / "bad.npz", A=X, B=y)
    with pytest.raises(ValueError, match="'X' and 'y'"):
        load_data(str(tmp_path / "bad.npz"))


def test_profile_cli_prints_table_and_writes_trace(tmp_path, capsys):
    trace, out = tmp_path / "t.json", tmp_path / "p.json"
    rc = main(["profile", "--epochs", "1", "--hidden", "16", "--batch-size", "256", "--no-peak",
               "--runner", "kernels", "--backend", "numpy", "--threads", "1", "--trace", str(trace),
               "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for name in ("dense_forward", "dense_backward", "softmax_xent", "adam_update", "total (wall)"):
        assert name in text
    data = json.loads(out.read_text())
    calls = {k["kernel"]: k["calls"] for k in data["kernels"]}
    n_batches = -(-1797 // 256)
    assert calls["softmax_xent"] == n_batches
    assert calls["dense_forward"] == 2 * n_batches  # two layers per batch; the accuracy pass is not profiled
    assert calls["adam_update"] == n_batches  # no penalty: one call over weights and biases
    events = _kernel_events(json.loads(trace.read_text()))
    assert len(events) == sum(calls.values())


@pytest.mark.parametrize("runner", ["mlp", "kernels"])
def test_profile_epoch_spans_count_from_one_with_either_runner(runner, tmp_path, capsys):
    """The trace's epoch slices are "epoch 1", "epoch 2" whichever loop trained (fastnn.MLP's were "epoch 0", ...)."""
    trace = tmp_path / "t.json"
    assert main(["profile", "--epochs", "2", "--hidden", "16", "--batch-size", "512", "--no-peak", "--runner", runner,
                 "--backend", "numpy", "--threads", "1", "--trace", str(trace)]) == 0
    events = json.loads(trace.read_text())["traceEvents"]
    spans = [e["name"] for e in events if e.get("cat") == "span"]
    assert spans == ["epoch 1", "epoch 2"]
    # only training is profiled: 2 epochs x 4 batches of 512 x 2 layers, no accuracy pass over all rows
    assert sum(e["name"] == "dense_forward" for e in events) == 2 * 4 * 2


def test_profile_cli_rejects_bad_options(capsys):
    assert main(["profile", "--hidden", "a,b", "--no-peak"]) == 2
    assert main(["profile", "--hidden", "10,,5", "--no-peak"]) == 2  # was trained as 10,5
    assert main(["profile", "--data", "missing.npz", "--no-peak"]) == 2
    assert "fastnn profile" in capsys.readouterr().err
    # these were tracebacks (from set_num_threads, KernelMLP, the backend registry), after the peak measurement
    for flag, value in [("--threads", "0"), ("--lr", "-1"), ("--lr", "nan"), ("--activation", "bogus"),
                        ("--activation", "softmax"), ("--backend", "bogus"), ("--seed", "-1"),
                        ("--seed", str(2**32)), ("--threads", str(2**31))]:
        assert main(["profile", "--no-peak", flag, value]) == 2
        assert f"fastnn profile: {flag}" in capsys.readouterr().err


def test_profile_cli_batch_larger_than_the_data_is_one_full_batch(capsys):
    # KernelMLP allocated its buffers for --batch-size rows: a MemoryError traceback
    assert main(["profile", "--no-peak", "--runner", "kernels", "--epochs", "1", "--batch-size", str(10**12)]) == 0
    assert "kernel loop 64-100-10" in capsys.readouterr().out


def test_json_written_through_a_symlink_replaces_its_target(tmp_path):
    # `--json results.json` with results.json a link: the link became a file, its target left stale
    target, link = tmp_path / "run1.json", tmp_path / "latest.json"
    target.write_text("old")
    link.symlink_to(target.name)
    with Profiler(dtype=np.float32, threads=1) as p:
        K.gemm(np.ones((2, 2)), np.ones((2, 2)), backend="numpy")
    p.write_trace(str(link))
    assert link.is_symlink() and "traceEvents" in json.loads(target.read_text())


def test_profile_cli_diverging_run_is_a_one_line_error(capsys):
    # was a TrainingDivergedError traceback from fastnn.MLP.fit
    assert main(["profile", "--no-peak", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn profile: training diverged in epoch 1") and "(--lr 1e+30)" in err
    assert err.count("\n") == 1


@pytest.mark.skipif(not hasattr(fastnn, "profile") or not callable(getattr(fastnn, "profile", None)),
                    reason="fastnn.profile() is not exported from fastnn/__init__.py in this build")
def test_exported_context_manager():
    with fastnn.profile() as p:
        K.gemm(np.ones((2, 2)), np.ones((2, 2)), backend="numpy")
    assert [s.name for s in p.stats()] == ["gemm"]


def test_profile_cli_refuses_one_path_for_trace_and_json(tmp_path, capsys):
    same = str(tmp_path / "run.json")
    assert main(["profile", "--epochs", "1", "--no-peak", "--trace", same, "--json", same]) == 2  # was: trace lost
    assert "--trace and --json both name" in capsys.readouterr().err
    assert not (tmp_path / "run.json").exists()


def test_profile_cli_refuses_an_unwritable_trace_before_running(tmp_path, capsys):
    rc = main(["profile", "--epochs", "1", "--no-peak", "--trace", str(tmp_path / "missing" / "t.json")])
    assert rc == 2
    assert "--trace: directory" in capsys.readouterr().err


def test_profilers_stopped_out_of_order_leave_none_installed():
    # two threads' profilers (or an outer one stopped first) were stopped out of order: the later
    # stop reinstalled the earlier, stopped profiler, which then recorded every kernel call for good
    import threading

    a = np.ones((4, 4))
    first, second = Profiler().start(), Profiler().start()
    first.stop()
    K.gemm(a, a, backend="numpy")
    second.stop()
    assert K._profiler is None
    assert (len(first.events), len(second.events)) == (0, 1)

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def run_first():  # starts first, stops first
        with Profiler():
            first_in.set()
            second_in.wait()
        first_out.set()

    def run_second():
        first_in.wait()
        with Profiler():
            second_in.set()
            first_out.wait()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert K._profiler is None


def test_a_restarted_profiler_keeps_its_trace_times_and_wall_time_consistent():
    # start() after stop() moved time 0 of the trace: the first session's events got negative
    # timestamps and the wall time covered only the last session (kernel time could exceed it)
    import time

    a = np.ones((64, 64))
    p = Profiler()
    with p:
        K.gemm(a, a, backend="numpy")
    time.sleep(0.02)
    with p:
        K.gemm(a, a, backend="numpy")
    ts = [e["ts"] for e in _kernel_events(p.trace())]
    assert len(ts) == 2 and min(ts) >= 0
    assert p.kernel_seconds <= p.wall_seconds < 0.02


def test_fused_and_unfused_epochs_count_the_same_flops():
    # train_epoch counted the first layer's dx products, which no backend computes: the fused
    # epoch reported ~40% more GFLOP/s than the same work kernel by kernel
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((120, 20)), rng.integers(0, 3, 120)
    flops = {}
    for fused in (None, False):
        with profile() as p:
            fastnn.MLP([20, 16, 3], dtype=np.float64, seed=0).fit(X, y, epochs=2, batch_size=40, tol=None,
                                                                  fused=fused)
        flops[fused] = sum(s.flops for s in p.stats())
    assert flops[None] == flops[False] == 2 * 120 * (2 * (20 * 16 + 16 * 3) + 2 * 20 * 16 + 4 * 16 * 3)


def test_dense_backward_bytes_count_dx_only_when_computed():
    # need_dx halved nothing in the byte count and dx's own write was never counted
    n, i, o = 7, 4, 5
    dout, x, w, y = np.ones((n, o)), np.ones((n, i)), np.ones((i, o)), np.ones((n, o))
    with profile() as p:
        K.dense_backward(dout, x, w, "relu", y=y, backend="numpy")
        K.dense_backward(dout, x, w, "relu", y=y, need_dx=False, backend="numpy")
    with_dx, without_dx = (e[5] for e in p.events)
    assert with_dx == 8 * (2 * n * o + 2 * n * i + 2 * i * o)  # dout, y; x, dx; w, dw
    assert without_dx == 8 * (2 * n * o + n * i + i * o)  # dout, y; x; dw


def test_a_public_call_of_two_backend_passes_counts_as_one_call():
    """dense_to_csr (a counting pass, then the copy) showed as 2 calls per call."""
    x = np.zeros((60, 40))
    x[::3, ::5] = 1.0
    with profile() as outer:
        with profile() as p:
            K.dense_to_csr(x, backend="numpy")
            K.dense_to_csr(x, max_nnz=1, backend="numpy")  # stops after the counting pass: one pass, one call
            K.dense_to_csr(x, backend="numpy")
            K.gemm(x, x.T, backend="numpy")
            K.gemm(x, x.T, backend="numpy")  # two calls in a row stay two
    for prof in (p, outer):
        assert {s.name: s.calls for s in prof.stats()} == {"dense_to_csr": 3, "gemm": 2}
    first = p.events[0]
    assert first[5] == 2 * x.nbytes + 1.5 * 8 * np.count_nonzero(x)  # both passes' bytes


def test_profile_takes_the_embedded_sets_and_regresses_on_a_float_target(tmp_path, capsys):
    """`--data iris` was refused (train and predict take it); a float target was profiled as one class
    per distinct value: "200 classes; MLP 4-100-200"."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    np.savetxt(tmp_path / "reg.csv", np.column_stack([X, X @ [1.0, -2.0, 0.5, 0.0]]), delimiter=",",
               header="a,b,c,d,t", comments="")
    for runner in ("mlp", "kernels"):
        assert main(["profile", "--data", str(tmp_path / "reg.csv"), "--epochs", "2", "--hidden", "8", "--no-peak",
                     "--runner", runner]) == 0
        out = capsys.readouterr().out
        assert "reg.csv, regression target;" in out and " 4-8-1" in out and "train R^2" in out
    Xl, yl, desc = load_data(str(tmp_path / "reg.csv"), np.float64)
    assert yl.dtype == np.float64 and desc.endswith("regression target")
    for name, shape in [("iris", "4-8-3"), ("wine", "13-8-3"), ("breast_cancer", "30-8-2"), ("diabetes", "10-8-1")]:
        assert main(["profile", "--data", name, "--epochs", "1", "--hidden", "8", "--no-peak"]) == 0, name
        assert f" {shape}" in capsys.readouterr().out, name
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    assert main(["profile", "--data", str(tmp_path / "s.npy"), "--no-peak"]) == 2
    assert f"{tmp_path / 's.npy'}: the array holds text (<U1); expected real numbers" in capsys.readouterr().err


def test_profile_warns_once_for_more_threads_than_cores(capsys, monkeypatch):
    from fastnn import bench
    from fastnn.threads import usable_cores

    monkeypatch.setattr(bench, "load_average", lambda: None)  # (no busy-machine note on a loaded host)

    many = usable_cores() + 2
    assert main(["profile", "--epochs", "1", "--hidden", "4", "--no-peak", "--threads", str(many)]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and f"fastnn profile: warning: --threads {many}, but only {usable_cores()} core" in err
    assert f"{many} thread(s)" in out


def test_calls_from_other_python_threads_are_recorded_and_flagged():
    """The profiler is process-wide: another thread's calls appear, their overlap is said, and
    '(outside kernels)' stays the profiling thread's share (it went negative, -188%)."""
    import threading

    a = np.ones((64, 64))
    go, done = threading.Event(), threading.Event()

    def other():
        go.wait()
        for _ in range(20):
            K.gemm(a, a, backend="numpy")
        done.set()

    worker = threading.Thread(target=other)
    worker.start()
    with profile() as p:
        go.set()
        done.wait()
        K.gemm(a, a, backend="numpy")
    worker.join()
    assert {s.name: s.calls for s in p.stats()} == {"gemm": 21}
    text = p.table()
    assert "kernel calls from 2 Python threads" in text
    outside = next(line for line in text.splitlines() if line.startswith("(outside kernels)"))
    assert float(outside.split()[4]) >= 0  # its ms: the profiling thread's, never negative


def test_profile_notes_a_busy_machine(capsys, monkeypatch):
    from fastnn import bench

    monkeypatch.setattr(bench, "load_average", lambda: 3.0)
    assert main(["profile", "--epochs", "1", "--hidden", "4", "--no-peak", "--threads", "1"]) == 0
    assert "note: the load average was 3.00 before the run" in capsys.readouterr().err
