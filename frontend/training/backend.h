// Execution backends: something that runs a compiled ir::Graph on tensors.
//
// Training and inference go through this interface, so the LLVM JIT can
// replace the reference interpreter without touching the training loop.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pipelines.h"
#include "runtime/tensor.h"

namespace kiln {

class Executable {
 public:
  virtual ~Executable() = default;
  virtual std::vector<Tensor> run(const std::vector<Tensor>& args) = 0;
  // Writes the results into `results`, reusing tensors that already have the
  // right dtype and shape where the backend can (the JIT does: a repeated
  // call at one batch size allocates nothing). Results must not share memory
  // with the arguments, except a pair of updates() given the argument's own
  // tensor as the result: the run then overwrites that argument.
  virtual void run_into(const std::vector<Tensor>& args, std::vector<Tensor>& results) = 0;
  // (argument, result) pairs that run_into may compute in place (the JIT's
  // CompiledProgram::updates: a train step's weights and optimizer slots).
  virtual std::vector<std::pair<size_t, size_t>> updates() const { return {}; }
  virtual const ir::Graph& graph() const = 0;
};

// The backends this build knows: "jit" (LLVM, codegen/jit.h) and
// "interpreter". "" selects the default: $KILN_BACKEND if set, else "jit".
// Unknown names throw kiln::Error listing the known.
std::vector<std::string> backend_names();
std::string resolve_backend(const std::string& requested);
// Compiles g for `backend`. The "jit" backend first runs the default pipeline
// `pipeline` (passes/pipelines.h: Predict for forward graphs, TrainStep for
// train/eval step graphs) on its own copy; the interpreter runs g as given
// (it is the oracle). graph() is g, unoptimized, either way.
std::unique_ptr<Executable> compile_graph(std::unique_ptr<ir::Graph> g, const std::string& backend,
                                          passes::Pipeline pipeline);

}  // namespace kiln
