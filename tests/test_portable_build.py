"""The C extension also builds without x86 SIMD and without OpenMP, and computes the same.

That is the build a non-x86 CPU (ARM Linux, Apple silicon) or a compiler without
OpenMP (Apple's clang) gets: csrc/internal.h compiles no intrinsics when FNN_X86 is 0,
and fastnn/_cffi_build.py drops -fopenmp when its probe fails. This machine is x86-64
with OpenMP, so the test forces both with FASTNN_PORTABLE_BUILD=1 and
FASTNN_NO_OPENMP=1, builds a private copy (a few seconds) and runs a few
kernels of that copy against NumPy in a subprocess.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = textwrap.dedent("""
    import glob, importlib.util, sys
    import numpy as np
    path = glob.glob("fastnn/_cfastnn*.so")[0]
    spec = importlib.util.spec_from_file_location("_cfastnn", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ffi, lib = mod.ffi, mod.lib
    assert lib.fnn_cpu_has_avx2_fma() == 0, "portable build must not offer AVX2"
    assert lib.fnn_openmp_version() == 0, "built without OpenMP"
    assert lib.fnn_set_isa(1) == 0, "asking for AVX2 must fall back to the generic path"
    assert lib.fnn_cpu_has_avx512f() == 0 and lib.fnn_set_isa(2) == 0, "nor AVX-512"
    rng = np.random.default_rng(0)
    p = lambda t, a: ffi.from_buffer(t + "[]", a)
    for dt, t, tol in ((np.float32, "float", 1e-4), (np.float64, "double", 1e-12)):
        for (m, n, k) in ((1, 1, 1), (37, 97, 13), (64, 129, 300), (1100, 300, 1001)):  # last: packed A and B^T
            for ta in (0, 1):
                for tb in (0, 1):
                    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
                    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
                    c = np.full((m, n), np.nan, dt)
                    getattr(lib, "fnn_gemm_" + ("f32" if dt == np.float32 else "f64"))(
                        p(t, c), p(t, a), p(t, b), m, n, k, ta, tb, 1.0, 0.0)
                    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
                    err = np.max(np.abs(c - ref)) / (np.max(np.abs(ref)) + 1)
                    assert err < tol, (dt, m, n, k, ta, tb, err)
        # dense forward with bias + ReLU fused, and the row max of softmax-xent
        x = rng.standard_normal((33, 20)).astype(dt)
        w = rng.standard_normal((20, 7)).astype(dt)
        bias = rng.standard_normal(7).astype(dt)
        out = np.empty((33, 7), dt)
        sfx = "f32" if dt == np.float32 else "f64"
        getattr(lib, "fnn_dense_forward_" + sfx)(p(t, out), ffi.NULL, p(t, x), p(t, w), p(t, bias),
                                                 33, 20, 7, 1, 0.0)
        ref = np.maximum(x.astype(np.float64) @ w + bias, 0)
        assert np.max(np.abs(out - ref)) < tol * 10, "dense_forward"
        logits = (rng.standard_normal((9, 5)) * 30).astype(dt)
        labels = rng.integers(0, 5, 9).astype(np.int32)
        dl = np.empty_like(logits)
        loss = getattr(lib, "fnn_softmax_xent_" + sfx)(p(t, dl), p(t, logits), ffi.from_buffer("int32_t[]", labels), 9, 5)
        z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
        ref_loss = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(9), labels])
        assert abs(loss - ref_loss) < 1e-4 * (1 + abs(ref_loss)), "softmax_xent"
    print("portable build OK")
""")


@pytest.fixture(scope="module")
def portable_build(tmp_path_factory):
    """A private copy of csrc/ and the cffi builder, built portable and OpenMP-free."""
    if not os.path.isdir(os.path.join(ROOT, "csrc")):
        pytest.fail("csrc/ not found next to tests/: run the tests from a source checkout")
    tmp = tmp_path_factory.mktemp("portable")
    shutil.copytree(os.path.join(ROOT, "csrc"), tmp / "csrc")
    (tmp / "fastnn").mkdir()
    shutil.copy(os.path.join(ROOT, "fastnn", "_cffi_build.py"), tmp / "fastnn" / "_cffi_build.py")
    env = dict(os.environ, FASTNN_PORTABLE_BUILD="1", FASTNN_NO_OPENMP="1")
    build = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'fastnn'); import _cffi_build as b; "
                               "b.ffibuilder.compile(tmpdir='.', verbose=False)"],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"portable build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    return tmp


def test_portable_build_has_no_simd_no_openmp_and_matches_numpy(portable_build):
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=portable_build, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "portable build OK" in run.stdout


def test_portable_flags_reach_the_compiler(monkeypatch):
    """The builder turns the two knobs into flags (and keeps the forbidden ones out)."""
    import importlib

    monkeypatch.setenv("FASTNN_PORTABLE_BUILD", "1")
    monkeypatch.setenv("FASTNN_NO_OPENMP", "1")
    sys.path.insert(0, os.path.join(ROOT, "fastnn"))
    try:
        b = importlib.import_module("_cffi_build")
        b = importlib.reload(b)
    finally:
        sys.path.pop(0)
        sys.modules.pop("_cffi_build", None)
    assert "-DFNN_PORTABLE_ONLY" in b.COMPILE_ARGS
    assert "-fopenmp" not in b.COMPILE_ARGS and "-fopenmp" not in b.LINK_ARGS
    for bad in ("-ffast-math", "-Ofast", "-march=native"):
        assert bad not in b.COMPILE_ARGS
