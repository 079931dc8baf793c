/* gemm_dense.h -- dense layer forward/backward on the gemm engine, written once for
 * both dtypes (dense.c includes it with T and SFX defined).
 *
 * forward:  the bias and identity/relu/leaky_relu run in the microkernel's store
 *           (the tile is still in registers); other activations run on each block
 *           of rows right after the engine wrote it (still in L2), through the
 *           activations kernel.
 * backward: one pass over dout computes dz = dout * act'(.) and the bias gradient
 *           together (identity: dout is used as dz, only db is reduced); then
 *           dw = x^T dz and dx = dz w^T through the engine (no transposes copied).
 */
#define DN_CAT_(x, y) x##y
#define DN_CAT(x, y) DN_CAT_(x, y)
#define DN_FN(name) DN_CAT(name, DN_CAT(_, SFX))
#define DN_EPI DN_CAT(fnn_epi_, SFX)
#define DN_SEL DN_CAT(fnn_sel_, SFX)

/* Rows per block such that a block of the output (rows x o) stays in L2. */
static int64_t DN_FN(rows_per_block)(int64_t o) {
    int64_t rb = (int64_t)(160 * 1024 / ((int64_t)sizeof(T) * (o > 0 ? o : 1)));
    rb = rb / 6 * 6;
    return rb < 6 ? 6 : rb;
}

void DN_CAT(fnn_dense_forward_, SFX)(T *out, T *z_out, const T *x, const T *w, const T *b,
                                    int64_t n, int64_t in, int64_t o, int act, double param) {
    DN_EPI epi = {b, FNN_ACT_IDENTITY, (T)param};
    int in_registers = act == FNN_ACT_IDENTITY || act == FNN_ACT_RELU || act == FNN_ACT_LEAKY_RELU;
    if (in_registers && !z_out) {
        epi.act = act;
        DN_CAT(fnn_gemm_ex_, SFX)(out, o, x, in, 1, w, o, 1, n, o, in, 1, 0, &epi, fnn_num_threads);
        return;
    }
    T *z = z_out ? z_out : out;
    int64_t rb = DN_FN(rows_per_block)(o), nblocks = (n + rb - 1) / rb;
    int nt = fnn_threads_for(2.0 * (double)n * (double)in * (double)o, FNN_GEMM_PAR_MIN_FLOPS);
    if (in_registers || nblocks < nt || nblocks == 1) {
        /* z = x w + b on all threads, then one activation pass */
        DN_CAT(fnn_gemm_ex_, SFX)(z, o, x, in, 1, w, o, 1, n, o, in, 1, 0, &epi, fnn_num_threads);
        if (act != FNN_ACT_IDENTITY || out != z)
            DN_CAT(fnn_act_forward_, SFX)(out, z, n, o, act, param);
        return;
    }
    /* each block of rows: z_blk = x_blk w + b, then act on it while it is in L2 */
    unsigned fp = fnn_fp_bits(); /* internal.h: the caller's flush bits on every thread */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        unsigned saved = fnn_fp_adopt(fp);
        int64_t r0 = blk * rb, rows = n - r0 < rb ? n - r0 : rb;
        DN_CAT(fnn_gemm_ex_, SFX)(z + r0 * o, o, x + r0 * in, in, 1, w, o, 1, rows, o, in, 1, 0,
                                  &epi, 1);
        DN_CAT(fnn_act_forward_block_, SFX)(out + r0 * o, z + r0 * o, rows, o, act, param);
        fnn_fp_restore(fp, saved);
    }
}

/* dz = dout * act'(y) for the activations whose derivative is cheap, and db += dz,
 * in one vectorisable pass over a row. Identity writes no dz (dout is used). The
 * sign tests select through bit masks (DN_SEL, simd_math.h): written as `?:` on a
 * float comparison the loops kept control flow and ran scalar. */
#define DN_DZ_ROW_BODY                                                                  \
    switch (act) {                                                                      \
    case FNN_ACT_IDENTITY:                                                              \
        for (int64_t j = 0; j < o; j++) db[j] += g[j];                                  \
        break;                                                                          \
    case FNN_ACT_RELU:                                                                  \
        /* a product, as the spec's dout * (y > 0): a NaN or inf in dout is not dropped */ \
        for (int64_t j = 0; j < o; j++) { T d = g[j] * DN_SEL(y[j] > 0, (T)1, (T)0); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    case FNN_ACT_LEAKY_RELU:                                                            \
        for (int64_t j = 0; j < o; j++) { T d = DN_SEL(y[j] > 0, g[j], p * g[j]); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    case FNN_ACT_SIGMOID:                                                               \
        for (int64_t j = 0; j < o; j++) { T d = g[j] * (y[j] * ((T)1 - y[j])); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    case FNN_ACT_TANH:                                                                  \
        for (int64_t j = 0; j < o; j++) { T d = g[j] * ((T)1 - y[j] * y[j]); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    case FNN_ACT_ELU:                                                                   \
        for (int64_t j = 0; j < o; j++) { T d = g[j] * DN_SEL(y[j] > 0, (T)1, y[j] + p); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    case FNN_ACT_SOFTMAX: {                                                             \
        T dot = 0;                                                                      \
        for (int64_t j = 0; j < o; j++) dot += g[j] * y[j];                             \
        for (int64_t j = 0; j < o; j++) { T d = y[j] * (g[j] - dot); dz[j] = d; db[j] += d; } \
        break;                                                                          \
    }                                                                                   \
    default: /* transcendental: dz was computed by the activations kernel */            \
        for (int64_t j = 0; j < o; j++) db[j] += dz[j];                                 \
    }

static void DN_FN(dz_row_generic)(T *dz, T *db, const T *g, const T *y, int64_t o, int act, T p) {
    DN_DZ_ROW_BODY
}
FNN_TARGET_AVX2 static void DN_FN(dz_row_avx2)(T *dz, T *db, const T *g, const T *y, int64_t o,
                                               int act, T p) {
    DN_DZ_ROW_BODY
}
/* the same loops on 512-bit vectors: elementwise, and db's sums keep their order, so
 * the results are identical (softmax aside, see dz_rows). dz of a 64-128-64-10 batch
 * of 32: float64 4.6 -> 3.5 kcycles, float32 2.8 -> 2.2. */
FNN_TARGET_AVX512 static void DN_FN(dz_row_avx512)(T *dz, T *db, const T *g, const T *y, int64_t o,
                                                   int act, T p) {
    DN_DZ_ROW_BODY
}

static int DN_FN(cheap_grad)(int act) {
    return act == FNN_ACT_IDENTITY || act == FNN_ACT_RELU || act == FNN_ACT_LEAKY_RELU ||
           act == FNN_ACT_SIGMOID || act == FNN_ACT_TANH || act == FNN_ACT_ELU ||
           act == FNN_ACT_SOFTMAX;
}

/* rows [r0, r1): dz and db_part (zeroed by the caller) */
static void DN_FN(dz_rows)(T *dz, T *db_part, const T *dout, const T *y, const T *z,
                           int64_t r0, int64_t r1, int64_t o, int act, T p, double param) {
    /* softmax stays on AVX2: compiled for AVX-512, its dot product's multiply-adds were
     * not contracted the same way (float32 dz differed by an ulp) */
    int isa = act == FNN_ACT_SOFTMAX && fnn_isa_level > FNN_ISA_AVX2 ? FNN_ISA_AVX2 : fnn_isa_level;
    if (act == FNN_ACT_IDENTITY && o < 16) {
        /* db alone, summed in row order as the row functions do (same bits), without a
         * call per row: a linear model's one-column gradient, 569 x 30 float64, 6.1 -> 5.8 us */
        for (int64_t r = r0; r < r1; r++)
            for (int64_t j = 0; j < o; j++) db_part[j] += dout[r * o + j];
        return;
    }
    int cheap = DN_FN(cheap_grad)(act);
    int64_t rb = cheap ? r1 - r0 : 16; /* transcendental: act' on a few rows, then reduce them hot */
    for (int64_t b0 = r0; b0 < r1; b0 += rb) {
        int64_t rows = r1 - b0 < rb ? r1 - b0 : rb;
        if (!cheap)
            DN_CAT(fnn_act_backward_block_, SFX)(dz + b0 * o, dout + b0 * o, y ? y + b0 * o : NULL,
                                                 z ? z + b0 * o : NULL, rows, o, act, param);
        for (int64_t r = b0; r < b0 + rows; r++) {
            const T *yr = y ? y + r * o : NULL;
            if (isa >= FNN_ISA_AVX512) DN_FN(dz_row_avx512)(dz + r * o, db_part, dout + r * o, yr, o, act, p);
            else if (isa >= FNN_ISA_AVX2) DN_FN(dz_row_avx2)(dz + r * o, db_part, dout + r * o, yr, o, act, p);
            else DN_FN(dz_row_generic)(dz + r * o, db_part, dout + r * o, yr, o, act, p);
        }
    }
}

void DN_CAT(fnn_dense_backward_, SFX)(T *dx, T *dw, T *db, T *dz, const T *dout, const T *x,
                                     const T *w, const T *y, const T *z, int64_t n, int64_t in,
                                     int64_t o, int act, double param) {
    T p = (T)param;
    int nt = fnn_threads_for((double)n * (double)o, FNN_ELEMWISE_PAR_MIN);
    if (act == FNN_ACT_IDENTITY) dz = (T *)dout; /* dz == dout: nothing to write */
    if (nt > n) nt = (int)n;
    if (nt <= 1) {
        for (int64_t j = 0; j < o; j++) db[j] = 0;
        DN_FN(dz_rows)(dz, db, dout, y, z, 0, n, o, act, p, param);
    } else {
        /* per-thread partial sums, reduced in thread order: deterministic for a given
         * thread count */
        T *part = (T *)malloc((size_t)nt * (size_t)o * sizeof(T));
        if (!part) abort();
        unsigned fp = fnn_fp_bits();
#pragma omp parallel num_threads(nt)
        {
            unsigned saved = fnn_fp_adopt(fp);
            int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS();
            T *mine = part + (int64_t)t * o;
            for (int64_t j = 0; j < o; j++) mine[j] = 0;
            DN_FN(dz_rows)(dz, mine, dout, y, z, n * t / tn, n * (t + 1) / tn, o, act, p, param);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int64_t j = 0; j < o; j++) {
                T s = 0;
                for (int u = 0; u < tn; u++) s += part[(int64_t)u * o + j];
                db[j] = s;
            }
            fnn_fp_restore(fp, saved);
        }
        free(part);
    }
    /* dw[in,o] = x^T dz: A = x^T (x stored [n,in]), B = dz [n,o] */
    DN_CAT(fnn_gemm_ex_, SFX)(dw, o, x, 1, in, dz, o, 1, in, o, n, 1, 0, NULL, fnn_num_threads);
    /* dx[n,in] = dz w^T: A = dz [n,o], B = w^T (w stored [in,o]) */
    if (dx)
        DN_CAT(fnn_gemm_ex_, SFX)(dx, in, dz, o, 1, w, 1, o, n, in, o, 1, 0, NULL, fnn_num_threads);
}

#undef DN_DZ_ROW_BODY
#undef DN_CAT_
#undef DN_CAT
#undef DN_FN
#undef DN_EPI
#undef DN_SEL
