// fuse: groups elementwise chains, the reductions that consume them, and the
// epilogues of contractions into `fusion` regions (ops.def), one kernel each.
//
// Grouping walks the nodes in order, XLA-style producer-into-consumer:
//   - a matmul / conv2d / conv2d_*_grad starts a "contraction" group, which
//     takes only what its GEMM epilogue absorbs (ir/epilogue.h: bias add,
//     relu/sigmoid/tanh, relu's backward mask and its compare), so that
//     codegen runs the region as one GEMM call; anything else that reads the
//     contraction goes to a loop or reduction group (one loop nest);
//   - an elementwise node joins the groups that produce its full-shape operands
//     (same iteration shape, no reduction yet): through an operand it alone
//     uses, through any value of a loop group (so an LSTM backward step's
//     dc, which the i, f and g gate gradients and dc's own carry read, keeps
//     them in one nest instead of a kernel each that reads dc back), or through the
//     value a contraction group computed last. Two groups
//     merge through a node that uses both (the backward mask's select joins
//     the matmul computing its dy with the compare); a compare joins only
//     through an operand it alone uses, so the mask is computed where it is
//     read instead of kept alive as one more output of the forward kernel;
//   - a reduction closes a loop group whose values it alone consumes;
//   - nothing joins when that would make a cycle through an outside node, or
//     compute a contraction's operand inside its own region.
// Splat constants are copied into each body that uses them. A group of one
// contraction or one reduction stays a plain node; every other group,
// including a single elementwise op, becomes a fusion, so code generation
// meets elementwise ops only inside fusions. Values a group computes and
// something outside reads become the fusion's results.
//
// Names say where a kernel came from: the body is `^<stem>.<ops>` where stem is
// the first (not merely numbered) member's value name without its last
// component and ops the member
// ops (bias adds as "bias"), e.g. `^dense.matmul_bias_relu`; the fusion's results
// are `%fusion.dense.matmul_bias_relu`, `.1`, `.2`, ... Scan bodies are fused too.
#pragma once

#include <string>

#include "passes/pass_manager.h"

namespace kiln::passes {

// Forms fusion regions in g and in every region body.
PassResult fuse(ir::Graph& g);

// Kernels a graph launches at its top level: every node except constants
// (inlined or filled once) and reshapes (a reshape is a view of its operand).
int count_kernels(const ir::Graph& g);

// "7 kernels: 3 fusion(contraction), 2 fusion(loop), 1 max_pool2d, 1 scan"
std::string kernel_summary(const ir::Graph& g);

}  // namespace kiln::passes
