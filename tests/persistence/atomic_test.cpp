// Atomic writes: a child process killed with SIGKILL in the middle of a save
// leaves the previous file intact and loadable (Kiln weights, HDF5 weights,
// whole-model files), and a failing writer leaves no temporary file behind.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "runtime/atomic_file.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::test;

namespace {

// Runs `child` in a forked process; the parent waits for one byte on a pipe (the child's
// "I am in the middle of writing") or `delay`, then SIGKILLs it.
void kill_child_during(const std::function<void(int signal_fd)>& child, std::chrono::milliseconds delay) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(p[0]);
    try {
      child(p[1]);
    } catch (...) {}
    ::_exit(0);
  }
  ::close(p[1]);
  if (delay.count() == 0) {
    char c;
    ASSERT_EQ(::read(p[0], &c, 1), 1) << "the child exited before signalling";
  } else {
    std::this_thread::sleep_for(delay);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(p[0]);
}

size_t temp_files_in(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

TEST(AtomicWrite, KilledMidWriteLeavesThePreviousFile) {
  TempDir dir;
  std::string path = dir.path("data.bin");
  runtime::atomic_write(path, "old contents");
  kill_child_during(
      [&](int fd) {
        runtime::atomic_replace(path, [&](const std::string&, int out) {
          std::string half(1 << 20, 'n');
          (void)!::write(out, half.data(), half.size());
          char c = 1;
          (void)!::write(fd, &c, 1);  // now in the middle of the write
          for (;;) ::pause();
        });
      },
      std::chrono::milliseconds(0));
  EXPECT_EQ(read_bytes(path), "old contents");
  EXPECT_EQ(temp_files_in(dir.dir()), 1u) << "the killed writer's temporary file stays (harmless)";
}

TEST(AtomicWrite, NewFilesGetTheUmaskModeAndReplacedFilesKeepTheirs) {
  TempDir dir;
  std::string path = dir.path("m.bin");
  mode_t old_mask = ::umask(027);
  runtime::atomic_write(path, "x");
  ::umask(old_mask);
  EXPECT_EQ(std::filesystem::status(path).permissions(), std::filesystem::perms(0640));
  std::filesystem::permissions(path, std::filesystem::perms(0604));
  runtime::atomic_write(path, "y");
  EXPECT_EQ(std::filesystem::status(path).permissions(), std::filesystem::perms(0604));
}

TEST(AtomicWrite, AThrowingWriterRemovesItsTemporaryFile) {
  TempDir dir;
  std::string path = dir.path("data.bin");
  runtime::atomic_write(path, "old");
  EXPECT_THROW(runtime::atomic_replace(path, [](const std::string&, int) { throw Error("boom"); }), Error);
  EXPECT_EQ(read_bytes(path), "old");
  EXPECT_EQ(temp_files_in(dir.dir()), 0u);
  runtime::atomic_write(path, "new");
  EXPECT_EQ(read_bytes(path), "new");
}

// A model big enough that a save takes a while (~16 MB of weights).
Model big_model() {
  clear_session();
  auto x = Input({2000});
  return Model(x, Dense(2000)(x), "big");
}

// The write end of the pipe the frozen child reports on (set in the child only).
volatile sig_atomic_t g_frozen_fd = -1;

// SIGUSR1 in the child: report "frozen" and stop right where the save was.
void freeze_here(int) {
  char c = 1;
  (void)!::write(g_frozen_fd, &c, 1);
  for (;;) ::pause();
}

// Forks a child that runs `save_forever`; once a temporary file appears in `dir` (a save is
// under way), freezes the child with SIGUSR1, waits for it to report, then SIGKILLs it.
// Returns whether the kill landed inside a save: a temporary file existed while the child
// was frozen, i.e. between its creation and the rename. Deterministic: the verdict is read
// while the child cannot move.
bool kill_child_mid_save(const std::string& dir, const std::function<void()>& save_forever) {
  int p[2];
  EXPECT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  EXPECT_GE(pid, 0);
  if (pid == 0) {
    ::close(p[0]);
    g_frozen_fd = p[1];
    ::signal(SIGUSR1, freeze_here);
    try {
      save_forever();
    } catch (...) {}
    ::_exit(0);
  }
  ::close(p[1]);
  // Wait (at most ~60 s, however loaded the machine) for a save to be under way.
  for (int i = 0; i < 60000 && temp_files_in(dir) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(pid, SIGUSR1);
  char c = 0;
  EXPECT_EQ(::read(p[0], &c, 1), 1) << "the child exited before freezing";
  bool mid_save = temp_files_in(dir) > 0;
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(p[0]);
  return mid_save;
}

// The child saves forever, alternating two weight sets, and is killed inside a save (three
// times, at whatever point of the save the freeze lands); every time the file still holds
// one complete set.
void kill_repeatedly_while_saving(const std::string& file, const std::function<void(Model&, const std::string&)>& save,
                                  const std::function<void(Model&, const std::string&)>& load) {
  TempDir dir;
  std::string path = dir.path(file);
  Model m = big_model();
  randomize(m, 1);
  std::vector<Tensor> a = m.get_weights();
  randomize(m, 2);
  std::vector<Tensor> b = m.get_weights();
  m.set_weights(a);
  save(m, path);
  int killed_mid_save = 0, round = 0;
  // A freeze can land just after a rename (then no save is under way): such rounds still
  // check the file, and the loop goes on until three kills landed inside a save.
  for (; killed_mid_save < 3 && round < 100; ++round) {
    killed_mid_save += kill_child_mid_save(dir.dir(), [&] {
      for (int i = 0;; ++i) {
        m.set_weights(i % 2 ? a : b);
        save(m, path);
      }
    });
    for (const auto& e : std::filesystem::directory_iterator(dir.dir()))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) std::filesystem::remove(e.path());
    Model check = big_model();
    load(check, path);
    std::vector<Tensor> got = check.get_weights();
    EXPECT_TRUE(same_weights(got, a) || same_weights(got, b)) << "round " << round;
  }
  EXPECT_EQ(killed_mid_save, 3) << "in " << round << " rounds";
}

TEST(AtomicWrite, KilledWhileSavingKilnWeights) {
  kill_repeatedly_while_saving(
      "w.kw", [](Model& m, const std::string& p) { m.save_weights(p); },
      [](Model& m, const std::string& p) { m.load_weights(p); });
}

TEST(AtomicWrite, KilledWhileSavingH5Weights) {
  kill_repeatedly_while_saving(
      "w.h5", [](Model& m, const std::string& p) { m.save_weights(p); },
      [](Model& m, const std::string& p) { m.load_weights(p); });
}

TEST(AtomicWrite, KilledWhileSavingKeras3Weights) {
  kill_repeatedly_while_saving(
      "w.weights.h5", [](Model& m, const std::string& p) { m.save_weights(p); },
      [](Model& m, const std::string& p) { m.load_weights(p); });
}

TEST(AtomicWrite, KilledWhileSavingAModel) {
  kill_repeatedly_while_saving(
      "m.kiln", [](Model& m, const std::string& p) { m.save(p); },
      [](Model& m, const std::string& p) { m.set_weights(load_model(p).get_weights()); });
}

}  // namespace
