// compile/fit/evaluate/predict machinery behind Model.
//
// A Trainer owns what compile() decides (losses, metrics, optimizer, backend),
// builds the step graphs lazily once the targets' types are known, keeps the
// optimizer state between calls, and runs one batch at a time. The epoch loop,
// callbacks and progress output live in model_training.cpp.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/tensor.h"
#include "training/backend.h"
#include "training/callbacks.h"
#include "training/step_graphs.h"

namespace kiln {

// One loss for every output, one per output (in order), or by output name.
struct Losses {
  std::vector<Loss> list;
  std::map<std::string, Loss> by_name;

  Losses() = default;
  Losses(const char* name) : list{Loss(name)} {}
  Losses(const std::string& name) : list{Loss(name)} {}
  Losses(Loss l) : list{std::move(l)} {}
  Losses(std::initializer_list<Loss> ls) : list(ls) {}
  Losses(std::map<std::string, Loss> m) : by_name(std::move(m)) {}
  bool empty() const { return list.empty() && by_name.empty(); }
};

struct CompileOptions {
  Optimizer optimizer = Optimizer("rmsprop");  // Keras's default
  Losses loss;
  std::vector<double> loss_weights;            // one per output; default all 1
  std::vector<Metric> metrics;                 // applied to every output
  std::string backend;                         // "jit" or "interpreter"; "" = $KILN_BACKEND, else "jit"
};

// Model inputs or targets: one tensor, several in order, or by layer name.
class Data {
 public:
  Data() = default;
  Data(Tensor t) : list_{std::move(t)} {}
  Data(std::vector<Tensor> ts) : list_(std::move(ts)) {}
  Data(std::initializer_list<Tensor> ts) : list_(ts) {}
  Data(std::map<std::string, Tensor> m) : named_(std::move(m)) {}

  bool empty() const { return list_.empty() && named_.empty(); }
  // The tensors in `names` order. `what` ("input", "target") and `model` name
  // the error when the count or the names do not fit.
  std::vector<Tensor> resolve(const std::vector<std::string>& names, const std::string& what,
                              const std::string& model) const;

 private:
  std::vector<Tensor> list_;
  std::map<std::string, Tensor> named_;
};

struct ValidationData {
  Data x, y;
};

struct FitOptions {
  int epochs = 1;
  int batch_size = 32;
  double validation_split = 0.0;
  std::optional<ValidationData> validation_data;
  bool shuffle = true;
  int verbose = 1;  // 0 silent, 1 progress bar (one line per epoch when not a terminal), 2 one line per epoch
  std::vector<CallbackPtr> callbacks;
  int initial_epoch = 0;
};

struct EvaluateOptions {
  int batch_size = 32;
  int verbose = 1;
  std::vector<CallbackPtr> callbacks;
};

struct PredictOptions {
  int batch_size = 32;
  int verbose = 0;
};

// The outputs of predict: converts to a Tensor for a single-output model.
class Prediction {
 public:
  explicit Prediction(std::vector<Tensor> outs) : outs_(std::move(outs)) {}
  operator Tensor() const;  // throws for a model with several outputs
  const Tensor& operator[](size_t i) const { return outs_.at(i); }
  size_t size() const { return outs_.size(); }
  const std::vector<Tensor>& tensors() const { return outs_; }
  auto begin() const { return outs_.begin(); }
  auto end() const { return outs_.end(); }

 private:
  std::vector<Tensor> outs_;
};

// Checks model inputs against the forward graph's parameters (count is the
// caller's; dtype and shapes here) and returns the common number of samples.
int64_t check_inputs(const ir::Graph& forward, const std::vector<Tensor>& x, const std::string& model);

class Trainer {
 public:
  // forward: (inputs..., weights...) -> outputs, as Model::forward_ir builds it.
  Trainer(std::unique_ptr<ir::Graph> forward, std::vector<std::string> input_names,
          std::vector<std::string> output_names, CompileOptions opts, std::string model_name);

  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr) { lr_ = lr; }
  const std::string& backend() const { return backend_; }
  // What compile() was given, and the optimizer state (the step counter, then each weight's
  // slots; empty before the first step), for model.save() / load_model().
  const CompileOptions& options() const { return opts_; }
  const std::vector<Tensor>& state() const { return state_; }
  // Optimizer steps taken so far (the state's step counter; 0 before the first).
  int64_t steps() const { return state_.empty() ? 0 : static_cast<int64_t>(state_[0].data()[0]); }
  void set_state(std::vector<Tensor> state) { state_ = std::move(state); }

  // Checks inputs (count, shapes) and targets (count, shapes, label ranges)
  // and that they hold the same number of samples; returns that number.
  int64_t check_data(const std::vector<Tensor>& x, const std::vector<Tensor>* y) const;

  // The log names ("loss", "accuracy", ...) for targets like `y`.
  const std::vector<std::string>& log_names(const std::vector<Tensor>& y);
  // One optimizer step on a batch; updates `weights`. Returns the batch logs.
  std::vector<double> train_batch(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                  std::vector<Tensor>& weights);
  std::vector<double> eval_batch(const std::vector<Tensor>& x, const std::vector<Tensor>& y,
                                 const std::vector<Tensor>& weights);

  // The step graphs for targets like `y` (built on first use), for dumps.
  const StepGraphs& graphs(const std::vector<Tensor>& y);
  // Fresh step graphs for targets of these types (batch dim N), not compiled (AOT export).
  StepGraphs build_graphs(const std::vector<ir::TensorType>& target_types) const;
  // The target types the losses take by default: each output's type, without
  // its last axis for sparse losses (class ids), f32.
  std::vector<ir::TensorType> default_target_types() const;

 private:
  struct Compiled {
    StepGraphs graphs;
    std::unique_ptr<Executable> train, eval;
    std::vector<OutputSpec> specs;  // the targets it was built for
    std::vector<std::pair<size_t, size_t>> updates;  // train->updates()
    // Kept between steps, so that a step allocates nothing.
    std::vector<Tensor> train_args, train_outs, eval_args, eval_outs;
  };
  Compiled& compiled(const std::vector<Tensor>& y);
  // What build_step_graphs is given for targets of these types.
  std::vector<OutputSpec> output_specs(const std::vector<ir::TensorType>& target_types) const;

  std::unique_ptr<ir::Graph> forward_;
  std::vector<std::string> input_names_, output_names_;
  CompileOptions opts_;
  std::string model_name_, backend_;
  std::vector<Loss> losses_;  // per output
  double lr_;
  std::map<std::string, Compiled> by_targets_;  // keyed by the target types
  Compiled* last_ = nullptr;                    // the entry the previous batch used
  std::vector<Tensor> state_;                   // optimizer state, created on the first step
  Tensor lr_arg_;                               // the learning rate as the step's f32[] argument
};

}  // namespace kiln
