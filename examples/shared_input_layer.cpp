// Shared Input Layer: the tutorial's fourth model, line for line.
// Two CNN feature extractors (kernel 4 and kernel 8) read the same image.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  // input layer
  auto visible = Input({64, 64, 1});
  // first feature extractor
  auto conv1 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible);
  auto pool1 = MaxPooling2D({.pool_size = {2, 2}})(conv1);
  auto flat1 = Flatten()(pool1);
  // second feature extractor
  auto conv2 = Conv2D(16, {.kernel_size = 8, .activation = "relu"})(visible);
  auto pool2 = MaxPooling2D({.pool_size = {2, 2}})(conv2);
  auto flat2 = Flatten()(pool2);
  // merge feature extractors
  auto merge = concatenate({flat1, flat2});
  // interpretation layer
  auto hidden1 = Dense(10, {.activation = "relu"})(merge);
  // prediction output
  auto output = Dense(1, {.activation = "sigmoid"})(hidden1);
  Model model(visible, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "shared_input_layer.png");
}
