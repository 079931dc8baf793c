/* act_math.h -- the constants of the gelu activations, one place for them in C
 * (the NumPy reference, fastnn/backends/reference.py, states the formulas).
 * The activations themselves are the branch-free, vectorisable functions of
 * simd_math.h, composed in activations.c; a hot loop elsewhere calls
 * fnn_act_forward_block_* / fnn_act_backward_block_* (internal.h). */
#ifndef FASTNN_ACT_MATH_H
#define FASTNN_ACT_MATH_H

#define FNN_SQRT_2_OVER_PI 0.7978845608028654
#define FNN_INV_SQRT_2 0.7071067811865476
#define FNN_INV_SQRT_2PI 0.3989422804014327
#define FNN_GELU_C 0.044715

#endif
