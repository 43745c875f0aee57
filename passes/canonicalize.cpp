// canonicalize (see canonicalize.h): one function per identity, tried on every
// node until none fires. A rewrite returns the value that replaces the node's
// (single) result, or null when it does not apply.
#include "passes/canonicalize.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::AttrMap;
using ir::Dims;
using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

// The operand that survives `op(x, c)` is only a valid replacement when it has
// the result's type: add(f32[] x, f32[N,3] zeros) is a broadcast, not x.
Value* keep_if_same_type(const Node& n, Value* x) { return x->type == n.result()->type ? x : nullptr; }

bool no_broadcast_dims(const Node& n) { return !n.attrs.has("broadcast_dims"); }

// x + 0 -> x, 0 + x -> x   (exact except for the sign of a zero: -0 + 0 is +0,
// and the two compare equal; see canonicalize.h)
Value* add_zero(Graph&, Node& n) {
  if (n.op != OpKind::Add) return nullptr;
  for (int i : {0, 1})
    if (is_constant_equal(n.operands[i], 0.0)) return keep_if_same_type(n, n.operands[1 - i]);
  return nullptr;
}

// x - 0 -> x   (as add-zero: exact up to the sign of a zero)
Value* sub_zero(Graph&, Node& n) {
  if (n.op != OpKind::Sub || !is_constant_equal(n.operands[1], 0.0)) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// x * 1 -> x, 1 * x -> x
Value* mul_one(Graph&, Node& n) {
  if (n.op != OpKind::Mul) return nullptr;
  for (int i : {0, 1})
    if (is_constant_equal(n.operands[i], 1.0)) return keep_if_same_type(n, n.operands[1 - i]);
  return nullptr;
}

// x / 1 -> x
Value* div_one(Graph&, Node& n) {
  if (n.op != OpKind::Div || !is_constant_equal(n.operands[1], 1.0)) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// x ^ 1 -> x
Value* pow_one(Graph&, Node& n) {
  if (n.op != OpKind::Pow || !is_constant_equal(n.operands[1], 1.0)) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// neg(neg(x)) -> x
Value* neg_neg(Graph&, Node& n) {
  if (n.op != OpKind::Neg) return nullptr;
  Node* inner = n.operands[0]->def;
  if (!inner || inner->op != OpKind::Neg) return nullptr;
  return inner->operands[0];
}

// select(c, x, x) -> x
Value* select_same(Graph&, Node& n) {
  if (n.op != OpKind::Select || n.operands[1] != n.operands[2]) return nullptr;
  return n.operands[1];
}

// convert(x: T) to T -> x
Value* convert_same(Graph&, Node& n) {
  if (n.op != OpKind::Convert) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

bool is_identity_perm(const Dims& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// transpose(x, identity) -> x
Value* transpose_identity(Graph&, Node& n) {
  if (n.op != OpKind::Transpose || !is_identity_perm(n.attrs.ints("perm"))) return nullptr;
  return n.operands[0];
}

// transpose(transpose(x, p), q) -> transpose(x, r) with r[i] = p[q[i]]
Value* transpose_transpose(Graph& g, Node& n) {
  if (n.op != OpKind::Transpose) return nullptr;
  Node* inner = n.operands[0]->def;
  if (!inner || inner->op != OpKind::Transpose) return nullptr;
  const Dims& p = inner->attrs.ints("perm");
  const Dims& q = n.attrs.ints("perm");
  Dims r(q.size());
  for (size_t i = 0; i < q.size(); ++i) r[i] = p[q[i]];
  if (is_identity_perm(r)) return inner->operands[0];
  return g.add(OpKind::Transpose, {inner->operands[0]}, {{"perm", r}}, n.result()->name + ".perm");
}

// reshape(x) to x's own shape -> x
Value* reshape_same(Graph&, Node& n) {
  if (n.op != OpKind::Reshape) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// reshape(reshape(x, s1), s2) -> reshape(x, s2)
Value* reshape_reshape(Graph& g, Node& n) {
  if (n.op != OpKind::Reshape) return nullptr;
  Node* inner = n.operands[0]->def;
  if (!inner || inner->op != OpKind::Reshape) return nullptr;
  Value* x = inner->operands[0];
  if (x->type == n.result()->type) return x;
  return g.add(OpKind::Reshape, {x}, n.attrs, n.result()->name + ".flat");
}

// slice(x, axis, 0, dim) -> x
Value* slice_full(Graph&, Node& n) {
  if (n.op != OpKind::Slice) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// pad(x, axis, 0, 0) -> x
Value* pad_nothing(Graph&, Node& n) {
  if (n.op != OpKind::Pad) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// concat(x) -> x
Value* concat_single(Graph&, Node& n) {
  if (n.op != OpKind::Concat || n.operands.size() != 1) return nullptr;
  return n.operands[0];
}

// reduce_*(x, axes=[]) -> x
Value* reduce_no_axes(Graph&, Node& n) {
  if (!n.info().has(ir::kReduction) || !n.attrs.ints("axes").empty()) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// broadcast(x, shape, dims) to x's own type -> x
Value* broadcast_same(Graph&, Node& n) {
  if (n.op != OpKind::Broadcast) return nullptr;
  return keep_if_same_type(n, n.operands[0]);
}

// op(x, broadcast(y: f32[])) -> op(x, y): a rank-0 operand broadcasts by itself.
// Also op(broadcast(y: f32[]), x) -> op(y, x). (Binary elementwise ops only.)
Value* binary_scalar_broadcast(Graph& g, Node& n) {
  if (!n.info().has(ir::kBinary) || !no_broadcast_dims(n)) return nullptr;
  for (int i : {0, 1}) {
    Node* b = n.operands[i]->def;
    Value* other = n.operands[1 - i];
    if (!b || b->op != OpKind::Broadcast || b->operands[0]->type.rank() != 0) continue;
    if (other->type.shape != n.result()->type.shape) continue;  // the other side must carry the shape
    std::vector<Value*> ops = n.operands;
    ops[i] = b->operands[0];
    return g.add(n.op, ops, n.attrs, n.result()->name + ".scalar");
  }
  return nullptr;
}

// op(c: splat of shape S, x: S) -> op(c': f32[], x) when x carries the result
// shape: a rank-0 splat is what fusion inlines and CSE merges.
Value* binary_scalar_constant(Graph& g, Node& n) {
  if (!n.info().has(ir::kBinary) || !no_broadcast_dims(n)) return nullptr;
  for (int i : {0, 1}) {
    Value* c = n.operands[i];
    Value* other = n.operands[1 - i];
    if (!is_constant(c) || c->type.rank() == 0 || other->type.shape != n.result()->type.shape) continue;
    AttrMap a = c->def->attrs;
    a.set("shape", Dims{});
    Value* scalar = g.add(OpKind::Constant, {}, a, c->name + ".scalar");
    std::vector<Value*> ops = n.operands;
    ops[i] = scalar;
    return g.add(n.op, ops, n.attrs, n.result()->name + ".s");
  }
  return nullptr;
}

// c op x -> x op c for commutative ops, so CSE sees one form.
Value* constant_to_rhs(Graph& g, Node& n) {
  if (!n.info().has(ir::kCommutative) || !no_broadcast_dims(n)) return nullptr;
  if (!is_constant(n.operands[0]) || is_constant(n.operands[1])) return nullptr;
  return g.add(n.op, {n.operands[1], n.operands[0]}, n.attrs, n.result()->name + ".c");
}

// compare(x, 0, gt) -> compare(relu(x), 0, gt) when x also feeds a relu:
// relu(x) > 0 exactly when x > 0 (relu(NaN) is NaN, and NaN > 0 is false
// either way). relu's backward mask then reads the activation the forward
// pass keeps anyway, and the pre-activation dies in the forward pass.
Value* relu_mask_from_output(Graph& g, Node& n) {
  if (n.op != OpKind::Compare || n.attrs.s("dir") != "gt" || !no_broadcast_dims(n)) return nullptr;
  Value* x = n.operands[0];
  if (!is_constant_equal(n.operands[1], 0.0) || (x->def && x->def->op == OpKind::Relu)) return nullptr;
  const UseMap uses = users(g);
  for (Node* u : uses.at(x))
    if (u->op == OpKind::Relu && u->result()->type == x->type)
      return g.add(OpKind::Compare, {u->result(), n.operands[1]}, n.attrs, n.result()->name + ".relu");
  return nullptr;
}

bool is_positive_zero(const Value* v) { return is_constant_equal(v, 0.0) && !std::signbit(constant_value(v)); }

// Whether n is a max pool's gradient: max_pool2d_grad(x, dy) or
// max_pool2d_scatter(winners, dy), dy its operand 1 either way.
bool is_pool_grad(const Node* n) {
  return n && (n->op == OpKind::MaxPool2DGrad || n->op == OpKind::MaxPool2DScatter);
}

// Whether pool nodes a and b have the same window, strides and padding.
bool same_window(const Node& a, const Node& b) {
  for (const char* k : {"window", "strides", "padding"})
    if (a.attrs.ints(k) != b.attrs.ints(k)) return false;
  return true;
}

// The first node of `op` that reads x as its operand 0 with pool node n's
// window, or null.
Node* pool_node_of(Graph& g, const Value* x, OpKind op, const Node& n) {
  const UseMap uses = users(g);
  for (Node* u : uses.at(x))
    if (u->op == op && u->operands[0] == x && same_window(*u, n)) return u;
  return nullptr;
}

// The pooled output that pool gradient `grad` belongs to, when `grad`'s
// cells are those of y: max_pool2d_grad(y, .) with a max_pool2d(y) of the
// same window in the graph, or max_pool2d_scatter of max_pool2d_winners(y)'s
// winners (its result 0). Null otherwise.
Value* pooled_of(Graph& g, const Node& grad, const Value* y) {
  if (grad.op == OpKind::MaxPool2DScatter) {
    const Node* w = grad.operands[0]->def;
    return w && w->op == OpKind::MaxPool2DWinners && w->operands[0] == y && same_window(*w, grad) ? w->results[0]
                                                                                                 : nullptr;
  }
  if (grad.operands[0] != y) return nullptr;
  const Node* pool = pool_node_of(g, y, OpKind::MaxPool2D, grad);
  return pool ? pool->results[0] : nullptr;
}

// select(y > 0, G(g), 0) -> G(select(p > 0, g, 0)) where G is a pool
// gradient whose cells are y's and p is that pool's output (pooled_of): the
// gradient lands only on window winners, and a winner's y is its window's p,
// so the mask moves to the pooled (smaller) tensor. Exact: a cell gets the
// same sum of the same g in the same order, or +0.
Value* relu_mask_before_max_pool_grad(Graph& g, Node& n) {
  if (n.op != OpKind::Select || !is_positive_zero(n.operands[2])) return nullptr;
  Node* mask = n.operands[0]->def;
  Node* grad = n.operands[1]->def;
  if (!mask || mask->op != OpKind::Compare || mask->attrs.s("dir") != "gt" || !no_broadcast_dims(*mask) ||
      !is_constant_equal(mask->operands[1], 0.0) || mask->operands[1]->type.rank() != 0)
    return nullptr;
  Value* y = mask->operands[0];
  if (!is_pool_grad(grad) || g.use_count(grad->result()) != 1) return nullptr;
  Value* p = pooled_of(g, *grad, y);
  if (!p) return nullptr;
  Value* dy = grad->operands[1];
  Value* p_pos = g.add(OpKind::Compare, {p, mask->operands[1]}, mask->attrs, dy->name + ".mask");
  AttrMap zeros_attrs = n.operands[2]->def->attrs;
  zeros_attrs.set("shape", dy->type.shape);
  Value* zeros = g.add(OpKind::Constant, {}, zeros_attrs, dy->name + ".zeros");
  Value* masked = g.add(OpKind::Select, {p_pos, dy, zeros}, {}, dy->name + ".masked");
  return g.add(grad->op, {grad->operands[0], masked}, grad->attrs, n.result()->name + ".pooled_mask");
}

// max-pool-winners, in two steps (each rewrites only the node it fires on):
// max_pool2d(x) -> max_pool2d_winners(x)'s result 0 when the graph holds a
// max_pool2d_grad(x, .) of the same window, and then max_pool2d_grad(x, dy)
// -> max_pool2d_scatter(w, dy) with w those winners. The gradient reads one
// byte per pooled cell instead of x, and a conv whose result only the pool
// then reads runs with the pool as one call in training too (ir/epilogue.h).
// Exact: both gradients put each window's dy on the same cell, window after
// window. (Windows of at most 256 cells: a u8 holds the winner.)
Value* max_pool_winners(Graph& g, Node& n) {
  if (n.op != OpKind::MaxPool2D || n.attrs.ints("window")[0] * n.attrs.ints("window")[1] > 256) return nullptr;
  Value* x = n.operands[0];
  if (!pool_node_of(g, x, OpKind::MaxPool2DGrad, n)) return nullptr;
  const std::string& name = n.result()->name;
  return g.add_node(OpKind::MaxPool2DWinners, {x}, n.attrs, nullptr, {name + ".pooled", name + ".winners"})->results[0];
}

Value* max_pool_grad_from_winners(Graph& g, Node& n) {
  if (n.op != OpKind::MaxPool2DGrad) return nullptr;
  Value* x = n.operands[0];
  Node* winners = pool_node_of(g, x, OpKind::MaxPool2DWinners, n);
  if (!winners) return nullptr;
  AttrMap a = n.attrs;
  a.set("input_shape", x->type.shape);
  return g.add(OpKind::MaxPool2DScatter, {winners->results[1], n.operands[1]}, a, n.result()->name + ".scatter");
}

// reduce_sum(G(x, dy), axes) -> reduce_sum(dy, axes) for a pool gradient G
// (is_pool_grad) when the
// axes include both spatial ones (1 and 2): each window hands its dy to
// exactly one cell of x (the shape rules keep a real cell in every window)
// and every other cell is 0, so both sum the same values per image and
// channel. A conv's bias gradient then reads the pooled tensor, not the
// full-size one. The double sum adds them in another order: the result may
// differ from the old graph's in the last bit (both engines run the new one).
Value* sum_of_max_pool_grad(Graph& g, Node& n) {
  if (n.op != OpKind::ReduceSum) return nullptr;
  Node* grad = n.operands[0]->def;
  if (!is_pool_grad(grad)) return nullptr;
  bool rows = false, cols = false;
  for (int64_t a : n.attrs.ints("axes")) {
    const int64_t axis = a < 0 ? a + 4 : a;
    rows |= axis == 1;
    cols |= axis == 2;
  }
  if (!rows || !cols) return nullptr;
  Value* sum = g.add(OpKind::ReduceSum, {grad->operands[1]}, n.attrs, n.result()->name + ".pooled");
  // Scheduled before the first reader of dy or of the gradient, not last
  // (sort_topologically places each node at the latest where it stands), so
  // dy's last reader stays the gradient and dy's buffer is free before the
  // full-size tensors that follow.
  std::vector<Node*> order = g.nodes();
  order.pop_back();
  auto reads = [&](const Node* m) {
    return std::any_of(m->operands.begin(), m->operands.end(),
                       [&](const Value* v) { return v == grad->operands[1] || v == grad->result(); });
  };
  order.insert(std::find_if(order.begin(), order.end(), reads), sum->def);
  g.set_order(std::move(order));
  return sum;
}

// add(pad(a), add(pad(b), ...)) -> concat(a, b, ...) when the zero pads are
// along one axis and their ranges tile it (the gradient of slicing a tensor
// into parts, as an LSTM's four gates): every element is one part's value
// plus zeros, which is that value (up to the sign of a zero, as add-zero).
// One copy instead of a fill and a copy per part and a sum of them all.
Value* pads_to_concat(Graph& g, Node& n) {
  if (n.op != OpKind::Add || !no_broadcast_dims(n)) return nullptr;
  std::vector<const Node*> pads;
  std::function<bool(const Value*)> collect = [&](const Value* v) {
    const Node* d = v->def;
    if (!d || v->type != n.result()->type) return false;
    if (d->op == OpKind::Pad) {
      pads.push_back(d);
      return true;
    }
    return d->op == OpKind::Add && no_broadcast_dims(*d) && collect(d->operands[0]) && collect(d->operands[1]);
  };
  if (!collect(n.operands[0]) || !collect(n.operands[1])) return nullptr;
  const int64_t rank = n.result()->type.rank();
  auto axis = [&](const Node* p) {
    const int64_t a = p->attrs.i("axis");
    return a < 0 ? a + rank : a;
  };
  std::sort(pads.begin(), pads.end(), [](const Node* x, const Node* y) { return x->attrs.i("low") < y->attrs.i("low"); });
  int64_t at = 0;  // where the next part must start
  std::vector<Value*> parts;
  for (const Node* p : pads) {
    if (axis(p) != axis(pads[0]) || p->attrs.i("low") != at) return nullptr;
    at += p->operands[0]->type.shape[static_cast<size_t>(axis(p))];
    parts.push_back(p->operands[0]);
  }
  if (at != n.result()->type.shape[static_cast<size_t>(axis(pads[0]))]) return nullptr;
  return g.add(OpKind::Concat, parts, {{"axis", axis(pads[0])}}, n.result()->name + ".concat");
}

using Rewrite = Value* (*)(Graph&, Node&);
struct Named {
  const char* name;
  Rewrite fn;
};
constexpr Named kRewrites[] = {
    {"add-zero", add_zero},
    {"sub-zero", sub_zero},
    {"mul-one", mul_one},
    {"div-one", div_one},
    {"pow-one", pow_one},
    {"neg-neg", neg_neg},
    {"select-same", select_same},
    {"convert-same", convert_same},
    {"transpose-identity", transpose_identity},
    {"transpose-transpose", transpose_transpose},
    {"reshape-same", reshape_same},
    {"reshape-reshape", reshape_reshape},
    {"slice-full", slice_full},
    {"pad-nothing", pad_nothing},
    {"concat-single", concat_single},
    {"reduce-no-axes", reduce_no_axes},
    {"broadcast-same", broadcast_same},
    {"binary-scalar-broadcast", binary_scalar_broadcast},
    {"binary-scalar-constant", binary_scalar_constant},
    {"constant-to-rhs", constant_to_rhs},
    {"relu-mask-from-output", relu_mask_from_output},
    {"relu-mask-before-max-pool-grad", relu_mask_before_max_pool_grad},
    {"sum-of-max-pool-grad", sum_of_max_pool_grad},
    {"max-pool-winners", max_pool_winners},
    {"max-pool-winners", max_pool_grad_from_winners},
    {"pads-to-concat", pads_to_concat},
};

RewriteStats canonicalize_graph(Graph& g) {
  RewriteStats stats;
  for (int round = 0; round < 16; ++round) {
    int fired = 0;
    std::vector<Node*> snapshot = g.nodes();
    for (Node* n : snapshot) {
      if (n->results.size() != 1 || g.use_count(n->result()) == 0) continue;
      for (const Named& r : kRewrites) {
        Value* to = r.fn(g, *n);
        if (!to) continue;
        KILN_ASSERT(to->type == n->result()->type, std::string("canonicalize: ") + r.name + " changed a type");
        replace_and_erase(g, n->result(), to);
        stats.add(r.name);
        ++fired;
        break;
      }
    }
    if (!fired) break;
    sort_topologically(g);
  }
  return stats;
}

}  // namespace

PassResult canonicalize(Graph& g) {
  RewriteStats s = for_each_graph(g, canonicalize_graph);
  return {s.total() > 0, s.str()};
}

}  // namespace kiln::passes
