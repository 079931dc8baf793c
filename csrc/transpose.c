/* transpose.c -- X centred, scaled and transposed in one pass (fnn_centered_transpose_*):
 * the column-major copy coordinate descent reads a column of X from per update (Lasso /
 * ElasticNet's xt, scikit-learn's Fortran-ordered centred copy).
 *
 * out [p, n] = ((x - mean) * scale[:, None])^T for x [n, p] row-major: each element is one
 * subtraction and, with a scale, one product, so the bits are NumPy's for the same
 * expression. On AVX2 and up, 4 x 4 float64 / 8 x 8 float32 blocks are transposed in
 * registers (rows loaded as vectors, the output's rows stored as vectors), a band of
 * TILE_COLS columns at a time read down all of X's rows: one stride, which the prefetchers
 * follow, into as many output rows written front to back. The rows and columns past whole
 * blocks (and everything on the portable build) go one element at a time, TILE rows at a
 * time. 100000 x 50 / 20000 x 200 float64, one thread: 3.5 / 2.3-2.7 ms in bands, 4.5 / 3.9
 * by tiles of 64 rows (the tile's rows no longer in L1 when 200 wide), 6.9 / 3.5 element
 * by element, NumPy's blocked transposing copy 9.9 / 4.7. Bands (or, when there are few,
 * parts of their rows) split over threads; any count gives the same result. Whether every
 * output is finite comes back at no extra pass (a sum of v - v kept in registers): a finite
 * X whose centring overflowed is caught without reading the result again (20000 x 200
 * float64: ~1.5 ms a check). Nothing is checked here: fastnn.kernels did. */
#include "internal.h"
#if FNN_X86
#include <immintrin.h>
#endif

/* rows the element-wise edges take at a time */
#define TILE 64
/* columns a band of register blocks takes */
#define TILE_COLS 32

/* rows [i0, i1), columns [j0, p) one element at a time; returns 1 if an output is not
 * finite (the sum of every v - v: 0, or NaN from an inf or a NaN) */
#define DEFINE_EDGE(T, SFX)                                                               \
static int edge_##SFX(T *out, const T *x, const T *mean, const T *scale, int64_t n,      \
                      int64_t p, int64_t i0, int64_t i1, int64_t j0) {                   \
    T probe = 0;                                                                         \
    for (int64_t j = j0; j < p; j++) {                                                   \
        T m = mean[j], *o = out + j * n;                                                 \
        const T *xc = x + j;                                                             \
        for (int64_t i = i0; i < i1; i++) {                                              \
            T v = scale ? (xc[i * p] - m) * scale[i] : xc[i * p] - m;                    \
            o[i] = v;                                                                    \
            probe += v - v;                                                              \
        }                                                                                \
    }                                                                                    \
    return probe != 0;                                                                   \
}
DEFINE_EDGE(float, f32)
DEFINE_EDGE(double, f64)

#if FNN_X86
/* rows [i0, i1) (a multiple of 4 apart) x columns [j, j + 4); returns 1 if an output is
 * not finite, as edge_ */
FNN_TARGET_AVX2 static int blocks_f64(double *out, const double *x, const double *mean,
                                       const double *scale, int64_t n, int64_t p, int64_t i0,
                                       int64_t i1, int64_t j) {
    const __m256d m = _mm256_loadu_pd(mean + j);
    __m256d probe = _mm256_setzero_pd();
    double *o0 = out + j * n, *o1 = o0 + n, *o2 = o1 + n, *o3 = o2 + n;
    for (int64_t i = i0; i < i1; i += 4) {
        const double *r = x + i * p + j;
        __m256d r0 = _mm256_sub_pd(_mm256_loadu_pd(r), m);
        __m256d r1 = _mm256_sub_pd(_mm256_loadu_pd(r + p), m);
        __m256d r2 = _mm256_sub_pd(_mm256_loadu_pd(r + 2 * p), m);
        __m256d r3 = _mm256_sub_pd(_mm256_loadu_pd(r + 3 * p), m);
        __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
        __m256d c0 = _mm256_permute2f128_pd(t0, t2, 0x20), c1 = _mm256_permute2f128_pd(t1, t3, 0x20);
        __m256d c2 = _mm256_permute2f128_pd(t0, t2, 0x31), c3 = _mm256_permute2f128_pd(t1, t3, 0x31);
        if (scale) {
            __m256d s = _mm256_loadu_pd(scale + i);
            c0 = _mm256_mul_pd(c0, s); c1 = _mm256_mul_pd(c1, s);
            c2 = _mm256_mul_pd(c2, s); c3 = _mm256_mul_pd(c3, s);
        }
        _mm256_storeu_pd(o0 + i, c0); _mm256_storeu_pd(o1 + i, c1);
        _mm256_storeu_pd(o2 + i, c2); _mm256_storeu_pd(o3 + i, c3);
        probe = _mm256_add_pd(probe, _mm256_add_pd(_mm256_sub_pd(c0, c0), _mm256_sub_pd(c1, c1)));
        probe = _mm256_add_pd(probe, _mm256_add_pd(_mm256_sub_pd(c2, c2), _mm256_sub_pd(c3, c3)));
    }
    return _mm256_movemask_pd(_mm256_cmp_pd(probe, _mm256_setzero_pd(), _CMP_NEQ_UQ)) != 0;
}

/* rows [i0, i1) (a multiple of 8 apart) x columns [j, j + 8); returns 1 if an output is
 * not finite, as edge_ */
FNN_TARGET_AVX2 static int blocks_f32(float *out, const float *x, const float *mean,
                                       const float *scale, int64_t n, int64_t p, int64_t i0,
                                       int64_t i1, int64_t j) {
    const __m256 m = _mm256_loadu_ps(mean + j);
    __m256 probe = _mm256_setzero_ps();
    for (int64_t i = i0; i < i1; i += 8) {
        const float *r = x + i * p + j;
        __m256 v[8], t[8];
        for (int k = 0; k < 8; k++) v[k] = _mm256_sub_ps(_mm256_loadu_ps(r + k * p), m);
        for (int k = 0; k < 8; k += 2) { /* pairs of rows interleaved */
            t[k] = _mm256_unpacklo_ps(v[k], v[k + 1]);
            t[k + 1] = _mm256_unpackhi_ps(v[k], v[k + 1]);
        }
        for (int k = 0; k < 8; k += 4) { /* then pairs of those: 4 rows' element per lane group */
            v[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
            v[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
            v[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
            v[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
        }
        /* v[0..3]: columns j+0, j+1, j+2, j+3 of rows i..i+3 (low half) and j+4.. (high half);
         * v[4..7] the same for rows i+4..i+7: the halves joined give whole columns */
        __m256 s = scale ? _mm256_loadu_ps(scale + i) : _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            __m256 lo = _mm256_permute2f128_ps(v[k], v[k + 4], 0x20); /* column j + k */
            __m256 hi = _mm256_permute2f128_ps(v[k], v[k + 4], 0x31); /* column j + k + 4 */
            if (scale) { lo = _mm256_mul_ps(lo, s); hi = _mm256_mul_ps(hi, s); }
            _mm256_storeu_ps(out + (j + k) * n + i, lo);
            _mm256_storeu_ps(out + (j + k + 4) * n + i, hi);
            probe = _mm256_add_ps(probe, _mm256_add_ps(_mm256_sub_ps(lo, lo), _mm256_sub_ps(hi, hi)));
        }
    }
    return _mm256_movemask_ps(_mm256_cmp_ps(probe, _mm256_setzero_ps(), _CMP_NEQ_UQ)) != 0;
}
#define BLOCKS(SFX) (fnn_isa_level >= FNN_ISA_AVX2)
#else
#define BLOCKS(SFX) 0
#define blocks_f32(...) 0
#define blocks_f64(...) 0
#endif

/* W: a block's rows and columns (the vector's lanes) */
#define DEFINE_CENTERED_TRANSPOSE(T, SFX, W)                                             \
int fnn_centered_transpose_##SFX(T *out, const T *x, const T *mean, const T *scale,      \
                                 int64_t n, int64_t p) {                                 \
    int bad = 0;                                                                         \
    int blocks = BLOCKS(SFX);                                                            \
    int64_t nb = blocks ? n / W * W : 0; /* rows in whole blocks */                      \
    int64_t jb = blocks ? p / W * W : 0; /* columns likewise */                          \
    int64_t bands = (jb + TILE_COLS - 1) / TILE_COLS;                                    \
    int nt = fnn_threads_for((double)n * (double)p, FNN_ELEMWISE_PAR_MIN);               \
    int64_t parts = bands >= 4 * nt ? 1 : nt; /* few bands: each split by rows too */    \
    int64_t per = (nb / parts + W - 1) / W * W;                                          \
    _Pragma("omp parallel for schedule(static) num_threads(nt) if(nt > 1) reduction(|:bad)") \
    for (int64_t u = 0; u < bands * parts; u++) {                                        \
        int64_t b = u % bands, r0 = (u / bands) * per, r1 = r0 + per < nb ? r0 + per : nb; \
        for (int64_t j = b * TILE_COLS; j < (b + 1) * TILE_COLS && j < jb; j += W)       \
            bad |= blocks_##SFX(out, x, mean, scale, n, p, r0 < nb ? r0 : nb, r1, j);    \
    }                                                                                    \
    int64_t tiles = (n + TILE - 1) / TILE;                                               \
    _Pragma("omp parallel for schedule(static) num_threads(nt) if(nt > 1) reduction(|:bad)") \
    for (int64_t t = 0; t < tiles; t++) { /* the rest: columns beyond jb, rows beyond nb */ \
        int64_t i0 = t * TILE, i1 = i0 + TILE < n ? i0 + TILE : n;                       \
        bad |= edge_##SFX(out, x, mean, scale, n, p, i0, i1 < nb ? i1 : nb, jb);         \
        if (i1 > nb) bad |= edge_##SFX(out, x, mean, scale, n, p, i0 > nb ? i0 : nb, i1, 0); \
    }                                                                                    \
    return !bad;                                                                         \
}

DEFINE_CENTERED_TRANSPOSE(float, f32, 8)
DEFINE_CENTERED_TRANSPOSE(double, f64, 4)
