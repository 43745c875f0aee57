// The seven tutorial models on the JIT: predict and one train step equal the
// interpreter (<= 1e-5 relative; after the default pipelines, as the "jit"
// backend runs them, bitwise, and with no fusion region left as per-node
// kernels), the Keras goldens hold through the "jit" backend, autodiff graphs
// match, and a batch-size change never recompiles.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "jit_test_util.h"
#include "kiln/kiln.h"
#include "passes/autodiff.h"
#include "passes/pipelines.h"
#include "runtime/thread_pool.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;
using jit_test::close;

namespace {

constexpr double kRel = 1e-5;
// The optimized graphs on the JIT equal the unoptimized ones on the interpreter
// bit for bit (measured on all seven models): the passes never reassociate
// (canonicalize's identities are exact, fold folds splats with the
// interpreter's kernels, fusion keeps each op's single rounding and order).
constexpr double kOptRel = 0;

std::vector<std::string> input_names(const Model& m) {
  std::vector<std::string> ns;
  for (const KerasTensor& t : m.inputs()) ns.push_back(t.layer().name());
  return ns;
}

std::vector<std::string> output_names(const Model& m) {
  std::vector<std::string> ns;
  for (const KerasTensor& t : m.outputs()) ns.push_back(t.layer().name());
  return ns;
}

std::vector<Tensor> rows(const std::vector<Tensor>& ts, int64_t n) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.slice_rows(0, n));
  return out;
}

void expect_all_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, const std::string& what,
                      double rel = kRel) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i], rel)) << what << " result " << i;
}

// What the "jit" backend compiles: the default pipeline's result on a copy.
std::unique_ptr<ir::Graph> optimized(const ir::Graph& g, passes::Pipeline p) {
  std::unique_ptr<ir::Graph> o = g.clone();
  passes::PassOptions opts;
  opts.verify_each = true;
  passes::optimize(*o, p, opts);
  return o;
}

// The entries of a program's !kiln.unfused metadata, one a line.
std::string unfused_list(const codegen::CompiledProgram& prog) {
  const std::string ir = prog.llvm_ir();
  std::smatch list;
  if (!std::regex_search(ir, list, std::regex(R"(!kiln\.unfused = !\{([^}]*)\})"))) return "";
  std::string out, ids = list[1].str();
  const std::regex id(R"(!\d+)");
  for (auto it = std::sregex_iterator(ids.begin(), ids.end(), id); it != std::sregex_iterator(); ++it) {
    std::smatch entry;
    if (std::regex_search(ir, entry, std::regex("\n" + it->str() + R"re( = !\{!"([^"]*)"\})re")))
      out += entry[1].str() + "\n";
  }
  return out;
}

// Every fusion region of the optimized graphs `jit` compiled is one loop nest
// or one GEMM call with its epilogue (fuse lets into a contraction's region
// only what ir/epilogue.h says the epilogue absorbs): none is left as a call
// of per-node kernels.
void expect_all_fused(const codegen::Jit& jit, const std::vector<const codegen::CompiledProgram*>& progs,
                      const std::string& what) {
  EXPECT_GT(jit.stats().fused_regions, 0) << what;
  if (jit.stats().unfused_regions == 0) return;
  std::string list;
  for (const codegen::CompiledProgram* p : progs) list += unfused_list(*p);
  ADD_FAILURE() << what << ": " << jit.stats().unfused_regions << " unfused regions\n" << list;
}

// Without AVX-512 a masked load or store is vmaskmovps, microcoded on AMD Zen
// (a masked store costs tens of cycles): there, no kernel of a tutorial
// model has one (codegen: KernelCtx::cheap_masks, set_llvm_options). With
// AVX-512 masks are free and the kernels use them.
void expect_no_masked_moves(const codegen::CompiledProgram& prog, const std::string& what) {
  if (__builtin_cpu_supports("avx512f")) return;
  const std::string as = prog.asm_text();
  const size_t at = as.find("vmaskmov");
  if (at == std::string::npos) return;
  const size_t fn = as.rfind(":\n", at);
  ADD_FAILURE() << what << ": a masked move on a host without AVX-512, in\n"
                << as.substr(fn == std::string::npos ? 0 : as.rfind('\n', fn) + 1, 120) << "\n...\n"
                << as.substr(at, 80);
}

class Zoo : public ::testing::TestWithParam<std::string> {};

TEST_P(Zoo, PredictMatchesInterpreterWithoutRecompiling) {
  set_seed(3);
  Model model = zoo::build(GetParam());
  std::unique_ptr<ir::Graph> fwd = model.forward_ir();
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto prog = jit.compile(*fwd);
  std::vector<Tensor> w = model.get_weights();
  for (int64_t batch : {32, 7, 1}) {
    std::vector<Tensor> args = jit_test::random_args(*fwd, batch, static_cast<uint32_t>(batch));
    size_t ninputs = model.inputs().size();
    for (size_t i = 0; i < w.size(); ++i) args[ninputs + i] = w[i];
    expect_all_close(prog->run(args), runtime::interpret(*fwd, args), GetParam() + " N=" + std::to_string(batch));
  }
  EXPECT_EQ(jit.stats().compilations, 1);
  // The same graph again: answered from memory.
  jit.compile(*fwd);
  EXPECT_EQ(jit.stats().compilations, 1);
  EXPECT_EQ(jit.stats().memory_hits, 1);
}

TEST_P(Zoo, TrainStepMatchesInterpreter) {
  const std::string name = GetParam();
  set_seed(5);
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 32, 2);
  CompileOptions opts = task.compile;
  opts.backend = "interpreter";
  model.compile(opts);
  const StepGraphs& sg = model.step_graphs(task.y);
  std::vector<Tensor> xs = task.x.resolve(input_names(model), "input", name);
  std::vector<Tensor> ys = task.y.resolve(output_names(model), "target", name);
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto train = jit.compile(*sg.train_step);
  auto eval = jit.compile(*sg.eval_step);
  for (int64_t batch : {32, 7, 1}) {
    std::vector<Tensor> args = rows(xs, batch), targets = rows(ys, batch);
    args.insert(args.end(), targets.begin(), targets.end());
    std::vector<Tensor> w = model.get_weights();
    args.insert(args.end(), w.begin(), w.end());
    expect_all_close(eval->run(args), runtime::interpret(*sg.eval_step, args),
                     name + " eval N=" + std::to_string(batch));
    for (size_t i = 0; i < sg.state_types.size(); ++i)
      args.push_back(Tensor::full(sg.state_types[i].shape, static_cast<float>(sg.state_init[i])));
    args.push_back(Tensor::full({}, 0.01f));
    expect_all_close(train->run(args), runtime::interpret(*sg.train_step, args),
                     name + " train_step N=" + std::to_string(batch));
  }
  EXPECT_EQ(jit.stats().compilations, 2);
}

// The optimized graphs on the JIT (what fit/evaluate/predict run) against the
// unoptimized graphs on the interpreter (the oracle).
TEST_P(Zoo, OptimizedPredictMatchesInterpreter) {
  set_seed(3);
  Model model = zoo::build(GetParam());
  std::unique_ptr<ir::Graph> fwd = model.forward_ir();
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto prog = jit.compile(*optimized(*fwd, passes::Pipeline::Predict));
  std::vector<Tensor> w = model.get_weights();
  for (int64_t batch : {32, 7, 1}) {
    std::vector<Tensor> args = jit_test::random_args(*fwd, batch, static_cast<uint32_t>(batch));
    size_t ninputs = model.inputs().size();
    for (size_t i = 0; i < w.size(); ++i) args[ninputs + i] = w[i];
    expect_all_close(prog->run(args), runtime::interpret(*fwd, args), GetParam() + " N=" + std::to_string(batch),
                     kOptRel);
  }
  EXPECT_EQ(jit.stats().compilations, 1);
  expect_all_fused(jit, {prog.get()}, GetParam() + " predict");
  expect_no_masked_moves(*prog, GetParam() + " predict");
}

TEST_P(Zoo, OptimizedStepsMatchInterpreter) {
  const std::string name = GetParam();
  set_seed(5);
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 32, 2);
  CompileOptions opts = task.compile;
  opts.backend = "interpreter";
  model.compile(opts);
  const StepGraphs& sg = model.step_graphs(task.y);
  std::vector<Tensor> xs = task.x.resolve(input_names(model), "input", name);
  std::vector<Tensor> ys = task.y.resolve(output_names(model), "target", name);
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto train = jit.compile(*optimized(*sg.train_step, passes::Pipeline::TrainStep));
  auto eval = jit.compile(*optimized(*sg.eval_step, passes::Pipeline::TrainStep));
  for (int64_t batch : {32, 7, 1}) {
    std::vector<Tensor> args = rows(xs, batch), targets = rows(ys, batch);
    args.insert(args.end(), targets.begin(), targets.end());
    std::vector<Tensor> w = model.get_weights();
    args.insert(args.end(), w.begin(), w.end());
    expect_all_close(eval->run(args), runtime::interpret(*sg.eval_step, args),
                     name + " eval N=" + std::to_string(batch), kOptRel);
    for (size_t i = 0; i < sg.state_types.size(); ++i)
      args.push_back(Tensor::full(sg.state_types[i].shape, static_cast<float>(sg.state_init[i])));
    args.push_back(Tensor::full({}, 0.01f));
    expect_all_close(train->run(args), runtime::interpret(*sg.train_step, args),
                     name + " train_step N=" + std::to_string(batch), kOptRel);
  }
  EXPECT_EQ(jit.stats().compilations, 2);
  expect_all_fused(jit, {train.get(), eval.get()}, name + " train_step and eval_step");
  expect_no_masked_moves(*train, name + " train_step");
  expect_no_masked_moves(*eval, name + " eval_step");
}

// The CNN's optimized train step (its GEMMs and im2col split over the thread
// pool at batch 32) gives the same bytes on 1 and 2 threads.
TEST(ZooThreads, CnnTrainStepSameBytesForOneAndTwoThreads) {
  set_seed(5);
  Model model = zoo::build("cnn");
  zoo::Task task = zoo::synthetic_task("cnn", 32, 2);
  model.compile(task.compile);
  const StepGraphs& sg = model.step_graphs(task.y);
  std::vector<Tensor> args = task.x.resolve(input_names(model), "input", "cnn");
  std::vector<Tensor> ys = task.y.resolve(output_names(model), "target", "cnn");
  args.insert(args.end(), ys.begin(), ys.end());
  std::vector<Tensor> w = model.get_weights();
  args.insert(args.end(), w.begin(), w.end());
  for (size_t i = 0; i < sg.state_types.size(); ++i)
    args.push_back(Tensor::full(sg.state_types[i].shape, static_cast<float>(sg.state_init[i])));
  args.push_back(Tensor::full({}, 0.01f));
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto train = jit.compile(*optimized(*sg.train_step, passes::Pipeline::TrainStep));
  const int32_t before = kiln_num_threads();
  kiln_set_num_threads(1);
  std::vector<Tensor> one = train->run(args);
  kiln_set_num_threads(2);
  std::vector<Tensor> two = train->run(args);
  kiln_set_num_threads(before);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].shape(), two[i].shape()) << i;
    EXPECT_EQ(std::memcmp(one[i].raw(), two[i].raw(), one[i].nbytes()), 0) << "result " << i;
  }
}

TEST_P(Zoo, GradientGraphMatchesInterpreter) {
  const std::string name = GetParam();
  set_seed(9);
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 16, 4);
  CompileOptions opts = task.compile;
  opts.backend = "interpreter";
  model.compile(opts);
  const StepGraphs& sg = model.step_graphs(task.y);
  size_t first_weight = model.inputs().size() + model.outputs().size();
  std::vector<int> wrt;
  for (size_t i = first_weight; i < sg.eval_step->params().size(); ++i) wrt.push_back(static_cast<int>(i));
  auto grad = passes::autodiff(*sg.eval_step, wrt);
  std::vector<Tensor> args = task.x.resolve(input_names(model), "input", name);
  std::vector<Tensor> ys = task.y.resolve(output_names(model), "target", name);
  args.insert(args.end(), ys.begin(), ys.end());
  std::vector<Tensor> w = model.get_weights();
  args.insert(args.end(), w.begin(), w.end());
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  expect_all_close(jit.compile(*grad)->run(args), runtime::interpret(*grad, args), name + " gradients");
}

TEST_P(Zoo, FitOnJitBackendMatchesInterpreterBackend) {
  const std::string name = GetParam();
  std::vector<std::vector<Tensor>> weights;
  std::vector<double> losses;
  for (const char* backend : {"interpreter", "jit"}) {
    set_seed(11);
    Model model = zoo::build(name);
    zoo::Task task = zoo::synthetic_task(name, 48, 6);
    CompileOptions opts = task.compile;
    opts.backend = backend;
    model.compile(opts);
    History h = model.fit(task.x, task.y, {.epochs = 2, .batch_size = 16, .shuffle = false, .verbose = 0});
    losses.push_back(h["loss"].back());
    weights.push_back(model.get_weights());
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-4 * std::max(1.0, std::fabs(losses[0]))) << name;
  ASSERT_EQ(weights[0].size(), weights[1].size());
  for (size_t i = 0; i < weights[0].size(); ++i)
    EXPECT_TRUE(close(weights[1][i], weights[0][i], 1e-4)) << name << " weight " << i;
}

INSTANTIATE_TEST_SUITE_P(Tutorial, Zoo,
                         ::testing::Values("mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input",
                                           "multi_output"));

// tests/data/golden (Keras values): forward and one SGD step through the "jit" backend.
nlohmann::json load(const std::string& name) {
  std::ifstream in(std::string(KILN_TEST_DATA) + "/golden/" + name);
  EXPECT_TRUE(in.good()) << name;
  return nlohmann::json::parse(in);
}

Tensor tensor(const nlohmann::json& j) {
  return Tensor(j["shape"].get<std::vector<int64_t>>(), j["data"].get<std::vector<float>>());
}

void expect_near(const Tensor& got, const nlohmann::json& want, double tol, const std::string& what) {
  std::vector<float> w = want["data"].get<std::vector<float>>();
  ASSERT_EQ(got.size(), static_cast<int64_t>(w.size())) << what;
  for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(got.data()[i], w[i], tol) << what << " element " << i;
}

class KerasGoldenJit : public ::testing::TestWithParam<std::string> {};

TEST_P(KerasGoldenJit, ForwardAndOneSgdStep) {
  const std::string name = GetParam();
  nlohmann::json io = load(name + "_io.json");
  Model model = zoo::build(name);
  std::vector<Tensor> weights;
  for (const auto& w : io["weights"]) weights.push_back(tensor(w));
  model.set_weights(weights);
  Tensor x = tensor(io["inputs"][0]);
  model.compile({.optimizer = SGD(0.1), .loss = "binary_crossentropy", .backend = "jit"});
  Tensor p = model.predict(x);
  expect_near(p, io["outputs"][0], 1e-5, "forward output");
  const auto& tr = io["training"];
  Tensor y = tensor(tr["y"]);
  EXPECT_NEAR(model.test_on_batch(x, y)["loss"], tr["loss_before"].get<double>(), 1e-5);
  Logs step = model.train_on_batch(x, y);
  EXPECT_NEAR(step["loss"], tr["loss_before"].get<double>(), 1e-5);
  std::vector<Tensor> after = model.get_weights();
  for (size_t i = 0; i < after.size(); ++i) expect_near(after[i], tr["weights_after"][i], 1e-5, "weight after step");
  EXPECT_NEAR(model.test_on_batch(x, y)["loss"], tr["loss_after"].get<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Keras, KerasGoldenJit, ::testing::Values("mlp", "rnn"));

}  // namespace
