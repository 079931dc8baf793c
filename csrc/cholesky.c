/* cholesky.c -- A = L L^T in place (fnn_cholesky_*): the factorisation of a symmetric
 * positive definite system (newton-cholesky's Newton step), on the gemm engine.
 *
 * Recursive (Gustavson's formulation): with A split at n1,
 *     L11 = chol(A11),  L21 = A21 L11^-T,  A22 -= L21 L21^T,  L22 = chol(A22),
 * the triangular solve split the same way (X L^T = B: X1 from L11, B2 -= X1 L21^T, X2
 * from L22) and the symmetric update too (its lower half only: the off-diagonal block
 * by one product, the two diagonal halves recursively), down to blocks of CHOL_BASE.
 * So nearly every flop is in fnn_gemm_ex's products (the AVX-512 / AVX2 microkernels,
 * threaded by size), where LAPACK's potrf from the OpenBLAS NumPy ships ran at about a
 * third of them (2001 x 2001 float64, one thread: 74 ms). At the bottom the solve works
 * on a transposed copy of its panel, so that its updates run along rows (vectorised)
 * rather than as dependent dot products.
 * Row-major, the lower triangle read and written; the strict upper triangle is used as
 * scratch by the products, and zeroed on return. Rounding differs
 * from LAPACK's (another order of the same sums) and between ISA paths (FMA contractions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"

/* blocks this small are factored / solved directly */
#define CHOL_BASE 32
/* the symmetric update's diagonal blocks at most this big are one full product (the
 * upper half's flops wasted, fewer and larger calls) */
#define SYRK_BASE 128

/* where to split n: half, rounded to a multiple of CHOL_BASE (so the base blocks align) */
static inline int64_t chol_split(int64_t n) {
    int64_t h = (n / 2 + CHOL_BASE - 1) / CHOL_BASE * CHOL_BASE;
    return h < n ? h : n / 2;
}

/* t[j, 0:r] -= s * t[p, 0:r] over rows of the transposed panel: the bottom solve's
 * update, one build per ISA */
#define DEFINE_AXPY(T, SFX, ISA, ATTR)                                                     \
static ATTR void chol_axpy_##SFX##_##ISA(T *restrict y, const T *restrict x, T s, int64_t r) { \
    for (int64_t i = 0; i < r; i++) y[i] -= s * x[i];                                      \
}                                                                                          \
static ATTR void chol_scale_##SFX##_##ISA(T *y, T d, int64_t r) {                          \
    for (int64_t i = 0; i < r; i++) y[i] /= d;                                             \
}
DEFINE_AXPY(float, f32, generic, )
DEFINE_AXPY(double, f64, generic, )
DEFINE_AXPY(float, f32, avx2, FNN_TARGET_AVX2)
DEFINE_AXPY(double, f64, avx2, FNN_TARGET_AVX2)
DEFINE_AXPY(float, f32, avx512, FNN_TARGET_AVX512)
DEFINE_AXPY(double, f64, avx512, FNN_TARGET_AVX512)

#define DEFINE_CHOLESKY(T, SFX)                                                            \
static void chol_axpy_##SFX(T *y, const T *x, T s, int64_t r) {                            \
    if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX512) chol_axpy_##SFX##_avx512(y, x, s, r);  \
    else if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX2) chol_axpy_##SFX##_avx2(y, x, s, r); \
    else chol_axpy_##SFX##_generic(y, x, s, r);                                            \
}                                                                                          \
static void chol_scale_##SFX(T *y, T d, int64_t r) {                                       \
    if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX512) chol_scale_##SFX##_avx512(y, d, r);    \
    else if (FNN_X86 && fnn_isa_level >= FNN_ISA_AVX2) chol_scale_##SFX##_avx2(y, d, r);   \
    else chol_scale_##SFX##_generic(y, d, r);                                              \
}                                                                                          \
/* X L^T = B for X, in place on B [r, m] (row stride ldb); L [m, m] lower (stride ldl), m <= \
 * CHOL_BASE; tt: scratch of m * r. Column j of X is (b_j - sum_{p<j} L[j, p] x_p) / L[j, j]: \
 * on the transposed panel each column is a contiguous row */                             \
static void trsm_base_##SFX(T *b, int64_t ldb, int64_t r, const T *l, int64_t ldl, int64_t m, T *tt) { \
    for (int64_t i = 0; i < r; i++)                                                        \
        for (int64_t j = 0; j < m; j++) tt[j * r + i] = b[i * ldb + j];                    \
    for (int64_t j = 0; j < m; j++) {                                                      \
        for (int64_t p = 0; p < j; p++) chol_axpy_##SFX(tt + j * r, tt + p * r, l[j * ldl + p], r); \
        chol_scale_##SFX(tt + j * r, l[j * ldl + j], r);                                   \
    }                                                                                      \
    for (int64_t i = 0; i < r; i++)                                                        \
        for (int64_t j = 0; j < m; j++) b[i * ldb + j] = tt[j * r + i];                    \
}                                                                                          \
/* X L^T = B in place on B [r, m], L [m, m] lower */                                       \
static void trsm_##SFX(T *b, int64_t ldb, int64_t r, const T *l, int64_t ldl, int64_t m, T *tt) { \
    if (r == 0 || m == 0) return;                                                          \
    if (m <= CHOL_BASE) { trsm_base_##SFX(b, ldb, r, l, ldl, m, tt); return; }             \
    int64_t m1 = chol_split(m);                                                            \
    trsm_##SFX(b, ldb, r, l, ldl, m1, tt);                                                 \
    /* B2 -= X1 L21^T: L21^T(p, j) = l[(m1 + j) ldl + p] */                                \
    fnn_gemm_ex_##SFX(b + m1, ldb, b, ldb, 1, l + m1 * ldl, 1, ldl, r, m - m1, m1,         \
                      (T)-1, (T)1, NULL, fnn_thread_limit());                             \
    trsm_##SFX(b + m1, ldb, r, l + m1 * ldl + m1, ldl, m - m1, tt);                        \
}                                                                                          \
/* C -= A A^T on C's lower triangle (C [m, m], A [m, k], both row-major) */                \
static void syrk_##SFX(T *c, int64_t ldc, const T *a, int64_t lda, int64_t m, int64_t k) { \
    if (m == 0 || k == 0) return;                                                          \
    if (m <= SYRK_BASE) {                                                                  \
        fnn_gemm_ex_##SFX(c, ldc, a, lda, 1, a, 1, lda, m, m, k, (T)-1, (T)1, NULL, fnn_thread_limit()); \
        return;                                                                            \
    }                                                                                      \
    int64_t m1 = m / 2;                                                                    \
    syrk_##SFX(c, ldc, a, lda, m1, k);                                                     \
    fnn_gemm_ex_##SFX(c + m1 * ldc, ldc, a + m1 * lda, lda, 1, a, 1, lda, m - m1, m1, k,   \
                      (T)-1, (T)1, NULL, fnn_thread_limit());                             \
    syrk_##SFX(c + m1 * ldc + m1, ldc, a + m1 * lda, lda, m - m1, k);                      \
}                                                                                          \
/* the factor in place; 0, or the order (1-based) of the leading minor found not positive */ \
static int64_t chol_##SFX(T *a, int64_t lda, int64_t n, T *tt) {                           \
    if (n <= CHOL_BASE) {                                                                  \
        for (int64_t j = 0; j < n; j++) {                                                  \
            T *aj = a + j * lda;                                                           \
            T d = aj[j];                                                                   \
            for (int64_t p = 0; p < j; p++) d -= aj[p] * aj[p];                            \
            if (!(d > 0)) return j + 1; /* (NaN too) */                                    \
            d = (T)sqrt(d);                                                                \
            aj[j] = d;                                                                     \
            for (int64_t i = j + 1; i < n; i++) {                                          \
                T *ai = a + i * lda;                                                       \
                T s = ai[j];                                                               \
                for (int64_t p = 0; p < j; p++) s -= ai[p] * aj[p];                        \
                ai[j] = s / d;                                                             \
            }                                                                              \
        }                                                                                  \
        return 0;                                                                          \
    }                                                                                      \
    int64_t n1 = chol_split(n), info = chol_##SFX(a, lda, n1, tt);                         \
    if (info) return info;                                                                 \
    trsm_##SFX(a + n1 * lda, lda, n - n1, a, lda, n1, tt);                                 \
    syrk_##SFX(a + n1 * lda + n1, lda, a + n1 * lda, lda, n - n1, n1);                     \
    info = chol_##SFX(a + n1 * lda + n1, lda, n - n1, tt);                                 \
    return info ? info + n1 : 0;                                                           \
}                                                                                          \
int fnn_cholesky_##SFX(T *a, int64_t n, int64_t *info) {                                   \
    *info = 0;                                                                             \
    if (n == 0) return FNN_OK;                                                             \
    T *tt = (T *)malloc((size_t)CHOL_BASE * (size_t)n * sizeof(T));                        \
    if (!tt) return FNN_ENOMEM;                                                            \
    *info = chol_##SFX(a, n, n, tt);                                                       \
    free(tt);                                                                              \
    for (int64_t i = 0; i + 1 < n; i++) /* the scratch above the diagonal */              \
        memset(a + i * n + i + 1, 0, (size_t)(n - i - 1) * sizeof(T));                     \
    return FNN_OK;                                                                         \
}

DEFINE_CHOLESKY(float, f32)
DEFINE_CHOLESKY(double, f64)
