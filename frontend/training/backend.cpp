// The execution backends: "jit" (codegen/jit.h: the graph compiled by LLVM
// into one native function, the default) and "interpreter" (the reference
// interpreter, runtime/interpreter.h).
#include "training/backend.h"

#include <cstdlib>

#include "codegen/jit.h"
#include "runtime/interpreter.h"

namespace kiln {

namespace {

class Interpreted : public Executable {
 public:
  explicit Interpreted(std::unique_ptr<ir::Graph> g) : g_(std::move(g)) {}
  std::vector<Tensor> run(const std::vector<Tensor>& args) override { return runtime::interpret(*g_, args); }
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

class Jitted : public Executable {
 public:
  explicit Jitted(std::unique_ptr<ir::Graph> g) : prog_(process_jit().compile(*g)) {}
  std::vector<Tensor> run(const std::vector<Tensor>& args) override { return prog_->run(args); }
  const ir::Graph& graph() const override { return prog_->graph(); }

 private:
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

std::unique_ptr<Executable> compile_graph(std::unique_ptr<ir::Graph> g, const std::string& backend) {
  std::string b = resolve_backend(backend);
  if (b == "jit") return std::make_unique<Jitted>(std::move(g));
  return std::make_unique<Interpreted>(std::move(g));
}

}  // namespace kiln
