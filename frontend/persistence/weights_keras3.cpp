// Keras 3's .weights.h5 layout: what keras.Model.save_weights("w.weights.h5") writes and
// load_weights reads (saving_lib.save_weights_only / load_weights_only with an H5IOStore).
//
// Followed, read line by line (not guessed): keras-team/keras v3.15.1 (identical to master
// 3422977a5e of 2026-08-21 for these files):
//   keras/src/saving/saving_lib.py   save_weights_only, load_weights_only, _save_state,
//       _load_state, _walk_saveable, _save_container_state, _get_unique_name, H5IOStore
//       (make, get, _create_h5_group, __setitem__), safe_get_h5_group, safe_get_h5_dataset
//   keras/src/layers/layer.py        save_own_variables: trainable then non-trainable, "0", "1", ...
//   keras/src/layers/core/dense.py, convolutional/base_conv.py   kernel, then bias
//   keras/src/layers/rnn/rnn.py, rnn/lstm.py   the variables live in self.cell, an LSTMCell
//       named "lstm_cell": kernel, recurrent_kernel, bias
//   keras/src/layers/core/wrapper.py  TimeDistributed keeps the wrapped layer in self.layer
//   keras/src/models/functional.py   model.layers = the graph's layers, InputLayer included
//   keras/src/models/sequential.py   model.layers leaves out the InputLayer
//   keras/src/utils/naming.py        to_snake_case (equal to tf.keras's, which Kiln's
//       detail::to_snake_case implements, on every class name Kiln has)
// For comparison keras-team/tf-keras dd0a7237 tf_keras/saving/saving_lib.py (tf.keras 2.13+
// with a .weights.h5 path): the same groups and datasets, without the `name` attributes;
// tf.keras 2.13 itself put the layers under _layer_checkpoint_dependencies/ instead of
// layers/ (Keras 3's H5IOStore.get falls back to it; so does this loader).
//
// The walk starts at the model (path ""), then its `layers`: each layer's group is named
// after its class, not its name (Keras: names are not reproducible), made unique in
// model.layers order: dense, dense_1, dense_2, conv2d, max_pooling2d, input_layer, ...
// Every object walked gets a group <path>/vars with the attribute name = its name (a
// variable-length UTF-8 string, as h5py writes a str), holding its own variables as
// float32 datasets "0", "1", ... For the tutorial MLP:
//
//   /vars                          attr name = "model"            (no datasets)
//   /layers/input_layer/vars       attr name = "input_1"          (no datasets)
//   /layers/dense/vars             attr name = "dense"            0 = kernel (10, 10), 1 = bias (10,)
//   /layers/dense_1/vars ... /layers/dense_3/vars
//
// and an LSTM: /layers/lstm/vars (name "lstm", empty), /layers/lstm/cell/vars (name
// "lstm_cell": 0 = kernel, 1 = recurrent_kernel, 2 = bias); TimeDistributed(Dense):
// /layers/time_distributed/vars (empty), /layers/time_distributed/layer/vars (the Dense's).
// The file has no root attributes. A compiled Keras model also writes optimizer/vars (its
// slots); Kiln's save_weights writes weights only (model.save keeps the optimizer), like
// Keras for an uncompiled model, and loading ignores an optimizer group, like Keras loading
// into an uncompiled model.
//
// Loading, like Keras: each object's vars group (missing = empty) must hold exactly as many
// entries as the object has variables, "0".."n-1", each of the variable's shape. Stricter
// than Keras, which ignores what it does not look up: weights under layers/ that no layer of
// the model takes are an error (a different architecture), not silently dropped. Every
// shape is checked before any data is read or the model changed; the first mismatch names
// the layer and both lists of shapes.
#include <map>
#include <set>

#include "kiln/session.h"
#include "persistence/h5_util.h"
#include "persistence/weights.h"

namespace kiln::persistence {
namespace {

constexpr const char* kTf213Layers = "_layer_checkpoint_dependencies";

// One object Keras's _save_state gives a vars group.
struct SavedObject {
  std::string path;                             // "" (the model), "layers/dense_1", "layers/lstm/cell"
  std::string name;                             // its name attribute: model, layer or cell name
  std::string layer;                            // the model's layer it belongs to ("" for the model)
  const std::vector<Weight>* weights = nullptr;  // its own variables; null: none
};

// Appends `layer` at `path`, and the child Keras walks into where the variables live.
void add_layer(const Layer& layer, const std::string& owner, const std::string& path, std::vector<SavedObject>& out) {
  if (layer.class_name() == "LSTM") {  // keras.layers.LSTM: the variables are self.cell's
    out.push_back({path, layer.name(), owner, nullptr});
    out.push_back({path + "/cell", "lstm_cell", owner, &layer.weights()});
  } else if (const Layer* inner = layer.wrapped()) {  // keras.layers.Wrapper: self.layer
    out.push_back({path, layer.name(), owner, nullptr});
    add_layer(*inner, owner, path + "/layer", out);
  } else {
    out.push_back({path, layer.name(), owner, &layer.weights()});
  }
}

// The objects of `model` in Keras's walk order, with their paths (_save_state from "").
std::vector<SavedObject> saved_objects(const Model& model) {
  std::vector<SavedObject> out{{"", model.name(), "", nullptr}};
  std::map<std::string, int> used;  // saving_lib._get_unique_name
  for (const auto& l : model.layers()) {
    std::string base = detail::to_snake_case(l->class_name());
    auto [it, fresh] = used.try_emplace(base, 0);
    std::string name = fresh ? base : base + "_" + std::to_string(++it->second);
    add_layer(*l, l->name(), "layers/" + name, out);
  }
  return out;
}

std::string vars_path(const std::string& path) { return path.empty() ? "vars" : path + "/vars"; }

// The vars group of `path` (H5IOStore.get): not ok() when the file has none.
Handle vars_group(const H5Reader& r, const std::string& path) {
  Handle g = r.open(r.file(), vars_path(path), true);
  if (!g.ok() && path.rfind("layers/", 0) == 0 && H5Lexists(r.file(), kTf213Layers, H5P_DEFAULT) > 0)
    g = r.open(r.file(), vars_path(kTf213Layers + path.substr(6)), true);
  return g;
}

// Number of links in a group.
hsize_t link_count(const H5Reader& r, hid_t group, const std::string& where) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) r.fail("cannot list the group " + where);
  return info.nlinks;
}

// H5Ovisit callback: stops (returns 1) at the first dataset.
herr_t stop_at_dataset(hid_t, const char*, const H5O_info_t* info, void*) { return info->type == H5O_TYPE_DATASET; }

// Throws when the group of layers (layers/ or tf.keras 2.13's) has a child the model does not
// use that holds any dataset: weights that would otherwise be dropped without a word.
void check_no_foreign_weights(const H5Reader& r, const std::vector<SavedObject>& objects) {
  const char* root = H5Lexists(r.file(), "layers", H5P_DEFAULT) > 0 ? "layers" : kTf213Layers;
  Handle layers = r.open(r.file(), root, true);
  if (!layers.ok()) return;
  std::set<std::string> expected;
  for (const SavedObject& o : objects)
    if (!o.path.empty()) expected.insert(o.path.substr(7, o.path.find('/', 7) - 7));  // after "layers/"
  hsize_t n = link_count(r, layers.get(), root);
  for (hsize_t i = 0; i < n; ++i) {
    ssize_t len = H5Lget_name_by_idx(layers.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0 || len > 4096) r.fail(std::string("cannot list the group ") + root + " (corrupted?)");
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(layers.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    if (expected.count(name)) continue;
    std::string child = std::string(root) + "/" + name;
    Handle g = r.open(r.file(), child, true);  // throws for a link or a dataset: not Keras's layout
    herr_t found = H5Ovisit2(g.get(), H5_INDEX_NAME, H5_ITER_INC, stop_at_dataset, nullptr, H5O_INFO_BASIC);
    if (found < 0) r.fail("cannot walk the group " + child + " (corrupted?)");
    if (found > 0) {
      std::string have;
      for (const std::string& e : expected) have += (have.empty() ? "" : ", ") + e;
      r.fail("the file has weights under " + child + ", which no layer of the model takes (the model's layers are " +
             have + "). Was the file saved from a different architecture?");
    }
  }
}

}  // namespace

void save_weights_keras3(const Model& model, const std::string& path) {
  std::vector<SavedObject> objects = saved_objects(model);
  write_h5_file(path, [&](hid_t f) {
    Error err("save_weights: " + path + ": HDF5 could not write the file");
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    for (const SavedObject& o : objects) {
      std::string vars = vars_path(o.path);
      Handle g(H5Gcreate2(f, vars.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      if (!g.ok()) throw Error("save_weights: " + path + ": cannot create the group " + vars);
      write_utf8_attr(g.get(), "name", o.name, err);
      if (o.weights)
        for (size_t k = 0; k < o.weights->size(); ++k)
          write_f32_dataset(g.get(), std::to_string(k), (*o.weights)[k].value, H5P_DEFAULT, path);
    }
  });
}

bool is_keras3_layout(const H5Reader& r) {
  hid_t f = r.file();
  if (H5Aexists(f, "layer_names") > 0 || H5Aexists(f, "layer_names0") > 0 ||
      H5Lexists(f, "model_weights", H5P_DEFAULT) > 0)
    return false;
  return H5Lexists(f, "layers", H5P_DEFAULT) > 0 || H5Lexists(f, "vars", H5P_DEFAULT) > 0 ||
         H5Lexists(f, kTf213Layers, H5P_DEFAULT) > 0;
}

void load_weights_keras3(Model& model, const H5Reader& r) {
  std::vector<SavedObject> objects = saved_objects(model);
  struct Pending {
    Handle dataset;
    std::vector<int64_t> shape;
    std::string where;
  };
  std::vector<Pending> pending;  // in get_weights() order
  for (const SavedObject& o : objects) {
    StoredLayer mine{o.layer.empty() ? model.name() : o.layer, {}};
    if (o.weights)
      for (const Weight& w : *o.weights) mine.weights.push_back({w.name, w.value.shape(), 0});
    std::string where = vars_path(o.path);
    StoredLayer theirs{where, {}};
    Handle vars = vars_group(r, o.path);
    hsize_t n = vars.ok() ? link_count(r, vars.get(), where) : 0;
    std::vector<Handle> datasets;
    // List what the file holds ("0", "1", ... in order; at most one more than the model wants, for the message).
    for (hsize_t k = 0; k < n && k <= mine.weights.size(); ++k) {
      Handle d = r.open(vars.get(), std::to_string(k), false);
      if (!d.ok())
        r.fail(where + " holds " + std::to_string(n) + " entries but no dataset \"" + std::to_string(k) +
               "\" (Keras names a layer's variables 0, 1, ...)");
      theirs.weights.push_back({std::to_string(k), r.shape(d.get(), where + "/" + std::to_string(k)), 0});
      datasets.push_back(std::move(d));
    }
    if (n != mine.weights.size() && !vars.ok())
      r.fail("the file has no group " + where + " for the layer \"" + mine.name + "\" (its weights " +
             std::to_string(mine.weights.size()) + "). Was the file saved from a different architecture?");
    if (n > mine.weights.size() + 1)  // the listing stopped early: say how many there are
      theirs.weights.push_back({"... " + std::to_string(n) + " entries in all", {}, 0});
    check_layer_fits(mine, theirs, "load_weights: " + r.path(), " (" + where + ")");
    for (size_t k = 0; k < datasets.size(); ++k)
      pending.push_back({std::move(datasets[k]), theirs.weights[k].shape, where + "/" + std::to_string(k)});
  }
  check_no_foreign_weights(r, objects);
  std::vector<Tensor> values;
  for (const Pending& p : pending) values.push_back(r.read_f32(p.dataset.get(), p.shape, p.where));
  model.set_weights(values);
}

}  // namespace kiln::persistence
