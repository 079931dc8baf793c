/* reduce.h -- row reductions (max, sum, dot) that gcc vectorises without
 * unsafe-math options: the loop keeps FNN_RED_W independent partial results (the order
 * of additions is written out, so no reassociation is needed), combined at the end.
 * Used inside generic and FNN_TARGET_AVX2 functions alike (always inlined). */
#ifndef FASTNN_REDUCE_H
#define FASTNN_REDUCE_H

#include <stdint.h>
#include "internal.h"
#if FNN_X86
#include <immintrin.h>
#endif
#include "simd_math.h"

#define FNN_RED_W 16

#define FNN_DEFINE_REDUCE(T, SFX)                                                       \
static inline __attribute__((always_inline)) T fnn_rsum_##SFX(const T *x, int64_t n) {  \
    T s[FNN_RED_W] = {0};                                                               \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) s[l] += x[j + l];                           \
    T r = 0;                                                                            \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
    for (; j < n; j++) r += x[j];                                                       \
    return r;                                                                           \
}                                                                                       \
/* fnn_rdot's whole blocks of FNN_RED_W: their sum, and where the tail starts (*tail) */ \
static inline __attribute__((always_inline)) T fnn_rdot_blocks_##SFX(const T *x, const T *y, \
                                                                     int64_t n, int64_t *tail) { \
    T s[FNN_RED_W] = {0};                                                               \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) s[l] += x[j + l] * y[j + l];                \
    T r = 0;                                                                            \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
    *tail = j;                                                                          \
    return r;                                                                           \
}                                                                                       \
static inline __attribute__((always_inline)) T fnn_rdot_##SFX(const T *x, const T *y, int64_t n) { \
    int64_t j;                                                                          \
    T r = fnn_rdot_blocks_##SFX(x, y, n, &j);                                           \
    for (; j < n; j++) r += x[j] * y[j];                                                \
    return r;                                                                           \
}                                                                                       \
/* sums accumulated in double (the loss and penalty values), of x, |x| and x^2 */   \
static inline __attribute__((always_inline)) double fnn_dsum_##SFX(const T *x, int64_t n) { \
    double s[FNN_RED_W] = {0};                                                          \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) s[l] += (double)x[j + l];                   \
    double r = 0;                                                                       \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
    for (; j < n; j++) r += (double)x[j];                                               \
    return r;                                                                           \
}                                                                                       \
static inline __attribute__((always_inline)) double fnn_dsumabs_##SFX(const T *x, int64_t n) { \
    double s[FNN_RED_W] = {0};                                                          \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) s[l] += (double)fabs((double)x[j + l]);     \
    double r = 0;                                                                       \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
    for (; j < n; j++) r += fabs((double)x[j]);                                         \
    return r;                                                                           \
}                                                                                       \
static inline __attribute__((always_inline)) double fnn_dsumsq_##SFX(const T *x, int64_t n) { \
    double s[FNN_RED_W] = {0};                                                          \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) { double v = (double)x[j + l]; s[l] += v * v; } \
    double r = 0;                                                                       \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
    for (; j < n; j++) { double v = (double)x[j]; r += v * v; }                         \
    return r;                                                                           \
}

FNN_DEFINE_REDUCE(float, f32)
FNN_DEFINE_REDUCE(double, f64)

/* Row maxima with the max instructions themselves: written as `a > b ? a : b`
 * gcc emits compare + blend (3x slower). maxps(a, b) is exactly `a > b ? a : b`;
 * a NaN in x is skipped by the max, but still makes its row NaN through exp.
 * _generic uses SSE2 (the x86-64 baseline), _avx2 256-bit registers. */
#define FNN_VMAX_BODY(T, VEC, W, LOADU, MAX, SET1, STOREU)                              \
    VEC m0 = SET1(x[0]), m1 = m0, m2 = m0, m3 = m0;                                    \
    int64_t j = 0;                                                                      \
    for (; j + 4 * W <= n; j += 4 * W) {                                                \
        m0 = MAX(LOADU(x + j), m0);                                                     \
        m1 = MAX(LOADU(x + j + W), m1);                                                 \
        m2 = MAX(LOADU(x + j + 2 * W), m2);                                             \
        m3 = MAX(LOADU(x + j + 3 * W), m3);                                             \
    }                                                                                   \
    T lanes[W];                                                                         \
    STOREU(lanes, MAX(MAX(m0, m1), MAX(m2, m3)));                                       \
    T r = lanes[0];                                                                     \
    for (int l = 1; l < W; l++) r = lanes[l] > r ? lanes[l] : r;                        \
    for (; j < n; j++) r = x[j] > r ? x[j] : r;                                         \
    return r;

#if FNN_X86
static inline __attribute__((always_inline)) float fnn_rmax_f32_generic(const float *x, int64_t n) {
    FNN_VMAX_BODY(float, __m128, 4, _mm_loadu_ps, _mm_max_ps, _mm_set1_ps, _mm_storeu_ps)
}
static inline __attribute__((always_inline)) double fnn_rmax_f64_generic(const double *x, int64_t n) {
    FNN_VMAX_BODY(double, __m128d, 2, _mm_loadu_pd, _mm_max_pd, _mm_set1_pd, _mm_storeu_pd)
}
static inline __attribute__((always_inline)) FNN_TARGET_AVX2 float fnn_rmax_f32_avx2(const float *x, int64_t n) {
    FNN_VMAX_BODY(float, __m256, 8, _mm256_loadu_ps, _mm256_max_ps, _mm256_set1_ps, _mm256_storeu_ps)
}
static inline __attribute__((always_inline)) FNN_TARGET_AVX2 double fnn_rmax_f64_avx2(const double *x, int64_t n) {
    FNN_VMAX_BODY(double, __m256d, 4, _mm256_loadu_pd, _mm256_max_pd, _mm256_set1_pd, _mm256_storeu_pd)
}

#else
/* portable builds: the same `a > b ? a : b` per element */
#define FNN_SMAX_BODY(T)                                                                \
    T r = x[0];                                                                         \
    for (int64_t j = 1; j < n; j++) r = x[j] > r ? x[j] : r;                           \
    return r;
static inline float fnn_rmax_f32_generic(const float *x, int64_t n) { FNN_SMAX_BODY(float) }
static inline double fnn_rmax_f64_generic(const double *x, int64_t n) { FNN_SMAX_BODY(double) }
static inline float fnn_rmax_f32_avx2(const float *x, int64_t n) { FNN_SMAX_BODY(float) }
static inline double fnn_rmax_f64_avx2(const double *x, int64_t n) { FNN_SMAX_BODY(double) }
#endif

#endif
