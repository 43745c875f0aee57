// Contraction epilogues in codegen (no LLVM here): the chains ir/epilogue.h
// defines, with bias and mask read from graph parameters (in a region body:
// the region's inputs), become the GEMM's KilnEpilogue (runtime/gemm.h),
// applied to each register tile as it is stored, so their values are never
// written and read back. The chain's last value is where the contraction
// writes; the nodes it absorbs (and constants only they read) emit nothing
// and get no buffer of their own. Shared by the planner (plan.cpp) and the
// lowering (emit_graph.cpp).
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/epilogue.h"
#include "ir/graph.h"

namespace kiln::codegen {

struct ContractionEpilogue {
  const ir::Value* bias = nullptr;  // graph parameter, or null
  const ir::Value* mask = nullptr;  // graph parameter, or null
  int32_t act = 0;                  // runtime/gemm.h's KILN_ACT_*
  const ir::Node* pool = nullptr;   // a max_pool2d(_winners) of the conv's (activated) result, or null
  const ir::Value* out = nullptr;   // the chain's last value
  const ir::Value* winners = nullptr;  // max_pool2d_winners' winners, or null: the call's second result
};

struct GraphEpilogues {
  std::unordered_map<const ir::Node*, ContractionEpilogue> of;  // per contraction with an epilogue
  std::unordered_set<const ir::Node*> absorbed;                  // nodes that emit nothing
};

// The epilogues in g (any graph function, region body or not).
GraphEpilogues contraction_epilogues(const ir::Graph& g);

// The members of a contraction region's body that neither are its
// contraction nor its epilogue absorbs, as "%name (op)" joined by ", ";
// empty when the region is one GEMM call with its epilogue.
std::string uncovered_members(const ir::Graph& body);

}  // namespace kiln::codegen
