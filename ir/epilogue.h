// Contraction epilogues: what a contraction's GEMM can apply to each register
// tile as it stores it (runtime/gemm.h, KilnEpilogue), defined once for the
// fuse pass (what may join a contraction's region) and for codegen (which
// nodes the GEMM call absorbs). The chain, in this order, each step optional:
//   %a = add %c, %bias {broadcast_dims=[last]}   bias: [P], read from outside
//   %r = relu %a (or sigmoid, tanh)
//   %s = select %k, %r, +0                       relu's backward mask, with
//   %k = compare %m, 0 {dir="gt"}                m: of %c's type, read from outside
//   %p = max_pool2d %r                           after a conv2d, without a mask:
//                                                the GEMM pools bands of its rows
//                                                (or %p, %w = max_pool2d_winners %r:
//                                                also the winners)
// after %c = matmul / conv2d / conv2d_input_grad of f32 (conv2d_filter_grad
// has no epilogue). Each step's input must have no other reader and not be a
// graph result, and the mask's compare must be read by its select alone.
// "Read from outside" is the caller's: a body parameter in codegen (the
// region's input), any non-constant value in fuse (one the region will take
// as an input; constants are copied into bodies).
#pragma once

#include <functional>
#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

// A contraction whose GEMM takes an epilogue: matmul, conv2d and
// conv2d_input_grad computing f32.
bool has_gemm_epilogue(const Node& n);

struct Epilogue {
  const Node* contraction = nullptr;
  const Value* bias = nullptr;         // or null
  const Node* act = nullptr;           // the relu/sigmoid/tanh node, or null
  const Value* mask = nullptr;         // m, or null
  const Node* mask_compare = nullptr;  // %k, or null
  const Node* pool = nullptr;          // the max_pool2d or max_pool2d_winners, or null
  const Value* winners = nullptr;      // max_pool2d_winners' winners, or null
  std::vector<const Node*> chain;      // the add, activation, select and max_pool2d present, in order
  const Value* out = nullptr;          // the chain's last value (the pool's result 0)

  // The chain's nodes and the mask's compare: what the GEMM call absorbs.
  std::vector<const Node*> absorbed() const;
};

// The epilogue of every contraction in g (not in region bodies) that has a
// non-empty one, in graph order. `outside(v)` says whether the bias or mask
// operand v is read from outside (see above).
std::vector<Epilogue> gemm_epilogues(const Graph& g, const std::function<bool(const Value*)>& outside);

}  // namespace kiln::ir
