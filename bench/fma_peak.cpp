// The machine's fused multiply-add peak, the yardstick for every GFLOP/s in
// `make bench`: independent chains of vector FMAs (no loads, no stores), on
// one thread and on every core. AVX-512 (<16 x float>) when the CPU has it,
// else AVX2+FMA (<8 x float>); a CPU with neither reports 0 and a label.
//
//   build/bench/kiln_bench_fma_peak   (GFLOP/s counter; threads:2 = both cores)
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <string>
#include <thread>

namespace {

// Ten independent accumulators (kept in registers: written out, an array would
// live on the stack) cover FMA latency (4 cycles) times throughput (2 per cycle).
// Each starts from a different value: chains with equal inputs are one chain to
// the compiler (GCC 12 merged ten into one, and the "peak" read 10x too high).
constexpr int kChains = 10;
constexpr int64_t kStepsPerIteration = 1 << 16;

// FLOPs per call of the kernels below: kChains FMAs of `lanes` floats, 2 FLOPs each, per step.
double flops_per_call(int lanes) { return 2.0 * kChains * lanes * static_cast<double>(kStepsPerIteration); }

// kStepsPerIteration steps of kChains independent <16 x float> FMAs; returns one lane of their sum.
__attribute__((target("avx512f"))) float fma_chains_avx512(float seed) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  __m512 c0 = _mm512_set1_ps(seed), c1 = _mm512_set1_ps(seed + 1), c2 = _mm512_set1_ps(seed + 2),
         c3 = _mm512_set1_ps(seed + 3), c4 = _mm512_set1_ps(seed + 4), c5 = _mm512_set1_ps(seed + 5),
         c6 = _mm512_set1_ps(seed + 6), c7 = _mm512_set1_ps(seed + 7), c8 = _mm512_set1_ps(seed + 8),
         c9 = _mm512_set1_ps(seed + 9);
  for (int64_t i = 0; i < kStepsPerIteration; ++i) {
    c0 = _mm512_fmadd_ps(c0, a, b);
    c1 = _mm512_fmadd_ps(c1, a, b);
    c2 = _mm512_fmadd_ps(c2, a, b);
    c3 = _mm512_fmadd_ps(c3, a, b);
    c4 = _mm512_fmadd_ps(c4, a, b);
    c5 = _mm512_fmadd_ps(c5, a, b);
    c6 = _mm512_fmadd_ps(c6, a, b);
    c7 = _mm512_fmadd_ps(c7, a, b);
    c8 = _mm512_fmadd_ps(c8, a, b);
    c9 = _mm512_fmadd_ps(c9, a, b);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(s, _mm512_add_ps(c8, c9)));
  return lanes[0];
}

// The same with <8 x float> AVX2 FMAs.
__attribute__((target("avx2,fma"))) float fma_chains_avx2(float seed) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  __m256 c0 = _mm256_set1_ps(seed), c1 = _mm256_set1_ps(seed + 1), c2 = _mm256_set1_ps(seed + 2),
         c3 = _mm256_set1_ps(seed + 3), c4 = _mm256_set1_ps(seed + 4), c5 = _mm256_set1_ps(seed + 5),
         c6 = _mm256_set1_ps(seed + 6), c7 = _mm256_set1_ps(seed + 7), c8 = _mm256_set1_ps(seed + 8),
         c9 = _mm256_set1_ps(seed + 9);
  for (int64_t i = 0; i < kStepsPerIteration; ++i) {
    c0 = _mm256_fmadd_ps(c0, a, b);
    c1 = _mm256_fmadd_ps(c1, a, b);
    c2 = _mm256_fmadd_ps(c2, a, b);
    c3 = _mm256_fmadd_ps(c3, a, b);
    c4 = _mm256_fmadd_ps(c4, a, b);
    c5 = _mm256_fmadd_ps(c5, a, b);
    c6 = _mm256_fmadd_ps(c6, a, b);
    c7 = _mm256_fmadd_ps(c7, a, b);
    c8 = _mm256_fmadd_ps(c8, a, b);
    c9 = _mm256_fmadd_ps(c9, a, b);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(s, _mm256_add_ps(c8, c9)));
  return lanes[0];
}

void fma_peak(benchmark::State& state) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!avx512 && !avx2) {
    state.SkipWithError("no AVX2+FMA: no FMA peak measured");
    return;
  }
  const int lanes = avx512 ? 16 : 8;
  float sink = 0;
  for (auto _ : state) {
    sink += avx512 ? fma_chains_avx512(sink) : fma_chains_avx2(sink);
    benchmark::DoNotOptimize(sink);
  }
  state.SetLabel(avx512 ? "avx512 <16 x float>" : "avx2 <8 x float>");
  state.counters["GFLOP/s"] = benchmark::Counter(flops_per_call(lanes) * static_cast<double>(state.iterations()) * 1e-9,
                                                 benchmark::Counter::kIsRate);
}

// threads:1 is one core's peak; threads:<cores> the machine's (counters sum over threads).
const int registered = [] {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  auto* b = benchmark::RegisterBenchmark("fma_peak", fma_peak)->Unit(benchmark::kMillisecond)->UseRealTime();
  b->Threads(1);
  if (cores > 1) b->Threads(cores);
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
