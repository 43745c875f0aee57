// Keras's Functional._map_graph_network, step for step:
//   1. DFS from each output (in order), inputs of a node in order: post-order list of nodes and
//      the first-visit index of each layer.
//   2. Walk that list backwards assigning depths: a node's parents get at least depth + 1, and
//      every node of a layer gets the layer's largest depth so far.
//   3. Layers sorted by decreasing depth, ties by first-visit index.
//   4. Check that every node's inputs are computable from the model inputs ("Graph disconnected")
//      and that layer names are unique.
#include "network.h"

#include <algorithm>
#include <map>

#include "layer_util.h"

namespace kiln::detail {
namespace {

// A dict that remembers insertion order, like Python's.
template <class K>
class OrderedDict {
 public:
  bool has(K k) const { return index_.count(k) != 0; }
  int get(K k, int dflt) const {
    auto it = index_.find(k);
    return it == index_.end() ? dflt : items_[it->second].second;
  }
  void set(K k, int v) {
    auto it = index_.find(k);
    if (it != index_.end()) {
      items_[it->second].second = v;
      return;
    }
    index_[k] = items_.size();
    items_.push_back({k, v});
  }
  const std::vector<std::pair<K, int>>& items() const { return items_; }

 private:
  std::vector<std::pair<K, int>> items_;
  std::unordered_map<K, size_t> index_;
};

struct MapState {
  std::unordered_set<const CallNode*> finished, in_progress;
  std::vector<const CallNode*> post_order;
  std::unordered_map<const Layer*, int> layer_index;
  std::unordered_map<const Layer*, std::shared_ptr<Layer>> owner;
  std::unordered_map<const CallNode*, std::shared_ptr<CallNode>> node_owner;
};

void build_map(const KerasTensor& t, MapState& st) {
  const CallNode* node = t.node().get();
  if (st.finished.count(node)) return;
  if (st.in_progress.count(node))
    throw Error("The tensor of layer \"" + node->layer->name() + "\" is part of a cycle.");
  const Layer* layer = node->layer.get();
  if (!st.layer_index.count(layer)) {
    st.layer_index[layer] = static_cast<int>(st.layer_index.size());
    st.owner[layer] = node->layer;
  }
  st.node_owner[node] = t.node();
  st.in_progress.insert(node);
  for (const KerasTensor& in : node->inputs) build_map(in, st);
  st.finished.insert(node);
  st.in_progress.erase(node);
  st.post_order.push_back(node);
}

std::string describe_tensor(const KerasTensor& t) {
  return "KerasTensor(shape=" + t.shape_string() + ", created by layer '" + t.layer().name() + "')";
}

}  // namespace

std::vector<const CallNode*> Network::nodes_of(const Layer& layer) const {
  std::vector<const CallNode*> out;
  for (const auto& depth : nodes_by_depth)
    for (const CallNode* n : depth)
      if (n->layer.get() == &layer) out.push_back(n);
  std::sort(out.begin(), out.end(), [](const CallNode* a, const CallNode* b) { return a->index < b->index; });
  return out;
}

std::vector<const CallNode*> Network::execution_order() const {
  std::vector<const CallNode*> out;
  for (const auto& depth : nodes_by_depth) out.insert(out.end(), depth.begin(), depth.end());
  return out;
}

std::vector<std::shared_ptr<Layer>> Network::visible_layers() const {
  if (!hide_input_layers) return layers;
  std::vector<std::shared_ptr<Layer>> out;
  for (const auto& l : layers)
    if (l->class_name() != "InputLayer") out.push_back(l);
  return out;
}

std::shared_ptr<Network> map_graph_network(const std::vector<KerasTensor>& inputs,
                                           const std::vector<KerasTensor>& outputs, const std::string& name) {
  auto net = std::make_shared<Network>();
  net->name = name;
  net->inputs = inputs;
  net->outputs = outputs;
  if (outputs.empty()) throw Error("Model \"" + name + "\" needs at least one output tensor.");
  for (const KerasTensor& t : inputs) {
    if (!t.defined()) throw Error("Model \"" + name + "\": an input is an empty KerasTensor.");
    if (!t.node()->is_input())
      throw Error("Input tensors to a Model must come from `kiln::Input`. Received: " + describe_tensor(t) +
                  " (missing previous layer metadata) in model \"" + name + "\".");
  }
  for (const KerasTensor& t : outputs)
    if (!t.defined()) throw Error("Model \"" + name + "\": an output is an empty KerasTensor.");

  MapState st;
  for (const KerasTensor& t : outputs) build_map(t, st);

  OrderedDict<const CallNode*> node_depth;
  OrderedDict<const Layer*> layer_depth;
  for (auto it = st.post_order.rbegin(); it != st.post_order.rend(); ++it) {
    const CallNode* node = *it;
    if (!node_depth.has(node)) node_depth.set(node, 0);
    int depth = std::max(node_depth.get(node, 0), layer_depth.get(node->layer.get(), 0));
    layer_depth.set(node->layer.get(), depth);
    node_depth.set(node, depth);
    for (const KerasTensor& in : node->inputs) {
      const CallNode* dep = in.node().get();
      node_depth.set(dep, std::max(depth + 1, node_depth.get(dep, 0)));
    }
  }
  for (const KerasTensor& t : inputs) {
    const Layer* l = t.node()->layer.get();
    if (!layer_depth.has(l)) {
      layer_depth.set(l, 0);
      st.layer_index[l] = -1;
      st.owner[l] = t.node()->layer;
      node_depth.set(t.node().get(), 0);
      st.node_owner[t.node().get()] = t.node();
    }
  }

  int max_depth = 0;
  for (const auto& [n, d] : node_depth.items()) max_depth = std::max(max_depth, d);
  for (const auto& [l, d] : layer_depth.items()) max_depth = std::max(max_depth, d);
  net->nodes_by_depth.assign(static_cast<size_t>(max_depth + 1), {});
  for (const auto& [n, d] : node_depth.items()) {
    net->nodes_by_depth[static_cast<size_t>(max_depth - d)].push_back(n);
    net->nodes.insert(n);
  }
  std::vector<std::vector<const Layer*>> layers_by_depth(static_cast<size_t>(max_depth + 1));
  for (const auto& [l, d] : layer_depth.items()) layers_by_depth[static_cast<size_t>(max_depth - d)].push_back(l);
  for (auto& group : layers_by_depth) {
    std::stable_sort(group.begin(), group.end(),
                     [&](const Layer* a, const Layer* b) { return st.layer_index[a] < st.layer_index[b]; });
    for (const Layer* l : group) net->layers.push_back(st.owner[l]);
  }

  // Every node's inputs must be computable from the model's inputs. An Input that is not one of
  // them is reported at its own layer, naming it.
  std::unordered_set<const CallNode*> computable;
  std::vector<std::string> accessed;
  auto accessed_str = [&] {
    std::string s = "[";
    for (size_t i = 0; i < accessed.size(); ++i) s += (i ? ", '" : "'") + accessed[i] + "'";
    return s + "]";
  };
  for (const auto& depth : net->nodes_by_depth)
    for (const CallNode* node : depth) {
      if (node->is_input()) {
        bool given =
            std::any_of(inputs.begin(), inputs.end(), [&](const KerasTensor& t) { return t.node().get() == node; });
        if (!given)
          throw Error("Graph disconnected: cannot obtain value for tensor " +
                      describe_tensor(KerasTensor(st.node_owner.at(node), 0)) + " at layer \"" + node->layer->name() +
                      "\". The following previous layers were accessed without issue: " + accessed_str() +
                      ". Pass every Input that the outputs depend on to Model(inputs, outputs).");
      } else {
        for (const KerasTensor& in : node->inputs)
          if (!computable.count(in.node().get()))
            throw Error("Graph disconnected: cannot obtain value for tensor " + describe_tensor(in) + " at layer \"" +
                        node->layer->name() +
                        "\". The following previous layers were accessed without issue: " + accessed_str());
      }
      computable.insert(node);
      accessed.push_back(node->layer->name());
    }

  std::map<std::string, int> counts;
  for (const auto& l : net->layers) ++counts[l->name()];
  for (const auto& l : net->layers)
    if (counts[l->name()] > 1)
      throw Error("The name \"" + l->name() + "\" is used " + std::to_string(counts[l->name()]) +
                  " times in the model \"" + name + "\". All layer names should be unique.");
  return net;
}

}  // namespace kiln::detail
