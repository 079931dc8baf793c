"""fastnn.kernels.bind: a kernel call checked once, then made without the checks.

A bound call must give exactly what a fresh checked call gives on the arrays' contents
at that moment (same backend, same kernel), write into the same output arrays every
time, and refuse anything it could not repeat faithfully: an argument that the checks
copy (the bound call would never see later changes to the original), a call that runs
no backend kernel, a kernel outside the bindable set."""
from __future__ import annotations

import numpy as np
import pytest

from fastnn import kernels as K
from fastnn.profile import profile


def _case(kernel, dtype, rng):
    """(kernel, args, kwargs, inputs to refill) for one call of each bindable kernel."""
    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b, dy = r(9, 7), r(7, 5), r(5), r(9, 5)
    h = np.maximum(r(9, 5), 0)
    if kernel == "gemm":  # beta != 0: the bound call reads out's contents too
        bt, out = r(5, 7), r(9, 5)
        return K.gemm, (x, bt), dict(trans_b=True, alpha=0.5, beta=2.0, out=out), (x, bt, out)
    if kernel == "dense_forward":
        return K.dense_forward, (x, w, b, "leaky_relu"), dict(param=0.1), (x, w, b)
    if kernel == "dense_backward":
        return K.dense_backward, (dy, x, w, "relu"), dict(y=h, dx=np.empty_like(x)), (dy, x, w, h)
    if kernel == "activation_forward":
        return K.activation_forward, (x, "gelu"), {}, (x,)
    if kernel == "mse":
        return K.mse, (dy, r(9, 5)), {}, (dy,)
    if kernel in UPDATES:
        p, g = r(13), r(13)
        state = {"sgd_update": (), "adam_update": (r(13), np.abs(r(13))), "adamw_update": (r(13), np.abs(r(13)))}
        kwargs = dict(lr=0.1, l2=0.01, **({"step": 1} if kernel.startswith("adam") else {}))
        return getattr(K, kernel), (p, g, *state.get(kernel, (np.abs(r(13)),))), kwargs, (g,)
    if kernel == "sigmoid_bce":
        target = rng.random(9).astype(dtype)
        return K.sigmoid_bce, (r(9), target), dict(out=np.empty(9, dtype)), (target,)
    if kernel == "softmax_xent":
        labels = rng.integers(0, 5, 9).astype(np.int32)
        return K.softmax_xent, (dy, labels), dict(out=np.empty_like(dy)), (dy, labels)
    if kernel.startswith("dropout"):  # in place, as a training loop may
        return getattr(K, kernel), (x, 0.3), dict(seed=4, step=1, out=x), (x,)
    return K.activation_backward, (dy, "tanh"), dict(y=np.tanh(dy), out=np.empty_like(dy)), (dy,)


KERNELS = ["gemm", "dense_forward", "dense_backward", "activation_forward", "activation_backward", "mse",
           "sigmoid_bce", "softmax_xent", "dropout_forward", "dropout_backward", "sgd_update", "momentum_update",
           "nesterov_update", "adagrad_update", "rmsprop_update", "adam_update", "adamw_update"]
UPDATES = KERNELS[10:]
STEPPED = ("adam_update", "adamw_update", "dropout_forward", "dropout_backward")  # take step= every call


def _copy(v):
    return v.copy() if isinstance(v, np.ndarray) else v


def _flat(result):
    return [a for a in (result if isinstance(result, tuple) else (result,)) if a is not None]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", ["numpy", "numba", "c"])
def test_a_bound_call_makes_the_checked_call_on_the_current_contents(kernel, dtype, backend):
    if backend not in K.backends.available():
        pytest.skip(f"backend {backend} is not available here")
    rng = np.random.default_rng(3)
    fn, args, kwargs, refill = _case(kernel, dtype, rng)
    kwargs["backend"] = backend
    given = [a.copy() for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
    bound = K.bind(fn, *args, **kwargs)
    after = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.ndarray)]
    for a, b in zip(after, given):  # binding checks and runs nothing: no output or update written
        np.testing.assert_array_equal(a, b)
    first = bound.result
    for a in refill:  # new contents in the same memory, as a training loop's next batch
        a[...] = (rng.integers(0, 5, a.shape) if a.dtype.kind == "i"
                  else rng.random(a.shape) if kernel == "sigmoid_bce"  # (its targets: probabilities)
                  else rng.standard_normal(a.shape))
    step = {"step": 7} if kernel in STEPPED else {}  # Adam's update count, dropout's mask of this call
    fresh = [_copy(a) for a in args], {k: _copy(v) for k, v in {**kwargs, **step}.items()}
    expect = fn(*fresh[0], **fresh[1])  # the same call, checked, on copies (gemm: beta reads out's copy)
    got = bound(**step)
    if kernel in UPDATES:  # in place: params and state advanced as the checked step's
        assert got is args[0]
        for a, b in zip(args, fresh[0]):
            np.testing.assert_array_equal(a, b)
        return
    if kernel in ("mse", "sigmoid_bce", "softmax_xent"):  # (loss, gradient): the loss NaN until the first call
        assert np.isnan(first[0]) and got[1] is first[1] and got[0] == expect[0] and bound.result is got
        np.testing.assert_array_equal(got[1], expect[1])
        return
    assert got is first  # the same result object, its arrays overwritten
    for g, e in zip(_flat(got), _flat(expect)):
        np.testing.assert_array_equal(g, e)


def test_outputs_left_to_the_kernel_are_allocated_once_and_reused():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    bound = K.bind(K.dense_forward, x, w, b, "relu")
    out = bound.result
    x *= -1.0
    assert bound() is out
    # the same kernel called afresh on the changed x (NumPy's matmul may round otherwise)
    np.testing.assert_array_equal(out, K.dense_forward(x, w, b, "relu"))
    np.testing.assert_allclose(out, np.maximum(x @ w + b, 0), rtol=1e-14, atol=1e-15)


def test_reassigning_an_arrays_shape_does_not_change_what_the_bound_call_reads():
    """The call holds its own views: a caller reshaping x in place (same memory, same size)
    cannot make the kernel read x as [8, 3] against a w of 6 rows."""
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 2)), rng.standard_normal(2)
    bound = K.bind(K.dense_forward, x, w, b, "identity")
    expect = x @ w + b
    x.shape = (8, 3)
    np.testing.assert_allclose(bound(), expect, rtol=1e-13)
    assert bound.result.shape == (4, 2)


@pytest.mark.parametrize("bad, match", [
    (lambda x, w, b: (x.tolist(), w, b), "x must be a numpy.ndarray"),
    (lambda x, w, b: (x, np.asfortranarray(w), b), "w is not used in place"),
    (lambda x, w, b: (x, w, b.astype(">f8")), "b is not used in place"),
    (lambda x, w, b: (x[:, ::2], w[::2], b), "x is not used in place"),
])
def test_arguments_the_checks_would_copy_are_refused(bad, match):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 2)), rng.standard_normal(2)
    with pytest.raises(ValueError, match=match):
        K.bind(K.dense_forward, *bad(x, w, b), "relu")


def test_calls_that_run_no_kernel_or_ignore_an_array_are_refused():
    rng = np.random.default_rng(4)
    dy, x, w = rng.standard_normal((3, 2)), rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    with pytest.raises(ValueError, match="is a copy"):
        K.bind(K.activation_backward, dy, "identity")  # np.copyto, no kernel
    out = np.full((3, 2), 7.0)
    with pytest.raises(ValueError, match="is empty"):  # k = 0: out would be scaled, no kernel run
        K.bind(K.gemm, np.empty((3, 0)), np.empty((0, 2)), beta=2.0, out=out)
    np.testing.assert_array_equal(out, 7.0)  # refused before anything was written
    with pytest.raises(ValueError, match="y is not used in place"):  # identity's backward reads no y
        K.bind(K.dense_backward, dy, x, w, "identity", y=dy.copy())


def test_only_the_bindable_kernels_and_well_formed_calls_are_accepted():
    a = np.ones((2, 2))
    with pytest.raises(TypeError, match="bind takes one of"):
        K.bind(np.matmul, a, a)
    with pytest.raises(TypeError, match="bind takes one of"):  # returns a float, writes nothing
        K.bind(K.l2_penalty, a)
    with pytest.raises(TypeError):
        K.bind(K.gemm, a)  # missing b: the kernel's own signature error
    with pytest.raises(ValueError, match="inner dimensions"):
        K.bind(K.gemm, a, np.ones((3, 2)))  # the checks run at bind time


def test_bound_calls_are_profiled_as_the_kernel():
    a = np.ones((3, 3))
    bound = K.bind(K.gemm, a, a, backend="numpy")
    with profile() as p:
        bound()
        bound()
    (stat,) = p.stats()
    assert (stat.name, stat.calls, stat.backend, stat.flops) == ("gemm", 2, "numpy", 2 * 2.0 * 27)


def test_binding_records_only_the_binding_threads_calls():
    """Another thread's kernel calls while bind runs are neither captured nor disturbed."""
    import threading

    a = np.ones((4, 4))
    stop, errors = threading.Event(), []

    def other():
        try:
            while not stop.is_set():
                K.gemm(a, a, backend="numpy")
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    try:
        for _ in range(200):
            bound = K.bind(K.activation_forward, a, "relu", backend="numpy")
            assert bound._call[0] == "activation_forward"
    finally:
        stop.set()
        t.join()
    assert not errors


def test_a_bound_adam_takes_the_update_count_at_every_call_and_only_adam_does():
    rng = np.random.default_rng(5)
    p, g, m, v = rng.standard_normal(6), rng.standard_normal(6), np.zeros(6), np.zeros(6)
    adam = K.bind(K.adam_update, p, g, m, v, lr=0.01, step=1)
    with pytest.raises(TypeError, match="needs step="):
        adam()  # repeating step 1's bias correction would train with the wrong rate
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="step must be an int >= 1"):
            adam(step=bad)
    ref = [a.copy() for a in (p, g, m, v)]
    for t in (2, 3):
        adam(step=t)
        K.adam_update(*ref, lr=0.01, step=t)
    for got, want in zip((p, m, v), (ref[0], ref[2], ref[3])):
        np.testing.assert_array_equal(got, want)
    sgd = K.bind(K.sgd_update, p, g, lr=0.1)
    with pytest.raises(TypeError, match="takes no step"):
        sgd(step=2)


def test_a_bound_softmax_xent_checks_its_labels_at_every_call():
    """The labels index each row's logit: out of [0, classes) the kernel would read and
    write outside the rows, so a bound call checks them first and runs nothing if not."""
    rng = np.random.default_rng(7)
    logits, labels, grad = rng.standard_normal((6, 4)), rng.integers(0, 4, 6).astype(np.int32), np.zeros((6, 4))
    xent = K.bind(K.softmax_xent, logits, labels, out=grad)
    for bad in (4, -1):
        labels[2] = bad
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
            xent()
        np.testing.assert_array_equal(grad, 0.0)  # refused before the kernel wrote anything
    labels[2] = 3
    loss, g = xent()
    want = K.softmax_xent(logits, labels)
    assert loss == want[0] and g is grad
    np.testing.assert_array_equal(g, want[1])
    with pytest.raises(ValueError, match="labels is not used in place"):  # int64: copied to int32
        K.bind(K.softmax_xent, logits, labels.astype(np.int64), out=grad)
    loss, none = K.bind(K.softmax_xent, logits, labels, grad=False)()  # the loss alone
    assert none is None and loss == want[0]


def test_a_bound_dropout_takes_its_step_at_every_call():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 40))
    out = np.empty_like(x)
    drop = K.bind(K.dropout_forward, x, 0.5, seed=11, step=1, out=out)
    with pytest.raises(TypeError, match="needs step="):
        drop()  # one step's mask every batch would drop the same units
    with pytest.raises(ValueError, match="step must be a non-negative int"):
        drop(step=-1)
    masks = []
    for t in (0, 1, 2):
        drop(step=t)
        np.testing.assert_array_equal(out, K.dropout_forward(x, 0.5, seed=11, step=t))
        masks.append(out != 0)
    assert not np.array_equal(masks[1], masks[2])


def test_a_training_loop_of_bound_calls_trains_the_weights_of_checked_calls():
    """benchmarks' KernelLoop (a user's own MLP on fastnn.kernels: dense layers, softmax
    cross-entropy, Adam, refilled batch buffers): bound and checked, the same weights."""
    from benchmarks.bench_call_overhead import KernelLoop

    rng = np.random.default_rng(6)
    X = rng.standard_normal((160, 12)).astype(np.float32)
    y = rng.integers(0, 4, 160).astype(np.int32)
    bound, checked = (KernelLoop([12, 16, 8, 4], 32, np.float32, b) for b in (True, False))
    for _ in range(3):
        bound.epoch(X, y)
        checked.epoch(X, y)
    assert bound.t == checked.t == 15
    start = KernelLoop([12, 16, 8, 4], 32, np.float32, False)
    for got, want, w0 in zip(bound.W + bound.b, checked.W + checked.b, start.W + start.b):
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, w0)  # trained


def test_a_bound_call_refuses_to_be_pickled_or_copied():
    import copy
    import pickle

    a = np.ones((2, 2))
    bound = K.bind(K.gemm, a, a)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="cannot be pickled or copied"):
            attempt(bound)


@pytest.mark.parametrize("loss", ["softmax_xent", "sigmoid_bce", "mse"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", ["numpy", "numba", "c"])
def test_a_bound_loss_grad_is_the_checked_objective_at_the_current_params(loss, dtype, backend):
    """An optimizer's objective: each call the loss and gradient at what params holds then,
    the same numbers as a checked loss_grad on copies (sample weights and alpha included)."""
    if backend not in K.backends.available():
        pytest.skip(f"backend {backend} is not available here")
    rng = np.random.default_rng(9)
    sizes, n = (6, 5, 3), 40
    size = 6 * 5 + 5 * 3 + 5 + 3
    X = rng.standard_normal((n, 6)).astype(dtype)
    y = (rng.integers(0, 3, n).astype(np.int32) if loss == "softmax_xent"
         else rng.random((n, 3)).astype(dtype))
    sw = rng.random(n) + 0.5
    params, grads = (0.3 * rng.standard_normal(size)).astype(dtype), np.zeros(size, dtype)
    kw = dict(sizes=sizes, activation="tanh", loss=loss, alpha=0.01, sample_weight=sw, backend=backend)
    bound = K.bind(K.loss_grad, params, grads, X, y, **kw)
    assert np.isnan(bound.result)
    np.testing.assert_array_equal(grads, 0.0)  # binding runs nothing
    for _ in range(2):  # the optimizer's next point, written into the bound params
        params[...] = 0.3 * rng.standard_normal(size)
        want_grads = np.empty_like(grads)
        want = K.loss_grad(params.copy(), want_grads, X.copy(), y.copy(), **kw)
        got = bound()
        assert got == want and bound.result == got
        np.testing.assert_array_equal(grads, want_grads)


def test_a_bound_loss_grad_checks_its_labels_at_every_call_and_takes_dense_arrays_in_place():
    rng = np.random.default_rng(10)
    X, labels = rng.standard_normal((12, 4)), rng.integers(0, 3, 12).astype(np.int32)
    params, grads = rng.standard_normal(4 * 3 + 3), np.zeros(4 * 3 + 3)
    kw = dict(sizes=(4, 3), activation="identity", loss="softmax_xent")
    bound = K.bind(K.loss_grad, params, grads, X, labels, **kw)
    for bad in (3, -1):  # a label indexes its row's logits: outside them the kernel would leave the rows
        labels[5] = bad
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
            bound()
        np.testing.assert_array_equal(grads, 0.0)  # refused before the kernel ran
    labels[5] = 2
    assert bound() == K.loss_grad(params, np.empty_like(grads), X, labels, **kw)
    with pytest.raises(ValueError, match="y is not used in place"):  # int64 labels: copied to int32
        K.bind(K.loss_grad, params, grads, X, labels.astype(np.int64), **kw)
    with pytest.raises(ValueError, match="X is not used in place"):  # a strided view: copied
        K.bind(K.loss_grad, params, grads, np.asfortranarray(X), labels, **kw)
    import scipy.sparse as sp

    # a sparse X: loss_grad's own errors (it never casts X's values to params' dtype)
    with pytest.raises(TypeError, match="X.data has dtype float32 but the other operands are float64"):
        K.bind(K.loss_grad, params, grads, sp.csr_matrix(X.astype(np.float32)), labels, **kw)
    with pytest.raises(TypeError, match="X is a sparse CSC matrix"):
        K.bind(K.loss_grad, params, grads, sp.csc_matrix(X), labels, **kw)


@pytest.mark.parametrize("backend", ["numpy", "numba", "c"])
def test_a_bound_loss_grad_reads_a_csr_xs_values_in_place_and_its_structure_as_bound(backend):
    """A CSR X: the checked call's numbers; a later change to X.data is seen (read in
    place, as a dense X), one to its structure is not (copied at bind time: its indices
    index memory in C, unchecked by the bound call)."""
    import scipy.sparse as sp

    if backend not in K.backends.available():
        pytest.skip(f"backend {backend} is not available here")
    rng = np.random.default_rng(11)
    dense = np.where(rng.random((30, 7)) < 0.4, rng.standard_normal((30, 7)), 0.0)
    X = sp.csr_matrix(dense)
    labels = rng.integers(0, 3, 30).astype(np.int32)
    params, grads = rng.standard_normal(7 * 3 + 3), np.zeros(7 * 3 + 3)
    kw = dict(sizes=(7, 3), activation="identity", loss="softmax_xent", alpha=0.1,
              sample_weight=rng.random(30) + 0.5, backend=backend)
    bound = K.bind(K.loss_grad, params, grads, X, labels, **kw)
    np.testing.assert_array_equal(grads, 0.0)  # binding runs nothing
    for _ in range(2):
        params[...] = rng.standard_normal(params.size)
        want_grads = np.empty_like(grads)
        want = K.loss_grad(params.copy(), want_grads, X.copy(), labels.copy(), **kw)
        assert bound() == want
        np.testing.assert_array_equal(grads, want_grads)
    X.data *= 2.0  # the values: read at every call
    want = K.loss_grad(params, np.empty_like(grads), X, labels, **kw)
    assert bound() == want
    bound_structure = X.copy()
    X.indices[:] = 10**6  # out of range: a checked call refuses it; the bound one reads its own copy
    with pytest.raises(ValueError, match="X.indices must be"):
        K.loss_grad(params, np.empty_like(grads), X, labels, **kw)
    assert bound() == K.loss_grad(params, np.empty_like(grads), bound_structure, labels, **kw)
