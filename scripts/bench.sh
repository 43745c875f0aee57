#!/usr/bin/env bash
# `make bench`: Kiln vs PyTorch on the seven tutorial models, one table.
#   1. build/bench/kiln_bench_fma_peak  the machine's FMA peak (1 thread and all cores)
#   2. build/bench/kiln_bench_models    Kiln's JIT: predict and train_step at batch 1/32/256,
#                                       train_step compile time (cold, disk cache)
#   3. bench/peers/pytorch_seed_models.py  the same models in PyTorch, with 1 and with 2 threads,
#                                       OpenBLAS (pthread build) via LD_LIBRARY_PATH, tcmalloc via LD_PRELOAD
#   4. bench/report.py                  the joined table, on stdout and into README.md's Performance section
# Every result file stays in BUILD/bench-results/. Any failing step fails the whole run.
#
# Usage: scripts/bench.sh [BUILD] [BENCHMARK_ARGS...]   (BUILD configured and built; the args go to kiln_bench_models)
# Environment:
#   BENCH_INTERPRETER=1   also time the interpreter (slow: minutes for the conv models at batch 256)
#   BENCH_README=FILE     where the table goes (default README.md; empty: stdout only)
#   BENCH_MIN_TIME=S      seconds per repetition (default 0.1), BENCH_REPETITIONS=N (default 5)
#   BENCH_TORCH_THREADS="1 2"   PyTorch thread counts (best per row)
#   PYTHON=/usr/bin/python3     Debian's python, the one python3-torch installs into
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

python=${PYTHON:-/usr/bin/python3}
min_time=${BENCH_MIN_TIME:-0.1}
reps=${BENCH_REPETITIONS:-5}
torch_threads=${BENCH_TORCH_THREADS:-1 2}
readme=${BENCH_README-README.md}
out="$build/bench-results"
mkdir -p "$out"

die() { echo "bench: $*" >&2; exit 1; }

for exe in kiln_bench_fma_peak kiln_bench_models; do
  [[ -x $build/bench/$exe ]] || die "$build/bench/$exe is not built (make bench builds it; or ninja -C $build $exe)"
done
"$python" -c 'import torch' 2>/dev/null ||
  die "$python cannot import torch: install Debian's python3-torch (bash scripts/install-deps.sh --bench)"

# The libraries the PyTorch peer must run with, found through their Debian packages.
blas_dir=$(dpkg -L libopenblas0-pthread 2>/dev/null | grep '/libblas\.so\.3$' | xargs -r dirname) ||
  die "libopenblas0-pthread is not installed (bash scripts/install-deps.sh --bench)"
tcmalloc=$(dpkg -L libgoogle-perftools4 2>/dev/null | grep '/libtcmalloc\.so\.4$') ||
  die "libgoogle-perftools4 is not installed (bash scripts/install-deps.sh --bench)"

echo "== FMA peak ($build/bench/kiln_bench_fma_peak)"
"$build/bench/kiln_bench_fma_peak" --benchmark_repetitions="$reps" \
  --benchmark_out="$out/fma_peak.json" --benchmark_out_format=json

filter='^(predict|train_step)/.*/jit/|^compile/.*/train_step/'
[[ ${BENCH_INTERPRETER:-0} == 1 ]] && filter='^(predict|train_step)/|^compile/.*/train_step/'
echo
echo "== Kiln ($build/bench/kiln_bench_models)"
"$build/bench/kiln_bench_models" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out/kiln_models.json" --benchmark_out_format=json "$@"

torch_json=()
for t in $torch_threads; do
  echo
  echo "== PyTorch, $t thread(s) (bench/peers/pytorch_seed_models.py)"
  GLOG_minloglevel=2 LD_PRELOAD="$tcmalloc" LD_LIBRARY_PATH="$blas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" \
    "$python" bench/peers/pytorch_seed_models.py --threads "$t" --min-time "$min_time" --repetitions "$reps" \
    --require openblas --require tcmalloc --out "$out/pytorch_threads$t.json"
  torch_json+=(--pytorch "$out/pytorch_threads$t.json")
done

echo
echo "== Kiln vs PyTorch"
"$python" bench/report.py --kiln "$out/kiln_models.json" --peak "$out/fma_peak.json" "${torch_json[@]}" \
  ${readme:+--readme "$readme"}
