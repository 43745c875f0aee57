// Crash-safe file replacement, shared by every writer of model and weight files.
//
//   runtime::atomic_replace(path, [&](const std::string& tmp, int fd) { ...write tmp... });
//   runtime::atomic_write(path, bytes);
//
// The new content goes to a temporary file in the target's directory
// (`.<name>.tmp.XXXXXX`, same file system, so the rename is atomic); it is
// fsynced, renamed over the target, and the directory is fsynced so the
// rename itself survives a power cut. A process killed at any point leaves
// either the previous file or the complete new one, never a mix; at worst a
// stale `.tmp.` file remains next to it. The writer may use the open `fd`
// (streaming writes) or write the file by its `tmp` name (libraries such as
// HDF5 that open files themselves); either way it is fsynced before the rename.
//
// Header-only on purpose: the runtime library lists its sources explicitly and
// this is small. runtime/io_npy.cpp (write_npy) uses it too.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

#include "ir/error.h"

namespace kiln::runtime {

namespace atomic_detail {
inline std::string errno_text() { return std::strerror(errno); }

// mkstemp makes 0600 files: give the new file the old one's mode, or 0666 minus the umask.
inline void set_mode(int fd, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    ::fchmod(fd, st.st_mode & 07777);
    return;
  }
  mode_t mask = 022;
  std::ifstream status("/proc/self/status");  // reading the umask without changing it
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Umask:", 0) == 0) mask = static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  ::fchmod(fd, 0666 & ~mask);
}

inline bool write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
}  // namespace atomic_detail

// Writes a file through `write(tmp_path, fd)` and atomically replaces `path` with it. `what`
// prefixes error messages ("save_weights"). If `write` throws, the temporary file is removed,
// `path` is untouched and the exception propagates.
inline void atomic_replace(const std::string& path, const std::function<void(const std::string&, int)>& write,
                           const std::string& what = "write") {
  namespace fs = std::filesystem;
  auto fail = [&](const std::string& why) { return Error(what + ": " + path + ": " + why); };
  if (path.empty()) throw fail("empty file name");
  fs::path target(path);
  if (!target.has_filename()) throw fail("not a file name (ends with a directory separator)");
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw fail("is a directory");
  std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  std::string tmp = (target.has_parent_path() ? (target.parent_path() / "").string() : std::string()) + "." +
                    target.filename().string() + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw fail("cannot create a temporary file in " + dir + ": " + atomic_detail::errno_text());
  atomic_detail::set_mode(fd, path);
  try {
    write(tmp, fd);
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  // The writer may have replaced the file by name (HDF5 truncates and rewrites it): sync that one.
  int sfd = ::open(tmp.c_str(), O_RDONLY);
  bool ok = sfd >= 0 && ::fsync(sfd) == 0;
  std::string err = ok ? "" : atomic_detail::errno_text();
  if (sfd >= 0) ::close(sfd);
  if (ok && ::fsync(fd) != 0) ok = false, err = atomic_detail::errno_text();
  if (::close(fd) != 0 && ok) ok = false, err = atomic_detail::errno_text();
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = atomic_detail::errno_text();
  if (!ok) {
    std::remove(tmp.c_str());
    throw fail("write failed: " + err);
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Replaces `path` with `data`, atomically.
inline void atomic_write(const std::string& path, std::string_view data, const std::string& what = "write") {
  atomic_replace(
      path,
      [&](const std::string&, int fd) {
        if (!atomic_detail::write_all(fd, data.data(), data.size()))
          throw Error(what + ": " + path + ": write failed: " + atomic_detail::errno_text());
      },
      what);
}

}  // namespace kiln::runtime
