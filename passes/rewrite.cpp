// Helpers shared by the optimization passes (see rewrite.h).
#include "passes/rewrite.h"

#include <algorithm>
#include <unordered_set>

namespace kiln::passes {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool is_constant(const Value* v) { return v->def && v->def->op == OpKind::Constant; }

double constant_value(const Value* v) {
  KILN_ASSERT(is_constant(v), "constant_value of a non-constant %" + v->name);
  return v->def->attrs.f("value");
}

bool is_constant_equal(const Value* v, double x) { return is_constant(v) && constant_value(v) == x; }

UseMap users(const Graph& g) {
  UseMap m;
  for (Node* n : g.nodes())
    for (const Value* v : n->operands) m[v].push_back(n);
  return m;
}

bool is_graph_result(const Graph& g, const Value* v) {
  return std::find(g.results().begin(), g.results().end(), v) != g.results().end();
}

void sort_topologically(Graph& g) {
  std::vector<Node*> order;
  order.reserve(g.nodes().size());
  std::unordered_set<const Node*> placed, open;
  // Iterative DFS: a node is placed once every operand's producer is placed.
  for (Node* root : g.nodes()) {
    if (placed.count(root)) continue;
    std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
    open.insert(root);
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->operands.size()) {
        Node* p = n->operands[i++]->def;
        if (!p || placed.count(p)) continue;
        KILN_ASSERT(!open.count(p), "sort_topologically: the graph has a cycle through %" + p->results[0]->name);
        open.insert(p);
        stack.push_back({p, 0});
        continue;
      }
      open.erase(n);
      if (placed.insert(n).second) order.push_back(n);
      stack.pop_back();
    }
  }
  g.set_order(std::move(order));
}

void replace_and_erase(Graph& g, Value* from, Value* to) {
  g.replace_all_uses(from, to);
  Node* n = from->def;
  if (!n) return;
  for (Value* r : n->results)
    if (g.use_count(r) != 0) return;
  g.erase_node(n);
}

void RewriteStats::add(const std::string& what, int n) {
  total_ += n;
  for (auto& [k, c] : counts_)
    if (k == what) {
      c += n;
      return;
    }
  counts_.push_back({what, n});
}

void RewriteStats::merge(const RewriteStats& o) {
  for (const auto& [k, c] : o.counts_) add(k, c);
}

std::string RewriteStats::str(const std::string& noun) const {
  std::string s = std::to_string(total_) + " " + noun;
  if (counts_.empty()) return s;
  s += " (";
  for (size_t i = 0; i < counts_.size(); ++i)
    s += (i ? ", " : "") + counts_[i].first + " " + std::to_string(counts_[i].second);
  return s + ")";
}

RewriteStats for_each_scan(Graph& g, const std::function<RewriteStats(Graph&, Node&)>& rewrite) {
  RewriteStats stats;
  std::vector<Node*> scans;
  for (Node* n : g.nodes())
    if (n->op == ir::OpKind::Scan) scans.push_back(n);
  for (Node* s : scans) stats.merge(rewrite(g, *s));
  if (stats.total() > 0) sort_topologically(g);
  return stats;
}

RewriteStats for_each_graph(Graph& g, const std::function<RewriteStats(Graph&)>& per_graph) {
  RewriteStats s;
  for (Node* n : g.nodes())
    if (n->body) s.merge(for_each_graph(*n->body, per_graph));
  s.merge(per_graph(g));
  return s;
}

}  // namespace kiln::passes
