// Helpers shared by the IR tests: sample files and error capture.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ir/error.h"

namespace kiln::ir::testing {

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// tests/data/ir/ops/*.kir, sorted by name.
inline std::vector<std::filesystem::path> sample_files() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops"))
    if (e.path().extension() == ".kir") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The message of the kiln::Error `f` throws, or "" if it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace kiln::ir::testing
