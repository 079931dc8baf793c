/* predict.c -- a whole MLP's forward pass in one call: the logits of every row.
 *
 * What predict / predict_proba computed one call a layer (a dense_forward over all the
 * rows, each layer's output written whole before the next layer read it back), as one
 * native call that takes the rows in chunks through every layer: a chunk's hidden
 * outputs stay in cache between layers, and a single row costs one call from Python
 * instead of one a layer. Each row's logits are those of the layer-by-layer calls, bit
 * for bit: dense_forward's sums never depend on a row's position in its call or on the
 * thread count. Threads (fnn_set_num_threads) split the rows while the layers' products
 * are too small to use them (train.c's rule, internal.h); larger products keep the
 * kernels' own threads. No subnormal flushing: the layer-by-layer calls have none.
 */
#include <stdlib.h>
#include "internal.h"

/* Rows a chunk: the same reasoning as train.c's GRAD_CHUNK_ROWS (each chunk reads every
 * weight again, so fewer rows slow large layers down; more spill the hidden outputs out
 * of L2), with the two hidden buffers under FWD_CHUNK_MAX_BYTES; not tuned apart for the
 * forward pass. */
#define FWD_CHUNK_ROWS 512
#define FWD_CHUNK_MAX_BYTES (8 << 20)
#define FWD_CHUNK_MIN_ROWS 64
#define FWD_ALIGN 64

static size_t fwd_aligned(size_t n) { return (n + FWD_ALIGN - 1) / FWD_ALIGN * FWD_ALIGN; }

#define DEFINE_MLP_FORWARD(T, SFX)                                                         \
/* rows [r0, r1) through every layer, `chunk` rows at a time; h0 / h1: chunk x the       \
 * widest hidden layer each (the hidden outputs alternate between them) */                \
static void forward_rows_##SFX(T *out, const T *params, const T *x, const int64_t *sizes, \
                               int64_t L, int64_t nw, int64_t r0, int64_t r1,             \
                               int64_t chunk, T *h0, T *h1, int act, double act_param) {  \
    for (int64_t r = r0; r < r1; r += chunk) {                                            \
        int64_t rows = r1 - r < chunk ? r1 - r : chunk;                                   \
        const T *in = x + r * sizes[0];                                                   \
        int64_t w_off = 0, b_off = nw;                                                    \
        for (int64_t l = 0; l < L; l++) {                                                 \
            int last = l == L - 1;                                                        \
            T *dst = last ? out + r * sizes[L] : (l % 2 ? h1 : h0);                       \
            fnn_dense_forward_##SFX(dst, NULL, in, params + w_off, params + b_off, rows,  \
                                    sizes[l], sizes[l + 1], last ? FNN_ACT_IDENTITY : act, \
                                    act_param);                                           \
            w_off += sizes[l] * sizes[l + 1];                                             \
            b_off += sizes[l + 1];                                                        \
            in = dst;                                                                     \
        }                                                                                 \
    }                                                                                     \
}                                                                                         \
                                                                                          \
int fnn_mlp_forward_##SFX(T *out, const T *params, const T *x, const int64_t *sizes,      \
                          int64_t L, int64_t n, int act, double act_param) {              \
    int64_t nw = 0, widest = 0;                                                           \
    double flops = 0, largest = 0;                                                        \
    for (int64_t l = 0; l < L; l++) {                                                     \
        nw += sizes[l] * sizes[l + 1];                                                    \
        if (l < L - 1 && sizes[l + 1] > widest) widest = sizes[l + 1];                    \
    }                                                                                     \
    int64_t chunk = widest ? (int64_t)(FWD_CHUNK_MAX_BYTES / (2 * (size_t)widest * sizeof(T))) \
                           : FWD_CHUNK_ROWS;                                              \
    if (chunk > FWD_CHUNK_ROWS) chunk = FWD_CHUNK_ROWS;                                   \
    if (chunk < FWD_CHUNK_MIN_ROWS) chunk = FWD_CHUNK_MIN_ROWS;                           \
    if (chunk > n) chunk = n;                                                             \
    for (int64_t l = 0; l < L; l++) {                                                     \
        double f = 2.0 * (double)chunk * (double)(sizes[l] * sizes[l + 1]);               \
        flops += f * ((double)n / (double)chunk);                                         \
        if (f > largest) largest = f;                                                     \
    }                                                                                     \
    int nt = largest < FNN_KERNEL_THREADS_FLOPS                                           \
                 ? fnn_threads_for(flops, FNN_ROWS_PAR_MIN_FLOPS * (8.0 / sizeof(T))) : 1;  \
    if (nt > n / FNN_MIN_ROWS_PER_THREAD) nt = (int)(n / FNN_MIN_ROWS_PER_THREAD);        \
    if (nt < 1) nt = 1;                                                                   \
    size_t per = fwd_aligned((size_t)chunk * (size_t)widest * sizeof(T));                 \
    char *ws = NULL;                                                                      \
    if (widest) {                                                                         \
        ws = (char *)aligned_alloc(FWD_ALIGN, (size_t)(2 * nt) * per);                    \
        if (!ws) return FNN_ENOMEM;                                                       \
    }                                                                                     \
    if (nt == 1) {                                                                        \
        forward_rows_##SFX(out, params, x, sizes, L, nw, 0, n, chunk, (T *)ws,            \
                           (T *)(ws ? ws + per : NULL), act, act_param);                  \
    } else {                                                                              \
        unsigned fp = fnn_fp_bits(); /* internal.h: the caller's flush bits on every thread */ \
        _Pragma("omp parallel num_threads(nt)")                                           \
        {                                                                                 \
            unsigned saved = fnn_fp_adopt(fp);                                            \
            int u = FNN_THREAD_NUM(), un = FNN_NUM_THREADS();                             \
            char *mine = ws ? ws + (size_t)(2 * u) * per : NULL;                          \
            forward_rows_##SFX(out, params, x, sizes, L, nw, n * u / un, n * (u + 1) / un, \
                               chunk, (T *)mine, (T *)(mine ? mine + per : NULL), act,    \
                               act_param);                                                \
            fnn_fp_restore(fp, saved);                                                    \
        }                                                                                 \
    }                                                                                     \
    free(ws);                                                                             \
    return FNN_OK;                                                                        \
}

DEFINE_MLP_FORWARD(float, f32)
DEFINE_MLP_FORWARD(double, f64)
