/* dropout.c -- inverted dropout with a counter-based mask: keep(i) depends only
 * on (key, i), so forward and backward recompute the same mask without storing
 * it, and every backend (NumPy, Numba, C) draws bit-identical masks. */
#include "internal.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

uint64_t fnn_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define DEFINE_DROPOUT(T, SFX)                                                          \
void fnn_dropout_##SFX(T *y, const T *x, int64_t size, uint64_t key,                   \
                       uint32_t threshold, double scale_) {                             \
    T scale = (T)scale_;                                                                \
    _Pragma("omp parallel for schedule(static) num_threads(fnn_threads_for((double)size, FNN_ELEMWISE_PAR_MIN))") \
    for (int64_t i = 0; i < size; i++) {                                                \
        uint64_t h = fnn_mix64(key + (uint64_t)(i + 1) * GOLDEN);                       \
        y[i] = x[i] * ((uint32_t)(h >> 40) >= threshold ? scale : (T)0);               \
    }                                                                                   \
}

DEFINE_DROPOUT(float, f32)
DEFINE_DROPOUT(double, f64)
