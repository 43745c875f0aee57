// Bounded little-endian file reading and buffered writing (see binary_io.h).
#include "persistence/binary_io.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "ir/error.h"

namespace kiln::persistence {

static_assert(std::endian::native == std::endian::little, "the file formats store tensor data as host bytes");

void Fnv64::update(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  uint64_t h = h_;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  h_ = h;
}

FileReader::FileReader(const std::string& path, const std::string& what) : path_(path), what_(what) {
  f_.open(path, std::ios::binary);
  if (!f_) throw Error(what_ + ": " + path_ + ": cannot open: " + std::strerror(errno));
  f_.seekg(0, std::ios::end);
  std::streamoff end = f_.tellg();
  if (end < 0) throw Error(what_ + ": " + path_ + ": cannot read (is it a regular file?)");
  f_.seekg(0);
  size_ = end_ = static_cast<uint64_t>(end);
}

void FileReader::fail(const std::string& why) const {
  throw Error(what_ + ": " + path_ + ": " + why + " (at byte " + std::to_string(pos_) + ")");
}

void FileReader::limit(uint64_t n) {
  if (n > end_ - pos_) fail("a section of " + std::to_string(n) + " bytes runs past the end of the file");
  end_ = pos_ + n;
  reset_hash();
}

void FileReader::seek(uint64_t offset) {
  if (offset > size_) fail("seek past the end of the file");
  pos_ = offset;
  end_ = size_;
  f_.clear();
  f_.seekg(static_cast<std::streamoff>(offset));
}

void FileReader::read(void* dst, size_t n) {
  if (n > remaining())
    fail("the file is truncated: " + std::to_string(n) + " more bytes expected, " + std::to_string(remaining()) +
         " left");
  f_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
  if (static_cast<size_t>(f_.gcount()) != n) fail("read error");
  hash_.update(dst, n);
  pos_ += n;
}

void FileReader::skip(uint64_t n) {
  if (n > remaining()) fail("the file is truncated: a block of " + std::to_string(n) + " bytes does not fit");
  char buf[1 << 16];
  while (n > 0) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof buf));
    read(buf, k);
    n -= k;
  }
}

uint8_t FileReader::u8() {
  uint8_t v;
  read(&v, 1);
  return v;
}

uint32_t FileReader::u32() {
  unsigned char b[4];
  read(b, 4);
  return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 | static_cast<uint32_t>(b[2]) << 16 |
         static_cast<uint32_t>(b[3]) << 24;
}

uint64_t FileReader::u64() {
  uint64_t lo = u32();
  return lo | static_cast<uint64_t>(u32()) << 32;
}

int64_t FileReader::i64() { return static_cast<int64_t>(u64()); }

std::string FileReader::str(uint32_t max, const char* field) {
  uint32_t n = u32();
  if (n > max) fail(std::string(field) + " is " + std::to_string(n) + " bytes long, more than " + std::to_string(max));
  if (n > remaining()) fail(std::string(field) + " of " + std::to_string(n) + " bytes runs past the end of the file");
  std::string s(n, '\0');
  read(s.data(), n);
  return s;
}

FdWriter::FdWriter(int fd, std::string path, std::string what)
    : fd_(fd), path_(std::move(path)), what_(std::move(what)) {
  buf_.reserve(1 << 16);
}

FdWriter::~FdWriter() = default;

void FdWriter::write_raw(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(what_ + ": " + path_ + ": write failed: " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void FdWriter::flush() {
  write_raw(buf_.data(), buf_.size());
  buf_.clear();
}

void FdWriter::write(const void* p, size_t n) {
  hash_.update(p, n);
  written_ += n;
  const char* c = static_cast<const char*>(p);
  if (buf_.size() + n > buf_.capacity()) flush();
  if (n >= buf_.capacity()) return write_raw(c, n);  // large blocks (tensor data) go straight through
  buf_.insert(buf_.end(), c, c + n);
}

void FdWriter::u32(uint32_t v) {
  unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                        static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
  write(b, 4);
}

void FdWriter::u64(uint64_t v) {
  u32(static_cast<uint32_t>(v));
  u32(static_cast<uint32_t>(v >> 32));
}

void FdWriter::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  write(s.data(), s.size());
}

}  // namespace kiln::persistence
