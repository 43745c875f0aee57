// Conv2D and MaxPooling2D (channels last, padding "valid" or "same" as in TF).
#include "activations.h"
#include "kiln/layers.h"
#include "layer_util.h"
#include "persistence/layer_config.h"
#include "random.h"

namespace kiln {
namespace {

using ir::OpKind;
using ir::Value;
using persistence::ordered_json;

std::string pair_str(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

void check_positive(const KernelSize& k, const char* what, const Layer& l) {
  if (k.h <= 0 || k.w <= 0)
    throw Error("The `" + std::string(what) + "` argument of " + detail::describe(l) +
                " must be positive integers. Received: " + what + "=" + pair_str(k.h, k.w));
}

// Output shape and padding of a 2-D window over NHWC `x`; throws when the window does not fit.
struct Window2D {
  int64_t oh, ow;
  std::vector<int64_t> padding;  // [top, bottom, left, right]
};
Window2D window_2d(const Layer& l, const Dims& x, KernelSize k, KernelSize s, bool same, const char* what) {
  auto h = detail::window_axis(x[1], k.h, s.h, same);
  auto w = detail::window_axis(x[2], k.w, s.w, same);
  if (!h || !w)
    throw Error("Negative dimension size in " + detail::describe(l) + ": the " + what + " " + pair_str(k.h, k.w) +
                " is larger than the spatial size " + pair_str(x[1], x[2]) + " of its input " + shape_to_python(x) +
                " with padding \"valid\", so the output size would be negative. Use a smaller " + what +
                ", padding=\"same\", or a larger input.");
  return {h->out, w->out, {h->pad_low, h->pad_high, w->pad_low, w->pad_high}};
}

class Conv2DLayer : public Layer {
 public:
  Conv2DLayer(int64_t filters, const Conv2DOptions& o)
      : Layer("Conv2D", o.name), filters_(filters), kernel_(o.kernel_size), strides_(o.strides), use_bias_(o.use_bias) {
    if (filters <= 0)
      throw Error("Invalid value for argument `filters` of " + detail::describe(*this) +
                  ". Expected a strictly positive value. Received filters=" + std::to_string(filters) + ".");
    check_positive(kernel_, "kernel_size", *this);
    check_positive(strides_, "strides", *this);
    same_ = detail::check_padding(o.padding, detail::describe(*this)) == "same";
    act_ = detail::check_activation(o.activation, detail::describe(*this));
    if (o.input_shape) input_shape_ = *o.input_shape;
  }
  std::string class_name() const override { return "Conv2D"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["filters"] = filters_;
    c["kernel_size"] = persistence::pair_json(kernel_.h, kernel_.w);
    c["strides"] = persistence::pair_json(strides_.h, strides_.w);
    c["padding"] = same_ ? "same" : "valid";
    c["data_format"] = "channels_last";
    c["dilation_rate"] = persistence::pair_json(1, 1);
    c["groups"] = 1;
    c["activation"] = act_;
    c["use_bias"] = use_bias_;
    persistence::add_kernel_and_bias_fields(c);
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }

  void check_inputs(const std::vector<Dims>& s) const override {
    detail::InputSpec spec{.min_ndim = 4};
    if (built()) spec.axes = {{-1, weights()[0].value.dim(2)}};
    detail::check_input_spec(name(), 0, s[0], spec);
    detail::check_input_spec(name(), 0, s[0], {.ndim = 4});
  }
  void build(const std::vector<Dims>& s) override {
    add_weight("kernel", detail::glorot_uniform({kernel_.h, kernel_.w, s[0][3], filters_}));
    if (use_bias_) add_weight("bias", Tensor::zeros({filters_}));
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    Window2D w = window_2d(*this, s[0], kernel_, strides_, same_, "kernel_size");
    return {Dims{s[0][0], w.oh, w.ow, filters_}};
  }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    ir::Graph& g = ctx.graph;
    Window2D w = window_2d(*this, in[0]->type.shape, kernel_, strides_, same_, "kernel_size");
    bool lin = detail::is_linear(act_);
    Value* y = g.add(OpKind::Conv2D, {in[0], ctx.weights[0]},
                     {{"strides", std::vector<int64_t>{strides_.h, strides_.w}}, {"padding", w.padding}},
                     lin && !use_bias_ ? ctx.prefix : ctx.name("conv"));
    if (use_bias_)
      y = g.add(OpKind::Add, {y, ctx.weights[1]}, {{"broadcast_dims", std::vector<int64_t>{3}}},
                lin ? ctx.prefix : ctx.name("bias_add"));
    return {detail::lower_activation(g, act_, y, ctx.prefix, ctx.prefix)};
  }

 private:
  int64_t filters_;
  KernelSize kernel_, strides_;
  bool same_ = false;
  bool use_bias_;
  std::string act_;
  std::vector<int64_t> input_shape_;
};

class MaxPooling2DLayer : public Layer {
 public:
  explicit MaxPooling2DLayer(const MaxPooling2DOptions& o)
      : Layer("MaxPooling2D", o.name), pool_(o.pool_size), strides_(o.strides.value_or(o.pool_size)) {
    check_positive(pool_, "pool_size", *this);
    check_positive(strides_, "strides", *this);
    same_ = detail::check_padding(o.padding, detail::describe(*this)) == "same";
    if (o.input_shape) input_shape_ = *o.input_shape;
  }
  std::string class_name() const override { return "MaxPooling2D"; }
  // Keras 2.13's Pooling2D order: pool_size, padding, strides, data_format.
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["pool_size"] = persistence::pair_json(pool_.h, pool_.w);
    c["padding"] = same_ ? "same" : "valid";
    c["strides"] = persistence::pair_json(strides_.h, strides_.w);
    c["data_format"] = "channels_last";
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }
  void check_inputs(const std::vector<Dims>& s) const override {
    detail::check_input_spec(name(), 0, s[0], {.ndim = 4});
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    Window2D w = window_2d(*this, s[0], pool_, strides_, same_, "pool_size");
    return {Dims{s[0][0], w.oh, w.ow, s[0][3]}};
  }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    Window2D w = window_2d(*this, in[0]->type.shape, pool_, strides_, same_, "pool_size");
    return {ctx.graph.add(OpKind::MaxPool2D, {in[0]},
                          {{"window", std::vector<int64_t>{pool_.h, pool_.w}},
                           {"strides", std::vector<int64_t>{strides_.h, strides_.w}},
                           {"padding", w.padding}},
                          ctx.prefix)};
  }

 private:
  KernelSize pool_, strides_;
  bool same_ = false;
  std::vector<int64_t> input_shape_;
};

}  // namespace

LayerRef Conv2D(int64_t filters, const Conv2DOptions& options) {
  return std::make_shared<Conv2DLayer>(filters, options);
}

LayerRef MaxPooling2D(const MaxPooling2DOptions& options) { return std::make_shared<MaxPooling2DLayer>(options); }

}  // namespace kiln
