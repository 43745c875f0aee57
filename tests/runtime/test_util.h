// Helpers for the runtime tests: one-op graphs, random tensors, comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/interpreter.h"

namespace kiln::rt_test {

using ir::AttrMap;
using ir::Dims;
using ir::DType;
using ir::OpKind;

// Runs a graph of one `op` node whose parameters take the types of `args`.
inline std::vector<Tensor> run_op(OpKind op, const std::vector<Tensor>& args, AttrMap attrs = {},
                                  std::unique_ptr<ir::Graph> body = nullptr) {
  ir::Graph g("one_op");
  std::vector<ir::Value*> ps;
  for (size_t i = 0; i < args.size(); ++i) ps.push_back(g.add_param("a" + std::to_string(i), args[i].type()));
  ir::Node* n = g.add_node(op, ps, std::move(attrs), std::move(body));
  g.set_results(n->results);
  return runtime::interpret(g, args);
}

inline Tensor run1(OpKind op, const std::vector<Tensor>& args, AttrMap attrs = {}) {
  return run_op(op, args, std::move(attrs)).at(0);
}

inline Tensor random_tensor(Dims shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::zeros(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data()[i] = dist(rng);
  return t;
}

inline Tensor i32(Dims shape, std::vector<int32_t> v) { return Tensor::from_i32(std::move(shape), v); }

inline Tensor i1(Dims shape, std::vector<int> v) {
  Tensor t = Tensor::zeros(std::move(shape), DType::i1);
  for (size_t i = 0; i < v.size(); ++i) t.data_i1()[i] = static_cast<uint8_t>(v[i]);
  return t;
}

inline std::vector<int32_t> ints(const Tensor& t) { return {t.data_i32(), t.data_i32() + t.size()}; }
inline std::vector<int> bools(const Tensor& t) { return {t.data_i1(), t.data_i1() + t.size()}; }

// Exact comparison (NaN equals NaN).
inline void expect_equal(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), want.dtype());
  for (int64_t i = 0; i < got.size(); ++i) {
    float a = got.data()[i], b = want.data()[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    ASSERT_EQ(a, b) << "at flat index " << i;
  }
}

inline void expect_near(const Tensor& got, const Tensor& want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.data()[i], want.data()[i], tol * (1.0f + std::fabs(want.data()[i]))) << "at flat index " << i;
}

inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(); ++i) s += static_cast<double>(a.data()[i]) * b.data()[i];
  return s;
}

}  // namespace kiln::rt_test
