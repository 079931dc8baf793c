/* dense.c -- dense layer forward/backward = the gemm engine + fused epilogues
 * (bias, activation, activation derivative, bias gradient); see gemm_dense.h. */
#include <stdlib.h>
#include "gemm.h"
#include "simd_math.h"

#define T float
#define SFX f32
#include "gemm_dense.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "gemm_dense.h"
#undef T
#undef SFX
