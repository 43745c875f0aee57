// The scalar reference of runtime/math_f32.h. Compiled with -ffp-contract=off
// (runtime/CMakeLists.txt): a contracted a*b+c would round once where the
// JIT's fmul, fadd round twice.
#include "runtime/math_f32.h"

#include <cmath>
#include <cstring>

namespace {

using namespace kiln::runtime::mathf;

// 2^k for an integral k in [-126, 127], built from its exponent bits.
float pow2(int32_t k) {
  uint32_t bits = static_cast<uint32_t>(k + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

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
