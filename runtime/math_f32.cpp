// The scalar reference of runtime/math_f32.h. Compiled with -ffp-contract=off
// (runtime/CMakeLists.txt): a contracted a*b+c would round once where the
// JIT's fmul, fadd round twice.
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

// 2^k for an integral k in [-126, 127], built from its exponent bits.
float pow2(int32_t k) { return from_bits(static_cast<uint32_t>(k + 127) << 23); }

}  // namespace

extern "C" {

float kiln_exp_f32(float x) {
  if (x != x) return x;  // NaN
  float v = x < kExpMin ? kExpMin : x;
  v = v > kExpMax ? kExpMax : v;
  float kf = (v * kLog2e + kRound) - kRound;  // round to nearest
  float r = (v - kf * kLn2Hi) - kf * kLn2Lo;
  float p = kExpPoly[0];
  for (int i = 1; i < 6; ++i) p = p * r + kExpPoly[i];
  float z = r * r;
  float e = (p * z + r) + 1.0f;
  int32_t k = static_cast<int32_t>(kf), k1 = k >> 1;  // k in [-150, 128]: two factors in range
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
  float a = std::fabs(x);
  float e = kiln_exp_f32(a + a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  float z = a * a;
  float p = kTanhPoly[0];
  for (int i = 1; i < 5; ++i) p = p * z + kTanhPoly[i];
  float small = (p * z) * a + a;
  return std::copysign(a >= kTanhSmall ? big : small, x);  // odd, with tanh(-0) = -0
}

float kiln_sigmoid_f32(float x) { return 1.0f / (1.0f + kiln_exp_f32(-x)); }

}  // extern "C"
