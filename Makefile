# The two commands of the README:
#   make run   - set up, build, and run the main job
#   make test  - set up, build, and run the whole test suite
# Both install what they need (scripts/setup.sh) and are safe to re-run.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all setup configure build run test fixtures asan clean

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

asan:
	@$(MAKE) test PRESET=asan

clean:
	rm -rf build/release build/debug build/asan
