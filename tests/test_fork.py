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
