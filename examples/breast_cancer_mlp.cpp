// A real-data example: the Wisconsin breast-cancer data set (569 tumours, 30
// features, malignant = 0 / benign = 1), read from the CSV that Debian's
// scikit-learn package ships (`apt-get install python3-sklearn`), classified by
// a small MLP written with the functional API.
//
//   breast_cancer_mlp [path/to/breast_cancer.csv]
//
// The file's first line is scikit-learn's own header (sample and feature
// counts, class names), so it is skipped; the last column is the label.
#include <kiln/kiln.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

using namespace kiln;

int main(int argc, char** argv) try {
  std::string path = argc > 1 ? argv[1] : "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";
  Tensor table = runtime::read_csv(path, {.header = runtime::CsvOptions::Header::No, .skip_rows = 1});
  const int64_t n = table.dim(0), features = table.dim(1) - 1;

  // Standardize each feature; split 80/20 after a fixed interleaving so both parts hold both classes.
  std::vector<float> x(n * features), y(n);
  for (int64_t j = 0; j < features; ++j) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) mean += table.data()[i * (features + 1) + j] / n;
    for (int64_t i = 0; i < n; ++i) sq += std::pow(table.data()[i * (features + 1) + j] - mean, 2) / n;
    for (int64_t i = 0; i < n; ++i)
      x[i * features + j] = static_cast<float>((table.data()[i * (features + 1) + j] - mean) / std::sqrt(sq + 1e-12));
  }
  for (int64_t i = 0; i < n; ++i) y[i] = table.data()[i * (features + 1) + features];
  std::vector<int64_t> train, test;
  for (int64_t i = 0; i < n; ++i) (i % 5 == 4 ? test : train).push_back(i);
  Tensor all_x({n, features}, x), all_y({n, 1}, y);

  set_seed(42);
  auto visible = Input({features});
  auto hidden1 = Dense(16, {.activation = "relu"})(visible);
  auto hidden2 = Dense(8, {.activation = "relu"})(hidden1);
  auto output = Dense(1, {.activation = "sigmoid"})(hidden2);
  Model model(visible, output);
  model.summary();

  model.compile({.optimizer = Adam(1e-3), .loss = "binary_crossentropy", .metrics = {"accuracy"}});
  History history = model.fit(all_x.gather_rows(train), all_y.gather_rows(train),
                              {.epochs = 30, .batch_size = 32, .validation_split = 0.2, .verbose = 2});
  Logs result = model.evaluate(all_x.gather_rows(test), all_y.gather_rows(test), {.verbose = 0});
  std::printf("test loss %.4f, test accuracy %.4f (%zu held-out tumours)\n", result["loss"], result["accuracy"],
              test.size());
  return result["accuracy"] > 0.9 ? 0 : 1;
} catch (const kiln::Error& e) {
  std::cerr << "breast_cancer_mlp: " << e.what() << "\n";
  return 1;
}
