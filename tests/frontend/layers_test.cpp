// Layer semantics, naming, Model construction and the Keras-quality errors.
#include <cmath>

#include "test_util.h"

namespace kiln {
namespace {

using test::error_of;

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class Frontend : public ::testing::Test {
 protected:
  void SetUp() override { clear_session(); }
};

TEST_F(Frontend, DefaultNamesFollowTfKeras) {
  auto a = Input({10});
  auto b = Input({10});
  EXPECT_EQ(a.layer().name(), "input_1");
  EXPECT_EQ(b.layer().name(), "input_2");
  EXPECT_EQ(Dense(1).name(), "dense");
  EXPECT_EQ(Dense(1).name(), "dense_1");
  EXPECT_EQ(Conv2D(1, {.kernel_size = 1}).name(), "conv2d");
  EXPECT_EQ(MaxPooling2D().name(), "max_pooling2d");
  EXPECT_EQ(LSTM(1).name(), "lstm");
  EXPECT_EQ(TimeDistributed(Dense(1)).name(), "time_distributed");
  EXPECT_EQ(Dense(1, {.name = "output"}).name(), "output");
  EXPECT_EQ(Dense(1).name(), "dense_3");  // the wrapped Dense took dense_2; a named one takes none
  EXPECT_EQ(Model(a, Dense(1)(a)).name(), "model");
  EXPECT_EQ(Model(a, Dense(1)(a)).name(), "model_1");
  clear_session();
  EXPECT_EQ(Dense(1).name(), "dense");
  EXPECT_EQ(Input({1}).layer().name(), "input_1");
}

TEST_F(Frontend, SnakeCase) {
  EXPECT_EQ(detail::to_snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(detail::to_snake_case("Conv2D"), "conv2d");
  EXPECT_EQ(detail::to_snake_case("LSTM"), "lstm");
  EXPECT_EQ(detail::to_snake_case("TimeDistributed"), "time_distributed");
}

TEST_F(Frontend, ShapesFollowKeras) {
  auto x = Input({64, 64, 1});
  EXPECT_EQ(x.shape_string(), "(None, 64, 64, 1)");
  EXPECT_EQ(Conv2D(8, {.kernel_size = {3, 5}})(x).shape_string(), "(None, 62, 60, 8)");
  EXPECT_EQ(Conv2D(8, {.kernel_size = 3, .strides = 2, .padding = "same"})(x).shape_string(), "(None, 32, 32, 8)");
  EXPECT_EQ(Conv2D(8, {.kernel_size = 4, .strides = 3})(x).shape_string(), "(None, 21, 21, 8)");
  EXPECT_EQ(MaxPooling2D({.pool_size = {3, 3}})(x).shape_string(), "(None, 21, 21, 1)");
  EXPECT_EQ(MaxPooling2D({.pool_size = 3, .strides = 1})(x).shape_string(), "(None, 62, 62, 1)");
  EXPECT_EQ(MaxPooling2D({.pool_size = 3, .padding = "same"})(x).shape_string(), "(None, 22, 22, 1)");
  EXPECT_EQ(Flatten()(x).shape_string(), "(None, 4096)");
  EXPECT_EQ(Dense(7)(x).shape_string(), "(None, 64, 64, 7)");
  auto s = Input({5, 3});
  EXPECT_EQ(LSTM(4)(s).shape_string(), "(None, 4)");
  EXPECT_EQ(LSTM(4, {.return_sequences = true})(s).shape_string(), "(None, 5, 4)");
  EXPECT_EQ(TimeDistributed(Dense(2))(s).shape_string(), "(None, 5, 2)");
  EXPECT_EQ(Activation("softmax")(s).shape_string(), "(None, 5, 3)");
  EXPECT_EQ(Concatenate({.axis = 1})({s, s}).shape_string(), "(None, 10, 3)");
  EXPECT_EQ(Input({3}, {.batch_size = 32}).shape_string(), "(32, 3)");
}

TEST_F(Frontend, SharedLayerSharesWeightsAndListsBothConnections) {
  auto a = Input({4});
  auto b = Input({4});
  LayerRef shared = Dense(3);
  auto ya = shared(a);
  auto yb = shared(b);
  EXPECT_EQ(ya.node_index(), 0);
  EXPECT_EQ(yb.node_index(), 1);
  Model m({a, b}, concatenate({ya, yb}));
  EXPECT_EQ(m.count_params(), 15);
  EXPECT_EQ(m.get_weights().size(), 2u);
  std::string s = m.summary_string();
  EXPECT_TRUE(has(s, "['input_1[0][0]',")) << s;
  EXPECT_TRUE(has(s, "'input_2[0][0]']")) << s;
  EXPECT_TRUE(has(s, "['dense[0][0]',")) << s;
  EXPECT_TRUE(has(s, "'dense[1][0]']")) << s;
  // The second call's IR values get their own readable names.
  std::string ir = m.forward_ir_text();
  EXPECT_TRUE(has(ir, "%dense.call1")) << ir;
  EXPECT_TRUE(has(ir, "%dense.matmul")) << ir;
}

TEST_F(Frontend, SharedLayerWithDifferentShapesPrintsMultiple) {
  auto a = Input({8, 4});
  auto b = Input({4});
  LayerRef shared = Dense(3);
  Model m({a, b}, {shared(a), shared(b)});
  EXPECT_EQ(m.get_layer("dense")->output_shape_string(), "multiple");
  EXPECT_TRUE(has(m.summary_string(), " dense (Dense)               multiple")) << m.summary_string();
}

TEST_F(Frontend, SequentialModel) {
  Sequential seq({Dense(2, {.input_dim = 1}), Dense(1)});
  seq.add(Dense(3));
  EXPECT_EQ(seq.name(), "sequential");
  ASSERT_EQ(seq.layers().size(), 3u);
  EXPECT_EQ(seq.inputs()[0].layer().name(), "dense_input");
  EXPECT_EQ(seq.count_params(), 4 + 3 + 6);
  EXPECT_EQ(seq.outputs()[0].shape_string(), "(None, 3)");
  std::string s = seq.summary_string();
  EXPECT_TRUE(has(s, "Model: \"sequential\""));
  EXPECT_FALSE(has(s, "InputLayer"));
  EXPECT_FALSE(has(s, "Connected to"));
  Model& as_model = seq;
  EXPECT_EQ(as_model.forward_ir()->params().size(), 7u);

  Sequential late;
  late.add(Dense(4));
  EXPECT_TRUE(has(error_of([&] { late.summary_string(); }), "not yet been built"));
  late.build({6});
  EXPECT_EQ(late.count_params(), 28);
  Sequential with_input;
  with_input.add(Input({5}));
  with_input.add(Dense(2));
  EXPECT_EQ(with_input.count_params(), 12);
}

// --- initializers and weights ---

TEST_F(Frontend, InitializersFollowKerasDefaults) {
  auto x = Input({100, 6});
  LayerRef lstm = LSTM(8);
  lstm(x);
  const auto& w = lstm->weights();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].name, "kernel");
  EXPECT_EQ(w[1].name, "recurrent_kernel");
  EXPECT_EQ(w[2].name, "bias");
  // glorot_uniform: |w| <= sqrt(6 / (6 + 32)).
  double limit = std::sqrt(6.0 / 38.0);
  for (float v : w[0].value.to_vector()) EXPECT_LE(std::fabs(v), limit);
  // orthogonal (8, 32): rows are orthonormal.
  const float* u = w[1].value.data();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      double dot = 0;
      for (int k = 0; k < 32; ++k) dot += double(u[i * 32 + k]) * u[j * 32 + k];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5);
    }
  // bias: zeros, forget gate [u, 2u) ones.
  std::vector<float> b = w[2].value.to_vector();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(b[i], i >= 8 && i < 16 ? 1.0f : 0.0f);

  LayerRef conv = Conv2D(16, {.kernel_size = 3});
  conv(Input({9, 9, 4}));
  double climit = std::sqrt(6.0 / (4 * 9 + 16 * 9));
  float mx = 0;
  for (float v : conv->weights()[0].value.to_vector()) mx = std::max(mx, std::fabs(v));
  EXPECT_LE(mx, climit);
  EXPECT_GT(mx, 0.9 * climit);
}

TEST_F(Frontend, SeededWeightsAreDeterministic) {
  auto build = [] {
    clear_session();
    auto x = Input({5, 2});
    return Model(x, Dense(1)(LSTM(3)(x))).get_weights();
  };
  set_seed(42);
  std::vector<Tensor> a = build();
  std::vector<Tensor> b = build();
  set_seed(7);
  std::vector<Tensor> c = build();
  ASSERT_EQ(a.size(), b.size());
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_vector(), b[i].to_vector());
    if (a[i].to_vector() != c[i].to_vector()) differs = true;
  }
  EXPECT_TRUE(differs);
  set_seed(1337);
}

TEST_F(Frontend, GetSetWeightsRoundTrip) {
  auto x = Input({3});
  Model m(x, Dense(2)(Dense(4)(x)));
  std::vector<Tensor> w = m.get_weights();
  for (Tensor& t : w)
    for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<float>(i) * 0.5f;
  m.set_weights(w);
  std::vector<Tensor> back = m.get_weights();
  ASSERT_EQ(back.size(), 4u);
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(back[i].to_vector(), w[i].to_vector());
  // get_weights returns copies.
  back[0].data()[0] = 99;
  EXPECT_EQ(m.get_weights()[0].data()[0], 0.0f);

  std::vector<Tensor> bad = w;
  bad[2] = Tensor::zeros({4, 3});
  std::string msg = error_of([&] { m.set_weights(bad); });
  EXPECT_TRUE(has(msg, "weight shape (4, 2) is not compatible with provided weight shape (4, 3)")) << msg;
  EXPECT_TRUE(has(msg, "Layer dense weight")) << msg;  // Dense(2) was constructed first: it is "dense"
  EXPECT_EQ(m.get_weights()[0].data()[1], 0.5f);       // untouched
  msg = error_of([&] { m.set_weights({w[0]}); });
  EXPECT_TRUE(has(msg, "length 1")) << msg;
  EXPECT_TRUE(has(msg, "expecting 4")) << msg;
}

// --- errors ---

TEST_F(Frontend, IncompatibleInputShapeAtCall) {
  auto x = Input({10});
  LayerRef d = Dense(5);
  LayerRef d1 = Dense(3);
  d1(d(x));
  std::string msg = error_of([&] { d1(Input({20})); });
  EXPECT_EQ(msg, "Input 0 of layer \"dense_1\" is incompatible with the layer: expected axis -1 of input shape to have "
                 "value 5, but received input with shape (None, 20)");
  msg = error_of([&] { LSTM(4)(x); });
  EXPECT_EQ(msg, "Input 0 of layer \"lstm\" is incompatible with the layer: expected ndim=3, found ndim=2. Full shape "
                 "received: (None, 10)");
  msg = error_of([&] { Conv2D(4, {.kernel_size = 2})(Input({8, 8})); });
  EXPECT_TRUE(has(msg, "Input 0 of layer \"conv2d\" is incompatible with the layer: expected min_ndim=4, found "
                       "ndim=3. Full shape received: (None, 8, 8)"))
      << msg;
  msg = error_of([&] { TimeDistributed(Dense(1))(x); });
  EXPECT_TRUE(has(msg, "at least 3 dimensions, received: (None, 10)")) << msg;
}

TEST_F(Frontend, ConcatenateMismatchedShapes) {
  auto a = Input({4, 3});
  auto b = Input({5, 2});
  std::string msg = error_of([&] { concatenate({a, b}); });
  EXPECT_TRUE(has(msg, "A `Concatenate` layer requires inputs with matching shapes except for the concatenation "
                       "axis."))
      << msg;
  EXPECT_TRUE(has(msg, "input_shape=[(None, 4, 3), (None, 5, 2)]")) << msg;
  EXPECT_TRUE(has(msg, "\"concatenate\"")) << msg;
  msg = error_of([&] { concatenate({a, Input({4})}); });
  EXPECT_TRUE(has(msg, "differ in rank")) << msg;
}

TEST_F(Frontend, GraphDisconnected) {
  auto a = Input({4});
  auto b = Input({4});
  auto out = Dense(1)(concatenate({Dense(2)(a), Dense(2)(b)}));
  std::string msg = error_of([&] { Model(a, out); });
  EXPECT_TRUE(has(msg, "Graph disconnected: cannot obtain value for tensor KerasTensor(shape=(None, 4), created by "
                       "layer 'input_2') at layer \"input_2\". The following previous layers were accessed without "
                       "issue: ["))
      << msg;
}

TEST_F(Frontend, UnknownActivation) {
  std::string msg = error_of([] { Dense(3, {.activation = "relux"}); });
  EXPECT_EQ(msg, "Unknown activation function: \"relux\" in layer \"dense\" (Dense). Known activations: linear, relu, "
                 "sigmoid, tanh, softmax, elu, selu, softplus, swish.");
  EXPECT_TRUE(has(error_of([] { Activation("gelu"); }), "\"gelu\""));
  EXPECT_TRUE(has(error_of([] { LSTM(3, {.recurrent_activation = "hard_sigmoid"}); }), "hard_sigmoid"));
}

TEST_F(Frontend, DuplicateLayerName) {
  auto x = Input({4});
  auto y = Dense(3, {.name = "hidden"})(x);
  auto z = Dense(1, {.name = "hidden"})(y);
  std::string msg = error_of([&] { Model(x, z); });
  EXPECT_TRUE(has(msg, "The name \"hidden\" is used 2 times in the model")) << msg;
  EXPECT_TRUE(has(msg, "All layer names should be unique.")) << msg;
}

TEST_F(Frontend, KernelLargerThanInput) {
  auto x = Input({5, 5, 16});
  std::string msg = error_of([&] { Conv2D(16, {.kernel_size = 8})(x); });
  EXPECT_TRUE(has(msg, "Negative dimension size in layer \"conv2d\" (Conv2D)")) << msg;
  EXPECT_TRUE(has(msg, "kernel_size (8, 8)")) << msg;
  EXPECT_TRUE(has(msg, "(5, 5)")) << msg;
  EXPECT_TRUE(has(msg, "(None, 5, 5, 16)")) << msg;
  msg = error_of([&] { MaxPooling2D({.pool_size = 6})(x); });
  EXPECT_TRUE(has(msg, "max_pooling2d")) << msg;
  EXPECT_EQ(Conv2D(16, {.kernel_size = 8, .padding = "same"})(x).shape_string(), "(None, 5, 5, 16)");
}

TEST_F(Frontend, BadOptions) {
  EXPECT_TRUE(has(error_of([] { Conv2D(4, {}); }), "kernel_size"));
  EXPECT_TRUE(has(error_of([] { Conv2D(4, {.kernel_size = 3, .padding = "full"}); }), "padding=\"full\""));
  EXPECT_TRUE(has(error_of([] { Dense(0); }), "units=0"));
  EXPECT_TRUE(has(error_of([] { Input({0, 3}); }), "positive"));
  EXPECT_TRUE(has(error_of([] { TimeDistributed(Conv2D(2, {.kernel_size = 1})); }), "not supported yet"));
  auto x = Input({3});
  Model m(x, Dense(1)(x));
  std::string msg = error_of([&] { m.get_layer("nope"); });
  EXPECT_TRUE(has(msg, "[" + x.layer().name() + ", " + m.layers()[1]->name() + "]")) << msg;
  EXPECT_TRUE(has(error_of([&] { Model(Dense(2)(x), x); }), "must come from `kiln::Input`"));
}

}  // namespace
}  // namespace kiln
