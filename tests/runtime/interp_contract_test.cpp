// Interpreter tests for matmul, conv2d and its adjoints, max_pool2d and its
// gradient, each against a naive loop reference on random data.
#include <cstring>
#include <limits>

#include "runtime/kernels.h"
#include "test_util.h"

namespace kiln::rt_test {
namespace {

// --- matmul ---

// Naive reference: lhs [B..., M, K] (or with leading dims folded), rhs [K,P] or [B..., K, P].
Tensor naive_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Dims& as = a.shape();
  const Dims& bs = b.shape();
  int64_t ar = a.rank(), br = b.rank();
  int64_t m = as[ar - (ta ? 1 : 2)], k = as[ar - (ta ? 2 : 1)], p = bs[br - (tb ? 2 : 1)];
  int64_t batch = 1;
  for (int64_t d = 0; d + 2 < ar; ++d) batch *= as[d];
  Dims shape(as.begin(), as.end() - 2);
  shape.push_back(m);
  shape.push_back(p);
  Tensor out = Tensor::zeros(shape);
  for (int64_t z = 0; z < batch; ++z) {
    const float* A = a.data() + z * m * k;
    const float* B = b.data() + (br == 2 ? 0 : z * k * p);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < p; ++j) {
        double s = 0;
        for (int64_t q = 0; q < k; ++q)
          s += double{ta ? A[q * m + i] : A[i * k + q]} * (tb ? B[j * k + q] : B[q * p + j]);
        out.data()[(z * m + i) * p + j] = static_cast<float>(s);
      }
  }
  return out;
}

void check_matmul(Dims as, Dims bs, bool ta, bool tb, uint32_t seed) {
  Tensor a = random_tensor(as, seed), b = random_tensor(bs, seed + 1);
  Tensor y = run1(OpKind::Matmul, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}});
  SCOPED_TRACE(a.shape_string() + " x " + b.shape_string() + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
  expect_near(y, naive_matmul(a, b, ta, tb), 1e-5f);
}

TEST(InterpMatmul, HandChecked) {
  expect_equal(run1(OpKind::Matmul, {Tensor({2, 2}, {1, 2, 3, 4}), Tensor({2, 1}, {5, 6})}), Tensor({2, 1}, {17, 39}));
  expect_equal(run1(OpKind::Matmul, {Tensor({2, 2}, {1, 2, 3, 4}), Tensor({2, 2}, {1, 0, 0, 1})},
                    {{"transpose_a", true}}),
               Tensor({2, 2}, {1, 3, 2, 4}));
}

TEST(InterpMatmul, AllFormsAgainstNaive) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_matmul(ta ? Dims{7, 5} : Dims{5, 7}, tb ? Dims{3, 7} : Dims{7, 3}, ta, tb, 10);
      check_matmul(ta ? Dims{4, 6, 5} : Dims{4, 5, 6}, tb ? Dims{4, 3, 6} : Dims{4, 6, 3}, ta, tb, 20);  // batched
      check_matmul(ta ? Dims{2, 3, 6, 5} : Dims{2, 3, 5, 6}, tb ? Dims{2, 3, 4, 6} : Dims{2, 3, 6, 4}, ta, tb, 30);
    }
  for (bool tb : {false, true}) {
    check_matmul({3, 4, 5}, tb ? Dims{2, 5} : Dims{5, 2}, false, tb, 40);  // rank-3 lhs x rank-2 rhs
    check_matmul({2, 3, 4, 5}, tb ? Dims{6, 5} : Dims{5, 6}, false, tb, 50);
  }
  check_matmul({33, 65}, {65, 17}, false, false, 60);  // past Eigen's small-matrix paths
}

// --- conv2d ---

struct ConvCase {
  Dims x, w;
  Dims strides, padding, dilations;
};

const ConvCase kConvCases[] = {
    {{1, 5, 5, 1}, {3, 3, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
    {{2, 7, 6, 3}, {3, 2, 3, 4}, {2, 1}, {1, 0, 2, 1}, {1, 1}},
    {{3, 9, 8, 2}, {2, 3, 2, 5}, {1, 2}, {0, 1, 1, 0}, {2, 2}},
    {{2, 11, 10, 3}, {4, 4, 3, 2}, {3, 2}, {2, 2, 3, 1}, {1, 2}},
    {{1, 6, 6, 1}, {1, 1, 1, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}},
    {{2, 5, 4, 2}, {5, 4, 2, 3}, {1, 1}, {2, 2, 1, 2}, {1, 1}},
};

runtime::kernels::Window2D win_of(const ConvCase& c) {
  return {c.w[0], c.w[1], c.strides[0], c.strides[1], c.padding[0], c.padding[1], c.padding[2], c.padding[3],
          c.dilations[0], c.dilations[1]};
}

AttrMap conv_attrs(const ConvCase& c) {
  return {{"strides", c.strides}, {"padding", c.padding}, {"dilations", c.dilations}};
}

// Calls f(n, i, j, a, b, c, o, x_offset) for every in-bounds tap (naive definition of conv2d).
template <class F>
void naive_conv_taps(const ConvCase& cc, int64_t oh, int64_t ow, F f) {
  auto w = win_of(cc);
  int64_t N = cc.x[0], H = cc.x[1], W = cc.x[2], C = cc.x[3], O = cc.w[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t a = 0; a < w.kh; ++a)
          for (int64_t b = 0; b < w.kw; ++b) {
            int64_t y = i * w.sh + a * w.dh - w.pt, x = j * w.sw + b * w.dw - w.pl;
            if (y < 0 || y >= H || x < 0 || x >= W) continue;
            for (int64_t c = 0; c < C; ++c)
              for (int64_t o = 0; o < O; ++o) f(n, i, j, a, b, c, o, ((n * H + y) * W + x) * C + c);
          }
}

TEST(InterpConv, HandChecked) {
  Tensor x({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = Tensor::full({2, 2, 1, 1}, 1);
  expect_equal(run1(OpKind::Conv2D, {x, w}, {{"strides", Dims{1, 1}}, {"padding", Dims{0, 0, 0, 0}}}),
               Tensor({1, 2, 2, 1}, {12, 16, 24, 28}));
  // padding 1 on the bottom and right, stride 2: windows at (0,0), (0,2), (2,0), (2,2)
  expect_equal(run1(OpKind::Conv2D, {x, w}, {{"strides", Dims{2, 2}}, {"padding", Dims{0, 1, 0, 1}}}),
               Tensor({1, 2, 2, 1}, {12, 9, 15, 9}));
}

TEST(InterpConv, ForwardAgainstNaive) {
  uint32_t seed = 100;
  for (const ConvCase& cc : kConvCases) {
    Tensor x = random_tensor(cc.x, seed++), w = random_tensor(cc.w, seed++);
    Tensor y = run1(OpKind::Conv2D, {x, w}, conv_attrs(cc));
    Tensor ref = Tensor::zeros(y.shape());
    int64_t oh = y.dim(1), ow = y.dim(2), O = cc.w[3], KW = cc.w[1], C = cc.w[2];
    std::vector<double> acc(static_cast<size_t>(ref.size()));
    naive_conv_taps(cc, oh, ow, [&](auto n, auto i, auto j, auto a, auto b, auto c, auto o, auto xo) {
      acc[((n * oh + i) * ow + j) * O + o] += double{x.data()[xo]} * w.data()[((a * KW + b) * C + c) * O + o];
    });
    for (int64_t i = 0; i < ref.size(); ++i) ref.data()[i] = static_cast<float>(acc[i]);
    SCOPED_TRACE(x.shape_string() + " * " + w.shape_string());
    expect_near(y, ref, 1e-5f);
  }
}

TEST(InterpConv, InputGradAgainstNaive) {
  uint32_t seed = 200;
  for (const ConvCase& cc : kConvCases) {
    Tensor w = random_tensor(cc.w, seed++);
    Tensor y0 = run1(OpKind::Conv2D, {Tensor::zeros(cc.x), w}, conv_attrs(cc));
    Tensor dy = random_tensor(y0.shape(), seed++);
    AttrMap at = conv_attrs(cc);
    at.set("input_shape", cc.x);
    Tensor dx = run1(OpKind::Conv2DInputGrad, {dy, w}, at);
    int64_t oh = dy.dim(1), ow = dy.dim(2), O = cc.w[3], KW = cc.w[1], C = cc.w[2];
    std::vector<double> acc(static_cast<size_t>(dx.size()));
    naive_conv_taps(cc, oh, ow, [&](auto n, auto i, auto j, auto a, auto b, auto c, auto o, auto xo) {
      acc[xo] += double{dy.data()[((n * oh + i) * ow + j) * O + o]} * w.data()[((a * KW + b) * C + c) * O + o];
    });
    Tensor ref = Tensor::zeros(cc.x);
    for (int64_t i = 0; i < ref.size(); ++i) ref.data()[i] = static_cast<float>(acc[i]);
    expect_near(dx, ref, 1e-5f);
  }
}

TEST(InterpConv, FilterGradAgainstNaive) {
  uint32_t seed = 300;
  for (const ConvCase& cc : kConvCases) {
    Tensor x = random_tensor(cc.x, seed++);
    Tensor y0 = run1(OpKind::Conv2D, {x, Tensor::zeros(cc.w)}, conv_attrs(cc));
    Tensor dy = random_tensor(y0.shape(), seed++);
    AttrMap at = conv_attrs(cc);
    at.set("filter_shape", cc.w);
    Tensor dw = run1(OpKind::Conv2DFilterGrad, {x, dy}, at);
    int64_t oh = dy.dim(1), ow = dy.dim(2), O = cc.w[3], KW = cc.w[1], C = cc.w[2];
    std::vector<double> acc(static_cast<size_t>(dw.size()));
    naive_conv_taps(cc, oh, ow, [&](auto n, auto i, auto j, auto a, auto b, auto c, auto o, auto xo) {
      acc[((a * KW + b) * C + c) * O + o] += double{x.data()[xo]} * dy.data()[((n * oh + i) * ow + j) * O + o];
    });
    Tensor ref = Tensor::zeros(cc.w);
    for (int64_t i = 0; i < ref.size(); ++i) ref.data()[i] = static_cast<float>(acc[i]);
    expect_near(dw, ref, 1e-5f);
  }
}

// <conv(x,w), dy> == <x, input_grad(dy,w)> == <w, filter_grad(x,dy)>
TEST(InterpConv, AdjointIdentities) {
  uint32_t seed = 400;
  for (const ConvCase& cc : kConvCases) {
    Tensor x = random_tensor(cc.x, seed++), w = random_tensor(cc.w, seed++);
    Tensor y = run1(OpKind::Conv2D, {x, w}, conv_attrs(cc));
    Tensor dy = random_tensor(y.shape(), seed++);
    AttrMap ia = conv_attrs(cc), fa = conv_attrs(cc);
    ia.set("input_shape", cc.x);
    fa.set("filter_shape", cc.w);
    double lhs = dot(y, dy);
    double via_x = dot(x, run1(OpKind::Conv2DInputGrad, {dy, w}, ia));
    double via_w = dot(w, run1(OpKind::Conv2DFilterGrad, {x, dy}, fa));
    double scale = 1e-5 * (1 + std::fabs(lhs));
    EXPECT_NEAR(lhs, via_x, scale) << x.shape_string();
    EXPECT_NEAR(lhs, via_w, scale) << x.shape_string();
  }
}

// --- max pooling ---

struct PoolCase {
  Dims x, window, strides, padding;
};

const PoolCase kPoolCases[] = {
    {{1, 4, 4, 1}, {2, 2}, {2, 2}, {0, 0, 0, 0}},
    {{2, 7, 5, 3}, {3, 2}, {2, 1}, {1, 1, 0, 1}},
    {{2, 6, 9, 2}, {3, 3}, {3, 2}, {2, 1, 1, 2}},
    {{1, 5, 5, 4}, {2, 3}, {1, 2}, {1, 0, 2, 2}},
};

AttrMap pool_attrs(const PoolCase& p) {
  return {{"window", p.window}, {"strides", p.strides}, {"padding", p.padding}};
}

// Naive: the offset in x of the first maximum of each output cell, in row-major window order.
std::vector<int64_t> naive_pool_arg(const PoolCase& p, const Tensor& x, int64_t oh, int64_t ow) {
  int64_t N = p.x[0], H = p.x[1], W = p.x[2], C = p.x[3];
  std::vector<int64_t> arg;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t c = 0; c < C; ++c) {
          int64_t best = -1;
          for (int64_t a = 0; a < p.window[0]; ++a)
            for (int64_t b = 0; b < p.window[1]; ++b) {
              int64_t y = i * p.strides[0] + a - p.padding[0], xx = j * p.strides[1] + b - p.padding[2];
              if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
              int64_t off = ((n * H + y) * W + xx) * C + c;
              if (best < 0 || x.data()[off] > x.data()[best]) best = off;
            }
          arg.push_back(best);
        }
  return arg;
}

TEST(InterpPool, HandChecked) {
  Tensor x({1, 2, 4, 1}, {1, 5, -3, -2, 4, 2, -8, -1});
  AttrMap at{{"window", Dims{2, 2}}, {"strides", Dims{2, 2}}, {"padding", Dims{0, 0, 0, 0}}};
  expect_equal(run1(OpKind::MaxPool2D, {x}, at), Tensor({1, 1, 2, 1}, {5, -1}));
  // padded cells never win: an all-negative input with padding still gives its own values
  AttrMap padded{{"window", Dims{2, 2}}, {"strides", Dims{2, 2}}, {"padding", Dims{1, 1, 1, 1}}};
  expect_equal(run1(OpKind::MaxPool2D, {Tensor({1, 2, 2, 1}, {-1, -2, -3, -4})}, padded),
               Tensor({1, 2, 2, 1}, {-1, -2, -3, -4}));
}

TEST(InterpPool, ForwardAgainstNaive) {
  uint32_t seed = 500;
  for (const PoolCase& p : kPoolCases) {
    Tensor x = random_tensor(p.x, seed++, -2, -1);  // negative, so a zero from padding would show
    Tensor y = run1(OpKind::MaxPool2D, {x}, pool_attrs(p));
    std::vector<int64_t> arg = naive_pool_arg(p, x, y.dim(1), y.dim(2));
    ASSERT_EQ(static_cast<int64_t>(arg.size()), y.size());
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_EQ(y.data()[i], x.data()[arg[i]]) << x.shape_string();
  }
}

TEST(InterpPool, GradRoutesToFirstMaximum) {
  // Ties everywhere: each window's dy goes to its first cell only.
  Tensor x = Tensor::full({1, 3, 3, 1}, 1);
  Tensor dy({1, 2, 2, 1}, {1, 10, 100, 1000});
  AttrMap at{{"window", Dims{2, 2}}, {"strides", Dims{1, 1}}, {"padding", Dims{0, 0, 0, 0}}};
  expect_equal(run1(OpKind::MaxPool2DGrad, {x, dy}, at), Tensor({1, 3, 3, 1}, {1, 10, 0, 100, 1000, 0, 0, 0, 0}));
  uint32_t seed = 600;
  for (const PoolCase& p : kPoolCases) {
    Tensor xr = random_tensor(p.x, seed++);
    for (int64_t i = 0; i < xr.size(); i += 3) xr.data()[i] = 0.5f;  // plenty of ties
    Tensor y = run1(OpKind::MaxPool2D, {xr}, pool_attrs(p));
    Tensor g = random_tensor(y.shape(), seed++);
    Tensor dx = run1(OpKind::MaxPool2DGrad, {xr, g}, pool_attrs(p));
    Tensor ref = Tensor::zeros(p.x);
    std::vector<int64_t> arg = naive_pool_arg(p, xr, y.dim(1), y.dim(2));
    for (size_t i = 0; i < arg.size(); ++i) ref.data()[arg[i]] += g.data()[i];
    expect_near(dx, ref, 1e-6f);
  }
}

// got and want hold the same f32 bits.
void expect_bits(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  ASSERT_EQ(got.dtype(), DType::f32);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.nbytes()), 0) << got.shape_string();
}

// max_pool2d_winners gives max_pool2d's values and where each came from, and
// max_pool2d_scatter of those winners gives max_pool2d_grad's bits: ties,
// -0 and +0, NaN (which wins), padded, overlapping and gapped windows.
TEST(InterpPool, WinnersAndScatterAreMaxPoolAndItsGrad) {
  AttrMap at{{"window", Dims{2, 2}}, {"strides", Dims{1, 1}}, {"padding", Dims{0, 0, 0, 0}}};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x({1, 3, 3, 1}, {1, 1, 1, 2, -0.0f, 0.0f, nan, -1, 0});
  std::vector<Tensor> yw = run_op(OpKind::MaxPool2DWinners, {x}, at);
  ASSERT_EQ(yw.size(), 2u);
  const uint8_t want[] = {2, 0, 2, 0};  // the maximum; the first of ties; NaN wins; -0 before +0 wins
  ASSERT_EQ(yw[1].dtype(), DType::u8);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(yw[1].data_u8()[k], want[k]) << k;
  uint32_t seed = 700;
  const float special[] = {-1.0f, -0.0f, 0.0f, 1.0f, nan};
  for (const PoolCase& p : kPoolCases) {
    Tensor xr = random_tensor(p.x, seed++);
    for (int64_t i = 0; i < xr.size(); i += 2) xr.data()[i] = special[(i / 2 + seed) % 5];
    const Tensor y = run1(OpKind::MaxPool2D, {xr}, pool_attrs(p));
    const std::vector<Tensor> pw = run_op(OpKind::MaxPool2DWinners, {xr}, pool_attrs(p));
    expect_bits(pw[0], y);
    Tensor g = random_tensor(y.shape(), seed++);
    for (int64_t i = 0; i < g.size(); i += 3) g.data()[i] = special[(i / 3) % 5];
    AttrMap sa = pool_attrs(p);
    sa.set("input_shape", p.x);
    expect_bits(run1(OpKind::MaxPool2DScatter, {pw[1], g}, sa), run1(OpKind::MaxPool2DGrad, {xr, g}, pool_attrs(p)));
  }
}

}  // namespace
}  // namespace kiln::rt_test
