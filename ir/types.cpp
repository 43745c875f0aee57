#include "ir/types.h"

#include <sstream>

#include "ir/error.h"

namespace kiln {

void internal_error(const char* file, int line, const std::string& what) {
  std::ostringstream os;
  os << "kiln internal error at " << file << ":" << line << ": " << what;
  throw Error(os.str());
}

}  // namespace kiln

namespace kiln::ir {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::i32: return "i32";
    case DType::i1: return "i1";
    case DType::u8: return "u8";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  if (s == "f32") return DType::f32;
  if (s == "i32") return DType::i32;
  if (s == "i1") return DType::i1;
  if (s == "u8") return DType::u8;
  return std::nullopt;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i32: return 4;
    case DType::i1: return 1;
    case DType::u8: return 1;
  }
  return 0;
}

std::string dims_to_string(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    if (d[i] == kBatch) s += "N";
    else if (is_batch_dim(d[i])) s += "N*" + std::to_string(batch_factor(d[i]));
    else s += std::to_string(d[i]);
  }
  return s + "]";
}

bool TensorType::has_batch() const {
  for (int64_t d : shape)
    if (is_batch_dim(d)) return true;
  return false;
}

int64_t TensorType::static_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= is_batch_dim(d) ? batch_factor(d) : d;
  return n;
}

int64_t TensorType::elements(int64_t batch) const {
  return has_batch() ? static_elements() * batch : static_elements();
}

Dims TensorType::concrete(int64_t batch) const {
  Dims out = shape;
  for (int64_t& d : out)
    if (is_batch_dim(d)) d = batch_factor(d) * batch;
  return out;
}

std::string TensorType::to_string() const {
  return std::string(dtype_name(dtype)) + dims_to_string(shape);
}

}  // namespace kiln::ir
