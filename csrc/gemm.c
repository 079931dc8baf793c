/* gemm.c -- C = alpha op(A) op(B) + beta C. Naive reference loops for now;
 * the blocked engine with register-tiled microkernels replaces the body. */
#include "internal.h"

#define DEFINE_GEMM(T, SFX)                                                             \
void fnn_gemm_##SFX(T *c, const T *a, const T *b, int64_t m, int64_t n, int64_t k,      \
                    int trans_a, int trans_b, double alpha_, double beta_) {            \
    T alpha = (T)alpha_, beta = (T)beta_;                                               \
    for (int64_t i = 0; i < m; i++) {                                                   \
        T *ci = c + i * n;                                                              \
        if (beta_ == 0) for (int64_t j = 0; j < n; j++) ci[j] = 0;                     \
        else if (beta_ != 1) for (int64_t j = 0; j < n; j++) ci[j] *= beta;            \
        for (int64_t p = 0; p < k; p++) {                                               \
            T aip = alpha * (trans_a ? a[p * m + i] : a[i * k + p]);                    \
            if (!trans_b) { const T *bp = b + p * n;                                    \
                for (int64_t j = 0; j < n; j++) ci[j] += aip * bp[j]; }                 \
            else for (int64_t j = 0; j < n; j++) ci[j] += aip * b[j * k + p];           \
        }                                                                               \
    }                                                                                   \
}

DEFINE_GEMM(float, f32)
DEFINE_GEMM(double, f64)
