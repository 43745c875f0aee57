// The shared GEMM (runtime/gemm.h) and the thread pool (runtime/thread_pool.h):
// the GEMM against a double-accumulated reference at many shapes (every
// transpose, accumulate on and off, edges that are no multiple of the tile),
// bit for bit against its documented order (one fma chain per block of
// KILN_GEMM_K_BLOCK k steps, the blocks added in order; a conv's one chain over
// all of k), and bitwise the same for 1 and 2 threads.
#include <gtest/gtest.h>

#include <array>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/kernels.h"
#include "runtime/math_f32.h"
#include "runtime/thread_pool.h"

namespace {

struct Case {
  int64_t m, n, k;
  bool ta, tb, acc;
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// The operands of one case: a stored [m,k] (or [k,m] when ta), b [k,n] (or [n,k]), c [m,n].
struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Case& t, uint32_t seed)
      : a(random_floats(static_cast<size_t>(t.m * t.k), seed)),
        b(random_floats(static_cast<size_t>(t.k * t.n), seed + 1)),
        c(random_floats(static_cast<size_t>(t.m * t.n), seed + 2)) {}
  float A(const Case& t, int64_t i, int64_t q) const { return t.ta ? a[q * t.m + i] : a[i * t.k + q]; }
  float B(const Case& t, int64_t q, int64_t j) const { return t.tb ? b[j * t.k + q] : b[q * t.n + j]; }
};

// Runs kiln_gemm_f32 on the case, returning c.
std::vector<float> run(const Case& t, const Operands& o) {
  std::vector<float> c = o.c;
  kiln_gemm_f32(o.a.data(), t.ta ? t.k : t.m, t.ta ? t.m : t.k, t.ta, o.b.data(), t.tb ? t.n : t.k,
                t.tb ? t.k : t.n, t.tb, c.data(), t.acc, nullptr);
  return c;
}

std::string name(const Case& t) {
  return "m=" + std::to_string(t.m) + " n=" + std::to_string(t.n) + " k=" + std::to_string(t.k) +
         " ta=" + std::to_string(t.ta) + " tb=" + std::to_string(t.tb) + " acc=" + std::to_string(t.acc);
}

std::vector<Case> shapes() {
  std::vector<Case> out;
  for (int64_t m : {1, 5, 12, 13, 31, 64})
    for (int64_t n : {1, 7, 16, 17, 32, 40, 65})
      for (int64_t k : {1, 3, 16, 257})
        for (int f = 0; f < 8; ++f) out.push_back({m, n, k, (f & 1) != 0, (f & 2) != 0, (f & 4) != 0});
  return out;
}

TEST(Gemm, MatchesDoubleReference) {
  uint32_t seed = 1;
  for (const Case& t : shapes()) {
    SCOPED_TRACE(name(t));
    Operands o(t, seed += 3);
    std::vector<float> c = run(t, o);
    int bad = 0;
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) {
        double s = t.acc ? o.c[i * t.n + j] : 0.0;
        for (int64_t q = 0; q < t.k; ++q) s += double{o.A(t, i, q)} * o.B(t, q, j);
        float got = c[i * t.n + j];
        if (std::fabs(got - s) > 1e-5 * (1 + std::sqrt(double(t.k))) && bad++ < 3)
          ADD_FAILURE() << "(" << i << "," << j << "): " << got << " vs " << s;
      }
  }
}

// The documented sum of one element over k steps (gemm.h): per block of
// `block` steps one chain s = fma(x_q, y_q, s) in order (multiply then add on
// the ISA without FMA) from 0, the first from c0, the blocks' sums added in
// order. term(q) gives (x_q, y_q). block >= k: one chain (a conv's).
template <class Term>
float blocked_sum(int64_t k, int64_t block, float c0, Term&& term) {
  const bool fused = std::strcmp(kiln_gemm_isa(), "generic") != 0;
  float total = c0;
  for (int64_t q0 = 0; q0 < k; q0 += block) {
    float s = q0 == 0 ? c0 : 0.0f;
    for (int64_t q = q0; q < std::min(k, q0 + block); ++q) {
      const auto [x, y] = term(q);
      s = fused ? std::fma(x, y, s) : s + x * y;
    }
    total = q0 == 0 ? s : total + s;
  }
  return total;
}

// The element (i, j) of a case as gemm.h documents it.
float documented(const Case& t, const Operands& o, int64_t i, int64_t j) {
  return blocked_sum(t.k, KILN_GEMM_K_BLOCK, t.acc ? o.c[i * t.n + j] : 0.0f,
                     [&](int64_t q) { return std::pair{o.A(t, i, q), o.B(t, q, j)}; });
}

// c [m, n] = op(a) op(b) as one chain per element over all of k in order: what
// a conv's kernels compute from its patch matrix (gemm.h), not a product's.
std::vector<float> one_chain_product(const float* a, bool ta, const float* b, int64_t m, int64_t n, int64_t k) {
  std::vector<float> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      c[static_cast<size_t>(i * n + j)] = blocked_sum(k, k, 0.0f, [&](int64_t q) {
        return std::pair{ta ? a[q * m + i] : a[i * k + q], b[q * n + j]};
      });
  return c;
}

// Every element is the documented sum: one chain per block of
// KILN_GEMM_K_BLOCK k steps, the blocks added in order, whatever the shape and
// tile (k = 257: two blocks).
TEST(Gemm, IsOneFmaChainPerKBlock) {
  uint32_t seed = 7;
  for (const Case& t : shapes()) {
    SCOPED_TRACE(name(t));
    Operands o(t, seed += 3);
    std::vector<float> c = run(t, o);
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) {
        const float s = documented(t, o, i, j);
        ASSERT_EQ(std::memcmp(&s, &c[i * t.n + j], sizeof s), 0) << "(" << i << "," << j << ")";
      }
  }
}

// Long k at the block's edges (one step short, exact, one over, several
// blocks and a short last one, the shared_input model's 41344) and few or
// many rows: the documented blocked sum, so row i's bits do not depend on m,
// also with the epilogue's bias and relu and on 2 threads.
TEST(Gemm, LongKIsBlockedSumForAnyRowsAndThreads) {
  const int64_t bk = KILN_GEMM_K_BLOCK;
  const int32_t before = kiln_num_threads();
  uint32_t seed = 90;
  for (int64_t k : {bk - 1, bk, bk + 1, 2 * bk, 3 * bk + 5, int64_t{41344}})
    for (int64_t m : {1, 3, 32})
      for (int f = 0; f < 4; ++f) {
        const Case t{m, f & 1 ? 17 : 10, k, (f & 2) != 0, f == 3, f == 1};
        SCOPED_TRACE(name(t));
        Operands o(t, seed += 3);
        std::vector<float> bias = random_floats(static_cast<size_t>(t.n), seed + 50);
        std::vector<float> want(static_cast<size_t>(t.m * t.n));
        for (int64_t i = 0; i < t.m; ++i)
          for (int64_t j = 0; j < t.n; ++j) {
            const float x = documented(t, o, i, j) + bias[static_cast<size_t>(j)];
            want[static_cast<size_t>(i * t.n + j)] = x < 0.0f ? 0.0f : x;
          }
        const KilnEpilogue ep{bias.data(), nullptr, KILN_ACT_RELU};
        for (int32_t threads : {1, 2}) {
          kiln_set_num_threads(threads);
          std::vector<float> got = o.c;
          kiln_gemm_f32(o.a.data(), t.ta ? t.k : t.m, t.ta ? t.m : t.k, t.ta, o.b.data(), t.tb ? t.n : t.k,
                        t.tb ? t.k : t.n, t.tb, got.data(), t.acc, &ep);
          EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << threads << " threads";
        }
      }
  kiln_set_num_threads(before);
}

// The epilogue as the graph ops it stands for: add the bias row, the
// activation (relu: x < 0 ? 0 : x; sigmoid and tanh: runtime/math_f32, as the
// interpreter), select(mask > 0, x, 0).
void reference_epilogue(std::vector<float>& c, int64_t n, const float* bias, const float* mask, int32_t act) {
  for (size_t e = 0; e < c.size(); ++e) {
    float x = c[e];
    if (bias) x = x + bias[static_cast<int64_t>(e) % n];
    if (act == KILN_ACT_RELU) x = x < 0.0f ? 0.0f : x;
    if (act == KILN_ACT_SIGMOID) x = kiln_sigmoid_f32(x);
    if (act == KILN_ACT_TANH) x = kiln_tanh_f32(x);
    if (mask) x = mask[e] > 0.0f ? x : 0.0f;
    c[e] = x;
  }
}

// Values that exercise every branch of the epilogue: signs, zeros of both
// signs, NaN.
std::vector<float> special_floats(size_t n, uint32_t seed) {
  std::vector<float> v = random_floats(n, seed);
  const float odd[] = {0.0f, -0.0f, std::nanf(""), -1.0f, 1.0f};
  for (size_t i = 0; i < n; i += 3) v[i] = odd[(i / 3) % 5];
  return v;
}

// A product with an epilogue is the product, then the epilogue, bit for bit,
// for every combination of steps (relu, sigmoid, tanh), at whole tiles (also past the first column
// panel) and edge tiles, with accumulate, and for k = 0.
TEST(Gemm, EpilogueEqualsProductThenOps) {
  uint32_t seed = 40;
  for (Case t : {Case{25, 70, 16, false, false, false}, Case{31, 17, 257, true, false, true},
                 Case{24, 64, 3, false, true, true}, Case{5, 65, 1, true, true, false}, Case{7, 9, 0, false, false, false}}) {
    SCOPED_TRACE(name(t));
    Operands o(t, seed += 3);
    std::vector<float> bias = special_floats(static_cast<size_t>(t.n), seed + 100);
    std::vector<float> mask = special_floats(static_cast<size_t>(t.m * t.n), seed + 200);
    for (int f = 1; f < 16; ++f) {  // bias, mask, and each activation
      const bool use_bias = f & 1, use_mask = f & 2;
      const int32_t act = f >> 2;
      std::vector<float> want = run(t, o);
      reference_epilogue(want, t.n, use_bias ? bias.data() : nullptr, use_mask ? mask.data() : nullptr, act);
      KilnEpilogue ep{use_bias ? bias.data() : nullptr, use_mask ? mask.data() : nullptr, act};
      std::vector<float> got = o.c;
      kiln_gemm_f32(o.a.data(), t.ta ? t.k : t.m, t.ta ? t.m : t.k, t.ta, o.b.data(), t.tb ? t.n : t.k,
                    t.tb ? t.k : t.n, t.tb, got.data(), t.acc, &ep);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << "epilogue steps " << f;
    }
  }
}

TEST(Gemm, ZeroKClearsOrKeeps) {
  std::vector<float> c(6, 3.0f);
  float dummy = 0;
  kiln_gemm_f32(&dummy, 2, 0, 0, &dummy, 0, 3, 0, c.data(), 1, nullptr);
  EXPECT_EQ(c, std::vector<float>(6, 3.0f));
  kiln_gemm_f32(&dummy, 2, 0, 0, &dummy, 0, 3, 0, c.data(), 0, nullptr);
  EXPECT_EQ(c, std::vector<float>(6, 0.0f));
}

// Large enough to split over the pool (rows, or panels when rows are few).
TEST(Gemm, SameBitsForOneAndTwoThreads) {
  const int32_t before = kiln_num_threads();
  // The last two: two row blocks and one 2W-wide panel, split as two W-wide
  // panels (12 rows), or as one whole 8-row block per thread (16 rows).
  for (Case t : {Case{1000, 48, 300, false, false, false}, Case{700, 40, 520, true, true, true},
                 Case{20, 700, 400, false, true, false}, Case{12, 32, 6000, true, false, false},
                 Case{16, 32, 6000, true, false, false}}) {
    SCOPED_TRACE(name(t));
    Operands o(t, 11);
    kiln_set_num_threads(1);
    std::vector<float> one = run(t, o);
    kiln_set_num_threads(2);
    std::vector<float> two = run(t, o);
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  }
  kiln_set_num_threads(before);
}

// A conv case: n images h x w x c, a kh x kw filter to o channels, strides,
// padding (top, left, bottom, right), dilations; and its derived sizes.
struct Conv {
  int64_t n, h, w, c, kh, kw, o, sh, sw, pt, pl, pb, pr, dh, dw;
  int64_t oh() const { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }
  int64_t patch() const { return kh * kw * c; }
  int64_t rows() const { return n * oh() * ow(); }
  std::array<int64_t, 14> geom() const { return {h, w, c, kh, kw, o, oh(), ow(), sh, sw, pt, pl, dh, dw}; }
};

// conv2d (implicit GEMM: filter-row k blocks for many channels, whole
// receptive fields for few) gives the bits of an explicit patch matrix and
// one FMA chain per element over all of it (a conv's sum, not a product's
// blocked one), then bias and relu, and a mask: with padding, strides and
// dilations, on 1 and 2 threads. Few channels: runs of whole slivers whose
// fields lie inside go down each panel in one call (tile_column, with a kind
// of its own for bias + relu), the rest tile by tile; cases with runs that
// cross output rows and images and end mid-sliver, 'same' padding (fields
// outside at every row's ends), panels of one and two vectors and a narrow
// last one, k over one k block, the CNN's first conv.
TEST(Gemm, Conv2dEqualsIm2colThenGemm) {
  for (const Conv& v : {Conv{3, 9, 8, 32, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1}, Conv{2, 11, 7, 17, 4, 2, 21, 2, 1, 0, 1, 2, 0, 1, 2},
                        Conv{2, 9, 9, 1, 4, 4, 32, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{1, 6, 5, 3, 2, 3, 5, 1, 2, 1, 0, 0, 1, 1, 1},
                        Conv{5, 30, 30, 32, 4, 4, 16, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{3, 12, 11, 2, 3, 3, 20, 2, 1, 1, 2, 0, 1, 2, 1},
                        Conv{4, 40, 40, 1, 8, 8, 16, 1, 1, 0, 0, 0, 0, 1, 1},
                        // few channels
                        Conv{3, 64, 64, 1, 4, 4, 32, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{2, 17, 29, 3, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1},
                        Conv{3, 21, 19, 2, 3, 2, 48, 2, 1, 0, 2, 1, 0, 2, 1}, Conv{2, 7, 9, 1, 2, 2, 8, 1, 1, 0, 0, 0, 0, 1, 1},
                        Conv{1, 13, 11, 1, 3, 3, 40, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{2, 23, 20, 15, 4, 4, 24, 1, 1, 0, 0, 0, 0, 1, 1},
                        Conv{1, 20, 26, 5, 8, 8, 16, 1, 1, 0, 0, 0, 0, 1, 1}}) {
    const int64_t patch = v.patch(), rows = v.rows();
    const std::array<int64_t, 14> geom = v.geom();
    SCOPED_TRACE("c=" + std::to_string(v.c) + " o=" + std::to_string(v.o) + " h=" + std::to_string(v.h) +
                 " patch=" + std::to_string(patch));
    std::vector<float> x = random_floats(static_cast<size_t>(v.n * v.h * v.w * v.c), 3);
    std::vector<float> w = random_floats(static_cast<size_t>(patch * v.o), 4);
    std::vector<float> cols(static_cast<size_t>(rows * patch));
    kiln_im2col_f32(geom.data(), x.data(), 0, v.n, cols.data());
    const std::vector<float> want = one_chain_product(cols.data(), false, w.data(), rows, v.o, patch);
    const std::vector<float> bias = special_floats(static_cast<size_t>(v.o), 12);
    const std::vector<float> mask = special_floats(static_cast<size_t>(rows * v.o), 13);
    std::vector<float> relu_want = want, fused_want = want;
    reference_epilogue(relu_want, v.o, bias.data(), nullptr, KILN_ACT_RELU);
    reference_epilogue(fused_want, v.o, bias.data(), mask.data(), KILN_ACT_RELU);
    const KilnEpilogue relu{bias.data(), nullptr, KILN_ACT_RELU}, ep{bias.data(), mask.data(), KILN_ACT_RELU};
    const int32_t before = kiln_num_threads();
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      std::vector<float> got(want.size(), 7.0f);
      kiln_conv2d_f32(geom.data(), x.data(), w.data(), v.n, got.data(), nullptr);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << threads << " threads";
      kiln_conv2d_f32(geom.data(), x.data(), w.data(), v.n, got.data(), &relu);
      EXPECT_EQ(std::memcmp(got.data(), relu_want.data(), want.size() * sizeof(float)), 0)
          << "bias + relu epilogue, " << threads << " threads";
      kiln_conv2d_f32(geom.data(), x.data(), w.data(), v.n, got.data(), &ep);
      EXPECT_EQ(std::memcmp(got.data(), fused_want.data(), want.size() * sizeof(float)), 0)
          << "bias + relu + mask epilogue, " << threads << " threads";
    }
    kiln_set_num_threads(before);
  }
}

// conv2d + max_pool2d in one call (bands of conv rows pooled from cache)
// gives the bits of kiln_conv2d_f32 then the interpreter's max_pool2d: for
// few and many channels, output channels no multiple of the vector, odd sizes
// whose last row and column no window reads, padded and strided convs, pool
// windows that overlap, leave gaps or reach into padding, NaN (sparse in x,
// a whole channel by its bias), relu's zeros, a mask, 1 and 2 threads; with
// winners, also the interpreter's max_pool2d_winners.
TEST(Gemm, Conv2dMaxPoolEqualsConvThenPool) {
  struct PoolCase {
    int64_t kh, kw, sh, sw, pt, pb, pl, pr;
  };
  const Conv convs[] = {Conv{3, 64, 64, 1, 4, 4, 32, 1, 1, 0, 0, 0, 0, 1, 1},  // the CNN's first conv
                        Conv{2, 30, 30, 32, 4, 4, 16, 1, 1, 0, 0, 0, 0, 1, 1},  // its second
                        Conv{2, 11, 7, 17, 4, 2, 21, 2, 1, 0, 1, 2, 0, 1, 2},
                        Conv{1, 9, 10, 3, 3, 3, 5, 1, 1, 1, 1, 1, 1, 1, 1},   // 'same'
                        Conv{2, 13, 12, 8, 3, 3, 19, 2, 2, 1, 1, 1, 1, 1, 1}};
  const PoolCase pools[] = {{2, 2, 2, 2, 0, 0, 0, 0}, {3, 3, 2, 2, 1, 1, 1, 1}, {2, 2, 1, 1, 0, 0, 0, 0},
                            {3, 2, 1, 3, 0, 0, 1, 0}, {1, 1, 2, 2, 0, 0, 0, 0}};
  const int32_t before = kiln_num_threads();
  for (const Conv& v : convs) {
    const std::array<int64_t, 14> geom = v.geom();
    std::vector<float> x = random_floats(static_cast<size_t>(v.n * v.h * v.w * v.c), 21);
    for (size_t i = 0; i < x.size(); i += 331) x[i] = std::nanf("");  // some windows hold NaN, most not
    std::vector<float> w = random_floats(static_cast<size_t>(v.patch() * v.o), 22);
    std::vector<float> bias = special_floats(static_cast<size_t>(v.o), 23);
    std::vector<float> mask = special_floats(static_cast<size_t>(v.rows() * v.o), 24);
    for (int32_t act : {KILN_ACT_NONE, KILN_ACT_RELU}) {  // with relu: bias and a mask too
      const KilnEpilogue ep{act ? bias.data() : nullptr, act ? mask.data() : nullptr, act};
      std::vector<float> conv(static_cast<size_t>(v.rows() * v.o));
      kiln_conv2d_f32(geom.data(), x.data(), w.data(), v.n, conv.data(), &ep);
      const kiln::Tensor y({v.n, v.oh(), v.ow(), v.o}, conv);
      for (const PoolCase& q : pools) {
        const kiln::runtime::kernels::Window2D win{q.kh, q.kw, q.sh, q.sw, q.pt, q.pb, q.pl, q.pr, 1, 1};
        const kiln::Tensor want = kiln::runtime::kernels::max_pool2d(y, win);
        const kiln::Tensor want_winners = kiln::runtime::kernels::max_pool2d_winners(y, win).second;
        const int64_t image = want.size() / v.n;
        const std::array<int64_t, 9> pool{q.kh, q.kw, q.sh, q.sw, q.pt, q.pl, want.shape()[1], want.shape()[2], image};
        SCOPED_TRACE("c=" + std::to_string(v.c) + " o=" + std::to_string(v.o) + " oh=" + std::to_string(v.oh()) +
                     " pool " + std::to_string(q.kh) + "x" + std::to_string(q.kw) + "/" + std::to_string(q.sh) +
                     "," + std::to_string(q.sw) + " act=" + std::to_string(act));
        for (int32_t threads : {1, 2}) {
          kiln_set_num_threads(threads);
          std::vector<float> got(static_cast<size_t>(want.size()), 7.0f), got_too(got);
          kiln_conv2d_max_pool_f32(geom.data(), pool.data(), x.data(), w.data(), v.n, got.data(), nullptr, &ep);
          EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << threads << " threads";
          std::vector<uint8_t> winners(got.size(), 255);
          kiln_conv2d_max_pool_f32(geom.data(), pool.data(), x.data(), w.data(), v.n, got_too.data(), winners.data(),
                                   &ep);
          EXPECT_EQ(std::memcmp(got_too.data(), want.data(), got.size() * sizeof(float)), 0) << threads << " threads";
          EXPECT_EQ(std::memcmp(winners.data(), want_winners.data_u8(), winners.size()), 0) << threads << " threads";
          // Images 3 floats further apart (a concat's columns): the same bits there, nothing between them written.
          std::array<int64_t, 9> wide = pool;
          wide[8] = image + 3;
          std::vector<float> strided(static_cast<size_t>(v.n * wide[8]), 7.0f);
          kiln_conv2d_max_pool_f32(geom.data(), wide.data(), x.data(), w.data(), v.n, strided.data(), winners.data(), &ep);
          for (int64_t i = 0; i < v.n; ++i) {
            const float* at = strided.data() + i * wide[8];
            EXPECT_EQ(std::memcmp(at, want.data() + i * image, static_cast<size_t>(image) * sizeof(float)), 0) << i;
            EXPECT_EQ(std::vector<float>(at + image, at + wide[8]), std::vector<float>(3, 7.0f)) << i;
          }
          EXPECT_EQ(std::memcmp(winners.data(), want_winners.data_u8(), winners.size()), 0) << threads << " threads";
        }
      }
    }
  }
  kiln_set_num_threads(before);
}

// The input gradient (implicit GEMM over dy for many output channels, col2im
// of dy * W^T for few) against a double-accumulated col2im reference.
TEST(Gemm, Conv2dInputGradMatchesReference) {
  for (const Conv& v : {Conv{3, 9, 8, 32, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1}, Conv{2, 11, 7, 5, 4, 2, 21, 2, 1, 0, 1, 2, 0, 1, 2},
                        Conv{2, 9, 9, 1, 4, 4, 32, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{1, 6, 5, 3, 2, 3, 5, 1, 2, 1, 0, 0, 1, 1, 1},
                        Conv{2, 13, 12, 8, 3, 3, 17, 2, 3, 1, 2, 1, 0, 2, 1}}) {
    const int64_t oh = v.oh(), ow = v.ow(), patch = v.patch(), rows = v.rows();
    const std::array<int64_t, 14> geom = v.geom();
    SCOPED_TRACE("c=" + std::to_string(v.c) + " o=" + std::to_string(v.o) + " patch=" + std::to_string(patch));
    std::vector<float> dy = random_floats(static_cast<size_t>(rows * v.o), 5);
    std::vector<float> w = random_floats(static_cast<size_t>(patch * v.o), 6);
    // dx[src] += sum_o dy[row, o] * w[tap*C + c, o], in double, over every (row, tap) that reads src.
    std::vector<double> want(static_cast<size_t>(v.n * v.h * v.w * v.c), 0.0);
    for (int64_t img = 0; img < v.n; ++img)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox)
          for (int64_t a = 0; a < v.kh; ++a)
            for (int64_t b = 0; b < v.kw; ++b) {
              const int64_t y = oy * v.sh + a * v.dh - v.pt, x = ox * v.sw + b * v.dw - v.pl;
              if (y < 0 || y >= v.h || x < 0 || x >= v.w) continue;
              const int64_t row = (img * oh + oy) * ow + ox;
              for (int64_t ch = 0; ch < v.c; ++ch) {
                double s = 0;
                for (int64_t q = 0; q < v.o; ++q) s += double{dy[row * v.o + q]} * w[((a * v.kw + b) * v.c + ch) * v.o + q];
                want[static_cast<size_t>(((img * v.h + y) * v.w + x) * v.c + ch)] += s;
              }
            }
    for (int64_t chunk : {int64_t{1}, v.n}) {
      std::vector<float> got(want.size(), 7.0f), scratch(static_cast<size_t>(chunk * oh * ow * patch));
      kiln_conv2d_input_grad_f32(geom.data(), dy.data(), w.data(), v.n, got.data(), scratch.data(), chunk, nullptr);
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "chunk " << chunk << " at " << i;
      // relu's backward mask as the epilogue: the plain result, masked, bit for bit.
      std::vector<float> mask = special_floats(want.size(), 13), masked(want.size(), 7.0f);
      reference_epilogue(got, v.c, nullptr, mask.data(), KILN_ACT_NONE);
      const KilnEpilogue ep{nullptr, mask.data(), KILN_ACT_NONE};
      kiln_conv2d_input_grad_f32(geom.data(), dy.data(), w.data(), v.n, masked.data(), scratch.data(), chunk, &ep);
      EXPECT_EQ(std::memcmp(got.data(), masked.data(), got.size() * sizeof(float)), 0) << "mask epilogue, chunk " << chunk;
    }
  }
}

// The implicit input gradient (16+ output channels) is one chain per dx
// element over k = (tap position t) * O + output channel, t along each filter
// row reversed when stride and dilation along it are 1 (conv_adjoint_tap),
// with a zero wherever the tap reads no output pixel: whether dy's borders
// are gathered or dy is zero-padded (stride 1), on 1 and 2 threads, in one
// chunk of images or several, with the mask epilogue.
TEST(Gemm, Conv2dInputGradIsOneChainInTapOrder) {
  const bool fused = std::strcmp(kiln_gemm_isa(), "generic") != 0;
  const int32_t before = kiln_num_threads();
  for (const Conv& v : {Conv{3, 9, 8, 5, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1}, Conv{2, 11, 7, 5, 4, 2, 21, 2, 1, 0, 1, 2, 0, 1, 2},
                        Conv{9, 30, 30, 32, 4, 4, 16, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{2, 13, 12, 8, 3, 3, 17, 2, 3, 1, 2, 1, 0, 2, 1},
                        Conv{4, 7, 9, 3, 3, 5, 16, 1, 1, 2, 0, 0, 4, 1, 1}, Conv{2, 6, 6, 4, 2, 2, 40, 1, 1, 0, 0, 0, 0, 1, 1}}) {
    const int64_t oh = v.oh(), ow = v.ow(), rows = v.rows(), taps = v.kh * v.kw;
    const std::array<int64_t, 14> geom = v.geom();
    SCOPED_TRACE("c=" + std::to_string(v.c) + " o=" + std::to_string(v.o) + " h=" + std::to_string(v.h));
    ASSERT_FALSE(kiln_conv2d_uses_cols(v.c, v.o, 1));
    std::vector<float> dy = random_floats(static_cast<size_t>(rows * v.o), 31);
    std::vector<float> w = random_floats(static_cast<size_t>(v.patch() * v.o), 32);
    std::vector<float> mask = special_floats(static_cast<size_t>(v.n * v.h * v.w * v.c), 33);
    const bool reversed = v.sw == 1 && v.dw == 1;
    std::vector<float> want(mask.size());
    for (int64_t img = 0; img < v.n; ++img)
      for (int64_t y = 0; y < v.h; ++y)
        for (int64_t x = 0; x < v.w; ++x)
          for (int64_t ch = 0; ch < v.c; ++ch) {
            float s = 0.0f;
            for (int64_t t = 0; t < taps; ++t) {
              const int64_t a = t / v.kw, b = reversed ? v.kw - 1 - t % v.kw : t % v.kw;
              const int64_t ny = y + v.pt - a * v.dh, nx = x + v.pl - b * v.dw;
              const bool read = ny >= 0 && nx >= 0 && ny % v.sh == 0 && nx % v.sw == 0 && ny / v.sh < oh && nx / v.sw < ow;
              for (int64_t q = 0; q < v.o; ++q) {
                const float d = read ? dy[(((img * oh) + ny / v.sh) * ow + nx / v.sw) * v.o + q] : 0.0f;
                const float f = w[((a * v.kw + b) * v.c + ch) * v.o + q];
                s = fused ? std::fma(d, f, s) : s + d * f;
              }
            }
            const size_t e = static_cast<size_t>(((img * v.h + y) * v.w + x) * v.c + ch);
            want[e] = mask[e] > 0.0f ? s : 0.0f;
          }
    const KilnEpilogue ep{nullptr, mask.data(), KILN_ACT_NONE};
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      std::vector<float> got(want.size(), 7.0f);
      kiln_conv2d_input_grad_f32(geom.data(), dy.data(), w.data(), v.n, got.data(), nullptr, v.n, &ep);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << threads << " threads";
    }
  }
  kiln_set_num_threads(before);
}

// The filter gradient (an implicit GEMM over x) gives the bits of an
// explicit patch matrix and one transposed product as one chain per entry
// over all pixels in order, with padding, strides, dilations, one and many channels,
// edge slivers, on 1 and 2 threads; and the double-accumulated patches^T * dy.
TEST(Gemm, Conv2dFilterGradEqualsIm2colThenGemm) {
  const int32_t before = kiln_num_threads();
  for (const Conv& v : {Conv{5, 12, 11, 3, 4, 4, 16, 1, 1, 0, 0, 0, 0, 1, 1}, Conv{3, 9, 8, 32, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1},
                        Conv{2, 11, 7, 17, 4, 2, 21, 2, 1, 0, 1, 2, 0, 1, 2}, Conv{4, 20, 20, 1, 4, 4, 32, 1, 1, 0, 0, 0, 0, 1, 1},
                        Conv{2, 13, 12, 8, 3, 3, 17, 2, 3, 1, 2, 1, 0, 2, 1}, Conv{6, 30, 30, 32, 4, 4, 16, 1, 1, 0, 0, 0, 0, 1, 1}}) {
    const int64_t patch = v.patch(), rows = v.rows();
    const std::array<int64_t, 14> geom = v.geom();
    SCOPED_TRACE("c=" + std::to_string(v.c) + " o=" + std::to_string(v.o) + " patch=" + std::to_string(patch));
    std::vector<float> x = random_floats(static_cast<size_t>(v.n * v.h * v.w * v.c), 8);
    std::vector<float> dy = random_floats(static_cast<size_t>(rows * v.o), 9);
    std::vector<float> cols(static_cast<size_t>(rows * patch));
    kiln_im2col_f32(geom.data(), x.data(), 0, v.n, cols.data());
    std::vector<float> want = one_chain_product(cols.data(), true, dy.data(), patch, v.o, rows);
    for (int32_t threads : {1, 2}) {
      kiln_set_num_threads(threads);
      std::vector<float> got(want.size(), 7.0f);
      kiln_conv2d_filter_grad_f32(geom.data(), x.data(), dy.data(), v.n, got.data(), 0);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << threads << " threads";
      // Image by image, accumulating from the second on: the same chains.
      std::fill(got.begin(), got.end(), 7.0f);
      for (int64_t i = 0; i < v.n; ++i)
        kiln_conv2d_filter_grad_f32(geom.data(), x.data() + i * v.h * v.w * v.c, dy.data() + i * rows / v.n * v.o, 1,
                                    got.data(), i > 0);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0) << threads << " threads, chunked";
    }
    for (int64_t i = 0; i < patch; ++i)
      for (int64_t q = 0; q < v.o; ++q) {
        double sum = 0;
        for (int64_t r = 0; r < rows; ++r) sum += double{cols[r * patch + i]} * dy[r * v.o + q];
        ASSERT_NEAR(want[i * v.o + q], sum, 1e-4 * (1 + std::sqrt(double(rows)))) << i << "," << q;
      }
  }
  kiln_set_num_threads(before);
}

TEST(ThreadPool, RangesCoverOnceInOrder) {
  const int32_t before = kiln_num_threads();
  kiln_set_num_threads(2);
  EXPECT_EQ(kiln_num_threads(), 2);
  for (int64_t n : {1, 2, 3, 100}) {
    std::vector<int> hits(static_cast<size_t>(n), 0);
    kiln::runtime::parallel_ranges(n, 4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
    });
    EXPECT_EQ(hits, std::vector<int>(static_cast<size_t>(n), 1)) << n;
  }
  kiln_set_num_threads(before);
}

// Ranges go to whoever claims them first (the caller takes back what no
// worker has started): over many short jobs, with more threads than cores,
// every range still runs exactly once per job.
TEST(ThreadPool, EveryRangeRunsOnceWhoeverClaimsIt) {
  const int32_t before = kiln_num_threads();
  for (int32_t threads : {2, 4}) {
    kiln_set_num_threads(threads);
    for (int job = 0; job < 2000; ++job) {
      const int64_t n = 1 + job % 7;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      kiln::runtime::parallel_ranges(n, threads, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " " << job;
    }
  }
  kiln_set_num_threads(before);
}

TEST(ThreadPool, NestedCallsRunInline) {
  const int32_t before = kiln_num_threads();
  kiln_set_num_threads(2);
  std::vector<int> inner(2, 0);
  kiln::runtime::parallel_ranges(2, 2, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      kiln::runtime::parallel_ranges(10, 2, [&](int64_t x, int64_t y) { inner[static_cast<size_t>(i)] += y - x; });
  });
  EXPECT_EQ(inner, (std::vector<int>{10, 10}));
  kiln_set_num_threads(0);
  EXPECT_GE(kiln_num_threads(), 1);
  kiln_set_num_threads(before);
}

}  // namespace
