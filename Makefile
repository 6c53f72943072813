# The two commands of the README:
#   make run   - set up, build, and run the main job
#   make test  - set up, build, and run the whole test suite
# Both install what they need (scripts/setup.sh) and are safe to re-run.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all setup configure build run test fixtures asan clean bench-compare

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake --preset $(PRESET) -Wno-dev > /dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run_main.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Regenerates tests/fixtures/* with transformers (needs torch; not part of `make test`).
fixtures:
	@scripts/setup.sh --fixtures
	@build/venv/bin/python python_ref/make_fixtures.py --out tests/fixtures

# sov bench next to llama.cpp on every GGUF at hand -> papers/bench_<model>.md
# (llama-cpp-python in build/venv-llamacpp; not part of `make test`).
# BENCH_ARGS, e.g. "-p 512 -n 128 -r 5 -t 2", passes through to the script.
bench-compare: build
	@scripts/setup.sh --llamacpp
	@build/venv-llamacpp/bin/python bench/compare_llamacpp.py --sov $(BUILD)/sov $(BENCH_ARGS)

asan:
	@$(MAKE) test PRESET=asan

clean:
	rm -rf build/release build/debug build/asan
