#include "training/step_graphs.h"

#include "ir/builder.h"
#include "passes/autodiff.h"

namespace kiln {

using ir::Builder;
using ir::Graph;
using ir::OpKind;
using ir::Value;

namespace {

struct LossGraph {
  std::unique_ptr<Graph> graph;
  std::vector<std::string> log_names;
  std::vector<Value*> weights;
};

// (inputs, targets, weights) -> logs; the first log is the total loss.
LossGraph build_loss_graph(const Graph& forward, size_t num_inputs, const std::vector<OutputSpec>& outs,
                           const std::string& name) {
  KILN_ASSERT(forward.results().size() == outs.size(), "one output spec per model output");
  LossGraph lg;
  lg.graph = std::make_unique<Graph>(name);
  Graph& g = *lg.graph;
  std::vector<Value*> fwd_args;
  for (size_t i = 0; i < num_inputs; ++i) fwd_args.push_back(g.add_param(forward.params()[i]->name, forward.params()[i]->type));
  std::vector<Value*> targets;
  for (const OutputSpec& o : outs) targets.push_back(g.add_param("target." + o.name, o.target));
  for (size_t i = num_inputs; i < forward.params().size(); ++i) {
    Value* w = g.add_param(forward.params()[i]->name, forward.params()[i]->type);
    fwd_args.push_back(w);
    lg.weights.push_back(w);
  }
  std::vector<Value*> preds = g.inline_graph(forward, fwd_args);

  bool several = outs.size() > 1;
  std::vector<Value*> losses, metric_logs;
  std::vector<std::string> loss_names, metric_names;
  for (size_t k = 0; k < outs.size(); ++k) {
    const OutputSpec& o = outs[k];
    o.loss.check_target(o.target, preds[k]->type, o.name);
    Builder b(g, several ? o.name + "." : "");
    Value* per_sample = o.loss.build(b, targets[k], preds[k]);
    losses.push_back(b.reduce_all(OpKind::ReduceMean, per_sample, "loss"));
    loss_names.push_back(o.name + "_loss");
    for (const Metric& m : o.metrics) {
      metric_logs.push_back(b.reduce_all(OpKind::ReduceMean, m.build(b, o.loss, targets[k], preds[k]), m.name()));
      metric_names.push_back(several ? o.name + "_" + m.name() : m.name());
    }
  }
  Builder b(g);
  Value* total = nullptr;
  for (size_t k = 0; k < outs.size(); ++k) {
    Value* term = outs[k].loss_weight == 1.0 ? losses[k] : b.mul(b.constant(outs[k].loss_weight), losses[k]);
    total = total ? b.add(total, term, "total_loss") : term;
  }
  std::vector<Value*> logs{total};
  lg.log_names.push_back("loss");
  if (several) {
    logs.insert(logs.end(), losses.begin(), losses.end());
    lg.log_names.insert(lg.log_names.end(), loss_names.begin(), loss_names.end());
  }
  logs.insert(logs.end(), metric_logs.begin(), metric_logs.end());
  lg.log_names.insert(lg.log_names.end(), metric_names.begin(), metric_names.end());
  g.set_results(logs);
  return lg;
}

}  // namespace

StepGraphs build_step_graphs(const Graph& forward, size_t num_inputs, const std::vector<OutputSpec>& outs,
                             const Optimizer& opt, const std::string& model_name) {
  StepGraphs sg;
  LossGraph eval = build_loss_graph(forward, num_inputs, outs, model_name + ".eval_step");
  sg.log_names = eval.log_names;

  LossGraph train = build_loss_graph(forward, num_inputs, outs, model_name + ".train_step");
  Graph& g = *train.graph;
  std::vector<Value*> logs = g.results();
  std::vector<Value*> grads = passes::append_gradients(g, logs[0], train.weights);

  Value* iterations = g.add_param("optimizer.iterations", ir::f32({}));
  sg.state_types.push_back(iterations->type);
  sg.state_init.push_back(0.0);
  std::vector<std::vector<Value*>> slots(train.weights.size());
  std::vector<std::string> slot_names = opt.slot_names();
  for (size_t i = 0; i < train.weights.size(); ++i)
    for (size_t s = 0; s < slot_names.size(); ++s) {
      Value* w = train.weights[i];
      slots[i].push_back(g.add_param("optimizer." + w->name + "." + slot_names[s], w->type));
      sg.state_types.push_back(w->type);
      sg.state_init.push_back(opt.slot_init(s));
    }
  Value* lr = g.add_param("optimizer.learning_rate", ir::f32({}));

  Builder b(g, "optimizer.");
  Value* step = b.add(iterations, b.constant(1.0), "iterations.new");
  std::vector<Value*> new_weights, new_state{step};
  for (size_t i = 0; i < train.weights.size(); ++i) {
    Builder wb(g, "optimizer." + train.weights[i]->name + ".");
    std::vector<Value*> upd = opt.build_update(wb, train.weights[i], grads[i], slots[i], lr, step);
    new_weights.push_back(upd[0]);
    new_state.insert(new_state.end(), upd.begin() + 1, upd.end());
  }
  std::vector<Value*> results = logs;
  results.insert(results.end(), new_weights.begin(), new_weights.end());
  results.insert(results.end(), new_state.begin(), new_state.end());
  g.set_results(results);
  sg.eval_step = std::move(eval.graph);
  sg.train_step = std::move(train.graph);
  return sg;
}

std::vector<Tensor> initial_state(const StepGraphs& g) {
  std::vector<Tensor> state;
  for (size_t i = 0; i < g.state_types.size(); ++i)
    state.push_back(Tensor::full(g.state_types[i].shape, static_cast<float>(g.state_init[i])));
  return state;
}

}  // namespace kiln
