/* gemm_ukernel_avx2.c -- AVX2+FMA register-tiled microkernels (see gemm.h).
 *
 * float32 6x16 and float64 6x8: 12 ymm accumulators, 2 ymm of B and one broadcast
 * of A per k step (15 of the 16 ymm registers). A is read by broadcasts from six row
 * pointers, so it may be packed or not (any strides); B rows are two unaligned
 * vectors, masked at a right edge that must not be over-read. Edge tiles keep the
 * vector loop and only mask the loads/stores: no scalar fall-off.
 * Compiled per function for AVX2+FMA; gemm.c calls these only when fnn_isa_level
 * says the CPU has them.
 */
#include "gemm.h"
#if FNN_X86
#include <immintrin.h>

static const int32_t fnn_lane_mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                              0, 0, 0, 0, 0, 0, 0, 0};

/* 32-bit lanes [0, n) set; n clamped to [0, 8] */
FNN_TARGET_AVX2 static inline __m256i lanes32(int n) {
    n = n < 0 ? 0 : (n > 8 ? 8 : n);
    return _mm256_loadu_si256((const __m256i *)(fnn_lane_mask_src + 8 - n));
}
/* 64-bit lanes [0, n) set; n clamped to [0, 4] */
FNN_TARGET_AVX2 static inline __m256i lanes64(int n) {
    n = n < 0 ? 0 : (n > 4 ? 4 : n);
    return _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(fnn_lane_mask_src + 8 - n)));
}

/* Store the first cnt lanes of v (cnt < 8 / < 4) in pieces: AMD cores execute
 * vmaskmov stores slowly, and an edge tile should not pay for that. */
FNN_TARGET_AVX2 static inline void store_tail_ps(float *p, __m256 v, int cnt) {
    __m128 x = _mm256_castps256_ps128(v);
    if (cnt >= 4) { _mm_storeu_ps(p, x); x = _mm256_extractf128_ps(v, 1); p += 4; cnt -= 4; }
    if (cnt >= 2) { _mm_storel_pi((__m64 *)p, x); x = _mm_movehl_ps(x, x); p += 2; cnt -= 2; }
    if (cnt >= 1) _mm_store_ss(p, x);
}
FNN_TARGET_AVX2 static inline void store_tail_pd(double *p, __m256d v, int cnt) {
    __m128d x = _mm256_castpd256_pd128(v);
    if (cnt >= 2) { _mm_storeu_pd(p, x); x = _mm256_extractf128_pd(v, 1); p += 2; cnt -= 2; }
    if (cnt >= 1) _mm_store_sd(p, x);
}

/* A tile of a transposed problem (rsc = 1, C strided by csc): row j of the stored C
 * takes column j of the tile, mr contiguous values. Transposed in registers, so each
 * row is one or two vector stores instead of mr scalar ones (with the scalar spill,
 * the stores cost as much as a k = 32 product: float64 X^T dY with ten outputs). Full
 * column blocks and 4- or 6-row tiles, no epilogue (the engine transposes only
 * without one); v(r) = alpha * C(r, j) + beta * C_old. */
FNN_TARGET_AVX2 static inline void store_t4_ps(float *p, __m128 v, __m128 va, __m128 vb, float beta) {
    v = _mm_mul_ps(va, v);
    if (beta != 0.0f) v = _mm_fmadd_ps(vb, _mm_loadu_ps(p), v);
    _mm_storeu_ps(p, v);
}
FNN_TARGET_AVX2 static inline void store_t2_ps(float *p, __m128 v, __m128 va, __m128 vb, float beta) {
    v = _mm_mul_ps(va, v); /* lanes 0-1 */
    if (beta != 0.0f) v = _mm_fmadd_ps(vb, _mm_castpd_ps(_mm_load_sd((const double *)p)), v);
    _mm_storel_pi((__m64 *)p, v);
}
/* columns 0-7 of rows 0-5 (x0..x5: one vector each) to rows 0-7 of C at p */
FNN_TARGET_AVX2 static inline void store_t8_ps(float *p, int64_t ld, int mr, __m256 x0, __m256 x1,
                                               __m256 x2, __m256 x3, __m256 x4, __m256 x5,
                                               float alpha, float beta) {
    __m128 va = _mm_set1_ps(alpha), vb = _mm_set1_ps(beta);
    __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
    __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
    /* q[j % 4]: column j (rows 0-3) in the low half for j < 4, the high half else */
    __m256 q[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xEE),
                   _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xEE)};
    for (int j = 0; j < 4; j++) {
        store_t4_ps(p + j * ld, _mm256_castps256_ps128(q[j]), va, vb, beta);
        store_t4_ps(p + (j + 4) * ld, _mm256_extractf128_ps(q[j], 1), va, vb, beta);
    }
    if (mr == 6) {
        /* u0 = rows 4-5 of columns 0, 1 | 4, 5; u1 of columns 2, 3 | 6, 7 */
        __m256 u0 = _mm256_unpacklo_ps(x4, x5), u1 = _mm256_unpackhi_ps(x4, x5);
        __m128 h[4] = {_mm256_castps256_ps128(u0), _mm256_castps256_ps128(u1),
                       _mm256_extractf128_ps(u0, 1), _mm256_extractf128_ps(u1, 1)};
        for (int g = 0; g < 4; g++) { /* h[g]: rows 4-5 of columns j and j + 1 */
            int64_t j = (g & 1) * 2 + (g >> 1) * 4;
            store_t2_ps(p + j * ld + 4, h[g], va, vb, beta);
            store_t2_ps(p + (j + 1) * ld + 4, _mm_movehl_ps(h[g], h[g]), va, vb, beta);
        }
    }
}
FNN_TARGET_AVX2 static inline void store_t_pd(double *p, __m256d v4, __m128d v2, int mr,
                                              __m256d va, __m256d vb, double beta) {
    v4 = _mm256_mul_pd(va, v4);
    if (beta != 0.0) v4 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(p), v4);
    _mm256_storeu_pd(p, v4);
    if (mr == 6) {
        v2 = _mm_mul_pd(_mm256_castpd256_pd128(va), v2);
        if (beta != 0.0) v2 = _mm_fmadd_pd(_mm256_castpd256_pd128(vb), _mm_loadu_pd(p + 4), v2);
        _mm_storeu_pd(p + 4, v2);
    }
}
/* columns 0-3 of rows 0-5 to rows 0-3 of C at p */
FNN_TARGET_AVX2 static inline void store_t4_pd(double *p, int64_t ld, int mr, __m256d x0, __m256d x1,
                                               __m256d x2, __m256d x3, __m256d x4, __m256d x5,
                                               double alpha, double beta) {
    __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
    __m256d t0 = _mm256_unpacklo_pd(x0, x1), t1 = _mm256_unpackhi_pd(x0, x1);
    __m256d t2 = _mm256_unpacklo_pd(x2, x3), t3 = _mm256_unpackhi_pd(x2, x3);
    __m256d u0 = _mm256_unpacklo_pd(x4, x5), u1 = _mm256_unpackhi_pd(x4, x5);
    store_t_pd(p, _mm256_permute2f128_pd(t0, t2, 0x20), _mm256_castpd256_pd128(u0), mr, va, vb, beta);
    store_t_pd(p + ld, _mm256_permute2f128_pd(t1, t3, 0x20), _mm256_castpd256_pd128(u1), mr, va, vb, beta);
    store_t_pd(p + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31), _mm256_extractf128_pd(u0, 1), mr, va, vb, beta);
    store_t_pd(p + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31), _mm256_extractf128_pd(u1, 1), mr, va, vb, beta);
}

/* The k loops are inline assembly: GCC's register allocator spills and shuffles
 * twelve ymm accumulators in this loop (measured ~25% slower); here the compiler
 * still picks the registers, but cannot reorder or spill inside the loop.
 * Per k step: B row -> b0 (and b1), then for each row r: t = broadcast A(r, p),
 * c_r0 += t * b0, c_r1 += t * b1. off walks A along k (bytes), b walks B rows. */
#define UK_ROW2(BC, FMA, R)                                                     \
    BC " (%[a" #R "],%[off]), %[t]\n\t"                                           \
    FMA " %[b0], %[t], %[c" #R "0]\n\t"                                           \
    FMA " %[b1], %[t], %[c" #R "1]\n\t"
#define UK_ROW1(BC, FMA, R)                                                     \
    BC " (%[a" #R "],%[off]), %[t]\n\t"                                           \
    FMA " %[b0], %[t], %[c" #R "0]\n\t"
#define UK_TAIL "add %[rsb], %[b]\n\t" "add %[csa], %[off]\n\t" "dec %[k]\n\t" "jnz 1b\n" "2:\n"
/* accumulators are zeroed inside the asm (outputs only: GCC allows 30 operands) */
#define UK_Z(R) "vxorps %[c" #R "], %[c" #R "], %[c" #R "]\n\t"
#define UK_ZERO12 UK_Z(00) UK_Z(01) UK_Z(10) UK_Z(11) UK_Z(20) UK_Z(21) UK_Z(30) UK_Z(31) \
    UK_Z(40) UK_Z(41) UK_Z(50) UK_Z(51)
#define UK_ZERO6 UK_Z(00) UK_Z(10) UK_Z(20) UK_Z(30) UK_Z(40) UK_Z(50)
#define UK_HEAD "test %[k], %[k]\n\t" "jle 2f\n\t" ".p2align 5\n" "1:\n\t"
#define UK_OUT12                                                                \
    [c00] "=&x"(c00), [c01] "=&x"(c01), [c10] "=&x"(c10), [c11] "=&x"(c11),     \
    [c20] "=&x"(c20), [c21] "=&x"(c21), [c30] "=&x"(c30), [c31] "=&x"(c31),     \
    [c40] "=&x"(c40), [c41] "=&x"(c41), [c50] "=&x"(c50), [c51] "=&x"(c51),     \
    [b0] "=&x"(b0), [b1] "=&x"(b1), [t] "=&x"(t), [b] "+r"(bp), [off] "+r"(off), \
    [k] "+r"(kk)
#define UK_OUT6                                                                 \
    [c00] "=&x"(c00), [c10] "=&x"(c10), [c20] "=&x"(c20), [c30] "=&x"(c30),     \
    [c40] "=&x"(c40), [c50] "=&x"(c50), [b0] "=&x"(b0), [t] "=&x"(t),           \
    [b] "+r"(bp), [off] "+r"(off), [k] "+r"(kk)
#define UK_IN                                                                   \
    [a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [a4] "r"(a4),       \
    [a5] "r"(a5), [rsb] "r"(rsb_bytes), [csa] "r"(csa_bytes)

/* full width: two plain loads of B per k step */
#define UK_LOOP_FULL(BC, FMA, LD)                                               \
    __asm__ volatile(UK_ZERO12 UK_HEAD LD " (%[b]), %[b0]\n\t" LD " 32(%[b]), %[b1]\n\t"    \
                     UK_ROW2(BC, FMA, 0) UK_ROW2(BC, FMA, 1) UK_ROW2(BC, FMA, 2)   \
                     UK_ROW2(BC, FMA, 3) UK_ROW2(BC, FMA, 4) UK_ROW2(BC, FMA, 5)   \
                     UK_TAIL : UK_OUT12 : UK_IN : "cc", "memory")
/* bottom edge tiles: fewer rows, fewer FMAs (unused accumulators stay zero). Every
 * tile sums k in the same order, so a row's result never depends on which tile it
 * falls in (its position in the batch): splitting a 2-row tile's k steps over spare
 * accumulators ran it ~30% faster but broke that, by an ulp. */
#define UK_LOOP_FULL_R4(BC, FMA, LD)                                            \
    __asm__ volatile(UK_ZERO12 UK_HEAD LD " (%[b]), %[b0]\n\t" LD " 32(%[b]), %[b1]\n\t"    \
                     UK_ROW2(BC, FMA, 0) UK_ROW2(BC, FMA, 1) UK_ROW2(BC, FMA, 2)   \
                     UK_ROW2(BC, FMA, 3)                                           \
                     UK_TAIL : UK_OUT12 : UK_IN : "cc", "memory")
#define UK_LOOP_FULL_R2(BC, FMA, LD)                                            \
    __asm__ volatile(UK_ZERO12 UK_HEAD LD " (%[b]), %[b0]\n\t" LD " 32(%[b]), %[b1]\n\t"    \
                     UK_ROW2(BC, FMA, 0) UK_ROW2(BC, FMA, 1)                       \
                     UK_TAIL : UK_OUT12 : UK_IN : "cc", "memory")
/* right edge wider than one vector: second B vector masked (16 ymm in use) */
#define UK_LOOP_HI(BC, FMA, LD, MLD)                                            \
    __asm__ volatile(UK_ZERO12 UK_HEAD LD " (%[b]), %[b0]\n\t"                              \
                     MLD " 32(%[b]), %[m1], %[b1]\n\t"                             \
                     UK_ROW2(BC, FMA, 0) UK_ROW2(BC, FMA, 1) UK_ROW2(BC, FMA, 2)   \
                     UK_ROW2(BC, FMA, 3) UK_ROW2(BC, FMA, 4) UK_ROW2(BC, FMA, 5)   \
                     UK_TAIL : UK_OUT12 : UK_IN, [m1] "x"(m1) : "cc", "memory")
/* right edge within one vector: one masked B vector, six accumulators */
#define UK_LOOP_LO(BC, FMA, MLD)                                                \
    __asm__ volatile(UK_ZERO6 UK_HEAD MLD " (%[b]), %[m0], %[b0]\n\t"                      \
                     UK_ROW1(BC, FMA, 0) UK_ROW1(BC, FMA, 1) UK_ROW1(BC, FMA, 2)   \
                     UK_ROW1(BC, FMA, 3) UK_ROW1(BC, FMA, 4) UK_ROW1(BC, FMA, 5)   \
                     UK_TAIL : UK_OUT6 : UK_IN, [m0] "x"(m0) : "cc", "memory")

/* ------------------------------------------------------------------ float32 */

FNN_TARGET_AVX2 static inline __m256 act_ps(__m256 v, int act, __m256 slope) {
    if (act == FNN_ACT_RELU) return _mm256_max_ps(_mm256_setzero_ps(), v); /* NaN passes */
    if (act == FNN_ACT_LEAKY_RELU) {
        __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_mul_ps(v, slope), v, pos);
    }
    return v;
}

FNN_TARGET_AVX2 void fnn_ukr_avx2_f32(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                      const float *b, int64_t rsb, int bmask, float *c,
                                      int64_t rsc, int64_t csc, int mr, int nr, float alpha,
                                      float beta, const fnn_epi_f32 *epi) {
    /* rows past mr alias row 0: never out of bounds, results discarded */
    const float *a0 = a, *a1 = a + (mr > 1 ? rsa : 0), *a2 = a + (mr > 2 ? 2 * rsa : 0),
                *a3 = a + (mr > 3 ? 3 * rsa : 0), *a4 = a + (mr > 4 ? 4 * rsa : 0),
                *a5 = a + (mr > 5 ? 5 * rsa : 0);
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    int64_t off = 0, kk = k;
    int64_t rsb_bytes = rsb * (int64_t)sizeof(float), csa_bytes = csa * (int64_t)sizeof(float);
    const float *bp = b;
    __m256 b0, b1, t;
    if (!bmask || nr == 16) {
        if (mr > 4) UK_LOOP_FULL("vbroadcastss", "vfmadd231ps", "vmovups");
        else if (mr > 2) UK_LOOP_FULL_R4("vbroadcastss", "vfmadd231ps", "vmovups");
        else UK_LOOP_FULL_R2("vbroadcastss", "vfmadd231ps", "vmovups");
    } else if (nr > 8) {
        __m256i m1 = lanes32(nr - 8);
        UK_LOOP_HI("vbroadcastss", "vfmadd231ps", "vmovups", "vmaskmovps");
    } else {
        __m256i m0 = lanes32(nr);
        UK_LOOP_LO("vbroadcastss", "vfmadd231ps", "vmaskmovps");
        c01 = c11 = c21 = c31 = c41 = c51 = _mm256_setzero_ps();
    }
    (void)b0; (void)b1; (void)t;

    /* alpha = 1, beta = 0, no epilogue, a full tile (most products): the accumulators are
     * the result. Stored as they are, a short-k tile (k = 10-32: weight and input gradients
     * of small layers) skips 12 multiply-adds and the epilogue's tests: +5-18% there. */
    if (!epi && alpha == 1.0f && beta == 0.0f && csc == 1 && nr == 16) {
#define F32_PLAIN(r) if (r < mr) { _mm256_storeu_ps(c + r * rsc, c##r##0); _mm256_storeu_ps(c + r * rsc + 8, c##r##1); }
        F32_PLAIN(0) F32_PLAIN(1) F32_PLAIN(2) F32_PLAIN(3) F32_PLAIN(4) F32_PLAIN(5)
#undef F32_PLAIN
        return;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int act = epi ? epi->act : FNN_ACT_IDENTITY;
    __m256 slope = _mm256_set1_ps(epi ? epi->param : 0.0f);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = bias0;
    __m256i m0 = lanes32(nr), m1 = lanes32(nr - 8);
    if (epi && epi->bias) {
        if (csc == 1 && nr == 16) {
            bias0 = _mm256_loadu_ps(epi->bias);
            bias1 = _mm256_loadu_ps(epi->bias + 8);
        } else if (csc == 1) {
            bias0 = _mm256_maskload_ps(epi->bias, m0);
            bias1 = _mm256_maskload_ps(epi->bias + 8, m1);
        }
    }

    if (csc == 1) {
#define F32_STORE(r)                                                                    \
    if (r < mr) {                                                                       \
        float *cr = c + r * rsc;                                                        \
        __m256 v0 = _mm256_fmadd_ps(va, c##r##0, bias0);                                \
        __m256 v1 = _mm256_fmadd_ps(va, c##r##1, bias1);                                \
        if (nr == 16) {                                                                 \
            if (beta != 0.0f) {                                                         \
                v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);                      \
                v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);                  \
            }                                                                           \
            _mm256_storeu_ps(cr, act_ps(v0, act, slope));                               \
            _mm256_storeu_ps(cr + 8, act_ps(v1, act, slope));                           \
        } else {                                                                        \
            if (beta != 0.0f) {                                                         \
                v0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), v0);               \
                v1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), v1);           \
            }                                                                           \
            v0 = act_ps(v0, act, slope);                                                \
            v1 = act_ps(v1, act, slope);                                                \
            if (nr >= 8) { _mm256_storeu_ps(cr, v0); store_tail_ps(cr + 8, v1, nr - 8); } \
            else store_tail_ps(cr, v0, nr);                                             \
        }                                                                               \
    }
        F32_STORE(0) F32_STORE(1) F32_STORE(2) F32_STORE(3) F32_STORE(4) F32_STORE(5)
#undef F32_STORE
    } else if (rsc == 1 && !epi && nr == 16 && (mr == 6 || mr == 4)) {
        store_t8_ps(c, csc, mr, c00, c10, c20, c30, c40, c50, alpha, beta);
        store_t8_ps(c + 8 * csc, csc, mr, c01, c11, c21, c31, c41, c51, alpha, beta);
    } else {
        /* other strided tiles: spill the tile, then scalar stores */
        float t[6][16];
#define F32_SPILL(r)                                                                    \
    _mm256_storeu_ps(t[r], _mm256_mul_ps(va, c##r##0));                                 \
    _mm256_storeu_ps(t[r] + 8, _mm256_mul_ps(va, c##r##1));
        F32_SPILL(0) F32_SPILL(1) F32_SPILL(2) F32_SPILL(3) F32_SPILL(4) F32_SPILL(5)
#undef F32_SPILL
        float p = epi ? epi->param : 0.0f;
        for (int j = 0; j < nr; j++) {
            float bj = (epi && epi->bias) ? epi->bias[j] : 0.0f;
            for (int r = 0; r < mr; r++) {
                float *cij = c + r * rsc + j * csc;
                float v = t[r][j] + bj;
                if (beta != 0.0f) v += beta * *cij;
                if (act == FNN_ACT_RELU) v = v > 0 ? v : (v != v ? v : 0.0f);
                else if (act == FNN_ACT_LEAKY_RELU) v = v > 0 ? v : p * v;
                *cij = v;
            }
        }
    }
}

/* ------------------------------------------------------------------ float64 */

FNN_TARGET_AVX2 static inline __m256d act_pd(__m256d v, int act, __m256d slope) {
    if (act == FNN_ACT_RELU) return _mm256_max_pd(_mm256_setzero_pd(), v);
    if (act == FNN_ACT_LEAKY_RELU) {
        __m256d pos = _mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_GT_OQ);
        return _mm256_blendv_pd(_mm256_mul_pd(v, slope), v, pos);
    }
    return v;
}

FNN_TARGET_AVX2 void fnn_ukr_avx2_f64(int64_t k, const double *a, int64_t rsa, int64_t csa,
                                      const double *b, int64_t rsb, int bmask, double *c,
                                      int64_t rsc, int64_t csc, int mr, int nr, double alpha,
                                      double beta, const fnn_epi_f64 *epi) {
    const double *a0 = a, *a1 = a + (mr > 1 ? rsa : 0), *a2 = a + (mr > 2 ? 2 * rsa : 0),
                 *a3 = a + (mr > 3 ? 3 * rsa : 0), *a4 = a + (mr > 4 ? 4 * rsa : 0),
                 *a5 = a + (mr > 5 ? 5 * rsa : 0);
    __m256d c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    int64_t off = 0, kk = k;
    int64_t rsb_bytes = rsb * (int64_t)sizeof(double), csa_bytes = csa * (int64_t)sizeof(double);
    const double *bp = b;
    __m256d b0, b1, t;
    if (!bmask || nr == 8) {
        if (mr > 4) UK_LOOP_FULL("vbroadcastsd", "vfmadd231pd", "vmovupd");
        else if (mr > 2) UK_LOOP_FULL_R4("vbroadcastsd", "vfmadd231pd", "vmovupd");
        else UK_LOOP_FULL_R2("vbroadcastsd", "vfmadd231pd", "vmovupd");
    } else if (nr > 4) {
        __m256i m1 = lanes64(nr - 4);
        UK_LOOP_HI("vbroadcastsd", "vfmadd231pd", "vmovupd", "vmaskmovpd");
    } else {
        __m256i m0 = lanes64(nr);
        UK_LOOP_LO("vbroadcastsd", "vfmadd231pd", "vmaskmovpd");
        c01 = c11 = c21 = c31 = c41 = c51 = _mm256_setzero_pd();
    }
    (void)b0; (void)b1; (void)t;

    if (!epi && alpha == 1.0 && beta == 0.0 && csc == 1 && nr == 8) { /* as float32's */
#define F64_PLAIN(r) if (r < mr) { _mm256_storeu_pd(c + r * rsc, c##r##0); _mm256_storeu_pd(c + r * rsc + 4, c##r##1); }
        F64_PLAIN(0) F64_PLAIN(1) F64_PLAIN(2) F64_PLAIN(3) F64_PLAIN(4) F64_PLAIN(5)
#undef F64_PLAIN
        return;
    }
    __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
    int act = epi ? epi->act : FNN_ACT_IDENTITY;
    __m256d slope = _mm256_set1_pd(epi ? epi->param : 0.0);
    __m256d bias0 = _mm256_setzero_pd(), bias1 = bias0;
    __m256i m0 = lanes64(nr), m1 = lanes64(nr - 4);
    if (epi && epi->bias) {
        if (csc == 1 && nr == 8) {
            bias0 = _mm256_loadu_pd(epi->bias);
            bias1 = _mm256_loadu_pd(epi->bias + 4);
        } else if (csc == 1) {
            bias0 = _mm256_maskload_pd(epi->bias, m0);
            bias1 = _mm256_maskload_pd(epi->bias + 4, m1);
        }
    }

    if (csc == 1) {
#define F64_STORE(r)                                                                    \
    if (r < mr) {                                                                       \
        double *cr = c + r * rsc;                                                       \
        __m256d v0 = _mm256_fmadd_pd(va, c##r##0, bias0);                               \
        __m256d v1 = _mm256_fmadd_pd(va, c##r##1, bias1);                               \
        if (nr == 8) {                                                                  \
            if (beta != 0.0) {                                                          \
                v0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(cr), v0);                      \
                v1 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(cr + 4), v1);                  \
            }                                                                           \
            _mm256_storeu_pd(cr, act_pd(v0, act, slope));                               \
            _mm256_storeu_pd(cr + 4, act_pd(v1, act, slope));                           \
        } else {                                                                        \
            if (beta != 0.0) {                                                          \
                v0 = _mm256_fmadd_pd(vb, _mm256_maskload_pd(cr, m0), v0);               \
                v1 = _mm256_fmadd_pd(vb, _mm256_maskload_pd(cr + 4, m1), v1);           \
            }                                                                           \
            v0 = act_pd(v0, act, slope);                                                \
            v1 = act_pd(v1, act, slope);                                                \
            if (nr >= 4) { _mm256_storeu_pd(cr, v0); store_tail_pd(cr + 4, v1, nr - 4); } \
            else store_tail_pd(cr, v0, nr);                                             \
        }                                                                               \
    }
        F64_STORE(0) F64_STORE(1) F64_STORE(2) F64_STORE(3) F64_STORE(4) F64_STORE(5)
#undef F64_STORE
    } else if (rsc == 1 && !epi && nr == 8 && (mr == 6 || mr == 4)) {
        store_t4_pd(c, csc, mr, c00, c10, c20, c30, c40, c50, alpha, beta);
        store_t4_pd(c + 4 * csc, csc, mr, c01, c11, c21, c31, c41, c51, alpha, beta);
    } else {
        double t[6][8];
#define F64_SPILL(r)                                                                    \
    _mm256_storeu_pd(t[r], _mm256_mul_pd(va, c##r##0));                                 \
    _mm256_storeu_pd(t[r] + 4, _mm256_mul_pd(va, c##r##1));
        F64_SPILL(0) F64_SPILL(1) F64_SPILL(2) F64_SPILL(3) F64_SPILL(4) F64_SPILL(5)
#undef F64_SPILL
        double p = epi ? epi->param : 0.0;
        for (int j = 0; j < nr; j++) {
            double bj = (epi && epi->bias) ? epi->bias[j] : 0.0;
            for (int r = 0; r < mr; r++) {
                double *cij = c + r * rsc + j * csc;
                double v = t[r][j] + bj;
                if (beta != 0.0) v += beta * *cij;
                if (act == FNN_ACT_RELU) v = v > 0 ? v : (v != v ? v : 0.0);
                else if (act == FNN_ACT_LEAKY_RELU) v = v > 0 ? v : p * v;
                *cij = v;
            }
        }
    }
}

/* ------------------------------------------------------- narrow-output dot kernels */

/* C(r, j) = epi(alpha * sum_p A(r, p) Bt(j, p) + beta * C(r, j)) for r < m, j < n <= 12,
 * A(r, p) at a[r*rsa + p], Bt(j, p) at bt[j*ldbt + p]: both contiguous along k, so the
 * vectors run along k and every lane is used, where a register tile would fill 10 of
 * its 16 columns. One accumulator per element of a tile of 2 rows x n <= 6 or 1 row x
 * n <= 12; each sum is reduced by the same tree whatever tile it is in, so a row's
 * result does not depend on its position in the batch. k tail: masked loads. */
#define DOT_J_MAX 12

/* Reduce accumulators v[0..J) (J <= 12) of one row and store them with the epilogue,
 * by the register tiles' rule: act(alpha * sum + bias + beta * C). The reduction
 * transposes while it adds (hadd), so every sum takes the same tree,
 * ((v0+v1)+(v2+v3)) + ((v4+v5)+(v6+v7)) (float64: (v0+v1)+(v2+v3)). */
FNN_TARGET_AVX2 static inline __attribute__((always_inline)) void dot_row_f32(
    float *c, const __m256 *v, int J, float alpha, float beta, const fnn_epi_f32 *epi, int64_t j0) {
    __m256 z = _mm256_setzero_ps();
    for (int g = 0; g < J; g += 8, c += 8, j0 += 8) {
        int w = J - g < 8 ? J - g : 8;
        __m256 h01 = _mm256_hadd_ps(v[g], w > 1 ? v[g + 1] : z);
        __m256 h23 = _mm256_hadd_ps(w > 2 ? v[g + 2] : z, w > 3 ? v[g + 3] : z);
        __m256 h45 = _mm256_hadd_ps(w > 4 ? v[g + 4] : z, w > 5 ? v[g + 5] : z);
        __m256 h67 = _mm256_hadd_ps(w > 6 ? v[g + 6] : z, w > 7 ? v[g + 7] : z);
        __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
        /* q0 = [sums 0-3 over lanes 0-3 | over lanes 4-7], q1 likewise for 4-7 */
        __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
        __m256i m = lanes32(w);
        __m256 bias = (epi && epi->bias) ? _mm256_maskload_ps(epi->bias + j0, m) : z;
        s = _mm256_fmadd_ps(_mm256_set1_ps(alpha), s, bias);
        if (beta != 0.0f) s = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, m), s);
        if (epi) s = act_ps(s, epi->act, _mm256_set1_ps(epi->param));
        if (w == 8) _mm256_storeu_ps(c, s);
        else store_tail_ps(c, s, w);
    }
}
FNN_TARGET_AVX2 static inline __attribute__((always_inline)) void dot_row_f64(
    double *c, const __m256d *v, int J, double alpha, double beta, const fnn_epi_f64 *epi, int64_t j0) {
    __m256d z = _mm256_setzero_pd();
    for (int g = 0; g < J; g += 4, c += 4, j0 += 4) {
        int w = J - g < 4 ? J - g : 4;
        __m256d h01 = _mm256_hadd_pd(v[g], w > 1 ? v[g + 1] : z);
        __m256d h23 = _mm256_hadd_pd(w > 2 ? v[g + 2] : z, w > 3 ? v[g + 3] : z);
        __m256d s = _mm256_add_pd(_mm256_permute2f128_pd(h01, h23, 0x20), _mm256_permute2f128_pd(h01, h23, 0x31));
        __m256i m = lanes64(w);
        __m256d bias = (epi && epi->bias) ? _mm256_maskload_pd(epi->bias + j0, m) : z;
        s = _mm256_fmadd_pd(_mm256_set1_pd(alpha), s, bias);
        if (beta != 0.0) s = _mm256_fmadd_pd(_mm256_set1_pd(beta), _mm256_maskload_pd(c, m), s);
        if (epi) s = act_pd(s, epi->act, _mm256_set1_pd(epi->param));
        if (w == 4) _mm256_storeu_pd(c, s);
        else store_tail_pd(c, s, w);
    }
}

/* One tile: R rows x J columns (constants after inlining). */
#define DOT_TILE(SFX, T, V, W, LOAD, MLOAD, FMA, ZERO, LANES)                           \
FNN_TARGET_AVX2 static inline __attribute__((always_inline)) void dot_tile_##SFX(      \
    int64_t k, const T *a, int64_t rsa, const T *bt, int64_t ldbt, T *c, int64_t rsc,   \
    T alpha, T beta, const fnn_epi_##SFX *epi, const int R, const int J) {              \
    V acc[2][DOT_J_MAX];                                                                \
    for (int r = 0; r < R; r++)                                                         \
        for (int j = 0; j < J; j++) acc[r][j] = ZERO();                                 \
    int64_t p = 0;                                                                      \
    for (; p + W <= k; p += W) {                                                        \
        V x0 = LOAD(a + p), x1 = R > 1 ? LOAD(a + rsa + p) : x0;                        \
        for (int j = 0; j < J; j++) {                                                   \
            V w = LOAD(bt + j * ldbt + p);                                              \
            acc[0][j] = FMA(x0, w, acc[0][j]);                                          \
            if (R > 1) acc[1][j] = FMA(x1, w, acc[1][j]);                               \
        }                                                                               \
    }                                                                                   \
    if (p < k) {                                                                        \
        __m256i msk = LANES((int)(k - p));                                              \
        V x0 = MLOAD(a + p, msk), x1 = R > 1 ? MLOAD(a + rsa + p, msk) : x0;            \
        for (int j = 0; j < J; j++) {                                                   \
            V w = MLOAD(bt + j * ldbt + p, msk);                                        \
            acc[0][j] = FMA(x0, w, acc[0][j]);                                          \
            if (R > 1) acc[1][j] = FMA(x1, w, acc[1][j]);                               \
        }                                                                               \
    }                                                                                   \
    for (int r = 0; r < R; r++)                                                         \
        dot_row_##SFX(c + r * rsc, acc[r], J, alpha, beta, epi, 0);                     \
}
DOT_TILE(f32, float, __m256, 8, _mm256_loadu_ps, _mm256_maskload_ps, _mm256_fmadd_ps,
         _mm256_setzero_ps, lanes32)
DOT_TILE(f64, double, __m256d, 4, _mm256_loadu_pd, _mm256_maskload_pd, _mm256_fmadd_pd,
         _mm256_setzero_pd, lanes64)

/* All m rows: pairs of rows when n <= 6 (12 accumulators at most), else single rows
 * with all n columns (A is then read once, and 7-12 independent sums hide the FMA
 * latency). */
#define DOT_CASES(SFX, R, ...)                                                          \
    switch (n) {                                                                        \
    case 1: dot_tile_##SFX(__VA_ARGS__, R, 1); break;                                   \
    case 2: dot_tile_##SFX(__VA_ARGS__, R, 2); break;                                   \
    case 3: dot_tile_##SFX(__VA_ARGS__, R, 3); break;                                   \
    case 4: dot_tile_##SFX(__VA_ARGS__, R, 4); break;                                   \
    case 5: dot_tile_##SFX(__VA_ARGS__, R, 5); break;                                   \
    case 6: dot_tile_##SFX(__VA_ARGS__, R, 6); break;                                   \
    case 7: dot_tile_##SFX(__VA_ARGS__, 1, 7); break;                                   \
    case 8: dot_tile_##SFX(__VA_ARGS__, 1, 8); break;                                   \
    case 9: dot_tile_##SFX(__VA_ARGS__, 1, 9); break;                                   \
    case 10: dot_tile_##SFX(__VA_ARGS__, 1, 10); break;                                 \
    case 11: dot_tile_##SFX(__VA_ARGS__, 1, 11); break;                                 \
    default: dot_tile_##SFX(__VA_ARGS__, 1, 12); break;                                 \
    }
#define DOT_DRIVER(SFX, T)                                                              \
FNN_TARGET_AVX2 void fnn_dot_avx2_##SFX(int64_t k, const T *a, int64_t rsa, int64_t m,  \
                                         const T *bt, int64_t ldbt, int64_t n, T *c,    \
                                         int64_t rsc, T alpha, T beta,                  \
                                         const fnn_epi_##SFX *epi) {                    \
    int64_t step = n <= 6 ? 2 : 1, r = 0;                                               \
    for (; r + step <= m; r += step)                                                    \
        DOT_CASES(SFX, 2, k, a + r * rsa, rsa, bt, ldbt, c + r * rsc, rsc, alpha, beta, epi) \
    if (r < m)                                                                          \
        DOT_CASES(SFX, 1, k, a + r * rsa, rsa, bt, ldbt, c + r * rsc, rsc, alpha, beta, epi) \
}
DOT_DRIVER(f32, float)
DOT_DRIVER(f64, double)

#else
/* not x86-64: nothing to compile (ISO C wants a declaration in every file) */
typedef int fnn_no_avx2_ukernels;
#endif
