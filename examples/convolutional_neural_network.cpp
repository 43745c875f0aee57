// Convolutional Neural Network: the tutorial's second model, line for line.
// A 64x64 grey image, two conv/pool blocks, then Dense layers on the last axis
// (no Flatten, as in the tutorial: the output is (None, 13, 13, 1)).
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  auto visible = Input({64, 64, 1});
  auto conv1 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible);
  auto pool1 = MaxPooling2D({.pool_size = {2, 2}})(conv1);
  auto conv2 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool1);
  auto pool2 = MaxPooling2D({.pool_size = {2, 2}})(conv2);
  auto hidden1 = Dense(10, {.activation = "relu"})(pool2);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden1);
  Model model(visible, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "convolutional_neural_network.png");
}
