// HDF5 through its C API, shared by the two Keras weights layouts (weights_h5.cpp:
// tf.keras 2.x's legacy layout; weights_keras3.cpp: Keras 3's .weights.h5): ids
// closed on scope exit, string attributes as Keras writes them, f32 datasets,
// and a reader that opens an untrusted file, follows only hard links, refuses
// external and virtual datasets, and bounds every attribute it reads. Private
// to persistence/ (it includes <hdf5.h>).
#pragma once

#include <hdf5.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/model.h"

namespace kiln::persistence {

// An HDF5 id closed on scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      if (id_ >= 0) close_(id_);
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Turns off HDF5's printing of its error stack (errors become kiln::Error) for one scope.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// --- writing ---

// Writes `path` atomically as a new HDF5 file: `fill` gets the open file; errors name `path`.
void write_h5_file(const std::string& path, const std::function<void(hid_t file)>& fill);
// A list of fixed-length strings as tf.keras 2.x's save_weights writes it (split into
// name0, name1, ... past 64 KiB; an empty float64 array when empty).
void write_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values, const Error& err);
// A fixed-length scalar string attribute (tf.keras 2.x's backend, keras_version).
void write_string_scalar(hid_t obj, const char* name, const std::string& value, const Error& err);
// A variable-length UTF-8 scalar string attribute: what h5py writes for attrs[name] = "text".
void write_utf8_attr(hid_t obj, const char* name, const std::string& value, const Error& err);
// A contiguous little-endian float32 dataset holding `t` (a scalar dataspace for rank 0).
void write_f32_dataset(hid_t group, const std::string& name, const Tensor& t, hid_t lcpl, const std::string& where);

// --- reading ---

// An HDF5 file opened read-only, with errors that name it: "load_weights: PATH: why".
class H5Reader {
 public:
  // Opens `path`; throws for a missing file, a file that is not HDF5, or one HDF5 cannot open.
  explicit H5Reader(const std::string& path);
  hid_t file() const { return file_.get(); }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& why) const;

  // A string-list attribute, or its Keras chunks name0, name1, ...; missing: nullopt.
  std::optional<std::vector<std::string>> strings(hid_t obj, const std::string& name);
  // The object at `path` (components split at '/') under `parent`, reached through hard links
  // only; must be a group (want_group) or a dataset. Missing: a Handle that is not ok(). Soft
  // and external links, external-file and virtual datasets are refused (they would read other
  // files), as Keras's safe_get_h5_group / safe_get_h5_dataset refuse them.
  Handle open(hid_t parent, const std::string& path, bool want_group) const;
  // The dataset's shape (rank <= 8, each dimension < 2^40); the dataset is not read.
  std::vector<int64_t> shape(hid_t dset, const std::string& where) const;
  // The dataset's numbers converted to f32, as a tensor of `shape` (which the caller has
  // checked equals the dataset's shape, so the allocation is the model's size).
  Tensor read_f32(hid_t dset, const std::vector<int64_t>& shape, const std::string& where) const;

 private:
  std::string path_;
  QuietErrors quiet_;
  Handle file_;
  size_t total_bytes_ = 0;

  std::vector<std::string> read_strings(hid_t obj, const std::string& name);
};

}  // namespace kiln::persistence
