// Tests for .npy and .csv I/O: round trips, files as numpy writes them, and
// one test per malformed-file error (each must name the file and the problem).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "runtime/io.h"
#include "test_util.h"

namespace kiln::rt_test {
namespace {

namespace fs = std::filesystem;
using runtime::CsvOptions;

const std::string kData = std::string(KILN_TEST_DATA) + "/runtime/";

class IoTest : public ::testing::Test {
 protected:
  fs::path dir_;
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_rt_io_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // A .npy file with the given header dict and data bytes (version 1.0).
  std::string npy(const std::string& name, const std::string& dict, const std::string& data) {
    std::string h = dict + "\n";
    std::string pre = std::string("\x93NUMPY\x01\x00", 8);
    pre += static_cast<char>(h.size() & 0xff);
    pre += static_cast<char>(h.size() >> 8);
    return file(name, pre + h + data);
  }
};

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no kiln::Error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// --- npy ---

TEST_F(IoTest, NpyRoundTripAllDtypes) {
  std::vector<Tensor> ts{random_tensor({3, 4, 5}, 1), Tensor({}, {2.5f}), Tensor({3}, {1, 2, 3}), Tensor::zeros({0, 3}),
                         i32({2, 2}, {-1, 2, 3, 2147483647}), i1({5}, {1, 0, 0, 1, 1})};
  for (size_t i = 0; i < ts.size(); ++i) {
    std::string p = (dir_ / ("t" + std::to_string(i) + ".npy")).string();
    runtime::write_npy(p, ts[i]);
    Tensor r = runtime::read_npy(p);
    ASSERT_EQ(r.dtype(), ts[i].dtype());
    ASSERT_EQ(r.shape(), ts[i].shape());
    ASSERT_EQ(0, std::memcmp(r.raw(), ts[i].raw(), r.nbytes()));
    // numpy's layout: the data starts 64-byte aligned after a '\n'-terminated header.
    EXPECT_EQ((fs::file_size(p) - r.nbytes()) % 64, 0u);
  }
  // Only the target is left behind (no temporary files).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), static_cast<long>(ts.size()));
}

TEST_F(IoTest, NpyHeaderBytesMatchNumpy) {
  std::string p = (dir_ / "a.npy").string();
  runtime::write_npy(p, Tensor({2, 3}, {0, 1, 2, 3, 4, 5}));
  std::ifstream a(p, std::ios::binary), b(kData + "arange_2x3_f4.npy", std::ios::binary);
  std::string sa((std::istreambuf_iterator<char>(a)), {}), sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(sa, sb);
  runtime::write_npy(p, Tensor({2}, {7, 8}));  // overwrites atomically
  expect_equal(runtime::read_npy(p), Tensor({2}, {7, 8}));
}

TEST_F(IoTest, NpyReadsNumpyFiles) {
  expect_equal(runtime::read_npy(kData + "arange_2x3_f4.npy"), Tensor({2, 3}, {0, 1, 2, 3, 4, 5}));
  expect_equal(runtime::read_npy(kData + "values_3_f8.npy"), Tensor({3}, {0.5f, -1.25f, 1e-3f}));
  EXPECT_EQ(ints(runtime::read_npy(kData + "labels_4_i8.npy")), (std::vector<int32_t>{0, 1, -2, 7}));
  EXPECT_EQ(bools(runtime::read_npy(kData + "mask_2x2_b1.npy")), (std::vector<int>{1, 0, 0, 1}));
  EXPECT_EQ(ints(runtime::read_npy(kData + "arange_2x2_i4_v2.npy")), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST_F(IoTest, NpyMissingFile) {
  expect_error([&] { runtime::read_npy((dir_ / "nope.npy").string()); }, {"nope.npy", "cannot open"});
}

TEST_F(IoTest, NpyBadMagic) {
  std::string p = file("bad.npy", "PK\x03\x04 this is a zip file");
  expect_error([&] { runtime::read_npy(p); }, {p, "bad magic"});
  std::string q = file("short.npy", "\x93NU");
  expect_error([&] { runtime::read_npy(q); }, {q, "not a .npy file"});
}

TEST_F(IoTest, NpyBadVersion) {
  std::string p = file("v9.npy", std::string("\x93NUMPY\x09\x00\x10\x00", 10) + std::string(16, ' '));
  expect_error([&] { runtime::read_npy(p); }, {p, "version 9.0"});
}

TEST_F(IoTest, NpyTruncatedHeader) {
  std::string p = file("trunc.npy", std::string("\x93NUMPY\x01\x00\x76\x00", 10) + "{'descr': '<f4', ");
  expect_error([&] { runtime::read_npy(p); }, {p, "truncated header"});
}

TEST_F(IoTest, NpyMalformedHeader) {
  std::string p = npy("m1.npy", "{'descr': '<f4', 'fortran_order': False}", "");
  expect_error([&] { runtime::read_npy(p); }, {p, "malformed header", "'shape'"});
  std::string q = npy("m2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "");
  expect_error([&] { runtime::read_npy(q); }, {q, "malformed header"});
  std::string r = npy("m3.npy", "['descr', '<f4']", "");
  expect_error([&] { runtime::read_npy(r); }, {r, "malformed header"});
  std::string s = npy("m4.npy", "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", "");
  expect_error([&] { runtime::read_npy(s); }, {s, "True or False"});
}

TEST_F(IoTest, NpyFortranOrder) {
  std::string p = npy("f.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", std::string(4, '\0'));
  expect_error([&] { runtime::read_npy(p); }, {p, "fortran_order=True"});
}

TEST_F(IoTest, NpyBigEndian) {
  std::string p = npy("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
  expect_error([&] { runtime::read_npy(p); }, {p, "big-endian"});
}

TEST_F(IoTest, NpyUnsupportedDtype) {
  std::string p = npy("c.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
  expect_error([&] { runtime::read_npy(p); }, {p, "unsupported dtype '<c8'"});
  std::string q = npy("u.npy", "{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", std::string(20, '\0'));
  expect_error([&] { runtime::read_npy(q); }, {q, "unsupported dtype '<U5'"});
}

TEST_F(IoTest, NpyDataShorterOrLongerThanHeader) {
  std::string p = npy("s.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", std::string(20, '\0'));
  expect_error([&] { runtime::read_npy(p); }, {p, "shorter than the header says", "24 bytes", "has 20"});
  std::string q = npy("l.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(12, '\0'));
  expect_error([&] { runtime::read_npy(q); }, {q, "longer than the header says"});
}

TEST_F(IoTest, NpyAbsurdShape) {
  // 2^40 x 2^40 elements: must fail from the file size, without trying to allocate.
  std::string p = npy("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
                      std::string(16, '\0'));
  expect_error([&] { runtime::read_npy(p); }, {p, "(1099511627776, 1099511627776)", "shorter than the header says"});
  std::string q = npy("big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", "");
  expect_error([&] { runtime::read_npy(q); }, {q, "absurdly large"});
}

TEST_F(IoTest, NpyInt64OutOfRange) {
  std::string data(8, '\0');
  data[7] = 0x10;  // 2^60
  std::string p = npy("i8.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", data);
  expect_error([&] { runtime::read_npy(p); }, {p, "does not fit in i32"});
}

TEST_F(IoTest, NpyWriteIntoMissingDirectory) {
  std::string p = (dir_ / "no" / "such" / "dir" / "x.npy").string();
  expect_error([&] { runtime::write_npy(p, Tensor({1}, {1})); }, {p, "temporary file"});
}

// --- csv ---

TEST_F(IoTest, CsvWithHeaderAuto) {
  runtime::CsvTable t = runtime::read_csv_table(kData + "iris_head.csv");
  EXPECT_EQ(t.header,
            (std::vector<std::string>{"sepal_length", "sepal_width", "petal_length", "petal_width", "species"}));
  ASSERT_EQ(t.data.shape(), (Dims{4, 5}));
  EXPECT_EQ(t.data.data()[5], 4.9f);
  EXPECT_EQ(t.data.data()[19], 2.0f);
}

TEST_F(IoTest, CsvWithoutHeader) {
  std::string p = file("n.csv", "1,2.5,-3\n4e2, +5 ,6\n");
  expect_equal(runtime::read_csv(p), Tensor({2, 3}, {1, 2.5f, -3, 400, 5, 6}));
  runtime::CsvTable t = runtime::read_csv_table(p, {.header = CsvOptions::Header::No});
  EXPECT_TRUE(t.header.empty());
  // Header::Yes takes the first row as names even when numeric.
  runtime::CsvTable h = runtime::read_csv_table(p, {.header = CsvOptions::Header::Yes});
  EXPECT_EQ(h.header, (std::vector<std::string>{"1", "2.5", "-3"}));
  expect_equal(h.data, Tensor({1, 3}, {400, 5, 6}));
}

TEST_F(IoTest, CsvSkipRowsDropsABanner) {
  // scikit-learn's breast_cancer.csv starts with "569,30,malignant,benign" before the data.
  std::string p = file("s.csv", "3,2,malignant,benign\n1,2,0\n3,4,1\n5,6,0\n");
  runtime::CsvTable t = runtime::read_csv_table(p, {.header = CsvOptions::Header::No, .skip_rows = 1});
  EXPECT_TRUE(t.header.empty());
  expect_equal(t.data, Tensor({3, 3}, {1, 2, 0, 3, 4, 1, 5, 6, 0}));
  expect_error([&] { runtime::read_csv(p); }, {p + ":2", "row has 3 column(s), expected 4"});
}

TEST_F(IoTest, CsvDialect) {
  // BOM, CRLF, blank lines, quotes, a custom delimiter, nan and inf.
  std::string p = file("d.csv", "\xEF\xBB\xBF\"a;b\";c\r\n\r\n\"1.5\";2\r\n  \n nan ; -inf\n");
  runtime::CsvTable t = runtime::read_csv_table(p, {.delimiter = ';'});
  EXPECT_EQ(t.header, (std::vector<std::string>{"a;b", "c"}));
  ASSERT_EQ(t.data.shape(), (Dims{2, 2}));
  EXPECT_EQ(t.data.data()[0], 1.5f);
  EXPECT_TRUE(std::isnan(t.data.data()[2]));
  EXPECT_EQ(t.data.data()[3], -std::numeric_limits<float>::infinity());
  std::string h = file("h.csv", "x,y\n");
  EXPECT_EQ(runtime::read_csv(h).shape(), (Dims{0, 2}));
}

TEST_F(IoTest, CsvNonNumericCellNamesLineAndColumn) {
  std::string p = file("bad.csv", "a,b,c\n1,2,3\n\n4,oops,6\n");
  expect_error([&] { runtime::read_csv(p); }, {p + ":4", "column 2", "(\"b\")", "'oops' is not a number"});
  std::string q = file("bad2.csv", "1,2\n3,4x\n");
  expect_error([&] { runtime::read_csv(q); }, {q + ":2", "column 2", "'4x'"});
  std::string r = file("empty_cell.csv", "1,2\n3,\n");
  expect_error([&] { runtime::read_csv(r); }, {r + ":2", "column 2", "empty cell"});
}

TEST_F(IoTest, CsvRaggedRow) {
  std::string p = file("rag.csv", "a,b\n1,2\n3,4\n5,6,7\n");
  expect_error([&] { runtime::read_csv(p); }, {p + ":4", "3 column(s), expected 2", "line 1"});
  std::string q = file("rag2.csv", "1,2,3\n4,5\n");
  expect_error([&] { runtime::read_csv(q); }, {q + ":2", "2 column(s), expected 3"});
}

TEST_F(IoTest, CsvQuoteErrors) {
  std::string p = file("q.csv", "1,\"2\n");
  expect_error([&] { runtime::read_csv(p); }, {p + ":1", "column 2", "unterminated quote"});
  std::string q = file("q2.csv", "1,\"2\"x\n");
  expect_error([&] { runtime::read_csv(q); }, {q + ":1", "column 2", "after a closing quote"});
}

TEST_F(IoTest, CsvEmptyAndMissing) {
  std::string p = file("e.csv", "\n  \n");
  expect_error([&] { runtime::read_csv(p); }, {p, "empty"});
  expect_error([&] { runtime::read_csv((dir_ / "missing.csv").string()); }, {"missing.csv", "cannot open"});
}

}  // namespace
}  // namespace kiln::rt_test
