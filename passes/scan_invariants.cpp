// scan-invariants (see scan_invariants.h).
#include "passes/scan_invariants.h"

#include <map>

#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::Value;

// The position of v among scan s's invariant params, or -1.
int invariant_index(const Node& s, const Value* v) {
  const size_t first = static_cast<size_t>(s.attrs.i("num_carry") + s.attrs.i("num_seq"));
  if (!v->is_param() || v->owner != s.body.get() || static_cast<size_t>(v->index) < first) return -1;
  return v->index;
}

// The invariant param of s's body standing for transpose(param i) ([a, b] ->
// [b, a]), computed in g before s: made once per param.
Value* transposed(Graph& g, Node& s, size_t i, std::map<size_t, Value*>& made) {
  if (auto it = made.find(i); it != made.end()) return it->second;
  Value* w = s.operands[i];
  Value* t = g.add(ir::OpKind::Transpose, {w}, {{"perm", ir::Dims{1, 0}}}, w->name + ".t");
  s.operands.push_back(t);
  return made[i] = s.body->add_param(s.body->params()[i]->name + ".t", t->type);
}

// Rewrites scan s of g; returns the rewrites by kind.
RewriteStats hoist(Graph& g, Node& s) {
  RewriteStats stats;
  Graph& body = *s.body;
  std::map<size_t, Value*> made;
  for (Node* n : std::vector<Node*>(body.nodes())) {
    if (n->op == ir::OpKind::Transpose && invariant_index(s, n->operands[0]) >= 0 &&
        n->attrs.ints("perm") == ir::Dims{1, 0}) {
      replace_and_erase(body, n->results[0], transposed(g, s, static_cast<size_t>(n->operands[0]->index), made));
      stats.add("transpose");
    } else if (n->op == ir::OpKind::Matmul && n->attrs.b("transpose_b") && n->operands[1]->type.rank() == 2 &&
               invariant_index(s, n->operands[1]) >= 0) {
      n->operands[1] = transposed(g, s, static_cast<size_t>(n->operands[1]->index), made);  // same result type
      n->attrs.erase("transpose_b");
      stats.add("matmul");
    }
  }
  return stats;
}

}  // namespace

PassResult scan_invariants(Graph& g) {
  RewriteStats s = for_each_graph(g, [](Graph& graph) { return for_each_scan(graph, hoist); });
  return {s.total() > 0, s.str("hoisted")};
}

}  // namespace kiln::passes
