// Interpreter tests for layout ops (broadcast, reshape, transpose, slice,
// concat, pad), reductions and argmax.
#include <limits>

#include "test_util.h"

namespace kiln::rt_test {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(InterpLayout, Broadcast) {
  Tensor v({3}, {1, 2, 3});
  expect_equal(run1(OpKind::Broadcast, {v}, {{"shape", Dims{2, 3}}, {"dims", Dims{1}}}),
               Tensor({2, 3}, {1, 2, 3, 1, 2, 3}));
  expect_equal(run1(OpKind::Broadcast, {v}, {{"shape", Dims{3, 2}}, {"dims", Dims{0}}}),
               Tensor({3, 2}, {1, 1, 2, 2, 3, 3}));
  expect_equal(run1(OpKind::Broadcast, {Tensor({}, {7})}, {{"shape", Dims{2, 2}}, {"dims", Dims{}}}),
               Tensor::full({2, 2}, 7));
  Tensor m = random_tensor({2, 4}, 3);
  Tensor y = run1(OpKind::Broadcast, {m}, {{"shape", Dims{2, 3, 4}}, {"dims", Dims{0, 2}}});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) ASSERT_EQ(y.data()[(i * 3 + j) * 4 + k], m.data()[i * 4 + k]);
  EXPECT_EQ(ints(run1(OpKind::Broadcast, {i32({2}, {4, 5})}, {{"shape", Dims{2, 2}}, {"dims", Dims{1}}})),
            (std::vector<int32_t>{4, 5, 4, 5}));
}

TEST(InterpLayout, Reshape) {
  Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_equal(run1(OpKind::Reshape, {x}, {{"shape", Dims{3, 2}}}), Tensor({3, 2}, {1, 2, 3, 4, 5, 6}));
  expect_equal(run1(OpKind::Reshape, {x}, {{"shape", Dims{6}}}), Tensor({6}, {1, 2, 3, 4, 5, 6}));
}

TEST(InterpLayout, Transpose) {
  expect_equal(run1(OpKind::Transpose, {Tensor({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"perm", Dims{1, 0}}}),
               Tensor({3, 2}, {1, 4, 2, 5, 3, 6}));
  Tensor x = random_tensor({2, 3, 4}, 4);
  Tensor y = run1(OpKind::Transpose, {x}, {{"perm", Dims{2, 0, 1}}});
  ASSERT_EQ(y.shape(), (Dims{4, 2, 3}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) ASSERT_EQ(y.data()[(k * 2 + i) * 3 + j], x.data()[(i * 3 + j) * 4 + k]);
  EXPECT_EQ(bools(run1(OpKind::Transpose, {i1({2, 2}, {1, 1, 0, 0})}, {{"perm", Dims{1, 0}}})),
            (std::vector<int>{1, 0, 1, 0}));
}

TEST(InterpLayout, Slice) {
  Tensor x({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  expect_equal(run1(OpKind::Slice, {x}, {{"axis", int64_t{1}}, {"start", int64_t{1}}, {"limit", int64_t{3}}}),
               Tensor({2, 2}, {1, 2, 5, 6}));
  expect_equal(run1(OpKind::Slice, {x}, {{"axis", int64_t{0}}, {"start", int64_t{1}}, {"limit", int64_t{2}}}),
               Tensor({1, 4}, {4, 5, 6, 7}));
  expect_equal(run1(OpKind::Slice, {x}, {{"axis", int64_t{-1}}, {"start", int64_t{3}}, {"limit", int64_t{4}}}),
               Tensor({2, 1}, {3, 7}));
}

TEST(InterpLayout, Concat) {
  Tensor a({2, 1}, {1, 2}), b({2, 2}, {3, 4, 5, 6}), c({2, 1}, {7, 8});
  expect_equal(run1(OpKind::Concat, {a, b, c}, {{"axis", int64_t{1}}}), Tensor({2, 4}, {1, 3, 4, 7, 2, 5, 6, 8}));
  expect_equal(run1(OpKind::Concat, {b, Tensor({1, 2}, {9, 9})}, {{"axis", int64_t{0}}}),
               Tensor({3, 2}, {3, 4, 5, 6, 9, 9}));
  expect_equal(run1(OpKind::Concat, {a}, {{"axis", int64_t{0}}}), a);
}

TEST(InterpLayout, Pad) {
  Tensor x({2, 2}, {1, 2, 3, 4});
  expect_equal(run1(OpKind::Pad, {x}, {{"axis", int64_t{1}}, {"low", int64_t{1}}, {"high", int64_t{2}}}),
               Tensor({2, 5}, {0, 1, 2, 0, 0, 0, 3, 4, 0, 0}));
  expect_equal(run1(OpKind::Pad, {x}, {{"axis", int64_t{0}}, {"low", int64_t{0}}, {"high", int64_t{1}}}),
               Tensor({3, 2}, {1, 2, 3, 4, 0, 0}));
}

TEST(InterpReduce, Sum) {
  Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_equal(run1(OpKind::ReduceSum, {x}, {{"axes", Dims{0}}}), Tensor({3}, {5, 7, 9}));
  expect_equal(run1(OpKind::ReduceSum, {x}, {{"axes", Dims{1}}}), Tensor({2}, {6, 15}));
  expect_equal(run1(OpKind::ReduceSum, {x}, {{"axes", Dims{0, 1}}}), Tensor({}, {21}));
  expect_equal(run1(OpKind::ReduceSum, {x}, {{"axes", Dims{}}}), x);
  // Accumulates in double: a float accumulator would lose the four ones.
  expect_equal(run1(OpKind::ReduceSum, {Tensor({6}, {1e8f, 1, 1, 1, 1, -1e8f})}, {{"axes", Dims{0}}}),
               Tensor({}, {4}));
  EXPECT_EQ(ints(run1(OpKind::ReduceSum, {i32({2, 2}, {1, 2, 3, 4})}, {{"axes", Dims{-1}}})),
            (std::vector<int32_t>{3, 7}));
  Tensor y = random_tensor({3, 4, 5}, 5);
  Tensor s = run1(OpKind::ReduceSum, {y}, {{"axes", Dims{0, 2}}});
  for (int j = 0; j < 4; ++j) {
    double acc = 0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) acc += y.data()[(i * 4 + j) * 5 + k];
    ASSERT_EQ(s.data()[j], static_cast<float>(acc));
  }
}

TEST(InterpReduce, Mean) {
  Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_equal(run1(OpKind::ReduceMean, {x}, {{"axes", Dims{0}}}), Tensor({3}, {2.5f, 3.5f, 4.5f}));
  expect_equal(run1(OpKind::ReduceMean, {x}, {{"axes", Dims{0, 1}}}), Tensor({}, {3.5f}));
  expect_equal(run1(OpKind::ReduceMean, {Tensor({3}, {0.1f, 0.2f, 0.4f})}, {{"axes", Dims{0}}}),
               Tensor({}, {static_cast<float>((double{0.1f} + double{0.2f} + double{0.4f}) / 3)}));
}

TEST(InterpReduce, Max) {
  Tensor x({2, 3}, {1, -2, 3, -4, 5, -6});
  expect_equal(run1(OpKind::ReduceMax, {x}, {{"axes", Dims{0}}}), Tensor({3}, {1, 5, 3}));
  expect_equal(run1(OpKind::ReduceMax, {x}, {{"axes", Dims{1}}}), Tensor({2}, {3, 5}));
  expect_equal(run1(OpKind::ReduceMax, {Tensor({3}, {1, kNaN, 2})}, {{"axes", Dims{0}}}), Tensor({}, {kNaN}));
  EXPECT_EQ(ints(run1(OpKind::ReduceMax, {i32({3}, {-5, -2, -9})}, {{"axes", Dims{0}}})), std::vector<int32_t>{-2});
}

TEST(InterpReduce, ArgMax) {
  Tensor x({2, 4}, {1, 3, 3, 0, 5, 5, 5, 5});
  EXPECT_EQ(ints(run1(OpKind::ArgMax, {x}, {{"axis", int64_t{1}}})), (std::vector<int32_t>{1, 0}));  // first max
  EXPECT_EQ(ints(run1(OpKind::ArgMax, {x}, {{"axis", int64_t{0}}})), (std::vector<int32_t>{1, 1, 1, 1}));
  EXPECT_EQ(ints(run1(OpKind::ArgMax, {Tensor({4}, {1, kNaN, 7, kNaN})}, {{"axis", int64_t{0}}})),
            std::vector<int32_t>{1});  // NaN counts as largest, like numpy
  EXPECT_EQ(ints(run1(OpKind::ArgMax, {i32({2, 2}, {2, 9, 4, 1})}, {{"axis", int64_t{-1}}})),
            (std::vector<int32_t>{1, 0}));
}

}  // namespace
}  // namespace kiln::rt_test
