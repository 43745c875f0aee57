#include "training/callbacks.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "kiln/model.h"

namespace kiln {

Model& Callback::model() const {
  if (!model_) throw Error("callback is not attached to a model (it is attached by fit/evaluate/predict)");
  return *model_;
}

namespace {

// Keras's "auto" mode: maximize accuracy-like quantities, minimize the rest.
bool maximize(const std::string& mode, const std::string& monitor, const char* who) {
  if (mode == "min") return false;
  if (mode == "max") return true;
  if (mode != "auto") throw Error(std::string(who) + ": mode must be auto, min or max, got '" + mode + "'");
  return monitor.find("acc") != std::string::npos || monitor.rfind("auc", 0) == 0 ||
         monitor.rfind("val_auc", 0) == 0;
}

class EarlyStoppingCb : public Callback {
 public:
  explicit EarlyStoppingCb(EarlyStoppingOptions o) : o_(std::move(o)), max_(maximize(o_.mode, o_.monitor, "EarlyStopping")) {
    delta_ = max_ ? std::abs(o_.min_delta) : -std::abs(o_.min_delta);
  }
  void on_train_begin(Logs&) override {
    wait_ = 0;
    best_ = max_ ? -INFINITY : INFINITY;
    best_weights_.clear();
  }
  void on_epoch_end(int epoch, Logs& logs) override {
    if (epoch < o_.start_from_epoch) return;
    if (!logs.has(o_.monitor)) {
      std::cerr << "Early stopping conditioned on metric `" << o_.monitor
                << "` which is not available. Available metrics are: ";
      for (const std::string& k : logs.keys()) std::cerr << k << ",";
      std::cerr << "\n";
      return;
    }
    double current = logs.at(o_.monitor);
    if (o_.restore_best_weights && best_weights_.empty()) best_weights_ = model().get_weights();
    ++wait_;
    if (improved(current, best_)) {
      best_ = current;
      if (o_.restore_best_weights) best_weights_ = model().get_weights();
      if (!o_.baseline || improved(current, *o_.baseline)) wait_ = 0;
      return;
    }
    if (wait_ >= o_.patience && epoch > 0) {
      model().set_stop_training(true);
      if (o_.restore_best_weights && !best_weights_.empty()) model().set_weights(best_weights_);
    }
  }

 private:
  bool improved(double current, double reference) const {
    return max_ ? current - delta_ > reference : current - delta_ < reference;
  }
  EarlyStoppingOptions o_;
  bool max_;
  double delta_ = 0, best_ = 0;
  int wait_ = 0;
  std::vector<Tensor> best_weights_;
};

class ReduceLROnPlateauCb : public Callback {
 public:
  explicit ReduceLROnPlateauCb(ReduceLROnPlateauOptions o)
      : o_(std::move(o)), max_(maximize(o_.mode, o_.monitor, "ReduceLROnPlateau")) {
    if (o_.factor >= 1.0) throw Error("ReduceLROnPlateau does not support a factor >= 1.0, got " + std::to_string(o_.factor));
  }
  void on_train_begin(Logs&) override {
    best_ = max_ ? -INFINITY : INFINITY;
    wait_ = cooldown_ = 0;
  }
  void on_epoch_end(int epoch, Logs& logs) override {
    logs.set("lr", model().learning_rate());
    if (!logs.has(o_.monitor)) {
      std::cerr << "Learning rate reduction is conditioned on metric `" << o_.monitor
                << "` which is not available.\n";
      return;
    }
    double current = logs.at(o_.monitor);
    if (cooldown_ > 0) {
      --cooldown_;
      wait_ = 0;
    }
    if (max_ ? current > best_ + o_.min_delta : current < best_ - o_.min_delta) {
      best_ = current;
      wait_ = 0;
    } else if (cooldown_ == 0 && ++wait_ >= o_.patience) {
      double old_lr = model().learning_rate();
      if (old_lr > o_.min_lr) {
        double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
        model().set_learning_rate(new_lr);
        if (o_.verbose > 0)
          std::printf("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %g.\n", epoch + 1, new_lr);
        cooldown_ = o_.cooldown;
        wait_ = 0;
      }
    }
  }

 private:
  ReduceLROnPlateauOptions o_;
  bool max_;
  double best_ = 0;
  int wait_ = 0, cooldown_ = 0;
};

class LambdaCb : public Callback {
 public:
  explicit LambdaCb(LambdaCallbackOptions o) : o_(std::move(o)) {}
  void on_train_begin(Logs& l) override { if (o_.on_train_begin) o_.on_train_begin(l); }
  void on_train_end(Logs& l) override { if (o_.on_train_end) o_.on_train_end(l); }
  void on_epoch_begin(int e, Logs& l) override { if (o_.on_epoch_begin) o_.on_epoch_begin(e, l); }
  void on_epoch_end(int e, Logs& l) override { if (o_.on_epoch_end) o_.on_epoch_end(e, l); }
  void on_batch_begin(int b, Logs& l) override { if (o_.on_batch_begin) o_.on_batch_begin(b, l); }
  void on_batch_end(int b, Logs& l) override { if (o_.on_batch_end) o_.on_batch_end(b, l); }

 private:
  LambdaCallbackOptions o_;
};

class TerminateOnNaNCb : public Callback {
 public:
  void on_batch_end(int batch, Logs& logs) override {
    if (!logs.has("loss")) return;
    double loss = logs.at("loss");
    if (std::isnan(loss) || std::isinf(loss)) {
      std::printf("Batch %d: Invalid loss, terminating training\n", batch);
      model().set_stop_training(true);
    }
  }
};

}  // namespace

CallbackPtr EarlyStopping(EarlyStoppingOptions o) { return std::make_shared<EarlyStoppingCb>(std::move(o)); }
CallbackPtr ReduceLROnPlateau(ReduceLROnPlateauOptions o) { return std::make_shared<ReduceLROnPlateauCb>(std::move(o)); }
CallbackPtr LambdaCallback(LambdaCallbackOptions o) { return std::make_shared<LambdaCb>(std::move(o)); }
CallbackPtr TerminateOnNaN() { return std::make_shared<TerminateOnNaNCb>(); }

}  // namespace kiln
