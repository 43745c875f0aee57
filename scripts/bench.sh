#!/usr/bin/env bash
# Runs every benchmark executable that bench/CMakeLists.txt builds into BUILD/bench/,
# then prints one compact table of the JIT vs interpreter rows (time per call,
# speedup, GFLOP/s) from the models benchmark.
# Usage: scripts/bench.sh [BUILD] [BENCHMARK_ARGS...]   (the build folder must be configured and built)
#   e.g. scripts/bench.sh build --benchmark_filter='train_step/cnn/'
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

if [[ ! -f bench/CMakeLists.txt ]]; then
  echo "bench/: no benchmarks yet, nothing to run"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
found=0
for b in "$build"/bench/*; do
  [[ -f "$b" && -x "$b" ]] || continue
  found=1
  echo "== $b"
  "$b" --benchmark_out="$tmp/$(basename "$b").csv" --benchmark_out_format=csv "$@"
done
[[ $found == 1 ]] || { echo "bench/: no benchmark executables in $build/bench, nothing to run"; exit 0; }

# Rows named PROGRAM/MODEL/jit|interpreter/batch:B[/...] in Google Benchmark's CSV
# (name,iterations,real_time,cpu_time,time_unit,...,"GFLOP/s" last).
csv="$tmp/kiln_bench_models.csv"
[[ -f $csv ]] || exit 0
echo
echo "== JIT vs interpreter (wall time per call; speedup = interpreter / jit)"
awk -F, '
  /^"/ {
    name = $1; gsub(/"/, "", name)
    if (name ~ /_(mean|stddev|cv)$/) next  # with --benchmark_repetitions the _median row comes last and wins
    n = split(name, p, "/")
    if (n < 4 || (p[3] != "jit" && p[3] != "interpreter")) next
    b = p[4]; sub(/^batch:/, "", b)
    key = p[1] SUBSEP p[2] SUBSEP b
    if (!(key in seen)) { seen[key] = 1; order[++rows] = key }
    scale = $5 == "ns" ? 1e-3 : $5 == "ms" ? 1e3 : $5 == "s" ? 1e6 : 1
    t[key, p[3]] = $3 * scale
    g[key, p[3]] = $NF
  }
  END {
    if (!rows) exit
    printf "%-11s %-15s %6s %12s %14s %8s %12s %12s\n", "program", "model", "batch", "jit us", "interpreter us",
           "speedup", "jit GFLOP/s", "int GFLOP/s"
    for (i = 1; i <= rows; ++i) {
      k = order[i]; split(k, f, SUBSEP)
      j = t[k, "jit"]; r = t[k, "interpreter"]
      printf "%-11s %-15s %6s %12s %14s %8s %12s %12s\n", f[1], f[2], f[3],
             j == "" ? "-" : sprintf("%.1f", j), r == "" ? "-" : sprintf("%.1f", r),
             (j > 0 && r > 0) ? sprintf("%.2fx", r / j) : "-",
             g[k, "jit"] == "" ? "-" : sprintf("%.2f", g[k, "jit"]),
             g[k, "interpreter"] == "" ? "-" : sprintf("%.2f", g[k, "interpreter"])
    }
  }' "$csv"
