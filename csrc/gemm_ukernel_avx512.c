/* gemm_ukernel_avx512.c -- AVX-512F register-tiled microkernels (see gemm.h).
 *
 * float32 12x32 and float64 12x16: 24 zmm accumulators, 2 zmm of B and one broadcast
 * of A per k step (27 of the 32 zmm registers). Cores with two 512-bit FMA pipes
 * (Intel Xeon since Skylake-SP) do twice the work per cycle of the AVX2 6x16 tile;
 * 24 independent chains cover the 4-cycle FMA latency on both pipes. As in the AVX2
 * kernels, A is read by broadcasts from row pointers (packed or not, any strides) and
 * B rows are two vectors, masked at a right edge that must not be over-read (AVX-512
 * masks cost nothing extra), and every element sums k in order, so a row's result
 * never depends on the tile it falls in.
 * Compiled per function for AVX-512F; gemm.c calls these only when fnn_isa_level
 * says the CPU (and the OS, for the zmm state) has it.
 */
#include "gemm.h"
#if FNN_X86
#include <immintrin.h>

/* The k loop for R = 1..12 rows (a constant after inlining), accumulators in named
 * registers: a local array of them, indexed by a run-time row count afterwards, made
 * GCC store all 24 to the stack on every k step (float32 256^3: 178 GFLOP/s, here 192).
 * VEC / NLANES: the instance's vector type and lanes (DEFINE_AVX512_UKR).
 * PACKED: rsa = 1 (a packed panel, or A^T read in place), one pointer for all rows.
 * MASKED: the B rows are loaded under m0 / m1. HALF: the tile is at most NLANES wide
 * (a right edge): one B vector and 12 FMAs a step, the second accumulator of each row
 * left at zero (a masked edge of 1-8 float64 / 1-16 float32 columns cost a full tile:
 * 200 x 64 x 100 float64 took 35.0 us against 28.4 for n = 96; now 31.7). plain:
 * alpha = 1, beta = 0, no epilogue, C row-major -- the registers are stored as the
 * result; else they go to acc for the epilogue.
 * The k loop is unrolled by 4: rolled, its pointer and counter updates share the FMA
 * ports with 24 FMAs a step (Xeon, one thread: packed float64 12x16 tiles over a
 * 256-deep A block in L2 74 -> 81% of peak; float64 1024^3 0.95x -> 1.00x OpenBLAS,
 * 2048^3 0.89x -> 0.95x, MLP shapes geomean 1.15x -> 1.23x; float32 +0-3%). */
#define AVX512_ACC(r) VEC c##r##a = VOP(setzero)(), c##r##b = VOP(setzero)();
#define AVX512_ROW(r)                                                                   \
    if (R > r) {                                                                        \
        VEC t = VOP(set1)(PACKED ? a[off + r] : a[r * rsa + off]);                      \
        c##r##a = VOP(fmadd)(t, b0, c##r##a);                                           \
        if (!HALF) c##r##b = VOP(fmadd)(t, b1, c##r##b);                                \
    }
#define AVX512_OUT(r)                                                                   \
    if (R > r) {                                                                        \
        if (plain) {                                                                    \
            VOP(mask_storeu)(c + r * rsc, m0, c##r##a);                                 \
            if (!HALF) VOP(mask_storeu)(c + r * rsc + NLANES, m1, c##r##b);             \
        } else {                                                                        \
            acc[r][0] = c##r##a;                                                        \
            acc[r][1] = c##r##b;                                                        \
        }                                                                               \
    }
#define AVX512_REP(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
/* C's tile is fetched while the k loop runs: by the end it is in L1 for the update
 * (with a large C, one k block's tiles are last touched a whole block earlier) */
#define AVX512_PREFETCH_C(r)                                                            \
    if (R > r && csc == 1) {                                                            \
        _mm_prefetch((const char *)(c + r * rsc), _MM_HINT_T0);                         \
        if (!HALF) _mm_prefetch((const char *)(c + r * rsc + NLANES), _MM_HINT_T0);     \
    }
#define AVX512_KLOOP                                                                    \
    AVX512_REP(AVX512_PREFETCH_C)                                                       \
    AVX512_REP(AVX512_ACC)                                                              \
    _Pragma("GCC unroll 4")                                                             \
    for (int64_t p = 0, off = 0; p < k; p++, b += rsb, off += csa) {                    \
        VEC b0 = MASKED ? VOP(maskz_loadu)(m0, b) : VOP(loadu)(b);                      \
        VEC b1 = HALF ? VOP(setzero)()                                                  \
                 : MASKED ? VOP(maskz_loadu)(m1, b + NLANES) : VOP(loadu)(b + NLANES);  \
        AVX512_REP(AVX512_ROW)                                                          \
    }                                                                                   \
    AVX512_REP(AVX512_OUT)

/* One instance per row count, B masking, half width and A packing. */
#define AVX512_DISPATCH(FN, ...)                                                        \
    switch (mr) {                                                                       \
    case 1: FN(__VA_ARGS__, 1); break;                                                  \
    case 2: FN(__VA_ARGS__, 2); break;                                                  \
    case 3: FN(__VA_ARGS__, 3); break;                                                  \
    case 4: FN(__VA_ARGS__, 4); break;                                                  \
    case 5: FN(__VA_ARGS__, 5); break;                                                  \
    case 6: FN(__VA_ARGS__, 6); break;                                                  \
    case 7: FN(__VA_ARGS__, 7); break;                                                  \
    case 8: FN(__VA_ARGS__, 8); break;                                                  \
    case 9: FN(__VA_ARGS__, 9); break;                                                  \
    case 10: FN(__VA_ARGS__, 10); break;                                                \
    case 11: FN(__VA_ARGS__, 11); break;                                                \
    default: FN(__VA_ARGS__, 12); break;                                                \
    }

/* The epilogue, one dtype (see gemm.h): C = act(alpha * acc + bias + beta * C), the
 * AVX2 kernels' operation order, so the two ISA paths agree bit for bit on a tile. */
#define AVX512_STORE(T, V, LANES, NR, STORE_T)                                          \
    const int act = epi ? epi->act : FNN_ACT_IDENTITY;                                  \
    const V zero = VOP(setzero)(), va = VOP(set1)(alpha), vb = VOP(set1)(beta);         \
    const V slope = VOP(set1)(epi ? epi->param : (T)0);                                 \
    const int full = nr == NR;                                                          \
    if (csc == 1) {                                                                     \
        V bias0 = zero, bias1 = zero;                                                   \
        if (epi && epi->bias) {                                                         \
            bias0 = VOP(maskz_loadu)(m0, epi->bias);                                    \
            bias1 = VOP(maskz_loadu)(m1, epi->bias + LANES);                            \
        }                                                                               \
        for (int r = 0; r < mr; r++) {                                                  \
            T *cr = c + r * rsc;                                                        \
            V v0 = VOP(fmadd)(va, acc[r][0], bias0), v1 = VOP(fmadd)(va, acc[r][1], bias1); \
            if (beta != 0) {                                                            \
                V c0 = full ? VOP(loadu)(cr) : VOP(maskz_loadu)(m0, cr);                \
                V c1 = full ? VOP(loadu)(cr + LANES) : VOP(maskz_loadu)(m1, cr + LANES); \
                v0 = VOP(fmadd)(vb, c0, v0);                                            \
                v1 = VOP(fmadd)(vb, c1, v1);                                            \
            }                                                                           \
            if (act == FNN_ACT_RELU) { /* NaN passes: max returns its second operand */ \
                v0 = VOP(max)(zero, v0);                                                \
                v1 = VOP(max)(zero, v1);                                                \
            } else if (act == FNN_ACT_LEAKY_RELU) {                                     \
                v0 = VOP(mask_blend)(VMASK(cmp)(v0, zero, _CMP_GT_OQ), VOP(mul)(v0, slope), v0); \
                v1 = VOP(mask_blend)(VMASK(cmp)(v1, zero, _CMP_GT_OQ), VOP(mul)(v1, slope), v1); \
            }                                                                           \
            VOP(mask_storeu)(cr, m0, v0);                                               \
            VOP(mask_storeu)(cr + LANES, m1, v1);                                       \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    if (rsc == 1 && !epi) {                                                             \
        /* a transposed problem: column j of the tile is mr contiguous values of C */   \
        STORE_T(c, csc, acc, mr, nr, alpha, beta);                                      \
        return;                                                                         \
    }                                                                                   \
    /* C strided by csc: spill alpha * tile, then write C column by column */           \
    T t[12][NR];                                                                        \
    for (int r = 0; r < mr; r++) {                                                      \
        VOP(storeu)(t[r], VOP(mul)(va, acc[r][0]));                                     \
        VOP(storeu)(t[r] + LANES, VOP(mul)(va, acc[r][1]));                             \
    }                                                                                   \
    const T prm = epi ? epi->param : (T)0;                                              \
    for (int j = 0; j < nr; j++) {                                                      \
        T bj = (epi && epi->bias) ? epi->bias[j] : (T)0;                                \
        for (int r = 0; r < mr; r++) {                                                  \
            T *cij = c + r * rsc + j * csc;                                             \
            T v = t[r][j] + bj;                                                         \
            if (beta != 0) v += beta * *cij;                                            \
            if (act == FNN_ACT_RELU) v = v > 0 ? v : (v != v ? v : (T)0);               \
            else if (act == FNN_ACT_LEAKY_RELU) v = v > 0 ? v : prm * v;                \
            *cij = v;                                                                   \
        }                                                                               \
    }

/* ------------------------------------------------------------------ float32 */

/* C = alpha * (a 12 x 32 tile)^T + beta * C for a transposed problem (rsc = 1, e.g.
 * X^T dY with ten outputs): column j of the tile goes to mr contiguous values at
 * c + j * ldc. Each 16-column half is transposed in registers (rows 12-15 zero: 56
 * shuffles), then one masked store per column; a gather per column from the spilled
 * tile was slower (Xeon, one thread, 256 x k x 10: k = 32 float32 2.58 -> 2.30 us,
 * float64 3.85 -> 3.43; k = 128 -7% float32, -5% float64). alpha then beta: the
 * order of the other stores. */
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void transpose16_ps(__m512 *x) {
    const __m512 z = _mm512_setzero_ps();
    __m512 t[12], u[16];
    for (int i = 0; i < 6; i++) { /* rows 2i, 2i + 1 interleaved */
        t[2 * i] = _mm512_unpacklo_ps(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(x[2 * i], x[2 * i + 1]);
    }
    for (int g = 0; g < 3; g++) { /* u[4g + s] chunk q: rows 4g..4g+3 of column 4q + s */
        u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int s = 0; s < 4; s++) { /* the 4 x 4 transpose of 128-bit chunks */
        __m512 x0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x44);
        __m512 x1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xEE);
        __m512 y0 = _mm512_shuffle_f32x4(u[8 + s], z, 0x44);
        __m512 y1 = _mm512_shuffle_f32x4(u[8 + s], z, 0xEE);
        x[s] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        x[4 + s] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
        x[8 + s] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        x[12 + s] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
    }
}
FNN_TARGET_AVX512 static inline void store_t_f32(float *c, int64_t ldc, __m512 acc[12][2], int mr,
                                                 int nr, float alpha, float beta) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __mmask16 m = (__mmask16)((1u << mr) - 1);
    for (int h = 0; h < 2 && 16 * h < nr; h++) {
        __m512 x[16];
        for (int r = 0; r < 12; r++) x[r] = r < mr ? acc[r][h] : _mm512_setzero_ps();
        transpose16_ps(x);
        for (int j = 0; j < 16 && 16 * h + j < nr; j++) {
            float *cj = c + (16 * h + j) * ldc;
            __m512 v = _mm512_mul_ps(va, x[j]);
            if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cj), v);
            _mm512_mask_storeu_ps(cj, m, v);
        }
    }
}

/* ------------------------------------------------------------------ float64 */

/* as store_t_f32 for a 12 x 16 tile: 8 x 8 blocks transposed in registers (rows 0-7
 * and 8-11 of each 8-column half), two masked stores per column */
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void transpose8_pd(__m512d *x) {
    __m512d t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_pd(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(x[2 * i], x[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        u[4 * g] = _mm512_shuffle_f64x2(t[4 * g], t[4 * g + 2], 0x88);
        u[4 * g + 1] = _mm512_shuffle_f64x2(t[4 * g + 1], t[4 * g + 3], 0x88);
        u[4 * g + 2] = _mm512_shuffle_f64x2(t[4 * g], t[4 * g + 2], 0xDD);
        u[4 * g + 3] = _mm512_shuffle_f64x2(t[4 * g + 1], t[4 * g + 3], 0xDD);
    }
    for (int s = 0; s < 4; s++) {
        x[s] = _mm512_shuffle_f64x2(u[s], u[4 + s], 0x88);
        x[4 + s] = _mm512_shuffle_f64x2(u[s], u[4 + s], 0xDD);
    }
}
FNN_TARGET_AVX512 static inline void store_t_f64(double *c, int64_t ldc, __m512d acc[12][2], int mr,
                                                 int nr, double alpha, double beta) {
    const __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
    for (int h = 0; h < 2 && 8 * h < nr; h++) {
        for (int r0 = 0; r0 < mr; r0 += 8) {
            const int rows = mr - r0 < 8 ? mr - r0 : 8;
            const __mmask8 m = (__mmask8)((1u << rows) - 1);
            __m512d x[8];
            for (int r = 0; r < 8; r++) x[r] = r < rows ? acc[r0 + r][h] : _mm512_setzero_pd();
            transpose8_pd(x);
            for (int j = 0; j < 8 && 8 * h + j < nr; j++) {
                double *cj = c + (8 * h + j) * ldc + r0;
                __m512d v = _mm512_mul_pd(va, x[j]);
                if (beta != 0.0) v = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(m, cj), v);
                _mm512_mask_storeu_pd(cj, m, v);
            }
        }
    }
}

/* ------------------------------------------------------------ the microkernels */

/* One definition for both dtypes: VOP(op) is the dtype's _mm512_<op>_ps / _pd and
 * VMASK(op) its _mm512_<op>_ps_mask / _pd_mask, defined around each instance. */
#define DEFINE_AVX512_UKR(T, SFX, V, M, LANES, NR)                                      \
FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void kloop_##SFX(        \
    int64_t k, const T *a, int64_t rsa, int64_t csa, const T *b, int64_t rsb, M m0,     \
    M m1, int plain, T *c, int64_t rsc, int64_t csc, V acc[12][2], const int PACKED,    \
    const int MASKED, const int HALF, const int R) {                                    \
    typedef V VEC;                                                                      \
    const int NLANES = LANES;                                                           \
    AVX512_KLOOP                                                                        \
}                                                                                       \
                                                                                        \
FNN_TARGET_AVX512 void fnn_ukr_avx512_##SFX(int64_t k, const T *a, int64_t rsa,         \
                                            int64_t csa, const T *b, int64_t rsb,       \
                                            int bmask, T *c, int64_t rsc, int64_t csc,  \
                                            int mr, int nr, T alpha, T beta,            \
                                            const fnn_epi_##SFX *epi) {                 \
    /* lanes [0, nr) of the two B vectors */                                            \
    const unsigned full_ = (1u << LANES) - 1;                                           \
    M m0 = (M)(nr >= LANES ? full_ : (1u << nr) - 1);                                   \
    M m1 = (M)(nr >= NR ? full_ : nr <= LANES ? 0 : (1u << (nr - LANES)) - 1);          \
    V acc[12][2];                                                                       \
    const int plain = csc == 1 && !epi && alpha == 1 && beta == 0;                      \
    const int masked = bmask && nr < NR, packed = rsa == 1, half = nr <= LANES;         \
    if (packed) {                                                                       \
        if (half && masked) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 1, 1, 1)          \
        else if (half) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 1, 0, 1)               \
        else if (masked) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 1, 1, 0)             \
        else AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 1, 0, 0)                         \
    } else {                                                                            \
        if (half && masked) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 0, 1, 1)          \
        else if (half) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 0, 0, 1)               \
        else if (masked) AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 0, 1, 0)             \
        else AVX512_DISPATCH(kloop_##SFX, AVX512_ARGS, 0, 0, 0)                         \
    }                                                                                   \
    if (plain) return;                                                                  \
    AVX512_STORE(T, V, LANES, NR, store_t_##SFX)                                        \
}
#define AVX512_ARGS k, a, rsa, csa, b, rsb, m0, m1, plain, c, rsc, csc, acc

#define VOP(op) _mm512_##op##_ps
#define VMASK(op) _mm512_##op##_ps_mask
DEFINE_AVX512_UKR(float, f32, __m512, __mmask16, 16, 32)
#undef VOP
#undef VMASK
#define VOP(op) _mm512_##op##_pd
#define VMASK(op) _mm512_##op##_pd_mask
DEFINE_AVX512_UKR(double, f64, __m512d, __mmask8, 8, 16)
#undef VOP
#undef VMASK

#else
/* not x86-64: nothing to compile (ISO C wants a declaration in every file) */
typedef int fnn_no_avx512_ukernels;
#endif
