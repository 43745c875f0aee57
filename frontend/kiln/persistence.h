// Saving and loading models: Keras JSON, weights files, whole-model files.
//
//   std::string json = model.to_json();            // Keras's model config (tf.keras 2.13)
//   Model copy = model_from_json(json);            // same layers, names and graph; fresh weights
//   model.save_weights("w.weights.h5");            // Keras 3's layout (keras.Model.load_weights)
//   model.save_weights("w.h5");                    // tf.keras 2.x's legacy HDF5 layout
//   model.save_weights("w.kw");                    // any other name: Kiln's binary weights format
//   model.load_weights("w.h5");                    // either Keras layout, told apart by content
//   model.save("m.kiln");                          // architecture + weights + compile + optimizer
//   Model m = load_model("m.kiln");                // fit() resumes where it stopped
//
// Every file is written atomically (temporary file, fsync, rename): a crash
// mid-save leaves the previous file intact. Every reader bounds sizes by the
// file before allocating and fails with kiln::Error on malformed input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/model.h"

namespace kiln {

// Bounds for untrusted JSON; exceeding one is a kiln::Error, never a crash or a huge allocation.
struct JsonLimits {
  size_t max_bytes = size_t{64} << 20;  // text size
  int max_depth = 64;                   // nesting of arrays and objects
  int64_t max_layers = 100000;
  int64_t max_params = int64_t{1} << 30;  // weights created, in elements (4 GiB of f32)
};

// A model from Keras's model config JSON (class_name "Functional", "Model" or "Sequential"), as
// model.to_json() or Keras's model.to_json() writes it (Keras 3's format is accepted too). The
// layers get the names in the JSON and freshly initialized weights. Unsupported layers or options
// throw kiln::Error naming the layer.
Model model_from_json(std::string_view json, const JsonLimits& limits = {});

// A model saved by model.save(path): the same architecture and weights, compiled like the
// original (when it was compiled) with its optimizer state, so fit() continues identically.
Model load_model(const std::string& path);

}  // namespace kiln
