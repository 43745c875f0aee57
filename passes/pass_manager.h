// The pass manager: runs a pipeline of named passes over one graph, like
// LLVM's `opt -passes=...` and MLIR's PassManager.
//
// A pass is a name (stable: used by --print-after, dump files and tests), a
// one-line summary, and one documented entry `PassResult run(ir::Graph&)` that
// rewrites the graph in place and says whether it changed anything. Every pass
// is registered in passes/pipelines.cpp, next to the default pipelines.
//
// Options (the C++ side of `kiln ir --print-after=... --dump-dir=... --time-passes`):
//   print_after   pass names, or "all": print the IR after those passes to `log`
//                 ("// -----// IR Dump After fuse (changed) //----- //", then the IR);
//   dump_dir      write one numbered file per stage: 00-input.kir, 01-canonicalize.kir, ...;
//   verify_each   ir::verify after every pass (on by default in debug builds; the
//                 tests turn it on); a failure names the pass;
//   time_passes   print a wall-time table like LLVM's -time-passes to `log`.
// A pass may print its IR its own way (plan-memory appends the buffer plan as
// `//` comments, so every dump still parses back as .kir).
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes {

struct PassResult {
  bool changed = false;
  std::string stats;  // one line, e.g. "4 fusions, 7 kernels"
};

struct Pass {
  std::string_view name;
  std::string_view summary;
  PassResult (*run)(ir::Graph&);
  // How dumps show the graph after this pass; null: ir::to_string.
  std::string (*print)(const ir::Graph&) = nullptr;
};

// Every registered pass, in a fixed order (passes/pipelines.cpp).
const std::vector<Pass>& registered_passes();
// The pass called `name`, or null.
const Pass* find_pass(std::string_view name);

struct PassOptions {
  std::vector<std::string> print_after;  // pass names, or {"all"}
  std::string dump_dir;                  // empty: no dump files
#ifdef NDEBUG
  bool verify_each = false;
#else
  bool verify_each = true;
#endif
  bool time_passes = false;
  std::ostream* log = nullptr;  // print-after and time-passes output; null: std::cerr
};

// What one pass did in one run.
struct StageReport {
  std::string pass;
  PassResult result;
  double seconds = 0;
};

class PassManager {
 public:
  explicit PassManager(PassOptions options = {});

  // Appends passes by name; throws kiln::Error naming the registered passes
  // for an unknown name.
  void add(std::string_view name);
  void add(const std::vector<std::string>& names);
  // "canonicalize,fold,cse" (commas, optional spaces).
  void add_pipeline(std::string_view text);
  const std::vector<const Pass*>& pipeline() const { return pipeline_; }

  // Runs the pipeline on g; returns one report per pass run.
  std::vector<StageReport> run(ir::Graph& g);

 private:
  PassOptions opts_;
  std::vector<const Pass*> pipeline_;

  bool prints_after(std::string_view pass) const;
};

// Splits "a,b, c" into names; validates none.
std::vector<std::string> split_names(std::string_view text);

}  // namespace kiln::passes
