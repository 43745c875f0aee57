// The on-disk object cache: one file per compiled graph, named by its hash,
// holding the objects of its parts (compile_parts.h).
//
// A file is a short text header, then the objects' bytes one after the other:
//   KILNOBJ 2\n hash=<hex>\n codegen=<version> <build id>\n llvm=<version>\n cpu=<name>\n features=<hex>\n
//   sizes=<bytes>,<bytes>...\n fnv=<hex>\n \n <object><object>...
// An entry is used only if every header field matches what this process would
// compile for and the objects' sizes and FNV-1a checksum (of all their bytes) are right; anything
// else (truncated, corrupt, another CPU, LLVM or code generator build) is rejected, removed and
// recompiled. Writes are atomic: a temporary file, fsync, then rename.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kiln::codegen {

struct CacheKey {
  std::string hash;      // of the printed graph, the codegen version and build id, the target
  std::string codegen;   // kCodegenVersion and kCodegenBuildId (jit.cpp)
  std::string llvm;      // LLVM version
  std::string cpu;       // host CPU name
  std::string features;  // hash of the target feature string
};

class ObjectCache {
 public:
  explicit ObjectCache(std::string dir) : dir_(std::move(dir)) {}
  // The cached objects, or nothing. `rejected` is set when a file existed but
  // could not be trusted (it is removed).
  std::optional<std::vector<std::string>> load(const CacheKey& key, bool* rejected) const;
  // Best effort: a cache that cannot be written is not an error.
  void store(const CacheKey& key, const std::vector<std::string>& objects) const;
  std::string path_of(const std::string& hash) const { return dir_ + "/" + hash + ".kobj"; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln.
std::string default_cache_dir();

}  // namespace kiln::codegen
