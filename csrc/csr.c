/* csr.c -- an MLP's first layer on a sparse X in CSR form (train.c's epoch and
 * loss_grad when X is sparse). The products cost O(nnz * out) instead of
 * O(rows * in * out): a TF-IDF row of 5000 columns holds ~100 non-zeros.
 *
 * The forward runs row by row (csr_forward): z[r, :] sums x_rj W[j, :] over row r's
 * entries in registers, W's rows taken a range at a time that stays in L1 while every
 * row of the batch passes over it (each row's cursor moving on). Its weight gradient
 * needs the batch by column: the non-zeros are sorted by column (a stable counting sort:
 * csr_transpose), and row j of dW sums x_rj dz[r, :] over column j's entries in
 * registers, dz's rows taken a range at a time in L1, and is written once (zeros for a
 * column the batch does not hold: no zeroing pass). A scatter-add of each entry into a
 * zeroed dW instead cost 22 ns a non-zero against ~7 + 7 for the sort (5000 x 64
 * float64, 200-row batches of 100 non-zeros). A very sparse batch with a W beyond L2
 * runs the forward by column instead (csc_forward: W's row in registers, z's rows
 * updated), where rows of W read at random from L3 cost more. 20000 x 784, (100,),
 * float64, one thread: an epoch of 20% non-zero 1.6x faster than the dense one (this
 * form before, with the forward by column and 8 / 4 / 2 / 1-vector blocks: 1.06x).
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

/* Output columns run in blocks of up to MAXV vectors of VBYTES bytes (the ISA's register
 * width: 16 of AVX-512's 32 registers, 12 of AVX2's and SSE2's 16), the block's sums in
 * registers across a row's (forward) or a column's (gradient) entries, each entry's
 * vectors of W or dz read by the FMAs from L1. The vectors split into the fewest blocks
 * of about equal width (100 float64 outputs: one of 13 zmm): a block of one or two
 * vectors is one or two chains of dependent FMAs, a quarter of the FMA ports' rate (the
 * widths 8, 4, 2, 1 before: 100 columns ran 8, 4, then a scalar tail of 4 columns that
 * cost as much as the rest). The last vector of a right edge starts at out - lanes: it
 * overlaps the one before, both computing the shared columns alike (the same sums in
 * the same order), so nothing is masked; fewer columns than one vector run scalar.
 * Each pass keeps its operand's block in L1 (CSR_L1_BYTES): the forward W's rows by
 * column ranges (the rows' entries from a cursor a row, rows sorted by column), the
 * gradient dz's rows by batch ranges (a column's entries from a cursor a column, in
 * batch order). Plain loops over the columns per entry, which GCC vectorises but keeps
 * in memory, ran the row-wise forward at 32 ns a non-zero. */
#define CSR_L1_BYTES (32 * 1024)
/* A batch under CSR_SCATTER_DENSITY non-zero whose W is larger than L2 runs its forward
 * by column instead, W's row in registers and z's rows updated (csc_forward): rows of W
 * read at random from L3 cost more there (TF-IDF 20000 x 5000, 2% non-zero, (64,),
 * float32 L-BFGS: the forward 25% faster by column) */
#define CSR_L2_BYTES (1024 * 1024)
#define CSR_SCATTER_DENSITY 0.05
/* rows (forward) or columns (gradient) a pass of cursors, kept on the stack */
#define CSR_GROUP 256
/* csr_transpose prefetches the entries of the row this many rows ahead */
#define CSR_AHEAD 4

/* rows of an operand a pass keeps in L1 when each takes `bytes` of it, or all `n` (one
 * pass) where the passes would hold fewer than CSR_MIN_PASS_ENTRIES entries a row or
 * column of the batch (`nnz` entries over `lines` rows or columns): each pass reloads and
 * stores the block's sums and ends a loop, and a sparser batch reads the operand from
 * L2 for less (20000 x 784, 5% non-zero, (100,): float64 epochs 20% faster in one pass) */
#define CSR_MIN_PASS_ENTRIES 6
static inline int64_t csr_pass_rows(int64_t bytes, int64_t n, int64_t nnz, int64_t lines) {
    int64_t k = CSR_L1_BYTES / bytes;
    k = k < 4 ? 4 : k;
    return (double)nnz * (double)k < CSR_MIN_PASS_ENTRIES * (double)lines * (double)n ? n : k;
}

/* out columns in vectors of `lanes` (none when out < lanes), in the fewest blocks of at
 * most maxv vectors, of about equal width (see the header): csr_blocks counts them;
 * csr_block gives block k's width in vectors, its first column c0 and the column of its
 * last vector cl */
static inline int64_t csr_vectors(int64_t out, int64_t lanes) {
    return out >= lanes ? (out + lanes - 1) / lanes : 0;
}
static inline int64_t csr_blocks(int64_t out, int64_t lanes, int64_t maxv) {
    return (csr_vectors(out, lanes) + maxv - 1) / maxv;
}
static inline int csr_block(int64_t out, int64_t lanes, int64_t nblk, int64_t k, int64_t *c0, int64_t *cl) {
    const int64_t nvec = csr_vectors(out, lanes), base = nvec / nblk, extra = nvec % nblk;
    const int64_t v0 = k * base + (k < extra ? k : extra), nv = base + (k < extra);
    *c0 = v0 * lanes;
    *cl = v0 + nv == nvec ? out - lanes : *c0 + (nv - 1) * lanes;
    return (int)nv;
}

/* vector i of a block, from the block's first column c0: i lanes on, the last at cl (see
 * the header): constant displacements but the last, one register (offsets of every
 * vector in registers spilled, the loop 1.4x slower) */
#define CSR_VOFF(i) ((i) == nv - 1 ? cl - c0 : (int64_t)(i) * lanes)
#define CSR_WIDTHS_1_16(X, FN) X(FN, 1) X(FN, 2) X(FN, 3) X(FN, 4) X(FN, 5) X(FN, 6) X(FN, 7) \
    X(FN, 8) X(FN, 9) X(FN, 10) X(FN, 11) X(FN, 12) X(FN, 13) X(FN, 14) X(FN, 15) X(FN, 16)

#define DEFINE_CSR(T, SFX, ISA, ATTR, VBYTES, MAXV)                                       \
typedef T v_##SFX##_##ISA __attribute__((vector_size(VBYTES), aligned(sizeof(T))));       \
enum { LANES_##SFX##_##ISA = VBYTES / (int)sizeof(T) };                                   \
/* acc[0 .. nv) += val_q m[key_q, block] over entries q from q0 while q < q1 and        \
 * key_q < lim, the block's vectors read by the FMAs; returns where it stopped. The       \
 * forward's rows (key: column, m: W) and the gradient's columns (key: batch row, m: dz) */ \
static inline __attribute__((always_inline)) ATTR int64_t sum_entries_##SFX##_##ISA(     \
        v_##SFX##_##ISA *acc, const T *val, const int32_t *key, int64_t q0, int64_t q1,  \
        int64_t lim, const T *m, int64_t out, int64_t c0, int64_t cl, const int nv) {     \
    typedef v_##SFX##_##ISA V;                                                            \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    int64_t q = q0;                                                                       \
    for (; q < q1 && key[q] < lim; q++) {                                                 \
        const T v = val[q];                                                               \
        const T *mk = m + (int64_t)key[q] * out + c0;                                     \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++)                             \
            acc[i] += v * *(const V *)(mk + CSR_VOFF(i));                                 \
    }                                                                                     \
    return q;                                                                             \
}                                                                                         \
/* z's block of columns for rows [0, rows) over their entries below column j1, from     \
 * their cursors on, added to the rows' partial sums (0 when `first`), the bias added    \
 * when `last` */                                                                         \
static inline __attribute__((always_inline)) ATTR void fwd_block_##SFX##_##ISA(         \
        T *z, const T *data, const int32_t *ind, const int64_t *ptr, const int64_t *idx,  \
        int64_t r0, int64_t *cur, int64_t rows, const T *w, const T *b, int64_t out,      \
        int64_t c0, int64_t cl, int64_t j1, int first, int last, const int nv) {          \
    typedef v_##SFX##_##ISA V;                                                            \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    for (int64_t r = 0; r < rows; r++) {                                                  \
        V acc[16]; /* (the switches' widest case, whatever MAXV) */                       \
        T *zr = z + r * out + c0;                                                         \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++)                             \
            acc[i] = first ? (V){0} : *(const V *)(zr + CSR_VOFF(i));                     \
        cur[r] = sum_entries_##SFX##_##ISA(acc, data, ind, cur[r], ptr[(idx ? idx[r] : r0 + r) + 1], \
                                           j1, w, out, c0, cl, nv);                       \
        if (last) _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++)                   \
            acc[i] += *(const V *)(b + c0 + CSR_VOFF(i));                                 \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) *(V *)(zr + CSR_VOFF(i)) = acc[i]; \
    }                                                                                     \
}                                                                                         \
/* a block of columns for rows [0, rows): W's rows a range at a time when `sorted` */    \
static ATTR void fwd_cols_##SFX##_##ISA(T *z, const T *data, const int32_t *ind,          \
                                        const int64_t *ptr, const int64_t *idx, int64_t r0, \
                                        int64_t *cur, int64_t rows, const T *w, const T *b, \
                                        int64_t in, int64_t out, int64_t c0, int64_t cl,  \
                                        int sorted, int64_t nnz, int nv) {                \
    const int64_t kb = sorted ? csr_pass_rows((int64_t)nv * VBYTES, in, nnz, rows) : in;  \
    for (int64_t r = 0; r < rows; r++) cur[r] = ptr[idx ? idx[r] : r0 + r];               \
    for (int64_t j0 = 0; j0 < in || j0 == 0; j0 += kb) {                                  \
        int64_t j1 = j0 + kb < in ? j0 + kb : in;                                         \
        int first = j0 == 0, last = j1 >= in;                                             \
        switch (nv) {                                                                     \
        CSR_WIDTHS_1_16(CSR_FWD_CASE, fwd_block_##SFX##_##ISA)                            \
        default: break;                                                                   \
        }                                                                                 \
    }                                                                                     \
}                                                                                         \
static ATTR void csr_forward_##SFX##_##ISA(T *z, const T *data, const int32_t *ind,      \
                                           const int64_t *ptr, const int64_t *idx, int64_t r0, \
                                           int64_t rows, const T *w, const T *b, int64_t in, \
                                           int64_t out, int sorted) {                     \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    int64_t cur[CSR_GROUP];                                                               \
    const int64_t nblk = csr_blocks(out, lanes, MAXV);                                    \
    for (int64_t g0 = 0; g0 < rows; g0 += CSR_GROUP) {                                    \
        int64_t gn = rows - g0 < CSR_GROUP ? rows - g0 : CSR_GROUP;                       \
        const int64_t *gidx = idx ? idx + g0 : NULL;                                      \
        int64_t nnz = 0;                                                                  \
        for (int64_t r = g0; r < g0 + gn; r++) {                                          \
            const int64_t src = idx ? idx[r] : r0 + r;                                    \
            nnz += ptr[src + 1] - ptr[src];                                               \
        }                                                                                 \
        for (int64_t k = 0; k < nblk; k++) {                                              \
            int64_t c0, cl;                                                               \
            int nv = csr_block(out, lanes, nblk, k, &c0, &cl);                            \
            fwd_cols_##SFX##_##ISA(z + g0 * out, data, ind, ptr, gidx, idx ? 0 : r0 + g0, cur, gn, \
                                   w, b, in, out, c0, cl, sorted, nnz, nv);               \
        }                                                                                 \
        if (nblk == 0) /* fewer columns than one vector */                                \
            for (int64_t r = g0; r < g0 + gn; r++) {                                      \
                const int64_t src = idx ? idx[r] : r0 + r;                                \
                for (int64_t c = 0; c < out; c++) {                                       \
                    T s = 0;                                                              \
                    for (int64_t q = ptr[src]; q < ptr[src + 1]; q++) s += data[q] * w[(int64_t)ind[q] * out + c]; \
                    z[r * out + c] = s + b[c];                                            \
                }                                                                         \
            }                                                                             \
    }                                                                                     \
}                                                                                         \
/* z's block of columns (zeroed) += the entries of column j of the batch times W's row j, \
 * that row's block in registers; all of a row's vectors of z read before any is       \
 * written (the edge's overlap) */                                                        \
static inline __attribute__((always_inline)) ATTR void scatter_block_##SFX##_##ISA(      \
        T *z, const int32_t *erow, const T *eval, int64_t e0, int64_t e1, const T *wj,    \
        int64_t out, int64_t c0, int64_t cl, const int nv) {                              \
    typedef v_##SFX##_##ISA V;                                                            \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    V wv[16], zv[16];                                                                     \
    _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) wv[i] = *(const V *)(wj + c0 + CSR_VOFF(i)); \
    for (int64_t e = e0; e < e1; e++) {                                                   \
        const T v = eval[e];                                                              \
        T *zr = z + (int64_t)erow[e] * out + c0;                                          \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) zv[i] = *(const V *)(zr + CSR_VOFF(i)); \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) *(V *)(zr + CSR_VOFF(i)) = zv[i] + v * wv[i]; \
    }                                                                                     \
}                                                                                         \
/* z = x_rows w + b by column of the batch (colptr, erow, eval: csr_transpose's): for a  \
 * sparse batch whose W is larger than L2 (see fnn_csr_forward) */                        \
static ATTR void csc_forward_##SFX##_##ISA(T *z, const int64_t *colptr, const int32_t *erow, \
                                           const T *eval, const T *w, const T *b,         \
                                           int64_t rows, int64_t in, int64_t out) {       \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    const int64_t nblk = csr_blocks(out, lanes, MAXV);                                    \
    memset(z, 0, (size_t)(rows * out) * sizeof(T));                                       \
    for (int64_t j = 0; j < in; j++) {                                                    \
        int64_t e0 = colptr[j], e1 = colptr[j + 1];                                       \
        if (e0 == e1) continue;                                                           \
        for (int64_t k = 0; k < nblk; k++) {                                              \
            int64_t c0, cl;                                                               \
            switch (csr_block(out, lanes, nblk, k, &c0, &cl)) {                           \
            CSR_WIDTHS_1_16(CSR_SCATTER_CASE, scatter_block_##SFX##_##ISA)                \
            default: break;                                                               \
            }                                                                             \
        }                                                                                 \
    }                                                                                     \
    for (int64_t r = 0; r < rows; r++)                                                    \
        for (int64_t c = 0; c < out; c++) z[r * out + c] += b[c];                         \
}                                                                                         \
/* dw's block of columns for columns [0, ncols) of the batch over their entries of rows  \
 * below r1, from their cursors on, added to the partial sums (0 when `first`); with     \
 * `add` (one pass) added to dw, all of a row's vectors read before any is written (the   \
 * edge's overlap), columns without entries not touched */                               \
static inline __attribute__((always_inline)) ATTR void grad_block_##SFX##_##ISA(        \
        T *dw, const int64_t *colptr, const int32_t *erow, const T *eval, int64_t *cur,   \
        int64_t ncols, const T *dz, int64_t out, int64_t c0, int64_t cl, int64_t r1,      \
        int first, int add, const int nv) {                                               \
    typedef v_##SFX##_##ISA V;                                                            \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    for (int64_t j = 0; j < ncols; j++) {                                                 \
        if (add && cur[j] == colptr[j + 1]) continue;                                     \
        V acc[16]; /* (the switches' widest case, whatever MAXV) */                       \
        T *dwj = dw + j * out + c0;                                                       \
        _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++)                             \
            acc[i] = first ? (V){0} : *(const V *)(dwj + CSR_VOFF(i));                    \
        cur[j] = sum_entries_##SFX##_##ISA(acc, eval, erow, cur[j], colptr[j + 1], r1, dz, \
                                           out, c0, cl, nv);                              \
        if (add) {                                                                        \
            V old[16];                                                                    \
            _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) old[i] = *(const V *)(dwj + CSR_VOFF(i)); \
            _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) *(V *)(dwj + CSR_VOFF(i)) = old[i] + acc[i]; \
        } else                                                                            \
            _Pragma("GCC unroll 16") for (int i = 0; i < nv; i++) *(V *)(dwj + CSR_VOFF(i)) = acc[i]; \
    }                                                                                     \
}                                                                                         \
/* a block of columns for columns [0, ncols): dz's rows a range at a time (one pass with \
 * `add`: dw + the column's sum, as before) */                                            \
static ATTR void grad_cols_##SFX##_##ISA(T *dw, const int64_t *colptr, const int32_t *erow, \
                                         const T *eval, int64_t *cur, int64_t ncols,      \
                                         const T *dz, int64_t rows, int64_t out, int64_t c0, \
                                         int64_t cl, int add, int nv) {                   \
    const int64_t rb = add ? rows                                                         \
                     : csr_pass_rows((int64_t)nv * VBYTES, rows, colptr[ncols] - colptr[0], ncols); \
    for (int64_t j = 0; j < ncols; j++) cur[j] = colptr[j];                               \
    for (int64_t q0 = 0; q0 < rows || q0 == 0; q0 += rb) {                                \
        int64_t r1 = q0 + rb < rows ? q0 + rb : rows;                                     \
        int first = q0 == 0;                                                              \
        if (r1 >= rows) r1 = INT64_MAX; /* the last pass takes every remaining entry */   \
        switch (nv) {                                                                     \
        CSR_WIDTHS_1_16(CSR_GRAD_CASE, grad_block_##SFX##_##ISA)                          \
        default: break;                                                                   \
        }                                                                                 \
    }                                                                                     \
}                                                                                         \
static ATTR void csc_weight_grad_##SFX##_##ISA(T *dw, const int64_t *colptr,            \
                                               const int32_t *erow, const T *eval,        \
                                               const T *dz, int64_t rows, int64_t in,     \
                                               int64_t out, int add) {                    \
    const int64_t lanes = LANES_##SFX##_##ISA;                                            \
    int64_t cur[CSR_GROUP];                                                               \
    const int64_t nblk = csr_blocks(out, lanes, MAXV);                                    \
    for (int64_t g0 = 0; g0 < in; g0 += CSR_GROUP) {                                      \
        int64_t gn = in - g0 < CSR_GROUP ? in - g0 : CSR_GROUP;                           \
        for (int64_t k = 0; k < nblk; k++) {                                              \
            int64_t c0, cl;                                                               \
            int nv = csr_block(out, lanes, nblk, k, &c0, &cl);                            \
            grad_cols_##SFX##_##ISA(dw + g0 * out, colptr + g0, erow, eval, cur, gn, dz,  \
                                    rows, out, c0, cl, add, nv);                          \
        }                                                                                 \
        if (nblk == 0) /* fewer columns than one vector */                                \
            for (int64_t j = g0; j < g0 + gn; j++) {                                      \
                int64_t e0 = colptr[j], e1 = colptr[j + 1];                               \
                if (add && e0 == e1) continue;                                            \
                for (int64_t c = 0; c < out; c++) {                                       \
                    T acc = 0;                                                            \
                    for (int64_t e = e0; e < e1; e++) acc += eval[e] * dz[(int64_t)erow[e] * out + c]; \
                    dw[j * out + c] = add ? dw[j * out + c] + acc : acc;                  \
                }                                                                         \
            }                                                                             \
    }                                                                                     \
}

/* the switches' cases of fwd_cols, csc_forward and grad_cols: the block function for
 * each width */
#define CSR_SCATTER_CASE(FN, N) case N: FN(z, erow, eval, e0, e1, w + j * out, out, c0, cl, N); break;
#define CSR_FWD_CASE(FN, N) case N: FN(z, data, ind, ptr, idx, r0, cur, rows, w, b, out, c0, cl, j1, \
                                       first, last, N); break;
#define CSR_GRAD_CASE(FN, N) case N: FN(dw, colptr, erow, eval, cur, ncols, dz, out, c0, cl, r1, first, \
                                        add, N); break;

DEFINE_CSR(float, f32, generic, , 16, 12)
DEFINE_CSR(double, f64, generic, , 16, 12)
DEFINE_CSR(float, f32, avx2, FNN_TARGET_AVX2, 32, 12)
DEFINE_CSR(double, f64, avx2, FNN_TARGET_AVX2, 32, 12)
DEFINE_CSR(float, f32, avx512, FNN_TARGET_AVX512, 64, 16)
DEFINE_CSR(double, f64, avx512, FNN_TARGET_AVX512, 64, 16)

#define DEFINE_CSR_DISPATCH(T, SFX)                                                       \
/* z = x_rows w + b (csr_forward): W's rows a column range at a time when every row of   \
 * the batch holds its columns in rising order (scipy's canonical CSR), else in one      \
 * range, each row in stored order */                                                     \
void fnn_csr_forward_##SFX(T *z, const T *data, const int32_t *ind, const int64_t *ptr,   \
                           const int64_t *idx, int64_t r0, int64_t rows, const T *w,      \
                           const T *b, int64_t in, int64_t out, const int64_t *colptr,    \
                           const int32_t *erow, const T *eval) {                          \
    /* (at least one 512-bit vector of outputs: csc_forward has no scalar form) */        \
    if (colptr && out >= 64 / (int64_t)sizeof(T)                                          \
        && (double)(in * out) * sizeof(T) > CSR_L2_BYTES                                  \
        && (double)colptr[in] < CSR_SCATTER_DENSITY * (double)rows * (double)in) {        \
        if (fnn_isa_level >= FNN_ISA_AVX512)                                              \
            csc_forward_##SFX##_avx512(z, colptr, erow, eval, w, b, rows, in, out);       \
        else if (fnn_isa_level >= FNN_ISA_AVX2)                                           \
            csc_forward_##SFX##_avx2(z, colptr, erow, eval, w, b, rows, in, out);         \
        else csc_forward_##SFX##_generic(z, colptr, erow, eval, w, b, rows, in, out);     \
        return;                                                                           \
    }                                                                                     \
    int sorted = 1;                                                                       \
    for (int64_t r = 0; r < rows && sorted; r++) {                                        \
        const int64_t src = idx ? idx[r] : r0 + r;                                        \
        int fall = 0; /* (no early exit: the loop vectorises) */                          \
        for (int64_t q = ptr[src] + 1; q < ptr[src + 1]; q++) fall |= ind[q] < ind[q - 1]; \
        sorted = !fall;                                                                   \
    }                                                                                     \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csr_forward_##SFX##_avx512(z, data, ind, ptr, idx, r0, rows, w, b, in, out, sorted); \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csr_forward_##SFX##_avx2(z, data, ind, ptr, idx, r0, rows, w, b, in, out, sorted); \
    else csr_forward_##SFX##_generic(z, data, ind, ptr, idx, r0, rows, w, b, in, out, sorted); \
}                                                                                         \
void fnn_csc_weight_grad_##SFX(T *dw, const int64_t *colptr, const int32_t *erow,       \
                               const T *eval, const T *dz, int64_t rows, int64_t in,      \
                               int64_t out, int add) {                                    \
    if (fnn_isa_level >= FNN_ISA_AVX512)                                                  \
        csc_weight_grad_##SFX##_avx512(dw, colptr, erow, eval, dz, rows, in, out, add);   \
    else if (fnn_isa_level >= FNN_ISA_AVX2)                                               \
        csc_weight_grad_##SFX##_avx2(dw, colptr, erow, eval, dz, rows, in, out, add);     \
    else csc_weight_grad_##SFX##_generic(dw, colptr, erow, eval, dz, rows, in, out, add); \
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
