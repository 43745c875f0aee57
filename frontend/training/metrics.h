// Keras metrics, built as IR: each yields per-sample values whose mean over
// the epoch is what Keras reports.
#pragma once

#include <string>

#include "training/losses.h"

namespace kiln {

class Metric {
 public:
  // accuracy/acc (resolved like Keras from the loss and the shapes),
  // binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
  // mse/mean_squared_error, mae/mean_absolute_error.
  Metric(const char* name);
  Metric(const std::string& name);

  const std::string& name() const { return name_; }  // as the user wrote it; History keys use it
  // The concrete metric for this output ("binary_accuracy" for "accuracy" on a
  // one-unit output, ...).
  std::string resolve(const Loss& loss, const ir::TensorType& y_true, const ir::TensorType& y_pred) const;
  // Per-sample values (f32), to be averaged over everything.
  ir::Value* build(ir::Builder& b, const Loss& loss, ir::Value* y_true, ir::Value* y_pred) const;

 private:
  std::string name_;
};

}  // namespace kiln
