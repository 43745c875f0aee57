// Interpreter tests for sources, elementwise ops, convert, compare and select.
#include <limits>

#include "runtime/rng.h"
#include "test_util.h"

namespace kiln::rt_test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

TEST(InterpSources, Constant) {
  expect_equal(run1(OpKind::Constant, {}, {{"value", 1.5}, {"shape", Dims{2, 3}}}), Tensor::full({2, 3}, 1.5f));
  Tensor t = run1(OpKind::Constant, {}, {{"value", -2.7}, {"shape", Dims{2}}, {"dtype", DType::i32}});
  EXPECT_EQ(ints(t), (std::vector<int32_t>{-2, -2}));
  Tensor big = run1(OpKind::Constant, {}, {{"value", 16777217.0}, {"shape", Dims{1}}, {"dtype", DType::i32}});
  EXPECT_EQ(ints(big), std::vector<int32_t>{16777217});  // exact, not via float
  Tensor b = run1(OpKind::Constant, {}, {{"value", 1.0}, {"shape", Dims{}}, {"dtype", DType::i1}});
  EXPECT_EQ(b.shape(), Dims{});
  EXPECT_EQ(bools(b), std::vector<int>{1});
}

TEST(InterpSources, Iota) {
  Tensor t = run1(OpKind::Iota, {}, {{"shape", Dims{2, 3}}, {"axis", int64_t{1}}});
  EXPECT_EQ(ints(t), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
  Tensor f = run1(OpKind::Iota, {}, {{"shape", Dims{2, 3}}, {"axis", int64_t{0}}, {"dtype", DType::f32}});
  expect_equal(f, Tensor({2, 3}, {0, 0, 0, 1, 1, 1}));
}

TEST(InterpSources, RngUniform) {
  Tensor a = run1(OpKind::RngUniform, {}, {{"shape", Dims{100, 100}}, {"seed", int64_t{7}}});
  Tensor b = run1(OpKind::RngUniform, {}, {{"shape", Dims{100, 100}}, {"seed", int64_t{7}}});
  Tensor c = run1(OpKind::RngUniform, {}, {{"shape", Dims{100, 100}}, {"seed", int64_t{8}}});
  expect_equal(a, b);
  double mean = 0;
  int same = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    float v = a.data()[i];
    ASSERT_GE(v, 0.0f);
    ASSERT_LT(v, 1.0f);
    ASSERT_EQ(v, runtime::rng_uniform_at(7, static_cast<uint64_t>(i)));  // a pure function of (seed, index)
    mean += v;
    same += v == c.data()[i];
  }
  EXPECT_NEAR(mean / static_cast<double>(a.size()), 0.5, 0.01);
  EXPECT_LT(same, 5);
  Tensor r = run1(OpKind::RngUniform, {}, {{"shape", Dims{1000}}, {"seed", int64_t{1}}, {"low", -3.0}, {"high", -2.0}});
  for (int64_t i = 0; i < r.size(); ++i) {
    ASSERT_GE(r.data()[i], -3.0f);
    ASSERT_LT(r.data()[i], -2.0f);
  }
}

float unary_of(OpKind op, float x) { return run1(op, {Tensor({}, {x})}).data()[0]; }

TEST(InterpUnary, MathFunctions) {
  Tensor x({5}, {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f});
  struct Case {
    OpKind op;
    double (*f)(double);
    double rel;  // exp/tanh/sigmoid: runtime/math_f32.h, within 2 ulp (math_f32_test.cpp); the rest exact
  };
  const Case cases[] = {
      {OpKind::Exp, [](double v) { return std::exp(v); }, 2.5e-7},
      {OpKind::Tanh, [](double v) { return std::tanh(v); }, 2.5e-7},
      {OpKind::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, 2.5e-7},
      {OpKind::Neg, [](double v) { return -v; }, 0},
      {OpKind::Abs, [](double v) { return std::fabs(v); }, 0},
      {OpKind::Sign, [](double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }, 0},
      {OpKind::Relu, [](double v) { return v > 0 ? v : 0.0; }, 0},
  };
  for (const Case& c : cases) {
    Tensor y = run1(c.op, {x});
    for (int64_t i = 0; i < x.size(); ++i) {
      float want = static_cast<float>(c.f(x.data()[i]));
      EXPECT_NEAR(y.data()[i], want, c.rel * std::fabs(want)) << ir::op_name(c.op) << " of " << x.data()[i];
    }
  }
  Tensor p({4}, {0.25f, 1.0f, 4.0f, 9.0f});
  auto ln = [](double v) { return static_cast<float>(std::log(v)); };
  expect_equal(run1(OpKind::Log, {p}), Tensor({4}, {ln(0.25), 0.0f, ln(4.0), ln(9.0)}));
  expect_equal(run1(OpKind::Sqrt, {p}), Tensor({4}, {0.5f, 1.0f, 2.0f, 3.0f}));
  expect_equal(run1(OpKind::Rsqrt, {p}), Tensor({4}, {2.0f, 1.0f, 0.5f, 1.0f / 3.0f}));
}

TEST(InterpUnary, EdgeValues) {
  EXPECT_TRUE(std::isnan(unary_of(OpKind::Relu, kNaN)));
  EXPECT_TRUE(std::isnan(unary_of(OpKind::Sign, kNaN)));
  EXPECT_EQ(unary_of(OpKind::Log, 0.0f), -kInf);
  EXPECT_EQ(unary_of(OpKind::Sigmoid, -200.0f), 0.0f);
  EXPECT_EQ(unary_of(OpKind::Sigmoid, 200.0f), 1.0f);
  EXPECT_EQ(unary_of(OpKind::Exp, 1000.0f), kInf);
}

TEST(InterpUnary, IntegerNegAbsSign) {
  Tensor x = i32({4}, {-5, 0, 3, std::numeric_limits<int32_t>::min()});
  EXPECT_EQ(ints(run1(OpKind::Neg, {x})), (std::vector<int32_t>{5, 0, -3, std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(ints(run1(OpKind::Abs, {x})), (std::vector<int32_t>{5, 0, 3, std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(ints(run1(OpKind::Sign, {x})), (std::vector<int32_t>{-1, 0, 1, -1}));
}

TEST(InterpUnary, Convert) {
  Tensor x({6}, {-2.7f, 2.7f, 0.0f, kNaN, 1e10f, -1e10f});
  Tensor y = run1(OpKind::Convert, {x}, {{"dtype", DType::i32}});
  EXPECT_EQ(ints(y), (std::vector<int32_t>{-2, 2, 0, 0, std::numeric_limits<int32_t>::max(),
                                           std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(bools(run1(OpKind::Convert, {x}, {{"dtype", DType::i1}})), (std::vector<int>{1, 1, 0, 1, 1, 1}));
  Tensor n = i32({3}, {-3, 0, 16777217});
  expect_equal(run1(OpKind::Convert, {n}, {{"dtype", DType::f32}}), Tensor({3}, {-3.0f, 0.0f, 16777216.0f}));
  EXPECT_EQ(bools(run1(OpKind::Convert, {n}, {{"dtype", DType::i1}})), (std::vector<int>{1, 0, 1}));
  Tensor b = i1({3}, {1, 0, 1});
  expect_equal(run1(OpKind::Convert, {b}, {{"dtype", DType::f32}}), Tensor({3}, {1.0f, 0.0f, 1.0f}));
  EXPECT_EQ(ints(run1(OpKind::Convert, {b}, {{"dtype", DType::i32}})), (std::vector<int32_t>{1, 0, 1}));
  expect_equal(run1(OpKind::Convert, {x}, {{"dtype", DType::f32}}), x);
}

TEST(InterpBinary, ArithmeticSameShape) {
  Tensor a({2, 2}, {1, -2, 3, 8}), b({2, 2}, {4, 5, -6, 2});
  expect_equal(run1(OpKind::Add, {a, b}), Tensor({2, 2}, {5, 3, -3, 10}));
  expect_equal(run1(OpKind::Sub, {a, b}), Tensor({2, 2}, {-3, -7, 9, 6}));
  expect_equal(run1(OpKind::Mul, {a, b}), Tensor({2, 2}, {4, -10, -18, 16}));
  expect_equal(run1(OpKind::Div, {a, b}), Tensor({2, 2}, {0.25f, -0.4f, -0.5f, 4}));
  expect_equal(run1(OpKind::Max, {a, b}), Tensor({2, 2}, {4, 5, 3, 8}));
  expect_equal(run1(OpKind::Min, {a, b}), Tensor({2, 2}, {1, -2, -6, 2}));
  expect_equal(run1(OpKind::Pow, {Tensor({3}, {2, 9, 4}), Tensor({3}, {3, 0.5f, -1})}), Tensor({3}, {8, 3, 0.25f}));
}

TEST(InterpBinary, MaxMinPropagateNaN) {
  Tensor a({2}, {kNaN, 1}), b({2}, {1, kNaN});
  for (OpKind op : {OpKind::Max, OpKind::Min}) {
    Tensor y = run1(op, {a, b});
    EXPECT_TRUE(std::isnan(y.data()[0]) && std::isnan(y.data()[1])) << ir::op_name(op);
  }
}

TEST(InterpBinary, BroadcastForms) {
  Tensor m({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor s({}, {10});
  // rank-0 on either side (operand order matters for sub)
  expect_equal(run1(OpKind::Sub, {m, s}), Tensor({2, 3}, {-9, -8, -7, -6, -5, -4}));
  expect_equal(run1(OpKind::Sub, {s, m}), Tensor({2, 3}, {9, 8, 7, 6, 5, 4}));
  // rhs onto the last dim (a bias), and onto the first dim
  expect_equal(run1(OpKind::Add, {m, Tensor({3}, {10, 20, 30})}, {{"broadcast_dims", Dims{1}}}),
               Tensor({2, 3}, {11, 22, 33, 14, 25, 36}));
  expect_equal(run1(OpKind::Div, {m, Tensor({2}, {1, 2})}, {{"broadcast_dims", Dims{0}}}),
               Tensor({2, 3}, {1, 2, 3, 2, 2.5f, 3}));
  // rank-3 lhs, rank-2 rhs on dims 0 and 2
  Tensor x = random_tensor({2, 3, 4}, 1), r = random_tensor({2, 4}, 2);
  Tensor y = run1(OpKind::Mul, {x, r}, {{"broadcast_dims", Dims{0, 2}}});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        ASSERT_EQ(y.data()[(i * 3 + j) * 4 + k], x.data()[(i * 3 + j) * 4 + k] * r.data()[i * 4 + k]);
  // rank-0 rhs through broadcast_dims=[]
  expect_equal(run1(OpKind::Mul, {m, s}, {{"broadcast_dims", Dims{}}}), Tensor({2, 3}, {10, 20, 30, 40, 50, 60}));
}

TEST(InterpBinary, Integers) {
  Tensor a = i32({4}, {7, -7, 7, -7}), b = i32({4}, {2, 2, -2, -2});
  EXPECT_EQ(ints(run1(OpKind::Div, {a, b})), (std::vector<int32_t>{3, -3, -3, 3}));  // truncates toward zero
  EXPECT_EQ(ints(run1(OpKind::Add, {a, b})), (std::vector<int32_t>{9, -5, 5, -9}));
  EXPECT_EQ(ints(run1(OpKind::Max, {a, b})), (std::vector<int32_t>{7, 2, 7, -2}));
  EXPECT_EQ(ints(run1(OpKind::Pow, {i32({3}, {3, -2, 5}), i32({3}, {3, 3, 0})})), (std::vector<int32_t>{27, -8, 1}));
  EXPECT_THROW(run1(OpKind::Div, {a, i32({}, {0})}), Error);
}

TEST(InterpCompare, AllDirections) {
  Tensor a({4}, {1, 2, 3, kNaN}), b({}, {2});
  auto cmp = [&](const char* dir) { return bools(run1(OpKind::Compare, {a, b}, {{"dir", std::string(dir)}})); };
  EXPECT_EQ(cmp("eq"), (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(cmp("ne"), (std::vector<int>{1, 0, 1, 1}));
  EXPECT_EQ(cmp("lt"), (std::vector<int>{1, 0, 0, 0}));
  EXPECT_EQ(cmp("le"), (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(cmp("gt"), (std::vector<int>{0, 0, 1, 0}));
  EXPECT_EQ(cmp("ge"), (std::vector<int>{0, 1, 1, 0}));
  Tensor c = run1(OpKind::Compare, {i32({2, 2}, {1, 5, 3, 3}), i32({2}, {3, 4})},
                  {{"dir", std::string("lt")}, {"broadcast_dims", Dims{1}}});
  EXPECT_EQ(c.dtype(), DType::i1);
  EXPECT_EQ(bools(c), (std::vector<int>{1, 0, 0, 1}));
  EXPECT_EQ(bools(run1(OpKind::Compare, {i1({2}, {0, 1}), i1({2}, {1, 1})}, {{"dir", std::string("eq")}})),
            (std::vector<int>{0, 1}));
}

TEST(InterpSelect, PicksPerElement) {
  Tensor c = i1({2, 2}, {1, 0, 0, 1});
  expect_equal(run1(OpKind::Select, {c, Tensor({2, 2}, {1, 2, 3, 4}), Tensor({2, 2}, {-1, -2, -3, -4})}),
               Tensor({2, 2}, {1, -2, -3, 4}));
  EXPECT_EQ(ints(run1(OpKind::Select, {c, i32({2, 2}, {1, 2, 3, 4}), i32({2, 2}, {0, 0, 0, 0})})),
            (std::vector<int32_t>{1, 0, 0, 4}));
}

}  // namespace
}  // namespace kiln::rt_test
