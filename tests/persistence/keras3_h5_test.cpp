// save_weights / load_weights with .weights.h5: Keras 3's saving_lib layout
// (frontend/persistence/weights_keras3.cpp), checked object by object through the
// HDF5 C API so the test fails if the layout drifts from Keras's; round trips on
// the seven tutorial models; files written the way Keras 3.15 + h5py write one
// (layer names Kiln would not choose, an optimizer group) that load: one made
// here with the HDF5 C API, one by h5py (tests/data/persistence); renamed files;
// mismatches; hostile and truncated files.
#include <hdf5.h>

#include <filesystem>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;

namespace {

hsize_t attribute_count(hid_t obj) {
  H5O_info_t info;
  EXPECT_GE(H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS), 0);
  return info.num_attrs;
}

// Every object below the root, sorted by path: "path name=<attr>" for a group with a name
// attribute, "path" for a group without, "path f32(d0, d1)" for a float32 dataset.
std::vector<std::string> listing(const std::string& file) {
  struct Out {
    std::vector<std::string> lines;
  } out;
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << file;
  auto visit = [](hid_t root, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    auto& lines = static_cast<Out*>(data)->lines;
    std::string path = name;
    if (path == ".") return 0;
    if (info->type == H5O_TYPE_GROUP) {
      hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
      std::string line = path;
      if (H5Aexists(g, "name") > 0) {
        hid_t a = H5Aopen(g, "name", H5P_DEFAULT);
        hid_t t = H5Aget_type(a), s = H5Aget_space(a);
        // h5py's str attribute: a variable-length UTF-8 string in a scalar dataspace.
        EXPECT_EQ(H5Tis_variable_str(t), 1) << path;
        EXPECT_EQ(H5Tget_cset(t), H5T_CSET_UTF8) << path;
        EXPECT_EQ(H5Sget_simple_extent_type(s), H5S_SCALAR) << path;
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5T_CSET_UTF8);
        char* value = nullptr;
        H5Aread(a, mem, &value);
        line += std::string(" name=") + (value ? value : "");
        H5free_memory(value);
        H5Tclose(mem);
        H5Sclose(s);
        H5Tclose(t);
        H5Aclose(a);
      }
      EXPECT_EQ(attribute_count(g), H5Aexists(g, "name") > 0 ? 1u : 0u) << path;
      H5Gclose(g);
      lines.push_back(line);
    } else if (info->type == H5O_TYPE_DATASET) {
      hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
      hid_t t = H5Dget_type(d), s = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
      std::string line = path + (H5Tequal(t, H5T_IEEE_F32LE) > 0 ? " f32" : " other");
      EXPECT_EQ(H5Pget_layout(dcpl), H5D_CONTIGUOUS) << path;  // h5py's default for group[key] = array
      std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(s)));
      H5Sget_simple_extent_dims(s, dims.data(), nullptr);
      std::string shape;
      for (hsize_t x : dims) shape += (shape.empty() ? "" : ", ") + std::to_string(x);
      lines.push_back(line + "(" + shape + (dims.size() == 1 ? ",)" : ")"));
      H5Pclose(dcpl);
      H5Sclose(s);
      H5Tclose(t);
      H5Dclose(d);
    }
    return 0;
  };
  H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
  EXPECT_EQ(attribute_count(f), 0u);  // saving_lib writes no root attributes
  H5Fclose(f);
  std::sort(out.lines.begin(), out.lines.end());
  return out.lines;
}

std::vector<float> dataset_values(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t s = H5Dget_space(d);
  std::vector<float> v(static_cast<size_t>(H5Sget_simple_extent_npoints(s)));
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return v;
}

// The paths below are Keras 3.15's saving_lib walk (see weights_keras3.cpp): the model's
// vars at the root, then model.layers, each group named after its class in layer order.
TEST(Keras3Weights, MlpLayoutIsKeras3s) {
  TempDir dir;
  Model m = zoo::build("mlp");
  randomize(m, 5);
  m.save_weights(dir.path("w.weights.h5"));
  std::vector<std::string> want = {
      "layers",
      "layers/dense",
      "layers/dense/vars name=dense",
      "layers/dense/vars/0 f32(10, 10)",
      "layers/dense/vars/1 f32(10,)",
      "layers/dense_1",
      "layers/dense_1/vars name=dense_1",
      "layers/dense_1/vars/0 f32(10, 20)",
      "layers/dense_1/vars/1 f32(20,)",
      "layers/dense_2",
      "layers/dense_2/vars name=dense_2",
      "layers/dense_2/vars/0 f32(20, 10)",
      "layers/dense_2/vars/1 f32(10,)",
      "layers/dense_3",
      "layers/dense_3/vars name=dense_3",
      "layers/dense_3/vars/0 f32(10, 1)",
      "layers/dense_3/vars/1 f32(1,)",
      "layers/input_layer",
      "layers/input_layer/vars name=input_1",
      "vars name=" + m.name(),
  };
  EXPECT_EQ(listing(dir.path("w.weights.h5")), want);
  // Variable k of a layer is its k-th weight, row-major float32.
  EXPECT_EQ(dataset_values(dir.path("w.weights.h5"), "layers/dense_2/vars/0"),
            m.get_layer("dense_2")->get_weights()[0].to_vector());
  EXPECT_EQ(dataset_values(dir.path("w.weights.h5"), "layers/dense_2/vars/1"),
            m.get_layer("dense_2")->get_weights()[1].to_vector());
}

// Conv2D, MaxPooling2D, Flatten, Concatenate: groups named by class and counted per class.
TEST(Keras3Weights, SharedInputLayoutIsKeras3s) {
  TempDir dir;
  Model m = zoo::build("shared_input");
  m.save_weights(dir.path("w.weights.h5"));
  std::vector<std::string> want = {
      "layers",
      "layers/concatenate",
      "layers/concatenate/vars name=concatenate",
      "layers/conv2d",
      "layers/conv2d/vars name=conv2d",
      "layers/conv2d/vars/0 f32(4, 4, 1, 32)",
      "layers/conv2d/vars/1 f32(32,)",
      "layers/conv2d_1",
      "layers/conv2d_1/vars name=conv2d_1",
      "layers/conv2d_1/vars/0 f32(8, 8, 1, 16)",
      "layers/conv2d_1/vars/1 f32(16,)",
      "layers/dense",
      "layers/dense/vars name=dense",
      "layers/dense/vars/0 f32(" + std::to_string(30 * 30 * 32 + 28 * 28 * 16) + ", 10)",
      "layers/dense/vars/1 f32(10,)",
      "layers/dense_1",
      "layers/dense_1/vars name=dense_1",
      "layers/dense_1/vars/0 f32(10, 1)",
      "layers/dense_1/vars/1 f32(1,)",
      "layers/flatten",
      "layers/flatten/vars name=flatten",
      "layers/flatten_1",
      "layers/flatten_1/vars name=flatten_1",
      "layers/input_layer",
      "layers/input_layer/vars name=input_1",
      "layers/max_pooling2d",
      "layers/max_pooling2d/vars name=max_pooling2d",
      "layers/max_pooling2d_1",
      "layers/max_pooling2d_1/vars name=max_pooling2d_1",
      "vars name=" + m.name(),
  };
  EXPECT_EQ(listing(dir.path("w.weights.h5")), want);
}

// LSTM: its variables are its cell's (layers/lstm/cell, named "lstm_cell"); TimeDistributed:
// the wrapped layer's (layers/time_distributed/layer).
TEST(Keras3Weights, MultiOutputLayoutIsKeras3s) {
  TempDir dir;
  Model m = zoo::build("multi_output");
  m.save_weights(dir.path("w.weights.h5"));
  std::string td_inner = m.get_layer("time_distributed")->wrapped()->name();
  std::vector<std::string> want = {
      "layers",
      "layers/dense",
      "layers/dense/vars name=dense",
      "layers/dense/vars/0 f32(10, 10)",
      "layers/dense/vars/1 f32(10,)",
      "layers/dense_1",
      "layers/dense_1/vars name=dense_1",
      "layers/dense_1/vars/0 f32(10, 1)",
      "layers/dense_1/vars/1 f32(1,)",
      "layers/input_layer",
      "layers/input_layer/vars name=input_1",
      "layers/lstm",
      "layers/lstm/cell",
      "layers/lstm/cell/vars name=lstm_cell",
      "layers/lstm/cell/vars/0 f32(1, 40)",
      "layers/lstm/cell/vars/1 f32(10, 40)",
      "layers/lstm/cell/vars/2 f32(40,)",
      "layers/lstm/vars name=lstm",
      "layers/lstm_1",
      "layers/lstm_1/cell",
      "layers/lstm_1/cell/vars name=lstm_cell",
      "layers/lstm_1/cell/vars/0 f32(10, 40)",
      "layers/lstm_1/cell/vars/1 f32(10, 40)",
      "layers/lstm_1/cell/vars/2 f32(40,)",
      "layers/lstm_1/vars name=lstm_1",
      "layers/time_distributed",
      "layers/time_distributed/layer",
      "layers/time_distributed/layer/vars name=" + td_inner,
      "layers/time_distributed/layer/vars/0 f32(10, 1)",
      "layers/time_distributed/layer/vars/1 f32(1,)",
      "layers/time_distributed/vars name=time_distributed",
      "vars name=" + m.name(),
  };
  EXPECT_EQ(listing(dir.path("w.weights.h5")), want);
}

TEST(Keras3Weights, SequentialLeavesOutItsInputLayer) {
  TempDir dir;
  clear_session();
  Sequential s({Dense(4, {.input_dim = 3}), Dense(1)});
  s.save_weights(dir.path("s.weights.h5"));
  std::vector<std::string> got = listing(dir.path("s.weights.h5"));
  EXPECT_EQ(std::count_if(got.begin(), got.end(), [](const std::string& l) { return l.find("input") != l.npos; }), 0);
  EXPECT_NE(std::find(got.begin(), got.end(), "layers/dense_1/vars/0 f32(4, 1)"), got.end());
}

TEST(Keras3Weights, RoundTripEveryTutorialModel) {
  TempDir dir;
  for (const std::string& name : zoo::names()) {
    Model m = zoo::build(name);
    randomize(m, 23);
    m.save_weights(dir.path(name + ".weights.h5"));
    Model fresh = zoo::build(name);
    EXPECT_FALSE(same_weights(fresh.get_weights(), m.get_weights())) << name;
    fresh.load_weights(dir.path(name + ".weights.h5"));
    EXPECT_TRUE(same_weights(fresh.get_weights(), m.get_weights())) << name;
  }
}

// Keras picks the layout by the name; files get renamed, so loading looks at the content.
TEST(Keras3Weights, LoadingTellsTheLayoutsApartWhateverTheName) {
  TempDir dir;
  Model m = zoo::build("rnn");
  randomize(m, 41);
  m.save_weights(dir.path("k3.weights.h5"));
  m.save_weights(dir.path("legacy.h5"));
  EXPECT_NE(read_bytes(dir.path("k3.weights.h5")), read_bytes(dir.path("legacy.h5")));
  std::filesystem::copy_file(dir.path("k3.weights.h5"), dir.path("k3.h5"));
  std::filesystem::copy_file(dir.path("k3.weights.h5"), dir.path("k3.bin"));
  std::filesystem::copy_file(dir.path("legacy.h5"), dir.path("legacy.weights.h5"));
  std::filesystem::copy_file(dir.path("legacy.h5"), dir.path("legacy.bin"));
  for (const char* file : {"k3.weights.h5", "k3.h5", "k3.bin", "legacy.h5", "legacy.weights.h5", "legacy.bin"}) {
    Model fresh = zoo::build("rnn");
    fresh.load_weights(dir.path(file));
    EXPECT_TRUE(same_weights(fresh.get_weights(), m.get_weights())) << file;
  }
}

// --- a file written the way Keras 3.15 writes one (h5py on saving_lib's H5IOStore) ---

// A writer of Keras-style groups and datasets with the raw HDF5 C API (not Kiln's code).
class KerasFile {
 public:
  explicit KerasFile(const std::string& path) : f_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    lcpl_ = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl_, 1);
  }
  ~KerasFile() {
    H5Pclose(lcpl_);
    H5Fclose(f_);
  }
  hid_t file() const { return f_; }
  // saving_lib: H5IOStore.make(path, {"name": name}) -> <path>/vars with attrs["name"].
  void vars(const std::string& group, const std::string& name) {
    hid_t g = H5Gcreate2(f_, group.c_str(), lcpl_, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "name", t, s, H5P_DEFAULT, H5P_DEFAULT);
    const char* p = name.c_str();
    H5Awrite(a, t, &p);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Gclose(g);
  }
  // store["k"] = value: a contiguous dataset; values start, start + 0.001, ...
  void data(const std::string& path, std::vector<hsize_t> dims, float start, hid_t type = H5T_IEEE_F32LE) {
    hsize_t n = 1;
    for (hsize_t d : dims) n *= d;
    std::vector<float> v(n);
    for (hsize_t i = 0; i < n; ++i) v[i] = start + 0.001f * static_cast<float>(i);
    hid_t s = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(f_, path.c_str(), type, s, lcpl_, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Dclose(d);
    H5Sclose(s);
  }

 private:
  hid_t f_, lcpl_;
};

std::vector<float> ramp(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + 0.001f * static_cast<float>(i);
  return v;
}

// keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)]) compiled
// with Adam and fitted, then model.save_weights("f.weights.h5") in Keras 3.15: the model is
// named "sequential", the optimizer's variables (iterations, learning rate, momentums,
// velocities) are in optimizer/vars. `layers` is the group holding the layers (tf.keras 2.13
// wrote _layer_checkpoint_dependencies).
void write_keras_fixture(const std::string& path, const std::string& layers = "layers") {
  KerasFile k(path);
  k.vars("vars", "sequential");
  k.vars(layers + "/lstm/vars", "lstm");
  k.vars(layers + "/lstm/cell/vars", "lstm_cell");
  k.data(layers + "/lstm/cell/vars/0", {3, 16}, 0.5f);
  k.data(layers + "/lstm/cell/vars/1", {4, 16}, -0.25f);
  k.data(layers + "/lstm/cell/vars/2", {16}, 1.0f);
  k.vars(layers + "/dense/vars", "dense");
  k.data(layers + "/dense/vars/0", {4, 2}, 2.0f);
  k.data(layers + "/dense/vars/1", {2}, -1.0f, H5T_IEEE_F64LE);  // any float type converts
  k.vars("optimizer/vars", "adam");
  k.data("optimizer/vars/0", {}, 7.0f, H5T_STD_I64LE);
  k.data("optimizer/vars/1", {}, 0.001f);
  for (int i = 2; i < 12; ++i) k.data("optimizer/vars/" + std::to_string(i), {3, 16}, 0.0f);
}

// The same architecture in Kiln, with names Keras would not give.
Model fixture_model() {
  clear_session();
  Sequential s({LSTM(4, {.name = "encoder", .input_shape = std::vector<int64_t>{5, 3}}), Dense(2, {.name = "head"})});
  return s;
}

TEST(Keras3Weights, LoadsAFileWrittenTheWayKerasWritesIt) {
  TempDir dir;
  for (const std::string& group : {std::string("layers"), std::string("_layer_checkpoint_dependencies")}) {
    write_keras_fixture(dir.path("f.weights.h5"), group);
    Model m = fixture_model();
    m.load_weights(dir.path("f.weights.h5"));
    std::vector<Tensor> w = m.get_weights();
    ASSERT_EQ(w.size(), 5u);
    EXPECT_EQ(w[0].to_vector(), ramp(48, 0.5f)) << group;
    EXPECT_EQ(w[1].to_vector(), ramp(64, -0.25f)) << group;
    EXPECT_EQ(w[2].to_vector(), ramp(16, 1.0f)) << group;
    EXPECT_EQ(w[3].to_vector(), ramp(8, 2.0f)) << group;
    EXPECT_EQ(w[4].to_vector(), ramp(2, -1.0f)) << group;
  }
}

// tests/data/persistence/keras3_lstm_dense.weights.h5 is written by h5py (Debian's python3-h5py)
// replaying saving_lib's calls (make_keras3_weights.py beside it says how and which model).
TEST(Keras3Weights, LoadsAFileH5pyWroteTheWayKerasDoes) {
  Model m = fixture_model();
  m.load_weights(data_path("keras3_lstm_dense.weights.h5"));
  std::vector<Tensor> w = m.get_weights();
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0].to_vector(), ramp(48, 0.5f));
  EXPECT_EQ(w[1].to_vector(), ramp(64, -0.25f));
  EXPECT_EQ(w[2].to_vector(), ramp(16, 1.0f));
  EXPECT_EQ(w[3].to_vector(), ramp(8, 2.0f));
  EXPECT_EQ(w[4].to_vector(), ramp(2, -1.0f));
}

// Kiln's file for the same model, named as Keras names it, holds exactly what h5py wrote (every
// group, name attribute and its string type, dataset type, layout and shape), less the optimizer.
TEST(Keras3Weights, WritesWhatH5pyWritesForKeras) {
  TempDir dir;
  clear_session();
  Sequential s({LSTM(4, {.input_shape = std::vector<int64_t>{5, 3}}), Dense(2)});
  ASSERT_EQ(s.name(), "sequential");
  s.save_weights(dir.path("kiln.weights.h5"));
  std::vector<std::string> keras = listing(data_path("keras3_lstm_dense.weights.h5"));
  std::erase_if(keras, [](const std::string& l) { return l.rfind("optimizer", 0) == 0; });
  EXPECT_EQ(listing(dir.path("kiln.weights.h5")), keras);
  EXPECT_EQ(keras.size(), 13u);  // not two empty listings
}

TEST(Keras3Weights, MismatchNamesLayerAndShapes) {
  TempDir dir;
  zoo::build("mlp").save_weights(dir.path("w.weights.h5"));
  auto mlp_like = [](int64_t third) {
    clear_session();
    auto x = Input({10});
    auto h1 = Dense(10)(x);
    auto h2 = Dense(20)(h1);
    auto h3 = Dense(third)(h2);
    return Model(x, Dense(1)(h3));
  };
  Model other = mlp_like(20);  // the MLP has Dense(10) here
  std::vector<Tensor> before = other.get_weights();
  std::string msg = error_of([&] { other.load_weights(dir.path("w.weights.h5")); });
  EXPECT_NE(msg.find("at layer \"dense_2\" (layers/dense_2/vars)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel (20, 20)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0 (20, 10)"), std::string::npos) << msg;
  EXPECT_TRUE(same_weights(other.get_weights(), before));

  // One layer fewer: the file's layers/dense_3 would be dropped.
  clear_session();
  auto x = Input({10});
  auto h1 = Dense(10)(x);
  auto h2 = Dense(20)(h1);
  Model shorter(x, Dense(10)(h2));
  msg = error_of([&] { shorter.load_weights(dir.path("w.weights.h5")); });
  EXPECT_NE(msg.find("weights under layers/dense_3, which no layer of the model takes"), std::string::npos) << msg;
  // One layer more: nothing in the file for it.
  shorter.save_weights(dir.path("short.weights.h5"));
  Model mlp = zoo::build("mlp");
  msg = error_of([&] { mlp.load_weights(dir.path("short.weights.h5")); });
  EXPECT_NE(msg.find("no group layers/dense_3/vars for the layer \"dense_3\""), std::string::npos) << msg;
  // A layer without weights in Kiln that has some in the file.
  {
    KerasFile k(dir.path("extra.weights.h5"));
    k.vars("layers/input_layer/vars", "input_layer");
    k.data("layers/input_layer/vars/0", {2}, 0.0f);
  }
  msg = error_of([&] { mlp.load_weights(dir.path("extra.weights.h5")); });
  EXPECT_NE(msg.find("at layer \"input_1\" (layers/input_layer/vars)"), std::string::npos) << msg;
}

// Hostile files: every one fails with a kiln::Error and leaves the model alone.
TEST(Keras3Weights, HostileFilesFailClearly) {
  TempDir dir;
  Model m = fixture_model();
  std::vector<Tensor> before = m.get_weights();
  auto msg = [&](const std::string& file) { return error_of([&] { m.load_weights(dir.path(file)); }); };
  auto edit = [&](const std::string& file, const std::function<void(hid_t)>& change) {
    write_keras_fixture(dir.path(file));
    hid_t f = H5Fopen(dir.path(file).c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    change(f);
    H5Fclose(f);
  };
  // A dimension far beyond the model's: rejected by shape before anything is allocated.
  edit("huge.weights.h5", [](hid_t f) {
    H5Ldelete(f, "layers/dense/vars/0", H5P_DEFAULT);
    hsize_t dims[2] = {hsize_t{1} << 38, 2}, maxdims[2] = {H5S_UNLIMITED, 2}, chunk[2] = {1, 2};
    hid_t s = H5Screate_simple(2, dims, maxdims);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, 2, chunk);
    H5Dclose(H5Dcreate2(f, "layers/dense/vars/0", H5T_IEEE_F32LE, s, H5P_DEFAULT, p, H5P_DEFAULT));
    H5Pclose(p);
    H5Sclose(s);
  });
  EXPECT_NE(msg("huge.weights.h5").find("0 (274877906944, 2)"), std::string::npos) << msg("huge.weights.h5");
  // Names that are not 0, 1, ...
  edit("names.weights.h5", [](hid_t f) { H5Lmove(f, "layers/dense/vars/1", f, "layers/dense/vars/bias", H5P_DEFAULT, H5P_DEFAULT); });
  EXPECT_NE(msg("names.weights.h5").find("holds 2 entries but no dataset \"1\""), std::string::npos)
      << msg("names.weights.h5");
  // Links that lead elsewhere: a soft link, an external link to another file.
  edit("soft.weights.h5", [](hid_t f) {
    H5Lmove(f, "layers/dense", f, "elsewhere", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("/elsewhere", f, "layers/dense", H5P_DEFAULT, H5P_DEFAULT);
  });
  EXPECT_NE(msg("soft.weights.h5").find("soft or external link"), std::string::npos) << msg("soft.weights.h5");
  write_keras_fixture(dir.path("other.h5"));
  edit("external.weights.h5", [&](hid_t f) {
    H5Ldelete(f, "layers/dense/vars/0", H5P_DEFAULT);
    H5Lcreate_external(dir.path("other.h5").c_str(), "/layers/dense/vars/0", f, "layers/dense/vars/0", H5P_DEFAULT,
                       H5P_DEFAULT);
  });
  EXPECT_NE(msg("external.weights.h5").find("soft or external link"), std::string::npos);
  // A dataset whose bytes live in an external raw file.
  edit("rawfile.weights.h5", [&](hid_t f) {
    H5Ldelete(f, "layers/dense/vars/0", H5P_DEFAULT);
    hsize_t dims[2] = {4, 2};
    hid_t s = H5Screate_simple(2, dims, nullptr);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(p, dir.path("raw.bin").c_str(), 0, 32);
    H5Dclose(H5Dcreate2(f, "layers/dense/vars/0", H5T_IEEE_F32LE, s, H5P_DEFAULT, p, H5P_DEFAULT));
    H5Pclose(p);
    H5Sclose(s);
  });
  EXPECT_NE(msg("rawfile.weights.h5").find("external file"), std::string::npos) << msg("rawfile.weights.h5");
  // A group where a dataset belongs, strings where numbers belong.
  edit("group.weights.h5", [](hid_t f) {
    H5Ldelete(f, "layers/dense/vars/1", H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "layers/dense/vars/1", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  });
  EXPECT_NE(msg("group.weights.h5").find("layers/dense/vars/1 is not a dataset"), std::string::npos)
      << msg("group.weights.h5");
  edit("strings.weights.h5", [](hid_t f) {
    H5Ldelete(f, "layers/dense/vars/1", H5P_DEFAULT);
    hsize_t n = 2;
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    H5Dclose(H5Dcreate2(f, "layers/dense/vars/1", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Tclose(t);
    H5Sclose(s);
  });
  EXPECT_NE(msg("strings.weights.h5").find("does not hold numbers"), std::string::npos) << msg("strings.weights.h5");
  // No group for a layer that has weights.
  edit("missing.weights.h5", [](hid_t f) { H5Ldelete(f, "layers/lstm/cell", H5P_DEFAULT); });
  EXPECT_NE(msg("missing.weights.h5").find("no group layers/lstm/cell/vars for the layer \"encoder\""),
            std::string::npos)
      << msg("missing.weights.h5");
  EXPECT_TRUE(same_weights(m.get_weights(), before));
}

TEST(Keras3Weights, TruncatedFilesFail) {
  TempDir dir;
  Model m = zoo::build("mlp");
  std::vector<Tensor> before = m.get_weights();
  Model saved = zoo::build("mlp");
  randomize(saved, 9);
  saved.save_weights(dir.path("good.weights.h5"));
  std::string good = read_bytes(dir.path("good.weights.h5"));
  for (size_t n : {size_t{0}, size_t{8}, size_t{512}, good.size() / 2, good.size() - 100, good.size() - 1}) {
    write_bytes(dir.path("trunc.weights.h5"), good.substr(0, n));
    EXPECT_FALSE(error_of([&] { m.load_weights(dir.path("trunc.weights.h5")); }).empty()) << n;
    EXPECT_TRUE(same_weights(m.get_weights(), before)) << n;
  }
}

}  // namespace
