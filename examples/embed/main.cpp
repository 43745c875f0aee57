// The tutorial's multilayer perceptron, built against an installed Kiln.
#include <kiln/kiln.h>
using namespace kiln;

int main() {
  auto visible = Input({10});
  auto hidden1 = Dense(10, {.activation = "relu"})(visible);
  auto hidden2 = Dense(20, {.activation = "relu"})(hidden1);
  auto hidden3 = Dense(10, {.activation = "relu"})(hidden2);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden3);
  Model model(visible, output);
  model.summary();
}
