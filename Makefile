# Two commands a newcomer needs: `make run` and `make test`. Both install what is missing.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
PYTEST ?= python3 -m pytest

.PHONY: all setup configure build run test unit blackbox bench asan clean

all: build

setup:
	@scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTRESOR_WERROR=ON

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j $(JOBS)

# A dev server on 127.0.0.1:8200: in memory, unsealed, root token printed.
run: build
	$(BUILD_DIR)/tresor server -dev

unit: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j $(JOBS)

blackbox: build
	TRESOR_BUILD_DIR=$(abspath $(BUILD_DIR)) $(PYTEST) -q tests/blackbox

test: build
	cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j $(JOBS)
	TRESOR_BUILD_DIR=$(abspath $(BUILD_DIR)) $(PYTEST) -q tests/blackbox

bench: build
	bench/run-all

# Address and undefined-behaviour sanitizers, in their own build tree.
asan: setup
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTRESOR_SANITIZE=ON -DTRESOR_WERROR=ON
	ninja -C build-asan -j $(JOBS)
	cd build-asan && ctest -L unit --output-on-failure

clean:
	rm -rf $(BUILD_DIR)
