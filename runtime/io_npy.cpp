// .npy reading and writing (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Layout: "\x93NUMPY", major, minor, header length (u16 for 1.0, u32 for 2.0
// and 3.0, little-endian), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so the data starts 64-byte aligned.
#include "runtime/io.h"

#include "runtime/atomic_file.h"


#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ir/error.h"

namespace kiln::runtime {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("read_npy: " + path + ": " + what);
}

// A tiny parser for the header dict: string, bool and int-tuple values only.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view s) : path_(path), s_(s) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool got_descr = false, got_fortran = false, got_shape = false;
    expect('{');
    while (!peek('}')) {
      std::string key = str();
      expect(':');
      if (key == "descr") descr = str(), got_descr = true;
      else if (key == "fortran_order") fortran = boolean(), got_fortran = true;
      else if (key == "shape") shape = tuple(), got_shape = true;
      else fail(path_, "malformed header: unknown key '" + key + "'");
      if (!peek('}')) expect(',');
    }
    expect('}');
    if (!got_descr || !got_fortran || !got_shape)
      fail(path_, "malformed header: needs 'descr', 'fortran_order' and 'shape'");
  }

 private:
  const std::string& path_;
  std::string_view s_;
  size_t i_ = 0;

  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool peek(char c) {
    skip();
    return i_ < s_.size() && s_[i_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(path_, std::string("malformed header: expected '") + c + "' at offset " + std::to_string(i_));
    ++i_;
  }
  std::string str() {
    skip();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail(path_, "malformed header: expected a string");
    char q = s_[i_++];
    size_t end = s_.find(q, i_);
    if (end == std::string_view::npos) fail(path_, "malformed header: unterminated string");
    std::string r(s_.substr(i_, end - i_));
    i_ = end + 1;
    return r;
  }
  bool boolean() {
    skip();
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail(path_, "malformed header: expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (!peek(')')) {
      skip();
      int64_t v = 0;
      size_t start = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail(path_, "shape dimension is absurdly large");
        v = v * 10 + (s_[i_++] - '0');
      }
      if (i_ == start) fail(path_, "malformed header: shape must be a tuple of non-negative integers");
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 longs
      dims.push_back(v);
      if (!peek(')')) expect(',');
    }
    expect(')');
    return dims;
  }
};

struct DTypeInfo {
  DType dtype;
  size_t file_size;  // bytes per element in the file
};

DTypeInfo parse_descr(const std::string& path, const std::string& d) {
  if (d == "<f4") return {DType::f32, 4};
  if (d == "<i4") return {DType::i32, 4};
  if (d == "|b1") return {DType::i1, 1};
  if (d == "<f8") return {DType::f32, 8};
  if (d == "<i8") return {DType::i32, 8};
  if (!d.empty() && d[0] == '>') fail(path, "big-endian data ('" + d + "') is not supported; save it little-endian");
  fail(path, "unsupported dtype '" + d + "' (expected <f4, <i4, |b1, <f8 or <i8)");
}

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open: " + errno_text());
  f.seekg(0, std::ios::end);
  const std::streamoff end = f.tellg();
  if (end < 0) fail(path, "cannot read (is it a regular file?)");
  const uint64_t file_size = static_cast<uint64_t>(end);
  f.seekg(0);
  unsigned char pre[12] = {};
  f.read(reinterpret_cast<char*>(pre), 10);
  if (f.gcount() < 10 || std::memcmp(pre, kMagic, kMagicLen) != 0) fail(path, "not a .npy file (bad magic string)");
  const int major = pre[6];
  uint64_t header_len = 0, prefix = 10;
  if (major == 1) {
    header_len = le(pre + 8, 2);
  } else if (major == 2 || major == 3) {
    f.read(reinterpret_cast<char*>(pre + 10), 2);
    if (f.gcount() < 2) fail(path, "truncated header");
    header_len = le(pre + 8, 4);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(pre[7]));
  }
  if (header_len > file_size - prefix) fail(path, "truncated header (the file ends inside it)");
  std::string header(static_cast<size_t>(header_len), '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  if (static_cast<uint64_t>(f.gcount()) != header_len) fail(path, "truncated header");

  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  HeaderParser(path, header).parse(descr, fortran, shape);
  if (fortran) fail(path, "fortran_order=True is not supported; save a C-ordered array (np.ascontiguousarray)");
  DTypeInfo dt = parse_descr(path, descr);

  // Bound the element count by the bytes the file actually has before allocating anything.
  const uint64_t avail = file_size - prefix - header_len;
  std::string dims = "(";
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  dims += shape.size() == 1 ? ",)" : ")";
  uint64_t count = std::find(shape.begin(), shape.end(), 0) != shape.end() ? 0 : 1;
  for (int64_t d : shape) {
    if (count == 0) break;
    if (count > avail / static_cast<uint64_t>(d))
      fail(path, "shape " + dims + " needs more data than the file's " + std::to_string(avail) +
                     " data bytes (data is shorter than the header says, or the shape is absurd)");
    count *= static_cast<uint64_t>(d);
  }
  if (count * dt.file_size > avail)
    fail(path, "data is shorter than the header says: shape " + dims + " of '" + descr + "' needs " +
                   std::to_string(count * dt.file_size) + " bytes, the file has " + std::to_string(avail));
  if (count * dt.file_size < avail)
    fail(path, "data is longer than the header says (" + std::to_string(avail - count * dt.file_size) +
                   " extra bytes)");

  Tensor t = Tensor::zeros(shape, dt.dtype);
  if (dt.file_size == ir::dtype_size(dt.dtype)) {
    f.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    if (static_cast<size_t>(f.gcount()) != t.nbytes()) fail(path, "read error in the data");
    if (dt.dtype == DType::i1) {
      uint8_t* p = t.data_i1();
      for (int64_t i = 0; i < t.size(); ++i) p[i] = p[i] != 0;
    }
    return t;
  }
  // 8-byte numpy defaults, converted element by element.
  std::vector<unsigned char> raw(static_cast<size_t>(count * 8));
  f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  if (static_cast<size_t>(f.gcount()) != raw.size()) fail(path, "read error in the data");
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t bits = le(raw.data() + i * 8, 8);
    if (dt.dtype == DType::f32) {
      double v;
      std::memcpy(&v, &bits, 8);
      t.data()[i] = static_cast<float>(v);
    } else {
      auto v = static_cast<int64_t>(bits);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        fail(path, "int64 value " + std::to_string(v) + " at element " + std::to_string(i) + " does not fit in i32");
      t.data_i32()[i] = static_cast<int32_t>(v);
    }
  }
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  auto wfail = [&](const std::string& what) -> Error { return Error("write_npy: " + path + ": " + what); };
  if (!t.defined()) throw wfail("cannot write an empty (undefined) tensor");
  const char* descr = t.dtype() == DType::f32 ? "<f4" : t.dtype() == DType::i32 ? "<i4" : "|b1";
  std::string shape = "(";
  for (int64_t i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  if (t.rank() == 1) shape += ",";
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = kMagicLen + 4 + header.size() + 1;
  bool v2 = header.size() + 64 > 65535;
  if (v2) total += 2;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string pre(kMagic, kMagicLen);
  pre += static_cast<char>(v2 ? 2 : 1);
  pre += '\0';
  for (int i = 0; i < (v2 ? 4 : 2); ++i) pre += static_cast<char>((header.size() >> (8 * i)) & 0xff);

  atomic_replace(
      path,
      [&](const std::string&, int fd) {
        if (!atomic_detail::write_all(fd, pre.data(), pre.size()) ||
            !atomic_detail::write_all(fd, header.data(), header.size()) ||
            !atomic_detail::write_all(fd, t.raw(), t.nbytes()))
          throw wfail("write failed: " + errno_text());
      },
      "write_npy");
}

}  // namespace kiln::runtime
