// Max pooling and its gradient (NHWC). Padded cells never win: each window is
// reduced over its cells inside the input only (the shape rule keeps padding
// smaller than the window, so every window has at least one such cell). The
// maximum is the first one in row-major window order; NaN counts as largest.
// Channels are the innermost loop, so each window step is a contiguous sweep.
#include <cmath>
#include <vector>

#include "runtime/kernels_util.h"

namespace kiln::runtime::kernels {
namespace {

struct PoolGeom {
  int64_t n, h, w, c, oh, ow;
};

PoolGeom pool_geom(const Dims& x, const Window2D& s) {
  KILN_ASSERT(x.size() == 4, "max_pool2d: input must be NHWC");
  PoolGeom g{x[0], x[1], x[2], x[3], 0, 0};
  g.oh = (g.h + s.pt + s.pb - s.kh) / s.sh + 1;
  g.ow = (g.w + s.pl + s.pr - s.kw) / s.sw + 1;
  KILN_ASSERT(g.oh >= 1 && g.ow >= 1, "max_pool2d: window does not fit the input");
  return g;
}

// Calls f(n, i, j, arg, pos) per output pixel, where arg[c] is the offset in
// x of the winning cell for channel c and pos[c] its row-major position in
// the window (a * kw + b).
template <class F>
void for_each_window(const PoolGeom& g, const Window2D& s, const float* x, F&& f) {
  std::vector<int64_t> arg(static_cast<size_t>(g.c)), pos(static_cast<size_t>(g.c));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh; ++i)
      for (int64_t j = 0; j < g.ow; ++j) {
        bool first = true;
        for (int64_t a = 0; a < s.kh; ++a) {
          int64_t y = i * s.sh + a - s.pt;
          if (y < 0 || y >= g.h) continue;
          for (int64_t b = 0; b < s.kw; ++b) {
            int64_t xx = j * s.sw + b - s.pl;
            if (xx < 0 || xx >= g.w) continue;
            int64_t base = ((n * g.h + y) * g.w + xx) * g.c;
            for (int64_t c = 0; c < g.c; ++c) {
              float v = x[base + c], best = first ? 0.0f : x[arg[c]];
              if (first || (!std::isnan(best) && (v > best || std::isnan(v)))) {
                arg[c] = base + c;
                pos[c] = a * s.kw + b;
              }
            }
            first = false;
          }
        }
        KILN_ASSERT(!first, "max_pool2d: a window lies entirely in the padding");
        f(n, i, j, arg, pos);
      }
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Window2D& win) {
  PoolGeom g = pool_geom(x.shape(), win);
  Tensor y = Tensor::zeros({g.n, g.oh, g.ow, g.c}, DType::f32);
  const float* px = x.data();
  float* py = y.data();
  for_each_window(g, win, px, [&](int64_t n, int64_t i, int64_t j, const std::vector<int64_t>& arg, const std::vector<int64_t>&) {
    float* o = py + ((n * g.oh + i) * g.ow + j) * g.c;
    for (int64_t c = 0; c < g.c; ++c) o[c] = px[arg[c]];
  });
  return y;
}

Tensor max_pool2d_grad(const Tensor& x, const Tensor& dy, const Window2D& win) {
  PoolGeom g = pool_geom(x.shape(), win);
  KILN_ASSERT(dy.shape() == (Dims{g.n, g.oh, g.ow, g.c}), "max_pool2d_grad: dy does not match the pool output");
  Tensor dx = Tensor::zeros(x.shape(), DType::f32);
  const float* pdy = dy.data();
  float* pdx = dx.data();
  for_each_window(g, win, x.data(), [&](int64_t n, int64_t i, int64_t j, const std::vector<int64_t>& arg, const std::vector<int64_t>&) {
    const float* d = pdy + ((n * g.oh + i) * g.ow + j) * g.c;
    for (int64_t c = 0; c < g.c; ++c) pdx[arg[c]] += d[c];
  });
  return dx;
}

std::pair<Tensor, Tensor> max_pool2d_winners(const Tensor& x, const Window2D& win) {
  PoolGeom g = pool_geom(x.shape(), win);
  KILN_ASSERT(win.kh * win.kw <= 256, "max_pool2d_winners: more than 256 cells per window");
  Tensor y = Tensor::zeros({g.n, g.oh, g.ow, g.c}, DType::f32);
  Tensor w = Tensor::zeros({g.n, g.oh, g.ow, g.c}, DType::u8);
  const float* px = x.data();
  float* py = y.data();
  uint8_t* pw = w.data_u8();
  for_each_window(g, win, px,
                  [&](int64_t n, int64_t i, int64_t j, const std::vector<int64_t>& arg, const std::vector<int64_t>& pos) {
                    const int64_t at = ((n * g.oh + i) * g.ow + j) * g.c;
                    for (int64_t c = 0; c < g.c; ++c) {
                      py[at + c] = px[arg[c]];
                      pw[at + c] = static_cast<uint8_t>(pos[c]);
                    }
                  });
  return {y, w};
}

Tensor max_pool2d_scatter(const Tensor& winners, const Tensor& dy, const Dims& input_shape, const Window2D& win) {
  PoolGeom g = pool_geom(input_shape, win);
  const Dims pooled{g.n, g.oh, g.ow, g.c};
  KILN_ASSERT(winners.shape() == pooled && dy.shape() == pooled, "max_pool2d_scatter: operands do not match the pool");
  Tensor dx = Tensor::zeros(input_shape, DType::f32);
  const uint8_t* pw = winners.data_u8();
  const float* pdy = dy.data();
  float* pdx = dx.data();
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t i = 0; i < g.oh; ++i)
      for (int64_t j = 0; j < g.ow; ++j) {
        const int64_t at = ((n * g.oh + i) * g.ow + j) * g.c;
        for (int64_t c = 0; c < g.c; ++c) {
          const int64_t t = pw[at + c], y = i * win.sh + t / win.kw - win.pt, xx = j * win.sw + t % win.kw - win.pl;
          if (t >= win.kh * win.kw || y < 0 || y >= g.h || xx < 0 || xx >= g.w)
            throw Error("max_pool2d_scatter: winner " + std::to_string(t) + " of window (" + std::to_string(i) + ", " +
                        std::to_string(j) + ") is not a cell of the input");
          pdx[((n * g.h + y) * g.w + xx) * g.c + c] += pdy[at + c];
        }
      }
  return dx;
}

}  // namespace kiln::runtime::kernels
