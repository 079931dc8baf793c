/* dropout.c -- inverted dropout with a counter-based mask: keep(i) depends only
 * on (key, i), so forward and backward recompute the same mask without storing
 * it, and every backend (NumPy, Numba, C) draws bit-identical masks.
 *
 * The hash is splitmix64's finaliser (fastnn.h states it). Its 64-bit multiplies
 * have no single SIMD instruction before AVX-512, but gcc vectorises the loop
 * with 32x32->64 partial products (pmuludq), which still beats the scalar imul
 * chain; the AVX2 build does 4 lanes at a time. y = x * (keep ? scale : 0) keeps
 * NumPy's signs (x * 0 of a negative x is -0.0) and NaN/inf behaviour.
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

/* elements [lo, hi): the counter is the global index, so chunks are independent */
#define DEFINE_DROPOUT_PASS(T, SFX, ISA, ATTR)                                          \
static ATTR void dropout_##SFX##_##ISA(T *y, const T *x, int64_t lo, int64_t hi,        \
                                        uint64_t key, uint32_t threshold, T scale) {    \
    _Pragma("GCC ivdep")                                                                \
    for (int64_t i = lo; i < hi; i++) {                                                 \
        uint64_t h = mix64(key + (uint64_t)(i + 1) * GOLDEN);                           \
        y[i] = x[i] * fnn_sel_##SFX((uint32_t)(h >> 40) >= threshold, scale, (T)0);     \
    }                                                                                   \
}

DEFINE_DROPOUT_PASS(float, f32, generic, )
DEFINE_DROPOUT_PASS(double, f64, generic, )
DEFINE_DROPOUT_PASS(float, f32, avx2, FNN_TARGET_AVX2)
DEFINE_DROPOUT_PASS(double, f64, avx2, FNN_TARGET_AVX2)

/* the hash is ~15 integer operations per element: a second thread pays off early */
#define DEFINE_DROPOUT(T, SFX)                                                          \
void fnn_dropout_##SFX(T *y, const T *x, int64_t size, uint64_t key,                   \
                       uint32_t threshold, double scale_) {                             \
    T scale = (T)scale_;                                                                \
    int avx2 = fnn_isa_level == FNN_ISA_AVX2;                                           \
    int nt = fnn_threads_for(2.0 * (double)size, FNN_ELEMWISE_PAR_MIN);                 \
    if (nt <= 1) {                                                                      \
        if (avx2) dropout_##SFX##_avx2(y, x, 0, size, key, threshold, scale);           \
        else dropout_##SFX##_generic(y, x, 0, size, key, threshold, scale);             \
        return;                                                                         \
    }                                                                                   \
    _Pragma("omp parallel for schedule(static) num_threads(nt)")                        \
    for (int t = 0; t < nt; t++) {                                                      \
        int64_t per = ((size + nt - 1) / nt + 63) & ~(int64_t)63;                       \
        int64_t lo = per * t < size ? per * t : size;                                   \
        int64_t hi = per * (t + 1) < size ? per * (t + 1) : size;                       \
        if (avx2) dropout_##SFX##_avx2(y, x, lo, hi, key, threshold, scale);            \
        else dropout_##SFX##_generic(y, x, lo, hi, key, threshold, scale);              \
    }                                                                                   \
}

DEFINE_DROPOUT(float, f32)
DEFINE_DROPOUT(double, f64)
