#include "training/backend.h"

#include <cstdlib>

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

}  // namespace

std::vector<std::string> backend_names() { return {"interpreter"}; }

std::string resolve_backend(const std::string& requested) {
  std::string b = requested;
  if (b.empty()) {
    const char* env = std::getenv("KILN_BACKEND");
    b = env && *env ? env : "interpreter";
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
  KILN_ASSERT(b == "interpreter", "backend " + b + " has no compiler");
  return std::make_unique<Interpreted>(std::move(g));
}

}  // namespace kiln
