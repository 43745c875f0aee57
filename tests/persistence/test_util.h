// Helpers of the persistence tests: small models, temporary files, errors.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "kiln/kiln.h"
#include "runtime/interpreter.h"

namespace kiln::test {

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string data_path(const std::string& file) { return std::string(KILN_TEST_DATA) + "/persistence/" + file; }

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln_persist_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// The kiln::Error message `f` throws ("" and a test failure if none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

inline bool same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i])) return false;
  return true;
}

// Deterministic pseudo-random values in [-1, 1).
inline Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = Tensor::zeros(std::move(shape));
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.size(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.data()[i] = static_cast<float>(s >> 8) / static_cast<float>(1 << 23) - 1.0f;
  }
  return t;
}

// Sets every weight of `m` to seeded random values.
inline void randomize(Model& m, uint32_t seed) {
  std::vector<Tensor> ws = m.get_weights();
  for (size_t i = 0; i < ws.size(); ++i) ws[i] = random_tensor(ws[i].shape(), seed + static_cast<uint32_t>(i));
  m.set_weights(ws);
}

// The model's outputs on `inputs` through the reference interpreter.
inline std::vector<Tensor> run_forward(const Model& m, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> args = inputs;
  for (const Tensor& w : m.get_weights()) args.push_back(w);
  return runtime::interpret(*m.forward_ir(), args);
}

// One batch of random inputs shaped like the model's inputs.
inline std::vector<Tensor> sample_inputs(const Model& m, int64_t batch, uint32_t seed) {
  std::vector<Tensor> xs;
  for (const KerasTensor& t : m.inputs()) {
    std::vector<int64_t> shape = t.shape();
    shape[0] = batch;
    xs.push_back(random_tensor(shape, seed++));
  }
  return xs;
}

}  // namespace kiln::test
