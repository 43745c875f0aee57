// model.save / load_model: architecture + weights + compile config +
// optimizer state in one file; fit resumes bit for bit; corrupted files fail.
#include <random>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;

namespace {

struct Data2 {
  Tensor x, y;
};

// A small binary classification task: y = (x0 + x1 > 0).
Data2 task(int64_t n) {
  Tensor x = random_tensor({n, 4}, 42);
  Tensor y = Tensor::zeros({n, 1});
  for (int64_t i = 0; i < n; ++i) y.data()[i] = x.data()[i * 4] + x.data()[i * 4 + 1] > 0 ? 1.0f : 0.0f;
  return {x, y};
}

Model classifier() {
  clear_session();
  auto x = Input({4});
  auto h = Dense(8, {.activation = "relu"})(x);
  return Model(x, Dense(1, {.activation = "sigmoid"})(h), "clf");
}

TEST(ModelFile, UncompiledRoundTrip) {
  TempDir dir;
  for (const std::string& name : zoo::names()) {
    Model m = zoo::build(name);
    randomize(m, 23);
    m.save(dir.path(name + ".kiln"));
    Model back = load_model(dir.path(name + ".kiln"));
    EXPECT_EQ(back.summary_string(), m.summary_string()) << name;
    EXPECT_EQ(back.forward_ir_text(), m.forward_ir_text()) << name;
    EXPECT_TRUE(same_weights(back.get_weights(), m.get_weights())) << name;
    EXPECT_FALSE(back.compiled());
  }
}

// fit 2 epochs, save, load, fit 2 more == fit 4 epochs: weights, optimizer state and losses bitwise.
// With shuffling, each epoch's order derives from the seed and the optimizer's step counter, which
// the file holds.
void expect_resume_identical(const Optimizer& opt, std::vector<Metric> metrics, bool shuffle = false) {
  TempDir dir;
  Data2 d = task(96);
  FitOptions fo{.epochs = 4, .batch_size = 16, .shuffle = shuffle, .verbose = 0};

  Model straight = classifier();
  straight.compile({.optimizer = opt, .loss = "binary_crossentropy", .metrics = metrics});
  History full = straight.fit(d.x, d.y, fo);

  Model first = classifier();
  first.compile({.optimizer = opt, .loss = "binary_crossentropy", .metrics = metrics});
  first.fit(d.x, d.y, {.epochs = 2, .batch_size = 16, .shuffle = shuffle, .verbose = 0});
  first.save(dir.path("ckpt.kiln"));

  Model resumed = load_model(dir.path("ckpt.kiln"));
  ASSERT_TRUE(resumed.compiled());
  EXPECT_EQ(resumed.learning_rate(), first.learning_rate());
  EXPECT_TRUE(same_weights(resumed.trainer()->state(), first.trainer()->state()));
  History rest =
      resumed.fit(d.x, d.y, {.epochs = 4, .batch_size = 16, .shuffle = shuffle, .verbose = 0, .initial_epoch = 2});
  EXPECT_TRUE(same_weights(resumed.get_weights(), straight.get_weights())) << opt.name();
  EXPECT_TRUE(same_weights(resumed.trainer()->state(), straight.trainer()->state())) << opt.name();
  ASSERT_EQ(rest.history["loss"].size(), 2u);
  EXPECT_EQ(rest.history["loss"][0], full.history["loss"][2]);
  EXPECT_EQ(rest.history["loss"][1], full.history["loss"][3]);
  EXPECT_EQ(rest.epoch, (std::vector<int>{2, 3}));
}

TEST(ModelFile, FitResumesBitForBitAdam) { expect_resume_identical(Adam(0.01), {"accuracy"}); }
TEST(ModelFile, FitResumesBitForBitSgdNesterov) { expect_resume_identical(SGD(0.05, 0.9, true), {}); }
TEST(ModelFile, FitResumesBitForBitRmspropCentered) {
  expect_resume_identical(RMSprop({.learning_rate = 0.01, .momentum = 0.5, .centered = true}), {"mse"});
}
TEST(ModelFile, FitResumesBitForBitAdagrad) { expect_resume_identical(Adagrad(0.1), {}); }
TEST(ModelFile, FitResumesBitForBitWithShuffling) { expect_resume_identical(Adam(0.01), {"accuracy"}, true); }

TEST(ModelFile, CompiledButUntrainedAndLearningRate) {
  TempDir dir;
  Model m = classifier();
  m.compile({.optimizer = SGD(0.1), .loss = {Loss("huber", {.delta = 0.5})}, .metrics = {"mae"}});
  m.set_learning_rate(0.025);
  m.save(dir.path("m.kiln"));
  Model back = load_model(dir.path("m.kiln"));
  ASSERT_TRUE(back.compiled());
  EXPECT_EQ(back.learning_rate(), 0.025);
  EXPECT_TRUE(back.trainer()->state().empty());
  EXPECT_EQ(back.trainer()->options().loss.list.at(0).name(), "huber");
  EXPECT_EQ(back.trainer()->options().loss.list.at(0).options().delta, 0.5);
  EXPECT_EQ(back.trainer()->options().metrics.at(0).name(), "mae");
  EXPECT_EQ(back.trainer()->options().optimizer.name(), "SGD");
}

TEST(ModelFile, CorruptedAndTruncatedFilesFail) {
  TempDir dir;
  Model m = classifier();
  m.compile({.optimizer = Adam(), .loss = "binary_crossentropy"});
  Data2 d = task(32);
  m.fit(d.x, d.y, {.epochs = 1, .verbose = 0});
  m.save(dir.path("m.kiln"));
  std::string bytes = read_bytes(dir.path("m.kiln"));
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 8) {
    write_bytes(dir.path("t.kiln"), bytes.substr(0, n));
    EXPECT_FALSE(error_of([&] { load_model(dir.path("t.kiln")); }).empty()) << n;
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i) {
    std::string b = bytes;
    size_t pos = rng() % b.size();
    b[pos] = static_cast<char>(b[pos] ^ 0x10);
    write_bytes(dir.path("c.kiln"), b);
    EXPECT_FALSE(error_of([&] { load_model(dir.path("c.kiln")); }).empty()) << pos;
  }
  EXPECT_NE(error_of([&] { m.save(dir.path("m.h5")); }).find("own container"), std::string::npos);
  EXPECT_NE(error_of([&] { load_model(dir.path("nope.kiln")); }).find("cannot open"), std::string::npos);
}

}  // namespace
