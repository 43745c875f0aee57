// The JIT's side of tools.aot.* (aot_test.cmake): loads a saved model, runs
// the train steps examples/aot ran through the AOT library (same batch, same
// learning rate) with train_on_batch (the JIT backend: load_model compiles
// with the saved options, backend "" = jit), and checks that every log, the
// weights, the optimizer slots and the predictions after training equal the
// AOT library's bit for bit.
//
//   aot_train_check MODEL.kiln OUTDIR STEPS    (OUTDIR as `aot_model --train` left it)
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <kiln/kiln.h>

#include "runtime/io.h"

namespace {

// OUTDIR/<stem>0.npy, <stem>1.npy, ... as many as exist.
std::vector<kiln::Tensor> read_all(const std::string& dir, const std::string& stem) {
  std::vector<kiln::Tensor> ts;
  for (int i = 0;; ++i) {
    std::string path = dir + "/" + stem + std::to_string(i) + ".npy";
    if (!std::filesystem::exists(path)) return ts;
    ts.push_back(kiln::runtime::read_npy(path));
  }
}

// Counts the floats of `got` that differ bitwise from `want` (same count required); prints a line.
int64_t differ(const std::string& what, const kiln::Tensor& want, const kiln::Tensor& got) {
  if (want.size() != got.size()) {
    std::cout << what << ": " << want.size() << " floats (JIT) but " << got.size() << " (AOT)\n";
    return 1;
  }
  int64_t n = 0;
  for (int64_t i = 0; i < want.size(); ++i) n += std::memcmp(&want.data()[i], &got.data()[i], sizeof(float)) != 0;
  std::cout << what << ": " << want.size() << " floats, " << n << " differ\n";
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: aot_train_check MODEL OUTDIR STEPS\n";
    return 2;
  }
  try {
    const std::string dir = argv[2];
    const int steps = std::stoi(argv[3]);
    kiln::Model model = kiln::load_model(argv[1]);
    std::vector<kiln::Tensor> x = read_all(dir, "x"), t = read_all(dir, "t");
    kiln::Tensor logs = kiln::runtime::read_npy(dir + "/logs0.npy");
    int64_t bad = 0;
    const int64_t n_logs = logs.dim(1);
    for (int s = 0; s < steps; ++s) {
      kiln::Logs l = model.train_on_batch(x, t);
      if (static_cast<int64_t>(l.items().size()) != n_logs) {
        std::cout << "step " << s + 1 << ": " << l.items().size() << " logs (JIT) but " << n_logs << " (AOT)\n";
        return 1;
      }
      for (int64_t k = 0; k < n_logs; ++k) {
        float jit = static_cast<float>(l.items()[k].second), aot = logs.data()[s * n_logs + k];
        bool same = std::memcmp(&jit, &aot, sizeof jit) == 0;
        bad += !same;
        std::printf("step %d %s: JIT %.9g AOT %.9g%s\n", s + 1, l.items()[k].first.c_str(), jit, aot,
                    same ? "" : "  DIFFER");
      }
    }
    std::vector<kiln::Tensor> w = model.get_weights(), aw = read_all(dir, "w"), as = read_all(dir, "s");
    const std::vector<kiln::Tensor>& state = model.trainer()->state();
    if (w.size() != aw.size() || state.size() != as.size()) {
      std::cout << w.size() << " weights and " << state.size() << " slots (JIT) but " << aw.size() << " and "
                << as.size() << " (AOT)\n";
      return 1;
    }
    for (size_t i = 0; i < w.size(); ++i) bad += differ("weight " + std::to_string(i), w[i], aw[i]);
    for (size_t i = 0; i < state.size(); ++i) bad += differ("slot " + std::to_string(i), state[i], as[i]);
    kiln::Prediction p = model.predict(x, {.batch_size = static_cast<int>(x[0].dim(0))});
    std::vector<kiln::Tensor> ap = read_all(dir, "p");
    for (size_t j = 0; j < p.size(); ++j) bad += differ("prediction " + std::to_string(j), p[j], ap.at(j));
    if (bad) return 1;
    std::cout << "the AOT train steps equal the JIT's bit for bit\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "aot_train_check: " << e.what() << "\n";
    return 1;
  }
}
