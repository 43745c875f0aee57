// CompiledProgram::run_into (results written into the caller's tensors, no
// allocation on repeated calls) and the JIT's exp/tanh/sigmoid against the
// interpreter's on special and extreme values, bit for bit.
#include <cmath>
#include <limits>

#include "codegen/plan.h"
#include "ir/parser.h"
#include "jit_test_util.h"
#include "kiln/kiln.h"
#include "passes/pipelines.h"
#include "runtime/thread_pool.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

codegen::Jit& jit() {
  static codegen::Jit j(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  return j;
}

const char* kDense = R"(
func @dense(%x: f32[N,3], %w: f32[3,2]) -> (f32[N,2], f32[]) {
  %y = matmul %x, %w : f32[N,2]
  %s = reduce_sum %y {axes=[0,1]} : f32[]
  return %y, %s
}
)";

TEST(RunInto, ReusesResultBuffersAndMatchesRun) {
  auto g = ir::parse_graph(kDense);
  auto prog = jit().compile(*g);
  std::mt19937 rng(1);
  std::vector<Tensor> args = {jit_test::random_arg(g->params()[0]->type, 5, rng),
                              jit_test::random_arg(g->params()[1]->type, 5, rng)};
  std::vector<Tensor> out;
  prog->run_into(args, out);
  ASSERT_EQ(out.size(), 2u);
  const void* y = out[0].raw();
  const void* s = out[1].raw();
  for (int i = 0; i < 3; ++i) {
    args[0] = jit_test::random_arg(g->params()[0]->type, 5, rng);
    prog->run_into(args, out);
    EXPECT_EQ(out[0].raw(), y);  // written in place
    EXPECT_EQ(out[1].raw(), s);
    std::vector<Tensor> want = runtime::interpret(*g, args);
    EXPECT_TRUE(jit_test::close(out[0], want[0], 0));
    EXPECT_TRUE(jit_test::close(out[1], want[1], 0));
  }
  // Another batch size: the batched result is replaced, the scalar kept.
  args[0] = jit_test::random_arg(g->params()[0]->type, 7, rng);
  prog->run_into(args, out);
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{7, 2}));
  EXPECT_EQ(out[1].raw(), s);
  EXPECT_TRUE(jit_test::close(out[0], runtime::interpret(*g, args)[0], 0));
  // A result of the wrong dtype or shape is replaced, not written.
  Tensor wrong = Tensor::zeros({7, 3});
  out[0] = wrong;
  prog->run_into(args, out);
  EXPECT_NE(out[0].raw(), wrong.raw());
  EXPECT_EQ(wrong.data()[0], 0.0f);
}

TEST(RunInto, RejectsResultsThatShareMemoryWithArguments) {
  auto g = ir::parse_graph(R"(
func @neg(%x: f32[N,4]) -> (f32[N,4]) {
  %y = neg %x : f32[N,4]
  return %y
}
)");
  auto prog = jit().compile(*g);
  std::vector<Tensor> args = {Tensor::full({2, 4}, 1.0f)};
  std::vector<Tensor> out = {args[0]};
  EXPECT_THROW(prog->run_into(args, out), Error);
  std::vector<Tensor> view = {args[0].reshaped({2, 4})};
  EXPECT_THROW(prog->run_into(args, view), Error);
  auto two = jit().compile(*ir::parse_graph(R"(
func @two(%x: f32[N,4]) -> (f32[N,4], f32[N,4]) {
  %a = neg %x : f32[N,4]
  %b = abs %x : f32[N,4]
  return %a, %b
}
)"));
  Tensor y = Tensor::zeros({2, 4});
  std::vector<Tensor> same = {y, y};
  EXPECT_THROW(two->run_into(args, same), Error);
}

// A train step updates its weights and optimizer state in place (codegen/plan.h,
// GraphPlan::updates): the MLP's SGD step pairs every weight and the step
// counter with its new value. Given the weights' own buffers as those results
// it overwrites them (the backward matmuls read each weight before its update
// does); given other buffers it leaves the arguments alone. Both equal the
// interpreter bit for bit, at 1 and 2 threads.
TEST(RunInto, TrainStepUpdatesItsWeightsInPlace) {
  set_seed(1);
  Model model = zoo::build("mlp");
  zoo::Task task = zoo::synthetic_task("mlp", 32, 1);
  CompileOptions opts = task.compile;
  opts.optimizer = SGD(0.1);
  opts.metrics = {};
  opts.backend = "interpreter";
  model.compile(opts);
  std::unique_ptr<ir::Graph> g = model.step_graphs(task.y).train_step->clone();
  passes::optimize(*g, passes::Pipeline::TrainStep);
  auto prog = jit().compile(*g);
  // Parameters: x, y, 8 weights, the step counter, lr; results: loss, 8 weights, the counter.
  std::vector<codegen::ParamUpdate> want_updates;
  for (int64_t i = 0; i < 9; ++i) want_updates.push_back({2 + i, 1 + i});  // in result order
  EXPECT_EQ(prog->updates(), want_updates);
  const std::vector<Tensor> w = model.get_weights();
  const int32_t threads_before = kiln_num_threads();
  for (int32_t threads : {1, 2}) {
    kiln_set_num_threads(threads);
    for (int64_t n : {1, 32}) {
      std::vector<Tensor> args = {task.x.resolve({"input_1"}, "input", "mlp")[0].slice_rows(0, n),
                                  task.y.resolve({"dense_3"}, "target", "mlp")[0].slice_rows(0, n)};
      for (const Tensor& t : w) args.push_back(t.clone());
      args.push_back(Tensor::full({}, 0.0f));
      args.push_back(Tensor::full({}, 0.1f));
      const std::vector<Tensor> want = runtime::interpret(*g, args);
      std::vector<Tensor> before;
      for (const Tensor& a : args) before.push_back(a.clone());
      std::vector<Tensor> apart;  // fresh result buffers: the arguments stay
      prog->run_into(args, apart);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(jit_test::close(apart[i], want[i], 0)) << "result " << i;
      for (size_t i = 0; i < args.size(); ++i) EXPECT_TRUE(jit_test::close(args[i], before[i], 0)) << "argument " << i;
      std::vector<Tensor> in_place(want.size());
      for (const codegen::ParamUpdate& u : prog->updates()) in_place[u.result] = args[u.param];
      prog->run_into(args, in_place);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(jit_test::close(in_place[i], want[i], 0)) << "result " << i;
      for (const codegen::ParamUpdate& u : prog->updates()) {
        EXPECT_EQ(in_place[u.result].raw(), args[u.param].raw());
        EXPECT_TRUE(jit_test::close(args[u.param], want[u.result], 0)) << "parameter " << u.param;
      }
    }
  }
  kiln_set_num_threads(threads_before);
}

// What may and may not be updated in place: a loop region that reads a
// parameter last, at the point it writes, may; not when a later kernel reads
// the parameter (or a reshape of it), when the parameter is itself returned,
// or when the graph may fail midway (an integer division by zero sets the
// error flag after the kernels ran: the caller must find its arguments as
// they were). A program that updates nothing rejects a result sharing an
// argument; one that does still rejects a result sharing another argument,
// and a run that throws before it starts leaves the argument as it was.
TEST(RunInto, UpdatesOnlyWhatNothingReadsAfterwards) {
  auto updates = [](const std::string& tail, const std::string& results, const std::string& types) {
    auto g = ir::parse_graph("func @step(%w: f32[4,8], %g: f32[], %d: i32[4]) -> (" + types + R"() {
  %fusion.upd = fusion %w, %g {kind="loop"} : f32[4,8] {
    ^upd(%w: f32[4,8], %g: f32[]):
    %n = sub %w, %g : f32[4,8]
    return %n
  }
)" + tail + "  return " + results + "\n}\n");
    return codegen::plan_graph(*g, true).updates;
  };
  const std::vector<codegen::ParamUpdate> first = {{0, 0}};
  EXPECT_EQ(updates("", "%fusion.upd", "f32[4,8]"), first);
  EXPECT_EQ(updates("  %r = mul %w, %w : f32[4,8]\n", "%fusion.upd, %r", "f32[4,8], f32[4,8]"),
            std::vector<codegen::ParamUpdate>{});
  EXPECT_EQ(updates("  %v = reshape %w {shape=[32]} : f32[32]\n  %r = neg %v : f32[32]\n", "%fusion.upd, %r",
                    "f32[4,8], f32[32]"),
            std::vector<codegen::ParamUpdate>{});
  EXPECT_EQ(updates("", "%fusion.upd, %w", "f32[4,8], f32[4,8]"), std::vector<codegen::ParamUpdate>{});
  EXPECT_EQ(updates("  %q = div %d, %d : i32[4]\n", "%fusion.upd, %q", "f32[4,8], i32[4]"),
            std::vector<codegen::ParamUpdate>{});
  EXPECT_EQ(codegen::plan_graph(*ir::parse_graph(R"(func @step(%w: f32[4,8], %g: f32[4,8]) -> (f32[4,8]) {
  %fusion.upd = fusion %w, %g {kind="loop"} : f32[4,8] {
    ^upd(%w: f32[4,8], %g: f32[4,8]):
    %n = sub %w, %g : f32[4,8]
    return %n
  }
  return %fusion.upd
}
)"), false).updates, std::vector<codegen::ParamUpdate>{});  // not asked for (a body, an AOT predict)

  auto prog = jit().compile(*ir::parse_graph(R"(func @step(%w: f32[4,8], %g: f32[4,8]) -> (f32[4,8], f32[4,8]) {
  %fusion.upd = fusion %w, %g {kind="loop"} : f32[4,8] {
    ^upd(%w: f32[4,8], %g: f32[4,8]):
    %n = sub %w, %g : f32[4,8]
    return %n
  }
  %h = neg %g : f32[4,8]
  return %fusion.upd, %h
}
)"));
  ASSERT_EQ(prog->updates(), first);
  std::vector<Tensor> args = {Tensor::full({4, 8}, 3.0f), Tensor::full({4, 8}, 1.0f)};
  std::vector<Tensor> crossed = {args[1], Tensor()};  // w's result in g's buffer
  EXPECT_THROW(prog->run_into(args, crossed), Error);
  std::vector<Tensor> onto_g = {Tensor(), args[1]};  // a result that updates nothing
  EXPECT_THROW(prog->run_into(args, onto_g), Error);
  std::vector<Tensor> bad = {Tensor::full({4, 8}, 3.0f), Tensor::full({4, 7}, 1.0f)};
  std::vector<Tensor> own = {bad[0], Tensor()};
  EXPECT_THROW(prog->run_into(bad, own), Error);  // g's shape: nothing ran
  EXPECT_EQ(bad[0].to_vector(), std::vector<float>(32, 3.0f));
  std::vector<Tensor> out = {args[0], Tensor()};
  prog->run_into(args, out);
  EXPECT_EQ(args[0].to_vector(), std::vector<float>(32, 2.0f));
  EXPECT_EQ(out[1].to_vector(), std::vector<float>(32, -1.0f));
}

// exp, tanh and sigmoid on values where the algorithms switch paths or saturate,
// in a batch long enough for the vectorized loop and its remainder.
TEST(JitMath, TranscendentalsEqualInterpreterOnSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {0.0f, -0.0f, inf, -inf, nan, 1e-30f, -1e-30f, 0.625f, -0.625f, 0.62499f, 9.0f, -9.0f,
                          44.0f, 88.7f, 89.0f, 200.0f, -87.3f, -100.0f, -103.9f, -104.0f, -150.0f, 1.0f, -1.0f};
  for (int i = 0; i < 200; ++i) v.push_back(-110.0f + 1.1f * static_cast<float>(i));
  auto g = ir::parse_graph(R"(
func @m(%x: f32[N]) -> (f32[N], f32[N], f32[N]) {
  %e = exp %x : f32[N]
  %t = tanh %x : f32[N]
  %s = sigmoid %x : f32[N]
  return %e, %t, %s
}
)");
  auto prog = jit().compile(*g);
  std::vector<Tensor> args = {Tensor({static_cast<int64_t>(v.size())}, v)};
  std::vector<Tensor> got = prog->run(args), want = runtime::interpret(*g, args);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(jit_test::close(got[i], want[i], 0)) << "result " << i;
}

}  // namespace
