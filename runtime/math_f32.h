// exp, log, tanh and sigmoid in single precision, by one fixed sequence of IEEE
// float operations and fused multiply-adds (no table, no C library call but
// fmaf), so that the JIT can emit the very same sequence as vector code
// (codegen/emit_math.cpp) and agree with the interpreter bit for bit.
//
// exp and log are Cephes' expf and logf (S. Moshier): exp by Cody-Waite range
// reduction x = k ln2 + r, |r| <= ln2/2, and a degree-7 polynomial for e^r
// (Horner, one fma a step), scaled by 2^k as two exact powers of two (so
// results that are subnormal or overflow round once); log by splitting
// x = 2^e m with m in [sqrt(1/2), sqrt(2)), a degree-8 polynomial for
// log(1 + f), f = m - 1, and e ln2 added in two parts (no fma); tanh|x| =
// m / (m + 2) with m = e^2|x| - 1 from exp's reduction (2^k (e^r - 1) +
// (2^k - 1): no cancellation near 0, one division, no second polynomial);
// sigmoid = 1 / (1 + e^-x) with e^-x scaled by one power of two (-x clamped to
// [-88, 89]: e^-x is 0 below 2^-126, where 1 + e^-x is 1 anyway, and inf
// above 2^128, so sigmoid is 0 for x below -88.4 instead of a subnormal).
// Measured against double-precision libm (tests/runtime/math_f32_test.cpp):
// at most 2 ulp apart on the tested range.
// tanh's and sigmoid's divisions stay IEEE divisions. A division-free
// reciprocal (bit-pattern guess, Newton steps as fmas, correctly rounded but
// for all-ones mantissas; tanh's quotient then had the same bits for every
// float) made the LSTM models 13-30% slower on predict and up to 20% on
// train_step (AVX-512, 2026-11-27): vdivps runs beside the kernels' other
// vector work; the Newton steps add about a dozen vector instructions a call
// to the same ports.
// Any change to a constant or to the order of operations must be made in
// both files (tests/codegen compares them on every op).
#pragma once

#include <cstdint>

namespace kiln::runtime::mathf {

// Constants shared with codegen/emit_math.cpp.
inline constexpr float kExpMin = -104.0f;  // below: e^x rounds to 0
inline constexpr float kExpMax = 89.0f;    // above: e^x is +inf
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: (v + kRound) - kRound rounds v to an integer
inline constexpr float kLn2Hi = 0.693359375f;  // 9 bits: k * kLn2Hi is exact
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                      4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
inline constexpr float kSqrtHalf = 0.707106781186547524f;  // log: m below it becomes 2m, e - 1
inline constexpr float kMinNormal = 1.17549435e-38f;        // log: subnormals are scaled by 2^kSubnormalShift
inline constexpr float kSubnormalScale = 8388608.0f;        // 2^23
inline constexpr int32_t kSubnormalShift = 23;
inline constexpr float kLogPoly[9] = {7.0376836292e-2f,  -1.1514610310e-1f, 1.1676998740e-1f,
                                      -1.2420140846e-1f, 1.4249322787e-1f,  -1.6668057665e-1f,
                                      2.0000714765e-1f,  -2.4999993993e-1f, 3.3333331174e-1f};
inline constexpr float kSigmoidMin = -88.0f;  // -x below it: 1 + e^-x rounds to 1 (e^-x below 2^-126 taken as 0)
inline constexpr float kTanhClamp = 40.0f;  // 2|x| above it: tanh rounds to 1 (from 2|x| > 18.4)

}  // namespace kiln::runtime::mathf

extern "C" {
float kiln_exp_f32(float x);
float kiln_log_f32(float x);  // log(-x) and log(NaN) are NaN, log(0) = -inf, log(inf) = inf
float kiln_tanh_f32(float x);
float kiln_sigmoid_f32(float x);  // 1 / (1 + e^-x)
}
