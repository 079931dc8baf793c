/* sandwich.c -- X^T diag(h) X for a sparse CSR X (fnn_csr_sandwich_*): the Hessian of a
 * linear model's loss, h its per-row curvature (newton-cholesky on a sparse X); with
 * several weights a row, one product per column of h in one pass (the multinomial
 * Hessian's pairs of classes).
 *
 * Each row i adds h_i x_i x_i^T, a product of its nnz_i entries with each other: the
 * upper triangle gets, for every pair of the row's entries j <= l (columns a <= b, the
 * row's indices sorted), (h_i x_ia) x_ib at [a, b]; rows in order, so [a, b] sums its
 * rows in increasing i. The lower triangle is then the upper's mirror (the result is
 * symmetric bit for bit).
 * Why not scipy's product X^T (h X), which scikit-learn runs: a sparse-sparse product
 * builds its result as a sparse matrix first (15000 x 2000 TF-IDF rows of 100 non-zeros,
 * one thread: 240 ms a Hessian, here 80). Here the scatters go straight into the dense
 * result, a block of its rows at a time so the block stays in cache: rows [a0, a1) of the
 * result take each row's entries from the first column >= a0 on (a cursor per row, moving
 * forward block by block), those with columns in [a0, a1) scattering their products with
 * the row's later entries. A block is as tall as fits FNN_SANDWICH_BLOCK_BYTES of the
 * columns it touches (p - a0 each), so the blocks are about equal work; each thread takes
 * a contiguous run of them (each writes its own rows).
 * Scalar with one weight a row (gathers and scatters gain nothing from wider vectors);
 * with several, each scatter's sums are a short vector loop, also built for AVX2 without
 * FMA. No FMA contractions anywhere: the bits are the NumPy reference's and the Numba
 * twin's on every ISA path.
 * Nothing here checks X: fastnn.kernels did (indices sorted and distinct in each row, in
 * [0, p); indptr non-decreasing from 0 to nnz; values finite). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* a block of the result's rows, (p - a0) columns each, fits about this many bytes: L2-resident */
#define FNN_SANDWICH_BLOCK_BYTES (512 * 1024)
/* the mirror's square tiles */
#define MIRROR_TILE 64
/* scatters a thread must have before a second one is worth starting */
#define SANDWICH_PAR_MIN 2e6

/* the first position in [lo, hi) of sorted idx whose value is >= a (hi if none) */
static inline int64_t first_at_least(const int32_t *idx, int64_t lo, int64_t hi, int64_t a) {
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (idx[mid] < a) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

#if FNN_X86
#define SANDWICH_AVX2 __attribute__((target("avx2")))
#else
#define SANDWICH_AVX2
#endif

#define SANDWICH_BLOCKSW(T, SFX, NAME, ATTR)                                                  \
static ATTR void NAME(T *out, const T *data, const int32_t *indices, const int64_t *indptr,    \
                      const T *h, int64_t n, int64_t p, int64_t nw, const int64_t *start,     \
                      int64_t b_lo, int64_t b_hi, int64_t *cur, int64_t *nxt, T *s) {         \
    sandwich_blocks_##SFX(out, data, indices, indptr, h, n, p, nw, start, b_lo, b_hi, cur, nxt, \
                          s, 1);                                                              \
}

#define DEFINE_SANDWICH(T, SFX)                                                               \
/* one thread's blocks [b_lo, b_hi) of the result's rows (starts in start[]): each zeroed,    \
 * then every row's scatters into it. cur[i] is row i's first entry at a column >= the        \
 * block's first, nxt[i] that column (INT64_MAX: none left, or zero weights, which add (+-)0  \
 * everywhere: nothing, as sums start at +0), so a row with nothing in the block costs one    \
 * sequential test, not a search of X. nw weights a row: each scatter is nw contiguous sums  \
 * (s: nw of scratch) */                                                                      \
static inline __attribute__((always_inline)) void                                         \
sandwich_blocks_##SFX(T *out, const T *restrict data, const int32_t *restrict indices,        \
                      const int64_t *indptr, const T *h, int64_t n, int64_t p, int64_t nw,    \
                      const int64_t *start, int64_t b_lo, int64_t b_hi, int64_t *cur,         \
                      int64_t *nxt, T *restrict s, const int multi) {                         \
    for (int64_t i = 0; i < n; i++) {                                                         \
        int64_t j = first_at_least(indices, indptr[i], indptr[i + 1], start[b_lo]);           \
        int weighted = 0;                                                                     \
        for (int64_t t = 0; t < nw; t++) weighted |= h[i * nw + t] != 0;                      \
        cur[i] = j;                                                                           \
        nxt[i] = j < indptr[i + 1] && weighted ? indices[j] : INT64_MAX;                      \
    }                                                                                         \
    for (int64_t b = b_lo; b < b_hi; b++) {                                                   \
        const int64_t a0 = start[b], a1 = start[b + 1];                                       \
        for (int64_t a = a0; a < a1; a++)                                                     \
            memset(out + (a * p + a) * nw, 0, (size_t)((p - a) * nw) * sizeof(T));            \
        for (int64_t i = 0; i < n; i++) {                                                     \
            if (i + 8 < n && nxt[i + 8] < a1) { /* X's tail of a row 8 ahead: its start is random */ \
                __builtin_prefetch(indices + cur[i + 8]);                                     \
                __builtin_prefetch(data + cur[i + 8]);                                        \
                __builtin_prefetch(data + cur[i + 8] + 8);                                    \
            }                                                                                 \
            if (nxt[i] >= a1) continue;                                                       \
            const int64_t hi = indptr[i + 1];                                                 \
            int64_t j = cur[i];                                                               \
            if (multi) {                                                                      \
                const T *hr = h + i * nw;                                                     \
                for (; j < hi && indices[j] < a1; j++) {                                      \
                    for (int64_t t = 0; t < nw; t++) s[t] = hr[t] * data[j];                  \
                    T *row = out + (int64_t)indices[j] * p * nw;                              \
                    for (int64_t l = j; l < hi; l++) {                                        \
                        T *o = row + (int64_t)indices[l] * nw;                                \
                        const T v = data[l];                                                  \
                        for (int64_t t = 0; t < nw; t++) o[t] += s[t] * v;                    \
                    }                                                                         \
                }                                                                             \
                cur[i] = j;                                                                   \
                nxt[i] = j < hi ? indices[j] : INT64_MAX;                                     \
                continue;                                                                     \
            }                                                                                 \
            const T hw = h[i];                                                                \
            /* four of the block's entries at a time: each later entry's index and value     \
             * loaded once for four scatters (one at a time the loop was bound by its loads) */ \
            for (; j + 3 < hi && indices[j + 3] < a1; j += 4) {                               \
                T sq[4], *row[4];                                                             \
                for (int q = 0; q < 4; q++) {                                                 \
                    sq[q] = hw * data[j + q];                                                 \
                    row[q] = out + (int64_t)indices[j + q] * p;                               \
                    for (int64_t l = j + q; l < j + 4; l++) row[q][indices[l]] += sq[q] * data[l]; \
                }                                                                             \
                for (int64_t l = j + 4; l < hi; l++) {                                        \
                    const int64_t c = indices[l];                                             \
                    const T v = data[l];                                                      \
                    row[0][c] += sq[0] * v;                                                   \
                    row[1][c] += sq[1] * v;                                                   \
                    row[2][c] += sq[2] * v;                                                   \
                    row[3][c] += sq[3] * v;                                                   \
                }                                                                             \
            }                                                                                 \
            for (; j < hi && indices[j] < a1; j++) {                                          \
                const T sj = hw * data[j];                                                    \
                T *row = out + (int64_t)indices[j] * p;                                       \
                for (int64_t l = j; l < hi; l++) row[indices[l]] += sj * data[l];             \
            }                                                                                 \
            cur[i] = j;                                                                       \
            nxt[i] = j < hi ? indices[j] : INT64_MAX;                                         \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
/* the loops compiled for one weight a row (the four-entry scatters) and ... */               \
static void sandwich_blocks1_##SFX(T *out, const T *data, const int32_t *indices,             \
                                   const int64_t *indptr, const T *h, int64_t n, int64_t p,   \
                                   const int64_t *start, int64_t b_lo, int64_t b_hi,          \
                                   int64_t *cur, int64_t *nxt) {                              \
    sandwich_blocks_##SFX(out, data, indices, indptr, h, n, p, 1, start, b_lo, b_hi, cur, nxt, \
                          NULL, 0);                                                           \
}                                                                                             \
/* several: the baseline build and one with AVX2's wider vectors for the nw sums (no FMA:  \
 * the same roundings) */                                                                     \
SANDWICH_BLOCKSW(T, SFX, sandwich_blocksw_##SFX, )                                            \
SANDWICH_BLOCKSW(T, SFX, sandwich_blocksw_avx2_##SFX, SANDWICH_AVX2)                          \
/* the lower triangle of out [p, p, nw] from its upper one, in square tiles (the transposed   \
 * reads stay cached); the dense sandwich's too (internal.h) */                               \
void fnn_mirror_upper_##SFX(T *out, int64_t p, int64_t nw) {                                  \
    const int64_t tiles = (p + MIRROR_TILE - 1) / MIRROR_TILE;                                \
    int mt = fnn_threads_for((double)p * (double)p * (double)nw, FNN_ELEMWISE_PAR_MIN);       \
    _Pragma("omp parallel for schedule(dynamic, 1) num_threads(mt) if(mt > 1)")               \
    for (int64_t tb = 0; tb < tiles; tb++) { /* tile row tb of the lower triangle */          \
        for (int64_t ta = 0; ta <= tb; ta++) {                                                \
            int64_t b0 = tb * MIRROR_TILE, b1 = b0 + MIRROR_TILE < p ? b0 + MIRROR_TILE : p;  \
            int64_t a0 = ta * MIRROR_TILE, a1 = a0 + MIRROR_TILE < p ? a0 + MIRROR_TILE : p;  \
            for (int64_t b = b0; b < b1; b++)                                                 \
                if (nw == 1)                                                                  \
                    for (int64_t a = a0; a < a1 && a < b; a++) out[b * p + a] = out[a * p + b];   \
                else                                                                          \
                    for (int64_t a = a0; a < a1 && a < b; a++)                                \
                        memcpy(out + (b * p + a) * nw, out + (a * p + b) * nw, (size_t)nw * sizeof(T)); \
        }                                                                                     \
    }                                                                                         \
}                                                                                             \
int fnn_csr_sandwich_##SFX(T *out, const T *data, const int32_t *indices, const int64_t *indptr, \
                           const T *h, int64_t n_rows, int64_t n_cols, int64_t n_weights) {  \
    const int64_t n = n_rows, p = n_cols, nw = n_weights;                                     \
    if (p == 0 || nw == 0) return FNN_OK;                                                     \
    double scatters = 0; /* sum of nnz_i (nnz_i + 1) / 2 nw: the work */                       \
    for (int64_t i = 0; i < n; i++) {                                                         \
        double c = (double)(indptr[i + 1] - indptr[i]);                                       \
        scatters += 0.5 * c * (c + 1) * (double)nw;                                           \
    }                                                                                         \
    int nt = fnn_threads_for(scatters, SANDWICH_PAR_MIN);                                     \
    /* block starts: as many rows as fit the byte budget at their width, at least one */      \
    int64_t *start = (int64_t *)malloc(((size_t)p + 1) * sizeof(int64_t));                    \
    /* per thread: cur [n + 1], nxt [n + 1], then nw of scratch (as int64 slots: >= sizeof(T)) */ \
    const size_t per_thread = 2 * ((size_t)n + 1) + (size_t)nw;                               \
    int64_t *work = (int64_t *)malloc((size_t)nt * per_thread * sizeof(int64_t));             \
    if (!start || !work) { free(start); free(work); return FNN_ENOMEM; }                      \
    int64_t n_blocks = 0;                                                                     \
    for (int64_t a = 0; a < p; n_blocks++) {                                                  \
        int64_t rows = FNN_SANDWICH_BLOCK_BYTES / ((p - a) * nw * (int64_t)sizeof(T));        \
        start[n_blocks] = a;                                                                  \
        a += rows < 1 ? 1 : rows;                                                             \
        if (a > p) a = p;                                                                     \
    }                                                                                         \
    start[n_blocks] = p;                                                                      \
    if (nt > n_blocks) nt = (int)n_blocks;                                                    \
    /* each thread a contiguous run of blocks (about equal work: equal bytes of the result), \
     * its cursors moving forward through the rows */                                        \
    unsigned fp_ = fnn_fp_bits(); /* the caller's subnormal bits on every thread: internal.h */ \
    _Pragma("omp parallel for schedule(static, 1) num_threads(nt) if(nt > 1)")                \
    for (int t = 0; t < nt; t++) {                                                            \
        unsigned saved_ = fnn_fp_adopt(fp_);                                                  \
        int64_t *cur = work + (size_t)t * per_thread;                                         \
        int64_t b_lo = n_blocks * t / nt, b_hi = n_blocks * (t + 1) / nt;                     \
        if (nw == 1)                                                                          \
            sandwich_blocks1_##SFX(out, data, indices, indptr, h, n, p, start, b_lo, b_hi, cur, \
                                   cur + n + 1);                                              \
        else if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX2)                                    \
            sandwich_blocksw_avx2_##SFX(out, data, indices, indptr, h, n, p, nw, start, b_lo,  \
                                        b_hi, cur, cur + n + 1, (T *)(cur + 2 * (n + 1)));    \
        else                                                                                  \
            sandwich_blocksw_##SFX(out, data, indices, indptr, h, n, p, nw, start, b_lo, b_hi, \
                                   cur, cur + n + 1, (T *)(cur + 2 * (n + 1)));               \
        fnn_fp_restore(fp_, saved_);                                                          \
    }                                                                                         \
    free(start);                                                                              \
    free(work);                                                                               \
    fnn_mirror_upper_##SFX(out, p, nw);                                                       \
    return FNN_OK;                                                                            \
}

DEFINE_SANDWICH(float, f32)
DEFINE_SANDWICH(double, f64)
