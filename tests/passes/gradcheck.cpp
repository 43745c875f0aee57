// Gradient checking against central finite differences (see gradcheck.h).
#include "gradcheck.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "runtime/interpreter.h"

namespace kiln::testing {

using namespace kiln::ir;

namespace {
int64_t numel(const std::vector<int64_t>& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>());
}
}  // namespace

Tensor Rand::uniform(const std::vector<int64_t>& shape, float lo, float hi) {
  std::vector<float> d(static_cast<size_t>(numel(shape)));
  for (float& v : d) v = uniform(lo, hi);
  return Tensor(shape, d);
}

Tensor Rand::away_from_zero(const std::vector<int64_t>& shape, float lo, float hi) {
  std::vector<float> d(static_cast<size_t>(numel(shape)));
  for (float& v : d) v = uniform(lo, hi) * (uniform(0, 1) < 0.5f ? -1.0f : 1.0f);
  return Tensor(shape, d);
}

Tensor Rand::distinct(const std::vector<int64_t>& shape, float step, float offset) {
  size_t n = static_cast<size_t>(numel(shape));
  std::vector<float> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = (static_cast<float>(i) - static_cast<float>(n / 2)) * step + offset;
  std::shuffle(d.begin(), d.end(), gen_);
  return Tensor(shape, d);
}

GradCheckReport check_gradients(const Graph& g, const std::vector<Tensor>& args, const std::vector<int>& wrt,
                                const GradCheckOptions& opt) {
  GradCheckReport rep;
  std::unique_ptr<Graph> dg = passes::autodiff(g, wrt, 0);
  EXPECT_NO_THROW(verify(*dg));
  EXPECT_EQ(dg->results().size(), g.results().size() + wrt.size());
  std::vector<Tensor> out = runtime::interpret(*dg, args);
  auto loss_at = [&](const std::vector<Tensor>& a) {
    return static_cast<double>(runtime::interpret(g, a)[0].data()[0]);
  };
  EXPECT_FLOAT_EQ(out[0].data()[0], static_cast<float>(loss_at(args))) << "forward loss changed";
  for (size_t k = 0; k < wrt.size(); ++k) {
    size_t p = static_cast<size_t>(wrt[k]);
    const Tensor& grad = out[g.results().size() + k];
    const std::string& pname = g.params()[p]->name;
    EXPECT_EQ(grad.shape(), args[p].shape()) << "gradient of %" << pname;
    if (grad.shape() != args[p].shape() || args[p].dtype() != DType::f32) continue;
    for (int64_t e = 0; e < args[p].size(); ++e) {
      std::vector<Tensor> a = args;
      a[p] = args[p].clone();
      float x0 = args[p].data()[e];
      float xp = static_cast<float>(x0 + opt.eps), xm = static_cast<float>(x0 - opt.eps);
      a[p].data()[e] = xp;
      double fp = loss_at(a);
      a[p].data()[e] = xm;
      double fm = loss_at(a);
      double fd = (fp - fm) / (static_cast<double>(xp) - static_cast<double>(xm));
      double ad = grad.data()[e];
      // Plus the f32 loss's own rounding: a few ulps of the loss over the step.
      float f0 = static_cast<float>(std::max(std::abs(fp), std::abs(fm)));
      double ulp = static_cast<double>(std::nextafter(f0, INFINITY) - f0);
      double tol = opt.atol + opt.rtol * std::abs(fd) + opt.ulps * ulp / (static_cast<double>(xp) - xm);
      double ratio = std::abs(ad - fd) / tol;
      ++rep.checked;
      if (ratio > rep.worst) {
        rep.worst = ratio;
        rep.where = "%" + pname + "[" + std::to_string(e) + "]";
      }
      EXPECT_LE(std::abs(ad - fd), tol) << "d loss / d %" << pname << "[" << e << "]: autodiff " << ad
                                        << ", finite difference " << fd;
    }
  }
  return rep;
}

void weighted_sum_loss(Graph& g, Value* y, std::vector<Tensor>& args, Rand& rng) {
  Value* w = g.add_param("loss.weights", y->type);
  Builder b(g);
  Value* loss = b.reduce_all(OpKind::ReduceSum, b.mul(y, w), "loss");
  g.set_results({loss});
  args.push_back(rng.uniform(y->type.concrete(2), -1.0f, 1.0f));
}

int64_t count_nodes(const Graph& g) {
  int64_t n = 0;
  for (const Node* node : g.nodes()) n += 1 + (node->body ? count_nodes(*node->body) : 0);
  return n;
}

}  // namespace kiln::testing
