// The seven tutorial models of SEED.md, written exactly as the tutorial lists them.
#include "zoo.h"

namespace kiln::zoo {
namespace {

Model mlp() {
  auto visible = Input({10});
  auto hidden1 = Dense(10, {.activation = "relu"})(visible);
  auto hidden2 = Dense(20, {.activation = "relu"})(hidden1);
  auto hidden3 = Dense(10, {.activation = "relu"})(hidden2);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden3);
  return Model(visible, output);
}

Model cnn() {
  auto visible = Input({64, 64, 1});
  auto conv1 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible);
  auto pool1 = MaxPooling2D({.pool_size = {2, 2}})(conv1);
  auto conv2 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool1);
  auto pool2 = MaxPooling2D({.pool_size = {2, 2}})(conv2);
  auto hidden1 = Dense(10, {.activation = "relu"})(pool2);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden1);
  return Model(visible, output);
}

Model rnn() {
  auto visible = Input({100, 1});
  auto hidden1 = LSTM(10)(visible);
  auto hidden2 = Dense(10, {.activation = "relu"})(hidden1);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden2);
  return Model(visible, output);
}

Model shared_input() {
  auto visible = Input({64, 64, 1});
  auto conv1 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible);
  auto pool1 = MaxPooling2D({.pool_size = {2, 2}})(conv1);
  auto flat1 = Flatten()(pool1);
  auto conv2 = Conv2D(16, {.kernel_size = 8, .activation = "relu"})(visible);
  auto pool2 = MaxPooling2D({.pool_size = {2, 2}})(conv2);
  auto flat2 = Flatten()(pool2);
  auto merge = concatenate({flat1, flat2});
  auto hidden1 = Dense(10, {.activation = "relu"})(merge);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden1);
  return Model(visible, output);
}

Model shared_feature() {
  auto visible = Input({100, 1});
  auto extract1 = LSTM(10)(visible);
  auto interp1 = Dense(10, {.activation = "relu"})(extract1);
  auto interp11 = Dense(10, {.activation = "relu"})(extract1);
  auto interp12 = Dense(20, {.activation = "relu"})(interp11);
  auto interp13 = Dense(10, {.activation = "relu"})(interp12);
  auto merge = concatenate({interp1, interp13});
  auto output = Dense(1, {.activation = "sigmoid"})(merge);
  return Model(visible, output);
}

Model multi_input() {
  auto visible1 = Input({64, 64, 1});
  auto conv11 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible1);
  auto pool11 = MaxPooling2D({.pool_size = {2, 2}})(conv11);
  auto conv12 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool11);
  auto pool12 = MaxPooling2D({.pool_size = {2, 2}})(conv12);
  auto flat1 = Flatten()(pool12);
  auto visible2 = Input({32, 32, 3});
  auto conv21 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible2);
  auto pool21 = MaxPooling2D({.pool_size = {2, 2}})(conv21);
  auto conv22 = Conv2D(16, {.kernel_size = 4, .activation = "relu"})(pool21);
  auto pool22 = MaxPooling2D({.pool_size = {2, 2}})(conv22);
  auto flat2 = Flatten()(pool22);
  auto merge = concatenate({flat1, flat2});
  auto hidden1 = Dense(10, {.activation = "relu"})(merge);
  auto hidden2 = Dense(10, {.activation = "relu"})(hidden1);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden2);
  return Model({visible1, visible2}, output);
}

Model multi_output() {
  auto visible = Input({100, 1});
  auto extract = LSTM(10, {.return_sequences = true})(visible);
  auto class11 = LSTM(10)(extract);
  auto class12 = Dense(10, {.activation = "relu"})(class11);
  auto output1 = Dense(1, {.activation = "sigmoid"})(class12);
  auto output2 = TimeDistributed(Dense(1, {.activation = "linear"}))(extract);
  return Model(visible, {output1, output2});
}

struct Entry {
  const char* name;
  Model (*build)();
};
const Entry kModels[] = {{"mlp", mlp},
                         {"cnn", cnn},
                         {"rnn", rnn},
                         {"shared_input", shared_input},
                         {"shared_feature", shared_feature},
                         {"multi_input", multi_input},
                         {"multi_output", multi_output}};

}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const Entry& e : kModels) out.push_back(e.name);
  return out;
}

Model build(const std::string& name) {
  for (const Entry& e : kModels)
    if (name == e.name) {
      clear_session();
      return e.build();
    }
  std::string valid;
  for (const Entry& e : kModels) valid += std::string(valid.empty() ? "" : ", ") + e.name;
  throw Error("Unknown tutorial model \"" + name + "\". Valid names: " + valid + ".");
}

}  // namespace kiln::zoo
