# `make fuzz` / `make fuzz-smoke`: libFuzzer targets for the parsers
# (tests/fuzz/fuzz_*.c), built with Debian's clang 14 under ASan + UBSan into
# build/fuzz/. Included by the top-level Makefile.
#   make fuzz                  each target for FUZZ_SECONDS (default 300)
#   make fuzz-smoke            each target for FUZZ_SMOKE_SECONDS (default 12):
#                              what `make test` runs; fails on any crash
#   make fuzz-run-fuzz_url     one target (FUZZ_SECONDS), e.g. to chase a crash
#   FUZZ_KEEP_GOING=1          libFuzzer's -fork=1 -ignore_crashes=1: keeps
#                              fuzzing past crashes (known bugs) and lists the
#                              distinct failure sites; still fails at the end
# The working corpus grows in build/fuzz/corpus/<target>; the committed seeds
# in tests/fuzz/corpus/<target> are only read. Crashes land in
# build/fuzz/artifacts/<target>/ (crash-*, leak-*, timeout-*); logs in
# build/fuzz/logs/. Reproduce one: build/fuzz/<target> FILE

# clang 14, its libFuzzer and sanitizer runtimes, llvm-symbolizer for stacks
FUZZ_PKGS    := clang-14 libclang-rt-14-dev llvm-14 make pkg-config libpq-dev libcjson-dev libssl-dev
FUZZ_CC      ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null || echo clang-14)
FUZZ_DIR     := build/fuzz
FUZZ_TARGETS := fuzz_url fuzz_heads fuzz_split fuzz_columns fuzz_sqlsplit fuzz_output fuzz_schema
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 12
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude \
                -DSENTRY_VERSION='"$(VERSION)"'
FUZZ_PKG_CFLAGS = $(shell pkg-config --cflags libpq libcjson libcrypto 2>/dev/null)
FUZZ_PKG_LIBS   = $(shell pkg-config --libs libpq libcjson libcrypto 2>/dev/null)
FUZZ_LIB_OBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(filter-out src/main.c,$(wildcard src/*.c)))
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

# -max_len per target: URLs, commands and column lists are short settings;
# Alembic scripts and SQL files get room for a few statements, schema files
# for a few tables; the output path gets lines longer than the 4096-byte cut.
FUZZ_MAXLEN_fuzz_url      := 512
FUZZ_MAXLEN_fuzz_heads    := 4096
FUZZ_MAXLEN_fuzz_split    := 512
FUZZ_MAXLEN_fuzz_columns  := 512
FUZZ_MAXLEN_fuzz_sqlsplit := 4096
FUZZ_MAXLEN_fuzz_output   := 10240
FUZZ_MAXLEN_fuzz_schema   := 8192

FUZZ_SYMBOLIZER := $(firstword $(wildcard /usr/lib/llvm-14/bin/llvm-symbolizer /usr/bin/llvm-symbolizer))
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            $(if $(FUZZ_SYMBOLIZER),ASAN_SYMBOLIZER_PATH=$(FUZZ_SYMBOLIZER))

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-deps:
	@sh scripts/install-deps.sh $(FUZZ_PKGS)

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

.SECONDARY: $(FUZZ_LIB_OBJS)

$(FUZZ_DIR)/obj $(FUZZ_DIR)/logs:
	@mkdir -p $@

# Library objects get coverage instrumentation (fuzzer-no-link); only the
# target links libFuzzer's main.
$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard include/*.h) | $(FUZZ_DIR)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_PKG_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_PKG_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) \
	    -o $@ $< $(FUZZ_LIB_OBJS) $(FUZZ_PKG_LIBS)

# $(call fuzz_run,target,seconds): runs one target, prints one summary line,
# and returns non-zero on a crash (or a run that never finished).
define fuzz_run
	t=$(1); secs=$(2); \
	mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t $(FUZZ_DIR)/logs; \
	log=$(FUZZ_DIR)/logs/$$t.log; \
	dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	keep=; [ -n "$(FUZZ_KEEP_GOING)" ] && keep="-fork=1 -ignore_crashes=1"; \
	$(FUZZ_ENV) $(FUZZ_DIR)/$$t -max_total_time=$$secs -max_len=$(FUZZ_MAXLEN_$(1)) \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $$dict $$keep \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ \
	    $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$$log 2>&1; rc=$$?; \
	done_line=$$(grep -E '^Done [0-9]+ runs in [0-9]+ second' $$log | tail -n 1); \
	runs=$$(echo "$$done_line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/'); \
	secs_done=$$(echo "$$done_line" | sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/'); \
	corpus=$$(ls $(FUZZ_DIR)/corpus/$$t | wc -l); \
	if [ -n "$$keep" ]; then \
	    last=$$(grep -E '^#[0-9]+: cov' $$log | tail -n 1); \
	    printf 'fuzz: %-14s %s  %10s runs in %3ss (fork mode), %s crashes, corpus %s\n' $$t \
	        "$$( [ $$rc -eq 0 ] && echo ok || echo FAILED)" \
	        "$$(echo "$$last" | sed -E 's/^#([0-9]+):.*/\1/')" \
	        "$$(echo "$$last" | sed -E 's/.* time: ([0-9]+)s.*/\1/')" \
	        "$$(echo "$$last" | sed -E 's/.*oom\/timeout\/crash: [0-9]+\/[0-9]+\/([0-9]+).*/\1/')" "$$corpus"; \
	    for a in $$(ls -t $(FUZZ_DIR)/artifacts/$$t/ | head -n 200); do \
	        $(FUZZ_ENV) $(FUZZ_DIR)/$$t $(FUZZ_DIR)/artifacts/$$t/$$a 2>&1 \
	            | grep -a -m1 -A1 -E 'INVARIANT VIOLATED at|SUMMARY: ' \
	            | LC_ALL=C sed -E 's/^(INVARIANT VIOLATED at [^ ]+).*/\1/; s/^ +detail: ([^ ]+( [^ ]+)?).*/\1/' \
	            | paste -sd' '; \
	    done | sort | uniq -c | sed 's/^/    /'; \
	    [ $$rc -eq 0 ]; \
	elif [ $$rc -eq 0 ] && [ -n "$$done_line" ]; then \
	    printf 'fuzz: %-14s ok    %10s runs in %3ss (%s/s), corpus %s\n' $$t "$$runs" "$$secs_done" \
	        "$$(( runs / (secs_done > 0 ? secs_done : 1) ))" "$$corpus"; \
	else \
	    printf 'fuzz: %-14s FAILED (rc %s); log %s; artifacts %s:\n' $$t $$rc $$log $(FUZZ_DIR)/artifacts/$$t/; \
	    ls $(FUZZ_DIR)/artifacts/$$t/ | sed 's/^/    /'; \
	    grep -a -E -m1 -A30 'ERROR: |INVARIANT VIOLATED|runtime error' $$log | sed 's/^/    /'; \
	    false; \
	fi
endef

fuzz: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    $(MAKE) --no-print-directory fuzz-run-$$t FUZZ_SECONDS=$(FUZZ_SECONDS) || fail=1; \
	done; exit $$fail

fuzz-smoke: fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    $(MAKE) --no-print-directory fuzz-run-$$t FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) || fail=1; \
	done; \
	if [ $$fail -ne 0 ]; then echo "fuzz-smoke: FAILED (see above)" >&2; exit 1; fi; \
	echo "fuzz-smoke: $(words $(FUZZ_TARGETS)) targets, $(FUZZ_SMOKE_SECONDS)s each, no crash"

$(addprefix fuzz-run-,$(FUZZ_TARGETS)): fuzz-run-%: $(FUZZ_DIR)/%
	@$(call fuzz_run,$*,$(FUZZ_SECONDS))
