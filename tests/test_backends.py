"""Backend selection, ISA dispatch and the thread knob."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import backends
from fastnn import kernels as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_py(code: str, **env) -> str:
    """Run code in a fresh interpreter with env on top of ours; a None value unsets that variable."""
    full_env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    for name in [k for k, v in full_env.items() if v is None]:
        del full_env[name]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() + done.stderr.strip()


def test_available_lists_known_backends_best_first():
    names = backends.available()
    assert names[-1] == "numpy" and set(names) <= {"c", "numba", "numpy"}
    assert names == [n for n in backends.ORDER if n in names]


def test_c_backend_is_built_on_this_machine():
    # the whole point of the project: a clean install must have compiled the extension
    assert "c" in backends.available(), backends.unavailable()
    assert fastnn.get_backend() in ("c", os.environ.get("FASTNN_BACKEND", "c"))


def test_set_backend_and_use_backend():
    before = fastnn.get_backend()
    try:
        fastnn.set_backend("numpy")
        assert fastnn.get_backend() == "numpy"
        with fastnn.use_backend("c"):
            assert fastnn.get_backend() == "c"
        assert fastnn.get_backend() == "numpy"
        with pytest.raises(ValueError, match="backend must be one of"):
            fastnn.set_backend("fortran")
    finally:
        fastnn.set_backend(before)


def test_backend_keyword_reaches_the_backend(monkeypatch):
    calls = []
    ref = backends.get("numpy")
    monkeypatch.setattr(ref, "act_forward", lambda *a: calls.append(a) or ref.np.copyto(a[0], a[1]))
    K.activation_forward(np.ones((2, 2)), "identity", backend="numpy")
    assert calls
    calls.clear()
    K.activation_forward(np.ones((2, 2)), "identity", backend="c")
    assert not calls


def test_fastnn_backend_environment_variable():
    assert run_py("import fastnn; print(fastnn.get_backend())", FASTNN_BACKEND="numpy") == "numpy"


def test_fallback_warns_once_when_c_is_missing():
    code = (
        "import sys, warnings; sys.modules['fastnn._cfastnn'] = None\n"
        "warnings.simplefilter('always')\n"
        "import fastnn\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    name = fastnn.get_backend()\n"
        "print(name, len(w), 'c' in fastnn.available_backends())\n"
        "print(w[0].message)\n"
    )
    out = run_py(code).splitlines()
    name, n_warn, has_c = out[0].split()
    assert name in ("numba", "numpy") and n_warn == "1" and has_c == "False"
    assert "backend 'c' unavailable" in out[1]


def test_fastnn_isa_env_caps_the_isa():
    """FASTNN_ISA=generic / avx2 cap the run-time choice; unset, the best the CPU has."""
    c = backends.get("c")
    code = "from fastnn.backends import c; print(c.isa_name())"
    avx2 = "avx2-fma" if c.cpu_has_avx2_fma() else "generic"
    assert run_py(code, FASTNN_ISA="generic") == "generic"
    assert run_py(code, FASTNN_ISA="avx2") == avx2
    assert run_py(code, FASTNN_ISA=None) == ("avx512" if c.cpu_has_avx512f() else avx2)
    assert run_py(code, FASTNN_ISA=" AVX2-FMA ") == avx2  # the name `fastnn info` prints


def test_threadpoolctl_caps_the_first_block_after_import():
    """The C backend's OpenMP runtime loads with fastnn: threadpool_limits finds it from the first block on."""
    code = ("import fastnn\nfrom threadpoolctl import threadpool_limits\nfrom fastnn.threads import "
            "effective_num_threads\nfastnn.set_num_threads(2)\nwith threadpool_limits(1):\n"
            "    print(effective_num_threads())")
    assert run_py(code, OMP_NUM_THREADS=None) == "1"


def test_unknown_environment_values_warn_naming_the_variable():
    best = backends.get("c").isa_name()
    code = "from fastnn.backends import c; print(c.isa_name(), c.get_flush_subnormals())"
    out = run_py(code, FASTNN_ISA="avx-2")
    assert out.startswith(f"{best} True") and "FASTNN_ISA='avx-2' ignored: it takes one of" in out
    out = run_py(code, FASTNN_FLUSH_SUBNORMALS="maybe")
    assert out.startswith(f"{best} True") and "FASTNN_FLUSH_SUBNORMALS='maybe' ignored" in out
    assert "ignored" not in run_py(code, FASTNN_FLUSH_SUBNORMALS="on", FASTNN_ISA="avx512")


def test_flush_subnormals_knob_is_checked_and_read_from_the_environment():
    c = backends.get("c")
    with pytest.raises(TypeError, match="set_flush_subnormals: on must be a bool"):
        c.set_flush_subnormals("no")
    code = "from fastnn.backends import c; print(c.get_flush_subnormals())"
    assert run_py(code, FASTNN_FLUSH_SUBNORMALS=None) == "True"
    assert run_py(code, FASTNN_FLUSH_SUBNORMALS="0") == "False"


def test_set_isa_rejects_unknown_names():
    with pytest.raises(ValueError, match="set_isa: name must be one of"):
        backends.get("c").set_isa("sse9")


def test_isa_paths_agree(rng):
    c = backends.get("c")
    a, b = rng.standard_normal((70, 45)).astype(np.float32), rng.standard_normal((45, 33)).astype(np.float32)
    before = c.isa_name()
    got = {}
    try:
        for isa in ("generic", "avx2", "avx512"):
            got[c.set_isa(isa)] = K.gemm(a, b, backend="c")
    finally:
        c.set_isa(before)
    for isa, out in got.items():
        np.testing.assert_allclose(out, got["generic"], rtol=1e-5, atol=1e-5, err_msg=isa)


def test_num_threads_knob():
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    from fastnn._cfastnn import lib

    assert lib.fnn_get_num_threads() == 1  # the C side follows the knob
    fastnn.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastnn.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        fastnn.set_num_threads(1.5)
    with pytest.raises(ValueError, match="n must be < 2..31"):
        fastnn.set_num_threads(2**40)
    assert fastnn.get_num_threads() == before


def test_a_huge_thread_count_does_not_disable_the_c_backend():
    # accepted before any backend loaded, it made the C backend fail to import (OverflowError)
    # and fastnn fell back to numba for the rest of the process
    code = ("import fastnn\n"
            "try:\n    fastnn.set_num_threads(2**40)\nexcept ValueError:\n    pass\n"
            "from fastnn import backends\nprint('c' in backends.available())")
    assert run_py(code) == "True"


def test_omp_num_threads_is_honoured():
    assert run_py("import fastnn; print(fastnn.get_num_threads())", OMP_NUM_THREADS="1") == "1"


def test_info_reports_everything():
    out = json.loads(run_py("from fastnn.cli import main; main(['info', '--json'])"))
    for key in ("fastnn", "backends", "default_backend", "threads", "c_isa", "runtimes", "openmp"):
        assert key in out, key
    c = backends.get("c")
    assert out["c_isa"] == c.isa_name() and out["cpu_avx512f"] == c.cpu_has_avx512f()
    assert any(rt["internal_api"] == "openmp" for rt in out["runtimes"])


def test_info_reports_the_threads_the_kernels_use_and_starts_no_threading_layer():
    """numba_threads was Numba's own default (2 while fastnn's Numba kernels ran on 1), and
    asking Numba for it started its threading layer: the report then showed libgomp at 2
    threads and a layer "not chosen yet" that the report itself had just chosen."""
    code = ("import json, sys\nfrom fastnn.info import collect\ninfo = collect()\n"
            "print(json.dumps([info['threads'], info['numba_threads'], info['numba_threading_layer'],\n"
            "    [rt['num_threads'] for rt in info['runtimes'] if rt['internal_api'] == 'openmp'],\n"
            "    sys.modules['numba.np.ufunc.parallel']._is_initialized]))")
    threads, numba_threads, layer, openmp, started = json.loads(run_py(code, OMP_NUM_THREADS="1",
                                                                        NUMBA_NUM_THREADS="2"))
    assert threads == numba_threads == 1
    assert openmp == [1] and layer.startswith("not chosen yet") and not started


def test_bad_fastnn_backend_variable_is_named(monkeypatch, capsys):
    """FASTNN_BACKEND=bogus: one line naming the variable (was a traceback from `fastnn info`)."""
    from fastnn.cli import main

    monkeypatch.setenv("FASTNN_BACKEND", "bogus")
    for argv in (["info"], ["train", "--epochs", "1", "-q"]):
        assert main(argv) == 2
        assert "FASTNN_BACKEND=bogus: backend must be one of" in capsys.readouterr().err
    code = "import fastnn\ntry:\n    fastnn.get_backend()\nexcept ValueError as e:\n    print(e)"
    assert run_py(code, FASTNN_BACKEND="bogus").startswith("FASTNN_BACKEND=bogus: backend must be one of")


def test_thread_knob_reaches_c_imported_directly():
    code = (
        "from fastnn.backends import c\n"
        "from fastnn._cfastnn import lib\n"
        "import fastnn\n"
        "fastnn.set_num_threads(1); a = lib.fnn_get_num_threads()\n"
        "fastnn.set_num_threads(2); print(a, lib.fnn_get_num_threads())\n"
    )
    assert run_py(code) == "1 2"


@pytest.mark.parametrize("env,expected", [
    ({}, "300000"),                              # libgomp's documented default, set explicitly
    ({"GOMP_SPINCOUNT": "5"}, "5"),              # the user's spin count wins
    ({"OMP_WAIT_POLICY": "passive"}, None),      # and so does a wait policy
])
def test_c_backend_sets_a_spin_count_only_when_the_user_did_not(env, expected):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = "import os, fastnn.backends.c; print(os.environ.get('GOMP_SPINCOUNT'))"
    run = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(expected)


@pytest.mark.parametrize("solver", ["train_epoch", "enet_cd", "sag"])
def test_thread_knob_reaches_c_solvers_used_first(solver):
    """A native solver as the first C code a process runs still follows set_num_threads:
    its module loads the library through fastnn.backends.c (which applies the knob)."""
    call = {
        "train_epoch": "kernels.train_epoch(np.zeros(23), np.zeros(23), np.zeros((2, 23)), np.ones((5, 4)), "
                       "np.zeros(5, np.int32), np.arange(5), sizes=[4, 3, 2], activation='relu', "
                       "loss='softmax_xent', optimizer='adam', lr=1e-3, step=0, batch_size=2, backend='c')",
        "enet_cd": "kernels.enet_cd(np.zeros(3), np.ones((3, 5)), np.ones(5), alpha=0.1, max_iter=5, "
                   "backend='c')",
        "sag": "kernels.sag(np.zeros((3, 1)), np.ones((5, 3)), np.ones(5), loss='squared', step_size=0.1, "
               "max_iter=5, backend='c')",
    }[solver]
    code = (
        "import sys, numpy as np, fastnn\n"
        "from fastnn import kernels\n"
        "fastnn.set_num_threads(1)\n"
        f"{call}\n"
        "from fastnn._cfastnn import lib\n"
        "print(lib.fnn_get_num_threads())\n"
    )
    assert run_py(code, OMP_NUM_THREADS="2") == "1"


def test_info_names_runtimes_without_a_none_version(capsys):
    """threadpoolctl reports libgomp as internal_api "openmp", version None: `fastnn info` printed
    "openmp None (openmp)"."""
    from fastnn.cli import main
    from fastnn.info import _runtime

    gomp = {"user_api": "openmp", "internal_api": "openmp", "prefix": "libgomp", "version": None}
    blas = {"user_api": "blas", "internal_api": "openblas", "prefix": "libopenblas", "version": "0.3.30"}
    assert _runtime(gomp) == "libgomp, version not reported (openmp)"
    assert _runtime(blas) == "openblas 0.3.30 (blas)"
    assert main(["info"]) == 0
    assert " None (" not in capsys.readouterr().out
