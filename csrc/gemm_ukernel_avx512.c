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
 * PACKED: rsa = 1 (a packed panel, or A^T read in place), one pointer for all rows.
 * MASKED: the B rows are loaded under m0 / m1. plain: alpha = 1, beta = 0, no
 * epilogue, C row-major -- the registers are stored as the result; else they go to
 * acc for the epilogue. */
#define AVX512_ACC(r) V c##r##a = ZERO(), c##r##b = ZERO();
#define AVX512_ROW(r)                                                                   \
    if (R > r) {                                                                        \
        V t = SET1(PACKED ? a[off + r] : a[r * rsa + off]);                             \
        c##r##a = FMA(t, b0, c##r##a);                                                  \
        c##r##b = FMA(t, b1, c##r##b);                                                  \
    }
#define AVX512_OUT(r)                                                                   \
    if (R > r) {                                                                        \
        if (plain) {                                                                    \
            MSTOREU(c + r * rsc, m0, c##r##a);                                          \
            MSTOREU(c + r * rsc + LANES, m1, c##r##b);                                  \
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
        _mm_prefetch((const char *)(c + r * rsc + LANES), _MM_HINT_T0);                 \
    }
#define AVX512_KLOOP                                                                    \
    AVX512_REP(AVX512_PREFETCH_C)                                                       \
    AVX512_REP(AVX512_ACC)                                                              \
    for (int64_t p = 0, off = 0; p < k; p++, b += rsb, off += csa) {                    \
        V b0 = MASKED ? MLOADU(m0, b) : LOADU(b);                                       \
        V b1 = MASKED ? MLOADU(m1, b + LANES) : LOADU(b + LANES);                       \
        AVX512_REP(AVX512_ROW)                                                          \
    }                                                                                   \
    AVX512_REP(AVX512_OUT)

/* One instance per row count, B masking and A packing. */
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
#define AVX512_STORE(T, V, LANES, NR, SET1, LOADU, MLOADU, STOREU, MSTOREU,                \
                     FMA, MUL, MAX, CMPMASK, BLEND, ZERO, GATHER_T)                     \
    const int act = epi ? epi->act : FNN_ACT_IDENTITY;                                  \
    const V va = SET1(alpha), vb = SET1(beta), slope = SET1(epi ? epi->param : (T)0);   \
    const int full = nr == NR;                                                          \
    if (csc == 1) {                                                                     \
        V bias0 = ZERO(), bias1 = ZERO();                                               \
        if (epi && epi->bias) {                                                         \
            bias0 = MLOADU(m0, epi->bias);                                              \
            bias1 = MLOADU(m1, epi->bias + LANES);                                      \
        }                                                                               \
        for (int r = 0; r < mr; r++) {                                                  \
            T *cr = c + r * rsc;                                                        \
            V v0 = FMA(va, acc[r][0], bias0), v1 = FMA(va, acc[r][1], bias1);           \
            if (beta != 0) {                                                            \
                v0 = FMA(vb, full ? LOADU(cr) : MLOADU(m0, cr), v0);                    \
                v1 = FMA(vb, full ? LOADU(cr + LANES) : MLOADU(m1, cr + LANES), v1);    \
            }                                                                           \
            if (act == FNN_ACT_RELU) { v0 = MAX(ZERO(), v0); v1 = MAX(ZERO(), v1); }    \
            else if (act == FNN_ACT_LEAKY_RELU) {                                       \
                v0 = BLEND(CMPMASK(v0, ZERO(), _CMP_GT_OQ), MUL(v0, slope), v0);        \
                v1 = BLEND(CMPMASK(v1, ZERO(), _CMP_GT_OQ), MUL(v1, slope), v1);        \
            }                                                                           \
            MSTOREU(cr, m0, v0);                                                        \
            MSTOREU(cr + LANES, m1, v1);                                                \
        }                                                                               \
        return;                                                                         \
    }                                                                                   \
    /* C strided by csc: spill alpha * tile, then write C column by column */           \
    T t[12][NR];                                                                        \
    for (int r = 0; r < mr; r++) {                                                      \
        STOREU(t[r], MUL(va, acc[r][0]));                                               \
        STOREU(t[r] + LANES, MUL(va, acc[r][1]));                                       \
    }                                                                                   \
    const T prm = epi ? epi->param : (T)0;                                              \
    if (rsc == 1 && !epi) {                                                             \
        /* a transposed problem: column j of the tile is mr contiguous values of C */   \
        for (int j = 0; j < nr; j++) GATHER_T(c + j * csc, &t[0][j], mr, beta);         \
        return;                                                                         \
    }                                                                                   \
    for (int j = 0; j < nr; j++) {                                                      \
        T bj = (epi && epi->bias) ? epi->bias[j] : (T)0;                                \
        for (int r = 0; r < mr; r++) {                                                  \
            T *cij = c + r * rsc + j * csc;                                             \
            T v = t[r][j] + bj;                                                         \
            if (beta != 0) v += beta * *cij;                                            \
            if (act == FNN_ACT_RELU) v = v > 0 ? v : (v != v ? v : (T)0);               \
            else if (act == FNN_ACT_LEAKY_RELU) v = v > 0 ? v : prm * v;               \
            *cij = v;                                                                   \
        }                                                                               \
    }

/* ------------------------------------------------------------------ float32 */

/* dst[0:mr] = col[0], col[32], ... (one column of a spilled 12 x 32 tile) + beta * dst:
 * one gather from L1 and one masked store, instead of mr scalar copies */
FNN_TARGET_AVX512 static inline void gather_t_f32(float *dst, const float *col, int mr, float beta) {
    const __m512i idx = _mm512_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352,
                                          0, 0, 0, 0);
    __mmask16 m = (__mmask16)((1u << mr) - 1);
    __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, col, 4);
    if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, dst), v);
    _mm512_mask_storeu_ps(dst, m, v);
}

FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void kloop_f32(
    int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
    __mmask16 m0, __mmask16 m1, int plain, float *c, int64_t rsc, int64_t csc, __m512 acc[12][2],
    const int PACKED, const int MASKED, const int R) {
    typedef __m512 V;
    const int LANES = 16;
#define ZERO _mm512_setzero_ps
#define SET1 _mm512_set1_ps
#define LOADU _mm512_loadu_ps
#define MLOADU _mm512_maskz_loadu_ps
#define MSTOREU _mm512_mask_storeu_ps
#define FMA _mm512_fmadd_ps
    AVX512_KLOOP
#undef ZERO
#undef SET1
#undef LOADU
#undef MLOADU
#undef MSTOREU
#undef FMA
}

FNN_TARGET_AVX512 void fnn_ukr_avx512_f32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                          const float *b, int64_t rsb, int bmask, float *c,
                                          int64_t rsc, int64_t csc, int mr, int nr, float alpha,
                                          float beta, const fnn_epi_f32 *epi) {
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    __m512 acc[12][2];
    const int plain = csc == 1 && !epi && alpha == 1.0f && beta == 0.0f;
    const int masked = bmask && nr < 32, packed = rsa == 1;
#define ARGS k, a, rsa, csa, b, rsb, m0, m1, plain, c, rsc, csc, acc
    if (packed && !masked) AVX512_DISPATCH(kloop_f32, ARGS, 1, 0)
    else if (packed) AVX512_DISPATCH(kloop_f32, ARGS, 1, 1)
    else if (!masked) AVX512_DISPATCH(kloop_f32, ARGS, 0, 0)
    else AVX512_DISPATCH(kloop_f32, ARGS, 0, 1)
#undef ARGS
    if (plain) return;
    AVX512_STORE(float, __m512, 16, 32, _mm512_set1_ps, _mm512_loadu_ps,
                 _mm512_maskz_loadu_ps, _mm512_storeu_ps, _mm512_mask_storeu_ps, _mm512_fmadd_ps,
                 _mm512_mul_ps, _mm512_max_ps, _mm512_cmp_ps_mask, _mm512_mask_blend_ps,
                 _mm512_setzero_ps, gather_t_f32)
}

/* ------------------------------------------------------------------ float64 */

/* as gather_t_f32, a column of a 12 x 16 tile: rows 0-7 and 8-11 in two gathers */
FNN_TARGET_AVX512 static inline void gather_t_f64(double *dst, const double *col, int mr, double beta) {
    const __m256i idx = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
    const __m512d vb = _mm512_set1_pd(beta);
    for (int r0 = 0; r0 < mr; r0 += 8) {
        int n = mr - r0 < 8 ? mr - r0 : 8;
        __mmask8 m = (__mmask8)((1u << n) - 1);
        __m512d v = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, idx, col + r0 * 16, 8);
        if (beta != 0.0) v = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(m, dst + r0), v);
        _mm512_mask_storeu_pd(dst + r0, m, v);
    }
}

FNN_TARGET_AVX512 static inline __attribute__((always_inline)) void kloop_f64(
    int64_t k, const double *a, int64_t rsa, int64_t csa, const double *b, int64_t rsb,
    __mmask8 m0, __mmask8 m1, int plain, double *c, int64_t rsc, int64_t csc, __m512d acc[12][2],
    const int PACKED, const int MASKED, const int R) {
    typedef __m512d V;
    const int LANES = 8;
#define ZERO _mm512_setzero_pd
#define SET1 _mm512_set1_pd
#define LOADU _mm512_loadu_pd
#define MLOADU _mm512_maskz_loadu_pd
#define MSTOREU _mm512_mask_storeu_pd
#define FMA _mm512_fmadd_pd
    AVX512_KLOOP
#undef ZERO
#undef SET1
#undef LOADU
#undef MLOADU
#undef MSTOREU
#undef FMA
}

FNN_TARGET_AVX512 void fnn_ukr_avx512_f64(int64_t k, const double *a, int64_t rsa, int64_t csa,
                                          const double *b, int64_t rsb, int bmask, double *c,
                                          int64_t rsc, int64_t csc, int mr, int nr, double alpha,
                                          double beta, const fnn_epi_f64 *epi) {
    __mmask8 m0 = (__mmask8)(nr >= 8 ? 0xFF : (1u << nr) - 1);
    __mmask8 m1 = (__mmask8)(nr >= 16 ? 0xFF : nr <= 8 ? 0 : (1u << (nr - 8)) - 1);
    __m512d acc[12][2];
    const int plain = csc == 1 && !epi && alpha == 1.0 && beta == 0.0;
    const int masked = bmask && nr < 16, packed = rsa == 1;
#define ARGS k, a, rsa, csa, b, rsb, m0, m1, plain, c, rsc, csc, acc
    if (packed && !masked) AVX512_DISPATCH(kloop_f64, ARGS, 1, 0)
    else if (packed) AVX512_DISPATCH(kloop_f64, ARGS, 1, 1)
    else if (!masked) AVX512_DISPATCH(kloop_f64, ARGS, 0, 0)
    else AVX512_DISPATCH(kloop_f64, ARGS, 0, 1)
#undef ARGS
    if (plain) return;
    AVX512_STORE(double, __m512d, 8, 16, _mm512_set1_pd, _mm512_loadu_pd,
                 _mm512_maskz_loadu_pd, _mm512_storeu_pd, _mm512_mask_storeu_pd, _mm512_fmadd_pd,
                 _mm512_mul_pd, _mm512_max_pd, _mm512_cmp_pd_mask, _mm512_mask_blend_pd,
                 _mm512_setzero_pd, gather_t_f64)
}

#else
/* not x86-64: nothing to compile (ISO C wants a declaration in every file) */
typedef int fnn_no_avx512_ukernels;
#endif
