// libFuzzer harness: kiln::load_model on arbitrary bytes (Kiln's model
// container: sections, JSON, weights, compile config, optimizer state).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "checksum.h"
#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/kiln_fuzz_model_" + std::to_string(getpid()) + ".kiln";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::string bytes = kiln::fuzz::with_checksum(data, size);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  try {
    kiln::Model m = kiln::load_model(path);
    (void)m.get_weights();
  } catch (const kiln::Error&) {}
  return 0;
}
