// Contraction epilogues (no LLVM here): element-wise ops right after a
// matmul/conv2d/conv2d_input_grad that the GEMM applies to each register tile
// as it stores it (runtime/gemm.h, KilnEpilogue), so their values are never
// written and read back. The chain, in this order, each step optional:
//   %a = add %c, %bias {broadcast_dims=[last]}   bias: a graph parameter [P]
//   %r = relu %a (or sigmoid, tanh)
//   %s = select (compare %m, 0 {dir="gt"}), %r, +0  m: a parameter of %c's type
// Each step's input must have no other reader and not be a graph result. The
// chain's last value is where the contraction writes; the nodes it absorbs
// (and constants and compares only they read) emit nothing and get no buffer
// of their own. Shared by the planner (plan.cpp) and the lowering (emit_graph.cpp).
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ir/graph.h"

namespace kiln::codegen {

struct ContractionEpilogue {
  const ir::Value* bias = nullptr;  // graph parameter, or null
  const ir::Value* mask = nullptr;  // graph parameter, or null
  int32_t act = 0;                  // runtime/gemm.h's KILN_ACT_*
  const ir::Value* out = nullptr;   // the chain's last value
};

struct GraphEpilogues {
  std::unordered_map<const ir::Node*, ContractionEpilogue> of;  // per contraction with an epilogue
  std::unordered_set<const ir::Node*> absorbed;                  // nodes that emit nothing
};

GraphEpilogues contraction_epilogues(const ir::Graph& g);

// The members of a contraction region's body that neither are its
// contraction nor its epilogue absorbs, as "%name (op)" joined by ", ";
// empty when the region is one GEMM call with its epilogue.
std::string uncovered_members(const ir::Graph& body);

}  // namespace kiln::codegen
