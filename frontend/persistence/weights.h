// Weight files, inside the persistence code: the layout a file stores (layers,
// weight names, shapes), matching it against a model the way Keras's
// load_weights does, and the three formats, chosen by the path when saving:
//   *.weights.h5       Keras 3's layout (weights_keras3.cpp)
//   other *.h5, *.hdf5 tf.keras 2.x's legacy layout (weights_h5.cpp)
//   anything else      Kiln's own format (below)
// When loading, an HDF5 file (by name or by its signature) is read in whichever
// Keras layout it holds, whatever its name: Keras users rename files.
//
// Kiln's weights format, little-endian:
//   magic "\x89KILNWT\n" (8 bytes), u32 version (1), u32 layer count, then per layer
//     u32 length + name (UTF-8), u32 weight count, then per weight
//       u32 length + name ("kernel"), u8 dtype (1 = f32), u8 rank (<= 8), i64 dims[rank],
//       dims product * 4 bytes of f32 data (row-major)
//   u64 FNV-1a 64 checksum of every byte before it.
// Every length and dimension is checked against the bytes left before
// anything is allocated, and the checksum is verified before any weight is
// read into a model, so a truncated or corrupted file changes nothing.
//
// The legacy HDF5 layout is tf.keras 2.x's save_weights(h5): root attributes
// layer_names, backend, keras_version; one group per layer with the attribute
// weight_names (["dense/kernel:0", "dense/bias:0"]) and one dataset per name
// inside it (/dense/dense/kernel:0); layers pair up by order.
//
// Keras 3's layout (keras.Model.save_weights("w.weights.h5"), saving_lib's
// H5IOStore): a group <path>/vars per object with the attribute name and its
// variables as datasets "0", "1", ...; the model's at /vars, each layer's at
// /layers/<class in snake case, made unique>/vars (/layers/dense_1/vars), an
// LSTM's under /layers/lstm/cell/vars; layers pair up by these paths.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/model.h"
#include "persistence/binary_io.h"

namespace kiln::persistence {

struct StoredWeight {
  std::string name;  // as the file names it: "kernel" (Kiln) or "dense/kernel:0" (HDF5)
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // Kiln format: where the data starts in the file
};
struct StoredLayer {
  std::string name;
  std::vector<StoredWeight> weights;
};

// The model's layers() and their weights, with Kiln's weight names.
std::vector<StoredLayer> model_layout(const Model& model);

// Throws unless `file` holds as many weights as `model`, of the same shapes in order; the
// message names both layers and lists every shape. `which` follows the layer name in it.
void check_layer_fits(const StoredLayer& model, const StoredLayer& file, const std::string& what,
                      const std::string& which);

// Keras's rule: the layers that have weights, in order, pair up; so do their weights. Throws
// naming the first layer (model's and file's) whose weights or shapes differ. Returns, for
// each model weight in get_weights() order, {file layer index, weight index}.
std::vector<std::pair<size_t, size_t>> match_layout(const std::vector<StoredLayer>& model,
                                                    const std::vector<StoredLayer>& file, const std::string& what);

// --- Kiln format ---
// Writes a weights blob (magic to checksum); `values` in layout order.
void write_kiln_weights(FdWriter& w, const std::vector<StoredLayer>& layout, const std::vector<Tensor>& values);
// The number of bytes write_kiln_weights writes for `layout`.
uint64_t kiln_weights_size(const std::vector<StoredLayer>& layout);
// Reads the index of a blob starting at r.offset() and filling r.remaining() exactly; verifies
// the checksum (every data byte is read once for it, nothing is allocated for data).
std::vector<StoredLayer> read_kiln_index(FileReader& r);
// The weight's data as an f32 tensor of its shape.
Tensor read_kiln_data(FileReader& r, const StoredWeight& w);

// --- HDF5 (h5_util.h: the shared HDF5 code) ---
class H5Reader;
// tf.keras 2.x's legacy layout (weights_h5.cpp).
void save_weights_h5(const Model& model, const std::string& path);
// Either Keras layout, told apart by what the file holds (weights_h5.cpp).
void load_weights_h5(Model& model, const std::string& path);
// Keras 3's .weights.h5 layout (weights_keras3.cpp).
void save_weights_keras3(const Model& model, const std::string& path);
// Whether the open file is in Keras 3's layout: no layer_names attribute or model_weights
// group (the legacy layout's), and a "layers", "vars" or "_layer_checkpoint_dependencies" group.
bool is_keras3_layout(const H5Reader& r);
void load_weights_keras3(Model& model, const H5Reader& r);

}  // namespace kiln::persistence
