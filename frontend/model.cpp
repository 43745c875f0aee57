// Model: construction (via map_graph_network), weights, and lowering to the
// forward IR graph.
#include "kiln/model.h"

#include <map>

#include "ir/printer.h"
#include "kiln/session.h"
#include "layer_util.h"
#include "network.h"

namespace kiln {

Model::Model(const TensorList& inputs, const TensorList& outputs, const std::string& name) {
  std::string n = name.empty() ? detail::unique_object_name("model", true) : name;
  if (inputs.get().empty()) throw Error("Model \"" + n + "\" needs at least one input tensor (from kiln::Input).");
  net_ = detail::map_graph_network(inputs.get(), outputs.get(), n);
}

Model::~Model() = default;

const detail::Network& Model::network() const {
  if (!net_)
    throw Error("This model has not yet been built. Give the first layer an input shape (e.g. Dense(2, "
                "{.input_dim = 1})), add(Input(...)) first, or call build(input_shape).");
  return *net_;
}

const std::string& Model::name() const { return network().name; }
const std::vector<KerasTensor>& Model::inputs() const { return network().inputs; }
const std::vector<KerasTensor>& Model::outputs() const { return network().outputs; }
std::vector<std::shared_ptr<Layer>> Model::layers() const { return network().visible_layers(); }

std::shared_ptr<Layer> Model::get_layer(const std::string& name) const {
  std::string all;
  for (const auto& l : layers()) {
    if (l->name() == name) return l;
    all += (all.empty() ? "" : ", ") + l->name();
  }
  throw Error("No such layer: \"" + name + "\" in model \"" + this->name() + "\". Existing layers are: [" + all + "].");
}

std::vector<Tensor> Model::get_weights() const {
  std::vector<Tensor> out;
  for (const auto& l : layers())
    for (Tensor& t : l->get_weights()) out.push_back(std::move(t));
  return out;
}

void Model::set_weights(const std::vector<Tensor>& weights) {
  std::vector<std::shared_ptr<Layer>> ls = layers();
  size_t expected = 0;
  for (const auto& l : ls) expected += l->weights().size();
  if (weights.size() != expected)
    throw Error("You called set_weights(weights) on model \"" + name() + "\" with a weight list of length " +
                std::to_string(weights.size()) + ", but the model was expecting " + std::to_string(expected) +
                " weights (see get_weights()).");
  // Check every shape before changing anything, so a bad list leaves the model untouched.
  size_t k = 0;
  for (const auto& l : ls)
    for (const Weight& w : l->weights()) {
      const Tensor& t = weights[k++];
      if (t.dtype() != DType::f32 || t.shape() != w.value.shape())
        throw Error("Layer " + l->name() + " weight shape " + shape_to_python(w.value.shape()) +
                    " is not compatible with provided weight shape " + shape_to_python(t.shape()) + " (weight \"" +
                    w.name + "\", index " + std::to_string(k - 1) + " of set_weights(weights)).");
    }
  k = 0;
  for (const auto& l : ls) {
    size_t n = l->weights().size();
    l->set_weights(
        std::vector<Tensor>(weights.begin() + static_cast<long>(k), weights.begin() + static_cast<long>(k + n)));
    k += n;
  }
}

int64_t Model::count_params() const {
  int64_t n = 0;
  for (const auto& l : layers()) n += l->count_params();
  return n;
}

std::unique_ptr<ir::Graph> Model::forward_ir() const {
  const detail::Network& net = network();
  auto g = std::make_unique<ir::Graph>(detail::ir_name(net.name) + ".forward");
  std::map<const CallNode*, std::vector<ir::Value*>> values;
  for (const KerasTensor& t : net.inputs)
    values[t.node().get()] = {g->add_param(detail::ir_name(t.layer().name()), ir::f32(t.shape()))};
  std::map<const Layer*, std::vector<ir::Value*>> params;
  for (const auto& l : layers())
    for (const Weight& w : l->weights())
      params[l.get()].push_back(g->add_param(detail::ir_name(l->name() + "." + w.name), ir::f32(w.value.shape())));

  for (const CallNode* node : net.execution_order()) {
    if (node->is_input()) continue;
    std::vector<ir::Value*> ins;
    for (const KerasTensor& t : node->inputs) ins.push_back(values.at(t.node().get()).at(t.tensor_index()));
    std::string prefix = detail::ir_name(node->layer->name());
    if (node->index > 0) prefix += ".call" + std::to_string(node->index);
    LowerContext ctx{*g, prefix, params[node->layer.get()]};
    std::vector<ir::Value*> outs = node->layer->lower(ctx, ins);
    KILN_ASSERT(outs.size() == node->output_shapes.size(),
                "layer " + node->layer->name() + " lowered to " + std::to_string(outs.size()) + " values");
    for (size_t i = 0; i < outs.size(); ++i)
      KILN_ASSERT(outs[i]->type.shape == node->output_shapes[i], "layer " + node->layer->name() + " lowered to " +
                                                                     outs[i]->type.to_string() + " but its shape is " +
                                                                     shape_to_python(node->output_shapes[i]));
    values[node] = outs;
  }
  std::vector<ir::Value*> results;
  for (const KerasTensor& t : net.outputs) results.push_back(values.at(t.node().get()).at(t.tensor_index()));
  g->set_results(results);
  return g;
}

std::string Model::forward_ir_text() const { return ir::to_string(*forward_ir()); }

}  // namespace kiln
