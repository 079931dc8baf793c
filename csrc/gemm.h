/* gemm.h -- internal interface of the matmul engine; not part of the ABI.
 *
 * BLIS split: gemm.c holds the framework (operand layouts, packing, MC/KC/NC cache
 * blocking, threads); the microkernels (gemm_ukernel_*.c) compute one MR x NR tile
 * of C in registers. Every operand is described by strides, so transposes are just
 * swapped strides:  A(r, p) = a[r*rsa + p*csa],  B(p, j) = b[p*rsb + j*csb].
 */
#ifndef FASTNN_GEMM_H
#define FASTNN_GEMM_H

#include "internal.h"

/* Epilogue fused into the microkernel's store, applied once, on the last k block:
 *   C = act(alpha * acc + beta * C + bias[col])
 * with act in {identity, relu, leaky_relu} (the ones cheap enough for registers). */
typedef struct { const float *bias; int act; float param; } fnn_epi_f32;
typedef struct { const double *bias; int act; double param; } fnn_epi_f64;

/* Microkernel: the MR x NR tile
 *   C(r, j) = epi(alpha * sum_p A(r, p) B(p, j) + beta * C(r, j)),  r < mr, j < nr,
 * with C(r, j) at c[r*rsc + j*csc]. A(r, p) at a[r*rsa + p*csa]; rows r >= mr are never
 * read. B(p, j) at b[p*rsb + j] (unit column stride); when bmask is 0 all NR columns
 * are readable (a zero-padded packed panel or an interior strip), when 1 only j < nr.
 * beta == 0: C is write-only. epi may be NULL. */
typedef void (*fnn_ukr_f32)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                            const float *b, int64_t rsb, int bmask,
                            float *c, int64_t rsc, int64_t csc, int mr, int nr,
                            float alpha, float beta, const fnn_epi_f32 *epi);
typedef void (*fnn_ukr_f64)(int64_t k, const double *a, int64_t rsa, int64_t csa,
                            const double *b, int64_t rsb, int bmask,
                            double *c, int64_t rsc, int64_t csc, int mr, int nr,
                            double alpha, double beta, const fnn_epi_f64 *epi);

/* AVX2+FMA microkernels (gemm_ukernel_avx2.c): 6x16 float32, 6x8 float64. */
#define FNN_AVX2_MR_F32 6
#define FNN_AVX2_NR_F32 16
#define FNN_AVX2_MR_F64 6
#define FNN_AVX2_NR_F64 8
void fnn_ukr_avx2_f32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                      const float *b, int64_t rsb, int bmask, float *c, int64_t rsc,
                      int64_t csc, int mr, int nr, float alpha, float beta,
                      const fnn_epi_f32 *epi);
void fnn_ukr_avx2_f64(int64_t k, const double *a, int64_t rsa, int64_t csa,
                      const double *b, int64_t rsb, int bmask, double *c, int64_t rsc,
                      int64_t csc, int mr, int nr, double alpha, double beta,
                      const fnn_epi_f64 *epi);

/* AVX-512F microkernels (gemm_ukernel_avx512.c): 12x32 float32, 12x16 float64. */
#define FNN_AVX512_MR 12
#define FNN_AVX512_NR_F32 32
#define FNN_AVX512_NR_F64 16
void fnn_ukr_avx512_f32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                        const float *b, int64_t rsb, int bmask, float *c, int64_t rsc,
                        int64_t csc, int mr, int nr, float alpha, float beta,
                        const fnn_epi_f32 *epi);
void fnn_ukr_avx512_f64(int64_t k, const double *a, int64_t rsa, int64_t csa,
                        const double *b, int64_t rsb, int bmask, double *c, int64_t rsc,
                        int64_t csc, int mr, int nr, double alpha, double beta,
                        const fnn_epi_f64 *epi);

/* Row dots for a matrix-vector product (gemm_dot_avx512.c): out[r] = sum_p a[r * rsa + p]
 * x[p] for r < m (out contiguous), each row's sum by the same lanes and reduction tree
 * whatever rows it is computed with. */
void fnn_gemv_rows_avx512_f32(const float *a, int64_t rsa, const float *x, int64_t k, int64_t m,
                              float *out);
void fnn_gemv_rows_avx512_f64(const double *a, int64_t rsa, const double *x, int64_t k, int64_t m,
                              double *out);

/* The matrix-vector product's other form (gemm_dot_avx512.c): acc[i] = sum over p in
 * [p0, p1), in order, of x[p * incx] a[p * lda + i], for i < m <= FNN_GEMV_AXPY_MAX(T)
 * (16 vectors: 256 float32, 128 float64), the sums held in registers. */
#define FNN_GEMV_AXPY_MAX(T) ((int64_t)(1024 / sizeof(T)))
void fnn_gemv_axpy_avx512_f32(float *acc, const float *a, int64_t lda, const float *x,
                              int64_t incx, int64_t m, int64_t p0, int64_t p1);
void fnn_gemv_axpy_avx512_f64(double *acc, const double *a, int64_t lda, const double *x,
                              int64_t incx, int64_t m, int64_t p0, int64_t p1);

/* AVX2+FMA dot kernels for a narrow C (n <= 12): C[m, n] (row stride rsc) =
 * epi(alpha * A Bt^T + beta * C) with A rows and Bt rows (the columns of op(B))
 * contiguous along k. */
#define FNN_DOT_MAX_N 12
void fnn_dot_avx2_f32(int64_t k, const float *a, int64_t rsa, int64_t m, const float *bt,
                      int64_t ldbt, int64_t n, float *c, int64_t rsc, float alpha, float beta,
                      const fnn_epi_f32 *epi);
void fnn_dot_avx2_f64(int64_t k, const double *a, int64_t rsa, int64_t m, const double *bt,
                      int64_t ldbt, int64_t n, double *c, int64_t rsc, double alpha,
                      double beta, const fnn_epi_f64 *epi);
/* Their AVX-512F twins (gemm_dot_avx512.c): the same contract on 16 / 8 lanes. */
void fnn_dot_avx512_f32(int64_t k, const float *a, int64_t rsa, int64_t m, const float *bt,
                        int64_t ldbt, int64_t n, float *c, int64_t rsc, float alpha, float beta,
                        const fnn_epi_f32 *epi);
void fnn_dot_avx512_f64(int64_t k, const double *a, int64_t rsa, int64_t m, const double *bt,
                        int64_t ldbt, int64_t n, double *c, int64_t rsc, double alpha,
                        double beta, const fnn_epi_f64 *epi);

/* Portable microkernels (gemm_ukernel_generic.c): 6x8 float32, 6x4 float64, two
 * 128-bit vectors per row (GCC/Clang vector extensions, scalar where unsupported). */
#define FNN_GEN_MR_F32 6
#define FNN_GEN_NR_F32 8
#define FNN_GEN_MR_F64 6
#define FNN_GEN_NR_F64 4
void fnn_ukr_generic_f32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                         const float *b, int64_t rsb, int bmask, float *c, int64_t rsc,
                         int64_t csc, int mr, int nr, float alpha, float beta,
                         const fnn_epi_f32 *epi);
void fnn_ukr_generic_f64(int64_t k, const double *a, int64_t rsa, int64_t csa,
                         const double *b, int64_t rsb, int bmask, double *c, int64_t rsc,
                         int64_t csc, int mr, int nr, double alpha, double beta,
                         const fnn_epi_f64 *epi);

/* The engine: C[m,n] (row stride ldc, unit column stride) =
 *   epi(alpha * A[m,k] B[k,n] + beta * C), operands given by strides (see above).
 * Uses at most max_threads threads (1 inside an enclosing parallel region). */
void fnn_gemm_ex_f32(float *c, int64_t ldc, const float *a, int64_t rsa, int64_t csa,
                     const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                     float alpha, float beta, const fnn_epi_f32 *epi, int max_threads);
void fnn_gemm_ex_f64(double *c, int64_t ldc, const double *a, int64_t rsa, int64_t csa,
                     const double *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                     double alpha, double beta, const fnn_epi_f64 *epi, int max_threads);

/* Flops each thread must get before a product is split (about 10 us of work: a
 * fork/join with warm OpenMP threads costs ~1-3 us). */
#define FNN_GEMM_PAR_MIN_FLOPS 1.0e6

#endif
