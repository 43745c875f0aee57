// HDF5 helpers shared by the Keras weights layouts (see h5_util.h).
#include "persistence/h5_util.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "runtime/atomic_file.h"

namespace kiln::persistence {
namespace {

constexpr size_t kAttrChunkLimit = 64512;  // Keras's HDF5_OBJECT_HEADER_LIMIT
constexpr size_t kMaxAttrBytes = size_t{64} << 20;
constexpr int kMaxRank = 8;
constexpr size_t kMaxPathDepth = 64;

// `path` split at '/', or nullopt when a component is empty (Keras: "Invalid path in H5 file").
std::optional<std::vector<std::string>> components(const std::string& path) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    size_t end = path.find('/', begin);
    std::string part = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (part.empty() || out.size() == kMaxPathDepth) return std::nullopt;
    out.push_back(std::move(part));
    if (end == std::string::npos) return out;
    begin = end + 1;
  }
}

// Opens `path` read-only after checking it is a regular HDF5 file; errors name the path.
Handle open_checked(const std::string& path) {
  auto fail = [&](const std::string& why) { return Error("load_weights: " + path + ": " + why); };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw fail("no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) throw fail("not an HDF5 file");
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!f.ok()) throw fail("HDF5 cannot open it (truncated or corrupted?)");
  return f;
}

// The full name of `obj` in the file ("/layers/dense/vars"), for messages.
std::string object_name(hid_t obj) {
  char buf[512] = {};
  ssize_t n = H5Iget_name(obj, buf, sizeof buf);
  return n > 0 ? std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1)) : std::string("?");
}

}  // namespace

// --- writing ---

void write_h5_file(const std::string& path, const std::function<void(hid_t file)>& fill) {
  QuietErrors quiet;
  runtime::atomic_replace(
      path,
      [&](const std::string& tmp, int) {
        Handle f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
        if (!f.ok()) throw Error("save_weights: " + path + ": HDF5 could not create the file");
        fill(f.get());
        if (H5Fflush(f.get(), H5F_SCOPE_GLOBAL) < 0)
          throw Error("save_weights: " + path + ": HDF5 could not write the file");
      },
      "save_weights");
}

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

void write_utf8_attr(hid_t obj, const char* name, const std::string& value, const Error& err) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &p) < 0) throw err;
}

void write_f32_dataset(hid_t group, const std::string& name, const Tensor& t, hid_t lcpl, const std::string& where) {
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  Handle space(t.rank() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(t.rank()), dims.data(), nullptr),
               H5Sclose);
  Handle d(H5Dcreate2(group, name.c_str(), H5T_IEEE_F32LE, space.get(), lcpl, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!d.ok() || H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
    throw Error("save_weights: " + where + ": cannot write dataset " + name);
}

// --- reading ---

H5Reader::H5Reader(const std::string& path) : path_(path), file_(open_checked(path)) {}

void H5Reader::fail(const std::string& why) const { throw Error("load_weights: " + path_ + ": " + why); }

std::optional<std::vector<std::string>> H5Reader::strings(hid_t obj, const std::string& name) {
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

std::vector<std::string> H5Reader::read_strings(hid_t obj, const std::string& name) {
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
    if (width == 0 || width > kMaxAttrBytes / static_cast<size_t>(n)) fail("the attribute " + name + " is absurdly large");
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

Handle H5Reader::open(hid_t parent, const std::string& path, bool want_group) const {
  std::string base = object_name(parent);
  std::string full = (base == "/" ? "" : base.substr(base[0] == '/' ? 1 : 0) + "/") + path;  // as Keras names it
  std::optional<std::vector<std::string>> parts = components(path);
  if (!parts) fail("invalid path \"" + full + "\" (an empty component, or nested too deep)");
  Handle cur(H5Oopen(parent, ".", H5P_DEFAULT), H5Oclose);
  if (!cur.ok()) fail("cannot open the group holding " + full);
  for (size_t i = 0; i < parts->size(); ++i) {
    const std::string& part = (*parts)[i];
    bool last = i + 1 == parts->size();
    if (H5Iget_type(cur.get()) != H5I_GROUP) fail(full + ": a dataset where a group was expected");
    if (H5Lexists(cur.get(), part.c_str(), H5P_DEFAULT) <= 0) return Handle(-1, H5Oclose);
    H5L_info_t link;
    if (H5Lget_info(cur.get(), part.c_str(), &link, H5P_DEFAULT) < 0) fail("cannot read the link " + full);
    if (link.type != H5L_TYPE_HARD) fail(full + " is a soft or external link; only plain groups and datasets are read");
    Handle next(H5Oopen(cur.get(), part.c_str(), H5P_DEFAULT), H5Oclose);
    if (!next.ok()) fail("cannot open " + full + " (corrupted?)");
    H5I_type_t type = H5Iget_type(next.get());
    if (last && type != (want_group ? H5I_GROUP : H5I_DATASET))
      fail(full + " is not a " + (want_group ? "group" : "dataset"));
    cur = std::move(next);
  }
  if (!want_group) {
    Handle dcpl(H5Dget_create_plist(cur.get()), H5Pclose);
    if (!dcpl.ok()) fail("cannot read the storage of dataset " + full);
    if (H5Pget_external_count(dcpl.get()) != 0) fail("dataset " + full + " keeps its data in an external file");
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) fail("dataset " + full + " is a virtual dataset");
  }
  return cur;
}

std::vector<int64_t> H5Reader::shape(hid_t dset, const std::string& where) const {
  Handle space(H5Dget_space(dset), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > kMaxRank) fail("dataset " + where + " has an unsupported rank");
  hsize_t dims[kMaxRank];
  if (H5Sget_simple_extent_dims(space.get(), dims, nullptr) < 0) fail("cannot read the shape of dataset " + where);
  std::vector<int64_t> out;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] > (uint64_t{1} << 40)) fail("dataset " + where + " has an absurd dimension");
    out.push_back(static_cast<int64_t>(dims[i]));
  }
  return out;
}

Tensor H5Reader::read_f32(hid_t dset, const std::vector<int64_t>& shape, const std::string& where) const {
  Handle type(H5Dget_type(dset), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail("dataset " + where + " does not hold numbers");
  if (H5Aexists(dset, "dtype") > 0)  // Keras marks bfloat16 data this way
    fail("dataset " + where + " has a dtype attribute (bfloat16?); Kiln reads float32 weights");
  Tensor t = Tensor::zeros(shape);
  if (t.size() > 0 && H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
    fail("cannot read dataset " + where + " (corrupted?)");
  return t;
}

}  // namespace kiln::persistence
