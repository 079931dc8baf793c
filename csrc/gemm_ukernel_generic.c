/* gemm_ukernel_generic.c -- portable microkernels (see gemm.h for the contract).
 *
 * 6 rows x two 16-byte vectors per row (6x8 float32, 6x4 float64): 12 accumulators,
 * which fit the 16 registers of SSE2 (the x86-64 baseline) and of NEON. Written with
 * GCC/Clang vector extensions, which lower to whatever SIMD the target has (or to
 * scalar code); no intrinsics, no ISA assumptions. A right edge that must not be
 * over-read goes through a zero-padded copy of the B row.
 */
#include <string.h>
#include "gemm.h"

typedef float vf4 __attribute__((vector_size(16)));
typedef double vd2 __attribute__((vector_size(16)));

#define GEN_ACT(T, v, act, p)                                                         \
    ((act) == FNN_ACT_RELU ? ((v) > 0 || (v) != (v) ? (v) : (T)0)                      \
     : (act) == FNN_ACT_LEAKY_RELU ? ((v) > 0 ? (v) : (p) * (v)) : (v))

/* One kernel body for both dtypes: V = vector type, L = lanes per vector. */
#define DEFINE_GEN_UKR(T, SFX, V, L, MR, NR)                                              \
void fnn_ukr_generic_##SFX(int64_t k, const T *a, int64_t rsa, int64_t csa,               \
                           const T *b, int64_t rsb, int bmask, T *c, int64_t rsc,         \
                           int64_t csc, int mr, int nr, T alpha, T beta,                  \
                           const fnn_epi_##SFX *epi) {                                    \
    const T *ar[MR];                                                                      \
    for (int r = 0; r < MR; r++) ar[r] = a + (r < mr ? r * rsa : 0);                      \
    V acc[MR][2];                                                                         \
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (V){0};                          \
    T pad[NR];                                                                            \
    memset(pad, 0, sizeof pad);                                                           \
    int64_t off = 0;                                                                      \
    for (int64_t p = 0; p < k; p++, b += rsb, off += csa) {                               \
        const T *bp = b;                                                                  \
        if (bmask) { memcpy(pad, b, (size_t)nr * sizeof(T)); bp = pad; }                  \
        V b0, b1;                                                                         \
        memcpy(&b0, bp, sizeof b0);                                                       \
        memcpy(&b1, bp + L, sizeof b1);                                                   \
        for (int r = 0; r < MR; r++) {                                                    \
            V av = (V){0} + ar[r][off];                                                   \
            acc[r][0] += av * b0;                                                         \
            acc[r][1] += av * b1;                                                         \
        }                                                                                 \
    }                                                                                     \
    T t[MR][NR];                                                                          \
    for (int r = 0; r < MR; r++) {                                                        \
        memcpy(&t[r][0], &acc[r][0], sizeof(V));                                          \
        memcpy(&t[r][L], &acc[r][1], sizeof(V));                                          \
    }                                                                                     \
    int act = epi ? epi->act : FNN_ACT_IDENTITY;                                          \
    T prm = epi ? epi->param : (T)0;                                                      \
    const T *bias = epi ? epi->bias : NULL;                                               \
    for (int r = 0; r < mr; r++) {                                                        \
        for (int j = 0; j < nr; j++) {                                                    \
            T *cij = c + r * rsc + j * csc;                                               \
            T v = alpha * t[r][j] + (bias ? bias[j] : (T)0);                              \
            if (beta != 0) v += beta * *cij;                                              \
            *cij = GEN_ACT(T, v, act, prm);                                               \
        }                                                                                 \
    }                                                                                     \
}

DEFINE_GEN_UKR(float, f32, vf4, 4, FNN_GEN_MR_F32, FNN_GEN_NR_F32)
DEFINE_GEN_UKR(double, f64, vd2, 2, FNN_GEN_MR_F64, FNN_GEN_NR_F64)
