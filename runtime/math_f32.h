// exp, tanh and sigmoid in single precision, by one fixed sequence of IEEE
// float operations (no fused multiply-add, no table, no C library call), so
// that the JIT can emit the very same sequence as vector code
// (codegen/emit_math.cpp) and agree with the interpreter bit for bit.
//
// The algorithms are Cephes' expf and tanhf (S. Moshier): exp by Cody-Waite
// range reduction x = k ln2 + r, |r| <= ln2/2, and a degree-7 polynomial for
// e^r, scaled by 2^k as two exact powers of two (so results that are
// subnormal or overflow round once); tanh by an odd polynomial below 0.625
// and 1 - 2 / (e^2|x| + 1) above. Measured against double-precision libm
// (tests/runtime/math_f32_test.cpp): at most 2 ulp apart on the tested range.
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
inline constexpr float kTanhSmall = 0.625f;  // below: the polynomial
inline constexpr float kTanhPoly[5] = {-5.70498872745e-3f, 2.06390887954e-2f, -5.37397155531e-2f,
                                       1.33314422036e-1f, -3.33332819422e-1f};

}  // namespace kiln::runtime::mathf

extern "C" {
float kiln_exp_f32(float x);
float kiln_tanh_f32(float x);
float kiln_sigmoid_f32(float x);  // 1 / (1 + e^-x)
}
