// LSTM (one `scan` over time, so the IR does not grow with the sequence) and
// TimeDistributed for layers that act on the last axis.
#include "activations.h"
#include "kiln/layers.h"
#include "layer_util.h"
#include "persistence/layer_config.h"
#include "random.h"

namespace kiln {
namespace {

using persistence::ordered_json;

using ir::OpKind;
using ir::Value;

class LSTMLayer : public Layer {
 public:
  LSTMLayer(int64_t units, const LSTMOptions& o)
      : Layer("LSTM", o.name), units_(units), use_bias_(o.use_bias), unit_forget_bias_(o.unit_forget_bias),
        return_sequences_(o.return_sequences) {
    if (units <= 0)
      throw Error("Received an invalid value for argument `units` of " + detail::describe(*this) +
                  ", expected a positive integer, got " + std::to_string(units) + ".");
    act_ = detail::check_activation(o.activation, detail::describe(*this));
    rec_act_ = detail::check_activation(o.recurrent_activation, detail::describe(*this));
    if (o.input_shape) input_shape_ = *o.input_shape;
  }
  std::string class_name() const override { return "LSTM"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["return_sequences"] = return_sequences_;
    for (const char* k : {"return_state", "go_backwards", "stateful", "unroll", "time_major"}) c[k] = false;
    c["units"] = units_;
    c["activation"] = act_;
    c["recurrent_activation"] = rec_act_;
    c["use_bias"] = use_bias_;
    c["kernel_initializer"] = persistence::initializer("GlorotUniform", {{"seed", nullptr}});
    c["recurrent_initializer"] = persistence::initializer("Orthogonal", {{"gain", 1.0}, {"seed", nullptr}});
    c["bias_initializer"] = persistence::initializer("Zeros");
    c["unit_forget_bias"] = unit_forget_bias_;
    persistence::add_nulls(c, {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                               "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint"});
    c["dropout"] = 0.0;
    c["recurrent_dropout"] = 0.0;
    c["implementation"] = 2;
    return c.dump();
  }
  const std::vector<int64_t>* declared_input_shape() const override {
    return input_shape_.empty() ? nullptr : &input_shape_;
  }

  void check_inputs(const std::vector<Dims>& s) const override {
    detail::InputSpec spec{.ndim = 3};
    if (built()) spec.axes = {{-1, weights()[0].value.dim(0)}};
    detail::check_input_spec(name(), 0, s[0], spec);
  }
  // kernel (F, 4u) glorot_uniform; recurrent_kernel (u, 4u) orthogonal; bias (4u) zeros, with the
  // forget-gate quarter [u, 2u) at 1 when unit_forget_bias.
  void build(const std::vector<Dims>& s) override {
    int64_t u = units_;
    add_weight("kernel", detail::glorot_uniform({s[0][2], 4 * u}));
    add_weight("recurrent_kernel", detail::orthogonal({u, 4 * u}));
    if (use_bias_) {
      Tensor b = Tensor::zeros({4 * u});
      if (unit_forget_bias_)
        for (int64_t i = u; i < 2 * u; ++i) b.data()[i] = 1.0f;
      add_weight("bias", b);
    }
  }
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    if (return_sequences_) return {Dims{s[0][0], s[0][1], units_}};
    return {Dims{s[0][0], units_}};
  }

  // x [N,T,F] -> transpose [T,N,F] -> scan with carries (h, c) [N,u], the sequence x_t [N,F] and
  // invariants (kernel, recurrent_kernel, bias). One step:
  //   z = x_t . W + h . U + b;  i, f, g, o = z[:, 0:u], z[:, u:2u], z[:, 2u:3u], z[:, 3u:4u]
  //   c' = rec(f) * c + rec(i) * act(g);  h' = rec(o) * act(c')
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    ir::Graph& g = ctx.graph;
    const Dims& x = in[0]->type.shape;
    int64_t n = x[0], u = units_;
    Value* seq = g.add(OpKind::Transpose, {in[0]}, {{"perm", std::vector<int64_t>{1, 0, 2}}}, ctx.name("time_major"));
    ir::AttrMap zeros{{"value", 0.0}, {"shape", Dims{n, u}}};
    Value* h0 = g.add(OpKind::Constant, {}, zeros, ctx.name("h0"));
    Value* c0 = g.add(OpKind::Constant, {}, zeros, ctx.name("c0"));

    std::vector<Value*> operands = {h0, c0, seq};
    operands.insert(operands.end(), ctx.weights.begin(), ctx.weights.end());
    std::vector<std::string> names = return_sequences_
                                         ? std::vector<std::string>{ctx.name("h"), ctx.name("c"), ctx.name("steps")}
                                         : std::vector<std::string>{ctx.prefix, ctx.name("c")};
    ir::Node* scan = g.add_node(OpKind::Scan, operands, {{"num_carry", int64_t{2}}, {"num_seq", int64_t{1}}},
                                step_body(ctx.prefix + ".step", n, x[2]), names);
    if (!return_sequences_) return {scan->result(0)};
    return {g.add(OpKind::Transpose, {scan->result(2)}, {{"perm", std::vector<int64_t>{1, 0, 2}}}, ctx.prefix)};
  }

 private:
  int64_t units_;
  bool use_bias_, unit_forget_bias_, return_sequences_;
  std::string act_, rec_act_;
  std::vector<int64_t> input_shape_;

  std::unique_ptr<ir::Graph> step_body(const std::string& name, int64_t n, int64_t f) const {
    int64_t u = units_;
    auto body = std::make_unique<ir::Graph>(name);
    ir::Graph& b = *body;
    Value* h = b.add_param("h", ir::f32({n, u}));
    Value* c = b.add_param("c", ir::f32({n, u}));
    Value* xt = b.add_param("x_t", ir::f32({n, f}));
    Value* w = b.add_param("kernel", ir::f32({f, 4 * u}));
    Value* r = b.add_param("recurrent_kernel", ir::f32({u, 4 * u}));
    Value* z = b.add(OpKind::Add, {b.add(OpKind::Matmul, {xt, w}, {}, "x_w"), b.add(OpKind::Matmul, {h, r}, {}, "h_u")},
                     {}, "z");
    if (use_bias_) {
      Value* bias = b.add_param("bias", ir::f32({4 * u}));
      z = b.add(OpKind::Add, {z, bias}, {{"broadcast_dims", std::vector<int64_t>{1}}}, "z_b");
    }
    auto gate = [&](int64_t k, const std::string& act, const std::string& gname) {
      Value* zk =
          b.add(OpKind::Slice, {z}, {{"axis", int64_t{1}}, {"start", k * u}, {"limit", (k + 1) * u}}, "z_" + gname);
      return detail::lower_activation(b, act, zk, gname, gname);
    };
    Value* i = gate(0, rec_act_, "i");
    Value* fg = gate(1, rec_act_, "f");
    Value* gg = gate(2, act_, "g");
    Value* o = gate(3, rec_act_, "o");
    Value* c2 = b.add(OpKind::Add, {b.add(OpKind::Mul, {fg, c}, {}, "f_c"), b.add(OpKind::Mul, {i, gg}, {}, "i_g")}, {},
                      "c_next");
    Value* h2 = b.add(OpKind::Mul, {o, detail::lower_activation(b, act_, c2, "c_act", "c_act")}, {}, "h_next");
    std::vector<Value*> results = {h2, c2};
    if (return_sequences_) results.push_back(h2);
    b.set_results(results);
    return body;
  }
};

class TimeDistributedLayer : public Layer {
 public:
  TimeDistributedLayer(LayerRef inner, const TimeDistributedOptions& o)
      : Layer("TimeDistributed", o.name), inner_(std::move(inner)) {
    if (!inner_.ptr()) throw Error("TimeDistributed needs a layer to wrap");
    std::string cls = inner_->class_name();
    if (cls != "Dense" && cls != "Activation")
      throw Error("TimeDistributed(" + cls + ") is not supported yet: Kiln's TimeDistributed wraps layers that act " +
                  "on the last axis (Dense, Activation), and " + detail::describe(*inner_) + " is a " + cls + ".");
  }
  std::string class_name() const override { return "TimeDistributed"; }
  std::string get_config() const override {
    ordered_json c = persistence::base_config(*this);
    c["layer"] = {{"class_name", inner_->class_name()}, {"config", persistence::layer_config(*inner_)}};
    return c.dump();
  }
  const Layer* wrapped() const override { return inner_.ptr().get(); }
  const std::vector<Weight>& weights() const override { return inner_->weights(); }
  std::vector<Weight>& mutable_weights() override { return inner_->mutable_weights(); }

  void check_inputs(const std::vector<Dims>& s) const override {
    if (s[0].size() < 3)
      throw Error("`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, received: " +
                  shape_to_python(s[0]) + " (" + detail::describe(*this) + ")");
    inner_->check_inputs({step_shape(s[0])});
  }
  void build(const std::vector<Dims>& s) override { inner_->build_once({step_shape(s[0])}); }
  // The inner layer acts on the last axis, so it maps (N, T, ...) as it maps (N, ...).
  std::vector<Dims> compute_output_shapes(const std::vector<Dims>& s) const override {
    return inner_->compute_output_shapes(s);
  }
  std::vector<Value*> lower(LowerContext& ctx, const std::vector<Value*>& in) const override {
    return inner_->lower(ctx, in);
  }

 private:
  LayerRef inner_;

  static Dims step_shape(const Dims& s) {
    Dims d{s[0]};
    d.insert(d.end(), s.begin() + 2, s.end());
    return d;
  }
};

}  // namespace

LayerRef LSTM(int64_t units, const LSTMOptions& options) { return std::make_shared<LSTMLayer>(units, options); }

LayerRef TimeDistributed(const LayerRef& layer, const TimeDistributedOptions& options) {
  return std::make_shared<TimeDistributedLayer>(layer, options);
}

}  // namespace kiln
