// How a fusion region maps onto one loop nest (no LLVM here).
//
// A `loop` region's elementwise members all compute the same shape, and a
// `reduction` region's chain computes the shape its closing reduction reads:
// that shape is the region's iteration space. Every member is then one scalar
// element generator evaluated at each point of the space (emit_fusion.cpp),
// and every read of a body parameter is a strided access into the
// parameter's buffer: a full-shape operand contiguous, a rank-0 operand with
// stride 0, a `broadcast_dims` operand with stride 0 along the dims it lacks.
// Values computed inside the region are never stored: a member reads them as
// SSA values of the same point.
//
// A region this cannot describe (a contraction region; a member read through
// a broadcast of another member) keeps the call of its body as a graph
// function of per-node kernels, and `why_not` says why.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "codegen/plan.h"
#include "ir/graph.h"

namespace kiln::codegen {

// One distinct strided read of a body parameter.
struct RegionRead {
  size_t param = 0;          // index of the body parameter (= the fusion's operand)
  std::vector<Sym> strides;  // per dim of the iteration space, in elements
};

struct RegionNest {
  std::string why_not;                  // empty: the region is one loop nest
  ir::TensorType space;                 // the iteration space
  const ir::Node* reduction = nullptr;  // a reduction region's closing reduction
  std::vector<RegionRead> reads;
  // Per body node, per operand: the index in `reads` of a parameter operand, else -1.
  std::unordered_map<const ir::Node*, std::vector<int>> read_of;

  bool nested() const { return why_not.empty(); }
};

// The loop nest of a fusion node (or why it has none).
RegionNest region_nest(const ir::Node& fusion);

// Floats in the widest vector a loop nest runs on (AVX-512's <16 x float>):
// the unit in which a view's rows are whole (rows_read_in_place) and the
// rows a packed nest takes at a time (emit_fusion.cpp).
constexpr int64_t kVectorFloats = 16;

// Whether a loop region reads rows of `width` elements an image stride apart
// (a view, GraphPlan::views) as fast as contiguous ones: its nest then runs
// per row, 16-float vectors along it, so a row must be whole vectors or long
// enough (8 vectors or more) that its masked last vector idles at most 1/8 of
// the lanes. Narrower rows are read packed (packs_narrow_rows) or copied.
bool rows_read_in_place(int64_t width);

// Whether loop region r can read views of narrow rows packed (emit_fusion.cpp):
// its space is [N, w] (a plain N, a static w that rows_read_in_place rejects)
// and it reads every operand whole or as a scalar, so that a block of rows
// is one flat run of elements once its views' rows are copied together.
bool packs_narrow_rows(const RegionNest& r);

// Strides (per dim of `space`) at which elementwise node n reads operand i:
// contiguous when it has space's shape, 0 for a rank-0 operand, mapped by
// `broadcast_dims` for a broadcast rhs; nullopt when it fits none of these.
std::optional<std::vector<Sym>> operand_strides(const ir::Node& n, size_t i, const ir::TensorType& space);

}  // namespace kiln::codegen
