/* act_math.h -- scalar activation functions and derivatives, one place for the
 * math shared by activations.c and dense.c (the NumPy reference,
 * fastnn/backends/reference.py, states the same formulas).
 * Derivatives take the forward output y where that suffices and the input x only
 * for gelu / gelu_tanh, matching fnn_act_backward_*.
 * These are the plain scalar forms (libm calls: a loop over them stays scalar).
 * activations.c and losses.c use the branch-free, vectorisable versions in
 * simd_math.h instead; a hot loop elsewhere should call fnn_act_forward_block_* /
 * fnn_act_backward_block_* (internal.h) rather than these per element. */
#ifndef FASTNN_ACT_MATH_H
#define FASTNN_ACT_MATH_H

#include <math.h>

#define FNN_SQRT_2_OVER_PI 0.7978845608028654
#define FNN_INV_SQRT_2 0.7071067811865476
#define FNN_INV_SQRT_2PI 0.3989422804014327
#define FNN_GELU_C 0.044715

#define FNN_DEFINE_ACT_MATH(T, SFX, EXP, EXPM1, LOG1P, TANH, ERF, FABS)                 \
static inline T fnn_sigmoid_##SFX(T x) {                                             \
    /* stable on both sides: exp of a non-positive number never overflows */          \
    if (x >= 0) { T e = EXP(-x); return (T)1 / ((T)1 + e); }                          \
    T e = EXP(x); return e / ((T)1 + e);                                             \
}                                                                                    \
static inline T fnn_softplus_##SFX(T x) {                                            \
    /* log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */                                    \
    return (x > 0 ? x : (T)0) + LOG1P(EXP(-FABS(x)));                                \
}                                                                                    \
static inline T fnn_act_##SFX(int act, T x, T p) {                                   \
    switch (act) {                                                                   \
    case FNN_ACT_RELU: return x <= 0 ? (T)0 : x; /* NaN passes, as np.maximum */      \
    case FNN_ACT_LEAKY_RELU: return x > 0 ? x : p * x;                               \
    case FNN_ACT_SIGMOID: return fnn_sigmoid_##SFX(x);                               \
    case FNN_ACT_TANH: return TANH(x);                                               \
    case FNN_ACT_SOFTPLUS: return fnn_softplus_##SFX(x);                             \
    case FNN_ACT_GELU: return (T)0.5 * x * ((T)1 + ERF(x * (T)FNN_INV_SQRT_2));      \
    case FNN_ACT_GELU_TANH:                                                          \
        return (T)0.5 * x * ((T)1 + TANH((T)FNN_SQRT_2_OVER_PI *                     \
                                         (x + (T)FNN_GELU_C * x * x * x)));          \
    case FNN_ACT_ELU: return x > 0 ? x : p * (EXP(x) - (T)1);                        \
    default: return x; /* identity; softmax is row-wise, handled by callers */       \
    }                                                                                \
}                                                                                    \
/* act'(.) given the output y (and the input x for the gelus) */                      \
static inline T fnn_act_grad_##SFX(int act, T y, T x, T p) {                         \
    switch (act) {                                                                   \
    case FNN_ACT_RELU: return y > 0 ? (T)1 : (T)0;                                   \
    case FNN_ACT_LEAKY_RELU: return y > 0 ? (T)1 : p;                                \
    case FNN_ACT_SIGMOID: return y * ((T)1 - y);                                     \
    case FNN_ACT_TANH: return (T)1 - y * y;                                          \
    case FNN_ACT_SOFTPLUS: return -EXPM1(-y); /* 1 - e^-y = sigmoid(x) */             \
    case FNN_ACT_GELU: {                                                             \
        T cdf = (T)0.5 * ((T)1 + ERF(x * (T)FNN_INV_SQRT_2));                        \
        return cdf + x * (T)FNN_INV_SQRT_2PI * EXP((T)-0.5 * x * x);                 \
    }                                                                                \
    case FNN_ACT_GELU_TANH: {                                                        \
        T u = (T)FNN_SQRT_2_OVER_PI * (x + (T)FNN_GELU_C * x * x * x);               \
        T t = TANH(u);                                                               \
        T du = (T)FNN_SQRT_2_OVER_PI * ((T)1 + (T)(3 * FNN_GELU_C) * x * x);         \
        return (T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * du;               \
    }                                                                                \
    case FNN_ACT_ELU: return y > 0 ? (T)1 : y + p; /* alpha e^x = y + alpha */       \
    default: return (T)1;                                                            \
    }                                                                                \
}

FNN_DEFINE_ACT_MATH(float, f32, expf, expm1f, log1pf, tanhf, erff, fabsf)
FNN_DEFINE_ACT_MATH(double, f64, exp, expm1, log1p, tanh, erf, fabs)

#endif
