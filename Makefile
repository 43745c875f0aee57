# Kiln's front door. `make demo` and `make test` work on a fresh Debian 12 machine
# as root: they install the missing Debian packages, configure, build, then run.
#
#   make demo                 builds the kiln command and runs the seven tutorial models:
#                             summaries and the MLP's IR on stdout, PNGs in out/
#   make test                 every test (ctest, 2 jobs, a timeout per test), then every fuzz
#                             harness for TEST_FUZZ_SECONDS each (25; 0 skips; see fuzz/run.sh)
#   make bench                Kiln vs PyTorch on the seven models (installs Debian's python3-torch,
#                             OpenBLAS, tcmalloc if missing): one table on stdout and in README.md
#   make fuzz                 builds the libFuzzer harnesses (clang) in build-fuzz/, runs each FUZZ_SECONDS
#   make install PREFIX=/opt/kiln
#   make build                configure + build only
#   make clean                removes build/ and out/

BUILD     ?= build
PREFIX    ?= /usr/local
BUILD_TYPE ?= RelWithDebInfo
JOBS      ?= 2
TEST_TIMEOUT ?= 300
OUT       ?= out

# ccache hits across build folders and clones.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps configure build demo test bench fuzz install clean

all: build

deps:
	bash scripts/install-deps.sh

configure:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

demo: deps
	$(MAKE) --no-print-directory configure
	cmake --build $(BUILD) -j $(JOBS) --target kiln
	$(BUILD)/tools/kiln examples --train --out-dir $(OUT)
	@echo
	@echo "== forward IR of the MLP ($(BUILD)/tools/kiln ir mlp) =="
	$(BUILD)/tools/kiln ir mlp
	@echo
	@echo "The seven graph PNGs are in $(OUT)/."

# The bounded fuzz run (CI runs `make test`): builds the harnesses with clang in build-fuzz/
# and runs each from the kept corpora; a crash fails the target and leaves its reproducer
# in build-fuzz/artifacts/ (fuzz/run.sh prints the command that replays it).
TEST_FUZZ_SECONDS ?= 25
test: deps
	$(MAKE) --no-print-directory build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout $(TEST_TIMEOUT)
ifneq ($(TEST_FUZZ_SECONDS),0)
	FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) JOBS=$(JOBS) bash fuzz/run.sh
endif

# bench/CMakeLists.txt puts its executables in $(BUILD)/bench/; scripts/bench.sh runs them and
# the PyTorch peer (bench/peers/) and joins the results (bench/report.py). Only this target
# installs the bench packages.
bench:
	bash scripts/install-deps.sh --bench
	$(MAKE) --no-print-directory build
	bash scripts/bench.sh $(BUILD)

# fuzz/run.sh builds with clang in build-fuzz/ and runs model_from_json, ir_parser, weights, model_file.
FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash fuzz/run.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(OUT)
