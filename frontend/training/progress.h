// Keras's progress bar (keras.utils.Progbar), for fit/evaluate/predict.
//
// On a terminal it redraws one line per update:
//   32/32 [==============================] - 0s 2ms/step - loss: 0.6931 - accuracy: 0.5000
// Elsewhere (a pipe, a log file) it prints one line when done:
//   32/32 - 0s - loss: 0.6931 - accuracy: 0.5000 - 45ms/epoch - 1ms/step
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "training/logs.h"

namespace kiln {

class Progbar {
 public:
  // verbose: 0 silent, 1 bar on a terminal (one line otherwise), 2 one line.
  Progbar(int target, int verbose, std::FILE* out = stdout);
  void update(int current, const Logs& values, bool finalize = false);

  // Formats a value the way Keras does: %.4f, or %.4e when |v| < 1e-3.
  static std::string format_value(double v);
  // " 2ms/step" style; unit is "step" or "epoch".
  static std::string format_time(double seconds, const char* unit);

 private:
  int target_;
  int verbose_;
  bool tty_;
  std::FILE* out_;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace kiln
