// libFuzzer harness: kiln::load_model on arbitrary bytes (Kiln's model
// container: sections, JSON, weights, compile config, optimizer state).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "kiln/kiln.h"

namespace {

// Half of the inputs get a correct trailing FNV-1a 64 checksum (the formats end with one), so
// the fuzzer explores the parser behind it instead of stopping at "checksum mismatch".
std::string with_checksum(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (size < 9 || (data[size - 9] & 1) == 0) return s;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i + 8 < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  for (int k = 0; k < 8; ++k) s[size - 8 + static_cast<size_t>(k)] = static_cast<char>(h >> (8 * k));
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/kiln_fuzz_model_" + std::to_string(getpid()) + ".kiln";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::string bytes = with_checksum(data, size);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  try {
    kiln::Model m = kiln::load_model(path);
    (void)m.get_weights();
  } catch (const kiln::Error&) {}
  return 0;
}
