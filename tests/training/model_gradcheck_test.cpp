// End-to-end gradient check of every tutorial model: the gradients of the
// evaluation step's loss (autodiff, on the interpreter) against central finite
// differences, on a sample of elements of every weight (all of them would take
// minutes for the conv models' Dense layers).
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/kiln.h"
#include "passes/autodiff.h"
#include "runtime/interpreter.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

class ModelGradients : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelGradients, MatchFiniteDifferences) {
  const std::string name = GetParam();
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 4, 5);
  model.compile(task.compile);
  std::vector<Tensor> x = task.x.resolve([&] {
    std::vector<std::string> ns;
    for (const KerasTensor& t : model.inputs()) ns.push_back(t.layer().name());
    return ns;
  }(), "input", name);
  std::vector<std::string> out_names;
  for (const KerasTensor& t : model.outputs()) out_names.push_back(t.layer().name());
  std::vector<Tensor> y = task.y.resolve(out_names, "target", name);
  const ir::Graph& eval = *model.step_graphs(y).eval_step;

  std::vector<Tensor> weights = model.get_weights();
  std::vector<int> wrt;
  for (size_t i = 0; i < weights.size(); ++i) wrt.push_back(static_cast<int>(x.size() + y.size() + i));
  auto grad_graph = passes::autodiff(eval, wrt);
  std::vector<Tensor> args = x;
  args.insert(args.end(), y.begin(), y.end());
  for (const Tensor& w : weights) args.push_back(w.clone());
  std::vector<Tensor> out = runtime::interpret(*grad_graph, args);
  size_t nlogs = eval.results().size();

  auto loss_at = [&](size_t arg, int64_t k, float v) {
    float old = args[arg].data()[k];
    args[arg].data()[k] = v;
    double l = runtime::interpret(eval, args)[0].data()[0];
    args[arg].data()[k] = old;
    return l;
  };
  double dot = 0, nad = 0, nfd = 0, scale = 0;
  std::vector<std::pair<double, double>> pairs;
  for (size_t i = 0; i < weights.size(); ++i) {
    size_t arg = x.size() + y.size() + i;
    int64_t n = weights[i].size();
    for (int s = 0; s < 5; ++s) {
      int64_t k = (n * s) / 5 + (s * 7919) % std::max<int64_t>(1, n / 5);
      k = std::min(k, n - 1);
      float w = args[arg].data()[k];
      float h = 1e-3f * std::max(1.0f, std::abs(w));
      float wp = w + h, wm = w - h;
      double fd = (loss_at(arg, k, wp) - loss_at(arg, k, wm)) / (static_cast<double>(wp) - wm);
      double ad = out[nlogs + i].data()[k];
      pairs.emplace_back(ad, fd);
      dot += ad * fd;
      nad += ad * ad;
      nfd += fd * fd;
      scale = std::max(scale, std::abs(fd));
    }
  }
  // An element agrees when |ad - fd| is within the finite difference's own
  // noise (the f32 loss's rounding over 2h, ~3e-5) plus 5 %. A ReLU or max-pool
  // kink inside [w - h, w + h] legitimately breaks the finite difference; a
  // conv kernel element moves thousands of pooled activations at once, so a
  // few of them always cross one. Hence: 80 % must agree, and the sampled
  // vectors must be parallel (cosine > 0.99). Each op's rule is checked
  // exactly, away from kinks, in tests/passes.
  int agree = 0;
  std::string misses;
  for (size_t i = 0; i < pairs.size(); ++i) {
    auto [ad, fd] = pairs[i];
    bool ok = std::abs(ad - fd) <= 1e-3 * scale + 0.05 * std::abs(fd) + 5e-5;
    agree += ok;
    if (!ok) misses += " [weight " + std::to_string(i / 5) + ": ad " + std::to_string(ad) + " fd " + std::to_string(fd) + "]";
  }
  double cosine = dot / std::sqrt(nad * nfd + 1e-300);
  EXPECT_GT(cosine, 0.99) << name << ": autodiff and finite differences point different ways";
  EXPECT_GE(agree, static_cast<int>(0.8 * static_cast<double>(pairs.size())))
      << name << ": only " << agree << " of " << pairs.size() << " sampled elements agree:" << misses;
  EXPECT_GT(scale, 0.0) << name << ": all sampled gradients are zero";
}

INSTANTIATE_TEST_SUITE_P(Tutorial, ModelGradients,
                         ::testing::Values("mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input",
                                           "multi_output"));

}  // namespace
