// The worker pool behind runtime/thread_pool.h: persistent workers that spin
// briefly, then sleep, between jobs; the caller runs the first range itself
// and any range no worker has claimed by then.
#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// $KILN_NUM_THREADS if it is a positive number, else the core count.
int32_t default_threads() {
  if (const char* e = std::getenv("KILN_NUM_THREADS"); e && *e) {
    char* end = nullptr;
    long v = std::strtol(e, &end, 10);
    if (*end == '\0' && v >= 1) return static_cast<int32_t>(std::min<long>(v, 256));
  }
  return static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

// Range t of `parts` consecutive ranges covering [0, n).
int64_t range_start(int64_t n, int64_t parts, int64_t t) { return n * t / parts; }

thread_local bool t_in_job = false;  // set while this thread runs a range of a job

// Spin-wait iterations before a worker (or the caller) sleeps: with a pause
// each, about 0.1 ms, enough to bridge the gap between a step's parallel
// kernels without a futex wake-up each time.
constexpr int kSpins = 4000;

constexpr int64_t kMaxParts = 0xffff;  // ranges a job's claim word can count

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  int32_t threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int32_t n) {
    std::lock_guard<std::mutex> busy(busy_);
    stop_workers();
    threads_.store(n > 0 ? n : default_threads(), std::memory_order_relaxed);
  }

  // Ranges 1.. go to whoever claims them first (claim_); the caller runs
  // range 0, then claims what no worker has started, so a worker that is not
  // scheduled (another process on its core) costs no wait; then it waits for
  // the ranges workers took. A range's bounds do not depend on who runs it.
  void run(int64_t n, int64_t parts, void (*f)(void*, int64_t, int64_t), void* ctx) {
    parts = std::min<int64_t>({parts, n, threads(), kMaxParts});
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (parts <= 1 || t_in_job || !busy.owns_lock()) return f(ctx, 0, n);
    start_workers(static_cast<size_t>(threads() - 1));
    const uint64_t job = ++job_;
    {
      std::lock_guard<std::mutex> l(m_);
      f_ = f, ctx_ = ctx, n_ = n, parts_ = parts;
      finished_.store(0, std::memory_order_relaxed);
      claim_.store(job << 32 | static_cast<uint64_t>(parts) << 16 | 1, std::memory_order_release);
      gen_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    t_in_job = true;
    f(ctx, 0, range_start(n, parts, 1));
    int64_t mine = 0;  // ranges past 0 the caller ran
    for (int64_t r; (r = claim()) > 0; ++mine) f(ctx, range_start(n, parts, r), range_start(n, parts, r + 1));
    t_in_job = false;
    const int64_t theirs = parts - 1 - mine;
    for (int spin = 0; finished_.load(std::memory_order_acquire) != theirs; ++spin) {
      if (spin < kSpins) {
        cpu_relax();
        continue;
      }
      std::unique_lock<std::mutex> l(m_);
      done_.wait(l, [&] { return finished_.load(std::memory_order_acquire) == theirs; });
    }
  }

 private:
  std::atomic<int32_t> threads_{default_threads()};
  std::mutex busy_;  // held by the one caller whose job the workers run
  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> gen_{0};
  // The current job: its number (bits 32..63), its range count (16..31) and
  // the next range nobody has claimed (0..15); the job's fields below stay
  // set until every claimed range has finished.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> finished_{0};  // ranges that workers finished
  uint64_t job_ = 0;
  bool stop_ = false;
  void (*f_)(void*, int64_t, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0, parts_ = 0;

  void start_workers(size_t count) {
    if (workers_.size() == count) return;
    stop_workers();
    const uint64_t now = gen_.load(std::memory_order_acquire);
    for (size_t w = 1; w <= count; ++w) workers_.emplace_back([this, now] { work(now); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
  }

  // The next unclaimed range of the current job, claimed; 0 when none is left.
  int64_t claim() {
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t next = c & 0xffff, parts = c >> 16 & 0xffff;
      if (next >= parts) return 0;
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire))
        return static_cast<int64_t>(next);
    }
  }

  // A worker runs whatever ranges of each job it can claim, then reports them.
  // `seen` is the last job generation before the worker existed.
  void work(uint64_t seen) {
    t_in_job = true;
    for (;;) {
      for (int spin = 0; spin < kSpins && gen_.load(std::memory_order_acquire) == seen; ++spin) cpu_relax();
      {
        std::unique_lock<std::mutex> l(m_);
        wake_.wait(l, [&] { return stop_ || gen_.load(std::memory_order_acquire) != seen; });
        if (stop_) return;
        seen = gen_.load(std::memory_order_acquire);
      }
      for (int64_t r; (r = claim()) > 0;) {
        f_(ctx_, range_start(n_, parts_, r), range_start(n_, parts_, r + 1));
        finished_.fetch_add(1, std::memory_order_acq_rel);
        std::lock_guard<std::mutex> l(m_);  // the caller may be about to sleep on done_
        done_.notify_one();
      }
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: workers may outlive static destructors
  return *p;
}

}  // namespace

extern "C" {
int32_t kiln_num_threads() { return pool().threads(); }
void kiln_set_num_threads(int32_t n) { pool().set_threads(n); }
}

namespace kiln::runtime {

void parallel_ranges(int64_t n, int64_t parts, void (*f)(void*, int64_t, int64_t), void* ctx) {
  if (n <= 0) return;
  pool().run(n, parts, f, ctx);
}

}  // namespace kiln::runtime
