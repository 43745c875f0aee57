#include "training/metrics.h"

namespace kiln {

using ir::Builder;
using ir::OpKind;
using ir::Value;

namespace {
const char* kKnown =
    "accuracy (acc), binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, mse "
    "(mean_squared_error), mae (mean_absolute_error)";

std::string canonical(const std::string& n) {
  if (n == "acc" || n == "accuracy") return "accuracy";
  if (n == "mean_squared_error" || n == "mse") return "mse";
  if (n == "mean_absolute_error" || n == "mae") return "mae";
  if (n == "binary_accuracy" || n == "categorical_accuracy" || n == "sparse_categorical_accuracy") return n;
  throw Error("Unknown metric function: '" + n + "'. Known metrics: " + kKnown + ".");
}
}  // namespace

Metric::Metric(const char* name) : Metric(std::string(name)) {}
Metric::Metric(const std::string& name) : name_(name) { canonical(name); }

std::string Metric::resolve(const Loss& loss, const ir::TensorType& t, const ir::TensorType& p) const {
  std::string c = canonical(name_);
  if (c != "accuracy") return c;
  // Keras compile_utils: binary when the prediction has one unit, sparse when
  // the labels lack the class axis (or it has size 1), else categorical.
  (void)loss;
  bool binary = p.shape.back() == 1;
  bool sparse = t.rank() < p.rank() || (t.shape.back() == 1 && p.shape.back() > 1);
  if (binary) return "binary_accuracy";
  if (sparse) return "sparse_categorical_accuracy";
  return "categorical_accuracy";
}

Value* Metric::build(Builder& b, const Loss& loss, Value* y, Value* p) const {
  std::string c = resolve(loss, y->type, p->type);
  std::string n = "metric." + c;
  int64_t last = p->type.rank() - 1;
  if (c == "binary_accuracy") {
    // mean(y == (p > 0.5)) over the last axis (Keras's fixed threshold).
    Value* pred = b.convert(b.compare(p, b.constant(0.5), "gt"), ir::DType::f32);
    Value* eq = b.convert(b.compare(y, pred, "eq"), ir::DType::f32);
    return b.reduce_mean(eq, {last}, n);
  }
  if (c == "categorical_accuracy") {
    Value* eq = b.compare(b.argmax(y, last), b.argmax(p, last), "eq");
    return b.convert(eq, ir::DType::f32, n);
  }
  if (c == "sparse_categorical_accuracy") {
    Value* labels = y;
    if (labels->type.rank() == p->type.rank()) {
      ir::Dims s(labels->type.shape.begin(), labels->type.shape.end() - 1);
      labels = b.reshape(labels, s);
    }
    if (labels->type.dtype != ir::DType::i32) labels = b.convert(labels, ir::DType::i32);
    return b.convert(b.compare(labels, b.argmax(p, last), "eq"), ir::DType::f32, n);
  }
  Value* diff = b.sub(p, y);
  if (c == "mse") return b.reduce_mean(b.mul(diff, diff), {last}, n);
  if (c == "mae") return b.reduce_mean(b.unary(OpKind::Abs, diff), {last}, n);
  KILN_UNREACHABLE("metric " + c + " has no builder");
}

}  // namespace kiln
