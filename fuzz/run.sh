#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (ASan + UBSan) in build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60). `make fuzz` calls this, and `make test` (so CI) with 25 s each.
#
#   FUZZ_SECONDS=20 bash fuzz/run.sh                 # every target, 20 s each
#   FUZZ_TARGETS="ir_parser weights" bash fuzz/run.sh
#
# Targets: model_from_json, ir_parser, weights (Kiln weights format), model_file (load_model).
# Seeds come from fuzz/corpus/<target>/ (read only); inputs the fuzzer finds go to
# build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/<target>-crash-<sha1> (the
# command that replays one is printed). Exit status is nonzero if any target found a crash,
# leak, timeout or sanitizer report.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-2}
read -r -a TARGETS <<< "${FUZZ_TARGETS:-model_from_json ir_parser weights model_file}"
export CCACHE_BASEDIR=$ROOT

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (Debian: apt-get install clang)" >&2; exit 1; }
cmake -S "$ROOT/fuzz" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=("fuzz_$t"); done
start=$SECONDS
cmake --build "$BUILD" -j "$JOBS" --target "${build_targets[@]}"
echo "fuzz: built ${TARGETS[*]} in $((SECONDS - start)) s"

status=0
mkdir -p "$BUILD/artifacts"
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/corpus/$t"
  log="$BUILD/fuzz_$t.log"
  echo "fuzz: $t for ${SECONDS_EACH} s"
  if "$BUILD/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$BUILD/artifacts/$t-" -print_final_stats=1 \
      "$BUILD/corpus/$t" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1; then
    { grep -aE "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1 | sed "s/^/fuzz: $t: /"; } || true
    { grep -aE "stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$log" | sed "s/^/fuzz: $t: /"; } || true
  else
    status=1
    echo "fuzz: $t FAILED; log: $log" >&2
    grep -aE "ERROR|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    for r in "$BUILD/artifacts/$t-"*; do
      [[ -e "$r" ]] && echo "fuzz: reproduce with: $BUILD/fuzz_$t $r" >&2
    done
  fi
done
exit $status
