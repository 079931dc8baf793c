/* enet.c -- elastic-net coordinate descent (fnn_enet_cd_*), Lasso's solver.
 *
 * scikit-learn's enet_coordinate_descent step for step (cyclic or its xorshift
 * "random" order, the positive constraint, gap-safe screening, the duality-gap
 * stop), so a fit takes the same iterations to the same coefficients. The work is
 * one dot and at most one axpy over a column of X per coordinate: X is passed
 * transposed, xt [n_features, n_samples], so every column is a contiguous row.
 * All arithmetic is in the arrays' dtype, as scikit-learn's. The spec is
 * fastnn/backends/_enet_reference.py. Built for the baseline ISA and AVX2 (FMA); on
 * AVX-512 the AVX2 solver takes 512-bit dots (zdot_*: the same bits).
 *
 * The Gram form (gram_after >= 0): scikit-learn's enet_coordinate_descent_gram, entered
 * after gram_after sweeps with the state reached (with gram_predict, from then on once the
 * sweeps' rate of convergence predicts more than gram_after still to run: gram_now).
 * Q = X^T X comes from the GEMM engine (threaded), then each update is one row of Q (p)
 * instead of one column of X (n): on a tall X that needs many sweeps the sweeps become
 * almost free.
 */
#include <math.h>
#include <stdlib.h>
#include "gemm.h"
#include "internal.h"
#include "reduce.h"

/* The duality gap from xta = X^T R (Z^T R for the sparse form) and R's sums: scikit-learn's
 * gap_enet, formulation A (alpha = 0) or B, where xta becomes X^T R - beta w; sets
 * *dual_norm. Shared by the dense solver (compiled with each of its ISA builds, whose
 * arithmetic it keeps) and the sparse one (the generic build). */
#define DEFINE_GAP_TAIL(T, SFX, ISA, ATTR, FABS)                                        \
static ATTR T gap_tail_##SFX##_##ISA(T *xta, const T *w, int64_t p, T alpha, T beta,    \
                                     T r_norm2, T ry, T w_l2, int positive,             \
                                     T *dual_norm) {                                    \
    if (alpha == 0) {                                                                   \
        T dn = fnn_rdot_##SFX(xta, xta, p);                                             \
        *dual_norm = dn;                                                                \
        if (beta == 0) return dn;                                                       \
        return r_norm2 + (T)0.5 * beta * w_l2 - ry + (T)1 / ((T)2 * beta) * dn;         \
    }                                                                                   \
    for (int64_t j = 0; j < p; j++) xta[j] -= beta * w[j];                              \
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
}
/* gram_predict's test at sweep it >= gram_after >= 1 (fastnn/backends/_enet_reference.py,
 * gram_now): r, r_prev the last two sweeps' d_w_max / w_max (NaN before one ran) */
static int gram_now(int64_t it, int64_t gram_after, double r_prev, double r, double d_w_tol) {
    if (it >= 2 * gram_after || !(r_prev > r && r > d_w_tol)) return 1;
    return log(d_w_tol / r) / log(r / r_prev) > (double)gram_after;
}
/* columns of Q a GEMM call of the Gram form computes (see gram_form_*) */
#define GRAM_BLOCK 128
#define DEFINE_ENET(T, SFX, ISA, ATTR, SQRT, FABS, DOT)                                  \
DEFINE_GAP_TAIL(T, SFX, ISA, ATTR, FABS)                                                \
/* a coordinate's new value from tmp = X_j . (R + w_j X_j): 0 if positive and tmp < 0,  \
 * else sign(tmp) max(|tmp| - alpha, 0) / denom (denom = |X_j|^2 + beta); every form's */ \
static ATTR T soft_##SFX##_##ISA(T tmp, T alpha, T denom, int positive) {               \
    if (positive && tmp < 0) return 0;                                                  \
    T mag = FABS(tmp) - alpha;                                                          \
    T sgn = tmp > 0 ? (T)1 : (tmp < 0 ? (T)-1 : (T)0);                                  \
    return sgn * (mag > 0 ? mag : (T)0) / denom;                                        \
}                                                                                       \
static ATTR T dot_##SFX##_##ISA(const T *x, const T *y, int64_t n) {                    \
    return DOT(x, y, n);                                                                \
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
    for (int64_t j = 0; j < p; j++) xta[j] = dot_##SFX##_##ISA(xt + j * n, r, n);       \
    return gap_tail_##SFX##_##ISA(xta, w, p, alpha, beta, r_norm2, ry, w_l2, positive,  \
                                  dual_norm);                                           \
}                                                                                       \
/* Gap-safe screening (Fercoq et al., eq. 11): keep feature j when it may be      \
 * nonzero at the optimum, else zero it, its contribution leaving what the solver  \
 * keeps: kept += sign w_j rows[j] (R with X's columns and +1, or Q w with Q's rows \
 * and -1; rows of row_len). diag[j * diag_stride]: column j's squared norm. The    \
 * first pass also drops all-zero columns; later passes only re-examine kept ones. */ \
static ATTR int64_t screen_##SFX##_##ISA(T *w, T *kept, const T *rows, int64_t row_len,  \
                                         T sign, const T *diag, int64_t diag_stride,    \
                                         const T *xta, T alpha, T beta, T dual_norm,    \
                                         T gap, int64_t p, uint32_t *active,            \
                                         uint8_t *excluded, int first) {                \
    int64_t n_active = 0;                                                               \
    T bound = SQRT((T)2 * gap) / alpha, denom = dual_norm > alpha ? dual_norm : alpha;  \
    for (int64_t j = 0; j < p; j++) {                                                   \
        T d2 = diag[j * diag_stride];                                                   \
        if (first && d2 == 0) { w[j] = 0; excluded[j] = 1; continue; }                  \
        if (!first && excluded[j]) continue;                                            \
        T d_j = ((T)1 - FABS(xta[j] / denom)) / SQRT(d2 + beta);                        \
        if (d_j <= bound) { active[n_active++] = (uint32_t)j; excluded[j] = 0; }        \
        else {                                                                          \
            if (w[j] != 0) {                                                            \
                axpy_##SFX##_##ISA(kept, sign * w[j], rows + j * row_len, row_len);     \
                w[j] = 0;                                                               \
            }                                                                           \
            excluded[j] = 1;                                                            \
        }                                                                               \
    }                                                                                   \
    return n_active;                                                                    \
}                                                                                       \
/* The gap in the Gram form (scikit-learn's gap_enet_gram): R.R = y.y + w.Qw - 2 q.w,   \
 * R.y = y.y - q.w, xta = q - Qw (then gap_tail's - beta w). */                         \
static ATTR T ggap_##SFX##_##ISA(const T *w, T alpha, T beta, const T *qw, const T *q,  \
                                 T y_norm2, T *xta, int64_t p, int positive,            \
                                 T *dual_norm) {                                        \
    T w_l2 = beta > 0 ? dot_##SFX##_##ISA(w, w, p) : (T)0;                              \
    T q_w = dot_##SFX##_##ISA(q, w, p);                                                 \
    T r_norm2 = y_norm2 + dot_##SFX##_##ISA(w, qw, p) - (T)2 * q_w;                     \
    T ry = (alpha == 0 && beta == 0) ? (T)0 : y_norm2 - q_w;                           \
    for (int64_t j = 0; j < p; j++) xta[j] = q[j] - qw[j];                              \
    return gap_tail_##SFX##_##ISA(xta, w, p, alpha, beta, r_norm2, ry, w_l2, positive,  \
                                  dual_norm);                                           \
}                                                                                       \
/* Sweeps it0 .. max_iter - 1 in the Gram form (the reference's cd_gram); it0 = 0 first  \
 * checks the gap and screens. Q [p, p], q = X^T y; work: qw [p], xta [p]. */           \
static ATTR void cdg_##SFX##_##ISA(T *w, T *gap_out, int64_t *n_iter_out, int *converged, \
                                   const T *Q, const T *q, T y_norm2, int64_t p,        \
                                   T alpha, T beta, int64_t max_iter, int64_t it0, T tol, \
                                   T d_w_tol, uint32_t seed, int random, int positive,  \
                                   int screening, T *qw, T *xta, uint32_t *active,      \
                                   uint8_t *excluded, int64_t n_active) {               \
    for (int64_t j = 0; j < p; j++) qw[j] = dot_##SFX##_##ISA(Q + j * p, w, p);         \
    T dual_norm, gap = (T)INFINITY;                                                     \
    *converged = 1;                                                                     \
    if (it0 == 0) {                                                                     \
        gap = ggap_##SFX##_##ISA(w, alpha, beta, qw, q, y_norm2, xta, p, positive,      \
                                 &dual_norm);                                           \
        if (gap <= tol) { *gap_out = gap; *n_iter_out = 0; return; }                    \
        if (screening)                                                                  \
            n_active = screen_##SFX##_##ISA(w, qw, Q, p, (T)-1, Q, p + 1, xta, alpha, beta, \
                                            dual_norm, gap, p, active, excluded, 1);    \
    }                                                                                   \
    int64_t it;                                                                         \
    *converged = 0;                                                                     \
    for (it = it0; it < max_iter; it++) {                                               \
        T w_max = 0, d_w_max = 0;                                                       \
        for (int64_t f = 0; f < n_active; f++) {                                        \
            int64_t j = random ? (int64_t)(fnn_sk_rand_r(&seed) % (uint32_t)n_active) : f;  \
            if (screening) j = active[j];                                               \
            T qjj = Q[j * p + j];                                                       \
            if (qjj == 0) continue;                                                     \
            T w_j = w[j];                                                               \
            T tmp = q[j] - qw[j] + w_j * qjj;                                           \
            w[j] = soft_##SFX##_##ISA(tmp, alpha, qjj + beta, positive);                \
            if (w[j] != w_j) axpy_##SFX##_##ISA(qw, w[j] - w_j, Q + j * p, p);          \
            T d = FABS(w[j] - w_j);                                                     \
            if (d > d_w_max) d_w_max = d;                                               \
            if (FABS(w[j]) > w_max) w_max = FABS(w[j]);                                 \
        }                                                                               \
        if (w_max == 0 || d_w_max / w_max <= d_w_tol || it == max_iter - 1) {           \
            gap = ggap_##SFX##_##ISA(w, alpha, beta, qw, q, y_norm2, xta, p, positive,  \
                                     &dual_norm);                                       \
            if (gap <= tol) { *converged = 1; break; }                                  \
            if (screening)                                                              \
                n_active = screen_##SFX##_##ISA(w, qw, Q, p, (T)-1, Q, p + 1, xta, alpha,  \
                                                beta, dual_norm, gap, p, active, excluded, 0); \
        }                                                                               \
    }                                                                                   \
    *gap_out = gap;                                                                     \
    *n_iter_out = (it < max_iter ? it : max_iter - 1) + 1;                              \
}                                                                                       \
/* The Gram form's arrays in one block (NULL if it cannot be had): Q = X^T X [p * p] unless \
 * given (then *Q is the caller's), then q = X^T y (a copy of given_q when given: then xt \
 * is not read), qw and xta [p each] at *qv. Q's upper triangle on the GEMM engine in     \
 * blocks of GRAM_BLOCK columns (rows 0 .. the block's last: half the product's work),    \
 * then mirrored: exactly symmetric. */                                                    \
static ATTR T *gram_form_##SFX##_##ISA(const T *xt, const T *y, int64_t n, int64_t p,     \
                                       const T *given, const T *given_q, const T **Q,  \
                                       T **qv) {                                        \
    if ((uint64_t)p > 46000) return NULL; /* p^2 + 3p elements: beyond ~16 GiB anyway */ \
    const size_t qsize = given ? 0 : (size_t)p * (size_t)p;                             \
    T *g = (T *)malloc((qsize + 3 * (size_t)p) * sizeof(T));                            \
    if (!g) return NULL;                                                                \
    if (!given) {                                                                       \
        for (int64_t j0 = 0; j0 < p; j0 += GRAM_BLOCK) {                                \
            int64_t nb = p - j0 < GRAM_BLOCK ? p - j0 : GRAM_BLOCK;                     \
            fnn_gemm_ex_##SFX(g + j0, p, xt, n, 1, xt + j0 * n, 1, n, j0 + nb, nb, n, (T)1, \
                              (T)0, NULL, fnn_thread_limit());                            \
        }                                                                               \
        for (int64_t i = 0; i < p; i++)                                                 \
            for (int64_t j = i + 1; j < p; j++) g[j * p + i] = g[i * p + j];            \
    }                                                                                   \
    *Q = given ? given : g;                                                             \
    *qv = g + qsize;                                                                    \
    for (int64_t j = 0; j < p; j++)                                                     \
        (*qv)[j] = given_q ? given_q[j] : dot_##SFX##_##ISA(xt + j * n, y, n);          \
    return g;                                                                           \
}                                                                                       \
static ATTR void cd_##SFX##_##ISA(T *w, T *gap_out, T *tol_out, int64_t *n_iter_out,     \
                                  int *converged, const T *xt, const T *y, int64_t n,   \
                                  int64_t p, T alpha, T beta, int64_t max_iter, T tol,  \
                                  uint32_t seed, int random, int positive, int screening, \
                                  int64_t gram_after, const T *gram, const T *xty,     \
                                  int gram_predict, T *r, T *xta, T *norm2,            \
                                  uint32_t *active, uint8_t *excluded) {               \
    T d_w_tol = tol;                                                                    \
    if (alpha == 0) screening = 0;                                                      \
    T y_norm2 = dot_##SFX##_##ISA(y, y, n);                                             \
    tol *= y_norm2;                                                                     \
    *tol_out = tol;                                                                     \
    const T *Q;                                                                         \
    T *qv;                                                                              \
    T *g = gram_after == 0 ? gram_form_##SFX##_##ISA(xt, y, n, p, gram, xty, &Q, &qv) : NULL; \
    if (g) {                                                                            \
        for (int64_t j = 0; j < p; j++) active[j] = (uint32_t)j;                        \
        cdg_##SFX##_##ISA(w, gap_out, n_iter_out, converged, Q, qv, y_norm2, p, alpha,  \
                          beta, max_iter, 0, tol, d_w_tol, seed, random, positive,      \
                          screening, qv + p, qv + 2 * p, active, excluded, p);          \
        free(g);                                                                        \
        return;                                                                         \
    }                                                                                   \
    if (!xt) { *n_iter_out = -1; return; } /* no X for the data form: the caller's ENOMEM */ \
    for (int64_t j = 0; j < p; j++) norm2[j] = dot_##SFX##_##ISA(xt + j * n, xt + j * n, n); \
    /* R = y - X w */                                                                   \
    for (int64_t i = 0; i < n; i++) r[i] = y[i];                                        \
    for (int64_t j = 0; j < p; j++)                                                     \
        if (w[j] != 0) axpy_##SFX##_##ISA(r, -w[j], xt + j * n, n);                     \
    *converged = 1;                                                                     \
    T dual_norm;                                                                        \
    T gap = gap_##SFX##_##ISA(w, alpha, beta, xt, y, r, xta, n, p, positive, &dual_norm); \
    if (gap <= tol) { *gap_out = gap; *n_iter_out = 0; return; }                        \
    int64_t n_active = p;                                                               \
    if (screening)                                                                      \
        n_active = screen_##SFX##_##ISA(w, r, xt, n, (T)1, norm2, 1, xta, alpha, beta,  \
                                        dual_norm, gap, p, active, excluded, 1);        \
    else                                                                                \
        for (int64_t j = 0; j < p; j++) active[j] = (uint32_t)j;                        \
    int64_t it = 0;                                                                     \
    *converged = 0;                                                                     \
    T r_prev = (T)NAN, r_last = (T)NAN; /* the sweeps' d_w_max / w_max, for gram_predict */ \
    int gram_tried = 0; /* (once: Q unallocatable keeps the data form) */               \
    for (it = 0; it < max_iter; it++) {                                                 \
        if (!gram_tried && gram_after > 0 && it >= gram_after                           \
            && (!gram_predict || gram_now(it, gram_after, (double)r_prev, (double)r_last, \
                                          (double)d_w_tol))                             \
            && (gram_tried = 1)                                                         \
            && (g = gram_form_##SFX##_##ISA(xt, y, n, p, gram, xty, &Q, &qv))) {       \
            cdg_##SFX##_##ISA(w, gap_out, n_iter_out, converged, Q, qv, y_norm2, p, alpha, \
                              beta, max_iter, it, tol, d_w_tol, seed, random, positive, \
                              screening, qv + p, qv + 2 * p, active, excluded, n_active); \
            free(g);                                                                    \
            return;                                                                     \
        }                                                                               \
        T w_max = 0, d_w_max = 0;                                                       \
        for (int64_t f = 0; f < n_active; f++) {                                        \
            int64_t j = random ? (int64_t)(fnn_sk_rand_r(&seed) % (uint32_t)n_active) : f;  \
            if (screening) j = active[j];                                               \
            if (norm2[j] == 0) continue;                                                \
            const T *xj = xt + j * n;                                                   \
            T w_j = w[j];                                                               \
            T tmp = dot_##SFX##_##ISA(xj, r, n) + w_j * norm2[j];                       \
            w[j] = soft_##SFX##_##ISA(tmp, alpha, norm2[j] + beta, positive);           \
            if (w[j] != w_j) axpy_##SFX##_##ISA(r, w_j - w[j], xj, n);                  \
            T d = FABS(w[j] - w_j);                                                     \
            if (d > d_w_max) d_w_max = d;                                               \
            if (FABS(w[j]) > w_max) w_max = FABS(w[j]);                                 \
        }                                                                               \
        r_prev = r_last;                                                                \
        r_last = w_max > 0 ? d_w_max / w_max : (T)0;                                    \
        if (w_max == 0 || d_w_max / w_max <= d_w_tol || it == max_iter - 1) {           \
            gap = gap_##SFX##_##ISA(w, alpha, beta, xt, y, r, xta, n, p, positive,      \
                                    &dual_norm);                                        \
            if (gap <= tol) { *converged = 1; break; }                                  \
            if (screening)                                                              \
                n_active = screen_##SFX##_##ISA(w, r, xt, n, (T)1, norm2, 1, xta, alpha,   \
                                                beta, dual_norm, gap, p, active, excluded, 0); \
        }                                                                               \
    }                                                                                   \
    *gap_out = gap;                                                                     \
    *n_iter_out = (it < max_iter ? it : max_iter - 1) + 1;                              \
}

DEFINE_ENET(float, f32, generic, , sqrtf, fabsf, fnn_rdot_f32)
DEFINE_ENET(double, f64, generic, , sqrt, fabs, fnn_rdot_f64)
#if FNN_X86
/* fnn_rdot's sums for the AVX2 and AVX-512 solvers, out of line: the 16 partial sums on
 * ymm or zmm registers (each lane's products fused into it alike), then one tail loop for
 * both, compiled once: GCC vectorises a tail of 2-3 (AVX2) or more (AVX-512) elements as
 * separate products and sums, which rounds differently from the scalar fused form, so an
 * inlined fnn_rdot gave the two builds different bits (wide Lasso, 500 x 3000, float64,
 * one thread: the AVX-512 sums 0.86x -> 1.1x scikit-learn's time, the dots ~35 against
 * ~48 ns a column from L3). */
#define DEFINE_WIDE_DOTS(T, SFX)                                                         \
FNN_TARGET_AVX2 __attribute__((noinline)) static T dot_tail_##SFX(const T *x, const T *y, \
                                                                  int64_t n, T r) {     \
    for (int64_t j = 0; j < n; j++) r += x[j] * y[j];                                   \
    return r;                                                                           \
}                                                                                       \
FNN_TARGET_AVX2 __attribute__((noinline)) static T ydot_##SFX(const T *x, const T *y, int64_t n) { \
    int64_t j;                                                                          \
    T r = fnn_rdot_blocks_##SFX(x, y, n, &j);                                           \
    return dot_tail_##SFX(x + j, y + j, n - j, r);                                      \
}                                                                                       \
FNN_TARGET_AVX512 __attribute__((noinline)) static T zdot_##SFX(const T *x, const T *y, int64_t n) { \
    int64_t j;                                                                          \
    T r = fnn_rdot_blocks_##SFX(x, y, n, &j);                                           \
    return dot_tail_##SFX(x + j, y + j, n - j, r);                                      \
}
DEFINE_WIDE_DOTS(float, f32)
DEFINE_WIDE_DOTS(double, f64)
DEFINE_ENET(float, f32, avx2, FNN_TARGET_AVX2, sqrtf, fabsf, ydot_f32)
DEFINE_ENET(double, f64, avx2, FNN_TARGET_AVX2, sqrt, fabs, ydot_f64)
/* the AVX2 solver with the 512-bit dots (the same bits, tested) */
DEFINE_ENET(float, f32, avx512, FNN_TARGET_AVX2, sqrtf, fabsf, zdot_f32)
DEFINE_ENET(double, f64, avx512, FNN_TARGET_AVX2, sqrt, fabs, zdot_f64)
#endif

#if FNN_X86
#define ENET_DISPATCH(SFX, ...)                                                         \
    if (fnn_isa_level >= FNN_ISA_AVX512) cd_##SFX##_avx512(__VA_ARGS__);                \
    else if (fnn_isa_level >= FNN_ISA_AVX2) cd_##SFX##_avx2(__VA_ARGS__);               \
    else cd_##SFX##_generic(__VA_ARGS__);
#else
#define ENET_DISPATCH(SFX, ...) cd_##SFX##_generic(__VA_ARGS__);
#endif

#define DEFINE_ENET_API(T, SFX)                                                         \
int fnn_enet_cd_##SFX(T *w, double *gap_out, double *tol_out, int64_t *n_iter_out,      \
                      int *converged, const T *xt, const T *y, int64_t n_samples,       \
                      int64_t n_features, double alpha, double beta, int64_t max_iter,  \
                      double tol, uint32_t seed, int random, int positive, int screening, \
                      int64_t gram_after, const T *gram, const T *xty, int gram_predict) { \
    int64_t n = n_samples, p = n_features;                                              \
    T *buf = (T *)calloc((size_t)n + 2 * (size_t)p + 1, sizeof(T));                     \
    uint32_t *active = (uint32_t *)malloc(((size_t)p + 1) * sizeof(uint32_t));          \
    uint8_t *excluded = (uint8_t *)malloc((size_t)p + 1);                               \
    if (!buf || !active || !excluded) {                                                 \
        free(buf); free(active); free(excluded);                                        \
        return FNN_ENOMEM;                                                              \
    }                                                                                   \
    T gap = 0, tol_s = 0;                                                               \
    ENET_DISPATCH(SFX, w, &gap, &tol_s, n_iter_out, converged, xt, y, n, p, (T)alpha,   \
                  (T)beta, max_iter, (T)tol, seed, random, positive, screening,         \
                  gram_after, gram, xty, gram_predict, buf, buf + n, buf + n + p, active, \
                  excluded)                                                             \
    *gap_out = gap;                                                                     \
    *tol_out = tol_s;                                                                   \
    free(buf); free(active); free(excluded);                                            \
    return *n_iter_out < 0 ? FNN_ENOMEM : FNN_OK;                                       \
}

DEFINE_ENET_API(float, f32)
DEFINE_ENET_API(double, f64)

/* ---- fnn_enet_cd_sparse_*: the same solver on a sparse CSC X, centred implicitly ----
 *
 * scikit-learn's sparse_enet_coordinate_descent step for step: minimises
 * 1/2 sum_i s_i (y_i - (Z w)_i)^2 + alpha ||w||_1 + beta/2 ||w||^2 with Z = X - 1 m^T
 * (m = x_mean, the weighted column means; s = sample_weight, ones when NULL), never
 * forming Z. Its residual R = s * (y - Z w) is kept as R = rx + c s: the centring's
 * share of an update (-a s_i m_j on every row) goes into the scalar c, so an update
 * touches column j's non-zeros only (scikit-learn's touches all n rows when m != 0),
 * X_j . R = X_j . rx + c (X_j . s) with X_j . s computed once, and R is formed only
 * for the duality gap. Sparse dots run in stored order (as scikit-learn's). The spec is
 * fastnn/backends/_enet_sparse_reference.py (fastnn/backends/_enet_sparse_numba.py is
 * this file's twin). Compiled once, without ISA variants: the column loops are
 * gathers and scatters that gain nothing from AVX2, and the dense dots are few. */

#define DEFINE_ENET_SPARSE(T, SFX, SQRT, FABS)                                          \
typedef struct {                                                                        \
    const T *data, *y, *sw, *x_mean; /* sw: NULL when unweighted */                     \
    const int64_t *indices, *indptr;                                                    \
    int64_t n, p;                                                                       \
    int center;                                                                         \
} csc_##SFX;                                                                            \
/* X_j . v over column j's non-zeros */                                                 \
static T col_dot_##SFX(const csc_##SFX *X, int64_t j, const T *v) {                     \
    T acc = 0;                                                                          \
    for (int64_t k = X->indptr[j]; k < X->indptr[j + 1]; k++)                           \
        acc += X->data[k] * v[X->indices[k]];                                           \
    return acc;                                                                         \
}                                                                                       \
static T col_sum_##SFX(const csc_##SFX *X, int64_t j) {                                 \
    T acc = 0;                                                                          \
    for (int64_t k = X->indptr[j]; k < X->indptr[j + 1]; k++) acc += X->data[k];        \
    return acc;                                                                         \
}                                                                                       \
/* R += a s Z_j in the lazy form: rx on column j's rows, the centring into c */         \
static T add_##SFX(const csc_##SFX *X, T *rx, T c, T a, int64_t j) {                    \
    const T *sw = X->sw;                                                                \
    for (int64_t k = X->indptr[j]; k < X->indptr[j + 1]; k++) {                         \
        int64_t i = X->indices[k];                                                      \
        rx[i] += (sw ? sw[i] * X->data[k] : X->data[k]) * a;                            \
    }                                                                                   \
    return X->center ? c - X->x_mean[j] * a : c;                                        \
}                                                                                       \
/* R = rx + c s, the residual scikit-learn keeps */                                     \
static void materialise_##SFX(const csc_##SFX *X, T *r, const T *rx, T c) {             \
    if (X->sw) for (int64_t i = 0; i < X->n; i++) r[i] = rx[i] + X->sw[i] * c;          \
    else for (int64_t i = 0; i < X->n; i++) r[i] = rx[i] + c;                           \
}                                                                                       \
/* sum_i s_i (X_ij - m_j)^2: column j's non-zeros, then m_j^2 times its zeros' weight */ \
static T col_norm2_##SFX(const csc_##SFX *X, int64_t j, T s_sum) {                      \
    T m = X->x_mean[j], acc = 0;                                                        \
    int64_t lo = X->indptr[j], hi = X->indptr[j + 1];                                   \
    if (!X->sw) {                                                                       \
        for (int64_t k = lo; k < hi; k++) { T d = X->data[k] - m; acc += d * d; }       \
        return X->center ? acc + (T)(X->n - (hi - lo)) * (m * m) : acc;                 \
    }                                                                                   \
    for (int64_t k = lo; k < hi; k++) {                                                 \
        T s = X->sw[X->indices[k]], d = X->data[k] - m;                                 \
        acc += s * (d * d) - s * (m * m);                                               \
    }                                                                                   \
    return X->center ? acc + (m * m) * s_sum : acc;                                     \
}                                                                                       \
/* The duality gap at (w, R) (scikit-learn's gap_enet_sparse); xta receives             \
 * Z^T R - beta w, *dual_norm its (positive) max norm. */                               \
static T sgap_##SFX(const csc_##SFX *X, const T *w, T alpha, T beta, const T *r,        \
                    T r_sum, T *xta, int positive, T *dual_norm) {                      \
    int64_t n = X->n, p = X->p;                                                         \
    T w_l2 = beta > 0 ? fnn_rdot_##SFX(w, w, p) : (T)0;                                 \
    T r_norm2 = 0;                                                                      \
    if (X->sw) { /* R = s * residual: the weighted squared residual is sum R_i^2 / s_i */ \
        for (int64_t i = 0; i < n; i++)                                                 \
            if (X->sw[i] != 0) r_norm2 += (r[i] * r[i]) / X->sw[i];                     \
    } else r_norm2 = fnn_rdot_##SFX(r, r, n);                                           \
    T ry = (alpha == 0 && beta == 0) ? (T)0 : fnn_rdot_##SFX(r, X->y, n);              \
    for (int64_t j = 0; j < p; j++) {                                                   \
        xta[j] = col_dot_##SFX(X, j, r);                                                \
        if (X->center) xta[j] -= X->x_mean[j] * r_sum;                                  \
    }                                                                                   \
    return gap_tail_##SFX##_generic(xta, w, p, alpha, beta, r_norm2, ry, w_l2, positive, \
                                    dual_norm);                                         \
}                                                                                       \
/* Gap-safe screening, as screen_* above with the lazy residual; returns n_active */   \
static int64_t sscreen_##SFX(const csc_##SFX *X, T *w, T *rx, T *c, const T *norm2,      \
                             const T *xta, T alpha, T beta, T dual_norm, T gap,         \
                             uint32_t *active, uint8_t *excluded, int first) {          \
    int64_t n_active = 0;                                                               \
    T bound = SQRT((T)2 * gap) / alpha, denom = dual_norm > alpha ? dual_norm : alpha;  \
    for (int64_t j = 0; j < X->p; j++) {                                                \
        if (first && norm2[j] == 0) { w[j] = 0; excluded[j] = 1; continue; }            \
        if (!first && excluded[j]) continue;                                            \
        T d_j = ((T)1 - FABS(xta[j] / denom)) / SQRT(norm2[j] + beta);                  \
        if (d_j <= bound) { active[n_active++] = (uint32_t)j; excluded[j] = 0; }        \
        else {                                                                          \
            if (w[j] != 0) { *c = add_##SFX(X, rx, *c, w[j], j); w[j] = 0; }            \
            excluded[j] = 1;                                                            \
        }                                                                               \
    }                                                                                   \
    return n_active;                                                                    \
}                                                                                       \
/* work: rx [n], r [n], xta [p], norm2 [p], sx [p] */                                   \
static void scd_##SFX(const csc_##SFX *X, T *w, T *gap_out, T *tol_out,                 \
                      int64_t *n_iter_out, int *converged, T alpha, T beta,             \
                      int64_t max_iter, T tol, uint32_t seed, int random, int positive, \
                      int screening, T *work, uint32_t *active, uint8_t *excluded) {    \
    int64_t n = X->n, p = X->p;                                                         \
    const T *sw = X->sw, *y = X->y, *x_mean = X->x_mean;                                \
    T *rx = work, *r = work + n, *xta = work + 2 * n, *norm2 = xta + p, *sx = norm2 + p; \
    T s_sum = 0;                                                                        \
    if (sw) for (int64_t i = 0; i < n; i++) s_sum += sw[i];                             \
    for (int64_t j = 0; j < p; j++) {                                                   \
        norm2[j] = col_norm2_##SFX(X, j, s_sum);                                        \
        /* X_j . s: the lazy c's share of X_j . R */                                    \
        sx[j] = !X->center ? (T)0 : (sw ? col_dot_##SFX(X, j, sw) : col_sum_##SFX(X, j)); \
    }                                                                                   \
    T d_w_tol = tol;                                                                    \
    if (alpha == 0) screening = 0;                                                      \
    /* R = s * (y - Z w) = rx + c s */                                                  \
    for (int64_t i = 0; i < n; i++) rx[i] = sw ? sw[i] * y[i] : y[i];                   \
    T c = 0;                                                                            \
    for (int64_t j = 0; j < p; j++)                                                     \
        if (w[j] != 0) c = add_##SFX(X, rx, c, -w[j], j);                               \
    materialise_##SFX(X, r, rx, c);                                                     \
    /* sum(R) = s . y whatever w is (m is the weighted mean): computed once */          \
    T r_sum = 0;                                                                        \
    if (X->center) for (int64_t i = 0; i < n; i++) r_sum += r[i];                       \
    T yy = 0; /* y . (s y), in order */                                                 \
    for (int64_t i = 0; i < n; i++) yy += y[i] * (sw ? sw[i] * y[i] : y[i]);            \
    tol *= yy;                                                                          \
    *tol_out = tol;                                                                     \
    *converged = 1;                                                                     \
    T dual_norm;                                                                        \
    T gap = sgap_##SFX(X, w, alpha, beta, r, r_sum, xta, positive, &dual_norm);         \
    if (gap <= tol) { *gap_out = gap; *n_iter_out = 0; return; }                        \
    int64_t n_active = p;                                                               \
    if (screening)                                                                      \
        n_active = sscreen_##SFX(X, w, rx, &c, norm2, xta, alpha, beta, dual_norm, gap, \
                                 active, excluded, 1);                                  \
    int64_t it = 0;                                                                     \
    *converged = 0;                                                                     \
    for (it = 0; it < max_iter; it++) {                                                 \
        T w_max = 0, d_w_max = 0;                                                       \
        for (int64_t f = 0; f < n_active; f++) {                                        \
            int64_t j = random ? (int64_t)(fnn_sk_rand_r(&seed) % (uint32_t)n_active) : f;  \
            if (screening) j = active[j];                                               \
            if (norm2[j] == 0) continue;                                                \
            T w_j = w[j];                                                               \
            /* Z_j . (R + w_j s Z_j), in scikit-learn's order */                        \
            T tmp = col_dot_##SFX(X, j, rx);                                            \
            if (X->center) tmp += c * sx[j];                                            \
            tmp += w_j * norm2[j];                                                      \
            if (X->center) tmp -= r_sum * x_mean[j];                                    \
            w[j] = soft_##SFX##_generic(tmp, alpha, norm2[j] + beta, positive);         \
            if (w[j] != w_j) c = add_##SFX(X, rx, c, w_j - w[j], j);                    \
            T d = FABS(w[j] - w_j);                                                     \
            if (d > d_w_max) d_w_max = d;                                               \
            if (FABS(w[j]) > w_max) w_max = FABS(w[j]);                                 \
        }                                                                               \
        if (w_max == 0 || d_w_max / w_max <= d_w_tol || it == max_iter - 1) {           \
            materialise_##SFX(X, r, rx, c);                                             \
            gap = sgap_##SFX(X, w, alpha, beta, r, r_sum, xta, positive, &dual_norm);   \
            if (gap <= tol) { *converged = 1; break; }                                  \
            if (screening)                                                              \
                n_active = sscreen_##SFX(X, w, rx, &c, norm2, xta, alpha, beta,         \
                                         dual_norm, gap, active, excluded, 0);          \
        }                                                                               \
    }                                                                                   \
    *gap_out = gap;                                                                     \
    *n_iter_out = (it < max_iter ? it : max_iter - 1) + 1;                              \
}                                                                                       \
int fnn_enet_cd_sparse_##SFX(T *w, double *gap_out, double *tol_out, int64_t *n_iter_out, \
                             int *converged, const T *data, const int64_t *indices,     \
                             const int64_t *indptr, const T *y, const T *sample_weight, \
                             const T *x_mean, int64_t n_samples, int64_t n_features,    \
                             double alpha, double beta, int64_t max_iter, double tol,   \
                             uint32_t seed, int random, int positive, int screening) {  \
    int64_t n = n_samples, p = n_features;                                              \
    csc_##SFX X = {data, y, sample_weight, x_mean, indices, indptr, n, p, 0};           \
    for (int64_t j = 0; j < p; j++)   /* scikit-learn's: centre only when some m_j != 0 */ \
        if (x_mean[j] != 0) { X.center = 1; break; }                                    \
    T *work = (T *)calloc(2 * (size_t)n + 3 * (size_t)p + 1, sizeof(T));                \
    uint32_t *active = (uint32_t *)malloc(((size_t)p + 1) * sizeof(uint32_t));          \
    uint8_t *excluded = (uint8_t *)malloc((size_t)p + 1);                               \
    if (!work || !active || !excluded) {                                                \
        free(work); free(active); free(excluded);                                       \
        return FNN_ENOMEM;                                                              \
    }                                                                                   \
    T gap = 0, tol_s = 0;                                                               \
    scd_##SFX(&X, w, &gap, &tol_s, n_iter_out, converged, (T)alpha, (T)beta, max_iter,  \
              (T)tol, seed, random, positive, screening, work, active, excluded);      \
    *gap_out = gap;                                                                     \
    *tol_out = tol_s;                                                                   \
    free(work); free(active); free(excluded);                                           \
    return FNN_OK;                                                                      \
}

DEFINE_ENET_SPARSE(float, f32, sqrtf, fabsf)
DEFINE_ENET_SPARSE(double, f64, sqrt, fabs)
