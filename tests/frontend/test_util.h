// Helpers of the frontend tests: golden files under tests/data/golden/<model>/.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "kiln/kiln.h"

namespace kiln::test {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline std::string golden_path(const std::string& model, const std::string& file) {
  return std::string(KILN_TEST_DATA) + "/golden/" + model + "/" + file;
}

inline nlohmann::json golden_json(const std::string& model, const std::string& file) {
  return nlohmann::json::parse(read_file(golden_path(model, file)));
}

// Trailing spaces removed from every line.
inline std::string strip_trailing(const std::string& s) {
  std::istringstream in(s);
  std::string line, out;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    out += line + "\n";
  }
  return out;
}

// Runs `f` and returns the kiln::Error message it throws ("" and a test failure if none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

}  // namespace kiln::test
