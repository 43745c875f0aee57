// libFuzzer harness: kiln::model_from_json on arbitrary bytes. Anything but a
// model or a kiln::Error (a crash, a sanitizer report, another exception, a
// timeout, an allocation over the limit) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // Small limits keep each run fast; the limits themselves are what is being tested.
    kiln::Model m = kiln::model_from_json(std::string_view(reinterpret_cast<const char*>(data), size),
                                          {.max_layers = 2000, .max_params = int64_t{1} << 18});
    (void)m.to_json();
  } catch (const kiln::Error&) {
  }
  return 0;
}
