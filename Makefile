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
