// Tensor types of the IR: a dtype and a shape whose dimensions are static,
// except the batch dimension, written `N`, which stays symbolic until run time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::ir {

// u8: a max_pool2d_winners' winner positions (no other op reads or makes one).
enum class DType : uint8_t { f32, i32, i1, u8 };

std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view s);
size_t dtype_size(DType t);

// The symbolic batch dimension. A shape holds it at most once (usually first;
// after a transpose, e.g. the time-major input of a scan, elsewhere). A batch
// dimension may carry a static factor: -k stands for N*k (printed `N*k`), so
// that e.g. f32[N,13,13,16] reshapes to f32[N*169,16]. kBatch (-1) is plain N.
inline constexpr int64_t kBatch = -1;
inline constexpr bool is_batch_dim(int64_t d) { return d < 0; }
inline constexpr int64_t batch_factor(int64_t d) { return -d; }  // for a batch dim
inline constexpr int64_t batch_dim(int64_t factor) { return -factor; }

using Dims = std::vector<int64_t>;

// "[N,10]", "[N*169,16]" style rendering of a dims vector (no dtype).
std::string dims_to_string(const Dims& d);

struct TensorType {
  DType dtype = DType::f32;
  Dims shape;

  TensorType() = default;
  TensorType(DType t, Dims s) : dtype(t), shape(std::move(s)) {}

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  bool has_batch() const;
  // Product of the static dimensions, the batch dimension counting as its factor.
  int64_t static_elements() const;
  // Number of elements for a concrete batch size.
  int64_t elements(int64_t batch) const;
  // Dims with the batch dimension replaced by `batch`.
  Dims concrete(int64_t batch) const;

  bool operator==(const TensorType&) const = default;
  std::string to_string() const;  // e.g. "f32[N,10]", "f32[]"
};

inline TensorType f32(Dims s) { return {DType::f32, std::move(s)}; }

}  // namespace kiln::ir
