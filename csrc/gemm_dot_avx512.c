/* gemm_dot_avx512.c -- AVX-512F dot kernels for a narrow C (n <= FNN_DOT_MAX_N), the
 * contract of the AVX2 ones (gemm.h, gemm_ukernel_avx2.c): C(r, j) = epi(alpha *
 * sum_p A(r, p) Bt(j, p) + beta * C(r, j)), A rows and Bt rows contiguous along k.
 * Vectors run along k on 16 (float32) / 8 (float64) lanes, the k tail is a masked
 * load (AVX-512 masks cost nothing extra). A tile is R rows x w columns, one
 * accumulator per element (R * w + R + 1 <= 32 zmm, see DOT_W1). Every row is reduced
 * by the same tree whatever tile it is in, so a row's result never depends on its
 * position in the batch. Compiled per function for AVX-512F; gemm.c calls these only when
 * fnn_isa_level says the CPU has it.
 */
#include "gemm.h"
#if FNN_X86
#include <immintrin.h>

/* A tile: R <= 6 rows x J <= 6 columns (a wider C runs as two column groups over the
 * same rows, see DOT_W1). */
#define DOT_R_MAX 6
#define DOT_J_MAX 6

/* ------------------------------------------------------------------ float32 */

/* Lane L of the result = sum of the 16 lanes of v[L], L < J (missing v are zero).
 * One tree for every row: 512 -> 256 -> 128-bit halves of pairs added (shuffles of
 * 128-bit chunks), then a 4 x 4 transpose-add inside each chunk; chunk i lane j then
 * holds v[i + 4j], put in order by one permute. */
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) __m512 hsum16_ps(const __m512 *v, int J) {
    const __m512 z = _mm512_setzero_ps();
    __m512 s[8], u[4];
    for (int i = 0; i < 8; i++) { /* s[i]: [v0 (c0+c2), v0 (c1+c3), v1 (..), v1 (..)] */
        __m512 v0 = 2 * i < J ? v[2 * i] : z, v1 = 2 * i + 1 < J ? v[2 * i + 1] : z;
        s[i] = 2 * i < J ? _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44),
                                          _mm512_shuffle_f32x4(v0, v1, 0xEE)) : z;
    }
    for (int i = 0; i < 4; i++) /* u[i] chunk q: 4 partial sums of v[4i + q] */
        u[i] = 4 * i < J ? _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0x88),
                                          _mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0xDD)) : z;
    __m512 w01 = _mm512_add_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
    __m512 w23 = J > 8 ? _mm512_add_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3])) : z;
    __m512 t = _mm512_add_ps(_mm512_shuffle_ps(w01, w23, 0x44), _mm512_shuffle_ps(w01, w23, 0xEE));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, t);
}

/* ------------------------------------------------------------------ float64 */

/* Lanes L < 8 of the result = sums of v[L] (missing v zero): as hsum16_ps, 512 -> 256
 * -> 128-bit halves of pairs, then a 2 x 2 transpose-add inside each chunk (chunk i
 * lane j holds v[i + 4j]) and one permute. */
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) __m512d hsum8_pd(const __m512d *v, int J) {
    const __m512d z = _mm512_setzero_pd();
    __m512d s[4], u[2];
    for (int i = 0; i < 4; i++) {
        __m512d v0 = 2 * i < J ? v[2 * i] : z, v1 = 2 * i + 1 < J ? v[2 * i + 1] : z;
        s[i] = 2 * i < J ? _mm512_add_pd(_mm512_shuffle_f64x2(v0, v1, 0x44),
                                          _mm512_shuffle_f64x2(v0, v1, 0xEE)) : z;
    }
    for (int i = 0; i < 2; i++)
        u[i] = 4 * i < J ? _mm512_add_pd(_mm512_shuffle_f64x2(s[2 * i], s[2 * i + 1], 0x88),
                                          _mm512_shuffle_f64x2(s[2 * i], s[2 * i + 1], 0xDD)) : z;
    __m512d t = _mm512_add_pd(_mm512_unpacklo_pd(u[0], u[1]), _mm512_unpackhi_pd(u[0], u[1]));
    const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
    return _mm512_permutexvar_pd(order, t);
}

/* ------------------------------------------------------------ the tiles */

/* One definition for both dtypes: VOP(op) is the dtype's _mm512_<op>_ps / _pd and
 * VMASK(op) its _mm512_<op>_ps_mask / _pd_mask, defined around each instance.
 * dot_store: the epilogue on lanes [0, J) of s, the AVX2 kernels' order, act(alpha * s
 * + bias + beta * C). dot_tile: one tile, R rows x J columns (constants after
 * inlining), k in steps of LANES then a masked tail. */
#define DEFINE_DOT_TILE(T, SFX, V, M, LANES, HSUM)                                      \
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void dot_store_##SFX(    \
    T *c, V s, M m, T alpha, T beta, const fnn_epi_##SFX *epi, const T *bias) {         \
    const V zero = VOP(setzero)();                                                      \
    s = VOP(fmadd)(VOP(set1)(alpha), s, bias ? VOP(maskz_loadu)(m, bias) : zero);       \
    if (beta != 0) s = VOP(fmadd)(VOP(set1)(beta), VOP(maskz_loadu)(m, c), s);          \
    if (epi && epi->act == FNN_ACT_RELU) s = VOP(max)(zero, s); /* NaN passes */        \
    else if (epi && epi->act == FNN_ACT_LEAKY_RELU)                                     \
        s = VOP(mask_mul)(s, VMASK(cmp)(s, zero, _CMP_LE_OQ), s, VOP(set1)(epi->param)); \
    VOP(mask_storeu)(c, m, s);                                                          \
}                                                                                       \
                                                                                        \
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void dot_tile_##SFX(     \
    int64_t k, const T *a, int64_t rsa, const T *bt, int64_t ldbt, T *c, int64_t rsc,   \
    T alpha, T beta, const fnn_epi_##SFX *epi, int64_t j0, const int R, const int J) {  \
    V acc[DOT_R_MAX][DOT_J_MAX];                                                        \
    for (int r = 0; r < R; r++)                                                         \
        for (int j = 0; j < J; j++) acc[r][j] = VOP(setzero)();                         \
    int64_t p = 0;                                                                      \
    _Pragma("GCC unroll 2") /* +1-3% at k = 256 (Xeon, m x 256 x 10, both dtypes) */  \
    for (; p + LANES <= k; p += LANES) {                                                \
        V x[DOT_R_MAX];                                                                 \
        for (int r = 0; r < R; r++) x[r] = VOP(loadu)(a + r * rsa + p);                 \
        for (int j = 0; j < J; j++) {                                                   \
            V w = VOP(loadu)(bt + j * ldbt + p);                                        \
            for (int r = 0; r < R; r++) acc[r][j] = VOP(fmadd)(x[r], w, acc[r][j]);     \
        }                                                                               \
    }                                                                                   \
    if (p < k) {                                                                        \
        M m = (M)((1u << (k - p)) - 1);                                                 \
        V x[DOT_R_MAX];                                                                 \
        for (int r = 0; r < R; r++) x[r] = VOP(maskz_loadu)(m, a + r * rsa + p);        \
        for (int j = 0; j < J; j++) {                                                   \
            V w = VOP(maskz_loadu)(m, bt + j * ldbt + p);                               \
            for (int r = 0; r < R; r++) acc[r][j] = VOP(fmadd)(x[r], w, acc[r][j]);     \
        }                                                                               \
    }                                                                                   \
    const M mj = (M)((1u << J) - 1);                                                    \
    const T *bias = epi && epi->bias ? epi->bias + j0 : NULL;                           \
    for (int r = 0; r < R; r++)                                                         \
        dot_store_##SFX(c + r * rsc, HSUM(acc[r], J), mj, alpha, beta, epi, bias);      \
}

#define VOP(op) _mm512_##op##_ps
#define VMASK(op) _mm512_##op##_ps_mask
DEFINE_DOT_TILE(float, f32, __m512, __mmask16, 16, hsum16_ps)
#undef VOP
#undef VMASK
#define VOP(op) _mm512_##op##_pd
#define VMASK(op) _mm512_##op##_pd_mask
DEFINE_DOT_TILE(double, f64, __m512d, __mmask8, 8, hsum8_pd)
#undef VOP
#undef VMASK

/* ------------------------------------------------------------ matrix-vector rows */

/* Rows in groups of one per lane of the result (16 float32, 8 float64): a vector
 * accumulator per row along k, the k tail masked, then the hsum tree above puts row r's
 * sum in lane r, stored as one vector. The last group's missing rows read its first row
 * again (valid memory; their lanes are not stored). A dot per row with its own horizontal
 * sum (fnn_rdot) spent most of a short row's time in the reduction (569 x 30 float64
 * X w, one thread: 4.6 us; NumPy 2.8). */
#define DEFINE_GEMV_ROWS(T, SFX, V, M, LANES, HSUM)                                     \
FNN_TARGET_AVX512 void fnn_gemv_rows_avx512_##SFX(const T *a, int64_t rsa, const T *x,  \
                                                  int64_t k, int64_t m, T *out) {       \
    const int64_t full = k / LANES * LANES;                                             \
    const M mk = (M)((1u << (k - full)) - 1);                                           \
    for (int64_t i = 0; i < m; i += LANES) {                                            \
        const int rows = m - i < LANES ? (int)(m - i) : LANES;                          \
        const T *ar[LANES];                                                             \
        V acc[LANES];                                                                   \
        for (int r = 0; r < LANES; r++) {                                               \
            ar[r] = a + (i + (r < rows ? r : 0)) * rsa;                                 \
            acc[r] = VOP(setzero)();                                                    \
        }                                                                               \
        for (int64_t p = 0; p < full; p += LANES) {                                     \
            const V xv = VOP(loadu)(x + p);                                             \
            for (int r = 0; r < LANES; r++)                                             \
                acc[r] = VOP(fmadd)(VOP(loadu)(ar[r] + p), xv, acc[r]);                 \
        }                                                                               \
        if (full < k) {                                                                 \
            const V xv = VOP(maskz_loadu)(mk, x + full);                                \
            for (int r = 0; r < LANES; r++)                                             \
                acc[r] = VOP(fmadd)(VOP(maskz_loadu)(mk, ar[r] + full), xv, acc[r]);    \
        }                                                                               \
        VOP(mask_storeu)(out + i, (M)((1u << rows) - 1), HSUM(acc, LANES));             \
    }                                                                                   \
}
#define VOP(op) _mm512_##op##_ps
DEFINE_GEMV_ROWS(float, f32, __m512, __mmask16, 16, hsum16_ps)
#undef VOP
#define VOP(op) _mm512_##op##_pd
DEFINE_GEMV_ROWS(double, f64, __m512d, __mmask8, 8, hsum8_pd)
#undef VOP

/* acc = sum_p x[p] a[p, 0:m) with the m sums in NV registers (a constant after inlining;
 * the last vector masked), each element summed over p in order as in the AVX2 loop, whose
 * accumulators went through memory every p, a store-to-load chain per step. One thread,
 * X^T d: a linear model's gradient, 569 x 30 float64 3.2 -> 1.9 us (NumPy 3.5), float32
 * 1.2 us (2.2); 300 x 700 float64 44 -> 23 us (NumPy 23); 1000 x 1000, memory-bound, even. */
#define DEFINE_GEMV_AXPY(T, SFX, V, M, LANES)                                           \
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void gemv_axpy_nv_##SFX( \
    T *acc, const T *a, int64_t lda, const T *x, int64_t incx, int64_t m, int64_t p0,   \
    int64_t p1, const int NV) {                                                         \
    const M last = (M)(m - (NV - 1) * LANES >= LANES ? (1u << LANES) - 1                \
                                                     : (1u << (m - (NV - 1) * LANES)) - 1); \
    V s[16];                                                                            \
    for (int v = 0; v < NV; v++) s[v] = VOP(setzero)();                                 \
    for (int64_t p = p0; p < p1; p++) {                                                 \
        const T *row = a + p * lda;                                                     \
        const V xp = VOP(set1)(x[p * incx]);                                            \
        for (int v = 0; v < NV - 1; v++) s[v] = VOP(fmadd)(xp, VOP(loadu)(row + v * LANES), s[v]); \
        s[NV - 1] = VOP(fmadd)(xp, VOP(maskz_loadu)(last, row + (NV - 1) * LANES), s[NV - 1]); \
    }                                                                                   \
    for (int v = 0; v < NV - 1; v++) VOP(storeu)(acc + v * LANES, s[v]);                \
    VOP(mask_storeu)(acc + (NV - 1) * LANES, last, s[NV - 1]);                          \
}                                                                                       \
FNN_TARGET_AVX512 void fnn_gemv_axpy_avx512_##SFX(T *acc, const T *a, int64_t lda,      \
                                                  const T *x, int64_t incx, int64_t m,  \
                                                  int64_t p0, int64_t p1) {             \
    switch ((m + LANES - 1) / LANES) {                                                  \
    case 1: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 1); break;              \
    case 2: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 2); break;              \
    case 3: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 3); break;              \
    case 4: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 4); break;              \
    case 5: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 5); break;              \
    case 6: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 6); break;              \
    case 7: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 7); break;              \
    case 8: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 8); break;              \
    case 9: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 9); break;              \
    case 10: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 10); break;            \
    case 11: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 11); break;            \
    case 12: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 12); break;            \
    case 13: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 13); break;            \
    case 14: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 14); break;            \
    case 15: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 15); break;            \
    default: gemv_axpy_nv_##SFX(acc, a, lda, x, incx, m, p0, p1, 16); break;            \
    }                                                                                   \
}
#define VOP(op) _mm512_##op##_ps
DEFINE_GEMV_AXPY(float, f32, __m512, __mmask16, 16)
#undef VOP
#define VOP(op) _mm512_##op##_pd
DEFINE_GEMV_AXPY(double, f64, __m512d, __mmask8, 8)
#undef VOP

/* ------------------------------------------------------------------ drivers */

/* The tile plan for n columns: n <= 6 in one column group, 7-12 in two of (n + 1) / 2
 * and n / 2 over the same rows (A's rows then stay in L1 for the second); rows per
 * tile the most that fit the 32 zmm registers beside R * w accumulators, one row of A
 * each and one of Bt. The kernel is load-bound (two loads per cycle feed two FMAs):
 * a k step costs R + w loads for R * w FMAs, so n = 10 runs as 5 x 5 tiles, 10 loads
 * per 25 FMAs, not 2 x 10 ones, 12 per 20 (Xeon, 128 x 256 x 10, one thread: float32
 * 6.8 -> 5.9 us, float64 12.9 -> 8.5 us). A column's sum does not depend on its group:
 * the reduction tree is the same for every column. */
#define DOT_W1(n) ((n) <= 6 ? (n) : ((n) + 1) / 2)
#define DOT_ROWS(w) ((w) <= 4 ? 6 : (w) == 5 ? 5 : 4)

#define DOT_CASE(SFX, N)                                                                \
    case N: {                                                                           \
        const int w1 = DOT_W1(N), w2 = N - DOT_W1(N), R = DOT_ROWS(DOT_W1(N));          \
        int64_t r = 0;                                                                  \
        for (; r + R <= m; r += R) {                                                    \
            dot_tile_##SFX(k, a + r * rsa, rsa, bt, ldbt, c + r * rsc, rsc, alpha, beta, \
                           epi, 0, R, w1);                                              \
            if (w2 > 0)                                                                 \
                dot_tile_##SFX(k, a + r * rsa, rsa, bt + w1 * ldbt, ldbt, c + r * rsc + w1, \
                               rsc, alpha, beta, epi, w1, R, w2 > 0 ? w2 : 1);          \
        }                                                                               \
        for (; r < m; r++) {                                                            \
            dot_tile_##SFX(k, a + r * rsa, rsa, bt, ldbt, c + r * rsc, rsc, alpha, beta, \
                           epi, 0, 1, w1);                                              \
            if (w2 > 0)                                                                 \
                dot_tile_##SFX(k, a + r * rsa, rsa, bt + w1 * ldbt, ldbt, c + r * rsc + w1, \
                               rsc, alpha, beta, epi, w1, 1, w2 > 0 ? w2 : 1);          \
        }                                                                               \
        break;                                                                          \
    }
#define DOT_DRIVER(SFX, T)                                                              \
FNN_TARGET_AVX512 void fnn_dot_avx512_##SFX(int64_t k, const T *a, int64_t rsa, int64_t m, \
                                           const T *bt, int64_t ldbt, int64_t n, T *c,  \
                                           int64_t rsc, T alpha, T beta,                \
                                           const fnn_epi_##SFX *epi) {                  \
    switch (n) {                                                                        \
    DOT_CASE(SFX, 1) DOT_CASE(SFX, 2) DOT_CASE(SFX, 3) DOT_CASE(SFX, 4)                 \
    DOT_CASE(SFX, 5) DOT_CASE(SFX, 6) DOT_CASE(SFX, 7) DOT_CASE(SFX, 8)                 \
    DOT_CASE(SFX, 9) DOT_CASE(SFX, 10) DOT_CASE(SFX, 11) DOT_CASE(SFX, 12)              \
    default: break; /* n <= FNN_DOT_MAX_N: the engine's dot_fits */                     \
    }                                                                                   \
}
DOT_DRIVER(f32, float)
DOT_DRIVER(f64, double)

#else
/* not x86-64: nothing to compile (ISO C wants a declaration in every file) */
typedef int fnn_no_avx512_dot_kernels;
#endif
