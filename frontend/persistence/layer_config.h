// Keras layer configs: the pieces every Layer::get_config() builds with
// (tf.keras 2.13's keys and order), and parsing a config back into a layer.
//
// Each layer class writes its own config from its options (core_layers.cpp,
// conv_layers.cpp, recurrent_layers.cpp), as Keras's get_config() does;
// model.to_json() collects them. layer_from_config() reads every field Kiln
// supports and rejects the others by name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kiln/layer.h"
#include "persistence/json_util.h"

namespace kiln::persistence {

// Keras's base Layer config: name, trainable, batch_input_shape (when the layer
// declares its input), dtype.
ordered_json base_config(const Layer& layer);
// {"class_name": cls, "config": config}: an initializer entry.
ordered_json initializer(const char* cls, ordered_json config = ordered_json::object());
// Sets each key to null (regularizers and constraints, which Kiln does not have).
void add_nulls(ordered_json& c, std::initializer_list<const char*> keys);
ordered_json pair_json(int64_t a, int64_t b);
// Dense's and Conv2D's kernel_initializer (GlorotUniform), bias_initializer (Zeros) and null
// regularizers and constraints, in Keras's order.
void add_kernel_and_bias_fields(ordered_json& c);

// layer.get_config() as JSON (every layer class, InputLayer included).
ordered_json layer_config(const Layer& layer);

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
