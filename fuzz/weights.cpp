// libFuzzer harness: Model::load_weights on arbitrary bytes in Kiln's weights
// format, into a small fixed model (the input is written to a per-process
// file first, as the loader reads files). A successful load must leave
// weights of the model's shapes; failures must be kiln::Error. Inputs that begin
// with HDF5's signature are skipped: load_weights hands any HDF5 file to libhdf5
// (Keras weights, whatever the name), which this harness does not fuzz.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "checksum.h"
#include "kiln/kiln.h"

namespace {

kiln::Model& model() {
  static kiln::Model* m = [] {
    auto x = kiln::Input({3}, {.name = "x"});
    auto h = kiln::Dense(4, {.activation = "relu", .name = "hidden"})(x);
    return new kiln::Model(x, kiln::Dense(1, {.name = "out"})(h), "fuzz");
  }();
  return *m;
}

std::string scratch_path() {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return std::string(dir) + "/kiln_fuzz_weights_" + std::to_string(getpid()) + ".kw";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = scratch_path();
  if (size >= 8 && std::memcmp(data, "\x89HDF\r\n\x1a\n", 8) == 0) return 0;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::string bytes = kiln::fuzz::with_checksum(data, size);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  try {
    model().load_weights(path);
    if (model().get_weights().size() != 4) __builtin_trap();
  } catch (const kiln::Error&) {}
  return 0;
}
