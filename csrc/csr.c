/* csr.c -- an MLP's first layer on a sparse X in CSR form (train.c's epoch and
 * loss_grad when X is sparse). The products cost O(nnz * out) instead of
 * O(rows * in * out): a TF-IDF row of 5000 columns holds ~100 non-zeros.
 *
 * Each batch's non-zeros are first sorted by column (a stable counting sort:
 * csr_transpose), then both products walk W's rows in order: the forward adds
 * x_rj W[j, :] into the rows of z for the entries of column j, the row of W in
 * registers; the weight gradient sums row j of dW over the same entries in registers and
 * writes it once (zeros for a column the batch does not hold: no zeroing pass). Per
 * non-zero, row-wise forms read or updated a whole row of W or dW at random instead,
 * and W and dW do not stay in L2 (5000 x 64 float64, 2.5 MB each): 16 ns a non-zero
 * forward and 22 backward (scatter-adds into a zeroed dW), against ~10 + 7 and ~7 for
 * the sort (one thread, 200-row batches of 100 non-zeros).
 *
 * The sums run in the order scipy.sparse's products run them for a CSR X with sorted
 * indices (a row's non-zeros by column, a column's rows in batch order, the bias added
 * last), so the numbers are scikit-learn's sparse path's up to the FMA contractions.
 * GCC's vector extensions, compiled once per ISA (SSE2, AVX2, AVX-512 register widths)
 * and chosen at run time. Single-threaded: splitting the products over 2 threads (the
 * forward by output columns, the gradient by rows of dW; the same bits) made a batch
 * slower, 673 -> 839 us (5000-64-2, float64, SGD), two more parallel regions a batch
 * costing more than the halves save. The epoch calls the gradient on a few rows of dW
 * at a time instead, each chunk updated at once (train.c, w0_update), on threads where
 * the update's arithmetic repays them.
 * A narrow layer (out <= FNN_CSR_ROWS_MAX_OUT: a linear model's k outputs, loss_grad without
 * a hidden layer) runs row-wise in loss_grad instead (csr_forward_rows, csr_weight_grad_rows):
 * W's and dW's rows are a few values there, and sorting the non-zeros cost more than the
 * products (TF-IDF rows of 100 non-zeros over 20000 columns, 15000 rows, one output, one
 * thread: 17.7 ms a pass by column, 2.1 by row, as scipy's two products; 16 outputs cost
 * the same both ways). Each z[r, c] sums the row's entries in their stored order, each
 * dW[j, c] the rows in order: scipy's orders.
 * Nothing here checks the CSR arrays: fastnn.kernels did (indices in [0, in), indptr
 * non-decreasing from 0 to nnz, fewer than 2**31 rows). */
#include <string.h>
#include "internal.h"

/* Output columns run in blocks of NV vectors of VBYTES bytes (the ISA's register
 * width), the block of W's row (forward) or of dW's sums (gradient) in registers across
 * a column's entries: plain loops over the columns per entry, which GCC vectorises but
 * keeps in memory, ran the row-wise forward at 32 ns a non-zero. Widths NV = 8, 4, 2, 1
 * vectors in turn, then a scalar tail of fewer than one vector's columns. */
#define CSR_NV 8
/* csr_transpose prefetches the entries of the row this many rows ahead */
#define CSR_AHEAD 4

#define DEFINE_CSR(T, SFX, ISA, ATTR, VBYTES)                                             \
typedef T v_##SFX##_##ISA __attribute__((vector_size(VBYTES), aligned(sizeof(T))));       \
enum { LANES_##SFX##_##ISA = VBYTES / (int)sizeof(T) };                                   \
/* dw[j, c0 .. c0 + nv * lanes) = sum over column j's entries [e0, e1) of the batch of   \
 * val_e dz[row_e, same], summed in registers and stored once (zeros for no entry), or   \
 * with `add` added to it */                                                              \
static inline ATTR void grad_block_##SFX##_##ISA(T *dwj, const int32_t *erow, const T *eval, \
                                                 int64_t e0, int64_t e1, const T *dz,     \
                                                 int64_t out, int64_t c0, int add,        \
                                                 const int nv) {                          \
    typedef v_##SFX##_##ISA V;                                                            \
    const int lanes = LANES_##SFX##_##ISA;                                                \
    V acc[CSR_NV];                                                                        \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) acc[i] = (V){0};                 \
    for (int64_t e = e0; e < e1; e++) {                                                   \
        const T v = eval[e];                                                              \
        const T *dzr = dz + (int64_t)erow[e] * out + c0;                                  \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                              \
            acc[i] += v * *(const V *)(dzr + i * lanes);                                  \
    }                                                                                     \
    if (add)                                                                              \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) *(V *)(dwj + c0 + i * lanes) += acc[i]; \
    else                                                                                  \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) *(V *)(dwj + c0 + i * lanes) = acc[i]; \
}                                                                                         \
/* z[erow_e, c0 .. c0 + nv * lanes) += val_e w[j, same] for column j's entries [e0, e1),  \
 * the row of w in registers */                                                          \
static inline ATTR void fwd_col_block_##SFX##_##ISA(T *z, const int32_t *erow, const T *eval, \
                                                    int64_t e0, int64_t e1, const T *wj,  \
                                                    int64_t out, int64_t c0, const int nv) { \
    typedef v_##SFX##_##ISA V;                                                            \
    const int lanes = LANES_##SFX##_##ISA;                                                \
    V wv[CSR_NV];                                                                         \
    _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++) wv[i] = *(const V *)(wj + c0 + i * lanes); \
    for (int64_t e = e0; e < e1; e++) {                                                   \
        const T v = eval[e];                                                              \
        T *zr = z + (int64_t)erow[e] * out + c0;                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < nv; i++)                              \
            *(V *)(zr + i * lanes) += v * wv[i];                                          \
    }                                                                                     \
}                                                                                         \
static ATTR void csc_forward_##SFX##_##ISA(T *z, const int64_t *colptr, const int32_t *erow, \
                                           const T *eval, const T *w, const T *b,         \
                                           int64_t rows, int64_t in, int64_t out) {       \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    memset(z, 0, (size_t)(rows * out) * sizeof(T));                                       \
    for (int64_t j = 0; j < in; j++) {                                                    \
        int64_t e0 = colptr[j], e1 = colptr[j + 1];                                       \
        if (e0 == e1) continue;                                                           \
        const T *wj = w + j * out;                                                        \
        int64_t c = 0;                                                                    \
        for (; c + CSR_NV * lanes <= out; c += CSR_NV * lanes)                            \
            fwd_col_block_##SFX##_##ISA(z, erow, eval, e0, e1, wj, out, c, CSR_NV);       \
        if (c + 4 * lanes <= out) { fwd_col_block_##SFX##_##ISA(z, erow, eval, e0, e1, wj, out, c, 4); c += 4 * lanes; } \
        if (c + 2 * lanes <= out) { fwd_col_block_##SFX##_##ISA(z, erow, eval, e0, e1, wj, out, c, 2); c += 2 * lanes; } \
        if (c + lanes <= out) { fwd_col_block_##SFX##_##ISA(z, erow, eval, e0, e1, wj, out, c, 1); c += lanes; } \
        for (; c < out; c++)                                                              \
            for (int64_t e = e0; e < e1; e++) z[(int64_t)erow[e] * out + c] += eval[e] * wj[c]; \
    }                                                                                     \
    for (int64_t r = 0; r < rows; r++)                                                    \
        for (int64_t c = 0; c < out; c++) z[r * out + c] += b[c];                         \
}                                                                                         \
static ATTR void csc_weight_grad_##SFX##_##ISA(T *dw, const int64_t *colptr,            \
                                               const int32_t *erow, const T *eval,        \
                                               const T *dz, int64_t in, int64_t out,      \
                                               int add) {                                 \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    for (int64_t j = 0; j < in; j++) {                                                    \
        int64_t e0 = colptr[j], e1 = colptr[j + 1];                                       \
        if (add && e0 == e1) continue;                                                    \
        T *dwj = dw + j * out;                                                            \
        int64_t c = 0;                                                                    \
        for (; c + CSR_NV * lanes <= out; c += CSR_NV * lanes)                            \
            grad_block_##SFX##_##ISA(dwj, erow, eval, e0, e1, dz, out, c, add, CSR_NV);   \
        if (c + 4 * lanes <= out) { grad_block_##SFX##_##ISA(dwj, erow, eval, e0, e1, dz, out, c, add, 4); c += 4 * lanes; } \
        if (c + 2 * lanes <= out) { grad_block_##SFX##_##ISA(dwj, erow, eval, e0, e1, dz, out, c, add, 2); c += 2 * lanes; } \
        if (c + lanes <= out) { grad_block_##SFX##_##ISA(dwj, erow, eval, e0, e1, dz, out, c, add, 1); c += lanes; } \
        for (; c < out; c++) {                                                            \
            T acc = 0;                                                                    \
            for (int64_t e = e0; e < e1; e++) acc += eval[e] * dz[(int64_t)erow[e] * out + c]; \
            dwj[c] = add ? dwj[c] + acc : acc;                                            \
        }                                                                                 \
    }                                                                                     \
}

DEFINE_CSR(float, f32, generic, , 16)
DEFINE_CSR(double, f64, generic, , 16)
DEFINE_CSR(float, f32, avx2, FNN_TARGET_AVX2, 32)
DEFINE_CSR(double, f64, avx2, FNN_TARGET_AVX2, 32)
DEFINE_CSR(float, f32, avx512, FNN_TARGET_AVX512, 64)
DEFINE_CSR(double, f64, avx512, FNN_TARGET_AVX512, 64)

#define DEFINE_CSR_DISPATCH(T, SFX)                                                       \
void fnn_csc_forward_##SFX(T *z, const int64_t *colptr, const int32_t *erow, const T *eval, \
                           const T *w, const T *b, int64_t rows, int64_t in, int64_t out) { \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csc_forward_##SFX##_avx512(z, colptr, erow, eval, w, b, rows, in, out);           \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csc_forward_##SFX##_avx2(z, colptr, erow, eval, w, b, rows, in, out);             \
    else csc_forward_##SFX##_generic(z, colptr, erow, eval, w, b, rows, in, out);         \
}                                                                                         \
void fnn_csc_weight_grad_##SFX(T *dw, const int64_t *colptr, const int32_t *erow,       \
                               const T *eval, const T *dz, int64_t in, int64_t out, int add) { \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csc_weight_grad_##SFX##_avx512(dw, colptr, erow, eval, dz, in, out, add);         \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csc_weight_grad_##SFX##_avx2(dw, colptr, erow, eval, dz, in, out, add);           \
    else csc_weight_grad_##SFX##_generic(dw, colptr, erow, eval, dz, in, out, add);       \
}                                                                                         \
/* counting sort of the rows' non-zeros by column, stable (batch order within a column) */ \
void fnn_csr_transpose_##SFX(int64_t *colptr, int32_t *erow, T *eval, const T *data,      \
                             const int32_t *ind, const int64_t *ptr, const int64_t *idx,  \
                             int64_t r0, int64_t rows, int64_t in) {                      \
    memset(colptr, 0, (size_t)(in + 1) * sizeof(int64_t));                                \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        int64_t src = idx ? idx[r] : r0 + r;                                              \
        if (r + CSR_AHEAD < rows) { /* a later row's entries on their way from memory:   \
                                     * rows drawn at random start where no prefetcher looks */ \
            int64_t nxt = idx ? idx[r + CSR_AHEAD] : r0 + r + CSR_AHEAD;                  \
            for (int64_t q = ptr[nxt]; q < ptr[nxt + 1]; q += 64 / (int64_t)sizeof(int32_t)) \
                __builtin_prefetch(ind + q);                                              \
            for (int64_t q = ptr[nxt]; q < ptr[nxt + 1]; q += 64 / (int64_t)sizeof(T))    \
                __builtin_prefetch(data + q);                                             \
        }                                                                                 \
        for (int64_t q = ptr[src]; q < ptr[src + 1]; q++) colptr[ind[q] + 1]++;           \
    }                                                                                     \
    for (int64_t j = 0; j < in; j++) colptr[j + 1] += colptr[j];                          \
    /* colptr[j] walks column j's slots; afterwards it holds column j+1's start */         \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        int64_t src = idx ? idx[r] : r0 + r;                                              \
        for (int64_t q = ptr[src]; q < ptr[src + 1]; q++) {                               \
            int64_t e = colptr[ind[q]]++;                                                 \
            erow[e] = (int32_t)r;                                                         \
            eval[e] = data[q];                                                            \
        }                                                                                 \
    }                                                                                     \
    for (int64_t j = in; j > 0; j--) colptr[j] = colptr[j - 1];                           \
    colptr[0] = 0;                                                                        \
}

DEFINE_CSR_DISPATCH(float, f32)
DEFINE_CSR_DISPATCH(double, f64)

/* The row-wise forms (see the header): z[r, :] = b + sum of row r's x_rj w[j, :] (rows idx[r],
 * or r0 + r without idx); dw[j, :] += x_rj dz[r, :] over the rows' entries (dw zeroed by the
 * caller where a pass starts). Compiled per width K = out (constant: the row's K sums stay
 * in registers; through memory, each entry waited on the last one's store). K = 1 (a binary
 * model) runs two rows at a time: a row's sum is one dependent chain of adds. */
#define CSR_SRC(r) (idx ? idx[r] : r0 + (r))
#define DEFINE_CSR_ROWS_K(T, SFX, K)                                                      \
static void fwd_rows_##SFX##_##K(T *restrict z, const T *restrict data, const int32_t *restrict ind, \
                                 const int64_t *ptr, const int64_t *idx, int64_t r0,      \
                                 int64_t rows, const T *restrict w, const T *restrict b) { \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        const int64_t src = CSR_SRC(r);                                                   \
        T acc[K];                                                                         \
        for (int c = 0; c < K; c++) acc[c] = 0;                                           \
        for (int64_t q = ptr[src]; q < ptr[src + 1]; q++) {                               \
            const T v = data[q], *wj = w + (int64_t)ind[q] * K;                           \
            for (int c = 0; c < K; c++) acc[c] += v * wj[c];                              \
        }                                                                                 \
        for (int c = 0; c < K; c++) z[r * K + c] = acc[c] + b[c];                         \
    }                                                                                     \
}                                                                                         \
static void grad_rows_##SFX##_##K(T *restrict dw, const T *restrict data, const int32_t *restrict ind, \
                                  const int64_t *ptr, const int64_t *idx, int64_t r0,     \
                                  int64_t rows, const T *restrict dz) {                   \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        const int64_t src = CSR_SRC(r);                                                   \
        T d[K];                                                                           \
        for (int c = 0; c < K; c++) d[c] = dz[r * K + c];                                 \
        for (int64_t q = ptr[src]; q < ptr[src + 1]; q++) {                               \
            const T v = data[q];                                                          \
            T *dwj = dw + (int64_t)ind[q] * K;                                            \
            for (int c = 0; c < K; c++) dwj[c] += v * d[c];                               \
        }                                                                                 \
    }                                                                                     \
}
#define CSR_WIDTHS(X, T, SFX) X(T, SFX, 2) X(T, SFX, 3) X(T, SFX, 4) X(T, SFX, 5) X(T, SFX, 6)  \
    X(T, SFX, 7) X(T, SFX, 8) X(T, SFX, 9) X(T, SFX, 10) X(T, SFX, 11) X(T, SFX, 12)            \
    X(T, SFX, 13) X(T, SFX, 14) X(T, SFX, 15) X(T, SFX, 16)
#define CSR_CASE_FWD(T, SFX, K) case K: fwd_rows_##SFX##_##K(z, data, ind, ptr, idx, r0, rows, w, b); break;
#define CSR_CASE_GRAD(T, SFX, K) case K: grad_rows_##SFX##_##K(dw, data, ind, ptr, idx, r0, rows, dz); break;
#define DEFINE_CSR_ROWS(T, SFX)                                                           \
CSR_WIDTHS(DEFINE_CSR_ROWS_K, T, SFX)                                                     \
/* one output: two rows' chains side by side, each in its entries' order */              \
static void fwd_rows1_##SFX(T *restrict z, const T *restrict data, const int32_t *restrict ind, \
                            const int64_t *ptr, const int64_t *idx, int64_t r0, int64_t rows, \
                            const T *restrict w, const T *restrict b) {                   \
    int64_t r = 0;                                                                        \
    for (; r + 1 < rows; r += 2) {                                                        \
        int64_t qa = ptr[CSR_SRC(r)], ea = ptr[CSR_SRC(r) + 1];                           \
        int64_t qb = ptr[CSR_SRC(r + 1)], eb = ptr[CSR_SRC(r + 1) + 1];                   \
        T sa = 0, sb = 0;                                                                 \
        for (; qa < ea && qb < eb; qa++, qb++) {                                          \
            sa += data[qa] * w[ind[qa]];                                                  \
            sb += data[qb] * w[ind[qb]];                                                  \
        }                                                                                 \
        for (; qa < ea; qa++) sa += data[qa] * w[ind[qa]];                                \
        for (; qb < eb; qb++) sb += data[qb] * w[ind[qb]];                                \
        z[r] = sa + b[0];                                                                 \
        z[r + 1] = sb + b[0];                                                             \
    }                                                                                     \
    for (; r < rows; r++) {                                                               \
        T s = 0;                                                                          \
        for (int64_t q = ptr[CSR_SRC(r)]; q < ptr[CSR_SRC(r) + 1]; q++) s += data[q] * w[ind[q]]; \
        z[r] = s + b[0];                                                                  \
    }                                                                                     \
}                                                                                         \
void fnn_csr_forward_rows_##SFX(T *z, const T *data, const int32_t *ind, const int64_t *ptr, \
                                const int64_t *idx, int64_t r0, int64_t rows, const T *w, \
                                const T *b, int64_t out) {                                \
    switch (out) {                                                                        \
    case 1: fwd_rows1_##SFX(z, data, ind, ptr, idx, r0, rows, w, b); break;               \
    CSR_WIDTHS(CSR_CASE_FWD, T, SFX)                                                      \
    default: break; /* (out <= FNN_CSR_ROWS_MAX_OUT: train.c's CSR_ROWWISE) */           \
    }                                                                                     \
}                                                                                         \
void fnn_csr_weight_grad_rows_##SFX(T *dw, const T *data, const int32_t *ind,             \
                                    const int64_t *ptr, const int64_t *idx, int64_t r0,   \
                                    int64_t rows, const T *dz, int64_t out) {             \
    if (out == 1) {                                                                       \
        for (int64_t r = 0; r < rows; r++) {                                              \
            const T d = dz[r];                                                            \
            for (int64_t q = ptr[CSR_SRC(r)]; q < ptr[CSR_SRC(r) + 1]; q++) dw[ind[q]] += data[q] * d; \
        }                                                                                 \
        return;                                                                           \
    }                                                                                     \
    switch (out) {                                                                        \
    CSR_WIDTHS(CSR_CASE_GRAD, T, SFX)                                                     \
    default: break;                                                                       \
    }                                                                                     \
}

DEFINE_CSR_ROWS(float, f32)
DEFINE_CSR_ROWS(double, f64)
