// libFuzzer harness: kiln::model_from_json on arbitrary bytes. Anything but a
// model or a kiln::Error (a crash, a sanitizer report, another exception, a
// timeout, an allocation over the limit) is a bug, and so is a loaded model
// that does not survive to_json -> model_from_json unchanged.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits keep each run fast; the limits themselves are what is being tested.
  const kiln::JsonLimits limits{.max_layers = 2000, .max_params = int64_t{1} << 18};
  std::optional<kiln::Model> m;
  try {
    m = kiln::model_from_json(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  } catch (const kiln::Error&) {
    return 0;
  }
  // Whatever loads must serialize and load back to the same model (an Error here is a bug).
  std::string text = m->to_json();
  kiln::Model back = kiln::model_from_json(text, limits);
  if (back.to_json() != text || back.summary_string() != m->summary_string()) __builtin_trap();
  return 0;
}
