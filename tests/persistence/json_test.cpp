// model.to_json() / model_from_json(): Keras's format, round trips of every
// tutorial model and every layer option (same summary, same forward IR, same
// predictions), shared layers, and JSON written by Keras itself.
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;
using nlohmann::json;

namespace {

// to_json -> model_from_json gives the same summary, IR and (with the same weights) outputs.
// `same_text`: false when a layer was also called outside the model (its node numbers, which
// summary and IR names show, then differ from a fresh model's, in Keras as well).
void expect_round_trip(Model& m, int64_t batch = 2, bool same_text = true) {
  std::string text = m.to_json();
  Model back = model_from_json(text);
  if (same_text) {
    EXPECT_EQ(back.summary_string(), m.summary_string());
    EXPECT_EQ(back.forward_ir_text(), m.forward_ir_text());
  }
  EXPECT_EQ(back.to_json(), text) << "to_json is not a fixpoint";
  randomize(m, 7);
  back.set_weights(m.get_weights());
  std::vector<Tensor> xs = sample_inputs(m, batch, 3);
  std::vector<Tensor> a = run_forward(m, xs), b = run_forward(back, xs);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bits(a[i], b[i])) << "output " << i;
}

// The keys of a JSON object text in their order, each followed by a space.
std::string keys_of(const std::string& config) {
  std::string out;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(config);
  for (const auto& [k, v] : j.items()) out += k + " ";
  return out;
}

class ZooRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooRoundTrip, SameSummaryIrAndPredictions) {
  Model m = zoo::build(GetParam());
  expect_round_trip(m);
}

INSTANTIATE_TEST_SUITE_P(Tutorial, ZooRoundTrip, ::testing::ValuesIn(zoo::names()));

TEST(ToJson, HasKerasFunctionalStructure) {
  Model m = zoo::build("mlp");
  json j = json::parse(m.to_json());
  EXPECT_EQ(j["class_name"], "Functional");
  EXPECT_EQ(j["keras_version"], "2.13.1");
  EXPECT_EQ(j["backend"], "tensorflow");
  const json& c = j["config"];
  EXPECT_EQ(c["name"], "model");
  EXPECT_EQ(c["input_layers"], json::parse(R"([["input_1", 0, 0]])"));
  EXPECT_EQ(c["output_layers"], json::parse(R"([["dense_3", 0, 0]])"));
  ASSERT_EQ(c["layers"].size(), 5u);
  const json& in = c["layers"][0];
  EXPECT_EQ(in["class_name"], "InputLayer");
  EXPECT_EQ(in["config"]["batch_input_shape"], json::parse("[null, 10]"));
  EXPECT_EQ(in["inbound_nodes"], json::array());
  const json& d = c["layers"][1];
  EXPECT_EQ(d["class_name"], "Dense");
  EXPECT_EQ(d["name"], "dense");
  EXPECT_EQ(d["config"]["units"], 10);
  EXPECT_EQ(d["config"]["activation"], "relu");
  EXPECT_EQ(d["config"]["use_bias"], true);
  EXPECT_EQ(d["config"]["kernel_initializer"]["class_name"], "GlorotUniform");
  EXPECT_EQ(d["inbound_nodes"], json::parse(R"([[["input_1", 0, 0, {}]]])"));
  // Python's json.dumps spacing, like Keras's own output.
  EXPECT_NE(m.to_json().find(R"({"class_name": "Functional", "config": {"name": "model")"), std::string::npos);
}

TEST(ToJson, LayerConfigsMatchKerasFieldNames) {
  json j = json::parse(zoo::build("multi_output").to_json());
  std::map<std::string, json> by_class;
  for (const json& l : j["config"]["layers"]) by_class[l["class_name"]] = l["config"];
  EXPECT_EQ(by_class["LSTM"]["units"], 10);
  EXPECT_EQ(by_class["LSTM"]["activation"], "tanh");
  EXPECT_EQ(by_class["LSTM"]["recurrent_activation"], "sigmoid");
  EXPECT_EQ(by_class["LSTM"]["recurrent_initializer"]["class_name"], "Orthogonal");
  EXPECT_EQ(by_class["TimeDistributed"]["layer"]["class_name"], "Dense");
  EXPECT_EQ(by_class["TimeDistributed"]["layer"]["config"]["units"], 1);
  EXPECT_EQ(by_class["TimeDistributed"]["layer"]["config"]["activation"], "linear");

  json cnn = json::parse(zoo::build("cnn").to_json());
  const json& conv = cnn["config"]["layers"][1]["config"];
  EXPECT_EQ(conv["filters"], 32);
  EXPECT_EQ(conv["kernel_size"], json::parse("[4, 4]"));
  EXPECT_EQ(conv["strides"], json::parse("[1, 1]"));
  EXPECT_EQ(conv["padding"], "valid");
  EXPECT_EQ(conv["data_format"], "channels_last");
  const json& pool = cnn["config"]["layers"][2]["config"];
  EXPECT_EQ(pool["pool_size"], json::parse("[2, 2]"));
  EXPECT_EQ(pool["strides"], json::parse("[2, 2]"));
}

// Every layer option reaches the JSON (from Layer::get_config) and comes back.
TEST(ToJson, WritesEveryLayerOption) {
  clear_session();
  auto img = Input({9, 11, 3}, {.name = "img"});
  auto c1 = Conv2D(4, {.kernel_size = {3, 2},
                       .strides = {2, 1},
                       .padding = "same",
                       .activation = "elu",
                       .use_bias = false,
                       .name = "c1"})(img);
  auto p1 = MaxPooling2D({.pool_size = {3, 2}, .strides = KernelSize{1, 2}, .padding = "same"})(c1);
  auto f1 = Flatten()(p1);
  auto seq = Input({6, 5}, {.name = "seq"});
  auto l1 =
      LSTM(3, {.activation = "relu", .recurrent_activation = "tanh", .use_bias = false, .return_sequences = true})(seq);
  auto t1 = TimeDistributed(Activation("softplus"))(l1);
  auto l2 = LSTM(2, {.recurrent_activation = "swish", .unit_forget_bias = false})(t1);
  auto d1 = Dense(5, {.activation = "selu", .use_bias = false})(f1);
  auto d2 = Activation("softmax")(d1);
  auto seq_flat = Flatten()(t1);
  std::vector<KerasTensor> parts{d2, l2};
  auto m1 = Concatenate({.axis = 1})(parts);
  auto out = Dense(1, {.activation = "tanh"})(concatenate({m1, Dense(3)(seq_flat)}));
  Model m({img, seq}, out, "options");
  json j = json::parse(m.to_json());
  std::map<std::string, json> cfg;
  for (const json& l : j["config"]["layers"]) cfg[l["name"]] = l["config"];
  EXPECT_EQ(cfg["c1"]["padding"], "same");
  EXPECT_EQ(cfg["c1"]["strides"], json::parse("[2, 1]"));
  EXPECT_EQ(cfg["c1"]["activation"], "elu");
  EXPECT_EQ(cfg["c1"]["use_bias"], false);
  EXPECT_EQ(cfg["seq"]["batch_input_shape"], json::parse("[null, 6, 5]"));
  EXPECT_EQ(cfg["concatenate"]["axis"], 1) << "as given, as Keras's get_config writes it";
  EXPECT_EQ(cfg["concatenate_1"]["axis"], -1);
  EXPECT_EQ(cfg["lstm"]["activation"], "relu");
  EXPECT_EQ(cfg["lstm"]["recurrent_activation"], "tanh");
  EXPECT_EQ(cfg["lstm"]["return_sequences"], true);
  EXPECT_EQ(cfg["lstm_1"]["recurrent_activation"], "swish");
  EXPECT_EQ(cfg["lstm"]["unit_forget_bias"], true);
  EXPECT_EQ(cfg["lstm_1"]["unit_forget_bias"], false);
  EXPECT_EQ(cfg["max_pooling2d"]["padding"], "same");
  EXPECT_EQ(cfg["max_pooling2d"]["strides"], json::parse("[1, 2]"));
  expect_round_trip(m, 4);

  auto s = Input({6, 5});
  Model axis1(s, Concatenate({.axis = 1})(std::vector<KerasTensor>{s, s}));
  EXPECT_EQ(json::parse(axis1.to_json())["config"]["layers"][1]["config"]["axis"], 1);
  expect_round_trip(axis1);
}

// unit_forget_bias is a real option: false starts the forget gate's bias at 0
// (Keras: 1), and a model read back from JSON initializes it the same way.
TEST(ToJson, UnitForgetBiasRoundTrips) {
  for (bool ufb : {true, false}) {
    clear_session();
    auto x = Input({4, 3});
    Model m(x, LSTM(2, {.unit_forget_bias = ufb})(x));
    Model back = model_from_json(m.to_json());
    EXPECT_EQ(json::parse(back.get_layer("lstm")->get_config())["unit_forget_bias"], ufb);
    const Tensor& bias = back.get_layer("lstm")->weights().at(2).value;  // gates i, f, c, o
    for (int64_t k = 0; k < 8; ++k) EXPECT_EQ(bias.data()[k], k >= 2 && k < 4 && ufb ? 1.0f : 0.0f) << k;
  }
}

// Key order of each class's config as tf.keras writes it: checked against model.to_json()
// files written by tf.keras 2.10 (Dense, Conv1D's Conv keys, Flatten, LSTM, InputLayer; the
// same get_config code in 2.13); Pooling2D's order (pool_size, padding, strides) is from the
// tf.keras 2.13 source, not from a file.
TEST(ToJson, ConfigKeysInKerasOrder) {
  clear_session();
  auto x = Input({8, 8, 1});
  auto c = Conv2D(2, {.kernel_size = 3})(x);
  auto p = MaxPooling2D()(c);
  auto f = Flatten()(p);
  auto d = Dense(3)(f);
  auto a = Activation("relu")(d);
  auto s = Input({4, 2});
  auto l = LSTM(2)(s);
  auto t = TimeDistributed(Dense(1))(LSTM(2, {.return_sequences = true})(s));
  Model m({x, s}, {Concatenate()(std::vector<KerasTensor>{a, l}), t});
  auto keys = [&](const std::string& layer) { return keys_of(m.get_layer(layer)->get_config()); };
  const std::string regs = "kernel_regularizer bias_regularizer activity_regularizer kernel_constraint bias_constraint ";
  EXPECT_EQ(keys("input_1"), "batch_input_shape dtype sparse ragged name ");
  EXPECT_EQ(keys("dense"), "name trainable dtype units activation use_bias kernel_initializer bias_initializer " + regs);
  EXPECT_EQ(keys("conv2d"),
            "name trainable dtype filters kernel_size strides padding data_format dilation_rate groups activation "
            "use_bias kernel_initializer bias_initializer " + regs);
  EXPECT_EQ(keys("max_pooling2d"), "name trainable dtype pool_size padding strides data_format ");
  EXPECT_EQ(keys("flatten"), "name trainable dtype data_format ");
  EXPECT_EQ(keys("activation"), "name trainable dtype activation ");
  EXPECT_EQ(keys("concatenate"), "name trainable dtype axis ");
  EXPECT_EQ(keys("lstm"),
            "name trainable dtype return_sequences return_state go_backwards stateful unroll time_major units "
            "activation recurrent_activation use_bias kernel_initializer recurrent_initializer bias_initializer "
            "unit_forget_bias kernel_regularizer recurrent_regularizer bias_regularizer activity_regularizer "
            "kernel_constraint recurrent_constraint bias_constraint dropout recurrent_dropout implementation ");
  EXPECT_EQ(keys("time_distributed"), "name trainable dtype layer ");
  // A declared input goes between trainable and dtype, as Keras writes it.
  clear_session();
  LayerRef first = Dense(2, {.input_dim = 3});
  Sequential seq({first});
  EXPECT_EQ(keys_of(first->get_config()).substr(0, 45), "name trainable batch_input_shape dtype units ");
}

TEST(ToJson, StaticBatchSizeRoundTrip) {
  clear_session();
  auto x = Input({3}, {.batch_size = 4});
  Model m(x, Dense(2)(x));
  EXPECT_EQ(json::parse(m.to_json())["config"]["layers"][0]["config"]["batch_input_shape"], json::parse("[4, 3]"));
  expect_round_trip(m, 4);
}

TEST(ToJson, SharedLayerRoundTrip) {
  clear_session();
  auto shared = Dense(4, {.activation = "relu", .name = "shared"});
  auto other = Input({3}, {.name = "other"});
  shared(other);  // node 0 of "shared" belongs to no model below
  auto a = Input({3}, {.name = "a"});
  auto b = Input({3}, {.name = "b"});
  auto square = Dense(4, {.name = "square"});
  auto ya = square(shared(a));
  auto yb = square(square(shared(b)));
  Model m({a, b}, concatenate({ya, yb}, {.name = "join"}), "shared_model");
  json j = json::parse(m.to_json());
  std::map<std::string, json> nodes;
  for (const json& l : j["config"]["layers"]) nodes[l["name"]] = l["inbound_nodes"];
  EXPECT_EQ(nodes["shared"], json::parse(R"([[["a", 0, 0, {}]], [["b", 0, 0, {}]]])"));
  EXPECT_EQ(nodes["square"],
            json::parse(R"([[["shared", 0, 0, {}]], [["shared", 1, 0, {}]], [["square", 1, 0, {}]]])"));
  EXPECT_EQ(nodes["join"], json::parse(R"([[["square", 0, 0, {}], ["square", 2, 0, {}]]])"));
  Model back = model_from_json(m.to_json());
  EXPECT_EQ(back.count_params(), m.count_params());
  EXPECT_EQ(back.get_layer("square")->num_nodes(), 3);
  EXPECT_EQ(back.get_layer("shared")->num_nodes(), 2);
  expect_round_trip(m, 2, false);
  expect_round_trip(back);
}

TEST(ToJson, SequentialRoundTrip) {
  clear_session();
  Sequential s({Dense(8, {.activation = "relu", .input_dim = 5}), Dense(3, {.activation = "softmax"})});
  json j = json::parse(s.to_json());
  EXPECT_EQ(j["class_name"], "Sequential");
  const json& layers = j["config"]["layers"];
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0]["class_name"], "InputLayer");
  EXPECT_EQ(layers[0]["config"]["name"], "dense_input");
  EXPECT_EQ(layers[1]["config"]["batch_input_shape"], json::parse("[null, 5]"));
  EXPECT_FALSE(layers[1].contains("inbound_nodes"));
  expect_round_trip(s);

  // Without an InputLayer entry, the first layer's batch_input_shape declares the input.
  json no_input = j;
  no_input["config"]["layers"].erase(0);
  Model back = model_from_json(no_input.dump());
  EXPECT_EQ(back.summary_string(), s.summary_string());
}

TEST(FromJson, KerasWrittenMlpMatchesTheGoldenSummary) {
  std::string golden = read_bytes(std::string(KILN_TEST_DATA) + "/golden/mlp/summary.txt");
  Model m = model_from_json(read_bytes(data_path("keras_2_13_mlp.json")));
  EXPECT_EQ(m.summary_string(), golden);
  Model z = zoo::build("mlp");
  EXPECT_EQ(m.forward_ir_text(), z.forward_ir_text());
}

TEST(FromJson, Keras3FormatLoads) {
  Model m = model_from_json(read_bytes(data_path("keras_3_mlp.json")));
  EXPECT_EQ(m.name(), "functional");
  EXPECT_EQ(m.count_params(), 551);
  EXPECT_EQ(m.layers().size(), 5u);
  EXPECT_EQ(m.get_layer("dense_3")->output_shape_string(), "(None, 1)");
}

TEST(FromJson, UsesNoNameCounters) {
  clear_session();
  std::string text = zoo::build("mlp").to_json();
  clear_session();
  Model back = model_from_json(text);
  EXPECT_EQ(Dense(1).name(), "dense") << "model_from_json consumed a default name";
}

}  // namespace
