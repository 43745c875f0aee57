// contraction_epilogues (see epilogue.h).
#include "codegen/epilogue.h"

#include <algorithm>
#include <cmath>

#include "runtime/gemm.h"

namespace kiln::codegen {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

using Users = std::unordered_map<const Value*, std::vector<const Node*>>;

bool is_zero_constant(const Value* v) {
  return v->def && v->def->op == OpKind::Constant && v->type.dtype == ir::DType::f32 &&
         v->def->attrs.f("value") == 0.0;
}

bool is_positive_zero_constant(const Value* v) {
  return is_zero_constant(v) && !std::signbit(v->def->attrs.f("value"));
}

// The one node that reads v, when v has exactly one reader and is no result.
const Node* sole_user(const Users& users, const std::unordered_set<const Value*>& results, const Value* v) {
  if (results.count(v)) return nullptr;
  auto it = users.find(v);
  if (it == users.end() || it->second.size() != 1) return nullptr;
  const Node* u = it->second[0];
  return u->results.size() == 1 ? u : nullptr;
}

bool has_epilogue_kernel(const Node& n) {
  return n.op == OpKind::Matmul || n.op == OpKind::Conv2D || n.op == OpKind::Conv2DInputGrad;
}

}  // namespace

GraphEpilogues contraction_epilogues(const ir::Graph& g) {
  GraphEpilogues out;
  Users users;
  for (const Node* n : g.nodes())
    for (const Value* v : n->operands) {
      auto& u = users[v];
      if (std::find(u.begin(), u.end(), n) == u.end()) u.push_back(n);
    }
  const std::unordered_set<const Value*> results(g.results().begin(), g.results().end());
  for (const Node* c : g.nodes()) {
    if (!has_epilogue_kernel(*c) || c->results[0]->type.dtype != ir::DType::f32) continue;
    const ir::TensorType& t = c->results[0]->type;
    ContractionEpilogue ep;
    std::vector<const Node*> chain;
    const Value* v = c->results[0];
    const Node* u = sole_user(users, results, v);
    if (u && u->op == OpKind::Add && u->operands[0] == v && u->operands[1]->is_param() &&
        u->attrs.has("broadcast_dims") && u->attrs.ints("broadcast_dims") == std::vector<int64_t>{t.rank() - 1} &&
        u->operands[1]->type.shape == std::vector<int64_t>{t.shape.back()}) {
      ep.bias = u->operands[1];
      chain.push_back(u);
      v = u->results[0];
      u = sole_user(users, results, v);
    }
    const int32_t act = !u                             ? KILN_ACT_NONE
                        : u->op == OpKind::Relu    ? KILN_ACT_RELU
                        : u->op == OpKind::Sigmoid ? KILN_ACT_SIGMOID
                        : u->op == OpKind::Tanh    ? KILN_ACT_TANH
                                                   : KILN_ACT_NONE;
    if (act != KILN_ACT_NONE) {
      ep.act = act;
      chain.push_back(u);
      v = u->results[0];
      u = sole_user(users, results, v);
    }
    if (u && u->op == OpKind::Select && u->operands[1] == v && is_positive_zero_constant(u->operands[2])) {
      const Node* cmp = u->operands[0]->def;
      if (cmp && cmp->op == OpKind::Compare && cmp->attrs.s("dir") == "gt" && !cmp->attrs.has("broadcast_dims") &&
          cmp->operands[0]->is_param() && cmp->operands[0]->type == t && is_zero_constant(cmp->operands[1]) &&
          cmp->operands[1]->type.rank() == 0) {
        ep.mask = cmp->operands[0];
        chain.push_back(u);
        v = u->results[0];
      }
    }
    if (chain.empty()) continue;
    ep.out = v;
    out.of[c] = ep;
    out.absorbed.insert(chain.begin(), chain.end());
  }
  // Compares and constants that only absorbed nodes read emit nothing either.
  for (bool grew = true; grew;) {
    grew = false;
    for (const Node* n : g.nodes()) {
      if (out.absorbed.count(n) || (n->op != OpKind::Compare && n->op != OpKind::Constant)) continue;
      if (results.count(n->results[0])) continue;
      auto it = users.find(n->results[0]);
      if (it == users.end()) continue;
      bool all = true;
      for (const Node* r : it->second) all = all && out.absorbed.count(r);
      if (all) out.absorbed.insert(n), grew = true;
    }
  }
  return out;
}

std::string uncovered_members(const ir::Graph& body) {
  const GraphEpilogues e = contraction_epilogues(body);
  const Node* contraction = nullptr;
  std::string out;
  for (const Node* n : body.nodes()) {
    const bool is_contraction = has_epilogue_kernel(*n) || n->op == OpKind::Conv2DFilterGrad;
    if (!contraction && is_contraction) {
      contraction = n;
      continue;
    }
    if (e.absorbed.count(n) || n->op == OpKind::Constant) continue;
    out += (out.empty() ? "%" : ", %") + n->results[0]->name + " (" + std::string(ir::op_name(n->op)) + ")";
  }
  return out;
}

}  // namespace kiln::codegen
