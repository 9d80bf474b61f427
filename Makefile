# correio — the two commands a user needs:
#   make run    install what is missing, build, start the server (embedded default)
#   make test   install, build (ASan+UBSan, -Werror) and run every test
BUILD      ?= build
TEST_BUILD ?= build-test
DATA       ?= ./correio-data
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test test-build clean format fuzz bench bench-quick soak

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORREIO_TESTS=OFF

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target correio

run: build
	$(BUILD)/correio serve --data $(DATA) --demo

$(TEST_BUILD)/build.ninja:
	cmake -S . -B $(TEST_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DCORREIO_SANITIZE=ON -DCORREIO_WERROR=ON -DCORREIO_TESTS=ON

test-build: deps $(TEST_BUILD)/build.ninja
	cmake --build $(TEST_BUILD) -j $(JOBS)

test: test-build
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The long forms of two tests `make test` runs short: the randomized
# multi-session IMAP model (SOAK_SEEDS seeds x SOAK_OPS operations with
# SOAK_SESSIONS sessions) and 1,000 mixed SMTP/IMAP/POP3 sessions for
# SOAK_LOAD_SECONDS.
SOAK_SEEDS    ?= 1-200
SOAK_OPS      ?= 2000
SOAK_SESSIONS ?= 5
SOAK_LOAD_SECONDS ?= 600
soak: test-build
	cd tests/e2e && CORREIO_BIN=$(abspath $(TEST_BUILD))/correio \
	  CORREIO_MODEL_SEEDS=$(SOAK_SEEDS) CORREIO_MODEL_OPS=$(SOAK_OPS) \
	  CORREIO_MODEL_SESSIONS=$(SOAK_SESSIONS) \
	  python3 -m unittest -v test_imap_model
	cd tests/e2e && CORREIO_BIN=$(abspath $(TEST_BUILD))/correio \
	  CORREIO_SOAK_SECONDS=$(SOAK_LOAD_SECONDS) CORREIO_E2E_VERBOSE=1 \
	  python3 -m unittest -v test_mixed_soak

# Benchmarks side by side with Postfix and Dovecot (docs/benchmarks.md):
# results in bench/results/LATEST.md. bench-quick: small counts, ~5 minutes.
BENCH_BUILD ?= build-bench

bench: deps
	@scripts/install-bench-deps.sh
	python3 bench/run.py --build-dir $(BENCH_BUILD)

bench-quick: deps
	@scripts/install-bench-deps.sh
	python3 bench/run.py --quick --build-dir $(BENCH_BUILD)

# libFuzzer (clang 16) build of tests/fuzz; every target runs FUZZ_SECONDS.
# `make test` replays the same corpora under GCC (label fuzz-replay).
fuzz: deps
	@scripts/install-fuzz-deps.sh
	@test -f $(FUZZ_BUILD)/build.ninja || cmake -C tests/fuzz/clang-fuzz.cmake \
	  -S . -B $(FUZZ_BUILD) $(CMAKE_GEN)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
