/* losses.c -- fused loss + gradient kernels and penalty values.
 *
 * Loss values accumulate in double for both dtypes (as the reference does); the
 * per-element terms and gradients are computed in the arrays' dtype with the
 * vectorisable math of simd_math.h. Each pass is compiled for the baseline ISA
 * and for AVX2+FMA and chosen on fnn_isa_level at every call. Large inputs are
 * split over threads in contiguous chunks; the partial sums are added in chunk
 * order, so a result depends only on the thread count, never on timing.
 */
#include <stdlib.h>
#include "internal.h"
#include "simd_math.h"
#include "reduce.h"

#define IVDEP _Pragma("GCC ivdep")
#define EACH(n) IVDEP for (int64_t i = 0; i < (n); i++)
#define XENT_BLOCK 2048  /* elements of logits per block: the exp pass runs flat over it */
#define TERM_BLOCK 512   /* elementwise loss terms buffered before the double sum */
#define MAX_PARTS 64

#define DEFINE_LOSS_PASSES(T, SFX, ISA, ATTR, LOG)                                      \
/* rows [r0, r1) of softmax cross-entropy; d = dlogits (nullable), scratch holds one  \
 * block when d is NULL. Returns the sum over the rows of lse - z[label], or with clip \
 * > 0 of -log(p[label]), p clipped to [clip, 1 - clip] (see fnn_softmax_xent_clipped). */ \
static ATTR double xent_##SFX##_##ISA(T *dl, const T *z, const int32_t *lab, int64_t r0, \
                                       int64_t r1, int64_t cols, T inv_n, T *scratch,    \
                                       T clip) {                                         \
    int64_t rb = cols >= XENT_BLOCK ? 1 : XENT_BLOCK / cols;                            \
    T mx[XENT_BLOCK];                                                                   \
    double total = 0;                                                                   \
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {                                          \
        int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;                                       \
        T *db = dl ? dl + b0 * cols : scratch;                                          \
        for (int64_t r = b0; r < b1; r++) {                                             \
            const T *zr = z + r * cols; T *dr = db + (r - b0) * cols;                   \
            T m = fnn_rmax_##SFX##_##ISA(zr, cols);                                             \
            mx[r - b0] = m;                                                             \
            EACH(cols) dr[i] = zr[i] - m;                                               \
        }                                                                               \
        EACH((b1 - b0) * cols) db[i] = fnn_vexp_neg_##SFX##_##ISA(db[i]);                           \
        for (int64_t r = b0; r < b1; r++) {                                             \
            const T *zr = z + r * cols; T *dr = db + (r - b0) * cols;                   \
            T s = fnn_rsum_##SFX(dr, cols);                                             \
            int32_t k = lab[r];                                                         \
            if (__builtin_expect(clip > 0, 0)) /* estimators only: keep it off the hot path */ \
                total -= (double)LOG(fnn_clamp_##SFX(dr[k] / s, clip, (T)1 - clip));    \
            else                                                                        \
                total += (double)(LOG(s) - (zr[k] - mx[r - b0]));                       \
            if (dl) {                                                                   \
                T inv_s = (T)1 / s;                                                     \
                T pk = dr[k] * inv_s;                                                   \
                EACH(cols) dr[i] = (dr[i] * inv_s) * inv_n;                             \
                dr[k] = (pk - (T)1) * inv_n;                                            \
            }                                                                           \
        }                                                                               \
    }                                                                                   \
    return total;                                                                       \
}                                                                                       \
/* elements [0, n) of sigmoid BCE: sum of max(z,0) - z t + log1p(e^-|z|), or with     \
 * clip > 0 of -(t log p + (1 - t) log(1 - p)), p = sigmoid(z) clipped to [clip, 1 - clip] \
 * (scalar logs: this is the estimators' sklearn-compatible path, not a hot one) */   \
static ATTR double bce_##SFX##_##ISA(T *dl, const T *z, const T *t, int64_t n, T inv_n, \
                                      T clip) {                                         \
    T term[TERM_BLOCK];                                                                 \
    double total = 0;                                                                   \
    for (int64_t b = 0; b < n; b += TERM_BLOCK) {                                       \
        int64_t m = n - b < TERM_BLOCK ? n - b : TERM_BLOCK;                            \
        const T *zb = z + b, *tb = t + b;                                               \
        T e[TERM_BLOCK];                                                                \
        /* exp, then log1p and the gradient: separate loops keep the constants in   \
         * registers (one fused loop spills) */                                        \
        EACH(m) e[i] = fnn_vexp_neg_##SFX##_##ISA(-fnn_fabs_##SFX(zb[i]));                      \
        if (clip > 0)                                                                   \
            for (int64_t i = 0; i < m; i++) {                                           \
                T p = fnn_sel_##SFX(zb[i] >= 0, (T)1, e[i]) / ((T)1 + e[i]);            \
                p = fnn_clamp_##SFX(p, clip, (T)1 - clip);                              \
                term[i] = -(tb[i] * LOG(p) + ((T)1 - tb[i]) * LOG((T)1 - p));           \
            }                                                                           \
        else EACH(m) {                                                                  \
            T v = zb[i];                                                                \
            term[i] = fnn_sel_##SFX(v > 0, v, (T)0) - v * tb[i] + fnn_vlog1p_unit_##SFX##_##ISA(e[i]); \
        }                                                                               \
        if (dl) {                                                                       \
            T *db = dl + b;                                                             \
            EACH(m) {                                                                   \
                T v = zb[i], ei = e[i];                                                 \
                T sig = fnn_sel_##SFX(v >= 0, (T)1, ei) / ((T)1 + ei);                  \
                db[i] = (sig - tb[i]) * inv_n;                                          \
            }                                                                           \
        }                                                                               \
        total += fnn_dsum_##SFX(term, m);                                               \
    }                                                                                   \
    return total;                                                                       \
}                                                                                       \
/* elements [0, n) of mse: sum of (p - t)^2 in double; dp = (p - t) / n */             \
static ATTR double mse_##SFX##_##ISA(T *dp, const T *p, const T *t, int64_t n, T inv_n) { \
    T diff[TERM_BLOCK];                                                                 \
    double total = 0;                                                                   \
    for (int64_t b = 0; b < n; b += TERM_BLOCK) {                                       \
        int64_t m = n - b < TERM_BLOCK ? n - b : TERM_BLOCK;                            \
        const T *pb = p + b, *tb = t + b;                                               \
        EACH(m) diff[i] = pb[i] - tb[i];                                                \
        if (dp) { T *db = dp + b; EACH(m) db[i] = diff[i] * inv_n; }                    \
        total += fnn_dsumsq_##SFX(diff, m);                                             \
    }                                                                                   \
    return total;                                                                       \
}                                                                                       \
static ATTR double l1_##SFX##_##ISA(const T *w, int64_t n) { return fnn_dsumabs_##SFX(w, n); } \
static ATTR double l2_##SFX##_##ISA(const T *w, int64_t n) { return fnn_dsumsq_##SFX(w, n); }

DEFINE_LOSS_PASSES(float, f32, generic, , logf)
DEFINE_LOSS_PASSES(double, f64, generic, , log)
DEFINE_LOSS_PASSES(float, f32, avx2, FNN_TARGET_AVX2, logf)
DEFINE_LOSS_PASSES(double, f64, avx2, FNN_TARGET_AVX2, log)

static inline int parts_for(double work) {
    int nt = fnn_threads_for(work, FNN_ELEMWISE_PAR_MIN);
    return nt < MAX_PARTS ? nt : MAX_PARTS;
}

/* [lo, hi) of part t of n items split into nt contiguous parts, multiples of 64 */
static inline void split(int64_t n, int nt, int t, int64_t *lo, int64_t *hi) {
    int64_t per = ((n + nt - 1) / nt + 63) & ~(int64_t)63;
    *lo = per * t < n ? per * t : n;
    *hi = per * (t + 1) < n ? per * (t + 1) : n;
}

static double sum_parts(const double *part, int nt) {
    double s = 0;
    for (int t = 0; t < nt; t++) s += part[t];
    return s;
}

/* an elementwise loss over [0, size) split in nt parts; CALL(lo, hi) -> double */
#define ELEMWISE_SUM(nt, size, CALL)                                                    \
    double part[MAX_PARTS];                                                             \
    if (nt <= 1) { int64_t lo = 0, hi = size; part[0] = CALL; nt = 1; }                 \
    else {                                                                              \
        unsigned fp_ = fnn_fp_bits(); /* internal.h */                                  \
        _Pragma("omp parallel for schedule(static) num_threads(nt)")                    \
        for (int t = 0; t < nt; t++) {                                                  \
            unsigned saved_ = fnn_fp_adopt(fp_);                                        \
            int64_t lo, hi; split(size, nt, t, &lo, &hi);                               \
            part[t] = CALL;                                                             \
            fnn_fp_restore(fp_, saved_);                                                \
        }                                                                               \
    }

#define DEFINE_LOSS_API(T, SFX)                                                         \
static double xent_part_##SFX(T *dl, const T *z, const int32_t *lab, int64_t r0,        \
                              int64_t r1, int64_t cols, T inv_n, T clip) {              \
    T stack[XENT_BLOCK], *scratch = stack, *heap = NULL;                                \
    if (!dl && cols > XENT_BLOCK) {                                                     \
        heap = (T *)malloc((size_t)cols * sizeof(T));                                   \
        if (!heap) return NAN;                                                          \
        scratch = heap;                                                                 \
    }                                                                                   \
    double s = fnn_isa_level >= FNN_ISA_AVX2                                            \
                   ? xent_##SFX##_avx2(dl, z, lab, r0, r1, cols, inv_n, scratch, clip)  \
                   : xent_##SFX##_generic(dl, z, lab, r0, r1, cols, inv_n, scratch, clip); \
    free(heap);                                                                         \
    return s;                                                                           \
}                                                                                       \
double fnn_softmax_xent_clipped_##SFX(T *dlogits, const T *logits, const int32_t *labels, \
                                      int64_t n, int64_t classes, double clip) {        \
    T inv_n = (T)(1.0 / (double)n), tclip = (T)clip;                                    \
    int nt = parts_for(4.0 * (double)n * (double)classes);                              \
    double part[MAX_PARTS];                                                             \
    if (nt > n) nt = (int)n;                                                            \
    if (nt <= 1) {                                                                      \
        part[0] = xent_part_##SFX(dlogits, logits, labels, 0, n, classes, inv_n, tclip); \
        nt = 1;                                                                         \
    } else {                                                                            \
        unsigned fp_ = fnn_fp_bits(); /* internal.h */                                  \
        _Pragma("omp parallel for schedule(static) num_threads(nt)")                    \
        for (int t = 0; t < nt; t++) {                                                  \
            unsigned saved_ = fnn_fp_adopt(fp_);                                        \
            part[t] = xent_part_##SFX(dlogits, logits, labels, n * t / nt,              \
                                      n * (t + 1) / nt, classes, inv_n, tclip);         \
            fnn_fp_restore(fp_, saved_);                                                \
        }                                                                               \
    }                                                                                   \
    return sum_parts(part, nt) / (double)n;                                             \
}                                                                                       \
double fnn_softmax_xent_##SFX(T *dlogits, const T *logits, const int32_t *labels,      \
                              int64_t n, int64_t classes) {                             \
    return fnn_softmax_xent_clipped_##SFX(dlogits, logits, labels, n, classes, 0.0);    \
}                                                                                       \
double fnn_sigmoid_bce_clipped_##SFX(T *dlogits, const T *logits, const T *targets,    \
                                     int64_t n, int64_t cols, double clip) {            \
    int64_t size = n * cols; T inv_n = (T)(1.0 / (double)n), tclip = (T)clip;           \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    int nt = parts_for(4.0 * (double)size);                                             \
    ELEMWISE_SUM(nt, size, (avx2 ? bce_##SFX##_avx2 : bce_##SFX##_generic)(             \
        dlogits ? dlogits + lo : NULL, logits + lo, targets + lo, hi - lo, inv_n, tclip)) \
    return sum_parts(part, nt) / (double)n;                                             \
}                                                                                       \
double fnn_sigmoid_bce_##SFX(T *dlogits, const T *logits, const T *targets,            \
                             int64_t n, int64_t cols) {                                 \
    return fnn_sigmoid_bce_clipped_##SFX(dlogits, logits, targets, n, cols, 0.0);       \
}                                                                                       \
double fnn_mse_##SFX(T *dpred, const T *pred, const T *target, int64_t n, int64_t cols) { \
    int64_t size = n * cols; T inv_n = (T)(1.0 / (double)n);                            \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    int nt = parts_for((double)size);                                                   \
    ELEMWISE_SUM(nt, size, (avx2 ? mse_##SFX##_avx2 : mse_##SFX##_generic)(             \
        dpred ? dpred + lo : NULL, pred + lo, target + lo, hi - lo, inv_n))             \
    return sum_parts(part, nt) / (2.0 * (double)n);                                     \
}                                                                                       \
double fnn_l1_##SFX(const T *w, int64_t size) {                                         \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    int nt = parts_for((double)size);                                                   \
    ELEMWISE_SUM(nt, size, (avx2 ? l1_##SFX##_avx2 : l1_##SFX##_generic)(w + lo, hi - lo)) \
    return sum_parts(part, nt);                                                         \
}                                                                                       \
double fnn_l2_##SFX(const T *w, int64_t size) {                                         \
    int avx2 = fnn_isa_level >= FNN_ISA_AVX2;                                           \
    int nt = parts_for((double)size);                                                   \
    ELEMWISE_SUM(nt, size, (avx2 ? l2_##SFX##_avx2 : l2_##SFX##_generic)(w + lo, hi - lo)) \
    return 0.5 * sum_parts(part, nt);                                                   \
}

DEFINE_LOSS_API(float, f32)
DEFINE_LOSS_API(double, f64)
