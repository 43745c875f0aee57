// Model::to_json and model_from_json: Keras's model config.
//
//   {"class_name": "Functional", "config": {"name": "model", "trainable": true,
//     "layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 10], ...},
//                 "name": "input_1", "inbound_nodes": []},
//                {"class_name": "Dense", "config": {...}, "name": "dense",
//                 "inbound_nodes": [[["input_1", 0, 0, {}]]]}, ...],
//     "input_layers": [["input_1", 0, 0]], "output_layers": [["dense_1", 0, 0]]},
//    "keras_version": "2.13.1", "backend": "tensorflow"}
//
// An inbound node lists [layer, node index, tensor index, kwargs] per input; node
// indices count only the layer's calls inside this model (Keras's
// node_conversion_map), so a shared layer has several inbound nodes and stays
// one layer. Sequential writes "Sequential" and its layers without nodes.
// Reading follows Keras's reconstruct_from_config: create every layer, then
// call the layers node by node as their inputs become available; a pass that
// makes no progress means a cycle or a dangling reference, reported by name.
// Keras 3's node format ({"args": [{"class_name": "__keras_tensor__", ...}]})
// is read as well.
#include <map>
#include <unordered_map>

#include "kiln/persistence.h"
#include "network.h"
#include "persistence/layer_config.h"

namespace kiln {
namespace {

using persistence::Fields;
using persistence::json;
using persistence::ordered_json;

constexpr int64_t kMaxElements = int64_t{1} << 40;  // per sample, like the IR parser's kMaxDim
constexpr const char* kWhat = "model_from_json";

// --- writing ---

// Position of each node among its layer's nodes in this model (Keras's kept node index).
std::unordered_map<const CallNode*, int> model_node_indices(const detail::Network& net) {
  std::unordered_map<const CallNode*, int> idx;
  for (const auto& l : net.layers) {
    std::vector<const CallNode*> nodes = net.nodes_of(*l);
    for (size_t i = 0; i < nodes.size(); ++i) idx[nodes[i]] = static_cast<int>(i);
  }
  return idx;
}

// --- reading ---

struct Ref {
  std::string layer;
  int64_t node = 0, tensor = 0;
};

Ref parse_ref(const json& j, const std::string& where) {
  if (!j.is_array() || j.size() < 3 || j.size() > 4 || !j[0].is_string())
    throw Error(where + ": expected [layer_name, node_index, tensor_index], got " + persistence::brief(j));
  Ref r{j[0].get<std::string>(), persistence::to_int(j[1], 0, 1 << 20, where + ": node index"),
        persistence::to_int(j[2], 0, 1 << 20, where + ": tensor index")};
  return r;
}

// Keras 3: tensors inside "args" are {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}.
void collect_keras3_refs(const json& j, std::vector<Ref>& out, const std::string& where) {
  if (j.is_array()) {
    for (const json& e : j) collect_keras3_refs(e, out, where);
  } else if (j.is_object() && j.value("class_name", json()) == "__keras_tensor__") {
    auto config = j.find("config");
    if (config == j.end()) throw Error(where + ": a __keras_tensor__ without a config");
    out.push_back(parse_ref(Fields(*config, where).at("keras_history"), where));
  }
}

std::vector<std::vector<Ref>> parse_inbound_nodes(const Fields& e, const std::string& where) {
  std::vector<std::vector<Ref>> nodes;
  if (!e.has("inbound_nodes")) return nodes;
  const json& in = e.at("inbound_nodes");
  if (!in.is_array()) e.fail("inbound_nodes", "must be a list, got " + persistence::type_phrase(in));
  for (size_t k = 0; k < in.size(); ++k) {
    std::string w = where + " inbound node " + std::to_string(k);
    std::vector<Ref> refs;
    if (in[k].is_object()) {
      collect_keras3_refs(in[k].contains("args") ? in[k]["args"] : json::array(), refs, w);
    } else if (in[k].is_array()) {
      for (const json& r : in[k]) refs.push_back(parse_ref(r, w));
    } else {
      throw Error(w + ": expected a list of [layer, node, tensor, kwargs], got " + persistence::brief(in[k]));
    }
    if (refs.empty()) throw Error(w + ": has no input tensors");
    nodes.push_back(std::move(refs));
  }
  return nodes;
}

// "input_layers": [["input_1", 0, 0], ...] or a single ["input_1", 0, 0].
std::vector<Ref> parse_ref_list(const Fields& f, const char* key) {
  const json& j = f.at(key);
  std::string w = f.where() + ": \"" + key + "\"";
  if (!j.is_array() || j.empty()) f.fail(key, "must be a non-empty list of [layer_name, node_index, tensor_index]");
  if (j[0].is_string()) return {parse_ref(j, w)};
  std::vector<Ref> out;
  for (const json& r : j) out.push_back(parse_ref(r, w));
  return out;
}

KerasTensor make_input(const Fields& c, const std::string& name) {
  const char* key = c.has("batch_input_shape") ? "batch_input_shape" : "batch_shape";
  Dims d = persistence::batch_shape_from_json(c.at(key), c.where() + ": field \"" + key + "\"");
  if (c.has("sparse") && c.boolean("sparse")) c.fail("sparse", "is true, but Kiln has no sparse tensors");
  if (c.has("ragged") && c.boolean("ragged")) c.fail("ragged", "is true, but Kiln has no ragged tensors");
  InputOptions o{.name = name};
  if (!ir::is_batch_dim(d[0])) o.batch_size = d[0];
  return Input(std::vector<int64_t>(d.begin() + 1, d.end()), o);
}

// Counts the weights a call creates and the size of what it returns, before and after the call.
class Budget {
 public:
  explicit Budget(const JsonLimits& l) : limits_(l) {}
  void before_call(const persistence::ParsedLayer& p, const Dims& input) {
    if (p.layer->built()) return;
    int64_t n = p.params(input);
    if (n > limits_.max_params - used_)
      throw Error(std::string(kWhat) + ": layer \"" + p.layer.name() + "\" would create " + std::to_string(n) +
                  " weights for input " + shape_to_python(input) + "; the model may create at most " +
                  std::to_string(limits_.max_params) + " (JsonLimits::max_params)");
    used_ += n;
  }
  static void after_call(const KerasTensor& t) {
    int64_t n = 1;
    for (size_t i = 1; i < t.shape().size(); ++i)
      if (__builtin_mul_overflow(n, t.shape()[i], &n) || n > kMaxElements)
        throw Error(std::string(kWhat) + ": layer \"" + t.layer().name() + "\" outputs " + t.shape_string() +
                    ", more than 2^40 elements per sample");
  }

 private:
  const JsonLimits& limits_;
  int64_t used_ = 0;
};

struct Entry {
  std::string name, cls;
  persistence::ParsedLayer parsed;  // layer is null for an InputLayer
  std::vector<std::vector<Ref>> nodes;
  std::vector<KerasTensor> outputs;  // one per node made so far
};

Model functional_from_config(const json& config, const JsonLimits& limits) {
  Fields f(config, std::string(kWhat) + ": model config");
  std::string model_name = f.str("name", "model");
  const json& layers = f.at("layers");
  if (!layers.is_array()) f.fail("layers", "must be a list");
  if (static_cast<int64_t>(layers.size()) > limits.max_layers)
    f.fail("layers", "has " + std::to_string(layers.size()) + " layers, more than JsonLimits::max_layers");

  std::vector<Entry> entries;
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string where = std::string(kWhat) + ": layers[" + std::to_string(i) + "]";
    Fields e(layers[i], where);
    Entry en;
    en.cls = e.str("class_name");
    Fields c(e.at("config"), where + " (" + en.cls + ") config");
    en.name = e.has("name") ? e.str("name") : c.str("name");
    if (en.name.empty()) e.fail("name", "is empty");
    if (by_name.count(en.name)) throw Error(where + ": the layer name \"" + en.name + "\" is used twice");
    by_name[en.name] = entries.size();
    if (en.cls == "InputLayer") {
      en.outputs.push_back(make_input(Fields(c.obj(), "InputLayer \"" + en.name + "\""), en.name));
    } else {
      en.parsed = persistence::layer_from_config(layers[i], where);
      en.nodes = parse_inbound_nodes(e, "layer \"" + en.name + "\"");
      if (en.nodes.empty())
        throw Error(std::string(kWhat) + ": layer \"" + en.name + "\" has no inbound nodes (it is not connected)");
    }
    entries.push_back(std::move(en));
  }

  // Every reference must name a layer and one of its nodes, output 0.
  auto node_count = [&](const Entry& en) { return en.parsed.layer.ptr() ? en.nodes.size() : size_t{1}; };
  auto check_ref = [&](const Ref& r, const std::string& where) -> Entry& {
    auto it = by_name.find(r.layer);
    if (it == by_name.end()) throw Error(where + " refers to an unknown layer \"" + r.layer + "\"");
    Entry& src = entries[it->second];
    if (static_cast<size_t>(r.node) >= node_count(src))
      throw Error(where + " refers to node " + std::to_string(r.node) + " of layer \"" + r.layer + "\", which has " +
                  std::to_string(node_count(src)) + " node(s)");
    if (r.tensor != 0)
      throw Error(where + " refers to output " + std::to_string(r.tensor) + " of layer \"" + r.layer +
                  "\"; Kiln layers have one output");
    return src;
  };
  for (const Entry& en : entries)
    for (size_t k = 0; k < en.nodes.size(); ++k)
      for (const Ref& r : en.nodes[k]) check_ref(r, "layer \"" + en.name + "\" node " + std::to_string(k));

  // Call layers node by node as their inputs become available.
  Budget budget(limits);
  std::vector<size_t> next(entries.size(), 0);
  size_t remaining = 0;
  for (const Entry& en : entries) remaining += en.nodes.size();
  for (bool progress = true; progress && remaining > 0;) {
    progress = false;
    for (size_t i = 0; i < entries.size(); ++i) {
      Entry& en = entries[i];
      while (next[i] < en.nodes.size()) {
        std::vector<KerasTensor> ins;
        for (const Ref& r : en.nodes[next[i]]) {
          const Entry& src = entries[by_name.at(r.layer)];
          if (static_cast<size_t>(r.node) >= src.outputs.size()) break;
          ins.push_back(src.outputs[static_cast<size_t>(r.node)]);
        }
        if (ins.size() != en.nodes[next[i]].size()) break;
        budget.before_call(en.parsed, ins[0].shape());
        bool list = ins.size() > 1 || en.cls == "Concatenate";
        KerasTensor out = list ? en.parsed.layer(ins) : en.parsed.layer(ins[0]);
        Budget::after_call(out);
        en.outputs.push_back(out);
        ++next[i];
        --remaining;
        progress = true;
      }
    }
  }
  if (remaining > 0)
    for (size_t i = 0; i < entries.size(); ++i)
      if (next[i] < entries[i].nodes.size())
        throw Error(std::string(kWhat) + ": cannot build node " + std::to_string(next[i]) + " of layer \"" +
                    entries[i].name + "\": its inputs (e.g. layer \"" + entries[i].nodes[next[i]][0].layer +
                    "\") are never computed; the graph has a cycle");

  auto tensors = [&](const char* key, bool inputs) {
    std::vector<KerasTensor> out;
    for (const Ref& r : parse_ref_list(f, key)) {
      Entry& src = check_ref(r, std::string(kWhat) + ": \"" + key + "\"");
      if (inputs && src.cls != "InputLayer")
        throw Error(std::string(kWhat) + ": input_layers names \"" + r.layer + "\", which is a " + src.cls +
                    ", not an InputLayer");
      out.push_back(src.outputs.at(static_cast<size_t>(r.node)));
    }
    return out;
  };
  std::vector<KerasTensor> ins = tensors("input_layers", true), outs = tensors("output_layers", false);
  return Model(ins, outs, model_name);
}

Model sequential_from_config(const json& config, const JsonLimits& limits) {
  // Keras 2.0-2.2 wrote a Sequential config as the bare list of layers.
  json wrapped;
  const json* cfg = &config;
  if (config.is_array()) {
    wrapped = {{"layers", config}};
    cfg = &wrapped;
  }
  Fields f(*cfg, std::string(kWhat) + ": Sequential config");
  const json& layers = f.at("layers");
  if (!layers.is_array() || layers.empty()) f.fail("layers", "must be a non-empty list");
  if (static_cast<int64_t>(layers.size()) > limits.max_layers)
    f.fail("layers", "has " + std::to_string(layers.size()) + " layers, more than JsonLimits::max_layers");
  Sequential seq({}, f.str("name", "sequential"));
  std::optional<Dims> shape;  // of the running output
  Budget budget(limits);
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string where = std::string(kWhat) + ": layers[" + std::to_string(i) + "]";
    Fields e(layers[i], where);
    std::string cls = e.str("class_name");
    if (cls == "InputLayer") {
      if (i != 0) throw Error(where + ": an InputLayer can only be the first layer of a Sequential model");
      Fields c(e.at("config"), where + " (InputLayer) config");
      seq.add(make_input(c, c.str("name")));
      shape = seq.outputs()[0].shape();
      continue;
    }
    persistence::ParsedLayer p = persistence::layer_from_config(layers[i], where);
    if (!shape) {
      const std::vector<int64_t>* declared = p.layer->declared_input_shape();
      std::optional<Dims> built;
      if (!declared && f.has("build_input_shape"))
        built = persistence::batch_shape_from_json(f.at("build_input_shape"), f.where() + ": build_input_shape");
      if (!declared && !built)
        throw Error(where + ": layer \"" + p.layer.name() +
                    "\" is the first of a Sequential model but declares no input shape (batch_input_shape), and "
                    "there is no InputLayer or build_input_shape");
      if (built) {
        seq.add(Input(std::vector<int64_t>(built->begin() + 1, built->end()), {.name = p.layer.name() + "_input"}));
        shape = built;
      } else {
        shape = Dims{ir::kBatch};
        shape->insert(shape->end(), declared->begin(), declared->end());
      }
    }
    budget.before_call(p, *shape);
    seq.add(p.layer);
    Budget::after_call(seq.outputs()[0]);
    shape = seq.outputs()[0].shape();
  }
  return seq;
}

}  // namespace

std::string Model::to_json() const {
  const detail::Network& net = network();
  bool sequential = net.hide_input_layers;
  std::unordered_map<const CallNode*, int> node_index = model_node_indices(net);
  auto ref = [&](const KerasTensor& t) {
    return ordered_json::array({t.layer().name(), node_index.at(t.node().get()), t.tensor_index()});
  };

  ordered_json layers = ordered_json::array();
  for (const auto& l : net.layers) {
    std::vector<const CallNode*> nodes = net.nodes_of(*l);
    KILN_ASSERT(!nodes.empty(), "layer " + l->name() + " has no node in model " + net.name);
    ordered_json e = {{"class_name", l->class_name()}, {"config", persistence::layer_config(*l)}};
    if (!sequential) {
      e["name"] = l->name();
      ordered_json inbound = ordered_json::array();
      for (const CallNode* n : nodes) {
        if (n->is_input()) continue;
        ordered_json node = ordered_json::array();
        for (const KerasTensor& t : n->inputs) {
          ordered_json r = ref(t);
          r.push_back(ordered_json::object());  // call kwargs
          node.push_back(r);
        }
        inbound.push_back(node);
      }
      e["inbound_nodes"] = inbound;
    }
    layers.push_back(e);
  }

  ordered_json config = {{"name", net.name}};
  if (sequential) {
    config["layers"] = layers;
  } else {
    config["trainable"] = true;
    config["layers"] = layers;
    ordered_json ins = ordered_json::array(), outs = ordered_json::array();
    for (const KerasTensor& t : net.inputs) ins.push_back(ref(t));
    for (const KerasTensor& t : net.outputs) outs.push_back(ref(t));
    config["input_layers"] = ins;
    config["output_layers"] = outs;
  }
  ordered_json root = {{"class_name", sequential ? "Sequential" : "Functional"},
                       {"config", config},
                       {"keras_version", "2.13.1"},
                       {"backend", "tensorflow"}};
  return persistence::dump_python(root);
}

Model model_from_json(std::string_view text, const JsonLimits& limits) {
  json root = persistence::parse_json(text, limits, kWhat);
  Fields top(root, std::string(kWhat) + ": the top level");
  std::string cls = top.str("class_name");
  const json& config = top.at("config");
  if (cls == "Sequential") return sequential_from_config(config, limits);
  if (cls == "Functional" || cls == "Model") return functional_from_config(config, limits);
  throw Error(std::string(kWhat) + ": class_name \"" + cls +
              "\" is not a model; expected \"Functional\", \"Model\" or \"Sequential\"");
}

}  // namespace kiln
