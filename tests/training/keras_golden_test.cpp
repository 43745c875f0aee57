// Kiln = Keras: forward outputs and one SGD(0.1) + binary_crossentropy step of
// the tutorial's MLP and RNN for the fixed weights and inputs in
// tests/data/golden/{mlp,rnn}_io.json (Keras values; see that file's rules).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kiln/kiln.h"
#include "zoo.h"
#include "passes/autodiff.h"
#include "runtime/interpreter.h"

using namespace kiln;
using json = nlohmann::json;

namespace {

json load(const std::string& name) {
  std::ifstream in(std::string(KILN_TEST_DATA) + "/golden/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in);
}

Tensor tensor(const json& j) {
  return Tensor(j["shape"].get<std::vector<int64_t>>(), j["data"].get<std::vector<float>>());
}

void expect_near(const Tensor& got, const json& want, double tol, const std::string& what) {
  std::vector<float> w = want["data"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), static_cast<int64_t>(w.size())) << what;
  for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(got.data()[i], w[i], tol) << what << " element " << i;
}

class KerasGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(KerasGolden, ForwardAndOneSgdStep) {
  const std::string name = GetParam();
  json io = load(name + "_io.json");
  Model model = zoo::build(name);
  std::vector<Tensor> weights;
  for (const json& w : io["weights"]) weights.push_back(tensor(w));
  model.set_weights(weights);
  Tensor x = tensor(io["inputs"][0]);

  Tensor p = model.predict(x);
  expect_near(p, io["outputs"][0], 1e-5, "forward output");

  const json& tr = io["training"];
  Tensor y = tensor(tr["y"]);
  model.compile({.optimizer = SGD(0.1), .loss = "binary_crossentropy"});
  Logs before = model.test_on_batch(x, y);
  EXPECT_NEAR(before["loss"], tr["loss_before"].get<double>(), 1e-5);

  // Gradients: autodiff of the evaluation graph, run on the interpreter.
  const StepGraphs& sg = model.step_graphs(y);
  std::vector<int> wrt;
  for (size_t i = 0; i < weights.size(); ++i) wrt.push_back(static_cast<int>(2 + i));
  auto grad_graph = passes::autodiff(*sg.eval_step, wrt);
  std::vector<Tensor> args{x, y};
  args.insert(args.end(), weights.begin(), weights.end());
  std::vector<Tensor> out = runtime::interpret(*grad_graph, args);
  size_t nlogs = sg.log_names.size();
  for (size_t i = 0; i < weights.size(); ++i)
    expect_near(out[nlogs + i], tr["gradients"][i], 1e-5, "gradient of weight " + std::to_string(i));

  Logs step = model.train_on_batch(x, y);
  EXPECT_NEAR(step["loss"], tr["loss_before"].get<double>(), 1e-5);
  std::vector<Tensor> after = model.get_weights();
  for (size_t i = 0; i < after.size(); ++i) expect_near(after[i], tr["weights_after"][i], 1e-5, "weight after step");
  EXPECT_NEAR(model.test_on_batch(x, y)["loss"], tr["loss_after"].get<double>(), 1e-5);
}

TEST_P(KerasGolden, FitOnOneBatchIsOneStep) {
  const std::string name = GetParam();
  json io = load(name + "_io.json");
  Model model = zoo::build(name);
  std::vector<Tensor> weights;
  for (const json& w : io["weights"]) weights.push_back(tensor(w));
  model.set_weights(weights);
  const json& tr = io["training"];
  model.compile({.optimizer = SGD(0.1), .loss = "binary_crossentropy"});
  History h = model.fit(tensor(io["inputs"][0]), tensor(tr["y"]), {.epochs = 1, .batch_size = 4, .shuffle = false, .verbose = 0});
  EXPECT_NEAR(h["loss"][0], tr["loss_before"].get<double>(), 1e-5);
  std::vector<Tensor> after = model.get_weights();
  for (size_t i = 0; i < after.size(); ++i) expect_near(after[i], tr["weights_after"][i], 1e-5, "weight after fit");
}

INSTANTIATE_TEST_SUITE_P(Tutorial, KerasGolden, ::testing::Values("mlp", "rnn"));

}  // namespace
