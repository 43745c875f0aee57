#include "training/losses.h"

#include <algorithm>
#include <map>

namespace kiln {

using ir::Builder;
using ir::OpKind;
using ir::Dims;
using ir::Value;

namespace {

std::string canonical(const std::string& n) {
  static const std::map<std::string, std::string> names = {
      {"binary_crossentropy", "binary_crossentropy"},
      {"categorical_crossentropy", "categorical_crossentropy"},
      {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy"},
      {"mse", "mse"},
      {"mean_squared_error", "mse"},
      {"MSE", "mse"},
      {"mae", "mae"},
      {"mean_absolute_error", "mae"},
      {"MAE", "mae"},
      {"huber", "huber"},
      {"huber_loss", "huber"},
  };
  auto it = names.find(n);
  if (it == names.end())
    throw Error("Unknown loss function: '" + n +
                "'. Known losses: binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, "
                "mse (mean_squared_error), mae (mean_absolute_error), huber.");
  return it->second;
}

int64_t last_axis(const Value* v) { return v->type.rank() - 1; }

// Drops the last axis: Keras's backend.mean(x, axis=-1).
Value* mean_last(Builder& b, Value* x, const std::string& n) { return b.reduce_mean(x, {last_axis(x)}, n); }

// log(softmax(z)) along the last axis, computed stably: z - max - log(sum(exp(z - max))).
Value* log_softmax(Builder& b, Value* z) {
  int64_t ax = last_axis(z);
  Dims keep;
  for (int64_t d = 0; d < ax; ++d) keep.push_back(d);
  Value* m = b.reduce_max(z, {ax}, "loss.max");
  Value* shifted = b.binary(OpKind::Sub, z, m, keep, "loss.shifted");
  Value* lse = b.unary(OpKind::Log, b.reduce_sum(b.unary(OpKind::Exp, shifted), {ax}), "loss.logsumexp");
  return b.binary(OpKind::Sub, shifted, lse, keep, "loss.log_softmax");
}

// sum(y * log p) over the last axis for probabilities p, Keras style:
// p / sum(p), clipped to [eps, 1 - eps].
Value* categorical_from_probs(Builder& b, Value* y, Value* p) {
  int64_t ax = last_axis(p);
  Dims keep;
  for (int64_t d = 0; d < ax; ++d) keep.push_back(d);
  Value* norm = b.binary(OpKind::Div, p, b.reduce_sum(p, {ax}), keep, "loss.normalized");
  Value* clipped = b.min(b.max(norm, b.constant(kEpsilon)), b.constant(1.0 - kEpsilon), "loss.clipped");
  Value* ll = b.mul(y, b.unary(OpKind::Log, clipped));
  return b.unary(OpKind::Neg, b.reduce_sum(ll, {ax}), "loss.per_sample");
}

Value* categorical_from_logits(Builder& b, Value* y, Value* z) {
  Value* ll = b.mul(y, log_softmax(b, z));
  return b.unary(OpKind::Neg, b.reduce_sum(ll, {last_axis(z)}), "loss.per_sample");
}

}  // namespace

Loss::Loss(const char* name, LossOptions opts) : Loss(std::string(name), opts) {}
Loss::Loss(const std::string& name, LossOptions opts) : name_(canonical(name)), opts_(opts) {}

Value* one_hot(Builder& b, Value* labels, int64_t classes) {
  ir::Dims shape = labels->type.shape;
  shape.push_back(classes);
  ir::Dims dims(labels->type.shape.size());
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = static_cast<int64_t>(i);
  Value* idx = b.iota(shape, static_cast<int64_t>(shape.size()) - 1, ir::DType::f32);
  Value* lab = labels->type.dtype == ir::DType::f32 ? labels : b.convert(labels, ir::DType::f32);
  Value* hit = b.graph().add(OpKind::Compare, {idx, lab}, {{"dir", std::string("eq")}, {"broadcast_dims", dims}},
                             b.name("one_hot.hit"));
  return b.convert(hit, ir::DType::f32, "one_hot");
}

void Loss::check_target(const ir::TensorType& t, const ir::TensorType& p, const std::string& where) const {
  auto shape_str = [](const ir::Dims& d) {
    std::string s = "(";
    for (size_t i = 0; i < d.size(); ++i)
      s += (i ? ", " : "") + (ir::is_batch_dim(d[i]) ? std::string("None") : std::to_string(d[i]));
    return s + (d.size() == 1 ? ",)" : ")");
  };
  if (is_sparse()) {
    ir::Dims want(p.shape.begin(), p.shape.end() - 1);
    ir::Dims alt = want;
    alt.push_back(1);
    if (t.shape != want && t.shape != alt)
      throw Error("Loss " + name_ + " for output '" + where + "': labels must have shape " + shape_str(want) +
                  " or " + shape_str(alt) + " (integer class ids), but received target shape " + shape_str(t.shape) +
                  " for predictions of shape " + shape_str(p.shape));
    return;
  }
  if (t.shape != p.shape)
    throw Error("Loss " + name_ + " for output '" + where + "': target shape " + shape_str(t.shape) +
                " is incompatible with output shape " + shape_str(p.shape));
}

Value* Loss::build(Builder& b, Value* y, Value* p) const {
  if (name_ == "binary_crossentropy") {
    // -(y log p + (1 - y) log(1 - p)), p clipped to [eps, 1 - eps]; with logits z:
    // max(z, 0) - z*y + log(1 + exp(-|z|)).
    Value* per;
    if (opts_.from_logits) {
      Value* relu = b.unary(OpKind::Relu, p);
      Value* zy = b.mul(p, y);
      Value* e = b.unary(OpKind::Exp, b.unary(OpKind::Neg, b.unary(OpKind::Abs, p)));
      Value* soft = b.unary(OpKind::Log, b.add(b.constant(1.0), e));
      per = b.add(b.sub(relu, zy), soft, "loss.bce");
    } else {
      Value* pc = b.min(b.max(p, b.constant(kEpsilon)), b.constant(1.0 - kEpsilon), "loss.clipped");
      Value* one = b.constant(1.0);
      Value* pos = b.mul(y, b.unary(OpKind::Log, pc));
      Value* neg = b.mul(b.sub(one, y), b.unary(OpKind::Log, b.sub(one, pc)));
      per = b.unary(OpKind::Neg, b.add(pos, neg), "loss.bce");
    }
    return mean_last(b, per, "loss.per_sample");
  }
  if (name_ == "categorical_crossentropy")
    return opts_.from_logits ? categorical_from_logits(b, y, p) : categorical_from_probs(b, y, p);
  if (name_ == "sparse_categorical_crossentropy") {
    Value* labels = y;
    if (labels->type.rank() == p->type.rank()) {  // [..., 1] -> [...]
      ir::Dims s(labels->type.shape.begin(), labels->type.shape.end() - 1);
      labels = b.reshape(labels, s);
    }
    Value* hot = one_hot(b, labels, p->type.shape.back());
    return opts_.from_logits ? categorical_from_logits(b, hot, p) : categorical_from_probs(b, hot, p);
  }
  Value* diff = b.sub(p, y, "loss.diff");
  if (name_ == "mse") return mean_last(b, b.mul(diff, diff), "loss.per_sample");
  if (name_ == "mae") return mean_last(b, b.unary(OpKind::Abs, diff), "loss.per_sample");
  if (name_ == "huber") {
    // 0.5 x^2 where |x| <= d, else d |x| - 0.5 d^2.
    Value* ax = b.unary(OpKind::Abs, diff);
    Value* d = b.constant(opts_.delta);
    Value* quad = b.mul(b.constant(0.5), b.mul(diff, diff));
    Value* lin = b.sub(b.mul(d, ax), b.constant(0.5 * opts_.delta * opts_.delta));
    Value* small = b.compare(ax, d, "le");
    return mean_last(b, b.select(small, quad, lin), "loss.per_sample");
  }
  KILN_UNREACHABLE("loss " + name_ + " has no builder");
}

}  // namespace kiln
