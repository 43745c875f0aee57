// Keras layer configs: the shared pieces of every Layer::get_config(), and
// configs parsed back into the layer factories of kiln/layers.h with every
// field checked.
#include "persistence/layer_config.h"

#include <limits>

#include "kiln/layers.h"

namespace kiln::persistence {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

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

ordered_json base_config(const Layer& layer) {
  ordered_json c = {{"name", layer.name()}, {"trainable", true}};
  if (const std::vector<int64_t>* s = layer.declared_input_shape()) {
    Dims d{ir::kBatch};
    d.insert(d.end(), s->begin(), s->end());
    c["batch_input_shape"] = batch_shape_json(d);
  }
  c["dtype"] = "float32";
  return c;
}

ordered_json initializer(const char* cls, ordered_json config) {
  return {{"class_name", cls}, {"config", std::move(config)}};
}

void add_nulls(ordered_json& c, std::initializer_list<const char*> keys) {
  for (const char* k : keys) c[k] = nullptr;
}

ordered_json pair_json(int64_t a, int64_t b) { return ordered_json::array({a, b}); }

void add_kernel_and_bias_fields(ordered_json& c) {
  c["kernel_initializer"] = initializer("GlorotUniform", {{"seed", nullptr}});
  c["bias_initializer"] = initializer("Zeros");
  add_nulls(c, {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                "bias_constraint"});
}

ordered_json layer_config(const Layer& layer) { return ordered_json::parse(layer.get_config()); }

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
