// Helpers for the JIT tests: random arguments for a graph at a batch size,
// comparisons of JIT results with the interpreter's, the MLP's train step.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "codegen/jit.h"
#include "ir/graph.h"
#include "kiln/kiln.h"
#include "passes/pipelines.h"
#include "runtime/interpreter.h"
#include "runtime/thread_pool.h"
#include "training/tasks.h"
#include "zoo.h"

namespace kiln::jit_test {

inline Tensor random_arg(const ir::TensorType& t, int64_t batch, std::mt19937& rng) {
  Tensor x = Tensor::zeros(t.concrete(batch), t.dtype);
  std::uniform_real_distribution<float> f(-2.0f, 2.0f);
  std::uniform_int_distribution<int32_t> i(-6, 6);
  for (int64_t k = 0; k < x.size(); ++k) {
    switch (t.dtype) {
      case ir::DType::f32: x.data()[k] = f(rng); break;
      case ir::DType::i32: x.data_i32()[k] = i(rng); break;
      case ir::DType::i1: x.data_i1()[k] = static_cast<uint8_t>(rng() & 1); break;
      case ir::DType::u8: ADD_FAILURE() << "u8 winners are no random argument: take them from max_pool2d_winners"; break;
    }
  }
  return x;
}

inline std::vector<Tensor> random_args(const ir::Graph& g, int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> args;
  for (const ir::Value* p : g.params()) args.push_back(random_arg(p->type, batch, rng));
  return args;
}

// |got - want| <= rel * max(1, |want|) elementwise (rel = 0: bitwise, NaN equals NaN).
inline ::testing::AssertionResult close(const Tensor& got, const Tensor& want, double rel) {
  if (got.shape() != want.shape() || got.dtype() != want.dtype())
    return ::testing::AssertionFailure() << "shape/dtype " << got.shape_string() << " vs " << want.shape_string();
  for (int64_t k = 0; k < got.size(); ++k) {
    double a = 0, b = 0;
    switch (got.dtype()) {
      case ir::DType::f32: a = got.data()[k], b = want.data()[k]; break;
      case ir::DType::i32: a = got.data_i32()[k], b = want.data_i32()[k]; break;
      case ir::DType::i1: a = got.data_i1()[k], b = want.data_i1()[k]; break;
      case ir::DType::u8: a = got.data_u8()[k], b = want.data_u8()[k]; break;
    }
    if (std::isnan(a) && std::isnan(b)) continue;
    bool ok = rel == 0 ? (a == b && std::signbit(a) == std::signbit(b))
                       : std::fabs(a - b) <= rel * std::max(1.0, std::fabs(b));
    if (!ok) return ::testing::AssertionFailure() << "element " << k << ": jit " << a << " vs interpreter " << b;
  }
  return ::testing::AssertionSuccess();
}

// prog (compiled from g) gives the interpreter's bits on args with 1 and 2
// threads; the thread count is restored after.
inline void expect_interpreter_bits(codegen::CompiledProgram& prog, const ir::Graph& g,
                                    const std::vector<Tensor>& args, const std::string& what) {
  const std::vector<Tensor> want = runtime::interpret(g, args);
  const int32_t before = kiln_num_threads();
  for (int32_t threads : {1, 2}) {
    kiln_set_num_threads(threads);
    const std::vector<Tensor> got = prog.run(args);
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(close(got[i], want[i], 0)) << what << ", threads " << threads << ", result " << i;
  }
  kiln_set_num_threads(before);
}

// Runs g on the JIT and the interpreter; both throw or results agree within rel.
inline void expect_same(codegen::Jit& jit, const ir::Graph& g, const std::vector<Tensor>& args, double rel,
                        const std::string& what) {
  std::vector<Tensor> want;
  bool threw = false;
  try {
    want = runtime::interpret(g, args);
  } catch (const Error&) {
    threw = true;
  }
  auto prog = jit.compile(g);
  if (threw) {
    EXPECT_THROW(prog->run(args), Error) << what;
    return;
  }
  std::vector<Tensor> got = prog->run(args);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i], rel)) << what << " result " << i;
}

// The MLP's train step graph at seed 1, as autodiff builds it, or after the
// default pipeline (as the "jit" backend compiles it) when `optimized`.
inline std::unique_ptr<ir::Graph> mlp_train_step(bool optimized) {
  set_seed(1);
  Model model = zoo::build("mlp");
  zoo::Task task = zoo::synthetic_task("mlp", 8, 1);
  CompileOptions opts = task.compile;
  opts.backend = "interpreter";
  model.compile(opts);
  std::unique_ptr<ir::Graph> g = model.step_graphs(task.y).train_step->clone();
  if (optimized) passes::optimize(*g, passes::Pipeline::TrainStep);
  return g;
}

}  // namespace kiln::jit_test
