// Every registered pass and the default pipelines, as plain lists: read top to
// bottom to see what Kiln does to a model (`kiln ir NAME --stage=optimized
// --print-after=all` shows the IR after each step).
#include "passes/pipelines.h"

#include "passes/canonicalize.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/fold.h"
#include "passes/fuse.h"
#include "passes/plan_memory.h"
#include "passes/scan_invariants.h"
#include "passes/split_scan.h"

namespace kiln::passes {

const std::vector<Pass>& registered_passes() {
  static const std::vector<Pass> passes = {
      {"canonicalize", "algebraic identities; transpose, reshape and broadcast folding", canonicalize},
      {"fold", "constant folding of splat constants", fold},
      {"cse", "common subexpression elimination by structural hashing", cse},
      {"dce", "dead code elimination", dce},
      {"split-scan", "a scan's batch carries apart from the sums over its steps (two scans)", split_scan},
      {"scan-invariants", "a scan's matmuls by a transposed invariant read it transposed once, before the scan",
       scan_invariants},
      {"fuse", "elementwise chains, reductions and contraction epilogues into fusion regions", fuse},
      {"plan-memory", "liveness-based buffer assignment into one arena; reports peak bytes", plan_memory_pass,
       print_with_plan},
  };
  return passes;
}

std::vector<std::string> default_pipeline(Pipeline p) {
  switch (p) {
    case Pipeline::Predict:
      return {
          "canonicalize",  // identities first: they expose constants and duplicates
          "fold",          //
          "canonicalize",  // what folding exposed (x * 1 once 1 is known)
          "cse",           //
          "dce",           // before fusion, so dead values do not split groups
          "fuse",          //
          "dce",           // constants copied into fusion bodies
          "plan-memory",   //
      };
    case Pipeline::TrainStep:
      return {
          "canonicalize",  // autodiff leaves x * 1, x + 0, transpose pairs
          "fold",          //
          "canonicalize",  //
          "cse",           // forward values the backward pass recomputes
          "dce",           //
          "split-scan",    // an LSTM backward's dh/dc recurrence apart from its weight-gradient sums
          "scan-invariants",  // its dz x U^T reads U^T made once, not packed at every step
          "fuse",          // epilogues: bias, activation, activation derivative
          "dce",           //
          "plan-memory",   // weights and optimizer state updated in place
      };
  }
  return {};
}

std::vector<StageReport> optimize(ir::Graph& g, Pipeline p, const PassOptions& options) {
  PassManager pm(options);
  pm.add(default_pipeline(p));
  return pm.run(g);
}

}  // namespace kiln::passes
