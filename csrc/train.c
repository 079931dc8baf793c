/* train.c -- one epoch of mini-batch MLP training in one call (fnn_train_epoch_*).
 *
 * The whole loop (gather, forward, dropout, loss, backward, fused updates) runs
 * here so that Python is crossed once per epoch, not ~10 times per batch. Every
 * step is an ABI kernel (dense, losses, dropout, optimizers), so whatever makes
 * those fast makes this fast; this file only adds the loop and one workspace
 * allocation per call. The spec is fastnn/backends/_train_reference.py.
 *
 * Threads: a batch big enough for several threads is split by rows. Each thread of
 * one team (one OpenMP region per epoch) runs forward, loss and backward on its
 * rows into its own gradient buffer, with the kernels on one thread; after a
 * barrier each thread adds the buffers up, in thread order, over its slice of the
 * parameters and updates that slice; a second barrier ends the step. Two barriers
 * per batch instead of a fork/join per kernel, and no serial phase: a 2-thread
 * epoch of a small MLP used to run no faster than a 1-thread one. A thread count
 * gives the same results on every run; different counts differ in the summation
 * order of the weight gradients.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define DROPOUT_STRIDE 1024u
#define ALIGN 64
/* When a batch is split over threads by rows: FNN_MIN_ROWS_PER_THREAD and its neighbours
 * (internal.h, shared with predict.c's forward pass). */

/* The "optimizer" of fnn_loss_grad: no update; the weights' gradient gets the coupled
 * L2 term alpha W / s instead (what the other optimizers fuse into their update). */
#define OPT_GRAD_ONLY (-1)

/* loss_grad on a CSR x with a narrow first layer takes it row by row (csr.c) */
#define CSR_ROWWISE(E) ((E)->opt == OPT_GRAD_ONLY && (E)->sizes[1] <= FNN_CSR_ROWS_MAX_OUT)

/* loss_grad runs over chunks of up to GRAD_CHUNK_ROWS rows: one batch of all of X kept
 * every layer's [n, width] outputs and gradients, and on digits (1797 rows, 64-100-10,
 * float64) that already spilled out of L2 (a pass took 1.30 ms, more than an epoch of 9
 * batches of 200 with their updates, 1.23); in chunks of 512 it takes 0.98. Fewer rows
 * ran slower where the weights are large (each chunk reads them all again: 784-256-128-10
 * over 10000 rows, float64, 168 ms in chunks of 33, 136 in chunks of 512), more rows
 * spilled again (digits, 1024: 1.17 ms). A CSR x (no rows gathered) too: 15000 rows of
 * 5000 columns at 2%, 5000-64-2, float64, 28.6 ms in chunks of 512, 31.8 of 2048 (and,
 * before grad_share added the first layer in place, 42.6 / 32.7 / 37.5 / 65.7 in chunks
 * of 256 / 512 / 4096 / all rows). The workspace stays under GRAD_CHUNK_MAX_BYTES
 * whatever n is (a chunk of at least GRAD_CHUNK_MIN_ROWS otherwise). */
#define GRAD_CHUNK_ROWS 512
#define GRAD_CHUNK_MAX_BYTES (16 << 20)
#define GRAD_CHUNK_MIN_ROWS 64

/* A CSR x's first-layer update runs in chunks of whole rows of W0 of about W0_CHUNK
 * values (w0_update): its gradient chunk stays in L1 (32 KB in float64). */
#define W0_CHUNK 4096
/* The batch's rows are copied in the shuffled order: each starts at a random place in X,
 * where no hardware prefetcher looks until a few lines of it have missed. The first lines
 * of the row GATHER_AHEAD rows later are requested while this one is copied; the
 * prefetchers follow the rest of it. X from memory (6000 x 784, the default MLP at batch
 * 200, one thread): the fit 0.227 -> 0.216 s float64, 0.126 -> 0.119 s float32; 1-4 rows
 * ahead and 8 lines to whole rows measured the same. */
#define GATHER_AHEAD 2
#define GATHER_LINES 8
static inline void prefetch_row_start(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    size_t n = bytes < (size_t)GATHER_LINES * 64 ? bytes : (size_t)GATHER_LINES * 64;
    for (size_t o = 0; o < n; o += 64) __builtin_prefetch(c + o);
}

static inline int64_t w0_chunk_rows(int64_t out) { return out < W0_CHUNK ? W0_CHUNK / out : 1; }

/* The epoch sorts a CSR x's next batch on a second thread (epoch_serial) when a thread
 * gets this many non-zeros at least (~7 ns each: 14 us, several parallel regions' cost) */
#define CSR_PIPE_MIN_NNZ 2000.0
/* a CSR x's epoch splits its batches' rows over threads from this many FLOPs of the
 * first layer's products a weight of it per thread (see run) */
#define CSR_EPOCH_SPLIT_FLOPS 32.0

static int64_t grad_chunk_rows(const int64_t *sizes, int64_t L, int64_t n, size_t elem, int csr) {
    int64_t per_row = csr ? 0 : sizes[0];      /* x; each layer: output, gradient (x2) */
    for (int64_t l = 1; l <= L; l++) per_row += 3 * sizes[l];
    int64_t rows = (int64_t)(GRAD_CHUNK_MAX_BYTES / ((size_t)per_row * elem));
    if (rows > GRAD_CHUNK_ROWS) rows = GRAD_CHUNK_ROWS;
    if (rows < GRAD_CHUNK_MIN_ROWS) rows = GRAD_CHUNK_MIN_ROWS;
    return rows < n ? rows : n;
}

/* the most non-zeros a batch of `bs` rows holds (the batches of perm; without perm any bs
 * consecutive rows, as loss_grad's threads chunk their own shares of the rows) of a CSR x
 * with row pointers ptr: the size of the batch's transpose (csr.c) */
static int64_t csr_batch_nnz(const int64_t *ptr, const int64_t *perm, int64_t m, int64_t bs) {
    int64_t most = 0;
    if (!perm) {
        for (int64_t r = 0; r < m; r++) {
            int64_t nnz = ptr[r + bs < m ? r + bs : m] - ptr[r];
            if (nnz > most) most = nnz;
        }
        return most;
    }
    for (int64_t s0 = 0; s0 < m; s0 += bs) {
        int64_t s1 = m - s0 < bs ? m : s0 + bs, nnz = 0;
        for (int64_t r = s0; r < s1; r++) {
            int64_t src = perm ? perm[r] : r;
            nnz += ptr[src + 1] - ptr[src];
        }
        if (nnz > most) most = nnz;
    }
    return most;
}

/* round a byte count up to the cache-line alignment of every workspace buffer */
static size_t aligned_bytes(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static uint64_t dropout_key(uint64_t seed, uint64_t t, uint64_t l) {
    return fnn_mix64(seed * GOLDEN + t * DROPOUT_STRIDE + l); /* wraps mod 2^64, as in Python */
}

/* The data of an epoch call, shared by every thread and batch. */
#define DEFINE_TRAIN(T, SFX)                                                              \
typedef struct {                                                                          \
    T *params, *grads, *state;                                                            \
    const T *x, *targets; /* x: X [n, sizes[0]], or the values of a CSR X (xp non-NULL) */ \
    const int32_t *labels, *xi; /* xi, xp: a CSR X's column indices and row pointers */   \
    const int64_t *xp;                                                                    \
    const double *sample_weight;                                                          \
    const int64_t *perm, *sizes;                                                          \
    int64_t L, m, batch_size, step, size, nw;                                             \
    int act, loss, opt, use_dropout, keep_z;                                              \
    uint64_t seed;                                                                        \
    uint32_t threshold;                                                                   \
    double act_param, lr, mu, b1, b2, eps, rho, alpha, l1, wd, scale;                     \
    double loss_clip;                                                                     \
    double loss_div; /* the data term of a batch's loss divided by it (not its gradient) */ \
    int64_t chunk; /* loss_grad: rows per chunk (grad_chunk_rows) */                       \
    int64_t batch_nnz; /* a CSR x: the most non-zeros of a batch or chunk (csr_batch_nnz) */ \
    int64_t *w_off, *b_off;                                                               \
} epoch_##SFX;                                                                            \
                                                                                          \
/* Workspace of one thread for up to `bs` rows, carved from one allocation. Per layer    \
 * l (0..L-1): h[l] [bs, sizes[l+1]] the activation output; z[l] the pre-activation     \
 * (only hidden layers of the gelus need it); a[l] the dropped-out hidden output (when   \
 * dropout > 0). d0/d1: ping-pong buffers for the gradient w.r.t. a layer's input (dx of \
 * layer l is dout of layer l-1, which the backward may overwrite as dz). */             \
typedef struct {                                                                          \
    T *xb, *yb, *dlog, *d0, *d1;                                                          \
    int32_t *lb;                                                                          \
    int64_t *colptr; int32_t *erow; T *eval; /* a CSR x: the batch by column (csr.c) */   \
    int defer_dw0; const T *dz0; /* a CSR x's first-layer weight gradient left to          \
                                  * w0_update (defer_dw0), from dz0 [dz0_rows, out] */    \
    int64_t dz0_rows;                                                                     \
    int sorted; /* colptr/erow/eval already hold the batch (epoch_serial's pipeline) */   \
    T **h, **z, **a;                                                                      \
    void *block;                                                                          \
} work_##SFX;                                                                             \
                                                                                          \
static int work_alloc_##SFX(work_##SFX *w, const int64_t *sizes, int64_t L, int64_t bs,  \
                            int keep_z, int use_dropout, int labels, int gather, int csr, \
                            int64_t csr_nnz) {                                            \
    int64_t widest_hidden = 1;                                                            \
    for (int64_t l = 1; l < L; l++)                                                       \
        if (sizes[l] > widest_hidden) widest_hidden = sizes[l];                           \
    /* the gathered rows of x (none of a CSR x) and of the labels or targets (none      \
     * without a perm) */                                                                 \
    size_t x_bytes = gather && !csr ? aligned_bytes((size_t)(bs * sizes[0]) * sizeof(T)) : 0; \
    size_t y_bytes = !gather ? 0                                                          \
                   : labels ? aligned_bytes((size_t)bs * sizeof(int32_t))                 \
                            : aligned_bytes((size_t)(bs * sizes[L]) * sizeof(T));         \
    /* a CSR x's batch sorted by column: column pointers, then (row, value) pairs */      \
    size_t t_bytes = !csr ? 0 : aligned_bytes((size_t)(sizes[0] + 1) * sizeof(int64_t))   \
                              + aligned_bytes((size_t)csr_nnz * sizeof(int32_t))          \
                              + aligned_bytes((size_t)csr_nnz * sizeof(T));               \
    size_t bytes = aligned_bytes(3 * (size_t)L * sizeof(T *)) + x_bytes + y_bytes + t_bytes \
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
    w->xb = x_bytes ? (T *)p : NULL; p += x_bytes;                                        \
    w->colptr = NULL; w->erow = NULL; w->eval = NULL;                                     \
    w->defer_dw0 = 0; w->dz0 = NULL; w->dz0_rows = 0; w->sorted = 0;                      \
    if (csr) {                                                                            \
        w->colptr = (int64_t *)p; p += aligned_bytes((size_t)(sizes[0] + 1) * sizeof(int64_t)); \
        w->erow = (int32_t *)p; p += aligned_bytes((size_t)csr_nnz * sizeof(int32_t));    \
        w->eval = (T *)p; p += aligned_bytes((size_t)csr_nnz * sizeof(T));                \
    }                                                                                     \
    w->lb = gather && labels ? (int32_t *)p : NULL;                                       \
    w->yb = gather && !labels ? (T *)p : NULL;                                            \
    p += y_bytes;                                                                         \
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
    return FNN_OK;                                                                        \
}                                                                                         \
                                                                                          \
/* the mean loss of `rows` rows and its gradient (labels or targets, per `loss`) */      \
static double loss_rows_##SFX(const epoch_##SFX *E, T *dlog, const T *out, const int32_t *lb, \
                              const T *yb, int64_t rows, int64_t d_out) {                 \
    if (E->loss == FNN_LOSS_SOFTMAX_XENT)                                                 \
        return fnn_softmax_xent_clipped_##SFX(dlog, out, lb, rows, d_out, E->loss_clip);  \
    if (E->loss == FNN_LOSS_SIGMOID_BCE)                                                  \
        return fnn_sigmoid_bce_clipped_##SFX(dlog, out, yb, rows, d_out, E->loss_clip);   \
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
/* Update parameters [p0, p1) of batch t with its gradient g: the weights with the        \
 * penalties (coupled L2 alpha / s), the biases without. */                               \
static void update_range_##SFX(const epoch_##SFX *E, const T *g, int64_t p0, int64_t p1,  \
                               uint64_t t, double s) {                                    \
    if (E->opt == OPT_GRAD_ONLY) { /* g is E->grads: add the L2 term, update nothing */  \
        T c = (T)(E->alpha / s), *gw = E->grads;                                          \
        int64_t w1 = p1 < E->nw ? p1 : E->nw;                                             \
        if (E->alpha > 0)                                                                 \
            for (int64_t p = p0; p < w1; p++) gw[p] += c * E->params[p];                  \
        return;                                                                           \
    }                                                                                     \
    int n_state = E->opt == FNN_OPT_SGD ? 0 : (E->opt >= FNN_OPT_ADAM ? 2 : 1);           \
    T *st0 = n_state > 0 ? E->state : NULL, *st1 = n_state > 1 ? E->state + E->size : NULL; \
    int64_t w1 = p1 < E->nw ? p1 : E->nw, b0 = p0 > E->nw ? p0 : E->nw;                   \
    if (w1 > p0)                                                                          \
        update_##SFX(E->opt, E->params + p0, st0 ? st0 + p0 : NULL, st1 ? st1 + p0 : NULL, \
                     g + p0, w1 - p0, E->lr, (int64_t)t, E->mu, E->b1, E->b2, E->eps,     \
                     E->rho, E->alpha / s, E->l1, E->wd);                                 \
    if (p1 > b0)                                                                          \
        update_##SFX(E->opt, E->params + b0, st0 ? st0 + b0 : NULL, st1 ? st1 + b0 : NULL, \
                     g + b0, p1 - b0, E->lr, (int64_t)t, E->mu, E->b1, E->b2, E->eps,     \
                     E->rho, 0.0, 0.0, 0.0);                                              \
}                                                                                         \
                                                                                          \
/* A batch's L2 term (fnn_l2 of the weights before the update) and the update of every \
 * parameter: Adam without L1 sums the squares as it updates where it can (the same    \
 * bits, one pass over the weights fewer). */                                           \
static double l2_and_update_##SFX(const epoch_##SFX *E, uint64_t t, double s) {          \
    if (E->alpha > 0 && (E->opt == FNN_OPT_ADAM || E->opt == FNN_OPT_ADAMW) && E->l1 == 0 \
        && E->nw > 0) {                                                                   \
        T *st1 = E->state + E->size;                                                      \
        double sq = fnn_adam_sumsq_##SFX(E->params, E->state, st1, E->grads, E->nw, E->lr, \
                                         E->b1, E->b2, E->eps, (int64_t)t, E->alpha / s, E->wd); \
        if (sq >= 0) {                                                                    \
            if (E->size > E->nw) /* the biases, without penalties */                      \
                update_##SFX(E->opt, E->params + E->nw, E->state + E->nw, st1 + E->nw,    \
                             E->grads + E->nw, E->size - E->nw, E->lr, (int64_t)t, E->mu,  \
                             E->b1, E->b2, E->eps, E->rho, 0.0, 0.0, 0.0);                \
            return 0.5 * sq;                                                              \
        }                                                                                 \
    }                                                                                     \
    double l2 = E->alpha > 0 ? fnn_l2_##SFX(E->params, E->nw) : 0.0;                      \
    update_range_##SFX(E, E->grads, 0, E->size, t, s);                                    \
    return l2;                                                                            \
}                                                                                         \
                                                                                          \
/* The sum a batch's loss divides by: its rows, or the sum of their weights. */           \
static double batch_norm_##SFX(const epoch_##SFX *E, const int64_t *idx, int64_t rows) {  \
    if (!E->sample_weight) return (double)rows;                                           \
    double s = 0;                                                                         \
    for (int64_t r = 0; r < rows; r++) s += E->sample_weight[idx ? idx[r] : r];           \
    return s;                                                                             \
}                                                                                         \
                                                                                          \
/* Forward, loss and backward of rows [r0, r0 + rows) of a batch of `brows` rows       \
 * (idx: the batch's rows of x, NULL for rows [0, brows) of x in order, as loss_grad's  \
 * one batch; s: batch_norm), the weight and bias gradients into g; a CSR x's first     \
 * layer's weight gradient is added into dw0_add instead when that is not NULL, or left  \
 * to w0_update (w->dz0 its dz) when w->defer_dw0.                                       \
 * Returns the rows' part of the batch loss, sum(w_r loss_r) (w_r = 1 unweighted), for  \
 * the caller to divide by s; with `whole` (the rows are the whole batch) and no        \
 * weights, their mean loss as the loss kernel gives it (see batch_loss). */            \
static double rows_grad_##SFX(const epoch_##SFX *E, work_##SFX *w, T *g, const int64_t *idx, \
                              int64_t r0, int64_t rows, int64_t brows, double s, uint64_t t, \
                              int whole, T *dw0_add) {                                    \
    const int64_t *sizes = E->sizes;                                                      \
    int64_t L = E->L, d_in = sizes[0], d_out = sizes[L];                                  \
    /* the rows: gathered, or (no idx) read in place; a CSR x is read in place always    \
     * (idx, offset by r0 below, or r0 say which rows) */                                 \
    const int csr = E->xp != NULL;                                                        \
    const T *xb = csr ? NULL : E->x + r0 * d_in;                                          \
    const int32_t *lb = E->labels ? E->labels + r0 : NULL;                                \
    const T *yb = E->targets ? E->targets + r0 * d_out : NULL;                            \
    if (idx) {                                                                            \
        idx += r0;                                                                        \
        if (!csr) {                                                                       \
            for (int64_t r = 0; r < rows; r++) {                                          \
                if (r + GATHER_AHEAD < rows)                                              \
                    prefetch_row_start(E->x + idx[r + GATHER_AHEAD] * d_in, (size_t)d_in * sizeof(T)); \
                memcpy(w->xb + r * d_in, E->x + idx[r] * d_in, (size_t)d_in * sizeof(T)); \
            }                                                                             \
            xb = w->xb;                                                                   \
        }                                                                                 \
        if (E->labels) for (int64_t r = 0; r < rows; r++) w->lb[r] = E->labels[idx[r]];   \
        else for (int64_t r = 0; r < rows; r++)                                           \
            memcpy(w->yb + r * d_out, E->targets + idx[r] * d_out, (size_t)d_out * sizeof(T)); \
        lb = w->lb; yb = w->yb;                                                           \
    }                                                                                     \
    /* forward; dropout masks are indexed by the element's place in the whole batch */    \
    const T *in = xb;                                                                     \
    for (int64_t l = 0; l < L; l++) {                                                     \
        int hidden = l < L - 1;                                                           \
        if (l == 0 && csr) { /* the rows by column (for the backward too), z, then the   \
                              * activation from it (in place without z) */                \
            T *zl = w->z[0] ? w->z[0] : w->h[0];                                          \
            if (CSR_ROWWISE(E))                                                           \
                fnn_csr_forward_rows_##SFX(zl, E->x, E->xi, E->xp, idx, r0, rows,         \
                                           E->params + E->w_off[0], E->params + E->b_off[0], \
                                           sizes[1]);                                     \
            else {                                                                        \
                if (!w->sorted)                                                           \
                    fnn_csr_transpose_##SFX(w->colptr, w->erow, w->eval, E->x, E->xi, E->xp, \
                                            idx, r0, rows, d_in);                         \
                fnn_csr_forward_##SFX(zl, E->x, E->xi, E->xp, idx, r0, rows,              \
                                      E->params + E->w_off[0], E->params + E->b_off[0],   \
                                      d_in, sizes[1], w->colptr, w->erow, w->eval);       \
            }                                                                             \
            if (hidden)                                                                   \
                fnn_act_forward_##SFX(w->h[0], zl, rows, sizes[1], E->act, E->act_param); \
        } else                                                                            \
            fnn_dense_forward_##SFX(w->h[l], w->z[l], in, E->params + E->w_off[l],        \
                                    E->params + E->b_off[l], rows, sizes[l], sizes[l + 1], \
                                    hidden ? E->act : FNN_ACT_IDENTITY, E->act_param);    \
        in = w->h[l];                                                                     \
        if (hidden && E->use_dropout) {                                                   \
            fnn_dropout_from_##SFX(w->a[l], w->h[l], rows * sizes[l + 1], r0 * sizes[l + 1], \
                                   dropout_key(E->seed, t, (uint64_t)l), E->threshold, E->scale); \
            in = w->a[l];                                                                 \
        }                                                                                 \
    }                                                                                     \
    /* loss and its gradient w.r.t. the logits, scaled for the whole batch */            \
    double part;                                                                          \
    const T *out = w->h[L - 1];                                                           \
    if (E->sample_weight) {                                                               \
        part = 0;                                                                         \
        for (int64_t r = 0; r < rows; r++) {                                              \
            double wr = E->sample_weight[idx ? idx[r] : r0 + r];                          \
            part += wr * loss_rows_##SFX(E, w->dlog + r * d_out, out + r * d_out,         \
                                         lb ? lb + r : NULL, yb ? yb + r * d_out : NULL,   \
                                         1, d_out);                                        \
            T c = (T)(wr / s);                                                            \
            for (int64_t j = 0; j < d_out; j++) w->dlog[r * d_out + j] *= c;              \
        }                                                                                 \
    } else {                                                                              \
        part = loss_rows_##SFX(E, w->dlog, out, lb, yb, rows, d_out);                     \
        if (rows != brows) { /* the kernel divided by `rows`: the batch divides by brows */ \
            T c = (T)((double)rows / (double)brows);                                      \
            for (int64_t i = 0; i < rows * d_out; i++) w->dlog[i] *= c;                   \
        }                                                                                 \
        if (!whole) part *= (double)rows;                                                 \
    }                                                                                     \
    /* backward: gr is dL/d(output of layer l); dz overwrites it in place */              \
    T *gr = w->dlog;                                                                      \
    for (int64_t l = L - 1; l >= 0; l--) {                                                \
        int hidden = l < L - 1;                                                           \
        if (hidden && E->use_dropout)                                                     \
            fnn_dropout_from_##SFX(gr, gr, rows * sizes[l + 1], r0 * sizes[l + 1],         \
                                   dropout_key(E->seed, t, (uint64_t)l), E->threshold, E->scale); \
        if (l == 0 && csr) { /* dz in place, the bias gradient, then the weights' (from  \
                              * the forward's transpose) */                               \
            int64_t o = sizes[1];                                                         \
            T *db = g + E->b_off[0];                                                      \
            if (hidden)                                                                   \
                fnn_act_backward_##SFX(gr, gr, w->h[0], w->z[0], rows, o, E->act, E->act_param); \
            for (int64_t c = 0; c < o; c++) db[c] = 0;                                    \
            for (int64_t r = 0; r < rows; r++)                                            \
                for (int64_t c = 0; c < o; c++) db[c] += gr[r * o + c];                   \
            if (CSR_ROWWISE(E)) { /* (dw0_add: a later chunk of the pass, else its first) */ \
                T *dw = dw0_add ? dw0_add : g + E->w_off[0];                              \
                if (!dw0_add) memset(dw, 0, (size_t)(d_in * o) * sizeof(T));              \
                fnn_csr_weight_grad_rows_##SFX(dw, E->x, E->xi, E->xp, idx, r0, rows, gr, o); \
            } else if (w->defer_dw0)                                                      \
                { w->dz0 = gr; w->dz0_rows = rows; }                                      \
            else if (dw0_add)                                                             \
                fnn_csc_weight_grad_##SFX(dw0_add, w->colptr, w->erow, w->eval, gr, rows, d_in, o, 1); \
            else                                                                          \
                fnn_csc_weight_grad_##SFX(g + E->w_off[0], w->colptr, w->erow, w->eval, gr, \
                                          rows, d_in, o, 0);                              \
            break;                                                                        \
        }                                                                                 \
        T *dx = l == 0 ? NULL : (gr == w->d0 ? w->d1 : w->d0);                            \
        const T *xin = l == 0 ? xb : (E->use_dropout ? w->a[l - 1] : w->h[l - 1]);        \
        fnn_dense_backward_##SFX(dx, g + E->w_off[l], g + E->b_off[l], gr, gr,            \
                                 xin, E->params + E->w_off[l], w->h[l], w->z[l],          \
                                 rows, sizes[l], sizes[l + 1],                            \
                                 hidden ? E->act : FNN_ACT_IDENTITY, E->act_param);       \
        gr = dx;                                                                          \
    }                                                                                     \
    return part;                                                                          \
}                                                                                         \
                                                                                          \
/* the whole batch's loss from its parts (see rows_grad; whole: one part, the whole      \
 * batch, as rows_grad returned it with `whole`), plus the L2 term */                     \
static double batch_loss_##SFX(const epoch_##SFX *E, const double *parts, int n_parts,    \
                               double s, double l2, int whole) {                          \
    double bl;                                                                            \
    if (whole && !E->sample_weight) bl = parts[0];                                        \
    else {                                                                                \
        bl = 0;                                                                           \
        for (int u = 0; u < n_parts; u++) bl += parts[u];                                 \
        bl /= s;                                                                          \
    }                                                                                     \
    bl /= E->loss_div;                                                                    \
    if (E->alpha > 0) bl += E->alpha * l2 / s;                                            \
    return bl;                                                                            \
}                                                                                         \
                                                                                          \
/* batch b of the epoch sorted by column into w's colptr, erow, eval (as rows_grad does) */ \
static void csr_sort_batch_##SFX(const epoch_##SFX *E, work_##SFX *w, int64_t b) {        \
    int64_t r0 = b * E->batch_size;                                                       \
    int64_t rows = E->m - r0 < E->batch_size ? E->m - r0 : E->batch_size;                 \
    const int64_t *idx = E->perm ? E->perm + r0 : NULL;                                   \
    fnn_csr_transpose_##SFX(w->colptr, w->erow, w->eval, E->x, E->xi, E->xp, idx,         \
                            idx ? 0 : r0, rows, E->sizes[0]);                             \
}                                                                                         \
                                                                                          \
/* A CSR x's first layer in the epoch: its weight gradient (rows_grad deferred it) made   \
 * W0_CHUNK elements at a time into a buffer of the thread's, each chunk applied by the  \
 * update while it is in L1: the whole gradient ([in, out], 2.5 MB for 5000 x 64 float64) \
 * is never written and read back. The chunks' 0.5 ||W||^2 (before the update, for the   \
 * batch loss) is taken as the update reads them anyway, summed in chunk order. Chunks   \
 * are independent: any thread count gives the same bits. bufs: nt * W0_CHUNK values,    \
 * sq: one double per chunk. Returns 0.5 ||W0||^2 (0 without alpha). */                  \
static double w0_update_##SFX(const epoch_##SFX *E, const work_##SFX *w, T *bufs,       \
                              double *sq, int nt, uint64_t t, double s) {                \
    const int64_t in = E->sizes[0], o = E->sizes[1];                                      \
    const int64_t per = w0_chunk_rows(o), nch = (in + per - 1) / per;                     \
    int n_state = E->opt == FNN_OPT_SGD ? 0 : (E->opt >= FNN_OPT_ADAM ? 2 : 1);           \
    T *st0 = n_state > 0 ? E->state : NULL, *st1 = n_state > 1 ? E->state + E->size : NULL; \
    unsigned fp = fnn_fp_bits(); /* internal.h: run's flush bits on every thread */       \
    _Pragma("omp parallel num_threads(nt) if(nt > 1)")                                    \
    {                                                                                     \
        unsigned saved = fnn_fp_adopt(fp);                                                \
        T *gb = bufs + (size_t)FNN_THREAD_NUM() * (size_t)(per * o);                      \
        _Pragma("omp for schedule(static)")                                               \
        for (int64_t c = 0; c < nch; c++) {                                               \
            int64_t j0 = c * per, j1 = j0 + per < in ? j0 + per : in, p0 = j0 * o;        \
            int64_t n = (j1 - j0) * o;                                                    \
            fnn_csc_weight_grad_##SFX(gb, w->colptr + j0, w->erow, w->eval, w->dz0,       \
                                      w->dz0_rows, j1 - j0, o, 0);                        \
            /* Adam sums a chunk of one fnn_l2 part as it updates it (l2_and_update) */   \
            double fused = E->alpha > 0 && E->opt >= FNN_OPT_ADAM && E->l1 == 0           \
                           && n <= (int64_t)FNN_ELEMWISE_PAR_MIN                          \
                ? fnn_adam_sumsq_##SFX(E->params + p0, st0 + p0, st1 + p0, gb, n, E->lr,  \
                                       E->b1, E->b2, E->eps, (int64_t)t, E->alpha / s, E->wd) \
                : -1.0;                                                                   \
            if (fused >= 0) { sq[c] = 0.5 * fused; continue; }                            \
            if (E->alpha > 0) { /* in pieces fnn_l2 sums on one thread whatever the count */ \
                sq[c] = 0;                                                                \
                for (int64_t q = 0; q < n; q += (int64_t)FNN_ELEMWISE_PAR_MIN)            \
                    sq[c] += fnn_l2_##SFX(E->params + p0 + q, n - q < (int64_t)FNN_ELEMWISE_PAR_MIN \
                                                              ? n - q : (int64_t)FNN_ELEMWISE_PAR_MIN); \
            }                                                                             \
            update_##SFX(E->opt, E->params + p0, st0 ? st0 + p0 : NULL,                   \
                         st1 ? st1 + p0 : NULL, gb, n, E->lr, (int64_t)t, E->mu, E->b1,   \
                         E->b2, E->eps, E->rho, E->alpha / s, E->l1, E->wd);              \
        }                                                                                 \
        fnn_fp_restore(fp, saved);                                                        \
    }                                                                                     \
    double l2 = 0;                                                                        \
    if (E->alpha > 0) for (int64_t c = 0; c < nch; c++) l2 += sq[c];                      \
    return l2;                                                                            \
}                                                                                         \
                                                                                          \
static int epoch_serial_##SFX(const epoch_##SFX *E, double *loss_out, double *batch_losses) { \
    int64_t bs = E->batch_size < E->m ? E->batch_size : E->m;                             \
    work_##SFX w;                                                                         \
    if (work_alloc_##SFX(&w, E->sizes, E->L, bs, E->keep_z, E->use_dropout,              \
                         E->labels != NULL, E->perm != NULL, E->xp != NULL, E->batch_nnz)) \
        return FNN_ENOMEM;                                                                \
    /* a CSR x: the first layer's gradient and update fused (w0_update) */               \
    const int64_t n0 = E->sizes[0] * E->sizes[1], per = w0_chunk_rows(E->sizes[1]);      \
    int nt0 = 1;                                                                          \
    T *bufs = NULL; double *sq = NULL;                                                    \
    if (E->xp) {                                                                          \
        /* threads for the updates that take a square root and divide (5000-64-2, batch  \
         * 200, 2 threads against 1: float64 Adam / AdaGrad / RMSprop 0.87-0.96 ms a batch \
         * -> 0.62-0.72, float32 0.44-0.45 -> 0.42-0.44); the others are bound by moving  \
         * the batch's sorted entries and dz to the other core (SGD float64 0.52-0.54 ->   \
         * 0.57-0.60, float32 0.31-0.33 -> 0.42-0.43; momentum float32 0.35-0.38 -> 0.46-0.48) */ \
        int divides = E->opt == FNN_OPT_ADAGRAD || E->opt == FNN_OPT_RMSPROP || E->opt >= FNN_OPT_ADAM; \
        nt0 = divides ? fnn_threads_for(0.5 * (double)n0, FNN_ELEMWISE_PAR_MIN) : 1;      \
        bufs = (T *)aligned_alloc(ALIGN, aligned_bytes((size_t)nt0 * (size_t)(per * E->sizes[1]) * sizeof(T))); \
        sq = (double *)malloc((size_t)((E->sizes[0] + per - 1) / per) * sizeof(double));  \
        if (!bufs || !sq) { free(bufs); free(sq); free(w.block); return FNN_ENOMEM; }     \
        w.defer_dw0 = 1;                                                                  \
    }                                                                                     \
    /* a CSR x on 2 threads: the next batch is sorted by column on the second while the  \
     * first trains this one (the sort reads only x and perm): for small dense layers,   \
     * whose kernels would not use the threads anyway, and batches whose sort repays a   \
     * parallel region (CSR_PIPE_MIN_NNZ non-zeros a thread) */                           \
    double dense_flops = 0;                                                               \
    for (int64_t l = 1; l < E->L; l++) dense_flops += 6.0 * (double)bs * (double)(E->sizes[l] * E->sizes[l + 1]); \
    int pipe = E->xp && dense_flops < FNN_KERNEL_THREADS_FLOPS                           \
               && fnn_threads_for((double)E->batch_nnz, CSR_PIPE_MIN_NNZ) >= 2;           \
    work_##SFX nx = w; /* the next batch's sort: nx.colptr, nx.erow, nx.eval */          \
    void *nx_block = NULL;                                                                \
    if (pipe) {                                                                           \
        size_t c_bytes = aligned_bytes((size_t)(E->sizes[0] + 1) * sizeof(int64_t));       \
        size_t r_bytes = aligned_bytes((size_t)E->batch_nnz * sizeof(int32_t));           \
        nx_block = aligned_alloc(ALIGN, c_bytes + r_bytes + aligned_bytes((size_t)E->batch_nnz * sizeof(T))); \
        if (!nx_block) { free(bufs); free(sq); free(w.block); return FNN_ENOMEM; }        \
        nx.colptr = (int64_t *)nx_block;                                                  \
        nx.erow = (int32_t *)((char *)nx_block + c_bytes);                                \
        nx.eval = (T *)((char *)nx_block + c_bytes + r_bytes);                            \
        csr_sort_batch_##SFX(E, &w, 0);                                                   \
        w.sorted = 1;                                                                     \
    }                                                                                     \
    double total = 0;                                                                     \
    int64_t nb = (E->m + E->batch_size - 1) / E->batch_size;                              \
    for (int64_t b = 0; b < nb; b++) {                                                    \
        const int64_t *idx = E->perm ? E->perm + b * E->batch_size : NULL;                \
        int64_t rows = E->m - b * E->batch_size < E->batch_size ? E->m - b * E->batch_size \
                                                                 : E->batch_size;         \
        uint64_t t = (uint64_t)E->step + (uint64_t)b + 1;                                 \
        double s = batch_norm_##SFX(E, idx, rows);                                        \
        double part = 0;                                                                  \
        if (pipe) {                                                                       \
            int more = b + 1 < nb;                                                        \
            _Pragma("omp parallel num_threads(2)")                                        \
            {                                                                             \
                int u = FNN_THREAD_NUM(), un = FNN_NUM_THREADS();                         \
                if (u == 0)                                                               \
                    part = rows_grad_##SFX(E, &w, E->grads, idx, 0, rows, rows, s, t, 1, NULL); \
                if (more && (u == 1 || un == 1)) csr_sort_batch_##SFX(E, &nx, b + 1);     \
            }                                                                             \
        } else                                                                            \
            part = rows_grad_##SFX(E, &w, E->grads, idx, 0, rows, rows, s, t, 1, NULL);   \
        double l2;                                                                        \
        if (E->xp) {                                                                      \
            l2 = w0_update_##SFX(E, &w, bufs, sq, nt0, t, s);                             \
            if (E->alpha > 0 && E->nw > n0) l2 += fnn_l2_##SFX(E->params + n0, E->nw - n0); \
            update_range_##SFX(E, E->grads, n0, E->size, t, s);                           \
        } else                                                                            \
            l2 = l2_and_update_##SFX(E, t, s);                                            \
        double bl = batch_loss_##SFX(E, &part, 1, s, l2, 1);                              \
        if (batch_losses) batch_losses[b] = bl;                                           \
        total += bl * (double)rows;                                                       \
        if (pipe) { /* the next batch's sort becomes the current one */                   \
            int64_t *c = w.colptr; int32_t *r = w.erow; T *v = w.eval;                    \
            w.colptr = nx.colptr; w.erow = nx.erow; w.eval = nx.eval;                     \
            nx.colptr = c; nx.erow = r; nx.eval = v;                                      \
        }                                                                                 \
    }                                                                                     \
    free(w.block); free(nx_block); free(bufs); free(sq);                                  \
    *loss_out = total / (double)E->m;                                                     \
    return FNN_OK;                                                                        \
}                                                                                         \
                                                                                          \
static int epoch_parallel_##SFX(const epoch_##SFX *E, double *loss_out, double *batch_losses, \
                                int nt) {                                                 \
    /* workspaces for whole batches: OpenMP may give fewer threads than asked */         \
    int64_t bs = E->batch_size < E->m ? E->batch_size : E->m;                             \
    size_t gstride = aligned_bytes((size_t)E->size * sizeof(T)) / sizeof(T);              \
    work_##SFX *w = (work_##SFX *)calloc((size_t)nt, sizeof(work_##SFX));                 \
    T *gpart = (T *)aligned_alloc(ALIGN, (size_t)nt * gstride * sizeof(T));               \
    double *parts = (double *)calloc((size_t)(2 * nt), sizeof(double));                   \
    double *l2_parts = parts + nt; /* each thread's slice of the L2 term */               \
    int64_t *part_rows = (int64_t *)calloc((size_t)nt, sizeof(int64_t));                  \
    int status = (w && gpart && parts && part_rows) ? FNN_OK : FNN_ENOMEM;                \
    for (int u = 0; u < nt && status == FNN_OK; u++)                                      \
        status = work_alloc_##SFX(&w[u], E->sizes, E->L, bs, E->keep_z,                   \
                                  E->use_dropout, E->labels != NULL, E->perm != NULL,     \
                                  E->xp != NULL, E->batch_nnz);                           \
    double total = 0;                                                                     \
    int64_t nb = (E->m + E->batch_size - 1) / E->batch_size;                              \
    if (status == FNN_OK) {                                                               \
        unsigned fp = fnn_fp_bits(); /* internal.h: run's flush bits on every thread */   \
        _Pragma("omp parallel num_threads(nt)")                                           \
        {                                                                                 \
            unsigned saved = fnn_fp_adopt(fp);                                            \
            int u = FNN_THREAD_NUM(), un = FNN_NUM_THREADS();                             \
            T *g = gpart + (size_t)u * gstride;                                           \
            /* this thread's slice of the parameters, whole cache lines */               \
            int64_t per = ((E->size + un - 1) / un + 63) & ~(int64_t)63;                  \
            int64_t p0 = per * u < E->size ? per * u : E->size;                           \
            int64_t p1 = per * (u + 1) < E->size ? per * (u + 1) : E->size;               \
            for (int64_t b = 0; b < nb; b++) {                                            \
                const int64_t *idx = E->perm ? E->perm + b * E->batch_size : NULL;        \
                int64_t rows = E->m - b * E->batch_size < E->batch_size                   \
                             ? E->m - b * E->batch_size : E->batch_size;                  \
                uint64_t t = (uint64_t)E->step + (uint64_t)b + 1;                         \
                double s = batch_norm_##SFX(E, idx, rows); /* same value on every thread */ \
                int64_t r0 = rows * u / un, r1 = rows * (u + 1) / un;                     \
                parts[u] = r1 > r0 ? rows_grad_##SFX(E, &w[u], g, idx, r0, r1 - r0, rows, s, t, 0, NULL) : 0.0; \
                part_rows[u] = r1 - r0;                                                   \
                /* the L2 term of the weights before the update, a slice a thread (all of \
                 * it on thread 0 kept the others waiting: digits28's 784-100-10 at batch \
                 * 200 on 2 threads, 0.164 -> 0.160 s float64, 0.094 -> 0.0915 float32) */ \
                int64_t q1 = p1 < E->nw ? p1 : E->nw;                                     \
                l2_parts[u] = E->alpha > 0 && q1 > p0 ? fnn_l2_##SFX(E->params + p0, q1 - p0) : 0.0; \
                _Pragma("omp barrier")                                                    \
                /* the gradient: the threads' buffers added in thread order (a thread     \
                 * without rows this batch holds an older gradient: skipped) */           \
                T *gs = E->grads;                                                         \
                int first = 1;                                                            \
                for (int v = 0; v < un; v++) {                                            \
                    if (!part_rows[v]) continue;                                          \
                    const T *gv = gpart + (size_t)v * gstride;                            \
                    if (first) memcpy(gs + p0, gv + p0, (size_t)(p1 - p0) * sizeof(T));   \
                    else for (int64_t p = p0; p < p1; p++) gs[p] += gv[p];                \
                    first = 0;                                                            \
                }                                                                         \
                update_range_##SFX(E, E->grads, p0, p1, t, s);                            \
                if (u == 0) {                                                             \
                    double l2 = 0;                                                        \
                    for (int v = 0; v < un; v++) l2 += l2_parts[v];                       \
                    double bl = batch_loss_##SFX(E, parts, un, s, l2, 0);                 \
                    if (batch_losses) batch_losses[b] = bl;                               \
                    total += bl * (double)rows;                                           \
                }                                                                         \
                _Pragma("omp barrier")                                                    \
            }                                                                             \
            fnn_fp_restore(fp, saved);                                                    \
        }                                                                                 \
        *loss_out = total / (double)E->m;                                                 \
    }                                                                                     \
    if (w) for (int u = 0; u < nt; u++) free(w[u].block);                                 \
    free(w); free(gpart); free(parts); free(part_rows);                                   \
    return status;                                                                        \
}                                                                                         \
                                                                                          \
/* loss_grad: rows [r0, r1) in chunks of E->chunk into acc (the first chunk's gradient \
 * written, the others' added from tmp; a CSR x's first-layer weight gradient, the     \
 * bulk of the parameters, added into acc directly: adding a whole tmp every chunk     \
 * read and wrote 2.5 MB more a chunk for 5000 x 64 float64 weights); returns their   \
 * part of the loss (see rows_grad: sum(w_r loss_r)), s being the weight of all of X. */ \
static double grad_share_##SFX(const epoch_##SFX *E, work_##SFX *w, T *acc, T *tmp,       \
                               int64_t r0, int64_t r1, double s) {                        \
    double part = 0;                                                                      \
    int64_t skip0 = E->xp ? E->w_off[0] : 0, skip1 = E->xp ? E->w_off[0] + E->sizes[0] * E->sizes[1] : 0; \
    for (int64_t r = r0; r < r1; r += E->chunk) {                                         \
        int64_t rows = r1 - r < E->chunk ? r1 - r : E->chunk;                             \
        T *dw0_add = r != r0 && E->xp ? acc + E->w_off[0] : NULL;                         \
        part += rows_grad_##SFX(E, w, r == r0 ? acc : tmp, NULL, r, rows, E->m, s, 0, 0, dw0_add); \
        if (r != r0) {                                                                    \
            for (int64_t p = 0; p < skip0; p++) acc[p] += tmp[p];                         \
            for (int64_t p = skip1; p < E->size; p++) acc[p] += tmp[p];                   \
        }                                                                                 \
    }                                                                                     \
    return part;                                                                          \
}                                                                                         \
                                                                                          \
/* loss_grad on nt threads, each a contiguous share of the rows (whole chunks of its   \
 * own), its gradient in its own buffer (thread 0's is grads); the buffers are added  \
 * in thread order, each thread over a slice of the parameters, and the L2 term too. */ \
static int grad_pass_##SFX(const epoch_##SFX *E, double *loss_out, int nt) {              \
    int64_t n = E->m;                                                                     \
    size_t gstride = aligned_bytes((size_t)E->size * sizeof(T)) / sizeof(T);              \
    work_##SFX *w = (work_##SFX *)calloc((size_t)nt, sizeof(work_##SFX));                 \
    /* per thread: tmp, and an accumulator for threads 1.. */                             \
    T *bufs = (T *)aligned_alloc(ALIGN, (size_t)(2 * nt) * gstride * sizeof(T));          \
    double *parts = (double *)calloc((size_t)nt, sizeof(double));                         \
    int status = (w && bufs && parts) ? FNN_OK : FNN_ENOMEM;                              \
    for (int u = 0; u < nt && status == FNN_OK; u++)                                      \
        status = work_alloc_##SFX(&w[u], E->sizes, E->L, E->chunk, E->keep_z, 0,           \
                                  E->labels != NULL, 0, E->xp != NULL, E->batch_nnz);     \
    double s = batch_norm_##SFX(E, NULL, n), l2 = 0;                                      \
    int used = 1;                                                                         \
    if (status == FNN_OK && nt == 1) {                                                    \
        parts[0] = grad_share_##SFX(E, &w[0], E->grads, bufs, 0, n, s);                   \
        update_range_##SFX(E, E->grads, 0, E->size, 0, s);                                \
        if (E->alpha > 0) l2 = fnn_l2_##SFX(E->params, E->nw);                            \
    } else if (status == FNN_OK) {                                                        \
        unsigned fp = fnn_fp_bits(); /* internal.h: run's flush bits on every thread */   \
        _Pragma("omp parallel num_threads(nt)")                                           \
        {                                                                                 \
            unsigned saved = fnn_fp_adopt(fp);                                            \
            int u = FNN_THREAD_NUM(), un = FNN_NUM_THREADS();                             \
            if (u == 0) used = un;                                                        \
            T *acc = u == 0 ? E->grads : bufs + (size_t)(nt + u) * gstride;               \
            parts[u] = grad_share_##SFX(E, &w[u], acc, bufs + (size_t)u * gstride,        \
                                        n * u / un, n * (u + 1) / un, s);                 \
            if (u == 0 && E->alpha > 0) l2 = fnn_l2_##SFX(E->params, E->nw);              \
            _Pragma("omp barrier")                                                        \
            int64_t per = ((E->size + un - 1) / un + 63) & ~(int64_t)63;                  \
            int64_t p0 = per * u < E->size ? per * u : E->size;                           \
            int64_t p1 = per * (u + 1) < E->size ? per * (u + 1) : E->size;               \
            for (int v = 1; v < un; v++) {                                                \
                const T *gv = bufs + (size_t)(nt + v) * gstride;                          \
                for (int64_t p = p0; p < p1; p++) E->grads[p] += gv[p];                   \
            }                                                                             \
            update_range_##SFX(E, E->grads, p0, p1, 0, s);                                \
            fnn_fp_restore(fp, saved);                                                    \
        }                                                                                 \
    }                                                                                     \
    if (status == FNN_OK) {                                                               \
        double total = 0;                                                                 \
        for (int u = 0; u < used; u++) total += parts[u];                                 \
        *loss_out = total / s + (E->alpha > 0 ? E->alpha * l2 / s : 0.0);                 \
    }                                                                                     \
    if (w) for (int u = 0; u < nt; u++) free(w[u].block);                                 \
    free(w); free(bufs); free(parts);                                                     \
    return status;                                                                        \
}                                                                                         \
                                                                                          \
/* The layout offsets, then the epoch on one thread or split by rows (fills E's       \
 * w_off, b_off, nw and size). A float32 pass flushes subnormals throughout while the   \
 * knob is on (internal.h), on every thread its kernels use: once a softmax is         \
 * confident its probabilities fall below 1.2e-38 and every product of the gradients   \
 * they start paid a microcode assist (float32, digits, one thread: L-BFGS's (64,)     \
 * evaluations near the optimum 2.4 ms instead of 0.42; 100 epochs of Adam at (128, 64) \
 * 0.29 s instead of 0.19). The update kernels flush on their own as well (optim.c). */ \
static int run_##SFX(epoch_##SFX *E, double *loss_out, double *batch_losses) {            \
    int64_t L = E->L;                                                                     \
    const int64_t *sizes = E->sizes;                                                      \
    int64_t *offs = (int64_t *)malloc(2 * (size_t)L * sizeof(int64_t));                  \
    if (!offs) return FNN_ENOMEM;                                                         \
    E->w_off = offs; E->b_off = offs + L;                                                 \
    int64_t off = 0;                                                                      \
    for (int64_t l = 0; l < L; l++) { E->w_off[l] = off; off += sizes[l] * sizes[l + 1]; } \
    E->nw = off;                                                                          \
    for (int64_t l = 0; l < L; l++) { E->b_off[l] = off; off += sizes[l + 1]; }           \
    E->size = off;                                                                        \
    /* threads by rows: see FNN_MIN_ROWS_PER_THREAD. bs: the rows of a kernel call (a    \
     * batch, or loss_grad's chunk); split: the rows the threads share (a batch, X). */   \
    int grad_only = E->opt == OPT_GRAD_ONLY;                                              \
    int64_t bs = grad_only ? E->chunk : (E->batch_size < E->m ? E->batch_size : E->m);    \
    int64_t split = grad_only ? E->m : bs;                                                \
    double flops = 0, largest = 0;                                                        \
    for (int64_t l = 0; l < L; l++) {                                                     \
        double f = 2.0 * (double)bs * (double)(sizes[l] * sizes[l + 1]);                  \
        flops += 3.0 * f * ((double)split / (double)bs);                                  \
        if (f > largest) largest = f;                                                     \
    }                                                                                     \
    int nt = largest < FNN_ROW_SPLIT_MAX_FLOPS ? fnn_threads_for(flops, FNN_ROWS_PAR_MIN_FLOPS * (8.0 / sizeof(T))) : 1; \
    if (E->xp) E->batch_nnz = csr_batch_nnz(E->xp, E->perm, E->m, bs);                     \
    if (E->xp) {                                                                          \
        /* a CSR x: each thread's gradient holds the whole dense first-layer weight      \
         * gradient ([in, out], 320k values for 5000 columns and 64 units), written and  \
         * added up: in loss_grad once a pass, so the rows split when the products (by    \
         * non-zeros) are 8 FLOPs a weight per thread (15000 x 5000 at 2%, 5000-64-2,      \
         * float64: 27.8 ms on one thread, 14.4 on two); in the epoch every batch, so at  \
         * CSR_EPOCH_SPLIT_FLOPS a weight (below, one thread, whose w0_update may use      \
         * others): a TF-IDF-like batch (200 rows of 100 non-zeros, 5000-64-2: 2 FLOPs a   \
         * weight) stays whole, an image-like one splits (200 rows of 157 non-zeros,       \
         * 784-100-10: 250 FLOPs a weight; float64 epoch on two threads 8.1 -> 5.2 ms) */  \
        double n0 = (double)(sizes[0] * sizes[1]);                                        \
        double nnz = grad_only ? (double)(E->xp[E->m] - E->xp[0]) /* (E->m: X's rows here) */ \
                               : (double)E->batch_nnz;                                    \
        double sflops = flops - 3.0 * 2.0 * (double)split * n0 + 6.0 * nnz * (double)sizes[1]; \
        double per_weight = grad_only ? 8.0 : CSR_EPOCH_SPLIT_FLOPS;                      \
        double per_thread = FNN_ROWS_PAR_MIN_FLOPS * (8.0 / sizeof(T));                  \
        nt = fnn_threads_for(sflops, per_thread > per_weight * n0 ? per_thread : per_weight * n0); \
    }                                                                                     \
    if (nt > split / FNN_MIN_ROWS_PER_THREAD) nt = (int)(split / FNN_MIN_ROWS_PER_THREAD); \
    if (nt < 1) nt = 1;                                                                   \
    int flush = FNN_FLUSHES_##SFX;                                                        \
    unsigned mxcsr = fnn_flush_enter(flush);                                              \
    int status = grad_only ? grad_pass_##SFX(E, loss_out, nt)                             \
               : nt > 1 ? epoch_parallel_##SFX(E, loss_out, batch_losses, nt)             \
                        : epoch_serial_##SFX(E, loss_out, batch_losses);                  \
    fnn_flush_leave(flush, mxcsr);                                                        \
    free(offs);                                                                           \
    return status;                                                                        \
}                                                                                         \
                                                                                          \
/* The epoch on a dense x (xi = xp = NULL) or on a CSR x (x its values). */             \
static int epoch_call_##SFX(double *loss_out, double *batch_losses, T *params, T *grads,  \
                            T *state, const T *x, const int32_t *xi, const int64_t *xp,    \
                            const int32_t *labels, const T *targets,                      \
                            const double *sample_weight, const int64_t *perm,             \
                            const int64_t *sizes, int64_t L, int64_t m, int64_t batch_size, \
                            int64_t step, int act, int loss, int opt, uint64_t seed,      \
                            double act_param, double lr, double mu, double b1, double b2, \
                            double eps, double rho, double alpha, double l1, double wd,   \
                            double dropout, double loss_clip, double loss_div) {          \
    epoch_##SFX E = {                                                                     \
        .params = params, .grads = grads, .state = state, .x = x, .targets = targets,     \
        .labels = labels, .xi = xi, .xp = xp, .sample_weight = sample_weight,             \
        .perm = perm, .sizes = sizes,                                                     \
        .L = L, .m = m, .batch_size = batch_size, .step = step, .act = act, .loss = loss, \
        .opt = opt, .use_dropout = dropout > 0,                                           \
        .keep_z = act == FNN_ACT_GELU || act == FNN_ACT_GELU_TANH, .seed = seed,          \
        .threshold = (uint32_t)(dropout * (double)(1 << 24)), .act_param = act_param,     \
        .lr = lr, .mu = mu, .b1 = b1, .b2 = b2, .eps = eps, .rho = rho, .alpha = alpha,   \
        .l1 = l1, .wd = wd, .scale = 1.0 / (1.0 - dropout), .loss_clip = loss_clip,       \
        .loss_div = loss_div};                                                            \
    return run_##SFX(&E, loss_out, batch_losses);                                         \
}                                                                                         \
                                                                                          \
int fnn_train_epoch_##SFX(double *loss_out, double *batch_losses, T *params, T *grads,   \
                          T *state, const T *x, const int32_t *labels, const T *targets,  \
                          const double *sample_weight,                                    \
                          const int64_t *perm, const int64_t *sizes, int64_t L, int64_t m, \
                          int64_t batch_size, int64_t step, int act, int loss, int opt,   \
                          uint64_t seed, double act_param, double lr, double mu,          \
                          double b1, double b2, double eps, double rho, double alpha,     \
                          double l1, double wd, double dropout, double loss_clip,         \
                          double loss_div) {                                              \
    return epoch_call_##SFX(loss_out, batch_losses, params, grads, state, x, NULL, NULL,  \
                            labels, targets, sample_weight, perm, sizes, L, m, batch_size, \
                            step, act, loss, opt, seed, act_param, lr, mu, b1, b2, eps,   \
                            rho, alpha, l1, wd, dropout, loss_clip, loss_div);            \
}                                                                                         \
                                                                                          \
int fnn_train_epoch_csr_##SFX(double *loss_out, double *batch_losses, T *params, T *grads, \
                              T *state, const T *x_data, const int32_t *x_indices,        \
                              const int64_t *x_indptr, const int32_t *labels,             \
                              const T *targets, const double *sample_weight,              \
                              const int64_t *perm, const int64_t *sizes, int64_t L,       \
                              int64_t m, int64_t batch_size, int64_t step, int act,       \
                              int loss, int opt, uint64_t seed, double act_param,         \
                              double lr, double mu, double b1, double b2, double eps,     \
                              double rho, double alpha, double l1, double wd,             \
                              double dropout, double loss_clip, double loss_div) {        \
    return epoch_call_##SFX(loss_out, batch_losses, params, grads, state, x_data,         \
                            x_indices, x_indptr, labels, targets, sample_weight, perm,    \
                            sizes, L, m, batch_size, step, act, loss, opt, seed,          \
                            act_param, lr, mu, b1, b2, eps, rho, alpha, l1, wd, dropout,  \
                            loss_clip, loss_div);                                         \
}                                                                                         \
                                                                                          \
/* One batch of all n rows, read in place (in chunks, see GRAD_CHUNK_ROWS), and no      \
 * update: params is only read (the epoch's pointer is not const because its updates   \
 * write it). x dense, or CSR as in the epoch. */                                         \
static int grad_call_##SFX(double *loss_out, T *grads, const T *params, const T *x,       \
                           const int32_t *xi, const int64_t *xp, const int32_t *labels,   \
                           const T *targets, const double *sample_weight,                 \
                           const int64_t *sizes, int64_t L, int64_t n, int act, int loss, \
                           double act_param, double alpha, double loss_clip) {            \
    epoch_##SFX E = {                                                                     \
        .params = (T *)params, .grads = grads, .x = x, .xi = xi, .xp = xp,               \
        .targets = targets, .labels = labels, .sample_weight = sample_weight,             \
        .sizes = sizes, .L = L, .m = n, .batch_size = n, .act = act, .loss = loss,        \
        .opt = OPT_GRAD_ONLY,                                                             \
        .keep_z = act == FNN_ACT_GELU || act == FNN_ACT_GELU_TANH, .act_param = act_param, \
        .alpha = alpha, .scale = 1.0, .loss_clip = loss_clip, .loss_div = 1.0,            \
        .chunk = grad_chunk_rows(sizes, L, n, sizeof(T), xp != NULL)};                    \
    return run_##SFX(&E, loss_out, NULL);                                                 \
}                                                                                         \
                                                                                          \
int fnn_loss_grad_##SFX(double *loss_out, T *grads, const T *params, const T *x,          \
                        const int32_t *labels, const T *targets, const double *sample_weight, \
                        const int64_t *sizes, int64_t L, int64_t n, int act, int loss,     \
                        double act_param, double alpha, double loss_clip) {               \
    return grad_call_##SFX(loss_out, grads, params, x, NULL, NULL, labels, targets,       \
                           sample_weight, sizes, L, n, act, loss, act_param, alpha,       \
                           loss_clip);                                                    \
}                                                                                         \
                                                                                          \
int fnn_loss_grad_csr_##SFX(double *loss_out, T *grads, const T *params, const T *x_data,  \
                            const int32_t *x_indices, const int64_t *x_indptr,            \
                            const int32_t *labels, const T *targets,                      \
                            const double *sample_weight, const int64_t *sizes, int64_t L, \
                            int64_t n, int act, int loss, double act_param, double alpha, \
                            double loss_clip) {                                           \
    return grad_call_##SFX(loss_out, grads, params, x_data, x_indices, x_indptr, labels,  \
                           targets, sample_weight, sizes, L, n, act, loss, act_param,     \
                           alpha, loss_clip);                                             \
}

DEFINE_TRAIN(float, f32)
DEFINE_TRAIN(double, f64)
