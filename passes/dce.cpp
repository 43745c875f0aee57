// dce (see dce.h): one walk from the last node back, counting live uses.
#include "passes/dce.h"

#include <unordered_map>

#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

RewriteStats dce_graph(Graph& g) {
  RewriteStats stats;
  std::unordered_map<const Value*, int> uses;
  for (const Node* n : g.nodes())
    for (const Value* v : n->operands) ++uses[v];
  for (const Value* v : g.results()) ++uses[v];
  std::vector<Node*> order = g.nodes();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    bool live = false;
    for (const Value* r : n->results) live = live || uses[r] > 0;
    if (live) continue;
    for (const Value* v : n->operands) --uses[v];
    g.erase_node(n);
    stats.add(std::string(ir::op_name(n->op)));
  }
  return stats;
}

}  // namespace

PassResult dce(Graph& g) {
  RewriteStats s = for_each_graph(g, dce_graph);
  return {s.total() > 0, s.str("erased")};
}

}  // namespace kiln::passes
