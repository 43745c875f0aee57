// The scalar reference of runtime/math_f32.h. Compiled with -ffp-contract=off
// (runtime/CMakeLists.txt): a contracted a*b+c would round once where the
// JIT's fmul, fadd round twice; the fused steps are the explicit std::fma
// calls, which the JIT emits as llvm.fma.
#include "runtime/math_f32.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace {

using namespace kiln::runtime::mathf;

// A float's bits and back.
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// 2^k for an integral k in [-127, 128], built from its exponent bits
// (-127 gives +0, 128 gives +inf).
float pow2(int32_t k) { return from_bits(static_cast<uint32_t>(k + 127) << 23); }

// v = kf ln2 + r with kf integral and |r| <= ln2/2; q = e^r - 1 (Cephes'
// polynomial in Horner form, one fused multiply-add a step).
struct Reduced {
  float kf, q;
};
Reduced reduce(float v) {
  float kf = std::fma(v, kLog2e, kRound) - kRound;  // round to nearest
  float r = std::fma(kf, -kLn2Lo, std::fma(kf, -kLn2Hi, v));
  float p = kExpPoly[0];
  for (int i = 1; i < 6; ++i) p = std::fma(p, r, kExpPoly[i]);
  return {kf, std::fma(p, r * r, r)};
}

}  // namespace

extern "C" {

float kiln_exp_f32(float x) {
  if (x != x) return x;  // NaN
  float v = x < kExpMin ? kExpMin : x;
  v = v > kExpMax ? kExpMax : v;
  Reduced red = reduce(v);
  float e = red.q + 1.0f;
  int32_t k = static_cast<int32_t>(red.kf), k1 = k >> 1;  // k in [-150, 128]: two factors in range
  return (e * pow2(k1)) * pow2(k - k1);
}

float kiln_log_f32(float x) {
  if (x != x) return x;  // NaN
  if (x < 0.0f) return std::numeric_limits<float>::quiet_NaN();
  if (x == 0.0f) return -std::numeric_limits<float>::infinity();
  if (x == std::numeric_limits<float>::infinity()) return x;
  bool sub = x < kMinNormal;
  uint32_t bits = bits_of(sub ? x * kSubnormalScale : x);
  int32_t e = static_cast<int32_t>(bits >> 23) - 126 - (sub ? kSubnormalShift : 0);
  float m = from_bits((bits & 0x007fffffu) | 0x3f000000u);  // x = 2^e m, m in [0.5, 1)
  float f = m < kSqrtHalf ? (m + m) - 1.0f : m - 1.0f;
  float ef = static_cast<float>(m < kSqrtHalf ? e - 1 : e);
  float z = f * f;
  float p = kLogPoly[0];
  for (int i = 1; i < 9; ++i) p = p * f + kLogPoly[i];
  float y = ((p * f) * z + ef * kLn2Lo) - 0.5f * z;
  return (f + y) + ef * kLn2Hi;
}

float kiln_tanh_f32(float x) {
  if (x != x) return x;  // NaN
  float a = std::fabs(x);
  float u = a + a;
  u = u > kTanhClamp ? kTanhClamp : u;
  Reduced red = reduce(u);
  float s = pow2(static_cast<int32_t>(red.kf));  // 2^k, k in [0, 58]
  float em1 = std::fma(s, red.q, s - 1.0f);       // e^u - 1 = 2^k (e^r - 1) + (2^k - 1)
  return std::copysign(em1 / (em1 + 2.0f), x);     // odd, with tanh(-0) = -0
}

float kiln_sigmoid_f32(float x) {
  if (x != x) return x;  // NaN
  float v = -x;
  v = v < kSigmoidMin ? kSigmoidMin : v;
  v = v > kExpMax ? kExpMax : v;
  Reduced red = reduce(v);
  float e = (red.q + 1.0f) * pow2(static_cast<int32_t>(red.kf));  // e^-x; k in [-127, 128]: 0 below 2^-126, inf above
  return 1.0f / (1.0f + e);
}

}  // extern "C"
