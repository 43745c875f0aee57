// The Layer base class: naming, weights, and the call protocol shared by all
// layers (check inputs, build once, infer shapes, record a call node).
#include "kiln/layer.h"

#include "kiln/session.h"
#include "persistence/layer_config.h"

namespace kiln {

std::string shape_to_python(const Dims& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += ir::is_batch_dim(shape[i]) ? "None" : std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

// --- KerasTensor ---

KerasTensor::KerasTensor(std::shared_ptr<CallNode> node, int tensor_index)
    : node_(std::move(node)), index_(tensor_index) {}

const Dims& KerasTensor::shape() const {
  if (!node_) throw Error("KerasTensor: use of an empty (default-constructed) tensor");
  return node_->output_shapes.at(static_cast<size_t>(index_));
}

std::string KerasTensor::shape_string() const { return shape_to_python(shape()); }

Layer& KerasTensor::layer() const { return *layer_ptr(); }

const std::shared_ptr<Layer>& KerasTensor::layer_ptr() const {
  if (!node_) throw Error("KerasTensor: use of an empty (default-constructed) tensor");
  return node_->layer;
}

int KerasTensor::node_index() const { return node_ ? node_->index : 0; }

// --- Layer ---

Layer::Layer(const std::string& class_name, const std::string& name)
    : name_(name.empty() ? detail::unique_object_name(detail::to_snake_case(class_name), true) : name) {}

Layer::~Layer() = default;

std::string Layer::get_config() const { return persistence::base_config(*this).dump(); }

Weight& Layer::add_weight(const std::string& name, Tensor value) {
  weights_.push_back({name, std::move(value)});
  return weights_.back();
}

std::vector<Tensor> Layer::get_weights() const {
  std::vector<Tensor> out;
  for (const Weight& w : weights()) out.push_back(w.value.clone());
  return out;
}

void Layer::set_weights(const std::vector<Tensor>& values) {
  std::vector<Weight>& ws = mutable_weights();
  if (values.size() != ws.size())
    throw Error("You called set_weights(weights) on layer \"" + name_ + "\" with a weight list of length " +
                std::to_string(values.size()) + ", but the layer was expecting " + std::to_string(ws.size()) +
                " weights.");
  for (size_t i = 0; i < ws.size(); ++i) {
    if (values[i].dtype() != DType::f32 || values[i].shape() != ws[i].value.shape())
      throw Error("Layer " + name_ + " weight shape " + shape_to_python(ws[i].value.shape()) +
                  " is not compatible with provided weight shape " + shape_to_python(values[i].shape()) +
                  (values[i].dtype() != DType::f32
                       ? " (and dtype " + std::string(ir::dtype_name(values[i].dtype())) + ", expected f32)"
                       : std::string()) +
                  " for weight \"" + ws[i].name + "\".");
  }
  for (size_t i = 0; i < ws.size(); ++i) ws[i].value = values[i].clone();
}

int64_t Layer::count_params() const {
  int64_t n = 0;
  for (const Weight& w : weights()) n += w.value.size();
  return n;
}

std::string Layer::output_shape_string() const {
  if (node_output_shapes_.empty()) return "?";
  for (const std::string& s : node_output_shapes_)
    if (s != node_output_shapes_[0]) return "multiple";
  return node_output_shapes_[0];
}

std::string Layer::input_shape_string() const {
  if (node_input_shapes_.empty()) return "?";
  for (const std::string& s : node_input_shapes_)
    if (s != node_input_shapes_[0]) return "multiple";
  return node_input_shapes_[0];
}

void Layer::build_once(const std::vector<Dims>& shapes) {
  if (built_) return;
  build(shapes);
  built_ = true;
}

void Layer::check_inputs(const std::vector<Dims>&) const {}
void Layer::build(const std::vector<Dims>&) {}

namespace {

std::string shapes_to_python(const std::vector<Dims>& shapes, bool as_list) {
  if (!as_list && shapes.size() == 1) return shape_to_python(shapes[0]);
  std::string s = "[";
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + shape_to_python(shapes[i]);
  return s + "]";
}

}  // namespace

std::vector<KerasTensor> Layer::call(const std::vector<KerasTensor>& inputs, bool list_input) {
  int n = static_cast<int>(inputs.size());
  if (n < min_inputs() || (max_inputs() >= 0 && n > max_inputs())) {
    std::string expect = max_inputs() < 0 ? "at least " + std::to_string(min_inputs()) : std::to_string(min_inputs());
    throw Error("Layer \"" + name_ + "\" (" + class_name() + ") expects " + expect + " input(s), but it received " +
                std::to_string(n) + " input tensors.");
  }
  std::vector<Dims> shapes;
  for (const KerasTensor& t : inputs) {
    if (!t.defined()) throw Error("Layer \"" + name_ + "\" was called on an empty KerasTensor");
    shapes.push_back(t.shape());
  }
  check_inputs(shapes);
  build_once(shapes);
  std::vector<Dims> out = compute_output_shapes(shapes);

  auto node = std::make_shared<CallNode>();
  node->layer = shared_from_this();
  node->index = num_nodes();
  node->inputs = inputs;
  node->list_input = list_input;
  node->output_shapes = out;
  // Keras prints an InputLayer's shapes as a list (its node outputs a list of one tensor).
  bool is_input = inputs.empty();
  node_output_shapes_.push_back(shapes_to_python(out, is_input));
  node_input_shapes_.push_back(is_input ? shapes_to_python(out, false) : shapes_to_python(shapes, list_input));

  std::vector<KerasTensor> result;
  for (size_t i = 0; i < out.size(); ++i) result.emplace_back(node, static_cast<int>(i));
  return result;
}

// --- LayerRef ---

KerasTensor LayerRef::operator()(const KerasTensor& input) const {
  if (!layer_) throw Error("call of an empty LayerRef");
  std::vector<KerasTensor> out = layer_->call({input}, false);
  KILN_ASSERT(out.size() == 1, "layer " + layer_->name() + " has several outputs");
  return out[0];
}

KerasTensor LayerRef::operator()(const std::vector<KerasTensor>& inputs) const {
  if (!layer_) throw Error("call of an empty LayerRef");
  std::vector<KerasTensor> out = layer_->call(inputs, true);
  KILN_ASSERT(out.size() == 1, "layer " + layer_->name() + " has several outputs");
  return out[0];
}

}  // namespace kiln
