// autodiff: symbolic reverse-mode differentiation, IR -> IR.
//
// The backward pass is ordinary IR built from forward ops (plus the dedicated
// adjoints conv2d_input_grad, conv2d_filter_grad and max_pool2d_grad), so it is
// printed, optimized, fused and compiled like any other graph. One VJP rule per
// op lives in autodiff.cpp (scan's, the largest, in autodiff_scan.cpp).
//
// Conventions (matching TensorFlow where it has one):
//   - Only nodes on a path from a `wrt` value to the loss are differentiated;
//     i1 / i32 values and ops marked kNoGrad carry no gradient.
//   - Fan-out accumulates with `add`; a broadcast operand (by broadcast_dims or
//     rank 0 on either side) gets its gradient summed over the broadcast axes.
//   - max(a, b) routes dy to a where a >= b, else to b; min(a, b) to a where
//     a <= b (tf.maximum / tf.minimum). reduce_max splits dy equally among tied
//     maxima (tf.reduce_max). max_pool2d sends dy to the first maximum of each
//     window (as max_pool2d_grad is defined).
//   - reduce_mean's adjoint is broadcast(dy / count). The count is a constant
//     unless a batch axis (N or N*k) is reduced; then it is computed at run time
//     as reduce_sum of a constant 1 shaped like the reduced axes, which is exact
//     (an integer-valued f32 sum) for counts below 2^24.
//   - pow(a, b): d/db = dy * a^b * log(a) where a > 0, else 0 (tf.pow).
//   - scan: the forward scan is rewritten in place to also stack the carries
//     entering each step and the step's residuals, the step-varying values its
//     backward reads (an LSTM's gate activations); the values of its old
//     results are kept, so pointers to them stay valid. The backward pass is a
//     reverse scan whose body applies these rules to one forward step rebuilt
//     from the saved carries, reading the saved residuals instead of
//     recomputing them. Its IR size does not depend on the sequence length.
//   - fusion: the region is recomputed inline and its body differentiated, so
//     autodiff also works after passes/fuse (though it is meant to run before).
//
// Backward values are named `grad.<forward value>`; the gradient of parameter
// `dense.kernel` is `%grad.dense.kernel`.
#pragma once

#include <memory>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes {

// Returns a new graph with g's parameters (same names and order) whose results
// are g's results followed by d(loss)/d(param) for each parameter index in
// `wrt_params` (same type as the parameter; a zero constant when the loss does
// not depend on it). results()[loss_result] must be a rank-0 f32, else
// kiln::Error.
std::unique_ptr<ir::Graph> autodiff(const ir::Graph& g, const std::vector<int>& wrt_params, int loss_result = 0);

// Appends the backward pass of `loss` (a rank-0 f32 value of g) to g itself and
// returns d(loss)/d(w) for each w in `wrt` (values of g: parameters or node
// results). Scan nodes on the differentiated path are replaced in place by
// scans that also save residuals; the Value objects of their results survive.
std::vector<ir::Value*> append_gradients(ir::Graph& g, ir::Value* loss, const std::vector<ir::Value*>& wrt);

// The general form: appends the vector-Jacobian product for `outputs` seeded
// with `cotangents` (one per output, same type, or null for none) and returns
// sum_i cotangents[i] . d(outputs[i])/d(w) for each w in `wrt` (never null:
// a zero constant where nothing flows). Used for scan bodies and for weighted
// multi-output losses.
std::vector<ir::Value*> append_vjp(ir::Graph& g, const std::vector<ir::Value*>& outputs,
                                   const std::vector<ir::Value*>& cotangents, const std::vector<ir::Value*>& wrt);

}  // namespace kiln::passes
