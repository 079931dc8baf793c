/* l1_quadratic.c -- coordinate descent on an L1-penalised quadratic model (fnn_l1_quadratic_cd_*),
 * the inner problem of liblinear's newGLMNET (L1 logistic regression).
 *
 * Over the working set W (columns cols of a CSC X) it minimises, from u = u0,
 *
 *     g.(u - u0) + 1/2 (u - u0)^T (X_W^T diag(h) X_W + nu I) (u - u0) + alpha ||u||_1
 *
 * one coordinate at a time (its exact minimiser), keeping xd = X_W (u - u0) so a
 * coordinate's gradient is g_j + nu (u_j - u0_j) + X_j . (h * xd): one gather pass over
 * column j, and one scatter pass when u_j moves. As newGLMNET, a zero coordinate whose
 * gradient lies well inside [-alpha, alpha] (by the last sweep's largest violation over
 * the working set's size; newGLMNET's over n_samples made a fit on repeated rows differ
 * from the weighted one) leaves the sweeps until they converge, then every coordinate is
 * checked again; the stop is the sweep's summed violation (the minimum-norm subgradient's
 * 1-norm) <= tol, absolute. Cyclic order, no randomness. The spec is
 * fastnn/backends/_l1_quadratic_reference.py; one build (gathers and scatters gain
 * nothing from wider vectors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define DEFINE_L1_QUADRATIC(T, SFX, FABS)                                               \
/* sum over column [lo, hi) of data[k] * a[i] * b[i] (b NULL: data[k]), i = indices[k], in \
 * stored order (four chains measured no faster: the loop waits on its loads, not on    \
 * the additions) */                                                                   \
static T col_sum3_##SFX(const T *data, const int64_t *indices, int64_t lo, int64_t hi,   \
                        const T *a, const T *b) {                                       \
    T acc = 0;                                                                          \
    for (int64_t k = lo; k < hi; k++)                                                   \
        acc += data[k] * a[indices[k]] * (b ? b[indices[k]] : data[k]);                 \
    return acc;                                                                         \
}                                                                                       \
int fnn_l1_quadratic_cd_##SFX(T *u, T *xd, int64_t *sweeps_out, const T *data,          \
                              const int64_t *indices, const int64_t *indptr,            \
                              const int64_t *cols, int64_t n_cols, const T *g,          \
                              const T *h, int64_t n_samples, double alpha, double nu,   \
                              int64_t max_sweeps, double tol) {                         \
    int64_t m = n_cols, n = n_samples;                                                  \
    T *u0 = (T *)malloc(2 * ((size_t)m + 1) * sizeof(T)); /* u0 [m], curv [m] */        \
    int64_t *order = (int64_t *)malloc(((size_t)m + 1) * sizeof(int64_t));              \
    if (!u0 || !order) { free(u0); free(order); return FNN_ENOMEM; }                    \
    T *curv = u0 + m, a = (T)alpha, mu = (T)nu;                                         \
    memcpy(u0, u, (size_t)m * sizeof(T));                                               \
    memset(xd, 0, (size_t)n * sizeof(T));                                               \
    for (int64_t j = 0; j < m; j++) { /* the model's diagonal, nu keeping it > 0 */     \
        curv[j] = col_sum3_##SFX(data, indices, indptr[cols[j]], indptr[cols[j] + 1], h, NULL) + mu; \
        order[j] = j;                                                                   \
    }                                                                                   \
    int64_t n_active = m, sweeps = 0;                                                   \
    T shrink = (T)INFINITY; /* the last sweep's largest violation / n_cols */           \
    while (sweeps < max_sweeps) {                                                       \
        T viol_max = 0, viol_sum = 0;                                                   \
        for (int64_t s = 0; s < n_active;) {                                            \
            int64_t j = order[s], lo = indptr[cols[j]], hi = indptr[cols[j] + 1];       \
            T grad = g[j] + mu * (u[j] - u0[j]) + col_sum3_##SFX(data, indices, lo, hi, h, xd); \
            T gp = grad + a, gn = grad - a, viol = 0;                                   \
            if (u[j] == 0) {                                                            \
                if (gp < 0) viol = -gp;                                                 \
                else if (gn > 0) viol = gn;                                             \
                else if (gp > shrink && gn < -shrink) { /* set aside until convergence */ \
                    order[s] = order[--n_active];                                       \
                    order[n_active] = j;                                                \
                    continue;                                                           \
                }                                                                       \
            } else viol = u[j] > 0 ? FABS(gp) : FABS(gn);                               \
            if (viol > viol_max) viol_max = viol;                                       \
            viol_sum += viol;                                                           \
            T hu = curv[j] * u[j], step;                                                \
            if (gp < hu) step = -gp / curv[j];                                          \
            else if (gn > hu) step = -gn / curv[j];                                     \
            else step = -u[j];                                                          \
            s++;                                                                        \
            if (step == 0) continue;                                                    \
            u[j] += step;                                                               \
            for (int64_t k = lo; k < hi; k++) xd[indices[k]] += step * data[k];         \
        }                                                                               \
        sweeps++;                                                                       \
        if (viol_sum <= (T)tol) {                                                       \
            if (n_active == m) break;                                                   \
            n_active = m; /* converged on the active ones: check them all again */      \
            shrink = (T)INFINITY;                                                       \
            continue;                                                                   \
        }                                                                               \
        shrink = viol_max / (T)m;                                                       \
    }                                                                                   \
    *sweeps_out = sweeps;                                                               \
    free(u0); free(order);                                                              \
    return FNN_OK;                                                                      \
}

DEFINE_L1_QUADRATIC(float, f32, fabsf)
DEFINE_L1_QUADRATIC(double, f64, fabs)
