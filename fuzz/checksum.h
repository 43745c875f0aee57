// Shared by the libFuzzer harnesses of Kiln's checksummed file formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::fuzz {

// Half of the inputs get a correct trailing FNV-1a 64 checksum (the formats end with one), so
// the fuzzer explores the parser behind it instead of stopping at "checksum mismatch".
inline std::string with_checksum(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (size < 9 || (data[size - 9] & 1) == 0) return s;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i + 8 < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  for (int k = 0; k < 8; ++k) s[size - 8 + static_cast<size_t>(k)] = static_cast<char>(h >> (8 * k));
  return s;
}

}  // namespace kiln::fuzz
