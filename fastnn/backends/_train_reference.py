"""One epoch of mini-batch MLP training composed from the NumPy reference kernels.

This is the executable spec of ``fastnn.kernels.train_epoch`` (the C ABI is
fnn_train_epoch_* in csrc/fastnn.h): the C epoch (``_train_c``) and the
Numba epoch (``_train_numba``) must give the same parameters. Like every backend
it trusts its inputs: ``fastnn.kernels.train_epoch`` validated them.

Per batch b (t = step + b + 1, rows = len(batch)):

1. gather the rows ``perm[b*bs : (b+1)*bs]`` of X and y (a sparse X, a CSR: its rows
   stay sparse and the first layer's products run over their non-zeros);
2. forward: ``h_l = act(a_l @ W_l + b_l)`` (the output layer is linear); on every
   hidden layer with dropout p > 0, ``a_{l+1} = dropout(h_l)`` with the key
   ``dropout_key(seed, t * 1024 + l)``, else ``a_{l+1} = h_l``;
3. loss and dlogits of the output (with ``loss_clip`` > 0 the loss value is
   scikit-learn's log loss, probabilities clipped to [loss_clip, 1 - loss_clip]);
   batch loss += ``alpha * l2(weights) / s``
   (= 0.5 alpha sum W^2 / s, scikit-learn's L2 term), where s = rows, or with
   ``sample_weight`` the sum of the batch's weights w_r: the loss is then
   ``sum(w_r * loss_r) / s`` and row r's dlogits its unscaled gradient times
   ``w_r / s`` (scikit-learn's weighting);
4. backward through every layer (dropout's mask again on the way down, act' from
   the pre-dropout h_l);
5. update: the weights slice with coupled L2 ``alpha / s`` (the same as adding
   ``alpha W / s`` to dW), l1 and weight_decay; the biases slice without them.

``grads`` is a workspace: afterwards it holds the last batch's data gradient
(without the L2 term, which the update fuses in).
"""
from __future__ import annotations

import numpy as np

from . import reference as R
from ._common import ACT_IDENTITY, CSR, NEEDS_INPUT_FOR_GRAD, dropout_key, dropout_threshold

NAME = "numpy"

#: loss codes, matching FNN_LOSS_* in csrc/fastnn.h
LOSSES: dict[str, int] = {"softmax_xent": 0, "sigmoid_bce": 1, "mse": 2}
LOSS_SOFTMAX_XENT, LOSS_SIGMOID_BCE, LOSS_MSE = 0, 1, 2

#: optimizer codes, matching FNN_OPT_* in csrc/fastnn.h
OPTIMIZERS: dict[str, int] = {"sgd": 0, "momentum": 1, "nesterov": 2, "adagrad": 3, "rmsprop": 4,
                              "adam": 5, "adamw": 6}
OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, OPT_ADAMW = range(7)
#: loss_grad's "optimizer" (OPT_GRAD_ONLY in csrc/train.c, not a train_epoch option):
#: no update; the weights' gradient gets the coupled L2 term l2 * W instead
OPT_GRAD_ONLY = -1

#: rows of optimizer state each optimizer keeps (state has shape [n_state, params.size])
N_STATE: dict[int, int] = {OPT_SGD: 0, OPT_MOMENTUM: 1, OPT_NESTEROV: 1, OPT_ADAGRAD: 1, OPT_RMSPROP: 1,
                           OPT_ADAM: 2, OPT_ADAMW: 2}

#: the dropout step of hidden layer l at update t is t * DROPOUT_STRIDE + l
DROPOUT_STRIDE = 1024


def layout(sizes):
    """(weight offsets, bias offsets, n_weights, size) of the flat parameter layout."""
    w_off, off = [], 0
    for i, o in zip(sizes[:-1], sizes[1:]):
        w_off.append(off)
        off += i * o
    n_weights = off
    b_off = []
    for o in sizes[1:]:
        b_off.append(off)
        off += o
    return w_off, b_off, n_weights, off


def n_batches(m: int, batch_size: int) -> int:
    """Number of mini-batches of an epoch over m rows."""
    return -(-m // batch_size)


def _update(opt, p, g, st, lr, t, momentum, beta1, beta2, eps, rho, l2, l1, wd):
    """One fused optimizer update of the flat slice p (state rows st[k] are slices too)."""
    if opt == OPT_GRAD_ONLY:
        if l2:
            g += g.dtype.type(l2) * p
    elif opt == OPT_SGD:
        R.sgd(p, g, lr, l2, l1, wd)
    elif opt in (OPT_MOMENTUM, OPT_NESTEROV):
        R.momentum(p, st[0], g, lr, momentum, opt == OPT_NESTEROV, l2, l1, wd)
    elif opt == OPT_ADAGRAD:
        R.adagrad(p, st[0], g, lr, eps, l2, l1, wd)
    elif opt == OPT_RMSPROP:
        R.rmsprop(p, st[0], g, lr, rho, eps, l2, l1, wd)
    else:  # adam, adamw
        R.adam(p, st[0], st[1], g, lr, beta1, beta2, eps, t, l2, l1, wd)


def _first_forward(out, z_out, xs, w, b, act, param):
    """dense_forward of the first layer on a sparse batch xs (scipy.sparse CSR): z = xs @ w,
    then + b (scipy.sparse's order, as scikit-learn's sparse path adds its intercept)."""
    z = z_out if z_out is not None else out
    z[...] = xs @ w
    z += b
    R.act_forward(out, z, act, param)


def _first_backward(dw, db, dz, dout, xs, y, z, act, param):
    """dense_backward of the first layer on a sparse batch xs (no dx): dw = xs^T dz."""
    R.act_backward(dz, dout, y, z, act, param)
    dw[...] = xs.T @ dz
    np.sum(dz, axis=0, out=db)


def _loss(loss, g, out, yb, clip):
    """The mean loss of the rows of `out`; g = its gradient w.r.t. them."""
    if loss == LOSS_SOFTMAX_XENT:
        return R.softmax_xent(g, out, yb, clip)
    if loss == LOSS_SIGMOID_BCE:
        return R.sigmoid_bce(g, out, yb, clip)
    return R.mse(g, out, yb)


def train_epoch(params, grads, state, X, y, perm, sizes, act, param, loss, opt, lr, step, batch_size,
                momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout, seed, batch_losses,
                sample_weight=None, loss_clip=0.0, loss_div=1.0):
    """Run every mini-batch of one epoch in place; return sum(batch_loss * rows) / len(perm).
    A batch's loss: its data term / loss_div, plus alpha * l2(W) / s."""
    sizes = tuple(int(s) for s in sizes)
    L = len(sizes) - 1
    w_off, b_off, nw, _ = layout(sizes)
    W = [params[w_off[l]:w_off[l] + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1]) for l in range(L)]
    B = [params[b_off[l]:b_off[l] + sizes[l + 1]] for l in range(L)]
    gW = [grads[w_off[l]:w_off[l] + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1]) for l in range(L)]
    gB = [grads[b_off[l]:b_off[l] + sizes[l + 1]] for l in range(L)]
    dt = params.dtype
    bs = min(batch_size, perm.shape[0])
    keep_z = act in NEEDS_INPUT_FOR_GRAD
    # workspace, once per call: h = act outputs, z = pre-activations (gelus only),
    # a = dropped-out hidden outputs, d = gradients w.r.t. each layer's input
    h = [np.empty((bs, o), dt) for o in sizes[1:]]
    z = [np.empty((bs, o), dt) if keep_z and l < L - 1 else None for l, o in enumerate(sizes[1:])]
    a = [np.empty((bs, o), dt) if dropout > 0 else None for o in sizes[1:-1]]
    d = [None] + [np.empty((bs, i), dt) for i in sizes[1:-1]]
    dlog = np.empty((bs, sizes[-1]), dt)
    sparse = isinstance(X, CSR)
    if sparse:  # batches of rows of it (scipy.sparse's row indexing), never densified
        import scipy.sparse

        X = scipy.sparse.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape, copy=False)
    xbuf = None if sparse else np.empty((bs, sizes[0]), dt)
    ybuf = np.empty((bs,) + y.shape[1:], y.dtype)
    threshold, scale = dropout_threshold(dropout), 1.0 / (1.0 - dropout)
    m = perm.shape[0]
    total = 0.0
    for b in range(n_batches(m, batch_size)):
        idx = perm[b * batch_size:(b + 1) * batch_size]
        rows = idx.shape[0]
        t = step + b + 1
        yb = ybuf[:rows]
        if sparse:
            xb = X[idx]
        else:
            xb = xbuf[:rows]
            np.take(X, idx, axis=0, out=xb)
        np.take(y, idx, axis=0, out=yb)
        inp = xb  # the input of layer l
        ins = []
        for l in range(L):
            hidden = l < L - 1
            code = act if hidden else ACT_IDENTITY
            zl = z[l][:rows] if hidden and z[l] is not None else None
            forward = _first_forward if sparse and l == 0 else R.dense_forward
            forward(h[l][:rows], zl, inp, W[l], B[l], code, param)
            ins.append(inp)
            inp = h[l][:rows]
            if hidden and dropout > 0:
                R.dropout(a[l][:rows], inp, dropout_key(seed, t * DROPOUT_STRIDE + l), threshold, scale)
                inp = a[l][:rows]
        out, g = h[L - 1][:rows], dlog[:rows]
        if sample_weight is None:
            s = float(rows)
            batch_loss = _loss(loss, g, out, yb, loss_clip)
        else:  # row by row, each loss and gradient unscaled, then weighted
            wb = sample_weight[idx]
            s = 0.0
            for r in range(rows):
                s += float(wb[r])
            batch_loss = 0.0
            for r in range(rows):
                batch_loss += float(wb[r]) * _loss(loss, g[r:r + 1], out[r:r + 1], yb[r:r + 1], loss_clip)
                g[r] *= dt.type(float(wb[r]) / s)
            batch_loss /= s
        batch_loss /= loss_div  # the reported value only: g is the gradient of the undivided loss
        if alpha > 0:
            batch_loss += alpha * R.l2(params[:nw]) / s
        for l in range(L - 1, -1, -1):
            hidden = l < L - 1
            if hidden and dropout > 0:  # g is d(a_{l+1}); back through the same mask
                R.dropout(g, g, dropout_key(seed, t * DROPOUT_STRIDE + l), threshold, scale)
            dx = d[l][:rows] if l > 0 else None
            code = act if hidden else ACT_IDENTITY
            yl = h[l][:rows]  # the linear output layer ignores it
            zl = z[l][:rows] if hidden and z[l] is not None else None
            if sparse and l == 0:
                _first_backward(gW[0], gB[0], g, g, ins[0], yl, zl, code, param)
            else:
                R.dense_backward(dx, gW[l], gB[l], g, g, ins[l], W[l], yl, zl, code, param)
            g = dx
        st_w = [s[:nw] for s in state]
        st_b = [s[nw:] for s in state]
        _update(opt, params[:nw], grads[:nw], st_w, lr, t, momentum, beta1, beta2, eps, rho,
                alpha / s, l1, weight_decay)
        _update(opt, params[nw:], grads[nw:], st_b, lr, t, momentum, beta1, beta2, eps, rho, 0.0, 0.0, 0.0)
        if batch_losses is not None:
            batch_losses[b] = batch_loss
        total += batch_loss * rows
    return total / m


def mlp_forward_with(dense_forward, out, params, X, sizes, act, param):
    """mlp_forward through a backend's dense_forward (this module's and Numba's)."""
    w_off, b_off, _, _ = layout(sizes)
    last = len(sizes) - 2
    h = X
    for l in range(last + 1):
        w = params[w_off[l]:w_off[l] + sizes[l] * sizes[l + 1]].reshape(sizes[l], sizes[l + 1])
        b = params[b_off[l]:b_off[l] + sizes[l + 1]]
        dst = out if l == last else np.empty((X.shape[0], sizes[l + 1]), X.dtype)
        dense_forward(dst, None, h, w, b, ACT_IDENTITY if l == last else act, param)
        h = dst
    return out


def mlp_forward(out, params, X, sizes, act, param):
    """The network's logits (its output layer linear) for every row of a dense X, into
    out [n, sizes[-1]]: one dense_forward a layer over all rows (the spec of
    fnn_mlp_forward_*, which takes the rows in chunks: the same values row by row)."""
    return mlp_forward_with(R.dense_forward, out, params, X, sizes, act, param)


#: loss_grad's rows per pass on this backend and Numba's (C chunks its own): a pass is one
#: train_epoch batch, whose workspace holds every layer's outputs and gradients for its
#: rows (one pass over 10^6 rows of 784-256-128-10 would take ~13 GB).
GRAD_CHUNK_ROWS = 8192


def loss_grad(params, grads, X, y, sizes, act, param, loss, alpha, sample_weight=None, loss_clip=0.0):
    """One batch of every row of X in order, no dropout, no update (OPT_GRAD_ONLY):
    return its loss; grads = its gradient, the weights' with alpha W / s added."""
    return loss_grad_in_chunks(train_epoch, params, grads, X, y, sizes, act, param, loss, alpha, sample_weight,
                               loss_clip)


def loss_grad_in_chunks(epoch, params, grads, X, y, sizes, act, param, loss, alpha, sample_weight, loss_clip,
                        chunk_rows=None):
    """loss_grad through `epoch` (a backend's train_epoch): one OPT_GRAD_ONLY batch of all
    rows up to chunk_rows (default GRAD_CHUNK_ROWS) of them; beyond, one batch a chunk
    without the L2 term, each chunk's loss and gradient weighted by its share s_c / s of the
    rows (or of the sample weights; a chunk of zero weight adds nothing), then the L2 term once."""
    n = X.shape[0]
    chunk = GRAD_CHUNK_ROWS if chunk_rows is None else chunk_rows
    no_state = np.empty((0, params.shape[0]), params.dtype)

    def one_batch(rows, a, g):
        return epoch(params, g, no_state, X, y, rows, sizes, act, param, loss, OPT_GRAD_ONLY, 0.0, 0, rows.shape[0],
                     0.0, 0.0, 0.0, 0.0, 0.0, a, 0.0, 0.0, 0.0, 0, None, sample_weight, loss_clip)

    if n <= chunk:
        return one_batch(np.arange(n, dtype=np.int64), alpha, grads)
    s = float(n) if sample_weight is None else float(np.sum(sample_weight))
    grads[...] = 0
    part = np.empty_like(grads)
    total = 0.0
    for r0 in range(0, n, chunk):
        rows = np.arange(r0, min(n, r0 + chunk), dtype=np.int64)
        s_c = float(rows.shape[0]) if sample_weight is None else float(np.sum(sample_weight[rows]))
        if s_c == 0.0:
            continue
        total += one_batch(rows, 0.0, part) * s_c
        part *= part.dtype.type(s_c / s)
        grads += part
    nw = layout(sizes)[2]
    if alpha > 0:
        grads[:nw] += params.dtype.type(alpha / s) * params[:nw]
        total += alpha * R.l2(params[:nw])
    return total / s
