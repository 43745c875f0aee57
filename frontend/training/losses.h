// Keras losses, built as IR.
//
// A Loss builds the per-sample loss (Keras's "fn(y_true, y_pred)", which
// averages over the last axis) from a target and a prediction; the training
// graph then averages it over every remaining axis (Keras's default
// SUM_OVER_BATCH_SIZE reduction).
#pragma once

#include <string>

#include "ir/builder.h"

namespace kiln {

struct LossOptions {
  bool from_logits = false;
  double delta = 1.0;  // huber only
};

class Loss {
 public:
  // By Keras name or alias: binary_crossentropy, categorical_crossentropy,
  // sparse_categorical_crossentropy, mse / mean_squared_error, mae /
  // mean_absolute_error, huber. Unknown names throw kiln::Error listing them.
  Loss(const char* name, LossOptions opts = {});
  Loss(const std::string& name, LossOptions opts = {});

  const std::string& name() const { return name_; }  // canonical Keras name
  const LossOptions& options() const { return opts_; }
  bool is_sparse() const { return name_ == "sparse_categorical_crossentropy"; }

  // Checks that a target of type `y_true` fits a prediction of type `y_pred`;
  // `where` names the output for the error message.
  void check_target(const ir::TensorType& y_true, const ir::TensorType& y_pred, const std::string& where) const;
  // Per-sample loss: y_pred's shape without its last axis.
  ir::Value* build(ir::Builder& b, ir::Value* y_true, ir::Value* y_pred) const;

 private:
  std::string name_;
  LossOptions opts_;
};

inline Loss BinaryCrossentropy(LossOptions o = {}) { return Loss("binary_crossentropy", o); }
inline Loss CategoricalCrossentropy(LossOptions o = {}) { return Loss("categorical_crossentropy", o); }
inline Loss SparseCategoricalCrossentropy(LossOptions o = {}) { return Loss("sparse_categorical_crossentropy", o); }
inline Loss MeanSquaredError() { return Loss("mse"); }
inline Loss MeanAbsoluteError() { return Loss("mae"); }
inline Loss Huber(double delta = 1.0) { return Loss("huber", {.delta = delta}); }

// Keras's epsilon (backend.epsilon()), used to clip probabilities.
inline constexpr double kEpsilon = 1e-7;

// One-hot encoding of integer-valued labels (f32 or i32, shape [..]) into
// f32 [.., classes]; shared by the sparse loss and the sparse accuracy.
ir::Value* one_hot(ir::Builder& b, ir::Value* labels, int64_t classes);

}  // namespace kiln
