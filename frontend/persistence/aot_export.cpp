// Model::export_aot: the model's optimized forward graph and, for a compiled
// model, its optimized train step (the graphs and pipelines the JIT backend
// runs) through codegen::aot_compile, with the current weights, optimizer
// state and learning rate embedded.
#include <filesystem>

#include "codegen/aot.h"
#include "kiln/model.h"
#include "passes/pipelines.h"

namespace kiln {

void Model::export_aot(const std::string& path, const AotExportOptions& options) const {
  namespace fs = std::filesystem;
  codegen::AotOptions opts;
  opts.prefix = options.name;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    opts.archive = (fs::path(path) / ("lib" + options.name + ".a")).string();
    opts.header = (fs::path(path) / (options.name + ".h")).string();
  } else {
    opts.archive = path;
    opts.header = fs::path(path).replace_extension(".h").string();
  }
  if (!options.header.empty()) opts.header = options.header;

  std::unique_ptr<ir::Graph> forward = forward_ir();
  passes::optimize(*forward, passes::Pipeline::Predict);
  Trainer* t = trainer();
  if (!options.train_step || !t) {
    codegen::aot_compile(*forward, get_weights(), opts);
    return;
  }
  StepGraphs graphs = t->build_graphs(t->default_target_types());
  passes::optimize(*graphs.train_step, passes::Pipeline::TrainStep);
  codegen::AotTrainStep train;
  train.graph = graphs.train_step.get();
  train.num_targets = outputs().size();
  train.log_names = graphs.log_names;
  train.slots = t->state().empty() ? initial_state(graphs) : t->state();  // empty: no step taken yet
  train.learning_rate = t->learning_rate();
  codegen::aot_compile(*forward, get_weights(), opts, &train);
}

}  // namespace kiln
