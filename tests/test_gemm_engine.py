"""The C matmul engine (csrc/gemm*.c) and the dense layers built on it.

Every shape class the engine treats differently: k = 1, m = 1, n = 1, primes (edge
tiles in both directions), sizes that are not multiples of the 12x32 / 12x16 (AVX-512),
6x16 / 6x8 (AVX2) and 6x8 / 6x4 (portable) register tiles, one larger than L2 (packed,
cache-blocked path) and the MLP shapes (unpacked path); every transpose combination;
alpha/beta (beta = 0 must ignore NaN in out); float32 and float64; on every ISA path
the CPU has (AVX-512F, AVX2+FMA, portable); on 1 and 2 threads.
Products are checked against float64 NumPy with an error bound scaled by
|A| |B| (summation order differs between paths); dense layers against the NumPy
reference backend.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastnn
from fastnn import backends, kernels

c_backend = pytest.importorskip("fastnn.backends.c")
lib = c_backend.lib

from conftest import ISAS  # noqa: E402, F401  (and the isa fixture: every ISA path this CPU runs)

#: bound on |C - C_ref| / (|A| |B| + |beta C| + 1): a few ulps of the accumulation
TOL = {np.float32: 3e-6, np.float64: 1e-14}

SHAPES = [  # (m, n, k)
    (1, 1, 1), (1, 97, 13), (97, 1, 13), (7, 13, 1), (13, 7, 37), (37, 97, 7),
    (6, 16, 8), (12, 32, 300), (5, 17, 513), (33, 10, 256), (64, 129, 65),
    (128, 10, 256), (600, 700, 300),
    # n = 1 (matrix-vector): big enough to split between threads; m > 512 runs the
    # transposed form's column blocks
    (3001, 1, 517), (700, 1, 1900),
    # a tall operand above GE_STREAM_BYTES (8 MB in float64; float32 stays below):
    # read unpacked, streamed into cache block by block
    (12000, 10, 100), (100, 10, 12000),
    # a row-major A above 4 MB with n > 256: packed by SIMD transposes (odd k tail)
    (1100, 300, 1001),
    # 2-row bottom tiles beside a narrow right strip, k = 2 and an even k
    (14, 3, 2), (8, 20, 64),
    # the 12-row AVX-512 tiles: 13-15 trailing rows (run as 9-11 + 4), right edges one
    # lane past a vector or a whole 32 / 16 strip, a full tile with k = 1
    (15, 33, 40), (14, 48, 19), (25, 31, 70), (12, 32, 1), (13, 17, 5), (27, 65, 129),
    # both operands packed (float32 AVX-512: row panels outer) with n beyond one B block
    # (1 MiB: 512 columns at k = 512) and a last strip narrower than a tile
    (200, 600, 512),
    # a right edge at most one vector wide (the half-width AVX-512 tiles: 4 columns past
    # 96), from a packed B (its zero padding read unmasked) and from B in place (masked)
    (200, 100, 600), (40, 100, 30),
]


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}thr")
def threads(request):
    backends.get("c")  # registered, so the thread knob reaches the C library
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(request.param)
    assert lib.fnn_get_num_threads() == request.param
    yield request.param
    fastnn.set_num_threads(before)


def _check_gemm(m, n, k, ta, tb, alpha, beta, dtype, rng):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy() if beta != 0 else np.full((m, n), np.nan, dtype)
    res = kernels.gemm(a, b, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta, out=out, backend="c")
    assert res is out
    A = a.astype(np.float64).T if ta else a.astype(np.float64)
    B = b.astype(np.float64).T if tb else b.astype(np.float64)
    ref = alpha * (A @ B) + beta * c0.astype(np.float64)
    bound = abs(alpha) * (np.abs(A) @ np.abs(B)) + abs(beta) * np.abs(c0) + 1.0
    err = np.abs(out - ref) / bound
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert np.all(np.isfinite(out)), "NaN/inf leaked into the result"
    assert err.max() < TOL[dtype], f"{m}x{n}x{k} ta={ta} tb={tb}: max rel err {err.max():.3g} at {worst}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k", SHAPES, ids=lambda s: str(s))
def test_gemm_shapes_transposes(m, n, k, dtype, isa, threads):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    for ta, tb in itertools.product((False, True), repeat=2):
        _check_gemm(m, n, k, ta, tb, 1.0, 0.0, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,n,k,alpha,beta", [
    (7, 13, 37, 0.5, 1.0), (37, 97, 7, -1.5, 0.25), (13, 50, 300, 2.0, -1.0), (37, 5, 7, 0.0, 0.5),
    (600, 700, 300, -1.5, 0.25), (1500, 1, 900, -1.5, 0.25)], ids=str)
def test_gemm_alpha_beta(m, n, k, alpha, beta, dtype, isa, threads):
    rng = np.random.default_rng(7)
    for ta, tb in itertools.product((False, True), repeat=2):
        _check_gemm(m, n, k, ta, tb, alpha, beta, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gemm_packed_b_misaligned_out(dtype, isa, threads):
    """A C that starts one element past a 64-byte boundary, with B packed and k cut in
    blocks: the packed B block then starts with a narrower strip (so that C's tiles are
    aligned), and its row-by-row packing fills that strip, the full ones and a partial
    last one (n = 528 float32 / 264 float64: rows a multiple of 64 bytes)."""
    rng = np.random.default_rng(17)
    m, n, k = 200, (528 if dtype == np.float32 else 264), 600
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    for beta in (0.0, 0.5):
        buf = np.zeros(m * n + 16, dtype)
        start = next(i for i in range(1, 17) if (buf[i:].ctypes.data % 64) != 0)
        out = buf[start:start + m * n].reshape(m, n)
        out[...] = c0
        kernels.gemm(a, b, beta=beta, out=out, backend="c")
        ref = a.astype(np.float64) @ b.astype(np.float64) + beta * c0.astype(np.float64)
        bound = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + beta * np.abs(c0) + 1.0
        assert (np.abs(out - ref) / bound).max() < TOL[dtype]
        assert buf[:start].max() == 0 and buf[start + m * n:].max() == 0, "wrote outside out"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gemm_narrow_outputs(dtype, isa, threads):
    """n = 2..12 columns (AVX2: the dot kernels for most of them, register tiles for the
    rest; AVX-512: dot kernels for all at k = 67, for n <= 9 at k = 32 and 45; m = 7:
    full tiles and single rows), single rows and pairs, k tails, B row-major (transposed into scratch) and
    stored transposed (read in place), alpha/beta."""
    rng = np.random.default_rng(11)
    for n, m, k, tb, (alpha, beta) in itertools.product(range(2, 13), (1, 2, 7), (32, 45, 67), (False, True),
                                                        ((1.0, 0.0), (-0.5, 0.75))):
        _check_gemm(m, n, k, False, tb, alpha, beta, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gemm_narrow_outputs_of_transposed_a(dtype, isa, threads):
    """X^T @ dY with n = 2..12 columns: the product runs transposed (n rows of register
    tiles) and, for tiles of 4 or 6 rows (AVX2) or any (AVX-512), is stored through
    register transposes; full and edge column strips (m = 64, 33; m = 90: a last
    float32 AVX-512 strip of 26 columns, 16 + 10), short and long k, alpha/beta."""
    rng = np.random.default_rng(13)
    for n, m, k, (alpha, beta) in itertools.product(range(2, 13), (33, 64, 90), (1, 8, 32, 67),
                                                    ((1.0, 0.0), (-0.5, 0.75))):
        _check_gemm(m, n, k, True, False, alpha, beta, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("batch", [32, 128])
@pytest.mark.parametrize("fan_in,fan_out", [(64, 128), (784, 512), (256, 10)])
def test_gemm_mlp_forms(batch, fan_in, fan_out, dtype, isa):
    """The three products of a dense layer: X@W, X^T@dY, dY@W^T."""
    rng = np.random.default_rng(batch + fan_in)
    _check_gemm(batch, fan_out, fan_in, False, False, 1.0, 0.0, dtype, rng)
    _check_gemm(fan_in, fan_out, batch, True, False, 1.0, 0.0, dtype, rng)
    _check_gemm(batch, fan_in, fan_out, False, True, 1.0, 0.0, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,k,n,ta", [(32, 64, 128, False), (38, 37, 10, False), (39, 45, 5, False),
                                      # AVX-512 dot kernels: 5 x 5 tiles, rows 35-37 alone
                                      (38, 70, 10, False),
                                      (33, 64, 20, True),
                                      # ten outputs of X^T dY: 32 rows run transposed, 31
                                      # (float32) as they are
                                      (32, 32, 10, True), (17, 32, 10, True),
                                      (200, 300, 70, False),
                                      # 2 threads split the rows 96 + 94: B is packed (k blocked
                                      # at 256) for one half only unless k's blocking ignores it
                                      (190, 300, 100, False), (190, 300, 100, True),
                                      # n = 1: AVX-512 row groups of 8 / 16 with a partial last
                                      # group, a k tail, k below one vector, 2 threads' row blocks
                                      (37, 30, 1, False), (21, 7, 1, False), (190, 45, 1, False),
                                      # n = 1 with A stored transposed: sums held in registers,
                                      # 16 vectors a block (300 rows: a second, partial block)
                                      (37, 30, 1, True), (300, 20, 1, True)])
def test_gemm_rows_do_not_depend_on_their_position(m, k, n, ta, dtype, isa, threads):
    """Each row of op(A) @ B is bitwise the same wherever it sits (a full register
    tile, an edge tile, another thread's block): predictions must not depend on the
    order of the samples (scikit-learn's check_methods_sample_order_invariance)."""
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    perm = rng.permutation(m)

    def product(rows):
        stored = np.ascontiguousarray(rows.T) if ta else rows  # ta: op(A) = A^T, A stored [k, m]
        return kernels.gemm(stored, b, trans_a=ta, backend="c")

    np.testing.assert_array_equal(product(a)[perm], product(a[perm]))
    np.testing.assert_array_equal(product(a)[1:], product(a[1:]))  # every row moves to another tile slot


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("m,k,n,ta", [
    (200, 784, 100, False),  # a row-major A cut in k blocks (> 512), B of 200 rows
    (130, 600, 70, False),   # the same with edge tiles both ways
    (784, 200, 100, True),   # X^T dY: a transposed A under many strips of C
    (300, 45, 131, True),
    (256, 256, 256, False),  # a float32 B of 192-511 rows
])
def test_gemm_packing_plans_agree(m, k, n, ta, dtype):
    """The AVX-512 tile's two packing plans (set_in_place_reuse: Xeon's, which packs
    re-read operands, and Zen 5's, which reads them in place) give the same bits, and
    both the product."""
    if not lib.fnn_cpu_has_avx512f():
        pytest.skip("this CPU has no AVX-512F")
    backends.get("c")
    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    before = (lib.fnn_get_isa(), c_backend.get_in_place_reuse(), fastnn.get_num_threads())
    outs = []
    try:
        lib.fnn_set_isa(2)
        fastnn.set_num_threads(1)
        for plan in (False, True):
            c_backend.set_in_place_reuse(plan)
            assert c_backend.get_in_place_reuse() == plan
            outs.append(kernels.gemm(a, b, trans_a=ta, backend="c"))
    finally:
        lib.fnn_set_isa(before[0])
        c_backend.set_in_place_reuse(before[1])
        fastnn.set_num_threads(before[2])
    np.testing.assert_array_equal(outs[0], outs[1])
    with pytest.raises(TypeError, match="on must be a bool"):
        c_backend.set_in_place_reuse("yes")
    A = a.astype(np.float64).T if ta else a.astype(np.float64)
    ref, bound = A @ b.astype(np.float64), np.abs(A) @ np.abs(b.astype(np.float64)) + 1.0
    assert (np.abs(outs[0] - ref) / bound).max() < TOL[dtype]


def test_gemm_threads_agree(isa):
    """1 and 2 threads give the same product up to summation order."""
    backends.get("c")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((301, 517)).astype(np.float32)
    b = rng.standard_normal((517, 263)).astype(np.float32)
    before = fastnn.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            fastnn.set_num_threads(t)
            assert lib.fnn_get_num_threads() == t
            outs.append(kernels.gemm(a, b, backend="c"))
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("ta,tb", [(True, False), (np.True_, np.False_), (1, 0), (False, True), (np.False_, 1)])
def test_backend_gemm_takes_its_flags_as_bools_or_0_1(ta, tb):
    # the C wrapper hands the flags to cffi as they are (no int() per call): a NumPy bool or
    # 0 / 1 must transpose exactly as True / False do
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    out = np.full((3, 3), np.nan)
    c_backend.gemm(out, a, b, ta, tb, 1.0, 0.0)
    want = (a.T if ta else a) @ (b.T if tb else b)
    np.testing.assert_allclose(out, want, rtol=1e-13)


# ---------------------------------------------------------------------- dense layers

ACTS = sorted(kernels.ACTIVATIONS)
DENSE_SHAPES = [(1, 1, 1), (7, 13, 5), (9, 40, 5), (32, 64, 128), (37, 97, 10), (200, 70, 300), (4000, 300, 1),
                (256, 512, 600)]


def _dense_inputs(n, i, o, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, i)).astype(dtype)
    w = (rng.standard_normal((i, o)) / np.sqrt(i)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    dout = rng.standard_normal((n, o)).astype(dtype)
    return x, w, b, dout


def _tol(dtype, k):
    return (2e-5 * max(1.0, np.sqrt(k)), 2e-5 * max(1.0, np.sqrt(k))) if dtype == np.float32 else (1e-11, 1e-11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_dense_forward_backward(act, shape, dtype, isa, threads):
    n, i, o = shape
    x, w, b, dout = _dense_inputs(n, i, o, dtype, seed=n + 31 * i + 7 * o)
    rtol, atol = _tol(dtype, i)
    z_ref = np.empty((n, o), dtype)
    y_ref = kernels.dense_forward(x, w, b, act, preact=z_ref, backend="numpy")
    # without and with the pre-activation buffer (different C paths)
    y = kernels.dense_forward(x, w, b, act, backend="c")
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol, err_msg=f"forward {act}")
    z = np.full((n, o), np.nan, dtype)
    y2 = kernels.dense_forward(x, w, b, act, preact=z, backend="c")
    np.testing.assert_allclose(y2, y_ref, rtol=rtol, atol=atol, err_msg=f"forward+preact {act}")
    np.testing.assert_allclose(z, z_ref, rtol=rtol, atol=atol, err_msg=f"preact {act}")

    rtol_b, atol_b = _tol(dtype, max(n, o))
    ref = kernels.dense_backward(dout, x, w, act, y=y_ref, z=z_ref, backend="numpy")
    got = kernels.dense_backward(dout.copy(), x, w, act, y=y_ref, z=z_ref, backend="c")
    for name, g, r in zip(("dx", "dw", "db"), got, ref):
        np.testing.assert_allclose(g, r, rtol=rtol_b, atol=atol_b, err_msg=f"backward {act} {name}")
    # dz may alias dout (overwritten), and dx may be skipped
    d2 = dout.copy()
    dx, dw, db = kernels.dense_backward(d2, x, w, act, y=y_ref, z=z_ref, dz=d2, need_dx=False, backend="c")
    assert dx is None
    np.testing.assert_allclose(dw, ref[1], rtol=rtol_b, atol=atol_b, err_msg=f"aliased dz {act} dw")
    np.testing.assert_allclose(db, ref[2], rtol=rtol_b, atol=atol_b, err_msg=f"aliased dz {act} db")


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "softmax", "gelu"])
def test_dense_large_row_blocks(act, isa):
    """Batches spanning several row blocks (activation applied block by block)."""
    x, w, b, dout = _dense_inputs(517, 200, 300, np.float32, seed=5)
    before = fastnn.get_num_threads()
    try:
        for t in (1, 2):
            fastnn.set_num_threads(t)
            y_ref = kernels.dense_forward(x, w, b, act, backend="numpy")
            y = kernels.dense_forward(x, w, b, act, backend="c")
            np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
            ref = kernels.dense_backward(dout, x, w, act, y=y_ref, z=x @ w + b, backend="numpy")
            got = kernels.dense_backward(dout, x, w, act, y=y_ref, z=x @ w + b, backend="c")
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-3)
    finally:
        fastnn.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("act", ACTS)
def test_dense_rows_do_not_depend_on_their_position(act, dtype, isa, threads):
    """A row of dense_forward is bitwise the same wherever it sits in the batch, and
    computed alone. 420 rows of 100 outputs are two row blocks (408 + 12) for the
    activations applied block by block; 190 rows are split 96 + 94 over 2 threads.
    With k = 300 the engine kept k whole for unpacked blocks but cut it at 256 for
    packed ones (>= 96 rows), so the rows of the short block or half summed in
    another order than the others."""
    for n in (420, 190):
        x, w, b, _ = _dense_inputs(n, 300, 100, dtype, seed=n)
        perm = np.random.default_rng(n).permutation(n)
        y = kernels.dense_forward(x, w, b, act, backend="c")
        np.testing.assert_array_equal(y[perm], kernels.dense_forward(x[perm], w, b, act, backend="c"))
        for r in (0, n // 2, n - 1):
            np.testing.assert_array_equal(y[r:r + 1], kernels.dense_forward(x[r:r + 1], w, b, act, backend="c"))


def test_dense_relu_propagates_nan(isa):
    """The fused ReLU keeps NaN like np.maximum (a diverging net must show it)."""
    x = np.ones((6, 3), np.float32)
    x[2, 1] = np.nan
    w = np.ones((3, 16), np.float32)
    y = kernels.dense_forward(x, w, np.zeros(16, np.float32), "relu", backend="c")
    assert np.isnan(y[2]).all() and np.isfinite(np.delete(y, 2, axis=0)).all()


@pytest.mark.skipif(not (lib.fnn_cpu_has_avx2_fma() and lib.fnn_cpu_has_avx512f()), reason="needs AVX2 and AVX-512F")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("act", ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "elu", "softmax", "gelu"])
def test_dense_backward_dz_db_same_bits_avx2_avx512(act, dtype):
    """dz = dout * act' and the bias gradient run on 512-bit vectors at the AVX-512 level:
    elementwise, with db's sums in the same row order, so bitwise the AVX2 results
    (rows of 1..40 outputs: whole vectors, tails and a row narrower than one vector)."""
    before = lib.fnn_get_isa()
    try:
        for n, o in ((32, 128), (7, 13), (5, 40), (3, 1)):
            x, w, b, dout = _dense_inputs(n, 9, o, dtype, seed=o)
            y = kernels.dense_forward(x, w, b, act, backend="numpy")
            z = (x @ w + b).astype(dtype)
            out = {}
            for level in (1, 2):
                assert lib.fnn_set_isa(level) == level
                dz = np.empty_like(dout)
                _, _, db = kernels.dense_backward(dout, x, w, act, y=y, z=z, dz=dz, backend="c")
                out[level] = (dz if act != "identity" else dout, db)
            for a, c in zip(out[1], out[2]):
                np.testing.assert_array_equal(a, c, err_msg=f"{act} n={n} o={o}")
    finally:
        lib.fnn_set_isa(before)
