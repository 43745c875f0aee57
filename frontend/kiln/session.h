// Process-wide state Keras itself has: the default-name counters and the seed
// of the weight initializers.
//
// Layer and model names are given when the object is constructed, from
// per-prefix counters, exactly as tf.keras 2.13 names them in a fresh process
// (`input_1`, `input_2`, ...; `dense`, `dense_1`, ...; `model`, `model_1`).
// clear_session() resets those counters (like keras.backend.clear_session())
// and rewinds the initializer RNG to the current seed, so a model built right
// after clear_session() gets the same names and the same weights every time.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// Seed of the weight initializers (glorot_uniform, orthogonal). Rewinds the
// generator: weights created afterwards depend only on the seed and the order
// in which layers are built. Without a call, a fixed default seed is used.
void set_seed(uint64_t seed);

// Resets the default-name counters and rewinds the initializer RNG to the seed.
void clear_session();

namespace detail {
// The seed last given to set_seed (or the default seed).
uint64_t session_seed();
// Next default name for `prefix`: one-based `input_1`, `input_2` when
// `zero_based` is false; `dense`, `dense_1` when true.
std::string unique_object_name(const std::string& prefix, bool zero_based);
// Keras's to_snake_case: "MaxPooling2D" -> "max_pooling2d", "LSTM" -> "lstm".
std::string to_snake_case(const std::string& class_name);
}  // namespace detail

}  // namespace kiln
