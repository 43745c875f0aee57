// libFuzzer harness: the IR text parser (ir::parse_module). Accepted modules
// must print; anything but a module or a kiln::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ir/parser.h"
#include "ir/printer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::ir::Module m = kiln::ir::parse_module(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)kiln::ir::to_string(m);
  } catch (const kiln::Error&) {}
  return 0;
}
