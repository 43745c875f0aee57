// CompiledProgram::run_into (results written into the caller's tensors, no
// allocation on repeated calls) and the JIT's exp/tanh/sigmoid against the
// interpreter's on special and extreme values, bit for bit.
#include <cmath>
#include <limits>

#include "ir/parser.h"
#include "jit_test_util.h"

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
