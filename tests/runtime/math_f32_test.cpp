// runtime/math_f32.h against double-precision libm: ulp distance over dense
// sweeps, and the special values (NaN, infinities, signed zeros, the
// overflow and underflow ends).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "runtime/math_f32.h"

namespace {

// Distance in units in the last place between two finite floats of any sign.
int64_t ulps(float a, float b) {
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};  // monotonic in f
  };
  return std::llabs(key(a) - key(b));
}

// Max ulp distance of f from the correctly rounded ref over [lo, hi] in `steps` points.
int64_t max_ulps(float (*f)(float), double (*ref)(double), float lo, float hi, int steps) {
  int64_t worst = 0;
  for (int i = 0; i <= steps; ++i) {
    float x = lo + (hi - lo) * static_cast<float>(i) / static_cast<float>(steps);
    float want = static_cast<float>(ref(x));
    if (std::isinf(want) || want == 0.0f || std::fabs(want) < std::numeric_limits<float>::min()) continue;
    int64_t u = ulps(f(x), want);
    EXPECT_LE(u, 2) << "at x = " << x << ": " << f(x) << " vs " << want;
    worst = std::max(worst, u);
  }
  return worst;
}

// Max ulp distance of kiln_log_f32 from log over every stride-th positive
// float (by bit pattern, so every binade is visited, subnormals included).
int64_t max_log_ulps(uint32_t stride) {
  int64_t worst = 0;
  for (uint32_t bits = 1; bits < 0x7f800000u; bits += stride) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    float want = static_cast<float>(std::log(static_cast<double>(x)));
    if (want == 0.0f) continue;
    int64_t u = ulps(kiln_log_f32(x), want);
    EXPECT_LE(u, 2) << "at x = " << x << ": " << kiln_log_f32(x) << " vs " << want;
    worst = std::max(worst, u);
  }
  return worst;
}

double exp_ref(double x) { return std::exp(x); }
double log_ref(double x) { return std::log(x); }
double tanh_ref(double x) { return std::tanh(x); }
double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(MathF32, ExpWithinTwoUlps) {
  EXPECT_LE(max_ulps(kiln_exp_f32, exp_ref, -87.0f, 88.5f, 200000), 2);
  EXPECT_LE(max_ulps(kiln_exp_f32, exp_ref, -1.0f, 1.0f, 100000), 2);
}

TEST(MathF32, LogWithinTwoUlps) {
  EXPECT_LE(max_log_ulps(997), 2);                                 // all binades, subnormals too
  EXPECT_LE(max_ulps(kiln_log_f32, log_ref, 1e-7f, 1.0f, 200000), 2);  // a clipped probability's range
  EXPECT_LE(max_ulps(kiln_log_f32, log_ref, 0.5f, 2.0f, 200000), 2);   // both sides of the sqrt(1/2) switch
}

TEST(MathF32, TanhWithinTwoUlps) {
  EXPECT_LE(max_ulps(kiln_tanh_f32, tanh_ref, -10.0f, 10.0f, 200000), 2);
  EXPECT_LE(max_ulps(kiln_tanh_f32, tanh_ref, -0.7f, 0.7f, 100000), 2);  // around 0, where m = e^2x - 1 comes from the polynomial alone
  EXPECT_LE(max_ulps(kiln_tanh_f32, tanh_ref, -1e-3f, 1e-3f, 10000), 2);
}

TEST(MathF32, SigmoidWithinTwoUlps) {
  EXPECT_LE(max_ulps(kiln_sigmoid_f32, sigmoid_ref, -80.0f, 20.0f, 200000), 2);
  EXPECT_LE(max_ulps(kiln_sigmoid_f32, sigmoid_ref, -87.0f, 100.0f, 200000), 2);  // both clamps, normal results
}

TEST(MathF32, SpecialValues) {
  EXPECT_TRUE(std::isnan(kiln_exp_f32(kNaN)));
  EXPECT_TRUE(std::isnan(kiln_tanh_f32(kNaN)));
  EXPECT_TRUE(std::isnan(kiln_sigmoid_f32(kNaN)));
  EXPECT_TRUE(std::isnan(kiln_log_f32(kNaN)));
  EXPECT_TRUE(std::isnan(kiln_log_f32(-1.0f)));
  EXPECT_TRUE(std::isnan(kiln_log_f32(-kInf)));
  EXPECT_EQ(kiln_log_f32(0.0f), -kInf);
  EXPECT_EQ(kiln_log_f32(-0.0f), -kInf);
  EXPECT_EQ(kiln_log_f32(kInf), kInf);
  EXPECT_EQ(kiln_log_f32(1.0f), 0.0f);
  float tiny = std::numeric_limits<float>::denorm_min();
  EXPECT_LE(ulps(kiln_log_f32(tiny), static_cast<float>(std::log(static_cast<double>(tiny)))), 1);
  EXPECT_EQ(kiln_exp_f32(0.0f), 1.0f);
  EXPECT_EQ(kiln_exp_f32(kInf), kInf);
  EXPECT_EQ(kiln_exp_f32(89.0f), kInf);     // e^89 > FLT_MAX
  EXPECT_EQ(kiln_exp_f32(-kInf), 0.0f);
  EXPECT_EQ(kiln_exp_f32(-104.0f), 0.0f);   // below half the smallest subnormal
  EXPECT_GT(kiln_exp_f32(-100.0f), 0.0f);   // e^-100 is subnormal, not flushed
  EXPECT_LE(ulps(kiln_exp_f32(-100.0f), static_cast<float>(std::exp(-100.0))), 1);
  EXPECT_EQ(kiln_tanh_f32(kInf), 1.0f);
  EXPECT_EQ(kiln_tanh_f32(-kInf), -1.0f);
  EXPECT_EQ(kiln_tanh_f32(50.0f), 1.0f);
  EXPECT_TRUE(std::signbit(kiln_tanh_f32(-0.0f)));
  EXPECT_EQ(kiln_tanh_f32(0.0f), 0.0f);
  EXPECT_EQ(kiln_sigmoid_f32(-200.0f), 0.0f);
  EXPECT_EQ(kiln_sigmoid_f32(-88.5f), 0.0f);  // e^88.5 taken as inf (math_f32.h): 0 for a subnormal
  EXPECT_GT(kiln_sigmoid_f32(-88.0f), 0.0f);  // a subnormal
  EXPECT_EQ(kiln_sigmoid_f32(88.0f), 1.0f);
  EXPECT_EQ(kiln_sigmoid_f32(200.0f), 1.0f);
  EXPECT_EQ(kiln_sigmoid_f32(0.0f), 0.5f);
}

}  // namespace
