/* reduce.h -- row reductions (max, sum, dot) that gcc vectorises without
 * -ffast-math: the loop keeps FNN_RED_W independent partial results (the order
 * of additions is written out, so no reassociation is needed), combined at the end.
 * Used inside generic and FNN_TARGET_AVX2 functions alike (always inlined). */
#ifndef FASTNN_REDUCE_H
#define FASTNN_REDUCE_H

#include <stdint.h>
#include "simd_math.h"

#define FNN_RED_W 16

#define FNN_DEFINE_REDUCE(T, SFX)                                                       \
static inline __attribute__((always_inline)) T fnn_rmax_##SFX(const T *x, int64_t n) {  \
    T m[FNN_RED_W];                                                                     \
    int64_t j = 0;                                                                      \
    for (int l = 0; l < FNN_RED_W; l++) m[l] = x[0];                                    \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) m[l] = fnn_sel_##SFX(x[j + l] > m[l], x[j + l], m[l]);   \
    T r = m[0];                                                                         \
    for (int l = 1; l < FNN_RED_W; l++) r = m[l] > r ? m[l] : r;                        \
    for (; j < n; j++) r = x[j] > r ? x[j] : r;                                         \
    return r;                                                                           \
}                                                                                       \
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
static inline __attribute__((always_inline)) T fnn_rdot_##SFX(const T *x, const T *y, int64_t n) { \
    T s[FNN_RED_W] = {0};                                                               \
    int64_t j = 0;                                                                      \
    for (; j + FNN_RED_W <= n; j += FNN_RED_W)                                          \
        for (int l = 0; l < FNN_RED_W; l++) s[l] += x[j + l] * y[j + l];                \
    T r = 0;                                                                            \
    for (int l = 0; l < FNN_RED_W; l++) r += s[l];                                      \
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

#endif
