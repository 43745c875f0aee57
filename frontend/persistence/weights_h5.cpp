// Keras's HDF5 weights layout (tf.keras 2.x save_weights("w.h5")), through the HDF5 C API:
//
//   /                 attrs layer_names = ["input_1", "dense", ...], backend = "tensorflow",
//                           keras_version = "2.13.1"
//   /dense            attr  weight_names = ["dense/kernel:0", "dense/bias:0"]
//   /dense/dense/kernel:0, /dense/dense/bias:0   float32 datasets in Keras's shapes
//
// Every layer of model.layers gets a group (an empty weight_names for layers
// without weights). Attributes over 64 KiB are split the way Keras splits them
// (layer_names0, layer_names1, ...). Loading pairs the layers that have weights
// in order (Keras's topological loading), reads the whole-model files
// model.save("m.h5") writes (weights under /model_weights), and checks every
// shape against the model before reading any data, so a file's declared sizes
// never drive an allocation. HDF5 itself parses the container; it validates
// the file's end-of-file address, but libhdf5 is not hardened against every
// hostile file, which is why the fuzzed loader is Kiln's own format.
// Loading any .h5 path starts here: a file in Keras 3's .weights.h5 layout
// (no layer_names, a "layers" or "vars" group) goes to weights_keras3.cpp.
#include <optional>

#include "persistence/h5_util.h"
#include "persistence/weights.h"

namespace kiln::persistence {

void save_weights_h5(const Model& model, const std::string& path) {
  std::vector<std::string> names;
  for (const auto& l : model.layers()) names.push_back(l->name());
  write_h5_file(path, [&](hid_t f) {
    Error err("save_weights: " + path + ": HDF5 could not write the file");
    write_strings(f, "layer_names", names, err);
    write_string_scalar(f, "backend", "tensorflow", err);
    write_string_scalar(f, "keras_version", "2.13.1", err);
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    for (const auto& l : model.layers()) {
      Handle g(H5Gcreate2(f, l->name().c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      if (!g.ok()) throw Error("save_weights: " + path + ": cannot create the group for layer \"" + l->name() + "\"");
      std::vector<std::string> wnames;
      for (const Weight& w : l->weights()) wnames.push_back(l->name() + "/" + w.name + ":0");
      write_strings(g.get(), "weight_names", wnames, err);
      for (size_t k = 0; k < wnames.size(); ++k)
        write_f32_dataset(g.get(), wnames[k], l->weights()[k].value, lcpl.get(), path);
    }
  });
}

void load_weights_h5(Model& model, const std::string& path) {
  H5Reader r(path);
  if (is_keras3_layout(r)) return load_weights_keras3(model, r);
  // A whole-model file (Keras's model.save("m.h5")) keeps the weights under /model_weights.
  hid_t root_id = r.file();
  std::optional<Handle> model_weights;
  if (H5Aexists(root_id, "layer_names") <= 0 && H5Lexists(root_id, "model_weights", H5P_DEFAULT) > 0) {
    model_weights.emplace(r.open(root_id, "model_weights", true));
    root_id = model_weights->get();
  }
  std::optional<std::vector<std::string>> layer_names = r.strings(root_id, "layer_names");
  if (!layer_names) r.fail("the root attribute layer_names is missing: not a Keras weights file");

  std::vector<StoredLayer> file;
  for (const std::string& ln : *layer_names) {
    Handle g = ln.empty() ? Handle(-1, H5Oclose) : r.open(root_id, ln, true);
    if (!g.ok()) r.fail("layer_names lists \"" + ln + "\", but the file has no group for it");
    std::optional<std::vector<std::string>> wn = r.strings(g.get(), "weight_names");
    if (!wn) r.fail("the group of layer \"" + ln + "\" has no weight_names attribute");
    StoredLayer sl{ln, {}};
    for (const std::string& w : *wn) {
      Handle d = w.empty() ? Handle(-1, H5Oclose) : r.open(g.get(), w, false);
      if (!d.ok()) r.fail("layer \"" + ln + "\" lists the weight \"" + w + "\", but the file has no dataset for it");
      sl.weights.push_back({w, r.shape(d.get(), ln + "/" + w), 0});
    }
    file.push_back(std::move(sl));
  }
  std::vector<std::pair<size_t, size_t>> match = match_layout(model_layout(model), file, "load_weights: " + path);
  std::vector<Tensor> values;
  for (auto [li, wi] : match) {
    const StoredLayer& sl = file[li];
    const StoredWeight& sw = sl.weights[wi];
    Handle g = r.open(root_id, sl.name, true);
    Handle d = r.open(g.get(), sw.name, false);
    // The model's own shape: match_layout compared them.
    values.push_back(r.read_f32(d.get(), sw.shape, sl.name + "/" + sw.name));
  }
  model.set_weights(values);
}

}  // namespace kiln::persistence
