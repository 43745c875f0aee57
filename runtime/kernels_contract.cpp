// Contraction kernels on the shared GEMM (runtime/gemm.h): matmul in every form the shape rule
// allows, and conv2d with its two adjoints by im2col / col2im.
//
// conv2d is the product of the patch matrix cols [rows, KH*KW*C] (rows =
// images * OH * OW; zero where the window reads padding) and the filter viewed
// as [KH*KW*C, O], by kiln_conv2d_f32 (implicit GEMM, or im2col per chunk).
// The adjoints reuse the same patch layout: input_grad = col2im(dy * W^T)
// (scatter-add, skipping padding; for many output channels one implicit GEMM
// over dy, kiln_conv2d_input_grad_f32) and filter_grad = sum over chunks of
// cols^T * dy, which makes them exact adjoints.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "runtime/gemm.h"
#include "runtime/kernels_util.h"

namespace kiln::runtime::kernels {
namespace {

// c = op(a) * op(b) (accumulate: c += ...), with a stored [ar, ac] and b [br, bc] row-major.
void gemm(const float* a, int64_t ar, int64_t ac, bool ta, const float* b, int64_t br, int64_t bc, bool tb, float* c,
          bool accumulate = false) {
  kiln_gemm_f32(a, ar, ac, ta, b, br, bc, tb, c, accumulate, nullptr);
}

// The geometry of one conv2d: input [N,H,W,C], filter [KH,KW,C,O], output [N,OH,OW,O].
struct ConvGeom {
  int64_t n, h, w, c, kh, kw, o, oh, ow;
  Window2D win;
  int64_t patch() const { return kh * kw * c; }
  int64_t pixels() const { return oh * ow; }
};

ConvGeom conv_geom(const Dims& x, const Dims& f, const Window2D& win) {
  KILN_ASSERT(x.size() == 4 && f.size() == 4 && f[2] == x[3], "conv2d: bad input/filter shapes");
  ConvGeom g{x[0], x[1], x[2], x[3], f[0], f[1], f[3], 0, 0, win};
  g.oh = (g.h + win.pt + win.pb - ((g.kh - 1) * win.dh + 1)) / win.sh + 1;
  g.ow = (g.w + win.pl + win.pr - ((g.kw - 1) * win.dw + 1)) / win.sw + 1;
  KILN_ASSERT(g.oh >= 1 && g.ow >= 1, "conv2d: window does not fit the input");
  return g;
}

// How many images go into one patch matrix (bounds its size to ~16 MB).
int64_t images_per_chunk(const ConvGeom& g) {
  int64_t per_image = std::max<int64_t>(g.pixels() * g.patch(), 1);
  return std::clamp<int64_t>((int64_t{1} << 22) / per_image, 1, std::max<int64_t>(g.n, 1));
}

// The geometry in the layout of the shared im2col (runtime/gemm.h).
std::array<int64_t, 14> im2col_geom(const ConvGeom& g) {
  const Window2D& s = g.win;
  return {g.h, g.w, g.c, g.kh, g.kw, g.o, g.oh, g.ow, s.sh, s.sw, s.pt, s.pl, s.dh, s.dw};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  KILN_ASSERT(a.rank() >= 2 && b.rank() >= 2, "matmul operands need rank >= 2");
  const Dims& as = a.shape();
  const Dims& bs = b.shape();
  int64_t ar = a.rank(), br = b.rank();
  int64_t m = as[ar - (ta ? 1 : 2)], k = as[ar - (ta ? 2 : 1)];
  int64_t k2 = bs[br - (tb ? 1 : 2)], p = bs[br - (tb ? 2 : 1)];
  KILN_ASSERT(k == k2, "matmul contracting dimensions differ");
  Dims shape(as.begin(), as.end() - 2);
  shape.push_back(m);
  shape.push_back(p);
  Tensor out = Tensor::zeros(shape, DType::f32);
  if (out.size() == 0) return out;
  if (br == 2) {
    // lhs [..., M, K] x rhs [K, P]: the leading lhs dims fold into M (transpose_a only for rank 2).
    KILN_ASSERT(!ta || ar == 2, "transpose_a needs a rank-2 lhs or a batched matmul");
    int64_t rows = ta ? m : a.size() / std::max<int64_t>(k, 1);
    if (k == 0) return out;
    gemm(a.data(), ta ? k : rows, ta ? rows : k, ta, b.data(), bs[0], bs[1], tb, out.data());
    return out;
  }
  KILN_ASSERT(ar == br && std::equal(as.begin(), as.end() - 2, bs.begin()), "batched matmul batch dims differ");
  int64_t batch = product(Dims(as.begin(), as.end() - 2));
  int64_t a_mat = as[ar - 2] * as[ar - 1], b_mat = bs[br - 2] * bs[br - 1];
  for (int64_t i = 0; i < batch; ++i)
    gemm(a.data() + i * a_mat, as[ar - 2], as[ar - 1], ta, b.data() + i * b_mat, bs[br - 2], bs[br - 1], tb,
         out.data() + i * m * p);
  return out;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Window2D& win) {
  ConvGeom g = conv_geom(x.shape(), w.shape(), win);
  Tensor y = Tensor::zeros({g.n, g.oh, g.ow, g.o}, DType::f32);
  if (y.size() == 0) return y;
  kiln_conv2d_f32(im2col_geom(g).data(), x.data(), w.data(), g.n, y.data(), nullptr);
  return y;
}

Tensor conv2d_input_grad(const Tensor& dy, const Tensor& w, const Dims& input_shape, const Window2D& win) {
  ConvGeom g = conv_geom(input_shape, w.shape(), win);
  KILN_ASSERT(dy.shape() == (Dims{g.n, g.oh, g.ow, g.o}), "conv2d_input_grad: dy does not match the conv output");
  Tensor dx = Tensor::zeros(input_shape, DType::f32);
  if (dx.size() == 0) return dx;
  int64_t chunk = images_per_chunk(g);
  std::unique_ptr<float[]> cols(new float[static_cast<size_t>(chunk * g.pixels() * g.patch())]);
  kiln_conv2d_input_grad_f32(im2col_geom(g).data(), dy.data(), w.data(), g.n, dx.data(), cols.get(), chunk, nullptr);
  return dx;
}

Tensor conv2d_filter_grad(const Tensor& x, const Tensor& dy, const Dims& filter_shape, const Window2D& win) {
  ConvGeom g = conv_geom(x.shape(), filter_shape, win);
  KILN_ASSERT(dy.shape() == (Dims{g.n, g.oh, g.ow, g.o}), "conv2d_filter_grad: dy does not match the conv output");
  Tensor dw = Tensor::zeros(filter_shape, DType::f32);
  if (dw.size() == 0 || dy.size() == 0) return dw;
  kiln_conv2d_filter_grad_f32(im2col_geom(g).data(), x.data(), dy.data(), g.n, dw.data(), 0);
  return dw;
}

}  // namespace kiln::runtime::kernels
