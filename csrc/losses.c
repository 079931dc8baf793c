/* losses.c -- fused loss + gradient kernels and penalty values.
 * Losses accumulate in double for both dtypes. */
#include "internal.h"
#include "act_math.h"

#define DEFINE_LOSSES(T, SFX, EXP, LOG, LOG1P, FABS)                                    \
double fnn_softmax_xent_##SFX(T *dlogits, const T *logits, const int32_t *labels,      \
                              int64_t n, int64_t classes) {                             \
    double total = 0; T inv_n = (T)(1.0 / (double)n);                                   \
    for (int64_t r = 0; r < n; r++) {                                                   \
        const T *z = logits + r * classes;                                              \
        T mx = z[0];                                                                    \
        for (int64_t j = 1; j < classes; j++) mx = z[j] > mx ? z[j] : mx;              \
        T s = 0;                                                                        \
        for (int64_t j = 0; j < classes; j++) s += EXP(z[j] - mx);                      \
        T lse = mx + LOG(s);                                                            \
        total += (double)(lse - z[labels[r]]);                                          \
        if (dlogits) {                                                                  \
            T *d = dlogits + r * classes; T inv_s = (T)1 / s;                           \
            for (int64_t j = 0; j < classes; j++) d[j] = EXP(z[j] - mx) * inv_s * inv_n; \
            d[labels[r]] -= inv_n;                                                      \
        }                                                                               \
    }                                                                                   \
    return total / (double)n;                                                           \
}                                                                                       \
double fnn_sigmoid_bce_##SFX(T *dlogits, const T *logits, const T *targets,            \
                             int64_t n, int64_t cols) {                                 \
    double total = 0; int64_t size = n * cols; T inv_n = (T)(1.0 / (double)n);         \
    for (int64_t i = 0; i < size; i++) {                                                \
        T z = logits[i], t = targets[i];                                                \
        /* BCE(sigmoid(z), t) = max(z,0) - z t + log1p(e^-|z|) */                       \
        total += (double)((z > 0 ? z : (T)0) - z * t + LOG1P(EXP(-FABS(z))));           \
        if (dlogits) dlogits[i] = (fnn_sigmoid_##SFX(z) - t) * inv_n;                   \
    }                                                                                   \
    return total / (double)n;                                                           \
}                                                                                       \
double fnn_mse_##SFX(T *dpred, const T *pred, const T *target, int64_t n, int64_t cols) { \
    double total = 0; int64_t size = n * cols; T inv_n = (T)(1.0 / (double)n);         \
    for (int64_t i = 0; i < size; i++) {                                                \
        T d = pred[i] - target[i];                                                      \
        total += (double)d * (double)d;                                                 \
        if (dpred) dpred[i] = d * inv_n;                                                \
    }                                                                                   \
    return total / (2.0 * (double)n);                                                   \
}                                                                                       \
double fnn_l1_##SFX(const T *w, int64_t size) {                                         \
    double s = 0;                                                                       \
    for (int64_t i = 0; i < size; i++) s += (double)FABS(w[i]);                         \
    return s;                                                                           \
}                                                                                       \
double fnn_l2_##SFX(const T *w, int64_t size) {                                         \
    double s = 0;                                                                       \
    for (int64_t i = 0; i < size; i++) s += (double)w[i] * (double)w[i];                \
    return 0.5 * s;                                                                     \
}

DEFINE_LOSSES(float, f32, expf, logf, log1pf, fabsf)
DEFINE_LOSSES(double, f64, exp, log, log1p, fabs)
