/* activations.c -- elementwise activation forward/backward over [rows, cols].
 *
 * Each activation has its own loop (the switch is outside), written with the
 * branch-free math of simd_math.h so gcc vectorises it. Every loop body is
 * compiled for the baseline ISA (_generic), for AVX2+FMA (_avx2) and for AVX-512F
 * (_avx512: elementwise, so 16 lanes give the same numbers as 8, at up to twice the
 * rate of the transcendental ones; softmax's row sums, whose lane count sets their
 * summation order, stay on AVX2); the exported functions pick one on fnn_isa_level at
 * every call and split large arrays over OpenMP threads in contiguous chunks.
 *
 * Aliasing: y may be x and dx may be dy (exactly, never partially): each
 * iteration reads element i before writing element i, so `GCC ivdep` is safe.
 */
#include <string.h>
#include "internal.h"
#include "act_math.h"
#include "simd_math.h"
#include "reduce.h"

#define IVDEP _Pragma("GCC ivdep")
#define EACH(n) IVDEP for (int64_t i = 0; i < (n); i++)

/* rows of a softmax handled together: the exp pass runs flat over the block, so
 * short rows (10 classes) vectorise as well as long ones */
#define SOFTMAX_BLOCK 2048
#define GELU_BLOCK 256  /* elements per block of the two-loop activations */

#define DEFINE_ACT_PASSES(T, SFX, ISA, ATTR)                                            \
static ATTR void fwd_##SFX##_##ISA(T *y, const T *x, int64_t n, int act, T p) {         \
    switch (act) {                                                                      \
    case FNN_ACT_RELU: EACH(n) { T v = x[i]; y[i] = fnn_sel_##SFX(v < 0, (T)0, v); } break;          \
    case FNN_ACT_LEAKY_RELU: EACH(n) { T v = x[i]; y[i] = fnn_sel_##SFX(v > 0, v, p * v); } break;   \
    case FNN_ACT_SIGMOID: EACH(n) y[i] = fnn_vsigmoid_##SFX##_##ISA(x[i]); break;               \
    case FNN_ACT_TANH: EACH(n) y[i] = fnn_vtanh_##SFX##_##ISA(x[i]); break;                     \
    case FNN_ACT_SOFTPLUS: {                                                            \
        /* exp and log1p in separate loops over a block: fused, their constants do not \
         * fit the 16 vector registers and the spills cost more than the extra pass */ \
        T e[GELU_BLOCK];                                                                \
        for (int64_t b = 0; b < n; b += GELU_BLOCK) {                                   \
            int64_t m = n - b < GELU_BLOCK ? n - b : GELU_BLOCK;                        \
            const T *xb = x + b; T *yb = y + b;                                         \
            EACH(m) e[i] = fnn_vexp_neg_##SFX##_##ISA(-fnn_fabs_##SFX(xb[i]));                  \
            EACH(m) { T v = xb[i];                                                      \
                yb[i] = fnn_sel_##SFX(v > 0, v, (T)0) + fnn_vlog1p_unit_##SFX##_##ISA(e[i]); }  \
        }                                                                               \
    } break;                                                                            \
    case FNN_ACT_GELU: EACH(n) {                                                        \
        T v = x[i];                                                                     \
        y[i] = (T)0.5 * v * ((T)1 + fnn_verf_##SFX##_##ISA(v * (T)FNN_INV_SQRT_2));             \
    } break;                                                                            \
    case FNN_ACT_GELU_TANH: EACH(n) {                                                   \
        /* 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation where tanh(u) ~ -1 */       \
        T v = x[i];                                                                     \
        T u = (T)FNN_SQRT_2_OVER_PI * (v + (T)FNN_GELU_C * v * v * v);                  \
        y[i] = v * fnn_vsigmoid_##SFX##_##ISA((T)2 * u);                                        \
    } break;                                                                            \
    case FNN_ACT_ELU: EACH(n) {                                                         \
        T v = x[i];                                                                     \
        y[i] = fnn_sel_##SFX(v > 0, v, p * fnn_vexpm1_##SFX##_##ISA(v));                                     \
    } break;                                                                            \
    default: if (y != x) memcpy(y, x, (size_t)n * sizeof(T)); break; /* identity */     \
    }                                                                                   \
}                                                                                       \
static ATTR void bwd_##SFX##_##ISA(T *dx, const T *dy, const T *y, const T *x,          \
                                   int64_t n, int act, T p) {                           \
    switch (act) {                                                                      \
    case FNN_ACT_RELU: EACH(n) dx[i] = dy[i] * fnn_sel_##SFX(y[i] > 0, (T)1, (T)0); break;         \
    case FNN_ACT_LEAKY_RELU: EACH(n) dx[i] = dy[i] * fnn_sel_##SFX(y[i] > 0, (T)1, p); break;      \
    case FNN_ACT_SIGMOID: EACH(n) { T v = y[i]; dx[i] = dy[i] * (v * ((T)1 - v)); } break; \
    case FNN_ACT_TANH: EACH(n) { T v = y[i]; dx[i] = dy[i] * ((T)1 - v * v); } break;   \
    case FNN_ACT_SOFTPLUS: EACH(n) dx[i] = dy[i] * -fnn_vexpm1_##SFX##_##ISA(-y[i]); break;     \
    case FNN_ACT_GELU: {                                                                \
        /* erf in its own loop over a block: on the generic path float64 erf is libm's, \
         * a call that would keep the exp loop scalar too; where both vectorise the     \
         * split measured 2-4% faster than one fused loop (fewer live constants) */     \
        T erfs[GELU_BLOCK];                                                             \
        for (int64_t b = 0; b < n; b += GELU_BLOCK) {                                   \
            int64_t m = n - b < GELU_BLOCK ? n - b : GELU_BLOCK;                        \
            const T *xb = x + b, *gb = dy + b; T *db = dx + b;                          \
            for (int64_t i = 0; i < m; i++) erfs[i] = fnn_verf_##SFX##_##ISA(xb[i] * (T)FNN_INV_SQRT_2); \
            EACH(m) {                                                                   \
                T v = xb[i], cdf = (T)0.5 * ((T)1 + erfs[i]);                           \
                db[i] = gb[i] * (cdf + v * (T)FNN_INV_SQRT_2PI * fnn_vexp_neg_##SFX##_##ISA((T)-0.5 * v * v)); \
            }                                                                           \
        }                                                                               \
    } break;                                                                            \
    case FNN_ACT_GELU_TANH: EACH(n) {                                                   \
        /* with s = sigmoid(2u): 0.5 (1 + t) = s and 0.5 (1 - t^2) = 2 s (1 - s),       \
         * s (1 - s) = e / (1 + e)^2 with e = exp(-2|u|), exact on both sides */        \
        T v = x[i];                                                                     \
        T u2 = (T)(2 * FNN_SQRT_2_OVER_PI) * (v + (T)FNN_GELU_C * v * v * v);           \
        T du = (T)FNN_SQRT_2_OVER_PI * ((T)1 + (T)(3 * FNN_GELU_C) * v * v);            \
        T e = fnn_vexp_neg_##SFX##_##ISA(-fnn_fabs_##SFX(u2)), inv = (T)1 / ((T)1 + e);            \
        T sg = fnn_sel_##SFX(u2 >= 0, (T)1, e) * inv;                                   \
        dx[i] = dy[i] * (sg + (T)2 * v * du * (e * inv * inv));                         \
    } break;                                                                            \
    case FNN_ACT_ELU: EACH(n) { T v = y[i]; dx[i] = dy[i] * fnn_sel_##SFX(v > 0, (T)1, v + p); } break; \
    default: if (dx != dy) memcpy(dx, dy, (size_t)n * sizeof(T)); break;               \
    }                                                                                   \
}

#define DEFINE_SOFTMAX_PASSES(T, SFX, ISA, ATTR)                                        \
/* softmax over rows [r0, r1): y = exp(x - max) / sum. Long rows: one fused     \
 * exp pass per row. Short rows (< 64): subtract the row maxima over a block of    \
 * rows, then one flat exp pass over the block, which vectorises fully. */         \
static ATTR void softmax_fwd_##SFX##_##ISA(T *y, const T *x, int64_t r0, int64_t r1,    \
                                            int64_t cols) {                             \
    if (cols >= 64) {                                                                   \
        for (int64_t r = r0; r < r1; r++) {                                             \
            const T *xr = x + r * cols; T *yr = y + r * cols;                           \
            T mx = fnn_rmax_##SFX##_##ISA(xr, cols);                                            \
            EACH(cols) yr[i] = fnn_vexp_neg_##SFX##_##ISA(xr[i] - mx);                              \
            T inv = (T)1 / fnn_rsum_##SFX(yr, cols);                                    \
            EACH(cols) yr[i] *= inv;                                                    \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    int64_t rb = SOFTMAX_BLOCK / cols;                                                  \
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {                                          \
        int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;                                       \
        for (int64_t r = b0; r < b1; r++) {                                             \
            const T *xr = x + r * cols; T *yr = y + r * cols;                           \
            T mx = fnn_rmax_##SFX##_##ISA(xr, cols);                                            \
            EACH(cols) yr[i] = xr[i] - mx;                                              \
        }                                                                               \
        T *yb = y + b0 * cols;                                                          \
        EACH((b1 - b0) * cols) yb[i] = fnn_vexp_neg_##SFX##_##ISA(yb[i]);                           \
        for (int64_t r = b0; r < b1; r++) {                                             \
            T *yr = y + r * cols;                                                       \
            T inv = (T)1 / fnn_rsum_##SFX(yr, cols);                                    \
            EACH(cols) yr[i] *= inv;                                                    \
        }                                                                               \
    }                                                                                   \
}                                                                                       \
/* dx = y * (dy - sum_j dy_j y_j), rows [r0, r1) */                                    \
static ATTR void softmax_bwd_##SFX##_##ISA(T *dx, const T *dy, const T *y, int64_t r0,  \
                                            int64_t r1, int64_t cols) {                 \
    for (int64_t r = r0; r < r1; r++) {                                                 \
        const T *yr = y + r * cols, *gr = dy + r * cols; T *dr = dx + r * cols;         \
        T dot = fnn_rdot_##SFX(gr, yr, cols);                                           \
        EACH(cols) dr[i] = yr[i] * (gr[i] - dot);                                       \
    }                                                                                   \
}

DEFINE_ACT_PASSES(float, f32, generic, )
DEFINE_ACT_PASSES(double, f64, generic, )
DEFINE_ACT_PASSES(float, f32, avx2, FNN_TARGET_AVX2)
DEFINE_ACT_PASSES(double, f64, avx2, FNN_TARGET_AVX2)
DEFINE_ACT_PASSES(float, f32, avx512, FNN_TARGET_AVX512)
DEFINE_ACT_PASSES(double, f64, avx512, FNN_TARGET_AVX512)
DEFINE_SOFTMAX_PASSES(float, f32, generic, )
DEFINE_SOFTMAX_PASSES(double, f64, generic, )
DEFINE_SOFTMAX_PASSES(float, f32, avx2, FNN_TARGET_AVX2)
DEFINE_SOFTMAX_PASSES(double, f64, avx2, FNN_TARGET_AVX2)

/* FN's pass for the ISA selected now (the elementwise ones: fwd, bwd) */
#define ACT_PASS(FN, SFX, ...)                                                          \
    do {                                                                                \
        if (fnn_isa_level >= FNN_ISA_AVX512) FN##_##SFX##_avx512(__VA_ARGS__);          \
        else if (fnn_isa_level >= FNN_ISA_AVX2) FN##_##SFX##_avx2(__VA_ARGS__);         \
        else FN##_##SFX##_generic(__VA_ARGS__);                                         \
    } while (0)

/* [lo, hi) of a contiguous split of n elements into nt chunks (multiples of 64,
 * so no two threads share a cache line) */
static inline void split(int64_t n, int nt, int t, int64_t *lo, int64_t *hi) {
    int64_t per = ((n + nt - 1) / nt + 63) & ~(int64_t)63;
    *lo = per * t < n ? per * t : n;
    *hi = per * (t + 1) < n ? per * (t + 1) : n;
}

/* transcendental activations are worth a second thread at a smaller size */
static double act_cost(int act) {
    return (act == FNN_ACT_IDENTITY || act == FNN_ACT_RELU || act == FNN_ACT_LEAKY_RELU)
               ? 1.0 : 4.0;
}

#define DEFINE_ACT_API(T, SFX)                                                          \
void fnn_act_forward_block_##SFX(T *y, const T *x, int64_t rows, int64_t cols, int act, \
                                 double param) {                                        \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    if (act == FNN_ACT_SOFTMAX) {                                                       \
        if (avx2) softmax_fwd_##SFX##_avx2(y, x, 0, rows, cols);                        \
        else softmax_fwd_##SFX##_generic(y, x, 0, rows, cols);                          \
    } else ACT_PASS(fwd, SFX, y, x, rows * cols, act, (T)param);                        \
}                                                                                       \
void fnn_act_backward_block_##SFX(T *dx, const T *dy, const T *y, const T *x,           \
                                  int64_t rows, int64_t cols, int act, double param) {  \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    if (act == FNN_ACT_SOFTMAX) {                                                       \
        if (avx2) softmax_bwd_##SFX##_avx2(dx, dy, y, 0, rows, cols);                   \
        else softmax_bwd_##SFX##_generic(dx, dy, y, 0, rows, cols);                     \
    } else ACT_PASS(bwd, SFX, dx, dy, y, x, rows * cols, act, (T)param);                \
}                                                                                       \
void fnn_act_forward_##SFX(T *y, const T *x, int64_t rows, int64_t cols, int act,       \
                           double param) {                                              \
    int64_t n = rows * cols;                                                            \
    int nt = fnn_threads_for((double)n * act_cost(act), FNN_ELEMWISE_PAR_MIN);          \
    if (nt <= 1) { fnn_act_forward_block_##SFX(y, x, rows, cols, act, param); return; } \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    if (act == FNN_ACT_SOFTMAX) {                                                       \
        unsigned fp_ = fnn_fp_bits(); /* internal.h */                                  \
        _Pragma("omp parallel for schedule(static) num_threads(nt)")                    \
        for (int t = 0; t < nt; t++) {                                                  \
            unsigned saved_ = fnn_fp_adopt(fp_);                                        \
            int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;                       \
            if (avx2) softmax_fwd_##SFX##_avx2(y, x, r0, r1, cols);                     \
            else softmax_fwd_##SFX##_generic(y, x, r0, r1, cols);                       \
            fnn_fp_restore(fp_, saved_);                                                \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    unsigned fp_ = fnn_fp_bits(); /* internal.h */                                      \
    _Pragma("omp parallel for schedule(static) num_threads(nt)")                        \
    for (int t = 0; t < nt; t++) {                                                      \
        unsigned saved_ = fnn_fp_adopt(fp_);                                            \
        int64_t lo, hi; split(n, nt, t, &lo, &hi);                                      \
        ACT_PASS(fwd, SFX, y + lo, x + lo, hi - lo, act, (T)param);                     \
        fnn_fp_restore(fp_, saved_);                                                    \
    }                                                                                   \
}                                                                                       \
void fnn_act_backward_##SFX(T *dx, const T *dy, const T *y, const T *x,                \
                            int64_t rows, int64_t cols, int act, double param) {        \
    int64_t n = rows * cols;                                                            \
    int nt = fnn_threads_for((double)n * act_cost(act), FNN_ELEMWISE_PAR_MIN);          \
    if (nt <= 1) { fnn_act_backward_block_##SFX(dx, dy, y, x, rows, cols, act, param); return; } \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    if (act == FNN_ACT_SOFTMAX) {                                                       \
        unsigned fp_ = fnn_fp_bits(); /* internal.h */                                  \
        _Pragma("omp parallel for schedule(static) num_threads(nt)")                    \
        for (int t = 0; t < nt; t++) {                                                  \
            unsigned saved_ = fnn_fp_adopt(fp_);                                        \
            int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;                       \
            if (avx2) softmax_bwd_##SFX##_avx2(dx, dy, y, r0, r1, cols);                \
            else softmax_bwd_##SFX##_generic(dx, dy, y, r0, r1, cols);                  \
            fnn_fp_restore(fp_, saved_);                                                \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    unsigned fp_ = fnn_fp_bits(); /* internal.h */                                      \
    _Pragma("omp parallel for schedule(static) num_threads(nt)")                        \
    for (int t = 0; t < nt; t++) {                                                      \
        unsigned saved_ = fnn_fp_adopt(fp_);                                            \
        int64_t lo, hi; split(n, nt, t, &lo, &hi);                                      \
        const T *ys = y ? y + lo : NULL, *xs = x ? x + lo : NULL;                       \
        ACT_PASS(bwd, SFX, dx + lo, dy + lo, ys, xs, hi - lo, act, (T)param);           \
        fnn_fp_restore(fp_, saved_);                                                    \
    }                                                                                   \
}

DEFINE_ACT_API(float, f32)
DEFINE_ACT_API(double, f64)
