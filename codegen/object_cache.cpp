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

// The sizes of the objects, comma-separated.
std::string sizes_text(const std::vector<std::string>& objects) {
  std::string s;
  for (const std::string& o : objects) s += (s.empty() ? "" : ",") + std::to_string(o.size());
  return s;
}

std::string header(const CacheKey& k, const std::vector<std::string>& objects) {
  std::string all;
  for (const std::string& o : objects) all += o;
  return "KILNOBJ 2\nhash=" + k.hash + "\ncodegen=" + k.codegen + "\nllvm=" + k.llvm + "\ncpu=" + k.cpu +
         "\nfeatures=" + k.features + "\nsizes=" + sizes_text(objects) + "\nfnv=" + hex(fnv1a(all)) + "\n\n";
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

std::optional<std::vector<std::string>> ObjectCache::load(const CacheKey& key, bool* rejected) const {
  *rejected = false;
  std::string path = path_of(key.hash);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string file = ss.str();
  // The header promises the objects' sizes; parse them, then check everything.
  auto reject = [&]() -> std::optional<std::vector<std::string>> {
    *rejected = true;
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return std::nullopt;
  };
  size_t end = file.find("\n\n");
  if (end == std::string::npos) return reject();
  std::string head = file.substr(0, end + 2);
  size_t sizes_at = head.find("\nsizes=");
  if (sizes_at == std::string::npos) return reject();
  std::vector<std::string> objects;
  size_t at = end + 2;
  for (const char* p = head.c_str() + sizes_at + 7;;) {
    char* next = nullptr;
    size_t size = std::strtoull(p, &next, 10);
    if (next == p || size > file.size() - at) return reject();
    objects.push_back(file.substr(at, size));
    at += size;
    if (*next != ',') break;
    p = next + 1;
  }
  if (at != file.size() || head != header(key, objects)) return reject();
  return objects;
}

void ObjectCache::store(const CacheKey& key, const std::vector<std::string>& objects) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  std::string path = path_of(key.hash);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  bool ok = write_all(fd, header(key, objects));
  for (const std::string& o : objects) ok = ok && write_all(fd, o);
  ok = ok && ::fsync(fd) == 0;
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
