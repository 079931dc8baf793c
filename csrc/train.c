/* train.c -- one epoch of mini-batch MLP training in one call (fnn_train_epoch_*).
 *
 * The whole loop (gather, forward, dropout, loss, backward, fused updates) runs
 * here so that Python is crossed once per epoch, not ~10 times per batch. Every
 * step is an ABI kernel (dense, losses, dropout, optimizers), so whatever makes
 * those fast makes this fast; this file only adds the loop and one workspace
 * allocation per call. The spec is fastnn/backends/_train_reference.py.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define DROPOUT_STRIDE 1024u
#define ALIGN 64

/* round a byte count up to the cache-line alignment of every workspace buffer */
static size_t aligned_bytes(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static uint64_t dropout_key(uint64_t seed, uint64_t t, uint64_t l) {
    return fnn_mix64(seed * GOLDEN + t * DROPOUT_STRIDE + l); /* wraps mod 2^64, as in Python */
}

/* Workspace of one epoch, carved from one allocation. Per layer l (0..L-1):
 * h[l] [bs, sizes[l+1]] the activation output; z[l] the pre-activation (only
 * hidden layers of the gelus need it); a[l] the dropped-out hidden output (when
 * dropout > 0). d0/d1: ping-pong buffers for the gradient w.r.t. a layer's input
 * (dx of layer l is dout of layer l-1, which the backward may overwrite as dz). */
#define DEFINE_TRAIN(T, SFX)                                                              \
typedef struct {                                                                          \
    T *xb, *yb, *dlog, *d0, *d1;                                                          \
    int32_t *lb;                                                                          \
    T **h, **z, **a;                                                                      \
    int64_t *w_off, *b_off;                                                               \
    void *block;                                                                          \
} work_##SFX;                                                                             \
                                                                                          \
static int work_alloc_##SFX(work_##SFX *w, const int64_t *sizes, int64_t L, int64_t bs,  \
                            int keep_z, int use_dropout, int labels) {                    \
    int64_t widest_hidden = 1;                                                            \
    for (int64_t l = 1; l < L; l++)                                                       \
        if (sizes[l] > widest_hidden) widest_hidden = sizes[l];                           \
    size_t bytes = aligned_bytes(3 * (size_t)L * sizeof(T *))                            \
                 + aligned_bytes(2 * (size_t)L * sizeof(int64_t))                        \
                 + aligned_bytes((size_t)(bs * sizes[0]) * sizeof(T))                    \
                 + (labels ? aligned_bytes((size_t)bs * sizeof(int32_t))                 \
                           : aligned_bytes((size_t)(bs * sizes[L]) * sizeof(T)))          \
                 + aligned_bytes((size_t)(bs * sizes[L]) * sizeof(T))                    \
                 + 2 * aligned_bytes((size_t)(bs * widest_hidden) * sizeof(T));          \
    for (int64_t l = 0; l < L; l++) {                                                     \
        size_t one = aligned_bytes((size_t)(bs * sizes[l + 1]) * sizeof(T));             \
        int hidden = l < L - 1;                                                           \
        bytes += one * (1 + (hidden && keep_z) + (hidden && use_dropout));               \
    }                                                                                     \
    char *p = (char *)aligned_alloc(ALIGN, bytes);                                        \
    if (!p) return FNN_ENOMEM;                                                            \
    w->block = p;                                                                         \
    /* carve the block into aligned pieces, in the order counted above */               \
    w->h = (T **)p; w->z = w->h + L; w->a = w->z + L;                                     \
    p += aligned_bytes(3 * (size_t)L * sizeof(T *));                                      \
    w->w_off = (int64_t *)p; w->b_off = w->w_off + L;                                     \
    p += aligned_bytes(2 * (size_t)L * sizeof(int64_t));                                  \
    w->xb = (T *)p; p += aligned_bytes((size_t)(bs * sizes[0]) * sizeof(T));              \
    w->lb = NULL; w->yb = NULL;                                                           \
    if (labels) { w->lb = (int32_t *)p; p += aligned_bytes((size_t)bs * sizeof(int32_t)); } \
    else { w->yb = (T *)p; p += aligned_bytes((size_t)(bs * sizes[L]) * sizeof(T)); }     \
    w->dlog = (T *)p; p += aligned_bytes((size_t)(bs * sizes[L]) * sizeof(T));            \
    w->d0 = (T *)p; p += aligned_bytes((size_t)(bs * widest_hidden) * sizeof(T));         \
    w->d1 = (T *)p; p += aligned_bytes((size_t)(bs * widest_hidden) * sizeof(T));         \
    for (int64_t l = 0; l < L; l++) {                                                     \
        size_t one = aligned_bytes((size_t)(bs * sizes[l + 1]) * sizeof(T));             \
        int hidden = l < L - 1;                                                           \
        w->h[l] = (T *)p; p += one;                                                       \
        w->z[l] = NULL; w->a[l] = NULL;                                                   \
        if (hidden && keep_z) { w->z[l] = (T *)p; p += one; }                             \
        if (hidden && use_dropout) { w->a[l] = (T *)p; p += one; }                        \
    }                                                                                     \
    int64_t off = 0;                                                                      \
    for (int64_t l = 0; l < L; l++) { w->w_off[l] = off; off += sizes[l] * sizes[l + 1]; } \
    for (int64_t l = 0; l < L; l++) { w->b_off[l] = off; off += sizes[l + 1]; }           \
    return FNN_OK;                                                                        \
}                                                                                         \
                                                                                          \
/* the mean loss of `rows` rows and its gradient (labels or targets, per `loss`) */      \
static double loss_rows_##SFX(int loss, T *dlog, const T *out, const int32_t *lb,          \
                              const T *yb, int64_t rows, int64_t d_out) {                 \
    if (loss == FNN_LOSS_SOFTMAX_XENT) return fnn_softmax_xent_##SFX(dlog, out, lb, rows, d_out); \
    if (loss == FNN_LOSS_SIGMOID_BCE) return fnn_sigmoid_bce_##SFX(dlog, out, yb, rows, d_out); \
    return fnn_mse_##SFX(dlog, out, yb, rows, d_out);                                     \
}                                                                                         \
                                                                                          \
/* one fused update of a flat slice; st0/st1 are the state rows at the same offset */     \
static void update_##SFX(int opt, T *p, T *st0, T *st1, const T *g, int64_t size,         \
                         double lr, int64_t t, double mu, double b1, double b2,           \
                         double eps, double rho, double l2, double l1, double wd) {       \
    switch (opt) {                                                                        \
    case FNN_OPT_SGD: fnn_sgd_##SFX(p, g, size, lr, l2, l1, wd); break;                   \
    case FNN_OPT_MOMENTUM:                                                                \
    case FNN_OPT_NESTEROV:                                                                \
        fnn_momentum_##SFX(p, st0, g, size, lr, mu, opt == FNN_OPT_NESTEROV, l2, l1, wd);  \
        break;                                                                            \
    case FNN_OPT_ADAGRAD: fnn_adagrad_##SFX(p, st0, g, size, lr, eps, l2, l1, wd); break; \
    case FNN_OPT_RMSPROP: fnn_rmsprop_##SFX(p, st0, g, size, lr, rho, eps, l2, l1, wd); break; \
    default: fnn_adam_##SFX(p, st0, st1, g, size, lr, b1, b2, eps, t, l2, l1, wd); break; \
    }                                                                                     \
}                                                                                         \
                                                                                          \
int fnn_train_epoch_##SFX(double *loss_out, double *batch_losses, T *params, T *grads,   \
                          T *state, const T *x, const int32_t *labels, const T *targets,  \
                          const double *sample_weight,                                    \
                          const int64_t *perm, const int64_t *sizes, int64_t L, int64_t m, \
                          int64_t batch_size, int64_t step, int act, int loss, int opt,   \
                          uint64_t seed, double act_param, double lr, double mu,          \
                          double b1, double b2, double eps, double rho, double alpha,     \
                          double l1, double wd, double dropout) {                         \
    int64_t bs = batch_size < m ? batch_size : m;                                         \
    int keep_z = act == FNN_ACT_GELU || act == FNN_ACT_GELU_TANH;                         \
    int use_dropout = dropout > 0;                                                        \
    work_##SFX w;                                                                         \
    if (work_alloc_##SFX(&w, sizes, L, bs, keep_z, use_dropout, labels != NULL))          \
        return FNN_ENOMEM;                                                                \
    int64_t size = w.b_off[L - 1] + sizes[L], nw = w.b_off[0];                            \
    int n_state = opt == FNN_OPT_SGD ? 0 : (opt >= FNN_OPT_ADAM ? 2 : 1);                 \
    T *st0 = n_state > 0 ? state : NULL, *st1 = n_state > 1 ? state + size : NULL;        \
    uint32_t threshold = (uint32_t)(dropout * (double)(1 << 24));                         \
    double scale = 1.0 / (1.0 - dropout);                                                 \
    int64_t d_in = sizes[0], d_out = sizes[L];                                            \
    double total = 0;                                                                     \
    int64_t nb = (m + batch_size - 1) / batch_size;                                       \
    for (int64_t b = 0; b < nb; b++) {                                                    \
        const int64_t *idx = perm + b * batch_size;                                       \
        int64_t rows = m - b * batch_size < batch_size ? m - b * batch_size : batch_size; \
        uint64_t t = (uint64_t)step + (uint64_t)b + 1;                                    \
        /* gather the batch */                                                            \
        for (int64_t r = 0; r < rows; r++)                                                \
            memcpy(w.xb + r * d_in, x + idx[r] * d_in, (size_t)d_in * sizeof(T));         \
        if (labels) for (int64_t r = 0; r < rows; r++) w.lb[r] = labels[idx[r]];          \
        else for (int64_t r = 0; r < rows; r++)                                           \
            memcpy(w.yb + r * d_out, targets + idx[r] * d_out, (size_t)d_out * sizeof(T)); \
        /* forward */                                                                     \
        const T *in = w.xb;                                                               \
        for (int64_t l = 0; l < L; l++) {                                                 \
            int hidden = l < L - 1;                                                       \
            fnn_dense_forward_##SFX(w.h[l], w.z[l], in, params + w.w_off[l],              \
                                    params + w.b_off[l], rows, sizes[l], sizes[l + 1],    \
                                    hidden ? act : FNN_ACT_IDENTITY, act_param);          \
            in = w.h[l];                                                                  \
            if (hidden && use_dropout) {                                                  \
                fnn_dropout_##SFX(w.a[l], w.h[l], rows * sizes[l + 1],                    \
                                  dropout_key(seed, t, (uint64_t)l), threshold, scale);   \
                in = w.a[l];                                                              \
            }                                                                             \
        }                                                                                 \
        /* loss and its gradient w.r.t. the logits; s = what the mean divides by */      \
        double bl, s = (double)rows;                                                      \
        if (sample_weight) {                                                              \
            s = 0;                                                                        \
            for (int64_t r = 0; r < rows; r++) s += sample_weight[idx[r]];                \
            bl = 0;                                                                       \
            for (int64_t r = 0; r < rows; r++) {                                          \
                double wr = sample_weight[idx[r]];                                        \
                bl += wr * loss_rows_##SFX(loss, w.dlog + r * d_out, w.h[L - 1] + r * d_out, \
                                           labels ? w.lb + r : NULL,                       \
                                           labels ? NULL : w.yb + r * d_out, 1, d_out);    \
                T c = (T)(wr / s);                                                        \
                for (int64_t j = 0; j < d_out; j++) w.dlog[r * d_out + j] *= c;           \
            }                                                                             \
            bl /= s;                                                                      \
        } else                                                                            \
            bl = loss_rows_##SFX(loss, w.dlog, w.h[L - 1], w.lb, w.yb, rows, d_out);      \
        if (alpha > 0) bl += alpha * fnn_l2_##SFX(params, nw) / s;                        \
        /* backward: g is dL/d(output of layer l); dz overwrites it in place */           \
        T *g = w.dlog;                                                                    \
        for (int64_t l = L - 1; l >= 0; l--) {                                            \
            int hidden = l < L - 1;                                                       \
            if (hidden && use_dropout)                                                    \
                fnn_dropout_##SFX(g, g, rows * sizes[l + 1],                              \
                                  dropout_key(seed, t, (uint64_t)l), threshold, scale);   \
            T *dx = l == 0 ? NULL : (g == w.d0 ? w.d1 : w.d0);                            \
            const T *xin = l == 0 ? w.xb : (use_dropout ? w.a[l - 1] : w.h[l - 1]);       \
            fnn_dense_backward_##SFX(dx, grads + w.w_off[l], grads + w.b_off[l], g, g,    \
                                     xin, params + w.w_off[l], w.h[l], w.z[l],            \
                                     rows, sizes[l], sizes[l + 1],                        \
                                     hidden ? act : FNN_ACT_IDENTITY, act_param);         \
            g = dx;                                                                       \
        }                                                                                 \
        /* updates: weights with the penalties, biases without */                         \
        update_##SFX(opt, params, st0, st1, grads, nw, lr, (int64_t)t, mu, b1, b2, eps,   \
                     rho, alpha / s, l1, wd);                                             \
        update_##SFX(opt, params + nw, st0 ? st0 + nw : NULL, st1 ? st1 + nw : NULL,      \
                     grads + nw, size - nw, lr, (int64_t)t, mu, b1, b2, eps, rho,         \
                     0.0, 0.0, 0.0);                                                      \
        if (batch_losses) batch_losses[b] = bl;                                           \
        total += bl * (double)rows;                                                       \
    }                                                                                     \
    free(w.block);                                                                        \
    *loss_out = total / (double)m;                                                        \
    return FNN_OK;                                                                        \
}

DEFINE_TRAIN(float, f32)
DEFINE_TRAIN(double, f64)
