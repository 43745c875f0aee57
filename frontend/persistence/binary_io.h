// Little-endian binary reading and writing for Kiln's file formats, with a
// running FNV-1a 64 checksum.
//
// FileReader reads a byte range of a file and refuses to read past its end,
// so a size field is always checked against the bytes that remain before
// anything is allocated. FdWriter buffers writes to a file descriptor (the
// temporary file of runtime::atomic_replace).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::persistence {

// FNV-1a 64: h = (h ^ byte) * 0x100000001b3, starting at 0xcbf29ce484222325.
class Fnv64 {
 public:
  void update(const void* p, size_t n);
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

class FileReader {
 public:
  // `what` prefixes errors: "load_weights: w.kw: ...".
  FileReader(const std::string& path, const std::string& what);

  uint64_t file_size() const { return size_; }
  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return end_ - pos_; }
  // Restricts reading to [offset(), offset() + n), e.g. one section; the checksum restarts.
  void limit(uint64_t n);
  void seek(uint64_t offset);

  void read(void* dst, size_t n);  // throws "truncated" past the end
  void skip(uint64_t n);           // hashes what it skips
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int64_t i64();
  // A u32 length then that many bytes; the length must be <= max and fit in the file.
  std::string str(uint32_t max, const char* field);
  uint64_t hash() const { return hash_.value(); }
  void reset_hash() { hash_ = Fnv64(); }

  [[noreturn]] void fail(const std::string& why) const;

 private:
  std::string path_, what_;
  std::ifstream f_;
  uint64_t size_ = 0, pos_ = 0, end_ = 0;
  Fnv64 hash_;
};

class FdWriter {
 public:
  FdWriter(int fd, std::string path, std::string what);
  ~FdWriter();
  FdWriter(const FdWriter&) = delete;
  FdWriter& operator=(const FdWriter&) = delete;

  void write(const void* p, size_t n);
  void u8(uint8_t v) { write(&v, 1); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str(std::string_view s);  // u32 length + bytes
  uint64_t hash() const { return hash_.value(); }
  uint64_t written() const { return written_; }
  void flush();

 private:
  void write_raw(const char* p, size_t n);

  int fd_;
  std::string path_, what_;
  std::vector<char> buf_;
  Fnv64 hash_;
  uint64_t written_ = 0;
};

}  // namespace kiln::persistence
