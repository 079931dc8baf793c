/* enet.c -- elastic-net coordinate descent (fnn_enet_cd_*), Lasso's solver.
 *
 * scikit-learn's enet_coordinate_descent step for step (cyclic or its xorshift
 * "random" order, the positive constraint, gap-safe screening, the duality-gap
 * stop), so a fit takes the same iterations to the same coefficients. The work is
 * one dot and at most one axpy over a column of X per coordinate: X is passed
 * transposed, xt [n_features, n_samples], so every column is a contiguous row.
 * All arithmetic is in the arrays' dtype, as scikit-learn's. The spec is
 * fastnn/backends/_enet_reference.py.
 */
#include <math.h>
#include <stdlib.h>
#include "internal.h"
#include "reduce.h"

#define DEFINE_ENET(T, SFX, ISA, ATTR, SQRT, FABS)                                       \
static ATTR T dot_##SFX##_##ISA(const T *x, const T *y, int64_t n) {                    \
    return fnn_rdot_##SFX(x, y, n);                                                     \
}                                                                                       \
/* r += a x */                                                                          \
static ATTR void axpy_##SFX##_##ISA(T *r, T a, const T *x, int64_t n) {                 \
    for (int64_t i = 0; i < n; i++) r[i] += a * x[i];                                   \
}                                                                                       \
/* The duality gap at (w, R); xta receives X^T R - beta w. Returns the gap and      \
 * sets *dual_norm (scikit-learn's gap_enet, formulations A and B). */                  \
static ATTR T gap_##SFX##_##ISA(const T *w, T alpha, T beta, const T *xt, const T *y,   \
                                const T *r, T *xta, int64_t n, int64_t p, int positive, \
                                T *dual_norm) {                                         \
    T w_l2 = beta > 0 ? dot_##SFX##_##ISA(w, w, p) : (T)0;                              \
    T r_norm2 = dot_##SFX##_##ISA(r, r, n);                                             \
    T ry = (alpha == 0 && beta == 0) ? (T)0 : dot_##SFX##_##ISA(r, y, n);              \
    if (alpha == 0) {                                                                   \
        for (int64_t j = 0; j < p; j++) xta[j] = dot_##SFX##_##ISA(xt + j * n, r, n);   \
        T dn = dot_##SFX##_##ISA(xta, xta, p);                                          \
        *dual_norm = dn;                                                                \
        if (beta == 0) return dn;                                                       \
        return r_norm2 + (T)0.5 * beta * w_l2 - ry + (T)1 / ((T)2 * beta) * dn;         \
    }                                                                                   \
    for (int64_t j = 0; j < p; j++)                                                     \
        xta[j] = dot_##SFX##_##ISA(xt + j * n, r, n) - beta * w[j];                     \
    T dn = positive ? xta[0] : FABS(xta[0]);                                            \
    for (int64_t j = 1; j < p; j++) {                                                   \
        T v = positive ? xta[j] : FABS(xta[j]);                                         \
        if (v > dn) dn = v;                                                             \
    }                                                                                   \
    *dual_norm = dn;                                                                    \
    T w_l1 = 0;                                                                         \
    for (int64_t j = 0; j < p; j++) w_l1 += FABS(w[j]);                                 \
    T primal = (T)0.5 * (r_norm2 + beta * w_l2) + alpha * w_l1;                         \
    T scale = dn > alpha ? alpha / dn : (T)1;                                           \
    T dual = (T)-0.5 * (scale * scale) * (r_norm2 + beta * w_l2) + scale * ry;          \
    return primal - dual;                                                               \
}                                                                                       \
/* Gap-safe screening (Fercoq et al., eq. 11): keep feature j when it may be      \
 * nonzero at the optimum, else zero it (its contribution leaves R). The first     \
 * pass also drops all-zero columns; later passes only re-examine kept features. */  \
static ATTR int64_t screen_##SFX##_##ISA(T *w, T *r, const T *xt, const T *norm2,        \
                                         const T *xta, T alpha, T beta, T dual_norm,    \
                                         T gap, int64_t n, int64_t p, uint32_t *active, \
                                         uint8_t *excluded, int first) {                \
    int64_t n_active = 0;                                                               \
    T bound = SQRT((T)2 * gap) / alpha, denom = dual_norm > alpha ? dual_norm : alpha;  \
    for (int64_t j = 0; j < p; j++) {                                                   \
        if (first && norm2[j] == 0) { w[j] = 0; excluded[j] = 1; continue; }            \
        if (!first && excluded[j]) continue;                                            \
        T d_j = ((T)1 - FABS(xta[j] / denom)) / SQRT(norm2[j] + beta);                  \
        if (d_j <= bound) { active[n_active++] = (uint32_t)j; excluded[j] = 0; }        \
        else {                                                                          \
            if (w[j] != 0) { axpy_##SFX##_##ISA(r, w[j], xt + j * n, n); w[j] = 0; }    \
            excluded[j] = 1;                                                            \
        }                                                                               \
    }                                                                                   \
    return n_active;                                                                    \
}                                                                                       \
static ATTR void cd_##SFX##_##ISA(T *w, T *gap_out, T *tol_out, int64_t *n_iter_out,     \
                                  int *converged, const T *xt, const T *y, int64_t n,   \
                                  int64_t p, T alpha, T beta, int64_t max_iter, T tol,  \
                                  uint32_t seed, int random, int positive, int screening, \
                                  T *r, T *xta, T *norm2, uint32_t *active,             \
                                  uint8_t *excluded) {                                  \
    for (int64_t j = 0; j < p; j++) norm2[j] = dot_##SFX##_##ISA(xt + j * n, xt + j * n, n); \
    T d_w_tol = tol;                                                                    \
    if (alpha == 0) screening = 0;                                                      \
    /* R = y - X w */                                                                   \
    for (int64_t i = 0; i < n; i++) r[i] = y[i];                                        \
    for (int64_t j = 0; j < p; j++)                                                     \
        if (w[j] != 0) axpy_##SFX##_##ISA(r, -w[j], xt + j * n, n);                     \
    tol *= dot_##SFX##_##ISA(y, y, n);                                                  \
    *tol_out = tol;                                                                     \
    *converged = 1;                                                                     \
    T dual_norm;                                                                        \
    T gap = gap_##SFX##_##ISA(w, alpha, beta, xt, y, r, xta, n, p, positive, &dual_norm); \
    if (gap <= tol) { *gap_out = gap; *n_iter_out = 0; return; }                        \
    int64_t n_active = p;                                                               \
    if (screening)                                                                      \
        n_active = screen_##SFX##_##ISA(w, r, xt, norm2, xta, alpha, beta, dual_norm,   \
                                        gap, n, p, active, excluded, 1);                \
    int64_t it = 0;                                                                     \
    *converged = 0;                                                                     \
    for (it = 0; it < max_iter; it++) {                                                 \
        T w_max = 0, d_w_max = 0;                                                       \
        for (int64_t f = 0; f < n_active; f++) {                                        \
            int64_t j = random ? (int64_t)(fnn_sk_rand_r(&seed) % (uint32_t)n_active) : f;  \
            if (screening) j = active[j];                                               \
            if (norm2[j] == 0) continue;                                                \
            const T *xj = xt + j * n;                                                   \
            T w_j = w[j];                                                               \
            T tmp = dot_##SFX##_##ISA(xj, r, n) + w_j * norm2[j];                       \
            if (positive && tmp < 0) w[j] = 0;                                          \
            else {                                                                      \
                T mag = FABS(tmp) - alpha;                                              \
                T sgn = tmp > 0 ? (T)1 : (tmp < 0 ? (T)-1 : (T)0);                      \
                w[j] = sgn * (mag > 0 ? mag : (T)0) / (norm2[j] + beta);                \
            }                                                                           \
            if (w[j] != w_j) axpy_##SFX##_##ISA(r, w_j - w[j], xj, n);                  \
            T d = FABS(w[j] - w_j);                                                     \
            if (d > d_w_max) d_w_max = d;                                               \
            if (FABS(w[j]) > w_max) w_max = FABS(w[j]);                                 \
        }                                                                               \
        if (w_max == 0 || d_w_max / w_max <= d_w_tol || it == max_iter - 1) {           \
            gap = gap_##SFX##_##ISA(w, alpha, beta, xt, y, r, xta, n, p, positive,      \
                                    &dual_norm);                                        \
            if (gap <= tol) { *converged = 1; break; }                                  \
            if (screening)                                                              \
                n_active = screen_##SFX##_##ISA(w, r, xt, norm2, xta, alpha, beta,      \
                                                dual_norm, gap, n, p, active, excluded, 0); \
        }                                                                               \
    }                                                                                   \
    *gap_out = gap;                                                                     \
    *n_iter_out = (it < max_iter ? it : max_iter - 1) + 1;                              \
}

DEFINE_ENET(float, f32, generic, , sqrtf, fabsf)
DEFINE_ENET(double, f64, generic, , sqrt, fabs)
#if FNN_X86
DEFINE_ENET(float, f32, avx2, FNN_TARGET_AVX2, sqrtf, fabsf)
DEFINE_ENET(double, f64, avx2, FNN_TARGET_AVX2, sqrt, fabs)
#endif

#if FNN_X86
#define ENET_DISPATCH(SFX, ...)                                                         \
    if (fnn_isa_level >= FNN_ISA_AVX2) cd_##SFX##_avx2(__VA_ARGS__);                    \
    else cd_##SFX##_generic(__VA_ARGS__);
#else
#define ENET_DISPATCH(SFX, ...) cd_##SFX##_generic(__VA_ARGS__);
#endif

#define DEFINE_ENET_API(T, SFX)                                                         \
int fnn_enet_cd_##SFX(T *w, double *gap_out, double *tol_out, int64_t *n_iter_out,      \
                      int *converged, const T *xt, const T *y, int64_t n_samples,       \
                      int64_t n_features, double alpha, double beta, int64_t max_iter,  \
                      double tol, uint32_t seed, int random, int positive, int screening) { \
    int64_t n = n_samples, p = n_features;                                              \
    T *buf = (T *)calloc((size_t)n + 2 * (size_t)p + 1, sizeof(T));                     \
    uint32_t *active = (uint32_t *)malloc(((size_t)p + 1) * sizeof(uint32_t));          \
    uint8_t *excluded = (uint8_t *)malloc((size_t)p + 1);                               \
    if (!buf || !active || !excluded) {                                                 \
        free(buf); free(active); free(excluded);                                        \
        return FNN_ENOMEM;                                                              \
    }                                                                                   \
    T gap, tol_s;                                                                       \
    ENET_DISPATCH(SFX, w, &gap, &tol_s, n_iter_out, converged, xt, y, n, p, (T)alpha,   \
                  (T)beta, max_iter, (T)tol, seed, random, positive, screening, buf,    \
                  buf + n, buf + n + p, active, excluded)                               \
    *gap_out = gap;                                                                     \
    *tol_out = tol_s;                                                                   \
    free(buf); free(active); free(excluded);                                            \
    return FNN_OK;                                                                      \
}

DEFINE_ENET_API(float, f32)
DEFINE_ENET_API(double, f64)
