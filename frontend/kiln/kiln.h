// Kiln's public API: the Keras functional API in C++.
//
//   #include <kiln/kiln.h>
//   using namespace kiln;
//
//   auto visible = Input({10});
//   auto hidden = Dense(10, {.activation = "relu"})(visible);
//   auto output = Dense(1, {.activation = "sigmoid"})(hidden);
//   Model model(visible, output);
//   model.summary();
//   plot_model(model, "mlp.png", {.show_shapes = true});
#pragma once

#include "ir/error.h"          // kiln::Error
#include "kiln/layer.h"        // KerasTensor, Layer, LayerRef
#include "kiln/layers.h"       // Input, Dense, Conv2D, MaxPooling2D, Flatten, Concatenate, LSTM, ...
#include "kiln/model.h"        // Model, Sequential, plot_model, model_to_dot
#include "kiln/persistence.h"  // model_from_json, load_model (save/load on Model)
#include "kiln/session.h"      // set_seed, clear_session
#include "runtime/io.h"        // runtime::read_npy, write_npy, read_csv
#include "runtime/tensor.h"    // kiln::Tensor
