"""train_epoch and loss_grad on a sparse (CSR) X: the C epoch's first layer over the
non-zeros (csrc/csr.c), the Numba epoch's and the reference's (scipy.sparse's products),
against the reference on the same X densified (the spec), on every C ISA path and thread
count, the gradient against finite differences, duplicate and unsorted entries,
degenerate X, and the refusals."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn
from conftest import mlp_targets
from fastnn import kernels as K
from fastnn.backends._train_reference import N_STATE, OPTIMIZERS, layout

SPARSE_BACKENDS = ["numpy", "c", "numba"]
LOSSES = ["softmax_xent", "sigmoid_bce", "mse"]


def _problem(dtype, loss, sizes, n=90, density=0.08, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    params = (rng.standard_normal(layout(sizes)[3]) * 0.3).astype(dtype)
    X = sp.random(n, sizes[0], density=density, format="csr", random_state=rng, dtype=dtype)
    X.data -= dtype(0.5)  # negative values too
    y = mlp_targets(rng, loss, n, sizes[-1], dtype)
    sw = rng.random(n) * 2 + 0.1 if weighted else None
    return params, X, y, sw


def _epoch(backend, params, X, y, loss, sizes, optimizer="adam", **kw):
    p = params.copy()
    grads = np.empty_like(p)
    state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], p.size), p.dtype)
    perm = np.random.default_rng(7).permutation(X.shape[0])
    losses = np.empty(-(-X.shape[0] // 16))
    value = K.train_epoch(p, grads, state, X, y, perm, sizes=sizes, loss=loss, optimizer=optimizer, lr=0.05,
                          step=3, batch_size=16, batch_losses=losses, backend=backend, **kw)
    return value, p, state, losses


def _close(got, want, dtype, rtol=None):
    # float32: Adam divides by sqrt(v), so where a gradient nears its rounding level the
    # order of the sums (scipy's, a kernel's) moves a step by a visible part of lr
    # (2.4e-5 of the largest weight seen on the portable C path; a bug moves it ~1e-2)
    rtol = rtol or (1e-4 if dtype == np.float32 else 1e-11)
    for g, w in zip(got, want):
        scale = max(1.0, float(np.max(np.abs(w)))) if np.size(w) else 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])  # gelu keeps the pre-activation
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_epoch_is_the_dense_epoch(backend, dtype, loss, activation, weighted):
    """A CSR X trains as the same X dense on the reference: parameters, optimizer state,
    batch losses (L2, sample weights and dropout included)."""
    sizes = (70, 24, 9, 3)
    params, X, y, sw = _problem(dtype, loss, sizes, weighted=weighted)
    kw = dict(activation=activation, alpha=0.02, sample_weight=sw, dropout=0.2, seed=5)
    want = _epoch("numpy", params, X.toarray(), y, loss, sizes, **kw)
    got = _epoch(backend, params, X, y, loss, sizes, **kw)
    _close(got, want, dtype)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "rmsprop", "adamw"])
@pytest.mark.parametrize("sizes", [(40, 3), (40, 90, 2)], ids=["no-hidden-layer", "wide-hidden-layer"])
def test_sparse_epoch_optimizers_and_shapes(backend, optimizer, sizes):
    """No hidden layer (the first layer is the output layer: a linear model) and a hidden
    layer of 90 units (AVX-512 float64: column blocks of 8, 2 and 1 vectors and a scalar
    tail; the 37 units below take the 4-vector block)."""
    loss = "softmax_xent" if sizes[-1] > 2 else "sigmoid_bce"
    params, X, y, _ = _problem(np.float64, loss, sizes, density=0.2)
    kw = dict(activation="tanh", alpha=0.01, l1=1e-3 if optimizer == "sgd" else 0.0,
              weight_decay=0.01 if optimizer == "adamw" else 0.0)
    want = _epoch("numpy", params, X.toarray(), y, loss, sizes, optimizer=optimizer, **kw)
    got = _epoch(backend, params, X, y, loss, sizes, optimizer=optimizer, **kw)
    _close(got, want, np.float64)


@pytest.mark.parametrize("isa", ["generic", "avx2", "best"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_sparse_kernels_on_every_isa_and_thread_count(isa, threads, dtype):
    """The C epoch and pass on the portable, AVX2 and best kernels, on 1 and 2 threads
    (the epoch's sparse products stay on one, its updates may not; the pass splits its rows,
    each thread's chunks starting mid-way): the reference's numbers. The pass covers 4500
    rows in chunks of 512 (GRAD_CHUNK_ROWS), each sorted by column."""
    from fastnn.backends import c as cb

    sizes = (300, 37, 5)
    params, X, y, _ = _problem(dtype, "softmax_xent", sizes, n=4500, density=0.02)
    before, before_isa = fastnn.get_num_threads(), cb.isa_name()
    try:
        fastnn.set_num_threads(threads)
        if isa != "best":
            cb.set_isa(isa)
        got = _epoch("c", params, X, y, "softmax_xent", sizes, activation="relu", alpha=0.01)
        got_grads = np.empty_like(params)
        got_loss = K.loss_grad(params, got_grads, X, y, sizes=sizes, activation="relu", loss="softmax_xent",
                               alpha=0.01, backend="c")
    finally:
        fastnn.set_num_threads(before)
        cb.set_isa(before_isa)
    want = _epoch("numpy", params, X.toarray(), y, "softmax_xent", sizes, activation="relu", alpha=0.01)
    want_grads = np.empty_like(params)
    want_loss = K.loss_grad(params, want_grads, X.toarray(), y, sizes=sizes, activation="relu",
                            loss="softmax_xent", alpha=0.01, backend="numpy")
    _close(got, want, dtype)
    _close((got_loss, got_grads), (want_loss, want_grads), dtype)


def _unsorted(X):
    """X with each row's entries in reverse column order (scipy's has_sorted_indices False)."""
    X = X.copy()
    for r in range(X.shape[0]):
        a, b = X.indptr[r], X.indptr[r + 1]
        X.indices[a:b], X.data[a:b] = X.indices[a:b][::-1].copy(), X.data[a:b][::-1].copy()
    X.has_sorted_indices = False
    return X


# (sizes, density, make): the first layer's forms in csr.c -- by row over W's rows in
# blocks that stay in L1 (sorted rows, dense enough), in one pass (rows not sorted), by
# column (a sparse batch, W over 1 MiB), widths of several register blocks and a right
# edge that overlaps, fewer outputs than one vector; the gradient over dz's rows in blocks
FIRST_LAYER_FORMS = {
    "by-row-blocks": ((784, 100, 10), 0.3, None),
    "by-row-unsorted": ((784, 100, 10), 0.3, _unsorted),
    "by-column": ((5000, 64, 3), 0.01, None),
    "many-register-blocks": ((200, 300, 4), 0.25, None),
    "narrower-than-a-vector": ((200, 5, 3), 0.25, None),
}


@pytest.mark.parametrize("isa", ["generic", "avx2", "best"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", list(FIRST_LAYER_FORMS))
def test_c_first_layer_forms(isa, threads, dtype, form):
    """Each form of the C first layer (csrc/csr.c) on each ISA: the reference's epoch on
    the same X densified, 200-row batches, and its pass (loss_grad, 512-row chunks added).
    On two threads the dense enough batches split their rows (train.c, CSR_EPOCH_SPLIT_FLOPS)."""
    from fastnn.backends import c as cb

    sizes, density, make = FIRST_LAYER_FORMS[form]
    params, X, y, _ = _problem(dtype, "softmax_xent", sizes, n=1100, density=density)
    X = make(X) if make else X
    perm = np.random.default_rng(7).permutation(X.shape[0])

    def run(backend, X):
        p, grads = params.copy(), np.empty_like(params)
        state = np.zeros((2, p.size), p.dtype)
        value = K.train_epoch(p, grads, state, X, y, perm, sizes=sizes, loss="softmax_xent", optimizer="adam",
                              lr=0.01, step=0, batch_size=200, activation="relu", alpha=0.01, backend=backend)
        g = np.empty_like(params)
        pass_value = K.loss_grad(params, g, X, y, sizes=sizes, activation="relu", loss="softmax_xent",
                                 alpha=0.01, backend=backend)
        return value, p, state, pass_value, g

    before, before_isa = fastnn.get_num_threads(), cb.isa_name()
    try:
        fastnn.set_num_threads(threads)
        if isa != "best":
            cb.set_isa(isa)
        got = run("c", X)
    finally:
        fastnn.set_num_threads(before)
        cb.set_isa(before_isa)
    _close(got, run("numpy", X.toarray()), dtype)


@pytest.mark.parametrize("sizes", [(300, 1), (300, 5), (300, 16, 3), (300, 17, 3)],
                         ids=["binary", "5-classes", "narrowest-by-row", "widest-by-column"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_pass_takes_a_narrow_first_layer_by_row(sizes, threads, dtype):
    """loss_grad's C pass runs a first layer of at most 16 outputs row by row on a CSR X (a linear
    model's; csr.c's csr_forward_rows / csr_weight_grad_rows), wider ones by column: both the
    reference's numbers, over 4500 weighted rows in chunks of 512 on 1 and 2 threads."""
    loss = "sigmoid_bce" if sizes[-1] == 1 else "softmax_xent"
    params, X, y, sw = _problem(dtype, loss, sizes, n=4500, density=0.02, weighted=True)
    kw = dict(sizes=sizes, activation="tanh", loss=loss, alpha=0.01, sample_weight=sw)
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(threads)
        got_grads = np.empty_like(params)
        got_loss = K.loss_grad(params, got_grads, X, y, backend="c", **kw)
    finally:
        fastnn.set_num_threads(before)
    want_grads = np.empty_like(params)
    want_loss = K.loss_grad(params, want_grads, X.toarray(), y, backend="numpy", **kw)
    _close((got_loss, got_grads), (want_loss, want_grads), dtype)


@pytest.mark.parametrize("sizes", [(4000, 40, 3), (30, 5000, 2)], ids=["chunks-of-rows", "rows-wider-than-a-chunk"])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "momentum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_first_layer_update_in_chunks_on_threads(sizes, optimizer, dtype):
    """The C epoch updates the first layer in chunks of W0's rows as their gradient is made
    (train.c, w0_update; 4096 values a chunk: 102 rows of 40 with a short last chunk, or a
    row of 5000 alone), on 2 threads for the updates that divide (enough weights here):
    the bits of one thread, the reference's numbers (L2's loss term summed by chunk)."""
    loss = "softmax_xent" if sizes[-1] > 2 else "sigmoid_bce"
    params, X, y, _ = _problem(dtype, loss, sizes, n=120, density=min(0.5, 40 / sizes[0]))
    kw = dict(optimizer=optimizer, activation="relu", alpha=0.05)
    before = fastnn.get_num_threads()
    try:
        runs = []
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            runs.append(_epoch("c", params, X, y, loss, sizes, **kw))
    finally:
        fastnn.set_num_threads(before)
    for one, two in zip(*runs):
        np.testing.assert_array_equal(two, one)
    if dtype == np.float64 or optimizer == "momentum":
        # (float32 Adam and RMSprop steps on gradients near 0, g / (sqrt(v) + eps), magnify the
        # rounding of a sum taken in another order: 0.2 relative on one weight here, as before
        # the fusion, which changed no weight's bits; in float64 that reached 2.1 times the default
        # tolerance on one RMSprop weight of 165002 against NumPy's BLAS on Zen 5)
        divides = optimizer != "momentum"
        _close(runs[0], _epoch("numpy", params, X.toarray(), y, loss, sizes, **kw), dtype,
               rtol=1e-10 if divides and dtype == np.float64 else None)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_epoch_sorts_the_next_batch_on_another_thread(optimizer, dtype):
    """On 2 threads the C epoch sorts batch b + 1 by column while batch b trains (batches of
    ~6400 non-zeros, over CSR_PIPE_MIN_NNZ a thread; a short last batch): the bits of one
    thread, and the reference's numbers."""
    sizes = (2000, 24, 3)
    params, X, y, _ = _problem(dtype, "softmax_xent", sizes, n=600, density=0.05)
    perm = np.random.default_rng(11).permutation(600)
    kw = dict(sizes=sizes, activation="relu", loss="softmax_xent", optimizer=optimizer, lr=0.02, step=4,
              batch_size=64, alpha=0.01)

    def run(backend, Xb):
        p = params.copy()
        state = np.zeros((N_STATE[OPTIMIZERS[optimizer]], p.size), dtype)
        losses = np.empty(10)
        loss = K.train_epoch(p, np.empty_like(p), state, Xb, y, perm, batch_losses=losses, backend=backend, **kw)
        return loss, p, state, losses

    before = fastnn.get_num_threads()
    try:
        runs = []
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            runs.append(run("c", X))
    finally:
        fastnn.set_num_threads(before)
    for one, two in zip(*runs):
        np.testing.assert_array_equal(two, one)
    _close(runs[0], run("numpy", X.toarray()), dtype)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
def test_sparse_epoch_over_a_perm_longer_than_x(backend):
    """perm may repeat rows (m > n, as for bootstrapped rows): the CSR epoch reads only the
    rows perm names (its batches' non-zeros sized from them)."""
    sizes = (50, 8, 3)
    params, X, y, _ = _problem(np.float64, "softmax_xent", sizes, n=40, density=0.3)
    perm = np.random.default_rng(3).integers(0, 40, 130)
    runs = []
    for Xb in (X, X.toarray()):
        p = params.copy()
        state = np.zeros((2, p.size))
        loss = K.train_epoch(p, np.empty_like(p), state, Xb, y, perm, sizes=sizes, activation="tanh",
                             loss="softmax_xent", optimizer="adam", lr=0.05, step=0, batch_size=16, alpha=0.01,
                             backend=backend if Xb is X else "numpy")
        runs.append((loss, p, state))
    _close(runs[0], runs[1], np.float64)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_sparse_gradient_matches_finite_differences(backend, loss):
    """Central differences of loss_grad's loss on a CSR X, every parameter."""
    sizes = (12, 5, 3)
    params, X, y, sw = _problem(np.float64, loss, sizes, n=25, density=0.3, weighted=True)
    kw = dict(sizes=sizes, activation="tanh", loss=loss, alpha=0.05, sample_weight=sw, backend=backend)
    grads = np.empty_like(params)
    K.loss_grad(params, grads, X, y, **kw)
    h, fd = 1e-6, np.empty_like(params)
    scratch = np.empty_like(params)
    for i in range(params.size):
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (K.loss_grad(up, scratch, X, y, **kw) - K.loss_grad(down, scratch, X, y, **kw)) / (2 * h)
    np.testing.assert_allclose(grads, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
def test_duplicate_unsorted_and_empty_entries(backend):
    """A CSR with unsorted column indices, a column stored twice in a row (they add up, as
    in X.toarray()), empty rows and explicit zeros trains as its dense form."""
    sizes = (6, 4, 2)
    indptr = np.array([0, 3, 3, 6, 7, 7])
    indices = np.array([5, 1, 5, 0, 4, 2, 3], dtype=np.int32)
    data = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 1.5, -1.0])
    X = sp.csr_matrix((data, indices, indptr), shape=(5, 6))
    assert not X.has_canonical_format
    rng = np.random.default_rng(1)
    params = rng.standard_normal(layout(sizes)[3])
    y = np.array([0, 1, 1, 0, 1], dtype=np.int32)
    dense = X.toarray()
    assert dense[0, 5] == 1.5
    want = _epoch("numpy", params, dense, y, "softmax_xent", sizes, activation="relu")
    got = _epoch(backend, params, X, y, "softmax_xent", sizes, activation="relu")
    _close(got, want, np.float64)


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
@pytest.mark.parametrize("sizes, X", [
    ((40, 8, 1), sp.csr_matrix((50, 40))),  # no non-zero at all: the first layer is its bias
    ((1, 5, 2), sp.random(50, 1, density=0.5, format="csr", random_state=1)),  # one column
], ids=["all-zero", "one-column"])
def test_degenerate_sparse_x(backend, sizes, X):
    loss = "sigmoid_bce" if sizes[-1] == 1 else "softmax_xent"
    rng = np.random.default_rng(3)
    params = rng.standard_normal(layout(sizes)[3]) * 0.3
    y = mlp_targets(rng, loss, X.shape[0], sizes[-1], np.float64)
    want = _epoch("numpy", params, X.toarray(), y, loss, sizes, activation="relu", alpha=0.01)
    got = _epoch(backend, params, X, y, loss, sizes, activation="relu", alpha=0.01)
    _close(got, want, np.float64)


def test_sparse_array_and_int64_indices_are_taken():
    """scipy's sparse arrays (csr_array) and int64 index arrays work as csr_matrix does."""
    sizes = (30, 8, 2)
    params, X, y, _ = _problem(np.float64, "softmax_xent", sizes)
    want = _epoch("c", params, X, y, "softmax_xent", sizes, activation="relu")
    wide = sp.csr_array((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    got = _epoch("c", params, wide, y, "softmax_xent", sizes, activation="relu")
    _close(got, want, np.float64)


def _bad(X, **change):
    sizes = change.pop("sizes", (10, 4, 2))
    params = np.zeros(layout(sizes)[3])
    kw = dict(sizes=sizes, activation="relu", loss="softmax_xent", optimizer="sgd", lr=0.1, step=0,
              batch_size=4, backend="c")
    kw.update(change)
    y = np.zeros(3, dtype=np.int32)  # (X has 3 rows, or claims 2**31: refused before y is read)
    return lambda: K.train_epoch(params, np.empty_like(params), np.empty((0, params.size)), X, y, np.arange(3), **kw)


def _csr(indices=(1, 9), indptr=(0, 1, 2, 2), dtype=np.float64, shape=(3, 10)):
    X = sp.csr_matrix((np.ones(2, dtype), np.array([0, 0], dtype=np.int32), np.array([0, 1, 2, 2])), shape=shape)
    X.indices = np.array(indices, dtype=np.int32)  # (scipy checks only at construction)
    X.indptr = np.array(indptr)
    return X


class _HugeRows(sp.csr_matrix):
    """A CSR whose shape claims 2**31 rows (scipy would need 16 GiB of indptr for a real one)."""

    def __init__(self):
        super().__init__(_csr())

    @property
    def shape(self):
        return (1 << 31, 10)


@pytest.mark.parametrize("exc, match, make", [
    (TypeError, "CSC matrix.*X.tocsr", lambda: _bad(_csr().tocsc())),
    (TypeError, "X.data has dtype float32", lambda: _bad(_csr(dtype=np.float32))),
    (ValueError, "sizes\\[0\\] = 12 columns", lambda: _bad(_csr(), sizes=(12, 4, 2))),
    (ValueError, "fewer than 2\\*\\*31 rows", lambda: _bad(_HugeRows())),
    (ValueError, "X.indices must be column indices in \\[0, 10\\)", lambda: _bad(_csr(indices=(1, 10)))),
    (ValueError, "X.indices must be column indices", lambda: _bad(_csr(indices=(-1, 3)))),
    (ValueError, "X.indptr must be non-decreasing", lambda: _bad(_csr(indptr=(0, 2, 1, 2)))),
    (ValueError, "X.indptr must run from 0 to nnz", lambda: _bad(_csr(indptr=(0, 1, 2, 3)))),
])
def test_bad_sparse_input_is_refused(exc, match, make):
    with pytest.raises(exc, match=match):
        make()()


def test_buffers_must_not_overlap_the_sparse_values():
    """params whose memory holds X's values would change X under the epoch."""
    sizes = (10, 4, 2)
    params = np.zeros(layout(sizes)[3])
    X = sp.csr_matrix((np.ones(2), np.array([1, 2], dtype=np.int32), np.array([0, 1, 2])), shape=(2, 10))
    X.data = params[:2]  # (scipy copied the values at construction)
    assert np.shares_memory(X.data, params)
    with pytest.raises(ValueError, match="params overlaps X.data"):
        K.train_epoch(params, np.empty_like(params), np.empty((0, params.size)), X, np.zeros(2, np.int32),
                      np.arange(2), sizes=sizes, activation="relu", loss="softmax_xent", optimizer="sgd", lr=0.1,
                      step=0, batch_size=2, backend="c")
    with pytest.raises(ValueError, match="grads overlaps X.data"):
        K.loss_grad(np.zeros_like(params), params, X, np.zeros(2, np.int32), sizes=sizes, activation="relu",
                    loss="softmax_xent", backend="c")
