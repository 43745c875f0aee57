// Runtime kernels for generated code: GEMM and conv2d, written on raw pointers
// but step for step as runtime/kernels_contract.cpp, and through the same
// compiled GEMM and conv kernels (runtime/gemm.h), so results are bitwise identical.
#include "codegen/rt_kernels.h"

#include <algorithm>
#include <cstring>

#include "codegen/plan.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace {


struct Geom {
  int64_t h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, dh, dw;
  int64_t patch() const { return kh * kw * c; }
  int64_t pixels() const { return oh * ow; }
};

Geom geom_of(const int64_t* g) {
  return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13]};
}

int64_t chunk_of(const Geom& g, int64_t n) { return kiln::codegen::conv_chunk_images(g.pixels() * g.patch(), n); }

}  // namespace

extern "C" {

void kiln_rt_matmul(const float* a, const float* b, float* c, int64_t batch, int64_t ar, int64_t ac, int32_t ta,
                    int64_t br, int64_t bc, int32_t tb, const float* bias, const float* mask, int32_t act) {
  int64_t m = ta ? ac : ar, p = tb ? br : bc;
  if (batch * m * p == 0) return;
  for (int64_t i = 0; i < batch; ++i) {
    const KilnEpilogue ep{bias, mask ? mask + i * m * p : nullptr, act};
    kiln_gemm_f32(a + i * ar * ac, ar, ac, ta, b + i * br * bc, br, bc, tb, c + i * m * p, 0, &ep);
  }
}

void kiln_rt_conv2d(const float* x, const float* w, float* y, const int64_t* geom, int64_t n, const float* bias,
                    const float* mask, int32_t act) {
  Geom g = geom_of(geom);
  if (n * g.pixels() * g.o == 0) return;
  const KilnEpilogue ep{bias, mask, act};
  kiln_conv2d_f32(geom, x, w, n, y, &ep);
}

void kiln_rt_conv2d_max_pool(const float* x, const float* w, float* y, uint8_t* winners, const int64_t* geom,
                             const int64_t* pool, int64_t n, const float* bias, const float* mask, int32_t act) {
  const KilnEpilogue ep{bias, mask, act};
  kiln_conv2d_max_pool_f32(geom, pool, x, w, n, y, winners, &ep);
}

void kiln_rt_conv2d_input_grad(const float* dy, const float* w, float* dx, const int64_t* geom, int64_t n,
                               float* cols, const float* bias, const float* mask, int32_t act) {
  Geom g = geom_of(geom);
  if (n * g.h * g.w * g.c == 0) return;
  const KilnEpilogue ep{bias, mask, act};
  kiln_conv2d_input_grad_f32(geom, dy, w, n, dx, cols, chunk_of(g, n), &ep);
}

void kiln_rt_conv2d_filter_grad(const float* x, const float* dy, float* dw, const int64_t* geom, int64_t n,
                                int32_t accumulate) {
  kiln_conv2d_filter_grad_f32(geom, x, dy, n, dw, accumulate);
}

int32_t kiln_rt_ipow_i32(int32_t base, int32_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;  // truncated 1 / base^|e|
  uint32_t r = 1, b = static_cast<uint32_t>(base);
  for (uint32_t k = static_cast<uint32_t>(e); k; k >>= 1, b *= b)
    if (k & 1) r *= b;
  return static_cast<int32_t>(r);
}

void kiln_rt_parallel_for(void (*fn)(void* ctx, int64_t lo, int64_t hi), void* ctx, int64_t count,
                          int64_t bytes_per_item) {
  if (count * bytes_per_item < kiln::codegen::kRtParallelBytes) return fn(ctx, 0, count);
  kiln::runtime::parallel_ranges(count, kiln_num_threads(), fn, ctx);
}

}  // extern "C"

namespace kiln::codegen {

const RtSymbol* rt_symbols(int* count) {
  static const RtSymbol table[] = {
      {"kiln_rt_matmul", reinterpret_cast<void*>(&kiln_rt_matmul)},
      {"kiln_rt_conv2d", reinterpret_cast<void*>(&kiln_rt_conv2d)},
      {"kiln_rt_conv2d_max_pool", reinterpret_cast<void*>(&kiln_rt_conv2d_max_pool)},
      {"kiln_rt_conv2d_input_grad", reinterpret_cast<void*>(&kiln_rt_conv2d_input_grad)},
      {"kiln_rt_conv2d_filter_grad", reinterpret_cast<void*>(&kiln_rt_conv2d_filter_grad)},
      {"kiln_rt_ipow_i32", reinterpret_cast<void*>(&kiln_rt_ipow_i32)},
      {"kiln_rt_parallel_for", reinterpret_cast<void*>(&kiln_rt_parallel_for)},
  };
  *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
  return table;
}

}  // namespace kiln::codegen
