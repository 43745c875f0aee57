// fold (see fold.h): one function per foldable op family; each returns the
// splat value of the node's result, or nothing.
#include "passes/fold.h"

#include <optional>

#include "passes/rewrite.h"
#include "runtime/interpreter.h"

namespace kiln::passes {
namespace {

using ir::AttrMap;
using ir::Dims;
using ir::DType;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

bool all_constant(const Node& n) {
  for (const Value* v : n.operands)
    if (!is_constant(v)) return false;
  return !n.operands.empty();
}

Tensor scalar(DType t, double v) {
  Tensor s = Tensor::zeros({}, t);
  switch (t) {
    case DType::f32: s.data()[0] = static_cast<float>(v); break;
    case DType::i32: s.data_i32()[0] = static_cast<int32_t>(v); break;
    case DType::i1: s.data_i1()[0] = v != 0; break;
    case DType::u8: s.data_u8()[0] = static_cast<uint8_t>(v); break;
  }
  return s;
}

double value_of(const Tensor& s) {
  switch (s.dtype()) {
    case DType::f32: return s.data()[0];
    case DType::i32: return s.data_i32()[0];
    case DType::i1: return s.data_i1()[0];
    case DType::u8: return s.data_u8()[0];
  }
  return 0;
}

// op(c1, c2, ...) for elementwise op: the op on rank-0 operands, by the interpreter.
std::optional<double> fold_elementwise(const Node& n) {
  if (!n.info().has(ir::kElementwise)) return std::nullopt;
  Graph tmp("fold");
  std::vector<Value*> ps;
  std::vector<Tensor> args;
  for (const Value* v : n.operands) {
    ps.push_back(tmp.add_param("p" + std::to_string(ps.size()), {v->type.dtype, {}}));
    args.push_back(scalar(v->type.dtype, constant_value(v)));
  }
  AttrMap a = n.attrs;
  a.erase("broadcast_dims");
  try {
    Node* one = tmp.add_node(n.op, ps, a);
    return value_of(runtime::eval_node(*one, args, 1).at(0));
  } catch (const Error&) {
    return std::nullopt;  // e.g. integer division by zero: an error at run time, not now
  }
}

// broadcast / reshape / transpose / slice (c) = c;  pad(0) = 0;  concat(c, c, ...) = c
std::optional<double> fold_layout(const Node& n) {
  double c = constant_value(n.operands[0]);
  if (n.op == OpKind::Broadcast || n.op == OpKind::Reshape || n.op == OpKind::Transpose || n.op == OpKind::Slice)
    return c;
  if (n.op == OpKind::Pad && c == 0) return c;
  if (n.op != OpKind::Concat) return std::nullopt;
  for (const Value* v : n.operands)
    if (constant_value(v) != c) return std::nullopt;
  return c;
}

// reduce_max(c) = reduce_mean(c) = c;  reduce_sum(c) over k elements = k * c
std::optional<double> fold_reduction(const Node& n) {
  if (!n.info().has(ir::kReduction) || n.operands[0]->type.dtype != DType::f32) return std::nullopt;
  int64_t k = 1;
  for (int64_t ax : n.attrs.ints("axes")) {
    int64_t d = n.operands[0]->type.shape[ax < 0 ? ax + n.operands[0]->type.rank() : ax];
    if (ir::is_batch_dim(d)) return std::nullopt;
    k *= d;
  }
  if (k == 0 || k > (int64_t{1} << 29)) return std::nullopt;
  double c = static_cast<float>(constant_value(n.operands[0]));
  if (n.op == OpKind::ReduceSum) return static_cast<double>(static_cast<float>(static_cast<double>(k) * c));
  return c;
}

RewriteStats fold_graph(Graph& g) {
  RewriteStats stats;
  for (Node* n : std::vector<Node*>(g.nodes())) {
    if (n->op == OpKind::Constant || n->results.size() != 1 || !all_constant(*n)) continue;
    if (g.use_count(n->result()) == 0) continue;
    std::optional<double> v = fold_elementwise(*n);
    const char* what = "elementwise";
    if (!v) v = fold_layout(*n), what = "layout";
    if (!v) v = fold_reduction(*n), what = "reduction";
    if (!v) continue;
    const ir::TensorType& t = n->result()->type;
    AttrMap a{{"value", *v}, {"shape", t.shape}};
    if (t.dtype != DType::f32) a.set("dtype", t.dtype);
    Value* c = g.add(OpKind::Constant, {}, a, n->result()->name);
    replace_and_erase(g, n->result(), c);
    stats.add(what);
  }
  if (stats.total()) sort_topologically(g);
  return stats;
}

}  // namespace

PassResult fold(Graph& g) {
  RewriteStats s;
  for (int round = 0; round < 16; ++round) {
    RewriteStats r = for_each_graph(g, fold_graph);
    if (!r.total()) break;
    s.merge(r);
  }
  return {s.total() > 0, s.str("folds")};
}

}  // namespace kiln::passes
