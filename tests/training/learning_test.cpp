// Each tutorial model learns the synthetic task built for it: the loss falls
// by at least half and the task's metric reaches its bar.
#include <gtest/gtest.h>

#include "kiln/kiln.h"
#include "zoo.h"
#include "training/tasks.h"

using namespace kiln;

namespace {

class Learns : public ::testing::TestWithParam<std::string> {};

TEST_P(Learns, SyntheticTask) {
  const std::string name = GetParam();
  set_seed(7);
  Model model = zoo::build(name);
  zoo::Task task = zoo::synthetic_task(name, 64, 3);
  model.compile(task.compile);
  History h = model.fit(task.x, task.y, {.epochs = task.epochs, .batch_size = task.batch_size, .verbose = 0});
  const std::vector<double>& loss = h["loss"];
  ASSERT_EQ(loss.size(), static_cast<size_t>(task.epochs));
  EXPECT_LT(loss.back(), 0.5 * loss.front()) << name << ": loss " << loss.front() << " -> " << loss.back();
  if (task.metric != "loss") {
    EXPECT_GE(h[task.metric].back(), task.metric_bar) << name;
  }
  // What fit reports matches a separate evaluation of the learned model (up to the last epoch's updates).
  Logs ev = model.evaluate(task.x, task.y, {.verbose = 0});
  EXPECT_LT(ev["loss"], 0.5 * loss.front()) << name;
}

INSTANTIATE_TEST_SUITE_P(Tutorial, Learns,
                         ::testing::Values("mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input",
                                           "multi_output"));

}  // namespace
