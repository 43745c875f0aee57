// Keras optimizers (the Keras 2.11+ update rules), built as IR.
//
// The learning rate is a run-time scalar (so schedules and ReduceLROnPlateau
// need no recompilation); the step counter is optimizer state.
#pragma once

#include <string>
#include <vector>

#include "ir/builder.h"

namespace kiln {

struct SGDOptions {
  double learning_rate = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
};
struct AdamOptions {
  double learning_rate = 0.001;
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
};
struct RMSpropOptions {
  double learning_rate = 0.001;
  double rho = 0.9;
  double momentum = 0.0;
  double epsilon = 1e-7;
  bool centered = false;
};
struct AdagradOptions {
  double learning_rate = 0.001;
  double initial_accumulator_value = 0.1;
  double epsilon = 1e-7;
};

class Optimizer {
 public:
  // By Keras name with Keras defaults: sgd, adam, rmsprop, adagrad.
  Optimizer(const char* name);
  Optimizer(const std::string& name);
  Optimizer(SGDOptions o);
  Optimizer(AdamOptions o);
  Optimizer(RMSpropOptions o);
  Optimizer(AdagradOptions o);

  const std::string& name() const { return name_; }
  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr) { lr_ = lr; }
  // The options it was made from (the one matching name()), for model.save().
  const SGDOptions& sgd_options() const { return sgd_; }
  const AdamOptions& adam_options() const { return adam_; }
  const RMSpropOptions& rmsprop_options() const { return rms_; }
  const AdagradOptions& adagrad_options() const { return ada_; }

  // Slots per weight (e.g. Adam: m, v), each shaped like the weight.
  std::vector<std::string> slot_names() const;
  // Initial value of every slot element.
  double slot_init(size_t slot) const;

  // Builds the update of one weight. `slots` are the current slot values,
  // `lr` a rank-0 learning rate, `step` the rank-0 1-based step number of this
  // update. Returns {new weight, new slots...}.
  std::vector<ir::Value*> build_update(ir::Builder& b, ir::Value* w, ir::Value* g, const std::vector<ir::Value*>& slots,
                                       ir::Value* lr, ir::Value* step) const;

 private:
  std::string name_;
  double lr_ = 0.01;
  SGDOptions sgd_;
  AdamOptions adam_;
  RMSpropOptions rms_;
  AdagradOptions ada_;
};

inline Optimizer SGD(double learning_rate = 0.01, double momentum = 0.0, bool nesterov = false) {
  return Optimizer(SGDOptions{learning_rate, momentum, nesterov});
}
inline Optimizer SGD(SGDOptions o) { return Optimizer(o); }
inline Optimizer Adam(double learning_rate = 0.001) { return Optimizer(AdamOptions{.learning_rate = learning_rate}); }
inline Optimizer Adam(AdamOptions o) { return Optimizer(o); }
inline Optimizer RMSprop(double learning_rate = 0.001) {
  return Optimizer(RMSpropOptions{.learning_rate = learning_rate});
}
inline Optimizer RMSprop(RMSpropOptions o) { return Optimizer(o); }
inline Optimizer Adagrad(double learning_rate = 0.001) {
  return Optimizer(AdagradOptions{.learning_rate = learning_rate});
}
inline Optimizer Adagrad(AdagradOptions o) { return Optimizer(o); }

}  // namespace kiln
