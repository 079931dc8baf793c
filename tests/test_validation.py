"""Bad input gets a clear exception naming the argument; nothing reaches C unchecked."""
from __future__ import annotations

import math
import re
import sys

import numpy as np
import pytest

import fastnn
from fastnn import kernels as K

f32, f64 = np.float32, np.float64


def z(*shape, dtype=f64):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: K.gemm(z(2, 3), z(4, 5)), ValueError, "inner dimensions"),
    (lambda: K.gemm(z(2, 3), z(3, 5, dtype=f32)), TypeError, "b has dtype float32"),
    (lambda: K.gemm(np.zeros((2, 3), int), z(3, 5)), TypeError, "a must be float32 or float64"),
    (lambda: K.gemm(z(2, 3).astype(complex), z(3, 5)), TypeError, "a must be float32"),
    (lambda: K.gemm(z(3), z(3, 5)), ValueError, "a must be 2-D"),
    (lambda: K.gemm(z(2, 3), z(3, 5), beta=1.0), ValueError, "beta != 0 needs out"),
    (lambda: K.gemm(z(2, 3), z(3, 5), out=z(2, 4)), ValueError, "out must have shape"),
    (lambda: K.gemm(z(2, 3), z(3, 5), out=z(2, 5, dtype=f32)), TypeError, "out must have dtype"),
    (lambda: K.gemm(z(2, 3), z(3, 5), out=z(5, 2).T), ValueError, "C-contiguous"),
    (lambda: K.gemm(z(2, 3), z(3, 5), out=[[0.0] * 5] * 2), TypeError, "out must be a numpy.ndarray"),
    (lambda: K.gemm(z(2, 3), z(3, 5), alpha=float("nan")), ValueError, "alpha must be a finite number"),
    (lambda: K.gemm(z(2, 3), z(3, 5), backend="cuda"), ValueError, "backend must be one of"),
    (lambda: K.dense_forward(z(2, 3), z(4, 5), z(5), "relu"), ValueError, "w must have 3 rows"),
    (lambda: K.dense_forward(z(2, 3), z(3, 5), z(4), "relu"), ValueError, "b must have 5 elements"),
    (lambda: K.dense_forward(z(2, 3), z(3, 5), z(5), "swish"), ValueError, "activation must be one of"),
    (lambda: K.dense_forward(z(2, 3), z(3, 5), z(5), "leaky_relu", param=-0.5), ValueError, "param .the leaky_relu"),
    (lambda: K.activation_backward(z(2, 2), "elu", y=z(2, 2), param=-1.0), ValueError, "param .the elu alpha"),
    (lambda: K.dense_backward(z(2, 5), z(2, 3), z(3, 5), "relu"), ValueError, "y .the forward output. is required"),
    (lambda: K.dense_backward(z(2, 5), z(2, 3), z(3, 5), "gelu"), ValueError, "z .the pre-activation. is required"),
    (lambda: K.dense_backward(z(2, 5), z(3, 3), z(3, 5), "identity"), ValueError, "x must have 2 rows"),
    (lambda: K.activation_backward(z(2, 2), "tanh", y=z(3, 2)), ValueError, "y must have shape"),
    (lambda: K.softmax_xent(z(3, 4), [0, 1, 4]), ValueError, r"labels must lie in \[0, 4\)"),
    (lambda: K.softmax_xent(z(3, 4), [0, 1, -1]), ValueError, "labels must lie"),
    (lambda: K.softmax_xent(z(3, 4), [0.0, 1.0, 2.0]), TypeError, "labels must be integers"),
    (lambda: K.softmax_xent(z(3, 4), [0, 1]), ValueError, r"labels must have shape \(3,\)"),
    (lambda: K.softmax_xent(z(0, 4), []), ValueError, "at least one row"),
    (lambda: K.mse(z(3, 2), z(3, 3)), ValueError, "target must have the shape"),
    (lambda: K.sigmoid_bce(z(3), z(3, dtype=f32)), TypeError, "targets has dtype"),
    (lambda: K.sgd_update(z(4), z(5), lr=0.1), ValueError, "grads must have the shape"),
    (lambda: K.sgd_update(z(4), z(4), lr=-0.1), ValueError, "lr must be a finite number >= 0"),
    (lambda: K.sgd_update(z(4), z(4), lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
    (lambda: K.gemm(z(2, 3), z(2, 5), trans_a="no"), TypeError, "trans_a must be True or False, got 'no'"),
    (lambda: K.softmax_xent(z(2, 3), np.zeros(2, np.int32), grad="no"), TypeError, "grad must be True or False"),
    (lambda: K.dense_backward(z(2, 5), z(2, 3), z(3, 5), "identity", need_dx=2), TypeError, "need_dx must be True"),
    (lambda: K.momentum_update(z(4), z(4), z(4), lr=0.1, nesterov="no"), TypeError, "nesterov must be True or False"),
    (lambda: K.sgd_update([0.0] * 4, z(4), lr=0.1), TypeError, "params must be a numpy.ndarray"),
    (lambda: K.momentum_update(z(4), z(4), z(4, dtype=f32), lr=0.1), TypeError, "velocity must have dtype"),
    (lambda: K.momentum_update(z(4), z(4), z(4), lr=0.1, momentum=1.5), ValueError, "momentum must be"),
    (lambda: K.adam_update(z(4), z(4), z(4), z(4), lr=0.1, step=0), ValueError, "step must be an int >= 1"),
    (lambda: K.adam_update(z(4), z(4), z(4), z(4), lr=0.1, step=1, beta1=1.0), ValueError, r"beta1 must be a finite number >= 0.0 and < 1.0"),
    (lambda: K.adagrad_update(z(4), z(4), z(4), lr=0.1, eps=0.0), ValueError, "eps must be a finite number > 0"),
    (lambda: K.dropout_forward(z(4), 1.0, seed=0, step=0), ValueError, r"p must be in \[0, 1\)"),
    (lambda: K.dropout_forward(z(4), 0.5, seed=-1, step=0), ValueError, "seed must be a non-negative int"),
    # the mask key is 64-bit: 2**64 + 5 gave seed 5's mask without a word
    (lambda: K.dropout_forward(z(4), 0.5, seed=2**64 + 5, step=0), ValueError, "seed must be .* below 2\\*\\*64"),
    (lambda: K.dropout_mask(4, 0.5, seed=0, step=2**64), ValueError, "step must be .* below 2\\*\\*64"),
    # float() errors that named nothing ("could not convert string to float: 'x'")
    (lambda: K.dense_forward(z(2, 3), z(3, 4), z(4), "elu", param="x"), TypeError, "param must be a real number"),
    (lambda: K.activation_forward(z(3), "leaky_relu", param=[0.1]), TypeError, "param must be a real number"),
    # a 0-d x / dy: the error named out (or y), which only take their shape from it
    (lambda: K.activation_forward(z(), "relu"), ValueError, "^x must have at least one dimension"),
    (lambda: K.activation_backward(z(), "relu", y=z()), ValueError, "^dy must have at least one dimension"),
    # a Python or NumPy scalar: np.ascontiguousarray made it shape (1,), returned as such
    (lambda: K.activation_forward(2.0, "relu"), ValueError, "^x must have at least one dimension"),
    (lambda: K.activation_forward(np.float64(2.0), "relu"), ValueError, "^x must have at least one dimension"),
    # np.prod((-2, 3)) > 0 would not catch (-2, -3); (-2, 3) returned an empty mask
    (lambda: K.dropout_mask((-2, 3), 0.5, seed=0, step=0), ValueError, "shape must be"),
    (lambda: K.dropout_mask((-2, -3), 0.5, seed=0, step=0), ValueError, "shape must be"),
    # np.asarray keeps the values under the mask and drops the mask
    (lambda: K.activation_forward(np.ma.masked_less(np.arange(4.0), 1.0), "relu"), TypeError,
     "x is a masked array with masked values"),
    (lambda: K.sgd_update(z(4), np.ma.masked_less(np.arange(4.0), 1.0), lr=0.1), TypeError,
     "grads is a masked array"),
    (lambda: K.softmax_xent(z(3, 2), np.ma.masked_equal([0, 1, 1], 0)), TypeError, "labels is a masked array"),
])
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_masked_arrays_without_masked_values_are_plain_input():
    x = np.ma.masked_array(np.arange(-2.0, 2.0))
    np.testing.assert_array_equal(K.activation_forward(x, "relu"), [0, 0, 0, 1])


def test_aliased_outputs_are_rejected():
    a = np.ones((4, 4))
    with pytest.raises(ValueError, match="out overlaps a"):
        K.gemm(a, a, out=a)
    p = np.ones(8)
    with pytest.raises(ValueError, match="grads overlaps params"):
        K.sgd_update(p, p, lr=0.1)
    m = np.zeros(8)
    with pytest.raises(ValueError, match="v overlaps m"):
        K.adam_update(p, np.ones(8), m, m, lr=0.1, step=1)
    x, w, b = np.ones((3, 2)), np.ones((2, 2)), np.ones(2)
    with pytest.raises(ValueError, match="out overlaps x"):
        K.dense_forward(x, w, b, "relu", out=x.reshape(3, 2)[:, :].view())


def test_outputs_overlapping_labels_or_epoch_data_are_rejected():
    # both crashed the process: the kernel read the written floats back as indices
    n, k = 64, 4
    buf = np.zeros(n * k, np.float32)
    with pytest.raises(ValueError, match="out overlaps labels"):
        K.softmax_xent(np.ones((n, k), np.float32), buf[-n:].view(np.int32), out=buf.reshape(n, k))
    sizes, size = [3, 4, 2], 3 * 4 + 4 * 2 + 4 + 2
    idx = np.zeros(201, np.int64)
    with pytest.raises(ValueError, match="batch_losses overlaps perm"):
        K.train_epoch(np.zeros(size), np.zeros(size), np.zeros((0, size)), np.ones((10, 3)), np.arange(10) % 2,
                      idx[:200], sizes=sizes, activation="relu", loss="softmax_xent", optimizer="sgd", lr=0.1,
                      step=0, batch_size=1, batch_losses=idx[1:].view(np.float64))


def test_documented_in_place_aliases_work():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    want = np.tanh(x)
    assert K.activation_forward(x, "tanh", out=x) is x
    np.testing.assert_allclose(x, want)
    y = np.ones(10)
    assert K.dropout_forward(y, 0.5, seed=1, step=0, out=y) is y


def test_documented_in_place_aliases_work_on_memmaps(tmp_path):
    # the alias was recognised after the input was converted, and np.asarray turns a
    # memmap (any ndarray subclass) into a new object: "out overlaps x" was raised
    def mm(name):
        a = np.memmap(tmp_path / name, dtype=np.float64, mode="w+", shape=(3, 4))
        a[...] = np.linspace(-2, 2, 12).reshape(3, 4)
        return a

    x = mm("x")
    assert K.activation_forward(x, "relu", out=x) is x
    np.testing.assert_array_equal(x, np.maximum(np.linspace(-2, 2, 12).reshape(3, 4), 0))
    dy = mm("dy")
    assert K.activation_backward(dy, "relu", y=np.ones((3, 4)), out=dy) is dy
    d = mm("d")
    assert K.dropout_forward(d, 0.5, seed=1, step=0, out=d) is d
    dout = mm("dout")
    _, dw, _ = K.dense_backward(dout, np.ones((3, 2)), np.ones((2, 4)), "relu", y=np.ones((3, 4)), dz=dout)
    np.testing.assert_allclose(dw, np.ones((2, 3)) @ np.linspace(-2, 2, 12).reshape(3, 4))


@pytest.mark.parametrize("backend", fastnn.backends.available())
def test_in_place_buffers_are_still_checked_as_outputs(backend):
    # out=x / out=dy / dz=dout skip the overlap test with that one input, not the others:
    # a read-only array (here over an immutable bytes object) was written by C, and a
    # read-only mmap crashed the process
    data = np.full(8, -1.0).tobytes()
    ro = np.frombuffer(data, dtype=np.float64).reshape(2, 4)
    for call in (lambda: K.activation_forward(ro, "relu", out=ro, backend=backend),
                 lambda: K.activation_backward(ro, "relu", y=np.zeros((2, 4)), out=ro, backend=backend),
                 lambda: K.dropout_forward(ro, 0.5, seed=0, step=0, out=ro, backend=backend),
                 lambda: K.dense_backward(ro, np.ones((2, 3)), np.ones((3, 4)), "relu", y=np.zeros((2, 4)), dz=ro,
                                          backend=backend)):
        with pytest.raises(ValueError, match="must be writeable"):
            call()
    assert data == np.full(8, -1.0).tobytes()
    # partial overlaps with the arrays read after the in-place write are rejected
    buf = np.linspace(-1, 1, 65)
    dy = buf[1:].reshape(8, 8)
    with pytest.raises(ValueError, match="out overlaps y"):
        K.activation_backward(dy, "sigmoid", y=buf[:64].reshape(8, 8), out=dy, backend=backend)
    buf = np.linspace(-1, 1, 16 * 8 + 3)
    dout, x = buf[:128].reshape(16, 8), buf[3:131].reshape(16, 8)
    with pytest.raises(ValueError, match="dz overlaps x"):
        K.dense_backward(dout, x, np.ones((8, 8)), "identity", dz=dout, backend=backend)


def test_non_contiguous_inputs_are_copied_not_rejected():
    rng = np.random.default_rng(0)
    big = rng.standard_normal((10, 12))
    a = big[::2, ::3]  # strided view
    b = rng.standard_normal((4, 5))
    np.testing.assert_allclose(K.gemm(a, b), a @ b, rtol=1e-12)
    before = big.copy()
    K.activation_forward(a, "relu")
    np.testing.assert_array_equal(big, before)  # the user's array is untouched


def test_array_likes_and_integer_labels_are_accepted():
    loss, g = K.softmax_xent([[1.0, 2.0], [0.5, 0.1]], np.array([1, 0], dtype=np.int64))
    assert np.isfinite(loss) and g.shape == (2, 2) and g.dtype == np.float64


@pytest.mark.parametrize("backend", fastnn.backends.available())
def test_byte_swapped_inputs_are_converted_and_in_place_buffers_rejected(backend):
    # '>f4' has dtype.char 'f' like float32: C must not read its bytes as native floats
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    sw = lambda a: a.astype(">f8")  # noqa: E731
    np.testing.assert_allclose(K.gemm(sw(x), sw(w), backend=backend), x @ w, rtol=1e-12)
    np.testing.assert_allclose(K.dense_forward(sw(x), sw(w), sw(b), "identity", backend=backend), x @ w + b,
                               rtol=1e-12)
    np.testing.assert_allclose(K.activation_forward(sw(x), "relu", backend=backend), np.maximum(x, 0))
    assert K.l1_penalty(sw(x), backend=backend) == pytest.approx(np.abs(x).sum(), rel=1e-12)
    assert K.mse(sw(x), x, backend=backend)[0] == pytest.approx(0.0)
    p, g = np.ones(5), np.ones(5)
    with pytest.raises(TypeError, match="params must be float32 or float64"):
        K.sgd_update(sw(p), g, lr=0.1, backend=backend)
    K.sgd_update(p, sw(g), lr=0.1, backend=backend)  # a byte-swapped input is fine
    np.testing.assert_allclose(p, 0.9)


def test_empty_arrays_are_fine():
    assert K.gemm(z(0, 3), z(3, 4)).shape == (0, 4)
    assert K.activation_forward(z(0, 5), "relu").shape == (0, 5)
    dx, dw, db = K.dense_backward(z(0, 3), z(0, 2), z(2, 3), "identity")
    assert (dw == 0).all() and (db == 0).all() and dx.shape == (0, 2)


# ---- the per-call fast paths (exact floats and bools, plain native float arrays) take the
# common case early; every other value must still meet the general checks


def test_scalar_fast_paths_keep_every_check():
    class Half(float):  # a float subclass: converted to a plain float, as before
        pass

    v = K.check_real("alpha", Half(0.5))
    assert v == 0.5 and type(v) is float
    for value in (np.float32(0.5), np.float64(0.5), np.int64(2), 3, True):
        assert type(K.check_real("alpha", value)) is float
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=f"^alpha must be a finite number, got {bad!r}$"):
            K.check_real("alpha", bad)
        with pytest.raises(ValueError, match="^lr must be a finite number >= 0.0"):
            K.sgd_update(z(4), z(4), lr=bad)
    # the ranges apply to exact floats as to any other number
    with pytest.raises(ValueError, match="^lr must be a finite number >= 0.0, got -1e-300$"):
        K.sgd_update(z(4), z(4), lr=-1e-300)
    with pytest.raises(ValueError, match="^eps must be a finite number > 0.0, got 0.0$"):
        K.adagrad_update(z(4), z(4), z(4), lr=0.1, eps=0.0)
    with pytest.raises(ValueError, match=r"^beta2 must be a finite number >= 0.0 and < 1.0, got 1.0$"):
        K.adam_update(z(4), z(4), z(4), z(4), lr=0.1, step=1, beta2=1.0)
    with pytest.raises(ValueError, match="^param must be a finite number, got nan$"):
        K.dense_forward(z(2, 3), z(3, 4), z(4), "leaky_relu", param=float("nan"))
    for value, want in ((True, True), (False, False), (np.True_, True), (np.False_, False), (1, True),
                        (np.int8(0), False)):
        got = K.check_bool("flag", value)
        assert got is want
    for bad in (2, 1.0, "yes", None):
        with pytest.raises(TypeError, match="^flag must be True or False"):
            K.check_bool("flag", bad)


@pytest.mark.parametrize("name", ["lr", "l2", "l1", "weight_decay"])
def test_penalty_fast_path_accepts_exactly_what_check_real_accepts(name):
    # _penalties takes four exact floats in [0, largest float] in one test: the same answer
    # as check_real against each one's HYPERPARAMETERS range, at and beyond every edge
    big = sys.float_info.max
    for value in (0.0, -0.0, 5e-324, 1e-3, big, -5e-324, -1.0, math.inf, -math.inf, math.nan, np.float64(0.5), 2,
                  True, "0.1", None):
        kw = {"lr": 1e-3, name: value}
        p = np.zeros(3)
        try:
            want = K.check_real(name, value, K.HYPERPARAMETERS[name])
        except (TypeError, ValueError) as exc:
            with pytest.raises(type(exc), match=f"^{re.escape(str(exc))}$"):
                K.sgd_update(p, np.zeros(3), **kw)
            continue
        assert K._penalties(**{"lr": 1e-3, "l2": 0.0, "l1": 0.0, "weight_decay": 0.0, name: value}) == \
            tuple(want if k == name else kw.get(k, 0.0) for k in ("lr", "l2", "l1", "weight_decay"))
        K.sgd_update(p, np.zeros(3), **kw)  # accepted by the kernel too


def test_int_fast_paths_keep_the_type_checks():
    # an exact int skips the type tests of adam's step and dropout's seed / step: bools,
    # floats and strings are still refused, NumPy integers still accepted
    z4 = lambda: np.zeros(4)  # noqa: E731
    for bad in (True, 1.0, "1", None, 0, -2):
        with pytest.raises(ValueError, match="^step must be an int >= 1"):
            K.adam_update(z4(), z4(), z4(), z4(), lr=0.1, step=bad)
    K.adam_update(z4(), z4(), z4(), z4(), lr=0.1, step=np.int64(3))
    for bad in (True, 1.0, "1", None, -1, 2**64):
        with pytest.raises(ValueError, match="^seed must be a non-negative int below 2\\*\\*64"):
            K.dropout_forward(z4(), 0.5, seed=bad, step=0)
        with pytest.raises(ValueError, match="^step must be a non-negative int below 2\\*\\*64"):
            K.dropout_forward(z4(), 0.5, seed=0, step=bad)
    np.testing.assert_array_equal(K.dropout_forward(np.ones(64), 0.5, seed=np.uint64(2**64 - 1), step=np.int8(3)),
                                  K.dropout_forward(np.ones(64), 0.5, seed=2**64 - 1, step=3))


def test_label_extremes_are_found_anywhere():
    logits = np.zeros((5, 4), f32)
    for bad in ([4, 0, 1, 2, 3], [0, 1, -1, 2, 3], [0, 1, 2, 3, 9], [-3, 0, 0, 0, 0]):
        with pytest.raises(ValueError, match=r"^labels must lie in \[0, 4\)"):
            K.softmax_xent(logits, np.array(bad, np.int32))
    strided = np.array([0, 7, 1, 7, 2, 7, 3, 7, 3], np.int64)[::2]  # the 7s are skipped
    loss, _ = K.softmax_xent(logits, strided)
    assert loss == pytest.approx(np.log(4))
    with pytest.raises(ValueError, match=r"^labels must lie in \[0, 4\), got values in \[0, 7\]$"):
        K.softmax_xent(logits, np.array([0, 0, 1, 0, 2, 0, 7, 0, 3, 0], np.int64)[::2])


@pytest.mark.parametrize("backend", fastnn.backends.available())
@pytest.mark.parametrize("shape", [(6,), (6, 3)])
def test_pair_losses_fill_the_given_out(backend, shape):
    # 2-D operands go to the backend as they are, 1-D ones as [n, 1] views: out= holds the gradient
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal(shape), rng.random(shape)
    for fn in (K.mse, K.sigmoid_bce):
        want_loss, want = fn(pred, target, backend="numpy")
        out = np.full(shape, np.nan)
        loss, got = fn(pred, target, out=out, backend=backend)
        assert got is out and loss == pytest.approx(want_loss, rel=1e-12)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", fastnn.backends.available())
def test_flat_views_of_multidimensional_buffers(backend):
    # dropout, l1 and l2 hand the backend flat views (ravel of C-contiguous arrays, never a
    # copy): the written mask lands in out itself
    x = np.arange(1.0, 25.0).reshape(2, 3, 4)
    out = np.zeros_like(x)
    assert K.dropout_forward(x, 0.5, seed=3, step=1, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, np.where(K.dropout_mask(x.shape, 0.5, seed=3, step=1), 2 * x, 0.0))
    assert K.l1_penalty(-x, backend=backend) == pytest.approx(300.0)
    assert K.l2_penalty(x, backend=backend) == pytest.approx(0.5 * (x * x).sum())


def test_default_activation_params_are_the_documented_ones():
    # param=None skips check_real for the (valid) defaults: leaky_relu slope 0.01, elu alpha 1
    x = np.array([[-2.0, 3.0]])
    np.testing.assert_allclose(K.activation_forward(x, "leaky_relu"), [[-0.02, 3.0]])
    np.testing.assert_allclose(K.activation_forward(x, "elu"), [[np.expm1(-2.0), 3.0]])
    np.testing.assert_allclose(K.activation_forward(x, "leaky_relu", param=np.float32(0.5)), [[-1.0, 3.0]])


def test_input_fast_path_edge_cases():
    a = np.ones((2, 3), f32)
    assert K._input("a", a, 2) is a  # a plain native float array is used as it is
    meta = np.ones(3, np.dtype(np.float64, metadata={"unit": "m"}))
    assert K._input("a", meta) is meta
    swapped = np.arange(6.0).reshape(2, 3).astype(">f8")
    got = K._input("a", swapped, 2)
    assert got.dtype == np.dtype("=f8") and got.dtype.isnative
    np.testing.assert_array_equal(got, np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="^a has dtype float64 but the other operands are float32"):
        K._input("a", swapped, 2, np.dtype(f32))
    for bad in (np.ones(3, np.float16), np.ones(3, np.longdouble), np.ones(3, ">i4"), np.ones(3, "V8")):
        with pytest.raises(TypeError, match="^a must be float32 or float64, got dtype"):
            K._input("a", bad)
    with pytest.raises(TypeError, match="^b has dtype float32 but the other operands are float64"):
        K._input("b", a, 2, np.dtype(f64))
    with pytest.raises(ValueError, match=r"^a must be 1-D, got shape \(2, 3\)$"):
        K._input("a", a, 1)


def test_output_checks_edge_cases():
    a, b = np.ones((3, 3)), np.ones((3, 3))
    ro = np.zeros((3, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^out must be writeable$"):
        K.gemm(a, b, out=ro)
    buf = np.zeros(10)
    with pytest.raises(ValueError, match="^out overlaps a; pass a separate buffer$"):
        K.gemm(buf[:9].reshape(3, 3), b, out=buf[1:].reshape(3, 3))
    with pytest.raises(ValueError, match="^out overlaps b; pass a separate buffer$"):
        K.gemm(a, b, out=b)
    # an empty array overlaps nothing: neither as the output nor as an input inside it
    e = np.zeros((0, 3))
    assert K.gemm(e, b, out=e) is e
    out = np.zeros(12)
    x = out[:0].reshape(3, 0)  # no element of out's memory, though its pointer lies in it
    got = K.dense_forward(x, np.zeros((0, 4)), np.arange(4.0), "identity", out=out.reshape(3, 4))
    np.testing.assert_array_equal(got, np.tile(np.arange(4.0), (3, 1)))


def test_outputs_off_the_fast_path_are_checked_in_full():
    # _output passes an exact ndarray of the dtype object and shape with flags.carray at once;
    # every other output takes the general checks, which accept what they accepted before
    a, b = np.ones((3, 3)), np.ones((3, 3))
    raw = np.zeros(9 * 8 + 1, np.uint8)
    unaligned = raw[1:].view(np.float64).reshape(3, 3)  # C-contiguous, writeable, not aligned
    assert not unaligned.flags.aligned and K.gemm(a, b, out=unaligned) is unaligned
    np.testing.assert_array_equal(unaligned, a @ b)
    meta = np.zeros((3, 3), np.dtype(np.float64, metadata={"unit": "m"}))  # equal dtype, another object
    assert K.gemm(a, b, out=meta) is meta
    assert K._output("out", np.zeros((3, 3)), [3, 3], np.dtype(f64)).shape == (3, 3)  # a list shape
    for bad, exc, match in ((np.zeros((3, 3), f32), TypeError, "^out must have dtype float64, got float32$"),
                            (np.zeros((3, 4)), ValueError, r"^out must have shape \(3, 3\), got \(3, 4\)$"),
                            (np.zeros((3, 6))[:, ::2], ValueError, "^out must be C-contiguous"),
                            (np.zeros((3, 3)).tolist(), TypeError, "^out must be a numpy.ndarray, got list$")):
        with pytest.raises(exc, match=match):
            K.gemm(a, b, out=bad)
    ro = unaligned.view()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^out must be writeable$"):
        K.gemm(a, b, out=ro)


def test_dense_backward_outputs_overlapping_dout_are_named_when_dz_is_dout():
    # with dz=dout, dz is checked against x, w, y only: its overlaps with dw, db and dx are
    # dout's, which each of them is checked against (and named by)
    x, w, y = np.ones((4, 3)), np.ones((3, 2)), np.ones((4, 2))
    buf = np.zeros(8 + 6)
    dout = buf[:8].reshape(4, 2)
    with pytest.raises(ValueError, match="^dw overlaps dout; pass a separate buffer$"):
        K.dense_backward(dout, x, w, "relu", y=y, dz=dout, dw=buf[2:8].reshape(3, 2))
    with pytest.raises(ValueError, match="^db overlaps dout; pass a separate buffer$"):
        K.dense_backward(dout, x, w, "relu", y=y, dz=dout, db=buf[6:8])
    big = np.zeros(12 + 4)
    with pytest.raises(ValueError, match="^dx overlaps dout; pass a separate buffer$"):
        K.dense_backward(big[4:12].reshape(4, 2), x, w, "relu", y=y, dz=big[4:12].reshape(4, 2),
                         dx=big[:12].reshape(4, 3))
    # a separate dz is still checked against every output before it
    grads = np.zeros(6 + 8)
    with pytest.raises(ValueError, match="^dz overlaps dw; pass a separate buffer$"):
        K.dense_backward(np.ones((4, 2)), x, w, "relu", y=y, dw=grads[:6].reshape(3, 2), dz=grads[4:12].reshape(4, 2))


def test_optimizer_state_overlaps_are_named():
    p, g = np.zeros(8), np.ones(8)
    with pytest.raises(ValueError, match="^velocity overlaps params; pass a separate buffer$"):
        K.momentum_update(p, g, p, lr=0.1)
    with pytest.raises(ValueError, match="^m overlaps grads; pass a separate buffer$"):
        K.adam_update(p, g, g, np.zeros(8), lr=0.1, step=1)
    buf = np.zeros(9)
    with pytest.raises(ValueError, match="^v overlaps m; pass a separate buffer$"):
        K.adam_update(p, g, buf[:8], buf[1:], lr=0.1, step=1)
    ro = np.zeros(8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^accum must be writeable$"):
        K.adagrad_update(p, g, ro, lr=0.1)
    with pytest.raises(TypeError, match=r"^sq must be a numpy.ndarray \(it is updated in place\), got list$"):
        K.rmsprop_update(p, g, [0.0] * 8, lr=0.1)
    with pytest.raises(ValueError, match=r"^v must have shape \(8,\), got \(9,\)$"):
        K.adam_update(p, g, np.zeros(8), np.zeros(9), lr=0.1, step=1)
    empty = np.zeros(0)  # empty buffers overlap nothing, even the very same array
    assert K.adam_update(np.zeros(0), np.zeros(0), empty, empty, lr=0.1, step=1).shape == (0,)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, ">i4"])
def test_label_range_is_checked_for_every_integer_dtype(dtype):
    logits = np.zeros((3, 200), f32)
    K.softmax_xent(logits, np.array([0, 5, 127], dtype))
    bad = np.array([0, 5, 255 if np.dtype(dtype).kind == "u" else -100], dtype)
    with pytest.raises(ValueError, match=r"^labels must lie in \[0, 200\)"):
        K.softmax_xent(logits, bad)
