// The reference interpreter's kernels: plain functions on Tensors that know no IR.
//
// Each kernel allocates and returns a new tensor (never writes its operands) and
// implements exactly the semantics documented in ir/ops.def and
// runtime/interpreter.h. Shapes are concrete (the batch size is already bound).
// Operands are assumed to be well-typed (the interpreter checks them against the
// graph); kernels assert the invariants they rely on.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace kiln::runtime::kernels {

using Dims = std::vector<int64_t>;

// --- sources (kernels_elementwise.cpp) ---
Tensor fill(const Dims& shape, DType dtype, double value);  // i32: truncated; i1: value != 0
Tensor iota(const Dims& shape, int64_t axis, DType dtype);   // element = its index along axis
Tensor rng_uniform(const Dims& shape, int64_t seed, float low, float high);

// --- elementwise (kernels_elementwise.cpp) ---
enum class Unary { Neg, Abs, Sign, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Relu };
enum class Binary { Add, Sub, Mul, Div, Max, Min, Pow };
enum class Cmp { Eq, Ne, Lt, Le, Gt, Ge };

Tensor unary(Unary op, const Tensor& x);
Tensor convert(const Tensor& x, DType to);
// `broadcast_dims` null: equal shapes, or a rank-0 operand on either side.
// Otherwise rhs dim i is lhs dim (*broadcast_dims)[i]; the result has lhs's shape.
Tensor binary(Binary op, const Tensor& a, const Tensor& b, const Dims* broadcast_dims);
Tensor compare(Cmp dir, const Tensor& a, const Tensor& b, const Dims* broadcast_dims);  // -> i1
Tensor select(const Tensor& cond, const Tensor& on_true, const Tensor& on_false);

// --- layout (kernels_layout.cpp); negative axes count from the end ---
Tensor broadcast(const Tensor& x, const Dims& shape, const Dims& dims);
Tensor reshape(const Tensor& x, const Dims& shape);  // shares x's buffer
Tensor transpose(const Tensor& x, const Dims& perm);  // result dim i = x dim perm[i]
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t limit);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
Tensor pad(const Tensor& x, int64_t axis, int64_t low, int64_t high);

// --- reductions (kernels_layout.cpp) ---
enum class Reduce { Sum, Max, Mean };
Tensor reduce(Reduce op, const Tensor& x, const Dims& axes);
Tensor argmax(const Tensor& x, int64_t axis);  // -> i32, first maximum

// --- contractions (kernels_contract.cpp) ---
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);

struct Window2D {
  int64_t kh = 1, kw = 1;                 // window (pooling) or filter size
  int64_t sh = 1, sw = 1;                 // strides
  int64_t pt = 0, pb = 0, pl = 0, pr = 0;  // padding top, bottom, left, right
  int64_t dh = 1, dw = 1;                 // dilations (conv only)
};

// x [N,H,W,C] (NHWC), w [KH,KW,C,O] (HWIO) -> y [N,OH,OW,O], with
// OH = (H + pt + pb - ((KH-1)*dh + 1)) / sh + 1 (and likewise OW):
//   y[n,i,j,o] = sum_{a,b,c} x[n, i*sh + a*dh - pt, j*sw + b*dw - pl, c] * w[a,b,c,o]  (zero outside x)
// `win.kh/kw` are ignored (taken from w).
Tensor conv2d(const Tensor& x, const Tensor& w, const Window2D& win);
// The exact adjoints of conv2d: <conv2d(x,w), dy> = <x, input_grad(dy,w)> = <w, filter_grad(x,dy)>.
Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, const Dims& input_shape, const Window2D& win);
Tensor conv2d_filter_grad(const Tensor& x, const Tensor& dy, const Dims& filter_shape, const Window2D& win);

// --- pooling (kernels_pool.cpp); dilations ignored ---
// y[n,i,j,c] = max over the window cells inside x (padded cells never win).
Tensor max_pool2d(const Tensor& x, const Window2D& win);
// dx = sum over windows of dy routed to the window's first maximum (row-major window order).
Tensor max_pool2d_grad(const Tensor& x, const Tensor& dy, const Window2D& win);
// max_pool2d and, per pooled cell, its winner's row-major position in the window (u8).
std::pair<Tensor, Tensor> max_pool2d_winners(const Tensor& x, const Window2D& win);
// max_pool2d_grad from those winners: each window's dy added to its winner,
// window after window (the same sums); throws kiln::Error on a winner outside x.
Tensor max_pool2d_scatter(const Tensor& winners, const Tensor& dy, const Dims& input_shape, const Window2D& win);

}  // namespace kiln::runtime::kernels
