# Thin wrapper over CMake. `make` builds, `make test` installs what is missing,
# builds and runs every test, `make clean` removes the build folder.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all test deps configure clean bench demo

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

deps:
	bash scripts/install_deps.sh

test: deps
	$(MAKE) all
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: deps
	$(MAKE) all
	$(BUILD)/demo --out demo_out

bench: all
	$(BUILD)/bench_cpu_model

clean:
	rm -rf $(BUILD)

# Sanitizers: the CPU build and the whole test suite under AddressSanitizer and
# UndefinedBehaviorSanitizer (UBSan findings fatal), in build-asan/.
# tests/sanitizers/README.md lists what is suppressed and why.
.PHONY: test-asan fuzz
ASAN_BUILD ?= build-asan
ALIGN_ASAN_OPTIONS ?= detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
ALIGN_LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0
ALIGN_UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
test-asan: deps
	@test -f $(ASAN_BUILD)/CMakeCache.txt || cmake -S . -B $(ASAN_BUILD) -DALIGN_SANITIZE=ON -DALIGN_CUDA=OFF \
	  -DALIGN_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=$(ALIGN_ASAN_OPTIONS) UBSAN_OPTIONS=$(ALIGN_UBSAN_OPTIONS) LSAN_OPTIONS=$(ALIGN_LSAN_OPTIONS) \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# libFuzzer targets (tests/fuzz/), clang with ASan and UBSan, in build-fuzz/;
# each runs FUZZ_SECONDS (CI: a short bounded time).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
fuzz: deps
	@test -f $(FUZZ_BUILD)/CMakeCache.txt || cmake -S . -B $(FUZZ_BUILD) -DALIGN_FUZZ=ON -DALIGN_CUDA=OFF \
	  -DALIGN_NATIVE=OFF -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	bash tests/fuzz/run_all.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)
