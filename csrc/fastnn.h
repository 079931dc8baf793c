/* fastnn.h -- the whole C ABI of fastnn, one place.
 *
 * Conventions (see DESIGN.md, "The kernel contract"):
 *   - outputs first, then inputs, then sizes, then scalar parameters;
 *   - every array is C-contiguous and dense; sizes are element counts;
 *   - float32 functions end in _f32, float64 in _f64; labels are int32;
 *   - scalar hyper-parameters are passed as double for both dtypes;
 *   - nothing here validates: fastnn/kernels.py checks every size, dtype and
 *     pointer before a call reaches C. A pointer documented "nullable" may be NULL.
 *
 * The block between CDEF-BEGIN and CDEF-END is read by fastnn/_cffi_build.py
 * and handed to cffi's cdef(), so it must stay plain declarations: no
 * preprocessor conditionals, no attributes, no inline bodies.
 */
#ifndef FASTNN_H
#define FASTNN_H

#include <stdint.h>

/* CDEF-BEGIN */

/* ---- activation codes (fastnn/kernels.py keeps the matching name table) ---- */
enum {
    FNN_ACT_IDENTITY = 0,
    FNN_ACT_RELU = 1,
    FNN_ACT_LEAKY_RELU = 2,   /* param = negative slope */
    FNN_ACT_SIGMOID = 3,
    FNN_ACT_TANH = 4,
    FNN_ACT_SOFTPLUS = 5,
    FNN_ACT_GELU = 6,         /* exact: x * Phi(x), with erf */
    FNN_ACT_GELU_TANH = 7,    /* tanh approximation */
    FNN_ACT_ELU = 8,          /* param = alpha */
    FNN_ACT_SOFTMAX = 9       /* row-wise over the last axis */
};

/* ---- runtime: ISA dispatch and threads (runtime.c) ---- */
int fnn_cpu_has_avx2_fma(void);     /* 1 if CPUID and the OS allow AVX2+FMA */
int fnn_cpu_has_avx512f(void);      /* 1 if CPUID and the OS allow AVX-512F (and AVX2+FMA) */
int fnn_get_isa(void);              /* 0 = generic C, 1 = AVX2+FMA, 2 = AVX-512F */
int fnn_set_isa(int isa);           /* the highest level <= isa the CPU has; returns it */
const char *fnn_isa_name(void);
/* Divider-bound passes (the optimizer updates) on 512-bit vectors at the AVX-512 level:
 * on by default where the CPU divides them at full rate (AMD Zen 5 and later), off
 * elsewhere (8-lane forms); results are identical either way. The setter is for tests
 * and benchmarks; it stays off without AVX-512F. */
int fnn_cpu_has_full_rate_zmm_divide(void);
void fnn_set_zmm_divide(int on);
int fnn_get_zmm_divide(void);
/* The AVX-512 tile's packing plan (gemm.c): 1 reads in place the operands that packing
 * repaid on Xeon (the default on AMD Zen 5 and later, where that measured faster), 0
 * packs them. The products are the same bits either way (packing never changes a sum);
 * the setter is for tests and benchmarks. */
void fnn_set_in_place_reuse(int on);
int fnn_get_in_place_reuse(void);
void fnn_set_num_threads(int n);   /* stays 1 in a child forked after OpenMP threads ran */
int fnn_get_num_threads(void);
/* fnn_get_num_threads() capped by the calling thread's OpenMP limit, what the next parallel
 * region started from this thread may use: fnn_set_num_threads sets that limit too, and
 * threadpoolctl's threadpool_limits lowers it for its block; 1 in a build without OpenMP */
int fnn_thread_limit_here(void);
/* float32 training flushes subnormal numbers to zero (on, the default) or keeps them:
 * the optimizer updates (fnn_sgd_f32 ... fnn_adam_f32, alone or not) and the whole of
 * fnn_train_epoch_f32 / fnn_loss_grad_f32 (every kernel they run, on every thread);
 * float64 and every other kernel called alone never flush. Parallel regions run with
 * the calling thread's flush-to-zero / denormals-are-zero bits on all their threads. */
void fnn_set_flush_subnormals(int on);
int fnn_get_flush_subnormals(void);
int fnn_in_forked_child(void);      /* 1 in a child forked after OpenMP threads ran: one thread */
void fnn_enter_single_threaded_child(void); /* what fork() does when this library's pool ran */
int fnn_openmp_version(void);       /* _OPENMP macro value, 0 without OpenMP */

/* ---- gemm (gemm.c): C[m,n] = alpha * op(A) @ op(B) + beta * C ----
 * op(A) is [m,k]: A is stored [m,k], or [k,m] when trans_a != 0.
 * op(B) is [k,n]: B is stored [k,n], or [n,k] when trans_b != 0.
 * When beta == 0, C is write-only (its old contents, even NaN, are ignored). */
void fnn_gemm_f32(float *c, const float *a, const float *b,
                  int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                  double alpha, double beta);
void fnn_gemm_f64(double *c, const double *a, const double *b,
                  int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                  double alpha, double beta);

/* ---- dense layer (dense.c) ----
 * forward:  z = x[n,i] @ w[i,o] + b[o];  out[n,o] = act(z);  z_out (nullable) receives z.
 * backward: dz = dout * act'(.)  (act' is computed from y = the forward output, or,
 *           for gelu/gelu_tanh, from z);  dw[i,o] = x^T dz;  db[o] = sum_rows dz;
 *           dx[n,i] = dz w^T (dx nullable: skipped).  dz_scratch[n,o] is caller-owned
 *           workspace (may alias dout, which is then overwritten).
 *           For softmax, act'(.) is the full row Jacobian-vector product. */
void fnn_dense_forward_f32(float *out, float *z_out, const float *x, const float *w,
                           const float *b, int64_t n, int64_t in, int64_t out_dim,
                           int act, double act_param);
void fnn_dense_forward_f64(double *out, double *z_out, const double *x, const double *w,
                           const double *b, int64_t n, int64_t in, int64_t out_dim,
                           int act, double act_param);
void fnn_dense_backward_f32(float *dx, float *dw, float *db, float *dz_scratch,
                            const float *dout, const float *x, const float *w,
                            const float *y, const float *z,
                            int64_t n, int64_t in, int64_t out_dim, int act, double act_param);
void fnn_dense_backward_f64(double *dx, double *dw, double *db, double *dz_scratch,
                            const double *dout, const double *x, const double *w,
                            const double *y, const double *z,
                            int64_t n, int64_t in, int64_t out_dim, int act, double act_param);

/* ---- activations (activations.c), over [rows, cols] ----
 * backward: dx = dy * act'(.), from y (the forward output) or, for gelu/gelu_tanh,
 * from x (the forward input); the unused one may be NULL. y may alias x and dx may
 * alias dy (exactly; never a partial overlap). Reentrant: callable from any thread;
 * large arrays are split over fnn_get_num_threads() OpenMP threads. */
void fnn_act_forward_f32(float *y, const float *x, int64_t rows, int64_t cols,
                         int act, double param);
void fnn_act_forward_f64(double *y, const double *x, int64_t rows, int64_t cols,
                         int act, double param);
void fnn_act_backward_f32(float *dx, const float *dy, const float *y, const float *x,
                          int64_t rows, int64_t cols, int act, double param);
void fnn_act_backward_f64(double *dx, const double *dy, const double *y, const double *x,
                          int64_t rows, int64_t cols, int act, double param);

/* ---- losses (losses.c): return the loss; the gradient pointer is nullable ----
 * softmax_xent: loss = -sum_i log softmax(logits_i)[label_i] / n;
 *               dlogits = (softmax(logits) - onehot(labels)) / n.
 * sigmoid_bce:  loss = sum over all elements of BCE(sigmoid(logits), targets) / n;
 *               dlogits = (sigmoid(logits) - targets) / n.
 * mse:          loss = sum((pred - target)^2) / (2 n);  dpred = (pred - target) / n. */
double fnn_softmax_xent_f32(float *dlogits, const float *logits, const int32_t *labels,
                            int64_t n, int64_t classes);
double fnn_softmax_xent_f64(double *dlogits, const double *logits, const int32_t *labels,
                            int64_t n, int64_t classes);
double fnn_sigmoid_bce_f32(float *dlogits, const float *logits, const float *targets,
                           int64_t n, int64_t cols);
double fnn_sigmoid_bce_f64(double *dlogits, const double *logits, const double *targets,
                           int64_t n, int64_t cols);
double fnn_mse_f32(float *dpred, const float *pred, const float *target, int64_t n, int64_t cols);
double fnn_mse_f64(double *dpred, const double *pred, const double *target, int64_t n, int64_t cols);

/* ---- penalty values (losses.c): l1 = sum |w|, l2 = sum w^2 / 2 ---- */
double fnn_l1_f32(const float *w, int64_t size);
double fnn_l1_f64(const double *w, int64_t size);
double fnn_l2_f32(const float *w, int64_t size);
double fnn_l2_f64(const double *w, int64_t size);

/* ---- fused optimizer updates (optim.c), in place over flat buffers of `size` ----
 * Every update, per element, in this order:
 *   g' = g + l2 * p                       (coupled L2)
 *   p  = p - lr * wd * p                  (decoupled weight decay, from the old p)
 *   p  = p + step(g')                     (the optimizer's own rule, below)
 *   p  = sign(p) * max(|p| - lr * l1, 0)  (proximal L1: exact zeros)
 * sgd:       step = -lr g'
 * momentum:  v = mu v - lr g';  step = v                       (scikit-learn)
 * nesterov:  v = mu v - lr g';  step = mu v - lr g'            (scikit-learn)
 * adagrad:   a += g'^2;  step = -lr g' / (sqrt(a) + eps)
 * rmsprop:   s = rho s + (1 - rho) g'^2;  step = -lr g' / (sqrt(s) + eps)
 * adam:      m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'^2;
 *            lr_t = lr sqrt(1 - b2^t) / (1 - b1^t);  step = -lr_t m / (sqrt(v) + eps)
 *            (Kingma & Ba's efficient form, as scikit-learn; t >= 1 is the step count)
 * adamw is adam with wd != 0.
 * float32: subnormal results and inputs are flushed to zero unless
 * fnn_set_flush_subnormals(0) (see there); float64 keeps them. */
void fnn_sgd_f32(float *p, const float *g, int64_t size,
                 double lr, double l2, double l1, double wd);
void fnn_sgd_f64(double *p, const double *g, int64_t size,
                 double lr, double l2, double l1, double wd);
void fnn_momentum_f32(float *p, float *v, const float *g, int64_t size,
                      double lr, double mu, int nesterov, double l2, double l1, double wd);
void fnn_momentum_f64(double *p, double *v, const double *g, int64_t size,
                      double lr, double mu, int nesterov, double l2, double l1, double wd);
void fnn_adagrad_f32(float *p, float *acc, const float *g, int64_t size,
                     double lr, double eps, double l2, double l1, double wd);
void fnn_adagrad_f64(double *p, double *acc, const double *g, int64_t size,
                     double lr, double eps, double l2, double l1, double wd);
void fnn_rmsprop_f32(float *p, float *sq, const float *g, int64_t size,
                     double lr, double rho, double eps, double l2, double l1, double wd);
void fnn_rmsprop_f64(double *p, double *sq, const double *g, int64_t size,
                     double lr, double rho, double eps, double l2, double l1, double wd);
void fnn_adam_f32(float *p, float *m, float *v, const float *g, int64_t size,
                  double lr, double b1, double b2, double eps, int64_t t,
                  double l2, double l1, double wd);
void fnn_adam_f64(double *p, double *m, double *v, const double *g, int64_t size,
                  double lr, double b1, double b2, double eps, int64_t t,
                  double l2, double l1, double wd);

/* ---- dropout (dropout.c): y = x * keep(i) * scale ----
 * keep(i) = (fnn_mix64(key + (i + 1) * 0x9E3779B97F4A7C15) >> 40) >= threshold,
 * key = fnn_mix64(seed * 0x9E3779B97F4A7C15 + step) (computed by the caller),
 * threshold = floor(p * 2^24), scale = 1 / (1 - p). The same call with dy in place
 * of x is the backward. y may alias x. fnn_mix64 is splitmix64's finaliser. */
uint64_t fnn_mix64(uint64_t z);
void fnn_dropout_f32(float *y, const float *x, int64_t size,
                     uint64_t key, uint32_t threshold, double scale);
void fnn_dropout_f64(double *y, const double *x, int64_t size,
                     uint64_t key, uint32_t threshold, double scale);

/* ---- a whole epoch of mini-batch MLP training (train.c) ----
 * The network: sizes[0..n_layers], dense layer l maps sizes[l] -> sizes[l+1]; hidden
 * layers use `act` (any FNN_ACT_* but softmax), the output layer is linear and the loss
 * applies softmax / sigmoid itself. Flat layout of params, grads and each state row
 * (state is [n_state, size], n_state = 0 sgd, 1 momentum/nesterov/adagrad/rmsprop,
 * 2 adam/adamw): all W_l [sizes[l], sizes[l+1]] (C order), then all b_l.
 * Batch b (b = 0.. ceil(m / batch_size) - 1) holds rows perm[b*bs .. min(m, (b+1)*bs));
 * with t = step + b + 1 and rows its length:
 *   gather rows; forward; hidden outputs through dropout(key = fnn_mix64(seed * GOLDEN
 *   + t * 1024 + l), threshold = floor(dropout * 2^24)) when dropout > 0; loss and
 *   gradient (batch loss += alpha * sum(W^2) / (2 s)); backward; update the weights
 *   with l2 = alpha / s, l1, wd and the biases with no penalty (fastnn.h's
 *   optimizer kernels; adam's t as above; adamw = adam).
 * s is the batch's row count, or with sample_weight (nullable, [n], every batch's sum
 * nonzero) the sum of its rows' weights w_r: the batch loss is then sum(w_r loss_r) / s
 * and the gradient of row r's logits w_r / s times its unscaled one (scikit-learn's).
 * fastnn/backends/_train_reference.py is the spec. Workspace is allocated once per
 * call. On several threads (fnn_set_num_threads) a batch may be split by rows (see
 * train.c): the same numbers for a given thread count, up to the summation order of
 * the weight gradients between counts. Returns 0, or FNN_ENOMEM (nothing changed) when the workspace cannot be had.
 * float32: the epoch flushes subnormal results and inputs to zero unless
 * fnn_set_flush_subnormals(0) (a value below 1.2e-38 becomes 0; on x86 each subnormal
 * costs a microcode assist of ~100 cycles; the weights of an input that is always zero
 * decay through that range under an L2 penalty, and a confident softmax's probabilities
 * fall into it).
 * loss_out receives sum(batch_loss * rows) / m; batch_losses (nullable) each batch's.
 * loss_clip: 0 (the exact loss from the logits), or eps in (0, 0.5): the loss values
 * (not the gradients) are then scikit-learn's log loss, -log of the probabilities
 * (softmax, or sigmoid and 1 - sigmoid) clipped to [eps, 1 - eps]. mse ignores it.
 * loss_div (> 0; 1 for the plain loss): each batch's data term is reported divided by
 * it before the L2 term is added, the gradients unchanged (scikit-learn's squared
 * loss of k outputs: sum / (2 rows k), its gradient that of sum / (2 rows)). */
enum { FNN_LOSS_SOFTMAX_XENT = 0, FNN_LOSS_SIGMOID_BCE = 1, FNN_LOSS_MSE = 2 };
enum { FNN_OPT_SGD = 0, FNN_OPT_MOMENTUM = 1, FNN_OPT_NESTEROV = 2, FNN_OPT_ADAGRAD = 3,
       FNN_OPT_RMSPROP = 4, FNN_OPT_ADAM = 5, FNN_OPT_ADAMW = 6 };
enum { FNN_OK = 0, FNN_ENOMEM = 1, FNN_ENONFINITE = 2 };
int fnn_train_epoch_f32(double *loss_out, double *batch_losses, float *params, float *grads,
                        float *state,
                        const float *x,            /* [n, sizes[0]] */
                        const int32_t *labels,     /* [n] for softmax_xent, else NULL */
                        const float *targets,      /* [n, sizes[n_layers]] for bce/mse, else NULL */
                        const double *sample_weight, /* [n] row weights, or NULL */
                        const int64_t *perm,       /* [m] rows of x */
                        const int64_t *sizes,      /* [n_layers + 1] */
                        int64_t n_layers, int64_t m, int64_t batch_size, int64_t step,
                        int act, int loss, int optimizer, uint64_t seed,
                        double act_param, double lr, double momentum, double beta1, double beta2,
                        double eps, double rho, double alpha, double l1, double wd, double dropout,
                        double loss_clip, double loss_div);
int fnn_train_epoch_f64(double *loss_out, double *batch_losses, double *params, double *grads,
                        double *state, const double *x, const int32_t *labels,
                        const double *targets, const double *sample_weight,
                        const int64_t *perm, const int64_t *sizes,
                        int64_t n_layers, int64_t m, int64_t batch_size, int64_t step,
                        int act, int loss, int optimizer, uint64_t seed,
                        double act_param, double lr, double momentum, double beta1, double beta2,
                        double eps, double rho, double alpha, double l1, double wd, double dropout,
                        double loss_clip, double loss_div);
/* The loss and gradient of the same network over all n rows of x as one batch, in
 * order, with no update and no dropout (L-BFGS's objective): loss_out receives the
 * batch loss above (L2 term included) and grads d loss / d params, the weights' with
 * the coupled L2 term alpha W / s added. params is only read. The rows run in chunks
 * of up to 512 (the workspace stays bounded whatever n is), split over the threads
 * when the layers are small; float32 flushes as the epoch does. Returns 0, or FNN_ENOMEM (nothing
 * changed) when the workspace cannot be had. */
int fnn_loss_grad_f32(double *loss_out, float *grads, const float *params, const float *x,
                      const int32_t *labels, const float *targets, const double *sample_weight,
                      const int64_t *sizes, int64_t n_layers, int64_t n, int act, int loss,
                      double act_param, double alpha, double loss_clip);
int fnn_loss_grad_f64(double *loss_out, double *grads, const double *params, const double *x,
                      const int32_t *labels, const double *targets, const double *sample_weight,
                      const int64_t *sizes, int64_t n_layers, int64_t n, int act, int loss,
                      double act_param, double alpha, double loss_clip);
/* The logits of the same network (its output layer linear) for all n rows of a dense x:
 * out [n, sizes[n_layers]] (predict.c): rows in chunks through every layer, threads
 * splitting the rows of small networks; each row's values are those of one
 * fnn_dense_forward_* a layer over all rows. Returns 0, or FNN_ENOMEM (out unchanged)
 * when the chunks' workspace cannot be had. */
int fnn_mlp_forward_f32(float *out, const float *params, const float *x, const int64_t *sizes,
                        int64_t n_layers, int64_t n, int act, double act_param);
int fnn_mlp_forward_f64(double *out, const double *params, const double *x, const int64_t *sizes,
                        int64_t n_layers, int64_t n, int act, double act_param);
/* The epoch and the pass above on a sparse x in CSR form, x[n, sizes[0]]: row r's
 * non-zeros are x_data[x_indptr[r] .. x_indptr[r + 1]) in the columns x_indices[same]
 * (x_indptr[0] = 0, non-decreasing; every index in [0, sizes[0]); a column repeated in a
 * row adds up). The first layer's products run over the non-zeros (each batch's sorted
 * by column, csr.c); its weight gradient is dense, zero where the rows hold no non-zero,
 * and every weight is updated (the optimizers' state moves on every step, as
 * scikit-learn's does). Every other argument and result is the dense call's. Threads
 * (fnn_get_num_threads()): the epoch's products run on one, a second sorts the next
 * batch meanwhile, and the first layer's update (made in chunks as its gradient is,
 * train.c's w0_update) spreads over them for Adam, AdaGrad and RMSprop; the pass splits
 * its rows. */
int fnn_train_epoch_csr_f32(double *loss_out, double *batch_losses, float *params, float *grads,
                            float *state, const float *x_data, const int32_t *x_indices,
                            const int64_t *x_indptr, const int32_t *labels, const float *targets,
                            const double *sample_weight, const int64_t *perm, const int64_t *sizes,
                            int64_t n_layers, int64_t m, int64_t batch_size, int64_t step,
                            int act, int loss, int optimizer, uint64_t seed,
                            double act_param, double lr, double momentum, double beta1, double beta2,
                            double eps, double rho, double alpha, double l1, double wd, double dropout,
                            double loss_clip, double loss_div);
int fnn_train_epoch_csr_f64(double *loss_out, double *batch_losses, double *params, double *grads,
                            double *state, const double *x_data, const int32_t *x_indices,
                            const int64_t *x_indptr, const int32_t *labels, const double *targets,
                            const double *sample_weight, const int64_t *perm, const int64_t *sizes,
                            int64_t n_layers, int64_t m, int64_t batch_size, int64_t step,
                            int act, int loss, int optimizer, uint64_t seed,
                            double act_param, double lr, double momentum, double beta1, double beta2,
                            double eps, double rho, double alpha, double l1, double wd, double dropout,
                            double loss_clip, double loss_div);
int fnn_loss_grad_csr_f32(double *loss_out, float *grads, const float *params, const float *x_data,
                          const int32_t *x_indices, const int64_t *x_indptr, const int32_t *labels,
                          const float *targets, const double *sample_weight, const int64_t *sizes,
                          int64_t n_layers, int64_t n, int act, int loss, double act_param,
                          double alpha, double loss_clip);
int fnn_loss_grad_csr_f64(double *loss_out, double *grads, const double *params, const double *x_data,
                          const int32_t *x_indices, const int64_t *x_indptr, const int32_t *labels,
                          const double *targets, const double *sample_weight, const int64_t *sizes,
                          int64_t n_layers, int64_t n, int act, int loss, double act_param,
                          double alpha, double loss_clip);

/* ---- elastic-net coordinate descent (enet.c): Lasso / ElasticNet's solver ----
 * Minimises 1/2 ||y - X w||^2 + alpha ||w||_1 + beta/2 ||w||^2 over w (in place, the
 * start point), as scikit-learn's enet_coordinate_descent: coordinates in order (or,
 * random != 0, drawn by its xorshift from seed), w_j >= 0 if positive, gap-safe
 * screening if screening, stop when the duality gap <= tol * y.y (checked when the
 * largest update of a sweep is <= tol * the largest |w_j|, and after the last
 * sweep). xt is X transposed, [n_features, n_samples]. gram_after >= 0: after that
 * many sweeps without convergence, continue in the Gram form (enet_coordinate_descent_gram
 * from the state reached; Q = X^T X, p x p, formed on the GEMM engine), 0 from the start,
 * -1 never; the data form goes on if Q cannot be allocated; gram (nullable): Q given, the
 * caller's X^T X [p, p], exactly symmetric; xty (nullable): q = X^T y [p] given (several
 * targets on one X: one product for all). gram_predict != 0 (with gram_after >= 1):
 * gram_after is Q's cost in sweeps, and from that sweep on the Gram form is entered only
 * once the sweeps' convergence predicts more than that many still to run (or by sweep
 * 2 gram_after; fastnn/backends/_enet_reference.py, gram_now). xt may be NULL when gram
 * and xty are given and gram_after is 0 (the Gram form reads neither X nor anything of
 * its size; FNN_ENOMEM if its O(p) arrays cannot be had then). Outputs: the final gap, the
 * scaled tol, the sweeps run (max_iter >= 1) and whether the gap met tol. Returns
 * FNN_OK, or FNN_ENOMEM (w unchanged) when the O(n + p) workspace cannot be had. */
int fnn_enet_cd_f32(float *w, double *gap_out, double *tol_out, int64_t *n_iter_out,
                    int *converged, const float *xt, const float *y, int64_t n_samples,
                    int64_t n_features, double alpha, double beta, int64_t max_iter,
                    double tol, uint32_t seed, int random, int positive, int screening,
                    int64_t gram_after, const float *gram, const float *xty, int gram_predict);
int fnn_enet_cd_f64(double *w, double *gap_out, double *tol_out, int64_t *n_iter_out,
                    int *converged, const double *xt, const double *y, int64_t n_samples,
                    int64_t n_features, double alpha, double beta, int64_t max_iter,
                    double tol, uint32_t seed, int random, int positive, int screening,
                    int64_t gram_after, const double *gram, const double *xty, int gram_predict);

/* ---- the same solver on a sparse X (enet.c): Lasso / ElasticNet on scipy.sparse ----
 * scikit-learn's sparse_enet_coordinate_descent: minimises 1/2 sum_i s_i (y_i - (Z w)_i)^2
 * + alpha ||w||_1 + beta/2 ||w||^2 with Z = X - 1 x_mean^T, X [n_samples, n_features]
 * given as CSC (data [nnz]; indptr [n_features + 1] non-decreasing from 0 to nnz;
 * indices [nnz] row numbers in [0, n_samples), no row twice in a column), x_mean
 * [n_features] the weighted column means (all 0: no centring), s = sample_weight
 * [n_samples] (>= 0; nullable: ones), y [n_samples]. Coordinates, screening and stop as
 * fnn_enet_cd_*, the tolerance scaled by y . (s y). Returns FNN_OK, or FNN_ENOMEM (w
 * unchanged) when the O(n + p) workspace cannot be had. */
int fnn_enet_cd_sparse_f32(float *w, double *gap_out, double *tol_out, int64_t *n_iter_out,
                           int *converged, const float *data, const int64_t *indices,
                           const int64_t *indptr, const float *y, const float *sample_weight,
                           const float *x_mean, int64_t n_samples, int64_t n_features,
                           double alpha, double beta, int64_t max_iter, double tol,
                           uint32_t seed, int random, int positive, int screening);
int fnn_enet_cd_sparse_f64(double *w, double *gap_out, double *tol_out, int64_t *n_iter_out,
                           int *converged, const double *data, const int64_t *indices,
                           const int64_t *indptr, const double *y, const double *sample_weight,
                           const double *x_mean, int64_t n_samples, int64_t n_features,
                           double alpha, double beta, int64_t max_iter, double tol,
                           uint32_t seed, int random, int positive, int screening);

/* ---- newGLMNET's inner problem (l1_quadratic.c): liblinear's L1 logistic regression ----
 * Coordinate descent from u = u0 (u [n_cols], updated in place) on
 * g.(u - u0) + 1/2 (u - u0)^T (X_W^T diag(h) X_W + nu I) (u - u0) + alpha ||u||_1, X_W the
 * columns cols [n_cols] (distinct, in [0, n_features)) of a CSC X (data, indices, indptr as
 * fnn_enet_cd_sparse's), g [n_cols], h [n_samples] >= 0, nu > 0; xd [n_samples] receives
 * X_W (u - u0). Zero coordinates far inside the penalty's kink are set aside until the
 * sweeps converge; stops when a sweep's summed violation is <= tol or after max_sweeps
 * (*sweeps_out: the sweeps run). Returns FNN_OK, or FNN_ENOMEM (u, xd unchanged). */
int fnn_l1_quadratic_cd_f32(float *u, float *xd, int64_t *sweeps_out, const float *data,
                            const int64_t *indices, const int64_t *indptr, const int64_t *cols,
                            int64_t n_cols, const float *g, const float *h, int64_t n_samples,
                            double alpha, double nu, int64_t max_sweeps, double tol);
int fnn_l1_quadratic_cd_f64(double *u, double *xd, int64_t *sweeps_out, const double *data,
                            const int64_t *indices, const int64_t *indptr, const int64_t *cols,
                            int64_t n_cols, const double *g, const double *h, int64_t n_samples,
                            double alpha, double nu, int64_t max_sweeps, double tol);

/* ---- X^T diag(h) X for a CSR X (sandwich.c): a linear model's Hessian on a sparse X ----
 * out [n_cols, n_cols, n_weights] (row-major, symmetric in its first two axes) = for each t,
 * sum over rows i of h[i, t] x_i x_i^T, X [n_rows, n_cols] as data, indices (int32 column
 * indices, sorted and distinct within each row) and indptr [n_rows + 1] (from 0 to nnz,
 * non-decreasing); h [n_rows, n_weights]. Each entry of the upper triangle sums
 * (h[i, t] x_ia) x_ib over rows in increasing i; the lower triangle is its mirror. Returns
 * FNN_OK, or FNN_ENOMEM (out unchanged). */
int fnn_csr_sandwich_f32(float *out, const float *data, const int32_t *indices,
                         const int64_t *indptr, const float *h, int64_t n_rows, int64_t n_cols,
                         int64_t n_weights);
int fnn_csr_sandwich_f64(double *out, const double *data, const int32_t *indices,
                         const int64_t *indptr, const double *h, int64_t n_rows, int64_t n_cols,
                         int64_t n_weights);

/* ---- Xa^T diag(h) Xa for a dense X (dense_sandwich.c): a linear model's Hessian ----
 * out [q, q, n_weights] (row-major, symmetric in its first two axes) = for each t, the sum
 * over rows i of h[i, t] xa_i xa_i^T, Xa = X [n_rows, n_cols] (row-major), or (X, 1) when
 * ones != 0 (q = n_cols + 1: the last row and column are X^T h and sum(h)); h [n_rows,
 * n_weights]. Each entry of the upper triangle sums (h_it xa_ib) xa_ia over chunks of rows in
 * order, each chunk's rows in order; the lower triangle is its mirror. Returns FNN_OK, or
 * FNN_ENOMEM (out unchanged). */
int fnn_dense_sandwich_f32(float *out, const float *x, const float *h, int64_t n_rows,
                           int64_t n_cols, int64_t n_weights, int ones);
int fnn_dense_sandwich_f64(double *out, const double *x, const double *h, int64_t n_rows,
                           int64_t n_cols, int64_t n_weights, int ones);

/* ---- Cholesky factorisation (cholesky.c): newton-cholesky's Newton step ----
 * a [n, n] row-major, symmetric positive definite in its lower triangle, is overwritten by
 * L (lower triangle) with A = L L^T, zeros above. *info: 0, or the order (1-based) of the
 * leading minor found not positive definite (a's lower triangle then holds the factor's
 * columns before it, partly updated ones after). Returns FNN_OK, or FNN_ENOMEM (a unchanged). */
int fnn_cholesky_f32(float *a, int64_t n, int64_t *info);
int fnn_cholesky_f64(double *a, int64_t n, int64_t *info);

/* ---- stochastic average gradient (sag.c): Ridge / LogisticRegression's "sag", "saga" ----
 * scikit-learn's sag32 / sag64 step for step on X [n_samples, n_features], dense (x, with
 * indptr = indices = NULL) or CSR (x the nnz values, indptr [n_samples + 1] from 0 to nnz,
 * indices [nnz] in [0, n_features): its just-in-time updates touch a row's features only):
 * max_iter epochs of n_samples draws (with replacement, its xorshift from seed) of
 * SAG (saga = 0) or SAGA (saga = 1, with the L1 prox when beta > 0), minimising
 * sum_i sample_weight_i loss_i / n + alpha/2 ||coef||^2 + beta ||coef||_1 (alpha and
 * beta already divided by n_samples) with the constant step_size. loss: 0 half
 * squared error, 1 half binomial (y in [0, 1]), 2 half multinomial (y the class
 * index, as a float, < n_classes). coef [n_features, n_classes] and intercept
 * [n_classes] are the start point and the result (intercept is read even when
 * fit_intercept = 0: pass zeros); sum_gradient [n_features, n_classes],
 * gradient_memory [n_samples, n_classes], intercept_sum_gradient [n_classes] and
 * seen [n_samples] (0/1) are the solver's memory, zeros or a previous call's.
 * Stops after an epoch whose largest weight change is <= tol * the largest |weight|.
 * n_iter_out receives scikit-learn's n_iter (the epochs run; 1 when max_iter is 0).
 * Workspace (written before it is read): work [2 n_samples + n_features n_classes
 * + 3 n_classes] and, CSR X only, feature_hist [n_features] (the step each feature was
 * last brought up to date at; NULL for dense X). n_samples, n_features < 2^31. Returns
 * FNN_OK, or FNN_ENONFINITE when a weight or the intercept became NaN or infinite
 * (n_iter_out: the epoch it happened in). fastnn/backends/_sag_reference.py is the spec. */
enum { FNN_SAG_SQUARED = 0, FNN_SAG_LOG = 1, FNN_SAG_MULTINOMIAL = 2 };
int fnn_sag_f32(float *coef, float *intercept, float *sum_gradient, float *gradient_memory,
                float *intercept_sum_gradient, int32_t *seen, int64_t *n_iter_out,
                float *work, int64_t *feature_hist, const float *x, const int64_t *indptr,
                const int32_t *indices, const float *y,
                const float *sample_weight, double step_size, double alpha, double beta,
                double tol, double intercept_decay, uint32_t seed, int loss, int saga,
                int fit_intercept, int64_t max_iter, int64_t n_samples,
                int64_t n_features, int64_t n_classes);
int fnn_sag_f64(double *coef, double *intercept, double *sum_gradient, double *gradient_memory,
                double *intercept_sum_gradient, int32_t *seen, int64_t *n_iter_out,
                double *work, int64_t *feature_hist, const double *x, const int64_t *indptr,
                const int32_t *indices, const double *y,
                const double *sample_weight, double step_size, double alpha, double beta,
                double tol, double intercept_decay, uint32_t seed, int loss, int saga,
                int fit_intercept, int64_t max_iter, int64_t n_samples,
                int64_t n_features, int64_t n_classes);

/* ---- a dense x copied to CSR (csr_copy.c): a mostly-zero X's sparse first layer ----
 * x [n, d] row-major, d < 2^31; an entry is kept where x != 0 (NaN kept, -0.0 not).
 * fnn_csr_count writes indptr [n + 1] (0, then the running count of kept entries, row by
 * row) and returns indptr[n]; fnn_csr_fill then writes data and indices [indptr[n]] (the
 * values and their column numbers, each row's in column order) from that indptr. Returns
 * FNN_OK, or FNN_ENOMEM (the portable form's row scratch; nothing written). */
int64_t fnn_csr_count_f32(int64_t *indptr, const float *x, int64_t n, int64_t d);
int64_t fnn_csr_count_f64(int64_t *indptr, const double *x, int64_t n, int64_t d);
int fnn_csr_fill_f32(float *data, int32_t *indices, const float *x, const int64_t *indptr,
                     int64_t n, int64_t d);
int fnn_csr_fill_f64(double *data, int32_t *indices, const double *x, const int64_t *indptr,
                     int64_t n, int64_t d);

/* ---- X centred, scaled and transposed (transpose.c): coordinate descent's column-major X ----
 * out [p, n] (row-major) = ((x - mean) * scale[:, None])^T for x [n, p] row-major, mean [p],
 * scale [n] or NULL (no product): out[j, i] = (x[i, j] - mean[j]) * scale[i], one rounding
 * per operation. Returns 1 if every output is finite, else 0 (an inf or NaN in x, or an
 * overflow; out written all the same). */
int fnn_centered_transpose_f32(float *out, const float *x, const float *mean, const float *scale,
                               int64_t n, int64_t p);
int fnn_centered_transpose_f64(double *out, const double *x, const double *mean, const double *scale,
                               int64_t n, int64_t p);

/* CDEF-END */

#endif /* FASTNN_H */
