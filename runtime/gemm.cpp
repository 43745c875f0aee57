// The shared GEMM (runtime/gemm.h) on Eigen. The only TU that includes Eigen's
// product code; its compile flags (runtime/CMakeLists.txt) set the ISA of
// every contraction in the process.
#include "runtime/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat>;
using MMap = Eigen::Map<RowMat>;

// Visits the patch matrix of images [n0, n0+cnt): f(row, tap, src) where row is
// the output pixel, tap = (a*KW + b) the filter tap (a block of C columns), and
// src the offset of x[n, y, x, 0], or -1 when the tap reads padding.
template <class F>
void for_each_patch(const int64_t* g, int64_t n0, int64_t cnt, F&& f) {
  const int64_t h = g[0], w = g[1], c = g[2], kh = g[3], kw = g[4], oh = g[6], ow = g[7];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11], dh = g[12], dw = g[13];
  for (int64_t n = 0; n < cnt; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        int64_t row = (n * oh + i) * ow + j;
        for (int64_t a = 0; a < kh; ++a) {
          int64_t y = i * sh + a * dh - pt;
          for (int64_t b = 0; b < kw; ++b) {
            int64_t x = j * sw + b * dw - pl;
            bool inside = y >= 0 && y < h && x >= 0 && x < w;
            f(row, a * kw + b, inside ? (((n0 + n) * h + y) * w + x) * c : int64_t{-1});
          }
        }
      }
}

}  // namespace

extern "C" {

void kiln_gemm_f32(const float* a, int64_t ar, int64_t ac, int32_t ta, const float* b, int64_t br, int64_t bc,
                   int32_t tb, float* c, int32_t accumulate) {
  CMap A(a, ar, ac), B(b, br, bc);
  int64_t m = ta ? ac : ar, p = tb ? br : bc;
  MMap C(c, m, p);
  if (!accumulate) C.setZero();
  if (!ta && !tb) C.noalias() += A * B;
  else if (ta && !tb) C.noalias() += A.transpose() * B;
  else if (!ta && tb) C.noalias() += A * B.transpose();
  else C.noalias() += A.transpose() * B.transpose();
}

const char* kiln_gemm_isa() {
#if defined(__AVX2__) && defined(__FMA__)
  return "avx2+fma";
#else
  return "sse2";
#endif
}

void kiln_im2col_f32(const int64_t* g, const float* x, int64_t n0, int64_t cnt, float* cols) {
  const int64_t c = g[2], patch = g[3] * g[4] * g[2];
  for_each_patch(g, n0, cnt, [&](int64_t row, int64_t tap, int64_t src) {
    float* dst = cols + row * patch + tap * c;
    if (src < 0) std::fill(dst, dst + c, 0.0f);
    else std::memcpy(dst, x + src, static_cast<size_t>(c) * sizeof(float));
  });
}

void kiln_col2im_add_f32(const int64_t* g, const float* cols, int64_t n0, int64_t cnt, float* dx) {
  const int64_t c = g[2], patch = g[3] * g[4] * g[2];
  for_each_patch(g, n0, cnt, [&](int64_t row, int64_t tap, int64_t src) {
    if (src < 0) return;
    const float* s = cols + row * patch + tap * c;
    for (int64_t k = 0; k < c; ++k) dx[src + k] += s[k];
  });
}

}  // extern "C"
