#include "ir/builder.h"

#include <numeric>

namespace kiln::ir {

Value* Builder::constant(double v, Dims shape, DType t, const std::string& n) {
  AttrMap a{{"value", v}, {"shape", std::move(shape)}};
  if (t != DType::f32) a.set("dtype", t);
  return g_.add(OpKind::Constant, {}, std::move(a), name(n));
}

Value* Builder::iota(Dims shape, int64_t axis, DType t, const std::string& n) {
  AttrMap a{{"shape", std::move(shape)}, {"axis", axis}};
  if (t != DType::i32) a.set("dtype", t);
  return g_.add(OpKind::Iota, {}, std::move(a), name(n));
}

Value* Builder::unary(OpKind op, Value* a, const std::string& n) { return g_.add(op, {a}, {}, name(n)); }

Value* Builder::binary(OpKind op, Value* a, Value* b, const std::string& n) {
  return g_.add(op, {a, b}, {}, name(n));
}

Value* Builder::binary(OpKind op, Value* a, Value* b, const Dims& rhs_dims, const std::string& n) {
  return g_.add(op, {a, b}, {{"broadcast_dims", rhs_dims}}, name(n));
}

Value* Builder::compare(Value* a, Value* b, const std::string& dir, const std::string& n) {
  return g_.add(OpKind::Compare, {a, b}, {{"dir", dir}}, name(n));
}

Value* Builder::select(Value* c, Value* a, Value* b, const std::string& n) {
  return g_.add(OpKind::Select, {c, a, b}, {}, name(n));
}

Value* Builder::convert(Value* a, DType t, const std::string& n) {
  return g_.add(OpKind::Convert, {a}, {{"dtype", t}}, name(n));
}

Value* Builder::broadcast(Value* a, Dims shape, Dims dims, const std::string& n) {
  return g_.add(OpKind::Broadcast, {a}, {{"shape", std::move(shape)}, {"dims", std::move(dims)}}, name(n));
}

Value* Builder::reshape(Value* a, Dims shape, const std::string& n) {
  return g_.add(OpKind::Reshape, {a}, {{"shape", std::move(shape)}}, name(n));
}

Value* Builder::transpose(Value* a, Dims perm, const std::string& n) {
  return g_.add(OpKind::Transpose, {a}, {{"perm", std::move(perm)}}, name(n));
}

Value* Builder::slice(Value* a, int64_t axis, int64_t start, int64_t limit, const std::string& n) {
  return g_.add(OpKind::Slice, {a}, {{"axis", axis}, {"start", start}, {"limit", limit}}, name(n));
}

Value* Builder::concat(std::vector<Value*> xs, int64_t axis, const std::string& n) {
  return g_.add(OpKind::Concat, std::move(xs), {{"axis", axis}}, name(n));
}

Value* Builder::pad(Value* a, int64_t axis, int64_t low, int64_t high, const std::string& n) {
  return g_.add(OpKind::Pad, {a}, {{"axis", axis}, {"low", low}, {"high", high}}, name(n));
}

Value* Builder::reduce(OpKind op, Value* a, Dims axes, const std::string& n) {
  return g_.add(op, {a}, {{"axes", std::move(axes)}}, name(n));
}

Value* Builder::reduce_all(OpKind op, Value* a, const std::string& n) {
  Dims axes(static_cast<size_t>(a->type.rank()));
  std::iota(axes.begin(), axes.end(), 0);
  return reduce(op, a, axes, n);
}

Value* Builder::argmax(Value* a, int64_t axis, const std::string& n) {
  return g_.add(OpKind::ArgMax, {a}, {{"axis", axis}}, name(n));
}

Value* Builder::matmul(Value* a, Value* b, bool transpose_a, bool transpose_b, const std::string& n) {
  AttrMap attrs;
  if (transpose_a) attrs.set("transpose_a", true);
  if (transpose_b) attrs.set("transpose_b", true);
  return g_.add(OpKind::Matmul, {a, b}, std::move(attrs), name(n));
}

}  // namespace kiln::ir
