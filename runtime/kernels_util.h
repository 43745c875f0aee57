// Helpers shared by the kernel files (internal to runtime/): strides, typed
// access, dtype dispatch and a row-major index walker.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/kernels.h"

namespace kiln::runtime::kernels {

inline int64_t product(const Dims& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Row-major strides, in elements.
inline Dims strides_of(const Dims& s) {
  Dims st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

inline int64_t norm_axis(int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_ASSERT(a >= 0 && a < rank, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return a;
}

template <class T>
T* ptr(Tensor& t) {
  return static_cast<T*>(t.raw());
}
template <class T>
const T* ptr(const Tensor& t) {
  return static_cast<const T*>(t.raw());
}

// Calls f(T{}) with T the C++ element type of `t` (i1 and u8 are uint8_t).
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::i32: return f(int32_t{});
    case DType::i1:
    case DType::u8: return f(uint8_t{});
  }
  KILN_UNREACHABLE("bad dtype");
}

// Visits every index of `shape` in row-major order and calls f(flat, off),
// where off = sum_d index[d] * st[d] (st: a strides vector, 0 for a broadcast dim).
template <class F>
void for_each_mapped(const Dims& shape, const Dims& st, F&& f) {
  const int64_t total = product(shape);
  if (total == 0) return;
  const int64_t r = static_cast<int64_t>(shape.size());
  if (r == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  Dims idx(shape.size(), 0);
  const int64_t inner = shape[r - 1], is = st[r - 1];
  int64_t off = 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t j = 0; j < inner; ++j) f(o + j, off + j * is);
    for (int64_t d = r - 2; d >= 0; --d) {
      off += st[d];
      if (++idx[d] < shape[d]) break;
      off -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
}

inline std::string shape_str(const Dims& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  if (s.size() == 1) r += ",";
  return r + ")";
}

}  // namespace kiln::runtime::kernels
