// Keras-style callbacks: hooks into fit/evaluate/predict.
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/tensor.h"
#include "training/logs.h"

namespace kiln {

class Model;

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Logs&) {}
  virtual void on_train_end(Logs&) {}
  virtual void on_epoch_begin(int /*epoch*/, Logs&) {}
  virtual void on_epoch_end(int /*epoch*/, Logs&) {}
  virtual void on_batch_begin(int /*batch*/, Logs&) {}
  virtual void on_batch_end(int /*batch*/, Logs&) {}

  void set_model(Model* m) { model_ = m; }
  Model& model() const;

 private:
  Model* model_ = nullptr;
};

using CallbackPtr = std::shared_ptr<Callback>;

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  std::string mode = "auto";  // auto, min, max
  std::optional<double> baseline;
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};
CallbackPtr EarlyStopping(EarlyStoppingOptions o = {});

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  std::string mode = "auto";
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
  int verbose = 0;
};
CallbackPtr ReduceLROnPlateau(ReduceLROnPlateauOptions o = {});

struct LambdaCallbackOptions {
  std::function<void(int, Logs&)> on_epoch_begin, on_epoch_end, on_batch_begin, on_batch_end;
  std::function<void(Logs&)> on_train_begin, on_train_end;
};
CallbackPtr LambdaCallback(LambdaCallbackOptions o);

// Stops training when a batch loss is NaN or infinite.
CallbackPtr TerminateOnNaN();

}  // namespace kiln
