/* gemm.c -- the matmul engine's framework: operand layouts, packing decisions,
 * MC/KC/NC blocking and threads (the loops are in gemm_engine.h, written once for
 * both dtypes); the microkernels live in gemm_ukernel_*.c and are chosen per call
 * from fnn_isa_level. C = alpha op(A) op(B) + beta C (see fastnn.h). */
#include <pthread.h>
#include <stdlib.h>
#include "gemm.h"
#include "reduce.h"
#if FNN_X86
#include <emmintrin.h>
#endif

/* Per-thread packing buffers (0: A block, 1: B block), grown on demand and kept: a fresh
 * allocation per call would pay page faults on every product. A thread's buffers are freed
 * when it ends (the key's destructor): a program running products from short-lived Python
 * threads leaked ~1.2 MB a thread (1024^2 float32, 200 threads: RSS 64 -> 312 MB). */
typedef struct { void *buf[2]; size_t cap[2]; } gemm_scratch_t;
static pthread_key_t scratch_key;
static pthread_once_t scratch_key_once = PTHREAD_ONCE_INIT;
static __thread gemm_scratch_t *scratch_here; /* this thread's, registered with the key */

static void scratch_release(void *p) {
    gemm_scratch_t *s = (gemm_scratch_t *)p;
    free(s->buf[0]);
    free(s->buf[1]);
    free(s);
}

static void scratch_key_create(void) {
    if (pthread_key_create(&scratch_key, scratch_release) != 0) abort();
}

static void *gemm_scratch(int which, size_t bytes) {
    gemm_scratch_t *s = scratch_here;
    if (!s) {
        pthread_once(&scratch_key_once, scratch_key_create);
        s = (gemm_scratch_t *)calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s) != 0) abort();
        scratch_here = s;
    }
    if (bytes > s->cap[which]) {
        free(s->buf[which]);
        bytes = (bytes + 4095) & ~(size_t)4095;
        if (posix_memalign(&s->buf[which], 64, bytes) != 0) abort();
        s->cap[which] = bytes;
    }
    return s->buf[which];
}

/* Pack an operand only when the product reuses it enough to repay the copy, or
 * when the microkernel cannot read it in place (B without unit column stride).
 * A (m x k) is re-read for every NR strip of C: packing it pays off when it is stored
 * transposed (the copy is then contiguous MR-element runs, and the packed panel
 * replaces a walk down k with stride m) or when it is too big for L2. B (k x n) is
 * re-read for every MR tile: packed once the rows are many, so its panels are
 * contiguous instead of strided by n (which aliases in L1 for power-of-two n).
 * Measured on Zen 4 (CPU time, one thread): transposed-A products +7-30%. The
 * 12-row AVX-512 tile reads twelve rows of an unpacked A at once: at a row stride that
 * is a multiple of 2 KiB they fall in one or two L1 sets, so it packs such an A from two
 * strips of C on (Xeon, float64 1024^3: 76 -> 80 GFLOP/s, 2048^3 70 -> 77), and so does
 * an A whose k is long enough to be cut in blocks (> 512: each block's 12-row slices are
 * re-read for every strip; float32 512x784x512 0.94x -> 1.01x OpenBLAS, 128 rows 1.05x ->
 * 1.11x); other small A are read in place (packing 32 x 128 cost 40% of a 32x128x64
 * product). Zen 5 (fnn_in_place_reuse) reads both such A in place, faster, and a float32 B
 * up to 512 rows: one thread, GFLOP/s packed -> in place: long k, float64 200x784x100
 * 102 -> 111, 1000x784x100 102-108 -> 116, 512x784x512 108-113 -> 115-117, float32
 * 200x784x100 178-186 -> 200, 128x784x512 224-237 -> 239-241; A^T (X^T dY, m x k x n),
 * float64 784x200x100 105 -> 116, 1024x64x64 91-94 -> 110-112, 2048x256x256 98-115 -> 119,
 * float32 784x64x128 226 -> 235, 1024x512x128 216-219 -> 244-247, the rest within +-3%;
 * float32 B, 200x784x100 198 -> 210-218, 256^3 242 -> 253-256, 200x300x100 197 -> 215
 * (from 512 rows packing still pays: 1024^3 235 -> 222 in place; float64 B gained nothing). */
static void gemm_decide_packing(int64_t m, int64_t n, int64_t k, int64_t rsa, int64_t csb,
                                int mr, int nr, size_t elem, int *packa, int *packb) {
    double a_bytes = (double)m * (double)k * (double)elem;
    double b_bytes = (double)k * (double)n * (double)elem;
    const int in_place = mr == FNN_AVX512_MR && fnn_in_place_reuse;
    /* the AVX-512 float32 tile reads a B row in 12-row tiles: a strided B strip from L2
     * costs less than the copy until m ~ 192 (128x784x512: 1.05x -> 1.10x OpenBLAS;
     * float64 at 128 rows still gains from packing, 0.99x -> 1.07x) */
    const int64_t pack_b_rows = (mr == FNN_AVX512_MR && elem == 4) ? (in_place ? 512 : 192) : 96;
    *packb = csb != 1 || (m >= pack_b_rows && b_bytes >= 64.0 * 1024);
    /* A^T (rsa = 1) on the AVX-512 tiles: read in place up to 8 strips of C when m <= 256
     * (Xeon, one thread, X^T dY: 64 x k x 128 float32 +7-15%, float64 +5-8%; 128 x 128 x 128
     * +12% / +6%); more strips, or longer steps down k (m = 512, 784), repay the copy. */
    const int64_t pack_at_strips = mr == FNN_AVX512_MR ? (m <= 256 ? 9 : 4) : 4;
    *packa = (!in_place && rsa == 1 && n >= pack_at_strips * nr) ||
             (a_bytes > 4.0 * 1024 * 1024 && n > 256) ||
             (mr == FNN_AVX512_MR && n >= 2 * nr &&
              ((rsa * (int64_t)elem) % 2048 == 0 || (!in_place && k > 512)));
}

/* dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols. The packings need it for
 * operands whose vectors run along k: a transposed B (its panel's NR columns are rows
 * of W^T's storage) and a row-major A (MR rows), and the dot kernels for a row-major
 * B. Transposed 4x4 (float; a last pair of rows 2x4) / 2x2 (double) in SSE
 * registers, so the stores are whole rows instead of a strided scatter; measured:
 * the scalar loop cost about as much as the product in float64 dY @ W^T at batch 32,
 * and 2% of float64 1024^3 (A packing). SSE2 is part of the x86-64 baseline; other
 * targets get the plain loop. */
static void transpose_f32(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                          int64_t cols) {
    int64_t j = 0;
#if FNN_X86
    /* columns outer: each group of four fills whole runs of dst rows before the next */
    for (; j + 4 <= cols; j += 4) {
        int64_t i = 0;
        for (; i + 4 <= rows; i += 4) {
            __m128 r0 = _mm_loadu_ps(src + (i + 0) * lds + j);
            __m128 r1 = _mm_loadu_ps(src + (i + 1) * lds + j);
            __m128 r2 = _mm_loadu_ps(src + (i + 2) * lds + j);
            __m128 r3 = _mm_loadu_ps(src + (i + 3) * lds + j);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(dst + (j + 0) * ldd + i, r0);
            _mm_storeu_ps(dst + (j + 1) * ldd + i, r1);
            _mm_storeu_ps(dst + (j + 2) * ldd + i, r2);
            _mm_storeu_ps(dst + (j + 3) * ldd + i, r3);
        }
        if (i + 2 <= rows) { /* e.g. rows 4-5 of a 6-row A panel: interleave the pair */
            __m128 r0 = _mm_loadu_ps(src + i * lds + j), r1 = _mm_loadu_ps(src + (i + 1) * lds + j);
            __m128 lo = _mm_unpacklo_ps(r0, r1), hi = _mm_unpackhi_ps(r0, r1);
            _mm_storel_pi((__m64 *)(dst + (j + 0) * ldd + i), lo);
            _mm_storeh_pi((__m64 *)(dst + (j + 1) * ldd + i), lo);
            _mm_storel_pi((__m64 *)(dst + (j + 2) * ldd + i), hi);
            _mm_storeh_pi((__m64 *)(dst + (j + 3) * ldd + i), hi);
            i += 2;
        }
        for (; i < rows; i++)
            for (int64_t q = j; q < j + 4; q++) dst[q * ldd + i] = src[i * lds + q];
    }
#endif
    for (; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) dst[j * ldd + i] = src[i * lds + j];
}

static void transpose_f64(double *dst, int64_t ldd, const double *src, int64_t lds, int64_t rows,
                          int64_t cols) {
    int64_t j = 0;
#if FNN_X86
    for (; j + 2 <= cols; j += 2) {
        int64_t i = 0;
        for (; i + 2 <= rows; i += 2) {
            __m128d r0 = _mm_loadu_pd(src + i * lds + j), r1 = _mm_loadu_pd(src + (i + 1) * lds + j);
            _mm_storeu_pd(dst + j * ldd + i, _mm_unpacklo_pd(r0, r1));
            _mm_storeu_pd(dst + (j + 1) * ldd + i, _mm_unpackhi_pd(r0, r1));
        }
        for (; i < rows; i++) {
            dst[j * ldd + i] = src[i * lds + j];
            dst[(j + 1) * ldd + i] = src[i * lds + j + 1];
        }
    }
#endif
    for (; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) dst[j * ldd + i] = src[i * lds + j];
}

#define T float
#define SFX f32
#include "gemm_engine.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "gemm_engine.h"
#undef T
#undef SFX

static void pick_cfg_f32(gemm_cfg_f32 *g) {
#if FNN_X86
    if (fnn_isa_level >= FNN_ISA_AVX512) {
        g->mr = FNN_AVX512_MR; g->nr = FNN_AVX512_NR_F32;
        /* nc: the packed B block (kc x nc, 1 MiB) stays in this Xeon's 2 MiB L2 beside the
         * A block; 3072 columns (3 MiB) measured 0.86x OpenBLAS at 2048^3, 1024 0.96x */
        g->kc = 256; g->mc = 240; g->nc = 1024;
        g->ukr = fnn_ukr_avx512_f32;
        return;
    }
    if (fnn_isa_level >= FNN_ISA_AVX2) {
        g->mr = FNN_AVX2_MR_F32; g->nr = FNN_AVX2_NR_F32;
        g->kc = 256; g->mc = 144; g->nc = 3072;
        g->ukr = fnn_ukr_avx2_f32;
        return;
    }
#endif
    g->mr = FNN_GEN_MR_F32; g->nr = FNN_GEN_NR_F32;
    g->kc = 256; g->mc = 96; g->nc = 2048;
    g->ukr = fnn_ukr_generic_f32;
}

static void pick_cfg_f64(gemm_cfg_f64 *g) {
#if FNN_X86
    if (fnn_isa_level >= FNN_ISA_AVX512) {
        g->mr = FNN_AVX512_MR; g->nr = FNN_AVX512_NR_F64;
        /* nc: as float32's, a 1 MiB B block (1024^3: 0.85x -> 0.95x OpenBLAS). kc 192
         * (A and B panels 18 + 24 KiB in the 48 KiB L1) measured no better on squares and
         * 2-14% slower where it splits k = 512 or 784 into more blocks. */
        g->kc = 256; g->mc = 120; g->nc = 512;
        g->ukr = fnn_ukr_avx512_f64;
        return;
    }
    if (fnn_isa_level >= FNN_ISA_AVX2) {
        g->mr = FNN_AVX2_MR_F64; g->nr = FNN_AVX2_NR_F64;
        g->kc = 256; g->mc = 72; g->nc = 2048;
        g->ukr = fnn_ukr_avx2_f64;
        return;
    }
#endif
    g->mr = FNN_GEN_MR_F64; g->nr = FNN_GEN_NR_F64;
    g->kc = 256; g->mc = 48; g->nc = 1024;
    g->ukr = fnn_ukr_generic_f64;
}

/* op(A) is A [m,k] (rsa = k, csa = 1) or A^T with A stored [k,m] (rsa = 1, csa = m);
 * op(B) is B [k,n] (rsb = n, csb = 1) or B^T with B stored [n,k] (rsb = 1, csb = k). */
void fnn_gemm_f32(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                  int trans_a, int trans_b, double alpha, double beta) {
    fnn_gemm_ex_f32(c, n, a, trans_a ? 1 : k, trans_a ? m : 1, b, trans_b ? 1 : n,
                    trans_b ? k : 1, m, n, k, (float)alpha, (float)beta, NULL, fnn_thread_limit());
}

void fnn_gemm_f64(double *c, const double *a, const double *b, int64_t m, int64_t n, int64_t k,
                  int trans_a, int trans_b, double alpha, double beta) {
    fnn_gemm_ex_f64(c, n, a, trans_a ? 1 : k, trans_a ? m : 1, b, trans_b ? 1 : n,
                    trans_b ? k : 1, m, n, k, alpha, beta, NULL, fnn_thread_limit());
}
