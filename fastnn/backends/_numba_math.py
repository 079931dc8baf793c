"""Vectorisable exp, expm1, tanh, log1p, erf and float64 sums for Numba loops (float32 and float64).

Numba lowers ``math.exp`` & co. to one libm call per element (no SVML here), so
a loop that calls them never vectorises and runs 10-50x slower than NumPy's
SIMD ufuncs. These versions are plain arithmetic (range reduction, a polynomial,
a bit-cast for 2^k) that LLVM inlines and vectorises. No fastmath: they are
exact IEEE operation sequences, so the results do not depend on the ISA.

Accuracy (checked in tests against NumPy over wide ranges): float64 within a few
ulp (relative error < 1e-15), float32 within a few ulp (< 1e-6). The float32
versions compute in float32 with shorter polynomials.

* ``vexp``: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2, Taylor polynomial
  (degree 13 / 7), times 2^k built from exponent bits in two halves so that
  results in the subnormal range and overflow to inf come out right;
* ``vexpm1``: the same reduction, ``2^k expm1(r) + (2^k - 1)`` with expm1(r)
  from a Taylor polynomial: for k = 0 (|x| <= ln2/2) it is expm1(r) itself, so
  there is no cancellation near 0, and there is only one polynomial;
* ``vtanh``: float64 ``sign(x) t / (t + 2)`` with ``t = expm1(2|x|)``; float32
  ``1 - 2 / (e^2|x| + 1)`` above 0.4 and an odd Taylor polynomial below (|x|
  clamped where tanh is 1 to the last bit);
* ``vlog1p_unit``: log1p(u) for u in [0, 1] only (what softplus and BCE need,
  u = e^-|x|): 2 atanh(f / (2 + f)) after folding u > sqrt(2) - 1 by one ln 2;
* ``verf``: the C backend's erf (csrc/simd_math.h, same coefficients): a
  polynomial up to |x| = 1, 1 - e^{-x^2} R(|x|) above, both computed and one
  selected; float64 within 1.1 ulp of the exact erf, float32 within 2.2 ulp.

``dsum``, ``dsumabs`` and ``dsumsq`` are float64 sums (of x, |x|, x^2), and
``vdot`` and ``vsum`` a dot product and a sum in the arrays' dtype, for the same
reason: without fastmath a sum is one chain of additions, so they keep 16
partial sums in one vector register (a loop written in LLVM IR). ``vmax`` keeps
16 running maxima the same way (LLVM does not vectorise a running max either).

NaN in gives NaN out. The overloads are inlined at Numba-IR level
(``inline="always"``): left to LLVM, a nested call (tanh -> expm1 -> exp) stays
a call and the loop around it does not vectorise.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba import njit
from numba.extending import intrinsic, overload

from ._numba_jit import OPTIONS

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
# ln 2 split so that k * _LN2_HI is exact for the k that occur (Cody & Waite)
_LN2_HI_64 = 0.6931471803691238
_LN2_LO_64 = 1.9082149292705877e-10
_LN2_HI_32 = 0.693359375
_LN2_LO_32 = -2.12194440e-4
# adding then subtracting 1.5 * 2^52 (2^23) rounds to the nearest integer
_SHIFT_64 = 6755399441055744.0
_SHIFT_32 = 12582912.0
f32 = np.float32  # the float32 versions cast every constant, so they compute in float32
i32 = np.int32  # ... and their exponent arithmetic in int32


@intrinsic
def _pow2_bits(typingctx, bits, like):
    """Reinterpret integer `bits` as a float of `like`'s type (float32 takes the low 32 bits)."""
    if not isinstance(bits, types.Integer) or like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, sig, args):
        b = args[0]
        if like == types.float32:
            if bits.bitwidth > 32:
                b = builder.trunc(b, ir.IntType(32))
            return builder.bitcast(b, ir.FloatType())
        if bits.bitwidth < 64:
            b = builder.sext(b, ir.IntType(64))
        return builder.bitcast(b, ir.DoubleType())

    return like(bits, like), codegen


@intrinsic
def select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM select (both sides are evaluated).

    Written as a Python conditional, inlined helpers leave phi nodes that Numba's
    IR inliner flags (NumbaIRAssumptionWarning); a select has no control flow.
    """
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


# ------------------------------------------------------------------------- exp


def vexp(x):
    """e^x (a stub for Python; Numba compiles the overload below)."""
    return math.exp(x)


def _exp64(x):
    one = 1.0
    c = select(x < 709.8, x, 709.8)  # beyond: inf; below -745.2: 0
    c = select(c > -746.0, c, -746.0)
    k = (c * _LOG2E + _SHIFT_64) - _SHIFT_64
    r = (c - k * _LN2_HI_64) - k * _LN2_LO_64
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + one
    p = p * r + one
    ki = int(k)
    k1 = ki >> 1
    k2 = ki - k1
    y = p * _pow2_bits((k1 + 1023) << 52, one) * _pow2_bits((k2 + 1023) << 52, one)
    return select(x == x, y, x)


def _exp32(x):
    one = f32(1.0)
    c = select(x < f32(88.8), x, f32(88.8))
    c = select(c > f32(-104.0), c, f32(-104.0))
    k = (c * f32(_LOG2E) + f32(_SHIFT_32)) - f32(_SHIFT_32)
    r = (c - k * f32(_LN2_HI_32)) - k * f32(_LN2_LO_32)
    p = f32(1.0 / 5040.0)
    p = p * r + f32(1.0 / 720.0)
    p = p * r + f32(1.0 / 120.0)
    p = p * r + f32(1.0 / 24.0)
    p = p * r + f32(1.0 / 6.0)
    p = p * r + f32(0.5)
    p = p * r + one
    p = p * r + one
    ki = i32(k)  # int32, not int: int64 lanes halve the vector width of a float32 loop
    k1 = ki >> i32(1)
    k2 = ki - k1
    y = p * _pow2_bits((k1 + i32(127)) << i32(23), one) * _pow2_bits((k2 + i32(127)) << i32(23), one)
    return select(x == x, y, x)


@overload(vexp, jit_options={"error_model": "numpy", "fastmath": False}, inline="always")
def _vexp_overload(x):
    if x == types.float64:
        return _exp64
    if x == types.float32:
        return _exp32
    return None


# ----------------------------------------------------------------------- expm1


def vexpm1(x):
    """e^x - 1 without cancellation near 0 (stub; see the overload)."""
    return math.expm1(x)


def _expm1_64(x):
    # x = k ln2 + r, |r| <= ln2/2: e^x - 1 = 2^k expm1(r) + (2^k - 1), with
    # expm1(r) from its Taylor series (degree 14: truncation < 1e-17 relative).
    # For k = 0 this is expm1(r) itself: no cancellation near 0. One polynomial.
    c = select(x < 709.8, x, 709.8)
    c = select(c > -60.0, c, -60.0)  # below, e^x - 1 rounds to -1
    k = (c * _LOG2E + _SHIFT_64) - _SHIFT_64
    r = (c - k * _LN2_HI_64) - k * _LN2_LO_64
    p = 1.0 / 87178291200.0
    p = p * r + 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    em1 = r + (r * r) * p
    ki = int(k)
    k1 = ki >> 1
    s = _pow2_bits((k1 + 1023) << 52, 1.0) * _pow2_bits((ki - k1 + 1023) << 52, 1.0)
    y = s * em1 + (s - 1.0)
    return select(x == x, y, x)


def _expm1_32(x):
    c = select(x < f32(88.8), x, f32(88.8))
    c = select(c > f32(-20.0), c, f32(-20.0))  # below, e^x - 1 rounds to -1
    k = (c * f32(_LOG2E) + f32(_SHIFT_32)) - f32(_SHIFT_32)
    r = (c - k * f32(_LN2_HI_32)) - k * f32(_LN2_LO_32)
    p = f32(1.0 / 40320.0)
    p = p * r + f32(1.0 / 5040.0)
    p = p * r + f32(1.0 / 720.0)
    p = p * r + f32(1.0 / 120.0)
    p = p * r + f32(1.0 / 24.0)
    p = p * r + f32(1.0 / 6.0)
    p = p * r + f32(0.5)
    em1 = r + (r * r) * p
    ki = i32(k)  # as in _exp32
    k1 = ki >> i32(1)
    one = f32(1.0)
    s = _pow2_bits((k1 + i32(127)) << i32(23), one) * _pow2_bits((ki - k1 + i32(127)) << i32(23), one)
    y = s * em1 + (s - one)
    return select(x == x, y, x)


@overload(vexpm1, jit_options={"error_model": "numpy", "fastmath": False}, inline="always")
def _vexpm1_overload(x):
    if x == types.float64:
        return _expm1_64
    if x == types.float32:
        return _expm1_32
    return None


# ------------------------------------------------------------------------ tanh


def vtanh(x):
    """tanh(x) (stub; see the overload)."""
    return math.tanh(x)


def _tanh64(x):
    a = abs(x)
    a = select(a < 22.0, a, 22.0)  # tanh(22) rounds to 1.0 in float64
    t = vexpm1(a + a)
    r = t / (t + 2.0)
    r = select(x >= 0.0, r, -r)
    return select(x == x, r, x)


def _tanh32(x):
    # |x| >= 0.4: 1 - 2 / (e^2|x| + 1) loses at most ~3 ulp to cancellation;
    # below, the odd Taylor series to x^11 (truncation < 3e-8 relative)
    a = abs(x)
    e = vexp(select(a < f32(10.0), a, f32(10.0)) * f32(2.0))  # tanh(10) rounds to 1.0
    big = f32(1.0) - f32(2.0) / (e + f32(1.0))
    z = a * a
    p = f32(-1382.0 / 155925.0)
    p = p * z + f32(62.0 / 2835.0)
    p = p * z - f32(17.0 / 315.0)
    p = p * z + f32(2.0 / 15.0)
    p = p * z - f32(1.0 / 3.0)
    small = a + a * (z * p)
    r = select(a < f32(0.4), small, big)
    r = select(x >= f32(0.0), r, -r)
    return select(x == x, r, x)


@overload(vtanh, jit_options={"error_model": "numpy", "fastmath": False}, inline="always")
def _vtanh_overload(x):
    if x == types.float64:
        return _tanh64
    if x == types.float32:
        return _tanh32
    return None


# ------------------------------------------------------------------ log1p on [0, 1]


def vlog1p_unit(u):
    """log(1 + u) for 0 <= u <= 1 (stub; see the overload)."""
    return math.log1p(u)


def _log1p_unit64(u):
    fold = u > 0.41421356237309503
    f = select(fold, (u - 1.0) * 0.5, u)  # 1 + u = 2 (1 + f)
    s = f / (2.0 + f)
    z = s * s
    # 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ...), |s| <= 0.1716 so z^10/21 < 3e-17
    p = 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    r = (s + s) + (s + s) * (z * p)
    return select(fold, r + _LN2, r)


def _log1p_unit32(u):
    fold = u > f32(0.41421356)
    f = select(fold, (u - f32(1.0)) * f32(0.5), u)
    s = f / (f32(2.0) + f)
    z = s * s
    p = f32(1.0 / 11.0)
    p = p * z + f32(1.0 / 9.0)
    p = p * z + f32(1.0 / 7.0)
    p = p * z + f32(1.0 / 5.0)
    p = p * z + f32(1.0 / 3.0)
    r = (s + s) + (s + s) * (z * p)
    return select(fold, r + f32(_LN2), r)


@overload(vlog1p_unit, jit_options={"error_model": "numpy", "fastmath": False}, inline="always")
def _vlog1p_unit_overload(u):
    if u == types.float64:
        return _log1p_unit64
    if u == types.float32:
        return _log1p_unit32
    return None



# ------------------------------------------------------------------------- erf


@intrinsic
def horner(typingctx, x, coeffs):
    """coeffs[0] x^(n-1) + ... + coeffs[n-1], each constant cast to x's type.

    Emitted as a straight chain of multiplies and adds (no FMA). A Python loop
    over the tuple is lowered to a switch per step, which LLVM leaves as a loop
    for 21 terms, and the loop around the caller then stays scalar. `coeffs` is
    a global tuple, so the constants fold."""
    if x not in (types.float32, types.float64) or not isinstance(coeffs, types.UniTuple):
        return None

    def codegen(context, builder, sig, args):
        xv, cv = args

        def coeff(i):
            return context.cast(builder, builder.extract_value(cv, i), coeffs.dtype, x)

        p = coeff(0)
        for i in range(1, coeffs.count):
            p = builder.fadd(builder.fmul(p, xv), coeff(i))
        return p

    return x(x, coeffs), codegen


# The coefficients and formulas are those of the C backend's fnn_verf_f64 and
# fnn_verf_f32 in csrc/simd_math.h (fitted and documented there; the float64
# tables are FNN_ERF_P_F64 and FNN_ERFCX_R_F64, the float32 ones are literals in
# fnn_verf_f32). tests/test_numba_backend.py checks they equal the header's.
_ERF_P_64 = (  # erf(x) / x - 1 as a polynomial in x^2, |x| <= 1
    -7.779462812515164e-10, 1.3710977257886776e-08, -1.6206313007913112e-07, 1.644713146982025e-06,
    -1.4924712293486805e-05, 0.0001205529357644023, -0.0008548325929298499, 0.0052239776061181265,
    -0.026866170643111423, 0.11283791670944185, -0.3761263890318352, 0.12837916709551256,
)
_ERFCX_R_64 = (  # erfcx(x) = e^{x^2} erfc(x) as a polynomial in |x| - 1, on [1, 6]
    1.1724844773924022e-12, -3.926397090955617e-11, 6.189488349839374e-10, -6.150834846109882e-09,
    4.367448572675705e-08, -2.391038619575364e-07, 1.0686235273450515e-06, -4.093177618130089e-06,
    1.401812082698866e-05, -4.4405294700418114e-05, 0.00013307862872106982, -0.00038159536026142495,
    0.001050100745680321, -0.0027690055903158164, 0.006970127302787687, -0.01666186641547156,
    0.03757229590301765, -0.07922696891935813, 0.1543715613711035, -0.27321201478388707,
    0.427583576155807,
)
_ERF_P_32 = (  # erf(x) / x as a polynomial in x^2, |x| <= 1
    -5.654105917e-04, 4.923277535e-03, -2.671638504e-02, 1.128036454e-01, -3.761234879e-01,
    1.128379107e+00,
)
_ERFC_Q_32 = (  # e^{x^2} erfc(x) as a polynomial in 1/|x|, on [1, 4]
    -1.694679633e-02, 1.168974862e-01, -3.475888968e-01, 5.694930553e-01, -5.024152994e-01,
    4.987014830e-02, 5.579383373e-01, 3.356043017e-04,
)


def verf(x):
    """erf(x) (stub; see the overload)."""
    return math.erf(x)


def _erf64(x):
    # Both ranges are computed and one is selected. x^2 needs no hi/lo split: its
    # rounding moves e^{-x^2} by x^2 2^-53 relative, at most erfc(x) x^2 <= 0.16 ulp
    # of erf (at |x| = 1). Measured: an exact (Dekker) x^2 changed 1.4% of the
    # results on [1, 6] by one ulp and not the maximum error.
    a = abs(x)
    a = select(a > 6.0, 6.0, a)  # erf rounds to +-1 from 5.9216 on (inf too); NaN passes
    z = a * a
    small = a + a * horner(z, _ERF_P_64)
    large = 1.0 - vexp(-z) * horner(a - 1.0, _ERFCX_R_64)
    return math.copysign(select(a <= 1.0, small, large), x)


def _erf32(x):
    one = f32(1.0)
    a = abs(x)
    a = select(a > f32(4.0), f32(4.0), a)  # erf rounds to +-1 from 3.92 on
    z = a * a
    small = a * horner(z, _ERF_P_32)
    q = horner(one / select(a > one, a, one), _ERFC_Q_32)
    large = one - vexp(-z) * q
    large = select(large > one, one, large)
    return math.copysign(select(a <= one, small, large), x)


@overload(verf, jit_options={"error_model": "numpy", "fastmath": False}, inline="always")
def _verf_overload(x):
    if x == types.float64:
        return _erf64
    if x == types.float32:
        return _erf32
    return None


# ------------------------------------------------------ sums and dots in vector registers

#: lanes of dsum / dsumabs / dsumsq / vdot / vsum / vmax (as FNN_RED_W in csrc/reduce.h)
SUM_LANES = 16


def _is_vector(v):
    return (isinstance(v, types.Array) and v.ndim == 1 and v.layout == "C"
            and v.dtype in (types.float32, types.float64))


def _fadd(builder, a, b):
    return builder.fadd(a, b)


def _fmax(builder, a, b):
    # `b > a ? b : a`: x86's maxps itself (llvm.maxnum would add NaN handling around it)
    return builder.select(builder.fcmp_ordered(">", b, a), b, a)


def _lane_reduce(context, builder, arrays, values, lane_type, term, combine=_fadd, init=0.0):
    """combine() of term(blocks) over the whole SUM_LANES-blocks of 1-D C arrays (the first
    one's length), in a <SUM_LANES x lane_type> accumulator starting at `init` in every
    lane; then its lanes combined pairwise. combine is a sum unless given (vmax: a max).

    Without fastmath LLVM does not vectorise a sum (one chain of additions) nor
    turn independent scalar chains into vectors, and partial sums in an array
    stay in memory: a load and a store per vector (the norms ran at up to 2x the
    C time; dot8's eight scalar chains ran scalar). So this loop is written in
    LLVM IR: lane l sums the terms of elements l, l + 16, .... Every operation is
    per lane, so the result does not depend on the width of the machine's vectors."""
    arys = [context.make_array(a)(context, builder, v) for a, v in zip(arrays, values)]
    ptrs = [builder.bitcast(ary.data, ir.VectorType(context.get_value_type(a.dtype), SUM_LANES).as_pointer())
            for a, ary in zip(arrays, arys)]
    acc = cgutils.alloca_once_value(builder, ir.Constant(ir.VectorType(lane_type, SUM_LANES), [init] * SUM_LANES))
    n = arys[0].nitems
    with cgutils.for_range(builder, builder.udiv(n, n.type(SUM_LANES))) as loop:
        blocks = [builder.load(builder.gep(p, [loop.index]), align=a.dtype.bitwidth // 8)
                  for a, p in zip(arrays, ptrs)]
        builder.store(combine(builder, builder.load(acc), term(builder, *blocks)), acc)  # mem2reg: a register
    s, w = builder.load(acc), SUM_LANES
    while w > 1:  # lanes [0, w/2) with lanes [w/2, w)
        w //= 2
        halves = [builder.shuffle_vector(s, s, ir.Constant(ir.VectorType(ir.IntType(32), w), list(lanes)))
                  for lanes in (range(w), range(w, 2 * w))]
        s = combine(builder, *halves)
    return builder.extract_element(s, ir.IntType(32)(0))


def _lane_sum(op):
    """An intrinsic: the float64 sum of op(v[i]) over the whole SUM_LANES-blocks of a 1-D C array."""

    def lane_sum(typingctx, v):
        if not _is_vector(v):
            return None
        dvec = ir.VectorType(ir.DoubleType(), SUM_LANES)

        def term(builder, x):
            if v.dtype == types.float32:
                x = builder.fpext(x, dvec)
            if op == "abs":
                fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dvec, [dvec]),
                                                      f"llvm.fabs.v{SUM_LANES}f64")
                return builder.call(fabs, [x])
            return builder.fmul(x, x) if op == "square" else x

        def codegen(context, builder, sig, args):
            return _lane_reduce(context, builder, [v], args, ir.DoubleType(), term)

        return types.float64(v), codegen

    lane_sum.__name__ = f"_lane_sum_{op}"
    return intrinsic(lane_sum)


_lane_sum_plain, _lane_sum_abs, _lane_sum_square = (_lane_sum(op) for op in ("plain", "abs", "square"))


@intrinsic
def _lane_dot(typingctx, a, b):
    """sum a[i] b[i] over the whole SUM_LANES-blocks of a, in the arrays' dtype (a multiply,
    then an add: no FMA, so the result does not depend on the ISA either)."""
    if not (_is_vector(a) and _is_vector(b) and a.dtype == b.dtype):
        return None

    def codegen(context, builder, sig, args):
        return _lane_reduce(context, builder, [a, b], args, context.get_value_type(a.dtype),
                            lambda b, x, y: b.fmul(x, y))

    return a.dtype(a, b), codegen


@intrinsic
def _lane_vsum(typingctx, v):
    """sum of v over the whole SUM_LANES-blocks of v, in v's dtype."""
    if not _is_vector(v):
        return None

    def codegen(context, builder, sig, args):
        return _lane_reduce(context, builder, [v], args, context.get_value_type(v.dtype), lambda b, x: x)

    return v.dtype(v), codegen


@intrinsic
def _lane_max(typingctx, v):
    """max of v over the whole SUM_LANES-blocks of v (-inf if none); a NaN is passed over."""
    if not _is_vector(v):
        return None

    def codegen(context, builder, sig, args):
        return _lane_reduce(context, builder, [v], args, context.get_value_type(v.dtype), lambda b, x: x,
                            combine=_fmax, init=-math.inf)

    return v.dtype(v), codegen


@njit(inline="always", **OPTIONS)
def vsum(v):
    """Sum of a 1-D C array in its dtype: SUM_LANES partial sums in vector registers as
    csrc/reduce.h's fnn_rsum (the softmax row sums), then the tail."""
    # a row shorter than the lanes (10 classes) skips their setup and lane reduction
    s = _lane_vsum(v) if v.size >= SUM_LANES else v.dtype.type(0.0)
    for i in range(v.size - v.size % SUM_LANES, v.size):
        s += v[i]
    return s


@njit(inline="always", **OPTIONS)
def vmax(v):
    """Maximum of a 1-D C array (-inf if empty): SUM_LANES running maxima in vector
    registers (x86 max instructions, as csrc/reduce.h's fnn_rmax), then the tail. A NaN
    is passed over, as there; it still makes its softmax row NaN through exp."""
    m = _lane_max(v) if v.size >= SUM_LANES else v.dtype.type(-math.inf)  # as in vsum
    for i in range(v.size - v.size % SUM_LANES, v.size):
        m = select(v[i] > m, v[i], m)
    return m


@njit(inline="always", **OPTIONS)
def vdot(a, b):
    """a . b of two 1-D C arrays of one length in their dtype: SUM_LANES partial
    sums in vector registers as csrc/reduce.h's fnn_rdot, then the tail."""
    s = _lane_dot(a, b)
    for i in range(a.size - a.size % SUM_LANES, a.size):
        s += a[i] * b[i]
    return s


@njit(inline="always", **OPTIONS)
def dsum(v):
    """float64 sum of a 1-D C array (SUM_LANES partial sums in vector registers, then the tail)."""
    s = _lane_sum_plain(v)
    for i in range(v.size - v.size % SUM_LANES, v.size):
        s += np.float64(v[i])
    return s


@njit(inline="always", **OPTIONS)
def dsumabs(v):
    """float64 sum of |v| (as dsum)."""
    s = _lane_sum_abs(v)
    for i in range(v.size - v.size % SUM_LANES, v.size):
        s += abs(np.float64(v[i]))
    return s


@njit(inline="always", **OPTIONS)
def dsumsq(v):
    """float64 sum of v^2, each element squared in float64 (as dsum)."""
    s = _lane_sum_square(v)
    for i in range(v.size - v.size % SUM_LANES, v.size):
        a = np.float64(v[i])
        s += a * a
    return s
