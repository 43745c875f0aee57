// Input, Dense, Activation, Flatten and Concatenate.
#include <numeric>

#include "activations.h"
#include "kiln/layers.h"
#include "kiln/session.h"
#include "layer_util.h"
#include "persistence/layer_config.h"
#include "random.h"

namespace kiln {
namespace {

using persistence::ordered_json;

using ir::OpKind;
using ir::Value;

class InputLayer : public Layer {
 public:
  InputLayer(const std::string& name, Dims shape) : Layer("InputLayer", name), shape_(std::move(shape)) {}
  std::string class_name() const override { return "InputLayer"; }
  std::string get_config() const override {
    return ordered_json{{"batch_input_shape", persistence::batch_shape_json(shape_)},
                        {"dtype", "float32"},
                        {"sparse", false},
                        {"ragged", false},
                        {"name", name()}}
        .dump();
  }
  int min_inputs() const override { return 0; }
  int max_inputs() const override { return 0; }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>&) const override { return {shape_}; }
  std::vector<Value*> lower(LowerContext&, const std::vector<Value*>& in) const override { return in; }

 private:
  Dims shape_;
};

class DenseLayer : public Layer {
 public:
  DenseLayer(int64_t units, const DenseOptions& o) : Layer("Dense", o.name), units_(units), use_bias_(o.use_bias) {
    if (units <= 0)
      throw Error("Received an invalid value for `units` of " + detail::describe(*this) +
                  ", expected a positive integer. Received: units=" + std::to_string(units));
    act_ = detail::check_activation(o.activation, detail::describe(*this));
    if (o.input_shape) input_shape_ = *o.input_shape;
    else if (o.input_dim) input_shape_ = {*o.input_dim};
  }
  std::string class_name() const override { return "Dense"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["units"] = units_;
    c["activation"] = act_;
    c["use_bias"] = use_bias_;
    persistence::add_kernel_and_bias_fields(c);
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }

  void check_inputs(const std::vector<Dims>& s) const override {
    detail::InputSpec spec{.min_ndim = 2};
    if (built()) spec.axes = {{-1, weights()[0].value.dim(0)}};
    detail::check_input_spec(name(), 0, s[0], spec);
    if (ir::is_batch_dim(s[0].back()))
      throw Error("The last dimension of the inputs to " + detail::describe(*this) +
                  " should be defined. Found None. Full input shape received: " + shape_to_python(s[0]));
  }
  void build(const std::vector<Dims>& s) override {
    add_weight("kernel", detail::glorot_uniform({s[0].back(), units_}));
    if (use_bias_) add_weight("bias", Tensor::zeros({units_}));
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    Dims out = s[0];
    out.back() = units_;
    return {out};
  }
  // y = act(x . kernel + bias): matmul on the last axis of any rank, bias broadcast over the rest.
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    ir::Graph& g = ctx.graph;
    bool lin = detail::is_linear(act_);
    bool last_is_matmul = lin && !use_bias_;
    Value* y = g.add(OpKind::Matmul, {in[0], ctx.weights[0]}, {}, last_is_matmul ? ctx.prefix : ctx.name("matmul"));
    if (use_bias_) {
      int64_t r = y->type.rank();
      y = g.add(OpKind::Add, {y, ctx.weights[1]}, {{"broadcast_dims", std::vector<int64_t>{r - 1}}},
                lin ? ctx.prefix : ctx.name("bias_add"));
    }
    return {detail::lower_activation(g, act_, y, ctx.prefix, ctx.prefix)};
  }

 private:
  int64_t units_;
  bool use_bias_;
  std::string act_;
  std::vector<int64_t> input_shape_;
};

class ActivationLayer : public Layer {
 public:
  ActivationLayer(const std::string& act, const ActivationOptions& o) : Layer("Activation", o.name) {
    act_ = detail::check_activation(act, detail::describe(*this));
    if (o.input_shape) input_shape_ = *o.input_shape;
  }
  std::string class_name() const override { return "Activation"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["activation"] = act_;
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }
  void check_inputs(const std::vector<Dims>& s) const override {
    if (act_ == "softmax") detail::check_input_spec(name(), 0, s[0], {.min_ndim = 2});
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override { return s; }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    return {detail::lower_activation(ctx.graph, act_, in[0], ctx.prefix, ctx.prefix)};
  }

 private:
  std::string act_;
  std::vector<int64_t> input_shape_;
};

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(const FlattenOptions& o) : Layer("Flatten", o.name) {
    if (o.input_shape) input_shape_ = *o.input_shape;
  }
  std::string class_name() const override { return "Flatten"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["data_format"] = "channels_last";
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }
  void check_inputs(const std::vector<Dims>& s) const override {
    detail::check_input_spec(name(), 0, s[0], {.min_ndim = 1});
    for (size_t d = 1; d < s[0].size(); ++d)
      if (ir::is_batch_dim(s[0][d]))
        throw Error(detail::describe(*this) + " needs static non-batch dimensions, got " + shape_to_python(s[0]));
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    int64_t n = std::accumulate(s[0].begin() + 1, s[0].end(), int64_t{1}, std::multiplies<>());
    return {Dims{s[0][0], n}};
  }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    Dims out = compute_output_shapes({in[0]->type.shape})[0];
    return {ctx.graph.add(OpKind::Reshape, {in[0]}, {{"shape", out}}, ctx.prefix)};
  }

 private:
  std::vector<int64_t> input_shape_;
};

class ConcatenateLayer : public Layer {
 public:
  explicit ConcatenateLayer(const ConcatenateOptions& o) : Layer("Concatenate", o.name), axis_(o.axis) {}
  std::string class_name() const override { return "Concatenate"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["axis"] = axis_;
    return c.dump();
  }
  int min_inputs() const override { return 1; }
  int max_inputs() const override { return -1; }

  void check_inputs(const std::vector<Dims>& s) const override {
    auto mismatch = [&](const std::string& why) {
      std::string shapes = "[";
      for (size_t i = 0; i < s.size(); ++i) shapes += (i ? ", " : "") + shape_to_python(s[i]);
      throw Error("A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. " +
                  why + " Received: input_shape=" + shapes + "] in " + detail::describe(*this) +
                  " (axis=" + std::to_string(axis_) + ").");
    };
    int64_t rank = static_cast<int64_t>(s[0].size());
    for (const Dims& d : s)
      if (static_cast<int64_t>(d.size()) != rank) mismatch("The inputs differ in rank.");
    int64_t a = axis_ < 0 ? axis_ + rank : axis_;
    if (a < 0 || a >= rank) mismatch("The axis is out of range for inputs of rank " + std::to_string(rank) + ".");
    if (a == 0) mismatch("Kiln cannot concatenate along the batch axis 0.");
    for (const Dims& d : s)
      for (int64_t k = 0; k < rank; ++k)
        if (k != a && d[k] != s[0][k])
          mismatch("Dimension " + std::to_string(k) + " differs (" + shape_to_python(d) + " vs " +
                   shape_to_python(s[0]) + ").");
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    Dims out = s[0];
    int64_t a = axis_ < 0 ? axis_ + static_cast<int64_t>(out.size()) : axis_;
    for (size_t i = 1; i < s.size(); ++i) out[a] += s[i][a];
    return {out};
  }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    int64_t a = axis_ < 0 ? axis_ + in[0]->type.rank() : axis_;
    if (in.size() == 1) return in;
    return {ctx.graph.add(OpKind::Concat, in, {{"axis", a}}, ctx.prefix)};
  }

 private:
  int64_t axis_;
};

}  // namespace

KerasTensor Input(const std::vector<int64_t>& shape, const InputOptions& options) {
  std::string name = options.name.empty() ? detail::unique_object_name("input", false) : options.name;
  Dims full = detail::with_batch(shape, options.batch_size, "Input \"" + name + "\"");
  auto layer = std::make_shared<InputLayer>(name, full);
  return layer->call({}, false)[0];
}

LayerRef Dense(int64_t units, const DenseOptions& options) { return std::make_shared<DenseLayer>(units, options); }

LayerRef Activation(const std::string& activation, const ActivationOptions& options) {
  return std::make_shared<ActivationLayer>(activation, options);
}

LayerRef Flatten(const FlattenOptions& options) { return std::make_shared<FlattenLayer>(options); }

LayerRef Concatenate(const ConcatenateOptions& options) { return std::make_shared<ConcatenateLayer>(options); }

KerasTensor concatenate(const std::vector<KerasTensor>& inputs, const ConcatenateOptions& options) {
  return Concatenate(options)(inputs);
}

}  // namespace kiln
