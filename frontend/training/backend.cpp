// The execution backends: "jit" (codegen/jit.h: the graph compiled by LLVM
// into one native function, the default) and "interpreter" (the reference
// interpreter, runtime/interpreter.h).
#include "training/backend.h"

#include <cstdlib>

#include "codegen/jit.h"
#include "passes/pipelines.h"
#include "runtime/interpreter.h"

namespace kiln {

namespace {

class Interpreted : public Executable {
 public:
  explicit Interpreted(std::unique_ptr<ir::Graph> g) : g_(std::move(g)) {}
  std::vector<Tensor> run(const std::vector<Tensor>& args) override { return runtime::interpret(*g_, args); }
  void run_into(const std::vector<Tensor>& args, std::vector<Tensor>& results) override {
    results = runtime::interpret(*g_, args);
  }
  const ir::Graph& graph() const override { return *g_; }

 private:
  std::unique_ptr<ir::Graph> g_;
};

// One JIT per process, so that a graph compiled once (e.g. the same model's
// step compiled again by another compile() call) is reused from its cache.
codegen::Jit& process_jit() {
  static codegen::Jit jit;
  return jit;
}

// The optimized copy of a graph: same parameters and results, fewer and fused kernels.
std::unique_ptr<ir::Graph> optimized(const ir::Graph& g, passes::Pipeline pipeline) {
  std::unique_ptr<ir::Graph> o = g.clone();
  passes::optimize(*o, pipeline);
  return o;
}

class Jitted : public Executable {
 public:
  Jitted(std::unique_ptr<ir::Graph> g, passes::Pipeline pipeline)
      : g_(std::move(g)), prog_(process_jit().compile(*optimized(*g_, pipeline))) {}
  std::vector<Tensor> run(const std::vector<Tensor>& args) override { return prog_->run(args); }
  void run_into(const std::vector<Tensor>& args, std::vector<Tensor>& results) override {
    prog_->run_into(args, results);
  }
  std::vector<std::pair<size_t, size_t>> updates() const override {
    std::vector<std::pair<size_t, size_t>> out;
    for (const codegen::ParamUpdate& u : prog_->updates())
      out.push_back({static_cast<size_t>(u.param), static_cast<size_t>(u.result)});
    return out;
  }
  const ir::Graph& graph() const override { return *g_; }

 private:
  std::unique_ptr<ir::Graph> g_;  // as given (the compiled program holds the optimized copy)
  std::unique_ptr<codegen::CompiledProgram> prog_;
};

}  // namespace

std::vector<std::string> backend_names() { return {"jit", "interpreter"}; }

std::string resolve_backend(const std::string& requested) {
  std::string b = requested;
  if (b.empty()) {
    const char* env = std::getenv("KILN_BACKEND");
    b = env && *env ? env : "jit";
  }
  for (const std::string& n : backend_names())
    if (n == b) return b;
  std::string known;
  for (const std::string& n : backend_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("Unknown backend '" + b + "' (from " + (requested.empty() ? "$KILN_BACKEND" : "the backend option") +
              "). Known backends: " + known + ".");
}

std::unique_ptr<Executable> compile_graph(std::unique_ptr<ir::Graph> g, const std::string& backend,
                                          passes::Pipeline pipeline) {
  std::string b = resolve_backend(backend);
  if (b == "jit") return std::make_unique<Jitted>(std::move(g), pipeline);
  return std::make_unique<Interpreted>(std::move(g));
}

}  // namespace kiln
