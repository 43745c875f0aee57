// Recurrent Neural Network: the tutorial's third model, line for line.
// Sequence classification: 100 time steps of one feature through an LSTM.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  auto visible = Input({100, 1});
  auto hidden1 = LSTM(10)(visible);
  auto hidden2 = Dense(10, {.activation = "relu"})(hidden1);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden2);
  Model model(visible, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "recurrent_neural_network.png");
}
