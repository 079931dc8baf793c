/* dense.c -- dense layer forward/backward = gemm + epilogues (bias, activation). */
#include "internal.h"
#include "act_math.h"

#define DEFINE_DENSE(T, SFX)                                                            \
void fnn_dense_forward_##SFX(T *out, T *z_out, const T *x, const T *w, const T *b,     \
                             int64_t n, int64_t in, int64_t o, int act, double param) { \
    T *z = z_out ? z_out : out;                                                         \
    for (int64_t r = 0; r < n; r++)                                                     \
        for (int64_t j = 0; j < o; j++) z[r * o + j] = b[j];                            \
    fnn_gemm_##SFX(z, x, w, n, o, in, 0, 0, 1.0, 1.0);                                  \
    fnn_act_forward_##SFX(out, z, n, o, act, param);                                    \
}                                                                                       \
void fnn_dense_backward_##SFX(T *dx, T *dw, T *db, T *dz, const T *dout, const T *x,   \
                              const T *w, const T *y, const T *z,                       \
                              int64_t n, int64_t in, int64_t o, int act, double param) { \
    if (act == FNN_ACT_IDENTITY) {                                                      \
        if (dz != dout) for (int64_t i = 0; i < n * o; i++) dz[i] = dout[i];            \
    } else fnn_act_backward_##SFX(dz, dout, y, z, n, o, act, param);                    \
    for (int64_t j = 0; j < o; j++) db[j] = 0;                                          \
    for (int64_t r = 0; r < n; r++)                                                     \
        for (int64_t j = 0; j < o; j++) db[j] += dz[r * o + j];                         \
    fnn_gemm_##SFX(dw, x, dz, in, o, n, 1, 0, 1.0, 0.0);                                \
    if (dx) fnn_gemm_##SFX(dx, dz, w, n, in, o, 0, 1, 1.0, 0.0);                        \
}

DEFINE_DENSE(float, f32)
DEFINE_DENSE(double, f64)
