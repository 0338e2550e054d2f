# honeynet: the two commands that matter are `make up` and `make test` (run as root).
# Everything else is a step they use.

BUILD      ?= build
BUILD_ASAN ?= build-asan
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)
DATA_DIR   ?= /var/lib/honeynet

.PHONY: all deps build build-asan unit unit-asan integration test up bench clean help

all: build

help:
	@echo "make up          install, build, run the built-in lab: a UML honeypot behind the honeywall (Ctrl-C stops it)"
	@echo "make test        install, build, run unit tests (also under ASan+UBSan) and integration tests"
	@echo "make bench       throughput through the honeywall vs a plain veth pair, and micro-benchmarks"
	@echo "make build       build $(BUILD)/honeynet"
	@echo "make clean       remove build directories"

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/build.ninja:
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHONEYNET_SANITIZE=ON -DHONEYNET_BENCH=OFF

build-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN) -j $(JOBS) unit_tests

unit: build
	$(BUILD)/unit_tests --gtest_color=no

unit-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(BUILD_ASAN)/unit_tests --gtest_color=no

integration: build
	HONEYNET_BIN=$(CURDIR)/$(BUILD)/honeynet $(PYTHON) -m pytest -v -p no:cacheprovider tests/integration

test: unit unit-asan integration
	@echo "make test: all tests passed"

# The built-in lab: one busybox UML honeypot behind the honeywall (NAT), an
# "internet" namespace with an attacker host; prints how to reach the honeypot.
# Foreground: Ctrl-C takes it all down (see docs/lab.md).
up: build
	$(CURDIR)/$(BUILD)/honeynet up --data-dir $(DATA_DIR)

bench: build
	$(PYTHON) bench/throughput.py --honeynet $(CURDIR)/$(BUILD)/honeynet
	@if [ -x $(BUILD)/micro_bench ]; then $(BUILD)/micro_bench; fi

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
