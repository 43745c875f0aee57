// Writes the seed corpora of fuzz/ (skipped unless KILN_FUZZ_SEED_DIR is set):
//   KILN_FUZZ_SEED_DIR=fuzz/corpus build/tests/persistence/kiln_persistence_tests --gtest_filter='FuzzSeeds.*'
// The weights seeds fit the model the weights harness loads into (fuzz/weights.cpp).
#include <cstdlib>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;

namespace {

TEST(FuzzSeeds, Write) {
  const char* dir = std::getenv("KILN_FUZZ_SEED_DIR");
  if (!dir) GTEST_SKIP() << "set KILN_FUZZ_SEED_DIR to write the fuzz seed corpora";
  std::string out = dir;
  for (const char* n : {"mlp", "multi_output", "shared_input"})
    write_bytes(out + "/model_from_json/" + n + ".json", zoo::build(n).to_json());
  clear_session();
  Sequential s({Dense(4, {.activation = "relu", .input_dim = 3}), Activation("softmax")});
  write_bytes(out + "/model_from_json/sequential.json", s.to_json());

  auto x = Input({3}, {.name = "x"});
  auto h = Dense(4, {.activation = "relu", .name = "hidden"})(x);
  Model m(x, Dense(1, {.name = "out"})(h), "fuzz");
  m.save_weights(out + "/weights/fuzz_model.kw");
  m.compile({.optimizer = Adam(), .loss = "mse", .backend = "interpreter"});
  m.fit(Tensor::zeros({4, 3}), Tensor::zeros({4, 1}), {.epochs = 1, .verbose = 0});
  m.save(out + "/model_file/trained.kiln");
  clear_session();
  auto y = Input({2});
  Model u(y, Dense(1)(y));
  u.save(out + "/model_file/untrained.kiln");
  u.save_weights(out + "/weights/other_model.kw");
}

}  // namespace
