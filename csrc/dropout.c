/* dropout.c -- inverted dropout with a counter-based mask: keep(i) depends only
 * on (key, i), so forward and backward recompute the same mask without storing
 * it, and every backend (NumPy, Numba, C) draws bit-identical masks.
 *
 * The hash is splitmix64's finaliser (fastnn.h states it). Its 64-bit multiplies
 * have no single SIMD instruction before AVX-512DQ: the AVX2 and AVX-512F passes
 * build them from 32x32->64 partial products (pmuludq), 4 and 8 lanes at a time.
 * y = x * (keep ? scale : 0) keeps NumPy's signs (x * 0 of a negative x is -0.0) and
 * NaN/inf behaviour.
 */
#include "internal.h"
#include "simd_math.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

static inline __attribute__((always_inline)) uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t fnn_mix64(uint64_t z) { return mix64(z); }

/* y[i] for i in [0, n), element first + i of the whole array: the counter is the
 * global index, so chunks are independent */
#define DEFINE_DROPOUT_PASS(T, SFX, ISA, ATTR)                                          \
static ATTR void dropout_##SFX##_##ISA(T *y, const T *x, int64_t n, int64_t first,      \
                                        uint64_t key, uint32_t threshold, T scale) {    \
    _Pragma("GCC ivdep")                                                                \
    for (int64_t i = 0; i < n; i++) {                                                   \
        uint64_t h = mix64(key + (uint64_t)(first + i + 1) * GOLDEN);                   \
        y[i] = x[i] * fnn_sel_##SFX((uint32_t)(h >> 40) >= threshold, scale, (T)0);     \
    }                                                                                   \
}

DEFINE_DROPOUT_PASS(float, f32, generic, )
DEFINE_DROPOUT_PASS(double, f64, generic, )

#if FNN_X86
#include <immintrin.h>

/* AVX2 by hand: gcc's vectorisation of the loop above recomputed (i + 1) * GOLDEN
 * and the whole 64-bit products with 32-bit partial multiplies, ~4.6 cycles per
 * element. Here the counter is stepped by an add, and only bits 40..63 of the hash
 * are kept: those of the last multiply's product (mix64's final z ^ z >> 31 leaves
 * them unchanged), compared as 24-bit values. Bit-identical to the generic pass. */

/* a * c mod 2^64 in each 64-bit lane, c given as its 32-bit halves */
FNN_TARGET_AVX2 static inline __m256i mul64(__m256i a, __m256i c_lo, __m256i c_hi) {
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c_lo),
                                     _mm256_mul_epu32(a, c_hi));
    return _mm256_add_epi64(_mm256_mul_epu32(a, c_lo), _mm256_slli_epi64(cross, 32));
}

typedef struct { __m256i c1_lo, c1_hi, c2_lo, c2_hi, thr; } drop_consts;

FNN_TARGET_AVX2 static inline drop_consts drop_consts_for(uint32_t threshold) {
    drop_consts k;
    k.c1_lo = _mm256_set1_epi64x(0x1CE4E5B9LL); k.c1_hi = _mm256_set1_epi64x(0xBF58476DLL);
    k.c2_lo = _mm256_set1_epi64x(0x133111EBLL); k.c2_hi = _mm256_set1_epi64x(0x94D049BBLL);
    k.thr = _mm256_set1_epi64x((int64_t)threshold);
    return k;
}

/* all ones in the lanes whose element is dropped: (mix64(z) >> 40) < threshold */
FNN_TARGET_AVX2 static inline __m256i dropped4(__m256i z, const drop_consts *k) {
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 30));
    z = mul64(z, k->c1_lo, k->c1_hi);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 27));
    z = mul64(z, k->c2_lo, k->c2_hi);
    return _mm256_cmpgt_epi64(k->thr, _mm256_srli_epi64(z, 40)); /* both < 2^32: signed is exact */
}

FNN_TARGET_AVX2 static void dropout_f32_avx2(float *y, const float *x, int64_t n, int64_t first,
                                             uint64_t key, uint32_t threshold, float scale) {
    drop_consts k = drop_consts_for(threshold);
    const __m256 vscale = _mm256_set1_ps(scale);
    /* eight elements per step: even ones in the lanes of `ev`, odd ones in `od`, so the
     * two 64-bit masks interleave into element order as 32-bit lanes */
    uint64_t c = key + (uint64_t)(first + 1) * GOLDEN;
    const uint64_t g = GOLDEN;
    __m256i ev = _mm256_setr_epi64x((int64_t)c, (int64_t)(c + 2 * g), (int64_t)(c + 4 * g), (int64_t)(c + 6 * g));
    __m256i od = _mm256_add_epi64(ev, _mm256_set1_epi64x((int64_t)g));
    const __m256i step = _mm256_set1_epi64x((int64_t)(8 * g));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i d = _mm256_blend_epi32(dropped4(ev, &k), _mm256_slli_epi64(dropped4(od, &k), 32), 0xAA);
        __m256 factor = _mm256_andnot_ps(_mm256_castsi256_ps(d), vscale);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), factor));
        ev = _mm256_add_epi64(ev, step);
        od = _mm256_add_epi64(od, step);
    }
    dropout_f32_generic(y + i, x + i, n - i, first + i, key, threshold, scale);
}

FNN_TARGET_AVX2 static void dropout_f64_avx2(double *y, const double *x, int64_t n, int64_t first,
                                             uint64_t key, uint32_t threshold, double scale) {
    drop_consts k = drop_consts_for(threshold);
    const __m256d vscale = _mm256_set1_pd(scale);
    uint64_t c = key + (uint64_t)(first + 1) * GOLDEN;
    const uint64_t g = GOLDEN;
    __m256i z = _mm256_setr_epi64x((int64_t)c, (int64_t)(c + g), (int64_t)(c + 2 * g), (int64_t)(c + 3 * g));
    const __m256i step = _mm256_set1_epi64x((int64_t)(4 * g));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d factor = _mm256_andnot_pd(_mm256_castsi256_pd(dropped4(z, &k)), vscale);
        _mm256_storeu_pd(y + i, _mm256_mul_pd(_mm256_loadu_pd(x + i), factor));
        z = _mm256_add_epi64(z, step);
    }
    dropout_f64_generic(y + i, x + i, n - i, first + i, key, threshold, scale);
}

/* AVX-512F: the AVX2 pass on 8 lanes, elements in lane order (8 consecutive counters a
 * vector), the mask compared into a k register. Port 0 alone runs 512-bit multiplies and
 * shifts, 12 of them per 8 hashes, so twice the lanes gave 1.4x, not 2x (Xeon, one
 * thread, 128 x 256: float32 18.9 -> 13.7 us, float64 20.0 -> 14.7; Numba's AVX-512
 * build of the generic loop 14.8 and 21.2). Bit-identical to the generic pass. */
FNN_TARGET_AVX512 static inline __m512i mul64_x8(__m512i a, __m512i c_lo, __m512i c_hi) {
    __m512i cross = _mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(a, 32), c_lo),
                                     _mm512_mul_epu32(a, c_hi));
    return _mm512_add_epi64(_mm512_mul_epu32(a, c_lo), _mm512_slli_epi64(cross, 32));
}

/* the counters c, c + g, ..., c + 7 g */
FNN_TARGET_AVX512 static inline __m512i counters8(uint64_t c, uint64_t g) {
    return _mm512_set_epi64((int64_t)(c + 7 * g), (int64_t)(c + 6 * g), (int64_t)(c + 5 * g),
                            (int64_t)(c + 4 * g), (int64_t)(c + 3 * g), (int64_t)(c + 2 * g),
                            (int64_t)(c + g), (int64_t)c);
}

/* bit j set when element j of the 8 counters z is kept: (mix64(z) >> 40) >= threshold */
FNN_TARGET_AVX512 static inline __mmask8 kept8(__m512i z, __m512i thr) {
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = mul64_x8(z, _mm512_set1_epi64(0x1CE4E5B9LL), _mm512_set1_epi64(0xBF58476DLL));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = mul64_x8(z, _mm512_set1_epi64(0x133111EBLL), _mm512_set1_epi64(0x94D049BBLL));
    return _mm512_cmpge_epu64_mask(_mm512_srli_epi64(z, 40), thr);
}

FNN_TARGET_AVX512 static void dropout_f32_avx512(float *y, const float *x, int64_t n, int64_t first,
                                                 uint64_t key, uint32_t threshold, float scale) {
    const __m512i thr = _mm512_set1_epi64((int64_t)threshold);
    const __m512 vscale = _mm512_set1_ps(scale);
    const uint64_t g = GOLDEN, c = key + (uint64_t)(first + 1) * g;
    __m512i lo = counters8(c, g);
    __m512i hi = _mm512_add_epi64(lo, _mm512_set1_epi64((int64_t)(8 * g)));
    const __m512i step = _mm512_set1_epi64((int64_t)(16 * g));
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __mmask16 keep = _mm512_kunpackb(kept8(hi, thr), kept8(lo, thr));
        __m512 factor = _mm512_maskz_mov_ps(keep, vscale); /* x * 0, not 0: NumPy's signs and NaNs */
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), factor));
        lo = _mm512_add_epi64(lo, step);
        hi = _mm512_add_epi64(hi, step);
    }
    dropout_f32_generic(y + i, x + i, n - i, first + i, key, threshold, scale);
}

FNN_TARGET_AVX512 static void dropout_f64_avx512(double *y, const double *x, int64_t n, int64_t first,
                                                 uint64_t key, uint32_t threshold, double scale) {
    const __m512i thr = _mm512_set1_epi64((int64_t)threshold);
    const __m512d vscale = _mm512_set1_pd(scale);
    const uint64_t g = GOLDEN, c = key + (uint64_t)(first + 1) * g;
    __m512i z = counters8(c, g);
    const __m512i step = _mm512_set1_epi64((int64_t)(8 * g));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d factor = _mm512_maskz_mov_pd(kept8(z, thr), vscale);
        _mm512_storeu_pd(y + i, _mm512_mul_pd(_mm512_loadu_pd(x + i), factor));
        z = _mm512_add_epi64(z, step);
    }
    dropout_f64_generic(y + i, x + i, n - i, first + i, key, threshold, scale);
}
#else
/* not x86-64: fnn_isa_level is never AVX2 there */
#define dropout_f32_avx2 dropout_f32_generic
#define dropout_f64_avx2 dropout_f64_generic
#define dropout_f32_avx512 dropout_f32_generic
#define dropout_f64_avx512 dropout_f64_generic
#endif

/* the hash is ~15 integer operations per element: a second thread pays off early */
#define DEFINE_DROPOUT(T, SFX)                                                          \
void fnn_dropout_from_##SFX(T *y, const T *x, int64_t n, int64_t first, uint64_t key,  \
                            uint32_t threshold, double scale_) {                        \
    T scale = (T)scale_;                                                                \
    if (fnn_isa_level >= FNN_ISA_AVX512) dropout_##SFX##_avx512(y, x, n, first, key, threshold, scale); \
    else if (fnn_isa_level >= FNN_ISA_AVX2) dropout_##SFX##_avx2(y, x, n, first, key, threshold, scale); \
    else dropout_##SFX##_generic(y, x, n, first, key, threshold, scale);                \
}                                                                                       \
void fnn_dropout_##SFX(T *y, const T *x, int64_t size, uint64_t key,                   \
                       uint32_t threshold, double scale) {                              \
    int nt = fnn_threads_for(2.0 * (double)size, FNN_ELEMWISE_PAR_MIN);                 \
    if (nt <= 1) {                                                                      \
        fnn_dropout_from_##SFX(y, x, size, 0, key, threshold, scale);                   \
        return;                                                                         \
    }                                                                                   \
    unsigned fp_ = fnn_fp_bits(); /* internal.h */                                      \
    _Pragma("omp parallel for schedule(static) num_threads(nt)")                        \
    for (int t = 0; t < nt; t++) {                                                      \
        unsigned saved_ = fnn_fp_adopt(fp_);                                            \
        int64_t per = ((size + nt - 1) / nt + 63) & ~(int64_t)63;                       \
        int64_t lo = per * t < size ? per * t : size;                                   \
        int64_t hi = per * (t + 1) < size ? per * (t + 1) : size;                       \
        fnn_dropout_from_##SFX(y + lo, x + lo, hi - lo, lo, key, threshold, scale);      \
        fnn_fp_restore(fp_, saved_);                                                    \
    }                                                                                   \
}

DEFINE_DROPOUT(float, f32)
DEFINE_DROPOUT(double, f64)
