// contraction_epilogues (see epilogue.h).
#include "codegen/epilogue.h"

#include "runtime/gemm.h"

namespace kiln::codegen {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

// runtime/gemm.h's code for the activation node (or none).
int32_t kiln_act(const Node* act) {
  if (!act) return KILN_ACT_NONE;
  if (act->op == OpKind::Relu) return KILN_ACT_RELU;
  if (act->op == OpKind::Sigmoid) return KILN_ACT_SIGMOID;
  KILN_ASSERT(act->op == OpKind::Tanh, "not an epilogue activation: " + std::string(ir::op_name(act->op)));
  return KILN_ACT_TANH;
}

}  // namespace

GraphEpilogues contraction_epilogues(const ir::Graph& g) {
  GraphEpilogues out;
  for (const ir::Epilogue& e : ir::gemm_epilogues(g, [](const Value* v) { return v->is_param(); })) {
    out.of[e.contraction] = ContractionEpilogue{e.bias, e.mask, kiln_act(e.act), e.pool, e.out, e.winners};
    for (const Node* n : e.absorbed()) out.absorbed.insert(n);
  }
  // Constants that only absorbed nodes read emit nothing either.
  std::unordered_map<const Value*, bool> only_absorbed_read;
  for (const Node* r : g.nodes())
    for (const Value* v : r->operands)
      if (v->def && v->def->op == OpKind::Constant) {
        bool& only = only_absorbed_read.emplace(v, true).first->second;
        only = only && out.absorbed.count(r);
      }
  for (const Value* v : g.results()) only_absorbed_read[v] = false;
  for (const auto& [v, only] : only_absorbed_read)
    if (only) out.absorbed.insert(v->def);
  return out;
}

std::string uncovered_members(const ir::Graph& body) {
  const GraphEpilogues e = contraction_epilogues(body);
  const Node* contraction = nullptr;
  std::string out;
  for (const Node* n : body.nodes()) {
    if (!contraction && ir::is_contraction(n->op)) {
      contraction = n;
      continue;
    }
    if (e.absorbed.count(n) || n->op == OpKind::Constant) continue;
    out += (out.empty() ? "%" : ", %") + n->results[0]->name + " (" + std::string(ir::op_name(n->op)) + ")";
  }
  return out;
}

}  // namespace kiln::codegen
