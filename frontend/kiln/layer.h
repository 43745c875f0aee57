// The layer machinery of the functional API: symbolic tensors, call nodes,
// the Layer base class and the LayerRef handle the layer factories return.
//
// As in Keras, calling a layer on KerasTensors records a call node (the
// layer, its input tensors, its output shapes) and returns the node's output
// KerasTensors; the first call builds the layer (creates its weights from the
// input shape). Calling the same layer object again adds a second node that
// shares the weights. A Model later walks these nodes back from its outputs.
//
// Shapes are ir::Dims with the batch dimension as ir::kBatch (-1), printed
// `None` in Keras style: {kBatch, 64, 64, 1} is "(None, 64, 64, 1)".
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln {

using ir::Dims;

class Layer;
struct CallNode;

// A symbolic tensor: output `tensor_index` of a call node.
class KerasTensor {
 public:
  KerasTensor() = default;
  KerasTensor(std::shared_ptr<CallNode> node, int tensor_index);

  bool defined() const { return node_ != nullptr; }
  // Full shape including the batch dimension (kBatch for None).
  const Dims& shape() const;
  int64_t rank() const { return static_cast<int64_t>(shape().size()); }
  // Keras style: "(None, 10)".
  std::string shape_string() const;
  // The layer that produced this tensor, its node index and output index (Keras's _keras_history).
  Layer& layer() const;
  const std::shared_ptr<Layer>& layer_ptr() const;
  int node_index() const;
  int tensor_index() const { return index_; }
  const std::shared_ptr<CallNode>& node() const { return node_; }

  bool operator==(const KerasTensor& o) const { return node_ == o.node_ && index_ == o.index_; }

 private:
  std::shared_ptr<CallNode> node_;
  int index_ = 0;
};

// One call of a layer (Keras's Node). An input layer's node has no inputs.
struct CallNode {
  std::shared_ptr<Layer> layer;
  int index = 0;  // position among the layer's calls
  std::vector<KerasTensor> inputs;
  bool list_input = false;  // called with a list (shapes print as a list)
  std::vector<Dims> output_shapes;

  bool is_input() const { return inputs.empty(); }
};

// One weight variable of a layer, in Keras layout.
struct Weight {
  std::string name;  // "kernel", "bias", "recurrent_kernel"
  Tensor value;
};

// What a layer needs to emit IR for one of its calls.
struct LowerContext {
  ir::Graph& graph;
  std::string prefix;               // value-name prefix of this call: "dense", or "dense.call1"
  std::vector<ir::Value*> weights;  // the layer's weight parameters, in weights() order

  // Name of an intermediate value of this call: "dense.matmul".
  std::string name(const std::string& what) const { return prefix + "." + what; }
};

class Layer : public std::enable_shared_from_this<Layer> {
 public:
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  // Keras class name: "Dense", "Conv2D", "InputLayer", ...
  virtual std::string class_name() const = 0;
  // The wrapped layer of a wrapper (TimeDistributed), else null.
  virtual const Layer* wrapped() const { return nullptr; }

  bool built() const { return built_; }
  virtual const std::vector<Weight>& weights() const { return weights_; }
  std::vector<Tensor> get_weights() const;  // copies, in Keras order
  void set_weights(const std::vector<Tensor>& values);
  int64_t count_params() const;

  // Calls recorded so far (in this process, in any model).
  int num_nodes() const { return static_cast<int>(node_output_shapes_.size()); }
  // Keras's layer.output_shape / input_shape as printed: "(None, 10)", "[(None, 10)]" for an
  // InputLayer, "[(None, 10), (None, 5)]" for a list input; "multiple" when the calls disagree.
  std::string output_shape_string() const;
  std::string input_shape_string() const;

  // Records a call: checks the inputs, builds on first use, infers the output shapes.
  std::vector<KerasTensor> call(const std::vector<KerasTensor>& inputs, bool list_input);
  // build() unless already built (wrappers build their inner layer through this).
  void build_once(const std::vector<Dims>& shapes);
  // The weight storage (a wrapper returns its inner layer's).
  virtual std::vector<Weight>& mutable_weights() { return weights_; }

  // --- what each layer class implements ---
  // Checks input shapes against the layer's input spec (before and after build).
  virtual void check_inputs(const std::vector<Dims>& shapes) const;
  // Creates the weights from the input shapes (called once, on the first call).
  virtual void build(const std::vector<Dims>& shapes);
  virtual std::vector<Dims> compute_output_shapes(const std::vector<Dims>& shapes) const = 0;
  // Emits the IR of one call; returns the output values (same count as compute_output_shapes).
  virtual std::vector<ir::Value*> lower(LowerContext& ctx, const std::vector<ir::Value*>& inputs) const = 0;
  // Inputs accepted per call: single tensor (1, 1) or a list (min, -1).
  virtual int min_inputs() const { return 1; }
  virtual int max_inputs() const { return 1; }
  // An input declared through the layer's options (Sequential's first layer): shape without batch.
  virtual const std::vector<int64_t>* declared_input_shape() const { return nullptr; }
  // Keras's layer.get_config() as JSON object text, with tf.keras 2.13's keys in its
  // order: name, trainable, [batch_input_shape], dtype, then the class's options
  // (units, activation, use_bias, kernel_initializer, ...). model.to_json() is made
  // of these; model_from_json() reads them back. The base class writes the base keys.
  virtual std::string get_config() const;

 protected:
  // `name` empty: a default name from the class name (zero-based, Keras style).
  Layer(const std::string& class_name, const std::string& name);

  Weight& add_weight(const std::string& name, Tensor value);

 private:
  std::string name_;
  bool built_ = false;
  std::vector<Weight> weights_;
  std::vector<std::string> node_output_shapes_, node_input_shapes_;
};

// The handle the layer factories return. Calling it records a call of the one
// shared layer object, so two calls share the weights.
class LayerRef {
 public:
  LayerRef() = default;
  template <std::derived_from<Layer> L>
  LayerRef(std::shared_ptr<L> layer) : layer_(std::move(layer)) {}  // NOLINT: implicit on purpose

  KerasTensor operator()(const KerasTensor& input) const;
  KerasTensor operator()(const std::vector<KerasTensor>& inputs) const;

  Layer* operator->() const { return layer_.get(); }
  Layer& operator*() const { return *layer_; }
  const std::shared_ptr<Layer>& ptr() const { return layer_; }
  const std::string& name() const { return layer_->name(); }

 private:
  std::shared_ptr<Layer> layer_;
};

// Keras's str(tuple) of a shape: "(None, 10)", "(None,)".
std::string shape_to_python(const Dims& shape);

}  // namespace kiln
