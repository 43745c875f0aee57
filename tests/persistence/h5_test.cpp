// save_weights / load_weights with .h5: tf.keras 2.x's HDF5 layout checked
// through the HDF5 C API, round trips, Keras's attribute chunking and
// whole-model files, and broken files (not HDF5, truncated, missing groups or
// datasets, wrong shapes) failing with clear errors.
#include <hdf5.h>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;

namespace {

std::vector<std::string> string_attr(hid_t obj, const char* name) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  EXPECT_GE(a, 0) << name;
  hid_t t = H5Aget_type(a), s = H5Aget_space(a);
  size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(s));
  std::vector<std::string> out;
  if (H5Tget_class(t) == H5T_STRING && n > 0) {
    size_t w = H5Tget_size(t);
    std::vector<char> buf(n * w);
    H5Aread(a, t, buf.data());
    for (size_t i = 0; i < n; ++i) out.emplace_back(buf.data() + i * w, strnlen(buf.data() + i * w, w));
  }
  H5Tclose(t);
  H5Sclose(s);
  H5Aclose(a);
  return out;
}

std::vector<hsize_t> dataset_dims(hid_t file, const char* path) {
  hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  hid_t s = H5Dget_space(d);
  std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(s)));
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  H5Sclose(s);
  H5Dclose(d);
  return dims;
}

TEST(H5Weights, KerasLayout) {
  TempDir dir;
  Model m = zoo::build("mlp");
  randomize(m, 3);
  m.save_weights(dir.path("w.h5"));
  hid_t f = H5Fopen(dir.path("w.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(string_attr(f, "layer_names"),
            (std::vector<std::string>{"input_1", "dense", "dense_1", "dense_2", "dense_3"}));
  EXPECT_EQ(string_attr(f, "backend"), std::vector<std::string>{"tensorflow"});
  EXPECT_EQ(string_attr(f, "keras_version"), std::vector<std::string>{"2.13.1"});
  hid_t g = H5Gopen2(f, "dense_1", H5P_DEFAULT);
  EXPECT_EQ(string_attr(g, "weight_names"), (std::vector<std::string>{"dense_1/kernel:0", "dense_1/bias:0"}));
  H5Gclose(g);
  hid_t in = H5Gopen2(f, "input_1", H5P_DEFAULT);
  EXPECT_TRUE(string_attr(in, "weight_names").empty());
  H5Gclose(in);
  EXPECT_EQ(dataset_dims(f, "/dense_1/dense_1/kernel:0"), (std::vector<hsize_t>{10, 20}));
  EXPECT_EQ(dataset_dims(f, "/dense_1/dense_1/bias:0"), (std::vector<hsize_t>{20}));
  // The data is the weight, row-major float32.
  std::vector<float> kernel(200);
  hid_t d = H5Dopen2(f, "/dense_1/dense_1/kernel:0", H5P_DEFAULT);
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, kernel.data());
  H5Dclose(d);
  H5Fclose(f);
  EXPECT_EQ(kernel, m.get_layer("dense_1")->get_weights()[0].to_vector());
}

TEST(H5Weights, RoundTripEveryTutorialModel) {
  TempDir dir;
  for (const std::string& name : zoo::names()) {
    Model m = zoo::build(name);
    randomize(m, 17);
    m.save_weights(dir.path(name + ".h5"));
    Model fresh = zoo::build(name);
    fresh.load_weights(dir.path(name + ".h5"));
    EXPECT_TRUE(same_weights(fresh.get_weights(), m.get_weights())) << name;
  }
}

TEST(H5Weights, SequentialLeavesOutItsInputLayer) {
  TempDir dir;
  clear_session();
  Sequential s({Dense(4, {.input_dim = 3}), Dense(1)});
  s.save_weights(dir.path("s.h5"));
  hid_t f = H5Fopen(dir.path("s.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_EQ(string_attr(f, "layer_names"), (std::vector<std::string>{"dense", "dense_1"}));
  H5Fclose(f);
}

TEST(H5Weights, MismatchNamesLayerAndShapes) {
  TempDir dir;
  zoo::build("mlp").save_weights(dir.path("w.h5"));
  clear_session();
  auto x = Input({10});
  auto h1 = Dense(10)(x);
  auto h2 = Dense(20)(h1);
  auto h3 = Dense(20)(h2);  // the MLP has Dense(10) here
  Model other(x, Dense(1)(h3));
  std::string msg = error_of([&] { other.load_weights(dir.path("w.h5")); });
  EXPECT_NE(msg.find("at layer \"dense_2\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("dense_2/kernel:0 (20, 10)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel (20, 20)"), std::string::npos) << msg;
}

// Writes a Keras-style file by hand: `layers` maps group -> (weight name -> shape); the
// layer_names attribute is split into `chunks` attributes like Keras does for big ones.
void write_h5(
    const std::string& path,
    const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<hsize_t>>>>>& layers,
    int chunks = 1, const char* group = nullptr) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t root = group ? H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : f;
  auto strings = [](hid_t obj, const std::string& name, const std::vector<std::string>& v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 64);
    std::vector<char> buf(v.size() * 64, 0);
    for (size_t i = 0; i < v.size(); ++i) std::memcpy(buf.data() + i * 64, v[i].data(), v[i].size());
    hsize_t n = v.size();
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t a = H5Acreate2(obj, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, buf.data());
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  };
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.first);
  if (chunks == 1) {
    strings(root, "layer_names", names);
  } else {
    size_t per = (names.size() + static_cast<size_t>(chunks) - 1) / static_cast<size_t>(chunks);
    for (int c = 0; c < chunks; ++c) {
      size_t b = std::min(names.size(), per * static_cast<size_t>(c)), e = std::min(names.size(), b + per);
      strings(root, "layer_names" + std::to_string(c), std::vector<std::string>(names.begin() + b, names.begin() + e));
    }
  }
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const auto& [lname, ws] : layers) {
    hid_t g = H5Gcreate2(root, lname.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::string> wn;
    for (const auto& w : ws) wn.push_back(w.first);
    strings(g, "weight_names", wn);
    for (const auto& [wname, dims] : ws) {
      if (dims.empty()) continue;  // listed but missing
      hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
      hid_t d = H5Dcreate2(g, wname.c_str(), H5T_IEEE_F64LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      hsize_t n = 1;
      for (hsize_t x : dims) n *= x;
      std::vector<double> v(n, 0.25);
      H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
      H5Dclose(d);
      H5Sclose(s);
    }
    H5Gclose(g);
  }
  H5Pclose(lcpl);
  if (group) H5Gclose(root);
  H5Fclose(f);
}

Model tiny() {
  clear_session();
  auto x = Input({3});
  return Model(x, Dense(2)(x));
}

TEST(H5Weights, ReadsKerasChunkedAttributesFloat64AndWholeModelFiles) {
  TempDir dir;
  auto layers = std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<hsize_t>>>>>{
      {"input_1", {}}, {"dense", {{"dense/kernel:0", {3, 2}}, {"dense/bias:0", {2}}}}};
  write_h5(dir.path("chunked.h5"), layers, 2);
  Model m = tiny();
  m.load_weights(dir.path("chunked.h5"));
  EXPECT_EQ(m.get_weights()[0].to_vector(), std::vector<float>(6, 0.25f));
  write_h5(dir.path("whole.h5"), layers, 1, "model_weights");
  Model w = tiny();
  w.load_weights(dir.path("whole.h5"));
  EXPECT_EQ(w.get_weights()[1].to_vector(), std::vector<float>(2, 0.25f));
}

TEST(H5Weights, BrokenFilesFailClearly) {
  TempDir dir;
  Model m = tiny();
  std::vector<Tensor> before = m.get_weights();
  auto msg = [&](const std::string& file) { return error_of([&] { m.load_weights(dir.path(file)); }); };
  EXPECT_NE(msg("missing.h5").find("no such file"), std::string::npos);
  write_bytes(dir.path("text.h5"), "not hdf5 at all");
  EXPECT_NE(msg("text.h5").find("not an HDF5 file"), std::string::npos);

  m.save_weights(dir.path("good.h5"));
  std::string good = read_bytes(dir.path("good.h5"));
  for (size_t n : {good.size() / 2, good.size() - 100, good.size() - 1}) {
    write_bytes(dir.path("trunc.h5"), good.substr(0, n));
    EXPECT_FALSE(msg("trunc.h5").empty()) << n;
  }

  using L = std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::vector<hsize_t>>>>>;
  write_h5(dir.path("nogroup.h5"), L{{"dense", {{"dense/kernel:0", {3, 2}}}}});
  {  // drop the group "dense" but keep it in layer_names
    hid_t f = H5Fopen(dir.path("nogroup.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "dense", H5P_DEFAULT);
    H5Fclose(f);
  }
  EXPECT_NE(msg("nogroup.h5").find("has no group for it"), std::string::npos) << msg("nogroup.h5");
  write_h5(dir.path("nodata.h5"), L{{"dense", {{"dense/kernel:0", {3, 2}}, {"dense/bias:0", {}}}}});
  EXPECT_NE(msg("nodata.h5").find("lists the weight \"dense/bias:0\", but the file has no dataset"), std::string::npos);
  write_h5(dir.path("shape.h5"), L{{"dense", {{"dense/kernel:0", {3, 5}}, {"dense/bias:0", {5}}}}});
  std::string s = msg("shape.h5");
  EXPECT_NE(s.find("at layer \"dense\""), std::string::npos) << s;
  EXPECT_NE(s.find("dense/kernel:0 (3, 5)"), std::string::npos) << s;
  {  // no layer_names at all, and a Keras 3 style file
    hid_t f = H5Fcreate(dir.path("empty.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    f = H5Fcreate(dir.path("k3.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
  }
  EXPECT_NE(msg("empty.h5").find("layer_names is missing"), std::string::npos);
  // A "layers" group makes it Keras 3's layout, whatever the name (keras3_h5_test.cpp).
  EXPECT_NE(msg("k3.h5").find("no group layers/dense/vars"), std::string::npos) << msg("k3.h5");
  EXPECT_TRUE(same_weights(m.get_weights(), before));
}

}  // namespace
