/* sag.c -- stochastic average gradient, SAG and SAGA (fnn_sag_*): Ridge and
 * LogisticRegression's solvers="sag"/"saga".
 *
 * scikit-learn's sag32 / sag64 (sklearn/linear_model/_sag_fast.pyx.tp) step for
 * step, for dense X (its ArrayDataset) and CSR X (its CSRDataset): samples drawn with
 * replacement by its xorshift (SequentialDataset.random), the just-in-time ("lagged")
 * updates kept in the cumulative sums (on CSR X, of a drawn row's features only, each
 * from the step it was last brought up to date at: feature_hist), the weight scale
 * wscale for the L2 shrinkage, SAGA's prox (soft-thresholding) for beta > 0, the
 * intercept step with intercept_decay, the stopping rule and the epoch count. Every
 * operation is in the type scikit-learn's C has for it (T, or double where it mixes T
 * with the double step size), in the same order, so a fit takes the same epochs to the
 * same coefficients. Built only as portable C: an FMA-contracted multiply-add would
 * round differently from scikit-learn's. The spec is fastnn/backends/_sag_reference.py.
 */
#include <math.h>
#include "internal.h"

#define DEFINE_SAG(T, SFX)                                                                  \
static T fmax_##SFX(T x, T y) { return x > y ? x : y; }                                     \
static T soft_##SFX(T x, T shrink) {                                                        \
    return fmax_##SFX(x - shrink, 0) - fmax_##SFX(-x - shrink, 0);                          \
}                                                                                           \
/* Weight idx brought up to date: the steps last + 1 .. itr - 1 still pending on it      \
 * (scikit-learn's lagged_update for one weight; cs, csp its summed step sizes). */      \
static inline T lag_one_##SFX(T w, T sg, T cs, T csp, const T *cum, const T *cum_prox,    \
                              int64_t itr, int64_t last, int prox) {                      \
    if (!prox) return w - cs * sg;                                                        \
    if (fabs(sg * cs) < csp)  /* every gradient step, then every prox step (lightning) */  \
        return soft_##SFX(w - cs * sg, csp);                                              \
    for (int64_t li = itr - 1; li >= last; li--) {  /* step by step, newest first */      \
        T gs = li > 0 ? cum[li] - cum[li - 1] : cum[li];                                  \
        T ps = li > 0 ? cum_prox[li] - cum_prox[li - 1] : cum_prox[li];                   \
        w = soft_##SFX(w - sg * gs, ps);                                                  \
    }                                                                                     \
    return w;                                                                             \
}                                                                                         \
/* The pending steps' sums since step `last` (every feature of a dense sample is       \
 * brought up to date at every step, so one `last` serves all: scikit-learn's          \
 * feature_hist, which stays uniform on dense data). */                                 \
static inline void lag_sums_##SFX(T *cs, T *csp, const T *cum, const T *cum_prox,         \
                                  int64_t itr, int64_t last, int prox) {                  \
    *cs = cum[itr - 1];                                                                   \
    *csp = prox ? cum_prox[itr - 1] : (T)0;                                               \
    if (last != 0) {                                                                      \
        *cs -= cum[last - 1];                                                             \
        if (prox) *csp -= cum_prox[last - 1];                                             \
    }                                                                                     \
}                                                                                         \
/* Every pending update applied and the weights scaled by wscale (scikit-learn's        \
 * scale_weights; wscale is then 1). Returns -1 on a non-finite weight. Dense X: one      \
 * `last` for all features; CSR X: each feature's own, hist[f] (NULL for dense). */       \
static int rescale_##SFX(T *restrict w, T wscale, int64_t p, int64_t k, int64_t n,        \
                         int64_t itr, T *restrict cum, T *restrict cum_prox, int64_t *last, \
                         int64_t *restrict hist, int prox, const T *restrict sg) {        \
    T cs = 0, csp = 0;                                                                    \
    int finite = 1;                                                                       \
    for (int64_t f = 0; f < p; f++) {                                                     \
        const int64_t lf = hist ? hist[f] : *last;                                        \
        if (hist || f == 0) lag_sums_##SFX(&cs, &csp, cum, cum_prox, itr, lf, prox);      \
        for (int64_t idx = f * k; idx < (f + 1) * k; idx++) {                             \
            w[idx] = lag_one_##SFX(w[idx], sg[idx], cs, csp, cum, cum_prox, itr, lf, prox) \
                     * wscale;                                                            \
            finite &= isfinite(w[idx]) != 0;                                              \
        }                                                                                 \
        if (hist) hist[f] = itr % n;                                                      \
    }                                                                                     \
    if (!finite) return -1;                                                               \
    *last = itr % n;                                                                      \
    cum[itr - 1] = 0;                                                                     \
    if (prox) cum_prox[itr - 1] = 0;                                                      \
    return 0;                                                                             \
}                                                                                         \
int fnn_sag_##SFX(T *restrict coef, T *restrict intercept, T *restrict sum_gradient,      \
                  T *restrict gradient_memory, T *restrict intercept_sum_gradient,        \
                  int32_t *restrict seen, int64_t *n_iter_out, T *restrict work,          \
                  int64_t *restrict hist, const T *restrict x,                            \
                  const int64_t *restrict indptr, const int32_t *restrict indices,        \
                  const T *restrict y,                                                    \
                  const T *restrict sample_weight, double step_size, double alpha,        \
                  double beta, double tol, double intercept_decay, uint32_t seed,         \
                  int loss, int saga, int fit_intercept, int64_t max_iter,                \
                  int64_t n_samples, int64_t n_features, int64_t n_classes) {             \
    const int64_t n = n_samples, p = n_features, k = n_classes, pk = p * k;               \
    T *restrict cum = work, *restrict cum_prox = work + n, *restrict prev = work + 2 * n;  \
    T *restrict pred = prev + pk, *restrict grad = pred + k, *restrict diff = grad + k;   \
    T *restrict sg = sum_gradient;                                                        \
    const int prox = beta > 0 && saga;                                                    \
    const T wscale_update = (T)(1.0 - step_size * alpha);                                 \
    T wscale = 1;                                                                         \
    int num_seen = 0, status = 0;                                                         \
    int64_t last = 0;  /* dense X: the step the weights were last brought up to date at */ \
    if (indptr) for (int64_t f = 0; f < p; f++) hist[f] = 0;  /* CSR X: per feature */    \
    for (int64_t i = 0; i < n; i++) num_seen += seen[i] != 0;                             \
    for (int64_t j = 0; j < pk; j++) prev[j] = 0;                                         \
    cum[0] = 0;                                                                           \
    int64_t it = 0;                                                                       \
    for (it = 0; it < max_iter; it++) {                                                   \
        for (int64_t itr = 0; itr < n; itr++) {                                           \
            int64_t s = (int64_t)(fnn_sk_rand_r(&seed) % (uint32_t)n);                       \
            /* the sample's values xs and (CSR) their features xi: nnz of them */         \
            const int64_t start = indptr ? indptr[s] : s * p;                             \
            const int64_t nnz = indptr ? indptr[s + 1] - start : p;                       \
            const T *restrict xs = x + start;                                             \
            const int32_t *restrict xi = indptr ? indices + start : NULL;                 \
            T ys = y[s], sw = sample_weight[s];                                           \
            T *restrict gmem = gradient_memory + s * k;                                   \
            if (seen[s] == 0) { num_seen++; seen[s] = 1; }                                \
            /* the pending updates, then the prediction: one pass (the dot in order) */   \
            if (xi && k == 1) {  /* as below, the dot summed as each weight is made current \
                                  * (its additions' latency hidden behind the lag updates) */ \
                T acc = 0;                                                                \
                for (int64_t jj = 0; jj < nnz; jj++) {                                    \
                    const int64_t f = xi[jj];                                             \
                    if (itr > 0) {                                                        \
                        T cs, csp;                                                        \
                        lag_sums_##SFX(&cs, &csp, cum, cum_prox, itr, hist[f], prox);     \
                        coef[f] = lag_one_##SFX(coef[f], sg[f], cs, csp, cum, cum_prox,   \
                                                itr, hist[f], prox);                      \
                        hist[f] = itr;                                                    \
                    }                                                                     \
                    acc += coef[f] * xs[jj];                                              \
                }                                                                         \
                pred[0] = acc;                                                            \
            } else if (xi) {  /* only the sample's features, each from its own last step */ \
                for (int64_t jj = 0; itr > 0 && jj < nnz; jj++) {                         \
                    const int64_t f = xi[jj];                                             \
                    T cs, csp;                                                            \
                    lag_sums_##SFX(&cs, &csp, cum, cum_prox, itr, hist[f], prox);         \
                    for (int64_t idx = f * k; idx < (f + 1) * k; idx++)                   \
                        coef[idx] = lag_one_##SFX(coef[idx], sg[idx], cs, csp, cum,       \
                                                  cum_prox, itr, hist[f], prox);          \
                    hist[f] = itr;                                                        \
                }                                                                         \
                for (int64_t c = 0; c < k; c++) {                                         \
                    T acc = 0;                                                            \
                    for (int64_t jj = 0; jj < nnz; jj++) acc += coef[xi[jj] * k + c] * xs[jj]; \
                    pred[c] = acc;                                                        \
                }                                                                         \
            } else if (itr > 0) {                                                         \
                /* class by class, the sum in a register (a sum kept in pred[] waits on   \
                 * its own store every feature): the same terms in the same order */      \
                T cs, csp;                                                                \
                lag_sums_##SFX(&cs, &csp, cum, cum_prox, itr, last, prox);                \
                for (int64_t c = 0; c < k; c++) {                                         \
                    T acc = 0;                                                            \
                    for (int64_t j = 0; j < p; j++) {                                     \
                        const int64_t idx = j * k + c;                                    \
                        coef[idx] = lag_one_##SFX(coef[idx], sg[idx], cs, csp, cum,       \
                                                  cum_prox, itr, last, prox);             \
                        acc += coef[idx] * xs[j];                                         \
                    }                                                                     \
                    pred[c] = acc;                                                        \
                }                                                                         \
                last = itr;                                                               \
            } else {                                                                      \
                for (int64_t c = 0; c < k; c++) {                                         \
                    T acc = 0;                                                            \
                    for (int64_t j = 0; j < p; j++) acc += coef[j * k + c] * xs[j];       \
                    pred[c] = acc;                                                        \
                }                                                                         \
            }                                                                             \
            for (int64_t c = 0; c < k; c++) pred[c] = wscale * pred[c] + intercept[c];    \
            if (loss == 2) {  /* CyHalfMultinomialLoss.cy_gradient */                    \
                double top = pred[0], total = 0;                                          \
                for (int64_t c = 1; c < k; c++) if (top < pred[c]) top = pred[c];         \
                for (int64_t c = 0; c < k; c++) {                                         \
                    grad[c] = (T)exp(pred[c] - top);                                      \
                    total += grad[c];                                                     \
                }                                                                         \
                for (int64_t c = 0; c < k; c++) {                                         \
                    grad[c] = (T)(grad[c] / total);                                       \
                    grad[c] = (grad[c] - (ys == c)) * sw;                                 \
                }                                                                         \
            } else {                                                                      \
                double yd = ys, raw = pred[0], g;                                         \
                if (loss == 0) g = raw - yd;  /* half squared error */                    \
                else if (raw > -37) {         /* half binomial, as cgradient_half_binomial */ \
                    double e = exp(-raw);                                                 \
                    g = ((1 - yd) - yd * e) / (1 + e);                                    \
                } else g = exp(raw) - yd;                                                 \
                grad[0] = (T)(g * sw);                                                    \
            }                                                                             \
            wscale *= wscale_update;  /* the L2 shrinkage, lazily */                      \
            for (int64_t c = 0; c < k; c++) diff[c] = grad[c] - gmem[c];                  \
            if (saga) {                                                                   \
                const double shrink = 1 - 1. / num_seen, ws = wscale;                     \
                for (int64_t jj = 0; jj < nnz; jj++) {                                    \
                    const int64_t f = xi ? xi[jj] : jj;                                   \
                    for (int64_t c = 0; c < k; c++) {                                     \
                        T corr = xs[jj] * diff[c];                                        \
                        coef[f * k + c] -= corr * step_size * shrink / ws;                \
                        sg[f * k + c] += corr;                                            \
                    }                                                                     \
                }                                                                         \
            } else {                                                                      \
                for (int64_t jj = 0; jj < nnz; jj++) {                                    \
                    const int64_t f = xi ? xi[jj] : jj;                                   \
                    for (int64_t c = 0; c < k; c++) sg[f * k + c] += xs[jj] * diff[c];    \
                }                                                                         \
            }                                                                             \
            if (fit_intercept) {                                                          \
                for (int64_t c = 0; c < k; c++) {                                         \
                    T corr = diff[c];                                                     \
                    intercept_sum_gradient[c] += corr;                                    \
                    corr *= step_size * (1. - 1. / num_seen);                             \
                    if (saga)                                                             \
                        intercept[c] -= step_size * intercept_sum_gradient[c] / num_seen  \
                                        * intercept_decay + corr;                         \
                    else                                                                  \
                        intercept[c] -= step_size * intercept_sum_gradient[c] / num_seen  \
                                        * intercept_decay;                                \
                    if (!isfinite(intercept[c])) { status = -1; break; }                  \
                }                                                                         \
                if (status < 0) break;                                                    \
            }                                                                             \
            for (int64_t c = 0; c < k; c++) gmem[c] = grad[c];                            \
            if (itr == 0) {                                                               \
                cum[0] = step_size / (wscale * num_seen);                                 \
                if (prox) cum_prox[0] = step_size * beta / wscale;                        \
            } else {                                                                      \
                cum[itr] = cum[itr - 1] + step_size / (wscale * num_seen);                \
                if (prox) cum_prox[itr] = cum_prox[itr - 1] + step_size * beta / wscale;  \
            }                                                                             \
            if (wscale < 1e-9) {  /* rescale: apply every pending update, wscale = 1 */   \
                if (rescale_##SFX(coef, wscale, p, k, n, itr + 1, cum, cum_prox, &last,   \
                                  indptr ? hist : NULL, prox, sg) < 0) {                  \
                    status = -1; break;                                                   \
                }                                                                         \
                wscale = 1;                                                               \
            }                                                                             \
        }                                                                                 \
        if (status < 0) break;                                                            \
        /* the epoch's end: no update left pending at a convergence check */             \
        if (rescale_##SFX(coef, wscale, p, k, n, n, cum, cum_prox, &last,                 \
                          indptr ? hist : NULL, prox, sg) < 0) {                          \
            status = -1; break;                                                           \
        }                                                                                 \
        wscale = 1;                                                                       \
        T max_change = 0, max_weight = 0;                                                 \
        for (int64_t j = 0; j < pk; j++) {                                                \
            max_weight = fmax_##SFX(max_weight, (T)fabs(coef[j]));                        \
            max_change = fmax_##SFX(max_change, (T)fabs(coef[j] - prev[j]));              \
            prev[j] = coef[j];                                                            \
        }                                                                                 \
        if ((max_weight != 0 && (T)(max_change / max_weight) <= tol)                      \
            || (max_weight == 0 && max_change == 0)) break;                               \
    }                                                                                     \
    /* scikit-learn's count: the epoch stopped in, 1-based (max_iter when none did) */   \
    *n_iter_out = (it < max_iter ? it : (max_iter > 0 ? max_iter - 1 : 0)) + 1;           \
    return status < 0 ? FNN_ENONFINITE : FNN_OK;                                          \
}

DEFINE_SAG(float, f32)
DEFINE_SAG(double, f64)
