// The reference interpreter: runs any ir::Graph op by op, one kernel per op.
//
// It is the oracle every other execution path (the JIT, optimized graphs) is
// tested against, so each kernel favours exact, documented semantics over speed
// (contractions use the shared GEMM of runtime/gemm.h, convolutions im2col + GEMM). Tensors
// are never modified in place: results may share buffers with arguments (a
// reshape of a parameter, a parameter returned as a result) but never alias a
// buffer that a later kernel writes.
//
// Semantics that ops.def leaves open are fixed here and in runtime/kernels.h:
//   - rng_uniform: element i (row-major flat index of the concrete shape) is
//     rng_uniform_at(seed, i, low, high) (runtime/rng.h), independent of order.
//   - reduce_sum / reduce_mean accumulate in double (i32 sums in int64), in
//     row-major order, then round once; reductions over zero elements give 0
//     (sum), NaN (mean), -inf or INT32_MIN (max).
//   - NaN propagates through max/min/reduce_max/relu; argmax and max-pool
//     treat NaN as the largest value (first one wins), like numpy.
//   - convert f32->i32 truncates toward zero, saturates, NaN -> 0; to i1 is != 0.
//   - integer div truncates toward zero; division by zero throws kiln::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln::runtime {

// Called after each node with the node and its result tensors (for dumps,
// debugging and per-node comparisons against other backends).
using NodeCallback = std::function<void(const ir::Node&, const std::vector<Tensor>&)>;

struct InterpretOptions {
  int64_t batch = -1;    // the batch size N; -1: bind it from the arguments
  NodeCallback on_node;  // optional; not called inside scan bodies
};

// Runs `g` on `args` (one per parameter, in order) and returns its results.
// N is bound from the arguments: every batch dim of every parameter (N or N*k)
// must agree. A wrong argument count, dtype, rank or size throws kiln::Error
// naming the parameter, its type (e.g. f32[N,10]) and the argument's shape.
// A graph whose parameters have no batch dim runs with N = 1 unless given.
std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args);
std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args, int64_t batch);
std::vector<Tensor> interpret(const ir::Graph& g, const std::vector<Tensor>& args, const InterpretOptions& opts);

// The batch size the arguments imply (or -1 if no parameter has a batch dim);
// throws kiln::Error on any argument that does not fit its parameter.
int64_t bind_batch(const ir::Graph& g, const std::vector<Tensor>& args);

// Runs one node's kernel on concrete operands (checked against the node's
// operand types for batch size `batch`); returns one tensor per node result.
std::vector<Tensor> eval_node(const ir::Node& n, const std::vector<Tensor>& operands, int64_t batch);

}  // namespace kiln::runtime
