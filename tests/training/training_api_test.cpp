// compile/fit/evaluate/predict behaviour: optimizers against hand-computed
// updates, losses against formulas, callbacks, Keras-quality errors,
// determinism, batching and progress output.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/kiln.h"
#include "training/progress.h"

using namespace kiln;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// y = w x + b with one weight each: updates are easy to compute by hand.
Model linear_model() {
  clear_session();
  auto x = Input({1});
  auto y = Dense(1, {.name = "out"})(x);
  Model m(x, y);
  m.set_weights({Tensor({1, 1}, {0.5f}), Tensor({1}, {0.0f})});
  return m;
}

// MSE on one sample x=1, y=0: loss = (w + b)^2, dL/dw = dL/db = 2 (w + b).
TEST(Optimizers, SgdMomentumNesterovAdamRmspropAdagradMatchKerasFormulas) {
  Tensor x({1, 1}, {1.0f}), y({1, 1}, {0.0f});
  struct Case {
    Optimizer opt;
    std::vector<double> w_after;  // w after each of two steps (b mirrors it)
  };
  // Hand computation of Keras 2.13's update rules from w0 = 0.5, b0 = 0 (g = 2 (w + b)).
  auto sgd = [](double lr, double mom, bool nest) {
    double w = 0.5, b = 0, mw = 0, mb = 0;
    std::vector<double> out;
    for (int s = 0; s < 2; ++s) {
      double g = 2 * (w + b);
      mw = mom * mw - lr * g;
      mb = mom * mb - lr * g;
      w += nest ? mom * mw - lr * g : mw;
      b += nest ? mom * mb - lr * g : mb;
      out.push_back(w);
    }
    return out;
  };
  auto adam = [](double lr) {
    double w = 0.5, b = 0, m[2] = {0, 0}, v[2] = {0, 0};
    std::vector<double> out;
    for (int s = 1; s <= 2; ++s) {
      double g = 2 * (w + b);
      double alpha = lr * std::sqrt(1 - std::pow(0.999, s)) / (1 - std::pow(0.9, s));
      double* p[2] = {&w, &b};
      for (int k = 0; k < 2; ++k) {
        m[k] += (g - m[k]) * 0.1;
        v[k] += (g * g - v[k]) * 0.001;
        *p[k] -= m[k] * alpha / (std::sqrt(v[k]) + 1e-7);
      }
      out.push_back(w);
    }
    return out;
  };
  auto rmsprop = [](double lr) {
    double w = 0.5, b = 0, vel[2] = {0, 0};
    std::vector<double> out;
    for (int s = 0; s < 2; ++s) {
      double g = 2 * (w + b);
      double* p[2] = {&w, &b};
      for (int k = 0; k < 2; ++k) {
        vel[k] = 0.9 * vel[k] + 0.1 * g * g;
        *p[k] -= lr * g / std::sqrt(vel[k] + 1e-7);
      }
      out.push_back(w);
    }
    return out;
  };
  auto adagrad = [](double lr) {
    double w = 0.5, b = 0, acc[2] = {0.1, 0.1};
    std::vector<double> out;
    for (int s = 0; s < 2; ++s) {
      double g = 2 * (w + b);
      double* p[2] = {&w, &b};
      for (int k = 0; k < 2; ++k) {
        acc[k] += g * g;
        *p[k] -= lr * g / std::sqrt(acc[k] + 1e-7);
      }
      out.push_back(w);
    }
    return out;
  };
  std::vector<Case> cases = {
      {SGD(0.1), sgd(0.1, 0, false)},
      {SGD({.learning_rate = 0.1, .momentum = 0.9}), sgd(0.1, 0.9, false)},
      {SGD({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true}), sgd(0.1, 0.9, true)},
      {Adam(0.1), adam(0.1)},
      {RMSprop(0.01), rmsprop(0.01)},
      {Adagrad(0.1), adagrad(0.1)},
  };
  for (const Case& c : cases) {
    Model m = linear_model();
    m.compile({.optimizer = c.opt, .loss = "mse"});
    for (size_t s = 0; s < c.w_after.size(); ++s) {
      m.train_on_batch(x, y);
      // Adam's 1 - beta^t is computed in float32, as in Keras: a few ulps of 1e-3 differ from double.
      double tol = c.opt.name() == "Adam" ? 1e-5 : 1e-6;
      EXPECT_NEAR(m.get_weights()[0].data()[0], c.w_after[s], tol) << c.opt.name() << " step " << s;
    }
  }
}

TEST(Optimizers, ByNameWithKerasDefaults) {
  EXPECT_EQ(Optimizer("adam").learning_rate(), 0.001);
  EXPECT_EQ(Optimizer("sgd").learning_rate(), 0.01);
  EXPECT_EQ(Optimizer("rmsprop").learning_rate(), 0.001);
  EXPECT_NE(error_of([] { Optimizer("adamw"); }).find("Unknown optimizer: 'adamw'"), std::string::npos);
}

// Per-sample loss values on a fixed batch against their formulas.
TEST(Losses, MatchKerasFormulas) {
  clear_session();
  auto x = Input({3});
  Model m(x, Activation("linear")(x));
  Tensor p({2, 3}, {0.2f, 0.7f, 0.1f, 0.5f, 0.25f, 0.25f});
  Tensor t({2, 3}, {0, 1, 0, 1, 0, 0});
  auto eval = [&](CompileOptions o, Tensor target) {
    m.compile(o);
    return m.test_on_batch(p, target)["loss"];
  };
  double cce = -(std::log(0.7) + std::log(0.5)) / 2;
  EXPECT_NEAR(eval({.loss = "categorical_crossentropy"}, t), cce, 1e-6);
  EXPECT_NEAR(eval({.loss = "sparse_categorical_crossentropy"}, Tensor({2}, {1, 0})), cce, 1e-6);
  EXPECT_NEAR(eval({.loss = "sparse_categorical_crossentropy"}, Tensor::from_i32({2, 1}, {1, 0})), cce, 1e-6);
  double mse = 0, mae = 0, bce = 0, huber = 0;
  for (int i = 0; i < 6; ++i) {
    double d = p.data()[i] - t.data()[i], pp = p.data()[i], y = t.data()[i];
    mse += d * d / 6;
    mae += std::abs(d) / 6;
    bce += -(y * std::log(pp) + (1 - y) * std::log(1 - pp)) / 6;
    huber += (std::abs(d) <= 1 ? 0.5 * d * d : std::abs(d) - 0.5) / 6;
  }
  EXPECT_NEAR(eval({.loss = "mse"}, t), mse, 1e-6);
  EXPECT_NEAR(eval({.loss = "mean_absolute_error"}, t), mae, 1e-6);
  EXPECT_NEAR(eval({.loss = "binary_crossentropy"}, t), bce, 1e-6);
  EXPECT_NEAR(eval({.loss = "huber"}, t), huber, 1e-6);
  // from_logits agrees with the probability form on softmax / sigmoid of the logits.
  Tensor z({2, 3}, {1.0f, 2.0f, -1.0f, 0.5f, 0.0f, 0.3f});
  m.compile({.loss = CategoricalCrossentropy({.from_logits = true})});
  double l1 = m.test_on_batch(z, t)["loss"];
  double want = 0;
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int k = 0; k < 3; ++k) s += std::exp(z.data()[r * 3 + k]);
    for (int k = 0; k < 3; ++k) want -= t.data()[r * 3 + k] * std::log(std::exp(z.data()[r * 3 + k]) / s) / 2;
  }
  EXPECT_NEAR(l1, want, 1e-5);
  m.compile({.loss = BinaryCrossentropy({.from_logits = true})});
  double l2 = m.test_on_batch(z, t)["loss"];
  double want2 = 0;
  for (int i = 0; i < 6; ++i) {
    double s = 1 / (1 + std::exp(-z.data()[i]));
    want2 += -(t.data()[i] * std::log(s) + (1 - t.data()[i]) * std::log(1 - s)) / 6;
  }
  EXPECT_NEAR(l2, want2, 1e-5);
}

TEST(Metrics, AccuracyResolvesLikeKeras) {
  clear_session();
  auto x = Input({3});
  Model m(x, Activation("linear")(x));
  Tensor p({2, 3}, {0.2f, 0.7f, 0.1f, 0.5f, 0.25f, 0.25f});
  m.compile({.loss = "categorical_crossentropy", .metrics = {"accuracy", "mae"}});
  Logs l = m.test_on_batch(p, Tensor({2, 3}, {0, 1, 0, 0, 0, 1}));  // categorical: 1 of 2 right
  EXPECT_NEAR(l["accuracy"], 0.5, 1e-7);
  EXPECT_TRUE(l.has("mae"));
  m.compile({.loss = "sparse_categorical_crossentropy", .metrics = {"acc"}});
  EXPECT_NEAR(m.test_on_batch(p, Tensor({2}, {1, 0}))["acc"], 1.0, 1e-7);  // sparse
  clear_session();
  auto x1 = Input({1});
  Model b(x1, Activation("linear")(x1));
  b.compile({.loss = "binary_crossentropy", .metrics = {"accuracy"}});
  Tensor pb({4, 1}, {0.9f, 0.2f, 0.6f, 0.4f});
  EXPECT_NEAR(b.test_on_batch(pb, Tensor({4, 1}, {1, 0, 0, 0}))["accuracy"], 0.75, 1e-7);  // binary, threshold 0.5
  EXPECT_NE(error_of([] { Metric("f1"); }).find("Unknown metric function: 'f1'"), std::string::npos);
}

TEST(Errors, KerasQualityMessages) {
  Model m = linear_model();
  Tensor x({4, 1}, {1, 2, 3, 4}), y({4, 1}, {1, 2, 3, 4});
  EXPECT_NE(error_of([&] { m.fit(x, y, {.verbose = 0}); }).find("You must compile your model before training"),
            std::string::npos);
  m.compile({.optimizer = "sgd", .loss = "mse"});
  std::string e = error_of([&] { m.fit(x, Tensor({3, 1}, {1, 2, 3}), {.verbose = 0}); });
  EXPECT_NE(e.find("Data cardinality is ambiguous"), std::string::npos) << e;
  EXPECT_NE(e.find("x sizes: 4"), std::string::npos) << e;
  EXPECT_NE(e.find("y sizes: 3"), std::string::npos) << e;
  e = error_of([&] { m.fit(Tensor({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), y, {.verbose = 0}); });
  EXPECT_NE(e.find("expected shape=(None, 1), found shape=(4, 2)"), std::string::npos) << e;
  e = error_of([&] { m.fit({x, x}, y, {.verbose = 0}); });
  EXPECT_NE(e.find("expects 1 input(s), but it received 2"), std::string::npos) << e;
  e = error_of([&] { m.compile({.loss = "hinge"}); });
  EXPECT_NE(e.find("Unknown loss function: 'hinge'"), std::string::npos) << e;
  e = error_of([&] { m.fit(x, Tensor({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), {.verbose = 0}); });
  EXPECT_NE(e.find("target shape (None, 2) is incompatible with output shape (None, 1)"), std::string::npos) << e;
  e = error_of([&] { m.fit(x, y, {.batch_size = 0, .verbose = 0}); });
  EXPECT_NE(e.find("batch_size must be a positive integer"), std::string::npos) << e;

  clear_session();
  auto in = Input({2});
  Model c(in, Dense(3, {.activation = "softmax"})(in));
  c.compile({.loss = "sparse_categorical_crossentropy"});
  e = error_of([&] { c.fit(Tensor({2, 2}, {1, 2, 3, 4}), Tensor({2}, {1, 3}), {.verbose = 0}); });
  EXPECT_NE(e.find("Received a label value of 3 which is outside the valid range of [0, 3)"), std::string::npos) << e;
}

TEST(Callbacks, EarlyStoppingRestoresBestWeights) {
  Model m = linear_model();
  m.compile({.optimizer = SGD(1.5), .loss = "mse"});  // lr too large: the loss grows every epoch
  Tensor x({2, 1}, {1, 1}), y({2, 1}, {0, 0});
  std::vector<Tensor> w0 = m.get_weights();
  int epochs_seen = 0;
  auto counter = LambdaCallback({.on_epoch_end = [&](int, Logs&) { ++epochs_seen; }});
  History h = m.fit(x, y,
                    {.epochs = 20,
                     .shuffle = false,
                     .verbose = 0,
                     .callbacks = {EarlyStopping({.monitor = "loss", .patience = 2, .restore_best_weights = true}),
                                   counter}});
  EXPECT_EQ(h.epoch.size(), 3u);  // best at epoch 0, two more without improvement
  EXPECT_EQ(epochs_seen, 3);
  // The best epoch's weights are those after epoch 0's update.
  Model ref = linear_model();
  ref.compile({.optimizer = SGD(1.5), .loss = "mse"});
  ref.fit(x, y, {.epochs = 1, .shuffle = false, .verbose = 0});
  EXPECT_FLOAT_EQ(m.get_weights()[0].data()[0], ref.get_weights()[0].data()[0]);
  EXPECT_NE(m.get_weights()[0].data()[0], w0[0].data()[0]);
}

TEST(Callbacks, ReduceLROnPlateauAndTerminateOnNaN) {
  Model m = linear_model();
  m.compile({.optimizer = SGD(1.5), .loss = "mse"});
  Tensor x({2, 1}, {1, 1}), y({2, 1}, {0, 0});
  History h = m.fit(x, y,
                    {.epochs = 4, .shuffle = false, .verbose = 0,
                     .callbacks = {ReduceLROnPlateau({.monitor = "loss", .factor = 0.5, .patience = 1})}});
  ASSERT_EQ(h["lr"].size(), 4u);
  EXPECT_DOUBLE_EQ(h["lr"][0], 1.5);
  EXPECT_LT(m.learning_rate(), 1.5);

  Model n = linear_model();
  n.compile({.optimizer = SGD(1e18), .loss = "mse"});  // diverges to inf/NaN at once
  History hn = n.fit(Tensor({8, 1}, {1, 1, 1, 1, 1, 1, 1, 1}), Tensor::zeros({8, 1}),
                     {.epochs = 50, .batch_size = 1, .shuffle = false, .verbose = 0, .callbacks = {TerminateOnNaN()}});
  EXPECT_EQ(hn.epoch.size(), 1u);
  EXPECT_FALSE(std::isfinite(hn["loss"][0]));
}

TEST(Fit, ValidationSplitTakesTheLastSamplesAndReportsValLogs) {
  Model m = linear_model();
  m.compile({.optimizer = SGD(0.01), .loss = "mse", .metrics = {"mae"}});
  Tensor x({10, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), y({10, 1}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  History h = m.fit(x, y, {.epochs = 2, .validation_split = 0.2, .verbose = 0});
  for (const char* k : {"loss", "mae", "val_loss", "val_mae"}) EXPECT_EQ(h[k].size(), 2u) << k;
  // val_loss after the last epoch equals evaluating the last 20 % of the data.
  Logs ev = m.evaluate(x.slice_rows(8, 10), y.slice_rows(8, 10), {.verbose = 0});
  EXPECT_NEAR(h["val_loss"][1], ev["loss"], 1e-6);
}

TEST(Fit, DeterministicForTheSameSeed) {
  auto run = [] {
    set_seed(11);
    clear_session();
    auto x = Input({4});
    auto h = Dense(8, {.activation = "relu"})(x);
    Model m(x, Dense(1, {.activation = "sigmoid"})(h));
    m.compile({.optimizer = "adam", .loss = "binary_crossentropy", .metrics = {"accuracy"}});
    std::vector<float> xs(40 * 4), ys(40);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = std::sin(0.37f * static_cast<float>(i));
    for (size_t i = 0; i < ys.size(); ++i) ys[i] = xs[i * 4] > 0 ? 1.0f : 0.0f;
    History hist = m.fit(Tensor({40, 4}, xs), Tensor({40, 1}, ys), {.epochs = 3, .batch_size = 8, .verbose = 0});
    Tensor p = m.predict(Tensor({40, 4}, xs));
    return std::make_pair(hist["loss"], p.to_vector());
  };
  auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);    // bitwise
  EXPECT_EQ(a.second, b.second);  // bitwise
}

TEST(Predict, BatchesAnyNumberOfSamplesAndSeveralOutputs) {
  clear_session();
  auto x = Input({3});
  auto a = Dense(2, {.name = "a"})(x);
  auto b = Dense(1, {.name = "b"})(x);
  Model m(x, {a, b});
  std::vector<float> xs(7 * 3);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i) * 0.1f;
  Tensor in({7, 3}, xs);
  Prediction whole = m.predict(in, {.batch_size = 100});
  Prediction parts = m.predict(in, {.batch_size = 3});  // 3 + 3 + 1
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].shape(), (std::vector<int64_t>{7, 2}));
  EXPECT_EQ(parts[1].shape(), (std::vector<int64_t>{7, 1}));
  EXPECT_EQ(parts[0].to_vector(), whole[0].to_vector());
  EXPECT_EQ(parts[1].to_vector(), whole[1].to_vector());
  EXPECT_NE(error_of([&] { Tensor t = m.predict(in); (void)t; }).find("the model has 2 outputs"), std::string::npos);
  // Inputs by name.
  Prediction named = m.predict(std::map<std::string, Tensor>{{x.layer().name(), in}});
  EXPECT_EQ(named[0].to_vector(), whole[0].to_vector());
}

// predict sees set_weights at once (it shares the layers' weights, not a copy
// taken at the first call), and two single-batch calls return distinct tensors.
TEST(Predict, FollowsSetWeightsAndReturnsFreshTensors) {
  Model m = linear_model();
  Tensor x({2, 1}, {1.0f, 2.0f});
  Tensor p1 = m.predict(x);
  EXPECT_EQ(p1.to_vector(), (std::vector<float>{0.5f, 1.0f}));
  m.set_weights({Tensor({1, 1}, {2.0f}), Tensor({1}, {1.0f})});
  Tensor p2 = m.predict(x);
  EXPECT_EQ(p2.to_vector(), (std::vector<float>{3.0f, 5.0f}));
  EXPECT_EQ(p1.to_vector(), (std::vector<float>{0.5f, 1.0f}));  // untouched by the second call
}

// The trainer updates weights and optimizer state in place where the JIT's
// program can (else it double-buffers them: the buffers a step read become the
// next step's outputs), but never writes a buffer that someone else still
// holds.
TEST(Trainer, StepsDoNotOverwriteTensorsOthersHold) {
  Model m = linear_model();
  m.compile({.optimizer = SGD(0.1), .loss = "mse"});
  Tensor x({1, 1}, {1.0f}), y({1, 1}, {0.0f});
  Trainer& tr = *m.trainer();
  std::vector<Tensor> w = m.get_weights();
  std::vector<Tensor> held = w;  // shares the buffers of the first step's inputs
  std::vector<double> want = {held[0].data()[0], held[1].data()[0]};
  double wv = 0.5, bv = 0.0;
  for (int step = 0; step < 4; ++step) {
    tr.train_batch({x}, {y}, w);
    double g = 2 * (wv + bv);  // MSE on x=1, y=0: dL/dw = dL/db = 2 (w + b)
    wv -= 0.1 * g;
    bv -= 0.1 * g;
    EXPECT_NEAR(w[0].data()[0], wv, 1e-6) << "step " << step;
    EXPECT_NEAR(w[1].data()[0], bv, 1e-6) << "step " << step;
  }
  EXPECT_EQ(held[0].data()[0], want[0]);
  EXPECT_EQ(held[1].data()[0], want[1]);
}

// On the "jit" backend an SGD step overwrites the weights it is given (one
// buffer per weight: the same addresses after every step), with the same
// values as the interpreter backend's double-buffered steps; momentum's
// slots too. A step that throws (an input of the wrong shape, found before
// anything runs) leaves the weights as they were, and the next step goes on.
TEST(Trainer, JitStepsUpdateWeightsInPlace) {
  for (const Optimizer& opt : {SGD(0.1), SGD(0.1, 0.9)}) {
    Model jm = linear_model(), im = linear_model();
    jm.compile({.optimizer = opt, .loss = "mse", .backend = "jit"});
    im.compile({.optimizer = opt, .loss = "mse", .backend = "interpreter"});
    Tensor x({2, 1}, {1.0f, -2.0f}), y({2, 1}, {0.0f, 3.0f});
    std::vector<Tensor> jw = jm.get_weights(), iw = im.get_weights();
    const std::vector<const void*> at = {jw[0].raw(), jw[1].raw()};
    for (int step = 0; step < 3; ++step) {
      jm.trainer()->train_batch({x}, {y}, jw);
      im.trainer()->train_batch({x}, {y}, iw);
      for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(jw[i].raw(), at[i]) << "step " << step << " weight " << i;
        EXPECT_EQ(jw[i].to_vector(), iw[i].to_vector()) << "step " << step << " weight " << i;
      }
      ASSERT_EQ(jm.trainer()->state().size(), im.trainer()->state().size());
      for (size_t i = 0; i < jm.trainer()->state().size(); ++i)
        EXPECT_EQ(jm.trainer()->state()[i].to_vector(), im.trainer()->state()[i].to_vector()) << "slot " << i;
    }
    const std::vector<float> w0 = jw[0].to_vector(), b0 = jw[1].to_vector();
    EXPECT_THROW(jm.trainer()->train_batch({Tensor({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})}, {y}, jw), Error);
    EXPECT_EQ(jw[0].to_vector(), w0);
    EXPECT_EQ(jw[1].to_vector(), b0);
    jm.trainer()->train_batch({x}, {y}, jw);
    im.trainer()->train_batch({x}, {y}, iw);
    EXPECT_EQ(jw[0].raw(), at[0]);
    EXPECT_EQ(jw[0].to_vector(), iw[0].to_vector());
  }
}

TEST(Progbar, FormatsLikeKeras) {
  EXPECT_EQ(Progbar::format_value(0.69314718), "0.6931");
  EXPECT_EQ(Progbar::format_value(0.0001234), "1.2340e-04");
  EXPECT_EQ(Progbar::format_time(0.002, "step"), " 2ms/step");
  EXPECT_EQ(Progbar::format_time(3.0, "epoch"), " 3s/epoch");
  EXPECT_EQ(Progbar::format_time(5e-5, "step"), " 50us/step");
  std::FILE* f = std::tmpfile();
  Progbar bar(32, 1, f);  // not a terminal: one line at the end
  Logs l;
  l.set("loss", 0.5);
  l.set("accuracy", 0.75);
  bar.update(16, l);
  bar.update(32, l, true);
  std::rewind(f);
  char buf[256] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string s(buf, n);
  EXPECT_EQ(s.rfind("32/32 - 0s - loss: 0.5000 - accuracy: 0.7500 - ", 0), 0u) << s;
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1) << s;
}

}  // namespace

namespace {

TEST(Fit, MultiOutputLogsNamedLikeKerasAndTargetsByName) {
  clear_session();
  auto x = Input({2});
  auto h = Dense(4, {.activation = "relu"})(x);
  auto cls = Dense(1, {.activation = "sigmoid", .name = "cls"})(h);
  auto reg = Dense(2, {.name = "reg"})(h);
  Model m(x, {cls, reg});
  m.compile({.optimizer = "sgd",
             .loss = std::map<std::string, Loss>{{"cls", Loss("binary_crossentropy")}, {"reg", Loss("mse")}},
             .loss_weights = {1.0, 0.5},
             .metrics = {"mae"}});
  Tensor xs({4, 2}, {0, 1, 1, 0, 1, 1, 0, 0});
  Tensor yc({4, 1}, {1, 1, 0, 0}), yr({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Logs l = m.test_on_batch(xs, std::map<std::string, Tensor>{{"reg", yr}, {"cls", yc}});
  EXPECT_EQ(l.keys(), (std::vector<std::string>{"loss", "cls_loss", "reg_loss", "cls_mae", "reg_mae"}));
  EXPECT_NEAR(l["loss"], l["cls_loss"] + 0.5 * l["reg_loss"], 1e-6);
  std::string e = error_of([&] { m.test_on_batch(xs, std::map<std::string, Tensor>{{"cls", yc}}); });
  EXPECT_NE(e.find("Missing data for target 'reg'"), std::string::npos) << e;
}

TEST(Fit, ValidationDataAndInitialEpoch) {
  Model m = linear_model();
  m.compile({.optimizer = SGD(0.01), .loss = "mse"});
  Tensor x({4, 1}, {1, 2, 3, 4}), y({4, 1}, {2, 4, 6, 8});
  History h = m.fit(x, y, {.epochs = 5, .validation_data = ValidationData{x, y}, .verbose = 0, .initial_epoch = 3});
  EXPECT_EQ(h.epoch, (std::vector<int>{3, 4}));  // Keras: epochs counts from 0, initial_epoch skips the first ones
  EXPECT_EQ(h["val_loss"].size(), 2u);
  EXPECT_NEAR(h["val_loss"].back(), m.evaluate(x, y, {.verbose = 0})["loss"], 1e-6);
}

}  // namespace
