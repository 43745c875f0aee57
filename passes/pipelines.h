// The default optimization pipelines and the one-call entry the JIT and the
// `kiln` command use: passes::optimize(graph, Pipeline::Predict, options).
#pragma once

#include <string>
#include <vector>

#include "passes/pass_manager.h"

namespace kiln::passes {

enum class Pipeline { Predict, TrainStep };

// The pass names of a default pipeline, in order (passes/pipelines.cpp).
std::vector<std::string> default_pipeline(Pipeline p);

// Runs the default pipeline on g in place; returns one report per pass.
std::vector<StageReport> optimize(ir::Graph& g, Pipeline p, const PassOptions& options = {});

}  // namespace kiln::passes
