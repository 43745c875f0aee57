// Model's training API: compile, fit, evaluate, predict and the *_on_batch
// variants, with Keras's batching, shuffling, validation split, callbacks and
// progress output.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kiln/model.h"
#include "kiln/session.h"
#include "network.h"
#include "runtime/rng.h"
#include "training/progress.h"

namespace kiln {

namespace detail {

struct TrainingState {
  std::unique_ptr<Trainer> trainer;
  std::unique_ptr<Executable> predict;
  std::string backend;  // of `predict`
  bool stop_training = false;
  std::vector<std::string> input_names;  // of the model, cached for predict
  std::vector<Tensor> predict_args;      // kept between predict calls (inputs, then weights)
};

}  // namespace detail

namespace {

std::vector<std::string> input_names(const Model& m) {
  std::vector<std::string> ns;
  for (const KerasTensor& t : m.inputs()) ns.push_back(t.layer().name());
  return ns;
}

std::vector<std::string> output_names(const Model& m) {
  std::vector<std::string> ns;
  for (const KerasTensor& t : m.outputs()) ns.push_back(t.layer().name());
  return ns;
}

std::vector<Tensor> rows(const std::vector<Tensor>& ts, int64_t begin, int64_t end) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.slice_rows(begin, end));
  return out;
}

std::vector<Tensor> pick(const std::vector<Tensor>& ts, const std::vector<int64_t>& idx) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.gather_rows(idx));
  return out;
}

// Sums of batch values weighted by batch size, for epoch averages (Keras's Mean metrics).
struct Averager {
  std::vector<double> sums;
  int64_t count = 0;
  void add(const std::vector<double>& v, int64_t n) {
    if (sums.empty()) sums.assign(v.size(), 0.0);
    for (size_t i = 0; i < v.size(); ++i) sums[i] += v[i] * static_cast<double>(n);
    count += n;
  }
  Logs logs(const std::vector<std::string>& names, const std::string& prefix = "") const {
    Logs l;
    for (size_t i = 0; i < names.size() && i < sums.size(); ++i)
      l.set(prefix + names[i], count ? sums[i] / static_cast<double>(count) : 0.0);
    return l;
  }
};

int64_t num_batches(int64_t n, int batch_size) { return (n + batch_size - 1) / batch_size; }

void check_batch_size(int batch_size) {
  if (batch_size < 1) throw Error("batch_size must be a positive integer, got " + std::to_string(batch_size));
}

}  // namespace

detail::TrainingState& Model::training() {
  if (!training_) training_ = std::make_shared<detail::TrainingState>();
  return *training_;
}

void Model::compile(const CompileOptions& options) {
  auto& t = training();
  t.trainer = std::make_unique<Trainer>(forward_ir(), input_names(*this), output_names(*this), options, name());
  if (t.backend != t.trainer->backend()) t.predict.reset();
}

bool Model::compiled() const { return training_ && training_->trainer; }
Trainer* Model::trainer() const { return training_ ? training_->trainer.get() : nullptr; }

bool Model::stop_training() const { return training_ && training_->stop_training; }
void Model::set_stop_training(bool stop) { training().stop_training = stop; }

double Model::learning_rate() const {
  if (!compiled()) throw Error("Model \"" + name() + "\" has no optimizer yet: call compile() first");
  return training_->trainer->learning_rate();
}
void Model::set_learning_rate(double lr) {
  if (!compiled()) throw Error("Model \"" + name() + "\" has no optimizer yet: call compile() first");
  if (!(lr >= 0)) throw Error("learning rate must be a non-negative number");
  training_->trainer->set_learning_rate(lr);
}

namespace {
Trainer& require_trainer(detail::TrainingState& t, const std::string& model) {
  if (!t.trainer)
    throw Error("You must compile your model before training/testing. Use model.compile({.optimizer, .loss}) "
                "(model \"" + model + "\").");
  return *t.trainer;
}
}  // namespace

const StepGraphs& Model::step_graphs(const Data& y) {
  Trainer& tr = require_trainer(training(), name());
  return tr.graphs(y.resolve(output_names(*this), "target", name()));
}

Logs Model::train_on_batch(const Data& x, const Data& y) {
  Trainer& tr = require_trainer(training(), name());
  std::vector<Tensor> xs = x.resolve(input_names(*this), "input", name());
  std::vector<Tensor> ys = y.resolve(output_names(*this), "target", name());
  tr.check_data(xs, &ys);
  std::vector<Tensor> w = get_weights();
  std::vector<double> v = tr.train_batch(xs, ys, w);
  set_weights(w);
  Averager a;
  a.add(v, 1);
  return a.logs(tr.log_names(ys));
}

Logs Model::test_on_batch(const Data& x, const Data& y) {
  Trainer& tr = require_trainer(training(), name());
  std::vector<Tensor> xs = x.resolve(input_names(*this), "input", name());
  std::vector<Tensor> ys = y.resolve(output_names(*this), "target", name());
  tr.check_data(xs, &ys);
  Averager a;
  a.add(tr.eval_batch(xs, ys, get_weights()), 1);
  return a.logs(tr.log_names(ys));
}

Prediction Model::predict_on_batch(const Data& x) { return predict(x, {.batch_size = 1 << 30, .verbose = 0}); }

namespace {

// The model's weights in get_weights() order (input layers have none),
// shared, not copied, into args[from...]: predict only reads them.
void share_weights(const detail::Network& net, std::vector<Tensor>& args, size_t from) {
  size_t k = from;
  for (const auto& l : net.layers)
    for (const Weight& w : l->weights()) {
      if (k == args.size()) args.emplace_back();
      args[k++] = w.value;
    }
  args.resize(k);
}

}  // namespace

Prediction Model::predict(const Data& x, const PredictOptions& options) {
  check_batch_size(options.batch_size);
  auto& t = training();
  if (t.input_names.empty()) t.input_names = input_names(*this);
  std::vector<Tensor> xs = x.resolve(t.input_names, "input", name());
  const std::string& backend = t.trainer ? t.trainer->backend() : resolve_backend("");
  if (!t.predict || t.backend != backend) {
    t.predict = compile_graph(forward_ir(), backend, passes::Pipeline::Predict);
    t.backend = backend;
  }
  int64_t n = check_inputs(t.predict->graph(), xs, name());
  std::vector<Tensor>& args = t.predict_args;
  args.resize(xs.size());
  share_weights(network(), args, xs.size());
  if (n > 0 && n <= options.batch_size && options.verbose == 0) {  // one batch: no slicing, no concatenation
    for (size_t i = 0; i < xs.size(); ++i) args[i] = xs[i];
    Prediction p(t.predict->run(args));
    for (size_t i = 0; i < xs.size(); ++i) args[i] = Tensor();  // do not keep the caller's inputs alive
    return p;
  }
  std::vector<std::vector<Tensor>> parts;
  int64_t steps = num_batches(n, options.batch_size);
  Progbar bar(static_cast<int>(steps), options.verbose);
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<Tensor> batch = rows(xs, s * options.batch_size, std::min(n, (s + 1) * options.batch_size));
    for (size_t i = 0; i < batch.size(); ++i) args[i] = batch[i];
    parts.push_back(t.predict->run(args));
    bar.update(static_cast<int>(s + 1), {}, s + 1 == steps);
  }
  for (size_t i = 0; i < xs.size(); ++i) args[i] = Tensor();
  size_t nout = outputs().size();
  std::vector<Tensor> outs;
  for (size_t o = 0; o < nout; ++o) {
    if (parts.empty()) {  // zero samples: empty outputs of the right shape
      ir::TensorType ty = t.predict->graph().results()[o]->type;
      outs.push_back(Tensor::zeros(ty.concrete(0), ty.dtype));
      continue;
    }
    std::vector<int64_t> shape = parts[0][o].shape();
    shape[0] = n;
    Tensor all = Tensor::zeros(shape, parts[0][o].dtype());
    size_t off = 0;
    for (const auto& p : parts) {
      std::memcpy(static_cast<uint8_t*>(all.raw()) + off, p[o].raw(), p[o].nbytes());
      off += p[o].nbytes();
    }
    outs.push_back(all);
  }
  return Prediction(std::move(outs));
}

Logs Model::evaluate(const Data& x, const Data& y, const EvaluateOptions& options) {
  check_batch_size(options.batch_size);
  Trainer& tr = require_trainer(training(), name());
  std::vector<Tensor> xs = x.resolve(input_names(*this), "input", name());
  std::vector<Tensor> ys = y.resolve(output_names(*this), "target", name());
  int64_t n = tr.check_data(xs, &ys);
  const std::vector<std::string>& names = tr.log_names(ys);
  std::vector<Tensor> w = get_weights();
  for (const CallbackPtr& cb : options.callbacks) cb->set_model(this);
  int64_t steps = num_batches(n, options.batch_size);
  Progbar bar(static_cast<int>(steps), options.verbose);
  Averager avg;
  for (int64_t s = 0; s < steps; ++s) {
    int64_t b0 = s * options.batch_size, b1 = std::min(n, b0 + options.batch_size);
    Logs none;
    for (const CallbackPtr& cb : options.callbacks) cb->on_batch_begin(static_cast<int>(s), none);
    avg.add(tr.eval_batch(rows(xs, b0, b1), rows(ys, b0, b1), w), b1 - b0);
    Logs l = avg.logs(names);
    for (const CallbackPtr& cb : options.callbacks) cb->on_batch_end(static_cast<int>(s), l);
    bar.update(static_cast<int>(s + 1), l, s + 1 == steps);
  }
  return avg.logs(names);
}

History Model::fit(const Data& x, const Data& y, const FitOptions& o) {
  check_batch_size(o.batch_size);
  if (o.validation_split < 0 || o.validation_split >= 1)
    throw Error("validation_split must be in [0, 1), got " + std::to_string(o.validation_split));
  if (o.validation_split > 0 && o.validation_data)
    throw Error("give either validation_split or validation_data, not both");
  auto& ts = training();
  Trainer& tr = require_trainer(ts, name());
  std::vector<Tensor> xs = x.resolve(input_names(*this), "input", name());
  std::vector<Tensor> ys = y.resolve(output_names(*this), "target", name());
  int64_t n = tr.check_data(xs, &ys);

  // Keras takes the validation split from the end, before any shuffling.
  std::vector<Tensor> vx, vy;
  if (o.validation_split > 0) {
    int64_t split = static_cast<int64_t>(static_cast<double>(n) * (1.0 - o.validation_split));
    if (split == 0 || split == n)
      throw Error("validation_split=" + std::to_string(o.validation_split) + " leaves no " +
                  (split == 0 ? "training" : "validation") + " samples out of " + std::to_string(n));
    vx = rows(xs, split, n);
    vy = rows(ys, split, n);
    xs = rows(xs, 0, split);
    ys = rows(ys, 0, split);
    n = split;
  } else if (o.validation_data) {
    vx = o.validation_data->x.resolve(input_names(*this), "input", name());
    vy = o.validation_data->y.resolve(output_names(*this), "target", name());
    tr.check_data(vx, &vy);
  }
  const std::vector<std::string> names = tr.log_names(ys);

  History history;
  std::vector<CallbackPtr> cbs = o.callbacks;
  for (const CallbackPtr& cb : cbs) cb->set_model(this);
  ts.stop_training = false;
  Logs logs;
  for (const CallbackPtr& cb : cbs) cb->on_train_begin(logs);

  std::vector<Tensor> w = get_weights();
  int64_t steps = num_batches(n, o.batch_size);
  for (int epoch = o.initial_epoch; epoch < o.epochs && !ts.stop_training; ++epoch) {
    if (o.verbose) std::printf("Epoch %d/%d\n", epoch + 1, o.epochs);
    Logs epoch_logs;
    for (const CallbackPtr& cb : cbs) cb->on_epoch_begin(epoch, epoch_logs);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    if (o.shuffle) {
      // Fisher-Yates on counter-based bits of (seed, optimizer steps so far, i): the order
      // follows set_seed(), and a model saved and loaded between epochs (the step
      // counter is optimizer state) shuffles exactly as an uninterrupted run.
      uint64_t stream = runtime::splitmix64(runtime::splitmix64(detail::session_seed()) ^
                                            static_cast<uint64_t>(tr.steps()));
      for (int64_t i = n - 1; i > 0; --i) {
        uint64_t bits = runtime::splitmix64(stream + static_cast<uint64_t>(i));
        std::swap(order[i], order[static_cast<int64_t>(bits % static_cast<uint64_t>(i + 1))]);
      }
    }
    Progbar bar(static_cast<int>(steps), o.verbose);
    Averager avg;
    for (int64_t s = 0; s < steps && !ts.stop_training; ++s) {
      int64_t b0 = s * o.batch_size, b1 = std::min(n, b0 + o.batch_size);
      std::vector<int64_t> idx(order.begin() + b0, order.begin() + b1);
      Logs batch_logs;
      for (const CallbackPtr& cb : cbs) cb->on_batch_begin(static_cast<int>(s), batch_logs);
      std::vector<Tensor> bx = o.shuffle ? pick(xs, idx) : rows(xs, b0, b1);
      std::vector<Tensor> by = o.shuffle ? pick(ys, idx) : rows(ys, b0, b1);
      avg.add(tr.train_batch(bx, by, w), b1 - b0);
      batch_logs = avg.logs(names);
      for (const CallbackPtr& cb : cbs) cb->on_batch_end(static_cast<int>(s), batch_logs);
      bar.update(static_cast<int>(s + 1), batch_logs, false);
    }
    set_weights(w);
    epoch_logs = avg.logs(names);
    if (!vx.empty()) {
      Logs val = evaluate(vx, vy, {.batch_size = o.batch_size, .verbose = 0});
      for (const auto& [k, v] : val) epoch_logs.set("val_" + k, v);
    }
    bar.update(static_cast<int>(steps), epoch_logs, true);
    for (const CallbackPtr& cb : cbs) cb->on_epoch_end(epoch, epoch_logs);
    w = get_weights();  // callbacks may have restored weights
    history.epoch.push_back(epoch);
    for (const auto& [k, v] : epoch_logs) history.history[k].push_back(v);
  }
  set_weights(w);
  for (const CallbackPtr& cb : cbs) cb->on_train_end(logs);
  return history;
}

}  // namespace kiln
