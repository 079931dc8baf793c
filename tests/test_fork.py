"""A process forked after fastnn ran multi-threaded kernels keeps working.

GNU OpenMP's thread pool does not survive fork(): without the guard in
csrc/runtime.c the child's first parallel region waits forever. multiprocessing's
default start method on Linux is fork, so this is what a Pool of workers hits.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import kernels
from fastnn.backends import c as cbackend

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's default only")

_RNG = np.random.default_rng(0)
A = _RNG.standard_normal((384, 384)).astype(np.float32)  # big enough to be split over threads
X = _RNG.standard_normal((2048, 128)).astype(np.float32)
W = (_RNG.standard_normal((128, 128)) * 0.1).astype(np.float32)
B = np.zeros(128, np.float32)


def _work(backend: str) -> list:
    return [kernels.gemm(A, A, backend=backend),
            kernels.dense_forward(X, W, B, "gelu", backend=backend),
            kernels.activation_forward(X, "tanh", backend=backend)]


def _child(backend: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastnn.set_num_threads(2)
    return (fastnn.get_num_threads(), int(cbackend.lib.fnn_in_forked_child()),
            [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)], _work(backend))


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_forked_children_run_single_threaded_and_agree(backend):
    if backend not in fastnn.available_backends():
        pytest.fail(f"backend {backend} should be available on the test machine")
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(2)
    try:
        parent = _work(backend)  # the parent's OpenMP / Numba pools now exist
        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map_async(_child, [backend] * 2).get(timeout=120)  # a hang fails here
        for threads, flag, warned, out in results:
            assert threads == 1 and flag == 1
            assert warned and "forked" in warned[0] and "spawn" in warned[0]
            for got, ref in zip(out, parent):
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
        # the parent is untouched
        assert fastnn.get_num_threads() == 2 and cbackend.lib.fnn_in_forked_child() == 0
        assert cbackend.lib.fnn_get_num_threads() == 2
    finally:
        fastnn.set_num_threads(before)


_SCRIPT = """
import multiprocessing as mp, sys, warnings
import numpy as np
import fastnn
from fastnn import kernels
fastnn.set_num_threads(2)
A = np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32)
X = np.random.default_rng(1).standard_normal((4096, 256)).astype(np.float32)
parent_used = sys.argv[1]
if parent_used == "numba":
    kernels.activation_forward(X, "tanh", backend="numba")  # Numba's pool, in the shared libgomp
REF = A.astype(np.float64) @ A

def child(_):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fastnn.set_num_threads(2)
    out = kernels.gemm(A, A, backend="c")
    assert np.allclose(out, REF, rtol=1e-4, atol=1e-3)
    return fastnn.get_num_threads(), len(caught)

if __name__ == "__main__":
    with mp.get_context("fork").Pool(1) as pool:
        print(*pool.map_async(child, [0]).get(timeout=120)[0])
"""


@pytest.mark.parametrize("parent_used,expect_threads,expect_warnings", [
    ("nothing", 2, 0),   # no OpenMP threads ran before fork: the child may start them
    ("numba", 1, 1),     # Numba's omp layer started libgomp's pool: C must stay on one thread
])
def test_fork_guard_applies_only_after_openmp_threads_ran(tmp_path, parent_used, expect_threads,
                                                          expect_warnings):
    import os
    import subprocess

    if parent_used == "numba" and "numba" not in fastnn.available_backends():
        pytest.fail("numba should be available on the test machine")
    script = tmp_path / "fork_child.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = subprocess.run([sys.executable, str(script), parent_used], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    threads, warned = map(int, run.stdout.split()[-2:])
    assert (threads, warned) == (expect_threads, expect_warnings)
