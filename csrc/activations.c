/* activations.c -- elementwise activation forward/backward over [rows, cols]. */
#include "internal.h"
#include "act_math.h"

#define DEFINE_ACT(T, SFX)                                                              \
static void softmax_rows_##SFX(T *y, const T *x, int64_t rows, int64_t cols) {          \
    _Pragma("omp parallel for schedule(static) num_threads(fnn_threads_for((double)rows * cols, FNN_ELEMWISE_PAR_MIN))") \
    for (int64_t r = 0; r < rows; r++) {                                                \
        const T *xr = x + r * cols; T *yr = y + r * cols;                               \
        T mx = xr[0];                                                                   \
        for (int64_t j = 1; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;               \
        T s = 0;                                                                        \
        for (int64_t j = 0; j < cols; j++) { yr[j] = fnn_exp_##SFX(xr[j] - mx); s += yr[j]; } \
        T inv = (T)1 / s;                                                               \
        for (int64_t j = 0; j < cols; j++) yr[j] *= inv;                                \
    }                                                                                   \
}                                                                                       \
void fnn_act_forward_##SFX(T *y, const T *x, int64_t rows, int64_t cols, int act, double param) { \
    if (act == FNN_ACT_SOFTMAX) { softmax_rows_##SFX(y, x, rows, cols); return; }       \
    int64_t size = rows * cols; T p = (T)param;                                         \
    _Pragma("omp parallel for schedule(static) num_threads(fnn_threads_for((double)size, FNN_ELEMWISE_PAR_MIN))") \
    for (int64_t i = 0; i < size; i++) y[i] = fnn_act_##SFX(act, x[i], p);              \
}                                                                                       \
void fnn_act_backward_##SFX(T *dx, const T *dy, const T *y, const T *x,                \
                            int64_t rows, int64_t cols, int act, double param) {        \
    if (act == FNN_ACT_SOFTMAX) {                                                       \
        /* dx = y * (dy - sum_j dy_j y_j), row by row */                                \
        for (int64_t r = 0; r < rows; r++) {                                            \
            const T *yr = y + r * cols, *gr = dy + r * cols; T *dr = dx + r * cols;     \
            T dot = 0;                                                                  \
            for (int64_t j = 0; j < cols; j++) dot += gr[j] * yr[j];                   \
            for (int64_t j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - dot);          \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    int64_t size = rows * cols; T p = (T)param;                                         \
    int gelu = act == FNN_ACT_GELU || act == FNN_ACT_GELU_TANH;                         \
    _Pragma("omp parallel for schedule(static) num_threads(fnn_threads_for((double)size, FNN_ELEMWISE_PAR_MIN))") \
    for (int64_t i = 0; i < size; i++)                                                  \
        dx[i] = dy[i] * fnn_act_grad_##SFX(act, gelu ? (T)0 : y[i], gelu ? x[i] : (T)0, p); \
}

static inline float fnn_exp_f32(float x) { return expf(x); }
static inline double fnn_exp_f64(double x) { return exp(x); }
DEFINE_ACT(float, f32)
DEFINE_ACT(double, f64)
