// The on-disk object cache (format in object_cache.h).
#include "codegen/object_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::codegen {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string header(const CacheKey& k, const std::string& object) {
  return "KILNOBJ 1\nhash=" + k.hash + "\ncodegen=" + k.codegen + "\nllvm=" + k.llvm + "\ncpu=" + k.cpu +
         "\nfeatures=" + k.features + "\nsize=" + std::to_string(object.size()) + "\nfnv=" + hex(fnv1a(object)) + "\n\n";
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t w = ::write(fd, s.data() + done, s.size() - done);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

std::optional<std::string> ObjectCache::load(const CacheKey& key, bool* rejected) const {
  *rejected = false;
  std::string path = path_of(key.hash);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string file = ss.str();
  // The header promises the object's size; parse it, then check everything.
  auto reject = [&]() -> std::optional<std::string> {
    *rejected = true;
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return std::nullopt;
  };
  size_t end = file.find("\n\n");
  if (end == std::string::npos) return reject();
  std::string head = file.substr(0, end + 2);
  size_t size_at = head.find("\nsize=");
  if (size_at == std::string::npos) return reject();
  size_t size = std::strtoull(head.c_str() + size_at + 6, nullptr, 10);
  if (file.size() != end + 2 + size) return reject();
  std::string object = file.substr(end + 2);
  if (head != header(key, object)) return reject();
  return object;
}

void ObjectCache::store(const CacheKey& key, const std::string& object) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  std::string path = path_of(key.hash);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  bool ok = write_all(fd, header(key, object)) && write_all(fd, object) && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) std::filesystem::remove(tmp, ec);
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("KILN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/kiln";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/kiln";
  return "/tmp/kiln-cache";
}

}  // namespace kiln::codegen
