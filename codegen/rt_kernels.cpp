// Runtime kernels for generated code: GEMM and conv2d by im2col, written on
// raw pointers but step for step as runtime/kernels_contract.cpp, and through
// the same compiled GEMM (runtime/gemm.h), so results are bitwise identical.
#include "codegen/rt_kernels.h"

#include <algorithm>
#include <cstring>

#include "codegen/plan.h"
#include "runtime/gemm.h"

namespace {

void gemm(const float* a, int64_t ar, int64_t ac, bool ta, const float* b, int64_t br, int64_t bc, bool tb, float* c,
          bool accumulate = false) {
  kiln_gemm_f32(a, ar, ac, ta, b, br, bc, tb, c, accumulate);
}

struct Geom {
  int64_t h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, dh, dw;
  int64_t patch() const { return kh * kw * c; }
  int64_t pixels() const { return oh * ow; }
};

Geom geom_of(const int64_t* g) {
  return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13]};
}

template <class F>
void for_each_patch(const Geom& g, int64_t n0, int64_t cnt, F&& f) {
  for (int64_t n = 0; n < cnt; ++n)
    for (int64_t i = 0; i < g.oh; ++i)
      for (int64_t j = 0; j < g.ow; ++j) {
        int64_t row = (n * g.oh + i) * g.ow + j;
        for (int64_t a = 0; a < g.kh; ++a) {
          int64_t y = i * g.sh + a * g.dh - g.pt;
          for (int64_t b = 0; b < g.kw; ++b) {
            int64_t x = j * g.sw + b * g.dw - g.pl;
            bool inside = y >= 0 && y < g.h && x >= 0 && x < g.w;
            f(row, a * g.kw + b, inside ? (((n0 + n) * g.h + y) * g.w + x) * g.c : int64_t{-1});
          }
        }
      }
}

void im2col(const Geom& g, const float* x, int64_t n0, int64_t cnt, float* cols) {
  const int64_t c = g.c, patch = g.patch();
  for_each_patch(g, n0, cnt, [&](int64_t row, int64_t tap, int64_t src) {
    float* dst = cols + row * patch + tap * c;
    if (src < 0) std::fill(dst, dst + c, 0.0f);
    else std::memcpy(dst, x + src, static_cast<size_t>(c) * sizeof(float));
  });
}

void col2im_add(const Geom& g, const float* cols, int64_t n0, int64_t cnt, float* dx) {
  const int64_t c = g.c, patch = g.patch();
  for_each_patch(g, n0, cnt, [&](int64_t row, int64_t tap, int64_t src) {
    if (src < 0) return;
    const float* s = cols + row * patch + tap * c;
    for (int64_t k = 0; k < c; ++k) dx[src + k] += s[k];
  });
}

int64_t chunk_of(const Geom& g, int64_t n) { return kiln::codegen::conv_chunk_images(g.pixels() * g.patch(), n); }

}  // namespace

extern "C" {

void kiln_rt_matmul(const float* a, const float* b, float* c, int64_t batch, int64_t ar, int64_t ac, int32_t ta,
                    int64_t br, int64_t bc, int32_t tb) {
  int64_t m = ta ? ac : ar, p = tb ? br : bc;
  if (batch * m * p == 0) return;
  for (int64_t i = 0; i < batch; ++i) gemm(a + i * ar * ac, ar, ac, ta, b + i * br * bc, br, bc, tb, c + i * m * p);
}

void kiln_rt_conv2d(const float* x, const float* w, float* y, const int64_t* geom, int64_t n, float* cols) {
  Geom g = geom_of(geom);
  if (n * g.pixels() * g.o == 0) return;
  int64_t chunk = chunk_of(g, n);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    int64_t cnt = std::min(chunk, n - n0), rows = cnt * g.pixels();
    im2col(g, x, n0, cnt, cols);
    gemm(cols, rows, g.patch(), false, w, g.patch(), g.o, false, y + n0 * g.pixels() * g.o);
  }
}

void kiln_rt_conv2d_input_grad(const float* dy, const float* w, float* dx, const int64_t* geom, int64_t n,
                               float* cols) {
  Geom g = geom_of(geom);
  std::fill(dx, dx + n * g.h * g.w * g.c, 0.0f);
  if (n * g.h * g.w * g.c == 0 || n * g.pixels() * g.o == 0) return;
  int64_t chunk = chunk_of(g, n);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    int64_t cnt = std::min(chunk, n - n0), rows = cnt * g.pixels();
    gemm(dy + n0 * g.pixels() * g.o, rows, g.o, false, w, g.patch(), g.o, true, cols);
    col2im_add(g, cols, n0, cnt, dx);
  }
}

void kiln_rt_conv2d_filter_grad(const float* x, const float* dy, float* dw, const int64_t* geom, int64_t n,
                                float* cols) {
  Geom g = geom_of(geom);
  std::fill(dw, dw + g.patch() * g.o, 0.0f);
  if (g.patch() * g.o == 0 || n * g.pixels() * g.o == 0) return;
  int64_t chunk = chunk_of(g, n);
  for (int64_t n0 = 0; n0 < n; n0 += chunk) {
    int64_t cnt = std::min(chunk, n - n0), rows = cnt * g.pixels();
    im2col(g, x, n0, cnt, cols);
    gemm(cols, rows, g.patch(), true, dy + n0 * g.pixels() * g.o, rows, g.o, false, dw, true);
  }
}

int32_t kiln_rt_ipow_i32(int32_t base, int32_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;  // truncated 1 / base^|e|
  uint32_t r = 1, b = static_cast<uint32_t>(base);
  for (uint32_t k = static_cast<uint32_t>(e); k; k >>= 1, b *= b)
    if (k & 1) r *= b;
  return static_cast<int32_t>(r);
}

}  // extern "C"

namespace kiln::codegen {

const RtSymbol* rt_symbols(int* count) {
  static const RtSymbol table[] = {
      {"kiln_rt_matmul", reinterpret_cast<void*>(&kiln_rt_matmul)},
      {"kiln_rt_conv2d", reinterpret_cast<void*>(&kiln_rt_conv2d)},
      {"kiln_rt_conv2d_input_grad", reinterpret_cast<void*>(&kiln_rt_conv2d_input_grad)},
      {"kiln_rt_conv2d_filter_grad", reinterpret_cast<void*>(&kiln_rt_conv2d_filter_grad)},
      {"kiln_rt_ipow_i32", reinterpret_cast<void*>(&kiln_rt_ipow_i32)},
  };
  *count = static_cast<int>(sizeof(table) / sizeof(table[0]));
  return table;
}

}  // namespace kiln::codegen
