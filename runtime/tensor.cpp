#include "runtime/tensor.h"

#include <cstdlib>
#include <cstring>

#include "ir/error.h"

namespace kiln {

namespace {
int64_t product(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw Error("tensor shape has a negative dimension");
    n *= d;
  }
  return n;
}
std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  if (s.size() == 1) r += ",";
  return r + ")";
}
}  // namespace

std::shared_ptr<uint8_t> Tensor::allocate(size_t bytes, bool zero) {
  size_t rounded = ((bytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw Error("out of memory allocating a tensor of " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(p, 0, rounded);
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

Tensor::Tensor(std::vector<int64_t> shape, std::vector<float> data) : shape_(std::move(shape)) {
  if (static_cast<int64_t>(data.size()) != product(shape_))
    throw Error("Tensor: shape " + shape_str(shape_) + " holds " + std::to_string(product(shape_)) +
                " elements but " + std::to_string(data.size()) + " values were given");
  buf_ = allocate(data.size() * sizeof(float));
  if (!data.empty()) std::memcpy(buf_.get(), data.data(), data.size() * sizeof(float));
}

Tensor Tensor::zeros(std::vector<int64_t> shape, DType dtype) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.buf_ = allocate(static_cast<size_t>(product(t.shape_)) * ir::dtype_size(dtype));
  return t;
}

Tensor Tensor::uninitialized(std::vector<int64_t> shape, DType dtype) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.buf_ = allocate(static_cast<size_t>(product(t.shape_)) * ir::dtype_size(dtype), /*zero=*/false);
  return t;
}

Tensor Tensor::full(std::vector<int64_t> shape, float value) {
  Tensor t = zeros(std::move(shape));
  float* p = t.data();
  for (int64_t i = 0; i < t.size(); ++i) p[i] = value;
  return t;
}

Tensor Tensor::from_i32(std::vector<int64_t> shape, const std::vector<int32_t>& data) {
  Tensor t = zeros(std::move(shape), DType::i32);
  if (static_cast<int64_t>(data.size()) != t.size())
    throw Error("Tensor: shape " + t.shape_string() + " holds " + std::to_string(t.size()) + " elements but " +
                std::to_string(data.size()) + " values were given");
  if (!data.empty()) std::memcpy(t.raw(), data.data(), data.size() * sizeof(int32_t));
  return t;
}

int64_t Tensor::dim(int64_t i) const {
  int64_t r = rank();
  int64_t a = i < 0 ? i + r : i;
  if (a < 0 || a >= r)
    throw Error("Tensor::dim: axis " + std::to_string(i) + " out of range for shape " + shape_string());
  return shape_[a];
}

int64_t Tensor::size() const { return defined() ? product(shape_) : 0; }

void Tensor::check(DType want) const {
  if (!defined()) throw Error("Tensor: access to an empty tensor");
  if (dtype_ != want)
    throw Error("Tensor: element type is " + std::string(ir::dtype_name(dtype_)) + ", not " +
                std::string(ir::dtype_name(want)));
}

float* Tensor::data() { check(DType::f32); return reinterpret_cast<float*>(buf_.get()); }
const float* Tensor::data() const { check(DType::f32); return reinterpret_cast<const float*>(buf_.get()); }
int32_t* Tensor::data_i32() { check(DType::i32); return reinterpret_cast<int32_t*>(buf_.get()); }
const int32_t* Tensor::data_i32() const { check(DType::i32); return reinterpret_cast<const int32_t*>(buf_.get()); }
uint8_t* Tensor::data_i1() { check(DType::i1); return buf_.get(); }
const uint8_t* Tensor::data_i1() const { check(DType::i1); return buf_.get(); }
uint8_t* Tensor::data_u8() { check(DType::u8); return buf_.get(); }
const uint8_t* Tensor::data_u8() const { check(DType::u8); return buf_.get(); }

std::vector<float> Tensor::to_vector() const {
  const float* p = data();
  return std::vector<float>(p, p + size());
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t = zeros(shape_, dtype_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::reshaped(std::vector<int64_t> shape) const {
  if (product(shape) != size())
    throw Error("Tensor::reshaped: cannot reshape " + shape_string() + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  if (rank() < 1 || begin < 0 || end < begin || end > shape_[0])
    throw Error("Tensor::slice_rows: rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                ") out of range for shape " + shape_string());
  std::vector<int64_t> s = shape_;
  s[0] = end - begin;
  Tensor t = zeros(s, dtype_);
  size_t row = nbytes() / static_cast<size_t>(std::max<int64_t>(shape_[0], 1));
  if (t.nbytes()) std::memcpy(t.raw(), buf_.get() + row * begin, t.nbytes());
  return t;
}

Tensor Tensor::gather_rows(const std::vector<int64_t>& rows) const {
  if (rank() < 1) throw Error("Tensor::gather_rows: needs rank >= 1, got shape " + shape_string());
  std::vector<int64_t> s = shape_;
  s[0] = static_cast<int64_t>(rows.size());
  Tensor t = zeros(s, dtype_);
  size_t row = shape_[0] ? nbytes() / static_cast<size_t>(shape_[0]) : 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= shape_[0])
      throw Error("Tensor::gather_rows: row " + std::to_string(rows[i]) + " out of range for shape " + shape_string());
    std::memcpy(static_cast<uint8_t*>(t.raw()) + row * i, buf_.get() + row * rows[i], row);
  }
  return t;
}

std::string Tensor::shape_string() const { return shape_str(shape_); }

}  // namespace kiln
