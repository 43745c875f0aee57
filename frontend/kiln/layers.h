// The Keras layers of the tutorial, as factories returning a shared LayerRef.
//
//   auto visible = Input({64, 64, 1});
//   auto conv1 = Conv2D(32, {.kernel_size = 4, .activation = "relu"})(visible);
//   auto pool1 = MaxPooling2D({.pool_size = {2, 2}})(conv1);
//   auto merge = concatenate({flat1, flat2});
//   auto out2 = TimeDistributed(Dense(1, {.activation = "linear"}))(extract);
//
// Options structs take designated initializers and default like Keras. A
// layer gets its default name (`dense`, `dense_1`, ...) when it is constructed.
// Activations by name: linear (or ""), relu, sigmoid, tanh, softmax, elu, selu,
// softplus, swish.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/layer.h"

namespace kiln {

// A 2-D window size or stride: `4` means (4, 4); `{3, 5}` means (3, 5).
struct KernelSize {
  int64_t h = 0, w = 0;
  KernelSize() = default;
  KernelSize(int64_t k) : h(k), w(k) {}  // NOLINT: implicit on purpose
  KernelSize(int64_t kh, int64_t kw) : h(kh), w(kw) {}
  bool operator==(const KernelSize&) const = default;
};
using PoolSize = KernelSize;

struct InputOptions {
  std::string name;                   // default input_1, input_2, ...
  std::optional<int64_t> batch_size;  // a static batch instead of None
};
// A model input of `shape` (without the batch dimension, which stays None).
KerasTensor Input(const std::vector<int64_t>& shape, const InputOptions& options = {});

struct DenseOptions {
  std::string activation;  // "" = linear
  bool use_bias = true;
  std::string name;
  std::optional<int64_t> input_dim;                 // Sequential's first layer: input (None, input_dim)
  std::optional<std::vector<int64_t>> input_shape;  // or any input shape (without batch)
};
// Densely connected layer on the last axis: y = activation(x . kernel + bias), kernel (in, units).
LayerRef Dense(int64_t units, const DenseOptions& options = {});

struct Conv2DOptions {
  KernelSize kernel_size;  // required
  KernelSize strides = 1;
  std::string padding = "valid";  // "valid" or "same"
  std::string activation;
  bool use_bias = true;
  std::string name;
  std::optional<std::vector<int64_t>> input_shape;
};
// 2-D convolution, channels last; kernel (kh, kw, in, filters).
LayerRef Conv2D(int64_t filters, const Conv2DOptions& options);

struct MaxPooling2DOptions {
  PoolSize pool_size = {2, 2};
  std::optional<KernelSize> strides;  // default: pool_size
  std::string padding = "valid";
  std::string name;
  std::optional<std::vector<int64_t>> input_shape;
};
LayerRef MaxPooling2D(const MaxPooling2DOptions& options = {});

struct FlattenOptions {
  std::string name;
  std::optional<std::vector<int64_t>> input_shape;
};
// (None, d1, d2, ...) -> (None, d1*d2*...).
LayerRef Flatten(const FlattenOptions& options = {});

struct ActivationOptions {
  std::string name;
  std::optional<std::vector<int64_t>> input_shape;
};
LayerRef Activation(const std::string& activation, const ActivationOptions& options = {});

struct ConcatenateOptions {
  int64_t axis = -1;
  std::string name;
};
// Layer joining a list of tensors along `axis`; all other dims must match.
LayerRef Concatenate(const ConcatenateOptions& options = {});
// Functional shortcut: Concatenate(options)(inputs).
KerasTensor concatenate(const std::vector<KerasTensor>& inputs, const ConcatenateOptions& options = {});

struct LSTMOptions {
  std::string activation = "tanh";
  std::string recurrent_activation = "sigmoid";
  bool use_bias = true;
  bool unit_forget_bias = true;
  bool return_sequences = false;
  std::string name;
  std::optional<std::vector<int64_t>> input_shape;  // (timesteps, features)
};
// Long short-term memory over (None, T, F); returns the last h (None, units) or, with
// return_sequences, every step (None, T, units). Gates i, f, c, o; kernel (F, 4u),
// recurrent_kernel (u, 4u), bias (4u).
LayerRef LSTM(int64_t units, const LSTMOptions& options = {});

struct TimeDistributedOptions {
  std::string name;
};
// Applies `layer` to every time step of (None, T, ...). Supported inner layers: those that act
// on the last axis (Dense, Activation).
LayerRef TimeDistributed(const LayerRef& layer, const TimeDistributedOptions& options = {});

// The activation names Kiln knows, for error messages and tools.
const std::vector<std::string>& known_activations();

}  // namespace kiln
