// The graphs behind compile(): the evaluation step (forward + losses +
// metrics) and the training step (that, its gradients by autodiff, and the
// optimizer's update), built once per compiled model as ordinary IR.
//
//   eval_step (inputs..., targets..., weights...)                 -> (logs...)
//   train_step(inputs..., targets..., weights..., state..., lr)   -> (logs..., new weights..., new state...)
//
// logs are the batch means Keras reports: "loss", then for several outputs
// "<output>_loss" each, then the metrics ("accuracy" or "<output>_accuracy").
// state is the step counter (f32[]) followed by each weight's optimizer slots.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"
#include "training/losses.h"
#include "training/metrics.h"
#include "training/optimizers.h"

namespace kiln {

struct OutputSpec {
  std::string name;       // the output layer's name
  Loss loss;
  double loss_weight = 1.0;
  std::vector<Metric> metrics;
  ir::TensorType target;  // with the batch dimension N
};

struct StepGraphs {
  std::unique_ptr<ir::Graph> eval_step;
  std::unique_ptr<ir::Graph> train_step;
  std::vector<std::string> log_names;
  std::vector<ir::TensorType> state_types;
  std::vector<double> state_init;  // splat value of each state tensor
};

// The optimizer state before the first step: each state tensor filled with its splat value.
std::vector<Tensor> initial_state(const StepGraphs& g);

// `forward` takes (inputs..., weights...) and returns the outputs, one per spec.
StepGraphs build_step_graphs(const ir::Graph& forward, size_t num_inputs, const std::vector<OutputSpec>& outputs,
                             const Optimizer& opt, const std::string& model_name);

}  // namespace kiln
