// cse: common subexpression elimination by structural hashing.
//
// Two nodes are the same expression when they have the same op, the same
// operands (in either order for a commutative op without broadcast_dims), equal
// attributes, the same result types and structurally equal bodies (the same
// nodes over the same parameter positions; names do not matter). The later
// node's uses move to the earlier one. Nodes of the same op with different
// attributes never merge, so two rng_uniform with different seeds stay apart
// (two with the same seed and shape are the same tensor, and do merge).
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Merges equal expressions in g and in every region body.
PassResult cse(ir::Graph& g);

// Whether two graphs compute the same function structurally (names ignored).
bool same_structure(const ir::Graph& a, const ir::Graph& b);

}  // namespace kiln::passes
