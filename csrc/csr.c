/* csr.c -- an MLP's first layer on a sparse X in CSR form (train.c's epoch and
 * loss_grad when X is sparse): the forward x @ W as a sum of rows of W, one per
 * non-zero, and the weight gradient x^T dz as one scatter-add of a row of dz per
 * non-zero. The products cost O(nnz * out) instead of O(rows * in * out): a TF-IDF
 * row of 5000 columns holds ~100 non-zeros.
 *
 * The sums run in the order scipy.sparse's CSR and CSC products run them (non-zeros
 * of a row in order, rows in batch order, the bias added last), so the numbers are
 * scikit-learn's sparse path's up to the FMA contractions. GCC's vector extensions,
 * compiled once per ISA (SSE2, AVX2, AVX-512 register widths) and chosen at run time.
 * Single-threaded (the epoch calls them on one thread; see train.c). Nothing here checks the CSR arrays:
 * fastnn.kernels did (indices in [0, in), indptr non-decreasing, nnz in range). */
#include <string.h>
#include "internal.h"

/* Columns run in blocks of NV vectors of VBYTES bytes (the ISA's register width), the
 * block's accumulators in registers across a row's non-zeros (forward) or a row of dz
 * held in them across its non-zeros (weight gradient): a plain loop over the columns
 * per non-zero kept its sums in memory, each non-zero waiting on the last one's store,
 * 32 ns a non-zero (forward + backward, 64 float64 units) against ~4 now. Widths NV =
 * 8, 4, 2, 1 vectors in turn, then a scalar tail of fewer than one vector's columns. */
#define CSR_NV 8

#define DEFINE_CSR(T, SFX, ISA, ATTR, VBYTES)                                             \
typedef T v_##SFX##_##ISA __attribute__((vector_size(VBYTES), aligned(sizeof(T))));       \
enum { LANES_##SFX##_##ISA = VBYTES / (int)sizeof(T) };                                   \
/* z[c0 .. c0 + nv * lanes) of one row: the sum over its non-zeros [q0, q1), plus b */    \
static inline ATTR void fwd_block_##SFX##_##ISA(T *z, const T *data, const int32_t *ind,  \
                                                int64_t q0, int64_t q1, const T *w,       \
                                                const T *b, int64_t out, int64_t c0,      \
                                                const int nv) {                           \
    typedef v_##SFX##_##ISA V;                                                            \
    const int lanes = LANES_##SFX##_##ISA;                                                \
    V acc[CSR_NV];                                                                        \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) acc[i] = (V){0};                 \
    for (int64_t q = q0; q < q1; q++) {                                                   \
        const T v = data[q]; /* (a scalar times a vector: broadcast) */                   \
        const T *wr = w + (int64_t)ind[q] * out + c0;                                     \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                              \
            acc[i] += v * *(const V *)(wr + i * lanes);                                   \
    }                                                                                     \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                                  \
        *(V *)(z + c0 + i * lanes) = acc[i] + *(const V *)(b + c0 + i * lanes);           \
}                                                                                         \
/* dw[j, c0 .. c0 + nv * lanes) += x_rj dz[r, same] for the row's non-zeros [q0, q1) */  \
static inline ATTR void grad_block_##SFX##_##ISA(T *dw, const T *data, const int32_t *ind, \
                                                 int64_t q0, int64_t q1, const T *dzr,    \
                                                 int64_t out, int64_t c0, const int nv) { \
    typedef v_##SFX##_##ISA V;                                                            \
    const int lanes = LANES_##SFX##_##ISA;                                                \
    V d[CSR_NV];                                                                          \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) d[i] = *(const V *)(dzr + c0 + i * lanes); \
    for (int64_t q = q0; q < q1; q++) {                                                   \
        const T v = data[q];                                                              \
        T *dwr = dw + (int64_t)ind[q] * out + c0;                                         \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                              \
            *(V *)(dwr + i * lanes) += v * d[i];                                          \
    }                                                                                     \
}                                                                                         \
static ATTR void csr_forward_##SFX##_##ISA(T *z, const T *data, const int32_t *ind,       \
                                           const int64_t *ptr, const int64_t *idx,        \
                                           int64_t r0, int64_t rows, const T *w,          \
                                           const T *b, int64_t out) {                     \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        int64_t src = idx ? idx[r] : r0 + r, q0 = ptr[src], q1 = ptr[src + 1];            \
        T *zr = z + r * out;                                                              \
        int64_t c = 0;                                                                    \
        for (; c + CSR_NV * lanes <= out; c += CSR_NV * lanes)                            \
            fwd_block_##SFX##_##ISA(zr, data, ind, q0, q1, w, b, out, c, CSR_NV);         \
        if (c + 4 * lanes <= out) { fwd_block_##SFX##_##ISA(zr, data, ind, q0, q1, w, b, out, c, 4); c += 4 * lanes; } \
        if (c + 2 * lanes <= out) { fwd_block_##SFX##_##ISA(zr, data, ind, q0, q1, w, b, out, c, 2); c += 2 * lanes; } \
        if (c + lanes <= out) { fwd_block_##SFX##_##ISA(zr, data, ind, q0, q1, w, b, out, c, 1); c += lanes; } \
        for (; c < out; c++) {                                                            \
            T acc = 0;                                                                    \
            for (int64_t q = q0; q < q1; q++) acc += data[q] * w[(int64_t)ind[q] * out + c]; \
            zr[c] = acc + b[c];                                                           \
        }                                                                                 \
    }                                                                                     \
}                                                                                         \
static ATTR void csr_weight_grad_##SFX##_##ISA(T *dw, const T *data, const int32_t *ind,  \
                                               const int64_t *ptr, const int64_t *idx,    \
                                               int64_t r0, int64_t rows, const T *dz,     \
                                               int64_t in, int64_t out) {                 \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    memset(dw, 0, (size_t)(in * out) * sizeof(T));                                        \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        int64_t src = idx ? idx[r] : r0 + r, q0 = ptr[src], q1 = ptr[src + 1];            \
        const T *dzr = dz + r * out;                                                      \
        int64_t c = 0;                                                                    \
        for (; c + CSR_NV * lanes <= out; c += CSR_NV * lanes)                            \
            grad_block_##SFX##_##ISA(dw, data, ind, q0, q1, dzr, out, c, CSR_NV);         \
        if (c + 4 * lanes <= out) { grad_block_##SFX##_##ISA(dw, data, ind, q0, q1, dzr, out, c, 4); c += 4 * lanes; } \
        if (c + 2 * lanes <= out) { grad_block_##SFX##_##ISA(dw, data, ind, q0, q1, dzr, out, c, 2); c += 2 * lanes; } \
        if (c + lanes <= out) { grad_block_##SFX##_##ISA(dw, data, ind, q0, q1, dzr, out, c, 1); c += lanes; } \
        for (; c < out; c++)                                                              \
            for (int64_t q = q0; q < q1; q++) dw[(int64_t)ind[q] * out + c] += data[q] * dzr[c]; \
    }                                                                                     \
}

DEFINE_CSR(float, f32, generic, , 16)
DEFINE_CSR(double, f64, generic, , 16)
DEFINE_CSR(float, f32, avx2, FNN_TARGET_AVX2, 32)
DEFINE_CSR(double, f64, avx2, FNN_TARGET_AVX2, 32)
DEFINE_CSR(float, f32, avx512, FNN_TARGET_AVX512, 64)
DEFINE_CSR(double, f64, avx512, FNN_TARGET_AVX512, 64)

#define DEFINE_CSR_DISPATCH(T, SFX)                                                       \
void fnn_csr_forward_##SFX(T *z, const T *data, const int32_t *ind, const int64_t *ptr,   \
                           const int64_t *idx, int64_t r0, int64_t rows, const T *w,      \
                           const T *b, int64_t out) {                                     \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csr_forward_##SFX##_avx512(z, data, ind, ptr, idx, r0, rows, w, b, out);          \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csr_forward_##SFX##_avx2(z, data, ind, ptr, idx, r0, rows, w, b, out);            \
    else csr_forward_##SFX##_generic(z, data, ind, ptr, idx, r0, rows, w, b, out);        \
}                                                                                         \
void fnn_csr_weight_grad_##SFX(T *dw, const T *data, const int32_t *ind, const int64_t *ptr, \
                               const int64_t *idx, int64_t r0, int64_t rows, const T *dz, \
                               int64_t in, int64_t out) {                                 \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csr_weight_grad_##SFX##_avx512(dw, data, ind, ptr, idx, r0, rows, dz, in, out);   \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csr_weight_grad_##SFX##_avx2(dw, data, ind, ptr, idx, r0, rows, dz, in, out);     \
    else csr_weight_grad_##SFX##_generic(dw, data, ind, ptr, idx, r0, rows, dz, in, out); \
}

DEFINE_CSR_DISPATCH(float, f32)
DEFINE_CSR_DISPATCH(double, f64)
