"""The Numba epoch: one compiled function runs every mini-batch of an epoch.

Same contract and math as ``_train_reference.train_epoch`` (the spec): gather,
forward (matrix products through ``np.dot``, i.e. BLAS, a sparse X's first layer
over its rows' non-zeros, then bias and activation loops), inverted dropout with
the counter-based hash every backend shares, loss and gradient, backward, fused
optimizer updates of the weights (with penalties) and the biases (without). The activations and their
derivatives are the Numba backend's loops (``_numba_elementwise``: one loop per
activation over the vectorisable math of ``_numba_math``), run over a whole
batch per layer, out of place (see the forward); per-element libm calls kept
tanh, sigmoid, softplus, elu and the gelus scalar (2-4x the C epoch's time).
The losses take their exponentials in one flat ``vexp`` pass over the batch
(``_loss``; softmax through the kernels' ``_exp_shifted`` and ``vsum`` rows),
and the L2 term is the l2 kernel's vectorised sum; the logs stay libm's: one per
row for softmax, and log1p / the clipped logs of BCE sit in the float64 row
sums, which do not vectorise anyway.
Compiled with ``cache=True``, ``nogil=True``, ``error_model='numpy'`` and no
fastmath, once per dtype. Numba checks only this file for cache staleness:
after editing a helper module, delete ``fastnn/backends/__pycache__/*.nb[ic]``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ._common import CSR, GOLDEN, dropout_threshold
# the loops' bodies, not their entry points: the epoch never runs them in place (its
# buffers are separate), so the entry points' single-array copies would only add compile time;
# norm_serial is the l2 kernel itself (one sum for both)
from ._numba_elementwise import _act_backward_body, _act_forward_body, _exp_shifted, norm_serial
from ._numba_math import select, vexp, vsum
from ._train_reference import (
    DROPOUT_STRIDE,
    LOSS_SIGMOID_BCE,
    LOSS_SOFTMAX_XENT,
    OPT_ADAGRAD,
    OPT_GRAD_ONLY,
    OPT_MOMENTUM,
    OPT_NESTEROV,
    OPT_RMSPROP,
    OPT_SGD,
    loss_grad_in_chunks,
    mlp_forward_with,
)

NAME = "numba"

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)  # nogil: other threads run meanwhile

_U_GOLDEN = np.uint64(GOLDEN)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)


# ------------------------------------------------------------------------ dropout


@_jit
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_jit
def _dropout_key(seed, t, layer):
    return _mix64(seed * _U_GOLDEN + np.uint64(t) * np.uint64(DROPOUT_STRIDE) + np.uint64(layer))


@_jit
def _dropout(y, x, key, threshold, scale):
    """y = x * keep * scale over flat 1-D views (y may be x)."""
    for i in range(x.shape[0]):
        h = _mix64(key + np.uint64(i + 1) * _U_GOLDEN)
        # x * 0, not 0, when dropped: a NaN (inf * 0 of a dead unit) spreads as in the spec
        y[i] = x[i] * scale if (h >> _S40) >= threshold else x[i] * 0.0


# ---------------------------------------------------------------------- optimizers


@_jit
def _update(opt, p, s0, s1, g, lr, t, mu, b1, b2, eps, rho, l2, l1, wd):
    """One fused update of a flat slice (same per-element order as csrc/optim.c).

    One loop per optimizer (not a branch per element) so that LLVM vectorises it;
    the proximal L1 step, when asked for, is a second pass over p."""
    dt = p.dtype.type
    lr_c, mu_c, b1_c, b2_c, eps_c, rho_c, l2_c = dt(lr), dt(mu), dt(b1), dt(b2), dt(eps), dt(rho), dt(l2)
    dec = dt(lr * wd)
    # 1 - beta / 1 - rho in float64, then rounded, as csrc/optim.c: in float32, beta2 = 1 - 1e-12
    # rounds to 1 and dt(1) - dt(beta2) was 0 (v never grew: steps of lr m / eps)
    one_b1, one_b2, one_rho = dt(1.0 - b1), dt(1.0 - b2), dt(1.0 - rho)
    n = p.shape[0]
    if opt == OPT_GRAD_ONLY:  # loss_grad: the L2 term into the gradient, no update
        if l2 != 0.0:
            for i in range(n):
                g[i] = g[i] + l2_c * p[i]
        return
    if opt == OPT_SGD:
        for i in range(n):
            w = p[i]
            gi = g[i] + l2_c * w
            p[i] = w - dec * w - lr_c * gi
    elif opt == OPT_MOMENTUM or opt == OPT_NESTEROV:
        nest = opt == OPT_NESTEROV
        for i in range(n):
            w = p[i]
            gi = g[i] + l2_c * w
            vi = mu_c * s0[i] - lr_c * gi
            s0[i] = vi
            p[i] = w - dec * w + (mu_c * vi - lr_c * gi if nest else vi)
    elif opt == OPT_ADAGRAD:
        for i in range(n):
            w = p[i]
            gi = g[i] + l2_c * w
            a = s0[i] + gi * gi
            s0[i] = a
            p[i] = w - dec * w - lr_c * gi / (np.sqrt(a) + eps_c)
    elif opt == OPT_RMSPROP:
        for i in range(n):
            w = p[i]
            gi = g[i] + l2_c * w
            sq = rho_c * s0[i] + one_rho * gi * gi
            s0[i] = sq
            p[i] = w - dec * w - lr_c * gi / (np.sqrt(sq) + eps_c)
    else:  # adam, adamw
        lr_t = dt(lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t))
        for i in range(n):
            w = p[i]
            gi = g[i] + l2_c * w
            mi = b1_c * s0[i] + one_b1 * gi
            vi = b2_c * s1[i] + one_b2 * gi * gi
            s0[i] = mi
            s1[i] = vi
            p[i] = w - dec * w - lr_t * mi / (np.sqrt(vi) + eps_c)
    if l1 != 0.0:
        thr = dt(lr * l1)
        zero = dt(0.0)
        for i in range(n):
            w = p[i]
            # w * 0, not 0: a NaN weight stays NaN as in the spec (the divergence check sees it)
            p[i] = w - thr if w > thr else (w + thr if w < -thr else w * zero)


# -------------------------------------------------------------------------- losses


@_jit
def _clip(p, eps):
    """p clipped to [eps, 1 - eps]; NaN passes through."""
    if p < eps:
        return eps
    if p > 1.0 - eps:
        return 1.0 - eps
    return p


@_jit
def _loss(code, dlog, out, labels, targets, idx, sw, clip, rowmax):
    """(the batch's loss, its divisor s); dlog = the loss's gradient w.r.t. the output.

    s is the row count, or with weights (sw non-empty) the sum of the rows'
    weights: row r then counts w_r / s in the loss and its gradient. Targets and
    weights are gathered by idx. clip > 0: the loss is scikit-learn's log loss, the
    probabilities clipped to [clip, 1 - clip]. rowmax: workspace of n elements.
    Softmax takes the kernels' vmax / vsum rows in the dtype (as the reference and C)."""
    n, k = out.shape
    dt = out.dtype.type  # the clipped probabilities are rounded to it, as scikit-learn's are
    zero, one = dt(0.0), dt(1.0)
    if code == LOSS_SOFTMAX_XENT:
        # the softmax kernels' block helper: the max-subtracted logits (vmax rows), then
        # their exponentials in one flat pass (it vectorises however few the classes)
        _exp_shifted(dlog, out, rowmax)
    elif code == LOSS_SIGMOID_BCE:
        # e^-|z| of the whole batch in one flat pass (vectorised), as softmax above
        for r in range(n):
            for j in range(k):
                dlog[r, j] = -abs(out[r, j])
        flat = dlog.reshape(-1)
        for i in range(flat.shape[0]):
            flat[i] = vexp(flat[i])
    weighted = sw.shape[0] > 0
    s = 0.0
    if weighted:
        for r in range(n):
            s += sw[idx[r]]
    else:
        s = float(n)
    total = 0.0
    for r in range(n):
        wr = sw[idx[r]] if weighted else 1.0
        f = wr / s  # row r's share of the gradient
        if code == LOSS_SOFTMAX_XENT:
            mx = rowmax[r]
            se = vsum(dlog[r])  # in the dtype, as the reference, csrc/losses.c and softmax_xent
            lab = labels[idx[r]]
            if clip > 0.0:
                total += wr * -math.log(_clip(dt(dlog[r, lab] / se), clip))
            else:
                total += wr * (mx + math.log(se) - out[r, lab])
            # (softmax - onehot) in the array's dtype, then scaled, as the reference:
            # subtracting f from the stored (rounded) p * f left that rounding behind,
            # about f * 2^-24 in float32 where p is 1, and Adam or RMSprop turned that
            # residue into whole steps (a confidently right class kept moving)
            inv = 1.0 / se
            for j in range(k):
                dlog[r, j] *= inv
            dlog[r, lab] -= 1.0
            for j in range(k):
                dlog[r, j] *= f
        elif code == LOSS_SIGMOID_BCE:
            tr = targets[idx[r]]
            row = 0.0
            for j in range(k):
                z = out[r, j]
                e = dlog[r, j]
                sig = select(z >= zero, one, e) / (one + e)  # in the array's dtype, as C and the reference
                if clip > 0.0:
                    p = _clip(sig, clip)
                    row -= tr[j] * math.log(p) + (1.0 - tr[j]) * math.log(1.0 - p)
                else:
                    row += max(z, 0.0) - z * tr[j] + math.log1p(e)
                dlog[r, j] = (sig - tr[j]) * f
            total += wr * row
        else:
            tr = targets[idx[r]]
            row = 0.0
            for j in range(k):
                d = out[r, j] - tr[j]
                row += 0.5 * d * d
                dlog[r, j] = d * f
            total += wr * row
    return total / s, s


# -------------------------------------------------------------------------- epoch


@_jit
def _csr_forward(z, xdata, xind, xptr, idx, W, bias):
    """z = X[idx] @ W + bias over the rows' non-zeros (a CSR X's first layer), each row's
    sum in scipy.sparse's order (its non-zeros in turn), the bias added last."""
    rows, o = z.shape
    for r in range(rows):
        zr = z[r]
        for j in range(o):
            zr[j] = 0.0
        for q in range(xptr[idx[r]], xptr[idx[r] + 1]):
            v = xdata[q]
            wr = W[xind[q]]
            for j in range(o):
                zr[j] += v * wr[j]
        for j in range(o):
            zr[j] += bias[j]


@_jit
def _csr_weight_grad(gW, xdata, xind, xptr, idx, dz):
    """gW = X[idx]^T dz as scatter-adds of dz's rows (a CSR X's first layer)."""
    rows, o = dz.shape
    gW[:] = 0.0
    for r in range(rows):
        dr = dz[r]
        for q in range(xptr[idx[r]], xptr[idx[r] + 1]):
            v = xdata[q]
            gr = gW[xind[q]]
            for j in range(o):
                gr[j] += v * dr[j]


@_jit
def _epoch(params, grads, state, X, xdata, xind, xptr, labels, targets, perm, sizes, act, param, loss, opt, lr,
           step, batch_size, mu, b1, b2, eps, rho, alpha, l1, wd, dropout, seed, batch_losses, threshold, sw,
           loss_clip, loss_div):
    # X: dense rows, or (xptr non-empty) a CSR X whose values, column indices and row
    # pointers are xdata, xind, xptr (X is then an empty placeholder)
    sparse = xptr.shape[0] > 0
    dt = params.dtype.type
    L = sizes.shape[0] - 1
    m = perm.shape[0]
    bs = min(batch_size, m)
    w_off = np.empty(L, np.int64)
    b_off = np.empty(L, np.int64)
    a_off = np.empty(L, np.int64)  # offsets of each layer's output inside the per-layer buffers (x bs)
    off = 0
    for l in range(L):
        w_off[l] = off
        off += sizes[l] * sizes[l + 1]
    nw = off
    acc = 0
    for l in range(L):
        b_off[l] = off
        off += sizes[l + 1]
        a_off[l] = acc
        acc += sizes[l + 1]
    widest = 1
    for l in range(1, L):
        widest = max(widest, sizes[l])
    use_drop = dropout > 0.0
    scale = dt(1.0 / (1.0 - dropout))
    d0 = sizes[0]
    # workspace, once per call
    xb_buf = np.empty(0 if sparse else bs * d0, params.dtype)
    h_buf = np.empty(bs * acc, params.dtype)
    z_buf = np.empty(bs * acc, params.dtype)
    a_buf = np.empty(bs * acc if use_drop else 0, params.dtype)
    g_buf = np.empty(bs * widest, params.dtype)
    dz_buf = np.empty(bs * widest, params.dtype)
    dlog_buf = np.empty(bs * sizes[L], params.dtype)
    idx_buf = np.empty(bs, np.int64)
    rowmax_buf = np.empty(bs, params.dtype)
    s0 = state[0] if state.shape[0] > 0 else params[:0]
    s1 = state[1] if state.shape[0] > 1 else params[:0]
    total = 0.0
    nb = (m + batch_size - 1) // batch_size
    for b in range(nb):
        start = b * batch_size
        rows = min(batch_size, m - start)
        t = step + b + 1
        idx = idx_buf[:rows]
        for r in range(rows):
            idx[r] = perm[start + r]
        xb = xb_buf[:0 if sparse else rows * d0].reshape(0 if sparse else rows, d0)
        if not sparse:
            for r in range(rows):
                xb[r] = X[idx[r]]
        # forward; x_in = the input of layer l (xb, h_{l-1} or its dropped-out copy)
        x_in = xb
        for l in range(L):
            i, o = sizes[l], sizes[l + 1]
            W = params[w_off[l]:w_off[l] + i * o].reshape(i, o)
            bias = params[b_off[l]:b_off[l] + o]
            h = h_buf[a_off[l] * bs:a_off[l] * bs + rows * o].reshape(rows, o)
            hidden = l < L - 1
            z = (z_buf if hidden else h_buf)[a_off[l] * bs:a_off[l] * bs + rows * o].reshape(rows, o)
            if sparse and l == 0:
                _csr_forward(z, xdata, xind, xptr, idx, W, bias)
            else:
                np.dot(x_in, W, z)
                for r in range(rows):
                    for j in range(o):
                        z[r, j] += bias[j]
            if hidden:
                # h = act(z) into another array: in place, LLVM's runtime alias check fails
                # and the loop runs scalar (5-10x slower for tanh, gelu, softplus...)
                _act_forward_body(h.reshape(-1), z.reshape(-1), act, param)
            x_in = h
            if hidden and use_drop:
                a = a_buf[a_off[l] * bs:a_off[l] * bs + rows * o].reshape(rows, o)
                _dropout(a.reshape(-1), h.reshape(-1), _dropout_key(seed, t, l), threshold, scale)
                x_in = a
        out = h_buf[a_off[L - 1] * bs:a_off[L - 1] * bs + rows * sizes[L]].reshape(rows, sizes[L])
        dlog = dlog_buf[:rows * sizes[L]].reshape(rows, sizes[L])
        batch_loss, s = _loss(loss, dlog, out, labels, targets, idx, sw, loss_clip, rowmax_buf[:rows])
        batch_loss /= loss_div  # the reported value only (see the reference)
        if alpha > 0.0:
            # the Numba l2 kernel's sum (float64 lanes in a vector register): one scalar
            # chain of additions here took a quarter of the epoch at 64-128-64-10, batch 32
            batch_loss += alpha * (0.5 * norm_serial(params[:nw], True)) / s
        # backward; g = dL/d(output of layer l); dz = g * act' into its own buffer (not in place,
        # as h above), so dx = dz W^T can then overwrite g
        g = dlog
        for l in range(L - 1, -1, -1):
            i, o = sizes[l], sizes[l + 1]
            hidden = l < L - 1
            dz = g
            if hidden:
                h = h_buf[a_off[l] * bs:a_off[l] * bs + rows * o].reshape(rows, o)
                z = z_buf[a_off[l] * bs:a_off[l] * bs + rows * o].reshape(rows, o)
                if use_drop:
                    _dropout(g.reshape(-1), g.reshape(-1), _dropout_key(seed, t, l), threshold, scale)
                dz = dz_buf[:rows * o].reshape(rows, o)
                _act_backward_body(dz.reshape(-1), g.reshape(-1), h.reshape(-1), z.reshape(-1), act, param)
            if l == 0:
                x_in = xb
            else:
                po = a_off[l - 1] * bs
                x_in = (a_buf if use_drop else h_buf)[po:po + rows * i].reshape(rows, i)
            W = params[w_off[l]:w_off[l] + i * o].reshape(i, o)
            gW = grads[w_off[l]:w_off[l] + i * o].reshape(i, o)
            gb = grads[b_off[l]:b_off[l] + o]
            if sparse and l == 0:
                _csr_weight_grad(gW, xdata, xind, xptr, idx, dz)
            else:
                np.dot(x_in.T, dz, gW)
            for j in range(o):
                gb[j] = 0.0
            for r in range(rows):
                for j in range(o):
                    gb[j] += dz[r, j]
            if l > 0:
                g = g_buf[:rows * i].reshape(rows, i)
                np.dot(dz, W.T, g)
        _update(opt, params[:nw], s0[:nw] if s0.shape[0] else s0, s1[:nw] if s1.shape[0] else s1, grads[:nw],
                lr, t, mu, b1, b2, eps, rho, alpha / s, l1, wd)
        _update(opt, params[nw:], s0[nw:] if s0.shape[0] else s0, s1[nw:] if s1.shape[0] else s1, grads[nw:],
                lr, t, mu, b1, b2, eps, rho, 0.0, 0.0, 0.0)
        if batch_losses.shape[0]:
            batch_losses[b] = batch_loss
        total += batch_loss * rows
    return total / m


_EMPTY_LABELS = np.empty(0, np.int32)
_EMPTY_LOSSES = np.empty(0, np.float64)
_EMPTY_WEIGHTS = np.empty(0, np.float64)
_EMPTY_IND = np.empty(0, np.int32)
_EMPTY_PTR = np.empty(0, np.int64)
_sizes_cache: dict = {}


def train_epoch(params, grads, state, X, y, perm, sizes, act, param, loss, opt, lr, step, batch_size,
                momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout, seed, batch_losses,
                sample_weight=None, loss_clip=0.0, loss_div=1.0):
    """Run one epoch in compiled code; return sum(batch_loss * rows) / len(perm)."""
    sz = _sizes_cache.get(sizes)
    if sz is None:
        sz = _sizes_cache[sizes] = np.array(sizes, dtype=np.int64)
    if loss == LOSS_SOFTMAX_XENT:
        labels, targets = y, np.empty((0, sizes[-1]), params.dtype)
    else:
        labels, targets = _EMPTY_LABELS, y
    if isinstance(X, CSR):  # one compiled epoch for both: the dense X an empty placeholder
        X, xdata, xind, xptr = np.empty((0, sizes[0]), params.dtype), X.data, X.indices, X.indptr
    else:
        xdata, xind, xptr = params[:0], _EMPTY_IND, _EMPTY_PTR
    return float(_epoch(params, grads, state, X, xdata, xind, xptr, labels, targets, perm, sz, act, param, loss,
                        opt, lr, step, batch_size, momentum, beta1, beta2, eps, rho, alpha, l1, weight_decay, dropout,
                        np.uint64(seed), _EMPTY_LOSSES if batch_losses is None else batch_losses,
                        np.uint64(dropout_threshold(dropout)),
                        _EMPTY_WEIGHTS if sample_weight is None else sample_weight,
                        loss_clip, loss_div))


#: loss_grad's rows per pass on a dense X here: passes of 256 rows keep a batch's layer buffers
#: in cache, where one pass over all rows (the reference's up to 8192) spilled them. One thread,
#: relu, softmax: digits 1797 x 64-100-10 3.3 -> 1.6 ms float64, 1.8 -> 0.8 float32; 8000 x
#: 784-256-10 171 -> 114 ms float64, 79 -> 59 float32 (128 to 1024 rows measured). A sparse X
#: keeps the reference's passes: each pass also clears and adds the whole gradient, which for a
#: wide first layer outweighs a short pass's rows (15000 x 5000 at 2%, 5000-64-1: 54 ms, 74 at 256)
GRAD_CHUNK_ROWS = 256


def loss_grad(params, grads, X, y, sizes, act, param, loss, alpha, sample_weight=None, loss_clip=0.0):
    """The full-batch loss and gradient: _epoch over every row in order with OPT_GRAD_ONLY,
    in chunks of rows (see _train_reference.loss_grad_in_chunks and GRAD_CHUNK_ROWS above)."""
    return loss_grad_in_chunks(train_epoch, params, grads, X, y, sizes, act, param, loss, alpha, sample_weight,
                               loss_clip, None if isinstance(X, CSR) else GRAD_CHUNK_ROWS)


def mlp_forward(out, params, X, sizes, act, param):
    """The network's logits for every row of a dense X (see _train_reference.mlp_forward),
    one of this backend's dense_forward calls a layer."""
    from .numba import dense_forward

    return mlp_forward_with(dense_forward, out, params, X, sizes, act, param)
