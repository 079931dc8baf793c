/* internal.h -- helpers shared by the C sources; not part of the ABI. */
#ifndef FASTNN_INTERNAL_H
#define FASTNN_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include "fastnn.h"

#ifdef _OPENMP
#include <omp.h>
/* this thread's number in its team, and the team's size (0 and 1 without OpenMP) */
#define FNN_THREAD_NUM() omp_get_thread_num()
#define FNN_NUM_THREADS() omp_get_num_threads()
#else
#define FNN_THREAD_NUM() 0
#define FNN_NUM_THREADS() 1
#endif

/* ISA currently selected: 0 = generic C, 1 = AVX2+FMA, 2 = AVX-512F (runtime.c). Each
 * level includes the ones below: kernels with no AVX-512 form test >= FNN_ISA_AVX2.
 * Kernels read it on every call, so tests can switch paths in one process with
 * fnn_set_isa(). */
extern int fnn_isa_level;
#define FNN_ISA_GENERIC 0
#define FNN_ISA_AVX2 1
#define FNN_ISA_AVX512 2
/* 1: the divider-bound passes take 512-bit vectors at the AVX-512 level (fnn_set_zmm_divide) */
extern int fnn_zmm_divide;
/* 1 (Zen 5): the AVX-512 tile reads in place operands that packing repaid on Xeon (gemm.c) */
extern int fnn_in_place_reuse;
/* optim.c: Adam (no L1) that also returns the sum of squares of p before the update, as
 * 2 * fnn_l2 would, or -1 without doing anything where it cannot (train.c's batches) */
double fnn_adam_sumsq_f32(float *p, float *m, float *v, const float *g, int64_t n, double lr,
                          double b1, double b2, double eps, int64_t t, double l2, double wd);
double fnn_adam_sumsq_f64(double *p, double *m, double *v, const double *g, int64_t n, double lr,
                          double b1, double b2, double eps, int64_t t, double l2, double wd);

/* x86 SIMD code (SSE2, the x86-64 baseline; AVX2+FMA compiled per function so the
 * extension still loads on CPUs without AVX2) exists only on x86-64. Elsewhere, or
 * built with -DFNN_PORTABLE_ONLY (FASTNN_PORTABLE_BUILD=1), FNN_X86 is 0: the *_avx2
 * twins compile as plain C and are never selected (fnn_cpu_has_avx2_fma() is 0). */
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FNN_PORTABLE_ONLY)
#define FNN_X86 1
#define FNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define FNN_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#else
#define FNN_X86 0
#define FNN_TARGET_AVX2
#define FNN_TARGET_AVX512
#endif

/* scikit-learn's our_rand_r (sklearn/utils/_random.pxd): 32-bit xorshift, then mod
 * 2^31 -- the random draws of its coordinate descent (enet.c) and SAG (sag.c) */
#define FNN_SK_RAND_R_MAX 2147483647u
static inline uint32_t fnn_sk_rand_r(uint32_t *s) {
    if (*s == 0) *s = 1;
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s % (FNN_SK_RAND_R_MAX + 1u);
}

/* Subnormal flushing (fnn_set_flush_subnormals): while the knob is on, the float32
 * optimizer updates (optim.c) and the whole float32 epoch and loss_grad (train.c) run
 * with the MXCSR's flush-to-zero and denormals-are-zero bits set, and restore it.
 * FNN_FLUSHES_<sfx>: whether such a pass of that dtype flushes now; float64 never does
 * (its updates keep scikit-learn's numbers bit for bit, and its subnormals start 290
 * orders of magnitude lower).
 * Every parallel region runs with its caller's two bits on all its threads (a pool
 * thread keeps its own MXCSR otherwise): take fnn_fp_bits() before the region, and
 * wrap each thread's part in fnn_fp_adopt / fnn_fp_restore. So a kernel that spreads
 * over threads inside the epoch flushes on all of them, and no region leaves its
 * bits behind in a pool thread that other OpenMP code shares. */
extern int fnn_flush_subnormals;
#define FNN_FLUSHES_f32 (fnn_flush_subnormals)
#define FNN_FLUSHES_f64 0
#if FNN_X86
#include <xmmintrin.h>
#define FNN_MXCSR_FTZ_DAZ 0x8040u
static inline unsigned fnn_flush_enter(int on) {
    unsigned saved = _mm_getcsr();
    if (on) _mm_setcsr(saved | FNN_MXCSR_FTZ_DAZ);
    return saved;
}
static inline void fnn_flush_leave(int on, unsigned saved) {
    if (on) _mm_setcsr(saved);
}
static inline unsigned fnn_fp_bits(void) { return _mm_getcsr() & FNN_MXCSR_FTZ_DAZ; }
static inline unsigned fnn_fp_adopt(unsigned bits) {
    unsigned saved = _mm_getcsr();
    if ((saved & FNN_MXCSR_FTZ_DAZ) != bits) _mm_setcsr((saved & ~FNN_MXCSR_FTZ_DAZ) | bits);
    return saved;
}
static inline void fnn_fp_restore(unsigned bits, unsigned saved) {
    if ((saved & FNN_MXCSR_FTZ_DAZ) != bits) _mm_setcsr(saved);
}
#else
static inline unsigned fnn_flush_enter(int on) { (void)on; return 0; }
static inline void fnn_flush_leave(int on, unsigned saved) { (void)on; (void)saved; }
static inline unsigned fnn_fp_bits(void) { return 0; }
static inline unsigned fnn_fp_adopt(unsigned bits) { (void)bits; return 0; }
static inline void fnn_fp_restore(unsigned bits, unsigned saved) { (void)bits; (void)saved; }
#endif

/* Threads fastnn may use (fnn_set_num_threads); every parallel region asks for
 * fnn_threads_for(work) threads so that small problems stay on one thread. */
extern int fnn_num_threads;
extern int fnn_omp_pool_used; /* a region with > 1 thread has run: see runtime.c, fork */
/* The calling thread's OpenMP limit as fastnn left it: what fnn_set_num_threads last gave
 * omp_set_num_threads in this thread, else the process default when the library loaded
 * (runtime.c). A lower limit now was set by someone else: threadpoolctl. */
extern int fnn_omp_default_limit;
extern __thread int fnn_omp_limit_set_here;
/* fnn_num_threads, capped while the calling thread's OpenMP limit is below the one fastnn
 * left (threadpoolctl's threadpool_limits lowers it for its block, as it does for
 * scikit-learn's own OpenMP code); a limit only differing from the knob because the knob
 * was set in another Python thread (OpenMP limits are per thread) does not cap it */
static inline int fnn_thread_limit(void) {
#ifdef _OPENMP
    int t = fnn_num_threads;
    if (t <= 1) return 1; /* (one thread asked for: no call into the runtime) */
    int omp = omp_get_max_threads();
    int left = fnn_omp_limit_set_here ? fnn_omp_limit_set_here : fnn_omp_default_limit;
    return omp < left && omp < t ? omp : t;
#else
    return 1; /* built without OpenMP: every region runs on the calling thread */
#endif
}
static inline int fnn_threads_for(double flops_or_elems, double per_thread_min) {
    int t = fnn_thread_limit();
    if (t <= 1) return 1;
#ifdef _OPENMP
    if (omp_in_parallel()) return 1; /* called by a member of a team (train.c's data-parallel epoch) */
#endif
    int useful = (int)(flops_or_elems / per_thread_min);
    if (useful < 2) return 1;
    fnn_omp_pool_used = 1;
    return useful < t ? useful : t;
}

/* When train.c splits a batch over threads (measured on 2 threads, digits, float64):
 * each thread needs 64 rows at least (with 16, a 64-128-64-10 epoch at batch 32 ran
 * 12% slower than on one thread: the weight gradients have a k of 16 rows, and every
 * thread writes and adds up a whole gradient) and 2 MFLOP of forward + backward per
 * batch in float64, 4 in float32 (the same ~35 us of work: 64-64-10 at batch 200 in
 * float32, 2.9 MFLOP per thread, ran 7% slower split). Networks whose layer products reach
 * 48 MFLOP per batch keep the kernels' own threads instead, which scale there; the split
 * is for the smaller products they do not repay: 64-100-10 at batch 200, 1.49 ms on one
 * thread, 1.72 with threaded kernels, 0.97 split by rows. (The bar was 16 MFLOP, from
 * 64-512-256-10 at batch 128 on a Xeon, 24 ms an epoch against 30 split by rows. On Zen 5,
 * two threads, fit time kernels' threads -> split by rows: 784-100-10 at batch 200 (31
 * MFLOP) -12% float64 / -13% float32, 784-128-10 at 128 (26 MFLOP) -15% / -8%, 256-256-256-10
 * at 256 (34 MFLOP) -4%, 64-512-256-10 at 128 even; from 60-80 MFLOP even, and the kernels'
 * threads ahead beyond: 512-512-10 at 256 (134 MFLOP) +11% float64 split, 784-1000-10 at
 * 200 +22%.) Smaller batches stay on one thread: splitting every
 * layer by output columns instead (no gradient sums, 3L + 1 barriers a batch) ran
 * 64-128-64-10 at batch 32 only 1.0-1.2x faster on 2 threads, each thread's share
 * slowed by moving activations, weights and the update's slices between the cores,
 * and up to 100x slower when the other core was busy (a barrier then waits for the
 * scheduler). */
#define FNN_MIN_ROWS_PER_THREAD 64
#define FNN_ROWS_PAR_MIN_FLOPS 2.0e6
#define FNN_ROW_SPLIT_MAX_FLOPS 48.0e6
/* predict.c's row split and train.c's CSR batch pipeline keep the Xeon's bar (not re-measured) */
#define FNN_KERNEL_THREADS_FLOPS 16.0e6

/* Elementwise kernels below this many elements run on one thread. */
#define FNN_ELEMWISE_PAR_MIN 32768.0

/* Dropout of elements [first, first + n) of a larger array whose element 0 is at
 * y - first: the same masks as fnn_dropout_* over the whole array (dropout.c). */
void fnn_dropout_from_f32(float *y, const float *x, int64_t n, int64_t first, uint64_t key,
                          uint32_t threshold, double scale);
void fnn_dropout_from_f64(double *y, const double *x, int64_t n, int64_t first, uint64_t key,
                          uint32_t threshold, double scale);

/* fnn_softmax_xent / fnn_sigmoid_bce whose loss value, with clip > 0, is scikit-learn's
 * log loss: -log of the probabilities (softmax / sigmoid of the logits) clipped to
 * [clip, 1 - clip] (losses.c); the gradient is unchanged. The public kernels are these
 * with clip = 0 (the exact loss from the logits); the epoch passes its loss_clip. */
double fnn_softmax_xent_clipped_f32(float *dlogits, const float *logits, const int32_t *labels,
                                    int64_t n, int64_t classes, double clip);
double fnn_softmax_xent_clipped_f64(double *dlogits, const double *logits, const int32_t *labels,
                                    int64_t n, int64_t classes, double clip);
double fnn_sigmoid_bce_clipped_f32(float *dlogits, const float *logits, const float *targets,
                                   int64_t n, int64_t cols, double clip);
double fnn_sigmoid_bce_clipped_f64(double *dlogits, const double *logits, const double *targets,
                                   int64_t n, int64_t cols, double clip);

/* ---- single-threaded activation passes (activations.c) ----
 * The same math as fnn_act_forward_* / fnn_act_backward_* (ISA chosen on
 * fnn_isa_level) but never opening an OpenMP region: for callers that are
 * already inside one, e.g. a dense layer's epilogue on its own row block. */
void fnn_act_forward_block_f32(float *y, const float *x, int64_t rows, int64_t cols,
                               int act, double param);
void fnn_act_forward_block_f64(double *y, const double *x, int64_t rows, int64_t cols,
                               int act, double param);
void fnn_act_backward_block_f32(float *dx, const float *dy, const float *y, const float *x,
                                int64_t rows, int64_t cols, int act, double param);
void fnn_act_backward_block_f64(double *dx, const double *dy, const double *y, const double *x,
                                int64_t rows, int64_t cols, int act, double param);

/* ---- an MLP's first layer on a CSR X (csr.c), for train.c ----
 * The batch's rows: row r is row idx[r] of X (idx non-NULL) or row r0 + r. transpose:
 * their non-zeros by column, as colptr [in + 1] and (batch row, value) pairs erow / eval
 * [their nnz], a column's rows in batch order; csc_weight_grad from it: dw[in, out] =
 * X_rows^T dz[rows, out] (all of dw written: zero where no row has a non-zero), or with
 * `add` dw += X_rows^T dz (loss_grad's chunks: rows of dw no row touches are not read).
 * csr_forward: z[rows, out] = X_rows @ w[in, out] + b from the rows themselves, or from
 * the transpose (colptr, erow, eval; NULL: none) for a sparse batch and a large W. One
 * thread; the arrays were checked by fastnn.kernels. */
void fnn_csr_transpose_f32(int64_t *colptr, int32_t *erow, float *eval, const float *data,
                           const int32_t *ind, const int64_t *ptr, const int64_t *idx, int64_t r0,
                           int64_t rows, int64_t in);
void fnn_csr_transpose_f64(int64_t *colptr, int32_t *erow, double *eval, const double *data,
                           const int32_t *ind, const int64_t *ptr, const int64_t *idx, int64_t r0,
                           int64_t rows, int64_t in);
void fnn_csr_forward_f32(float *z, const float *data, const int32_t *ind, const int64_t *ptr,
                         const int64_t *idx, int64_t r0, int64_t rows, const float *w, const float *b,
                         int64_t in, int64_t out, const int64_t *colptr, const int32_t *erow,
                         const float *eval);
void fnn_csr_forward_f64(double *z, const double *data, const int32_t *ind, const int64_t *ptr,
                         const int64_t *idx, int64_t r0, int64_t rows, const double *w, const double *b,
                         int64_t in, int64_t out, const int64_t *colptr, const int32_t *erow,
                         const double *eval);
void fnn_csc_weight_grad_f32(float *dw, const int64_t *colptr, const int32_t *erow, const float *eval,
                             const float *dz, int64_t rows, int64_t in, int64_t out, int add);
void fnn_csc_weight_grad_f64(double *dw, const int64_t *colptr, const int32_t *erow, const double *eval,
                             const double *dz, int64_t rows, int64_t in, int64_t out, int add);


/* csr.c: a narrow first layer row by row (out <= FNN_CSR_ROWS_MAX_OUT; loss_grad's), rows
 * idx[0 .. rows) or r0 .. r0 + rows of the CSR x: z = x_rows w + b; dw += x_rows^T dz */
#define FNN_CSR_ROWS_MAX_OUT 16
void fnn_csr_forward_rows_f32(float *z, const float *data, const int32_t *ind, const int64_t *ptr,
                              const int64_t *idx, int64_t r0, int64_t rows, const float *w,
                              const float *b, int64_t out);
void fnn_csr_forward_rows_f64(double *z, const double *data, const int32_t *ind, const int64_t *ptr,
                              const int64_t *idx, int64_t r0, int64_t rows, const double *w,
                              const double *b, int64_t out);
void fnn_csr_weight_grad_rows_f32(float *dw, const float *data, const int32_t *ind, const int64_t *ptr,
                                  const int64_t *idx, int64_t r0, int64_t rows, const float *dz,
                                  int64_t out);
void fnn_csr_weight_grad_rows_f64(double *dw, const double *data, const int32_t *ind,
                                  const int64_t *ptr, const int64_t *idx, int64_t r0, int64_t rows,
                                  const double *dz, int64_t out);

/* sandwich.c: the lower triangle of out [p, p, nw] (row-major, nw values an entry) set to
 * the mirror of its upper one; the CSR and the dense sandwiches' last step */
void fnn_mirror_upper_f32(float *out, int64_t p, int64_t nw);
void fnn_mirror_upper_f64(double *out, int64_t p, int64_t nw);

#endif
