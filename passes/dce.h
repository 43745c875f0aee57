// dce: dead code elimination. A node is live when one of its results is used
// by a live node or is a result of its graph. Every op is pure (rng_uniform
// is a function of its seed), so a dead node can always go. A scan or fusion
// with some results unused stays whole (its body computes them together);
// bodies are cleaned of nodes that none of their results needs.
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Erases dead nodes from g and from every region body.
PassResult dce(ir::Graph& g);

}  // namespace kiln::passes
