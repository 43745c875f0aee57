// The process's worker threads for large contractions (GEMM tiles, conv
// images). Size: $KILN_NUM_THREADS if set (>= 1), else the core count;
// kiln_set_num_threads changes it at run time.
//
// Work is split into contiguous ranges decided by the caller's sizes only;
// kernels split output tiles, never a reduction, so results are bitwise the
// same for every thread count. A call made while the pool is busy (from a
// worker, or from another user thread) runs on the calling thread.
#pragma once

#include <cstdint>
#include <type_traits>

extern "C" {
// The number of threads parallel work uses (the caller included), >= 1.
int32_t kiln_num_threads();
// Sets it; n <= 0 restores the default ($KILN_NUM_THREADS, else the core count).
void kiln_set_num_threads(int32_t n);
}

namespace kiln::runtime {

// Calls f(ctx, begin, end) on consecutive ranges covering [0, n) (at most
// `parts` ranges, no more than the threads, and on the calling thread alone
// when parts <= 1), and returns when all are done. The caller runs the first
// range and every range no worker has claimed by then. Range boundaries
// depend only on n and the number of ranges, never on which thread runs them.
void parallel_ranges(int64_t n, int64_t parts, void (*f)(void* ctx, int64_t begin, int64_t end), void* ctx);

// The same with any callable.
template <class F>
void parallel_ranges(int64_t n, int64_t parts, F&& f) {
  using Fn = std::remove_reference_t<F>;
  parallel_ranges(
      n, parts, [](void* c, int64_t b, int64_t e) { (*static_cast<Fn*>(c))(b, e); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace kiln::runtime
