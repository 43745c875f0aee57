// Keras layer configs: Kiln layer -> Keras get_config() JSON, and back.
//
// Kiln's layer classes keep their options private and have no get_config(), so
// the config is recovered from what a layer exposes: its class, weights,
// declared input shape and its lowering. Options a weight shape cannot tell
// (activations, padding, return_sequences, ...) are found by lowering
// candidate layers with the same input and keeping the one whose IR is
// identical to the layer's own, so the recovered config is exact by
// construction. Only unit_forget_bias (an initializer detail with no effect
// once weights exist) cannot be observed; it is written as Keras's default.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kiln/layer.h"
#include "persistence/json_util.h"

namespace kiln::persistence {

// Keras's config of `layer` (not an InputLayer), as tf.keras 2.13 writes it. `input_shapes`:
// the shapes of one of its calls.
ordered_json layer_config(const Layer& layer, const std::vector<Dims>& input_shapes);

// A layer made from a Keras layer entry {"class_name", "config"} (not InputLayer), with
// `params(input_shape)`: the number of weight elements its first call on that input creates,
// saturating at INT64_MAX, so callers can refuse absurd sizes before anything is allocated.
struct ParsedLayer {
  LayerRef layer;
  std::function<int64_t(const Dims&)> params;
};
ParsedLayer layer_from_config(const json& entry, const std::string& where, int depth = 0);

// Keras's "batch_input_shape" ([null, 10]) of a shape, and back (each dim in [1, 2^40]).
ordered_json batch_shape_json(const Dims& shape);
Dims batch_shape_from_json(const json& j, const std::string& what);

}  // namespace kiln::persistence
