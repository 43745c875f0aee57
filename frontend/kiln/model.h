// Model (Keras's functional Model), Sequential, and plot_model.
//
//   Model model({visible1, visible2}, output);
//   model.summary();                                   // tf.keras 2.13's table, to std::cout
//   plot_model(model, "multiple_inputs.png", {.show_shapes = true});
//   std::unique_ptr<ir::Graph> g = model.forward_ir(); // the forward pass as IR
//
// A Model collects the layers between its inputs and outputs in Keras's order
// (by decreasing depth from the outputs; ties in discovery order). The forward
// IR graph `<model>.forward` takes the inputs in order, then every weight in
// get_weights() order (named `<layer>.<weight>`), and returns the outputs.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "kiln/layer.h"
#include "kiln/layers.h"
#include "training/trainer.h"

namespace kiln {

namespace detail {
struct Network;
struct TrainingState;
}  // namespace detail

// One tensor or a list of tensors: Model(visible, output), Model({a, b}, {c, d}).
class TensorList {
 public:
  TensorList(const KerasTensor& t) : v_{t} {}                   // NOLINT: implicit on purpose
  TensorList(std::vector<KerasTensor> v) : v_(std::move(v)) {}  // NOLINT
  TensorList(std::initializer_list<KerasTensor> v) : v_(v) {}
  const std::vector<KerasTensor>& get() const { return v_; }

 private:
  std::vector<KerasTensor> v_;
};

struct AotExportOptions {
  std::string name = "model";  // C prefix: model_predict, model_train_step, ...
  std::string header;          // "" = the archive's path with .h
  bool train_step = true;      // export train_step too when the model is compiled
};

class Model {
 public:
  // `name` empty: model, model_1, ...
  Model(const TensorList& inputs, const TensorList& outputs, const std::string& name = "");
  virtual ~Model();
  Model(const Model&) = default;
  Model& operator=(const Model&) = default;

  const std::string& name() const;
  const std::vector<KerasTensor>& inputs() const;
  const std::vector<KerasTensor>& outputs() const;
  // Keras's model.layers (a Sequential model leaves out its input layer).
  std::vector<std::shared_ptr<Layer>> layers() const;
  // Throws kiln::Error listing the layer names when there is no such layer.
  std::shared_ptr<Layer> get_layer(const std::string& name) const;

  // model.summary() as tf.keras 2.13 prints it.
  void summary() const;
  void summary(std::ostream& os) const;
  std::string summary_string() const;

  // Weights of every layer in model.layers order (a shared layer once), copied.
  std::vector<Tensor> get_weights() const;
  // Same order and shapes as get_weights(); the values are copied in.
  void set_weights(const std::vector<Tensor>& weights);
  int64_t count_params() const;

  // The forward pass as an IR graph named "<name>.forward" (see the header comment).
  std::unique_ptr<ir::Graph> forward_ir() const;
  std::string forward_ir_text() const;

  // The layer graph, for summary and plot_model.
  const detail::Network& network() const;

  // --- persistence (frontend/persistence/; free functions in kiln/persistence.h) ---
  //   model.save_weights("w.weights.h5");  // Keras 3's layout (saving_lib: layers/dense/vars/0, ...)
  //   model.save_weights("w.h5");          // tf.keras 2.x's legacy HDF5 layout
  //   model.save_weights("w.kw");          // any other extension: Kiln's format
  // load_weights reads an HDF5 file (by extension or signature) in whichever Keras layout it
  // holds. Layers pair up as Keras pairs them (legacy: in order; Keras 3: by path); a mismatch
  // throws naming the first layer and both shapes, and leaves the model unchanged.
  //   std::string json = model.to_json();  model.save("m.kiln");
  void save_weights(const std::string& path) const;
  void load_weights(const std::string& path);
  std::string to_json() const;
  // Architecture, weights, compile config and optimizer state in one file.
  void save(const std::string& path) const;
  // The trainer compile() made (optimizer and its state), or null before compile().
  Trainer* trainer() const;
  // Native code for this CPU as a static library and C header, for C/C++ programs
  // without LLVM or Kiln at run time (frontend/persistence/aot_export.cpp; the C API
  // is documented in the header): predict, and for a compiled model train_step,
  // with the current weights and optimizer state embedded. `path` is the archive
  // (lib<x>.a) or an existing folder (then lib<name>.a and <name>.h in it).
  void export_aot(const std::string& path, const AotExportOptions& options = {}) const;

  // --- training (frontend/training/model_training.cpp) ---
  //   model.compile({.optimizer = Adam(1e-3), .loss = "binary_crossentropy", .metrics = {"accuracy"}});
  //   History h = model.fit(x, y, {.epochs = 10, .batch_size = 32, .validation_split = 0.2});
  //   Tensor p = model.predict(x);
  void compile(const CompileOptions& options);
  bool compiled() const;
  History fit(const Data& x, const Data& y, const FitOptions& options = {});
  // Loss and metrics over the data, in log order ("loss", "accuracy", ...).
  Logs evaluate(const Data& x, const Data& y, const EvaluateOptions& options = {});
  Prediction predict(const Data& x, const PredictOptions& options = {});
  Logs train_on_batch(const Data& x, const Data& y);
  Logs test_on_batch(const Data& x, const Data& y);
  Prediction predict_on_batch(const Data& x);
  // The compiled step graphs for targets like `y` (for `kiln ir --stage=train`).
  const StepGraphs& step_graphs(const Data& y);

  // Set by callbacks (EarlyStopping, TerminateOnNaN) to end fit() after the current batch.
  bool stop_training() const;
  void set_stop_training(bool stop);
  double learning_rate() const;
  void set_learning_rate(double lr);

 protected:
  Model() = default;
  std::shared_ptr<detail::Network> net_;
  std::shared_ptr<detail::TrainingState> training_;

 private:
  detail::TrainingState& training();
};

// Keras's Sequential: a stack of single-input layers. The first layer declares the input
// (`Dense(2, {.input_dim = 1})`, `.input_shape`), or add(Input(...)) does.
class Sequential : public Model {
 public:
  explicit Sequential(const std::vector<LayerRef>& layers = {}, const std::string& name = "");
  void add(const LayerRef& layer);
  void add(const KerasTensor& input);  // model.add(Input(...))
  // Builds an input-less model for inputs of `input_shape` (without batch).
  void build(const std::vector<int64_t>& input_shape);

 private:
  std::string name_;
  std::vector<LayerRef> pending_;  // layers added before the input shape is known
  KerasTensor input_, output_;
  void rebuild();
};

struct PlotOptions {
  bool show_shapes = false;
  bool show_layer_names = true;
  std::string rankdir = "TB";  // "TB" vertical, "LR" horizontal
  bool show_dtype = false;
};
// The graph Keras's model_to_dot draws, as DOT text.
std::string model_to_dot(const Model& model, const PlotOptions& options = {});
// Renders the model graph to `path` in-process with Graphviz; the format follows the
// extension: .png, .svg, .pdf, or .dot (the DOT text itself).
void plot_model(const Model& model, const std::string& path, const PlotOptions& options = {});

}  // namespace kiln
