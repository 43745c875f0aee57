// The shared GEMM (runtime/gemm.h) alone: GFLOP/s per shape with 1 and 2
// threads, and as a fraction of the machine's FMA peak (measured here with a
// chain-free FMA loop on one core, times the thread count). Shapes: the
// tutorial CNN's conv GEMMs at batch 32 (forward, input grad, filter grad),
// square sizes and an LSTM-step-sized product; then the CNN's convolutions
// as the conv kernels run them (implicit GEMM).
//
//   build/bench/kiln_bench_gemm --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace {

// FMAs per second of one core, from 12 independent FMA chains over the widest vectors the GEMM uses.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) double fma_peak_avx512(int64_t iters) {
  __m512 acc[12], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
  for (auto& a : acc) a = _mm512_set1_ps(1.0f);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i)
    for (auto& a : acc) a = _mm512_fmadd_ps(a, x, y);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sink[16];
  _mm512_storeu_ps(sink, acc[0]);
  benchmark::DoNotOptimize(sink);
  return 2.0 * 16 * 12 * static_cast<double>(iters) / s;
}
__attribute__((target("avx2,fma"))) double fma_peak_avx2(int64_t iters) {
  __m256 acc[12], x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
  for (auto& a : acc) a = _mm256_set1_ps(1.0f);
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i)
    for (auto& a : acc) a = _mm256_fmadd_ps(a, x, y);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sink[8];
  _mm256_storeu_ps(sink, acc[0]);
  benchmark::DoNotOptimize(sink);
  return 2.0 * 8 * 12 * static_cast<double>(iters) / s;
}
#endif

// The best of a few runs (others may share the machine), in FLOP/s; 0 when unknown.
double core_peak() {
  static const double peak = [] {
    double best = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    const bool wide = std::strcmp(kiln_gemm_isa(), "avx512") == 0;
    const bool avx2 = std::strcmp(kiln_gemm_isa(), "avx2+fma") == 0;
    for (int r = 0; r < 5 && (wide || avx2); ++r)
      best = std::max(best, wide ? fma_peak_avx512(20'000'000) : fma_peak_avx2(20'000'000));
#endif
    return best;
  }();
  return peak;
}

// The label, GFLOP/s and fraction of the FMA peak of `threads` cores, for `flop` per iteration.
void report(benchmark::State& state, const std::string& label, double flop, int32_t threads) {
  state.SetLabel(label);
  state.counters["GFLOP/s"] = benchmark::Counter(flop * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = core_peak() * threads;
  if (peak > 0)
    state.counters["peak_frac"] = benchmark::Counter(flop / peak, benchmark::Counter::kIsIterationInvariantRate);
}

struct Shape {
  const char* name;
  int64_t m, n, k;
  bool ta, tb;
};

const Shape kShapes[] = {
    {"cnn_conv1_fwd", 119072, 32, 16, false, false},      // cols [32*61*61, 16] x W [16, 32]
    {"cnn_conv2_fwd", 23328, 16, 512, false, false},      // cols [32*27*27, 512] x W [512, 16]
    {"cnn_conv2_dcols", 23328, 512, 16, false, true},     // dy [23328, 16] x W^T
    {"cnn_conv2_dw", 512, 16, 23328, true, false},        // cols^T x dy
    {"square_256", 256, 256, 256, false, false},
    {"square_512", 512, 512, 512, false, false},
    {"square_1024", 1024, 1024, 1024, false, false},
    {"lstm_step", 32, 40, 10, false, false},
};

void BM_gemm(benchmark::State& state) {
  const Shape& s = kShapes[state.range(0)];
  const auto threads = static_cast<int32_t>(state.range(1));
  std::vector<float> a(static_cast<size_t>(s.m * s.k), 0.5f), b(static_cast<size_t>(s.k * s.n), 0.25f),
      c(static_cast<size_t>(s.m * s.n));
  const int32_t before = kiln_num_threads();
  kiln_set_num_threads(threads);
  for (auto _ : state) {
    kiln_gemm_f32(a.data(), s.ta ? s.k : s.m, s.ta ? s.m : s.k, s.ta, b.data(), s.tb ? s.n : s.k, s.tb ? s.k : s.n,
                  s.tb, c.data(), 0, nullptr);
    benchmark::ClobberMemory();
  }
  kiln_set_num_threads(before);
  report(state, std::string(s.name) + " " + kiln_gemm_isa(), 2.0 * static_cast<double>(s.m * s.n * s.k), threads);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t i = 0; i < static_cast<int64_t>(sizeof(kShapes) / sizeof(kShapes[0])); ++i)
    for (int64_t t : {1, 2}) b->Args({i, t});
}

BENCHMARK(BM_gemm)->Apply(shapes)->ArgNames({"shape", "threads"})->UseRealTime();

// The tutorial CNN's convolutions at batch 32 (valid padding, stride 1), as
// the JIT runs them: conv2d, its input gradient (conv2 only: conv1's input is
// the model's) and its filter gradient, straight from NHWC tensors; and
// conv2d + bias + relu + the 2x2 max_pool2d of predict as one call.
struct ConvShape {
  const char* name;
  int64_t geom[14];  // gemm.h: h, w, c, kh, kw, o, oh, ow, sh, sw, pt, pl, dh, dw
};
const ConvShape kConvs[] = {
    {"cnn_conv1", {64, 64, 1, 4, 4, 32, 61, 61, 1, 1, 0, 0, 1, 1}},
    {"cnn_conv2", {30, 30, 32, 4, 4, 16, 27, 27, 1, 1, 0, 0, 1, 1}},
};
enum ConvKernel { kForward, kInputGrad, kFilterGrad, kForwardPool };

void BM_conv(benchmark::State& state) {
  const ConvShape& s = kConvs[state.range(0)];
  const auto which = static_cast<ConvKernel>(state.range(1));
  const auto threads = static_cast<int32_t>(state.range(2));
  const int64_t* g = s.geom;
  const int64_t n = 32, in = n * g[0] * g[1] * g[2], out = n * g[6] * g[7] * g[5], filt = g[3] * g[4] * g[2] * g[5];
  std::vector<float> x(static_cast<size_t>(in)), w(static_cast<size_t>(filt)), y(static_cast<size_t>(out));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) * 0.0625f - 0.5f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 13) * 0.03125f - 0.2f;
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(i % 11) * 0.05f - 0.25f;
  std::vector<float> cols;
  if (which == kInputGrad && kiln_conv2d_uses_cols(g[2], g[5], 1))
    cols.resize(static_cast<size_t>(n * g[6] * g[7] * g[3] * g[4] * g[2]));
  const int64_t pool[8] = {2, 2, 2, 2, 0, 0, g[6] / 2, g[7] / 2};
  const std::vector<float> bias(static_cast<size_t>(g[5]), 0.01f);
  const KilnEpilogue relu{bias.data(), nullptr, KILN_ACT_RELU};
  const int32_t before = kiln_num_threads();
  kiln_set_num_threads(threads);
  for (auto _ : state) {
    if (which == kForward) kiln_conv2d_f32(g, x.data(), w.data(), n, y.data(), nullptr);
    else if (which == kForwardPool) kiln_conv2d_max_pool_f32(g, pool, x.data(), w.data(), n, y.data(), nullptr, &relu);
    else if (which == kInputGrad) kiln_conv2d_input_grad_f32(g, y.data(), w.data(), n, x.data(), cols.data(), n, nullptr);
    else kiln_conv2d_filter_grad_f32(g, x.data(), y.data(), n, w.data(), 0);
    benchmark::ClobberMemory();
  }
  kiln_set_num_threads(before);
  static const char* const kKernelNames[] = {"forward", "input_grad", "filter_grad", "forward+relu+max_pool"};
  report(state, std::string(s.name) + " " + kKernelNames[which] + " " + kiln_gemm_isa(),
         2.0 * static_cast<double>(n * g[6] * g[7] * g[5] * g[3] * g[4] * g[2]), threads);
}

void convs(benchmark::internal::Benchmark* b) {
  for (int64_t i = 0; i < static_cast<int64_t>(sizeof(kConvs) / sizeof(kConvs[0])); ++i)
    for (int64_t k : {kForward, kInputGrad, kFilterGrad, kForwardPool})
      for (int64_t t : {1, 2})
        if (k != kInputGrad || i != 0) b->Args({i, k, t});
}

BENCHMARK(BM_conv)->Apply(convs)->ArgNames({"conv", "kernel", "threads"})->UseRealTime();

void BM_fma_peak_core(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(core_peak());
  state.counters["GFLOP/s"] = core_peak() * 1e-9;
}
BENCHMARK(BM_fma_peak_core)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
