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
    } else {
        /* strided C (a transposed problem): spill the tile, then scalar stores */
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

#else
/* not x86-64: nothing to compile (ISO C wants a declaration in every file) */
typedef int fnn_no_avx2_ukernels;
#endif
