// kiln::Error: the one exception type of Kiln's public API.
//
// User mistakes (bad shapes, unknown names, malformed files) throw kiln::Error
// with a message that says what went wrong, where, and how to fix it.
// Internal invariant violations use KILN_ASSERT and also throw, with "internal
// error" in the text, so a bug never silently corrupts a model.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

[[noreturn]] void internal_error(const char* file, int line, const std::string& what);

}  // namespace kiln

#define KILN_ASSERT(cond, msg)                                     \
  do {                                                             \
    if (!(cond)) ::kiln::internal_error(__FILE__, __LINE__, (msg)); \
  } while (0)

// A place the code can never reach (after a switch that covers every case);
// unlike an always-failing KILN_ASSERT, the compiler sees that it does not return.
#define KILN_UNREACHABLE(msg) ::kiln::internal_error(__FILE__, __LINE__, (msg))
