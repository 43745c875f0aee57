// Multiple Output Model: the tutorial's seventh model, line for line.
// One LSTM feeds a sequence classifier and a per-step regressor.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  // input layer
  auto visible = Input({100, 1});
  // feature extraction
  auto extract = LSTM(10, {.return_sequences = true})(visible);
  // classification output
  auto class11 = LSTM(10)(extract);
  auto class12 = Dense(10, {.activation = "relu"})(class11);
  auto output1 = Dense(1, {.activation = "sigmoid"})(class12);
  // sequence output
  auto output2 = TimeDistributed(Dense(1, {.activation = "linear"}))(extract);
  // output
  Model model(visible, {output1, output2});
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "multiple_outputs.png");
}
