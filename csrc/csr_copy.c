/* csr_copy.c -- a dense row-major x [n, d] copied to CSR (fastnn.sparse_input trains a
 * mostly-zero dense X on the first layer's sparse products, csr.c).
 *
 * Two passes, as the result's size is known only after the first: csr_count writes
 * indptr (each row's non-zeros, then their running sum), csr_fill the values and their
 * column indices, each row's entries in column order (scipy's canonical CSR). An entry
 * is kept where x != 0: a NaN is kept, -0.0 is dropped, as NumPy's `x != 0`.
 * On AVX-512 a row goes 16 / 8 lanes at a time: the comparison's mask, the kept lanes
 * and their column numbers compressed in registers and stored under the mask of their
 * count (as fast here as a compressing store to memory, which is reported microcoded on
 * AMD's Zen 4). On AVX2, 8 / 4 lanes: the comparison's movemask picks from a table the
 * permutation that moves the kept lanes to the front (KEEP_LUT). Elsewhere a scalar
 * loop writes every entry to a row-sized scratch and advances past the non-zeros (no
 * branch to mispredict at 20% density), then copies the kept ones: the stray writes stay
 * in the scratch, never in a neighbouring row's entries another thread may own.
 * 8086 x 784 at 20% non-zero (MNIST-like), one thread: see sparse_input.csr_copy.
 * Rows split over threads in both passes (memory-bound: FNN_ELEMWISE_PAR_MIN elements a
 * thread); any thread count gives the same result. Nothing is checked here: fastnn.kernels
 * did (x C-contiguous, d < 2**31, data and indices of indptr[n] entries). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#if FNN_X86
#include <immintrin.h>
#endif

/* a pass's threads: memory-bound, FNN_ELEMWISE_PAR_MIN elements a thread at least */
#define PASS_THREADS(n, d) fnn_threads_for((double)(n) * (double)(d), FNN_ELEMWISE_PAR_MIN)
#define ROWS_OMP _Pragma("omp parallel for schedule(static) num_threads(nt) if(nt > 1)")

#if FNN_X86
/* a row's entries != 0 (NaN included), VT of LANES lanes at a time, the tail masked */
#define DEFINE_ROW_COUNT_ZMM(T, SFX, VT, SUF, MASKT, LANES)                              \
FNN_TARGET_AVX512 static int64_t row_count_avx512_##SFX(const T *x, int64_t d) {         \
    int64_t c = 0, j = 0;                                                                \
    const VT zero = _mm512_setzero_##SUF();                                              \
    for (; j + LANES <= d; j += LANES)                                                   \
        c += __builtin_popcount(_mm512_cmp_##SUF##_mask(_mm512_loadu_##SUF(x + j), zero, _CMP_NEQ_UQ)); \
    if (j < d) {                                                                         \
        MASKT k = (MASKT)((1u << (d - j)) - 1);                                          \
        c += __builtin_popcount(_mm512_mask_cmp_##SUF##_mask(k, _mm512_maskz_loadu_##SUF(k, x + j), zero, \
                                                             _CMP_NEQ_UQ));              \
    }                                                                                    \
    return c;                                                                            \
}
DEFINE_ROW_COUNT_ZMM(float, f32, __m512, ps, __mmask16, 16)
DEFINE_ROW_COUNT_ZMM(double, f64, __m512d, pd, __mmask8, 8)

/* the kept lanes of v (k) and their column numbers stored at data + pos, indices + pos;
 * returns their count */
FNN_TARGET_AVX512 static inline int keep_f32(float *data, int32_t *indices, __m512 v, __mmask16 k,
                                             __m512i col) {
    int c = __builtin_popcount(k);
    __mmask16 out = (__mmask16)((1u << c) - 1);
    _mm512_mask_storeu_ps(data, out, _mm512_maskz_compress_ps(k, v));
    _mm512_mask_storeu_epi32(indices, out, _mm512_maskz_compress_epi32(k, col));
    return c;
}
FNN_TARGET_AVX512 static inline int keep_f64(double *data, int32_t *indices, __m512d v, __mmask8 k,
                                             __m256i col) {
    int c = __builtin_popcount(k);
    __mmask8 out = (__mmask8)((1u << c) - 1);
    _mm512_mask_storeu_pd(data, out, _mm512_maskz_compress_pd(k, v));
    /* the 8 column numbers as the low half of 16 lanes (AVX-512F has no 256-bit compress) */
    _mm512_mask_storeu_epi32(indices, (__mmask16)out,
                             _mm512_maskz_compress_epi32((__mmask16)k, _mm512_castsi256_si512(col)));
    return c;
}
/* Whole vectors by plain loads, the right edge by a masked one: a masked load in the loop
 * (every vector's, its mask all ones) ran 3x slower here (Zen 5: 6.3 ms against 2.0 for
 * 8086 x 784 float64), its zeroing load apparently waiting on the register's last writer,
 * the compress before it, so the vectors ran one after another. The column numbers: CT
 * (LANES int32 lanes) from COL0, stepped by CADD. */
#define DEFINE_ROW_FILL_ZMM(T, SFX, VT, SUF, MASKT, LANES, CT, CADD, CSET1, COL0)         \
FNN_TARGET_AVX512 static void row_fill_avx512_##SFX(T *data, int32_t *indices, const T *x, \
                                                    int64_t d) {                         \
    const VT zero = _mm512_setzero_##SUF();                                              \
    const CT step = CSET1(LANES);                                                        \
    CT col = COL0;                                                                       \
    int64_t pos = 0, j = 0;                                                              \
    for (; j + LANES <= d; j += LANES, col = CADD(col, step)) {                          \
        VT v = _mm512_loadu_##SUF(x + j);                                                \
        MASKT k = _mm512_cmp_##SUF##_mask(v, zero, _CMP_NEQ_UQ);                         \
        if (k) pos += keep_##SFX(data + pos, indices + pos, v, k, col);                  \
    }                                                                                    \
    if (j < d) {                                                                         \
        MASKT in = (MASKT)((1u << (d - j)) - 1);                                         \
        VT v = _mm512_maskz_loadu_##SUF(in, x + j);                                      \
        keep_##SFX(data + pos, indices + pos, v, _mm512_mask_cmp_##SUF##_mask(in, v, zero, _CMP_NEQ_UQ), \
                   col);                                                                 \
    }                                                                                    \
}
DEFINE_ROW_FILL_ZMM(float, f32, __m512, ps, __mmask16, 16, __m512i, _mm512_add_epi32, _mm512_set1_epi32,
                    (_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)))
DEFINE_ROW_FILL_ZMM(double, f64, __m512d, pd, __mmask8, 8, __m256i, _mm256_add_epi32, _mm256_set1_epi32,
                    (_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))

/* AVX2 has no compress: KEEP_LUT[m] lists the set bits of the 8-bit mask m, one lane
 * number a byte from the lowest (the bytes past them 0), the permutation that moves the
 * kept lanes to the front. Constant, so no first-call setup shared between threads. */
#define LUT_BIT(m, i) (((m) >> (i) & 1) ? (uint64_t)(i) << (8 * __builtin_popcount((m) & ((1u << (i)) - 1))) : 0)
#define LUT_ENTRY(m) (LUT_BIT(m, 0) | LUT_BIT(m, 1) | LUT_BIT(m, 2) | LUT_BIT(m, 3) \
                      | LUT_BIT(m, 4) | LUT_BIT(m, 5) | LUT_BIT(m, 6) | LUT_BIT(m, 7))
#define LUT4(m) LUT_ENTRY(m), LUT_ENTRY(m + 1), LUT_ENTRY(m + 2), LUT_ENTRY(m + 3)
#define LUT16(m) LUT4(m), LUT4(m + 4), LUT4(m + 8), LUT4(m + 12)
#define LUT64(m) LUT16(m), LUT16(m + 16), LUT16(m + 32), LUT16(m + 48)
static const uint64_t KEEP_LUT[256] = {LUT64(0), LUT64(64), LUT64(128), LUT64(192)};

FNN_TARGET_AVX2 static int64_t row_count_avx2_f32(const float *x, int64_t d) {
    int64_t c = 0, j = 0;
    const __m256 zero = _mm256_setzero_ps();
    for (; j + 8 <= d; j += 8)
        c += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + j), zero, _CMP_NEQ_UQ)));
    for (; j < d; j++) c += x[j] != 0;
    return c;
}
FNN_TARGET_AVX2 static int64_t row_count_avx2_f64(const double *x, int64_t d) {
    int64_t c = 0, j = 0;
    const __m256d zero = _mm256_setzero_pd();
    for (; j + 4 <= d; j += 4)
        c += __builtin_popcount(_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + j), zero, _CMP_NEQ_UQ)));
    for (; j < d; j++) c += x[j] != 0;
    return c;
}

/* A row of `nnz` kept entries (indptr's count), 8 / 4 lanes at a time: the kept ones
 * permuted to the front and stored whole where `nnz` leaves room for every lane of the
 * store (the lanes past the kept ones are overwritten by the next store), else through a
 * local copy: nothing is written past the row's entries, which may be another thread's. */
#define KEEP_AVX2(T, LANES, STORE_V, STORE_I)                                            \
    if (pos + LANES <= nnz) { STORE_V(data + pos); STORE_I(indices + pos); }             \
    else if (m) {                                                                        \
        T tv[LANES]; int32_t ti[LANES]; int c = __builtin_popcount(m);                   \
        STORE_V(tv); STORE_I(ti);                                                        \
        memcpy(data + pos, tv, (size_t)c * sizeof(T));                                   \
        memcpy(indices + pos, ti, (size_t)c * sizeof(int32_t));                          \
    }                                                                                    \
    pos += __builtin_popcount(m);

FNN_TARGET_AVX2 static void row_fill_avx2_f32(float *data, int32_t *indices, const float *x,
                                              int64_t d, int64_t nnz) {
    const __m256 zero = _mm256_setzero_ps();
    __m256i col = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int64_t pos = 0, j = 0;
    for (; j + 8 <= d; j += 8, col = _mm256_add_epi32(col, _mm256_set1_epi32(8))) {
        __m256 v = _mm256_loadu_ps(x + j);
        int m = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ));
        __m256i perm = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)KEEP_LUT[m]));
        __m256 kv = _mm256_permutevar8x32_ps(v, perm);
        __m256i ki = _mm256_permutevar8x32_epi32(col, perm);
#define STORE_V(dst) _mm256_storeu_ps(dst, kv)
#define STORE_I(dst) _mm256_storeu_si256((__m256i *)(dst), ki)
        KEEP_AVX2(float, 8, STORE_V, STORE_I)
#undef STORE_V
#undef STORE_I
    }
    for (; j < d; j++)
        if (x[j] != 0) { data[pos] = x[j]; indices[pos] = (int32_t)j; pos++; }
}
FNN_TARGET_AVX2 static void row_fill_avx2_f64(double *data, int32_t *indices, const double *x,
                                              int64_t d, int64_t nnz) {
    const __m256d zero = _mm256_setzero_pd();
    __m128i col = _mm_setr_epi32(0, 1, 2, 3);
    int64_t pos = 0, j = 0;
    for (; j + 4 <= d; j += 4, col = _mm_add_epi32(col, _mm_set1_epi32(4))) {
        __m256d v = _mm256_loadu_pd(x + j);
        int m = _mm256_movemask_pd(_mm256_cmp_pd(v, zero, _CMP_NEQ_UQ));
        __m128i lanes = _mm_cvtsi64_si128((long long)KEEP_LUT[m]);
        /* double lane i is float lanes 2i and 2i + 1 */
        __m256i twice = _mm256_slli_epi64(_mm256_cvtepu8_epi64(lanes), 1);
        __m256i perm = _mm256_or_si256(twice, _mm256_slli_epi64(_mm256_add_epi64(twice, _mm256_set1_epi64x(1)), 32));
        __m256d kv = _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm));
        __m128i ki = _mm_castps_si128(_mm_permutevar_ps(_mm_castsi128_ps(col), _mm_cvtepu8_epi32(lanes)));
#define STORE_V(dst) _mm256_storeu_pd(dst, kv)
#define STORE_I(dst) _mm_storeu_si128((__m128i *)(dst), ki)
        KEEP_AVX2(double, 4, STORE_V, STORE_I)
#undef STORE_V
#undef STORE_I
    }
    for (; j < d; j++)
        if (x[j] != 0) { data[pos] = x[j]; indices[pos] = (int32_t)j; pos++; }
}
#endif

#define DEFINE_CSR_COPY(T, SFX)                                                         \
static int64_t row_count_generic_##SFX(const T *x, int64_t d) {                          \
    int64_t c = 0;                                                                      \
    for (int64_t j = 0; j < d; j++) c += x[j] != 0;                                     \
    return c;                                                                           \
}                                                                                       \
/* scratch: d values and d indices; every entry written, the cursor moved past the      \
 * kept ones, then the kept ones copied out */                                          \
static void row_fill_generic_##SFX(T *data, int32_t *indices, const T *x, int64_t d,    \
                                   T *sv, int32_t *si) {                                \
    int64_t pos = 0;                                                                    \
    for (int64_t j = 0; j < d; j++) {                                                   \
        T v = x[j];                                                                     \
        sv[pos] = v;                                                                    \
        si[pos] = (int32_t)j;                                                           \
        pos += v != 0;                                                                  \
    }                                                                                   \
    memcpy(data, sv, (size_t)pos * sizeof(T));                                          \
    memcpy(indices, si, (size_t)pos * sizeof(int32_t));                                 \
}                                                                                       \
                                                                                        \
int64_t fnn_csr_count_##SFX(int64_t *indptr, const T *x, int64_t n, int64_t d) {        \
    int zmm = FNN_X86 && fnn_isa_level >= FNN_ISA_AVX512, nt = PASS_THREADS(n, d);      \
    int ymm = FNN_X86 && fnn_isa_level >= FNN_ISA_AVX2;                                 \
    indptr[0] = 0;                                                                      \
    ROWS_OMP                                                                            \
    for (int64_t r = 0; r < n; r++)                                                     \
        indptr[r + 1] = zmm ? ROW_COUNT_ZMM_##SFX(x + r * d, d)                         \
                      : ymm ? ROW_COUNT_YMM_##SFX(x + r * d, d)                         \
                            : row_count_generic_##SFX(x + r * d, d);                     \
    for (int64_t r = 0; r < n; r++) indptr[r + 1] += indptr[r];                         \
    return indptr[n];                                                                   \
}                                                                                       \
                                                                                        \
int fnn_csr_fill_##SFX(T *data, int32_t *indices, const T *x, const int64_t *indptr,    \
                       int64_t n, int64_t d) {                                          \
    int nt = PASS_THREADS(n, d);                                                        \
    if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX512) {                                   \
        ROWS_OMP                                                                        \
        for (int64_t r = 0; r < n; r++)                                                 \
            ROW_FILL_ZMM_##SFX(data + indptr[r], indices + indptr[r], x + r * d, d);    \
        return 0;                                                                       \
    }                                                                                   \
    if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX2) {                                     \
        ROWS_OMP                                                                        \
        for (int64_t r = 0; r < n; r++)                                                 \
            ROW_FILL_YMM_##SFX(data + indptr[r], indices + indptr[r], x + r * d, d,     \
                               indptr[r + 1] - indptr[r]);                              \
        return 0;                                                                       \
    }                                                                                   \
    size_t per = (size_t)(d > 0 ? d : 1);                                               \
    char *scratch = (char *)malloc((size_t)nt * per * (sizeof(T) + sizeof(int32_t)));   \
    if (!scratch) return FNN_ENOMEM;                                                    \
    _Pragma("omp parallel num_threads(nt) if(nt > 1)")                                  \
    {                                                                                   \
        T *sv = (T *)scratch + (size_t)FNN_THREAD_NUM() * per;                          \
        int32_t *si = (int32_t *)(scratch + (size_t)nt * per * sizeof(T)) + (size_t)FNN_THREAD_NUM() * per; \
        _Pragma("omp for schedule(static)")                                             \
        for (int64_t r = 0; r < n; r++)                                                 \
            row_fill_generic_##SFX(data + indptr[r], indices + indptr[r], x + r * d, d, sv, si); \
    }                                                                                   \
    free(scratch);                                                                      \
    return 0;                                                                           \
}

#if FNN_X86
#define ROW_COUNT_ZMM_f32 row_count_avx512_f32
#define ROW_COUNT_ZMM_f64 row_count_avx512_f64
#define ROW_FILL_ZMM_f32 row_fill_avx512_f32
#define ROW_FILL_ZMM_f64 row_fill_avx512_f64
#define ROW_COUNT_YMM_f32 row_count_avx2_f32
#define ROW_COUNT_YMM_f64 row_count_avx2_f64
#define ROW_FILL_YMM_f32 row_fill_avx2_f32
#define ROW_FILL_YMM_f64 row_fill_avx2_f64
#else
#define ROW_COUNT_ZMM_f32 row_count_generic_f32
#define ROW_COUNT_ZMM_f64 row_count_generic_f64
#define ROW_FILL_ZMM_f32(data, indices, x, d) ((void)0)
#define ROW_FILL_ZMM_f64(data, indices, x, d) ((void)0)
#define ROW_COUNT_YMM_f32 row_count_generic_f32
#define ROW_COUNT_YMM_f64 row_count_generic_f64
#define ROW_FILL_YMM_f32(data, indices, x, d, nnz) ((void)0)
#define ROW_FILL_YMM_f64(data, indices, x, d, nnz) ((void)0)
#endif

DEFINE_CSR_COPY(float, f32)
DEFINE_CSR_COPY(double, f64)
