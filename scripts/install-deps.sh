#!/usr/bin/env bash
# Installs the Debian packages Kiln needs, only those that are missing.
# Idempotent and non-interactive; fast (one dpkg query) when everything is present.
#   scripts/install-deps.sh           what `make demo` and `make test` need
#   scripts/install-deps.sh --bench   that, plus the PyTorch peer of `make bench`
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ make pkg-config ccache
  llvm-16-dev
  libeigen3-dev
  libboost-graph-dev
  libgraphviz-dev graphviz fonts-dejavu-core
  libgtest-dev libgmock-dev libbenchmark-dev
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libhdf5-dev
  clang libclang-rt-14-dev
)
# `make bench` only: the strongest PyTorch Debian gives (issue 7): PyTorch 1.13 with OpenBLAS
# (pthread build) and tcmalloc; scripts/bench.sh points torch at them.
BENCH_PACKAGES=(python3-torch libopenblas0-pthread libgoogle-perftools4)
if [[ ${1:-} == --bench ]]; then
  PACKAGES+=("${BENCH_PACKAGES[@]}")
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/install-deps.sh [--bench]" >&2
  exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "kiln: installing missing packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "kiln: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
