/* dense_sandwich.c -- Xa^T diag(h) Xa for a dense X (fnn_dense_sandwich_*), Xa = X or
 * (X, 1) (a column of ones: a model's intercept): the Hessian of a linear model's loss
 * (newton-cholesky on a dense X, h the rows' curvatures); with several weights a row, one
 * product per column of h (the multinomial Hessian's pairs of classes).
 *
 * Why not X^T (h X) by one product, as scikit-learn's sandwich_dot: that writes and reads
 * back the whole scaled copy h X, appends the ones by another copy or pass, and computes
 * both triangles of a symmetric result (15000 x 100 float64, one thread: 1.3 ms for h X,
 * 4.5 for the product, 0.5 for the intercept's column sums). Here X goes by in chunks of
 * rows: each chunk is copied once into a small buffer Xa_c, scaled into another, h Xa_c
 * (both in L2), and the result's upper triangle gets Xa_c^T (h Xa_c) on the gemm engine in blocks of
 * columns: block [j0, j1) only for rows [0, j1), so the products skip about half of the
 * lower triangle; the lower triangle is then the upper's mirror (exactly symmetric).
 * Entry [a, b] sums (h_i xa_ib) xa_ia chunk after chunk, the rows of a chunk in order
 * (the engine's k loop): the same order on any thread count. Each thread copies every chunk
 * itself and takes its share of the products: whole columns of h when there are enough of
 * them, else column blocks (each thread writes its own parts of the result, no barriers).
 * Several weights: the products go to a scratch [nw, q, q] (the engine writes rows of unit
 * stride), the mirror then interleaves them into out [q, q, nw] (csr_sandwich's layout).
 * The multinomial Hessian took one product G = C^T Q of the pairs' weights C and the rows'
 * outer products Q (n x q(q+1)/2, made in chunks of memory size): 10 classes (55 pairs) of
 * 37500 x 100, one thread, 0.64 s; here 0.37 (two threads: 0.62, here 0.19).
 * Nothing here checks X or h: fastnn.kernels did (shapes, dtype). */
#include <stdlib.h>
#include <string.h>
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

/* dst's rows = h_r times src's (q values each, rows ld apart, h's values hs apart), one build
 * per ISA: the scalings of the chunk's copy are as many as its products' weights (55 for the
 * multinomial Hessian of 10 classes: 65 of its 420 ms in the baseline build) */
#define DEFINE_SCALE_ROWS(T, SFX, ISA, ATTR)                                                  \
static ATTR void scale_rows_##SFX##_##ISA(T *restrict dst, const T *restrict src, const T *h, \
                                          int64_t hs, int64_t rows, int64_t q, int64_t ld) {  \
    for (int64_t r = 0; r < rows; r++) {                                                      \
        const T hr = h[r * hs];                                                               \
        for (int64_t j = 0; j < q; j++) dst[r * ld + j] = hr * src[r * ld + j];               \
    }                                                                                         \
}
DEFINE_SCALE_ROWS(float, f32, generic, )
DEFINE_SCALE_ROWS(double, f64, generic, )
DEFINE_SCALE_ROWS(float, f32, avx512, FNN_TARGET_AVX512)
DEFINE_SCALE_ROWS(double, f64, avx512, FNN_TARGET_AVX512)

/* the thread (of tn) computing weight column w's product's column block b: whole columns to
 * threads in turn when there are at least as many as threads, else blocks by block_owner */
static int unit_owner(int64_t w, int64_t nw, int64_t b, int64_t n_blocks, int64_t nb, int64_t q,
                      int tn) {
    if (tn <= 1) return 0;
    return nw >= tn ? (int)(w % tn) : block_owner(b, n_blocks, nb, q, tn);
}

#define DEFINE_DENSE_SANDWICH(T, SFX, TILE)                                                   \
/* thread t of tn: every chunk of rows copied into its own xa (ch rows of stride ld), then   \
 * for each weight column it has products of, that column's h xa into hxa and the products \
 * of its blocks into res + w q^2 */                                                          \
static void dense_blocks_##SFX(T *res, const T *x, const T *h, int64_t n, int64_t p,          \
                               int64_t nw, int ones, int64_t ld, int64_t nb, int64_t ch,      \
                               T *xa, int t, int tn) {                                        \
    const int64_t q = p + (ones ? 1 : 0), n_blocks = (q + nb - 1) / nb;                       \
    T *hxa = xa + ch * ld;                                                                    \
    for (int64_t i0 = 0; i0 < n; i0 += ch) {                                                  \
        const int64_t rows = n - i0 < ch ? n - i0 : ch;                                       \
        for (int64_t r = 0; r < rows; r++) {                                                  \
            T *ar = xa + r * ld;                                                              \
            memcpy(ar, x + (i0 + r) * p, (size_t)p * sizeof(T));                              \
            if (ones) ar[p] = 1;                                                              \
        }                                                                                     \
        for (int64_t w = 0; w < nw; w++) {                                                    \
            int mine = 0;                                                                     \
            for (int64_t b = 0; b < n_blocks; b++) mine |= unit_owner(w, nw, b, n_blocks, nb, q, tn) == t; \
            if (!mine) continue;                                                              \
            if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX512)                                   \
                scale_rows_##SFX##_avx512(hxa, xa, h + i0 * nw + w, nw, rows, q, ld);         \
            else                                                                              \
                scale_rows_##SFX##_generic(hxa, xa, h + i0 * nw + w, nw, rows, q, ld);        \
            for (int64_t b = 0; b < n_blocks; b++) { /* the first chunk writes (beta 0) */   \
                if (unit_owner(w, nw, b, n_blocks, nb, q, tn) != t) continue;                 \
                const int64_t j0 = b * nb, j1 = j0 + nb < q ? j0 + nb : q;                    \
                fnn_gemm_ex_##SFX(res + w * q * q + j0, q, xa, 1, ld, hxa + j0, ld, 1, j1, j1 - j0, \
                                  rows, (T)1, i0 ? (T)1 : (T)0, NULL, 1);                     \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
int fnn_dense_sandwich_##SFX(T *out, const T *x, const T *h, int64_t n_rows, int64_t n_cols,  \
                             int64_t n_weights, int ones) {                                   \
    const int64_t n = n_rows, p = n_cols, nw = n_weights, q = p + (ones ? 1 : 0);             \
    if (q == 0 || nw == 0) return FNN_OK;                                                     \
    if (n == 0) {                                                                             \
        memset(out, 0, (size_t)(q * q * nw) * sizeof(T));                                     \
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
        flops += 2.0 * (double)n * (double)j1 * (double)(j1 - b * nb) * (double)nw;           \
    }                                                                                         \
    int nt = fnn_threads_for(flops, DENSE_SANDWICH_PAR_MIN);                                  \
    if (nt > n_blocks * nw) nt = (int)(n_blocks * nw);                                        \
    if (nt > 64) nt = 64; /* (block_owner's table) */                                         \
    const size_t per_thread = (size_t)(2 * ch * ld); /* whole cache lines */                  \
    T *bufs = (T *)aligned_alloc(64, (size_t)nt * per_thread * sizeof(T));                    \
    T *res = nw == 1 ? out : (T *)malloc((size_t)(nw * q * q) * sizeof(T));                   \
    if (!bufs || !res) { free(bufs); if (res != out) free(res); return FNN_ENOMEM; }          \
    unsigned fp_ = fnn_fp_bits(); /* the caller's subnormal bits on every thread: internal.h */ \
    _Pragma("omp parallel num_threads(nt) if(nt > 1)")                                        \
    {                                                                                         \
        unsigned saved_ = fnn_fp_adopt(fp_);                                                  \
        int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS(); /* (maybe fewer than nt) */        \
        dense_blocks_##SFX(res, x, h, n, p, nw, ones, ld, nb, ch, bufs + (size_t)t * per_thread, t, tn); \
        fnn_fp_restore(fp_, saved_);                                                          \
    }                                                                                         \
    free(bufs);                                                                               \
    if (nw == 1) {                                                                            \
        fnn_mirror_upper_##SFX(out, q, 1);                                                    \
        return FNN_OK;                                                                        \
    }                                                                                         \
    /* out[a, b, w] from res[w][min(a, b), max(a, b)], row by row of out */                   \
    for (int64_t a = 0; a < q; a++)                                                           \
        for (int64_t b = 0; b < q; b++) {                                                     \
            const int64_t at = a <= b ? a * q + b : b * q + a;                                \
            T *o = out + (a * q + b) * nw;                                                    \
            for (int64_t w = 0; w < nw; w++) o[w] = res[w * q * q + at];                      \
        }                                                                                     \
    free(res);                                                                                \
    return FNN_OK;                                                                            \
}

DEFINE_DENSE_SANDWICH(float, f32, 32)
DEFINE_DENSE_SANDWICH(double, f64, 16)
