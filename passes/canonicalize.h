// canonicalize: algebraic identities and layout folding, to a fixpoint.
//
// Each rewrite is a small function headed by the identity it applies; it
// fires only when the replacement has the exact type of the value it replaces
// (a rewrite never drops a broadcast) and computes the same numbers, so the
// optimized graph gives the same results as the input on the interpreter. The
// one liberty: x + 0 -> x and x - 0 -> x may keep a -0 where the original gave
// +0 (they compare equal), as LLVM does under `nsz`.
// Deliberately absent: x * 0 -> 0 and x - x -> 0 (wrong for NaN and inf), and
// any reassociation (it changes rounding).
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Rewrites g (and every region body) in place until no identity applies.
PassResult canonicalize(ir::Graph& g);

}  // namespace kiln::passes
