// Ahead-of-time compilation: a model's optimized forward graph (and, for a
// compiled model, its optimized train step) with the weights and optimizer
// state into a static library and a C header, for programs that run or train
// the model without LLVM at run time.
//
//   codegen::AotOptions o{.prefix = "mlp", .archive = "libmlp.a", .header = "mlp.h"};
//   codegen::aot_compile(optimized_forward, weights, o);               // predict only
//   codegen::aot_compile(optimized_forward, weights, o, &train_step);  // predict and train_step
//
// (Model::export_aot in kiln/model.h builds these arguments from a model.)
// The library holds one object file: each graph through the same lowering,
// optimization pipeline and host TargetMachine as codegen::Jit (so it runs the JIT's
// code), a constant descriptor `<prefix>_model` (codegen/aot_abi.h: tensors,
// embedded initial values, graph functions) and one-line C entry points that
// call libkiln_aot_runtime.a's kiln_aot_* functions with it. When
// `runtime_archive` names one, every member of libkiln_aot_runtime.a is
// bundled (runtime kernels, shared GEMM, aot_runtime.cpp: no LLVM, the C++
// standard library only), so a consumer links
//   libmodel.a -lstdc++ -lm
// The generated header documents the C API (predict with the embedded
// weights; create/destroy a state holding weights and optimizer slots;
// predict and train_step on it; read and write its tensors). The code targets
// the CPU of the machine that compiled it (like the JIT).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln::codegen {

struct AotOptions {
  std::string prefix = "model";  // C identifier prefix of every exported symbol
  std::string archive;           // static library to write (.a); "" = none
  std::string object;            // object file to write (.o); "" = none
  std::string header;            // C header to write; "" = none
  // libkiln_aot_runtime.a whose members are copied into `archive`;
  // "" = $KILN_AOT_RUNTIME, else the one this build produced (if it exists).
  std::string runtime_archive;
  bool bundle_runtime = true;  // false: the consumer links libkiln_aot_runtime.a itself
};

// A training step to export next to predict.
struct AotTrainStep {
  // train_step(inputs..., targets..., weights..., slots..., lr) -> (logs..., new weights..., new slots...)
  // (frontend/training/step_graphs.h), optimized; inputs and weights as in the forward graph.
  const ir::Graph* graph = nullptr;
  size_t num_targets = 0;
  std::vector<std::string> log_names;
  std::vector<Tensor> slots;  // the optimizer state to start from (step counter, then each weight's slots)
  double learning_rate = 0.0;
};

struct AotResult {
  std::string runtime_archive;               // the runtime bundled into the archive ("" = none)
  int64_t fixed_bytes = 0, batch_bytes = 0;  // predict's scratch: fixed + batch * N bytes
};

// `forward`'s parameters are the model inputs followed by `weights.size()`
// weights (f32, concrete shapes); its results are the outputs. Every tensor
// must be f32 (targets too). Files are written atomically. Throws kiln::Error.
AotResult aot_compile(const ir::Graph& forward, const std::vector<Tensor>& weights, const AotOptions& opts,
                      const AotTrainStep* train = nullptr);

// The default libkiln_aot_runtime.a ($KILN_AOT_RUNTIME, else the build's), or "" if absent.
std::string default_aot_runtime();

}  // namespace kiln::codegen
