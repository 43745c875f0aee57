// Interpreter tests for scan, batch binding and argument errors, the per-node
// callback, and the op-coverage check: every OpKind must name its test here.
#include "runtime/math_f32.h"
#include "test_util.h"

namespace kiln::rt_test {
namespace {

using ir::kBatch;

// --- scan ---

// Body: (c1 f32[2], c2 f32[], x_t f32[2], w f32[2]) ->
//   c1' = c1 + x_t * w;  c2' = 2 * c2 + sum(x_t);  outputs c1' (f32[2]) and c2' (f32[])
std::unique_ptr<ir::Graph> two_carry_body() {
  auto b = std::make_unique<ir::Graph>("body");
  ir::Value* c1 = b->add_param("c1", ir::f32({2}));
  ir::Value* c2 = b->add_param("c2", ir::f32({}));
  ir::Value* x = b->add_param("x", ir::f32({2}));
  ir::Value* w = b->add_param("w", ir::f32({2}));
  ir::Value* c1n = b->add(OpKind::Add, {c1, b->add(OpKind::Mul, {x, w})});
  ir::Value* two = b->add(OpKind::Constant, {}, {{"value", 2.0}, {"shape", Dims{}}});
  ir::Value* sx = b->add(OpKind::ReduceSum, {x}, {{"axes", Dims{0}}});
  ir::Value* c2n = b->add(OpKind::Add, {b->add(OpKind::Mul, {c2, two}), sx});
  b->set_results({c1n, c2n, c1n, c2n});
  return b;
}

void check_two_carry_scan(bool reverse) {
  const int64_t T = 5;
  Tensor c1 = Tensor({2}, {1, -1}), c2 = Tensor({}, {0.5f});
  Tensor xs = random_tensor({T, 2}, 7), w = Tensor({2}, {2, 3});
  AttrMap at{{"num_carry", int64_t{2}}, {"num_seq", int64_t{1}}, {"reverse", reverse}};
  std::vector<Tensor> r = run_op(OpKind::Scan, {c1, c2, xs, w}, at, two_carry_body());
  ASSERT_EQ(r.size(), 4u);
  float a0 = 1, a1 = -1, b = 0.5f;
  std::vector<float> out1(2 * T), out2(T);
  for (int64_t s = 0; s < T; ++s) {
    int64_t t = reverse ? T - 1 - s : s;
    float x0 = xs.data()[2 * t], x1 = xs.data()[2 * t + 1];
    a0 = a0 + x0 * 2;
    a1 = a1 + x1 * 3;
    b = b * 2 + static_cast<float>(double{x0} + double{x1});
    out1[2 * t] = a0, out1[2 * t + 1] = a1, out2[t] = b;  // stored at index t in both directions
  }
  expect_equal(r[0], Tensor({2}, {a0, a1}));
  expect_equal(r[1], Tensor({}, {b}));
  expect_equal(r[2], Tensor({T, 2}, out1));
  expect_equal(r[3], Tensor({T}, out2));
}

TEST(InterpScan, TwoCarriesForward) { check_two_carry_scan(false); }
TEST(InterpScan, TwoCarriesReverse) { check_two_carry_scan(true); }

TEST(InterpScan, BatchedCarryAndTimeMajorSequence) {
  // h_t = tanh(h_{t-1} + x_t) over xs f32[4,N,3]; N is bound by the outer arguments.
  auto body = std::make_unique<ir::Graph>("rnn");
  ir::Value* h = body->add_param("h", ir::f32({kBatch, 3}));
  ir::Value* x = body->add_param("x", ir::f32({kBatch, 3}));
  ir::Value* hn = body->add(OpKind::Tanh, {body->add(OpKind::Add, {h, x})});
  body->set_results({hn, hn});
  ir::Graph g("outer");
  ir::Value* h0 = g.add_param("h0", ir::f32({kBatch, 3}));
  ir::Value* xs = g.add_param("xs", ir::f32({4, kBatch, 3}));
  AttrMap at{{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}};
  ir::Node* n = g.add_node(OpKind::Scan, {h0, xs}, at, std::move(body));
  g.set_results(n->results);
  Tensor th0 = random_tensor({2, 3}, 1), txs = random_tensor({4, 2, 3}, 2);
  std::vector<Tensor> r = runtime::interpret(g, {th0, txs});
  ASSERT_EQ(r[1].shape(), (Dims{4, 2, 3}));
  std::vector<float> hv = th0.to_vector();
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 6; ++i) {
      hv[i] = kiln_tanh_f32(hv[i] + txs.data()[t * 6 + i]);  // the interpreter's tanh (runtime/math_f32.h)
      ASSERT_EQ(r[1].data()[t * 6 + i], hv[i]);
    }
  expect_equal(r[0], Tensor({2, 3}, hv));
}

// --- fusion ---

TEST(InterpFusion, RunsBodyOnce) {
  // Body: (a f32[2,3], b f32[3]) -> (relu(a + b) : f32[2,3], a + b : f32[2,3])
  auto body = std::make_unique<ir::Graph>("bias_relu");
  ir::Value* a = body->add_param("a", ir::f32({2, 3}));
  ir::Value* b = body->add_param("b", ir::f32({3}));
  ir::Value* s = body->add(OpKind::Add, {a, b}, {{"broadcast_dims", Dims{1}}});
  body->set_results({body->add(OpKind::Relu, {s}), s});
  Tensor ta = random_tensor({2, 3}, 4), tb = random_tensor({3}, 5);
  std::vector<Tensor> r = run_op(OpKind::Fusion, {ta, tb}, {{"kind", std::string("loop")}}, std::move(body));
  ASSERT_EQ(r.size(), 2u);
  std::vector<float> sum(6), act(6);
  for (int i = 0; i < 6; ++i) {
    sum[i] = ta.data()[i] + tb.data()[i % 3];
    act[i] = sum[i] > 0 ? sum[i] : 0;
  }
  expect_equal(r[0], Tensor({2, 3}, act));
  expect_equal(r[1], Tensor({2, 3}, sum));
}

// --- batch binding ---

// %x: f32[N,10], %y: f32[N*2,3], %w: f32[10,4] -> (matmul(x, w): f32[N,4], sum(y): f32[])
std::unique_ptr<ir::Graph> bind_graph() {
  auto g = std::make_unique<ir::Graph>("bind");
  ir::Value* x = g->add_param("x", ir::f32({kBatch, 10}));
  ir::Value* y = g->add_param("y", ir::f32({ir::batch_dim(2), 3}));
  ir::Value* w = g->add_param("w", ir::f32({10, 4}));
  g->set_results({g->add(OpKind::Matmul, {x, w}), g->add(OpKind::ReduceSum, {y}, {{"axes", Dims{0, 1}}})});
  return g;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no kiln::Error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(InterpBatch, BindsNFromEveryBatchDim) {
  auto g = bind_graph();
  std::vector<Tensor> args{random_tensor({4, 10}, 1), Tensor::full({8, 3}, 1), random_tensor({10, 4}, 2)};
  EXPECT_EQ(runtime::bind_batch(*g, args), 4);
  std::vector<Tensor> r = runtime::interpret(*g, args);
  EXPECT_EQ(r[0].shape(), (Dims{4, 4}));
  expect_equal(r[1], Tensor({}, {24}));
  EXPECT_EQ(runtime::interpret(*g, args, 4)[0].shape(), (Dims{4, 4}));
  args[0] = random_tensor({0, 10}, 1), args[1] = Tensor::zeros({0, 3});
  EXPECT_EQ(runtime::interpret(*g, args)[0].shape(), (Dims{0, 4}));  // N = 0 is allowed
}

TEST(InterpBatch, ArgumentErrorsNameParameterAndTypes) {
  auto g = bind_graph();
  Tensor x = random_tensor({4, 10}, 1), y = Tensor::zeros({8, 3}), w = random_tensor({10, 4}, 2);
  auto run = [&](std::vector<Tensor> a) { return [&g, a] { runtime::interpret(*g, a); }; };
  expect_error(run({x, y}), {"@bind", "expected 3 argument(s), got 2"});
  expect_error(run({x, y, random_tensor({10, 5}, 3)}), {"%w", "f32[10,4]", "(10, 5)"});
  expect_error(run({x.reshaped({40}), y, w}), {"%x", "f32[N,10]", "(40,)"});
  expect_error(run({Tensor::from_i32({4, 10}, std::vector<int32_t>(40)), y, w}), {"%x", "f32[N,10]", "i32 (4, 10)"});
  expect_error(run({x, Tensor::zeros({7, 3}), w}), {"%y", "f32[N*2,3]", "(7, 3)", "multiple of 2"});
  expect_error(run({x, Tensor::zeros({6, 3}), w}), {"%y", "f32[N*2,3]", "(6, 3)", "N = 3", "N = 4", "%x"});
  expect_error(run({x, y, Tensor()}), {"%w", "empty tensor"});
  expect_error([&] { runtime::interpret(*g, {x, y, w}, 5); }, {"N = 4", "N = 5"});
}

TEST(InterpBatch, SourcesUseTheBoundBatch) {
  ir::Graph g("src");
  g.set_results({g.add(OpKind::Constant, {}, {{"value", 3.0}, {"shape", Dims{kBatch, 2}}})});
  EXPECT_EQ(runtime::interpret(g, {}, 3)[0].shape(), (Dims{3, 2}));
  EXPECT_EQ(runtime::interpret(g, {})[0].shape(), (Dims{1, 2}));  // no batch parameter: N = 1
}

TEST(InterpBatch, FactoredReshape) {
  ir::Graph g("flat");
  ir::Value* x = g.add_param("x", ir::f32({kBatch, 2, 3}));
  g.set_results({g.add(OpKind::Reshape, {x}, {{"shape", Dims{ir::batch_dim(6)}}})});
  Tensor t = random_tensor({5, 2, 3}, 9);
  expect_equal(runtime::interpret(g, {t})[0], t.reshaped({30}));
}

TEST(InterpCallback, CalledOncePerNodeInOrder) {
  auto g = bind_graph();
  std::vector<std::string> seen;
  runtime::InterpretOptions opts;
  opts.on_node = [&](const ir::Node& n, const std::vector<Tensor>& r) {
    seen.push_back(std::string(ir::op_name(n.op)) + " " + r[0].shape_string());
  };
  runtime::interpret(*g, {random_tensor({2, 10}, 1), Tensor::zeros({4, 3}), random_tensor({10, 4}, 2)}, opts);
  EXPECT_EQ(seen, (std::vector<std::string>{"matmul (2, 4)", "reduce_sum ()"}));
}

TEST(InterpEvalNode, ChecksOperands) {
  auto g = bind_graph();
  const ir::Node& mm = *g->nodes()[0];
  Tensor y = runtime::eval_node(mm, {Tensor::full({3, 10}, 1), Tensor::full({10, 4}, 1)}, 3)[0];
  expect_equal(y, Tensor::full({3, 4}, 10));
  expect_error([&] { runtime::eval_node(mm, {Tensor::full({3, 10}, 1), Tensor::full({10, 4}, 1)}, 2); },
               {"matmul", "operand 0", "f32[N,10]", "(3, 10)"});
}

// --- coverage: the test that exercises each op. No default: a new op must name its test. ---

const char* test_for(OpKind op) {
  switch (op) {
    case OpKind::Constant: return "InterpSources.Constant";
    case OpKind::Iota: return "InterpSources.Iota";
    case OpKind::RngUniform: return "InterpSources.RngUniform";
    case OpKind::Neg:
    case OpKind::Abs:
    case OpKind::Sign: return "InterpUnary.IntegerNegAbsSign";
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Rsqrt:
    case OpKind::Tanh:
    case OpKind::Sigmoid:
    case OpKind::Relu: return "InterpUnary.MathFunctions";
    case OpKind::Convert: return "InterpUnary.Convert";
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Max:
    case OpKind::Min:
    case OpKind::Pow: return "InterpBinary.ArithmeticSameShape";
    case OpKind::Compare: return "InterpCompare.AllDirections";
    case OpKind::Select: return "InterpSelect.PicksPerElement";
    case OpKind::Broadcast: return "InterpLayout.Broadcast";
    case OpKind::Reshape: return "InterpLayout.Reshape";
    case OpKind::Transpose: return "InterpLayout.Transpose";
    case OpKind::Slice: return "InterpLayout.Slice";
    case OpKind::Concat: return "InterpLayout.Concat";
    case OpKind::Pad: return "InterpLayout.Pad";
    case OpKind::ReduceSum: return "InterpReduce.Sum";
    case OpKind::ReduceMax: return "InterpReduce.Max";
    case OpKind::ReduceMean: return "InterpReduce.Mean";
    case OpKind::ArgMax: return "InterpReduce.ArgMax";
    case OpKind::Matmul: return "InterpMatmul.AllFormsAgainstNaive";
    case OpKind::Conv2D: return "InterpConv.ForwardAgainstNaive";
    case OpKind::Conv2DInputGrad: return "InterpConv.InputGradAgainstNaive";
    case OpKind::Conv2DFilterGrad: return "InterpConv.FilterGradAgainstNaive";
    case OpKind::MaxPool2D: return "InterpPool.ForwardAgainstNaive";
    case OpKind::MaxPool2DGrad: return "InterpPool.GradRoutesToFirstMaximum";
    case OpKind::MaxPool2DWinners:
    case OpKind::MaxPool2DScatter: return "InterpPool.WinnersAndScatterAreMaxPoolAndItsGrad";
    case OpKind::Scan: return "InterpScan.TwoCarriesReverse";
    case OpKind::Fusion: return "InterpFusion.RunsBodyOnce";
  }
  return nullptr;
}

bool test_exists(const std::string& full) {
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < u.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& s = *u.GetTestSuite(i);
    for (int j = 0; j < s.total_test_count(); ++j)
      if (std::string(s.name()) + "." + s.GetTestInfo(j)->name() == full) return true;
  }
  return false;
}

TEST(InterpCoverage, EveryOpHasATest) {
  for (int i = 0; i < ir::kNumOps; ++i) {
    OpKind op = static_cast<OpKind>(i);
    const char* t = test_for(op);
    ASSERT_NE(t, nullptr) << ir::op_name(op);
    EXPECT_TRUE(test_exists(t)) << "op " << ir::op_name(op) << " names test " << t << ", which does not exist";
  }
}

}  // namespace
}  // namespace kiln::rt_test
