#include "training/tasks.h"

#include "random.h"

namespace kiln::zoo {

namespace {

using detail::Rng;

// Class labels 0/1, alternating so every batch holds both classes.
std::vector<int> labels(int64_t n) {
  std::vector<int> c(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) c[i] = static_cast<int>(i % 2);
  return c;
}

// Images of zero-mean uniform noise in [-0.25, 0.25), shifted by +-contrast/2 by
// class (class 1 brighter): centred inputs keep the wide Dense layers of the
// conv models out of saturation at the start.
Tensor images(Rng& rng, const std::vector<int>& cls, int64_t h, int64_t w, int64_t ch, double contrast) {
  int64_t n = static_cast<int64_t>(cls.size());
  Tensor t = Tensor::zeros({n, h, w, ch});
  float* p = t.data();
  int64_t per = h * w * ch;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k)
      p[i * per + k] = static_cast<float>(0.5 * rng.uniform() - 0.25 + contrast * (cls[i] - 0.5));
  return t;
}

// Sequences of T steps: uniform noise in [-1, 1) drifting by +-drift per step.
Tensor sequences(Rng& rng, const std::vector<int>& cls, int64_t T, double drift) {
  int64_t n = static_cast<int64_t>(cls.size());
  Tensor t = Tensor::zeros({n, T, 1});
  float* p = t.data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < T; ++k) p[i * T + k] = static_cast<float>(2 * rng.uniform() - 1 + drift * (2 * cls[i] - 1));
  return t;
}

Tensor column(const std::vector<int>& cls, std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(shape);
  int64_t per = t.size() / static_cast<int64_t>(cls.size());
  for (size_t i = 0; i < cls.size(); ++i)
    for (int64_t k = 0; k < per; ++k) t.data()[static_cast<int64_t>(i) * per + k] = static_cast<float>(cls[i]);
  return t;
}

CompileOptions binary(double lr) {
  return {.optimizer = Adam(lr), .loss = "binary_crossentropy", .metrics = {"accuracy"}};
}

}  // namespace

Task synthetic_task(const std::string& model, int64_t n, uint64_t seed) {
  if (n < 2) throw Error("synthetic_task: needs at least 2 samples, got " + std::to_string(n));
  Rng rng(seed);
  std::vector<int> cls = labels(n);
  if (model == "mlp") {
    // y = [x0 + x1 + x2 - x3 - x4 > 0]
    Tensor x = Tensor::zeros({n, 10});
    std::vector<int> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int k = 0; k < 10; ++k) {
        double v = 2 * rng.uniform() - 1;
        x.data()[i * 10 + k] = static_cast<float>(v);
        s += k < 3 ? v : k < 5 ? -v : 0;
      }
      y[i] = s > 0;
    }
    return {x, column(y, {n, 1}), binary(0.01), "accuracy", 0.9, 40, 16};
  }
  if (model == "cnn")
    return {images(rng, cls, 64, 64, 1, 0.5), column(cls, {n, 13, 13, 1}), binary(0.001), "accuracy", 0.95, 6, 8};
  if (model == "shared_input")
    return {images(rng, cls, 64, 64, 1, 0.5), column(cls, {n, 1}), binary(0.001), "accuracy", 0.95, 6, 8};
  if (model == "multi_input") {
    Tensor grey = images(rng, cls, 64, 64, 1, 0.5);
    std::vector<int> none(cls.size(), 0);
    Tensor colour = images(rng, none, 32, 32, 3, 0.0);
    return {Data({grey, colour}), column(cls, {n, 1}), binary(0.003), "accuracy", 0.95, 8, 8};
  }
  if (model == "rnn" || model == "shared_feature")
    return {sequences(rng, cls, 100, 0.5), column(cls, {n, 1}), binary(0.01), "accuracy", 0.9, 15, 16};
  if (model == "multi_output") {
    // Output 1 classifies the drift; output 2 regresses each step of the input.
    Tensor x = sequences(rng, cls, 100, 0.5);
    Tensor y2 = x.clone();
    CompileOptions c{.optimizer = Adam(0.01), .loss = {Loss("binary_crossentropy"), Loss("mse")}, .metrics = {}};
    Task t{x, Data({column(cls, {n, 1}), y2}), c, "loss", 0.0, 15, 16};
    return t;
  }
  throw Error("synthetic_task: unknown model '" + model +
              "'; one of mlp, cnn, rnn, shared_input, shared_feature, multi_input, multi_output");
}

}  // namespace kiln::zoo
