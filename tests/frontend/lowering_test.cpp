// Lowering to the forward IR: names, structure (one scan per LSTM whatever the
// sequence length), verification, and numbers against Keras through the
// reference interpreter (mlp_io.json, rnn_io.json).
#include "frontend/zoo.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "runtime/interpreter.h"
#include "test_util.h"

namespace kiln {
namespace {

using test::golden_json;

int count_ops(const ir::Graph& g, ir::OpKind op) {
  int n = 0;
  for (const ir::Node* node : g.nodes()) {
    if (node->op == op) ++n;
    if (node->body) n += count_ops(*node->body, op);
  }
  return n;
}

class Lowering : public ::testing::TestWithParam<std::string> {};

TEST_P(Lowering, VerifiesAndPrints) {
  Model m = zoo::build(GetParam());
  std::unique_ptr<ir::Graph> g = m.forward_ir();
  EXPECT_NO_THROW(ir::verify(*g));
  EXPECT_EQ(m.forward_ir_text(), ir::to_string(*g));
}

INSTANTIATE_TEST_SUITE_P(Tutorial, Lowering,
                         ::testing::Values("mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input",
                                           "multi_output"));

TEST(Lowering, NamesCarryLayerNames) {
  Model m = zoo::build("mlp");
  std::string text = m.forward_ir_text();
  for (const char* s : {"func @model.forward(%input_1: f32[N,10], %dense.kernel: f32[10,10], %dense.bias: f32[10]",
                        "%dense.matmul = matmul %input_1, %dense.kernel", "%dense = relu %dense.bias_add",
                        "%dense_3 = sigmoid", "return %dense_3"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
}

TEST(Lowering, LstmIsOneScanWhateverTheLength) {
  size_t size = 0;
  for (int64_t t : {2, 100, 1000}) {
    clear_session();
    auto x = Input({t, 3});
    Model m(x, TimeDistributed(Dense(1))(LSTM(4, {.return_sequences = true})(x)));
    std::unique_ptr<ir::Graph> g = m.forward_ir();
    EXPECT_EQ(count_ops(*g, ir::OpKind::Scan), 1);
    if (size == 0) size = g->nodes().size();
    EXPECT_EQ(g->nodes().size(), size);
    EXPECT_EQ(g->results()[0]->type, ir::f32({ir::kBatch, t, 1}));
  }
}

TEST(Lowering, ActivationsLower) {
  for (const std::string& act : known_activations()) {
    clear_session();
    auto x = Input({3, 4});
    Model m(x, Activation(act)(Dense(4, {.activation = act})(x)));
    std::unique_ptr<ir::Graph> g = m.forward_ir();
    EXPECT_NO_THROW(ir::verify(*g)) << act;
    std::vector<Tensor> out =
        runtime::interpret(*g, {Tensor::full({2, 3, 4}, 0.5f), m.get_weights()[0], m.get_weights()[1]});
    ASSERT_EQ(out[0].shape(), (std::vector<int64_t>{2, 3, 4})) << act;
  }
}

TEST(Lowering, SoftmaxSumsToOne) {
  clear_session();
  auto x = Input({5});
  Model m(x, Activation("softmax")(x));
  std::vector<Tensor> out = runtime::interpret(*m.forward_ir(), {Tensor({2, 5}, {1, 2, 3, 4, 5, -1, 0, 1, 0, -1})});
  const float* p = out[0].data();
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int c = 0; c < 5; ++c) s += p[r * 5 + c];
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  EXPECT_NEAR(p[4], std::exp(5.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0) + std::exp(5.0)),
              1e-6);
}

Tensor from_json(const nlohmann::json& j) {
  std::vector<int64_t> shape = j["shape"].get<std::vector<int64_t>>();
  return Tensor(shape, j["data"].get<std::vector<float>>());
}

// Keras's forward outputs for fixed weights and inputs, through our lowering and the interpreter.
void check_io(const std::string& model) {
  Model m = zoo::build(model);
  nlohmann::json io = golden_json("", model + "_io.json");
  std::vector<Tensor> weights;
  for (const auto& w : io["weights"]) weights.push_back(from_json(w));
  m.set_weights(weights);
  std::vector<Tensor> args;
  for (const auto& x : io["inputs"]) args.push_back(from_json(x));
  for (Tensor& w : m.get_weights()) args.push_back(w);
  std::vector<Tensor> out = runtime::interpret(*m.forward_ir(), args);
  ASSERT_EQ(out.size(), io["outputs"].size());
  for (size_t i = 0; i < out.size(); ++i) {
    Tensor want = from_json(io["outputs"][i]);
    ASSERT_EQ(out[i].shape(), want.shape());
    for (int64_t k = 0; k < want.size(); ++k) EXPECT_NEAR(out[i].data()[k], want.data()[k], 2e-6) << model << " " << k;
  }
}

TEST(Lowering, MlpMatchesKeras) { check_io("mlp"); }
TEST(Lowering, RnnMatchesKeras) { check_io("rnn"); }

}  // namespace
}  // namespace kiln
