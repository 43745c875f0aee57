// The seven tutorial models: predict and train_step at batch 1, 32 and 256 on
// the JIT and on the interpreter, and JIT compile time per model and program,
// cold (no cache) and from the on-disk object cache. The JIT runs the graphs
// after the default pipelines, as the "jit" backend does; the interpreter the
// graphs as built (as the "interpreter" backend does).
//
// train_step is what bench/peers/pytorch_seed_models.py times in PyTorch:
// forward, the task's losses (binary cross-entropy; plus MSE for
// multi_output's sequence), backward and a plain SGD update; no metrics.
// Counters per row: items/s (samples/s), GFLOP/s and MFLOP (the matmul/conv
// FLOPs of one call), faults (minor page faults per call), and on JIT rows
// peak_MB (bytes live during a call: the distinct buffers of arguments and
// results + planned arena). JIT rows run through CompiledProgram::run_into
// with the results kept between calls, and the weights and optimizer slots
// the program updates in place given as their own results (as the trainer
// runs its steps: one buffer each, overwritten by the step). predict/MODEL/model_api rows time the
// user's call, Model::predict(x) on the "jit" backend, result tensor included.
//
//   build/bench/kiln_bench_models --benchmark_filter=train_step/mlp
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <memory>

#include "codegen/jit.h"
#include "kiln/kiln.h"
#include "passes/pipelines.h"
#include "runtime/interpreter.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

const char* kModels[] = {"mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input", "multi_output"};
const int64_t kBatches[] = {1, 32, 256};

// Multiply-add FLOPs of the contractions (2 per multiply-add) at batch n; scan bodies count T times.
double flops(const ir::Graph& g, int64_t n) {
  double f = 0;
  for (const ir::Node* node : g.nodes()) {
    auto dims = [&](const ir::Value* v) { return v->type.concrete(n); };
    auto count = [&](const ir::Value* v) { return static_cast<double>(v->type.elements(n)); };
    // Only contractions count (an if-chain, not a switch: every other op adds nothing).
    const ir::OpKind op = node->op;
    if (op == ir::OpKind::Matmul) {
      auto a = dims(node->operands[0]);
      int64_t k = node->attrs.b("transpose_a") ? a[a.size() - 2] : a.back();
      f += 2.0 * count(node->results[0]) * static_cast<double>(k);
    } else if (op == ir::OpKind::Conv2D || op == ir::OpKind::Conv2DInputGrad) {
      auto w = dims(node->operands[1]);  // y (or dy) elements * KH*KW*C
      const ir::Value* y = op == ir::OpKind::Conv2D ? node->results[0] : node->operands[0];
      f += 2.0 * count(y) * static_cast<double>(w[0] * w[1] * w[2]);
    } else if (op == ir::OpKind::Conv2DFilterGrad) {
      const ir::TensorType& w = node->results[0]->type;
      f += 2.0 * count(node->operands[1]) * static_cast<double>(w.static_elements() / w.shape[3]);
    } else if (op == ir::OpKind::Scan || op == ir::OpKind::Fusion) {
      double steps = 1;
      if (op == ir::OpKind::Scan)
        steps = static_cast<double>(dims(node->operands[static_cast<size_t>(node->attrs.i("num_carry"))])[0]);
      f += steps * flops(*node->body, n);
    }
  }
  return f;
}

struct Setup {
  std::unique_ptr<Model> model;  // compiled for the "jit" backend (model_api rows)
  std::unique_ptr<ir::Graph> predict, train;
  std::unique_ptr<ir::Graph> predict_opt, train_opt;  // after the default pipelines (what the JIT runs)
  std::vector<Tensor> predict_args, train_args;       // for 256 samples
  size_t inputs = 0, targets = 0;
};

Setup& setup(const std::string& name) {
  static std::map<std::string, Setup> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Setup& s = cache[name];
  set_seed(1);
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 256, 1);
  CompileOptions opts = task.compile;  // the task's losses; SGD and no metrics, as the PyTorch peer
  opts.optimizer = SGD(0.01);
  opts.metrics = {};
  opts.backend = "interpreter";
  model.compile(opts);
  const StepGraphs& sg = model.step_graphs(task.y);
  s.predict = model.forward_ir();
  s.train = sg.train_step->clone();
  s.predict_opt = s.predict->clone();
  passes::optimize(*s.predict_opt, passes::Pipeline::Predict);
  s.train_opt = s.train->clone();
  passes::optimize(*s.train_opt, passes::Pipeline::TrainStep);
  std::vector<std::string> in, out;
  for (const KerasTensor& t : model.inputs()) in.push_back(t.layer().name());
  for (const KerasTensor& t : model.outputs()) out.push_back(t.layer().name());
  std::vector<Tensor> xs = task.x.resolve(in, "input", name), ys = task.y.resolve(out, "target", name);
  std::vector<Tensor> w = model.get_weights();
  s.inputs = xs.size();
  s.targets = ys.size();
  s.predict_args = xs;
  s.predict_args.insert(s.predict_args.end(), w.begin(), w.end());
  s.train_args = xs;
  s.train_args.insert(s.train_args.end(), ys.begin(), ys.end());
  s.train_args.insert(s.train_args.end(), w.begin(), w.end());
  for (size_t i = 0; i < sg.state_types.size(); ++i)
    s.train_args.push_back(Tensor::full(sg.state_types[i].shape, static_cast<float>(sg.state_init[i])));
  s.train_args.push_back(Tensor::full({}, 0.001f));
  s.model = std::make_unique<Model>(model);
  opts.backend = "jit";
  s.model->compile(opts);
  return s;
}

// The first `rows` samples of the batched arguments (the first `batched` ones).
std::vector<Tensor> first_rows(const std::vector<Tensor>& args, size_t batched, int64_t rows) {
  std::vector<Tensor> out = args;
  for (size_t i = 0; i < batched; ++i) out[i] = args[i].slice_rows(0, rows);
  return out;
}

codegen::Jit& jit() {
  static codegen::Jit j;
  return j;
}

// Minor page faults of this process so far.
double minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_minflt);
}

// Bytes of the distinct buffers among `ts` (a parameter updated in place is its own result).
size_t total_bytes(const std::vector<Tensor>& ts) {
  std::set<const void*> seen;
  size_t b = 0;
  for (const Tensor& t : ts)
    if (seen.insert(t.raw()).second) b += t.nbytes();
  return b;
}

void run(benchmark::State& state, const std::string& name, bool train, bool use_jit, int64_t batch) {
  Setup& s = setup(name);
  const ir::Graph& g = train ? *s.train : *s.predict;
  std::vector<Tensor> args =
      first_rows(train ? s.train_args : s.predict_args, train ? s.inputs + s.targets : s.inputs, batch);
  std::unique_ptr<codegen::CompiledProgram> prog =
      use_jit ? jit().compile(train ? *s.train_opt : *s.predict_opt) : nullptr;
  std::vector<Tensor> out;
  if (use_jit) {
    out.resize(prog->graph().results().size());
    for (const codegen::ParamUpdate& u : prog->updates()) {  // this row's own copy, overwritten by every call
      Tensor& a = args[static_cast<size_t>(u.param)];
      a = a.clone();
      out[static_cast<size_t>(u.result)] = a;
    }
  }
  auto call = [&] {
    if (use_jit) prog->run_into(args, out);
    else out = runtime::interpret(g, args);
  };
  call();  // warm-up: the arena and first-touch faults are not timed
  std::vector<Tensor> all = args;  // every buffer live during a call
  all.insert(all.end(), out.begin(), out.end());
  double faults = minor_faults();
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(out.data());
  }
  faults = minor_faults() - faults;
  const double iters = static_cast<double>(state.iterations());
  const double f = flops(g, batch);
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["GFLOP/s"] = benchmark::Counter(f * iters * 1e-9, benchmark::Counter::kIsRate);
  state.counters["MFLOP"] = f * 1e-6;
  state.counters["faults"] = faults / iters;
  if (use_jit)
    state.counters["peak_MB"] =
        static_cast<double>(total_bytes(all) + static_cast<size_t>(prog->arena_bytes(batch))) /
        1e6;
}

// What a user's Model::predict(x) costs on the "jit" backend, result tensor included.
void model_predict(benchmark::State& state, const std::string& name, int64_t batch) {
  Setup& s = setup(name);
  std::vector<Tensor> xs = first_rows(s.predict_args, s.inputs, batch);
  xs.resize(s.inputs);
  Data x(xs);
  PredictOptions opts{.batch_size = static_cast<int>(batch), .verbose = 0};
  s.model->predict(x, opts);  // warm-up: the first call compiles the forward graph
  for (auto _ : state) {
    Prediction p = s.model->predict(x, opts);
    benchmark::DoNotOptimize(p[0].raw());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

// Time to make a program runnable: the default pipeline on a copy of the
// graph (as the jit backend does) plus the JIT, with no cache at all (cold) or
// from a warm on-disk object cache (a second process's start).
void compile_time(benchmark::State& state, const std::string& name, bool train, bool cached) {
  Setup& s = setup(name);
  const ir::Graph& g = train ? *s.train : *s.predict;
  const passes::Pipeline pipeline = train ? passes::Pipeline::TrainStep : passes::Pipeline::Predict;
  std::string dir = (std::filesystem::temp_directory_path() / ("kiln-bench-cache-" + name)).string();
  std::filesystem::remove_all(dir);
  if (cached) {  // warm the disk cache once
    codegen::Jit warm(codegen::JitOptions{.cache_dir = dir, .disk_cache = true});
    std::unique_ptr<ir::Graph> opt = g.clone();
    passes::optimize(*opt, pipeline);
    warm.compile(*opt);
  }
  double passes_s = 0, lower_s = 0, optimize_s = 0, codegen_s = 0;
  for (auto _ : state) {
    codegen::Jit j(codegen::JitOptions{.cache_dir = dir, .disk_cache = cached});
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<ir::Graph> opt = g.clone();
    passes::optimize(*opt, pipeline);
    passes_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(j.compile(*opt));
    codegen::JitStats st = j.stats();
    lower_s += st.lower_seconds;
    optimize_s += st.optimize_seconds;
    codegen_s += st.codegen_seconds;
  }
  // Where the time went, ms per compile: graph passes, lowering to LLVM IR,
  // LLVM's IR pipeline, machine code generation and linking (JitStats).
  for (auto [key, s] : {std::pair{"passes_ms", passes_s}, {"lower_ms", lower_s}, {"llvm_opt_ms", optimize_s},
                        {"codegen_ms", codegen_s}})
    state.counters[key] = benchmark::Counter(1e3 * s / static_cast<double>(state.iterations()));
  std::filesystem::remove_all(dir);
}

int register_all() {
  for (const char* m : kModels) {
    for (bool train : {false, true})
      for (bool use_jit : {true, false})
        for (int64_t b : kBatches) {
          std::string label = std::string(train ? "train_step/" : "predict/") + m + "/" +
                              (use_jit ? "jit" : "interpreter") + "/batch:" + std::to_string(b);
          benchmark::RegisterBenchmark(label.c_str(), [=](benchmark::State& st) { run(st, m, train, use_jit, b); })
              ->Unit(benchmark::kMicrosecond)
              ->UseRealTime();  // Kiln's pool threads work while the caller waits
        }
    for (int64_t b : kBatches)
      benchmark::RegisterBenchmark((std::string("predict/") + m + "/model_api/batch:" + std::to_string(b)).c_str(),
                                   [=](benchmark::State& st) { model_predict(st, m, b); })
          ->Unit(benchmark::kMicrosecond);
    for (bool train : {false, true})
      for (bool cached : {false, true})
        benchmark::RegisterBenchmark(
            (std::string("compile/") + m + (train ? "/train_step" : "/predict") + (cached ? "/disk_cache" : "/cold"))
                .c_str(),
            [=](benchmark::State& st) { compile_time(st, m, train, cached); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(cached ? 3 : 1)
            ->Repetitions(5);
  }
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
