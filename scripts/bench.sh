#!/usr/bin/env bash
# Runs every benchmark executable that bench/CMakeLists.txt builds into BUILD/bench/.
# Usage: scripts/bench.sh [BUILD]   (the build folder must be configured and built)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

if [[ ! -f bench/CMakeLists.txt ]]; then
  echo "bench/: no benchmarks yet, nothing to run"
  exit 0
fi
found=0
for b in "$build"/bench/*; do
  [[ -f "$b" && -x "$b" ]] || continue
  found=1
  echo "== $b"
  "$b"
done
[[ $found == 1 ]] || echo "bench/: no benchmark executables in $build/bench, nothing to run"
