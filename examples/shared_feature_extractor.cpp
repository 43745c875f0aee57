// Shared Feature Extraction Layer: the tutorial's fifth model, line for line.
// One LSTM read by a shallow and a deep interpreter, merged before the output.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  // define input
  auto visible = Input({100, 1});
  // feature extraction
  auto extract1 = LSTM(10)(visible);
  // first interpretation model
  auto interp1 = Dense(10, {.activation = "relu"})(extract1);
  // second interpretation model
  auto interp11 = Dense(10, {.activation = "relu"})(extract1);
  auto interp12 = Dense(20, {.activation = "relu"})(interp11);
  auto interp13 = Dense(10, {.activation = "relu"})(interp12);
  // merge interpretation
  auto merge = concatenate({interp1, interp13});
  // output
  auto output = Dense(1, {.activation = "sigmoid"})(merge);
  Model model(visible, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "shared_feature_extractor.png");
}
