// Model::save_weights / load_weights, Kiln's weights format, and matching a
// file's layout against a model (see weights.h for the format).
#include "persistence/weights.h"

#include <cstring>
#include <fstream>

#include "runtime/atomic_file.h"

namespace kiln::persistence {
namespace {

constexpr char kMagic[8] = {'\x89', 'K', 'I', 'L', 'N', 'W', 'T', '\n'};
constexpr uint32_t kVersion = 1;
constexpr uint8_t kF32 = 1;
constexpr int kMaxRank = 8;
constexpr uint32_t kMaxName = 4096;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shapes_of(const StoredLayer& l) {
  std::string s;
  for (const StoredWeight& w : l.weights) s += (s.empty() ? "" : ", ") + w.name + " " + shape_to_python(w.shape);
  return "[" + s + "]";
}

// Whether the file at `path` begins with HDF5's signature (Keras files renamed away from .h5).
bool starts_like_hdf5(const std::string& path) {
  char head[8] = {};
  std::ifstream f(path, std::ios::binary);
  return f.read(head, sizeof head) && std::memcmp(head, "\x89HDF\r\n\x1a\n", sizeof head) == 0;
}

std::vector<const StoredLayer*> with_weights(const std::vector<StoredLayer>& ls) {
  std::vector<const StoredLayer*> out;
  for (const StoredLayer& l : ls)
    if (!l.weights.empty()) out.push_back(&l);
  return out;
}

}  // namespace

std::vector<StoredLayer> model_layout(const Model& model) {
  std::vector<StoredLayer> out;
  for (const auto& l : model.layers()) {
    StoredLayer sl{l->name(), {}};
    for (const Weight& w : l->weights()) sl.weights.push_back({w.name, w.value.shape(), 0});
    out.push_back(std::move(sl));
  }
  return out;
}

void check_layer_fits(const StoredLayer& model, const StoredLayer& file, const std::string& what,
                      const std::string& which) {
  bool same = model.weights.size() == file.weights.size();
  for (size_t k = 0; same && k < model.weights.size(); ++k) same = model.weights[k].shape == file.weights[k].shape;
  if (!same)
    throw Error(what + ": the weights do not fit the model at layer \"" + model.name + "\"" + which +
                ": the model has " + shapes_of(model) + ", the file's layer \"" + file.name + "\" has " +
                shapes_of(file) + ". Was the file saved from a different architecture?");
}

std::vector<std::pair<size_t, size_t>> match_layout(const std::vector<StoredLayer>& model,
                                                    const std::vector<StoredLayer>& file, const std::string& what) {
  std::vector<const StoredLayer*> m = with_weights(model), f = with_weights(file);
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < std::min(m.size(), f.size()); ++i) {
    const StoredLayer& fl = *f[i];
    check_layer_fits(*m[i], fl, what, " (the model's layer with weights number " + std::to_string(i + 1) + ")");
    size_t file_index = static_cast<size_t>(&fl - file.data());
    for (size_t k = 0; k < m[i]->weights.size(); ++k) out.push_back({file_index, k});
  }
  if (m.size() != f.size()) {
    std::string extra = m.size() > f.size()
                            ? "the model's layer \"" + m[f.size()]->name + "\" " + shapes_of(*m[f.size()])
                            : "the file's layer \"" + f[m.size()]->name + "\" " + shapes_of(*f[m.size()]);
    throw Error(what + ": layer count mismatch: the model has " + std::to_string(m.size()) +
                " layers with weights, the file has " + std::to_string(f.size()) + "; the first unmatched is " + extra +
                ".");
  }
  return out;
}

void write_kiln_weights(FdWriter& w, const std::vector<StoredLayer>& layout, const std::vector<Tensor>& values) {
  Fnv64 before;  // the blob's own checksum (the writer's covers everything it wrote)
  auto put = [&](const void* p, size_t n) {
    before.update(p, n);
    w.write(p, n);
  };
  auto put_u32 = [&](uint32_t v) {
    unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                          static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
    put(b, 4);
  };
  auto put_u64 = [&](uint64_t v) {
    put_u32(static_cast<uint32_t>(v));
    put_u32(static_cast<uint32_t>(v >> 32));
  };
  auto put_str = [&](const std::string& s) {
    put_u32(static_cast<uint32_t>(s.size()));
    put(s.data(), s.size());
  };
  put(kMagic, sizeof kMagic);
  put_u32(kVersion);
  put_u32(static_cast<uint32_t>(layout.size()));
  size_t k = 0;
  for (const StoredLayer& l : layout) {
    put_str(l.name);
    put_u32(static_cast<uint32_t>(l.weights.size()));
    for (const StoredWeight& sw : l.weights) {
      const Tensor& t = values.at(k++);
      KILN_ASSERT(t.dtype() == DType::f32 && t.shape() == sw.shape, "weight " + l.name + "/" + sw.name);
      put_str(sw.name);
      uint8_t head[2] = {kF32, static_cast<uint8_t>(t.rank())};
      put(head, 2);
      for (int64_t d : t.shape()) put_u64(static_cast<uint64_t>(d));
      put(t.raw(), t.nbytes());
    }
  }
  KILN_ASSERT(k == values.size(), "write_kiln_weights: more values than the layout holds");
  uint64_t sum = before.value();
  put_u64(sum);
}

uint64_t kiln_weights_size(const std::vector<StoredLayer>& layout) {
  uint64_t n = sizeof kMagic + 4 + 4 + 8;
  for (const StoredLayer& l : layout) {
    n += 4 + l.name.size() + 4;
    for (const StoredWeight& w : l.weights) {
      uint64_t elements = 1;
      for (int64_t d : w.shape) elements *= static_cast<uint64_t>(d);
      n += 4 + w.name.size() + 2 + 8 * w.shape.size() + 4 * elements;
    }
  }
  return n;
}

std::vector<StoredLayer> read_kiln_index(FileReader& r) {
  r.reset_hash();
  char magic[8];
  if (r.remaining() < sizeof magic) r.fail("not a Kiln weights file (too short)");
  r.read(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) r.fail("not a Kiln weights file (bad magic bytes)");
  uint32_t version = r.u32();
  if (version != kVersion)
    r.fail("unsupported Kiln weights format version " + std::to_string(version) + " (this Kiln reads version 1)");
  uint32_t nlayers = r.u32();
  // Each layer takes at least 8 bytes, so the count is bounded by the file before anything grows.
  if (nlayers > r.remaining() / 8) r.fail("layer count " + std::to_string(nlayers) + " does not fit in the file");
  std::vector<StoredLayer> layers;
  for (uint32_t i = 0; i < nlayers; ++i) {
    StoredLayer l{r.str(kMaxName, "a layer name"), {}};
    uint32_t nw = r.u32();
    if (nw > r.remaining() / 6)
      r.fail("weight count " + std::to_string(nw) + " of layer \"" + l.name + "\" does not fit");
    for (uint32_t k = 0; k < nw; ++k) {
      StoredWeight w{r.str(kMaxName, "a weight name"), {}, 0};
      std::string where = "weight \"" + l.name + "/" + w.name + "\"";
      uint8_t dtype = r.u8(), rank = r.u8();
      if (dtype != kF32) r.fail(where + " has dtype code " + std::to_string(dtype) + "; only f32 (1) is supported");
      if (rank > kMaxRank)
        r.fail(where + " has rank " + std::to_string(rank) + ", more than " + std::to_string(kMaxRank));
      uint64_t bytes = 4;
      for (int d = 0; d < rank; ++d) {
        int64_t dim = r.i64();
        if (dim < 0) r.fail(where + " has a negative dimension " + std::to_string(dim));
        w.shape.push_back(dim);
        if (dim != 0 && bytes > r.remaining() / static_cast<uint64_t>(dim))
          r.fail(where + " needs more data than the file holds (shape " + shape_to_python(w.shape) + "...)");
        bytes *= static_cast<uint64_t>(dim);
      }
      w.offset = r.offset();
      r.skip(bytes);
      l.weights.push_back(std::move(w));
    }
    layers.push_back(std::move(l));
  }
  uint64_t want = r.hash();
  uint64_t sum = r.u64();
  if (sum != want) r.fail("checksum mismatch: the file is corrupted");
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the checksum");
  return layers;
}

Tensor read_kiln_data(FileReader& r, const StoredWeight& w) {
  Tensor t = Tensor::zeros(w.shape);
  r.seek(w.offset);
  r.read(t.raw(), t.nbytes());
  return t;
}

}  // namespace kiln::persistence

namespace kiln {

void Model::save_weights(const std::string& path) const {
  using namespace persistence;
  if (ends_with(path, ".weights.h5")) return save_weights_keras3(*this, path);
  if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return save_weights_h5(*this, path);
  std::vector<StoredLayer> layout = model_layout(*this);
  std::vector<Tensor> values;
  for (const auto& l : layers())
    for (const Weight& w : l->weights()) values.push_back(w.value);
  runtime::atomic_replace(
      path,
      [&](const std::string&, int fd) {
        FdWriter w(fd, path, "save_weights");
        write_kiln_weights(w, layout, values);
        w.flush();
      },
      "save_weights");
}

void Model::load_weights(const std::string& path) {
  using namespace persistence;
  if (ends_with(path, ".h5") || ends_with(path, ".hdf5") || starts_like_hdf5(path)) return load_weights_h5(*this, path);
  FileReader r(path, "load_weights");
  std::vector<StoredLayer> file = read_kiln_index(r);
  std::vector<std::pair<size_t, size_t>> match = match_layout(model_layout(*this), file, "load_weights: " + path);
  std::vector<Tensor> values;
  for (auto [li, wi] : match) values.push_back(read_kiln_data(r, file[li].weights[wi]));
  set_weights(values);
}

}  // namespace kiln
