// scan-invariants: a scan body's work on its invariants alone runs once,
// before the scan. A matmul by a transposed invariant (an LSTM backward
// step's dz x U^T) reads a transpose of it computed before the scan, as a new
// invariant, instead of transposing U at every step (the inline small matmul
// packs a transposed b on each call, a per-step fixed cost that made small
// row blocks slow, codegen's emit_scan); a transpose of an invariant in a body
// (the former, one scan level in) moves out the same way. The products sum
// the same terms in the same order (the GEMM contract), so the bits are the same.
#pragma once

#include "passes/pass_manager.h"

namespace kiln::passes {

// Hoists those transposes out of every scan in g (and in region bodies).
PassResult scan_invariants(ir::Graph& g);

}  // namespace kiln::passes
