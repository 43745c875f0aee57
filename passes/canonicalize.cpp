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

// select(y > 0, max_pool2d_grad(y, g), 0) -> max_pool2d_grad(y, select(p > 0, g, 0))
// where p = max_pool2d(y) with the same window is already in the graph: the
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
  if (!grad || grad->op != OpKind::MaxPool2DGrad || grad->operands[0] != y || g.use_count(grad->result()) != 1)
    return nullptr;
  const UseMap uses = users(g);
  for (Node* pool : uses.at(y)) {
    if (pool->op != OpKind::MaxPool2D || pool->attrs != grad->attrs) continue;
    Value* dy = grad->operands[1];
    Value* p_pos = g.add(OpKind::Compare, {pool->result(), mask->operands[1]}, mask->attrs, dy->name + ".mask");
    AttrMap zeros_attrs = n.operands[2]->def->attrs;
    zeros_attrs.set("shape", dy->type.shape);
    Value* zeros = g.add(OpKind::Constant, {}, zeros_attrs, dy->name + ".zeros");
    Value* masked = g.add(OpKind::Select, {p_pos, dy, zeros}, {}, dy->name + ".masked");
    return g.add(OpKind::MaxPool2DGrad, {y, masked}, grad->attrs, n.result()->name + ".pooled_mask");
  }
  return nullptr;
}

// reduce_sum(max_pool2d_grad(x, dy), axes) -> reduce_sum(dy, axes) when the
// axes include both spatial ones (1 and 2): each window hands its dy to
// exactly one cell of x (the shape rules keep a real cell in every window)
// and every other cell is 0, so both sum the same values per image and
// channel. A conv's bias gradient then reads the pooled tensor, not the
// full-size one. The double sum adds them in another order: the result may
// differ from the old graph's in the last bit (both engines run the new one).
Value* sum_of_max_pool_grad(Graph& g, Node& n) {
  if (n.op != OpKind::ReduceSum) return nullptr;
  Node* grad = n.operands[0]->def;
  if (!grad || grad->op != OpKind::MaxPool2DGrad) return nullptr;
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
