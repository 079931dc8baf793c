/* gemm_engine.h -- the blocked GEMM framework, written once for both dtypes.
 * gemm.c includes it twice, with T (float/double) and SFX (f32/f64) defined.
 *
 * Loop nest (BLIS): jc over NC columns -> pc over KC of k -> [pack B block] ->
 * ic over MC rows -> [pack A block] -> jr over NR -> ir over MR -> microkernel (jr and ir
 * swapped where both operands are packed on the float32 AVX-512 tile: see rows_outer).
 * Packing is a choice per operand: small and skinny operands are read in place by
 * the microkernel (it broadcasts A from any strides and reads B rows directly),
 * because for MLP-sized products one packing pass costs more than it saves.
 */
#define GE_CAT_(x, y) x##y
#define GE_CAT(x, y) GE_CAT_(x, y)
#define GE_FN(name) GE_CAT(name, GE_CAT(_, SFX))
#define GE_EPI GE_CAT(fnn_epi_, SFX)
#define GE_UKR GE_CAT(fnn_ukr_, SFX)
#define GE_CFG GE_CAT(gemm_cfg_, SFX)
#define GE_BLOCK GE_CAT(gemm_block_, SFX)

typedef struct {
    int mr, nr;             /* register tile */
    int64_t kc, mc, nc;     /* cache blocks: B micro-panel kc x nr in L1, A block mc x kc
                               in L2, B block kc x nc in L3 */
    GE_UKR ukr;
} GE_CFG;

/* Rows of the row panel that starts `rem` rows before the end of a block: MR, except
 * that the last 7 or 8 rows for a 6-row tile run as 4 + 3 or 4 + 4, and the last 13-15
 * for a 12-row tile as 9-11 + 4. A 1- or 2-row tile updates each of its 2 or 4
 * accumulators once per k step, so the FMA latency (4 cycles) holds it to a quarter
 * or half of the FMA rate, where a 3- or 4-row tile keeps 6 or 8 chains going (batch
 * 32 = 6 x 5 + 2 rows: +2-4% float64, 8 rows: +10%). Every element still sums k in
 * order: the panel heights change no result. */
static inline int64_t GE_FN(panel_rows)(int64_t rem, int MR) {
    if (MR == 6 && (rem == 7 || rem == 8)) return 4;
    if (MR == 12 && rem > 12 && rem < 16) return rem - 4;
    return rem < MR ? rem : MR;
}

/* Pack A(0:mc, 0:kc) into panels of MR rows (the last ones as panel_rows says); panel
 * q holds (r, p) at [p*MR + r], rows past its height zero-filled. MR is a constant
 * after inlining. */
static inline __attribute__((always_inline)) void GE_FN(pack_a_impl)(
    T *dst, const T *a, int64_t rsa, int64_t csa, int64_t mc, int64_t kc, const int MR) {
    for (int64_t i = 0, mr; i < mc; i += mr, dst += MR * kc) {
        mr = GE_FN(panel_rows)(mc - i, MR);
        const T *src = a + i * rsa;
        if (rsa == 1 && mr == MR) {
            for (int64_t p = 0; p < kc; p++)
                for (int r = 0; r < MR; r++) dst[p * MR + r] = src[p * csa + r];
        } else if (csa == 1 && mr == MR) { /* rows contiguous along k */
            GE_FN(transpose)(dst, MR, src, rsa, MR, kc);
        } else {
            for (int r = 0; r < mr; r++) {
                const T *row = src + r * rsa;
                for (int64_t p = 0; p < kc; p++) dst[p * MR + r] = row[p * csa];
            }
            for (int r = mr; r < MR; r++)
                for (int64_t p = 0; p < kc; p++) dst[p * MR + r] = 0;
        }
    }
}
static void GE_FN(pack_a)(T *dst, const T *a, int64_t rsa, int64_t csa, int64_t mc,
                          int64_t kc, int MR) {
    if (MR == 6) GE_FN(pack_a_impl)(dst, a, rsa, csa, mc, kc, 6);
    else if (MR == 12) GE_FN(pack_a_impl)(dst, a, rsa, csa, mc, kc, 12);
    else GE_FN(pack_a_impl)(dst, a, rsa, csa, mc, kc, MR);
}

/* Pack B(0:kc, 0:nc) into panels of NR columns (the first one only `first` wide, see
 * gemm_serial); panel q holds (p, j) at [p*NR + j], missing columns zero-filled.
 * A row-major B is copied row by row across all the panels, so it is read in address
 * order: panel by panel, each of the kc rows read per panel was a new 4 KiB page for
 * n >= 1024 float32, which the prefetchers do not follow (+1.5-2.5% at 1024^3 and
 * 2048^3, Xeon, both dtypes). */
static inline __attribute__((always_inline)) void GE_FN(pack_b_impl)(
    T *dst, const T *b, int64_t rsb, int64_t csb, int64_t kc, int64_t nc, const int NR,
    int64_t first) {
    if (csb == 1) {
        for (int64_t p = 0; p < kc; p++) {
            const T *row = b + p * rsb;
            T *d = dst + p * NR;
            for (int64_t j0 = 0, w = first; j0 < nc; j0 += w, w = NR, d += NR * kc) {
                int nr = nc - j0 < w ? (int)(nc - j0) : (int)w;
                if (nr == NR) {
                    for (int j = 0; j < NR; j++) d[j] = row[j0 + j];
                } else {
                    for (int j = 0; j < NR; j++) d[j] = j < nr ? row[j0 + j] : (T)0;
                }
            }
        }
        return;
    }
    for (int64_t j0 = 0, w = first; j0 < nc; j0 += w, w = NR, dst += NR * kc) {
        int nr = nc - j0 < w ? (int)(nc - j0) : (int)w;
        const T *src = b + j0 * csb;
        if (rsb == 1 && nr == NR) { /* columns contiguous along k */
            GE_FN(transpose)(dst, NR, src, csb, NR, kc);
        } else {
            /* transposed B: each column of op(B) is contiguous in memory */
            for (int j = 0; j < nr; j++) {
                const T *col = src + j * csb;
                for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = col[p * rsb];
            }
            for (int j = nr; j < NR; j++)
                for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0;
        }
    }
}
static void GE_FN(pack_b)(T *dst, const T *b, int64_t rsb, int64_t csb, int64_t kc,
                          int64_t nc, int NR, int64_t first) {
    if (NR == 32) GE_FN(pack_b_impl)(dst, b, rsb, csb, kc, nc, 32, first);
    else if (NR == 16) GE_FN(pack_b_impl)(dst, b, rsb, csb, kc, nc, 16, first);
    else if (NR == 8) GE_FN(pack_b_impl)(dst, b, rsb, csb, kc, nc, 8, first);
    else if (NR == 4) GE_FN(pack_b_impl)(dst, b, rsb, csb, kc, nc, 4, first);
    else GE_FN(pack_b_impl)(dst, b, rsb, csb, kc, nc, NR, first);
}

/* Width of the first NR strip such that every later strip starts on a 64-byte
 * boundary of `p` (rows `rs` elements apart must all share that alignment; strips a
 * multiple of 64 bytes wide). */
static int64_t GE_FN(first_strip)(const T *p, int64_t rs, int NR) {
    if ((rs * (int64_t)sizeof(T)) % 64 != 0 || (NR * (int64_t)sizeof(T)) % 64 != 0) return NR;
    int64_t mis = (int64_t)(((uintptr_t)p) % 64) / (int64_t)sizeof(T);
    return mis ? NR - mis : NR;
}

/* Read one element per cache line of rows [0, rows) x [0, cols) of p (row stride rs), in
 * address order. An unpacked operand far larger than the caches is otherwise fetched by
 * the microkernel's column-strip order, a few lines from each of hundreds of rows at a
 * time, which the hardware prefetchers do not follow: 50000 x 100 float64 X @ W with
 * ten outputs ran at 16 GFLOP/s (6 GB/s from memory). This pass streams each block
 * into L2 at full bandwidth just before the microkernels use it. */
static void GE_FN(touch_rows)(const T *p, int64_t rows, int64_t rs, int64_t cols) {
    const int64_t step = 64 / (int64_t)sizeof(T);
    T sink = 0;
    for (int64_t r = 0; r < rows; r++) {
        const T *row = p + r * rs;
        for (int64_t c = 0; c < cols; c += step) sink += row[c];
        sink += row[cols - 1];
    }
    __asm__ volatile("" : : "x"(sink)); /* keep the loads */
}

/* Operands above this size are streamed block by block through touch_rows. */
#define GE_STREAM_BYTES (8.0 * 1024 * 1024)

/* What the tiles of one (jc, pc, ic) block share: C, A and B at the block's corner
 * (packed or in place) and the block's k length, scalars and epilogue. */
typedef struct {
    const GE_CFG *g;
    T *c; int64_t rsc, csc;
    const T *bufa, *a; int64_t rsa, csa;   /* bufa: the packed A block, or NULL */
    const T *bufb, *b; int64_t rsb, first; /* bufb: the packed B block, or NULL */
    int64_t kc; T alpha, beta;
    const GE_EPI *epi; int64_t jc;         /* the epilogue (last k block only); its bias from column jc */
} GE_BLOCK;

/* The microkernel on the tile of rows [ir, ir + mr) (row panel q) and columns [jr, jr + nr). */
static inline void GE_FN(tile)(const GE_BLOCK *blk, int64_t ir, int64_t q, int mr, int64_t jr, int nr) {
    const int MR = blk->g->mr, NR = blk->g->nr;
    const T *ap, *bp;
    int64_t rsap, csap, rsbp;
    int bmask;
    if (blk->bufa) { ap = blk->bufa + q * MR * blk->kc; rsap = 1; csap = MR; }
    else { ap = blk->a + ir * blk->rsa; rsap = blk->rsa; csap = blk->csa; }
    if (blk->bufb) {
        bp = blk->bufb + (jr == 0 ? 0 : (jr - blk->first) / NR + 1) * NR * blk->kc;
        rsbp = NR; bmask = 0;
    } else { bp = blk->b + jr; rsbp = blk->rsb; bmask = nr < NR; }
    GE_EPI et;
    if (blk->epi) {
        et = *blk->epi;
        if (et.bias) et.bias += blk->jc + jr;
    }
    blk->g->ukr(blk->kc, ap, rsap, csap, bp, rsbp, bmask, blk->c + jr * blk->csc + ir * blk->rsc, blk->rsc,
                blk->csc, mr, nr, blk->alpha, blk->beta, blk->epi ? &et : NULL);
}

/* One thread's product over a sub-block: C (rsc, csc) = epi(alpha A B + beta C). */
static void GE_FN(gemm_serial)(const GE_CFG *g, T *c, int64_t rsc, int64_t csc,
                               const T *a, int64_t rsa, int64_t csa,
                               const T *b, int64_t rsb, int64_t csb,
                               int64_t m, int64_t n, int64_t k, T alpha, T beta,
                               const GE_EPI *epi, int packa, int packb) {
    const int MR = g->mr, NR = g->nr;
    /* A short k on the 12-row AVX-512 tile (dY @ W^T with ten outputs: k = 10) is
     * bound by the stores of C: row panels one tile high write whole rows of C before
     * the next, where MC-row panels (120-240) went down C in strips, rows 1-2 KB apart
     * sharing L1 sets (Xeon, one thread, m x 10 x 256: float32 m = 128 6.8 -> 5.8 us,
     * m = 512 25 -> 21, k = 16 -10%; float64 m = 512 54 -> 41, m = 128 even). The
     * blocking of m sums nothing: results are unchanged. */
    const int64_t KC = g->kc, MC = MR == FNN_AVX512_MR && k <= 16 ? MR : g->mc;
    /* k blocks: k whole when it fits in two KC (C is then loaded/stored once), else KC.
     * Each block's sum is added to C, so the blocking sets the summation order of every
     * element of C: it depends on k alone, never on the packing choices, which depend on
     * m (a thread's or a dense row block's share of the rows). Keeping k whole for
     * unpacked operands only made a row's result depend on the size of the block it fell
     * in, i.e. on its position in the batch (a 190-row product on 2 threads: rows 0-95
     * packed B, 96-189 not). Packed panels of up to 2 KC ran as fast (Zen 4). */
    /* Longer k: blocks of equal length, at most KC (784 = 4 x 196, not 3 x 256 + 16:
     * a 16-deep block loads and stores C for little work; +5% float32 128x784x512). */
    const int64_t KCu = k <= 2 * KC ? k : (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC);
    /* Both operands packed on the float32 AVX-512 tile: row panels outer, strips inner, so
     * the 12 x kc panel of A (12 KiB) stays in L1 while the strips of B (kc x 32, 32 KiB)
     * stream from the B block in L2, which then holds 1 MiB whatever k is. In the other
     * order a strip of B must stay in L1 beside the streamed A panels (44 of 48 KiB) and
     * is partly evicted and refetched (Xeon, one thread: 2048^3 +4-5%, 512x784x512 and
     * 784x128x512 A^T +4-5%, 1024^3 +2%, the rest within +-2%). float64 (12 x 16 tiles,
     * a 24 KiB A panel) measured even to 5% slower this way. The order sums nothing
     * differently: results are unchanged. */
    const int rows_outer = packa && packb && MR == FNN_AVX512_MR && sizeof(T) == 4;
    int64_t NC = packb ? g->nc : n;
    if (rows_outer) {
        int64_t w = (int64_t)1048576 / ((KCu < k ? KCu : k) * (int64_t)sizeof(T)) / NR * NR;
        NC = w > NR ? w : NR;
    }
    T *bufa = NULL, *bufb = NULL;
    if (packa) {
        int64_t rows = ((MC < m ? MC : m) + MR - 1) / MR * MR;
        bufa = (T *)gemm_scratch(0, (size_t)rows * (size_t)(KCu < k ? KCu : k) * sizeof(T));
    }
    if (packb) {
        int64_t nn = NC < n ? NC : n;
        int64_t cols = ((nn + NR - 1) / NR + 1) * NR; /* +1: a narrow first panel */
        bufb = (T *)gemm_scratch(1, (size_t)cols * (size_t)(KCu < k ? KCu : k) * sizeof(T));
    }
    /* Unpacked operands too big for the caches: each block is streamed in first. So is a
     * B above 1 MiB whose rows are a multiple of 4 KiB apart (float64 n = 512, float32
     * n = 1024): a strip's rows then share L1 sets and lie beyond the prefetchers' stride,
     * so the tiles fetched B from L3 a miss at a time (Xeon, one thread, AVX-512 and AVX2
     * tiles: X @ W 32x784x512 float64 +9-16%, 12 and 16 rows +9-26%, float32 32x1024x1024
     * +11-16%, 48x600x1024 +10-17%), when the touched block (KCu x n) fits in L2 beside the
     * rest (k = 384 whole, 1.5 MiB: -3-7%). */
    const double b_bytes = (double)k * (double)n * sizeof(T);
    const int b_rows_alias = (rsb * (int64_t)sizeof(T)) % 4096 == 0 && b_bytes > 1048576.0 &&
                             (double)KCu * (double)n * sizeof(T) <= 1.25 * 1048576.0;
    const int touch_a = !packa && csa == 1 && (double)m * (double)k * sizeof(T) > GE_STREAM_BYTES;
    const int touch_b = !packb && (b_bytes > GE_STREAM_BYTES || b_rows_alias);
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KCu) {
            int64_t kc = k - pc < KCu ? k - pc : KCu;
            T beta_p = pc == 0 ? beta : (T)1;
            const GE_EPI *e = (pc + kc >= k) ? epi : NULL;
            /* Strips are shifted by a narrower first strip so that the operand
             * touched most often is 64-byte aligned (NumPy buffers are often only
             * 16-byte aligned; a split line costs ~15% at 2048^3): unpacked B rows
             * (read every k step) or else the C tile rows (read and written once
             * per k block, so only when there are several). The extra strip costs
             * up to one strip of work: only for blocks of 16 strips or more (at 8,
             * e.g. float32 32x64x128, the shift measured 6-8% slower). */
            int64_t first = NR;
            if (nc >= 16 * NR) {
                if (!packb) first = GE_FN(first_strip)(b + pc * rsb + jc, rsb, NR);
                else if (csc == 1 && k > KCu) first = GE_FN(first_strip)(c + jc, rsc, NR);
            }
            if (packb) GE_FN(pack_b)(bufb, b + pc * rsb + jc * csb, rsb, csb, kc, nc, NR, first);
            if (touch_b) GE_FN(touch_rows)(b + pc * rsb + jc, kc, rsb, nc);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                if (packa) GE_FN(pack_a)(bufa, a + ic * rsa + pc * csa, rsa, csa, mc, kc, MR);
                if (touch_a) GE_FN(touch_rows)(a + ic * rsa + pc, mc, rsa, kc);
                GE_BLOCK blk = {g, c + jc * csc + ic * rsc, rsc, csc,
                                bufa, packa ? NULL : a + ic * rsa + pc * csa, rsa, csa,
                                bufb, packb ? NULL : b + pc * rsb + jc, rsb, first, kc, alpha, beta_p, e, jc};
                if (rows_outer) {
                    for (int64_t ir = 0, q = 0, mr; ir < mc; ir += mr, q++) {
                        mr = GE_FN(panel_rows)(mc - ir, MR);
                        for (int64_t jr = 0, step = first; jr < nc; jr += step, step = NR)
                            GE_FN(tile)(&blk, ir, q, (int)mr, jr, nc - jr < step ? (int)(nc - jr) : (int)step);
                    }
                } else {
                    for (int64_t jr = 0, step = first; jr < nc; jr += step, step = NR) {
                        const int nr = nc - jr < step ? (int)(nc - jr) : (int)step;
                        for (int64_t ir = 0, q = 0, mr; ir < mc; ir += mr, q++) {
                            mr = GE_FN(panel_rows)(mc - ir, MR);
                            GE_FN(tile)(&blk, ir, q, (int)mr, jr, nr);
                        }
                    }
                }
            }
        }
    }
}

/* The epilogue on one element of column j (the microkernels' rule, scalar). */
static inline T GE_FN(epi_one)(T v, const GE_EPI *epi, int64_t j) {
    if (epi) {
        if (epi->bias) v += epi->bias[j];
        if (epi->act == FNN_ACT_RELU) v = (v > 0 || v != v) ? v : (T)0;
        else if (epi->act == FNN_ACT_LEAKY_RELU) v = v > 0 ? v : epi->param * v;
    }
    return v;
}

/* k == 0: only the beta term (and the epilogue) survive. */
static void GE_FN(gemm_k0)(T *c, int64_t ldc, int64_t m, int64_t n, T beta, const GE_EPI *epi) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = GE_FN(epi_one)(beta != 0 ? beta * c[i * ldc + j] : (T)0, epi, j);
}

/* n == 1: a matrix-vector product, C[m] = epi(alpha op(A) x + beta C), x[p] at
 * x[p*incx]. Every element of A is used once, so these are memory-bound: they
 * stream A once at full vector width, where the register tiles would use one
 * column of sixteen (50000 x 100 float64, one thread: X @ w 4.9 -> 1.3 ms,
 * X^T d 5.8 -> 1.5; NumPy 3.4 and 3.1). Two forms:
 * dot: A stored [m, k] (rows contiguous): C[i] = dot(A[i, :], x), rows [r0, r1);
 * axpy: A stored [k, m] (op(A) = A^T, rsa = 1): acc[i] += x[p] A[p, i] for p in
 * [p0, p1) in order, so that each thread streams its own rows of A. */
#define GE_GEMV(ISA, ATTR)                                                                \
static ATTR void GE_CAT(GE_FN(gemv_dot), ISA)(T *c, int64_t rsc, const T *a, int64_t rsa, \
                                               const T *x, int64_t r0, int64_t r1,        \
                                               int64_t k, T alpha, T beta,                \
                                               const GE_EPI *epi) {                       \
    for (int64_t i = r0; i < r1; i++) {                                                   \
        T v = alpha * GE_CAT(fnn_rdot_, SFX)(a + i * rsa, x, k);                          \
        if (beta != 0) v += beta * c[i * rsc];                                            \
        c[i * rsc] = GE_FN(epi_one)(v, epi, 0);                                           \
    }                                                                                     \
}                                                                                         \
static ATTR void GE_CAT(GE_FN(gemv_axpy), ISA)(T *acc, const T *a, int64_t lda,           \
                                                const T *x, int64_t incx, int64_t m,      \
                                                int64_t p0, int64_t p1) {                 \
    for (int64_t i = 0; i < m; i++) acc[i] = 0;                                           \
    for (int64_t p = p0; p < p1; p++) {                                                   \
        const T *row = a + p * lda;                                                       \
        T xp = x[p * incx];                                                               \
        for (int64_t i = 0; i < m; i++) acc[i] += xp * row[i];                            \
    }                                                                                     \
}
GE_GEMV(_generic, )
#if FNN_X86
GE_GEMV(_avx2, FNN_TARGET_AVX2)
#endif
#undef GE_GEMV

/* Columns per axpy block: the accumulators stay in L1 while A streams by. */
#define GE_GEMV_BLOCK 512

/* The axpy form's sums over p in [p0, p1) into acc[0..m), block by block. */
static void GE_FN(gemv_axpy_range)(T *acc, const T *a, int64_t lda, const T *x, int64_t incx,
                                   int64_t m, int64_t p0, int64_t p1) {
#if FNN_X86
    if (fnn_isa_level >= FNN_ISA_AVX512) { /* blocks of columns whose sums fit in registers */
        for (int64_t b0 = 0; b0 < m; b0 += FNN_GEMV_AXPY_MAX(T)) {
            int64_t w = m - b0 < FNN_GEMV_AXPY_MAX(T) ? m - b0 : FNN_GEMV_AXPY_MAX(T);
            GE_CAT(fnn_gemv_axpy_avx512_, SFX)(acc + b0, a + b0, lda, x, incx, w, p0, p1);
        }
        return;
    }
#endif
    for (int64_t b0 = 0; b0 < m; b0 += GE_GEMV_BLOCK) {
        int64_t w = m - b0 < GE_GEMV_BLOCK ? m - b0 : GE_GEMV_BLOCK;
#if FNN_X86
        if (fnn_isa_level >= FNN_ISA_AVX2) {
            GE_CAT(GE_FN(gemv_axpy), _avx2)(acc + b0, a + b0, lda, x, incx, w, p0, p1);
            continue;
        }
#endif
        GE_CAT(GE_FN(gemv_axpy), _generic)(acc + b0, a + b0, lda, x, incx, w, p0, p1);
    }
}

#if FNN_X86
/* The dot form on AVX-512: the row-dot kernel (gemm.h) writes the sums straight into a
 * contiguous C when there is nothing else to apply, else into a block of scratch rows
 * that the scalar epilogue then applies. */
static void GE_FN(gemv_dot_avx512)(T *c, int64_t rsc, const T *a, int64_t rsa, const T *x,
                                   int64_t r0, int64_t r1, int64_t k, T alpha, T beta,
                                   const GE_EPI *epi) {
    if (rsc == 1 && alpha == 1 && beta == 0 && !epi) {
        GE_CAT(fnn_gemv_rows_avx512_, SFX)(a + r0 * rsa, rsa, x, k, r1 - r0, c + r0);
        return;
    }
    T s[256];
    for (int64_t i = r0; i < r1; i += 256) {
        const int64_t rows = r1 - i < 256 ? r1 - i : 256;
        GE_CAT(fnn_gemv_rows_avx512_, SFX)(a + i * rsa, rsa, x, k, rows, s);
        for (int64_t r = 0; r < rows; r++) {
            T v = alpha * s[r];
            if (beta != 0) v += beta * c[(i + r) * rsc];
            c[(i + r) * rsc] = GE_FN(epi_one)(v, epi, 0);
        }
    }
}
#endif

/* Rows [r0, r1) of the dot form (contiguous x), or of any other layout summed
 * plainly in p order (a strided x: rare, since n == 1 makes x a column of B [k, 1]
 * or a row of B^T stored [1, k], both contiguous). */
static void GE_FN(gemv_dot_rows)(T *c, int64_t rsc, const T *a, int64_t rsa, int64_t csa,
                                 const T *x, int64_t incx, int64_t r0, int64_t r1, int64_t k,
                                 T alpha, T beta, const GE_EPI *epi) {
    if (csa == 1 && incx == 1) {
#if FNN_X86
        if (fnn_isa_level >= FNN_ISA_AVX512) {
            GE_FN(gemv_dot_avx512)(c, rsc, a, rsa, x, r0, r1, k, alpha, beta, epi);
            return;
        }
        if (fnn_isa_level >= FNN_ISA_AVX2) {
            GE_CAT(GE_FN(gemv_dot), _avx2)(c, rsc, a, rsa, x, r0, r1, k, alpha, beta, epi);
            return;
        }
#endif
        GE_CAT(GE_FN(gemv_dot), _generic)(c, rsc, a, rsa, x, r0, r1, k, alpha, beta, epi);
        return;
    }
    for (int64_t i = r0; i < r1; i++) {
        T s = 0;
        for (int64_t p = 0; p < k; p++) s += a[i * rsa + p * csa] * x[p * incx];
        T v = alpha * s;
        if (beta != 0) v += beta * c[i * rsc];
        c[i * rsc] = GE_FN(epi_one)(v, epi, 0);
    }
}

/* C[m, 1] = epi(alpha op(A) x + beta C). Threads take rows of C in the dot form
 * (blocks of 16: whole cache lines) and contiguous slices of A's k rows in the
 * axpy form, whose partial sums are then added in thread order: a result depends
 * on the thread count only, never on timing. */
static void GE_FN(gemv)(T *c, int64_t rsc, const T *a, int64_t rsa, int64_t csa, const T *x,
                        int64_t incx, int64_t m, int64_t k, T alpha, T beta,
                        const GE_EPI *epi, int max_threads) {
    int axpy = rsa == 1 && !(csa == 1 && incx == 1);
    int64_t units = axpy ? k : (m + 15) / 16;
    int nt = fnn_threads_for(2.0 * (double)m * (double)k, FNN_GEMM_PAR_MIN_FLOPS);
    if (nt > max_threads) nt = max_threads;
    if (nt > units) nt = (int)units;
    if (!axpy) {
        if (nt <= 1) {
            GE_FN(gemv_dot_rows)(c, rsc, a, rsa, csa, x, incx, 0, m, k, alpha, beta, epi);
            return;
        }
        unsigned fp = fnn_fp_bits(); /* internal.h: the caller's flush bits on every thread */
#pragma omp parallel num_threads(nt)
        {
            unsigned saved = fnn_fp_adopt(fp);
            int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS();
            int64_t lo = units * t / tn * 16, hi = units * (t + 1) / tn * 16;
            if (hi > m) hi = m;
            if (hi > lo) GE_FN(gemv_dot_rows)(c, rsc, a, rsa, csa, x, incx, lo, hi, k, alpha, beta, epi);
            fnn_fp_restore(fp, saved);
        }
        return;
    }
    if (nt < 1) nt = 1;
    T *acc = (T *)gemm_scratch(1, (size_t)nt * (size_t)m * sizeof(T));
    int parts = 1; /* the team OpenMP actually gave (at most nt) */
    if (nt == 1) GE_FN(gemv_axpy_range)(acc, a, csa, x, incx, m, 0, k);
    else {
        unsigned fp = fnn_fp_bits();
#pragma omp parallel num_threads(nt)
        {
            unsigned saved = fnn_fp_adopt(fp);
            int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS();
            if (t == 0) parts = tn;
            GE_FN(gemv_axpy_range)(acc + (int64_t)t * m, a, csa, x, incx, m, k * t / tn, k * (t + 1) / tn);
            fnn_fp_restore(fp, saved);
        }
    }
    for (int64_t i = 0; i < m; i++) {
        T s = acc[i];
        for (int t = 1; t < parts; t++) s += acc[(int64_t)t * m + i];
        T v = alpha * s;
        if (beta != 0) v += beta * c[i * rsc];
        c[i * rsc] = GE_FN(epi_one)(v, epi, 0);
    }
}

#if FNN_X86
/* Shortest k for the dot kernels: below it the per-element reductions cost more
 * than the idle tile lanes they save. */
#define GE_DOT_MIN_K 32

/* A narrow C (n <= FNN_DOT_MAX_N: e.g. the ten logits of X @ W) with A row-major:
 * dot products along k on every vector lane, instead of a register tile whose last
 * vector of each row is at most 3/4 full (10 columns: 8 + 2 of 16 lanes). Where it
 * is fuller (float32 n = 7, 8; float64 n = 4, 8, 12) the AVX2 tile measured as fast
 * or faster (Zen 4, one thread; n = 10: dot +17-35% float32, +6-67% float64). The
 * AVX-512 tile (32 / 16 columns) is at most 3/8 full for n <= 12: the dot kernels
 * won for n = 2..12 at k = 64 and 256 (Xeon, one thread, m = 32 and 128: float32
 * 1.25-4.9x, float64 1.0-2.6x; float64 n = 12 from -4% to +16%), and at k = 32 for
 * n <= 9 (n = 10 lost 5%, float64 n = 10-12 4-7%). Chosen from n, k and the layouts
 * only, never m, so a row's result does not depend on the size of the row block it is
 * computed in. */
static int GE_FN(dot_fits)(int64_t n, int64_t k, int64_t csa, int64_t rsb, int64_t csb) {
    if (n > FNN_DOT_MAX_N || k < GE_DOT_MIN_K || csa != 1 || (csb != 1 && rsb != 1)) return 0;
    if (fnn_isa_level >= FNN_ISA_AVX512) return n <= 9 || k >= 64;
    const int64_t lanes = 32 / (int64_t)sizeof(T), tail = n % lanes;
    return fnn_isa_level >= FNN_ISA_AVX2 && tail != 0 && 4 * tail <= 3 * lanes;
}

/* The dot kernel of the ISA in use (dot_fits: at least AVX2). */
static void GE_FN(dot_kernel)(int64_t k, const T *a, int64_t rsa, int64_t m, const T *bt,
                              int64_t ldbt, int64_t n, T *c, int64_t rsc, T alpha, T beta,
                              const GE_EPI *epi) {
    if (fnn_isa_level >= FNN_ISA_AVX512)
        GE_CAT(fnn_dot_avx512_, SFX)(k, a, rsa, m, bt, ldbt, n, c, rsc, alpha, beta, epi);
    else GE_CAT(fnn_dot_avx2_, SFX)(k, a, rsa, m, bt, ldbt, n, c, rsc, alpha, beta, epi);
}

/* The dot form: op(B)'s columns as rows contiguous along k (B^T stored [n, k] is read
 * in place; a row-major B [k, n] is transposed into scratch, n x k: small beside the
 * m x n x k product), rows of C split between threads. */
static void GE_FN(gemm_dot)(T *c, int64_t ldc, const T *a, int64_t rsa, const T *b, int64_t rsb,
                            int64_t csb, int64_t m, int64_t n, int64_t k, T alpha, T beta,
                            const GE_EPI *epi, int max_threads) {
    const T *bt = b;
    int64_t ldbt = csb;
    if (csb == 1) {
        T *buf = (T *)gemm_scratch(1, (size_t)n * (size_t)k * sizeof(T));
        GE_FN(transpose)(buf, k, b, rsb, k, n);
        bt = buf;
        ldbt = k;
    }
    int nt = fnn_threads_for(2.0 * (double)m * (double)n * (double)k, FNN_GEMM_PAR_MIN_FLOPS);
    if (nt > max_threads) nt = max_threads;
    int64_t pairs = (m + 1) / 2;
    if (nt > pairs) nt = (int)pairs;
    if (nt <= 1) {
        GE_FN(dot_kernel)(k, a, rsa, m, bt, ldbt, n, c, ldc, alpha, beta, epi);
        return;
    }
    unsigned fp = fnn_fp_bits(); /* internal.h: the caller's flush bits on every thread */
#pragma omp parallel num_threads(nt)
    {
        unsigned saved = fnn_fp_adopt(fp);
        int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS();
        int64_t lo = pairs * t / tn * 2, hi = pairs * (t + 1) / tn * 2;
        if (hi > m) hi = m;
        if (hi > lo)
            GE_FN(dot_kernel)(k, a + lo * rsa, rsa, hi - lo, bt, ldbt, n, c + lo * ldc, ldc, alpha,
                              beta, epi);
        fnn_fp_restore(fp, saved);
    }
}
#endif

static void GE_FN(pick_cfg)(GE_CFG *g);

void GE_CAT(fnn_gemm_ex_, SFX)(T *c, int64_t ldc, const T *a, int64_t rsa, int64_t csa,
                               const T *b, int64_t rsb, int64_t csb, int64_t m, int64_t n,
                               int64_t k, T alpha, T beta, const GE_EPI *epi, int max_threads) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        GE_FN(gemm_k0)(c, ldc, m, n, beta, epi);
        return;
    }
    if (n == 1) {
        GE_FN(gemv)(c, ldc, a, rsa, csa, b, rsb, m, k, alpha, beta, epi, max_threads);
        return;
    }
    GE_CFG g;
    GE_FN(pick_cfg)(&g);
#if FNN_X86
    if (GE_FN(dot_fits)(n, k, csa, rsb, csb)) {
        GE_FN(gemm_dot)(c, ldc, a, rsa, b, rsb, csb, m, n, k, alpha, beta, epi, max_threads);
        return;
    }
#endif
    int64_t rsc = ldc, csc = 1;
    /* The microkernel wants B with unit column stride. A transposed B is packed, or
     * the whole product is transposed (C^T = op(B)^T op(A)^T) when that is cheaper:
     * then op(A)^T plays B (unit stride when A is stored transposed, else packed)
     * and C is written through a strided store. */
    /* Also transposed: a narrow C (the 10 logits of X^T dY) when A is stored
     * transposed, so the n rows fill register rows instead of 10 of 16 lanes (or
     * 8 + 2 of 8 + 8). The strided stores of C cost as much as a short k, except
     * where the AVX2 kernels transpose the tile in registers: tiles of 4 or 6 rows,
     * i.e. n = 4, 6, 8, 10, 12 (the panel plan of n rows). Measured for n = 10:
     * +40% float32, +25-55% float64 at k >= 128 (scalar stores); with the register
     * transposes, k = 32 (X^T dY at batch 32) +17-55% float32, +12-43% float64.
     * The AVX-512 kernels transpose any tile in registers: transposed, every n = 2..12
     * ran 2-3x faster at k = 32 and 48 (Xeon, one thread, 256 x k x n). */
#if FNN_X86
    int tstore = fnn_isa_level >= FNN_ISA_AVX512 ||
                 (fnn_isa_level >= FNN_ISA_AVX2 && n % 2 == 0 && n >= 4);
#else
    int tstore = 0;
#endif
    int narrow = n <= 12 && n % g.nr != 0 && m >= 2 * g.nr && (k >= 64 || tstore) && rsa == 1 &&
                 csb == 1;
    if ((csb != 1 || narrow) && !epi) {
        double pack_b_cost = (double)n * (double)k;
        /* a transposed C costs the AVX2 tile 2 units an element; the AVX-512 tile
         * transposes in registers: 0.5 (dY @ W^T, 32x64x128 float32: 1.46x -> 1.74x
         * OpenBLAS, 128x256x512 1.20x -> 1.31x; float64 at 32 rows 1.30x -> 1.54x) */
        double c_cost = fnn_isa_level >= FNN_ISA_AVX512 ? 0.5 : 2.0;
        double swap_cost = (rsa == 1 ? 0.0 : (double)m * (double)k) + c_cost * (double)m * (double)n;
        if (narrow || swap_cost < pack_b_cost) {
            const T *t = a; a = b; b = t;
            int64_t r = rsa, s = csa;
            rsa = csb; csa = rsb;   /* A' = op(B)^T */
            rsb = s; csb = r;       /* B' = op(A)^T */
            int64_t mm = m; m = n; n = mm;
            rsc = 1; csc = ldc;
        }
    }
    int nt = fnn_threads_for(2.0 * (double)m * (double)n * (double)k, FNN_GEMM_PAR_MIN_FLOPS);
    if (nt > max_threads) nt = max_threads;
    /* split the dimension whose operand is larger, so each thread streams only its
     * part of it (split n: every thread reads all of A and 1/nt of B) */
    int split_n = n >= m;
    int64_t units = split_n ? (n + g.nr - 1) / g.nr : (m + g.mr - 1) / g.mr;
    if (nt > units) nt = (int)units;
    if (nt <= 1) {
        int packa, packb;
        gemm_decide_packing(m, n, k, rsa, csb, g.mr, g.nr, sizeof(T), &packa, &packb);
        GE_FN(gemm_serial)(&g, c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, epi,
                           packa, packb);
        return;
    }
    unsigned fp = fnn_fp_bits(); /* internal.h: the caller's flush bits on every thread */
#pragma omp parallel num_threads(nt)
    {
        unsigned saved = fnn_fp_adopt(fp);
        int t = FNN_THREAD_NUM(), tn = FNN_NUM_THREADS();
        int64_t u0 = units * t / tn, u1 = units * (t + 1) / tn;
        int64_t unit = split_n ? g.nr : g.mr, lim = split_n ? n : m;
        int64_t lo = u0 * unit, hi = u1 * unit < lim ? u1 * unit : lim;
        if (hi > lo) {
            int64_t sm = split_n ? m : hi - lo, sn = split_n ? hi - lo : n;
            int packa, packb;
            gemm_decide_packing(sm, sn, k, rsa, csb, g.mr, g.nr, sizeof(T), &packa, &packb);
            if (split_n) {
                GE_EPI es;
                const GE_EPI *ep = epi;
                if (epi) { es = *epi; if (es.bias) es.bias += lo; ep = &es; }
                GE_FN(gemm_serial)(&g, c + lo * csc, rsc, csc, a, rsa, csa, b + lo * csb, rsb,
                                   csb, sm, sn, k, alpha, beta, ep, packa, packb);
            } else {
                GE_FN(gemm_serial)(&g, c + lo * rsc, rsc, csc, a + lo * rsa, rsa, csa, b, rsb,
                                   csb, sm, sn, k, alpha, beta, epi, packa, packb);
            }
        }
        fnn_fp_restore(fp, saved);
    }
}

#undef GE_CAT_
#undef GE_CAT
#undef GE_FN
#undef GE_EPI
#undef GE_UKR
#undef GE_CFG
#undef GE_BLOCK
