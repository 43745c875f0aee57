// The seven tutorial models against Keras's reference values: summary text
// (tf.keras 2.13), parameter counts, output and weight shapes (layers.json),
// and the plot_model graph (plot_model.dot).
#include <regex>

#include "frontend/zoo.h"
#include "test_util.h"

namespace kiln {
namespace {

using test::golden_json;
using test::golden_path;
using test::read_file;
using test::strip_trailing;

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, SummaryMatchesTfKeras213) {
  Model m = zoo::build(GetParam());
  EXPECT_EQ(strip_trailing(m.summary_string()), strip_trailing(read_file(golden_path(GetParam(), "summary.txt"))));
}

TEST_P(Golden, SummaryIsExactIncludingPadding) {
  // Every table line is padded to the full width, as Keras prints it.
  Model m = zoo::build(GetParam());
  EXPECT_EQ(m.summary_string(), read_file(golden_path(GetParam(), "summary.txt")));
}

Dims json_shape(const nlohmann::json& j) {
  Dims d;
  for (const auto& x : j) d.push_back(x.is_null() ? ir::kBatch : x.get<int64_t>());
  return d;
}

TEST_P(Golden, LayersMatchLayersJson) {
  Model m = zoo::build(GetParam());
  nlohmann::json g = golden_json(GetParam(), "layers.json");
  std::vector<std::shared_ptr<Layer>> layers = m.layers();
  ASSERT_EQ(layers.size(), g["layers"].size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& jl = g["layers"][i];
    SCOPED_TRACE(jl["name"].get<std::string>());
    EXPECT_EQ(layers[i]->name(), jl["python_names"]["tf_keras_2x"].get<std::string>());
    EXPECT_EQ(layers[i]->class_name(), jl["class"].get<std::string>());
    EXPECT_EQ(layers[i]->count_params(), jl["params"].get<int64_t>());
    EXPECT_EQ(layers[i]->output_shape_string(), jl["output_shape_python_tf_keras"].get<std::string>());
    ASSERT_EQ(layers[i]->weights().size(), jl["weights"].size());
    for (size_t w = 0; w < jl["weights"].size(); ++w)
      EXPECT_EQ(layers[i]->weights()[w].value.shape(), json_shape(jl["weights"][w]["shape"]));
    if (jl.contains("wraps")) {
      ASSERT_NE(layers[i]->wrapped(), nullptr);
      EXPECT_EQ(layers[i]->wrapped()->name(), jl["wraps"]["python_names"]["tf_keras_2x"].get<std::string>());
    }
  }
  EXPECT_EQ(m.count_params(), g["total_params"].get<int64_t>());
  // get_weights() order and shapes.
  std::vector<Tensor> w = m.get_weights();
  ASSERT_EQ(w.size(), g["weights_in_keras_order"].size());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i].shape(), json_shape(g["weights_in_keras_order"][i]["shape"]));
  // Inputs and outputs.
  ASSERT_EQ(m.inputs().size(), g["inputs"].size());
  for (size_t i = 0; i < m.inputs().size(); ++i) EXPECT_EQ(m.inputs()[i].shape(), json_shape(g["inputs"][i]["shape"]));
  ASSERT_EQ(m.outputs().size(), g["outputs"].size());
  for (size_t i = 0; i < m.outputs().size(); ++i)
    EXPECT_EQ(m.outputs()[i].shape(), json_shape(g["outputs"][i]["shape"]));
}

TEST_P(Golden, ForwardIrShapes) {
  Model m = zoo::build(GetParam());
  std::unique_ptr<ir::Graph> g = m.forward_ir();
  EXPECT_EQ(g->name, "model.forward");
  ASSERT_EQ(g->params().size(), m.inputs().size() + m.get_weights().size());
  for (size_t i = 0; i < m.inputs().size(); ++i) {
    EXPECT_EQ(g->params()[i]->name, m.inputs()[i].layer().name());
    EXPECT_EQ(g->params()[i]->type, ir::f32(m.inputs()[i].shape()));
  }
  size_t k = m.inputs().size();
  for (const auto& l : m.layers())
    for (const Weight& w : l->weights()) {
      EXPECT_EQ(g->params()[k]->name, l->name() + "." + w.name);
      EXPECT_EQ(g->params()[k]->type, ir::f32(w.value.shape()));
      ++k;
    }
  ASSERT_EQ(g->results().size(), m.outputs().size());
  for (size_t i = 0; i < m.outputs().size(); ++i) EXPECT_EQ(g->results()[i]->type, ir::f32(m.outputs()[i].shape()));
}

// Keras 2.2.4's plot_model.dot uses standalone-Keras names (dense_1, ...); map ours to them.
std::map<std::string, std::string> to_keras2_names(const nlohmann::json& g) {
  std::map<std::string, std::string> m;
  for (const auto& e : g["naming_construction_order"])
    m[e["tf_keras_2x"].get<std::string>()] = e["keras2_standalone"].get<std::string>();
  return m;
}

TEST_P(Golden, PlotDotMatchesKeras) {
  Model m = zoo::build(GetParam());
  auto names = to_keras2_names(golden_json(GetParam(), "layers.json"));
  std::string dot = model_to_dot(m, {.show_shapes = true});
  // Rename label heads "name: Class" and "wrapper(inner): Wrapper(Inner)".
  static const std::regex head(R"re(label="([A-Za-z0-9_]+)(\(([A-Za-z0-9_]+)\))?: )re");
  std::string renamed;
  std::sregex_iterator it(dot.begin(), dot.end(), head), end;
  size_t last = 0;
  for (; it != end; ++it) {
    const std::smatch& mt = *it;
    renamed += dot.substr(last, static_cast<size_t>(mt.position(0)) - last);
    renamed += "label=\"" + names.at(mt[1].str());
    if (mt[3].matched) renamed += "(" + names.at(mt[3].str()) + ")";
    renamed += ": ";
    last = static_cast<size_t>(mt.position(0) + mt.length(0));
  }
  renamed += dot.substr(last);
  EXPECT_EQ(renamed, read_file(golden_path(GetParam(), "plot_model.dot")));
}

INSTANTIATE_TEST_SUITE_P(Tutorial, Golden,
                         ::testing::Values("mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input",
                                           "multi_output"));

TEST(Zoo, NamesAndUnknown) {
  EXPECT_EQ(zoo::names().size(), 7u);
  std::string msg = test::error_of([] { zoo::build("resnet"); });
  EXPECT_NE(msg.find("resnet"), std::string::npos);
  EXPECT_NE(msg.find("shared_feature"), std::string::npos);
}

}  // namespace
}  // namespace kiln
