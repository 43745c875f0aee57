// The weight initializers of Keras, on Kiln's own deterministic generator
// (xoshiro256** seeded through splitmix64; uniform and normal transforms written
// here, not std:: distributions, so weights are bitwise identical everywhere).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace kiln::detail {

class Rng {
 public:
  explicit Rng(uint64_t seed) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next();
  double uniform();  // [0, 1), 53 bits
  double normal();   // standard normal (Box-Muller)

 private:
  uint64_t s_[4] = {};
  bool has_spare_ = false;
  double spare_ = 0;
};

// The process-wide initializer generator (kiln::set_seed / clear_session rewind it).
Rng& global_rng();

// glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); for a conv kernel
// (kh, kw, in, out) both fans are multiplied by the receptive field kh*kw.
Tensor glorot_uniform(const std::vector<int64_t>& shape);
// orthogonal (gain 1): QR of a normal (max(r,c), min(r,c)) matrix, Q's columns sign-corrected
// by diag(R), transposed when rows < cols. rows = prod(shape[:-1]), cols = shape[-1].
Tensor orthogonal(const std::vector<int64_t>& shape);

}  // namespace kiln::detail
