// autodiff: the reverse-mode driver. Finds the nodes on a path from the wrt
// values to the seeded outputs, walks them in reverse topological order, calls
// each op's VJP rule (autodiff_rules.cpp) and sums fan-out with `add`.
#include "passes/autodiff.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "passes/autodiff_rules.h"

namespace kiln::passes {
namespace detail {

using namespace kiln::ir;

class Backprop {
 public:
  explicit Backprop(Graph& g) : g_(g) {}

  std::vector<Value*> run(const std::vector<Value*>& outputs, const std::vector<Value*>& cotangents,
                          const std::vector<Value*>& wrt);

  Graph& graph() { return g_; }
  void add_part(Value* x, Value* v) {
    KILN_ASSERT(v->type == x->type,
                "autodiff: cotangent " + v->type.to_string() + " for %" + x->name + " of type " + x->type.to_string());
    parts_[x].push_back(v);
  }
  // grad.<x> for the only contribution x gets, grad.<x>.part for one of several.
  std::string part_name(const Value* x) const {
    auto it = expected_.find(x);
    bool several = it != expected_.end() && it->second > 1;
    return "grad." + x->name + (several ? ".part" : "");
  }

 private:
  Graph& g_;
  std::unordered_map<const Value*, std::vector<Value*>> parts_;
  std::unordered_map<const Value*, int> expected_;

  // The cotangent of v: the sum of its contributions (null if none).
  Value* total(const Value* v);
};

Value* Backprop::total(const Value* v) {
  auto it = parts_.find(v);
  if (it == parts_.end() || it->second.empty()) return nullptr;
  std::vector<Value*>& ps = it->second;
  // Balanced pairwise sum, the last add named grad.<v>.
  while (ps.size() > 1) {
    std::vector<Value*> next;
    for (size_t i = 0; i + 1 < ps.size(); i += 2) {
      bool last = ps.size() == 2;
      next.push_back(g_.add(OpKind::Add, {ps[i], ps[i + 1]}, {}, "grad." + v->name + (last ? "" : ".part")));
    }
    if (ps.size() % 2) next.push_back(ps.back());
    ps = std::move(next);
  }
  return ps[0];
}

std::vector<Value*> Backprop::run(const std::vector<Value*>& outputs, const std::vector<Value*>& cotangents,
                                  const std::vector<Value*>& wrt) {
  KILN_ASSERT(outputs.size() == cotangents.size(), "append_vjp: one cotangent per output");
  auto mine = [&](const Value* v, const char* what) {
    KILN_ASSERT(v && v->owner == &g_, std::string("autodiff: ") + what + " does not belong to graph @" + g_.name);
  };
  for (size_t i = 0; i < outputs.size(); ++i) {
    mine(outputs[i], "output");
    if (!cotangents[i]) continue;
    mine(cotangents[i], "cotangent");
    if (cotangents[i]->type != outputs[i]->type)
      throw Error("autodiff: cotangent " + cotangents[i]->type.to_string() + " does not match output %" +
                  outputs[i]->name + " of type " + outputs[i]->type.to_string());
  }
  for (const Value* w : wrt) mine(w, "wrt value");

  // Values that depend on a wrt value through differentiable f32 edges.
  std::unordered_set<const Value*> active;
  for (const Value* w : wrt)
    if (w->type.dtype == DType::f32) active.insert(w);
  const std::vector<Node*> nodes = g_.nodes();  // a snapshot: scan rules rewrite the order
  for (const Node* n : nodes) {
    if (n->info().has(kNoGrad)) continue;
    bool any = std::any_of(n->operands.begin(), n->operands.end(), [&](const Value* v) { return active.count(v); });
    if (!any) continue;
    for (const Value* r : n->results)
      if (r->type.dtype == DType::f32) active.insert(r);
  }
  // Values the seeded outputs depend on.
  std::unordered_set<const Value*> needed;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (cotangents[i]) needed.insert(outputs[i]);
  std::vector<Node*> relevant;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    bool on_path = false, is_needed = false;
    for (const Value* r : n->results) {
      if (!needed.count(r)) continue;
      is_needed = true;
      on_path |= active.count(r) != 0;
    }
    if (!is_needed) continue;
    for (const Value* v : n->operands) needed.insert(v);
    if (on_path) relevant.push_back(n);  // reverse topological order
  }

  // Expected contribution counts, for names only.
  for (size_t i = 0; i < outputs.size(); ++i)
    if (cotangents[i] && active.count(outputs[i])) ++expected_[outputs[i]];
  for (const Node* n : relevant)
    for (const Value* v : n->operands)
      if (active.count(v)) ++expected_[v];

  for (size_t i = 0; i < outputs.size(); ++i)
    if (cotangents[i] && active.count(outputs[i])) parts_[outputs[i]].push_back(cotangents[i]);

  for (Node* n : relevant) {
    std::vector<Value*> dys;
    bool any = false;
    for (const Value* r : n->results) {
      dys.push_back(total(r));
      any |= dys.back() != nullptr;
    }
    if (!any) continue;
    std::vector<bool> wants;
    for (const Value* v : n->operands) wants.push_back(active.count(v) != 0);
    VjpContext ctx(*this, *n, std::move(dys), std::move(wants));
    apply_vjp(ctx);
  }

  std::vector<Value*> grads;
  for (Value* w : wrt) {
    Value* dw = w->type.dtype == DType::f32 ? total(w) : nullptr;
    if (!dw) {
      AttrMap a{{"value", 0.0}, {"shape", w->type.shape}};
      if (w->type.dtype != DType::f32) a.set("dtype", w->type.dtype);
      dw = g_.add(OpKind::Constant, {}, std::move(a), "grad." + w->name);
    }
    grads.push_back(dw);
  }
  return grads;
}

void drop_dead(Graph& g) {
  std::vector<Node*> nodes = g.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    bool used = std::any_of(n->results.begin(), n->results.end(), [&](Value* r) { return g.use_count(r) > 0; });
    if (!used) g.erase_node(n);
  }
}

// --- VjpContext ---

Graph& VjpContext::graph() const { return bp_.graph(); }

std::string VjpContext::temp_name(OpKind k) const { return "grad." + y()->name + "." + std::string(op_name(k)); }

std::string VjpContext::grad_name(int i) const { return bp_.part_name(x(i)); }

Value* VjpContext::op(OpKind k, std::vector<Value*> ops, AttrMap a) {
  return graph().add(k, std::move(ops), std::move(a), temp_name(k));
}

Value* VjpContext::constant(double v, const Dims& shape, DType t) {
  AttrMap a{{"value", v}, {"shape", shape}};
  if (t != DType::f32) a.set("dtype", t);
  return graph().add(OpKind::Constant, {}, std::move(a), temp_name(OpKind::Constant));
}

std::pair<Value*, AttrMap> VjpContext::ew_operands(Value* a, Value* b) {
  const Dims& out = y()->type.shape;
  auto fits = [&](const Value* v) { return v->type.shape == out || v->type.rank() == 0; };
  AttrMap at;
  if (fits(a) && fits(b)) return {a, at};
  const auto& bd = node.attrs.ints("broadcast_dims");
  if (!fits(a)) a = op(OpKind::Broadcast, {a}, {{"shape", out}, {"dims", bd}});
  if (!fits(b)) at.set("broadcast_dims", bd);
  return {a, at};
}

Value* VjpContext::ew(OpKind k, Value* a, Value* b) {
  auto [a2, at] = ew_operands(a, b);
  return op(k, {a2, b}, std::move(at));
}

Value* VjpContext::unbroadcast(int i, Value* v, const std::string& name) {
  const TensorType& want = x(i)->type;
  if (v->type == want) return v;
  Dims keep;  // the axes of v that operand i maps onto
  if (want.rank() != 0) {
    KILN_ASSERT(i == 1 && node.attrs.has("broadcast_dims") && v->type.shape == y()->type.shape,
                "autodiff: cannot reduce " + v->type.to_string() + " to " + want.to_string() + " for " +
                    std::string(node.info().name));
    keep = node.attrs.ints("broadcast_dims");
  }
  Dims axes;
  for (int64_t d = 0; d < v->type.rank(); ++d)
    if (std::find(keep.begin(), keep.end(), d) == keep.end()) axes.push_back(d);
  return graph().add(OpKind::ReduceSum, {v}, {{"axes", axes}}, name);
}

void VjpContext::contribute(int i, Value* v) {
  if (wants(i)) bp_.add_part(x(i), v);
}

void VjpContext::grad(int i, Value* v) {
  if (!wants(i)) return;
  bp_.add_part(x(i), unbroadcast(i, v, grad_name(i)));
}

void VjpContext::grad(int i, OpKind k, std::vector<Value*> ops, AttrMap a) {
  if (!wants(i)) return;
  std::vector<TensorType> types;
  for (const Value* v : ops) types.push_back(v->type);
  bool exact = infer_types(k, types, a, nullptr).at(0) == x(i)->type;
  Value* v = graph().add(k, std::move(ops), std::move(a), exact ? grad_name(i) : temp_name(k));
  grad(i, v);
}

void VjpContext::grad_ew(int i, OpKind k, Value* a, Value* b) {
  if (!wants(i)) return;
  auto [a2, at] = ew_operands(a, b);
  grad(i, k, {a2, b}, std::move(at));
}

}  // namespace detail

using namespace kiln::ir;

std::vector<Value*> append_vjp(Graph& g, const std::vector<Value*>& outputs, const std::vector<Value*>& cotangents,
                               const std::vector<Value*>& wrt) {
  detail::Backprop bp(g);
  return bp.run(outputs, cotangents, wrt);
}

std::vector<Value*> append_gradients(Graph& g, Value* loss, const std::vector<Value*>& wrt) {
  KILN_ASSERT(loss && loss->owner == &g, "append_gradients: the loss does not belong to graph @" + g.name);
  if (loss->type != f32({}))
    throw Error("autodiff: the loss %" + loss->name + " must be a rank-0 f32, got " + loss->type.to_string() +
                " (reduce it to a scalar first, e.g. with reduce_mean)");
  Value* seed = g.add(OpKind::Constant, {}, {{"value", 1.0}, {"shape", Dims{}}}, "grad." + loss->name + ".seed");
  return append_vjp(g, {loss}, {seed}, wrt);
}

std::unique_ptr<Graph> autodiff(const Graph& g, const std::vector<int>& wrt_params, int loss_result) {
  if (loss_result < 0 || loss_result >= static_cast<int>(g.results().size()))
    throw Error("autodiff: loss result " + std::to_string(loss_result) + " is out of range; @" + g.name + " has " +
                std::to_string(g.results().size()) + " result(s)");
  std::unique_ptr<Graph> out = g.clone();
  std::vector<Value*> wrt;
  for (int p : wrt_params) {
    if (p < 0 || p >= static_cast<int>(out->params().size()))
      throw Error("autodiff: parameter index " + std::to_string(p) + " is out of range; @" + g.name + " has " +
                  std::to_string(out->params().size()) + " parameter(s)");
    wrt.push_back(out->params()[static_cast<size_t>(p)]);
  }
  std::vector<Value*> results = out->results();
  std::vector<Value*> grads = append_gradients(*out, results[static_cast<size_t>(loss_result)], wrt);
  results.insert(results.end(), grads.begin(), grads.end());
  out->set_results(std::move(results));
  return out;
}

}  // namespace kiln::passes
