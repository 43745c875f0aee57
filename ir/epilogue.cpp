// gemm_epilogues (see epilogue.h).
#include "ir/epilogue.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace kiln::ir {

namespace {

// The nodes reading each value (each once) and the graph's results.
struct Readers {
  std::unordered_map<const Value*, std::vector<const Node*>> of;
  std::unordered_set<const Value*> results;

  explicit Readers(const Graph& g) : results(g.results().begin(), g.results().end()) {
    for (const Node* n : g.nodes())
      for (const Value* v : n->operands) {
        auto& u = of[v];
        if (std::find(u.begin(), u.end(), n) == u.end()) u.push_back(n);
      }
  }

  // The one node that reads v, when v has exactly one reader and is no
  // result, and that node has one result (or is a max_pool2d_winners).
  const Node* sole(const Value* v) const {
    if (results.count(v)) return nullptr;
    auto it = of.find(v);
    if (it == of.end() || it->second.size() != 1) return nullptr;
    const Node* u = it->second[0];
    return u->results.size() == 1 || u->op == OpKind::MaxPool2DWinners ? u : nullptr;
  }
};

bool is_zero_constant(const Value* v) {
  return v->def && v->def->op == OpKind::Constant && v->type.dtype == DType::f32 && v->def->attrs.f("value") == 0.0;
}

bool is_positive_zero_constant(const Value* v) {
  return is_zero_constant(v) && !std::signbit(v->def->attrs.f("value"));
}

// u = add v, bias {broadcast_dims=[last]} with bias of shape [P], P = t's last dim.
bool is_bias_add(const Node& u, const Value* v, const TensorType& t, const std::function<bool(const Value*)>& outside) {
  return u.op == OpKind::Add && u.operands[0] == v && outside(u.operands[1]) && u.attrs.has("broadcast_dims") &&
         u.attrs.ints("broadcast_dims") == std::vector<int64_t>{t.rank() - 1} &&
         u.operands[1]->type.shape == std::vector<int64_t>{t.shape.back()};
}

bool is_activation(const Node& u) {
  return u.op == OpKind::Relu || u.op == OpKind::Sigmoid || u.op == OpKind::Tanh;
}

// The compare of u = select (compare m, 0 {dir="gt"}), v, +0 with m of type t
// read from outside and the compare read by u alone; else null.
const Node* mask_compare(const Node& u, const Value* v, const TensorType& t, const Readers& readers,
                         const std::function<bool(const Value*)>& outside) {
  if (u.op != OpKind::Select || u.operands[1] != v || !is_positive_zero_constant(u.operands[2])) return nullptr;
  const Node* cmp = u.operands[0]->def;
  if (!cmp || cmp->op != OpKind::Compare || readers.sole(cmp->results[0]) != &u) return nullptr;
  const bool gt_zero = cmp->attrs.s("dir") == "gt" && !cmp->attrs.has("broadcast_dims") &&
                       is_zero_constant(cmp->operands[1]) && cmp->operands[1]->type.rank() == 0;
  const Value* m = cmp->operands[0];
  return gt_zero && outside(m) && m->type == t ? cmp : nullptr;
}

// The epilogue chain after contraction c (possibly empty).
Epilogue match(const Node& c, const Readers& readers, const std::function<bool(const Value*)>& outside) {
  Epilogue ep;
  ep.contraction = &c;
  const TensorType& t = c.results[0]->type;
  const Value* v = c.results[0];
  const Node* u = readers.sole(v);
  auto step = [&](const Node* n) {
    ep.chain.push_back(n);
    v = n->results[0];
    u = readers.sole(v);
  };
  if (u && is_bias_add(*u, v, t, outside)) {
    ep.bias = u->operands[1];
    step(u);
  }
  if (u && is_activation(*u)) {
    ep.act = u;
    step(u);
  }
  if (u) {
    if (const Node* cmp = mask_compare(*u, v, t, readers, outside)) {
      ep.mask = cmp->operands[0];
      ep.mask_compare = cmp;
      step(u);
    }
  }
  if (u && (u->op == OpKind::MaxPool2D || u->op == OpKind::MaxPool2DWinners) && c.op == OpKind::Conv2D && !ep.mask) {
    ep.pool = u;
    if (u->op == OpKind::MaxPool2DWinners) ep.winners = u->results[1];
    step(u);
  }
  ep.out = v;
  return ep;
}

}  // namespace

bool has_gemm_epilogue(const Node& n) {
  return (n.op == OpKind::Matmul || n.op == OpKind::Conv2D || n.op == OpKind::Conv2DInputGrad) &&
         n.results[0]->type.dtype == DType::f32;
}

std::vector<const Node*> Epilogue::absorbed() const {
  std::vector<const Node*> out = chain;
  if (mask_compare) out.push_back(mask_compare);
  return out;
}

std::vector<Epilogue> gemm_epilogues(const Graph& g, const std::function<bool(const Value*)>& outside) {
  const Readers readers(g);
  std::vector<Epilogue> out;
  for (const Node* c : g.nodes()) {
    if (!has_gemm_epilogue(*c)) continue;
    Epilogue ep = match(*c, readers, outside);
    if (!ep.chain.empty()) out.push_back(std::move(ep));
  }
  return out;
}

}  // namespace kiln::ir
