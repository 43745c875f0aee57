// kiln::Tensor: a dtype, a concrete shape and a shared, 64-byte-aligned buffer.
//
// Copies share the buffer (like a numpy array handed around); clone() copies
// the data. The element type is f32, i32, i1 (stored one byte per element) or u8.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/types.h"

namespace kiln {

using ir::DType;

class Tensor {
 public:
  Tensor() = default;
  // f32 tensor from a shape and row-major data; throws kiln::Error if the sizes differ.
  Tensor(std::vector<int64_t> shape, std::vector<float> data);
  Tensor(std::vector<int64_t> shape, std::initializer_list<float> data)
      : Tensor(std::move(shape), std::vector<float>(data)) {}

  static Tensor zeros(std::vector<int64_t> shape, DType dtype = DType::f32);
  // Contents unspecified: for buffers a kernel is about to overwrite entirely.
  static Tensor uninitialized(std::vector<int64_t> shape, DType dtype = DType::f32);
  static Tensor full(std::vector<int64_t> shape, float value);
  static Tensor from_i32(std::vector<int64_t> shape, const std::vector<int32_t>& data);

  bool defined() const { return buf_ != nullptr; }
  // How many Tensors share this buffer (0 when undefined).
  long use_count() const { return buf_.use_count(); }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int64_t i) const;
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size() const;  // number of elements
  size_t nbytes() const { return static_cast<size_t>(size()) * ir::dtype_size(dtype_); }

  // Typed access; each throws kiln::Error when the dtype differs.
  float* data();
  const float* data() const;
  int32_t* data_i32();
  const int32_t* data_i32() const;
  uint8_t* data_i1();
  const uint8_t* data_i1() const;
  uint8_t* data_u8();
  const uint8_t* data_u8() const;
  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }

  std::vector<float> to_vector() const;  // f32 only
  Tensor clone() const;
  // Same buffer, new shape with the same element count.
  Tensor reshaped(std::vector<int64_t> shape) const;
  // Rows [begin, end) along axis 0, copied.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Rows picked by index along axis 0, copied (for shuffled batches).
  Tensor gather_rows(const std::vector<int64_t>& rows) const;

  std::string shape_string() const;  // "(32, 10)"
  ir::TensorType type() const { return {dtype_, shape_}; }

 private:
  DType dtype_ = DType::f32;
  std::vector<int64_t> shape_;
  std::shared_ptr<uint8_t> buf_;

  void check(DType want) const;
  static std::shared_ptr<uint8_t> allocate(size_t bytes, bool zero = true);
};

}  // namespace kiln
