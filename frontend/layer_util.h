// Helpers shared by the layer implementations: Keras's InputSpec check, IR
// name sanitizing, and a few shape utilities.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/layer.h"

namespace kiln::detail {

// Keras's InputSpec: what a layer accepts, checked at call time.
struct InputSpec {
  std::optional<int64_t> ndim, min_ndim;
  std::vector<std::pair<int64_t, int64_t>> axes;  // axis (may be negative) -> required size
};
// Throws Keras's `Input 0 of layer "dense_1" is incompatible with the layer: ...`.
void check_input_spec(const std::string& layer, size_t index, const Dims& shape, const InputSpec& spec);

// `layer "dense" (Dense)`, for messages.
std::string describe(const Layer& layer);

// An IR value name from a layer name: keeps [A-Za-z0-9_.-], maps the rest to '_'.
std::string ir_name(const std::string& s);

// Full shape (with batch) from a user shape; checks every dim is positive.
Dims with_batch(const std::vector<int64_t>& shape, std::optional<int64_t> batch, const std::string& where);

// "valid"/"same" check; throws naming the layer.
std::string check_padding(const std::string& padding, const std::string& where);

// Output length and [low, high] padding of one spatial axis of a window op, like TF:
// valid: floor((in - k) / s) + 1; same: ceil(in / s), padding split low = total / 2.
struct AxisWindow {
  int64_t out, pad_low, pad_high;
};
std::optional<AxisWindow> window_axis(int64_t in, int64_t k, int64_t s, bool same);

}  // namespace kiln::detail
