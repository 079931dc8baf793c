/* dense_sandwich.c -- Xa^T diag(h) Xa for a dense X (fnn_dense_sandwich_*), Xa = X or
 * (X, 1) (a column of ones: a model's intercept): the Hessian of a linear model's loss
 * (newton-cholesky on a dense X, h the rows' curvatures).
 *
 * Why not X^T (h X) by one product, as scikit-learn's sandwich_dot: that writes and reads
 * back the whole scaled copy h X, appends the ones by another copy or pass, and computes
 * both triangles of a symmetric result (15000 x 100 float64, one thread: 1.3 ms for h X,
 * 4.5 for the product, 0.5 for the intercept's column sums). Here X goes by in chunks of
 * rows: each chunk is copied once into two small buffers, Xa_c and h Xa_c (in L2), and
 * the result's upper triangle gets Xa_c^T (h Xa_c) on the gemm engine in blocks of
 * columns: block [j0, j1) only for rows [0, j1), so the products skip about half of the
 * lower triangle; the lower triangle is then the upper's mirror (exactly symmetric).
 * Entry [a, b] sums (h_i xa_ib) xa_ia chunk after chunk, the rows of a chunk in order
 * (the engine's k loop): the same order on any thread count. Threads share each chunk's
 * copy by rows, then take its column blocks (each block its own part of the result).
 * Nothing here checks X or h: fastnn.kernels did (shapes, dtype, finite values). */
#include <stdlib.h>
#include "gemm.h"

/* a chunk's two copies take about this many bytes (both L2-resident) */
#define DENSE_CHUNK_BYTES (256 * 1024)
/* ... and at least this many rows (the k of each product: shorter ones read and write the
 * result's block more often than they add to it) */
#define DENSE_CHUNK_MIN_ROWS 64
/* flops a thread must have before a second one is worth starting */
#define DENSE_SANDWICH_PAR_MIN 4e6

/* the column blocks' width for q columns: a multiple of the widest tile (32 float32 / 16
 * float64 columns), about an eighth of q (the products then cover ~56% of the square) */
static int64_t block_cols(int64_t q, int64_t tile) {
    int64_t w = (q / 8 + tile - 1) / tile * tile;
    return w < tile ? tile : w;
}

/* a copy's row stride: whole cache lines, never a multiple of 1 KiB (the engine reads the
 * transposed copy in place, a column of it at a time: rows 1 KiB apart share L1 sets) */
static int64_t chunk_stride(int64_t q, size_t elem) {
    int64_t line = 64 / (int64_t)elem, ld = (q + line - 1) / line * line;
    return (ld * (int64_t)elem) % 1024 == 0 ? ld + line : ld;
}

/* the thread (of tn) that computes column block b of n_blocks (nb columns each, the last q -
 * (n_blocks - 1) nb): the blocks in decreasing work (rows j1 times columns), each to the thread
 * with the least so far (the lowest on ties) */
static int block_owner(int64_t b, int64_t n_blocks, int64_t nb, int64_t q, int tn) {
    double load[64] = {0};
    int owner = 0;
    for (int64_t c = n_blocks - 1; c >= 0 && c >= b; c--) {
        int64_t j1 = (c + 1) * nb < q ? (c + 1) * nb : q;
        owner = 0;
        for (int t = 1; t < tn; t++) if (load[t] < load[owner]) owner = t;
        load[owner] += (double)j1 * (double)(j1 - c * nb);
    }
    return owner;
}

#define DEFINE_DENSE_SANDWICH(T, SFX, TILE)                                                   \
/* thread t of tn: every chunk of rows copied into its own xa / hxa (ch rows of stride ld    \
 * each), then the products of the column blocks it owns */                                   \
static void dense_blocks_##SFX(T *out, const T *x, const T *h, int64_t n, int64_t p, int ones, \
                               int64_t ld, int64_t nb, int64_t ch, T *xa, int t, int tn) {    \
    const int64_t q = p + (ones ? 1 : 0), n_blocks = (q + nb - 1) / nb;                       \
    T *hxa = xa + ch * ld;                                                                    \
    for (int64_t i0 = 0; i0 < n; i0 += ch) {                                                  \
        const int64_t rows = n - i0 < ch ? n - i0 : ch;                                       \
        for (int64_t r = 0; r < rows; r++) {                                                  \
            const T *xr = x + (i0 + r) * p, hr = h[i0 + r];                                   \
            T *ar = xa + r * ld, *br = hxa + r * ld;                                          \
            for (int64_t j = 0; j < p; j++) { ar[j] = xr[j]; br[j] = hr * xr[j]; }            \
            if (ones) { ar[p] = 1; br[p] = hr; }                                              \
        }                                                                                     \
        for (int64_t b = 0; b < n_blocks; b++) { /* the first chunk writes (beta 0) */       \
            if (tn > 1 && block_owner(b, n_blocks, nb, q, tn) != t) continue;                 \
            const int64_t j0 = b * nb, j1 = j0 + nb < q ? j0 + nb : q;                        \
            fnn_gemm_ex_##SFX(out + j0, q, xa, 1, ld, hxa + j0, ld, 1, j1, j1 - j0, rows,     \
                              (T)1, i0 ? (T)1 : (T)0, NULL, 1);                               \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
int fnn_dense_sandwich_##SFX(T *out, const T *x, const T *h, int64_t n_rows, int64_t n_cols,  \
                             int ones) {                                                      \
    const int64_t n = n_rows, p = n_cols, q = p + (ones ? 1 : 0);                             \
    if (q == 0) return FNN_OK;                                                                \
    if (n == 0) {                                                                             \
        for (int64_t i = 0; i < q * q; i++) out[i] = 0;                                       \
        return FNN_OK;                                                                        \
    }                                                                                         \
    const int64_t ld = chunk_stride(q, sizeof(T)), nb = block_cols(q, TILE);                  \
    const int64_t n_blocks = (q + nb - 1) / nb;                                               \
    int64_t ch = DENSE_CHUNK_BYTES / (2 * ld * (int64_t)sizeof(T));                           \
    if (ch < DENSE_CHUNK_MIN_ROWS) ch = DENSE_CHUNK_MIN_ROWS;                                 \
    if (ch > n) ch = n;                                                                       \
    /* the products' flops (the blocks' rows [0, j1) by their columns, 2 a term) */           \
    double flops = 0;                                                                         \
    for (int64_t b = 0; b < n_blocks; b++) {                                                  \
        int64_t j1 = (b + 1) * nb < q ? (b + 1) * nb : q;                                     \
        flops += 2.0 * (double)n * (double)j1 * (double)(j1 - b * nb);                        \
    }                                                                                         \
    int nt = fnn_threads_for(flops, DENSE_SANDWICH_PAR_MIN);                                  \
    if (nt > n_blocks) nt = (int)n_blocks;                                                    \
    const size_t per_thread = (size_t)(2 * ch * ld); /* whole cache lines */                  \
    T *bufs = (T *)aligned_alloc(64, (size_t)nt * per_thread * sizeof(T));                    \
    if (!bufs) return FNN_ENOMEM;                                                             \
    unsigned fp_ = fnn_fp_bits(); /* the caller's subnormal bits on every thread: internal.h */ \
    _Pragma("omp parallel num_threads(nt) if(nt > 1)")                                        \
    {                                                                                         \
        unsigned saved_ = fnn_fp_adopt(fp_);                                                  \
        int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS(); /* (maybe fewer than nt) */        \
        dense_blocks_##SFX(out, x, h, n, p, ones, ld, nb, ch, bufs + (size_t)t * per_thread, t, tn); \
        fnn_fp_restore(fp_, saved_);                                                          \
    }                                                                                         \
    free(bufs);                                                                               \
    fnn_mirror_upper_##SFX(out, q, 1);                                                        \
    return FNN_OK;                                                                            \
}

DEFINE_DENSE_SANDWICH(float, f32, 32)
DEFINE_DENSE_SANDWICH(double, f64, 16)
