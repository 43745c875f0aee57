// Multiple Input Model: the tutorial's sixth model, line for line.
// A 64x64 grey image and a 32x32 colour image, each through its own CNN,
// merged and interpreted.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  // first input model
  auto visible1 = Input({64, 64, 1});
  auto conv11 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible1);
  auto pool11 = MaxPooling2D({.pool_size = {2, 2}})(conv11);
  auto conv12 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool11);
  auto pool12 = MaxPooling2D({.pool_size = {2, 2}})(conv12);
  auto flat1 = Flatten()(pool12);
  // second input model
  auto visible2 = Input({32, 32, 3});
  auto conv21 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible2);
  auto pool21 = MaxPooling2D({.pool_size = {2, 2}})(conv21);
  auto conv22 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool21);
  auto pool22 = MaxPooling2D({.pool_size = {2, 2}})(conv22);
  auto flat2 = Flatten()(pool22);
  // merge input models
  auto merge = concatenate({flat1, flat2});
  // interpretation model
  auto hidden1 = Dense(10, {.activation = "relu"})(merge);
  auto hidden2 = Dense(10, {.activation = "relu"})(hidden1);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden2);
  Model model({visible1, visible2}, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "multiple_inputs.png");
}
