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
#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "persistence/weights.h"
#include "runtime/atomic_file.h"

namespace kiln::persistence {
namespace {

constexpr size_t kAttrChunkLimit = 64512;  // Keras's HDF5_OBJECT_HEADER_LIMIT
constexpr size_t kMaxAttrBytes = size_t{64} << 20;
constexpr int kMaxRank = 8;

// An HDF5 id closed on scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Turns off HDF5's printing of its error stack (errors become kiln::Error) for one call.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// --- writing ---

void write_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values, const Error& err) {
  if (values.empty()) {
    // Keras writes np.asarray([]): an empty float64 array.
    hsize_t zero = 0;
    Handle space(H5Screate_simple(1, &zero, nullptr), H5Sclose);
    Handle attr(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) throw err;
    return;
  }
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  // Split like numpy.array_split until every chunk fits an object header.
  size_t chunks = 1;
  while ((values.size() / chunks + (values.size() % chunks ? 1 : 0)) * width > kAttrChunkLimit &&
         chunks < values.size())
    ++chunks;
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  size_t begin = 0;
  for (size_t c = 0; c < chunks; ++c) {
    size_t n = values.size() / chunks + (c < values.size() % chunks ? 1 : 0);
    std::vector<char> buf(n * width, '\0');
    for (size_t i = 0; i < n; ++i)
      std::memcpy(buf.data() + i * width, values[begin + i].data(), values[begin + i].size());
    hsize_t dim = n;
    Handle space(H5Screate_simple(1, &dim, nullptr), H5Sclose);
    std::string attr_name = chunks == 1 ? name : name + std::to_string(c);
    Handle attr(H5Acreate2(obj, attr_name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!attr.ok() || H5Awrite(attr.get(), type.get(), buf.data()) < 0) throw err;
    begin += n;
  }
}

void write_string_scalar(hid_t obj, const char* name, const std::string& value, const Error& err) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string buf = value.empty() ? std::string(1, '\0') : value;
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), buf.data()) < 0) throw err;
}

// --- reading ---

class H5Reader {
 public:
  H5Reader(const std::string& path) : path_(path) {}
  [[noreturn]] void fail(const std::string& why) const { throw Error("load_weights: " + path_ + ": " + why); }

  // A string-list attribute, or its Keras chunks name0, name1, ...; missing: nullopt.
  std::optional<std::vector<std::string>> strings(hid_t obj, const std::string& name) {
    if (H5Aexists(obj, name.c_str()) > 0) return read_strings(obj, name);
    std::vector<std::string> all;
    int k = 0;
    for (; k < 1 << 20 && H5Aexists(obj, (name + std::to_string(k)).c_str()) > 0; ++k) {
      std::vector<std::string> part = read_strings(obj, name + std::to_string(k));
      all.insert(all.end(), part.begin(), part.end());
    }
    if (k == 0) return std::nullopt;
    return all;
  }

 private:
  std::string path_;
  size_t total_bytes_ = 0;

  std::vector<std::string> read_strings(hid_t obj, const std::string& name) {
    Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) fail("cannot open the attribute " + name);
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n < 0) fail("cannot read the attribute " + name);
    if (n == 0) return {};
    if (H5Tget_class(type.get()) != H5T_STRING) fail("the attribute " + name + " is not a list of strings");
    if (static_cast<uint64_t>(n) > kMaxAttrBytes) fail("the attribute " + name + " is absurdly large");
    std::vector<std::string> out;
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
      if (H5Aread(attr.get(), mem.get(), ptrs.data()) < 0) fail("cannot read the attribute " + name);
      for (char* p : ptrs) {
        size_t len = p ? strnlen(p, 1 << 16) : 0;
        total_bytes_ += len;
        out.emplace_back(p ? p : "", len);
      }
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    } else {
      size_t width = H5Tget_size(type.get());
      if (width == 0 || width > kMaxAttrBytes / static_cast<size_t>(n))
        fail("the attribute " + name + " is absurdly large");
      // Read in the file's own string type (a NULLTERM memory type would drop a NULLPAD string's last byte).
      Handle mem(H5Tcopy(type.get()), H5Tclose);
      std::vector<char> buf(static_cast<size_t>(n) * width);
      if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) fail("cannot read the attribute " + name);
      for (hssize_t i = 0; i < n; ++i) {
        const char* p = buf.data() + static_cast<size_t>(i) * width;
        out.emplace_back(p, strnlen(p, width));
      }
      total_bytes_ += buf.size();
    }
    if (total_bytes_ > kMaxAttrBytes) fail("the string attributes are absurdly large");
    return out;
  }
};

std::vector<int64_t> dataset_shape(const H5Reader& r, hid_t dset, const std::string& name) {
  Handle space(H5Dget_space(dset), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > kMaxRank) r.fail("dataset " + name + " has an unsupported rank");
  hsize_t dims[kMaxRank];
  if (H5Sget_simple_extent_dims(space.get(), dims, nullptr) < 0) r.fail("cannot read the shape of dataset " + name);
  std::vector<int64_t> shape;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] > (uint64_t{1} << 40)) r.fail("dataset " + name + " has an absurd dimension");
    shape.push_back(static_cast<int64_t>(dims[i]));
  }
  return shape;
}

}  // namespace

void save_weights_h5(const Model& model, const std::string& path) {
  QuietErrors quiet;
  std::vector<std::string> names;
  for (const auto& l : model.layers()) names.push_back(l->name());
  runtime::atomic_replace(
      path,
      [&](const std::string& tmp, int) {
        Error err("save_weights: " + path + ": HDF5 could not write the file");
        Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
        if (!f.ok()) throw err;
        write_strings(f.get(), "layer_names", names, err);
        write_string_scalar(f.get(), "backend", "tensorflow", err);
        write_string_scalar(f.get(), "keras_version", "2.13.1", err);
        Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
        H5Pset_create_intermediate_group(lcpl.get(), 1);
        for (const auto& l : model.layers()) {
          Handle g(H5Gcreate2(f.get(), l->name().c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
          if (!g.ok())
            throw Error("save_weights: " + path + ": cannot create the group for layer \"" + l->name() + "\"");
          std::vector<std::string> wnames;
          for (const Weight& w : l->weights()) wnames.push_back(l->name() + "/" + w.name + ":0");
          write_strings(g.get(), "weight_names", wnames, err);
          for (size_t k = 0; k < wnames.size(); ++k) {
            const Tensor& t = l->weights()[k].value;
            std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
            Handle space(t.rank() == 0 ? H5Screate(H5S_SCALAR)
                                       : H5Screate_simple(static_cast<int>(t.rank()), dims.data(), nullptr),
                         H5Sclose);
            Handle d(H5Dcreate2(g.get(), wnames[k].c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), H5P_DEFAULT,
                                H5P_DEFAULT),
                     H5Dclose);
            if (!d.ok() || H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
              throw Error("save_weights: " + path + ": cannot write dataset " + wnames[k]);
          }
        }
        if (H5Fflush(f.get(), H5F_SCOPE_GLOBAL) < 0) throw err;
      },
      "save_weights");
}

void load_weights_h5(Model& model, const std::string& path) {
  QuietErrors quiet;
  H5Reader r(path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) r.fail("no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) r.fail("not an HDF5 file");
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.ok()) r.fail("HDF5 cannot open it (truncated or corrupted?)");
  // A whole-model file (Keras's model.save("m.h5")) keeps the weights under /model_weights.
  hid_t root_id = f.get();
  std::optional<Handle> model_weights;
  if (H5Aexists(root_id, "layer_names") <= 0 && H5Lexists(root_id, "model_weights", H5P_DEFAULT) > 0) {
    model_weights.emplace(H5Gopen2(root_id, "model_weights", H5P_DEFAULT), H5Gclose);
    if (!model_weights->ok()) r.fail("cannot open the group model_weights");
    root_id = model_weights->get();
  }
  std::optional<std::vector<std::string>> layer_names = r.strings(root_id, "layer_names");
  if (!layer_names) {
    if (H5Lexists(root_id, "layers", H5P_DEFAULT) > 0 || H5Lexists(root_id, "vars", H5P_DEFAULT) > 0)
      r.fail("this is a Keras 3 .weights.h5 file; Kiln reads the tf.keras 2.x layout (the root attribute "
             "layer_names). Save it from tf.keras 2.x, or with Keras 3's legacy h5 format");
    r.fail("the root attribute layer_names is missing: not a Keras weights file");
  }

  std::vector<StoredLayer> file;
  for (const std::string& ln : *layer_names) {
    if (ln.empty() || H5Lexists(root_id, ln.c_str(), H5P_DEFAULT) <= 0)
      r.fail("layer_names lists \"" + ln + "\", but the file has no group for it");
    Handle g(H5Gopen2(root_id, ln.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) r.fail("cannot open the group of layer \"" + ln + "\"");
    std::optional<std::vector<std::string>> wn = r.strings(g.get(), "weight_names");
    if (!wn) r.fail("the group of layer \"" + ln + "\" has no weight_names attribute");
    StoredLayer sl{ln, {}};
    for (const std::string& w : *wn) {
      // H5Lexists fails (< 0) when an intermediate group is missing: also "no dataset".
      if (w.empty() || H5Lexists(g.get(), w.c_str(), H5P_DEFAULT) <= 0)
        r.fail("layer \"" + ln + "\" lists the weight \"" + w + "\", but the file has no dataset for it");
      Handle d(H5Dopen2(g.get(), w.c_str(), H5P_DEFAULT), H5Dclose);
      if (!d.ok()) r.fail("cannot open the dataset " + ln + "/" + w);
      sl.weights.push_back({w, dataset_shape(r, d.get(), ln + "/" + w), 0});
    }
    file.push_back(std::move(sl));
  }
  std::vector<std::pair<size_t, size_t>> match = match_layout(model_layout(model), file, "load_weights: " + path);
  std::vector<Tensor> values;
  for (auto [li, wi] : match) {
    const StoredLayer& sl = file[li];
    const StoredWeight& sw = sl.weights[wi];
    Handle g(H5Gopen2(root_id, sl.name.c_str(), H5P_DEFAULT), H5Gclose);
    Handle d(H5Dopen2(g.get(), sw.name.c_str(), H5P_DEFAULT), H5Dclose);
    Handle type(H5Dget_type(d.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_FLOAT && H5Tget_class(type.get()) != H5T_INTEGER)
      r.fail("dataset " + sl.name + "/" + sw.name + " does not hold numbers");
    Tensor t = Tensor::zeros(sw.shape);  // the model's own shape: match_layout compared them
    if (t.size() > 0 && H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
      r.fail("cannot read dataset " + sl.name + "/" + sw.name + " (corrupted?)");
    values.push_back(t);
  }
  model.set_weights(values);
}

}  // namespace kiln::persistence
