/* optim.c -- fused optimizer updates over flat parameter buffers.
 *
 * The order of operations per element is documented in fastnn.h; each kernel is
 * one pass over memory (read p, g and the state, write p and the state), with the
 * arithmetic in the buffer's dtype. The proximal-L1 branch is hoisted out of the
 * loop (two loops per kernel) and the L1 shrink is a mask blend, so every loop
 * vectorises. Compiled for the baseline ISA, AVX2+FMA and AVX-512, chosen on
 * fnn_isa_level; the AVX-512 form only where the CPU divides 512-bit vectors at full
 * rate (fnn_zmm_divide, runtime.c): the passes with a square root and a division are
 * bound by the divider. Large buffers are split over threads in contiguous chunks.
 * float64 Adam without L1 has a form for half-rate 512-bit dividers, one thread
 * (adam_f64_halfrate).
 */
#include <math.h>
#include "internal.h"
#include "simd_math.h"
#if FNN_X86
#include <immintrin.h>
#endif

#define IVDEP _Pragma("GCC ivdep")

/* sign(w) * max(|w| - thr, 0); a NaN passes (!(w <= thr)), as in the spec */
#define PROX(SFX, w, thr) fnn_sel_##SFX(!((w) <= (thr)), (w) - (thr), \
                                        fnn_sel_##SFX((w) < -(thr), (w) + (thr), 0))

/* The coupled L2 term and the decay, only when the caller's l2 / wd is not 0 (a
 * loop-invariant test, unswitched by the compiler): the spec skips them, and an
 * infinite parameter times a zero coefficient would make a NaN where it keeps inf.
 * The flags come from l2 and wd themselves, as the spec's tests: lr * wd may be 0
 * (lr = 0) with wd != 0, and the spec then computes the 0 * p. */
#define COUPLED(gv, w0) (use_l2 ? (gv) + l2 * (w0) : (gv))
#define DECAYED(w0) (use_dec ? (w0) - dec * (w0) : (w0))

/* the loop over [0, n) twice: with the proximal L1 step and without. BODY computes
 * the new parameter value `w` from p[i], g[i] and the state. */
#define UPDATE_LOOPS(SFX, n, BODY)                                                      \
    if (use_l1) { IVDEP for (int64_t i = 0; i < (n); i++) { BODY; p[i] = PROX(SFX, w, thr); } } \
    else { IVDEP for (int64_t i = 0; i < (n); i++) { BODY; p[i] = w; } }

#define USE_FLAGS int use_l1, int use_l2, int use_dec

/* hyper-parameters already rounded to the buffer's dtype; use_* say which penalties apply */
#define DEFINE_OPTIM_PASSES(T, SFX, ISA, ATTR, SQRT)                                    \
static ATTR void sgd_##SFX##_##ISA(T *p, const T *g, int64_t n, T lr, T l2, T thr,      \
                                   T dec, USE_FLAGS) {                                 \
    UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                         \
                 T w = DECAYED(w0) - lr * gi)                                       \
}                                                                                       \
static ATTR void momentum_##SFX##_##ISA(T *p, T *v, const T *g, int64_t n, T lr, T mu,  \
                                        int nesterov, T l2, T thr, T dec, USE_FLAGS) { \
    if (nesterov) {                                                                     \
        UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                     \
                     T vi = mu * v[i] - lr * gi; v[i] = vi;                             \
                     T w = DECAYED(w0) + (mu * vi - lr * gi))                       \
    } else {                                                                            \
        UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                     \
                     T vi = mu * v[i] - lr * gi; v[i] = vi;                             \
                     T w = DECAYED(w0) + vi)                                        \
    }                                                                                   \
}                                                                                       \
static ATTR void adagrad_##SFX##_##ISA(T *p, T *acc, const T *g, int64_t n, T lr, T eps, \
                                       T l2, T thr, T dec, USE_FLAGS) {                \
    UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                         \
                 T a = acc[i] + gi * gi; acc[i] = a;                                    \
                 T w = DECAYED(w0) - lr * gi / (SQRT(a) + eps))                     \
}                                                                                       \
static ATTR void rmsprop_##SFX##_##ISA(T *p, T *sq, const T *g, int64_t n, T lr, T rho, \
                                       T one_m_rho, T eps, T l2, T thr, T dec, USE_FLAGS) { \
    UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                         \
                 T s = rho * sq[i] + one_m_rho * gi * gi; sq[i] = s;                    \
                 T w = DECAYED(w0) - lr * gi / (SQRT(s) + eps))                     \
}                                                                                       \
static ATTR void adam_##SFX##_##ISA(T *p, T *m, T *v, const T *g, int64_t n, T lr_t,    \
                                    T b1, T one_m_b1, T b2, T one_m_b2, T eps, T l2,   \
                                    T thr, T dec, USE_FLAGS) {                         \
    UPDATE_LOOPS(SFX, n, T w0 = p[i]; T gi = COUPLED(g[i], w0);                         \
                 T mi = b1 * m[i] + one_m_b1 * gi; m[i] = mi;                           \
                 T vi = b2 * v[i] + one_m_b2 * gi * gi; v[i] = vi;                      \
                 T w = DECAYED(w0) - lr_t * mi / (SQRT(vi) + eps))                  \
}

DEFINE_OPTIM_PASSES(float, f32, generic, , sqrtf)
DEFINE_OPTIM_PASSES(double, f64, generic, , sqrt)
DEFINE_OPTIM_PASSES(float, f32, avx2, FNN_TARGET_AVX2, sqrtf)
DEFINE_OPTIM_PASSES(double, f64, avx2, FNN_TARGET_AVX2, sqrt)
/* the same source on 16 / 8 lanes: gcc contracts the same products into FMAs as in the
 * AVX2 form, so the results are identical (tested) */
DEFINE_OPTIM_PASSES(float, f32, avx512, FNN_TARGET_AVX512, sqrtf)
DEFINE_OPTIM_PASSES(double, f64, avx512, FNN_TARGET_AVX512, sqrt)

#if FNN_X86
/* sqrt(v), correctly rounded as vsqrtpd, without the divider: Newton's reciprocal square
 * root from rsqrt14 (two steps), s = v y, one residual correction, then a proof that s is
 * the nearest double: with u = ulp(s), s = RN(sqrt(v)) iff -s u < v - s^2 <= s u (v - s^2
 * is a multiple of u^2 and s u = M u^2 with M < 2^53 representable, so fma(-s, s, v),
 * RN(v - s^2), decides both sides exactly; (s +- u/2)^2 is never a double: no ties).
 * Lanes the test cannot clear (s a power of two, whose ulp below is u/2; s outside
 * [2^-400, 2^400], where s u or u^2 could leave the normal range; v zero, negative,
 * subnormal or not finite) are recomputed by vsqrtpd. Checked against vsqrtpd on 3e8
 * values (random bit patterns, every exponent, near perfect squares): no difference; in
 * Adam's range (1e-16 .. 1) no lane fell back.
 * Why: float64 Adam is bound by the divider, which its sqrt and division share (vsqrtpd
 * zmm 0.83 ns an element here, vdivpd 0.56): the sqrt on the FMA ports and the division
 * on the divider took a 17.2k-parameter step from 19.7 to 17.3 us (the division on the FMA
 * ports instead, as before, 19.7; both there 29). The FMA ports were then the busier: every
 * other vector's sqrt back on the divider, 20.4-20.9 -> 16.7-17.7 us (every fourth 16.7-17.7,
 * every eighth 18.3-19.0; one run of each, alternating, on a busier host than the figures
 * before). Float32 Adam stays on its AVX2 form
 * (0.34 ns an element): on 16 lanes it ran 0.43 with this square root (one Newton step),
 * 0.41 with vsqrtps. */
FNN_TARGET_AVX512 static inline __m512d sqrt_exact_pd(__m512d v) {
    const __m512i expmask = _mm512_set1_epi64(0x7FF0000000000000LL);
    const __m512d half = _mm512_set1_pd(0.5), three_halves = _mm512_set1_pd(1.5);
    __m512d hv = _mm512_mul_pd(half, v);
    __m512d y = _mm512_rsqrt14_pd(v);                                         /* 2^-14 */
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(_mm512_mul_pd(hv, y), y, three_halves)); /* 2^-28 */
    y = _mm512_mul_pd(y, _mm512_fnmadd_pd(_mm512_mul_pd(hv, y), y, three_halves)); /* ~2^-53 */
    __m512d s = _mm512_mul_pd(v, y);
    s = _mm512_fmadd_pd(_mm512_fnmadd_pd(s, s, v), _mm512_mul_pd(half, y), s);
    __m512d r = _mm512_fnmadd_pd(s, s, v);                                    /* RN(v - s^2) */
    __m512i sb = _mm512_castpd_si512(s), eb = _mm512_and_si512(sb, expmask);
    __m512d ulp = _mm512_castsi512_pd(_mm512_sub_epi64(eb, _mm512_set1_epi64(52LL << 52)));
    __m512d su = _mm512_mul_pd(s, ulp);
    __mmask8 ok = _mm512_cmp_pd_mask(r, su, _CMP_LE_OQ)
                & _mm512_cmp_pd_mask(_mm512_sub_pd(_mm512_setzero_pd(), su), r, _CMP_LT_OQ)
                & _mm512_cmp_pd_mask(s, _mm512_set1_pd(0x1p-400), _CMP_GE_OQ)
                & _mm512_cmp_pd_mask(s, _mm512_set1_pd(0x1p+400), _CMP_LE_OQ)
                & _mm512_test_epi64_mask(sb, _mm512_set1_epi64(0x000FFFFFFFFFFFFFLL)); /* not 2^k */
    if (__builtin_expect(ok != 0xFF, 0)) s = _mm512_mask_sqrt_pd(s, (__mmask8)~ok, v);
    return s;
}

/* adam_f64_avx2 on 8 lanes with the sqrt above, for half-rate 512-bit dividers: the same operations in the same
 * order, FMA contractions included (gi = l2 w0 + g, mi = b1 m + (1-b1) gi, vi = b2 v
 * + ((1-b2) gi) gi, the decay w0 - dec w0), so the results are identical. No L1 (the
 * avx2 form does it). */
FNN_TARGET_AVX512 static void adam_f64_halfrate(double *p, double *m, double *v, const double *g,
                                              int64_t n, double lr_t, double b1, double one_m_b1,
                                              double b2, double one_m_b2, double eps, double l2,
                                              double dec, int use_l2, int use_dec) {
    __m512d vl2 = _mm512_set1_pd(l2), vdec = _mm512_set1_pd(dec), vlr = _mm512_set1_pd(lr_t);
    __m512d vb1 = _mm512_set1_pd(b1), vc1 = _mm512_set1_pd(one_m_b1);
    __m512d vb2 = _mm512_set1_pd(b2), vc2 = _mm512_set1_pd(one_m_b2), veps = _mm512_set1_pd(eps);
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1);
        __m512d w0 = _mm512_maskz_loadu_pd(k, p + i), gi = _mm512_maskz_loadu_pd(k, g + i);
        if (use_l2) gi = _mm512_fmadd_pd(vl2, w0, gi);
        __m512d mi = _mm512_fmadd_pd(vb1, _mm512_maskz_loadu_pd(k, m + i), _mm512_mul_pd(vc1, gi));
        __m512d vi = _mm512_fmadd_pd(vb2, _mm512_maskz_loadu_pd(k, v + i),
                                     _mm512_mul_pd(_mm512_mul_pd(vc2, gi), gi));
        _mm512_mask_storeu_pd(m + i, k, mi);
        _mm512_mask_storeu_pd(v + i, k, vi);
        /* masked-off lanes: sqrt(0) (recomputed by vsqrtpd: 0) + eps, then 0 / eps; every
         * other vector's sqrt on the divider (see sqrt_exact_pd: the same bits) */
        __m512d sq = (i & 8) ? _mm512_sqrt_pd(vi) : sqrt_exact_pd(vi);
        __m512d d = _mm512_add_pd(sq, veps);
        __m512d step = _mm512_div_pd(_mm512_mul_pd(vlr, mi), d);
        if (use_dec) w0 = _mm512_fnmadd_pd(vdec, w0, w0);
        _mm512_mask_storeu_pd(p + i, k, _mm512_sub_pd(w0, step));
    }
}
#endif

/* Adam on 512-bit vectors (the AVX2 form's operations: gi = l2 w0 + g, mi = b1 m +
 * (1-b1) gi, vi = b2 v + ((1-b2) gi) gi, w0 - dec w0, then w - lr_t mi / (sqrt(vi) + eps))
 * that also sums the squares of p before the update, as fnn_l2 sums them on its
 * AVX2 form (fnn_dsumsq: sixteen double lanes over the whole blocks of sixteen, the lanes
 * added in order, then the rest element by element, each product fused): the L2 term of a
 * training batch without a pass of its own over the weights (digits, (128, 64), one
 * thread: float32 1.0 us a batch). */
#if FNN_X86
/* one vector of the update at p + i (lanes K) from the caller's w0 (p) and gi (g) */
#define ADAM_ZMM_BODY(VT, SUF, K)                                                           \
    if (use_l2) gi = _mm512_fmadd_##SUF(vl2, w0, gi);                                       \
    VT mi = _mm512_fmadd_##SUF(vb1, _mm512_maskz_loadu_##SUF(K, m + i), _mm512_mul_##SUF(vc1, gi)); \
    VT vi = _mm512_fmadd_##SUF(vb2, _mm512_maskz_loadu_##SUF(K, v + i),                     \
                               _mm512_mul_##SUF(_mm512_mul_##SUF(vc2, gi), gi));            \
    _mm512_mask_storeu_##SUF(m + i, K, mi);                                                 \
    _mm512_mask_storeu_##SUF(v + i, K, vi);                                                 \
    VT step = _mm512_div_##SUF(_mm512_mul_##SUF(vlr, mi), _mm512_add_##SUF(_mm512_sqrt_##SUF(vi), veps)); \
    if (use_dec) w0 = _mm512_fnmadd_##SUF(vdec, w0, w0);                                   \
    _mm512_mask_storeu_##SUF(p + i, K, _mm512_sub_##SUF(w0, step));

#define ADAM_ZMM_CONSTS(VT, SUF)                                                            \
    const VT vl2 = _mm512_set1_##SUF(l2), vdec = _mm512_set1_##SUF(dec);                    \
    const VT vlr = _mm512_set1_##SUF(lr_t), veps = _mm512_set1_##SUF(eps);                  \
    const VT vb1 = _mm512_set1_##SUF(b1), vc1 = _mm512_set1_##SUF(one_m_b1);                \
    const VT vb2 = _mm512_set1_##SUF(b2), vc2 = _mm512_set1_##SUF(one_m_b2);

/* the lanes of s0 (0-7) and s1 (8-15) added in order, then x[j]^2 for the rest */
FNN_TARGET_AVX512 static double sumsq_finish(__m512d s0, __m512d s1, const double *rest, int64_t nrest) {
    double lanes[16], r = 0;
    _mm512_storeu_pd(lanes, s0);
    _mm512_storeu_pd(lanes + 8, s1);
    for (int l = 0; l < 16; l++) r += lanes[l];
    for (int64_t j = 0; j < nrest; j++) r = fma(rest[j], rest[j], r);
    return r;
}

FNN_TARGET_AVX512 static double adam_sumsq_f32_zmm(float *p, float *m, float *v, const float *g,
                                                   int64_t n, float lr_t, float b1, float one_m_b1,
                                                   float b2, float one_m_b2, float eps, float l2,
                                                   float dec, int use_l2, int use_dec) {
    ADAM_ZMM_CONSTS(__m512, ps)
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    const int64_t whole = n / 16 * 16;
    int64_t i = 0;
    for (; i < whole; i += 16) {
        __m512 w0 = _mm512_loadu_ps(p + i), gi = _mm512_loadu_ps(g + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(w0));
        __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w0), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
        ADAM_ZMM_BODY(__m512, ps, 0xFFFF)
    }
    double rest[16];
    for (int64_t j = whole; j < n; j++) rest[j - whole] = (double)p[j]; /* before the update */
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 w0 = _mm512_maskz_loadu_ps(k, p + i), gi = _mm512_maskz_loadu_ps(k, g + i);
        ADAM_ZMM_BODY(__m512, ps, k)
    }
    return sumsq_finish(s0, s1, rest, n - whole);
}

FNN_TARGET_AVX512 static double adam_sumsq_f64_zmm(double *p, double *m, double *v, const double *g,
                                                   int64_t n, double lr_t, double b1, double one_m_b1,
                                                   double b2, double one_m_b2, double eps, double l2,
                                                   double dec, int use_l2, int use_dec) {
    ADAM_ZMM_CONSTS(__m512d, pd)
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    const int64_t whole = n / 16 * 16;
    int64_t i = 0;
    for (; i < whole; i += 8) { /* vectors alternate between lanes 0-7 and 8-15 */
        __m512d w0 = _mm512_loadu_pd(p + i), gi = _mm512_loadu_pd(g + i);
        if (i & 8) s1 = _mm512_fmadd_pd(w0, w0, s1);
        else s0 = _mm512_fmadd_pd(w0, w0, s0);
        ADAM_ZMM_BODY(__m512d, pd, 0xFF)
    }
    double rest[16];
    for (int64_t j = whole; j < n; j++) rest[j - whole] = p[j];
    for (; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1);
        __m512d w0 = _mm512_maskz_loadu_pd(k, p + i), gi = _mm512_maskz_loadu_pd(k, g + i);
        ADAM_ZMM_BODY(__m512d, pd, k)
    }
    return sumsq_finish(s0, s1, rest, n - whole);
}
#endif

/* [lo, hi) of part t of n elements in nt contiguous parts, multiples of 64 */
static inline void split(int64_t n, int nt, int t, int64_t *lo, int64_t *hi) {
    int64_t per = ((n + nt - 1) / nt + 63) & ~(int64_t)63;
    *lo = per * t < n ? per * t : n;
    *hi = per * (t + 1) < n ? per * (t + 1) : n;
}

/* float32 updates flush subnormal results and inputs to zero while the knob is on
 * (internal.h, FNN_FLUSHES_f32): a user's own float32 loop on these kernels
 * (64-128-64-10 Adam on digits, one thread) ran 3.4 ms an epoch for its first epochs
 * and 5.7-6.1 ms from epoch 50 on, with ~640 subnormals in the Adam state and weights,
 * each a ~100-cycle microcode assist; flushed, 3.4 ms throughout. */

#define CALL_FORM(form, SFX, KERNEL, ...)                                               \
    (form == 2 ? KERNEL##_##SFX##_avx512(__VA_ARGS__)                                   \
     : form == 1 ? KERNEL##_##SFX##_avx2(__VA_ARGS__) : KERNEL##_##SFX##_generic(__VA_ARGS__))

/* run KERNEL(off, len, args...) over [0, size) on as many threads as the size
 * warrants, on the ISA selected now. Optimizer passes are memory-bound: a second
 * thread pays off only on larger buffers, hence the weight 1/2. */
#define RUN(SFX, KERNEL, size, ...)                                                     \
    do {                                                                                \
        int form_ = fnn_isa_level >= FNN_ISA_AVX512 && fnn_zmm_divide ? 2               \
                    : fnn_isa_level >= FNN_ISA_AVX2;                                    \
        int nt_ = fnn_threads_for(0.5 * (double)(size), FNN_ELEMWISE_PAR_MIN);          \
        int flush_ = FNN_FLUSHES_##SFX; /* read once: every part obeys */               \
        if (nt_ <= 1) {                                                                 \
            int64_t lo = 0, len = (size);                                               \
            unsigned csr_ = fnn_flush_enter(flush_);                                    \
            CALL_FORM(form_, SFX, KERNEL, __VA_ARGS__);                                 \
            fnn_flush_leave(flush_, csr_);                                              \
        } else {                                                                        \
            unsigned fp_ = fnn_fp_bits(); /* internal.h */                              \
            _Pragma("omp parallel for schedule(static) num_threads(nt_)")               \
            for (int t_ = 0; t_ < nt_; t_++) {                                          \
                unsigned saved_ = fnn_fp_adopt(fp_);                                    \
                int64_t lo, hi_; split((size), nt_, t_, &lo, &hi_);                     \
                int64_t len = hi_ - lo;                                                 \
                unsigned csr_ = fnn_flush_enter(flush_);                                \
                CALL_FORM(form_, SFX, KERNEL, __VA_ARGS__);                             \
                fnn_flush_leave(flush_, csr_);                                          \
                fnn_fp_restore(fp_, saved_);                                            \
            }                                                                           \
        }                                                                               \
    } while (0)

/* the shared penalties, rounded to T: coupled l2, L1 threshold lr*l1, decay lr*wd */
#define PENALTIES(T)                                                                    \
    T l2 = (T)l2_, thr = (T)(lr_ * l1_), dec = (T)(lr_ * wd_);                          \
    int use_l1 = l1_ != 0, use_l2 = l2_ != 0, use_dec = wd_ != 0

#define DEFINE_OPTIM_API(T, SFX)                                                        \
void fnn_sgd_##SFX(T *p, const T *g, int64_t size,                                      \
                   double lr_, double l2_, double l1_, double wd_) {                    \
    PENALTIES(T);                                                                       \
    RUN(SFX, sgd, size, p + lo, g + lo, len, (T)lr_, l2, thr, dec, use_l1, use_l2,      \
        use_dec);                                                                       \
}                                                                                       \
void fnn_momentum_##SFX(T *p, T *v, const T *g, int64_t size, double lr_, double mu_,  \
                        int nesterov, double l2_, double l1_, double wd_) {             \
    PENALTIES(T);                                                                       \
    RUN(SFX, momentum, size, p + lo, v + lo, g + lo, len, (T)lr_, (T)mu_, nesterov,     \
        l2, thr, dec, use_l1, use_l2, use_dec);                                         \
}                                                                                       \
void fnn_adagrad_##SFX(T *p, T *acc, const T *g, int64_t size, double lr_, double eps_, \
                       double l2_, double l1_, double wd_) {                            \
    PENALTIES(T);                                                                       \
    RUN(SFX, adagrad, size, p + lo, acc + lo, g + lo, len, (T)lr_, (T)eps_, l2, thr,    \
        dec, use_l1, use_l2, use_dec);                                                  \
}                                                                                       \
void fnn_rmsprop_##SFX(T *p, T *sq, const T *g, int64_t size, double lr_, double rho_,  \
                       double eps_, double l2_, double l1_, double wd_) {               \
    PENALTIES(T);                                                                       \
    RUN(SFX, rmsprop, size, p + lo, sq + lo, g + lo, len, (T)lr_, (T)rho_,             \
        (T)(1.0 - rho_), (T)eps_, l2, thr, dec, use_l1, use_l2, use_dec);               \
}                                                                                       \
void fnn_adam_##SFX(T *p, T *m, T *v, const T *g, int64_t size, double lr_, double b1_, \
                    double b2_, double eps_, int64_t t, double l2_, double l1_, double wd_) { \
    PENALTIES(T);                                                                       \
    /* bias corrections folded into the step size, in double as the reference */       \
    T lr_t = (T)(lr_ * sqrt(1.0 - pow(b2_, (double)t)) / (1.0 - pow(b1_, (double)t)));  \
    if (ADAM_HALFRATE_##SFX && !use_l1 && fnn_isa_level >= FNN_ISA_AVX512              \
        && !fnn_zmm_divide && fnn_threads_for(0.5 * (double)size, FNN_ELEMWISE_PAR_MIN) <= 1) { \
        adam_##SFX##_halfrate(p, m, v, g, size, lr_t, (T)b1_, (T)(1.0 - b1_), (T)b2_,  \
                               (T)(1.0 - b2_), (T)eps_, l2, dec, use_l2, use_dec);      \
        return;                                                                         \
    }                                                                                   \
    RUN(SFX, adam, size, p + lo, m + lo, v + lo, g + lo, len, lr_t, (T)b1_,           \
        (T)(1.0 - b1_), (T)b2_, (T)(1.0 - b2_), (T)eps_, l2, thr, dec, use_l1, use_l2,  \
        use_dec);                                                                       \
}

/* fnn_adam_<sfx>(p, m, v, g, n, ..., l1 = 0) that returns fnn_l2(p, n) / 0.5 (p before
 * the update, the same bits) where it can sum as it updates: on one thread, on 512-bit
 * vectors (fnn_zmm_divide), and where fnn_l2 takes one part. Elsewhere it returns -1
 * and does nothing: the caller runs the two. */
#if FNN_X86
#define DEFINE_ADAM_SUMSQ(T, SFX)                                                       \
double fnn_adam_sumsq_##SFX(T *p, T *m, T *v, const T *g, int64_t n, double lr_, double b1_, \
                            double b2_, double eps_, int64_t t, double l2_, double wd_) { \
    if (fnn_isa_level < FNN_ISA_AVX512 || !fnn_zmm_divide                              \
        || fnn_threads_for((double)n, FNN_ELEMWISE_PAR_MIN) > 1)                        \
        return -1.0;                                                                    \
    const double l1_ = 0.0;                                                             \
    PENALTIES(T);                                                                       \
    (void)thr; (void)use_l1;                                                            \
    T lr_t = (T)(lr_ * sqrt(1.0 - pow(b2_, (double)t)) / (1.0 - pow(b1_, (double)t)));  \
    unsigned csr = fnn_flush_enter(FNN_FLUSHES_##SFX);                                  \
    double sq = adam_sumsq_##SFX##_zmm(p, m, v, g, n, lr_t, (T)b1_, (T)(1.0 - b1_), (T)b2_, \
                                      (T)(1.0 - b2_), (T)eps_, l2, dec, use_l2, use_dec); \
    fnn_flush_leave(FNN_FLUSHES_##SFX, csr);                                            \
    return sq;                                                                          \
}
#else
#define DEFINE_ADAM_SUMSQ(T, SFX)                                                       \
double fnn_adam_sumsq_##SFX(T *p, T *m, T *v, const T *g, int64_t n, double lr_, double b1_, \
                            double b2_, double eps_, int64_t t, double l2_, double wd_) { \
    (void)p; (void)m; (void)v; (void)g; (void)n; (void)lr_; (void)b1_; (void)b2_;       \
    (void)eps_; (void)t; (void)l2_; (void)wd_;                                          \
    return -1.0;                                                                        \
}
#endif
DEFINE_ADAM_SUMSQ(float, f32)
DEFINE_ADAM_SUMSQ(double, f64)

/* the half-rate-divider Adam exists for float64 only (see sqrt_exact_pd) */
#define ADAM_HALFRATE_f32 0
#define ADAM_HALFRATE_f64 FNN_X86
#define adam_f32_halfrate(...) ((void)0)
#if !FNN_X86
#define adam_f64_halfrate(...) ((void)0)
#endif

DEFINE_OPTIM_API(float, f32)
DEFINE_OPTIM_API(double, f64)
