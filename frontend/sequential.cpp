// Sequential: a Model over a stack of single-input layers, rebuilt on add().
// As in tf.keras, a first layer that declares its input shape gets an input
// layer named `<layer>_input`, and model.layers leaves the input layer out.
#include "kiln/model.h"
#include "kiln/session.h"
#include "network.h"

namespace kiln {

Sequential::Sequential(const std::vector<LayerRef>& layers, const std::string& name)
    : name_(name.empty() ? detail::unique_object_name("sequential", true) : name) {
  for (const LayerRef& l : layers) add(l);
}

void Sequential::add(const KerasTensor& input) {
  if (input_.defined() || !pending_.empty())
    throw Error("Sequential \"" + name_ + "\": an Input can only be added first.");
  if (!input.defined() || !input.node()->is_input())
    throw Error("Sequential \"" + name_ + "\": add() takes layers, or an Input as the first element.");
  input_ = output_ = input;
  rebuild();
}

void Sequential::add(const LayerRef& layer) {
  if (!layer.ptr()) throw Error("Sequential \"" + name_ + "\": add() of an empty LayerRef");
  if (!input_.defined() && pending_.empty() && layer->declared_input_shape())
    input_ = output_ = Input(*layer->declared_input_shape(), {.name = layer->name() + "_input"});
  if (!input_.defined()) {
    pending_.push_back(layer);
    return;
  }
  KerasTensor out = layer(output_);
  output_ = out;
  rebuild();
}

void Sequential::build(const std::vector<int64_t>& input_shape) {
  if (input_.defined()) throw Error("Sequential \"" + name_ + "\" is already built.");
  if (pending_.empty()) throw Error("Sequential \"" + name_ + "\": build() needs at least one layer.");
  std::vector<LayerRef> layers = std::move(pending_);
  pending_.clear();
  input_ = output_ = Input(input_shape, {.name = layers[0]->name() + "_input"});
  for (const LayerRef& l : layers) output_ = l(output_);
  rebuild();
}

void Sequential::rebuild() {
  net_ = detail::map_graph_network({input_}, {output_}, name_);
  net_->hide_input_layers = true;
  net_->force_sequential_layout = true;
}

}  // namespace kiln
