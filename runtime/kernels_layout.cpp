// Layout and reduction kernels: broadcast, reshape, transpose, slice, concat,
// pad, reduce_sum/max/mean and argmax.
//
// Layout kernels move bytes and work for every dtype. Sums and means
// accumulate in double (i32 sums in int64) in row-major order and round once,
// so results do not depend on blocking or thread count.
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernels_util.h"

namespace kiln::runtime::kernels {
namespace {

// A tensor viewed as [outer, len, inner] around one axis, in bytes for `inner`.
struct AxisView {
  int64_t outer, len, inner_bytes;
};

AxisView axis_view(const Dims& shape, int64_t ax, DType t) {
  int64_t outer = product(Dims(shape.begin(), shape.begin() + ax));
  int64_t inner = product(Dims(shape.begin() + ax + 1, shape.end()));
  return {outer, shape[ax], inner * static_cast<int64_t>(ir::dtype_size(t))};
}

const uint8_t* bytes(const Tensor& t) { return static_cast<const uint8_t*>(t.raw()); }
uint8_t* bytes(Tensor& t) { return static_cast<uint8_t*>(t.raw()); }

}  // namespace

Tensor broadcast(const Tensor& x, const Dims& shape, const Dims& dims) {
  KILN_ASSERT(static_cast<int64_t>(dims.size()) == x.rank(), "broadcast dims do not match the operand rank");
  Dims st(shape.size(), 0), xst = strides_of(x.shape());
  for (size_t i = 0; i < dims.size(); ++i) {
    KILN_ASSERT(dims[i] >= 0 && dims[i] < static_cast<int64_t>(shape.size()) && shape[dims[i]] == x.shape()[i],
                "broadcast dims do not fit the shapes");
    st[dims[i]] = xst[i];
  }
  Tensor out = Tensor::zeros(shape, x.dtype());
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* p = ptr<T>(x);
    T* o = ptr<T>(out);
    for_each_mapped(shape, st, [&](int64_t i, int64_t j) { o[i] = p[j]; });
  });
  return out;
}

Tensor reshape(const Tensor& x, const Dims& shape) { return x.reshaped(shape); }

Tensor transpose(const Tensor& x, const Dims& perm) {
  KILN_ASSERT(static_cast<int64_t>(perm.size()) == x.rank(), "perm does not match the operand rank");
  Dims shape(perm.size()), st(perm.size()), xst = strides_of(x.shape());
  for (size_t i = 0; i < perm.size(); ++i) {
    shape[i] = x.shape()[perm[i]];
    st[i] = xst[perm[i]];
  }
  Tensor out = Tensor::zeros(shape, x.dtype());
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* p = ptr<T>(x);
    T* o = ptr<T>(out);
    for_each_mapped(shape, st, [&](int64_t i, int64_t j) { o[i] = p[j]; });
  });
  return out;
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t limit) {
  int64_t ax = norm_axis(axis, x.rank());
  KILN_ASSERT(0 <= start && start <= limit && limit <= x.shape()[ax], "slice range out of bounds");
  Dims shape = x.shape();
  shape[ax] = limit - start;
  Tensor out = Tensor::zeros(shape, x.dtype());
  AxisView v = axis_view(x.shape(), ax, x.dtype());
  int64_t chunk = (limit - start) * v.inner_bytes;
  for (int64_t o = 0; o < v.outer; ++o)
    std::memcpy(bytes(out) + o * chunk, bytes(x) + (o * v.len + start) * v.inner_bytes, chunk);
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  KILN_ASSERT(!xs.empty(), "concat of nothing");
  int64_t ax = norm_axis(axis, xs[0].rank());
  Dims shape = xs[0].shape();
  shape[ax] = 0;
  for (const Tensor& x : xs) shape[ax] += x.shape()[ax];
  Tensor out = Tensor::zeros(shape, xs[0].dtype());
  AxisView ov = axis_view(shape, ax, out.dtype());
  int64_t at = 0;  // byte offset of the current operand within one output row
  for (const Tensor& x : xs) {
    KILN_ASSERT(x.dtype() == out.dtype() && x.rank() == out.rank(), "concat operands differ in dtype or rank");
    AxisView v = axis_view(x.shape(), ax, x.dtype());
    int64_t chunk = v.len * v.inner_bytes;
    for (int64_t o = 0; o < v.outer; ++o)
      std::memcpy(bytes(out) + o * ov.len * ov.inner_bytes + at, bytes(x) + o * chunk, chunk);
    at += chunk;
  }
  return out;
}

Tensor pad(const Tensor& x, int64_t axis, int64_t low, int64_t high) {
  int64_t ax = norm_axis(axis, x.rank());
  Dims shape = x.shape();
  shape[ax] += low + high;
  Tensor out = Tensor::zeros(shape, x.dtype());  // the padding is zero
  AxisView v = axis_view(x.shape(), ax, x.dtype());
  int64_t chunk = v.len * v.inner_bytes, row = shape[ax] * v.inner_bytes;
  for (int64_t o = 0; o < v.outer; ++o)
    std::memcpy(bytes(out) + o * row + low * v.inner_bytes, bytes(x) + o * chunk, chunk);
  return out;
}

Tensor reduce(Reduce op, const Tensor& x, const Dims& axes) {
  std::vector<bool> drop(x.shape().size(), false);
  for (int64_t a : axes) drop[norm_axis(a, x.rank())] = true;
  Dims shape, st_full = Dims(x.shape().size(), 0);
  {
    Dims kept;
    for (size_t d = 0; d < drop.size(); ++d)
      if (!drop[d]) kept.push_back(x.shape()[d]);
    Dims kst = strides_of(kept);
    for (size_t d = 0, k = 0; d < drop.size(); ++d)
      if (!drop[d]) st_full[d] = kst[k++];
    shape = kept;
  }
  // st_full maps each input index to its output element; walk the input in order.
  int64_t n_out = product(shape), n_red = n_out ? x.size() / std::max<int64_t>(n_out, 1) : 0;
  if (x.dtype() == DType::f32) {
    const float* p = x.data();
    Tensor out = Tensor::zeros(shape, DType::f32);
    float* o = out.data();
    if (op == Reduce::Max) {
      for (int64_t i = 0; i < n_out; ++i) o[i] = -std::numeric_limits<float>::infinity();
      for_each_mapped(x.shape(), st_full, [&](int64_t i, int64_t j) {
        if (p[i] > o[j] || std::isnan(p[i])) o[j] = std::isnan(o[j]) ? o[j] : p[i];
      });
      return out;
    }
    std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
    for_each_mapped(x.shape(), st_full, [&](int64_t i, int64_t j) { acc[j] += p[i]; });
    for (int64_t i = 0; i < n_out; ++i)
      o[i] = static_cast<float>(op == Reduce::Mean ? acc[i] / static_cast<double>(n_red) : acc[i]);
    return out;
  }
  KILN_ASSERT(x.dtype() == DType::i32 && op != Reduce::Mean, "reduction not defined on this dtype");
  const int32_t* p = x.data_i32();
  Tensor out = Tensor::zeros(shape, DType::i32);
  int32_t* o = out.data_i32();
  if (op == Reduce::Max) {
    for (int64_t i = 0; i < n_out; ++i) o[i] = std::numeric_limits<int32_t>::min();
    for_each_mapped(x.shape(), st_full, [&](int64_t i, int64_t j) { o[j] = std::max(o[j], p[i]); });
    return out;
  }
  std::vector<int64_t> acc(static_cast<size_t>(n_out), 0);
  for_each_mapped(x.shape(), st_full, [&](int64_t i, int64_t j) { acc[j] += p[i]; });
  for (int64_t i = 0; i < n_out; ++i) o[i] = static_cast<int32_t>(static_cast<uint32_t>(acc[i]));  // wraps
  return out;
}

Tensor argmax(const Tensor& x, int64_t axis) {
  int64_t ax = norm_axis(axis, x.rank());
  Dims shape = x.shape();
  shape.erase(shape.begin() + ax);
  Tensor out = Tensor::zeros(shape, DType::i32);
  int32_t* o = out.data_i32();
  int64_t outer = product(Dims(x.shape().begin(), x.shape().begin() + ax)), len = x.shape()[ax];
  int64_t inner = product(Dims(x.shape().begin() + ax + 1, x.shape().end()));
  visit_dtype(x.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* p = ptr<T>(x);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t c = 0; c < inner; ++c) {
        const T* q = p + a * len * inner + c;
        int64_t best = 0;
        for (int64_t k = 1; k < len; ++k) {
          T v = q[k * inner], b = q[best * inner];
          bool v_nan = false, b_nan = false;
          if constexpr (std::is_same_v<T, float>) v_nan = std::isnan(v), b_nan = std::isnan(b);
          if (!b_nan && (v > b || v_nan)) best = k;  // first maximum; the first NaN wins
        }
        o[a * inner + c] = static_cast<int32_t>(best);
      }
  });
  return out;
}

}  // namespace kiln::runtime::kernels
