// save_weights / load_weights in Kiln's binary format: round trips, the
// documented layout, architecture mismatches named by layer and shape, and
// every truncation and many corruptions of a real file failing cleanly with
// the model left untouched.
#include <random>

#include "test_util.h"
#include "zoo.h"

using namespace kiln;
using namespace kiln::test;

namespace {

TEST(KilnWeights, RoundTripEveryTutorialModel) {
  TempDir dir;
  for (const std::string& name : zoo::names()) {
    Model m = zoo::build(name);
    randomize(m, 11);
    m.save_weights(dir.path(name + ".kw"));
    Model fresh = zoo::build(name);
    ASSERT_FALSE(same_weights(fresh.get_weights(), m.get_weights()));
    fresh.load_weights(dir.path(name + ".kw"));
    EXPECT_TRUE(same_weights(fresh.get_weights(), m.get_weights())) << name;
  }
}

TEST(KilnWeights, LayoutIsAsDocumented) {
  TempDir dir;
  clear_session();
  auto x = Input({2});
  Model m(x, Dense(3, {.name = "d"})(x));
  m.set_weights({Tensor({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor({3}, {7, 8, 9})});
  m.save_weights(dir.path("w.kw"));
  std::string b = read_bytes(dir.path("w.kw"));
  size_t expected = 8 + 4 + 4                                       // magic, version, layer count
                    + (4 + 7 + 4)                                   // "input_1", 0 weights
                    + (4 + 1 + 4)                                   // "d", 2 weights
                    + (4 + 6 + 2 + 16 + 24) + (4 + 4 + 2 + 8 + 12)  // kernel (2, 3), bias (3,)
                    + 8;                                            // checksum
  ASSERT_EQ(b.size(), expected);
  EXPECT_EQ(b.substr(0, 8), std::string("\x89KILNWT\n", 8));
  EXPECT_EQ(b[8], 1);   // version
  EXPECT_EQ(b[12], 2);  // layers: input_1, d
  EXPECT_EQ(b.substr(20, 7), "input_1");
  EXPECT_EQ(b.substr(35, 1), "d");
  EXPECT_EQ(b.substr(44, 6), "kernel");
  EXPECT_EQ(b[50], 1);  // f32
  EXPECT_EQ(b[51], 2);  // rank
  float first;
  std::memcpy(&first, b.data() + 52 + 16, 4);
  EXPECT_EQ(first, 1.0f);
}

TEST(KilnWeights, MismatchNamesTheFirstLayerAndShapes) {
  TempDir dir;
  zoo::build("mlp").save_weights(dir.path("mlp.kw"));
  clear_session();
  auto x = Input({10});
  auto h = Dense(10, {.activation = "relu"})(x);
  auto h2 = Dense(30, {.activation = "relu"})(h);
  Model other(x, Dense(1)(Dense(10)(h2)));
  std::string msg = error_of([&] { other.load_weights(dir.path("mlp.kw")); });
  EXPECT_NE(msg.find("at layer \"dense_1\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel (10, 30)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kernel (10, 20)"), std::string::npos) << msg;

  clear_session();
  auto y = Input({10});
  Model shorter(y, Dense(10, {.activation = "relu"})(y));
  msg = error_of([&] { shorter.load_weights(dir.path("mlp.kw")); });
  EXPECT_NE(msg.find("layer count mismatch: the model has 1 layers with weights, the file has 4"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("the file's layer \"dense_1\""), std::string::npos) << msg;
}

TEST(KilnWeights, EveryTruncationFailsAndLeavesTheModelAlone) {
  TempDir dir;
  Model m = zoo::build("mlp");
  randomize(m, 5);
  m.save_weights(dir.path("w.kw"));
  std::string bytes = read_bytes(dir.path("w.kw"));
  Model target = zoo::build("mlp");
  std::vector<Tensor> before = target.get_weights();
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(dir.path("t.kw"), bytes.substr(0, n));
    std::string msg = error_of([&] { target.load_weights(dir.path("t.kw")); });
    EXPECT_FALSE(msg.empty()) << "truncated to " << n;
  }
  EXPECT_TRUE(same_weights(target.get_weights(), before));
  // Extra bytes are an error too.
  write_bytes(dir.path("t.kw"), bytes + "x");
  EXPECT_NE(error_of([&] { target.load_weights(dir.path("t.kw")); }).find("unexpected bytes"), std::string::npos);
}

TEST(KilnWeights, CorruptionsAreCaught) {
  TempDir dir;
  Model m = zoo::build("mlp");
  m.save_weights(dir.path("w.kw"));
  std::string bytes = read_bytes(dir.path("w.kw"));
  Model target = zoo::build("mlp");
  std::vector<Tensor> before = target.get_weights();
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string b = bytes;
    size_t pos = rng() % b.size();
    b[pos] = static_cast<char>(b[pos] ^ (1 + rng() % 255));
    write_bytes(dir.path("c.kw"), b);
    EXPECT_FALSE(error_of([&] { target.load_weights(dir.path("c.kw")); }).empty()) << "byte " << pos;
  }
  EXPECT_TRUE(same_weights(target.get_weights(), before));
}

// Hand-made headers that claim absurd sizes: rejected before any allocation.
TEST(KilnWeights, AbsurdSizesAreRejectedBeforeAllocating) {
  TempDir dir;
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto u64 = [](uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); };
  std::string head = std::string("\x89KILNWT\n", 8) + u32(1);
  Model m = zoo::build("mlp");
  auto msg_for = [&](const std::string& body) {
    write_bytes(dir.path("h.kw"), head + body);
    return error_of([&] { m.load_weights(dir.path("h.kw")); });
  };
  EXPECT_NE(msg_for(u32(0xffffffffu)).find("layer count 4294967295 does not fit"), std::string::npos);
  EXPECT_NE(msg_for(u32(1) + u32(0x7fffffffu) + std::string(16, '\0')).find("a layer name is 2147483647 bytes long"),
            std::string::npos);
  std::string weight = u32(1) + u32(1) + "d" + u32(1) + u32(1) + "k";
  EXPECT_NE(msg_for(weight + "\x01\x02" + u64(1ull << 62) + u64(1ull << 62)).find("needs more data than the file"),
            std::string::npos);
  EXPECT_NE(msg_for(weight + "\x01\x02" + u64(static_cast<uint64_t>(-5))).find("negative dimension"),
            std::string::npos);
  EXPECT_NE(msg_for(weight + "\x01\x09").find("rank 9"), std::string::npos);
  EXPECT_NE(msg_for(weight + "\x02\x01").find("dtype code 2"), std::string::npos);
  write_bytes(dir.path("v.kw"), std::string("\x89KILNWT\n", 8) + u32(7));
  EXPECT_NE(error_of([&] { m.load_weights(dir.path("v.kw")); }).find("version 7"), std::string::npos);
  EXPECT_NE(error_of([&] { m.load_weights(dir.path("missing.kw")); }).find("cannot open"), std::string::npos);
  write_bytes(dir.path("text.kw"), "hello world, this is not a weights file");
  EXPECT_NE(error_of([&] { m.load_weights(dir.path("text.kw")); }).find("bad magic"), std::string::npos);
}

TEST(KilnWeights, SaveErrorsAreClear) {
  Model m = zoo::build("mlp");
  EXPECT_NE(error_of([&] { m.save_weights("/nonexistent-dir/w.kw"); }).find("cannot create a temporary file"),
            std::string::npos);
  TempDir dir;
  EXPECT_NE(error_of([&] { m.save_weights(dir.dir()); }).find("is a directory"), std::string::npos);
}

}  // namespace
