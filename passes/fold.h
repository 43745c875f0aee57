// fold: constant folding. Every constant in the IR is a splat (one value, any
// shape), so a node whose operands are all constants folds to a constant when
// its result is a splat too:
//   - elementwise ops: evaluated once, on rank-0 operands, by the reference
//     interpreter's own kernel (runtime::eval_node), so folding rounds exactly
//     as running the graph would;
//   - broadcast, reshape, transpose, slice of a splat; pad of a zero splat;
//     concat of equal splats;
//   - reduce_max / reduce_mean of an f32 splat over a static, non-empty set of
//     elements (the value itself), reduce_sum over k <= 2^29 of them (k * c,
//     exact in the interpreter's double accumulator, rounded once).
// Nothing whose value depends on N (a reduction over a batch axis) or on a
// seed (rng_uniform) is folded. Integer division by zero is left to run time.
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Folds constants in g (and every region body) until nothing folds.
PassResult fold(ir::Graph& g);

}  // namespace kiln::passes
