// Keras layer configs for every Kiln layer class: recovered from a layer by
// matching candidate lowerings (see layer_config.h), and parsed back into the
// layer factories of kiln/layers.h with every field checked.
#include "persistence/layer_config.h"

#include <limits>

#include "ir/printer.h"
#include "kiln/layers.h"

namespace kiln::persistence {
namespace {

using ir::OpKind;

constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// --- Kiln layer -> config ---

// The layer's forward IR for one call on `in`, with its weights as parameters.
std::unique_ptr<ir::Graph> probe(const Layer& layer, const std::vector<Dims>& in, const std::vector<Weight>& ws) {
  auto g = std::make_unique<ir::Graph>("probe");
  std::vector<ir::Value*> ins, wv;
  for (size_t i = 0; i < in.size(); ++i) ins.push_back(g->add_param("in" + std::to_string(i), ir::f32(in[i])));
  for (const Weight& w : ws) wv.push_back(g->add_param("w." + w.name, ir::f32(w.value.shape())));
  LowerContext ctx{*g, "layer", wv};
  g->set_results(layer.lower(ctx, ins));
  return g;
}

// The first candidate whose lowering equals the layer's own; throws when none does.
template <class Config>
Config pick(const Layer& layer, const std::vector<Dims>& in, const std::vector<Config>& configs,
            const std::function<LayerRef(const Config&)>& make) {
  std::string want = ir::to_string(*probe(layer, in, layer.weights()));
  for (const Config& c : configs) {
    try {
      LayerRef cand = make(c);
      if (ir::to_string(*probe(*cand, in, layer.weights())) == want) return c;
    } catch (const Error&) {
      // A candidate that cannot lower this input is simply not the layer's config.
    }
  }
  throw Error("to_json: cannot recover the configuration of layer \"" + layer.name() + "\" (" + layer.class_name() +
              "): no Keras config lowers to the same IR");
}

// Activations in the order to try: Keras's defaults first.
std::vector<std::string> activations_from(const std::string& first) {
  std::vector<std::string> out{first};
  for (const std::string& a : known_activations())
    if (a != first) out.push_back(a);
  return out;
}

const ir::Node* find_op(const ir::Graph& g, OpKind op) {
  for (const ir::Node* n : g.nodes())
    if (n->op == op) return n;
  return nullptr;
}

ordered_json initializer(const char* cls, ordered_json config = ordered_json::object()) {
  return {{"class_name", cls}, {"config", std::move(config)}};
}
ordered_json glorot() { return initializer("GlorotUniform", {{"seed", nullptr}}); }
ordered_json zeros() { return initializer("Zeros"); }
ordered_json pair_json(int64_t a, int64_t b) { return ordered_json::array({a, b}); }

// name, trainable, dtype (and batch_input_shape when the layer declares its input).
ordered_json base_config(const Layer& layer) {
  ordered_json c = {{"name", layer.name()}, {"trainable", true}, {"dtype", "float32"}};
  if (const std::vector<int64_t>* s = layer.declared_input_shape()) {
    Dims d{ir::kBatch};
    d.insert(d.end(), s->begin(), s->end());
    c["batch_input_shape"] = batch_shape_json(d);
  }
  return c;
}

void add_regularizers(ordered_json& c, std::initializer_list<const char*> names) {
  for (const char* n : names) c[n] = nullptr;
}

ordered_json dense_config(const Layer& l, const std::vector<Dims>& in) {
  int64_t units = l.weights().at(0).value.dim(1);
  bool bias = l.weights().size() == 2;
  std::string act = pick<std::string>(l, in, activations_from("linear"), [&](const std::string& a) {
    return Dense(units, {.activation = a, .use_bias = bias, .name = l.name()});
  });
  ordered_json c = base_config(l);
  c["units"] = units;
  c["activation"] = act;
  c["use_bias"] = bias;
  c["kernel_initializer"] = glorot();
  c["bias_initializer"] = zeros();
  add_regularizers(
      c, {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"});
  return c;
}

ordered_json conv2d_config(const Layer& l, const std::vector<Dims>& in) {
  const Tensor& k = l.weights().at(0).value;  // (kh, kw, in, filters)
  bool bias = l.weights().size() == 2;
  std::unique_ptr<ir::Graph> g = probe(l, in, l.weights());
  const ir::Node* conv = find_op(*g, OpKind::Conv2D);
  KILN_ASSERT(conv, "Conv2D \"" + l.name() + "\" lowered without a conv2d");
  std::vector<int64_t> strides = conv->attrs.ints("strides");
  struct C {
    std::string padding, act;
  };
  std::vector<C> cands;
  for (const std::string& a : activations_from("linear"))
    for (const char* p : {"valid", "same"}) cands.push_back({p, a});
  C found = pick<C>(l, in, cands, [&](const C& c) {
    return Conv2D(k.dim(3), {.kernel_size = {k.dim(0), k.dim(1)},
                             .strides = {strides[0], strides[1]},
                             .padding = c.padding,
                             .activation = c.act,
                             .use_bias = bias,
                             .name = l.name()});
  });
  ordered_json c = base_config(l);
  c["filters"] = k.dim(3);
  c["kernel_size"] = pair_json(k.dim(0), k.dim(1));
  c["strides"] = pair_json(strides[0], strides[1]);
  c["padding"] = found.padding;
  c["data_format"] = "channels_last";
  c["dilation_rate"] = pair_json(1, 1);
  c["groups"] = 1;
  c["activation"] = found.act;
  c["use_bias"] = bias;
  c["kernel_initializer"] = glorot();
  c["bias_initializer"] = zeros();
  add_regularizers(
      c, {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"});
  return c;
}

ordered_json maxpool_config(const Layer& l, const std::vector<Dims>& in) {
  std::unique_ptr<ir::Graph> g = probe(l, in, {});
  const ir::Node* pool = find_op(*g, OpKind::MaxPool2D);
  KILN_ASSERT(pool, "MaxPooling2D \"" + l.name() + "\" lowered without a max_pool2d");
  std::vector<int64_t> win = pool->attrs.ints("window"), st = pool->attrs.ints("strides");
  std::string padding = pick<std::string>(l, in, std::vector<std::string>{"valid", "same"}, [&](const std::string& p) {
    return MaxPooling2D(
        {.pool_size = {win[0], win[1]}, .strides = KernelSize{st[0], st[1]}, .padding = p, .name = l.name()});
  });
  ordered_json c = base_config(l);
  c["pool_size"] = pair_json(win[0], win[1]);
  c["padding"] = padding;
  c["strides"] = pair_json(st[0], st[1]);
  c["data_format"] = "channels_last";
  return c;
}

ordered_json activation_config(const Layer& l, const std::vector<Dims>& in) {
  std::string act = pick<std::string>(l, in, activations_from("linear"),
                                      [&](const std::string& a) { return Activation(a, {.name = l.name()}); });
  ordered_json c = base_config(l);
  c["activation"] = act;
  return c;
}

ordered_json concatenate_config(const Layer& l, const std::vector<Dims>& in) {
  int64_t rank = static_cast<int64_t>(in.at(0).size());
  std::unique_ptr<ir::Graph> g = probe(l, in, {});
  const ir::Node* cat = find_op(*g, OpKind::Concat);
  int64_t a = cat ? cat->attrs.i("axis") : rank - 1;
  int64_t axis = pick<int64_t>(l, in, {a == rank - 1 ? -1 : a, a},
                               [&](const int64_t& x) { return Concatenate({.axis = x, .name = l.name()}); });
  ordered_json c = base_config(l);
  c["axis"] = axis;
  return c;
}

ordered_json lstm_config(const Layer& l, const std::vector<Dims>& in) {
  const std::vector<Weight>& w = l.weights();
  int64_t units = w.at(1).value.dim(0);
  bool bias = w.size() == 3;
  bool seq = l.compute_output_shapes(in).at(0).size() == 3;
  struct C {
    std::string act, rec;
  };
  std::vector<C> cands;
  for (const std::string& a : activations_from("tanh"))
    for (const std::string& r : activations_from("sigmoid")) cands.push_back({a, r});
  C found = pick<C>(l, in, cands, [&](const C& c) {
    return LSTM(units, {.activation = c.act,
                        .recurrent_activation = c.rec,
                        .use_bias = bias,
                        .return_sequences = seq,
                        .name = l.name()});
  });
  ordered_json c = base_config(l);
  c["return_sequences"] = seq;
  c["return_state"] = false;
  c["go_backwards"] = false;
  c["stateful"] = false;
  c["unroll"] = false;
  c["time_major"] = false;
  c["units"] = units;
  c["activation"] = found.act;
  c["recurrent_activation"] = found.rec;
  c["use_bias"] = bias;
  c["kernel_initializer"] = glorot();
  c["recurrent_initializer"] = initializer("Orthogonal", {{"gain", 1.0}, {"seed", nullptr}});
  c["bias_initializer"] = zeros();
  c["unit_forget_bias"] = true;
  add_regularizers(c, {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                       "kernel_constraint", "recurrent_constraint", "bias_constraint"});
  c["dropout"] = 0.0;
  c["recurrent_dropout"] = 0.0;
  c["implementation"] = 2;
  return c;
}

// --- config -> Kiln layer ---

// Saturating arithmetic for parameter counts.
int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kInt64Max : r;
}
int64_t add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? kInt64Max : r;
}

std::string activation_field(const Fields& f, const char* key, const std::string& dflt) {
  if (f.has(key) && !f.at(key).is_string())
    f.fail(key, "must be an activation name; Kiln does not support " + type_phrase(f.at(key)) + " activations");
  std::string a = f.str(key, dflt);
  if (a == "silu") return "swish";  // Keras 3's name
  return a;
}

// Fields every layer has: dtype float32, trainable true (Kiln trains every weight).
void check_common(const Fields& f) {
  if (f.has("dtype")) {
    const json& d = f.at("dtype");
    // Keras 3 writes a DTypePolicy object: {"class_name": "DTypePolicy", "config": {"name": "float32"}}.
    const json* name = &d;
    if (d.is_object() && d.contains("config") && d["config"].is_object() && d["config"].contains("name"))
      name = &d["config"]["name"];
    if (!name->is_string() || name->get<std::string>() != "float32")
      f.fail("dtype", "is " + brief(d) + ", but Kiln layers compute in float32 only");
  }
  f.expect("trainable", true, "trains every layer (frozen layers are not supported)");
}

void check_no_regularizers(const Fields& f, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (f.has(k)) f.fail(k, "is set, but Kiln has no regularizers or constraints; remove it (null)");
}

std::optional<std::vector<int64_t>> declared_input(const Fields& f) {
  const char* key = f.has("batch_input_shape") ? "batch_input_shape" : f.has("batch_shape") ? "batch_shape" : nullptr;
  if (!key) return std::nullopt;
  Dims d = batch_shape_from_json(f.at(key), f.where() + ": field \"" + key + "\"");
  return std::vector<int64_t>(d.begin() + 1, d.end());
}

void check_channels_last(const Fields& f) {
  if (f.has("data_format") && f.str("data_format") != "channels_last")
    f.fail("data_format", "is \"" + f.str("data_format") + "\", but Kiln supports channels_last only");
}

ParsedLayer parse_dense(const Fields& f, const std::string& name) {
  check_no_regularizers(
      f, {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"});
  int64_t units = f.integer("units", 1, kMaxDim);
  bool bias = f.boolean("use_bias", true);
  LayerRef l = Dense(units, {.activation = activation_field(f, "activation", "linear"),
                             .use_bias = bias,
                             .name = name,
                             .input_shape = declared_input(f)});
  return {l, [=](const Dims& in) { return mul(add(in.back(), bias ? 1 : 0), units); }};
}

ParsedLayer parse_conv2d(const Fields& f, const std::string& name) {
  check_no_regularizers(
      f, {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"});
  check_channels_last(f);
  f.expect("dilation_rate", json::array({1, 1}), "supports dilation_rate (1, 1) only");
  f.expect("groups", 1, "supports groups=1 only");
  int64_t filters = f.integer("filters", 1, kMaxDim);
  auto [kh, kw] = f.pair("kernel_size", 1, kMaxDim);
  auto [sh, sw] = f.pair("strides", 1, kMaxDim, std::pair<int64_t, int64_t>{1, 1});
  bool bias = f.boolean("use_bias", true);
  LayerRef l = Conv2D(filters, {.kernel_size = {kh, kw},
                                .strides = {sh, sw},
                                .padding = f.str("padding", "valid"),
                                .activation = activation_field(f, "activation", "linear"),
                                .use_bias = bias,
                                .name = name,
                                .input_shape = declared_input(f)});
  int64_t khw = mul(kh, kw);
  return {l, [=](const Dims& in) { return add(mul(mul(khw, in.back()), filters), bias ? filters : 0); }};
}

ParsedLayer parse_maxpool(const Fields& f, const std::string& name) {
  check_channels_last(f);
  auto pool = f.pair("pool_size", 1, kMaxDim, std::pair<int64_t, int64_t>{2, 2});
  auto strides = f.pair("strides", 1, kMaxDim, pool);
  LayerRef l = MaxPooling2D({.pool_size = {pool.first, pool.second},
                             .strides = KernelSize{strides.first, strides.second},
                             .padding = f.str("padding", "valid"),
                             .name = name,
                             .input_shape = declared_input(f)});
  return {l, [](const Dims&) { return int64_t{0}; }};
}

ParsedLayer parse_lstm(const Fields& f, const std::string& name) {
  check_no_regularizers(f, {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "recurrent_constraint", "bias_constraint"});
  for (const char* k : {"return_state", "go_backwards", "stateful", "time_major"})
    f.expect(k, false, "does not support " + std::string(k) + "=true");
  for (const char* k : {"dropout", "recurrent_dropout"})
    if (f.number(k, 0.0) != 0.0) f.fail(k, "is nonzero, but Kiln's LSTM has no dropout");
  int64_t units = f.integer("units", 1, kMaxDim);
  bool bias = f.boolean("use_bias", true);
  LayerRef l = LSTM(units, {.activation = activation_field(f, "activation", "tanh"),
                            .recurrent_activation = activation_field(f, "recurrent_activation", "sigmoid"),
                            .use_bias = bias,
                            .unit_forget_bias = f.boolean("unit_forget_bias", true),
                            .return_sequences = f.boolean("return_sequences", false),
                            .name = name,
                            .input_shape = declared_input(f)});
  // kernel (F, 4u) + recurrent_kernel (u, 4u) + bias (4u)
  return {l, [=](const Dims& in) { return mul(mul(4, units), add(add(in.back(), units), bias ? 1 : 0)); }};
}

// Keras 2 nests {"class_name", "config"}; Keras 3 adds "module" and "registered_name".
const json& entry_config(const json& entry, const std::string& where, std::string& cls) {
  Fields e(entry, where);
  cls = e.str("class_name");
  const json& c = e.at("config");
  if (!c.is_object()) e.fail("config", "must be an object, got " + type_phrase(c));
  return c;
}

}  // namespace

ordered_json batch_shape_json(const Dims& shape) {
  ordered_json j = ordered_json::array();
  for (int64_t d : shape)
    if (ir::is_batch_dim(d)) j.push_back(nullptr);
    else j.push_back(d);
  return j;
}

Dims batch_shape_from_json(const json& j, const std::string& what) {
  if (!j.is_array() || j.empty()) throw Error(what + " must be a list [null, d1, ...], got " + brief(j));
  if (j.size() > 9) throw Error(what + ": rank " + std::to_string(j.size() - 1) + " is more than Kiln supports (8)");
  Dims d;
  int64_t elements = 1;
  for (size_t i = 0; i < j.size(); ++i) {
    if (i == 0 && j[i].is_null()) {
      d.push_back(ir::kBatch);
      continue;
    }
    if (j[i].is_null()) throw Error(what + ": only the batch dimension (the first) may be null, got " + brief(j));
    int64_t v = to_int(j[i], 1, kMaxDim, what + " dimension " + std::to_string(i));
    if (i > 0) elements = mul(elements, v);
    d.push_back(v);
  }
  if (elements > kMaxDim)
    throw Error(what + ": " + brief(j) + " has more than 2^40 elements per sample, more than Kiln supports");
  return d;
}

ordered_json layer_config(const Layer& layer, const std::vector<Dims>& in) {
  std::string cls = layer.class_name();
  if (cls == "Dense") return dense_config(layer, in);
  if (cls == "Conv2D") return conv2d_config(layer, in);
  if (cls == "MaxPooling2D") return maxpool_config(layer, in);
  if (cls == "Activation") return activation_config(layer, in);
  if (cls == "Concatenate") return concatenate_config(layer, in);
  if (cls == "LSTM") return lstm_config(layer, in);
  if (cls == "Flatten") {
    ordered_json c = base_config(layer);
    c["data_format"] = "channels_last";
    return c;
  }
  if (cls == "TimeDistributed") {
    const Layer* inner = layer.wrapped();
    KILN_ASSERT(inner, "TimeDistributed \"" + layer.name() + "\" wraps nothing");
    ordered_json c = base_config(layer);
    c["layer"] = {{"class_name", inner->class_name()}, {"config", layer_config(*inner, in)}};
    return c;
  }
  throw Error("to_json: layer \"" + layer.name() + "\" has class " + cls + ", which Kiln cannot serialize");
}

ParsedLayer layer_from_config(const json& entry, const std::string& where, int depth) {
  std::string cls;
  const json& config = entry_config(entry, where, cls);
  Fields f(config, where + " (" + cls + ") config");
  std::string name = f.str("name");
  if (name.empty()) f.fail("name", "is empty");
  Fields named(config, "layer \"" + name + "\" (" + cls + ")");
  check_common(named);
  if (cls == "Dense") return parse_dense(named, name);
  if (cls == "Conv2D") return parse_conv2d(named, name);
  if (cls == "MaxPooling2D") return parse_maxpool(named, name);
  if (cls == "LSTM") return parse_lstm(named, name);
  if (cls == "Flatten") {
    check_channels_last(named);
    return {Flatten({.name = name, .input_shape = declared_input(named)}), [](const Dims&) { return int64_t{0}; }};
  }
  if (cls == "Activation")
    return {Activation(activation_field(named, "activation", "linear"),
                       {.name = name, .input_shape = declared_input(named)}),
            [](const Dims&) { return int64_t{0}; }};
  if (cls == "Concatenate") {
    int64_t axis = named.integer("axis", -9, 8, -1);
    return {Concatenate({.axis = axis, .name = name}), [](const Dims&) { return int64_t{0}; }};
  }
  if (cls == "TimeDistributed") {
    if (depth > 0) named.fail("layer", "is itself a wrapper; Kiln's TimeDistributed wraps Dense or Activation");
    ParsedLayer inner = layer_from_config(named.at("layer"), "layer \"" + name + "\" (TimeDistributed) inner layer", 1);
    LayerRef l = TimeDistributed(inner.layer, {.name = name});
    // The inner layer sees one time step: (N, T, ...) -> (N, ...) keeps the last axis.
    return {l, inner.params};
  }
  if (cls == "InputLayer") throw Error(where + ": an InputLayer cannot be used here");
  throw Error("layer \"" + name + "\": unknown layer class \"" + cls +
              "\". Kiln supports InputLayer, Dense, Conv2D, MaxPooling2D, Flatten, Concatenate, LSTM, "
              "TimeDistributed and Activation.");
}

}  // namespace kiln::persistence
