"""The side-by-side scripts in benchmarks/ run and print what they promise (smoke tests:
no timing is asserted; the figures are for people, from a quiet machine)."""
from __future__ import annotations

import re

import pytest

from benchmarks import compare_sklearn


def test_compare_sklearn_prints_a_row_with_parity(capsys):
    compare_sklearn.main(["--repeat", "1", "--epochs", "2", "--only", "b32 balanced sw"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "balanced sw" in line)
    parity = float(row.split()[-1])
    assert parity < 1e-9  # float64 fastnn and scikit-learn trained the same weights
    assert "small calls" not in out  # --only runs just the chosen rows


def test_compare_sklearn_only_matches_the_data_set_name(capsys):
    """`--only diabetes` (a data set, not in any model label) runs the diabetes rows;
    a filter matching nothing is an error, not an empty table."""
    compare_sklearn.main(["--repeat", "1", "--epochs", "1", "--only", "diabetes"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("diabetes")]
    assert len(rows) == 2  # the MLPRegressor and the Lasso
    with pytest.raises(SystemExit):
        compare_sklearn.main(["--only", "no such case"])
    assert "matches no case" in capsys.readouterr().err


def test_compare_sklearn_small_calls_table(capsys):
    compare_sklearn.small_calls(1)
    out = capsys.readouterr().out
    for call in ("partial_fit, 32-row batch", "predict_proba, 32 rows", "predict_proba, 1 row", "predict, 1 row"):
        assert re.search(re.escape(call) + r"\s+\d+\s+\d+\s+[\d.]+x", out), out


def test_epoch_threads_prints_every_case(capsys):
    from benchmarks import epoch_threads

    epoch_threads.main(["--repeat", "1"])
    out = capsys.readouterr().out
    for hidden, bs in epoch_threads.CASES:
        net = "-".join(map(str, [64, *hidden, 10]))
        assert re.search(rf"{net}\s+{bs} \|(\s+[\d.]+){{2}} \|(\s+[\d.]+){{2}} \|\s+[\d.]+x", out), out


def test_call_overhead_prints_every_kernel_and_the_epochs(capsys):
    from benchmarks import bench_call_overhead

    bench_call_overhead.main(["--repeat", "1", "--min-time", "0.0005"])
    out = capsys.readouterr().out
    for kernel in bench_call_overhead.KERNELS:
        for dtype in ("float32", "float64"):
            bound = r"\s+[\d.]+" if kernel in bench_call_overhead.BINDABLE else r"\s+-"
            ratio = r"\s+[\d.]+x" if kernel in bench_call_overhead.BINDABLE else r"\s+-"
            assert re.search(rf"^{kernel}\s+{dtype}(\s+[\d.]+){{2}}{bound}(\s+-?[\d.]+){{2}}\s+[\d.]+x{ratio}$",
                             out, re.M), out
    assert re.search(r"composed [\d.]+, fused [\d.]+ \([\d.]+x\)", out), out
    assert re.search(r"own loop .* checked [\d.]+, bound [\d.]+ \([\d.]+x\)", out), out


def test_scripts_have_no_names_asv_would_collect():
    # asv collects every time_* / track_* / mem_* / peakmem_* function of every module
    # under benchmarks/: a helper so named in a script ran as a failing benchmark
    import importlib
    import pkgutil

    import benchmarks

    prefixes = ("time_", "timeraw_", "track_", "mem_", "peakmem_")
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.name.startswith("bench_"):
            continue  # the asv suite itself
        module = importlib.import_module(f"benchmarks.{info.name}")
        collected = [name for name in vars(module) if name.startswith(prefixes) and callable(getattr(module, name))]
        assert not collected, f"benchmarks/{info.name}.py: asv would run {collected}"


def test_sparse_density_prints_every_density_and_dtype(capsys):
    from benchmarks import sparse_density
    from fastnn import sparse_input as si

    before = (si.SPARSE_NATIVE_DENSIFY_DENSITY, si.DENSE_NATIVE_SPARSIFY_DENSITY)
    sparse_density.main(["--rows", "300", "--features", "128", "--hidden", "8", "--epochs", "1", "--repeat", "1",
                         "--densities", "0.1,0.5"])
    out = capsys.readouterr().out
    for density in ("10%", "50%"):
        for dtype in ("float64", "float32"):
            assert re.search(rf"^\s+{density}\s+{dtype}(\s+[\d.]+){{2}}\s+[\d.]+x\s+[\d.]+$", out, re.M), out
    assert (si.SPARSE_NATIVE_DENSIFY_DENSITY, si.DENSE_NATIVE_SPARSIFY_DENSITY) == before  # restored
