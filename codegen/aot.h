// Ahead-of-time compilation: one graph (a model's optimized forward graph)
// and its weights into a static library and a C header, for programs that
// run the model without LLVM at run time.
//
//   codegen::AotOptions o{.prefix = "mlp", .archive = "libmlp.a", .header = "mlp.h"};
//   codegen::aot_compile(optimized_forward, weights, o);
//
// The library holds the model's object file (the same lowering, O3 pipeline
// and host TargetMachine as codegen::Jit, so it runs the JIT's code; the
// weights embedded as data) and, when `runtime_archive` names one, every
// member of libkiln_aot_runtime.a (the runtime kernels and the shared GEMM:
// no LLVM, C++ standard library only). A consumer links
//   libmodel.a -lstdc++ -lm
// and calls, from C or C++ (see the generated header):
//   size_t <prefix>_arena_bytes(int64_t batch);
//   int <prefix>_predict(const float* const* inputs, float* const* outputs, int64_t batch, void* arena);
// The code targets the CPU of the machine that compiled it (like the JIT).
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

struct AotResult {
  std::string runtime_archive;               // the runtime bundled into the archive ("" = none)
  int64_t fixed_bytes = 0, batch_bytes = 0;  // scratch: fixed + batch * N bytes
};

// `g`'s parameters are the model inputs followed by `weights.size()` weights
// (f32, concrete shapes); its results are the outputs. Inputs and outputs
// must be f32. Files are written atomically. Throws kiln::Error.
AotResult aot_compile(const ir::Graph& g, const std::vector<Tensor>& weights, const AotOptions& opts);

// The default libkiln_aot_runtime.a ($KILN_AOT_RUNTIME, else the build's), or "" if absent.
std::string default_aot_runtime();

}  // namespace kiln::codegen
