# honeynet: the two commands that matter are `make up` and `make test` (run as root).
# Everything else is a step they use.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)
DATA_DIR   ?= /var/lib/honeynet

.PHONY: all deps build build-asan unit unit-asan integration test up bench clean help build-fuzz fuzz fuzz-short

all: build

help:
	@echo "make up          install, build, run the built-in lab: a UML honeypot behind the honeywall (Ctrl-C stops it)"
	@echo "make test        install, build, run unit tests (also under ASan+UBSan) and integration tests"
	@echo "make bench       the honeywall vs the kernel (bridge+nftables+tcpdump) and a bare veth, one table of ratios, then micro-benchmarks (BENCH_FLAGS=--quick)"
	@echo "make build       build $(BUILD)/honeynet"
	@echo "make fuzz        run every libFuzzer target for FUZZ_SECONDS (default 300) each (docs/fuzzing.md)"
	@echo "make fuzz-short  every fuzz target for $(FUZZ_SHORT_SECONDS) s on the repo's corpus; fails on any crash (part of make test)"
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

test: unit unit-asan fuzz-short integration
	@echo "make test: all tests passed"

# The built-in lab: one busybox UML honeypot behind the honeywall (NAT), an
# "internet" namespace with an attacker host; prints how to reach the honeypot.
# Foreground: Ctrl-C takes it all down (see docs/lab.md).
up: build
	$(CURDIR)/$(BUILD)/honeynet up --data-dir $(DATA_DIR)

# bench/bench.py: limit / kernel / kernel NAT / honeynet bridge / honeynet nat in
# one run (about 8 min; BENCH_FLAGS=--quick for about 2), then micro_bench.
BENCH_FLAGS ?=
bench: build
	$(PYTHON) bench/bench.py --honeynet $(CURDIR)/$(BUILD)/honeynet \
	  $$([ -x $(BUILD)/micro_bench ] && echo --micro-bench $(CURDIR)/$(BUILD)/micro_bench) $(BENCH_FLAGS)
	$(PYTHON) bench/uplink_bench.py --honeynet $(CURDIR)/$(BUILD)/honeynet
	$(PYTHON) bench/rules_bench.py --honeynet $(CURDIR)/$(BUILD)/honeynet $(BENCH_FLAGS)

# ---- fuzzing (docs/fuzzing.md) ----------------------------------------------
# libFuzzer targets under fuzz/, built with clang, ASan and UBSan in $(BUILD_FUZZ).
# Each target reads the repo's seed corpus fuzz/corpus/<target>/; what it finds
# new goes to a scratch corpus under $(BUILD_FUZZ)/ (never into the repo), a
# crashing input to $(BUILD_FUZZ)/artifacts/<target>/, its log to $(BUILD_FUZZ)/logs/.
FUZZ_TARGETS       := decode flow control engine config pcap
FUZZ_SECONDS       ?= 300
FUZZ_SHORT_SECONDS ?= 20
FUZZ_FLAGS         ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

$(BUILD_FUZZ)/build.ninja:
	cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DHONEYNET_FUZZ=ON -DHONEYNET_BENCH=OFF

build-fuzz: deps $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ) -j $(JOBS) fuzz_targets

# $(call fuzz_run,SECONDS,SCRATCH_CORPUS_ROOT): every target in turn; a line of
# numbers per target; fails at the end when any target crashed.
define fuzz_run
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(2)/$$t $(BUILD_FUZZ)/artifacts/$$t $(BUILD_FUZZ)/logs; \
	  log=$(BUILD_FUZZ)/logs/$$t.log; \
	  dict=; [ -f fuzz/dict/$$t.dict ] && dict=-dict=fuzz/dict/$$t.dict; \
	  if $(BUILD_FUZZ)/fuzz_$$t $(FUZZ_FLAGS) $$dict -max_total_time=$(1) -artifact_prefix=$(BUILD_FUZZ)/artifacts/$$t/ \
	       $(2)/$$t fuzz/corpus/$$t >$$log 2>&1; then \
	    printf 'fuzz %-8s ok: %s, %s runs, %s exec/s, %s new inputs\n' $$t \
	      "$$(grep -o 'cov: [0-9]*' $$log | tail -1)" \
	      "$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log)" \
	      "$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$log)" \
	      "$$(sed -n 's/^stat::new_units_added: *//p' $$log)"; \
	  else \
	    echo "fuzz $$t FAILED (log: $$log; input: $(BUILD_FUZZ)/artifacts/$$t/; docs/fuzzing.md says how to make it a regression test):"; \
	    grep -E 'ERROR|invariant broken|SUMMARY|Test unit written' $$log | head -6; \
	    failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed"; exit 1; fi
endef

fuzz: build-fuzz
	$(call fuzz_run,$(FUZZ_SECONDS),$(BUILD_FUZZ)/corpus)

fuzz-short: build-fuzz
	@rm -rf $(BUILD_FUZZ)/corpus-short
	$(call fuzz_run,$(FUZZ_SHORT_SECONDS),$(BUILD_FUZZ)/corpus-short)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
