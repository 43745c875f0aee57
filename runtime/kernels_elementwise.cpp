// Source and elementwise kernels: constant, iota, rng_uniform, unary math,
// convert, binary arithmetic with broadcasting, compare and select.
//
// exp, tanh and sigmoid are runtime/math_f32.h's fixed float sequences (the JIT
// emits the same sequence, vectorized); log, rsqrt and pow are evaluated in
// double and rounded once.
#include <cmath>
#include <limits>

#include "runtime/kernels_util.h"
#include "runtime/math_f32.h"
#include "runtime/rng.h"

namespace kiln::runtime::kernels {
namespace {

// Where each element of the result reads a and b: the shape of the result and
// the strides (0 along broadcast dims) of each operand in result coordinates.
struct BinaryLayout {
  Dims shape, sa, sb;
};

BinaryLayout binary_layout(const Tensor& a, const Tensor& b, const Dims* bd) {
  if (bd) {
    KILN_ASSERT(static_cast<int64_t>(bd->size()) == b.rank(), "broadcast_dims does not match the rhs rank");
    Dims sb(a.shape().size(), 0), bst = strides_of(b.shape());
    for (size_t i = 0; i < bd->size(); ++i) {
      int64_t d = (*bd)[i];
      KILN_ASSERT(d >= 0 && d < a.rank() && a.shape()[d] == b.shape()[i], "broadcast_dims does not fit the operands");
      sb[d] = bst[i];
    }
    return {a.shape(), strides_of(a.shape()), sb};
  }
  if (a.shape() == b.shape()) return {a.shape(), strides_of(a.shape()), strides_of(b.shape())};
  if (b.rank() == 0) return {a.shape(), strides_of(a.shape()), Dims(a.shape().size(), 0)};
  KILN_ASSERT(a.rank() == 0, "binary operands " + a.shape_string() + " and " + b.shape_string() + " do not broadcast");
  return {b.shape(), Dims(b.shape().size(), 0), strides_of(b.shape())};
}

// out[i] = f(a[...], b[...]) over the broadcast layout; R is the result element type.
template <class R, class T, class F>
Tensor map2(const Tensor& a, const Tensor& b, const Dims* bd, DType out_dtype, F f) {
  KILN_ASSERT(a.dtype() == b.dtype(), "binary operand dtypes differ");
  BinaryLayout L = binary_layout(a, b, bd);
  Tensor out = Tensor::zeros(L.shape, out_dtype);
  R* o = ptr<R>(out);
  const T* pa = ptr<T>(a);
  const T* pb = ptr<T>(b);
  if (L.sa == strides_of(L.shape) && L.sb == L.sa) {
    for (int64_t i = 0, n = out.size(); i < n; ++i) o[i] = f(pa[i], pb[i]);
    return out;
  }
  // Walk b's offsets; a's offset is either i (same shape as result) or 0 (rank-0 a).
  if (L.sa == strides_of(L.shape)) {
    for_each_mapped(L.shape, L.sb, [&](int64_t i, int64_t j) { o[i] = f(pa[i], pb[j]); });
  } else {
    for_each_mapped(L.shape, L.sa, [&](int64_t i, int64_t j) { o[i] = f(pa[j], pb[i]); });
  }
  return out;
}

float unary_f32(Unary op, float x) {
  switch (op) {
    case Unary::Neg: return -x;
    case Unary::Abs: return std::fabs(x);
    case Unary::Sign: return x > 0 ? 1.0f : x < 0 ? -1.0f : x;  // keeps 0, -0 and NaN
    case Unary::Exp: return kiln_exp_f32(x);
    case Unary::Log: return kiln_log_f32(x);
    case Unary::Sqrt: return std::sqrt(x);  // correctly rounded
    case Unary::Rsqrt: return static_cast<float>(1.0 / std::sqrt(static_cast<double>(x)));
    case Unary::Tanh: return kiln_tanh_f32(x);
    case Unary::Sigmoid: return kiln_sigmoid_f32(x);
    case Unary::Relu: return x < 0 ? 0.0f : x;  // NaN stays NaN
  }
  KILN_UNREACHABLE("bad unary op");
}

int32_t unary_i32(Unary op, int32_t x) {
  switch (op) {
    case Unary::Neg: return static_cast<int32_t>(0u - static_cast<uint32_t>(x));  // wraps like two's complement
    case Unary::Abs: return x < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(x)) : x;
    case Unary::Sign: return (x > 0) - (x < 0);
    case Unary::Exp:
    case Unary::Log:
    case Unary::Sqrt:
    case Unary::Rsqrt:
    case Unary::Tanh:
    case Unary::Sigmoid:
    case Unary::Relu: break;
  }
  KILN_UNREACHABLE("unary op not defined on i32");
}

float binary_f32(Binary op, float a, float b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
    case Binary::Max: return (a > b || std::isnan(a)) ? a : b;  // NaN propagates
    case Binary::Min: return (a < b || std::isnan(a)) ? a : b;
    case Binary::Pow: return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  KILN_UNREACHABLE("bad binary op");
}

int32_t ipow(int32_t base, int32_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;  // truncated 1 / base^|e|
  uint32_t r = 1, b = static_cast<uint32_t>(base);
  for (uint32_t k = static_cast<uint32_t>(e); k; k >>= 1, b *= b)
    if (k & 1) r *= b;
  return static_cast<int32_t>(r);
}

int32_t binary_i32(Binary op, int32_t a, int32_t b) {
  auto wrap = [](int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); };
  switch (op) {
    case Binary::Add: return wrap(int64_t{a} + b);
    case Binary::Sub: return wrap(int64_t{a} - b);
    case Binary::Mul: return wrap(int64_t{a} * b);
    case Binary::Div:
      if (b == 0) throw Error("div: integer division by zero");
      return wrap(int64_t{a} / b);  // truncates toward zero
    case Binary::Max: return a > b ? a : b;
    case Binary::Min: return a < b ? a : b;
    case Binary::Pow: return ipow(a, b);
  }
  KILN_UNREACHABLE("bad binary op");
}

template <class T>
uint8_t compare_one(Cmp dir, T a, T b) {
  switch (dir) {
    case Cmp::Eq: return a == b;
    case Cmp::Ne: return a != b;
    case Cmp::Lt: return a < b;
    case Cmp::Le: return a <= b;
    case Cmp::Gt: return a > b;
    case Cmp::Ge: return a >= b;
  }
  KILN_UNREACHABLE("bad compare direction");
}

// Truncates toward zero, saturates at the i32 range, NaN -> 0.
int32_t to_i32(double x) {
  if (std::isnan(x)) return 0;
  if (x >= 2147483647.0) return std::numeric_limits<int32_t>::max();
  if (x <= -2147483648.0) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(x);
}

}  // namespace

Tensor fill(const Dims& shape, DType dtype, double value) {
  Tensor t = Tensor::zeros(shape, dtype);
  visit_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    T v;
    if constexpr (std::is_same_v<T, float>) v = static_cast<float>(value);
    else if constexpr (std::is_same_v<T, int32_t>) v = to_i32(value);
    else v = value != 0;
    T* p = ptr<T>(t);
    for (int64_t i = 0, n = t.size(); i < n; ++i) p[i] = v;
  });
  return t;
}

Tensor iota(const Dims& shape, int64_t axis, DType dtype) {
  int64_t ax = norm_axis(axis, static_cast<int64_t>(shape.size()));
  Tensor t = Tensor::zeros(shape, dtype);
  int64_t inner = product(Dims(shape.begin() + ax + 1, shape.end())), len = shape[ax];
  visit_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    T* p = ptr<T>(t);
    for (int64_t i = 0, n = t.size(); i < n; ++i) p[i] = static_cast<T>((i / inner) % len);
  });
  return t;
}

Tensor rng_uniform(const Dims& shape, int64_t seed, float low, float high) {
  Tensor t = Tensor::zeros(shape, DType::f32);
  float* p = t.data();
  for (int64_t i = 0, n = t.size(); i < n; ++i) p[i] = rng_uniform_at(seed, static_cast<uint64_t>(i), low, high);
  return t;
}

Tensor unary(Unary op, const Tensor& x) {
  Tensor out = Tensor::zeros(x.shape(), x.dtype());
  int64_t n = x.size();
  if (x.dtype() == DType::f32) {
    const float* p = x.data();
    float* o = out.data();
    for (int64_t i = 0; i < n; ++i) o[i] = unary_f32(op, p[i]);
  } else {
    KILN_ASSERT(x.dtype() == DType::i32, "unary op on i1");
    const int32_t* p = x.data_i32();
    int32_t* o = out.data_i32();
    for (int64_t i = 0; i < n; ++i) o[i] = unary_i32(op, p[i]);
  }
  return out;
}

Tensor convert(const Tensor& x, DType to) {
  Tensor out = Tensor::zeros(x.shape(), to);
  visit_dtype(x.dtype(), [&](auto zi) {
    using S = decltype(zi);
    visit_dtype(to, [&](auto zo) {
      using D = decltype(zo);
      const S* p = ptr<S>(x);
      D* o = ptr<D>(out);
      for (int64_t i = 0, n = x.size(); i < n; ++i) {
        if constexpr (std::is_same_v<D, uint8_t>) o[i] = p[i] != 0;  // NaN != 0 is true
        else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, int32_t>) o[i] = to_i32(p[i]);
        else o[i] = static_cast<D>(p[i]);  // i32 -> f32 rounds to nearest; i1 -> 0/1
      }
    });
  });
  return out;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b, const Dims* bd) {
  if (a.dtype() == DType::f32)
    return map2<float, float>(a, b, bd, DType::f32, [op](float x, float y) { return binary_f32(op, x, y); });
  KILN_ASSERT(a.dtype() == DType::i32, "binary arithmetic on i1");
  return map2<int32_t, int32_t>(a, b, bd, DType::i32, [op](int32_t x, int32_t y) { return binary_i32(op, x, y); });
}

Tensor compare(Cmp dir, const Tensor& a, const Tensor& b, const Dims* bd) {
  return visit_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    return map2<uint8_t, T>(a, b, bd, DType::i1, [dir](T x, T y) { return compare_one<T>(dir, x, y); });
  });
}

Tensor select(const Tensor& cond, const Tensor& t, const Tensor& f) {
  KILN_ASSERT(cond.shape() == t.shape() && t.shape() == f.shape() && t.dtype() == f.dtype(),
              "select operands differ in shape or dtype");
  Tensor out = Tensor::zeros(t.shape(), t.dtype());
  const uint8_t* c = cond.data_i1();
  visit_dtype(t.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pt = ptr<T>(t);
    const T* pf = ptr<T>(f);
    T* o = ptr<T>(out);
    for (int64_t i = 0, n = out.size(); i < n; ++i) o[i] = c[i] ? pt[i] : pf[i];
  });
  return out;
}

}  // namespace kiln::runtime::kernels
