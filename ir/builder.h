// ir::Builder: terse construction of primitive ops into a Graph.
//
// Every method goes through Graph::add (so types are inferred and checked);
// `name` hints are prefixed with the builder's prefix ("dense." -> %dense.matmul).
// Layers, losses, metrics, optimizers and gradient rules all build IR this way.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

class Builder {
 public:
  explicit Builder(Graph& g, std::string prefix = "") : g_(g), prefix_(std::move(prefix)) {}

  Graph& graph() { return g_; }
  std::string name(const std::string& hint) const { return hint.empty() ? hint : prefix_ + hint; }

  // Splat constant; shape may hold the batch dimension.
  Value* constant(double v, Dims shape = {}, DType t = DType::f32, const std::string& n = "");
  Value* iota(Dims shape, int64_t axis, DType t = DType::i32, const std::string& n = "");

  Value* unary(OpKind op, Value* a, const std::string& n = "");
  // Binary elementwise op. Operands of equal shape or a rank-0 operand need no
  // broadcast; otherwise `rhs_dims` maps rhs dims onto lhs dims.
  Value* binary(OpKind op, Value* a, Value* b, const std::string& n = "");
  Value* binary(OpKind op, Value* a, Value* b, const Dims& rhs_dims, const std::string& n = "");
  Value* add(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Add, a, b, n); }
  Value* sub(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Sub, a, b, n); }
  Value* mul(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Mul, a, b, n); }
  Value* div(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Div, a, b, n); }
  Value* max(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Max, a, b, n); }
  Value* min(Value* a, Value* b, const std::string& n = "") { return binary(OpKind::Min, a, b, n); }
  Value* compare(Value* a, Value* b, const std::string& dir, const std::string& n = "");
  Value* select(Value* c, Value* a, Value* b, const std::string& n = "");
  Value* convert(Value* a, DType t, const std::string& n = "");

  Value* broadcast(Value* a, Dims shape, Dims dims, const std::string& n = "");
  Value* reshape(Value* a, Dims shape, const std::string& n = "");
  Value* transpose(Value* a, Dims perm, const std::string& n = "");
  Value* slice(Value* a, int64_t axis, int64_t start, int64_t limit, const std::string& n = "");
  Value* concat(std::vector<Value*> xs, int64_t axis, const std::string& n = "");
  Value* pad(Value* a, int64_t axis, int64_t low, int64_t high, const std::string& n = "");
  Value* reduce(OpKind op, Value* a, Dims axes, const std::string& n = "");
  Value* reduce_sum(Value* a, Dims axes, const std::string& n = "") { return reduce(OpKind::ReduceSum, a, axes, n); }
  Value* reduce_mean(Value* a, Dims axes, const std::string& n = "") { return reduce(OpKind::ReduceMean, a, axes, n); }
  Value* reduce_max(Value* a, Dims axes, const std::string& n = "") { return reduce(OpKind::ReduceMax, a, axes, n); }
  // Reduces over every axis to a rank-0 value.
  Value* reduce_all(OpKind op, Value* a, const std::string& n = "");
  Value* argmax(Value* a, int64_t axis, const std::string& n = "");
  Value* matmul(Value* a, Value* b, bool transpose_a = false, bool transpose_b = false, const std::string& n = "");

 private:
  Graph& g_;
  std::string prefix_;
};

}  // namespace kiln::ir
