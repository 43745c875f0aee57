// Gradient checking for autodiff tests: gradients from passes::autodiff, run on
// the reference interpreter, against central finite differences.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ir/builder.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln::testing {

// Deterministic random tensors.
class Rand {
 public:
  explicit Rand(uint32_t seed) : gen_(seed) {}
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen_); }
  Tensor uniform(const std::vector<int64_t>& shape, float lo, float hi);
  // |v| in [lo, hi] with a random sign: away from a kink at 0.
  Tensor away_from_zero(const std::vector<int64_t>& shape, float lo = 0.2f, float hi = 1.0f);
  // Distinct values k * step + offset (integer k around 0) in random order: no
  // ties, no two closer than `step`.
  Tensor distinct(const std::vector<int64_t>& shape, float step = 0.05f, float offset = 0.0f);

 private:
  std::mt19937 gen_;
};

// |autodiff - fd| <= atol + rtol * |fd| + ulps * ulp(loss) / (2 eps): the last
// term is the finite difference's own noise from rounding the f32 loss.
struct GradCheckOptions {
  double eps = 1e-3;  // central difference step (in the f32 input)
  double atol = 2e-3;
  double rtol = 1e-2;
  double ulps = 4;
};

// The worst |autodiff - fd| / (atol + rtol |fd|) seen, and where.
struct GradCheckReport {
  double worst = 0;
  std::string where;
  int checked = 0;
};

// g's result 0 must be a rank-0 f32 loss. Runs autodiff(g, wrt), verifies the
// produced graph, runs it on `args` and compares every gradient element with
// (f(x + eps) - f(x - eps)) / ((x + eps) - (x - eps)), the f32 losses and
// perturbed inputs taken in double. Failures are reported through gtest.
GradCheckReport check_gradients(const ir::Graph& g, const std::vector<Tensor>& args, const std::vector<int>& wrt,
                                const GradCheckOptions& opt = {});

// Wraps `y` (an f32 value of g) into loss = reduce_sum(y * w) with a new
// parameter w of y's type, makes the loss g's only result, and appends w's
// random values to `args`.
void weighted_sum_loss(ir::Graph& g, ir::Value* y, std::vector<Tensor>& args, Rand& rng);

// Number of nodes in g, counting the nodes of region bodies recursively.
int64_t count_nodes(const ir::Graph& g);

}  // namespace kiln::testing
