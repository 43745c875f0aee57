// cse (see cse.h): a hash of (op, operands, attributes, result types) buckets
// candidates; the exact comparison decides.
#include "passes/cse.h"

#include <functional>
#include <unordered_map>

#include "ir/printer.h"
#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

bool swappable(const Node& n) {
  return n.info().has(ir::kCommutative) && n.operands.size() == 2 && !n.attrs.has("broadcast_dims");
}

// Operands in a canonical order: a commutative pair sorted by address.
std::vector<const Value*> key_operands(const Node& n) {
  std::vector<const Value*> ops(n.operands.begin(), n.operands.end());
  if (swappable(n) && std::less<const Value*>()(ops[1], ops[0])) std::swap(ops[0], ops[1]);
  return ops;
}

size_t hash_node(const Node& n) {
  size_t h = std::hash<int>()(static_cast<int>(n.op));
  auto mix = [&](size_t x) { h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
  for (const Value* v : key_operands(n)) mix(std::hash<const Value*>()(v));
  mix(std::hash<std::string>()(ir::format_attrs(n)));
  for (const Value* r : n.results) mix(std::hash<std::string>()(r->type.to_string()));
  return h;
}

bool same_node(const Node& a, const Node& b) {
  if (a.op != b.op || a.attrs != b.attrs || a.results.size() != b.results.size()) return false;
  for (size_t i = 0; i < a.results.size(); ++i)
    if (a.results[i]->type != b.results[i]->type) return false;
  if (key_operands(a) != key_operands(b)) return false;
  if (!a.body != !b.body) return false;
  return !a.body || same_structure(*a.body, *b.body);
}

RewriteStats cse_graph(Graph& g) {
  RewriteStats stats;
  std::unordered_multimap<size_t, Node*> seen;
  for (Node* n : std::vector<Node*>(g.nodes())) {
    size_t h = hash_node(*n);
    Node* twin = nullptr;
    auto [lo, hi] = seen.equal_range(h);
    for (auto it = lo; it != hi && !twin; ++it)
      if (same_node(*it->second, *n)) twin = it->second;
    if (!twin) {
      seen.emplace(h, n);
      continue;
    }
    for (size_t i = 0; i < n->results.size(); ++i) g.replace_all_uses(n->results[i], twin->results[i]);
    g.erase_node(n);
    stats.add(std::string(ir::op_name(n->op)));
  }
  return stats;
}

}  // namespace

bool same_structure(const Graph& a, const Graph& b) {
  if (a.params().size() != b.params().size() || a.nodes().size() != b.nodes().size() ||
      a.results().size() != b.results().size())
    return false;
  std::unordered_map<const Value*, const Value*> map;  // a's values -> b's
  for (size_t i = 0; i < a.params().size(); ++i) {
    if (a.params()[i]->type != b.params()[i]->type) return false;
    map[a.params()[i]] = b.params()[i];
  }
  for (size_t k = 0; k < a.nodes().size(); ++k) {
    const Node& x = *a.nodes()[k];
    const Node& y = *b.nodes()[k];
    if (x.op != y.op || x.attrs != y.attrs || x.operands.size() != y.operands.size() ||
        x.results.size() != y.results.size() || !x.body != !y.body)
      return false;
    for (size_t i = 0; i < x.operands.size(); ++i)
      if (map.at(x.operands[i]) != y.operands[i]) return false;
    for (size_t i = 0; i < x.results.size(); ++i) {
      if (x.results[i]->type != y.results[i]->type) return false;
      map[x.results[i]] = y.results[i];
    }
    if (x.body && !same_structure(*x.body, *y.body)) return false;
  }
  for (size_t i = 0; i < a.results().size(); ++i)
    if (map.at(a.results()[i]) != b.results()[i]) return false;
  return true;
}

PassResult cse(Graph& g) {
  RewriteStats s = for_each_graph(g, cse_graph);
  return {s.total() > 0, s.str("merged")};
}

}  // namespace kiln::passes
