// Small synthetic learning tasks for the seven tutorial models: what `make
// demo` trains and what the tests check (each model must learn its task).
//
// Each task is a rule a model of that architecture can learn in a few epochs:
// the classifiers separate two classes (a signed sum of features, a bright vs
// dark image, a sequence drifting up vs down); the multi-output model also
// regresses every step of its input sequence.
#pragma once

#include <string>

#include "training/trainer.h"

namespace kiln::zoo {

struct Task {
  Data x, y;
  CompileOptions compile;      // optimizer, losses and metrics that suit the task
  std::string metric;          // the log to judge by ("accuracy", "dense_3_accuracy")
  double metric_bar;           // the value it reaches once learned
  int epochs;                  // enough epochs to get there
  int batch_size;
};

// `samples` examples drawn from a generator seeded with `seed`.
Task synthetic_task(const std::string& model, int64_t samples, uint64_t seed = 1);

}  // namespace kiln::zoo
