// Counter-based random numbers for rng_uniform, shared by the interpreter and
// generated code so that both produce bitwise-identical values.
//
// Element i of rng_uniform(seed) is a pure function of (seed, i):
//   key  = splitmix64(seed)
//   bits = splitmix64(key + i)
//   u    = (bits >> 40) * 2^-24            (a float in [0, 1), 24 random bits, exact)
//   r    = low + (high - low) * u          (float arithmetic, each op rounded)
//   if r >= high (rounding) r = the largest float below high; if r < low, r = low.
#pragma once

#include <cmath>
#include <cstdint>

namespace kiln::runtime {

// The splitmix64 finalizer of (x + golden ratio), as in Vigna's splitmix64.
constexpr uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline float rng_uniform_at(int64_t seed, uint64_t index, float low = 0.0f, float high = 1.0f) {
  uint64_t bits = splitmix64(splitmix64(static_cast<uint64_t>(seed)) + index);
  float u = static_cast<float>(bits >> 40) * 0x1p-24f;
  float r = low + (high - low) * u;
  if (r >= high) r = std::nextafter(high, low);
  if (r < low) r = low;
  return r;
}

}  // namespace kiln::runtime
