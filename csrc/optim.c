/* optim.c -- fused optimizer updates over flat parameter buffers.
 * The order of operations per element is documented in fastnn.h; every kernel
 * here is one pass over memory, with the arithmetic in the buffer's dtype. */
#include "internal.h"
#include <math.h>

#define PAR_FOR _Pragma("omp parallel for schedule(static) num_threads(fnn_threads_for((double)size, FNN_ELEMWISE_PAR_MIN))")

/* decoupled decay, the optimizer's step, proximal L1: shared tail of every update */
#define PROX_L1(T, FABS, x, thr) \
    ((x) > (thr) ? (x) - (thr) : ((x) < -(thr) ? (x) + (thr) : (T)0))

#define DEFINE_OPTIM(T, SFX, SQRT, FABS)                                                \
void fnn_sgd_##SFX(T *p, const T *g, int64_t size,                                      \
                   double lr_, double l2_, double l1_, double wd_) {                    \
    T lr = (T)lr_, l2 = (T)l2_, thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_);             \
    int use_l1 = l1_ != 0;                                                              \
    PAR_FOR for (int64_t i = 0; i < size; i++) {                                        \
        T w = p[i], gi = g[i] + l2 * w;                                                 \
        w = w - dec * w - lr * gi;                                                      \
        p[i] = use_l1 ? PROX_L1(T, FABS, w, thr) : w;                                   \
    }                                                                                   \
}                                                                                       \
void fnn_momentum_##SFX(T *p, T *v, const T *g, int64_t size, double lr_, double mu_,  \
                        int nesterov, double l2_, double l1_, double wd_) {             \
    T lr = (T)lr_, mu = (T)mu_, l2 = (T)l2_, thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_); \
    int use_l1 = l1_ != 0;                                                              \
    PAR_FOR for (int64_t i = 0; i < size; i++) {                                        \
        T w = p[i], gi = g[i] + l2 * w;                                                 \
        T vi = mu * v[i] - lr * gi;                                                     \
        v[i] = vi;                                                                      \
        w = w - dec * w + (nesterov ? mu * vi - lr * gi : vi);                          \
        p[i] = use_l1 ? PROX_L1(T, FABS, w, thr) : w;                                   \
    }                                                                                   \
}                                                                                       \
void fnn_adagrad_##SFX(T *p, T *acc, const T *g, int64_t size, double lr_, double eps_, \
                       double l2_, double l1_, double wd_) {                            \
    T lr = (T)lr_, eps = (T)eps_, l2 = (T)l2_, thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_); \
    int use_l1 = l1_ != 0;                                                              \
    PAR_FOR for (int64_t i = 0; i < size; i++) {                                        \
        T w = p[i], gi = g[i] + l2 * w;                                                 \
        T a = acc[i] + gi * gi;                                                         \
        acc[i] = a;                                                                     \
        w = w - dec * w - lr * gi / (SQRT(a) + eps);                                    \
        p[i] = use_l1 ? PROX_L1(T, FABS, w, thr) : w;                                   \
    }                                                                                   \
}                                                                                       \
void fnn_rmsprop_##SFX(T *p, T *sq, const T *g, int64_t size, double lr_, double rho_,  \
                       double eps_, double l2_, double l1_, double wd_) {               \
    T lr = (T)lr_, rho = (T)rho_, eps = (T)eps_, l2 = (T)l2_;                           \
    T thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_);                                       \
    int use_l1 = l1_ != 0;                                                              \
    PAR_FOR for (int64_t i = 0; i < size; i++) {                                        \
        T w = p[i], gi = g[i] + l2 * w;                                                 \
        T s = rho * sq[i] + ((T)1 - rho) * gi * gi;                                     \
        sq[i] = s;                                                                      \
        w = w - dec * w - lr * gi / (SQRT(s) + eps);                                    \
        p[i] = use_l1 ? PROX_L1(T, FABS, w, thr) : w;                                   \
    }                                                                                   \
}                                                                                       \
void fnn_adam_##SFX(T *p, T *m, T *v, const T *g, int64_t size, double lr_, double b1_, \
                    double b2_, double eps_, int64_t t, double l2_, double l1_, double wd_) { \
    double lr_t_ = lr_ * sqrt(1.0 - pow(b2_, (double)t)) / (1.0 - pow(b1_, (double)t)); \
    T lr_t = (T)lr_t_, b1 = (T)b1_, b2 = (T)b2_, eps = (T)eps_, l2 = (T)l2_;            \
    T thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_);                                       \
    int use_l1 = l1_ != 0;                                                              \
    PAR_FOR for (int64_t i = 0; i < size; i++) {                                        \
        T w = p[i], gi = g[i] + l2 * w;                                                 \
        T mi = b1 * m[i] + ((T)1 - b1) * gi;                                            \
        T vi = b2 * v[i] + ((T)1 - b2) * gi * gi;                                       \
        m[i] = mi; v[i] = vi;                                                           \
        w = w - dec * w - lr_t * mi / (SQRT(vi) + eps);                                 \
        p[i] = use_l1 ? PROX_L1(T, FABS, w, thr) : w;                                   \
    }                                                                                   \
}

DEFINE_OPTIM(float, f32, sqrtf, fabsf)
DEFINE_OPTIM(double, f64, sqrt, fabs)
