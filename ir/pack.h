// Offline placement of buffers whose lifetimes are known in advance: both
// memory planners (passes/plan_memory.cpp's printed plan, codegen/plan.cpp's
// arena) pack their pools with it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace kiln::ir {

// One buffer: its bytes (a multiple of align), its alignment, and the steps
// it is live over, both ends included.
struct Lifetime {
  int64_t bytes = 0, align = 1;
  int64_t first = 0, last = 0;
};

// Greedy first fit, largest buffers first (in order among equals): each
// buffer at the lowest multiple of its alignment clear of every buffer
// already placed whose steps overlap its own. Returns each buffer's offset
// and the pool's size.
inline std::pair<std::vector<int64_t>, int64_t> pack_largest_first(const std::vector<Lifetime>& bufs) {
  std::vector<size_t> order(bufs.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bufs[a].bytes > bufs[b].bytes; });
  std::vector<int64_t> at(bufs.size(), 0);
  std::vector<size_t> placed;
  int64_t top = 0;
  for (size_t k : order) {
    const Lifetime& x = bufs[k];
    if (x.bytes == 0) continue;
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t q : placed)
      if (bufs[q].first <= x.last && x.first <= bufs[q].last) busy.push_back({at[q], at[q] + bufs[q].bytes});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (const auto& [lo, hi] : busy) {
      if (off + x.bytes <= lo) break;
      off = std::max(off, (hi + x.align - 1) / x.align * x.align);
    }
    at[k] = off;
    top = std::max(top, off + x.bytes);
    placed.push_back(k);
  }
  return {at, top};
}

}  // namespace kiln::ir
