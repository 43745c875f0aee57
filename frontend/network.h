// The layer graph of a Model, as Keras's Functional._map_graph_network builds
// it: the call nodes between the inputs and the outputs, their depths, and the
// layers in Keras's order. Shared by the model, summary, plot and lowering code.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kiln/layer.h"

namespace kiln::detail {

struct Network {
  std::string name;
  std::vector<KerasTensor> inputs, outputs;
  // model.layers: by decreasing depth, ties by first visit of a DFS from the outputs.
  std::vector<std::shared_ptr<Layer>> layers;
  bool hide_input_layers = false;  // Sequential: model.layers leaves out the InputLayer
  bool force_sequential_layout = false;
  // Nodes grouped by depth (deepest first); within a depth in Keras's dict order.
  std::vector<std::vector<const CallNode*>> nodes_by_depth;
  std::unordered_set<const CallNode*> nodes;

  bool contains(const CallNode* n) const { return nodes.count(n) != 0; }
  // The layer's nodes that belong to this model, by node index.
  std::vector<const CallNode*> nodes_of(const Layer& layer) const;
  // Nodes in an order where every node comes after its inputs (deepest first).
  std::vector<const CallNode*> execution_order() const;
  // model.layers as the user sees them (hide_input_layers applied).
  std::vector<std::shared_ptr<Layer>> visible_layers() const;
};

// Builds the network; throws kiln::Error for a disconnected graph, a non-Input model input,
// or a duplicate layer name.
std::shared_ptr<Network> map_graph_network(const std::vector<KerasTensor>& inputs,
                                           const std::vector<KerasTensor>& outputs, const std::string& name);

}  // namespace kiln::detail
