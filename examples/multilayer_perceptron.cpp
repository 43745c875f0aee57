// Multilayer Perceptron: the tutorial's first functional-API model, line for line.
// Binary classification: 10 inputs, three hidden layers, one sigmoid output.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  auto visible = Input({10});
  auto hidden1 = Dense(10, {.activation = "relu"})(visible);
  auto hidden2 = Dense(20, {.activation = "relu"})(hidden1);
  auto hidden3 = Dense(10, {.activation = "relu"})(hidden2);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden3);
  Model model(visible, output);
  // summarize layers
  model.summary();
  // plot graph
  plot_model(model, "multilayer_perceptron_graph.png");
}
